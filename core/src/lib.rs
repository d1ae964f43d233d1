//! Nyckel core: everything the phone app does, in pure Rust with no FFI concerns.
//!
//! - [`otp`]: HOTP/TOTP/Steam codes; [`account`]: an authenticator entry;
//! - [`otpauth`] and [`migration`]: reading what authenticator QR codes carry;
//! - [`import`]: other apps' export files (Aegis, 2FAS, Bitwarden, andOTP…) and Aegis export;
//! - [`vault`]: the encrypted store on sled, its key stores and backups;
//! - [`clock`]: the injectable time source; [`qr`]: the QR scanner (the `nyckel-qr` crate);
//! - [`history`]: the hash-chained history of answers and QR one-time passwords, with receipts;
//! - [`companion`]: the phone side of the companion protocol — [`registration`], [`approvals`],
//!   [`qr_otp`], [`pin_change`], [`biometrics`], [`new_device`] (adding a phone by approval, retiring
//!   devices), over [`device_keys`] and the [`server_api`] client.

pub mod account;
pub mod approvals;
pub mod biometrics;
pub mod clock;
pub mod companion;
pub mod device_keys;
pub mod history;
pub mod import;
pub mod migration;
pub mod new_device;
pub mod otp;
pub mod otpauth;
pub mod pin_change;
pub mod privacyidea;
/// The QR scanner, in its own crate (`nyckel-qr`) since nothing else in the core uses it.
pub use nyckel_qr as qr;
pub mod qr_otp;
pub mod registration;
pub mod secret;
pub mod server_api;
pub mod vault;

pub use account::Account;
pub use approvals::{
    ApprovalError, ApprovalListener, InboxItem, PendingApproval, PinCheck, PollConfig, PollOutcome, PollingHandle,
    Provider, ProviderAnswer, ProviderOutcome, ProviderRequest, ProviderTokenSummary,
};
pub use biometrics::{BiometricError, BiometricKey};
pub use clock::{Clock, FixedClock, SystemClock};
pub use companion::{Companion, CompanionError, CompanionSettings};
pub use device_keys::{DeviceKeyError, DeviceKeyStore, KeyStoreSigner, VaultDeviceKeyStore};
pub use history::{
    AuditDisagreement, History, HistoryCheck, HistoryDecision, HistoryEntry, HistoryFinding, HistoryKind,
    HistoryRecord, HistoryResult, ReceiptStatus,
};
pub use import::{detect as detect_import_format, EntryOutcome, Format as ImportFormat, ImportError, ImportReport};
pub use migration::{parse_migration, MigrationBatch, MigrationCollector, MigrationError};
pub use new_device::{AddPhoneCode, DeviceEnrollmentProgress, DeviceEnrollmentRequest};
pub use otp::{Algorithm, Code, OtpKind, OtpParams, ParamsError};
pub use otpauth::{parse_otpauth, parse_otpauth_bytes, to_otpauth, UriError};
pub use qr_otp::{OtpPrompt, QrOtpError};
pub use registration::{RegistrationError, RegistrationSummary};
pub use secret::{Base32Error, SecretBytes};
pub use server_api::{ServerApiError, ServerClient};
pub use vault::backup::BackupError;
pub use vault::keystore::{KdfParams, KeyReference, KeyStore, KeyStoreError, MemoryKeyStore, PassphraseKeyStore};
pub use vault::origins::TokenOrigin;
pub use vault::provider_tokens::{is_provider_token_id, ProviderToken};
pub use vault::registrations::{BiometricSeal, Registration, RegistrationId};
pub use vault::seal::VaultKey;
pub use vault::{AccountId, AddReport, Vault, VaultEntry, VaultError};
