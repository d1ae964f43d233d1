//! Server secrets at rest: the key-encryption key (KEK), kept outside the data directory, and
//! the key ring it seals — the signing keys with their rotation chain, the PIN-secret
//! sealing key and the admin token. The data directory holds only sealed blobs.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nyckel_protocol::digest::sha256;
use nyckel_protocol::{b64, Canonical, ServerPublicKey, ServerSignature, ServerSigningKey};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::files::{ensure_dir, ADMIN_TOKEN_FILE, SEAL_KEY_FILE, SIGNING_KEY_FILE};
use crate::seal::{SealError, Sealer};

/// Environment variable naming the KEK file.
pub const KEK_FILE_ENV: &str = "NYCKEL_KEK_FILE";
/// Name of the KEK among systemd credentials (`LoadCredential=nyckel-kek:/path`), read from
/// `$CREDENTIALS_DIRECTORY` when [`KEK_FILE_ENV`] is not set.
pub const KEK_CREDENTIAL: &str = "nyckel-kek";
/// Domain-separation tag of a rotation statement (as `nyckel_protocol::key_rotation`).
pub const ROTATION_TAG: &str = "nyckel/v2/key-rotation";
/// Sealed PIN-secret sealing key.
pub const SEAL_KEY_SEALED: &str = "pin-secret-seal.key.sealed";
/// Sealed admin token.
pub const ADMIN_TOKEN_SEALED: &str = "admin-token.sealed";
/// The rotation statements (public, signed; JSON list).
pub const ROTATIONS_FILE: &str = "key-rotations.json";
/// Prefix and suffix of the sealed signing keys, `server-signing-key-<n>.sealed`, n = 1, 2…
const SIGNING_PREFIX: &str = "server-signing-key-";
const SEALED_SUFFIX: &str = ".sealed";
/// Version byte of the sealed-blob layout `1 ‖ nonce ‖ ciphertext ‖ tag`.
const SEALED_VERSION: u8 = 1;

/// Why a secret could not be loaded, created or rotated.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// No KEK is configured.
    #[error("no key-encryption key: set {KEK_FILE_ENV} to a file outside the data directory (32 bytes, or 64 hex digits; mode 0600), or pass it as the systemd credential {KEK_CREDENTIAL}")]
    NoKek,
    /// The KEK file cannot be read.
    #[error("key-encryption key {path}: {source}")]
    KekUnreadable {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The KEK path is not a regular file.
    #[error("key-encryption key {path} is not a regular file")]
    KekNotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The KEK file is readable or writable by group or others.
    #[error("key-encryption key {path} has mode {mode:o}: it must not be accessible to group or others (chmod 600)")]
    KekPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The KEK lies inside the data directory, so a copy of that directory would carry it.
    #[error("key-encryption key {path} is inside the data directory {data_dir}; keep it elsewhere")]
    KekInsideDataDir {
        /// The file.
        path: PathBuf,
        /// The data directory.
        data_dir: PathBuf,
    },
    /// The KEK file holds neither 32 raw bytes nor 64 hex digits.
    #[error("key-encryption key {path} holds {len} bytes; expected 32 raw bytes or 64 hex digits")]
    KekSize {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A key file is readable or writable by group or others.
    #[error("{path} has mode {mode:o}: key files must not be accessible to group or others (chmod 600)")]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A sealed file does not open: another KEK, or the file was altered, renamed or copied.
    #[error("{path} does not open under this key-encryption key (wrong KEK, or the file was altered or renamed)")]
    Unseal {
        /// The file.
        path: PathBuf,
    },
    /// A file opens but its content is unusable, or the files disagree.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SecretsError + '_ {
    move |source| SecretsError::Io { path: path.to_owned(), source }
}

fn invalid(path: &Path, reason: impl Into<String>) -> SecretsError {
    SecretsError::Invalid { path: path.to_owned(), reason: reason.into() }
}

/// Group and other permission bits of `meta`.
fn loose_bits(meta: &fs::Metadata) -> Option<u32> {
    let mode = meta.mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

fn random<const N: usize>() -> Result<[u8; N], SecretsError> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| SecretsError::Random)?;
    Ok(out)
}

/// The key-encryption key: AES-256-GCM, sealing every other server secret.
pub struct Kek {
    key: LessSafeKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

impl Kek {
    /// A KEK from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SecretsError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| SecretsError::Random)?;
        Ok(Self { key: LessSafeKey::new(unbound) })
    }

