//! The phone API: signed-request authentication, the challenge long poll, answers and PIN checks.

use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::policy::clamp_wait;
use nyckel_protocol::request::RequestAuthError;
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::wire::phone::{AnswerAccepted, PendingChallenges};
use nyckel_protocol::{
    Answer, AnswerError, ChallengeId, ChallengeState, Decision, ErrorCode, PinCheck, PinCheckOutcome, RequestAuth,
};

use crate::api_error::ApiError;
use crate::app::App;
use crate::audit::Entry;
use crate::challenges::{decide_or_refuse, settle_expiry, ChallengeRecord};
use crate::devices::DeviceEntry;
use crate::nonces::NonceCheck;

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

fn rejected(app: &App, device: Option<&DeviceEntry>, ip: Option<&str>, why: &str) {
    let mut entry = Entry::new(AuditKind::SignatureRejected, "device").ip(ip).detail(why);
    if let Some(d) = device {
        entry = entry.user(&d.user).device(&d.id);
    }
    app.record(entry);
}

/// Authenticates a device request (PROTOCOL.md §7.3): headers, device, timestamp,
/// signature, nonce, then the device's state.
pub fn authenticate(
    app: &App,
    header: impl Fn(&str) -> Option<String>,
    parts: &SignedParts<'_>,
) -> Result<Arc<DeviceEntry>, ApiError> {
    // RequestAuth::from_headers borrows; keep the owned values alive for it.
    let names = [
        nyckel_protocol::request::HEADER_DEVICE,
        nyckel_protocol::request::HEADER_TIMESTAMP,
        nyckel_protocol::request::HEADER_NONCE,
        nyckel_protocol::request::HEADER_SIGNATURE,
    ];
    let values: Vec<Option<String>> = names.iter().map(|n| header(n)).collect();
    let auth =
        RequestAuth::from_headers(|name| names.iter().position(|n| *n == name).and_then(|i| values[i].as_deref()))
            .map_err(|e| {
                rejected(app, None, parts.ip, &e.to_string());
                ApiError::new(ErrorCode::BadSignature, e.to_string())
            })?;
    let Some(device) = app.devices.get(&auth.device_id) else {
        return Err(ApiError::new(ErrorCode::UnknownDevice, "unknown device"));
    };
    let now = app.now();
    match auth.verify(&device.public_key, parts.method, parts.path_and_query, parts.body, now) {
        Ok(()) => {}
        Err(e @ RequestAuthError::Stale { .. }) => {
            rejected(app, Some(&device), parts.ip, &e.to_string());
            return Err(ApiError::new(ErrorCode::StaleRequest, e.to_string()));
        }
        Err(e) => {
            rejected(app, Some(&device), parts.ip, &e.to_string());
            return Err(ApiError::new(ErrorCode::BadSignature, e.to_string()));
        }
    }
    match device.offer_nonce(auth.nonce.0, now) {
        NonceCheck::Fresh => {}
        NonceCheck::Replayed => {
            rejected(app, Some(&device), parts.ip, "replayed request nonce");
            return Err(ApiError::new(ErrorCode::ReplayedRequest, "request nonce already used"));
        }
        NonceCheck::Full => return Err(ApiError::new(ErrorCode::RateLimited, "too many signed requests")),
    }
    check_state(app, &device, now)?;
    Ok(device)
}

