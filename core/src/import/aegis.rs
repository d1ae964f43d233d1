//! Aegis vault JSON, read and written, per Aegis's docs/vault.md.
//!
//! `{"version":1,"header":{"slots":…,"params":…},"db":…}`. Plain: `slots` and `params` are
//! null and `db` is the content object `{"version":1..3,"entries":[…],"groups":[…]}`. Encrypted:
//! `db` is the base64 of the content sealed with AES-256-GCM under a random master key
//! (`params` holds the hex nonce and tag); each slot holds the master key sealed the same way
//! under its credential's key. Password slots (type 1) derive that key with
//! scrypt(password, salt, N, r, p) into 32 bytes; Aegis writes N=2^15, r=8, p=1.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::crypto::{self, OpenError, KEY_LEN};
use super::{build_account, json_elements, json_entries, label_from_json, malformed, EntryError, ImportError, Kind};
use super::{Format, ParsedEntry};
use crate::account::Account;
use crate::otp::OtpKind;
use crate::secret::SecretBytes;

const FORMAT: Format = Format::Aegis;
/// The vault file version Aegis writes and documents.
const VAULT_VERSION: u64 = 1;
/// The newest content version Aegis documents (entries gained groups in 3).
const CONTENT_VERSION: u64 = 3;
const SLOT_PASSWORD: u64 = 1;
/// scrypt parameters Aegis uses, which exports use too so that Aegis opens them promptly.
const EXPORT_LOG_N: u8 = 15;
const EXPORT_R: u32 = 8;
const EXPORT_P: u32 = 1;
/// Refuse scrypt settings costing over this much memory (128·N·r bytes): a hostile file
/// must not exhaust a phone.
const MAX_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;

#[derive(Deserialize)]
struct VaultFile<'a> {
    version: u64,
    header: Header,
    #[serde(borrow)]
    db: &'a RawValue,
}

#[derive(Deserialize)]
struct Header {
    slots: Option<Vec<Slot>>,
    params: Option<CipherParams>,
}

#[derive(Deserialize)]
struct Slot {
    #[serde(rename = "type")]
    kind: u64,
    key: String,
    key_params: CipherParams,
    n: Option<u64>,
    r: Option<u32>,
    p: Option<u32>,
    salt: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct CipherParams {
    nonce: String,
    tag: String,
}

#[derive(Deserialize)]
struct Content<'a> {
    version: u64,
    #[serde(borrow)]
    entries: &'a RawValue,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    issuer: String,
    info: Info,
}

#[derive(Deserialize)]
struct Info {
    secret: Zeroizing<String>,
    algo: Option<String>,
    digits: Option<u64>,
    period: Option<u64>,
    counter: Option<u64>,
}

/// Reads an Aegis vault, decrypting it with `passphrase` when it is encrypted.
pub(super) fn parse(bytes: &[u8], passphrase: Option<&str>) -> Result<Vec<ParsedEntry>, ImportError> {
    let file: VaultFile = serde_json::from_slice(bytes).map_err(|error| malformed(FORMAT, error))?;
    if file.version != VAULT_VERSION {
        return Err(ImportError::UnsupportedVersion { format: FORMAT, version: file.version });
    }
    match (file.header.slots, file.header.params) {
        (None, None) => parse_content(file.db.get().as_bytes()),
        (Some(slots), Some(params)) => {
            let sealed: String = serde_json::from_str(file.db.get())
                .map_err(|_| malformed(FORMAT, "an encrypted vault's db must be a base64 string"))?;
            let passphrase = passphrase.ok_or(ImportError::PassphraseRequired(FORMAT))?;
            let master_key = open_slots(&slots, passphrase)?;
            let mut sealed = STANDARD.decode(sealed.trim()).map_err(|_| malformed(FORMAT, "db is not base64"))?;
            sealed.extend_from_slice(&hex(&params.tag)?);
            let plain =
                crypto::aes_gcm_open(master_key.as_ref(), &hex(&params.nonce)?, &sealed).map_err(
                    |error| match error {
                        OpenError::Authentication => ImportError::WrongPassphrase(FORMAT),
                        OpenError::Malformed => malformed(FORMAT, "bad nonce or tag in header.params"),
                    },
                )?;
            parse_content(&plain)
        }
        _ => Err(malformed(FORMAT, "header has slots without params, or params without slots")),
    }
}

fn parse_content(bytes: &[u8]) -> Result<Vec<ParsedEntry>, ImportError> {
    let content: Content = serde_json::from_slice(bytes).map_err(|error| malformed(FORMAT, error))?;
    if content.version == 0 || content.version > CONTENT_VERSION {
        return Err(ImportError::UnsupportedVersion { format: FORMAT, version: content.version });
    }
    let elements = json_elements(FORMAT, content.entries)?;
    Ok(json_entries(&elements, |raw| label_from_json(raw, "issuer", "name"), convert))
}

