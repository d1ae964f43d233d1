//! AES-256-GCM sealing of vault records and backups with ring.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Length of a vault key in bytes.
pub const KEY_LEN: usize = 32;

/// The 256-bit key that seals every record of a vault. Wiped from memory on drop.
#[derive(Clone)]
pub struct VaultKey(Zeroizing<[u8; KEY_LEN]>);

impl VaultKey {
    /// Wraps key bytes obtained from a key store.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, SealError> {
        Ok(Self::from_bytes(random_array()?))
    }

    /// The raw key, for a key store that has to persist it.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    fn aead(&self) -> Result<LessSafeKey, SealError> {
        UnboundKey::new(&AES_256_GCM, self.0.as_ref()).map(LessSafeKey::new).map_err(|_| SealError::Crypto)
    }
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Authentication failed: wrong key, or the bytes were altered.
    #[error("decryption failed: wrong key or altered data")]
    Authentication,
    /// The sealed bytes are too short or have an unknown version byte.
    #[error("sealed data is malformed")]
    Malformed,
    /// The system random generator or the cipher failed.
    #[error("the cryptographic backend failed")]
    Crypto,
}

const FORMAT_VERSION: u8 = 1;

/// Encrypts `plaintext` as `version ‖ nonce ‖ ciphertext ‖ tag`, bound to `aad`.
pub fn seal(key: &VaultKey, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
    let nonce_bytes: [u8; NONCE_LEN] = random_array()?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&nonce_bytes);
    let mut body = plaintext.to_vec();
    key.aead()?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(aad), &mut body)
        .map_err(|_| SealError::Crypto)?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts what [`seal`] produced with the same key and `aad`.
pub fn open(key: &VaultKey, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < 1 + NONCE_LEN + AES_256_GCM.tag_len() || sealed[0] != FORMAT_VERSION {
        return Err(SealError::Malformed);
    }
    let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN]).map_err(|_| SealError::Malformed)?;
    let mut body = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
    let plain_len =
        key.aead()?.open_in_place(nonce, Aad::from(aad), &mut body).map_err(|_| SealError::Authentication)?.len();
    body.truncate(plain_len);
    Ok(body)
}

/// Random bytes from the operating system.
pub fn random_array<const N: usize>() -> Result<[u8; N], SealError> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).map_err(|_| SealError::Crypto)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = VaultKey::generate().unwrap();
        let sealed = seal(&key, b"secret", b"record-1").unwrap();
        assert_eq!(open(&key, &sealed, b"record-1").unwrap().as_slice(), b"secret");
        assert_eq!(open(&key, &sealed, b"record-2").unwrap_err(), SealError::Authentication);
        let other = VaultKey::generate().unwrap();
        assert_eq!(open(&other, &sealed, b"record-1").unwrap_err(), SealError::Authentication);
        for index in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[index] ^= 0x01;
            assert!(open(&key, &altered, b"record-1").is_err(), "flip at {index}");
        }
        assert_eq!(open(&key, &sealed[..10], b"record-1").unwrap_err(), SealError::Malformed);
    }
}
