//! The software device key store: P-256 keys made with ring, kept sealed inside the vault.

use std::sync::Arc;

use nyckel_protocol::{DeviceSigner, SoftwareDeviceKey};

use super::{DeviceKeyError, DeviceKeyStore};
use crate::vault::Vault;

/// Device keys for desktops and tests: generated with ring, their PKCS#8 documents sealed
/// in the vault (so they are as safe as the vault, and no safer — a phone should use its
/// platform key store instead).
pub struct VaultDeviceKeyStore {
    vault: Arc<Vault>,
}

impl VaultDeviceKeyStore {
    /// A store keeping its keys in `vault`.
    pub fn new(vault: Arc<Vault>) -> Self {
        Self { vault }
    }

    fn load(&self, alias: &str) -> Result<SoftwareDeviceKey, DeviceKeyError> {
        let pkcs8 = self
            .vault
            .device_key(alias)
            .map_err(failed)?
            .ok_or_else(|| DeviceKeyError::NotFound { alias: alias.to_owned() })?;
        SoftwareDeviceKey::from_pkcs8(&pkcs8)
            .map_err(|error| DeviceKeyError::Malformed { what: "stored key".into(), reason: error.to_string() })
    }
}

fn failed(error: impl ToString) -> DeviceKeyError {
    DeviceKeyError::Failed { reason: error.to_string() }
}

impl DeviceKeyStore for VaultDeviceKeyStore {
    fn create_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError> {
        let pkcs8 = SoftwareDeviceKey::generate_pkcs8().map_err(failed)?;
        let key = SoftwareDeviceKey::from_pkcs8(&pkcs8).map_err(failed)?;
        if !self.vault.store_device_key(&alias, &pkcs8).map_err(failed)? {
            return Err(DeviceKeyError::AlreadyExists { alias });
        }
        Ok(key.public_key().as_bytes().to_vec())
    }

    fn public_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError> {
        Ok(self.load(&alias)?.public_key().as_bytes().to_vec())
    }

    fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, DeviceKeyError> {
        let signature = self.load(&alias)?.sign(&message).map_err(failed)?;
        Ok(signature.as_der().to_vec())
    }

    fn delete_key(&self, alias: String) -> Result<(), DeviceKeyError> {
        self.vault.remove_device_key(&alias).map(|_| ()).map_err(failed)
    }
}
