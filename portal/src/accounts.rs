//! Accounts and their sign-in rules: Argon2id passwords, five wrong in a row block the account
//! until a reset, four months unused make it inactive, and the account's TOTP secret.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::Clock;
use crate::error::PortalError;
use crate::seal::Sealer;
use crate::store::{decode, encode, Store};

/// Wrong passwords (or authenticator codes) in a row that block an account until a reset.
pub const MAX_FAILURES: u32 = 5;
/// An account unused this long (about four months) is inactive until a reset.
pub const INACTIVE_AFTER: u64 = 122 * 24 * 3600;
/// The brief's minimum password length.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// One account of the portal. The user name is also the user's name at the second-factor
/// server (in the relying party's tenant).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    /// The user name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Wrong passwords or codes in a row.
    pub failures: u32,
    /// Blocked after [`MAX_FAILURES`]; only a reset lifts it.
    pub blocked: bool,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Last completed sign-in (or creation, or reset), Unix seconds.
    pub last_used_at: u64,
    /// The secret of an authenticator app (TOTP, SHA-1, 6 digits, 30 s), base32, sealed
    /// ([`crate::seal`], AES-256-GCM with this account's name as associated data).
    #[serde(default)]
    pub totp_sealed: Option<String>,
    /// A plain secret from a store written before sealing; sealed when the record is read and
    /// never written back.
    #[serde(default, rename = "totp_secret", skip_serializing)]
    legacy_totp_secret: Option<String>,
    /// The last TOTP time step accepted, so a code works once.
    #[serde(default)]
    pub totp_last_step: u64,
    /// The e-mail address (set by an invitation) for sign-in links and password resets.
    #[serde(default)]
    pub email: Option<String>,
}

/// The HKDF purpose of the TOTP-secret sealing key.
pub const TOTP_SEAL_PURPOSE: &str = "nyckel-portal totp secret v1";

impl Account {
    /// Whether the account has an authenticator-app secret.
    pub fn has_totp(&self) -> bool {
        self.totp_sealed.is_some()
    }

    /// Whether the account has been unused longer than [`INACTIVE_AFTER`] at `now`.
    pub fn inactive_at(&self, now: u64) -> bool {
        now.saturating_sub(self.last_used_at) > INACTIVE_AFTER
    }
}

/// Why a password sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// Unknown user or wrong password (not told apart).
    WrongCredentials,
    /// Blocked after too many wrong passwords.
    Blocked,
    /// Unused for four months.
    Inactive,
}

/// The account rules over the store.
#[derive(Clone)]
pub struct Accounts {
    store: Store,
    clock: Arc<dyn Clock>,
    /// Serialises read-modify-write of account records (one portal process per store).
    lock: Arc<tokio::sync::Mutex<()>>,
    /// A hash verified for unknown users, so their answer takes as long as a wrong password.
    dummy_hash: Arc<String>,
    /// Seals the TOTP secrets.
    sealer: Sealer,
}

fn hash_password(password: &str) -> Result<String, PortalError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PortalError::Hash(e.to_string()))
}

