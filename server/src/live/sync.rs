//! Other server instances' changes applied to this process's registries: each changed record
//! re-read from the store, its copy here replaced and its local waiters woken; a challenge
//! created elsewhere queued for the devices polling here; after a lost feed, everything re-read.

use std::sync::Arc;

use nyckel_protocol::{ChallengeId, DeviceId, EnrollmentId};

use super::challenges::{ChallengeEntry, ChallengeRegistry};
use super::devices::{DeviceEntry, DeviceRegistry};
use super::enrollments::EnrollmentRegistry;
use crate::store::{Changed, Store, StoreError};

/// This process's registries, as the feed updates them.
pub struct Registries<'a> {
    /// The store they copy.
    pub store: &'a dyn Store,
    /// Devices.
    pub devices: &'a DeviceRegistry,
    /// Challenges.
    pub challenges: &'a ChallengeRegistry,
    /// Enrollments.
    pub enrollments: &'a EnrollmentRegistry,
}

impl Registries<'_> {
    /// Applies one change another instance committed.
    pub async fn apply(&self, changed: &Changed, now: u64) -> Result<(), StoreError> {
        match changed {
            Changed::Challenge(id) => self.challenge(id, now).await,
            Changed::Device(id) => self.device(id).await,
            Changed::Enrollment(id) => self.enrollment(id).await,
        }
    }

    /// Re-reads everything held here, and picks up devices and open challenges this process
    /// has not seen (the feed was down: their notices are lost).
    pub async fn resync(&self, now: u64) -> Result<(), StoreError> {
        let stored = self.store.devices().all().await?;
        let ids: std::collections::HashSet<DeviceId> = stored.iter().map(|d| d.device_id.clone()).collect();
        for device in self.devices.all() {
            if !ids.contains(&device.id) {
                self.devices.remove(&device.id);
            }
        }
        for record in stored {
            match self.devices.get(&record.device_id) {
                Some(entry) => {
                    entry.reload(self.store).await?;
                }
                None => self.devices.insert_if_absent(DeviceEntry::new(record)),
            }
        }
        for entry in self.challenges.entries() {
            entry.reload(self.store).await?;
        }
        for record in self.store.challenges().all().await? {
            if record.is_open_at(now) {
                self.challenge(&record.id, now).await?;
            }
        }
        for id in self.enrollments.ids() {
            self.enrollment(&id).await?;
        }
        Ok(())
    }

    async fn challenge(&self, id: &ChallengeId, now: u64) -> Result<(), StoreError> {
        let entry = match self.challenges.held(id) {
            Some(entry) => {
                entry.reload(self.store).await?;
                entry
            }
            None => {
                let Some(record) = self.store.challenges().get(id.as_str().as_bytes()).await? else {
                    return Ok(());
                };
                if !record.is_open_at(now) {
                    // Nobody here waits on it; a later read finds it in the store.
                    return Ok(());
                }
                self.challenges.insert_if_absent(ChallengeEntry::new(record), id.clone())
            }
        };
        if entry.is_open(now) {
            for target in entry.record().targets {
                if let Some(device) = self.devices.get(&target.device_id) {
                    device.deliver_once(&entry);
                }
            }
        }
        Ok(())
    }

    async fn device(&self, id: &DeviceId) -> Result<(), StoreError> {
        match self.devices.get(id) {
            Some(entry) => {
                if !entry.reload(self.store).await? {
                    self.devices.remove(id);
                }
            }
            None => {
                if let Some(record) = self.store.devices().get(id.as_str().as_bytes()).await? {
                    let entry: Arc<DeviceEntry> = DeviceEntry::new(record);
                    self.devices.insert_if_absent(entry);
                }
            }
        }
        Ok(())
    }

    async fn enrollment(&self, id: &EnrollmentId) -> Result<(), StoreError> {
        if let Some(entry) = self.enrollments.held(id) {
            let mut record = entry.record.lock().await;
            if let Some(stored) = self.store.enrollments().get(id.as_str().as_bytes()).await? {
                *record = stored;
                drop(record);
                entry.changed.send_replace(());
            }
        }
        Ok(())
    }
}
