//! Imports from other apps: every format, plain and encrypted, from sample files written by hand
//! from the formats' descriptions (encrypted ones by tests/import-samples/make_encrypted.py with
//! Python's `cryptography`, independently of these parsers); one broken entry among good ones in
//! each; the vault's per-entry outcomes and all-or-nothing; the Aegis export read back.

use std::path::Path;

use nyckel_core::import::{self, EntryError, EntryOutcome, Format, ImportError};
use nyckel_core::{parse_otpauth, Account, KdfParams, OtpParams, PassphraseKeyStore, SecretBytes, Vault, VaultError};
use zeroize::Zeroizing;

const ACME: &str = "otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME";
const BANK: &str =
    "otpauth://hotp/Bank:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&algorithm=SHA256&digits=7&counter=5";
const STEAM: &str = "otpauth://steam/Steam:gabe?secret=KRSXG5CTMVRXEZLU";
const EXAMPLE: &str = "otpauth://totp/Example:carol?secret=MFRGGZDFMZTWQ2LK&algorithm=SHA512&digits=8&period=60";

fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import-samples").join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn uri(text: &str) -> Account {
    parse_otpauth(text).unwrap()
}

/// The four good accounts every sample holds, in file order.
fn standard() -> Vec<Account> {
    vec![uri(ACME), uri(BANK), uri(STEAM), uri(EXAMPLE)]
}

fn erin(issuer: &str) -> Account {
    Account {
        issuer: issuer.into(),
        name: "erin".into(),
        secret: SecretBytes::new(b"foobar".to_vec()),
        params: OtpParams::totp(nyckel_core::Algorithm::Sha1, 6, 30).unwrap(),
    }
}

/// Parses a sample (detecting its format), checks the good accounts and the refusals.
fn check(name: &str, format: Format, passphrase: Option<&str>, good: &[Account], refused: &[&str]) {
    let bytes = sample(name);
    assert_eq!(import::detect(&bytes), Some(format), "{name}: detection");
    let parsed = import::parse(&bytes, None, passphrase).unwrap_or_else(|error| panic!("{name}: {error}"));
    assert_eq!(parsed.format, format);
    let accounts: Vec<&Account> = parsed.entries.iter().filter_map(|entry| entry.account.as_ref().ok()).collect();
    assert_eq!(accounts, good.iter().collect::<Vec<_>>(), "{name}: accounts");
    let refusals: Vec<(&str, &EntryError)> = parsed
        .entries
        .iter()
        .filter_map(|entry| entry.account.as_ref().err().map(|error| (entry.label.as_str(), error)))
        .collect();
    assert_eq!(refusals.len(), refused.len(), "{name}: refusals {refusals:?}");
    for ((label, error), expected) in refusals.iter().zip(refused) {
        assert!(
            label.contains(expected) || error.to_string().contains(expected),
            "{name}: {label:?} / {error} should mention {expected:?}"
        );
    }
    // Named explicitly, the same result.
    assert_eq!(import::parse(&bytes, Some(format), passphrase).unwrap(), parsed);
}

#[test]
fn aegis_plain_and_encrypted() {
    check("aegis_plain.json", Format::Aegis, None, &standard(), &["Typo:broken", "motp"]);
    check("aegis_encrypted.json", Format::Aegis, Some("test"), &standard(), &["Typo:broken", "motp"]);
}

#[test]
fn twofas_plain_and_encrypted() {
    check("2fas_plain.2fas", Format::TwoFas, None, &standard(), &["base32"]);
    check("2fas_encrypted.2fas", Format::TwoFas, Some("test"), &standard(), &["base32"]);
}

#[test]
fn andotp_plain_and_encrypted() {
    check("andotp_plain.json", Format::AndOtp, None, &standard(), &["Typo:broken"]);
    check("andotp_encrypted.bin", Format::AndOtp, Some("test"), &standard(), &["Typo:broken"]);
}