    /// Reads the KEK from `path`: 32 raw bytes or 64 hex digits (surrounding whitespace
    /// ignored). Refuses a file accessible to group or others, and one inside `data_dir`.
    pub fn from_file(path: &Path, data_dir: &Path) -> Result<Self, SecretsError> {
        let unreadable = |source| SecretsError::KekUnreadable { path: path.to_owned(), source };
        let meta = fs::metadata(path).map_err(unreadable)?;
        if !meta.is_file() {
            return Err(SecretsError::KekNotAFile { path: path.to_owned() });
        }
        if let Some(mode) = loose_bits(&meta) {
            return Err(SecretsError::KekPermissions { path: path.to_owned(), mode });
        }
        if is_inside(path, data_dir) {
            return Err(SecretsError::KekInsideDataDir { path: path.to_owned(), data_dir: data_dir.to_owned() });
        }
        let content = Zeroizing::new(fs::read(path).map_err(unreadable)?);
        let bytes = parse_kek(&content).ok_or(SecretsError::KekSize { path: path.to_owned(), len: content.len() })?;
        Self::from_bytes(&bytes)
    }

    /// The KEK named by the environment: the file in `$NYCKEL_KEK_FILE`, else the systemd
    /// credential `$CREDENTIALS_DIRECTORY/nyckel-kek`; [`SecretsError::NoKek`] when neither.
    pub fn from_env(data_dir: &Path) -> Result<Self, SecretsError> {
        let file = std::env::var_os(KEK_FILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|v| !v.is_empty()).map(PathBuf::from);
        Self::locate(file.as_deref(), credentials.as_deref(), data_dir)
    }

    /// [`Kek::from_env`] with the two sources given: the explicit file wins.
    pub fn locate(
        kek_file: Option<&Path>,
        credentials_dir: Option<&Path>,
        data_dir: &Path,
    ) -> Result<Self, SecretsError> {
        match (kek_file, credentials_dir) {
            (Some(file), _) => Self::from_file(file, data_dir),
            (None, Some(dir)) => Self::from_file(&dir.join(KEK_CREDENTIAL), data_dir),
            (None, None) => Err(SecretsError::NoKek),
        }
    }

    /// Creates a new random KEK at `path` (64 hex digits, mode 0600; never overwrites) and
    /// returns it. `path` must be outside `data_dir`.
    pub fn create_file(path: &Path, data_dir: &Path) -> Result<Self, SecretsError> {
        if is_inside(path, data_dir) {
            return Err(SecretsError::KekInsideDataDir { path: path.to_owned(), data_dir: data_dir.to_owned() });
        }
        let bytes = Zeroizing::new(random::<32>()?);
        let mut hex = Zeroizing::new(String::with_capacity(65));
        for b in bytes.iter() {
            hex.push_str(&format!("{b:02x}"));
        }
        hex.push('\n');
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io_err(path))?;
        file.write_all(hex.as_bytes()).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
        Self::from_bytes(&bytes)
    }

    /// `1 ‖ nonce ‖ AES-256-GCM(plain)`, with `purpose` (the file name) as associated data,
    /// so a sealed file renamed or copied over another does not open.
    fn seal(&self, purpose: &str, plain: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let nonce = random::<NONCE_LEN>()?;
        let mut buf = Zeroizing::new(plain.to_vec());
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(purpose).as_ref(), &mut *buf)
            .map_err(|_| SecretsError::Random)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    fn open(&self, path: &Path, purpose: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let unseal = || SecretsError::Unseal { path: path.to_owned() };
        let (&version, rest) = sealed.split_first().ok_or_else(unseal)?;
        if version != SEALED_VERSION || rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(unseal());
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unseal())?;
        let mut body = Zeroizing::new(body.to_vec());
        let len = self.key.open_in_place(nonce, aad(purpose).as_ref(), &mut body).map_err(|_| unseal())?.len();
        body.truncate(len);
        Ok(body)
    }
}

struct AadBytes(Vec<u8>);

impl AadBytes {
    fn as_ref(&self) -> Aad<&[u8]> {
        Aad::from(self.0.as_slice())
    }
}

fn aad(purpose: &str) -> AadBytes {
    AadBytes(format!("nyckel/sealed/v1/{purpose}").into_bytes())
}

/// 32 raw bytes, or 64 hex digits after trimming whitespace.
fn parse_kek(content: &[u8]) -> Option<[u8; 32]> {
    if let Ok(raw) = <[u8; 32]>::try_from(content) {
        return Some(raw);
    }
    let text = std::str::from_utf8(content).ok()?.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Whether `path` lies inside `dir`, comparing canonical paths (so a symlink or `..` does
/// not hide it); for a path that does not exist yet, its longest existing ancestor is
/// canonicalised and the rest appended.
fn is_inside(path: &Path, dir: &Path) -> bool {
    resolve(path).starts_with(resolve(dir))
}

fn resolve(path: &Path) -> PathBuf {
    let path = match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_owned(),
    };
    let mut existing = path.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(mut out) = fs::canonicalize(existing) {
            out.extend(rest.iter().rev());
            return out;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path,
        }
    }
}

