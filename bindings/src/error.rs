//! The one public error of the bindings, mapped from every core error in one place.

use nyckel_core::{BackupError, KeyStoreError, MigrationError, UriError, VaultError};

/// Everything that can go wrong, as the apps see it. Each case carries a message fit to log;
/// the case itself says what the UI should do.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum NyckelError {
    /// Input from outside (a URI, a QR payload, a frame) is malformed.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: String,
    },
    /// The key or passphrase does not open the vault or backup.
    #[error("wrong key or passphrase: {reason}")]
    WrongKey {
        /// Details.
        reason: String,
    },
    /// No account with that id.
    #[error("not found: {reason}")]
    NotFound {
        /// Details.
        reason: String,
    },
    /// Stored data does not decrypt or parse: the app should offer a restore from backup.
    #[error("corrupt storage: {reason}")]
    Corrupt {
        /// Details.
        reason: String,
    },
    /// The platform (key store, clock, callback) failed.
    #[error("platform failure: {reason}")]
    Platform {
        /// Details.
        reason: String,
    },
    /// Disk or other storage failure.
    #[error("storage failure: {reason}")]
    Storage {
        /// Details.
        reason: String,
    },
}

impl NyckelError {
    pub(crate) fn invalid(error: impl std::fmt::Display) -> Self {
        NyckelError::InvalidInput { reason: error.to_string() }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for NyckelError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        NyckelError::Platform { reason: error.reason }
    }
}

impl From<UriError> for NyckelError {
    fn from(error: UriError) -> Self {
        NyckelError::invalid(error)
    }
}

impl From<MigrationError> for NyckelError {
    fn from(error: MigrationError) -> Self {
        NyckelError::invalid(error)
    }
}

impl From<KeyStoreError> for NyckelError {
    fn from(error: KeyStoreError) -> Self {
        NyckelError::Platform { reason: error.to_string() }
    }
}

impl From<VaultError> for NyckelError {
    fn from(error: VaultError) -> Self {
        let reason = error.to_string();
        match error {
            VaultError::WrongKey => NyckelError::WrongKey { reason },
            VaultError::NotFound(_) | VaultError::NotInitialized(_) => NyckelError::NotFound { reason },
            VaultError::Corrupt(_) | VaultError::UnsupportedVersion(_) => NyckelError::Corrupt { reason },
            VaultError::KeyStore(inner) => inner.into(),
            VaultError::Backup(BackupError::WrongPassphrase) => NyckelError::WrongKey { reason },
            VaultError::Backup(_)
            | VaultError::Params(_)
            | VaultError::EmptyName
            | VaultError::NotHotp(_)
            | VaultError::CounterExhausted
            | VaultError::AlreadyInitialized(_) => NyckelError::InvalidInput { reason },
            VaultError::Locked(_) | VaultError::Storage(_) | VaultError::Seal(_) => NyckelError::Storage { reason },
        }
    }
}
