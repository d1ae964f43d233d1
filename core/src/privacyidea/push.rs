//! privacyIDEA push tokens, poll-only: enrollment, signed polling, verified challenges, answers.
//!
//! Wire format: interop notes `privacyidea-3.14.md` §2. Every signature, both ways, is
//! RSASSA-PKCS1-v1_5/SHA-256 in upper-case padded base32. The phone checks each challenge
//! against the server key it received at enrollment and refuses, on its own, challenges it
//! has already answered or first saw longer ago than the challenge lifetime — privacyIDEA's
//! challenges carry no time, so the phone measures from when it first saw one.

use std::collections::BTreeMap;

use base64::Engine as _;
use data_encoding::BASE32;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::code::PushEnrollmentCode;
use super::gate::{LocalPinGate, PinGateError};
use super::http::{envelope, PiHttp, RawResponse};
use crate::device_keys::{DeviceKeyError, RsaKeyStore};

/// privacyIDEA's default challenge validity (`DefaultChallengeValidityTime`), seconds.
pub const DEFAULT_CHALLENGE_LIFETIME: u64 = 120;
/// Most challenges read from one poll.
pub const MAX_CHALLENGES_PER_POLL: usize = 32;
/// Most challenges the inbox remembers (seen or answered); the oldest go first.
const MAX_REMEMBERED: usize = 1024;
/// How long an answered nonce is remembered, seconds.
const REMEMBER_ANSWERED: u64 = 7 * 24 * 3600;
/// Field limits, bytes (privacyIDEA truncates question to 512 and title to 128 characters).
const MAX_QUESTION: usize = 4 * 512;
const MAX_TITLE: usize = 4 * 128;
const MAX_NONCE: usize = 128;
const MAX_URL: usize = 2048;
const MAX_SIGNATURE: usize = 2048;
const MAX_PRESENCE_OPTIONS: usize = 10;
const MAX_PRESENCE_OPTION: usize = 32;
const MAX_CAPABILITIES: usize = 1024;
/// Weakest server key accepted at enrollment.
const MIN_SERVER_KEY_BITS: usize = 2048;

/// What went wrong with a privacyIDEA push or tiqr exchange. Every refusal leaves the
/// phone's state (token, inbox) as it was, except where a variant says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The scanned code is not a usable enrollment code.
    #[error("not a usable privacyIDEA code: {reason}")]
    BadCode {
        /// Why.
        reason: String,
    },
    /// A field, code or response exceeds its limit.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: String,
        /// The limit.
        limit: usize,
    },
    /// The server could not be reached.
    #[error("cannot reach {url}: {reason}")]
    Network {
        /// URL asked.
        url: String,
        /// What failed.
        reason: String,
    },
    /// privacyIDEA answered with an error.
    #[error("privacyIDEA refused ({status}, code {code:?}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// privacyIDEA's error code (10 signature/timestamp, 905 parameter, 601 not found, 303 policy).
        code: Option<i64>,
        /// Its message.
        message: String,
    },
    /// A successful response that is not what the protocol says.
    #[error("unexpected response from privacyIDEA: {reason}")]
    BadResponse {
        /// What was wrong.
        reason: String,
    },
    /// A challenge (or its capabilities) is not signed by the server key of the token.
    #[error("the {what} signature does not verify with the server key of the token")]
    BadSignature {
        /// `challenge` or `capabilities`.
        what: &'static str,
    },
    /// A challenge names another token.
    #[error("challenge for serial {got:?} arrived for token {expected:?}")]
    WrongSerial {
        /// The token polled.
        expected: String,
        /// The serial in the challenge.
        got: String,
    },
    /// A challenge names another server URL than the one enrolled.
    #[error("challenge names URL {got:?}, the token is enrolled at {expected:?}")]
    WrongUrl {
        /// The enrolled URL.
        expected: String,
        /// The URL in the challenge.
        got: String,
    },
    /// The challenge was first seen longer ago than its lifetime.
    #[error("challenge {nonce} expired on the phone")]
    Expired {
        /// Its nonce.
        nonce: String,
    },
    /// The phone already answered this challenge (replay).
    #[error("challenge {nonce} was already answered")]
    AlreadyAnswered {
        /// Its nonce.
        nonce: String,
    },
    /// The challenge did not come from a poll of this token.
    #[error("unknown challenge {nonce}: poll first")]
    UnknownChallenge {
        /// Its nonce.
        nonce: String,
    },
    /// The presence answer is missing or not one of the challenge's options.
    #[error("the presence answer must be one of the options shown: {reason}")]
    Presence {
        /// Why.
        reason: String,
    },
    /// privacyIDEA did not accept the answer (`value: false`: wrong presence choice, the
    /// challenge expired or was answered on the server). The phone marks it answered.
    #[error("privacyIDEA did not accept the answer")]
    AnswerRejected,
    /// The token requires the app PIN and none was given.
    #[error("this token requires the app PIN (a local gate)")]
    PinRequired,
    /// The app PIN gate refused.
    #[error(transparent)]
    Pin(#[from] PinGateError),
    /// The RSA key store failed.
    #[error(transparent)]
    Key(#[from] DeviceKeyError),
}

/// A privacyIDEA push token on this phone. Persist it (serde) with its [`PushInbox`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushToken {
    /// Serial, e.g. `PIPU0000DB13`.
    pub serial: String,
    /// Label shown to the user.
    pub label: String,
    /// Issuer shown to the user: the service the requests come from.
    pub issuer: String,
    /// The registration URL (`…/ttype/push`): polls and answers go here only.
    pub url: String,
    /// The server's RSA public key for this token, DER PKCS#1 `RSAPublicKey`.
    pub server_public_key: Vec<u8>,
    /// Alias of the phone's RSA key in the [`RsaKeyStore`].
    pub key_alias: String,
    /// The server's policy asks for the app PIN before answering (a local gate).
    pub app_pin: bool,
    /// `app_force_unlock` from the enrollment code, if any.
    pub app_force_unlock: Option<String>,
    /// When the phone finished enrollment, Unix seconds.
    pub enrolled_at: u64,
    /// Seconds after first sight a challenge is refused on the phone (set it to the server's
    /// `PushChallengeValidityTime` when that differs from 120).
    pub challenge_lifetime: u64,
}

