//! The demo's client: one writer that keeps appending numbered events to the namespace
//! through the client API, the way an application would: it follows 307s to the active
//! cluster, and when a node does not answer it tries the next one. Every acknowledged
//! write is remembered so the story can check it is still there after each failover.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::AppendReply;
use crate::api::client::HttpApiClient;

/// One acknowledged write.
#[derive(Clone, Debug)]
pub struct Ack {
    /// Its key, `w-<n>`.
    pub key: String,
    /// The cluster that committed it.
    pub cluster: String,
    /// When the acknowledgement arrived.
    pub at: Instant,
}

/// What the writer has seen so far.
#[derive(Debug, Default)]
pub struct WorkloadStats {
    /// Every acknowledged write, in order.
    pub acked: Vec<Ack>,
    /// Writes that got no acknowledgement (refused, unreachable, retry later).
    pub failed: u64,
    /// The last failure, for the live display.
    pub last_error: Option<String>,
}

impl WorkloadStats {
    /// The longest time without an acknowledgement inside `[from, to]`: the write
    /// unavailability of that window.
    pub fn longest_gap(&self, from: Instant, to: Instant) -> Duration {
        let mut last = from;
        let mut gap = Duration::ZERO;
        for ack in self.acked.iter().filter(|a| a.at >= from && a.at <= to) {
            gap = gap.max(ack.at.saturating_duration_since(last));
            last = ack.at;
        }
        gap.max(to.saturating_duration_since(last))
    }

    /// The first acknowledgement after `at`.
    pub fn first_ack_after(&self, at: Instant, not_from: &str) -> Option<&Ack> {
        // An answer from the killed region can still arrive after the kill (it was on the
        // wire): it does not show the mesh recovered.
        self.acked
            .iter()
            .find(|a| a.at > at && a.cluster != not_from)
    }
}

/// The running writer; stops when dropped.
pub struct Workload {
    stats: Arc<Mutex<WorkloadStats>>,
    stop: watch::Sender<bool>,
}

impl Workload {
    /// Starts writing to `namespace`, first through `urls[0]` (client API base URLs of
    /// every node, `https://host:port`).
    pub fn start(client: HttpApiClient, urls: Vec<String>, namespace: &str) -> Workload {
        let stats = Arc::new(Mutex::new(WorkloadStats::default()));
        let (stop, stopped) = watch::channel(false);
        let path = format!("/v1/namespaces/{namespace}/events");
        tokio::spawn(write_loop(client, urls, path, stats.clone(), stopped));
        Workload { stats, stop }
    }

    /// Reads the stats.
    pub fn with<T>(&self, f: impl FnOnce(&WorkloadStats) -> T) -> T {
        f(&self.stats.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn write_loop(
    client: HttpApiClient,
    urls: Vec<String>,
    path: String,
    stats: Arc<Mutex<WorkloadStats>>,
    stopped: watch::Receiver<bool>,
) {
    let mut next = 0usize;
    let mut cursor = 0usize;
    // The node that answered last: writes go there until it stops answering.
    let mut preferred: Option<String> = None;
    while !*stopped.borrow() {
        let key = format!("w-{next}");
        let body = format!(r#"{{"events":[{{"key":"{key}","payload":"demo write {next}"}}]}}"#);
        let base = preferred
            .clone()
            .or_else(|| urls.get(cursor % urls.len().max(1)).cloned())
            .unwrap_or_default();
        let reply = client
            .call_following(
                Method::POST,
                &format!("{base}{path}"),
                &[],
                Some(body.as_bytes()),
                4,
            )
            .await;
        let outcome = match reply {
            Ok(r) if r.status == StatusCode::OK => match r.json::<AppendReply>() {
                Ok(a) => Ok((a, r.url)),
                Err(e) => Err(format!("unreadable reply: {e}")),
            },
            Ok(r) => Err(format!(
                "{} {}",
                r.status.as_u16(),
                String::from_utf8_lossy(&r.body)
                    .chars()
                    .take(120)
                    .collect::<String>()
            )),
            Err(e) => Err(e.to_string()),
        };
        let pause = {
            let mut s = stats.lock().unwrap_or_else(PoisonError::into_inner);
            match outcome {
                Ok((a, url)) => {
                    s.acked.push(Ack {
                        key,
                        cluster: a.origin_cluster,
                        at: Instant::now(),
                    });
                    next += 1;
                    preferred = url.find("/v1/").map(|i| url[..i].to_owned());
                    Duration::from_millis(5)
                }
                Err(why) => {
                    // The same key again: a write that got no answer may still commit,
                    // so the checks after a failover look for keys, not counts.
                    s.failed += 1;
                    s.last_error = Some(why);
                    preferred = None;
                    cursor += 1;
                    Duration::from_millis(25)
                }
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// Every key of `namespace` that the node at `base` (`https://host:port`) has applied.
pub async fn keys_on(
    client: &HttpApiClient,
    base: &str,
    namespace: &str,
) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let mut keys = std::collections::BTreeSet::new();
    let mut after = String::new();
    loop {
        let url = format!(
            "{base}/v1/namespaces/{namespace}/events?limit=10000{}",
            if after.is_empty() {
                String::new()
            } else {
                format!("&after={after}")
            }
        );
        let reply = client.call(Method::GET, &url, &[], None).await?;
        if !reply.status.is_success() {
            anyhow::bail!(
                "reading {url}: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
        let read: crate::api::ReadReply = reply.json()?;
        if read.events.is_empty() {
            return Ok(keys);
        }
        keys.extend(read.events.into_iter().filter_map(|e| e.key));
        after = read.next_after;
    }
}
