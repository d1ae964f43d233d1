//! SMS codes (number verification, sign-in, expiry, single use, block, send limit, the webhook
//! gateway), contact e-mail addresses, device names and the typed enrollment code, and
//! administration per organisation (approvals, unblocking, audit log, who may see what),
//! against a real nyckel-server. Nothing sleeps: time moves through the manual clock.

mod common;

use common::{between, unescape, Harness, PASSWORD, PIN};
use nyckel_portal::audit::AuditKind;
use nyckel_portal::codes::CODE_TTL;
use nyckel_portal::orgs::Role;
use nyckel_portal::sms::{PhoneNumber, SmsError, SmsGateway, WebhookGateway, SEND_WINDOW};

const NUMBER: &str = "+46701234567";

/// Alice (no factor yet) adds and verifies a number at the first sign-in; the browser ends
/// signed in.
async fn alice_with_sms(h: &Harness, browser: &mut common::Browser) {
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/devices".to_owned()));
    browser.get("/sms").await;
    assert_eq!(browser.post("/sms/number", &[("number", "+46 70-123 45 67")]).await, (303, "/sms".to_owned()));
    let code = h.last_sms_code();
    browser.get("/sms").await;
    assert_eq!(browser.post("/sms/verify", &[("code", &code)]).await, (303, "/home".to_owned()));
    browser.get("/home").await;
}

#[tokio::test]
async fn a_mobile_number_is_verified_by_a_code_and_then_signs_in_with_single_use_codes() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/devices".to_owned()));
    browser.get("/sms").await;
    // Malformed numbers are refused, each with its reason, and nothing is sent.
    for (typed, text) in [
        ("070-123 45 67", "must start with +"),
        ("+46 70", "8 to 15 digits"),
        ("+0701234567", "No country code starts with 0"),
        ("+46 70 12x 45 67", "must start with +"),
    ] {
        assert_eq!(browser.post("/sms/number", &[("number", typed)]).await.0, 400, "{typed}");
        assert!(browser.html.contains(text), "{typed}: {}", browser.html);
    }
    assert!(h.sms().is_empty());
    assert_eq!(browser.post("/sms/number", &[("number", "+46 70-123 45 67")]).await, (303, "/sms".to_owned()));
    let sent = h.sms();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, NUMBER);
    let code = h.last_sms_code();
    browser.get("/sms").await;
    assert!(browser.html.contains("not verified"));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(browser.post("/sms/verify", &[("code", wrong)]).await.0, 403);
    assert!(h.portal.sms.verified_number("alice").unwrap().is_none(), "a wrong code verifies nothing");
    // The right code ends the first sign-in: the number is now the account's factor.
    assert_eq!(browser.post("/sms/verify", &[("code", &code)]).await, (303, "/home".to_owned()));
    assert_eq!(h.portal.sms.verified_number("alice").unwrap().unwrap().as_str(), NUMBER);
    browser.get("/home").await;
    browser.post("/logout", &[]).await;

    // Sign in: the factor page offers SMS; a code arrives; it works once.
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
    browser.get("/factor").await;
    assert!(browser.html.contains("id=\"sms\""));
    assert_eq!(
        browser.post("/factor/sms/verify", &[("code", &code)]).await.0,
        403,
        "the verification code is not a sign-in code"
    );
    browser.get("/factor").await;
    assert_eq!(browser.post("/factor/sms", &[]).await, (303, "/factor/sms".to_owned()));
    browser.get("/factor/sms").await;
    assert!(browser.html.contains("•567") && !browser.html.contains(NUMBER), "the number is masked");
    let sign_in_code = h.last_sms_code();
    assert!(h.sms().last().unwrap().text.contains("5 minutes"));
    let before = browser.cookie.clone();
    assert_eq!(browser.post("/factor/sms/verify", &[("code", &sign_in_code)]).await, (303, "/home".to_owned()));
    assert_ne!(browser.cookie, before, "a new session id once signed in");
    browser.get("/home").await;
    browser.post("/logout", &[]).await;
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor/sms").await;
    assert_eq!(browser.post("/factor/sms/verify", &[("code", &sign_in_code)]).await.0, 403, "used once");
    assert!(browser.html.contains("No code is waiting"));
    assert_eq!(browser.get("/home").await, (303, "/factor".to_owned()));
}

#[tokio::test]
async fn an_sms_code_expires_after_five_minutes() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    alice_with_sms(&h, &mut browser).await;
    browser.post("/logout", &[]).await;
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    browser.post("/factor/sms", &[]).await;
    let code = h.last_sms_code();
    h.clock.advance(CODE_TTL);
    browser.get("/factor/sms").await;
    assert_eq!(browser.post("/factor/sms/verify", &[("code", &code)]).await.0, 403);
    assert!(browser.html.contains("expired"), "{}", browser.html);
    assert_eq!(browser.get("/home").await, (303, "/factor".to_owned()));
}

