//! The one public error of the bindings, mapped from every core error in one place.

use nyckel_core::approvals::ApprovalError;
use nyckel_core::biometrics::BiometricError;
use nyckel_core::companion::CompanionError;
use nyckel_core::privacyidea::{PinGateError, PushError, TiqrError};
use nyckel_core::qr_otp::QrOtpError;
use nyckel_core::{
    BackupError, ImportError, KeyStoreError, MigrationError, RegistrationError, ServerApiError, UriError, VaultError,
};

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
    /// The server says the PIN was wrong: an approval request stays open for another try, a
    /// PIN change stored nothing.
    #[error("wrong PIN: {attempts_left} attempts left before this device is blocked")]
    WrongPin {
        /// Attempts left.
        attempts_left: u32,
    },
    /// Too many wrong PINs: the server blocked this device (register again, or ask an administrator).
    #[error("device blocked: {reason}")]
    DeviceBlocked {
        /// Details.
        reason: String,
    },
    /// The number picked is not the one the browser shows; the request was denied.
    #[error("number mismatch: {reason}")]
    NumberMismatch {
        /// Details.
        reason: String,
    },
    /// The request was already answered, expired, or is not pending on this phone.
    #[error("request closed: {reason}")]
    RequestClosed {
        /// Details.
        reason: String,
    },
    /// The server could not be reached; try again later.
    #[error("network: {reason}")]
    Network {
        /// Details.
        reason: String,
    },
    /// The server refused, or sent something that failed the phone's checks.
    #[error("refused: {reason}")]
    Refused {
        /// Details.
        reason: String,
    },
    /// Disk or other storage failure.
    #[error("storage failure: {reason}")]
    Storage {
        /// Details.
        reason: String,
    },
    /// The phone's clock is off by more than the phone corrects on its own (15 minutes).
    #[error("the phone's clock is off by {seconds} seconds")]
    ClockOff {
        /// Server time minus phone time, seconds (positive: the phone is behind).
        seconds: i64,
    },
    /// The user dismissed the biometric prompt: nothing changed; offer the PIN. (Thrown by a
    /// [`crate::PlatformBiometricKey`] for the same case.)
    #[error("biometric prompt cancelled: {reason}")]
    BiometricCancelled {
        /// Details.
        reason: String,
    },
    /// Biometrics are locked after too many failed attempts: use the PIN.
    #[error("biometrics locked: {reason}")]
    BiometricLockout {
        /// Details.
        reason: String,
    },
    /// The biometric key was invalidated (biometrics were added or removed) or the sealed secret
    /// did not authenticate: biometrics are now off for this registration. Use the PIN; the
    /// user may enable biometrics again. (A platform implementation throws it when its key is
    /// permanently invalidated; `Corrupt` when a ciphertext does not authenticate.)
    #[error("biometrics invalidated: {reason}")]
    BiometricInvalidated {
        /// Details.
        reason: String,
    },
    /// No biometric hardware, nothing enrolled, no biometric key set, or biometrics not enabled
    /// for this registration: use the PIN.
    #[error("biometrics unavailable: {reason}")]
    BiometricUnavailable {
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
            // An encrypted export given without a passphrase is WrongKey too: ask for one and retry.
            VaultError::Import(ImportError::WrongPassphrase(_) | ImportError::PassphraseRequired(_)) => {
                NyckelError::WrongKey { reason }
            }
            VaultError::Import(ImportError::Crypto) => NyckelError::Platform { reason },
            VaultError::Import(_) => NyckelError::InvalidInput { reason },
            VaultError::Backup(_)
            | VaultError::Params(_)
            | VaultError::EmptyName
            | VaultError::NotHotp(_)
            | VaultError::CounterExhausted
            | VaultError::AlreadyInitialized(_)
            | VaultError::DuplicateToken(_) => NyckelError::InvalidInput { reason },
            VaultError::Locked(_) | VaultError::Storage(_) | VaultError::Seal(_) => NyckelError::Storage { reason },
        }
    }
}

