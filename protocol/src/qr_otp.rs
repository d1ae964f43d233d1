//! QR one-time passwords: the OCRA suite, the question bound to what is shown, the check
//! digits, and typed OTPs.
//!
//! An OTP is 8 digits: 6 from suite `OCRA-1:HOTP-SHA256-6:QH64` with the PIN secret `S` as
//! key, then 2 check digits that depend on the question only (not on `S`, so they are no PIN
//! oracle). They let the server tell "right question, wrong PIN" (counted) from "an OTP for
//! other details" (an altered QR code or a mistyped code; not counted as a PIN failure). The question is not
//! chosen freely by the server: it is SHA-256 over the challenge id, nonce and the hash of
//! everything the phone shows, so an OTP computed for altered details never verifies.
//! No `T` input: freshness comes from the server (single use, 120 s expiry), and an
//! offline phone with a wrong clock would otherwise produce wrong codes.

use std::fmt;

use crate::canonical::{tags, Canonical};
use crate::digest::{constant_time_eq, sha256};
use crate::display::DisplayHash;
use crate::ids::{ChallengeId, Nonce};
use crate::ocra::{OcraError, OcraInput, OcraSuite};
use crate::pin::PinSecret;

/// The OCRA suite of Nyckel QR one-time passwords (the first 6 digits).
pub const QR_OTP_SUITE: &str = "OCRA-1:HOTP-SHA256-6:QH64";

/// Digits of a QR one-time password: 6 OCRA digits and 2 check digits.
pub const OTP_DIGITS: usize = 8;

/// The OCRA digits at the start of an OTP.
pub const OCRA_DIGITS: usize = 6;

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
/// (tag `nyckel/v2/ocra-question`) of kind, challenge id, nonce and display hash.
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

/// The two check digits of a question: `u32::from_be_bytes(SHA-256(canonical(tag
/// "nyckel/v2/otp-check", Q))[0..4]) % 100`, zero-padded. Independent of `S`.
pub fn check_digits(question: &str) -> String {
    let hash = sha256(&Canonical::new(tags::OTP_CHECK).str(question).finish());
    let value = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) % 100;
    format!("{value:02}")
}

/// The OTP the phone shows: 6 OCRA digits under the secret the typed PIN unblinded, then the
/// 2 check digits. A wrong PIN gives a wrong but well-formed OTP; only the server can tell.
pub fn compute(secret: &PinSecret, question: &str) -> Result<Otp, OcraError> {
    let ocra = suite().compute(secret.expose(), &OcraInput::question(question))?;
    Ok(Otp(format!("{ocra}{}", check_digits(question))))
}

/// The server's verdict on a typed OTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpVerdict {
    /// Right question, right PIN.
    Right,
    /// Right question (the check digits match), wrong OCRA digits: count a PIN failure.
    WrongPin,
    /// The check digits are for another question: the QR code the user scanned showed other
    /// details (altered or another challenge), or the code was mistyped there.
    OtherQuestion,
}

/// The server's check of a typed OTP against one device's secret, for the challenge it
/// issued. Both parts are compared in constant time, and both are always computed.
pub fn verify(
    secret: &PinSecret,
    kind: OtpKind,
    challenge_id: &ChallengeId,
    nonce: &Nonce,
    display_hash: &DisplayHash,
    otp: &Otp,
) -> OtpVerdict {
    let q = question(kind, challenge_id, nonce, display_hash);
    let (typed_ocra, typed_check) = otp.as_str().split_at(OCRA_DIGITS);
    let check_ok = constant_time_eq(check_digits(&q).as_bytes(), typed_check.as_bytes());
    // The suite is fixed and the question is always 64 hex digits, so this cannot fail; if it
    // ever did, the OTP is treated as wrong (fail closed).
    let ocra_ok = suite().verify(secret.expose(), &OcraInput::question(&q), typed_ocra).unwrap_or(false);
    match (check_ok, ocra_ok) {
        (false, _) => OtpVerdict::OtherQuestion,
        (true, true) => OtpVerdict::Right,
        (true, false) => OtpVerdict::WrongPin,
    }
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
        let (id, nonce, hash) = (ChallengeId::new("c1").unwrap(), Nonce([1; 16]), DisplayHash([2; 32]));
        let q = question(OtpKind::Login, &id, &nonce, &hash);
        let otp = compute(&secret, &q).unwrap();
        assert_eq!(otp.as_str().len(), 8);
        let verdict =
            |secret: &PinSecret, hash: &DisplayHash, otp: &Otp| verify(secret, OtpKind::Login, &id, &nonce, hash, otp);
        assert_eq!(verdict(&secret, &hash, &otp), OtpVerdict::Right);
        assert_eq!(verdict(&PinSecret::from_bytes([7; 32]), &hash, &otp), OtpVerdict::WrongPin);
        // An OTP made for other details (an altered QR code): the check digits give it away.
        let altered = DisplayHash([3; 32]);
        let q_altered = question(OtpKind::Login, &id, &nonce, &altered);
        assert_ne!(check_digits(&q), check_digits(&q_altered), "test data: pick inputs whose check digits differ");
        let otp_for_altered = compute(&secret, &q_altered).unwrap();
        assert_eq!(verdict(&secret, &hash, &otp_for_altered), OtpVerdict::OtherQuestion);
        // The first 6 digits are plain RFC 6287 OCRA with the secret as key.
        let direct = QR_OTP_SUITE.parse::<OcraSuite>().unwrap().compute(&[6; 32], &OcraInput::question(&q)).unwrap();
        assert_eq!(&otp.as_str()[..6], direct);
        assert_eq!(&otp.as_str()[6..], check_digits(&q));
    }

    #[test]
    fn check_digits_do_not_depend_on_the_secret() {
        let q =
            question(OtpKind::Transaction, &ChallengeId::new("c9").unwrap(), &Nonce([5; 16]), &DisplayHash([6; 32]));
        let a = compute(&PinSecret::from_bytes([1; 32]), &q).unwrap();
        let b = compute(&PinSecret::from_bytes([2; 32]), &q).unwrap();
        assert_eq!(&a.as_str()[6..], &b.as_str()[6..]);
        assert_eq!(check_digits(&q).len(), 2);
        // A typo in the OCRA part is a wrong PIN; in the check part, another question.
        let secret = PinSecret::from_bytes([1; 32]);
        let (id, nonce, hash) = (ChallengeId::new("c9").unwrap(), Nonce([5; 16]), DisplayHash([6; 32]));
        let flip = |otp: &Otp, at: usize| {
            let mut digits: Vec<u8> = otp.as_str().bytes().collect();
            digits[at] = b'0' + (digits[at] - b'0' + 1) % 10;
            Otp::parse(std::str::from_utf8(&digits).unwrap()).unwrap()
        };
        assert_eq!(verify(&secret, OtpKind::Transaction, &id, &nonce, &hash, &flip(&a, 0)), OtpVerdict::WrongPin);
        assert_eq!(verify(&secret, OtpKind::Transaction, &id, &nonce, &hash, &flip(&a, 7)), OtpVerdict::OtherQuestion);
        // The kind is part of the question: a transaction code never passes as a login code.
        assert_ne!(verify(&secret, OtpKind::Login, &id, &nonce, &hash, &a), OtpVerdict::Right);
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
