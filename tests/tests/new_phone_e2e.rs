//! End to end over HTTP: a new phone added by a registered phone's approval, two phone cores
//! against the real server (PROTOCOL.md §6.5) — approval, denial, expiry, an attacker who knows
//! only the user name, another tenant's user, and retiring from either phone.
//! Nothing sleeps: long polls are asked with `wait=0`, time moves through the injected clocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nyckel_core::registration::RegistrationError;
use nyckel_core::{
    ApprovalError, Clock, Companion, CompanionError, CompanionSettings, DeviceEnrollmentProgress, DeviceKeyStore,
    MemoryKeyStore, RegistrationSummary, Vault, VaultDeviceKeyStore, VaultKey,
};
use nyckel_protocol::enrollment::EnrollmentStarted;
use nyckel_protocol::qr::EnrollQr;
use nyckel_protocol::{ChallengeState, EnrollmentId, EnrollmentToken, ErrorCode, PinKdf};
use nyckel_server::{ManualClock, Server, ServerConfig};

const OLD_PIN: &str = "4711";
const NEW_PIN: &str = "2580";

struct PhoneClock(AtomicU64);

impl Clock for PhoneClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Harness {
    dir: tempfile::TempDir,
    url: String,
    /// Relying-party keys of tenant `acme` and tenant `globex`.
    rp_keys: [String; 2],
    server_clock: Arc<ManualClock>,
    phone_clock: Arc<PhoneClock>,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Harness {
    /// A server with `alice` in two tenants.
    async fn start() -> Harness {
        nyckel_core::server_api::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        let mut rp_keys = Vec::new();
        for (tenant, organisation) in [("acme", "Acme Trade"), ("globex", "Globex")] {
            nyckel_server::admin::add_tenant(&data, tenant, organisation).unwrap();
            nyckel_server::admin::add_user(&data, tenant, "alice").unwrap();
            rp_keys.push(nyckel_server::admin::add_relying_party(&data, tenant, "portal").unwrap().to_string());
        }
        let kek_file = dir.path().join("kek");
        nyckel_server::secrets::Kek::create_file(&kek_file, &data).unwrap();
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
        let server = tokio::spawn(async move {
            let _ = server.run().await;
        });
        Harness {
            dir,
            url,
            rp_keys: [rp_keys[0].clone(), rp_keys[1].clone()],
            server_clock,
            phone_clock: Arc::new(PhoneClock(AtomicU64::new(start))),
            http: reqwest::Client::new(),
            server,
        }
    }

    /// A phone core with a vault of its own.
    fn phone(&self, name: &str, platform: &str) -> Arc<Companion> {
        let store = MemoryKeyStore::new(VaultKey::generate().unwrap());
        let vault = Arc::new(Vault::create(&self.dir.path().join(name), &store).unwrap());
        let keys: Arc<dyn DeviceKeyStore> = Arc::new(VaultDeviceKeyStore::new(vault.clone()));
        let settings =
            CompanionSettings { pin_kdf: PinKdf::Pbkdf2Sha256 { iterations: 1000 }, platform: platform.into() };
        Arc::new(Companion::new(vault, keys, self.phone_clock.clone(), settings).unwrap())
    }

    fn advance(&self, seconds: u64) {
        self.server_clock.advance(seconds);
        self.phone_clock.0.fetch_add(seconds, Ordering::SeqCst);
    }

    async fn rp(
        &self,
        tenant: usize,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.rp_keys[tenant]);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Registers `phone` for alice of a tenant through a relying party's code.
    async fn register(&self, tenant: usize, phone: &Companion) -> RegistrationSummary {
        let body = serde_json::json!({"user": "alice", "device_name": "Old phone"});
        let started: EnrollmentStarted =
            serde_json::from_value(self.rp(tenant, reqwest::Method::POST, "/v1/enrollments", Some(body)).await)
                .unwrap();
        phone.register(&started.qr, OLD_PIN).await.unwrap()
    }

    async fn devices(&self, tenant: usize) -> Vec<String> {
        let list = self.rp(tenant, reqwest::Method::GET, "/v1/users/alice/devices", None).await;
        list["devices"].as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap().to_owned()).collect()
    }
}

