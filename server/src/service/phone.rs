//! The phone API: signed-request authentication, the challenge long poll, answers and PIN checks.

use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::policy::{clamp_wait, REQUEST_TIMESTAMP_WINDOW};
use nyckel_protocol::rekey::{Rekey, Rekeyed};
use nyckel_protocol::request::RequestAuthError;
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::audit::AuditPage;
use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::wire::phone::{AnswerAccepted, AnswerReceipt, PendingChallenges, ReceiptFields};
use nyckel_protocol::{
    Answer, AnswerError, ChallengeId, ChallengeState, Decision, ErrorCode, PinCheck, PinCheckOutcome, RequestAuth,
};

use crate::audit::Entry;
use crate::live::devices::DeviceEntry;
use crate::nonces::NonceCheck;
use crate::service::app::App;
use crate::service::challenges::{decide_or_refuse, settle_expiry};
use crate::service::pin::{self, PinVerdict};
use crate::service::ServiceError;
use crate::store::Change;

/// The parts of an HTTP request a device signature covers.
pub struct SignedParts<'a> {
    /// Upper-case method.
    pub method: &'a str,
    /// Request target as sent.
    pub path_and_query: &'a str,
    /// The body (empty without one).
    pub body: &'a [u8],
    /// The client address, for the audit log.
    pub ip: Option<&'a str>,
}

/// Audits a refused signed request: one event with the device when its signature verified
/// (a replay, a stale answer), otherwise — headers that do not parse, a bad signature, a
/// stale timestamp, which anyone can send naming any device — aggregated like every
/// unauthenticated failure, so nobody can grow the log.
pub(crate) async fn rejected(
    app: &App,
    device: Option<&DeviceEntry>,
    ip: Option<&str>,
    why: &str,
) -> Result<(), ServiceError> {
    match device {
        Some(d) => {
            app.record(
                Entry::new(AuditKind::SignatureRejected, "device")
                    .tenant(&d.tenant)
                    .user(&d.user)
                    .device(&d.id)
                    .ip(ip)
                    .detail(why),
            )
            .await
        }
        None => app
            .audit
            .note_unauthenticated(AuditKind::SignatureRejected, ip, app.now())
            .await
            .map_err(|e| ServiceError::internal(&e)),
    }
}

/// Authenticates a device request (PROTOCOL.md §7.3): headers, device, timestamp,
/// signature, nonce, then the device's state.
pub async fn authenticate(
    app: &App,
    header: impl Fn(&str) -> Option<String>,
    parts: &SignedParts<'_>,
) -> Result<Arc<DeviceEntry>, ServiceError> {
    // RequestAuth::from_headers borrows; keep the owned values alive for it.
    let names = [
        nyckel_protocol::request::HEADER_DEVICE,
        nyckel_protocol::request::HEADER_TIMESTAMP,
        nyckel_protocol::request::HEADER_NONCE,
        nyckel_protocol::request::HEADER_SIGNATURE,
    ];
    let values: Vec<Option<String>> = names.iter().map(|n| header(n)).collect();
    let auth = match RequestAuth::from_headers(|name| {
        names.iter().position(|n| *n == name).and_then(|i| values[i].as_deref())
    }) {
        Ok(auth) => auth,
        Err(e) => {
            rejected(app, None, parts.ip, &e.to_string()).await?;
            return Err(ServiceError::new(ErrorCode::BadSignature, e.to_string()));
        }
    };
    let Some(device) = app.devices.get_or_load(&*app.store, &auth.device_id).await? else {
        return Err(ServiceError::new(ErrorCode::UnknownDevice, "unknown device"));
    };
    let now = app.now();
    match auth.verify(&device.public_key, parts.method, parts.path_and_query, parts.body, now) {
        Ok(()) => {}
        Err(e @ RequestAuthError::Stale { .. }) => {
            rejected(app, None, parts.ip, &e.to_string()).await?;
            return Err(ServiceError::stale(now, e.to_string()));
        }
        Err(e) => {
            rejected(app, None, parts.ip, &e.to_string()).await?;
            return Err(ServiceError::new(ErrorCode::BadSignature, e.to_string()));
        }
    }
    match device.offer_nonce(&*app.store, auth.nonce.0, now).await? {
        NonceCheck::Fresh => {}
        NonceCheck::Replayed => {
            rejected(app, Some(&device), parts.ip, "replayed request nonce").await?;
            return Err(ServiceError::new(ErrorCode::ReplayedRequest, "request nonce already used"));
        }
        NonceCheck::Full => return Err(ServiceError::new(ErrorCode::RateLimited, "too many signed requests")),
    }
    check_state(app, &device, now).await?;
    Ok(device)
}

async fn check_state(app: &App, device: &DeviceEntry, now: u64) -> Result<(), ServiceError> {
    match device.state(now) {
        DeviceState::Active => Ok(()),
        DeviceState::Blocked => {
            Err(ServiceError::new(ErrorCode::DeviceBlocked, "the device is blocked after too many wrong PINs"))
        }
        DeviceState::Inactive => {
            crate::service::housekeeping::note_inactive(app, device, now).await?;
            Err(ServiceError::new(ErrorCode::DeviceInactive, "the device is inactive after four months unused"))
        }
    }
}