/// Why the user declined (privacyIDEA 3.14 capability `decline_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeclineReason {
    /// "I did not start this login" — counted by privacyIDEA as a repudiation.
    UnknownTrigger,
    /// "I changed my mind".
    Cancelled,
}

impl DeclineReason {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::UnknownTrigger => "unknown_trigger",
            DeclineReason::Cancelled => "cancelled",
        }
    }
}

/// Accept or decline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushDecision {
    /// Accept the login.
    Accept,
    /// Decline, with a reason when the server advertised `decline_reason` (otherwise the
    /// reason is dropped and a plain decline is sent, which the server understands).
    Decline(Option<DeclineReason>),
}

/// The user's answer to a challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAnswer {
    /// Accept or decline.
    pub decision: PushDecision,
    /// The option the user picked, for a challenge with presence options (accept only).
    pub presence_answer: Option<String>,
}

/// A challenge whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushChallenge {
    /// The token serial.
    pub serial: String,
    /// The server's nonce (identifies the challenge).
    pub nonce: String,
    /// The question to show.
    pub question: String,
    /// The title to show.
    pub title: String,
    /// For number matching: the options to offer; the login page shows the right one.
    pub presence_options: Option<Vec<String>>,
    /// The server understands decline reasons (signed capability).
    pub decline_reasons: bool,
    /// When the phone refuses to answer it, Unix seconds.
    pub expires_at: u64,
}

/// What one poll found: verified challenges, and the entries refused (bad signature…).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushPoll {
    /// Challenges to show.
    pub challenges: Vec<PushChallenge>,
    /// Entries that failed verification, with why; none of them can be answered.
    pub rejected: Vec<PushError>,
}

/// What the server made of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Accepted; the login page completes the login.
    Accepted,
    /// Declined.
    Declined,
    /// Code-to-phone: show `display_code` for the user to type into the login page.
    Confirmed {
        /// The code to show.
        display_code: String,
        /// The server's message (e.g. "Enter the code to log in").
        message: Option<String>,
    },
}

/// What the phone remembers of a challenge it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    first_seen: u64,
    presence_options: Option<Vec<String>>,
    decline_reasons: bool,
    answered_at: Option<u64>,
}

/// The phone's memory of push challenges, per token and nonce: when each was first seen
/// (for expiry) and whether it was answered (against replay). Persist it with the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PushInbox {
    seen: BTreeMap<String, Seen>,
}

fn inbox_key(serial: &str, nonce: &str) -> String {
    format!("{serial}|{nonce}")
}

impl PushInbox {
    /// Whether the phone answered this challenge.
    pub fn is_answered(&self, serial: &str, nonce: &str) -> bool {
        self.seen.get(&inbox_key(serial, nonce)).is_some_and(|seen| seen.answered_at.is_some())
    }

