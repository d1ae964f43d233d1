//! A device's answer to a push challenge: approve, deny or report fraud, bound to what was shown.

use serde::{Deserialize, Serialize};

use crate::canonical::{tags, Canonical};
use crate::challenge::PushChallenge;
use crate::ids::ChallengeId;
use crate::keys::{DevicePublicKey, DeviceSignature, DeviceSigner, SignerError};
use crate::pin::{PinMac, PinSecret};
use crate::policy::REQUEST_TIMESTAMP_WINDOW;

/// The user's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Approve (requires the PIN).
    Approve,
    /// Deny (no PIN: refusing must be effortless).
    Deny,
    /// Deny and report that the request was not the user's.
    Fraud,
}

impl Decision {
    /// The wire and canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
            Decision::Fraud => "fraud",
        }
    }
}

/// Why an answer could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The answer names another challenge than the one it is checked against.
    #[error("answer is for challenge {answer}, not {challenge}")]
    WrongChallenge {
        /// The challenge the answer names.
        answer: ChallengeId,
        /// The challenge it was checked against.
        challenge: ChallengeId,
    },
    /// Approval without a number though the challenge asks for one, a number of the wrong
    /// form, or a number where none is asked.
    #[error("number-match answer is missing, malformed or unexpected")]
    BadNumber,
    /// An approval without a PIN MAC, or a denial with one.
    #[error("an approval carries a PIN MAC and a denial does not")]
    PinMacMismatch,
    /// The device signature does not verify.
    #[error("device signature over the answer does not verify")]
    BadSignature,
    /// `answered_at` is outside ± [`REQUEST_TIMESTAMP_WINDOW`] of the server clock.
    #[error("answer time {answered_at} is outside the window around {now}")]
    Stale {
        /// The answer's time.
        answered_at: u64,
        /// The server clock.
        now: u64,
    },
    /// The device key could not sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// What the phone sends to answer a push challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The challenge answered.
    pub challenge_id: ChallengeId,
    /// The decision.
    pub decision: Decision,
    /// The number the user picked or typed (approvals of number-matching challenges only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// When the user answered, Unix seconds (phone clock).
    pub answered_at: u64,
    /// ECDSA P-256 (DER) by the device key over [`answer_bytes`].
    pub signature: DeviceSignature,
    /// HMAC-SHA256 under the PIN secret's MAC key over the same bytes; approvals only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_mac: Option<PinMac>,
}

/// The canonical bytes of an answer (tag `nyckel/v2/answer`): challenge id, device id,
/// nonce, display hash, decision, number (optional), answer time.
pub fn answer_bytes(challenge: &PushChallenge, decision: Decision, number: Option<&str>, answered_at: u64) -> Vec<u8> {
    Canonical::new(tags::ANSWER)
        .str(challenge.id.as_str())
        .str(challenge.device_id.as_str())
        .bytes(&challenge.nonce.0)
        .bytes(&challenge.display_hash().0)
        .str(decision.as_str())
        .opt_str(number)
        .u64(answered_at)
        .finish()
}

fn check_number(challenge: &PushChallenge, decision: Decision, number: Option<&str>) -> Result<(), AnswerError> {
    let ok = match (decision, &challenge.display.number_match, number) {
        (Decision::Approve, Some(prompt), Some(n)) => prompt.accepts_form(n),
        (Decision::Approve, None, None) => true,
        (Decision::Deny | Decision::Fraud, _, None) => true,
        _ => false,
    };
    ok.then_some(()).ok_or(AnswerError::BadNumber)
}

impl Answer {
    /// Approves: signs with the device key and MACs with the secret the PIN unblinded.
    /// The phone cannot know whether that secret is right; the server will tell.
    pub fn approve(
        challenge: &PushChallenge,
        number: Option<String>,
        answered_at: u64,
        signer: &dyn DeviceSigner,
        secret: &PinSecret,
    ) -> Result<Self, AnswerError> {
        check_number(challenge, Decision::Approve, number.as_deref())?;
        let bytes = answer_bytes(challenge, Decision::Approve, number.as_deref(), answered_at);
        Ok(Self {
            challenge_id: challenge.id.clone(),
            decision: Decision::Approve,
            pin_mac: Some(secret.mac_key().mac(&bytes)),
            signature: signer.sign(&bytes)?,
            number,
            answered_at,
        })
    }

