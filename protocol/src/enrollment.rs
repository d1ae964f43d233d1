//! Device registration: the phone's proof of key possession and the server's signed receipt.

use serde::{Deserialize, Serialize};

use crate::canonical::{tags, Canonical};
use crate::display::{check_text, DisplayError};
use crate::ids::{DeviceId, EnrollmentId, EnrollmentToken};
use crate::keys::{
    DevicePublicKey, DeviceSignature, DeviceSigner, ServerPublicKey, ServerSignature, ServerSigningKey, SignerError,
};
use crate::pin::PinSecret;
use crate::qr::EnrollQr;

/// Why an enrollment step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrollmentError {
    /// The device's proof of possession does not verify.
    #[error("the device's proof of key possession does not verify")]
    BadProof,
    /// The receipt is not signed by the key the QR code pinned, or is for another enrollment or key.
    #[error("the enrollment receipt does not verify under the server key from the QR code")]
    BadReceipt,
    /// Unacceptable text (user, device name or platform).
    #[error(transparent)]
    Text(#[from] DisplayError),
    /// The device key could not sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Body of `POST /v1/enrollments` (relying party or the server's own pages): start an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartEnrollment {
    /// The user at the relying party (1–128 characters).
    pub user: String,
    /// The name the user gave the device, e.g. "Work phone" (1–64 characters).
    pub device_name: String,
}

impl StartEnrollment {
    /// Checks both fields.
    pub fn validate(&self) -> Result<(), DisplayError> {
        check_text("user", &self.user, 1, 128)?;
        check_text("device name", &self.device_name, 1, 64)
    }
}

/// Response to [`StartEnrollment`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentStarted {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The `nyckel://enroll?...` URI to render as a QR code.
    pub qr: String,
    /// When the QR code stops working, Unix seconds.
    pub expires_at: u64,
}

/// State of an enrollment, as the browser sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnrollmentState {
    /// Waiting for the phone.
    Pending,
    /// The phone registered.
    Completed,
    /// The QR code expired unused.
    Expired,
}

/// Response of `GET /v1/enrollments/{id}?wait=N` (long poll).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentStatus {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// Its state.
    pub state: EnrollmentState,
    /// The new device, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// Expiry of the QR code, Unix seconds.
    pub expires_at: u64,
}

/// Body of `POST /v1/enroll` (phone): complete an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteEnrollment {
    /// From the QR code.
    pub enrollment_id: EnrollmentId,
    /// From the QR code.
    pub token: EnrollmentToken,
    /// The device's P-256 key (SEC1 uncompressed, base64url).
    pub device_public_key: DevicePublicKey,
    /// The PIN-protected secret `S` (32 bytes, base64url); only inside TLS, stored encrypted.
    pub pin_secret: PinSecret,
    /// Platform description, e.g. "Android 14" (1–64 characters).
    pub platform: String,
    /// Device signature over [`proof_bytes`].
    pub proof: DeviceSignature,
}

/// The canonical bytes of the proof of possession (tag `nyckel/v1/enroll`): enrollment id,
/// token, server key, device key, platform. `S` is deliberately not covered: the signature
/// is verifiable by anyone with the public key, and anything derived from `S` that can be
/// checked without the server would be an offline PIN oracle.
pub fn proof_bytes(
    enrollment_id: &EnrollmentId,
    token: &EnrollmentToken,
    server_key: &ServerPublicKey,
    device_key: &DevicePublicKey,
    platform: &str,
) -> Vec<u8> {
    Canonical::new(tags::ENROLL)
        .str(enrollment_id.as_str())
        .bytes(&token.0)
        .bytes(&server_key.0)
        .bytes(device_key.as_bytes())
        .str(platform)
        .finish()
}

