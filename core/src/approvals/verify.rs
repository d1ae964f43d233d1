//! The phone's checks of a delivered push challenge, as a pure function (PROTOCOL.md §6.2 step 3).

use nyckel_protocol::{ChallengeError, ChallengeId, PushChallenge, SignedChallenge};

use crate::vault::registrations::Registration;

/// Why the phone refused a delivered challenge. A refused challenge is never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeRejection {
    /// Bad or missing signature under the pinned key, another device, an impossible or
    /// past validity period, or undisplayable content.
    #[error(transparent)]
    Invalid(#[from] ChallengeError),
    /// This challenge was already answered, or is already being shown by this process: a
    /// replay, or the server delivering it again.
    #[error("challenge {id} was already shown")]
    AlreadySeen {
        /// The challenge.
        id: ChallengeId,
    },
}

/// Checks a challenge against a registration at phone time `now`: signature under the
/// pinned server key, addressed to this registration's device, validity period including
/// `now` within the allowed clock skew, displayable content. Whether it was seen before is
/// checked against the vault by the caller, after this (so junk never fills the seen list).
pub fn verify_challenge<'a>(
    registration: &Registration,
    signed: &'a SignedChallenge,
    now: u64,
) -> Result<&'a PushChallenge, ChallengeRejection> {
    Ok(signed.verify(&registration.server_key, &registration.device_id, now)?)
}
