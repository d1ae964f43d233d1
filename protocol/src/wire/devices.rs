//! Device records as users, relying parties and administrators see them.

use serde::{Deserialize, Serialize};

use crate::ids::DeviceId;
use crate::policy::INACTIVE_AFTER;

/// A device's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    /// Receives challenges and may answer.
    Active,
    /// Blocked after [`crate::policy::MAX_PIN_FAILURES`] consecutive wrong PINs; an administrator may unblock it.
    Blocked,
    /// Unused for [`INACTIVE_AFTER`]; must be registered again (or reactivated by an administrator).
    Inactive,
}

impl DeviceState {
    /// The state the policy gives a device, from its stored facts.
    pub fn from_policy(blocked: bool, last_used_at: u64, now: u64) -> Self {
        if blocked {
            DeviceState::Blocked
        } else if now.saturating_sub(last_used_at) >= INACTIVE_AFTER {
            DeviceState::Inactive
        } else {
            DeviceState::Active
        }
    }
}

/// One device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: DeviceId,
    /// Its user.
    pub user: String,
    /// The name given at registration.
    pub name: String,
    /// The platform it reported.
    pub platform: String,
    /// Its standing.
    pub state: DeviceState,
    /// Registration time, Unix seconds.
    pub created_at: u64,
    /// Last signed request or answer, Unix seconds.
    pub last_used_at: u64,
    /// Consecutive wrong PINs so far.
    pub pin_failures: u32,
}

/// Response of the device listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceList {
    /// The devices.
    pub devices: Vec<DeviceInfo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_states() {
        assert_eq!(DeviceState::from_policy(false, 100, 100 + INACTIVE_AFTER - 1), DeviceState::Active);
        assert_eq!(DeviceState::from_policy(false, 100, 100 + INACTIVE_AFTER), DeviceState::Inactive);
        assert_eq!(DeviceState::from_policy(true, 100, 100), DeviceState::Blocked);
        assert_eq!(DeviceState::from_policy(false, 100, 50), DeviceState::Active);
    }

    #[test]
    fn malformed() {
        assert!(serde_json::from_str::<DeviceState>("\"gone\"").is_err());
        assert!(serde_json::from_str::<DeviceList>(r#"{"devices":[{"device_id":"d"}]}"#).is_err());
    }
}
