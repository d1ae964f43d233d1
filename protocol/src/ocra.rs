//! OCRA, the OATH Challenge-Response Algorithm (RFC 6287): suites, inputs and responses.

use std::fmt;
use std::str::FromStr;

use ring::{digest, hmac};

use crate::digest::constant_time_eq;

/// Why a suite string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuiteError {
    /// Not three `:`-separated parts.
    #[error("an OCRA suite has three ':'-separated parts, got {0}")]
    Parts(usize),
    /// First part is not `OCRA-1`.
    #[error("unsupported OCRA version {0:?} (only OCRA-1)")]
    Version(String),
    /// Second part is not `HOTP-SHA1|SHA256|SHA512-t` with t = 0 or 4–10.
    #[error("bad crypto function {0:?}")]
    CryptoFunction(String),
    /// A data-input element that is unknown, malformed, repeated or out of order.
    #[error("bad data input element {0:?}")]
    DataInput(String),
    /// No `Q` element, which every suite must have.
    #[error("the data input has no question (Q) element")]
    NoQuestion,
}

/// Why a response could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcraError {
    /// The question does not fit the suite's format or length.
    #[error("question does not fit {format}: {reason}")]
    Question {
        /// The suite's question element, e.g. "QN08".
        format: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The suite needs an input that was not given.
    #[error("the suite needs a {0} input")]
    MissingInput(&'static str),
    /// An input was given that the suite does not use.
    #[error("the suite has no {0} input")]
    UnexpectedInput(&'static str),
    /// A PIN hash of the wrong length, or session information longer than the suite allows.
    #[error("{what} must be {expected} bytes at most/exactly, got {actual}")]
    InputLength {
        /// Which input.
        what: &'static str,
        /// Length the suite fixes or allows.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The key is empty.
    #[error("the OCRA key is empty")]
    EmptyKey,
}

/// The hash function of the HMAC (and of the PIN hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcraHash {
    /// SHA-1 (20 bytes).
    Sha1,
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-512 (64 bytes).
    Sha512,
}

impl OcraHash {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "SHA1" => Some(OcraHash::Sha1),
            "SHA256" => Some(OcraHash::Sha256),
            "SHA512" => Some(OcraHash::Sha512),
            _ => None,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            OcraHash::Sha1 => 20,
            OcraHash::Sha256 => 32,
            OcraHash::Sha512 => 64,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            OcraHash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            OcraHash::Sha256 => hmac::HMAC_SHA256,
            OcraHash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            OcraHash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            OcraHash::Sha256 => &digest::SHA256,
            OcraHash::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// The format of the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionFormat {
    /// `A`: alphanumeric (printable ASCII without space), used as its bytes.
    Alphanumeric,
    /// `N`: decimal digits, used as the number's hexadecimal digits.
    Numeric,
    /// `H`: hexadecimal digits, used as they are.
    Hex,
}

/// The unit of the timestamp step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// `S`: seconds (1–59).
    Seconds,
    /// `M`: minutes (1–59).
    Minutes,
    /// `H`: hours (1–48).
    Hours,
}

/// A parsed OCRA suite, e.g. `OCRA-1:HOTP-SHA256-8:QH64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcraSuite {
    text: String,
    /// HMAC hash function.
    pub hash: OcraHash,
    /// Response digits; 0 means the untruncated HMAC in hex.
    pub digits: u8,
    /// Whether a counter `C` is part of the input.
    pub counter: bool,
    /// Question format.
    pub question_format: QuestionFormat,
    /// Longest question, 4–64.
    pub question_max: u8,
    /// PIN hash function, when a PIN is part of the input.
    pub pin_hash: Option<OcraHash>,
    /// Session information length in bytes, when present.
    pub session_len: Option<u16>,
    /// Timestamp step, when a timestamp is part of the input.
    pub time_step: Option<(u8, TimeUnit)>,
}

