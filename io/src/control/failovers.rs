//! The failover routes: create (operate; force needs admin), list and show (read),
//! approve (admin), cancel (operate). Every POST is audited with its outcome.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use omnirelay_core::{ClusterId, NamespaceId};
use serde::de::DeserializeOwned;

use super::auth::{Caller, ControlRole};
use super::backend::BackendError;
use super::error::ApiError;
use super::model::{FailoverAction, FailoverKind, FailoverList, FailoverRequest, FailoverView};
use super::state::{Authenticated, SharedState};
use crate::audit::AuditOutcome;

/// Reads a JSON body, naming what is wrong with it: over the limit (413), not JSON or
/// not the expected shape (400, with serde's line, column and field).
fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    empty_is: Option<T>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                rejection.body_text(),
            )
        } else {
            ApiError::bad_request("unreadable_body", rejection.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return empty_is.ok_or_else(|| {
            ApiError::bad_request(
                "malformed_json",
                "request body is empty; expected a JSON object",
            )
        });
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("request body: {e}")))
}

/// Audits a refusal that happened before the backend was asked, then returns it.
async fn refuse(
    state: &SharedState,
    caller: &Caller,
    what: &str,
    target: &str,
    err: ApiError,
) -> ApiError {
    state
        .audit(
            &caller.name,
            what,
            target,
            AuditOutcome::Refused,
            Some(format!("{}: {}", err.body.code, err.body.message)),
        )
        .await;
    err
}

/// Audits the backend's answer to a mutation and turns it into a response value.
async fn settle(
    state: &SharedState,
    caller: &Caller,
    what: &str,
    target: &str,
    note: Option<String>,
    result: Result<FailoverView, BackendError>,
) -> Result<FailoverView, ApiError> {
    match result {
        Ok(view) => {
            let reason = match note {
                Some(note) => format!("{note}; failover {}", view.id),
                None => format!("failover {}", view.id),
            };
            state
                .audit(
                    &caller.name,
                    what,
                    target,
                    AuditOutcome::Accepted,
                    Some(reason),
                )
                .await;
            Ok(view)
        }
        Err(err) => {
            let outcome = match err {
                BackendError::Unavailable(_) => AuditOutcome::Failed,
                _ => AuditOutcome::Refused,
            };
            state
                .audit(&caller.name, what, target, outcome, Some(err.to_string()))
                .await;
            Err(err.into())
        }
    }
}

/// Checks what the router can check without the node: valid names, a target where the
/// kind needs one, `force` only on an emergency.
fn validate(request: &FailoverRequest) -> Result<(), ApiError> {
    NamespaceId::new(&request.namespace)
        .map_err(|e| ApiError::bad_request("invalid_namespace", e.to_string()))?;
    match &request.target_cluster {
        Some(target) => {
            ClusterId::new(target)
                .map_err(|e| ApiError::bad_request("invalid_cluster", e.to_string()))?;
        }
        None if request.kind != FailoverKind::Failback => {
            return Err(ApiError::bad_request(
                "missing_target_cluster",
                format!("a {} failover needs target_cluster", request.kind.as_str()),
            ));
        }
        None => {}
    }
    if request.force && request.kind != FailoverKind::Emergency {
        return Err(ApiError::bad_request(
            "force_not_allowed",
            format!(
                "force applies to emergency failovers only, not {}",
                request.kind.as_str()
            ),
        ));
    }
    Ok(())
}

pub(super) async fn create(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    const WHAT: &str = "failover.create";
    state
        .require(&caller, ControlRole::Operate, WHAT, "failovers")
        .await?;
    let request: FailoverRequest = match parse_body(body, None) {
        Ok(request) => request,
        Err(err) => return Err(refuse(&state, &caller, WHAT, "failovers", err).await),
    };
    let target = format!("namespace/{}", request.namespace);
    if let Err(err) = validate(&request) {
        return Err(refuse(&state, &caller, WHAT, &target, err).await);
    }
    if request.force {
        state
            .require(
                &caller,
                ControlRole::Admin,
                "failover.create --force",
                &target,
            )
            .await?;
    }
    let what = if request.dry_run {
        "failover.dry_run"
    } else {
        WHAT
    };
    let note = format!(
        "kind={} to={} ticket={} approver={} force={}{}",
        request.kind.as_str(),
        request.target_cluster.as_deref().unwrap_or("-"),
        request.ticket.as_deref().unwrap_or("-"),
        request.approver.as_deref().unwrap_or("-"),
        request.force,
        request
            .reason
            .as_deref()
            .map(|r| format!(" reason={r}"))
            .unwrap_or_default(),
    );
    let dry_run = request.dry_run;
    let result = state.backend.create_failover(request, &caller).await;
    let view = settle(&state, &caller, what, &target, Some(note), result).await?;
    if dry_run {
        return Ok(Json(view).into_response());
    }
    let location = format!("/control/failovers/{}", view.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(view)).into_response())
}

pub(super) async fn list(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<FailoverList>, ApiError> {
    state
        .require(
            &caller,
            ControlRole::Read,
            "GET /control/failovers",
            "failovers",
        )
        .await?;
    Ok(Json(FailoverList {
        failovers: state.backend.failovers().await?,
    }))
}

pub(super) async fn show(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<FailoverView>, ApiError> {
    let target = format!("failover/{id}");
    state
        .require(
            &caller,
            ControlRole::Read,
            "GET /control/failovers/{id}",
            &target,
        )
        .await?;
    Ok(Json(state.backend.failover(&id).await?))
}

pub(super) async fn approve(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FailoverView>, ApiError> {
    const WHAT: &str = "failover.approve";
    let target = format!("failover/{id}");
    state
        .require(&caller, ControlRole::Admin, WHAT, &target)
        .await?;
    let action: FailoverAction = match parse_body(body, Some(FailoverAction::default())) {
        Ok(action) => action,
        Err(err) => return Err(refuse(&state, &caller, WHAT, &target, err).await),
    };
    let result = state.backend.approve_failover(&id, &caller).await;
    settle(&state, &caller, WHAT, &target, action.comment, result)
        .await
        .map(Json)
}

pub(super) async fn cancel(
    State(state): State<SharedState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<FailoverView>, ApiError> {
    const WHAT: &str = "failover.cancel";
    let target = format!("failover/{id}");
    state
        .require(&caller, ControlRole::Operate, WHAT, &target)
        .await?;
    let action: FailoverAction = match parse_body(body, Some(FailoverAction::default())) {
        Ok(action) => action,
        Err(err) => return Err(refuse(&state, &caller, WHAT, &target, err).await),
    };
    let result = state.backend.cancel_failover(&id, &caller).await;
    settle(&state, &caller, WHAT, &target, action.comment, result)
        .await
        .map(Json)
}
