//! Registering the phone with a server from an enrollment QR code (PROTOCOL.md §6.1).
//!
//! Scan → create the device key and a one-use X25519 key → `POST /v1/enroll` with the
//! public share (never `S`) → verify the receipt under the key the QR code carried (pinned
//! from then on; it covers the URL, both shares, the device key, user and organisation) →
//! derive `S` by key agreement, blind it under the PIN → store the registration. `S` and the
//! PIN are forgotten when this returns.

use nyckel_protocol::{
    b64, device_fingerprint, ids, BlindedPinSecret, CompleteEnrollment, DeviceId, DeviceSigner, EnrollQr,
    EnrollmentError, EnrollmentReceipt, EphemeralKey, KeyShare, Pin, QrError, QrPayload,
};

use crate::companion::{Companion, CompanionError};
use crate::device_keys::KeyStoreSigner;
use crate::vault::registrations::{host_of, Registration, RegistrationId};

/// Why a registration could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// The scanned bytes are not UTF-8 text.
    #[error("the scanned code is not text")]
    NotText,
    /// Not a valid Nyckel QR payload.
    #[error("not a valid Nyckel code: {0}")]
    Payload(#[from] QrError),
    /// A Nyckel code, but a login or transaction code rather than an enrollment.
    #[error("this is a sign-in code, not a registration code")]
    NotEnrollment,
    /// The enrollment request could not be made (platform name, device key).
    #[error("cannot make the enrollment request: {0}")]
    Request(EnrollmentError),
    /// The server's receipt does not verify under the key from the QR code (or is for another
    /// URL, device key or key share): whoever answered is not the server the code names, or
    /// something in between changed the exchange. Nothing was stored.
    #[error("the server's receipt is not signed by the key in the code: {0}")]
    Receipt(EnrollmentError),
    /// The one-use key-agreement key could not be made.
    #[error("cannot make the key-agreement key: {0}")]
    Agreement(nyckel_protocol::AgreementError),
    /// No random id could be drawn.
    #[error("the random generator failed")]
    Random,
    /// A registered device refused to add this phone (or its approval failed: a wrong number,
    /// too many wrong PINs). Nothing was stored; the device key made for it is deleted.
    #[error("a registered device refused to add this phone")]
    Denied,
    /// No registered device approved adding this phone in time. Nothing was stored.
    #[error("no registered device approved adding this phone in time")]
    ApprovalExpired,
    /// No request to add this phone is waiting in this process.
    #[error("no request to add this phone is waiting: {0}")]
    UnknownEnrollment(String),
}

/// A registration as the UI lists it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationSummary {
    /// The vault's id for it.
    pub id: RegistrationId,
    /// Built from signed facts only: `user @ organisation (host)`.
    pub name: String,
    /// The unsigned label from the QR code, for secondary text only.
    pub label: Option<String>,
    /// The organisation (signed).
    pub organisation: String,
    /// The host of the server URL the phone registered at.
    pub server_host: String,
    /// The device key's fingerprint, e.g. `7KQ4-M2XA` (the browser shows the same).
    pub device_fingerprint: String,
    /// The server's base URL.
    pub server_url: String,
    /// The pinned server key's short id (what QR codes name as `r`).
    pub server_key_id: String,
    /// The user at the server.
    pub user: String,
    /// The device's name at the server.
    pub device_name: String,
    /// The device id at the server.
    pub device_id: DeviceId,
    /// When it was made, Unix seconds.
    pub created_at: u64,
}

impl From<&Registration> for RegistrationSummary {
    fn from(registration: &Registration) -> Self {
        Self {
            id: registration.id.clone(),
            name: registration.display_name(),
            label: registration.label.clone(),
            organisation: registration.organisation.clone(),
            server_host: if registration.server_host.is_empty() {
                host_of(&registration.server_url)
            } else {
                registration.server_host.clone()
            },
            device_fingerprint: registration.device_fingerprint.clone(),
            server_url: registration.server_url.clone(),
            server_key_id: registration.server_key.key_id().to_string(),
            user: registration.user.clone(),
            device_name: registration.device_name.clone(),
            device_id: registration.device_id.clone(),
            created_at: registration.created_at,
        }
    }
}

