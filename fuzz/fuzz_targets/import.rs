#![no_main]
//! Other apps' export files (core `import`): format detection, then every reader — Aegis,
//! 2FAS, Bitwarden JSON and CSV, andOTP, FreeOTP+, Ente, Proton, URI lists — on whatever the
//! input is. A selector byte picks detection or one format; the rest is the file. Files are read
//! without a passphrase (an encrypted one stops before key derivation, which would make every
//! run slow) except for 2FAS, whose fixed 10 000 PBKDF2 iterations are affordable. The
//! accounts read are written as an Aegis vault and read back: they must come back equal.

use libfuzzer_sys::fuzz_target;
use nyckel_core::import::{self, aegis, Format};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let format = match selector % 9 {
        0 => None,
        n => Some(Format::ALL[usize::from(n - 1)]),
    };
    let passphrase = (format == Some(Format::TwoFas) && selector & 0x80 != 0).then_some("test");
    let _ = import::detect(bytes);
    let Ok(parsed) = import::parse(bytes, format, passphrase) else { return };
    let accounts: Vec<_> = parsed.entries.into_iter().filter_map(|entry| entry.account.ok()).collect();
    let written = aegis::write_vault(&accounts, None).expect("writing an Aegis vault cannot fail");
    let back = import::parse(&written, Some(Format::Aegis), None).expect("our own Aegis vault must parse");
    let back: Vec<_> = back.entries.into_iter().map(|entry| entry.account.expect("every account comes back")).collect();
    assert_eq!(back, accounts);
});
