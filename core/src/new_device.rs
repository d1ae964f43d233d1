//! Adding a phone by a registered phone's approval, and retiring devices (PROTOCOL.md §6.5).
//!
//! The registered phone makes an "add a phone" code ([`Companion::add_phone_code`]). The new
//! phone scans it and asks for approval ([`Companion::request_device_enrollment`]): it creates
//! its own device key and one-use X25519 key exactly as for a first registration, and shows the
//! number and its fingerprint. The registered phone gets a new-device push that shows the new
//! device's name, platform and fingerprint and approves it with its PIN (the ordinary
//! [`Companion::approve`]). The new phone's [`Companion::wait_device_enrollment`] then receives
//! its own signed receipt, agrees its own `S` and stores a registration under its own PIN.
//! Nothing of the registered phone's is copied. Devices are listed and retired by
//! [`Companion::user_devices`] and [`Companion::retire_device`].

use nyckel_protocol::enrollment::EnrollmentStarted;
use nyckel_protocol::new_device::{
    ApprovalRequested, ApprovalState, EnrollmentResult, EnrollmentResultRequest, RetireDevice, StartDeviceEnrollment,
};
use nyckel_protocol::policy::{LONG_POLL_GRACE, MAX_LONG_POLL_WAIT};
use nyckel_protocol::wire::devices::{DeviceInfo, DeviceList};
use nyckel_protocol::{ChallengeId, CompleteEnrollment, DeviceId, EnrollmentId, ErrorCode, NewDeviceDetails, Pin};
use reqwest::Method;

use crate::approvals::ApprovalError;
use crate::companion::{Companion, CompanionError};
use crate::device_keys::KeyStoreSigner;
use crate::registration::{PendingEnrollment, RegistrationError, RegistrationSummary};
use crate::server_api::{read_empty, read_json, ServerApiError, ServerClient, REQUEST_TIMEOUT};
use crate::vault::registrations::Registration;

/// An "add a phone" code a registered phone shows for the new one to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPhoneCode {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The `nyckel://enroll` payload to show as a QR code.
    pub qr: String,
    /// When the code stops working, Unix seconds (server clock).
    pub expires_at: u64,
}

/// What the new phone shows while it waits for a registered phone's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEnrollmentRequest {
    /// The enrollment (pass it to [`Companion::wait_device_enrollment`]).
    pub enrollment_id: EnrollmentId,
    /// The two digits to type on the registered phone.
    pub number: String,
    /// This phone's device fingerprint; the registered phone shows the same.
    pub fingerprint: String,
    /// When the approval request expires, Unix seconds (server clock).
    pub expires_at: u64,
    /// How many registered devices were asked.
    pub devices: u32,
}

/// Where the new phone's registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEnrollmentProgress {
    /// No registered phone has decided yet; ask again.
    AwaitingApproval {
        /// When the approval request expires, Unix seconds (server clock).
        expires_at: u64,
    },
    /// Approved: this phone's own registration is stored.
    Registered(Box<RegistrationSummary>),
}