    fn prune(&mut self, now: u64, lifetime: u64) {
        self.seen.retain(|_, seen| match seen.answered_at {
            Some(at) => now.saturating_sub(at) < REMEMBER_ANSWERED,
            None => now.saturating_sub(seen.first_seen) < lifetime.saturating_mul(2).max(REMEMBER_ANSWERED),
        });
        while self.seen.len() > MAX_REMEMBERED {
            let oldest = self.seen.iter().min_by_key(|(_, seen)| seen.first_seen).map(|(key, _)| key.clone());
            match oldest {
                Some(key) => self.seen.remove(&key),
                None => break,
            };
        }
    }
}

/// Signs `message` with the token's RSA key: base32 of PKCS#1 v1.5/SHA-256.
fn sign(keys: &dyn RsaKeyStore, alias: &str, message: &str) -> Result<String, PushError> {
    Ok(BASE32.encode(&keys.sign_rsa_sha256(alias.to_owned(), message.as_bytes().to_vec())?))
}

fn verify(server_key: &[u8], message: &[u8], signature: &str, what: &'static str) -> Result<(), PushError> {
    if signature.len() > MAX_SIGNATURE {
        return Err(PushError::TooLarge { what: format!("{what} signature"), limit: MAX_SIGNATURE });
    }
    let signature = BASE32.decode(signature.as_bytes()).map_err(|_| PushError::BadSignature { what })?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, server_key)
        .verify(message, &signature)
        .map_err(|_| PushError::BadSignature { what })
}

/// ISO 8601 UTC with offset, as privacyIDEA parses it (`dateutil.isoparse`).
pub fn iso_timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil-from-days (H. Hinnant), proleptic Gregorian.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// RFC 8785 (JCS) serialisation for the values privacyIDEA signs (objects, arrays, strings,
/// booleans, null, integers); a non-integer number is refused rather than guessed at.
fn canonical_json(value: &Value, out: &mut String) -> Result<(), PushError> {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => {
            out.push_str(&serde_json::to_string(value).map_err(|e| PushError::BadResponse { reason: e.to_string() })?)
        }
        Value::Number(number) if number.is_i64() || number.is_u64() => out.push_str(&number.to_string()),
        Value::Number(_) => return Err(PushError::BadResponse { reason: "non-integer number in capabilities".into() }),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical_json(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // JCS orders keys by their UTF-16 code units.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                canonical_json(&Value::String(key.clone()), out)?;
                out.push(':');
                canonical_json(&map[key], out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn field<'a>(entry: &'a Value, name: &str, limit: usize) -> Result<&'a str, PushError> {
    let text = entry
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| PushError::BadResponse { reason: format!("challenge without string {name}") })?;
    if text.len() > limit {
        return Err(PushError::TooLarge { what: format!("challenge {name}"), limit });
    }
    Ok(text)
}

/// A challenge as the server sent it, checked against `token` (signature, serial, URL,
/// sizes) but not against the phone's memory. Pure: the poll path and the fuzz target use it.
pub fn verify_challenge(token: &PushToken, entry: &Value) -> Result<(String, PushChallengeBody), PushError> {
    let nonce = field(entry, "nonce", MAX_NONCE)?;
    if nonce.len() < 16 || !nonce.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)) {
        return Err(PushError::BadResponse { reason: "nonce is not base32".into() });
    }
    let serial = field(entry, "serial", 128)?;
    let url = field(entry, "url", MAX_URL)?;
    let question = field(entry, "question", MAX_QUESTION)?;
    let title = field(entry, "title", MAX_TITLE)?;
    let sslverify = field(entry, "sslverify", 1)?;
    let signature = field(entry, "signature", MAX_SIGNATURE)?;
    let presence = match entry.get("require_presence") {
        None | Some(Value::Null) => None,
        Some(_) => Some(field(entry, "require_presence", MAX_PRESENCE_OPTIONS * (MAX_PRESENCE_OPTION + 1))?),
    };
    let mut signed = format!("{nonce}|{url}|{serial}|{question}|{title}|{sslverify}");
    if let Some(presence) = presence {
        signed.push('|');
        signed.push_str(presence);
    }
    verify(&token.server_public_key, signed.as_bytes(), signature, "challenge")?;
    // Only after the signature: a forged entry must not be able to choose which error shows.
    if serial != token.serial {
        return Err(PushError::WrongSerial { expected: token.serial.clone(), got: serial.to_owned() });
    }
    if url != token.url {
        return Err(PushError::WrongUrl { expected: token.url.clone(), got: url.to_owned() });
    }
    let presence_options = match presence {
        None => None,
        Some(list) => {
            let options: Vec<String> = list.split(',').map(str::to_owned).collect();
            if options.len() < 2
                || options.len() > MAX_PRESENCE_OPTIONS
                || options.iter().any(|option| option.is_empty() || option.len() > MAX_PRESENCE_OPTION)
            {
                return Err(PushError::BadResponse { reason: "malformed require_presence".into() });
            }
            Some(options)
        }
    };
    // Capabilities are optional (older servers); when present they must verify, or the
    // phone ignores a server that tampered with them by refusing the whole challenge.
    let decline_reasons = match (entry.get("capabilities"), entry.get("capabilities_signature")) {
        (None, _) => false,
        (Some(capabilities), signature) => {
            let capabilities = capabilities
                .as_str()
                .filter(|text| text.len() <= MAX_CAPABILITIES)
                .ok_or_else(|| PushError::BadResponse { reason: "capabilities is not a short string".into() })?;
            let parsed: Value = serde_json::from_str(capabilities)
                .map_err(|_| PushError::BadResponse { reason: "capabilities is not JSON".into() })?;
            let signature =
                signature.and_then(Value::as_str).ok_or(PushError::BadSignature { what: "capabilities" })?;
            let mut canonical = String::new();
            canonical_json(&serde_json::json!({"capabilities": parsed, "nonce": nonce}), &mut canonical)?;
            verify(&token.server_public_key, canonical.as_bytes(), signature, "capabilities")?;
            parsed.get("decline_reason").and_then(Value::as_bool) == Some(true)
        }
    };
    Ok((
        nonce.to_owned(),
        PushChallengeBody { question: question.to_owned(), title: title.to_owned(), presence_options, decline_reasons },
    ))
}

