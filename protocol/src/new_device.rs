//! Adding a phone from a registered one, and retiring devices (PROTOCOL.md §6.5): the bodies of
//! the add-a-phone endpoints and the PIN-MACed request that retires another device.

use serde::{Deserialize, Serialize};

use crate::canonical::{tags, Canonical};
use crate::display::{check_text, DisplayError};
use crate::enrollment::EnrollmentReceipt;
use crate::ids::{DeviceId, EnrollmentId, EnrollmentToken, IdError, Nonce};
use crate::pin::{PinMac, PinSecret};
use crate::pin_check::PinCheckOutcome;
use crate::policy::REQUEST_TIMESTAMP_WINDOW;

/// Body of `POST /v1/device/enrollments` (a registered phone, signed request): an "add a
/// phone" code for a new device of the same user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartDeviceEnrollment {
    /// The name the user gives the new device, e.g. "New phone" (1–64 characters).
    pub device_name: String,
}

impl StartDeviceEnrollment {
    /// Checks the name.
    pub fn validate(&self) -> Result<(), DisplayError> {
        check_text("device name", &self.device_name, 1, 64)
    }
}

/// Response of `POST /v1/enroll/approval` (the new phone): the push to the user's registered
/// devices is out; the new phone shows `number` and `fingerprint` while it waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequested {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The two digits the approving phone must type (shown by the new phone only).
    pub number: String,
    /// The new device key's fingerprint, as the approving phone shows it.
    pub fingerprint: String,
    /// When the approval request expires, Unix seconds.
    pub expires_at: u64,
    /// How many registered devices were asked.
    pub devices: u32,
}

/// Body of `POST /v1/enroll/result` (the new phone's long poll; the enrollment token authorises).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentResultRequest {
    /// From the code.
    pub enrollment_id: EnrollmentId,
    /// From the code.
    pub token: EnrollmentToken,
    /// Seconds to wait for a decision, clamped to 0–30 (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<u64>,
}

/// Where an approved-registration request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// No registered device has decided yet.
    AwaitingApproval,
    /// A registered device approved it: the receipt is in the response.
    Approved,
}

/// Response of `POST /v1/enroll/result`. A denial is 403 `enrollment_denied`, an expiry 410
/// `enrollment_expired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentResult {
    /// The state.
    pub state: ApprovalState,
    /// When the approval request expires, Unix seconds.
    pub expires_at: u64,
    /// With `approved`: the same signed receipt `POST /v1/enroll` gives (PROTOCOL.md §6.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<EnrollmentReceipt>,
}

/// Body of `POST /v1/device/devices/{device_id}/retire` (signed request): retiring another
/// device of the same user needs the PIN, judged and counted like an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetireDevice {
    /// Phone time, Unix seconds.
    pub timestamp: u64,
    /// Fresh per request; single-use in the device's nonce window.
    pub nonce: Nonce,
    /// HMAC under the PIN secret's MAC key over [`retire_bytes`].
    pub mac: PinMac,
}

/// The canonical bytes of a retirement (tag `nyckel/v2/retire`): the retiring device, the
/// device retired, timestamp, nonce.
pub fn retire_bytes(device_id: &DeviceId, target: &DeviceId, timestamp: u64, nonce: &Nonce) -> Vec<u8> {
    Canonical::new(tags::RETIRE).str(device_id.as_str()).str(target.as_str()).u64(timestamp).bytes(&nonce.0).finish()
}

impl RetireDevice {
    /// Made by `device_id` to retire `target`, with the secret the typed PIN unblinded.
    pub fn create(device_id: &DeviceId, target: &DeviceId, secret: &PinSecret, now: u64) -> Result<Self, IdError> {
        let nonce = Nonce::random()?;
        let mac = secret.mac_key().mac(&retire_bytes(device_id, target, now, &nonce));
        Ok(Self { timestamp: now, nonce, mac })
    }

    /// The server's verdict for `device_id` retiring `target` under `secret`.
    pub fn check(&self, device_id: &DeviceId, target: &DeviceId, secret: &PinSecret, now: u64) -> PinCheckOutcome {
        if self.timestamp.abs_diff(now) > REQUEST_TIMESTAMP_WINDOW {
            return PinCheckOutcome::Stale;
        }
        if secret.mac_key().verify(&retire_bytes(device_id, target, self.timestamp, &self.nonce), &self.mac) {
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
    fn retirement_is_bound_to_both_devices_and_the_secret() {
        let me = DeviceId::new("dev-1").unwrap();
        let old = DeviceId::new("dev-2").unwrap();
        let secret = PinSecret::from_bytes([4; 32]);
        let retire = RetireDevice::create(&me, &old, &secret, 100).unwrap();
        assert_eq!(retire.check(&me, &old, &secret, 130), PinCheckOutcome::Correct);
        assert_eq!(retire.check(&me, &old, &PinSecret::from_bytes([5; 32]), 130), PinCheckOutcome::Wrong);
        // Not usable against a third device, nor by the other device.
        assert_eq!(retire.check(&me, &DeviceId::new("dev-3").unwrap(), &secret, 130), PinCheckOutcome::Wrong);
        assert_eq!(retire.check(&old, &me, &secret, 130), PinCheckOutcome::Wrong);
        assert_eq!(retire.check(&me, &old, &secret, 161), PinCheckOutcome::Stale);
        // Not a PIN check either (another tag).
        let check = crate::PinCheck { timestamp: retire.timestamp, nonce: retire.nonce, mac: retire.mac };
        assert_eq!(check.check(&me, &secret, 100), PinCheckOutcome::Wrong);
    }

    #[test]
    fn malformed_json() {
        assert!(serde_json::from_str::<RetireDevice>(r#"{"timestamp":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAA"}"#).is_err());
        assert!(serde_json::from_str::<StartDeviceEnrollment>(r#"{"device_name":"x","user":"bob"}"#).is_err());
        assert!(StartDeviceEnrollment { device_name: "".into() }.validate().is_err());
        assert!(serde_json::from_str::<EnrollmentResult>(r#"{"state":"denied","expires_at":1}"#).is_err());
    }
}
