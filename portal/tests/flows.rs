//! The portal's rules end to end: a real nyckel-server (in process, on 127.0.0.1) behind the
//! relying-party API, the portal in process with a manual clock, a cookie-keeping HTTP client
//! as the browser, and the phone played by nyckel-core. Nothing sleeps: long polls are
//! answered at once once the phone has answered, and time moves through the manual clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nyckel_core::{
    Clock as PhoneClockTrait, Companion, CompanionSettings, DeviceKeyStore, MemoryKeyStore, RegistrationSummary, Vault,
    VaultDeviceKeyStore, VaultKey,
};
use nyckel_portal::accounts::INACTIVE_AFTER;
use nyckel_portal::{ManualClock, Portal, PortalConfig};
use nyckel_protocol::PinKdf;

const PASSWORD: &str = "Portal-pass-2026";
const PIN: &str = "4711";
const START: u64 = 1_900_000_000;

struct PhoneClock(AtomicU64);

impl PhoneClockTrait for PhoneClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    base: String,
    clock: Arc<ManualClock>,
    portal: Arc<Portal>,
    phone: Arc<Companion>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Harness {
    async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    /// [`Harness::start`] with the portal's configuration adjusted by `configure`.
    async fn start_with(configure: impl FnOnce(&mut PortalConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        nyckel_server::admin::add_tenant(&data, "acme", "Acme Trade").unwrap();
        for user in ["alice", "bob"] {
            nyckel_server::admin::add_user(&data, "acme", user, "Server-side-unused1").unwrap();
        }
        let rp_key = nyckel_server::admin::add_relying_party(&data, "acme", "portal").unwrap().to_string();
        let kek_file = dir.path().join("kek");
        nyckel_server::secrets::Kek::create_file(&kek_file, &data).unwrap();
        let start = nyckel_core::SystemClock.now_unix();
        let mut config = nyckel_server::ServerConfig::new(&data);
        config.clock = Arc::new(nyckel_server::ManualClock::new(start));
        config.kek_file = Some(kek_file);
        let unlimited = nyckel_server::limits::Rate { per_second: 1_000_000, burst: 1_000_000 };
        config.limits = nyckel_server::limits::Limits { per_key: unlimited, per_address: unlimited };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = nyckel_server::Server::open(listener, config).await.unwrap();
        let server_url = format!("http://{}", server.local_addr().unwrap());
        let server_task = tokio::spawn(async move {
            let _ = server.run().await;
        });

        let clock = Arc::new(ManualClock::new(START));
        let mut config = PortalConfig::new(dir.path().join("portal"), &server_url, &rp_key);
        config.clock = clock.clone();
        // Status long polls return at once in tests unless the phone already answered.
        config.long_poll_seconds = 0;
        configure(&mut config);
        let portal = Portal::open(config).unwrap();
        for user in ["alice", "bob"] {
            portal.accounts.create(user, PASSWORD).await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let serving = portal.clone();
        let portal_task = tokio::spawn(async move {
            let _ = nyckel_portal::serve(listener, serving).await;
        });

        let vault_key = VaultKey::generate().unwrap();
        let vault = Arc::new(Vault::create(&dir.path().join("phone"), &MemoryKeyStore::new(vault_key)).unwrap());
        let keys: Arc<dyn DeviceKeyStore> = Arc::new(VaultDeviceKeyStore::new(vault.clone()));
        let settings =
            CompanionSettings { pin_kdf: PinKdf::Pbkdf2Sha256 { iterations: 1000 }, platform: "portal-test".into() };
        let phone =
            Arc::new(Companion::new(vault, keys, Arc::new(PhoneClock(AtomicU64::new(start))), settings).unwrap());
        Harness { _dir: dir, base, clock, portal, phone, tasks: vec![server_task, portal_task] }
    }

    fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            base: self.base.clone(),
            cookie: None,
            html: String::new(),
        }
    }

    /// Signs `user` in with the password and registers the phone through the first-sign-in
    /// setup pages; the browser ends signed in.
    async fn register_phone(&self, browser: &mut Browser, user: &str) -> RegistrationSummary {
        assert_eq!(browser.sign_in(user, PASSWORD).await, (303, "/devices".to_owned()));
        browser.get("/devices").await;
        assert_eq!(browser.post("/devices/add", &[("name", "Work phone")]).await.0, 303);
        browser.get("/devices/enroll").await;
        let code = unescape(&between(&browser.html, "id=\"enroll-code\">", "<"));
        assert!(code.starts_with("nyckel://enroll?"), "{code}");
        let summary = self.phone.register(&code, PIN).await.unwrap();
        let status = browser.json("/devices/enroll/status").await;
        assert_eq!(status["state"], "completed");
        assert_eq!(status["fingerprint"], summary.device_fingerprint.as_str());
        assert_eq!(status["platform"], "portal-test");
        browser.get("/devices/enroll").await;
        assert!(browser.html.contains(&summary.device_fingerprint));
        assert_eq!(browser.post("/setup/complete", &[]).await, (303, "/home".to_owned()));
        browser.get("/home").await;
        summary
    }

    /// The phone's pending challenge (exactly one).
    async fn pending(&self, registration: &RegistrationSummary) -> nyckel_core::PendingApproval {
        let outcome = self.phone.poll_once(&registration.id, 0).await.unwrap();
        assert_eq!(outcome.new.len(), 1, "{:?}", outcome.new);
        outcome.new.into_iter().next().unwrap()
    }
}

