//! Adding a phone by a registered phone's approval, and retiring devices (PROTOCOL.md §6.5).
//!
//! A registered device makes an "add a phone" code (`start`); the new phone binds its key to
//! it and asks for approval (`request_approval`), which pushes a new-device challenge to the
//! user's registered devices; once one approves it with its PIN, the new phone's long poll
//! (`result`) completes its own enrollment. Nothing of the approving device's is handed over.

use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::display::{NumberMatch, NumberMatchMode};
use nyckel_protocol::enrollment::{device_fingerprint, EnrollmentStarted};
use nyckel_protocol::new_device::{
    ApprovalRequested, ApprovalState, EnrollmentResult, EnrollmentResultRequest, RetireDevice, StartDeviceEnrollment,
};
use nyckel_protocol::policy::{clamp_ttl, clamp_wait, REQUEST_TIMESTAMP_WINDOW};
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::DeviceList;
use nyckel_protocol::{
    ChallengeState, CompleteEnrollment, DeviceId, EnrollmentId, EnrollmentToken, ErrorCode, NewDeviceDetails,
    PinCheckOutcome,
};

use crate::audit::Entry;
use crate::live::challenges::ChallengeEntry;
use crate::live::devices::DeviceEntry;
use crate::live::enrollments::EnrollmentEntry;
use crate::nonces::NonceCheck;
use crate::service::app::App;
use crate::service::challenges::{
    active_devices, check_user, check_user_limits, random_ids, settle_expiry, ChallengeKind, ChallengeRecord, Target,
};
use crate::service::enrollments::EnrollmentRecord;
use crate::service::enrollments::{
    check_code, check_token, enroll_device, failed, refuse_unless_pending, ApprovalRecord, Enroll,
};
use crate::service::phone::rejected;
use crate::service::pin;
use crate::service::tenants;
use crate::service::ServiceError;
use crate::store::{update_with, Change};

/// `POST /v1/device/enrollments` (signed): an "add a phone" code for the calling device's user.
pub async fn start(
    app: &App,
    device: &DeviceEntry,
    req: StartDeviceEnrollment,
    ip: Option<&str>,
) -> Result<EnrollmentStarted, ServiceError> {
    req.validate().map_err(|e| ServiceError::new(ErrorCode::InvalidDisplay, e.to_string()))?;
    check_user(app, &device.tenant, &device.user).await?;
    let now = app.now();
    let id = EnrollmentId::random().map_err(|e| ServiceError::internal(&e))?;
    let token = EnrollmentToken::random().map_err(|e| ServiceError::internal(&e))?;
    let record = EnrollmentRecord {
        id: id.clone(),
        tenant: device.tenant.clone(),
        // No relying party: every relying party's look-up of it is 404.
        rp: String::new(),
        user: device.user.clone(),
        device_name: req.device_name,
        token: Some(token),
        created_at: now,
        expires_at: now + app.enrollment_ttl,
        device_id: None,
        platform: None,
        fingerprint: None,
        token_failures: 0,
        cancelled: false,
        origin_device: Some(device.id.clone()),
        approval: None,
        receipt: None,
    };
    let qr = record
        .qr(&app.public_url, app.server_key)
        .ok_or_else(|| ServiceError::internal(&"fresh enrollment without token"))?
        .to_uri();
    app.store.enrollments().put(id.as_str().as_bytes(), &record).await?;
    let expires_at = record.expires_at;
    let name = record.device_name.clone();
    app.enrollments.insert(id.clone(), EnrollmentEntry::new(record));
    app.record(
        Entry::new(AuditKind::EnrollmentStarted, "device")
            .tenant(&device.tenant)
            .user(&device.user)
            .device(&device.id)
            .ip(ip)
            .detail(format!("add-a-phone code for a new device named {name:?}")),
    )
    .await?;
    Ok(EnrollmentStarted { enrollment_id: id, qr, expires_at })
}

async fn entry_of(app: &App, id: &EnrollmentId) -> Result<Arc<EnrollmentEntry>, ServiceError> {
    app.enrollments.get(&*app.store, id).await?.ok_or_else(|| ServiceError::not_found("enrollment"))
}

