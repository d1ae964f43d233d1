//! Reading QR codes from image files: `nyckel scan` and `nyckel add --qr`.

use std::path::Path;

use nyckel_core::qr::{self, PayloadKind, QrCode};
use nyckel_core::{parse_migration, parse_otpauth, Account, MigrationCollector};

use crate::error::CliError;

fn codes_in(image: &Path) -> Result<Vec<QrCode>, CliError> {
    let bytes = std::fs::read(image).map_err(|source| CliError::Io { path: image.to_path_buf(), source })?;
    qr::scan_image(&bytes).map_err(|error| CliError::Scan { path: image.to_path_buf(), reason: error.to_string() })
}

/// Prints one line per code: what it is for, then its text (or its bytes in hex).
pub fn print_codes(image: &Path) -> Result<(), CliError> {
    let codes = codes_in(image)?;
    if codes.is_empty() {
        return Err(CliError::Scan { path: image.to_path_buf(), reason: "no QR code found".into() });
    }
    for code in codes {
        let content = match &code.text {
            Some(text) => text.clone(),
            None => code.bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
        };
        println!("{:?}\t{content}", code.kind);
    }
    Ok(())
}

/// The accounts carried by the image's otpauth and otpauth-migration codes.
pub fn accounts_in_image(image: &Path) -> Result<Vec<Account>, CliError> {
    let mut accounts = Vec::new();
    let mut exports = MigrationCollector::default();
    for code in codes_in(image)? {
        let Some(text) = code.text.as_deref() else { continue };
        match code.kind {
            PayloadKind::Otpauth => accounts.push(parse_otpauth(text)?),
            PayloadKind::OtpauthMigration => exports.add(parse_migration(text)?),
            _ => {}
        }
    }
    for (batch_id, missing) in exports.missing() {
        let missing: Vec<String> = missing.iter().map(|index| (index + 1).to_string()).collect();
        eprintln!("nyckel: warning: export {batch_id} is missing QR code(s) {}; adding the rest", missing.join(", "));
    }
    accounts.extend(exports.into_accounts());
    if accounts.is_empty() {
        return Err(CliError::Scan { path: image.to_path_buf(), reason: "no authenticator QR code found".into() });
    }
    Ok(accounts)
}
