//! Devices in memory: each one's challenge inbox and long-poll wake-up, and this process's
//! copy of its record (changed only through the store's atomic update); the registry by id
//! and by user.

pub use crate::model::DeviceRecord;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::{DeviceId, DevicePublicKey, SignedChallenge};
use tokio::sync::watch;

use super::challenges::ChallengeEntry;
use super::{lock, UserKey};
use crate::metrics::Metrics;
use crate::nonces::NonceCheck;
use crate::store::{update_with, Change, Store, StoreError};

struct InboxItem {
    challenge: Arc<ChallengeEntry>,
    delivered: bool,
}

/// A registered device in memory.
pub struct DeviceEntry {
    /// The device.
    pub id: DeviceId,
    /// The tenant of its user.
    pub tenant: String,
    /// Its user.
    pub user: String,
    /// Its key.
    pub public_key: DevicePublicKey,
    record: Mutex<DeviceRecord>,
    /// Held across each store update of the record, so this process's copy follows the
    /// store's order of writes (an async lock: the update is awaited under it).
    writing: tokio::sync::Mutex<()>,
    inbox: Mutex<Vec<InboxItem>>,
    signal: watch::Sender<u64>,
}

impl DeviceEntry {
    /// An entry for a stored record.
    pub fn new(record: DeviceRecord) -> Arc<Self> {
        Arc::new(Self {
            id: record.device_id.clone(),
            tenant: record.tenant.clone(),
            user: record.user.clone(),
            public_key: record.public_key,
            record: Mutex::new(record),
            writing: tokio::sync::Mutex::new(()),
            inbox: Mutex::new(Vec::new()),
            signal: watch::channel(0).0,
        })
    }

    /// A copy of the record.
    pub fn record(&self) -> DeviceRecord {
        lock(&self.record).clone()
    }

    /// Changes the record in the store, atomically ([`crate::store::Records::update`]), and
    /// keeps the result as this entry's copy (the caller flushes). `change` may run more than
    /// once; the value of the run that took effect is returned. A device removed meanwhile is
    /// left removed.
    pub async fn update<R: Send>(
        &self,
        store: &dyn Store,
        mut change: impl FnMut(&mut DeviceRecord) -> R + Send,
    ) -> Result<R, StoreError> {
        self.update_if(store, |r| (Change::Write, change(r))).await.map(|(_, value)| value)
    }

    /// [`DeviceEntry::update`] whose closure also says whether to write, returning the record
    /// as stored afterwards with the closure's value.
    pub async fn update_if<R: Send>(
        &self,
        store: &dyn Store,
        mut change: impl FnMut(&mut DeviceRecord) -> (Change, R) + Send,
    ) -> Result<(DeviceRecord, R), StoreError> {
        // One writer at a time across the store's atomic update, so this process's copy
        // follows the store's order of writes.
        let _writing = self.writing.lock().await;
        let key = self.id.as_str().as_bytes();
        match update_with(store.devices(), key, &mut change).await? {
            Some((stored, value)) => {
                *lock(&self.record) = stored.clone();
                Ok((stored, value))
            }
            None => {
                // Removed from the store (revoked): decide on the last copy, write nothing.
                let copy = self.record();
                let mut gone = copy.clone();
                let (_, value) = change(&mut gone);
                Ok((copy, value))
            }
        }
    }

