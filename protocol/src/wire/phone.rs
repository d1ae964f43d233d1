//! The phone API (device-signed requests): pending challenges, answer results and the
//! server's signed receipt for an answer.

use serde::{Deserialize, Serialize};

use crate::answer::Decision;
use crate::canonical::{tags, Canonical};
use crate::challenge::{PushChallenge, SignedChallenge};
use crate::display::DisplayHash;
use crate::ids::{ChallengeId, DeviceId};
use crate::key_rotation::KeyRotation;
use crate::keys::{ServerPublicKey, ServerSignature, ServerSigningKey};
use crate::wire::relying_party::ChallengeState;

/// Response of `GET /v1/device/challenges?wait=N` (long poll): the device's pending
/// challenges, possibly none when the wait ran out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingChallenges {
    /// Pending, unexpired challenges addressed to this device, oldest first.
    pub challenges: Vec<SignedChallenge>,
    /// Server clock, Unix seconds.
    pub server_time: u64,
    /// The server's whole key-rotation chain; the phone follows it from its pinned key
    /// ([`crate::key_rotation::follow`]), stores the new key, then verifies the challenges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_rotations: Vec<KeyRotation>,
}

/// Response of `POST /v1/device/challenges/{id}/answer` when the answer was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerAccepted {
    /// The challenge's final state.
    pub state: ChallengeState,
    /// The server's signed receipt for the answer. Absent only from servers older than the
    /// receipt; a phone then keeps its history entry without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<AnswerReceipt>,
}

/// The server's receipt for an answer it took: when it decided, and its Ed25519 signature
/// over [`receipt_bytes`]. The phone verifies it under its pinned key and keeps it in its
/// history, as proof of what the server recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerReceipt {
    /// When the server took the answer, Unix seconds (server clock).
    pub decided_at: u64,
    /// Ed25519 by the server key over [`receipt_bytes`].
    pub signature: ServerSignature,
}

/// Why a receipt was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The signature does not verify under the pinned server key for these fields.
    #[error("the answer receipt does not verify under the pinned server key")]
    BadSignature,
}

/// What a receipt is about: the fields of [`receipt_bytes`] other than the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptFields<'a> {
    /// The challenge answered.
    pub challenge_id: &'a ChallengeId,
    /// The answering device.
    pub device_id: &'a DeviceId,
    /// The device's decision.
    pub decision: Decision,
    /// The hash of what the device displayed (and signed in its answer).
    pub display_hash: &'a DisplayHash,
    /// The state the server put the challenge in.
    pub state: ChallengeState,
}

impl<'a> ReceiptFields<'a> {
    /// The fields for an answer to `challenge` (as the device was sent it).
    pub fn for_challenge(
        challenge: &'a PushChallenge,
        display_hash: &'a DisplayHash,
        decision: Decision,
        state: ChallengeState,
    ) -> Self {
        Self { challenge_id: &challenge.id, device_id: &challenge.device_id, decision, display_hash, state }
    }
}

/// The canonical bytes of an answer receipt (tag `nyckel/v2/answer-receipt`): challenge id,
/// device id, decision, display hash, state, decision time.
pub fn receipt_bytes(fields: &ReceiptFields<'_>, decided_at: u64) -> Vec<u8> {
    Canonical::new(tags::ANSWER_RECEIPT)
        .str(fields.challenge_id.as_str())
        .str(fields.device_id.as_str())
        .str(fields.decision.as_str())
        .bytes(&fields.display_hash.0)
        .str(fields.state.as_str())
        .u64(decided_at)
        .finish()
}

impl AnswerReceipt {
    /// The server's receipt, signed with its current key.
    pub fn issue(key: &ServerSigningKey, fields: &ReceiptFields<'_>, decided_at: u64) -> Self {
        Self { decided_at, signature: key.sign(&receipt_bytes(fields, decided_at)) }
    }

