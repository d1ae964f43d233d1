//! The sled backend of [`Store`]: one sled database with a tree per record kind,
//! JSON-encoded values. Updates are compare-and-swap loops, the enrollment completion a
//! transaction over two trees, and nonces an in-memory window per device in front of their
//! tree (sled is single-process, so the window under its mutex is the whole truth).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;

use ::sled::transaction::{ConflictableTransactionError, TransactionError};
use ::sled::Transactional;
use nyckel_protocol::DeviceId;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{AuditRepo, AuditTip, AuditWrite, Change, NonceRepo, Records, Store, StoreError, StoreFuture};
use crate::model::{AdminScope, ChallengeRecord, DeviceRecord, EnrollmentRecord, RelyingParty, Tenant, UserRecord};
use crate::nonces::{split_key, stored_key, NonceCheck, NonceWindow, NONCE_MEMORY};

impl From<::sled::Error> for StoreError {
    fn from(e: ::sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

/// Tree names.
pub mod trees {
    /// Tenants by name.
    pub const TENANTS: &str = "tenants";
    /// Users by tenant and name ([`crate::store::scoped_key`]).
    pub const USERS: &str = "users";
    /// Relying parties by SHA-256 of their API key.
    pub const RELYING_PARTIES: &str = "relying_parties";
    /// Tenant administrators by SHA-256 of their token.
    pub const ADMINS: &str = "admins";
    /// Devices by id.
    pub const DEVICES: &str = "devices";
    /// Enrollments by id.
    pub const ENROLLMENTS: &str = "enrollments";
    /// Challenges by id.
    pub const CHALLENGES: &str = "challenges";
    /// Request nonces within the replay window, by device id and nonce ([`crate::nonces::stored_key`]).
    pub const NONCES: &str = "nonces";
    /// Audit events by big-endian sequence number.
    pub const AUDIT: &str = "audit";
    /// The signed head of the audit chain (one record, key `head`), written in the same
    /// transaction as each event.
    pub const AUDIT_HEAD: &str = "audit_head";
}

/// A typed view of one sled tree.
#[derive(Clone)]
pub struct Table {
    name: &'static str,
    tree: ::sled::Tree,
}

impl Table {
    /// The underlying sled tree, for writes that must be one transaction across trees.
    pub fn tree(&self) -> &::sled::Tree {
        &self.tree
    }

    /// Reads and decodes one record.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.tree.get(key)? {
            Some(bytes) => decode(self.name, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Encodes and writes one record (not flushed: see [`Store::flush`]).
    pub fn put<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Corrupt { tree: self.name, source })?;
        self.tree.insert(key, bytes)?;
        Ok(())
    }

    /// Removes one record.
    pub fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree.remove(key)?;
        Ok(())
    }

    /// Every record, in key order.
    pub fn all<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.tree.iter().values().map(|v| decode(self.name, &v?)).collect()
    }

    /// Every key with its decoded record, in key order.
    pub fn entries<T: DeserializeOwned>(&self) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.tree
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), decode(self.name, &v)?))
            })
            .collect()
    }

    /// Up to `limit` records with keys strictly after `after`, in key order.
    pub fn range_after<T: DeserializeOwned>(&self, after: &[u8], limit: usize) -> Result<Vec<T>, StoreError> {
        use std::ops::Bound;
        self.tree
            .range::<&[u8], _>((Bound::Excluded(after), Bound::Unbounded))
            .values()
            .take(limit)
            .map(|v| decode(self.name, &v?))
            .collect()
    }
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { tree, source })
}

/// The sled database and its tables (the raw tables are public for the audit chain and for
/// tests that tamper with stored bytes; the rules go through [`Store`]).
#[derive(Clone)]
pub struct SledStore {
    db: ::sled::Db,
    /// Tenants.
    pub tenants: Table,
    /// Users.
    pub users: Table,
    /// Relying parties.
    pub relying_parties: Table,
    /// Tenant administrators.
    pub admins: Table,
    /// Devices.
    pub devices: Table,
    /// Enrollments.
    pub enrollments: Table,
    /// Challenges.
    pub challenges: Table,
    /// Audit log.
    pub audit: Table,
    /// Recent request nonces.
    pub nonces: Table,
    /// Audit chain head.
    pub audit_head: Table,
    /// Each device's recent nonces in memory, in front of the `nonces` table.
    windows: std::sync::Arc<SledNonces>,
    /// Serialises audit appends: sled is one process, so this lock (shared by every clone)
    /// is the whole of the chain's global order.
    audit_appends: std::sync::Arc<Mutex<()>>,
    typed: TypedTables,
}

