//! The `nyckel` binary against a real privacyIDEA 3.14 started by scripts/privacyidea/start.sh
//! (its `export` lines give NYCKEL_PRIVACYIDEA_URL and the admin login): register push, tiqr
//! and HOTP/TOTP codes, `approve` in one list with the service shown (accept, decline with a
//! reason, a wrong number, the local PIN gate, a tiqr login with a wrong then the right PIN),
//! `otp` for the tiqr offline response, `devices` and `list`. Without the server these tests
//! say so loudly and pass, unless NYCKEL_PRIVACYIDEA_REQUIRED=1 (scripts/test.sh sets it) makes
//! a missing server a failure — the rule of core/tests/privacyidea.rs.

use std::process::{Command, Output};

use nyckel_test_support::privacyidea::PiAdmin;

/// The live privacyIDEA's admin API (the login page's side) and the CLI's vault directory.
struct Pi {
    admin: PiAdmin,
    dir: tempfile::TempDir,
}

/// The admin calls (`init`, `trigger`, `status`, `post`, `get`) read as the server's own.
impl std::ops::Deref for Pi {
    type Target = PiAdmin;
    fn deref(&self) -> &PiAdmin {
        &self.admin
    }
}

impl Pi {
    async fn connect() -> Option<Pi> {
        nyckel_core::server_api::install_crypto_provider();
        let admin = PiAdmin::connect().await?;
        let pi = Pi { admin, dir: tempfile::tempdir().unwrap() };
        pi.ok(&["init", "--kdf-memory-kib", "256", "--kdf-iterations", "1"], &[]).await;
        Some(pi)
    }

    /// The PNG of a `data:image/png;base64,…` image privacyIDEA sends, written to a file.
    fn png(&self, data_url: &str, name: &str) -> String {
        use base64::Engine as _;
        let encoded =
            data_url.strip_prefix("data:image/png;base64,").unwrap_or_else(|| panic!("not a PNG: {data_url:.40}"));
        let path = self.dir.path().join(name);
        std::fs::write(&path, base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nyckel"));
        command
            .args(args)
            .env("NYCKEL_VAULT", self.dir.path().join("vault"))
            .env("NYCKEL_PASSPHRASE", "vault pass")
            .env_remove("NYCKEL_PIN")
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
        assert!(!output.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&output.stdout));
        assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
        assert!(stderr.starts_with("nyckel: ") && !stderr.contains("panicked"), "{stderr}");
        stderr
    }
}

#[tokio::test]
async fn push_register_approve_decline_with_reason_and_devices() {
    let Some(pi) = Pi::connect().await else { return };
    let (serial, code) = pi.init("push", "alice", "pushurl").await;
    let out = pi.ok(&["register", &code], &[]).await;
    assert!(out.contains(&format!("registered privacyIDEA push token pipush:{serial}@{}", pi.host())), "{out}");
    assert!(out.contains("PIN:         none"), "{out}");
    let out = pi.ok(&["devices"], &[]).await;
    assert!(out.contains(&format!("pipush:{serial}@")) && out.contains("provider:    privacyIDEA"), "{out}");

    assert_eq!(pi.ok(&["approve"], &[]).await.trim(), "no pending requests");
    let (transaction, _) = pi.trigger("alice", &serial).await;
    let out = pi.ok(&["approve"], &[]).await;
    assert!(out.contains("Provider:    privacyIDEA"), "{out}");
    assert!(out.contains(&format!("Service:     privacyIDEA ({})", pi.host())), "{out}");
    assert!(out.contains("Question:    Do you want to confirm the login?"), "{out}");
    assert!(out.trim_end().ends_with("approved"), "{out}");
    assert_eq!(pi.status(&transaction).await, "accept");
    // Answered: not offered again by the next run.
    assert_eq!(pi.ok(&["approve"], &[]).await.trim(), "no pending requests");

    let (transaction, _) = pi.trigger("alice", &serial).await;
    let out = pi.ok(&["approve", "--deny", "--reason", "cancelled"], &[]).await;
    assert!(out.trim_end().ends_with("declined"), "{out}");
    assert_eq!(pi.status(&transaction).await, "cancelled");
}

#[tokio::test]
async fn a_wrong_number_is_refused_and_the_local_gate_counts_wrong_pins() {
    let Some(pi) = Pi::connect().await else { return };
    // Number matching (carol's policy).
    let (serial, code) = pi.init("push", "carol", "pushurl").await;
    pi.ok(&["register", &code], &[]).await;
    let (transaction, shown) = pi.trigger("carol", &serial).await;
    let right = shown["presence_answer"].as_str().unwrap().to_owned();
    let wrong = if right == "00" { "01" } else { "00" };
    // A number that is not an option is refused before anything is sent.
    let error = pi.fails(&["approve"], &[("NYCKEL_NUMBER", wrong)]).await;
    assert!(error.contains("not one of the options"), "{error}");
    assert_eq!(pi.status(&transaction).await, "pending");
    let out = pi.ok(&["approve"], &[("NYCKEL_NUMBER", &right)]).await;
    assert!(out.contains("Number:      pick the one your login page shows"), "{out}");
    assert!(out.trim_end().ends_with("approved"), "{out}");
    assert_eq!(pi.status(&transaction).await, "accept");

    // The app PIN (erin's enrollment policy): a gate on this computer only.
    let (serial, code) = pi.init("push", "erin", "pushurl").await;
    let out = pi.ok(&["register", &code], &[("NYCKEL_PIN", "2468")]).await;
    assert!(out.contains("checked on this phone only"), "{out}");
    let (transaction, _) = pi.trigger("erin", &serial).await;
    let filter = format!("pipush:{serial}");
    let error = pi.fails(&["approve", "--registration", &filter], &[("NYCKEL_PIN", "1357")]).await;
    assert!(error.contains("wrong app PIN (4 attempts left)"), "{error}");
    assert_eq!(pi.status(&transaction).await, "pending");
    let error = pi.fails(&["approve", "--registration", &filter], &[("NYCKEL_PIN", "0000")]).await;
    assert!(error.contains("3 attempts left"), "the count is kept between runs: {error}");
    let out = pi.ok(&["approve", "--registration", &filter], &[("NYCKEL_PIN", "2468")]).await;
    assert!(out.contains("local gate"), "{out}");
    assert_eq!(pi.status(&transaction).await, "accept");
}

