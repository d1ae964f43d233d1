//! The main flows over HTTP: enrollment, push approval with number matching, deny, fraud,
//! transaction lines, QR one-time passwords, expiry.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, Phone};
use nyckel_protocol::agreement::EphemeralKey;
use nyckel_protocol::display::NumberPrompt;
use nyckel_protocol::qr::QrPayload;
use nyckel_protocol::{qr_otp, Answer, PinSecret};
use serde_json::json;

#[tokio::test]
async fn enrollment_completes_and_the_starter_long_poll_wakes() {
    let h = Harness::start(&["alice"]).await;
    let started = h.start_enrollment("alice").await;
    assert_eq!(started.expires_at, h.now() + 300);
    let id = started.enrollment_id.to_string();
    let (s, pending) = h.rp("GET", &format!("/v1/enrollments/{id}?wait=0"), None).await;
    assert_eq!((s, pending["state"].as_str()), (200, Some("pending")));

    // The PNG and SVG renderings of the same code.
    let png = h.http.get(h.url(&format!("/v1/enrollments/{id}/qr.png"))).bearer_auth(&h.rp_key).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[..4], b"\x89PNG");
    let svg = h.http.get(h.url(&format!("/v1/enrollments/{id}/qr.svg"))).bearer_auth(&h.rp_key).send().await.unwrap();
    assert!(svg.text().await.unwrap().contains("<svg"));

    // The starter waits; the phone completes; the wait ends at once with the device.
    let waiter = {
        let (http, url, key) = (h.http.clone(), h.url(&format!("/v1/enrollments/{id}?wait=30")), h.rp_key.clone());
        tokio::spawn(async move { common::status_json(http.get(url).bearer_auth(key).send().await.unwrap()).await })
    };
    tokio::task::yield_now().await;
    let QrPayload::Enroll(qr) = QrPayload::parse(&started.qr).unwrap() else { panic!() };
    let key = nyckel_protocol::SoftwareDeviceKey::generate().unwrap();
    let (ephemeral, share) = EphemeralKey::generate().unwrap();
    let req = nyckel_protocol::CompleteEnrollment::create(&qr, &key, &share, "Linux").unwrap();
    let t0 = Instant::now();
    let resp = h.http.post(h.url("/v1/enroll")).json(&req).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let receipt: nyckel_protocol::EnrollmentReceipt = resp.json().await.unwrap();
    let device_key = nyckel_protocol::DeviceSigner::public_key(&key);
    receipt.accept(&qr, &device_key, ephemeral, &share).unwrap();
    assert_eq!((receipt.user.as_str(), receipt.organisation.as_str()), ("alice", common::ORGANISATION));
    let (s, done) = waiter.await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "the long poll did not wake on completion");
    assert_eq!(s, 200);
    assert_eq!(done["state"], "completed");
    assert_eq!(done["device_id"], receipt.device_id.as_str());
    // The browser shows what the phone shows: the name, the platform and the key's fingerprint.
    assert_eq!(done["device_name"], "Work phone");
    assert_eq!(done["platform"], "Linux");
    assert_eq!(done["fingerprint"], nyckel_protocol::enrollment::device_fingerprint(&device_key));

    // One-time: a second completion is refused, and the images are gone.
    let again = h.http.post(h.url("/v1/enroll")).json(&req).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let (s, body) = h.rp("GET", &format!("/v1/enrollments/{id}/qr.png"), None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("enrollment_used")));
}

#[tokio::test]
async fn enrollment_token_expiry_and_proof_are_checked() {
    let h = Harness::start(&["alice"]).await;
    let started = h.start_enrollment("alice").await;
    let QrPayload::Enroll(mut qr) = QrPayload::parse(&started.qr).unwrap() else { panic!() };
    let key = nyckel_protocol::SoftwareDeviceKey::generate().unwrap();
    let (_ephemeral, share) = EphemeralKey::generate().unwrap();
    let good = nyckel_protocol::CompleteEnrollment::create(&qr, &key, &share, "Linux").unwrap();
    let mut bad_proof = good.clone();
    bad_proof.platform = "Other".into();
    let resp = h.http.post(h.url("/v1/enroll")).json(&bad_proof).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    qr.token.0[0] ^= 1;
    let wrong_token = nyckel_protocol::CompleteEnrollment::create(&qr, &key, &share, "Linux").unwrap();
    let resp = h.http.post(h.url("/v1/enroll")).json(&wrong_token).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    h.clock.advance(300);
    let resp = h.http.post(h.url("/v1/enroll")).json(&good).send().await.unwrap();
    assert_eq!(resp.status(), 410);
    // The wrong token is one event; the bad proof and the expired code, which whoever holds
    // the code can repeat at will, are summaries: one per 60-second window, written when the
    // window ends (the bad proof's window ended when the expired attempt came 300 s later).
    assert_eq!(h.audit_kinds().await.iter().filter(|k| *k == "enrollment_failed").count(), 2);
    h.clock.advance(61);
    nyckel_server::service::housekeeping::run_once(&h.app);
    assert_eq!(h.audit_kinds().await.iter().filter(|k| *k == "enrollment_failed").count(), 3);
}

