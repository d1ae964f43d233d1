//! The e-mail flows' pages and handlers: the sign-in link as a second factor (bound to the
//! requesting browser session), remembered browsers, invitations and password resets.

// An early `Err(Response)` is how a handler stops, as in `handlers`.
#![allow(clippy::result_large_err)]

use std::time::{Duration, Instant};

use axum::extract::Query;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use super::pages::{self, Frame};
use super::{cookie_value, CsrfForm, Ctx, HasCsrf};
use crate::error::PortalError;
use crate::i18n::Msg;
use crate::invitations::{self, LinkSent};
use crate::onetime::{digest, Kind};
use crate::remember::{REMEMBER_COOKIE, REMEMBER_FOR};
use crate::sessions::Stage;
use crate::strength::{self, Weak};

type Res = Result<Response, Response>;

macro_rules! form {
    ($name:ident { $($field:ident),* }) => {
        #[derive(Deserialize)]
        pub struct $name {
            csrf: String,
            $(#[serde(default)] $field: String,)*
        }
        impl HasCsrf for $name {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    };
}

form!(RememberForm { remember });
form!(UserForm { user });
form!(PasswordForm { t, password, password2 });
form!(ForgetForm { id });

/// A token in the query string.
#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    t: String,
}

fn frame(ctx: &Ctx) -> Frame<'_> {
    Frame { lang: ctx.lang, csrf: &ctx.session.csrf, path: &ctx.path }
}

fn or_fail<T>(ctx: &Ctx, result: Result<T, impl Into<PortalError>>) -> Result<T, Response> {
    result.map_err(|e| ctx.fail(e.into()))
}

fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

fn message(ctx: &Ctx, status: StatusCode, msg: Msg) -> Response {
    ctx.page(status, pages::message_page(ctx.lang, ctx.t(msg)))
}

/// Whether a form's checkbox was ticked.
pub fn ticked(value: &str) -> bool {
    !value.is_empty()
}

/// The "remember this browser" checkbox, for the forms that finish the second step.
pub fn remember_box(f: &Frame, id: &str) -> Markup {
    html! {
        p.remember {
            input type="checkbox" name="remember" value="on" id=(id);
            " "
            label for=(id) { (f.lang.t(Msg::RememberBrowser)) }
        }
    }
}

/// The e-mail-link choice on the second-step page (shown when the account has an address).
pub fn email_option(f: &Frame) -> Markup {
    html! {
        form method="post" action="/factor/email" {
            (csrf_field(f.csrf))
            (remember_box(f, "remember-email"))
            button type="submit" id="email-link" { (f.lang.t(Msg::EmailLinkButton)) }
        }
    }
}

/// The "forgot password" link under the sign-in form.
pub fn forgot_link(f: &Frame) -> Markup {
    html! { p { a href="/forgot" id="forgot" { (f.lang.t(Msg::ForgotLink)) } } }
}

