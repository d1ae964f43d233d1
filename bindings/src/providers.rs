//! privacyIDEA push and tiqr tokens on the main object: enrolment, listing, the tiqr login code
//! and offline response, and the one answer API for every request of the inbox.

use std::sync::Arc;

use nyckel_core::device_keys::{DeviceKeyError, RsaKeyStore};
use nyckel_core::{is_provider_token_id, ProviderAnswer, ProviderOutcome};
use nyckel_protocol::ChallengeId;

use crate::app::Nyckel;
use crate::error::NyckelError;
use crate::records::{AccountOrigin, AnswerResult, ApprovalRequest, ChallengeOutcome, RequestAnswer, TokenInfo};

/// The platform's RSA key store for privacyIDEA push keys (Android Keystore; on iOS the
/// Keychain, since the Secure Enclave holds only P-256). Without one, the keys are sealed in
/// the vault (software keys).
#[uniffi::export(with_foreign)]
pub trait PlatformRsaKeyStore: Send + Sync {
    /// Creates an RSA key pair (3072 or 4096 bits) under `alias`; returns the public key as
    /// DER SubjectPublicKeyInfo (Android's `getEncoded()`).
    fn create_rsa_key(&self, alias: String) -> Result<Vec<u8>, NyckelError>;
    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message` with the key under `alias`.
    fn sign_rsa_sha256(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, NyckelError>;
    /// Deletes the key under `alias`; a missing key is not an error.
    fn delete_rsa_key(&self, alias: String) -> Result<(), NyckelError>;
}

struct ForeignRsaKeyStore(Arc<dyn PlatformRsaKeyStore>);

fn rsa_failure(error: NyckelError) -> DeviceKeyError {
    DeviceKeyError::Failed { reason: error.to_string() }
}

impl RsaKeyStore for ForeignRsaKeyStore {
    fn create_rsa_key(&self, alias: String) -> Result<Vec<u8>, DeviceKeyError> {
        self.0.create_rsa_key(alias).map_err(rsa_failure)
    }

    fn sign_rsa_sha256(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, DeviceKeyError> {
        self.0.sign_rsa_sha256(alias, message).map_err(rsa_failure)
    }

    fn delete_rsa_key(&self, alias: String) -> Result<(), DeviceKeyError> {
        self.0.delete_rsa_key(alias).map_err(rsa_failure)
    }
}

fn result(outcome: ChallengeOutcome) -> AnswerResult {
    AnswerResult { outcome, display_code: None, message: None }
}

#[uniffi::export]
impl Nyckel {
    /// Gives Nyckel the platform's RSA key store for privacyIDEA push keys, or `None` for
    /// software keys sealed in the vault. Set it before enrolling: a token's key stays where
    /// it was made.
    pub fn set_rsa_key_store(&self, store: Option<Arc<dyn PlatformRsaKeyStore>>) {
        self.companion
            .set_rsa_key_store(store.map(|store| Arc::new(ForeignRsaKeyStore(store)) as Arc<dyn RsaKeyStore>));
    }

    /// Enrolls a privacyIDEA push token (`otpauth://pipush/…`, `pia://pipush/…`; `pin` is the
    /// app PIN, a gate on this phone only, required when the server's policy asks for one) or
    /// a tiqr token (`tiqrenroll://…`; `pin` is the tiqr PIN, which the server checks).
    pub async fn enroll_token(&self, payload: String, pin: Option<String>) -> Result<TokenInfo, NyckelError> {
        let companion = self.companion.clone();
        let pin = pin.map(zeroize::Zeroizing::new);
        let token = self
            .run(async move {
                if payload.trim_start().get(..13).is_some_and(|head| head.eq_ignore_ascii_case("tiqrenroll://")) {
                    let pin = pin.ok_or(nyckel_core::privacyidea::PushError::PinRequired)?;
                    companion.enroll_tiqr_token(&payload, &pin).await
                } else {
                    companion.enroll_push_token(&payload, pin.as_deref().map(|pin| pin.as_str())).await
                }
            })
            .await?;
        Ok(token.into())
    }