/// A browser: keeps the session cookie, remembers the last page to read its CSRF token.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    html: String,
}

fn between(haystack: &str, start: &str, end: &str) -> String {
    let from = haystack.find(start).unwrap_or_else(|| panic!("{start} not in {haystack}")) + start.len();
    let to = haystack[from..].find(end).unwrap() + from;
    haystack[from..to].to_owned()
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">")
}

impl Browser {
    fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            if let Some(rest) = value.strip_prefix("portal_session=") {
                self.cookie = Some(rest.split(';').next().unwrap().to_owned());
            }
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(reqwest::header::COOKIE, format!("portal_session={cookie}"));
        }
        request
    }

    /// GET; returns (status, Location).
    async fn get(&mut self, path: &str) -> (u16, String) {
        let response = self.request(reqwest::Method::GET, path).send().await.unwrap();
        self.finish(response).await
    }

    async fn finish(&mut self, response: reqwest::Response) -> (u16, String) {
        self.remember(&response);
        let status = response.status().as_u16();
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        self.html = response.text().await.unwrap();
        (status, location)
    }

    async fn json(&mut self, path: &str) -> serde_json::Value {
        let response = self.request(reqwest::Method::GET, path).send().await.unwrap();
        self.remember(&response);
        response.json().await.unwrap()
    }

    fn csrf(&self) -> String {
        between(&self.html, "name=\"csrf\" value=\"", "\"")
    }

    /// POST a form with the CSRF token of the last page.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let csrf = self.csrf();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        let response = self.request(reqwest::Method::POST, path).form(&form).send().await.unwrap();
        self.finish(response).await
    }

    async fn post_raw(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self.request(reqwest::Method::POST, path).form(form).send().await.unwrap();
        self.finish(response).await
    }

    async fn sign_in(&mut self, user: &str, password: &str) -> (u16, String) {
        self.get("/").await;
        self.post("/login", &[("user", user), ("password", password)]).await
    }
}

#[tokio::test]
async fn push_with_number_matching_continues_once_the_phone_approves() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    let registration = h.register_phone(&mut browser, "alice").await;
    browser.get("/home").await;
    assert_eq!(browser.post("/logout", &[]).await, (303, "/".to_owned()));

    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
    // Only a factor is due: the signed-in pages are not reachable yet.
    assert_eq!(browser.get("/home").await, (303, "/factor".to_owned()));
    browser.get("/factor").await;
    assert_eq!(browser.post("/factor/push", &[]).await, (303, "/factor/push".to_owned()));
    browser.get("/factor/push").await;
    let number = between(&browser.html, "id=\"number\">", "<");
    assert_eq!(number.len(), 2);
    assert_eq!(browser.json("/factor/status").await["state"], "pending");
    // Continuing before the phone answered keeps the browser waiting.
    assert_eq!(browser.post("/factor/push/complete", &[]).await.0, 202);

    let pending = h.pending(&registration).await;
    assert_eq!(pending.display.context.service, "Nyckel portal");
    h.phone.approve(&registration.id, &pending.challenge_id, PIN, Some(&number)).await.unwrap();
    assert_eq!(browser.json("/factor/status").await["state"], "approved");
    let before = browser.cookie.clone();
    assert_eq!(browser.post("/factor/push/complete", &[]).await, (303, "/home".to_owned()));
    assert_ne!(browser.cookie, before, "a new session id once signed in");
    browser.get("/home").await;
    assert!(browser.html.contains("id=\"account\">alice<"), "{}", browser.html);

    // Manage my mobile devices: the phone is listed and can be removed.
    browser.get("/devices").await;
    assert!(browser.html.contains("Work phone") && browser.html.contains("portal-test"));
    let device_id = between(&browser.html, "name=\"device_id\" value=\"", "\"");
    assert_eq!(browser.post("/devices/remove", &[("device_id", &device_id)]).await, (303, "/devices".to_owned()));
    browser.get("/devices").await;
    assert!(browser.html.contains("id=\"no-devices\""));
}