#[tokio::test]
async fn wrong_sms_codes_count_towards_the_accounts_block() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    alice_with_sms(&h, &mut browser).await;
    browser.post("/logout", &[]).await;
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    browser.post("/factor/sms", &[]).await;
    let code = h.last_sms_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for n in 1..=4 {
        browser.get("/factor/sms").await;
        assert_eq!(browser.post("/factor/sms/verify", &[("code", wrong)]).await.0, 403);
        assert_eq!(h.portal.accounts.get("alice").unwrap().unwrap().failures, n);
    }
    browser.get("/factor/sms").await;
    assert_eq!(browser.post("/factor/sms/verify", &[("code", wrong)]).await.0, 403);
    assert!(h.portal.accounts.get("alice").unwrap().unwrap().blocked, "the fifth wrong code blocks");
    assert!(browser.html.contains("blocked"));
    // The session went back to the start; the right code is no use now.
    assert_eq!(browser.get("/factor/sms").await, (303, "/".to_owned()));
    assert_eq!(browser.sign_in("alice", PASSWORD).await.0, 403);
    let (events, _) = h.portal.audit.page("", None).unwrap();
    assert!(events.iter().any(|e| e.kind == AuditKind::AccountBlocked && e.account == "alice"));
}

#[tokio::test]
async fn sms_sending_is_limited_per_account() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    alice_with_sms(&h, &mut browser).await; // one message
    browser.post("/logout", &[]).await;
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    assert_eq!(browser.post("/factor/sms", &[]).await.0, 303);
    browser.get("/factor/sms").await;
    assert_eq!(browser.post("/factor/sms", &[]).await.0, 303);
    browser.get("/factor/sms").await;
    assert_eq!(browser.post("/factor/sms", &[]).await.0, 429, "the fourth message within ten minutes");
    assert!(browser.html.contains("Too many text messages"));
    assert_eq!(h.sms().len(), 3);
    // The refused request issued no code: the last one sent still works.
    let last = h.last_sms_code();
    browser.get("/factor/sms").await;
    assert_eq!(browser.post("/factor/sms/verify", &[("code", &last)]).await, (303, "/home".to_owned()));
    browser.get("/home").await;
    browser.post("/logout", &[]).await;
    // After the window, sending works again.
    h.clock.advance(SEND_WINDOW);
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    assert_eq!(browser.post("/factor/sms", &[]).await.0, 303);
    assert_eq!(h.sms().len(), 4);
    // Another account is not affected by alice's count.
    assert!(h.portal.sms.send("bob", &PhoneNumber::parse("+4520123456").unwrap(), "hi").await.is_ok());
}