fn password_matches(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Checks the name rules: 1–64 of `[a-z0-9._-]`, as the second-factor server's user names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

impl Accounts {
    /// The rules over `store`, with time from `clock`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, sealer: Sealer) -> Result<Self, PortalError> {
        let dummy_hash = Arc::new(hash_password("not a password of anyone")?);
        Ok(Self { store, clock, lock: Arc::new(tokio::sync::Mutex::new(())), dummy_hash, sealer })
    }

    /// The account named `name`, if any. A plain TOTP secret of an older store is sealed here
    /// (and so written sealed by the next update of the record).
    pub fn get(&self, name: &str) -> Result<Option<Account>, PortalError> {
        match self.store.accounts().get(name.as_bytes())? {
            Some(bytes) => {
                let mut account: Account = decode("account", &bytes)?;
                if let Some(plain) = account.legacy_totp_secret.take() {
                    if account.totp_sealed.is_none() {
                        account.totp_sealed = Some(self.sealer.seal(&account.name, &plain)?);
                    }
                }
                Ok(Some(account))
            }
            None => Ok(None),
        }
    }

    /// The account's authenticator-app secret, opened (None when it has none). A record sealed
    /// for another account name or under another key file is an error, never a secret.
    pub fn totp_secret(&self, account: &Account) -> Result<Option<Zeroizing<String>>, PortalError> {
        match &account.totp_sealed {
            Some(sealed) => self
                .sealer
                .open(&account.name, sealed)
                .map(Some)
                .map_err(|source| PortalError::Sealed { account: account.name.clone(), source }),
            None => Ok(None),
        }
    }

    fn put(&self, account: &Account) -> Result<(), PortalError> {
        self.store.accounts().insert(account.name.as_bytes(), encode(account))?;
        Ok(())
    }

    /// Creates an account (refused if the name exists, is not a valid user name, or the
    /// password is shorter than [`MIN_PASSWORD_CHARS`]).
    pub async fn create(&self, name: &str, password: &str) -> Result<Account, PortalError> {
        if !valid_name(name) {
            return Err(PortalError::InvalidAccount("a user name is 1–64 of a–z, 0–9, '.', '_', '-'"));
        }
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(PortalError::InvalidAccount("a password has at least 8 characters"));
        }
        let password = Zeroizing::new(password.to_owned());
        let hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
        let _guard = self.lock.lock().await;
        if self.get(name)?.is_some() {
            return Err(PortalError::InvalidAccount("an account with that name exists"));
        }
        let now = self.clock.now();
        let account = Account {
            name: name.to_owned(),
            password_hash: hash,
            failures: 0,
            blocked: false,
            created_at: now,
            last_used_at: now,
            totp_sealed: None,
            legacy_totp_secret: None,
            totp_last_step: 0,
            email: None,
        };
        self.put(&account)?;
        Ok(account)
    }

    /// Checks a password. A wrong one counts towards the block; the right one clears the count.
    /// A blocked account is refused without looking at the password; an inactive one only
    /// after the right password (so the state is not told to someone guessing).
    pub async fn check_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Result<Account, SignInRefusal>, PortalError> {
        let stored = self.get(name)?;
        if stored.as_ref().is_some_and(|a| a.blocked) {
            return Ok(Err(SignInRefusal::Blocked));
        }
        let hash = stored.as_ref().map(|a| a.password_hash.clone()).unwrap_or_else(|| (*self.dummy_hash).clone());
        let password = Zeroizing::new(password.to_owned());
        let right = tokio::task::spawn_blocking(move || password_matches(&hash, &password)).await?;
        let Some(_) = stored else { return Ok(Err(SignInRefusal::WrongCredentials)) };
        let _guard = self.lock.lock().await;
        // Re-read under the lock: a parallel guess may have counted in between.
        let Some(mut account) = self.get(name)? else { return Ok(Err(SignInRefusal::WrongCredentials)) };
        if account.blocked {
            return Ok(Err(SignInRefusal::Blocked));
        }
        if !right {
            return Ok(Err(self.count_failure(&mut account)?));
        }
        account.failures = 0;
        self.put(&account)?;
        if account.inactive_at(self.clock.now()) {
            return Ok(Err(SignInRefusal::Inactive));
        }
        Ok(Ok(account))
    }

    fn count_failure(&self, account: &mut Account) -> Result<SignInRefusal, PortalError> {
        account.failures = account.failures.saturating_add(1);
        if account.failures >= MAX_FAILURES {
            account.blocked = true;
        }
        self.put(account)?;
        Ok(if account.blocked { SignInRefusal::Blocked } else { SignInRefusal::WrongCredentials })
    }

    /// Counts a wrong second-factor code typed into the portal (TOTP) like a wrong password.
    pub async fn count_wrong_code(&self, name: &str) -> Result<SignInRefusal, PortalError> {
        let _guard = self.lock.lock().await;
        let Some(mut account) = self.get(name)? else { return Ok(SignInRefusal::WrongCredentials) };
        self.count_failure(&mut account)
    }

    /// Records a completed sign-in: the account is used now and its failure count cleared.
    pub async fn mark_used(&self, name: &str) -> Result<(), PortalError> {
        let _guard = self.lock.lock().await;
        let Some(mut account) = self.get(name)? else { return Err(PortalError::NoAccount(name.to_owned())) };
        account.last_used_at = self.clock.now();
        account.failures = 0;
        self.put(&account)
    }

    /// The administrator's reset: unblocks, clears the count, makes the account active again,
    /// and sets a new password when one is given.
    pub async fn reset(&self, name: &str, new_password: Option<&str>) -> Result<(), PortalError> {
        let hash = match new_password {
            Some(p) if p.chars().count() < MIN_PASSWORD_CHARS => {
                return Err(PortalError::InvalidAccount("a password has at least 8 characters"))
            }
            Some(p) => {
                let p = Zeroizing::new(p.to_owned());
                Some(tokio::task::spawn_blocking(move || hash_password(&p)).await??)
            }
            None => None,
        };
        let _guard = self.lock.lock().await;
        let Some(mut account) = self.get(name)? else { return Err(PortalError::NoAccount(name.to_owned())) };
        account.blocked = false;
        account.failures = 0;
        account.last_used_at = self.clock.now();
        if let Some(hash) = hash {
            account.password_hash = hash;
        }
        self.put(&account)
    }

    /// Stores a confirmed authenticator-app secret.
    pub async fn set_totp(&self, name: &str, secret: String, step: u64) -> Result<(), PortalError> {
        let _guard = self.lock.lock().await;
        let Some(mut account) = self.get(name)? else { return Err(PortalError::NoAccount(name.to_owned())) };
        account.totp_sealed = Some(self.sealer.seal(name, &secret)?);
        account.totp_last_step = step;
        self.put(&account)
    }

    /// Checks a TOTP code for the account: right and not used before → Ok(true) and the step
    /// is remembered; wrong → counted like a wrong password.
    pub async fn check_totp(&self, name: &str, code: &str) -> Result<Result<(), SignInRefusal>, PortalError> {
        let _guard = self.lock.lock().await;
        let Some(mut account) = self.get(name)? else { return Ok(Err(SignInRefusal::WrongCredentials)) };
        if account.blocked {
            return Ok(Err(SignInRefusal::Blocked));
        }
        let Some(secret) = self.totp_secret(&account)? else { return Ok(Err(SignInRefusal::WrongCredentials)) };
        match crate::totp::matching_step(&secret, code, self.clock.now()) {
            Some(step) if step > account.totp_last_step => {
                account.totp_last_step = step;
                account.failures = 0;
                self.put(&account)?;
                Ok(Ok(()))
            }
            _ => Ok(Err(self.count_failure(&mut account)?)),
        }
    }

    /// Creates an invited account: no password yet (nothing signs in until the invitation sets
    /// one), with `email`. An account that exists is refused unless it was invited and never
    /// set a password (the invitation is sent again).
    pub async fn create_invited(&self, name: &str, email: &str) -> Result<Account, PortalError> {
        if !valid_name(name) {
            return Err(PortalError::InvalidAccount("a user name is 1–64 of a–z, 0–9, '.', '_', '-'"));
        }
        if !crate::mail::valid_address(email) {
            return Err(PortalError::InvalidAccount("not an e-mail address"));
        }
        let _guard = self.lock.lock().await;
        let now = self.clock.now();
        let account = match self.get(name)? {
            Some(existing) if !existing.password_hash.is_empty() => {
                return Err(PortalError::InvalidAccount("an account with that name exists"))
            }
            Some(existing) => Account { email: Some(email.to_owned()), ..existing },
            None => Account {
                name: name.to_owned(),
                password_hash: String::new(),
                failures: 0,
                blocked: false,
                created_at: now,
                last_used_at: now,
                totp_sealed: None,
                legacy_totp_secret: None,
                totp_last_step: 0,
                email: Some(email.to_owned()),
            },
        };
        self.put(&account)?;
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const NOW: u64 = 1_800_000_000;

    fn accounts(dir: &std::path::Path) -> Accounts {
        let store = Store::open(dir).unwrap();
        let sealer = Sealer::new(&[9u8; 32], TOTP_SEAL_PURPOSE).unwrap();
        Accounts::new(store, Arc::new(ManualClock::new(NOW)), sealer).unwrap()
    }

    fn raw(accounts: &Accounts, name: &str) -> Vec<u8> {
        accounts.store.accounts().get(name.as_bytes()).unwrap().unwrap().to_vec()
    }

    #[tokio::test]
    async fn the_store_holds_no_totp_secret() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        accounts.create("alice", "long enough password").await.unwrap();
        let secret = crate::totp::new_secret();
        accounts.set_totp("alice", secret.clone(), 0).await.unwrap();
        let bytes = raw(&accounts, "alice");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&secret), "the plain secret is in the store: {text}");
        assert!(!text.contains("totp_secret"));
        // Sealed, it still signs in.
        let code = crate::totp::code_at_step(&secret, NOW / 30).unwrap();
        assert_eq!(accounts.check_totp("alice", &code).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_record_moved_to_another_account_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        accounts.create("alice", "long enough password").await.unwrap();
        accounts.create("mallory", "long enough password").await.unwrap();
        let secret = crate::totp::new_secret();
        accounts.set_totp("alice", secret.clone(), 0).await.unwrap();
        // Someone with write access to the store copies alice's sealed secret onto mallory.
        let alice: serde_json::Value = serde_json::from_slice(&raw(&accounts, "alice")).unwrap();
        let mut mallory: serde_json::Value = serde_json::from_slice(&raw(&accounts, "mallory")).unwrap();
        mallory["totp_sealed"] = alice["totp_sealed"].clone();
        accounts.store.accounts().insert("mallory", serde_json::to_vec(&mallory).unwrap()).unwrap();
        let record = accounts.get("mallory").unwrap().unwrap();
        assert!(matches!(accounts.totp_secret(&record), Err(PortalError::Sealed { .. })));
        let code = crate::totp::code_at_step(&secret, NOW / 30).unwrap();
        assert!(accounts.check_totp("mallory", &code).await.is_err(), "alice's code signs in as mallory");
    }

    #[tokio::test]
    async fn a_plain_secret_of_an_older_store_is_sealed_on_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = accounts(dir.path());
        accounts.create("alice", "long enough password").await.unwrap();
        let secret = crate::totp::new_secret();
        let mut old: serde_json::Value = serde_json::from_slice(&raw(&accounts, "alice")).unwrap();
        old["totp_secret"] = serde_json::Value::String(secret.clone());
        accounts.store.accounts().insert("alice", serde_json::to_vec(&old).unwrap()).unwrap();
        let code = crate::totp::code_at_step(&secret, NOW / 30).unwrap();
        assert_eq!(accounts.check_totp("alice", &code).await.unwrap(), Ok(()));
        let text = String::from_utf8(raw(&accounts, "alice")).unwrap();
        assert!(!text.contains(&secret), "still plain after a write: {text}");
        assert!(text.contains("totp_sealed"));
    }
}
