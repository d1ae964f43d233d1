//! The append-only audit log: hash-chained events under contiguous sequence numbers, the
//! signed chain head, aggregation of unauthenticated failures, and verification of the whole.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use nyckel_protocol::wire::audit::{AuditEvent, AuditHash, AuditHead, AuditKind, AuditPage, HeadError};
use nyckel_protocol::{ChallengeId, DeviceId, ServerPublicKey, ServerSigningKey};
use serde::Deserialize;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::store::{SledStore, StoreError};

/// Largest page of `GET /v1/admin/audit`.
pub const MAX_PAGE: usize = 500;
/// Default page size.
pub const DEFAULT_PAGE: usize = 100;
/// Length of an aggregation window of unauthenticated failures, seconds.
pub const AGGREGATE_WINDOW: u64 = 60;
/// Distinct addresses remembered per aggregation window; beyond it the count is a floor.
pub const MAX_AGGREGATE_ADDRESSES: usize = 1024;

/// Key of the single record in the head tree.
const HEAD_KEY: &[u8] = b"head";

/// Why the audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is unusable where the log must continue from it.
    #[error("audit record {seq} is corrupt: {reason}")]
    Corrupt {
        /// Its sequence number (0 when even that is unreadable).
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// Sequence numbers are exhausted (never in practice; refused rather than wrapped).
    #[error("audit sequence numbers are exhausted")]
    Exhausted,
}

fn sled_err(e: sled::Error) -> AuditError {
    AuditError::Store(StoreError::from(e))
}

/// An event being built; [`Audit::append`] gives it its number, time and chain link.
#[derive(Debug, Clone)]
pub struct Entry {
    kind: AuditKind,
    actor: String,
    tenant: Option<String>,
    user: Option<String>,
    device_id: Option<DeviceId>,
    challenge_id: Option<ChallengeId>,
    ip: Option<String>,
    detail: Option<String>,
}

impl Entry {
    /// An event of `kind` by `actor` (`device`, `user`, `rp:<name>`, `admin`, `server`).
    pub fn new(kind: AuditKind, actor: impl Into<String>) -> Self {
        Self {
            kind,
            actor: actor.into(),
            tenant: None,
            user: None,
            device_id: None,
            challenge_id: None,
            ip: None,
            detail: None,
        }
    }

    /// The organisation concerned.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The user concerned.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The device concerned.
    pub fn device(mut self, device: &DeviceId) -> Self {
        self.device_id = Some(device.clone());
        self
    }

    /// The challenge concerned.
    pub fn challenge(mut self, challenge: &ChallengeId) -> Self {
        self.challenge_id = Some(challenge.clone());
        self
    }

    /// The client address.
    pub fn ip(mut self, ip: Option<&str>) -> Self {
        self.ip = ip.map(str::to_owned);
        self
    }

    /// Free text (never secrets, MACs or OTPs).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Where the next event goes: its number and the hash it links to.
#[derive(Debug, Clone, Copy)]
struct ChainState {
    next_seq: u64,
    prev_hash: AuditHash,
}

/// Unauthenticated failures of one kind in the current window.
#[derive(Debug)]
struct Window {
    start: u64,
    count: u64,
    addresses: HashSet<String>,
    /// More distinct addresses were seen than [`MAX_AGGREGATE_ADDRESSES`].
    overflow: bool,
}

impl Window {
    fn new(start: u64) -> Self {
        Self { start, count: 0, addresses: HashSet::new(), overflow: false }
    }

    fn add(&mut self, ip: Option<&str>) {
        self.count = self.count.saturating_add(1);
        if let Some(ip) = ip {
            if self.addresses.len() < MAX_AGGREGATE_ADDRESSES {
                self.addresses.insert(ip.to_owned());
            } else if !self.addresses.contains(ip) {
                self.overflow = true;
            }
        }
    }

