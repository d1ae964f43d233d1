//! One-time e-mail tokens (sign-in links, invitations, password resets): random 256-bit
//! values of which only the SHA-256 is stored, each with an expiry and used at most once.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::PortalError;
use crate::store::{decode, encode, Store};

/// A sign-in link is valid this long.
pub const SIGN_IN_LINK_TTL: u64 = 10 * 60;
/// An invitation is valid this long.
pub const INVITATION_TTL: u64 = 72 * 3600;
/// A password-reset link is valid this long.
pub const RESET_TTL: u64 = 30 * 60;

/// What a token is for; a token of one kind is refused where another is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The e-mail link as a second factor, bound to the browser session that asked for it.
    SignInLink,
    /// An invitation to set the first password.
    Invitation,
    /// A password reset.
    Reset,
}

/// A stored token (the token itself is not stored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// What it is for.
    pub kind: Kind,
    /// The account it acts on.
    pub account: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// Used (or superseded); never accepted again.
    pub used: bool,
    /// For a sign-in link: the SHA-256 (base64url) of the session id that asked for it.
    #[serde(default)]
    pub session: Option<String>,
    /// For a sign-in link: whether the browser asked to be remembered.
    #[serde(default)]
    pub remember: bool,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a token's shape, unknown, or of another kind.
    Invalid,
    /// Past its expiry.
    Expired,
    /// Used before.
    Used,
}

/// The token store (sled tree `onetime`, key: SHA-256 of the token).
#[derive(Clone)]
pub struct Tokens {
    tree: sled::Tree,
    /// Session digest → digest of the newest sign-in link that session asked for, so the
    /// waiting page's poll reads two records instead of scanning.
    by_session: sled::Tree,
    clock: Arc<dyn Clock>,
}

/// SHA-256 of `secret`, base64url: how sessions and tokens are named in records.
pub fn digest(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()))
}

