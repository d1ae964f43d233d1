//! Device registration: the phone's proof of key possession, the server's signed receipt,
//! the key agreement that gives both the PIN secret `S` (never sent), and device fingerprints.

use serde::{Deserialize, Serialize};

use crate::agreement::{AgreementError, EphemeralKey, KeyShare};
use crate::canonical::{tags, Canonical};
use crate::digest::sha256;
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
    /// The receipt is not signed by the key the QR code pinned, or is for another enrollment,
    /// server URL, device key or key share.
    #[error("the enrollment receipt does not verify under the server key from the QR code")]
    BadReceipt,
    /// The phone completed the enrollment at a URL that is not this server's (a relayed QR code).
    #[error("the enrollment was completed at another server URL")]
    WrongServer,
    /// The key agreement failed.
    #[error(transparent)]
    Agreement(#[from] AgreementError),
    /// Unacceptable text (user, device name or platform).
    #[error(transparent)]
    Text(#[from] DisplayError),
    /// The device key could not sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Body of `POST /v1/enrollments` (relying party or the server's own pages): start an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StartEnrollment {
    /// The user at the relying party (1–128 characters).
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 128)))]
    pub user: String,
    /// The name the user gave the device, e.g. "Work phone" (1–64 characters).
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 64)))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EnrollmentStatus {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// Its state.
    pub state: EnrollmentState,
    /// The new device, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    /// The device's name (as given at the start), once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The platform the phone reported, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The device key's [`device_fingerprint`], once completed, for the browser to show next to
    /// the one the phone shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Expiry of the QR code, Unix seconds.
    pub expires_at: u64,
}

/// Body of `POST /v1/enroll` (phone): complete an enrollment. Carries the phone's X25519
/// share, never `S`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteEnrollment {
    /// From the QR code.
    pub enrollment_id: EnrollmentId,
    /// From the QR code.
    pub token: EnrollmentToken,
    /// The `u` from the QR code: the URL the phone is talking to. A server refuses a
    /// request naming another URL ([`EnrollmentError::WrongServer`]).
    pub server_url: String,
    /// The device's P-256 key (SEC1 uncompressed, base64url).
    pub device_public_key: DevicePublicKey,
    /// The phone's X25519 share for deriving `S`.
    pub key_share: KeyShare,
    /// Platform description, e.g. "Android 14" (1–64 characters).
    pub platform: String,
    /// Device signature over [`proof_bytes`].
    pub proof: DeviceSignature,
}

/// The canonical bytes of the proof of possession (tag `nyckel/v2/enroll`): enrollment id,
/// token, server URL, server key, device key, the phone's key share, platform.
pub fn proof_bytes(
    enrollment_id: &EnrollmentId,
    token: &EnrollmentToken,
    server_url: &str,
    server_key: &ServerPublicKey,
    device_key: &DevicePublicKey,
    key_share: &KeyShare,
    platform: &str,
) -> Vec<u8> {
    Canonical::new(tags::ENROLL)
        .str(enrollment_id.as_str())
        .bytes(&token.0)
        .str(server_url)
        .bytes(&server_key.0)
        .bytes(device_key.as_bytes())
        .bytes(&key_share.0)
        .str(platform)
        .finish()
}

impl CompleteEnrollment {
    /// The phone's request after scanning `qr`, with the device key and a fresh X25519 share.
    pub fn create(
        qr: &EnrollQr,
        signer: &dyn DeviceSigner,
        key_share: &KeyShare,
        platform: &str,
    ) -> Result<Self, EnrollmentError> {
        check_text("platform", platform, 1, 64)?;
        let device_public_key = signer.public_key();
        let proof = signer.sign(&proof_bytes(
            &qr.enrollment_id,
            &qr.token,
            &qr.server_url,
            &qr.server_key,
            &device_public_key,
            key_share,
            platform,
        ))?;
        Ok(Self {
            enrollment_id: qr.enrollment_id.clone(),
            token: qr.token,
            server_url: qr.server_url.clone(),
            device_public_key,
            key_share: *key_share,
            platform: platform.to_owned(),
            proof,
        })
    }

