//! privacyIDEA push and tiqr tokens in the vault: one sealed, versioned record per token.
//!
//! They sit beside Nyckel's registrations and the TOTP accounts, sealed under the same vault
//! key and bound to their slot. A push record holds the token (with the server's RSA key and
//! the alias of the phone's RSA key in its key store — the private key itself is in the
//! platform key store, or on desktops in the vault's `device_keys` tree), the phone's memory
//! of challenges (expiry, replay) and the optional local PIN gate; a tiqr record holds the
//! PIN-masked OCRA secret. Vaults made before these records existed simply have no such tree.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::registrations::host_of;
use super::{seal, Vault, VaultError};
use crate::privacyidea::{LocalPinGate, PushInbox, PushToken, TiqrToken};

/// The record version written today; a record of any other version is refused as
/// [`VaultError::UnsupportedVersion`] (written by a newer Nyckel), never guessed at.
pub const PROVIDER_TOKEN_VERSION: u32 = 1;

const TREE: &str = "provider_tokens";

/// A token of another provider's server on this phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderToken {
    /// A privacyIDEA push token (poll-only).
    PrivacyideaPush {
        /// The token.
        token: PushToken,
        /// What the phone remembers of its challenges.
        inbox: PushInbox,
        /// The local app-PIN gate, when the server's policy asks for one or the user set one.
        gate: Option<LocalPinGate>,
        /// Biometric unlock of the gate, when the user enabled it (absent from older records).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        biometric: Option<GateUnlock>,
    },
    /// A tiqr token.
    Tiqr {
        /// The token (its secret masked by the PIN).
        token: TiqrToken,
    },
}

impl ProviderToken {
    /// The token's id in the vault: `pipush:<serial>@<host>` or `tiqr:<user>@<service>`. The
    /// `:` never occurs in the ids of Nyckel's own registrations (base64url), so an id alone
    /// tells which provider answers.
    pub fn id(&self) -> String {
        match self {
            ProviderToken::PrivacyideaPush { token, .. } => {
                format!("{PUSH_PREFIX}{}@{}", token.serial, host_of(&token.url))
            }
            ProviderToken::Tiqr { token } => format!("{TIQR_PREFIX}{}", token.account()),
        }
    }
}

/// Biometric unlock of a push token's local gate: a random marker sealed by the platform's
/// biometric key (which prompts), and its SHA-256, so only the sealed marker opens the gate.
/// Like the PIN gate it is local: privacyIDEA never sees it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateUnlock {
    /// Alias of the key in the platform's biometric key store.
    pub key_alias: String,
    /// The platform's ciphertext of the marker, bound to the token id.
    pub sealed: Vec<u8>,
    /// SHA-256 of the marker.
    pub check: Vec<u8>,
}

impl std::fmt::Debug for GateUnlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GateUnlock({:?}, <{} bytes>)", self.key_alias, self.sealed.len())
    }
}

/// Id prefix of privacyIDEA push tokens.
pub const PUSH_PREFIX: &str = "pipush:";
/// Id prefix of tiqr tokens.
pub const TIQR_PREFIX: &str = "tiqr:";

