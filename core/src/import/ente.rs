//! Ente Auth plain exports: a text file of `otpauth://` URIs, one per line, as Ente's
//! "export as plain text" writes it (`ente_auth_codes.txt`). Ente appends its own parameters
//! (`codeDisplay` with pins, tags and usage counts), which are ignored, and writes Steam
//! accounts as `otpauth://steam/…`.

use super::{Format, ImportError, ParsedEntry};

/// Reads an Ente Auth plain text export.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<ParsedEntry>, ImportError> {
    super::uris::parse(bytes, Format::Ente)
}