    fn summary(self, kind: AuditKind, now: u64) -> Entry {
        let distinct = self.addresses.len();
        let plus = if self.overflow { "+" } else { "" };
        let detail = format!(
            "{} refused in {} s from {distinct}{plus} distinct address(es)",
            self.count,
            now.saturating_sub(self.start).max(1)
        );
        let single = if distinct == 1 && !self.overflow { self.addresses.into_iter().next() } else { None };
        Entry::new(kind, "unknown").ip(single.as_deref()).detail(detail)
    }
}

/// The audit log.
#[derive(Clone)]
pub struct Audit {
    store: SledStore,
    signer: Option<Arc<ServerSigningKey>>,
    /// `None` until loaded from the store; the lock also serialises appends, so numbers are
    /// contiguous and each event links to the one before.
    chain: Arc<Mutex<Option<ChainState>>>,
    aggregates: Arc<Mutex<HashMap<AuditKind, Window>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the state as it was before the failed write
    // (state only advances after a committed transaction), so the data is still sound.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Audit {
    /// The log in `store`, with an UNSIGNED head: transitional, until the server opens it with
    /// [`Audit::open`]; [`verify`] reports such a head as [`Finding::HeadUnsigned`].
    pub fn new(store: SledStore) -> Self {
        Self {
            store,
            signer: None,
            chain: Arc::new(Mutex::new(None)),
            aggregates: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The sled database the chain is written to (tests tamper with stored events through it).
    pub fn sled(&self) -> &SledStore {
        &self.store
    }

    /// The log in `store`, its head signed by `key`. Events written before the chain existed
    /// are adopted (renumbered from 1 and chained) once. Open one `Audit` per store and
    /// clone it to share: clones share the chain state, separate instances would not.
    pub fn open(store: SledStore, key: Arc<ServerSigningKey>) -> Result<Self, AuditError> {
        let audit = Self { signer: Some(key), ..Self::new(store) };
        let state = audit.load_state()?;
        *lock(&audit.chain) = Some(state);
        Ok(audit)
    }

    /// Where the next event goes. The head, when present, wins over the last entry, and
    /// the next number is past both: after tampering (a removed tail, a deleted head, forged
    /// entries) new events leave a gap or a broken link that [`verify`] keeps reporting,
    /// instead of re-signing a doctored log as intact.
    fn load_state(&self) -> Result<ChainState, AuditError> {
        let head: Option<AuditHead> = self.store.audit_head.get(HEAD_KEY)?;
        let last = self.store.audit.tree().last().map_err(sled_err)?;
        let last = match last {
            None => None,
            Some((key, value)) => {
                let seq = key_seq(&key).ok_or_else(|| AuditError::Corrupt { seq: 0, reason: "bad key".into() })?;
                if head.is_none() && is_legacy(&value) {
                    return self.adopt_legacy();
                }
                let event: Option<AuditEvent> = serde_json::from_slice(&value).ok();
                Some((seq, event.map(|e| e.hash)))
            }
        };
        let state = match (head, last) {
            (None, None) => ChainState { next_seq: 1, prev_hash: AuditHash::GENESIS },
            (Some(head), last) => {
                let last_seq = last.map_or(0, |(seq, _)| seq);
                if last.is_none_or(|(seq, hash)| seq != head.seq || hash != Some(head.hash)) {
                    tracing::warn!(
                        "the audit head (seq {}) does not match the last audit event (seq {last_seq}); \
                         run `nyckel-server audit verify`",
                        head.seq
                    );
                }
                let next_seq = head.seq.max(last_seq).checked_add(1).ok_or(AuditError::Exhausted)?;
                ChainState { next_seq, prev_hash: head.hash }
            }
            (None, Some((seq, _))) => {
                tracing::warn!("the audit head is missing; run `nyckel-server audit verify`");
                ChainState { next_seq: seq.checked_add(1).ok_or(AuditError::Exhausted)?, prev_hash: AuditHash::GENESIS }
            }
        };
        Ok(state)
    }

    /// Chains events written before the hash chain existed: renumbered 1.. in their order,
    /// in one transaction with the head.
    fn adopt_legacy(&self) -> Result<ChainState, AuditError> {
        let mut old_keys = Vec::new();
        let mut events = Vec::new();
        let mut prev_hash = AuditHash::GENESIS;
        for item in self.store.audit.tree().iter() {
            let (key, value) = item.map_err(sled_err)?;
            let seq = key_seq(&key).unwrap_or(0);
            let legacy: LegacyEvent = serde_json::from_slice(&value)
                .map_err(|e| AuditError::Corrupt { seq, reason: format!("legacy event: {e}") })?;
            let mut event = legacy.chained(events.len() as u64 + 1, prev_hash);
            event.hash = event.chain_hash();
            prev_hash = event.hash;
            old_keys.push(key);
            events.push(event);
        }
        let next_seq = events.len() as u64 + 1;
        let encoded: Vec<(u64, Vec<u8>)> =
            events.iter().map(|e| Ok((e.seq, encode(e)?))).collect::<Result<_, AuditError>>()?;
        let head = self.sign_head(next_seq - 1, prev_hash);
        let head_bytes = encode(&head)?;
        (self.store.audit.tree(), self.store.audit_head.tree())
            .transaction(|(audit, heads)| {
                for key in &old_keys {
                    audit.remove(key)?;
                }
                for (seq, bytes) in &encoded {
                    audit.insert(&seq.to_be_bytes(), bytes.as_slice())?;
                }
                heads.insert(HEAD_KEY, head_bytes.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_err)?;
        tracing::warn!("{} audit events written before the hash chain were chained", events.len());
        Ok(ChainState { next_seq, prev_hash })
    }

    fn sign_head(&self, seq: u64, hash: AuditHash) -> AuditHead {
        match &self.signer {
            Some(key) => AuditHead {
                seq,
                hash,
                key_id: Some(key.public_key().key_id().to_string()),
                signature: Some(key.sign(&AuditHead::signed_bytes(seq, &hash))),
            },
            None => AuditHead { seq, hash, key_id: None, signature: None },
        }
    }

    /// Appends an event and the new signed head in one transaction; durable with the
    /// caller's next flush. Returns the event's sequence number.
    pub fn append(&self, entry: Entry, now: u64) -> Result<u64, AuditError> {
        let mut chain = lock(&self.chain);
        let state = match *chain {
            Some(state) => state,
            None => self.load_state()?,
        };
        let seq = state.next_seq;
        let mut event = AuditEvent {
            seq,
            at: now,
            kind: entry.kind,
            actor: entry.actor,
            tenant: entry.tenant,
            user: entry.user,
            device_id: entry.device_id,
            challenge_id: entry.challenge_id,
            ip: entry.ip,
            detail: entry.detail,
            prev_hash: state.prev_hash,
            hash: AuditHash::GENESIS,
        };
        event.hash = event.chain_hash();
        let event_bytes = encode(&event)?;
        let head_bytes = encode(&self.sign_head(seq, event.hash))?;
        (self.store.audit.tree(), self.store.audit_head.tree())
            .transaction(|(audit, heads)| {
                audit.insert(&seq.to_be_bytes(), event_bytes.as_slice())?;
                heads.insert(HEAD_KEY, head_bytes.as_slice())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(transaction_err)?;
        let next_seq = seq.checked_add(1).ok_or(AuditError::Exhausted)?;
        *chain = Some(ChainState { next_seq, prev_hash: event.hash });
        Ok(seq)
    }

    /// Events with sequence numbers after `after`, at most `limit` (clamped to 1–500).
    /// With `tenant`, only that tenant's events (a tenant administrator's view): the log is
    /// read in batches until the page is full or the log ends.
    pub fn page(&self, after: u64, limit: usize, tenant: Option<&str>) -> Result<AuditPage, StoreError> {
        self.page_where(after, limit, |event| tenant.is_none_or(|t| event.tenant.as_deref() == Some(t)))
    }

    /// Events with sequence numbers after `after` that `keep` selects, at most `limit`
    /// (clamped to 1–500); the log is read in batches until the page is full or the log ends.
    pub fn page_where(
        &self,
        after: u64,
        limit: usize,
        keep: impl Fn(&AuditEvent) -> bool,
    ) -> Result<AuditPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut events: Vec<AuditEvent> = Vec::with_capacity(limit);
        let mut cursor = after;
        loop {
            let batch: Vec<AuditEvent> = self.store.audit.range_after(&cursor.to_be_bytes(), MAX_PAGE)?;
            let exhausted = batch.len() < MAX_PAGE;
            for event in batch {
                cursor = event.seq;
                if keep(&event) {
                    events.push(event);
                    if events.len() == limit {
                        return Ok(AuditPage { next: Some(cursor), events });
                    }
                }
            }
            if exhausted {
                return Ok(AuditPage { events, next: None });
            }
        }
    }

    /// The signed head, when any event was written.
    pub fn head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.store.audit_head.get(HEAD_KEY)
    }

    /// Counts one refused API key, admin token or malformed signed request (or other
    /// unauthenticated failure) of `kind`. Instead of one event each — which would let anyone
    /// flood the log — one summary event per kind is written per
    /// [`AGGREGATE_WINDOW`] seconds, with the count and the number of distinct addresses.
    /// A window that has ended is written here or by [`Audit::flush_aggregates`].
    pub fn note_unauthenticated(&self, kind: AuditKind, ip: Option<&str>, now: u64) -> Result<(), AuditError> {
        let ended = {
            let mut windows = lock(&self.aggregates);
            let window = windows.entry(kind).or_insert_with(|| Window::new(now));
            let ended = if now >= window.start.saturating_add(AGGREGATE_WINDOW) {
                Some(std::mem::replace(window, Window::new(now)))
            } else {
                None
            };
            window.add(ip);
            ended
        };
        match ended {
            Some(window) => self.append(window.summary(kind, now), now).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Writes the summary of every aggregation window that is at least
    /// [`AGGREGATE_WINDOW`] seconds old (call from housekeeping; at shutdown, call with
    /// `now + AGGREGATE_WINDOW` to write them all).
    pub fn flush_aggregates(&self, now: u64) -> Result<(), AuditError> {
        let ended: Vec<(AuditKind, Window)> = {
            let mut windows = lock(&self.aggregates);
            let kinds: Vec<AuditKind> = windows
                .iter()
                .filter(|(_, w)| now >= w.start.saturating_add(AGGREGATE_WINDOW))
                .map(|(k, _)| *k)
                .collect();
            kinds.into_iter().filter_map(|k| windows.remove(&k).map(|w| (k, w))).collect()
        };
        for (kind, window) in ended {
            if window.count > 0 {
                self.append(window.summary(kind, now), now)?;
            }
        }
        Ok(())
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, AuditError> {
    serde_json::to_vec(value).map_err(|source| AuditError::Store(StoreError::Corrupt { tree: "audit", source }))
}

fn transaction_err(e: TransactionError<()>) -> AuditError {
    match e {
        TransactionError::Storage(e) => sled_err(e),
        // Nothing aborts these transactions; kept typed rather than a panic path.
        TransactionError::Abort(()) => AuditError::Corrupt { seq: 0, reason: "transaction aborted".into() },
    }
}

fn key_seq(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

/// An event written before the chain existed: it has no `hash`.
fn is_legacy(value: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(value).is_ok_and(|v| v.get("hash").is_none())
}

/// The fields of a pre-chain event.
#[derive(Deserialize)]
struct LegacyEvent {
    at: u64,
    kind: AuditKind,
    actor: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    device_id: Option<DeviceId>,
    #[serde(default)]
    challenge_id: Option<ChallengeId>,
    #[serde(default)]
    ip: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

impl LegacyEvent {
    fn chained(self, seq: u64, prev_hash: AuditHash) -> AuditEvent {
        AuditEvent {
            seq,
            at: self.at,
            kind: self.kind,
            actor: self.actor,
            tenant: None,
            user: self.user,
            device_id: self.device_id,
            challenge_id: self.challenge_id,
            ip: self.ip,
            detail: self.detail,
            prev_hash,
            hash: AuditHash::GENESIS,
        }
    }
}

/// What [`verify`] found wrong, each with the sequence number where it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A stored key is not a sequence number.
    MalformedKey,
    /// The record under `seq` does not decode.
    Undecodable {
        /// Where.
        seq: u64,
    },
    /// The record under `key` says it is event `seq`: moved or swapped.
    Misplaced {
        /// The number it is stored under.
        key: u64,
        /// The number it carries.
        seq: u64,
    },
    /// Numbers after `after` up to `next` (exclusive) are missing: removed events.
    Gap {
        /// Last number present before the gap (0: the log does not start at 1).
        after: u64,
        /// First number present after it.
        next: u64,
    },
    /// Event `seq` does not link to the event before it (`prev_hash`): removed, inserted or
    /// reordered events.
    BrokenLink {
        /// Where.
        seq: u64,
    },
    /// Event `seq`'s content does not match its hash: edited.
    HashMismatch {
        /// Where.
        seq: u64,
    },
    /// There are events but no head.
    HeadMissing {
        /// The last event.
        last_seq: u64,
    },
    /// The head names another last event: events removed from (or added at) the end.
    HeadMismatch {
        /// What the head says.
        head_seq: u64,
        /// The last event present.
        last_seq: Option<u64>,
    },
    /// The head is not signed.
    HeadUnsigned,
    /// The head's key is none of the known server keys.
    HeadUnknownKey,
    /// The head's signature does not verify.
    HeadBadSignature {
        /// What the head says.
        head_seq: u64,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::MalformedKey => write!(f, "a record is stored under a key that is not a sequence number"),
            Finding::Undecodable { seq } => write!(f, "event {seq}: the record does not decode"),
            Finding::Misplaced { key, seq } => write!(f, "event {key}: the record says it is event {seq} (moved)"),
            Finding::Gap { after, next } if after.saturating_add(2) == *next => {
                write!(f, "event {} is missing (removed)", after + 1)
            }
            Finding::Gap { after, next } => {
                write!(f, "events {} to {} are missing (removed)", after.saturating_add(1), next.saturating_sub(1))
            }
            Finding::BrokenLink { seq } => {
                write!(f, "event {seq}: does not link to the event before it (removed, inserted or reordered events)")
            }
            Finding::HashMismatch { seq } => write!(f, "event {seq}: its content does not match its hash (edited)"),
            Finding::HeadMissing { last_seq } => write!(f, "the chain head is missing (last event {last_seq})"),
            Finding::HeadMismatch { head_seq, last_seq: Some(last) } => {
                write!(f, "the chain head names event {head_seq} but the last event is {last} (tail removed or added)")
            }
            Finding::HeadMismatch { head_seq, last_seq: None } => {
                write!(f, "the chain head names event {head_seq} but the log is empty")
            }
            Finding::HeadUnsigned => write!(f, "the chain head is not signed"),
            Finding::HeadUnknownKey => write!(f, "the chain head is signed by a key this server never had"),
            Finding::HeadBadSignature { head_seq } => {
                write!(f, "the chain head (event {head_seq}) has a bad signature")
            }
        }
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records walked.
    pub events: u64,
    /// The last sequence number present.
    pub last_seq: Option<u64>,
    /// The head, when present.
    pub head: Option<AuditHead>,
    /// Everything wrong, in log order; empty for an intact log.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// No finding.
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Walks the whole log and its head: every event must carry the number it is stored under,
/// numbers must run 1, 2, 3… without gaps, each event must hash to its `hash` and link to the
/// previous one, and the head must name the last event and be signed by one of `known_keys`.
/// Errors only when the store itself fails.
pub fn verify(store: &SledStore, known_keys: &[ServerPublicKey]) -> Result<VerifyReport, AuditError> {
    let mut findings = Vec::new();
    let mut events = 0u64;
    let mut expected = 1u64;
    // The hash the next event must link to; None after an undecodable record (unknown).
    let mut prev: Option<AuditHash> = Some(AuditHash::GENESIS);
    let mut last: Option<(u64, Option<AuditHash>)> = None;
    for item in store.audit.tree().iter() {
        let (key, value) = item.map_err(sled_err)?;
        events += 1;
        let Some(key_seq) = key_seq(&key) else {
            findings.push(Finding::MalformedKey);
            prev = None;
            continue;
        };
        if key_seq != expected {
            findings.push(Finding::Gap { after: expected.saturating_sub(1), next: key_seq });
        }
        expected = key_seq.saturating_add(1);
        let event: AuditEvent = match serde_json::from_slice(&value) {
            Ok(event) => event,
            Err(_) => {
                findings.push(Finding::Undecodable { seq: key_seq });
                prev = None;
                last = Some((key_seq, None));
                continue;
            }
        };
        if event.seq != key_seq {
            findings.push(Finding::Misplaced { key: key_seq, seq: event.seq });
        }
        if prev.is_some_and(|p| p != event.prev_hash) {
            findings.push(Finding::BrokenLink { seq: key_seq });
        }
        if event.chain_hash() != event.hash {
            findings.push(Finding::HashMismatch { seq: key_seq });
        }
        // Link the next event to the stored hash, so one edited event is reported once.
        prev = Some(event.hash);
        last = Some((key_seq, Some(event.hash)));
    }
    let head: Option<AuditHead> = store.audit_head.get(HEAD_KEY)?;
    match (&head, last) {
        (None, None) => {}
        (None, Some((last_seq, _))) => findings.push(Finding::HeadMissing { last_seq }),
        (Some(head), last) => {
            if last.is_none_or(|(seq, hash)| seq != head.seq || hash != Some(head.hash)) {
                findings.push(Finding::HeadMismatch { head_seq: head.seq, last_seq: last.map(|(s, _)| s) });
            }
            match head.verify(known_keys) {
                Ok(()) => {}
                Err(HeadError::Unsigned) => findings.push(Finding::HeadUnsigned),
                Err(HeadError::UnknownKey) => findings.push(Finding::HeadUnknownKey),
                Err(HeadError::BadSignature) => findings.push(Finding::HeadBadSignature { head_seq: head.seq }),
            }
        }
    }
    Ok(VerifyReport { events, last_seq: last.map(|(s, _)| s), head, findings })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: SledStore,
        key: Arc<ServerSigningKey>,
        audit: Audit,
    }

    fn new_key() -> Arc<ServerSigningKey> {
        Arc::new(ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap())
    }

    fn fixture(events: u64) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let key = new_key();
        let audit = Audit::open(store.clone(), key.clone()).unwrap();
        for i in 1..=events {
            let entry = Entry::new(AuditKind::PinFailed, "device").user("alice").detail(format!("e{i}"));
            assert_eq!(audit.append(entry, 1000 + i).unwrap(), i);
        }
        Fixture { _dir: dir, store, key, audit }
    }

    fn check(f: &Fixture) -> VerifyReport {
        verify(&f.store, &[f.key.public_key()]).unwrap()
    }

    fn raw(f: &Fixture, seq: u64) -> Vec<u8> {
        f.store.audit.tree().get(seq.to_be_bytes()).unwrap().unwrap().to_vec()
    }

    fn put_raw(f: &Fixture, seq: u64, bytes: &[u8]) {
        f.store.audit.tree().insert(seq.to_be_bytes(), bytes).unwrap();
    }

    #[test]
    fn honest_log_verifies_and_continues_after_reopen() {
        let f = fixture(5);
        let report = check(&f);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.events, report.last_seq), (5, Some(5)));
        let again = Audit::open(f.store.clone(), f.key.clone()).unwrap();
        assert_eq!(again.append(Entry::new(AuditKind::KeyRotated, "server").tenant("acme"), 2000).unwrap(), 6);
        assert!(check(&f).is_intact());
        let page = again.page(0, 10, None).unwrap();
        assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(page.events[5].tenant.as_deref(), Some("acme"));
        assert_eq!(again.head().unwrap().unwrap().seq, 6);
    }

    #[test]
    fn concurrent_appends_are_contiguous() {
        let f = fixture(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let audit = f.audit.clone();
                s.spawn(move || {
                    for i in 0..25 {
                        audit.append(Entry::new(AuditKind::ChallengeCreated, format!("rp:{t}")), i).unwrap();
                    }
                });
            }
        });
        let report = check(&f);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.last_seq, Some(100));
    }

    #[test]
    fn edited_entry_is_reported() {
        let f = fixture(5);
        let text = String::from_utf8(raw(&f, 3)).unwrap();
        let edited = text.replace("\"e3\"", "\"e9\"");
        assert_ne!(text, edited);
        put_raw(&f, 3, edited.as_bytes());
        assert_eq!(check(&f).findings, vec![Finding::HashMismatch { seq: 3 }]);
    }

    #[test]
    fn edited_entry_with_recomputed_hash_breaks_the_next_link() {
        let f = fixture(5);
        let mut event: AuditEvent = serde_json::from_slice(&raw(&f, 3)).unwrap();
        event.user = Some("mallory".into());
        event.hash = event.chain_hash();
        put_raw(&f, 3, &serde_json::to_vec(&event).unwrap());
        assert_eq!(check(&f).findings, vec![Finding::BrokenLink { seq: 4 }]);
    }

    #[test]
    fn removed_entry_is_reported() {
        let f = fixture(5);
        f.store.audit.tree().remove(3u64.to_be_bytes()).unwrap();
        let findings = check(&f).findings;
        assert!(findings.contains(&Finding::Gap { after: 2, next: 4 }), "{findings:?}");
        assert!(findings.contains(&Finding::BrokenLink { seq: 4 }), "{findings:?}");
        assert_eq!(Finding::Gap { after: 2, next: 4 }.to_string(), "event 3 is missing (removed)");
    }

    #[test]
    fn swapped_entries_are_reported() {
        let f = fixture(5);
        let (two, three) = (raw(&f, 2), raw(&f, 3));
        put_raw(&f, 2, &three);
        put_raw(&f, 3, &two);
        let findings = check(&f).findings;
        assert!(findings.contains(&Finding::Misplaced { key: 2, seq: 3 }), "{findings:?}");
        assert!(findings.contains(&Finding::Misplaced { key: 3, seq: 2 }), "{findings:?}");
        assert!(findings.contains(&Finding::BrokenLink { seq: 2 }), "{findings:?}");
    }

    #[test]
    fn renumbered_swap_is_reported() {
        // Swapping two events and rewriting their numbers still breaks hashes or links.
        let f = fixture(5);
        let mut two: AuditEvent = serde_json::from_slice(&raw(&f, 2)).unwrap();
        let mut three: AuditEvent = serde_json::from_slice(&raw(&f, 3)).unwrap();
        std::mem::swap(&mut two.seq, &mut three.seq);
        put_raw(&f, 2, &serde_json::to_vec(&three).unwrap());
        put_raw(&f, 3, &serde_json::to_vec(&two).unwrap());
        let findings = check(&f).findings;
        assert!(findings.contains(&Finding::HashMismatch { seq: 2 }), "{findings:?}");
        assert!(findings.contains(&Finding::BrokenLink { seq: 2 }), "{findings:?}");
    }

    #[test]
    fn truncated_tail_is_reported_and_stays_reported() {
        let f = fixture(5);
        f.store.audit.tree().remove(5u64.to_be_bytes()).unwrap();
        assert_eq!(check(&f).findings, vec![Finding::HeadMismatch { head_seq: 5, last_seq: Some(4) }]);
        // A restarted server does not re-sign the shortened log as intact.
        let again = Audit::open(f.store.clone(), f.key.clone()).unwrap();
        assert_eq!(again.append(Entry::new(AuditKind::DeviceEnrolled, "device"), 3000).unwrap(), 6);
        assert_eq!(check(&f).findings, vec![Finding::Gap { after: 4, next: 6 }, Finding::BrokenLink { seq: 6 }]);
    }

    #[test]
    fn deleted_head_is_reported_and_stays_reported() {
        let f = fixture(3);
        f.store.audit_head.tree().remove(HEAD_KEY).unwrap();
        assert_eq!(check(&f).findings, vec![Finding::HeadMissing { last_seq: 3 }]);
        let again = Audit::open(f.store.clone(), f.key.clone()).unwrap();
        again.append(Entry::new(AuditKind::DeviceEnrolled, "device"), 3000).unwrap();
        assert_eq!(check(&f).findings, vec![Finding::BrokenLink { seq: 4 }]);
    }

    #[test]
    fn head_signatures() {
        let f = fixture(2);
        assert_eq!(verify(&f.store, &[new_key().public_key()]).unwrap().findings, vec![Finding::HeadUnknownKey]);
        let mut head = f.audit.head().unwrap().unwrap();
        head.seq = 1;
        head.hash = serde_json::from_slice::<AuditEvent>(&raw(&f, 1)).unwrap().hash;
        f.store.audit_head.put(HEAD_KEY, &head).unwrap();
        f.store.audit.tree().remove(2u64.to_be_bytes()).unwrap();
        assert_eq!(check(&f).findings, vec![Finding::HeadBadSignature { head_seq: 1 }]);

        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        Audit::new(store.clone()).append(Entry::new(AuditKind::DeviceEnrolled, "device"), 1).unwrap();
        assert_eq!(verify(&store, &[]).unwrap().findings, vec![Finding::HeadUnsigned]);
    }

    #[test]
    fn unauthenticated_failures_are_aggregated() {
        let f = fixture(0);
        for i in 0..100u64 {
            let ip = format!("192.0.2.{}", i % 3);
            f.audit.note_unauthenticated(AuditKind::AuthenticationFailed, Some(&ip), 1000 + i % 30).unwrap();
        }
        f.audit.note_unauthenticated(AuditKind::SignatureRejected, Some("198.51.100.1"), 1010).unwrap();
        f.audit.flush_aggregates(1059).unwrap();
        assert!(f.audit.page(0, 10, None).unwrap().events.is_empty());
        f.audit.flush_aggregates(1060).unwrap();
        let events = f.audit.page(0, 10, None).unwrap().events;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, AuditKind::AuthenticationFailed);
        assert_eq!(events[0].detail.as_deref(), Some("100 refused in 60 s from 3 distinct address(es)"));
        assert_eq!(events[0].ip, None);
        // The next failure of the other kind after its window ends writes its summary.
        f.audit.note_unauthenticated(AuditKind::SignatureRejected, None, 1075).unwrap();
        let events = f.audit.page(0, 10, None).unwrap().events;
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].kind, AuditKind::SignatureRejected);
        assert_eq!(events[1].ip.as_deref(), Some("198.51.100.1"));
        assert!(check(&f).is_intact());
    }

