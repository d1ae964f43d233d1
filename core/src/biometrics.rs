//! Biometric unlock of a registration's `S` (PROTOCOL.md §4.8): the platform key trait, `B` in the vault, and the calls that use it.
//!
//! Next to `E = S ⊕ KDF(PIN)` a registration may hold `B`, the same `S` sealed (AES-256-GCM or
//! the platform's equivalent) by a key that the platform releases only after the user
//! authenticates — Android Keystore with `setUserAuthenticationRequired`, a Secure Enclave key
//! with `.biometryCurrentSet`. The core reaches that key only through [`BiometricKey`] and never
//! sees it. `S` recovered from `B` is used exactly as `S` recovered with the PIN (same MAC, same
//! OTP), once, and zeroized.
//!
//! - **Enabling** needs the PIN once: `S` is unblinded, proven to the server with a PIN check
//!   (so a mistyped PIN is counted there and never sealed into `B`, where it would fail every
//!   later approval), then sealed under a fresh platform key and stored only if `E` is still
//!   the record it came from.
//! - **Disabling** removes `B` and deletes the platform key.
//! - **Invalidation**: when the platform says the key is gone (biometrics changed) or `B` does
//!   not authenticate, `B` is dropped and the typed error tells the UI to use the PIN.
//! - **PIN change** rotates `S`; [`crate::pin_change`] re-seals the new `S` or drops `B` in the
//!   same write as the new `E`.
//!
//! Nothing here touches the server's PIN-failure counting: biometric failures are local.

use std::sync::Arc;

use nyckel_protocol::{Answer, Canonical, ChallengeId, ChallengeState, PinCheck, PinSecret};
use zeroize::Zeroizing;

use crate::approvals::ApprovalError;
use crate::companion::{Companion, CompanionError};
use crate::qr_otp::{parse_otp_code, pick_registration, QrOtpError};
use crate::server_api::ServerApiError;
use crate::vault::registrations::{BiometricSeal, Registration};

/// Domain-separation tag of the associated data that binds `B` to its registration.
pub const BIOMETRIC_AAD_TAG: &str = "nyckel/v2/biometric-secret";

/// Why the platform's biometric key, or `B`, could not be used. Every case leaves the PIN path
/// working; the case says what the UI should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BiometricError {
    /// The user dismissed the prompt. Nothing changed; ask again or use the PIN.
    #[error("biometric authentication was cancelled")]
    Cancelled,
    /// Too many failed biometric attempts: the platform locked biometrics for now. Use the PIN.
    #[error("biometrics are locked after too many attempts; use the PIN")]
    Lockout,
    /// The platform invalidated the key (biometrics were added or removed, or the key was
    /// deleted). `B` has been dropped: use the PIN, and enable biometrics again if wanted.
    #[error(
        "the biometric key was invalidated (biometrics changed); biometrics are off for this registration, use the PIN"
    )]
    KeyInvalidated,
    /// `B` did not authenticate under the platform key (altered, moved to another registration,
    /// or sealed by another key). `B` has been dropped: use the PIN.
    #[error(
        "the biometrically sealed secret does not authenticate; biometrics are off for this registration, use the PIN"
    )]
    Tampered,
    /// No biometric hardware, nothing enrolled, or no biometric key store given to the core.
    #[error("biometrics are not available: {reason}")]
    NotAvailable {
        /// What the platform said.
        reason: String,
    },
    /// Biometrics are not enabled for this registration.
    #[error("biometrics are not enabled for this registration")]
    NotEnabled,
    /// The PIN record changed while biometrics were being enabled (a PIN change ran): nothing
    /// was stored; enable again.
    #[error("the PIN changed while biometrics were being enabled; nothing was stored")]
    PinChanged,
    /// The platform failed otherwise.
    #[error("the biometric key failed: {reason}")]
    Failed {
        /// What the platform said.
        reason: String,
    },
}

/// A platform key that seals and opens bytes only after the user authenticates (biometrics),
/// one key per alias. Android: a Keystore AES-256-GCM key with `setUserAuthenticationRequired`
/// and `setInvalidatedByBiometricEnrollment`, used through `BiometricPrompt`. iOS: a Secure
/// Enclave P-256 key with `.biometryCurrentSet`, used by ECIES. Object-safe with owned
/// arguments, so the FFI layer can implement it in Kotlin or Swift.
///
/// The calls may block while the platform shows its prompt; the core makes them from a
/// blocking thread when it is inside an async operation.
pub trait BiometricKey: Send + Sync {
    /// Creates a new key under `alias`, replacing any key there.
    fn create_key(&self, alias: String) -> Result<(), BiometricError>;
    /// Encrypts `plaintext` under the key, authenticated and bound to `aad` (a ciphertext
    /// opened with other associated data MUST fail). `reason` is shown in the prompt.
    fn seal(&self, alias: String, plaintext: Vec<u8>, aad: Vec<u8>, reason: String) -> Result<Vec<u8>, BiometricError>;
    /// Decrypts what [`BiometricKey::seal`] made with the same `aad`; a ciphertext that does not
    /// authenticate is [`BiometricError::Tampered`]. `reason` is shown in the prompt.
    fn open(&self, alias: String, sealed: Vec<u8>, aad: Vec<u8>, reason: String) -> Result<Vec<u8>, BiometricError>;
    /// Deletes the key under `alias`; a missing key is not an error.
    fn delete_key(&self, alias: String) -> Result<(), BiometricError>;
}