/// True for the id of a provider token (as opposed to a Nyckel registration).
pub fn is_provider_token_id(id: &str) -> bool {
    id.starts_with(PUSH_PREFIX) || id.starts_with(TIQR_PREFIX)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredProviderToken {
    v: u32,
    token: ProviderToken,
}

impl Vault {
    /// Stores a new provider token; [`VaultError::DuplicateToken`] when one with its id is
    /// there already (nothing is written then). On disk when it returns.
    pub fn add_provider_token(&self, token: &ProviderToken) -> Result<String, VaultError> {
        let id = token.id();
        let sealed = self.seal_provider_token(&id, token)?;
        self.provider_tree()?
            .compare_and_swap(id.as_bytes(), None::<&[u8]>, Some(sealed))
            .map_err(VaultError::Storage)?
            .map_err(|_| VaultError::DuplicateToken(id.clone()))?;
        self.flush()?;
        Ok(id)
    }

    /// Every provider token with its id, in id order.
    pub fn provider_tokens(&self) -> Result<Vec<(String, ProviderToken)>, VaultError> {
        self.provider_tree()?
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(VaultError::Storage)?;
                let id = std::str::from_utf8(&key)
                    .map_err(|_| VaultError::Corrupt("provider token key is not UTF-8".into()))?
                    .to_owned();
                let token = self.open_provider_token(&id, &value)?;
                Ok((id, token))
            })
            .collect()
    }

    /// One provider token, or `None`.
    pub fn provider_token(&self, id: &str) -> Result<Option<ProviderToken>, VaultError> {
        match self.provider_tree()?.get(id.as_bytes()).map_err(VaultError::Storage)? {
            Some(value) => self.open_provider_token(id, &value).map(Some),
            None => Ok(None),
        }
    }

    /// Read-modify-write of a provider token with compare-and-swap: `change` returns whether
    /// it changed anything (and may fail, writing nothing). `false` when there is no token.
    pub fn update_provider_token<E: From<VaultError>>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut ProviderToken) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let tree = self.provider_tree()?;
        loop {
            let Some(old) = tree.get(id.as_bytes()).map_err(VaultError::Storage)? else {
                return Ok(false);
            };
            let mut token = self.open_provider_token(id, &old)?;
            if !change(&mut token)? {
                return Ok(true);
            }
            if token.id() != id {
                return Err(VaultError::Corrupt(format!("provider token {id} would change its id")).into());
            }
            let new = self.seal_provider_token(id, &token)?;
            if tree.compare_and_swap(id.as_bytes(), Some(&old), Some(new)).map_err(VaultError::Storage)?.is_ok() {
                self.flush()?;
                return Ok(true);
            }
        }
    }

    /// Removes a provider token for good; `false` when there was none.
    pub fn remove_provider_token(&self, id: &str) -> Result<bool, VaultError> {
        let removed = self.provider_tree()?.remove(id.as_bytes()).map_err(VaultError::Storage)?.is_some();
        self.flush()?;
        Ok(removed)
    }

    fn provider_tree(&self) -> Result<sled::Tree, VaultError> {
        self.db.open_tree(TREE).map_err(VaultError::Storage)
    }

    fn seal_provider_token(&self, id: &str, token: &ProviderToken) -> Result<Vec<u8>, VaultError> {
        let stored = StoredProviderToken { v: PROVIDER_TOKEN_VERSION, token: token.clone() };
        let plain =
            Zeroizing::new(serde_json::to_vec(&stored).map_err(|error| VaultError::Corrupt(error.to_string()))?);
        Ok(seal::seal(&self.key, &plain, &provider_aad(id))?)
    }

    fn open_provider_token(&self, id: &str, sealed: &[u8]) -> Result<ProviderToken, VaultError> {
        let corrupt = |reason: String| VaultError::Corrupt(format!("provider token {id}: {reason}"));
        let plain = seal::open(&self.key, sealed, &provider_aad(id)).map_err(|error| corrupt(error.to_string()))?;
        // The version first, so a newer record says "newer", not "corrupt".
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version = serde_json::from_slice(&plain).map_err(|error| corrupt(error.to_string()))?;
        if version.v != PROVIDER_TOKEN_VERSION {
            return Err(VaultError::UnsupportedVersion(version.v));
        }
        let stored: StoredProviderToken = serde_json::from_slice(&plain).map_err(|error| corrupt(error.to_string()))?;
        if stored.token.id() != id {
            return Err(corrupt(format!("holds the record of {}", stored.token.id())));
        }
        Ok(stored.token)
    }

    /// Overwrites the raw stored bytes of a provider token (tests of corrupted records only).
    #[doc(hidden)]
    pub fn overwrite_provider_token_raw(&self, id: &str, bytes: &[u8]) -> Result<(), VaultError> {
        self.provider_tree()?.insert(id.as_bytes(), bytes).map_err(VaultError::Storage)?;
        self.flush()
    }

    /// Seals arbitrary plaintext as the record of `id` (tests of malformed records only).
    #[doc(hidden)]
    pub fn overwrite_provider_token_plain(&self, id: &str, plain: &[u8]) -> Result<(), VaultError> {
        let sealed = seal::seal(&self.key, plain, &provider_aad(id))?;
        self.overwrite_provider_token_raw(id, &sealed)
    }
}

/// Binds a record to its slot, so records cannot be swapped between tokens undetected.
fn provider_aad(id: &str) -> Vec<u8> {
    [b"nyckel-provider-token/".as_slice(), id.as_bytes()].concat()
}