    /// The server's check of the proof of possession (the token is checked against its store).
    /// [`EnrollmentError::BadProof`] if the signature fails; then
    /// [`EnrollmentError::WrongServer`] if the (genuinely signed) URL is not `own_url`, the
    /// base URL this server puts in its QR codes — a QR code relayed through another site.
    pub fn verify_proof(&self, server_key: &ServerPublicKey, own_url: &str) -> Result<(), EnrollmentError> {
        check_text("platform", &self.platform, 1, 64)?;
        let bytes = proof_bytes(
            &self.enrollment_id,
            &self.token,
            &self.server_url,
            server_key,
            &self.device_public_key,
            &self.key_share,
            &self.platform,
        );
        self.device_public_key.verify(&bytes, &self.proof).map_err(|_| EnrollmentError::BadProof)?;
        if self.server_url != own_url {
            return Err(EnrollmentError::WrongServer);
        }
        Ok(())
    }
}

/// Response to [`CompleteEnrollment`]: the server's signed receipt and its X25519 share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentReceipt {
    /// The new device.
    pub device_id: DeviceId,
    /// The user it belongs to (signed; what the phone shows).
    pub user: String,
    /// The organisation (tenant) the user belongs to (signed; what the phone shows).
    pub organisation: String,
    /// The name from the browser.
    pub device_name: String,
    /// The server's X25519 share for deriving `S`.
    pub key_share: KeyShare,
    /// Server clock, Unix seconds, so the phone can estimate its skew (not signed).
    pub server_time: u64,
    /// Ed25519 over [`receipt_bytes`].
    pub signature: ServerSignature,
}

/// The fields the receipt signature and the `S` transcript cover.
struct ReceiptFields<'a> {
    enrollment_id: &'a EnrollmentId,
    server_url: &'a str,
    device_id: &'a DeviceId,
    user: &'a str,
    organisation: &'a str,
    device_name: &'a str,
    device_key: &'a DevicePublicKey,
    phone_share: &'a KeyShare,
    server_share: &'a KeyShare,
}

impl ReceiptFields<'_> {
    fn encode(&self, tag: &str) -> Vec<u8> {
        Canonical::new(tag)
            .str(self.enrollment_id.as_str())
            .str(self.server_url)
            .str(self.device_id.as_str())
            .str(self.user)
            .str(self.organisation)
            .str(self.device_name)
            .bytes(self.device_key.as_bytes())
            .bytes(&self.phone_share.0)
            .bytes(&self.server_share.0)
            .finish()
    }
}

/// The canonical bytes of a receipt (tag `nyckel/v2/enrolled`): enrollment id, server URL,
/// device id, user, organisation, device name, device key, phone share, server share.
/// The transcript hashed into the HKDF salt of `S` is the same fields under the tag
/// `nyckel/v2/enroll-transcript` ([`transcript_bytes`]).
#[allow(clippy::too_many_arguments)]
pub fn receipt_bytes(
    enrollment_id: &EnrollmentId,
    server_url: &str,
    device_id: &DeviceId,
    user: &str,
    organisation: &str,
    device_name: &str,
    device_key: &DevicePublicKey,
    phone_share: &KeyShare,
    server_share: &KeyShare,
) -> Vec<u8> {
    ReceiptFields {
        enrollment_id,
        server_url,
        device_id,
        user,
        organisation,
        device_name,
        device_key,
        phone_share,
        server_share,
    }
    .encode(tags::ENROLLED)
}

/// The key-agreement transcript of an enrollment (tag `nyckel/v2/enroll-transcript`), same
/// fields as [`receipt_bytes`].
#[allow(clippy::too_many_arguments)]
pub fn transcript_bytes(
    enrollment_id: &EnrollmentId,
    server_url: &str,
    device_id: &DeviceId,
    user: &str,
    organisation: &str,
    device_name: &str,
    device_key: &DevicePublicKey,
    phone_share: &KeyShare,
    server_share: &KeyShare,
) -> Vec<u8> {
    ReceiptFields {
        enrollment_id,
        server_url,
        device_id,
        user,
        organisation,
        device_name,
        device_key,
        phone_share,
        server_share,
    }
    .encode(tags::ENROLL_TRANSCRIPT)
}

fn check_receipt_text(user: &str, organisation: &str, device_name: &str) -> Result<(), EnrollmentError> {
    check_text("user", user, 1, 128)?;
    check_text("organisation", organisation, 1, 128)?;
    check_text("device name", device_name, 1, 64)?;
    Ok(())
}

