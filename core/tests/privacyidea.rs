//! The privacyIDEA push provider against a real privacyIDEA 3.14 started by
//! scripts/privacyidea/start.sh (its `export` lines give NYCKEL_PRIVACYIDEA_URL and the admin
//! login). The admin API plays the login page (relying party); the core plays the phone.
//! Without the server these tests say so loudly and pass, unless
//! NYCKEL_PRIVACYIDEA_REQUIRED=1 (scripts/test.sh sets it) makes a missing server a failure.

use std::time::{SystemTime, UNIX_EPOCH};

use data_encoding::BASE32;
use nyckel_core::device_keys::{MemoryRsaKeyStore, RsaKeyStore};
use nyckel_core::privacyidea::http::RawResponse;
use nyckel_core::privacyidea::push::{self, answer_text, parse_poll, PushToken};
use nyckel_core::privacyidea::{
    parse_push_code, DeclineReason, LocalPinGate, PiHttp, PushAnswer, PushDecision, PushError, PushInbox, PushOutcome,
};
use nyckel_test_support::privacyidea::PiAdmin;
use serde_json::Value;

/// The admin API of the live privacyIDEA (the login page's side).
type Pi = PiAdmin;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The live server's admin session (reqwest needs the crypto provider first), or `None`
/// when there is no server and none is required.
async fn connect() -> Option<Pi> {
    nyckel_core::server_api::install_crypto_provider();
    PiAdmin::connect().await
}

/// Enrolls a push token for `user`; its QR code content.
async fn init_push(pi: &Pi, user: &str) -> String {
    pi.init("push", user, "pushurl").await.1
}

/// A phone with one push token.
struct Phone {
    http: PiHttp,
    keys: MemoryRsaKeyStore,
    token: PushToken,
    inbox: PushInbox,
}

async fn enrolled_phone(pi: &Pi, user: &str) -> Phone {
    let code = parse_push_code(&init_push(pi, user).await).unwrap();
    assert!(code.poll_only, "the enrollment policy makes push tokens poll-only");
    let http = PiHttp::new().unwrap();
    let keys = MemoryRsaKeyStore::new(2048);
    let token = push::enroll(&http, &code, &keys, "push-key", now()).await.unwrap();
    assert_eq!(token.serial, code.serial);
    let info = pi.get("/token/", &[("serial", &token.serial)]).await;
    assert_eq!(info["result"]["value"]["tokens"][0]["rollout_state"], "enrolled", "{info}");
    Phone { http, keys, token, inbox: PushInbox::default() }
}

impl Phone {
    async fn poll(&mut self, at: u64) -> push::PushPoll {
        push::poll(&self.http, &self.token, &self.keys, &mut self.inbox, at).await.unwrap()
    }

    async fn answer(&mut self, nonce: &str, answer: PushAnswer, at: u64) -> Result<PushOutcome, PushError> {
        push::answer(&self.http, &self.token, &self.keys, &mut self.inbox, nonce, &answer, None, at).await
    }

    async fn answer_gated(
        &mut self,
        nonce: &str,
        gate: &mut LocalPinGate,
        pin: &str,
    ) -> Result<PushOutcome, PushError> {
        let (http, token, keys, inbox) = (&self.http, &self.token, &self.keys, &mut self.inbox);
        push::answer(http, token, keys, inbox, nonce, &accept(), Some((gate, pin)), now()).await
    }

    /// The raw poll response, to tamper with.
    async fn raw_poll(&self) -> RawResponse {
        let timestamp = push::iso_timestamp(now());
        let signed = format!("{}|{timestamp}", self.token.serial);
        let signature = BASE32.encode(&self.keys.sign_rsa_sha256("push-key".into(), signed.into_bytes()).unwrap());
        let query = [("serial", self.token.serial.as_str()), ("timestamp", &timestamp), ("signature", &signature)];
        self.http.get(&self.token.url, &query).await.unwrap()
    }
}

fn accept() -> PushAnswer {
    PushAnswer { decision: PushDecision::Accept, presence_answer: None }
}

