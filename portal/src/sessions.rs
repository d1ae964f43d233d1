//! Browser sessions: random ids (only their SHA-256 is stored), a CSRF token each, the stage
//! of the sign-in, and a new id whenever the stage gains privileges (no session fixation).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::error::PortalError;
use crate::store::{decode, encode, Store};

/// An idle session ends after this long.
pub const IDLE_TIMEOUT: u64 = 30 * 60;

/// How far a session has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    /// Nobody signed in.
    Anonymous,
    /// The password was right; a second factor is due.
    Password {
        /// The account.
        account: String,
    },
    /// The password was right and the account has no second factor yet: it may only set one up.
    NeedsFactor {
        /// The account.
        account: String,
    },
    /// Fully signed in.
    SignedIn {
        /// The account.
        account: String,
    },
}

/// A second-factor challenge under way in this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PendingFactor {
    /// A push: the number the browser shows.
    Push {
        /// The RP API challenge.
        challenge_id: String,
        /// The number to type on the phone.
        number: Option<String>,
        /// Expiry, Unix seconds.
        expires_at: u64,
    },
    /// A QR code answered with an 8-digit one-time password.
    Qr {
        /// The RP API challenge.
        challenge_id: String,
        /// The `nyckel://login` code.
        qr: String,
        /// Expiry, Unix seconds.
        expires_at: u64,
    },
}

/// A phone registration started from this session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEnrollment {
    /// The RP API enrollment.
    pub enrollment_id: String,
    /// The `nyckel://enroll` code.
    pub qr: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

/// One browser session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
    /// Sign-in stage.
    pub stage: Stage,
    /// A second-factor challenge under way.
    #[serde(default)]
    pub factor: Option<PendingFactor>,
    /// A phone registration under way.
    #[serde(default)]
    pub enrollment: Option<PendingEnrollment>,
    /// An authenticator-app secret shown but not yet confirmed, sealed
    /// ([`PENDING_TOTP_SEAL_PURPOSE`]) for the account and this session's id: the session
    /// record never holds the secret itself, and a value copied to another session or account
    /// does not open. Use [`Session::seal_pending_totp`] and [`Session::pending_totp`].
    #[serde(default)]
    pub totp_pending: Option<String>,
    /// Last activity, Unix seconds.
    pub touched_at: u64,
}

/// The sealing purpose of [`Session::totp_pending`] (its own key, derived from the portal key).
pub const PENDING_TOTP_SEAL_PURPOSE: &str = "nyckel-portal pending totp secret v1";

/// What a pending secret is sealed for: the account and the session id (which the store
/// keeps only as a hash, so the record alone does not name it).
fn pending_owner(account: &str, sid: &str) -> String {
    format!("{account}\u{0}{sid}")
}

impl Session {
    /// Keeps `secret` as the authenticator-app secret being set up by `account` in session `sid`,
    /// sealed.
    pub fn seal_pending_totp(
        &mut self,
        sealer: &crate::seal::Sealer,
        account: &str,
        sid: &str,
        secret: &str,
    ) -> Result<(), PortalError> {
        self.totp_pending = Some(sealer.seal(&pending_owner(account, sid), secret)?);
        Ok(())
    }

    /// The authenticator-app secret being set up by `account` in session `sid`; `None` when
    /// there is none or it does not open (sealed for another account or session, or a plain
    /// value of an older portal), so the set-up starts again with a new secret.
    pub fn pending_totp(
        &self,
        sealer: &crate::seal::Sealer,
        account: &str,
        sid: &str,
    ) -> Option<zeroize::Zeroizing<String>> {
        let sealed = self.totp_pending.as_deref()?;
        match sealer.open(&pending_owner(account, sid), sealed) {
            Ok(secret) => Some(secret),
            Err(e) => {
                tracing::warn!(account, error = %e, "a pending authenticator-app secret did not open; starting again");
                None
            }
        }
    }
    /// The account of a session past the password, whatever the stage.
    pub fn account(&self) -> Option<&str> {
        match &self.stage {
            Stage::Anonymous => None,
            Stage::Password { account } | Stage::NeedsFactor { account } | Stage::SignedIn { account } => Some(account),
        }
    }

    /// The account of a fully signed-in session.
    pub fn signed_in(&self) -> Option<&str> {
        match &self.stage {
            Stage::SignedIn { account } => Some(account),
            _ => None,
        }
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        !token.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(token.as_bytes()))
    }
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

fn storage_key(id: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, id.as_bytes()).as_ref().to_vec()
}

/// The session store.
#[derive(Clone)]
pub struct Sessions {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Sessions {
    /// Sessions in `store`, timed by `clock`.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// The live session with cookie value `id`, touched now; an expired one is deleted.
    pub fn load(&self, id: &str) -> Result<Option<Session>, PortalError> {
        let key = storage_key(id);
        let Some(bytes) = self.store.sessions().get(&key)? else { return Ok(None) };
        let mut session: Session = decode("session", &bytes)?;
        let now = self.clock.now();
        if now.saturating_sub(session.touched_at) > IDLE_TIMEOUT {
            self.store.sessions().remove(&key)?;
            return Ok(None);
        }
        session.touched_at = now;
        self.store.sessions().insert(key, encode(&session))?;
        Ok(Some(session))
    }

    /// A new anonymous session; returns its id (the cookie value) and the session.
    pub fn create(&self) -> Result<(String, Session), PortalError> {
        self.create_with(Stage::Anonymous)
    }

    fn create_with(&self, stage: Stage) -> Result<(String, Session), PortalError> {
        let id = random_token();
        let session = Session {
            csrf: random_token(),
            stage,
            factor: None,
            enrollment: None,
            totp_pending: None,
            touched_at: self.clock.now(),
        };
        self.store.sessions().insert(storage_key(&id), encode(&session))?;
        Ok((id, session))
    }

    /// Saves changes to the session `id`.
    pub fn save(&self, id: &str, session: &Session) -> Result<(), PortalError> {
        self.store.sessions().insert(storage_key(id), encode(session))?;
        Ok(())
    }

    /// Ends session `id` and starts a new one at `stage`, with a new id and CSRF token: the id
    /// a browser had before signing in (perhaps planted by someone else) is worthless after.
    pub fn rotate(&self, old_id: &str, stage: Stage) -> Result<(String, Session), PortalError> {
        self.store.sessions().remove(storage_key(old_id))?;
        self.create_with(stage)
    }

    /// Deletes every session idle longer than [`IDLE_TIMEOUT`] (the sweeper); how many.
    pub fn sweep(&self) -> Result<usize, PortalError> {
        let now = self.clock.now();
        let mut removed = 0;
        for item in self.store.sessions().iter() {
            let (key, bytes) = item?;
            let session: Session = decode("session", &bytes)?;
            if now.saturating_sub(session.touched_at) > IDLE_TIMEOUT
                && crate::store::remove_if_unchanged(self.store.sessions(), &key, &bytes)?
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) -> Result<(), PortalError> {
        self.store.sessions().remove(storage_key(id))?;
        Ok(())
    }
}
