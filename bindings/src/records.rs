//! Plain data that crosses the FFI boundary.

use nyckel_core::{Account, AddReport, Code, OtpKind, OtpPrompt, PendingApproval, RegistrationSummary, VaultEntry};
use nyckel_protocol::{ChallengeState, NumberPrompt, TransactionLine};

/// How an account's codes are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OtpType {
    /// Time-based.
    Totp,
    /// Counter-based.
    Hotp,
    /// Steam Guard.
    Steam,
}

/// An account as the UI lists it (no secret).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountInfo {
    /// The vault's id of the account.
    pub id: u64,
    /// The service, may be empty.
    pub issuer: String,
    /// The account name at the service.
    pub name: String,
    /// TOTP, HOTP or Steam.
    pub otp_type: OtpType,
    /// "SHA1", "SHA256" or "SHA512".
    pub algorithm: String,
    /// Code length.
    pub digits: u8,
    /// Seconds per code (TOTP/Steam), 0 for HOTP.
    pub period: u64,
    /// The next HOTP counter, 0 for time-based accounts.
    pub counter: u64,
}

/// A code to show.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CodeInfo {
    /// The account it belongs to.
    pub account: AccountInfo,
    /// The code, or empty for an HOTP account in a list of current codes.
    pub code: String,
    /// Seconds the code stays valid; 0 for HOTP.
    pub seconds_left: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportReport {
    /// Accounts added.
    pub added: u64,
    /// Accounts skipped because they were already present.
    pub duplicates: u64,
    /// Zero-based indexes of the QR codes of an export that were not given.
    pub missing_batches: Vec<u32>,
}

impl AccountInfo {
    pub(crate) fn from_entry(entry: &VaultEntry) -> Self {
        Self::new(entry.id, &entry.account)
    }

    pub(crate) fn new(id: u64, account: &Account) -> Self {
        let (otp_type, period, counter) = match account.params.kind {
            OtpKind::Totp { period } => (OtpType::Totp, period, 0),
            OtpKind::Hotp { counter } => (OtpType::Hotp, 0, counter),
            OtpKind::Steam => (OtpType::Steam, account.params.period().unwrap_or_default(), 0),
        };
        AccountInfo {
            id,
            issuer: account.issuer.clone(),
            name: account.name.clone(),
            otp_type,
            algorithm: account.params.algorithm.as_uri_name().to_string(),
            digits: account.params.digits,
            period,
            counter,
        }
    }
}

impl CodeInfo {
    pub(crate) fn new(account: AccountInfo, code: Option<Code>) -> Self {
        match code {
            Some(code) => CodeInfo { account, seconds_left: code.seconds_left.unwrap_or_default(), code: code.code },
            None => CodeInfo { account, code: String::new(), seconds_left: 0 },
        }
    }
}

impl ImportReport {
    pub(crate) fn new(report: AddReport, missing_batches: Vec<u32>) -> Self {
        ImportReport { added: report.added.len() as u64, duplicates: report.duplicates as u64, missing_batches }
    }
}

/// A registration with a Nyckel server (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegistrationInfo {
    /// The phone's id for it.
    pub id: String,
    /// Display name built from signed facts only: `user @ organisation (host)`.
    pub name: String,
    /// The unsigned label from the QR code: secondary text only, never shown alone.
    pub label: Option<String>,
    /// The organisation the user belongs to (signed by the server).
    pub organisation: String,
    /// The host of the server URL the phone registered at.
    pub server_host: String,
    /// This device key's fingerprint, e.g. `7KQ4-M2XA` (the browser showed the same).
    pub device_fingerprint: String,
    /// The server's base URL.
    pub server_url: String,
    /// The user at the server.
    pub user: String,
    /// This device's name at the server.
    pub device_name: String,
    /// This device's id at the server.
    pub device_id: String,
    /// When it was registered, Unix seconds.
    pub created_at: u64,
}

impl From<RegistrationSummary> for RegistrationInfo {
    fn from(summary: RegistrationSummary) -> Self {
        RegistrationInfo {
            id: summary.id,
            name: summary.name,
            label: summary.label,
            organisation: summary.organisation,
            server_host: summary.server_host,
            device_fingerprint: summary.device_fingerprint,
            server_url: summary.server_url,
            user: summary.user,
            device_name: summary.device_name,
            device_id: summary.device_id.to_string(),
            created_at: summary.created_at,
        }
    }
}