#[tokio::test]
async fn enroll_poll_accept_then_replay_is_refused() {
    let Some(pi) = connect().await else { return };
    let mut phone = enrolled_phone(&pi, "alice").await;
    assert!(phone.poll(now()).await.challenges.is_empty());

    let (transaction, _) = pi.trigger("alice", &phone.token.serial).await;
    let poll = phone.poll(now()).await;
    assert_eq!(poll.challenges.len(), 1, "{poll:?}");
    let challenge = &poll.challenges[0];
    assert_eq!(challenge.question, "Do you want to confirm the login?");
    assert!(challenge.decline_reasons, "3.14 advertises decline_reason, signed");
    assert_eq!(pi.status(&transaction).await, "pending");

    let nonce = challenge.nonce.clone();
    assert_eq!(phone.answer(&nonce, accept(), now()).await, Ok(PushOutcome::Accepted));
    assert_eq!(pi.status(&transaction).await, "accept");

    // The phone refuses to answer again; the server refuses the same signed bytes too.
    assert!(matches!(phone.answer(&nonce, accept(), now()).await, Err(PushError::AlreadyAnswered { .. })));
    let signature = BASE32.encode(
        &phone
            .keys
            .sign_rsa_sha256(
                "push-key".into(),
                answer_text(&phone.token.serial, &nonce, PushDecision::Accept, None).into_bytes(),
            )
            .unwrap(),
    );
    let replay = phone
        .http
        .post_form(&phone.token.url, &[("serial", &phone.token.serial), ("nonce", &nonce), ("signature", &signature)])
        .await
        .unwrap();
    assert_eq!(nyckel_core::privacyidea::http::envelope(&replay).unwrap().value, Value::Bool(false));
    assert!(phone.poll(now()).await.challenges.is_empty(), "an answered challenge is not listed again");
    assert_eq!(pi.finalize("alice", &transaction, "").await, "ACCEPT");
}

#[tokio::test]
async fn decline_with_reason_reaches_the_login_page() {
    let Some(pi) = connect().await else { return };
    let mut phone = enrolled_phone(&pi, "bob").await;
    for (reason, status) in [(DeclineReason::UnknownTrigger, "declined"), (DeclineReason::Cancelled, "cancelled")] {
        let (transaction, _) = pi.trigger("bob", &phone.token.serial).await;
        let poll = phone.poll(now()).await;
        let nonce = poll.challenges[0].nonce.clone();
        let decline = PushAnswer { decision: PushDecision::Decline(Some(reason)), presence_answer: None };
        assert_eq!(phone.answer(&nonce, decline, now()).await, Ok(PushOutcome::Declined));
        assert_eq!(pi.status(&transaction).await, status);
        assert_eq!(pi.finalize("bob", &transaction, "").await, "REJECT");
    }
}

#[tokio::test]
async fn presence_right_choice_logs_in_and_a_wrong_one_cannot_be_retried() {
    let Some(pi) = connect().await else { return };
    let mut phone = enrolled_phone(&pi, "carol").await;

    // Wrong choice: the server says no, and the phone will not let the user try another.
    let (transaction, shown) = pi.trigger("carol", &phone.token.serial).await;
    let right = shown["presence_answer"].as_str().unwrap_or_else(|| panic!("no presence_answer: {shown}")).to_owned();
    let poll = phone.poll(now()).await;
    let challenge = &poll.challenges[0];
    let options = challenge.presence_options.clone().expect("number matching is on for carol");
    assert_eq!(options.len(), 4);
    assert!(options.contains(&right));
    let wrong = options.iter().find(|option| **option != right).unwrap().clone();
    let nonce = challenge.nonce.clone();
    let pick = |choice: &str| PushAnswer { decision: PushDecision::Accept, presence_answer: Some(choice.to_owned()) };
    assert_eq!(phone.answer(&nonce, pick(&wrong), now()).await, Err(PushError::AnswerRejected));
    assert_eq!(pi.status(&transaction).await, "pending");
    assert!(matches!(phone.answer(&nonce, pick(&right), now()).await, Err(PushError::AlreadyAnswered { .. })));
    assert!(matches!(phone.answer(&nonce, accept(), now()).await, Err(PushError::AlreadyAnswered { .. })));

    // Right choice.
    let (transaction, shown) = pi.trigger("carol", &phone.token.serial).await;
    let right = shown["presence_answer"].as_str().unwrap().to_owned();
    let poll = phone.poll(now()).await;
    let nonce = poll.challenges.iter().find(|c| c.nonce != nonce).expect("the new challenge").nonce.clone();
    assert!(matches!(phone.answer(&nonce, accept(), now()).await, Err(PushError::Presence { .. })));
    assert_eq!(phone.answer(&nonce, pick(&right), now()).await, Ok(PushOutcome::Accepted));
    assert_eq!(pi.status(&transaction).await, "accept");
    assert_eq!(pi.finalize("carol", &transaction, "").await, "ACCEPT");
}

