//! Tenants: the organisations whose users, devices, relying parties and audit events are kept apart.

pub use crate::model::Tenant;
pub use crate::store::scoped_key;
use nyckel_protocol::display::check_text;

use crate::store::{Store, StoreError};

/// Why a tenant operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The identifier is not 1–64 of `[a-z0-9-]`.
    #[error("invalid tenant name {0:?}: use 1-64 lower-case letters, digits and '-'")]
    BadName(String),
    /// The display name is not displayable text of 1–64 characters.
    #[error("invalid organisation name: {0}")]
    BadDisplayName(String),
    /// A tenant with that name exists.
    #[error("tenant {0:?} already exists")]
    Exists(String),
    /// No such tenant.
    #[error("no tenant {0:?}")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a tenant identifier.
pub fn check_name(name: &str) -> Result<(), TenantError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(TenantError::BadName(name.to_owned()))
    }
}

/// Adds a tenant.
pub fn add(store: &dyn Store, name: &str, display_name: &str, now: u64) -> Result<Tenant, TenantError> {
    check_name(name)?;
    check_text("organisation", display_name, 1, 64).map_err(|e| TenantError::BadDisplayName(e.to_string()))?;
    if store.tenants().get(name.as_bytes())?.is_some() {
        return Err(TenantError::Exists(name.to_owned()));
    }
    let tenant = Tenant { name: name.to_owned(), display_name: display_name.to_owned(), created_at: now };
    if !store.tenants().insert_new(name.as_bytes(), &tenant)? {
        return Err(TenantError::Exists(name.to_owned()));
    }
    Ok(tenant)
}

/// One tenant.
pub fn get(store: &dyn Store, name: &str) -> Result<Option<Tenant>, StoreError> {
    store.tenants().get(name.as_bytes())
}

/// One tenant, which must exist.
pub fn require(store: &dyn Store, name: &str) -> Result<Tenant, TenantError> {
    get(store, name)?.ok_or_else(|| TenantError::NotFound(name.to_owned()))
}

/// Every tenant, by name.
pub fn list(store: &dyn Store) -> Result<Vec<Tenant>, StoreError> {
    store.tenants().all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("acme-1").is_ok());
        for bad in ["", "Acme", "a b", "a/b", "a\0b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_ne!(scoped_key("a", "bc"), scoped_key("ab", "c"));
    }
}
