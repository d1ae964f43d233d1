//! Audit events: what the server records for every security-relevant action, and the hash
//! chain and signed head that make the log tamper-evident.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::canonical::Canonical;
use crate::digest::sha256;
use crate::ids::{ChallengeId, DeviceId};
use crate::keys::{KeyId, ServerPublicKey, ServerSignature};

/// Domain-separation tag of the bytes an event's hash covers.
pub const EVENT_TAG: &str = "nyckel/audit/v1/event";
/// Domain-separation tag of the bytes the chain head's signature covers.
pub const HEAD_TAG: &str = "nyckel/audit/v1/head";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// A QR one-time password was made for other details (possibly an altered QR code).
    QrTampered,
    /// A user's QR one-time passwords were locked after wrong ones.
    OtpLocked,
    /// Requests were refused by a rate limit.
    RateLimited,
    /// The server's signing key was rotated.
    KeyRotated,
    /// A device changed its PIN (and with it the PIN secret).
    PinChanged,
    /// A relying party created a user in its tenant (`PUT /v1/users/{user}`).
    UserCreated,
    /// An event kind this version does not know.
    #[serde(other)]
    Unknown,
}

impl AuditKind {
    /// The snake_case name, as in JSON; part of the bytes an event's hash covers.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::EnrollmentStarted => "enrollment_started",
            AuditKind::DeviceEnrolled => "device_enrolled",
            AuditKind::EnrollmentFailed => "enrollment_failed",
            AuditKind::ChallengeCreated => "challenge_created",
            AuditKind::ChallengeApproved => "challenge_approved",
            AuditKind::ChallengeDenied => "challenge_denied",
            AuditKind::FraudReported => "fraud_reported",
            AuditKind::ChallengeExpired => "challenge_expired",
            AuditKind::NumberMismatch => "number_mismatch",
            AuditKind::PinFailed => "pin_failed",
            AuditKind::DeviceBlocked => "device_blocked",
            AuditKind::DeviceUnblocked => "device_unblocked",
            AuditKind::DeviceInactive => "device_inactive",
            AuditKind::DeviceRemoved => "device_removed",
            AuditKind::DeviceRevoked => "device_revoked",
            AuditKind::SignatureRejected => "signature_rejected",
            AuditKind::AuthenticationFailed => "authentication_failed",
            AuditKind::QrTampered => "qr_tampered",
            AuditKind::OtpLocked => "otp_locked",
            AuditKind::RateLimited => "rate_limited",
            AuditKind::KeyRotated => "key_rotated",
            AuditKind::PinChanged => "pin_changed",
            AuditKind::UserCreated => "user_created",
            AuditKind::Unknown => "unknown",
        }
    }
}

/// A SHA-256 link of the audit chain; base64url in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditHash(#[serde(with = "b64::array")] pub [u8; 32]);

impl AuditHash {
    /// The `prev_hash` of the first event.
    pub const GENESIS: AuditHash = AuditHash([0; 32]);
}

impl fmt::Debug for AuditHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditHash({})", b64::encode(&self.0))
    }
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AuditEvent {
    /// Sequence number: 1 for the first event, then contiguous.
    pub seq: u64,
    /// When, Unix seconds.
    pub at: u64,
    /// What.
    pub kind: AuditKind,
    /// Who acted: `device`, `user`, `admin:<name>`, `rp:<name>` or `server`.
    pub actor: String,
    /// The organisation concerned, on a server with several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
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
    /// The `hash` of the previous event ([`AuditHash::GENESIS`] for the first).
    pub prev_hash: AuditHash,
    /// [`AuditEvent::chain_hash`] of this event.
    pub hash: AuditHash,
}

impl AuditEvent {
    /// The canonical bytes the hash covers: every field but `hash`, in a fixed order, each
    /// optional field with its presence byte (so the encoding is injective).
    pub fn chain_bytes(&self) -> Vec<u8> {
        let mut m = Canonical::new(EVENT_TAG);
        m.bytes(&self.prev_hash.0)
            .u64(self.seq)
            .u64(self.at)
            .str(self.kind.as_str())
            .str(&self.actor)
            .opt_str(self.tenant.as_deref())
            .opt_str(self.user.as_deref())
            .opt_str(self.device_id.as_ref().map(DeviceId::as_str))
            .opt_str(self.challenge_id.as_ref().map(ChallengeId::as_str))
            .opt_str(self.ip.as_deref())
            .opt_str(self.detail.as_deref());
        m.into_bytes()
    }

    /// SHA-256 of [`AuditEvent::chain_bytes`]: what `hash` must be.
    pub fn chain_hash(&self) -> AuditHash {
        AuditHash(sha256(&self.chain_bytes()))
    }
}

/// The signed chain head: the number and hash of the last event, signed by the server, so
/// removing events from the end of the log is detected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    /// Sequence number of the last event.
    pub seq: u64,
    /// Its hash.
    pub hash: AuditHash,
    /// [`KeyId`] (base64url) of the server key that signed; absent when unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Signature over [`AuditHead::signed_bytes`]; absent when unsigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<ServerSignature>,
}