#[tokio::test]
async fn an_expired_challenge_is_refused_on_the_phone() {
    let Some(pi) = connect().await else { return };
    let mut phone = enrolled_phone(&pi, "frank").await;
    let (transaction, _) = pi.trigger("frank", &phone.token.serial).await;
    let seen_at = now();
    let poll = phone.poll(seen_at).await;
    let nonce = poll.challenges[0].nonce.clone();
    assert_eq!(poll.challenges[0].expires_at, seen_at + 120);
    // Two minutes later on the phone's clock: refused without a request...
    let late = seen_at + 121;
    assert!(matches!(phone.answer(&nonce, accept(), late).await, Err(PushError::Expired { .. })));
    assert_eq!(pi.status(&transaction).await, "pending", "nothing reached the server");
    // ...and a poll at that time lists it as expired, not as answerable.
    let later_poll = push::poll(&phone.http, &phone.token, &phone.keys, &mut phone.inbox, late).await;
    // The server refuses a poll timestamp two minutes off (±60 s), which is fine too.
    match later_poll {
        Ok(poll) => assert!(poll.challenges.is_empty() && matches!(poll.rejected[..], [PushError::Expired { .. }])),
        Err(error) => assert!(matches!(error, PushError::Server { code: Some(10), .. }), "{error:?}"),
    }
    // The refusal was the phone's: the server would still have taken it.
    assert_eq!(phone.answer(&nonce, accept(), seen_at + 1).await, Ok(PushOutcome::Accepted));
}

#[tokio::test]
async fn code_to_phone_shows_the_code_to_type() {
    let Some(pi) = connect().await else { return };
    let mut phone = enrolled_phone(&pi, "dave").await;
    let (transaction, shown) = pi.trigger("dave", &phone.token.serial).await;
    assert_eq!(shown["client_mode"], "interactive", "{shown}");
    let nonce = phone.poll(now()).await.challenges[0].nonce.clone();
    let Ok(PushOutcome::Confirmed { display_code, .. }) = phone.answer(&nonce, accept(), now()).await else {
        panic!("code-to-phone answer")
    };
    assert_eq!(pi.finalize("dave", &transaction, &display_code).await, "ACCEPT");
}

#[tokio::test]
async fn the_app_pin_policy_is_a_local_gate() {
    let Some(pi) = connect().await else { return };
    let mut phone = enrolled_phone(&pi, "erin").await;
    assert!(phone.token.app_pin, "erin's enrollment policy asks for the app PIN");
    let (transaction, _) = pi.trigger("erin", &phone.token.serial).await;
    let nonce = phone.poll(now()).await.challenges[0].nonce.clone();
    assert_eq!(phone.answer(&nonce, accept(), now()).await, Err(PushError::PinRequired));
    let mut gate = LocalPinGate::new("2468").unwrap();
    let result = phone.answer_gated(&nonce, &mut gate, "1357").await;
    assert!(matches!(result, Err(PushError::Pin(_))));
    assert_eq!(pi.status(&transaction).await, "pending");
    assert_eq!(phone.answer_gated(&nonce, &mut gate, "2468").await, Ok(PushOutcome::Accepted));
    assert_eq!(pi.status(&transaction).await, "accept");
}

