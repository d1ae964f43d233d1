//! Nyckel core: everything the phone app does, in pure Rust with no FFI concerns.
//!
//! - [`otp`]: HOTP/TOTP/Steam codes; [`account`]: an authenticator entry;
//! - [`otpauth`] and [`migration`]: reading what authenticator QR codes carry;
//! - [`vault`]: the encrypted store on sled, its key stores and backups;
//! - [`clock`]: the injectable time source.

pub mod account;
pub mod clock;
pub mod migration;
pub mod otp;
pub mod otpauth;
pub mod secret;
pub mod vault;

pub use account::Account;
pub use clock::{Clock, FixedClock, SystemClock};
pub use migration::{parse_migration, MigrationBatch, MigrationCollector, MigrationError};
pub use otp::{Algorithm, Code, OtpKind, OtpParams, ParamsError};
pub use otpauth::{parse_otpauth, parse_otpauth_bytes, to_otpauth, UriError};
pub use secret::{Base32Error, SecretBytes};
pub use vault::backup::BackupError;
pub use vault::keystore::{KdfParams, KeyReference, KeyStore, KeyStoreError, MemoryKeyStore, PassphraseKeyStore};
pub use vault::seal::VaultKey;
pub use vault::{AccountId, AddReport, Vault, VaultEntry, VaultError};
