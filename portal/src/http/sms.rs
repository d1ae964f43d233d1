//! Pages and handlers of the mobile number (SMS codes: verifying the number, signing in with
//! one), the contact e-mail addresses, and renaming a device.

#![allow(clippy::result_large_err)] // an early Err(Response) is how a handler stops

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::handlers::{complete_sign_in, frame, has_factor, home_of, password_stage, setup_or_signed_in, OrFail, Res};
use super::pages::{self, alert, csrf_field, layout, Frame};
use super::{CsrfForm, Ctx, HasCsrf};
use crate::accounts::SignInRefusal;
use crate::audit::AuditKind;
use crate::codes::{CodeRefusal, Purpose};
use crate::contacts::{ContactEmail, EmailError};
use crate::i18n::Msg;
use crate::sessions::Stage;
use crate::sms::{PhoneError, PhoneNumber, SmsError};

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

csrf_form!(NumberForm { number });
csrf_form!(CodeForm { code, remember });
csrf_form!(PlainForm {});
csrf_form!(AddressForm { address, code });
csrf_form!(RenameForm { device_id, name });

fn phone_msg(e: PhoneError) -> Msg {
    match e {
        PhoneError::NotE164 => Msg::PhoneNotE164,
        PhoneError::Length => Msg::PhoneLength,
        PhoneError::CountryCode => Msg::PhoneCountryCode,
    }
}

fn code_msg(r: CodeRefusal) -> Msg {
    match r {
        CodeRefusal::None => Msg::CodeNone,
        CodeRefusal::Expired => Msg::CodeExpired,
        CodeRefusal::Wrong => Msg::WrongCode,
        CodeRefusal::TooManyTries => Msg::CodeTooManyTries,
    }
}

fn email_msg(e: EmailError) -> Msg {
    match e {
        EmailError::Malformed => Msg::EmailMalformed,
        EmailError::TooLong => Msg::EmailTooLong,
        EmailError::TooMany => Msg::EmailTooMany,
        EmailError::Duplicate => Msg::EmailDuplicate,
    }
}

/// Sends a code by SMS; `Err` is the message to show (rate limit) or the error page.
async fn send_sms_code(
    ctx: &Ctx,
    account: &str,
    number: &PhoneNumber,
    purpose: Purpose,
) -> Result<(), Result<Msg, Response>> {
    let template = ctx.t(Msg::SmsText);
    let text = async {
        let code = ctx.portal.codes.issue(account, &purpose, number.as_str()).await?;
        Ok(template.replace("{code}", &code))
    };
    match ctx.portal.sms.send_with(account, number, text).await {
        Ok(()) => Ok(()),
        Err(SmsError::RateLimited) => Err(Ok(Msg::SmsRateLimited)),
        Err(e) => Err(Err(ctx.fail(e.into()))),
    }
}

// ---- the mobile number ----

fn sms_page(
    f: &Frame,
    number: Option<&crate::sms::MobileNumber>,
    pending: bool,
    notice: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::SmsTitle,
        html! {
            (alert(error))
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            @if let Some(n) = number {
                @if let Some(v) = &n.verified {
                    p { (t(Msg::MobileNumber)) ": " strong id="number" { (v.as_str()) } " "
                        span id="number-state" { "(" (t(Msg::Verified)) ")" } }
                }
                @if let Some(p) = &n.pending {
                    p { (t(Msg::MobileNumber)) ": " strong id="pending-number" { (p.as_str()) } " "
                        span id="pending-state" { "(" (t(Msg::NotVerified)) ")" } }
                    @if pending {
                        p { (t(Msg::CodeSentTo)) " " (p.masked()) "." }
                        form method="post" action="/sms/verify" {
                            (csrf_field(f.csrf))
                            label for="code" { (t(Msg::SmsCodeLabel)) }
                            input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                            button type="submit" { (t(Msg::VerifyButton)) }
                        }
                    }
                }
                form method="post" action="/sms/remove" { (csrf_field(f.csrf)) button type="submit" { (t(Msg::RemoveNumber)) } }
            }
            p { (t(Msg::SmsIntro)) }
            form method="post" action="/sms/number" {
                (csrf_field(f.csrf))
                label for="mobile" { (t(Msg::MobileNumber)) }
                input id="mobile" name="number" type="tel" autocomplete="tel" required maxlength="32";
                button type="submit" { (t(Msg::SendCodeButton)) }
            }
            p { a href="/home" { (t(Msg::Home)) } }
        },
    )
}

