//! The administrators' rules over a running server: listing devices, unblocking,
//! reactivating and revoking them, unlocking a user's QR one-time passwords.

use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::{DeviceList, DeviceState};
use nyckel_protocol::DeviceId;

use crate::audit::Entry;
use crate::model::{AdminScope, RelyingParty};
use crate::service::app::App;
use crate::service::ServiceError;

/// The devices of one tenant (of one user, if given) in `state`, if given.
pub fn list_devices(app: &App, tenant: &str, user: Option<&str>, state: Option<DeviceState>) -> DeviceList {
    let source = match user {
        Some(u) => app.devices.of_user(tenant, u),
        None => app.devices.all().into_iter().filter(|d| d.tenant == tenant).collect(),
    };
    device_list(app, source, state)
}

/// `GET /v1/admin/devices`: the devices an administrator may see, of one tenant (a tenant
/// administrator's own; another tenant is 404) or of every tenant (the global administrator
/// without a tenant), of one user and in one state if given.
pub fn devices_in_scope(
    app: &App,
    scope: &AdminScope,
    tenant: Option<String>,
    user: Option<&str>,
    state: Option<DeviceState>,
) -> Result<DeviceList, ServiceError> {
    let tenant = match (&scope.tenant, tenant) {
        (Some(own), Some(asked)) if *own != asked => return Err(ServiceError::not_found("tenant")),
        (Some(own), _) => own.clone(),
        (None, Some(asked)) => asked,
        (None, None) => return Ok(list_all_devices(app, state)),
    };
    Ok(list_devices(app, &tenant, user, state))
}

/// `GET /v1/users/{user}/devices`: a relying party's view of its tenant's user's devices
/// (another tenant's user is 404, a disabled one 403).
pub async fn user_devices(app: &App, rp: &RelyingParty, user: &str) -> Result<DeviceList, ServiceError> {
    crate::service::challenges::check_user(app, &rp.tenant, user).await?;
    Ok(list_devices(app, &rp.tenant, Some(user), None))
}

/// `DELETE /v1/users/{user}/devices/{id}`: a relying party removes a device of its tenant's
/// user; any other device is the same 404.
pub async fn remove_user_device(
    app: &App,
    rp: &RelyingParty,
    user: &str,
    id: &DeviceId,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    let device = app
        .devices
        .get(id)
        .filter(|d| d.tenant == rp.tenant && d.user == user)
        .ok_or_else(|| ServiceError::not_found("device"))?;
    let actor = format!("rp:{}", rp.name);
    crate::service::phone::remove_device(app, &device, AuditKind::DeviceRemoved, &actor, ip).await
}

/// Every tenant's devices (the global administrator).
pub fn list_all_devices(app: &App, state: Option<DeviceState>) -> DeviceList {
    device_list(app, app.devices.all(), state)
}

fn device_list(
    app: &App,
    source: Vec<std::sync::Arc<crate::live::devices::DeviceEntry>>,
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
    crate::service::pin::reset_otp_failures(app, tenant, user).await?.ok_or_else(|| ServiceError::not_found("user"))?;
    app.record(
        Entry::new(AuditKind::DeviceUnblocked, scope.actor())
            .tenant(tenant)
            .user(user)
            .ip(ip)
            .detail("QR one-time passwords unlocked"),
    )
    .await?;
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
            device
                .update(&*app.store, |r| {
                    r.blocked = false;
                    r.pin_failures = 0;
                })
                .await?;
            app.record(
                Entry::new(AuditKind::DeviceUnblocked, &*actor)
                    .tenant(&device.tenant)
                    .user(&device.user)
                    .device(id)
                    .ip(ip),
            )
            .await?;
        }
        DeviceAction::Reactivate => {
            device
                .update(&*app.store, |r| {
                    r.last_used_at = now;
                    r.inactive_noted = false;
                })
                .await?;
            app.record(
                Entry::new(AuditKind::DeviceUnblocked, &*actor)
                    .tenant(&device.tenant)
                    .user(&device.user)
                    .device(id)
                    .ip(ip)
                    .detail("reactivated"),
            )
            .await?;
        }
        DeviceAction::Revoke => {
            return crate::service::phone::remove_device(app, &device, AuditKind::DeviceRevoked, &actor, ip).await;
        }
    }
    app.store.flush().await?;
    Ok(())
}
