//! The `nyckel` binary end to end: codes agree with oathtool, every command works, and bad
//! input is one clear error line with a non-zero exit that leaves the vault unchanged.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

struct Vault {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl Vault {
    fn new() -> Vault {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault");
        let vault = Vault { _dir: dir, path };
        vault.ok(["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"]);
        vault
    }

    fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Command::new(env!("CARGO_BIN_EXE_nyckel"))
            .args(args)
            .env("NYCKEL_VAULT", &self.path)
            .env("NYCKEL_PASSPHRASE", "vault pass")
            .env("NYCKEL_BACKUP_PASSPHRASE", "backup pass")
            .env_remove("NYCKEL_TIME")
            .output()
            .unwrap()
    }

    fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let output = self.run(args);
        assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a command that must fail with one `nyckel:` line and no change to the vault.
    fn refused<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let before = self.ok(["list"]);
        let output = self.run(args);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success());
        assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(self.ok(["list"]), before, "the vault changed");
        stderr
    }
}

fn oathtool(args: &[&str]) -> String {
    let output = Command::new("oathtool")
        .args(args)
        .output()
        .expect("oathtool is missing: run scripts/test.sh, which installs the Debian package oathtool");
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The code column of `nyckel code` output for a one-account query.
fn code_of(output: &str) -> String {
    output.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn totp_codes_match_oathtool_at_fixed_times() {
    let vault = Vault::new();
    vault.ok(["add", "otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME"]);
    vault.ok(["add", "otpauth://totp/Bank:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA256&digits=8"]);
    vault.ok(["add", "otpauth://totp/Slow:carol?secret=GEZDGNBVGY3TQOJQ&algorithm=SHA512&digits=7&period=60"]);
    for time in ["59", "1111111109", "1767225600", "2000000000"] {
        let at = format!("@{time}");
        let ours = code_of(&vault.ok(["--time", time, "code", "ACME"]));
        assert_eq!(ours, oathtool(&["--totp", "-b", "-N", &at, "JBSWY3DPEHPK3PXP"]), "SHA1 at {time}");
        let ours = code_of(&vault.ok(["--time", time, "code", "Bank"]));
        let theirs = oathtool(&["--totp=sha256", "--digits=8", "-b", "-N", &at, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"]);
        assert_eq!(ours, theirs, "SHA256/8 at {time}");
        let ours = code_of(&vault.ok(["--time", time, "code", "Slow"]));
        let theirs =
            oathtool(&["--totp=sha512", "--digits=7", "--time-step-size=60s", "-b", "-N", &at, "GEZDGNBVGY3TQOJQ"]);
        assert_eq!(ours, theirs, "SHA512/7/60s at {time}");
    }
}

#[test]
fn totp_code_matches_oathtool_now() {
    let vault = Vault::new();
    vault.ok(["add", "otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME"]);
    // Both read the clock; if a 30 s boundary falls between them, the pair is taken again.
    for _ in 0..3 {
        let before = oathtool(&["--totp", "-b", "JBSWY3DPEHPK3PXP"]);
        let ours = code_of(&vault.ok(["code", "ACME"]));
        let after = oathtool(&["--totp", "-b", "JBSWY3DPEHPK3PXP"]);
        if before == after {
            assert_eq!(ours, before);
            return;
        }
    }
    panic!("the clock crossed a period boundary three times in a row");
}

#[test]
fn hotp_codes_match_oathtool_and_the_counter_advances() {
    let vault = Vault::new();
    vault.ok(["add", "otpauth://hotp/Door:dave?secret=JBSWY3DPEHPK3PXP&counter=5"]);
    vault.ok(["add", "otpauth://hotp/Gate:erin?secret=GEZDGNBVGY3TQOJQ&counter=0&digits=8"]);
    for counter in ["5", "6", "7"] {
        assert_eq!(code_of(&vault.ok(["code", "Door"])), oathtool(&["-b", "-c", counter, "JBSWY3DPEHPK3PXP"]));
    }
    assert_eq!(code_of(&vault.ok(["code", "gate"])), oathtool(&["-b", "-d", "8", "-c", "0", "GEZDGNBVGY3TQOJQ"]));
    // Listing codes of several accounts must not spend HOTP counters.
    let all = vault.ok(["code"]);
    assert!(all.contains("------"), "{all}");
    assert!(vault.ok(["list"]).contains("counter 8"));
}

#[test]
fn every_command_and_a_backup_round_trip() {
    let vault = Vault::new();
    vault.ok(["add", "otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME"]);
    vault.ok(["add", "otpauth://totp/ACME:bob@example.com?secret=GEZDGNBVGY3TQOJQ&issuer=ACME"]);
    assert!(vault.refused(["rm", "ACME"]).contains("matches several accounts"));
    vault.ok(["rename", "bob", "robert@example.com", "--issuer", "ACME Ltd"]);
    assert!(vault.ok(["list"]).contains("ACME Ltd:robert@example.com"));
    vault.ok([
        "import",
        "otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZTAC",
    ]);
    let backup = vault.path.with_file_name("backup.json");
    let out = vault.ok([OsStr::new("export"), backup.as_os_str(), OsStr::new("--kdf-memory-kib"), OsStr::new("256")]);
    assert!(out.contains("exported 3 accounts"), "{out}");
    assert!(vault.refused([OsStr::new("export"), backup.as_os_str()]).contains("already exists"));

    let other = Vault::new();
    let wrong = other.run([OsStr::new("import"), backup.as_os_str()]);
    assert!(wrong.status.success(), "same backup passphrase env: must import");
    assert!(other.ok(["list"]).contains("Example:alice@google.com"));
    let again = other.ok([OsStr::new("import"), backup.as_os_str()]);
    assert!(again.contains("imported 0 accounts (3 already present)"), "{again}");

    let third = Vault::new();
    let output = Command::new(env!("CARGO_BIN_EXE_nyckel"))
        .args([OsStr::new("import"), backup.as_os_str()])
        .env("NYCKEL_VAULT", &third.path)
        .env("NYCKEL_PASSPHRASE", "vault pass")
        .env("NYCKEL_BACKUP_PASSPHRASE", "not the backup pass")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("wrong backup passphrase"));
    assert_eq!(third.ok(["list"]), "");

    vault.ok(["rm", "#1"]);
    assert!(!vault.ok(["list"]).contains("alice@example.com"));
    let output = Command::new(env!("CARGO_BIN_EXE_nyckel"))
        .args(["list"])
        .env("NYCKEL_VAULT", &vault.path)
        .env("NYCKEL_PASSPHRASE", "wrong pass")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stderr).trim(), "nyckel: wrong passphrase or key for this vault");
}

#[test]
fn malformed_input_is_refused_and_changes_nothing() {
    let vault = Vault::new();
    vault.ok(["add", "otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME"]);
    let cases = [
        ("otpauth://totp/ACME:x?issuer=ACME", "no secret"),
        ("otpauth://totp/ACME:x?secret=JBSW1Y3D", "not valid base32"),
        ("otpauth://totp/ACME:x?secret=JBSWY3DPEHPK3PXP&digits=12", "12 digits"),
        ("otpauth://totp/ACME:x?secret=JBSWY3DPEHPK3PXP&algorithm=MD5", "unknown algorithm"),
        ("otpauth://totp/ACME:x?secret=JBSWY3DPEHPK3PXP&period=0", "period"),
        ("otpauth://hotp/ACME:x?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551616", "counter"),
        ("otpauth://totp/ACME%FF:x?secret=JBSWY3DPEHPK3PXP", "UTF-8"),
    ];
    for (uri, expected) in cases {
        let stderr = vault.refused(["add", uri]);
        assert!(stderr.contains(expected), "{uri}: {stderr}");
    }
    let migration =
        "otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZTAC";
    let truncated = &migration[..migration.len() - 12];
    assert!(vault.refused(["import", truncated]).contains("truncated"));
    let corrupted = migration.replace("CjEK", "DzEK");
    assert!(vault.refused(["import", corrupted.as_str()]).contains("export"));
    // A good URI next to a bad one: nothing is imported.
    vault.refused(["import", "otpauth://totp/New:one?secret=GEZDGNBV", "otpauth://totp/New:two?secret=1"]);

    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("binary.txt");
    std::fs::write(&binary, b"otpauth://totp/A:\xff\xfe?secret=JBSWY3DPEHPK3PXP\n").unwrap();
    assert!(vault.refused([OsStr::new("import"), binary.as_os_str()]).contains("binary.txt"));
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let stderr =
            vault.refused([OsStr::new("add"), OsStr::from_bytes(b"otpauth://totp/A:\xff?secret=JBSWY3DPEHPK3PXP")]);
        assert!(stderr.contains("UTF-8"), "{stderr}");
    }
    let garbage_backup = dir.path().join("backup.json");
    std::fs::write(&garbage_backup, b"{\"format\":\"nyckel-backup\",\"version\":1}").unwrap();
    assert!(vault.refused([OsStr::new("import"), garbage_backup.as_os_str()]).contains("not a Nyckel backup"));
    assert!(vault.refused(["import", "/nonexistent/file"]).contains("/nonexistent/file"));
    assert!(Path::new(&vault.path).exists());
}

