//! X25519 key agreement (ring) and the HKDF that turns it into the PIN secret `S`.
//!
//! The phone and the server each make a one-use X25519 key and exchange the public
//! halves ([`KeyShare`]s) inside signed messages; both derive
//! `S = HKDF-SHA256(salt = SHA-256(transcript), ikm = X25519(a, B), info = "nyckel/v2/pin-secret")`.
//! `S` itself never travels, so neither a TLS-terminating proxy nor a log of bodies learns it.

use std::fmt;

use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey, X25519};
use ring::hkdf;
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::b64;
use crate::canonical::tags;
use crate::digest::{constant_time_eq, sha256};
use crate::pin::PinSecret;

/// Why a key agreement failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementError {
    /// The random generator or key generation failed.
    #[error("X25519 key generation failed")]
    KeyGeneration,
    /// The peer's share is unusable (e.g. a low-order point giving an all-zero secret).
    #[error("the peer's X25519 key share is unusable")]
    BadPeerShare,
}

/// An X25519 public key (32 bytes; base64url in JSON, exactly 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyShare(#[serde(with = "b64::array")] pub [u8; 32]);

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyShare({})", b64::encode(&self.0))
    }
}

/// A one-use X25519 private key; [`EphemeralKey::agree`] consumes it.
pub struct EphemeralKey(EphemeralPrivateKey);

impl fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EphemeralKey(<redacted>)")
    }
}

impl EphemeralKey {
    /// A fresh key and its public share.
    pub fn generate() -> Result<(EphemeralKey, KeyShare), AgreementError> {
        let key =
            EphemeralPrivateKey::generate(&X25519, &SystemRandom::new()).map_err(|_| AgreementError::KeyGeneration)?;
        let public = key.compute_public_key().map_err(|_| AgreementError::KeyGeneration)?;
        let share: [u8; 32] = public.as_ref().try_into().map_err(|_| AgreementError::KeyGeneration)?;
        Ok((EphemeralKey(key), KeyShare(share)))
    }

    /// Consumes the key (ring drops it) and derives
    /// `S = HKDF-SHA256(salt = SHA-256(transcript), ikm = X25519 shared secret, info = "nyckel/v2/pin-secret")`,
    /// 32 bytes.
    pub fn agree(self, peer: &KeyShare, transcript: &[u8]) -> Result<PinSecret, AgreementError> {
        let peer = UnparsedPublicKey::new(&X25519, peer.0);
        agreement::agree_ephemeral(self.0, &peer, |shared| derive(shared, transcript))
            .map_err(|_| AgreementError::BadPeerShare)?
    }
}

/// The KDF step alone: `S` from an X25519 shared secret and a transcript (for known-answer
/// tests and other implementations; the protocol reaches it through [`EphemeralKey::agree`]).
pub fn pin_secret_from_shared(shared: &[u8; 32], transcript: &[u8]) -> Result<PinSecret, AgreementError> {
    derive(shared, transcript)
}

fn derive(shared: &[u8], transcript: &[u8]) -> Result<PinSecret, AgreementError> {
    // ring already refuses low-order peer points; an all-zero secret would be one.
    if constant_time_eq(shared, &[0u8; 32]) {
        return Err(AgreementError::BadPeerShare);
    }
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, &sha256(transcript));
    let info = [tags::PIN_SECRET.as_bytes()];
    let mut out = Zeroizing::new([0u8; 32]);
    salt.extract(shared)
        .expand(&info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(out.as_mut()))
        .map_err(|_| AgreementError::BadPeerShare)?;
    Ok(PinSecret::from_bytes(*out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_derive_the_same_secret() {
        let (a, a_share) = EphemeralKey::generate().unwrap();
        let (b, b_share) = EphemeralKey::generate().unwrap();
        assert_ne!(a_share, b_share);
        let s_a = a.agree(&b_share, b"transcript").unwrap();
        let s_b = b.agree(&a_share, b"transcript").unwrap();
        assert_eq!(s_a, s_b);
    }

    #[test]
    fn transcript_changes_the_secret() {
        let shared = [7u8; 32];
        assert_ne!(derive(&shared, b"one").unwrap(), derive(&shared, b"two").unwrap());
        assert_eq!(derive(&shared, b"one").unwrap(), derive(&shared, b"one").unwrap());
        // And a third party's share gives another secret.
        let (a, _) = EphemeralKey::generate().unwrap();
        let (b, b_share) = EphemeralKey::generate().unwrap();
        let (_, c_share) = EphemeralKey::generate().unwrap();
        assert_ne!(a.agree(&b_share, b"t").unwrap(), b.agree(&c_share, b"t").unwrap());
    }

    #[test]
    fn low_order_and_zero_shares_are_refused() {
        for bad in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            let (a, _) = EphemeralKey::generate().unwrap();
            assert_eq!(a.agree(&KeyShare(bad), b"t"), Err(AgreementError::BadPeerShare));
        }
    }

    #[test]
    fn hkdf_matches_the_specification() {
        // derive() is plain RFC 5869 HKDF-SHA256 with the documented salt and info.
        let shared = [5u8; 32];
        let s = derive(&shared, b"t").unwrap();
        let prk = crate::digest::hmac_sha256(&sha256(b"t"), &shared);
        let mut t1_input = tags::PIN_SECRET.as_bytes().to_vec();
        t1_input.push(1);
        assert_eq!(s.expose(), &crate::digest::hmac_sha256(&prk, &t1_input));
    }

    #[test]
    fn share_serde_is_strict() {
        let share = KeyShare([9; 32]);
        let json = serde_json::to_string(&share).unwrap();
        assert_eq!(serde_json::from_str::<KeyShare>(&json).unwrap(), share);
        assert!(serde_json::from_str::<KeyShare>("\"AAAA\"").is_err());
        assert!(serde_json::from_str::<KeyShare>(&format!("\"{}\"", b64::encode(&[1; 33]))).is_err());
        assert!(serde_json::from_str::<KeyShare>("7").is_err());
    }
}
