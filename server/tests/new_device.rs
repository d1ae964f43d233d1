//! Adding a phone by a registered phone's approval, and retiring devices (PROTOCOL.md §6.5).

mod common;

use common::{Harness, Phone};
use nyckel_protocol::agreement::EphemeralKey;
use nyckel_protocol::enrollment::EnrollmentStarted;
use nyckel_protocol::new_device::{ApprovalRequested, EnrollmentResult, RetireDevice};
use nyckel_protocol::qr::{EnrollQr, QrPayload};
use nyckel_protocol::{
    device_fingerprint, Answer, CompleteEnrollment, DeviceId, DeviceSigner, KeyShare, PinSecret, PushChallenge,
    PushKind, SoftwareDeviceKey,
};
use serde_json::{json, Value};

/// A phone that scanned an "add a phone" code and has not been approved yet.
struct NewPhone {
    key: SoftwareDeviceKey,
    agreement: Option<EphemeralKey>,
    share: KeyShare,
    qr: EnrollQr,
    request: CompleteEnrollment,
}

impl NewPhone {
    fn scan(code: &str) -> Self {
        let QrPayload::Enroll(qr) = QrPayload::parse(code).unwrap() else { panic!("not an enroll code") };
        let key = SoftwareDeviceKey::generate().unwrap();
        let (agreement, share) = EphemeralKey::generate().unwrap();
        let request = CompleteEnrollment::create(&qr, &key, &share, "Android 15").unwrap();
        Self { key, agreement: Some(agreement), share, qr, request }
    }

    async fn ask(&self, h: &Harness) -> (u16, Value) {
        post(h, "/v1/enroll/approval", serde_json::to_value(&self.request).unwrap()).await
    }

    async fn result(&self, h: &Harness) -> (u16, Value) {
        let body = json!({"enrollment_id": self.qr.enrollment_id, "token": self.request.token, "wait": 0});
        post(h, "/v1/enroll/result", body).await
    }

    /// Collects the receipt of an approved request and becomes a registered phone.
    async fn registered(mut self, h: &Harness) -> Phone {
        let (status, body) = self.result(h).await;
        assert_eq!(status, 200, "{body}");
        let result: EnrollmentResult = serde_json::from_value(body).unwrap();
        let receipt = result.receipt.expect("approved with a receipt");
        let secret =
            receipt.accept(&self.qr, &self.key.public_key(), self.agreement.take().unwrap(), &self.share).unwrap();
        Phone { key: self.key, secret, device_id: receipt.device_id, server_key: self.qr.server_key, qr: self.qr }
    }
}

async fn post(h: &Harness, path: &str, body: Value) -> (u16, Value) {
    common::status_json(h.http.post(h.url(path)).json(&body).send().await.unwrap()).await
}