#[tokio::test]
async fn a_denied_push_is_shown_and_does_not_sign_in() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    let registration = h.register_phone(&mut browser, "alice").await;
    browser.post("/logout", &[]).await;
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    browser.post("/factor/push", &[]).await;
    browser.get("/factor/push").await;
    let pending = h.pending(&registration).await;
    h.phone.deny(&registration.id, &pending.challenge_id).await.unwrap();
    assert_eq!(browser.json("/factor/status").await["state"], "denied");
    assert_eq!(browser.post("/factor/push/complete", &[]).await.0, 403);
    assert_eq!(browser.get("/home").await, (303, "/factor".to_owned()));
}

#[tokio::test]
async fn qr_one_time_password_signs_in_and_a_wrong_one_does_not() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    h.register_phone(&mut browser, "alice").await;
    browser.post("/logout", &[]).await;
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    assert_eq!(browser.post("/factor/qr", &[]).await, (303, "/factor/qr".to_owned()));
    browser.get("/factor/qr").await;
    let code = unescape(&between(&browser.html, "id=\"qr-text\">", "<"));
    let otp = h.phone.qr_otp(&code, None, PIN).unwrap();
    let wrong = h.phone.qr_otp(&code, None, "9999").unwrap();
    assert_eq!(browser.post("/factor/qr/verify", &[("otp", &wrong)]).await.0, 403);
    assert_eq!(browser.get("/home").await, (303, "/factor".to_owned()));
    browser.get("/factor/qr").await;
    assert_eq!(browser.post("/factor/qr/verify", &[("otp", &otp)]).await, (303, "/home".to_owned()));
}

#[tokio::test]
async fn five_wrong_passwords_in_a_row_block_until_a_reset() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    for _ in 0..4 {
        assert_eq!(browser.sign_in("alice", "wrong-password").await.0, 401);
    }
    // The right password clears the count; four more wrong ones do not block.
    h.register_phone(&mut browser, "alice").await;
    browser.post("/logout", &[]).await;
    for _ in 0..4 {
        assert_eq!(browser.sign_in("alice", "wrong-password").await.0, 401);
    }
    assert_eq!(browser.sign_in("alice", "wrong-password").await.0, 403, "the fifth blocks");
    assert!(browser.html.contains("blocked"));
    assert_eq!(browser.sign_in("alice", PASSWORD).await.0, 403, "blocked even with the right password");
    assert!(h.portal.accounts.get("alice").unwrap().unwrap().blocked);
    // Another account is unaffected.
    assert_eq!(browser.sign_in("bob", PASSWORD).await, (303, "/devices".to_owned()));
    browser.get("/devices").await;
    browser.post("/logout", &[]).await;

    h.portal.accounts.reset("alice", None).await.unwrap();
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
}

#[tokio::test]
async fn an_account_unused_for_four_months_is_inactive() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    h.clock.advance(INACTIVE_AFTER - 60);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/devices".to_owned()), "still active");
    browser.get("/devices").await;
    browser.post("/logout", &[]).await;
    // A password alone is no use: only a completed sign-in counts; bob never signed in.
    h.clock.advance(120);
    assert_eq!(browser.sign_in("bob", PASSWORD).await.0, 403);
    assert!(browser.html.contains("inactive"), "{}", browser.html);
    // A wrong password is not told the state.
    assert_eq!(browser.sign_in("bob", "wrong-password").await.0, 401);
    h.portal.accounts.reset("bob", None).await.unwrap();
    assert_eq!(browser.sign_in("bob", PASSWORD).await, (303, "/devices".to_owned()));
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_foreign_csrf_token() {
    let h = Harness::start().await;
    let mut other = h.browser();
    other.get("/").await;
    let foreign = other.csrf();
    let mut browser = h.browser();
    browser.get("/").await;
    let posts = [
        "/login",
        "/logout",
        "/lang",
        "/factor/push",
        "/factor/push/complete",
        "/factor/qr",
        "/factor/qr/verify",
        "/factor/totp",
        "/devices/add",
        "/devices/remove",
        "/setup/complete",
        "/totp/confirm",
    ];
    for path in posts {
        assert_eq!(
            browser.post_raw(path, &[("user", "alice"), ("password", PASSWORD)]).await.0,
            403,
            "{path} without a token"
        );
        let form = [("csrf", foreign.as_str()), ("user", "alice"), ("password", PASSWORD)];
        assert_eq!(browser.post_raw(path, &form).await.0, 403, "{path} with another session's token");
    }
    // And the sign-in did not happen.
    assert_eq!(browser.get("/").await.0, 200);
    assert!(browser.html.contains("name=\"password\""));
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in_and_the_old_one_is_worthless() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    browser.get("/").await;
    let planted = browser.cookie.clone().unwrap();
    browser.post("/login", &[("user", "alice"), ("password", PASSWORD)]).await;
    let after = browser.cookie.clone().unwrap();
    assert_ne!(planted, after);
    // Someone holding the planted id (session fixation) has an anonymous session, not alice's.
    let mut attacker = h.browser();
    attacker.cookie = Some(planted);
    assert_eq!(attacker.get("/devices").await, (303, "/".to_owned()));
    assert_eq!(browser.get("/devices").await.0, 200);
}

