//! Enrollment: the one-time code a relying party starts, the phone's completion, and the
//! starter's long poll for "registered yet".

pub use crate::model::{ApprovalRecord, EnrollmentRecord};
use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::enrollment::{
    device_fingerprint, EnrollmentError, EnrollmentStarted, EnrollmentState, EnrollmentStatus, StartEnrollment,
};
use nyckel_protocol::policy::clamp_wait;
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::{CompleteEnrollment, DeviceId, EnrollmentId, EnrollmentReceipt, EnrollmentToken, ErrorCode};

use crate::audit::Entry;
use crate::live::devices::DeviceEntry;
use crate::live::enrollments::EnrollmentEntry;
use crate::model::DeviceRecord;
use crate::service::app::App;
use crate::service::relying_parties::RelyingParty;
use crate::service::tenants;
use crate::service::ServiceError;
use crate::store::Change;

/// Default lifetime of an enrollment code: five minutes, as the issue asks.
pub const DEFAULT_ENROLLMENT_TTL: u64 = nyckel_protocol::policy::ENROLLMENT_TTL;
/// Wrong tokens after which an enrollment is cancelled (PROTOCOL.md §6.1).
pub const MAX_TOKEN_FAILURES: u32 = 5;

/// An enrollment the relying party started; anything else is the same 404.
async fn owned(app: &App, rp: &RelyingParty, id: &EnrollmentId) -> Result<Arc<EnrollmentEntry>, ServiceError> {
    let entry = app.enrollments.get(&*app.store, id).await?.ok_or_else(|| ServiceError::not_found("enrollment"))?;
    let mine = {
        let r = entry.record.lock().await;
        r.tenant == rp.tenant && r.rp == rp.name && r.origin_device.is_none()
    };
    if !mine {
        return Err(ServiceError::not_found("enrollment"));
    }
    Ok(entry)
}

/// `POST /v1/enrollments`.
pub async fn start(
    app: &App,
    rp: &RelyingParty,
    req: StartEnrollment,
    ip: Option<&str>,
) -> Result<EnrollmentStarted, ServiceError> {
    req.validate().map_err(|e| ServiceError::new(ErrorCode::InvalidDisplay, e.to_string()))?;
    crate::service::challenges::check_user(app, &rp.tenant, &req.user).await?;
    let now = app.now();
    let id = EnrollmentId::random().map_err(|e| ServiceError::internal(&e))?;
    let token = EnrollmentToken::random().map_err(|e| ServiceError::internal(&e))?;
    let record = EnrollmentRecord {
        id: id.clone(),
        tenant: rp.tenant.clone(),
        rp: rp.name.clone(),
        user: req.user.clone(),
        device_name: req.device_name,
        token: Some(token),
        created_at: now,
        expires_at: now + app.enrollment_ttl,
        device_id: None,
        platform: None,
        fingerprint: None,
        token_failures: 0,
        cancelled: false,
        origin_device: None,
        approval: None,
        receipt: None,
    };
    let qr = record
        .qr(&app.public_url, app.server_key)
        .ok_or_else(|| ServiceError::internal(&"fresh enrollment without token"))?
        .to_uri();
    app.store.enrollments().put(id.as_str().as_bytes(), &record).await?;
    let expires_at = record.expires_at;
    app.enrollments.insert(id.clone(), EnrollmentEntry::new(record));
    app.record(
        Entry::new(AuditKind::EnrollmentStarted, format!("rp:{}", rp.name)).tenant(&rp.tenant).user(&req.user).ip(ip),
    )
    .await?;
    Ok(EnrollmentStarted { enrollment_id: id, qr, expires_at })
}

/// The `nyckel://enroll` URI of a pending enrollment (for the PNG and SVG renderings).
pub async fn qr_uri(app: &App, rp: &RelyingParty, id: &EnrollmentId) -> Result<String, ServiceError> {
    let entry = owned(app, rp, id).await?;
    let record = entry.record.lock().await.clone();
    match record.state(app.now()) {
        EnrollmentState::Pending => record
            .qr(&app.public_url, app.server_key)
            .map(|qr| qr.to_uri())
            .ok_or_else(|| ServiceError::not_found("enrollment code")),
        EnrollmentState::Completed => Err(ServiceError::new(ErrorCode::EnrollmentUsed, "the enrollment was completed")),
        EnrollmentState::Expired => Err(ServiceError::new(ErrorCode::EnrollmentExpired, "the enrollment code expired")),
    }
}

