//! Serving the control API of a running node on `listen.control`: mutual TLS with the
//! mesh CA, bearer tokens and certificate roles from `[control]`, the audit log at
//! `node.data_dir/audit.jsonl`, and the watcher that records leadership and failover steps.

use std::net::SocketAddr;
use std::sync::Arc;

use super::node_backend::NodeBackend;
use super::node_views::LagLimits;
use super::{ControlConfig, router, serve_mtls};
use crate::audit::AuditLog;
use crate::config::{ConfigError, NodeConfig};
use crate::metrics::Metrics;
use crate::node::{NodeHandle, StartError};
use crate::tls::TlsMaterial;
use crate::transport::TransportError;

/// Binds `listen.control` and serves the control API of `handle` there until the process
/// ends; returns the bound address (useful with port 0).
pub async fn serve_control(
    config: &NodeConfig,
    tls: &TlsMaterial,
    handle: NodeHandle,
) -> Result<SocketAddr, StartError> {
    let addr = config.listen.control;
    let bind = |source| TransportError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    let server_tls = tls.server_config().map_err(TransportError::Tls)?;
    let audit_path = config.node.data_dir.join("audit.jsonl");
    if let Err(e) = std::fs::create_dir_all(&config.node.data_dir) {
        return Err(ConfigError::invalid("node.data_dir", format!("cannot create it: {e}")).into());
    }
    let audit = AuditLog::open(&audit_path).map_err(|e| {
        ConfigError::invalid(
            "node.data_dir",
            format!("cannot open the audit log {}: {e}", audit_path.display()),
        )
    })?;
    let audit = Arc::new(audit);
    let metrics = Metrics::new(config.node.cluster.clone())
        .map_err(|e| ConfigError::invalid("node.cluster", format!("metrics: {e}")))?;
    let limits = LagLimits {
        entries: config.failover.max_lag_entries,
        seconds: config.failover.max_lag,
    };
    let backend = NodeBackend::new(handle, metrics, config.node.region.clone(), limits);
    tokio::spawn(backend.watch(audit.clone()));
    let routes =
        router(ControlConfig::new(Arc::new(backend), audit).tokens(config.control.bearer_tokens()));
    let roles = config.control.certificate_roles();
    tracing::info!(addr = %bound, "control API listening (https, mutual TLS)");
    tokio::spawn(async move {
        if let Err(err) =
            serve_mtls(listener, server_tls, roles, routes, std::future::pending()).await
        {
            tracing::error!(%err, "control API stopped serving");
        }
    });
    Ok(bound)
}
