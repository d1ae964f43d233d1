//! The append-only audit log: hash-chained events under contiguous sequence numbers, the
//! signed chain head, aggregation of unauthenticated failures, and verification of the whole.
//! The records live behind [`crate::store::AuditRepo`] (sled or PostgreSQL); the chain rules
//! are here, once, for both.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

use nyckel_protocol::wire::audit::{AuditEvent, AuditHash, AuditHead, AuditKind, AuditPage, HeadError};
use nyckel_protocol::{ChallengeId, DeviceId, ServerPublicKey, ServerSigningKey};
use serde::Deserialize;

use crate::store::{AuditRepo, AuditTip, AuditWrite, Store, StoreError};

/// Largest page of `GET /v1/admin/audit`.
pub const MAX_PAGE: usize = 500;
/// Default page size.
pub const DEFAULT_PAGE: usize = 100;
/// Length of an aggregation window of unauthenticated failures, seconds.
pub const AGGREGATE_WINDOW: u64 = 60;
/// Distinct addresses remembered per aggregation window; beyond it the count is a floor.
pub const MAX_AGGREGATE_ADDRESSES: usize = 1024;

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

impl AuditError {
    /// The same failure for another waiter of one batch (the store's error kept as its text).
    fn duplicate(&self) -> Self {
        match self {
            Self::Store(StoreError::Engine(e)) => Self::Store(StoreError::Engine(e.clone())),
            Self::Store(e) => Self::Store(StoreError::Engine(e.to_string())),
            Self::Corrupt { seq, reason } => Self::Corrupt { seq: *seq, reason: reason.clone() },
            Self::Exhausted => Self::Exhausted,
        }
    }
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

/// The decoded tip: the head, and the last record's number and (when it decodes) hash.
struct Tip {
    head: Option<AuditHead>,
    last: Option<(u64, Option<AuditHash>)>,
}

impl Tip {
    fn decode(tip: &AuditTip) -> Result<Self, AuditError> {
        let head = match &tip.head {
            Some(bytes) => Some(
                serde_json::from_slice::<AuditHead>(bytes)
                    .map_err(|source| AuditError::Store(StoreError::Corrupt { tree: "audit_head", source }))?,
            ),
            None => None,
        };
        let last = match &tip.last {
            None => None,
            Some((key, value)) => {
                let seq = key_seq(key).ok_or_else(|| AuditError::Corrupt { seq: 0, reason: "bad key".into() })?;
                let event: Option<AuditEvent> = serde_json::from_slice(value).ok();
                Some((seq, event.map(|e| e.hash)))
            }
        };
        Ok(Self { head, last })
    }

    /// The head, when present, wins over the last entry, and the next number is past both:
    /// after tampering (a removed tail, a deleted head, forged entries) new events leave a gap
    /// or a broken link that [`verify`] keeps reporting, instead of re-signing a doctored log
    /// as intact.
    fn next(&self) -> Result<ChainState, AuditError> {
        match (&self.head, self.last) {
            (None, None) => Ok(ChainState { next_seq: 1, prev_hash: AuditHash::GENESIS }),
            (Some(head), last) => {
                let last_seq = last.map_or(0, |(seq, _)| seq);
                let next_seq = head.seq.max(last_seq).checked_add(1).ok_or(AuditError::Exhausted)?;
                Ok(ChainState { next_seq, prev_hash: head.hash })
            }
            (None, Some((seq, _))) => Ok(ChainState {
                next_seq: seq.checked_add(1).ok_or(AuditError::Exhausted)?,
                prev_hash: AuditHash::GENESIS,
            }),
        }
    }

    /// Whether the head names the last event.
    fn consistent(&self) -> bool {
        match (&self.head, self.last) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some(head), last) => last.is_some_and(|(seq, hash)| seq == head.seq && hash == Some(head.hash)),
        }
    }
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
    store: Arc<dyn Store>,
    signer: Option<Arc<ServerSigningKey>>,
    aggregates: Arc<Mutex<HashMap<AuditKind, Window>>>,
    appends: Arc<Appends>,
}

/// Most events written in one transaction.
const MAX_APPEND_BATCH: usize = 256;

