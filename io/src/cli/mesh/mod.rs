//! `omnirelay mesh ...`: the operator CLI. It talks only to the control API over
//! HTTP(S), never to a node's storage or gossip.
//!
//! Exit codes: 0 done, 1 refused (preflight, RBAC, conflict, unknown name: the reason is
//! printed), 2 usage error (including a request the API called malformed), 3 the control
//! API is unreachable or failing.

mod client;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use client::{ConnectionSettings, ControlClient};

use crate::control::model::{
    ClustersSnapshot, ErrorBody, FailoverAction, FailoverKind, FailoverList, FailoverRequest,
    FailoverStatus, FailoverView, LeaderView, LeadershipEvent, PeersPage, ReplicationHealth,
};

/// Printed under `omnirelay mesh --help`.
pub const EXIT_CODES_HELP: &str =
    "Exit codes: 0 done, 1 refused (reason printed), 2 usage error, 3 control API unreachable.";

/// Why a mesh command did not finish with 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The API refused: preflight, role, conflict, unknown name (exit 1).
    #[error("refused: {0}")]
    Refused(String),
    /// The command line or the request was wrong (exit 2).
    #[error("usage: {0}")]
    Usage(String),
    /// The control API could not be reached or is failing (exit 3).
    #[error("control API unreachable: {0}")]
    Unreachable(String),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Refused(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Unreachable(_) => 3,
        }
    }
}

/// `omnirelay mesh`: connection options shared by every verb, then the verb.
#[derive(Debug, Args)]
pub struct MeshArgs {
    /// Control API endpoint of any node.
    #[arg(
        long,
        global = true,
        env = "OMNIRELAY_ENDPOINT",
        default_value = "http://127.0.0.1:7080"
    )]
    pub endpoint: String,
    /// Bearer token (mesh.read, mesh.operate or mesh.admin).
    #[arg(long, global = true, env = "OMNIRELAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Client certificate (PEM) for mTLS.
    #[arg(long, global = true)]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert.
    #[arg(long, global = true)]
    pub key: Option<PathBuf>,
    /// CA certificate (PEM) to verify an https endpoint with.
    #[arg(long, global = true)]
    pub ca: Option<PathBuf>,
    /// How to print results.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The verb.
    #[command(subcommand)]
    pub command: MeshCommand,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for a terminal.
    Table,
    /// The API's JSON, one document (or one line per streamed event).
    Json,
}

/// The mesh verbs.
#[derive(Debug, Subcommand)]
pub enum MeshCommand {
    /// Clusters: list, promote, failback.
    #[command(subcommand)]
    Clusters(ClustersCommand),
    /// Replication health of the node behind --endpoint.
    #[command(subcommand)]
    Replication(ReplicationCommand),
    /// Gossip members.
    #[command(subcommand)]
    Peers(PeersCommand),
    /// Cluster leaders.
    #[command(subcommand)]
    Leaders(LeadersCommand),
    /// Failovers in flight and past.
    #[command(subcommand)]
    Failovers(FailoversCommand),
    /// Namespaces: migrate.
    #[command(subcommand)]
    Namespaces(NamespacesCommand),
}

/// `mesh clusters ...`
#[derive(Debug, Subcommand)]
pub enum ClustersCommand {
    /// Every cluster with its namespaces' states and replication lag.
    List,
    /// Make a cluster active for a namespace (planned unless --emergency).
    Promote(PromoteArgs),
    /// Move a namespace back to the cluster it failed away from.
    Failback(FailbackArgs),
}

/// `mesh clusters promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The namespace to move.
    #[arg(long)]
    pub namespace: String,
    /// The cluster to make active.
    #[arg(long)]
    pub to: String,
    /// Promote without the active's cooperation (reports writes at risk).
    #[arg(long)]
    pub emergency: bool,
    /// With --emergency: promote even without a registry quorum (mesh.admin).
    #[arg(long, requires = "emergency")]
    pub force: bool,
    #[command(flatten)]
    pub change: ChangeArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `mesh clusters failback`.
