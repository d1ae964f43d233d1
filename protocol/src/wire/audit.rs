//! Audit events: what the server records for every security-relevant action.

use serde::{Deserialize, Serialize};

use crate::ids::{ChallengeId, DeviceId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// An enrollment QR code was issued.
    EnrollmentStarted,
    /// A device completed enrollment.
    DeviceEnrolled,
    /// An enrollment attempt failed (bad token, bad proof, expired, reused).
    EnrollmentFailed,
    /// A push or QR challenge was created.
    ChallengeCreated,
    /// A challenge was approved (push with right PIN, or right OTP).
    ChallengeApproved,
    /// A challenge was denied by the user.
    ChallengeDenied,
    /// The user reported a challenge as not theirs.
    FraudReported,
    /// A challenge expired unanswered.
    ChallengeExpired,
    /// A number-match answer was wrong.
    NumberMismatch,
    /// A wrong PIN (approval MAC, PIN check or OTP) was counted.
    PinFailed,
    /// A device was blocked after consecutive wrong PINs.
    DeviceBlocked,
    /// An administrator unblocked a device.
    DeviceUnblocked,
    /// A device became inactive after four months unused.
    DeviceInactive,
    /// A user removed a device.
    DeviceRemoved,
    /// An administrator revoked a device.
    DeviceRevoked,
    /// A request or answer signature failed, or a request was stale or replayed.
    SignatureRejected,
    /// An API key or admin token was refused.
    AuthenticationFailed,
    /// An event kind this version does not know.
    #[serde(other)]
    Unknown,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Monotonic sequence number.
    pub seq: u64,
    /// When, Unix seconds.
    pub at: u64,
    /// What.
    pub kind: AuditKind,
    /// Who acted: `device`, `user`, `admin:<name>`, `rp:<name>` or `server`.
    pub actor: String,
    /// The user concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The device concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// The challenge concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<ChallengeId>,
    /// The client IP address, when there was an HTTP client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Free-form detail (never secrets, PIN MACs or OTPs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Response of `GET /v1/admin/audit?after=SEQ&limit=N`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// Events in sequence order.
    pub events: Vec<AuditEvent>,
    /// The `after` value for the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_unknown_kinds() {
        let e = AuditEvent {
            seq: 1,
            at: 2,
            kind: AuditKind::PinFailed,
            actor: "device".into(),
            user: Some("alice".into()),
            device_id: Some(DeviceId::new("d").unwrap()),
            challenge_id: None,
            ip: None,
            detail: Some("3 attempts left".into()),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "pin_failed");
        assert_eq!(serde_json::from_value::<AuditEvent>(json).unwrap(), e);
        let later: AuditKind = serde_json::from_str("\"quantum_event\"").unwrap();
        assert_eq!(later, AuditKind::Unknown);
        assert!(serde_json::from_str::<AuditEvent>(r#"{"seq":1}"#).is_err());
    }
}
