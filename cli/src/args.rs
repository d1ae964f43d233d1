//! The command line: subcommands, options and the environment variables behind them.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A desktop authenticator: TOTP/HOTP codes in an encrypted vault.
#[derive(Parser)]
#[command(name = "nyckel", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct Global {
    /// The vault directory [default: $XDG_DATA_HOME/nyckel/vault or ~/.local/share/nyckel/vault].
    #[arg(long, global = true, env = "NYCKEL_VAULT")]
    pub vault: Option<PathBuf>,
    /// Compute codes at this Unix time instead of now (for scripts and tests).
    #[arg(long, global = true, env = "NYCKEL_TIME", value_name = "UNIX_SECONDS")]
    pub time: Option<u64>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a new vault, protected by a passphrase (asked twice, or $NYCKEL_PASSPHRASE).
    Init {
        /// Argon2id memory in KiB for deriving the vault key.
        #[arg(long, default_value_t = 64 * 1024)]
        kdf_memory_kib: u32,
        /// Argon2id passes.
        #[arg(long, default_value_t = 3)]
        kdf_iterations: u32,
    },
    /// Add an account from an otpauth:// URI.
    Add {
        /// otpauth://totp/... or otpauth://hotp/...
        #[arg(required_unless_present = "qr")]
        uri: Option<OsString>,
        /// Read the account(s) from the QR code(s) in a PNG, JPEG or WebP image instead (an otpauth
        /// code, or the QR codes of a Google Authenticator export).
        #[arg(long, value_name = "IMAGE", conflicts_with = "uri")]
        qr: Option<PathBuf>,
    },
    /// Print every QR code found in a PNG, JPEG or WebP image, with what it is for.
    Scan {
        /// The image file.
        image: PathBuf,
    },
    /// Import Google Authenticator exports (otpauth-migration://...), otpauth URIs, a text file
    /// of URIs one per line, a Nyckel backup file (passphrase from $NYCKEL_BACKUP_PASSPHRASE or a
    /// prompt), or another app's export: Aegis, 2FAS, Bitwarden (JSON/CSV), andOTP, FreeOTP+,
    /// Ente, Proton Authenticator (detected, or named with --format; the passphrase of an
    /// encrypted one from $NYCKEL_IMPORT_PASSPHRASE or a prompt). Each refused entry is printed
    /// with the reason; the others are imported.
    Import {
        /// URIs or file paths; the QR codes of one export may be given together.
        #[arg(required = true)]
        sources: Vec<OsString>,
        /// Read the files as this app's export instead of detecting the format.
        #[arg(long, value_name = "FORMAT", value_parser = ["aegis", "2fas", "bitwarden", "andotp", "freeotp", "ente", "proton", "uris"])]
        format: Option<String>,
        /// Import nothing from a file if any of its entries is refused.
        #[arg(long)]
        all_or_nothing: bool,
    },
    /// List the accounts.
    List,
    /// Show current codes with the seconds they stay valid; an HOTP account's next code is
    /// shown (and its counter advanced) only when the query selects that account alone.
    Code {
        /// Part of an issuer or account name, or #ID.
        query: Option<String>,
    },
    /// Rename an account.
    Rename {
        /// Part of an issuer or account name that selects one account, or #ID.
        query: String,
        /// The new account name.
        name: String,
        /// The new issuer (kept when omitted).
        #[arg(long)]
        issuer: Option<String>,
    },
    /// Delete an account.
    Rm {
        /// Part of an issuer or account name that selects one account, or #ID.
        query: String,
    },
    /// Register this computer as a phone with a Nyckel server, from an enrollment code
    /// (PIN of 4–16 digits asked twice, or $NYCKEL_PIN). Also takes privacyIDEA push codes
    /// (`otpauth://pipush/…`, `pia://…`; the app PIN, when the server's policy asks for one,
    /// is a gate on this computer only), tiqr codes (`tiqrenroll://…`, with the tiqr PIN) and
    /// `otpauth://hotp|totp` codes (privacyIDEA's keep their serial and creator).
    Register {
        #[command(flatten)]
        code: CodeArgs,
        /// The code is an "add a phone" code from a registered phone (`nyckel add-phone`): this
        /// phone's own registration completes once a registered phone approves it (shows the
        /// number to type there and this phone's fingerprint, then waits).
        #[arg(long)]
        from_device: bool,
    },
    /// Make an "add a phone" code for a new phone of the same user; the new phone scans it
    /// (`nyckel register --from-device`) and this phone then approves it with `nyckel approve`.
    AddPhone {
        /// The registration (its id, or a unique prefix of it); optional when there is only one.
        #[arg(long, value_name = "ID")]
        registration: Option<String>,
        /// The name the new phone gets at the server.
        #[arg(long, default_value = "New phone")]
        name: String,
    },
    /// Answer pending sign-in and transaction requests — of Nyckel registrations, privacyIDEA
    /// push tokens (polled) and a scanned tiqr login code — in one list: shows everything the
    /// request says and which service it comes from, then asks the number (if any, or
    /// $NYCKEL_NUMBER) and the PIN (or $NYCKEL_PIN).
    Approve {
        /// A tiqr login code (`tiqrauth://…`) to answer with the others.
        login: Option<String>,
        /// A PNG, JPEG or WebP image of a tiqr login QR code.
        #[arg(long, value_name = "IMAGE", conflicts_with = "login")]
        qr: Option<PathBuf>,
        /// With --deny: the reason privacyIDEA gets (`unknown-trigger`: "I did not start this
        /// login"; `cancelled`).
        #[arg(long, requires = "deny", value_name = "REASON", value_parser = ["unknown-trigger", "cancelled"])]
        reason: Option<String>,
        /// Keep polling and answer requests as they arrive (Ctrl-C to stop).
        #[arg(long)]
        watch: bool,
        /// Stop watching after answering this many requests.
        #[arg(long, requires = "watch", value_name = "N")]
        count: Option<usize>,
        /// Deny instead of approving (no PIN needed).
        #[arg(long, conflicts_with = "fraud")]
        deny: bool,
        /// Deny and report the request as not yours (no PIN needed).
        #[arg(long)]
        fraud: bool,
        /// Without --watch: seconds to wait for a request to arrive (0–30).
        #[arg(long, default_value_t = 0, value_name = "SECONDS")]
        wait: u64,
        /// Only this registration or token (its id, or a unique prefix of it).
        #[arg(long, value_name = "ID")]
        registration: Option<String>,
    },
    /// The 8-digit one-time password for a sign-in or transaction QR code, offline
    /// (PIN asked, or $NYCKEL_PIN); for a tiqr login code (`tiqrauth://…`), the response to
    /// type on the login page.
    Otp {
        #[command(flatten)]
        code: CodeArgs,
        /// The registration to answer with, when several share the code's server.
        #[arg(long, value_name = "ID")]
        registration: Option<String>,
    },
    /// Change the PIN of a registration: the current PIN (or $NYCKEL_PIN) is checked by the
    /// server, counted like an approval's, then the new PIN is asked twice (or $NYCKEL_NEW_PIN).
    Pin {
        /// The registration (its id, or a unique prefix of it); optional when there is only one.
        registration: Option<String>,
    },
    /// List the requests this phone answered and the one-time passwords it made (time,
    /// service, action, decision, result, ✓ for a verified server receipt); never an OTP.
    History {
        /// Only this registration (its id, or a unique prefix of it).
        registration: Option<String>,
        /// Verify the history's hash chain and compare it with the server's audit of this
        /// device; print every disagreement and exit 1 on any.
        #[arg(long)]
        check: bool,
    },
    /// List the registrations with servers (and each server's view of this device), then the
    /// privacyIDEA push and tiqr tokens; `list`
    /// shows every device of the user at the server, `retire` retires one.
    Devices {
        #[command(subcommand)]
        action: Option<DevicesAction>,
    },
    /// Write an encrypted backup of every account (passphrase asked twice, or $NYCKEL_BACKUP_PASSPHRASE),
    /// or with --aegis an Aegis vault file that Aegis and other apps import.
    Export {
        /// The backup file to create; refuses to overwrite.
        #[arg(required_unless_present = "aegis", conflicts_with = "aegis")]
        file: Option<PathBuf>,
        /// Write an Aegis vault (plain unless --encrypt) to this file instead; refuses to overwrite.
        #[arg(long, value_name = "FILE")]
        aegis: Option<PathBuf>,
        /// Encrypt the Aegis vault with a password (asked twice, or $NYCKEL_BACKUP_PASSPHRASE),
        /// as Aegis does: scrypt and AES-256-GCM. Without it the file holds the secrets in clear.
        #[arg(long, requires = "aegis")]
        encrypt: bool,
        #[command(flatten)]
        kdf: KdfArgs,
    },
}

