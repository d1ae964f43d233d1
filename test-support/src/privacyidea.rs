//! The admin API of the live privacyIDEA 3.14 that scripts/privacyidea/start.sh runs (its
//! `export` lines give NYCKEL_PRIVACYIDEA_URL and the admin login), playing the login page.

use serde_json::Value;

/// A logged-in admin session at the live privacyIDEA.
pub struct PiAdmin {
    /// The server's base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    http: reqwest::Client,
    auth: String,
}

impl PiAdmin {
    /// Logs in as the admin, or returns `None` (after saying so loudly) when no live server is
    /// configured — which panics instead when NYCKEL_PRIVACYIDEA_REQUIRED is set, so CI cannot
    /// pass by skipping. The caller installs the process's rustls crypto provider first.
    pub async fn connect() -> Option<PiAdmin> {
        let Ok(url) = std::env::var("NYCKEL_PRIVACYIDEA_URL") else {
            assert!(
                std::env::var("NYCKEL_PRIVACYIDEA_REQUIRED").is_err(),
                "NYCKEL_PRIVACYIDEA_REQUIRED is set but NYCKEL_PRIVACYIDEA_URL is not: start privacyIDEA first"
            );
            // Written past libtest's capture (which only takes print!/eprint!), so a skip
            // shows even when the test passes.
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIPPED: no live privacyIDEA (NYCKEL_PRIVACYIDEA_URL unset). Run scripts/test.sh, or\n\
                 !!!!! eval \"$(scripts/privacyidea/start.sh)\" before cargo test.\n"
            );
            return None;
        };
        let http = reqwest::Client::new();
        let admin = std::env::var("NYCKEL_PRIVACYIDEA_ADMIN").expect("NYCKEL_PRIVACYIDEA_ADMIN with the URL");
        let password = std::env::var("NYCKEL_PRIVACYIDEA_PASSWORD").expect("NYCKEL_PRIVACYIDEA_PASSWORD with the URL");
        let response = http
            .post(format!("{url}/auth"))
            .form(&[("username", admin.as_str()), ("password", password.as_str())])
            .send()
            .await
            .expect("privacyIDEA /auth");
        let body: Value = response.json().await.expect("privacyIDEA /auth answers JSON");
        let auth = body["result"]["value"]["token"].as_str().expect("admin login").to_owned();
        Some(PiAdmin { url, http, auth })
    }

    /// The server's `host:port`, as the phone shows it.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// A form POST to an admin endpoint; the JSON answer.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let response =
            self.http.post(format!("{}{path}", self.url)).header("Authorization", &self.auth).form(form).send().await;
        response.expect("privacyIDEA POST").json().await.expect("privacyIDEA answers JSON")
    }

    /// A GET of an admin endpoint; the JSON answer.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response =
            self.http.get(format!("{}{path}", self.url)).header("Authorization", &self.auth).query(query).send().await;
        response.expect("privacyIDEA GET").json().await.expect("privacyIDEA answers JSON")
    }

    /// Enrolls a token of `kind` for `user` in realm1: (serial, the enrollment's QR content at
    /// `key` — `pushurl`, `tiqrenroll` or `googleurl`).
    pub async fn init(&self, kind: &str, user: &str, key: &str) -> (String, String) {
        let mut form = vec![("type", kind), ("user", user), ("realm", "realm1")];
        if kind != "tiqr" {
            form.push(("genkey", "1"));
        }
        let body = self.post("/token/init", &form).await;
        let code = body["detail"][key]["value"].as_str().unwrap_or_else(|| panic!("token/init: {body}")).to_owned();
        let serial = body["detail"]["serial"].as_str().unwrap_or_else(|| panic!("token/init: {body}")).to_owned();
        (serial, code)
    }

    /// Starts a login for `serial` (the login page's `/validate/triggerchallenge`); returns
    /// the transaction and the challenge entry the login page gets.
    pub async fn trigger(&self, user: &str, serial: &str) -> (String, Value) {
        let body =
            self.post("/validate/triggerchallenge", &[("user", user), ("realm", "realm1"), ("serial", serial)]).await;
        let transaction =
            body["detail"]["transaction_id"].as_str().unwrap_or_else(|| panic!("trigger: {body}")).to_owned();
        (transaction, body["detail"]["multi_challenge"][0].clone())
    }

    /// `/validate/polltransaction`: the login page's view (`challenge_status`).
    pub async fn status(&self, transaction: &str) -> String {
        let body = self.get("/validate/polltransaction", &[("transaction_id", transaction)]).await;
        body["detail"]["challenge_status"].as_str().unwrap_or_else(|| panic!("polltransaction: {body}")).to_owned()
    }

    /// Finalises the login: `ACCEPT` or `REJECT`.
    pub async fn finalize(&self, user: &str, transaction: &str, pass: &str) -> String {
        let form = [("user", user), ("realm", "realm1"), ("transaction_id", transaction), ("pass", pass)];
        let body = self.post("/validate/check", &form).await;
        body["result"]["authentication"].as_str().unwrap_or_else(|| panic!("check: {body}")).to_owned()
    }
}
