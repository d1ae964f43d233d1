//! Companion registrations in the vault: one sealed record per registration with a server.
//!
//! A record holds what the phone needs to answer for one account on one server — the
//! pinned server key, the device id, the device key's alias and the blinded PIN secret
//! `E` — and the challenge ids it has already shown (replay protection). It deliberately
//! holds nothing that could confirm a PIN guess offline (docs/PROTOCOL.md §4.4): the
//! blinded secret is exactly `{kdf, salt, blinded}`. With biometrics enabled the record also
//! holds `B`, `S` sealed by a platform key that requires user authentication (§4.8); `B` is
//! written in the same compare-and-swap as `E` whenever `S` changes, so the two never disagree.

use nyckel_protocol::policy::CHALLENGE_CLOCK_SKEW;
use nyckel_protocol::{BlindedPinSecret, ChallengeId, DeviceId, ServerPublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{seal, Vault, VaultError};

/// Identifies a registration inside one vault (16 random bytes, base64url).
pub type RegistrationId = String;

/// Most challenge ids remembered per registration; the oldest are dropped beyond it.
/// A challenge lives at most 600 s, so this is far more than an honest server can send.
pub const MAX_SEEN_CHALLENGES: usize = 512;

const TREE: &str = "registrations";

/// One registration of this phone with a Nyckel server, for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The vault's identifier for it.
    pub id: RegistrationId,
    /// The label from the enrollment QR code, if any. Unsigned: shown only as secondary text
    /// next to the signed user, organisation and host, never alone.
    pub label: Option<String>,
    /// The server's base URL; endpoints are `server_url + "/v1/…"`.
    pub server_url: String,
    /// The server's Ed25519 key, pinned at enrollment.
    pub server_key: ServerPublicKey,
    /// The user the server registered the device for (signed in the receipt).
    pub user: String,
    /// The organisation (tenant) of the user (signed in the receipt; empty in records made
    /// before protocol v2).
    #[serde(default)]
    pub organisation: String,
    /// The host of `server_url` (what the phone talked to, covered by the receipt signature).
    #[serde(default)]
    pub server_host: String,
    /// The device key's fingerprint ([`nyckel_protocol::device_fingerprint`]), as the browser
    /// showed it at enrollment.
    #[serde(default)]
    pub device_fingerprint: String,
    /// The device name chosen when the enrollment was started.
    pub device_name: String,
    /// The device id the server assigned.
    pub device_id: DeviceId,
    /// Alias of the device key in the device key store.
    pub key_alias: String,
    /// When the registration completed (phone clock), Unix seconds.
    pub created_at: u64,
    /// `E = S XOR KDF(PIN, salt)` with its salt and KDF: never anything that verifies a PIN.
    pub pin: BlindedPinSecret,
    /// Challenge ids already shown, kept until their expiry plus the clock skew.
    #[serde(default)]
    pub seen: Vec<SeenChallenge>,
    /// `B`: the same `S` sealed by the platform's biometric key (PROTOCOL.md §4.8), when the
    /// user enabled biometrics for this registration. Absent from records without it, so their
    /// stored form is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometric: Option<BiometricSeal>,
}

/// `B = AES-256-GCM(K_bio, S)` (or the platform's equivalent, PROTOCOL.md §4.8) and the alias
/// of `K_bio` in the platform's biometric key store. The core never sees `K_bio`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiometricSeal {
    /// Alias of the key in the platform's biometric key store.
    pub key_alias: String,
    /// The platform's ciphertext of `S` (nonce and tag included), bound to the registration
    /// and device id as associated data.
    #[serde(with = "b64_vec")]
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for BiometricSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BiometricSeal({:?}, <{} bytes>)", self.key_alias, self.sealed.len())
    }
}

/// Base64url for a byte string of any length inside a sealed record.
mod b64_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&nyckel_protocol::b64::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        nyckel_protocol::b64::decode(&text).map_err(serde::de::Error::custom)
    }
}

/// A challenge id the phone has shown, remembered so that it is never shown twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeenChallenge {
    /// The challenge.
    pub id: ChallengeId,
    /// Forgotten after this Unix time (expiry + skew: it would be refused as expired by then).
    pub keep_until: u64,
    /// Whether the phone has given its final answer to it.
    #[serde(default)]
    pub answered: bool,
}

/// What the seen list knew of a challenge before [`Vault::record_seen_challenge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenBefore {
    /// Never seen: now recorded.
    No,
    /// Shown before, not answered yet.
    Shown,
    /// Shown and answered.
    Answered,
}

