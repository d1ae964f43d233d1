//! Users of a tenant: names, the password policy, Argon2id password hashes and the per-user
//! count of wrong QR one-time passwords.

pub use crate::model::UserRecord;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use nyckel_protocol::display::check_text;

use crate::service::tenants::scoped_key;
use crate::store::{Store, StoreError};

/// Shortest acceptable password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Why a password does not meet the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters, it has {0}")]
    TooShort(usize),
    /// No upper-case letter.
    #[error("the password must contain an upper-case letter")]
    NoUpperCase,
    /// No lower-case letter.
    #[error("the password must contain a lower-case letter")]
    NoLowerCase,
    /// No decimal digit.
    #[error("the password must contain a digit")]
    NoDigit,
    /// No character that is neither a letter, a digit nor white space.
    #[error("the password must contain a special character (neither letter, digit nor space)")]
    NoSpecial,
}

/// Checks a password against the policy: at least 8 characters, with upper and lower
/// case, a digit and a special character.
pub fn check_password_policy(password: &str) -> Result<(), PasswordPolicyError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort(len));
    }
    if !password.chars().any(char::is_uppercase) {
        return Err(PasswordPolicyError::NoUpperCase);
    }
    if !password.chars().any(char::is_lowercase) {
        return Err(PasswordPolicyError::NoLowerCase);
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        return Err(PasswordPolicyError::NoDigit);
    }
    if !password.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
        return Err(PasswordPolicyError::NoSpecial);
    }
    Ok(())
}

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is not acceptable (1–128 displayable characters).
    #[error("invalid user name: {0}")]
    BadName(String),
    /// The password does not meet the policy.
    #[error(transparent)]
    Policy(#[from] PasswordPolicyError),
    /// A user with that name exists.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// No such user.
    #[error("no user {0:?}")]
    NotFound(String),
    /// The tenant does not exist.
    #[error(transparent)]
    Tenant(#[from] crate::service::tenants::TenantError),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a user name.
pub fn check_name(name: &str) -> Result<(), UserError> {
    check_text("user", name, 1, 128).map_err(|e| UserError::BadName(e.to_string()))
}

/// Argon2id (v1.3, default parameters) hash of a password, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, UserError> {
    use ring::rand::SecureRandom;
    let mut raw = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut raw).map_err(|_| UserError::Hash("random generator failed".into()))?;
    let salt = SaltString::encode_b64(&raw).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Whether `password` matches a stored PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// Adds a user to `tenant` after checking the name and the password policy.
pub fn add(store: &dyn Store, tenant: &str, name: &str, password: &str, now: u64) -> Result<UserRecord, UserError> {
    check_name(name)?;
    check_password_policy(password)?;
    let hash = hash_password(password)?;
    add_with_hash(store, tenant, name, hash, now)
}

/// Adds a user with an already computed Argon2id hash (bulk import, benchmarks).
pub fn add_with_hash(
    store: &dyn Store,
    tenant: &str,
    name: &str,
    password_hash: String,
    now: u64,
) -> Result<UserRecord, UserError> {
    check_name(name)?;
    crate::service::tenants::require(store, tenant)?;
    let key = scoped_key(tenant, name);
    if store.users().get(&key)?.is_some() {
        return Err(UserError::Exists(name.to_owned()));
    }
    let record = UserRecord {
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        password_hash,
        disabled: false,
        created_at: now,
        otp_failures: 0,
    };
    // Created only if absent, so two concurrent adds of one name cannot both succeed.
    if !store.users().insert_new(&key, &record)? {
        return Err(UserError::Exists(name.to_owned()));
    }
    Ok(record)
}

/// Every user of `tenant`, by name.
pub fn list(store: &dyn Store, tenant: &str) -> Result<Vec<UserRecord>, UserError> {
    crate::service::tenants::require(store, tenant)?;
    Ok(store.users().all()?.into_iter().filter(|u| u.tenant == tenant).collect())
}

/// Looks a user of `tenant` up.
pub fn get(store: &dyn Store, tenant: &str, name: &str) -> Result<Option<UserRecord>, StoreError> {
    store.users().get(&scoped_key(tenant, name))
}

/// Changes a stored user (the caller serialises changes to one user).
pub fn put(store: &dyn Store, record: &UserRecord) -> Result<(), StoreError> {
    store.users().put(&scoped_key(&record.tenant, &record.name), record)
}

/// Disables a user.
pub fn disable(store: &dyn Store, tenant: &str, name: &str) -> Result<(), UserError> {
    let mut record = get(store, tenant, name)?.ok_or_else(|| UserError::NotFound(name.to_owned()))?;
    record.disabled = true;
    put(store, &record)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check_password_policy("Aa1!aaaa"), Ok(()));
        assert_eq!(check_password_policy("Aa1!aaa"), Err(PasswordPolicyError::TooShort(7)));
        assert_eq!(check_password_policy("aa1!aaaa"), Err(PasswordPolicyError::NoUpperCase));
        assert_eq!(check_password_policy("AA1!AAAA"), Err(PasswordPolicyError::NoLowerCase));
        assert_eq!(check_password_policy("Aab!aaaa"), Err(PasswordPolicyError::NoDigit));
        assert_eq!(check_password_policy("Aa1aaaaa"), Err(PasswordPolicyError::NoSpecial));
        assert_eq!(check_password_policy("Aa1 aaaa"), Err(PasswordPolicyError::NoSpecial));
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let phc = hash_password("Correct1!horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"));
        assert!(verify_password("Correct1!horse", &phc));
        assert!(!verify_password("Correct1!hors", &phc));
    }
}
