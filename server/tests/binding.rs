//! Enrollment bound to its server and a PIN change that rotates `S` (issue 9, findings 2
//! and 3, server side): a relay that rewrites the code's URL gets neither `S` nor a
//! registration; a PIN change agrees a new `S` and the old one dies at its first use.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::Harness;
use nyckel_protocol::agreement::EphemeralKey;
use nyckel_protocol::qr::QrPayload;
use nyckel_protocol::rekey::{Rekey, Rekeyed};
use nyckel_protocol::{CompleteEnrollment, PinCheck, PinSecret, SoftwareDeviceKey};
use serde_json::Value;

struct Relay {
    url: String,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A phishing relay: every POST it receives is recorded and forwarded, byte for byte, to
/// the real server; the real answer goes back.
async fn relay(target: String) -> Relay {
    type Shared = (String, Arc<Mutex<Vec<Vec<u8>>>>, reqwest::Client);
    async fn forward(
        State((target, seen, http)): State<Shared>,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, Bytes) {
        seen.lock().unwrap().push(body.to_vec());
        let mut req = http.post(format!("{target}{}", uri.path()));
        if let Some(ct) = headers.get("content-type") {
            req = req.header("content-type", ct.to_str().unwrap());
        }
        let resp = req.body(body).send().await.unwrap();
        (StatusCode::from_u16(resp.status().as_u16()).unwrap(), resp.bytes().await.unwrap())
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state((target, seen.clone(), common::client()));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Relay { url, seen, task }
}

#[tokio::test]
async fn a_relay_that_rewrites_the_url_gets_neither_s_nor_a_registration() {
    let h = Harness::start(&["alice"]).await;
    let started = h.start_enrollment("alice").await;
    let QrPayload::Enroll(real) = QrPayload::parse(&started.qr).unwrap() else { panic!() };
    let relay = relay(h.base.clone()).await;
    // The browser shows the victim a code whose URL is the relay's.
    let mut shown = real.clone();
    shown.server_url = relay.url.clone();
    let key = SoftwareDeviceKey::generate().unwrap();
    let (_ephemeral, share) = EphemeralKey::generate().unwrap();
    let req = CompleteEnrollment::create(&shown, &key, &share, "Linux").unwrap();
    let resp = h.http.post(format!("{}/v1/enroll", relay.url)).json(&req).send().await.unwrap();
    let (s, body) = common::status_json(resp).await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("wrong_server")), "{body}");

    // What crossed the relay carries no secret: only public values and the proof.
    let seen = relay.seen.lock().unwrap().clone();
    let sent: Value = serde_json::from_slice(&seen[0]).unwrap();
    let mut fields: Vec<&str> = sent.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["device_public_key", "enrollment_id", "key_share", "platform", "proof", "server_url", "token"],
        "the completion request must hold no secret"
    );
    // Putting the real URL back breaks the proof.
    let mut forged = req.clone();
    forged.server_url = h.base.clone();
    let resp = h.http.post(h.url("/v1/enroll")).json(&forged).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    // Nothing was registered; the honest phone can still use the code.
    let (_, list) = h.rp("GET", "/v1/users/alice/devices", None).await;
    assert_eq!(list["devices"].as_array().map(Vec::len), Some(0));
    let (_, status) = h.rp("GET", &format!("/v1/enrollments/{}?wait=0", started.enrollment_id), None).await;
    assert_eq!(status["state"], "pending");
    // Refused completions are audited in aggregate, written when the window ends.
    h.clock.advance(61);
    nyckel_server::service::housekeeping::run_once(&h.app).await;
    assert!(h.audit_kinds().await.iter().any(|k| k == "enrollment_failed"));
    let phone = h.complete(&started.qr).await;
    assert_eq!(phone.signed(&h, "GET", "/v1/device", None).await.0, 200);
}

async fn rekey(h: &Harness, phone: &common::Phone, with: &PinSecret) -> (u16, Value, Rekey, EphemeralKey) {
    let (ephemeral, share) = EphemeralKey::generate().unwrap();
    let req = Rekey::create(&phone.device_id, with, &share, h.now()).unwrap();
    let (s, body) = phone.signed(h, "POST", "/v1/device/rekey", Some(serde_json::to_vec(&req).unwrap())).await;
    (s, body, req, ephemeral)
}

async fn pin_check(h: &Harness, phone: &common::Phone, with: &PinSecret) -> (u16, Value) {
    let check = PinCheck::create(&phone.device_id, with, h.now()).unwrap();
    phone.signed(h, "POST", "/v1/device/pin-check", Some(serde_json::to_vec(&check).unwrap())).await
}

#[tokio::test]
async fn a_pin_change_agrees_a_new_s_and_the_old_one_dies_at_the_first_use_of_the_new() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let old = phone.secret.clone();

    // A wrong old PIN gets no new secret and is counted.
    let (s, body, _, _) = rekey(&h, &phone, &PinSecret::from_bytes([3; 32])).await;
    assert_eq!(
        (s, body["error"]["code"].as_str(), body["error"]["attempts_left"].as_u64()),
        (403, Some("wrong_pin"), Some(4))
    );

    let (s, body, req, ephemeral) = rekey(&h, &phone, &old).await;
    assert_eq!(s, 200, "{body}");
    let rekeyed: Rekeyed = serde_json::from_value(body).unwrap();
    // Signed by the pinned server key: another key refuses it.
    let impostor =
        nyckel_protocol::ServerSigningKey::from_pkcs8(&nyckel_protocol::ServerSigningKey::generate_pkcs8().unwrap())
            .unwrap();
    let (other_ephemeral, _) = EphemeralKey::generate().unwrap();
    assert!(rekeyed.accept(&phone.device_id, &req, &impostor.public_key(), other_ephemeral).is_err());
    let new = rekeyed.accept(&phone.device_id, &req, &phone.server_key, ephemeral).unwrap();
    assert_ne!(new, old);

    // Until the new S is used, the old one still answers (the phone may not have stored the change yet).
    assert_eq!(pin_check(&h, &phone, &old).await.0, 204);
    // The phone's confirmation under the new S promotes it and destroys the old one.
    assert_eq!(pin_check(&h, &phone, &new).await.0, 204);
    let (s, body) = pin_check(&h, &phone, &old).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("wrong_pin")));
    assert_eq!(pin_check(&h, &phone, &new).await.0, 204);
    let stored: nyckel_server::devices::DeviceRecord =
        h.app.store.devices().get(phone.device_id.as_str().as_bytes()).await.unwrap().unwrap();
    assert!(stored.pending_secret.is_none());
    assert!(h.audit_kinds().await.iter().any(|k| k == "pin_changed"));
}
