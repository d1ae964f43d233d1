//! Registrations, PIN changes, biometrics, push approvals, QR one-time passwords and the history on the main object.

use std::sync::{Arc, Mutex};

use nyckel_core::approvals::{ApprovalListener as CoreListener, PollConfig, PollingHandle};
use nyckel_core::companion::CompanionError;
use nyckel_core::PendingApproval;
use nyckel_protocol::ChallengeId;

use crate::app::Nyckel;
use crate::error::NyckelError;
use crate::platform::{ForeignBiometricKey, PlatformBiometricKey};
use crate::records::{ApprovalRequest, ChallengeOutcome, HistoryCheck, HistoryEntry, QrOtpRequest, RegistrationInfo};

/// What the app implements to receive approval requests from the polling task.
#[uniffi::export(with_foreign)]
pub trait ApprovalListener: Send + Sync {
    /// A request passed every check (server signature, device, expiry, replay) and should be
    /// shown. Called on a background thread: hop to the UI thread and return quickly.
    fn on_approval_request(&self, request: ApprovalRequest);
    /// Polling failed and will be retried with backoff, or a delivered request was refused.
    fn on_polling_error(&self, registration_id: Option<String>, reason: String);
}

/// A running approvals subscription. Polling stops when it is closed or dropped.
#[derive(uniffi::Object)]
pub struct ApprovalSubscription {
    handle: Mutex<Option<PollingHandle>>,
}

#[uniffi::export]
impl ApprovalSubscription {
    /// Stops polling at once; in-flight requests are abandoned. (Dropping the object, or
    /// Kotlin's `close()` / Swift's deinit, does the same.)
    pub fn cancel(&self) {
        if let Some(handle) = self.lock().as_ref() {
            handle.close();
        }
    }

    /// Stops polling and returns when the task has ended.
    pub async fn stop(&self) {
        let handle = self.lock().take();
        if let Some(handle) = handle {
            handle.shutdown().await;
        }
    }

    /// Whether the polling task is still running.
    pub fn is_active(&self) -> bool {
        self.lock().as_ref().is_some_and(PollingHandle::is_running)
    }
}

impl ApprovalSubscription {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<PollingHandle>> {
        // The guarded value is a handle; a panic elsewhere cannot leave it half-updated.
        self.handle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct ListenerBridge(Arc<dyn ApprovalListener>);

impl CoreListener for ListenerBridge {
    fn on_challenge(&self, challenge: PendingApproval) {
        self.0.on_approval_request(ApprovalRequest::from(challenge));
    }

    fn on_error(&self, registration_id: Option<String>, error: CompanionError) {
        self.0.on_polling_error(registration_id, NyckelError::from(error).to_string());
    }

    fn on_provider_request(&self, request: nyckel_core::ProviderRequest) {
        // The same callback: one list, whichever server the request comes from.
        self.0.on_approval_request(ApprovalRequest::from(request));
    }
}

fn challenge_id(text: &str) -> Result<ChallengeId, NyckelError> {
    ChallengeId::new(text).map_err(NyckelError::invalid)
}

impl Nyckel {
    /// Deny or report fraud: the same answer path, differing only in the decision sent.
    async fn refuse(
        &self,
        registration_id: String,
        challenge_id_text: String,
        fraud: bool,
    ) -> Result<ChallengeOutcome, NyckelError> {
        if nyckel_core::is_provider_token_id(&registration_id) {
            let answer = if fraud {
                crate::records::RequestAnswer::ReportFraud
            } else {
                crate::records::RequestAnswer::Decline { reason: None }
            };
            return Ok(self.answer_request(registration_id, challenge_id_text, answer).await?.outcome);
        }
        let challenge = challenge_id(&challenge_id_text)?;
        let companion = self.companion.clone();
        let state = self
            .run(async move {
                if fraud {
                    companion.report_fraud(&registration_id, &challenge).await
                } else {
                    companion.deny(&registration_id, &challenge).await
                }
            })
            .await?;
        Ok(state.into())
    }
}

#[uniffi::export]
impl Nyckel {
    /// Registers this phone from an enrollment code (`nyckel://enroll?…`, typed or scanned)
    /// with a PIN of 4+ digits (the UI asks it twice). The PIN is never stored nor sent.
    pub async fn register(&self, payload: String, pin: String) -> Result<RegistrationInfo, NyckelError> {
        let companion = self.companion.clone();
        let pin = zeroize::Zeroizing::new(pin);
        let summary = self.run(async move { companion.register(&payload, &pin).await }).await?;
        Ok(RegistrationInfo::from(summary))
    }

