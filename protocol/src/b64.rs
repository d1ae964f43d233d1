//! Base64url (RFC 4648 §5, no padding): the one text form of binary values on the wire.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Why a base64url field could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum B64Error {
    /// Not base64url without padding (wrong alphabet, padding, or impossible length).
    #[error("not base64url without padding")]
    Malformed,
    /// Decoded to the wrong number of bytes for this field.
    #[error("expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Bytes the field must have.
        expected: usize,
        /// Bytes it had.
        actual: usize,
    },
}

/// Encodes bytes as base64url without padding.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; rejects padding and the standard alphabet so
/// that every value has exactly one text form.
pub fn decode(text: &str) -> Result<Vec<u8>, B64Error> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| B64Error::Malformed)
}

/// Decodes base64url into exactly `N` bytes.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], B64Error> {
    let bytes = decode(text)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| B64Error::WrongLength { expected: N, actual: bytes.len() })
}

/// Serde adapter for `[u8; N]` fields carried as base64url strings.
pub mod array {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes the bytes as base64url.
    pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::encode(bytes))
    }

    /// Deserializes base64url of exactly `N` bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(deserializer: D) -> Result<[u8; N], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::decode_array(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_url_safe() {
        let bytes = [0xfb, 0xff, 0x00, 0x10];
        let text = encode(&bytes);
        assert_eq!(text, "-_8AEA");
        assert_eq!(decode(&text).unwrap(), bytes);
    }

    #[test]
    fn rejects_padding_standard_alphabet_and_garbage() {
        assert_eq!(decode("-_8AEA=="), Err(B64Error::Malformed));
        assert_eq!(decode("+/8AEA"), Err(B64Error::Malformed));
        assert_eq!(decode("a"), Err(B64Error::Malformed));
        assert_eq!(decode("ab cd"), Err(B64Error::Malformed));
    }

    #[test]
    fn array_length_is_enforced() {
        assert_eq!(decode_array::<4>("-_8AEA"), Ok([0xfb, 0xff, 0x00, 0x10]));
        assert_eq!(decode_array::<3>("-_8AEA"), Err(B64Error::WrongLength { expected: 3, actual: 4 }));
    }
}
