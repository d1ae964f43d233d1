//! The one place errors become HTTP responses: the rules' [`ServiceError`] and the HTTP
//! layer's own refusals (bad JSON, wrong method, rate limits) as the protocol's JSON error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nyckel_protocol::wire::error::ErrorDetail;
use nyckel_protocol::{ErrorBody, ErrorCode};

use crate::service::ServiceError;

/// A refused or failed request, as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    /// The protocol error code (decides the status).
    pub code: ErrorCode,
    /// English explanation.
    pub message: String,
    /// With `wrong_pin`: attempts left.
    pub attempts_left: Option<u32>,
    /// Overrides the code's status (405 for a wrong method).
    pub status: Option<u16>,
    /// With `stale_request`: the server's clock, so the phone can correct its own.
    pub server_time: Option<u64>,
}

impl ApiError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), attempts_left: None, status: None, server_time: None }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 405 with `bad_request`.
    pub fn method_not_allowed() -> Self {
        Self { status: Some(405), ..Self::new(ErrorCode::BadRequest, "method not allowed on this endpoint") }
    }

    /// 500 `internal`; the cause goes to the server log, not to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(ErrorCode::Internal, "internal server error")
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status.unwrap_or_else(|| self.code.status())).unwrap_or(StatusCode::BAD_REQUEST)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused { code, message } => Self::new(code, message),
            ServiceError::WrongPin { attempts_left } => {
                let body = ErrorBody::wrong_pin(attempts_left);
                Self { attempts_left: Some(attempts_left), ..Self::new(ErrorCode::WrongPin, body.error.message) }
            }
            ServiceError::Stale { server_time, message } => {
                Self { server_time: Some(server_time), ..Self::new(ErrorCode::StaleRequest, message) }
            }
            fault @ (ServiceError::Store(_) | ServiceError::Seal(_) | ServiceError::Internal(_)) => {
                Self::internal(&fault)
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::internal(&e)
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                attempts_left: self.attempts_left,
                server_time: self.server_time,
            },
        };
        (status, Json(body)).into_response()
    }
}