impl EnrollmentReceipt {
    /// The server's receipt for a request whose proof verified: makes the server's own
    /// ephemeral share, derives `S` over the transcript, signs. Returns the receipt and `S`
    /// (which the server stores encrypted; it is never sent).
    pub fn issue(
        request: &CompleteEnrollment,
        device_id: DeviceId,
        user: String,
        organisation: String,
        device_name: String,
        server_time: u64,
        key: &ServerSigningKey,
    ) -> Result<(Self, PinSecret), EnrollmentError> {
        check_receipt_text(&user, &organisation, &device_name)?;
        let (server_key, server_share) = EphemeralKey::generate()?;
        let fields = ReceiptFields {
            enrollment_id: &request.enrollment_id,
            server_url: &request.server_url,
            device_id: &device_id,
            user: &user,
            organisation: &organisation,
            device_name: &device_name,
            device_key: &request.device_public_key,
            phone_share: &request.key_share,
            server_share: &server_share,
        };
        let secret = server_key.agree(&request.key_share, &fields.encode(tags::ENROLL_TRANSCRIPT))?;
        let signature = key.sign(&fields.encode(tags::ENROLLED));
        let receipt =
            Self { device_id, user, organisation, device_name, key_share: server_share, server_time, signature };
        Ok((receipt, secret))
    }

    /// The phone's check and derivation: the receipt must be signed by the key the QR code
    /// carried, over the QR's URL and enrollment, this device key, the phone's own share and
    /// the server's share; then `S` is derived (consuming `phone_key`).
    pub fn accept(
        &self,
        qr: &EnrollQr,
        device_key: &DevicePublicKey,
        phone_key: EphemeralKey,
        phone_share: &KeyShare,
    ) -> Result<PinSecret, EnrollmentError> {
        check_receipt_text(&self.user, &self.organisation, &self.device_name)?;
        let fields = ReceiptFields {
            enrollment_id: &qr.enrollment_id,
            server_url: &qr.server_url,
            device_id: &self.device_id,
            user: &self.user,
            organisation: &self.organisation,
            device_name: &self.device_name,
            device_key,
            phone_share,
            server_share: &self.key_share,
        };
        qr.server_key
            .verify(&fields.encode(tags::ENROLLED), &self.signature)
            .map_err(|_| EnrollmentError::BadReceipt)?;
        Ok(phone_key.agree(&self.key_share, &fields.encode(tags::ENROLL_TRANSCRIPT))?)
    }
}

