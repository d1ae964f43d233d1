//! One-time password generation (RFC 4226 HOTP, RFC 6238 TOTP, Steam) over totp-rs.

use serde::{Deserialize, Serialize};

use crate::secret::SecretBytes;

/// The HMAC hash of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Algorithm {
    /// HMAC-SHA1, the default of every authenticator.
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl Algorithm {
    /// The name used in `otpauth://` URIs.
    pub fn as_uri_name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

/// How codes of an account are counted and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OtpKind {
    /// Time-based: a new code every `period` seconds.
    Totp {
        /// Seconds per code; never zero.
        period: u64,
    },
    /// Counter-based: the next code uses `counter`, then the counter moves on.
    Hotp {
        /// The counter of the next code to hand out.
        counter: u64,
    },
    /// Steam Guard: TOTP with 30 s periods, SHA1 and a 5-character alphabet code.
    Steam,
}

/// Everything that decides which code an account shows, except its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OtpParams {
    /// Time- or counter-based.
    pub kind: OtpKind,
    /// The HMAC hash (Steam always uses SHA1).
    pub algorithm: Algorithm,
    /// Number of digits: 6 to 8 (Steam: 5 characters).
    pub digits: u8,
}

/// Smallest number of digits an RFC 4226 code may have.
pub const MIN_DIGITS: u8 = 6;
/// Largest number of digits accepted (RFC 4226 allows 6–8).
pub const MAX_DIGITS: u8 = 8;
/// Digits of a Steam code.
pub const STEAM_DIGITS: u8 = 5;
/// The TOTP period when none is given.
pub const DEFAULT_PERIOD: u64 = 30;

/// Why a set of parameters can produce no code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// Digits outside 6–8.
    #[error("{0} digits is not supported (use 6, 7 or 8)")]
    Digits(u8),
    /// A TOTP period of zero seconds.
    #[error("the period must be at least one second")]
    ZeroPeriod,
}

impl OtpParams {
    /// A TOTP with the given settings.
    pub fn totp(algorithm: Algorithm, digits: u8, period: u64) -> Result<Self, ParamsError> {
        Self { kind: OtpKind::Totp { period }, algorithm, digits }.validated()
    }

    /// An HOTP with the given settings, starting at `counter`.
    pub fn hotp(algorithm: Algorithm, digits: u8, counter: u64) -> Result<Self, ParamsError> {
        Self { kind: OtpKind::Hotp { counter }, algorithm, digits }.validated()
    }

    /// A Steam Guard account.
    pub fn steam() -> Self {
        Self { kind: OtpKind::Steam, algorithm: Algorithm::Sha1, digits: STEAM_DIGITS }
    }

    /// Checks the invariants that code generation relies on.
    pub fn validated(self) -> Result<Self, ParamsError> {
        match self.kind {
            OtpKind::Steam => {
                if self.digits != STEAM_DIGITS {
                    return Err(ParamsError::Digits(self.digits));
                }
            }
            OtpKind::Totp { period } => {
                if period == 0 {
                    return Err(ParamsError::ZeroPeriod);
                }
                check_digits(self.digits)?;
            }
            OtpKind::Hotp { .. } => check_digits(self.digits)?,
        }
        Ok(self)
    }

    /// The seconds per code of a time-based account.
    pub fn period(&self) -> Option<u64> {
        match self.kind {
            OtpKind::Totp { period } => Some(period),
            OtpKind::Steam => Some(DEFAULT_PERIOD),
            OtpKind::Hotp { .. } => None,
        }
    }
}

fn check_digits(digits: u8) -> Result<(), ParamsError> {
    if (MIN_DIGITS..=MAX_DIGITS).contains(&digits) {
        Ok(())
    } else {
        Err(ParamsError::Digits(digits))
    }
}

/// A code to show, with how long it stays valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The code as the user types it.
    pub code: String,
    /// Seconds until a time-based code changes; `None` for HOTP.
    pub seconds_left: Option<u64>,
    /// The period of a time-based code; `None` for HOTP.
    pub period: Option<u64>,
}