/// What `nyckel devices` does besides listing the registrations.
#[derive(Subcommand)]
pub enum DevicesAction {
    /// Every device of the registration's user at the server (this one marked).
    List {
        /// The registration (its id, or a unique prefix of it); optional when there is only one.
        registration: Option<String>,
    },
    /// Retire a device of the user: another one needs this phone's PIN (or $NYCKEL_PIN),
    /// counted like an approval's; this phone's own device is unregistered and forgotten.
    Retire {
        /// The device id (from `nyckel devices list`). Ids are base64url, so one may begin with
        /// `-`: it is taken as the id, not as an option.
        #[arg(allow_hyphen_values = true)]
        device_id: String,
        /// The registration (its id, or a unique prefix of it); optional when there is only one.
        #[arg(long, value_name = "ID")]
        registration: Option<String>,
    },
}

/// A Nyckel code, as text or as an image file to scan.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct CodeArgs {
    /// The code's text (nyckel://…, otpauth://pipush/…, pia://…, tiqrenroll://…, tiqrauth://…).
    pub payload: Option<String>,
    /// A PNG, JPEG or WebP image of the QR code.
    #[arg(long, value_name = "IMAGE")]
    pub qr: Option<PathBuf>,
}

#[derive(Args)]
pub struct KdfArgs {
    /// Argon2id memory in KiB for the backup key.
    #[arg(long, default_value_t = 64 * 1024)]
    pub kdf_memory_kib: u32,
    /// Argon2id passes for the backup key.
    #[arg(long, default_value_t = 3)]
    pub kdf_iterations: u32,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn a_device_id_beginning_with_a_hyphen_is_an_id() {
        let cli = Cli::try_parse_from(["nyckel", "devices", "retire", "-3kQ_x"]).expect("parsed");
        match cli.command {
            Command::Devices { action: Some(DevicesAction::Retire { device_id, .. }) } => {
                assert_eq!(device_id, "-3kQ_x")
            }
            _ => panic!("not a retire command"),
        }
    }
}
