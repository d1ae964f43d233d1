//! Push approvals: receive and verify challenges, then approve (with the PIN), deny or report fraud.
//!
//! Challenges come from the long poll ([`Companion::poll_once`], or the background task of
//! [`poller`]) and are checked by [`verify::verify_challenge`] plus the vault's seen list.
//! Only challenges that passed are kept in memory and can be answered; the UI refers to
//! them by registration and challenge id, so it can never make the phone sign anything else.

pub mod poller;
pub mod providers;
pub mod verify;

use nyckel_protocol::policy::{CHALLENGE_CLOCK_SKEW, MAX_LONG_POLL_WAIT};
use nyckel_protocol::{
    Answer, AnswerError, ChallengeDisplay, ChallengeId, ChallengeState, ErrorCode, Pin, PushChallenge, SignedChallenge,
};

use nyckel_protocol::wire::phone::{AnswerAccepted, ReceiptFields};

use crate::companion::{Companion, CompanionError};
use crate::device_keys::KeyStoreSigner;
use crate::history::{HistoryKind, HistoryRecord, HistoryResult, ReceiptStatus};
use crate::server_api::ServerApiError;
use crate::vault::registrations::{Registration, RegistrationId, SeenBefore};

pub use poller::{ApprovalListener, PollConfig, PollingHandle};
pub use providers::{
    InboxItem, PinCheck, Provider, ProviderAnswer, ProviderOutcome, ProviderPoll, ProviderRequest,
    ProviderTokenSummary, LOCAL_GATE_NOTICE,
};
pub use verify::{verify_challenge, ChallengeRejection};

/// Why an answer could not be given or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// No verified, unanswered challenge with this id for this registration.
    #[error("no pending challenge {challenge} for registration {registration}")]
    UnknownChallenge {
        /// The registration.
        registration: String,
        /// The challenge.
        challenge: ChallengeId,
    },
    /// The server says the PIN was wrong; an approval's challenge stays open for another try.
    /// (A PIN change refused this way stored nothing.)
    #[error("wrong PIN; {attempts_left} attempts left before this device is blocked")]
    WrongPin {
        /// Attempts left.
        attempts_left: u32,
    },
    /// Too many wrong PINs: the server blocked this device.
    #[error("this device is blocked after too many wrong PINs; register it again or ask an administrator")]
    DeviceBlocked,
    /// The number picked is not the one the browser shows; the request is denied.
    #[error("the number does not match the one shown in the browser; the request was denied")]
    NumberMismatch,
    /// Someone already answered it (another device, or an earlier answer).
    #[error("this request was already answered")]
    AlreadyAnswered,
    /// It expired at the server.
    #[error("this request has expired")]
    Expired,
    /// The answer could not be made (e.g. a number of the wrong form, a key store failure).
    #[error(transparent)]
    Answer(#[from] AnswerError),
    /// A delivered challenge failed the phone's checks and was not shown.
    #[error("refused a challenge: {0}")]
    Rejected(#[from] ChallengeRejection),
}

impl ApprovalError {
    /// The server's verdict on a PIN it counted — wrong with attempts left, or the device
    /// blocked — as the one error every call that proves the PIN returns (approvals and PIN
    /// changes alike); `None` for other refusals.
    pub(crate) fn pin_verdict(code: ErrorCode, attempts_left: Option<u32>) -> Option<ApprovalError> {
        match code {
            ErrorCode::WrongPin => Some(ApprovalError::WrongPin { attempts_left: attempts_left.unwrap_or(0) }),
            ErrorCode::DeviceBlocked => Some(ApprovalError::DeviceBlocked),
            _ => None,
        }
    }
}

/// A verified challenge waiting for the user, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingApproval {
    /// The registration it is for.
    pub registration_id: RegistrationId,
    /// The registration's name (label, or `user @ server`).
    pub registration_name: String,
    /// The challenge.
    pub challenge_id: ChallengeId,
    /// Exactly what to show: service, action, browser, IP, place, time, transaction lines in
    /// order, and the number prompt.
    pub display: ChallengeDisplay,
    /// Creation time (server clock), Unix seconds.
    pub created_at: u64,
    /// Expiry (server clock), Unix seconds.
    pub expires_at: u64,
    /// For a request to add a new phone: its name, platform and fingerprint (shown by the new
    /// phone too; compare before approving). `None` for a sign-in or transaction.
    pub new_device: Option<nyckel_protocol::NewDeviceDetails>,
}

/// What one poll brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Challenges verified and shown for the first time.
    pub new: Vec<PendingApproval>,
    /// Challenges refused (never shown), with the reason.
    pub rejected: Vec<ChallengeRejection>,
}

impl Companion {
    /// One long poll for a registration's challenges: waits up to `wait` seconds (at most
    /// 30) for the server to have one, verifies what arrives, and returns it. The response's
    /// server time corrects the clock offset; a key rotation chain in it is followed from the
    /// pinned key and the new key stored *before* the challenges are verified under it.
    pub async fn poll_once(&self, registration_id: &str, wait: u64) -> Result<PollOutcome, CompanionError> {
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        let wait = wait.min(MAX_LONG_POLL_WAIT);
        let pending = self.with_clock_retry(|now| self.client.poll(&registration, &signer, wait, now)).await?;
        self.observe_server_time(pending.server_time)?;
        self.follow_key_rotations(&registration, &pending.key_rotations)?;
        self.accept_challenges(registration_id, pending.challenges)
    }

