//! The phone's history with receipts: a hash-chained, sealed record of every answer and QR one-time password it produced.
//!
//! Each entry says when, for which registration (server, device) and challenge, what was
//! shown (service, action and the display hash), what the user decided and what came of it
//! — the server's state or error code, and for answers the server's signed receipt,
//! verified under the pinned key before it is kept. Never a MAC, a PIN-derived value or an
//! OTP (PROTOCOL.md §4.4 rule 3).
//!
//! Entries are numbered 1, 2, 3… and chained: each entry's hash is SHA-256 over the
//! canonical bytes (tag `nyckel/v2/history-entry`) of the previous hash, its number and
//! every field. A sealed head names the last entry. [`History::verify`] reports a removed,
//! edited or reordered entry; [`History::check_against`] compares the history with the
//! server's audit events for the device.

use nyckel_protocol::canonical::{tags, Canonical};
use nyckel_protocol::digest::sha256;
use nyckel_protocol::wire::audit::{AuditEvent, AuditKind};
use nyckel_protocol::wire::phone::AnswerReceipt;
use nyckel_protocol::{b64, ChallengeId, ChallengeState, DeviceId, DisplayHash};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::vault::{Vault, VaultError};

const TREE: &str = "history";
/// The key of the sealed head; entries are keyed by their 8-byte big-endian number.
const HEAD_KEY: &[u8] = b"head";

/// A link of the history chain (SHA-256); base64url in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HistoryHash(#[serde(with = "b64::array")] pub [u8; 32]);

impl HistoryHash {
    /// The `prev_hash` of the first entry.
    pub const GENESIS: HistoryHash = HistoryHash([0; 32]);
}

/// What produced the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// An answer to a push challenge.
    Push,
    /// A QR one-time password, made offline.
    QrOtp,
}

impl HistoryKind {
    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Push => "push",
            HistoryKind::QrOtp => "qr_otp",
        }
    }
}

/// What the user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryDecision {
    /// Approved a push (with the PIN).
    Approve,
    /// Denied a push.
    Deny,
    /// Denied a push and reported it as not theirs.
    Fraud,
    /// Made a QR one-time password (with the PIN); the OTP itself is never kept.
    Otp,
}

impl HistoryDecision {
    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryDecision::Approve => "approve",
            HistoryDecision::Deny => "deny",
            HistoryDecision::Fraud => "fraud",
            HistoryDecision::Otp => "otp",
        }
    }
}

impl From<nyckel_protocol::Decision> for HistoryDecision {
    fn from(decision: nyckel_protocol::Decision) -> Self {
        match decision {
            nyckel_protocol::Decision::Approve => HistoryDecision::Approve,
            nyckel_protocol::Decision::Deny => HistoryDecision::Deny,
            nyckel_protocol::Decision::Fraud => HistoryDecision::Fraud,
        }
    }
}

/// What came of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum HistoryResult {
    /// The server took the answer; the challenge's state.
    State(ChallengeState),
    /// The server refused; its error code (snake_case, e.g. `wrong_pin`).
    Refused(String),
    /// No answer from the server (network failure, unreadable response): the outcome is unknown.
    Unknown,
    /// A QR one-time password, shown to the user; only the relying party learns the outcome.
    Offline,
}

impl HistoryResult {
    /// The canonical (and displayed) text: the state, `error:<code>`, `unknown` or `offline`.
    pub fn as_text(&self) -> String {
        match self {
            HistoryResult::State(state) => state.as_str().to_owned(),
            HistoryResult::Refused(code) => format!("error:{code}"),
            HistoryResult::Unknown => "unknown".to_owned(),
            HistoryResult::Offline => "offline".to_owned(),
        }
    }
}

/// The server's receipt, as far as the phone could check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ReceiptStatus {
    /// No receipt: a refusal, a QR one-time password, or a server older than receipts.
    Absent,
    /// Verified under the pinned server key; kept.
    Verified {
        /// The receipt.
        receipt: AnswerReceipt,
    },
    /// The server sent one that does not verify; it is not kept.
    Invalid,
}

