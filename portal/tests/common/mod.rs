//! The one test harness of the portal's integration tests (flows.rs, email.rs,
//! sms_contacts_admin.rs): a real nyckel-server in process behind the relying-party API (with
//! a tenant administrator's token for device unblocking), the portal in process with a manual
//! clock, lettre delivering the portal's e-mail over SMTP to a listener in the test, SMS to the
//! file sink, a cookie-keeping HTTP client as each browser, and the phone played by
//! nyckel-core. Nothing sleeps: mail is kept before the sending request returns, long polls
//! answer at once, and time moves through the manual clock.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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

/// One message the SMTP listener received.
#[derive(Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl Mail {
    /// The token of the link to `path` in the body.
    pub fn token(&self, path: &str) -> String {
        let start = format!("{path}?t=");
        let at = self.body.find(&start).unwrap_or_else(|| panic!("no {path} link in {}", self.body)) + start.len();
        self.body[at..at + 43].to_owned()
    }
}

/// The Subject header of a raw message (plain ASCII subjects, as the English texts are).
fn subject_of(raw: &str) -> String {
    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned()
}

/// Decodes a message body as lettre writes it (7bit, quoted-printable or base64).
fn decode_body(raw: &str) -> String {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        let joined: String = body.split_whitespace().collect();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(joined).unwrap()).unwrap()
    } else if head.contains("content-transfer-encoding: quoted-printable") {
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    } else {
        body.to_owned()
    }
}

/// A minimal SMTP server: accepts every message and keeps it for the test. A message is kept
/// before the portal hears "250 queued", so it is there once the request that sent it returns.
async fn smtp_listener() -> (String, Arc<Mutex<Vec<Mail>>>, Arc<tokio::sync::Notify>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let kept = Arc::new(Mutex::new(Vec::new()));
    let arrived = Arc::new(tokio::sync::Notify::new());
    let tx = kept.clone();
    let told = arrived.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            let told = told.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut to = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 test\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        to = line[8..].trim().trim_matches(['<', '>']).to_owned();
                        b"250 OK\r\n"
                    } else if upper.starts_with("DATA") {
                        write.write_all(b"354 go on\r\n").await.unwrap();
                        let mut raw = String::new();
                        while let Ok(Some(data)) = lines.next_line().await {
                            if data == "." {
                                break;
                            }
                            raw.push_str(data.strip_prefix('.').unwrap_or(&data));
                            raw.push_str("\r\n");
                        }
                        tx.lock().unwrap().push(Mail {
                            to: to.clone(),
                            subject: subject_of(&raw),
                            body: decode_body(&raw),
                        });
                        told.notify_one();
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 OK\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (url, kept, arrived)
}

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub portal: Arc<Portal>,
    pub phone: Arc<Companion>,
    /// Every e-mail the portal sent, oldest first.
    pub mails: Arc<Mutex<Vec<Mail>>>,
    /// Told when an e-mail arrives.
    pub mail_arrived: Arc<tokio::sync::Notify>,
    /// How many of [`Harness::mails`] [`Harness::next_mail`] has handed out.
    pub mails_read: Mutex<usize>,
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
        Self::start_with_accounts(&["alice", "bob", "carol", "dave"], configure).await
    }

    /// A harness whose portal has only `accounts` (each with [`PASSWORD`]). The server's tenant
    /// starts with no users: the portal creates each one (`PUT /v1/users/{user}`) when it needs
    /// it, as in production.
    pub async fn start_with_accounts(accounts: &[&str], configure: impl FnOnce(&mut PortalConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        nyckel_server::admin::add_tenant(&data, "acme", "Acme Trade").unwrap();
        let admin_token = nyckel_server::admin::add_tenant_admin(&data, "acme", "portal-admin").unwrap().to_string();
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
        config.tenant_admin_token = Some(admin_token);
        let (smtp_url, mails, mail_arrived) = smtp_listener().await;
        config.mail.smtp_url = Some(smtp_url);
        config.mail.from = "Portal <portal@example.org>".to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        config.public_url = base.clone();
        configure(&mut config);
        let portal = Portal::open(config).unwrap();
        for user in accounts {
            portal.accounts.create(user, PASSWORD).await.unwrap();
        }
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
        Harness {
            _dir: dir,
            base,
            clock,
            portal,
            phone,
            mails,
            mail_arrived,
            mails_read: Mutex::new(0),
            tasks: vec![server_task, portal_task],
        }
    }

    pub fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            base: self.base.clone(),
            cookie: None,
            cookies: HashMap::new(),
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

    /// Whether `user` exists in the portal's tenant on the Nyckel server (the relying-party
    /// API answers 404 for a user it does not have).
    pub async fn server_has_user(&self, user: &str) -> bool {
        match self.portal.rp.devices(user).await {
            Ok(_) => true,
            Err(nyckel_portal::nyckel::RpError::Api { status: 404, .. }) => false,
            Err(e) => panic!("{e}"),
        }
    }

    /// The phone's pending challenge (exactly one).
    pub async fn pending(&self, registration: &RegistrationSummary) -> nyckel_core::PendingApproval {
        let outcome = self.phone.poll_once(&registration.id, 0).await.unwrap();
        assert_eq!(outcome.new.len(), 1, "{:?}", outcome.new);
        outcome.new.into_iter().next().unwrap()
    }
}

/// A browser: keeps its cookies, remembers the last page to read its CSRF token.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    /// The session cookie's value.
    pub cookie: Option<String>,
    /// Every other cookie (the remembered-browser cookie, the language).
    pub cookies: HashMap<String, String>,
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
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if name == "portal_session" {
                self.cookie = Some(value.to_owned());
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        let mut jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(cookie) = &self.cookie {
            jar.push(format!("portal_session={cookie}"));
        }
        if !jar.is_empty() {
            request = request.header(reqwest::header::COOKIE, jar.join("; "));
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

    /// The `state` of a JSON status page.
    pub async fn state(&mut self, path: &str) -> String {
        self.get(path).await;
        let body: serde_json::Value = serde_json::from_str(&self.html).unwrap();
        body["state"].as_str().unwrap().to_owned()
    }

    /// The session cookie's value.
    pub fn session(&self) -> Option<String> {
        self.cookie.clone()
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

    /// The e-mail the SMTP listener received, oldest first.
    pub fn mail(&self) -> Vec<Mail> {
        self.mails
            .lock()
            .unwrap()
            .iter()
            .map(|m| Mail { to: m.to.clone(), subject: m.subject.clone(), body: m.body.clone() })
            .collect()
    }

    /// The oldest e-mail not handed out yet, waiting for it if it is still on its way (a
    /// password reset is sent after the page answered).
    pub async fn next_mail(&self) -> Mail {
        loop {
            {
                let mut read = self.mails_read.lock().unwrap();
                if let Some(mail) = self.mail().into_iter().nth(*read) {
                    *read += 1;
                    return mail;
                }
            }
            let arrived = self.mail_arrived.notified();
            tokio::time::timeout(std::time::Duration::from_secs(20), arrived).await.expect("no e-mail came");
        }
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