impl CompleteEnrollment {
    /// The phone's request after scanning `qr` and generating the key and `S`.
    pub fn create(
        qr: &EnrollQr,
        signer: &dyn DeviceSigner,
        secret: &PinSecret,
        platform: &str,
    ) -> Result<Self, EnrollmentError> {
        check_text("platform", platform, 1, 64)?;
        let device_public_key = signer.public_key();
        let proof =
            signer.sign(&proof_bytes(&qr.enrollment_id, &qr.token, &qr.server_key, &device_public_key, platform))?;
        Ok(Self {
            enrollment_id: qr.enrollment_id.clone(),
            token: qr.token,
            device_public_key,
            pin_secret: secret.clone(),
            platform: platform.to_owned(),
            proof,
        })
    }

    /// The server's check of the proof of possession (the token is checked against its store).
    pub fn verify_proof(&self, server_key: &ServerPublicKey) -> Result<(), EnrollmentError> {
        check_text("platform", &self.platform, 1, 64)?;
        let bytes = proof_bytes(&self.enrollment_id, &self.token, server_key, &self.device_public_key, &self.platform);
        self.device_public_key.verify(&bytes, &self.proof).map_err(|_| EnrollmentError::BadProof)
    }
}

/// Response to [`CompleteEnrollment`]: the server's signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentReceipt {
    /// The new device.
    pub device_id: DeviceId,
    /// The user it belongs to.
    pub user: String,
    /// The name from the browser.
    pub device_name: String,
    /// Server clock, Unix seconds, so the phone can estimate its skew.
    pub server_time: u64,
    /// Ed25519 over [`receipt_bytes`].
    pub signature: ServerSignature,
}

/// The canonical bytes of a receipt (tag `nyckel/v1/enrolled`): enrollment id, device id,
/// user, device name, device key.
pub fn receipt_bytes(
    enrollment_id: &EnrollmentId,
    device_id: &DeviceId,
    user: &str,
    device_name: &str,
    device_key: &DevicePublicKey,
) -> Vec<u8> {
    Canonical::new(tags::ENROLLED)
        .str(enrollment_id.as_str())
        .str(device_id.as_str())
        .str(user)
        .str(device_name)
        .bytes(device_key.as_bytes())
        .finish()
}

impl EnrollmentReceipt {
    /// The server's receipt for a verified request.
    pub fn sign(
        request: &CompleteEnrollment,
        device_id: DeviceId,
        user: String,
        device_name: String,
        server_time: u64,
        key: &ServerSigningKey,
    ) -> Self {
        let signature = key.sign(&receipt_bytes(
            &request.enrollment_id,
            &device_id,
            &user,
            &device_name,
            &request.device_public_key,
        ));
        Self { device_id, user, device_name, server_time, signature }
    }