/// One line of transaction details, shown verbatim.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DetailLine {
    /// The label, e.g. "New foreign account".
    pub key: String,
    /// The value, e.g. "BIC REVOLT21, IBAN …".
    pub value: String,
}

/// How the user answers number matching.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum NumberChoice {
    /// Pick the number the browser shows among these.
    Choose {
        /// The candidates, in display order.
        choices: Vec<String>,
    },
    /// Type the number the browser shows.
    Type {
        /// How many digits.
        digits: u8,
    },
}

/// A verified push request, with everything the approval screen shows.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ApprovalRequest {
    /// The registration it is for.
    pub registration_id: String,
    /// Its display name.
    pub registration_name: String,
    /// The request's id (pass it back to approve/deny).
    pub challenge_id: String,
    /// The service, e.g. "Trade portal".
    pub service: String,
    /// The action, e.g. "Sign in" or "Change payee".
    pub action: String,
    /// The requesting browser, when known.
    pub browser: Option<String>,
    /// The requesting IP address, when known.
    pub ip: Option<String>,
    /// The approximate place, when known.
    pub place: Option<String>,
    /// When the request was made, Unix seconds, when known.
    pub time: Option<u64>,
    /// Transaction details in order; empty for a plain login.
    pub transaction: Vec<DetailLine>,
    /// Number matching, when the service asked for it.
    pub number_choice: Option<NumberChoice>,
    /// Creation time (server clock; for privacyIDEA and tiqr, when the phone first saw it).
    pub created_at: u64,
    /// Expiry (server clock; for privacyIDEA and tiqr, when the phone stops offering it).
    pub expires_at: u64,
    /// Whose protocol: Nyckel's own server, privacyIDEA push, or tiqr.
    pub provider: Provider,
    /// The host of the server a privacyIDEA or tiqr request comes from (empty for Nyckel's:
    /// the registration name carries the host there).
    pub server_host: String,
    /// The title the server gave (privacyIDEA push; "Log in" for tiqr), if any.
    pub title: Option<String>,
    /// How the PIN of an approval is checked: by the server (Nyckel, tiqr), on this phone only
    /// (privacyIDEA's app PIN — the UI says it is a local gate, [`local_gate_notice`]), or not at all.
    pub pin_check: PinCheck,
    /// A decline may carry a reason ([`DeclineReason`]); privacyIDEA push only.
    pub decline_reasons: bool,
}

fn lines(transaction: &[TransactionLine]) -> Vec<DetailLine> {
    transaction.iter().map(|line| DetailLine { key: line.key.clone(), value: line.value.clone() }).collect()
}

impl From<PendingApproval> for ApprovalRequest {
    fn from(pending: PendingApproval) -> Self {
        let display = pending.display;
        let context = display.context;
        ApprovalRequest {
            registration_id: pending.registration_id,
            registration_name: pending.registration_name,
            challenge_id: pending.challenge_id.to_string(),
            service: context.service,
            action: context.action,
            browser: context.browser,
            ip: context.ip,
            place: context.place,
            time: context.time,
            transaction: lines(&display.transaction),
            number_choice: display.number_match.map(|prompt| match prompt {
                NumberPrompt::Choose { choices } => NumberChoice::Choose { choices },
                NumberPrompt::Type { digits } => NumberChoice::Type { digits },
            }),
            created_at: pending.created_at,
            expires_at: pending.expires_at,
            provider: Provider::Nyckel,
            server_host: String::new(),
            title: None,
            pin_check: PinCheck::Server,
            decline_reasons: false,
        }
    }
}

/// Whose protocol a request or token follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Provider {
    /// Nyckel's own server.
    Nyckel,
    /// A privacyIDEA push token (poll-only).
    PrivacyIdea,
    /// A tiqr token.
    Tiqr,
}

impl From<nyckel_core::Provider> for Provider {
    fn from(provider: nyckel_core::Provider) -> Self {
        match provider {
            nyckel_core::Provider::Nyckel => Provider::Nyckel,
            nyckel_core::Provider::PrivacyIdea => Provider::PrivacyIdea,
            nyckel_core::Provider::Tiqr => Provider::Tiqr,
        }
    }
}

