//! The relying-party API (bearer API key): create push and QR challenges, verify OTPs, watch state.

use serde::{Deserialize, Serialize};

use crate::display::{check_text, validate_lines, DisplayContext, DisplayError, NumberMatchMode, TransactionLine};
use crate::ids::{ChallengeId, DeviceId};

/// The state of a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChallengeState {
    /// Waiting for an answer.
    Pending,
    /// Approved with the right PIN (and number), or a right OTP.
    Approved,
    /// Denied by the user, a wrong number match, or a wrong OTP.
    Denied,
    /// Denied and reported as not the user's.
    Fraud,
    /// Not answered in time.
    Expired,
    /// The answering device was blocked by this attempt (5th consecutive wrong PIN).
    Blocked,
}

impl ChallengeState {
    /// The wire and canonical name (lower case, as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeState::Pending => "pending",
            ChallengeState::Approved => "approved",
            ChallengeState::Denied => "denied",
            ChallengeState::Fraud => "fraud",
            ChallengeState::Expired => "expired",
            ChallengeState::Blocked => "blocked",
        }
    }

    /// Whether the state is final (everything but `pending`).
    pub fn is_final(self) -> bool {
        self != ChallengeState::Pending
    }
}

/// Body of `POST /v1/challenges/push`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePushChallenge {
    /// The user whose active devices receive the push.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 128)))]
    pub user: String,
    /// Service, action, browser, IP, place, time.
    pub context: DisplayContext,
    /// Ordered transaction lines, shown verbatim; empty for a login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(length(max = crate::display::MAX_TRANSACTION_LINES)))]
    pub transaction: Vec<TransactionLine>,
    /// Number matching: absent means [`NumberMatchMode::Type`]; `"choose"` and `"none"` only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_matching: Option<NumberMatchMode>,
    /// Lifetime in seconds (30–600, default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

impl CreatePushChallenge {
    /// The number matching this request gets: [`NumberMatchMode::Type`] when the field is absent.
    pub fn effective_number_matching(&self) -> NumberMatchMode {
        self.number_matching.unwrap_or(NumberMatchMode::Type)
    }

    /// Checks the user and everything that will be displayed.
    pub fn validate(&self) -> Result<(), DisplayError> {
        check_text("user", &self.user, 1, 128)?;
        self.context.validate()?;
        validate_lines(&self.transaction)
    }
}

/// Response to [`CreatePushChallenge`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PushChallengeCreated {
    /// The challenge.
    pub challenge_id: ChallengeId,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// With number matching: the number the browser must show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// How many devices received it.
    pub devices: u32,
}

/// Body of `POST /v1/challenges/qr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateQrChallenge {
    /// The user who will type the OTP.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 128)))]
    pub user: String,
    /// Service shown on the phone (1–64).
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 64)))]
    pub service: String,
    /// Action shown on the phone (1–64), e.g. "Sign in".
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 64)))]
    pub action: String,
    /// Transaction lines; non-empty makes a `nyckel://tx` code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(length(max = crate::display::MAX_TRANSACTION_LINES)))]
    pub transaction: Vec<TransactionLine>,
    /// Lifetime in seconds (30–600, default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

impl CreateQrChallenge {
    /// Checks the user and everything that will be displayed.
    pub fn validate(&self) -> Result<(), DisplayError> {
        check_text("user", &self.user, 1, 128)?;
        DisplayContext::new(self.service.clone(), self.action.clone()).validate()?;
        validate_lines(&self.transaction)
    }
}

/// Response to [`CreateQrChallenge`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct QrChallengeCreated {
    /// The challenge.
    pub challenge_id: ChallengeId,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// The `nyckel://login?...` or `nyckel://tx?...` URI to render as a QR code.
    pub qr: String,
}

/// Body of `POST /v1/challenges/{id}/otp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyOtp {
    /// The OTP as the user typed it (8 digits; spaces and dashes ignored).
    pub otp: String,
}

/// Response of `GET /v1/challenges/{id}?wait=N` and of OTP verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ChallengeStatus {
    /// The challenge.
    pub challenge_id: ChallengeId,
    /// Its state.
    pub state: ChallengeState,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// The device that answered, once final by an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// When it was answered, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<u64>,
}

/// Response of `PUT /v1/users/{user}` (201 when it created the user, 200 when the user
/// already existed in the caller's tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantUser {
    /// The user's name in the relying party's tenant.
    pub user: String,
    /// When the user was created, Unix seconds.
    pub created_at: u64,
    /// Disabled by an operator: challenges and enrollments for the user are refused (403).
    pub disabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_request_json_and_validation() {
        let json = r#"{"user":"alice","context":{"service":"Trade portal","action":"Sign in","ip":"192.0.2.1"},
            "transaction":[{"key":"Amount","value":"100 SEK"}],"number_matching":"choose","ttl":60}"#;
        let req: CreatePushChallenge = serde_json::from_str(json).unwrap();
        assert_eq!(req.validate(), Ok(()));
        assert_eq!(req.number_matching, Some(NumberMatchMode::Choose));
        assert_eq!(req.effective_number_matching(), NumberMatchMode::Choose);
        let plain: CreatePushChallenge =
            serde_json::from_str(r#"{"user":"a","context":{"service":"s","action":"a"}}"#).unwrap();
        assert_eq!(plain.effective_number_matching(), NumberMatchMode::Type, "absent means type");
        let none: CreatePushChallenge =
            serde_json::from_str(r#"{"user":"a","context":{"service":"s","action":"a"},"number_matching":"none"}"#)
                .unwrap();
        assert_eq!(none.effective_number_matching(), NumberMatchMode::None);
        let mut bad = req.clone();
        bad.user = String::new();
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<CreatePushChallenge>(&json.replace("choose", "guess")).is_err());
        assert!(serde_json::from_str::<CreatePushChallenge>(&json.replace("\"ttl\":60", "\"ttl\":-1")).is_err());
        assert!(serde_json::from_str::<CreatePushChallenge>(
            r#"{"user":"a","context":{"service":"s","action":"a"},"extra":1}"#
        )
        .is_err());
    }

    #[test]
    fn qr_request_validation() {
        let req = CreateQrChallenge {
            user: "alice".into(),
            service: "Portal".into(),
            action: "Sign in".into(),
            transaction: vec![],
            ttl: None,
        };
        assert_eq!(req.validate(), Ok(()));
        let mut bad = req.clone();
        bad.transaction = vec![TransactionLine::new("k", "v\r\n")];
        assert!(bad.validate().is_err());
    }

    #[test]
    fn states() {
        assert!(!ChallengeState::Pending.is_final());
        assert!(ChallengeState::Blocked.is_final());
        assert_eq!(serde_json::to_string(&ChallengeState::Fraud).unwrap(), "\"fraud\"");
        assert!(serde_json::from_str::<ChallengeState>("\"maybe\"").is_err());
    }
}
