//! The encrypted account vault on sled: every record sealed, every write flushed before it returns.

pub mod backup;
pub mod device_keys;
pub mod keystore;
pub mod origins;
pub mod provider_tokens;
pub mod registrations;
pub mod seal;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::account::{Account, StoredAccount};
use crate::import::{EntryOutcome, EntryReport, Format, ImportError, ImportReport, ParsedEntry};
use crate::otp::{Code, OtpKind, ParamsError};
use crate::secret::SecretBytes;
use backup::BackupError;
use keystore::{KdfParams, KeyReference, KeyStore, KeyStoreError};
use seal::{SealError, VaultKey};

/// Identifies an account inside one vault; assigned in insertion order.
pub type AccountId = u64;

/// An account together with its identifier in the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultEntry {
    /// The vault's identifier for the account.
    pub id: AccountId,
    /// The account.
    pub account: Account,
}

/// What happened to a list of accounts given to [`Vault::add_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddReport {
    /// Identifiers of the accounts that were added.
    pub added: Vec<AccountId>,
    /// How many were already in the vault (same issuer, name, secret and type) and were skipped.
    pub duplicates: usize,
}

/// Why a vault operation failed. The vault is unchanged whenever one is returned.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// No vault at the path.
    #[error("no vault at {0} (run init first)")]
    NotInitialized(PathBuf),
    /// `create` on a path that already holds a vault.
    #[error("a vault already exists at {0}")]
    AlreadyInitialized(PathBuf),
    /// Another process has the vault open.
    #[error("the vault at {0} is in use by another process")]
    Locked(PathBuf),
    /// The key (or passphrase) does not open this vault.
    #[error("wrong passphrase or key for this vault")]
    WrongKey,
    /// The key store could not give the key.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// The vault was written by a newer version of Nyckel.
    #[error("vault format version {0} is not supported by this version of Nyckel")]
    UnsupportedVersion(u32),
    /// A record or the header does not decrypt or parse.
    #[error("the vault is corrupt: {0}")]
    Corrupt(String),
    /// No account with this identifier.
    #[error("no account with id {0}")]
    NotFound(AccountId),
    /// An HOTP counter at its largest value.
    #[error("the HOTP counter of this account is exhausted")]
    CounterExhausted,
    /// A counter operation on a time-based account.
    #[error("account {0} is not an HOTP (counter-based) account")]
    NotHotp(AccountId),
    /// A rename to an empty name.
    #[error("an account needs a non-empty name")]
    EmptyName,
    /// Invalid OTP parameters in an account to store.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// Encryption failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// A backup could not be read or written.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// Another app's export could not be read (or an Aegis export written) as a whole.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A privacyIDEA or tiqr token with this id is already on this phone.
    #[error("token {0} is already on this phone")]
    DuplicateToken(String),
    /// The storage engine failed (disk full, I/O error).
    #[error("storage error: {0}")]
    Storage(sled::Error),
}

const FORMAT: &str = "nyckel-vault";
const FORMAT_VERSION: u32 = 1;
const HEADER_KEY: &[u8] = b"header";
const CHECK_PLAINTEXT: &[u8] = b"nyckel vault key check v1";
const CHECK_AAD: &[u8] = b"nyckel-vault-check";

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
    key_reference: String,
    /// Sealed [`CHECK_PLAINTEXT`]: tells a wrong key from a corrupt record.
    check: Vec<u8>,
}

/// An open vault. Only one process may hold a vault open at a time.
pub struct Vault {
    db: sled::Db,
    accounts: sled::Tree,
    key: VaultKey,
    /// Serialises identifier allocation so that two threads never pick the same id.
    allocation: std::sync::Mutex<()>,
}

impl Vault {
    /// True when `path` holds an initialised vault.
    pub fn exists(path: &Path) -> bool {
        path.join("conf").exists()
    }

    /// Creates a vault at `path`, taking its key from `key_store`.
    pub fn create(path: &Path, key_store: &dyn KeyStore) -> Result<Vault, VaultError> {
        let db = open_db(path)?;
        let meta = db.open_tree("meta").map_err(VaultError::Storage)?;
        if meta.get(HEADER_KEY).map_err(VaultError::Storage)?.is_some() {
            return Err(VaultError::AlreadyInitialized(path.to_path_buf()));
        }
        let (reference, key) = key_store.create_vault_key()?;
        let header = Header {
            format: FORMAT.into(),
            version: FORMAT_VERSION,
            key_reference: reference.0,
            check: seal::seal(&key, CHECK_PLAINTEXT, CHECK_AAD)?,
        };
        let bytes = serde_json::to_vec(&header).map_err(|error| VaultError::Corrupt(error.to_string()))?;
        // A single insert: a crash leaves either no header (not initialised) or the whole header.
        meta.insert(HEADER_KEY, bytes).map_err(VaultError::Storage)?;
        db.flush().map_err(VaultError::Storage)?;
        Self::from_parts(db, key)
    }

