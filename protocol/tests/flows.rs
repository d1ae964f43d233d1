//! The protocol end to end with both roles in one process: enrollment, push approval with
//! PIN and number matching, QR one-time passwords and a PIN change with a fresh `S`, as
//! phone and server would run them.

use nyckel_protocol::qr_otp::{self, OtpKind};
use nyckel_protocol::*;

const FAST_KDF: PinKdf = PinKdf::Pbkdf2Sha256 { iterations: 1000 };

struct Server {
    key: ServerSigningKey,
    device_key: Option<DevicePublicKey>,
    secret: Option<PinSecret>,
}

struct Phone {
    key: SoftwareDeviceKey,
    server_key: ServerPublicKey,
    device_id: DeviceId,
    vault: BlindedPinSecret,
}

fn enroll(pin: &str) -> (Server, Phone) {
    let key = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
    let qr = EnrollQr {
        server_url: "https://id.example.org".into(),
        enrollment_id: EnrollmentId::random().unwrap(),
        token: EnrollmentToken::random().unwrap(),
        server_key: key.public_key(),
        label: Some("alice @ Trade portal".into()),
    };
    let uri = qr.to_uri();

    // Phone: scan, make the device key and an X25519 share, send the share (never S).
    let QrPayload::Enroll(scanned) = QrPayload::parse(&uri).unwrap() else { panic!("not an enrollment QR") };
    let device_key = SoftwareDeviceKey::generate().unwrap();
    let (phone_key, phone_share) = EphemeralKey::generate().unwrap();
    let body =
        serde_json::to_vec(&CompleteEnrollment::create(&scanned, &device_key, &phone_share, "Linux").unwrap()).unwrap();

    // Server: check token and proof (at its own URL), derive and store S, sign a receipt.
    let request: CompleteEnrollment = serde_json::from_slice(&body).unwrap();
    assert!(request.token.matches(&qr.token));
    request.verify_proof(&key.public_key(), "https://id.example.org").unwrap();
    let device_id = DeviceId::random().unwrap();
    let (receipt, server_secret) = EnrollmentReceipt::issue(
        &request,
        device_id.clone(),
        "alice".into(),
        "Acme AB".into(),
        "Work phone".into(),
        0,
        &key,
    )
    .unwrap();
    let server = Server { device_key: Some(request.device_public_key), secret: Some(server_secret), key };

    // Phone: the receipt must come from the key the QR code pinned; then derive S and blind it.
    let secret = receipt.accept(&scanned, &device_key.public_key(), phone_key, &phone_share).unwrap();
    assert_eq!(receipt.organisation, "Acme AB");
    let vault = BlindedPinSecret::blind(&secret, &Pin::new(pin).unwrap(), FAST_KDF).unwrap();
    drop(secret);
    let phone = Phone { key: device_key, server_key: scanned.server_key, device_id, vault };
    (server, phone)
}

fn push(server: &Server, phone: &Phone, now: u64) -> (PushChallenge, NumberMatch, String) {
    let number = NumberMatch::generate(NumberMatchMode::Choose).unwrap().expect("choose asks for a number");
    let challenge = PushChallenge {
        id: ChallengeId::random().unwrap(),
        device_id: phone.device_id.clone(),
        nonce: Nonce::random().unwrap(),
        created_at: now,
        expires_at: now + policy::DEFAULT_CHALLENGE_TTL,
        display: ChallengeDisplay {
            context: DisplayContext {
                service: "Trade portal".into(),
                action: "Change payee".into(),
                browser: Some("Firefox on Linux".into()),
                ip: Some("192.0.2.7".into()),
                place: Some("Stockholm, SE".into()),
                time: Some(now),
            },
            transaction: vec![TransactionLine::new("New foreign account", "BIC REVOLT21, IBAN LT60 3250 0123 4567")],
            number_match: Some(number.prompt.clone()),
        },
        kind: Default::default(),
    };
    let wire = serde_json::to_string(&wire::phone::PendingChallenges {
        challenges: vec![challenge.clone().sign(&server.key)],
        server_time: now,
        key_rotations: vec![],
    })
    .unwrap();
    (challenge, number, wire)
}

