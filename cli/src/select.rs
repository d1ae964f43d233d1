//! Picking accounts by a query: `#ID`, or a case-insensitive part of the issuer or name.

use nyckel_core::VaultEntry;

use crate::error::CliError;

/// Every entry the query selects (all of them without a query).
pub fn matching<'a>(entries: &'a [VaultEntry], query: Option<&str>) -> Vec<&'a VaultEntry> {
    let Some(query) = query else { return entries.iter().collect() };
    if let Some(id) = query.strip_prefix('#').and_then(|id| id.parse::<u64>().ok()) {
        return entries.iter().filter(|entry| entry.id == id).collect();
    }
    let exact: Vec<&VaultEntry> =
        entries.iter().filter(|entry| entry.account.label().eq_ignore_ascii_case(query)).collect();
    if !exact.is_empty() {
        return exact;
    }
    entries.iter().filter(|entry| entry.account.matches(query)).collect()
}

/// The single entry the query selects, or an error naming the candidates.
pub fn one<'a>(entries: &'a [VaultEntry], query: &str) -> Result<&'a VaultEntry, CliError> {
    match matching(entries, Some(query)).as_slice() {
        [] => Err(CliError::NoMatch(query.to_string())),
        [entry] => Ok(entry),
        many => Err(CliError::Ambiguous {
            query: query.to_string(),
            candidates: many
                .iter()
                .map(|entry| format!("#{} {}", entry.id, entry.account.label()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