impl SledStore {
    /// Opens (or creates) the database in `dir/db`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = Self::open_db(dir)?;
        let table = |name: &'static str| -> Result<Table, StoreError> { Ok(Table { name, tree: db.open_tree(name)? }) };
        let nonces = table(trees::NONCES)?;
        let (tenants, users, relying_parties, admins) =
            (table(trees::TENANTS)?, table(trees::USERS)?, table(trees::RELYING_PARTIES)?, table(trees::ADMINS)?);
        let (devices, enrollments, challenges) =
            (table(trees::DEVICES)?, table(trees::ENROLLMENTS)?, table(trees::CHALLENGES)?);
        let typed = TypedTables {
            tenants: std::sync::Arc::new(Typed::new(&tenants)),
            users: std::sync::Arc::new(Typed::new(&users)),
            relying_parties: std::sync::Arc::new(Typed::new(&relying_parties)),
            admins: std::sync::Arc::new(Typed::new(&admins)),
            devices: std::sync::Arc::new(Typed::new(&devices)),
            enrollments: std::sync::Arc::new(Typed::new(&enrollments)),
            challenges: std::sync::Arc::new(Typed::new(&challenges)),
        };
        Ok(Self {
            windows: std::sync::Arc::new(SledNonces::load(&nonces)?),
            audit_appends: std::sync::Arc::new(Mutex::new(())),
            typed,
            tenants,
            users,
            relying_parties,
            admins,
            devices,
            enrollments,
            challenges,
            audit: table(trees::AUDIT)?,
            nonces,
            audit_head: table(trees::AUDIT_HEAD)?,
            db,
        })
    }

    /// Opens sled, waiting up to a second for its file lock: a database closed a moment ago in
    /// this process (an admin step right before `serve`) releases the lock only when sled's
    /// background flusher thread has exited.
    fn open_db(dir: &Path) -> Result<::sled::Db, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match ::sled::Config::new().path(dir.join("db")).open() {
                Ok(db) => return Ok(db),
                // sled reports its process lock only as an I/O error with this text.
                Err(::sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked { dir: dir.display().to_string() });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(other) => return Err(other.into()),
            }
        }
    }

    /// A new, strictly increasing number (survives restarts; may skip values).
    pub fn next_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()? + 1)
    }

    /// Makes every write so far durable.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        // sled's own flush_async stalled under ~30 concurrent callers in the benchmark;
        // a blocking flush on tokio's blocking pool does not, and concurrent flushes
        // share the same fsync work.
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(result) => result.map(|_| ()).map_err(StoreError::from),
            Err(join) => Err(StoreError::Engine(format!("flush task failed: {join}"))),
        }
    }

    /// Synchronous flush.
    pub fn flush_sync(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Corrupt { tree, source })
}

/// A [`Table`] seen as records of one type.
pub struct Typed<T> {
    table: Table,
    _record: PhantomData<fn() -> T>,
}

impl<T> Typed<T> {
    fn new(table: &Table) -> Self {
        Self { table: table.clone(), _record: PhantomData }
    }
}

// The sled calls below are local and fast (in-memory pages, no fsync), so each runs inside
// its future without a blocking-pool hop; only `flush` touches the disk and goes there.
impl<T: Serialize + DeserializeOwned + Send + Sync> Records<T> for Typed<T> {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<T>> {
        Box::pin(async move { self.table.get(key) })
    }

    fn put<'a>(&'a self, key: &'a [u8], value: &'a T) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.table.put(key, value) })
    }

    fn insert_new<'a>(&'a self, key: &'a [u8], value: &'a T) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let bytes = encode(self.table.name, value)?;
            Ok(self.table.tree.compare_and_swap(key, None as Option<&[u8]>, Some(bytes))?.is_ok())
        })
    }

    fn remove<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.table.remove(key) })
    }

    fn all(&self) -> StoreFuture<'_, Vec<T>> {
        Box::pin(async move { self.table.all() })
    }

    fn update<'a>(
        &'a self,
        key: &'a [u8],
        change: &'a mut (dyn FnMut(&mut T) -> Change + Send),
    ) -> StoreFuture<'a, Option<T>> {
        Box::pin(async move {
            let name = self.table.name;
            loop {
                let Some(old) = self.table.tree.get(key)? else {
                    return Ok(None);
                };
                let mut record: T = decode(name, &old)?;
                if change(&mut record) == Change::Keep {
                    return Ok(Some(record));
                }
                let new = encode(name, &record)?;
                // Someone else wrote in between: decide again on their record.
                if self.table.tree.compare_and_swap(key, Some(old), Some(new))?.is_ok() {
                    return Ok(Some(record));
                }
            }
        })
    }
}

