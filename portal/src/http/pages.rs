//! The pages, as maud templates (every inserted value is HTML-escaped), with texts only from
//! the message catalogue.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use maud::{html, Markup, DOCTYPE};

use crate::i18n::{Lang, Msg};
use crate::nyckel::{ChallengeState, DeviceInfo, EnrollmentStatus};

/// What every page needs from the request.
pub struct Frame<'a> {
    pub lang: Lang,
    pub csrf: &'a str,
    pub path: &'a str,
}

/// A QR code of `text` as an `<img>` with a data URI and `alt` text.
pub fn qr_image(text: &str, alt: &str) -> Markup {
    let svg = qrcode::QrCode::new(text.as_bytes())
        .map(|code| code.render::<qrcode::render::svg::Color>().min_dimensions(240, 240).build())
        .unwrap_or_default();
    let src = format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg));
    html! { img.qr src=(src) alt=(alt) width="240" height="240"; }
}

pub(crate) fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// The frame of every page: language switch, title, body.
pub fn layout(f: &Frame, title: Msg, body: Markup) -> Markup {
    let t = |m| f.lang.t(m);
    html! {
        (DOCTYPE)
        html lang=(f.lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (t(title)) " – " (t(Msg::Brand)) }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header {
                    span.brand { (t(Msg::Brand)) }
                    form.lang method="post" action="/lang" aria-label=(t(Msg::Language)) {
                        (csrf_field(f.csrf))
                        input type="hidden" name="back" value=(f.path);
                        @for lang in Lang::ALL {
                            button type="submit" name="lang" value=(lang.tag()) lang=(lang.tag())
                                aria-pressed=(if lang == f.lang { "true" } else { "false" }) { (lang.native_name()) }
                        }
                    }
                }
                main {
                    h1 { (t(title)) }
                    (body)
                }
            }
        }
    }
}

/// A page with one message (errors, refusals) and a way back to the start.
pub fn message_page(lang: Lang, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head { meta charset="utf-8"; title { (lang.t(Msg::Brand)) } link rel="stylesheet" href="/static/app.css"; }
            body { main { p.error role="alert" { (message) } p { a href="/" { (lang.t(Msg::Home)) } } } }
        }
    }
}

pub(crate) fn alert(message: Option<&str>) -> Markup {
    html! { @if let Some(m) = message { p.error role="alert" id="form-error" { (m) } } }
}

/// The sign-in form.
pub fn sign_in(f: &Frame, user: &str, error: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::SignInTitle,
        html! {
            (alert(error))
            form method="post" action="/login" {
                (csrf_field(f.csrf))
                label for="user" { (t(Msg::UserName)) }
                input id="user" name="user" type="text" autocomplete="username" required value=(user)
                    autofocus aria-describedby=[error.map(|_| "form-error")];
                label for="password" { (t(Msg::Password)) }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { (t(Msg::SignInButton)) }
            }
            (super::email::forgot_link(f))
        },
    )
}

/// The second factors an account has.
#[derive(Debug, Clone, Copy, Default)]
pub struct Factors {
    /// A registered phone (push, QR).
    pub device: bool,
    /// An authenticator app.
    pub totp: bool,
    /// A verified mobile number.
    pub sms: bool,
    /// A verified e-mail address, for a sign-in link.
    pub email: bool,
}

impl Factors {
    /// Whether the account has set up a second factor of its own: a phone, an authenticator
    /// app or a mobile number. A sign-in link alone does not count (it is offered beside them),
    /// so an account that only has e-mail — such as a just-accepted invitation — still sets up
    /// one of those first.
    pub fn any(&self) -> bool {
        self.device || self.totp || self.sms
    }
}

/// The choice of second factor.
pub fn factor_choice(f: &Frame, factors: &Factors, error: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::FactorTitle,
        html! {
            (alert(error))
            p { (t(Msg::FactorIntro)) }
            @if factors.device {
                form method="post" action="/factor/push" { (csrf_field(f.csrf)) button type="submit" id="push" { (t(Msg::PushButton)) } }
                form method="post" action="/factor/qr" { (csrf_field(f.csrf)) button type="submit" id="qr" { (t(Msg::QrButton)) } }
            }
            @if factors.sms {
                form method="post" action="/factor/sms" { (csrf_field(f.csrf)) button type="submit" id="sms" { (t(Msg::SmsButton)) } }
            }
            @if factors.totp {
                form method="post" action="/factor/totp" {
                    (csrf_field(f.csrf))
                    label for="totp" { (t(Msg::TotpLabel)) }
                    input id="totp" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required;
                    (super::email::remember_box(f, "remember-totp"))
                    button type="submit" { (t(Msg::ConfirmButton)) }
                }
            }
            @if factors.email { (super::email::email_option(f)) }
            (sign_out(f))
        },
    )
}

