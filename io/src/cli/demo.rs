//! `omnirelay demo`: the product in three minutes. In a temporary directory it mints a CA
//! and certificates, writes configs for 3 clusters x 3 nodes, runs them as real
//! `omnirelay node` processes on loopback, drives a client workload through the client
//! API, and narrates: replication and lag; a planned failover (zero loss); `kill -9` of
//! the whole active region and the automatic failover (write unavailability, writes at
//! risk); the region's return, fenced, with its quarantined events; the failback. It ends
//! with a summary table. Every child process is killed on exit, error or ctrl-c.

mod narrator;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::dev::mesh::{CLUSTERS, LocalMesh, NAMESPACE};
use crate::api::client::HttpApiClient;
use crate::control::model::{
    ClusterLag, ClusterState, ClustersSnapshot, ErrorBody, FailoverKind, FailoverList,
    FailoverRequest, FailoverStatus, FailoverView, StateDiff,
};
use narrator::Narrator;
use workload::{Workload, keys_on};

/// `omnirelay demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Shorter steady phases (for CI): the same story, about half the time.
    #[arg(long)]
    pub quick: bool,
    /// Keep the directory (configs, certificates, data, node logs) after the demo.
    #[arg(long)]
    pub keep: bool,
    /// Use this directory instead of a fresh temporary one.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The line the summary prints for the planned failover; tests look for it.
pub const PLANNED_ZERO_LOSS: &str = "planned failover: 0 acknowledged writes lost";

/// Runs the demo; 0 when the story ran to its summary with no acknowledged write lost by
/// a planned move, 1 otherwise, 130 on ctrl-c (after killing every node).
pub fn run(args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("omnirelay demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::select! {
            // The story owns the mesh: dropping it here (ctrl-c) kills every node.
            result = story(args) => match result {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("\nomnirelay demo: {e:#}");
                    ExitCode::FAILURE
                }
            },
            _ = ctrl_c => {
                eprintln!("\nomnirelay demo: interrupted; every node process is being killed");
                ExitCode::from(130)
            }
        }
    })
}

/// The control and client API calls the story makes, as the operator `demo-admin`.
struct Operator {
    client: HttpApiClient,
}