/// The verified content of a challenge, before the phone's memory is consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushChallengeBody {
    /// The question.
    pub question: String,
    /// The title.
    pub title: String,
    /// Presence options, if number matching is on.
    pub presence_options: Option<Vec<String>>,
    /// The server understands decline reasons.
    pub decline_reasons: bool,
}

/// One entry of a poll: its nonce and verified content, or why it was refused.
pub type PollEntry = Result<(String, PushChallengeBody), PushError>;

/// Reads a poll response body into verified challenges; pure (the fuzz target calls it).
/// An error envelope or a body that is not a list is an error; a bad entry is only rejected.
pub fn parse_poll(token: &PushToken, response: &RawResponse) -> Result<Vec<PollEntry>, PushError> {
    let envelope = envelope(response)?;
    let list = envelope.value.as_array().ok_or(PushError::BadResponse { reason: "poll value is not a list".into() })?;
    if list.len() > MAX_CHALLENGES_PER_POLL {
        return Err(PushError::TooLarge { what: "poll response (challenges)".into(), limit: MAX_CHALLENGES_PER_POLL });
    }
    Ok(list.iter().map(|entry| verify_challenge(token, entry)).collect())
}

/// Finishes enrollment from a scanned code: makes the phone's RSA key under `key_alias`,
/// sends its public key with the enrollment credential, and keeps the server's key. On any
/// failure the new key is deleted again, so nothing is left half-made.
pub async fn enroll(
    http: &PiHttp,
    code: &PushEnrollmentCode,
    keys: &dyn RsaKeyStore,
    key_alias: &str,
    now: u64,
) -> Result<PushToken, PushError> {
    let spki = keys.create_rsa_key(key_alias.to_owned())?;
    let result = finish_enrollment(http, code, &spki).await;
    match result {
        Ok(server_public_key) => Ok(PushToken {
            serial: code.serial.clone(),
            label: code.label.clone(),
            issuer: code.issuer.clone(),
            url: code.url.clone(),
            server_public_key,
            key_alias: key_alias.to_owned(),
            app_pin: code.app_pin || code.app_force_unlock.is_some(),
            app_force_unlock: code.app_force_unlock.clone(),
            enrolled_at: now,
            challenge_lifetime: DEFAULT_CHALLENGE_LIFETIME,
        }),
        Err(error) => {
            let _ = keys.delete_rsa_key(key_alias.to_owned());
            Err(error)
        }
    }
}

async fn finish_enrollment(http: &PiHttp, code: &PushEnrollmentCode, spki: &[u8]) -> Result<Vec<u8>, PushError> {
    let pubkey = base64::engine::general_purpose::STANDARD.encode(spki);
    let response = http
        .post_form(
            &code.url,
            &[
                ("enrollment_credential", code.enrollment_credential.as_str()),
                ("serial", code.serial.as_str()),
                // Poll-only: privacyIDEA requires the field but never uses it.
                ("fbtoken", "poll-only"),
                ("pubkey", pubkey.as_str()),
            ],
        )
        .await?;
    parse_enrollment_response(&code.serial, &response)
}