    /// Replaces this copy with the stored record (another instance changed it); `false` when
    /// the device is no longer stored (removed). Under the writing lock, so it cannot
    /// overwrite a newer write of this process with an older read.
    pub async fn reload(&self, store: &dyn Store) -> Result<bool, StoreError> {
        let _writing = self.writing.lock().await;
        match store.devices().get(self.id.as_str().as_bytes()).await? {
            Some(stored) => {
                *lock(&self.record) = stored;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The policy state at `now`.
    pub fn state(&self, now: u64) -> DeviceState {
        lock(&self.record).state(now)
    }

    /// Remembers a request nonce ([`crate::store::NonceRepo::offer`]: durable, so it is still
    /// refused after a restart).
    pub async fn offer_nonce(&self, store: &dyn Store, nonce: [u8; 16], now: u64) -> Result<NonceCheck, StoreError> {
        store.nonces().offer(&self.id, nonce, now).await
    }

    /// Queues a challenge for this device and wakes its long poll.
    pub fn deliver(&self, challenge: Arc<ChallengeEntry>) {
        lock(&self.inbox).push(InboxItem { challenge, delivered: false });
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// [`DeviceEntry::deliver`], unless the challenge is in the inbox already.
    pub fn deliver_once(&self, challenge: &Arc<ChallengeEntry>) {
        let id = challenge.record().id;
        if lock(&self.inbox).iter().any(|item| item.challenge.record().id == id) {
            return;
        }
        self.deliver(challenge.clone());
    }

    /// A receiver that wakes on the next delivery; take it before [`DeviceEntry::poll_inbox`]
    /// so no delivery between the check and the wait is missed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.signal.subscribe()
    }

    /// The open challenges for this device, when there is one it has not been sent yet or
    /// `finish` is set; `None` means "keep waiting". Drops answered and expired ones.
    /// Each challenge's first delivery is reported to `metrics` with its latency.
    pub fn poll_inbox(&self, now: u64, finish: bool, metrics: &Metrics) -> Option<Vec<SignedChallenge>> {
        let mut inbox = lock(&self.inbox);
        inbox.retain(|item| item.challenge.is_open(now));
        if !finish && inbox.iter().all(|item| item.delivered) {
            return None;
        }
        let mut out = Vec::with_capacity(inbox.len());
        for item in inbox.iter_mut() {
            if !item.delivered {
                metrics.delivered(item.challenge.age());
            }
            item.delivered = true;
            if let Some(signed) = item.challenge.signed_for(&self.id) {
                out.push(signed);
            }
        }
        Some(out)
    }

    /// Drops closed challenges from the inbox (housekeeping).
    pub fn prune_inbox(&self, now: u64) {
        lock(&self.inbox).retain(|item| item.challenge.is_open(now));
    }
}

#[derive(Default)]
struct Maps {
    by_id: HashMap<DeviceId, Arc<DeviceEntry>>,
    by_user: HashMap<UserKey, Vec<Arc<DeviceEntry>>>,
}

/// Every registered device, by id and by user.
#[derive(Default)]
pub struct DeviceRegistry {
    maps: RwLock<Maps>,
}

impl DeviceRegistry {
    /// Loads every stored device.
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let registry = Self::default();
        for record in store.devices().all().await? {
            registry.insert(DeviceEntry::new(record));
        }
        Ok(registry)
    }

    /// Adds a device.
    pub fn insert(&self, entry: Arc<DeviceEntry>) {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        maps.by_user.entry((entry.tenant.clone(), entry.user.clone())).or_default().push(entry.clone());
        maps.by_id.insert(entry.id.clone(), entry);
    }

    /// Adds a device unless one of that id is here already.
    pub fn insert_if_absent(&self, entry: Arc<DeviceEntry>) {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        if maps.by_id.contains_key(&entry.id) {
            return;
        }
        maps.by_user.entry((entry.tenant.clone(), entry.user.clone())).or_default().push(entry.clone());
        maps.by_id.insert(entry.id.clone(), entry);
    }

    /// Removes a device from memory.
    pub fn remove(&self, id: &DeviceId) -> Option<Arc<DeviceEntry>> {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        let entry = maps.by_id.remove(id)?;
        let key = (entry.tenant.clone(), entry.user.clone());
        if let Some(list) = maps.by_user.get_mut(&key) {
            list.retain(|e| &e.id != id);
            if list.is_empty() {
                maps.by_user.remove(&key);
            }
        }
        Some(entry)
    }

    /// One device.
    pub fn get(&self, id: &DeviceId) -> Option<Arc<DeviceEntry>> {
        self.maps.read().unwrap_or_else(|p| p.into_inner()).by_id.get(id).cloned()
    }

    /// One device, from memory or else the store: with several instances, a phone enrolled
    /// through another one may call here before that instance's notice has arrived.
    pub async fn get_or_load(&self, store: &dyn Store, id: &DeviceId) -> Result<Option<Arc<DeviceEntry>>, StoreError> {
        if let Some(entry) = self.get(id) {
            return Ok(Some(entry));
        }
        let Some(record) = store.devices().get(id.as_str().as_bytes()).await? else {
            return Ok(None);
        };
        self.insert_if_absent(DeviceEntry::new(record));
        Ok(self.get(id))
    }

    /// The devices of `user` in `tenant`, oldest first.
    pub fn of_user(&self, tenant: &str, user: &str) -> Vec<Arc<DeviceEntry>> {
        let key = (tenant.to_owned(), user.to_owned());
        self.maps.read().unwrap_or_else(|p| p.into_inner()).by_user.get(&key).cloned().unwrap_or_default()
    }

    /// Every device.
    pub fn all(&self) -> Vec<Arc<DeviceEntry>> {
        self.maps.read().unwrap_or_else(|p| p.into_inner()).by_id.values().cloned().collect()
    }
}
