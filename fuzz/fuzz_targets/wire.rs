#![no_main]
//! Every protocol-v2 body that crosses the network from outside — the phone's enrollment
//! completion and PIN change, the server's receipt, rekey answer, poll answer with its key
//! rotations, error bodies — and the QR payload parser, through the checks that run on
//! whatever parses. A selector byte picks the message; the rest is its JSON (or URI) text.

use libfuzzer_sys::fuzz_target;
use nyckel_protocol::agreement::EphemeralKey;
use nyckel_protocol::enrollment::{CompleteEnrollment, EnrollmentReceipt};
use nyckel_protocol::key_rotation::{follow, KeyRotation};
use nyckel_protocol::rekey::{Rekey, Rekeyed};
use nyckel_protocol::wire::phone::PendingChallenges;
use nyckel_protocol::{
    DeviceId, DevicePublicKey, DeviceSigner, EnrollQr, EnrollmentId, EnrollmentToken, ErrorBody, PinSecret,
    QrPayload, ServerPublicKey, SoftwareDeviceKey,
};

const URL: &str = "https://id.example.org";

fn server_key() -> ServerPublicKey {
    ServerPublicKey([0x33; 32])
}

/// One valid device key for every run (generating a P-256 key per input would dominate).
fn device_key() -> Option<&'static DevicePublicKey> {
    static KEY: std::sync::OnceLock<Option<DevicePublicKey>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| SoftwareDeviceKey::generate().ok().map(|k| k.public_key())).as_ref()
}

fn qr() -> Option<EnrollQr> {
    Some(EnrollQr {
        server_url: URL.into(),
        enrollment_id: EnrollmentId::new("enr-1").ok()?,
        token: EnrollmentToken([7; 16]),
        server_key: server_key(),
        label: None,
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let device = DeviceId::new("dev-1").expect("a valid id");
    match selector % 7 {
        0 => {
            if let Ok(req) = serde_json::from_slice::<CompleteEnrollment>(rest) {
                let _ = req.verify_proof(&server_key(), URL);
            }
        }
        1 => {
            if let (Ok(receipt), Some(qr)) = (serde_json::from_slice::<EnrollmentReceipt>(rest), qr()) {
                if let (Ok((phone, share)), Some(device_key)) = (EphemeralKey::generate(), device_key()) {
                    let _ = receipt.accept(&qr, device_key, phone, &share);
                }
            }
        }
        2 => {
            if let Ok(req) = serde_json::from_slice::<Rekey>(rest) {
                let _ = req.check(&device, &PinSecret::from_bytes([1; 32]), 1_900_000_000);
            }
        }
        3 => {
            let parsed = (serde_json::from_slice::<Rekeyed>(rest), EphemeralKey::generate());
            if let (Ok(answer), Ok((phone, share))) = parsed {
                if let Ok(req) = Rekey::create(&device, &PinSecret::from_bytes([1; 32]), &share, 1_900_000_000) {
                    let _ = answer.accept(&device, &req, &server_key(), phone);
                }
            }
        }
        4 => {
            if let Ok(pending) = serde_json::from_slice::<PendingChallenges>(rest) {
                let _ = follow(&server_key(), &pending.key_rotations);
                for c in &pending.challenges {
                    let _ = c.verify(&server_key(), &device, 1_900_000_000);
                }
            }
            if let Ok(chain) = serde_json::from_slice::<Vec<KeyRotation>>(rest) {
                let _ = follow(&server_key(), &chain);
            }
        }
        5 => {
            let _ = serde_json::from_slice::<ErrorBody>(rest);
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(rest) {
                let _ = QrPayload::parse(text);
            }
        }
    }
});