fn short_decimal(text: &str) -> Option<u32> {
    (!text.is_empty() && text.len() <= 3 && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

impl FromStr for OcraSuite {
    type Err = SuiteError;

    fn from_str(text: &str) -> Result<Self, SuiteError> {
        let parts: Vec<&str> = text.split(':').collect();
        let [version, function, data] = parts[..] else {
            return Err(SuiteError::Parts(parts.len()));
        };
        if version != "OCRA-1" {
            return Err(SuiteError::Version(version.into()));
        }
        let bad_function = || SuiteError::CryptoFunction(function.into());
        let mut f = function.split('-');
        let (Some("HOTP"), Some(hash), Some(digits), None) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(bad_function());
        };
        let hash = OcraHash::parse(hash).ok_or_else(bad_function)?;
        let digits = match digits {
            "0" => 0,
            "4" | "5" | "6" | "7" | "8" | "9" | "10" => digits.parse().map_err(|_| bad_function())?,
            _ => return Err(bad_function()),
        };

        let mut suite = OcraSuite {
            text: text.to_owned(),
            hash,
            digits,
            counter: false,
            question_format: QuestionFormat::Numeric,
            question_max: 0,
            pin_hash: None,
            session_len: None,
            time_step: None,
        };
        // Elements must come in the order they enter the message: C, Q, P, S, T.
        let mut stage = 0;
        for element in data.split('-') {
            let bad = || SuiteError::DataInput(element.into());
            let (kind, rest) = element.split_at(element.chars().next().map_or(0, char::len_utf8));
            let this_stage = match kind {
                "C" if rest.is_empty() => {
                    suite.counter = true;
                    1
                }
                "Q" => {
                    let (format, len) = rest.split_at(rest.chars().next().map_or(0, char::len_utf8));
                    suite.question_format = match format {
                        "A" => QuestionFormat::Alphanumeric,
                        "N" => QuestionFormat::Numeric,
                        "H" => QuestionFormat::Hex,
                        _ => return Err(bad()),
                    };
                    match (len.len(), short_decimal(len)) {
                        (2, Some(n @ 4..=64)) => suite.question_max = n as u8,
                        _ => return Err(bad()),
                    }
                    2
                }
                "P" => {
                    suite.pin_hash = Some(OcraHash::parse(rest).ok_or_else(bad)?);
                    3
                }
                "S" => {
                    match (rest.len(), short_decimal(rest)) {
                        (3, Some(n @ 1..=512)) => suite.session_len = Some(n as u16),
                        _ => return Err(bad()),
                    }
                    4
                }
                "T" => {
                    let (count, unit) = rest.split_at(rest.len().saturating_sub(1));
                    let (unit, max) = match unit {
                        "S" => (TimeUnit::Seconds, 59),
                        "M" => (TimeUnit::Minutes, 59),
                        "H" => (TimeUnit::Hours, 48),
                        _ => return Err(bad()),
                    };
                    match (count.len(), short_decimal(count)) {
                        (1 | 2, Some(n)) if (1..=max).contains(&n) => suite.time_step = Some((n as u8, unit)),
                        _ => return Err(bad()),
                    }
                    5
                }
                _ => return Err(bad()),
            };
            if this_stage <= stage {
                return Err(bad());
            }
            stage = this_stage;
        }
        if suite.question_max == 0 {
            return Err(SuiteError::NoQuestion);
        }
        Ok(suite)
    }
}

impl fmt::Display for OcraSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The PIN input, either as typed or already hashed with the suite's PIN hash.
#[derive(Debug, Clone, Copy)]
pub enum OcraPin<'a> {
    /// The PIN itself; hashed here.
    Plain(&'a str),
    /// The PIN's hash, as a server stores it.
    Hashed(&'a [u8]),
}

/// The inputs of one OCRA computation. Only the ones the suite names may be set.
#[derive(Debug, Clone, Copy, Default)]
pub struct OcraInput<'a> {
    /// `C`: the counter.
    pub counter: Option<u64>,
    /// `Q`: the question, in the suite's format: 4 characters up to the suite's maximum,
    /// or up to twice that for the two concatenated challenges of mutual mode.
    pub question: &'a str,
    /// `P`: the PIN.
    pub pin: Option<OcraPin<'a>>,
    /// `S`: session information, at most the suite's length (left-padded with zeros).
    pub session: Option<&'a [u8]>,
    /// `T`: the timestamp in steps (see [`OcraSuite::time_steps`]).
    pub timestamp: Option<u64>,
}

impl<'a> OcraInput<'a> {
    /// Input with only a question.
    pub fn question(question: &'a str) -> Self {
        Self { question, ..Self::default() }
    }
}

impl OcraSuite {
    /// `OCRA-1:HOTP-SHA256-6:QH64`, built without parsing so using it cannot fail.
    pub(crate) fn nyckel_qr_otp() -> Self {
        OcraSuite {
            text: crate::qr_otp::QR_OTP_SUITE.to_owned(),
            hash: OcraHash::Sha256,
            digits: 6,
            counter: false,
            question_format: QuestionFormat::Hex,
            question_max: 64,
            pin_hash: None,
            session_len: None,
            time_step: None,
        }
    }

    /// The suite string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Converts Unix seconds to the suite's timestamp steps; `None` without a `T` element.
    pub fn time_steps(&self, unix_seconds: u64) -> Option<u64> {
        let (n, unit) = self.time_step?;
        let seconds = u64::from(n)
            * match unit {
                TimeUnit::Seconds => 1,
                TimeUnit::Minutes => 60,
                TimeUnit::Hours => 3600,
            };
        Some(unix_seconds / seconds)
    }

    fn question_block(&self, question: &str) -> Result<[u8; 128], OcraError> {
        let err = |reason| OcraError::Question { format: self.question_element(), reason };
        let len = question.len();
        // Mutual challenge-response (RFC 6287 §7.3) MACs the concatenation of two
        // challenges, each within the suite's maximum, so the question may be twice as long.
        if len < 4 || len > 2 * usize::from(self.question_max) {
            return Err(err("length outside 4 to twice the suite's maximum"));
        }
        let mut block = [0u8; 128];
        match self.question_format {
            QuestionFormat::Alphanumeric => {
                if !question.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(err("not printable ASCII"));
                }
                block[..len].copy_from_slice(question.as_bytes());
            }
            QuestionFormat::Hex => {
                let nibbles: Option<Vec<u8>> = question.chars().map(|c| c.to_digit(16).map(|d| d as u8)).collect();
                put_nibbles(&mut block, &nibbles.ok_or_else(|| err("not hexadecimal"))?);
            }
            QuestionFormat::Numeric => {
                if !question.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("not decimal digits"));
                }
                put_nibbles(&mut block, &decimal_to_hex_nibbles(question));
            }
        }
        Ok(block)
    }

    fn question_element(&self) -> String {
        let f = match self.question_format {
            QuestionFormat::Alphanumeric => 'A',
            QuestionFormat::Numeric => 'N',
            QuestionFormat::Hex => 'H',
        };
        format!("Q{f}{:02}", self.question_max)
    }

    /// The message that is MACed: suite, 0x00, then C, Q, P, S, T as the suite names them.
    pub fn message(&self, input: &OcraInput<'_>) -> Result<Vec<u8>, OcraError> {
        let mut m = Vec::with_capacity(self.text.len() + 1 + 8 + 128 + 64 + 512 + 8);
        m.extend_from_slice(self.text.as_bytes());
        m.push(0);
        match (self.counter, input.counter) {
            (true, Some(c)) => m.extend_from_slice(&c.to_be_bytes()),
            (true, None) => return Err(OcraError::MissingInput("counter")),
            (false, Some(_)) => return Err(OcraError::UnexpectedInput("counter")),
            (false, None) => {}
        }
        m.extend_from_slice(&self.question_block(input.question)?);
        match (self.pin_hash, input.pin) {
            (Some(hash), Some(OcraPin::Plain(pin))) => m.extend_from_slice(&hash.digest(pin.as_bytes())),
            (Some(hash), Some(OcraPin::Hashed(h))) if h.len() == hash.output_len() => m.extend_from_slice(h),
            (Some(hash), Some(OcraPin::Hashed(h))) => {
                return Err(OcraError::InputLength { what: "PIN hash", expected: hash.output_len(), actual: h.len() })
            }
            (Some(_), None) => return Err(OcraError::MissingInput("PIN")),
            (None, Some(_)) => return Err(OcraError::UnexpectedInput("PIN")),
            (None, None) => {}
        }
        match (self.session_len, input.session) {
            (Some(len), Some(s)) if s.len() <= usize::from(len) => {
                m.resize(m.len() + usize::from(len) - s.len(), 0);
                m.extend_from_slice(s);
            }
            (Some(len), Some(s)) => {
                return Err(OcraError::InputLength {
                    what: "session information",
                    expected: len.into(),
                    actual: s.len(),
                })
            }
            (Some(_), None) => return Err(OcraError::MissingInput("session information")),
            (None, Some(_)) => return Err(OcraError::UnexpectedInput("session information")),
            (None, None) => {}
        }
        match (self.time_step, input.timestamp) {
            (Some(_), Some(t)) => m.extend_from_slice(&t.to_be_bytes()),
            (Some(_), None) => return Err(OcraError::MissingInput("timestamp")),
            (None, Some(_)) => return Err(OcraError::UnexpectedInput("timestamp")),
            (None, None) => {}
        }
        Ok(m)
    }

    /// Computes the response: `digits` decimal digits, or the HMAC in lower-case hex when `digits` is 0.
    pub fn compute(&self, key: &[u8], input: &OcraInput<'_>) -> Result<String, OcraError> {
        if key.is_empty() {
            return Err(OcraError::EmptyKey);
        }
        let message = self.message(input)?;
        let tag = hmac::sign(&hmac::Key::new(self.hash.hmac(), key), &message);
        let mac = tag.as_ref();
        if self.digits == 0 {
            return Ok(mac.iter().map(|b| format!("{b:02x}")).collect());
        }
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
        let code = u64::from(binary) % 10u64.pow(u32::from(self.digits));
        Ok(format!("{code:0width$}", width = usize::from(self.digits)))
    }

    /// Whether `response` is the right response, compared in constant time.
    pub fn verify(&self, key: &[u8], input: &OcraInput<'_>, response: &str) -> Result<bool, OcraError> {
        let expected = self.compute(key, input)?;
        Ok(constant_time_eq(expected.as_bytes(), response.as_bytes()))
    }
}