/// `GET /v1/device/challenges?wait=N`. Returns at once when the device has a challenge
/// it has not been sent yet (or with `wait=0`); otherwise when one arrives or the wait
/// ends. Waiting is a wake-up on the device's own watch channel: nothing is scanned.
pub async fn poll(app: &App, device: &DeviceEntry, wait: Option<u64>) -> PendingChallenges {
    let wait = clamp_wait(wait);
    // Up to 10 % shorter, so phones that started together do not all come back together.
    let jitter = if wait >= 10 {
        u64::from(nyckel_protocol::ids::random_16().map_or(0, |b| b[0])) * wait * 100 / 255
    } else {
        0
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait * 1000 - jitter);
    let mut rx = device.subscribe();
    let mut stopping = app.shutdown_signal();
    let _open = app.metrics.long_poll();
    loop {
        // A server that is shutting down answers at once, so the phone polls again (another
        // instance, or this one restarted) instead of waiting out its timeout.
        let finish = wait == 0 || tokio::time::Instant::now() >= deadline || *stopping.borrow();
        if let Some(challenges) = device.poll_inbox(app.now(), finish, &app.metrics) {
            return PendingChallenges { challenges, server_time: app.now(), key_rotations: app.key_rotations() };
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    let key_rotations = app.key_rotations();
                    return PendingChallenges { challenges: Vec::new(), server_time: app.now(), key_rotations };
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            _ = stopping.changed() => {}
        }
    }
}

fn answer_error(e: AnswerError, now: u64) -> ServiceError {
    match e {
        AnswerError::BadSignature => ServiceError::new(ErrorCode::BadSignature, e.to_string()),
        AnswerError::Stale { .. } => ServiceError::stale(now, e.to_string()),
        other => ServiceError::bad_request(other.to_string()),
    }
}

/// `POST /v1/device/challenges/{id}/answer` (PROTOCOL.md §9.1).
pub async fn answer(
    app: &App,
    device: &DeviceEntry,
    id: &ChallengeId,
    answer: Answer,
    ip: Option<&str>,
) -> Result<AnswerAccepted, ServiceError> {
    let entry = app
        .challenges
        .get(&*app.store, id)
        .await?
        .filter(|e| e.targets(&device.id))
        .ok_or_else(|| ServiceError::not_found("challenge for this device"))?;
    let now = app.now();
    match settle_expiry(app, &entry, now).await? {
        ChallengeState::Pending => {}
        ChallengeState::Expired => return Err(ServiceError::new(ErrorCode::ChallengeExpired, "the challenge expired")),
        _ => return Err(ServiceError::new(ErrorCode::AlreadyAnswered, "the challenge is no longer pending")),
    }
    let record = entry.record();
    let push = record.push_for(&device.id);
    if let Err(e) = answer.verify(&push, &device.public_key).and_then(|()| answer.check_time(now)) {
        if matches!(e, AnswerError::BadSignature | AnswerError::Stale { .. }) {
            rejected(app, Some(device), ip, &format!("answer: {e}")).await?;
        }
        return Err(answer_error(e, now));
    }
    let base = |kind| {
        Entry::new(kind, "device").tenant(&device.tenant).user(&record.user).device(&device.id).challenge(id).ip(ip)
    };
    // The signed receipt the phone keeps in its history (PROTOCOL.md §7.3).
    let display_hash = push.display_hash();
    let accepted = |state| {
        let fields = ReceiptFields::for_challenge(&push, &display_hash, answer.decision, state);
        AnswerAccepted { state, receipt: Some(AnswerReceipt::issue(&app.key, &fields, now)) }
    };
    let result = match answer.decision {
        Decision::Deny | Decision::Fraud => {
            let (state, kind) = if answer.decision == Decision::Fraud {
                (ChallengeState::Fraud, nyckel_protocol::wire::audit::AuditKind::FraudReported)
            } else {
                (ChallengeState::Denied, AuditKind::ChallengeDenied)
            };
            decide_or_refuse(app, &entry, state, Some(&device.id), now).await?;
            device.update_if(&*app.store, |r| (if r.note_use(now) { Change::Write } else { Change::Keep }, ())).await?;
            app.record(base(kind)).await?;
            Ok(accepted(state))
        }
        Decision::Approve => {
            let verdict = pin::judge(app, device, now, |s| answer.pin_is_correct(&push, s)).await?;
            if verdict != PinVerdict::Right {
                let refusal = pin::refusal(app, device, verdict, ip, Some(id), "answer").await;
                if matches!(verdict, PinVerdict::Wrong { now_blocked: true, .. })
                    && entry.decide(&*app.store, ChallengeState::Blocked, Some(&device.id), now).await?.is_ok()
                {
                    app.metrics.challenge_decided(ChallengeState::Blocked);
                }
                Err(refusal)
            } else {
                let number_ok = match (&record.number, &answer.number) {
                    (Some(right), Some(given)) => {
                        nyckel_protocol::digest::constant_time_eq(right.as_bytes(), given.as_bytes())
                    }
                    (None, None) => true,
                    _ => false,
                };
                if number_ok {
                    decide_or_refuse(app, &entry, ChallengeState::Approved, Some(&device.id), now).await?;
                    app.record(base(AuditKind::ChallengeApproved)).await?;
                    Ok(accepted(ChallengeState::Approved))
                } else {
                    decide_or_refuse(app, &entry, ChallengeState::Denied, Some(&device.id), now).await?;
                    app.record(base(AuditKind::NumberMismatch)).await?;
                    Err(ServiceError::new(ErrorCode::NumberMismatch, "wrong number; the challenge is denied"))
                }
            }
        }
    };
    // The decision and the PIN counter are durable before the phone hears the outcome (§4.5, §9).
    app.store.flush().await?;
    result
}