/// `POST /v1/enroll/approval` (the new phone; the code's token authorises): binds the new
/// device's key and key share to the code and pushes a new-device challenge to the user's
/// active devices. The code is used up by this, whatever comes of the approval.
pub async fn request_approval(
    app: &App,
    req: CompleteEnrollment,
    ip: Option<&str>,
) -> Result<ApprovalRequested, ServiceError> {
    let entry = entry_of(app, &req.enrollment_id).await?;
    let now = app.now();
    let response = {
        let mut record = entry.record.lock().await;
        refuse_unless_pending(app, &record, now, ip).await?;
        if record.approval.is_some() {
            failed(app, &record, ip, "reused").await?;
            return Err(ServiceError::new(
                ErrorCode::EnrollmentUsed,
                "a phone already asked for approval with this code",
            ));
        }
        check_code(app, &mut record, &req, ip).await?;
        let Some(origin) = record.origin_device.clone() else {
            return Err(ServiceError::new(
                ErrorCode::ApprovalRequired,
                "this code registers a phone without approval: POST /v1/enroll",
            ));
        };
        check_user(app, &record.tenant, &record.user).await?;
        let devices = active_devices(app, &record.tenant, &record.user, now);
        if devices.is_empty() {
            return Err(ServiceError::new(ErrorCode::NoDevice, "the user has no active device to approve the new one"));
        }
        check_user_limits(app, &record.tenant, &record.user, true, now)?;
        let organisation = tenants::get(&*app.store, &record.tenant)
            .await?
            .ok_or_else(|| ServiceError::internal(&format!("enrollment of unknown tenant {}", record.tenant)))?
            .display_name;
        let details = NewDeviceDetails {
            name: record.device_name.clone(),
            platform: req.platform.clone(),
            fingerprint: device_fingerprint(&req.device_public_key),
        };
        let display = details.display(&organisation);
        display.validate().map_err(|e| ServiceError::new(ErrorCode::InvalidDisplay, e.to_string()))?;
        let number = NumberMatch::generate(NumberMatchMode::Type)
            .map_err(|e| ServiceError::internal(&e))?
            .ok_or_else(|| ServiceError::internal(&"typed number matching gave no number"))?;
        let (id, nonce) = random_ids()?;
        let expires_at = now + clamp_ttl(None);
        let mut challenge = ChallengeRecord {
            id: id.clone(),
            kind: ChallengeKind::NewDevice,
            tenant: record.tenant.clone(),
            rp: String::new(),
            user: record.user.clone(),
            nonce,
            created_at: now,
            expires_at,
            display,
            number: Some(number.number.clone()),
            targets: Vec::with_capacity(devices.len()),
            state: ChallengeState::Pending,
            device_id: None,
            answered_at: None,
            otp_attempts: 0,
        };
        for device in &devices {
            let signed = challenge.push_for(&device.id).sign(&app.key);
            challenge.targets.push(Target { device_id: device.id.clone(), signature: signed.signature });
        }
        // One approval per code, decided by one atomic update of the stored enrollment; the
        // code's lifetime stretches to the approval's, so the new phone can collect it.
        let approval = ApprovalRecord { challenge_id: id.clone(), request: req.clone() };
        let bound = update_with(app.store.enrollments(), record.id.as_str().as_bytes(), |stored| {
            if stored.approval.is_some() || stored.device_id.is_some() {
                return (Change::Keep, false);
            }
            stored.approval = Some(approval.clone());
            stored.expires_at = stored.expires_at.max(expires_at);
            (Change::Write, true)
        })
        .await?;
        match bound {
            Some((stored, true)) => *record = stored,
            Some((stored, false)) => {
                *record = stored;
                failed(app, &record, ip, "reused").await?;
                return Err(ServiceError::new(
                    ErrorCode::EnrollmentUsed,
                    "a phone already asked for approval with this code",
                ));
            }
            None => return Err(ServiceError::internal(&format!("enrollment {} is not stored", record.id))),
        }
        // Stored after the code is bound to it, so a refused second request leaves no push behind.
        app.store.challenges().put(id.as_str().as_bytes(), &challenge).await?;
        app.metrics.challenge_created(true);
        let challenge_entry = ChallengeEntry::new(challenge);
        app.challenges.insert(challenge_entry.clone(), id.clone());
        for device in &devices {
            device.deliver(challenge_entry.clone());
        }
        app.record(
            Entry::new(AuditKind::ChallengeCreated, "device")
                .tenant(&record.tenant)
                .user(&record.user)
                .challenge(&id)
                .ip(ip)
                .detail(format!(
                    "new device registration: {:?}, {:?}, fingerprint {}; push to {} device(s); code of device {origin}",
                    details.name,
                    details.platform,
                    details.fingerprint,
                    devices.len()
                )),
        ).await?;
        ApprovalRequested {
            enrollment_id: record.id.clone(),
            number: number.number,
            fingerprint: details.fingerprint,
            expires_at,
            devices: u32::try_from(devices.len()).unwrap_or(u32::MAX),
        }
    };
    app.store.flush().await?;
    Ok(response)
}