#[test]
fn bitwarden_json_and_csv() {
    let mut good = standard();
    good.push(erin("Plain secret"));
    check("bitwarden.json", Format::Bitwarden, None, &good, &["Typo"]);
    *good.last_mut().unwrap() = erin("Plain, secret");
    check("bitwarden.csv", Format::Bitwarden, None, &good, &["Typo"]);
}

#[test]
fn freeotp_ente_proton_and_uri_lists() {
    check("freeotp_plus.json", Format::FreeOtpPlus, None, &standard(), &["Typo:broken"]);
    check("ente.txt", Format::Ente, None, &standard(), &["base32"]);
    check("uris.txt", Format::Uris, None, &standard(), &["base32"]);
    let proton = vec![uri(ACME), uri(STEAM), uri(EXAMPLE)];
    check("proton.json", Format::Proton, None, &proton, &["base32"]);
}

#[test]
fn encrypted_files_need_the_right_passphrase() {
    for (name, format) in [
        ("aegis_encrypted.json", Format::Aegis),
        ("2fas_encrypted.2fas", Format::TwoFas),
        ("andotp_encrypted.bin", Format::AndOtp),
    ] {
        let bytes = sample(name);
        assert_eq!(import::parse(&bytes, None, None), Err(ImportError::PassphraseRequired(format)), "{name}");
        assert_eq!(import::parse(&bytes, None, Some("wrong")), Err(ImportError::WrongPassphrase(format)), "{name}");
    }
    // An altered ciphertext fails authentication, not into garbage.
    let mut bytes = sample("andotp_encrypted.bin");
    let last = bytes.len() - 20;
    bytes[last] ^= 1;
    assert_eq!(import::parse(&bytes, None, Some("test")), Err(ImportError::WrongPassphrase(Format::AndOtp)));
}

#[test]
fn hostile_files_are_refused_without_heavy_work() {
    let text = String::from_utf8(sample("aegis_encrypted.json")).unwrap().replace("\"n\": 4096", "\"n\": 1073741824");
    assert!(matches!(import::parse(text.as_bytes(), None, Some("test")), Err(ImportError::KdfParams { .. })));
    let mut andotp = sample("andotp_encrypted.bin");
    andotp[..4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(import::parse(&andotp, Some(Format::AndOtp), Some("test")), Err(ImportError::KdfParams { .. })));
    assert_eq!(import::detect(b"hello world"), None);
    assert_eq!(import::detect(b"{\"something\":1}"), None);
    assert_eq!(import::parse(b"\x00\x01", None, None), Err(ImportError::UnknownFormat));
    assert!(matches!(import::parse(b"[1,2", Some(Format::AndOtp), None), Err(ImportError::Malformed { .. })));
    // Entries of the wrong shape are refused one by one, never the whole file.
    let parsed = import::parse(br#"[1, {"type":"TOTP"}, "x"]"#, Some(Format::AndOtp), None).unwrap();
    assert_eq!(parsed.entries.len(), 3);
    assert!(parsed.entries.iter().all(|entry| entry.account.is_err()));
    let bitwarden = br#"{"encrypted":true,"passwordProtected":true,"data":"x"}"#;
    assert!(matches!(import::parse(bitwarden, None, None), Err(ImportError::Unsupported(_))));
}

fn new_vault(dir: &Path) -> Vault {
    let params = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };
    Vault::create(dir, &PassphraseKeyStore::new(Zeroizing::new("pw".into()), params)).unwrap()
}

