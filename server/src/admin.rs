//! Administration: the offline commands of the binary (tenants, users, relying parties,
//! administrators, the global admin token) and the administrators' HTTP operations.

use std::path::Path;

use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::{DeviceList, DeviceState};
use nyckel_protocol::DeviceId;
use zeroize::Zeroizing;

use crate::admins::{self, AdminScope};
use crate::service::ServiceError;
use crate::app::App;
use crate::audit::Entry;
use crate::audit::{self, VerifyReport};
use crate::clock::{Clock, SystemClock};
use crate::relying_parties::{self, RelyingParty};
use crate::secrets::{Kek, KeyRing, RotationStatement};
use crate::store::{SledStore, Store};
use crate::tenants::{self, Tenant};
use crate::users::{self, UserRecord};
use crate::{files, ServerError};

fn open(dir: &Path) -> Result<SledStore, ServerError> {
    files::ensure_dir(dir)?;
    Ok(SledStore::open(dir)?)
}

/// Adds a tenant (an organisation; `display_name` is what phones show). Needs the server stopped.
pub fn add_tenant(dir: &Path, name: &str, display_name: &str) -> Result<Tenant, ServerError> {
    let store = open(dir)?;
    let tenant = tenants::add(&store, name, display_name, SystemClock.now())?;
    store.flush_blocking()?;
    Ok(tenant)
}

/// Every tenant. Needs the server stopped.
pub fn list_tenants(dir: &Path) -> Result<Vec<Tenant>, ServerError> {
    Ok(tenants::list(&open(dir)?)?)
}

/// Adds a user to a tenant (Argon2id hash, password policy enforced). Needs the server stopped.
pub fn add_user(dir: &Path, tenant: &str, name: &str, password: &str) -> Result<UserRecord, ServerError> {
    let store = open(dir)?;
    let now = SystemClock.now();
    let record = users::add(&store, tenant, name, password, now)?;
    store.flush_blocking()?;
    Ok(record)
}

/// Adds users of one tenant sharing one precomputed Argon2id hash (benchmarks, bulk import).
pub fn add_users_with_hash(dir: &Path, tenant: &str, names: &[String], password_hash: &str) -> Result<(), ServerError> {
    let store = open(dir)?;
    let now = SystemClock.now();
    for name in names {
        users::add_with_hash(&store, tenant, name, password_hash.to_owned(), now)?;
    }
    store.flush_blocking()?;
    Ok(())
}

/// Every user of a tenant. Needs the server stopped.
pub fn list_users(dir: &Path, tenant: &str) -> Result<Vec<UserRecord>, ServerError> {
    Ok(users::list(&open(dir)?, tenant)?)
}

/// Disables a user. Needs the server stopped.
pub fn disable_user(dir: &Path, tenant: &str, name: &str) -> Result<(), ServerError> {
    let store = open(dir)?;
    users::disable(&store, tenant, name)?;
    store.flush_blocking()?;
    Ok(())
}

/// Adds a relying party to a tenant and returns its API key. Needs the server stopped.
pub fn add_relying_party(dir: &Path, tenant: &str, name: &str) -> Result<Zeroizing<String>, ServerError> {
    let store = open(dir)?;
    let key = relying_parties::add(&store, tenant, name, SystemClock.now())?;
    store.flush_blocking()?;
    Ok(Zeroizing::new(key))
}

/// Adds an administrator of one tenant and returns their token. Needs the server stopped.
pub fn add_tenant_admin(dir: &Path, tenant: &str, name: &str) -> Result<Zeroizing<String>, ServerError> {
    let store = open(dir)?;
    let token = admins::add(&store, tenant, name)?;
    store.flush_blocking()?;
    Ok(Zeroizing::new(token))
}

/// Every relying party. Needs the server stopped.
pub fn list_relying_parties(dir: &Path) -> Result<Vec<RelyingParty>, ServerError> {
    Ok(relying_parties::list(&open(dir)?)?)
}

/// The global admin token, created with the other secrets on first use (works while the
/// server runs: the secrets are sealed files, not in the database).
pub fn admin_token(dir: &Path, kek: &Kek) -> Result<Zeroizing<String>, ServerError> {
    Ok(Zeroizing::new(KeyRing::open(dir, kek)?.admin_token().to_owned()))
}