/// `POST /v1/enroll/result` (the new phone's long poll; the token authorises): the approval's
/// state, and on approval the new device's own registration (its own `S`, agreed with the key
/// share it sent; the approving device's secrets are never involved).
pub async fn result(
    app: &App,
    req: EnrollmentResultRequest,
    ip: Option<&str>,
) -> Result<EnrollmentResult, ServiceError> {
    let entry = entry_of(app, &req.enrollment_id).await?;
    let challenge_id = {
        let mut record = entry.record.lock().await;
        if record.cancelled {
            return Err(ServiceError::new(ErrorCode::EnrollmentExpired, "the enrollment code was cancelled"));
        }
        check_token(app, &mut record, &req.token, ip).await?;
        match &record.approval {
            Some(approval) => approval.challenge_id.clone(),
            None => {
                return Err(ServiceError::new(ErrorCode::ApprovalRequired, "no approval was asked with this code yet"))
            }
        }
    };
    let challenge = app
        .challenges
        .get(&*app.store, &challenge_id)
        .await?
        .ok_or_else(|| ServiceError::internal(&format!("approval challenge {challenge_id} is gone")))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(clamp_wait(req.wait));
    let mut stopping = app.shutdown_signal();
    let mut rx = challenge.subscribe();
    loop {
        let now = app.now();
        match settle_expiry(app, &challenge, now).await? {
            ChallengeState::Approved => return complete(app, &entry, &challenge, ip).await,
            ChallengeState::Expired => {
                return Err(ServiceError::new(
                    ErrorCode::EnrollmentExpired,
                    "no registered device approved the new phone in time",
                ))
            }
            ChallengeState::Denied | ChallengeState::Fraud | ChallengeState::Blocked => {
                return Err(ServiceError::new(
                    ErrorCode::EnrollmentDenied,
                    "a registered device refused to add this phone",
                ))
            }
            ChallengeState::Pending => {}
        }
        let expires_at = challenge.record().expires_at;
        if tokio::time::Instant::now() >= deadline || *stopping.borrow() {
            return Ok(EnrollmentResult { state: ApprovalState::AwaitingApproval, expires_at, receipt: None });
        }
        let wake =
            deadline.min(tokio::time::Instant::now() + Duration::from_secs(expires_at.saturating_sub(now).max(1)));
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return Ok(EnrollmentResult { state: ApprovalState::AwaitingApproval, expires_at, receipt: None });
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Registers the approved new device once (later calls get the same receipt).
async fn complete(
    app: &App,
    entry: &EnrollmentEntry,
    challenge: &ChallengeEntry,
    ip: Option<&str>,
) -> Result<EnrollmentResult, ServiceError> {
    let decided = challenge.record();
    let now = app.now();
    let approver = decided.device_id.as_ref().map_or_else(|| "?".to_owned(), DeviceId::to_string);
    let record = entry.record.lock().await;
    let decision = match record.receipt.clone() {
        Some(receipt) => Enroll::Done(receipt),
        None => {
            let request = record
                .approval
                .as_ref()
                .map(|a| a.request.clone())
                .ok_or_else(|| ServiceError::internal(&"approved enrollment without a request"))?;
            let detail = format!("platform {}; added with the approval of device {approver}", request.platform);
            Enroll::Register { request, detail, challenge: Some(decided.id.clone()) }
        }
    };
    let receipt = enroll_device(app, entry, record, now, ip, decision).await?;
    Ok(EnrollmentResult { state: ApprovalState::Approved, expires_at: decided.expires_at, receipt: Some(receipt) })
}

/// `GET /v1/device/devices` (signed): the devices of the caller's user, the caller included.
pub fn user_devices(app: &App, device: &DeviceEntry) -> DeviceList {
    crate::service::admin::list_devices(app, &device.tenant, Some(&device.user), None)
}

/// `POST /v1/device/devices/{id}/retire` (signed, PIN-MACed): retires a device of the caller's
/// user (another one, or itself). The MAC is judged like an approval, so a thief holding an
/// unlocked phone cannot retire the owner's other devices without the PIN, and wrong guesses
/// count towards blocking. Another user's or tenant's device is 404.
pub async fn retire(
    app: &App,
    device: &DeviceEntry,
    target: &DeviceId,
    req: RetireDevice,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    let target = app
        .devices
        .get(target)
        .filter(|t| t.tenant == device.tenant && t.user == device.user)
        .ok_or_else(|| ServiceError::not_found("device"))?;
    let now = app.now();
    if req.timestamp.abs_diff(now) > REQUEST_TIMESTAMP_WINDOW {
        rejected(app, Some(device), ip, "stale retirement").await?;
        return Err(ServiceError::stale(now, "retirement timestamp outside the window"));
    }
    match device.offer_nonce(&*app.store, req.nonce.0, now).await? {
        NonceCheck::Fresh => {}
        NonceCheck::Replayed => {
            rejected(app, Some(device), ip, "replayed retirement").await?;
            return Err(ServiceError::new(ErrorCode::ReplayedRequest, "retirement nonce already used"));
        }
        NonceCheck::Full => return Err(ServiceError::new(ErrorCode::RateLimited, "too many signed requests")),
    }
    pin::require_right(app, device, now, ip, "retirement", |s| {
        req.check(&device.id, &target.id, s, now) == PinCheckOutcome::Correct
    })
    .await?;
    app.store.devices().remove(target.id.as_str().as_bytes()).await?;
    app.devices.remove(&target.id);
    let detail = if target.id == device.id {
        "retired itself (with the PIN)".to_owned()
    } else {
        format!("retired by device {} of the same user (with its PIN)", device.id)
    };
    app.record(
        Entry::new(AuditKind::DeviceRemoved, "device")
            .tenant(&target.tenant)
            .user(&target.user)
            .device(&target.id)
            .ip(ip)
            .detail(detail),
    )
    .await?;
    app.store.flush().await?;
    Ok(())
}