    /// Follows the server's key-rotation chain from the registration's pinned key and pins the
    /// newest key (on disk when it returns). Nothing applies: nothing changes.
    pub fn follow_key_rotations(
        &self,
        registration: &Registration,
        chain: &[nyckel_protocol::KeyRotation],
    ) -> Result<(), CompanionError> {
        if let Some(newest) = nyckel_protocol::key_rotation::follow(&registration.server_key, chain)? {
            self.vault.replace_registration_server_key(&registration.id, &newest)?;
        }
        Ok(())
    }

    /// Verifies delivered challenges (signature under the pinned key, device, validity with
    /// clock skew, display content, never seen before) and keeps the good ones for answering.
    /// The seen list is on disk before a challenge is returned, so it is shown at most once.
    pub fn accept_challenges(
        &self,
        registration_id: &str,
        challenges: Vec<SignedChallenge>,
    ) -> Result<PollOutcome, CompanionError> {
        let registration = self.registration(registration_id)?;
        let now = self.now();
        let mut outcome = PollOutcome::default();
        for signed in &challenges {
            let challenge = match verify_challenge(&registration, signed, now) {
                Ok(challenge) => challenge,
                Err(rejection) => {
                    outcome.rejected.push(rejection);
                    continue;
                }
            };
            let key = (registration.id.clone(), challenge.id.clone());
            let offer =
                match self.vault.record_seen_challenge(registration_id, &challenge.id, challenge.expires_at, now)? {
                    SeenBefore::No => true,
                    // Shown before this process started (an app restart, a CLI run that ended on
                    // a wrong PIN) and never answered: offered again, since the server still
                    // holds it open. Shown by this process: the UI has it already.
                    SeenBefore::Shown => !self.pending_map().contains_key(&key),
                    SeenBefore::Answered => false,
                };
            if !offer {
                outcome.rejected.push(ChallengeRejection::AlreadySeen { id: challenge.id.clone() });
                continue;
            }
            self.pending_map().insert(key, challenge.clone());
            outcome.new.push(pending_view(&registration, challenge));
        }
        self.forget_expired(now);
        Ok(outcome)
    }

    /// Challenges verified and not yet answered (nor expired by the phone's clock).
    pub fn pending_approvals(&self) -> Result<Vec<PendingApproval>, CompanionError> {
        self.forget_expired(self.now());
        let mut entries: Vec<(RegistrationId, PushChallenge)> = self
            .pending_map()
            .iter()
            .map(|((registration, _), challenge)| (registration.clone(), challenge.clone()))
            .collect();
        entries.sort_by_key(|(_, challenge)| challenge.created_at);
        let mut views = Vec::with_capacity(entries.len());
        for (registration_id, challenge) in entries {
            views.push(pending_view(&self.registration(&registration_id)?, &challenge));
        }
        Ok(views)
    }

    /// Approves a pending challenge with the PIN and, for number matching, the number picked.
    /// The PIN unblinds `S'` for this one answer; whether it is right only the server knows.
    /// A wrong PIN leaves the challenge pending ([`ApprovalError::WrongPin`]).
    pub async fn approve(
        &self,
        registration_id: &str,
        challenge_id: &ChallengeId,
        pin: &str,
        number: Option<&str>,
    ) -> Result<ChallengeState, CompanionError> {
        let pin = Pin::new(pin)?;
        let (registration, challenge) = self.pending_challenge(registration_id, challenge_id)?;
        let signer = self.signer(&registration)?;
        let now = self.now();
        let answer = {
            // S' exists only in this block and is zeroized when dropped (PROTOCOL.md §4.4 rule 5).
            let secret = registration.pin.unblind(&pin)?;
            Answer::approve(&challenge, number.map(str::to_owned), now, &signer, &secret)
                .map_err(ApprovalError::from)?
        };
        self.send_answer(&registration, &signer, &challenge, &answer, now).await
    }

    /// Denies a pending challenge (no PIN: refusing must be effortless).
    pub async fn deny(
        &self,
        registration_id: &str,
        challenge_id: &ChallengeId,
    ) -> Result<ChallengeState, CompanionError> {
        self.refuse(registration_id, challenge_id, false).await
    }

    /// Denies a pending challenge and reports it as not the user's (no PIN).
    pub async fn report_fraud(
        &self,
        registration_id: &str,
        challenge_id: &ChallengeId,
    ) -> Result<ChallengeState, CompanionError> {
        self.refuse(registration_id, challenge_id, true).await
    }

    async fn refuse(
        &self,
        registration_id: &str,
        challenge_id: &ChallengeId,
        fraud: bool,
    ) -> Result<ChallengeState, CompanionError> {
        let (registration, challenge) = self.pending_challenge(registration_id, challenge_id)?;
        let signer = self.signer(&registration)?;
        let now = self.now();
        let answer = Answer::deny(&challenge, fraud, now, &signer).map_err(ApprovalError::from)?;
        self.send_answer(&registration, &signer, &challenge, &answer, now).await
    }

