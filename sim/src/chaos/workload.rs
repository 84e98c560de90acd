//! The client workload: writers on the `client` host calling the real gRPC `ClientApi` of
//! the nodes over the mesh dialer, as an application would.
//!
//! Each namespace has one writer. Every [`BATCH_PERIOD`] it creates the writes due at the
//! scenario's rate (each with a unique key) and appends them as one batch, one batch in
//! flight at a time. It follows `FAILED_PRECONDITION` redirects to the active cluster's
//! endpoint, and a node that timed out, dropped the connection or answered "fenced" is
//! avoided for [`BREAKER_OPEN`] (a circuit breaker, like the model client's in
//! `sim::mesh::client`); a fenced answer is tried elsewhere at once (nothing was written).
//! A write is attempted once: its outcome is what the client saw (acknowledged, refused,
//! unknown), which is what the checker needs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use omnirelay_io::api::{ACTIVE_ENDPOINT_HEADER, FENCED_HEADER, RETRY_AFTER_MS_HEADER};
use omnirelay_io::transport::{Dialer, MeshChannel};
use omnirelay_proto::v1::client_api_client::ClientApiClient;
use omnirelay_proto::v1::{AppendEvent, AppendRequest};

use super::checker::{WriteOutcome, WriteRecord};
use super::deployment::HTTP_PORT;
use super::harness::{TraceRecorder, sim_now};
use super::net::TurmoilNetwork;

/// How often a writer sends the writes that came due.
pub const BATCH_PERIOD: Duration = Duration::from_millis(50);
/// How long a writer waits for an answer before the outcome is unknown.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a node that failed a call is avoided.
pub const BREAKER_OPEN: Duration = Duration::from_secs(2);
/// Redirects followed for one batch before it counts as refused.
const MAX_REDIRECTS: usize = 3;

/// Nodes that failed recently, shared by the writers: host -> avoided until.
#[derive(Clone, Debug, Default)]
pub struct Breaker {
    open_until: Arc<Mutex<BTreeMap<String, Duration>>>,
}

impl Breaker {
    fn open(&self, host: &str, now: Duration) {
        self.lock().insert(host.to_owned(), now + BREAKER_OPEN);
    }

