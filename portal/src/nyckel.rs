//! The client of the second-factor server's relying-party API (docs/PROTOCOL.md §7.2): the
//! only way the portal reaches phones, so any other login service could do the same.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A failure talking to the relying-party API.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// No answer (connection, timeout).
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// An error answer, with the API's error code (`no_device`, `wrong_pin`, …).
    #[error("HTTP {status}: {code}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The `error.code` of the body (empty if none).
        code: String,
    },
}

impl RpError {
    /// The API error code, if the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            RpError::Api { code, .. } => Some(code),
            RpError::Transport(_) => None,
        }
    }
}

/// State of a challenge (`ChallengeState`); unknown future states read as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeState {
    /// Not answered yet.
    Pending,
    /// Approved with the PIN (and number).
    Approved,
    /// Denied on the phone, or a wrong number.
    Denied,
    /// Denied and reported as fraud.
    Fraud,
    /// Nobody answered in time.
    Expired,
    /// The device or the user's OTPs are blocked.
    Blocked,
    /// A state this portal does not know.
    #[serde(other)]
    Other,
}

/// `PushChallengeCreated`.
#[derive(Debug, Clone, Deserialize)]
pub struct PushCreated {
    /// The challenge.
    pub challenge_id: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// The number the browser shows (with number matching).
    pub number: Option<String>,
}

/// `QrChallengeCreated`.
#[derive(Debug, Clone, Deserialize)]
pub struct QrCreated {
    /// The challenge.
    pub challenge_id: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// The `nyckel://login` code to show.
    pub qr: String,
}

/// `ChallengeStatus`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChallengeStatus {
    /// Its state.
    pub state: ChallengeState,
}

/// `EnrollmentStarted`.
#[derive(Debug, Clone, Deserialize)]
pub struct EnrollmentStarted {
    /// The enrollment.
    pub enrollment_id: String,
    /// The `nyckel://enroll` code.
    pub qr: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

/// `EnrollmentStatus`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollmentStatus {
    /// `pending`, `completed` or `expired`.
    pub state: String,
    /// The device name given at the start (once completed).
    #[serde(default)]
    pub device_name: Option<String>,
    /// The platform the phone reported (once completed).
    #[serde(default)]
    pub platform: Option<String>,
    /// The device key's fingerprint, as the phone shows it (once completed).
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// `DeviceInfo`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: String,
    /// The name given at registration.
    pub name: String,
    /// The platform it reported.
    pub platform: String,
    /// `active`, `blocked` or `inactive`.
    pub state: String,
    /// Registration time, Unix seconds.
    pub created_at: u64,
    /// Last use, Unix seconds.
    pub last_used_at: u64,
}

#[derive(Deserialize)]
struct DeviceList {
    devices: Vec<DeviceInfo>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
}

/// What the phone shows about the browser that asks (`DisplayContext` minus service/action).
#[derive(Debug, Clone, Default)]
pub struct BrowserContext {
    /// A short browser description.
    pub browser: Option<String>,
    /// The browser's address.
    pub ip: Option<String>,
    /// Unix seconds.
    pub time: Option<u64>,
}

