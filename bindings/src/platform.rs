//! What the apps provide: the platform key store, the clock and the biometric key, as foreign
//! traits, and their adapters to the core's `KeyStore`, `DeviceKeyStore`, `Clock` and `BiometricKey`.

use std::sync::Arc;

use nyckel_core::biometrics::{BiometricError, BiometricKey};
use nyckel_core::device_keys::{DeviceKeyError, DeviceKeyStore};
use nyckel_core::vault::seal::KEY_LEN;
use nyckel_core::{Clock, KeyReference, KeyStore, KeyStoreError, VaultKey};
use zeroize::Zeroizing;

use crate::error::NyckelError;

/// A vault key the platform created: the 32 key bytes and the reference it wants back later
/// (e.g. a Keystore alias plus the wrapped key, base64).
#[derive(uniffi::Record)]
pub struct StoredVaultKey {
    /// Opaque to Rust: stored in the vault header and handed back to [`PlatformKeyStore::vault_key`].
    pub reference: String,
    /// The 32-byte AES key.
    pub key: Vec<u8>,
}

/// The platform's secure key storage (Android Keystore/StrongBox, iOS Keychain/Secure Enclave):
/// the vault key, and the non-exportable ECDSA P-256 device keys of registrations.
#[uniffi::export(with_foreign)]
pub trait PlatformKeyStore: Send + Sync {
    /// Creates a random 32-byte vault key, protects it, and returns it with its reference.
    fn create_vault_key(&self) -> Result<StoredVaultKey, NyckelError>;
    /// Gives back the key that `reference` names.
    fn vault_key(&self, reference: String) -> Result<Vec<u8>, NyckelError>;
    /// Creates a P-256 key pair under `alias` (hardware-backed where possible) and returns its
    /// public key: the 65-byte uncompressed point, or a DER SubjectPublicKeyInfo.
    fn create_device_key(&self, alias: String) -> Result<Vec<u8>, NyckelError>;
    /// The public key under `alias`, in the same forms.
    fn device_public_key(&self, alias: String) -> Result<Vec<u8>, NyckelError>;
    /// ECDSA P-256 with SHA-256 over `message` with the key under `alias`, as ASN.1 DER.
    fn sign_with_device_key(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, NyckelError>;
    /// Deletes the key under `alias`; a missing key is not an error.
    fn delete_device_key(&self, alias: String) -> Result<(), NyckelError>;
}

/// A key that seals and opens bytes only after the user authenticates with biometrics
/// (PROTOCOL.md §4.8): on Android a Keystore AES-256-GCM key with
/// `setUserAuthenticationRequired(true)` and `setInvalidatedByBiometricEnrollment(true)`, used
/// through `BiometricPrompt`; on iOS a Secure Enclave P-256 key with `.biometryCurrentSet`,
/// used by ECIES. One key per alias; Rust never sees the key.
///
/// The calls may block while the prompt is shown: Nyckel makes them from a background thread,
/// never the caller's. Errors tell Rust what happened: `BiometricCancelled`, `BiometricLockout`,
/// `BiometricInvalidated` (the key is permanently invalidated: biometrics changed),
/// `BiometricUnavailable`, `Corrupt` (a ciphertext or its associated data does not
/// authenticate); anything else counts as a platform failure.
#[uniffi::export(with_foreign)]
pub trait PlatformBiometricKey: Send + Sync {
    /// Creates a new key under `alias`, replacing any key there.
    fn create_key(&self, alias: String) -> Result<(), NyckelError>;
    /// Encrypts `plaintext`, authenticated and bound to `aad` (opening with other `aad` must
    /// fail). `reason` is for the prompt.
    fn seal(&self, alias: String, plaintext: Vec<u8>, aad: Vec<u8>, reason: String) -> Result<Vec<u8>, NyckelError>;
    /// Decrypts what `seal` made with the same `aad`. `reason` is for the prompt.
    fn open(&self, alias: String, sealed: Vec<u8>, aad: Vec<u8>, reason: String) -> Result<Vec<u8>, NyckelError>;
    /// Deletes the key under `alias`; a missing key is not an error.
    fn delete_key(&self, alias: String) -> Result<(), NyckelError>;
}

/// The foreign biometric key seen as the core's.
pub(crate) struct ForeignBiometricKey(pub Arc<dyn PlatformBiometricKey>);

impl BiometricKey for ForeignBiometricKey {
    fn create_key(&self, alias: String) -> Result<(), BiometricError> {
        Ok(self.0.create_key(alias)?)
    }