/// The registered phone's "add a phone" code.
async fn add_code(h: &Harness, phone: &Phone) -> EnrollmentStarted {
    let body = serde_json::to_vec(&json!({"device_name": "New phone"})).unwrap();
    let (status, body) = phone.signed(h, "POST", "/v1/device/enrollments", Some(body)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// A new phone that scanned a fresh code of `phone` and asked for approval.
async fn asking(h: &Harness, phone: &Phone) -> (NewPhone, ApprovalRequested) {
    let new = NewPhone::scan(&add_code(h, phone).await.qr);
    let (status, body) = new.ask(h).await;
    assert_eq!(status, 200, "{body}");
    (new, serde_json::from_value(body).unwrap())
}

/// The one new-device challenge `phone` has.
async fn new_device_challenge(h: &Harness, phone: &Phone) -> PushChallenge {
    let mut challenges = phone.poll(h, 0).await;
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    let challenge = challenges.remove(0);
    assert_eq!(challenge.kind, PushKind::NewDevice);
    challenge
}

async fn devices_of(h: &Harness, user: &str) -> Vec<String> {
    let (status, body) = h.rp("GET", &format!("/v1/users/{user}/devices"), None).await;
    assert_eq!(status, 200, "{body}");
    body["devices"].as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap().to_owned()).collect()
}

fn retire_body(by: &Phone, target: &DeviceId, secret: &PinSecret, now: u64) -> Vec<u8> {
    serde_json::to_vec(&RetireDevice::create(&by.device_id, target, secret, now).unwrap()).unwrap()
}

#[tokio::test]
async fn a_registered_phone_approves_a_new_one_which_gets_its_own_registration() {
    let h = Harness::start(&["alice"]).await;
    let old = h.enroll("alice").await;
    let started = add_code(&h, &old).await;
    let new = NewPhone::scan(&started.qr);

    // The code is not an ordinary enrollment code: it completes only by approval.
    let (status, body) = post(&h, "/v1/enroll", serde_json::to_value(&new.request).unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("approval_required")), "{body}");
    // Nor is a relying party's code an add-a-phone code.
    let ordinary = NewPhone::scan(&h.start_enrollment("alice").await.qr);
    let (status, body) = ordinary.ask(&h).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("approval_required")), "{body}");
    // No relying party sees the device's code.
    let (status, _) = h.rp("GET", &format!("/v1/enrollments/{}?wait=0", started.enrollment_id), None).await;
    assert_eq!(status, 404);

    let (status, body) = new.ask(&h).await;
    assert_eq!(status, 200, "{body}");
    let asked: ApprovalRequested = serde_json::from_value(body).unwrap();
    assert_eq!(asked.fingerprint, device_fingerprint(&new.key.public_key()));
    assert_eq!(asked.devices, 1);
    let (status, body) = new.result(&h).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("awaiting_approval")), "{body}");

    // The registered phone is shown the new device's name, platform and fingerprint.
    let challenge = new_device_challenge(&h, &old).await;
    let details = challenge.new_device().unwrap();
    assert_eq!(
        (details.name.as_str(), details.platform.as_str(), details.fingerprint.as_str()),
        ("New phone", "Android 15", asked.fingerprint.as_str())
    );
    let (status, body) = old.approve(&h, &challenge, Some(asked.number.clone())).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("approved")), "{body}");

    let new = new.registered(&h).await;
    assert_ne!(new.device_id, old.device_id);
    // Its own S, not the old phone's.
    assert_ne!(new.secret.expose(), old.secret.expose());
    assert_eq!(devices_of(&h, "alice").await.len(), 2);
    // Both answer pushes, each with its own PIN secret.
    let (status, _) = h.push("alice", json!({})).await;
    assert_eq!(status, 200);
    let pushed = new.poll(&h, 0).await;
    assert_eq!(pushed.len(), 1);
    assert_eq!(pushed[0].kind, PushKind::SignIn);
    let (status, body) = new.approve_with(&h, &pushed[0], None, &old.secret).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("wrong_pin")), "{body}");
    let (status, body) = new.approve(&h, &pushed[0], None).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("approved")), "{body}");

    let kinds = h.audit_kinds().await;
    for kind in ["enrollment_started", "challenge_created", "challenge_approved", "device_enrolled"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing in {kinds:?}");
    }
    let (_, page) = h.admin("GET", "/v1/admin/audit?limit=500").await;
    let enrolled = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "device_enrolled" && e["device_id"] == new.device_id.as_str())
        .unwrap();
    assert!(enrolled["detail"].as_str().unwrap().contains(old.device_id.as_str()), "{enrolled}");
}

