//! End to end over HTTP on 127.0.0.1: the real server (in process, with a manual clock) and
//! the phone core — registration, push approval with number matching, deny, fraud, QR
//! one-time passwords, transaction confirmation, PIN changes, and the security properties
//! around them.
//! Nothing sleeps: long polls are asked with `wait=0` or return when something arrives,
//! and time moves only through the injected clocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nyckel_core::approvals::ChallengeRejection;
use nyckel_core::{
    ApprovalError, Clock, Companion, CompanionError, CompanionSettings, DeviceKeyStore, KeyStoreSigner, MemoryKeyStore,
    PendingApproval, Registration, RegistrationSummary, Vault, VaultDeviceKeyStore, VaultKey,
};
use nyckel_protocol::enrollment::{EnrollmentStarted, EnrollmentState, EnrollmentStatus, StartEnrollment};
use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::wire::relying_party::{
    ChallengeStatus, CreatePushChallenge, CreateQrChallenge, PushChallengeCreated, QrChallengeCreated, VerifyOtp,
};
use nyckel_protocol::{
    Answer, ChallengeError, ChallengeState, DisplayContext, ErrorCode, NumberMatchMode, NumberPrompt, Pin, PinKdf,
    ServerSigningKey, SignedChallenge, TransactionLine,
};
use nyckel_server::{ManualClock, Server, ServerConfig};

const PIN: &str = "4711";
const WRONG_PIN: &str = "1174";
const NEW_PIN: &str = "2580";
const USER: &str = "alice";

/// The phone's clock, moved by hand like the server's.
struct PhoneClock(AtomicU64);

impl Clock for PhoneClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    url: String,
    rp_key: String,
    admin_token: String,
    server_clock: Arc<ManualClock>,
    phone_clock: Arc<PhoneClock>,
    phone: Arc<Companion>,
    phone_vault_key: VaultKey,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    /// The running server's state (its sled store, to alter the audit log in a test).
    /// The server's sled database (the test alters the audit log in it).
    server_sled: nyckel_server::store::SledStore,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        // Users and relying parties are created before the server holds the data directory.
        nyckel_server::admin::add_tenant(&data, "acme", "Acme Trade").unwrap();
        nyckel_server::admin::add_user(&data, "acme", USER).unwrap();
        nyckel_server::admin::add_user(&data, "acme", "bob").unwrap();
        let rp_key = nyckel_server::admin::add_relying_party(&data, "acme", "portal").unwrap().to_string();
        // The key-encryption key lives beside the data directory, never inside it.
        let kek_file = dir.path().join("kek");
        let kek = nyckel_server::secrets::Kek::create_file(&kek_file, &data).unwrap();
        let admin_token = nyckel_server::admin::admin_token(&data, &kek).unwrap().to_string();

        let start = nyckel_core::SystemClock.now_unix();
        let server_clock = Arc::new(ManualClock::new(start));
        let mut config = ServerConfig::new(&data);
        config.clock = server_clock.clone();
        config.kek_file = Some(kek_file);
        let unlimited = nyckel_server::limits::Rate { per_second: 1_000_000, burst: 1_000_000 };
        config.limits = nyckel_server::limits::Limits { per_key: unlimited, per_address: unlimited };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::open(listener, config).await.unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        let server_sled = server.sled().expect("the e2e server runs on sled");
        let server = tokio::spawn(async move {
            let _ = server.run().await;
        });

        let phone_clock = Arc::new(PhoneClock(AtomicU64::new(start)));
        let phone_vault_key = VaultKey::generate().unwrap();
        let vault_store = MemoryKeyStore::new(phone_vault_key.clone());
        let vault = Arc::new(Vault::create(&dir.path().join("phone"), &vault_store).unwrap());
        let keys: Arc<dyn DeviceKeyStore> = Arc::new(VaultDeviceKeyStore::new(vault.clone()));
        let settings = CompanionSettings { pin_kdf: PinKdf::Pbkdf2Sha256 { iterations: 1000 }, platform: "e2e".into() };
        let phone = Arc::new(Companion::new(vault, keys, phone_clock.clone(), settings).unwrap());
        Harness {
            _dir: dir,
            url,
            rp_key,
            admin_token,
            server_clock,
            phone_clock,
            phone,
            phone_vault_key,
            http: reqwest::Client::new(),
            server,
            server_sled,
        }
    }

    /// Moves both clocks.
    fn advance(&self, seconds: u64) {
        self.server_clock.advance(seconds);
        self.phone_clock.0.fetch_add(seconds, Ordering::SeqCst);
    }

    async fn rp<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> T {
        let (status, value) = self.rp_raw(method, path, body).await;
        assert!(status.is_success(), "{path}: {status} {value}");
        serde_json::from_value(value).unwrap()
    }

    async fn rp_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.rp_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    async fn start_enrollment(&self, user: &str) -> EnrollmentStarted {
        let body = StartEnrollment { user: user.into(), device_name: "Work phone".into() };
        self.rp(reqwest::Method::POST, "/v1/enrollments", Some(serde_json::to_value(body).unwrap())).await
    }

    async fn register(&self, user: &str) -> RegistrationSummary {
        let started = self.start_enrollment(user).await;
        let summary = self.phone.register(&started.qr, PIN).await.unwrap();
        let status: EnrollmentStatus =
            self.rp(reqwest::Method::GET, &format!("/v1/enrollments/{}?wait=0", started.enrollment_id), None).await;
        assert_eq!(status.state, EnrollmentState::Completed);
        assert_eq!(status.device_id.as_ref(), Some(&summary.device_id));
        summary
    }

    async fn push(&self, request: &CreatePushChallenge) -> PushChallengeCreated {
        self.rp(reqwest::Method::POST, "/v1/challenges/push", Some(serde_json::to_value(request).unwrap())).await
    }

    async fn status(&self, challenge: &nyckel_protocol::ChallengeId) -> ChallengeStatus {
        self.rp(reqwest::Method::GET, &format!("/v1/challenges/{challenge}?wait=0"), None).await
    }

    /// One poll that must bring exactly `count` new challenges.
    async fn poll(&self, registration: &RegistrationSummary, count: usize) -> Vec<PendingApproval> {
        let outcome = self.phone.poll_once(&registration.id, 0).await.unwrap();
        assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
        assert_eq!(outcome.new.len(), count, "{:?}", outcome.new);
        outcome.new
    }

    /// The raw signed challenges the server delivers (bypassing the phone's checks).
    async fn raw_challenges(&self, registration: &RegistrationSummary) -> Vec<SignedChallenge> {
        let stored = self.phone.registration(&registration.id).unwrap();
        let signer = self.phone.signer(&stored).unwrap();
        self.phone.client().poll(&stored, &signer, 0, self.phone_clock.now_unix()).await.unwrap().challenges
    }
}

