//! The ciphers and key derivations of the encrypted formats, over ring and scrypt.

use std::num::NonZeroU32;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

/// Length of every AES-256 key the formats use.
pub(super) const KEY_LEN: usize = 32;
/// Length of a GCM tag.
pub(super) const TAG_LEN: usize = 16;

/// Why decryption failed: the key is wrong (or the data altered), or the layout is impossible.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OpenError {
    Authentication,
    Malformed,
}

/// AES-256-GCM decryption of `ciphertext ‖ tag` without associated data.
pub(super) fn aes_gcm_open(
    key: &[u8],
    nonce: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Malformed)?;
    if ciphertext_and_tag.len() < TAG_LEN {
        return Err(OpenError::Malformed);
    }
    let key = UnboundKey::new(&AES_256_GCM, key).map(LessSafeKey::new).map_err(|_| OpenError::Malformed)?;
    let mut buffer = Zeroizing::new(ciphertext_and_tag.to_vec());
    let len = key.open_in_place(nonce, Aad::empty(), &mut buffer).map_err(|_| OpenError::Authentication)?.len();
    buffer.truncate(len);
    Ok(buffer)
}

/// AES-256-GCM encryption with a fresh random nonce: `(nonce, ciphertext, tag)`.
pub(super) fn aes_gcm_seal(key: &[u8], plaintext: &[u8]) -> Option<([u8; NONCE_LEN], Vec<u8>, [u8; TAG_LEN])> {
    let nonce_bytes: [u8; NONCE_LEN] = random()?;
    let key = UnboundKey::new(&AES_256_GCM, key).map(LessSafeKey::new).ok()?;
    let mut body = plaintext.to_vec();
    let tag =
        key.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::empty(), &mut body).ok()?;
    let tag: [u8; TAG_LEN] = tag.as_ref().try_into().ok()?;
    Some((nonce_bytes, body, tag))
}

/// PBKDF2 with the given HMAC into a 256-bit key.
pub(super) fn pbkdf2(
    algorithm: ring::pbkdf2::Algorithm,
    iterations: NonZeroU32,
    salt: &[u8],
    passphrase: &str,
) -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    ring::pbkdf2::derive(algorithm, iterations, salt, passphrase.as_bytes(), key.as_mut());
    key
}

/// scrypt into a 256-bit key; `None` for parameters scrypt itself rejects.
pub(super) fn scrypt(passphrase: &str, salt: &[u8], log_n: u8, r: u32, p: u32) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let params = scrypt::Params::new(log_n, r, p).ok()?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    scrypt::scrypt(passphrase.as_bytes(), salt, &params, key.as_mut()).ok()?;
    Some(key)
}

/// Random bytes from the operating system.
pub(super) fn random<const N: usize>() -> Option<[u8; N]> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; N];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(bytes)
}
