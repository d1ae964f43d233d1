//! The phone's HTTP client for a Nyckel server: enrollment and device-signed requests (PROTOCOL.md §7.3).
//!
//! reqwest over rustls with the ring provider; no redirects are followed, because signed
//! requests are bound to their target and secrets must only go to the registered server.

use std::sync::Once;
use std::time::Duration;

use nyckel_protocol::policy::LONG_POLL_GRACE;
use nyckel_protocol::wire::audit::AuditPage;
use nyckel_protocol::wire::devices::DeviceInfo;
use nyckel_protocol::wire::phone::{AnswerAccepted, PendingChallenges};
use nyckel_protocol::{
    Answer, ChallengeId, CompleteEnrollment, EnrollmentReceipt, ErrorBody, ErrorCode, PinCheck, Rekey, Rekeyed,
    RequestAuth,
};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::device_keys::KeyStoreSigner;
use crate::vault::registrations::Registration;

/// Longest response body read from a server.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Timeout of requests that are not long polls.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request to the server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerApiError {
    /// The server could not be reached or the connection broke (retry later).
    #[error("cannot reach {url}: {reason}")]
    Network {
        /// The URL requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error status.
    #[error("the server refused the request ({status} {}): {message}", code_name(*.code))]
    Refused {
        /// HTTP status.
        status: u16,
        /// The protocol error code (`Unknown` when the body was not a protocol error).
        code: ErrorCode,
        /// The server's message.
        message: String,
        /// With `wrong_pin`: attempts left before the device is blocked.
        attempts_left: Option<u32>,
        /// With `stale_request`: the server's clock, Unix seconds.
        server_time: Option<u64>,
    },
    /// A success status with a body that is not what the protocol says.
    #[error("unexpected response from {url}: {reason}")]
    BadResponse {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The request could not be built or signed.
    #[error("cannot make the request: {0}")]
    Request(String),
}

/// The snake_case name of an error code, as on the wire.
pub(crate) fn code_name(code: ErrorCode) -> String {
    serde_json::to_string(&code).map(|name| name.trim_matches('"').to_owned()).unwrap_or_else(|_| "?".into())
}

impl ServerApiError {
    /// The protocol error code when the server refused, else `None`.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ServerApiError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Installs ring as rustls's process-wide crypto provider, once; a provider someone else
/// installed first is kept (both are fine for TLS).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An HTTP client for Nyckel servers; cheap to clone (connections are pooled).
#[derive(Clone, Debug)]
pub struct ServerClient {
    http: reqwest::Client,
}

impl ServerClient {
    /// A client with TLS over rustls/ring and webpki roots.
    pub fn new() -> Result<Self, ServerApiError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("nyckel-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ServerApiError::Request(format!("HTTP client: {error}")))?;
        Ok(Self { http })
    }

    /// `POST {server_url}/v1/enroll`: completes an enrollment (no signed headers: the token authorises).
    pub async fn enroll(
        &self,
        server_url: &str,
        request: &CompleteEnrollment,
    ) -> Result<EnrollmentReceipt, ServerApiError> {
        let url = format!("{server_url}/v1/enroll");
        let body = serde_json::to_vec(request).map_err(|error| ServerApiError::Request(error.to_string()))?;
        let builder = self.http.post(&url).header(CONTENT_TYPE, "application/json").body(body).timeout(REQUEST_TIMEOUT);
        read_json(&url, builder).await
    }

    /// `GET /v1/device/challenges?wait=N`: the long poll for pending challenges.
    pub async fn poll(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        wait: u64,
        now: u64,
    ) -> Result<PendingChallenges, ServerApiError> {
        let suffix = format!("/v1/device/challenges?wait={wait}");
        let (url, builder) = self.signed(registration, signer, Method::GET, &suffix, None, now)?;
        read_json(&url, builder.timeout(Duration::from_secs(wait + LONG_POLL_GRACE))).await
    }

    /// `POST /v1/device/challenges/{challenge}/answer` with `answer` as the body.
    pub async fn answer(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        challenge: &ChallengeId,
        answer: &Answer,
        now: u64,
    ) -> Result<AnswerAccepted, ServerApiError> {
        let suffix = format!("/v1/device/challenges/{challenge}/answer");
        let body = serde_json::to_vec(answer).map_err(|error| ServerApiError::Request(error.to_string()))?;
        let (url, builder) = self.signed(registration, signer, Method::POST, &suffix, Some(body), now)?;
        read_json(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }

    /// `GET /v1/device`: the server's record of this device.
    pub async fn device(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        now: u64,
    ) -> Result<DeviceInfo, ServerApiError> {
        let (url, builder) = self.signed(registration, signer, Method::GET, "/v1/device", None, now)?;
        read_json(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }

    /// `DELETE /v1/device`: the phone unregisters itself.
    pub async fn unregister(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        now: u64,
    ) -> Result<(), ServerApiError> {
        let (url, builder) = self.signed(registration, signer, Method::DELETE, "/v1/device", None, now)?;
        read_empty(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }

    /// `POST /v1/device/pin-check` with `check` as the body (PROTOCOL.md §4.7). The server
    /// counts a wrong MAC like a wrong approval: `wrong_pin` with attempts left, then
    /// `device_blocked`.
    pub async fn pin_check(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        check: &PinCheck,
        now: u64,
    ) -> Result<(), ServerApiError> {
        let body = serde_json::to_vec(check).map_err(|error| ServerApiError::Request(error.to_string()))?;
        let (url, builder) =
            self.signed(registration, signer, Method::POST, "/v1/device/pin-check", Some(body), now)?;
        read_empty(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }

    /// `POST /v1/device/rekey` with `rekey` as the body (PIN change, PROTOCOL.md §4.7): the
    /// MAC under the old `S` is counted like a PIN check; the answer carries the server's share.
    pub async fn rekey(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        rekey: &Rekey,
        now: u64,
    ) -> Result<Rekeyed, ServerApiError> {
        let body = serde_json::to_vec(rekey).map_err(|error| ServerApiError::Request(error.to_string()))?;
        let (url, builder) = self.signed(registration, signer, Method::POST, "/v1/device/rekey", Some(body), now)?;
        read_json(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }

    /// `GET /v1/device/audit?after=SEQ&limit=N`: the server's audit events that name this device.
    pub async fn device_audit(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        after: u64,
        limit: usize,
        now: u64,
    ) -> Result<AuditPage, ServerApiError> {
        let suffix = format!("/v1/device/audit?after={after}&limit={limit}");
        let (url, builder) = self.signed(registration, signer, Method::GET, &suffix, None, now)?;
        read_json(&url, builder.timeout(REQUEST_TIMEOUT)).await
    }

    /// An unsigned JSON `POST` (the enrollment endpoints, which the token authorises).
    pub(crate) async fn post_json<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        url: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, ServerApiError> {
        let body = serde_json::to_vec(body).map_err(|error| ServerApiError::Request(error.to_string()))?;
        let builder = self.http.post(url).header(CONTENT_TYPE, "application/json").body(body).timeout(timeout);
        read_json(url, builder).await
    }

    /// A request with the four signing headers over exactly this method, target and body.
    pub(crate) fn signed(
        &self,
        registration: &Registration,
        signer: &KeyStoreSigner,
        method: Method,
        suffix: &str,
        body: Option<Vec<u8>>,
        now: u64,
    ) -> Result<(String, reqwest::RequestBuilder), ServerApiError> {
        let url = format!("{}{suffix}", registration.server_url);
        let parsed = url::Url::parse(&url).map_err(|error| ServerApiError::Request(format!("{url}: {error}")))?;
        // The signature covers the request target exactly as sent, including a base path.
        let target = match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let auth = RequestAuth::sign(
            signer,
            &registration.device_id,
            method.as_str(),
            &target,
            body.as_deref().unwrap_or_default(),
            now,
        )
        .map_err(|error| ServerApiError::Request(error.to_string()))?;
        let mut builder = self.http.request(method, parsed);
        for (name, value) in auth.to_headers() {
            builder = builder.header(name, value);
        }
        if let Some(body) = body {
            builder = builder.header(CONTENT_TYPE, "application/json").body(body);
        }
        Ok((url, builder))
    }
}

fn network(url: &str, error: reqwest::Error) -> ServerApiError {
    // Without the URL inside: the caller already names it, and reqwest's text repeats it.
    ServerApiError::Network { url: url.to_owned(), reason: error.without_url().to_string() }
}

async fn read_body(url: &str, mut response: reqwest::Response) -> Result<Vec<u8>, ServerApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| network(url, error))? {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ServerApiError::BadResponse { url: url.to_owned(), reason: "response too large".into() });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn refused(status: StatusCode, bytes: &[u8]) -> ServerApiError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => ServerApiError::Refused {
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
            attempts_left: body.error.attempts_left,
            server_time: body.error.server_time,
        },
        Err(_) => ServerApiError::Refused {
            status: status.as_u16(),
            code: ErrorCode::Unknown,
            message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            attempts_left: None,
            server_time: None,
        },
    }
}

/// Sends a request whose success has no body worth reading (204), and reports a refusal.
pub(crate) async fn read_empty(url: &str, builder: reqwest::RequestBuilder) -> Result<(), ServerApiError> {
    let response = builder.send().await.map_err(|error| network(url, error))?;
    let status = response.status();
    let bytes = read_body(url, response).await?;
    if status.is_success() {
        Ok(())
    } else {
        Err(refused(status, &bytes))
    }
}

pub(crate) async fn read_json<T: DeserializeOwned>(
    url: &str,
    builder: reqwest::RequestBuilder,
) -> Result<T, ServerApiError> {
    let response = builder.send().await.map_err(|error| network(url, error))?;
    let status = response.status();
    let bytes = read_body(url, response).await?;
    if !status.is_success() {
        return Err(refused(status, &bytes));
    }
    serde_json::from_slice(&bytes)
        .map_err(|error| ServerApiError::BadResponse { url: url.to_owned(), reason: error.to_string() })
}