fn login(number_matching: Option<NumberMatchMode>) -> CreatePushChallenge {
    CreatePushChallenge {
        user: USER.into(),
        context: DisplayContext {
            service: "Trade portal".into(),
            action: "Sign in".into(),
            browser: Some("Firefox on Linux".into()),
            ip: Some("192.0.2.7".into()),
            place: Some("Stockholm, SE".into()),
            time: Some(1_700_000_000),
        },
        transaction: Vec::new(),
        number_matching,
        ttl: None,
    }
}

fn transaction(lines: &[(&str, &str)]) -> CreatePushChallenge {
    CreatePushChallenge {
        context: DisplayContext::new("Trade portal", "Change payee"),
        transaction: lines.iter().map(|(key, value)| TransactionLine::new(*key, *value)).collect(),
        ..login(Some(NumberMatchMode::None))
    }
}

fn refused_code(error: &CompanionError) -> Option<ErrorCode> {
    match error {
        CompanionError::Server(server) => server.code(),
        _ => None,
    }
}

#[tokio::test]
async fn register_then_push_with_number_matching_then_approve_with_the_pin() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;
    assert_eq!(registration.user, USER);
    assert_eq!(registration.server_url, h.url);

    let request = login(Some(NumberMatchMode::Choose));
    let created = h.push(&request).await;
    let number = created.number.clone().expect("number matching gives the RP a number");
    let pending = h.poll(&registration, 1).await.remove(0);
    // The phone shows exactly what the relying party sent; the right number is among the choices.
    assert_eq!(pending.challenge_id, created.challenge_id);
    assert_eq!(pending.display.context, request.context);
    assert!(pending.display.transaction.is_empty());
    let Some(NumberPrompt::Choose { choices }) = &pending.display.number_match else { panic!("no number prompt") };
    assert_eq!(choices.len(), 3);
    assert!(choices.contains(&number));
    assert_eq!(h.status(&created.challenge_id).await.state, ChallengeState::Pending);

    let state = h.phone.approve(&registration.id, &pending.challenge_id, PIN, Some(&number)).await.unwrap();
    assert_eq!(state, ChallengeState::Approved);
    let status = h.status(&created.challenge_id).await;
    assert_eq!(status.state, ChallengeState::Approved);
    assert_eq!(status.device_id.as_ref(), Some(&registration.device_id));
    // Answered: nothing left to show, and the server's record says the PIN was right.
    assert!(h.phone.pending_approvals().unwrap().is_empty());
    let info = h.phone.device_info(&registration.id).await.unwrap();
    assert_eq!((info.state, info.pin_failures), (DeviceState::Active, 0));
}

#[tokio::test]
async fn a_wrong_number_denies_and_typed_numbers_work() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;
    let created = h.push(&login(Some(NumberMatchMode::Choose))).await;
    let pending = h.poll(&registration, 1).await.remove(0);
    let number = created.number.unwrap();
    let Some(NumberPrompt::Choose { choices }) = &pending.display.number_match else { panic!() };
    let decoy = choices.iter().find(|choice| **choice != number).unwrap();
    let error = h.phone.approve(&registration.id, &pending.challenge_id, PIN, Some(decoy)).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::NumberMismatch)), "{error}");
    assert_eq!(h.status(&created.challenge_id).await.state, ChallengeState::Denied);

    let created = h.push(&login(Some(NumberMatchMode::Type))).await;
    let pending = h.poll(&registration, 1).await.remove(0);
    assert_eq!(pending.display.number_match, Some(NumberPrompt::Type { digits: 2 }));
    let number = created.number.unwrap();
    let state = h.phone.approve(&registration.id, &pending.challenge_id, PIN, Some(&number)).await.unwrap();
    assert_eq!(state, ChallengeState::Approved);
}

