//! Enrollments in memory: each one's record under the lock its completion checks run under,
//! and the signal the starter's long poll wakes on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nyckel_protocol::EnrollmentId;
use tokio::sync::watch;

use super::lock;
use crate::model::EnrollmentRecord;
use crate::store::{Store, StoreError};

/// An enrollment in memory.
pub struct EnrollmentEntry {
    /// The record (the completion checks run under this lock).
    pub record: Mutex<EnrollmentRecord>,
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
        Arc::new(Self { record: Mutex::new(record), changed: watch::channel(()).0 })
    }
}

impl EnrollmentRegistry {
    /// Adds a new enrollment.
    pub fn insert(&self, entry: Arc<EnrollmentEntry>) {
        let id = lock(&entry.record).id.clone();
        lock(&self.map).insert(id, entry);
    }

    /// An enrollment, from memory or the store.
    pub fn get(&self, store: &dyn Store, id: &EnrollmentId) -> Result<Option<Arc<EnrollmentEntry>>, StoreError> {
        if let Some(entry) = lock(&self.map).get(id) {
            return Ok(Some(entry.clone()));
        }
        let Some(record) = store.enrollments().get(id.as_str().as_bytes())? else {
            return Ok(None);
        };
        let entry = Arc::new(EnrollmentEntry { record: Mutex::new(record), changed: watch::channel(()).0 });
        Ok(Some(lock(&self.map).entry(id.clone()).or_insert(entry).clone()))
    }

    /// Forgets enrollments long past their expiry (they stay in the store).
    pub fn sweep(&self, now: u64) {
        lock(&self.map).retain(|_, e| now < lock(&e.record).expires_at.saturating_add(600));
    }
}
