//! Contact e-mail addresses: up to three per account, each verified by a code sent to it (or
//! by the invitation that went to it); [`Contacts::verified_emails`] is the account's one list
//! of addresses that sign-in links and password resets go to.

use serde::{Deserialize, Serialize};

use crate::error::PortalError;
use crate::store::{decode, encode, Store};

/// Most contact addresses per account.
pub const MAX_CONTACTS: usize = 3;

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Not `local@domain.tld` (one `@`, a dot in the domain, no spaces or control characters).
    #[error("not an e-mail address")]
    Malformed,
    /// Longer than 254 characters.
    #[error("an address has at most 254 characters")]
    TooLong,
    /// The account has [`MAX_CONTACTS`] already.
    #[error("at most three addresses")]
    TooMany,
    /// The account has this address already.
    #[error("the address is there already")]
    Duplicate,
}

/// Checks and normalises an address: trimmed, domain lower-cased.
pub fn parse_email(typed: &str) -> Result<String, EmailError> {
    let typed = typed.trim();
    if typed.len() > 254 {
        return Err(EmailError::TooLong);
    }
    let (local, domain) = typed.split_once('@').ok_or(EmailError::Malformed)?;
    let bad = |s: &str| {
        s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:\\[]@".contains(c))
    };
    if bad(local) || bad(domain) || local.len() > 64 {
        return Err(EmailError::Malformed);
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
        return Err(EmailError::Malformed);
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// One contact address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactEmail {
    /// The address.
    pub address: String,
    /// Proved by a code sent to it.
    pub verified: bool,
    /// When added, Unix seconds.
    pub added_at: u64,
}

/// Verification e-mails per account within [`MAIL_WINDOW`].
pub const MAX_MAILS: usize = 3;
/// The window of the verification e-mail limit, seconds.
pub const MAIL_WINDOW: u64 = 10 * 60;

/// The contact addresses over the store.
#[derive(Clone)]
pub struct Contacts {
    tree: sled::Tree,
    /// At most [`MAX_MAILS`] verification e-mails per account per [`MAIL_WINDOW`]: removing
    /// and adding an address again is no way to mail someone without end.
    pub mail_limit: crate::codes::SendLimit,
}

impl Contacts {
    /// Contacts in `store`'s `contacts` tree.
    pub fn new(store: &Store, clock: std::sync::Arc<dyn crate::clock::Clock>) -> Result<Self, PortalError> {
        let mail_limit = crate::codes::SendLimit::new(store, "mail_sends", clock, MAX_MAILS, MAIL_WINDOW)?;
        Ok(Self { tree: store.tree("contacts")?, mail_limit })
    }

    /// The account's addresses, in the order added.
    pub fn list(&self, account: &str) -> Result<Vec<ContactEmail>, PortalError> {
        match self.tree.get(account.as_bytes())? {
            Some(bytes) => decode("contact addresses", &bytes),
            None => Ok(Vec::new()),
        }
    }

    /// The account's verified addresses: where sign-in links may go.
    pub fn verified_emails(&self, account: &str) -> Result<Vec<String>, PortalError> {
        Ok(self.list(account)?.into_iter().filter(|c| c.verified).map(|c| c.address).collect())
    }

    /// Adds an unverified address (atomically, so two parallel adds cannot pass the limit).
    pub fn add(&self, account: &str, typed: &str, now: u64) -> Result<Result<String, EmailError>, PortalError> {
        let address = match parse_email(typed) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let mut refusal = None;
        self.tree.fetch_and_update(account.as_bytes(), |old| {
            let mut list: Vec<ContactEmail> = old.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
            if list.iter().any(|c| c.address.eq_ignore_ascii_case(&address)) {
                refusal = Some(EmailError::Duplicate);
            } else if list.len() >= MAX_CONTACTS {
                refusal = Some(EmailError::TooMany);
            } else {
                refusal = None;
                list.push(ContactEmail { address: address.clone(), verified: false, added_at: now });
            }
            Some(encode(&list))
        })?;
        Ok(match refusal {
            Some(e) => Err(e),
            None => Ok(address),
        })
    }

    /// Marks `address` verified; false if the account no longer has it.
    pub fn mark_verified(&self, account: &str, address: &str) -> Result<bool, PortalError> {
        let mut found = false;
        self.tree.fetch_and_update(account.as_bytes(), |old| {
            let mut list: Vec<ContactEmail> = old.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
            found = false;
            for c in list.iter_mut().filter(|c| c.address == address) {
                c.verified = true;
                found = true;
            }
            old.map(|_| encode(&list))
        })?;
        Ok(found)
    }

    /// Records `typed` as verified without a code, because another proof covered it (the
    /// invitation's code went to that address); false if it is malformed or the account has
    /// [`MAX_CONTACTS`] other addresses already.
    pub fn add_verified(&self, account: &str, typed: &str, now: u64) -> Result<bool, PortalError> {
        let Ok(address) = parse_email(typed) else { return Ok(false) };
        let mut kept = false;
        self.tree.fetch_and_update(account.as_bytes(), |old| {
            let mut list: Vec<ContactEmail> = old.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
            kept = true;
            if let Some(c) = list.iter_mut().find(|c| c.address.eq_ignore_ascii_case(&address)) {
                c.verified = true;
            } else if list.len() < MAX_CONTACTS {
                list.push(ContactEmail { address: address.clone(), verified: true, added_at: now });
            } else {
                kept = false;
            }
            Some(encode(&list))
        })?;
        Ok(kept)
    }

    /// Removes `address`; false if the account did not have it.
    pub fn remove(&self, account: &str, address: &str) -> Result<bool, PortalError> {
        let mut found = false;
        self.tree.fetch_and_update(account.as_bytes(), |old| {
            let mut list: Vec<ContactEmail> = old.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
            let before = list.len();
            list.retain(|c| c.address != address);
            found = list.len() != before;
            old.map(|_| encode(&list))
        })?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        assert_eq!(parse_email(" Anna@Example.SE ").unwrap(), "Anna@example.se");
        for bad in [
            "",
            "anna",
            "anna@",
            "@example.se",
            "anna@example",
            "an na@example.se",
            "a@b@example.se",
            "anna@.se",
            "anna@example..se",
            "anna@-x.se",
            "<a>@example.se",
        ] {
            assert_eq!(parse_email(bad), Err(EmailError::Malformed), "{bad}");
        }
        assert_eq!(parse_email(&format!("{}@example.se", "a".repeat(250))), Err(EmailError::TooLong));
    }
}