#[tokio::test]
async fn a_denied_mismatched_or_expired_approval_registers_nothing() {
    let h = Harness::start(&["alice"]).await;
    let old = h.enroll("alice").await;

    // Denied.
    let (new, _) = asking(&h, &old).await;
    let challenge = new_device_challenge(&h, &old).await;
    let deny = Answer::deny(&challenge, false, h.now(), &old.key).unwrap();
    let (status, _) = old.send_answer(&h, challenge.id.as_str(), &deny).await;
    assert_eq!(status, 200);
    let (status, body) = new.result(&h).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("enrollment_denied")), "{body}");
    // The code is used up: asking again is refused.
    let (status, body) = new.ask(&h).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("enrollment_used")), "{body}");

    // The wrong number (the approver does not see the new phone) denies it.
    let (new, asked) = asking(&h, &old).await;
    let challenge = new_device_challenge(&h, &old).await;
    let wrong = if asked.number == "00" { "01" } else { "00" };
    let (status, body) = old.approve(&h, &challenge, Some(wrong.into())).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("number_mismatch")), "{body}");
    let (status, body) = new.result(&h).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("enrollment_denied")), "{body}");

    // A wrong PIN is counted like any approval's, and leaves the request pending.
    let (new, asked) = asking(&h, &old).await;
    let challenge = new_device_challenge(&h, &old).await;
    let (status, body) = old.approve_with(&h, &challenge, Some(asked.number), &PinSecret::from_bytes([9; 32])).await;
    assert_eq!((status, body["error"]["attempts_left"].as_u64()), (403, Some(4)), "{body}");
    let (status, body) = new.result(&h).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("awaiting_approval")), "{body}");
    // Nobody approves in time.
    h.clock.advance(121);
    let (status, body) = new.result(&h).await;
    assert_eq!((status, body["error"]["code"].as_str()), (410, Some("enrollment_expired")), "{body}");

    assert_eq!(devices_of(&h, "alice").await, vec![old.device_id.to_string()]);
    // The refused phones' keys sign nothing the server accepts.
    let refused = Phone {
        key: new.key,
        secret: PinSecret::from_bytes([0; 32]),
        device_id: DeviceId::new("not-registered").unwrap(),
        server_key: new.qr.server_key,
        qr: new.qr,
    };
    let (status, _) = refused.signed(&h, "GET", "/v1/device", None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn knowing_the_user_name_is_not_enough() {
    let h = Harness::start(&["alice"]).await;
    let old = h.enroll("alice").await;

    // No code without a registered device's signature.
    let (status, _) = post(&h, "/v1/device/enrollments", json!({"device_name": "Evil"})).await;
    assert_eq!(status, 401);
    // A code made up around the real server: unknown enrollment.
    let real = add_code(&h, &old).await;
    let mut forged = NewPhone::scan(&real.qr);
    forged.qr.enrollment_id = nyckel_protocol::EnrollmentId::random().unwrap();
    forged.request = CompleteEnrollment::create(&forged.qr, &forged.key, &forged.share, "Evil").unwrap();
    let (status, _) = forged.ask(&h).await;
    assert_eq!(status, 404);
    // The real code's id with a guessed token: refused and counted, and no push goes out.
    let mut guessed = NewPhone::scan(&real.qr);
    guessed.qr.token = nyckel_protocol::EnrollmentToken::random().unwrap();
    guessed.request = CompleteEnrollment::create(&guessed.qr, &guessed.key, &guessed.share, "Evil").unwrap();
    let (status, body) = guessed.ask(&h).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("bad_token")), "{body}");
    assert!(old.poll(&h, 0).await.is_empty());

    // Even holding the real code (read off the screen), the attacker's phone is not registered
    // until a registered phone approves it: the push shows the attacker's fingerprint.
    let attacker = NewPhone::scan(&real.qr);
    let (status, body) = attacker.ask(&h).await;
    assert_eq!(status, 200, "{body}");
    // The user's own new phone then finds the code used: a visible sign.
    let own = NewPhone::scan(&real.qr);
    let (status, body) = own.ask(&h).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("enrollment_used")), "{body}");
    let challenge = new_device_challenge(&h, &old).await;
    assert_eq!(challenge.new_device().unwrap().fingerprint, device_fingerprint(&attacker.key.public_key()));
    for _ in 0..3 {
        let (status, body) = attacker.result(&h).await;
        assert_eq!((status, body["state"].as_str()), (200, Some("awaiting_approval")), "{body}");
    }
    assert_eq!(devices_of(&h, "alice").await.len(), 1);

    // Pushes of this kind count towards the user's open-challenge cap like any other.
    for _ in 0..9 {
        let (status, body) = h.push("alice", json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let spam = NewPhone::scan(&add_code(&h, &old).await.qr);
    let (status, body) = spam.ask(&h).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_challenges")), "{body}");
}

#[tokio::test]
async fn another_tenants_devices_are_out_of_reach() {
    let h = Harness::start(&["alice"]).await;
    let old = h.enroll("alice").await;
    let other_rp = h.other_tenant("globex", &["alice"]).await;
    let (status, body) = h
        .rp_as(&other_rp, "POST", "/v1/enrollments", Some(json!({"user": "alice", "device_name": "Globex phone"})))
        .await;
    assert_eq!(status, 200, "{body}");
    let stranger = h.complete(body["qr"].as_str().unwrap()).await;

    // alice@acme's new-device push never reaches alice@globex.
    let (new, asked) = asking(&h, &old).await;
    assert_eq!(asked.devices, 1);
    assert!(stranger.poll(&h, 0).await.is_empty());
    let challenge = new_device_challenge(&h, &old).await;
    // Nor can the stranger answer it.
    let (status, _) = stranger.approve(&h, &challenge, Some(asked.number.clone())).await;
    assert_eq!(status, 404);
    let (status, body) = new.result(&h).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("awaiting_approval")), "{body}");
    // The other tenant's relying party does not see the code.
    let (status, _) = h.rp_as(&other_rp, "GET", &format!("/v1/enrollments/{}?wait=0", asked.enrollment_id), None).await;
    assert_eq!(status, 404);

    // A device lists and retires only its own user's devices: the other tenant's are 404.
    let (status, body) = stranger.signed(&h, "GET", "/v1/device/devices", None).await;
    assert_eq!(status, 200);
    let listed: Vec<&str> =
        body["devices"].as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![stranger.device_id.as_str()]);
    let path = format!("/v1/device/devices/{}/retire", old.device_id);
    let (status, body) = stranger
        .signed(&h, "POST", &path, Some(retire_body(&stranger, &old.device_id, &stranger.secret, h.now())))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    assert_eq!(devices_of(&h, "alice").await, vec![old.device_id.to_string()]);
}

