//! The challenge rules: the relying-party operations (create push / QR, watch the state,
//! verify a one-time password), expiry, the per-user limits, and deciding a challenge once.

pub use crate::model::{ChallengeKind, ChallengeRecord, Target};
use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::display::NumberMatch;
use nyckel_protocol::policy::{clamp_ttl, clamp_wait};
use nyckel_protocol::qr::OtpQr;
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::wire::relying_party::{
    ChallengeStatus, CreatePushChallenge, CreateQrChallenge, PushChallengeCreated, QrChallengeCreated,
};
use nyckel_protocol::{
    qr_otp, qr_otp::OtpVerdict, ChallengeDisplay, ChallengeId, ChallengeState, DeviceId, DisplayContext, ErrorCode,
    Nonce, Otp, OtpKind,
};

use crate::audit::Entry;
use crate::live::challenges::{ChallengeEntry, Decided};
use crate::live::devices::DeviceEntry;
use crate::service::app::App;
use crate::service::pin;
use crate::service::relying_parties::RelyingParty;
use crate::service::users;
use crate::service::ServiceError;

/// Open (pending, unexpired) challenges one user may have at a time.
pub const MAX_OPEN_CHALLENGES_PER_USER: usize = 10;
/// Push challenges one user may be sent per minute.
pub const MAX_PUSHES_PER_USER_PER_MINUTE: usize = 10;
/// Wrong one-time passwords one QR challenge takes before it is denied.
pub const MAX_OTP_ATTEMPTS_PER_CHALLENGE: u32 = 3;
/// Consecutive wrong one-time passwords (PIN wrong, question right) after which a user's QR
/// one-time passwords are locked until an administrator unlocks them; push is unaffected.
pub use crate::service::pin::MAX_OTP_FAILURES_PER_USER;

/// Makes an overdue pending challenge `expired` (persisted, audited). Returns its state.
pub async fn settle_expiry(app: &App, entry: &ChallengeEntry, now: u64) -> Result<ChallengeState, ServiceError> {
    let (state, just_expired) = entry.expire_if_due(&*app.store, now).await?;
    if let Some(record) = just_expired {
        note_expired(app, &record).await?;
    }
    Ok(state)
}

/// Counts and audits a challenge that just expired (its record is stored already).
pub async fn note_expired(app: &App, record: &ChallengeRecord) -> Result<(), ServiceError> {
    app.metrics.challenge_decided(ChallengeState::Expired);
    app.record(
        Entry::new(AuditKind::ChallengeExpired, "server")
            .tenant(&record.tenant)
            .user(&record.user)
            .challenge(&record.id),
    )
    .await
}

/// A relying party's view of a challenge it created: anything else — unknown, another
/// relying party's, another tenant's — is the same 404, so nothing outside leaks.
pub async fn owned(app: &App, rp: &RelyingParty, id: &ChallengeId) -> Result<Arc<ChallengeEntry>, ServiceError> {
    let entry = app.challenges.get(&*app.store, id).await?.ok_or_else(|| ServiceError::not_found("challenge"))?;
    if !entry.created_by(&rp.tenant, &rp.name) {
        return Err(ServiceError::not_found("challenge"));
    }
    Ok(entry)
}

/// The user must exist in the tenant (404 otherwise, as for any other tenant's user) and be enabled.
pub async fn check_user(app: &App, tenant: &str, user: &str) -> Result<users::UserRecord, ServiceError> {
    match users::get(&*app.store, tenant, user).await? {
        None => Err(ServiceError::not_found("user")),
        Some(u) if u.disabled => Err(ServiceError::forbidden("the user is disabled")),
        Some(u) => Ok(u),
    }
}

pub(crate) fn active_devices(app: &App, tenant: &str, user: &str, now: u64) -> Vec<Arc<DeviceEntry>> {
    app.devices.of_user(tenant, user).into_iter().filter(|d| d.state(now) == DeviceState::Active).collect()
}

/// Refuses a new challenge for a user who already has [`MAX_OPEN_CHALLENGES_PER_USER`] open
/// ones (so a phone's inbox stays far below its poll-size limit) or, for pushes, who was sent
/// [`MAX_PUSHES_PER_USER_PER_MINUTE`] in the last minute (push fatigue).
pub(crate) fn check_user_limits(app: &App, tenant: &str, user: &str, push: bool, now: u64) -> Result<(), ServiceError> {
    let (open, recent_pushes) = app.challenges.count_for_user(tenant, user, now);
    if open >= MAX_OPEN_CHALLENGES_PER_USER {
        return Err(ServiceError::new(
            ErrorCode::TooManyChallenges,
            format!("the user already has {open} open challenges; answer or let them expire first"),
        ));
    }
    if push && recent_pushes >= MAX_PUSHES_PER_USER_PER_MINUTE {
        return Err(ServiceError::new(ErrorCode::PushThrottled, "too many pushes to this user in the last minute"));
    }
    Ok(())
}

