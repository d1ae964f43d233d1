//! privacyIDEA push and tiqr tokens in the vault: they survive reopening beside accounts and
//! registrations, and a corrupted, swapped or newer record is a typed error, never a panic,
//! leaving the other records readable.

use nyckel_core::privacyidea::push::{PushToken, DEFAULT_CHALLENGE_LIFETIME};
use nyckel_core::privacyidea::{LocalPinGate, PushInbox, TiqrToken};
use nyckel_core::vault::provider_tokens::PROVIDER_TOKEN_VERSION;
use nyckel_core::vault::seal::VaultKey;
use nyckel_core::{parse_otpauth, MemoryKeyStore, ProviderToken, TokenOrigin, Vault, VaultError};

fn push_token(serial: &str) -> ProviderToken {
    ProviderToken::PrivacyideaPush {
        token: PushToken {
            serial: serial.into(),
            label: serial.into(),
            issuer: "privacyIDEA".into(),
            url: "https://pi.example/ttype/push".into(),
            server_public_key: vec![0x30, 0x82, 1, 2, 3],
            key_alias: format!("pipush-{serial}"),
            app_pin: true,
            app_force_unlock: None,
            enrolled_at: 1,
            challenge_lifetime: DEFAULT_CHALLENGE_LIFETIME,
        },
        inbox: PushInbox::default(),
        gate: Some(LocalPinGate::new("2468").unwrap()),
        biometric: None,
    }
}

fn tiqr_token() -> ProviderToken {
    // TiqrToken's secret fields are private: a stored record is what a test can make.
    let token: TiqrToken = serde_json::from_value(serde_json::json!({
        "user_id": "gina_realm1", "user_name": "Gina Grey", "service_id": "org.privacyidea",
        "service_name": "privacyIDEA", "authentication_url": "https://pi.example/ttype/tiqr",
        "ocra_suite": "OCRA-1:HOTP-SHA1-6:QN10", "salt": vec![1u8; 16], "masked_secret": vec![7u8; 32]
    }))
    .unwrap();
    ProviderToken::Tiqr { token }
}

fn open(dir: &std::path::Path, key: &VaultKey, create: bool) -> Vault {
    let store = MemoryKeyStore::new(key.clone());
    if create { Vault::create(dir, &store) } else { Vault::open(dir, &store) }.unwrap()
}

#[test]
fn tokens_survive_reopening_beside_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let key = VaultKey::generate().unwrap();
    let (push_id, tiqr_id) = {
        let vault = open(dir.path(), &key, true);
        vault.add(parse_otpauth("otpauth://totp/ACME:alice?secret=JBSWY3DPEHPK3PXP").unwrap()).unwrap();
        let push_id = vault.add_provider_token(&push_token("PIPU0001")).unwrap();
        let tiqr_id = vault.add_provider_token(&tiqr_token()).unwrap();
        // The same token twice is refused and changes nothing.
        assert!(matches!(vault.add_provider_token(&push_token("PIPU0001")), Err(VaultError::DuplicateToken(_))));
        (push_id, tiqr_id)
    };
    assert_eq!(push_id, "pipush:PIPU0001@pi.example");
    assert_eq!(tiqr_id, "tiqr:gina_realm1@org.privacyidea");
    let vault = open(dir.path(), &key, false);
    assert_eq!(vault.len(), 1);
    let tokens = vault.provider_tokens().unwrap();
    assert_eq!(tokens, vec![(push_id.clone(), push_token_with_same_gate(&vault, &push_id)), (tiqr_id, tiqr_token())]);
    // Another key does not open them.
    drop(vault);
    let other = MemoryKeyStore::new(VaultKey::generate().unwrap());
    assert!(matches!(Vault::open(dir.path(), &other), Err(VaultError::WrongKey)));
}

/// The stored push token (its gate has a random salt, so compare with what was stored).
fn push_token_with_same_gate(vault: &Vault, id: &str) -> ProviderToken {
    let stored = vault.provider_token(id).unwrap().unwrap();
    let ProviderToken::PrivacyideaPush { gate, .. } = &stored else { panic!("not a push token") };
    let ProviderToken::PrivacyideaPush { token, inbox, .. } = push_token("PIPU0001") else { unreachable!() };
    ProviderToken::PrivacyideaPush { token, inbox, gate: gate.clone(), biometric: None }
}

