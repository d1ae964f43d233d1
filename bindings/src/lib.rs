//! Nyckel's UniFFI facade: a thin layer over `nyckel-core` for the Kotlin and Swift apps.
//!
//! - [`app`]: the main object, [`Nyckel`]; [`companion`]: its registrations, approvals and QR OTPs;
//! - [`platform`]: the traits the apps implement (key store, clock, biometric key) and their core adapters;
//! - [`records`]: plain data crossing the boundary;
//! - [`providers`]: privacyIDEA push and tiqr tokens and the one answer API of the inbox;
//! - [`scan`]: QR scanning of camera frames and images;
//! - [`error`]: the one public error, mapped from the core's errors in one place.

uniffi::setup_scaffolding!("nyckel");

pub mod app;
pub mod companion;
pub mod error;
pub mod new_phone;
pub mod platform;
pub mod providers;
pub mod records;
pub mod scan;

pub use app::detect_import_format;
pub use app::Nyckel;
pub use companion::{ApprovalListener, ApprovalSubscription};
pub use error::NyckelError;
pub use new_phone::{AddPhoneCode, NewDeviceInfo, NewPhoneProgress, NewPhoneRequest, UserDevice};
pub use platform::{PlatformBiometricKey, PlatformClock, PlatformKeyStore, StoredVaultKey};
pub use providers::PlatformRsaKeyStore;
pub use records::{
    AccountInfo, AccountOrigin, AnswerResult, ApprovalRequest, ChallengeOutcome, CodeInfo, DeclineReason, DetailLine,
    ImportFormat, ImportOutcome, ImportReport, ImportedEntry, NumberChoice, OtpType, PinCheck, Provider, QrOtpRequest,
    RegistrationInfo, RequestAnswer, TokenInfo,
};
pub use scan::{scan_image, FrameScanner, PayloadType, ScannedCode};
