//! Push challenges: what the server signs and the checks the phone makes before showing one.

use serde::{Deserialize, Serialize};

use crate::canonical::{tags, Canonical};
use crate::display::{ChallengeDisplay, DisplayError, DisplayHash};
use crate::ids::{ChallengeId, DeviceId, Nonce};
use crate::keys::{ServerPublicKey, ServerSignature, ServerSigningKey};
use crate::policy::{CHALLENGE_CLOCK_SKEW, MAX_CHALLENGE_TTL};

/// Why the phone refuses a challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// The server signature does not verify under the pinned server key.
    #[error("challenge {id} is not signed by the pinned server key")]
    BadSignature {
        /// The challenge.
        id: ChallengeId,
    },
    /// The challenge is addressed to another device.
    #[error("challenge {id} is for device {addressed_to}, not this one")]
    WrongDevice {
        /// The challenge.
        id: ChallengeId,
        /// The device it names.
        addressed_to: DeviceId,
    },
    /// The challenge has expired.
    #[error("challenge {id} expired at {expires_at} (now {now})")]
    Expired {
        /// The challenge.
        id: ChallengeId,
        /// Its expiry, Unix seconds.
        expires_at: u64,
        /// The phone's clock.
        now: u64,
    },
    /// The challenge claims to be created in the future beyond the allowed skew.
    #[error("challenge {id} is created at {created_at}, after now ({now}) plus the allowed skew")]
    NotYetValid {
        /// The challenge.
        id: ChallengeId,
        /// Its creation time.
        created_at: u64,
        /// The phone's clock.
        now: u64,
    },
    /// Expiry not after creation, or a lifetime beyond [`MAX_CHALLENGE_TTL`].
    #[error("challenge {id} has an impossible validity period")]
    BadLifetime {
        /// The challenge.
        id: ChallengeId,
    },
    /// Displayed content the phone must not show.
    #[error("challenge {id} has unacceptable display content: {source}")]
    Display {
        /// The challenge.
        id: ChallengeId,
        /// What was wrong.
        source: DisplayError,
    },
}

/// A push challenge for one device, as the server signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushChallenge {
    /// The challenge.
    pub id: ChallengeId,
    /// The device it is addressed to.
    pub device_id: DeviceId,
    /// 16 random bytes, fresh per challenge.
    pub nonce: Nonce,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// What the phone shows.
    pub display: ChallengeDisplay,
}

impl PushChallenge {
    /// The bytes the server signs (tag `nyckel/v2/challenge`).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        Canonical::new(tags::CHALLENGE)
            .str(self.id.as_str())
            .str(self.device_id.as_str())
            .bytes(&self.nonce.0)
            .u64(self.created_at)
            .u64(self.expires_at)
            .bytes(&self.display_hash().0)
            .finish()
    }

    /// The hash of what the phone shows for this challenge.
    pub fn display_hash(&self) -> DisplayHash {
        self.display.hash()
    }

    /// Signs the challenge with the server key (server side).
    pub fn sign(self, key: &ServerSigningKey) -> SignedChallenge {
        let signature = key.sign(&self.canonical_bytes());
        SignedChallenge { challenge: self, signature }
    }
}

/// A push challenge with the server's Ed25519 signature, as the phone receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedChallenge {
    /// The challenge.
    pub challenge: PushChallenge,
    /// Ed25519 over [`PushChallenge::canonical_bytes`].
    pub signature: ServerSignature,
}

