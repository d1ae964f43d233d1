//! The records the server keeps (devices, challenges, enrollments, users, tenants, relying
//! parties, tenant administrators): plain data with the rules' pure views of it, shared by
//! the store (which persists them) and the rules (which decide over them).

use nyckel_protocol::enrollment::{EnrollmentState, EnrollmentStatus};
use nyckel_protocol::qr::EnrollQr;
use nyckel_protocol::wire::devices::{DeviceInfo, DeviceState};
use nyckel_protocol::wire::relying_party::ChallengeStatus;
use nyckel_protocol::{
    ChallengeDisplay, ChallengeId, ChallengeState, CompleteEnrollment, DeviceId, DevicePublicKey, EnrollmentId,
    EnrollmentReceipt, EnrollmentToken, Nonce, OtpKind, PushChallenge, ServerPublicKey, ServerSignature,
};
use serde::{Deserialize, Serialize};

/// A stored device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device.
    pub device_id: DeviceId,
    /// The tenant of its user.
    pub tenant: String,
    /// Its user.
    pub user: String,
    /// The name given at enrollment.
    pub name: String,
    /// The platform it reported.
    pub platform: String,
    /// Its P-256 key.
    pub public_key: DevicePublicKey,
    /// The PIN secret `S`, sealed (see [`crate::seal`]).
    pub sealed_secret: String,
    /// A new `S` agreed by a PIN change (`POST /v1/device/rekey`), sealed; it replaces
    /// `sealed_secret` at the first MAC that verifies under it.
    #[serde(default)]
    pub pending_secret: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    /// Last enrollment, answer, PIN check or successful OTP, to [`LAST_USED_RESOLUTION`].
    pub last_used_at: u64,
    /// Consecutive wrong PINs.
    pub pin_failures: u32,
    /// Blocked after too many wrong PINs.
    pub blocked: bool,
    /// Whether the move to inactive has been audited.
    #[serde(default)]
    pub inactive_noted: bool,
}

/// How far a device's stored `last_used_at` may lag its last use, seconds. The four-month
/// inactivity rule needs no finer time, and without the lag every answer would write the
/// device record: on PostgreSQL a commit and a change notice that every other instance
/// re-reads.
pub const LAST_USED_RESOLUTION: u64 = 3600;

impl DeviceRecord {
    /// Notes a use at `now`; `true` when that changed the record (the stored time is
    /// [`LAST_USED_RESOLUTION`] or more behind).
    pub fn note_use(&mut self, now: u64) -> bool {
        if now >= self.last_used_at.saturating_add(LAST_USED_RESOLUTION) {
            self.last_used_at = now;
            true
        } else {
            false
        }
    }

    /// The policy state at `now`.
    pub fn state(&self, now: u64) -> DeviceState {
        DeviceState::from_policy(self.blocked, self.last_used_at, now)
    }

    /// The public view.
    pub fn info(&self, now: u64) -> DeviceInfo {
        DeviceInfo {
            device_id: self.device_id.clone(),
            user: self.user.clone(),
            name: self.name.clone(),
            platform: self.platform.clone(),
            state: self.state(now),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            pin_failures: self.pin_failures,
        }
    }
}
/// What kind of challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeKind {
    /// Pushed to the user's phones.
    Push,
    /// A `nyckel://login` QR code answered with an OTP.
    Login,
    /// A `nyckel://tx` QR code answered with an OTP.
    Tx,
    /// Pushed to the user's phones to approve registering a new device (`new_device`).
    #[serde(rename = "new_device")]
    NewDevice,
}

/// One addressed device and the server's signature of its copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The device.
    pub device_id: DeviceId,
    /// Ed25519 over the device's [`PushChallenge`].
    pub signature: ServerSignature,
}

/// A stored challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRecord {
    /// The challenge.
    pub id: ChallengeId,
    /// Kind.
    pub kind: ChallengeKind,
    /// The tenant of the relying party that created it.
    pub tenant: String,
    /// The relying party that created it.
    pub rp: String,
    /// The user.
    pub user: String,
    /// Its nonce.
    pub nonce: Nonce,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// What the phone shows.
    pub display: ChallengeDisplay,
    /// The right number (number matching only).
    pub number: Option<String>,
    /// Push targets (empty for QR challenges, which any active device of the user may answer).
    pub targets: Vec<Target>,
    /// State.
    pub state: ChallengeState,
    /// The device whose answer decided it.
    pub device_id: Option<DeviceId>,
    /// When it was decided.
    pub answered_at: Option<u64>,
    /// Wrong one-time passwords typed for it so far (QR challenges).
    #[serde(default)]
    pub otp_attempts: u32,
}

impl ChallengeRecord {
    /// The copy addressed to `device`.
    pub fn push_for(&self, device: &DeviceId) -> PushChallenge {
        PushChallenge {
            id: self.id.clone(),
            device_id: device.clone(),
            nonce: self.nonce,
            created_at: self.created_at,
            expires_at: self.expires_at,
            display: self.display.clone(),
            kind: match self.kind {
                ChallengeKind::NewDevice => nyckel_protocol::PushKind::NewDevice,
                _ => nyckel_protocol::PushKind::SignIn,
            },
        }
    }