#[tokio::test]
async fn tampered_server_messages_change_nothing() {
    let Some(pi) = connect().await else { return };
    let mut phone = enrolled_phone(&pi, "alice").await;
    let (transaction, _) = pi.trigger("alice", &phone.token.serial).await;
    let genuine = phone.raw_poll().await;
    let mut body: Value = serde_json::from_slice(&genuine.body).unwrap();
    let entry = body["result"]["value"][0].clone();
    assert!(entry.is_object(), "{body}");
    let mut tampered = Vec::new();
    for (field, value) in [
        ("question", Value::from("Pay 1000 EUR?")),
        ("serial", Value::from("PIPU00000000")),
        ("title", Value::from("x".repeat(10_000))),
        ("require_presence", Value::from("11,22")),
        ("capabilities", Value::from("{\"decline_reason\": false}")),
        ("signature", Value::from("AAAA")),
    ] {
        let mut changed = entry.clone();
        changed[field] = value;
        tampered.push(changed);
    }
    body["result"]["value"] = Value::Array(tampered);
    let response = RawResponse { status: 200, body: serde_json::to_vec(&body).unwrap() };
    let parsed = parse_poll(&phone.token, &response).unwrap();
    assert!(parsed.iter().all(Result::is_err), "{parsed:?}");
    assert!(matches!(parsed[2], Err(PushError::TooLarge { .. })));
    // A poll signed by another key is refused by the server.
    let stranger = MemoryRsaKeyStore::new(2048);
    stranger.create_rsa_key("push-key".into()).unwrap();
    let result = push::poll(&phone.http, &phone.token, &stranger, &mut phone.inbox, now()).await;
    assert!(matches!(result, Err(PushError::Server { status: 400, code: Some(10), .. })), "{result:?}");
    // None of it changed anything: the genuine challenge is still there and answerable.
    assert_eq!(pi.status(&transaction).await, "pending");
    let nonce = phone.poll(now()).await.challenges[0].nonce.clone();
    assert_eq!(phone.answer(&nonce, accept(), now()).await, Ok(PushOutcome::Accepted));
}

mod tiqr {
    use nyckel_core::privacyidea::tiqr::{self, parse_auth_code};
    use nyckel_core::privacyidea::TiqrError;

    use super::*;

    const PIN: &str = "2468";

    #[tokio::test]
    async fn enroll_login_wrong_pin_counted_and_replay_refused() {
        let Some(pi) = connect().await else { return };
        let init = pi.post("/token/init", &[("type", "tiqr"), ("user", "gina"), ("realm", "realm1")]).await;
        let code = init["detail"]["tiqrenroll"]["value"].as_str().unwrap_or_else(|| panic!("{init}")).to_owned();
        let serial = init["detail"]["serial"].as_str().unwrap().to_owned();
        let http = PiHttp::new().unwrap();
        let metadata = tiqr::fetch_metadata(&http, &code).await.unwrap();
        assert_eq!(metadata.user_id, "gina_realm1");
        assert_eq!(metadata.user_name, "Gina Grey");
        assert_eq!(metadata.ocra_suite, "OCRA-1:HOTP-SHA1-6:QN10");
        let token = tiqr::enroll(&http, &metadata, PIN).await.unwrap();
        // The enrollment session is single-use.
        assert!(tiqr::enroll(&http, &metadata, PIN).await.is_err());

        let failcount = |info: Value| info["result"]["value"]["tokens"][0]["failcount"].as_i64().unwrap();
        let (transaction, shown) = pi.trigger("gina", &serial).await;
        let auth = parse_auth_code(shown["attributes"]["value"].as_str().unwrap_or_else(|| panic!("{shown}"))).unwrap();
        assert_eq!(auth.session_key, transaction);
        assert_eq!(auth.service_name, "privacyIDEA");

        // A wrong PIN: the phone cannot tell, the server counts it.
        assert_eq!(failcount(pi.get("/token/", &[("serial", &serial)]).await), 0);
        let result = tiqr::login(&http, &token, &auth, "1357", now()).await;
        assert_eq!(result, Err(TiqrError::WrongResponse { attempts_left: 9 }));
        assert_eq!(failcount(pi.get("/token/", &[("serial", &serial)]).await), 1);
        assert_eq!(pi.status(&transaction).await, "pending");

        // The right PIN logs in (the server resets the fail counter on success only at
        // /validate/check, so the count stays visible until then).
        tiqr::login(&http, &token, &auth, PIN, now()).await.unwrap();
        assert_eq!(pi.status(&transaction).await, "accept");
        assert_eq!(pi.finalize("gina", &transaction, "").await, "ACCEPT");
        // Replaying the login after it was used: no open challenge.
        assert_eq!(tiqr::login(&http, &token, &auth, PIN, now()).await, Err(TiqrError::InvalidChallenge));
    }