/// Reads the server's answer to enrollment step 2: its RSA key (DER PKCS#1). Pure.
pub fn parse_enrollment_response(serial: &str, response: &RawResponse) -> Result<Vec<u8>, PushError> {
    let envelope = envelope(response)?;
    let detail = &envelope.detail;
    if detail.get("rollout_state").and_then(Value::as_str) != Some("enrolled") {
        return Err(PushError::BadResponse { reason: "rollout_state is not enrolled".into() });
    }
    if let Some(got) = detail.get("serial").and_then(Value::as_str) {
        if got != serial {
            return Err(PushError::WrongSerial { expected: serial.to_owned(), got: got.to_owned() });
        }
    }
    let text = detail
        .get("public_key")
        .and_then(Value::as_str)
        .filter(|text| text.len() <= 8192)
        .ok_or(PushError::BadResponse { reason: "no public_key".into() })?;
    let body: String = text
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .flat_map(|line| line.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| PushError::BadResponse { reason: "public_key is not base64".into() })?;
    let key = rsa::RsaPublicKey::from_pkcs1_der(&der)
        .map_err(|_| PushError::BadResponse { reason: "public_key is not a PKCS#1 RSA key".into() })?;
    if key.size() * 8 < MIN_SERVER_KEY_BITS {
        return Err(PushError::BadResponse { reason: format!("server key shorter than {MIN_SERVER_KEY_BITS} bits") });
    }
    Ok(der)
}

/// Polls the token's URL with a signed timestamp and returns the challenges that verify,
/// remembering when each was first seen. Already-answered challenges are left out.
pub async fn poll(
    http: &PiHttp,
    token: &PushToken,
    keys: &dyn RsaKeyStore,
    inbox: &mut PushInbox,
    now: u64,
) -> Result<PushPoll, PushError> {
    let timestamp = iso_timestamp(now);
    let signature = sign(keys, &token.key_alias, &format!("{}|{timestamp}", token.serial))?;
    let response = http
        .get(&token.url, &[("serial", &token.serial), ("timestamp", &timestamp), ("signature", &signature)])
        .await?;
    let entries = parse_poll(token, &response)?;
    inbox.prune(now, token.challenge_lifetime);
    let mut poll = PushPoll::default();
    for entry in entries {
        match entry {
            Err(error) => poll.rejected.push(error),
            Ok((nonce, body)) => {
                let seen = inbox.seen.entry(inbox_key(&token.serial, &nonce)).or_insert_with(|| Seen {
                    first_seen: now,
                    presence_options: body.presence_options.clone(),
                    decline_reasons: body.decline_reasons,
                    answered_at: None,
                });
                if seen.answered_at.is_some() {
                    continue;
                }
                let expires_at = seen.first_seen.saturating_add(token.challenge_lifetime);
                if now > expires_at {
                    poll.rejected.push(PushError::Expired { nonce });
                    continue;
                }
                poll.challenges.push(PushChallenge {
                    serial: token.serial.clone(),
                    nonce,
                    question: body.question,
                    title: body.title,
                    // What was verified when first seen rules, should a later copy differ.
                    presence_options: seen.presence_options.clone(),
                    decline_reasons: seen.decline_reasons,
                    expires_at,
                });
            }
        }
    }
    Ok(poll)
}

/// The string the phone signs for an answer (interop notes §2.5).
pub fn answer_text(serial: &str, nonce: &str, decision: PushDecision, presence_answer: Option<&str>) -> String {
    let mut text = format!("{nonce}|{serial}");
    if let PushDecision::Decline(reason) = decision {
        text.push_str("|decline");
        if let Some(reason) = reason {
            text.push('|');
            text.push_str(reason.as_str());
        }
    }
    if let Some(presence) = presence_answer {
        text.push('|');
        text.push_str(presence);
    }
    text
}

