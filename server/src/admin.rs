//! Administration: the offline commands of the binary (users, relying parties, admin token)
//! and the administrator's HTTP operations on devices.

use std::path::Path;

use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::{DeviceList, DeviceState};
use nyckel_protocol::DeviceId;
use zeroize::Zeroizing;

use crate::api_error::ApiError;
use crate::app::App;
use crate::audit::Entry;
use crate::clock::{Clock, SystemClock};
use crate::relying_parties::{self, RelyingParty};
use crate::store::Store;
use crate::users::{self, UserRecord};
use crate::{files, ServerError};

fn open(dir: &Path) -> Result<Store, ServerError> {
    files::ensure_dir(dir)?;
    Ok(Store::open(dir)?)
}

/// Adds a user (Argon2id hash, password policy enforced). Needs the server stopped.
pub fn add_user(dir: &Path, name: &str, password: &str) -> Result<UserRecord, ServerError> {
    let store = open(dir)?;
    let now = SystemClock.now();
    let record = users::add(&store, name, password, now)?;
    store.flush_blocking()?;
    Ok(record)
}

/// Adds users sharing one precomputed Argon2id hash (benchmarks, bulk import).
pub fn add_users_with_hash(dir: &Path, names: &[String], password_hash: &str) -> Result<(), ServerError> {
    let store = open(dir)?;
    let now = SystemClock.now();
    for name in names {
        users::add_with_hash(&store, name, password_hash.to_owned(), now)?;
    }
    store.flush_blocking()?;
    Ok(())
}

/// Every user. Needs the server stopped.
pub fn list_users(dir: &Path) -> Result<Vec<UserRecord>, ServerError> {
    Ok(users::list(&open(dir)?)?)
}

/// Disables a user. Needs the server stopped.
pub fn disable_user(dir: &Path, name: &str) -> Result<(), ServerError> {
    let store = open(dir)?;
    users::disable(&store, name)?;
    store.flush_blocking()?;
    Ok(())
}

/// Adds a relying party and returns its API key. Needs the server stopped.
pub fn add_relying_party(dir: &Path, name: &str) -> Result<Zeroizing<String>, ServerError> {
    let store = open(dir)?;
    let key = relying_parties::add(&store, name, SystemClock.now())?;
    store.flush_blocking()?;
    Ok(Zeroizing::new(key))
}

/// Every relying party. Needs the server stopped.
pub fn list_relying_parties(dir: &Path) -> Result<Vec<RelyingParty>, ServerError> {
    Ok(relying_parties::list(&open(dir)?)?)
}

/// The admin token, created on first use (works while the server runs: it is a file).
pub fn admin_token(dir: &Path) -> Result<Zeroizing<String>, ServerError> {
    Ok(files::admin_token(dir)?)
}

/// `GET /v1/admin/devices?user=&state=`.
pub fn list_devices(app: &App, user: Option<&str>, state: Option<DeviceState>) -> DeviceList {
    let now = app.now();
    let source = match user {
        Some(u) => app.devices.of_user(u),
        None => app.devices.all(),
    };
    let mut devices: Vec<_> =
        source.iter().map(|d| d.record().info(now)).filter(|i| state.is_none_or(|s| i.state == s)).collect();
    devices.sort_by(|a, b| (a.created_at, a.device_id.as_str()).cmp(&(b.created_at, b.device_id.as_str())));
    DeviceList { devices }
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
pub async fn device_action(app: &App, id: &DeviceId, action: DeviceAction, ip: Option<&str>) -> Result<(), ApiError> {
    let device = app.devices.get(id).ok_or_else(|| ApiError::not_found("device"))?;
    let now = app.now();
    match action {
        DeviceAction::Unblock => {
            device.update(&app.store, |r| {
                r.blocked = false;
                r.pin_failures = 0;
            })?;
            app.record(Entry::new(AuditKind::DeviceUnblocked, "admin").user(&device.user).device(id).ip(ip));
        }
        DeviceAction::Reactivate => {
            device.update(&app.store, |r| {
                r.last_used_at = now;
                r.inactive_noted = false;
            })?;
            app.record(
                Entry::new(AuditKind::DeviceUnblocked, "admin")
                    .user(&device.user)
                    .device(id)
                    .ip(ip)
                    .detail("reactivated"),
            );
        }
        DeviceAction::Revoke => {
            return crate::phone::remove_device(app, &device, AuditKind::DeviceRevoked, "admin", ip).await;
        }
    }
    app.store.flush().await?;
    Ok(())
}
