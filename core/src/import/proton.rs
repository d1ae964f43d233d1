//! Proton Authenticator JSON exports, per proton-pass-common's authenticator crate (the
//! `ExportedAuthenticatorEntry` types) and Aegis's importer of them.
//!
//! `{"version":1,"entries":[{"id":"…","content":{"uri":"otpauth://…","entry_type":"Totp"|
//! "Steam","name":"…"},"note":null}]}`: the URI carries the secret and parameters, `name` is the
//! account name as the user edited it. Steam entries may carry `steam://SECRET`.

use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{json_elements, json_entries, malformed, EntryError, Format, ImportError, ParsedEntry};
use crate::account::Account;
use crate::otp::OtpParams;

const FORMAT: Format = Format::Proton;

#[derive(Deserialize)]
struct Export<'a> {
    version: u64,
    #[serde(borrow)]
    entries: &'a RawValue,
}

#[derive(Deserialize)]
struct Entry {
    content: Content,
}

#[derive(Deserialize)]
struct Content {
    uri: Zeroizing<String>,
    #[serde(default)]
    entry_type: String,
    name: Option<String>,
}

/// Reads a Proton Authenticator export.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<ParsedEntry>, ImportError> {
    let export: Export = serde_json::from_slice(bytes).map_err(|error| malformed(FORMAT, error))?;
    if export.version != 1 {
        return Err(ImportError::UnsupportedVersion { format: FORMAT, version: export.version });
    }
    let elements = json_elements(FORMAT, export.entries)?;
    Ok(json_entries(&elements, |_| String::new(), convert))
}

fn convert(entry: Entry) -> Result<Account, EntryError> {
    let content = entry.content;
    let name = content.name.unwrap_or_default();
    let mut account = super::bitwarden::totp_field(&content.uri, "Steam", &name)?;
    match content.entry_type.to_ascii_lowercase().as_str() {
        "" | "totp" => {}
        "steam" => account.params = OtpParams::steam(),
        _ => return Err(EntryError::UnsupportedType(content.entry_type)),
    }
    if !name.trim().is_empty() {
        account.name = name.trim().to_string();
    }
    Ok(account)
}
