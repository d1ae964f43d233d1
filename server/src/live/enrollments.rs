//! Enrollments in memory: each one's record under the lock its completion checks run under,
//! and the signal the starter's long poll wakes on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Mutex as AsyncMutex;

use nyckel_protocol::EnrollmentId;
use tokio::sync::watch;

use super::lock;
use crate::model::EnrollmentRecord;
use crate::store::{Store, StoreError};

/// An enrollment in memory.
pub struct EnrollmentEntry {
    /// The record (the completion checks run under this lock; an async lock, because they
    /// await the store while holding it).
    pub record: AsyncMutex<EnrollmentRecord>,
    /// Signalled when the enrollment completes.
    pub changed: watch::Sender<()>,
}

/// Enrollments being watched or completed recently.
#[derive(Default)]
pub struct EnrollmentRegistry {
    map: Mutex<HashMap<EnrollmentId, Arc<EnrollmentEntry>>>,
}

impl EnrollmentEntry {
    /// An entry for a stored record.
    pub fn new(record: EnrollmentRecord) -> Arc<Self> {
        Arc::new(Self { record: AsyncMutex::new(record), changed: watch::channel(()).0 })
    }
}

impl EnrollmentRegistry {
    /// Adds a new enrollment.
    pub fn insert(&self, id: EnrollmentId, entry: Arc<EnrollmentEntry>) {
        lock(&self.map).insert(id, entry);
    }

    /// An enrollment, if it is in memory.
    pub fn held(&self, id: &EnrollmentId) -> Option<Arc<EnrollmentEntry>> {
        lock(&self.map).get(id).cloned()
    }

    /// The enrollments in memory.
    pub fn ids(&self) -> Vec<EnrollmentId> {
        lock(&self.map).keys().cloned().collect()
    }

    /// An enrollment, from memory or the store.
    pub async fn get(&self, store: &dyn Store, id: &EnrollmentId) -> Result<Option<Arc<EnrollmentEntry>>, StoreError> {
        if let Some(entry) = lock(&self.map).get(id).cloned() {
            return Ok(Some(entry));
        }
        let Some(record) = store.enrollments().get(id.as_str().as_bytes()).await? else {
            return Ok(None);
        };
        let entry = EnrollmentEntry::new(record);
        Ok(Some(lock(&self.map).entry(id.clone()).or_insert(entry).clone()))
    }

    /// Forgets enrollments long past their expiry (they stay in the store); one in use right
    /// now (its lock held) is kept until a later sweep.
    pub fn sweep(&self, now: u64) {
        lock(&self.map).retain(|_, e| match e.record.try_lock() {
            Ok(record) => now < record.expires_at.saturating_add(600),
            Err(_) => true,
        });
    }
}
