//! Operational counters and the delivery-latency histogram, rendered in Prometheus' text format.
//!
//! Plain atomics rather than a metrics crate: a handful of series, updated on the request
//! path without locks, and no tenant, user or device in any label (the scrape endpoint is
//! not authenticated; it must not leak who uses the service).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nyckel_protocol::ChallengeState;

/// Upper bounds of the delivery-latency buckets, milliseconds.
const LATENCY_BUCKETS_MS: [u64; 10] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000];

/// The final states a challenge is counted under.
const FINAL_STATES: [(ChallengeState, &str); 5] = [
    (ChallengeState::Approved, "approved"),
    (ChallengeState::Denied, "denied"),
    (ChallengeState::Fraud, "fraud"),
    (ChallengeState::Expired, "expired"),
    (ChallengeState::Blocked, "blocked"),
];

/// Every series the server exports.
#[derive(Default)]
pub struct Metrics {
    open_long_polls: AtomicU64,
    push_created: AtomicU64,
    qr_created: AtomicU64,
    decided: [AtomicU64; 5],
    pin_failures: AtomicU64,
    devices_blocked: AtomicU64,
    latency_buckets: [AtomicU64; 10],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

/// Counts one open long poll for as long as it lives.
pub struct LongPollGuard<'a>(&'a Metrics);

impl Drop for LongPollGuard<'_> {
    fn drop(&mut self) {
        self.0.open_long_polls.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A long poll starts; it is counted until the guard drops.
    pub fn long_poll(&self) -> LongPollGuard<'_> {
        self.open_long_polls.fetch_add(1, Ordering::Relaxed);
        LongPollGuard(self)
    }

    /// A challenge was created (`push` or a QR code).
    pub fn challenge_created(&self, push: bool) {
        let counter = if push { &self.push_created } else { &self.qr_created };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A challenge reached a final state.
    pub fn challenge_decided(&self, state: ChallengeState) {
        if let Some(i) = FINAL_STATES.iter().position(|(s, _)| *s == state) {
            self.decided[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A wrong PIN was counted (answer, PIN check, PIN change or QR one-time password).
    pub fn pin_failure(&self) {
        self.pin_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A device was blocked.
    pub fn device_blocked(&self) {
        self.devices_blocked.fetch_add(1, Ordering::Relaxed);
    }

    /// A challenge reached a phone this long after it was created.
    pub fn delivered(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        for (bound, bucket) in LATENCY_BUCKETS_MS.iter().zip(&self.latency_buckets) {
            if ms <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Open long polls now.
    pub fn open_long_polls(&self) -> u64 {
        self.open_long_polls.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition (format 0.0.4), with `pending` the challenges open now.
    pub fn render(&self, pending: u64) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(2048);
        let mut series = |name: &str, kind: &str, help: &str, lines: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        series(
            "nyckel_open_long_polls",
            "gauge",
            "Phone long polls waiting now.",
            &[(String::new(), self.open_long_polls())],
        );
        series(
            "nyckel_challenges_pending",
            "gauge",
            "Challenges pending and unexpired in this instance's memory.",
            &[(String::new(), pending)],
        );
        series(
            "nyckel_challenges_created_total",
            "counter",
            "Challenges created, by kind.",
            &[("{kind=\"push\"}".into(), get(&self.push_created)), ("{kind=\"qr\"}".into(), get(&self.qr_created))],
        );
        let decided: Vec<(String, u64)> =
            FINAL_STATES.iter().zip(&self.decided).map(|((_, n), c)| (format!("{{state=\"{n}\"}}"), get(c))).collect();
        series(
            "nyckel_challenges_decided_total",
            "counter",
            "Challenges that reached a final state, by state.",
            &decided,
        );
        series(
            "nyckel_pin_failures_total",
            "counter",
            "Wrong PINs counted.",
            &[(String::new(), get(&self.pin_failures))],
        );
        series(
            "nyckel_devices_blocked_total",
            "counter",
            "Devices blocked after too many wrong PINs.",
            &[(String::new(), get(&self.devices_blocked))],
        );
        let mut histogram: Vec<(String, u64)> = LATENCY_BUCKETS_MS
            .iter()
            .zip(&self.latency_buckets)
            .map(|(b, c)| (format!("_bucket{{le=\"{}\"}}", *b as f64 / 1000.0), get(c)))
            .collect();
        histogram.push(("_bucket{le=\"+Inf\"}".into(), get(&self.latency_count)));
        histogram.push(("_count".into(), get(&self.latency_count)));
        let _ = writeln!(
            out,
            "# HELP nyckel_delivery_seconds From a push's creation to the poll answer that carries it to a phone.\n# TYPE nyckel_delivery_seconds histogram"
        );
        for (suffix, value) in histogram {
            let _ = writeln!(out, "nyckel_delivery_seconds{suffix} {value}");
        }
        let _ = writeln!(out, "nyckel_delivery_seconds_sum {}", get(&self.latency_sum_us) as f64 / 1e6);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_and_buckets() {
        let m = Metrics::default();
        {
            let _a = m.long_poll();
            let _b = m.long_poll();
            assert_eq!(m.open_long_polls(), 2);
        }
        assert_eq!(m.open_long_polls(), 0);
        m.challenge_created(true);
        m.challenge_decided(ChallengeState::Approved);
        m.challenge_decided(ChallengeState::Pending);
        m.delivered(Duration::from_millis(7));
        m.delivered(Duration::from_secs(9));
        let text = m.render(3);
        for line in [
            "nyckel_challenges_pending 3",
            "nyckel_challenges_created_total{kind=\"push\"} 1",
            "nyckel_challenges_decided_total{state=\"approved\"} 1",
            "nyckel_challenges_decided_total{state=\"denied\"} 0",
            "nyckel_delivery_seconds_bucket{le=\"0.005\"} 0",
            "nyckel_delivery_seconds_bucket{le=\"0.01\"} 1",
            "nyckel_delivery_seconds_bucket{le=\"5\"} 1",
            "nyckel_delivery_seconds_bucket{le=\"+Inf\"} 2",
            "nyckel_delivery_seconds_count 2",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
