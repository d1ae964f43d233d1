//! Test harness: an in-process server on 127.0.0.1:0 with a manual clock, and a software phone.

#![allow(dead_code)]

use std::sync::Arc;

use nyckel_protocol::agreement::EphemeralKey;
use nyckel_protocol::enrollment::{EnrollmentStarted, StartEnrollment};
use nyckel_protocol::qr::{EnrollQr, QrPayload};
use nyckel_protocol::wire::phone::PendingChallenges;
use nyckel_protocol::{
    Answer, CompleteEnrollment, DeviceId, DeviceSigner, EnrollmentReceipt, PinSecret, PushChallenge, RequestAuth,
    ServerPublicKey, SoftwareDeviceKey,
};
use nyckel_server::{admin, ManualClock, Server, ServerConfig};
use serde_json::Value;

/// The tenant every harness user and the harness relying party belong to.
pub const TENANT: &str = "acme";
/// Its organisation name, as phones show it.
pub const ORGANISATION: &str = "Acme Trade";
pub const START: u64 = 1_900_000_000;

/// The PostgreSQL server tests may use (`$NYCKEL_POSTGRES_URL`, set by scripts/test.sh);
/// `None` skips them, unless `NYCKEL_POSTGRES_REQUIRED=1` makes a missing URL a failure.
pub fn postgres_url() -> Option<String> {
    match std::env::var("NYCKEL_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("NYCKEL_POSTGRES_REQUIRED").as_deref() != Ok("1"),
                "NYCKEL_POSTGRES_REQUIRED=1 but NYCKEL_POSTGRES_URL is not set"
            );
            None
        }
    }
}

/// The engine every [`Harness::start`] uses: `NYCKEL_TEST_STORE=postgres` puts each test's
/// records and audit log in a fresh schema of `$NYCKEL_POSTGRES_URL` (scripts/test.sh runs the
/// server's tests a second time so); unset or `sled`, sled in the test's data directory.
pub fn test_store_url() -> Option<String> {
    match std::env::var("NYCKEL_TEST_STORE").as_deref() {
        Err(_) | Ok("") | Ok("sled") => None,
        Ok("postgres") => match std::env::var("NYCKEL_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => panic!("NYCKEL_TEST_STORE=postgres but NYCKEL_POSTGRES_URL is not set"),
        },
        Ok(other) => panic!("NYCKEL_TEST_STORE={other:?}: expected sled or postgres"),
    }
}

