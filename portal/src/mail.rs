//! Outgoing e-mail: plain-text messages over SMTP (lettre, tokio, rustls), or — when no SMTP
//! server is configured — written as `.eml` files to an outbox directory, so a demo needs no setup.

use std::path::PathBuf;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// An SMTP URL (`smtp://host:port`, `smtp://host:port?tls=required`, `smtps://user:pass@host`);
    /// `None` writes messages to [`MailConfig::outbox_dir`] instead.
    pub smtp_url: Option<String>,
    /// The sender, e.g. `Nyckel portal <portal@example.org>`.
    pub from: String,
    /// The directory messages are written to when there is no SMTP server.
    pub outbox_dir: PathBuf,
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL does not parse.
    #[error("SMTP URL {url:?}: {source}")]
    Url {
        /// The URL (without its password, if any).
        url: String,
        /// Why.
        source: lettre::transport::smtp::Error,
    },
    /// A sender or recipient that is not an e-mail address.
    #[error("not an e-mail address: {0:?}")]
    Address(String),
    /// The message could not be built.
    #[error("building the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP server refused the message or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// Writing to the outbox failed.
    #[error("writing {path}: {source}")]
    Outbox {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

/// Sends the portal's messages.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

/// Whether `address` is an e-mail address lettre accepts (one `@`, a domain, no display name).
pub fn valid_address(address: &str) -> bool {
    address.len() <= 254 && address.contains('@') && address.parse::<lettre::Address>().is_ok()
}

impl Mailer {
    /// A mailer for `config`; nothing is contacted until the first message.
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let from: Mailbox = config.from.parse().map_err(|_| MailError::Address(config.from.clone()))?;
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|source| MailError::Url { url: redact(url), source })?
                    .build(),
            ),
            None => Transport::Outbox(config.outbox_dir.clone()),
        };
        Ok(Self { transport, from })
    }

    /// Where messages go, for the start-up log line.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "SMTP".to_owned(),
            Transport::Outbox(dir) => format!("files in {}", dir.display()),
        }
    }

    /// Sends a plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Address(to.to_owned()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::Outbox(dir) => {
                let name = format!("{}-{:08x}.eml", now_millis(), rand::random::<u32>());
                let path = dir.join(name);
                let (dir, file, bytes) = (dir.clone(), path.clone(), message.formatted());
                let write = tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir)?;
                    std::fs::write(&file, bytes)
                });
                let written = write.await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
                written.map_err(|source| MailError::Outbox { path: path.clone(), source })?;
                tracing::info!(path = %path.display(), "e-mail written to the outbox (no SMTP server configured)");
            }
        }
        Ok(())
    }
}

fn now_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// `url` without the password of its user part, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_credentials() {
        assert_eq!(super::redact("smtps://u:secret@mail.example:465"), "smtps://…@mail.example:465");
        assert_eq!(super::redact("smtp://127.0.0.1:25"), "smtp://127.0.0.1:25");
    }

    #[test]
    fn addresses() {
        assert!(super::valid_address("alice@example.org"));
        assert!(!super::valid_address("alice"));
        assert!(!super::valid_address("Alice <alice@example.org>"));
    }
}
