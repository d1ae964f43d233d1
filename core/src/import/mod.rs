//! Reading other authenticator apps' export files into per-entry results, and writing Aegis vaults.
//!
//! Each format has its own file, written from that app's published description or source:
//! [`aegis`], [`twofas`], [`bitwarden`], [`andotp`], [`freeotp`], [`ente`], [`proton`], [`uris`].
//! A file either fails as a whole ([`ImportError`]: not that format, wrong passphrase) or yields
//! one [`ParsedEntry`] per account it holds, each an account or the reason it was refused
//! ([`EntryError`]), so that one bad entry never hides the others. The vault then adds the good
//! ones ([`crate::Vault::import_entries`]), or none of them when asked for all or nothing.

pub mod aegis;
pub mod andotp;
pub mod bitwarden;
mod crypto;
pub mod ente;
pub mod freeotp;
pub mod proton;
pub mod twofas;
pub mod uris;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::account::Account;
use crate::otp::{Algorithm, OtpParams, ParamsError, DEFAULT_PERIOD, MIN_DIGITS};
use crate::otpauth::UriError;
use crate::secret::{Base32Error, SecretBytes};
use crate::vault::AccountId;

/// Files larger than this are refused before parsing: no authenticator export comes close.
pub const MAX_IMPORT_BYTES: usize = 32 * 1024 * 1024;

/// The export formats Nyckel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Aegis vault JSON, plain or password-encrypted.
    Aegis,
    /// 2FAS backup (`.2fas`), plain or password-encrypted.
    TwoFas,
    /// Bitwarden export, JSON or CSV (the `login.totp` field).
    Bitwarden,
    /// andOTP backup: plain JSON or encrypted (`.json.aes`).
    AndOtp,
    /// FreeOTP+ JSON export.
    FreeOtpPlus,
    /// Ente Auth plain text export (otpauth URIs with Ente's extra parameters).
    Ente,
    /// Proton Authenticator JSON export.
    Proton,
    /// A text file of `otpauth://` URIs, one per line.
    Uris,
}

impl Format {
    /// Every format, in the order [`detect`] tries them.
    pub const ALL: [Format; 8] = [
        Format::Aegis,
        Format::TwoFas,
        Format::Bitwarden,
        Format::AndOtp,
        Format::FreeOtpPlus,
        Format::Ente,
        Format::Proton,
        Format::Uris,
    ];

    /// The short name used on the command line (`aegis`, `2fas`, …).
    pub fn name(self) -> &'static str {
        match self {
            Format::Aegis => "aegis",
            Format::TwoFas => "2fas",
            Format::Bitwarden => "bitwarden",
            Format::AndOtp => "andotp",
            Format::FreeOtpPlus => "freeotp",
            Format::Ente => "ente",
            Format::Proton => "proton",
            Format::Uris => "uris",
        }
    }

    /// The format named `name` (case-insensitive), as [`Format::name`] spells it.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a whole file could not be read. Nothing is imported when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// [`detect`] recognised none of the formats.
    #[error("not a file format Nyckel imports (Aegis, 2FAS, Bitwarden, andOTP, FreeOTP+, Ente, Proton, otpauth URIs)")]
    UnknownFormat,
    /// Over [`MAX_IMPORT_BYTES`].
    #[error("the file is larger than {} MiB", MAX_IMPORT_BYTES / 1024 / 1024)]
    TooLarge,
    /// The file does not have the structure of the named format.
    #[error("not a valid {format} export: {reason}")]
    Malformed {
        /// The format it was read as.
        format: Format,
        /// What is wrong.
        reason: String,
    },
    /// A version of the format this release does not know.
    #[error("{format} export version {version} is not supported")]
    UnsupportedVersion {
        /// The format.
        format: Format,
        /// The version the file declares.
        version: u64,
    },
    /// A variant of the format Nyckel does not read (with what to do instead).
    #[error("{0}")]
    Unsupported(String),
    /// The file is encrypted and no passphrase was given.
    #[error("this {0} export is encrypted: a passphrase is needed")]
    PassphraseRequired(Format),
    /// The passphrase does not decrypt the file (or the file was altered).
    #[error("wrong passphrase for this {0} export, or the file was altered")]
    WrongPassphrase(Format),
    /// Key-derivation parameters outside what the app that wrote the file uses, refused before
    /// spending minutes or gigabytes on them.
    #[error("{format} export asks for unreasonable key derivation parameters: {reason}")]
    KdfParams {
        /// The format.
        format: Format,
        /// Which parameter.
        reason: String,
    },
    /// The system random generator or the cipher failed (export only).
    #[error("the cryptographic backend failed")]
    Crypto,
}