impl Operator {
    async fn get<T: DeserializeOwned>(&self, url: &str) -> anyhow::Result<T> {
        let reply = self.client.call(Method::GET, url, &[], None).await?;
        if !reply.status.is_success() {
            bail!(
                "GET {url}: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
        reply.json().with_context(|| format!("GET {url}"))
    }

    /// A POST whose refusal is an answer (`Err(ErrorBody)`), not an error.
    async fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<Result<T, ErrorBody>> {
        let body = serde_json::to_vec(body)?;
        let reply = self
            .client
            .call(Method::POST, url, &[], Some(&body))
            .await?;
        if reply.status.is_success() {
            return Ok(Ok(reply.json()?));
        }
        Ok(Err(reply.json().unwrap_or_else(|_| ErrorBody {
            code: reply.status.as_str().to_owned(),
            message: String::from_utf8_lossy(&reply.body).into_owned(),
            checks: Vec::new(),
        })))
    }
}

/// One row of the summary table.
struct Row {
    what: String,
    outcome: String,
    unavailable: String,
    loss: String,
}

fn active_of(snapshot: &ClustersSnapshot) -> Option<String> {
    snapshot
        .clusters
        .iter()
        .find(|c| {
            c.namespaces
                .iter()
                .any(|n| n.namespace == NAMESPACE && n.state == ClusterState::Active)
        })
        .map(|c| c.id.clone())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

async fn story(args: DemoArgs) -> anyhow::Result<bool> {
    let steady = if args.quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(6)
    };
    let mut say = Narrator::new();
    say.heading("OmniRelay Mesh demo: 3 regions x 3 nodes, real processes on loopback");
    let mut mesh = LocalMesh::create(args.dir.clone(), args.keep)?;
    say.say(&format!(
        "minted a CA and 10 certificates, wrote 9 configs in {}",
        mesh.dir().display()
    ));
    let op = Operator {
        client: HttpApiClient::new(&mesh.operator_material()?)?,
    };
    mesh.spawn_all()?;
    say.say("started 9 `omnirelay node` processes; waiting for leaders and the registry");
    mesh.wait_ready(&op.client, Duration::from_secs(90)).await?;
    // ap-south is never killed in this story: the operator talks to its first node.
    let observer = mesh.nodes_of(CLUSTERS[2]).next().map_or(7, |n| n.id);
    let snapshot: ClustersSnapshot = op
        .get(&mesh.control_url(observer, "/control/clusters"))
        .await?;
    for c in &snapshot.clusters {
        let states: Vec<String> = c
            .namespaces
            .iter()
            .map(|n| format!("{} {:?} (fv {})", n.namespace, n.state, n.failover_version))
            .collect();
        say.say(&format!(
            "{:<9} priority {:>2}  {}",
            c.id,
            c.priority,
            states.join(", ")
        ));
    }
    let mut rows = Vec::new();

    // 1. Replication flowing.
    say.heading(&format!(
        "1. A client writes to {NAMESPACE}; replication streams it to the other regions"
    ));
    let urls: Vec<String> = mesh
        .nodes()
        .iter()
        .map(|n| mesh.http_url(n.id, ""))
        .collect();
    let workload = Workload::start(op.client.clone(), urls, NAMESPACE);
    let phase = Instant::now();
    while phase.elapsed() < steady {
        let lags = lag_from(&op, &mesh, CLUSTERS[0]).await;
        let line = workload.with(|s| {
            format!(
                "{} writes acknowledged ({:.0}/s)  lag {}",
                s.acked.len(),
                s.acked.len() as f64 / phase.elapsed().as_secs_f64().max(0.1),
                render_lag(&lags)
            )
        });
        say.live(&line);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    say.settle();

    // 2. Planned failover.
    let (from, to) = (CLUSTERS[0], CLUSTERS[1]);
    say.heading(&format!(
        "2. Planned failover of {NAMESPACE}: {from} -> {to} (drain, catch up, promote)"
    ));
    let request = FailoverRequest {
        kind: FailoverKind::Planned,
        namespace: NAMESPACE.to_owned(),
        target_cluster: Some(to.to_owned()),
        dry_run: false,
        ticket: Some("DEMO-1".to_owned()),
        approver: None,
        force: false,
        reason: Some("omnirelay demo: planned move".to_owned()),
    };
    let started = Instant::now();
    let planned = create_failover(&op, &mesh, observer, &request, &mut say).await?;
    let planned = follow(&op, &mesh, observer, &planned.id, &mut say).await?;
    let done_at = Instant::now();
    let unavailable = workload.with(|s| s.longest_gap(started, done_at));
    // Every write acknowledged until now must be on the new active.
    let acked: Vec<String> = workload.with(|s| s.acked.iter().map(|a| a.key.clone()).collect());
    let lost = missing_on(&op, &mesh, to, &acked).await?;
    let planned_ok = planned.status == FailoverStatus::Succeeded && lost == 0;
    say.say(&format!(
        "{} {}: longest write pause {}, {} of {} acknowledged writes found on {to}",
        planned.id,
        planned.status.as_str(),
        secs(unavailable),
        acked.len() - lost,
        acked.len()
    ));
    rows.push(Row {
        what: format!("planned {from} -> {to}"),
        outcome: format!(
            "{} {} in {} ms",
            planned.id,
            planned.status.as_str(),
            planned.summary.as_ref().map_or(0, |s| s.duration_ms)
        ),
        unavailable: secs(unavailable),
        loss: format!("{lost} lost"),
    });

    // 3. Region failure.
    say.heading(&format!(
        "3. kill -9 of every process of {to}, the active region"
    ));
    let killed_at = Instant::now();
    mesh.kill_cluster(to);
    say.say(&format!(
        "killed {}; automatic failover is on (detection window 1.5 s)",
        mesh.nodes_of(to)
            .map(|n| format!("n{}", n.id))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut manual = false;
    let recovered = loop {
        if let Some(ack) = workload.with(|s| s.first_ack_after(killed_at, to).cloned()) {
            break ack;
        }
        let waited = killed_at.elapsed();
        if waited > Duration::from_secs(45) && !manual {
            manual = true;
            say.say("no automatic failover after 45 s: promoting us-east by hand (emergency)");
            let request = FailoverRequest {
                kind: FailoverKind::Emergency,
                namespace: NAMESPACE.to_owned(),
                target_cluster: Some(CLUSTERS[0].to_owned()),
                dry_run: false,
                ticket: None,
                approver: None,
                force: false,
                reason: Some("omnirelay demo: region lost".to_owned()),
            };
            let _ = create_failover(&op, &mesh, observer, &request, &mut say).await;
        }
        if waited > Duration::from_secs(90) {
            bail!("writes did not resume within 90 s of the region kill");
        }
        let line = workload.with(|s| {
            format!(
                "writes failing for {:.1} s ({} failed attempts; last: {})",
                waited.as_secs_f64(),
                s.failed,
                s.last_error.as_deref().unwrap_or("-")
            )
        });
        say.live(&line.chars().take(150).collect::<String>());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    say.settle();
    let outage = recovered.at.saturating_duration_since(killed_at);
    say.say(&format!(
        "writes succeed again on {} after {}",
        recovered.cluster,
        secs(outage)
    ));
    let emergency = newest_of(&op, &mesh, observer, FailoverKind::Emergency).await;
    let (at_risk, emergency_id) = match &emergency {
        Some(f) => {
            let risk = f.summary.as_ref().and_then(|s| s.writes_at_risk.clone());
            let text = match &risk {
                Some(r) if r.count() > 0 => format!(
                    "{}{} writes at risk ({} seq {}..={})",
                    if r.open_ended { "at least " } else { "" },
                    r.count(),
                    r.origin_cluster,
                    r.from_seq,
                    r.to_seq
                ),
                // The mesh knew of nothing past the cutoff: only writes it never heard of.
                Some(r) => format!(
                    "0 known at risk ({} seq >= {})",
                    r.origin_cluster, r.from_seq
                ),
                None => "0 writes at risk".to_owned(),
            };
            say.say(&format!(
                "{} ({} by {}): {}",
                f.id,
                f.kind.as_str(),
                f.requested_by,
                text
            ));
            (text, f.id.clone())
        }
        None => ("unknown".to_owned(), "-".to_owned()),
    };
    let new_active = recovered.cluster.clone();
    rows.push(Row {
        what: format!("region {to} killed"),
        outcome: format!(
            "{emergency_id} {} promoted {new_active}",
            if manual { "manual" } else { "automatic" }
        ),
        unavailable: secs(outage),
        loss: at_risk,
    });

    // 4. The region returns, fenced.
    say.heading(&format!(
        "4. {to} restarts: fenced, its unreplicated writes quarantined"
    ));
    mesh.spawn_cluster(to)?;
    mesh.wait_ready(&op.client, Duration::from_secs(60)).await?;
    let returning: Vec<u64> = mesh.nodes_of(to).map(|n| n.id).collect();
    let mut quarantined = 0u64;
    for id in &returning {
        let diff: StateDiff = op
            .get(&mesh.control_url(*id, "/control/state-diff"))
            .await?;
        for q in &diff.quarantined {
            quarantined = quarantined.max(q.to_seq + 1 - q.from_seq);
            say.say(&format!(
                "n{id} state-diff: {} {} origin_seq {}..={} at fv {} quarantined",
                q.namespace, q.origin_cluster, q.from_seq, q.to_seq, q.failover_version
            ));
        }
    }
    let view: ClustersSnapshot = op
        .get(&mesh.control_url(returning[0], "/control/clusters"))
        .await?;
    let state = view
        .clusters
        .iter()
        .find(|c| c.id == to)
        .and_then(|c| c.namespaces.iter().find(|n| n.namespace == NAMESPACE))
        .map_or("unknown".to_owned(), |n| {
            format!("{:?}", n.state).to_lowercase()
        });
    say.say(&format!(
        "{to} sees itself {state} for {NAMESPACE}; active is {}",
        active_of(&view).unwrap_or_else(|| "-".to_owned())
    ));
    let refused = write_refusal(&op, &mesh, &mesh.http_url(returning[0], "")).await;
    say.say(&format!("a write sent straight to {to}: {refused}"));
    if quarantined == 0 {
        say.say("no quarantined events: every write it committed had reached the new active");
    }
    rows.push(Row {
        what: format!("region {to} returns"),
        outcome: format!("{state}; a write: {refused}"),
        unavailable: "-".to_owned(),
        loss: format!("{quarantined} quarantined"),
    });

    // 5. Failback.
    say.heading(&format!("5. Failback of {NAMESPACE} to {to}"));
    let request = FailoverRequest {
        kind: FailoverKind::Failback,
        namespace: NAMESPACE.to_owned(),
        target_cluster: Some(to.to_owned()),
        dry_run: false,
        ticket: Some("DEMO-2".to_owned()),
        approver: None,
        force: false,
        reason: Some("omnirelay demo: region healthy again".to_owned()),
    };
    let started = Instant::now();
    let failback = create_failover(&op, &mesh, observer, &request, &mut say).await?;
    let failback = follow(&op, &mesh, observer, &failback.id, &mut say).await?;
    let done_at = Instant::now();
    let unavailable = workload.with(|s| s.longest_gap(started, done_at));
    let acked_now: Vec<String> = workload.with(|s| s.acked.iter().map(|a| a.key.clone()).collect());
    // Writes acknowledged by the region before it died and not replicated are exactly
    // the ones at risk; everything acknowledged since must be on the failback target.
    let since_kill: Vec<String> = workload.with(|s| {
        s.acked
            .iter()
            // Answers of the dying region still in flight at the kill are among the
            // writes at risk, not ones the failback must carry.
            .filter(|a| a.at > killed_at && a.cluster != to)
            .map(|a| a.key.clone())
            .collect()
    });
    let failback_lost = missing_on(&op, &mesh, to, &since_kill).await?;
    rows.push(Row {
        what: format!("failback {new_active} -> {to}"),
        outcome: format!(
            "{} {} in {} ms",
            failback.id,
            failback.status.as_str(),
            failback.summary.as_ref().map_or(0, |s| s.duration_ms)
        ),
        unavailable: secs(unavailable),
        loss: format!("{failback_lost} lost"),
    });
    let (acked_total, failed_total) = workload.with(|s| (s.acked.len(), s.failed));
    drop(workload);
    mesh.stop_all();

    say.heading("Summary");
    println!(
        "   {:<28} {:<42} {:>12}  loss",
        "step", "outcome", "write pause"
    );
    for r in &rows {
        println!(
            "   {:<28} {:<42} {:>12}  {}",
            r.what, r.outcome, r.unavailable, r.loss
        );
    }
    println!(
        "   {} writes acknowledged ({} of them checked on the last active), {} attempts failed while the mesh moved",
        acked_total,
        acked_now.len(),
        failed_total
    );
    if planned_ok {
        println!("   {PLANNED_ZERO_LOSS}");
    } else {
        println!("   planned failover: {lost} acknowledged writes LOST");
    }
    println!("   demo finished in {:.1} s", say.elapsed().as_secs_f64());
    if args.keep {
        println!("   files kept in {}", mesh.dir().display());
    }
    Ok(planned_ok && failback.status == FailoverStatus::Succeeded && failback_lost == 0)
}

/// Lag from `cluster` to the others, as its leader measures it.
async fn lag_from(op: &Operator, mesh: &LocalMesh, cluster: &str) -> Vec<ClusterLag> {
    for n in mesh.nodes_of(cluster) {
        let url = mesh.control_url(n.id, "/control/clusters");
        if let Ok(snapshot) = op.get::<ClustersSnapshot>(&url).await
            && let Some(own) = snapshot.clusters.into_iter().find(|c| c.id == cluster)
            && !own.lag.is_empty()
        {
            return own.lag;
        }
    }
    Vec::new()
}

fn render_lag(lags: &[ClusterLag]) -> String {
    if lags.is_empty() {
        return "(measuring)".to_owned();
    }
    lags.iter()
        .filter_map(|l| {
            let to = l.to_peer?;
            Some(format!(
                "-> {}: {} entries / {:.3} s",
                l.peer, to.entries, to.seconds
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates a failover, retrying while preflight waits for a lag report or a leader.
async fn create_failover(
    op: &Operator,
    mesh: &LocalMesh,
    node: u64,
    request: &FailoverRequest,
    say: &mut Narrator,
) -> anyhow::Result<FailoverView> {
    let url = mesh.control_url(node, "/control/failovers");
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut last = String::new();
    loop {
        match op.post::<FailoverView>(&url, request).await {
            Ok(Ok(view)) => {
                say.say(&format!(
                    "POST /control/failovers -> {} ({} {} {} -> {})",
                    view.id,
                    view.kind.as_str(),
                    view.namespace,
                    view.source_cluster,
                    view.target_cluster
                ));
                return Ok(view);
            }
            Ok(Err(refusal)) => {
                let text = format!("{}: {}", refusal.code, refusal.message);
                if text != last {
                    say.say(&format!("preflight: {text} (retrying)"));
                    last = text;
                }
            }
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            bail!("the failover was not accepted within 45 s: {last}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Follows a failover to its end, printing each step as it is reached.
async fn follow(
    op: &Operator,
    mesh: &LocalMesh,
    node: u64,
    id: &str,
    say: &mut Narrator,
) -> anyhow::Result<FailoverView> {
    let url = mesh.control_url(node, &format!("/control/failovers/{id}"));
    let started = Instant::now();
    let mut last = None;
    loop {
        let view: FailoverView = op.get(&url).await?;
        let now = (view.step, view.status);
        if last != Some(now) {
            say.say(&format!(
                "  +{:>6} ms  {:<9} {:<10} {:>3}%",
                started.elapsed().as_millis(),
                view.step.as_str(),
                view.status.as_str(),
                view.progress_percent
            ));
            last = Some(now);
        }
        if view.status.is_terminal() {
            return Ok(view);
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "{id} did not finish within 60 s (at {})",
                view.step.as_str()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many of `keys` a node of `cluster` does not hold, once replication settles (it
/// waits up to 15 s for them to arrive).
async fn missing_on(
    op: &Operator,
    mesh: &LocalMesh,
    cluster: &str,
    keys: &[String],
) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut missing = keys.len();
    loop {
        for n in mesh.nodes_of(cluster) {
            if let Ok(held) = keys_on(&op.client, &mesh.http_url(n.id, ""), NAMESPACE).await {
                missing = missing.min(keys.iter().filter(|k| !held.contains(*k)).count());
            }
        }
        if missing == 0 || Instant::now() >= deadline {
            return Ok(missing);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The newest failover of `kind`.
async fn newest_of(
    op: &Operator,
    mesh: &LocalMesh,
    node: u64,
    kind: FailoverKind,
) -> Option<FailoverView> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list: Option<FailoverList> = op
            .get(&mesh.control_url(node, "/control/failovers"))
            .await
            .ok();
        if let Some(f) = list.and_then(|l| l.failovers.into_iter().find(|f| f.kind == kind))
            && (f.status.is_terminal() || Instant::now() >= deadline)
        {
            return Some(f);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What happens to a write sent to `base` without following redirects.
async fn write_refusal(op: &Operator, mesh: &LocalMesh, base: &str) -> String {
    let url = format!("{base}/v1/namespaces/{NAMESPACE}/events");
    let body = br#"{"events":[{"key":"probe","payload":"sent to the fenced region"}]}"#;
    match op.client.call(Method::POST, &url, &[], Some(body)).await {
        Ok(r) if r.status == StatusCode::TEMPORARY_REDIRECT => {
            let location = r.header("location").unwrap_or("?");
            let cluster = mesh
                .nodes()
                .iter()
                .find(|n| location.contains(&format!(":{}/", n.http)))
                .map_or("?", |n| n.cluster);
            format!("307 to {cluster}")
        }
        Ok(r) => format!(
            "{} {}",
            r.status.as_u16(),
            r.status.canonical_reason().unwrap_or("")
        ),
        Err(e) => format!("no answer ({e})"),
    }
}