fn invalid_display(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidDisplay, e.to_string())
}

pub(crate) fn random_ids() -> Result<(ChallengeId, Nonce), ServiceError> {
    let id = ChallengeId::random().map_err(|e| ServiceError::internal(&e))?;
    let nonce = Nonce::random().map_err(|e| ServiceError::internal(&e))?;
    Ok((id, nonce))
}

/// `POST /v1/challenges/push`.
pub async fn create_push(
    app: &App,
    rp: &RelyingParty,
    req: CreatePushChallenge,
    ip: Option<&str>,
) -> Result<PushChallengeCreated, ServiceError> {
    req.validate().map_err(invalid_display)?;
    check_user(app, &rp.tenant, &req.user).await?;
    let now = app.now();
    let devices = active_devices(app, &rp.tenant, &req.user, now);
    if devices.is_empty() {
        return Err(ServiceError::new(ErrorCode::NoDevice, "the user has no active device"));
    }
    check_user_limits(app, &rp.tenant, &req.user, true, now)?;
    let number = NumberMatch::generate(req.effective_number_matching()).map_err(|e| ServiceError::internal(&e))?;
    let display = ChallengeDisplay {
        context: req.context,
        transaction: req.transaction,
        number_match: number.as_ref().map(|n| n.prompt.clone()),
    };
    display.validate().map_err(invalid_display)?;
    let (id, nonce) = random_ids()?;
    let expires_at = now + clamp_ttl(req.ttl);
    let mut record = ChallengeRecord {
        id: id.clone(),
        kind: ChallengeKind::Push,
        tenant: rp.tenant.clone(),
        rp: rp.name.clone(),
        user: req.user.clone(),
        nonce,
        created_at: now,
        expires_at,
        display,
        number: number.as_ref().map(|n| n.number.clone()),
        targets: Vec::with_capacity(devices.len()),
        state: ChallengeState::Pending,
        device_id: None,
        answered_at: None,
        otp_attempts: 0,
    };
    for device in &devices {
        let signed = record.push_for(&device.id).sign(&app.key);
        record.targets.push(Target { device_id: device.id.clone(), signature: signed.signature });
    }
    // Stored before it is delivered, so an answer never meets an unknown challenge; not
    // flushed: losing an unanswered challenge in a crash only makes the RP ask again.
    app.store.challenges().put(id.as_str().as_bytes(), &record).await?;
    app.metrics.challenge_created(true);
    let browser = record_browser(&record.display.context);
    let entry = ChallengeEntry::new(record);
    app.challenges.insert(entry.clone(), id.clone());
    for device in &devices {
        device.deliver(entry.clone());
    }
    app.record(
        Entry::new(AuditKind::ChallengeCreated, format!("rp:{}", rp.name))
            .tenant(&rp.tenant)
            .user(&req.user)
            .challenge(&id)
            .ip(ip)
            .detail(format!("push to {} device(s){browser}", devices.len())),
    )
    .await?;
    Ok(PushChallengeCreated {
        challenge_id: id,
        expires_at,
        number: number.map(|n| n.number),
        devices: u32::try_from(devices.len()).unwrap_or(u32::MAX),
    })
}

