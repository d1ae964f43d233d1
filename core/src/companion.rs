//! The phone side of the companion protocol: one object owning the vault, device keys, clock and HTTP client.
//!
//! Its operations live in the modules that own them: [`crate::registration`] (enroll a
//! phone), [`crate::approvals`] (poll, verify, approve/deny), [`crate::qr_otp`] (offline
//! one-time passwords), [`crate::pin_change`] (change a registration's PIN) and
//! [`crate::biometrics`] (unlock `S` with biometrics instead of the PIN). Everything
//! is pure except the few `async` methods that talk to a server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use nyckel_protocol::{ChallengeId, PinError, PinKdf, PushChallenge};
use tokio::sync::watch;

use crate::approvals::ApprovalError;
use crate::biometrics::{BiometricError, BiometricKey};
use crate::clock::Clock;
use crate::device_keys::{DeviceKeyError, DeviceKeyStore, KeyStoreSigner};
use crate::qr_otp::QrOtpError;
use crate::registration::RegistrationError;
use crate::server_api::{ServerApiError, ServerClient};
use crate::vault::registrations::{Registration, RegistrationId};
use crate::vault::{Vault, VaultError};

/// Any failure of a companion operation, by the module it comes from.
#[derive(Debug, thiserror::Error)]
pub enum CompanionError {
    /// The vault could not be read or written.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The device key store failed.
    #[error(transparent)]
    DeviceKey(#[from] DeviceKeyError),
    /// The server could not be reached or refused.
    #[error(transparent)]
    Server(#[from] ServerApiError),
    /// Registering failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// Polling, verifying or answering a challenge failed.
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    /// A QR one-time password could not be made.
    #[error(transparent)]
    QrOtp(#[from] QrOtpError),
    /// The PIN is not 4–16 digits (or its KDF failed). Never "wrong PIN": the phone cannot know.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// No registration with this id in the vault.
    #[error("no registration {0:?}")]
    UnknownRegistration(String),
    /// Polling was started outside a tokio runtime.
    #[error("polling needs a tokio runtime")]
    NoRuntime,
    /// The phone's clock differs from the server's by more than the phone corrects on its
    /// own ([`MAX_CLOCK_CORRECTION`]); the user should set the clock.
    #[error("the phone's clock is off by {seconds} seconds; set the date and time")]
    ClockOff {
        /// Server time minus phone time, in seconds (positive: the phone is behind).
        seconds: i64,
    },
    /// The server's answer to a PIN change does not verify under the pinned key (nothing was stored).
    #[error("the server's answer to the PIN change does not verify: {0}")]
    Rekey(#[from] nyckel_protocol::RekeyError),
    /// The server rotated its key, but the chain it sent does not lead from the pinned key.
    #[error("the server's key rotation does not verify: {0}")]
    KeyRotation(#[from] nyckel_protocol::KeyRotationError),
    /// Biometric unlock failed or is not available; the PIN still works.
    #[error(transparent)]
    Biometric(#[from] BiometricError),
    /// A privacyIDEA push exchange failed or was refused on the phone.
    #[error(transparent)]
    Push(#[from] crate::privacyidea::PushError),
    /// A tiqr exchange failed.
    #[error(transparent)]
    Tiqr(#[from] crate::privacyidea::TiqrError),
    /// No privacyIDEA or tiqr token with this id on this phone.
    #[error("no privacyIDEA or tiqr token {0:?}")]
    UnknownToken(String),
}

/// The largest clock offset (seconds, either way) the phone corrects silently; beyond it,
/// [`CompanionError::ClockOff`].
pub const MAX_CLOCK_CORRECTION: i64 = 15 * 60;

/// Choices fixed when the companion is made.
#[derive(Debug, Clone)]
pub struct CompanionSettings {
    /// How new registrations, and PIN changes, stretch the PIN (other registrations keep theirs).
    pub pin_kdf: PinKdf,
    /// The platform reported at enrollment, e.g. "Android 14" (1–64 characters).
    pub platform: String,
}

impl CompanionSettings {
    /// The recommended PIN KDF (Argon2id, 19 MiB) and the given platform name.
    pub fn new(platform: impl Into<String>) -> Self {
        Self { pin_kdf: PinKdf::RECOMMENDED, platform: platform.into() }
    }
}

/// The phone: registrations with servers, their device keys, and the challenges being shown.
pub struct Companion {
    pub(crate) vault: Arc<Vault>,
    pub(crate) keys: Arc<dyn DeviceKeyStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) client: ServerClient,
    pub(crate) settings: CompanionSettings,
    /// Verified challenges handed to the UI and not yet finally answered. Answers are made
    /// only for challenges in here, so nothing unverified can ever be signed.
    pub(crate) pending: Mutex<HashMap<(RegistrationId, ChallengeId), PushChallenge>>,
    /// Bumped whenever a registration is added or removed, so a running poller follows.
    pub(crate) changes: watch::Sender<u64>,
    /// Server time minus phone clock, seconds, from the last server time observed within
    /// [`MAX_CLOCK_CORRECTION`]; added to the clock by [`Companion::now`].
    pub(crate) clock_offset: AtomicI64,
    /// The platform's biometric key store, once the app has given one
    /// ([`Companion::set_biometric_key`]).
    pub(crate) biometric: RwLock<Option<Arc<dyn BiometricKey>>>,
    /// New-phone registrations waiting for a registered phone's approval, by enrollment
    /// ([`crate::new_device`]); each holds its device key, one-use key and PIN until decided.
    pub(crate) device_enrollments:
        Mutex<HashMap<nyckel_protocol::EnrollmentId, crate::registration::PendingEnrollment>>,
    /// HTTP client for privacyIDEA and tiqr servers.
    pub(crate) pi_http: crate::privacyidea::PiHttp,
    /// The platform's RSA key store for privacyIDEA push keys, once the app has given one.
    pub(crate) rsa_keys: RwLock<Option<Arc<dyn crate::device_keys::RsaKeyStore>>>,
    /// privacyIDEA push and tiqr requests shown and not yet answered, by (token, request id).
    pub(crate) provider_pending: Mutex<HashMap<(String, String), crate::approvals::providers::ProviderRequest>>,
    /// One poll or answer of a provider token at a time, so each writes back the token's
    /// challenge memory and PIN gate without undoing another's.
    pub(crate) provider_lock: tokio::sync::Mutex<()>,
}

impl Companion {
    /// A companion over an open vault, a device key store and a clock.
    pub fn new(
        vault: Arc<Vault>,
        keys: Arc<dyn DeviceKeyStore>,
        clock: Arc<dyn Clock>,
        settings: CompanionSettings,
    ) -> Result<Self, CompanionError> {
        Ok(Self {
            vault,
            keys,
            clock,
            client: ServerClient::new()?,
            settings,
            pending: Mutex::new(HashMap::new()),
            changes: watch::Sender::new(0),
            clock_offset: AtomicI64::new(0),
            biometric: RwLock::new(None),
            device_enrollments: Mutex::new(HashMap::new()),
            pi_http: crate::privacyidea::PiHttp::new()?,
            rsa_keys: RwLock::new(None),
            provider_pending: Mutex::new(HashMap::new()),
            provider_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The vault the registrations live in.
    pub fn vault(&self) -> &Arc<Vault> {
        &self.vault
    }

    /// The device key store.
    pub fn key_store(&self) -> &Arc<dyn DeviceKeyStore> {
        &self.keys
    }

    /// The HTTP client (for callers that speak the phone API directly, e.g. tests).
    pub fn client(&self) -> &ServerClient {
        &self.client
    }

    /// The injected clock's time corrected by the offset to the server's clock, Unix seconds.
    pub fn now(&self) -> u64 {
        self.clock.now_unix().saturating_add_signed(self.clock_offset.load(Ordering::Relaxed))
    }

    /// The current correction of the phone clock (server minus phone), seconds.
    pub fn clock_offset(&self) -> i64 {
        self.clock_offset.load(Ordering::Relaxed)
    }

    /// Takes a server time (poll response, receipt, `stale_request` body) into account: within
    /// [`MAX_CLOCK_CORRECTION`] of the phone clock it becomes the offset; beyond it the offset
    /// is left alone and [`CompanionError::ClockOff`] says by how much the clock is off.
    pub fn observe_server_time(&self, server_time: u64) -> Result<(), CompanionError> {
        let phone = i128::from(self.clock.now_unix());
        let offset = i128::from(server_time) - phone;
        let seconds = i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
        if seconds.unsigned_abs() > MAX_CLOCK_CORRECTION.unsigned_abs() {
            return Err(CompanionError::ClockOff { seconds });
        }
        self.clock_offset.store(seconds, Ordering::Relaxed);
        Ok(())
    }

    /// Runs a signed request made at [`Companion::now`]; when the server refuses it as stale
    /// and says its time, corrects the offset and runs it once more.
    pub(crate) async fn with_clock_retry<T, F, Fut>(&self, mut call: F) -> Result<T, CompanionError>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = Result<T, ServerApiError>>,
    {
        match call(self.now()).await {
            Err(ServerApiError::Refused {
                code: nyckel_protocol::ErrorCode::StaleRequest,
                server_time: Some(t),
                ..
            }) => {
                self.observe_server_time(t)?;
                Ok(call(self.now()).await?)
            }
            other => Ok(other?),
        }
    }

    /// A registration by id.
    pub fn registration(&self, id: &str) -> Result<Registration, CompanionError> {
        self.vault.registration(id)?.ok_or_else(|| CompanionError::UnknownRegistration(id.to_owned()))
    }

    /// The device key of a registration as a signer.
    pub fn signer(&self, registration: &Registration) -> Result<KeyStoreSigner, CompanionError> {
        Ok(KeyStoreSigner::load(self.keys.clone(), &registration.key_alias)?)
    }

    pub(crate) fn registrations_changed(&self) {
        self.changes.send_modify(|version| *version = version.wrapping_add(1));
    }

    pub(crate) fn pending_map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(RegistrationId, ChallengeId), PushChallenge>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts/removes).
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
