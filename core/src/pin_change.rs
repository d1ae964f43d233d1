//! Changing a registration's PIN (PROTOCOL.md §4.7): the server confirms the old PIN, then `S'` is re-blinded.
//!
//! The phone cannot tell a right PIN from a wrong one (§4.3), so re-blinding on its own could
//! store a wrong `S` under the new PIN and silently break the registration. Instead the old
//! PIN unblinds `S'`, a MACed PIN check goes to the server (counted like an approval), and
//! only once the server accepts it is the record re-blinded under the new PIN written — in one
//! write, so the vault holds either the old record or the new one.

use nyckel_protocol::{BlindedPinSecret, Pin, PinCheck, PinError};

use crate::approvals::ApprovalError;
use crate::companion::{Companion, CompanionError};
use crate::server_api::ServerApiError;

impl Companion {
    /// Changes the PIN of a registration from `old_pin` to `new_pin` (each 4–16 digits; the
    /// UI asks the new one twice and compares before calling).
    ///
    /// Both PINs' forms are checked first, so a mistyped new PIN spends no attempt. A wrong old
    /// PIN is [`ApprovalError::WrongPin`] with the attempts left (the server counts it like a
    /// wrong approval) and [`ApprovalError::DeviceBlocked`] once the device is blocked; on any
    /// error nothing stored changes. On success the registration's blinded secret is replaced:
    /// the same `S` under the new PIN, with a fresh salt and the KDF new registrations use.
    pub async fn change_pin(&self, registration_id: &str, old_pin: &str, new_pin: &str) -> Result<(), CompanionError> {
        let old_pin = Pin::new(old_pin)?;
        let new_pin = Pin::new(new_pin)?;
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        let now = self.now();
        let (check, reblinded) = {
            // S' exists only in this block and is zeroized when dropped (PROTOCOL.md §4.4 rule
            // 5). The record for the new PIN is made here and written only after the server
            // accepts the check, so S' is never held across the network call.
            let secret = registration.pin.unblind(&old_pin)?;
            let check = PinCheck::create(&registration.device_id, &secret, now)
                .map_err(|_| PinError::Crypto("random generator"))?;
            let reblinded = BlindedPinSecret::blind(&secret, &new_pin, self.settings.pin_kdf)?;
            (check, reblinded)
        };
        // The PINs are not needed any more: wiped now rather than after the round trip.
        drop(old_pin);
        drop(new_pin);
        if let Err(error) = self.client.pin_check(&registration, &signer, &check, now).await {
            let verdict = match &error {
                ServerApiError::Refused { code, attempts_left, .. } => {
                    ApprovalError::pin_verdict(*code, *attempts_left)
                }
                _ => None,
            };
            return Err(verdict.map_or_else(|| error.into(), CompanionError::from));
        }
        // Only the blinded secret is replaced, so challenges recorded as seen meanwhile are kept.
        if !self.vault.replace_registration_pin(registration_id, &reblinded)? {
            return Err(CompanionError::UnknownRegistration(registration_id.to_owned()));
        }
        Ok(())
    }
}
