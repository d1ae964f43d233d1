//! Sealing secrets at rest: AES-256-GCM under a key derived from the portal's key file, with
//! the owning account's name as associated data.
//!
//! The key file (32 random bytes, created at first start with mode 0600) can live outside the
//! data directory (`--key-file`), so a copy of the store alone opens no secret. A sealed value is
//! `v1.` + base64url(nonce ‖ ciphertext ‖ tag); the nonce is random (96 bits) per sealing.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::PortalError;

const KEY_LEN: usize = 32;
const PREFIX: &str = "v1.";

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Not of the `v1.` form, or not base64, or too short.
    #[error("a sealed value is malformed")]
    Malformed,
    /// The tag did not verify: another key, another account, or an altered value.
    #[error("a sealed value does not open (another key or account, or altered)")]
    WrongKeyOrOwner,
}

/// Seals and opens secrets for one purpose (the HKDF `info`) under the portal key.
#[derive(Clone)]
pub struct Sealer {
    key: std::sync::Arc<LessSafeKey>,
    purpose: &'static str,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("purpose", &self.purpose).finish_non_exhaustive()
    }
}

/// Reads the portal key file, creating it (32 random bytes, mode 0600, never overwritten) when
/// missing. A file of another length is refused rather than silently replaced: the secrets
/// sealed under it would be lost.
pub fn load_or_create_key(path: &Path) -> Result<Zeroizing<Vec<u8>>, PortalError> {
    let io = |what: &str, source| PortalError::Io { what: format!("{what} {}", path.display()), source };
    match std::fs::read(path) {
        Ok(bytes) if bytes.len() == KEY_LEN => Ok(Zeroizing::new(bytes)),
        Ok(_) => Err(PortalError::KeyFile(format!("{} does not hold {KEY_LEN} bytes", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = Zeroizing::new(vec![0u8; KEY_LEN]);
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| PortalError::KeyFile("the system random source failed".to_owned()))?;
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| io("creating the folder of", e))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| io("creating", e))?;
            file.write_all(&key).and_then(|()| file.sync_all()).map_err(|e| io("writing", e))?;
            Ok(key)
        }
        Err(e) => Err(io("reading", e)),
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Sealer {
    /// A sealer for `purpose` whose key is HKDF-SHA-256 of the portal key with `purpose` as
    /// info, so keys for different purposes differ.
    pub fn new(portal_key: &[u8], purpose: &'static str) -> Result<Self, PortalError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"nyckel-portal seal").extract(portal_key);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        prk.expand(&[purpose.as_bytes()], Len(KEY_LEN))
            .and_then(|okm| okm.fill(&mut key[..]))
            .map_err(|_| PortalError::KeyFile("deriving the sealing key failed".to_owned()))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &key[..])
            .map_err(|_| PortalError::KeyFile("the sealing key was refused".to_owned()))?;
        Ok(Self { key: std::sync::Arc::new(LessSafeKey::new(unbound)), purpose })
    }

    fn aad(&self, owner: &str) -> Vec<u8> {
        // The purpose and the owner, separated by a byte no name contains.
        let mut aad = Vec::with_capacity(self.purpose.len() + owner.len() + 1);
        aad.extend_from_slice(self.purpose.as_bytes());
        aad.push(0);
        aad.extend_from_slice(owner.as_bytes());
        aad
    }

    /// Seals `secret` for `owner` (an account name).
    pub fn seal(&self, owner: &str, secret: &str) -> Result<String, PortalError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| PortalError::KeyFile("the system random source failed".to_owned()))?;
        let mut data = Zeroizing::new(secret.as_bytes().to_vec());
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(self.aad(owner)), &mut *data)
            .map_err(|_| PortalError::KeyFile("sealing failed".to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a value sealed for `owner`; refused for another owner, key or an altered value.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<Zeroizing<String>, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| SealError::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Malformed);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut data = Zeroizing::new(rest.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(self.aad(owner)), &mut data)
            .map_err(|_| SealError::WrongKeyOrOwner)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| SealError::Malformed)?;
        Ok(Zeroizing::new(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_for_its_owner_only() {
        let sealer = Sealer::new(&[7u8; 32], "totp").unwrap();
        let sealed = sealer.seal("alice", "JBSWY3DPEHPK3PXP").unwrap();
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(sealer.open("alice", &sealed).unwrap().as_str(), "JBSWY3DPEHPK3PXP");
        assert_eq!(sealer.open("bob", &sealed), Err(SealError::WrongKeyOrOwner));
        let other_key = Sealer::new(&[8u8; 32], "totp").unwrap();
        assert_eq!(other_key.open("alice", &sealed), Err(SealError::WrongKeyOrOwner));
        let other_purpose = Sealer::new(&[7u8; 32], "other").unwrap();
        assert_eq!(other_purpose.open("alice", &sealed), Err(SealError::WrongKeyOrOwner));
        assert_eq!(sealer.open("alice", "plain"), Err(SealError::Malformed));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/portal.key");
        let first = load_or_create_key(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(load_or_create_key(&path).unwrap().as_slice(), first.as_slice());
        std::fs::write(&path, b"short").unwrap();
        assert!(load_or_create_key(&path).is_err());
    }
}