/// Ends the second step: the account is used now, the sign-in is in the audit log, the browser
/// gets a new session id, and — if asked — a cookie that remembers it for 20 days.
pub async fn finish_sign_in(mut ctx: Ctx, account: String, remember: bool) -> Res {
    or_fail(&ctx, ctx.portal.accounts.mark_used(&account).await)?;
    let ip = ctx.ip.clone().unwrap_or_default();
    or_fail(&ctx, ctx.portal.audit_event(&account, &account, crate::audit::AuditKind::SignIn, &ip))?;
    let cookie = if remember {
        let token = or_fail(&ctx, ctx.portal.browsers.remember(&account, ctx.user_agent.as_deref()))?;
        let secure = if ctx.portal.config.secure_cookies { "; Secure" } else { "" };
        Some(format!("{REMEMBER_COOKIE}={token}; Path=/; Max-Age={REMEMBER_FOR}; HttpOnly; SameSite=Lax{secure}"))
    } else {
        None
    };
    let rotated = ctx.rotate(Stage::SignedIn { account });
    or_fail(&ctx, rotated)?;
    let mut response = ctx.redirect("/home");
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Whether this browser's remember cookie (in `headers`) is live for `account`.
pub fn remembered(ctx: &Ctx, headers: &HeaderMap, account: &str) -> Result<bool, Response> {
    let Some(token) = cookie_value(headers, REMEMBER_COOKIE) else { return Ok(false) };
    or_fail(ctx, ctx.portal.browsers.recognises(account, token))
}

// ---- the sign-in link ----

fn password_stage(ctx: &Ctx) -> Result<String, Response> {
    match &ctx.session.stage {
        Stage::Password { account } => Ok(account.clone()),
        _ => Err(ctx.redirect("/")),
    }
}

/// Sends the link, bound to this browser session.
pub async fn send_link(CsrfForm { ctx, form }: CsrfForm<RememberForm>) -> Res {
    let account = password_stage(&ctx)?;
    ctx.attempt()?;
    let sent =
        invitations::send_sign_in_link(&ctx.portal, &account, digest(&ctx.sid), ticked(&form.remember), ctx.lang).await;
    match or_fail(&ctx, sent)? {
        LinkSent::Sent => Ok(ctx.redirect("/factor/email")),
        LinkSent::NoAddress => Ok(message(&ctx, StatusCode::CONFLICT, Msg::NoEmail)),
        LinkSent::RateLimited => Ok(message(&ctx, StatusCode::TOO_MANY_REQUESTS, Msg::LinkRateLimited)),
    }
}

/// "Check your e-mail": continues by itself once the link was opened in this browser.
pub async fn link_page(ctx: Ctx) -> Res {
    password_stage(&ctx)?;
    let t = |m| ctx.lang.t(m);
    let body = html! {
        p { (t(Msg::EmailLinkSent)) }
        div role="status" aria-live="polite" data-poll="/factor/email/status" data-go-on="signed_in" data-go="/home" {
            p data-state="pending" { (t(Msg::EmailLinkWaiting)) }
            p data-state="signed_in" hidden { (t(Msg::EmailLinkDone)) }
            p.error data-state="expired" hidden { (t(Msg::LinkExpired)) " " a href="/factor" { (t(Msg::OtherWay)) } }
        }
        p { a href="/factor" { (t(Msg::OtherWay)) } }
    };
    Ok(ctx.page(StatusCode::OK, pages::layout(&frame(&ctx), Msg::EmailSentTitle, body)))
}

/// The requesting page's long poll: `pending`, `signed_in` (the link was used in this
/// browser, whose cookie now names the signed-in session) or `expired`.
pub async fn link_status(ctx: Ctx) -> Response {
    if ctx.session.signed_in().is_some() {
        return ctx.finish(Json(json!({"state": "signed_in"})));
    }
    if password_stage(&ctx).is_err() {
        return ctx.finish((StatusCode::FORBIDDEN, Json(json!({"state": "signed_out"}))));
    }
    let me = digest(&ctx.sid);
    let deadline = Instant::now() + Duration::from_secs(ctx.portal.config.long_poll_seconds.min(30));
    loop {
        let state = match ctx.portal.tokens.link_of_session(&me) {
            Ok(None) => return ctx.finish((StatusCode::NOT_FOUND, Json(json!({"state": "none"})))),
            Ok(Some(record)) if record.used => "signed_in",
            Ok(Some(record)) if ctx.portal.config.clock.now() >= record.expires_at => "expired",
            Ok(Some(_)) => "pending",
            Err(e) => {
                tracing::warn!(error = %e, "sign-in link status");
                return ctx.finish((StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"state": "error"}))));
            }
        };
        if state != "pending" || Instant::now() >= deadline {
            return ctx.finish(Json(json!({"state": state})));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The link from the e-mail: signs in only the browser session that asked for it, and only
/// at its password stage for the link's account; anywhere else it is refused with a warning
/// and stays unused.
pub async fn open_link(ctx: Ctx, Query(query): Query<TokenQuery>) -> Res {
    let record = match or_fail(&ctx, ctx.portal.tokens.peek(Kind::SignInLink, &query.t))? {
        Ok(record) => record,
        Err(refusal) => return Ok(message(&ctx, StatusCode::GONE, invitations::refusal_msg(refusal))),
    };
    let same_session = record.session.as_deref() == Some(digest(&ctx.sid).as_str());
    let same_stage = ctx.session.stage == Stage::Password { account: record.account.clone() };
    if !(same_session && same_stage) {
        tracing::warn!(account = %record.account, "a sign-in link was opened in another browser session");
        let body = html! {
            p.error role="alert" id="link-refused" { (ctx.t(Msg::EmailLinkForeign)) }
            p { a href="/forgot" { (ctx.t(Msg::ForgotLink)) } }
        };
        return Ok(ctx.page(StatusCode::FORBIDDEN, pages::layout(&frame(&ctx), Msg::SignInTitle, body)));
    }
    // Blocked since the password was typed (wrong codes elsewhere): the link does not lift it.
    if or_fail(&ctx, ctx.portal.accounts.get(&record.account))?.is_none_or(|a| a.blocked) {
        return Ok(message(&ctx, StatusCode::FORBIDDEN, Msg::Blocked));
    }
    match or_fail(&ctx, ctx.portal.tokens.consume(Kind::SignInLink, &query.t))? {
        Ok(record) => finish_sign_in(ctx, record.account, record.remember).await,
        Err(refusal) => Ok(message(&ctx, StatusCode::GONE, invitations::refusal_msg(refusal))),
    }
}

// ---- remembered browsers ----

/// The signed-in user's remembered browsers, each with Forget.
pub async fn remembered_page(ctx: Ctx, headers: HeaderMap) -> Res {
    let Some(account) = ctx.session.signed_in().map(str::to_owned) else { return Err(ctx.redirect("/")) };
    let current = cookie_value(&headers, REMEMBER_COOKIE);
    let listed = or_fail(&ctx, ctx.portal.browsers.list(&account, current))?;
    let t = |m| ctx.lang.t(m);
    let body = html! {
        p { (t(Msg::RememberedIntro)) }
        @if listed.is_empty() {
            p id="no-remembered" { (t(Msg::NoRemembered)) }
        } @else {
            table id="remembered" {
                thead { tr { th scope="col" { (t(Msg::DeviceName)) } th scope="col" { (t(Msg::RememberedSince)) } th scope="col" { (t(Msg::Forget)) } } }
                tbody {
                    @for l in &listed {
                        tr {
                            td { (l.record.label) @if l.this_browser { " (" (t(Msg::ThisBrowser)) ")" } }
                            td { (pages::utc(l.record.created_at)) }
                            td {
                                form method="post" action="/remembered/forget" {
                                    (csrf_field(&ctx.session.csrf))
                                    input type="hidden" name="id" value=(l.id);
                                    button type="submit" aria-label={ (t(Msg::Forget)) ": " (l.record.label) } { (t(Msg::Forget)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/home" { (t(Msg::Home)) } }
    };
    Ok(ctx.page(StatusCode::OK, pages::layout(&frame(&ctx), Msg::RememberedTitle, body)))
}

/// Forgets one of the signed-in user's remembered browsers.
pub async fn forget(CsrfForm { ctx, form }: CsrfForm<ForgetForm>) -> Res {
    let Some(account) = ctx.session.signed_in().map(str::to_owned) else { return Err(ctx.redirect("/")) };
    or_fail(&ctx, ctx.portal.browsers.revoke(&account, &form.id))?;
    Ok(ctx.redirect("/remembered"))
}

// ---- invitations and password resets ----

fn password_page(ctx: &Ctx, title: Msg, action: &str, token: &str, error: Option<&str>, feedback: &str) -> Markup {
    let t = |m| ctx.lang.t(m);
    let body = html! {
        @if let Some(e) = error {
            div.error role="alert" id="form-error" { p { (e) } @if !feedback.is_empty() { p lang="en" id="feedback" { (feedback) } } }
        }
        form method="post" action=(action) {
            (csrf_field(&ctx.session.csrf))
            @if action == "/invite" && token.is_empty() {
                label for="code" { (t(Msg::InviteCode)) }
                input id="code" name="t" type="text" required autocomplete="off";
            } @else {
                input type="hidden" name="t" value=(token);
            }
            p id="password-hint" { (t(Msg::PasswordHint)) }
            label for="password" { (t(Msg::NewPassword)) }
            input id="password" name="password" type="password" autocomplete="new-password" required minlength="8"
                aria-describedby=(if error.is_some() { "password-hint form-error" } else { "password-hint" });
            label for="password2" { (t(Msg::RepeatPassword)) }
            input id="password2" name="password2" type="password" autocomplete="new-password" required minlength="8";
            button type="submit" { (t(Msg::SetPasswordButton)) }
        }
    };
    pages::layout(&frame(ctx), title, body)
}

/// The invitation's page: the code from the link (or typed), and the first password.
pub async fn invite_page(ctx: Ctx, Query(query): Query<TokenQuery>) -> Res {
    if !query.t.is_empty() {
        if let Err(refusal) = or_fail(&ctx, ctx.portal.tokens.peek(Kind::Invitation, &query.t))? {
            return Ok(message(&ctx, StatusCode::GONE, invitations::refusal_msg(refusal)));
        }
    }
    Ok(ctx.page(StatusCode::OK, password_page(&ctx, Msg::InviteTitle, "/invite", &query.t, None, "")))
}

/// Checks a new password; `Err` is the form again with the reason and zxcvbn's feedback.
fn check_new_password(
    ctx: &Ctx,
    form: &PasswordForm,
    title: Msg,
    action: &str,
    inputs: &[&str],
) -> Result<(), Response> {
    let again = |msg: Msg, feedback: &str| {
        ctx.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            password_page(ctx, title, action, &form.t, Some(ctx.t(msg)), feedback),
        )
    };
    if form.password != form.password2 {
        return Err(again(Msg::PasswordsDiffer, ""));
    }
    match strength::check(&form.password, inputs) {
        Ok(()) => Ok(()),
        Err(Weak::TooShort) => Err(again(Msg::PasswordTooShort, "")),
        Err(Weak::Guessable(feedback)) => Err(again(Msg::PasswordWeak, &feedback)),
    }
}

/// Sets the invited account's first password, then leads to setting up a second factor.
pub async fn accept_invite(CsrfForm { mut ctx, form }: CsrfForm<PasswordForm>) -> Res {
    ctx.attempt()?;
    let token = form.t.trim().to_owned();
    let record = match or_fail(&ctx, ctx.portal.tokens.peek(Kind::Invitation, &token))? {
        Ok(record) => record,
        Err(refusal) => return Ok(message(&ctx, StatusCode::GONE, invitations::refusal_msg(refusal))),
    };
    let email = or_fail(&ctx, ctx.portal.accounts.get(&record.account))?.and_then(|a| a.email).unwrap_or_default();
    check_new_password(&ctx, &form, Msg::InviteTitle, "/invite", &[&record.account, &email])?;
    // Before the token is used up, so a server that cannot be reached leaves the link working.
    or_fail(&ctx, ctx.portal.ensure_server_user(&record.account).await)?;
    let record = match or_fail(&ctx, ctx.portal.tokens.consume(Kind::Invitation, &token))? {
        Ok(record) => record,
        Err(refusal) => return Ok(message(&ctx, StatusCode::GONE, invitations::refusal_msg(refusal))),
    };
    or_fail(&ctx, invitations::accept_invitation(&ctx.portal, &record.account, &form.password).await)?;
    // The e-mail code proved the address and the password is new: the account may now set up
    // its first second factor (the same path as a first sign-in), in a new session.
    let rotated = ctx.rotate(Stage::NeedsFactor { account: record.account });
    or_fail(&ctx, rotated)?;
    Ok(ctx.redirect("/devices"))
}

/// "Forgot your password?"
pub async fn forgot_page(ctx: Ctx) -> Res {
    Ok(ctx.page(StatusCode::OK, forgot_form(&ctx, None)))
}

fn forgot_form(ctx: &Ctx, notice: Option<&str>) -> Markup {
    let t = |m| ctx.lang.t(m);
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" id="forgot-sent" { (n) } }
        p { (t(Msg::ForgotIntro)) }
        form method="post" action="/forgot" {
            (csrf_field(&ctx.session.csrf))
            label for="user" { (t(Msg::UserName)) }
            input id="user" name="user" type="text" autocomplete="username" required;
            button type="submit" { (t(Msg::ForgotButton)) }
        }
        p { a href="/" { (t(Msg::SignInTitle)) } }
    };
    pages::layout(&frame(ctx), Msg::ForgotTitle, body)
}

/// Sends a reset link if the account exists and has an address; the answer is the same
/// either way, and the mail is sent after answering so its time tells nothing either.
pub async fn forgot(CsrfForm { ctx, form }: CsrfForm<UserForm>) -> Res {
    ctx.attempt()?;
    let portal = ctx.portal.clone();
    let user = form.user.trim().to_owned();
    let lang = ctx.lang;
    tokio::spawn(async move {
        if let Err(e) = invitations::send_reset(&portal, &user, lang).await {
            tracing::warn!(error = %e, "password reset e-mail");
        }
    });
    Ok(ctx.page(StatusCode::OK, forgot_form(&ctx, Some(ctx.t(Msg::ForgotSent)))))
}

/// The reset link's page: the new password.
pub async fn reset_page(ctx: Ctx, Query(query): Query<TokenQuery>) -> Res {
    if let Err(refusal) = or_fail(&ctx, ctx.portal.tokens.peek(Kind::Reset, &query.t))? {
        return Ok(message(&ctx, StatusCode::GONE, invitations::refusal_msg(refusal)));
    }
    Ok(ctx.page(StatusCode::OK, password_page(&ctx, Msg::ResetTitle, "/reset", &query.t, None, "")))
}

/// Sets the new password: unblocks, forgets remembered browsers, ends every session.
pub async fn reset(CsrfForm { mut ctx, form }: CsrfForm<PasswordForm>) -> Res {
    ctx.attempt()?;
    let record = match or_fail(&ctx, ctx.portal.tokens.peek(Kind::Reset, &form.t))? {
        Ok(record) => record,
        Err(refusal) => return Ok(message(&ctx, StatusCode::GONE, invitations::refusal_msg(refusal))),
    };
    let email = or_fail(&ctx, ctx.portal.accounts.get(&record.account))?.and_then(|a| a.email).unwrap_or_default();
    check_new_password(&ctx, &form, Msg::ResetTitle, "/reset", &[&record.account, &email])?;
    let record = match or_fail(&ctx, ctx.portal.tokens.consume(Kind::Reset, &form.t))? {
        Ok(record) => record,
        Err(refusal) => return Ok(message(&ctx, StatusCode::GONE, invitations::refusal_msg(refusal))),
    };
    or_fail(&ctx, invitations::set_password(&ctx.portal, &record.account, &form.password).await)?;
    // This browser's session may have been one of the account's: start a fresh one.
    let rotated = ctx.rotate(Stage::Anonymous);
    or_fail(&ctx, rotated)?;
    let body = html! {
        p.notice role="status" id="reset-done" { (ctx.t(Msg::ResetDone)) }
        p { a href="/" { (ctx.t(Msg::SignInTitle)) } }
    };
    Ok(ctx.page(StatusCode::OK, pages::layout(&frame(&ctx), Msg::ResetTitle, body)))
}
