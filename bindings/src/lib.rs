//! Nyckel's UniFFI facade: a thin layer over `nyckel-core` for the Kotlin and Swift apps.
//!
//! - [`app`]: the main object, [`Nyckel`];
//! - [`platform`]: the traits the apps implement (key store, clock) and their core adapters;
//! - [`records`]: plain data crossing the boundary;
//! - [`error`]: the one public error, mapped from the core's errors in one place.

uniffi::setup_scaffolding!("nyckel");

pub mod app;
pub mod error;
pub mod platform;
pub mod records;

pub use app::Nyckel;
pub use error::NyckelError;
pub use platform::{PlatformClock, PlatformKeyStore, StoredVaultKey};
pub use records::{AccountInfo, CodeInfo, ImportReport, OtpType};
