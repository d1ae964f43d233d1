//! SMS: E.164 mobile numbers per account (verified by a code), the gateway interface with an
//! HTTP webhook for production and a directory sink for tests and the demo, and the per-account
//! limit on messages sent.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::codes::SendLimit;
use crate::error::PortalError;
use crate::store::{decode, encode, Store};

/// Messages per account within [`SEND_WINDOW`].
pub const MAX_SENDS: usize = 3;
/// The window of the send limit, seconds.
pub const SEND_WINDOW: u64 = 10 * 60;

/// Why a mobile number is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Not `+` followed by digits.
    #[error("a number starts with + and the country code, then digits only")]
    NotE164,
    /// Fewer than 8 or more than 15 digits (E.164 allows at most 15).
    #[error("a number has 8 to 15 digits")]
    Length,
    /// Country code 0 does not exist.
    #[error("no country code starts with 0")]
    CountryCode,
}

/// A validated E.164 number, `+` and 8–15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses what a person typed: spaces, dashes, dots and brackets are dropped; a leading
    /// `00` is read as `+`.
    pub fn parse(typed: &str) -> Result<Self, PhoneError> {
        let compact: String =
            typed.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}')).collect();
        let digits = if let Some(rest) = compact.strip_prefix('+') {
            rest
        } else if let Some(rest) = compact.strip_prefix("00") {
            rest
        } else {
            return Err(PhoneError::NotE164);
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotE164);
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(PhoneError::Length);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::CountryCode);
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The number, `+4670…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the last three digits hidden, for pages.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        let keep = 3.min(n);
        format!("+{}{}", "•".repeat(n.saturating_sub(keep + 1)), &self.0[n - keep..])
    }
}

/// Why an SMS did not go out.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The gateway could not be reached or did not answer in time.
    #[error("SMS gateway unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    /// The gateway answered with an error status.
    #[error("SMS gateway answered HTTP {0}")]
    Status(u16),
    /// The sink directory could not be written.
    #[error("SMS sink {path}: {source}")]
    Sink {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// More than [`MAX_SENDS`] messages within [`SEND_WINDOW`].
    #[error("too many messages; try again later")]
    RateLimited,
    /// The send count or the code could not be kept (the message was not sent).
    #[error("portal store: {0}")]
    Store(String),
}

/// A boxed future, so gateways can be trait objects.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

/// Something that delivers a text message to a number.
pub trait SmsGateway: Send + Sync {
    /// Sends `text` to `to`.
    fn send<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> SendFuture<'a>;
}

/// Production gateway: `POST {url}` with JSON `{"to": "+46…", "text": "…"}` and
/// `Authorization: Bearer <token>`; any 2xx is delivered.
pub struct WebhookGateway {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl WebhookGateway {
    /// A gateway posting to `url` with `token`, giving up after `timeout`.
    pub fn new(url: &str, token: &str, timeout: Duration) -> Result<Self, SmsError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { http, url: url.to_owned(), token: token.trim().to_owned() })
    }
}

impl SmsGateway for WebhookGateway {
    fn send<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let body = serde_json::json!({"to": to.as_str(), "text": text});
            let response = self.http.post(&self.url).bearer_auth(&self.token).json(&body).send().await?;
            if !response.status().is_success() {
                return Err(SmsError::Status(response.status().as_u16()));
            }
            Ok(())
        })
    }
}

/// One message the sink wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkMessage {
    /// The number.
    pub to: String,
    /// The text.
    pub text: String,
}

/// Test and demo gateway: each message is a JSON file `<unix-nanos>-<random>.json` in a directory.
pub struct FileSink {
    dir: PathBuf,
}

impl FileSink {
    /// A sink writing into `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The messages in `dir`, oldest first.
    pub fn read_all(dir: &std::path::Path) -> Vec<SinkMessage> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|f| std::fs::read(f).ok()).filter_map(|b| serde_json::from_slice(&b).ok()).collect()
    }
}

impl SmsGateway for FileSink {
    fn send<'a>(&'a self, to: &'a PhoneNumber, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let path = self.dir.join(format!("{nanos:024}-{:08x}.json", rand::random::<u32>()));
            let message = SinkMessage { to: to.as_str().to_owned(), text: text.to_owned() };
            let write = std::fs::create_dir_all(&self.dir).and_then(|()| std::fs::write(&path, encode(&message)));
            write.map_err(|source| SmsError::Sink { path, source })
        })
    }
}

/// Where SMS go.
#[derive(Debug, Clone)]
pub enum SmsConfig {
    /// Files in a directory (tests, the demo).
    Sink(PathBuf),
    /// An HTTP webhook.
    Webhook {
        /// The URL to POST to.
        url: String,
        /// The bearer token.
        token: String,
        /// Request timeout.
        timeout: Duration,
    },
}

