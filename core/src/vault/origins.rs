//! Where an account came from when a token server enrolled it: privacyIDEA's `serial` and
//! `creator`, in a sealed, versioned side record per account.
//!
//! A side record rather than a field of the account keeps the account record's format (and
//! every backup, export and import of it) as it was; the origin is written after the account
//! and removed with it, so a crash between the two leaves an account without its origin,
//! never an origin pointing at another account.

use serde::{Deserialize, Serialize};

use super::{seal, AccountId, Vault, VaultError};

const TREE: &str = "account_origins";
const ORIGIN_VERSION: u32 = 1;
/// Longest serial or creator kept (privacyIDEA serials are ~12 characters).
const MAX_FIELD: usize = 128;

/// The token-server facts of an account: privacyIDEA's serial and the `creator` parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenOrigin {
    /// The token's serial at its server, e.g. `HOTP0001` (what an administrator sees).
    pub serial: String,
    /// The `creator` parameter, e.g. `privacyidea`.
    pub creator: String,
}

impl TokenOrigin {
    /// The origin an `otpauth://` URI names with its `serial` and `creator` parameters, when
    /// it names both (privacyIDEA's enrollment URIs do); values are percent-decoded, and
    /// control characters or oversized values make it `None`.
    pub fn from_otpauth(uri: &str) -> Option<TokenOrigin> {
        let query = uri.split_once('?')?.1;
        let mut serial = None;
        let mut creator = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            if value.is_empty() || value.len() > MAX_FIELD || value.chars().any(char::is_control) {
                return None;
            }
            match key.as_ref() {
                "serial" if serial.is_none() => serial = Some(value),
                "creator" if creator.is_none() => creator = Some(value),
                "serial" | "creator" => return None,
                _ => {}
            }
        }
        Some(TokenOrigin { serial: serial?, creator: creator? })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredOrigin {
    v: u32,
    serial: String,
    creator: String,
}

impl Vault {
    /// Adds an account with its origin; returns its id once both are on disk.
    pub fn add_with_origin(
        &self,
        account: crate::account::Account,
        origin: Option<&TokenOrigin>,
    ) -> Result<AccountId, VaultError> {
        let id = self.add(account)?;
        if let Some(origin) = origin {
            self.set_origin(id, origin)?;
        }
        Ok(id)
    }

    /// Records the origin of account `id` (replacing any). On disk when it returns.
    pub fn set_origin(&self, id: AccountId, origin: &TokenOrigin) -> Result<(), VaultError> {
        self.get(id)?;
        let stored = StoredOrigin { v: ORIGIN_VERSION, serial: origin.serial.clone(), creator: origin.creator.clone() };
        let plain = serde_json::to_vec(&stored).map_err(|error| VaultError::Corrupt(error.to_string()))?;
        let sealed = seal::seal(&self.key, &plain, &origin_aad(id))?;
        self.origins_tree()?.insert(id.to_be_bytes(), sealed).map_err(VaultError::Storage)?;
        self.flush()
    }

    /// The origin of account `id`, if one was recorded.
    pub fn origin(&self, id: AccountId) -> Result<Option<TokenOrigin>, VaultError> {
        let Some(sealed) = self.origins_tree()?.get(id.to_be_bytes()).map_err(VaultError::Storage)? else {
            return Ok(None);
        };
        let corrupt = |reason: String| VaultError::Corrupt(format!("origin of account {id}: {reason}"));
        let plain = seal::open(&self.key, &sealed, &origin_aad(id)).map_err(|error| corrupt(error.to_string()))?;
        let stored: StoredOrigin = serde_json::from_slice(&plain).map_err(|error| corrupt(error.to_string()))?;
        if stored.v != ORIGIN_VERSION {
            return Err(VaultError::UnsupportedVersion(stored.v));
        }
        Ok(Some(TokenOrigin { serial: stored.serial, creator: stored.creator }))
    }

    /// Forgets the origin of account `id` (done by [`Vault::delete`]).
    pub(crate) fn remove_origin(&self, id: AccountId) -> Result<(), VaultError> {
        self.origins_tree()?.remove(id.to_be_bytes()).map_err(VaultError::Storage)?;
        Ok(())
    }

    fn origins_tree(&self) -> Result<sled::Tree, VaultError> {
        self.db.open_tree(TREE).map_err(VaultError::Storage)
    }
}

fn origin_aad(id: AccountId) -> Vec<u8> {
    [b"nyckel-account-origin/".as_slice(), &id.to_be_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_privacyideas_serial_and_creator() {
        let uri = "otpauth://hotp/HOTP0001?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=1&digits=6&creator=privacyidea&issuer=privacyIDEA&serial=HOTP0001";
        assert_eq!(
            TokenOrigin::from_otpauth(uri),
            Some(TokenOrigin { serial: "HOTP0001".into(), creator: "privacyidea".into() })
        );
        assert_eq!(TokenOrigin::from_otpauth("otpauth://totp/x?secret=AA&serial=S"), None);
        assert_eq!(TokenOrigin::from_otpauth(&format!("{uri}&serial=OTHER")), None);
        assert_eq!(TokenOrigin::from_otpauth(&uri.replace("serial=HOTP0001", "serial=a%0Ab")), None);
    }
}