impl From<CompanionError> for NyckelError {
    fn from(error: CompanionError) -> Self {
        let reason = error.to_string();
        match error {
            CompanionError::Vault(inner) => inner.into(),
            CompanionError::DeviceKey(_) | CompanionError::NoRuntime => NyckelError::Platform { reason },
            CompanionError::Server(ServerApiError::Network { .. }) => NyckelError::Network { reason },
            CompanionError::Server(_) => NyckelError::Refused { reason },
            CompanionError::Registration(RegistrationError::Receipt(_)) => NyckelError::Refused { reason },
            CompanionError::Registration(RegistrationError::Random | RegistrationError::Agreement(_)) => {
                NyckelError::Platform { reason }
            }
            CompanionError::ClockOff { seconds } => NyckelError::ClockOff { seconds },
            CompanionError::Rekey(_) | CompanionError::KeyRotation(_) => NyckelError::Refused { reason },
            CompanionError::Registration(RegistrationError::Denied) => NyckelError::Refused { reason },
            CompanionError::Registration(RegistrationError::ApprovalExpired) => NyckelError::RequestClosed { reason },
            CompanionError::Registration(RegistrationError::UnknownEnrollment(_)) => NyckelError::NotFound { reason },
            CompanionError::Registration(_) | CompanionError::Pin(_) => NyckelError::InvalidInput { reason },
            CompanionError::Approval(ApprovalError::WrongPin { attempts_left }) => {
                NyckelError::WrongPin { attempts_left }
            }
            CompanionError::Approval(ApprovalError::DeviceBlocked) => NyckelError::DeviceBlocked { reason },
            CompanionError::Approval(ApprovalError::NumberMismatch) => NyckelError::NumberMismatch { reason },
            CompanionError::Approval(
                ApprovalError::AlreadyAnswered | ApprovalError::Expired | ApprovalError::UnknownChallenge { .. },
            ) => NyckelError::RequestClosed { reason },
            CompanionError::Approval(ApprovalError::Rejected(_)) => NyckelError::Refused { reason },
            CompanionError::Approval(_) => NyckelError::InvalidInput { reason },
            CompanionError::QrOtp(QrOtpError::NoRegistration { .. }) | CompanionError::UnknownRegistration(_) => {
                NyckelError::NotFound { reason }
            }
            CompanionError::QrOtp(_) => NyckelError::InvalidInput { reason },
            CompanionError::Biometric(inner) => inner.into(),
            CompanionError::Push(inner) => inner.into(),
            CompanionError::Tiqr(TiqrError::Transport(inner)) => inner.into(),
            CompanionError::Tiqr(TiqrError::WrongResponse { attempts_left }) => NyckelError::WrongPin { attempts_left },
            CompanionError::Tiqr(TiqrError::InvalidChallenge) => NyckelError::RequestClosed { reason },
            CompanionError::Tiqr(TiqrError::BadCode { .. } | TiqrError::UnsupportedSuite { .. }) => {
                NyckelError::InvalidInput { reason }
            }
            CompanionError::Tiqr(TiqrError::OtherAccount { .. }) => NyckelError::NotFound { reason },
            CompanionError::Tiqr(TiqrError::Unexpected(_)) => NyckelError::Refused { reason },
            CompanionError::Tiqr(TiqrError::Kdf(_)) => NyckelError::Platform { reason },
            CompanionError::UnknownToken(_) => NyckelError::NotFound { reason },
        }
    }
}

/// privacyIDEA push errors. The app PIN is a local gate: its wrong PIN is `WrongPin` with the
/// attempts left on this phone, its lock `DeviceBlocked` (the reason says it is the app PIN).
impl From<PushError> for NyckelError {
    fn from(error: PushError) -> Self {
        let reason = error.to_string();
        match error {
            PushError::BadCode { .. } | PushError::TooLarge { .. } | PushError::Presence { .. } => {
                NyckelError::InvalidInput { reason }
            }
            PushError::PinRequired | PushError::Pin(PinGateError::TooShort) => NyckelError::InvalidInput { reason },
            PushError::Pin(PinGateError::WrongPin { attempts_left }) => NyckelError::WrongPin { attempts_left },
            PushError::Pin(PinGateError::Locked) => NyckelError::DeviceBlocked { reason },
            PushError::Pin(PinGateError::Hash(_)) | PushError::Key(_) => NyckelError::Platform { reason },
            PushError::Network { .. } => NyckelError::Network { reason },
            PushError::Server { .. }
            | PushError::BadResponse { .. }
            | PushError::BadSignature { .. }
            | PushError::WrongSerial { .. }
            | PushError::WrongUrl { .. } => NyckelError::Refused { reason },
            PushError::Expired { .. }
            | PushError::AlreadyAnswered { .. }
            | PushError::UnknownChallenge { .. }
            | PushError::AnswerRejected => NyckelError::RequestClosed { reason },
        }
    }
}

impl From<BiometricError> for NyckelError {
    fn from(error: BiometricError) -> Self {
        let reason = error.to_string();
        match error {
            BiometricError::Cancelled => NyckelError::BiometricCancelled { reason },
            BiometricError::Lockout => NyckelError::BiometricLockout { reason },
            BiometricError::KeyInvalidated | BiometricError::Tampered => NyckelError::BiometricInvalidated { reason },
            BiometricError::NotAvailable { .. } | BiometricError::NotEnabled => {
                NyckelError::BiometricUnavailable { reason }
            }
            BiometricError::PinChanged => NyckelError::InvalidInput { reason },
            BiometricError::Failed { .. } => NyckelError::Platform { reason },
        }
    }
}

/// What a platform biometric key threw, as the core's typed error: the biometric cases keep
/// their meaning, `Corrupt` is a ciphertext that did not authenticate, anything else a failure.
impl From<NyckelError> for BiometricError {
    fn from(error: NyckelError) -> Self {
        match error {
            NyckelError::BiometricCancelled { .. } => BiometricError::Cancelled,
            NyckelError::BiometricLockout { .. } => BiometricError::Lockout,
            NyckelError::BiometricInvalidated { .. } => BiometricError::KeyInvalidated,
            NyckelError::BiometricUnavailable { reason } => BiometricError::NotAvailable { reason },
            NyckelError::Corrupt { .. } => BiometricError::Tampered,
            other => BiometricError::Failed { reason: other.to_string() },
        }
    }
}
