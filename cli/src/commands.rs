//! What each subcommand does, on top of the core vault.

use std::path::{Path, PathBuf};

use nyckel_core::{
    detect_import_format, parse_migration, parse_otpauth, Account, Clock, EntryOutcome, FixedClock, ImportError,
    ImportFormat, ImportReport, KdfParams, MigrationCollector, OtpKind, PassphraseKeyStore, SystemClock, Vault,
    VaultError,
};

use crate::args::{Cli, Command, Global};
use crate::error::CliError;
use crate::{scan, secrets, select};

pub fn run(cli: Cli) -> Result<(), CliError> {
    let path = vault_path(&cli.global)?;
    match cli.command {
        Command::Init { kdf_memory_kib, kdf_iterations } => {
            let params = KdfParams { memory_kib: kdf_memory_kib, iterations: kdf_iterations, parallelism: 1 };
            let store = PassphraseKeyStore::new(secrets::vault_passphrase(true)?, params);
            Vault::create(&path, &store)?;
            println!("created vault at {}", path.display());
        }
        Command::Add { uri: Some(uri), .. } => {
            let text = uri.to_str().ok_or(nyckel_core::UriError::NotUtf8)?;
            let account = parse_otpauth(text)?;
            let vault = open(&path)?;
            let label = account.label();
            // privacyIDEA's URIs name the token's serial and creator: kept beside the account.
            let id = vault.add_with_origin(account, nyckel_core::TokenOrigin::from_otpauth(text).as_ref())?;
            println!("added #{id} {label}");
        }
        Command::Add { uri: None, qr: Some(image) } => {
            let accounts = scan::accounts_in_image(&image)?;
            let vault = open(&path)?;
            let labels: Vec<String> = accounts.iter().map(Account::label).collect();
            let report = vault.add_all(accounts)?;
            println!(
                "added {} accounts ({} already present): {}",
                report.added.len(),
                report.duplicates,
                labels.join(", ")
            );
        }
        Command::Add { uri: None, qr: None } => {
            return Err(CliError::Input("give an otpauth URI or --qr IMAGE".into()))
        }
        Command::Scan { image } => scan::print_codes(&image)?,
        Command::Import { sources, format, all_or_nothing } => {
            let format = format.as_deref().and_then(ImportFormat::from_name);
            import(&path, &sources, format, all_or_nothing)?
        }
        Command::List => {
            let vault = open(&path)?;
            for entry in vault.list()? {
                let account = &entry.account;
                let kind = match account.params.kind {
                    OtpKind::Totp { period } => {
                        format!("TOTP {} {}d {period}s", account.params.algorithm.as_uri_name(), account.params.digits)
                    }
                    OtpKind::Hotp { counter } => format!(
                        "HOTP {} {}d counter {counter}",
                        account.params.algorithm.as_uri_name(),
                        account.params.digits
                    ),
                    OtpKind::Steam => "Steam".to_string(),
                };
                match vault.origin(entry.id)? {
                    Some(origin) => println!(
                        "#{:<4} {:<40} {kind}  [{} serial {}]",
                        entry.id,
                        account.label(),
                        origin.creator,
                        origin.serial
                    ),
                    None => println!("#{:<4} {:<40} {kind}", entry.id, account.label()),
                }
            }
        }
        Command::Code { query } => codes(&path, &cli.global, query.as_deref())?,
        Command::Rename { query, name, issuer } => {
            let vault = open(&path)?;
            let entries = vault.list()?;
            let entry = select::one(&entries, &query)?;
            let issuer = issuer.unwrap_or_else(|| entry.account.issuer.clone());
            vault.rename(entry.id, &issuer, &name)?;
            println!("renamed #{} to {}", entry.id, if issuer.is_empty() { name } else { format!("{issuer}:{name}") });
        }
        Command::Rm { query } => {
            let vault = open(&path)?;
            let entries = vault.list()?;
            let entry = select::one(&entries, &query)?;
            vault.delete(entry.id)?;
            println!("deleted #{} {}", entry.id, entry.account.label());
        }
        Command::Register { code, from_device: false } => crate::companion::register(&path, &cli.global, &code)?,
        Command::Register { code, from_device: true } => {
            crate::new_phone::register_from_device(&path, &cli.global, &code)?
        }
        Command::AddPhone { registration, name } => {
            crate::new_phone::add_phone(&path, &cli.global, registration.as_deref(), &name)?
        }
        Command::Approve { login, qr, reason, watch, count, deny, fraud, wait, registration } => {
            let decision = match (deny, fraud) {
                (_, true) => crate::companion::Decision::Fraud,
                (true, false) => crate::companion::Decision::Deny,
                (false, false) => crate::companion::Decision::Approve,
            };
            let login = match (login, qr) {
                (None, None) => None,
                (payload, qr) => Some(crate::companion::code_text(&crate::args::CodeArgs { payload, qr })?),
            };
            let reason = crate::providers::decline_reason(reason.as_deref())?;
            let options =
                crate::companion::ApproveOptions { watch, count, decision, reason, wait, registration, login };
            crate::companion::approve(&path, &cli.global, options)?
        }
        Command::Otp { code, registration } => {
            crate::companion::otp(&path, &cli.global, &code, registration.as_deref())?
        }
        Command::Pin { registration } => crate::companion::change_pin(&path, &cli.global, registration.as_deref())?,
        Command::Devices { action: None } => crate::companion::devices(&path, &cli.global)?,
        Command::Devices { action: Some(crate::args::DevicesAction::List { registration }) } => {
            crate::new_phone::list_devices(&path, &cli.global, registration.as_deref())?
        }
        Command::Devices { action: Some(crate::args::DevicesAction::Retire { device_id, registration }) } => {
            crate::new_phone::retire(&path, &cli.global, registration.as_deref(), &device_id)?
        }
        Command::History { registration, check } => {
            crate::companion::history(&path, &cli.global, registration.as_deref(), check)?
        }
        Command::Export { file: None, aegis: Some(file), encrypt, .. } => {
            if file.exists() {
                return Err(CliError::WouldOverwrite(file));
            }
            let vault = open(&path)?;
            let passphrase = if encrypt { Some(secrets::backup_passphrase(true)?) } else { None };
            let bytes = vault.export_aegis(passphrase.as_deref().map(String::as_str))?;
            write_new_file(&file, &bytes)?;
            let how = if encrypt { "encrypted" } else { "plain, secrets in clear" };
            println!("exported {} accounts to {} (Aegis vault, {how})", vault.len(), file.display());
        }
        Command::Export { file: None, aegis: None, .. } => {
            return Err(CliError::Input("give a FILE or --aegis FILE".into()))
        }
        Command::Export { file: Some(file), kdf, .. } => {
            if file.exists() {
                return Err(CliError::WouldOverwrite(file));
            }
            let vault = open(&path)?;
            let passphrase = secrets::backup_passphrase(true)?;
            let params = KdfParams { memory_kib: kdf.kdf_memory_kib, iterations: kdf.kdf_iterations, parallelism: 1 };
            let bytes = vault.export_backup(&passphrase, params)?;
            write_new_file(&file, &bytes)?;
            println!("exported {} accounts to {}", vault.len(), file.display());
        }
    }
    Ok(())
}