pub struct Harness {
    pub dir: Arc<tempfile::TempDir>,
    /// The key-encryption key's file, in a directory of its own outside the data directory.
    pub kek: Arc<Kek>,
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub rp_key: String,
    pub admin_token: String,
    pub app: Arc<nyckel_server::app::App>,
    /// The sled database behind the server's store, when it is sled (to read and tamper with
    /// stored bytes).
    pub sled: Option<nyckel_server::store::SledStore>,
    /// The PostgreSQL schema behind the server's store, when it is PostgreSQL.
    pub database: Option<nyckel_server::store::PgSettings>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Harness {
    pub async fn start(users: &[&str]) -> Self {
        Self::start_with(users, |_| {}).await
    }

    /// [`Harness::start`] with the server's configuration adjusted by `configure`, on the
    /// engine [`test_store_url`] names.
    pub async fn start_with(users: &[&str], configure: impl FnOnce(&mut ServerConfig) + Send + 'static) -> Self {
        if let Some(url) = test_store_url() {
            return Self::start_on_postgres_with(&url, users, configure).await;
        }
        let dir = tempfile::tempdir().unwrap();
        let kek = Arc::new(Kek::create(dir.path()));
        admin::add_tenant(dir.path(), TENANT, ORGANISATION).unwrap();
        for user in users {
            admin::add_user(dir.path(), TENANT, user).unwrap();
        }
        let rp_key = admin::add_relying_party(dir.path(), TENANT, "portal").unwrap().to_string();
        let admin_token = admin::admin_token(dir.path(), &kek.open(dir.path())).unwrap().to_string();
        let clock = Arc::new(ManualClock::new(START));
        Self::open(Arc::new(dir), kek, clock, rp_key, admin_token, None, Box::new(configure)).await
    }

    /// [`Harness::start`] with the records and the audit log in a fresh schema of the
    /// PostgreSQL at `url` (tenant, users and relying party created there); the data directory
    /// holds only the key files. [`Harness::restart`] stays on that schema.
    pub async fn start_on_postgres(url: &str, users: &[&str]) -> Self {
        Self::start_on_postgres_with(url, users, |_| {}).await
    }

    async fn start_on_postgres_with(
        url: &str,
        users: &[&str],
        configure: impl FnOnce(&mut ServerConfig) + Send + 'static,
    ) -> Self {
        let (settings, rp_key) = seed_postgres(url, users).await;
        let dir = tempfile::tempdir().unwrap();
        let kek = Arc::new(Kek::create(dir.path()));
        let admin_token = admin::admin_token(dir.path(), &kek.open(dir.path())).unwrap().to_string();
        let clock = Arc::new(ManualClock::new(START));
        Self::open(Arc::new(dir), kek, clock, rp_key, admin_token, Some(settings), Box::new(configure)).await
    }

    /// Two servers on one fresh PostgreSQL schema (several instances): the same key files and
    /// key-encryption key, each its own data directory (audit log) and instance name
    /// (`<schema>-a`, `<schema>-b`), one clock. Returns them with the schema's settings.
    pub async fn start_pair_on_postgres(url: &str, users: &[&str]) -> (Self, Self, nyckel_server::store::PgSettings) {
        let (settings, rp_key) = seed_postgres(url, users).await;
        let dir_a = tempfile::tempdir().unwrap();
        let kek = Arc::new(Kek::create(dir_a.path()));
        let admin_token = admin::admin_token(dir_a.path(), &kek.open(dir_a.path())).unwrap().to_string();
        let dir_b = tempfile::tempdir().unwrap();
        copy_keys(dir_a.path(), dir_b.path());
        let clock = Arc::new(ManualClock::new(START));
        let schema = settings.schema.clone().unwrap();
        let mut instances = Vec::new();
        for (dir, name) in [(dir_a, "a"), (dir_b, "b")] {
            let mut settings = settings.clone();
            settings.instance = Some(format!("{schema}-{name}"));
            let (kek, clock, rp_key, admin_token) = (kek.clone(), clock.clone(), rp_key.clone(), admin_token.clone());
            let open = Self::open(Arc::new(dir), kek, clock, rp_key, admin_token, Some(settings), Box::new(|_| {}));
            instances.push(open.await);
        }
        let b = instances.pop().unwrap();
        let a = instances.pop().unwrap();
        (a, b, settings)
    }

    async fn open(
        dir: Arc<tempfile::TempDir>,
        kek: Arc<Kek>,
        clock: Arc<ManualClock>,
        rp_key: String,
        admin_token: String,
        database: Option<nyckel_server::store::PgSettings>,
        configure: Box<dyn FnOnce(&mut ServerConfig) + Send>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = ServerConfig {
            clock: clock.clone(),
            kek_file: Some(kek.path()),
            limits: unlimited(),
            database: database.clone(),
            ..ServerConfig::new(dir.path())
        };
        configure(&mut config);
        let server = Server::open(listener, config).await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let app = server.app();
        let sled = server.sled();
        let task = tokio::spawn(async move {
            let _ = server.run().await;
        });
        Self { dir, kek, base, http: client(), clock, rp_key, admin_token, app, sled, database, task }
    }

    /// Stops this server and opens a new one on the same data directory, store and clock.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| async {}).await
    }

    /// Stops this server, runs `offline` (an administrative step on the stopped server's
    /// store, which it is given), and opens a new server on the same directory, store and clock.
    pub async fn restart_with<F: std::future::Future<Output = ()>>(
        self,
        offline: impl FnOnce(Arc<dyn nyckel_server::store::Store>) -> F,
    ) -> Self {
        let (dir, kek, clock, rp_key, admin_token, database) = (
            self.dir.clone(),
            self.kek.clone(),
            self.clock.clone(),
            self.rp_key.clone(),
            self.admin_token.clone(),
            self.database.clone(),
        );
        self.app.store.flush().await.unwrap();
        drop(self);
        tokio::task::yield_now().await;
        let store: Arc<dyn nyckel_server::store::Store> = match &database {
            Some(settings) => Arc::new(nyckel_server::store::PgStore::open(settings).await.unwrap()),
            None => {
                // sled releases its lock when the last handle (held by connection tasks) is gone.
                let mut opened = None;
                for _ in 0..100 {
                    match nyckel_server::store::SledStore::open(dir.path()) {
                        Ok(store) => {
                            opened = Some(store);
                            break;
                        }
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                    }
                }
                Arc::new(opened.expect("the stopped server's sled database did not unlock"))
            }
        };
        offline(store).await;
        Self::open(dir, kek, clock, rp_key, admin_token, database, Box::new(|_| {})).await
    }