#[derive(Debug, Args)]
pub struct FailbackArgs {
    /// The namespace to move back.
    #[arg(long)]
    pub namespace: String,
    /// The cluster to move it to (default: the one it failed away from).
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub change: ChangeArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Change-management fields of every failover.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Change ticket, recorded in the audit log.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Who must approve (policy may require one).
    #[arg(long)]
    pub approver: Option<String>,
    /// Free text for the audit log.
    #[arg(long)]
    pub reason: Option<String>,
    /// Run preflight only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// How a long-running verb follows its failover.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Return as soon as the failover is created.
    #[arg(long)]
    pub no_wait: bool,
    /// Milliseconds between progress polls.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..))]
    pub poll_interval_ms: u64,
    /// Give up following after this many seconds (the failover goes on).
    #[arg(long, default_value_t = 900)]
    pub wait_timeout_secs: u64,
}

/// `mesh replication ...`
#[derive(Debug, Subcommand)]
pub enum ReplicationCommand {
    /// Healthy, degraded or unhealthy, with WAL position and lag per remote cluster.
    Status,
}

/// `mesh peers ...`
#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// Gossip members, filtered and paged.
    List(PeersListArgs),
}

/// `mesh peers list`.
#[derive(Debug, Args)]
pub struct PeersListArgs {
    /// Only this cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only this role (voter, learner, witness).
    #[arg(long)]
    pub role: Option<String>,
    /// Only this status (alive, suspect, dead).
    #[arg(long)]
    pub status: Option<String>,
    /// Page, from 1.
    #[arg(long, default_value_t = 1)]
    pub page: u32,
    /// Members per page.
    #[arg(long, default_value_t = 50)]
    pub page_size: u32,
}

/// `mesh leaders ...`
#[derive(Debug, Subcommand)]
pub enum LeadersCommand {
    /// The leader, term and fencing token of every cluster.
    Status {
        /// Then follow leadership changes as they happen.
        #[arg(long)]
        watch: bool,
    },
}