/// The associated data of `B`: the tag, the registration id and the device id, so a `B`
/// copied into another registration's record does not open.
pub fn biometric_aad(registration: &Registration) -> Vec<u8> {
    Canonical::new(BIOMETRIC_AAD_TAG).str(&registration.id).str(registration.device_id.as_str()).finish()
}

/// The alias of a registration's biometric key.
pub fn biometric_alias(registration_id: &str) -> String {
    format!("nyckel-bio-{registration_id}")
}

/// Seals `secret` for `registration` under the key at `alias` (which must exist).
pub(crate) fn seal_secret(
    key: &dyn BiometricKey,
    registration: &Registration,
    alias: &str,
    secret: &PinSecret,
    reason: &str,
) -> Result<BiometricSeal, BiometricError> {
    let sealed =
        key.seal(alias.to_owned(), secret.expose().to_vec(), biometric_aad(registration), reason.to_owned())?;
    Ok(BiometricSeal { key_alias: alias.to_owned(), sealed })
}

/// Runs a platform call that may block on a prompt: on tokio's blocking pool when inside a
/// runtime (so a worker thread is not held while the user looks for a finger), directly otherwise.
pub(crate) async fn off_runtime<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, BiometricError> + Send + 'static,
) -> Result<T, BiometricError> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(call)
            .await
            .unwrap_or_else(|error| Err(BiometricError::Failed { reason: format!("the prompt task failed: {error}") })),
        Err(_) => call(),
    }
}

impl Companion {
    /// Gives the core the platform's biometric key store (or takes it away with `None`).
    /// Without one, every biometric call is [`BiometricError::NotAvailable`] and a PIN change
    /// drops `B`.
    pub fn set_biometric_key(&self, key: Option<Arc<dyn BiometricKey>>) {
        *self.biometric.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = key;
    }

    pub(crate) fn biometric_key(&self) -> Result<Arc<dyn BiometricKey>, BiometricError> {
        self.biometric
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .ok_or_else(|| BiometricError::NotAvailable { reason: "no biometric key store is set".into() })
    }

    /// Whether the registration holds `B`.
    pub fn biometrics_enabled(&self, registration_id: &str) -> Result<bool, CompanionError> {
        Ok(self.registration(registration_id)?.biometric.is_some())
    }

