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
        "nyckel://login?v=1&r=3rDjjO0eQd4&c=AAAAAAAAAAAAAAAAAAAAAA&n=IiIiIiIiIiIiIiIiIiIiIg&s=Trade%20portal&a=Sign%20in"
    );
}

#[test]
fn a2_display_canonical_bytes_and_hash() {
    let display = login_qr().display();
    assert_eq!(
        hex(&display.canonical_bytes()),
        "000000116e79636b656c2f76312f646973706c61790000000c547261646520706f7274616c000000075369676e20696e\
         00000001000000000100000000010000000001000000000800000000000000000000000100"
    );
    assert_eq!(hex(&display.hash().0), "e2ab697cb37a926fc1f8996d3e9c329e8f8d5f82c485248a3afbef28ecec5cd0");
}

#[test]
fn a3_ocra_question_and_otp() {
    let qr = login_qr();
    assert_eq!(qr.question(), "abb58049e3d54c2743269a96e65759fab7d26ce6cebe9720140ca1baa7b5b69e");
    let otp = qr_otp::compute(&PinSecret::from_bytes([0x11; 32]), &qr.question()).unwrap();
    assert_eq!(otp.as_str(), "29723414");
}

#[test]
fn a4_mac_key_derivation() {
    assert_eq!(
        hex(&digest::hmac_sha256(&[0x11; 32], b"nyckel/v1/mac-key")),
        "c9f9098b5be2662e4167054416aab2ab269780192787e09347ca55314b572836"
    );
    let key = PinSecret::from_bytes([0x11; 32]).mac_key();
    assert_eq!(key.mac(b"x").0, digest::hmac_sha256(&digest::hmac_sha256(&[0x11; 32], b"nyckel/v1/mac-key"), b"x"));
}

#[test]
fn a5_pin_pad_pbkdf2() {
    // With E = 0, unblinding returns the pad KDF(PIN, salt) itself.
    let record =
        BlindedPinSecret { kdf: PinKdf::Pbkdf2Sha256 { iterations: 1000 }, salt: [0x44; 16], blinded: [0; 32] };
    let pad = record.unblind(&Pin::new("1234").unwrap()).unwrap();
    assert_eq!(hex(pad.expose()), "ab5f00318f984d3d10312a87cd9978ab40c6cb38c7d904f91179c7b656382f87");
}