/// Appends waiting for their batch, and the turn to write one (one batch at a time per
/// process; the store's lock orders the batches of several processes).
#[derive(Default)]
struct Appends {
    queue: Mutex<Vec<Pending>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// One event waiting to be written.
struct Pending {
    entry: Entry,
    now: u64,
    reply: oneshot::Sender<Result<u64, AuditError>>,
}

/// The outcome of an append once its batch has been written (or lost), `None` while queued.
fn settled(done: &mut oneshot::Receiver<Result<u64, AuditError>>) -> Option<Result<u64, AuditError>> {
    match done.try_recv() {
        Ok(result) => Some(result),
        Err(oneshot::error::TryRecvError::Closed) => Some(Err(batch_lost())),
        Err(oneshot::error::TryRecvError::Empty) => None,
    }
}

fn batch_lost() -> AuditError {
    AuditError::Corrupt { seq: 0, reason: "the batch holding this event was not written (its writer failed)".into() }
}

/// Writes `batch` in one store append and tells each waiter its number or the failure.
async fn write_batch(store: &dyn Store, signer: Option<&ServerSigningKey>, batch: Vec<Pending>) {
    let mut failure = None;
    let mut first = 0;
    let written = {
        let mut next = |tip: &AuditTip| match chain_batch(tip, signer, &batch) {
            Ok((seq, write)) => {
                first = seq;
                Some(write)
            }
            Err(e) => {
                failure = Some(e);
                None
            }
        };
        store.audit().append(&mut next).await
    };
    let outcome = match (written, failure) {
        (Err(e), _) => Err(AuditError::Store(e)),
        (Ok(_), Some(e)) => Err(e),
        (Ok(true), None) => Ok(first),
        (Ok(false), None) => Err(AuditError::Corrupt { seq: 0, reason: "the append wrote nothing".into() }),
    };
    match outcome {
        Ok(first) => {
            for (seq, pending) in (first..).zip(batch) {
                let _ = pending.reply.send(Ok(seq));
            }
        }
        Err(e) => {
            tracing::error!("audit append failed: {e}");
            for pending in batch {
                let _ = pending.reply.send(Err(e.duplicate()));
            }
        }
    }
}

/// The events of `batch` chained after `tip`, and the head naming the last; with the first
/// event's number.
fn chain_batch(
    tip: &AuditTip,
    signer: Option<&ServerSigningKey>,
    batch: &[Pending],
) -> Result<(u64, AuditWrite), AuditError> {
    let state = Tip::decode(tip)?.next()?;
    let mut seq = state.next_seq;
    let mut prev_hash = state.prev_hash;
    let mut events = Vec::with_capacity(batch.len());
    for (i, pending) in batch.iter().enumerate() {
        if i > 0 {
            seq = seq.checked_add(1).ok_or(AuditError::Exhausted)?;
        }
        let entry = pending.entry.clone();
        let mut event = AuditEvent {
            seq,
            at: pending.now,
            kind: entry.kind,
            actor: entry.actor,
            tenant: entry.tenant,
            user: entry.user,
            device_id: entry.device_id,
            challenge_id: entry.challenge_id,
            ip: entry.ip,
            detail: entry.detail,
            prev_hash,
            hash: AuditHash::GENESIS,
        };
        event.hash = event.chain_hash();
        prev_hash = event.hash;
        events.push((seq, encode(&event)?));
    }
    let head = encode(&sign_head(signer, seq, prev_hash))?;
    Ok((state.next_seq, AuditWrite { events, head }))
}

/// The head naming event `seq` with hash `hash`, signed when there is a key.
fn sign_head(signer: Option<&ServerSigningKey>, seq: u64, hash: AuditHash) -> AuditHead {
    match signer {
        Some(key) => AuditHead {
            seq,
            hash,
            key_id: Some(key.public_key().key_id().to_string()),
            signature: Some(key.sign(&AuditHead::signed_bytes(seq, &hash))),
        },
        None => AuditHead { seq, hash, key_id: None, signature: None },
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves the windows as they were (each change is one
    // assignment), so the data is still sound.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Audit {
    /// The log in `store`, with an UNSIGNED head: [`verify`] reports such a head as
    /// [`Finding::HeadUnsigned`] (tests of that finding use it; the server opens the log with
    /// [`Audit::open`]).
    pub fn unsigned(store: Arc<dyn Store>) -> Self {
        Self { store, signer: None, aggregates: Arc::new(Mutex::new(HashMap::new())), appends: Arc::default() }
    }

    /// The log in `store`, its head signed by `key`. Events written before the chain existed
    /// are adopted (renumbered from 1 and chained) once. Each append reads the chain's tip from
    /// the store under the store's append lock, so any number of `Audit`s — clones, separate
    /// instances, other server processes on the same database — write one chain.
    pub async fn open(store: Arc<dyn Store>, key: Arc<ServerSigningKey>) -> Result<Self, AuditError> {
        let audit = Self { signer: Some(key), ..Self::unsigned(store) };
        let raw = audit.repo().tip().await?;
        if raw.head.is_none() && raw.last.as_ref().is_some_and(|(_, value)| is_legacy(value)) {
            audit.adopt_legacy().await?;
            return Ok(audit);
        }
        let tip = Tip::decode(&raw)?;
        if !tip.consistent() {
            match &tip.head {
                Some(head) => tracing::warn!(
                    "the audit head (seq {}) does not match the last audit event (seq {}); \
                     run `nyckel-server audit verify`",
                    head.seq,
                    tip.last.map_or(0, |(seq, _)| seq)
                ),
                None => tracing::warn!("the audit head is missing; run `nyckel-server audit verify`"),
            }
        }
        Ok(audit)
    }

    fn repo(&self) -> &dyn AuditRepo {
        self.store.audit()
    }

    /// Chains events written before the hash chain existed: renumbered 1.. in their order,
    /// in one transaction with the head.
    async fn adopt_legacy(&self) -> Result<(), AuditError> {
        let mut old_keys = Vec::new();
        let mut events = Vec::new();
        let mut prev_hash = AuditHash::GENESIS;
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let batch = self.repo().records_after(cursor.as_deref(), MAX_PAGE).await?;
            let exhausted = batch.len() < MAX_PAGE;
            for (key, value) in batch {
                let seq = key_seq(&key).unwrap_or(0);
                let legacy: LegacyEvent = serde_json::from_slice(&value)
                    .map_err(|e| AuditError::Corrupt { seq, reason: format!("legacy event: {e}") })?;
                let mut event = legacy.chained(events.len() as u64 + 1, prev_hash);
                event.hash = event.chain_hash();
                prev_hash = event.hash;
                cursor = Some(key.clone());
                old_keys.push(key);
                events.push(event);
            }
            if exhausted {
                break;
            }
        }
        let last_seq = events.len() as u64;
        let encoded: Vec<(u64, Vec<u8>)> =
            events.iter().map(|e| Ok((e.seq, encode(e)?))).collect::<Result<_, AuditError>>()?;
        let head = encode(&self.sign_head(last_seq, prev_hash))?;
        self.repo().rechain(&old_keys, &encoded, &head).await?;
        tracing::warn!("{} audit events written before the hash chain were chained", events.len());
        Ok(())
    }

    fn sign_head(&self, seq: u64, hash: AuditHash) -> AuditHead {
        sign_head(self.signer.as_deref(), seq, hash)
    }

    /// Appends an event and the new signed head in one transaction, after whatever event any
    /// instance on the same store appended last; durable with the caller's next flush (sled)
    /// or at once (PostgreSQL). Returns the event's sequence number.
    ///
    /// Appends that arrive while another batch is being written queue and go into the store
    /// together, in one transaction with one signed head: the chain's lock is taken once per
    /// batch instead of once per event, which is what bounds a busy log's rate. The write runs
    /// as its own task, so a caller that gives up (its request dropped) cannot abandon the
    /// others' events half-way; an event whose caller gave up before its turn is written with
    /// the next batch.
    pub async fn append(&self, entry: Entry, now: u64) -> Result<u64, AuditError> {
        let (reply, mut done) = oneshot::channel();
        lock(&self.appends.queue).push(Pending { entry, now, reply });
        loop {
            let turn = self.appends.turn.clone().lock_owned().await;
            // Written by the batch before this turn, or (after the first pass) by this one.
            if let Some(result) = settled(&mut done) {
                return result;
            }
            let batch: Vec<Pending> = {
                let mut queue = lock(&self.appends.queue);
                let n = queue.len().min(MAX_APPEND_BATCH);
                queue.drain(..n).collect()
            };
            let (store, signer) = (self.store.clone(), self.signer.clone());
            let writing = tokio::spawn(async move {
                write_batch(&*store, signer.as_deref(), batch).await;
                drop(turn);
            });
            // A panic in the task drops the replies: `done` then says the batch was lost. When
            // more than one batch had queued before this event, its turn comes again.
            let _ = writing.await;
        }
    }

    /// Events with sequence numbers after `after`, at most `limit` (clamped to 1–500).
    /// With `tenant`, only that tenant's events (a tenant administrator's view): the log is
    /// read in batches until the page is full or the log ends.
    pub async fn page(&self, after: u64, limit: usize, tenant: Option<&str>) -> Result<AuditPage, StoreError> {
        self.page_where(after, limit, |event| tenant.is_none_or(|t| event.tenant.as_deref() == Some(t))).await
    }

    /// Events with sequence numbers after `after` that `keep` selects, at most `limit`
    /// (clamped to 1–500); the log is read in batches until the page is full or the log ends.
    pub async fn page_where(
        &self,
        after: u64,
        limit: usize,
        keep: impl Fn(&AuditEvent) -> bool,
    ) -> Result<AuditPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut events: Vec<AuditEvent> = Vec::with_capacity(limit);
        let mut cursor = after;
        loop {
            let batch = self.repo().records_after(Some(&cursor.to_be_bytes()), MAX_PAGE).await?;
            let exhausted = batch.len() < MAX_PAGE;
            for (_, value) in batch {
                let event: AuditEvent =
                    serde_json::from_slice(&value).map_err(|source| StoreError::Corrupt { tree: "audit", source })?;
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
    pub async fn head(&self) -> Result<Option<AuditHead>, StoreError> {
        match self.repo().tip().await?.head {
            Some(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt { tree: "audit_head", source })?,
            )),
            None => Ok(None),
        }
    }

    /// Counts one refused API key, admin token or malformed signed request (or other
    /// unauthenticated failure) of `kind`. Instead of one event each — which would let anyone
    /// flood the log — one summary event per kind is written per
    /// [`AGGREGATE_WINDOW`] seconds, with the count and the number of distinct addresses.
    /// A window that has ended is written here or by [`Audit::flush_aggregates`]. Windows are
    /// per process: several instances each write their own summaries.
    pub async fn note_unauthenticated(&self, kind: AuditKind, ip: Option<&str>, now: u64) -> Result<(), AuditError> {
        match self.count_unauthenticated(kind, ip, now) {
            Some(summary) => self.append(summary, now).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// The counting half of [`Audit::note_unauthenticated`], for callers that cannot wait
    /// (a synchronous refusal hook): counts the failure and returns the summary of the window
    /// it ended, for the caller to [`Audit::append`].
    pub fn count_unauthenticated(&self, kind: AuditKind, ip: Option<&str>, now: u64) -> Option<Entry> {
        let mut windows = lock(&self.aggregates);
        let window = windows.entry(kind).or_insert_with(|| Window::new(now));
        let ended = if now >= window.start.saturating_add(AGGREGATE_WINDOW) {
            Some(std::mem::replace(window, Window::new(now)))
        } else {
            None
        };
        window.add(ip);
        ended.map(|window| window.summary(kind, now))
    }

    /// Writes the summary of every aggregation window that is at least
    /// [`AGGREGATE_WINDOW`] seconds old (call from housekeeping; at shutdown, call with
    /// `now + AGGREGATE_WINDOW` to write them all).
    pub async fn flush_aggregates(&self, now: u64) -> Result<(), AuditError> {
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
                self.append(window.summary(kind, now), now).await?;
            }
        }
        Ok(())
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, AuditError> {
    serde_json::to_vec(value).map_err(|source| AuditError::Store(StoreError::Corrupt { tree: "audit", source }))
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
/// Works on either engine (the log is read in pages, not in one snapshot: on a PostgreSQL
/// database that running servers append to, an event landing during the walk can show as a
/// head mismatch, so verify with the servers stopped, as on sled). Errors only when the store
/// itself fails.
pub async fn verify(store: &dyn AuditRepo, known_keys: &[ServerPublicKey]) -> Result<VerifyReport, AuditError> {
    let mut findings = Vec::new();
    let mut events = 0u64;
    let mut expected = 1u64;
    // The hash the next event must link to; None after an undecodable record (unknown).
    let mut prev: Option<AuditHash> = Some(AuditHash::GENESIS);
    let mut last: Option<(u64, Option<AuditHash>)> = None;
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let batch = store.records_after(cursor.as_deref(), MAX_PAGE).await?;
        let exhausted = batch.len() < MAX_PAGE;
        for (key, value) in batch {
            events += 1;
            let key_seq = key_seq(&key);
            cursor = Some(key);
            let Some(key_seq) = key_seq else {
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
        if exhausted {
            break;
        }
    }
    let head: Option<AuditHead> = match store.tip().await?.head {
        Some(bytes) => Some(
            serde_json::from_slice(&bytes)
                .map_err(|source| AuditError::Store(StoreError::Corrupt { tree: "audit_head", source }))?,
        ),
        None => None,
    };
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
    use crate::store::conformance::postgres_url;
    use crate::store::{PgSettings, PgStore, SledStore};

    /// Direct access below the store, to tamper with stored events.
    enum Raw {
        Sled(Box<SledStore>),
        Pg(PgStore),
    }

    /// One engine's log under test.
    struct Fixture {
        name: &'static str,
        _dir: Option<tempfile::TempDir>,
        raw: Raw,
        store: Arc<dyn Store>,
        key: Arc<ServerSigningKey>,
        audit: Audit,
    }

    fn new_key() -> Arc<ServerSigningKey> {
        Arc::new(ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap())
    }

    /// An engine's name, its data directory (sled), raw access and store.
    type Engine = (&'static str, Option<tempfile::TempDir>, Raw, Arc<dyn Store>);

    /// An empty store of every available engine: sled always, PostgreSQL (a fresh schema)
    /// when the tests have one.
    async fn stores() -> Vec<Engine> {
        let dir = tempfile::tempdir().unwrap();
        let sled = SledStore::open(dir.path()).unwrap();
        let mut all: Vec<Engine> = vec![("sled", Some(dir), Raw::Sled(Box::new(sled.clone())), Arc::new(sled))];
        if let Some(url) = postgres_url() {
            let pg = PgStore::open(&PgSettings::fresh_schema(&url).await.unwrap()).await.unwrap();
            all.push(("postgres", None, Raw::Pg(pg.clone()), Arc::new(pg)));
        }
        all
    }

    /// A log of `events` events on every engine.
    async fn fixtures(events: u64) -> Vec<Fixture> {
        let mut all = Vec::new();
        for (name, dir, raw, store) in stores().await {
            let key = new_key();
            let audit = Audit::open(store.clone(), key.clone()).await.unwrap();
            for i in 1..=events {
                let entry = Entry::new(AuditKind::PinFailed, "device").user("alice").detail(format!("e{i}"));
                assert_eq!(audit.append(entry, 1000 + i).await.unwrap(), i, "{name}");
            }
            all.push(Fixture { name, _dir: dir, raw, store, key, audit });
        }
        all
    }

    impl Fixture {
        async fn check(&self) -> VerifyReport {
            verify(self.store.audit(), &[self.key.public_key()]).await.unwrap()
        }

        async fn reopen(&self) -> Audit {
            Audit::open(self.store.clone(), self.key.clone()).await.unwrap()
        }

        async fn raw(&self, seq: u64) -> Vec<u8> {
            match &self.raw {
                Raw::Sled(s) => s.audit.tree().get(seq.to_be_bytes()).unwrap().unwrap().to_vec(),
                Raw::Pg(pg) => sqlx::query_scalar("SELECT value FROM audit_events WHERE seq = $1")
                    .bind(i64::try_from(seq).unwrap())
                    .fetch_one(pg.pool())
                    .await
                    .unwrap(),
            }
        }

        async fn put_raw(&self, seq: u64, bytes: &[u8]) {
            match &self.raw {
                Raw::Sled(s) => {
                    s.audit.tree().insert(seq.to_be_bytes(), bytes).unwrap();
                }
                Raw::Pg(pg) => {
                    sqlx::query(
                        "INSERT INTO audit_events (seq, value) VALUES ($1, $2) \
                         ON CONFLICT (seq) DO UPDATE SET value = EXCLUDED.value",
                    )
                    .bind(i64::try_from(seq).unwrap())
                    .bind(bytes)
                    .execute(pg.pool())
                    .await
                    .unwrap();
                }
            }
        }

        async fn remove_raw(&self, seq: u64) {
            match &self.raw {
                Raw::Sled(s) => {
                    s.audit.tree().remove(seq.to_be_bytes()).unwrap();
                }
                Raw::Pg(pg) => {
                    let done = sqlx::query("DELETE FROM audit_events WHERE seq = $1")
                        .bind(i64::try_from(seq).unwrap())
                        .execute(pg.pool())
                        .await
                        .unwrap();
                    assert_eq!(done.rows_affected(), 1);
                }
            }
        }

        async fn remove_head(&self) {
            match &self.raw {
                Raw::Sled(s) => {
                    s.audit_head.tree().remove(b"head").unwrap().unwrap();
                }
                Raw::Pg(pg) => {
                    let done = sqlx::query("DELETE FROM audit_head").execute(pg.pool()).await.unwrap();
                    assert_eq!(done.rows_affected(), 1);
                }
            }
        }

        async fn put_head(&self, head: &AuditHead) {
            let bytes = serde_json::to_vec(head).unwrap();
            match &self.raw {
                Raw::Sled(s) => {
                    s.audit_head.tree().insert(b"head", bytes).unwrap();
                }
                Raw::Pg(pg) => {
                    sqlx::query("UPDATE audit_head SET value = $1 WHERE id = 1")
                        .bind(bytes)
                        .execute(pg.pool())
                        .await
                        .unwrap();
                }
            }
        }
    }

    #[tokio::test]
    async fn honest_log_verifies_and_continues_after_reopen() {
        for f in fixtures(5).await {
            let report = f.check().await;
            assert!(report.is_intact(), "{}: {report:?}", f.name);
            assert_eq!((report.events, report.last_seq), (5, Some(5)), "{}", f.name);
            let again = f.reopen().await;
            let entry = Entry::new(AuditKind::KeyRotated, "server").tenant("acme");
            assert_eq!(again.append(entry, 2000).await.unwrap(), 6, "{}", f.name);
            assert!(f.check().await.is_intact(), "{}", f.name);
            let page = again.page(0, 10, None).await.unwrap();
            assert_eq!(page.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6], "{}", f.name);
            assert_eq!(page.events[5].tenant.as_deref(), Some("acme"));
            assert_eq!(again.page(0, 10, Some("acme")).await.unwrap().events.len(), 1, "{}", f.name);
            let first = again.page(0, 4, None).await.unwrap();
            assert_eq!((first.events.len(), first.next), (4, Some(4)), "{}", f.name);
            assert_eq!(again.page(4, 4, None).await.unwrap().events.len(), 2, "{}", f.name);
            assert_eq!(again.head().await.unwrap().unwrap().seq, 6, "{}", f.name);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_appends_are_contiguous() {
        for f in fixtures(0).await {
            let mut tasks = tokio::task::JoinSet::new();
            for t in 0..4 {
                let audit = f.audit.clone();
                tasks.spawn(async move {
                    for i in 0..25 {
                        audit.append(Entry::new(AuditKind::ChallengeCreated, format!("rp:{t}")), i).await.unwrap();
                    }
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
            let report = f.check().await;
            assert!(report.is_intact(), "{}: {report:?}", f.name);
            assert_eq!((report.events, report.last_seq), (100, Some(100)), "{}", f.name);
        }
    }

    /// Two server instances on one database: each its own pool (`PgStore`) and its own
    /// `Audit`, appending at once. The advisory lock around reading the tip and writing the
    /// event is what gives them one chain: without it both read the same head, and the second
    /// insert of the same number fails (or, without the primary key, the chain forks).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn instances_sharing_postgres_append_one_chain() {
        let Some(url) = postgres_url() else { return };
        let settings = PgSettings::fresh_schema(&url).await.unwrap();
        let key = new_key();
        let mut instances = Vec::new();
        for _ in 0..2 {
            let store: Arc<dyn Store> = Arc::new(PgStore::open(&settings).await.unwrap());
            instances.push(Audit::open(store, key.clone()).await.unwrap());
        }
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..8usize {
            let audit = instances[t % 2].clone();
            tasks.spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..20 {
                    let entry = Entry::new(AuditKind::ChallengeCreated, format!("rp:{t}")).detail(format!("{i}"));
                    seqs.push(audit.append(entry, 1000 + i).await.unwrap());
                }
                seqs
            });
        }
        let mut seqs = Vec::new();
        while let Some(done) = tasks.join_next().await {
            seqs.extend(done.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=160).collect::<Vec<u64>>(), "every number handed out once");
        let report = verify(instances[0].repo(), &[key.public_key()]).await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.events, report.last_seq), (160, Some(160)));
        assert_eq!(instances[1].head().await.unwrap().unwrap().seq, 160);
    }

    #[tokio::test]
    async fn edited_entry_is_reported() {
        for f in fixtures(5).await {
            let text = String::from_utf8(f.raw(3).await).unwrap();
            let edited = text.replace("\"e3\"", "\"e9\"");
            assert_ne!(text, edited);
            f.put_raw(3, edited.as_bytes()).await;
            assert_eq!(f.check().await.findings, vec![Finding::HashMismatch { seq: 3 }], "{}", f.name);
        }
    }

    #[tokio::test]
    async fn edited_entry_with_recomputed_hash_breaks_the_next_link() {
        for f in fixtures(5).await {
            let mut event: AuditEvent = serde_json::from_slice(&f.raw(3).await).unwrap();
            event.user = Some("mallory".into());
            event.hash = event.chain_hash();
            f.put_raw(3, &serde_json::to_vec(&event).unwrap()).await;
            assert_eq!(f.check().await.findings, vec![Finding::BrokenLink { seq: 4 }], "{}", f.name);
        }
    }

    #[tokio::test]
    async fn removed_entry_is_reported() {
        for f in fixtures(5).await {
            f.remove_raw(3).await;
            let findings = f.check().await.findings;
            assert!(findings.contains(&Finding::Gap { after: 2, next: 4 }), "{}: {findings:?}", f.name);
            assert!(findings.contains(&Finding::BrokenLink { seq: 4 }), "{}: {findings:?}", f.name);
        }
        assert_eq!(Finding::Gap { after: 2, next: 4 }.to_string(), "event 3 is missing (removed)");
    }

    #[tokio::test]
    async fn swapped_entries_are_reported() {
        for f in fixtures(5).await {
            let (two, three) = (f.raw(2).await, f.raw(3).await);
            f.put_raw(2, &three).await;
            f.put_raw(3, &two).await;
            let findings = f.check().await.findings;
            assert!(findings.contains(&Finding::Misplaced { key: 2, seq: 3 }), "{}: {findings:?}", f.name);
            assert!(findings.contains(&Finding::Misplaced { key: 3, seq: 2 }), "{}: {findings:?}", f.name);
            assert!(findings.contains(&Finding::BrokenLink { seq: 2 }), "{}: {findings:?}", f.name);
        }
    }

    #[tokio::test]
    async fn renumbered_swap_is_reported() {
        // Swapping two events and rewriting their numbers still breaks hashes or links.
        for f in fixtures(5).await {
            let mut two: AuditEvent = serde_json::from_slice(&f.raw(2).await).unwrap();
            let mut three: AuditEvent = serde_json::from_slice(&f.raw(3).await).unwrap();
            std::mem::swap(&mut two.seq, &mut three.seq);
            f.put_raw(2, &serde_json::to_vec(&three).unwrap()).await;
            f.put_raw(3, &serde_json::to_vec(&two).unwrap()).await;
            let findings = f.check().await.findings;
            assert!(findings.contains(&Finding::HashMismatch { seq: 2 }), "{}: {findings:?}", f.name);
            assert!(findings.contains(&Finding::BrokenLink { seq: 2 }), "{}: {findings:?}", f.name);
        }
    }

    #[tokio::test]
    async fn truncated_tail_is_reported_and_stays_reported() {
        for f in fixtures(5).await {
            f.remove_raw(5).await;
            let findings = f.check().await.findings;
            assert_eq!(findings, vec![Finding::HeadMismatch { head_seq: 5, last_seq: Some(4) }], "{}", f.name);
            // A restarted server (or the running one: every append reads the stored tip) does
            // not re-sign the shortened log as intact.
            let again = f.reopen().await;
            assert_eq!(again.append(Entry::new(AuditKind::DeviceEnrolled, "device"), 3000).await.unwrap(), 6);
            let findings = f.check().await.findings;
            assert_eq!(
                findings,
                vec![Finding::Gap { after: 4, next: 6 }, Finding::BrokenLink { seq: 6 }],
                "{}",
                f.name
            );
        }
    }

    #[tokio::test]
    async fn deleted_head_is_reported_and_stays_reported() {
        for f in fixtures(3).await {
            f.remove_head().await;
            assert_eq!(f.check().await.findings, vec![Finding::HeadMissing { last_seq: 3 }], "{}", f.name);
            f.reopen().await.append(Entry::new(AuditKind::DeviceEnrolled, "device"), 3000).await.unwrap();
            assert_eq!(f.check().await.findings, vec![Finding::BrokenLink { seq: 4 }], "{}", f.name);
        }
    }

    #[tokio::test]
    async fn head_signatures() {
        for f in fixtures(2).await {
            let stranger = verify(f.store.audit(), &[new_key().public_key()]).await.unwrap();
            assert_eq!(stranger.findings, vec![Finding::HeadUnknownKey], "{}", f.name);
            let mut head = f.audit.head().await.unwrap().unwrap();
            head.seq = 1;
            head.hash = serde_json::from_slice::<AuditEvent>(&f.raw(1).await).unwrap().hash;
            f.put_head(&head).await;
            f.remove_raw(2).await;
            assert_eq!(f.check().await.findings, vec![Finding::HeadBadSignature { head_seq: 1 }], "{}", f.name);
        }
        for (name, _dir, _raw, store) in stores().await {
            Audit::unsigned(store.clone()).append(Entry::new(AuditKind::DeviceEnrolled, "device"), 1).await.unwrap();
            assert_eq!(verify(store.audit(), &[]).await.unwrap().findings, vec![Finding::HeadUnsigned], "{name}");
        }
    }

    #[tokio::test]
    async fn unauthenticated_failures_are_aggregated() {
        for f in fixtures(0).await {
            for i in 0..100u64 {
                let ip = format!("192.0.2.{}", i % 3);
                f.audit.note_unauthenticated(AuditKind::AuthenticationFailed, Some(&ip), 1000 + i % 30).await.unwrap();
            }
            f.audit.note_unauthenticated(AuditKind::SignatureRejected, Some("198.51.100.1"), 1010).await.unwrap();
            f.audit.flush_aggregates(1059).await.unwrap();
            assert!(f.audit.page(0, 10, None).await.unwrap().events.is_empty());
            f.audit.flush_aggregates(1060).await.unwrap();
            let events = f.audit.page(0, 10, None).await.unwrap().events;
            assert_eq!(events.len(), 1, "{}", f.name);
            assert_eq!(events[0].kind, AuditKind::AuthenticationFailed);
            assert_eq!(events[0].detail.as_deref(), Some("100 refused in 60 s from 3 distinct address(es)"));
            assert_eq!(events[0].ip, None);
            // The next failure of the other kind after its window ends writes its summary.
            f.audit.note_unauthenticated(AuditKind::SignatureRejected, None, 1075).await.unwrap();
            let events = f.audit.page(0, 10, None).await.unwrap().events;
            assert_eq!(events.len(), 2, "{}", f.name);
            assert_eq!(events[1].kind, AuditKind::SignatureRejected);
            assert_eq!(events[1].ip.as_deref(), Some("198.51.100.1"));
            assert!(f.check().await.is_intact(), "{}", f.name);
        }
    }

    #[tokio::test]
    async fn aggregation_memory_is_bounded() {
        for f in fixtures(0).await {
            for i in 0..(MAX_AGGREGATE_ADDRESSES as u64 + 50) {
                f.audit.note_unauthenticated(AuditKind::RateLimited, Some(&format!("ip{i}")), 1000).await.unwrap();
            }
            let remembered = lock(&f.audit.aggregates)[&AuditKind::RateLimited].addresses.len();
            assert_eq!(remembered, MAX_AGGREGATE_ADDRESSES);
            f.audit.flush_aggregates(1000 + AGGREGATE_WINDOW).await.unwrap();
            let events = f.audit.page(0, 10, None).await.unwrap().events;
            assert_eq!(
                events[0].detail.as_deref(),
                Some("1074 refused in 60 s from 1024+ distinct address(es)"),
                "{}",
                f.name
            );
        }
    }

    #[tokio::test]
    async fn legacy_events_are_adopted() {
        // Only sled data directories from before the chain hold such events; PostgreSQL runs
        // the same adoption code.
        for f in fixtures(0).await {
            for seq in [5u64, 9] {
                let legacy = serde_json::json!({"seq": seq, "at": seq, "kind": "device_enrolled", "actor": "device"});
                f.put_raw(seq, &serde_json::to_vec(&legacy).unwrap()).await;
            }
            let audit = f.reopen().await;
            assert_eq!(audit.append(Entry::new(AuditKind::PinChanged, "device"), 10).await.unwrap(), 3, "{}", f.name);
            let report = f.check().await;
            assert!(report.is_intact(), "{}: {report:?}", f.name);
            let events = audit.page(0, 10, None).await.unwrap().events;
            assert_eq!(events.iter().map(|e| (e.seq, e.at)).collect::<Vec<_>>(), vec![(1, 5), (2, 9), (3, 10)]);
        }
    }
}