/// One thing the phone did, as recorded (the fields the chain covers, apart from the link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRecord {
    /// When, Unix seconds (phone clock corrected to the server's).
    pub at: u64,
    /// The registration that answered.
    pub registration_id: String,
    /// The registration's name (`user @ organisation (host)`): which server.
    pub server: String,
    /// The device id of the registration.
    pub device_id: DeviceId,
    /// Push answer or QR one-time password.
    pub kind: HistoryKind,
    /// The challenge.
    pub challenge_id: ChallengeId,
    /// The service shown.
    pub service: String,
    /// The action shown.
    pub action: String,
    /// The hash of everything shown (PROTOCOL.md §3.1, Display).
    pub display_hash: DisplayHash,
    /// What the user did.
    pub decision: HistoryDecision,
    /// What came of it.
    pub result: HistoryResult,
    /// The server's signed receipt.
    pub receipt: ReceiptStatus,
}

/// A record with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// Number: 1 for the first entry, then contiguous.
    pub seq: u64,
    /// The entry.
    pub record: HistoryRecord,
    /// The hash of the entry before ([`HistoryHash::GENESIS`] for the first).
    pub prev_hash: HistoryHash,
    /// [`HistoryEntry::chain_hash`] of this entry.
    pub hash: HistoryHash,
}

impl HistoryEntry {
    /// The canonical bytes the hash covers (tag `nyckel/v2/history-entry`): previous hash,
    /// number, time, registration id, server, device id, kind, challenge id, service,
    /// action, display hash, decision, result, then the receipt as `u8 0` (absent) |
    /// `u8 1, u64 decided_at, bytes signature(64)` | `u8 2` (invalid).
    pub fn chain_bytes(&self) -> Vec<u8> {
        let r = &self.record;
        let mut m = Canonical::new(tags::HISTORY_ENTRY);
        m.bytes(&self.prev_hash.0)
            .u64(self.seq)
            .u64(r.at)
            .str(&r.registration_id)
            .str(&r.server)
            .str(r.device_id.as_str())
            .str(r.kind.as_str())
            .str(r.challenge_id.as_str())
            .str(&r.service)
            .str(&r.action)
            .bytes(&r.display_hash.0)
            .str(r.decision.as_str())
            .str(&r.result.as_text());
        match &r.receipt {
            ReceiptStatus::Absent => m.u8(0),
            ReceiptStatus::Verified { receipt } => m.u8(1).u64(receipt.decided_at).bytes(&receipt.signature.0),
            ReceiptStatus::Invalid => m.u8(2),
        };
        m.into_bytes()
    }

    /// SHA-256 of [`HistoryEntry::chain_bytes`]: what `hash` must be.
    pub fn chain_hash(&self) -> HistoryHash {
        HistoryHash(sha256(&self.chain_bytes()))
    }
}

/// The number and hash of the last entry, kept (sealed) beside the entries so that
/// removing entries from the end shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryHead {
    /// The last entry's number.
    pub seq: u64,
    /// Its hash.
    pub hash: HistoryHash,
}

/// Something wrong with the chain, found by [`History::verify`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryFinding {
    /// The entry's contents do not give its hash: it was edited.
    #[error("entry {seq} was edited (its hash does not match its contents)")]
    Edited {
        /// The entry.
        seq: u64,
    },
    /// The entry does not link to the one before it: an entry was removed or moved.
    #[error("entry {seq} does not follow the entry before it (removed or reordered entries)")]
    BrokenLink {
        /// The entry.
        seq: u64,
    },
    /// The numbers are not 1, 2, 3…: an entry was removed or moved.
    #[error("expected entry {expected}, found entry {found} (removed or reordered entries)")]
    OutOfSequence {
        /// The number that should come here.
        expected: u64,
        /// The number found.
        found: u64,
    },
    /// The head names a later entry than the last one present: entries were removed from the end.
    #[error("the history ends at entry {last} but its head names entry {head}")]
    Truncated {
        /// The head's number.
        head: u64,
        /// The last entry present (0 for none).
        last: u64,
    },
    /// The head does not name the last entry (its number or hash differs).
    #[error("the history head does not match its last entry {last}")]
    HeadMismatch {
        /// The last entry present.
        last: u64,
    },
    /// There are entries but no head.
    #[error("the history has entries but no head")]
    MissingHead,
    /// A stored record does not decrypt or parse.
    #[error("history record {key} cannot be read: {reason}")]
    Unreadable {
        /// Its storage key (the entry number, or `head`).
        key: String,
        /// Why.
        reason: String,
    },
}