#[tokio::test]
async fn the_webhook_gateway_posts_json_with_the_bearer_token_and_reports_failures() {
    use axum::http::HeaderMap;
    use axum::routing::post;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Option<String>, serde_json::Value)>();
    let app = axum::Router::new()
        .route(
            "/ok",
            post(move |headers: HeaderMap, axum::Json(body): axum::Json<serde_json::Value>| {
                let tx = tx.clone();
                async move {
                    let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
                    tx.send((auth, body)).unwrap();
                    "queued"
                }
            }),
        )
        .route("/fail", post(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let number = PhoneNumber::parse("+46701234567").unwrap();
    let timeout = std::time::Duration::from_secs(5);

    let gateway = WebhookGateway::new(&format!("http://{addr}/ok"), "sms-token\n", timeout).unwrap();
    gateway.send(&number, "Your code: 123456").await.unwrap();
    let (auth, body) = rx.recv().await.unwrap();
    assert_eq!(auth.as_deref(), Some("Bearer sms-token"));
    assert_eq!(body, serde_json::json!({"to": "+46701234567", "text": "Your code: 123456"}));

    let failing = WebhookGateway::new(&format!("http://{addr}/fail"), "t", timeout).unwrap();
    assert!(matches!(failing.send(&number, "x").await, Err(SmsError::Status(503))));

    // A gateway that accepts the connection but never answers: the timeout ends the wait.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let slow =
        WebhookGateway::new(&format!("http://{silent_addr}/"), "t", std::time::Duration::from_millis(300)).unwrap();
    match slow.send(&number, "x").await {
        Err(SmsError::Transport(e)) => assert!(e.is_timeout(), "{e}"),
        other => panic!("{other:?}"),
    }
    task.abort();
    hold.abort();
}

#[tokio::test]
async fn contact_addresses_are_at_most_three_each_verified_by_its_own_code() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    h.signed_in_with_totp(&mut browser, "alice").await;
    browser.get("/contacts").await;
    for bad in ["anna", "anna@example", "an na@example.se", "<x>@example.se"] {
        assert_eq!(browser.post("/contacts/add", &[("address", bad)]).await.0, 400, "{bad}");
        assert!(browser.html.contains("not an e-mail address"));
    }
    assert!(h.mail().is_empty());
    assert_eq!(browser.post("/contacts/add", &[("address", "Anna@Example.se")]).await, (303, "/contacts".to_owned()));
    let first = "Anna@example.se";
    let code = h.last_mail_code(first);
    assert!(h.mail()[0].subject.contains("Confirm"));
    browser.get("/contacts").await;
    assert!(browser.html.contains("not verified"));
    browser.post("/contacts/add", &[("address", "anna@work.example.dk")]).await;
    let second_code = h.last_mail_code("anna@work.example.dk");
    // A code verifies only the address it went to.
    browser.get("/contacts").await;
    if second_code != code {
        assert_eq!(
            browser.post("/contacts/verify", &[("address", first), ("code", &second_code)]).await.0,
            403,
            "another address's code"
        );
    }
    browser.get("/contacts").await;
    assert_eq!(
        browser.post("/contacts/verify", &[("address", first), ("code", &code)]).await,
        (303, "/contacts".to_owned())
    );
    assert_eq!(h.portal.contacts.verified_emails("alice").unwrap(), vec![first.to_owned()]);
    browser.get("/contacts").await;
    assert_eq!(browser.post("/contacts/verify", &[("address", first), ("code", &code)]).await.0, 403, "used once");
    // Three at most; no duplicates.
    browser.get("/contacts").await;
    assert_eq!(browser.post("/contacts/add", &[("address", "anna@example.se")]).await.0, 400);
    assert!(browser.html.contains("there already"));
    assert_eq!(browser.post("/contacts/add", &[("address", "anna@third.example")]).await.0, 303);
    browser.get("/contacts").await;
    assert_eq!(browser.post("/contacts/add", &[("address", "anna@fourth.example")]).await.0, 400);
    assert!(browser.html.contains("At most three"));
    assert_eq!(h.portal.contacts.list("alice").unwrap().len(), 3);
    // A removed address's code is void, even when the address comes back.
    browser.get("/contacts").await;
    assert_eq!(browser.post("/contacts/remove", &[("address", "anna@work.example.dk")]).await.0, 303);
    h.portal.contacts.add("alice", "anna@work.example.dk", 0).unwrap().unwrap();
    browser.get("/contacts").await;
    assert_eq!(
        browser.post("/contacts/verify", &[("address", "anna@work.example.dk"), ("code", &second_code)]).await.0,
        403
    );
    assert!(browser.html.contains("No code is waiting"));
    // Expiry (after the mail limit's window, so the new code is sent).
    browser.post("/contacts/remove", &[("address", "anna@third.example")]).await;
    h.clock.advance(nyckel_portal::contacts::MAIL_WINDOW);
    browser.get("/contacts").await;
    assert_eq!(browser.post("/contacts/add", &[("address", "anna@third.example")]).await.0, 303);
    let third = h.last_mail_code("anna@third.example");
    h.clock.advance(CODE_TTL);
    browser.get("/contacts").await;
    assert_eq!(browser.post("/contacts/verify", &[("address", "anna@third.example"), ("code", &third)]).await.0, 403);
    assert!(browser.html.contains("expired"));
    // Bob sees none of alice's addresses.
    let mut other = h.browser();
    h.signed_in_with_totp(&mut other, "bob").await;
    other.get("/contacts").await;
    assert!(other.html.contains("id=\"no-contacts\""));
}

#[tokio::test]
async fn a_contact_code_is_void_after_five_wrong_tries() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    h.signed_in_with_totp(&mut browser, "alice").await;
    browser.get("/contacts").await;
    browser.post("/contacts/add", &[("address", "anna@example.se")]).await;
    let code = h.last_mail_code("anna@example.se");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        browser.get("/contacts").await;
        assert_eq!(browser.post("/contacts/verify", &[("address", "anna@example.se"), ("code", wrong)]).await.0, 403);
    }
    assert!(browser.html.contains("Too many wrong tries"));
    browser.get("/contacts").await;
    assert_eq!(browser.post("/contacts/verify", &[("address", "anna@example.se"), ("code", &code)]).await.0, 403);
    assert!(h.portal.contacts.verified_emails("alice").unwrap().is_empty());
}

