//! Six-digit one-time codes sent by SMS or e-mail: issued for one purpose and target, valid five
//! minutes, used once, void after five wrong tries; only a keyed hash of the code is stored.

use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::error::PortalError;
use crate::store::{decode, encode, Store};

/// How long a code is valid, seconds.
pub const CODE_TTL: u64 = 5 * 60;
/// Wrong tries after which a code is void.
pub const MAX_CODE_TRIES: u32 = 5;

/// What a code is for; one live code per account and purpose (a new one replaces the old).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// Verifying a mobile number.
    VerifyPhone,
    /// Signing in with an SMS code.
    SmsSignIn,
    /// Verifying a contact e-mail address (one code per address).
    VerifyEmail(String),
}

impl Purpose {
    fn key(&self, account: &str) -> Vec<u8> {
        match self {
            Purpose::VerifyPhone => format!("phone\0{account}"),
            Purpose::SmsSignIn => format!("sms\0{account}"),
            Purpose::VerifyEmail(address) => format!("email\0{account}\0{address}"),
        }
        .into_bytes()
    }
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// No code was issued (or it was used, or replaced).
    None,
    /// The code expired.
    Expired,
    /// Wrong code; it stays valid until [`MAX_CODE_TRIES`] wrong ones.
    Wrong,
    /// Too many wrong tries: the code is void.
    TooManyTries,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IssuedCode {
    /// SHA-256 over a per-code salt and the code.
    hash: Vec<u8>,
    salt: Vec<u8>,
    /// Where it was sent (number or address), so a code proves that target.
    target: String,
    expires_at: u64,
    tries: u32,
}

fn digest(salt: &[u8], code: &str) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(salt);
    ctx.update(code.as_bytes());
    ctx.finish().as_ref().to_vec()
}

/// Keeps only the digits of what was typed (people type spaces and dashes).
pub fn normalise(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect()
}

/// The code store.
#[derive(Clone)]
pub struct Codes {
    tree: sled::Tree,
    clock: Arc<dyn Clock>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Codes {
    /// Codes in `store`'s `codes` tree.
    pub fn new(store: &Store, clock: Arc<dyn Clock>) -> Result<Self, PortalError> {
        Ok(Self { tree: store.tree("codes")?, clock, lock: Arc::new(tokio::sync::Mutex::new(())) })
    }

    /// Deletes every expired code (the sweeper); how many.
    pub fn sweep(&self) -> Result<usize, PortalError> {
        let now = self.clock.now();
        let mut removed = 0;
        for item in self.tree.iter() {
            let (key, bytes) = item?;
            let record: IssuedCode = decode("one-time code", &bytes)?;
            if now >= record.expires_at && crate::store::remove_if_unchanged(&self.tree, &key, &bytes)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Issues a new code for `account`, `purpose` and `target`, replacing any earlier one;
    /// returns the code to send.
    pub async fn issue(&self, account: &str, purpose: &Purpose, target: &str) -> Result<String, PortalError> {
        let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
        let salt: [u8; 16] = rand::random();
        let record = IssuedCode {
            hash: digest(&salt, &code),
            salt: salt.to_vec(),
            target: target.to_owned(),
            expires_at: self.clock.now() + CODE_TTL,
            tries: 0,
        };
        let _guard = self.lock.lock().await;
        self.tree.insert(purpose.key(account), encode(&record))?;
        Ok(code)
    }

    /// Checks `typed` against the live code: right → the code is consumed and its target
    /// returned; wrong → counted (void after [`MAX_CODE_TRIES`]).
    pub async fn check(
        &self,
        account: &str,
        purpose: &Purpose,
        typed: &str,
    ) -> Result<Result<String, CodeRefusal>, PortalError> {
        let key = purpose.key(account);
        let _guard = self.lock.lock().await;
        let Some(bytes) = self.tree.get(&key)? else { return Ok(Err(CodeRefusal::None)) };
        let mut record: IssuedCode = decode("one-time code", &bytes)?;
        if self.clock.now() >= record.expires_at {
            self.tree.remove(&key)?;
            return Ok(Err(CodeRefusal::Expired));
        }
        let typed = normalise(typed);
        let right = typed.len() == 6 && bool::from(digest(&record.salt, &typed).ct_eq(&record.hash));
        if right {
            // Used once: removed before the caller acts on it.
            self.tree.remove(&key)?;
            return Ok(Ok(record.target));
        }
        record.tries += 1;
        if record.tries >= MAX_CODE_TRIES {
            self.tree.remove(&key)?;
            return Ok(Err(CodeRefusal::TooManyTries));
        }
        self.tree.insert(key, encode(&record))?;
        Ok(Err(CodeRefusal::Wrong))
    }

    /// Whether a live code exists (for pages that show the code field only then).
    pub fn pending_target(&self, account: &str, purpose: &Purpose) -> Result<Option<String>, PortalError> {
        let Some(bytes) = self.tree.get(purpose.key(account))? else { return Ok(None) };
        let record: IssuedCode = decode("one-time code", &bytes)?;
        Ok((self.clock.now() < record.expires_at).then_some(record.target))
    }

    /// Drops the code of `purpose` (an address removed, a number replaced).
    pub fn revoke(&self, account: &str, purpose: &Purpose) -> Result<(), PortalError> {
        self.tree.remove(purpose.key(account))?;
        Ok(())
    }
}

/// Messages per account within a window (SMS, verification e-mail): each send is counted before
/// it goes out, so a failing transport is no way around the limit.
#[derive(Clone)]
pub struct SendLimit {
    tree: sled::Tree,
    clock: Arc<dyn Clock>,
    lock: Arc<tokio::sync::Mutex<()>>,
    max: usize,
    window: u64,
}

impl SendLimit {
    /// At most `max` sends per account within `window` seconds, counted in `store`'s tree `name`.
    pub fn new(store: &Store, name: &str, clock: Arc<dyn Clock>, max: usize, window: u64) -> Result<Self, PortalError> {
        Ok(Self { tree: store.tree(name)?, clock, lock: Arc::new(tokio::sync::Mutex::new(())), max, window })
    }

    /// Counts one send for `account`; false (and nothing counted) when the limit is reached.
    pub async fn allow(&self, account: &str) -> Result<bool, PortalError> {
        let _guard = self.lock.lock().await;
        let now = self.clock.now();
        let mut times: Vec<u64> = match self.tree.get(account.as_bytes())? {
            Some(bytes) => decode("send times", &bytes)?,
            None => Vec::new(),
        };
        times.retain(|t| now.saturating_sub(*t) < self.window);
        if times.len() >= self.max {
            return Ok(false);
        }
        times.push(now);
        self.tree.insert(account.as_bytes(), encode(&times))?;
        Ok(true)
    }
}
