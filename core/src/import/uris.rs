//! Plain text lists of `otpauth://` URIs, one per line; blank lines and `#` comments skipped.

use super::{malformed, EntryError, Format, ImportError, ParsedEntry};
use crate::otpauth::parse_otpauth;

/// Reads one URI per line; each non-blank line is an entry whose index is its line number − 1.
/// `format` names the app the list came from (for messages).
pub(super) fn parse(bytes: &[u8], format: Format) -> Result<Vec<ParsedEntry>, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed(format, "the file is not UTF-8 text"))?;
    Ok(text
        .lines()
        .enumerate()
        .map(|(index, line)| (index, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(index, line)| {
            // The label is left empty for a bad line: the line may hold a secret in clear.
            let account = if is_migration(line) {
                Err(EntryError::UnsupportedType("otpauth-migration (a Google Authenticator export)".into()))
            } else {
                parse_otpauth(line).map_err(EntryError::Uri)
            };
            ParsedEntry::new(index, String::new(), account)
        })
        .collect())
}

/// True when `line` is a URI of a Google Authenticator export rather than an account.
fn is_migration(line: &str) -> bool {
    line.trim_start().get(..18).is_some_and(|head| head.eq_ignore_ascii_case("otpauth-migration:"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otpauth::UriError;

    #[test]
    fn one_entry_per_line_with_line_indexes() {
        let text = "# accounts\n\notpauth://totp/A:a?secret=JBSWY3DPEHPK3PXP\nnot a uri\r\n";
        let entries = parse(text.as_bytes(), Format::Uris).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].index, entries[0].label.as_str()), (2, "A:a"));
        assert_eq!(entries[1].account, Err(EntryError::Uri(UriError::NotOtpauth)));
        assert!(is_migration("otpauth-migration://offline?data=x"));
    }
}