async fn render_sms(ctx: &Ctx, status: StatusCode, notice: Option<Msg>, error: Option<Msg>) -> Res {
    let (account, _) = setup_or_signed_in(ctx)?;
    let number = ctx.portal.sms.number(&account).or_fail(ctx)?;
    let pending = ctx.portal.codes.pending_target(&account, &Purpose::VerifyPhone).or_fail(ctx)?.is_some();
    Ok(ctx.page(
        status,
        sms_page(&frame(ctx), number.as_ref(), pending, notice.map(|m| ctx.t(m)), error.map(|m| ctx.t(m))),
    ))
}

pub async fn sms_settings(ctx: Ctx) -> Res {
    render_sms(&ctx, StatusCode::OK, None, None).await
}

pub async fn set_number(CsrfForm { ctx, form }: CsrfForm<NumberForm>) -> Res {
    let (account, _) = setup_or_signed_in(&ctx)?;
    let number = match PhoneNumber::parse(&form.number) {
        Ok(n) => n,
        Err(e) => return render_sms(&ctx, StatusCode::BAD_REQUEST, None, Some(phone_msg(e))).await,
    };
    ctx.portal.sms.set_unverified(&account, &number).or_fail(&ctx)?;
    match send_sms_code(&ctx, &account, &number, Purpose::VerifyPhone).await {
        Ok(()) => Ok(ctx.redirect("/sms")),
        Err(Ok(msg)) => render_sms(&ctx, StatusCode::TOO_MANY_REQUESTS, None, Some(msg)).await,
        Err(Err(response)) => Err(response),
    }
}

pub async fn verify_number(CsrfForm { ctx, form }: CsrfForm<CodeForm>) -> Res {
    let (account, setup) = setup_or_signed_in(&ctx)?;
    ctx.attempt()?;
    match ctx.portal.codes.check(&account, &Purpose::VerifyPhone, &form.code).await.or_fail(&ctx)? {
        Ok(target) => {
            // The code proves the number it went to, and only if that is still the account's.
            if !ctx.portal.sms.mark_verified(&account, &target).or_fail(&ctx)? {
                return render_sms(&ctx, StatusCode::CONFLICT, None, Some(Msg::CodeNone)).await;
            }
            ctx.portal.audit_event(&account, &account, AuditKind::PhoneVerified, &target).or_fail(&ctx)?;
            if setup {
                return complete_sign_in(ctx, account, false).await;
            }
            render_sms(&ctx, StatusCode::OK, Some(Msg::PhoneVerifiedNotice), None).await
        }
        Err(refusal) => render_sms(&ctx, StatusCode::FORBIDDEN, None, Some(code_msg(refusal))).await,
    }
}

pub async fn remove_number(CsrfForm { ctx, .. }: CsrfForm<PlainForm>) -> Res {
    let Some(account) = ctx.session.signed_in().map(str::to_owned) else {
        return Ok(ctx.redirect(home_of(&ctx.session.stage)));
    };
    ctx.portal.sms.remove(&account).or_fail(&ctx)?;
    ctx.portal.codes.revoke(&account, &Purpose::VerifyPhone).or_fail(&ctx)?;
    ctx.portal.codes.revoke(&account, &Purpose::SmsSignIn).or_fail(&ctx)?;
    Ok(ctx.redirect("/sms"))
}

// ---- signing in with an SMS code ----

fn sms_factor_page(f: &Frame, masked: &str, error: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::SmsSignInTitle,
        html! {
            (alert(error))
            p { (t(Msg::CodeSentTo)) " " span id="masked" { (masked) } "." }
            form method="post" action="/factor/sms/verify" {
                (csrf_field(f.csrf))
                label for="sms-code" { (t(Msg::SmsCodeLabel)) }
                input id="sms-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                (super::email::remember_box(f, "remember-sms"))
                button type="submit" { (t(Msg::ConfirmButton)) }
            }
            form method="post" action="/factor/sms" { (csrf_field(f.csrf)) button type="submit" { (t(Msg::SendNewCode)) } }
            p { a href="/factor" { (t(Msg::OtherWay)) } }
        },
    )
}

pub async fn start_sms(CsrfForm { ctx, .. }: CsrfForm<PlainForm>) -> Res {
    let account = password_stage(&ctx)?;
    let Some(number) = ctx.portal.sms.verified_number(&account).or_fail(&ctx)? else {
        return Ok(ctx.redirect("/factor"));
    };
    match send_sms_code(&ctx, &account, &number, Purpose::SmsSignIn).await {
        Ok(()) => Ok(ctx.redirect("/factor/sms")),
        Err(Ok(msg)) => {
            let factors = has_factor(&ctx, &account).await?;
            Ok(ctx.page(StatusCode::TOO_MANY_REQUESTS, pages::factor_choice(&frame(&ctx), &factors, Some(ctx.t(msg)))))
        }
        Err(Err(response)) => Err(response),
    }
}

