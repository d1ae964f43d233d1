//! Password strength: the brief's minimum of eight characters and a zxcvbn score of at least 3
//! (about 10^10 guesses), with the library's own feedback when a password is refused.

use crate::accounts::MIN_PASSWORD_CHARS;

/// The lowest zxcvbn score accepted.
pub const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weak {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    TooShort,
    /// zxcvbn scored it below [`MIN_SCORE`]; its feedback (English), possibly empty.
    Guessable(String),
}

/// Checks `password`; `user_inputs` (user name, e-mail) count as known to an attacker.
pub fn check(password: &str, user_inputs: &[&str]) -> Result<(), Weak> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Weak::TooShort);
    }
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    if entropy.score() >= MIN_SCORE {
        return Ok(());
    }
    Err(Weak::Guessable(entropy.feedback().map(|f| f.to_string().trim().to_owned()).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_personal_and_strong() {
        assert_eq!(check("Ab1!", &[]), Err(Weak::TooShort));
        assert!(matches!(check("password1", &[]), Err(Weak::Guessable(f)) if !f.is_empty()));
        assert!(check("alice2026", &["alice"]).is_err());
        assert_eq!(check("Portal-pass-2026", &[]), Ok(()));
        assert_eq!(check("correct horse battery staple", &[]), Ok(()));
    }
}
