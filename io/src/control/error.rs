//! Every refusal as an HTTP status with a JSON [`ErrorBody`] naming the problem.

use axum::Json;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::backend::BackendError;
use super::model::{ErrorBody, PreflightCheck};

/// A refused or failed control call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
}

impl ApiError {
    /// A refusal with `status`, a stable `code` and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                checks: Vec::new(),
            },
        }
    }

    /// 400: the request itself is wrong.
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 for a name the registry does not hold.
    pub fn not_found(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    fn with_checks(mut self, checks: Vec<PreflightCheck>) -> ApiError {
        self.body.checks = checks;
        self
    }
}

impl From<BackendError> for ApiError {
    fn from(err: BackendError) -> ApiError {
        let message = err.to_string();
        match err {
            BackendError::UnknownCluster(_) => ApiError::not_found("unknown_cluster", message),
            BackendError::UnknownNamespace(_) => ApiError::not_found("unknown_namespace", message),
            BackendError::UnknownFailover(_) => ApiError::not_found("unknown_failover", message),
            BackendError::AlreadyMoving { .. } => {
                ApiError::new(StatusCode::CONFLICT, "namespace_already_moving", message)
            }
            BackendError::PreflightRefused { checks, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "preflight_refused",
                message,
            )
            .with_checks(checks),
            BackendError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflicting_state", message)
            }
            BackendError::Invalid(_) => ApiError::bad_request("invalid_request", message),
            BackendError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 9110 11.6.1: a 401 names the scheme the client should use.
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"omnirelay-control\""),
            );
        }
        response
    }
}
