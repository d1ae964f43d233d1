#![no_main]
//! privacyIDEA's server messages as the phone reads them (core `privacyidea`): a selector
//! byte, then the input. 0: a push enrollment code; 1: a poll response; 2: an enrollment
//! response; 3: a poll response whose entries get a *valid* server signature first, so the
//! checks after the signature (serial, URL, presence options, capabilities) are reached too;
//! 4: tiqr metadata; 5: a `tiqrauth://` or `tiqrenroll://` code, a tiqr login answer, and the
//! `serial`/`creator` of an otpauth URI.
//! Nothing may panic, and a verified challenge must satisfy the limits the parser promises.

use std::sync::OnceLock;

use data_encoding::BASE32;
use libfuzzer_sys::fuzz_target;
use nyckel_core::device_keys::{generate_rsa_key, sign_with_pkcs8};
use nyckel_core::privacyidea::http::RawResponse;
use nyckel_core::privacyidea::push::{parse_enrollment_response, parse_poll, verify_challenge, PushToken};
use nyckel_core::privacyidea::tiqr::{parse_auth_code, parse_enroll_code, parse_login_answer, parse_metadata};
use nyckel_core::privacyidea::parse_push_code;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::Value;

struct Fixture {
    pkcs8: Vec<u8>,
    token: PushToken,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (pkcs8, _) = generate_rsa_key(2048).unwrap();
        let public = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).unwrap().to_public_key();
        Fixture {
            pkcs8: pkcs8.to_vec(),
            token: PushToken {
                serial: "PIPU0001".into(),
                label: "PIPU0001".into(),
                issuer: "privacyIDEA".into(),
                url: "https://pi.example/ttype/push".into(),
                server_public_key: public.to_pkcs1_der().unwrap().as_bytes().to_vec(),
                key_alias: "k".into(),
                app_pin: false,
                app_force_unlock: None,
                enrolled_at: 0,
                challenge_lifetime: 120,
            },
        }
    })
}

fn string(entry: &Value, name: &str) -> String {
    entry.get(name).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    let fixture = fixture();
    match selector % 6 {
        0 => {
            if let Ok(code) = parse_push_code(&String::from_utf8_lossy(bytes)) {
                assert!(!code.serial.is_empty() && !code.enrollment_credential.is_empty());
            }
        }
        1 | 2 => {
            let response = RawResponse { status: 200, body: bytes.to_vec() };
            if selector % 6 == 1 {
                let _ = parse_poll(&fixture.token, &response);
            } else {
                let _ = parse_enrollment_response("PIPU0001", &response);
            }
        }
        4 => {
            if let Ok(metadata) = parse_metadata(bytes) {
                assert!(metadata.authentication_url.starts_with("http"));
            }
        }
        5 => {
            let text = String::from_utf8_lossy(bytes);
            if let Ok(auth) = parse_auth_code(&text) {
                assert!(!auth.session_key.is_empty() && !auth.challenge.is_empty());
            }
            let _ = parse_enroll_code(&text);
            let _ = parse_login_answer(&text);
            // privacyIDEA's serial/creator of an otpauth URI, kept beside the account.
            if let Some(origin) = nyckel_core::TokenOrigin::from_otpauth(&text) {
                assert!(!origin.serial.is_empty() && origin.serial.len() <= 128 && origin.creator.len() <= 128);
            }
        }
        _ => {
            let Ok(mut entry) = serde_json::from_slice::<Value>(bytes) else { return };
            if !entry.is_object() {
                return;
            }
            let mut signed = ["nonce", "url", "serial", "question", "title", "sslverify"]
                .iter()
                .map(|name| string(&entry, name))
                .collect::<Vec<_>>()
                .join("|");
            if entry.get("require_presence").is_some() {
                signed = format!("{signed}|{}", string(&entry, "require_presence"));
            }
            let signature = BASE32.encode(&sign_with_pkcs8(&fixture.pkcs8, signed.as_bytes()).unwrap());
            entry["signature"] = Value::String(signature);
            if let Ok((nonce, body)) = verify_challenge(&fixture.token, &entry) {
                assert!(nonce.len() <= 128 && body.question.len() <= 2048 && body.title.len() <= 512);
                if let Some(options) = body.presence_options {
                    assert!((2..=10).contains(&options.len()));
                }
            }
        }
    }
});
