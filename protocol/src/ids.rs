//! Identifiers and nonces: validated newtypes so an id from outside is checked once.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::b64;

/// Longest identifier accepted from outside.
pub const MAX_ID_LEN: usize = 64;

/// Why an identifier or nonce was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty or longer than [`MAX_ID_LEN`].
    #[error("{what} must have 1 to {MAX_ID_LEN} characters, got {len}")]
    Length {
        /// Which identifier.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A character outside the base64url alphabet.
    #[error("{what} may only contain A-Z a-z 0-9 - _")]
    Alphabet {
        /// Which identifier.
        what: &'static str,
    },
    /// A nonce or token that is not 16 bytes of base64url.
    #[error("{what}: {source}")]
    Bytes {
        /// Which value.
        what: &'static str,
        /// The decoding problem.
        source: b64::B64Error,
    },
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// 16 random bytes from the system generator.
pub fn random_16() -> Result<[u8; 16], IdError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).map_err(|_| IdError::Random)?;
    Ok(bytes)
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks an identifier received from outside: 1–64 base64url characters.
            pub fn new(text: impl Into<String>) -> Result<Self, IdError> {
                let text = text.into();
                if text.is_empty() || text.len() > MAX_ID_LEN {
                    return Err(IdError::Length { what: $what, len: text.len() });
                }
                if !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                    return Err(IdError::Alphabet { what: $what });
                }
                Ok(Self(text))
            }

            /// A fresh identifier: 16 random bytes in base64url (22 characters).
            pub fn random() -> Result<Self, IdError> {
                Ok(Self(b64::encode(&random_16()?)))
            }

            /// The identifier text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::new(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::new(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_id!(
    /// Identifies a challenge (push or QR).
    ChallengeId,
    "challenge id"
);
text_id!(
    /// Identifies a registered device.
    DeviceId,
    "device id"
);
text_id!(
    /// Identifies a pending enrollment.
    EnrollmentId,
    "enrollment id"
);

macro_rules! bytes16 {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// 16 fresh random bytes.
            pub fn random() -> Result<Self, IdError> {
                random_16().map(Self)
            }

            /// Parses the base64url form (exactly 16 bytes).
            pub fn from_b64(text: &str) -> Result<Self, IdError> {
                b64::decode_array(text).map(Self).map_err(|source| IdError::Bytes { what: $what, source })
            }

            /// The base64url form (22 characters).
            pub fn to_b64(&self) -> String {
                b64::encode(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_b64())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_b64())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::from_b64(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

bytes16!(
    /// A challenge's or request's random nonce (16 bytes).
    Nonce,
    "nonce"
);
bytes16!(
    /// The one-time secret in an enrollment QR code that authorises completing it.
    EnrollmentToken,
    "enrollment token"
);

impl EnrollmentToken {
    /// Constant-time comparison, for the server checking a presented token.
    pub fn matches(&self, other: &EnrollmentToken) -> bool {
        crate::digest::constant_time_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_22_chars_and_distinct() {
        let a = ChallengeId::random().unwrap();
        let b = ChallengeId::random().unwrap();
        assert_eq!(a.as_str().len(), 22);
        assert_ne!(a, b);
        assert_eq!(ChallengeId::new(a.as_str()), Ok(a));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert!(matches!(DeviceId::new(""), Err(IdError::Length { len: 0, .. })));
        assert!(matches!(DeviceId::new("a".repeat(65)), Err(IdError::Length { len: 65, .. })));
        assert!(matches!(DeviceId::new("a/b"), Err(IdError::Alphabet { .. })));
        assert!(matches!(DeviceId::new("a b"), Err(IdError::Alphabet { .. })));
        assert!(matches!(DeviceId::new("å"), Err(IdError::Alphabet { .. })));
        assert!(serde_json::from_str::<DeviceId>("\"../etc\"").is_err());
        assert!(serde_json::from_str::<DeviceId>("42").is_err());
    }

    #[test]
    fn nonces_round_trip_and_reject_wrong_lengths() {
        let n = Nonce::random().unwrap();
        assert_eq!(Nonce::from_b64(&n.to_b64()), Ok(n));
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Nonce>(&json).unwrap(), n);
        assert!(Nonce::from_b64(&b64::encode(&[0u8; 15])).is_err());
        assert!(Nonce::from_b64(&b64::encode(&[0u8; 17])).is_err());
        assert!(Nonce::from_b64("====").is_err());
    }

    #[test]
    fn enrollment_tokens_compare() {
        let t = EnrollmentToken([1; 16]);
        assert!(t.matches(&EnrollmentToken([1; 16])));
        assert!(!t.matches(&EnrollmentToken([2; 16])));
    }
}
