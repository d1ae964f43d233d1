//! Public-key cryptography: the server's Ed25519 key and the device's ECDSA P-256 key.
//!
//! The server signs with Ed25519 (deterministic, 64-byte signatures, no nonce to get
//! wrong). The device signs with ECDSA P-256 / SHA-256 because that is what Android
//! Keystore/StrongBox and the Secure Enclave offer; its signatures travel in the
//! ASN.1 DER form those platforms produce, and its public key as the 65-byte
//! uncompressed SEC1 point.

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::b64;
use crate::digest::sha256;

/// Why a key or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The signature does not verify under the key for these bytes.
    #[error("signature verification failed")]
    BadSignature,
    /// A public key of the wrong size or form.
    #[error("malformed {what} public key: {reason}")]
    MalformedPublicKey {
        /// Which kind of key.
        what: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A signature whose encoding is impossible for its algorithm.
    #[error("malformed {what} signature")]
    MalformedSignature {
        /// Which kind of signature.
        what: &'static str,
    },
    /// A PKCS#8 private key ring could not use.
    #[error("unusable {what} private key (PKCS#8)")]
    BadPrivateKey {
        /// Which kind of key.
        what: &'static str,
    },
    /// The system random generator or a signing operation failed.
    #[error("{operation} failed")]
    Crypto {
        /// What was being done.
        operation: &'static str,
    },
}

/// A short identifier of a server key: the first 8 bytes of SHA-256 of its public key.
/// Lets a QR code name the registration it belongs to in 11 characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// Parses the base64url form.
    pub fn from_b64(text: &str) -> Result<Self, b64::B64Error> {
        b64::decode_array(text).map(Self)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64::encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The server's Ed25519 public key, pinned by the phone at enrollment.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerPublicKey(#[serde(with = "b64::array")] pub [u8; 32]);

impl ServerPublicKey {
    /// Parses the base64url form (32 bytes).
    pub fn from_b64(text: &str) -> Result<Self, b64::B64Error> {
        b64::decode_array(text).map(Self)
    }

    /// The base64url form.
    pub fn to_b64(&self) -> String {
        b64::encode(&self.0)
    }

    /// The key's short identifier.
    pub fn key_id(&self) -> KeyId {
        let hash = sha256(&self.0);
        let mut id = [0u8; 8];
        id.copy_from_slice(&hash[..8]);
        KeyId(id)
    }

    /// Verifies an Ed25519 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &ServerSignature) -> Result<(), KeyError> {
        UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(message, &signature.0)
            .map_err(|_| KeyError::BadSignature)
    }
}

impl fmt::Debug for ServerPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerPublicKey({})", self.to_b64())
    }
}

/// An Ed25519 signature by the server (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerSignature(#[serde(with = "b64::array")] pub [u8; 64]);

impl fmt::Debug for ServerSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerSignature({})", b64::encode(&self.0))
    }
}

/// The server's Ed25519 signing key.
pub struct ServerSigningKey {
    pair: Ed25519KeyPair,
}

impl ServerSigningKey {
    /// Generates a new key and returns its PKCS#8 v2 document, which the server stores.
    pub fn generate_pkcs8() -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
            .map_err(|_| KeyError::Crypto { operation: "Ed25519 key generation" })
    }

    /// Loads a key from its PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|pair| Self { pair })
            .map_err(|_| KeyError::BadPrivateKey { what: "Ed25519" })
    }

    /// The public half.
    pub fn public_key(&self) -> ServerPublicKey {
        let mut key = [0u8; 32];
        key.copy_from_slice(self.pair.public_key().as_ref());
        ServerPublicKey(key)
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> ServerSignature {
        let mut sig = [0u8; 64];
        sig.copy_from_slice(self.pair.sign(message).as_ref());
        ServerSignature(sig)
    }
}

impl fmt::Debug for ServerSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerSigningKey(public {})", self.public_key().to_b64())
    }
}

/// DER prefix of a P-256 SubjectPublicKeyInfo holding an uncompressed point
/// (id-ecPublicKey, prime256v1, BIT STRING of 66 bytes). Android exports keys this way.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A device's ECDSA P-256 public key: the 65-byte uncompressed SEC1 point `04 || X || Y`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DevicePublicKey([u8; 65]);

