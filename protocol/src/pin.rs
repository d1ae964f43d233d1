//! The PIN-protected secret: blinding it under a PIN with no offline oracle, and the
//! MAC key derived from it.
//!
//! The phone keeps only `E = S XOR KDF(PIN, salt)`. Every PIN, right or wrong,
//! unblinds to 32 uniformly random-looking bytes and nothing stored can tell which
//! is right; only the server, which holds `S`, can — and it counts failures.
//! See docs/PROTOCOL.md §4 for the full reasoning and the rules callers must keep.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::b64;
use crate::canonical::tags;
use crate::digest::{hmac_sha256, hmac_sha256_verify};

/// Fewest digits in a PIN.
pub const MIN_PIN_DIGITS: usize = 4;
/// Most digits in a PIN.
pub const MAX_PIN_DIGITS: usize = 16;

/// Why a PIN operation failed. Never "wrong PIN": that cannot be known here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Not 4–16 ASCII digits.
    #[error("a PIN is {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits")]
    BadPin,
    /// KDF parameters outside the accepted range (e.g. from a corrupted record).
    #[error("unacceptable PIN KDF parameters: {0}")]
    BadKdfParams(&'static str),
    /// The KDF or the random generator failed.
    #[error("{0} failed")]
    Crypto(&'static str),
}

/// A PIN as typed: 4–16 ASCII digits, wiped from memory when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Checks the form of a typed PIN. It says nothing about whether it is the right PIN.
    pub fn new(text: &str) -> Result<Self, PinError> {
        let ok = (MIN_PIN_DIGITS..=MAX_PIN_DIGITS).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(Zeroizing::new(text.to_owned())))
        } else {
            Err(PinError::BadPin)
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// The PIN-protected secret `S`: 32 random bytes shared by phone and server. It is the
/// OCRA key of QR one-time passwords and the root of the answer MAC key.
#[derive(Clone, PartialEq, Eq)]
pub struct PinSecret(Zeroizing<[u8; 32]>);

impl PinSecret {
    /// A fresh secret from the system generator (phone, at registration).
    pub fn generate() -> Result<Self, PinError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new().fill(bytes.as_mut()).map_err(|_| PinError::Crypto("random generator"))?;
        Ok(Self(bytes))
    }

    /// Wraps stored bytes (server, after decrypting its copy).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw secret, e.g. as the OCRA key or to encrypt at rest on the server.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key of answer and PIN-check MACs: `HMAC-SHA256(S, "nyckel/v2/mac-key")`.
    /// Separate from the OCRA key so no MAC input can collide with an OCRA input.
    pub fn mac_key(&self) -> MacKey {
        MacKey(Zeroizing::new(hmac_sha256(self.0.as_ref(), tags::MAC_KEY.as_bytes())))
    }
}

impl fmt::Debug for PinSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinSecret(<redacted>)")
    }
}

impl Serialize for PinSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&Zeroizing::new(b64::encode(self.0.as_ref())))
    }
}

impl<'de> Deserialize<'de> for PinSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        let bytes = Zeroizing::new(b64::decode_array::<32>(&text).map_err(serde::de::Error::custom)?);
        Ok(Self::from_bytes(*bytes))
    }
}

/// The MAC key derived from a [`PinSecret`].
pub struct MacKey(Zeroizing<[u8; 32]>);

impl MacKey {
    /// HMAC-SHA256 of canonical bytes.
    pub fn mac(&self, message: &[u8]) -> PinMac {
        PinMac(hmac_sha256(self.0.as_ref(), message))
    }

    /// Whether `mac` is right for `message`, in constant time.
    pub fn verify(&self, message: &[u8], mac: &PinMac) -> bool {
        hmac_sha256_verify(self.0.as_ref(), message, &mac.0)
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

/// An HMAC-SHA256 under the PIN secret's MAC key: proves the PIN to the server only.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PinMac(#[serde(with = "b64::array")] pub [u8; 32]);

impl fmt::Debug for PinMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinMac(<redacted>)")
    }
}

/// How the PIN is stretched into the 32-byte pad. Stored with the blinded secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "alg", rename_all = "kebab-case")]
pub enum PinKdf {
    /// Argon2id (v1.3), 32-byte output.
    Argon2id {
        /// Memory in KiB (8–262144).
        memory_kib: u32,
        /// Passes (1–64).
        iterations: u32,
        /// Lanes (1–16).
        parallelism: u32,
    },
    /// PBKDF2-HMAC-SHA256, 32-byte output.
    Pbkdf2Sha256 {
        /// Iterations (1–10,000,000).
        iterations: u32,
    },
}