impl SmsConfig {
    /// The gateway this configuration describes.
    pub fn gateway(&self) -> Result<Arc<dyn SmsGateway>, SmsError> {
        Ok(match self {
            SmsConfig::Sink(dir) => Arc::new(FileSink::new(dir.clone())),
            SmsConfig::Webhook { url, token, timeout } => Arc::new(WebhookGateway::new(url, token, *timeout)?),
        })
    }
}

/// An account's mobile numbers: the verified one (the second factor) and a new one waiting for
/// its code. A verified number stays the factor until a new one is verified, so changing the
/// number never leaves the account without its factor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MobileNumber {
    /// Verified by a code: SMS is offered as a second factor to it.
    pub verified: Option<PhoneNumber>,
    /// Added, a code sent, not verified yet.
    pub pending: Option<PhoneNumber>,
}

/// Mobile numbers and the send limit over the store.
#[derive(Clone)]
pub struct Sms {
    numbers: sled::Tree,
    limit: SendLimit,
    gateway: Arc<dyn SmsGateway>,
}

impl Sms {
    /// Numbers in `store`, messages through `gateway`.
    pub fn new(store: &Store, gateway: Arc<dyn SmsGateway>, clock: Arc<dyn Clock>) -> Result<Self, PortalError> {
        Ok(Self {
            numbers: store.tree("sms_numbers")?,
            limit: SendLimit::new(store, "sms_sends", clock, MAX_SENDS, SEND_WINDOW)?,
            gateway,
        })
    }

    /// The account's numbers, if any.
    pub fn number(&self, account: &str) -> Result<Option<MobileNumber>, PortalError> {
        match self.numbers.get(account.as_bytes())? {
            Some(bytes) => Ok(Some(decode("mobile number", &bytes)?)),
            None => Ok(None),
        }
    }

    /// The account's verified number, if any (SMS is a second factor only then).
    pub fn verified_number(&self, account: &str) -> Result<Option<PhoneNumber>, PortalError> {
        Ok(self.number(account)?.and_then(|n| n.verified))
    }

    /// Sets a new number waiting for its code (a verified one stays until then).
    pub fn set_unverified(&self, account: &str, number: &PhoneNumber) -> Result<(), PortalError> {
        let mut record = self.number(account)?.unwrap_or_default();
        record.pending = Some(number.clone());
        self.numbers.insert(account.as_bytes(), encode(&record))?;
        Ok(())
    }

    /// Makes the waiting number `number` the verified one, if it is still the waiting one.
    pub fn mark_verified(&self, account: &str, number: &str) -> Result<bool, PortalError> {
        let Some(mut record) = self.number(account)? else { return Ok(false) };
        if record.pending.as_ref().is_none_or(|p| p.as_str() != number) {
            return Ok(false);
        }
        record.verified = record.pending.take();
        self.numbers.insert(account.as_bytes(), encode(&record))?;
        Ok(true)
    }

    /// Removes the account's numbers (verified and waiting).
    pub fn remove(&self, account: &str) -> Result<(), PortalError> {
        self.numbers.remove(account.as_bytes())?;
        Ok(())
    }

    /// Sends `text` to `to` for `account`, unless the account has sent [`MAX_SENDS`] within
    /// [`SEND_WINDOW`] (counted before sending, so a failing gateway is not a way around it).
    pub async fn send(&self, account: &str, to: &PhoneNumber, text: &str) -> Result<(), SmsError> {
        self.send_with(account, to, async { Ok(text.to_owned()) }).await
    }

    /// [`Sms::send`] with the text made only once the limit allows the message: a refused
    /// request issues no code, so it cannot replace (and void) the last one sent.
    pub async fn send_with(
        &self,
        account: &str,
        to: &PhoneNumber,
        text: impl Future<Output = Result<String, PortalError>>,
    ) -> Result<(), SmsError> {
        if !self.limit.allow(account).await.map_err(|e| SmsError::Store(e.to_string()))? {
            return Err(SmsError::RateLimited);
        }
        let text = text.await.map_err(|e| SmsError::Store(e.to_string()))?;
        self.gateway.send(to, &text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_parsed_and_malformed_ones_refused_by_kind() {
        assert_eq!(PhoneNumber::parse("+46 70-123 45 67").unwrap().as_str(), "+46701234567");
        assert_eq!(PhoneNumber::parse("0045 20 12 34 56").unwrap().as_str(), "+4520123456");
        assert_eq!(PhoneNumber::parse("070-123 45 67"), Err(PhoneError::NotE164));
        assert_eq!(PhoneNumber::parse("+46 70 12a"), Err(PhoneError::NotE164));
        assert_eq!(PhoneNumber::parse("+"), Err(PhoneError::NotE164));
        assert_eq!(PhoneNumber::parse("+4670"), Err(PhoneError::Length));
        assert_eq!(PhoneNumber::parse("+1234567890123456"), Err(PhoneError::Length));
        assert_eq!(PhoneNumber::parse("+0701234567"), Err(PhoneError::CountryCode));
        assert_eq!(PhoneNumber::parse("+46701234567").unwrap().masked(), "+••••••••567");
    }
}
