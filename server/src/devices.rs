//! Devices: the stored record, and the in-memory registry with each device's challenge
//! inbox, wake-up signal and nonce window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use nyckel_protocol::policy::MAX_PIN_FAILURES;
use nyckel_protocol::wire::devices::{DeviceInfo, DeviceState};
use nyckel_protocol::{DeviceId, DevicePublicKey, SignedChallenge};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::challenges::ChallengeEntry;
use crate::nonces::{NonceCheck, NonceWindow};
use crate::store::{Store, StoreError};

/// A stored device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device.
    pub device_id: DeviceId,
    /// Its user.
    pub user: String,
    /// The name given at enrollment.
    pub name: String,
    /// The platform it reported.
    pub platform: String,
    /// Its P-256 key.
    pub public_key: DevicePublicKey,
    /// The PIN secret `S`, sealed (see [`crate::seal`]).
    pub sealed_secret: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Last enrollment, answer, PIN check or successful OTP.
    pub last_used_at: u64,
    /// Consecutive wrong PINs.
    pub pin_failures: u32,
    /// Blocked after too many wrong PINs.
    pub blocked: bool,
    /// Whether the move to inactive has been audited.
    #[serde(default)]
    pub inactive_noted: bool,
}

impl DeviceRecord {
    /// The policy state at `now`.
    pub fn state(&self, now: u64) -> DeviceState {
        DeviceState::from_policy(self.blocked, self.last_used_at, now)
    }

    /// The public view.
    pub fn info(&self, now: u64) -> DeviceInfo {
        DeviceInfo {
            device_id: self.device_id.clone(),
            user: self.user.clone(),
            name: self.name.clone(),
            platform: self.platform.clone(),
            state: self.state(now),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            pin_failures: self.pin_failures,
        }
    }
}

/// The result of counting one wrong PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinFailure {
    /// Attempts left before blocking (0 when blocked).
    pub attempts_left: u32,
    /// Whether this failure blocked the device.
    pub now_blocked: bool,
}

struct InboxItem {
    challenge: Arc<ChallengeEntry>,
    delivered: bool,
}

/// A registered device in memory.
pub struct DeviceEntry {
    /// The device.
    pub id: DeviceId,
    /// Its user.
    pub user: String,
    /// Its key.
    pub public_key: DevicePublicKey,
    record: Mutex<DeviceRecord>,
    inbox: Mutex<Vec<InboxItem>>,
    signal: watch::Sender<u64>,
    nonces: Mutex<NonceWindow>,
}

/// Locks a mutex, recovering from poisoning: every critical section leaves the data
/// consistent before anything that could panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DeviceEntry {
    /// An entry for a stored record.
    pub fn new(record: DeviceRecord) -> Arc<Self> {
        Arc::new(Self {
            id: record.device_id.clone(),
            user: record.user.clone(),
            public_key: record.public_key,
            record: Mutex::new(record),
            inbox: Mutex::new(Vec::new()),
            signal: watch::channel(0).0,
            nonces: Mutex::new(NonceWindow::default()),
        })
    }

    /// A copy of the record.
    pub fn record(&self) -> DeviceRecord {
        lock(&self.record).clone()
    }

    /// Changes the record and writes it to the store (the caller flushes).
    pub fn update<R>(&self, store: &Store, change: impl FnOnce(&mut DeviceRecord) -> R) -> Result<R, StoreError> {
        let mut record = lock(&self.record);
        let mut next = record.clone();
        let result = change(&mut next);
        store.devices.put(self.id.as_str().as_bytes(), &next)?;
        *record = next;
        Ok(result)
    }

    /// The policy state at `now`.
    pub fn state(&self, now: u64) -> DeviceState {
        lock(&self.record).state(now)
    }

    /// Counts one wrong PIN, blocking at [`MAX_PIN_FAILURES`].
    pub fn count_pin_failure(&self, store: &Store, now: u64) -> Result<PinFailure, StoreError> {
        self.update(store, |r| {
            r.pin_failures = r.pin_failures.saturating_add(1);
            r.last_used_at = r.last_used_at.max(now);
            let now_blocked = !r.blocked && r.pin_failures >= MAX_PIN_FAILURES;
            r.blocked |= now_blocked;
            PinFailure { attempts_left: MAX_PIN_FAILURES.saturating_sub(r.pin_failures), now_blocked }
        })
    }

    /// Records a right PIN: the counter resets and the device counts as used.
    pub fn pin_correct(&self, store: &Store, now: u64) -> Result<(), StoreError> {
        self.update(store, |r| {
            r.pin_failures = 0;
            r.last_used_at = r.last_used_at.max(now);
        })
    }

    /// Remembers a request nonce.
    pub fn offer_nonce(&self, nonce: [u8; 16], now: u64) -> NonceCheck {
        lock(&self.nonces).offer(nonce, now)
    }

    /// Queues a challenge for this device and wakes its long poll.
    pub fn deliver(&self, challenge: Arc<ChallengeEntry>) {
        lock(&self.inbox).push(InboxItem { challenge, delivered: false });
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that wakes on the next delivery; take it before [`DeviceEntry::poll_inbox`]
    /// so no delivery between the check and the wait is missed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.signal.subscribe()
    }

    /// The open challenges for this device, when there is one it has not been sent yet or
    /// `finish` is set; `None` means "keep waiting". Drops answered and expired ones.
    pub fn poll_inbox(&self, now: u64, finish: bool) -> Option<Vec<SignedChallenge>> {
        let mut inbox = lock(&self.inbox);
        inbox.retain(|item| item.challenge.is_open(now));
        if !finish && inbox.iter().all(|item| item.delivered) {
            return None;
        }
        let mut out = Vec::with_capacity(inbox.len());
        for item in inbox.iter_mut() {
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
    by_user: HashMap<String, Vec<Arc<DeviceEntry>>>,
}

/// Every registered device, by id and by user.
#[derive(Default)]
pub struct DeviceRegistry {
    maps: RwLock<Maps>,
}

impl DeviceRegistry {
    /// Loads every stored device.
    pub fn load(store: &Store) -> Result<Self, StoreError> {
        let registry = Self::default();
        for record in store.devices.all::<DeviceRecord>()? {
            registry.insert(DeviceEntry::new(record));
        }
        Ok(registry)
    }

    /// Adds a device.
    pub fn insert(&self, entry: Arc<DeviceEntry>) {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        maps.by_user.entry(entry.user.clone()).or_default().push(entry.clone());
        maps.by_id.insert(entry.id.clone(), entry);
    }

    /// Removes a device from memory.
    pub fn remove(&self, id: &DeviceId) -> Option<Arc<DeviceEntry>> {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        let entry = maps.by_id.remove(id)?;
        if let Some(list) = maps.by_user.get_mut(&entry.user) {
            list.retain(|e| &e.id != id);
            if list.is_empty() {
                maps.by_user.remove(&entry.user);
            }
        }
        Some(entry)
    }

    /// One device.
    pub fn get(&self, id: &DeviceId) -> Option<Arc<DeviceEntry>> {
        self.maps.read().unwrap_or_else(|p| p.into_inner()).by_id.get(id).cloned()
    }

    /// A user's devices, oldest first.
    pub fn of_user(&self, user: &str) -> Vec<Arc<DeviceEntry>> {
        self.maps.read().unwrap_or_else(|p| p.into_inner()).by_user.get(user).cloned().unwrap_or_default()
    }

    /// Every device.
    pub fn all(&self) -> Vec<Arc<DeviceEntry>> {
        self.maps.read().unwrap_or_else(|p| p.into_inner()).by_id.values().cloned().collect()
    }
}
