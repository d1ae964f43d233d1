//! The online PIN check: proves the PIN to the server (which counts failures) before the
//! phone re-blinds the secret under a new PIN.

use serde::{Deserialize, Serialize};

use crate::canonical::{tags, Canonical};
use crate::ids::{DeviceId, IdError, Nonce};
use crate::pin::{PinMac, PinSecret};
use crate::policy::REQUEST_TIMESTAMP_WINDOW;

/// Body of `POST /v1/device/pin-check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinCheck {
    /// Phone time, Unix seconds.
    pub timestamp: u64,
    /// Fresh per check; the server refuses one it has seen within the window.
    pub nonce: Nonce,
    /// HMAC under the PIN secret's MAC key over [`pin_check_bytes`].
    pub mac: PinMac,
}

/// Outcome of a PIN check on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheckOutcome {
    /// The MAC is right: reset the failure counter.
    Correct,
    /// The MAC is wrong: count a PIN failure.
    Wrong,
    /// Outside the timestamp window: refuse without counting.
    Stale,
}

/// The canonical bytes of a PIN check (tag `nyckel/v2/pin-check`): device id, timestamp, nonce.
pub fn pin_check_bytes(device_id: &DeviceId, timestamp: u64, nonce: &Nonce) -> Vec<u8> {
    Canonical::new(tags::PIN_CHECK).str(device_id.as_str()).u64(timestamp).bytes(&nonce.0).finish()
}

impl PinCheck {
    /// Makes a check with the secret the typed PIN unblinded.
    pub fn create(device_id: &DeviceId, secret: &PinSecret, now: u64) -> Result<Self, IdError> {
        let nonce = Nonce::random()?;
        let mac = secret.mac_key().mac(&pin_check_bytes(device_id, now, &nonce));
        Ok(Self { timestamp: now, nonce, mac })
    }

    /// The server's verdict.
    pub fn check(&self, device_id: &DeviceId, secret: &PinSecret, now: u64) -> PinCheckOutcome {
        if self.timestamp.abs_diff(now) > REQUEST_TIMESTAMP_WINDOW {
            return PinCheckOutcome::Stale;
        }
        if secret.mac_key().verify(&pin_check_bytes(device_id, self.timestamp, &self.nonce), &self.mac) {
            PinCheckOutcome::Correct
        } else {
            PinCheckOutcome::Wrong
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        let dev = DeviceId::new("dev-1").unwrap();
        let secret = PinSecret::from_bytes([4; 32]);
        let check = PinCheck::create(&dev, &secret, 100).unwrap();
        assert_eq!(check.check(&dev, &secret, 130), PinCheckOutcome::Correct);
        assert_eq!(check.check(&dev, &PinSecret::from_bytes([5; 32]), 130), PinCheckOutcome::Wrong);
        assert_eq!(check.check(&DeviceId::new("dev-2").unwrap(), &secret, 130), PinCheckOutcome::Wrong);
        assert_eq!(check.check(&dev, &secret, 161), PinCheckOutcome::Stale);
        let mut moved = check.clone();
        moved.timestamp = 101;
        assert_eq!(moved.check(&dev, &secret, 101), PinCheckOutcome::Wrong);
    }

    #[test]
    fn malformed_json() {
        assert!(
            serde_json::from_str::<PinCheck>(r#"{"timestamp":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAA","mac":"x"}"#).is_err()
        );
        assert!(serde_json::from_str::<PinCheck>(r#"{"timestamp":-1}"#).is_err());
    }
}
