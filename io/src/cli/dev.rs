//! `omnirelay dev up`: the demo's mesh (3 regions x 3 nodes, real processes, fresh
//! certificates), kept running until ctrl-c, with its endpoints and ready-made
//! `omnirelay mesh` commands printed.

pub mod mesh;
pub mod ports;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::api::client::HttpApiClient;
use mesh::{CLUSTERS, LocalMesh, NAMESPACE, OPERATOR};

/// `omnirelay dev ...`
#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Start a local mesh of 3 clusters x 3 nodes and keep it running until ctrl-c.
    Up(UpArgs),
}

/// `omnirelay dev up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Directory for configs, certificates, data and logs (default: a fresh temporary one).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the directory after ctrl-c.
    #[arg(long)]
    pub keep: bool,
}

/// Runs a dev command.
pub fn run(command: DevCommand) -> ExitCode {
    let DevCommand::Up(args) = command;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("omnirelay dev: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match up(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("omnirelay dev up: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    // Created before waiting so that ctrl-c while starting still kills every node (drop).
    let mut mesh = LocalMesh::create(args.dir, args.keep)?;
    let client = HttpApiClient::new(&mesh.operator_material()?)?;
    mesh.spawn_all()?;
    println!("starting 9 nodes in {} ...", mesh.dir().display());
    tokio::select! {
        ready = mesh.wait_ready(&client, Duration::from_secs(90)) => ready?,
        _ = tokio::signal::ctrl_c() => return Ok(()),
    }
    println!("\nnode  cluster    client API              control API             log");
    for n in mesh.nodes() {
        println!(
            "n{:<4} {:<10} https://127.0.0.1:{:<6} https://127.0.0.1:{:<6} {}",
            n.id,
            n.cluster,
            n.http,
            n.control,
            mesh.log_path(n.id).display()
        );
    }
    let tls = mesh.dir().join("tls");
    let control = mesh.control_url(7, "");
    let http = mesh.http_url(1, "");
    let creds = format!(
        "--endpoint {control} --ca {ca} --cert {cert} --key {key}",
        ca = tls.join("ca.pem").display(),
        cert = tls.join(format!("{OPERATOR}.pem")).display(),
        key = tls.join(format!("{OPERATOR}.key")).display(),
    );
    println!("\nTry (as operator {OPERATOR}, mesh.admin):");
    println!("  omnirelay mesh {creds} clusters list");
    println!("  omnirelay mesh {creds} peers list");
    println!("  omnirelay mesh {creds} leaders status --watch");
    println!(
        "  omnirelay mesh {creds} clusters promote --namespace {NAMESPACE} --to {} --ticket CHG-1",
        CLUSTERS[1]
    );
    println!("  omnirelay mesh {creds} failovers list");
    println!("  omnirelay mesh {creds} replication status");
    println!("\nWrite and read through the client API:");
    println!(
        "  curl --cacert {ca} --cert {cert} --key {key} -H 'content-type: application/json' \\\n    -d '{{\"events\":[{{\"key\":\"k1\",\"payload\":\"hello\"}}]}}' {http}/v1/namespaces/{NAMESPACE}/events",
        ca = tls.join("ca.pem").display(),
        cert = tls.join(format!("{OPERATOR}.pem")).display(),
        key = tls.join(format!("{OPERATOR}.key")).display(),
    );
    println!("\nctrl-c stops every node.");
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if let Some((id, status)) = mesh.exited() {
                    println!("node n{id} exited ({status}); see {}", mesh.log_path(id).display());
                }
            }
        }
    }
    println!("stopping every node");
    Ok(())
}