fn code_of(error: &CompanionError) -> Option<ErrorCode> {
    match error {
        CompanionError::Server(server) => server.code(),
        _ => None,
    }
}

/// The old phone approves the new phone's request: compares the fingerprint, types the number.
async fn approve_new_phone(
    old: &Companion,
    registration: &RegistrationSummary,
    fingerprint: &str,
    number: &str,
) -> ChallengeState {
    let outcome = old.poll_once(&registration.id, 0).await.unwrap();
    assert_eq!(outcome.new.len(), 1, "{:?}", outcome.rejected);
    let pending = &outcome.new[0];
    let details = pending.new_device.clone().expect("a new-device request");
    assert_eq!((details.name.as_str(), details.platform.as_str()), ("New phone", "Android 15"));
    assert_eq!(details.fingerprint, fingerprint);
    assert_eq!(old.pending_new_device(&registration.id, &pending.challenge_id).unwrap(), Some(details));
    old.approve(&registration.id, &pending.challenge_id, OLD_PIN, Some(number)).await.unwrap()
}

#[tokio::test]
async fn a_new_phone_is_added_by_approval_and_either_phone_retires_the_other() {
    let h = Harness::start().await;
    let (old, new) = (h.phone("old", "iOS 18"), h.phone("new", "Android 15"));
    let old_registration = h.register(0, &old).await;

    let code = old.add_phone_code(&old_registration.id, "New phone").await.unwrap();
    let asked = new.request_device_enrollment(&code.qr, NEW_PIN).await.unwrap();
    assert_eq!(asked.devices, 1);
    let waiting = new.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap();
    assert!(matches!(waiting, DeviceEnrollmentProgress::AwaitingApproval { .. }), "{waiting:?}");
    assert!(new.registrations().unwrap().is_empty());

    let state = approve_new_phone(&old, &old_registration, &asked.fingerprint, &asked.number).await;
    assert_eq!(state, ChallengeState::Approved);
    let DeviceEnrollmentProgress::Registered(new_registration) =
        new.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap()
    else {
        panic!("not registered")
    };
    let new_registration = *new_registration;
    // Its own registration: its own device, the fingerprint both phones showed, the same
    // user and organisation (signed by the server), the server key pinned from the code.
    assert_ne!(new_registration.device_id, old_registration.device_id);
    assert_eq!(new_registration.device_fingerprint, asked.fingerprint);
    assert_eq!((new_registration.user.as_str(), new_registration.organisation.as_str()), ("alice", "Acme Trade"));
    assert_eq!(new_registration.server_key_id, old_registration.server_key_id);
    assert_eq!(h.devices(0).await.len(), 2);

    // Its own PIN answers pushes; the old phone's PIN does not.
    let body = serde_json::json!({"user": "alice", "context": {"service": "Trade portal", "action": "Sign in"},
        "number_matching": "none"});
    h.rp(0, reqwest::Method::POST, "/v1/challenges/push", Some(body.clone())).await;
    let pending = new.poll_once(&new_registration.id, 0).await.unwrap().new.remove(0);
    assert_eq!(pending.new_device, None);
    let wrong = new.approve(&new_registration.id, &pending.challenge_id, OLD_PIN, None).await.unwrap_err();
    assert!(matches!(wrong, CompanionError::Approval(ApprovalError::WrongPin { .. })), "{wrong}");
    let right = new.approve(&new_registration.id, &pending.challenge_id, NEW_PIN, None).await.unwrap();
    assert_eq!(right, ChallengeState::Approved);

    // Both see both devices.
    for (phone, registration) in [(&old, &old_registration), (&new, &new_registration)] {
        assert_eq!(phone.user_devices(&registration.id).await.unwrap().len(), 2);
    }

    // The new phone retires the old one; a wrong PIN is refused and counted first.
    let wrong = new.retire_device(&new_registration.id, &old_registration.device_id, OLD_PIN).await.unwrap_err();
    assert!(matches!(wrong, CompanionError::Approval(ApprovalError::WrongPin { attempts_left: 4 })), "{wrong}");
    h.rp(0, reqwest::Method::POST, "/v1/challenges/push", Some(body.clone())).await;
    let stale = old.poll_once(&old_registration.id, 0).await.unwrap().new.remove(0);
    new.retire_device(&new_registration.id, &old_registration.device_id, NEW_PIN).await.unwrap();
    assert_eq!(h.devices(0).await, vec![new_registration.device_id.to_string()]);
    // The retired phone can no longer answer nor poll.
    let refused = old.approve(&old_registration.id, &stale.challenge_id, OLD_PIN, None).await.unwrap_err();
    assert_eq!(code_of(&refused), Some(ErrorCode::UnknownDevice), "{refused}");
    let refused = old.poll_once(&old_registration.id, 0).await.unwrap_err();
    assert_eq!(code_of(&refused), Some(ErrorCode::UnknownDevice), "{refused}");
    old.forget_registration(&old_registration.id).unwrap();

    // The other way round: the remaining phone adds the old one back, which then retires it.
    let code = new.add_phone_code(&new_registration.id, "New phone").await.unwrap();
    let old = h.phone("old-again", "Android 15");
    let asked = old.request_device_enrollment(&code.qr, OLD_PIN).await.unwrap();
    assert_eq!(approve_new(&new, &new_registration, NEW_PIN, &asked.number).await, ChallengeState::Approved);
    let DeviceEnrollmentProgress::Registered(again) =
        old.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap()
    else {
        panic!("not registered")
    };
    let again = *again;
    old.retire_device(&again.id, &new_registration.device_id, OLD_PIN).await.unwrap();
    assert_eq!(h.devices(0).await, vec![again.device_id.to_string()]);
    // And a phone retires itself: gone at the server and from the phone.
    old.retire_device(&again.id, &again.device_id, "").await.unwrap();
    assert!(h.devices(0).await.is_empty());
    assert!(old.registrations().unwrap().is_empty());
}

