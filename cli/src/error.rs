//! The CLI's error: one clear line for every way a command can fail.

use std::path::PathBuf;

use nyckel_core::{CompanionError, MigrationError, UriError, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Vault(#[from] VaultError),
    #[error("invalid otpauth URI: {0}")]
    Uri(#[from] UriError),
    #[error("invalid Google Authenticator export: {0}")]
    Migration(#[from] MigrationError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Import { path: PathBuf, source: nyckel_core::ImportError },
    #[error("{path}: line {line}: {source}")]
    UriFileLine { path: PathBuf, line: usize, source: UriError },
    #[error("{0}: not an otpauth URI, an export, a file of URIs or a Nyckel backup")]
    UnknownSource(String),
    #[error("no account matches {0:?}")]
    NoMatch(String),
    #[error("{query:?} matches several accounts ({candidates}); give more of the name or the #ID")]
    Ambiguous { query: String, candidates: String },
    #[error("{0}")]
    Passphrase(String),
    #[error("no home directory: set --vault or NYCKEL_VAULT")]
    NoVaultPath,
    #[error("{0} already exists; choose another file")]
    WouldOverwrite(PathBuf),
    #[error("{0}")]
    Companion(#[from] CompanionError),
    #[error("{0}")]
    Pin(String),
    #[error("{path}: {reason}")]
    Scan { path: PathBuf, reason: String },
    #[error("{0}")]
    Input(String),
    #[error("the history check found {0} problem(s)")]
    HistoryDisagrees(usize),
    #[error("cannot start the network runtime: {0}")]
    Runtime(std::io::Error),
}