#[tokio::test]
async fn deny_and_report_fraud_reach_the_relying_party() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;
    let denied = h.push(&login(Some(NumberMatchMode::None))).await;
    let fraud = h.push(&login(Some(NumberMatchMode::None))).await;
    let pending = h.poll(&registration, 2).await;
    assert_eq!(h.phone.deny(&registration.id, &denied.challenge_id).await.unwrap(), ChallengeState::Denied);
    assert_eq!(h.phone.report_fraud(&registration.id, &fraud.challenge_id).await.unwrap(), ChallengeState::Fraud);
    assert_eq!(pending.len(), 2);
    assert_eq!(h.status(&denied.challenge_id).await.state, ChallengeState::Denied);
    assert_eq!(h.status(&fraud.challenge_id).await.state, ChallengeState::Fraud);
    // The fraud report is in the audit log.
    let response =
        h.http.get(format!("{}/v1/admin/audit?limit=500", h.url)).bearer_auth(&h.admin_token).send().await.unwrap();
    let audit: serde_json::Value = response.json().await.unwrap();
    let kinds: Vec<&str> = audit["events"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"fraud_reported"), "{kinds:?}");
}

#[tokio::test]
async fn qr_one_time_passwords_are_accepted_and_bound_to_the_lines() {
    let h = &Harness::start().await;
    let registration = h.register(USER).await;
    let create = |transaction: Vec<TransactionLine>| CreateQrChallenge {
        user: USER.into(),
        service: "Trade portal".into(),
        action: if transaction.is_empty() { "Sign in" } else { "Confirm payment" }.into(),
        transaction,
        ttl: None,
    };
    let verify = |challenge: &nyckel_protocol::ChallengeId, otp: &str| {
        let body = serde_json::to_value(VerifyOtp { otp: otp.into() }).unwrap();
        let path = format!("/v1/challenges/{challenge}/otp");
        async move { h.rp_raw(reqwest::Method::POST, &path, Some(body)).await }
    };

    // Login code: offline OTP, typed with a space, accepted.
    let code: QrChallengeCreated =
        h.rp(reqwest::Method::POST, "/v1/challenges/qr", Some(serde_json::to_value(create(Vec::new())).unwrap())).await;
    let prompt = h.phone.read_otp_code(&code.qr).unwrap();
    assert_eq!(prompt.registrations[0].id, registration.id);
    let otp = h.phone.qr_otp(&code.qr, None, PIN).unwrap();
    let (status, body) = verify(&code.challenge_id, &format!("{} {}", &otp[..4], &otp[4..])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "approved");

    // Transaction code: the phone shows exactly the lines; the OTP for them is accepted.
    let lines = vec![TransactionLine::new("Amount", "1 250,00 EUR"), TransactionLine::new("To", "IBAN LT60 3250 0123")];
    let code: QrChallengeCreated = h
        .rp(reqwest::Method::POST, "/v1/challenges/qr", Some(serde_json::to_value(create(lines.clone())).unwrap()))
        .await;
    assert_eq!(h.phone.read_otp_code(&code.qr).unwrap().display.transaction, lines);
    let otp = h.phone.qr_otp(&code.qr, None, PIN).unwrap();
    let (status, body) = verify(&code.challenge_id, &otp).await;
    assert_eq!((status.as_u16(), body["state"].as_str()), (200, Some("approved")), "{body}");

    // A phishing page that shows other lines (same challenge): the phone's OTP for those
    // lines is refused as made for other details (its check digits say so), audited as
    // tampering, and not counted as a wrong PIN.
    let code: QrChallengeCreated = h
        .rp(reqwest::Method::POST, "/v1/challenges/qr", Some(serde_json::to_value(create(lines.clone())).unwrap()))
        .await;
    let phished = code.qr.replace("IBAN%20LT60%203250%200123", "IBAN%20SE00%206666%206666");
    assert_ne!(phished, code.qr);
    assert_eq!(h.phone.read_otp_code(&phished).unwrap().display.transaction[1].value, "IBAN SE00 6666 6666");
    let otp = h.phone.qr_otp(&phished, None, PIN).unwrap();
    let (status, body) = verify(&code.challenge_id, &otp).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (403, Some("qr_mismatch")), "{body}");
    assert_eq!(h.phone.device_info(&registration.id).await.unwrap().pin_failures, 0);
}