#[test]
fn vault_adds_the_good_entries_and_reports_each() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    vault.add(uri(ACME)).unwrap();
    let report = vault.import_file(&sample("aegis_plain.json"), None, None, false).unwrap();
    assert_eq!(report.format, Format::Aegis);
    let outcomes: Vec<&EntryOutcome> = report.entries.iter().map(|entry| &entry.outcome).collect();
    assert!(matches!(
        outcomes[..],
        [
            EntryOutcome::AlreadyPresent,
            EntryOutcome::Added(2),
            EntryOutcome::Refused(EntryError::Secret(_)),
            EntryOutcome::Added(3),
            EntryOutcome::Refused(EntryError::UnsupportedType(_)),
            EntryOutcome::Added(4)
        ]
    ));
    assert_eq!((report.added(), report.already_present(), report.refused()), (3, 1, 2));
    assert_eq!(report.entries[2].label, "Typo:broken");
    let stored: Vec<Account> = vault.list().unwrap().into_iter().map(|entry| entry.account).collect();
    assert_eq!(stored, standard());

    // The same accounts from another app are all already present.
    let report = vault.import_file(&sample("2fas_plain.2fas"), None, None, false).unwrap();
    assert_eq!((report.added(), report.already_present(), report.refused()), (0, 4, 1));
    assert_eq!(vault.len(), 4);
}

#[test]
fn all_or_nothing_adds_nothing_when_one_entry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(dir.path());
    let report = vault.import_file(&sample("uris.txt"), None, None, true).unwrap();
    assert_eq!((report.added(), report.refused()), (0, 1));
    assert_eq!(report.entries.iter().filter(|entry| entry.outcome == EntryOutcome::NotAdded).count(), 4);
    // Refused lines carry their line number (zero-based) for the message.
    assert_eq!(report.entries.iter().find(|e| matches!(e.outcome, EntryOutcome::Refused(_))).unwrap().index, 4);
    assert!(vault.is_empty());
    // Without the broken entry, all-or-nothing imports everything.
    let text = String::from_utf8(sample("uris.txt")).unwrap();
    let good: String = text.lines().filter(|line| !line.contains("Typo")).map(|line| format!("{line}\n")).collect();
    let report = vault.import_file(good.as_bytes(), Some(Format::Uris), None, true).unwrap();
    assert_eq!(report.added(), 4);
    // A whole-file failure is an error and changes nothing.
    let error = vault.import_file(&sample("2fas_encrypted.2fas"), None, Some("wrong"), false).unwrap_err();
    assert!(matches!(error, VaultError::Import(ImportError::WrongPassphrase(Format::TwoFas))));
    assert_eq!(vault.len(), 4);
}

#[test]
fn aegis_export_imports_back_with_every_account_equal() {
    let dir = tempfile::tempdir().unwrap();
    let vault = new_vault(&dir.path().join("a"));
    let mut accounts = standard();
    accounts.push(uri("otpauth://totp/Ex%C3%A4mple%20%26%20Co:%C3%B6rjan%3Ax?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&digits=7&period=45&algorithm=SHA256"));
    accounts.push(uri("otpauth://hotp/NoCounter:max?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551615"));
    accounts.push(uri("otpauth://totp/only-name?secret=MFRGGZDFMZTWQ2LK"));
    vault.add_all(accounts.clone()).unwrap();

    for (passphrase, name) in [(None, "plain"), (Some("export pass"), "encrypted")] {
        let bytes = vault.export_aegis(passphrase).unwrap();
        assert_eq!(import::detect(&bytes), Some(Format::Aegis), "{name}");
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(text.contains("JBSWY3DPEHPK3PXP"), passphrase.is_none(), "{name}: secrets only in the plain file");
        let other = new_vault(&dir.path().join(name));
        let report = other.import_file(&bytes, None, passphrase, true).unwrap();
        assert_eq!(report.added(), accounts.len(), "{name}");
        let back: Vec<Account> = other.list().unwrap().into_iter().map(|entry| entry.account).collect();
        assert_eq!(back, accounts, "{name}");
        if passphrase.is_some() {
            assert!(matches!(import::parse(&bytes, None, Some("nope")), Err(ImportError::WrongPassphrase(_))));
            // The slot carries the parameters Aegis uses.
            assert!(text.contains("\"n\": 32768") && text.contains("\"r\": 8") && text.contains("\"p\": 1"));
        }
    }
}
