//! The encrypted vault: operations, wrong keys, tampering, backups, and refusing bad input
//! without changing anything.

use nyckel_core::vault::seal::VaultKey;
use nyckel_core::{
    parse_otpauth, BackupError, KdfParams, MemoryKeyStore, OtpKind, PassphraseKeyStore, Vault, VaultError,
};
use zeroize::Zeroizing;

const CHEAP: KdfParams = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };

fn passphrase_store(passphrase: &str) -> PassphraseKeyStore {
    PassphraseKeyStore::new(Zeroizing::new(passphrase.to_string()), CHEAP)
}

fn acme() -> nyckel_core::Account {
    parse_otpauth("otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME").unwrap()
}

#[test]
fn add_list_rename_delete_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let store = passphrase_store("correct horse");
    let id = {
        let vault = Vault::create(dir.path(), &store).unwrap();
        let id = vault.add(acme()).unwrap();
        vault
            .add(parse_otpauth("otpauth://hotp/Bank:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0").unwrap())
            .unwrap();
        vault.rename(id, "ACME Corp", "alice").unwrap();
        id
    };
    let vault = Vault::open(dir.path(), &store).unwrap();
    let entries = vault.list().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].id, id);
    assert_eq!((entries[0].account.issuer.as_str(), entries[0].account.name.as_str()), ("ACME Corp", "alice"));
    assert_eq!(entries[0].account.secret, acme().secret);
    vault.delete(id).unwrap();
    assert!(matches!(vault.delete(id), Err(VaultError::NotFound(_))));
    assert_eq!(vault.list().unwrap().len(), 1);
}

#[test]
fn hotp_counter_moves_on_disk_before_the_code_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let store = passphrase_store("pw");
    let vault = Vault::create(dir.path(), &store).unwrap();
    // RFC 4226 secret "12345678901234567890".
    let id = vault
        .add(parse_otpauth("otpauth://hotp/rfc?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0").unwrap())
        .unwrap();
    let codes: Vec<String> = (0..3).map(|_| vault.next_hotp_code(id).unwrap().code).collect();
    assert_eq!(codes, ["755224", "287082", "359152"]);
    drop(vault);
    let vault = Vault::open(dir.path(), &store).unwrap();
    assert_eq!(vault.get(id).unwrap().params.kind, OtpKind::Hotp { counter: 3 });
    assert_eq!(vault.next_hotp_code(id).unwrap().code, "969429");

    let max =
        vault.add(parse_otpauth("otpauth://hotp/max?secret=GEZDGNBV&counter=18446744073709551615").unwrap()).unwrap();
    assert!(matches!(vault.next_hotp_code(max), Err(VaultError::CounterExhausted)));
    assert_eq!(vault.get(max).unwrap().params.kind, OtpKind::Hotp { counter: u64::MAX });
    let totp = vault.add(acme()).unwrap();
    assert!(matches!(vault.next_hotp_code(totp), Err(VaultError::NotHotp(_))));
}

#[test]
fn wrong_passphrase_or_key_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    Vault::create(dir.path(), &passphrase_store("right")).unwrap().add(acme()).unwrap();
    assert!(matches!(Vault::open(dir.path(), &passphrase_store("wrong")), Err(VaultError::WrongKey)));
    let other = MemoryKeyStore::new(VaultKey::generate().unwrap());
    assert!(matches!(Vault::open(dir.path(), &other), Err(VaultError::KeyStore(_))));

    let dir = tempfile::tempdir().unwrap();
    Vault::create(dir.path(), &MemoryKeyStore::new(VaultKey::generate().unwrap())).unwrap();
    let other = MemoryKeyStore::new(VaultKey::generate().unwrap());
    assert!(matches!(Vault::open(dir.path(), &other), Err(VaultError::WrongKey)));
}

#[test]
fn missing_and_existing_vaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    assert!(matches!(Vault::open(&path, &passphrase_store("x")), Err(VaultError::NotInitialized(_))));
    assert!(!path.exists(), "opening must not create a vault");
    drop(Vault::create(&path, &passphrase_store("x")).unwrap());
    assert!(matches!(Vault::create(&path, &passphrase_store("x")), Err(VaultError::AlreadyInitialized(_))));
}

