//! HTTP to a privacyIDEA server: form posts, query gets, and its JSON envelope.
//!
//! No redirects are followed (a signed answer must reach only the enrolled URL), TLS is
//! always verified whatever the server's `sslverify` says, and bodies are capped.

use std::time::Duration;

use serde_json::Value;

use super::push::PushError;
use crate::server_api::install_crypto_provider;

/// Longest response body read from privacyIDEA.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// privacyIDEA makes an RSA-4096 key while finishing a push enrollment (3-5 s seen).
const TIMEOUT: Duration = Duration::from_secs(60);

/// A privacyIDEA HTTP client; cheap to clone.
#[derive(Clone, Debug)]
pub struct PiHttp {
    http: reqwest::Client,
}

/// A raw response: status and (capped) body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl PiHttp {
    /// A client over rustls/ring with webpki roots.
    pub fn new() -> Result<Self, PushError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(TIMEOUT)
            .user_agent(concat!("nyckel-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| PushError::Network { url: String::new(), reason: error.to_string() })?;
        Ok(Self { http })
    }

    /// `POST url` with a form-encoded body (form encoding writes `+` as `%2B`, which
    /// privacyIDEA needs for timestamps, interop notes §0.1).
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<RawResponse, PushError> {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request =
            self.http.post(url).header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
        send(url, request).await
    }

    /// `GET url?query`.
    pub async fn get(&self, url: &str, query: &[(&str, &str)]) -> Result<RawResponse, PushError> {
        let mut target =
            url::Url::parse(url).map_err(|error| PushError::BadResponse { reason: format!("{url}: {error}") })?;
        if !query.is_empty() {
            target.query_pairs_mut().extend_pairs(query);
        }
        send(url, self.http.get(target)).await
    }
}

async fn send(url: &str, request: reqwest::RequestBuilder) -> Result<RawResponse, PushError> {
    let network =
        |error: reqwest::Error| PushError::Network { url: url.to_owned(), reason: error.without_url().to_string() };
    let mut response = request.send().await.map_err(network)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(PushError::TooLarge { what: "server response".into(), limit: MAX_RESPONSE_BYTES });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse { status, body })
}

/// privacyIDEA's JSON envelope, successful: `result.value` and `detail`.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `result.value`.
    pub value: Value,
    /// `detail` (`Null` when absent).
    pub detail: Value,
}

/// Reads the envelope of `response`: an error envelope or a non-2xx status becomes
/// [`PushError::Server`], anything that is not the envelope [`PushError::BadResponse`].
pub fn envelope(response: &RawResponse) -> Result<Envelope, PushError> {
    let parsed: Value = serde_json::from_slice(&response.body).map_err(|_| {
        if (200..300).contains(&response.status) {
            PushError::BadResponse { reason: "not JSON".into() }
        } else {
            PushError::Server { status: response.status, code: None, message: snippet(&response.body) }
        }
    })?;
    let result = parsed.get("result").ok_or(PushError::BadResponse { reason: "no result".into() })?;
    let ok = result.get("status").and_then(Value::as_bool) == Some(true);
    if !ok || !(200..300).contains(&response.status) {
        let error = result.get("error");
        return Err(PushError::Server {
            status: response.status,
            code: error.and_then(|error| error.get("code")).and_then(Value::as_i64),
            message: error
                .and_then(|error| error.get("message"))
                .and_then(Value::as_str)
                .map(|message| message.chars().take(300).collect())
                .unwrap_or_else(|| snippet(&response.body)),
        });
    }
    Ok(Envelope {
        value: result.get("value").cloned().unwrap_or(Value::Null),
        detail: parsed.get("detail").cloned().unwrap_or(Value::Null),
    })
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}
