//! Cold start: open a vault of 500 accounts and compute every code (target: under 50 ms median).

use criterion::{criterion_group, criterion_main, Criterion};
use nyckel_core::vault::seal::VaultKey;
use nyckel_core::{parse_otpauth, KdfParams, MemoryKeyStore, PassphraseKeyStore, Vault};
use zeroize::Zeroizing;

const ACCOUNTS: usize = 500;
const NOW: u64 = 1_767_225_600;

fn accounts() -> Vec<nyckel_core::Account> {
    (0..ACCOUNTS)
        .map(|index| {
            let (algorithm, digits) = [("SHA1", 6), ("SHA256", 8), ("SHA512", 7)][index % 3];
            let uri = format!(
                "otpauth://totp/Service{index}:user{index}@example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX{}&algorithm={algorithm}&digits={digits}",
                ["P", "Q", "R", "S"][index % 4]
            );
            parse_otpauth(&uri).expect("benchmark URIs are well formed")
        })
        .collect()
}

fn open_and_compute_all(path: &std::path::Path, store: &dyn nyckel_core::KeyStore) -> usize {
    let vault = Vault::open(path, store).expect("vault opens");
    let entries = vault.list().expect("vault lists");
    entries.iter().map(|entry| entry.account.code_at(NOW).expect("code").code.len()).sum()
}

fn cold_start(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("platform-key");
    let platform = MemoryKeyStore::new(VaultKey::generate().expect("random key"));
    Vault::create(&path, &platform).expect("create").add_all(accounts()).expect("fill");

    let passphrase_path = dir.path().join("passphrase");
    let passphrase = PassphraseKeyStore::new(Zeroizing::new("bench passphrase".into()), KdfParams::RECOMMENDED);
    Vault::create(&passphrase_path, &passphrase).expect("create").add_all(accounts()).expect("fill");

    let mut group = c.benchmark_group("cold_start_500_accounts");
    group.sample_size(30);
    group.bench_function("platform_key_open_list_codes", |b| {
        b.iter(|| assert_eq!(open_and_compute_all(&path, &platform), 500 * 7))
    });
    group.sample_size(10);
    group.bench_function("passphrase_argon2id_64MiB_open_list_codes", |b| {
        b.iter(|| assert_eq!(open_and_compute_all(&passphrase_path, &passphrase), 500 * 7))
    });
    group.finish();
}

criterion_group!(benches, cold_start);
criterion_main!(benches);