/// Why one entry of a file was refused; the other entries are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The entry is not an object of the expected shape.
    #[error("malformed entry: {0}")]
    Malformed(String),
    /// A required field is missing or empty.
    #[error("the entry has no {0}")]
    MissingField(&'static str),
    /// The secret does not decode.
    #[error("the secret is not valid base32: {0}")]
    Secret(#[from] Base32Error),
    /// A secret given as bytes that are not bytes (FreeOTP+).
    #[error("the secret is not a list of bytes")]
    SecretBytes,
    /// An OTP type Nyckel cannot make codes for (mOTP, Yandex…).
    #[error("unsupported OTP type {0:?}")]
    UnsupportedType(String),
    /// A hash Nyckel does not support (MD5…).
    #[error("unsupported algorithm {0:?} (SHA1, SHA256 or SHA512)")]
    UnsupportedAlgorithm(String),
    /// The parameters make no valid code.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// A URI in the entry does not parse.
    #[error("{0}")]
    Uri(#[from] UriError),
}

/// One entry of a file: its position, a label to name it by, and the account or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEntry {
    /// Zero-based position among the file's entries (lines, for text files).
    pub index: usize,
    /// "Issuer:name" as far as the entry tells, for messages; may be empty for a broken entry.
    pub label: String,
    /// The account, or why this entry is refused.
    pub account: Result<Account, EntryError>,
}

impl ParsedEntry {
    fn new(index: usize, label: String, account: Result<Account, EntryError>) -> Self {
        let label = match &account {
            Ok(account) => account.label(),
            Err(_) => label,
        };
        Self { index, label, account }
    }
}

/// What a file holds: its format and one result per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFile {
    /// The format it was read as.
    pub format: Format,
    /// Every entry, good or refused, in file order.
    pub entries: Vec<ParsedEntry>,
}

/// What happened to one entry of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Added to the vault under this id.
    Added(AccountId),
    /// The vault (or an earlier entry of the same file) already has this account.
    AlreadyPresent,
    /// Refused, with the reason; nothing of it was stored.
    Refused(EntryError),
    /// Good, but not added because another entry was refused and all-or-nothing was asked.
    NotAdded,
}

/// One line of an [`ImportReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryReport {
    /// Zero-based position in the file.
    pub index: usize,
    /// "Issuer:name", as far as the entry tells.
    pub label: String,
    /// What happened to it.
    pub outcome: EntryOutcome,
}

/// The result of importing one file into the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The format the file was read as.
    pub format: Format,
    /// One report per entry, in file order.
    pub entries: Vec<EntryReport>,
}

impl ImportReport {
    /// How many entries were added.
    pub fn added(&self) -> usize {
        self.count(|outcome| matches!(outcome, EntryOutcome::Added(_)))
    }

    /// How many were already present.
    pub fn already_present(&self) -> usize {
        self.count(|outcome| matches!(outcome, EntryOutcome::AlreadyPresent))
    }

    /// How many were refused.
    pub fn refused(&self) -> usize {
        self.count(|outcome| matches!(outcome, EntryOutcome::Refused(_)))
    }

    fn count(&self, predicate: impl Fn(&EntryOutcome) -> bool) -> usize {
        self.entries.iter().filter(|entry| predicate(&entry.outcome)).count()
    }
}