    #[tokio::test]
    async fn the_offline_response_is_the_one_the_server_checks() {
        let Some(pi) = connect().await else { return };
        let init = pi.post("/token/init", &[("type", "tiqr"), ("user", "hank"), ("realm", "realm1")]).await;
        let code = init["detail"]["tiqrenroll"]["value"].as_str().unwrap().to_owned();
        let serial = init["detail"]["serial"].as_str().unwrap().to_owned();
        let http = PiHttp::new().unwrap();
        let token = tiqr::enroll(&http, &tiqr::fetch_metadata(&http, &code).await.unwrap(), PIN).await.unwrap();
        let (transaction, shown) = pi.trigger("hank", &serial).await;
        let auth = parse_auth_code(shown["attributes"]["value"].as_str().unwrap()).unwrap();
        // Shown to type when the phone is offline; here relayed as the tiqr app would.
        let offline = token.response(&auth, PIN, now()).unwrap();
        assert_eq!(offline.len(), 6);
        let form = [
            ("sessionKey", auth.session_key.as_str()),
            ("userId", token.user_id.as_str()),
            ("response", offline.as_str()),
            ("operation", "login"),
        ];
        let answer = http.post_form(&token.authentication_url, &form).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&answer.body), "OK");
        assert_eq!(pi.finalize("hank", &transaction, "").await, "ACCEPT");
        // A login code for someone else is refused before anything is sent.
        let other =
            parse_auth_code(&format!("tiqrauth://gina_realm1@org.privacyidea/{}/0123456789/x", auth.session_key))
                .unwrap();
        assert!(matches!(tiqr::login(&http, &token, &other, PIN, now()).await, Err(TiqrError::OtherAccount { .. })));
    }
}

mod otp {
    use nyckel_core::{parse_otpauth, OtpKind};

    use super::*;

    async fn check(pi: &Pi, serial: &str, otp: &str) -> String {
        let body = pi.post("/validate/check", &[("serial", serial), ("pass", otp)]).await;
        body["result"]["authentication"].as_str().unwrap_or_else(|| panic!("check: {body}")).to_owned()
    }

    /// privacyIDEA's `googleurl` (with its `serial` and `creator` parameters) imports, and
    /// the codes made from it log in through `/validate/check`.
    #[tokio::test]
    async fn hotp_and_totp_enrolled_by_privacyidea_log_in() {
        let Some(pi) = connect().await else { return };
        for (kind, extra) in [("hotp", None), ("totp", Some(("hashlib", "sha256")))] {
            let mut form = vec![("type", kind), ("genkey", "1"), ("user", "ivan"), ("realm", "realm1")];
            form.extend(extra);
            let init = pi.post("/token/init", &form).await;
            let uri = init["detail"]["googleurl"]["value"].as_str().unwrap_or_else(|| panic!("{init}")).to_owned();
            assert!(uri.contains("creator=privacyidea") && uri.contains("&serial="), "{uri}");
            let serial = init["detail"]["serial"].as_str().unwrap().to_owned();
            let account = parse_otpauth(&uri).unwrap();
            assert_eq!(account.name, serial, "privacyIDEA labels tokens with their serial by default");
            let code = account.code_at(now()).unwrap().code;
            assert_eq!(check(&pi, &serial, &code).await, "ACCEPT", "{kind} {uri}");
            // The same code again is a replay, for both kinds.
            assert_eq!(check(&pi, &serial, &code).await, "REJECT");
            if let OtpKind::Hotp { counter } = account.params.kind {
                // The URL says counter=1 (privacyIDEA hard-codes it); the server's look-ahead
                // window takes it, and the next counter after that.
                assert_eq!(counter, 1);
                let mut next = account.clone();
                next.params.kind = OtpKind::Hotp { counter: counter + 1 };
                assert_eq!(check(&pi, &serial, &next.code_at(now()).unwrap().code).await, "ACCEPT");
            }
        }
    }
}