    /// Enables biometric unlock for a registration with the PIN, once: `S` is unblinded and
    /// proven to the server with a PIN check (`POST /v1/device/pin-check`, which counts a wrong
    /// PIN like a wrong approval: [`ApprovalError::WrongPin`], [`ApprovalError::DeviceBlocked`]),
    /// then sealed under a fresh platform key (which may prompt) and stored as `B`. On any
    /// error nothing is stored. Enabling again replaces the key and `B`.
    pub async fn enable_biometrics(&self, registration_id: &str, pin: &str) -> Result<(), CompanionError> {
        let pin = nyckel_protocol::Pin::new(pin)?;
        let key = self.biometric_key()?;
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        let device_id = &registration.device_id;
        let secret = registration.pin.unblind(&pin)?;
        drop(pin);
        // The server, not the phone, says whether the PIN was right (§4.4 rule 2).
        let checked = self
            .with_clock_retry(|now| {
                let check = PinCheck::create(device_id, &secret, now);
                let (client, registration, signer) = (&self.client, &registration, &signer);
                async move {
                    let check = check.map_err(|_| ServerApiError::Request("random generator failed".into()))?;
                    client.pin_check(registration, signer, &check, now).await
                }
            })
            .await;
        if let Err(error) = checked {
            return Err(crate::pin_change::pin_refusal(error));
        }

        let alias = biometric_alias(registration_id);
        let sealed = {
            let (key, registration, alias) = (key.clone(), registration.clone(), alias.clone());
            off_runtime(move || {
                key.create_key(alias.clone())?;
                let sealed = seal_secret(key.as_ref(), &registration, &alias, &secret, "Turn on biometric approval");
                drop(secret);
                if sealed.is_err() {
                    let _ = key.delete_key(alias);
                }
                sealed
            })
            .await?
        };
        match self.vault.set_registration_biometric(registration_id, &registration.pin, &sealed) {
            Ok(true) => Ok(()),
            Ok(false) => {
                let _ = key.delete_key(alias);
                match self.vault.registration(registration_id)? {
                    None => Err(CompanionError::UnknownRegistration(registration_id.to_owned())),
                    Some(_) => Err(BiometricError::PinChanged.into()),
                }
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Disables biometric unlock: removes `B`, then deletes the platform key (best effort: a key
    /// without `B` unlocks nothing). Disabling a registration without `B` is not an error.
    pub fn disable_biometrics(&self, registration_id: &str) -> Result<(), CompanionError> {
        self.registration(registration_id)?;
        if let Some(removed) = self.vault.clear_registration_biometric(registration_id, None)? {
            if let Ok(key) = self.biometric_key() {
                let _ = key.delete_key(removed.key_alias);
            }
        }
        Ok(())
    }

    /// Opens `B` of a registration (the platform prompts). An invalidated key or a `B` that
    /// does not authenticate drops `B` before the error is returned.
    fn unlock_blocking(
        key: &dyn BiometricKey,
        registration: &Registration,
        reason: &str,
    ) -> Result<PinSecret, BiometricError> {
        let seal = registration.biometric.as_ref().ok_or(BiometricError::NotEnabled)?;
        let plain = Zeroizing::new(key.open(
            seal.key_alias.clone(),
            seal.sealed.clone(),
            biometric_aad(registration),
            reason.to_owned(),
        )?);
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| BiometricError::Tampered)?;
        Ok(PinSecret::from_bytes(bytes))
    }

    /// What follows a failed unlock: `B` is dropped (and its key deleted) when it can never
    /// work again, so the user is not prompted for nothing; the error is returned as it is.
    fn after_unlock_failure(&self, registration: &Registration, error: BiometricError) -> CompanionError {
        if matches!(error, BiometricError::KeyInvalidated | BiometricError::Tampered) {
            if let Err(vault_error) = self.drop_biometric(registration) {
                return vault_error;
            }
        }
        error.into()
    }

    /// Drops exactly the `B` the registration held (a newer one is kept) and deletes its key.
    fn drop_biometric(&self, registration: &Registration) -> Result<(), CompanionError> {
        if let Some(seal) = &registration.biometric {
            if self.vault.clear_registration_biometric(&registration.id, Some(seal))?.is_some() {
                if let Ok(key) = self.biometric_key() {
                    let _ = key.delete_key(seal.key_alias.clone());
                }
            }
        }
        Ok(())
    }

    /// Approves a pending challenge with biometrics instead of the PIN: `S` comes from `B` after
    /// the platform's prompt, and the answer is made exactly as [`Companion::approve`] makes it
    /// (the server sees the same MAC). Cancelling or a lockout leaves the challenge pending for
    /// the PIN. Should the server call the MAC wrong anyway (`B` holding an `S` it does not
    /// accept), `B` is dropped so that biometrics cannot spend further attempts, and the
    /// server's verdict is returned.
    pub async fn approve_with_biometrics(
        &self,
        registration_id: &str,
        challenge_id: &ChallengeId,
        number: Option<&str>,
    ) -> Result<ChallengeState, CompanionError> {
        let key = self.biometric_key()?;
        let (registration, challenge) = self.pending_challenge(registration_id, challenge_id)?;
        if registration.biometric.is_none() {
            return Err(BiometricError::NotEnabled.into());
        }
        let signer = self.signer(&registration)?;
        let reason = format!("Approve: {} — {}", challenge.display.context.service, challenge.display.context.action);
        let unlocked = {
            let registration = registration.clone();
            off_runtime(move || Self::unlock_blocking(key.as_ref(), &registration, &reason)).await
        };
        let secret = match unlocked {
            Ok(secret) => secret,
            Err(error) => return Err(self.after_unlock_failure(&registration, error)),
        };
        let now = self.now();
        let answer = Answer::approve(&challenge, number.map(str::to_owned), now, &signer, &secret);
        drop(secret);
        let answer = answer.map_err(ApprovalError::from)?;
        let result = self.send_answer(&registration, &signer, &challenge, &answer, now).await;
        if let Err(CompanionError::Approval(ApprovalError::WrongPin { .. })) = &result {
            self.drop_biometric(&registration)?;
        }
        result
    }

    /// The 8-digit one-time password for a scanned code with biometrics instead of the PIN,
    /// offline; equal to what [`Companion::qr_otp`] gives with the right PIN. Blocks while the
    /// platform prompts: call it off the UI thread.
    pub fn qr_otp_with_biometrics(
        &self,
        payload: &str,
        registration_id: Option<&str>,
    ) -> Result<String, CompanionError> {
        let key = self.biometric_key()?;
        let qr = parse_otp_code(payload)?;
        let registration = pick_registration(self, &qr, registration_id)?;
        if registration.server_key.key_id() != qr.server_key_id {
            return Err(QrOtpError::WrongRegistration(registration.id.clone()).into());
        }
        let display = qr.display();
        let reason = format!("One-time password: {} — {}", display.context.service, display.context.action);
        let secret = match Self::unlock_blocking(key.as_ref(), &registration, &reason) {
            Ok(secret) => secret,
            Err(error) => return Err(self.after_unlock_failure(&registration, error)),
        };
        let otp = crate::qr_otp::otp_with_secret(&qr, &secret)?;
        drop(secret);
        self.record_otp(&registration, &qr)?;
        Ok(otp)
    }
}