#[tokio::test]
async fn transaction_lines_are_shown_verbatim_and_an_approval_cannot_serve_other_lines() {
    let h = &Harness::start().await;
    let registration = h.register(USER).await;
    let first = h
        .push(&transaction(&[
            ("New foreign account", "BIC REVOLT21, IBAN LT60 3250 0123 4567"),
            ("Amount", "0,00 EUR"),
        ]))
        .await;
    let second = h
        .push(&transaction(&[
            ("New foreign account", "BIC EVIL0001, IBAN XX00 6666 6666 6666"),
            ("Amount", "0,00 EUR"),
        ]))
        .await;
    let pending = h.poll(&registration, 2).await;
    let shown = |id| pending.iter().find(|p| &p.challenge_id == id).unwrap();
    let lines = |p: &PendingApproval| {
        p.display.transaction.iter().map(|l| (l.key.clone(), l.value.clone())).collect::<Vec<_>>()
    };
    assert_eq!(
        lines(shown(&first.challenge_id)),
        [
            ("New foreign account".to_string(), "BIC REVOLT21, IBAN LT60 3250 0123 4567".to_string()),
            ("Amount".into(), "0,00 EUR".into())
        ]
    );
    assert_eq!(lines(shown(&second.challenge_id))[0].1, "BIC EVIL0001, IBAN XX00 6666 6666 6666");

    // An approval made (with the right PIN) for the first lines, sent for the second challenge.
    let stored = h.phone.registration(&registration.id).unwrap();
    let signer = h.phone.signer(&stored).unwrap();
    let raw = h.raw_challenges(&registration).await;
    let first_challenge = raw.iter().find(|c| c.challenge.id == first.challenge_id).unwrap().challenge.clone();
    let secret = stored.pin.unblind(&Pin::new(PIN).unwrap()).unwrap();
    let now = h.phone_clock.now_unix();
    let approval = Answer::approve(&first_challenge, None, now, &signer, &secret).unwrap();
    let send = |challenge: nyckel_protocol::ChallengeId, answer: Answer| {
        let (stored, signer) = (stored.clone(), signer.clone());
        async move { h.phone.client().answer(&stored, &signer, &challenge, &answer, h.phone_clock.now_unix()).await }
    };
    let error = send(second.challenge_id.clone(), approval.clone()).await.unwrap_err();
    assert_eq!(error.code().map(|c| c.status()).map(|s| (400..500).contains(&s)), Some(true), "{error}");
    let mut relabelled = approval.clone();
    relabelled.challenge_id = second.challenge_id.clone();
    let error = send(second.challenge_id.clone(), relabelled).await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::BadSignature), "{error}");
    assert_eq!(h.status(&second.challenge_id).await.state, ChallengeState::Pending, "a refused answer changed state");

    // The approval works for its own challenge — once. Replayed, it is refused.
    assert_eq!(send(first.challenge_id.clone(), approval.clone()).await.unwrap().state, ChallengeState::Approved);
    let error = send(first.challenge_id.clone(), approval).await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::AlreadyAnswered), "{error}");
    assert_eq!(h.status(&second.challenge_id).await.state, ChallengeState::Pending);
}

#[tokio::test]
async fn five_wrong_pins_block_the_device_and_a_right_pin_resets_the_count() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;

    // One wrong PIN, then the right one: the challenge survives the wrong PIN, the count resets.
    let created = h.push(&login(Some(NumberMatchMode::None))).await;
    h.poll(&registration, 1).await;
    let error = h.phone.approve(&registration.id, &created.challenge_id, WRONG_PIN, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::WrongPin { attempts_left: 4 })), "{error}");
    assert_eq!(h.phone.device_info(&registration.id).await.unwrap().pin_failures, 1);
    assert_eq!(
        h.phone.approve(&registration.id, &created.challenge_id, PIN, None).await.unwrap(),
        ChallengeState::Approved
    );
    assert_eq!(h.phone.device_info(&registration.id).await.unwrap().pin_failures, 0);

    let created = h.push(&login(Some(NumberMatchMode::None))).await;
    h.poll(&registration, 1).await;
    for attempts_left in (1..=4).rev() {
        let error = h.phone.approve(&registration.id, &created.challenge_id, WRONG_PIN, None).await.unwrap_err();
        assert!(
            matches!(error, CompanionError::Approval(ApprovalError::WrongPin { attempts_left: left }) if left == attempts_left),
            "{error}"
        );
        assert_eq!(h.status(&created.challenge_id).await.state, ChallengeState::Pending);
    }
    let error = h.phone.approve(&registration.id, &created.challenge_id, WRONG_PIN, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::DeviceBlocked)), "{error}");
    assert_eq!(h.status(&created.challenge_id).await.state, ChallengeState::Blocked);

    // Blocked: polls refused, no more pushes to it, the right PIN no longer helps.
    let error = h.phone.poll_once(&registration.id, 0).await.unwrap_err();
    assert_eq!(refused_code(&error), Some(ErrorCode::DeviceBlocked), "{error}");
    let (status, body) = h
        .rp_raw(
            reqwest::Method::POST,
            "/v1/challenges/push",
            Some(serde_json::to_value(login(Some(NumberMatchMode::None))).unwrap()),
        )
        .await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("no_device")), "{body}");

    // A new registration unblocks the user (a new device).
    let again = h.register(USER).await;
    let created = h.push(&login(Some(NumberMatchMode::None))).await;
    h.poll(&again, 1).await;
    assert_eq!(h.phone.approve(&again.id, &created.challenge_id, PIN, None).await.unwrap(), ChallengeState::Approved);
}

