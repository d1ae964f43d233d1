//! Device names chosen in the portal: the relying-party API has no rename, so a renamed
//! device's name lives here, keyed by account and device id, and is shown instead of the name
//! given at registration.

use crate::error::PortalError;
use crate::nyckel::DeviceInfo;
use crate::store::Store;

/// Longest name, characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The names over the store.
#[derive(Clone)]
pub struct DeviceNames {
    tree: sled::Tree,
}

fn key(account: &str, device: &str) -> Vec<u8> {
    format!("{account}\0{device}").into_bytes()
}

/// A name as stored: trimmed, control characters dropped, at most [`MAX_NAME_CHARS`].
pub fn clean_name(typed: &str) -> String {
    typed.trim().chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect()
}

impl DeviceNames {
    /// Names in `store`'s `device_names` tree.
    pub fn new(store: &Store) -> Result<Self, PortalError> {
        Ok(Self { tree: store.tree("device_names")? })
    }

    /// Sets the portal's name of `device` (the caller has checked it is the account's).
    pub fn rename(&self, account: &str, device: &str, name: &str) -> Result<(), PortalError> {
        self.tree.insert(key(account, device), name.as_bytes())?;
        Ok(())
    }

    /// Replaces the registration names in `devices` by the portal's names where set.
    pub fn apply(&self, account: &str, devices: &mut [DeviceInfo]) -> Result<(), PortalError> {
        for d in devices.iter_mut() {
            if let Some(name) = self.tree.get(key(account, &d.device_id))? {
                d.name = String::from_utf8_lossy(&name).into_owned();
            }
        }
        Ok(())
    }
}
