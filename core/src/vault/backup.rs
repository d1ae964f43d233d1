//! The encrypted, versioned backup file (format documented in docs/BACKUP.md).
//!
//! ```json
//! {"format":"nyckel-backup","version":1,
//!  "kdf":{"algorithm":"argon2id","memory_kib":65536,"iterations":3,"parallelism":1,"salt":"<base64>"},
//!  "ciphertext":"<base64 of 0x01 ‖ nonce(12) ‖ AES-256-GCM(plaintext) ‖ tag(16)>"}
//! ```
//! The plaintext is `{"accounts":["otpauth://…", …]}`; the AAD is `nyckel-backup/1`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keystore::{KdfParams, KdfSpec, KeyStoreError};
use super::seal::{self, SealError};
use crate::account::Account;
use crate::otpauth::{parse_otpauth, to_otpauth, UriError};

const FORMAT: &str = "nyckel-backup";
const VERSION: u32 = 1;
const AAD: &[u8] = b"nyckel-backup/1";
/// Backups larger than this are refused before parsing.
const MAX_BACKUP_BYTES: usize = 64 * 1024 * 1024;

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Not JSON of the backup format.
    #[error("not a Nyckel backup file: {0}")]
    NotABackup(String),
    /// Written by a newer version.
    #[error("backup format version {0} is not supported")]
    UnsupportedVersion(u32),
    /// The passphrase does not decrypt it (or the file was altered).
    #[error("wrong backup passphrase, or the backup was altered")]
    WrongPassphrase,
    /// Decrypts, but the content is not valid.
    #[error("the backup content is corrupt: {0}")]
    Corrupt(String),
    /// An account inside does not parse.
    #[error("account {index} in the backup: {source}")]
    Account {
        /// Zero-based position.
        index: usize,
        /// What is wrong.
        source: UriError,
    },
    /// The KDF description is unusable.
    #[error(transparent)]
    Kdf(#[from] KeyStoreError),
    /// Encryption failed.
    #[error(transparent)]
    Seal(#[from] SealError),
}

#[derive(Serialize, Deserialize)]
struct BackupFile {
    format: String,
    version: u32,
    kdf: KdfSpec,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct BackupContent {
    accounts: Vec<Zeroizing<String>>,
}

/// Seals `accounts` under `passphrase`.
pub fn write_backup(accounts: &[Account], passphrase: &str, params: KdfParams) -> Result<Vec<u8>, BackupError> {
    let spec = KdfSpec::generate(params)?;
    let key = spec.derive(passphrase)?;
    let content =
        BackupContent { accounts: accounts.iter().map(|account| Zeroizing::new(to_otpauth(account))).collect() };
    let plain = Zeroizing::new(serde_json::to_vec(&content).map_err(|error| BackupError::Corrupt(error.to_string()))?);
    let sealed = seal::seal(&key, &plain, AAD)?;
    let file = BackupFile { format: FORMAT.into(), version: VERSION, kdf: spec, ciphertext: STANDARD.encode(sealed) };
    let mut bytes = serde_json::to_vec_pretty(&file).map_err(|error| BackupError::Corrupt(error.to_string()))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Opens a backup written by [`write_backup`].
pub fn read_backup(bytes: &[u8], passphrase: &str) -> Result<Vec<Account>, BackupError> {
    if bytes.len() > MAX_BACKUP_BYTES {
        return Err(BackupError::NotABackup("file too large".into()));
    }
    let file: BackupFile = serde_json::from_slice(bytes).map_err(|error| BackupError::NotABackup(error.to_string()))?;
    if file.format != FORMAT {
        return Err(BackupError::NotABackup(format!("format is {:?}", file.format)));
    }
    if file.version != VERSION {
        return Err(BackupError::UnsupportedVersion(file.version));
    }
    let sealed =
        STANDARD.decode(&file.ciphertext).map_err(|_| BackupError::NotABackup("ciphertext is not base64".into()))?;
    let key = file.kdf.derive(passphrase)?;
    let plain = seal::open(&key, &sealed, AAD).map_err(|error| match error {
        SealError::Authentication => BackupError::WrongPassphrase,
        other => BackupError::Corrupt(other.to_string()),
    })?;
    let content: BackupContent =
        serde_json::from_slice(&plain).map_err(|error| BackupError::Corrupt(error.to_string()))?;
    content
        .accounts
        .iter()
        .enumerate()
        .map(|(index, uri)| parse_otpauth(uri).map_err(|source| BackupError::Account { index, source }))
        .collect()
}
