//! Two `nyckel-server` binaries on one PostgreSQL database behind a throw-away nginx
//! (`scripts/nginx/start.sh`): a phone polling through nginx receives a push created on the
//! other instance; one instance is SIGKILLed after the phone got a challenge and before it
//! answers, and the phone finishes through nginx on the survivor, whose relying-party waiter
//! wakes; the challenge is stored approved and audited once. Skipped without PostgreSQL or
//! nginx unless `NYCKEL_POSTGRES_REQUIRED=1` / `NYCKEL_NGINX_REQUIRED=1` make that a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nyckel_protocol::agreement::EphemeralKey;
use nyckel_protocol::qr::QrPayload;
use nyckel_protocol::wire::phone::PendingChallenges;
use nyckel_protocol::DeviceSigner;
use nyckel_protocol::{
    Answer, CompleteEnrollment, DeviceId, EnrollmentReceipt, PinSecret, PushChallenge, RequestAuth, ServerPublicKey,
    SoftwareDeviceKey,
};
use nyckel_server::store::Store;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_nyckel-server");
/// Far below the long polls' 30 s: a missed wake-up fails rather than passing late.
const PROMPT: Duration = Duration::from_secs(10);

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/nginx")
}

/// The nginx of `scripts/nginx/start.sh`, stopped (and its directory removed) on drop.
struct Nginx {
    url: String,
    dir: String,
}

impl Nginx {
    /// `None` when nginx cannot start, unless `NYCKEL_NGINX_REQUIRED=1` (then it panics).
    fn start(upstreams: &[String]) -> Option<Self> {
        let out = Command::new(scripts().join("start.sh")).args(upstreams).output().unwrap();
        let required = std::env::var("NYCKEL_NGINX_REQUIRED").as_deref() == Ok("1");
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!required, "NYCKEL_NGINX_REQUIRED=1 but nginx did not start: {err}");
            eprintln!("skipped: {err}");
            return None;
        }
        let text = String::from_utf8(out.stdout).unwrap();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}='")))
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or_else(|| panic!("no {name} in {text}"))
                .to_owned()
        };
        Some(Self { url: value("NYCKEL_NGINX_URL"), dir: value("NYCKEL_NGINX_DIR") })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new(scripts().join("stop.sh")).arg(&self.dir).status();
    }
}

