//! Request extractors that refuse malformed input with the protocol's JSON errors (axum's
//! own rejections answer in plain text): bodies, paths, queries, and the three kinds of
//! caller authentication.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use nyckel_protocol::digest::{constant_time_eq, sha256};
use nyckel_protocol::policy::MAX_BODY_BYTES;
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::ErrorCode;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;
use crate::live::devices::DeviceEntry;
use crate::service::admins::{self, AdminScope};
use crate::service::app::App;
use crate::service::phone::{authenticate, SignedParts};
use crate::service::relying_parties::{self, RelyingParty};

/// The client's IP address, when known.
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(ClientIp(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())))
    }
}

fn ip_of(parts: &Parts) -> Option<String> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// A relying party authenticated by `Authorization: Bearer <api key>`, with its tenant.
pub struct Rp(pub RelyingParty);

impl FromRequestParts<Arc<App>> for Rp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        if let Some(key) = bearer(&parts.headers) {
            if let Some(rp) = relying_parties::authenticate(&*app.store, key).await? {
                return Ok(Rp(rp));
            }
        }
        // Aggregated: one summary event per window, so nobody can grow the log by guessing keys.
        app.audit
            .note_unauthenticated(AuditKind::AuthenticationFailed, ip_of(parts).as_deref(), app.now())
            .await
            .map_err(|e| ApiError::internal(&e))?;
        Err(ApiError::unauthorized("missing or wrong relying-party API key"))
    }
}

/// An administrator, authenticated by `Authorization: Bearer <token>`: the global admin
/// token, or a tenant administrator's token.
pub struct Admin(pub AdminScope);

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        if let Some(token) = bearer(&parts.headers) {
            if constant_time_eq(&sha256(token.as_bytes()), &app.admin_token_hash) {
                return Ok(Admin(AdminScope::global()));
            }
            if let Some(scope) = admins::authenticate(&*app.store, token).await? {
                return Ok(Admin(scope));
            }
        }
        app.audit
            .note_unauthenticated(AuditKind::AuthenticationFailed, ip_of(parts).as_deref(), app.now())
            .await
            .map_err(|e| ApiError::internal(&e))?;
        Err(ApiError::unauthorized("missing or wrong admin token"))
    }
}

/// Reads the body, at most [`MAX_BODY_BYTES`] (413 beyond).
async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(ErrorCode::PayloadTooLarge, format!("the body exceeds {MAX_BODY_BYTES} bytes"));
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await.map_err(|_| too_large())
}

/// Decodes a JSON body (400 `bad_request` with serde's explanation).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

/// A JSON body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        decode(&read_body(req).await?).map(JsonBody)
    }
}

/// A device-signed request: the authenticated device and the raw body it signed.
pub struct Signed {
    /// The device.
    pub device: Arc<DeviceEntry>,
    /// The body.
    pub body: Bytes,
    /// The client address.
    pub ip: Option<String>,
}

impl FromRequest<Arc<App>> for Signed {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let method = req.method().as_str().to_owned();
        let target = req.uri().path_and_query().map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let headers = req.headers().clone();
        let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
        let body = read_body(req).await?;
        let parts = SignedParts { method: &method, path_and_query: &target, body: &body, ip: ip.as_deref() };
        let device =
            authenticate(app, |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned), &parts)
                .await?;
        Ok(Signed { device, body, ip })
    }
}

/// Path parameters, refused with 400 JSON when malformed.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::bad_request(format!("bad path: {}", e.body_text())))
    }
}

/// Query parameters, refused with 400 JSON when malformed.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::bad_request(format!("bad query: {}", e.body_text())))
    }
}