#[test]
fn push_approval_with_right_pin_and_number() {
    let (server, phone) = enroll("4711");
    let (stored, number, wire) = push(&server, &phone, 10_000);

    let polled: wire::phone::PendingChallenges = serde_json::from_str(&wire).unwrap();
    let shown = polled.challenges[0].verify(&phone.server_key, &phone.device_id, 10_005).unwrap();
    let secret = phone.vault.unblind(&Pin::new("4711").unwrap()).unwrap();
    let answer = Answer::approve(shown, Some(number.number.clone()), 10_020, &phone.key, &secret).unwrap();
    let body = serde_json::to_vec(&answer).unwrap();

    let received: Answer = serde_json::from_slice(&body).unwrap();
    received.verify(&stored, server.device_key.as_ref().unwrap()).unwrap();
    assert!(received.pin_is_correct(&stored, server.secret.as_ref().unwrap()));
    assert!(number.matches(received.number.as_deref().unwrap()));
}

#[test]
fn wrong_pins_are_only_detectable_by_the_server() {
    let (server, phone) = enroll("4711");
    let (stored, number, wire) = push(&server, &phone, 10_000);
    let polled: wire::phone::PendingChallenges = serde_json::from_str(&wire).unwrap();
    let shown = polled.challenges[0].verify(&phone.server_key, &phone.device_id, 10_005).unwrap();

    let mut failures = 0;
    for guess in ["0000", "1234", "4712", "9999", "1111"] {
        // The phone unblinds and signs without complaint, whatever the PIN.
        let secret = phone.vault.unblind(&Pin::new(guess).unwrap()).unwrap();
        let answer = Answer::approve(shown, Some(number.number.clone()), 10_020, &phone.key, &secret).unwrap();
        answer.verify(&stored, server.device_key.as_ref().unwrap()).unwrap();
        if !answer.pin_is_correct(&stored, server.secret.as_ref().unwrap()) {
            failures += 1;
        }
    }
    assert_eq!(failures, policy::MAX_PIN_FAILURES);
}

#[test]
fn tampered_push_is_refused_by_the_phone() {
    let (server, phone) = enroll("4711");
    let (_, _, wire) = push(&server, &phone, 10_000);
    let tampered = wire.replace("LT60 3250 0123 4567", "LT60 6666 0123 4567");
    let polled: wire::phone::PendingChallenges = serde_json::from_str(&tampered).unwrap();
    assert!(matches!(
        polled.challenges[0].verify(&phone.server_key, &phone.device_id, 10_005),
        Err(ChallengeError::BadSignature { .. })
    ));
}

#[test]
fn qr_otp_offline_with_pin() {
    let (server, phone) = enroll("2580");
    let qr = OtpQr {
        kind: OtpKind::Transaction,
        server_key_id: server.key.public_key().key_id(),
        challenge_id: ChallengeId::random().unwrap(),
        nonce: Nonce::random().unwrap(),
        service: "Trade portal".into(),
        action: "Change payee".into(),
        transaction: vec![TransactionLine::new("New foreign account", "BIC REVOLT21")],
    };
    let uri = qr.to_uri();
    let verdict = |secret: &PinSecret, otp: &Otp| {
        qr_otp::verify(secret, qr.kind, &qr.challenge_id, &qr.nonce, &qr.display().hash(), otp)
    };

    // Phone, offline: parse, find the registration by key id, show, compute.
    let QrPayload::Otp(scanned) = QrPayload::parse(&uri).unwrap() else { panic!("not an OTP QR") };
    assert_eq!(scanned.server_key_id, phone.server_key.key_id());
    let right =
        qr_otp::compute(&phone.vault.unblind(&Pin::new("2580").unwrap()).unwrap(), &scanned.question()).unwrap();
    let wrong =
        qr_otp::compute(&phone.vault.unblind(&Pin::new("2581").unwrap()).unwrap(), &scanned.question()).unwrap();

    let secret = server.secret.as_ref().unwrap();
    let typed = Otp::parse(&format!("{} {}", &right.as_str()[..4], &right.as_str()[4..])).unwrap();
    assert_eq!(verdict(secret, &typed), OtpVerdict::Right);
    assert_eq!(verdict(secret, &wrong), OtpVerdict::WrongPin);

    // A phishing page that alters the displayed details gets an OTP the server rejects.
    let phished = uri.replace("REVOLT21", "EVILBANK");
    let QrPayload::Otp(phished) = QrPayload::parse(&phished).unwrap() else { panic!("not an OTP QR") };
    let misled =
        qr_otp::compute(&phone.vault.unblind(&Pin::new("2580").unwrap()).unwrap(), &phished.question()).unwrap();
    assert_ne!(verdict(secret, &misled), OtpVerdict::Right);
}

