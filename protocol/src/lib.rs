//! Nyckel wire protocol v2 (served under the HTTP prefix `/v1`), shared by the phone core and
//! the server; no I/O.
//!
//! - [`canonical`]: the byte encoding of everything signed, MACed or hashed;
//! - [`keys`], [`digest`], [`b64`]: algorithms and encodings;
//! - [`ids`], [`policy`]: identifiers and protocol constants;
//! - [`pin`], [`pin_check`]: the PIN-protected secret without an offline oracle;
//! - [`display`], [`challenge`], [`answer`], [`request`]: push challenges and bound answers;
//! - [`agreement`]: X25519 key agreement deriving `S` (never sent);
//! - [`enrollment`]: device registration and device fingerprints;
//! - [`rekey`]: PIN change with a fresh `S`;
//! - [`new_device`]: adding a phone by a registered phone's approval, retiring devices;
//! - [`key_rotation`]: server key rotation chains;
//! - [`ocra`], [`qr_otp`], [`qr`]: RFC 6287 OCRA, QR one-time passwords and QR payload URIs;
//! - [`wire`]: the JSON bodies of every endpoint and the error format (with the `schema` feature,
//!   their JSON Schemas through `schemars`, for the server's OpenAPI document).
//!
//! The specification is docs/PROTOCOL.md.

pub mod agreement;
pub mod answer;
pub mod b64;
pub mod canonical;
pub mod challenge;
pub mod digest;
pub mod display;
pub mod enrollment;
pub mod ids;
pub mod key_rotation;
pub mod keys;
pub mod new_device;
pub mod ocra;
pub mod pin;
pub mod pin_check;
pub mod policy;
pub mod qr;
pub mod qr_otp;
pub mod rekey;
pub mod request;
#[cfg(feature = "schema")]
mod schema;
pub mod wire;

pub use agreement::{AgreementError, EphemeralKey, KeyShare};
pub use answer::{Answer, AnswerError, Decision};
pub use canonical::Canonical;
pub use challenge::{ChallengeError, NewDeviceDetails, PushChallenge, PushKind, SignedChallenge};
pub use display::{
    ChallengeDisplay, DisplayContext, DisplayError, DisplayHash, NumberMatch, NumberMatchMode, NumberPrompt,
    TransactionLine,
};
pub use enrollment::{device_fingerprint, CompleteEnrollment, EnrollmentError, EnrollmentReceipt};
pub use ids::{ChallengeId, DeviceId, EnrollmentId, EnrollmentToken, IdError, Nonce};
pub use key_rotation::{KeyRotation, KeyRotationError};
pub use keys::{
    DevicePublicKey, DeviceSignature, DeviceSigner, KeyError, KeyId, ServerPublicKey, ServerSignature,
    ServerSigningKey, SignerError, SoftwareDeviceKey,
};
pub use ocra::{OcraError, OcraInput, OcraPin, OcraSuite, SuiteError};
pub use pin::{BlindedPinSecret, MacKey, Pin, PinError, PinKdf, PinMac, PinSecret};
pub use pin_check::{PinCheck, PinCheckOutcome};
pub use qr::{EnrollQr, OtpQr, QrError, QrPayload};
pub use qr_otp::{Otp, OtpKind, OtpVerdict};
pub use rekey::{Rekey, RekeyError, Rekeyed};
pub use request::{RequestAuth, RequestAuthError};
pub use wire::error::{ErrorBody, ErrorCode};
pub use wire::relying_party::ChallengeState;
