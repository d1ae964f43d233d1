//! "Remember this browser for 20 days": a long-lived cookie with a random 256-bit token, of
//! which only the SHA-256 is stored per account with its creation time and a label from the
//! User-Agent. A remembered browser skips the second factor after the right password.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::PortalError;
use crate::onetime::digest;
use crate::store::{decode, encode, Store};

/// A remembered browser is trusted this long after it was remembered.
pub const REMEMBER_FOR: u64 = 20 * 24 * 3600;
/// The cookie's name.
pub const REMEMBER_COOKIE: &str = "portal_remember";

/// One remembered browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Remembered {
    /// The account.
    pub account: String,
    /// When it was remembered, Unix seconds.
    pub created_at: u64,
    /// "Firefox on Linux" and the like, from the User-Agent.
    pub label: String,
}

/// A remembered browser as listed to its user: `id` (the token's digest) names it for revoking.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The digest of the token (not the token).
    pub id: String,
    /// The record.
    pub record: Remembered,
    /// Whether this is the browser asking.
    pub this_browser: bool,
}

/// The remembered browsers (sled tree `remembered`, key: digest of the cookie's token).
#[derive(Clone)]
pub struct Browsers {
    tree: sled::Tree,
    clock: Arc<dyn Clock>,
}

/// A short label of a User-Agent: browser and system.
pub fn label(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else { return "Browser".to_owned() };
    let name = ["Firefox", "Edg", "Chrome", "Safari"].into_iter().find(|b| ua.contains(b)).unwrap_or("Browser");
    let name = if name == "Edg" { "Edge" } else { name };
    match ["Windows", "Android", "iPhone", "Mac OS", "Linux"].into_iter().find(|o| ua.contains(o)) {
        Some(os) => format!("{name} on {os}"),
        None => name.to_owned(),
    }
}

impl Browsers {
    /// The remembered browsers in `store`, timed by `clock`.
    pub fn new(store: &Store, clock: Arc<dyn Clock>) -> Result<Self, PortalError> {
        Ok(Self { tree: store.tree("remembered")?, clock })
    }

    /// Deletes every remembered browser older than [`REMEMBER_FOR`] (the sweeper); how many.
    pub fn sweep(&self) -> Result<usize, PortalError> {
        let now = self.clock.now();
        let mut removed = 0;
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            let record: Remembered = decode("remembered browser", &bytes)?;
            if now.saturating_sub(record.created_at) >= REMEMBER_FOR
                && crate::store::remove_if_unchanged(&self.tree, &key, &bytes)?
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Remembers a browser for `account`; returns the cookie's token.
    pub fn remember(&self, account: &str, user_agent: Option<&str>) -> Result<String, PortalError> {
        use base64::Engine;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let record = Remembered { account: account.to_owned(), created_at: self.clock.now(), label: label(user_agent) };
        self.tree.insert(digest(&token), encode(&record))?;
        Ok(token)
    }

    /// Whether `token` (the cookie) remembers this browser for `account` now; an expired
    /// record is deleted.
    pub fn recognises(&self, account: &str, token: &str) -> Result<bool, PortalError> {
        if token.len() != 43 {
            return Ok(false);
        }
        let key = digest(token);
        let Some(bytes) = self.tree.get(&key)? else { return Ok(false) };
        let record: Remembered = decode("remembered browser", &bytes)?;
        if self.clock.now().saturating_sub(record.created_at) >= REMEMBER_FOR {
            self.tree.remove(&key)?;
            return Ok(false);
        }
        Ok(record.account == account)
    }

    /// The account's live remembered browsers, oldest first; `current` is this browser's token.
    pub fn list(&self, account: &str, current: Option<&str>) -> Result<Vec<Listed>, PortalError> {
        let now = self.clock.now();
        let current = current.map(digest);
        let mut listed = Vec::new();
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            let record: Remembered = decode("remembered browser", &bytes)?;
            if record.account == account && now.saturating_sub(record.created_at) < REMEMBER_FOR {
                let id = String::from_utf8_lossy(&key).into_owned();
                let this_browser = current.as_deref() == Some(id.as_str());
                listed.push(Listed { id, record, this_browser });
            }
        }
        listed.sort_by_key(|l| l.record.created_at);
        Ok(listed)
    }

    /// Forgets the browser `id` if it is `account`'s (someone else's id changes nothing).
    pub fn revoke(&self, account: &str, id: &str) -> Result<(), PortalError> {
        let Some(bytes) = self.tree.get(id.as_bytes())? else { return Ok(()) };
        let record: Remembered = decode("remembered browser", &bytes)?;
        if record.account == account {
            self.tree.remove(id.as_bytes())?;
        }
        Ok(())
    }

    /// Forgets every browser of `account` (after a password reset); returns how many.
    pub fn revoke_all(&self, account: &str) -> Result<usize, PortalError> {
        let mut removed = 0;
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            let record: Remembered = decode("remembered browser", &bytes)?;
            if record.account == account {
                self.tree.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn digest_only_twenty_days_and_own_revocation() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let browsers = Browsers::new(&store, clock.clone()).unwrap();
        let token = browsers.remember("alice", Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/120")).unwrap();
        for item in browsers.tree.iter() {
            let (key, value) = item.unwrap();
            assert!(!String::from_utf8_lossy(&key).contains(&token));
            assert!(!String::from_utf8_lossy(&value).contains(&token));
        }
        assert!(browsers.recognises("alice", &token).unwrap());
        assert!(!browsers.recognises("bob", &token).unwrap());
        let listed = browsers.list("alice", Some(&token)).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].this_browser);
        assert_eq!(listed[0].record.label, "Chrome on Linux");
        browsers.revoke("bob", &listed[0].id).unwrap();
        assert!(browsers.recognises("alice", &token).unwrap(), "bob cannot forget alice's browser");
        clock.advance(REMEMBER_FOR - 1);
        assert!(browsers.recognises("alice", &token).unwrap());
        clock.advance(1);
        assert!(!browsers.recognises("alice", &token).unwrap());
        assert!(browsers.list("alice", None).unwrap().is_empty());
    }
}