/// A server binary, SIGKILLed on drop.
struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Instance {
    fn start(dir: &Path, kek: &Path, database: &str, port: u16, public_url: &str) -> Self {
        let mut child = Command::new(BIN)
            .arg("--data-dir")
            .arg(dir)
            .env("NYCKEL_KEK_FILE", kek)
            .env("NYCKEL_DATABASE_URL", database)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--public-url", public_url])
            .args(["--trusted-proxy", "127.0.0.1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("listening on "), "first line: {line:?}");
        Self { child, base: format!("http://127.0.0.1:{port}") }
    }
}

/// A loopback port free right now (the instances must be named to nginx before they start,
/// and nginx's URL is their public URL).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A software phone talking to `base`.
struct Phone {
    key: SoftwareDeviceKey,
    secret: PinSecret,
    device_id: DeviceId,
    server_key: ServerPublicKey,
}

impl Phone {
    /// A signed request; returns status, body and the instance nginx chose.
    async fn signed(&self, base: &str, method: &str, path: &str, body: Vec<u8>) -> (u16, Value, String) {
        let auth = RequestAuth::sign(&self.key, &self.device_id, method, path, &body, now()).unwrap();
        let mut req = common::client().request(method.parse().unwrap(), format!("{base}{path}"));
        for (name, value) in auth.to_headers() {
            req = req.header(name, value);
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await.unwrap();
        let upstream =
            resp.headers().get("x-nyckel-upstream").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let (status, value) = common::status_json(resp).await;
        (status, value, upstream)
    }

    async fn poll(&self, base: &str) -> (Vec<PushChallenge>, String) {
        let (status, body, upstream) = self.signed(base, "GET", "/v1/device/challenges?wait=30", Vec::new()).await;
        assert_eq!(status, 200, "{body}");
        let pending: PendingChallenges = serde_json::from_value(body).unwrap();
        let verified = pending
            .challenges
            .iter()
            .map(|s| s.verify(&self.server_key, &self.device_id, now()).unwrap().clone())
            .collect();
        (verified, upstream)
    }

    /// Answers; a 502 (nginx meeting a dead instance) is sent again as a new request, as a
    /// phone does: the signed request's nonce is used once, so nginx must not replay it.
    async fn answer(&self, base: &str, answer: &Answer) -> (u16, Value, String) {
        let path = format!("/v1/device/challenges/{}/answer", answer.challenge_id);
        for _ in 0..3 {
            let sent = self.signed(base, "POST", &path, serde_json::to_vec(answer).unwrap()).await;
            if sent.0 != 502 {
                return sent;
            }
        }
        panic!("nginx answered 502 three times");
    }
}

async fn rp(base: &str, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = common::client().request(method.parse().unwrap(), format!("{base}{path}")).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    common::status_json(req.send().await.unwrap()).await
}

/// A fresh database on the test PostgreSQL; returns its URL.
async fn fresh_database(url: &str) -> String {
    use sqlx::Connection;
    let name = format!("nginx_{:016x}", rand_u64());
    let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    u64::from_le_bytes(bytes)
}

fn push_body() -> Value {
    json!({"user": "alice", "context": {"service": "Trade portal", "action": "Sign in"}, "number_matching": "choose"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_nginx_survive_a_sigkill_mid_approval() {
    let Some(url) = common::postgres_url() else { return };
    let (port_a, port_b) = (free_port(), free_port());
    let Some(nginx) = Nginx::start(&[format!("127.0.0.1:{port_a}"), format!("127.0.0.1:{port_b}")]) else {
        return;
    };
    let database = fresh_database(&url).await;
    let pg = nyckel_server::store::PgStore::open(&nyckel_server::store::PgSettings::new(&database)).await.unwrap();
    nyckel_server::tenants::add(&pg, common::TENANT, common::ORGANISATION, now()).await.unwrap();
    nyckel_server::users::add(&pg, common::TENANT, "alice", now()).await.unwrap();
    let rp_key = nyckel_server::relying_parties::add(&pg, common::TENANT, "portal", now()).await.unwrap();
    // One set of keys for both instances (the same server to the phones), each its own
    // data directory (audit log).
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let kek = common::Kek::create(dir_a.path());
    let admin_token = nyckel_server::admin::admin_token(dir_a.path(), &kek.open(dir_a.path())).unwrap().to_string();
    common::copy_keys(dir_a.path(), dir_b.path());
    let mut a = Some(Instance::start(dir_a.path(), &kek.path(), &database, port_a, &nginx.url));
    let b = Instance::start(dir_b.path(), &kek.path(), &database, port_b, &nginx.url);
    let base_a = a.as_ref().unwrap().base.clone();

    // Enrolled through nginx from a code made on A.
    let (s, started) =
        rp(&base_a, &rp_key, "POST", "/v1/enrollments", Some(json!({"user": "alice", "device_name": "Phone"}))).await;
    assert_eq!(s, 200, "{started}");
    let QrPayload::Enroll(qr) = QrPayload::parse(started["qr"].as_str().unwrap()).unwrap() else { panic!() };
    assert_eq!(qr.server_url, nginx.url);
    let key = SoftwareDeviceKey::generate().unwrap();
    let (ephemeral, share) = EphemeralKey::generate().unwrap();
    let req = CompleteEnrollment::create(&qr, &key, &share, "Linux test").unwrap();
    let resp = common::client().post(format!("{}/v1/enroll", nginx.url)).json(&req).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let receipt: EnrollmentReceipt = resp.json().await.unwrap();
    let secret = receipt.accept(&qr, &key.public_key(), ephemeral, &share).unwrap();
    let phone = Phone { key, secret, device_id: receipt.device_id, server_key: qr.server_key };

    // Pushes created on A until nginx has sent one of the phone's polls to B (round robin:
    // the first or the second): that poll must carry A's push.
    let b_addr = format!("127.0.0.1:{port_b}");
    let mut crossed = false;
    for _ in 0..4 {
        let poll = phone.poll(&nginx.url);
        let create = rp(&base_a, &rp_key, "POST", "/v1/challenges/push", Some(push_body()));
        let ((got, upstream), (s, created)) =
            tokio::time::timeout(PROMPT, async { tokio::join!(poll, create) }).await.expect("the phone was not woken");
        assert_eq!(s, 200, "{created}");
        assert!(got.iter().any(|c| c.id.as_str() == created["challenge_id"].as_str().unwrap()), "{got:?}");
        for c in &got {
            let deny = Answer::deny(c, false, now(), &phone.key).unwrap();
            let (s, body, _) = phone.answer(&nginx.url, &deny).await;
            assert_eq!(s, 200, "{body}");
        }
        if upstream == b_addr {
            crossed = true;
            break;
        }
    }
    assert!(crossed, "nginx never sent a poll to B");

    // The approval: created on A, waited for on B, the phone has it; then A dies.
    let (s, created) = rp(&base_a, &rp_key, "POST", "/v1/challenges/push", Some(push_body())).await;
    assert_eq!(s, 200, "{created}");
    let id = created["challenge_id"].as_str().unwrap().to_owned();
    let number = created["number"].as_str().map(str::to_owned);
    let (got, _) = tokio::time::timeout(PROMPT, phone.poll(&nginx.url)).await.unwrap();
    let challenge = got.into_iter().find(|c| c.id.as_str() == id).expect("the phone did not get the challenge");
    let (base_b, key_b) = (b.base.clone(), rp_key.clone());
    let path = format!("/v1/challenges/{id}?wait=30");
    let watch = tokio::spawn(async move { rp(&base_b, &key_b, "GET", &path, None).await });
    drop(a.take()); // SIGKILL, and reaped
    let approve = Answer::approve(&challenge, number.clone(), now(), &phone.key, &phone.secret).unwrap();
    let (s, body, upstream) = phone.answer(&nginx.url, &approve).await;
    assert_eq!((s, body["state"].as_str()), (200, Some("approved")), "{body}");
    assert_eq!(upstream, b_addr);
    let (s, status) = tokio::time::timeout(PROMPT, watch).await.expect("B's waiter was not woken").unwrap();
    assert_eq!((s, status["state"].as_str()), (200, Some("approved")), "{status}");

    // Decided once: the same approval again is refused, the store says approved, B's audit
    // has the one approval (A died before the answer, so it has none).
    let again = Answer::approve(&challenge, number, now(), &phone.key, &phone.secret).unwrap();
    let (s, body, _) = phone.answer(&nginx.url, &again).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("already_answered")), "{body}");
    let stored = pg.challenges().get(id.as_bytes()).await.unwrap().unwrap();
    assert_eq!(stored.state, nyckel_protocol::ChallengeState::Approved);
    let resp = common::client()
        .get(format!("{}/v1/admin/audit?limit=500", b.base))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    let (s, page) = common::status_json(resp).await;
    assert_eq!(s, 200, "{page}");
    let approvals = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "challenge_approved" && e["challenge_id"].as_str() == Some(&id))
        .count();
    assert_eq!(approvals, 1, "{page}");

    // Nothing lost after the kill: a push created on B still reaches the phone through nginx.
    let poll = phone.poll(&nginx.url);
    let create = rp(&b.base, &rp_key, "POST", "/v1/challenges/push", Some(push_body()));
    let ((got, upstream), (s, created)) = tokio::time::timeout(PROMPT, async { tokio::join!(poll, create) })
        .await
        .expect("the phone was not woken after the kill");
    assert_eq!(s, 200, "{created}");
    assert_eq!(upstream, b_addr);
    assert!(got.iter().any(|c| c.id.as_str() == created["challenge_id"].as_str().unwrap()));
}