fn codes(path: &Path, global: &Global, query: Option<&str>) -> Result<(), CliError> {
    let vault = open(path)?;
    let now = match global.time {
        Some(time) => FixedClock(time).now_unix(),
        None => SystemClock.now_unix(),
    };
    let entries = vault.list()?;
    let selected = select::matching(&entries, query);
    if selected.is_empty() {
        return Err(CliError::NoMatch(query.unwrap_or_default().to_string()));
    }
    let alone = selected.len() == 1;
    for entry in selected {
        let label = entry.account.label();
        match entry.account.params.kind {
            OtpKind::Hotp { counter } if alone => {
                let code = vault.next_hotp_code(entry.id)?;
                println!("{label}  {}  (counter {counter})", code.code);
            }
            OtpKind::Hotp { .. } => println!("{label}  ------  (HOTP: name this account alone to get its next code)"),
            OtpKind::Totp { .. } | OtpKind::Steam => {
                let code = entry.account.code_at(now).map_err(nyckel_core::VaultError::from)?;
                println!("{label}  {}  ({} s left)", code.code, code.seconds_left.unwrap_or_default());
            }
        }
    }
    Ok(())
}

fn import(
    path: &Path,
    sources: &[std::ffi::OsString],
    format: Option<ImportFormat>,
    all_or_nothing: bool,
) -> Result<(), CliError> {
    let vault = open(path)?;
    let mut accounts: Vec<Account> = Vec::new();
    let mut exports = MigrationCollector::default();
    let mut backups: Vec<Vec<u8>> = Vec::new();
    let mut other_apps: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for source in sources {
        let text = source.to_str().unwrap_or_default();
        let lowered = text.trim_start().to_ascii_lowercase();
        if format.is_some() {
            let file = PathBuf::from(source);
            let bytes = std::fs::read(&file).map_err(|source| CliError::Io { path: file.clone(), source })?;
            other_apps.push((file, bytes));
        } else if lowered.starts_with("otpauth-migration:") {
            exports.add(parse_migration(text)?);
        } else if lowered.starts_with("otpauth:") {
            accounts.push(parse_otpauth(text)?);
        } else {
            let file = PathBuf::from(source);
            let bytes = std::fs::read(&file).map_err(|source| CliError::Io { path: file.clone(), source })?;
            let detected = detect_import_format(&bytes);
            // URI lists with Google export lines keep the gathering of an export's QR codes.
            let migration_lines = bytes.windows(18).any(|window| window.eq_ignore_ascii_case(b"otpauth-migration:"));
            if detected.is_some() && !(detected == Some(ImportFormat::Uris) && migration_lines) {
                other_apps.push((file, bytes));
            } else if bytes.trim_ascii_start().starts_with(b"{") {
                backups.push(bytes);
            } else {
                accounts.extend(read_uri_file(&file, &bytes, &mut exports)?);
            }
        }
    }
    for (batch_id, missing) in exports.missing() {
        let missing: Vec<String> = missing.iter().map(|index| (index + 1).to_string()).collect();
        eprintln!(
            "nyckel: warning: export {batch_id} is missing QR code(s) {}; importing the rest",
            missing.join(", ")
        );
    }
    accounts.extend(exports.into_accounts());
    let mut added = 0;
    let mut duplicates = 0;
    if !accounts.is_empty() {
        let report = vault.add_all(accounts)?;
        added += report.added.len();
        duplicates += report.duplicates;
    }
    if !backups.is_empty() {
        let passphrase = secrets::backup_passphrase(false)?;
        for bytes in backups {
            let report = vault.import_backup(&bytes, &passphrase)?;
            added += report.added.len();
            duplicates += report.duplicates;
        }
    }
    let mut refused = 0;
    for (file, bytes) in other_apps {
        let report = import_other_app(&vault, &file, &bytes, format, all_or_nothing)?;
        added += report.added();
        duplicates += report.already_present();
        refused += report.refused();
    }
    print!("imported {added} accounts ({duplicates} already present)");
    if refused > 0 {
        print!("; {refused} refused");
    }
    println!();
    Ok(())
}