/// How an approval's PIN is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PinCheck {
    /// No PIN is asked (a privacyIDEA push token without an app PIN).
    None,
    /// On this phone only: privacyIDEA's app PIN, a local gate ([`local_gate_notice`]).
    LocalGate,
    /// By the server, which counts wrong ones (Nyckel, tiqr).
    Server,
}

impl From<nyckel_core::PinCheck> for PinCheck {
    fn from(check: nyckel_core::PinCheck) -> Self {
        match check {
            nyckel_core::PinCheck::None => PinCheck::None,
            nyckel_core::PinCheck::LocalGate => PinCheck::LocalGate,
            nyckel_core::PinCheck::Server => PinCheck::Server,
        }
    }
}

/// Why the user declined a privacyIDEA request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeclineReason {
    /// "I did not start this login".
    UnknownTrigger,
    /// "I changed my mind".
    Cancelled,
}

impl From<DeclineReason> for nyckel_core::privacyidea::DeclineReason {
    fn from(reason: DeclineReason) -> Self {
        match reason {
            DeclineReason::UnknownTrigger => nyckel_core::privacyidea::DeclineReason::UnknownTrigger,
            DeclineReason::Cancelled => nyckel_core::privacyidea::DeclineReason::Cancelled,
        }
    }
}

/// The text a UI shows next to the PIN field of a request whose PIN is a local gate.
#[uniffi::export]
pub fn local_gate_notice() -> String {
    nyckel_core::approvals::LOCAL_GATE_NOTICE.to_owned()
}

impl From<nyckel_core::ProviderRequest> for ApprovalRequest {
    fn from(request: nyckel_core::ProviderRequest) -> Self {
        ApprovalRequest {
            registration_id: request.token_id,
            registration_name: request.account,
            challenge_id: request.request_id,
            service: request.service,
            action: request.question,
            browser: None,
            ip: None,
            place: None,
            time: None,
            transaction: Vec::new(),
            number_choice: request.presence_options.map(|choices| NumberChoice::Choose { choices }),
            created_at: request.first_seen,
            expires_at: request.expires_at,
            provider: request.provider.into(),
            server_host: request.server_host,
            title: Some(request.title),
            pin_check: request.pin.into(),
            decline_reasons: request.decline_reasons,
        }
    }
}

/// A privacyIDEA push or tiqr token on this phone.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TokenInfo {
    /// Its id (`pipush:…` or `tiqr:…`): pass it as the registration id of its requests.
    pub id: String,
    /// privacyIDEA or tiqr.
    pub provider: Provider,
    /// The service: the issuer (privacyIDEA) or service name (tiqr).
    pub service: String,
    /// The server host.
    pub server_host: String,
    /// The account: the token label (privacyIDEA) or the user's name (tiqr).
    pub account: String,
    /// The serial (privacyIDEA) or service identifier (tiqr).
    pub serial: String,
    /// How its PIN is checked.
    pub pin_check: PinCheck,
}

impl From<nyckel_core::ProviderTokenSummary> for TokenInfo {
    fn from(token: nyckel_core::ProviderTokenSummary) -> Self {
        TokenInfo {
            id: token.id,
            provider: token.provider.into(),
            service: token.service,
            server_host: token.server_host,
            account: token.account,
            serial: token.serial,
            pin_check: token.pin.into(),
        }
    }
}

/// The answer to any request of the inbox, whichever provider it comes from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RequestAnswer {
    /// Approve with the PIN (Nyckel, tiqr: checked by the server; privacyIDEA: the local gate,
    /// `None` when the token has none) and the number picked or typed, for number matching.
    Approve {
        /// The PIN.
        pin: Option<String>,
        /// The number.
        number: Option<String>,
    },
    /// Approve with biometrics instead of the PIN (Nyckel registrations; privacyIDEA tokens whose
    /// app PIN has biometric unlock on; not tiqr, whose PIN unmasks the secret).
    ApproveWithBiometrics {
        /// The number.
        number: Option<String>,
    },
    /// Decline (no PIN), with a reason privacyIDEA gets when it takes one.
    Decline {
        /// Why.
        reason: Option<DeclineReason>,
    },
    /// Decline and report as not the user's (Nyckel: fraud; privacyIDEA: "I did not start this login").
    ReportFraud,
}

