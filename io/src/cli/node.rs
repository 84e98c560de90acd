//! `omnirelay node --config FILE`: run one node of the mesh until SIGTERM or ctrl-c.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::config::{EXIT_INVALID, process_env};
use crate::api::{ApiStartError, ClientApi};
use crate::config;
use crate::node::{NodeRuntime, StartError, StderrLog};

/// The exit codes, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   stopped by SIGTERM or ctrl-c after flushing its logs
  1   could not start: a log is corrupt, the peer port is taken, ...
  2   usage error, or the configuration is invalid (every problem on stderr, key first)
  70  a log write or fsync failed: restart it, recovery decides what is durable";

/// `omnirelay node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's TOML configuration (with `OMNIRELAY_*` overrides from the environment).
    #[arg(long)]
    pub config: PathBuf,
}

/// Runs the node; returns the process's exit code. Logs go to stderr (`RUST_LOG` sets the
/// level, default `info`).
pub fn run(args: NodeArgs) -> ExitCode {
    StderrLog::install_from_env();
    let env = match process_env() {
        Ok(env) => env,
        Err(problem) => {
            eprintln!("{problem}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let loaded = match config::load(&args.config, &env) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for problem in &errors.problems {
                eprintln!("{problem}");
            }
            return ExitCode::from(EXIT_INVALID);
        }
    };
    // The part of the configuration only a running node needs ([mesh]), checked before
    // anything is opened.
    if let Err(problem) = loaded.config.core_config() {
        eprintln!("{problem}");
        return ExitCode::from(EXIT_INVALID);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("omnirelay: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Handlers first: a SIGTERM that arrives while the node starts must stop it
        // gracefully too, not kill it with the default action.
        let stop = stop_signal();
        let (config, tls) = (loaded.config.clone(), loaded.tls.clone());
        let node = match NodeRuntime::start(loaded).await {
            Ok(node) => node,
            Err(StartError::Config(problem)) => {
                eprintln!("{problem}");
                return ExitCode::from(EXIT_INVALID);
            }
            Err(e) => {
                eprintln!("omnirelay: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The control API on listen.control (mutual TLS, roles from [control]).
        if let Err(e) = crate::control::serve_control(&config, &tls, node.handle()).await {
            eprintln!("omnirelay: {e}");
            node.shutdown().await;
            return ExitCode::FAILURE;
        }
        // The client API on listen.http (gRPC and HTTP/JSON, mutual TLS).
        let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
        let api = match start_client_api(node.handle(), &config, &tls).await {
            Ok((api, listener)) => tokio::spawn(api.serve(listener, async move {
                let _ = api_stopped.await;
            })),
            Err(e) => {
                eprintln!("omnirelay: {e}");
                node.shutdown().await;
                return ExitCode::FAILURE;
            }
        };
        stop.await;
        tracing::info!("stop requested; flushing logs");
        let _ = stop_api.send(());
        let _ = api.await;
        node.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// Builds the client API and binds `listen.http`.
async fn start_client_api(
    handle: crate::node::NodeHandle,
    config: &crate::config::NodeConfig,
    tls: &crate::tls::TlsMaterial,
) -> Result<(ClientApi, tokio::net::TcpListener), ApiStartError> {
    let api = ClientApi::new(handle, config, tls)?;
    let listener = ClientApi::bind(config.listen.http).await?;
    tracing::info!(http = %config.listen.http, "client API listening");
    Ok((api, listener))
}

/// Registers the SIGTERM and ctrl-c handlers now; the returned future completes on either.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    // `ctrl_c` registers its handler on first poll: poll it once now.
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
    let _ = futures_poll_once(ctrl_c.as_mut());
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = ctrl_c => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}

/// Polls `f` once with a no-op waker (to make it register what it waits for).
fn futures_poll_once<F: std::future::Future>(
    f: std::pin::Pin<&mut F>,
) -> std::task::Poll<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx)
}