impl DevicePublicKey {
    /// Accepts an uncompressed SEC1 point (what iOS `SecKeyCopyExternalRepresentation` gives).
    /// The point is checked to be on the curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        let point: [u8; 65] = bytes.try_into().map_err(|_| KeyError::MalformedPublicKey {
            what: "P-256",
            reason: "an uncompressed point has 65 bytes",
        })?;
        if point[0] != 0x04 {
            return Err(KeyError::MalformedPublicKey { what: "P-256", reason: "not an uncompressed point (0x04)" });
        }
        if !Self::on_curve(&point) {
            return Err(KeyError::MalformedPublicKey { what: "P-256", reason: "point is not on the curve" });
        }
        Ok(Self(point))
    }

    /// Accepts a DER SubjectPublicKeyInfo of a P-256 key (what Android's `PublicKey.getEncoded()` gives).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) => Self::from_sec1(point),
            None => Err(KeyError::MalformedPublicKey { what: "P-256", reason: "not a P-256 SubjectPublicKeyInfo" }),
        }
    }

    /// Parses the base64url wire form of the SEC1 point.
    pub fn from_b64(text: &str) -> Result<Self, KeyError> {
        let bytes =
            b64::decode(text).map_err(|_| KeyError::MalformedPublicKey { what: "P-256", reason: "not base64url" })?;
        Self::from_sec1(&bytes)
    }

    /// The uncompressed SEC1 point.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }

    /// The base64url wire form.
    pub fn to_b64(&self) -> String {
        b64::encode(&self.0)
    }

    /// Verifies an ASN.1 DER ECDSA P-256 SHA-256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &DeviceSignature) -> Result<(), KeyError> {
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &self.0[..])
            .verify(message, &signature.0)
            .map_err(|_| KeyError::BadSignature)
    }

    // ring has no direct point check, but ECDH with a throwaway key validates the peer
    // point (on the curve, not the identity), so a bad key fails at registration
    // instead of making every later verification fail.
    fn on_curve(point: &[u8; 65]) -> bool {
        let rng = SystemRandom::new();
        match ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::ECDH_P256, &rng) {
            Ok(private) => ring::agreement::agree_ephemeral(
                private,
                &ring::agreement::UnparsedPublicKey::new(&ring::agreement::ECDH_P256, &point[..]),
                |_| (),
            )
            .is_ok(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevicePublicKey({})", self.to_b64())
    }
}

impl Serialize for DevicePublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_b64())
    }
}

impl<'de> Deserialize<'de> for DevicePublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_b64(&text).map_err(serde::de::Error::custom)
    }
}

/// Longest DER encoding of a P-256 ECDSA signature (SEQUENCE of two 33-byte INTEGERs).
pub const MAX_DEVICE_SIGNATURE_LEN: usize = 72;

/// A device's ECDSA P-256 SHA-256 signature in ASN.1 DER form.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceSignature(Vec<u8>);

impl DeviceSignature {
    /// Wraps DER bytes produced by a platform key store; only the size is checked here,
    /// the encoding is checked when it is verified.
    pub fn from_der(der: Vec<u8>) -> Result<Self, KeyError> {
        if der.len() < 8 || der.len() > MAX_DEVICE_SIGNATURE_LEN || der[0] != 0x30 {
            return Err(KeyError::MalformedSignature { what: "ECDSA P-256 DER" });
        }
        Ok(Self(der))
    }

    /// The DER bytes.
    pub fn as_der(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for DeviceSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceSignature({})", b64::encode(&self.0))
    }
}

impl Serialize for DeviceSignature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&b64::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for DeviceSignature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let der = b64::decode(&text).map_err(serde::de::Error::custom)?;
        Self::from_der(der).map_err(serde::de::Error::custom)
    }
}

/// Why a device signer could not sign (e.g. the platform key store refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device key could not sign: {0}")]
pub struct SignerError(pub String);

/// Anything that holds the device's P-256 key and can sign with it: a platform key
/// store (Keystore, Secure Enclave) or [`SoftwareDeviceKey`].
pub trait DeviceSigner {
    /// The public key, as registered with the server.
    fn public_key(&self) -> DevicePublicKey;
    /// Signs `message` with ECDSA P-256 / SHA-256, returning DER.
    fn sign(&self, message: &[u8]) -> Result<DeviceSignature, SignerError>;
}

/// A software P-256 device key (ring), for desktops and tests.
pub struct SoftwareDeviceKey {
    pair: EcdsaKeyPair,
    public: DevicePublicKey,
    rng: SystemRandom,
}

impl SoftwareDeviceKey {
    /// Generates a new key and returns its PKCS#8 document, to be stored encrypted.
    pub fn generate_pkcs8() -> Result<Zeroizing<Vec<u8>>, KeyError> {
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
            .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
            .map_err(|_| KeyError::Crypto { operation: "P-256 key generation" })
    }

