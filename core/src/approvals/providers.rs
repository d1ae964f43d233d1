//! The one inbox: privacyIDEA push and tiqr requests beside Nyckel's own, and one answer path.
//!
//! privacyIDEA push tokens are polled (signed timestamp, every challenge's signature checked
//! against the server key kept at enrollment); a scanned `tiqrauth://` code becomes a request
//! of the tiqr token it names. Each request names its provider, the service and the server
//! host, and is answered through [`Companion::answer_provider`], which dispatches to the
//! provider's protocol. The phone's memory of push challenges and the local PIN gate's
//! failure count are written back to the vault after every poll and answer, failures
//! included, so a restart neither re-offers an answered challenge nor resets the gate.

use std::sync::Arc;

use crate::biometrics::BiometricError;
use crate::companion::{Companion, CompanionError};
use crate::device_keys::{RsaKeyStore, VaultRsaKeyStore, DEFAULT_RSA_BITS};
use crate::privacyidea::push::{self, DEFAULT_CHALLENGE_LIFETIME};
use crate::privacyidea::tiqr::{self, TiqrAuth};
use crate::privacyidea::{
    parse_push_code, DeclineReason, LocalPinGate, PinGateError, PushAnswer, PushDecision, PushError, PushOutcome,
    TiqrError,
};
use crate::vault::provider_tokens::{GateUnlock, ProviderToken, PUSH_PREFIX, TIQR_PREFIX};
use crate::vault::registrations::host_of;

use super::PendingApproval;

/// What the UI says next to a PIN field of a privacyIDEA push request: the PIN is a gate on
/// this phone only.
pub const LOCAL_GATE_NOTICE: &str = "This PIN is checked on this phone only (a local gate): \
privacyIDEA does not check it, unlike the PIN of Nyckel's own registrations.";

/// Whose protocol a request or token follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Nyckel's own server.
    Nyckel,
    /// A privacyIDEA push token (poll-only).
    PrivacyIdea,
    /// A tiqr token.
    Tiqr,
}

impl Provider {
    /// A short name for lists.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Nyckel => "Nyckel",
            Provider::PrivacyIdea => "privacyIDEA",
            Provider::Tiqr => "tiqr",
        }
    }
}

/// How a request's PIN is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    /// No PIN is asked (a privacyIDEA push token without a gate).
    None,
    /// Checked on this phone only ([`LOCAL_GATE_NOTICE`]): privacyIDEA push with a gate.
    LocalGate,
    /// Checked and counted by the server (Nyckel, tiqr): the phone cannot tell a wrong PIN.
    Server,
}

/// A request from a privacyIDEA push or tiqr token, as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRequest {
    /// Whose protocol.
    pub provider: Provider,
    /// The token it is for (`pipush:…` / `tiqr:…`).
    pub token_id: String,
    /// The request's id: the push nonce or the tiqr session key.
    pub request_id: String,
    /// The service it comes from: the issuer (privacyIDEA) or service name (tiqr).
    pub service: String,
    /// The host of the server that sent it.
    pub server_host: String,
    /// The account: the token label (push) or the user's name (tiqr).
    pub account: String,
    /// The title to show (push `title`; tiqr: "Log in").
    pub title: String,
    /// The question to show.
    pub question: String,
    /// Number matching: the options; the login page shows the right one.
    pub presence_options: Option<Vec<String>>,
    /// A decline may carry a reason ([`DeclineReason`]).
    pub decline_reasons: bool,
    /// How the PIN is checked.
    pub pin: PinCheck,
    /// When the phone first saw it, Unix seconds.
    pub first_seen: u64,
    /// When the phone stops offering it, Unix seconds.
    pub expires_at: u64,
    tiqr: Option<TiqrAuth>,
}

/// One entry of the inbox, whichever server it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxItem {
    /// A request of a Nyckel registration.
    Nyckel(PendingApproval),
    /// A privacyIDEA push or tiqr request.
    Provider(ProviderRequest),
}

