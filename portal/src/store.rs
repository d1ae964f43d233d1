//! The portal's sled store: accounts and browser sessions, as JSON records in two trees.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::PortalError;

/// The opened data directory.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    accounts: sled::Tree,
    sessions: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, PortalError> {
        let db = sled::open(dir.join("portal.sled"))?;
        let accounts = db.open_tree("accounts")?;
        let sessions = db.open_tree("sessions")?;
        Ok(Self { db, accounts, sessions })
    }

    /// The accounts tree (key: account name).
    pub(crate) fn accounts(&self) -> &sled::Tree {
        &self.accounts
    }

    /// The sessions tree (key: SHA-256 of the session id, so a copy of the store holds no cookie).
    /// Public so tests can check what a session record holds at rest.
    pub fn sessions(&self) -> &sled::Tree {
        &self.sessions
    }

    /// Another tree of the same database, by name, for records a module owns (`sms`,
    /// `contacts`, `orgs`, `audit`, `device_names`, one-time codes, e-mail tokens, remembered
    /// browsers).
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, PortalError> {
        Ok(self.db.open_tree(name)?)
    }

    /// Writes everything to disk.
    pub async fn flush(&self) -> Result<(), PortalError> {
        self.db.flush_async().await?;
        Ok(())
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs of strings and numbers cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, PortalError> {
    serde_json::from_slice(bytes).map_err(|source| PortalError::Corrupt { what, source })
}

/// Removes `key` only if it still holds `bytes` (a request may have just renewed it); whether it
/// was removed.
pub(crate) fn remove_if_unchanged(tree: &sled::Tree, key: &[u8], bytes: &[u8]) -> Result<bool, PortalError> {
    Ok(tree.compare_and_swap(key, Some(bytes), None::<&[u8]>)?.is_ok())
}