    /// Every registration on this phone.
    pub fn registrations(&self) -> Result<Vec<RegistrationInfo>, NyckelError> {
        Ok(self.companion.registrations()?.into_iter().map(RegistrationInfo::from).collect())
    }

    /// Unregisters at the server and forgets the registration and its device key.
    pub async fn unregister(&self, registration_id: String) -> Result<(), NyckelError> {
        let companion = self.companion.clone();
        self.run(async move { companion.unregister(&registration_id).await }).await
    }

    /// Changes a registration's PIN (PROTOCOL.md §4.7). The server checks the old PIN first,
    /// counting a wrong one like a wrong approval ([`NyckelError::WrongPin`] with the attempts
    /// left, then [`NyckelError::DeviceBlocked`]); only then is the secret re-blinded under the
    /// new PIN and stored, in one write. On any error the old PIN stays in force. The UI asks
    /// the new PIN twice and compares before calling; a malformed one is
    /// [`NyckelError::InvalidInput`] and spends no attempt. With biometrics on, the new secret
    /// is sealed again under the biometric key (the platform may prompt); if that fails,
    /// biometrics are turned off in the same write (see [`Nyckel::biometrics_enabled`]).
    pub async fn change_pin(
        &self,
        registration_id: String,
        old_pin: String,
        new_pin: String,
    ) -> Result<(), NyckelError> {
        let companion = self.companion.clone();
        let old_pin = zeroize::Zeroizing::new(old_pin);
        let new_pin = zeroize::Zeroizing::new(new_pin);
        self.run(async move { companion.change_pin(&registration_id, &old_pin, &new_pin).await }).await
    }

    /// Starts polling every registration for approval requests (long polls, backoff with
    /// jitter on errors, resumes after network loss) and every privacyIDEA push token (every
    /// few seconds); all arrive at the same listener. Keep the returned subscription while the
    /// app wants requests; close or drop it to stop.
    pub fn subscribe_approvals(
        &self,
        listener: Arc<dyn ApprovalListener>,
    ) -> Result<Arc<ApprovalSubscription>, NyckelError> {
        let _runtime = self.runtime()?.enter();
        let handle = self.companion.start_polling(Arc::new(ListenerBridge(listener)), PollConfig::default())?;
        Ok(Arc::new(ApprovalSubscription { handle: Mutex::new(Some(handle)) }))
    }

    /// Requests received and not yet answered (e.g. to show after the app comes back): of
    /// Nyckel registrations, privacyIDEA push tokens and scanned tiqr login codes, oldest first.
    pub fn pending_approvals(&self) -> Result<Vec<ApprovalRequest>, NyckelError> {
        Ok(self
            .companion
            .inbox()?
            .into_iter()
            .map(|item| match item {
                nyckel_core::InboxItem::Nyckel(pending) => ApprovalRequest::from(pending),
                nyckel_core::InboxItem::Provider(request) => ApprovalRequest::from(request),
            })
            .collect())
    }

    /// Approves with the PIN and, for number matching, the number the user picked or typed.
    /// A wrong PIN is [`NyckelError::WrongPin`] and the request stays open. Requests of
    /// privacyIDEA and tiqr tokens go through [`Nyckel::answer_request`] (an empty PIN is no
    /// PIN); use that directly to get a code-to-phone code.
    pub async fn approve(
        &self,
        registration_id: String,
        challenge_id_text: String,
        pin: String,
        number: Option<String>,
    ) -> Result<ChallengeOutcome, NyckelError> {
        if nyckel_core::is_provider_token_id(&registration_id) {
            let pin = if pin.is_empty() { None } else { Some(pin) };
            let answer = crate::records::RequestAnswer::Approve { pin, number };
            return Ok(self.answer_request(registration_id, challenge_id_text, answer).await?.outcome);
        }
        let challenge = challenge_id(&challenge_id_text)?;
        let companion = self.companion.clone();
        let pin = zeroize::Zeroizing::new(pin);
        let state = self
            .run(async move { companion.approve(&registration_id, &challenge, &pin, number.as_deref()).await })
            .await?;
        Ok(state.into())
    }

    /// Denies a request (no PIN needed).
    pub async fn deny(
        &self,
        registration_id: String,
        challenge_id_text: String,
    ) -> Result<ChallengeOutcome, NyckelError> {
        self.refuse(registration_id, challenge_id_text, false).await
    }

    /// Denies a request and reports it as not the user's.
    pub async fn report_fraud(
        &self,
        registration_id: String,
        challenge_id_text: String,
    ) -> Result<ChallengeOutcome, NyckelError> {
        self.refuse(registration_id, challenge_id_text, true).await
    }