/// A relying-party API client with one key.
#[derive(Clone)]
pub struct RpClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl RpClient {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:8080`) with the key `rp_…`.
    pub fn new(base: &str, key: &str) -> Result<Self, RpError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Long polls wait up to 30 s; the timeout leaves room above that (§7).
        let http = reqwest::Client::builder().timeout(Duration::from_secs(45)).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), key: key.trim().to_owned() })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, RpError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.unwrap_or_default();
            let code = serde_json::from_slice::<ErrorBody>(&bytes).map(|b| b.error.code).unwrap_or_default();
            return Err(RpError::Api { status: status.as_u16(), code });
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            // Only DELETE answers 204; its T is ().
            return serde_json::from_value(serde_json::Value::Null)
                .map_err(|_| RpError::Api { status: 204, code: "unexpected_empty".into() });
        }
        Ok(response.json().await?)
    }

    /// `POST /v1/challenges/push` with number matching (the server's default, `type`).
    pub async fn start_push(
        &self,
        user: &str,
        service: &str,
        action: &str,
        ctx: &BrowserContext,
    ) -> Result<PushCreated, RpError> {
        let mut context = json!({"service": service, "action": action});
        if let Some(b) = &ctx.browser {
            context["browser"] = json!(b);
        }
        if let Some(ip) = &ctx.ip {
            context["ip"] = json!(ip);
        }
        if let Some(t) = ctx.time {
            context["time"] = json!(t);
        }
        let body = json!({"user": user, "context": context, "number_matching": "type"});
        self.call(reqwest::Method::POST, "/v1/challenges/push", Some(body)).await
    }

    /// `POST /v1/challenges/qr`.
    pub async fn start_qr(&self, user: &str, service: &str, action: &str) -> Result<QrCreated, RpError> {
        let body = json!({"user": user, "service": service, "action": action});
        self.call(reqwest::Method::POST, "/v1/challenges/qr", Some(body)).await
    }

    /// `POST /v1/challenges/{id}/otp`.
    pub async fn verify_otp(&self, challenge: &str, otp: &str) -> Result<ChallengeStatus, RpError> {
        let path = format!("/v1/challenges/{}/otp", path_segment(challenge));
        self.call(reqwest::Method::POST, &path, Some(json!({"otp": otp}))).await
    }

    /// `GET /v1/challenges/{id}?wait=N`.
    pub async fn challenge_status(&self, challenge: &str, wait: u64) -> Result<ChallengeStatus, RpError> {
        let path = format!("/v1/challenges/{}?wait={wait}", path_segment(challenge));
        self.call(reqwest::Method::GET, &path, None).await
    }

    /// `POST /v1/enrollments`.
    pub async fn start_enrollment(&self, user: &str, device_name: &str) -> Result<EnrollmentStarted, RpError> {
        let body = json!({"user": user, "device_name": device_name});
        self.call(reqwest::Method::POST, "/v1/enrollments", Some(body)).await
    }

    /// `GET /v1/enrollments/{id}?wait=N`.
    pub async fn enrollment_status(&self, enrollment: &str, wait: u64) -> Result<EnrollmentStatus, RpError> {
        let path = format!("/v1/enrollments/{}?wait={wait}", path_segment(enrollment));
        self.call(reqwest::Method::GET, &path, None).await
    }

    /// `PUT /v1/users/{user}`: makes sure the account's user exists in the relying party's
    /// tenant on the server (so a phone can be registered for it); `true` when it was created
    /// now, `false` when it already existed.
    pub async fn ensure_user(&self, user: &str) -> Result<bool, RpError> {
        let path = format!("/v1/users/{}", path_segment(user));
        let response = self.http.put(format!("{}{path}", self.base)).bearer_auth(&self.key).send().await?;
        match response.status().as_u16() {
            201 => Ok(true),
            200 => Ok(false),
            status => {
                let bytes = response.bytes().await.unwrap_or_default();
                let code = serde_json::from_slice::<ErrorBody>(&bytes).map(|b| b.error.code).unwrap_or_default();
                Err(RpError::Api { status, code })
            }
        }
    }

    /// `GET /v1/users/{user}/devices`.
    pub async fn devices(&self, user: &str) -> Result<Vec<DeviceInfo>, RpError> {
        let path = format!("/v1/users/{}/devices", path_segment(user));
        Ok(self.call::<DeviceList>(reqwest::Method::GET, &path, None).await?.devices)
    }

    /// [`RpClient::devices`], with a user the server does not have (an account that never
    /// registered a phone, so [`RpClient::ensure_user`] never ran for it) read as no devices.
    pub async fn devices_or_none(&self, user: &str) -> Result<Vec<DeviceInfo>, RpError> {
        match self.devices(user).await {
            Err(RpError::Api { status: 404, .. }) => Ok(Vec::new()),
            other => other,
        }
    }

    /// `DELETE /v1/users/{user}/devices/{id}`.
    pub async fn remove_device(&self, user: &str, device: &str) -> Result<(), RpError> {
        let path = format!("/v1/users/{}/devices/{}", path_segment(user), path_segment(device));
        self.call::<()>(reqwest::Method::DELETE, &path, None).await
    }
}
