//! Relying parties and their API keys, each scoped to one tenant; only SHA-256 of a key is stored.

pub use crate::model::RelyingParty;
use nyckel_protocol::b64;
use nyckel_protocol::digest::sha256;
use nyckel_protocol::display::check_text;

use crate::store::{Store, StoreError};

/// Prefix of relying-party API keys, so a leaked key is recognisable.
pub const KEY_PREFIX: &str = "rp_";

/// Why a relying party could not be added.
#[derive(Debug, thiserror::Error)]
pub enum RelyingPartyError {
    /// Unacceptable name.
    #[error("invalid relying-party name: {0}")]
    BadName(String),
    /// A relying party with that name exists.
    #[error("relying party {0:?} already exists")]
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

/// A new bearer token: `prefix` and 32 random bytes in base64url (the prefix makes a leaked
/// token recognisable). `None` when the system random generator fails.
pub fn new_token(prefix: &str) -> Option<String> {
    use ring::rand::SecureRandom;
    let mut raw = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut raw).ok()?;
    Some(format!("{prefix}{}", b64::encode(&raw)))
}

/// The storage key of an API key: its SHA-256.
pub fn key_hash(api_key: &str) -> [u8; 32] {
    sha256(api_key.as_bytes())
}

/// Adds a relying party to `tenant` and returns its new API key (shown once, never stored).
pub fn add(store: &dyn Store, tenant: &str, name: &str, now: u64) -> Result<String, RelyingPartyError> {
    check_text("relying party", name, 1, 64).map_err(|e| RelyingPartyError::BadName(e.to_string()))?;
    crate::service::tenants::require(store, tenant)?;
    if list(store)?.iter().any(|rp| rp.tenant == tenant && rp.name == name) {
        return Err(RelyingPartyError::Exists(name.to_owned()));
    }
    let api_key = new_token(KEY_PREFIX).ok_or(RelyingPartyError::Random)?;
    store.relying_parties().put(
        &key_hash(&api_key),
        &RelyingParty { tenant: tenant.to_owned(), name: name.to_owned(), created_at: now },
    )?;
    Ok(api_key)
}

/// Every relying party of every tenant.
pub fn list(store: &dyn Store) -> Result<Vec<RelyingParty>, StoreError> {
    store.relying_parties().all()
}

/// The relying party owning `api_key`, if any.
pub fn authenticate(store: &dyn Store, api_key: &str) -> Result<Option<RelyingParty>, StoreError> {
    store.relying_parties().get(&key_hash(api_key))
}
