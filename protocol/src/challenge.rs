//! Push challenges: what the server signs and the checks the phone makes before showing one.

use serde::{Deserialize, Serialize};

use crate::canonical::{tags, Canonical};
use crate::display::{ChallengeDisplay, DisplayContext, DisplayError, DisplayHash, NumberPrompt, TransactionLine};
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
    /// What approving it does: sign a relying party's request in (the default, omitted on the
    /// wire) or register a new device of the same user (PROTOCOL.md §6.5).
    #[serde(default, skip_serializing_if = "PushKind::is_sign_in")]
    pub kind: PushKind,
}

/// What a push challenge asks; the kind picks the tag the server signs under, so one kind can
/// never be passed off as the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// A relying party's sign-in or transaction (tag `nyckel/v2/challenge`).
    #[default]
    SignIn,
    /// A new device of the same user asks to be registered (tag
    /// `nyckel/v2/new-device-challenge`); its display has the form of [`NewDeviceDetails::display`].
    NewDevice,
}

impl PushKind {
    /// Whether this is the default kind (so it is left out of the JSON).
    pub fn is_sign_in(&self) -> bool {
        *self == PushKind::SignIn
    }
}

/// The action every new-device challenge shows.
pub const NEW_DEVICE_ACTION: &str = "Add a new phone";
const NEW_DEVICE_NAME: &str = "Device name";
const NEW_DEVICE_PLATFORM: &str = "Platform";
const NEW_DEVICE_FINGERPRINT: &str = "Fingerprint";

/// The new device a [`PushKind::NewDevice`] challenge asks to register: what the approving
/// phone shows, and what the new phone shows too, to be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeviceDetails {
    /// The name the user gave the new device.
    pub name: String,
    /// The platform the new device reported.
    pub platform: String,
    /// The new device key's fingerprint ([`crate::device_fingerprint`]).
    pub fingerprint: String,
}

impl NewDeviceDetails {
    /// The display of a new-device challenge: service = the organisation, action
    /// [`NEW_DEVICE_ACTION`], three lines (device name, platform, fingerprint) in that order,
    /// and a typed 2-digit number the new phone shows.
    pub fn display(&self, organisation: &str) -> ChallengeDisplay {
        ChallengeDisplay {
            // The service field holds 64 characters; an organisation name may be longer.
            context: DisplayContext::new(organisation.chars().take(64).collect::<String>(), NEW_DEVICE_ACTION),
            transaction: vec![
                TransactionLine::new(NEW_DEVICE_NAME, &self.name),
                TransactionLine::new(NEW_DEVICE_PLATFORM, &self.platform),
                TransactionLine::new(NEW_DEVICE_FINGERPRINT, &self.fingerprint),
            ],
            number_match: Some(NumberPrompt::Type { digits: 2 }),
        }
    }

    /// The details of a display made by [`NewDeviceDetails::display`]; `None` for any other
    /// form (the phone refuses a new-device challenge that does not have it).
    pub fn from_display(display: &ChallengeDisplay) -> Option<Self> {
        let c = &display.context;
        let plain = c.browser.is_none() && c.ip.is_none() && c.place.is_none() && c.time.is_none();
        if !plain || c.action != NEW_DEVICE_ACTION || display.number_match != Some(NumberPrompt::Type { digits: 2 }) {
            return None;
        }
        match display.transaction.as_slice() {
            [name, platform, fingerprint]
                if name.key == NEW_DEVICE_NAME
                    && platform.key == NEW_DEVICE_PLATFORM
                    && fingerprint.key == NEW_DEVICE_FINGERPRINT =>
            {
                Some(Self {
                    name: name.value.clone(),
                    platform: platform.value.clone(),
                    fingerprint: fingerprint.value.clone(),
                })
            }
            _ => None,
        }
    }
}

impl PushChallenge {
    /// The new device to register, for a [`PushKind::NewDevice`] challenge of the right form.
    pub fn new_device(&self) -> Option<NewDeviceDetails> {
        match self.kind {
            PushKind::NewDevice => NewDeviceDetails::from_display(&self.display),
            PushKind::SignIn => None,
        }
    }

    /// The bytes the server signs: tag `nyckel/v2/challenge` for a sign-in,
    /// `nyckel/v2/new-device-challenge` for a new device; the fields are the same.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let tag = match self.kind {
            PushKind::SignIn => tags::CHALLENGE,
            PushKind::NewDevice => tags::NEW_DEVICE_CHALLENGE,
        };
        Canonical::new(tag)
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
        if c.kind == PushKind::NewDevice && c.new_device().is_none() {
            return Err(ChallengeError::Display { id: id(), source: DisplayError::NewDeviceForm });
        }
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
            kind: PushKind::SignIn,
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
    fn new_device_challenges_are_signed_apart_and_have_one_form() {
        let key = server_key();
        let dev = DeviceId::new("dev-1").unwrap();
        let details = NewDeviceDetails {
            name: "New phone".into(),
            platform: "Android 15".into(),
            fingerprint: "SDG4-J5ET".into(),
        };
        let mut c = challenge(false);
        c.display = details.display("Acme Trade");
        c.kind = PushKind::NewDevice;
        let signed = c.clone().sign(&key);
        assert_eq!(signed.verify(&key.public_key(), &dev, 1_000_010).unwrap().new_device(), Some(details.clone()));
        // Flipping the kind (either way) breaks the signature: one cannot pass for the other.
        let mut flipped = signed.clone();
        flipped.challenge.kind = PushKind::SignIn;
        assert!(matches!(flipped.verify(&key.public_key(), &dev, 1_000_010), Err(ChallengeError::BadSignature { .. })));
        let mut sign_in = c.clone();
        sign_in.kind = PushKind::SignIn;
        let mut promoted = sign_in.sign(&key);
        promoted.challenge.kind = PushKind::NewDevice;
        assert!(matches!(
            promoted.verify(&key.public_key(), &dev, 1_000_010),
            Err(ChallengeError::BadSignature { .. })
        ));
        // A signed new-device challenge of another form is refused.
        let mut odd = c.clone();
        odd.display.transaction.swap(0, 1);
        let odd = odd.sign(&key);
        assert!(matches!(odd.verify(&key.public_key(), &dev, 1_000_010), Err(ChallengeError::Display { .. })));
        // The kind is on the wire only when it is not a sign-in.
        assert!(serde_json::to_string(&signed).unwrap().contains("\"kind\":\"new_device\""));
        assert!(!serde_json::to_string(&challenge(false).sign(&key)).unwrap().contains("kind"));
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
