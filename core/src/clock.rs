//! The time source for codes, injectable so that UIs and tests can fix the moment.

use std::time::{SystemTime, UNIX_EPOCH};

/// Gives the current Unix time in seconds.
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now_unix(&self) -> u64;
}

/// The operating system's clock. A clock set before 1970 reads as 0 rather than failing.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0)
    }
}

/// A clock stopped at one moment.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0
    }
}
