//! The portal's error type; the HTTP layer turns it into a page or a JSON body in one place.

/// What can go wrong below the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The portal's own store failed.
    #[error("store: {0}")]
    Store(#[from] sled::Error),
    /// A stored record did not decode (a bug or a damaged store).
    #[error("stored record {what} does not decode: {source}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// Password hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// The second-factor server could not be reached or answered in an unexpected way.
    #[error("second-factor server: {0}")]
    Rp(#[from] crate::nyckel::RpError),
    /// An account name or password that the rules refuse.
    #[error("invalid account: {0}")]
    InvalidAccount(&'static str),
    /// No such account.
    #[error("no account named {0:?}")]
    NoAccount(String),
    /// A blocking task panicked or was cancelled.
    #[error("background task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Reading the relying-party key or data directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being read.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// An SMS could not be sent.
    #[error(transparent)]
    Sms(#[from] crate::sms::SmsError),
    /// The portal key file is unusable (wrong length, or the key could not be made).
    #[error("portal key: {0}")]
    KeyFile(String),
    /// A sealed secret in the store did not open (another key file, or a record moved to
    /// another account).
    #[error("sealed secret of {account:?}: {source}")]
    Sealed {
        /// The account whose record it is.
        account: String,
        /// Why.
        source: crate::seal::SealError,
    },
    /// An e-mail could not be sent.
    #[error("e-mail: {0}")]
    Mail(#[from] crate::mail::MailError),
}