impl Registration {
    /// What to call it in a list, built only from signed facts: `user @ organisation (host)`
    /// (`user @ host` for a record without an organisation). The QR label is unsigned and is
    /// never used here; UIs may show it as secondary text.
    pub fn display_name(&self) -> String {
        let host = if self.server_host.is_empty() { host_of(&self.server_url) } else { self.server_host.clone() };
        if self.organisation.is_empty() {
            format!("{} @ {host}", self.user)
        } else {
            format!("{} @ {} ({host})", self.user, self.organisation)
        }
    }
}

/// The host (with a non-default port) of a server URL; the URL itself if it does not parse.
pub fn host_of(server_url: &str) -> String {
    match url::Url::parse(server_url) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => server_url.to_owned(),
        },
        Err(_) => server_url.to_owned(),
    }
}

impl Vault {
    /// Stores a new registration; it is on disk when this returns.
    pub fn add_registration(&self, registration: &Registration) -> Result<(), VaultError> {
        let tree = self.registrations_tree()?;
        let sealed = self.seal_registration(registration)?;
        tree.compare_and_swap(registration.id.as_bytes(), None::<&[u8]>, Some(sealed))
            .map_err(VaultError::Storage)?
            .map_err(|_| VaultError::Corrupt(format!("registration {} already exists", registration.id)))?;
        self.flush()
    }

    /// Every registration, oldest first.
    pub fn registrations(&self) -> Result<Vec<Registration>, VaultError> {
        let tree = self.registrations_tree()?;
        let mut all = tree
            .iter()
            .map(|item| {
                let (key, value) = item.map_err(VaultError::Storage)?;
                let id = std::str::from_utf8(&key)
                    .map_err(|_| VaultError::Corrupt("registration key is not UTF-8".into()))?;
                self.open_registration(id, &value)
            })
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// One registration, or `None` when there is no such id.
    pub fn registration(&self, id: &str) -> Result<Option<Registration>, VaultError> {
        let tree = self.registrations_tree()?;
        match tree.get(id.as_bytes()).map_err(VaultError::Storage)? {
            Some(value) => self.open_registration(id, &value).map(Some),
            None => Ok(None),
        }
    }

    /// Removes a registration for good; `false` when there was none.
    pub fn remove_registration(&self, id: &str) -> Result<bool, VaultError> {
        let removed = self.registrations_tree()?.remove(id.as_bytes()).map_err(VaultError::Storage)?.is_some();
        self.flush()?;
        Ok(removed)
    }

    /// Records that challenge `challenge` of registration `id` (expiring at `expires_at`) is
    /// being shown, and says what was known of it before. Forgets ids whose time has passed.
    /// On disk when it returns.
    pub fn record_seen_challenge(
        &self,
        id: &str,
        challenge: &ChallengeId,
        expires_at: u64,
        now: u64,
    ) -> Result<SeenBefore, VaultError> {
        let mut before = SeenBefore::No;
        self.update_registration(id, |registration| {
            if let Some(seen) = registration.seen.iter().find(|seen| &seen.id == challenge) {
                before = if seen.answered { SeenBefore::Answered } else { SeenBefore::Shown };
                return false;
            }
            registration.seen.retain(|seen| seen.keep_until >= now);
            registration.seen.push(SeenChallenge {
                id: challenge.clone(),
                keep_until: expires_at.saturating_add(CHALLENGE_CLOCK_SKEW),
                answered: false,
            });
            if registration.seen.len() > MAX_SEEN_CHALLENGES {
                registration.seen.sort_by_key(|seen| seen.keep_until);
                let excess = registration.seen.len() - MAX_SEEN_CHALLENGES;
                registration.seen.drain(..excess);
            }
            true
        })?;
        Ok(before)
    }

    /// Records that the phone gave its final answer to a challenge it showed, so the
    /// challenge is never offered again. On disk when it returns.
    pub fn mark_challenge_answered(&self, id: &str, challenge: &ChallengeId) -> Result<(), VaultError> {
        self.update_registration(id, |registration| {
            match registration.seen.iter_mut().find(|seen| &seen.id == challenge) {
                Some(seen) if !seen.answered => {
                    seen.answered = true;
                    true
                }
                _ => false,
            }
        })
    }

    /// Replaces the blinded PIN secret of registration `id` (a PIN change) and, with it, the
    /// biometric seal: `biometric` is `B` of the new `S`, or `None` to drop `B` — a `B` of the old
    /// `S` never survives the change. Every other field is kept as it is on disk at that moment;
    /// `false` when there is no such registration. The record is swapped whole in one
    /// compare-and-swap, so it is either the old record or the new one, never a mix; on disk
    /// when it returns.
    pub fn replace_registration_pin(
        &self,
        id: &str,
        pin: &BlindedPinSecret,
        biometric: Option<&BiometricSeal>,
    ) -> Result<bool, VaultError> {
        self.update_registration_if_present(id, |registration| {
            registration.pin = pin.clone();
            registration.biometric = biometric.cloned();
            true
        })
    }

    /// Stores `B` for registration `id`, but only while its blinded PIN secret is still
    /// `expected_pin` — the record `S` was recovered from — so a PIN change that ran meanwhile
    /// can never be paired with a `B` of the old `S`. `false` when the registration is gone or
    /// its PIN record changed (nothing is written then); on disk when it returns.
    pub fn set_registration_biometric(
        &self,
        id: &str,
        expected_pin: &BlindedPinSecret,
        seal: &BiometricSeal,
    ) -> Result<bool, VaultError> {
        let mut stored = false;
        self.update_registration_if_present(id, |registration| {
            stored = registration.pin == *expected_pin;
            if stored {
                registration.biometric = Some(seal.clone());
            }
            stored
        })?;
        Ok(stored)
    }

    /// Drops `B` of registration `id` — any `B`, or with `only` just that one (so a `B` enabled
    /// again meanwhile is kept). Returns the seal removed; on disk when it returns.
    pub fn clear_registration_biometric(
        &self,
        id: &str,
        only: Option<&BiometricSeal>,
    ) -> Result<Option<BiometricSeal>, VaultError> {
        let mut removed = None;
        self.update_registration_if_present(id, |registration| {
            removed = match (&registration.biometric, only) {
                (Some(current), Some(wanted)) if current != wanted => None,
                _ => registration.biometric.take(),
            };
            removed.is_some()
        })?;
        Ok(removed)
    }

    /// Replaces the pinned server key of registration `id` (a key rotation the phone followed);
    /// `false` when there is no such registration. On disk when it returns.
    pub fn replace_registration_server_key(&self, id: &str, key: &ServerPublicKey) -> Result<bool, VaultError> {
        self.update_registration_if_present(id, |registration| {
            if registration.server_key == *key {
                return false;
            }
            registration.server_key = *key;
            true
        })
    }

    /// Read-modify-write with compare-and-swap; `change` returns whether it changed anything.
    fn update_registration(&self, id: &str, change: impl FnMut(&mut Registration) -> bool) -> Result<(), VaultError> {
        if self.update_registration_if_present(id, change)? {
            Ok(())
        } else {
            Err(VaultError::Corrupt(format!("registration {id} vanished")))
        }
    }

    /// [`Self::update_registration`], with `false` instead of an error when there is no record
    /// (e.g. forgotten while a network call was in flight).
    fn update_registration_if_present(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Registration) -> bool,
    ) -> Result<bool, VaultError> {
        let tree = self.registrations_tree()?;
        loop {
            let Some(old) = tree.get(id.as_bytes()).map_err(VaultError::Storage)? else {
                return Ok(false);
            };
            let mut registration = self.open_registration(id, &old)?;
            if !change(&mut registration) {
                return Ok(true);
            }
            let new = self.seal_registration(&registration)?;
            // Retried when another writer (the seen list) changed the record meanwhile, so
            // neither write undoes the other.
            if tree.compare_and_swap(id.as_bytes(), Some(&old), Some(new)).map_err(VaultError::Storage)?.is_ok() {
                self.flush()?;
                return Ok(true);
            }
        }
    }

