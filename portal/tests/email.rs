//! The e-mail flows end to end on the common harness (a real nyckel-server, lettre delivering
//! over SMTP to a listener in the test): sign-in links bound to the requesting session and
//! sent to every verified address, remembered browsers, invitations and password resets, with
//! malformed, expired and reused tokens.

use nyckel_portal::i18n::Lang;
use nyckel_portal::Clock;

mod common;

use common::{between, Harness, PASSWORD};

const NEW_PASSWORD: &str = "violet harbour kettle 93";
const FOREIGN_WARNING: &str = "If you did not request this, someone knows your password";

/// The harness with no portal accounts (the tests invite them) and no attempt limit.
async fn start() -> Harness {
    Harness::start_with_accounts(&[], |config| config.attempts_per_minute = 0).await
}

/// What these tests add to the common harness.
trait EmailHarness {
    async fn account_with_email(&self, name: &str) -> String;
    fn totp(&self, secret: &str) -> String;
}

impl EmailHarness for Harness {
    /// Invites `name`, accepts the invitation with [`PASSWORD`] and gives the account an
    /// authenticator app, so a sign-in asks for a second factor. Returns the TOTP secret.
    async fn account_with_email(&self, name: &str) -> String {
        nyckel_portal::invitations::invite(&self.portal, name, &format!("{name}@example.org"), Lang::En).await.unwrap();
        let token = self.next_mail().await.token("/invite");
        let mut browser = self.browser();
        browser.get(&format!("/invite?t={token}")).await;
        let form = [("t", token.as_str()), ("password", PASSWORD), ("password2", PASSWORD)];
        assert_eq!(browser.post("/invite", &form).await, (303, "/devices".to_owned()));
        let secret = nyckel_portal::totp::new_secret();
        self.portal.accounts.set_totp(name, secret.clone(), 0).await.unwrap();
        secret
    }

    fn totp(&self, secret: &str) -> String {
        // Each code works once: move to the next 30-second step first.
        self.clock.advance(30);
        nyckel_portal::totp::code_at_step(secret, self.clock.now() / 30).unwrap()
    }
}