#[test]
fn a_missing_vault_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_nyckel"))
        .args(["list"])
        .env("NYCKEL_VAULT", dir.path().join("none"))
        .env("NYCKEL_PASSPHRASE", "x")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("run init first"));
}

fn sample(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../qr/tests/qr-samples").join(relative)
}

#[test]
fn scan_and_add_from_a_photographed_qr_code() {
    let vault = Vault::new();
    let photo = sample("otpauth-photo.jpg");
    let scanned = vault.ok([OsStr::new("scan"), photo.as_os_str()]);
    assert!(
        scanned.starts_with("Otpauth\totpauth://totp/Nyckel:alice@example.org?secret=JBSWY3DPEHPK3PXP"),
        "{scanned}"
    );
    vault.ok([OsStr::new("add"), OsStr::new("--qr"), photo.as_os_str()]);
    let ours = code_of(&vault.ok(["--time", "1767225600", "code", "Nyckel"]));
    assert_eq!(ours, oathtool(&["--totp", "-b", "-N", "@1767225600", "JBSWY3DPEHPK3PXP"]));
    // A photo whose code is not an authenticator account, and a file that is no image: refused.
    let other = sample("qrcode-1/1.png");
    assert!(vault
        .refused([OsStr::new("add"), OsStr::new("--qr"), other.as_os_str()])
        .contains("no authenticator QR code"));
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    assert!(vault.refused([OsStr::new("scan"), readme.as_os_str()]).contains("unsupported image format"));
}