/// A short, human-comparable fingerprint of a device key, e.g. `7KQ4-M2XA`: RFC 4648 base32
/// of the first 5 bytes of SHA-256 over the canonical bytes (tag `nyckel/v2/device-fingerprint`)
/// of the SEC1 key, in two groups of four. The phone and the browser both show it.
pub fn device_fingerprint(key: &DevicePublicKey) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = sha256(&Canonical::new(tags::DEVICE_FINGERPRINT).bytes(key.as_bytes()).finish());
    let bits = hash[..5].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let mut out = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            out.push('-');
        }
        let index = (bits >> (35 - 5 * i)) & 31;
        out.push(char::from(ALPHABET[index as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SoftwareDeviceKey;

    const URL: &str = "https://id.example.org";

    fn setup() -> (ServerSigningKey, EnrollQr, SoftwareDeviceKey) {
        let server = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
        let qr = EnrollQr {
            server_url: URL.into(),
            enrollment_id: EnrollmentId::new("enr-1").unwrap(),
            token: EnrollmentToken([7; 16]),
            server_key: server.public_key(),
            label: None,
        };
        (server, qr, SoftwareDeviceKey::generate().unwrap())
    }

    fn issue(request: &CompleteEnrollment, server: &ServerSigningKey) -> (EnrollmentReceipt, PinSecret) {
        EnrollmentReceipt::issue(
            request,
            DeviceId::new("dev-1").unwrap(),
            "alice".into(),
            "Acme AB".into(),
            "Work phone".into(),
            1_000,
            server,
        )
        .unwrap()
    }

    #[test]
    fn full_enrollment_round_trip_agrees_on_s_without_sending_it() {
        let (server, qr, device) = setup();
        let (phone_key, phone_share) = EphemeralKey::generate().unwrap();
        let request = CompleteEnrollment::create(&qr, &device, &phone_share, "Android 14").unwrap();
        let json = serde_json::to_string(&request).unwrap();
        let received: CompleteEnrollment = serde_json::from_str(&json).unwrap();
        assert_eq!(received.verify_proof(&server.public_key(), URL), Ok(()));
        let (receipt, server_secret) = issue(&received, &server);
        let receipt_json = serde_json::to_string(&receipt).unwrap();
        let receipt: EnrollmentReceipt = serde_json::from_str(&receipt_json).unwrap();
        let phone_secret = receipt.accept(&qr, &device.public_key(), phone_key, &phone_share).unwrap();
        assert_eq!(phone_secret, server_secret);
        let s_b64 = crate::b64::encode(server_secret.expose());
        assert!(!json.contains(&s_b64) && !receipt_json.contains(&s_b64), "S never travels");
        assert!(!json.contains("pin_secret"));
    }

    #[test]
    fn proof_is_bound_to_token_url_server_share_and_platform() {
        let (server, qr, device) = setup();
        let (_, share) = EphemeralKey::generate().unwrap();
        let request = CompleteEnrollment::create(&qr, &device, &share, "iOS 17").unwrap();
        let key = server.public_key();
        let mut other = request.clone();
        other.token.0[0] ^= 1;
        assert_eq!(other.verify_proof(&key, URL), Err(EnrollmentError::BadProof));
        let mut other = request.clone();
        other.platform = "iOS 18".into();
        assert_eq!(other.verify_proof(&key, URL), Err(EnrollmentError::BadProof));
        let mut other = request.clone();
        other.device_public_key = SoftwareDeviceKey::generate().unwrap().public_key();
        assert_eq!(other.verify_proof(&key, URL), Err(EnrollmentError::BadProof));
        let (other_server, _, _) = setup();
        assert_eq!(request.verify_proof(&other_server.public_key(), URL), Err(EnrollmentError::BadProof));
        // A relay that swaps the phone's share for its own breaks the proof.
        let mut other = request.clone();
        other.key_share = EphemeralKey::generate().unwrap().1;
        assert_eq!(other.verify_proof(&key, URL), Err(EnrollmentError::BadProof));
        // A relay that rewrites the URL to the real server's breaks the proof too.
        let mut other = request.clone();
        other.server_url = "https://evil.example".into();
        assert_eq!(other.verify_proof(&key, "https://evil.example"), Err(EnrollmentError::BadProof));
    }

    #[test]
    fn proof_replayed_at_another_server_url_is_refused() {
        // The QR code was shown by a phishing site that put its own URL in `u`; the phone
        // signs that URL, and the real server sees it is not its own.
        let (server, mut qr, device) = setup();
        qr.server_url = "https://id.example.org.evil.example".into();
        let (_, share) = EphemeralKey::generate().unwrap();
        let request = CompleteEnrollment::create(&qr, &device, &share, "iOS 17").unwrap();
        assert_eq!(request.verify_proof(&server.public_key(), URL), Err(EnrollmentError::WrongServer));
        assert_eq!(request.verify_proof(&server.public_key(), &qr.server_url), Ok(()));
    }

    #[test]
    fn receipt_is_bound_to_server_url_shares_key_and_names() {
        let (server, qr, device) = setup();
        let fresh = || EphemeralKey::generate().unwrap();
        let accept = |receipt: &EnrollmentReceipt, qr: &EnrollQr, key: &DevicePublicKey| {
            let (phone_key, phone_share) = fresh();
            // The receipt below was made for a different phone share, so first check the
            // real flow with a matching one.
            receipt.accept(qr, key, phone_key, &phone_share)
        };
        let (phone_key, phone_share) = fresh();
        let request = CompleteEnrollment::create(&qr, &device, &phone_share, "iOS 17").unwrap();
        let (good, _) = issue(&request, &server);

        // Another phone share (e.g. a relay that swapped the phone's share in the request).
        assert_eq!(accept(&good, &qr, &device.public_key()), Err(EnrollmentError::BadReceipt));

        // A relay that swaps the server's share in the receipt.
        let mut swapped = good.clone();
        swapped.key_share = fresh().1;
        assert_eq!(
            swapped.accept(&qr, &device.public_key(), fresh().0, &phone_share),
            Err(EnrollmentError::BadReceipt)
        );

        // A receipt for another u (the QR the phone scanned named another URL).
        let mut other_qr = qr.clone();
        other_qr.server_url = "https://other.example".into();
        assert_eq!(
            good.accept(&other_qr, &device.public_key(), fresh().0, &phone_share),
            Err(EnrollmentError::BadReceipt)
        );

        // Another device key, another user or organisation, another server key.
        let stranger = SoftwareDeviceKey::generate().unwrap().public_key();
        assert_eq!(good.accept(&qr, &stranger, fresh().0, &phone_share), Err(EnrollmentError::BadReceipt));
        let mut renamed = good.clone();
        renamed.user = "mallory".into();
        assert_eq!(
            renamed.accept(&qr, &device.public_key(), fresh().0, &phone_share),
            Err(EnrollmentError::BadReceipt)
        );
        let mut moved = good.clone();
        moved.organisation = "Evil Corp".into();
        assert_eq!(moved.accept(&qr, &device.public_key(), fresh().0, &phone_share), Err(EnrollmentError::BadReceipt));
        let (impostor, _, _) = setup();
        let (forged, _) = issue(&request, &impostor);
        assert_eq!(forged.accept(&qr, &device.public_key(), fresh().0, &phone_share), Err(EnrollmentError::BadReceipt));

        // The untouched receipt with the matching key works.
        assert!(good.accept(&qr, &device.public_key(), phone_key, &phone_share).is_ok());
    }

    #[test]
    fn fingerprint_shape_and_stability() {
        let key = SoftwareDeviceKey::generate().unwrap().public_key();
        let fp = device_fingerprint(&key);
        assert_eq!(fp.len(), 9);
        assert_eq!(&fp[4..5], "-");
        assert!(fp.chars().filter(|&c| c != '-').all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        assert_eq!(fp, device_fingerprint(&key));
        let other = SoftwareDeviceKey::generate().unwrap().public_key();
        assert_ne!(fp, device_fingerprint(&other));
    }

    #[test]
    fn malformed_input() {
        let (server, qr, device) = setup();
        let (_, share) = EphemeralKey::generate().unwrap();
        assert!(matches!(CompleteEnrollment::create(&qr, &device, &share, ""), Err(EnrollmentError::Text(_))));
        assert!(matches!(CompleteEnrollment::create(&qr, &device, &share, "a\nb"), Err(EnrollmentError::Text(_))));
        assert!(StartEnrollment { user: "".into(), device_name: "x".into() }.validate().is_err());
        assert!(StartEnrollment { user: "alice".into(), device_name: "x".repeat(65) }.validate().is_err());
        assert!(serde_json::from_str::<CompleteEnrollment>(r#"{"enrollment_id":"e"}"#).is_err());
        assert!(
            serde_json::from_str::<EnrollmentStatus>(r#"{"enrollment_id":"e","state":"done","expires_at":1}"#).is_err()
        );
        let request = CompleteEnrollment::create(&qr, &device, &share, "iOS 17").unwrap();
        let mut json = serde_json::to_value(&request).unwrap();
        // The v1 field is gone: a body that still carries S is refused.
        json["pin_secret"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
        assert!(serde_json::from_value::<CompleteEnrollment>(json.clone()).is_err());
        let mut json = serde_json::to_value(&request).unwrap();
        json["key_share"] = crate::b64::encode(&[1; 31]).into();
        assert!(serde_json::from_value::<CompleteEnrollment>(json).is_err());
        let (receipt, _) = issue(&request, &server);
        let mut json = serde_json::to_value(&receipt).unwrap();
        json.as_object_mut().unwrap().remove("organisation");
        assert!(serde_json::from_value::<EnrollmentReceipt>(json).is_err());
        let bad_org = EnrollmentReceipt::issue(
            &request,
            DeviceId::new("d").unwrap(),
            "alice".into(),
            "Acme\u{202E}".into(),
            "Phone".into(),
            1,
            &server,
        );
        assert!(matches!(bad_org, Err(EnrollmentError::Text(_))));
        let status: EnrollmentStatus = serde_json::from_str(
            r#"{"enrollment_id":"e","state":"completed","device_id":"d","platform":"iOS","fingerprint":"AAAA-BBBB","expires_at":1}"#,
        )
        .unwrap();
        assert_eq!(status.fingerprint.as_deref(), Some("AAAA-BBBB"));
    }
}