/// Nonce windows per device, loaded from the `nonces` tree at open.
struct SledNonces {
    table: Table,
    windows: Mutex<HashMap<DeviceId, NonceWindow>>,
}

impl SledNonces {
    fn load(table: &Table) -> Result<Self, StoreError> {
        let mut remembered: Vec<(u64, DeviceId, [u8; 16])> = Vec::new();
        for (key, at) in table.entries::<u64>()? {
            match split_key(&key).and_then(|(d, n)| DeviceId::new(d).ok().map(|d| (d, n))) {
                Some((device, nonce)) => remembered.push((at, device, nonce)),
                None => table.remove(&key)?,
            }
        }
        remembered.sort_by_key(|(at, _, _)| *at);
        let mut windows: HashMap<DeviceId, NonceWindow> = HashMap::new();
        for (at, device, nonce) in remembered {
            windows.entry(device).or_default().restore(nonce, at);
        }
        Ok(Self { table: table.clone(), windows: Mutex::new(windows) })
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceId, NonceWindow>> {
        self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl NonceRepo for SledStore {
    fn offer<'a>(&'a self, device: &'a DeviceId, nonce: [u8; 16], now: u64) -> StoreFuture<'a, NonceCheck> {
        Box::pin(async move {
            // The check and the write happen under the one lock, so a nonce is accepted once
            // (the future never awaits while holding it).
            let mut windows = self.windows.windows();
            let check = windows.entry(device.clone()).or_default().offer(nonce, now);
            if check == NonceCheck::Fresh {
                // Not flushed here: every security-relevant request flushes before it answers.
                self.windows.table.put(&stored_key(device.as_str(), &nonce), &now)?;
            }
            Ok(check)
        })
    }

    fn prune(&self, now: u64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            for (key, at) in self.nonces.entries::<u64>()? {
                if at.saturating_add(NONCE_MEMORY) <= now {
                    self.nonces.remove(&key)?;
                }
            }
            self.windows.windows().retain(|_, window| {
                window.expire(now);
                !window.is_empty()
            });
            Ok(())
        })
    }
}

impl Store for SledStore {
    fn tenants(&self) -> &dyn Records<Tenant> {
        &*self.typed.tenants
    }

    fn users(&self) -> &dyn Records<UserRecord> {
        &*self.typed.users
    }

    fn relying_parties(&self) -> &dyn Records<RelyingParty> {
        &*self.typed.relying_parties
    }

    fn admins(&self) -> &dyn Records<AdminScope> {
        &*self.typed.admins
    }

    fn devices(&self) -> &dyn Records<DeviceRecord> {
        &*self.typed.devices
    }

    fn enrollments(&self) -> &dyn Records<EnrollmentRecord> {
        &*self.typed.enrollments
    }

    fn challenges(&self) -> &dyn Records<ChallengeRecord> {
        &*self.typed.challenges
    }

    fn nonces(&self) -> &dyn NonceRepo {
        self
    }

    fn audit(&self) -> &dyn AuditRepo {
        self
    }

    fn complete_enrollment<'a>(
        &'a self,
        completed: &'a EnrollmentRecord,
        device: &'a DeviceRecord,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move { self.complete_enrollment_now(completed, device) })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.flush_async())
    }
}

/// Key of the single record in the `audit_head` tree.
const AUDIT_HEAD_KEY: &[u8] = b"head";

fn audit_transaction_err(e: TransactionError<()>) -> StoreError {
    match e {
        TransactionError::Storage(e) => e.into(),
        // Nothing aborts these transactions; kept typed rather than a panic path.
        TransactionError::Abort(()) => StoreError::Engine("audit transaction aborted".into()),
    }
}

impl SledStore {
    fn audit_tip(&self) -> Result<AuditTip, StoreError> {
        let head = self.audit_head.tree.get(AUDIT_HEAD_KEY)?.map(|v| v.to_vec());
        let last = self.audit.tree.last()?.map(|(k, v)| (k.to_vec(), v.to_vec()));
        Ok(AuditTip { head, last })
    }
}

