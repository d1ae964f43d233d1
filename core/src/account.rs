//! An authenticator account: who it is for, its secret and how its codes are made.

use serde::{Deserialize, Serialize};

use crate::otp::{self, Code, OtpKind, OtpParams, ParamsError};
use crate::secret::SecretBytes;

/// One entry of the authenticator: an issuer, an account name, a secret and OTP parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The service, e.g. "ACME"; may be empty when the URI named none.
    pub issuer: String,
    /// The account at that service, e.g. "alice@example.com".
    pub name: String,
    /// The shared secret.
    pub secret: SecretBytes,
    /// How codes are made.
    pub params: OtpParams,
}

impl Account {
    /// "Issuer:name", or just the name when there is no issuer.
    pub fn label(&self) -> String {
        if self.issuer.is_empty() {
            self.name.clone()
        } else {
            format!("{}:{}", self.issuer, self.name)
        }
    }

    /// The code of a time-based account at `unix_seconds`, or of an HOTP account at its
    /// current counter (without moving the counter: the vault does that).
    pub fn code_at(&self, unix_seconds: u64) -> Result<Code, ParamsError> {
        let factor = match self.params.kind {
            OtpKind::Hotp { counter } => counter,
            OtpKind::Totp { .. } | OtpKind::Steam => unix_seconds,
        };
        otp::generate(&self.secret, &self.params, factor)
    }

    /// True when a case-insensitive `query` occurs in the issuer or the name.
    pub fn matches(&self, query: &str) -> bool {
        let query = query.to_lowercase();
        self.issuer.to_lowercase().contains(&query)
            || self.name.to_lowercase().contains(&query)
            || self.label().to_lowercase() == query
    }

    /// True for two entries that would always show the same codes for the same person.
    pub fn same_identity(&self, other: &Account) -> bool {
        self.issuer == other.issuer
            && self.name == other.name
            && self.secret == other.secret
            && std::mem::discriminant(&self.params.kind) == std::mem::discriminant(&other.params.kind)
    }
}

/// The serialised form of an account inside the encrypted vault and backups.
#[derive(Serialize, Deserialize)]
pub(crate) struct StoredAccount {
    pub issuer: String,
    pub name: String,
    /// Base32, so that the JSON holds no raw binary.
    pub secret: zeroize::Zeroizing<String>,
    pub params: OtpParams,
}