#[tokio::test]
async fn after_a_pin_change_only_the_new_pin_approves() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;
    let before = h.phone.registration(&registration.id).unwrap();

    h.phone.change_pin(&registration.id, PIN, NEW_PIN).await.unwrap();
    // A new S blinded under the new PIN with a fresh salt, the same KDF; everything else in
    // the record untouched.
    let after = h.phone.registration(&registration.id).unwrap();
    assert_ne!(after.pin.salt, before.pin.salt);
    assert_ne!(after.pin.blinded, before.pin.blinded);
    assert_eq!(after.pin.kdf, PinKdf::Pbkdf2Sha256 { iterations: 1000 });
    assert_eq!(Registration { pin: before.pin.clone(), ..after.clone() }, before);
    // S was rotated (PROTOCOL.md §4.7): the new PIN does not give the old S, and the right
    // old PIN left no failure behind.
    assert_ne!(
        after.pin.unblind(&Pin::new(NEW_PIN).unwrap()).unwrap(),
        before.pin.unblind(&Pin::new(PIN).unwrap()).unwrap()
    );
    assert_eq!(h.phone.device_info(&registration.id).await.unwrap().pin_failures, 0);

    // A push: the old PIN now counts as wrong, the new one approves.
    let created = h.push(&login(Some(NumberMatchMode::None))).await;
    h.poll(&registration, 1).await;
    let error = h.phone.approve(&registration.id, &created.challenge_id, PIN, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::WrongPin { attempts_left: 4 })), "{error}");
    assert_eq!(
        h.phone.approve(&registration.id, &created.challenge_id, NEW_PIN, None).await.unwrap(),
        ChallengeState::Approved
    );
    assert_eq!(h.status(&created.challenge_id).await.state, ChallengeState::Approved);

    // QR one-time passwords follow the new PIN too (they share S).
    let code: QrChallengeCreated = h
        .rp(
            reqwest::Method::POST,
            "/v1/challenges/qr",
            Some(serde_json::json!({"user": USER, "service": "Trade portal", "action": "Sign in"})),
        )
        .await;
    let otp = h.phone.qr_otp(&code.qr, None, NEW_PIN).unwrap();
    let body = serde_json::json!({"otp": otp});
    let (status, body) =
        h.rp_raw(reqwest::Method::POST, &format!("/v1/challenges/{}/otp", code.challenge_id), Some(body)).await;
    assert_eq!((status.as_u16(), body["state"].as_str()), (200, Some("approved")), "{body}");
}

#[tokio::test]
async fn a_wrong_old_pin_changes_nothing_stored_and_is_counted() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;
    let before = h.phone.registration(&registration.id).unwrap();

    let error = h.phone.change_pin(&registration.id, WRONG_PIN, NEW_PIN).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::WrongPin { attempts_left: 4 })), "{error}");
    assert_eq!(h.phone.registration(&registration.id).unwrap(), before);
    assert_eq!(h.phone.device_info(&registration.id).await.unwrap().pin_failures, 1);

    // A malformed new PIN is refused before anything is sent: no attempt spent, nothing stored.
    for bad in ["", "12", "12a4", "12345678901234567"] {
        let error = h.phone.change_pin(&registration.id, PIN, bad).await.unwrap_err();
        assert!(matches!(error, CompanionError::Pin(nyckel_protocol::PinError::BadPin)), "{bad:?}: {error}");
    }
    let error = h.phone.change_pin(&registration.id, "", NEW_PIN).await.unwrap_err();
    assert!(matches!(error, CompanionError::Pin(nyckel_protocol::PinError::BadPin)), "{error}");
    assert_eq!(h.phone.registration(&registration.id).unwrap(), before);
    assert_eq!(h.phone.device_info(&registration.id).await.unwrap().pin_failures, 1);

    // The old PIN still approves (and resets the count).
    let created = h.push(&login(Some(NumberMatchMode::None))).await;
    h.poll(&registration, 1).await;
    assert_eq!(
        h.phone.approve(&registration.id, &created.challenge_id, PIN, None).await.unwrap(),
        ChallengeState::Approved
    );
    assert_eq!(h.phone.device_info(&registration.id).await.unwrap().pin_failures, 0);
}

#[tokio::test]
async fn five_wrong_old_pins_block_the_device() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;
    let before = h.phone.registration(&registration.id).unwrap();
    for expected in (1..=4).rev() {
        let error = h.phone.change_pin(&registration.id, WRONG_PIN, NEW_PIN).await.unwrap_err();
        let wrong = ApprovalError::WrongPin { attempts_left: expected };
        assert!(matches!(&error, CompanionError::Approval(refused) if *refused == wrong), "{error}");
    }
    let error = h.phone.change_pin(&registration.id, WRONG_PIN, NEW_PIN).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::DeviceBlocked)), "{error}");

    // Blocked: the right old PIN no longer helps, polls are refused, nothing stored changed.
    let error = h.phone.change_pin(&registration.id, PIN, NEW_PIN).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::DeviceBlocked)), "{error}");
    let error = h.phone.poll_once(&registration.id, 0).await.unwrap_err();
    assert_eq!(refused_code(&error), Some(ErrorCode::DeviceBlocked), "{error}");
    assert_eq!(h.phone.registration(&registration.id).unwrap(), before);
    let (status, body) = h
        .rp_raw(
            reqwest::Method::POST,
            "/v1/challenges/push",
            Some(serde_json::to_value(login(Some(NumberMatchMode::None))).unwrap()),
        )
        .await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("no_device")), "{body}");
}