/// Approves the one pending new-device request of `phone` with `pin` and `number`.
async fn approve_new(phone: &Companion, registration: &RegistrationSummary, pin: &str, number: &str) -> ChallengeState {
    let outcome = phone.poll_once(&registration.id, 0).await.unwrap();
    let pending = outcome.new.into_iter().find(|p| p.new_device.is_some()).expect("a new-device request");
    phone.approve(&registration.id, &pending.challenge_id, pin, Some(number)).await.unwrap()
}

#[tokio::test]
async fn a_denied_or_unanswered_request_is_refused_with_a_typed_error() {
    let h = Harness::start().await;
    let (old, new) = (h.phone("old", "iOS 18"), h.phone("new", "Android 15"));
    let old_registration = h.register(0, &old).await;

    let code = old.add_phone_code(&old_registration.id, "New phone").await.unwrap();
    let asked = new.request_device_enrollment(&code.qr, NEW_PIN).await.unwrap();
    let pending = old.poll_once(&old_registration.id, 0).await.unwrap().new.remove(0);
    assert_eq!(old.deny(&old_registration.id, &pending.challenge_id).await.unwrap(), ChallengeState::Denied);
    let denied = new.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap_err();
    assert!(matches!(denied, CompanionError::Registration(RegistrationError::Denied)), "{denied}");
    // Nothing is stored, and the request is gone.
    assert!(new.registrations().unwrap().is_empty());
    let gone = new.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap_err();
    assert!(matches!(gone, CompanionError::Registration(RegistrationError::UnknownEnrollment(_))), "{gone}");

    // Nobody answers in time.
    let code = old.add_phone_code(&old_registration.id, "New phone").await.unwrap();
    let asked = new.request_device_enrollment(&code.qr, NEW_PIN).await.unwrap();
    h.advance(121);
    let expired = new.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap_err();
    assert!(matches!(expired, CompanionError::Registration(RegistrationError::ApprovalExpired)), "{expired}");
    assert_eq!(h.devices(0).await, vec![old_registration.device_id.to_string()]);
}