/// A difference between the phone's history and the server's audit, found by
/// [`History::check_against`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditDisagreement {
    /// The history says the server took (or counted) an answer, but the audit has no event
    /// of the matching kind for this device and challenge.
    #[error("entry {seq} (challenge {challenge_id}) has no {} event in the server's audit", expected.as_str())]
    MissingFromAudit {
        /// The history entry.
        seq: u64,
        /// Its challenge.
        challenge_id: ChallengeId,
        /// The audit event kind it should have.
        expected: AuditKind,
    },
    /// The audit records an approval, denial or fraud report by this device that the
    /// history does not have.
    #[error("the server's audit event {audit_seq} ({} of challenge {}) is not in this phone's history",
        kind.as_str(), challenge_id.as_ref().map_or("?", ChallengeId::as_str))]
    MissingFromHistory {
        /// The audit event's sequence number.
        audit_seq: u64,
        /// Its challenge.
        challenge_id: Option<ChallengeId>,
        /// Its kind.
        kind: AuditKind,
    },
    /// The server's receipt for this entry did not verify under the pinned key.
    #[error("entry {seq} (challenge {challenge_id}) came with a receipt that does not verify")]
    ReceiptRefused {
        /// The history entry.
        seq: u64,
        /// Its challenge.
        challenge_id: ChallengeId,
    },
}

/// The whole history as stored, with what could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The entries, in storage (number) order.
    pub entries: Vec<HistoryEntry>,
    /// The head, when one is stored.
    pub head: Option<HistoryHead>,
    /// Records that could not be read, as findings.
    pub unreadable: Vec<HistoryFinding>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a record in memory: numbered and linked after the head (or the last entry).
    pub fn append(&mut self, record: HistoryRecord) -> &HistoryEntry {
        let (seq, prev_hash) = self.next_link();
        let mut entry = HistoryEntry { seq, record, prev_hash, hash: HistoryHash::GENESIS };
        entry.hash = entry.chain_hash();
        self.head = Some(HistoryHead { seq, hash: entry.hash });
        self.entries.push(entry);
        // Just pushed; the vector is not empty.
        &self.entries[self.entries.len() - 1]
    }

    fn next_link(&self) -> (u64, HistoryHash) {
        let last = self.head.map(|h| (h.seq, h.hash)).or_else(|| self.entries.last().map(|e| (e.seq, e.hash)));
        match last {
            Some((seq, hash)) => (seq.saturating_add(1), hash),
            None => (1, HistoryHash::GENESIS),
        }
    }

    /// The entries of one registration (all when `None`), oldest first.
    pub fn entries_for(&self, registration_id: Option<&str>) -> Vec<&HistoryEntry> {
        self.entries.iter().filter(|e| registration_id.is_none_or(|id| e.record.registration_id == id)).collect()
    }

    /// Checks the chain: every entry's hash, its link to the one before, contiguous
    /// numbers from 1, and the head naming the last entry. Empty when intact.
    pub fn verify(&self) -> Vec<HistoryFinding> {
        let mut findings = self.unreadable.clone();
        let mut prev_hash = HistoryHash::GENESIS;
        let mut expected = 1u64;
        for entry in &self.entries {
            if entry.seq != expected {
                findings.push(HistoryFinding::OutOfSequence { expected, found: entry.seq });
            }
            if entry.chain_hash() != entry.hash {
                findings.push(HistoryFinding::Edited { seq: entry.seq });
            }
            if entry.prev_hash != prev_hash {
                findings.push(HistoryFinding::BrokenLink { seq: entry.seq });
            }
            prev_hash = entry.hash;
            expected = entry.seq.saturating_add(1);
        }
        let last = self.entries.last();
        match (self.head, last) {
            (None, None) => {}
            (None, Some(_)) => findings.push(HistoryFinding::MissingHead),
            (Some(head), last) => {
                let last_seq = last.map_or(0, |e| e.seq);
                if head.seq > last_seq {
                    findings.push(HistoryFinding::Truncated { head: head.seq, last: last_seq });
                } else if last.is_some_and(|e| e.seq != head.seq || e.hash != head.hash) {
                    findings.push(HistoryFinding::HeadMismatch { last: last_seq });
                }
            }
        }
        findings
    }

    /// Compares the entries of `registration_id` (device `device_id`) with the server's
    /// audit events: each answer the server took or counted must have its event (by
    /// challenge id and kind), and each approval, denial or fraud report the audit
    /// attributes to this device must be in the history. QR one-time passwords are
    /// offline, so only the audit side is checked for them (an OTP approval naming this
    /// device needs a QR entry for that challenge). Empty when they agree.
    pub fn check_against(
        &self,
        registration_id: &str,
        device_id: &DeviceId,
        events: &[AuditEvent],
    ) -> Vec<AuditDisagreement> {
        let ours: Vec<&HistoryEntry> = self
            .entries
            .iter()
            .filter(|e| e.record.registration_id == registration_id && &e.record.device_id == device_id)
            .collect();
        let events: Vec<&AuditEvent> = events.iter().filter(|e| e.device_id.as_ref() == Some(device_id)).collect();
        let mut found = Vec::new();
        for entry in &ours {
            if entry.record.receipt == ReceiptStatus::Invalid {
                found.push(AuditDisagreement::ReceiptRefused {
                    seq: entry.seq,
                    challenge_id: entry.record.challenge_id.clone(),
                });
            }
            let Some(expected) = expected_audit_kind(&entry.record) else { continue };
            let present = events
                .iter()
                .any(|e| e.kind == expected && e.challenge_id.as_ref() == Some(&entry.record.challenge_id));
            if !present {
                found.push(AuditDisagreement::MissingFromAudit {
                    seq: entry.seq,
                    challenge_id: entry.record.challenge_id.clone(),
                    expected,
                });
            }
        }
        for event in events {
            if !matches!(
                event.kind,
                AuditKind::ChallengeApproved | AuditKind::ChallengeDenied | AuditKind::FraudReported
            ) {
                continue;
            }
            let by_device = event.actor == "device";
            let matched = ours.iter().any(|entry| {
                let r = &entry.record;
                if event.challenge_id.as_ref() != Some(&r.challenge_id) {
                    return false;
                }
                if by_device {
                    r.kind == HistoryKind::Push
                        && (r.result == HistoryResult::Unknown || expected_audit_kind(r) == Some(event.kind))
                } else {
                    r.kind == HistoryKind::QrOtp && event.kind == AuditKind::ChallengeApproved
                }
            });
            if !matched {
                found.push(AuditDisagreement::MissingFromHistory {
                    audit_seq: event.seq,
                    challenge_id: event.challenge_id.clone(),
                    kind: event.kind,
                });
            }
        }
        found
    }
}