    /// The phone's check under its pinned server key, for the answer it sent and the state
    /// the server reported.
    pub fn verify(&self, key: &ServerPublicKey, fields: &ReceiptFields<'_>) -> Result<(), ReceiptError> {
        key.verify(&receipt_bytes(fields, self.decided_at), &self.signature).map_err(|_| ReceiptError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_poll_and_malformed() {
        let empty: PendingChallenges = serde_json::from_str(r#"{"challenges":[],"server_time":5}"#).unwrap();
        assert!(empty.challenges.is_empty());
        assert!(empty.key_rotations.is_empty());
        assert!(!serde_json::to_string(&empty).unwrap().contains("key_rotations"));
        assert!(serde_json::from_str::<PendingChallenges>(
            r#"{"challenges":[],"server_time":5,"key_rotations":[{"old_key":"AAAA"}]}"#
        )
        .is_err());
        assert!(serde_json::from_str::<PendingChallenges>(r#"{"challenges":[{}],"server_time":5}"#).is_err());
        assert!(serde_json::from_str::<PendingChallenges>(r#"{"challenges":null,"server_time":5}"#).is_err());
        let accepted: AnswerAccepted = serde_json::from_str(r#"{"state":"approved"}"#).unwrap();
        assert_eq!(accepted.state, ChallengeState::Approved);
        assert_eq!(accepted.receipt, None);
    }

    fn fields<'a>(challenge: &'a PushChallenge, hash: &'a DisplayHash) -> ReceiptFields<'a> {
        ReceiptFields::for_challenge(challenge, hash, Decision::Approve, ChallengeState::Approved)
    }

    #[test]
    fn receipt_bytes_layout() {
        let challenge = crate::challenge::tests::challenge(false);
        let hash = challenge.display_hash();
        let bytes = receipt_bytes(&fields(&challenge, &hash), 7);
        let expected = Canonical::new("nyckel/v2/answer-receipt")
            .str("chal-1")
            .str("dev-1")
            .str("approve")
            .bytes(&hash.0)
            .str("approved")
            .u64(7)
            .finish();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn receipt_verifies_and_covers_every_field() {
        let key = crate::challenge::tests::server_key();
        let challenge = crate::challenge::tests::challenge(true);
        let hash = challenge.display_hash();
        let receipt = AnswerReceipt::issue(&key, &fields(&challenge, &hash), 1_000_050);
        assert_eq!(receipt.verify(&key.public_key(), &fields(&challenge, &hash)), Ok(()));

        let other_key = crate::challenge::tests::server_key();
        assert_eq!(
            receipt.verify(&other_key.public_key(), &fields(&challenge, &hash)),
            Err(ReceiptError::BadSignature)
        );
        let mut late = receipt;
        late.decided_at += 1;
        assert_eq!(late.verify(&key.public_key(), &fields(&challenge, &hash)), Err(ReceiptError::BadSignature));
        let other_hash = DisplayHash([9; 32]);
        assert!(receipt.verify(&key.public_key(), &fields(&challenge, &other_hash)).is_err());
        let other_id = ChallengeId::new("chal-2").unwrap();
        let other_device = DeviceId::new("dev-2").unwrap();
        let base = fields(&challenge, &hash);
        for changed in [
            ReceiptFields { decision: Decision::Deny, ..base },
            ReceiptFields { state: ChallengeState::Denied, ..base },
            ReceiptFields { challenge_id: &other_id, ..base },
            ReceiptFields { device_id: &other_device, ..base },
        ] {
            assert_eq!(receipt.verify(&key.public_key(), &changed), Err(ReceiptError::BadSignature));
        }
    }

    #[test]
    fn receipt_json_and_malformed_input() {
        let key = crate::challenge::tests::server_key();
        let challenge = crate::challenge::tests::challenge(false);
        let hash = challenge.display_hash();
        let accepted = AnswerAccepted {
            state: ChallengeState::Approved,
            receipt: Some(AnswerReceipt::issue(&key, &fields(&challenge, &hash), 5)),
        };
        let json = serde_json::to_string(&accepted).unwrap();
        assert!(json.contains("\"decided_at\":5"));
        assert_eq!(serde_json::from_str::<AnswerAccepted>(&json).unwrap(), accepted);
        for bad in [
            r#"{"state":"approved","receipt":{"decided_at":5}}"#,
            r#"{"state":"approved","receipt":{"signature":"AAAA"}}"#,
            r#"{"state":"approved","receipt":{"decided_at":5,"signature":"AAAA"}}"#,
            r#"{"state":"approved","receipt":{"decided_at":-1,"signature":"AAAA"}}"#,
            r#"{"state":"approved","receipt":{"decided_at":5,"signature":"AAAA","x":1}}"#,
            r#"{"state":"approved","receipt":"AAAA"}"#,
            r#"{"state":"approved","receipt":null,"extra":1}"#,
        ] {
            assert!(serde_json::from_str::<AnswerAccepted>(bad).is_err(), "{bad}");
        }
        // A signature of the right length but wrong content parses and is refused by verify.
        let mut forged = accepted.receipt.unwrap();
        forged.signature.0[0] ^= 1;
        assert_eq!(forged.verify(&key.public_key(), &fields(&challenge, &hash)), Err(ReceiptError::BadSignature));
    }
}
