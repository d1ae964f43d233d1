//! Tenant administrators and their bearer tokens (only SHA-256 of a token is stored); the
//! global administrator's token is a server secret (see `files`).

use nyckel_protocol::display::check_text;
use serde::{Deserialize, Serialize};

use crate::relying_parties::{key_hash, new_token};
use crate::store::{Store, StoreError};

/// Prefix of tenant-administrator tokens, so a leaked token is recognisable.
pub const TOKEN_PREFIX: &str = "tadm_";

/// Who an authenticated administrator is and how far their rights reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminScope {
    /// The administrator's name (`admin:<name>` in audit events); `global` for the server's own token.
    pub name: String,
    /// The one tenant they administer; `None` for the global administrator.
    pub tenant: Option<String>,
}

impl AdminScope {
    /// The global administrator.
    pub fn global() -> Self {
        Self { name: "global".into(), tenant: None }
    }

    /// Whether something in `tenant` is within reach.
    pub fn reaches(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }

    /// The audit actor.
    pub fn actor(&self) -> String {
        format!("admin:{}", self.name)
    }
}

/// Why an administrator could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Unacceptable name.
    #[error("invalid administrator name: {0}")]
    BadName(String),
    /// That tenant already has an administrator of that name.
    #[error("administrator {0:?} already exists in that tenant")]
    Exists(String),
    /// No random bytes.
    #[error("the system random generator failed")]
    Random,
    /// The tenant does not exist.
    #[error(transparent)]
    Tenant(#[from] crate::tenants::TenantError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds an administrator of `tenant` and returns the new token (shown once, never stored).
pub fn add(store: &Store, tenant: &str, name: &str) -> Result<String, AdminError> {
    check_text("administrator", name, 1, 64).map_err(|e| AdminError::BadName(e.to_string()))?;
    crate::tenants::require(store, tenant)?;
    let existing: Vec<AdminScope> = store.admins.all()?;
    if existing.iter().any(|a| a.tenant.as_deref() == Some(tenant) && a.name == name) {
        return Err(AdminError::Exists(name.to_owned()));
    }
    let token = new_token(TOKEN_PREFIX).ok_or(AdminError::Random)?;
    store.admins.put(&key_hash(&token), &AdminScope { name: name.to_owned(), tenant: Some(tenant.to_owned()) })?;
    Ok(token)
}

/// The tenant administrator owning `token`, if any.
pub fn authenticate(store: &Store, token: &str) -> Result<Option<AdminScope>, StoreError> {
    store.admins.get(&key_hash(token))
}