    /// Loads a key from its PKCS#8 document.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|_| KeyError::BadPrivateKey { what: "P-256" })?;
        let public = DevicePublicKey::from_sec1(pair.public_key().as_ref())?;
        Ok(Self { pair, public, rng })
    }

    /// A fresh key that lives only in memory.
    pub fn generate() -> Result<Self, KeyError> {
        Self::from_pkcs8(&Self::generate_pkcs8()?)
    }
}

impl DeviceSigner for SoftwareDeviceKey {
    fn public_key(&self) -> DevicePublicKey {
        self.public
    }

    fn sign(&self, message: &[u8]) -> Result<DeviceSignature, SignerError> {
        let sig = self.pair.sign(&self.rng, message).map_err(|_| SignerError("ECDSA signing failed".into()))?;
        DeviceSignature::from_der(sig.as_ref().to_vec()).map_err(|e| SignerError(e.to_string()))
    }
}

impl fmt::Debug for SoftwareDeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SoftwareDeviceKey(public {})", self.public.to_b64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_sign_verify_and_tamper() {
        let key = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
        let sig = key.sign(b"hello");
        assert_eq!(key.public_key().verify(b"hello", &sig), Ok(()));
        assert_eq!(key.public_key().verify(b"hellO", &sig), Err(KeyError::BadSignature));
        let other = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
        assert_eq!(other.public_key().verify(b"hello", &sig), Err(KeyError::BadSignature));
    }

    #[test]
    fn key_id_is_sha256_prefix_and_11_chars() {
        let key = ServerPublicKey([7u8; 32]);
        assert_eq!(key.key_id().0, sha256(&[7u8; 32])[..8]);
        assert_eq!(key.key_id().to_string().len(), 11);
        assert_eq!(KeyId::from_b64(&key.key_id().to_string()), Ok(key.key_id()));
    }

    #[test]
    fn device_sign_verify_and_tamper() {
        let key = SoftwareDeviceKey::generate().unwrap();
        let sig = key.sign(b"approve").unwrap();
        assert!(sig.as_der().len() <= MAX_DEVICE_SIGNATURE_LEN);
        assert_eq!(key.public_key().verify(b"approve", &sig), Ok(()));
        assert_eq!(key.public_key().verify(b"deny", &sig), Err(KeyError::BadSignature));
    }

    #[test]
    fn device_key_forms_round_trip() {
        let key = SoftwareDeviceKey::generate().unwrap().public_key();
        assert_eq!(DevicePublicKey::from_b64(&key.to_b64()), Ok(key));
        let spki = [&P256_SPKI_PREFIX[..], &key.as_bytes()[..]].concat();
        assert_eq!(DevicePublicKey::from_spki_der(&spki), Ok(key));
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<DevicePublicKey>(&json).unwrap(), key);
    }

    #[test]
    fn malformed_device_keys_are_rejected() {
        let good = *SoftwareDeviceKey::generate().unwrap().public_key().as_bytes();
        assert!(DevicePublicKey::from_sec1(&good[..64]).is_err());
        let mut compressed = good;
        compressed[0] = 0x02;
        assert!(DevicePublicKey::from_sec1(&compressed).is_err());
        let mut off_curve = good;
        off_curve[64] ^= 1;
        assert!(DevicePublicKey::from_sec1(&off_curve).is_err());
        assert!(DevicePublicKey::from_sec1(&[0x04; 65]).is_err());
        assert!(DevicePublicKey::from_spki_der(&good).is_err());
        assert!(DevicePublicKey::from_b64("!!").is_err());
        assert!(serde_json::from_str::<DevicePublicKey>("\"AAAA\"").is_err());
    }

    #[test]
    fn malformed_device_signatures_are_rejected() {
        assert!(DeviceSignature::from_der(vec![]).is_err());
        assert!(DeviceSignature::from_der(vec![0x30; 73]).is_err());
        assert!(DeviceSignature::from_der(vec![0x31; 70]).is_err());
        let garbage = DeviceSignature::from_der(vec![0x30, 6, 2, 1, 1, 2, 1, 1]).unwrap();
        let key = SoftwareDeviceKey::generate().unwrap().public_key();
        assert_eq!(key.verify(b"x", &garbage), Err(KeyError::BadSignature));
        assert!(serde_json::from_str::<DeviceSignature>("\"not base64!\"").is_err());
    }

    #[test]
    fn bad_private_keys_are_rejected() {
        assert!(ServerSigningKey::from_pkcs8(b"junk").is_err());
        assert!(SoftwareDeviceKey::from_pkcs8(b"junk").is_err());
        let ed = ServerSigningKey::generate_pkcs8().unwrap();
        assert!(SoftwareDeviceKey::from_pkcs8(&ed).is_err());
    }
}
