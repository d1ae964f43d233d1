//! The phone commands of the `nyckel` binary against a real server on 127.0.0.1 (in this
//! process): register (text and --qr image), approve (number matching, transaction lines
//! verbatim, wrong PIN then right PIN, deny, fraud, --watch), otp, devices, history, pin.
//! Lives here rather than in tests/ because only this package's tests get the binary's path.

use std::path::PathBuf;
use std::process::{Command, Output};

use nyckel_protocol::wire::relying_party::{ChallengeStatus, PushChallengeCreated, QrChallengeCreated};
use nyckel_protocol::{ChallengeId, ChallengeState};

const PIN: &str = "4711";

struct Setup {
    dir: tempfile::TempDir,
    url: String,
    rp_key: String,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    /// The running server's sled database (to alter its audit log).
    sled: nyckel_server::store::SledStore,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Setup {
    async fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("server");
        nyckel_server::admin::add_tenant(&data, "acme", "Acme Trade").unwrap();
        nyckel_server::admin::add_user(&data, "acme", "alice").unwrap();
        nyckel_server::admin::add_user(&data, "acme", "bob").unwrap();
        let rp_key = nyckel_server::admin::add_relying_party(&data, "acme", "portal").unwrap().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let kek_file = dir.path().join("kek");
        nyckel_server::secrets::Kek::create_file(&kek_file, &data).unwrap();
        let config =
            nyckel_server::ServerConfig { kek_file: Some(kek_file), ..nyckel_server::ServerConfig::new(&data) };
        let server = nyckel_server::Server::open(listener, config).await.unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        let sled = server.sled().expect("the CLI tests' server runs on sled");
        let server = tokio::spawn(async move {
            let _ = server.run().await;
        });
        nyckel_core::server_api::install_crypto_provider();
        let setup = Setup { dir, url, rp_key, http: reqwest::Client::new(), server, sled };
        setup.ok(&["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"], &[]).await;
        setup
    }

    fn vault(&self) -> PathBuf {
        self.dir.path().join("vault")
    }

    /// Runs the binary off the runtime's threads (the server keeps serving meanwhile).
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nyckel"));
        command
            .args(args)
            .env("NYCKEL_VAULT", self.vault())
            .env("NYCKEL_PASSPHRASE", "vault pass")
            .env_remove("NYCKEL_PIN")
            .env_remove("NYCKEL_NEW_PIN")
            .env_remove("NYCKEL_NUMBER")
            .env_remove("NYCKEL_TIME");
        for (name, value) in env {
            command.env(name, value);
        }
        tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
    }

    async fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let output = self.run(args, env).await;
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// A command that must fail with exactly one `nyckel:` line.
    async fn fails(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let output = self.run(args, env).await;
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
        assert!(stderr.starts_with("nyckel: ") && !stderr.contains("panicked"), "{stderr}");
        stderr
    }

    async fn rp(&self, method: reqwest::Method, path: &str, body: serde_json::Value) -> reqwest::Response {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.rp_key);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response
    }

    async fn enrollment(&self, user: &str) -> serde_json::Value {
        let body = serde_json::json!({"user": user, "device_name": format!("{user}'s laptop")});
        self.rp(reqwest::Method::POST, "/v1/enrollments", body).await.json().await.unwrap()
    }

    async fn push(&self, body: serde_json::Value) -> PushChallengeCreated {
        self.rp(reqwest::Method::POST, "/v1/challenges/push", body).await.json().await.unwrap()
    }

    async fn state(&self, challenge: &ChallengeId) -> ChallengeState {
        let path = format!("/v1/challenges/{challenge}?wait=0");
        let status: ChallengeStatus =
            self.rp(reqwest::Method::GET, &path, serde_json::Value::Null).await.json().await.unwrap();
        status.state
    }
}