/// Guesses the format of `bytes` from its structure (never from a file name).
///
/// JSON objects are told apart by their top-level keys; a JSON array is andOTP; text whose first
/// line is an `otpauth://` URI is a URI list (Ente's when it carries Ente's `codeDisplay`);
/// CSV with a `login_totp` column is Bitwarden; anything else that starts with a plausible
/// PBKDF2 iteration count is taken for an encrypted andOTP backup, which has no magic bytes.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let bytes = strip_bom(bytes);
    let trimmed = bytes.trim_ascii_start();
    match trimmed.first() {
        Some(b'{') => return detect_json_object(trimmed),
        Some(b'[') if serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok() => return Some(Format::AndOtp),
        _ => {}
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let first_line = text.lines().map(str::trim).find(|line| !line.is_empty() && !line.starts_with('#'));
        if let Some(line) = first_line {
            if line.len() >= 10 && line[..10].eq_ignore_ascii_case("otpauth://") {
                return Some(if text.contains("codeDisplay=") { Format::Ente } else { Format::Uris });
            }
            if line.split(',').any(|column| column.trim().trim_matches('"') == "login_totp") {
                return Some(Format::Bitwarden);
            }
        }
    }
    andotp::looks_encrypted(bytes).then_some(Format::AndOtp)
}

fn detect_json_object(bytes: &[u8]) -> Option<Format> {
    #[derive(Deserialize)]
    struct Keys {
        header: Option<serde::de::IgnoredAny>,
        db: Option<serde::de::IgnoredAny>,
        services: Option<serde::de::IgnoredAny>,
        #[serde(rename = "servicesEncrypted")]
        services_encrypted: Option<serde::de::IgnoredAny>,
        #[serde(rename = "schemaVersion")]
        schema_version: Option<serde::de::IgnoredAny>,
        items: Option<serde::de::IgnoredAny>,
        encrypted: Option<serde::de::IgnoredAny>,
        tokens: Option<serde::de::IgnoredAny>,
        entries: Option<serde::de::IgnoredAny>,
    }
    let keys: Keys = serde_json::from_slice(bytes).ok()?;
    if keys.header.is_some() && keys.db.is_some() {
        Some(Format::Aegis)
    } else if keys.schema_version.is_some() && (keys.services.is_some() || keys.services_encrypted.is_some()) {
        Some(Format::TwoFas)
    } else if keys.items.is_some() || keys.encrypted.is_some() {
        Some(Format::Bitwarden)
    } else if keys.tokens.is_some() {
        Some(Format::FreeOtpPlus)
    } else if keys.entries.is_some() {
        Some(Format::Proton)
    } else {
        None
    }
}

/// Reads `bytes` as `format` (or the detected format), decrypting with `passphrase` when the
/// file is encrypted. An encrypted file without a passphrase is [`ImportError::PassphraseRequired`],
/// returned before any key derivation.
pub fn parse(bytes: &[u8], format: Option<Format>, passphrase: Option<&str>) -> Result<ParsedFile, ImportError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge);
    }
    let format = match format {
        Some(format) => format,
        None => detect(bytes).ok_or(ImportError::UnknownFormat)?,
    };
    let bytes = strip_bom(bytes);
    let entries = match format {
        Format::Aegis => aegis::parse(bytes, passphrase)?,
        Format::TwoFas => twofas::parse(bytes, passphrase)?,
        Format::Bitwarden => bitwarden::parse(bytes)?,
        Format::AndOtp => andotp::parse(bytes, passphrase)?,
        Format::FreeOtpPlus => freeotp::parse(bytes)?,
        Format::Ente => ente::parse(bytes)?,
        Format::Proton => proton::parse(bytes)?,
        Format::Uris => uris::parse(bytes, Format::Uris)?,
    };
    Ok(ParsedFile { format, entries })
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

// ---- helpers shared by the format readers ----

fn malformed(format: Format, error: impl std::fmt::Display) -> ImportError {
    ImportError::Malformed { format, reason: error.to_string() }
}

/// Splits a JSON array into its elements without decoding them, so that one element of the
/// wrong shape is refused alone, and secrets are decoded straight into zeroizing buffers.
fn json_elements(format: Format, array: &RawValue) -> Result<Vec<&RawValue>, ImportError> {
    serde_json::from_str(array.get()).map_err(|error| malformed(format, error))
}

