//! Where the vault key comes from: the `KeyStore` trait and the passphrase-based software store.

use argon2::{Algorithm as ArgonAlgorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::seal::{random_array, VaultKey, KEY_LEN};

/// What a key store records in the vault header so it can give back the same key later:
/// KDF parameters and salt for the software store, a key alias for a platform store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReference(pub String);

/// Why a key store could not give a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    /// The reference in the vault header is not one this store understands.
    #[error("the vault's key reference is not usable by this key store: {0}")]
    BadReference(String),
    /// The platform refused or failed (locked keychain, key deleted, …).
    #[error("the key store failed: {0}")]
    Failed(String),
}

/// Gives the vault its key. Phones implement it over Android Keystore or the iOS Keychain;
/// desktops and tests use [`PassphraseKeyStore`].
pub trait KeyStore: Send + Sync {
    /// Creates the key of a new vault and says how to find it again.
    fn create_vault_key(&self) -> Result<(KeyReference, VaultKey), KeyStoreError>;
    /// The key that `reference` (read from the vault header) names.
    fn vault_key(&self, reference: &KeyReference) -> Result<VaultKey, KeyStoreError>;
}

/// Cost of the Argon2id derivation. Stored next to the salt, so a vault keeps the cost it was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// Default cost for desktop vaults and backups: 64 MiB, 3 passes (above OWASP's Argon2id minimum).
    pub const RECOMMENDED: KdfParams = KdfParams { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 };
    /// Upper bounds accepted from a header, so a forged file cannot make us allocate without limit.
    const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    const MAX_ITERATIONS: u32 = 64;
    const MAX_PARALLELISM: u32 = 16;

    fn argon2(&self) -> Result<Argon2<'static>, KeyStoreError> {
        if self.memory_kib > Self::MAX_MEMORY_KIB
            || self.iterations > Self::MAX_ITERATIONS
            || self.parallelism > Self::MAX_PARALLELISM
        {
            return Err(KeyStoreError::BadReference(format!("KDF cost out of range: {self:?}")));
        }
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(KEY_LEN))
            .map_err(|error| KeyStoreError::BadReference(format!("KDF parameters: {error}")))?;
        Ok(Argon2::new(ArgonAlgorithm::Argon2id, Version::V0x13, params))
    }
}

/// The KDF description stored in a vault header or a backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfSpec {
    /// Always "argon2id" in version 1.
    pub algorithm: String,
    /// The cost.
    #[serde(flatten)]
    pub params: KdfParams,
    /// Base64 of the 16-byte salt.
    pub salt: String,
}

impl KdfSpec {
    /// A new spec with a random salt.
    pub fn generate(params: KdfParams) -> Result<Self, KeyStoreError> {
        let salt: [u8; 16] = random_array().map_err(|error| KeyStoreError::Failed(error.to_string()))?;
        Ok(Self { algorithm: "argon2id".into(), params, salt: STANDARD.encode(salt) })
    }

    /// Derives the key for `passphrase`.
    pub fn derive(&self, passphrase: &str) -> Result<VaultKey, KeyStoreError> {
        if self.algorithm != "argon2id" {
            return Err(KeyStoreError::BadReference(format!("unknown KDF {:?}", self.algorithm)));
        }
        let salt = STANDARD.decode(&self.salt).map_err(|_| KeyStoreError::BadReference("salt is not base64".into()))?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        self.params
            .argon2()?
            .hash_password_into(passphrase.as_bytes(), &salt, key.as_mut())
            .map_err(|error| KeyStoreError::BadReference(format!("KDF: {error}")))?;
        Ok(VaultKey::from_bytes(*key))
    }
}

/// A key store that derives the vault key from a passphrase with Argon2id.
pub struct PassphraseKeyStore {
    passphrase: Zeroizing<String>,
    params: KdfParams,
}

impl PassphraseKeyStore {
    /// A store for `passphrase`; `params` is the cost used when a new vault is created
    /// (an existing vault uses the cost in its header).
    pub fn new(passphrase: Zeroizing<String>, params: KdfParams) -> Self {
        Self { passphrase, params }
    }
}

impl KeyStore for PassphraseKeyStore {
    fn create_vault_key(&self) -> Result<(KeyReference, VaultKey), KeyStoreError> {
        let spec = KdfSpec::generate(self.params)?;
        let key = spec.derive(&self.passphrase)?;
        let reference = serde_json::to_string(&spec).map_err(|error| KeyStoreError::Failed(error.to_string()))?;
        Ok((KeyReference(reference), key))
    }

    fn vault_key(&self, reference: &KeyReference) -> Result<VaultKey, KeyStoreError> {
        let spec: KdfSpec = serde_json::from_str(&reference.0)
            .map_err(|error| KeyStoreError::BadReference(format!("KDF spec: {error}")))?;
        spec.derive(&self.passphrase)
    }
}

/// A key store holding one key in memory, standing in for a platform key store in tests and
/// benchmarks (where the key comes from hardware at no KDF cost).
pub struct MemoryKeyStore {
    key: VaultKey,
}

impl MemoryKeyStore {
    /// A store that hands out `key`.
    pub fn new(key: VaultKey) -> Self {
        Self { key }
    }
}

impl KeyStore for MemoryKeyStore {
    fn create_vault_key(&self) -> Result<(KeyReference, VaultKey), KeyStoreError> {
        Ok((KeyReference("memory".into()), self.key.clone()))
    }

    fn vault_key(&self, reference: &KeyReference) -> Result<VaultKey, KeyStoreError> {
        if reference.0 != "memory" {
            return Err(KeyStoreError::BadReference(reference.0.clone()));
        }
        Ok(self.key.clone())
    }
}
