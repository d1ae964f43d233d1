//! The HTTP layer: routes, the per-request context (session cookie, language, CSRF), security
//! headers, and turning errors into pages in one place.

mod admin;
mod email;
mod handlers;
mod pages;
mod sms;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;
use serde::de::DeserializeOwned;

use crate::error::PortalError;
use crate::i18n::{Lang, Msg};
use crate::sessions::{Session, Stage};
use crate::Portal;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "portal_session";
/// The language cookie's name (set by the switch).
pub const LANG_COOKIE: &str = "portal_lang";

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The portal's routes.
pub fn router(portal: Arc<Portal>) -> Router {
    Router::new()
        .route("/", get(handlers::index))
        .route("/login", post(handlers::login))
        .route("/logout", post(handlers::logout))
        .route("/lang", post(handlers::switch_language))
        .route("/factor", get(handlers::factor))
        .route("/factor/push", post(handlers::start_push).get(handlers::push_page))
        .route("/factor/status", get(handlers::factor_status))
        .route("/factor/push/complete", post(handlers::complete_push))
        .route("/factor/qr", post(handlers::start_qr).get(handlers::qr_page))
        .route("/factor/qr/verify", post(handlers::verify_qr))
        .route("/factor/totp", post(handlers::verify_totp))
        .route("/home", get(handlers::home))
        .route("/devices", get(handlers::devices))
        .route("/devices/add", post(handlers::add_device))
        .route("/devices/enroll", get(handlers::enroll_page))
        .route("/devices/enroll/status", get(handlers::enroll_status))
        .route("/devices/remove", post(handlers::remove_device))
        .route("/setup/complete", post(handlers::setup_complete))
        .route("/totp", get(handlers::totp_page))
        .route("/totp/confirm", post(handlers::totp_confirm))
        // --- sms, contacts, device names, organisations and administration ---
        .route("/sms", get(sms::sms_settings))
        .route("/sms/number", post(sms::set_number))
        .route("/sms/verify", post(sms::verify_number))
        .route("/sms/remove", post(sms::remove_number))
        .route("/factor/sms", post(sms::start_sms).get(sms::sms_factor))
        .route("/factor/sms/verify", post(sms::verify_sms))
        .route("/contacts", get(sms::contacts))
        .route("/contacts/add", post(sms::add_contact))
        .route("/contacts/verify", post(sms::verify_contact))
        .route("/contacts/remove", post(sms::remove_contact))
        .route("/devices/rename", post(sms::rename_device))
        .route("/org", get(admin::org))
        .route("/org/join", post(admin::join))
        .route("/admin", get(admin::admin_home))
        .route("/admin/requests", post(admin::decide))
        .route("/admin/role", post(admin::set_role))
        .route("/admin/accounts/unblock", post(admin::unblock_account))
        .route("/admin/devices/unblock", post(admin::unblock_device))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/invite", get(admin::invite_page).post(admin::invite))
        // --- e-mail flows: sign-in link, remembered browsers, invitations, password reset ---
        .route("/factor/email", post(email::send_link).get(email::link_page))
        .route("/factor/email/status", get(email::link_status))
        .route("/email/link", get(email::open_link))
        .route("/remembered", get(email::remembered_page))
        .route("/remembered/forget", post(email::forget))
        .route("/invite", get(email::invite_page).post(email::accept_invite))
        .route("/forgot", get(email::forgot_page).post(email::forgot))
        .route("/reset", get(email::reset_page).post(email::reset))
        .route("/static/app.js", get(handlers::script))
        .route("/static/app.css", get(handlers::style))
        .fallback(handlers::not_found)
        .layer(middleware::from_fn(security_headers))
        .with_state(portal)
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    cookie_value(&parts.headers, name)
}

/// The value of cookie `name` in `headers`.
pub(crate) fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// One request's view: the portal, the browser's session (created if it had none), the
/// language and what the phone may be told about the browser.
pub struct Ctx {
    /// The portal.
    pub portal: Arc<Portal>,
    /// The session id (cookie value).
    pub sid: String,
    /// The session.
    pub session: Session,
    /// Whether the response must set the session cookie (new or rotated id).
    pub set_session_cookie: bool,
    /// The page language.
    pub lang: Lang,
    /// The browser's address.
    pub ip: Option<String>,
    /// The browser's User-Agent.
    pub user_agent: Option<String>,
    /// The request path (for the language switch to come back to).
    pub path: String,
}