fn sign_out(f: &Frame) -> Markup {
    html! {
        form.signout method="post" action="/logout" { (csrf_field(f.csrf)) button type="submit" { (f.lang.t(Msg::SignOut)) } }
    }
}

fn state_msg(state: ChallengeState) -> Msg {
    match state {
        ChallengeState::Pending => Msg::PushWaiting,
        ChallengeState::Approved => Msg::StateApproved,
        ChallengeState::Denied | ChallengeState::Fraud => Msg::StateDenied,
        ChallengeState::Expired => Msg::StateExpired,
        ChallengeState::Blocked => Msg::StateBlocked,
        ChallengeState::Other => Msg::ServiceUnavailable,
    }
}

/// The push page: the number, a live status, and a Continue button (submitted by the script
/// when approved; pressed by hand without scripts).
pub fn push(f: &Frame, number: Option<&str>, state: ChallengeState) -> Markup {
    let t = |m| f.lang.t(m);
    let finals = [ChallengeState::Denied, ChallengeState::Expired, ChallengeState::Blocked, ChallengeState::Approved];
    layout(
        f,
        Msg::PushTitle,
        html! {
            @if let Some(n) = number {
                p { (t(Msg::PushNumberIntro)) }
                p.number id="number" { (n) }
            }
            div role="status" aria-live="polite" data-poll="/factor/status" data-submit-on="approved" data-submit-form="complete" {
                p data-state="pending" hidden[state != ChallengeState::Pending] { (t(Msg::PushWaiting)) }
                @for s in finals {
                    p data-state=(serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
                        .error[s != ChallengeState::Approved] hidden[state != s] { (t(state_msg(s))) }
                }
                p data-state="fraud" .error hidden[state != ChallengeState::Fraud] { (t(Msg::StateDenied)) }
            }
            form id="complete" method="post" action="/factor/push/complete" {
                (csrf_field(f.csrf))
                (super::email::remember_box(f, "remember-push"))
                button type="submit" { (t(Msg::ContinueButton)) }
            }
            p { a href="/factor" { (t(Msg::OtherWay)) } }
        },
    )
}

/// The QR page: the code, its text, and the one-time-password field.
pub fn qr(f: &Frame, code: &str, error: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::QrTitle,
        html! {
            (alert(error))
            (qr_image(code, t(Msg::QrAlt)))
            details { summary { (t(Msg::CodeAsText)) } code.wrap id="qr-text" { (code) } }
            form method="post" action="/factor/qr/verify" {
                (csrf_field(f.csrf))
                label for="otp" { (t(Msg::OtpLabel)) }
                input id="otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code" required autofocus;
                (super::email::remember_box(f, "remember-qr"))
                button type="submit" { (t(Msg::ConfirmButton)) }
            }
            p { a href="/factor" { (t(Msg::OtherWay)) } }
        },
    )
}

