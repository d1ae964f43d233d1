//! A clock for end-to-end tests of the built binary (`serve --test-clock-offset-file`): system
//! time plus a number of seconds read from a file at every reading, so a browser test can move
//! the portal 20 days ahead without waiting. Never needed in production.

use std::path::PathBuf;

use crate::clock::{Clock, SystemClock};

/// System time plus the offset (whole seconds, decimal) in a file; a missing or unreadable file
/// counts as 0.
#[derive(Debug, Clone)]
pub struct OffsetFileClock {
    path: PathBuf,
}

impl OffsetFileClock {
    /// A clock offset by the number in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl Clock for OffsetFileClock {
    fn now(&self) -> u64 {
        let offset = std::fs::read_to_string(&self.path).ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        SystemClock.now().saturating_add(offset)
    }
}
