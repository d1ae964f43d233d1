//! Challenges in memory: each one's record as this process last stored it and the watch its
//! waiters (the relying party's status poll, the new phone's result poll) wake on; the
//! registry of open and recently closed ones, with each user's for the per-user limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nyckel_protocol::{ChallengeId, ChallengeState, DeviceId, SignedChallenge};
use tokio::sync::watch;

use super::{lock, UserKey};
use crate::model::ChallengeRecord;
use crate::store::{update_with, Change, Store, StoreError};

/// How long a closed challenge stays in memory after its expiry (later reads go to the store).
const KEEP_CLOSED: u64 = 600;

/// A challenge in memory.
pub struct ChallengeEntry {
    record: Mutex<ChallengeRecord>,
    /// Held across each store update of the record, so this process's copy follows the
    /// store's order of writes (an async lock: the update is awaited under it).
    writing: tokio::sync::Mutex<()>,
    state: watch::Sender<ChallengeState>,
    /// When this process made or loaded it (delivery latency).
    since: std::time::Instant,
}

impl ChallengeEntry {
    /// An entry for a stored record.
    pub fn new(record: ChallengeRecord) -> Arc<Self> {
        let state = watch::channel(record.state).0;
        Arc::new(Self {
            record: Mutex::new(record),
            writing: tokio::sync::Mutex::new(()),
            state,
            since: std::time::Instant::now(),
        })
    }

    /// How long ago this process made (or loaded) it.
    pub fn age(&self) -> std::time::Duration {
        self.since.elapsed()
    }

    /// A copy of the record.
    pub fn record(&self) -> ChallengeRecord {
        lock(&self.record).clone()
    }

    /// Pending and not expired at `now`.
    pub fn is_open(&self, now: u64) -> bool {
        let r = lock(&self.record);
        r.state == ChallengeState::Pending && now < r.expires_at
    }

    /// The signed copy for `device`, if it is a target.
    pub fn signed_for(&self, device: &DeviceId) -> Option<SignedChallenge> {
        let r = lock(&self.record);
        let target = r.targets.iter().find(|t| &t.device_id == device)?;
        Some(SignedChallenge { challenge: r.push_for(device), signature: target.signature })
    }

    /// Whether it was created by relying party `rp` of `tenant`.
    pub fn created_by(&self, tenant: &str, rp: &str) -> bool {
        let r = lock(&self.record);
        r.tenant == tenant && r.rp == rp
    }

    /// Whether `device` is addressed.
    pub fn targets(&self, device: &DeviceId) -> bool {
        lock(&self.record).targets.iter().any(|t| &t.device_id == device)
    }

    /// Changes the challenge in the store, atomically ([`crate::store::Records::update`]),
    /// keeps the result as this entry's copy and wakes the watchers when the state moved.
    /// `change` may run more than once; the value of the run that took effect is returned.
    async fn change<R: Send>(
        &self,
        store: &dyn Store,
        mut change: impl FnMut(&mut ChallengeRecord) -> (Change, R) + Send,
    ) -> Result<(ChallengeRecord, R), StoreError> {
        // One writer at a time across the store's atomic update, so this process's copy
        // follows the store's order of writes.
        let _writing = self.writing.lock().await;
        let key = self.record().id.as_str().as_bytes().to_vec();
        let (stored, value) = match update_with(store.challenges(), &key, &mut change).await? {
            Some(done) => done,
            None => {
                // Stored before it was ever in memory, so this is a store that lost it: write it back.
                let mut record = self.record();
                let (_, value) = change(&mut record);
                store.challenges().put(&key, &record).await?;
                (record, value)
            }
        };
        let mut copy = lock(&self.record);
        let moved = stored.state != copy.state;
        *copy = stored.clone();
        drop(copy);
        if moved {
            self.state.send_replace(stored.state);
        }
        Ok((stored, value))
    }

    /// Moves `pending` to `state`, once, as one atomic store update; refuses when it is no
    /// longer pending (409) or has expired (410, and the challenge becomes expired).
    pub async fn decide(
        &self,
        store: &dyn Store,
        state: ChallengeState,
        device: Option<&DeviceId>,
        now: u64,
    ) -> Result<Result<ChallengeRecord, Decided>, StoreError> {
        let (record, outcome) = self
            .change(store, |r| {
                if r.state != ChallengeState::Pending {
                    return (Change::Keep, Some(Decided::AlreadyFinal(r.state)));
                }
                if now >= r.expires_at {
                    r.state = ChallengeState::Expired;
                    return (Change::Write, Some(Decided::JustExpired(Box::new(r.clone()))));
                }
                r.state = state;
                r.device_id = device.cloned();
                r.answered_at = Some(now);
                (Change::Write, None)
            })
            .await?;
        Ok(match outcome {
            Some(refused) => Err(refused),
            None => Ok(record),
        })
    }

    /// The state at `now`; an overdue pending challenge becomes `expired` (stored) and its
    /// record is returned for the caller to audit.
    pub async fn expire_if_due(
        &self,
        store: &dyn Store,
        now: u64,
    ) -> Result<(ChallengeState, Option<ChallengeRecord>), StoreError> {
        {
            let r = lock(&self.record);
            if r.state != ChallengeState::Pending || now < r.expires_at {
                return Ok((r.state, None));
            }
        }
        let (record, expired_now) = self
            .change(store, |r| {
                if r.state != ChallengeState::Pending || now < r.expires_at {
                    return (Change::Keep, false);
                }
                r.state = ChallengeState::Expired;
                (Change::Write, true)
            })
            .await?;
        let state = record.state;
        Ok((state, expired_now.then_some(record)))
    }

