//! Outgoing e-mail as a sink trait: contact-address verification codes go through it. The file
//! implementation (one JSON file per message in a directory) is what tests and the demo read;
//! an SMTP implementation plugs in behind the same trait.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// Why a message did not go out.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The directory could not be written.
    #[error("outbox {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another transport (e.g. SMTP) failed.
    #[error("mail transport: {0}")]
    Transport(String),
}

/// One message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// A boxed future, so outboxes can be trait objects.
pub type OutboxFuture<'a> = Pin<Box<dyn Future<Output = Result<(), OutboxError>> + Send + 'a>>;

/// Something that delivers an e-mail.
pub trait Outbox: Send + Sync {
    /// Sends `message`.
    fn send<'a>(&'a self, message: &'a OutboxMessage) -> OutboxFuture<'a>;
}

/// Writes each message as `<unix-nanos>-<random>.json` into a directory.
pub struct FileOutbox {
    dir: PathBuf,
}

impl FileOutbox {
    /// An outbox writing into `dir` (created when missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The messages in `dir`, oldest first.
    pub fn read_all(dir: &Path) -> Vec<OutboxMessage> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|f| std::fs::read(f).ok()).filter_map(|b| serde_json::from_slice(&b).ok()).collect()
    }
}

impl Outbox for FileOutbox {
    fn send<'a>(&'a self, message: &'a OutboxMessage) -> OutboxFuture<'a> {
        Box::pin(async move {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let path = self.dir.join(format!("{nanos:024}-{:08x}.json", rand::random::<u32>()));
            let bytes = crate::store::encode(message);
            std::fs::create_dir_all(&self.dir)
                .and_then(|()| std::fs::write(&path, bytes))
                .map_err(|source| OutboxError::Io { path, source })
        })
    }
}