/// A statement, signed by the old server key, that the new key succeeds it. Phones follow
/// the chain from the key they pinned (`nyckel_protocol::key_rotation::KeyRotation` on the
/// wire; same signed bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationStatement {
    /// The key being replaced.
    pub old_key: ServerPublicKey,
    /// Its successor.
    pub new_key: ServerPublicKey,
    /// By `old_key`, over [`RotationStatement::signed_bytes`].
    pub signature: ServerSignature,
}

impl RotationStatement {
    /// Canonical bytes (tag `nyckel/v2/key-rotation`: old public key, new public key).
    pub fn signed_bytes(old_key: &ServerPublicKey, new_key: &ServerPublicKey) -> Vec<u8> {
        let mut m = Canonical::new(ROTATION_TAG);
        m.bytes(&old_key.0).bytes(&new_key.0);
        m.into_bytes()
    }

    /// `old` vouches for `new_key`.
    pub fn sign(old: &ServerSigningKey, new_key: &ServerPublicKey) -> Self {
        let old_key = old.public_key();
        Self { old_key, new_key: *new_key, signature: old.sign(&Self::signed_bytes(&old_key, new_key)) }
    }

    /// Whether the signature by `old_key` verifies.
    pub fn verify(&self) -> bool {
        self.old_key.verify(&Self::signed_bytes(&self.old_key, &self.new_key), &self.signature).is_ok()
    }
}