    /// Denies, or with `fraud` reports the request as not the user's; no PIN involved.
    pub fn deny(
        challenge: &PushChallenge,
        fraud: bool,
        answered_at: u64,
        signer: &dyn DeviceSigner,
    ) -> Result<Self, AnswerError> {
        let decision = if fraud { Decision::Fraud } else { Decision::Deny };
        let bytes = answer_bytes(challenge, decision, None, answered_at);
        Ok(Self {
            challenge_id: challenge.id.clone(),
            decision,
            number: None,
            answered_at,
            signature: signer.sign(&bytes)?,
            pin_mac: None,
        })
    }

    /// The canonical bytes this answer signs, against the challenge as the server stored it.
    pub fn canonical_bytes(&self, challenge: &PushChallenge) -> Vec<u8> {
        answer_bytes(challenge, self.decision, self.number.as_deref(), self.answered_at)
    }

    /// The server's structural and signature checks: same challenge, consistent number
    /// and PIN MAC presence, valid device signature. The PIN is checked separately by
    /// [`Answer::pin_is_correct`], because its outcome is counted, not just refused.
    pub fn verify(&self, challenge: &PushChallenge, device_key: &DevicePublicKey) -> Result<(), AnswerError> {
        if self.challenge_id != challenge.id {
            return Err(AnswerError::WrongChallenge {
                answer: self.challenge_id.clone(),
                challenge: challenge.id.clone(),
            });
        }
        check_number(challenge, self.decision, self.number.as_deref())?;
        if (self.decision == Decision::Approve) != self.pin_mac.is_some() {
            return Err(AnswerError::PinMacMismatch);
        }
        device_key.verify(&self.canonical_bytes(challenge), &self.signature).map_err(|_| AnswerError::BadSignature)
    }

    /// The server's check that `answered_at` is within ± [`REQUEST_TIMESTAMP_WINDOW`] of `now`.
    pub fn check_time(&self, now: u64) -> Result<(), AnswerError> {
        if self.answered_at.abs_diff(now) <= REQUEST_TIMESTAMP_WINDOW {
            Ok(())
        } else {
            Err(AnswerError::Stale { answered_at: self.answered_at, now })
        }
    }