fn convert(entry: Entry) -> Result<Account, EntryError> {
    let kind = match entry.kind.to_ascii_lowercase().as_str() {
        "totp" => Kind::Totp { period: entry.info.period },
        "hotp" => Kind::Hotp { counter: entry.info.counter },
        "steam" => Kind::Steam,
        _ => return Err(EntryError::UnsupportedType(entry.kind)),
    };
    let secret = SecretBytes::from_base32(&entry.info.secret)?;
    build_account(&entry.issuer, &entry.name, secret, kind, entry.info.algo.as_deref(), entry.info.digits)
}

/// The master key from the first password slot that `passphrase` opens.
fn open_slots(slots: &[Slot], passphrase: &str) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let mut tried = false;
    for slot in slots.iter().filter(|slot| slot.kind == SLOT_PASSWORD) {
        tried = true;
        let (Some(n), Some(r), Some(p), Some(salt)) = (slot.n, slot.r, slot.p, slot.salt.as_deref()) else {
            return Err(malformed(FORMAT, "a password slot lacks n, r, p or salt"));
        };
        let log_n = scrypt_log_n(n, r, p)?;
        let key = crypto::scrypt(passphrase, &hex(salt)?, log_n, r, p)
            .ok_or_else(|| ImportError::KdfParams { format: FORMAT, reason: "scrypt rejects them".into() })?;
        let mut sealed = hex(&slot.key)?;
        sealed.extend_from_slice(&hex(&slot.key_params.tag)?);
        match crypto::aes_gcm_open(key.as_ref(), &hex(&slot.key_params.nonce)?, &sealed) {
            Ok(master) if master.len() == KEY_LEN => return Ok(master),
            Ok(_) => return Err(malformed(FORMAT, "a slot's master key is not 32 bytes")),
            Err(OpenError::Authentication) => continue,
            Err(OpenError::Malformed) => return Err(malformed(FORMAT, "bad nonce or tag in a slot")),
        }
    }
    if tried {
        Err(ImportError::WrongPassphrase(FORMAT))
    } else {
        Err(ImportError::Unsupported(
            "this Aegis vault has no password slot (only biometric ones): export it from Aegis with a password".into(),
        ))
    }
}

fn scrypt_log_n(n: u64, r: u32, p: u32) -> Result<u8, ImportError> {
    let refuse = |reason: &str| ImportError::KdfParams { format: FORMAT, reason: reason.into() };
    if n < 2 || !n.is_power_of_two() {
        return Err(refuse("N is not a power of two"));
    }
    if r == 0 || p == 0 || p > 16 {
        return Err(refuse("r or p out of range"));
    }
    if n.saturating_mul(u64::from(r)).saturating_mul(128) > MAX_SCRYPT_MEMORY {
        return Err(refuse("more than 256 MiB of memory"));
    }
    Ok(n.trailing_zeros() as u8)
}

fn hex(text: &str) -> Result<Vec<u8>, ImportError> {
    let text = text.trim().as_bytes();
    if !text.len().is_multiple_of(2) {
        return Err(malformed(FORMAT, "odd-length hex"));
    }
    text.chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(high), Some(low)) => Ok((high * 16 + low) as u8),
                _ => Err(malformed(FORMAT, "not hex")),
            }
        })
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

// ---- writing ----

#[derive(Serialize)]
struct OutFile<'a, Db: Serialize> {
    version: u64,
    header: OutHeader,
    db: &'a Db,
}

#[derive(Serialize)]
struct OutHeader {
    slots: Option<Vec<OutSlot>>,
    params: Option<CipherParams>,
}

#[derive(Serialize)]
struct OutSlot {
    #[serde(rename = "type")]
    kind: u64,
    uuid: String,
    key: String,
    key_params: CipherParams,
    n: u64,
    r: u32,
    p: u32,
    salt: String,
    /// Aegis marks slots derived from the password's UTF-8 bytes as "repaired"; an unrepaired
    /// slot makes Aegis retry with an old, buggy password encoding.
    repaired: bool,
    is_backup: bool,
}

#[derive(Serialize)]
struct OutContent<'a> {
    version: u64,
    entries: Vec<OutEntry<'a>>,
    groups: [(); 0],
}

#[derive(Serialize)]
struct OutEntry<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    uuid: String,
    name: &'a str,
    issuer: &'a str,
    note: &'static str,
    favorite: bool,
    icon: Option<()>,
    icon_mime: Option<()>,
    icon_hash: Option<()>,
    info: OutInfo,
    groups: [(); 0],
}