impl FromRequestParts<Arc<Portal>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<Portal>) -> Result<Self, Response> {
        let lang = cookie(parts, LANG_COOKIE).and_then(Lang::from_tag).unwrap_or_else(|| {
            let header = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
            Lang::from_accept_language(header)
        });
        let existing = match cookie(parts, SESSION_COOKIE) {
            Some(id) => portal.sessions.load(id).map_err(|e| failure_page(lang, e))?.map(|s| (id.to_owned(), s)),
            None => None,
        };
        let (sid, session, set_session_cookie) = match existing {
            Some((sid, session)) => (sid, session, false),
            None => {
                let (sid, session) = portal.sessions.create().map_err(|e| failure_page(lang, e))?;
                (sid, session, true)
            }
        };
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Ctx {
            portal: portal.clone(),
            sid,
            session,
            set_session_cookie,
            lang,
            ip,
            user_agent,
            path: parts.uri.path().to_owned(),
        })
    }
}

impl Ctx {
    /// The text of `msg` in the page language.
    pub fn t(&self, msg: Msg) -> &'static str {
        self.lang.t(msg)
    }

    /// Saves the session's changes.
    pub fn save(&self) -> Result<(), PortalError> {
        self.portal.sessions.save(&self.sid, &self.session)
    }

    /// Moves the browser to a new session at `stage` (new id and CSRF token).
    pub fn rotate(&mut self, stage: Stage) -> Result<(), PortalError> {
        let (sid, session) = self.portal.sessions.rotate(&self.sid, stage)?;
        self.sid = sid;
        self.session = session;
        self.set_session_cookie = true;
        Ok(())
    }

    fn session_cookie(&self) -> String {
        let secure = if self.portal.config.secure_cookies { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax{secure}", self.sid)
    }

    /// Adds the session cookie to `response` when the id is new.
    pub fn finish(&self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        if self.set_session_cookie {
            if let Ok(value) = HeaderValue::from_str(&self.session_cookie()) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        response
    }

    /// A page with `status`.
    pub fn page(&self, status: StatusCode, markup: Markup) -> Response {
        self.finish((status, axum::response::Html(markup.into_string())))
    }

    /// Counts a password or code attempt from this browser's address; `Err` is the 429 page
    /// when the address has made too many.
    #[allow(clippy::result_large_err)] // the handler's early return, moved once
    pub fn attempt(&self) -> Result<(), Response> {
        let (Some(limiter), Some(ip)) = (&self.portal.attempts, self.ip.as_deref().and_then(|ip| ip.parse().ok()))
        else {
            return Ok(());
        };
        if limiter.allow(ip) {
            return Ok(());
        }
        Err(self.page(StatusCode::TOO_MANY_REQUESTS, pages::message_page(self.lang, self.t(Msg::TooManyAttempts))))
    }

    /// A 303 redirect to `to`.
    pub fn redirect(&self, to: &str) -> Response {
        self.finish(Redirect::to(to))
    }

    /// The error page for `error`.
    pub fn fail(&self, error: PortalError) -> Response {
        self.finish(failure_page(self.lang, error))
    }
}

fn failure_page(lang: Lang, error: PortalError) -> Response {
    tracing::warn!(%error, "request failed");
    let status = match &error {
        PortalError::Rp(_) => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, axum::response::Html(pages::message_page(lang, lang.t(Msg::ServiceUnavailable)).into_string()))
        .into_response()
}

/// A form that carries a CSRF token.
pub trait HasCsrf {
    /// The token the form carried.
    fn csrf(&self) -> &str;
}

/// A form body, accepted only with the session's CSRF token; every POST handler takes one.
pub struct CsrfForm<T> {
    /// The request context.
    pub ctx: Ctx,
    /// The form.
    pub form: T,
}

impl<T> FromRequest<Arc<Portal>> for CsrfForm<T>
where
    T: DeserializeOwned + HasCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, portal: &Arc<Portal>) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, portal).await?;
        let refused =
            |ctx: &Ctx| ctx.page(StatusCode::FORBIDDEN, pages::message_page(ctx.lang, ctx.t(Msg::FormExpired)));
        let Ok(Form(form)) = Form::<T>::from_request(Request::from_parts(parts, body), portal).await else {
            return Err(refused(&ctx));
        };
        if !ctx.session.csrf_matches(form.csrf()) {
            return Err(refused(&ctx));
        }
        Ok(CsrfForm { ctx, form })
    }
}