/// Decodes each element as `T`, naming broken elements by `label_of` where possible.
fn json_entries<'a, T: Deserialize<'a>>(
    elements: &[&'a RawValue],
    label_of: impl Fn(&'a RawValue) -> String,
    convert: impl Fn(T) -> Result<Account, EntryError>,
) -> Vec<ParsedEntry> {
    elements
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            let account = serde_json::from_str::<T>(raw.get())
                .map_err(|error| EntryError::Malformed(describe_json_error(&error)))
                .and_then(&convert);
            ParsedEntry::new(index, label_of(raw), account)
        })
        .collect()
}

/// serde_json's message without echoing the input (which may hold a secret).
fn describe_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    // serde_json quotes offending string values as `invalid type: string "…"`; cut them out.
    match text.find('"') {
        Some(start) => format!("{} at column {}", text[..start].trim_end(), error.column()),
        None => text,
    }
}

/// Best-effort "issuer:name" of a broken JSON entry from two of its string fields.
fn label_from_json(raw: &RawValue, issuer_key: &str, name_key: &str) -> String {
    let Ok(map) = serde_json::from_str::<std::collections::BTreeMap<&str, &RawValue>>(raw.get()) else {
        return String::new();
    };
    let text =
        |key: &str| map.get(key).and_then(|value| serde_json::from_str::<String>(value.get()).ok()).unwrap_or_default();
    join_label(&text(issuer_key), &text(name_key))
}

fn join_label(issuer: &str, name: &str) -> String {
    match (issuer.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => issuer.to_string(),
        (false, false) => format!("{issuer}:{name}"),
    }
}

/// Algorithm names as the apps write them: "SHA1", "sha256", "SHA-512", "HmacSHA1".
fn parse_algorithm(text: Option<&str>) -> Result<Algorithm, EntryError> {
    let Some(text) = text else { return Ok(Algorithm::Sha1) };
    let upper = text.trim().to_ascii_uppercase().replace('-', "");
    match upper.strip_prefix("HMAC").unwrap_or(&upper) {
        "" | "SHA1" => Ok(Algorithm::Sha1),
        "SHA256" => Ok(Algorithm::Sha256),
        "SHA512" => Ok(Algorithm::Sha512),
        _ => Err(EntryError::UnsupportedAlgorithm(text.to_string())),
    }
}

/// The kinds of code the apps' entries describe.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Totp { period: Option<u64> },
    Hotp { counter: Option<u64> },
    Steam,
}

/// Builds an account from the fields every format has in some spelling.
fn build_account(
    issuer: &str,
    name: &str,
    secret: SecretBytes,
    kind: Kind,
    algorithm: Option<&str>,
    digits: Option<u64>,
) -> Result<Account, EntryError> {
    if secret.expose().is_empty() {
        return Err(EntryError::MissingField("secret"));
    }
    let digits = match digits {
        None => MIN_DIGITS,
        Some(digits) => u8::try_from(digits).unwrap_or(u8::MAX),
    };
    let params = match kind {
        // Steam fixes SHA1, 5 characters and 30 s whatever the file says.
        Kind::Steam => OtpParams::steam(),
        Kind::Totp { period } => {
            OtpParams::totp(parse_algorithm(algorithm)?, digits, period.unwrap_or(DEFAULT_PERIOD))?
        }
        Kind::Hotp { counter } => {
            OtpParams::hotp(parse_algorithm(algorithm)?, digits, counter.ok_or(EntryError::MissingField("counter"))?)?
        }
    };
    // Names are kept exactly as written (no trimming), so that an Aegis export of the vault
    // reads back with every account equal.
    if name.trim().is_empty() && issuer.trim().is_empty() {
        return Err(EntryError::MissingField("name"));
    }
    // An entry with only an issuer is still usable; the vault needs a non-empty name.
    let name = if name.trim().is_empty() { issuer } else { name };
    Ok(Account { issuer: issuer.to_string(), name: name.to_string(), secret, params })
}
