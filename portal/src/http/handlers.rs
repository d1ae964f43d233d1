//! The request handlers: each checks the session's stage, calls the rules or the
//! relying-party API, and renders a page or redirects.

// An early `Err(Response)` is how a handler stops (a redirect or an error page); it is built and
// moved once per request, so its size does not matter.
#![allow(clippy::result_large_err)]

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::pages::{self, Factors, Frame};
use super::{CsrfForm, Ctx, HasCsrf, LANG_COOKIE};
use crate::accounts::SignInRefusal;
use crate::error::PortalError;
use crate::i18n::{Lang, Msg};
use crate::nyckel::{BrowserContext, ChallengeState, EnrollmentStatus, RpError};
use crate::sessions::{PendingEnrollment, PendingFactor, Stage};
use crate::totp;

macro_rules! csrf_form {
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

csrf_form!(LoginForm { user, password });
csrf_form!(Plain {});
csrf_form!(LangForm { lang, back });
csrf_form!(CodeForm { code, remember });
csrf_form!(OtpForm { otp, remember });
csrf_form!(RememberForm { remember });
csrf_form!(NameForm { name });
csrf_form!(DeviceForm { device_id });

pub(super) type Res = Result<Response, Response>;

pub(super) fn frame(ctx: &Ctx) -> Frame<'_> {
    Frame { lang: ctx.lang, csrf: &ctx.session.csrf, path: &ctx.path }
}

pub(super) trait OrFail<T> {
    fn or_fail(self, ctx: &Ctx) -> Result<T, Response>;
}

impl<T, E: Into<PortalError>> OrFail<T> for Result<T, E> {
    fn or_fail(self, ctx: &Ctx) -> Result<T, Response> {
        self.map_err(|e| ctx.fail(e.into()))
    }
}

fn refusal_msg(refusal: SignInRefusal) -> Msg {
    match refusal {
        SignInRefusal::WrongCredentials => Msg::WrongCredentials,
        SignInRefusal::Blocked => Msg::Blocked,
        SignInRefusal::Inactive => Msg::Inactive,
    }
}

/// Where a session at its stage belongs.
pub(super) fn home_of(stage: &Stage) -> &'static str {
    match stage {
        Stage::Anonymous => "/",
        Stage::Password { .. } => "/factor",
        Stage::NeedsFactor { .. } => "/devices",
        Stage::SignedIn { .. } => "/home",
    }
}

/// The account of a session at `Password` stage, or a redirect to where it belongs.
pub(super) fn password_stage(ctx: &Ctx) -> Result<String, Response> {
    match &ctx.session.stage {
        Stage::Password { account } => Ok(account.clone()),
        other => Err(ctx.redirect(home_of(other))),
    }
}

/// The account of a signed-in session, or of one setting up its first factor.
pub(super) fn setup_or_signed_in(ctx: &Ctx) -> Result<(String, bool), Response> {
    match &ctx.session.stage {
        Stage::SignedIn { account } => Ok((account.clone(), false)),
        Stage::NeedsFactor { account } => Ok((account.clone(), true)),
        other => Err(ctx.redirect(home_of(other))),
    }
}

/// The account's second factors: an authenticator app, any registered phone (blocked and
/// inactive ones count, so a blocked phone is not bypassed by registering another), a verified
/// mobile number, and whether any verified address can receive a sign-in link.
pub(super) async fn has_factor(ctx: &Ctx, account: &str) -> Result<Factors, Response> {
    let has_totp = ctx.portal.accounts.get(account).or_fail(ctx)?.is_some_and(|a| a.has_totp());
    let devices = match ctx.portal.rp.devices(account).await {
        Ok(devices) => devices,
        // A user the second-factor server does not know has no phone.
        Err(RpError::Api { status: 404, .. }) => Vec::new(),
        Err(e) => return Err(ctx.fail(e.into())),
    };
    let sms = ctx.portal.sms.verified_number(account).or_fail(ctx)?.is_some();
    let email = !crate::invitations::sign_in_addresses(&ctx.portal, account).or_fail(ctx)?.is_empty();
    Ok(Factors { device: !devices.is_empty(), totp: has_totp, sms, email })
}

/// Ends the second step: the account is used now, the sign-in is in the audit log, the browser
/// gets a new session id, and is remembered for 20 days when the user ticked the box.
pub(super) async fn complete_sign_in(ctx: Ctx, account: String, remember: bool) -> Res {
    super::email::finish_sign_in(ctx, account, remember).await
}

