//! Protocol constants: version, lifetimes, clock-skew windows and server policy numbers.

/// The protocol version this crate speaks: in QR codes as `v=2` and in every domain tag
/// (`nyckel/v2/…`); the HTTP paths keep their `/v1` prefix (PROTOCOL.md §1).
pub const PROTOCOL_VERSION: u32 = 2;

/// Default lifetime of a challenge, in seconds.
pub const DEFAULT_CHALLENGE_TTL: u64 = 120;
/// Shortest lifetime a relying party may ask for.
pub const MIN_CHALLENGE_TTL: u64 = 30;
/// Longest lifetime a relying party may ask for; the phone rejects longer-lived challenges.
pub const MAX_CHALLENGE_TTL: u64 = 600;
/// Lifetime of an enrollment QR code.
pub const ENROLLMENT_TTL: u64 = 300;

/// How far the phone's clock may be from the server's when it checks a challenge's
/// validity period, in seconds.
pub const CHALLENGE_CLOCK_SKEW: u64 = 30;
/// How far a signed request's timestamp may be from the server's clock, in seconds.
/// The server remembers request nonces for twice this long to refuse replays.
pub const REQUEST_TIMESTAMP_WINDOW: u64 = 60;

/// Longest long-poll wait the server grants, in seconds; clients ask with `?wait=`.
pub const MAX_LONG_POLL_WAIT: u64 = 30;
/// Extra time a client allows beyond the wait before it times the HTTP request out.
pub const LONG_POLL_GRACE: u64 = 10;

/// Consecutive wrong PINs after which the server blocks a device.
pub const MAX_PIN_FAILURES: u32 = 5;
/// A device unused this long (4 months, counted as 122 days) becomes inactive.
pub const INACTIVE_AFTER: u64 = 122 * 24 * 60 * 60;

/// Longest request body the server reads, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Clamps a requested long-poll wait to what the server grants.
pub fn clamp_wait(requested: Option<u64>) -> u64 {
    requested.unwrap_or(MAX_LONG_POLL_WAIT).min(MAX_LONG_POLL_WAIT)
}

/// Clamps a requested challenge lifetime to the allowed range (default when absent).
pub fn clamp_ttl(requested: Option<u64>) -> u64 {
    requested.unwrap_or(DEFAULT_CHALLENGE_TTL).clamp(MIN_CHALLENGE_TTL, MAX_CHALLENGE_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps() {
        assert_eq!(clamp_wait(None), 30);
        assert_eq!(clamp_wait(Some(5)), 5);
        assert_eq!(clamp_wait(Some(3600)), 30);
        assert_eq!(clamp_ttl(None), 120);
        assert_eq!(clamp_ttl(Some(1)), 30);
        assert_eq!(clamp_ttl(Some(10_000)), 600);
    }
}
