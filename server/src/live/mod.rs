//! The live, in-memory part of the server: each device's challenge inbox and long-poll
//! wake-up, each challenge's and enrollment's watchers, and this process's copies of their
//! records. Nothing here is the durable truth (that is [`crate::store`]); the rules in
//! [`crate::service`] update the store and then these.

pub mod challenges;
pub mod devices;
pub mod enrollments;
pub mod sync;

use std::sync::{Mutex, MutexGuard};

use nyckel_protocol::ChallengeState;

use crate::store::{Store, StoreError};

/// A user's identity across tenants: (tenant, user name).
pub type UserKey = (String, String);

/// Locks a mutex, recovering from poisoning: every critical section leaves the data
/// consistent before anything that could panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// This process's registries at start: every stored device, and the pending, unexpired
/// challenges queued in their devices' inboxes.
pub async fn load(
    store: &dyn Store,
    now: u64,
) -> Result<(devices::DeviceRegistry, challenges::ChallengeRegistry), StoreError> {
    let devices = devices::DeviceRegistry::load(store).await?;
    let open = challenges::ChallengeRegistry::default();
    for record in store.challenges().all().await? {
        if record.state == ChallengeState::Pending && now < record.expires_at {
            let entry = challenges::ChallengeEntry::new(record.clone());
            open.insert(entry.clone(), record.id.clone());
            for target in &record.targets {
                if let Some(device) = devices.get(&target.device_id) {
                    device.deliver(entry.clone());
                }
            }
        }
    }
    Ok((devices, open))
}