pub async fn sms_factor(ctx: Ctx) -> Res {
    let account = password_stage(&ctx)?;
    let Some(number) = ctx.portal.sms.verified_number(&account).or_fail(&ctx)? else {
        return Ok(ctx.redirect("/factor"));
    };
    Ok(ctx.page(StatusCode::OK, sms_factor_page(&frame(&ctx), &number.masked(), None)))
}

pub async fn verify_sms(CsrfForm { mut ctx, form }: CsrfForm<CodeForm>) -> Res {
    let account = password_stage(&ctx)?;
    ctx.attempt()?;
    let blocked = ctx.portal.accounts.get(&account).or_fail(&ctx)?.is_none_or(|a| a.blocked);
    let Some(number) = ctx.portal.sms.verified_number(&account).or_fail(&ctx)? else {
        return Ok(ctx.redirect("/factor"));
    };
    let refusal = if blocked {
        SignInRefusal::Blocked
    } else {
        match ctx.portal.codes.check(&account, &Purpose::SmsSignIn, &form.code).await.or_fail(&ctx)? {
            // The code must have gone to the number that is verified now.
            Ok(target) if target == number.as_str() => {
                return complete_sign_in(ctx, account, super::email::ticked(&form.remember)).await
            }
            Ok(_) => SignInRefusal::WrongCredentials,
            Err(r @ (CodeRefusal::None | CodeRefusal::Expired)) => {
                let msg = code_msg(r);
                return Ok(
                    ctx.page(StatusCode::FORBIDDEN, sms_factor_page(&frame(&ctx), &number.masked(), Some(ctx.t(msg))))
                );
            }
            // Every wrong code counts towards the account's block, like a wrong password.
            Err(CodeRefusal::Wrong | CodeRefusal::TooManyTries) => {
                let refusal = ctx.portal.accounts.count_wrong_code(&account).await.or_fail(&ctx)?;
                super::admin::audit_refusal(&ctx, &account, refusal);
                refusal
            }
        }
    };
    if refusal == SignInRefusal::Blocked {
        ctx.rotate(Stage::Anonymous).or_fail(&ctx)?;
        return Ok(ctx.page(StatusCode::FORBIDDEN, pages::sign_in(&frame(&ctx), &account, Some(ctx.t(Msg::Blocked)))));
    }
    Ok(ctx.page(StatusCode::FORBIDDEN, sms_factor_page(&frame(&ctx), &number.masked(), Some(ctx.t(Msg::WrongCode)))))
}

// ---- contact e-mail addresses ----

fn contacts_page(f: &Frame, list: &[ContactEmail], pending: &[bool], error: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::ContactsTitle,
        html! {
            (alert(error))
            p { (t(Msg::ContactsIntro)) }
            @if list.is_empty() {
                p id="no-contacts" { (t(Msg::NoContacts)) }
            } @else {
                ul id="contacts" {
                    @for (c, waiting) in list.iter().zip(pending) {
                        li data-address=(c.address) {
                            strong { (c.address) } " "
                            span.state { "(" (if c.verified { t(Msg::Verified) } else { t(Msg::NotVerified) }) ")" }
                            @if !c.verified && *waiting {
                                form method="post" action="/contacts/verify" {
                                    (csrf_field(f.csrf))
                                    input type="hidden" name="address" value=(c.address);
                                    label { (t(Msg::SmsCodeLabel)) " "
                                        input name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required; }
                                    button type="submit" { (t(Msg::VerifyButton)) }
                                }
                            }
                            form method="post" action="/contacts/remove" {
                                (csrf_field(f.csrf))
                                input type="hidden" name="address" value=(c.address);
                                button type="submit" aria-label={ (t(Msg::Remove)) ": " (c.address) } { (t(Msg::Remove)) }
                            }
                        }
                    }
                }
            }
            form method="post" action="/contacts/add" {
                (csrf_field(f.csrf))
                label for="address" { (t(Msg::EmailAddress)) }
                input id="address" name="address" type="email" autocomplete="email" required maxlength="254";
                button type="submit" { (t(Msg::AddAddressButton)) }
            }
            p { a href="/home" { (t(Msg::Home)) } }
        },
    )
}