#[tokio::test]
async fn a_device_is_renamed_in_the_portal_by_its_owner_only_and_the_code_can_be_typed() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/devices".to_owned()));
    browser.get("/devices").await;
    browser.post("/devices/add", &[("name", "Work phone")]).await;
    browser.get("/devices/enroll").await;
    // The typed alternative: a copyable field, groups of four, and the CLI command.
    let code = unescape(&between(&browser.html, "id=\"enroll-code\">", "<"));
    assert_eq!(
        unescape(&between(&browser.html, "id=\"enroll-code-field\" type=\"text\" readonly value=\"", "\"")),
        code
    );
    let groups = unescape(&between(&browser.html, "id=\"enroll-code-groups\">", "</p>"));
    let joined: String = groups.replace("<span>", "").replace("</span>", "").split_whitespace().collect();
    assert_eq!(joined, code.replace(' ', ""));
    assert!(unescape(&browser.html).contains(&format!("nyckel register '{code}'")));
    let summary = h.phone.register(&code, PIN).await.unwrap();
    browser.get("/devices/enroll").await;
    assert_eq!(browser.post("/setup/complete", &[]).await, (303, "/home".to_owned()));
    browser.get("/devices").await;
    let device_id = between(&browser.html, "name=\"device_id\" value=\"", "\"");
    assert_eq!(device_id, summary.device_id.to_string());
    assert_eq!(
        browser.post("/devices/rename", &[("device_id", &device_id), ("name", "  Anna's\u{7} Pixel  ")]).await.0,
        303
    );
    browser.get("/devices").await;
    assert!(browser.html.contains("Anna&#39;s Pixel") || browser.html.contains("Anna's Pixel"), "{}", browser.html);
    assert!(!browser.html.contains("Work phone"));

    // Bob cannot rename alice's device.
    let mut bob = h.browser();
    h.signed_in_with_totp(&mut bob, "bob").await;
    bob.get("/devices").await;
    assert_eq!(bob.post("/devices/rename", &[("device_id", &device_id), ("name", "Mine now")]).await.0, 404);
    browser.get("/devices").await;
    assert!(!browser.html.contains("Mine now"));
}

/// Alice creates "acme-org" (administrator); bob asks to join.
async fn acme_with_request(h: &Harness) -> (common::Browser, common::Browser) {
    let mut alice = h.browser();
    h.signed_in_with_totp(&mut alice, "alice").await;
    alice.get("/org").await;
    assert_eq!(
        alice.post("/org/join", &[("org", "acme-org"), ("name", "Acme Trade AB")]).await,
        (303, "/org".to_owned())
    );
    alice.get("/org").await;
    assert!(alice.html.contains("data-role=\"admin\""), "{}", alice.html);
    let mut bob = h.browser();
    h.signed_in_with_totp(&mut bob, "bob").await;
    bob.get("/org").await;
    assert_eq!(bob.post("/org/join", &[("org", "acme-org")]).await, (303, "/org".to_owned()));
    bob.get("/org").await;
    assert!(bob.html.contains("data-role=\"pending\"") && bob.html.contains("Acme Trade AB"));
    (alice, bob)
}

#[tokio::test]
async fn the_first_account_administers_the_organisation_and_decides_requests() {
    let h = Harness::start().await;
    let (mut alice, mut bob) = acme_with_request(&h).await;
    // Malformed organisation ids are refused.
    let mut carol = h.browser();
    h.signed_in_with_totp(&mut carol, "carol").await;
    carol.get("/org").await;
    assert_eq!(carol.post("/org/join", &[("org", "Acme Org!")]).await.0, 400);
    assert_eq!(carol.post("/org/join", &[("org", "acme-org")]).await.0, 303);

    // A pending member is no administrator.
    assert_eq!(bob.get("/admin").await.0, 403);
    bob.get("/org").await;
    assert_eq!(bob.post("/admin/requests", &[("account", "bob"), ("decision", "approve")]).await.0, 403);
    assert_eq!(h.portal.orgs.membership("bob").unwrap().unwrap().role, Role::Pending);

    alice.get("/admin").await;
    assert!(alice.html.contains("data-account=\"bob\"") && alice.html.contains("data-account=\"carol\""));
    assert!(!h.server_has_user("bob").await && !h.server_has_user("carol").await);
    assert_eq!(
        alice.post("/admin/requests", &[("account", "bob"), ("decision", "approve")]).await,
        (303, "/admin".to_owned())
    );
    // The approval made bob a user on the Nyckel server (no `nyckel-server user add`).
    assert!(h.server_has_user("bob").await, "an approved requester is created on the server");
    alice.get("/admin").await;
    assert_eq!(alice.post("/admin/requests", &[("account", "carol"), ("decision", "refuse")]).await.0, 303);
    assert!(!h.server_has_user("carol").await, "a refused requester is not created");
    assert_eq!(h.portal.orgs.membership("bob").unwrap().unwrap().role, Role::Member);
    assert!(h.portal.orgs.membership("carol").unwrap().is_none(), "refused: no membership");
    // A decided request cannot be decided again.
    alice.get("/admin").await;
    assert_eq!(alice.post("/admin/requests", &[("account", "bob"), ("decision", "refuse")]).await.0, 404);
    assert_eq!(h.portal.orgs.membership("bob").unwrap().unwrap().role, Role::Member);
    bob.get("/org").await;
    assert!(bob.html.contains("data-role=\"member\""));
    // An approved member is still no administrator.
    assert_eq!(bob.get("/admin").await.0, 403);
    assert_eq!(bob.get("/admin/audit").await.0, 403);

    alice.get("/admin/audit").await;
    for kind in ["org_created", "access_requested", "access_approved", "access_refused"] {
        assert!(alice.html.contains(kind), "{kind}: {}", alice.html);
    }
}

