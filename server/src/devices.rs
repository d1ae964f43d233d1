//! Devices: the stored record, and the in-memory registry with each device's challenge
//! inbox, wake-up signal and nonce window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use nyckel_protocol::policy::MAX_PIN_FAILURES;
use nyckel_protocol::wire::devices::{DeviceInfo, DeviceState};
use nyckel_protocol::{DeviceId, DevicePublicKey, PinSecret, SignedChallenge};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::challenges::ChallengeEntry;
use crate::metrics::Metrics;
use crate::nonces::{split_key, stored_key, NonceCheck, NonceWindow, NONCE_MEMORY};
use crate::seal::{SealError, Sealer};
use crate::store::{Store, StoreError};

/// Why a PIN could not be judged (a server fault, never the caller's).
#[derive(Debug, thiserror::Error)]
pub enum PinJudgeError {
    /// A sealed secret did not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device.
    pub device_id: DeviceId,
    /// The tenant of its user.
    pub tenant: String,
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
    /// A new `S` agreed by a PIN change (`POST /v1/device/rekey`), sealed; it replaces
    /// `sealed_secret` at the first MAC that verifies under it.
    #[serde(default)]
    pub pending_secret: Option<String>,
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

/// The server's verdict on one PIN-dependent value (answer MAC, PIN check, rekey MAC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinVerdict {
    /// Right: the counter is reset.
    Right,
    /// Wrong: one failure was counted.
    Wrong {
        /// Attempts left before blocking (0 when this failure blocked the device).
        attempts_left: u32,
        /// Whether this failure blocked the device.
        now_blocked: bool,
    },
    /// The device was already blocked: nothing was checked or counted, so a right and a
    /// wrong PIN get the same answer.
    Blocked,
}

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
            tenant: record.tenant.clone(),
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

    /// The one place a PIN is judged (PROTOCOL.md §9). Under the device's lock: a blocked
    /// device gets [`PinVerdict::Blocked`] without its value being looked at; otherwise
    /// `is_right` is tried with the current `S`, then with a pending one from a PIN change
    /// (a match promotes it and destroys the old `S`); the counter moves and the record is
    /// written before the lock is released, so concurrent answers are judged one at a time.
    pub fn judge_pin(
        &self,
        store: &Store,
        sealer: &Sealer,
        now: u64,
        is_right: impl Fn(&PinSecret) -> bool,
    ) -> Result<PinVerdict, PinJudgeError> {
        let mut record = lock(&self.record);
        if record.blocked {
            return Ok(PinVerdict::Blocked);
        }
        let mut next = record.clone();
        let current = sealer.open(&self.id, &record.sealed_secret)?;
        let mut right = is_right(&current);
        if !right {
            if let Some(pending) = &record.pending_secret {
                if is_right(&sealer.open(&self.id, pending)?) {
                    next.sealed_secret = pending.clone();
                    next.pending_secret = None;
                    right = true;
                }
            }
        }
        next.last_used_at = next.last_used_at.max(now);
        let verdict = if right {
            next.pin_failures = 0;
            PinVerdict::Right
        } else {
            next.pin_failures = next.pin_failures.saturating_add(1);
            next.blocked = next.pin_failures >= MAX_PIN_FAILURES;
            PinVerdict::Wrong {
                attempts_left: MAX_PIN_FAILURES.saturating_sub(next.pin_failures),
                now_blocked: next.blocked,
            }
        };
        store.devices.put(self.id.as_str().as_bytes(), &next)?;
        *record = next;
        Ok(verdict)
    }

    /// Whether `is_right` holds for this device's `S` (or its pending `S`, which a match
    /// promotes), for QR one-time passwords: a match resets the PIN counter, a miss counts
    /// nothing here (the caller counts per user and per challenge). A blocked device never matches.
    pub fn otp_matches(
        &self,
        store: &Store,
        sealer: &Sealer,
        now: u64,
        is_right: impl Fn(&PinSecret) -> bool,
    ) -> Result<bool, PinJudgeError> {
        let mut record = lock(&self.record);
        if record.blocked {
            return Ok(false);
        }
        let mut next = record.clone();
        if !is_right(&sealer.open(&self.id, &record.sealed_secret)?) {
            match &record.pending_secret {
                Some(pending) if is_right(&sealer.open(&self.id, pending)?) => {
                    next.sealed_secret = pending.clone();
                    next.pending_secret = None;
                }
                _ => return Ok(false),
            }
        }
        next.pin_failures = 0;
        next.last_used_at = next.last_used_at.max(now);
        store.devices.put(self.id.as_str().as_bytes(), &next)?;
        *record = next;
        Ok(true)
    }

    /// Remembers a request nonce, in memory and in the store (so it is still refused after
    /// a restart; not flushed here: sled writes it within its flush interval, and every
    /// security-relevant request flushes before it answers).
    pub fn offer_nonce(&self, store: &Store, nonce: [u8; 16], now: u64) -> Result<NonceCheck, StoreError> {
        let check = lock(&self.nonces).offer(nonce, now);
        if check == NonceCheck::Fresh {
            store.nonces.put(&stored_key(self.id.as_str(), &nonce), &now)?;
        }
        Ok(check)
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

/// A user's identity across tenants: (tenant, user name).
type UserKey = (String, String);

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
    /// Loads every stored device with the request nonces it used within the replay window.
    pub fn load(store: &Store, now: u64) -> Result<Self, StoreError> {
        let registry = Self::default();
        for record in store.devices.all::<DeviceRecord>()? {
            registry.insert(DeviceEntry::new(record));
        }
        let mut remembered: Vec<(u64, DeviceId, [u8; 16])> = Vec::new();
        for (key, at) in store.nonces.entries::<u64>()? {
            let parsed = split_key(&key).and_then(|(d, n)| DeviceId::new(d).ok().map(|d| (d, n)));
            match parsed {
                Some((device, nonce)) if at.saturating_add(NONCE_MEMORY) > now => remembered.push((at, device, nonce)),
                _ => store.nonces.remove(&key)?,
            }
        }
        remembered.sort_by_key(|(at, _, _)| *at);
        for (at, device, nonce) in remembered {
            if let Some(entry) = registry.get(&device) {
                lock(&entry.nonces).restore(nonce, at);
            }
        }
        Ok(registry)
    }

    /// Adds a device.
    pub fn insert(&self, entry: Arc<DeviceEntry>) {
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
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
