//! Secrets kept as files in the data directory (0600): the server signing key, the key that
//! seals PIN secrets, and the admin token. They live outside sled so a copy of the database
//! alone reveals no PIN secret (PROTOCOL.md §4.5), and the admin token is readable while the
//! server holds sled's lock.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nyckel_protocol::{b64, ServerSigningKey};
use zeroize::Zeroizing;

/// File name of the Ed25519 signing key (PKCS#8 DER).
pub const SIGNING_KEY_FILE: &str = "server-signing-key.pk8";
/// File name of the 32-byte key that seals PIN secrets.
pub const SEAL_KEY_FILE: &str = "pin-secret-seal.key";
/// File name of the admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Why a key file could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file exists but its content is unusable.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io { path: path.to_owned(), source }
}

/// Creates the data directory (0700) if needed.
pub fn ensure_dir(dir: &Path) -> Result<(), FileError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))
}

/// Reads `dir/name`, or creates it with `make()` (mode 0600, exclusive create so two
/// processes starting at once cannot both write different secrets).
fn read_or_create(
    dir: &Path,
    name: &str,
    make: impl FnOnce() -> Result<Zeroizing<Vec<u8>>, FileError>,
) -> Result<Zeroizing<Vec<u8>>, FileError> {
    ensure_dir(dir)?;
    let path = dir.join(name);
    match fs::read(&path) {
        Ok(bytes) => return Ok(Zeroizing::new(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(FileError::Io { path, source: e }),
    }
    let bytes = make()?;
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io_err(&path))?;
    file.write_all(&bytes).map_err(io_err(&path))?;
    file.sync_all().map_err(io_err(&path))?;
    Ok(bytes)
}

/// The server's Ed25519 signing key, created at first start and kept.
pub fn signing_key(dir: &Path) -> Result<ServerSigningKey, FileError> {
    let path = dir.join(SIGNING_KEY_FILE);
    let pkcs8 = read_or_create(dir, SIGNING_KEY_FILE, || {
        ServerSigningKey::generate_pkcs8().map_err(|e| FileError::Invalid { path: path.clone(), reason: e.to_string() })
    })?;
    ServerSigningKey::from_pkcs8(&pkcs8).map_err(|e| FileError::Invalid { path, reason: e.to_string() })
}

/// The 32-byte key sealing PIN secrets at rest.
pub fn seal_key(dir: &Path) -> Result<Zeroizing<[u8; 32]>, FileError> {
    let path = dir.join(SEAL_KEY_FILE);
    let bytes = read_or_create(dir, SEAL_KEY_FILE, || random_bytes::<32>(&path).map(|b| Zeroizing::new(b.to_vec())))?;
    let key: [u8; 32] =
        bytes.as_slice().try_into().map_err(|_| FileError::Invalid { path, reason: "expected 32 bytes".into() })?;
    Ok(Zeroizing::new(key))
}

/// The admin token (`adm_` + 32 random bytes base64url), created on first use.
pub fn admin_token(dir: &Path) -> Result<Zeroizing<String>, FileError> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    let bytes = read_or_create(dir, ADMIN_TOKEN_FILE, || {
        let raw = random_bytes::<32>(&path)?;
        Ok(Zeroizing::new(format!("adm_{}\n", b64::encode(&raw)).into_bytes()))
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| FileError::Invalid { path: path.clone(), reason: "not UTF-8".into() })?;
    let token = text.trim();
    if token.len() < 16 {
        return Err(FileError::Invalid { path, reason: "admin token too short".into() });
    }
    Ok(Zeroizing::new(token.to_owned()))
}

/// `N` bytes from the system random generator.
pub fn random_bytes<const N: usize>(path: &Path) -> Result<[u8; N], FileError> {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| FileError::Invalid { path: path.to_owned(), reason: "system random generator failed".into() })?;
    Ok(out)
}