impl AuditHead {
    /// The canonical bytes the head's signature covers.
    pub fn signed_bytes(seq: u64, hash: &AuditHash) -> Vec<u8> {
        let mut m = Canonical::new(HEAD_TAG);
        m.u64(seq).bytes(&hash.0);
        m.into_bytes()
    }

    /// Whether the head is signed by one of `keys` (chosen by its key id).
    pub fn verify(&self, keys: &[ServerPublicKey]) -> Result<(), HeadError> {
        let (Some(id), Some(signature)) = (&self.key_id, &self.signature) else {
            return Err(HeadError::Unsigned);
        };
        let id = KeyId::from_b64(id).map_err(|_| HeadError::UnknownKey)?;
        let key = keys.iter().find(|k| k.key_id() == id).ok_or(HeadError::UnknownKey)?;
        key.verify(&Self::signed_bytes(self.seq, &self.hash), signature).map_err(|_| HeadError::BadSignature)
    }
}

/// Why a chain head does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The head carries no signature.
    #[error("the audit head is not signed")]
    Unsigned,
    /// Its key id names none of the known server keys.
    #[error("the audit head is signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the audit head signature does not verify")]
    BadSignature,
}

/// The largest `limit` of `GET /v1/admin/audit` and `GET /v1/device/audit`.
pub const MAX_AUDIT_PAGE: usize = 500;

/// Response of `GET /v1/admin/audit?after=SEQ&limit=N` and of `GET /v1/device/audit?after=SEQ&limit=N`
/// (a device's own events only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

    fn event() -> AuditEvent {
        let mut e = AuditEvent {
            seq: 1,
            at: 2,
            kind: AuditKind::PinFailed,
            actor: "device".into(),
            tenant: Some("acme".into()),
            user: Some("alice".into()),
            device_id: Some(DeviceId::new("d").unwrap()),
            challenge_id: Some(ChallengeId::new("c").unwrap()),
            ip: Some("192.0.2.1".into()),
            detail: Some("3 attempts left".into()),
            prev_hash: AuditHash([7; 32]),
            hash: AuditHash::GENESIS,
        };
        e.hash = e.chain_hash();
        e
    }

    #[test]
    fn json_and_unknown_kinds() {
        let e = event();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "pin_failed");
        assert_eq!(json["tenant"], "acme");
        assert_eq!(serde_json::from_value::<AuditEvent>(json).unwrap(), e);
        let later: AuditKind = serde_json::from_str("\"quantum_event\"").unwrap();
        assert_eq!(later, AuditKind::Unknown);
        assert!(serde_json::from_str::<AuditEvent>(r#"{"seq":1}"#).is_err());
    }

    #[test]
    fn kind_names_match_serde() {
        use AuditKind::*;
        for kind in [
            EnrollmentStarted,
            DeviceEnrolled,
            EnrollmentFailed,
            ChallengeCreated,
            ChallengeApproved,
            ChallengeDenied,
            FraudReported,
            ChallengeExpired,
            NumberMismatch,
            PinFailed,
            DeviceBlocked,
            DeviceUnblocked,
            DeviceInactive,
            DeviceRemoved,
            DeviceRevoked,
            SignatureRejected,
            AuthenticationFailed,
            QrTampered,
            OtpLocked,
            RateLimited,
            KeyRotated,
            PinChanged,
            UserCreated,
            Unknown,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn hash_covers_every_field() {
        let base = event();
        let h = base.chain_hash();
        type Change = Box<dyn Fn(&mut AuditEvent)>;
        let changes: Vec<Change> = vec![
            Box::new(|e| e.seq += 1),
            Box::new(|e| e.at += 1),
            Box::new(|e| e.kind = AuditKind::DeviceBlocked),
            Box::new(|e| e.actor.push('x')),
            Box::new(|e| e.tenant = None),
            Box::new(|e| e.tenant = Some("other".into())),
            Box::new(|e| e.user = None),
            Box::new(|e| e.user = Some("bob".into())),
            Box::new(|e| e.device_id = None),
            Box::new(|e| e.device_id = Some(DeviceId::new("e").unwrap())),
            Box::new(|e| e.challenge_id = None),
            Box::new(|e| e.challenge_id = Some(ChallengeId::new("x").unwrap())),
            Box::new(|e| e.ip = None),
            Box::new(|e| e.ip = Some("192.0.2.2".into())),
            Box::new(|e| e.detail = None),
            Box::new(|e| e.detail = Some(String::new())),
            Box::new(|e| e.prev_hash = AuditHash::GENESIS),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut e = base.clone();
            change(&mut e);
            assert_ne!(e.chain_hash(), h, "change {i} is not covered by the hash");
        }
        // Shifting text between adjacent fields changes the bytes too.
        let mut a = base.clone();
        a.user = Some("ali".into());
        a.actor = "devicece".into();
        assert_ne!(a.chain_hash(), h);
    }
}