#[tokio::test]
async fn either_phone_retires_the_other_with_its_pin() {
    let h = Harness::start(&["alice"]).await;
    let old = h.enroll("alice").await;
    let (new, asked) = asking(&h, &old).await;
    let challenge = new_device_challenge(&h, &old).await;
    let (status, _) = old.approve(&h, &challenge, Some(asked.number)).await;
    assert_eq!(status, 200);
    let new = new.registered(&h).await;

    // Each sees both.
    for phone in [&old, &new] {
        let (status, body) = phone.signed(&h, "GET", "/v1/device/devices", None).await;
        assert_eq!(status, 200);
        assert_eq!(body["devices"].as_array().unwrap().len(), 2, "{body}");
    }

    // Without the PIN: refused and counted on the retiring device.
    let path = format!("/v1/device/devices/{}/retire", old.device_id);
    let wrong = retire_body(&new, &old.device_id, &PinSecret::from_bytes([7; 32]), h.now());
    let (status, body) = new.signed(&h, "POST", &path, Some(wrong)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str(), body["error"]["attempts_left"].as_u64()),
        (403, Some("wrong_pin"), Some(4))
    );
    // A MAC made for another target does not retire this one.
    let for_new = retire_body(&new, &new.device_id, &new.secret, h.now());
    let (status, _) = new.signed(&h, "POST", &path, Some(for_new)).await;
    assert_eq!(status, 403);
    assert_eq!(devices_of(&h, "alice").await.len(), 2);

    // A pending push for both, then the new phone retires the old one with its PIN.
    let (status, _) = h.push("alice", json!({})).await;
    assert_eq!(status, 200);
    let pending = old.poll(&h, 0).await;
    let body = retire_body(&new, &old.device_id, &new.secret, h.now());
    let (status, _) = new.signed(&h, "POST", &path, Some(body.clone())).await;
    assert_eq!(status, 204);
    // Replayed: refused (and the device is gone anyway).
    let (status, _) = new.signed(&h, "POST", &path, Some(body)).await;
    assert_eq!(status, 404);
    assert_eq!(devices_of(&h, "alice").await, vec![new.device_id.to_string()]);
    // The retired phone can no longer answer nor ask anything.
    let (status, body) = old.approve(&h, &pending[0], None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unknown_device")), "{body}");
    let (status, _) = old.signed(&h, "GET", "/v1/device/devices", None).await;
    assert_eq!(status, 401);
    let (_, page) = h.admin("GET", "/v1/admin/audit?limit=500").await;
    let removed = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "device_removed" && e["device_id"] == old.device_id.as_str())
        .unwrap();
    assert!(removed["detail"].as_str().unwrap().contains(new.device_id.as_str()), "{removed}");

    // The remaining phone can retire itself the same way.
    let own = format!("/v1/device/devices/{}/retire", new.device_id);
    let (status, _) = new.signed(&h, "POST", &own, Some(retire_body(&new, &new.device_id, &new.secret, h.now()))).await;
    assert_eq!(status, 204);
    assert!(devices_of(&h, "alice").await.is_empty());
}