    /// Every privacyIDEA push and tiqr token on this phone.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, NyckelError> {
        Ok(self.companion.provider_tokens()?.into_iter().map(TokenInfo::from).collect())
    }

    /// Forgets a token and its key on this phone; `false` when there was none.
    pub fn remove_token(&self, token_id: String) -> Result<bool, NyckelError> {
        Ok(self.companion.remove_provider_token(&token_id)?)
    }

    /// Polls every privacyIDEA push token once and returns the requests not shown before (the
    /// approvals subscription does this in the background).
    pub async fn poll_tokens(&self) -> Result<Vec<ApprovalRequest>, NyckelError> {
        let companion = self.companion.clone();
        let requests = self
            .run(async move {
                let mut new = Vec::new();
                for token in companion.provider_tokens()? {
                    if token.provider == nyckel_core::Provider::PrivacyIdea {
                        new.extend(companion.poll_provider_token(&token.id).await?.new);
                    }
                }
                Ok(new)
            })
            .await?;
        Ok(requests.into_iter().map(ApprovalRequest::from).collect())
    }

    /// A scanned tiqr login code (`tiqrauth://…`) as a request of the inbox, answered like
    /// any other ([`Nyckel::answer_request`]).
    pub fn scan_login_code(&self, payload: String) -> Result<ApprovalRequest, NyckelError> {
        Ok(self.companion.scan_login_code(&payload)?.into())
    }

    /// The tiqr response to type on the login page when the phone is offline. Any PIN gives
    /// digits: the server checks them and counts a wrong one.
    pub fn tiqr_offline_response(&self, payload: String, pin: String) -> Result<String, NyckelError> {
        let pin = zeroize::Zeroizing::new(pin);
        Ok(self.companion.tiqr_offline_response(&payload, &pin)?.1)
    }

    /// Turns on biometric unlock of a privacyIDEA token's app PIN (a local gate), with the app
    /// PIN once; the platform prompts. Then `answerRequest(…, ApproveWithBiometrics)` opens
    /// the gate instead of the PIN. A wrong PIN is `WrongPin` and counts.
    pub async fn enable_token_biometrics(&self, token_id: String, pin: String) -> Result<(), NyckelError> {
        let companion = self.companion.clone();
        let pin = zeroize::Zeroizing::new(pin);
        let task = self.runtime()?.spawn_blocking(move || companion.enable_token_biometrics(&token_id, &pin));
        match task.await {
            Ok(result) => Ok(result?),
            Err(error) => Err(NyckelError::Platform { reason: format!("background task failed: {error}") }),
        }
    }

    /// Whether biometric unlock is on for a privacyIDEA token.
    pub fn token_biometrics_enabled(&self, token_id: String) -> Result<bool, NyckelError> {
        Ok(self.companion.token_biometrics_enabled(&token_id)?)
    }

    /// Turns biometric unlock off for a privacyIDEA token (the app PIN still works).
    pub fn disable_token_biometrics(&self, token_id: String) -> Result<(), NyckelError> {
        Ok(self.companion.disable_token_biometrics(&token_id)?)
    }

    /// privacyIDEA's serial and creator of an account it enrolled, if recorded.
    pub fn account_origin(&self, id: u64) -> Result<Option<AccountOrigin>, NyckelError> {
        Ok(self
            .companion
            .vault()
            .origin(id)?
            .map(|origin| AccountOrigin { serial: origin.serial, creator: origin.creator }))
    }

    /// Answers any request of the inbox — a Nyckel registration's, a privacyIDEA push token's
    /// or a scanned tiqr login — dispatching on its registration id.
    pub async fn answer_request(
        &self,
        registration_id: String,
        request_id: String,
        answer: RequestAnswer,
    ) -> Result<AnswerResult, NyckelError> {
        if !is_provider_token_id(&registration_id) {
            let challenge = ChallengeId::new(&request_id).map_err(NyckelError::invalid)?;
            let companion = self.companion.clone();
            let state = self
                .run(async move {
                    match answer {
                        RequestAnswer::Approve { pin, number } => {
                            let pin = zeroize::Zeroizing::new(pin.unwrap_or_default());
                            companion.approve(&registration_id, &challenge, &pin, number.as_deref()).await
                        }
                        RequestAnswer::ApproveWithBiometrics { number } => {
                            companion.approve_with_biometrics(&registration_id, &challenge, number.as_deref()).await
                        }
                        RequestAnswer::Decline { .. } => companion.deny(&registration_id, &challenge).await,
                        RequestAnswer::ReportFraud => companion.report_fraud(&registration_id, &challenge).await,
                    }
                })
                .await?;
            return Ok(result(state.into()));
        }
        let answer = match answer {
            RequestAnswer::Approve { pin, number } => ProviderAnswer::Approve { pin, choice: number },
            RequestAnswer::ApproveWithBiometrics { number } => ProviderAnswer::ApproveWithBiometrics { choice: number },
            RequestAnswer::Decline { reason } => ProviderAnswer::Decline { reason: reason.map(Into::into) },
            RequestAnswer::ReportFraud => {
                ProviderAnswer::Decline { reason: Some(nyckel_core::privacyidea::DeclineReason::UnknownTrigger) }
            }
        };
        let companion = self.companion.clone();
        let outcome =
            self.run(async move { companion.answer_provider(&registration_id, &request_id, answer).await }).await?;
        Ok(match outcome {
            ProviderOutcome::Approved => result(ChallengeOutcome::Approved),
            ProviderOutcome::Declined | ProviderOutcome::Dismissed => result(ChallengeOutcome::Denied),
            ProviderOutcome::ShowCode { code, message } => {
                AnswerResult { outcome: ChallengeOutcome::Approved, display_code: Some(code), message }
            }
        })
    }
}
