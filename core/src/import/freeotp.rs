//! FreeOTP+ JSON exports, per FreeOTP+'s source (Token.java, the export of TokenPersistence).
//!
//! `{"tokenOrder":[…],"tokens":[{"algo":"SHA1","counter":0,"digits":6,"issuerExt":"ACME",
//! "issuerInt":"ACME","label":"alice","period":30,"secret":[-19,64,…],"type":"TOTP"|"HOTP"}]}`,
//! the secret being the Java signed bytes of the raw key. The stored counter is the one the
//! next HOTP code uses. The issuer shown is `issuerInt` (the URI's issuer parameter) when set,
//! else `issuerExt` (the label's prefix), as OtpTokenFactory does; a TOTP token whose
//! `issuerExt` is "Steam" is a Steam Guard token, as FreeOTP treats it.

use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{
    build_account, json_elements, json_entries, malformed, EntryError, Format, ImportError, Kind, ParsedEntry,
};
use crate::account::Account;
use crate::secret::{SecretBytes, MAX_SECRET_LEN};

const FORMAT: Format = Format::FreeOtpPlus;

#[derive(Deserialize)]
struct Export<'a> {
    #[serde(borrow)]
    tokens: &'a RawValue,
}

#[derive(Deserialize)]
struct Token {
    algo: Option<String>,
    counter: Option<u64>,
    digits: Option<u64>,
    #[serde(rename = "issuerExt")]
    issuer_ext: Option<String>,
    #[serde(rename = "issuerInt")]
    issuer_int: Option<String>,
    #[serde(default)]
    label: String,
    period: Option<u64>,
    secret: Zeroizing<Vec<i64>>,
    #[serde(rename = "type")]
    kind: String,
}

/// Reads a FreeOTP+ export.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<ParsedEntry>, ImportError> {
    let export: Export = serde_json::from_slice(bytes).map_err(|error| malformed(FORMAT, error))?;
    let elements = json_elements(FORMAT, export.tokens)?;
    Ok(json_entries(&elements, |raw| super::label_from_json(raw, "issuerExt", "label"), convert))
}

fn convert(token: Token) -> Result<Account, EntryError> {
    if token.secret.len() > MAX_SECRET_LEN {
        return Err(crate::secret::Base32Error::TooLong.into());
    }
    let mut secret = Zeroizing::new(Vec::with_capacity(token.secret.len()));
    for &value in token.secret.iter() {
        // Java bytes are signed: -128..=127; accept 0..=255 too, as some tools write them.
        let byte = i8::try_from(value).map(|byte| byte as u8).or_else(|_| u8::try_from(value));
        secret.push(byte.map_err(|_| EntryError::SecretBytes)?);
    }
    let secret = SecretBytes::new(std::mem::take(&mut *secret));
    // As OtpTokenFactory shows it: the URI's issuer parameter, else the label's prefix.
    let is_steam = token.issuer_ext.as_deref() == Some("Steam");
    let issuer = token.issuer_int.filter(|issuer| !issuer.trim().is_empty()).or(token.issuer_ext).unwrap_or_default();
    let kind = match token.kind.to_ascii_uppercase().as_str() {
        "TOTP" if is_steam => Kind::Steam,
        "TOTP" => Kind::Totp { period: token.period },
        "HOTP" => Kind::Hotp { counter: token.counter },
        _ => return Err(EntryError::UnsupportedType(token.kind)),
    };
    build_account(&issuer, &token.label, secret, kind, token.algo.as_deref(), token.digits)
}
