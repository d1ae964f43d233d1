//! RSA device keys for privacyIDEA push tokens: the `RsaKeyStore` trait and its software stores.
//!
//! privacyIDEA's push protocol signs with RSASSA-PKCS1-v1_5/SHA-256 only, so these keys live
//! beside, not inside, the P-256 [`super::DeviceKeyStore`]. On Android the Keystore holds RSA
//! keys; on iOS the Secure Enclave holds only P-256, so the app keeps them in the Keychain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use zeroize::Zeroizing;

use super::DeviceKeyError;
use crate::vault::Vault;

/// Size of RSA keys the software stores make. privacyIDEA's own app uses 4096 bits; 3072 is
/// the NIST level of 128 bits and keeps key generation to a few seconds on a phone.
pub const DEFAULT_RSA_BITS: usize = 3072;

/// A store of RSA signing keys addressed by alias. Object-safe, arguments owned, for the FFI.
pub trait RsaKeyStore: Send + Sync {
    /// Creates a new key under `alias`; returns its public key as DER SubjectPublicKeyInfo
    /// (what Android's `getEncoded()` and `SecKeyCopyExternalRepresentation` + header give).
    fn create_rsa_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError>;
    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` (the store hashes).
    fn sign_rsa_sha256(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, DeviceKeyError>;
    /// Deletes the key under `alias`; deleting a missing key is not an error.
    fn delete_rsa_key(&self, alias: String) -> Result<(), DeviceKeyError>;
}

fn failed(error: impl ToString) -> DeviceKeyError {
    DeviceKeyError::Failed { reason: error.to_string() }
}

/// Generates an RSA key; returns (PKCS#8 private key, SPKI public key), both DER.
pub fn generate_rsa_key(bits: usize) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), DeviceKeyError> {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits).map_err(failed)?;
    let pkcs8 = Zeroizing::new(key.to_pkcs8_der().map_err(failed)?.as_bytes().to_vec());
    let spki = key.to_public_key().to_public_key_der().map_err(failed)?.as_bytes().to_vec();
    Ok((pkcs8, spki))
}

/// Signs with a PKCS#8 RSA key through ring (constant-time, blinded).
pub fn sign_with_pkcs8(pkcs8: &[u8], message: &[u8]) -> Result<Vec<u8>, DeviceKeyError> {
    let pair = RsaKeyPair::from_pkcs8(pkcs8)
        .map_err(|error| DeviceKeyError::Malformed { what: "stored RSA key".into(), reason: error.to_string() })?;
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), message, &mut signature).map_err(failed)?;
    Ok(signature)
}

/// RSA keys in memory, for tests and the CLI's throw-away runs.
pub struct MemoryRsaKeyStore {
    bits: usize,
    keys: Mutex<HashMap<String, Zeroizing<Vec<u8>>>>,
}

impl MemoryRsaKeyStore {
    /// A store making keys of `bits` bits (tests use 2048 to keep key generation short).
    pub fn new(bits: usize) -> Self {
        Self { bits, keys: Mutex::new(HashMap::new()) }
    }
}

impl RsaKeyStore for MemoryRsaKeyStore {
    fn create_rsa_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError> {
        let mut keys = self.keys.lock().map_err(failed)?;
        if keys.contains_key(&alias) {
            return Err(DeviceKeyError::AlreadyExists { alias });
        }
        let (pkcs8, spki) = generate_rsa_key(self.bits)?;
        keys.insert(alias, pkcs8);
        Ok(spki)
    }

    fn sign_rsa_sha256(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, DeviceKeyError> {
        let keys = self.keys.lock().map_err(failed)?;
        let pkcs8 = keys.get(&alias).ok_or(DeviceKeyError::NotFound { alias: alias.clone() })?;
        sign_with_pkcs8(pkcs8, &message)
    }

    fn delete_rsa_key(&self, alias: String) -> Result<(), DeviceKeyError> {
        self.keys.lock().map_err(failed)?.remove(&alias);
        Ok(())
    }
}

/// RSA keys sealed in the vault beside the P-256 device keys (aliases prefixed `rsa:`), for
/// desktops: as safe as the vault, and no safer.
pub struct VaultRsaKeyStore {
    vault: Arc<Vault>,
    bits: usize,
}

impl VaultRsaKeyStore {
    /// A store keeping keys of `bits` bits in `vault`.
    pub fn new(vault: Arc<Vault>, bits: usize) -> Self {
        Self { vault, bits }
    }
}

fn vault_alias(alias: &str) -> String {
    format!("rsa:{alias}")
}

impl RsaKeyStore for VaultRsaKeyStore {
    fn create_rsa_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError> {
        let (pkcs8, spki) = generate_rsa_key(self.bits)?;
        if !self.vault.store_device_key(&vault_alias(&alias), &pkcs8).map_err(failed)? {
            return Err(DeviceKeyError::AlreadyExists { alias });
        }
        Ok(spki)
    }

    fn sign_rsa_sha256(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, DeviceKeyError> {
        let pkcs8 =
            self.vault.device_key(&vault_alias(&alias)).map_err(failed)?.ok_or(DeviceKeyError::NotFound { alias })?;
        sign_with_pkcs8(&pkcs8, &message)
    }

    fn delete_rsa_key(&self, alias: String) -> Result<(), DeviceKeyError> {
        self.vault.remove_device_key(&vault_alias(&alias)).map(|_| ()).map_err(failed)
    }
}
