//! The `nyckel-server` binary: admin commands, the "listening on" line, the data-dir lock,
//! users (without passwords: the sign-in service owns those), and state surviving a hard kill.
//! Sled only, whatever `NYCKEL_TEST_STORE` says: these tests are about the data directory's
//! sled database and its process lock (the binary on PostgreSQL is the e2e tests' part).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use nyckel_server::users::UserError;
use nyckel_server::{admin, ServerError};

const BIN: &str = env!("CARGO_BIN_EXE_nyckel-server");

/// The KEK of a data directory `dir`: a file beside it (outside it), mode 0600.
fn kek_path(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.with_extension("kek");
    if !path.exists() {
        nyckel_server::secrets::Kek::create_file(&path, dir).unwrap();
    }
    path
}

fn cmd(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .env("NYCKEL_KEK_FILE", kek_path(dir))
        .args(args)
        .env("NYCKEL_TENANT", common::TENANT)
        .output()
        .unwrap()
}

struct Running(Child, String);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path) -> Running {
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir)
        .env("NYCKEL_KEK_FILE", kek_path(dir))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {line:?}")).to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));
    Running(child, base)
}

#[test]
fn users_have_no_password_and_names_are_unique_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    admin::add_tenant(dir.path(), common::TENANT, common::ORGANISATION).unwrap();
    admin::add_user(dir.path(), common::TENANT, "carol").unwrap();
    assert!(matches!(
        admin::add_user(dir.path(), common::TENANT, "carol"),
        Err(ServerError::User(UserError::Exists(_)))
    ));
    // The same name in another tenant is another user.
    admin::add_tenant(dir.path(), "beta", "Beta").unwrap();
    admin::add_user(dir.path(), "beta", "carol").unwrap();
    assert!(matches!(admin::add_user(dir.path(), "nosuch", "carol"), Err(ServerError::User(UserError::Tenant(_)))));
    assert_eq!(admin::list_users(dir.path(), common::TENANT).unwrap().len(), 1);

    // `user add` asks for no password: with no terminal and no $NYCKEL_USER_PASSWORD it adds.
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .env("NYCKEL_KEK_FILE", kek_path(dir.path()))
        .env_remove("NYCKEL_USER_PASSWORD")
        .args(["user", "--tenant", common::TENANT, "add", "dave"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(cmd(dir.path(), &["user", "disable", "dave"]).status.success());
    let list = String::from_utf8(cmd(dir.path(), &["user", "list"]).stdout).unwrap();
    assert_eq!(list, "carol\tactive\ndave\tdisabled\n");
}

#[tokio::test]
async fn the_binary_serves_refuses_admin_commands_while_running_and_keeps_state_across_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cmd(dir.path(), &["tenant", "add", common::TENANT, common::ORGANISATION]).status.success());
    assert!(cmd(dir.path(), &["user", "add", "alice"]).status.success());
    let rp_key = String::from_utf8(cmd(dir.path(), &["rp", "add", "portal"]).stdout).unwrap().trim().to_owned();
    assert!(rp_key.starts_with("rp_") && !rp_key.contains('\n'));
    let server = start(dir.path());
    let out = cmd(dir.path(), &["user", "add", "bob"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is the server running?") && err.lines().count() == 1, "{err}");
    let token = String::from_utf8(cmd(dir.path(), &["admin-token"]).stdout).unwrap();
    assert!(token.trim().starts_with("adm_"));

    let http = common::client();
    let resp = http
        .post(format!("{}/v1/enrollments", server.1))
        .bearer_auth(&rp_key)
        .json(&serde_json::json!({"user": "alice", "device_name": "Phone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let started: nyckel_protocol::enrollment::EnrollmentStarted = resp.json().await.unwrap();
    let nyckel_protocol::QrPayload::Enroll(qr) = nyckel_protocol::QrPayload::parse(&started.qr).unwrap() else {
        panic!()
    };
    assert_eq!(qr.server_url, server.1);
    let key = nyckel_protocol::SoftwareDeviceKey::generate().unwrap();
    let (_ephemeral, share) = nyckel_protocol::agreement::EphemeralKey::generate().unwrap();
    let req = nyckel_protocol::CompleteEnrollment::create(&qr, &key, &share, "Linux").unwrap();
    let receipt: nyckel_protocol::EnrollmentReceipt =
        http.post(format!("{}/v1/enroll", server.1)).json(&req).send().await.unwrap().json().await.unwrap();
    assert_eq!(receipt.organisation, common::ORGANISATION);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let wrong = nyckel_protocol::PinSecret::from_bytes([1; 32]);
    let check = nyckel_protocol::PinCheck::create(&receipt.device_id, &wrong, now).unwrap();
    let body = serde_json::to_vec(&check).unwrap();
    let auth = nyckel_protocol::RequestAuth::sign(&key, &receipt.device_id, "POST", "/v1/device/pin-check", &body, now)
        .unwrap();
    let mut req = http.post(format!("{}/v1/device/pin-check", server.1)).body(body);
    for (n, v) in auth.to_headers() {
        req = req.header(n, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 403);
    // Kill -9 right after the acknowledgement: the counter and the key must survive.
    drop(server);
    let server = start(dir.path());
    let auth = nyckel_protocol::RequestAuth::sign(&key, &receipt.device_id, "GET", "/v1/device", b"", now).unwrap();
    let mut req = http.get(format!("{}/v1/device", server.1));
    for (n, v) in auth.to_headers() {
        req = req.header(n, v);
    }
    let (status, info) = common::status_json(req.send().await.unwrap()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["pin_failures"], 1);
    // Same signing key after the restart.
    let resp = http
        .post(format!("{}/v1/enrollments", server.1))
        .bearer_auth(&rp_key)
        .json(&serde_json::json!({"user": "alice", "device_name": "Phone"}))
        .send()
        .await
        .unwrap();
    let again: nyckel_protocol::enrollment::EnrollmentStarted = resp.json().await.unwrap();
    let nyckel_protocol::QrPayload::Enroll(qr2) = nyckel_protocol::QrPayload::parse(&again.qr).unwrap() else {
        panic!()
    };
    assert_eq!(qr2.server_key, qr.server_key);
    // Every secret in the data directory is sealed under the KEK, owner-only.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sealed") {
            let mode = std::os::unix::fs::PermissionsExt::mode(&entry.metadata().unwrap().permissions());
            assert_eq!(mode & 0o077, 0, "{name}");
        }
    }
    assert!(!dir.path().join(nyckel_server::files::SIGNING_KEY_FILE).exists());
    drop(server);

    // The audit log verifies; an entry edited in the database is found.
    let out = cmd(dir.path(), &["audit", "verify"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        let audit = db.open_tree("audit").unwrap();
        let (key, value) = audit.iter().nth(1).unwrap().unwrap();
        let mut event: serde_json::Value = serde_json::from_slice(&value).unwrap();
        event["actor"] = serde_json::json!("someone else");
        audit.insert(key, serde_json::to_vec(&event).unwrap()).unwrap();
        db.flush().unwrap();
    }
    let out = cmd(dir.path(), &["audit", "verify"]);
    assert!(!out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.to_lowercase().contains("2"), "{report}");

    // A world-readable KEK is refused: the server does not start.
    let loose = dir.path().with_extension("loose-kek");
    std::fs::write(&loose, [7u8; 32]).unwrap();
    std::fs::set_permissions(&loose, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .env("NYCKEL_KEK_FILE", &loose)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("group") || err.contains("others") || err.contains("readable"), "{err}");
}

/// Operations (issue 10): settings from a file, health and readiness, Prometheus metrics,
/// and a graceful shutdown on SIGTERM that answers a waiting long poll at once.
#[tokio::test]
async fn settings_file_health_metrics_and_a_graceful_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cmd(dir.path(), &["tenant", "add", common::TENANT, common::ORGANISATION]).status.success());
    assert!(cmd(dir.path(), &["user", "add", "alice"]).status.success());
    let rp_key = String::from_utf8(cmd(dir.path(), &["rp", "add", "portal"]).stdout).unwrap().trim().to_owned();
    // Every setting of `serve` from the file (the KEK too), none on the command line.
    let settings = dir.path().with_extension("env");
    std::fs::write(
        &settings,
        format!(
            "# Nyckel\nNYCKEL_DATA_DIR={}\nNYCKEL_KEK_FILE={}\nNYCKEL_LISTEN=127.0.0.1:0\nNYCKEL_LOG_FORMAT=json\n",
            dir.path().display(),
            kek_path(dir.path()).display()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["--config", settings.to_str().unwrap(), "serve"])
        .env_remove("NYCKEL_KEK_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {line:?}")).to_owned();
    let mut server = Running(child, base.clone());
    let http = common::client();

    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().text().await.unwrap(), "ok\n");
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200);

    // A phone waits in a long poll; SIGTERM answers it at once and the server exits cleanly.
    let started: nyckel_protocol::enrollment::EnrollmentStarted = http
        .post(format!("{base}/v1/enrollments"))
        .bearer_auth(&rp_key)
        .json(&serde_json::json!({"user": "alice", "device_name": "Phone"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let nyckel_protocol::QrPayload::Enroll(qr) = nyckel_protocol::QrPayload::parse(&started.qr).unwrap() else {
        panic!()
    };
    let key = nyckel_protocol::SoftwareDeviceKey::generate().unwrap();
    let (_ephemeral, share) = nyckel_protocol::agreement::EphemeralKey::generate().unwrap();
    let req = nyckel_protocol::CompleteEnrollment::create(&qr, &key, &share, "Linux").unwrap();
    let receipt: nyckel_protocol::EnrollmentReceipt =
        http.post(format!("{base}/v1/enroll")).json(&req).send().await.unwrap().json().await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let path = "/v1/device/challenges?wait=30";
    let auth = nyckel_protocol::RequestAuth::sign(&key, &receipt.device_id, "GET", path, b"", now).unwrap();
    let mut poll = http.get(format!("{base}{path}"));
    for (n, v) in auth.to_headers() {
        poll = poll.header(n, v);
    }
    let waiting = tokio::spawn(async move {
        let t0 = std::time::Instant::now();
        let status = poll.send().await.unwrap().status();
        (status, t0.elapsed())
    });
    // The poll is open once the metrics count it.
    let mut open = false;
    for _ in 0..200 {
        let text = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        if text.lines().any(|l| l == "nyckel_open_long_polls 1") {
            assert!(text.contains("# TYPE nyckel_delivery_seconds histogram"), "{text}");
            open = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(open, "the long poll never showed in /metrics");
    let child = &mut server.0;
    // SAFETY: kill(2) with a pid we own; no memory is involved.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let (status, waited) = waiting.await.unwrap();
    assert_eq!(status, 200);
    assert!(waited < std::time::Duration::from_secs(10), "the long poll waited {waited:?}");
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    // JSON request logs, without query strings.
    let request_line = logs.lines().find(|l| l.contains("/v1/enrollments")).unwrap_or_else(|| panic!("{logs}"));
    let parsed: serde_json::Value = serde_json::from_str(request_line).unwrap();
    assert_eq!(parsed["fields"]["status"], 200);
    assert!(!logs.contains("wait=30"), "a query string was logged");
}