    pub(crate) fn pending_challenge(
        &self,
        registration_id: &str,
        challenge_id: &ChallengeId,
    ) -> Result<(Registration, PushChallenge), CompanionError> {
        let challenge =
            self.pending_map().get(&(registration_id.to_owned(), challenge_id.clone())).cloned().ok_or_else(|| {
                ApprovalError::UnknownChallenge {
                    registration: registration_id.to_owned(),
                    challenge: challenge_id.clone(),
                }
            })?;
        Ok((self.registration(registration_id)?, challenge))
    }

    /// Sends an answer and settles the pending entry: kept when the user may try again
    /// (wrong PIN, network failure), dropped once the challenge is final at the server.
    pub(crate) async fn send_answer(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        challenge: &PushChallenge,
        answer: &Answer,
        now: u64,
    ) -> Result<ChallengeState, CompanionError> {
        let forget = || -> Result<(), CompanionError> {
            self.pending_map().remove(&(registration.id.clone(), challenge.id.clone()));
            Ok(self.vault.mark_challenge_answered(&registration.id, &challenge.id)?)
        };
        let response = self.client.answer(registration, signer, &challenge.id, answer, now).await;
        // Every answer sent is in the history, whatever came of it (never its PIN MAC).
        self.record_answer(registration, challenge, answer, now, &response)?;
        match response {
            Ok(accepted) => {
                forget()?;
                Ok(accepted.state)
            }
            Err(ServerApiError::Refused { code, attempts_left, status, message, server_time }) => {
                let error = match (ApprovalError::pin_verdict(code, attempts_left), code) {
                    (Some(verdict), _) => verdict,
                    (None, ErrorCode::NumberMismatch) => ApprovalError::NumberMismatch,
                    (None, ErrorCode::AlreadyAnswered) => ApprovalError::AlreadyAnswered,
                    (None, ErrorCode::ChallengeExpired) => ApprovalError::Expired,
                    (None, _) => {
                        // A stale answer is not resent (an approval would need the PIN again);
                        // the clock is corrected, the challenge stays pending and the user's
                        // next tap goes out with the server's time.
                        if let (ErrorCode::StaleRequest, Some(time)) = (code, server_time) {
                            self.observe_server_time(time)?;
                        }
                        return Err(
                            ServerApiError::Refused { code, attempts_left, status, message, server_time }.into()
                        );
                    }
                };
                if !matches!(error, ApprovalError::WrongPin { .. }) {
                    forget()?;
                }
                Err(error.into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Records an answer and the server's response in the history; a receipt is kept only
    /// when it verifies under the pinned server key.
    fn record_answer(
        &self,
        registration: &Registration,
        challenge: &PushChallenge,
        answer: &Answer,
        now: u64,
        response: &Result<AnswerAccepted, ServerApiError>,
    ) -> Result<(), CompanionError> {
        let display_hash = challenge.display_hash();
        let (result, receipt) = match response {
            Ok(accepted) => {
                let receipt = match &accepted.receipt {
                    None => ReceiptStatus::Absent,
                    Some(receipt) => {
                        let fields =
                            ReceiptFields::for_challenge(challenge, &display_hash, answer.decision, accepted.state);
                        match receipt.verify(&registration.server_key, &fields) {
                            Ok(()) => ReceiptStatus::Verified { receipt: *receipt },
                            Err(_) => ReceiptStatus::Invalid,
                        }
                    }
                };
                (HistoryResult::State(accepted.state), receipt)
            }
            Err(ServerApiError::Refused { code, .. }) => {
                (HistoryResult::Refused(crate::server_api::code_name(*code)), ReceiptStatus::Absent)
            }
            Err(_) => (HistoryResult::Unknown, ReceiptStatus::Absent),
        };
        self.vault.append_history(HistoryRecord {
            at: now,
            registration_id: registration.id.clone(),
            server: registration.display_name(),
            device_id: registration.device_id.clone(),
            kind: HistoryKind::Push,
            challenge_id: challenge.id.clone(),
            service: challenge.display.context.service.clone(),
            action: challenge.display.context.action.clone(),
            display_hash,
            decision: answer.decision.into(),
            result,
            receipt,
        })?;
        Ok(())
    }

    /// Drops pending challenges that even a skewed clock would call expired.
    fn forget_expired(&self, now: u64) {
        self.pending_map().retain(|_, challenge| now < challenge.expires_at.saturating_add(CHALLENGE_CLOCK_SKEW));
    }
}

fn pending_view(registration: &Registration, challenge: &PushChallenge) -> PendingApproval {
    PendingApproval {
        registration_id: registration.id.clone(),
        registration_name: registration.display_name(),
        challenge_id: challenge.id.clone(),
        display: challenge.display.clone(),
        created_at: challenge.created_at,
        expires_at: challenge.expires_at,
        new_device: challenge.new_device(),
    }
}