/// Reads an enrollment code from scanned text.
pub fn parse_enrollment(payload: &str) -> Result<EnrollQr, RegistrationError> {
    match QrPayload::parse(payload.trim())? {
        QrPayload::Enroll(qr) => Ok(qr),
        QrPayload::Otp(_) => Err(RegistrationError::NotEnrollment),
    }
}

/// Scanned bytes as text (QR byte mode carries UTF-8 for Nyckel codes).
pub fn payload_text(bytes: &[u8]) -> Result<&str, RegistrationError> {
    std::str::from_utf8(bytes).map_err(|_| RegistrationError::NotText)
}

/// An enrollment prepared on the phone and not yet completed at the server: the device
/// key and the one-use X25519 key exist, and the signed request carries the public share.
/// The PIN is held (zeroized on drop) until the receipt gives `S`. Dropping it without
/// finishing leaves an unused device key, which [`Companion::abandon_enrollment`] deletes.
pub struct PendingEnrollment {
    qr: EnrollQr,
    id: RegistrationId,
    signer: KeyStoreSigner,
    pin: Pin,
    agreement: EphemeralKey,
    share: KeyShare,
    request: CompleteEnrollment,
}

impl PendingEnrollment {
    /// The body of `POST {server_url}/v1/enroll`.
    pub fn request(&self) -> &CompleteEnrollment {
        &self.request
    }

    /// The server's base URL from the code.
    pub fn server_url(&self) -> &str {
        &self.qr.server_url
    }
}

impl std::fmt::Debug for PendingEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEnrollment")
            .field("id", &self.id)
            .field("server", &self.qr.server_url)
            .finish_non_exhaustive()
    }
}

impl Companion {
    /// Registers with the server named by an enrollment code, under `pin` (4–16 digits; the
    /// UI asks it twice and compares before calling). Returns the stored registration.
    pub async fn register(&self, payload: &str, pin: &str) -> Result<RegistrationSummary, CompanionError> {
        let pending = self.begin_enrollment(payload, pin)?;
        let receipt = match self.client.enroll(pending.server_url(), pending.request()).await {
            Ok(receipt) => receipt,
            Err(error) => {
                self.abandon_enrollment(pending);
                return Err(error.into());
            }
        };
        self.finish_enrollment(pending, receipt)
    }

    /// Registers from the raw bytes of a scanned code.
    pub async fn register_scanned(&self, bytes: &[u8], pin: &str) -> Result<RegistrationSummary, CompanionError> {
        self.register(payload_text(bytes)?, pin).await
    }

    /// The offline first half of [`Companion::register`]: reads the code, creates the device
    /// key, then (right before the request) the one-use X25519 key, and signs the request.
    pub fn begin_enrollment(&self, payload: &str, pin: &str) -> Result<PendingEnrollment, CompanionError> {
        let qr = parse_enrollment(payload)?;
        let pin = Pin::new(pin)?;
        let id = b64::encode(&ids::random_16().map_err(|_| RegistrationError::Random)?);
        let signer = KeyStoreSigner::create(self.keys.clone(), &format!("nyckel-device-{id}"))?;
        let prepared = (|| -> Result<(EphemeralKey, KeyShare, CompleteEnrollment), CompanionError> {
            let (agreement, share) = EphemeralKey::generate().map_err(RegistrationError::Agreement)?;
            let request = CompleteEnrollment::create(&qr, &signer, &share, &self.settings.platform)
                .map_err(RegistrationError::Request)?;
            Ok((agreement, share, request))
        })();
        match prepared {
            Ok((agreement, share, request)) => Ok(PendingEnrollment { qr, id, signer, pin, agreement, share, request }),
            Err(error) => {
                let _ = self.keys.delete_key(signer.alias().to_owned());
                Err(error)
            }
        }
    }