async fn render_contacts(ctx: &Ctx, account: &str, status: StatusCode, error: Option<Msg>) -> Res {
    let list = ctx.portal.contacts.list(account).or_fail(ctx)?;
    let mut pending = Vec::with_capacity(list.len());
    for c in &list {
        let purpose = Purpose::VerifyEmail(c.address.clone());
        pending.push(ctx.portal.codes.pending_target(account, &purpose).or_fail(ctx)?.is_some());
    }
    Ok(ctx.page(status, contacts_page(&frame(ctx), &list, &pending, error.map(|m| ctx.t(m)))))
}

fn signed_in(ctx: &Ctx) -> Result<String, Response> {
    ctx.session.signed_in().map(str::to_owned).ok_or_else(|| ctx.redirect(home_of(&ctx.session.stage)))
}

pub async fn contacts(ctx: Ctx) -> Res {
    let account = signed_in(&ctx)?;
    render_contacts(&ctx, &account, StatusCode::OK, None).await
}

pub async fn add_contact(CsrfForm { ctx, form }: CsrfForm<AddressForm>) -> Res {
    let account = signed_in(&ctx)?;
    let now = ctx.portal.config.clock.now();
    let address = match ctx.portal.contacts.add(&account, &form.address, now).or_fail(&ctx)? {
        Ok(address) => address,
        Err(e) => return render_contacts(&ctx, &account, StatusCode::BAD_REQUEST, Some(email_msg(e))).await,
    };
    if !ctx.portal.contacts.mail_limit.allow(&account).await.or_fail(&ctx)? {
        // Not sent, so not kept: the address can be added again later.
        ctx.portal.contacts.remove(&account, &address).or_fail(&ctx)?;
        return render_contacts(&ctx, &account, StatusCode::TOO_MANY_REQUESTS, Some(Msg::EmailRateLimited)).await;
    }
    let code =
        ctx.portal.codes.issue(&account, &Purpose::VerifyEmail(address.clone()), &address).await.or_fail(&ctx)?;
    let body = ctx.t(Msg::EmailCodeBody).replace("{code}", &code);
    ctx.portal.mailer.send(&address, ctx.t(Msg::EmailCodeSubject), body).await.or_fail(&ctx)?;
    Ok(ctx.redirect("/contacts"))
}

pub async fn verify_contact(CsrfForm { ctx, form }: CsrfForm<AddressForm>) -> Res {
    let account = signed_in(&ctx)?;
    ctx.attempt()?;
    let purpose = Purpose::VerifyEmail(form.address.clone());
    match ctx.portal.codes.check(&account, &purpose, &form.code).await.or_fail(&ctx)? {
        Ok(target)
            if target == form.address && ctx.portal.contacts.mark_verified(&account, &target).or_fail(&ctx)? =>
        {
            ctx.portal.audit_event(&account, &account, AuditKind::EmailVerified, &target).or_fail(&ctx)?;
            Ok(ctx.redirect("/contacts"))
        }
        Ok(_) => render_contacts(&ctx, &account, StatusCode::CONFLICT, Some(Msg::CodeNone)).await,
        Err(refusal) => render_contacts(&ctx, &account, StatusCode::FORBIDDEN, Some(code_msg(refusal))).await,
    }
}

pub async fn remove_contact(CsrfForm { ctx, form }: CsrfForm<AddressForm>) -> Res {
    let account = signed_in(&ctx)?;
    ctx.portal.contacts.remove(&account, &form.address).or_fail(&ctx)?;
    ctx.portal.codes.revoke(&account, &Purpose::VerifyEmail(form.address.clone())).or_fail(&ctx)?;
    Ok(ctx.redirect("/contacts"))
}

// ---- renaming a device ----

pub async fn rename_device(CsrfForm { ctx, form }: CsrfForm<RenameForm>) -> Res {
    let account = signed_in(&ctx)?;
    let name = crate::device_names::clean_name(&form.name);
    if name.is_empty() {
        return Ok(ctx.redirect("/devices"));
    }
    // Only a device of this account: the id comes from the browser.
    let devices = ctx.portal.rp.devices_or_none(&account).await.or_fail(&ctx)?;
    if !devices.iter().any(|d| d.device_id == form.device_id) {
        return Ok(ctx.page(StatusCode::NOT_FOUND, pages::message_page(ctx.lang, "404")));
    }
    ctx.portal.device_names.rename(&account, &form.device_id, &name).or_fail(&ctx)?;
    Ok(ctx.redirect("/devices"))
}
