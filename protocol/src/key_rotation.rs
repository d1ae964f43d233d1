//! Server key rotation: a new Ed25519 key endorsed by the old one, and following such a
//! chain from the key a phone pinned at enrollment.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::canonical::{tags, Canonical};
use crate::keys::{ServerPublicKey, ServerSignature, ServerSigningKey};

/// Why a rotation (or a chain of them) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRotationError {
    /// A rotation from a key in the chain is not signed by that key.
    #[error("a key rotation is not signed by its old key")]
    BadSignature,
    /// A rotation to the key it comes from.
    #[error("a key rotation names the same old and new key")]
    SameKey,
    /// Two different rotations from the same key (the old key endorsed two successors).
    #[error("the key rotation chain forks")]
    Fork,
    /// The chain leads back to a key already passed.
    #[error("the key rotation chain has a cycle")]
    Cycle,
}

/// A server key rotation: `new_key` endorsed by `old_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    /// The key being retired.
    pub old_key: ServerPublicKey,
    /// Its successor.
    pub new_key: ServerPublicKey,
    /// Ed25519 by `old_key` over [`rotation_bytes`].
    pub signature: ServerSignature,
}

/// The canonical bytes of a rotation (tag `nyckel/v2/key-rotation`): old key, new key.
pub fn rotation_bytes(old_key: &ServerPublicKey, new_key: &ServerPublicKey) -> Vec<u8> {
    Canonical::new(tags::KEY_ROTATION).bytes(&old_key.0).bytes(&new_key.0).finish()
}

impl KeyRotation {
    /// The old key endorses `new_key`.
    pub fn sign(old: &ServerSigningKey, new_key: &ServerPublicKey) -> Self {
        let old_key = old.public_key();
        let signature = old.sign(&rotation_bytes(&old_key, new_key));
        Self { old_key, new_key: *new_key, signature }
    }

    /// Whether the old key signed this rotation (and it actually changes the key).
    pub fn verify(&self) -> Result<(), KeyRotationError> {
        if self.old_key == self.new_key {
            return Err(KeyRotationError::SameKey);
        }
        self.old_key
            .verify(&rotation_bytes(&self.old_key, &self.new_key), &self.signature)
            .map_err(|_| KeyRotationError::BadSignature)
    }
}

/// Follows the chain from `pinned` (the rotations may come in any order; ones that do not
/// start from a key on the path are ignored). `Ok(None)` if no rotation starts from
/// `pinned`, `Ok(Some(newest))` otherwise. Every rotation on the path must verify.
pub fn follow(pinned: &ServerPublicKey, chain: &[KeyRotation]) -> Result<Option<ServerPublicKey>, KeyRotationError> {
    let mut current = *pinned;
    let mut seen = HashSet::from([current]);
    loop {
        let mut from_here = chain.iter().filter(|r| r.old_key == current);
        let Some(step) = from_here.next() else {
            break;
        };
        if from_here.any(|other| other.new_key != step.new_key) {
            return Err(KeyRotationError::Fork);
        }
        step.verify()?;
        if !seen.insert(step.new_key) {
            return Err(KeyRotationError::Cycle);
        }
        current = step.new_key;
    }
    Ok((current != *pinned).then_some(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ServerSigningKey {
        ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap()
    }

    #[test]
    fn follows_a_chain_in_any_order() {
        let (a, b, c) = (key(), key(), key());
        let ab = KeyRotation::sign(&a, &b.public_key());
        let bc = KeyRotation::sign(&b, &c.public_key());
        assert_eq!(ab.verify(), Ok(()));
        assert_eq!(follow(&a.public_key(), &[bc.clone(), ab.clone()]), Ok(Some(c.public_key())));
        assert_eq!(follow(&b.public_key(), &[ab.clone(), bc.clone()]), Ok(Some(c.public_key())));
        assert_eq!(follow(&c.public_key(), &[ab.clone(), bc.clone()]), Ok(None));
        assert_eq!(follow(&a.public_key(), &[]), Ok(None));
        // A chain from another server's key is irrelevant.
        assert_eq!(follow(&key().public_key(), &[ab, bc]), Ok(None));
    }

    #[test]
    fn forged_forked_and_cyclic_chains_are_refused() {
        let (a, b, c, m) = (key(), key(), key(), key());
        // Signed by the attacker's key, not by the pinned one.
        let mut forged = KeyRotation::sign(&m, &m.public_key());
        forged.old_key = a.public_key();
        forged.new_key = m.public_key();
        assert_eq!(forged.verify(), Err(KeyRotationError::BadSignature));
        assert_eq!(follow(&a.public_key(), &[forged]), Err(KeyRotationError::BadSignature));
        // The new key is covered by the signature.
        let mut moved = KeyRotation::sign(&a, &b.public_key());
        moved.new_key = m.public_key();
        assert_eq!(follow(&a.public_key(), &[moved]), Err(KeyRotationError::BadSignature));
        // Two successors of one key.
        let ab = KeyRotation::sign(&a, &b.public_key());
        let ac = KeyRotation::sign(&a, &c.public_key());
        assert_eq!(follow(&a.public_key(), &[ab.clone(), ac]), Err(KeyRotationError::Fork));
        // Duplicates of the same rotation are fine.
        assert_eq!(follow(&a.public_key(), &[ab.clone(), ab.clone()]), Ok(Some(b.public_key())));
        // a -> b -> a.
        let ba = KeyRotation::sign(&b, &a.public_key());
        assert_eq!(follow(&a.public_key(), &[ab, ba]), Err(KeyRotationError::Cycle));
        let same = KeyRotation::sign(&a, &a.public_key());
        assert_eq!(same.verify(), Err(KeyRotationError::SameKey));
    }

    #[test]
    fn malformed_json() {
        let r = KeyRotation::sign(&key(), &key().public_key());
        let mut json = serde_json::to_value(&r).unwrap();
        assert_eq!(serde_json::from_value::<KeyRotation>(json.clone()).unwrap(), r);
        json["extra"] = 1.into();
        assert!(serde_json::from_value::<KeyRotation>(json).is_err());
        assert!(
            serde_json::from_str::<KeyRotation>(r#"{"old_key":"AAAA","new_key":"AAAA","signature":"AAAA"}"#).is_err()
        );
    }
}
