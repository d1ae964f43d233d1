//! Shared secrets in memory: a zeroizing byte buffer and its base32 text form.

use std::fmt;

use zeroize::Zeroizing;

/// Longest secret accepted from outside; real ones are 10–64 bytes.
pub const MAX_SECRET_LEN: usize = 1024;

/// A shared OTP secret. Wiped from memory when dropped; never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps raw secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw bytes of the secret.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case RFC 4648 base32 without padding, as authenticator URIs carry it.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(encode_base32(&self.0))
    }

    /// Decodes base32 the way people type and QR codes carry it: either case,
    /// with or without `=` padding, ignoring spaces and dashes used for grouping.
    pub fn from_base32(text: &str) -> Result<Self, Base32Error> {
        decode_base32(text).map(Self::new)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Why a base32 secret could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base32Error {
    /// Nothing left after removing padding and grouping characters.
    #[error("the secret is empty")]
    Empty,
    /// A character outside the base32 alphabet.
    #[error("character {character:?} at position {position} is not base32 (A–Z, 2–7)")]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its position in the text, counting characters.
        position: usize,
    },
    /// Padding in the middle, or a length no encoder produces.
    #[error("the secret has an impossible length or misplaced padding")]
    BadLength,
    /// More than [`MAX_SECRET_LEN`] bytes.
    #[error("the secret is longer than {MAX_SECRET_LEN} bytes")]
    TooLong,
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn encode_base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn decode_base32(text: &str) -> Result<Vec<u8>, Base32Error> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u64 = 0;
    let mut bits = 0u32;
    let mut symbols = 0usize;
    let mut padding_seen = false;
    for (position, character) in text.chars().enumerate() {
        let value = match character {
            ' ' | '-' | '\t' => continue,
            '=' => {
                padding_seen = true;
                continue;
            }
            'A'..='Z' => character as u8 - b'A',
            'a'..='z' => character as u8 - b'a',
            '2'..='7' => character as u8 - b'2' + 26,
            _ => return Err(Base32Error::InvalidCharacter { character, position }),
        };
        if padding_seen {
            return Err(Base32Error::BadLength);
        }
        symbols += 1;
        buffer = ((buffer << 5) | u64::from(value)) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            if out.len() > MAX_SECRET_LEN {
                return Err(Base32Error::TooLong);
            }
        }
    }
    if symbols == 0 {
        return Err(Base32Error::Empty);
    }
    // 1, 3 and 6 trailing symbols cannot come from whole bytes.
    if matches!(symbols % 8, 1 | 3 | 6) {
        return Err(Base32Error::BadLength);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors_round_trip() {
        let cases: [(&str, &str); 7] = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(encode_base32(plain.as_bytes()), encoded);
            if !plain.is_empty() {
                assert_eq!(decode_base32(encoded).unwrap(), plain.as_bytes());
            }
        }
    }

    #[test]
    fn accepts_lower_case_padding_and_grouping() {
        let expected = b"Hello!\xde\xad\xbe\xef".to_vec();
        for text in ["JBSWY3DPEHPK3PXP", "jbswy3dpehpk3pxp", "JBSW Y3DP EHPK 3PXP", "MZXW6YQ="] {
            let decoded = decode_base32(text).unwrap();
            if text.starts_with('M') {
                assert_eq!(decoded, b"foob");
            } else {
                assert_eq!(decoded, expected);
            }
        }
    }

    #[test]
    fn rejects_malformed_text() {
        assert_eq!(decode_base32(""), Err(Base32Error::Empty));
        assert_eq!(decode_base32("===="), Err(Base32Error::Empty));
        assert!(matches!(decode_base32("JBSW1"), Err(Base32Error::InvalidCharacter { character: '1', position: 4 })));
        assert!(matches!(decode_base32("JBSWÄ"), Err(Base32Error::InvalidCharacter { .. })));
        assert_eq!(decode_base32("MZ=XW"), Err(Base32Error::BadLength));
        assert_eq!(decode_base32("M"), Err(Base32Error::BadLength));
        assert_eq!(decode_base32(&"A".repeat(2000)), Err(Base32Error::TooLong));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SecretBytes::new(b"topsecret".to_vec());
        assert!(!format!("{secret:?}").contains("topsecret"));
    }
}