/// The same flows through the phone's one inbox ([`Companion`]): tokens stored in the vault,
/// requests listed beside Nyckel's with their provider and service, one answer path.
mod inbox {
    use std::sync::Arc;

    use nyckel_core::device_keys::RsaKeyStore;
    use nyckel_core::privacyidea::{PinGateError, TiqrError};
    use nyckel_core::vault::seal::VaultKey;
    use nyckel_core::{
        Companion, CompanionError, CompanionSettings, DeviceKeyStore, InboxItem, MemoryKeyStore, PinCheck, Provider,
        ProviderAnswer, ProviderOutcome, SystemClock, Vault, VaultDeviceKeyStore,
    };

    use super::*;

    struct Device {
        _dir: tempfile::TempDir,
        key: VaultKey,
        companion: Arc<Companion>,
    }

    fn companion_at(path: &std::path::Path, key: &VaultKey, create: bool) -> Arc<Companion> {
        let store = MemoryKeyStore::new(key.clone());
        let vault = Arc::new(if create { Vault::create(path, &store) } else { Vault::open(path, &store) }.unwrap());
        let keys: Arc<dyn DeviceKeyStore> = Arc::new(VaultDeviceKeyStore::new(vault.clone()));
        let companion =
            Companion::new(vault.clone(), keys, Arc::new(SystemClock), CompanionSettings::new("test")).unwrap();
        // Keys sealed in the vault (the desktop store), 2048 bits to keep the tests short.
        let rsa: Arc<dyn RsaKeyStore> = Arc::new(nyckel_core::device_keys::VaultRsaKeyStore::new(vault, 2048));
        companion.set_rsa_key_store(Some(rsa));
        Arc::new(companion)
    }

    impl Device {
        fn new() -> Device {
            let dir = tempfile::tempdir().unwrap();
            let key = VaultKey::generate().unwrap();
            let companion = companion_at(&dir.path().join("vault"), &key, true);
            Device { _dir: dir, key, companion }
        }

        /// The app restarted: the same vault opened again, nothing kept in memory.
        fn restart(&mut self) {
            let path = self._dir.path().join("vault");
            // sled releases its lock once the last handle is gone: a scratch vault stands in.
            let scratch = tempfile::tempdir().unwrap();
            let old = std::mem::replace(&mut self.companion, companion_at(scratch.path(), &self.key, true));
            drop(old);
            self.companion = companion_at(&path, &self.key, false);
        }

        fn provider_items(&self) -> Vec<nyckel_core::ProviderRequest> {
            self.companion
                .inbox()
                .unwrap()
                .into_iter()
                .filter_map(|item| match item {
                    InboxItem::Provider(request) => Some(request),
                    InboxItem::Nyckel(_) => None,
                })
                .collect()
        }
    }

    fn approve(pin: Option<&str>, choice: Option<&str>) -> ProviderAnswer {
        ProviderAnswer::Approve { pin: pin.map(str::to_owned), choice: choice.map(str::to_owned) }
    }