    fn registrations_tree(&self) -> Result<sled::Tree, VaultError> {
        self.db.open_tree(TREE).map_err(VaultError::Storage)
    }

    fn seal_registration(&self, registration: &Registration) -> Result<Vec<u8>, VaultError> {
        let plain =
            Zeroizing::new(serde_json::to_vec(registration).map_err(|error| VaultError::Corrupt(error.to_string()))?);
        Ok(seal::seal(&self.key, &plain, &registration_aad(&registration.id))?)
    }

    fn open_registration(&self, id: &str, sealed: &[u8]) -> Result<Registration, VaultError> {
        let plain = seal::open(&self.key, sealed, &registration_aad(id))
            .map_err(|error| VaultError::Corrupt(format!("registration {id}: {error}")))?;
        let registration: Registration = serde_json::from_slice(&plain)
            .map_err(|error| VaultError::Corrupt(format!("registration {id}: {error}")))?;
        if registration.id != id {
            return Err(VaultError::Corrupt(format!("registration {id} holds the record of {}", registration.id)));
        }
        Ok(registration)
    }
}

/// Binds a record to its key, so records cannot be swapped between slots undetected.
fn registration_aad(id: &str) -> Vec<u8> {
    [b"nyckel-registration/".as_slice(), id.as_bytes()].concat()
}