/// The code for `moving_factor`: the counter for HOTP, the Unix time in seconds for TOTP and Steam.
///
/// `params` must have passed [`OtpParams::validated`]; invalid ones yield an error, never a panic.
pub fn generate(secret: &SecretBytes, params: &OtpParams, moving_factor: u64) -> Result<Code, ParamsError> {
    let params = params.validated()?;
    let (algorithm, step) = match params.kind {
        OtpKind::Totp { period } => (to_totp_rs(params.algorithm), period),
        // A step of one second turns totp-rs's time/step into the HOTP counter itself.
        OtpKind::Hotp { .. } => (to_totp_rs(params.algorithm), 1),
        OtpKind::Steam => (totp_rs::Algorithm::Steam, DEFAULT_PERIOD),
    };
    let totp = totp_rs::Builder::new()
        .with_algorithm(algorithm)
        .with_digits(params.digits)
        .with_step_duration(step)
        .with_secret(secret.expose().to_vec())
        .build_noncompliant();
    let code = totp.generate(moving_factor).to_string();
    let timing = params.period().map(|period| period - moving_factor % period);
    Ok(Code { code, seconds_left: timing, period: params.period() })
}

fn to_totp_rs(algorithm: Algorithm) -> totp_rs::Algorithm {
    match algorithm {
        Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
        Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
        Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(secret: &[u8], params: OtpParams, factor: u64) -> String {
        generate(&SecretBytes::new(secret.to_vec()), &params, factor).unwrap().code
    }

    /// RFC 4226 appendix D: HOTP values for counters 0–9.
    #[test]
    fn rfc4226_appendix_d() {
        let expected =
            ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, want) in expected.iter().enumerate() {
            let params = OtpParams::hotp(Algorithm::Sha1, 6, counter as u64).unwrap();
            assert_eq!(code(b"12345678901234567890", params, counter as u64), *want, "counter {counter}");
        }
    }

    /// RFC 6238 appendix B: all three hashes with 8 digits at the published times.
    #[test]
    fn rfc6238_appendix_b() {
        let sha1 = b"12345678901234567890".as_slice();
        let sha256 = b"12345678901234567890123456789012".as_slice();
        let sha512 = b"1234567890123456789012345678901234567890123456789012345678901234".as_slice();
        let table: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, want1, want256, want512) in table {
            let p = |a| OtpParams::totp(a, 8, 30).unwrap();
            assert_eq!(code(sha1, p(Algorithm::Sha1), time), want1, "SHA1 at {time}");
            assert_eq!(code(sha256, p(Algorithm::Sha256), time), want256, "SHA256 at {time}");
            assert_eq!(code(sha512, p(Algorithm::Sha512), time), want512, "SHA512 at {time}");
        }
    }

    #[test]
    fn seven_digits_and_other_periods() {
        // Same HMAC as RFC 6238's T=59 SHA1 row (counter 1); 7 digits keep the last 7.
        assert_eq!(code(b"12345678901234567890", OtpParams::totp(Algorithm::Sha1, 7, 30).unwrap(), 59), "4287082");
        // A 60 s period at t=119 is counter 1 as well.
        assert_eq!(code(b"12345678901234567890", OtpParams::totp(Algorithm::Sha1, 8, 60).unwrap(), 119), "94287082");
        let timed = generate(
            &SecretBytes::new(b"12345678901234567890".to_vec()),
            &OtpParams::totp(Algorithm::Sha1, 6, 60).unwrap(),
            119,
        )
        .unwrap();
        assert_eq!(timed.seconds_left, Some(1));
    }

    #[test]
    fn steam_codes_use_the_steam_alphabet() {
        let steam = code(b"12345678901234567890", OtpParams::steam(), 59);
        assert_eq!(steam.len(), 5);
        assert!(steam.chars().all(|c| "23456789BCDFGHJKMNPQRTVWXY".contains(c)), "{steam}");
    }

    #[test]
    fn invalid_params_are_errors_not_panics() {
        assert_eq!(OtpParams::totp(Algorithm::Sha1, 12, 30), Err(ParamsError::Digits(12)));
        assert_eq!(OtpParams::totp(Algorithm::Sha1, 5, 30), Err(ParamsError::Digits(5)));
        assert_eq!(OtpParams::totp(Algorithm::Sha1, 6, 0), Err(ParamsError::ZeroPeriod));
        let forged = OtpParams { kind: OtpKind::Totp { period: 0 }, algorithm: Algorithm::Sha1, digits: 6 };
        assert!(generate(&SecretBytes::new(vec![1; 10]), &forged, 5).is_err());
        let forged = OtpParams { kind: OtpKind::Hotp { counter: 0 }, algorithm: Algorithm::Sha1, digits: 10 };
        assert!(generate(&SecretBytes::new(vec![1; 10]), &forged, 5).is_err());
    }
}