#[test]
fn signed_poll_request() {
    let (server, phone) = enroll("4711");
    let auth =
        RequestAuth::sign(&phone.key, &phone.device_id, "GET", "/v1/device/challenges?wait=30", b"", 500).unwrap();
    let headers = auth.to_headers();
    let parsed = RequestAuth::from_headers(|name| {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    })
    .unwrap();
    assert_eq!(parsed.device_id, phone.device_id);
    let key = server.device_key.as_ref().unwrap();
    assert_eq!(parsed.verify(key, "GET", "/v1/device/challenges?wait=30", b"", 520), Ok(()));
    assert!(parsed.verify(key, "GET", "/v1/device/challenges?wait=30", b"", 700).is_err());
}

#[test]
fn pin_change_rotates_s() {
    let (mut server, mut phone) = enroll("4711");
    let old = phone.vault.unblind(&Pin::new("4711").unwrap()).unwrap();
    let (phone_key, phone_share) = EphemeralKey::generate().unwrap();
    let request = Rekey::create(&phone.device_id, &old, &phone_share, 1_000).unwrap();
    let body = serde_json::to_vec(&request).unwrap();

    let received: Rekey = serde_json::from_slice(&body).unwrap();
    assert_eq!(received.check(&phone.device_id, server.secret.as_ref().unwrap(), 1_005), PinCheckOutcome::Correct);
    let (answer, pending) = Rekeyed::issue(&phone.device_id, &received, &server.key).unwrap();

    let new = answer.accept(&phone.device_id, &request, &phone.server_key, phone_key).unwrap();
    assert_eq!(new, pending);
    assert_ne!(new, old);
    phone.vault = BlindedPinSecret::blind(&new, &Pin::new("8080").unwrap(), FAST_KDF).unwrap();

    // Confirmation: a PIN check under the new S promotes the pending secret.
    let check =
        PinCheck::create(&phone.device_id, &phone.vault.unblind(&Pin::new("8080").unwrap()).unwrap(), 1_010).unwrap();
    assert_eq!(check.check(&phone.device_id, server.secret.as_ref().unwrap(), 1_010), PinCheckOutcome::Wrong);
    assert_eq!(check.check(&phone.device_id, &pending, 1_010), PinCheckOutcome::Correct);
    server.secret = Some(pending);
    let stale = PinCheck::create(&phone.device_id, &old, 1_020).unwrap();
    assert_eq!(stale.check(&phone.device_id, server.secret.as_ref().unwrap(), 1_020), PinCheckOutcome::Wrong);
}

#[test]
fn key_rotation_reaches_the_phone_through_the_poll() {
    let (mut server, phone) = enroll("4711");
    let next = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
    let rotation = KeyRotation::sign(&server.key, &next.public_key());
    server.key = next;
    let (_, _, wire) = push(&server, &phone, 10_000);
    let mut polled: wire::phone::PendingChallenges = serde_json::from_str(&wire).unwrap();
    polled.key_rotations.push(rotation);
    let polled: wire::phone::PendingChallenges =
        serde_json::from_str(&serde_json::to_string(&polled).unwrap()).unwrap();
    // Under the pinned key the challenge no longer verifies; the chain leads to the new key.
    assert!(polled.challenges[0].verify(&phone.server_key, &phone.device_id, 10_005).is_err());
    let newest = key_rotation::follow(&phone.server_key, &polled.key_rotations).unwrap().unwrap();
    assert!(polled.challenges[0].verify(&newest, &phone.device_id, 10_005).is_ok());
}
