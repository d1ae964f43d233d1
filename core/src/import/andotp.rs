//! andOTP backups, per andOTP's source (Database/Entry.java, Utilities/BackupHelper.java,
//! Tasks/EncryptedRestoreTask.java).
//!
//! Plain: a JSON array of `{"secret","issuer","label","digits","type":"TOTP"|"HOTP"|"STEAM",
//! "algorithm","period","counter",…}`. Encrypted ("new" format, andOTP ≥ 0.6.3):
//! `iterations (u32 big-endian) ‖ salt (12) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)`,
//! the key being PBKDF2-HMAC-SHA1(password, salt, iterations, 256 bits). The old format
//! (a bare SHA-256 of the password as key) is not read: andOTP stopped writing it in 2019.

use std::num::NonZeroU32;

use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::crypto::{self, OpenError, TAG_LEN};
use super::{
    build_account, json_elements, json_entries, malformed, EntryError, Format, ImportError, Kind, ParsedEntry,
};
use crate::account::Account;
use crate::secret::SecretBytes;

const FORMAT: Format = Format::AndOtp;
const SALT_LEN: usize = 12;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 4 + SALT_LEN + NONCE_LEN;
/// andOTP writes 140 000–160 000; more than this is not an andOTP file (Aegis draws the same line).
const MAX_ITERATIONS: u32 = 10_000_000;

#[derive(Deserialize)]
struct Entry {
    secret: Zeroizing<String>,
    issuer: Option<String>,
    #[serde(default)]
    label: String,
    digits: Option<u64>,
    #[serde(rename = "type")]
    kind: String,
    algorithm: Option<String>,
    period: Option<u64>,
    counter: Option<u64>,
}

/// True for bytes that could be an encrypted andOTP backup (which has no magic bytes): long
/// enough, not text, and starting with a PBKDF2 iteration count andOTP could have written.
pub(super) fn looks_encrypted(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN + TAG_LEN && std::str::from_utf8(bytes).is_err() && iterations(bytes).is_some()
}

fn iterations(bytes: &[u8]) -> Option<NonZeroU32> {
    let count = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    NonZeroU32::new(count).filter(|count| count.get() <= MAX_ITERATIONS)
}

/// Reads an andOTP backup: JSON when it is JSON, else the encrypted format with `passphrase`.
pub(super) fn parse(bytes: &[u8], passphrase: Option<&str>) -> Result<Vec<ParsedEntry>, ImportError> {
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        let array: &RawValue = serde_json::from_slice(bytes).map_err(|error| malformed(FORMAT, error))?;
        return entries(array);
    }
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(malformed(FORMAT, "neither a JSON array nor long enough to be an encrypted backup"));
    }
    let iterations = iterations(bytes).ok_or_else(|| ImportError::KdfParams {
        format: FORMAT,
        reason: "the iteration count is 0 or above 10 000 000".into(),
    })?;
    let passphrase = passphrase.ok_or(ImportError::PassphraseRequired(FORMAT))?;
    let salt = &bytes[4..4 + SALT_LEN];
    let nonce = &bytes[4 + SALT_LEN..HEADER_LEN];
    let key = crypto::pbkdf2(ring::pbkdf2::PBKDF2_HMAC_SHA1, iterations, salt, passphrase);
    let plain = crypto::aes_gcm_open(key.as_ref(), nonce, &bytes[HEADER_LEN..]).map_err(|error| match error {
        OpenError::Authentication => ImportError::WrongPassphrase(FORMAT),
        OpenError::Malformed => malformed(FORMAT, "truncated"),
    })?;
    let text = std::str::from_utf8(&plain).map_err(|_| malformed(FORMAT, "decrypted data is not UTF-8"))?;
    let array: &RawValue = serde_json::from_str(text).map_err(|error| malformed(FORMAT, error))?;
    entries(array)
}

fn entries(array: &RawValue) -> Result<Vec<ParsedEntry>, ImportError> {
    let elements = json_elements(FORMAT, array)?;
    Ok(json_entries(&elements, |raw| super::label_from_json(raw, "issuer", "label"), convert))
}

fn convert(entry: Entry) -> Result<Account, EntryError> {
    let kind = match entry.kind.to_ascii_uppercase().as_str() {
        "TOTP" => Kind::Totp { period: entry.period },
        "HOTP" => Kind::Hotp { counter: entry.counter },
        "STEAM" => Kind::Steam,
        _ => return Err(EntryError::UnsupportedType(entry.kind)),
    };
    // Backups from before andOTP had an issuer field put "Issuer - name" in the label.
    let (issuer, name) = match entry.issuer {
        Some(issuer) => (issuer, entry.label),
        None => match entry.label.split_once(" - ") {
            Some((issuer, name)) => (issuer.to_string(), name.to_string()),
            None => (String::new(), entry.label),
        },
    };
    let secret = SecretBytes::from_base32(&entry.secret)?;
    build_account(&issuer, &name, secret, kind, entry.algorithm.as_deref(), entry.digits)
}