#[tokio::test]
async fn an_administrator_of_another_organisation_sees_and_changes_nothing_of_this_one() {
    let h = Harness::start().await;
    let (mut alice, _bob) = acme_with_request(&h).await;
    alice.get("/admin").await;
    alice.post("/admin/requests", &[("account", "bob"), ("decision", "approve")]).await;
    let mut dave = h.browser();
    h.signed_in_with_totp(&mut dave, "dave").await;
    dave.get("/org").await;
    dave.post("/org/join", &[("org", "other-org")]).await;
    let mut carol = h.browser();
    h.signed_in_with_totp(&mut carol, "carol").await;
    carol.get("/org").await;
    carol.post("/org/join", &[("org", "acme-org")]).await;

    // Block bob (a member of acme) by five wrong passwords.
    let mut guesser = h.browser();
    for _ in 0..5 {
        guesser.sign_in("bob", "wrong-password").await;
    }
    assert!(h.portal.accounts.get("bob").unwrap().unwrap().blocked);

    assert_eq!(dave.get("/admin").await.0, 200);
    for name in ["alice", "bob", "carol", "acme"] {
        assert!(!dave.html.contains(name), "{name} on another organisation's page");
    }
    assert_eq!(dave.post("/admin/requests", &[("account", "carol"), ("decision", "approve")]).await.0, 404);
    assert_eq!(h.portal.orgs.membership("carol").unwrap().unwrap().role, Role::Pending);
    assert!(!h.server_has_user("carol").await, "another organisation's approval creates no server user");
    dave.get("/admin").await;
    assert_eq!(dave.post("/admin/accounts/unblock", &[("account", "bob")]).await.0, 404);
    assert!(h.portal.accounts.get("bob").unwrap().unwrap().blocked);
    dave.get("/admin").await;
    assert_eq!(dave.post("/admin/devices/unblock", &[("account", "bob"), ("device_id", "x")]).await.0, 404);
    dave.get("/admin/audit").await;
    for name in ["alice", "bob", "carol"] {
        assert!(!dave.html.contains(&format!(">{name}<")), "{name} in another organisation's audit log");
    }
    // Alice sees bob's block and the failures before it.
    alice.get("/admin/audit").await;
    assert!(alice.html.contains("account_blocked") && alice.html.contains("sign_in_failed"));
}

