//! The test harness shared by the SMS, contact-address and administration tests: a real
//! nyckel-server in process behind the relying-party API (with a tenant administrator's token
//! for device unblocking), the portal in process with a manual clock, a cookie-keeping HTTP
//! client as the browser, and the phone played by nyckel-core. (A copy of flows.rs's harness,
//! kept apart so parallel work on flows.rs merges cleanly; they can be joined later.)

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nyckel_core::{
    Clock as PhoneClockTrait, Companion, CompanionSettings, DeviceKeyStore, MemoryKeyStore, RegistrationSummary, Vault,
    VaultDeviceKeyStore, VaultKey,
};
use nyckel_portal::{ManualClock, Portal, PortalConfig};
use nyckel_protocol::PinKdf;

pub const PASSWORD: &str = "Portal-pass-2026";
pub const PIN: &str = "4711";
pub const START: u64 = 1_900_000_000;

struct PhoneClock(AtomicU64);

impl PhoneClockTrait for PhoneClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub portal: Arc<Portal>,
    pub phone: Arc<Companion>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    /// [`Harness::start`] with the portal's configuration adjusted by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut PortalConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        nyckel_server::admin::add_tenant(&data, "acme", "Acme Trade").unwrap();
        let admin_token = nyckel_server::admin::add_tenant_admin(&data, "acme", "portal-admin").unwrap().to_string();
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
        let server = nyckel_server::Server::open(listener, config).unwrap();
        let server_url = format!("http://{}", server.local_addr().unwrap());
        let server_task = tokio::spawn(async move {
            let _ = server.run().await;
        });

        let clock = Arc::new(ManualClock::new(START));
        let mut config = PortalConfig::new(dir.path().join("portal"), &server_url, &rp_key);
        config.clock = clock.clone();
        // Status long polls return at once in tests unless the phone already answered.
        config.long_poll_seconds = 0;
        config.tenant_admin_token = Some(admin_token);
        configure(&mut config);
        let portal = Portal::open(config).unwrap();
        for user in ["alice", "bob", "carol", "dave"] {
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

    pub fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            base: self.base.clone(),
            cookie: None,
            html: String::new(),
        }
    }

    /// Signs `user` in with the password and registers the phone through the first-sign-in
    /// setup pages; the browser ends signed in.
    pub async fn register_phone(&self, browser: &mut Browser, user: &str) -> RegistrationSummary {
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
    pub async fn pending(&self, registration: &RegistrationSummary) -> nyckel_core::PendingApproval {
        let outcome = self.phone.poll_once(&registration.id, 0).await.unwrap();
        assert_eq!(outcome.new.len(), 1, "{:?}", outcome.new);
        outcome.new.into_iter().next().unwrap()
    }
}

/// A browser: keeps the session cookie, remembers the last page to read its CSRF token.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub html: String,
}

pub fn between(haystack: &str, start: &str, end: &str) -> String {
    let from = haystack.find(start).unwrap_or_else(|| panic!("{start} not in {haystack}")) + start.len();
    let to = haystack[from..].find(end).unwrap() + from;
    haystack[from..to].to_owned()
}

pub fn unescape(s: &str) -> String {
    s.replace("&amp;", "&").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">")
}

impl Browser {
    pub fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let value = value.to_str().unwrap();
            if let Some(rest) = value.strip_prefix("portal_session=") {
                self.cookie = Some(rest.split(';').next().unwrap().to_owned());
            }
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(reqwest::header::COOKIE, format!("portal_session={cookie}"));
        }
        request
    }

    /// GET; returns (status, Location).
    pub async fn get(&mut self, path: &str) -> (u16, String) {
        let response = self.request(reqwest::Method::GET, path).send().await.unwrap();
        self.finish(response).await
    }

    pub async fn finish(&mut self, response: reqwest::Response) -> (u16, String) {
        self.remember(&response);
        let status = response.status().as_u16();
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        self.html = response.text().await.unwrap();
        (status, location)
    }

    pub async fn json(&mut self, path: &str) -> serde_json::Value {
        let response = self.request(reqwest::Method::GET, path).send().await.unwrap();
        self.remember(&response);
        response.json().await.unwrap()
    }

    pub fn csrf(&self) -> String {
        between(&self.html, "name=\"csrf\" value=\"", "\"")
    }

    /// POST a form with the CSRF token of the last page.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let csrf = self.csrf();
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        form.extend_from_slice(fields);
        let response = self.request(reqwest::Method::POST, path).form(&form).send().await.unwrap();
        self.finish(response).await
    }

    pub async fn post_raw(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let response = self.request(reqwest::Method::POST, path).form(form).send().await.unwrap();
        self.finish(response).await
    }

    pub async fn sign_in(&mut self, user: &str, password: &str) -> (u16, String) {
        self.get("/").await;
        self.post("/login", &[("user", user), ("password", password)]).await
    }
}

impl Harness {
    /// The SMS the sink holds, oldest first.
    pub fn sms(&self) -> Vec<nyckel_portal::sms::SinkMessage> {
        match &self.portal.config.sms {
            nyckel_portal::sms::SmsConfig::Sink(dir) => nyckel_portal::sms::FileSink::read_all(dir),
            other => panic!("not a sink: {other:?}"),
        }
    }

    /// The six-digit code of the newest SMS.
    pub fn last_sms_code(&self) -> String {
        let text = self.sms().pop().expect("an SMS").text;
        text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).expect("a code").to_owned()
    }

    /// The e-mail the outbox holds, oldest first.
    pub fn mail(&self) -> Vec<nyckel_portal::outbox::OutboxMessage> {
        nyckel_portal::outbox::FileOutbox::read_all(&self.portal.config.outbox_dir)
    }

    /// The six-digit code of the newest e-mail to `to`.
    pub fn last_mail_code(&self, to: &str) -> String {
        let body = self.mail().into_iter().rev().find(|m| m.to == to).expect("a message").body;
        body.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).expect("a code").to_owned()
    }

    /// Signs `user` in with an authenticator app set up at the first sign-in; the browser
    /// ends signed in. Returns the TOTP secret.
    pub async fn signed_in_with_totp(&self, browser: &mut Browser, user: &str) -> String {
        assert_eq!(browser.sign_in(user, PASSWORD).await, (303, "/devices".to_owned()));
        browser.get("/totp").await;
        let secret = between(&browser.html, "id=\"totp-secret\">", "<");
        let now = nyckel_portal::Clock::now(&*self.clock);
        let code = nyckel_portal::totp::code_at_step(&secret, now / 30).unwrap();
        assert_eq!(browser.post("/totp/confirm", &[("code", &code)]).await, (303, "/home".to_owned()));
        browser.get("/home").await;
        secret
    }
}
