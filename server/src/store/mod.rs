//! The durable store, as the rules see it: typed repositories of [`crate::model`] records with
//! atomic updates, and the few multi-record operations that must happen all or nothing.
//!
//! Every rule that must hold across concurrent requests is one call here, not "lock, read,
//! write" in the caller: a challenge decided once and a PIN failure counted are
//! [`Records::update`] (compare-and-set in a retry loop); a nonce used once is
//! [`NonceRepo::offer`]; an enrollment completed once, with its device, is
//! [`Store::complete_enrollment`]. A backend implements these atomically in its own terms
//! (sled: compare-and-swap and multi-tree transactions, see [`sled`]; PostgreSQL: one
//! statement or transaction each, see [`postgres`]). The tests of
//! `store/conformance.rs` hold both to the same contract.

#[cfg(test)]
pub(crate) mod conformance;
pub mod postgres;
pub mod sled;

use std::future::Future;
use std::pin::Pin;

use nyckel_protocol::DeviceId;

use crate::model::{AdminScope, ChallengeRecord, DeviceRecord, EnrollmentRecord, RelyingParty, Tenant, UserRecord};
use crate::nonces::NonceCheck;

pub use self::postgres::{PgChangeFeed, PgSettings, PgStore};
pub use self::sled::SledStore;

/// The store key of something named `name` inside `tenant`: the two cannot run together
/// because tenant names never contain a NUL byte.
pub fn scoped_key(tenant: &str, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(tenant.len() + 1 + name.len());
    key.extend_from_slice(tenant.as_bytes());
    key.push(0);
    key.extend_from_slice(name.as_bytes());
    key
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is locked by another process (normally a running server).
    #[error("the data directory {dir} is in use by another process (is the server running?)")]
    Locked {
        /// The directory.
        dir: String,
    },
    /// The storage engine failed.
    #[error("storage failure: {0}")]
    Engine(String),
    /// A stored record does not decode.
    #[error("stored {tree} record is corrupt: {source}")]
    Corrupt {
        /// The table.
        tree: &'static str,
        /// The decoding error.
        source: serde_json::Error,
    },
}

/// What an update closure wants done with the record it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Store the modified record.
    Write,
    /// Leave the stored record as it is.
    Keep,
}

/// One kind of record by key: reads, writes, and atomic read-modify-write.
///
/// Every method returns a [`StoreFuture`]: a backend on a database server (PostgreSQL) does a
/// network round trip per call, which must not block a tokio worker thread.
pub trait Records<T>: Send + Sync {
    /// One record.
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<T>>;
    /// Writes one record (durable at the next [`Store::flush`]).
    fn put<'a>(&'a self, key: &'a [u8], value: &'a T) -> StoreFuture<'a, ()>;
    /// Writes `value` only when nothing is stored under `key`, atomically; `false` (nothing
    /// written) when something is. Names that must be unique are created with this.
    fn insert_new<'a>(&'a self, key: &'a [u8], value: &'a T) -> StoreFuture<'a, bool>;
    /// Removes one record.
    fn remove<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, ()>;
    /// Every record, in key order.
    fn all(&self) -> StoreFuture<'_, Vec<T>>;
    /// Atomically reads the record under `key`, lets `change` modify a copy, and stores it
    /// when `change` says [`Change::Write`] and nobody wrote it meanwhile; otherwise `change`
    /// runs again on the newer record, so it must decide from the record alone (a closure
    /// that reports an outcome overwrites it on every run). Returns the record as it is
    /// afterwards; `None` (and `change` never called) when there is none. `change` is
    /// synchronous and runs between the read and the write; both backends compare and set
    /// (sled's `compare_and_swap`, PostgreSQL's `UPDATE … WHERE value = <what was read>`), so
    /// a `Change::Keep` writes nothing and takes no lock.
    fn update<'a>(
        &'a self,
        key: &'a [u8],
        change: &'a mut (dyn FnMut(&mut T) -> Change + Send),
    ) -> StoreFuture<'a, Option<T>>;
}

/// [`Records::update`] with an outcome: `change` returns what to do and a value, and the
/// value of the run that took effect comes back with the record.
pub async fn update_with<T, R: Send>(
    records: &dyn Records<T>,
    key: &[u8],
    mut change: impl FnMut(&mut T) -> (Change, R) + Send,
) -> Result<Option<(T, R)>, StoreError> {
    let mut outcome = None;
    let record = records
        .update(key, &mut |r| {
            let (what, value) = change(r);
            outcome = Some(value);
            what
        })
        .await?;
    Ok(record.zip(outcome))
}

/// Request nonces within the replay window.
pub trait NonceRepo: Send + Sync {
    /// Atomically remembers `nonce` for `device` at `now`, unless it was used within
    /// [`crate::nonces::NONCE_MEMORY`] ([`NonceCheck::Replayed`]) or the device used
    /// [`crate::nonces::MAX_NONCES_PER_DEVICE`] in that time ([`NonceCheck::Full`]).
    fn offer<'a>(&'a self, device: &'a DeviceId, nonce: [u8; 16], now: u64) -> StoreFuture<'a, NonceCheck>;
    /// Forgets nonces too old to matter at `now`.
    fn prune(&self, now: u64) -> StoreFuture<'_, ()>;
}

/// The stored end of the audit chain, as [`AuditRepo::append`] shows it to the chain logic
/// (`crate::audit`), which decides from it where the next event goes.
#[derive(Debug, Clone, Default)]
pub struct AuditTip {
    /// The encoded signed head, when one is stored.
    pub head: Option<Vec<u8>>,
    /// The last stored record: its key (a big-endian sequence number, unless tampered with)
    /// and its bytes.
    pub last: Option<(Vec<u8>, Vec<u8>)>,
}