impl PinKdf {
    /// The default on phones: Argon2id, 19 MiB, 2 passes (OWASP's minimum profile).
    pub const RECOMMENDED: PinKdf = PinKdf::Argon2id { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 };

    fn derive(&self, pin: &Pin, salt: &[u8; 16]) -> Result<Zeroizing<[u8; 32]>, PinError> {
        let mut pad = Zeroizing::new([0u8; 32]);
        match *self {
            PinKdf::Argon2id { memory_kib, iterations, parallelism } => {
                if !(8..=262_144).contains(&memory_kib)
                    || !(1..=64).contains(&iterations)
                    || !(1..=16).contains(&parallelism)
                {
                    return Err(PinError::BadKdfParams("Argon2id parameters out of range"));
                }
                let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(32))
                    .map_err(|_| PinError::BadKdfParams("Argon2id rejected the parameters"))?;
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(pin.as_bytes(), salt, pad.as_mut())
                    .map_err(|_| PinError::Crypto("Argon2id"))?;
            }
            PinKdf::Pbkdf2Sha256 { iterations } => {
                let iterations = std::num::NonZeroU32::new(iterations)
                    .filter(|n| n.get() <= 10_000_000)
                    .ok_or(PinError::BadKdfParams("PBKDF2 iterations out of range"))?;
                ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, pin.as_bytes(), pad.as_mut());
            }
        }
        Ok(pad)
    }
}

/// What the phone stores for the PIN secret: `E = S XOR KDF(PIN, salt)`, the salt and
/// the KDF parameters — and deliberately nothing else (no checksum, MAC or hash of `S`),
/// so that no stored value can confirm a PIN guess.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlindedPinSecret {
    /// The KDF and its parameters.
    pub kdf: PinKdf,
    /// Random per-registration salt.
    #[serde(with = "b64::array")]
    pub salt: [u8; 16],
    /// `S XOR KDF(PIN, salt)`.
    #[serde(with = "b64::array")]
    pub blinded: [u8; 32],
}

impl BlindedPinSecret {
    /// Blinds `secret` under `pin` with a fresh random salt.
    pub fn blind(secret: &PinSecret, pin: &Pin, kdf: PinKdf) -> Result<Self, PinError> {
        let mut salt = [0u8; 16];
        SystemRandom::new().fill(&mut salt).map_err(|_| PinError::Crypto("random generator"))?;
        let pad = kdf.derive(pin, &salt)?;
        let mut blinded = [0u8; 32];
        for (out, (s, p)) in blinded.iter_mut().zip(secret.expose().iter().zip(pad.iter())) {
            *out = s ^ p;
        }
        Ok(Self { kdf, salt, blinded })
    }

    /// Unblinds with a typed PIN. A wrong PIN gives a wrong secret, never an error:
    /// the phone must not be able to tell, so it cannot be made to.
    pub fn unblind(&self, pin: &Pin) -> Result<PinSecret, PinError> {
        let pad = self.kdf.derive(pin, &self.salt)?;
        let mut secret = Zeroizing::new([0u8; 32]);
        for (out, (e, p)) in secret.iter_mut().zip(self.blinded.iter().zip(pad.iter())) {
            *out = e ^ p;
        }
        Ok(PinSecret(secret))
    }
}

impl Drop for BlindedPinSecret {
    fn drop(&mut self) {
        // Together with one observed OTP, E confirms PIN guesses; keep it short-lived in memory.
        self.blinded.zeroize();
    }
}