#[tokio::test]
async fn the_phone_refuses_altered_foreign_expired_and_replayed_challenges_from_the_wire() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;
    h.push(&transaction(&[("Amount", "10 EUR")])).await;
    let genuine = h.raw_challenges(&registration).await.remove(0);
    let refused = |signed: SignedChallenge| {
        let outcome = h.phone.accept_challenges(&registration.id, vec![signed]).unwrap();
        assert!(outcome.new.is_empty(), "accepted");
        outcome.rejected.into_iter().next().unwrap()
    };
    let bad_signature =
        |r: &ChallengeRejection| matches!(r, ChallengeRejection::Invalid(ChallengeError::BadSignature { .. }));

    let mut altered = genuine.clone();
    altered.challenge.display.transaction[0].value = "10000 EUR".into();
    assert!(bad_signature(&refused(altered)));
    let mut altered = genuine.clone();
    altered.challenge.expires_at += 60;
    assert!(bad_signature(&refused(altered)));
    let mut altered = genuine.clone();
    altered.challenge.nonce.0[15] ^= 0x80;
    assert!(bad_signature(&refused(altered)));
    let mut unsigned = genuine.clone();
    unsigned.signature = nyckel_protocol::ServerSignature([0; 64]);
    assert!(bad_signature(&refused(unsigned)));
    let impostor = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
    assert!(bad_signature(&refused(genuine.challenge.clone().sign(&impostor))));

    // Expired by the phone's clock (beyond the 30 s skew allowance).
    h.phone_clock.0.fetch_add(genuine.challenge.expires_at - genuine.challenge.created_at + 30, Ordering::SeqCst);
    assert!(matches!(refused(genuine.clone()), ChallengeRejection::Invalid(ChallengeError::Expired { .. })));
    h.phone_clock.0.store(h.server_clock_now(), Ordering::SeqCst);

    // The genuine one is accepted, answered, and then refused when replayed.
    let outcome = h.phone.accept_challenges(&registration.id, vec![genuine.clone()]).unwrap();
    assert_eq!(outcome.new.len(), 1);
    h.phone.deny(&registration.id, &genuine.challenge.id).await.unwrap();
    assert!(matches!(refused(genuine), ChallengeRejection::AlreadySeen { .. }));
}

impl Harness {
    fn server_clock_now(&self) -> u64 {
        nyckel_server::Clock::now(&*self.server_clock)
    }
}

#[tokio::test]
async fn polls_outside_the_time_window_or_badly_signed_are_refused() {
    let h = &Harness::start().await;
    let registration = h.register(USER).await;
    let stored = h.phone.registration(&registration.id).unwrap();
    let signer = h.phone.signer(&stored).unwrap();
    let now = h.phone_clock.now_unix();
    let poll = |signer: KeyStoreSigner, at: u64| {
        let stored = stored.clone();
        async move { h.phone.client().poll(&stored, &signer, 0, at).await }
    };
    assert!(poll(signer.clone(), now).await.is_ok());
    for at in [now - 61, now + 61] {
        let error = poll(signer.clone(), at).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::StaleRequest), "{error}");
    }
    // Within the window either way.
    assert!(poll(signer.clone(), now - 59).await.is_ok());
    assert!(poll(signer.clone(), now + 59).await.is_ok());
    // Signed by another key than the device's.
    let other = KeyStoreSigner::create(h.phone.key_store().clone(), "not-the-device-key").unwrap();
    let error = poll(other, now).await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::BadSignature), "{error}");

    // The same signed request sent twice: the nonce is refused the second time.
    let target = "/v1/device/challenges?wait=0";
    let auth = nyckel_protocol::RequestAuth::sign(&signer, &stored.device_id, "GET", target, b"", now).unwrap();
    let send = || {
        let mut request = h.http.get(format!("{}{target}", h.url));
        for (name, value) in auth.to_headers() {
            request = request.header(name, value);
        }
        request.send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let replayed = send().await.unwrap();
    assert_eq!(replayed.status(), 401);
    let body: serde_json::Value = replayed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "replayed_request");
    // A signature over another target is refused.
    let wrong_target =
        nyckel_protocol::RequestAuth::sign(&signer, &stored.device_id, "GET", "/v1/device", b"", now).unwrap();
    let mut request = h.http.get(format!("{}{target}", h.url));
    for (name, value) in wrong_target.to_headers() {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_signature");
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_challenge_arrives_and_expiry_is_the_servers() {
    let h = Harness::start().await;
    let registration = h.register(USER).await;
    let phone = h.phone.clone();
    let id = registration.id.clone();
    // A 30 s long poll in flight; the push must end it at once (the test would time out otherwise).
    let waiting = tokio::spawn(async move { phone.poll_once(&id, 30).await });
    tokio::task::yield_now().await;
    let created = h.push(&login(Some(NumberMatchMode::None))).await;
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await.unwrap().unwrap().unwrap();
    assert_eq!(outcome.new.len(), 1);
    assert_eq!(outcome.new[0].challenge_id, created.challenge_id);

    // Past its expiry at the server, an approval is refused and the RP sees expired.
    h.advance(121);
    let error = h.phone.approve(&registration.id, &created.challenge_id, PIN, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::Expired)), "{error}");
    assert_eq!(h.status(&created.challenge_id).await.state, ChallengeState::Expired);
}

