//! Known-answer vectors published in docs/PROTOCOL.md (Appendix A), checked independently
//! with Python's hashlib/hmac when they were written, so other implementations can test against them.

use nyckel_protocol::qr_otp::{self, OtpKind};
use nyckel_protocol::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn login_qr() -> OtpQr {
    OtpQr {
        kind: OtpKind::Login,
        server_key_id: ServerPublicKey([0x33; 32]).key_id(),
        challenge_id: ChallengeId::new("AAAAAAAAAAAAAAAAAAAAAA").unwrap(),
        nonce: Nonce([0x22; 16]),
        service: "Trade portal".into(),
        action: "Sign in".into(),
        transaction: vec![],
    }
}

#[test]
fn a1_login_qr_uri() {
    assert_eq!(
        login_qr().to_uri(),
        "nyckel://login?v=2&r=3rDjjO0eQd4&c=AAAAAAAAAAAAAAAAAAAAAA&n=IiIiIiIiIiIiIiIiIiIiIg&s=Trade%20portal&a=Sign%20in"
    );
}

#[test]
fn a2_display_canonical_bytes_and_hash() {
    let display = login_qr().display();
    assert_eq!(
        hex(&display.canonical_bytes()),
        "000000116e79636b656c2f76322f646973706c61790000000c547261646520706f7274616c000000075369676e20696e\
         00000001000000000100000000010000000001000000000800000000000000000000000100"
    );
    assert_eq!(hex(&display.hash().0), "933ddced0759477a0285f9ba1ae463ea53fbba01e377bce3ec454a9347c0af0c");
}

#[test]
fn a3_ocra_question_and_otp() {
    let qr = login_qr();
    assert_eq!(qr.question(), "670536939e5385873ffff5ef60d13321cbbe2ba3338e6bb587dffc569d1feb98");
    let otp = qr_otp::compute(&PinSecret::from_bytes([0x11; 32]), &qr.question()).unwrap();
    // 6 OCRA digits (OCRA-1:HOTP-SHA256-6:QH64) then 2 check digits of the question.
    assert_eq!(otp.as_str(), "50326492");
    assert_eq!(qr_otp::check_digits(&qr.question()), "92");
}

#[test]
fn a4_mac_key_derivation() {
    assert_eq!(
        hex(&digest::hmac_sha256(&[0x11; 32], b"nyckel/v2/mac-key")),
        "fe3f4d4102ea9e34cc4c57fd2a6ee4824ae8a7e9458554f17f8e908e4b0e0b8a"
    );
    let key = PinSecret::from_bytes([0x11; 32]).mac_key();
    assert_eq!(key.mac(b"x").0, digest::hmac_sha256(&digest::hmac_sha256(&[0x11; 32], b"nyckel/v2/mac-key"), b"x"));
}

#[test]
fn a5_pin_pad_pbkdf2() {
    // With E = 0, unblinding returns the pad KDF(PIN, salt) itself.
    let record =
        BlindedPinSecret { kdf: PinKdf::Pbkdf2Sha256 { iterations: 1000 }, salt: [0x44; 16], blinded: [0; 32] };
    let pad = record.unblind(&Pin::new("1234").unwrap()).unwrap();
    assert_eq!(hex(pad.expose()), "ab5f00318f984d3d10312a87cd9978ab40c6cb38c7d904f91179c7b656382f87");
}

#[test]
fn a6_pin_secret_hkdf() {
    // S = HKDF-SHA256(salt = SHA-256(transcript), ikm = shared, info = "nyckel/v2/pin-secret").
    let s = agreement::pin_secret_from_shared(&[0x05; 32], b"t").unwrap();
    assert_eq!(hex(s.expose()), "4e75e437c2b14a3e4baab6e0ffd796911f9d304d0feb6f6640204911ca12bfbb");
}

#[test]
fn a7_device_fingerprint() {
    // The P-256 base point as a device key.
    let g = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296\
             4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
    let bytes: Vec<u8> = (0..g.len()).step_by(2).map(|i| u8::from_str_radix(&g[i..i + 2], 16).unwrap()).collect();
    let key = DevicePublicKey::from_sec1(&bytes).unwrap();
    assert_eq!(device_fingerprint(&key), "SDG4-J5ET");
}