/// `POST /v1/challenges/qr`.
pub async fn create_qr(
    app: &App,
    rp: &RelyingParty,
    req: CreateQrChallenge,
    ip: Option<&str>,
) -> Result<QrChallengeCreated, ServiceError> {
    req.validate().map_err(invalid_display)?;
    let user = check_user(app, &rp.tenant, &req.user).await?;
    let now = app.now();
    if active_devices(app, &rp.tenant, &req.user, now).is_empty() {
        return Err(ServiceError::new(ErrorCode::NoDevice, "the user has no active device"));
    }
    if user.otp_failures >= MAX_OTP_FAILURES_PER_USER {
        return Err(pin::otp_locked());
    }
    check_user_limits(app, &rp.tenant, &req.user, false, now)?;
    let (id, nonce) = random_ids()?;
    let kind = if req.transaction.is_empty() { OtpKind::Login } else { OtpKind::Transaction };
    let qr = OtpQr {
        kind,
        server_key_id: app.server_key.key_id(),
        challenge_id: id.clone(),
        nonce,
        service: req.service.clone(),
        action: req.action.clone(),
        transaction: req.transaction.clone(),
    };
    let uri = qr.to_uri();
    if uri.len() > nyckel_protocol::qr::MAX_QR_PAYLOAD {
        return Err(invalid_display("the QR code would be too long; shorten the transaction lines"));
    }
    let expires_at = now + clamp_ttl(req.ttl);
    let record = ChallengeRecord {
        id: id.clone(),
        kind: if kind == OtpKind::Login { ChallengeKind::Login } else { ChallengeKind::Tx },
        tenant: rp.tenant.clone(),
        rp: rp.name.clone(),
        user: req.user.clone(),
        nonce,
        created_at: now,
        expires_at,
        display: ChallengeDisplay {
            context: DisplayContext::new(req.service, req.action),
            transaction: req.transaction,
            number_match: None,
        },
        number: None,
        targets: Vec::new(),
        state: ChallengeState::Pending,
        device_id: None,
        answered_at: None,
        otp_attempts: 0,
    };
    app.store.challenges().put(id.as_str().as_bytes(), &record).await?;
    app.challenges.insert(ChallengeEntry::new(record), id.clone());
    app.metrics.challenge_created(false);
    app.record(
        Entry::new(AuditKind::ChallengeCreated, format!("rp:{}", rp.name))
            .tenant(&rp.tenant)
            .user(&req.user)
            .challenge(&id)
            .ip(ip)
            .detail(format!("qr {}", kind.as_str())),
    )
    .await?;
    Ok(QrChallengeCreated { challenge_id: id, expires_at, qr: uri })
}

/// `GET /v1/challenges/{id}?wait=N`: at once when final, else on change or after the wait.
pub async fn watch_status(
    app: &App,
    rp: &RelyingParty,
    id: &ChallengeId,
    wait: Option<u64>,
) -> Result<ChallengeStatus, ServiceError> {
    let entry = owned(app, rp, id).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(clamp_wait(wait));
    let mut stopping = app.shutdown_signal();
    let mut rx = entry.subscribe();
    loop {
        let now = app.now();
        let state = settle_expiry(app, &entry, now).await?;
        let record = entry.record();
        if state.is_final() || tokio::time::Instant::now() >= deadline || *stopping.borrow() {
            return Ok(record.status());
        }
        // Wake at the expiry too, so the RP learns "expired" without waiting out the poll.
        let until_expiry = Duration::from_secs(record.expires_at.saturating_sub(now).max(1));
        let wake = deadline.min(tokio::time::Instant::now() + until_expiry);
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return Ok(entry.record().status());
                }
            }
            _ = tokio::time::sleep_until(wake) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// `POST /v1/challenges/{id}/otp` (PROTOCOL.md §9.2).