impl InboxItem {
    /// Whose protocol.
    pub fn provider(&self) -> Provider {
        match self {
            InboxItem::Nyckel(_) => Provider::Nyckel,
            InboxItem::Provider(request) => request.provider,
        }
    }

    /// The service it comes from, with the server host: what the list shows first.
    pub fn service(&self) -> String {
        match self {
            InboxItem::Nyckel(pending) => {
                format!("{} ({})", pending.display.context.service, pending.registration_name)
            }
            InboxItem::Provider(request) => format!("{} ({})", request.service, request.server_host),
        }
    }

    /// The registration or token id to answer with.
    pub fn registration_id(&self) -> &str {
        match self {
            InboxItem::Nyckel(pending) => &pending.registration_id,
            InboxItem::Provider(request) => &request.token_id,
        }
    }

    /// The request id to answer with.
    pub fn request_id(&self) -> String {
        match self {
            InboxItem::Nyckel(pending) => pending.challenge_id.to_string(),
            InboxItem::Provider(request) => request.request_id.clone(),
        }
    }

    /// When the phone first got it (Nyckel: the server's creation time), for ordering.
    pub fn since(&self) -> u64 {
        match self {
            InboxItem::Nyckel(pending) => pending.created_at,
            InboxItem::Provider(request) => request.first_seen,
        }
    }
}

/// The user's answer to a privacyIDEA or tiqr request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderAnswer {
    /// Approve: with the PIN (the local gate for push, the tiqr PIN) and, for number
    /// matching, the option picked.
    Approve {
        /// The PIN, when the request asks one.
        pin: Option<String>,
        /// The number matching option picked.
        choice: Option<String>,
    },
    /// Approve with biometrics instead of the app PIN (a privacyIDEA token whose gate has
    /// biometric unlock on, [`Companion::enable_token_biometrics`]).
    ApproveWithBiometrics {
        /// The number matching option picked.
        choice: Option<String>,
    },
    /// Decline, with a reason when the server takes one (tiqr has no decline on the wire:
    /// the request is dropped on the phone).
    Decline {
        /// Why.
        reason: Option<DeclineReason>,
    },
}

/// What came of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderOutcome {
    /// Approved; the login page completes the login.
    Approved,
    /// Declined at the server (privacyIDEA push).
    Declined,
    /// Dropped on this phone only (a tiqr request declined: tiqr has no decline message).
    Dismissed,
    /// Approved; show this code for the user to type into the login page (code-to-phone).
    ShowCode {
        /// The code.
        code: String,
        /// The server's message.
        message: Option<String>,
    },
}

/// A privacyIDEA push or tiqr token, as lists show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderTokenSummary {
    /// Its id (`pipush:…` / `tiqr:…`).
    pub id: String,
    /// Whose protocol.
    pub provider: Provider,
    /// The service: issuer (push) or service name (tiqr).
    pub service: String,
    /// The server host.
    pub server_host: String,
    /// The account: label (push) or the user's name and id (tiqr).
    pub account: String,
    /// The serial (push) or service identifier (tiqr).
    pub serial: String,
    /// How its PIN is checked.
    pub pin: PinCheck,
}

/// What one poll of a push token brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderPoll {
    /// Requests seen for the first time by this process.
    pub new: Vec<ProviderRequest>,
    /// Entries refused (bad signature, foreign serial, expired on the phone…), never shown.
    pub rejected: Vec<PushError>,
}

fn summary(id: &str, token: &ProviderToken) -> ProviderTokenSummary {
    match token {
        ProviderToken::PrivacyideaPush { token, gate, .. } => ProviderTokenSummary {
            id: id.to_owned(),
            provider: Provider::PrivacyIdea,
            service: token.issuer.clone(),
            server_host: host_of(&token.url),
            account: token.label.clone(),
            serial: token.serial.clone(),
            pin: if gate.is_some() { PinCheck::LocalGate } else { PinCheck::None },
        },
        ProviderToken::Tiqr { token } => ProviderTokenSummary {
            id: id.to_owned(),
            provider: Provider::Tiqr,
            service: token.service_name.clone(),
            server_host: host_of(&token.authentication_url),
            account: format!("{} ({})", token.user_name, token.user_id),
            serial: token.service_id.clone(),
            pin: PinCheck::Server,
        },
    }
}