/// Answers a challenge seen by [`poll`]. Refused on the phone, without contacting the
/// server: unknown, already answered or expired challenges, a presence answer that is not
/// an option, a missing or wrong app PIN. Once the server has given a definitive answer
/// (accepted or not) the challenge counts as answered, so a wrong number cannot be retried.
#[allow(clippy::too_many_arguments)]
pub async fn answer(
    http: &PiHttp,
    token: &PushToken,
    keys: &dyn RsaKeyStore,
    inbox: &mut PushInbox,
    nonce: &str,
    answer: &PushAnswer,
    gate: Option<(&mut LocalPinGate, &str)>,
    now: u64,
) -> Result<PushOutcome, PushError> {
    let key = inbox_key(&token.serial, nonce);
    let seen = inbox.seen.get(&key).ok_or_else(|| PushError::UnknownChallenge { nonce: nonce.to_owned() })?;
    if seen.answered_at.is_some() {
        return Err(PushError::AlreadyAnswered { nonce: nonce.to_owned() });
    }
    if now > seen.first_seen.saturating_add(token.challenge_lifetime) {
        return Err(PushError::Expired { nonce: nonce.to_owned() });
    }
    let presence = match (&seen.presence_options, answer.decision, &answer.presence_answer) {
        (Some(options), PushDecision::Accept, Some(choice)) if options.contains(choice) => Some(choice.as_str()),
        (Some(_), PushDecision::Accept, Some(_)) => {
            return Err(PushError::Presence { reason: "not one of the options".into() })
        }
        (Some(_), PushDecision::Accept, None) => return Err(PushError::Presence { reason: "no option picked".into() }),
        (None, _, Some(_)) => return Err(PushError::Presence { reason: "this challenge has no options".into() }),
        _ => None,
    };
    let decision = match answer.decision {
        PushDecision::Decline(Some(_)) if !seen.decline_reasons => PushDecision::Decline(None),
        other => other,
    };
    match gate {
        Some((gate, pin)) => gate.check(pin)?,
        None if token.app_pin => return Err(PushError::PinRequired),
        None => {}
    }
    let signature = sign(keys, &token.key_alias, &answer_text(&token.serial, nonce, decision, presence))?;
    let mut form = vec![("serial", token.serial.as_str()), ("nonce", nonce), ("signature", signature.as_str())];
    if let PushDecision::Decline(reason) = decision {
        form.push(("decline", "1"));
        if let Some(reason) = reason {
            form.push(("decline_reason", reason.as_str()));
        }
    }
    if let Some(presence) = presence {
        form.push(("presence_answer", presence));
    }
    let response = http.post_form(&token.url, &form).await?;
    let envelope = envelope(&response)?;
    // A definitive answer from the server: never send another for this challenge.
    if let Some(seen) = inbox.seen.get_mut(&key) {
        seen.answered_at = Some(now);
    }
    match (envelope.value.as_bool(), decision) {
        (Some(true), PushDecision::Decline(_)) => Ok(PushOutcome::Declined),
        (Some(true), PushDecision::Accept) => match envelope.detail.get("display_code").and_then(Value::as_str) {
            Some(code) if code.len() <= 16 => Ok(PushOutcome::Confirmed {
                display_code: code.to_owned(),
                message: envelope.detail.get("message").and_then(Value::as_str).map(|m| m.chars().take(200).collect()),
            }),
            _ => Ok(PushOutcome::Accepted),
        },
        (Some(false), _) => Err(PushError::AnswerRejected),
        (None, _) => Err(PushError::BadResponse { reason: "answer value is not a boolean".into() }),
    }
}

#[cfg(test)]
mod tests {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::DecodePrivateKey;
    use serde_json::json;

    use super::*;
    use crate::device_keys::{generate_rsa_key, sign_with_pkcs8, MemoryRsaKeyStore};

    const URL: &str = "https://pi.example/ttype/push";
    const NONCE: &str = "SXYLV7SVZNMQ6H2YT57MALMFTYJ4IPBD";

    struct Server {
        pkcs8: zeroize::Zeroizing<Vec<u8>>,
        token: PushToken,
    }