#[tokio::test]
async fn an_attacker_who_knows_only_the_user_name_cannot_get_registered() {
    let h = Harness::start().await;
    let (old, attacker) = (h.phone("old", "iOS 18"), h.phone("attacker", "Android 15"));
    let old_registration = h.register(0, &old).await;
    let server_key = old.registration(&old_registration.id).unwrap().server_key;

    // An add-a-phone code made up for alice on the real server (its key is public): unknown.
    let forged = EnrollQr {
        server_url: h.url.clone(),
        enrollment_id: EnrollmentId::random().unwrap(),
        token: EnrollmentToken::random().unwrap(),
        server_key,
        label: Some("alice".into()),
    };
    let refused = attacker.request_device_enrollment(&forged.to_uri(), NEW_PIN).await.unwrap_err();
    assert_eq!(code_of(&refused), Some(ErrorCode::NotFound), "{refused}");
    // No push reached the user.
    assert!(old.poll_once(&old_registration.id, 0).await.unwrap().new.is_empty());

    // Even with the real code (read off the old phone's screen), nothing happens without the
    // old phone's approval, which shows the attacker's fingerprint, not the user's new phone's.
    let code = old.add_phone_code(&old_registration.id, "New phone").await.unwrap();
    let asked = attacker.request_device_enrollment(&code.qr, NEW_PIN).await.unwrap();
    for _ in 0..3 {
        let waiting = attacker.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap();
        assert!(matches!(waiting, DeviceEnrollmentProgress::AwaitingApproval { .. }));
    }
    let pending = old.poll_once(&old_registration.id, 0).await.unwrap().new.remove(0);
    assert_eq!(pending.new_device.unwrap().fingerprint, asked.fingerprint);
    old.report_fraud(&old_registration.id, &pending.challenge_id).await.unwrap();
    let denied = attacker.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap_err();
    assert!(matches!(denied, CompanionError::Registration(RegistrationError::Denied)), "{denied}");
    assert!(attacker.registrations().unwrap().is_empty());
    assert_eq!(h.devices(0).await, vec![old_registration.device_id.to_string()]);
}

#[tokio::test]
async fn another_tenants_user_cannot_be_targeted() {
    let h = Harness::start().await;
    let (old, stranger, new) = (h.phone("old", "iOS 18"), h.phone("stranger", "iOS 18"), h.phone("new", "Android 15"));
    let old_registration = h.register(0, &old).await;
    // alice of the other tenant, with a phone of her own.
    let stranger_registration = h.register(1, &stranger).await;

    // Her device cannot see or retire alice@acme's.
    let listed = stranger.user_devices(&stranger_registration.id).await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.device_id.clone()).collect::<Vec<_>>(),
        vec![stranger_registration.device_id.clone()]
    );
    let refused =
        stranger.retire_device(&stranger_registration.id, &old_registration.device_id, OLD_PIN).await.unwrap_err();
    assert_eq!(code_of(&refused), Some(ErrorCode::NotFound), "{refused}");
    assert_eq!(h.devices(0).await, vec![old_registration.device_id.to_string()]);

    // Her add-a-phone code asks only her own devices: alice@acme's phone gets nothing, and the
    // new phone ends up in her tenant.
    let code = stranger.add_phone_code(&stranger_registration.id, "New phone").await.unwrap();
    let asked = new.request_device_enrollment(&code.qr, NEW_PIN).await.unwrap();
    assert_eq!(asked.devices, 1);
    assert!(old.poll_once(&old_registration.id, 0).await.unwrap().new.is_empty());
    assert_eq!(approve_new(&stranger, &stranger_registration, OLD_PIN, &asked.number).await, ChallengeState::Approved);
    let DeviceEnrollmentProgress::Registered(added) =
        new.wait_device_enrollment(&asked.enrollment_id, 0).await.unwrap()
    else {
        panic!("not registered")
    };
    let added = *added;
    assert_eq!(added.organisation, "Globex");
    assert_eq!(h.devices(0).await.len(), 1);
    assert_eq!(h.devices(1).await.len(), 2);
}