/// Events in order and the head that names the last of them, written together by
/// [`AuditRepo::append`] (one event, or a batch of appends that queued together).
#[derive(Debug, Clone)]
pub struct AuditWrite {
    /// The encoded events under their sequence numbers (their keys), in chain order.
    pub events: Vec<(u64, Vec<u8>)>,
    /// The encoded signed head naming the last event.
    pub head: Vec<u8>,
}

/// The audit log's records: events by sequence number and the one signed head. The bytes are
/// opaque here; `crate::audit` encodes, chains, signs and verifies them.
pub trait AuditRepo: Send + Sync {
    /// Appends events, in a global order: reads the tip, asks `next` what to write after
    /// it, and writes the events and the new head, all while no other append on this database
    /// (in this process or any other sharing it) can read or write the tip, so two appends
    /// never get the same number or link to the same predecessor. `next` returning `None`
    /// writes nothing (`false`).
    fn append<'a>(&'a self, next: &'a mut (dyn FnMut(&AuditTip) -> Option<AuditWrite> + Send))
        -> StoreFuture<'a, bool>;
    /// The tip as stored now.
    fn tip(&self) -> StoreFuture<'_, AuditTip>;
    /// Up to `limit` records (key, bytes) in key order with keys after `after`; from the very
    /// first record (even one under a malformed key) when `after` is `None`.
    fn records_after<'a>(&'a self, after: Option<&'a [u8]>, limit: usize) -> StoreFuture<'a, Vec<(Vec<u8>, Vec<u8>)>>;
    /// Replaces the whole log and its head in one transaction (adopting events written before
    /// the chain existed): removes the records under `remove`, writes `events` by number.
    fn rechain<'a>(
        &'a self,
        remove: &'a [Vec<u8>],
        events: &'a [(u64, Vec<u8>)],
        head: &'a [u8],
    ) -> StoreFuture<'a, ()>;
}

/// A future the store returns (boxed so [`Store`] stays usable as `dyn Store`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The store: one repository per record kind, multi-record operations, durability. Every
/// operation is a future (see [`Records`]).
pub trait Store: Send + Sync {
    /// Tenants by name.
    fn tenants(&self) -> &dyn Records<Tenant>;
    /// Users by [`crate::store::scoped_key`] of tenant and name.
    fn users(&self) -> &dyn Records<UserRecord>;
    /// Relying parties by SHA-256 of their API key.
    fn relying_parties(&self) -> &dyn Records<RelyingParty>;
    /// Tenant administrators by SHA-256 of their token.
    fn admins(&self) -> &dyn Records<AdminScope>;
    /// Devices by id.
    fn devices(&self) -> &dyn Records<DeviceRecord>;
    /// Enrollments by id.
    fn enrollments(&self) -> &dyn Records<EnrollmentRecord>;
    /// Challenges by id.
    fn challenges(&self) -> &dyn Records<ChallengeRecord>;
    /// Request nonces.
    fn nonces(&self) -> &dyn NonceRepo;
    /// The audit log's records (chained and verified by `crate::audit`).
    fn audit(&self) -> &dyn AuditRepo;
    /// All or nothing: stores `completed` over its enrollment and creates `device`, if the
    /// stored enrollment has no device yet. `false` (nothing written) when it has one: an
    /// enrollment completes once.
    fn complete_enrollment<'a>(
        &'a self,
        completed: &'a EnrollmentRecord,
        device: &'a DeviceRecord,
    ) -> StoreFuture<'a, bool>;
    /// Makes every write so far durable; awaited before acknowledging security-relevant changes.
    fn flush(&self) -> StoreFuture<'_, ()>;
    /// The feed of changes other server instances make to this store's challenges, devices
    /// and enrollments, for a store several instances share (PostgreSQL: LISTEN/NOTIFY).
    /// `None` (the default) for a store only this process uses (sled): every change is then
    /// this process's own and already in its registries. Opens no connection until awaited.
    fn change_feed(&self) -> Option<Box<dyn ChangeFeed>> {
        None
    }
    /// Runs `work` unless another instance sharing the store is running work of the same
    /// `task` number right now (PostgreSQL: a transaction-scoped advisory lock held while it
    /// runs); `false` when it was skipped. A store only this process uses runs it always.
    fn exclusively<'a>(&'a self, task: i32, work: Work<'a>) -> StoreFuture<'a, bool> {
        let _ = task;
        Box::pin(async move {
            work.await;
            Ok(true)
        })
    }
}

/// Work handed to [`Store::exclusively`].
pub type Work<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A record another instance changed (written, created or removed): which one, not how — the
/// receiver re-reads it from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// A challenge, by id.
    Challenge(nyckel_protocol::ChallengeId),
    /// A device, by id.
    Device(DeviceId),
    /// An enrollment, by id.
    Enrollment(nyckel_protocol::EnrollmentId),
}

/// What [`ChangeFeed::next`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// One record changed.
    Changed(Changed),
    /// The feed (re)connected: changes made while it was not listening are not reported, so
    /// everything this process holds in memory must be re-read now.
    Resync,
}

/// Changes made by other instances sharing the store, in commit order.
pub trait ChangeFeed: Send {
    /// The next change; waits for it, and reconnects (reporting [`FeedEvent::Resync`]) when
    /// the connection is lost. An error only when the feed cannot go on (it is logged and
    /// retried by the caller).
    fn next(&mut self) -> StoreFuture<'_, FeedEvent>;
}