#[test]
fn secrets_are_not_stored_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::create(dir.path(), &passphrase_store("pw")).unwrap();
    vault
        .add(
            parse_otpauth("otpauth://totp/VisibleIssuer:visible-name?secret=KRUGS4ZANFZSAYJAOZSXE6JAONSWG4TFOQ")
                .unwrap(),
        )
        .unwrap();
    drop(vault);
    let mut everything = Vec::new();
    for file in walk(dir.path()) {
        everything.extend(std::fs::read(file).unwrap());
    }
    for needle in [&b"This is a very secret"[..], b"KRUGS4ZANFZSAYJA", b"VisibleIssuer", b"visible-name"] {
        assert!(
            !everything.windows(needle.len()).any(|w| w == needle),
            "{:?} found on disk",
            String::from_utf8_lossy(needle)
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn backup_round_trip_wrong_passphrase_and_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::create(&dir.path().join("a"), &passphrase_store("pw")).unwrap();
    vault.add(acme()).unwrap();
    vault
        .add(parse_otpauth("otpauth://hotp/Bank:bob?secret=GEZDGNBV&counter=5&digits=8&algorithm=SHA512").unwrap())
        .unwrap();
    let backup = vault.export_backup("backup pass", CHEAP).unwrap();
    assert!(std::str::from_utf8(&backup).unwrap().contains("\"format\": \"nyckel-backup\""));

    let target = Vault::create(&dir.path().join("b"), &passphrase_store("other")).unwrap();
    assert!(matches!(target.import_backup(&backup, "nope"), Err(VaultError::Backup(BackupError::WrongPassphrase))));
    let mut altered = backup.clone();
    let position = altered.len() - 10;
    altered[position] = if altered[position] == b'A' { b'B' } else { b'A' };
    assert!(matches!(target.import_backup(&altered, "backup pass"), Err(VaultError::Backup(_))));
    assert!(matches!(
        target.import_backup(b"\xff\xfe not json", "backup pass"),
        Err(VaultError::Backup(BackupError::NotABackup(_)))
    ));
    let newer = String::from_utf8(backup.clone()).unwrap().replace("\"version\": 1", "\"version\": 9");
    assert!(matches!(
        target.import_backup(newer.as_bytes(), "backup pass"),
        Err(VaultError::Backup(BackupError::UnsupportedVersion(9)))
    ));
    assert!(target.is_empty(), "failed imports must leave the vault unchanged");

    let report = target.import_backup(&backup, "backup pass").unwrap();
    assert_eq!(report.added.len(), 2);
    let again = target.import_backup(&backup, "backup pass").unwrap();
    assert_eq!((again.added.len(), again.duplicates), (0, 2));
    let originals: Vec<_> = vault.list().unwrap().into_iter().map(|e| e.account).collect();
    let copies: Vec<_> = target.list().unwrap().into_iter().map(|e| e.account).collect();
    assert_eq!(originals, copies);
}

#[test]
fn a_tampered_record_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryKeyStore::new(VaultKey::generate().unwrap());
    let vault = Vault::create(dir.path(), &store).unwrap();
    vault.add(acme()).unwrap();
    drop(vault);
    {
        let db = sled::open(dir.path()).unwrap();
        let tree = db.open_tree("accounts").unwrap();
        let (key, value) = tree.iter().next().unwrap().unwrap();
        let mut value = value.to_vec();
        let last = value.len() - 1;
        value[last] ^= 1;
        tree.insert(key, value).unwrap();
        db.flush().unwrap();
    }
    let vault = Vault::open(dir.path(), &store).unwrap();
    assert!(matches!(vault.list(), Err(VaultError::Corrupt(_))));
}

#[test]
fn an_invalid_batch_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::create(dir.path(), &passphrase_store("pw")).unwrap();
    let mut bad = acme();
    bad.params.digits = 12;
    assert!(matches!(vault.add_all(vec![acme(), bad.clone()]), Err(VaultError::Params(_))));
    assert!(matches!(vault.add(bad), Err(VaultError::Params(_))));
    assert!(vault.is_empty());
}

#[test]
fn a_create_interrupted_before_the_header_is_finished_by_open_or_create() {
    let dir = tempfile::tempdir().unwrap();
    // What a kill between sled's own files and the header insert leaves behind.
    drop(sled::open(dir.path()).unwrap());
    assert!(Vault::exists(dir.path()));
    let store = passphrase_store("pw");
    assert!(matches!(Vault::open(dir.path(), &store), Err(VaultError::NotInitialized(_))));
    Vault::open_or_create(dir.path(), &store).unwrap().add(acme()).unwrap();
    assert_eq!(Vault::open_or_create(dir.path(), &store).unwrap().len(), 1);
}