/// Writes nibbles left-aligned into the 128-byte question block (questions are at most
/// 128 characters, so at most 128 nibbles; `take` keeps it in bounds regardless).
fn put_nibbles(block: &mut [u8; 128], nibbles: &[u8]) {
    for (i, nibble) in nibbles.iter().enumerate().take(256) {
        block[i / 2] |= if i % 2 == 0 { nibble << 4 } else { *nibble };
    }
}

/// The hexadecimal digits of a decimal number, most significant first, without leading
/// zeros ("0" for zero), as RFC 6287's reference code derives numeric questions.
fn decimal_to_hex_nibbles(decimal: &str) -> Vec<u8> {
    // Little-endian base-16 digits, multiplied by 10 and added to per decimal digit.
    let mut value: Vec<u8> = vec![0];
    for d in decimal.bytes().map(|b| b - b'0') {
        let mut carry = u32::from(d);
        for nibble in value.iter_mut() {
            let x = u32::from(*nibble) * 10 + carry;
            *nibble = (x % 16) as u8;
            carry = x / 16;
        }
        while carry > 0 {
            value.push((carry % 16) as u8);
            carry /= 16;
        }
    }
    while value.len() > 1 && value.last() == Some(&0) {
        value.pop();
    }
    value.reverse();
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_questions_convert_like_the_reference() {
        assert_eq!(decimal_to_hex_nibbles("00000000"), vec![0]);
        assert_eq!(decimal_to_hex_nibbles("11111111"), vec![0xA, 0x9, 0x8, 0xA, 0xC, 0x7]);
        assert_eq!(decimal_to_hex_nibbles("22222222"), vec![1, 5, 3, 1, 5, 8, 0xE]);
        assert_eq!(
            decimal_to_hex_nibbles("18446744073709551616"),
            vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let suite: OcraSuite = "OCRA-1:HOTP-SHA1-6:QN08".parse().unwrap();
        let block = suite.question_block("22222222").unwrap();
        assert_eq!(&block[..4], &[0x15, 0x31, 0x58, 0xE0]);
        assert!(block[4..].iter().all(|&b| b == 0));
    }

    #[test]
    fn suites_parse_and_print() {
        let s: OcraSuite = "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1-S064-T1M".parse().unwrap();
        assert_eq!(s.hash, OcraHash::Sha256);
        assert_eq!(s.digits, 8);
        assert!(s.counter);
        assert_eq!((s.question_format, s.question_max), (QuestionFormat::Numeric, 8));
        assert_eq!(s.pin_hash, Some(OcraHash::Sha1));
        assert_eq!(s.session_len, Some(64));
        assert_eq!(s.time_step, Some((1, TimeUnit::Minutes)));
        assert_eq!(s.to_string(), "OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1-S064-T1M");
        assert_eq!(s.time_steps(120), Some(2));
        let h: OcraSuite = "OCRA-1:HOTP-SHA512-0:QH64-T48H".parse().unwrap();
        assert_eq!(h.time_steps(48 * 3600 * 5 + 1), Some(5));
    }

    #[test]
    fn malformed_suites_are_rejected() {
        for bad in [
            "",
            ":::",
            "OCRA-1:HOTP-SHA1-6",
            "OCRA-2:HOTP-SHA1-6:QN08",
            "OCRA-1:TOTP-SHA1-6:QN08",
            "OCRA-1:HOTP-MD5-6:QN08",
            "OCRA-1:HOTP-SHA1-3:QN08",
            "OCRA-1:HOTP-SHA1-11:QN08",
            "OCRA-1:HOTP-SHA1-06:QN08",
            "OCRA-1:HOTP-SHA1:QN08",
            "OCRA-1:HOTP-SHA1-6-7:QN08",
            "OCRA-1:HOTP-SHA1-6:C",
            "OCRA-1:HOTP-SHA1-6:QN03",
            "OCRA-1:HOTP-SHA1-6:QN65",
            "OCRA-1:HOTP-SHA1-6:QX08",
            "OCRA-1:HOTP-SHA1-6:QN8",
            "OCRA-1:HOTP-SHA1-6:QN08-PMD5",
            "OCRA-1:HOTP-SHA1-6:QN08-S64",
            "OCRA-1:HOTP-SHA1-6:QN08-S000",
            "OCRA-1:HOTP-SHA1-6:QN08-S513",
            "OCRA-1:HOTP-SHA1-6:QN08-T0S",
            "OCRA-1:HOTP-SHA1-6:QN08-T60M",
            "OCRA-1:HOTP-SHA1-6:QN08-T49H",
            "OCRA-1:HOTP-SHA1-6:QN08-T1X",
            "OCRA-1:HOTP-SHA1-6:QN08-T",
            "OCRA-1:HOTP-SHA1-6:QN08-T1M-S064",
            "OCRA-1:HOTP-SHA1-6:QN08-X",
            "OCRA-1:HOTP-SHA1-6:QN08-",
            "OCRA-1:HOTP-SHA1-6:PSHA1-QN08",
            "OCRA-1:HOTP-SHA1-6:QN08-QN08",
            "OCRA-1:HOTP-SHA1-6:QN08-C",
            "OCRA-1:HOTP-SHA1-6:Qé08",
            "OCRA-1:HOTP-SHA1-6:QN08:extra",
        ] {
            assert!(bad.parse::<OcraSuite>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn inputs_must_match_the_suite() {
        let key = [1u8; 20];
        let plain: OcraSuite = "OCRA-1:HOTP-SHA1-6:QN08".parse().unwrap();
        let q = |question| OcraInput::question(question);
        assert!(matches!(plain.compute(&key, &q("123")), Err(OcraError::Question { .. })));
        assert!(plain.compute(&key, &q("1234567812345678")).is_ok());
        assert!(matches!(plain.compute(&key, &q("12345678123456781")), Err(OcraError::Question { .. })));
        assert!(matches!(plain.compute(&key, &q("1234abcd")), Err(OcraError::Question { .. })));
        assert_eq!(
            plain.compute(&key, &OcraInput { counter: Some(1), ..q("12345678") }),
            Err(OcraError::UnexpectedInput("counter"))
        );
        assert_eq!(
            plain.compute(&key, &OcraInput { pin: Some(OcraPin::Plain("1234")), ..q("12345678") }),
            Err(OcraError::UnexpectedInput("PIN"))
        );
        assert_eq!(plain.compute(&[], &q("12345678")), Err(OcraError::EmptyKey));

        let alpha: OcraSuite = "OCRA-1:HOTP-SHA1-6:QA08".parse().unwrap();
        assert!(matches!(alpha.compute(&key, &q("no space")), Err(OcraError::Question { .. })));
        let hex: OcraSuite = "OCRA-1:HOTP-SHA1-6:QH08".parse().unwrap();
        assert!(matches!(hex.compute(&key, &q("XYZ12345")), Err(OcraError::Question { .. })));
        assert_eq!(hex.compute(&key, &q("abc1234")).unwrap(), hex.compute(&key, &q("ABC1234")).unwrap());

        let full: OcraSuite = "OCRA-1:HOTP-SHA1-6:C-QN08-PSHA1-S064-T1M".parse().unwrap();
        let all = OcraInput {
            counter: Some(1),
            question: "12345678",
            pin: Some(OcraPin::Plain("1234")),
            session: Some(b"abc"),
            timestamp: Some(7),
        };
        assert!(full.compute(&key, &all).is_ok());
        assert_eq!(full.compute(&key, &OcraInput { counter: None, ..all }), Err(OcraError::MissingInput("counter")));
        assert_eq!(full.compute(&key, &OcraInput { pin: None, ..all }), Err(OcraError::MissingInput("PIN")));
        assert_eq!(
            full.compute(&key, &OcraInput { pin: Some(OcraPin::Hashed(&[0; 19])), ..all }),
            Err(OcraError::InputLength { what: "PIN hash", expected: 20, actual: 19 })
        );
        assert_eq!(
            full.compute(&key, &OcraInput { session: Some(&[0; 65]), ..all }),
            Err(OcraError::InputLength { what: "session information", expected: 64, actual: 65 })
        );
        assert_eq!(
            full.compute(&key, &OcraInput { timestamp: None, ..all }),
            Err(OcraError::MissingInput("timestamp"))
        );
        // Session information is left-padded with zeros.
        let mut padded = [0u8; 64];
        padded[61..].copy_from_slice(b"abc");
        assert_eq!(full.compute(&key, &all), full.compute(&key, &OcraInput { session: Some(&padded), ..all }));
    }

    #[test]
    fn untruncated_and_verify() {
        let key = [1u8; 20];
        let full: OcraSuite = "OCRA-1:HOTP-SHA1-0:QN08".parse().unwrap();
        let out = full.compute(&key, &OcraInput::question("12345678")).unwrap();
        assert_eq!(out.len(), 40);
        assert!(out.bytes().all(|b| b.is_ascii_hexdigit()));
        let six: OcraSuite = "OCRA-1:HOTP-SHA1-6:QN08".parse().unwrap();
        let code = six.compute(&key, &OcraInput::question("12345678")).unwrap();
        assert_eq!(six.verify(&key, &OcraInput::question("12345678"), &code), Ok(true));
        assert_eq!(six.verify(&key, &OcraInput::question("12345679"), &code), Ok(false));
    }
}
