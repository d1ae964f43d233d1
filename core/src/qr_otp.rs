//! QR one-time passwords, fully offline: read a `nyckel://login|tx` code, show it, turn the PIN into 8 digits.
//!
//! The OTP is OCRA under `S' = E XOR KDF(PIN)` over a question derived from exactly what
//! is shown (PROTOCOL.md §5.3). A wrong PIN gives a wrong but well-formed OTP; only the
//! server can tell. The OTP is returned, never stored or logged (§4.4 rule 3).

use nyckel_protocol::{ChallengeDisplay, ChallengeId, OcraError, OtpKind, OtpQr, Pin, PinSecret, QrError, QrPayload};

use crate::companion::{Companion, CompanionError};
use crate::history::{HistoryDecision, HistoryKind, HistoryRecord, HistoryResult, ReceiptStatus};
use crate::registration::RegistrationSummary;
use crate::vault::registrations::Registration;

/// Why no one-time password could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrOtpError {
    /// The scanned bytes are not UTF-8 text.
    #[error("the scanned code is not text")]
    NotText,
    /// Not a valid Nyckel QR payload.
    #[error("not a valid Nyckel code: {0}")]
    Payload(#[from] QrError),
    /// A registration code, not a sign-in or transaction code.
    #[error("this is a registration code, not a sign-in code")]
    NotOtpCode,
    /// No registration has the server key the code names.
    #[error("this code is for a service you have not registered with (server key {key_id})")]
    NoRegistration {
        /// The server key id from the code.
        key_id: String,
    },
    /// Several registrations share the code's server; the caller must pick one.
    #[error("several registrations can answer this code ({}); choose one", candidates.join(", "))]
    Ambiguous {
        /// Their ids.
        candidates: Vec<String>,
    },
    /// The chosen registration is not with the server the code names.
    #[error("registration {0} is not with the server this code is for")]
    WrongRegistration(String),
    /// The OCRA computation failed.
    #[error(transparent)]
    Ocra(#[from] OcraError),
}

/// What to show before asking the PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpPrompt {
    /// Login or transaction confirmation.
    pub kind: OtpKind,
    /// The challenge.
    pub challenge_id: ChallengeId,
    /// Service, action and the transaction lines in order — exactly what the OTP is bound to.
    pub display: ChallengeDisplay,
    /// The registrations that can answer (same server key); usually one.
    pub registrations: Vec<RegistrationSummary>,
}

/// Reads a login or transaction code.
pub fn parse_otp_code(payload: &str) -> Result<OtpQr, QrOtpError> {
    match QrPayload::parse(payload.trim())? {
        QrPayload::Otp(qr) => Ok(qr),
        QrPayload::Enroll(_) => Err(QrOtpError::NotOtpCode),
    }
}

/// The registrations whose pinned server key the code names.
pub fn candidates<'a>(registrations: &'a [Registration], qr: &OtpQr) -> Vec<&'a Registration> {
    registrations.iter().filter(|registration| registration.server_key.key_id() == qr.server_key_id).collect()
}

/// The OTP for `qr` under `registration`'s blinded secret and the typed `pin`. Pure: the
/// PIN-unblinded secret lives only inside this call.
pub fn compute_otp(registration: &Registration, qr: &OtpQr, pin: &Pin) -> Result<String, CompanionError> {
    if registration.server_key.key_id() != qr.server_key_id {
        return Err(QrOtpError::WrongRegistration(registration.id.clone()).into());
    }
    let secret = registration.pin.unblind(pin)?;
    otp_with_secret(qr, &secret)
}

/// The OTP for `qr` under `S` however it was unlocked (PIN or biometrics): the same digits
/// either way.
pub(crate) fn otp_with_secret(qr: &OtpQr, secret: &PinSecret) -> Result<String, CompanionError> {
    let otp = nyckel_protocol::qr_otp::compute(secret, &qr.question()).map_err(QrOtpError::from)?;
    Ok(otp.as_str().to_owned())
}

/// The registration that answers `qr`: the one named, or the only candidate.
pub(crate) fn pick_registration(
    companion: &Companion,
    qr: &OtpQr,
    registration_id: Option<&str>,
) -> Result<Registration, CompanionError> {
    match registration_id {
        Some(id) => companion.registration(id),
        None => {
            let registrations = companion.vault.registrations()?;
            match candidates(&registrations, qr).as_slice() {
                [] => Err(QrOtpError::NoRegistration { key_id: qr.server_key_id.to_string() }.into()),
                [one] => Ok((*one).clone()),
                many => {
                    let candidates = many.iter().map(|registration| registration.id.clone()).collect();
                    Err(QrOtpError::Ambiguous { candidates }.into())
                }
            }
        }
    }
}

impl Companion {
    /// Reads a scanned login/transaction code and says what to show and who can answer.
    pub fn read_otp_code(&self, payload: &str) -> Result<OtpPrompt, CompanionError> {
        let qr = parse_otp_code(payload)?;
        let registrations = self.vault.registrations()?;
        let found = candidates(&registrations, &qr);
        if found.is_empty() {
            return Err(QrOtpError::NoRegistration { key_id: qr.server_key_id.to_string() }.into());
        }
        Ok(OtpPrompt {
            kind: qr.kind,
            challenge_id: qr.challenge_id.clone(),
            display: qr.display(),
            registrations: found.into_iter().map(RegistrationSummary::from).collect(),
        })
    }

    /// The 8-digit one-time password for a scanned code, offline. `registration_id` may be
    /// omitted when only one registration can answer the code.
    pub fn qr_otp(&self, payload: &str, registration_id: Option<&str>, pin: &str) -> Result<String, CompanionError> {
        let qr = parse_otp_code(payload)?;
        let pin = Pin::new(pin)?;
        let registration = pick_registration(self, &qr, registration_id)?;
        let otp = compute_otp(&registration, &qr, &pin)?;
        self.record_otp(&registration, &qr)?;
        Ok(otp)
    }

    /// Keeps in the history that a code was made, and for what — never the code (§4.4 rule 3).
    pub(crate) fn record_otp(&self, registration: &Registration, qr: &OtpQr) -> Result<(), CompanionError> {
        let display = qr.display();
        self.vault.append_history(HistoryRecord {
            at: self.now(),
            registration_id: registration.id.clone(),
            server: registration.display_name(),
            device_id: registration.device_id.clone(),
            kind: HistoryKind::QrOtp,
            challenge_id: qr.challenge_id.clone(),
            service: display.context.service.clone(),
            action: display.context.action.clone(),
            display_hash: display.hash(),
            decision: HistoryDecision::Otp,
            result: HistoryResult::Offline,
            receipt: ReceiptStatus::Absent,
        })?;
        Ok(())
    }

    /// [`Companion::qr_otp`] from the raw bytes of a scanned code.
    pub fn qr_otp_scanned(
        &self,
        bytes: &[u8],
        registration_id: Option<&str>,
        pin: &str,
    ) -> Result<String, CompanionError> {
        let text = std::str::from_utf8(bytes).map_err(|_| QrOtpError::NotText)?;
        self.qr_otp(text, registration_id, pin)
    }
}