    /// Counts one wrong one-time password on the challenge; returns the count.
    pub async fn count_otp_attempt(&self, store: &dyn Store) -> Result<u32, StoreError> {
        let (record, ()) = self
            .change(store, |r| {
                r.otp_attempts = r.otp_attempts.saturating_add(1);
                (Change::Write, ())
            })
            .await?;
        Ok(record.otp_attempts)
    }

    /// Replaces this copy with the stored record (another instance changed it) and wakes the
    /// watchers when the state moved. Under the writing lock, so it cannot overwrite a newer
    /// write of this process with an older read.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        let _writing = self.writing.lock().await;
        let key = self.record().id.as_str().as_bytes().to_vec();
        let Some(stored) = store.challenges().get(&key).await? else {
            return Ok(());
        };
        let mut copy = lock(&self.record);
        let moved = stored.state != copy.state;
        *copy = stored;
        let state = copy.state;
        drop(copy);
        if moved {
            self.state.send_replace(state);
        }
        Ok(())
    }

    /// Watches the state.
    pub fn subscribe(&self) -> watch::Receiver<ChallengeState> {
        self.state.subscribe()
    }
}

/// Why [`ChallengeEntry::decide`] refused.
#[derive(Debug)]
pub enum Decided {
    /// It was already final.
    AlreadyFinal(ChallengeState),
    /// It had expired; this call made it `expired` (persist and audit it).
    JustExpired(Box<ChallengeRecord>),
}

/// Challenges in memory: every open one, and closed ones for a while.
#[derive(Default)]
pub struct ChallengeRegistry {
    map: Mutex<HashMap<ChallengeId, Arc<ChallengeEntry>>>,
    /// Per (tenant, user), the challenges that may still count against the user's limits
    /// (open, or a push of the last minute), so a new challenge checks the user's own few
    /// instead of scanning every challenge in memory.
    by_user: Mutex<HashMap<UserKey, Vec<Arc<ChallengeEntry>>>>,
}

impl ChallengeRegistry {
    /// Adds a challenge.
    pub fn insert(&self, entry: Arc<ChallengeEntry>, id: ChallengeId) {
        let user = {
            let r = lock(&entry.record);
            (r.tenant.clone(), r.user.clone())
        };
        lock(&self.by_user).entry(user).or_default().push(entry.clone());
        lock(&self.map).insert(id, entry);
    }

    /// Adds a challenge unless one of that id is here already; returns the one kept.
    pub fn insert_if_absent(&self, entry: Arc<ChallengeEntry>, id: ChallengeId) -> Arc<ChallengeEntry> {
        {
            let mut map = lock(&self.map);
            if let Some(held) = map.get(&id) {
                return held.clone();
            }
            map.insert(id, entry.clone());
        }
        let user = {
            let r = lock(&entry.record);
            (r.tenant.clone(), r.user.clone())
        };
        lock(&self.by_user).entry(user).or_default().push(entry.clone());
        entry
    }

    /// A challenge, if it is in memory.
    pub fn held(&self, id: &ChallengeId) -> Option<Arc<ChallengeEntry>> {
        lock(&self.map).get(id).cloned()
    }

    /// A challenge, from memory or the store.
    pub async fn get(&self, store: &dyn Store, id: &ChallengeId) -> Result<Option<Arc<ChallengeEntry>>, StoreError> {
        if let Some(entry) = lock(&self.map).get(id).cloned() {
            return Ok(Some(entry));
        }
        let Some(record) = store.challenges().get(id.as_str().as_bytes()).await? else {
            return Ok(None);
        };
        let mut map = lock(&self.map);
        Ok(Some(map.entry(id.clone()).or_insert_with(|| ChallengeEntry::new(record)).clone()))
    }

    /// Every challenge in memory.
    pub fn entries(&self) -> Vec<Arc<ChallengeEntry>> {
        lock(&self.map).values().cloned().collect()
    }

    /// Forgets long-closed challenges (they stay in the store).
    pub fn forget_closed(&self, now: u64) {
        lock(&self.map).retain(|_, e| {
            let r = lock(&e.record);
            r.state == ChallengeState::Pending || now < r.expires_at.saturating_add(KEEP_CLOSED)
        });
        lock(&self.by_user).retain(|_, list| {
            list.retain(|e| lock(&e.record).counts_for_limits(now));
            !list.is_empty()
        });
    }

    /// The user's open challenges and the pushes created for them in the last minute.
    pub fn count_for_user(&self, tenant: &str, user: &str, now: u64) -> (usize, usize) {
        let mut by_user = lock(&self.by_user);
        let Some(list) = by_user.get_mut(&(tenant.to_owned(), user.to_owned())) else {
            return (0, 0);
        };
        list.retain(|e| lock(&e.record).counts_for_limits(now));
        let mut open = 0;
        let mut recent = 0;
        for entry in list.iter() {
            let r = lock(&entry.record);
            open += usize::from(r.is_open_at(now));
            recent += usize::from(r.is_recent_push(now));
        }
        (open, recent)
    }

    /// How many challenges in memory are pending and unexpired.
    pub fn pending(&self, now: u64) -> u64 {
        lock(&self.map).values().filter(|e| e.is_open(now)).count() as u64
    }

    /// How many challenges are in memory.
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