#[tokio::test]
async fn tiqr_register_login_wrong_pin_counted_and_offline_response() {
    let Some(pi) = Pi::connect().await else { return };
    let (serial, code) = pi.init("tiqr", "hank", "tiqrenroll").await;
    let out = pi.ok(&["register", &code], &[("NYCKEL_PIN", "2468")]).await;
    assert!(out.contains("registered tiqr token tiqr:hank_realm1@org.privacyidea"), "{out}");
    assert!(out.contains("checked and counted by the server"), "{out}");

    let (transaction, shown) = pi.trigger("hank", &serial).await;
    let login = shown["attributes"]["value"].as_str().unwrap().to_owned();
    let error = pi.fails(&["approve", &login], &[("NYCKEL_PIN", "1357")]).await;
    assert!(error.contains("wrong response"), "{error}");
    let info = pi.get("/token/", &[("serial", &serial)]).await;
    assert_eq!(info["result"]["value"]["tokens"][0]["failcount"], 1, "the server counted it");
    let out = pi.ok(&["approve", &login], &[("NYCKEL_PIN", "2468")]).await;
    assert!(out.contains("Provider:    tiqr") && out.contains(&format!("({})", pi.host())), "{out}");
    assert!(out.trim_end().ends_with("approved"), "{out}");
    assert_eq!(pi.status(&transaction).await, "accept");

    let (_, shown) = pi.trigger("hank", &serial).await;
    let login = shown["attributes"]["value"].as_str().unwrap().to_owned();
    let out = pi.ok(&["otp", &login], &[("NYCKEL_PIN", "2468")]).await;
    let response = out.lines().find_map(|line| line.strip_prefix("Response: ")).expect("a response line");
    assert!(response.len() == 6 && response.bytes().all(|b| b.is_ascii_digit()), "{out}");
}

#[tokio::test]
async fn privacyidea_hotp_and_totp_import_with_serial_and_log_in() {
    let Some(pi) = Pi::connect().await else { return };
    for kind in ["hotp", "totp"] {
        let (serial, uri) = pi.init(kind, "ivan", "googleurl").await;
        let out = pi.ok(&["register", &uri], &[]).await;
        assert!(out.contains(&format!("(serial {serial}, created by privacyidea)")), "{out}");
        let list = pi.ok(&["list"], &[]).await;
        assert!(list.contains(&format!("[privacyidea serial {serial}]")), "{list}");
        let out = pi.ok(&["code", &serial], &[]).await;
        let code = out.split_whitespace().find(|word| word.len() == 6 && word.bytes().all(|b| b.is_ascii_digit()));
        let code = code.unwrap_or_else(|| panic!("no code in {out}"));
        let body = pi.post("/validate/check", &[("serial", &serial), ("pass", code)]).await;
        assert_eq!(body["result"]["authentication"], "ACCEPT", "{kind}: {body}");
    }
}

/// The QR images privacyIDEA itself draws: `register --qr` for a push token, `approve --qr`
/// for a tiqr login.
#[tokio::test]
async fn register_and_approve_from_privacyideas_own_qr_images() {
    let Some(pi) = Pi::connect().await else { return };
    let body = pi.post("/token/init", &[("type", "push"), ("genkey", "1"), ("user", "bob"), ("realm", "realm1")]).await;
    let serial = body["detail"]["serial"].as_str().unwrap().to_owned();
    let image = pi.png(body["detail"]["pushurl"]["img"].as_str().unwrap(), "push.png");
    let out = pi.ok(&["register", "--qr", &image], &[]).await;
    assert!(out.contains(&format!("registered privacyIDEA push token pipush:{serial}@")), "{out}");

    let body = pi.post("/token/init", &[("type", "tiqr"), ("user", "frank"), ("realm", "realm1")]).await;
    let serial = body["detail"]["serial"].as_str().unwrap().to_owned();
    let image = pi.png(body["detail"]["tiqrenroll"]["img"].as_str().unwrap(), "tiqr.png");
    pi.ok(&["register", "--qr", &image], &[("NYCKEL_PIN", "2468")]).await;
    let (transaction, shown) = pi.trigger("frank", &serial).await;
    let image = pi.png(shown["attributes"]["img"].as_str().unwrap(), "login.png");
    let out = pi.ok(&["approve", "--qr", &image], &[("NYCKEL_PIN", "2468")]).await;
    assert!(out.contains("Provider:    tiqr") && out.trim_end().ends_with("approved"), "{out}");
    assert_eq!(pi.status(&transaction).await, "accept");
}