    fn is_open(&self, host: &str, now: Duration) -> bool {
        self.lock().get(host).is_some_and(|until| *until > now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Duration>> {
        self.open_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one writer needs.
#[derive(Clone, Debug)]
pub struct WriterPlan {
    /// Its namespace.
    pub namespace: String,
    /// Writes per second for this namespace.
    pub rate: f64,
    /// Payload size.
    pub payload_bytes: usize,
    /// When it stops creating writes (simulated time).
    pub stop_at: Duration,
    /// Every data node's host, in scenario order (the rotation when no target is known).
    pub hosts: Vec<String>,
    /// The host it starts writing to (a node of the initially active cluster).
    pub first_target: String,
}

/// Runs one writer until `plan.stop_at`, appending every write's record to `log`.
pub async fn run_writer(
    plan: WriterPlan,
    dialer: Dialer<TurmoilNetwork>,
    breaker: Breaker,
    log: Arc<Mutex<Vec<WriteRecord>>>,
    trace: TraceRecorder,
) {
    let mut channels: BTreeMap<String, MeshChannel> = BTreeMap::new();
    let mut target = Some(plan.first_target.clone());
    let mut rotation = 0usize;
    let mut due = 0.0f64;
    let mut created = 0u64;
    let mut ticker = tokio::time::interval(BATCH_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let payload: Vec<u8> = (0..plan.payload_bytes).map(|i| (i % 251) as u8).collect();
    loop {
        ticker.tick().await;
        let now = sim_now().unwrap_or_default();
        if now >= plan.stop_at {
            break;
        }
        due += plan.rate * BATCH_PERIOD.as_secs_f64();
        let count = due.floor();
        due -= count;
        if count < 1.0 {
            continue;
        }
        let keys: Vec<String> = (0..count as u64)
            .map(|i| format!("{}-{}", plan.namespace, created + i))
            .collect();
        created += keys.len() as u64;
        let request = AppendRequest {
            namespace: plan.namespace.clone(),
            events: keys
                .iter()
                .map(|k| AppendEvent {
                    key: k.as_bytes().to_vec(),
                    payload: payload.clone(),
                })
                .collect(),
            fencing_token: 0,
        };
        let mut outcome = BatchOutcome::Refused;
        for _ in 0..=MAX_REDIRECTS {
            let host = match target.clone().filter(|h| !breaker.is_open(h, now)) {
                Some(host) => host,
                None => {
                    let host = pick(&plan.hosts, &mut rotation, &breaker, now);
                    target = Some(host.clone());
                    host
                }
            };
            let channel = match channels.get(&host) {
                Some(c) => c.clone(),
                None => match dialer.connect_lazy(&format!("{host}:{HTTP_PORT}")) {
                    Ok(c) => {
                        channels.insert(host.clone(), c.clone());
                        c
                    }
                    Err(_) => {
                        breaker.open(&host, now);
                        target = None;
                        continue;
                    }
                },
            };
            let mut client = ClientApiClient::new(channel);
            let call = tokio::time::timeout(CALL_TIMEOUT, client.append(request.clone())).await;
            let answered = sim_now().unwrap_or_default();
            tracing::debug!(
                namespace = %plan.namespace,
                %host,
                outcome = ?call.as_ref().map(|r| r.as_ref().map(|_| ()).map_err(tonic::Status::code)),
                "append call answered"
            );
            match call {
                Ok(Ok(reply)) => {
                    let reply = reply.into_inner();
                    outcome = BatchOutcome::Acknowledged {
                        cluster: reply.origin_cluster,
                        seqs: reply.origin_seqs,
                        failover_version: reply.failover_version,
                    };
                    break;
                }
                Ok(Err(status)) => {
                    let meta = status.metadata();
                    if let Some(endpoint) = meta
                        .get(ACTIVE_ENDPOINT_HEADER)
                        .and_then(|v| v.to_str().ok())
                    {
                        // Nothing was written: go where the node says.
                        target = host_of(endpoint).filter(|h| !breaker.is_open(h, answered));
                        if target.is_none() {
                            rotation += 1;
                        }
                        continue;
                    }
                    if meta.contains_key(FENCED_HEADER) {
                        // This cluster is fenced for the namespace and does not know the
                        // new active (an isolated old active): nothing was written, so try
                        // another node now, as an application would try another region.
                        // Every node of that cluster answers the same: skip them all.
                        for other in plan.hosts.iter().filter(|h| same_cluster(h, &host)) {
                            breaker.open(other, answered);
                        }
                        target = None;
                        continue;
                    }
                    let server_said = meta.get(RETRY_AFTER_MS_HEADER).is_some();
                    outcome = match status.code() {
                        tonic::Code::Unavailable
                            if status.message().contains("outcome unknown") =>
                        {
                            BatchOutcome::Unknown
                        }
                        tonic::Code::Unavailable if server_said => BatchOutcome::Refused,
                        tonic::Code::Unavailable
                        | tonic::Code::Unknown
                        | tonic::Code::Cancelled => {
                            // The transport failed: the batch may have reached the node.
                            breaker.open(&host, answered);
                            target = None;
                            BatchOutcome::Unknown
                        }
                        tonic::Code::Aborted => BatchOutcome::Unknown,
                        _ => BatchOutcome::Refused,
                    };
                    break;
                }
                Err(_) => {
                    breaker.open(&host, answered);
                    target = None;
                    outcome = BatchOutcome::Unknown;
                    break;
                }
            }
        }
        let answered = sim_now().unwrap_or_default();
        let records = outcome.records(&plan.namespace, keys, now, answered);
        if let Some(first) = records.first() {
            trace.record(
                "client",
                format!(
                    "{} batch of {} {}",
                    plan.namespace,
                    records.len(),
                    summary(&first.outcome)
                ),
            );
        }
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(records);
    }
}

enum BatchOutcome {
    Acknowledged {
        cluster: String,
        seqs: Vec<u64>,
        failover_version: u64,
    },
    Refused,
    Unknown,
}

impl BatchOutcome {
    fn records(
        self,
        namespace: &str,
        keys: Vec<String>,
        sent_at: Duration,
        answered_at: Duration,
    ) -> Vec<WriteRecord> {
        let outcome_of = |i: usize| match &self {
            BatchOutcome::Acknowledged {
                cluster,
                seqs,
                failover_version,
            } => match seqs.get(i) {
                Some(seq) => WriteOutcome::Acknowledged {
                    cluster: cluster.clone(),
                    seq: *seq,
                    failover_version: *failover_version,
                },
                // A reply with fewer seqs than events is malformed: count it as unknown.
                None => WriteOutcome::Unknown,
            },
            BatchOutcome::Refused => WriteOutcome::Refused,
            BatchOutcome::Unknown => WriteOutcome::Unknown,
        };
        keys.into_iter()
            .enumerate()
            .map(|(i, key)| WriteRecord {
                namespace: namespace.to_owned(),
                key,
                sent_at,
                answered_at,
                outcome: outcome_of(i),
            })
            .collect()
    }
}

fn summary(outcome: &WriteOutcome) -> String {
    match outcome {
        WriteOutcome::Acknowledged {
            cluster,
            seq,
            failover_version,
        } => format!("acknowledged by {cluster} from seq {seq} at version {failover_version}"),
        WriteOutcome::Refused => "refused".into(),
        WriteOutcome::Unknown => "unknown".into(),
    }
}

/// The next host in the rotation whose breaker is closed (any host if all are open).
fn pick(hosts: &[String], rotation: &mut usize, breaker: &Breaker, now: Duration) -> String {
    for _ in 0..hosts.len() {
        *rotation = rotation.wrapping_add(1);
        if let Some(host) = hosts.get(*rotation % hosts.len().max(1))
            && !breaker.is_open(host, now)
        {
            return host.clone();
        }
    }
    hosts
        .get(*rotation % hosts.len().max(1))
        .cloned()
        .unwrap_or_default()
}

/// `https://us-east-1:8000` -> `us-east-1`.
fn host_of(endpoint: &str) -> Option<String> {
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint);
    let host = rest.split(['/', ':']).next()?;
    (!host.is_empty()).then(|| host.to_owned())
}

/// Whether two node hosts (`<cluster>-<n>`) are of one cluster.
fn same_cluster(a: &str, b: &str) -> bool {
    let cluster = |h: &str| {
        h.rsplit_once('-')
            .map_or(h.to_owned(), |(c, _)| c.to_owned())
    };
    cluster(a) == cluster(b)
}
