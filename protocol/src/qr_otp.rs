//! QR one-time passwords: the OCRA suite, the question bound to what is shown, and typed OTPs.
//!
//! Suite `OCRA-1:HOTP-SHA256-8:QH64` with the PIN secret `S` as key. The question is not
//! chosen freely by the server: it is SHA-256 over the challenge id, nonce and the hash of
//! everything the phone shows, so an OTP computed for altered details never verifies.
//! No `T` input: freshness comes from the server (single use, 120 s expiry), and an
//! offline phone with a wrong clock would otherwise produce wrong codes.

use std::fmt;

use crate::canonical::{tags, Canonical};
use crate::digest::sha256;
use crate::display::DisplayHash;
use crate::ids::{ChallengeId, Nonce};
use crate::ocra::{OcraError, OcraInput, OcraSuite};
use crate::pin::PinSecret;

/// The OCRA suite of Nyckel QR one-time passwords.
pub const QR_OTP_SUITE: &str = "OCRA-1:HOTP-SHA256-8:QH64";

/// Digits of a QR one-time password.
pub const OTP_DIGITS: usize = 8;

/// Login or transaction confirmation; part of the question, so a code for one cannot serve the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtpKind {
    /// `nyckel://login`.
    Login,
    /// `nyckel://tx`.
    Transaction,
}

impl OtpKind {
    /// The URI host and canonical name: "login" or "tx".
    pub fn as_str(self) -> &'static str {
        match self {
            OtpKind::Login => "login",
            OtpKind::Transaction => "tx",
        }
    }
}

/// Why a typed one-time password was rejected before checking it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a one-time password is {OTP_DIGITS} digits (spaces and dashes allowed)")]
pub struct OtpFormatError;

/// An 8-digit one-time password.
#[derive(Clone, PartialEq, Eq)]
pub struct Otp(String);

impl Otp {
    /// Reads an OTP as typed: 8 digits, ignoring spaces and dashes people group with.
    pub fn parse(typed: &str) -> Result<Self, OtpFormatError> {
        if typed.len() > 32 {
            return Err(OtpFormatError);
        }
        let digits: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() == OTP_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(OtpFormatError)
        }
    }

    /// The 8 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Otp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Otp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Otp(<redacted>)")
    }
}

/// The OCRA question (64 lower-case hex digits): SHA-256 of the canonical bytes
/// (tag `nyckel/v1/ocra-question`) of kind, challenge id, nonce and display hash.
pub fn question(kind: OtpKind, challenge_id: &ChallengeId, nonce: &Nonce, display_hash: &DisplayHash) -> String {
    let bytes = Canonical::new(tags::OCRA_QUESTION)
        .str(kind.as_str())
        .str(challenge_id.as_str())
        .bytes(&nonce.0)
        .bytes(&display_hash.0)
        .finish();
    sha256(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The parsed [`QR_OTP_SUITE`].
pub fn suite() -> OcraSuite {
    OcraSuite::nyckel_qr_otp()
}

/// The OTP the phone shows: OCRA under the secret the typed PIN unblinded. A wrong PIN
/// gives a wrong but well-formed OTP; only the server can tell.
pub fn compute(secret: &PinSecret, question: &str) -> Result<Otp, OcraError> {
    suite().compute(secret.expose(), &OcraInput::question(question)).map(Otp)
}

/// The server's check of a typed OTP against one device's secret, in constant time.
pub fn verify(secret: &PinSecret, question: &str, otp: &Otp) -> Result<bool, OcraError> {
    suite().verify(secret.expose(), &OcraInput::question(question), otp.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_suite_is_the_documented_one() {
        assert_eq!(suite(), QR_OTP_SUITE.parse::<OcraSuite>().unwrap());
    }

    #[test]
    fn question_binds_every_input() {
        let id = ChallengeId::new("c1").unwrap();
        let nonce = Nonce([1; 16]);
        let hash = DisplayHash([2; 32]);
        let q = question(OtpKind::Login, &id, &nonce, &hash);
        assert_eq!(q.len(), 64);
        assert_ne!(q, question(OtpKind::Transaction, &id, &nonce, &hash));
        assert_ne!(q, question(OtpKind::Login, &ChallengeId::new("c2").unwrap(), &nonce, &hash));
        assert_ne!(q, question(OtpKind::Login, &id, &Nonce([3; 16]), &hash));
        assert_ne!(q, question(OtpKind::Login, &id, &nonce, &DisplayHash([4; 32])));
    }

    #[test]
    fn compute_and_verify() {
        let secret = PinSecret::from_bytes([6; 32]);
        let q = question(OtpKind::Login, &ChallengeId::new("c1").unwrap(), &Nonce([1; 16]), &DisplayHash([2; 32]));
        let otp = compute(&secret, &q).unwrap();
        assert_eq!(otp.as_str().len(), 8);
        assert_eq!(verify(&secret, &q, &otp), Ok(true));
        assert_eq!(verify(&PinSecret::from_bytes([7; 32]), &q, &otp), Ok(false));
        // It is plain RFC 6287 OCRA with the secret as key, so any OCRA implementation agrees.
        let direct = QR_OTP_SUITE.parse::<OcraSuite>().unwrap().compute(&[6; 32], &OcraInput::question(&q)).unwrap();
        assert_eq!(otp.as_str(), direct);
    }

    #[test]
    fn typed_otp_forms() {
        assert_eq!(Otp::parse("1234 5678").unwrap().as_str(), "12345678");
        assert_eq!(Otp::parse("1234-5678").unwrap().as_str(), "12345678");
        for bad in ["", "1234567", "123456789", "1234567a", "１２３４５６７８", &"1".repeat(40)] {
            assert_eq!(Otp::parse(bad), Err(OtpFormatError), "{bad:?}");
        }
    }
}