#[tokio::test]
async fn push_with_number_matching_is_delivered_at_once_and_approved() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    // The phone is already waiting when the challenge is created.
    let started = Instant::now();
    let poll = phone.poll(&h, 30);
    let create = h.push("alice", json!({"number_matching": "choose", "context": {"service": "Trade portal", "action": "Sign in", "browser": "Firefox", "ip": "192.0.2.7", "place": "Stockholm", "time": 1_900_000_000u64}}));
    let (challenges, (status, created)) = tokio::join!(poll, create);
    assert!(started.elapsed() < Duration::from_secs(5), "poll was not woken by the new challenge");
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["devices"], 1);
    let number = created["number"].as_str().unwrap().to_owned();
    assert_eq!(challenges.len(), 1);
    let c = &challenges[0];
    assert_eq!(c.id.as_str(), created["challenge_id"].as_str().unwrap());
    assert_eq!(c.display.context.browser.as_deref(), Some("Firefox"));
    let Some(NumberPrompt::Choose { choices }) = &c.display.number_match else { panic!("no number prompt") };
    assert_eq!(choices.len(), 3);
    assert!(choices.contains(&number));

    let (s, body) = phone.approve(&h, c, Some(number)).await;
    assert_eq!((s, body["state"].as_str()), (200, Some("approved")), "{body}");
    let (s, status) = h.rp("GET", &format!("/v1/challenges/{}?wait=30", c.id), None).await;
    assert_eq!(s, 200);
    assert_eq!(status["state"], "approved");
    assert_eq!(status["device_id"], phone.device_id.as_str());
    // Answered once.
    let (s, body) = phone.approve(&h, c, created["number"].as_str().map(str::to_owned)).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("already_answered")));
    let kinds = h.audit_kinds().await;
    for kind in ["enrollment_started", "device_enrolled", "challenge_created", "challenge_approved"] {
        assert!(kinds.iter().any(|k| k == kind), "missing audit {kind}: {kinds:?}");
    }
}

#[tokio::test]
async fn rp_long_poll_wakes_on_the_answer() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let (_, created) = h.push("alice", json!({})).await;
    let id = created["challenge_id"].as_str().unwrap().to_owned();
    let c = phone.poll(&h, 0).await.remove(0);
    let t0 = Instant::now();
    let path = format!("/v1/challenges/{id}?wait=30");
    let watch = h.rp("GET", &path, None);
    let answer = async {
        tokio::task::yield_now().await;
        phone.send_answer(&h, &id, &Answer::deny(&c, false, h.now(), &phone.key).unwrap()).await
    };
    let ((s, status), (a, _)) = tokio::join!(watch, answer);
    assert_eq!((s, a), (200, 200));
    assert_eq!(status["state"], "denied");
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn deny_and_fraud() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    for (fraud, state, audit) in [(false, "denied", "challenge_denied"), (true, "fraud", "fraud_reported")] {
        let (_, created) = h.push("alice", json!({"number_matching": "type"})).await;
        let c = phone.poll(&h, 0).await.into_iter().find(|c| c.id.as_str() == created["challenge_id"]).unwrap();
        let answer = Answer::deny(&c, fraud, h.now(), &phone.key).unwrap();
        let (s, body) = phone.send_answer(&h, c.id.as_str(), &answer).await;
        assert_eq!((s, body["state"].as_str()), (200, Some(state)));
        let (_, status) = h.rp("GET", &format!("/v1/challenges/{}?wait=0", c.id), None).await;
        assert_eq!(status["state"], state);
        assert!(h.audit_kinds().await.iter().any(|k| k == audit));
    }
}

