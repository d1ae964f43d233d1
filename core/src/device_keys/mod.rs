//! Device keys: the `DeviceKeyStore` trait platforms implement, and its adapter to the protocol's signer.
//!
//! Each registration has its own ECDSA P-256 key, created under an alias in a key store:
//! Android Keystore/StrongBox or the Secure Enclave on phones (through the FFI layer),
//! [`VaultDeviceKeyStore`] on desktops and in tests. The key must not depend on the PIN
//! in any way (docs/PROTOCOL.md §4.4 rule 4).

mod rsa_keys;
mod software;

use std::sync::Arc;

use nyckel_protocol::{DevicePublicKey, DeviceSignature, DeviceSigner, SignerError};

pub use rsa_keys::{
    generate_rsa_key, sign_with_pkcs8, MemoryRsaKeyStore, RsaKeyStore, VaultRsaKeyStore, DEFAULT_RSA_BITS,
};
pub use software::VaultDeviceKeyStore;

/// Why a device key store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceKeyError {
    /// No key under this alias (deleted, or the app's keys were wiped).
    #[error("no device key under alias {alias:?}")]
    NotFound {
        /// The alias asked for.
        alias: String,
    },
    /// A key already exists under this alias.
    #[error("a device key already exists under alias {alias:?}")]
    AlreadyExists {
        /// The alias asked for.
        alias: String,
    },
    /// The key store returned something unusable (not a P-256 public key, not a DER signature).
    #[error("the device key store returned an unusable {what}: {reason}")]
    Malformed {
        /// What was unusable.
        what: String,
        /// Why.
        reason: String,
    },
    /// The platform refused or failed (locked, user cancelled, hardware error…).
    #[error("the device key store failed: {reason}")]
    Failed {
        /// What the platform said.
        reason: String,
    },
}

/// A store of non-exportable P-256 signing keys, addressed by alias. Object-safe, so the
/// FFI layer can implement it in Kotlin or Swift; arguments are owned for the same reason.
pub trait DeviceKeyStore: Send + Sync {
    /// Creates a new key under `alias` and returns its public key: the 65-byte uncompressed
    /// SEC1 point, or a DER SubjectPublicKeyInfo (what Android's `getEncoded()` gives).
    fn create_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError>;
    /// The public key under `alias`, in either form accepted by [`DeviceKeyStore::create_key`].
    fn public_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError>;
    /// ECDSA P-256 with SHA-256 over `message` (the store hashes), as ASN.1 DER.
    fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, DeviceKeyError>;
    /// Deletes the key under `alias`; deleting a missing key is not an error.
    fn delete_key(&self, alias: String) -> Result<(), DeviceKeyError>;
}

/// Reads a public key as a key store returns it: SEC1 point or SubjectPublicKeyInfo.
pub fn parse_public_key(bytes: &[u8]) -> Result<DevicePublicKey, DeviceKeyError> {
    let parsed = if bytes.first() == Some(&0x04) {
        DevicePublicKey::from_sec1(bytes)
    } else {
        DevicePublicKey::from_spki_der(bytes)
    };
    parsed.map_err(|error| DeviceKeyError::Malformed { what: "public key".into(), reason: error.to_string() })
}

/// One key of a [`DeviceKeyStore`] as the protocol's [`DeviceSigner`].
#[derive(Clone)]
pub struct KeyStoreSigner {
    store: Arc<dyn DeviceKeyStore>,
    alias: String,
    public: DevicePublicKey,
}

impl KeyStoreSigner {
    /// The signer of the key under `alias`; fails when the store has no usable key there.
    pub fn load(store: Arc<dyn DeviceKeyStore>, alias: &str) -> Result<Self, DeviceKeyError> {
        let public = parse_public_key(&store.public_key(alias.to_owned())?)?;
        Ok(Self { store, alias: alias.to_owned(), public })
    }

    /// Creates a fresh key under `alias` and returns its signer.
    pub fn create(store: Arc<dyn DeviceKeyStore>, alias: &str) -> Result<Self, DeviceKeyError> {
        let public = parse_public_key(&store.create_key(alias.to_owned())?)?;
        Ok(Self { store, alias: alias.to_owned(), public })
    }

    /// The key's alias.
    pub fn alias(&self) -> &str {
        &self.alias
    }
}

impl DeviceSigner for KeyStoreSigner {
    fn public_key(&self) -> DevicePublicKey {
        self.public
    }

    fn sign(&self, message: &[u8]) -> Result<DeviceSignature, SignerError> {
        let der =
            self.store.sign(self.alias.clone(), message.to_vec()).map_err(|error| SignerError(error.to_string()))?;
        DeviceSignature::from_der(der).map_err(|error| SignerError(error.to_string()))
    }
}

impl std::fmt::Debug for KeyStoreSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyStoreSigner({:?}, {:?})", self.alias, self.public)
    }
}
