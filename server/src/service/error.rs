//! The error every rule returns: a refusal named by a protocol error code, or a server fault
//! with its cause. Only the HTTP layer turns it into a response.

use nyckel_protocol::ErrorCode;

use crate::seal::SealError;
use crate::store::StoreError;

/// Why a rule refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A refusal the protocol names by `code` (which decides the HTTP status).
    #[error("{code:?}: {message}")]
    Refused {
        /// The protocol error code.
        code: ErrorCode,
        /// English explanation for the caller.
        message: String,
    },
    /// A wrong PIN (`wrong_pin`), with the attempts left before the device or user is blocked.
    #[error("wrong PIN; {attempts_left} attempts left")]
    WrongPin {
        /// Attempts left.
        attempts_left: u32,
    },
    /// A signed value outside the time window (`stale_request`), with the server's clock so
    /// the phone can correct its own.
    #[error("stale request: {message}")]
    Stale {
        /// The server's clock, Unix seconds.
        server_time: u64,
        /// English explanation.
        message: String,
    },
    /// The store failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// A sealed PIN secret could not be sealed or opened.
    #[error("sealing failed: {0}")]
    Seal(#[from] SealError),
    /// Another server fault, with what was being done; the caller is told only "internal".
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// A refusal with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused { code, message: message.into() }
    }

    /// `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `not_found`, naming what was looked for.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    /// `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// `wrong_pin` with the attempts left.
    pub fn wrong_pin(attempts_left: u32) -> Self {
        Self::WrongPin { attempts_left }
    }

    /// `stale_request`, carrying the server's clock.
    pub fn stale(now: u64, message: impl Into<String>) -> Self {
        Self::Stale { server_time: now, message: message.into() }
    }

    /// A server fault; `cause` goes to the server log (by the HTTP layer), not to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The protocol error code the caller sees.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Refused { code, .. } => *code,
            Self::WrongPin { .. } => ErrorCode::WrongPin,
            Self::Stale { .. } => ErrorCode::StaleRequest,
            Self::Store(_) | Self::Seal(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }
}