#[tokio::test]
async fn an_administrator_unblocks_a_members_account_and_device() {
    let h = Harness::start().await;
    let (mut alice, _) = acme_with_request(&h).await;
    alice.get("/admin").await;
    alice.post("/admin/requests", &[("account", "bob"), ("decision", "approve")]).await;
    // Bob registers a phone, then five wrong PINs block it on the server.
    let mut bob = h.browser();
    let registration = {
        let started = h.portal.rp.start_enrollment("bob", "Bob's phone").await.unwrap();
        h.phone.register(&started.qr, PIN).await.unwrap()
    };
    for _ in 0..5 {
        let ctx = nyckel_portal::nyckel::BrowserContext::default();
        let push = h.portal.rp.start_push("bob", "Nyckel portal", "Sign in", &ctx).await.unwrap();
        let pending = h.pending(&registration).await;
        let _ = h.phone.approve(&registration.id, &pending.challenge_id, "0000", push.number.as_deref()).await;
    }
    let devices = h.portal.rp.devices("bob").await.unwrap();
    assert_eq!(devices[0].state, "blocked");
    // And five wrong passwords block bob's account.
    let mut guesser = h.browser();
    for _ in 0..5 {
        guesser.sign_in("bob", "wrong-password").await;
    }
    assert!(h.portal.accounts.get("bob").unwrap().unwrap().blocked);

    alice.get("/admin").await;
    assert!(alice.html.contains("blocked (five wrong passwords)"));
    assert!(
        alice.html.contains("id=\"blocked-devices\"") && alice.html.contains("Bob&#39;s phone")
            || alice.html.contains("Bob's phone")
    );
    assert_eq!(alice.post("/admin/accounts/unblock", &[("account", "bob")]).await.0, 200);
    assert!(!h.portal.accounts.get("bob").unwrap().unwrap().blocked);
    let device_id = devices[0].device_id.clone();
    assert_eq!(alice.post("/admin/devices/unblock", &[("account", "bob"), ("device_id", &device_id)]).await.0, 200);
    assert_eq!(h.portal.rp.devices("bob").await.unwrap()[0].state, "active");
    assert!(alice.html.contains("id=\"no-blocked-devices\""));
    // A device of someone else named with a member's name is refused.
    h.portal.ensure_server_user("alice").await.unwrap();
    let alice_device = h.portal.rp.start_enrollment("alice", "Alice's phone").await.unwrap();
    let alice_reg = h.phone.register(&alice_device.qr, PIN).await.unwrap();
    assert_eq!(
        alice
            .post("/admin/devices/unblock", &[("account", "bob"), ("device_id", &alice_reg.device_id.to_string())])
            .await
            .0,
        404
    );
    alice.get("/admin/audit").await;
    assert!(alice.html.contains("account_unblocked") && alice.html.contains("device_unblocked"));
    assert_eq!(bob.sign_in("bob", PASSWORD).await, (303, "/factor".to_owned()));
}

#[tokio::test]
async fn without_a_tenant_administrator_token_devices_are_not_unblocked_from_the_portal() {
    let h = Harness::start_with(|config| config.tenant_admin_token = None).await;
    let (mut alice, _) = acme_with_request(&h).await;
    alice.get("/admin").await;
    assert!(alice.html.contains("no administrator token"));
    alice.post("/admin/requests", &[("account", "bob"), ("decision", "approve")]).await;
    alice.get("/admin").await;
    assert_eq!(alice.post("/admin/devices/unblock", &[("account", "bob"), ("device_id", "x")]).await.0, 501);
}

#[tokio::test]
async fn the_audit_log_is_paged_newest_first() {
    let h = Harness::start().await;
    let (mut alice, _) = acme_with_request(&h).await;
    for i in 0..25 {
        h.portal.audit.record("acme-org", "bob", "test", AuditKind::SignInFailed, &format!("event-{i}")).unwrap();
    }
    alice.get("/admin/audit").await;
    assert_eq!(alice.html.matches("<tr data-seq").count(), 20);
    assert!(alice.html.contains("event-24") && !alice.html.contains("event-4<"));
    let older = unescape(&between(&alice.html, "id=\"older\" href=\"", "\""));
    alice.get(&older).await;
    assert!(alice.html.contains("event-4<") && !alice.html.contains("event-24"));
    // Malformed paging is refused, not a panic.
    assert_eq!(alice.get("/admin/audit?before=x").await.0, 400);
}

#[tokio::test]
async fn every_new_form_refuses_a_missing_or_foreign_csrf_token() {
    let h = Harness::start().await;
    let mut other = h.browser();
    other.get("/").await;
    let foreign = other.csrf();
    let mut browser = h.browser();
    h.signed_in_with_totp(&mut browser, "alice").await;
    let posts = [
        "/sms/number",
        "/sms/verify",
        "/sms/remove",
        "/factor/sms",
        "/factor/sms/verify",
        "/contacts/add",
        "/contacts/verify",
        "/contacts/remove",
        "/devices/rename",
        "/org/join",
        "/admin/requests",
        "/admin/role",
        "/admin/accounts/unblock",
        "/admin/devices/unblock",
    ];
    for path in posts {
        let fields = [("number", NUMBER), ("org", "acme-org"), ("address", "a@example.se")];
        assert_eq!(browser.post_raw(path, &fields).await.0, 403, "{path} without a token");
        let form = [("csrf", foreign.as_str()), ("number", NUMBER), ("org", "acme-org"), ("address", "a@example.se")];
        assert_eq!(browser.post_raw(path, &form).await.0, 403, "{path} with another session's token");
    }
    assert!(h.sms().is_empty() && h.mail().is_empty());
    assert!(h.portal.orgs.membership("alice").unwrap().is_none());
}

