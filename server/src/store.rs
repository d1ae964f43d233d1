//! The durable store: one sled database with a tree per record kind, JSON-encoded values.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory is locked by another process (normally a running server).
    #[error("the data directory {dir} is in use by another process (is the server running?)")]
    Locked {
        /// The directory.
        dir: String,
    },
    /// sled failed.
    #[error("storage failure: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record does not decode.
    #[error("stored {tree} record is corrupt: {source}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// The decoding error.
        source: serde_json::Error,
    },
}

/// Tree names.
pub mod trees {
    /// Tenants by name.
    pub const TENANTS: &str = "tenants";
    /// Users by tenant and name ([`crate::tenants::scoped_key`]).
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
    tree: sled::Tree,
}

impl Table {
    /// The underlying sled tree, for writes that must be one transaction across trees.
    pub fn tree(&self) -> &sled::Tree {
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

/// The database and its tables.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
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
}

impl Store {
    /// Opens (or creates) the database in `dir/db`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = Self::open_db(dir)?;
        let table = |name: &'static str| -> Result<Table, StoreError> { Ok(Table { name, tree: db.open_tree(name)? }) };
        Ok(Self {
            tenants: table(trees::TENANTS)?,
            users: table(trees::USERS)?,
            relying_parties: table(trees::RELYING_PARTIES)?,
            admins: table(trees::ADMINS)?,
            devices: table(trees::DEVICES)?,
            enrollments: table(trees::ENROLLMENTS)?,
            challenges: table(trees::CHALLENGES)?,
            audit: table(trees::AUDIT)?,
            nonces: table(trees::NONCES)?,
            audit_head: table(trees::AUDIT_HEAD)?,
            db,
        })
    }

    /// Opens sled, waiting up to a second for its file lock: a database closed a moment ago in
    /// this process (an admin step right before `serve`) releases the lock only when sled's
    /// background flusher thread has exited.
    fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match sled::Config::new().path(dir.join("db")).open() {
                Ok(db) => return Ok(db),
                // sled reports its process lock only as an I/O error with this text.
                Err(sled::Error::Io(io)) if io.to_string().contains("could not acquire lock") => {
                    if std::time::Instant::now() >= deadline {
                        return Err(StoreError::Locked { dir: dir.display().to_string() });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(other) => return Err(StoreError::Sled(other)),
            }
        }
    }

    /// A new, strictly increasing number (survives restarts; may skip values).
    pub fn next_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()? + 1)
    }

    /// Makes every write so far durable; called before acknowledging security-relevant changes.
    pub async fn flush(&self) -> Result<(), StoreError> {
        // sled's own flush_async stalled under ~30 concurrent callers in the benchmark;
        // a blocking flush on tokio's blocking pool does not, and concurrent flushes
        // share the same fsync work.
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(result) => result.map(|_| ()).map_err(StoreError::from),
            Err(join) => Err(StoreError::Sled(sled::Error::ReportableBug(format!("flush task failed: {join}")))),
        }
    }

    /// Synchronous flush, for the admin commands.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}