/// The audit event a push answer's result implies, when it implies one.
fn expected_audit_kind(record: &HistoryRecord) -> Option<AuditKind> {
    if record.kind != HistoryKind::Push {
        return None;
    }
    match (&record.result, record.decision) {
        (HistoryResult::State(ChallengeState::Approved), HistoryDecision::Approve) => {
            Some(AuditKind::ChallengeApproved)
        }
        (HistoryResult::State(ChallengeState::Denied), HistoryDecision::Deny) => Some(AuditKind::ChallengeDenied),
        (HistoryResult::State(ChallengeState::Fraud), HistoryDecision::Fraud) => Some(AuditKind::FraudReported),
        (HistoryResult::Refused(code), HistoryDecision::Approve) => match code.as_str() {
            "wrong_pin" => Some(AuditKind::PinFailed),
            "number_mismatch" => Some(AuditKind::NumberMismatch),
            _ => None,
        },
        _ => None,
    }
}

/// Binds a history record to its slot, so sealed records cannot be moved between slots.
fn aad(key: &[u8]) -> Vec<u8> {
    [b"nyckel-history/".as_slice(), key].concat()
}

impl Vault {
    /// Appends a record to the history: numbered and chained after the stored head, written
    /// with the new head in one batch, on disk when it returns.
    pub fn append_history(&self, record: HistoryRecord) -> Result<HistoryEntry, VaultError> {
        let _guard = self.allocation_lock();
        let tree = self.tree(TREE)?;
        // An unreadable or missing head (lost, or removed): continue after the last readable
        // entry; verify() keeps reporting what happened to the head.
        let head = self.read_head(&tree)?.or(self.last_entry_link(&tree)?);
        let mut history = History { head, ..History::default() };
        let entry = history.append(record).clone();
        let head = HistoryHead { seq: entry.seq, hash: entry.hash };
        let key = entry.seq.to_be_bytes();
        let entry_plain = Zeroizing::new(serde_json::to_vec(&entry).map_err(corrupt)?);
        let head_plain = serde_json::to_vec(&head).map_err(corrupt)?;
        let mut batch = sled::Batch::default();
        batch.insert(&key, self.seal_record(&entry_plain, &aad(&key))?);
        batch.insert(HEAD_KEY, self.seal_record(&head_plain, &aad(HEAD_KEY))?);
        tree.apply_batch(batch).map_err(VaultError::Storage)?;
        self.flush_all()?;
        Ok(entry)
    }