#[tokio::test]
async fn wrong_number_denies_the_challenge() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let (_, created) = h.push("alice", json!({"number_matching": "choose"})).await;
    let c = phone.poll(&h, 0).await.remove(0);
    let Some(NumberPrompt::Choose { choices }) = &c.display.number_match else { panic!() };
    let wrong = choices.iter().find(|n| **n != created["number"]).unwrap().clone();
    let (s, body) = phone.approve(&h, &c, Some(wrong)).await;
    assert_eq!((s, body["error"]["code"].as_str()), (422, Some("number_mismatch")));
    let (_, status) = h.rp("GET", &format!("/v1/challenges/{}?wait=0", c.id), None).await;
    assert_eq!(status["state"], "denied");
    assert!(h.audit_kinds().await.iter().any(|k| k == "number_mismatch"));
}

#[tokio::test]
async fn transaction_lines_are_delivered_verbatim_and_bind_the_approval() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let lines = json!([
        {"key": "New foreign account", "value": "BIC REVOLT21, IBAN LT60 3250 0123 4567"},
        {"key": "Belopp", "value": "1 000,00 kr — Åsa Öberg"},
        {"key": "Empty", "value": ""}
    ]);
    let (_, a) = h.push("alice", json!({"transaction": lines.clone()})).await;
    let (_, b) = h.push("alice", json!({"transaction": [{"key": "Amount", "value": "1 SEK"}]})).await;
    let got = phone.poll(&h, 0).await;
    let ca = got.iter().find(|c| c.id.as_str() == a["challenge_id"]).unwrap();
    let cb = got.iter().find(|c| c.id.as_str() == b["challenge_id"]).unwrap();
    assert_eq!(serde_json::to_value(&ca.display.transaction).unwrap(), lines);

    // An approval computed over other lines (what a tampered display would show) fails.
    let mut tampered = ca.clone();
    tampered.display.transaction[0].value = "BIC EVIL, IBAN XX00".into();
    let answer = Answer::approve(&tampered, None, h.now(), &phone.key, &phone.secret).unwrap();
    let (s, body) = phone.send_answer(&h, ca.id.as_str(), &answer).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("bad_signature")));
    // An approval of B replayed against A is refused (cross-challenge).
    let for_b = Answer::approve(cb, None, h.now(), &phone.key, &phone.secret).unwrap();
    let (s, _) = phone.send_answer(&h, ca.id.as_str(), &for_b).await;
    assert_eq!(s, 400);
    // B's answer with A's id swapped in does not verify either.
    let mut swapped = for_b.clone();
    swapped.challenge_id = ca.id.clone();
    let (s, _) = phone.send_answer(&h, ca.id.as_str(), &swapped).await;
    assert_eq!(s, 401);
    // The real approval of A works once; replaying it is refused.
    let good = Answer::approve(ca, None, h.now(), &phone.key, &phone.secret).unwrap();
    let (s, _) = phone.send_answer(&h, ca.id.as_str(), &good).await;
    assert_eq!(s, 200);
    let (s, body) = phone.send_answer(&h, ca.id.as_str(), &good).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("already_answered")));
    // None of this touched B or the PIN counter.
    let (_, status) = h.rp("GET", &format!("/v1/challenges/{}?wait=0", cb.id), None).await;
    assert_eq!(status["state"], "pending");
    let (_, me) = phone.signed(&h, "GET", "/v1/device", None).await;
    assert_eq!(me["pin_failures"], 0);
}

async fn qr_challenge(h: &Harness, tx: bool) -> (String, nyckel_protocol::OtpQr) {
    let mut body = json!({"user": "alice", "service": "Trade portal", "action": "Sign in"});
    if tx {
        body["transaction"] = json!([{"key": "IBAN", "value": "LT60 3250"}]);
    }
    let (s, created) = h.rp("POST", "/v1/challenges/qr", Some(body)).await;
    assert_eq!(s, 200, "{created}");
    let QrPayload::Otp(qr) = QrPayload::parse(created["qr"].as_str().unwrap()).unwrap() else { panic!() };
    (created["challenge_id"].as_str().unwrap().to_owned(), qr)
}

