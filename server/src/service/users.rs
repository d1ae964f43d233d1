//! Users of a tenant: names, the disabled flag and the per-user count of wrong QR one-time
//! passwords. Users have no password here: the sign-in service in front of the server (the
//! portal, or any relying party) owns passwords.

pub use crate::model::UserRecord;
use nyckel_protocol::display::check_text;
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::relying_party::TenantUser;

use crate::audit::Entry;
use crate::model::RelyingParty;
use crate::service::app::App;
use crate::service::tenants::scoped_key;
use crate::service::ServiceError;
use crate::store::{Store, StoreError};

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is not acceptable (1–128 displayable characters).
    #[error("invalid user name: {0}")]
    BadName(String),
    /// A user with that name exists.
    #[error("user {0:?} already exists")]
    Exists(String),
    /// No such user.
    #[error("no user {0:?}")]
    NotFound(String),
    /// The tenant does not exist.
    #[error(transparent)]
    Tenant(#[from] crate::service::tenants::TenantError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a user name.
pub fn check_name(name: &str) -> Result<(), UserError> {
    check_text("user", name, 1, 128).map_err(|e| UserError::BadName(e.to_string()))
}

/// Adds a user to `tenant` after checking the name; refused if the name exists.
pub async fn add(store: &dyn Store, tenant: &str, name: &str, now: u64) -> Result<UserRecord, UserError> {
    check_name(name)?;
    crate::service::tenants::require(store, tenant).await?;
    let key = scoped_key(tenant, name);
    if store.users().get(&key).await?.is_some() {
        return Err(UserError::Exists(name.to_owned()));
    }
    let record = UserRecord {
        tenant: tenant.to_owned(),
        name: name.to_owned(),
        disabled: false,
        created_at: now,
        otp_failures: 0,
    };
    // Created only if absent, so two concurrent adds of one name cannot both succeed.
    if !store.users().insert_new(&key, &record).await? {
        return Err(UserError::Exists(name.to_owned()));
    }
    Ok(record)
}

impl From<UserError> for ServiceError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::BadName(reason) => ServiceError::bad_request(format!("invalid user name: {reason}")),
            UserError::Exists(_) => ServiceError::bad_request(e.to_string()),
            UserError::NotFound(_) => ServiceError::not_found("user"),
            UserError::Tenant(t) => ServiceError::internal(&t),
            UserError::Store(s) => ServiceError::Store(s),
        }
    }
}

/// `PUT /v1/users/{user}`: a relying party makes sure a user exists in its own tenant, so a
/// sign-in service can create the user when its own account comes to exist (no operator
/// step). Idempotent: `Ok((user, true))` when it was created now (audited `user_created`,
/// actor `rp:<name>`), `Ok((user, false))` when it already existed (nothing written). Only
/// the caller's tenant is ever looked at or written, so another tenant's user of the same
/// name is a different user.
pub async fn ensure_for_rp(
    app: &App,
    rp: &RelyingParty,
    name: &str,
    ip: Option<&str>,
) -> Result<(TenantUser, bool), ServiceError> {
    check_name(name)?;
    let view = |u: &UserRecord| TenantUser { user: u.name.clone(), created_at: u.created_at, disabled: u.disabled };
    if let Some(existing) = get(&*app.store, &rp.tenant, name).await? {
        return Ok((view(&existing), false));
    }
    match add(&*app.store, &rp.tenant, name, app.now()).await {
        Ok(created) => {
            app.record(
                Entry::new(AuditKind::UserCreated, format!("rp:{}", rp.name)).tenant(&rp.tenant).user(name).ip(ip),
            )
            .await?;
            Ok((view(&created), true))
        }
        // A concurrent request created it between the look-up and the insert.
        Err(UserError::Exists(_)) => {
            let existing = get(&*app.store, &rp.tenant, name)
                .await?
                .ok_or_else(|| ServiceError::internal(&"a user reported as existing is missing"))?;
            Ok((view(&existing), false))
        }
        Err(e) => Err(e.into()),
    }
}

/// Every user of `tenant`, by name.
pub async fn list(store: &dyn Store, tenant: &str) -> Result<Vec<UserRecord>, UserError> {
    crate::service::tenants::require(store, tenant).await?;
    Ok(store.users().all().await?.into_iter().filter(|u| u.tenant == tenant).collect())
}

/// Looks a user of `tenant` up.
pub async fn get(store: &dyn Store, tenant: &str, name: &str) -> Result<Option<UserRecord>, StoreError> {
    store.users().get(&scoped_key(tenant, name)).await
}

/// Changes a stored user (the caller serialises changes to one user).
pub async fn put(store: &dyn Store, record: &UserRecord) -> Result<(), StoreError> {
    store.users().put(&scoped_key(&record.tenant, &record.name), record).await
}

/// Disables a user.
pub async fn disable(store: &dyn Store, tenant: &str, name: &str) -> Result<(), UserError> {
    let mut record = get(store, tenant, name).await?.ok_or_else(|| UserError::NotFound(name.to_owned()))?;
    record.disabled = true;
    put(store, &record).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_record_with_the_old_password_hash_still_loads() {
        // Records written before users lost their server-side password carry the field.
        let old = r#"{"tenant":"acme","name":"alice","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA","disabled":false,"created_at":1700000000,"otp_failures":2}"#;
        let record: UserRecord = serde_json::from_str(old).unwrap();
        assert_eq!(
            record,
            UserRecord {
                tenant: "acme".into(),
                name: "alice".into(),
                disabled: false,
                created_at: 1_700_000_000,
                otp_failures: 2
            }
        );
        // And none is written again.
        assert!(!serde_json::to_string(&record).unwrap().contains("password"));
    }
}
