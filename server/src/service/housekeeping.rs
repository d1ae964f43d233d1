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

/// Audits a device's move to inactive, once.
pub async fn note_inactive(app: &App, device: &DeviceEntry, now: u64) -> Result<(), ServiceError> {
    let record = device.record();
    if record.state(now) == DeviceState::Inactive
        && !record.inactive_noted
        && device.update(&*app.store, |r| r.inactive_noted = true).await.is_ok()
    {
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

/// One housekeeping pass.
pub async fn run_once(app: &App) {
    let now = app.now();
    if let Err(e) = app.audit.flush_aggregates(now).await {
        tracing::error!("writing audit summaries failed: {e}");
    }
    for entry in app.challenges.entries() {
        if let Err(e) = settle_expiry(app, &entry, now).await {
            tracing::error!("housekeeping: {e}");
        }
    }
    app.challenges.forget_closed(now);
    app.enrollments.sweep(now);
    for device in app.devices.all() {
        device.prune_inbox(now);
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