#[tokio::test]
async fn an_sms_code_does_not_sign_in_an_account_blocked_meanwhile() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    alice_with_sms(&h, &mut browser).await;
    browser.post("/logout", &[]).await;
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    browser.post("/factor/sms", &[]).await;
    let code = h.last_sms_code();
    // Someone else guesses alice's password five times while her code is on its way.
    let mut guesser = h.browser();
    for _ in 0..5 {
        guesser.sign_in("alice", "wrong-password").await;
    }
    browser.get("/factor/sms").await;
    assert_eq!(browser.post("/factor/sms/verify", &[("code", &code)]).await.0, 403);
    assert_eq!(browser.get("/home").await, (303, "/".to_owned()));
}

#[tokio::test]
async fn code_entry_is_limited_per_address() {
    let h = Harness::start_with(|config| config.attempts_per_minute = 4).await;
    let mut browser = h.browser();
    // One password attempt, one verification code, two contact codes: the fifth is refused.
    alice_with_sms(&h, &mut browser).await;
    browser.get("/contacts").await;
    browser.post("/contacts/add", &[("address", "anna@example.se")]).await;
    for expected in [403, 403, 429] {
        browser.get("/contacts").await;
        let status = browser.post("/contacts/verify", &[("address", "anna@example.se"), ("code", "abcdef")]).await.0;
        assert_eq!(status, expected);
    }
}

#[tokio::test]
async fn a_new_number_replaces_the_verified_one_only_once_it_is_verified() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    alice_with_sms(&h, &mut browser).await;
    browser.get("/sms").await;
    assert_eq!(browser.post("/sms/number", &[("number", "+4520123456")]).await.0, 303);
    let code = h.last_sms_code();
    assert_eq!(h.sms().last().unwrap().to, "+4520123456");
    // Until the new number is verified, the old one is still the factor.
    assert_eq!(h.portal.sms.verified_number("alice").unwrap().unwrap().as_str(), NUMBER);
    browser.get("/home").await;
    browser.post("/logout", &[]).await;
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()), "still a factor: no setup path");
    browser.get("/factor").await;
    browser.post("/factor/sms", &[]).await;
    assert_eq!(h.sms().last().unwrap().to, NUMBER, "the sign-in code goes to the verified number");
    let sign_in_code = h.last_sms_code();
    browser.get("/factor/sms").await;
    browser.post("/factor/sms/verify", &[("code", &sign_in_code)]).await;
    browser.get("/sms").await;
    assert!(browser.html.contains("id=\"pending-number\""));
    assert_eq!(browser.post("/sms/verify", &[("code", &code)]).await.0, 200);
    assert_eq!(h.portal.sms.verified_number("alice").unwrap().unwrap().as_str(), "+4520123456");
}

#[tokio::test]
async fn verification_mail_is_limited_per_account() {
    let h = Harness::start().await;
    let mut browser = h.browser();
    h.signed_in_with_totp(&mut browser, "alice").await;
    for _ in 0..3 {
        browser.get("/contacts").await;
        assert_eq!(browser.post("/contacts/add", &[("address", "anna@example.se")]).await.0, 303);
        browser.get("/contacts").await;
        assert_eq!(browser.post("/contacts/remove", &[("address", "anna@example.se")]).await.0, 303);
    }
    browser.get("/contacts").await;
    assert_eq!(
        browser.post("/contacts/add", &[("address", "anna@example.se")]).await.0,
        429,
        "the fourth mail in ten minutes"
    );
    assert!(browser.html.contains("Too many confirmation e-mails"));
    assert_eq!(h.mail().len(), 3);
    assert!(h.portal.contacts.list("alice").unwrap().is_empty(), "an address whose code was not sent is not kept");
    h.clock.advance(nyckel_portal::contacts::MAIL_WINDOW);
    browser.get("/contacts").await;
    assert_eq!(browser.post("/contacts/add", &[("address", "anna@example.se")]).await.0, 303);
}