/// The server's secrets, opened under the KEK.
pub struct KeyRing {
    /// The key that signs now.
    current: Arc<ServerSigningKey>,
    /// The keys before it, oldest first.
    previous: Vec<Arc<ServerSigningKey>>,
    rotations: Vec<RotationStatement>,
    seal_key: Zeroizing<[u8; 32]>,
    admin_token: Zeroizing<String>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("public_keys", &self.public_keys()).finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Opens the key ring in `data_dir` under `kek`: creates the secrets on first start,
    /// seals and removes the plaintext files of the old layout, and refuses key files
    /// accessible to group or others.
    pub fn open(data_dir: &Path, kek: &Kek) -> Result<Self, SecretsError> {
        ensure_dir(data_dir).map_err(|e| invalid(data_dir, e.to_string()))?;
        check_permissions(data_dir)?;
        migrate(data_dir, kek)?;

        let mut numbers = signing_key_numbers(data_dir)?;
        if numbers.is_empty() {
            let pkcs8 = ServerSigningKey::generate_pkcs8().map_err(|e| invalid(data_dir, e.to_string()))?;
            publish_sealed(data_dir, &signing_key_name(1), kek, &pkcs8)?;
            numbers = signing_key_numbers(data_dir)?;
        }
        if numbers.iter().enumerate().any(|(i, &n)| n != i as u64 + 1) {
            return Err(invalid(
                data_dir,
                format!("signing keys are not numbered 1 to {}: {numbers:?}", numbers.len()),
            ));
        }
        let signing = numbers
            .iter()
            .map(|&n| {
                let name = signing_key_name(n);
                let pkcs8 = read_sealed(data_dir, &name, kek)?.ok_or_else(|| invalid(data_dir, "key vanished"))?;
                ServerSigningKey::from_pkcs8(&pkcs8)
                    .map(Arc::new)
                    .map_err(|e| invalid(&data_dir.join(&name), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let rotations = load_rotations(data_dir, &signing)?;
        let mut previous = signing;
        let current = previous.pop().ok_or_else(|| invalid(data_dir, "no signing key"))?;

        let seal_key = read_or_create(data_dir, SEAL_KEY_SEALED, kek, || Ok(Zeroizing::new(random::<32>()?.to_vec())))?;
        let seal_key: [u8; 32] = seal_key
            .as_slice()
            .try_into()
            .map_err(|_| invalid(&data_dir.join(SEAL_KEY_SEALED), "expected 32 bytes"))?;
        let token = read_or_create(data_dir, ADMIN_TOKEN_SEALED, kek, || {
            Ok(Zeroizing::new(format!("adm_{}", b64::encode(&random::<32>()?)).into_bytes()))
        })?;
        let admin_token = parse_token(&data_dir.join(ADMIN_TOKEN_SEALED), &token)?;
        Ok(Self { current, previous, rotations, seal_key: Zeroizing::new(seal_key), admin_token })
    }

    /// Rotates the signing key: a new Ed25519 key becomes current, the old ones stay sealed
    /// (their public keys still verify old audit heads), and a statement signed by the
    /// previous key is appended to the chain. Returns that statement. A running server keeps
    /// its key until restarted.
    pub fn rotate(data_dir: &Path, kek: &Kek) -> Result<RotationStatement, SecretsError> {
        let ring = Self::open(data_dir, kek)?;
        let pkcs8 = ServerSigningKey::generate_pkcs8().map_err(|e| invalid(data_dir, e.to_string()))?;
        let new_key = ServerSigningKey::from_pkcs8(&pkcs8).map_err(|e| invalid(data_dir, e.to_string()))?;
        let name = signing_key_name(ring.previous.len() as u64 + 2);
        // The key file first: a crash before the statement is written is healed by the next
        // open, which signs the missing statement with the previous key.
        if !publish_sealed(data_dir, &name, kek, &pkcs8)? {
            return Err(invalid(&data_dir.join(name), "a concurrent rotation created this key"));
        }
        let statement = RotationStatement::sign(&ring.signing_key(), &new_key.public_key());
        let mut rotations = ring.rotations;
        rotations.push(statement);
        write_rotations(data_dir, &rotations)?;
        Ok(statement)
    }

    /// The current signing key.
    pub fn signing_key(&self) -> Arc<ServerSigningKey> {
        self.current.clone()
    }

    /// The current public key.
    pub fn public_key(&self) -> ServerPublicKey {
        self.signing_key().public_key()
    }

    /// Every public key the server has had, oldest first (for audit verification).
    pub fn public_keys(&self) -> Vec<ServerPublicKey> {
        self.previous.iter().chain([&self.current]).map(|k| k.public_key()).collect()
    }

    /// The rotation chain, oldest first (one statement per rotation).
    pub fn rotations(&self) -> &[RotationStatement] {
        &self.rotations
    }

    /// A sealer of PIN secrets under the sealing key.
    pub fn sealer(&self) -> Result<Sealer, SealError> {
        Sealer::new(&self.seal_key)
    }

    /// The admin token (for `nyckel-server admin-token`).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// SHA-256 of the admin token, what requests are compared against.
    pub fn admin_token_hash(&self) -> [u8; 32] {
        sha256(self.admin_token.as_bytes())
    }
}

fn signing_key_name(n: u64) -> String {
    format!("{SIGNING_PREFIX}{n}{SEALED_SUFFIX}")
}

/// The numbers of the sealed signing keys present, ascending.
fn signing_key_numbers(dir: &Path) -> Result<Vec<u64>, SecretsError> {
    let mut numbers = Vec::new();
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name.strip_prefix(SIGNING_PREFIX).and_then(|r| r.strip_suffix(SEALED_SUFFIX)) {
            numbers.push(n.parse::<u64>().map_err(|_| invalid(&item.path(), "not a numbered signing key"))?);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Refuses any key file (sealed, rotation list, or old plaintext) accessible to group or others.
fn check_permissions(dir: &Path) -> Result<(), SecretsError> {
    for item in fs::read_dir(dir).map_err(io_err(dir))? {
        let item = item.map_err(io_err(dir))?;
        let name = item.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_key_file = name.ends_with(SEALED_SUFFIX)
            || name.contains(".tmp-")
            || [ROTATIONS_FILE, SIGNING_KEY_FILE, SEAL_KEY_FILE, ADMIN_TOKEN_FILE].contains(&name);
        if !is_key_file {
            continue;
        }
        let path = item.path();
        let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
        if let Some(mode) = loose_bits(&meta) {
            return Err(SecretsError::InsecurePermissions { path, mode });
        }
    }
    Ok(())
}

/// Opens `dir/name`, or `None` when absent.
fn read_sealed(dir: &Path, name: &str, kek: &Kek) -> Result<Option<Zeroizing<Vec<u8>>>, SecretsError> {
    let path = dir.join(name);
    match fs::read(&path) {
        Ok(bytes) => kek.open(&path, name, &bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SecretsError::Io { path, source: e }),
    }
}

/// Writes `dir/name` (0600) unless it exists: the blob goes to a temporary file, synced, then
/// hard-linked into place, which fails if another process published first. Returns whether
/// this call published.
fn publish_sealed(dir: &Path, name: &str, kek: &Kek, plain: &[u8]) -> Result<bool, SecretsError> {
    let sealed = kek.seal(name, plain)?;
    let path = dir.join(name);
    let tmp = write_temp(dir, name, &sealed)?;
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(SecretsError::Io { path, source: e }),
    }
}

fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, SecretsError> {
    let suffix = b64::encode(&random::<6>()?);
    let tmp = dir.join(format!("{name}.tmp-{}-{suffix}", std::process::id()));
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    Ok(tmp)
}

fn sync_dir(dir: &Path) -> Result<(), SecretsError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

fn read_or_create(
    dir: &Path,
    name: &str,
    kek: &Kek,
    make: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, SecretsError>,
) -> Result<Zeroizing<Vec<u8>>, SecretsError> {
    if let Some(plain) = read_sealed(dir, name, kek)? {
        return Ok(plain);
    }
    publish_sealed(dir, name, kek, &make()?)?;
    // Read back: if another process published first, its secret is the one.
    read_sealed(dir, name, kek)?.ok_or_else(|| invalid(&dir.join(name), "vanished after creation"))
}

fn parse_token(path: &Path, bytes: &[u8]) -> Result<Zeroizing<String>, SecretsError> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid(path, "admin token is not UTF-8"))?.trim();
    if text.len() < 16 {
        return Err(invalid(path, "admin token too short"));
    }
    Ok(Zeroizing::new(text.to_owned()))
}

/// Seals the plaintext files of the old layout and removes them. Where the sealed file
/// already exists (a crash between the two steps), it must hold the same secret.
fn migrate(dir: &Path, kek: &Kek) -> Result<(), SecretsError> {
    let first_key = signing_key_name(1);
    let moves: [(&str, &str); 3] =
        [(SIGNING_KEY_FILE, &first_key), (SEAL_KEY_FILE, SEAL_KEY_SEALED), (ADMIN_TOKEN_FILE, ADMIN_TOKEN_SEALED)];
    for (plain_name, sealed_name) in moves {
        let plain_path = dir.join(plain_name);
        let plain = match fs::read(&plain_path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(SecretsError::Io { path: plain_path, source: e }),
        };
        // Validate before sealing, so a damaged file is reported under its own name.
        let plain = match plain_name {
            SIGNING_KEY_FILE => {
                ServerSigningKey::from_pkcs8(&plain).map_err(|e| invalid(&plain_path, e.to_string()))?;
                if signing_key_numbers(dir)?.iter().any(|&n| n != 1) {
                    return Err(invalid(&plain_path, "old signing key beside rotated keys"));
                }
                plain
            }
            SEAL_KEY_FILE if plain.len() != 32 => return Err(invalid(&plain_path, "expected 32 bytes")),
            ADMIN_TOKEN_FILE => Zeroizing::new(parse_token(&plain_path, &plain)?.as_bytes().to_vec()),
            _ => plain,
        };
        publish_sealed(dir, sealed_name, kek, &plain)?;
        let sealed = read_sealed(dir, sealed_name, kek)?;
        if sealed.as_deref().map(Vec::as_slice) != Some(plain.as_slice()) {
            return Err(invalid(&plain_path, format!("differs from the already sealed {sealed_name}; remove one")));
        }
        destroy(&plain_path, plain.len())?;
    }
    Ok(())
}

/// Overwrites then removes a plaintext key file. The overwrite is best effort (journaling
/// and copy-on-write file systems may keep old blocks); it still beats a plain unlink.
fn destroy(path: &Path, len: usize) -> Result<(), SecretsError> {
    if let Ok(mut file) = OpenOptions::new().write(true).open(path) {
        let _ = file.write_all(&vec![0u8; len]).and_then(|()| file.sync_all());
    }
    fs::remove_file(path).map_err(io_err(path))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Loads and checks the rotation chain against the keys: statement i links key i to key
/// i+1 and is signed by key i. A missing trailing statement (crash during rotation) is
/// signed now.
fn load_rotations(dir: &Path, keys: &[Arc<ServerSigningKey>]) -> Result<Vec<RotationStatement>, SecretsError> {
    let path = dir.join(ROTATIONS_FILE);
    let mut rotations: Vec<RotationStatement> = match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| invalid(&path, e.to_string()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(SecretsError::Io { path, source: e }),
    };
    if rotations.len() >= keys.len() {
        return Err(invalid(&path, format!("{} statements for {} keys", rotations.len(), keys.len())));
    }
    for (i, statement) in rotations.iter().enumerate() {
        if statement.old_key != keys[i].public_key() || statement.new_key != keys[i + 1].public_key() {
            return Err(invalid(&path, format!("statement {} does not link key {} to key {}", i + 1, i + 1, i + 2)));
        }
        if !statement.verify() {
            return Err(invalid(&path, format!("statement {} has a bad signature", i + 1)));
        }
    }
    if rotations.len() + 1 < keys.len() {
        for i in rotations.len()..keys.len() - 1 {
            rotations.push(RotationStatement::sign(&keys[i], &keys[i + 1].public_key()));
        }
        write_rotations(dir, &rotations)?;
    }
    Ok(rotations)
}

fn write_rotations(dir: &Path, rotations: &[RotationStatement]) -> Result<(), SecretsError> {
    let path = dir.join(ROTATIONS_FILE);
    let json = serde_json::to_vec_pretty(rotations).map_err(|e| invalid(&path, e.to_string()))?;
    let tmp = write_temp(dir, ROTATIONS_FILE, &json)?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use nyckel_protocol::{DeviceId, PinSecret};

    use super::*;
    use crate::files;

    struct Dirs {
        _root: tempfile::TempDir,
        data: PathBuf,
        kek_path: PathBuf,
    }

    fn dirs() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let kek_path = root.path().join("kek");
        Dirs { data, kek_path, _root: root }
    }

    fn write_mode(path: &Path, bytes: &[u8], mode: u32) {
        fs::write(path, bytes).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

    #[test]
    fn kek_file_formats_and_refusals() {
        let d = dirs();
        fs::create_dir_all(&d.data).unwrap();
        write_mode(&d.kek_path, HEX.as_bytes(), 0o600);
        Kek::from_file(&d.kek_path, &d.data).unwrap();
        write_mode(&d.kek_path, &[7u8; 32], 0o400);
        Kek::from_file(&d.kek_path, &d.data).unwrap();

        write_mode(&d.kek_path, &[7u8; 31], 0o600);
        assert!(matches!(Kek::from_file(&d.kek_path, &d.data), Err(SecretsError::KekSize { len: 31, .. })));
        write_mode(&d.kek_path, &HEX.as_bytes()[..62], 0o600);
        assert!(matches!(Kek::from_file(&d.kek_path, &d.data), Err(SecretsError::KekSize { .. })));
        write_mode(&d.kek_path, HEX.replace('0', "g").as_bytes(), 0o600);
        assert!(matches!(Kek::from_file(&d.kek_path, &d.data), Err(SecretsError::KekSize { .. })));

        for mode in [0o640, 0o604, 0o620, 0o602] {
            write_mode(&d.kek_path, HEX.as_bytes(), mode);
            assert!(
                matches!(Kek::from_file(&d.kek_path, &d.data), Err(SecretsError::KekPermissions { mode: m, .. }) if m == mode),
                "mode {mode:o}"
            );
        }

        let inside = d.data.join("kek");
        write_mode(&inside, HEX.as_bytes(), 0o600);
        assert!(matches!(Kek::from_file(&inside, &d.data), Err(SecretsError::KekInsideDataDir { .. })));
        // Also through `..`.
        let sneaky = d.data.join("sub").join("..").join("kek");
        fs::create_dir_all(d.data.join("sub")).unwrap();
        assert!(matches!(Kek::from_file(&sneaky, &d.data), Err(SecretsError::KekInsideDataDir { .. })));

        assert!(matches!(Kek::from_file(&d.data.join("missing"), &d.data), Err(SecretsError::KekUnreadable { .. })));
        assert!(matches!(Kek::from_file(&d.data, Path::new("/nonexistent")), Err(SecretsError::KekNotAFile { .. })));
    }

    #[test]
    fn kek_sources() {
        let d = dirs();
        let creds = d._root.path().join("creds");
        fs::create_dir_all(&creds).unwrap();
        write_mode(&creds.join(KEK_CREDENTIAL), &[1u8; 32], 0o400);
        assert!(matches!(Kek::locate(None, None, &d.data), Err(SecretsError::NoKek)));
        Kek::locate(None, Some(&creds), &d.data).unwrap();
        // The explicit file wins over the credential.
        assert!(matches!(
            Kek::locate(Some(&d.kek_path), Some(&creds), &d.data),
            Err(SecretsError::KekUnreadable { .. })
        ));
        Kek::create_file(&d.kek_path, &d.data).unwrap();
        assert_eq!(fs::metadata(&d.kek_path).unwrap().mode() & 0o777, 0o600);
        Kek::locate(Some(&d.kek_path), Some(&creds), &d.data).unwrap();
        assert!(matches!(Kek::create_file(&d.kek_path, &d.data), Err(SecretsError::Io { .. })));
        assert!(matches!(Kek::create_file(&d.data.join("k"), &d.data), Err(SecretsError::KekInsideDataDir { .. })));
    }

    #[test]
    fn key_ring_is_created_sealed_and_reopened() {
        let d = dirs();
        let kek = Kek::create_file(&d.kek_path, &d.data).unwrap();
        let ring = KeyRing::open(&d.data, &kek).unwrap();
        assert!(ring.admin_token().starts_with("adm_"));
        assert!(ring.rotations().is_empty());
        let mut names: Vec<String> =
            fs::read_dir(&d.data).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.retain(|n| n != "db");
        names.sort();
        assert_eq!(names, vec![ADMIN_TOKEN_SEALED, SEAL_KEY_SEALED, "server-signing-key-1.sealed"]);
        for name in &names {
            assert_eq!(fs::metadata(d.data.join(name)).unwrap().mode() & 0o777, 0o600, "{name}");
        }
        let token = fs::read(d.data.join(ADMIN_TOKEN_SEALED)).unwrap();
        assert!(!String::from_utf8_lossy(&token).contains("adm_"));

        let again = KeyRing::open(&d.data, &Kek::from_file(&d.kek_path, &d.data).unwrap()).unwrap();
        assert_eq!(again.public_key(), ring.public_key());
        assert_eq!(again.admin_token(), ring.admin_token());
        assert_eq!(again.admin_token_hash(), sha256(ring.admin_token().as_bytes()));
        let dev = DeviceId::new("dev").unwrap();
        let sealed = ring.sealer().unwrap().seal(&dev, &PinSecret::from_bytes([5; 32])).unwrap();
        assert_eq!(again.sealer().unwrap().open(&dev, &sealed).unwrap(), PinSecret::from_bytes([5; 32]));
    }

    #[test]
    fn key_ring_refusals() {
        let d = dirs();
        let kek = Kek::from_bytes(&[1; 32]).unwrap();
        KeyRing::open(&d.data, &kek).unwrap();
        // Another KEK.
        assert!(matches!(
            KeyRing::open(&d.data, &Kek::from_bytes(&[2; 32]).unwrap()),
            Err(SecretsError::Unseal { .. })
        ));
        // A sealed file copied over another does not open (the name is associated data).
        let seal_key = d.data.join(SEAL_KEY_SEALED);
        let original = fs::read(&seal_key).unwrap();
        fs::copy(d.data.join(ADMIN_TOKEN_SEALED), &seal_key).unwrap();
        assert!(matches!(KeyRing::open(&d.data, &kek), Err(SecretsError::Unseal { .. })));
        // A flipped bit does not open.
        let mut flipped = original.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        fs::write(&seal_key, &flipped).unwrap();
        assert!(matches!(KeyRing::open(&d.data, &kek), Err(SecretsError::Unseal { .. })));
        fs::write(&seal_key, &original).unwrap();
        KeyRing::open(&d.data, &kek).unwrap();
        // A key file readable by the group.
        fs::set_permissions(&seal_key, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(KeyRing::open(&d.data, &kek), Err(SecretsError::InsecurePermissions { mode: 0o640, .. })));
        fs::set_permissions(&seal_key, fs::Permissions::from_mode(0o600)).unwrap();
        // A gap in the signing keys.
        fs::rename(d.data.join(signing_key_name(1)), d.data.join(signing_key_name(2))).unwrap();
        assert!(matches!(KeyRing::open(&d.data, &kek), Err(SecretsError::Invalid { .. })));
    }

    #[test]
    fn old_plaintext_layout_is_migrated() {
        let d = dirs();
        let key = files::signing_key(&d.data).unwrap();
        let seal_key = files::seal_key(&d.data).unwrap();
        let token = files::admin_token(&d.data).unwrap();
        let dev = DeviceId::new("dev").unwrap();
        let sealed_secret = Sealer::new(&seal_key).unwrap().seal(&dev, &PinSecret::from_bytes([9; 32])).unwrap();

        let kek = Kek::from_bytes(&[3; 32]).unwrap();
        let ring = KeyRing::open(&d.data, &kek).unwrap();
        assert_eq!(ring.public_key(), key.public_key());
        assert_eq!(ring.admin_token(), token.as_str());
        assert_eq!(ring.sealer().unwrap().open(&dev, &sealed_secret).unwrap(), PinSecret::from_bytes([9; 32]));
        for old in [SIGNING_KEY_FILE, SEAL_KEY_FILE, ADMIN_TOKEN_FILE] {
            assert!(!d.data.join(old).exists(), "{old} was not removed");
        }
        assert_eq!(KeyRing::open(&d.data, &kek).unwrap().public_key(), key.public_key());

        // A crash after sealing but before removal: the plaintext must match, then goes.
        fs::write(d.data.join(ADMIN_TOKEN_FILE), format!("{}\n", token.as_str())).unwrap();
        fs::set_permissions(d.data.join(ADMIN_TOKEN_FILE), fs::Permissions::from_mode(0o600)).unwrap();
        KeyRing::open(&d.data, &kek).unwrap();
        assert!(!d.data.join(ADMIN_TOKEN_FILE).exists());
        write_mode(&d.data.join(ADMIN_TOKEN_FILE), b"adm_somethingelseentirely", 0o600);
        assert!(matches!(KeyRing::open(&d.data, &kek), Err(SecretsError::Invalid { .. })));
        // An old plaintext file readable by others is refused, not migrated.
        write_mode(&d.data.join(ADMIN_TOKEN_FILE), token.as_bytes(), 0o644);
        assert!(matches!(KeyRing::open(&d.data, &kek), Err(SecretsError::InsecurePermissions { .. })));
    }

    #[test]
    fn rotation_chain() {
        let d = dirs();
        let kek = Kek::from_bytes(&[4; 32]).unwrap();
        let first = KeyRing::open(&d.data, &kek).unwrap().public_key();
        let one = KeyRing::rotate(&d.data, &kek).unwrap();
        let two = KeyRing::rotate(&d.data, &kek).unwrap();
        assert_eq!(one.old_key, first);
        assert_eq!(two.old_key, one.new_key);
        assert!(one.verify() && two.verify());
        let ring = KeyRing::open(&d.data, &kek).unwrap();
        assert_eq!(ring.public_keys(), vec![first, one.new_key, two.new_key]);
        assert_eq!(ring.public_key(), two.new_key);
        assert_eq!(ring.rotations(), &[one, two]);
        assert_eq!(fs::metadata(d.data.join(ROTATIONS_FILE)).unwrap().mode() & 0o777, 0o600);

        // A crash between the new key and its statement: the next open signs it.
        write_rotations(&d.data, &[one]).unwrap();
        let healed = KeyRing::open(&d.data, &kek).unwrap();
        assert_eq!(healed.rotations().len(), 2);
        assert!(healed.rotations()[1].verify());
        assert_eq!(healed.rotations()[1].old_key, one.new_key);

        // A forged statement is refused.
        let mut forged = two;
        forged.signature.0[0] ^= 1;
        write_rotations(&d.data, &[one, forged]).unwrap();
        assert!(matches!(KeyRing::open(&d.data, &kek), Err(SecretsError::Invalid { .. })));
        // One signed by the wrong key is refused too.
        let stranger = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
        write_rotations(&d.data, &[one, RotationStatement::sign(&stranger, &two.new_key)]).unwrap();
        assert!(matches!(KeyRing::open(&d.data, &kek), Err(SecretsError::Invalid { .. })));
    }

    #[tokio::test]
    async fn audit_heads_of_old_keys_verify_after_rotation() {
        use crate::audit::{self, Audit, Entry};
        use crate::store::Store;
        use nyckel_protocol::wire::audit::AuditKind;

        let d = dirs();
        let kek = Kek::from_bytes(&[6; 32]).unwrap();
        let ring = KeyRing::open(&d.data, &kek).unwrap();
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(crate::store::SledStore::open(&d.data).unwrap());
        Audit::open(store.clone(), ring.signing_key())
            .await
            .unwrap()
            .append(Entry::new(AuditKind::DeviceEnrolled, "device"), 1)
            .await
            .unwrap();
        KeyRing::rotate(&d.data, &kek).unwrap();
        let ring = KeyRing::open(&d.data, &kek).unwrap();
        // The head is still the old key's until the next event.
        assert!(audit::verify(store.audit(), &ring.public_keys()).await.unwrap().is_intact());
        assert!(!audit::verify(store.audit(), &[ring.public_key()]).await.unwrap().is_intact());
        Audit::open(store.clone(), ring.signing_key())
            .await
            .unwrap()
            .append(Entry::new(AuditKind::KeyRotated, "admin"), 2)
            .await
            .unwrap();
        assert!(audit::verify(store.audit(), &ring.public_keys()).await.unwrap().is_intact());
    }

    #[test]
    fn rotation_bytes_are_canonical() {
        let old = ServerPublicKey([1; 32]);
        let new = ServerPublicKey([2; 32]);
        let mut expected = Vec::new();
        for field in [ROTATION_TAG.as_bytes(), &[1; 32], &[2; 32]] {
            expected.extend_from_slice(&(field.len() as u32).to_be_bytes());
            expected.extend_from_slice(field);
        }
        assert_eq!(RotationStatement::signed_bytes(&old, &new), expected);
    }
}