    /// The offline second half: verifies the server's receipt under the key the code
    /// carried (pinning it), derives `S` (consuming the one-use key), blinds it under the PIN
    /// and stores the registration. A bad receipt stores nothing and deletes the device key.
    pub fn finish_enrollment(
        &self,
        pending: PendingEnrollment,
        receipt: EnrollmentReceipt,
    ) -> Result<RegistrationSummary, CompanionError> {
        let PendingEnrollment { qr, id, signer, pin, agreement, share, request } = pending;
        drop(request);
        let device_key = signer.public_key();
        let blinded = match receipt.accept(&qr, &device_key, agreement, &share) {
            // S exists only in this arm and is zeroized when dropped.
            Ok(secret) => BlindedPinSecret::blind(&secret, &pin, self.settings.pin_kdf),
            Err(error) => {
                let _ = self.keys.delete_key(signer.alias().to_owned());
                return Err(RegistrationError::Receipt(error).into());
            }
        };
        drop(pin);
        let blinded = match blinded {
            Ok(blinded) => blinded,
            Err(error) => {
                let _ = self.keys.delete_key(signer.alias().to_owned());
                return Err(error.into());
            }
        };
        // The receipt's clock sets the offset; a phone clock far off is reported by later calls.
        let _ = self.observe_server_time(receipt.server_time);
        let registration = Registration {
            id,
            label: qr.label,
            server_host: host_of(&qr.server_url),
            server_url: qr.server_url,
            server_key: qr.server_key,
            user: receipt.user,
            organisation: receipt.organisation,
            device_fingerprint: device_fingerprint(&device_key),
            device_name: receipt.device_name,
            device_id: receipt.device_id,
            key_alias: signer.alias().to_owned(),
            created_at: self.now(),
            pin: blinded,
            seen: Vec::new(),
            biometric: None,
        };
        if let Err(error) = self.vault.add_registration(&registration) {
            let _ = self.keys.delete_key(registration.key_alias.clone());
            return Err(error.into());
        }
        self.registrations_changed();
        Ok(RegistrationSummary::from(&registration))
    }

    /// Gives up an enrollment that will not be finished: deletes its device key (best effort:
    /// an unused key is only clutter).
    pub fn abandon_enrollment(&self, pending: PendingEnrollment) {
        let _ = self.keys.delete_key(pending.signer.alias().to_owned());
    }

    /// Every registration, oldest first.
    pub fn registrations(&self) -> Result<Vec<RegistrationSummary>, CompanionError> {
        Ok(self.vault.registrations()?.iter().map(RegistrationSummary::from).collect())
    }

    /// The server's record of this device (`GET /v1/device`): state, PIN failures, last use.
    pub async fn device_info(
        &self,
        registration_id: &str,
    ) -> Result<nyckel_protocol::wire::devices::DeviceInfo, CompanionError> {
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        self.with_clock_retry(|now| self.client.device(&registration, &signer, now)).await
    }

    /// Unregisters at the server (`DELETE /v1/device`), then forgets the registration and
    /// deletes its device key. A server that no longer knows the device counts as done.
    pub async fn unregister(&self, registration_id: &str) -> Result<(), CompanionError> {
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        match self.with_clock_retry(|now| self.client.unregister(&registration, &signer, now)).await {
            Ok(()) => {}
            Err(CompanionError::Server(error)) if error.code() == Some(nyckel_protocol::ErrorCode::UnknownDevice) => {}
            Err(error) => return Err(error),
        }
        self.forget_registration(registration_id)
    }

    /// Forgets a registration locally (without telling the server) and deletes its device key
    /// (and its biometric key, if any).
    pub fn forget_registration(&self, registration_id: &str) -> Result<(), CompanionError> {
        let registration = self.registration(registration_id)?;
        self.vault.remove_registration(registration_id)?;
        if let (Some(seal), Ok(key)) = (&registration.biometric, self.biometric_key()) {
            // Best effort: the key unlocks nothing once B is gone with the record.
            let _ = key.delete_key(seal.key_alias.clone());
        }
        self.keys.delete_key(registration.key_alias)?;
        self.pending_map().retain(|(registration, _), _| registration != registration_id);
        self.registrations_changed();
        Ok(())
    }
}
