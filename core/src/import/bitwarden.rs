//! Bitwarden exports, JSON and CSV, per Bitwarden's clients (the individual vault export
//! formats): only the `login.totp` field matters, which holds an `otpauth://` URI, a
//! `steam://SECRET` URI, or a bare base32 secret (then TOTP with SHA1, 6 digits, 30 s, named
//! after the item and its username).
//!
//! JSON: `{"encrypted":false,"items":[{"type":1,"name":"…","login":{"username":"…",
//! "totp":"…"}}]}`. CSV: a header row naming the columns (`folder,favorite,type,name,notes,
//! fields,reprompt,login_uri,login_username,login_password,login_totp`), RFC 4180 quoting.
//! Items without a TOTP are not authenticator entries and are left out. Password-protected
//! exports (`"encrypted":true`) are refused with what to do instead.

use serde::Deserialize;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::{build_account, json_elements, malformed, EntryError, Format, ImportError, Kind, ParsedEntry};
use crate::account::Account;
use crate::otpauth::parse_otpauth;
use crate::secret::SecretBytes;

const FORMAT: Format = Format::Bitwarden;

#[derive(Deserialize)]
struct Export<'a> {
    #[serde(default)]
    encrypted: bool,
    #[serde(borrow)]
    items: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    login: Option<Login>,
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    totp: Option<Zeroizing<String>>,
}

/// Reads a Bitwarden export, JSON or CSV.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<ParsedEntry>, ImportError> {
    if bytes.trim_ascii_start().first() == Some(&b'{') {
        parse_json(bytes)
    } else {
        parse_csv(bytes)
    }
}

fn parse_json(bytes: &[u8]) -> Result<Vec<ParsedEntry>, ImportError> {
    let export: Export = serde_json::from_slice(bytes).map_err(|error| malformed(FORMAT, error))?;
    if export.encrypted {
        return Err(ImportError::Unsupported(
            "password-protected Bitwarden exports are not read: export the vault as unencrypted .json or .csv".into(),
        ));
    }
    let items = export.items.ok_or_else(|| malformed(FORMAT, "no items"))?;
    let mut entries = Vec::new();
    for (index, raw) in json_elements(FORMAT, items)?.into_iter().enumerate() {
        match serde_json::from_str::<Item>(raw.get()) {
            Err(error) => entries.push(ParsedEntry::new(
                index,
                super::label_from_json(raw, "", "name"),
                Err(EntryError::Malformed(super::describe_json_error(&error))),
            )),
            Ok(item) => {
                let name = item.name.unwrap_or_default();
                let Some(login) = item.login else { continue };
                let Some(totp) = login.totp.filter(|totp| !totp.trim().is_empty()) else { continue };
                let account = totp_field(&totp, &name, login.username.as_deref().unwrap_or_default());
                entries.push(ParsedEntry::new(index, name, account));
            }
        }
    }
    Ok(entries)
}

fn parse_csv(bytes: &[u8]) -> Result<Vec<ParsedEntry>, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed(FORMAT, "the CSV file is not UTF-8"))?;
    let rows = csv_rows(text).map_err(|reason| malformed(FORMAT, reason))?;
    let mut rows = rows.into_iter();
    let header = rows.next().ok_or_else(|| malformed(FORMAT, "empty CSV file"))?;
    let column = |name: &str| header.iter().position(|title| title.trim() == name);
    let totp_column = column("login_totp").ok_or_else(|| malformed(FORMAT, "no login_totp column"))?;
    let (name_column, user_column) = (column("name"), column("login_username"));
    let mut entries = Vec::new();
    for (index, row) in rows.enumerate() {
        let cell = |column: Option<usize>| column.and_then(|c| row.get(c)).map(|value| value.as_str()).unwrap_or("");
        let totp = cell(Some(totp_column));
        if totp.trim().is_empty() {
            continue;
        }
        let name = cell(name_column);
        entries.push(ParsedEntry::new(index, name.to_string(), totp_field(totp, name, cell(user_column))));
    }
    Ok(entries)
}

/// The account of a Bitwarden-style TOTP field: an `otpauth://` URI, `steam://SECRET`, or a
/// bare base32 secret, the last two named `issuer` / `name` (the item and its username).
pub(super) fn totp_field(value: &str, issuer: &str, name: &str) -> Result<Account, EntryError> {
    let value = value.trim();
    let lowered_head = value.get(..10).map(str::to_ascii_lowercase).unwrap_or_default();
    if lowered_head.starts_with("otpauth://") {
        return Ok(parse_otpauth(value)?);
    }
    let (secret_text, kind) = match lowered_head.starts_with("steam://") {
        true => (&value[8..], Kind::Steam),
        false => (value, Kind::Totp { period: None }),
    };
    let secret = SecretBytes::from_base32(secret_text)?;
    let issuer = if issuer.trim().is_empty() && matches!(kind, Kind::Steam) { "Steam" } else { issuer };
    build_account(issuer, name, secret, kind, None, None)
}

/// RFC 4180 rows: `,` between fields, `"` quoting with `""` for a quote, line breaks (LF or
/// CRLF) inside quotes kept. Fields are zeroizing: the TOTP column holds secrets.
fn csv_rows(text: &str) -> Result<Vec<Vec<Zeroizing<String>>>, String> {
    let mut rows = Vec::new();
    let mut row: Vec<Zeroizing<String>> = Vec::new();
    let mut field = Zeroizing::new(String::new());
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut row_has_content = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                in_quotes = true;
                row_has_content = true;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                row_has_content = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if row_has_content || !field.is_empty() {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                row_has_content = false;
            }
            _ => {
                field.push(c);
                row_has_content = true;
            }
        }
    }
    if in_quotes {
        return Err("a quoted field is not closed".into());
    }
    if row_has_content || !field.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        let rows = csv_rows("a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\n,,\n").unwrap();
        let rows: Vec<Vec<&str>> = rows.iter().map(|row| row.iter().map(|f| f.as_str()).collect()).collect();
        assert_eq!(rows, vec![vec!["a", "b", "c"], vec!["x,1", "say \"hi\"", "two\nlines"], vec!["", "", ""]]);
        assert!(csv_rows("\"open").is_err());
    }

    #[test]
    fn totp_field_forms() {
        let bare = totp_field("jbsw y3dp ehpk 3pxp", "GitHub", "alice").unwrap();
        assert_eq!(bare.label(), "GitHub:alice");
        let steam = totp_field("steam://JBSWY3DPEHPK3PXP", "", "gabe").unwrap();
        assert_eq!((steam.label(), steam.params), ("Steam:gabe".to_string(), crate::otp::OtpParams::steam()));
        assert!(totp_field("otpauth://totp/x?secret=1", "a", "b").is_err());
    }
}