/// `POST /v1/device/pin-check` (PROTOCOL.md §4.7): counted like an approval.
pub async fn pin_check(app: &App, device: &DeviceEntry, check: PinCheck, ip: Option<&str>) -> Result<(), ServiceError> {
    let now = app.now();
    if check.timestamp.abs_diff(now) > REQUEST_TIMESTAMP_WINDOW {
        rejected(app, Some(device), ip, "stale PIN check").await?;
        return Err(ServiceError::stale(now, "PIN check timestamp outside the window"));
    }
    match device.offer_nonce(&*app.store, check.nonce.0, now).await? {
        NonceCheck::Fresh => {}
        NonceCheck::Replayed => {
            rejected(app, Some(device), ip, "replayed PIN check").await?;
            return Err(ServiceError::new(ErrorCode::ReplayedRequest, "PIN check nonce already used"));
        }
        NonceCheck::Full => return Err(ServiceError::new(ErrorCode::RateLimited, "too many signed requests")),
    }
    pin::require_right(app, device, now, ip, "PIN check", |s| {
        check.check(&device.id, s, now) == PinCheckOutcome::Correct
    })
    .await?;
    app.store.flush().await?;
    Ok(())
}

/// `POST /v1/device/rekey` (PROTOCOL.md §4.7): a PIN change agrees a new `S`, authorised by
/// a MAC under the old one and judged like an approval. The new `S` is kept as the device's
/// pending secret; the first MAC under it (the phone's confirming PIN check) replaces the old.
pub async fn rekey(app: &App, device: &DeviceEntry, req: Rekey, ip: Option<&str>) -> Result<Rekeyed, ServiceError> {
    let now = app.now();
    if req.timestamp.abs_diff(now) > REQUEST_TIMESTAMP_WINDOW {
        rejected(app, Some(device), ip, "stale PIN change").await?;
        return Err(ServiceError::stale(now, "PIN change timestamp outside the window"));
    }
    match device.offer_nonce(&*app.store, req.nonce.0, now).await? {
        NonceCheck::Fresh => {}
        NonceCheck::Replayed => {
            rejected(app, Some(device), ip, "replayed PIN change").await?;
            return Err(ServiceError::new(ErrorCode::ReplayedRequest, "PIN change nonce already used"));
        }
        NonceCheck::Full => return Err(ServiceError::new(ErrorCode::RateLimited, "too many signed requests")),
    }
    pin::require_right(app, device, now, ip, "PIN change", |s| {
        req.check(&device.id, s, now) == PinCheckOutcome::Correct
    })
    .await?;
    let (response, secret) = Rekeyed::issue(&device.id, &req, &app.key).map_err(|e| ServiceError::internal(&e))?;
    let sealed = app.sealer.seal(&device.id, &secret)?;
    device.update(&*app.store, |r| r.pending_secret = Some(sealed.clone())).await?;
    app.record(
        Entry::new(AuditKind::PinChanged, "device")
            .tenant(&device.tenant)
            .user(&device.user)
            .device(&device.id)
            .ip(ip)
            .detail("new PIN secret agreed; it replaces the old one at its first use"),
    )
    .await?;
    // Durable before the phone re-blinds under the new PIN.
    app.store.flush().await?;
    Ok(response)
}

/// `GET /v1/device/audit?after=SEQ&limit=N`: the audit events that name the calling device
/// (and no other), so the phone can compare them with its own history.
pub async fn device_audit(
    app: &App,
    device: &DeviceEntry,
    after: u64,
    limit: usize,
) -> Result<AuditPage, ServiceError> {
    Ok(app.audit.page_where(after, limit, |event| event.device_id.as_ref() == Some(&device.id)).await?)
}

/// Deletes a device and its sealed secret (the phone unregistering, a user, or an admin).
pub async fn remove_device(
    app: &App,
    device: &DeviceEntry,
    kind: AuditKind,
    actor: &str,
    ip: Option<&str>,
) -> Result<(), ServiceError> {
    app.store.devices().remove(device.id.as_str().as_bytes()).await?;
    app.devices.remove(&device.id);
    app.record(Entry::new(kind, actor).tenant(&device.tenant).user(&device.user).device(&device.id).ip(ip)).await?;
    app.store.flush().await?;
    Ok(())
}