    pub fn now(&self) -> u64 {
        use nyckel_server::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A relying-party request; returns (status, JSON body or Null).
    pub async fn rp(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.rp_as(&self.rp_key, method, path, body).await
    }

    /// A request with another relying party's key.
    pub async fn rp_as(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        status_json(resp).await
    }

    pub async fn admin(&self, method: &str, path: &str) -> (u16, Value) {
        self.admin_as(&self.admin_token, method, path).await
    }

    /// An administrator request with another token.
    pub async fn admin_as(&self, token: &str, method: &str, path: &str) -> (u16, Value) {
        let resp = self.http.request(method.parse().unwrap(), self.url(path)).bearer_auth(token).send().await.unwrap();
        status_json(resp).await
    }

    pub async fn start_enrollment(&self, user: &str) -> EnrollmentStarted {
        let (status, body) = self
            .rp(
                "POST",
                "/v1/enrollments",
                Some(
                    serde_json::to_value(StartEnrollment { user: user.into(), device_name: "Work phone".into() })
                        .unwrap(),
                ),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_value(body).unwrap()
    }

    /// Enrolls a new software phone for `user`.
    pub async fn enroll(&self, user: &str) -> Phone {
        let started = self.start_enrollment(user).await;
        self.complete(&started.qr).await
    }

    /// Completes the enrollment of a code as a new software phone would.
    pub async fn complete(&self, code: &str) -> Phone {
        let QrPayload::Enroll(qr) = QrPayload::parse(code).unwrap() else { panic!("not an enroll code") };
        let key = SoftwareDeviceKey::generate().unwrap();
        let (ephemeral, share) = EphemeralKey::generate().unwrap();
        let req = CompleteEnrollment::create(&qr, &key, &share, "Linux test").unwrap();
        let resp = self.http.post(self.url("/v1/enroll")).json(&req).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let receipt: EnrollmentReceipt = resp.json().await.unwrap();
        let secret = receipt.accept(&qr, &key.public_key(), ephemeral, &share).unwrap();
        Phone { key, secret, device_id: receipt.device_id, server_key: qr.server_key, qr }
    }

    /// A second tenant with a relying party of its own; returns that relying party's key.
    pub async fn other_tenant(&self, tenant: &str, users: &[&str]) -> String {
        nyckel_server::tenants::add(&*self.app.store, tenant, "Other organisation", self.now()).await.unwrap();
        for user in users {
            nyckel_server::users::add(&*self.app.store, tenant, user, self.now()).await.unwrap();
        }
        nyckel_server::relying_parties::add(&*self.app.store, tenant, "intruder", self.now()).await.unwrap()
    }

    /// A push without number matching unless `extra` asks for it (the server's default is a
    /// typed number, tested on its own).
    pub async fn push(&self, user: &str, extra: Value) -> (u16, Value) {
        let mut body = serde_json::json!({"user": user, "context": {"service": "Trade portal", "action": "Sign in"},
            "number_matching": "none"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.rp("POST", "/v1/challenges/push", Some(body)).await
    }

    pub async fn audit_kinds(&self) -> Vec<String> {
        let (status, page) = self.admin("GET", "/v1/admin/audit?limit=500").await;
        assert_eq!(status, 200);
        page["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
    }
}

/// A fresh schema of the PostgreSQL at `url` with the test tenant, `users` and the `portal`
/// relying party; its settings and the relying party's key.
async fn seed_postgres(url: &str, users: &[&str]) -> (nyckel_server::store::PgSettings, String) {
    use nyckel_server::store::{PgSettings, PgStore};
    let settings = PgSettings::fresh_schema(url).await.unwrap();
    let pg = PgStore::open(&settings).await.unwrap();
    nyckel_server::tenants::add(&pg, TENANT, ORGANISATION, START).await.unwrap();
    for user in users {
        nyckel_server::users::add(&pg, TENANT, user, START).await.unwrap();
    }
    let rp_key = nyckel_server::relying_parties::add(&pg, TENANT, "portal", START).await.unwrap();
    pg.pool().close().await;
    (settings, rp_key)
}

/// Copies a data directory's key files (everything but the sled database `db`, which holds
/// the audit log) into another, for a second instance of the same server.
pub fn copy_keys(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "db" {
                std::fs::create_dir_all(&target).unwrap();
                copy_keys(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Rate limits far above anything a test sends from 127.0.0.1 (the limits have tests of their own).
pub fn unlimited() -> nyckel_server::limits::Limits {
    let rate = nyckel_server::limits::Rate { per_second: 1_000_000, burst: 1_000_000 };
    nyckel_server::limits::Limits { per_key: rate, per_address: rate }
}

/// A key-encryption key file (0600) in a temporary directory of its own.
pub struct Kek {
    dir: tempfile::TempDir,
}

impl Kek {
    /// A new KEK, outside `data_dir`.
    pub fn create(data_dir: &std::path::Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        nyckel_server::secrets::Kek::create_file(&dir.path().join("kek"), data_dir).unwrap();
        Self { dir }
    }

    /// Its path.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("kek")
    }

    /// The key itself.
    pub fn open(&self, data_dir: &std::path::Path) -> nyckel_server::secrets::Kek {
        nyckel_server::secrets::Kek::from_file(&self.path(), data_dir).unwrap()
    }
}

/// A reqwest client (reqwest is built without a TLS provider; install ring's).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

pub async fn status_json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, value)
}

pub struct Phone {
    pub key: SoftwareDeviceKey,
    pub secret: PinSecret,
    pub device_id: DeviceId,
    pub server_key: ServerPublicKey,
    pub qr: EnrollQr,
}

impl Phone {
    /// A signed request with the given timestamp.
    pub async fn signed_at(
        &self,
        h: &Harness,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        ts: u64,
    ) -> (u16, Value) {
        let bytes = body.unwrap_or_default();
        let auth = RequestAuth::sign(&self.key, &self.device_id, method, path, &bytes, ts).unwrap();
        let mut req = h.http.request(method.parse().unwrap(), h.url(path));
        for (name, value) in auth.to_headers() {
            req = req.header(name, value);
        }
        if !bytes.is_empty() {
            req = req.header("content-type", "application/json").body(bytes);
        }
        status_json(req.send().await.unwrap()).await
    }

    /// A signed request, built now and sent later (for requests raced in parallel).
    pub fn signed_request(&self, h: &Harness, method: &str, path: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let auth = RequestAuth::sign(&self.key, &self.device_id, method, path, &body, h.now()).unwrap();
        let mut req = h.http.request(method.parse().unwrap(), h.url(path));
        for (name, value) in auth.to_headers() {
            req = req.header(name, value);
        }
        req.header("content-type", "application/json").body(body)
    }

    pub async fn signed(&self, h: &Harness, method: &str, path: &str, body: Option<Vec<u8>>) -> (u16, Value) {
        self.signed_at(h, method, path, body, h.now()).await
    }

    /// Polls and verifies every challenge under the pinned key.
    pub async fn poll(&self, h: &Harness, wait: u64) -> Vec<PushChallenge> {
        let (status, body) = self.signed(h, "GET", &format!("/v1/device/challenges?wait={wait}"), None).await;
        assert_eq!(status, 200, "{body}");
        let pending: PendingChallenges = serde_json::from_value(body).unwrap();
        pending
            .challenges
            .iter()
            .map(|s| s.verify(&self.server_key, &self.device_id, h.now()).unwrap().clone())
            .collect()
    }

    pub async fn send_answer(&self, h: &Harness, challenge_id: &str, answer: &Answer) -> (u16, Value) {
        let path = format!("/v1/device/challenges/{challenge_id}/answer");
        self.signed(h, "POST", &path, Some(serde_json::to_vec(answer).unwrap())).await
    }

    pub async fn approve(&self, h: &Harness, c: &PushChallenge, number: Option<String>) -> (u16, Value) {
        let answer = Answer::approve(c, number, h.now(), &self.key, &self.secret).unwrap();
        self.send_answer(h, c.id.as_str(), &answer).await
    }

    pub async fn approve_with(
        &self,
        h: &Harness,
        c: &PushChallenge,
        number: Option<String>,
        secret: &PinSecret,
    ) -> (u16, Value) {
        let answer = Answer::approve(c, number, h.now(), &self.key, secret).unwrap();
        self.send_answer(h, c.id.as_str(), &answer).await
    }
}
