//! The error body every endpoint returns with a 4xx/5xx status, and its codes.

use serde::{Deserialize, Serialize};

/// Machine-readable error codes. Clients must treat codes they do not know as [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed JSON, a missing or ill-formed field, or a bad query parameter.
    BadRequest,
    /// 400: display content (context, transaction lines) that the phone would refuse.
    InvalidDisplay,
    /// 400: an enrollment was completed at a URL that is not the server's (a relayed QR code).
    WrongServer,
    /// 401: missing or wrong API key, admin token or session.
    Unauthorized,
    /// 401: a device request or answer signature is missing or does not verify.
    BadSignature,
    /// 401: the request timestamp is outside the window.
    StaleRequest,
    /// 401: the request nonce was already used.
    ReplayedRequest,
    /// 401: the device does not exist (never registered, removed or revoked).
    UnknownDevice,
    /// 403: authenticated, but not allowed to touch this resource.
    Forbidden,
    /// 403: the PIN MAC or OTP is wrong; `attempts_left` says how many remain before blocking.
    WrongPin,
    /// 403: the device is blocked after too many wrong PINs.
    DeviceBlocked,
    /// 403: the device is inactive after four months unused.
    DeviceInactive,
    /// 403: the enrollment token does not match.
    BadToken,
    /// 403: the user's QR one-time passwords are locked after wrong ones; push still works.
    OtpLocked,
    /// 403: the OTP was made for other details — possibly an altered QR code.
    QrMismatch,
    /// 404: no such enrollment, challenge, device or user.
    NotFound,
    /// 409: the challenge is no longer pending (already answered or decided).
    AlreadyAnswered,
    /// 409: the enrollment was already completed.
    EnrollmentUsed,
    /// 409: the user has no active device to send a push to.
    NoDevice,
    /// 409: the code adds a phone and needs a registered device's approval
    /// (`POST /v1/enroll/approval`), or it does not (`POST /v1/enroll`).
    ApprovalRequired,
    /// 403: a registered device denied adding this phone (or the approval failed).
    EnrollmentDenied,
    /// 410: the challenge expired.
    ChallengeExpired,
    /// 410: the enrollment QR code expired.
    EnrollmentExpired,
    /// 413: the body exceeds the size limit.
    PayloadTooLarge,
    /// 422: the number-match answer is wrong; the challenge is now denied.
    NumberMismatch,
    /// 429: too many requests.
    RateLimited,
    /// 429: the user already has the most open challenges allowed.
    TooManyChallenges,
    /// 429: too many pushes to this user in a short time.
    PushThrottled,
    /// 500: the server failed.
    Internal,
    /// A code this version does not know (from a newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidDisplay | ErrorCode::WrongServer => 400,
            ErrorCode::Unauthorized
            | ErrorCode::BadSignature
            | ErrorCode::StaleRequest
            | ErrorCode::ReplayedRequest
            | ErrorCode::UnknownDevice => 401,
            ErrorCode::Forbidden
            | ErrorCode::WrongPin
            | ErrorCode::DeviceBlocked
            | ErrorCode::DeviceInactive
            | ErrorCode::BadToken
            | ErrorCode::OtpLocked
            | ErrorCode::QrMismatch
            | ErrorCode::EnrollmentDenied => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::AlreadyAnswered
            | ErrorCode::EnrollmentUsed
            | ErrorCode::NoDevice
            | ErrorCode::ApprovalRequired => 409,
            ErrorCode::ChallengeExpired | ErrorCode::EnrollmentExpired => 410,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NumberMismatch => 422,
            ErrorCode::RateLimited | ErrorCode::TooManyChallenges | ErrorCode::PushThrottled => 429,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
        }
    }
}

/// The error object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorDetail {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation (English; not for display to end users as is).
    pub message: String,
    /// With `wrong_pin`: attempts left before the device is blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
    /// With `stale_request`: the server clock, Unix seconds, so the phone can correct its offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<u64>,
}

/// `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

impl ErrorBody {
    /// An error body with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { error: ErrorDetail { code, message: message.into(), attempts_left: None, server_time: None } }
    }

    /// A `stale_request` body carrying the server clock.
    pub fn stale(server_time: u64) -> Self {
        Self {
            error: ErrorDetail {
                code: ErrorCode::StaleRequest,
                message: "the request timestamp is outside the window; see server_time".into(),
                attempts_left: None,
                server_time: Some(server_time),
            },
        }
    }

    /// A `wrong_pin` body with the attempts left.
    pub fn wrong_pin(attempts_left: u32) -> Self {
        Self {
            error: ErrorDetail {
                code: ErrorCode::WrongPin,
                message: format!("wrong PIN; {attempts_left} attempts left"),
                attempts_left: Some(attempts_left),
                server_time: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let body = ErrorBody::wrong_pin(3);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["error"]["code"], "wrong_pin");
        assert_eq!(json["error"]["attempts_left"], 3);
        assert_eq!(body.error.code.status(), 403);
        let plain = serde_json::to_value(ErrorBody::new(ErrorCode::NotFound, "no such challenge")).unwrap();
        assert_eq!(plain, serde_json::json!({"error":{"code":"not_found","message":"no such challenge"}}));
    }

    #[test]
    fn unknown_codes_and_malformed_bodies() {
        let body: ErrorBody = serde_json::from_str(r#"{"error":{"code":"from_the_future","message":"x"}}"#).unwrap();
        assert_eq!(body.error.code, ErrorCode::Unknown);
        assert!(serde_json::from_str::<ErrorBody>(r#"{"error":{"message":"x"}}"#).is_err());
        assert!(serde_json::from_str::<ErrorBody>(r#"{"error":"x"}"#).is_err());
    }

    #[test]
    fn every_code_is_an_error_status() {
        for code in [ErrorCode::BadRequest, ErrorCode::WrongPin, ErrorCode::ChallengeExpired, ErrorCode::NumberMismatch]
        {
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn new_codes_names_and_statuses() {
        for (code, name, status) in [
            (ErrorCode::WrongServer, "wrong_server", 400),
            (ErrorCode::TooManyChallenges, "too_many_challenges", 429),
            (ErrorCode::PushThrottled, "push_throttled", 429),
            (ErrorCode::OtpLocked, "otp_locked", 403),
            (ErrorCode::QrMismatch, "qr_mismatch", 403),
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), name);
            assert_eq!(serde_json::from_value::<ErrorCode>(name.into()).unwrap(), code);
            assert_eq!(code.status(), status, "{name}");
        }
    }

    #[test]
    fn stale_body_carries_server_time() {
        let json = serde_json::to_value(ErrorBody::stale(1_700_000_000)).unwrap();
        assert_eq!(json["error"]["code"], "stale_request");
        assert_eq!(json["error"]["server_time"], 1_700_000_000u64);
        let back: ErrorBody = serde_json::from_value(json).unwrap();
        assert_eq!(back.error.server_time, Some(1_700_000_000));
        let old: ErrorBody = serde_json::from_str(r#"{"error":{"code":"stale_request","message":"x"}}"#).unwrap();
        assert_eq!(old.error.server_time, None);
        assert!(serde_json::from_str::<ErrorBody>(
            r#"{"error":{"code":"stale_request","message":"x","server_time":-1}}"#
        )
        .is_err());
    }
}