///
/// Wrong one-time passwords never touch the devices' PIN counters (junk typed into a page
/// must not block anybody's push); they count per challenge ([`MAX_OTP_ATTEMPTS_PER_CHALLENGE`])
/// and per user ([`MAX_OTP_FAILURES_PER_USER`], consecutive), which bounds online PIN guessing
/// through QR codes. An OTP made for other details (its check digits do not fit the question)
/// is audited as `qr_tampered` and counts only against the challenge.
pub async fn verify_otp(
    app: &App,
    rp: &RelyingParty,
    id: &ChallengeId,
    typed: &str,
    ip: Option<&str>,
) -> Result<ChallengeStatus, ServiceError> {
    let entry = owned(app, rp, id).await?;
    let record = entry.record();
    let Some(kind) = record.otp_kind() else {
        return Err(ServiceError::not_found("QR challenge"));
    };
    let now = app.now();
    match settle_expiry(app, &entry, now).await? {
        ChallengeState::Pending => {}
        ChallengeState::Expired => return Err(ServiceError::new(ErrorCode::ChallengeExpired, "the challenge expired")),
        _ => return Err(ServiceError::new(ErrorCode::AlreadyAnswered, "the challenge is no longer pending")),
    }
    let otp = Otp::parse(typed).map_err(|e| ServiceError::bad_request(e.to_string()))?;
    let actor = format!("rp:{}", rp.name);
    let base = |kind| Entry::new(kind, &*actor).tenant(&rp.tenant).user(&record.user).challenge(id).ip(ip);
    let user = check_user(app, &rp.tenant, &record.user).await?;
    if user.otp_failures >= MAX_OTP_FAILURES_PER_USER {
        return Err(pin::otp_locked());
    }
    let display_hash = record.display.hash();
    let verdict_for = |secret: &nyckel_protocol::PinSecret| {
        qr_otp::verify(secret, kind, &record.id, &record.nonce, &display_hash, &otp)
    };
    if verdict_for(&nyckel_protocol::PinSecret::from_bytes([0; 32])) == OtpVerdict::OtherQuestion {
        // The check digits do not depend on S: any secret tells whether the question fits.
        count_challenge_attempt(app, &entry, now).await?;
        app.record(base(AuditKind::QrTampered).detail(
            "the one-time password was made for other details than this challenge shows (altered QR code or typing error)",
        )).await?;
        app.store.flush().await?;
        return Err(ServiceError::new(
            ErrorCode::QrMismatch,
            "the code was made for other details than this sign-in shows; the QR code may have been altered",
        ));
    }
    // Counted before it is judged (one atomic update), so parallel guesses cannot pass the
    // limit; a right password takes the count back to 0.
    let failures = pin::reserve_otp_attempt(app, &rp.tenant, &record.user).await?;
    // Every candidate is computed and compared, no early exit, so timing does not tell
    // which device (if any) matched.
    let mut matched: Option<Arc<DeviceEntry>> = None;
    for device in active_devices(app, &rp.tenant, &record.user, now) {
        let right = pin::otp_device_matches(app, &device, now, |s| verdict_for(s) == OtpVerdict::Right).await?;
        if right && matched.is_none() {
            matched = Some(device);
        }
    }
    let result = if let Some(device) = matched {
        pin::otp_succeeded(app, &rp.tenant, &record.user).await?;
        let decided = decide_or_refuse(app, &entry, ChallengeState::Approved, Some(&device.id), now).await?;
        app.record(base(AuditKind::ChallengeApproved).device(&device.id).detail("otp")).await?;
        Ok(decided.status())
    } else {
        app.metrics.pin_failure();
        let left = MAX_OTP_FAILURES_PER_USER.saturating_sub(failures);
        app.record(base(AuditKind::PinFailed).detail(format!("wrong one-time password; {left} left for this user")))
            .await?;
        count_challenge_attempt(app, &entry, now).await?;
        if left == 0 {
            app.record(base(AuditKind::OtpLocked).detail("QR one-time passwords locked; push still works")).await?;
            Err(pin::otp_locked())
        } else {
            Err(ServiceError::wrong_pin(left))
        }
    };
    // The counters and the decision are durable before the RP hears the outcome (§4.5).
    app.store.flush().await?;
    result
}

/// Counts one wrong OTP on the challenge; at the limit the challenge is denied (the
/// relying party sees it in the challenge's state).
async fn count_challenge_attempt(app: &App, entry: &ChallengeEntry, now: u64) -> Result<(), ServiceError> {
    let attempts = entry.count_otp_attempt(&*app.store).await?;
    if attempts < MAX_OTP_ATTEMPTS_PER_CHALLENGE {
        return Ok(());
    }
    let decided = decide_or_refuse(app, entry, ChallengeState::Denied, None, now).await?;
    app.record(
        Entry::new(AuditKind::ChallengeDenied, "server")
            .tenant(&decided.tenant)
            .user(&decided.user)
            .challenge(&decided.id)
            .detail("too many wrong one-time passwords"),
    )
    .await?;
    Ok(())
}

/// The browser address the relying party reported, for the audit detail.
fn record_browser(context: &DisplayContext) -> String {
    context.ip.as_deref().map(|ip| format!("; browser at {ip}")).unwrap_or_default()
}

/// [`ChallengeEntry::decide`] with the refusals as API errors.
pub async fn decide_or_refuse(
    app: &App,
    entry: &ChallengeEntry,
    state: ChallengeState,
    device: Option<&DeviceId>,
    now: u64,
) -> Result<ChallengeRecord, ServiceError> {
    let decided = entry.decide(&*app.store, state, device, now).await?;
    if decided.is_ok() {
        app.metrics.challenge_decided(state);
    }
    match decided {
        Ok(decided) => Ok(decided),
        Err(Decided::AlreadyFinal(_)) => {
            Err(ServiceError::new(ErrorCode::AlreadyAnswered, "the challenge is no longer pending"))
        }
        Err(Decided::JustExpired(record)) => {
            note_expired(app, &record).await?;
            Err(ServiceError::new(ErrorCode::ChallengeExpired, "the challenge expired"))
        }
    }
}