#[derive(Serialize)]
struct OutInfo {
    secret: Zeroizing<String>,
    algo: &'static str,
    digits: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    period: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counter: Option<u64>,
}

/// Writes `accounts` as an Aegis vault that Aegis imports: plain, or encrypted under
/// `passphrase` with one password slot (scrypt N=2^15, r=8, p=1, as Aegis itself uses).
pub fn write_vault(accounts: &[Account], passphrase: Option<&str>) -> Result<Vec<u8>, ImportError> {
    let entries = accounts.iter().map(out_entry).collect::<Result<Vec<_>, _>>()?;
    let content = OutContent { version: CONTENT_VERSION, entries, groups: [] };
    let mut bytes = match passphrase {
        None => {
            let header = OutHeader { slots: None, params: None };
            to_json(&OutFile { version: VAULT_VERSION, header, db: &content }, accounts.len())?
        }
        Some(passphrase) => {
            let plain = to_json(&content, accounts.len())?;
            let master_key: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(crypto::random().ok_or(ImportError::Crypto)?);
            let (nonce, ciphertext, tag) =
                crypto::aes_gcm_seal(master_key.as_ref(), &plain).ok_or(ImportError::Crypto)?;
            let salt: [u8; 32] = crypto::random().ok_or(ImportError::Crypto)?;
            let slot_key =
                crypto::scrypt(passphrase, &salt, EXPORT_LOG_N, EXPORT_R, EXPORT_P).ok_or(ImportError::Crypto)?;
            let (key_nonce, sealed_key, key_tag) =
                crypto::aes_gcm_seal(slot_key.as_ref(), master_key.as_ref()).ok_or(ImportError::Crypto)?;
            let slot = OutSlot {
                kind: SLOT_PASSWORD,
                uuid: uuid_v4()?,
                key: to_hex(&sealed_key),
                key_params: CipherParams { nonce: to_hex(&key_nonce), tag: to_hex(&key_tag) },
                n: 1 << EXPORT_LOG_N,
                r: EXPORT_R,
                p: EXPORT_P,
                salt: to_hex(&salt),
                repaired: true,
                is_backup: false,
            };
            let header = OutHeader {
                slots: Some(vec![slot]),
                params: Some(CipherParams { nonce: to_hex(&nonce), tag: to_hex(&tag) }),
            };
            let db = STANDARD.encode(&ciphertext);
            to_json(&OutFile { version: VAULT_VERSION, header, db: &db }, accounts.len())?
        }
    };
    bytes.push(b'\n');
    Ok(std::mem::take(&mut *bytes))
}

fn out_entry(account: &Account) -> Result<OutEntry<'_>, ImportError> {
    let params = account.params;
    let (kind, period, counter) = match params.kind {
        OtpKind::Totp { period } => ("totp", Some(period), None),
        OtpKind::Hotp { counter } => ("hotp", None, Some(counter)),
        OtpKind::Steam => ("steam", Some(crate::otp::DEFAULT_PERIOD), None),
    };
    Ok(OutEntry {
        kind,
        uuid: uuid_v4()?,
        name: &account.name,
        issuer: &account.issuer,
        note: "",
        favorite: false,
        icon: None,
        icon_mime: None,
        icon_hash: None,
        info: OutInfo {
            secret: account.secret.to_base32(),
            algo: params.algorithm.as_uri_name(),
            digits: params.digits,
            period,
            counter,
        },
        groups: [],
    })
}

/// JSON into a buffer sized up front, so that no reallocation leaves secret copies behind.
fn to_json(value: &impl Serialize, accounts: usize) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let mut buffer = Zeroizing::new(Vec::with_capacity(4096 + accounts * 1024));
    serde_json::to_writer_pretty(&mut *buffer, value).map_err(|_| ImportError::Crypto)?;
    Ok(buffer)
}

fn uuid_v4() -> Result<String, ImportError> {
    let mut bytes: [u8; 16] = crypto::random().ok_or(ImportError::Crypto)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = to_hex(&bytes);
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_uuid() {
        assert_eq!(hex("00ff10").unwrap(), vec![0, 255, 16]);
        assert!(hex("0g").is_err());
        assert!(hex("abc").is_err());
        let uuid = uuid_v4().unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }

    #[test]
    fn scrypt_limits() {
        assert_eq!(scrypt_log_n(32768, 8, 1).unwrap(), 15);
        assert!(scrypt_log_n(1 << 20, 8, 1).is_err());
        assert!(scrypt_log_n(1000, 8, 1).is_err());
        assert!(scrypt_log_n(1024, 0, 1).is_err());
    }
}
