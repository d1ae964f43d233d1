//! The PIN-failure policy, decided here and nowhere else (PROTOCOL.md §9): a right PIN resets
//! the device's count, a wrong one counts, [`MAX_PIN_FAILURES`] in a row block the device, and
//! a blocked device is not judged at all. Approvals, PIN checks, PIN changes, retirements and
//! new-device approvals call [`judge`] (or [`require_right`]); QR one-time passwords, which
//! count per user instead of per device, call [`otp_device_matches`], [`reserve_otp_attempt`]
//! and [`otp_succeeded`]. Each count is one atomic store update, not a process lock.

use nyckel_protocol::policy::MAX_PIN_FAILURES;
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::{ChallengeId, ChallengeState, ErrorCode, PinSecret};

use crate::audit::Entry;
use crate::live::devices::DeviceEntry;
use crate::model::{DeviceRecord, UserRecord};
use crate::seal::SealError;
use crate::service::app::App;
use crate::service::ServiceError;
use crate::store::scoped_key;
use crate::store::{update_with, Change};

/// Consecutive wrong QR one-time passwords (PIN wrong, question right) after which a user's
/// QR one-time passwords are locked until an administrator unlocks them; push is unaffected.
pub const MAX_OTP_FAILURES_PER_USER: u32 = MAX_PIN_FAILURES;

/// The server's verdict on one PIN-dependent value (answer MAC, PIN check, rekey MAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinVerdict {
    /// Right: the counter is reset.
    Right,
    /// Wrong: one failure was counted.
    Wrong {
        /// Attempts left before blocking (0 when this failure blocked the device).
        attempts_left: u32,
        /// Whether this failure blocked the device.
        now_blocked: bool,
    },
    /// The device was already blocked: nothing was checked or counted, so a right and a
    /// wrong PIN get the same answer.
    Blocked,
}

/// The policy itself, on one record: reset on a right PIN, count a wrong one, block at the limit.
pub fn apply(record: &mut DeviceRecord, right: bool, now: u64) -> PinVerdict {
    record.note_use(now);
    if right {
        record.pin_failures = 0;
        return PinVerdict::Right;
    }
    record.pin_failures = record.pin_failures.saturating_add(1);
    record.blocked = record.pin_failures >= MAX_PIN_FAILURES;
    PinVerdict::Wrong {
        attempts_left: MAX_PIN_FAILURES.saturating_sub(record.pin_failures),
        now_blocked: record.blocked,
    }
}

/// Whether `is_right` holds for the record's `S`, or else for its pending `S` from a PIN
/// change (a match promotes the pending one and destroys the old).
fn matches(app: &App, record: &mut DeviceRecord, is_right: &impl Fn(&PinSecret) -> bool) -> Result<bool, SealError> {
    if is_right(&app.sealer.open(&record.device_id, &record.sealed_secret)?) {
        return Ok(true);
    }
    if let Some(pending) = record.pending_secret.clone() {
        if is_right(&app.sealer.open(&record.device_id, &pending)?) {
            record.sealed_secret = pending;
            record.pending_secret = None;
            return Ok(true);
        }
    }
    Ok(false)
}

/// Judges one PIN-dependent value of `device` and counts it, as one atomic update of the
/// device's record: concurrent answers are judged one at a time, against the count the other
/// left. A blocked device gets [`PinVerdict::Blocked`] without its value being looked at. A
/// right value that changes nothing (no failures to reset, no pending secret to promote, the
/// use already noted within [`crate::model::LAST_USED_RESOLUTION`]) writes nothing.
pub async fn judge(
    app: &App,
    device: &DeviceEntry,
    now: u64,
    is_right: impl Fn(&PinSecret) -> bool + Send + Sync,
) -> Result<PinVerdict, ServiceError> {
    let (_, outcome) = device
        .update_if(&*app.store, |record| {
            if record.blocked {
                return (Change::Keep, Ok(PinVerdict::Blocked));
            }
            let before = record.clone();
            match matches(app, record, &is_right) {
                Ok(right) => {
                    let verdict = apply(record, right, now);
                    (if *record == before { Change::Keep } else { Change::Write }, Ok(verdict))
                }
                Err(e) => (Change::Keep, Err(e)),
            }
        })
        .await?;
    Ok(outcome?)
}

/// [`judge`], and for anything but a right PIN the refusal ([`refusal`]) made durable and
/// returned as the error.
pub async fn require_right(
    app: &App,
    device: &DeviceEntry,
    now: u64,
    ip: Option<&str>,
    what: &str,
    is_right: impl Fn(&PinSecret) -> bool + Send + Sync,
) -> Result<(), ServiceError> {
    let verdict = judge(app, device, now, is_right).await?;
    if verdict == PinVerdict::Right {
        return Ok(());
    }
    let refusal = refusal(app, device, verdict, ip, None, what).await;
    // The count is durable before the phone hears it.
    app.store.flush().await?;
    Err(refusal)
}