    /// Opens the vault at `path`, creating it when there is none — including a directory left
    /// by a create that was interrupted before its header was written.
    pub fn open_or_create(path: &Path, key_store: &dyn KeyStore) -> Result<Vault, VaultError> {
        match Self::open(path, key_store) {
            Err(VaultError::NotInitialized(_)) => Self::create(path, key_store),
            other => other,
        }
    }

    /// Opens the vault at `path` with the key `key_store` gives for it.
    pub fn open(path: &Path, key_store: &dyn KeyStore) -> Result<Vault, VaultError> {
        if !Self::exists(path) {
            return Err(VaultError::NotInitialized(path.to_path_buf()));
        }
        let db = open_db(path)?;
        let meta = db.open_tree("meta").map_err(VaultError::Storage)?;
        let bytes = meta
            .get(HEADER_KEY)
            .map_err(VaultError::Storage)?
            .ok_or_else(|| VaultError::NotInitialized(path.to_path_buf()))?;
        let header: Header =
            serde_json::from_slice(&bytes).map_err(|error| VaultError::Corrupt(format!("header: {error}")))?;
        if header.format != FORMAT {
            return Err(VaultError::Corrupt(format!("unknown format {:?}", header.format)));
        }
        if header.version != FORMAT_VERSION {
            return Err(VaultError::UnsupportedVersion(header.version));
        }
        let key = key_store.vault_key(&KeyReference(header.key_reference))?;
        match seal::open(&key, &header.check, CHECK_AAD) {
            Ok(plain) if plain.as_slice() == CHECK_PLAINTEXT => {}
            Ok(_) | Err(SealError::Authentication) => return Err(VaultError::WrongKey),
            Err(error) => return Err(VaultError::Corrupt(format!("key check: {error}"))),
        }
        Self::from_parts(db, key)
    }

    fn from_parts(db: sled::Db, key: VaultKey) -> Result<Vault, VaultError> {
        let accounts = db.open_tree("accounts").map_err(VaultError::Storage)?;
        Ok(Vault { db, accounts, key, allocation: std::sync::Mutex::new(()) })
    }

    /// Adds one account; returns its identifier once it is on disk.
    pub fn add(&self, account: Account) -> Result<AccountId, VaultError> {
        let _guard = self.allocation.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = self.next_free_id()?;
        let sealed = self.seal_account(id, &account)?;
        self.accounts.insert(id.to_be_bytes(), sealed).map_err(VaultError::Storage)?;
        self.flush()?;
        Ok(id)
    }

    /// Adds every account that is not already present, all or nothing.
    pub fn add_all(&self, accounts: Vec<Account>) -> Result<AddReport, VaultError> {
        let _guard = self.allocation.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let existing = self.list()?;
        let mut next_id = self.next_free_id()?;
        let mut report = AddReport::default();
        let mut batch = sled::Batch::default();
        let mut accepted: Vec<Account> = Vec::new();
        for account in accounts {
            account.params.validated()?;
            let known = existing.iter().map(|entry| &entry.account).chain(accepted.iter());
            if known.into_iter().any(|other| other.same_identity(&account)) {
                report.duplicates += 1;
                continue;
            }
            let id = next_id;
            next_id = next_id.checked_add(1).ok_or_else(|| VaultError::Corrupt("account ids exhausted".into()))?;
            batch.insert(&id.to_be_bytes(), self.seal_account(id, &account)?);
            report.added.push(id);
            accepted.push(account);
        }
        self.accounts.apply_batch(batch).map_err(VaultError::Storage)?;
        self.flush()?;
        Ok(report)
    }