fn otp(phone: &Phone, qr: &nyckel_protocol::OtpQr, secret: Option<&PinSecret>) -> String {
    assert_eq!(qr.server_key_id, phone.server_key.key_id());
    qr_otp::compute(secret.unwrap_or(&phone.secret), &qr.question()).unwrap().to_string()
}

#[tokio::test]
async fn qr_otp_accepted_and_rejected() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    for tx in [false, true] {
        let (id, qr) = qr_challenge(&h, tx).await;
        assert_eq!(qr.transaction.is_empty(), !tx);
        let code = otp(&phone, &qr, None);
        let typed = format!("{} {}", &code[..4], &code[4..]);
        let (s, status) = h.rp("POST", &format!("/v1/challenges/{id}/otp"), Some(json!({"otp": typed}))).await;
        assert_eq!((s, status["state"].as_str()), (200, Some("approved")), "{status}");
        let (s, _) = h.rp("POST", &format!("/v1/challenges/{id}/otp"), Some(json!({"otp": code}))).await;
        assert_eq!(s, 409, "an OTP is single use");
    }
    // Malformed entries are refused without counting or consuming.
    let (id, qr) = qr_challenge(&h, false).await;
    let (s, _) = h.rp("POST", &format!("/v1/challenges/{id}/otp"), Some(json!({"otp": "12ab5678"}))).await;
    assert_eq!(s, 400);
    // A wrong PIN gives a wrong OTP: counted for the user, not on the device, and the
    // challenge takes two more tries before it is denied.
    let wrong = otp(&phone, &qr, Some(&PinSecret::from_bytes([7; 32])));
    let (s, body) = h.rp("POST", &format!("/v1/challenges/{id}/otp"), Some(json!({"otp": wrong}))).await;
    assert_eq!(
        (s, body["error"]["code"].as_str(), body["error"]["attempts_left"].as_u64()),
        (403, Some("wrong_pin"), Some(4))
    );
    let (_, status) = h.rp("GET", &format!("/v1/challenges/{id}?wait=0"), None).await;
    assert_eq!(status["state"], "pending");
    // An OTP made for another challenge's question: its check digits say so (tampered or
    // mistyped), not counted as a PIN failure.
    let (id2, qr2) = qr_challenge(&h, false).await;
    let right_for_first = otp(&phone, &qr, None);
    if qr_otp::check_digits(&qr.question()) != qr_otp::check_digits(&qr2.question()) {
        let (s, body) = h.rp("POST", &format!("/v1/challenges/{id2}/otp"), Some(json!({"otp": right_for_first}))).await;
        assert_eq!((s, body["error"]["code"].as_str()), (403, Some("qr_mismatch")));
        assert!(h.audit_kinds().await.iter().any(|k| k == "qr_tampered"));
    }
    let (_, me) = phone.signed(&h, "GET", "/v1/device", None).await;
    assert_eq!(me["pin_failures"], 0, "wrong OTPs must not count on the device");
    // The right OTP still works after a wrong one, and resets the user's count.
    let code = otp(&phone, &qr, None);
    let (s, status) = h.rp("POST", &format!("/v1/challenges/{id}/otp"), Some(json!({"otp": code}))).await;
    assert_eq!((s, status["state"].as_str()), (200, Some("approved")));
    let alice = nyckel_server::users::get(&*h.app.store, common::TENANT, "alice").unwrap().unwrap();
    assert_eq!(alice.otp_failures, 0);
}