/// What came of an answer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AnswerResult {
    /// Where the request stands.
    pub outcome: ChallengeOutcome,
    /// privacyIDEA code-to-phone: the code the user types on the login page.
    pub display_code: Option<String>,
    /// The server's message with it.
    pub message: Option<String>,
}

/// privacyIDEA's `serial` and `creator` of an account it enrolled.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AccountOrigin {
    /// The token serial at the server.
    pub serial: String,
    /// The `creator` parameter, e.g. `privacyidea`.
    pub creator: String,
}

/// Where a request stands after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChallengeOutcome {
    /// Still open.
    Pending,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
    /// Denied and reported as fraud.
    Fraud,
    /// Expired.
    Expired,
    /// This device was blocked (too many wrong PINs).
    Blocked,
}

impl From<ChallengeState> for ChallengeOutcome {
    fn from(state: ChallengeState) -> Self {
        match state {
            ChallengeState::Pending => ChallengeOutcome::Pending,
            ChallengeState::Approved => ChallengeOutcome::Approved,
            ChallengeState::Denied => ChallengeOutcome::Denied,
            ChallengeState::Fraud => ChallengeOutcome::Fraud,
            ChallengeState::Expired => ChallengeOutcome::Expired,
            ChallengeState::Blocked => ChallengeOutcome::Blocked,
        }
    }
}

/// A scanned login or transaction code, to show before asking the PIN.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QrOtpRequest {
    /// True for a transaction confirmation, false for a login.
    pub is_transaction: bool,
    /// The challenge id.
    pub challenge_id: String,
    /// The service.
    pub service: String,
    /// The action.
    pub action: String,
    /// Transaction details in order — what the one-time password is bound to.
    pub transaction: Vec<DetailLine>,
    /// The registrations that can answer; usually one.
    pub registrations: Vec<RegistrationInfo>,
}

impl From<OtpPrompt> for QrOtpRequest {
    fn from(prompt: OtpPrompt) -> Self {
        QrOtpRequest {
            is_transaction: matches!(prompt.kind, nyckel_protocol::OtpKind::Transaction),
            challenge_id: prompt.challenge_id.to_string(),
            service: prompt.display.context.service.clone(),
            action: prompt.display.context.action.clone(),
            transaction: lines(&prompt.display.transaction),
            registrations: prompt.registrations.into_iter().map(RegistrationInfo::from).collect(),
        }
    }
}

/// The export formats of other apps that [`crate::Nyckel::import_file`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ImportFormat {
    /// Aegis vault JSON, plain or encrypted.
    Aegis,
    /// 2FAS backup, plain or encrypted.
    TwoFas,
    /// Bitwarden export, JSON or CSV.
    Bitwarden,
    /// andOTP backup, plain or encrypted.
    AndOtp,
    /// FreeOTP+ JSON export.
    FreeOtpPlus,
    /// Ente Auth plain text export.
    Ente,
    /// Proton Authenticator JSON export.
    Proton,
    /// A text file of otpauth:// URIs.
    Uris,
}

impl From<ImportFormat> for nyckel_core::ImportFormat {
    fn from(format: ImportFormat) -> Self {
        use nyckel_core::ImportFormat as Core;
        match format {
            ImportFormat::Aegis => Core::Aegis,
            ImportFormat::TwoFas => Core::TwoFas,
            ImportFormat::Bitwarden => Core::Bitwarden,
            ImportFormat::AndOtp => Core::AndOtp,
            ImportFormat::FreeOtpPlus => Core::FreeOtpPlus,
            ImportFormat::Ente => Core::Ente,
            ImportFormat::Proton => Core::Proton,
            ImportFormat::Uris => Core::Uris,
        }
    }
}

impl From<nyckel_core::ImportFormat> for ImportFormat {
    fn from(format: nyckel_core::ImportFormat) -> Self {
        use nyckel_core::ImportFormat as Core;
        match format {
            Core::Aegis => ImportFormat::Aegis,
            Core::TwoFas => ImportFormat::TwoFas,
            Core::Bitwarden => ImportFormat::Bitwarden,
            Core::AndOtp => ImportFormat::AndOtp,
            Core::FreeOtpPlus => ImportFormat::FreeOtpPlus,
            Core::Ente => ImportFormat::Ente,
            Core::Proton => ImportFormat::Proton,
            Core::Uris => ImportFormat::Uris,
        }
    }
}