    /// The whole history as stored; records that do not decrypt or parse become findings.
    pub fn history(&self) -> Result<History, VaultError> {
        let tree = self.tree(TREE)?;
        let mut history = History::default();
        for item in tree.iter() {
            let (key, value) = item.map_err(VaultError::Storage)?;
            if key.as_ref() == HEAD_KEY {
                match self.open_record(&value, &aad(HEAD_KEY)) {
                    Ok(plain) => match serde_json::from_slice::<HistoryHead>(&plain) {
                        Ok(head) => history.head = Some(head),
                        Err(e) => history.unreadable.push(unreadable("head", &e)),
                    },
                    Err(e) => history.unreadable.push(unreadable("head", &e)),
                }
                continue;
            }
            let name = <[u8; 8]>::try_from(key.as_ref())
                .map_or_else(|_| b64::encode(&key), |bytes| u64::from_be_bytes(bytes).to_string());
            match self.open_record(&value, &aad(&key)) {
                Ok(plain) => match serde_json::from_slice::<HistoryEntry>(&plain) {
                    Ok(entry) => history.entries.push(entry),
                    Err(e) => history.unreadable.push(unreadable(&name, &e)),
                },
                Err(e) => history.unreadable.push(unreadable(&name, &e)),
            }
        }
        Ok(history)
    }

    fn read_head(&self, tree: &sled::Tree) -> Result<Option<HistoryHead>, VaultError> {
        let Some(value) = tree.get(HEAD_KEY).map_err(VaultError::Storage)? else {
            return Ok(None);
        };
        Ok(self.open_record(&value, &aad(HEAD_KEY)).ok().and_then(|plain| serde_json::from_slice(&plain).ok()))
    }

    /// The number and hash of the last readable entry.
    fn last_entry_link(&self, tree: &sled::Tree) -> Result<Option<HistoryHead>, VaultError> {
        for item in tree.iter().rev() {
            let (key, value) = item.map_err(VaultError::Storage)?;
            if key.len() != 8 {
                continue;
            }
            let entry = self
                .open_record(&value, &aad(&key))
                .ok()
                .and_then(|plain| serde_json::from_slice::<HistoryEntry>(&plain).ok());
            if let Some(entry) = entry {
                return Ok(Some(HistoryHead { seq: entry.seq, hash: entry.hash }));
            }
        }
        Ok(None)
    }
}

fn corrupt(error: serde_json::Error) -> VaultError {
    VaultError::Corrupt(format!("history: {error}"))
}

fn unreadable(key: &str, error: &dyn std::fmt::Display) -> HistoryFinding {
    HistoryFinding::Unreadable { key: key.to_owned(), reason: error.to_string() }
}

/// The outcome of checking one registration's history: the chain, then the server's audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCheck {
    /// The registration checked.
    pub registration_id: String,
    /// How many of its entries the history holds.
    pub entries: usize,
    /// How many audit events the server returned for its device.
    pub audit_events: usize,
    /// What is wrong with the chain (of the whole history: it is one chain).
    pub findings: Vec<HistoryFinding>,
    /// Where the history and the server's audit disagree.
    pub disagreements: Vec<AuditDisagreement>,
}

impl HistoryCheck {
    /// True when the chain is intact and the audit agrees.
    pub fn agrees(&self) -> bool {
        self.findings.is_empty() && self.disagreements.is_empty()
    }
}

/// Most audit pages fetched in one check (500 events each).
const MAX_AUDIT_PAGES: usize = 10_000;

impl crate::Companion {
    /// The history entries of one registration (all when `None`), oldest first.
    pub fn history(&self, registration_id: Option<&str>) -> Result<Vec<HistoryEntry>, crate::CompanionError> {
        let history = self.vault.history()?;
        Ok(history.entries_for(registration_id).into_iter().cloned().collect())
    }

    /// Every audit event the server has for this registration's device
    /// (`GET /v1/device/audit`, page by page).
    pub async fn device_audit(&self, registration_id: &str) -> Result<Vec<AuditEvent>, crate::CompanionError> {
        let registration = self.registration(registration_id)?;
        let signer = self.signer(&registration)?;
        let max = nyckel_protocol::wire::audit::MAX_AUDIT_PAGE;
        let mut events = Vec::new();
        let mut after = 0u64;
        for _ in 0..MAX_AUDIT_PAGES {
            let page =
                self.with_clock_retry(|now| self.client.device_audit(&registration, &signer, after, max, now)).await?;
            events.extend(page.events);
            match page.next {
                // A server that does not move forward would loop; stop there.
                Some(next) if next > after => after = next,
                _ => break,
            }
        }
        Ok(events)
    }

