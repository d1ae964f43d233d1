//! 2FAS backups (`.2fas`), per 2FAS's Android source (core/cipher, data/services).
//!
//! `{"services":[…],"schemaVersion":1..4,…}`. Encrypted backups carry `"services":[]` and
//! `"servicesEncrypted":"DATA:SALT:IV"` (each base64): the services array as JSON, sealed with
//! AES-256-GCM (`DATA` is ciphertext ‖ 16-byte tag) under PBKDF2-HMAC-SHA256(password, SALT,
//! 10 000 iterations, 256 bits). A service is `{"name","secret","otp":{"account","issuer",
//! "digits","period","algorithm","tokenType":"TOTP"|"HOTP"|"STEAM","counter"}}`.

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::crypto::{self, OpenError};
use super::{
    build_account, json_elements, json_entries, malformed, EntryError, Format, ImportError, Kind, ParsedEntry,
};
use crate::account::Account;
use crate::secret::SecretBytes;

const FORMAT: Format = Format::TwoFas;
/// The newest schema 2FAS documents in its source.
const MAX_SCHEMA: u64 = 4;
/// 2FAS's fixed PBKDF2 iteration count (BackupKeyGeneratorPbkdf).
const ITERATIONS: u32 = 10_000;

#[derive(Deserialize)]
struct Backup<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u64,
    #[serde(borrow, default)]
    services: Option<&'a RawValue>,
    #[serde(rename = "servicesEncrypted")]
    services_encrypted: Option<String>,
}

#[derive(Deserialize)]
struct Service {
    #[serde(default)]
    name: String,
    secret: Zeroizing<String>,
    #[serde(default)]
    otp: Otp,
}

#[derive(Deserialize, Default)]
struct Otp {
    account: Option<String>,
    label: Option<String>,
    issuer: Option<String>,
    digits: Option<u64>,
    period: Option<u64>,
    algorithm: Option<String>,
    #[serde(rename = "tokenType")]
    token_type: Option<String>,
    counter: Option<u64>,
}

/// Reads a 2FAS backup, decrypting it with `passphrase` when it is encrypted.
pub(super) fn parse(bytes: &[u8], passphrase: Option<&str>) -> Result<Vec<ParsedEntry>, ImportError> {
    let backup: Backup = serde_json::from_slice(bytes).map_err(|error| malformed(FORMAT, error))?;
    if backup.schema_version > MAX_SCHEMA {
        return Err(ImportError::UnsupportedVersion { format: FORMAT, version: backup.schema_version });
    }
    match backup.services_encrypted.as_deref().filter(|text| !text.is_empty()) {
        None => {
            let services = backup.services.ok_or_else(|| malformed(FORMAT, "no services"))?;
            entries(services)
        }
        Some(encrypted) => {
            let passphrase = passphrase.ok_or(ImportError::PassphraseRequired(FORMAT))?;
            let plain = decrypt(encrypted, passphrase)?;
            let text = std::str::from_utf8(&plain).map_err(|_| malformed(FORMAT, "decrypted data is not UTF-8"))?;
            let services: &RawValue = serde_json::from_str(text).map_err(|error| malformed(FORMAT, error))?;
            entries(services)
        }
    }
}

fn decrypt(encrypted: &str, passphrase: &str) -> Result<Zeroizing<Vec<u8>>, ImportError> {
    let parts: Vec<&str> = encrypted.split(':').collect();
    let [data, salt, iv] = parts[..] else {
        return Err(malformed(FORMAT, "servicesEncrypted is not DATA:SALT:IV"));
    };
    let decode =
        |part: &str| STANDARD.decode(part.trim()).map_err(|_| malformed(FORMAT, "servicesEncrypted is not base64"));
    let (data, salt, iv) = (decode(data)?, decode(salt)?, decode(iv)?);
    let iterations = NonZeroU32::new(ITERATIONS).ok_or(ImportError::Crypto)?;
    let key = crypto::pbkdf2(ring::pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, passphrase);
    crypto::aes_gcm_open(key.as_ref(), &iv, &data).map_err(|error| match error {
        OpenError::Authentication => ImportError::WrongPassphrase(FORMAT),
        OpenError::Malformed => malformed(FORMAT, "the IV is not 12 bytes or the data is too short"),
    })
}

fn entries(services: &RawValue) -> Result<Vec<ParsedEntry>, ImportError> {
    let elements = json_elements(FORMAT, services)?;
    Ok(json_entries(&elements, |raw| super::label_from_json(raw, "name", "account"), convert))
}

fn convert(service: Service) -> Result<Account, EntryError> {
    let otp = service.otp;
    // As 2FAS shows it: the service name, else the otpauth issuer.
    let issuer = if service.name.trim().is_empty() { otp.issuer.unwrap_or_default() } else { service.name };
    let name = otp.account.or(otp.label).unwrap_or_default();
    let kind = match otp.token_type.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("TOTP") => Kind::Totp { period: otp.period },
        // 2FAS starts HOTP counters at 0 when the field is absent.
        Some("HOTP") => Kind::Hotp { counter: Some(otp.counter.unwrap_or(0)) },
        Some("STEAM") => Kind::Steam,
        Some(other) => return Err(EntryError::UnsupportedType(other.to_string())),
    };
    let secret = SecretBytes::from_base32(&service.secret)?;
    build_account(&issuer, &name, secret, kind, otp.algorithm.as_deref(), otp.digits)
}
