//! Nyckel's UniFFI facade: a thin layer over `nyckel-core` for the Kotlin and Swift apps.
//!
//! - [`app`]: the main object, [`Nyckel`]; [`companion`]: its registrations, approvals and QR OTPs;
//! - [`platform`]: the traits the apps implement (key store, clock, biometric key) and their core adapters;
//! - [`records`]: plain data crossing the boundary;
//! - [`scan`]: QR scanning of camera frames and images;
//! - [`error`]: the one public error, mapped from the core's errors in one place.

uniffi::setup_scaffolding!("nyckel");

pub mod app;
pub mod companion;
pub mod error;
pub mod new_phone;
pub mod platform;
pub mod records;
pub mod scan;

pub use app::detect_import_format;
pub use app::Nyckel;
pub use companion::{ApprovalListener, ApprovalSubscription};
pub use error::NyckelError;
pub use new_phone::{AddPhoneCode, NewDeviceInfo, NewPhoneProgress, NewPhoneRequest, UserDevice};
pub use platform::{PlatformBiometricKey, PlatformClock, PlatformKeyStore, StoredVaultKey};
pub use records::{
    AccountInfo, ApprovalRequest, ChallengeOutcome, CodeInfo, DetailLine, ImportFormat, ImportOutcome, ImportReport,
    ImportedEntry, NumberChoice, OtpType, QrOtpRequest, RegistrationInfo,
};
pub use scan::{scan_image, FrameScanner, PayloadType, ScannedCode};