#[tokio::test]
async fn several_registrations_on_one_phone_answer_for_their_own_accounts() {
    let h = Harness::start().await;
    let alice = h.register(USER).await;
    let bob = h.register("bob").await;
    assert_ne!(alice.device_id, bob.device_id);
    let for_bob = h.push(&CreatePushChallenge { user: "bob".into(), ..login(Some(NumberMatchMode::None)) }).await;
    assert!(h.phone.poll_once(&alice.id, 0).await.unwrap().new.is_empty());
    let pending = h.poll(&bob, 1).await.remove(0);
    assert_eq!(pending.registration_id, bob.id);
    // Alice's registration cannot answer Bob's challenge.
    let error = h.phone.approve(&alice.id, &for_bob.challenge_id, PIN, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::UnknownChallenge { .. })), "{error}");
    assert_eq!(h.phone.approve(&bob.id, &for_bob.challenge_id, PIN, None).await.unwrap(), ChallengeState::Approved);

    // Unregistering removes the device at the server too.
    h.phone.unregister(&alice.id).await.unwrap();
    assert_eq!(h.phone.registrations().unwrap().len(), 1);
    let (status, body) = h
        .rp_raw(
            reqwest::Method::POST,
            "/v1/challenges/push",
            Some(serde_json::to_value(login(Some(NumberMatchMode::None))).unwrap()),
        )
        .await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (409, Some("no_device")), "{body}");
}

#[tokio::test]
async fn an_enrollment_answered_by_another_key_or_reused_is_refused() {
    let h = Harness::start().await;
    let started = h.start_enrollment(USER).await;
    // A code whose pinned key is not the server's: the real server's receipt does not verify.
    let impostor = ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap();
    let nyckel_protocol::QrPayload::Enroll(mut qr) = nyckel_protocol::QrPayload::parse(&started.qr).unwrap() else {
        panic!()
    };
    qr.server_key = impostor.public_key();
    // The proof of possession covers the pinned key, so the real server refuses it; had it
    // answered, its receipt would not verify under the impostor key (core/tests/companion.rs).
    let error = h.phone.register(&qr.to_uri(), PIN).await.unwrap_err();
    assert_eq!(refused_code(&error), Some(ErrorCode::BadSignature), "{error}");
    assert!(h.phone.registrations().unwrap().is_empty());

    // The genuine code works once; the same code again is refused.
    let fresh = h.start_enrollment(USER).await;
    h.phone.register(&fresh.qr, PIN).await.unwrap();
    let error = h.phone.register(&fresh.qr, PIN).await.unwrap_err();
    assert_eq!(refused_code(&error), Some(ErrorCode::EnrollmentUsed), "{error}");
    assert_eq!(h.phone.registrations().unwrap().len(), 1);
}

#[tokio::test]
async fn every_pin_tried_offline_against_a_copied_vault_gives_a_plausible_secret() {
    let h = &Harness::start().await;
    let registration = h.register(USER).await;
    // Copy the phone's storage (every write is flushed before it is acknowledged) and open
    // it with the vault key: the attacker has broken the platform key store too.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&h._dir.path().join("phone"), copy.path());
    let stolen = Vault::open(copy.path(), &MemoryKeyStore::new(h.phone_vault_key.clone())).unwrap();
    let record = stolen.registration(&registration.id).unwrap().unwrap();

    let code: QrChallengeCreated = h
        .rp(
            reqwest::Method::POST,
            "/v1/challenges/qr",
            Some(serde_json::json!({"user": USER, "service": "Trade portal", "action": "Sign in"})),
        )
        .await;
    let qr = nyckel_core::qr_otp::parse_otp_code(&code.qr).unwrap();
    let mut candidates = std::collections::HashSet::new();
    let mut right_otp = None;
    for guess in 0..10_000u32 {
        let pin = Pin::new(&format!("{guess:04}")).unwrap();
        // Every guess unblinds to 32 bytes and gives a well-formed OTP: nothing fails, nothing tells.
        let candidate = record.pin.unblind(&pin).expect("no PIN can be refused offline");
        assert!(candidates.insert(*candidate.expose()), "two PINs gave the same secret");
        let otp = nyckel_core::qr_otp::compute_otp(&record, &qr, &pin).unwrap();
        assert!(otp.len() == 8 && otp.bytes().all(|b| b.is_ascii_digit()));
        if format!("{guess:04}") == PIN {
            right_otp = Some(otp);
        }
    }
    assert_eq!(candidates.len(), 10_000);
    // Only the server tells the right one: it accepts the OTP of the right PIN.
    let body = serde_json::json!({"otp": right_otp.unwrap()});
    let (status, body) =
        h.rp_raw(reqwest::Method::POST, &format!("/v1/challenges/{}/otp", code.challenge_id), Some(body)).await;
    assert_eq!((status.as_u16(), body["state"].as_str()), (200, Some("approved")), "{body}");
}