/// `mesh failovers ...`
#[derive(Debug, Subcommand)]
pub enum FailoversCommand {
    /// Every failover, newest first.
    List,
    /// One failover with its preflight, trail and summary.
    Show {
        /// Failover id.
        id: String,
    },
    /// Approve a failover awaiting approval (mesh.admin).
    Approve {
        /// Failover id.
        id: String,
        /// Comment for the audit log.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Cancel a failover before it promotes (mesh.operate).
    Cancel {
        /// Failover id.
        id: String,
        /// Comment for the audit log.
        #[arg(long)]
        comment: Option<String>,
    },
}

/// `mesh namespaces ...`
#[derive(Debug, Subcommand)]
pub enum NamespacesCommand {
    /// Move a namespace to another cluster for good (planned, no data loss).
    Migrate {
        /// The namespace.
        namespace: String,
        /// The cluster to move it to.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// Runs a mesh verb and returns its exit code, after printing its result or its failure.
pub fn run(args: MeshArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("omnirelay mesh: cannot start a runtime: {err}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(execute(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("omnirelay mesh: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn execute(args: MeshArgs) -> Result<(), Failure> {
    let client = ControlClient::new(&ConnectionSettings {
        endpoint: args.endpoint,
        token: args.token,
        cert: args.cert,
        key: args.key,
        ca: args.ca,
    })?;
    let mesh = Mesh {
        client,
        output: args.output,
    };
    match args.command {
        MeshCommand::Clusters(ClustersCommand::List) => {
            let snapshot: ClustersSnapshot = mesh.get("/control/clusters").await?;
            mesh.print(&snapshot, render::clusters)
        }
        MeshCommand::Clusters(ClustersCommand::Promote(a)) => {
            let kind = if a.emergency {
                FailoverKind::Emergency
            } else {
                FailoverKind::Planned
            };
            let request = a.change.request(kind, a.namespace, Some(a.to), a.force);
            mesh.failover(request, &a.wait).await
        }
        MeshCommand::Clusters(ClustersCommand::Failback(a)) => {
            let request = a
                .change
                .request(FailoverKind::Failback, a.namespace, a.to, false);
            mesh.failover(request, &a.wait).await
        }
        MeshCommand::Namespaces(NamespacesCommand::Migrate {
            namespace,
            to,
            change,
            wait,
        }) => {
            let request = change.request(FailoverKind::Migration, namespace, Some(to), false);
            mesh.failover(request, &wait).await
        }
        MeshCommand::Replication(ReplicationCommand::Status) => {
            // 503 still carries the health document: show it, then exit 1.
            let reply = mesh
                .client
                .call(Method::GET, "/v1/replication/health", None)
                .await?;
            if reply.status == StatusCode::SERVICE_UNAVAILABLE {
                let health: ReplicationHealth = decode_body(&reply.body)?;
                mesh.print(&health, render::replication)?;
                return Err(Failure::Refused("replication is unhealthy".into()));
            }
            let health: ReplicationHealth = decode(reply)?;
            mesh.print(&health, render::replication)
        }
        MeshCommand::Peers(PeersCommand::List(a)) => {
            let mut query = format!("page={}&page_size={}", a.page, a.page_size);
            for (key, value) in [
                ("cluster", a.cluster),
                ("role", a.role),
                ("status", a.status),
            ] {
                if let Some(value) = value {
                    query.push_str(&format!("&{key}={}", encode_query_value(&value)));
                }
            }
            let page: PeersPage = mesh.get(&format!("/control/peers?{query}")).await?;
            mesh.print(&page, render::peers)
        }
        MeshCommand::Leaders(LeadersCommand::Status { watch }) => {
            let leaders: Vec<LeaderView> = mesh.get("/control/leaders").await?;
            mesh.print(&leaders, |l| render::leaders(l))?;
            if watch {
                mesh.watch_leaders().await?;
            }
            Ok(())
        }
        MeshCommand::Failovers(FailoversCommand::List) => {
            let list: FailoverList = mesh.get("/control/failovers").await?;
            mesh.print(&list, |l| render::failovers(&l.failovers))
        }
        MeshCommand::Failovers(FailoversCommand::Show { id }) => {
            let view: FailoverView = mesh.get(&failover_path(&id, "")).await?;
            mesh.print(&view, render::failover)
        }
        MeshCommand::Failovers(FailoversCommand::Approve { id, comment }) => {
            let view: FailoverView = mesh
                .post(&failover_path(&id, "/approve"), &FailoverAction { comment })
                .await?;
            mesh.print(&view, render::failover)
        }
        MeshCommand::Failovers(FailoversCommand::Cancel { id, comment }) => {
            let view: FailoverView = mesh
                .post(&failover_path(&id, "/cancel"), &FailoverAction { comment })
                .await?;
            mesh.print(&view, render::failover)
        }
    }
}

impl ChangeArgs {
    fn request(
        self,
        kind: FailoverKind,
        namespace: String,
        target_cluster: Option<String>,
        force: bool,
    ) -> FailoverRequest {
        FailoverRequest {
            kind,
            namespace,
            target_cluster,
            dry_run: self.dry_run,
            ticket: self.ticket,
            approver: self.approver,
            force,
            reason: self.reason,
        }
    }
}

/// Ids come from the operator: percent-encode anything that is not a plain id character.
fn failover_path(id: &str, suffix: &str) -> String {
    format!("/control/failovers/{}{suffix}", encode_query_value(id))
}

fn encode_query_value(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| {
        Failure::Unreachable(format!("the reply is not what the control API sends: {e}"))
    })
}

/// A 2xx body as `T`, or the API's refusal as a [`Failure`] with its reason.
fn decode<T: DeserializeOwned>(reply: client::Reply) -> Result<T, Failure> {
    if reply.status.is_success() {
        return decode_body(&reply.body);
    }
    let error: Option<ErrorBody> = serde_json::from_slice(&reply.body).ok();
    let mut reason = match &error {
        Some(e) => format!("{} ({}): {}", reply.status.as_u16(), e.code, e.message),
        None => format!(
            "{}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body).trim()
        ),
    };
    if let Some(e) = &error {
        for check in e.checks.iter().filter(|c| !c.passed) {
            reason.push_str(&format!(
                "\n  failed check {}: {}",
                check.name, check.detail
            ));
        }
    }
    Err(match reply.status {
        StatusCode::BAD_REQUEST => Failure::Usage(reason),
        s if s.is_server_error() => Failure::Unreachable(reason),
        _ => Failure::Refused(reason),
    })
}

struct Mesh {
    client: ControlClient,
    output: Output,
}

impl Mesh {
    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        decode(self.client.call(Method::GET, path, None).await?)
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        let body = serde_json::to_vec(body).map_err(|e| Failure::Usage(e.to_string()))?;
        decode(self.client.call(Method::POST, path, Some(body)).await?)
    }

    fn print<T: Serialize>(&self, value: &T, table: impl Fn(&T) -> String) -> Result<(), Failure> {
        match self.output {
            Output::Table => print!("{}", table(value)),
            Output::Json => println!("{}", json(value)?),
        }
        Ok(())
    }

    /// Progress goes to stdout for tables and to stderr for JSON, so stdout stays one
    /// JSON document.
    fn progress(&self, line: &str) {
        match self.output {
            Output::Table => println!("{line}"),
            Output::Json => eprintln!("{line}"),
        }
    }

    /// Creates a failover, then follows it step by step to its summary.
    async fn failover(&self, request: FailoverRequest, wait: &WaitArgs) -> Result<(), Failure> {
        let dry_run = request.dry_run;
        let view: FailoverView = self.post("/control/failovers", &request).await?;
        if dry_run {
            return self.print(&view, |v| {
                format!(
                    "dry run: preflight passed for {} {} {} -> {}; nothing changed\n{}",
                    v.kind.as_str(),
                    v.namespace,
                    v.source_cluster,
                    v.target_cluster,
                    render::checks(&v.preflight)
                )
            });
        }
        self.progress(&format!(
            "failover {}: {} {} {} -> {}",
            view.id,
            view.kind.as_str(),
            view.namespace,
            view.source_cluster,
            view.target_cluster
        ));
        if wait.no_wait {
            return self.print(&view, render::failover);
        }
        let started = Instant::now();
        let deadline = Duration::from_secs(wait.wait_timeout_secs);
        let path = failover_path(&view.id, "");
        self.progress(&render::progress(&view));
        let mut view = view;
        // Said once, including when the failover was created already waiting.
        let mut approval_hinted = false;
        while !view.status.is_terminal() {
            if view.status == FailoverStatus::AwaitingApproval && !approval_hinted {
                approval_hinted = true;
                self.progress(&format!(
                    "  waiting for approval{}: omnirelay mesh failovers approve {}",
                    view.approver
                        .as_deref()
                        .map(|a| format!(" by {a}"))
                        .unwrap_or_default(),
                    view.id
                ));
            }
            let last = (view.step, view.status);
            if started.elapsed() >= deadline {
                return Err(Failure::Refused(format!(
                    "failover {} still {} at {} after {} s; it goes on: omnirelay mesh failovers show {}",
                    view.id,
                    view.status.as_str(),
                    view.step.as_str(),
                    wait.wait_timeout_secs,
                    view.id
                )));
            }
            tokio::time::sleep(Duration::from_millis(wait.poll_interval_ms)).await;
            view = self.get(&path).await?;
            if (view.step, view.status) != last {
                self.progress(&render::progress(&view));
            }
        }
        self.print(&view, render::summary)?;
        if view.status == FailoverStatus::Succeeded {
            Ok(())
        } else {
            Err(Failure::Refused(format!(
                "failover {} {}: {}",
                view.id,
                view.status.as_str(),
                view.reason.as_deref().unwrap_or("no reason given")
            )))
        }
    }

    /// Prints leadership events from the SSE stream until the server ends it.
    async fn watch_leaders(&self) -> Result<(), Failure> {
        let response = self
            .client
            .send(Method::GET, "/control/events/leadership", None)
            .await?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return decode::<()>(client::Reply { status, body });
        }
        let mut body = response.into_body();
        let mut pending = String::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Failure::Unreachable(format!("event stream: {e}")))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.push_str(&String::from_utf8_lossy(data));
            // SSE events end with a blank line.
            while let Some(end) = pending.find("\n\n") {
                let block: String = pending.drain(..end + 2).collect();
                for line in block.lines() {
                    if let Some(json_text) = line.strip_prefix("data:") {
                        let event: LeadershipEvent = decode_body(json_text.trim().as_bytes())?;
                        match self.output {
                            Output::Table => println!("{}", render::leadership_event(&event)),
                            Output::Json => println!("{}", compact_json(&event)?),
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn json<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(value).map_err(|e| Failure::Usage(e.to_string()))
}

fn compact_json<T: Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure::Usage(e.to_string()))
}
