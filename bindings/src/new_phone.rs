//! Adding a phone by a registered phone's approval, and retiring devices (PROTOCOL.md §6.5):
//! new facade functions over `nyckel_core::new_device`, with their own records.

use nyckel_core::DeviceEnrollmentProgress;
use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::{ChallengeId, DeviceId, EnrollmentId};

use crate::app::Nyckel;
use crate::error::NyckelError;
use crate::records::RegistrationInfo;

/// An "add a phone" code to show as a QR code on the registered phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AddPhoneCode {
    /// The enrollment.
    pub enrollment_id: String,
    /// The `nyckel://enroll?…` payload.
    pub qr: String,
    /// When it stops working (server clock, Unix seconds).
    pub expires_at: u64,
}

/// What the new phone shows while a registered phone decides.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewPhoneRequest {
    /// Pass it to `wait_new_phone`.
    pub enrollment_id: String,
    /// The two digits the user types on the registered phone.
    pub number: String,
    /// This phone's device fingerprint; the registered phone shows the same.
    pub fingerprint: String,
    /// When the request expires (server clock, Unix seconds).
    pub expires_at: u64,
    /// How many registered devices were asked.
    pub devices: u32,
}

/// Where the new phone's registration stands.
// Lowered into a buffer to cross the FFI anyway; boxing would buy nothing there.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum NewPhoneProgress {
    /// Nobody decided yet; call `wait_new_phone` again.
    AwaitingApproval {
        /// When the request expires (server clock, Unix seconds).
        expires_at: u64,
    },
    /// Approved: this phone's own registration is stored.
    Registered {
        /// The registration.
        registration: RegistrationInfo,
    },
}

/// The new device a pending request asks to add (show instead of a sign-in's details).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewDeviceInfo {
    /// The name given to it.
    pub name: String,
    /// The platform it reported.
    pub platform: String,
    /// Its key's fingerprint, shown by the new phone too.
    pub fingerprint: String,
}

/// One device of the user at the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UserDevice {
    /// The device.
    pub device_id: String,
    /// Its name.
    pub name: String,
    /// Its platform.
    pub platform: String,
    /// `active`, `blocked` or `inactive`.
    pub state: String,
    /// Registration time (Unix seconds).
    pub created_at: u64,
    /// Last use (Unix seconds).
    pub last_used_at: u64,
    /// Whether it is this phone's device for the registration.
    pub this_device: bool,
}

fn enrollment_id(text: &str) -> Result<EnrollmentId, NyckelError> {
    EnrollmentId::new(text).map_err(NyckelError::invalid)
}

#[uniffi::export]
impl Nyckel {
    /// On a registered phone: an "add a phone" code for a new phone of the same user.
    pub async fn add_phone_code(
        &self,
        registration_id: String,
        device_name: String,
    ) -> Result<AddPhoneCode, NyckelError> {
        let companion = self.companion.clone();
        let code = self.run(async move { companion.add_phone_code(&registration_id, &device_name).await }).await?;
        Ok(AddPhoneCode { enrollment_id: code.enrollment_id.to_string(), qr: code.qr, expires_at: code.expires_at })
    }

    /// On the new phone: scans an "add a phone" code and asks the user's registered phones to
    /// approve it; `pin` (asked twice by the UI) becomes this phone's own PIN.
    pub async fn request_new_phone(&self, payload: String, pin: String) -> Result<NewPhoneRequest, NyckelError> {
        let companion = self.companion.clone();
        let pin = zeroize::Zeroizing::new(pin);
        let asked = self.run(async move { companion.request_device_enrollment(&payload, &pin).await }).await?;
        Ok(NewPhoneRequest {
            enrollment_id: asked.enrollment_id.to_string(),
            number: asked.number,
            fingerprint: asked.fingerprint,
            expires_at: asked.expires_at,
            devices: asked.devices,
        })
    }

    /// On the new phone: waits up to `wait_seconds` (≤ 30) for the decision. Denied:
    /// `Refused`; expired: `RequestClosed`.
    pub async fn wait_new_phone(
        &self,
        enrollment_id: String,
        wait_seconds: u64,
    ) -> Result<NewPhoneProgress, NyckelError> {
        let id = self::enrollment_id(&enrollment_id)?;
        let companion = self.companion.clone();
        let progress = self.run(async move { companion.wait_device_enrollment(&id, wait_seconds).await }).await?;
        Ok(match progress {
            DeviceEnrollmentProgress::AwaitingApproval { expires_at } => {
                NewPhoneProgress::AwaitingApproval { expires_at }
            }
            DeviceEnrollmentProgress::Registered(summary) => {
                NewPhoneProgress::Registered { registration: RegistrationInfo::from(*summary) }
            }
        })
    }

    /// On the new phone: gives up waiting (the device key made for it is deleted).
    pub fn cancel_new_phone(&self, enrollment_id: String) -> Result<(), NyckelError> {
        self.companion.cancel_device_enrollment(&self::enrollment_id(&enrollment_id)?);
        Ok(())
    }

    /// On a registered phone: the new device a pending request asks to add, or `None` for a
    /// sign-in or transaction request.
    pub fn pending_new_device(
        &self,
        registration_id: String,
        challenge_id: String,
    ) -> Result<Option<NewDeviceInfo>, NyckelError> {
        let challenge = ChallengeId::new(&challenge_id).map_err(NyckelError::invalid)?;
        let details = self.companion.pending_new_device(&registration_id, &challenge)?;
        Ok(details.map(|d| NewDeviceInfo { name: d.name, platform: d.platform, fingerprint: d.fingerprint }))
    }

    /// The devices of the registration's user at the server.
    pub async fn user_devices(&self, registration_id: String) -> Result<Vec<UserDevice>, NyckelError> {
        let own = self.companion.registration(&registration_id)?.device_id;
        let companion = self.companion.clone();
        let devices = self.run(async move { companion.user_devices(&registration_id).await }).await?;
        Ok(devices
            .into_iter()
            .map(|d| UserDevice {
                this_device: d.device_id == own,
                device_id: d.device_id.to_string(),
                name: d.name,
                platform: d.platform,
                state: match d.state {
                    DeviceState::Active => "active",
                    DeviceState::Blocked => "blocked",
                    DeviceState::Inactive => "inactive",
                }
                .into(),
                created_at: d.created_at,
                last_used_at: d.last_used_at,
            })
            .collect())
    }

    /// Retires a device of the registration's user: another one needs this phone's PIN
    /// (`WrongPin`, `DeviceBlocked` like an approval); this phone's own is unregistered and
    /// forgotten (the PIN is then ignored).
    pub async fn retire_device(
        &self,
        registration_id: String,
        device_id: String,
        pin: String,
    ) -> Result<(), NyckelError> {
        let target = DeviceId::new(&device_id).map_err(NyckelError::invalid)?;
        let companion = self.companion.clone();
        let pin = zeroize::Zeroizing::new(pin);
        self.run(async move { companion.retire_device(&registration_id, &target, &pin).await }).await
    }
}