    /// The relying party's view.
    pub fn status(&self) -> ChallengeStatus {
        ChallengeStatus {
            challenge_id: self.id.clone(),
            state: self.state,
            expires_at: self.expires_at,
            device_id: self.device_id.clone(),
            answered_at: self.answered_at,
        }
    }

    /// The OTP question (QR challenges).
    pub fn otp_kind(&self) -> Option<OtpKind> {
        match self.kind {
            ChallengeKind::Push | ChallengeKind::NewDevice => None,
            ChallengeKind::Login => Some(OtpKind::Login),
            ChallengeKind::Tx => Some(OtpKind::Transaction),
        }
    }
}

impl ChallengeRecord {
    /// Whether it still counts against its user's limits at `now` (see [`ChallengeRegistry::count_for_user`]).
    pub fn counts_for_limits(&self, now: u64) -> bool {
        self.is_open_at(now) || self.is_recent_push(now)
    }

    pub fn is_open_at(&self, now: u64) -> bool {
        self.state == ChallengeState::Pending && now < self.expires_at
    }

    pub fn is_recent_push(&self, now: u64) -> bool {
        matches!(self.kind, ChallengeKind::Push | ChallengeKind::NewDevice) && self.created_at.saturating_add(60) > now
    }
}
/// A stored enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentRecord {
    /// The enrollment.
    pub id: EnrollmentId,
    /// The tenant of the relying party that started it (and of the user).
    pub tenant: String,
    /// The relying party that started it.
    pub rp: String,
    /// The user.
    pub user: String,
    /// The device name the user chose.
    pub device_name: String,
    /// The one-time token; wiped on completion or cancellation.
    pub token: Option<EnrollmentToken>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// The device it created.
    pub device_id: Option<DeviceId>,
    /// That device's platform, shown to the starter so the user can compare.
    #[serde(default)]
    pub platform: Option<String>,
    /// That device's key fingerprint, which its phone shows too.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Wrong tokens so far.
    pub token_failures: u32,
    /// Cancelled after too many wrong tokens (shown as expired).
    pub cancelled: bool,
    /// The registered device whose "add a phone" code this is (`POST /v1/device/enrollments`);
    /// such an enrollment completes only by a registered device's approval (`new_device`).
    #[serde(default)]
    pub origin_device: Option<DeviceId>,
    /// The new device's request, once it asked for approval, and the challenge that asks.
    #[serde(default)]
    pub approval: Option<ApprovalRecord>,
    /// The receipt given on approval, so a new phone that lost the answer can ask again.
    #[serde(default)]
    pub receipt: Option<EnrollmentReceipt>,
}

/// A new device waiting for a registered device's approval (all of it public).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The new-device challenge pushed to the user's registered devices.
    pub challenge_id: nyckel_protocol::ChallengeId,
    /// The new phone's verified request (device key, key share, platform, server URL).
    pub request: CompleteEnrollment,
}

impl EnrollmentRecord {
    pub fn state(&self, now: u64) -> EnrollmentState {
        if self.device_id.is_some() {
            EnrollmentState::Completed
        } else if self.cancelled || now >= self.expires_at {
            EnrollmentState::Expired
        } else {
            EnrollmentState::Pending
        }
    }

    pub fn status(&self, now: u64) -> EnrollmentStatus {
        EnrollmentStatus {
            enrollment_id: self.id.clone(),
            state: self.state(now),
            device_id: self.device_id.clone(),
            device_name: self.device_id.as_ref().map(|_| self.device_name.clone()),
            platform: self.platform.clone(),
            fingerprint: self.fingerprint.clone(),
            expires_at: self.expires_at,
        }
    }

    pub fn qr(&self, server_url: &str, server_key: ServerPublicKey) -> Option<EnrollQr> {
        Some(EnrollQr {
            server_url: server_url.to_owned(),
            enrollment_id: self.id.clone(),
            token: self.token?,
            server_key,
            label: Some(self.user.clone()),
        })
    }
}

/// A stored user. It has no password: the sign-in service in front of the server owns them
/// (records written with the former `password_hash` field still load; serde ignores it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The tenant the user belongs to.
    pub tenant: String,
    /// The name, unique within the tenant.
    pub name: String,
    /// Disabled users get no enrollments or challenges.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: u64,
    /// Consecutive wrong QR one-time passwords (any device, any challenge).
    #[serde(default)]
    pub otp_failures: u32,
}

/// A stored tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its identifier: 1–64 of `[a-z0-9-]`, used in commands, keys and audit events.
    pub name: String,
    /// The organisation's name as phones show it (signed into enrollment receipts).
    pub display_name: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// A stored relying party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelyingParty {
    /// The tenant whose users it may act on, and nothing else.
    pub tenant: String,
    /// Its name, unique within the tenant (appears in audit events as `rp:<name>`).
    pub name: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// Who an authenticated administrator is and how far their rights reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminScope {
    /// The administrator's name (`admin:<name>` in audit events); `global` for the server's own token.
    pub name: String,
    /// The one tenant they administer; `None` for the global administrator.
    pub tenant: Option<String>,
}

impl AdminScope {
    /// The global administrator.
    pub fn global() -> Self {
        Self { name: "global".into(), tenant: None }
    }

    /// Whether something in `tenant` is within reach.
    pub fn reaches(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }

    /// The audit actor.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.name)
    }
}
