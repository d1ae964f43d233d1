//! The main object the apps hold: an open vault with the platform's key store and clock.

use std::path::PathBuf;
use std::sync::Arc;

use nyckel_core::{parse_migration, parse_otpauth, Clock, KdfParams, MigrationCollector, OtpKind, Vault};

use crate::error::NyckelError;
use crate::platform::{ForeignClock, ForeignKeyStore, PlatformClock, PlatformKeyStore};
use crate::records::{AccountInfo, CodeInfo, ImportReport};

/// Nyckel on a phone: accounts and codes (registrations and approvals join with the protocol).
#[derive(uniffi::Object)]
pub struct Nyckel {
    vault: Vault,
    clock: ForeignClock,
}

#[uniffi::export]
impl Nyckel {
    /// Opens the vault in `directory`, creating it on first use with a key from `key_store`.
    #[uniffi::constructor]
    pub fn open(
        directory: String,
        key_store: Arc<dyn PlatformKeyStore>,
        clock: Arc<dyn PlatformClock>,
    ) -> Result<Arc<Self>, NyckelError> {
        let path = PathBuf::from(directory);
        let key_store = ForeignKeyStore(key_store);
        let vault =
            if Vault::exists(&path) { Vault::open(&path, &key_store)? } else { Vault::create(&path, &key_store)? };
        Ok(Arc::new(Nyckel { vault, clock: ForeignClock(clock) }))
    }

    /// Every account, in the order added.
    pub fn accounts(&self) -> Result<Vec<AccountInfo>, NyckelError> {
        Ok(self.vault.list()?.iter().map(AccountInfo::from_entry).collect())
    }

    /// Adds the account of an `otpauth://` URI (typed or scanned).
    pub fn add_account(&self, uri: String) -> Result<AccountInfo, NyckelError> {
        let account = parse_otpauth(&uri)?;
        let id = self.vault.add(account.clone())?;
        Ok(AccountInfo::new(id, &account))
    }

    /// Imports the QR codes of a Google Authenticator export, all or nothing.
    pub fn import_migration(&self, uris: Vec<String>) -> Result<ImportReport, NyckelError> {
        let mut collector = MigrationCollector::default();
        for uri in &uris {
            collector.add(parse_migration(uri)?);
        }
        let missing = collector.missing().into_iter().flat_map(|(_, indexes)| indexes).collect();
        let report = self.vault.add_all(collector.into_accounts())?;
        Ok(ImportReport::new(report, missing))
    }

    /// The current code of every time-based account with its seconds left; HOTP accounts are
    /// listed with an empty code (their counter moves only through [`Nyckel::next_hotp_code`]).
    pub fn current_codes(&self) -> Result<Vec<CodeInfo>, NyckelError> {
        let now = self.clock.now_unix();
        self.vault
            .list()?
            .iter()
            .map(|entry| {
                let info = AccountInfo::from_entry(entry);
                let code = match entry.account.params.kind {
                    OtpKind::Hotp { .. } => None,
                    OtpKind::Totp { .. } | OtpKind::Steam => {
                        Some(entry.account.code_at(now).map_err(NyckelError::invalid)?)
                    }
                };
                Ok(CodeInfo::new(info, code))
            })
            .collect()
    }

    /// The next code of an HOTP account; its counter is advanced on disk first.
    pub fn next_hotp_code(&self, id: u64) -> Result<CodeInfo, NyckelError> {
        let code = self.vault.next_hotp_code(id)?;
        let account = self.vault.get(id)?;
        Ok(CodeInfo::new(AccountInfo::new(id, &account), Some(code)))
    }

    /// Renames an account.
    pub fn rename_account(&self, id: u64, issuer: String, name: String) -> Result<(), NyckelError> {
        Ok(self.vault.rename(id, &issuer, &name)?)
    }

    /// Deletes an account.
    pub fn delete_account(&self, id: u64) -> Result<(), NyckelError> {
        Ok(self.vault.delete(id)?)
    }

    /// An encrypted backup of every account (format: docs/BACKUP.md).
    pub fn export_backup(&self, passphrase: String) -> Result<Vec<u8>, NyckelError> {
        let passphrase = zeroize::Zeroizing::new(passphrase);
        Ok(self.vault.export_backup(&passphrase, KdfParams::RECOMMENDED)?)
    }

    /// Adds the accounts of a backup, skipping those present; all or nothing.
    pub fn import_backup(&self, backup: Vec<u8>, passphrase: String) -> Result<ImportReport, NyckelError> {
        let passphrase = zeroize::Zeroizing::new(passphrase);
        Ok(ImportReport::new(self.vault.import_backup(&backup, &passphrase)?, Vec::new()))
    }
}