/// `GET /v1/enrollments/{id}?wait=N`: at once unless pending; else on completion or after the wait.
pub async fn watch_status(
    app: &App,
    rp: &RelyingParty,
    id: &EnrollmentId,
    wait: Option<u64>,
) -> Result<EnrollmentStatus, ServiceError> {
    let entry = owned(app, rp, id).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(clamp_wait(wait));
    let mut stopping = app.shutdown_signal();
    let mut rx = entry.changed.subscribe();
    loop {
        let now = app.now();
        let record = entry.record.lock().await.clone();
        let status = record.status(now);
        if status.state != EnrollmentState::Pending || tokio::time::Instant::now() >= deadline || *stopping.borrow() {
            return Ok(status);
        }
        let until_expiry = Duration::from_secs(record.expires_at.saturating_sub(now).max(1));
        let wake = deadline.min(tokio::time::Instant::now() + until_expiry);
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return Ok(entry.record.lock().await.status(app.now()));
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// Audits a refused completion. Only wrong tokens get an event each (at most
/// [`MAX_TOKEN_FAILURES`] per enrollment); the rest — expired, reused, a relayed URL, a bad
/// proof — can be repeated without limit by whoever holds the code, so they are aggregated.
pub(crate) async fn failed(
    app: &App,
    record: &EnrollmentRecord,
    ip: Option<&str>,
    why: &str,
) -> Result<(), ServiceError> {
    if why != "bad token" {
        return app
            .audit
            .note_unauthenticated(AuditKind::EnrollmentFailed, ip, app.now())
            .await
            .map_err(|e| ServiceError::internal(&e));
    }
    app.record(
        Entry::new(AuditKind::EnrollmentFailed, "device").tenant(&record.tenant).user(&record.user).ip(ip).detail(why),
    )
    .await
}

/// Refuses (and audits) a completion of an enrollment that was already completed or expired.
pub(crate) async fn refuse_unless_pending(
    app: &App,
    record: &EnrollmentRecord,
    now: u64,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    match record.state(now) {
        EnrollmentState::Completed => {
            failed(app, record, ip, "reused").await?;
            Err(ServiceError::new(ErrorCode::EnrollmentUsed, "the enrollment was already completed"))
        }
        EnrollmentState::Expired => {
            failed(app, record, ip, "expired").await?;
            Err(ServiceError::new(ErrorCode::EnrollmentExpired, "the enrollment code expired"))
        }
        EnrollmentState::Pending => Ok(()),
    }
}

/// `POST /v1/enroll` (PROTOCOL.md §6.1 step 3).
pub async fn complete(app: &App, req: CompleteEnrollment, ip: Option<&str>) -> Result<EnrollmentReceipt, ServiceError> {
    let entry = app
        .enrollments
        .get(&*app.store, &req.enrollment_id)
        .await?
        .ok_or_else(|| ServiceError::not_found("enrollment"))?;
    let now = app.now();
    // The store completes an enrollment once, so two phones racing with the same code cannot
    // both register; the checks run under the entry's lock so they see one another's counts.
    let mut record = entry.record.lock().await;
    refuse_unless_pending(app, &record, now, ip).await?;
    check_code(app, &mut record, &req, ip).await?;
    if record.origin_device.is_some() {
        return Err(ServiceError::new(
            ErrorCode::ApprovalRequired,
            "this code adds a phone and needs the approval of a registered one: POST /v1/enroll/approval",
        ));
    }
    let detail = format!("platform {}", req.platform);
    enroll_device(app, &entry, record, now, ip, Enroll::Register { request: req, detail, challenge: None }).await
}

/// What the checks before [`enroll_device`] decided.
pub(crate) enum Enroll {
    /// Register the device of this verified request, audited with `detail` (and the approval
    /// challenge, if any).
    Register {
        /// The request.
        request: CompleteEnrollment,
        /// The audit event's detail.
        detail: String,
        /// The new-device challenge that approved it.
        challenge: Option<nyckel_protocol::ChallengeId>,
    },
    /// Registered before: this receipt again.
    Done(EnrollmentReceipt),
}

/// The one way an enrollment ends in a device, for codes used directly and for approved new
/// phones: the caller checks under the enrollment's lock (`record`, held until the device is
/// registered) and decides; then the device is registered ([`register_device`], completed
/// once by the store), audited, made durable, put in the registry, and the starter's long
/// poll is woken.
pub(crate) async fn enroll_device(
    app: &App,
    entry: &EnrollmentEntry,
    mut record: tokio::sync::MutexGuard<'_, EnrollmentRecord>,
    now: u64,
    ip: Option<&str>,
    decision: Enroll,
) -> Result<EnrollmentReceipt, ServiceError> {
    let (receipt, device) = {
        let (request, detail, challenge) = match decision {
            Enroll::Done(receipt) => return Ok(receipt),
            Enroll::Register { request, detail, challenge } => (request, detail, challenge),
        };
        let (receipt, device) = register_device(app, &mut record, &request, now).await?;
        let event = Entry::new(AuditKind::DeviceEnrolled, "device")
            .tenant(&record.tenant)
            .user(&record.user)
            .device(&device.device_id)
            .ip(ip)
            .detail(detail);
        app.record(match &challenge {
            Some(id) => event.challenge(id),
            None => event,
        })
        .await?;
        drop(record);
        (receipt, device)
    };
    // Durable before the phone is told it is registered.
    app.store.flush().await?;
    app.devices.insert(DeviceEntry::new(device));
    entry.changed.send_replace(());
    Ok(receipt)
}

/// The checks of a code's use by a phone (PROTOCOL.md §6.1 step 3): the token (a wrong one is
/// counted; the fifth cancels the enrollment), then the proof of possession and the server URL.
/// The caller holds the entry's lock and has checked the state.
pub(crate) async fn check_code(
    app: &App,
    record: &mut EnrollmentRecord,
    req: &CompleteEnrollment,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    check_token(app, record, &req.token, ip).await?;
    match req.verify_proof(&app.server_key, &app.public_url) {
        Ok(()) => Ok(()),
        Err(EnrollmentError::WrongServer) => {
            // The phone was shown another URL than this server's: a relay in the middle.
            failed(app, record, ip, &format!("completed for another server URL {:?}", req.server_url)).await?;
            Err(ServiceError::new(
                ErrorCode::WrongServer,
                "the enrollment code the phone scanned names another server; it may have been relayed",
            ))
        }
        Err(_) => {
            failed(app, record, ip, "bad proof of possession").await?;
            Err(ServiceError::new(ErrorCode::BadSignature, "the proof of key possession does not verify"))
        }
    }
}

/// The token check alone, counted like [`check_code`]'s.
pub(crate) async fn check_token(
    app: &App,
    record: &mut EnrollmentRecord,
    token: &EnrollmentToken,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    if record.token.as_ref().is_some_and(|t| t.matches(token)) {
        return Ok(());
    }
    let count = |r: &mut EnrollmentRecord| {
        r.token_failures = r.token_failures.saturating_add(1);
        if r.token_failures >= MAX_TOKEN_FAILURES {
            r.cancelled = true;
            r.token = None;
        }
    };
    // One atomic count in the store; this process's copy follows it.
    let stored = app
        .store
        .enrollments()
        .update(record.id.as_str().as_bytes(), &mut |r| {
            count(r);
            Change::Write
        })
        .await?;
    match stored {
        Some(stored) => *record = stored,
        None => count(record),
    }
    failed(app, record, ip, "bad token").await?;
    Err(ServiceError::new(ErrorCode::BadToken, "wrong enrollment token"))
}

/// Creates the device of a verified request: agrees `S` over the transcript, stores the
/// device with `S` sealed and the enrollment as completed (the caller audits, flushes and
/// then puts the device in the registry). Returns the receipt and the device.
pub(crate) async fn register_device(
    app: &App,
    record: &mut EnrollmentRecord,
    req: &CompleteEnrollment,
    now: u64,
) -> Result<(EnrollmentReceipt, DeviceRecord), ServiceError> {
    let organisation = tenants::get(&*app.store, &record.tenant)
        .await?
        .ok_or_else(|| ServiceError::internal(&format!("enrollment of unknown tenant {}", record.tenant)))?
        .display_name;
    let device_id = DeviceId::random().map_err(|e| ServiceError::internal(&e))?;
    let (receipt, secret) = EnrollmentReceipt::issue(
        req,
        device_id.clone(),
        record.user.clone(),
        organisation,
        record.device_name.clone(),
        now,
        &app.key,
    )
    .map_err(|e| ServiceError::internal(&e))?;
    let device = DeviceRecord {
        device_id: device_id.clone(),
        tenant: record.tenant.clone(),
        user: record.user.clone(),
        name: record.device_name.clone(),
        platform: req.platform.clone(),
        public_key: req.device_public_key,
        sealed_secret: app.sealer.seal(&device_id, &secret)?,
        pending_secret: None,
        created_at: now,
        last_used_at: now,
        pin_failures: 0,
        blocked: false,
        inactive_noted: false,
    };
    let mut next = record.clone();
    next.device_id = Some(device_id.clone());
    next.platform = Some(req.platform.clone());
    next.fingerprint = Some(device_fingerprint(&req.device_public_key));
    // An approved enrollment keeps its token until it expires, so the new phone can fetch the
    // receipt again; the receipt is of use only with the phone's own X25519 key.
    if next.origin_device.is_none() {
        next.token = None;
    } else {
        next.receipt = Some(receipt.clone());
    }
    if !app.store.complete_enrollment(&next, &device).await? {
        return Err(ServiceError::new(ErrorCode::EnrollmentUsed, "the enrollment was already completed"));
    }
    *record = next;
    Ok((receipt, device))
}
