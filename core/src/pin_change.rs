//! Changing a registration's PIN (PROTOCOL.md §4.7): the old PIN proves itself in a rekey, a
//! fresh `S` is agreed with the server, blinded under the new PIN, stored, and confirmed.
//!
//! Why a fresh `S`: re-blinding the same `S` under the new PIN would leave `E_old ⊕ E_new =
//! KDF(old, salt_old) ⊕ KDF(new, salt_new)`, independent of `S`, to anyone with vault
//! snapshots from before and after — an offline test of PIN pairs (core/tests/pin_change.rs
//! runs that attack). With a fresh `S_new`, `E_old ⊕ E_new` also contains `S_old ⊕ S_new`,
//! which is random to the attacker, so no pair stands out.
//!
//! Steps: unblind `S_old` with the old PIN → `POST /v1/device/rekey` (signed request, MAC under
//! `S_old`, the phone's X25519 share; the server counts a wrong MAC like a wrong approval) →
//! [`Rekeyed::accept`] verifies the server's signed share under the pinned key and derives
//! `S_new` → blind `S_new` under the new PIN with a fresh salt → overwrite the registration
//! record in one write → confirm with a [`PinCheck`] under `S_new` (`POST /v1/device/pin-check`),
//! which makes the server promote its pending `S_new` and destroy `S_old`.
//!
//! With biometrics on, `B` (§4.8) is sealed again over `S_new` and written in the same record
//! swap, or dropped there when it cannot be; a `B` of `S_old` never outlives the change.
//!
//! If the confirmation does not get through (network), the new record is kept: the server
//! promotes the pending secret on the first MAC made under it (the next approval or OTP).
//!
//! What stays of the old record on disk: sled is log-structured, so the overwrite appends the
//! new sealed record and the old one's bytes remain in the segment file until sled's segment
//! cleaning rewrites or reuses that space. They are sealed under the vault key like every
//! record, and once the server has promoted `S_new` the old `E` unblinds to nothing usable —
//! which is the point of rotating `S` rather than re-blinding it.

use nyckel_protocol::{BlindedPinSecret, EphemeralKey, Pin, PinCheck, PinError, PinSecret, Rekey};

use crate::approvals::ApprovalError;
use crate::companion::{Companion, CompanionError};
use crate::server_api::ServerApiError;
use crate::vault::registrations::BiometricSeal;

/// The server's verdict when it counted a PIN, else the error as it is.
pub(crate) fn pin_refusal(error: CompanionError) -> CompanionError {
    if let CompanionError::Server(ServerApiError::Refused { code, attempts_left, .. }) = &error {
        if let Some(verdict) = ApprovalError::pin_verdict(*code, *attempts_left) {
            return verdict.into();
        }
    }
    error
}

impl Companion {
    /// `B` of `S_new`, when the registration has biometrics on and the platform key seals it
    /// (on Android this prompts once more). `None` — and so `B` dropped — otherwise: the PIN
    /// change matters more than keeping biometrics, which the user can enable again.
    async fn reseal_biometric(&self, registration_id: &str, new_secret: &PinSecret) -> Option<BiometricSeal> {
        let registration = self.vault.registration(registration_id).ok()??;
        let alias = registration.biometric.as_ref()?.key_alias.clone();
        let key = self.biometric_key().ok()?;
        let secret = new_secret.clone();
        crate::biometrics::off_runtime(move || {
            crate::biometrics::seal_secret(key.as_ref(), &registration, &alias, &secret, "Keep biometric approval")
        })
        .await
        .ok()
    }

    /// Changes the PIN of a registration from `old_pin` to `new_pin` (each 4–16 digits; the
    /// UI asks the new one twice and compares before calling), rotating `S`. With biometrics
    /// on, the new `S` is sealed again under the registration's biometric key (which may prompt)
    /// and written with the new PIN record; if that fails (cancelled, invalidated, no key store)
    /// `B` is dropped in the same write and biometrics are off until enabled again.
    ///
    /// Both PINs' forms are checked first, so a mistyped new PIN spends no attempt. A wrong old
    /// PIN is [`ApprovalError::WrongPin`] with the attempts left and
    /// [`ApprovalError::DeviceBlocked`] once the device is blocked; on those, and on any error
    /// before the server answered the rekey, nothing stored changes. On success the
    /// registration's blinded secret is a new `S` under the new PIN, with a fresh salt and the
    /// KDF new registrations use. A confirmation that fails on the network still returns
    /// `Ok` (see the module documentation).
    pub async fn change_pin(&self, registration_id: &str, old_pin: &str, new_pin: &str) -> Result<(), CompanionError> {
        let old_pin = Pin::new(old_pin)?;
        let new_pin = Pin::new(new_pin)?;
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        let device_id = &registration.device_id;
        let (phone_key, share) = EphemeralKey::generate().map_err(|_| PinError::Crypto("X25519 key generation"))?;

        // The rekey request is rebuilt (with the corrected time) if the server calls it stale;
        // S_old exists only inside `make` and is zeroized when it returns.
        let make = |now: u64| -> Result<Rekey, CompanionError> {
            let old_secret = registration.pin.unblind(&old_pin)?;
            Ok(Rekey::create(device_id, &old_secret, &share, now).map_err(|_| PinError::Crypto("random generator"))?)
        };
        let mut request = make(self.now())?;
        let answer = match self.client.rekey(&registration, &signer, &request, request.timestamp).await {
            Err(ServerApiError::Refused {
                code: nyckel_protocol::ErrorCode::StaleRequest,
                server_time: Some(time),
                ..
            }) => {
                self.observe_server_time(time)?;
                request = make(self.now())?;
                self.client.rekey(&registration, &signer, &request, request.timestamp).await
            }
            other => other,
        }
        .map_err(|error| pin_refusal(error.into()))?;
        drop(old_pin);

        // S_new exists only in this scope (zeroized on drop): blinded, then used for the check.
        let new_secret = answer.accept(device_id, &request, &registration.server_key, phone_key)?;
        let blinded = BlindedPinSecret::blind(&new_secret, &new_pin, self.settings.pin_kdf)?;
        drop(new_pin);
        let resealed = self.reseal_biometric(registration_id, &new_secret).await;
        // Only the PIN record and B are replaced, in one write, so challenges recorded as seen
        // meanwhile are kept and B never holds the old S next to the new E.
        if !self.vault.replace_registration_pin(registration_id, &blinded, resealed.as_ref())? {
            return Err(CompanionError::UnknownRegistration(registration_id.to_owned()));
        }

        let confirmed = self
            .with_clock_retry(|now| {
                let check = PinCheck::create(device_id, &new_secret, now);
                let client = &self.client;
                let (registration, signer) = (&registration, &signer);
                async move {
                    let check = check.map_err(|_| ServerApiError::Request("random generator failed".into()))?;
                    client.pin_check(registration, signer, &check, now).await
                }
            })
            .await;
        drop(new_secret);
        match confirmed {
            Ok(()) => Ok(()),
            // The server promotes S_new on the next MAC under it.
            Err(CompanionError::Server(ServerApiError::Network { .. })) => Ok(()),
            Err(error) => Err(pin_refusal(error)),
        }
    }
}