#[test]
fn corrupted_swapped_or_newer_records_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let key = VaultKey::generate().unwrap();
    let vault = open(dir.path(), &key, true);
    let push_id = vault.add_provider_token(&push_token("PIPU0001")).unwrap();
    let tiqr_id = vault.add_provider_token(&tiqr_token()).unwrap();

    // Flipped bytes: the seal does not open.
    vault.overwrite_provider_token_raw(&push_id, b"not a sealed record at all").unwrap();
    assert!(matches!(vault.provider_token(&push_id), Err(VaultError::Corrupt(_))));
    assert!(matches!(vault.provider_tokens(), Err(VaultError::Corrupt(_))));
    // The other record still reads, and an update of the broken one writes nothing.
    assert_eq!(vault.provider_token(&tiqr_id).unwrap(), Some(tiqr_token()));
    let updated = vault.update_provider_token::<VaultError>(&push_id, |_| Ok(true));
    assert!(matches!(updated, Err(VaultError::Corrupt(_))));

    // Sealed under this slot but not a token record.
    vault.overwrite_provider_token_plain(&push_id, b"{\"v\":1,\"token\":{\"kind\":\"unknown\"}}").unwrap();
    assert!(matches!(vault.provider_token(&push_id), Err(VaultError::Corrupt(_))));
    vault.overwrite_provider_token_plain(&push_id, b"\xff\xfe").unwrap();
    assert!(matches!(vault.provider_token(&push_id), Err(VaultError::Corrupt(_))));

    // A record of a newer version says so.
    let newer = serde_json::json!({"v": PROVIDER_TOKEN_VERSION + 1, "token": {"kind": "future"}});
    vault.overwrite_provider_token_plain(&push_id, newer.to_string().as_bytes()).unwrap();
    assert!(matches!(vault.provider_token(&push_id), Err(VaultError::UnsupportedVersion(2))));

    // The tiqr record copied into the push slot: bound to its own slot, refused.
    let tiqr_record = serde_json::json!({"v": 1, "token": serde_json::to_value(tiqr_token()).unwrap()});
    vault.overwrite_provider_token_plain(&push_id, tiqr_record.to_string().as_bytes()).unwrap();
    assert!(matches!(vault.provider_token(&push_id), Err(VaultError::Corrupt(_))));

    // Removing the broken record makes the list whole again.
    assert!(vault.remove_provider_token(&push_id).unwrap());
    assert_eq!(vault.provider_tokens().unwrap(), vec![(tiqr_id, tiqr_token())]);
}

#[test]
fn privacyidea_hotp_and_totp_keep_serial_and_creator() {
    let dir = tempfile::tempdir().unwrap();
    let key = VaultKey::generate().unwrap();
    let uri = "otpauth://hotp/HOTP0001?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=1&digits=6&creator=privacyidea&issuer=privacyIDEA&serial=HOTP0001";
    let origin = TokenOrigin::from_otpauth(uri).unwrap();
    let id = {
        let vault = open(dir.path(), &key, true);
        vault.add_with_origin(parse_otpauth(uri).unwrap(), Some(&origin)).unwrap()
    };
    let vault = open(dir.path(), &key, false);
    assert_eq!(vault.origin(id).unwrap(), Some(origin));
    // The HOTP code is RFC 4226's for counter 1 (privacyIDEA's URI starts there).
    assert_eq!(vault.next_hotp_code(id).unwrap().code, "287082");
    assert!(vault.origin(id).unwrap().is_some(), "moving the counter keeps the origin");
    vault.delete(id).unwrap();
    assert_eq!(vault.origin(id).unwrap(), None, "deleted with its account");
    let plain = vault.add(parse_otpauth("otpauth://totp/x?secret=JBSWY3DPEHPK3PXP").unwrap()).unwrap();
    assert_eq!(vault.origin(plain).unwrap(), None);
}
