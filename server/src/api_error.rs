//! The error every endpoint returns: a protocol error code, a message, and its JSON response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nyckel_protocol::wire::error::ErrorDetail;
use nyckel_protocol::{ErrorBody, ErrorCode};

use crate::seal::SealError;
use crate::store::StoreError;

/// A refused or failed request.
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

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 403 `wrong_pin` with the attempts left.
    pub fn wrong_pin(attempts_left: u32) -> Self {
        let body = ErrorBody::wrong_pin(attempts_left);
        Self {
            code: ErrorCode::WrongPin,
            message: body.error.message,
            attempts_left: Some(attempts_left),
            status: None,
            server_time: None,
        }
    }

    /// 401 `stale_request`, carrying the server's clock.
    pub fn stale(now: u64, message: impl Into<String>) -> Self {
        Self { server_time: Some(now), ..Self::new(ErrorCode::StaleRequest, message) }
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl From<crate::devices::PinJudgeError> for ApiError {
    fn from(e: crate::devices::PinJudgeError) -> Self {
        ApiError::internal(&e)
    }
}

impl From<SealError> for ApiError {
    fn from(e: SealError) -> Self {
        ApiError::internal(&e)
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
