//! PIN change rotates `S`: the phone's rekey request (MACed under the old `S`) and the
//! server's signed answer, from which both derive a new `S` by key agreement.
//!
//! Re-blinding the same `S` under a new PIN would let anyone holding vault snapshots from
//! before and after the change test PIN pairs offline (`E_old ⊕ E_new` is independent of
//! `S`); a fresh `S` removes that relation. See docs/PROTOCOL.md §4.

use serde::{Deserialize, Serialize};

use crate::agreement::{AgreementError, EphemeralKey, KeyShare};
use crate::canonical::{tags, Canonical};
use crate::ids::{DeviceId, IdError, Nonce};
use crate::keys::{ServerPublicKey, ServerSignature, ServerSigningKey};
use crate::pin::{PinMac, PinSecret};
use crate::pin_check::PinCheckOutcome;
use crate::policy::REQUEST_TIMESTAMP_WINDOW;

/// Why the phone refused a rekey answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekeyError {
    /// The answer is not signed by the pinned server key for this request.
    #[error("the rekey answer does not verify under the pinned server key")]
    BadSignature,
    /// The key agreement failed.
    #[error(transparent)]
    Agreement(#[from] AgreementError),
}

/// Body of `POST /v1/device/rekey` (a device-signed request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rekey {
    /// Phone time, Unix seconds.
    pub timestamp: u64,
    /// Fresh per request; the server refuses one it has seen within the window.
    pub nonce: Nonce,
    /// The phone's X25519 share for the new `S`.
    pub key_share: KeyShare,
    /// HMAC under the *old* `S`'s MAC key over [`rekey_bytes`]: proves the old PIN.
    pub mac: PinMac,
}

/// The canonical bytes MACed in a rekey request (tag `nyckel/v2/rekey`): device id,
/// timestamp, nonce, the phone's key share.
pub fn rekey_bytes(device_id: &DeviceId, timestamp: u64, nonce: &Nonce, key_share: &KeyShare) -> Vec<u8> {
    Canonical::new(tags::REKEY).str(device_id.as_str()).u64(timestamp).bytes(&nonce.0).bytes(&key_share.0).finish()
}

fn answer_bytes(tag: &str, device_id: &DeviceId, request: &Rekey, server_share: &KeyShare) -> Vec<u8> {
    Canonical::new(tag)
        .str(device_id.as_str())
        .u64(request.timestamp)
        .bytes(&request.nonce.0)
        .bytes(&request.key_share.0)
        .bytes(&server_share.0)
        .finish()
}

/// The canonical bytes the server signs in [`Rekeyed`] (tag `nyckel/v2/rekeyed`): device id,
/// timestamp, nonce, phone share, server share. The transcript of the new `S` is the same
/// fields under the tag `nyckel/v2/rekey-transcript`.
pub fn rekeyed_bytes(device_id: &DeviceId, request: &Rekey, server_share: &KeyShare) -> Vec<u8> {
    answer_bytes(tags::REKEYED, device_id, request, server_share)
}

impl Rekey {
    /// The phone's request, MACed with the secret the old PIN unblinded.
    pub fn create(
        device_id: &DeviceId,
        old_secret: &PinSecret,
        key_share: &KeyShare,
        now: u64,
    ) -> Result<Self, IdError> {
        let nonce = Nonce::random()?;
        let mac = old_secret.mac_key().mac(&rekey_bytes(device_id, now, &nonce, key_share));
        Ok(Self { timestamp: now, nonce, key_share: *key_share, mac })
    }

    /// The server's verdict on the MAC (a wrong one counts as a wrong PIN).
    pub fn check(&self, device_id: &DeviceId, secret: &PinSecret, now: u64) -> PinCheckOutcome {
        if self.timestamp.abs_diff(now) > REQUEST_TIMESTAMP_WINDOW {
            return PinCheckOutcome::Stale;
        }
        let bytes = rekey_bytes(device_id, self.timestamp, &self.nonce, &self.key_share);
        if secret.mac_key().verify(&bytes, &self.mac) {
            PinCheckOutcome::Correct
        } else {
            PinCheckOutcome::Wrong
        }
    }
}

/// The 200 response to [`Rekey`]: the server's share, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rekeyed {
    /// The server's X25519 share for the new `S`.
    pub key_share: KeyShare,
    /// Ed25519 over [`rekeyed_bytes`].
    pub signature: ServerSignature,
}

impl Rekeyed {
    /// The server's answer to a request whose MAC it has checked ([`Rekey::check`] gave
    /// `Correct`). Returns the answer and the new `S`, which the server keeps as the
    /// device's *pending* secret.
    pub fn issue(
        device_id: &DeviceId,
        request: &Rekey,
        key: &ServerSigningKey,
    ) -> Result<(Self, PinSecret), AgreementError> {
        let (server_key, server_share) = EphemeralKey::generate()?;
        let secret = server_key
            .agree(&request.key_share, &answer_bytes(tags::REKEY_TRANSCRIPT, device_id, request, &server_share))?;
        let signature = key.sign(&rekeyed_bytes(device_id, request, &server_share));
        Ok((Self { key_share: server_share, signature }, secret))
    }

