//! Passphrases and PINs from the environment (for scripts) or the terminal, never echoed.

use zeroize::Zeroizing;

use crate::error::CliError;

/// The vault passphrase: `$NYCKEL_PASSPHRASE`, else a prompt (twice when `confirm`).
pub fn vault_passphrase(confirm: bool) -> Result<Zeroizing<String>, CliError> {
    obtain("NYCKEL_PASSPHRASE", "Vault passphrase", confirm)
}

/// The backup passphrase: `$NYCKEL_BACKUP_PASSPHRASE`, else a prompt (twice when `confirm`).
pub fn backup_passphrase(confirm: bool) -> Result<Zeroizing<String>, CliError> {
    obtain("NYCKEL_BACKUP_PASSPHRASE", "Backup passphrase", confirm)
}

/// The passphrase of another app's encrypted export: `$NYCKEL_IMPORT_PASSPHRASE`, else a prompt.
pub fn import_passphrase(app: &str) -> Result<Zeroizing<String>, CliError> {
    obtain("NYCKEL_IMPORT_PASSPHRASE", &format!("Passphrase of the {app} export"), false)
}

/// The companion PIN: `$NYCKEL_PIN`, else a prompt (twice when `confirm`). Its form is checked
/// by the core; whether it is right only the server can tell.
pub fn pin(confirm: bool) -> Result<Zeroizing<String>, CliError> {
    obtain_pin("NYCKEL_PIN", "PIN", confirm)
}

/// The PIN being replaced by `nyckel pin`: `$NYCKEL_PIN`, else a prompt.
pub fn current_pin() -> Result<Zeroizing<String>, CliError> {
    obtain_pin("NYCKEL_PIN", "Current PIN", false)
}

/// The PIN chosen with `nyckel pin`: `$NYCKEL_NEW_PIN`, else a prompt, twice.
pub fn new_pin() -> Result<Zeroizing<String>, CliError> {
    obtain_pin("NYCKEL_NEW_PIN", "New PIN", true)
}

fn obtain_pin(variable: &str, prompt: &str, confirm: bool) -> Result<Zeroizing<String>, CliError> {
    let pin = match std::env::var(variable) {
        Ok(value) => Zeroizing::new(value),
        Err(std::env::VarError::NotUnicode(_)) => return Err(CliError::Pin(format!("${variable} is not valid UTF-8"))),
        Err(std::env::VarError::NotPresent) => {
            let first = ask_pin(&format!("{prompt}: "))?;
            if confirm && *first != *ask_pin(&format!("{prompt} again: "))? {
                return Err(CliError::Pin("the PINs differ".into()));
            }
            first
        }
    };
    Ok(pin)
}

fn ask_pin(prompt: &str) -> Result<Zeroizing<String>, CliError> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|error| CliError::Pin(format!("cannot read the PIN: {error}")))
}

fn obtain(variable: &str, prompt: &str, confirm: bool) -> Result<Zeroizing<String>, CliError> {
    let passphrase = match std::env::var(variable) {
        Ok(value) => Zeroizing::new(value),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(CliError::Passphrase(format!("${variable} is not valid UTF-8")));
        }
        Err(std::env::VarError::NotPresent) => {
            let first = ask(&format!("{prompt}: "))?;
            if confirm && *first != *ask(&format!("{prompt} again: "))? {
                return Err(CliError::Passphrase("the passphrases differ".into()));
            }
            first
        }
    };
    if passphrase.is_empty() {
        return Err(CliError::Passphrase("the passphrase is empty".into()));
    }
    Ok(passphrase)
}

fn ask(prompt: &str) -> Result<Zeroizing<String>, CliError> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|error| CliError::Passphrase(format!("cannot read the passphrase: {error}")))
}