    /// The phone's check: signed by the key the QR code carried, for this enrollment and this device key.
    pub fn verify(&self, qr: &EnrollQr, device_key: &DevicePublicKey) -> Result<(), EnrollmentError> {
        check_text("user", &self.user, 1, 128)?;
        check_text("device name", &self.device_name, 1, 64)?;
        let bytes = receipt_bytes(&qr.enrollment_id, &self.device_id, &self.user, &self.device_name, device_key);
        qr.server_key.verify(&bytes, &self.signature).map_err(|_| EnrollmentError::BadReceipt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SoftwareDeviceKey;

    fn setup() -> (ServerSigningKey, EnrollQr, SoftwareDeviceKey) {
        let server = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
        let qr = EnrollQr {
            server_url: "https://id.example.org".into(),
            enrollment_id: EnrollmentId::new("enr-1").unwrap(),
            token: EnrollmentToken([7; 16]),
            server_key: server.public_key(),
            label: None,
        };
        (server, qr, SoftwareDeviceKey::generate().unwrap())
    }

    #[test]
    fn full_enrollment_round_trip() {
        let (server, qr, device) = setup();
        let secret = PinSecret::generate().unwrap();
        let request = CompleteEnrollment::create(&qr, &device, &secret, "Android 14").unwrap();
        let json = serde_json::to_string(&request).unwrap();
        let received: CompleteEnrollment = serde_json::from_str(&json).unwrap();
        assert_eq!(received.verify_proof(&server.public_key()), Ok(()));
        assert_eq!(received.pin_secret, secret);
        let receipt = EnrollmentReceipt::sign(
            &received,
            DeviceId::new("dev-1").unwrap(),
            "alice".into(),
            "Work phone".into(),
            1_000,
            &server,
        );
        let receipt: EnrollmentReceipt = serde_json::from_str(&serde_json::to_string(&receipt).unwrap()).unwrap();
        assert_eq!(receipt.verify(&qr, &device.public_key()), Ok(()));
    }

    #[test]
    fn proof_is_bound_to_token_server_and_platform() {
        let (server, qr, device) = setup();
        let request = CompleteEnrollment::create(&qr, &device, &PinSecret::generate().unwrap(), "iOS 17").unwrap();
        let mut other = request.clone();
        other.token.0[0] ^= 1;
        assert_eq!(other.verify_proof(&server.public_key()), Err(EnrollmentError::BadProof));
        let mut other = request.clone();
        other.platform = "iOS 18".into();
        assert_eq!(other.verify_proof(&server.public_key()), Err(EnrollmentError::BadProof));
        let mut other = request.clone();
        other.device_public_key = SoftwareDeviceKey::generate().unwrap().public_key();
        assert_eq!(other.verify_proof(&server.public_key()), Err(EnrollmentError::BadProof));
        let (other_server, _, _) = setup();
        assert_eq!(request.verify_proof(&other_server.public_key()), Err(EnrollmentError::BadProof));
        // S is not covered by the proof (see proof_bytes), so swapping it keeps the proof valid;
        // TLS protects it in transit.
        let mut other = request.clone();
        other.pin_secret = PinSecret::from_bytes([0; 32]);
        assert_eq!(other.verify_proof(&server.public_key()), Ok(()));
    }

    #[test]
    fn receipt_from_another_server_or_for_another_key_fails() {
        let (server, qr, device) = setup();
        let request = CompleteEnrollment::create(&qr, &device, &PinSecret::generate().unwrap(), "iOS 17").unwrap();
        let (impostor, _, _) = setup();
        let forged = EnrollmentReceipt::sign(
            &request,
            DeviceId::new("d").unwrap(),
            "alice".into(),
            "Phone".into(),
            1,
            &impostor,
        );
        assert_eq!(forged.verify(&qr, &device.public_key()), Err(EnrollmentError::BadReceipt));
        let good =
            EnrollmentReceipt::sign(&request, DeviceId::new("d").unwrap(), "alice".into(), "Phone".into(), 1, &server);
        let stranger = SoftwareDeviceKey::generate().unwrap().public_key();
        assert_eq!(good.verify(&qr, &stranger), Err(EnrollmentError::BadReceipt));
        let mut renamed = good.clone();
        renamed.user = "mallory".into();
        assert_eq!(renamed.verify(&qr, &device.public_key()), Err(EnrollmentError::BadReceipt));
    }

    #[test]
    fn malformed_input() {
        let (_, qr, device) = setup();
        let secret = PinSecret::generate().unwrap();
        assert!(matches!(CompleteEnrollment::create(&qr, &device, &secret, ""), Err(EnrollmentError::Text(_))));
        assert!(matches!(CompleteEnrollment::create(&qr, &device, &secret, "a\nb"), Err(EnrollmentError::Text(_))));
        assert!(StartEnrollment { user: "".into(), device_name: "x".into() }.validate().is_err());
        assert!(StartEnrollment { user: "alice".into(), device_name: "x".repeat(65) }.validate().is_err());
        assert!(serde_json::from_str::<CompleteEnrollment>(r#"{"enrollment_id":"e"}"#).is_err());
        assert!(
            serde_json::from_str::<EnrollmentStatus>(r#"{"enrollment_id":"e","state":"done","expires_at":1}"#).is_err()
        );
    }
}