#[tokio::test]
async fn the_history_records_every_answer_and_code_with_receipts_and_agrees_with_the_servers_audit() {
    use nyckel_core::{AuditDisagreement, HistoryDecision, HistoryKind, HistoryResult, ReceiptStatus};
    use nyckel_protocol::wire::audit::AuditKind;

    let h = &Harness::start().await;
    let registration = h.register(USER).await;
    let approved = h.push(&login(Some(NumberMatchMode::None))).await;
    let denied = h.push(&login(Some(NumberMatchMode::None))).await;
    let fraud = h.push(&login(Some(NumberMatchMode::None))).await;
    h.poll(&registration, 3).await;
    let wrong = h.phone.approve(&registration.id, &approved.challenge_id, WRONG_PIN, None).await.unwrap_err();
    assert!(matches!(wrong, CompanionError::Approval(ApprovalError::WrongPin { .. })), "{wrong:?}");
    assert_eq!(
        h.phone.approve(&registration.id, &approved.challenge_id, PIN, None).await.unwrap(),
        ChallengeState::Approved
    );
    assert_eq!(h.phone.deny(&registration.id, &denied.challenge_id).await.unwrap(), ChallengeState::Denied);
    assert_eq!(h.phone.report_fraud(&registration.id, &fraud.challenge_id).await.unwrap(), ChallengeState::Fraud);
    let qr = CreateQrChallenge {
        user: USER.into(),
        service: "Trade portal".into(),
        action: "Sign in".into(),
        transaction: Vec::new(),
        ttl: None,
    };
    let code: QrChallengeCreated =
        h.rp(reqwest::Method::POST, "/v1/challenges/qr", Some(serde_json::to_value(qr).unwrap())).await;
    let otp = h.phone.qr_otp(&code.qr, None, PIN).unwrap();
    let body = serde_json::to_value(VerifyOtp { otp: otp.clone() }).unwrap();
    let (status, _) =
        h.rp_raw(reqwest::Method::POST, &format!("/v1/challenges/{}/otp", code.challenge_id), Some(body)).await;
    assert!(status.is_success());

    // Five entries, in order, with what was decided and what the server said.
    let entries = h.phone.history(Some(&registration.id)).unwrap();
    let summary: Vec<(HistoryKind, HistoryDecision, HistoryResult)> =
        entries.iter().map(|e| (e.record.kind, e.record.decision, e.record.result.clone())).collect();
    assert_eq!(
        summary,
        vec![
            (HistoryKind::Push, HistoryDecision::Approve, HistoryResult::Refused("wrong_pin".into())),
            (HistoryKind::Push, HistoryDecision::Approve, HistoryResult::State(ChallengeState::Approved)),
            (HistoryKind::Push, HistoryDecision::Deny, HistoryResult::State(ChallengeState::Denied)),
            (HistoryKind::Push, HistoryDecision::Fraud, HistoryResult::State(ChallengeState::Fraud)),
            (HistoryKind::QrOtp, HistoryDecision::Otp, HistoryResult::Offline),
        ]
    );
    // Receipts for the answers the server took, verified; none for a refusal or a code.
    let receipts: Vec<bool> =
        entries.iter().map(|e| matches!(e.record.receipt, ReceiptStatus::Verified { .. })).collect();
    assert_eq!(receipts, vec![false, true, true, true, false]);
    assert!(entries.iter().all(|e| e.record.service == "Trade portal" && e.record.registration_id == registration.id));
    // Nothing stored holds the OTP (§4.4 rule 3).
    let stored = serde_json::to_string(&entries).unwrap();
    assert!(!stored.contains(&otp), "the OTP is in the history");

    // The chain is intact and the server's audit agrees.
    let check = h.phone.check_history(&registration.id).await.unwrap();
    assert!(check.agrees(), "{check:?}");
    assert_eq!(check.entries, 5);

    // An event dropped from the fetched list: the history has an answer the audit lacks.
    let mut events = h.phone.device_audit(&registration.id).await.unwrap();
    let denial = events.iter().position(|e| e.kind == AuditKind::ChallengeDenied).unwrap();
    events.remove(denial);
    let check = h.phone.check_history_with(&registration.id, &events).unwrap();
    assert_eq!(
        check.disagreements,
        vec![AuditDisagreement::MissingFromAudit {
            seq: 3,
            challenge_id: denied.challenge_id.clone(),
            expected: AuditKind::ChallengeDenied,
        }]
    );

    // The server's own copy altered: the fraud report turned into an approval in its store.
    let tree = h.server_sled.audit.tree();
    let (key, mut event) = tree
        .iter()
        .map(|item| item.unwrap())
        .map(|(key, value)| (key, serde_json::from_slice::<nyckel_protocol::wire::audit::AuditEvent>(&value).unwrap()))
        .find(|(_, event)| event.kind == AuditKind::FraudReported)
        .unwrap();
    event.kind = AuditKind::ChallengeApproved;
    tree.insert(key, serde_json::to_vec(&event).unwrap()).unwrap();
    let check = h.phone.check_history(&registration.id).await.unwrap();
    assert!(!check.agrees());
    assert!(check.disagreements.contains(&AuditDisagreement::MissingFromAudit {
        seq: 4,
        challenge_id: fraud.challenge_id.clone(),
        expected: AuditKind::FraudReported,
    }));
    assert!(check.disagreements.iter().any(|d| matches!(d,
        AuditDisagreement::MissingFromHistory { kind: AuditKind::ChallengeApproved, challenge_id: Some(c), .. }
            if *c == fraud.challenge_id)));
    assert!(check.findings.is_empty());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