fn payee_change(user: &str) -> serde_json::Value {
    serde_json::json!({
        "user": user,
        "context": {"service": "Trade portal", "action": "Change payee", "browser": "Firefox on Linux",
                    "ip": "192.0.2.7", "place": "Stockholm, SE"},
        "transaction": [{"key": "New foreign account", "value": "BIC REVOLT21, IBAN LT60 3250 0123 4567"},
                        {"key": "Limit", "value": "5 000,00 EUR / day"}],
        "number_matching": "choose"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_approve_deny_fraud_otp_and_devices_from_the_command_line() {
    let s = Setup::start().await;

    // Register alice from the code's text (PIN from the environment, as a script would).
    let started = s.enrollment("alice").await;
    let out = s.ok(&["register", started["qr"].as_str().unwrap()], &[("NYCKEL_PIN", PIN)]).await;
    assert!(out.contains("registered") && out.contains("alice"), "{out}");
    let alice = out.split_whitespace().nth(1).unwrap().to_owned();
    // Register bob by scanning the server's PNG rendering of the code.
    let started = s.enrollment("bob").await;
    let png = s
        .rp(
            reqwest::Method::GET,
            &format!("/v1/enrollments/{}/qr.png", started["enrollment_id"].as_str().unwrap()),
            serde_json::Value::Null,
        )
        .await
        .bytes()
        .await
        .unwrap();
    let image = s.dir.path().join("enroll.png");
    std::fs::write(&image, &png).unwrap();
    let out = s.ok(&["register", "--qr", image.to_str().unwrap()], &[("NYCKEL_PIN", PIN)]).await;
    assert!(out.contains("bob"), "{out}");

    // Push with number matching and transaction lines: printed verbatim, approved with number and PIN.
    let created = s.push(payee_change("alice")).await;
    let number = created.number.clone().unwrap();
    let out = s.ok(&["approve"], &[("NYCKEL_PIN", PIN), ("NYCKEL_NUMBER", &number)]).await;
    for expected in [
        "Service:     Trade portal",
        "Action:      Change payee",
        "Browser:     Firefox on Linux",
        "IP address:  192.0.2.7",
        "Place:       Stockholm, SE",
        "    New foreign account: BIC REVOLT21, IBAN LT60 3250 0123 4567",
        "    Limit: 5 000,00 EUR / day",
        &number,
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(out.trim_end().ends_with("approved"), "{out}");
    assert_eq!(s.state(&created.challenge_id).await, ChallengeState::Approved);
    assert!(s.ok(&["approve"], &[("NYCKEL_PIN", PIN)]).await.contains("no pending requests"));

    // A wrong PIN: one error line, the request stays open; the next run offers it again.
    let created =
        s.push(serde_json::json!({"user": "alice", "context": {"service": "Trade portal", "action": "Sign in"}, "number_matching": "none"})).await;
    let error = s.fails(&["approve"], &[("NYCKEL_PIN", "0000")]).await;
    assert!(error.contains("wrong PIN") && error.contains("4 attempts left"), "{error}");
    assert_eq!(s.state(&created.challenge_id).await, ChallengeState::Pending);
    assert!(s.ok(&["approve"], &[("NYCKEL_PIN", PIN)]).await.trim_end().ends_with("approved"));
    assert_eq!(s.state(&created.challenge_id).await, ChallengeState::Approved);

    // Deny and fraud need no PIN.
    let created =
        s.push(serde_json::json!({"user": "bob", "context": {"service": "Trade portal", "action": "Sign in"}, "number_matching": "none"})).await;
    assert!(s.ok(&["approve", "--deny"], &[]).await.trim_end().ends_with("denied"));
    assert_eq!(s.state(&created.challenge_id).await, ChallengeState::Denied);
    let created =
        s.push(serde_json::json!({"user": "bob", "context": {"service": "Trade portal", "action": "Sign in"}, "number_matching": "none"})).await;
    assert!(s.ok(&["approve", "--fraud"], &[]).await.trim_end().ends_with("reported as fraud"));
    assert_eq!(s.state(&created.challenge_id).await, ChallengeState::Fraud);

    // --watch answers requests as they arrive (here: one, then it stops).
    let watcher = {
        let args = ["approve", "--watch", "--count", "1"];
        let mut command = Command::new(env!("CARGO_BIN_EXE_nyckel"));
        command.args(args).env("NYCKEL_VAULT", s.vault()).env("NYCKEL_PASSPHRASE", "vault pass").env("NYCKEL_PIN", PIN);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let created =
        s.push(serde_json::json!({"user": "bob", "context": {"service": "Trade portal", "action": "Sign in"}, "number_matching": "none"})).await;
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), watcher).await.unwrap().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("approved"));
    assert_eq!(s.state(&created.challenge_id).await, ChallengeState::Approved);

    // QR one-time password: offline, 8 digits, accepted by the server.
    let qr: QrChallengeCreated = s
        .rp(
            reqwest::Method::POST,
            "/v1/challenges/qr",
            serde_json::json!({"user": "alice", "service": "Trade portal", "action": "Pay",
                               "transaction": [{"key": "Amount", "value": "12,50 EUR"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    // Both registrations are with this server: the code does not say which account, so the user picks.
    let error = s.fails(&["otp", &qr.qr], &[("NYCKEL_PIN", PIN)]).await;
    assert!(error.contains("--registration") && error.contains(&alice), "{error}");
    let out = s.ok(&["otp", &qr.qr, "--registration", &alice[..6]], &[("NYCKEL_PIN", PIN)]).await;
    assert!(out.contains("    Amount: 12,50 EUR"), "{out}");
    let otp = out.split_whitespace().last().unwrap().to_owned();
    assert!(otp.len() == 8 && otp.bytes().all(|b| b.is_ascii_digit()), "{out}");
    let status: ChallengeStatus = s
        .rp(reqwest::Method::POST, &format!("/v1/challenges/{}/otp", qr.challenge_id), serde_json::json!({"otp": otp}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status.state, ChallengeState::Approved);

    // devices: both registrations, with the server's view.
    let out = s.ok(&["devices"], &[]).await;
    assert_eq!(out.matches("at server:   active, 0 wrong PIN(s)").count(), 2, "{out}");
    assert!(out.contains("alice's laptop") && out.contains("bob's laptop"), "{out}");

    // history: every answer and code, with receipts, never the OTP; --check agrees.
    let out = s.ok(&["history", &alice[..6]], &[]).await;
    assert_eq!(out.lines().count(), 4, "{out}");
    assert_eq!(out.matches("receipt ✓").count(), 2, "{out}");
    assert!(out.contains("error:wrong_pin") && out.contains("otp  offline") && !out.contains(&otp), "{out}");
    let out = s.ok(&["history"], &[]).await;
    assert!(out.contains("deny  denied  receipt ✓") && out.contains("fraud  fraud  receipt ✓"), "{out}");
    let out = s.ok(&["history", "--check"], &[]).await;
    assert!(out.contains("agrees with the server's audit"), "{out}");

    // The server's audit altered (bob's fraud report turned into an approval): exit 1, and
    // the disagreement is printed.
    let tree = s.sled.audit.tree();
    let (key, mut event) = tree
        .iter()
        .map(|item| item.unwrap())
        .map(|(key, value)| (key, serde_json::from_slice::<nyckel_protocol::wire::audit::AuditEvent>(&value).unwrap()))
        .find(|(_, event)| event.kind == nyckel_protocol::wire::audit::AuditKind::FraudReported)
        .unwrap();
    event.kind = nyckel_protocol::wire::audit::AuditKind::ChallengeApproved;
    tree.insert(key, serde_json::to_vec(&event).unwrap()).unwrap();
    let output = s.run(&["history", "--check"], &[]).await;
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("no fraud_reported event") && stdout.contains("not in this phone's history"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("history check found 2 problem(s)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_commands_fail_with_one_clear_line() {
    let s = Setup::start().await;
    let error = s.fails(&["approve"], &[]).await;
    assert!(error.contains("no registrations"), "{error}");
    let login = "nyckel://login?v=2&r=3rDjjO0eQd4&c=AAAAAAAAAAAAAAAAAAAAAA&n=IiIiIiIiIiIiIiIiIiIiIg&s=Trade%20portal&a=Sign%20in";
    let error = s.fails(&["register", login], &[("NYCKEL_PIN", PIN)]).await;
    assert!(error.contains("not a registration code"), "{error}");
    let error = s.fails(&["otp", login], &[("NYCKEL_PIN", PIN)]).await;
    assert!(error.contains("not registered with"), "{error}");
    let started = s.enrollment("alice").await;
    let error = s.fails(&["register", started["qr"].as_str().unwrap()], &[("NYCKEL_PIN", "12")]).await;
    assert!(error.contains("PIN"), "{error}");
    let error = s.fails(&["register", "--qr", "/nonexistent.png"], &[("NYCKEL_PIN", PIN)]).await;
    assert!(error.contains("/nonexistent.png"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_changes_the_pin_after_the_server_checks_the_current_one() {
    const NEW_PIN: &str = "2580";
    let s = Setup::start().await;
    let started = s.enrollment("alice").await;
    let out = s.ok(&["register", started["qr"].as_str().unwrap()], &[("NYCKEL_PIN", PIN)]).await;
    let alice = out.split_whitespace().nth(1).unwrap().to_owned();

    // A wrong current PIN: one error line with the attempts left; the PIN stays as it was.
    let error = s.fails(&["pin"], &[("NYCKEL_PIN", "0000"), ("NYCKEL_NEW_PIN", NEW_PIN)]).await;
    assert!(error.contains("wrong PIN") && error.contains("4 attempts left"), "{error}");
    // A malformed new PIN is refused before the server is asked (no attempt spent).
    let error = s.fails(&["pin"], &[("NYCKEL_PIN", PIN), ("NYCKEL_NEW_PIN", "12")]).await;
    assert!(error.contains("PIN is 4 to 16 digits"), "{error}");
    assert!(s.ok(&["devices"], &[]).await.contains("active, 1 wrong PIN(s)"));

    // The right current PIN: changed (by a prefix of the registration id).
    let out = s.ok(&["pin", &alice[..6]], &[("NYCKEL_PIN", PIN), ("NYCKEL_NEW_PIN", NEW_PIN)]).await;
    assert!(out.contains("PIN changed"), "{out}");
    assert!(s.ok(&["devices"], &[]).await.contains("active, 0 wrong PIN(s)"));

    // From now on the old PIN is wrong and the new one approves.
    let created =
        s.push(serde_json::json!({"user": "alice", "context": {"service": "Trade portal", "action": "Sign in"}, "number_matching": "none"})).await;
    let error = s.fails(&["approve"], &[("NYCKEL_PIN", PIN)]).await;
    assert!(error.contains("wrong PIN") && error.contains("4 attempts left"), "{error}");
    assert!(s.ok(&["approve"], &[("NYCKEL_PIN", NEW_PIN)]).await.trim_end().ends_with("approved"));
    assert_eq!(s.state(&created.challenge_id).await, ChallengeState::Approved);

    // With several registrations the command asks which one.
    let started = s.enrollment("bob").await;
    s.ok(&["register", started["qr"].as_str().unwrap()], &[("NYCKEL_PIN", PIN)]).await;
    let error = s.fails(&["pin"], &[("NYCKEL_PIN", NEW_PIN), ("NYCKEL_NEW_PIN", PIN)]).await;
    assert!(error.contains("several registrations") && error.contains(&alice), "{error}");
}

/// Adding a phone from the command line: `add-phone` on the registered one, `register
/// --from-device` on the new one (which waits), `approve` of the new-device request with the
/// number the new phone prints, then `devices list` and `devices retire` from the new phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_phone_is_added_and_the_old_one_retired_from_the_command_line() {
    use std::io::BufRead;

    let s = Setup::start().await;
    let started = s.enrollment("alice").await;
    s.ok(&["register", started["qr"].as_str().unwrap()], &[("NYCKEL_PIN", PIN)]).await;
    let code = s.ok(&["add-phone", "--name", "Pixel 9"], &[]).await;
    let code = code.trim().to_owned();
    assert!(code.starts_with("nyckel://enroll?"), "{code}");

    // The new phone: its own vault, its own PIN; it prints the number, then waits.
    let new_vault = s.dir.path().join("new-vault");
    let new_vault_text = new_vault.to_str().unwrap().to_owned();
    s.ok(&["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"], &[("NYCKEL_VAULT", &new_vault_text)]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nyckel"))
        .args(["register", "--from-device", &code])
        .env("NYCKEL_VAULT", &new_vault)
        .env("NYCKEL_PASSPHRASE", "vault pass")
        .env("NYCKEL_PIN", "2580")
        .env_remove("NYCKEL_TIME")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (number, fingerprint, mut lines) = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let (mut number, mut fingerprint) = (None, None);
        while number.is_none() || fingerprint.is_none() {
            let line = lines.next().expect("the new phone printed the number and its code").unwrap();
            if let Some(rest) = line.trim().strip_prefix("number to type there:") {
                number = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.trim().strip_prefix("this phone's code:") {
                fingerprint = rest.split_whitespace().next().map(str::to_owned);
            }
        }
        (number.unwrap(), fingerprint.unwrap(), lines)
    })
    .await
    .unwrap();

    // The registered phone shows the new device and approves it with its PIN and the number.
    let shown = s.ok(&["approve", "--wait", "5"], &[("NYCKEL_PIN", PIN), ("NYCKEL_NUMBER", &number)]).await;
    assert!(shown.contains("ADD A NEW PHONE") && shown.contains("Pixel 9"), "{shown}");
    assert!(shown.contains(&fingerprint), "{shown}");
    assert!(shown.contains("approved"), "{shown}");
    let rest = tokio::task::spawn_blocking(move || {
        let rest: Vec<String> = lines.by_ref().map(Result::unwrap).collect();
        (rest, child.wait().unwrap())
    })
    .await
    .unwrap();
    assert!(rest.1.success(), "{:?}", rest.0);
    assert!(rest.0.iter().any(|line| line.starts_with("registered ")), "{:?}", rest.0);

    // The new phone lists both devices and retires the old one with its own PIN.
    let new_env = [("NYCKEL_VAULT", new_vault_text.as_str()), ("NYCKEL_PIN", "2580")];
    let listed = s.ok(&["devices", "list"], &new_env).await;
    let devices: Vec<&str> = listed.lines().skip(1).filter_map(|line| line.split_whitespace().next()).collect();
    assert_eq!(devices.len(), 2, "{listed}");
    let old = listed.lines().skip(1).find(|line| !line.contains("(this one)")).unwrap();
    let old = old.split_whitespace().next().unwrap().to_owned();
    s.fails(&["devices", "retire", &old], &[("NYCKEL_VAULT", new_vault_text.as_str()), ("NYCKEL_PIN", PIN)]).await;
    s.ok(&["devices", "retire", &old], &new_env).await;
    let listed = s.ok(&["devices", "list"], &new_env).await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    // The old phone is no longer known to the server.
    s.fails(&["approve"], &[("NYCKEL_PIN", PIN)]).await;
}