pub async fn index(ctx: Ctx) -> Response {
    match ctx.session.stage {
        Stage::Anonymous => ctx.page(StatusCode::OK, pages::sign_in(&frame(&ctx), "", None)),
        ref other => ctx.redirect(home_of(other)),
    }
}

pub async fn login(headers: header::HeaderMap, CsrfForm { mut ctx, form }: CsrfForm<LoginForm>) -> Res {
    ctx.attempt()?;
    let user = form.user.trim().to_owned();
    let outcome = ctx.portal.accounts.check_password(&user, &form.password).await.or_fail(&ctx)?;
    let account = match outcome {
        Ok(account) => account,
        Err(refusal) => {
            super::admin::audit_refusal(&ctx, &user, refusal);
            let status = if refusal == SignInRefusal::WrongCredentials {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            return Ok(ctx.page(status, pages::sign_in(&frame(&ctx), &user, Some(ctx.t(refusal_msg(refusal))))));
        }
    };
    let factors = has_factor(&ctx, &account.name).await?;
    // A browser remembered for this account skips the second step (only after the password).
    if factors.any() && super::email::remembered(&ctx, &headers, &account.name)? {
        return complete_sign_in(ctx, account.name, false).await;
    }
    let stage = if factors.any() {
        Stage::Password { account: account.name }
    } else {
        Stage::NeedsFactor { account: account.name }
    };
    // A new id once the password is right: an id planted before sign-in is worthless after.
    ctx.rotate(stage).or_fail(&ctx)?;
    Ok(ctx.redirect(home_of(&ctx.session.stage)))
}

pub async fn logout(CsrfForm { mut ctx, .. }: CsrfForm<Plain>) -> Res {
    ctx.rotate(Stage::Anonymous).or_fail(&ctx)?;
    Ok(ctx.redirect("/"))
}

pub async fn switch_language(CsrfForm { ctx, form }: CsrfForm<LangForm>) -> Response {
    let lang = Lang::from_tag(&form.lang).unwrap_or(ctx.lang);
    // Only a path of this site (never `//host`), so the switch is no open redirect.
    let back = if form.back.starts_with('/') && !form.back.starts_with("//") && !form.back.contains('\\') {
        form.back.as_str()
    } else {
        "/"
    };
    let secure = if ctx.portal.config.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{secure}", lang.tag());
    let mut response = ctx.redirect(back);
    if let Ok(value) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn factor(ctx: Ctx) -> Res {
    let account = password_stage(&ctx)?;
    let factors = has_factor(&ctx, &account).await?;
    Ok(ctx.page(StatusCode::OK, pages::factor_choice(&frame(&ctx), &factors, None)))
}

fn browser_context(ctx: &Ctx) -> BrowserContext {
    // The phone refuses undisplayable text; keep a short, printable description.
    let browser = ctx.user_agent.as_deref().map(|ua| {
        let name = ["Firefox", "Edg", "Chrome", "Safari"].into_iter().find(|b| ua.contains(b)).unwrap_or("Browser");
        let os = ["Windows", "Android", "iPhone", "Mac OS", "Linux"].into_iter().find(|o| ua.contains(o));
        let name = if name == "Edg" { "Edge" } else { name };
        match os {
            Some(os) => format!("{name} on {os}"),
            None => name.to_owned(),
        }
    });
    BrowserContext { browser, ip: ctx.ip.clone(), time: Some(ctx.portal.config.clock.now()) }
}

pub async fn start_push(CsrfForm { mut ctx, .. }: CsrfForm<Plain>) -> Res {
    let account = password_stage(&ctx)?;
    let portal = ctx.portal.clone();
    let created = portal.rp.start_push(&account, &portal.config.service_name, "Sign in", &browser_context(&ctx)).await;
    match created {
        Ok(created) => {
            ctx.session.factor = Some(PendingFactor::Push {
                challenge_id: created.challenge_id,
                number: created.number,
                expires_at: created.expires_at,
            });
            ctx.save().or_fail(&ctx)?;
            Ok(ctx.redirect("/factor/push"))
        }
        Err(RpError::Api { code, .. }) if code == "no_device" || code == "forbidden" => {
            let factors = has_factor(&ctx, &account).await?;
            Ok(ctx.page(StatusCode::CONFLICT, pages::factor_choice(&frame(&ctx), &factors, Some(ctx.t(Msg::NoDevice)))))
        }
        Err(e) => Err(ctx.fail(e.into())),
    }
}

fn pending_push(ctx: &Ctx) -> Option<(String, Option<String>)> {
    match &ctx.session.factor {
        Some(PendingFactor::Push { challenge_id, number, .. }) => Some((challenge_id.clone(), number.clone())),
        _ => None,
    }
}

pub async fn push_page(ctx: Ctx) -> Res {
    password_stage(&ctx)?;
    let Some((_, number)) = pending_push(&ctx) else { return Ok(ctx.redirect("/factor")) };
    Ok(ctx.page(StatusCode::OK, pages::push(&frame(&ctx), number.as_deref(), ChallengeState::Pending)))
}

/// The live status the push page's script long-polls: `{"state": …}`.
pub async fn factor_status(ctx: Ctx) -> Response {
    let Stage::Password { .. } = ctx.session.stage else {
        return ctx.finish((StatusCode::FORBIDDEN, Json(json!({"state": "signed_out"}))));
    };
    let Some((challenge, _)) = pending_push(&ctx) else {
        return ctx.finish((StatusCode::NOT_FOUND, Json(json!({"state": "none"}))));
    };
    match ctx.portal.rp.challenge_status(&challenge, ctx.portal.config.long_poll_seconds).await {
        Ok(status) => ctx.finish(Json(json!({"state": status.state}))),
        Err(e) => {
            tracing::warn!(error = %e, "challenge status");
            ctx.finish((StatusCode::BAD_GATEWAY, Json(json!({"state": "error"}))))
        }
    }
}

pub async fn complete_push(CsrfForm { ctx, form }: CsrfForm<RememberForm>) -> Res {
    let account = password_stage(&ctx)?;
    let Some((challenge, number)) = pending_push(&ctx) else { return Ok(ctx.redirect("/factor")) };
    let status = ctx.portal.rp.challenge_status(&challenge, 0).await.or_fail(&ctx)?;
    if status.state == ChallengeState::Approved {
        return complete_sign_in(ctx, account, super::email::ticked(&form.remember)).await;
    }
    let code = if status.state == ChallengeState::Pending { StatusCode::ACCEPTED } else { StatusCode::FORBIDDEN };
    Ok(ctx.page(code, pages::push(&frame(&ctx), number.as_deref(), status.state)))
}

pub async fn start_qr(CsrfForm { mut ctx, .. }: CsrfForm<Plain>) -> Res {
    let account = password_stage(&ctx)?;
    let portal = ctx.portal.clone();
    match portal.rp.start_qr(&account, &portal.config.service_name, "Sign in").await {
        Ok(created) => {
            ctx.session.factor = Some(PendingFactor::Qr {
                challenge_id: created.challenge_id,
                qr: created.qr,
                expires_at: created.expires_at,
            });
            ctx.save().or_fail(&ctx)?;
            Ok(ctx.redirect("/factor/qr"))
        }
        Err(RpError::Api { code, .. }) if code == "otp_locked" || code == "forbidden" => {
            let factors = has_factor(&ctx, &account).await?;
            Ok(ctx
                .page(StatusCode::FORBIDDEN, pages::factor_choice(&frame(&ctx), &factors, Some(ctx.t(Msg::OtpLocked)))))
        }
        Err(e) => Err(ctx.fail(e.into())),
    }
}

pub async fn qr_page(ctx: Ctx) -> Res {
    password_stage(&ctx)?;
    let Some(PendingFactor::Qr { qr, .. }) = &ctx.session.factor else { return Ok(ctx.redirect("/factor")) };
    Ok(ctx.page(StatusCode::OK, pages::qr(&frame(&ctx), qr, None)))
}

pub async fn verify_qr(CsrfForm { ctx, form }: CsrfForm<OtpForm>) -> Res {
    let account = password_stage(&ctx)?;
    ctx.attempt()?;
    let Some(PendingFactor::Qr { challenge_id, qr, .. }) = ctx.session.factor.clone() else {
        return Ok(ctx.redirect("/factor"));
    };
    let message = match ctx.portal.rp.verify_otp(&challenge_id, form.otp.trim()).await {
        Ok(status) if status.state == ChallengeState::Approved => {
            return complete_sign_in(ctx, account, super::email::ticked(&form.remember)).await
        }
        Ok(status) => pages_state_msg(status.state),
        Err(RpError::Api { code, .. }) => match code.as_str() {
            "wrong_pin" | "bad_request" => Msg::WrongCode,
            "qr_mismatch" => Msg::QrMismatch,
            "otp_locked" => Msg::OtpLocked,
            "challenge_expired" | "already_answered" => Msg::StateExpired,
            "device_blocked" => Msg::StateBlocked,
            _ => Msg::ServiceUnavailable,
        },
        Err(e) => return Err(ctx.fail(e.into())),
    };
    Ok(ctx.page(StatusCode::FORBIDDEN, pages::qr(&frame(&ctx), &qr, Some(ctx.t(message)))))
}

fn pages_state_msg(state: ChallengeState) -> Msg {
    match state {
        ChallengeState::Expired => Msg::StateExpired,
        ChallengeState::Blocked => Msg::StateBlocked,
        ChallengeState::Denied | ChallengeState::Fraud => Msg::StateDenied,
        _ => Msg::WrongCode,
    }
}

pub async fn verify_totp(CsrfForm { mut ctx, form }: CsrfForm<CodeForm>) -> Res {
    let account = password_stage(&ctx)?;
    ctx.attempt()?;
    let outcome = ctx.portal.accounts.check_totp(&account, &form.code).await.or_fail(&ctx)?;
    if let Err(refusal) = outcome {
        super::admin::audit_refusal(&ctx, &account, refusal);
    }
    match outcome {
        Ok(()) => complete_sign_in(ctx, account, super::email::ticked(&form.remember)).await,
        Err(SignInRefusal::Blocked) => {
            // The account is blocked now: this session goes back to the start.
            ctx.rotate(Stage::Anonymous).or_fail(&ctx)?;
            Ok(ctx.page(StatusCode::FORBIDDEN, pages::sign_in(&frame(&ctx), &account, Some(ctx.t(Msg::Blocked)))))
        }
        Err(_) => {
            let factors = has_factor(&ctx, &account).await?;
            Ok(ctx
                .page(StatusCode::FORBIDDEN, pages::factor_choice(&frame(&ctx), &factors, Some(ctx.t(Msg::WrongCode)))))
        }
    }
}

pub async fn home(ctx: Ctx) -> Res {
    let Some(account) = ctx.session.signed_in().map(str::to_owned) else {
        return Ok(ctx.redirect(home_of(&ctx.session.stage)));
    };
    Ok(ctx.page(StatusCode::OK, pages::home(&frame(&ctx), &account, None)))
}

pub async fn devices(ctx: Ctx) -> Res {
    let (account, setup) = setup_or_signed_in(&ctx)?;
    let mut devices = match ctx.portal.rp.devices(&account).await {
        Ok(devices) => devices,
        Err(RpError::Api { status: 404, .. }) => Vec::new(),
        Err(e) => return Err(ctx.fail(e.into())),
    };
    ctx.portal.device_names.apply(&account, &mut devices).or_fail(&ctx)?;
    Ok(ctx.page(StatusCode::OK, pages::devices(&frame(&ctx), &devices, !setup, setup)))
}

pub async fn add_device(CsrfForm { mut ctx, form }: CsrfForm<NameForm>) -> Res {
    let (account, _) = setup_or_signed_in(&ctx)?;
    let name: String = form.name.trim().chars().filter(|c| !c.is_control()).take(64).collect();
    if name.is_empty() {
        return Ok(ctx.redirect("/devices"));
    }
    ctx.portal.ensure_server_user(&account).await.or_fail(&ctx)?;
    let started = ctx.portal.rp.start_enrollment(&account, &name).await.or_fail(&ctx)?;
    ctx.session.enrollment = Some(PendingEnrollment {
        enrollment_id: started.enrollment_id,
        qr: started.qr,
        expires_at: started.expires_at,
    });
    ctx.save().or_fail(&ctx)?;
    Ok(ctx.redirect("/devices/enroll"))
}

pub async fn enroll_page(ctx: Ctx) -> Res {
    let (_, setup) = setup_or_signed_in(&ctx)?;
    let Some(enrollment) = ctx.session.enrollment.clone() else { return Ok(ctx.redirect("/devices")) };
    let status = ctx.portal.rp.enrollment_status(&enrollment.enrollment_id, 0).await.or_fail(&ctx)?;
    Ok(ctx.page(StatusCode::OK, pages::enroll(&frame(&ctx), &enrollment.qr, &status, setup)))
}

/// The live status the registration page's script long-polls.
pub async fn enroll_status(ctx: Ctx) -> Response {
    if setup_or_signed_in(&ctx).is_err() {
        return ctx.finish((StatusCode::FORBIDDEN, Json(json!({"state": "signed_out"}))));
    }
    let Some(enrollment) = ctx.session.enrollment.clone() else {
        return ctx.finish((StatusCode::NOT_FOUND, Json(json!({"state": "none"}))));
    };
    match ctx.portal.rp.enrollment_status(&enrollment.enrollment_id, ctx.portal.config.long_poll_seconds).await {
        Ok(EnrollmentStatus { state, device_name, platform, fingerprint }) => ctx.finish(Json(
            json!({"state": state, "device_name": device_name, "platform": platform, "fingerprint": fingerprint}),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "enrollment status");
            ctx.finish((StatusCode::BAD_GATEWAY, Json(json!({"state": "error"}))))
        }
    }
}

pub async fn remove_device(CsrfForm { ctx, form }: CsrfForm<DeviceForm>) -> Res {
    let Some(account) = ctx.session.signed_in().map(str::to_owned) else {
        return Ok(ctx.redirect(home_of(&ctx.session.stage)));
    };
    match ctx.portal.rp.remove_device(&account, &form.device_id).await {
        Ok(()) | Err(RpError::Api { status: 404, .. }) => Ok(ctx.redirect("/devices")),
        Err(e) => Err(ctx.fail(e.into())),
    }
}

/// The end of a first sign-in: the account now has a factor, so the session is signed in.
pub async fn setup_complete(CsrfForm { ctx, .. }: CsrfForm<Plain>) -> Res {
    let Stage::NeedsFactor { account } = ctx.session.stage.clone() else {
        return Ok(ctx.redirect(home_of(&ctx.session.stage)));
    };
    let factors = has_factor(&ctx, &account).await?;
    if !factors.any() {
        return Ok(ctx.redirect("/devices"));
    }
    complete_sign_in(ctx, account, false).await
}

pub async fn totp_page(mut ctx: Ctx) -> Res {
    let (account, _) = setup_or_signed_in(&ctx)?;
    let secret = match ctx.session.pending_totp(&ctx.portal.pending_totp, &account, &ctx.sid) {
        Some(secret) => secret.to_string(),
        None => {
            let secret = totp::new_secret();
            let (sealer, sid) = (ctx.portal.pending_totp.clone(), ctx.sid.clone());
            ctx.session.seal_pending_totp(&sealer, &account, &sid, &secret).or_fail(&ctx)?;
            ctx.save().or_fail(&ctx)?;
            secret
        }
    };
    let uri = totp::otpauth_uri(&ctx.portal.config.service_name, &account, &secret);
    Ok(ctx.page(StatusCode::OK, pages::totp_setup(&frame(&ctx), &uri, &secret, None)))
}

pub async fn totp_confirm(CsrfForm { mut ctx, form }: CsrfForm<CodeForm>) -> Res {
    let (account, setup) = setup_or_signed_in(&ctx)?;
    let Some(secret) = ctx.session.pending_totp(&ctx.portal.pending_totp, &account, &ctx.sid) else {
        return Ok(ctx.redirect("/totp"));
    };
    let secret = secret.to_string();
    let now = ctx.portal.config.clock.now();
    let Some(step) = totp::matching_step(&secret, &form.code, now) else {
        let uri = totp::otpauth_uri(&ctx.portal.config.service_name, &account, &secret);
        return Ok(ctx
            .page(StatusCode::FORBIDDEN, pages::totp_setup(&frame(&ctx), &uri, &secret, Some(ctx.t(Msg::WrongCode)))));
    };
    ctx.portal.accounts.set_totp(&account, secret, step).await.or_fail(&ctx)?;
    ctx.session.totp_pending = None;
    ctx.save().or_fail(&ctx)?;
    if setup {
        return complete_sign_in(ctx, account, false).await;
    }
    Ok(ctx.page(StatusCode::OK, pages::home(&frame(&ctx), &account, Some(ctx.t(Msg::TotpSaved)))))
}

pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("../../static/app.js"),
    )
        .into_response()
}

pub async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

/// Unknown paths get a plain 404 without a session, so stray requests create nothing.
pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, axum::response::Html(pages::message_page(Lang::En, "404 – not found").into_string()))
        .into_response()
}