    /// Reads a scanned login or transaction code: what to show before asking the PIN.
    pub fn read_qr_otp(&self, payload: String) -> Result<QrOtpRequest, NyckelError> {
        Ok(self.companion.read_otp_code(&payload)?.into())
    }

    /// The 8-digit one-time password for a login or transaction code — offline. Pass the
    /// registration only when several can answer (see [`QrOtpRequest::registrations`]).
    pub fn qr_otp(&self, payload: String, registration_id: Option<String>, pin: String) -> Result<String, NyckelError> {
        let pin = zeroize::Zeroizing::new(pin);
        Ok(self.companion.qr_otp(&payload, registration_id.as_deref(), &pin)?)
    }

    /// Gives Nyckel the platform's biometric key (or takes it away with `None`). Without one,
    /// biometric calls fail with [`NyckelError::BiometricUnavailable`] and a PIN change turns
    /// biometrics off.
    pub fn set_biometric_key(&self, key: Option<Arc<dyn PlatformBiometricKey>>) {
        self.companion
            .set_biometric_key(key.map(|key| Arc::new(ForeignBiometricKey(key)) as Arc<dyn nyckel_core::BiometricKey>));
    }

    /// Whether biometric approval is on for a registration.
    pub fn biometrics_enabled(&self, registration_id: String) -> Result<bool, NyckelError> {
        Ok(self.companion.biometrics_enabled(&registration_id)?)
    }

    /// Turns on biometric approval for a registration, with its PIN once (PROTOCOL.md §4.8):
    /// the server checks the PIN (a wrong one is [`NyckelError::WrongPin`] and counts like a
    /// wrong approval), then the secret is sealed under a new biometric key (the platform
    /// prompts) and stored. On any error nothing is stored.
    pub async fn enable_biometrics(&self, registration_id: String, pin: String) -> Result<(), NyckelError> {
        let companion = self.companion.clone();
        let pin = zeroize::Zeroizing::new(pin);
        self.run(async move { companion.enable_biometrics(&registration_id, &pin).await }).await
    }

    /// Turns off biometric approval for a registration and deletes its biometric key.
    pub fn disable_biometrics(&self, registration_id: String) -> Result<(), NyckelError> {
        Ok(self.companion.disable_biometrics(&registration_id)?)
    }

    /// Approves with biometrics instead of the PIN (the platform prompts); the server sees the
    /// same answer as with the right PIN. [`NyckelError::BiometricCancelled`] and
    /// [`NyckelError::BiometricLockout`] leave the request open for the PIN;
    /// [`NyckelError::BiometricInvalidated`] also turns biometrics off for the registration.
    pub async fn approve_with_biometrics(
        &self,
        registration_id: String,
        challenge_id_text: String,
        number: Option<String>,
    ) -> Result<ChallengeOutcome, NyckelError> {
        let challenge = challenge_id(&challenge_id_text)?;
        let companion = self.companion.clone();
        let state = self
            .run(
                async move { companion.approve_with_biometrics(&registration_id, &challenge, number.as_deref()).await },
            )
            .await?;
        Ok(state.into())
    }

    /// The 8-digit one-time password for a login or transaction code with biometrics instead of
    /// the PIN — offline, the same digits as with the right PIN. Runs off the caller's thread
    /// while the platform prompts.
    pub async fn qr_otp_with_biometrics(
        &self,
        payload: String,
        registration_id: Option<String>,
    ) -> Result<String, NyckelError> {
        let companion = self.companion.clone();
        let task = self
            .runtime()?
            .spawn_blocking(move || companion.qr_otp_with_biometrics(&payload, registration_id.as_deref()));
        match task.await {
            Ok(result) => Ok(result?),
            Err(error) => Err(NyckelError::Platform { reason: format!("background task failed: {error}") }),
        }
    }

    /// The history of answers and one-time passwords, oldest first: of one registration, or
    /// of all when `registration_id` is absent.
    pub fn history(&self, registration_id: Option<String>) -> Result<Vec<HistoryEntry>, NyckelError> {
        Ok(self.companion.history(registration_id.as_deref())?.into_iter().map(HistoryEntry::from).collect())
    }

    /// Verifies the history's chain and compares a registration's entries with the server's
    /// audit of its device (fetched now).
    pub async fn check_history(&self, registration_id: String) -> Result<HistoryCheck, NyckelError> {
        let companion = self.companion.clone();
        let check = self.run(async move { companion.check_history(&registration_id).await }).await?;
        Ok(check.into())
    }
}
