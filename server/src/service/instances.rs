//! Several instances on one store: the task that applies other instances' changes (from the
//! store's change feed) to this process's registries, waking the waiters here. Absent for a
//! store only this process uses.

use std::sync::{Arc, Weak};

use tokio::sync::mpsc::UnboundedReceiver;

use crate::live::sync::Registries;
use crate::service::app::App;
use crate::store::{Changed, FeedEvent};

/// Notices are applied by this many tasks at once: one task per record (a record's notices
/// always go to the same task, in order), so one slow re-read does not hold up the others.
/// Applied one at a time, a busy instance's notices queued behind each other's store reads
/// and cross-instance wake-ups lagged by tens of seconds under load.
const LANES: usize = 16;

/// Starts following the store's change feed, if it has one. The task holds the app weakly and
/// ends with it (or when aborted, which ends its lane tasks too).
pub fn spawn(app: &Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    let mut feed = app.store.change_feed()?;
    let weak = Arc::downgrade(app);
    Some(tokio::spawn(async move {
        let mut lanes = Vec::with_capacity(LANES);
        // Dropped (aborting every lane) when this task ends or is aborted.
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..LANES {
            let (lane, changes) = tokio::sync::mpsc::unbounded_channel();
            lanes.push(lane);
            workers.spawn(apply_lane(weak.clone(), changes));
        }
        loop {
            let event = feed.next().await;
            let Some(app) = weak.upgrade() else { return };
            match event {
                Ok(FeedEvent::Changed(changed)) => {
                    let _ = lanes[lane_of(&changed)].send(changed);
                }
                Ok(FeedEvent::Resync) => {
                    tracing::info!("following other instances' changes; re-reading what this instance holds");
                    resync(&app).await;
                }
                Err(e) => tracing::error!("following other instances' changes: {e}"),
            }
        }
    }))
}

/// The lane of a record: the same record always in the same lane.
fn lane_of(changed: &Changed) -> usize {
    use std::hash::{Hash, Hasher};
    let key = match changed {
        Changed::Challenge(id) => id.as_str(),
        Changed::Device(id) => id.as_str(),
        Changed::Enrollment(id) => id.as_str(),
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % LANES as u64) as usize
}

/// Applies one lane's changes in order. Each application re-reads the record under the
/// entry's lock, so lanes running side by side cannot leave an older copy over a newer one.
async fn apply_lane(app: Weak<App>, mut changes: UnboundedReceiver<Changed>) {
    while let Some(changed) = changes.recv().await {
        let Some(app) = app.upgrade() else { return };
        let registries = registries(&app);
        if let Err(e) = registries.apply(&changed, app.now()).await {
            // The store failed while re-reading: re-read everything once it answers again.
            tracing::error!("applying another instance's change failed: {e}; re-reading all");
            resync(&app).await;
        }
    }
}

fn registries(app: &App) -> Registries<'_> {
    Registries { store: &*app.store, devices: &app.devices, challenges: &app.challenges, enrollments: &app.enrollments }
}

/// Re-reads everything this instance holds, until the store answers.
async fn resync(app: &App) {
    while let Err(e) = registries(app).resync(app.now()).await {
        tracing::error!("re-reading other instances' changes: {e}");
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