    /// Adds the good entries of another app's export: each entry gets its own outcome (added,
    /// already present, refused with the reason), so one bad entry never hides the rest. With
    /// `all_or_nothing`, one refused entry means nothing is added (the good ones are
    /// [`EntryOutcome::NotAdded`]). What is added is written in one atomic batch.
    pub fn import_entries(
        &self,
        format: Format,
        entries: Vec<ParsedEntry>,
        all_or_nothing: bool,
    ) -> Result<ImportReport, VaultError> {
        let _guard = self.allocation.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let existing = self.list()?;
        let mut accepted: Vec<Account> = Vec::new();
        let mut reports = Vec::with_capacity(entries.len());
        for entry in entries {
            let outcome =
                match entry.account.and_then(|account| account.params.validated().map(|_| account).map_err(Into::into))
                {
                    Err(error) => EntryOutcome::Refused(error),
                    Ok(account) => {
                        let known = existing.iter().map(|entry| &entry.account).chain(accepted.iter());
                        if known.into_iter().any(|other| other.same_identity(&account)) {
                            EntryOutcome::AlreadyPresent
                        } else {
                            accepted.push(account);
                            // Placeholder until the batch is written; replaced by the id below.
                            EntryOutcome::NotAdded
                        }
                    }
                };
            reports.push(EntryReport { index: entry.index, label: entry.label, outcome });
        }
        let refused = reports.iter().any(|report| matches!(report.outcome, EntryOutcome::Refused(_)));
        if (all_or_nothing && refused) || accepted.is_empty() {
            return Ok(ImportReport { format, entries: reports });
        }
        let mut next_id = self.next_free_id()?;
        let mut batch = sled::Batch::default();
        let mut accepted = accepted.into_iter();
        for report in reports.iter_mut().filter(|report| report.outcome == EntryOutcome::NotAdded) {
            let account = accepted.next().ok_or_else(|| VaultError::Corrupt("import bookkeeping".into()))?;
            let id = next_id;
            next_id = next_id.checked_add(1).ok_or_else(|| VaultError::Corrupt("account ids exhausted".into()))?;
            batch.insert(&id.to_be_bytes(), self.seal_account(id, &account)?);
            report.outcome = EntryOutcome::Added(id);
        }
        self.accounts.apply_batch(batch).map_err(VaultError::Storage)?;
        self.flush()?;
        Ok(ImportReport { format, entries: reports })
    }

    /// Reads another app's export (`format`, or detected) with `passphrase` if it is encrypted,
    /// and imports it as [`Vault::import_entries`] does.
    pub fn import_file(
        &self,
        bytes: &[u8],
        format: Option<Format>,
        passphrase: Option<&str>,
        all_or_nothing: bool,
    ) -> Result<ImportReport, VaultError> {
        let parsed = crate::import::parse(bytes, format, passphrase)?;
        self.import_entries(parsed.format, parsed.entries, all_or_nothing)
    }

    /// Every account as an Aegis vault file, plain or encrypted under `passphrase`, so that
    /// the accounts can move to Aegis (or any app that reads its format).
    pub fn export_aegis(&self, passphrase: Option<&str>) -> Result<Vec<u8>, VaultError> {
        let accounts: Vec<Account> = self.list()?.into_iter().map(|entry| entry.account).collect();
        Ok(crate::import::aegis::write_vault(&accounts, passphrase)?)
    }