    #[tokio::test]
    async fn push_tokens_persist_and_answer_through_the_inbox() {
        let Some(pi) = connect().await else { return };
        let mut device = Device::new();
        let token = device.companion.enroll_push_token(&init_push(&pi, "alice").await, None).await.unwrap();
        assert_eq!(token.provider, Provider::PrivacyIdea);
        assert_eq!(token.pin, PinCheck::None);
        assert!(token.server_host.starts_with("127.0.0.1:"));
        // Stored: a restart still has it, with its RSA key and the server's key.
        device.restart();
        assert_eq!(device.companion.provider_tokens().unwrap(), vec![token.clone()]);

        let (transaction, _) = pi.trigger("alice", &token.serial).await;
        let poll = device.companion.poll_provider_token(&token.id).await.unwrap();
        assert_eq!(poll.new.len(), 1, "{poll:?}");
        let items = device.provider_items();
        assert_eq!(items.len(), 1);
        let item = &items[0];
        assert_eq!((item.provider, item.service.as_str()), (Provider::PrivacyIdea, "privacyIDEA"));
        assert_eq!(item.server_host, token.server_host);
        assert_eq!(item.question, "Do you want to confirm the login?");
        let outcome = device.companion.answer_provider(&token.id, &item.request_id, approve(None, None)).await;
        assert_eq!(outcome.unwrap(), ProviderOutcome::Approved);
        assert_eq!(pi.status(&transaction).await, "accept");
        assert!(device.provider_items().is_empty());

        // After a restart the answered challenge is remembered: never offered again.
        device.restart();
        assert!(device.companion.poll_provider_token(&token.id).await.unwrap().new.is_empty());

        // Decline with a reason.
        let (transaction, _) = pi.trigger("alice", &token.serial).await;
        let request = device.companion.poll_provider_token(&token.id).await.unwrap().new.remove(0);
        let decline = ProviderAnswer::Decline { reason: Some(DeclineReason::UnknownTrigger) };
        let outcome = device.companion.answer_provider(&token.id, &request.request_id, decline).await;
        assert_eq!(outcome.unwrap(), ProviderOutcome::Declined);
        assert_eq!(pi.status(&transaction).await, "declined");

        // Forgetting the token removes it and its key.
        assert!(device.companion.remove_provider_token(&token.id).unwrap());
        assert!(device.companion.provider_tokens().unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_local_gate_counts_wrong_pins_across_restarts_and_number_matching_refuses_a_wrong_pick() {
        let Some(pi) = connect().await else { return };
        let mut device = Device::new();
        let code = init_push(&pi, "erin").await;
        // The policy asks for the app PIN: none given, nothing is sent.
        let refused = device.companion.enroll_push_token(&code, None).await;
        assert!(matches!(refused, Err(CompanionError::Push(PushError::PinRequired))), "{refused:?}");
        let token = device.companion.enroll_push_token(&code, Some("2468")).await.unwrap();
        assert_eq!(token.pin, PinCheck::LocalGate);

        let (transaction, _) = pi.trigger("erin", &token.serial).await;
        let request = device.companion.poll_provider_token(&token.id).await.unwrap().new.remove(0);
        assert_eq!(request.pin, PinCheck::LocalGate);
        let wrong = device.companion.answer_provider(&token.id, &request.request_id, approve(Some("1357"), None)).await;
        assert!(matches!(
            wrong,
            Err(CompanionError::Push(PushError::Pin(PinGateError::WrongPin { attempts_left: 4 })))
        ));
        device.restart();
        // The count survived the restart; the request comes back with the next poll.
        let request = device.companion.poll_provider_token(&token.id).await.unwrap().new.remove(0);
        let wrong = device.companion.answer_provider(&token.id, &request.request_id, approve(Some("0000"), None)).await;
        assert!(matches!(
            wrong,
            Err(CompanionError::Push(PushError::Pin(PinGateError::WrongPin { attempts_left: 3 })))
        ));
        assert_eq!(pi.status(&transaction).await, "pending", "a wrong local PIN sends nothing");
        let right = device.companion.answer_provider(&token.id, &request.request_id, approve(Some("2468"), None)).await;
        assert_eq!(right.unwrap(), ProviderOutcome::Approved);
        assert_eq!(pi.status(&transaction).await, "accept");

        // Number matching (carol): a wrong pick is refused by the server and not retried.
        let token = device.companion.enroll_push_token(&init_push(&pi, "carol").await, None).await.unwrap();
        let (transaction, shown) = pi.trigger("carol", &token.serial).await;
        let right = shown["presence_answer"].as_str().unwrap().to_owned();
        let request = device.companion.poll_provider_token(&token.id).await.unwrap().new.remove(0);
        let options = request.presence_options.clone().unwrap();
        let wrong = options.iter().find(|option| **option != right).unwrap();
        let result = device.companion.answer_provider(&token.id, &request.request_id, approve(None, Some(wrong))).await;
        assert!(matches!(result, Err(CompanionError::Push(PushError::AnswerRejected))), "{result:?}");
        assert_eq!(pi.status(&transaction).await, "pending");
        let again = device.companion.answer_provider(&token.id, &request.request_id, approve(None, Some(&right))).await;
        assert!(again.is_err(), "the request left the inbox with the server's refusal");
        // privacyIDEA still lists the challenge (a wrong number leaves it open there); only the
        // phone's stored memory keeps it from being offered again after a restart.
        device.restart();
        let poll = device.companion.poll_provider_token(&token.id).await.unwrap();
        assert!(poll.new.iter().all(|new| new.request_id != request.request_id), "{poll:?}");
        assert!(device.provider_items().is_empty());
    }

    #[tokio::test]
    async fn tiqr_login_codes_become_inbox_items_and_wrong_pins_are_counted_by_the_server() {
        let Some(pi) = connect().await else { return };
        let mut device = Device::new();
        let init = pi.post("/token/init", &[("type", "tiqr"), ("user", "ivan"), ("realm", "realm1")]).await;
        let code = init["detail"]["tiqrenroll"]["value"].as_str().unwrap().to_owned();
        let serial = init["detail"]["serial"].as_str().unwrap().to_owned();
        let token = device.companion.enroll_tiqr_token(&code, "2468").await.unwrap();
        assert_eq!((token.provider, token.pin), (Provider::Tiqr, PinCheck::Server));
        device.restart();

        let (transaction, shown) = pi.trigger("ivan", &serial).await;
        let login = shown["attributes"]["value"].as_str().unwrap().to_owned();
        let request = device.companion.scan_login_code(&login).unwrap();
        assert_eq!((request.provider, request.service.as_str()), (Provider::Tiqr, "privacyIDEA"));
        assert_eq!(device.provider_items(), vec![request.clone()]);
        let failcount = |info: Value| info["result"]["value"]["tokens"][0]["failcount"].as_i64().unwrap();
        let wrong = device.companion.answer_provider(&token.id, &request.request_id, approve(Some("1357"), None)).await;
        assert!(matches!(wrong, Err(CompanionError::Tiqr(TiqrError::WrongResponse { .. }))), "{wrong:?}");
        assert_eq!(failcount(pi.get("/token/", &[("serial", &serial)]).await), 1);
        assert_eq!(device.provider_items().len(), 1, "a wrong PIN leaves the request to retry");
        let right = device.companion.answer_provider(&token.id, &request.request_id, approve(Some("2468"), None)).await;
        assert_eq!(right.unwrap(), ProviderOutcome::Approved);
        assert_eq!(pi.status(&transaction).await, "accept");
        assert!(device.provider_items().is_empty());

        // The offline response for a new login is what the server accepts.
        let (transaction, shown) = pi.trigger("ivan", &serial).await;
        let login = shown["attributes"]["value"].as_str().unwrap().to_owned();
        let (_, offline) = device.companion.tiqr_offline_response(&login, "2468").unwrap();
        let auth = nyckel_core::privacyidea::tiqr::parse_auth_code(&login).unwrap();
        let form = [
            ("sessionKey", auth.session_key.as_str()),
            ("userId", "x"),
            ("response", &offline),
            ("operation", "login"),
        ];
        let url = format!("{}/ttype/tiqr", pi.url);
        let answer = PiHttp::new().unwrap().post_form(&url, &form).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&answer.body), "OK");
        assert_eq!(pi.finalize("ivan", &transaction, "").await, "ACCEPT");
        // A login code of an account not on this phone is refused.
        let other = login.replacen("ivan_realm1", "gina_realm1", 1);
        assert!(matches!(device.companion.scan_login_code(&other), Err(CompanionError::Tiqr(_))));
    }
}
