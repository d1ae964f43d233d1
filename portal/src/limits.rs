//! Rate limit of password and code entry per browser address, on top of the per-account block:
//! it slows one address guessing across many accounts, which the per-account count does not see.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::MonotonicClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::Quota;

type Keyed = governor::RateLimiter<
    IpAddr,
    HashMapStateStore<IpAddr>,
    MonotonicClock,
    NoOpMiddleware<<MonotonicClock as governor::clock::Clock>::Instant>,
>;

/// Checks between sweeps of refilled buckets.
const SWEEP_EVERY: u64 = 1024;

/// Attempts per minute per address (a burst of that many, refilled evenly over the minute).
pub struct AttemptLimiter {
    limiter: Keyed,
    checks: AtomicU64,
}

impl AttemptLimiter {
    /// `per_minute` attempts per address; `None` for zero (no limit).
    pub fn new(per_minute: u32) -> Option<Self> {
        let per_minute = NonZeroU32::new(per_minute)?;
        let limiter =
            governor::RateLimiter::new(Quota::per_minute(per_minute), HashMapStateStore::default(), MonotonicClock);
        Some(Self { limiter, checks: AtomicU64::new(0) })
    }

    /// Whether one more attempt from `ip` is allowed now (and counts it).
    pub fn allow(&self, ip: IpAddr) -> bool {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&ip).is_ok()
    }
}