fn check_state(app: &App, device: &DeviceEntry, now: u64) -> Result<(), ApiError> {
    match device.state(now) {
        DeviceState::Active => Ok(()),
        DeviceState::Blocked => {
            Err(ApiError::new(ErrorCode::DeviceBlocked, "the device is blocked after too many wrong PINs"))
        }
        DeviceState::Inactive => {
            app.note_inactive(device, now);
            Err(ApiError::new(ErrorCode::DeviceInactive, "the device is inactive after four months unused"))
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
    loop {
        let finish = wait == 0 || tokio::time::Instant::now() >= deadline;
        if let Some(challenges) = device.poll_inbox(app.now(), finish) {
            return PendingChallenges { challenges, server_time: app.now() };
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return PendingChallenges { challenges: Vec::new(), server_time: app.now() };
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn answer_error(e: AnswerError) -> ApiError {
    match e {
        AnswerError::BadSignature => ApiError::new(ErrorCode::BadSignature, e.to_string()),
        AnswerError::Stale { .. } => ApiError::new(ErrorCode::StaleRequest, e.to_string()),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// `POST /v1/device/challenges/{id}/answer` (PROTOCOL.md §9.1).
pub async fn answer(
    app: &App,
    device: &DeviceEntry,
    id: &ChallengeId,
    answer: Answer,
    ip: Option<&str>,
) -> Result<AnswerAccepted, ApiError> {
    let entry = app
        .challenges
        .get(&app.store, id)?
        .filter(|e| e.targets(&device.id))
        .ok_or_else(|| ApiError::not_found("challenge for this device"))?;
    let now = app.now();
    match settle_expiry(app, &entry, now) {
        ChallengeState::Pending => {}
        ChallengeState::Expired => return Err(ApiError::new(ErrorCode::ChallengeExpired, "the challenge expired")),
        _ => return Err(ApiError::new(ErrorCode::AlreadyAnswered, "the challenge is no longer pending")),
    }
    let record = entry.record();
    let push = record.push_for(&device.id);
    if let Err(e) = answer.verify(&push, &device.public_key).and_then(|()| answer.check_time(now)) {
        if matches!(e, AnswerError::BadSignature | AnswerError::Stale { .. }) {
            rejected(app, Some(device), ip, &format!("answer: {e}"));
        }
        return Err(answer_error(e));
    }
    let base = |kind| Entry::new(kind, "device").user(&record.user).device(&device.id).challenge(id).ip(ip);
    let result = match answer.decision {
        Decision::Deny | Decision::Fraud => {
            let (state, kind) = if answer.decision == Decision::Fraud {
                (ChallengeState::Fraud, nyckel_protocol::wire::audit::AuditKind::FraudReported)
            } else {
                (ChallengeState::Denied, AuditKind::ChallengeDenied)
            };
            let decided = decide_or_refuse(app, &entry, state, Some(&device.id), now)?;
            persist(app, &decided)?;
            device.update(&app.store, |r| r.last_used_at = r.last_used_at.max(now))?;
            app.record(base(kind));
            Ok(AnswerAccepted { state })
        }
        Decision::Approve => {
            let secret = app.sealer.open(&device.id, &device.record().sealed_secret)?;
            if !answer.pin_is_correct(&push, &secret) {
                let failure = device.count_pin_failure(&app.store, now)?;
                app.record(base(AuditKind::PinFailed).detail(format!("{} attempts left", failure.attempts_left)));
                if failure.now_blocked {
                    app.record(base(AuditKind::DeviceBlocked));
                    if let Ok(decided) = entry.decide(ChallengeState::Blocked, Some(&device.id), now) {
                        persist(app, &decided)?;
                    }
                    Err(ApiError::new(ErrorCode::DeviceBlocked, "wrong PIN; the device is now blocked"))
                } else {
                    Err(ApiError::wrong_pin(failure.attempts_left))
                }
            } else {
                device.pin_correct(&app.store, now)?;
                let number_ok = match (&record.number, &answer.number) {
                    (Some(right), Some(given)) => {
                        nyckel_protocol::digest::constant_time_eq(right.as_bytes(), given.as_bytes())
                    }
                    (None, None) => true,
                    _ => false,
                };
                if number_ok {
                    let decided = decide_or_refuse(app, &entry, ChallengeState::Approved, Some(&device.id), now)?;
                    persist(app, &decided)?;
                    app.record(base(AuditKind::ChallengeApproved));
                    Ok(AnswerAccepted { state: ChallengeState::Approved })
                } else {
                    let decided = decide_or_refuse(app, &entry, ChallengeState::Denied, Some(&device.id), now)?;
                    persist(app, &decided)?;
                    app.record(base(AuditKind::NumberMismatch));
                    Err(ApiError::new(ErrorCode::NumberMismatch, "wrong number; the challenge is denied"))
                }
            }
        }
    };
    // The decision and the PIN counter are durable before the phone hears the outcome (§4.5, §9).
    app.store.flush().await?;
    result
}

fn persist(app: &App, record: &ChallengeRecord) -> Result<(), ApiError> {
    app.store.challenges.put(record.id.as_str().as_bytes(), record)?;
    Ok(())
}

/// `POST /v1/device/pin-check` (PROTOCOL.md §4.7): counted like an approval.
pub async fn pin_check(app: &App, device: &DeviceEntry, check: PinCheck, ip: Option<&str>) -> Result<(), ApiError> {
    let now = app.now();
    let secret = app.sealer.open(&device.id, &device.record().sealed_secret)?;
    let base = |kind| Entry::new(kind, "device").user(&device.user).device(&device.id).ip(ip);
    let result = match check.check(&device.id, &secret, now) {
        PinCheckOutcome::Stale => {
            rejected(app, Some(device), ip, "stale PIN check");
            return Err(ApiError::new(ErrorCode::StaleRequest, "PIN check timestamp outside the window"));
        }
        _ if device.offer_nonce(check.nonce.0, now) != NonceCheck::Fresh => {
            rejected(app, Some(device), ip, "replayed PIN check");
            return Err(ApiError::new(ErrorCode::ReplayedRequest, "PIN check nonce already used"));
        }
        PinCheckOutcome::Correct => {
            device.pin_correct(&app.store, now)?;
            Ok(())
        }
        PinCheckOutcome::Wrong => {
            let failure = device.count_pin_failure(&app.store, now)?;
            app.record(
                base(AuditKind::PinFailed).detail(format!("PIN check; {} attempts left", failure.attempts_left)),
            );
            if failure.now_blocked {
                app.record(base(AuditKind::DeviceBlocked));
                Err(ApiError::new(ErrorCode::DeviceBlocked, "wrong PIN; the device is now blocked"))
            } else {
                Err(ApiError::wrong_pin(failure.attempts_left))
            }
        }
    };
    app.store.flush().await?;
    result
}

/// Deletes a device and its sealed secret (the phone unregistering, a user, or an admin).
pub async fn remove_device(
    app: &App,
    device: &DeviceEntry,
    kind: AuditKind,
    actor: &str,
    ip: Option<&str>,
) -> Result<(), ApiError> {
    app.store.devices.remove(device.id.as_str().as_bytes())?;
    app.devices.remove(&device.id);
    app.record(Entry::new(kind, actor).user(&device.user).device(&device.id).ip(ip));
    app.store.flush().await?;
    Ok(())
}