    /// Whether the approval's PIN MAC is right under the device's PIN secret (constant
    /// time). `false` for answers without a MAC. A `false` for an approval is a PIN failure.
    pub fn pin_is_correct(&self, challenge: &PushChallenge, secret: &PinSecret) -> bool {
        match &self.pin_mac {
            Some(mac) => secret.mac_key().verify(&self.canonical_bytes(challenge), mac),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::challenge::tests::challenge;
    use crate::keys::SoftwareDeviceKey;

    #[test]
    fn approval_verifies_and_pin_is_checked() {
        let device = SoftwareDeviceKey::generate().unwrap();
        let secret = PinSecret::from_bytes([1; 32]);
        let c = challenge(true);
        let answer = Answer::approve(&c, Some("42".into()), 1_000_050, &device, &secret).unwrap();
        assert_eq!(answer.verify(&c, &device.public_key()), Ok(()));
        assert!(answer.pin_is_correct(&c, &secret));
        assert!(!answer.pin_is_correct(&c, &PinSecret::from_bytes([2; 32])));
    }

    #[test]
    fn wrong_pin_still_gives_a_valid_device_signature() {
        // The signature must not depend on S, or it would be an offline PIN oracle.
        let device = SoftwareDeviceKey::generate().unwrap();
        let c = challenge(false);
        let answer = Answer::approve(&c, None, 1_000_050, &device, &PinSecret::from_bytes([7; 32])).unwrap();
        assert_eq!(answer.verify(&c, &device.public_key()), Ok(()));
        assert!(!answer.pin_is_correct(&c, &PinSecret::from_bytes([1; 32])));
    }

    #[test]
    fn answer_is_bound_to_what_was_displayed_and_decided() {
        let device = SoftwareDeviceKey::generate().unwrap();
        let secret = PinSecret::from_bytes([1; 32]);
        let c = challenge(true);
        let answer = Answer::approve(&c, Some("42".into()), 1_000_050, &device, &secret).unwrap();

        let mut shown_other = c.clone();
        shown_other.display.transaction[0].value = "LT60 9999".into();
        assert_eq!(answer.verify(&shown_other, &device.public_key()), Err(AnswerError::BadSignature));
        assert!(!answer.pin_is_correct(&shown_other, &secret));

        let mut other_nonce = c.clone();
        other_nonce.nonce.0[3] ^= 1;
        assert_eq!(answer.verify(&other_nonce, &device.public_key()), Err(AnswerError::BadSignature));

        let mut flipped = answer.clone();
        flipped.number = Some("17".into());
        assert_eq!(flipped.verify(&c, &device.public_key()), Err(AnswerError::BadSignature));
        assert!(!flipped.pin_is_correct(&c, &secret));

        let mut as_deny = answer.clone();
        as_deny.decision = Decision::Deny;
        as_deny.number = None;
        as_deny.pin_mac = None;
        assert_eq!(as_deny.verify(&c, &device.public_key()), Err(AnswerError::BadSignature));

        let mut late = answer.clone();
        late.answered_at += 1;
        assert_eq!(late.verify(&c, &device.public_key()), Err(AnswerError::BadSignature));

        let mut other_id = c.clone();
        other_id.id = ChallengeId::new("chal-2").unwrap();
        assert!(matches!(answer.verify(&other_id, &device.public_key()), Err(AnswerError::WrongChallenge { .. })));

        let stranger = SoftwareDeviceKey::generate().unwrap();
        assert_eq!(answer.verify(&c, &stranger.public_key()), Err(AnswerError::BadSignature));
    }

    #[test]
    fn answer_time_window() {
        let device = SoftwareDeviceKey::generate().unwrap();
        let answer = Answer::deny(&challenge(false), false, 1_000, &device).unwrap();
        assert_eq!(answer.check_time(1_060), Ok(()));
        assert_eq!(answer.check_time(940), Ok(()));
        assert_eq!(answer.check_time(1_061), Err(AnswerError::Stale { answered_at: 1_000, now: 1_061 }));
    }

    #[test]
    fn number_rules() {
        let device = SoftwareDeviceKey::generate().unwrap();
        let secret = PinSecret::from_bytes([1; 32]);
        let with = challenge(true);
        let without = challenge(false);
        assert_eq!(Answer::approve(&with, None, 1, &device, &secret), Err(AnswerError::BadNumber));
        assert_eq!(Answer::approve(&with, Some("43".into()), 1, &device, &secret), Err(AnswerError::BadNumber));
        assert_eq!(Answer::approve(&without, Some("42".into()), 1, &device, &secret), Err(AnswerError::BadNumber));
        assert!(Answer::deny(&with, false, 1, &device).is_ok());
    }

    #[test]
    fn denial_has_no_mac_and_mac_presence_is_enforced() {
        let device = SoftwareDeviceKey::generate().unwrap();
        let c = challenge(true);
        let deny = Answer::deny(&c, true, 1_000_050, &device).unwrap();
        assert_eq!(deny.decision, Decision::Fraud);
        assert_eq!(deny.pin_mac, None);
        assert_eq!(deny.verify(&c, &device.public_key()), Ok(()));
        assert!(!deny.pin_is_correct(&c, &PinSecret::from_bytes([1; 32])));
        let mut with_mac = deny.clone();
        with_mac.pin_mac = Some(PinMac([0; 32]));
        assert_eq!(with_mac.verify(&c, &device.public_key()), Err(AnswerError::PinMacMismatch));
        let approve = Answer::approve(&c, Some("85".into()), 1, &device, &PinSecret::from_bytes([1; 32])).unwrap();
        let mut stripped = approve.clone();
        stripped.pin_mac = None;
        assert_eq!(stripped.verify(&c, &device.public_key()), Err(AnswerError::PinMacMismatch));
    }

    #[test]
    fn json_round_trip_and_malformed_input() {
        let device = SoftwareDeviceKey::generate().unwrap();
        let c = challenge(true);
        let answer = Answer::approve(&c, Some("42".into()), 1, &device, &PinSecret::from_bytes([1; 32])).unwrap();
        let json = serde_json::to_string(&answer).unwrap();
        assert_eq!(serde_json::from_str::<Answer>(&json).unwrap(), answer);
        assert!(serde_json::from_str::<Answer>(&json.replace("approve", "maybe")).is_err());
        assert!(serde_json::from_str::<Answer>(&json.replace("\"pin_mac\":\"", "\"pin_mac\":\"AA")).is_err());
        assert!(serde_json::from_str::<Answer>(r#"{"challenge_id":"x","decision":"deny"}"#).is_err());
    }
}
