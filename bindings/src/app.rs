//! The main object the apps hold: an open vault with the platform's key store and clock,
//! the companion (registrations, approvals) on it, and a small tokio runtime for the network.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use nyckel_core::companion::{Companion, CompanionError, CompanionSettings};
use nyckel_core::{parse_migration, parse_otpauth, Clock, KdfParams, MigrationCollector, OtpKind, Vault};

use crate::error::NyckelError;
use crate::platform::{ForeignClock, ForeignKeyStore, PlatformClock, PlatformKeyStore};
use crate::records::{AccountInfo, CodeInfo, ImportFormat, ImportReport, ImportedEntry};

/// Nyckel on a phone: TOTP/HOTP accounts, registrations with Nyckel servers, push approvals
/// and QR one-time passwords, all in one encrypted vault.
#[derive(uniffi::Object)]
pub struct Nyckel {
    pub(crate) companion: Arc<Companion>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Network work runs here, so callers on any thread (or none of tokio's) can await it.
    /// Always `Some` until drop, which shuts it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Nyckel {
    fn drop(&mut self) {
        // Dropping a runtime blocks on its workers, which panics if the last reference goes
        // away on an async thread; shutting down in the background never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Nyckel {
    pub(crate) fn runtime(&self) -> Result<&tokio::runtime::Runtime, NyckelError> {
        self.runtime.as_ref().ok_or_else(|| NyckelError::Platform { reason: "Nyckel is shutting down".into() })
    }

    fn vault(&self) -> &Vault {
        self.companion.vault()
    }

    /// Runs a core future on the owned runtime and maps its error once.
    pub(crate) async fn run<T, F>(&self, future: F) -> Result<T, NyckelError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, CompanionError>> + Send + 'static,
    {
        match self.runtime()?.spawn(future).await {
            Ok(result) => result.map_err(NyckelError::from),
            Err(error) => Err(NyckelError::Platform { reason: format!("background task failed: {error}") }),
        }
    }
}

#[uniffi::export]
impl Nyckel {
    /// Opens the vault in `directory`, creating it on first use with a key from `key_store`.
    /// `platform` names the device at enrollment, e.g. "Android 15" or "iOS 18".
    #[uniffi::constructor]
    pub fn open(
        directory: String,
        key_store: Arc<dyn PlatformKeyStore>,
        clock: Arc<dyn PlatformClock>,
        platform: String,
    ) -> Result<Arc<Self>, NyckelError> {
        let path = PathBuf::from(directory);
        let keys = Arc::new(ForeignKeyStore(key_store));
        let vault = Vault::open_or_create(&path, keys.as_ref())?;
        let clock: Arc<dyn Clock> = Arc::new(ForeignClock(clock));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nyckel")
            .enable_all()
            .build()
            .map_err(|error| NyckelError::Platform { reason: format!("cannot start the runtime: {error}") })?;
        let companion = Companion::new(Arc::new(vault), keys, clock.clone(), CompanionSettings::new(platform))?;
        Ok(Arc::new(Nyckel { companion: Arc::new(companion), clock, runtime: Some(runtime) }))
    }

    /// Every account, in the order added.
    pub fn accounts(&self) -> Result<Vec<AccountInfo>, NyckelError> {
        Ok(self.vault().list()?.iter().map(AccountInfo::from_entry).collect())
    }

    /// Adds the account of an `otpauth://` URI (typed or scanned). A URI enrolled by
    /// privacyIDEA keeps its `serial` and `creator` beside the account ([`Nyckel::account_origin`]).
    pub fn add_account(&self, uri: String) -> Result<AccountInfo, NyckelError> {
        let account = parse_otpauth(&uri)?;
        let origin = nyckel_core::TokenOrigin::from_otpauth(&uri);
        let id = self.vault().add_with_origin(account.clone(), origin.as_ref())?;
        Ok(AccountInfo::new(id, &account))
    }

    /// Imports the QR codes of a Google Authenticator export, all or nothing.
    pub fn import_migration(&self, uris: Vec<String>) -> Result<ImportReport, NyckelError> {
        let mut collector = MigrationCollector::default();
        for uri in &uris {
            collector.add(parse_migration(uri)?);
        }
        let missing = collector.missing().into_iter().flat_map(|(_, indexes)| indexes).collect();
        let report = self.vault().add_all(collector.into_accounts())?;
        Ok(ImportReport::new(report, missing))
    }

    /// The current code of every time-based account with its seconds left; HOTP accounts are
    /// listed with an empty code (their counter moves only through [`Nyckel::next_hotp_code`]).
    pub fn current_codes(&self) -> Result<Vec<CodeInfo>, NyckelError> {
        let now = self.clock.now_unix();
        self.vault()
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
        let code = self.vault().next_hotp_code(id)?;
        let account = self.vault().get(id)?;
        Ok(CodeInfo::new(AccountInfo::new(id, &account), Some(code)))
    }

    /// Renames an account.
    pub fn rename_account(&self, id: u64, issuer: String, name: String) -> Result<(), NyckelError> {
        Ok(self.vault().rename(id, &issuer, &name)?)
    }

    /// Deletes an account.
    pub fn delete_account(&self, id: u64) -> Result<(), NyckelError> {
        Ok(self.vault().delete(id)?)
    }

    /// An encrypted backup of every account (format: docs/BACKUP.md).
    pub fn export_backup(&self, passphrase: String) -> Result<Vec<u8>, NyckelError> {
        let passphrase = zeroize::Zeroizing::new(passphrase);
        Ok(self.vault().export_backup(&passphrase, KdfParams::RECOMMENDED)?)
    }

    /// Imports another app's export file (`format`, or detected): one result per entry, the
    /// good ones added (none of them when `all_or_nothing` and an entry is refused). An
    /// encrypted file without `passphrase` fails with `WrongKey`: ask for one and call again.
    pub fn import_file(
        &self,
        bytes: Vec<u8>,
        format: Option<ImportFormat>,
        passphrase: Option<String>,
        all_or_nothing: bool,
    ) -> Result<Vec<ImportedEntry>, NyckelError> {
        let passphrase = passphrase.map(zeroize::Zeroizing::new);
        let report = self.vault().import_file(
            &bytes,
            format.map(Into::into),
            passphrase.as_deref().map(String::as_str),
            all_or_nothing,
        )?;
        Ok(report.entries.iter().map(ImportedEntry::from_core).collect())
    }

    /// Every account as an Aegis vault file: encrypted under `passphrase` (as Aegis does, scrypt
    /// and AES-256-GCM), or plain with the secrets in clear when it is `None`.
    pub fn export_aegis(&self, passphrase: Option<String>) -> Result<Vec<u8>, NyckelError> {
        let passphrase = passphrase.map(zeroize::Zeroizing::new);
        Ok(self.vault().export_aegis(passphrase.as_deref().map(String::as_str))?)
    }

    /// Adds the accounts of a backup, skipping those present; all or nothing.
    pub fn import_backup(&self, backup: Vec<u8>, passphrase: String) -> Result<ImportReport, NyckelError> {
        let passphrase = zeroize::Zeroizing::new(passphrase);
        Ok(ImportReport::new(self.vault().import_backup(&backup, &passphrase)?, Vec::new()))
    }
}

/// The format of another app's export file, or `None` when it is none Nyckel reads.
#[uniffi::export]
pub fn detect_import_format(bytes: Vec<u8>) -> Option<ImportFormat> {
    nyckel_core::detect_import_format(&bytes).map(Into::into)
}
