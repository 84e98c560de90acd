//! The router's shared state: backend, tokens, audit log, clock; and the two checks every
//! route runs, authentication and authorisation, each audited when it refuses.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::auth::{BearerTokens, Caller, CertificateCaller, ControlRole};
use super::backend::ControlBackend;
use super::error::ApiError;
use super::{ControlConfig, UnixMillisClock};
use crate::audit::{AuditLog, AuditOutcome, AuditRecord};

pub(super) struct ControlState {
    pub(super) backend: Arc<dyn ControlBackend>,
    audit: Arc<AuditLog>,
    tokens: BearerTokens,
    clock: UnixMillisClock,
}

impl From<ControlConfig> for ControlState {
    fn from(config: ControlConfig) -> ControlState {
        ControlState {
            backend: config.backend,
            audit: config.audit,
            tokens: config.tokens,
            clock: config.clock,
        }
    }
}

pub(super) type SharedState = Arc<ControlState>;

impl ControlState {
    /// Appends one record, fsynced, on a blocking thread. A failure to audit is logged;
    /// the call's own result stands (a refusal is still a refusal).
    pub(super) async fn audit(
        &self,
        who: &str,
        what: &str,
        target: &str,
        outcome: AuditOutcome,
        reason: Option<String>,
    ) {
        let record = AuditRecord {
            at_unix_ms: (self.clock)(),
            who: who.to_owned(),
            what: what.to_owned(),
            target: target.to_owned(),
            outcome,
            reason,
        };
        let log = self.audit.clone();
        let written = tokio::task::spawn_blocking(move || log.append(&record)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(%err, "control: audit record not written"),
            Err(err) => tracing::error!(%err, "control: audit task failed"),
        }
    }

    pub(super) fn audit_log(&self) -> Arc<AuditLog> {
        self.audit.clone()
    }

    /// Refuses `caller` with 403 (audited) unless its role is at least `need`.
    pub(super) async fn require(
        &self,
        caller: &Caller,
        need: ControlRole,
        what: &str,
        target: &str,
    ) -> Result<(), ApiError> {
        if caller.role >= need {
            return Ok(());
        }
        let message = format!("role {} is below the required {need}", caller.role);
        self.audit(
            &caller.name,
            what,
            target,
            AuditOutcome::Refused,
            Some(message.clone()),
        )
        .await;
        Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", message))
    }

    /// The caller of a request, or 401 (audited).
    async fn authenticate(&self, parts: &Parts) -> Result<Caller, ApiError> {
        if let Some(cert) = parts.extensions.get::<CertificateCaller>() {
            return Ok(Caller {
                name: format!("cert:{}", cert.name),
                role: cert.role,
            });
        }
        let (who, reason) = match parts.headers.get(AUTHORIZATION) {
            None => ("anonymous", "no client certificate and no bearer token"),
            Some(value) => match value
                .to_str()
                .ok()
                .and_then(|v| v.trim().split_once(' '))
                // The scheme is case-insensitive (RFC 9110 11.1).
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
            {
                None => ("anonymous", "Authorization header is not `Bearer <token>`"),
                Some(token) => match self.tokens.grant(token) {
                    Some(grant) => {
                        return Ok(Caller {
                            name: format!("token:{}", grant.name),
                            role: grant.role,
                        });
                    }
                    None => ("token:unknown", "bearer token not recognised"),
                },
            },
        };
        let what = format!("{} {}", parts.method, parts.uri.path());
        self.audit(
            who,
            &what,
            parts.uri.path(),
            AuditOutcome::Refused,
            Some(reason.to_owned()),
        )
        .await;
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            reason,
        ))
    }
}

/// An authenticated caller, extracted before the body is read so that an anonymous
/// request is refused with 401 whatever its body holds.
pub(super) struct Authenticated(pub(super) Caller);

impl FromRequestParts<SharedState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        state.authenticate(parts).await.map(Authenticated)
    }
}
