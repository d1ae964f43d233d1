//! Software device keys in the vault: P-256 PKCS#8 documents sealed under the vault key.
//!
//! Used where no platform key store exists (desktop, tests). On phones the device key
//! lives in Android Keystore or the Secure Enclave instead and never reaches the vault.

use zeroize::Zeroizing;

use super::{seal, Vault, VaultError};

const TREE: &str = "device_keys";

impl Vault {
    /// Stores a device key's PKCS#8 document under `alias`; `false` (and nothing stored)
    /// when the alias is taken. On disk when it returns.
    pub fn store_device_key(&self, alias: &str, pkcs8: &[u8]) -> Result<bool, VaultError> {
        let sealed = seal::seal(&self.key, pkcs8, &device_key_aad(alias))?;
        let stored = self
            .device_keys_tree()?
            .compare_and_swap(alias.as_bytes(), None::<&[u8]>, Some(sealed))
            .map_err(VaultError::Storage)?
            .is_ok();
        self.flush()?;
        Ok(stored)
    }

    /// The PKCS#8 document stored under `alias`, if any.
    pub fn device_key(&self, alias: &str) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        match self.device_keys_tree()?.get(alias.as_bytes()).map_err(VaultError::Storage)? {
            Some(sealed) => seal::open(&self.key, &sealed, &device_key_aad(alias))
                .map(Some)
                .map_err(|error| VaultError::Corrupt(format!("device key {alias}: {error}"))),
            None => Ok(None),
        }
    }

    /// Deletes the key under `alias`; `false` when there was none.
    pub fn remove_device_key(&self, alias: &str) -> Result<bool, VaultError> {
        let removed = self.device_keys_tree()?.remove(alias.as_bytes()).map_err(VaultError::Storage)?.is_some();
        self.flush()?;
        Ok(removed)
    }

    fn device_keys_tree(&self) -> Result<sled::Tree, VaultError> {
        self.db.open_tree(TREE).map_err(VaultError::Storage)
    }
}

fn device_key_aad(alias: &str) -> Vec<u8> {
    [b"nyckel-device-key/".as_slice(), alias.as_bytes()].concat()
}
