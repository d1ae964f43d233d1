//! The phone API (device-signed requests): pending challenges and answer results.

use serde::{Deserialize, Serialize};

use crate::challenge::SignedChallenge;
use crate::key_rotation::KeyRotation;
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
    }
}
