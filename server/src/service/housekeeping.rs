//! Housekeeping: the periodic pass that expires overdue challenges, forgets closed ones and old
//! enrollments from memory, audits devices that became inactive, and prunes stored nonces.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::DeviceState;

use crate::audit::Entry;
use crate::live::devices::DeviceEntry;
use crate::service::app::App;
use crate::service::challenges::settle_expiry;
use crate::service::ServiceError;
use crate::store::Change;

/// Audits a device's move to inactive, once: decided on the stored record in one atomic
/// update, so two instances (or two passes) never both audit it.
pub async fn note_inactive(app: &App, device: &DeviceEntry, now: u64) -> Result<(), ServiceError> {
    let copy = device.record();
    if copy.state(now) != DeviceState::Inactive || copy.inactive_noted {
        return Ok(());
    }
    let (record, noted) = device
        .update_if(&*app.store, |r| {
            if r.state(now) == DeviceState::Inactive && !r.inactive_noted {
                r.inactive_noted = true;
                (Change::Write, true)
            } else {
                (Change::Keep, false)
            }
        })
        .await?;
    if noted {
        app.record(
            Entry::new(AuditKind::DeviceInactive, "server")
                .tenant(&record.tenant)
                .user(&record.user)
                .device(&device.id),
        )
        .await?;
    }
    Ok(())
}

/// [`crate::store::Store::exclusively`]'s task number of the shared part of housekeeping.
const SHARED_HOUSEKEEPING: i32 = 1;

/// One housekeeping pass. Its local part (this process's memory, the waiters here, this
/// process's audit summaries) runs on every instance; the part that changes shared records
/// (devices that became inactive, stored nonces) runs on one instance at a time.
pub async fn run_once(app: &App) {
    let now = app.now();
    if let Err(e) = app.audit.flush_aggregates(now).await {
        tracing::error!("writing audit summaries failed: {e}");
    }
    // Deciding `expired` is one atomic store update, so an instance that races another here
    // finds it final and audits nothing; running it everywhere wakes each instance's waiters.
    for entry in app.challenges.entries() {
        if let Err(e) = settle_expiry(app, &entry, now).await {
            tracing::error!("housekeeping: {e}");
        }
    }
    app.challenges.forget_closed(now);
    app.enrollments.sweep(now);
    for device in app.devices.all() {
        device.prune_inbox(now);
    }
    let shared = app.store.exclusively(SHARED_HOUSEKEEPING, Box::pin(shared_pass(app, now)));
    if let Err(e) = shared.await {
        tracing::error!("housekeeping: {e}");
    }
}

/// The part of [`run_once`] that changes shared records.
async fn shared_pass(app: &App, now: u64) {
    for device in app.devices.all() {
        if let Err(e) = note_inactive(app, &device, now).await {
            tracing::error!("housekeeping: {e}");
        }
    }
    // Stored nonces older than the replay window are dropped about once a minute.
    let last = app.nonces_pruned_at.load(Ordering::Relaxed);
    if now >= last.saturating_add(60) {
        app.nonces_pruned_at.store(now, Ordering::Relaxed);
        if let Err(e) = app.store.nonces().prune(now).await {
            tracing::error!("pruning stored nonces failed: {e}");
        }
    }
}

/// Runs [`run_once`] every few seconds until the server stops. Delivery never depends on it:
/// expiry is also applied whenever a challenge is read.
pub fn spawn(app: &Arc<App>) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(app) => run_once(&app).await,
                None => return,
            }
        }
    })
}
