//! Several instances on one store: the task that applies other instances' changes (from the
//! store's change feed) to this process's registries, waking the waiters here. Absent for a
//! store only this process uses.

use std::sync::Arc;

use crate::live::sync::Registries;
use crate::service::app::App;
use crate::store::FeedEvent;

/// Starts following the store's change feed, if it has one. The task holds the app weakly and
/// ends with it (or when aborted).
pub fn spawn(app: &Arc<App>) -> Option<tokio::task::JoinHandle<()>> {
    let mut feed = app.store.change_feed()?;
    let weak = Arc::downgrade(app);
    Some(tokio::spawn(async move {
        loop {
            let event = feed.next().await;
            let Some(app) = weak.upgrade() else { return };
            let registries = Registries {
                store: &*app.store,
                devices: &app.devices,
                challenges: &app.challenges,
                enrollments: &app.enrollments,
            };
            let now = app.now();
            let applied = match &event {
                Ok(FeedEvent::Changed(changed)) => registries.apply(changed, now).await,
                Ok(FeedEvent::Resync) => {
                    tracing::info!("following other instances' changes; re-reading what this instance holds");
                    registries.resync(now).await
                }
                Err(e) => {
                    tracing::error!("following other instances' changes: {e}");
                    Ok(())
                }
            };
            if let Err(e) = applied {
                // The store failed while re-reading: re-read everything once it answers again.
                tracing::error!("applying another instance's change failed: {e}; re-reading all");
                while let Err(e) = registries.resync(app.now()).await {
                    tracing::error!("re-reading after a failure: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }))
}