/// The signed-in start page.
pub fn home(f: &Frame, account: &str, notice: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::HomeTitle,
        html! {
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            p { (t(Msg::SignedInAs)) " " strong id="account" { (account) } }
            ul {
                li { a href="/devices" { (t(Msg::ManageDevices)) } } li { a href="/totp" { (t(Msg::AuthenticatorApp)) } }
                li { a href="/sms" { (t(Msg::SmsLink)) } } li { a href="/contacts" { (t(Msg::ContactsLink)) } }
                li { a href="/remembered" { (t(Msg::RememberedTitle)) } } li { a href="/org" { (t(Msg::OrgLink)) } }
            }
            (sign_out(f))
        },
    )
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(unix: u64) -> String {
    // Civil-from-days (H. Hinnant), for dates after 1970.
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// "Manage my mobile devices".
pub fn devices(f: &Frame, devices: &[DeviceInfo], can_remove: bool, setup: bool) -> Markup {
    let t = |m| f.lang.t(m);
    let state = |s: &str| match s {
        "active" => t(Msg::StateActive),
        "blocked" => t(Msg::StateDeviceBlocked),
        "inactive" => t(Msg::StateInactive),
        _ => "?",
    };
    layout(
        f,
        Msg::ManageDevices,
        html! {
            @if setup {
                p { (t(Msg::NoFactorIntro)) }
                ul { li { a href="/totp" { (t(Msg::AuthenticatorApp)) } } li { a href="/sms" id="setup-sms" { (t(Msg::SmsLink)) } } }
            }
            @if devices.is_empty() {
                p id="no-devices" { (t(Msg::NoDevices)) }
            } @else {
                table id="devices" {
                    thead { tr { th scope="col" { (t(Msg::DeviceName)) } th scope="col" { (t(Msg::Platform)) }
                                 th scope="col" { (t(Msg::DeviceState)) } th scope="col" { (t(Msg::LastUsed)) }
                                 @if can_remove { th scope="col" { (t(Msg::Remove)) } } } }
                    tbody {
                        @for d in devices {
                            tr {
                                td { (d.name) } td { (d.platform) } td { (state(&d.state)) } td { (utc(d.last_used_at)) }
                                @if can_remove {
                                    td {
                                        form method="post" action="/devices/rename" {
                                            (csrf_field(f.csrf))
                                            input type="hidden" name="device_id" value=(d.device_id);
                                            label { (t(Msg::NewName)) " " input name="name" type="text" required maxlength="64"; }
                                            button type="submit" aria-label={ (t(Msg::Rename)) ": " (d.name) } { (t(Msg::Rename)) }
                                        }
                                        form method="post" action="/devices/remove" {
                                            (csrf_field(f.csrf))
                                            input type="hidden" name="device_id" value=(d.device_id);
                                            button type="submit" aria-label={ (t(Msg::Remove)) ": " (d.name) } { (t(Msg::Remove)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { (t(Msg::AddDevice)) }
            form method="post" action="/devices/add" {
                (csrf_field(f.csrf))
                label for="device-name" { (t(Msg::DeviceName)) }
                input id="device-name" name="name" type="text" required maxlength="64";
                button type="submit" { (t(Msg::AddDeviceButton)) }
            }
            @if !setup { p { a href="/home" { (t(Msg::Home)) } } }
        },
    )
}

/// The registration page: the enrollment code, and a live status that shows the registered
/// device's platform and fingerprint.
pub fn enroll(f: &Frame, code: &str, status: &EnrollmentStatus, setup: bool) -> Markup {
    let t = |m| f.lang.t(m);
    let state = status.state.as_str();
    layout(
        f,
        Msg::EnrollTitle,
        html! {
            @if state == "pending" {
                div data-while-pending {
                    p { (t(Msg::EnrollIntro)) }
                    (qr_image(code, t(Msg::QrAlt)))
                    details { summary { (t(Msg::CodeAsText)) } code.wrap id="enroll-code" { (code) } }
                    (typed_code(f, code))
                }
            }
            div role="status" aria-live="polite" data-poll="/devices/enroll/status" {
                p data-state="pending" hidden[state != "pending"] { (t(Msg::EnrollWaiting)) " " a href="/devices/enroll" { (t(Msg::CheckButton)) } }
                div data-state="completed" hidden[state != "completed"] {
                    p { (t(Msg::EnrollDone)) }
                    dl {
                        dt { (t(Msg::DeviceName)) } dd data-field="device_name" { (status.device_name.as_deref().unwrap_or("")) }
                        dt { (t(Msg::Platform)) } dd data-field="platform" { (status.platform.as_deref().unwrap_or("")) }
                        dt { (t(Msg::Fingerprint)) } dd data-field="fingerprint" id="fingerprint" { (status.fingerprint.as_deref().unwrap_or("")) }
                    }
                    @if setup {
                        form method="post" action="/setup/complete" { (csrf_field(f.csrf)) button type="submit" id="continue" { (t(Msg::ContinueButton)) } }
                    } @else {
                        p { a href="/devices" { (t(Msg::BackToDevices)) } }
                    }
                }
                p.error data-state="expired" hidden[state != "expired"] { (t(Msg::EnrollExpired)) " " a href="/devices" { (t(Msg::BackToDevices)) } }
            }
        },
    )
}

/// The enrollment code for people who cannot scan: a copyable field, the code in groups of
/// four to read or type, and the command-line form.
fn typed_code(f: &Frame, code: &str) -> Markup {
    let t = |m| f.lang.t(m);
    let groups: Vec<String> = code.chars().collect::<Vec<_>>().chunks(4).map(|c| c.iter().collect()).collect();
    html! {
        section aria-labelledby="type-code-title" {
            h2 id="type-code-title" { (t(Msg::TypeCodeTitle)) }
            p { (t(Msg::TypeCodeIntro)) }
            label for="enroll-code-field" { (t(Msg::TypeCodeField)) }
            input id="enroll-code-field" type="text" readonly value=(code) spellcheck="false" autocomplete="off";
            p.groups id="enroll-code-groups" { @for g in &groups { span { (g) } " " } }
            p { (t(Msg::TypeCodeCli)) }
            pre { code id="enroll-command" { "nyckel register '" (code) "'" } }
        }
    }
}

/// Setting up an authenticator app.
pub fn totp_setup(f: &Frame, uri: &str, secret: &str, error: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::AuthenticatorApp,
        html! {
            (alert(error))
            p { (t(Msg::TotpIntro)) }
            (qr_image(uri, t(Msg::TotpAlt)))
            p { (t(Msg::TotpSecret)) " " code id="totp-secret" { (secret) } }
            form method="post" action="/totp/confirm" {
                (csrf_field(f.csrf))
                label for="code" { (t(Msg::TotpLabel)) }
                input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required;
                button type="submit" { (t(Msg::ConfirmButton)) }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
