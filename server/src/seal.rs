//! Sealing of PIN secrets at rest: AES-256-GCM under the key file, bound to the device id.

use nyckel_protocol::{b64, DeviceId, PinSecret};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key is unusable or the random generator failed.
    #[error("sealing a PIN secret failed")]
    Seal,
    /// The sealed value is malformed or was not made for this device under this key.
    #[error("a sealed PIN secret does not open (wrong key, device or corrupted record)")]
    Open,
}

/// Seals and opens PIN secrets.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Sealer {
    /// A sealer under a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Result<Self, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SealError::Seal)?;
        Ok(Self { key: LessSafeKey::new(unbound), rng: SystemRandom::new() })
    }

    /// `nonce ‖ ciphertext ‖ tag`, base64url; the device id is the associated data so a
    /// sealed secret copied onto another device record does not open.
    pub fn seal(&self, device: &DeviceId, secret: &PinSecret) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Seal)?;
        let mut buf = Zeroizing::new(secret.expose().to_vec());
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(device.as_str()), &mut *buf)
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(b64::encode(&out))
    }

    /// Opens a sealed secret of `device`.
    pub fn open(&self, device: &DeviceId, sealed: &str) -> Result<PinSecret, SealError> {
        let raw = b64::decode(sealed).map_err(|_| SealError::Open)?;
        if raw.len() != NONCE_LEN + 32 + AES_256_GCM.tag_len() {
            return Err(SealError::Open);
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut body = Zeroizing::new(body.to_vec());
        let plain =
            self.key.open_in_place(nonce, Aad::from(device.as_str()), &mut body).map_err(|_| SealError::Open)?;
        let bytes: [u8; 32] = (&*plain).try_into().map_err(|_| SealError::Open)?;
        Ok(PinSecret::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let sealer = Sealer::new(&[9; 32]).unwrap();
        let dev = DeviceId::new("dev-1").unwrap();
        let secret = PinSecret::from_bytes([3; 32]);
        let sealed = sealer.seal(&dev, &secret).unwrap();
        assert_eq!(sealer.open(&dev, &sealed).unwrap(), secret);
        assert_eq!(sealer.open(&DeviceId::new("dev-2").unwrap(), &sealed), Err(SealError::Open));
        assert_eq!(Sealer::new(&[8; 32]).unwrap().open(&dev, &sealed), Err(SealError::Open));
        assert_eq!(sealer.open(&dev, "AAAA"), Err(SealError::Open));
    }
}