/// Makes a new server signing key current and audits it (`key_rotated`, under the new key);
/// phones follow it through the rotation statement signed by the old key (PROTOCOL.md §6.4).
/// Needs the server stopped (it opens the store); the next start uses the new key.
pub fn rotate_signing_key(dir: &Path, kek: &Kek) -> Result<RotationStatement, ServerError> {
    let store = open(dir)?;
    let statement = KeyRing::rotate(dir, kek)?;
    // Recorded under the new key, which also signs the audit head from now on.
    let audit = audit::Audit::open(store.clone(), KeyRing::open(dir, kek)?.signing_key())?;
    audit.append(
        Entry::new(AuditKind::KeyRotated, "admin:global").detail(format!(
            "signing key {} replaced by {}",
            statement.old_key.key_id(),
            statement.new_key.key_id()
        )),
        SystemClock.now(),
    )?;
    store.flush_blocking()?;
    Ok(statement)
}

/// Checks the whole audit log against every key the server has had. Needs the server stopped.
pub fn verify_audit(dir: &Path, kek: &Kek) -> Result<VerifyReport, ServerError> {
    let ring = KeyRing::open(dir, kek)?;
    let store = open(dir)?;
    Ok(audit::verify(&store, &ring.public_keys())?)
}

/// The devices of one tenant (of one user, if given) in `state`, if given.
pub fn list_devices(app: &App, tenant: &str, user: Option<&str>, state: Option<DeviceState>) -> DeviceList {
    let source = match user {
        Some(u) => app.devices.of_user(tenant, u),
        None => app.devices.all().into_iter().filter(|d| d.tenant == tenant).collect(),
    };
    device_list(app, source, state)
}

/// Every tenant's devices (the global administrator).
pub fn list_all_devices(app: &App, state: Option<DeviceState>) -> DeviceList {
    device_list(app, app.devices.all(), state)
}

fn device_list(
    app: &App,
    source: Vec<std::sync::Arc<crate::devices::DeviceEntry>>,
    state: Option<DeviceState>,
) -> DeviceList {
    let now = app.now();
    let mut devices: Vec<_> =
        source.iter().map(|d| d.record().info(now)).filter(|i| state.is_none_or(|s| i.state == s)).collect();
    devices.sort_by(|a, b| (a.created_at, a.device_id.as_str()).cmp(&(b.created_at, b.device_id.as_str())));
    DeviceList { devices }
}

/// `POST /v1/admin/tenants/{tenant}/users/{user}/otp-unlock`: clears the user's count of
/// wrong QR one-time passwords.
pub async fn unlock_otp(
    app: &App,
    scope: &AdminScope,
    tenant: &str,
    user: &str,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    if !scope.reaches(tenant) {
        return Err(ServiceError::not_found("user"));
    }
    crate::service::pin::reset_otp_failures(app, tenant, user)?.ok_or_else(|| ServiceError::not_found("user"))?;
    app.record(
        Entry::new(AuditKind::DeviceUnblocked, scope.actor())
            .tenant(tenant)
            .user(user)
            .ip(ip)
            .detail("QR one-time passwords unlocked"),
    )?;
    app.store.flush().await?;
    Ok(())
}

/// What an administrator does to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceAction {
    /// Blocked → active, counter 0.
    Unblock,
    /// Inactive → active, `last_used_at = now`.
    Reactivate,
    /// Deleted, its secret destroyed.
    Revoke,
}

/// `POST /v1/admin/devices/{id}/{unblock|reactivate|revoke}`.
pub async fn device_action(
    app: &App,
    scope: &AdminScope,
    id: &DeviceId,
    action: DeviceAction,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    let device =
        app.devices.get(id).filter(|d| scope.reaches(&d.tenant)).ok_or_else(|| ServiceError::not_found("device"))?;
    let actor = scope.actor();
    let now = app.now();
    match action {
        DeviceAction::Unblock => {
            device.update(&*app.store, |r| {
                r.blocked = false;
                r.pin_failures = 0;
            })?;
            app.record(
                Entry::new(AuditKind::DeviceUnblocked, &*actor)
                    .tenant(&device.tenant)
                    .user(&device.user)
                    .device(id)
                    .ip(ip),
            )?;
        }
        DeviceAction::Reactivate => {
            device.update(&*app.store, |r| {
                r.last_used_at = now;
                r.inactive_noted = false;
            })?;
            app.record(
                Entry::new(AuditKind::DeviceUnblocked, &*actor)
                    .tenant(&device.tenant)
                    .user(&device.user)
                    .device(id)
                    .ip(ip)
                    .detail("reactivated"),
            )?;
        }
        DeviceAction::Revoke => {
            return crate::phone::remove_device(app, &device, AuditKind::DeviceRevoked, &actor, ip).await;
        }
    }
    app.store.flush().await?;
    Ok(())
}