fn random_hex() -> Result<String, CompanionError> {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| CompanionError::Push(PushError::BadResponse { reason: "no randomness".into() }))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

impl Companion {
    /// Gives the core the platform's RSA key store for privacyIDEA push keys (Android
    /// Keystore; the iOS Keychain), or `None` for the software store sealed in the vault.
    pub fn set_rsa_key_store(&self, store: Option<Arc<dyn RsaKeyStore>>) {
        *self.rsa_keys.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = store;
    }

    /// The RSA key store in use: the platform's, else keys sealed in the vault.
    pub fn rsa_key_store(&self) -> Arc<dyn RsaKeyStore> {
        match &*self.rsa_keys.read().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            Some(store) => store.clone(),
            None => Arc::new(VaultRsaKeyStore::new(self.vault.clone(), DEFAULT_RSA_BITS)),
        }
    }

    /// Enrolls a privacyIDEA push token from a scanned `otpauth://pipush/…` or `pia://pipush/…`
    /// code. `app_pin` sets the local PIN gate; it is required when the server's policy asks
    /// for one (refused before anything is sent otherwise). Stored once the server finished
    /// the enrollment; on any failure nothing is kept (the new RSA key is deleted again).
    pub async fn enroll_push_token(
        &self,
        code: &str,
        app_pin: Option<&str>,
    ) -> Result<ProviderTokenSummary, CompanionError> {
        let code = parse_push_code(code)?;
        if (code.app_pin || code.app_force_unlock.is_some()) && app_pin.is_none() {
            return Err(PushError::PinRequired.into());
        }
        let gate = app_pin.map(LocalPinGate::new).transpose().map_err(PushError::from)?;
        let id = format!("{PUSH_PREFIX}{}@{}", code.serial, host_of(&code.url));
        if self.vault.provider_token(&id)?.is_some() {
            return Err(crate::vault::VaultError::DuplicateToken(id).into());
        }
        let keys = self.rsa_key_store();
        let alias = format!("pipush-{}-{}", code.serial, random_hex()?);
        let token = push::enroll(&self.pi_http, &code, keys.as_ref(), &alias, self.now()).await?;
        let record = ProviderToken::PrivacyideaPush { token, inbox: Default::default(), gate, biometric: None };
        match self.vault.add_provider_token(&record) {
            Ok(id) => {
                self.registrations_changed();
                Ok(summary(&id, &record))
            }
            Err(error) => {
                let _ = keys.delete_rsa_key(alias);
                Err(error.into())
            }
        }
    }

    /// Enrolls a tiqr token from a scanned `tiqrenroll://` code with its PIN (4+ characters):
    /// the secret is kept masked by the PIN, with nothing on the phone that checks it.
    pub async fn enroll_tiqr_token(&self, code: &str, pin: &str) -> Result<ProviderTokenSummary, CompanionError> {
        if pin.chars().count() < 4 {
            return Err(PushError::Pin(PinGateError::TooShort).into());
        }
        let metadata = tiqr::fetch_metadata(&self.pi_http, code).await?;
        let id = format!("{TIQR_PREFIX}{}@{}", metadata.user_id, metadata.service_id);
        if self.vault.provider_token(&id)?.is_some() {
            return Err(crate::vault::VaultError::DuplicateToken(id).into());
        }
        let token = tiqr::enroll(&self.pi_http, &metadata, pin).await?;
        let record = ProviderToken::Tiqr { token };
        let id = self.vault.add_provider_token(&record)?;
        self.registrations_changed();
        Ok(summary(&id, &record))
    }

    /// Every privacyIDEA push and tiqr token on this phone.
    pub fn provider_tokens(&self) -> Result<Vec<ProviderTokenSummary>, CompanionError> {
        Ok(self.vault.provider_tokens()?.iter().map(|(id, token)| summary(id, token)).collect())
    }

    /// Forgets a token on this phone (and its RSA key); the server keeps its record until an
    /// administrator removes it. `false` when there was none.
    pub fn remove_provider_token(&self, id: &str) -> Result<bool, CompanionError> {
        let Some(token) = self.vault.provider_token(id)? else { return Ok(false) };
        let removed = self.vault.remove_provider_token(id)?;
        if let ProviderToken::PrivacyideaPush { token, .. } = token {
            self.rsa_key_store().delete_rsa_key(token.key_alias)?;
        }
        self.provider_pending_map().retain(|(token_id, _), _| token_id != id);
        self.registrations_changed();
        Ok(removed)
    }

    /// Polls one privacyIDEA push token and returns the requests this process had not shown
    /// yet; the phone's memory of challenges is on disk when it returns.
    pub async fn poll_provider_token(&self, id: &str) -> Result<ProviderPoll, CompanionError> {
        let _guard = self.provider_lock.lock().await;
        let record = self.vault.provider_token(id)?.ok_or_else(|| CompanionError::UnknownToken(id.to_owned()))?;
        let ProviderToken::PrivacyideaPush { token, mut inbox, gate, .. } = record.clone() else {
            return Ok(ProviderPoll::default());
        };
        let keys = self.rsa_key_store();
        let now = self.now();
        let polled = push::poll(&self.pi_http, &token, keys.as_ref(), &mut inbox, now).await;
        self.store_push_state(id, &inbox, gate.as_ref())?;
        let polled = polled?;
        let summary = summary(id, &record);
        let mut outcome = ProviderPoll { new: Vec::new(), rejected: polled.rejected };
        let mut pending = self.provider_pending_map();
        let listed: Vec<&str> = polled.challenges.iter().map(|challenge| challenge.nonce.as_str()).collect();
        // Gone from the server's list (answered elsewhere, expired there): gone from the inbox.
        pending.retain(|(token_id, nonce), _| token_id != id || listed.contains(&nonce.as_str()));
        for challenge in polled.challenges {
            let key = (id.to_owned(), challenge.nonce.clone());
            if pending.contains_key(&key) {
                continue;
            }
            let request = ProviderRequest {
                provider: Provider::PrivacyIdea,
                token_id: id.to_owned(),
                request_id: challenge.nonce,
                service: summary.service.clone(),
                server_host: summary.server_host.clone(),
                account: summary.account.clone(),
                title: challenge.title,
                question: challenge.question,
                presence_options: challenge.presence_options,
                decline_reasons: challenge.decline_reasons,
                pin: summary.pin,
                first_seen: challenge.expires_at.saturating_sub(token.challenge_lifetime),
                expires_at: challenge.expires_at,
                tiqr: None,
            };
            pending.insert(key, request.clone());
            outcome.new.push(request);
        }
        Ok(outcome)
    }

    fn store_push_state(
        &self,
        id: &str,
        inbox: &crate::privacyidea::PushInbox,
        gate: Option<&LocalPinGate>,
    ) -> Result<(), CompanionError> {
        self.vault.update_provider_token::<CompanionError>(id, |record| {
            if let ProviderToken::PrivacyideaPush { inbox: stored_inbox, gate: stored_gate, .. } = record {
                *stored_inbox = inbox.clone();
                *stored_gate = gate.cloned();
            }
            Ok(true)
        })?;
        Ok(())
    }

    /// Reads a scanned `tiqrauth://` login code and puts it in the inbox as a request of the
    /// tiqr token it names ([`TiqrError::OtherAccount`] when no token here matches).
    pub fn scan_login_code(&self, code: &str) -> Result<ProviderRequest, CompanionError> {
        let auth = tiqr::parse_auth_code(code)?;
        let (id, token) = self.tiqr_token_for(&auth)?;
        let now = self.now();
        let request = ProviderRequest {
            provider: Provider::Tiqr,
            token_id: id.clone(),
            request_id: auth.session_key.clone(),
            service: if auth.service_name.is_empty() { token.service_name.clone() } else { auth.service_name.clone() },
            server_host: host_of(&token.authentication_url),
            account: format!("{} ({})", token.user_name, token.user_id),
            title: "Log in".into(),
            question: format!("Log in to {} as {}?", token.service_name, token.user_name),
            presence_options: None,
            decline_reasons: false,
            pin: PinCheck::Server,
            first_seen: now,
            // privacyIDEA's default challenge validity; tiqr codes carry no time.
            expires_at: now.saturating_add(DEFAULT_CHALLENGE_LIFETIME),
            tiqr: Some(auth.clone()),
        };
        self.provider_pending_map().insert((id, auth.session_key), request.clone());
        Ok(request)
    }

    /// The tiqr response to type when the phone cannot reach the server (offline login), for
    /// a scanned `tiqrauth://` code. Any PIN gives digits; only the server knows if they are
    /// right, and counts a wrong one.
    pub fn tiqr_offline_response(
        &self,
        code: &str,
        pin: &str,
    ) -> Result<(ProviderTokenSummary, String), CompanionError> {
        let auth = tiqr::parse_auth_code(code)?;
        let (id, token) = self.tiqr_token_for(&auth)?;
        let response = token.response(&auth, pin, self.now())?;
        Ok((summary(&id, &ProviderToken::Tiqr { token }), response))
    }

    fn tiqr_token_for(&self, auth: &TiqrAuth) -> Result<(String, crate::privacyidea::TiqrToken), CompanionError> {
        let id = format!("{TIQR_PREFIX}{}@{}", auth.user_id, auth.service_id);
        match self.vault.provider_token(&id)? {
            Some(ProviderToken::Tiqr { token }) => Ok((id, token)),
            _ => Err(TiqrError::OtherAccount {
                expected: "a tiqr token on this phone".into(),
                got: format!("{}@{}", auth.user_id, auth.service_id),
            }
            .into()),
        }
    }

    /// privacyIDEA and tiqr requests waiting for an answer (expired ones dropped).
    pub fn provider_requests(&self) -> Vec<ProviderRequest> {
        let now = self.now();
        let mut pending = self.provider_pending_map();
        pending.retain(|_, request| now <= request.expires_at);
        let mut requests: Vec<ProviderRequest> = pending.values().cloned().collect();
        requests.sort_by_key(|request| request.first_seen);
        requests
    }

    /// Every request waiting for an answer, from every registration and token, oldest first.
    pub fn inbox(&self) -> Result<Vec<InboxItem>, CompanionError> {
        let mut items: Vec<InboxItem> = self.pending_approvals()?.into_iter().map(InboxItem::Nyckel).collect();
        items.extend(self.provider_requests().into_iter().map(InboxItem::Provider));
        items.sort_by_key(InboxItem::since);
        Ok(items)
    }

    /// Turns on biometric unlock of a push token's local gate, with its app PIN once (checked
    /// by the gate, counted like any try). A random marker is sealed under a new key of the
    /// platform's biometric key store (which prompts) and stored with its SHA-256; from then
    /// on [`ProviderAnswer::ApproveWithBiometrics`] opens the gate. Local, like the gate itself.
    pub fn enable_token_biometrics(&self, token_id: &str, pin: &str) -> Result<(), CompanionError> {
        let key = self.biometric_key()?;
        let record =
            self.vault.provider_token(token_id)?.ok_or_else(|| CompanionError::UnknownToken(token_id.to_owned()))?;
        let ProviderToken::PrivacyideaPush { inbox, gate: Some(mut gate), .. } = record else {
            return Err(BiometricError::NotAvailable {
                reason: "only a privacyIDEA token with an app PIN has a gate to unlock".into(),
            }
            .into());
        };
        let checked = gate.check(pin);
        self.store_push_state(token_id, &inbox, Some(&gate))?;
        checked.map_err(PushError::from)?;
        let alias = format!("nyckel-bio-{token_id}");
        let mut marker = zeroize::Zeroizing::new([0u8; 32]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), marker.as_mut())
            .map_err(|_| BiometricError::Failed { reason: "no randomness".into() })?;
        key.create_key(alias.clone())?;
        let sealed =
            key.seal(alias.clone(), marker.to_vec(), gate_aad(token_id), "Turn on biometrics for this token".into())?;
        let unlock = GateUnlock {
            key_alias: alias,
            sealed,
            check: ring::digest::digest(&ring::digest::SHA256, marker.as_ref()).as_ref().to_vec(),
        };
        self.vault.update_provider_token::<CompanionError>(token_id, |record| {
            if let ProviderToken::PrivacyideaPush { biometric, .. } = record {
                *biometric = Some(unlock.clone());
            }
            Ok(true)
        })?;
        Ok(())
    }

    /// Whether biometric unlock is on for a push token.
    pub fn token_biometrics_enabled(&self, token_id: &str) -> Result<bool, CompanionError> {
        Ok(matches!(
            self.vault.provider_token(token_id)?,
            Some(ProviderToken::PrivacyideaPush { biometric: Some(_), .. })
        ))
    }

    /// Turns biometric unlock off for a push token and deletes its biometric key.
    pub fn disable_token_biometrics(&self, token_id: &str) -> Result<(), CompanionError> {
        let mut removed = None;
        self.vault.update_provider_token::<CompanionError>(token_id, |record| {
            if let ProviderToken::PrivacyideaPush { biometric, .. } = record {
                removed = biometric.take();
            }
            Ok(removed.is_some())
        })?;
        if let (Some(unlock), Ok(key)) = (removed, self.biometric_key()) {
            key.delete_key(unlock.key_alias)?;
        }
        Ok(())
    }

    /// Opens the gate with the platform's prompt: the marker must come back and hash right.
    fn open_gate_with_biometrics(&self, token_id: &str, unlock: &GateUnlock) -> Result<(), CompanionError> {
        let key = self.biometric_key()?;
        let marker = zeroize::Zeroizing::new(key.open(
            unlock.key_alias.clone(),
            unlock.sealed.clone(),
            gate_aad(token_id),
            "Approve the sign-in".into(),
        )?);
        if ring::digest::digest(&ring::digest::SHA256, &marker).as_ref() != unlock.check.as_slice() {
            return Err(BiometricError::Tampered.into());
        }
        Ok(())
    }

    /// Answers a privacyIDEA push or tiqr request from the inbox. The request stays in the
    /// inbox when the user may try again (wrong local PIN, wrong tiqr PIN, network failure)
    /// and leaves it once the answer is final.
    pub async fn answer_provider(
        &self,
        token_id: &str,
        request_id: &str,
        answer: ProviderAnswer,
    ) -> Result<ProviderOutcome, CompanionError> {
        let key = (token_id.to_owned(), request_id.to_owned());
        let request = self
            .provider_pending_map()
            .get(&key)
            .cloned()
            .ok_or_else(|| CompanionError::Push(PushError::UnknownChallenge { nonce: request_id.to_owned() }))?;
        let forget = || {
            self.provider_pending_map().remove(&key);
        };
        match request.provider {
            Provider::Tiqr => {
                let auth = request.tiqr.clone().ok_or_else(|| CompanionError::UnknownToken(token_id.to_owned()))?;
                let pin = match answer {
                    ProviderAnswer::Decline { .. } => {
                        forget();
                        return Ok(ProviderOutcome::Dismissed);
                    }
                    ProviderAnswer::Approve { pin: Some(pin), .. } => pin,
                    // The tiqr PIN unmasks the secret: biometrics cannot stand in for it.
                    ProviderAnswer::Approve { pin: None, .. } | ProviderAnswer::ApproveWithBiometrics { .. } => {
                        return Err(PushError::PinRequired.into())
                    }
                };
                let (_, token) = self.tiqr_token_for(&auth)?;
                match tiqr::login(&self.pi_http, &token, &auth, &pin, self.now()).await {
                    Ok(()) => {
                        forget();
                        Ok(ProviderOutcome::Approved)
                    }
                    Err(error @ TiqrError::InvalidChallenge) => {
                        forget();
                        Err(error.into())
                    }
                    Err(error) => Err(error.into()),
                }
            }
            Provider::PrivacyIdea | Provider::Nyckel => {
                let _guard = self.provider_lock.lock().await;
                let record = self
                    .vault
                    .provider_token(token_id)?
                    .ok_or_else(|| CompanionError::UnknownToken(token_id.to_owned()))?;
                let ProviderToken::PrivacyideaPush { token, mut inbox, mut gate, biometric } = record else {
                    return Err(CompanionError::UnknownToken(token_id.to_owned()));
                };
                let mut unlocked = false;
                let (push_answer, pin) = match answer {
                    ProviderAnswer::Approve { pin, choice } => {
                        (PushAnswer { decision: PushDecision::Accept, presence_answer: choice }, pin)
                    }
                    ProviderAnswer::ApproveWithBiometrics { choice } => {
                        let unlock = biometric.as_ref().ok_or(BiometricError::NotEnabled)?;
                        self.open_gate_with_biometrics(token_id, unlock)?;
                        unlocked = true;
                        (PushAnswer { decision: PushDecision::Accept, presence_answer: choice }, None)
                    }
                    // Declining needs no PIN: refusing must be effortless.
                    ProviderAnswer::Decline { reason } => {
                        (PushAnswer { decision: PushDecision::Decline(reason), presence_answer: None }, None)
                    }
                };
                let is_accept = push_answer.decision == PushDecision::Accept;
                let gate_arg = match (gate.as_mut(), pin.as_deref(), is_accept && !unlocked) {
                    (Some(gate), Some(pin), true) => Some((gate, pin)),
                    (Some(_), None, true) => return Err(PushError::PinRequired.into()),
                    _ => None,
                };
                // A decline, or biometrics, pass the gate: the token's own flag must not
                // demand the PIN either.
                let mut answering = token.clone();
                if !is_accept || unlocked {
                    answering.app_pin = false;
                }
                let keys = self.rsa_key_store();
                let now = self.now();
                let result = push::answer(
                    &self.pi_http,
                    &answering,
                    keys.as_ref(),
                    &mut inbox,
                    request_id,
                    &push_answer,
                    gate_arg,
                    now,
                )
                .await;
                // Written back whatever happened: the gate's failure count, the answered mark.
                self.store_push_state(token_id, &inbox, gate.as_ref())?;
                match result {
                    Ok(outcome) => {
                        forget();
                        Ok(match outcome {
                            PushOutcome::Accepted => ProviderOutcome::Approved,
                            PushOutcome::Declined => ProviderOutcome::Declined,
                            PushOutcome::Confirmed { display_code, message } => {
                                ProviderOutcome::ShowCode { code: display_code, message }
                            }
                        })
                    }
                    Err(
                        error @ (PushError::AnswerRejected
                        | PushError::AlreadyAnswered { .. }
                        | PushError::Expired { .. }
                        | PushError::UnknownChallenge { .. }),
                    ) => {
                        forget();
                        Err(error.into())
                    }
                    Err(error) => Err(error.into()),
                }
            }
        }
    }

    pub(crate) fn provider_pending_map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), ProviderRequest>> {
        // Single inserts and removes: a panic elsewhere cannot leave the map inconsistent.
        self.provider_pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Associated data of a token's biometric marker: a marker sealed for another token does not open.
fn gate_aad(token_id: &str) -> Vec<u8> {
    [b"nyckel-token-gate/".as_slice(), token_id.as_bytes()].concat()
}
