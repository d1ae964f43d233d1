//! Plain data that crosses the FFI boundary.

use nyckel_core::{Account, AddReport, Code, OtpKind, VaultEntry};

/// How an account's codes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OtpType {
    /// Time-based.
    Totp,
    /// Counter-based.
    Hotp,
    /// Steam Guard.
    Steam,
}

/// An account as the UI lists it (no secret).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountInfo {
    /// The vault's id of the account.
    pub id: u64,
    /// The service, may be empty.
    pub issuer: String,
    /// The account name at the service.
    pub name: String,
    /// TOTP, HOTP or Steam.
    pub otp_type: OtpType,
    /// "SHA1", "SHA256" or "SHA512".
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// Seconds per code (TOTP/Steam), 0 for HOTP.
    pub period: u64,
    /// The next HOTP counter, 0 for time-based accounts.
    pub counter: u64,
}

/// A code to show.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CodeInfo {
    /// The account it belongs to.
    pub account: AccountInfo,
    /// The code, or empty for an HOTP account in a list of current codes.
    pub code: String,
    /// Seconds the code stays valid; 0 for HOTP.
    pub seconds_left: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    /// Accounts added.
    pub added: u64,
    /// Accounts skipped because they were already present.
    pub duplicates: u64,
    /// Zero-based indexes of the QR codes of an export that were not given.
    pub missing_batches: Vec<u32>,
}

impl AccountInfo {
    pub(crate) fn from_entry(entry: &VaultEntry) -> Self {
        Self::new(entry.id, &entry.account)
    }

    pub(crate) fn new(id: u64, account: &Account) -> Self {
        let (otp_type, period, counter) = match account.params.kind {
            OtpKind::Totp { period } => (OtpType::Totp, period, 0),
            OtpKind::Hotp { counter } => (OtpType::Hotp, 0, counter),
            OtpKind::Steam => (OtpType::Steam, account.params.period().unwrap_or_default(), 0),
        };
        AccountInfo {
            id,
            issuer: account.issuer.clone(),
            name: account.name.clone(),
            otp_type,
            algorithm: account.params.algorithm.as_uri_name().to_string(),
            digits: account.params.digits,
            period,
            counter,
        }
    }
}

impl CodeInfo {
    pub(crate) fn new(account: AccountInfo, code: Option<Code>) -> Self {
        match code {
            Some(code) => CodeInfo { account, seconds_left: code.seconds_left.unwrap_or_default(), code: code.code },
            None => CodeInfo { account, code: String::new(), seconds_left: 0 },
        }
    }
}

impl ImportReport {
    pub(crate) fn new(report: AddReport, missing_batches: Vec<u32>) -> Self {
        ImportReport { added: report.added.len() as u64, duplicates: report.duplicates as u64, missing_batches }
    }
}