// Local and fast like the records above: each call runs inside its future.
impl AuditRepo for SledStore {
    fn append<'a>(
        &'a self,
        next: &'a mut (dyn FnMut(&AuditTip) -> Option<AuditWrite> + Send),
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            // Held from reading the tip to the commit (never across an await).
            let _order = self.audit_appends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(write) = next(&self.audit_tip()?) else {
                return Ok(false);
            };
            (&self.audit.tree, &self.audit_head.tree)
                .transaction(|(audit, heads)| {
                    for (seq, event) in &write.events {
                        audit.insert(&seq.to_be_bytes(), event.as_slice())?;
                    }
                    heads.insert(AUDIT_HEAD_KEY, write.head.as_slice())?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(audit_transaction_err)?;
            Ok(true)
        })
    }

    fn tip(&self) -> StoreFuture<'_, AuditTip> {
        Box::pin(async move { self.audit_tip() })
    }

    fn records_after<'a>(&'a self, after: Option<&'a [u8]>, limit: usize) -> StoreFuture<'a, Vec<(Vec<u8>, Vec<u8>)>> {
        use std::ops::Bound;
        Box::pin(async move {
            let start = after.map_or(Bound::Unbounded, Bound::Excluded);
            self.audit
                .tree
                .range::<&[u8], _>((start, Bound::Unbounded))
                .take(limit)
                .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(StoreError::from))
                .collect()
        })
    }

    fn rechain<'a>(
        &'a self,
        remove: &'a [Vec<u8>],
        events: &'a [(u64, Vec<u8>)],
        head: &'a [u8],
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let _order = self.audit_appends.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            (&self.audit.tree, &self.audit_head.tree)
                .transaction(|(audit, heads)| {
                    for key in remove {
                        audit.remove(key.as_slice())?;
                    }
                    for (seq, bytes) in events {
                        audit.insert(&seq.to_be_bytes(), bytes.as_slice())?;
                    }
                    heads.insert(AUDIT_HEAD_KEY, head)?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(audit_transaction_err)
        })
    }
}

impl SledStore {
    /// [`Store::complete_enrollment`]: one sled transaction over the two trees.
    fn complete_enrollment_now(&self, completed: &EnrollmentRecord, device: &DeviceRecord) -> Result<bool, StoreError> {
        let enrollment_key = completed.id.as_str().as_bytes();
        let device_key = device.device_id.as_str().as_bytes();
        let enrollment_bytes = encode(trees::ENROLLMENTS, completed)?;
        let device_bytes = encode(trees::DEVICES, device)?;
        let result = (&self.enrollments.tree, &self.devices.tree).transaction(|(enrollments, devices)| {
            let stored = match enrollments.get(enrollment_key)? {
                Some(bytes) => Some(
                    decode::<EnrollmentRecord>(trees::ENROLLMENTS, &bytes)
                        .map_err(ConflictableTransactionError::Abort)?,
                ),
                None => None,
            };
            if stored.is_some_and(|s| s.device_id.is_some()) {
                return Ok(false);
            }
            enrollments.insert(enrollment_key, enrollment_bytes.as_slice())?;
            devices.insert(device_key, device_bytes.as_slice())?;
            Ok(true)
        });
        match result {
            Ok(done) => Ok(done),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }
}

/// The typed views the [`Store`] methods hand out.
#[derive(Clone)]
struct TypedTables {
    tenants: std::sync::Arc<Typed<Tenant>>,
    users: std::sync::Arc<Typed<UserRecord>>,
    relying_parties: std::sync::Arc<Typed<RelyingParty>>,
    admins: std::sync::Arc<Typed<AdminScope>>,
    devices: std::sync::Arc<Typed<DeviceRecord>>,
    enrollments: std::sync::Arc<Typed<EnrollmentRecord>>,
    challenges: std::sync::Arc<Typed<ChallengeRecord>>,
}

#[cfg(test)]
mod tests {
    //! The contract every backend meets is tested in `store/conformance.rs`; here, what
    //! only sled does: reloading the nonce windows at open.
    use super::*;

    /// A nonce is accepted once, still refused after the store is reopened, and forgotten
    /// only when it is too old to matter.
    #[tokio::test]
    async fn a_nonce_is_accepted_once_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let device = DeviceId::random().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            assert_eq!(store.nonces().offer(&device, [1; 16], 100).await.unwrap(), NonceCheck::Fresh);
            assert_eq!(store.nonces().offer(&device, [1; 16], 101).await.unwrap(), NonceCheck::Replayed);
            store.flush().await.unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.nonces().offer(&device, [1; 16], 102).await.unwrap(), NonceCheck::Replayed);
        store.nonces().prune(100 + NONCE_MEMORY).await.unwrap();
        assert!(store.nonces.entries::<u64>().unwrap().is_empty());
        assert_eq!(store.nonces().offer(&device, [1; 16], 100 + NONCE_MEMORY).await.unwrap(), NonceCheck::Fresh);
    }
}