/// Imports one export of another app, asking for its passphrase only when it is encrypted, and
/// prints one line per refused entry.
fn import_other_app(
    vault: &Vault,
    file: &Path,
    bytes: &[u8],
    format: Option<ImportFormat>,
    all_or_nothing: bool,
) -> Result<ImportReport, CliError> {
    let import_error = |error: VaultError| match error {
        VaultError::Import(source) => CliError::Import { path: file.to_path_buf(), source },
        other => CliError::Vault(other),
    };
    let report = match vault.import_file(bytes, format, None, all_or_nothing) {
        Err(VaultError::Import(ImportError::PassphraseRequired(app))) => {
            let passphrase = secrets::import_passphrase(&app.to_string())?;
            vault.import_file(bytes, format, Some(&passphrase), all_or_nothing).map_err(import_error)?
        }
        other => other.map_err(import_error)?,
    };
    let place = match report.format {
        ImportFormat::Uris | ImportFormat::Ente => "line",
        ImportFormat::Bitwarden if !bytes.trim_ascii_start().starts_with(b"{") => "row",
        _ => "entry",
    };
    for entry in &report.entries {
        if let EntryOutcome::Refused(reason) = &entry.outcome {
            let label = if entry.label.is_empty() { String::new() } else { format!(" ({})", entry.label) };
            println!("refused {}: {place} {}{label}: {reason}", file.display(), entry.index + 1);
        }
    }
    if all_or_nothing && report.refused() > 0 {
        return Err(CliError::Input(format!(
            "{}: nothing imported from this file: {} entries refused and --all-or-nothing was given",
            file.display(),
            report.refused()
        )));
    }
    Ok(report)
}

/// A text file with one otpauth or otpauth-migration URI per line; blank lines and `#` comments skipped.
fn read_uri_file(file: &Path, bytes: &[u8], exports: &mut MigrationCollector) -> Result<Vec<Account>, CliError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CliError::UnknownSource(file.display().to_string()))?;
    let mut accounts = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.to_ascii_lowercase().starts_with("otpauth-migration:") {
            exports.add(parse_migration(line)?);
        } else if line.to_ascii_lowercase().starts_with("otpauth:") {
            let account = parse_otpauth(line).map_err(|source| CliError::UriFileLine {
                path: file.to_path_buf(),
                line: number + 1,
                source,
            })?;
            accounts.push(account);
        } else {
            return Err(CliError::UnknownSource(file.display().to_string()));
        }
    }
    Ok(accounts)
}

pub(crate) fn open(path: &Path) -> Result<Vault, CliError> {
    if !Vault::exists(path) {
        return Err(nyckel_core::VaultError::NotInitialized(path.to_path_buf()).into());
    }
    let store = PassphraseKeyStore::new(secrets::vault_passphrase(false)?, KdfParams::RECOMMENDED);
    Ok(Vault::open(path, &store)?)
}

fn vault_path(global: &Global) -> Result<PathBuf, CliError> {
    if let Some(path) = &global.vault {
        return Ok(path.clone());
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .ok_or(CliError::NoVaultPath)?;
    Ok(data_home.join("nyckel").join("vault"))
}

/// Writes a file that must not exist yet, synced before reporting success.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let io_error = |source| CliError::Io { path: path.to_path_buf(), source };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(io_error)?;
    file.write_all(bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}
