//! Tenant administrators and their bearer tokens (only SHA-256 of a token is stored); the
//! global administrator's token is a server secret (see `files`).

pub use crate::model::AdminScope;
use nyckel_protocol::display::check_text;

use crate::service::relying_parties::{key_hash, new_token};
use crate::store::{Store, StoreError};

/// Prefix of tenant-administrator tokens, so a leaked token is recognisable.
pub const TOKEN_PREFIX: &str = "tadm_";

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
    Tenant(#[from] crate::service::tenants::TenantError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds an administrator of `tenant` and returns the new token (shown once, never stored).
pub fn add(store: &dyn Store, tenant: &str, name: &str) -> Result<String, AdminError> {
    check_text("administrator", name, 1, 64).map_err(|e| AdminError::BadName(e.to_string()))?;
    crate::service::tenants::require(store, tenant)?;
    let existing: Vec<AdminScope> = store.admins().all()?;
    if existing.iter().any(|a| a.tenant.as_deref() == Some(tenant) && a.name == name) {
        return Err(AdminError::Exists(name.to_owned()));
    }
    let token = new_token(TOKEN_PREFIX).ok_or(AdminError::Random)?;
    store.admins().put(&key_hash(&token), &AdminScope { name: name.to_owned(), tenant: Some(tenant.to_owned()) })?;
    Ok(token)
}

/// The tenant administrator owning `token`, if any.
pub fn authenticate(store: &dyn Store, token: &str) -> Result<Option<AdminScope>, StoreError> {
    store.admins().get(&key_hash(token))
}