#[tokio::test]
async fn the_sign_in_link_signs_in_only_the_browser_session_that_asked_for_it() {
    let h = start().await;
    h.account_with_email("alice").await;

    let mut asking = h.browser();
    assert_eq!(asking.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
    asking.get("/factor").await;
    assert!(asking.html.contains("action=\"/factor/email\""), "the e-mail link is offered: {}", asking.html);
    assert_eq!(asking.post("/factor/email", &[]).await, (303, "/factor/email".to_owned()));
    let mail = h.next_mail().await;
    assert_eq!(mail.to, "alice@example.org");
    let token = mail.token("/email/link");
    assert_eq!(asking.state("/factor/email/status").await, "pending");

    // Opened in a browser that never signed in: refused with the warning, nobody signed in.
    let mut other = h.browser();
    assert_eq!(other.get(&format!("/email/link?t={token}")).await.0, 403);
    assert!(other.html.contains(FOREIGN_WARNING), "{}", other.html);
    assert_eq!(other.get("/home").await, (303, "/".to_owned()));

    // Opened by someone who knows the password, in their own session at the same stage: the
    // session binding alone refuses it.
    let mut attacker = h.browser();
    assert_eq!(attacker.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
    assert_eq!(attacker.get(&format!("/email/link?t={token}")).await.0, 403);
    assert!(attacker.html.contains(FOREIGN_WARNING));
    assert_eq!(attacker.get("/home").await, (303, "/factor".to_owned()));

    // The refusals did not use up the link: the asking browser still completes with it.
    assert_eq!(asking.state("/factor/email/status").await, "pending");
    let before = asking.session();
    assert_eq!(asking.get(&format!("/email/link?t={token}")).await, (303, "/home".to_owned()));
    assert_ne!(asking.session(), before, "a new session id once signed in");
    assert!(!asking.cookies.contains_key("portal_remember"), "not asked to remember");
    // The waiting page (same browser, so the new cookie) learns it is signed in.
    assert_eq!(asking.state("/factor/email/status").await, "signed_in");
    asking.get("/home").await;
    assert!(asking.html.contains("id=\"account\">alice<"));

    // Used once.
    assert_eq!(asking.get(&format!("/email/link?t={token}")).await.0, 410);
    assert!(asking.html.contains("already been used"));
}

#[tokio::test]
async fn the_mail_is_in_the_language_of_the_page() {
    let h = start().await;
    h.account_with_email("alice").await;
    let mut browser = h.browser();
    browser.cookies.insert("portal_lang".into(), "sv".into());
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    assert!(browser.html.contains("Skicka en inloggningslänk"), "{}", browser.html);
    browser.post("/factor/email", &[]).await;
    let mail = h.next_mail().await;
    assert!(mail.body.contains("Öppna den här länken"), "{}", mail.body);
    let token = mail.token("/email/link");
    let mut other = h.browser();
    other.cookies.insert("portal_lang".into(), "da".into());
    assert_eq!(other.get(&format!("/email/link?t={token}")).await.0, 403);
    assert!(other.html.contains("Hvis det ikke var dig, der bad om dette, kender nogen din adgangskode"));
}

#[tokio::test]
async fn sign_in_links_expire_after_ten_minutes_and_malformed_ones_are_refused() {
    let h = start().await;
    h.account_with_email("alice").await;
    let mut browser = h.browser();
    browser.sign_in("alice", PASSWORD).await;
    browser.get("/factor").await;
    browser.post("/factor/email", &[]).await;
    let token = h.next_mail().await.token("/email/link");

    for bad in ["", "abc", "%3Cscript%3E", &token[..42], &format!("{token}x")] {
        assert_eq!(browser.get(&format!("/email/link?t={bad}")).await.0, 410, "{bad}");
        assert!(browser.html.contains("not valid"), "{bad}");
    }
    // Another kind's token is no sign-in link.
    nyckel_portal::invitations::invite(&h.portal, "dave", "dave@example.org", Lang::En).await.unwrap();
    let invitation = h.next_mail().await.token("/invite");
    assert_eq!(browser.get(&format!("/email/link?t={invitation}")).await.0, 410);

    // An account blocked after the link was sent (five wrong codes) is not signed in by it.
    let mut other = h.browser();
    other.sign_in("alice", PASSWORD).await;
    other.get("/factor").await;
    for _ in 0..5 {
        other.post("/factor/totp", &[("code", "000000")]).await;
    }
    assert!(h.portal.accounts.get("alice").unwrap().unwrap().blocked);
    assert_eq!(browser.get(&format!("/email/link?t={token}")).await.0, 403);
    assert!(browser.html.contains("blocked"));
    h.portal.accounts.reset("alice", None).await.unwrap();

    h.clock.advance(10 * 60);
    assert_eq!(browser.state("/factor/email/status").await, "expired");
    assert_eq!(browser.get(&format!("/email/link?t={token}")).await.0, 410);
    assert!(browser.html.contains("expired"));
    assert_eq!(browser.get("/home").await, (303, "/factor".to_owned()));
}

#[tokio::test]
async fn a_remembered_browser_skips_the_second_factor_for_twenty_days() {
    let h = start().await;
    let secret = h.account_with_email("alice").await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
    browser.get("/factor").await;
    let code = h.totp(&secret);
    assert_eq!(browser.post("/factor/totp", &[("code", &code), ("remember", "on")]).await, (303, "/home".to_owned()));
    let remembered = browser.cookies.get("portal_remember").cloned().expect("the remember cookie");
    browser.get("/home").await;
    browser.post("/logout", &[]).await;

    // The right password alone signs in this browser; a wrong one still does not.
    assert_eq!(browser.sign_in("alice", "Wrong-password-1").await.0, 401);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/home".to_owned()));
    // Another browser, or this cookie for another account, still needs the second factor.
    let mut other = h.browser();
    assert_eq!(other.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
    h.account_with_email("carol").await;
    let mut carol = h.browser();
    carol.cookies.insert("portal_remember".into(), remembered.clone());
    assert_eq!(carol.sign_in("carol", PASSWORD).await, (303, "/factor".to_owned()));

    // Listed, with this browser marked.
    browser.get("/remembered").await;
    assert!(browser.html.contains("this browser"), "{}", browser.html);

    // At twenty days it is forgotten.
    h.clock.advance(20 * 24 * 3600);
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));

    // Remembered again (through the sign-in link this time), then forgotten by the user.
    browser.get("/factor").await;
    browser.post("/factor/email", &[("remember", "on")]).await;
    let token = h.next_mail().await.token("/email/link");
    assert_eq!(browser.get(&format!("/email/link?t={token}")).await, (303, "/home".to_owned()));
    assert_ne!(browser.cookies.get("portal_remember"), Some(&remembered), "a new token");
    browser.get("/remembered").await;
    let id = between(&browser.html, "name=\"id\" value=\"", "\"");
    // Another account's forget request changes nothing.
    assert_eq!(carol.sign_in("carol", PASSWORD).await, (303, "/factor".to_owned()));
    carol.get("/factor").await;
    let record = h.portal.accounts.get("carol").unwrap().unwrap();
    let code = h.totp(&h.portal.accounts.totp_secret(&record).unwrap().unwrap());
    carol.post("/factor/totp", &[("code", &code)]).await;
    carol.get("/home").await;
    assert_eq!(carol.post("/remembered/forget", &[("id", &id)]).await.0, 303);
    browser.get("/home").await;
    browser.post("/logout", &[]).await;
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/home".to_owned()));
    browser.get("/remembered").await;
    assert_eq!(browser.post("/remembered/forget", &[("id", &id)]).await, (303, "/remembered".to_owned()));
    browser.get("/remembered").await;
    assert!(browser.html.contains("id=\"no-remembered\""));
    browser.post("/logout", &[]).await;
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
}

#[tokio::test]
async fn an_invitation_sets_a_strong_password_once_then_leads_to_a_second_factor() {
    let h = start().await;
    nyckel_portal::invitations::invite(&h.portal, "carol", "carol@example.org", Lang::En).await.unwrap();
    let mail = h.next_mail().await;
    assert_eq!(mail.to, "carol@example.org");
    let token = mail.token("/invite");
    assert!(mail.body.contains(&format!("Invitation code: {token}")));
    // Until the invitation is used no password signs in.
    let mut browser = h.browser();
    assert_eq!(browser.sign_in("carol", "").await.0, 401);
    assert_eq!(browser.sign_in("carol", PASSWORD).await.0, 401);

    assert_eq!(browser.get("/invite?t=not-a-token").await.0, 410);
    assert_eq!(browser.get(&format!("/invite?t={token}")).await.0, 200);
    let weak =
        [("password1", "too easy to guess"), ("carol2026", "too easy to guess"), ("Ab1!x", "at least 8 characters")];
    for (password, why) in weak {
        let form = [("t", token.as_str()), ("password", password), ("password2", password)];
        assert_eq!(browser.post("/invite", &form).await.0, 422, "{password}");
        assert!(browser.html.contains(why), "{password}: {}", browser.html);
    }
    // zxcvbn's own feedback is shown.
    let form = [("t", token.as_str()), ("password", "password1"), ("password2", "password1")];
    browser.post("/invite", &form).await;
    assert!(browser.html.contains("id=\"feedback\""), "{}", browser.html);
    let form = [("t", token.as_str()), ("password", NEW_PASSWORD), ("password2", "something else 93")];
    assert_eq!(browser.post("/invite", &form).await.0, 422);
    assert!(browser.html.contains("differ"));

    // The typed code works as well as the link.
    browser.get("/invite").await;
    let form = [("t", token.as_str()), ("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)];
    assert_eq!(browser.post("/invite", &form).await, (303, "/devices".to_owned()));
    browser.get("/devices").await;
    assert!(browser.html.contains("no second factor yet"), "{}", browser.html);
    // Once.
    let mut again = h.browser();
    assert_eq!(again.get(&format!("/invite?t={token}")).await.0, 410);
    // The password signs in, to the second-factor set-up.
    assert_eq!(again.sign_in("carol", NEW_PASSWORD).await, (303, "/devices".to_owned()));

    // An invitation expires after 72 hours; a new one supersedes the old.
    nyckel_portal::invitations::invite(&h.portal, "dave", "dave@example.org", Lang::En).await.unwrap();
    let first = h.next_mail().await.token("/invite");
    nyckel_portal::invitations::invite(&h.portal, "dave", "dave@example.org", Lang::En).await.unwrap();
    let second = h.next_mail().await.token("/invite");
    assert_eq!(browser.get(&format!("/invite?t={first}")).await.0, 410);
    h.clock.advance(72 * 3600);
    assert_eq!(browser.get(&format!("/invite?t={second}")).await.0, 410);
    assert!(browser.html.contains("expired"));
    // An account with a password is not invited again.
    assert!(nyckel_portal::invitations::invite(&h.portal, "carol", "x@example.org", Lang::En).await.is_err());
}

#[tokio::test]
async fn a_password_reset_unblocks_forgets_browsers_and_ends_sessions() {
    let h = start().await;
    let secret = h.account_with_email("carol").await;
    // A remembered browser and a signed-in session.
    let mut signed_in = h.browser();
    signed_in.sign_in("carol", PASSWORD).await;
    signed_in.get("/factor").await;
    let code = h.totp(&secret);
    assert_eq!(signed_in.post("/factor/totp", &[("code", &code), ("remember", "on")]).await.1, "/home");
    // Five wrong passwords block the account.
    let mut browser = h.browser();
    for _ in 0..5 {
        browser.sign_in("carol", "Wrong-password-1").await;
    }
    assert_eq!(browser.sign_in("carol", PASSWORD).await.0, 403);

    // The same answer for an unknown user, a known one, and a user without an address.
    browser.get("/forgot").await;
    browser.post("/forgot", &[("user", "nobody")]).await;
    let unknown = browser.html.replace(&between(&browser.html, "name=\"csrf\" value=\"", "\""), "");
    browser.post("/forgot", &[("user", "carol")]).await;
    let known = browser.html.replace(&between(&browser.html, "name=\"csrf\" value=\"", "\""), "");
    assert_eq!(unknown, known);
    assert!(known.contains("id=\"forgot-sent\""));
    let mail = h.next_mail().await;
    assert_eq!(mail.to, "carol@example.org", "only the known account got mail");
    let token = mail.token("/reset");

    assert_eq!(browser.get("/reset?t=bad").await.0, 410);
    assert_eq!(browser.get(&format!("/reset?t={token}")).await.0, 200);
    let form = [("t", token.as_str()), ("password", "password1"), ("password2", "password1")];
    assert_eq!(browser.post("/reset", &form).await.0, 422);
    let form = [("t", token.as_str()), ("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)];
    assert_eq!(browser.post("/reset", &form).await.0, 200);
    assert!(browser.html.contains("id=\"reset-done\""));
    // Once.
    assert_eq!(browser.post("/reset", &form).await.0, 410);

    // The old session is gone, the old password too, the block is lifted, and the remembered
    // browser asks for the second factor again.
    assert_eq!(signed_in.get("/home").await, (303, "/".to_owned()));
    assert_eq!(signed_in.sign_in("carol", PASSWORD).await.0, 401);
    assert_eq!(signed_in.sign_in("carol", NEW_PASSWORD).await, (303, "/factor".to_owned()));

    // A reset link expires after 30 minutes.
    browser.get("/forgot").await;
    browser.post("/forgot", &[("user", "carol")]).await;
    let token = h.next_mail().await.token("/reset");
    h.clock.advance(30 * 60);
    assert_eq!(browser.get(&format!("/reset?t={token}")).await.0, 410);
}

#[tokio::test]
async fn every_new_post_route_refuses_a_missing_csrf_token() {
    let h = start().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for path in ["/factor/email", "/remembered/forget", "/invite", "/forgot", "/reset"] {
        let response = http.post(format!("{}{path}", h.base)).form(&[("user", "x")]).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{path}");
    }
}

#[tokio::test]
async fn a_sign_in_link_goes_to_every_verified_address_and_not_to_an_unverified_one() {
    let h = start().await;
    let secret = h.account_with_email("alice").await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
    browser.get("/factor").await;
    let code = h.totp(&secret);
    assert_eq!(browser.post("/factor/totp", &[("code", &code)]).await, (303, "/home".to_owned()));
    // The invitation's address is the account's first contact address, verified by the invitation.
    browser.get("/contacts").await;
    assert!(browser.html.contains("alice@example.org"), "{}", browser.html);
    browser.post("/contacts/add", &[("address", "alice@work.example.se")]).await;
    let code = h.last_mail_code("alice@work.example.se");
    browser.get("/contacts").await;
    let verify = [("address", "alice@work.example.se"), ("code", code.as_str())];
    assert_eq!(browser.post("/contacts/verify", &verify).await, (303, "/contacts".to_owned()));
    browser.get("/contacts").await;
    browser.post("/contacts/add", &[("address", "alice@home.example.dk")]).await;
    assert_eq!(h.portal.contacts.verified_emails("alice").unwrap(), ["alice@example.org", "alice@work.example.se"]);

    let before = h.mail().len();
    let mut asking = h.browser();
    asking.sign_in("alice", PASSWORD).await;
    asking.get("/factor").await;
    assert_eq!(asking.post("/factor/email", &[]).await, (303, "/factor/email".to_owned()));
    let links: Vec<_> = h.mail().into_iter().skip(before).filter(|m| m.body.contains("/email/link?t=")).collect();
    let mut to: Vec<&str> = links.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["alice@example.org", "alice@work.example.se"], "never the unverified address");
    // Either copy signs in the asking browser.
    let token = links[1].token("/email/link");
    assert_eq!(asking.get(&format!("/email/link?t={token}")).await, (303, "/home".to_owned()));

    // Without a verified address the link is not offered.
    browser.get("/contacts").await;
    browser.post("/contacts/remove", &[("address", "alice@example.org")]).await;
    browser.get("/contacts").await;
    browser.post("/contacts/remove", &[("address", "alice@work.example.se")]).await;
    let mut third = h.browser();
    third.sign_in("alice", PASSWORD).await;
    third.get("/factor").await;
    assert!(!third.html.contains("action=\"/factor/email\""), "no verified address, no link");
}

#[tokio::test]
async fn sign_in_link_and_reset_e_mails_are_limited_per_account() {
    let h = start().await;
    h.account_with_email("alice").await;
    let mut browser = h.browser();
    assert_eq!(browser.sign_in("alice", PASSWORD).await, (303, "/factor".to_owned()));
    browser.get("/factor").await;
    for _ in 0..nyckel_portal::invitations::MAX_LINK_MAILS {
        assert_eq!(browser.post("/factor/email", &[]).await, (303, "/factor/email".to_owned()));
        browser.get("/factor").await;
    }
    let links = |h: &Harness| h.mail().iter().filter(|m| m.body.contains("/email/link?t=")).count();
    assert_eq!(links(&h), 3);
    assert_eq!(browser.post("/factor/email", &[]).await.0, 429);
    assert!(browser.html.contains("Too many sign-in links"), "{}", browser.html);
    assert_eq!(links(&h), 3, "nothing sent past the limit");
    h.clock.advance(nyckel_portal::invitations::MAIL_WINDOW);
    browser.get("/factor").await;
    assert_eq!(browser.post("/factor/email", &[]).await, (303, "/factor/email".to_owned()));
    assert_eq!(links(&h), 4);

    // Password resets: their own three per ten minutes (the page answers the same either way).
    let resets = |h: &Harness| h.mail().iter().filter(|m| m.body.contains("/reset?t=")).count();
    for _ in 0..4 {
        nyckel_portal::invitations::send_reset(&h.portal, "alice", Lang::En).await.unwrap();
    }
    assert_eq!(resets(&h), 3);
    h.clock.advance(nyckel_portal::invitations::MAIL_WINDOW);
    nyckel_portal::invitations::send_reset(&h.portal, "alice", Lang::En).await.unwrap();
    assert_eq!(resets(&h), 4);
}

#[tokio::test]
async fn an_invited_user_registers_a_phone_with_no_operator_step_on_the_server() {
    // The server's tenant has no "grace": nobody ran `nyckel-server user add`.
    let h = start().await;
    nyckel_portal::invitations::invite(&h.portal, "grace", "grace@example.org", Lang::En).await.unwrap();
    let token = h.next_mail().await.token("/invite");
    assert!(!h.server_has_user("grace").await, "the invitation alone creates no server user");

    let mut browser = h.browser();
    browser.get(&format!("/invite?t={token}")).await;
    let form = [("t", token.as_str()), ("password", NEW_PASSWORD), ("password2", NEW_PASSWORD)];
    assert_eq!(browser.post("/invite", &form).await, (303, "/devices".to_owned()));
    // Accepting the invitation made the user on the server (PUT /v1/users/grace).
    assert!(h.server_has_user("grace").await, "accepting the invitation creates the server user");

    // Add a device: the page's code registers the phone (nyckel-core), the page sees it.
    browser.get("/devices").await;
    assert_eq!(browser.post("/devices/add", &[("name", "Grace's phone")]).await, (303, "/devices/enroll".to_owned()));
    browser.get("/devices/enroll").await;
    let code = common::unescape(&between(&browser.html, "id=\"enroll-code\">", "<"));
    let summary = h.phone.register(&code, common::PIN).await.unwrap();
    let status = browser.json("/devices/enroll/status").await;
    assert_eq!(
        (status["state"].as_str(), status["fingerprint"].as_str()),
        (Some("completed"), Some(summary.device_fingerprint.as_str()))
    );
    assert_eq!(browser.post("/setup/complete", &[]).await, (303, "/home".to_owned()));

    // A later sign-in is a push to that phone, approved with the PIN and the number.
    browser.get("/home").await;
    assert_eq!(browser.post("/logout", &[]).await, (303, "/".to_owned()));
    assert_eq!(browser.sign_in("grace", NEW_PASSWORD).await, (303, "/factor".to_owned()));
    browser.get("/factor").await;
    assert_eq!(browser.post("/factor/push", &[]).await, (303, "/factor/push".to_owned()));
    browser.get("/factor/push").await;
    let number = between(&browser.html, "id=\"number\">", "<");
    let pending = h.pending(&summary).await;
    h.phone.approve(&summary.id, &pending.challenge_id, common::PIN, Some(&number)).await.unwrap();
    assert_eq!(browser.post("/factor/push/complete", &[]).await, (303, "/home".to_owned()));
    browser.get("/home").await;
    assert!(browser.html.contains("id=\"account\">grace<"), "{}", browser.html);
}