    #[test]
    fn aggregation_memory_is_bounded() {
        let f = fixture(0);
        for i in 0..(MAX_AGGREGATE_ADDRESSES as u64 + 50) {
            f.audit.note_unauthenticated(AuditKind::RateLimited, Some(&format!("ip{i}")), 1000).unwrap();
        }
        assert_eq!(lock(&f.audit.aggregates)[&AuditKind::RateLimited].addresses.len(), MAX_AGGREGATE_ADDRESSES);
        f.audit.flush_aggregates(1000 + AGGREGATE_WINDOW).unwrap();
        let events = f.audit.page(0, 10, None).unwrap().events;
        assert_eq!(events[0].detail.as_deref(), Some("1074 refused in 60 s from 1024+ distinct address(es)"));
    }

    #[test]
    fn legacy_events_are_adopted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        for seq in [5u64, 9] {
            let legacy = serde_json::json!({"seq": seq, "at": seq, "kind": "device_enrolled", "actor": "device"});
            store.audit.put(&seq.to_be_bytes(), &legacy).unwrap();
        }
        let key = new_key();
        let audit = Audit::open(store.clone(), key.clone()).unwrap();
        assert_eq!(audit.append(Entry::new(AuditKind::PinChanged, "device"), 10).unwrap(), 3);
        let report = verify(&store, &[key.public_key()]).unwrap();
        assert!(report.is_intact(), "{report:?}");
        let events = audit.page(0, 10, None).unwrap().events;
        assert_eq!(events.iter().map(|e| (e.seq, e.at)).collect::<Vec<_>>(), vec![(1, 5), (2, 9), (3, 10)]);
    }
}