/// What happened to one entry of an imported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ImportOutcome {
    /// Added to the vault (see `account_id`).
    Added,
    /// The vault already had it.
    AlreadyPresent,
    /// Refused (see `reason`).
    Refused,
    /// Good, but not added: another entry was refused and all-or-nothing was asked.
    NotAdded,
}

/// One entry of an imported file, for the UI to list refused ones with their reason.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ImportedEntry {
    /// One-based position in the file (the line, for text files).
    pub position: u32,
    /// "Issuer:name" as far as the entry tells; may be empty.
    pub label: String,
    /// What happened.
    pub outcome: ImportOutcome,
    /// The new account's id when added.
    pub account_id: Option<u64>,
    /// Why it was refused.
    pub reason: Option<String>,
}

impl ImportedEntry {
    pub(crate) fn from_core(entry: &nyckel_core::import::EntryReport) -> Self {
        use nyckel_core::EntryOutcome as Core;
        let (outcome, account_id, reason) = match &entry.outcome {
            Core::Added(id) => (ImportOutcome::Added, Some(*id), None),
            Core::AlreadyPresent => (ImportOutcome::AlreadyPresent, None, None),
            Core::Refused(error) => (ImportOutcome::Refused, None, Some(error.to_string())),
            Core::NotAdded => (ImportOutcome::NotAdded, None, None),
        };
        let position = u32::try_from(entry.index).unwrap_or(u32::MAX).saturating_add(1);
        ImportedEntry { position, label: entry.label.clone(), outcome, account_id, reason }
    }
}

/// One thing the phone did, as its history shows it: never an OTP or a MAC.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryEntry {
    /// Its number in the history's chain (1, 2, 3…).
    pub seq: u64,
    /// When, Unix seconds.
    pub at: u64,
    /// The registration that answered.
    pub registration_id: String,
    /// Which server and account (`user @ organisation (host)`).
    pub server: String,
    /// The challenge.
    pub challenge_id: String,
    /// True for a QR one-time password, false for an answer to a push.
    pub is_qr_otp: bool,
    /// The service shown.
    pub service: String,
    /// The action shown.
    pub action: String,
    /// The hash of everything shown, base64url.
    pub display_hash: String,
    /// `approve`, `deny`, `fraud` or `otp`.
    pub decision: String,
    /// The server's state (`approved`, `denied`…), `error:<code>`, `unknown` or `offline`.
    pub result: String,
    /// True when the server's signed receipt verified and is kept.
    pub has_receipt: bool,
    /// True when the server sent a receipt that did not verify.
    pub receipt_refused: bool,
}

impl From<nyckel_core::HistoryEntry> for HistoryEntry {
    fn from(entry: nyckel_core::HistoryEntry) -> Self {
        let r = entry.record;
        HistoryEntry {
            seq: entry.seq,
            at: r.at,
            registration_id: r.registration_id,
            server: r.server,
            challenge_id: r.challenge_id.to_string(),
            is_qr_otp: r.kind == nyckel_core::HistoryKind::QrOtp,
            service: r.service,
            action: r.action,
            display_hash: nyckel_protocol::b64::encode(&r.display_hash.0),
            decision: r.decision.as_str().to_owned(),
            result: r.result.as_text(),
            has_receipt: matches!(r.receipt, nyckel_core::ReceiptStatus::Verified { .. }),
            receipt_refused: r.receipt == nyckel_core::ReceiptStatus::Invalid,
        }
    }
}

/// The outcome of checking a registration's history against the chain and the server's audit.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryCheck {
    /// True when the chain is intact and the server's audit agrees.
    pub agrees: bool,
    /// How many history entries the registration has.
    pub entries: u64,
    /// How many audit events the server returned for the device.
    pub audit_events: u64,
    /// What is wrong with the chain (removed, edited or reordered entries), as text.
    pub chain_findings: Vec<String>,
    /// Where the history and the audit disagree, as text.
    pub disagreements: Vec<String>,
}

impl From<nyckel_core::HistoryCheck> for HistoryCheck {
    fn from(check: nyckel_core::HistoryCheck) -> Self {
        HistoryCheck {
            agrees: check.agrees(),
            entries: check.entries as u64,
            audit_events: check.audit_events as u64,
            chain_findings: check.findings.iter().map(ToString::to_string).collect(),
            disagreements: check.disagreements.iter().map(ToString::to_string).collect(),
        }
    }
}