/// A token has exactly the shape [`Tokens::issue`] makes: 43 base64url characters.
fn well_formed(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Tokens {
    /// Tokens in `store`, timed by `clock`.
    pub fn new(store: &Store, clock: Arc<dyn Clock>) -> Result<Self, PortalError> {
        Ok(Self { tree: store.tree("onetime")?, by_session: store.tree("onetime_by_session")?, clock })
    }

    /// Deletes every expired token record (sign-in links, invitations, resets; used or not) and
    /// its session index (the sweeper); how many. An expired link opened later is then refused
    /// as unknown rather than as expired.
    pub fn sweep(&self) -> Result<usize, PortalError> {
        let now = self.clock.now();
        let mut removed = 0;
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            let record: Record = decode("one-time token", &bytes)?;
            if now >= record.expires_at && crate::store::remove_if_unchanged(&self.tree, &key, &bytes)? {
                if let Some(session) = &record.session {
                    // Only if the session's newest link is this one.
                    crate::store::remove_if_unchanged(&self.by_session, session.as_bytes(), &key)?;
                }
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// A new token of `kind` for `account`, valid `ttl` seconds; returns the token (for the
    /// e-mail) — only its digest is kept.
    pub fn issue(
        &self,
        kind: Kind,
        account: &str,
        ttl: u64,
        session: Option<String>,
        remember: bool,
    ) -> Result<String, PortalError> {
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        if let Some(session) = &session {
            self.by_session.insert(session.as_bytes(), digest(&token).as_bytes())?;
        }
        let record = Record {
            kind,
            account: account.to_owned(),
            expires_at: self.clock.now().saturating_add(ttl),
            used: false,
            session,
            remember,
        };
        self.tree.insert(digest(&token), encode(&record))?;
        Ok(token)
    }

    /// The live record of `token` if it is of `kind`, unused and unexpired; nothing changes.
    pub fn peek(&self, kind: Kind, token: &str) -> Result<Result<Record, Refusal>, PortalError> {
        if !well_formed(token) {
            return Ok(Err(Refusal::Invalid));
        }
        let Some(bytes) = self.tree.get(digest(token))? else { return Ok(Err(Refusal::Invalid)) };
        let record: Record = decode("one-time token", &bytes)?;
        Ok(if record.kind != kind {
            Err(Refusal::Invalid)
        } else if record.used {
            Err(Refusal::Used)
        } else if self.clock.now() >= record.expires_at {
            Err(Refusal::Expired)
        } else {
            Ok(record)
        })
    }

    /// Marks `token` used if it is still live: exactly one caller gets `Ok` (compare-and-swap),
    /// so two tabs racing on one link cannot both use it.
    pub fn consume(&self, kind: Kind, token: &str) -> Result<Result<Record, Refusal>, PortalError> {
        loop {
            let record = match self.peek(kind, token)? {
                Ok(record) => record,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let key = digest(token);
            let Some(old) = self.tree.get(&key)? else { return Ok(Err(Refusal::Invalid)) };
            let used = Record { used: true, ..record.clone() };
            if self.tree.compare_and_swap(&key, Some(old), Some(encode(&used)))?.is_ok() {
                return Ok(Ok(record));
            }
        }
    }

    /// The record of the newest sign-in link asked for by the session with digest `session`.
    pub fn link_of_session(&self, session: &str) -> Result<Option<Record>, PortalError> {
        let Some(key) = self.by_session.get(session.as_bytes())? else { return Ok(None) };
        let Some(bytes) = self.tree.get(key)? else { return Ok(None) };
        let record: Record = decode("one-time token", &bytes)?;
        Ok((record.session.as_deref() == Some(session)).then_some(record))
    }

    /// Marks every live token of `kind` for `account` used (a new one supersedes them), and
    /// drops records expired a day ago.
    pub fn retire(&self, kind: Kind, account: &str) -> Result<(), PortalError> {
        let now = self.clock.now();
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            let record: Record = decode("one-time token", &bytes)?;
            if now > record.expires_at.saturating_add(24 * 3600) {
                if let Some(session) = &record.session {
                    self.by_session.remove(session.as_bytes())?;
                }
                self.tree.remove(key)?;
            } else if record.kind == kind && record.account == account && !record.used {
                self.tree.insert(key, encode(&Record { used: true, ..record }))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn tokens() -> (tempfile::TempDir, Tokens, Arc<ManualClock>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let clock = Arc::new(ManualClock::new(1_000));
        let tokens = Tokens::new(&store, clock.clone()).unwrap();
        (dir, tokens, clock)
    }

    #[test]
    fn single_use_expiring_and_kind_bound() {
        let (_dir, tokens, clock) = tokens();
        let t = tokens.issue(Kind::Reset, "alice", 60, None, false).unwrap();
        assert_eq!(tokens.peek(Kind::Invitation, &t).unwrap().unwrap_err(), Refusal::Invalid);
        assert_eq!(tokens.consume(Kind::Reset, &t).unwrap().unwrap().account, "alice");
        assert_eq!(tokens.consume(Kind::Reset, &t).unwrap().unwrap_err(), Refusal::Used);
        let t = tokens.issue(Kind::Reset, "alice", 60, None, false).unwrap();
        clock.advance(60);
        assert_eq!(tokens.consume(Kind::Reset, &t).unwrap().unwrap_err(), Refusal::Expired);
        assert_eq!(tokens.peek(Kind::Reset, "short").unwrap().unwrap_err(), Refusal::Invalid);
        let other = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(tokens.peek(Kind::Reset, &other).unwrap().unwrap_err(), Refusal::Invalid);
    }

    #[test]
    fn only_the_digest_is_stored() {
        let (_dir, tokens, _) = tokens();
        let t = tokens.issue(Kind::Invitation, "bob", 60, None, false).unwrap();
        for item in tokens.tree.iter() {
            let (key, value) = item.unwrap();
            assert!(!String::from_utf8_lossy(&key).contains(&t));
            assert!(!String::from_utf8_lossy(&value).contains(&t));
        }
    }

    #[test]
    fn a_new_token_supersedes_the_old() {
        let (_dir, tokens, _) = tokens();
        let old = tokens.issue(Kind::Invitation, "bob", 60, None, false).unwrap();
        tokens.retire(Kind::Invitation, "bob").unwrap();
        assert_eq!(tokens.peek(Kind::Invitation, &old).unwrap().unwrap_err(), Refusal::Used);
    }
}