impl fmt::Debug for BlindedPinSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlindedPinSecret").field("kdf", &self.kdf).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: PinKdf = PinKdf::Pbkdf2Sha256 { iterations: 1 };

    #[test]
    fn pin_form() {
        assert!(Pin::new("1234").is_ok());
        assert!(Pin::new("0000000000000000").is_ok());
        for bad in ["", "123", "12a4", "１２３４", "1234 ", "12345678901234567"] {
            assert_eq!(Pin::new(bad), Err(PinError::BadPin), "{bad:?}");
        }
        assert_eq!(format!("{:?}", Pin::new("1234").unwrap()), "Pin(<redacted>)");
    }

    #[test]
    fn right_pin_recovers_the_secret() {
        let secret = PinSecret::generate().unwrap();
        for kdf in [FAST, PinKdf::Argon2id { memory_kib: 64, iterations: 1, parallelism: 1 }] {
            let sealed = BlindedPinSecret::blind(&secret, &Pin::new("4711").unwrap(), kdf).unwrap();
            assert_eq!(sealed.unblind(&Pin::new("4711").unwrap()).unwrap(), secret);
        }
    }

    #[test]
    fn every_wrong_pin_yields_a_distinct_plausible_secret() {
        let secret = PinSecret::generate().unwrap();
        let sealed = BlindedPinSecret::blind(&secret, &Pin::new("4711").unwrap(), FAST).unwrap();
        let mut seen = std::collections::HashSet::new();
        for guess in 0..2000u32 {
            let pin = Pin::new(&format!("{guess:04}")).unwrap();
            let candidate = sealed.unblind(&pin).unwrap();
            assert_ne!(candidate, secret);
            assert!(seen.insert(*candidate.expose()), "two PINs gave the same secret");
        }
        // Over all candidates each bit is set about half the time, as for random bytes.
        let ones: u32 = seen.iter().flat_map(|s| s.iter()).map(|b| b.count_ones()).sum();
        let ratio = f64::from(ones) / (2000.0 * 256.0);
        assert!((0.49..0.51).contains(&ratio), "bit ratio {ratio}");
    }

    #[test]
    fn record_holds_nothing_that_could_confirm_a_guess() {
        let sealed =
            BlindedPinSecret::blind(&PinSecret::generate().unwrap(), &Pin::new("1234").unwrap(), FAST).unwrap();
        let json: serde_json::Value = serde_json::to_value(&sealed).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["blinded", "kdf", "salt"]);
        let back: BlindedPinSecret = serde_json::from_value(json).unwrap();
        assert_eq!(back, sealed);
    }

    #[test]
    fn malformed_records_are_rejected() {
        let bad_len =
            r#"{"kdf":{"alg":"pbkdf2-sha256","iterations":1},"salt":"AAAAAAAAAAAAAAAAAAAAAA","blinded":"AAAA"}"#;
        assert!(serde_json::from_str::<BlindedPinSecret>(bad_len).is_err());
        let extra = r#"{"kdf":{"alg":"pbkdf2-sha256","iterations":1},"salt":"AAAAAAAAAAAAAAAAAAAAAA","blinded":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","check":"x"}"#;
        assert!(serde_json::from_str::<BlindedPinSecret>(extra).is_err());
        let unknown_alg = r#"{"kdf":{"alg":"md5"},"salt":"AAAAAAAAAAAAAAAAAAAAAA","blinded":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        assert!(serde_json::from_str::<BlindedPinSecret>(unknown_alg).is_err());
    }

    #[test]
    fn absurd_kdf_params_are_refused_not_run() {
        let secret = PinSecret::generate().unwrap();
        let pin = Pin::new("1234").unwrap();
        for kdf in [
            PinKdf::Pbkdf2Sha256 { iterations: 0 },
            PinKdf::Pbkdf2Sha256 { iterations: u32::MAX },
            PinKdf::Argon2id { memory_kib: u32::MAX, iterations: 1, parallelism: 1 },
            PinKdf::Argon2id { memory_kib: 64, iterations: 0, parallelism: 1 },
            PinKdf::Argon2id { memory_kib: 64, iterations: 1, parallelism: 0 },
        ] {
            assert!(matches!(BlindedPinSecret::blind(&secret, &pin, kdf), Err(PinError::BadKdfParams(_))), "{kdf:?}");
        }
    }

    #[test]
    fn mac_key_is_derived_and_verifies() {
        let secret = PinSecret::from_bytes([9; 32]);
        let key = secret.mac_key();
        let mac = key.mac(b"canonical");
        assert_eq!(mac.0, hmac_sha256(&hmac_sha256(&[9; 32], tags::MAC_KEY.as_bytes()), b"canonical"));
        assert!(key.verify(b"canonical", &mac));
        assert!(!PinSecret::from_bytes([8; 32]).mac_key().verify(b"canonical", &mac));
        assert_ne!(mac.0, hmac_sha256(&[9; 32], b"canonical"), "MAC key must differ from the OCRA key");
    }

    #[test]
    fn secret_serde_and_redaction() {
        let secret = PinSecret::from_bytes([3; 32]);
        let json = serde_json::to_string(&secret).unwrap();
        assert_eq!(serde_json::from_str::<PinSecret>(&json).unwrap(), secret);
        assert!(serde_json::from_str::<PinSecret>("\"AAAA\"").is_err());
        assert_eq!(format!("{secret:?}"), "PinSecret(<redacted>)");
    }
}
