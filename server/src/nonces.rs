//! Per-device memory of recent request nonces: bounded, entries expire, and each accepted
//! nonce is also written to the store so a restart does not reopen the replay window.

use std::collections::VecDeque;

use nyckel_protocol::policy::REQUEST_TIMESTAMP_WINDOW;

/// How long a nonce is remembered: twice the timestamp window, so a request is either
/// stale or its nonce is still remembered.
pub const NONCE_MEMORY: u64 = 2 * REQUEST_TIMESTAMP_WINDOW;
/// Most nonces remembered per device; a device sending more signed requests than this
/// within [`NONCE_MEMORY`] is refused (429) rather than letting old nonces be forgotten early.
pub const MAX_NONCES_PER_DEVICE: usize = 256;

/// The outcome of offering a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Fresh; now remembered.
    Fresh,
    /// Seen within the window.
    Replayed,
    /// The window is full.
    Full,
}

/// The store key of one remembered nonce: device id, a NUL, the 16 nonce bytes.
pub fn stored_key(device: &str, nonce: &[u8; 16]) -> Vec<u8> {
    let mut key = Vec::with_capacity(device.len() + 17);
    key.extend_from_slice(device.as_bytes());
    key.push(0);
    key.extend_from_slice(nonce);
    key
}

/// Splits a key made by [`stored_key`].
pub fn split_key(key: &[u8]) -> Option<(&str, [u8; 16])> {
    let cut = key.len().checked_sub(17)?;
    if key[cut] != 0 {
        return None;
    }
    let device = std::str::from_utf8(&key[..cut]).ok()?;
    let nonce: [u8; 16] = key[cut + 1..].try_into().ok()?;
    Some((device, nonce))
}

/// Recent nonces of one device, oldest first.
#[derive(Debug, Default)]
pub struct NonceWindow {
    entries: VecDeque<(u64, [u8; 16])>,
}

impl NonceWindow {
    /// Records `nonce` at `now` unless it was seen within [`NONCE_MEMORY`].
    pub fn offer(&mut self, nonce: [u8; 16], now: u64) -> NonceCheck {
        // Times only grow in practice; `retain` also copes with a clock set back.
        self.entries.retain(|(at, _)| at.saturating_add(NONCE_MEMORY) > now && *at <= now.saturating_add(NONCE_MEMORY));
        if self.entries.iter().any(|(_, n)| *n == nonce) {
            return NonceCheck::Replayed;
        }
        if self.entries.len() >= MAX_NONCES_PER_DEVICE {
            return NonceCheck::Full;
        }
        self.entries.push_back((now, nonce));
        NonceCheck::Fresh
    }

    /// Forgets the nonces too old to matter at `now`.
    pub fn expire(&mut self, now: u64) {
        self.entries.retain(|(at, _)| at.saturating_add(NONCE_MEMORY) > now);
    }

    /// Puts back a nonce remembered before a restart (oldest first).
    pub fn restore(&mut self, nonce: [u8; 16], at: u64) {
        if self.entries.len() < MAX_NONCES_PER_DEVICE {
            self.entries.push_back((at, nonce));
        }
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_keys_round_trip_and_reject_junk() {
        let key = stored_key("dev-1", &[7; 16]);
        assert_eq!(split_key(&key), Some(("dev-1", [7; 16])));
        assert_eq!(split_key(b"short"), None);
        let mut bad = key.clone();
        bad[5] = 1;
        assert_eq!(split_key(&bad), None);
    }

    #[test]
    fn replay_expiry_and_bound() {
        let mut w = NonceWindow::default();
        assert_eq!(w.offer([1; 16], 100), NonceCheck::Fresh);
        assert_eq!(w.offer([1; 16], 150), NonceCheck::Replayed);
        assert_eq!(w.offer([1; 16], 100 + NONCE_MEMORY), NonceCheck::Fresh);
        assert_eq!(w.len(), 1);
        for i in 0..(MAX_NONCES_PER_DEVICE - 1) {
            let mut n = [0u8; 16];
            n[..8].copy_from_slice(&(i as u64).to_be_bytes());
            n[15] = 9;
            assert_eq!(w.offer(n, 300), NonceCheck::Fresh);
        }
        assert_eq!(w.offer([2; 16], 300), NonceCheck::Full);
        assert_eq!(w.offer([2; 16], 300 + NONCE_MEMORY), NonceCheck::Fresh);
        assert_eq!(w.len(), 1);
    }
}