impl SignedChallenge {
    /// The phone's checks, in order: signature under the pinned key, addressed to this
    /// device, a plausible validity period that includes `now` (± [`CHALLENGE_CLOCK_SKEW`]),
    /// and displayable content. Whether the challenge was already seen is the caller's
    /// check: it needs state this crate does not keep.
    pub fn verify(
        &self,
        server_key: &ServerPublicKey,
        device: &DeviceId,
        now: u64,
    ) -> Result<&PushChallenge, ChallengeError> {
        let c = &self.challenge;
        let id = || c.id.clone();
        server_key
            .verify(&c.canonical_bytes(), &self.signature)
            .map_err(|_| ChallengeError::BadSignature { id: id() })?;
        if &c.device_id != device {
            return Err(ChallengeError::WrongDevice { id: id(), addressed_to: c.device_id.clone() });
        }
        if c.expires_at <= c.created_at || c.expires_at - c.created_at > MAX_CHALLENGE_TTL {
            return Err(ChallengeError::BadLifetime { id: id() });
        }
        if c.created_at > now.saturating_add(CHALLENGE_CLOCK_SKEW) {
            return Err(ChallengeError::NotYetValid { id: id(), created_at: c.created_at, now });
        }
        if now >= c.expires_at.saturating_add(CHALLENGE_CLOCK_SKEW) {
            return Err(ChallengeError::Expired { id: id(), expires_at: c.expires_at, now });
        }
        c.display.validate().map_err(|source| ChallengeError::Display { id: id(), source })?;
        Ok(c)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::display::{DisplayContext, NumberPrompt, TransactionLine};

    pub(crate) fn server_key() -> ServerSigningKey {
        ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap()
    }

    pub(crate) fn challenge(number: bool) -> PushChallenge {
        PushChallenge {
            id: ChallengeId::new("chal-1").unwrap(),
            device_id: DeviceId::new("dev-1").unwrap(),
            nonce: Nonce([5; 16]),
            created_at: 1_000_000,
            expires_at: 1_000_120,
            display: ChallengeDisplay {
                context: DisplayContext::new("Trade portal", "Change payee"),
                transaction: vec![TransactionLine::new("IBAN", "LT60 3250 0123")],
                number_match: number
                    .then(|| NumberPrompt::Choose { choices: vec!["17".into(), "42".into(), "85".into()] }),
            },
        }
    }

    #[test]
    fn valid_challenge_passes() {
        let key = server_key();
        let signed = challenge(true).sign(&key);
        let dev = DeviceId::new("dev-1").unwrap();
        assert_eq!(signed.verify(&key.public_key(), &dev, 1_000_010), Ok(&challenge(true)));
        // Within the skew on both ends.
        assert!(signed.verify(&key.public_key(), &dev, 1_000_000 - 30).is_ok());
        assert!(signed.verify(&key.public_key(), &dev, 1_000_120 + 29).is_ok());
    }

    #[test]
    fn altered_unsigned_or_foreign_challenges_fail() {
        let key = server_key();
        let dev = DeviceId::new("dev-1").unwrap();
        let signed = challenge(false).sign(&key);
        let mut altered = signed.clone();
        altered.challenge.display.transaction[0].value = "LT60 9999 0000".into();
        assert!(matches!(altered.verify(&key.public_key(), &dev, 1_000_010), Err(ChallengeError::BadSignature { .. })));
        let mut altered = signed.clone();
        altered.challenge.expires_at += 1;
        assert!(matches!(altered.verify(&key.public_key(), &dev, 1_000_010), Err(ChallengeError::BadSignature { .. })));
        let mut altered = signed.clone();
        altered.challenge.nonce.0[0] ^= 1;
        assert!(matches!(altered.verify(&key.public_key(), &dev, 1_000_010), Err(ChallengeError::BadSignature { .. })));
        let other = server_key();
        assert!(matches!(
            signed.verify(&other.public_key(), &dev, 1_000_010),
            Err(ChallengeError::BadSignature { .. })
        ));
        let other_dev = DeviceId::new("dev-2").unwrap();
        assert!(matches!(
            signed.verify(&key.public_key(), &other_dev, 1_000_010),
            Err(ChallengeError::WrongDevice { .. })
        ));
    }

    #[test]
    fn timing_is_enforced() {
        let key = server_key();
        let dev = DeviceId::new("dev-1").unwrap();
        let signed = challenge(false).sign(&key);
        assert!(matches!(signed.verify(&key.public_key(), &dev, 1_000_150), Err(ChallengeError::Expired { .. })));
        assert!(matches!(signed.verify(&key.public_key(), &dev, 999_969), Err(ChallengeError::NotYetValid { .. })));
        let mut long = challenge(false);
        long.expires_at = long.created_at + 601;
        let long = long.sign(&key);
        assert!(matches!(long.verify(&key.public_key(), &dev, 1_000_010), Err(ChallengeError::BadLifetime { .. })));
        let mut backwards = challenge(false);
        backwards.expires_at = backwards.created_at;
        let backwards = backwards.sign(&key);
        assert!(matches!(
            backwards.verify(&key.public_key(), &dev, 1_000_000),
            Err(ChallengeError::BadLifetime { .. })
        ));
    }

    #[test]
    fn signed_but_undisplayable_content_is_refused() {
        let key = server_key();
        let mut c = challenge(false);
        c.display.context.service = "Bank\u{202E}evil".into();
        let signed = c.sign(&key);
        let result = signed.verify(&key.public_key(), &DeviceId::new("dev-1").unwrap(), 1_000_010);
        assert!(matches!(result, Err(ChallengeError::Display { .. })));
    }

    #[test]
    fn json_round_trip_and_malformed_input() {
        let signed = challenge(true).sign(&server_key());
        let json = serde_json::to_string(&signed).unwrap();
        assert_eq!(serde_json::from_str::<SignedChallenge>(&json).unwrap(), signed);
        assert!(
            serde_json::from_str::<SignedChallenge>(&json.replace("\"signature\":\"", "\"signature\":\"A")).is_err()
        );
        assert!(serde_json::from_str::<SignedChallenge>(&json.replace("\"nonce\":\"", "\"nonce\":\"AA")).is_err());
        assert!(serde_json::from_str::<SignedChallenge>("{}").is_err());
        assert!(serde_json::from_str::<SignedChallenge>("[").is_err());
    }
}