    fn seal(&self, alias: String, plaintext: Vec<u8>, aad: Vec<u8>, reason: String) -> Result<Vec<u8>, BiometricError> {
        let plaintext = Zeroizing::new(plaintext);
        Ok(self.0.seal(alias, plaintext.to_vec(), aad, reason)?)
    }

    fn open(&self, alias: String, sealed: Vec<u8>, aad: Vec<u8>, reason: String) -> Result<Vec<u8>, BiometricError> {
        Ok(self.0.open(alias, sealed, aad, reason)?)
    }

    fn delete_key(&self, alias: String) -> Result<(), BiometricError> {
        Ok(self.0.delete_key(alias)?)
    }
}

/// The time source, so UIs and tests can fix the moment.
#[uniffi::export(with_foreign)]
pub trait PlatformClock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix_seconds(&self) -> u64;
}

/// The operating system's clock, for apps that have no reason to inject one.
#[derive(uniffi::Object, Default)]
pub struct SystemClock;

#[uniffi::export]
impl SystemClock {
    /// The system clock.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SystemClock)
    }
}

impl PlatformClock for SystemClock {
    fn now_unix_seconds(&self) -> u64 {
        nyckel_core::SystemClock.now_unix()
    }
}

/// The foreign key store seen as the core's vault-key and device-key stores.
pub(crate) struct ForeignKeyStore(pub Arc<dyn PlatformKeyStore>);

impl ForeignKeyStore {
    fn key_from(bytes: Vec<u8>) -> Result<VaultKey, KeyStoreError> {
        let bytes = Zeroizing::new(bytes);
        let array: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            KeyStoreError::Failed(format!("the platform gave a {}-byte key, not {KEY_LEN}", bytes.len()))
        })?;
        Ok(VaultKey::from_bytes(array))
    }
}

impl KeyStore for ForeignKeyStore {
    fn create_vault_key(&self) -> Result<(KeyReference, VaultKey), KeyStoreError> {
        let stored = self.0.create_vault_key().map_err(|error| KeyStoreError::Failed(error.to_string()))?;
        Ok((KeyReference(stored.reference), Self::key_from(stored.key)?))
    }

    fn vault_key(&self, reference: &KeyReference) -> Result<VaultKey, KeyStoreError> {
        let bytes = self.0.vault_key(reference.0.clone()).map_err(|error| KeyStoreError::Failed(error.to_string()))?;
        Self::key_from(bytes)
    }
}

fn device_failure(error: NyckelError) -> DeviceKeyError {
    DeviceKeyError::Failed { reason: error.to_string() }
}

impl DeviceKeyStore for ForeignKeyStore {
    fn create_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError> {
        self.0.create_device_key(alias).map_err(device_failure)
    }

    fn public_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError> {
        self.0.device_public_key(alias).map_err(device_failure)
    }

    fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, DeviceKeyError> {
        self.0.sign_with_device_key(alias, message).map_err(device_failure)
    }

    fn delete_key(&self, alias: String) -> Result<(), DeviceKeyError> {
        self.0.delete_device_key(alias).map_err(device_failure)
    }
}

/// The foreign clock seen as the core's clock.
pub(crate) struct ForeignClock(pub Arc<dyn PlatformClock>);

impl Clock for ForeignClock {
    fn now_unix(&self) -> u64 {
        self.0.now_unix_seconds()
    }
}