/// Issue 9, finding 6: wrong QR one-time passwords are bounded per challenge and per user,
/// and never block the user's devices for push; an altered QR code is audited as such.
#[tokio::test]
async fn wrong_otps_are_bounded_per_challenge_and_user_and_leave_push_alone() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let wrong = PinSecret::from_bytes([7; 32]);
    let post = |id: String, code: String| {
        let h = &h;
        async move { h.rp("POST", &format!("/v1/challenges/{id}/otp"), Some(json!({"otp": code}))).await }
    };
    // Three wrong ones deny a challenge.
    let (id, qr) = qr_challenge(&h, false).await;
    for left in [4, 3, 2] {
        let (s, body) = post(id.clone(), otp(&phone, &qr, Some(&wrong))).await;
        assert_eq!((s, body["error"]["attempts_left"].as_u64()), (403, Some(left)));
    }
    let (_, status) = h.rp("GET", &format!("/v1/challenges/{id}?wait=0"), None).await;
    assert_eq!(status["state"], "denied");
    // Two more on a new challenge lock the user's QR one-time passwords.
    let (id, qr) = qr_challenge(&h, true).await;
    assert_eq!(post(id.clone(), otp(&phone, &qr, Some(&wrong))).await.0, 403);
    let (s, body) = post(id.clone(), otp(&phone, &qr, Some(&wrong))).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("otp_locked")));
    // Locked: even the right OTP is refused, and no new QR challenge is made ...
    let (s, body) = post(id.clone(), otp(&phone, &qr, None)).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("otp_locked")));
    let (s, _) = h.rp("POST", "/v1/challenges/qr", Some(json!({"user": "alice", "service": "S", "action": "A"}))).await;
    assert_eq!(s, 403);
    // ... but push works: the device was never counted against.
    let (_, me) = phone.signed(&h, "GET", "/v1/device", None).await;
    assert_eq!((me["state"].as_str(), me["pin_failures"].as_u64()), (Some("active"), Some(0)));
    let (s, _) = h.push("alice", json!({})).await;
    assert_eq!(s, 200);
    let c = phone.poll(&h, 0).await.remove(0);
    assert_eq!(phone.approve(&h, &c, None).await.0, 200);
    let kinds = h.audit_kinds().await;
    assert_eq!(kinds.iter().filter(|k| *k == "otp_locked").count(), 1);
    // An administrator unlocks; an altered code (other lines than the challenge shows) is
    // audited as tampering and not counted for the user.
    assert_eq!(h.admin("POST", "/v1/admin/tenants/acme/users/alice/otp-unlock").await.0, 204);
    let (id, mut qr) = qr_challenge(&h, true).await;
    let honest = qr.question();
    qr.transaction[0].value = "LT00 EVIL".into();
    if qr_otp::check_digits(&honest) != qr_otp::check_digits(&qr.question()) {
        let (s, body) = post(id.clone(), otp(&phone, &qr, None)).await;
        assert_eq!((s, body["error"]["code"].as_str()), (403, Some("qr_mismatch")));
        assert!(h.audit_kinds().await.iter().any(|k| k == "qr_tampered"));
        let alice = nyckel_server::users::get(&*h.app.store, common::TENANT, "alice").unwrap().unwrap();
        assert_eq!(alice.otp_failures, 0);
    }
}

#[tokio::test]
async fn challenges_expire_on_the_server_clock() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let (_, created) = h.push("alice", json!({"ttl": 30})).await;
    assert_eq!(created["expires_at"].as_u64(), Some(h.now() + 30));
    let c = phone.poll(&h, 0).await.remove(0);
    h.clock.advance(30);
    let (_, status) = h.rp("GET", &format!("/v1/challenges/{}?wait=0", c.id), None).await;
    assert_eq!(status["state"], "expired");
    let (s, body) = phone.approve(&h, &c, None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (410, Some("challenge_expired")));
    assert!(phone.poll(&h, 0).await.is_empty());
    assert!(h.audit_kinds().await.iter().any(|k| k == "challenge_expired"));
}

#[tokio::test]
async fn push_goes_to_every_active_device_and_the_first_answer_wins() {
    let h = Harness::start(&["alice"]).await;
    let one = h.enroll("alice").await;
    let two = h.enroll("alice").await;
    let (_, created) = h.push("alice", json!({})).await;
    assert_eq!(created["devices"], 2);
    let c1 = one.poll(&h, 0).await.remove(0);
    let c2 = two.poll(&h, 0).await.remove(0);
    assert_eq!(c1.id, c2.id);
    assert_ne!(c1.device_id, c2.device_id);
    assert_eq!(two.approve(&h, &c2, None).await.0, 200);
    assert_eq!(one.approve(&h, &c1, None).await.0, 409);
    // Device listing and removal by the relying party.
    let (_, list) = h.rp("GET", "/v1/users/alice/devices", None).await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 2);
    let (s, _) = h.rp("DELETE", &format!("/v1/users/alice/devices/{}", one.device_id), None).await;
    assert_eq!(s, 204);
    let (s, body) = one.signed(&h, "GET", "/v1/device", None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("unknown_device")));
    let (_, created) = h.push("alice", json!({})).await;
    assert_eq!(created["devices"], 1);
    assert!(h.audit_kinds().await.iter().any(|k| k == "device_removed"));
}