    /// The phone's check (signed by the pinned server key over this request and both shares)
    /// and derivation of the new `S`, consuming `phone_key`.
    pub fn accept(
        &self,
        device_id: &DeviceId,
        request: &Rekey,
        server_key: &ServerPublicKey,
        phone_key: EphemeralKey,
    ) -> Result<PinSecret, RekeyError> {
        server_key
            .verify(&rekeyed_bytes(device_id, request, &self.key_share), &self.signature)
            .map_err(|_| RekeyError::BadSignature)?;
        Ok(phone_key
            .agree(&self.key_share, &answer_bytes(tags::REKEY_TRANSCRIPT, device_id, request, &self.key_share))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerSigningKey {
        ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap()
    }

    #[test]
    fn rekey_round_trip_gives_a_new_shared_secret() {
        let server = server();
        let dev = DeviceId::new("dev-1").unwrap();
        let old = PinSecret::from_bytes([4; 32]);
        let (phone_key, phone_share) = EphemeralKey::generate().unwrap();
        let request = Rekey::create(&dev, &old, &phone_share, 1_000).unwrap();
        let request: Rekey = serde_json::from_str(&serde_json::to_string(&request).unwrap()).unwrap();
        assert_eq!(request.check(&dev, &old, 1_010), PinCheckOutcome::Correct);
        let (answer, server_new) = Rekeyed::issue(&dev, &request, &server).unwrap();
        let answer: Rekeyed = serde_json::from_str(&serde_json::to_string(&answer).unwrap()).unwrap();
        let phone_new = answer.accept(&dev, &request, &server.public_key(), phone_key).unwrap();
        assert_eq!(phone_new, server_new);
        assert_ne!(phone_new, old);
    }

    #[test]
    fn check_outcomes() {
        let dev = DeviceId::new("dev-1").unwrap();
        let old = PinSecret::from_bytes([4; 32]);
        let (_, share) = EphemeralKey::generate().unwrap();
        let request = Rekey::create(&dev, &old, &share, 100).unwrap();
        assert_eq!(request.check(&dev, &PinSecret::from_bytes([5; 32]), 100), PinCheckOutcome::Wrong);
        assert_eq!(request.check(&DeviceId::new("dev-2").unwrap(), &old, 100), PinCheckOutcome::Wrong);
        assert_eq!(request.check(&dev, &old, 100 + REQUEST_TIMESTAMP_WINDOW + 1), PinCheckOutcome::Stale);
        // The MAC covers the share: a relay cannot substitute its own.
        let mut swapped = request.clone();
        swapped.key_share = EphemeralKey::generate().unwrap().1;
        assert_eq!(swapped.check(&dev, &old, 100), PinCheckOutcome::Wrong);
        // A PIN check MAC is not a rekey MAC (domain separation).
        let check = crate::pin_check::PinCheck::create(&dev, &old, 100).unwrap();
        let forged = Rekey { timestamp: check.timestamp, nonce: check.nonce, key_share: share, mac: check.mac };
        assert_eq!(forged.check(&dev, &old, 100), PinCheckOutcome::Wrong);
    }

    #[test]
    fn tampered_or_foreign_answers_are_refused() {
        let server = server();
        let dev = DeviceId::new("dev-1").unwrap();
        let old = PinSecret::from_bytes([4; 32]);
        let fresh = || EphemeralKey::generate().unwrap();
        let (_, phone_share) = fresh();
        let request = Rekey::create(&dev, &old, &phone_share, 100).unwrap();
        let (answer, _) = Rekeyed::issue(&dev, &request, &server).unwrap();
        let mut swapped = answer.clone();
        swapped.key_share = fresh().1;
        assert_eq!(swapped.accept(&dev, &request, &server.public_key(), fresh().0), Err(RekeyError::BadSignature));
        let other_request = Rekey::create(&dev, &old, &phone_share, 100).unwrap();
        assert_eq!(answer.accept(&dev, &other_request, &server.public_key(), fresh().0), Err(RekeyError::BadSignature));
        assert_eq!(
            answer.accept(&DeviceId::new("dev-2").unwrap(), &request, &server.public_key(), fresh().0),
            Err(RekeyError::BadSignature)
        );
        let impostor = self::server();
        let (forged, _) = Rekeyed::issue(&dev, &request, &impostor).unwrap();
        assert_eq!(forged.accept(&dev, &request, &server.public_key(), fresh().0), Err(RekeyError::BadSignature));
    }

    #[test]
    fn malformed_json() {
        assert!(serde_json::from_str::<Rekey>(r#"{"timestamp":1,"nonce":"AAAAAAAAAAAAAAAAAAAAAA"}"#).is_err());
        let (_, share) = EphemeralKey::generate().unwrap();
        let request = Rekey::create(&DeviceId::new("d").unwrap(), &PinSecret::from_bytes([1; 32]), &share, 1).unwrap();
        let mut json = serde_json::to_value(&request).unwrap();
        json["extra"] = 1.into();
        assert!(serde_json::from_value::<Rekey>(json).is_err());
        let mut json = serde_json::to_value(&request).unwrap();
        json["key_share"] = "AAAA".into();
        assert!(serde_json::from_value::<Rekey>(json).is_err());
        assert!(serde_json::from_str::<Rekeyed>(r#"{"key_share":"AAAA","signature":"AAAA"}"#).is_err());
    }
}