    /// Every account, in the order they were added.
    pub fn list(&self) -> Result<Vec<VaultEntry>, VaultError> {
        self.accounts
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(VaultError::Storage)?;
                let id = id_from_key(&key)?;
                Ok(VaultEntry { id, account: self.open_account(id, &value)? })
            })
            .collect()
    }

    /// How many accounts the vault holds, without decrypting them.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True when the vault holds no account.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// One account by identifier.
    pub fn get(&self, id: AccountId) -> Result<Account, VaultError> {
        let value =
            self.accounts.get(id.to_be_bytes()).map_err(VaultError::Storage)?.ok_or(VaultError::NotFound(id))?;
        self.open_account(id, &value)
    }

    /// Changes the issuer and name of an account.
    pub fn rename(&self, id: AccountId, issuer: &str, name: &str) -> Result<(), VaultError> {
        if name.trim().is_empty() {
            return Err(VaultError::EmptyName);
        }
        self.update(id, |account| {
            account.issuer = issuer.trim().to_string();
            account.name = name.trim().to_string();
            Ok(())
        })
    }

    /// Removes an account for good.
    pub fn delete(&self, id: AccountId) -> Result<(), VaultError> {
        self.accounts.remove(id.to_be_bytes()).map_err(VaultError::Storage)?.ok_or(VaultError::NotFound(id))?;
        self.remove_origin(id)?;
        self.flush()
    }

    /// The next code of an HOTP account. The counter is advanced on disk before the code is
    /// returned, so a crash can skip a code but never show one twice.
    pub fn next_hotp_code(&self, id: AccountId) -> Result<Code, VaultError> {
        let mut code = None;
        self.update(id, |account| {
            let OtpKind::Hotp { counter } = account.params.kind else {
                return Err(VaultError::NotHotp(id));
            };
            let next = counter.checked_add(1).ok_or(VaultError::CounterExhausted)?;
            code = Some(account.code_at(0)?);
            account.params.kind = OtpKind::Hotp { counter: next };
            Ok(())
        })?;
        code.ok_or(VaultError::NotFound(id))
    }

    /// An encrypted backup of every account under `passphrase` (see [`backup`] for the format).
    pub fn export_backup(&self, passphrase: &str, params: KdfParams) -> Result<Vec<u8>, VaultError> {
        let accounts: Vec<Account> = self.list()?.into_iter().map(|entry| entry.account).collect();
        Ok(backup::write_backup(&accounts, passphrase, params)?)
    }

    /// Adds the accounts of a backup, skipping those already present; all or nothing.
    pub fn import_backup(&self, bytes: &[u8], passphrase: &str) -> Result<AddReport, VaultError> {
        let accounts = backup::read_backup(bytes, passphrase)?;
        self.add_all(accounts)
    }

    /// Read-modify-write with compare-and-swap, so a concurrent writer's change is never lost.
    fn update(
        &self,
        id: AccountId,
        mut change: impl FnMut(&mut Account) -> Result<(), VaultError>,
    ) -> Result<(), VaultError> {
        let key = id.to_be_bytes();
        loop {
            let old = self.accounts.get(key).map_err(VaultError::Storage)?.ok_or(VaultError::NotFound(id))?;
            let mut account = self.open_account(id, &old)?;
            change(&mut account)?;
            let new = self.seal_account(id, &account)?;
            match self.accounts.compare_and_swap(key, Some(&old), Some(new)).map_err(VaultError::Storage)? {
                Ok(()) => return self.flush(),
                Err(_) => continue,
            }
        }
    }

    /// One past the highest identifier in use: short, stable ids in insertion order.
    fn next_free_id(&self) -> Result<AccountId, VaultError> {
        match self.accounts.last().map_err(VaultError::Storage)? {
            None => Ok(1),
            Some((key, _)) => {
                id_from_key(&key)?.checked_add(1).ok_or_else(|| VaultError::Corrupt("account ids exhausted".into()))
            }
        }
    }

    fn flush(&self) -> Result<(), VaultError> {
        self.db.flush().map(|_| ()).map_err(VaultError::Storage)
    }

    /// A named tree of the vault's database, for the modules that keep their own records
    /// (e.g. [`crate::history`]); every value written to it must be sealed.
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, VaultError> {
        self.db.open_tree(name).map_err(VaultError::Storage)
    }

    /// Seals a record under the vault key, bound to `aad` (its slot).
    pub(crate) fn seal_record(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        Ok(seal::seal(&self.key, plain, aad)?)
    }

    /// Opens a record sealed by [`Vault::seal_record`] with the same `aad`.
    pub(crate) fn open_record(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        seal::open(&self.key, sealed, aad)
    }

    /// Makes every write so far durable.
    pub(crate) fn flush_all(&self) -> Result<(), VaultError> {
        self.flush()
    }

    /// Serialises writers that allocate sequence numbers or identifiers.
    pub(crate) fn allocation_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.allocation.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn seal_account(&self, id: AccountId, account: &Account) -> Result<Vec<u8>, VaultError> {
        account.params.validated()?;
        let stored = StoredAccount {
            issuer: account.issuer.clone(),
            name: account.name.clone(),
            secret: account.secret.to_base32(),
            params: account.params,
        };
        let plain =
            Zeroizing::new(serde_json::to_vec(&stored).map_err(|error| VaultError::Corrupt(error.to_string()))?);
        Ok(seal::seal(&self.key, &plain, &record_aad(id))?)
    }

    fn open_account(&self, id: AccountId, sealed: &[u8]) -> Result<Account, VaultError> {
        let plain = seal::open(&self.key, sealed, &record_aad(id))
            .map_err(|error| VaultError::Corrupt(format!("account {id}: {error}")))?;
        let stored: StoredAccount =
            serde_json::from_slice(&plain).map_err(|error| VaultError::Corrupt(format!("account {id}: {error}")))?;
        let secret = SecretBytes::from_base32(&stored.secret)
            .map_err(|error| VaultError::Corrupt(format!("account {id}: {error}")))?;
        let params =
            stored.params.validated().map_err(|error| VaultError::Corrupt(format!("account {id}: {error}")))?;
        Ok(Account { issuer: stored.issuer, name: stored.name, secret, params })
    }
}

/// Binds a record to its key, so records cannot be swapped between slots undetected.
fn record_aad(id: AccountId) -> [u8; 23] {
    let mut aad = [0u8; 23];
    aad[..15].copy_from_slice(b"nyckel-account/");
    aad[15..].copy_from_slice(&id.to_be_bytes());
    aad
}

fn id_from_key(key: &[u8]) -> Result<AccountId, VaultError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| VaultError::Corrupt("account key is not 8 bytes".into()))?;
    Ok(AccountId::from_be_bytes(bytes))
}

fn open_db(path: &Path) -> Result<sled::Db, VaultError> {
    // A vault closed a moment ago in this process keeps sled's file lock until sled's
    // background flusher thread exits, so a held lock is retried for up to a second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match sled::Config::new().path(path).cache_capacity(8 * 1024 * 1024).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(io))
                if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
            {
                if std::time::Instant::now() >= deadline {
                    return Err(VaultError::Locked(path.to_path_buf()));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error @ sled::Error::Corruption { .. }) => return Err(VaultError::Corrupt(error.to_string())),
            Err(error) => return Err(VaultError::Storage(error)),
        }
    }
}
