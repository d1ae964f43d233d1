//! The portal's rules end to end: a real nyckel-server (in process, on 127.0.0.1) behind the
//! relying-party API, the portal in process with a manual clock, a cookie-keeping HTTP client
//! as the browser, and the phone played by nyckel-core. Nothing sleeps: long polls are
//! answered at once once the phone has answered, and time moves through the manual clock.

use nyckel_portal::accounts::INACTIVE_AFTER;

mod common;

use common::{between, unescape, Harness, PASSWORD, PIN};

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

/// Every stored session record as JSON, with its storage key.
fn stored_sessions(h: &Harness) -> Vec<(sled::IVec, serde_json::Value)> {
    h.portal
        .store
        .sessions()
        .iter()
        .map(|item| {
            let (key, bytes) = item.unwrap();
            (key, serde_json::from_slice(&bytes).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn the_secret_of_an_authenticator_app_being_set_up_is_sealed_in_the_session() {
    let h = Harness::start().await;
    let mut alice = h.browser();
    assert_eq!(alice.sign_in("alice", PASSWORD).await, (303, "/devices".to_owned()));
    alice.get("/totp").await;
    let secret = between(&alice.html, "id=\"totp-secret\">", "<");
    // The set-up survives a reload: the pending secret is kept (sealed) in the session.
    alice.get("/totp").await;
    assert_eq!(between(&alice.html, "id=\"totp-secret\">", "<"), secret);

    // No session record holds the secret (base32 as shown, or in any case); the pending value is
    // a sealed `v1.` value.
    let sessions = stored_sessions(&h);
    for (_, record) in &sessions {
        let raw = record.to_string().to_uppercase();
        assert!(!raw.contains(&secret.to_uppercase()), "the pending secret is stored in the clear: {record}");
    }
    let (_, alice_record) =
        sessions.iter().find(|(_, r)| r["totp_pending"].is_string()).expect("alice's pending set-up");
    let sealed = alice_record["totp_pending"].as_str().unwrap().to_owned();
    assert!(sealed.starts_with("v1."), "{sealed}");

    // Copied onto bob's session record, alice's sealed secret does not open (bound to the
    // account and session): bob is shown a new secret and alice's codes do not confirm his.
    let mut bob = h.browser();
    assert_eq!(bob.sign_in("bob", PASSWORD).await, (303, "/devices".to_owned()));
    bob.get("/devices").await;
    let (bob_key, mut bob_record) =
        stored_sessions(&h).into_iter().find(|(_, r)| r.to_string().contains("\"bob\"")).expect("bob's session");
    bob_record["totp_pending"] = serde_json::json!(sealed);
    h.portal.store.sessions().insert(bob_key, serde_json::to_vec(&bob_record).unwrap()).unwrap();
    bob.get("/totp").await;
    let bobs = between(&bob.html, "id=\"totp-secret\">", "<");
    assert_ne!(bobs, secret);
    let now = nyckel_portal::Clock::now(&*h.clock);
    let alices_code = nyckel_portal::totp::code_at_step(&secret, now / 30).unwrap();
    assert_eq!(bob.post("/totp/confirm", &[("code", &alices_code)]).await.0, 403);
    // Alice's own set-up still completes with her code.
    assert_eq!(alice.post("/totp/confirm", &[("code", &alices_code)]).await, (303, "/home".to_owned()));
}