    /// Checks the history's chain and compares this registration's entries with `events`
    /// (the server's audit events for its device).
    pub fn check_history_with(
        &self,
        registration_id: &str,
        events: &[AuditEvent],
    ) -> Result<HistoryCheck, crate::CompanionError> {
        let registration = self.registration(registration_id)?;
        let history = self.vault.history()?;
        Ok(HistoryCheck {
            registration_id: registration.id.clone(),
            entries: history.entries_for(Some(&registration.id)).len(),
            audit_events: events.len(),
            findings: history.verify(),
            disagreements: history.check_against(&registration.id, &registration.device_id, events),
        })
    }

    /// Fetches the server's audit events for this registration's device and checks the
    /// history against them ([`crate::Companion::check_history_with`]).
    pub async fn check_history(&self, registration_id: &str) -> Result<HistoryCheck, crate::CompanionError> {
        let events = self.device_audit(registration_id).await?;
        self.check_history_with(registration_id, &events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nyckel_protocol::wire::audit::AuditHash;

    fn record(n: u64, decision: HistoryDecision, result: HistoryResult) -> HistoryRecord {
        HistoryRecord {
            at: 1_000 + n,
            registration_id: "reg".into(),
            server: "alice @ Acme (example.com)".into(),
            device_id: DeviceId::new("dev").unwrap(),
            kind: if decision == HistoryDecision::Otp { HistoryKind::QrOtp } else { HistoryKind::Push },
            challenge_id: ChallengeId::new(format!("c{n}")).unwrap(),
            service: "Portal".into(),
            action: "Sign in".into(),
            display_hash: DisplayHash([n as u8; 32]),
            decision,
            result,
            receipt: ReceiptStatus::Absent,
        }
    }

    fn sample() -> History {
        let mut history = History::new();
        history.append(record(1, HistoryDecision::Approve, HistoryResult::State(ChallengeState::Approved)));
        history.append(record(2, HistoryDecision::Deny, HistoryResult::State(ChallengeState::Denied)));
        history.append(record(3, HistoryDecision::Fraud, HistoryResult::State(ChallengeState::Fraud)));
        history.append(record(4, HistoryDecision::Otp, HistoryResult::Offline));
        history.append(record(5, HistoryDecision::Approve, HistoryResult::Refused("wrong_pin".into())));
        history
    }

    fn event(seq: u64, kind: AuditKind, actor: &str, challenge: &str, device: &str) -> AuditEvent {
        AuditEvent {
            seq,
            at: 1_000,
            kind,
            actor: actor.into(),
            tenant: Some("acme".into()),
            user: Some("alice".into()),
            device_id: Some(DeviceId::new(device).unwrap()),
            challenge_id: Some(ChallengeId::new(challenge).unwrap()),
            ip: None,
            detail: None,
            prev_hash: AuditHash::GENESIS,
            hash: AuditHash::GENESIS,
        }
    }

    fn audit() -> Vec<AuditEvent> {
        vec![
            event(10, AuditKind::ChallengeCreated, "rp:portal", "c1", "dev"),
            event(11, AuditKind::ChallengeApproved, "device", "c1", "dev"),
            event(12, AuditKind::ChallengeDenied, "device", "c2", "dev"),
            event(13, AuditKind::FraudReported, "device", "c3", "dev"),
            event(14, AuditKind::ChallengeApproved, "rp:portal", "c4", "dev"),
            event(15, AuditKind::PinFailed, "device", "c5", "dev"),
            // Another device's events are not this history's business.
            event(16, AuditKind::ChallengeApproved, "device", "c9", "other"),
        ]
    }

    #[test]
    fn an_intact_chain_verifies() {
        let history = sample();
        assert_eq!(history.verify(), vec![]);
        assert_eq!(history.entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert_eq!(History::new().verify(), vec![]);
    }

    #[test]
    fn a_removed_entry_is_detected() {
        let mut middle = sample();
        middle.entries.remove(2);
        let findings = middle.verify();
        assert!(findings.contains(&HistoryFinding::OutOfSequence { expected: 3, found: 4 }), "{findings:?}");
        assert!(findings.contains(&HistoryFinding::BrokenLink { seq: 4 }), "{findings:?}");

        let mut first = sample();
        first.entries.remove(0);
        assert!(first.verify().contains(&HistoryFinding::BrokenLink { seq: 2 }));

        let mut last = sample();
        last.entries.pop();
        assert_eq!(last.verify(), vec![HistoryFinding::Truncated { head: 5, last: 4 }]);

        let mut all = sample();
        all.entries.clear();
        assert_eq!(all.verify(), vec![HistoryFinding::Truncated { head: 5, last: 0 }]);

        let mut headless = sample();
        headless.head = None;
        assert_eq!(headless.verify(), vec![HistoryFinding::MissingHead]);
    }

    #[test]
    fn an_edited_entry_is_detected() {
        type Edit = Box<dyn Fn(&mut HistoryRecord)>;
        let edits: Vec<Edit> = vec![
            Box::new(|r| r.at += 1),
            Box::new(|r| r.registration_id.push('x')),
            Box::new(|r| r.server = "mallory @ evil".into()),
            Box::new(|r| r.device_id = DeviceId::new("dev2").unwrap()),
            Box::new(|r| r.kind = HistoryKind::QrOtp),
            Box::new(|r| r.challenge_id = ChallengeId::new("cX").unwrap()),
            Box::new(|r| r.service = "Bank".into()),
            Box::new(|r| r.action = "Pay".into()),
            Box::new(|r| r.display_hash.0[0] ^= 1),
            Box::new(|r| r.decision = HistoryDecision::Approve),
            Box::new(|r| r.result = HistoryResult::State(ChallengeState::Approved)),
            Box::new(|r| r.result = HistoryResult::Refused("denied".into())),
            Box::new(|r| r.receipt = ReceiptStatus::Invalid),
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut history = sample();
            edit(&mut history.entries[1].record);
            assert_eq!(history.verify(), vec![HistoryFinding::Edited { seq: 2 }], "edit {i} went unnoticed");
        }
        // Rehashing the edited entry breaks the next link and the head instead.
        let mut rehashed = sample();
        rehashed.entries[4].record.service = "Bank".into();
        rehashed.entries[4].hash = rehashed.entries[4].chain_hash();
        assert_eq!(rehashed.verify(), vec![HistoryFinding::HeadMismatch { last: 5 }]);
        let mut renumbered = sample();
        renumbered.entries[1].seq = 7;
        assert!(renumbered.verify().contains(&HistoryFinding::Edited { seq: 7 }));
    }

    #[test]
    fn reordered_entries_are_detected() {
        let mut history = sample();
        history.entries.swap(1, 2);
        let findings = history.verify();
        assert!(findings.contains(&HistoryFinding::OutOfSequence { expected: 2, found: 3 }), "{findings:?}");
        assert!(findings.contains(&HistoryFinding::BrokenLink { seq: 3 }), "{findings:?}");
        assert!(findings.contains(&HistoryFinding::BrokenLink { seq: 2 }), "{findings:?}");
        assert!(findings.iter().all(|f| !matches!(f, HistoryFinding::Edited { .. })));
    }

    #[test]
    fn a_history_agrees_with_its_audit_and_disagrees_when_either_is_altered() {
        let history = sample();
        let device = DeviceId::new("dev").unwrap();
        assert_eq!(history.check_against("reg", &device, &audit()), vec![]);

        // An approval dropped from the server's copy.
        let mut dropped = audit();
        dropped.retain(|e| e.seq != 11);
        assert_eq!(
            history.check_against("reg", &device, &dropped),
            vec![AuditDisagreement::MissingFromAudit {
                seq: 1,
                challenge_id: ChallengeId::new("c1").unwrap(),
                expected: AuditKind::ChallengeApproved,
            }]
        );
        // A denial turned into an approval on the server.
        let mut altered = audit();
        altered[2].kind = AuditKind::ChallengeApproved;
        let found = history.check_against("reg", &device, &altered);
        assert!(found.contains(&AuditDisagreement::MissingFromHistory {
            audit_seq: 12,
            challenge_id: Some(ChallengeId::new("c2").unwrap()),
            kind: AuditKind::ChallengeApproved,
        }));
        assert!(found.iter().any(|d| matches!(d, AuditDisagreement::MissingFromAudit { seq: 2, .. })));
        // An approval the phone never gave.
        let mut extra = audit();
        extra.push(event(20, AuditKind::ChallengeApproved, "device", "c7", "dev"));
        assert_eq!(
            history.check_against("reg", &device, &extra),
            vec![AuditDisagreement::MissingFromHistory {
                audit_seq: 20,
                challenge_id: Some(ChallengeId::new("c7").unwrap()),
                kind: AuditKind::ChallengeApproved,
            }]
        );
        // An OTP approval the phone never made a code for.
        let mut otp = audit();
        otp.push(event(21, AuditKind::ChallengeApproved, "rp:portal", "c8", "dev"));
        assert_eq!(history.check_against("reg", &device, &otp).len(), 1);
        // An entry removed from the phone's history.
        let mut shorter = sample();
        shorter.entries.remove(2);
        assert_eq!(
            shorter.check_against("reg", &device, &audit()),
            vec![AuditDisagreement::MissingFromHistory {
                audit_seq: 13,
                challenge_id: Some(ChallengeId::new("c3").unwrap()),
                kind: AuditKind::FraudReported,
            }]
        );
        // An answer whose outcome the phone never heard matches whatever the server decided.
        let mut unknown = History::new();
        unknown.append(record(1, HistoryDecision::Approve, HistoryResult::Unknown));
        let events = vec![event(11, AuditKind::ChallengeApproved, "device", "c1", "dev")];
        assert_eq!(unknown.check_against("reg", &device, &events), vec![]);
    }

    #[test]
    fn a_refused_receipt_is_a_disagreement() {
        let mut history = History::new();
        let mut r = record(1, HistoryDecision::Deny, HistoryResult::State(ChallengeState::Denied));
        r.receipt = ReceiptStatus::Invalid;
        history.append(r);
        let events = vec![event(12, AuditKind::ChallengeDenied, "device", "c1", "dev")];
        assert_eq!(
            history.check_against("reg", &DeviceId::new("dev").unwrap(), &events),
            vec![AuditDisagreement::ReceiptRefused { seq: 1, challenge_id: ChallengeId::new("c1").unwrap() }]
        );
    }

    #[test]
    fn entries_never_hold_an_otp_or_a_mac() {
        // The stored JSON has exactly these fields: nothing that could carry an OTP or a MAC.
        let mut history = sample();
        let entry = history.append(record(6, HistoryDecision::Otp, HistoryResult::Offline)).clone();
        let json = serde_json::to_value(&entry).unwrap();
        let mut keys: Vec<&str> = json["record"].as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "action",
                "at",
                "challenge_id",
                "decision",
                "device_id",
                "display_hash",
                "kind",
                "receipt",
                "registration_id",
                "result",
                "server",
                "service"
            ]
        );
        assert_eq!(serde_json::from_value::<HistoryEntry>(json).unwrap(), entry);
    }

    #[test]
    fn the_vault_keeps_a_sealed_chain_and_shows_tampering() {
        use crate::vault::keystore::MemoryKeyStore;
        use crate::vault::seal::VaultKey;
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new(VaultKey::generate().unwrap());
        let vault = Vault::create(dir.path(), &store).unwrap();
        for n in 1..=4 {
            vault
                .append_history(record(n, HistoryDecision::Deny, HistoryResult::State(ChallengeState::Denied)))
                .unwrap();
        }
        drop(vault);
        let vault = Vault::open(dir.path(), &store).unwrap();
        let history = vault.history().unwrap();
        assert_eq!(history.entries.len(), 4);
        assert_eq!(history.verify(), vec![]);
        // Stored plainly? No: no service name in the raw records.
        let tree = vault.tree(TREE).unwrap();
        assert!(tree.iter().all(|item| !item.unwrap().1.windows(6).any(|w| w == b"Portal")));

        // A record moved to another slot does not open there; a removed one breaks the chain.
        let second = tree.get(2u64.to_be_bytes()).unwrap().unwrap();
        let third = tree.get(3u64.to_be_bytes()).unwrap().unwrap();
        tree.insert(2u64.to_be_bytes(), third).unwrap();
        tree.insert(3u64.to_be_bytes(), second).unwrap();
        let findings = vault.history().unwrap().verify();
        assert!(
            findings.iter().filter(|f| matches!(f, HistoryFinding::Unreadable { .. })).count() == 2,
            "{findings:?}"
        );
        tree.remove(2u64.to_be_bytes()).unwrap();
        tree.remove(3u64.to_be_bytes()).unwrap();
        let findings = vault.history().unwrap().verify();
        assert!(findings.contains(&HistoryFinding::OutOfSequence { expected: 2, found: 4 }), "{findings:?}");
        // Appending continues after the head, so the gap stays visible.
        let entry = vault
            .append_history(record(5, HistoryDecision::Deny, HistoryResult::State(ChallengeState::Denied)))
            .unwrap();
        assert_eq!(entry.seq, 5);
        assert!(vault.history().unwrap().verify().contains(&HistoryFinding::BrokenLink { seq: 4 }));
    }
}