    fn server() -> Server {
        let (pkcs8, _) = generate_rsa_key(2048).unwrap();
        let public = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).unwrap().to_public_key();
        let token = PushToken {
            serial: "PIPU0001".into(),
            label: "PIPU0001".into(),
            issuer: "privacyIDEA".into(),
            url: URL.into(),
            server_public_key: public.to_pkcs1_der().unwrap().as_bytes().to_vec(),
            key_alias: "k".into(),
            app_pin: false,
            app_force_unlock: None,
            enrolled_at: 0,
            challenge_lifetime: DEFAULT_CHALLENGE_LIFETIME,
        };
        Server { pkcs8, token }
    }

    impl Server {
        fn sign(&self, text: &str) -> String {
            BASE32.encode(&sign_with_pkcs8(&self.pkcs8, text.as_bytes()).unwrap())
        }

        /// A challenge as privacyIDEA 3.14 builds it (`_build_smartphone_data`).
        fn challenge(&self, serial: &str, question: &str, presence: Option<&str>) -> Value {
            let mut signed = format!("{NONCE}|{URL}|{serial}|{question}|privacyIDEA|1");
            let mut entry = json!({"nonce": NONCE, "question": question, "serial": serial, "title": "privacyIDEA",
                "sslverify": "1", "url": URL,
                "capabilities": "{\"decline_reason\": true}",
                "capabilities_signature": self.sign(&format!("{{\"capabilities\":{{\"decline_reason\":true}},\"nonce\":\"{NONCE}\"}}"))});
            if let Some(presence) = presence {
                signed.push_str(&format!("|{presence}"));
                entry["require_presence"] = json!(presence);
                entry["version"] = json!("2");
            }
            entry["signature"] = json!(self.sign(&signed));
            entry
        }
    }

    #[test]
    fn a_genuine_challenge_verifies_with_its_capabilities() {
        let server = server();
        let (nonce, body) =
            verify_challenge(&server.token, &server.challenge("PIPU0001", "Log in?", Some("40,23,07,99"))).unwrap();
        assert_eq!(nonce, NONCE);
        assert_eq!(body.question, "Log in?");
        assert!(body.decline_reasons);
        assert_eq!(body.presence_options.unwrap(), ["40", "23", "07", "99"]);
    }

    #[test]
    fn tampered_or_foreign_challenges_are_refused() {
        let server = server();
        let genuine = server.challenge("PIPU0001", "Log in?", Some("40,23"));
        let mut altered = genuine.clone();
        altered["question"] = json!("Log in to your bank?");
        assert_eq!(verify_challenge(&server.token, &altered), Err(PushError::BadSignature { what: "challenge" }));
        let mut options = genuine.clone();
        options["require_presence"] = json!("40");
        assert_eq!(verify_challenge(&server.token, &options), Err(PushError::BadSignature { what: "challenge" }));
        let mut dropped = genuine.clone();
        dropped.as_object_mut().unwrap().remove("require_presence");
        assert_eq!(verify_challenge(&server.token, &dropped), Err(PushError::BadSignature { what: "challenge" }));
        let mut capabilities = genuine.clone();
        capabilities["capabilities"] = json!("{\"decline_reason\": false}");
        assert_eq!(
            verify_challenge(&server.token, &capabilities),
            Err(PushError::BadSignature { what: "capabilities" })
        );
        let foreign = server.challenge("PIPU0002", "Log in?", None);
        assert!(matches!(verify_challenge(&server.token, &foreign), Err(PushError::WrongSerial { .. })));
        let other_server = self::server();
        assert_eq!(verify_challenge(&other_server.token, &genuine), Err(PushError::BadSignature { what: "challenge" }));
        let mut moved = server.token.clone();
        moved.url = "https://evil.example/ttype/push".into();
        assert!(matches!(verify_challenge(&moved, &genuine), Err(PushError::WrongUrl { .. })));
        let huge = server.challenge("PIPU0001", &"x".repeat(MAX_QUESTION + 1), None);
        assert!(matches!(verify_challenge(&server.token, &huge), Err(PushError::TooLarge { .. })));
    }

    #[test]
    fn poll_bodies_bad_entries_and_oversized_lists() {
        let server = server();
        let good = server.challenge("PIPU0001", "Log in?", None);
        let mut bad = good.clone();
        bad["title"] = json!("Other");
        let body = json!({"result": {"status": true, "value": [good, bad]}});
        let response = RawResponse { status: 200, body: body.to_string().into_bytes() };
        let entries = parse_poll(&server.token, &response).unwrap();
        assert!(entries[0].is_ok() && entries[1].is_err());
        let many = json!({"result": {"status": true, "value": vec![json!({}); MAX_CHALLENGES_PER_POLL + 1]}});
        let response = RawResponse { status: 200, body: many.to_string().into_bytes() };
        assert!(matches!(parse_poll(&server.token, &response), Err(PushError::TooLarge { .. })));
        let error = json!({"result": {"status": false, "error": {"code": 10, "message": "ERR10: Could not verify signature!"}}});
        let response = RawResponse { status: 400, body: error.to_string().into_bytes() };
        assert!(matches!(parse_poll(&server.token, &response), Err(PushError::Server { code: Some(10), .. })));
    }

    #[test]
    fn enrollment_response_yields_the_pkcs1_server_key() {
        let server = server();
        let pem_body = base64::engine::general_purpose::STANDARD.encode(&server.token.server_public_key);
        let wrapped: String =
            pem_body.as_bytes().chunks(64).map(|line| format!("{}\n", std::str::from_utf8(line).unwrap())).collect();
        let ok = json!({"result": {"status": true, "value": true},
            "detail": {"public_key": wrapped, "rollout_state": "enrolled", "serial": "PIPU0001"}});
        let response = RawResponse { status: 200, body: ok.to_string().into_bytes() };
        assert_eq!(parse_enrollment_response("PIPU0001", &response).unwrap(), server.token.server_public_key);
        assert!(matches!(parse_enrollment_response("PIPU0002", &response), Err(PushError::WrongSerial { .. })));
        let garbage = json!({"result": {"status": true, "value": true},
            "detail": {"public_key": "AAAA", "rollout_state": "enrolled"}});
        let response = RawResponse { status: 200, body: garbage.to_string().into_bytes() };
        assert!(matches!(parse_enrollment_response("PIPU0001", &response), Err(PushError::BadResponse { .. })));
    }

    #[test]
    fn signed_strings_and_timestamps_match_privacyidea() {
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso_timestamp(1_795_788_615), "2026-11-27T14:10:15+00:00");
        assert_eq!(iso_timestamp(951_782_400 + 86_399), "2000-02-29T23:59:59+00:00");
        assert_eq!(answer_text("S", "N", PushDecision::Accept, None), "N|S");
        assert_eq!(answer_text("S", "N", PushDecision::Decline(None), None), "N|S|decline");
        assert_eq!(
            answer_text("S", "N", PushDecision::Decline(Some(DeclineReason::UnknownTrigger)), None),
            "N|S|decline|unknown_trigger"
        );
        assert_eq!(answer_text("S", "N", PushDecision::Accept, Some("40")), "N|S|40");
    }

    fn seen(inbox: &mut PushInbox, presence: Option<Vec<String>>, first_seen: u64) {
        inbox.seen.insert(
            inbox_key("PIPU0001", NONCE),
            Seen { first_seen, presence_options: presence, decline_reasons: true, answered_at: None },
        );
    }

    #[tokio::test]
    async fn local_refusals_happen_before_any_request() {
        // Port 9 on loopback: any request would fail with Network, so each expected error
        // shows the refusal came first.
        let server = server();
        let mut token = server.token.clone();
        token.url = "http://127.0.0.1:9/ttype/push".into();
        let keys = MemoryRsaKeyStore::new(2048);
        keys.create_rsa_key("k".into()).unwrap();
        let http = PiHttp::new().unwrap();
        let accept = PushAnswer { decision: PushDecision::Accept, presence_answer: None };
        let mut inbox = PushInbox::default();
        let result = super::answer(&http, &token, &keys, &mut inbox, NONCE, &accept, None, 100).await;
        assert!(matches!(result, Err(PushError::UnknownChallenge { .. })));
        seen(&mut inbox, None, 100);
        let result = super::answer(&http, &token, &keys, &mut inbox, NONCE, &accept, None, 221).await;
        assert!(matches!(result, Err(PushError::Expired { .. })));
        let result = super::answer(&http, &token, &keys, &mut inbox, NONCE, &accept, None, 220).await;
        assert!(matches!(result, Err(PushError::Network { .. })), "{result:?}");
        assert!(!inbox.is_answered("PIPU0001", NONCE), "a network failure leaves the challenge answerable");
        inbox.seen.get_mut(&inbox_key("PIPU0001", NONCE)).unwrap().answered_at = Some(150);
        let result = super::answer(&http, &token, &keys, &mut inbox, NONCE, &accept, None, 160).await;
        assert!(matches!(result, Err(PushError::AlreadyAnswered { .. })));

        seen(&mut inbox, Some(vec!["40".into(), "23".into()]), 100);
        let result = super::answer(&http, &token, &keys, &mut inbox, NONCE, &accept, None, 110).await;
        assert!(matches!(result, Err(PushError::Presence { .. })));
        let wrong = PushAnswer { decision: PushDecision::Accept, presence_answer: Some("99".into()) };
        let result = super::answer(&http, &token, &keys, &mut inbox, NONCE, &wrong, None, 110).await;
        assert!(matches!(result, Err(PushError::Presence { .. })));

        token.app_pin = true;
        let right = PushAnswer { decision: PushDecision::Accept, presence_answer: Some("40".into()) };
        let result = super::answer(&http, &token, &keys, &mut inbox, NONCE, &right, None, 110).await;
        assert_eq!(result, Err(PushError::PinRequired));
        let mut gate = LocalPinGate::new("2468").unwrap();
        let result =
            super::answer(&http, &token, &keys, &mut inbox, NONCE, &right, Some((&mut gate, "1111")), 110).await;
        assert!(matches!(result, Err(PushError::Pin(PinGateError::WrongPin { .. }))));
        let result =
            super::answer(&http, &token, &keys, &mut inbox, NONCE, &right, Some((&mut gate, "2468")), 110).await;
        assert!(matches!(result, Err(PushError::Network { .. })));
    }
}