impl ServerClient {
    /// `POST /v1/device/enrollments` (signed): an "add a phone" code for this device's user.
    pub async fn start_device_enrollment(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        request: &StartDeviceEnrollment,
        now: u64,
    ) -> Result<EnrollmentStarted, ServerApiError> {
        let body = serde_json::to_vec(request).map_err(|error| ServerApiError::Request(error.to_string()))?;
        let (url, builder) =
            self.signed(registration, signer, Method::POST, "/v1/device/enrollments", Some(body), now)?;
        read_json(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }

    /// `POST {server_url}/v1/enroll/approval`: binds this new device to an "add a phone" code
    /// and has the user's registered devices asked (no signed headers: the token authorises).
    pub async fn request_approval(
        &self,
        server_url: &str,
        request: &CompleteEnrollment,
    ) -> Result<ApprovalRequested, ServerApiError> {
        self.post_json(&format!("{server_url}/v1/enroll/approval"), request, REQUEST_TIMEOUT).await
    }

    /// `POST {server_url}/v1/enroll/result`: the long poll for the approval's outcome.
    pub async fn enrollment_result(
        &self,
        server_url: &str,
        request: &EnrollmentResultRequest,
    ) -> Result<EnrollmentResult, ServerApiError> {
        let wait = request.wait.unwrap_or(MAX_LONG_POLL_WAIT);
        let timeout = std::time::Duration::from_secs(wait + LONG_POLL_GRACE);
        self.post_json(&format!("{server_url}/v1/enroll/result"), request, timeout).await
    }

    /// `GET /v1/device/devices` (signed): the devices of this device's user.
    pub async fn user_devices(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        now: u64,
    ) -> Result<DeviceList, ServerApiError> {
        let (url, builder) = self.signed(registration, signer, Method::GET, "/v1/device/devices", None, now)?;
        read_json(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }

    /// `POST /v1/device/devices/{target}/retire` (signed, PIN-MACed).
    pub async fn retire_device(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        target: &DeviceId,
        retire: &RetireDevice,
        now: u64,
    ) -> Result<(), ServerApiError> {
        let body = serde_json::to_vec(retire).map_err(|error| ServerApiError::Request(error.to_string()))?;
        let suffix = format!("/v1/device/devices/{target}/retire");
        let (url, builder) = self.signed(registration, signer, Method::POST, &suffix, Some(body), now)?;
        read_empty(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }
}

impl Companion {
    /// On a registered phone: an "add a phone" code for a new device of the same user, to be
    /// named `device_name` (the new phone shows it, and so will the approval request).
    pub async fn add_phone_code(
        &self,
        registration_id: &str,
        device_name: &str,
    ) -> Result<AddPhoneCode, CompanionError> {
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        let request = StartDeviceEnrollment { device_name: device_name.to_owned() };
        let started = self
            .with_clock_retry(|now| self.client.start_device_enrollment(&registration, &signer, &request, now))
            .await?;
        Ok(AddPhoneCode { enrollment_id: started.enrollment_id, qr: started.qr, expires_at: started.expires_at })
    }

    /// On the new phone: reads an "add a phone" code, creates this phone's own device key and
    /// one-use key-agreement key, and asks the server to have the user's registered phones
    /// approve it. `pin` (4–16 digits) becomes this phone's own PIN; it is held, zeroized on
    /// drop, until [`Companion::wait_device_enrollment`] completes or gives up.
    pub async fn request_device_enrollment(
        &self,
        payload: &str,
        pin: &str,
    ) -> Result<DeviceEnrollmentRequest, CompanionError> {
        let pending = self.begin_enrollment(payload, pin)?;
        let asked = match self.client.request_approval(pending.server_url(), pending.request()).await {
            Ok(asked) => asked,
            Err(error) => {
                self.abandon_enrollment(pending);
                return Err(error.into());
            }
        };
        let id = pending.request().enrollment_id.clone();
        if let Some(earlier) = self.device_enrollments().insert(id.clone(), pending) {
            self.abandon_enrollment(earlier);
        }
        Ok(DeviceEnrollmentRequest {
            enrollment_id: id,
            number: asked.number,
            fingerprint: asked.fingerprint,
            expires_at: asked.expires_at,
            devices: asked.devices,
        })
    }

    /// On the new phone: waits up to `wait` seconds (at most 30) for the approval. Approved:
    /// verifies the receipt under the key the code carried, derives this phone's own `S`, blinds
    /// it under its PIN and stores the registration. Denied ([`RegistrationError::Denied`]) or
    /// expired ([`RegistrationError::ApprovalExpired`]): the request and its device key are
    /// dropped. A network failure keeps it for another call.
    pub async fn wait_device_enrollment(
        &self,
        enrollment_id: &EnrollmentId,
        wait: u64,
    ) -> Result<DeviceEnrollmentProgress, CompanionError> {
        let (server_url, request) = {
            let map = self.device_enrollments();
            let pending = map
                .get(enrollment_id)
                .ok_or_else(|| RegistrationError::UnknownEnrollment(enrollment_id.to_string()))?;
            let request = EnrollmentResultRequest {
                enrollment_id: enrollment_id.clone(),
                token: pending.request().token,
                wait: Some(wait.min(MAX_LONG_POLL_WAIT)),
            };
            (pending.server_url().to_owned(), request)
        };
        let outcome = self.client.enrollment_result(&server_url, &request).await;
        let refusal = match outcome {
            Ok(EnrollmentResult { state: ApprovalState::AwaitingApproval, expires_at, .. }) => {
                return Ok(DeviceEnrollmentProgress::AwaitingApproval { expires_at })
            }
            Ok(EnrollmentResult { state: ApprovalState::Approved, receipt: Some(receipt), .. }) => {
                let pending = self.take_device_enrollment(enrollment_id)?;
                return Ok(DeviceEnrollmentProgress::Registered(Box::new(self.finish_enrollment(pending, receipt)?)));
            }
            Ok(EnrollmentResult { state: ApprovalState::Approved, receipt: None, .. }) => {
                return Err(ServerApiError::BadResponse {
                    url: server_url,
                    reason: "approved without a receipt".into(),
                }
                .into())
            }
            Err(error) => error,
        };
        let typed = match refusal.code() {
            Some(ErrorCode::EnrollmentDenied) => RegistrationError::Denied,
            Some(ErrorCode::EnrollmentExpired) => RegistrationError::ApprovalExpired,
            _ => return Err(refusal.into()),
        };
        let pending = self.take_device_enrollment(enrollment_id)?;
        self.abandon_enrollment(pending);
        Err(typed.into())
    }

    /// On the new phone: gives up waiting; the device key made for it is deleted.
    pub fn cancel_device_enrollment(&self, enrollment_id: &EnrollmentId) {
        if let Ok(pending) = self.take_device_enrollment(enrollment_id) {
            self.abandon_enrollment(pending);
        }
    }

    /// On a registered phone: the new device a pending new-device request asks to add (its
    /// name, platform and fingerprint, which the new phone shows too); `None` for a sign-in.
    pub fn pending_new_device(
        &self,
        registration_id: &str,
        challenge_id: &ChallengeId,
    ) -> Result<Option<NewDeviceDetails>, CompanionError> {
        let challenge =
            self.pending_map().get(&(registration_id.to_owned(), challenge_id.clone())).cloned().ok_or_else(|| {
                ApprovalError::UnknownChallenge {
                    registration: registration_id.to_owned(),
                    challenge: challenge_id.clone(),
                }
            })?;
        Ok(challenge.new_device())
    }

    /// The devices of this registration's user at the server, this one included.
    pub async fn user_devices(&self, registration_id: &str) -> Result<Vec<DeviceInfo>, CompanionError> {
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        let list = self.with_clock_retry(|now| self.client.user_devices(&registration, &signer, now)).await?;
        Ok(list.devices)
    }

    /// Retires a device of this registration's user. This phone's own device: unregisters
    /// (no PIN, as [`Companion::unregister`]) and forgets the registration. Another device:
    /// needs this phone's PIN, which the server judges and counts like an approval's
    /// ([`ApprovalError::WrongPin`], [`ApprovalError::DeviceBlocked`]).
    pub async fn retire_device(
        &self,
        registration_id: &str,
        device_id: &DeviceId,
        pin: &str,
    ) -> Result<(), CompanionError> {
        let registration = self.registration(registration_id)?;
        if &registration.device_id == device_id {
            return self.unregister(registration_id).await;
        }
        let pin = Pin::new(pin)?;
        let signer = self.signer(&registration)?;
        let result = self
            .with_clock_retry(|now| {
                // S' exists only while the MAC is made (PROTOCOL.md §4.4 rule 5).
                let retire = registration
                    .pin
                    .unblind(&pin)
                    .map_err(|error| ServerApiError::Request(error.to_string()))
                    .and_then(|secret| {
                        RetireDevice::create(&registration.device_id, device_id, &secret, now)
                            .map_err(|error| ServerApiError::Request(error.to_string()))
                    });
                let client = &self.client;
                let (registration, signer) = (&registration, &signer);
                async move { client.retire_device(registration, signer, device_id, &retire?, now).await }
            })
            .await;
        if let Err(CompanionError::Server(ServerApiError::Refused { code, attempts_left, .. })) = &result {
            if let Some(verdict) = ApprovalError::pin_verdict(*code, *attempts_left) {
                return Err(verdict.into());
            }
        }
        result
    }

    fn device_enrollments(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<EnrollmentId, PendingEnrollment>> {
        // Single inserts and removes: a panic while holding it leaves nothing half-done.
        self.device_enrollments.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take_device_enrollment(&self, enrollment_id: &EnrollmentId) -> Result<PendingEnrollment, CompanionError> {
        Ok(self
            .device_enrollments()
            .remove(enrollment_id)
            .ok_or_else(|| RegistrationError::UnknownEnrollment(enrollment_id.to_string()))?)
    }
}