#[tokio::test]
async fn cookies_are_http_only_and_same_site_and_pages_carry_a_csp() {
    let h = Harness::start().await;
    let response = reqwest::get(format!("{}/", h.base)).await.unwrap();
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let csp = response.headers().get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
}

#[tokio::test]
async fn an_authenticator_app_is_set_up_by_one_code_and_signs_in_once_per_code() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/devices".to_owned()));
    browser.get("/totp").await;
    let secret = between(&browser.html, "id=\"totp-secret\">", "<");
    assert!(browser.html.contains("otpauth") || browser.html.contains("data:image/svg+xml"));
    let code = |at: u64| nyckel_portal::totp::code_at_step(&secret, at / 30).unwrap();
    assert_eq!(browser.post("/totp/confirm", &[("code", "000000")]).await.0, 403);
    assert_eq!(
        browser.post("/totp/confirm", &[("code", &code(nyckel_portal::Clock::now(&*h.clock)))]).await,
        (303, "/home".to_owned())
    );
    browser.get("/home").await;
    browser.post("/logout", &[]).await;

    h.clock.advance(30);
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    let now_code = code(nyckel_portal::Clock::now(&*h.clock));
    assert_eq!(browser.post("/factor/totp", &[("code", &now_code)]).await, (303, "/home".to_owned()));
    browser.get("/home").await;
    browser.post("/logout", &[]).await;
    // The same code again is refused (used once), and wrong codes count towards the block.
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    assert_eq!(browser.post("/factor/totp", &[("code", &now_code)]).await.0, 403);
    for _ in 0..3 {
        browser.get("/factor").await;
        assert_eq!(browser.post("/factor/totp", &[("code", "000000")]).await.0, 403);
    }
    browser.get("/factor").await;
    browser.post("/factor/totp", &[("code", "000000")]).await;
    assert!(h.portal.accounts.get("alice").unwrap().unwrap().blocked, "the fifth wrong code blocks");
}

#[tokio::test]
async fn language_follows_the_browser_and_the_switch() {
    let h = Harness::start().await;
    let http = reqwest::Client::new();
    let page = |lang: &'static str| {
        let http = http.clone();
        let url = format!("{}/", h.base);
        async move { http.get(url).header("accept-language", lang).send().await.unwrap().text().await.unwrap() }
    };
    assert!(page("sv-SE,sv;q=0.9").await.contains("Användarnamn"));
    assert!(page("da").await.contains("Brugernavn"));
    assert!(page("fr").await.contains("User name"));
    let mut browser = h.browser();
    browser.get("/").await;
    let csrf = browser.csrf();
    let response = browser
        .request(reqwest::Method::POST, "/lang")
        .form(&[("csrf", csrf.as_str()), ("lang", "da"), ("back", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/", "no open redirect");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("portal_lang=da"), "{cookie}");
}

#[tokio::test]
async fn one_address_gets_a_limited_number_of_attempts_per_minute() {
    let h = Harness::start_with(|config| config.attempts_per_minute = 3).await;
    let mut browser = h.browser();
    // Different accounts, so the per-account block does not come into it.
    for user in ["alice", "bob", "carol"] {
        assert_eq!(browser.sign_in(user, "wrong-password").await.0, 401);
    }
    assert_eq!(browser.sign_in("alice", PASSWORD).await.0, 429, "the fourth attempt within the minute");
    assert!(!h.portal.accounts.get("alice").unwrap().unwrap().blocked);
}