/// The refusal for a verdict other than right, with its audit events and metrics: the same
/// answer for every request once the device is blocked.
pub async fn refusal(
    app: &App,
    device: &DeviceEntry,
    verdict: PinVerdict,
    ip: Option<&str>,
    challenge: Option<&ChallengeId>,
    what: &str,
) -> ServiceError {
    let base = |kind| {
        let entry = Entry::new(kind, "device").tenant(&device.tenant).user(&device.user).device(&device.id).ip(ip);
        match challenge {
            Some(c) => entry.challenge(c),
            None => entry,
        }
    };
    match verdict {
        PinVerdict::Right => ServiceError::internal(&"a PIN refusal asked for a right PIN"),
        PinVerdict::Blocked => blocked(),
        PinVerdict::Wrong { attempts_left, now_blocked } => {
            app.metrics.pin_failure();
            if now_blocked {
                app.metrics.device_blocked();
            }
            // A refusal that could not be audited becomes a 500: the phone retries, the
            // counter has moved either way.
            if let Err(e) =
                app.record(base(AuditKind::PinFailed).detail(format!("{what}; {attempts_left} attempts left"))).await
            {
                return e;
            }
            if now_blocked {
                if let Err(e) = app
                    .record(base(AuditKind::DeviceBlocked).detail(format!("five wrong PINs in a row ({what})")))
                    .await
                {
                    return e;
                }
                if let Err(e) = block_open_challenges(app, device).await {
                    return e;
                }
                blocked()
            } else {
                ServiceError::wrong_pin(attempts_left)
            }
        }
    }
}

/// Ends as `blocked` every open challenge that waits only on devices now blocked, so the
/// relying party learns it at once whichever request (an answer or a PIN check) blocked the
/// device; a challenge another, unblocked device of the user can still answer stays open.
async fn block_open_challenges(app: &App, device: &DeviceEntry) -> Result<(), ServiceError> {
    let now = app.now();
    for entry in app.challenges.entries() {
        if !entry.is_open(now) || !entry.targets(&device.id) {
            continue;
        }
        let record = entry.record();
        let all_blocked = record.targets.iter().all(|target| {
            target.device_id == device.id || app.devices.get(&target.device_id).is_some_and(|d| d.record().blocked)
        });
        if all_blocked && entry.decide(&*app.store, ChallengeState::Blocked, Some(&device.id), now).await?.is_ok() {
            app.metrics.challenge_decided(ChallengeState::Blocked);
        }
    }
    Ok(())
}

/// `device_blocked`.
pub fn blocked() -> ServiceError {
    ServiceError::new(ErrorCode::DeviceBlocked, "the device is blocked after too many wrong PINs")
}

/// Whether `is_right` holds for `device`'s `S` (or its pending `S`, which a match promotes),
/// for QR one-time passwords: a match resets the device's PIN count, a miss counts nothing on
/// the device (the user's count is [`reserve_otp_attempt`]). A blocked device never matches.
pub async fn otp_device_matches(
    app: &App,
    device: &DeviceEntry,
    now: u64,
    is_right: impl Fn(&PinSecret) -> bool + Send + Sync,
) -> Result<bool, ServiceError> {
    let (_, outcome) = device
        .update_if(&*app.store, |record| {
            if record.blocked {
                return (Change::Keep, Ok(false));
            }
            match matches(app, record, &is_right) {
                Ok(true) => {
                    apply(record, true, now);
                    (Change::Write, Ok(true))
                }
                Ok(false) => (Change::Keep, Ok(false)),
                Err(e) => (Change::Keep, Err(e)),
            }
        })
        .await?;
    Ok(outcome?)
}

/// `otp_locked`.
pub fn otp_locked() -> ServiceError {
    ServiceError::new(
        ErrorCode::OtpLocked,
        "too many wrong one-time passwords for this user; an administrator must unlock them (push still works)",
    )
}

/// Counts one QR one-time password against its user before it is judged, as one atomic
/// update, so parallel guesses cannot pass the limit: refused with `otp_locked` when the user
/// is at [`MAX_OTP_FAILURES_PER_USER`]. Returns the user's count including this attempt; a
/// right password takes it back with [`otp_succeeded`].
pub async fn reserve_otp_attempt(app: &App, tenant: &str, user: &str) -> Result<u32, ServiceError> {
    let reserved = update_with(app.store.users(), &scoped_key(tenant, user), |u: &mut UserRecord| {
        if u.otp_failures >= MAX_OTP_FAILURES_PER_USER {
            return (Change::Keep, false);
        }
        u.otp_failures = u.otp_failures.saturating_add(1);
        (Change::Write, true)
    })
    .await?;
    match reserved {
        None => Err(ServiceError::not_found("user")),
        Some((_, false)) => Err(otp_locked()),
        Some((record, true)) => Ok(record.otp_failures),
    }
}

/// A right one-time password: the user's count of consecutive wrong ones goes back to 0.
pub async fn otp_succeeded(app: &App, tenant: &str, user: &str) -> Result<(), ServiceError> {
    reset_otp_failures(app, tenant, user).await?.ok_or_else(|| ServiceError::not_found("user"))
}

/// Sets the user's count of wrong one-time passwords to 0 (a right one, or an administrator's
/// unlock); `None` when there is no such user.
pub async fn reset_otp_failures(app: &App, tenant: &str, user: &str) -> Result<Option<()>, ServiceError> {
    let done = app
        .store
        .users()
        .update(&scoped_key(tenant, user), &mut |u: &mut UserRecord| {
            if u.otp_failures == 0 {
                return Change::Keep;
            }
            u.otp_failures = 0;
            Change::Write
        })
        .await?;
    Ok(done.map(|_| ()))
}