#[tokio::test]
async fn an_administrator_invites_a_colleague_into_the_organisation_and_nobody_else_can() {
    let h = Harness::start().await;
    let (mut alice, mut bob) = acme_with_request(&h).await;
    // A waiting requester (no administrator) gets 403 on both routes, and nothing is sent.
    assert_eq!(bob.get("/admin/invite").await.0, 403);
    bob.get("/org").await;
    assert_eq!(bob.post("/admin/invite", &[("name", "ivan"), ("email", "ivan@example.org")]).await.0, 403);
    assert!(h.portal.accounts.get("ivan").unwrap().is_none());
    assert!(h.mail().is_empty());
    assert!(!h.server_has_user("ivan").await, "a refused invitation creates no server user");

    assert_eq!(alice.get("/admin").await.0, 200);
    assert!(alice.html.contains("href=\"/admin/invite\""));
    assert_eq!(alice.get("/admin/invite").await.0, 200);
    assert_eq!(alice.post("/admin/invite", &[("name", "ivan"), ("email", "ivan@example.org")]).await.0, 200);
    assert!(alice.html.contains("id=\"invite-sent\""), "{}", alice.html);
    assert!(h.server_has_user("ivan").await, "the administrator's invitation creates the server user");
    // The same invitation as `account invite`: an account without a password, a link by e-mail.
    let mail = h.mail().into_iter().find(|m| m.to == "ivan@example.org").expect("the invitation");
    let token = mail.token("/invite");
    assert!(h.portal.accounts.get("ivan").unwrap().unwrap().password_hash.is_empty());
    let m = h.portal.orgs.membership("ivan").unwrap().unwrap();
    assert_eq!((m.org.as_str(), m.role), ("acme-org", Role::Member));
    // The invitation works.
    let mut ivan = h.browser();
    ivan.get(&format!("/invite?t={token}")).await;
    let form =
        [("t", token.as_str()), ("password", "violet harbour kettle 93"), ("password2", "violet harbour kettle 93")];
    assert_eq!(ivan.post("/invite", &form).await, (303, "/devices".to_owned()));

    // An account with a password (bob, waiting to join) or a malformed address is refused.
    for (name, email) in [("bob", "bob@example.org"), ("ivan", "ivan@example.org"), ("eve", "not an address")] {
        alice.get("/admin/invite").await;
        assert_eq!(alice.post("/admin/invite", &[("name", name), ("email", email)]).await.0, 400, "{name}");
    }
    assert_eq!(h.portal.orgs.membership("bob").unwrap().unwrap().role, Role::Pending);
    alice.get("/admin/audit").await;
    assert!(alice.html.contains("invited"), "{}", alice.html);
}

#[tokio::test]
async fn an_administrator_makes_a_member_administrator_and_hands_over_but_the_last_one_stays() {
    let h = Harness::start().await;
    let (mut alice, mut bob) = acme_with_request(&h).await;
    alice.get("/admin").await;
    alice.post("/admin/requests", &[("account", "bob"), ("decision", "approve")]).await;
    let role = |account: &str| h.portal.orgs.membership(account).unwrap().unwrap().role;

    // The only administrator cannot make herself a member.
    alice.get("/admin").await;
    assert_eq!(alice.post("/admin/role", &[("account", "alice"), ("role", "member")]).await.0, 409);
    assert!(alice.html.contains("at least one administrator"), "{}", alice.html);
    assert_eq!(role("alice"), Role::Admin);
    // A member cannot change roles, not even their own.
    bob.get("/org").await;
    assert_eq!(bob.post("/admin/role", &[("account", "bob"), ("role", "admin")]).await.0, 403);
    assert_eq!(role("bob"), Role::Member);
    // Another organisation's administrator cannot touch this one's members.
    let mut dave = h.browser();
    h.signed_in_with_totp(&mut dave, "dave").await;
    dave.get("/org").await;
    dave.post("/org/join", &[("org", "other-org")]).await;
    dave.get("/admin").await;
    assert_eq!(dave.post("/admin/role", &[("account", "bob"), ("role", "admin")]).await.0, 404);
    dave.get("/admin").await;
    assert_eq!(dave.post("/admin/role", &[("account", "alice"), ("role", "member")]).await.0, 404);
    assert_eq!((role("bob"), role("alice")), (Role::Member, Role::Admin));
    // An unknown role is refused.
    alice.get("/admin").await;
    assert_eq!(alice.post("/admin/role", &[("account", "bob"), ("role", "owner")]).await.0, 400);

    // Alice makes bob administrator: both administer acme.
    alice.get("/admin").await;
    assert!(alice.html.contains("Make administrator"), "{}", alice.html);
    assert_eq!(alice.post("/admin/role", &[("account", "bob"), ("role", "admin")]).await.0, 200);
    assert_eq!(role("bob"), Role::Admin);
    assert_eq!(bob.get("/admin").await.0, 200);
    assert!(bob.html.contains("data-account=\"alice\""));
    // Alice hands over: she makes herself a member and loses the administration pages.
    alice.get("/admin").await;
    assert_eq!(alice.post("/admin/role", &[("account", "alice"), ("role", "member")]).await, (303, "/org".to_owned()));
    assert_eq!(role("alice"), Role::Member);
    assert_eq!(alice.get("/admin").await.0, 403);
    // Bob is now the last administrator and cannot step down.
    bob.get("/admin").await;
    assert_eq!(bob.post("/admin/role", &[("account", "bob"), ("role", "member")]).await.0, 409);
    assert_eq!(role("bob"), Role::Admin);

    bob.get("/admin/audit").await;
    assert_eq!(bob.html.matches("role_changed").count(), 2, "{}", bob.html);
}
