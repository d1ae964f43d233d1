//! The app PIN of privacyIDEA and tiqr tokens: a local gate, checked on the phone only.
//!
//! privacyIDEA's push protocol has no PIN on the wire: the server's `pin=True` policy only
//! asks the app to lock answers behind a PIN or biometrics. This gate does that, and no
//! more: whoever can read the phone's storage can bypass it, unlike the PIN of Nyckel's own
//! registrations, which the server checks and counts (PROTOCOL.md §4).

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use subtle_compare::ct_eq;

/// Wrong PINs in a row after which the gate stays shut until the app resets it.
pub const MAX_FAILURES: u32 = 5;

/// Why the gate refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinGateError {
    /// Wrong PIN; `attempts_left` before the gate locks.
    #[error("wrong app PIN ({attempts_left} attempts left)")]
    WrongPin {
        /// Attempts left.
        attempts_left: u32,
    },
    /// Too many wrong PINs: the gate is locked.
    #[error("the app PIN is locked after too many wrong attempts")]
    Locked,
    /// A PIN shorter than 4 characters.
    #[error("an app PIN needs at least 4 characters")]
    TooShort,
    /// The hash could not be computed.
    #[error("cannot hash the app PIN: {0}")]
    Hash(String),
}

/// An Argon2id verifier of the app PIN and its failure count. Persist it with the token
/// (it holds no secret beyond a slow hash of the PIN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalPinGate {
    salt: [u8; 16],
    hash: [u8; 32],
    failures: u32,
}

mod subtle_compare {
    /// Constant-time equality, so the comparison does not leak how much of the hash matched.
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

fn hash(pin: &str, salt: &[u8; 16]) -> Result<[u8; 32], PinGateError> {
    // 19 MiB, 2 passes: OWASP's Argon2id minimum; a local gate does not justify more delay.
    let params = Params::new(19 * 1024, 2, 1, Some(32)).map_err(|error| PinGateError::Hash(error.to_string()))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pin.as_bytes(), salt, &mut out)
        .map_err(|error| PinGateError::Hash(error.to_string()))?;
    Ok(out)
}

impl LocalPinGate {
    /// A gate opening for `pin`.
    pub fn new(pin: &str) -> Result<Self, PinGateError> {
        if pin.chars().count() < 4 {
            return Err(PinGateError::TooShort);
        }
        let mut salt = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .map_err(|_| PinGateError::Hash("no randomness".into()))?;
        Ok(Self { hash: hash(pin, &salt)?, salt, failures: 0 })
    }

    /// Checks `pin`, counting failures; persist the gate afterwards either way.
    pub fn check(&mut self, pin: &str) -> Result<(), PinGateError> {
        if self.failures >= MAX_FAILURES {
            return Err(PinGateError::Locked);
        }
        if ct_eq(&hash(pin, &self.salt)?, &self.hash) {
            self.failures = 0;
            Ok(())
        } else {
            self.failures += 1;
            match MAX_FAILURES - self.failures {
                0 => Err(PinGateError::Locked),
                attempts_left => Err(PinGateError::WrongPin { attempts_left }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_for_the_pin_only_and_locks_after_five_failures() {
        let mut gate = LocalPinGate::new("2468").unwrap();
        gate.check("2468").unwrap();
        assert_eq!(gate.check("1357"), Err(PinGateError::WrongPin { attempts_left: 4 }));
        gate.check("2468").unwrap();
        for left in (1..MAX_FAILURES).rev() {
            assert_eq!(gate.check("0000"), Err(PinGateError::WrongPin { attempts_left: left }));
        }
        assert_eq!(gate.check("0000"), Err(PinGateError::Locked));
        assert_eq!(gate.check("2468"), Err(PinGateError::Locked));
        assert_eq!(LocalPinGate::new("12"), Err(PinGateError::TooShort));
    }
}
