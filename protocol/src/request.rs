//! Device-signed HTTP requests: the headers, the signed bytes and the timestamp window.

use crate::canonical::{tags, Canonical};
use crate::digest::sha256;
use crate::ids::{DeviceId, IdError, Nonce};
use crate::keys::{DevicePublicKey, DeviceSignature, DeviceSigner, SignerError};
use crate::policy::REQUEST_TIMESTAMP_WINDOW;

/// Header naming the device.
pub const HEADER_DEVICE: &str = "Nyckel-Device";
/// Header with the request time, Unix seconds in decimal.
pub const HEADER_TIMESTAMP: &str = "Nyckel-Timestamp";
/// Header with the request nonce, 16 bytes base64url.
pub const HEADER_NONCE: &str = "Nyckel-Nonce";
/// Header with the device's DER signature, base64url.
pub const HEADER_SIGNATURE: &str = "Nyckel-Signature";

/// Why a signed request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestAuthError {
    /// A signing header is missing.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A signing header is malformed.
    #[error("malformed header {header}: {reason}")]
    MalformedHeader {
        /// The header.
        header: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The method is not an upper-case token or the path does not start with `/`.
    #[error("method must be an upper-case token and the path start with '/'")]
    BadTarget,
    /// The timestamp is outside ± [`REQUEST_TIMESTAMP_WINDOW`] of the server clock.
    #[error("request timestamp {timestamp} is outside the window around {now}")]
    Stale {
        /// The request's timestamp.
        timestamp: u64,
        /// The server clock.
        now: u64,
    },
    /// The signature does not verify under the device key.
    #[error("request signature does not verify")]
    BadSignature,
    /// The device key could not sign.
    #[error(transparent)]
    Signer(#[from] SignerError),
    /// No nonce could be drawn.
    #[error(transparent)]
    Random(#[from] IdError),
}

/// The canonical bytes of a request (tag `nyckel/v2/request`): method, path with query,
/// device id, timestamp, nonce, SHA-256 of the body (of the empty string when there is none).
pub fn request_bytes(
    method: &str,
    path_and_query: &str,
    device_id: &DeviceId,
    timestamp: u64,
    nonce: &Nonce,
    body: &[u8],
) -> Vec<u8> {
    Canonical::new(tags::REQUEST)
        .str(method)
        .str(path_and_query)
        .str(device_id.as_str())
        .u64(timestamp)
        .bytes(&nonce.0)
        .bytes(&sha256(body))
        .finish()
}

fn check_target(method: &str, path_and_query: &str) -> Result<(), RequestAuthError> {
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if method_ok && path_and_query.starts_with('/') {
        Ok(())
    } else {
        Err(RequestAuthError::BadTarget)
    }
}

/// The authentication of one device request, carried in four headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    /// The device.
    pub device_id: DeviceId,
    /// Request time, Unix seconds.
    pub timestamp: u64,
    /// Fresh per request; the server refuses one it has seen within the window.
    pub nonce: Nonce,
    /// ECDSA P-256 over [`request_bytes`].
    pub signature: DeviceSignature,
}

impl RequestAuth {
    /// Signs a request the phone is about to send.
    pub fn sign(
        signer: &dyn DeviceSigner,
        device_id: &DeviceId,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: u64,
    ) -> Result<Self, RequestAuthError> {
        check_target(method, path_and_query)?;
        let nonce = Nonce::random()?;
        let signature = signer.sign(&request_bytes(method, path_and_query, device_id, now, &nonce, body))?;
        Ok(Self { device_id: device_id.clone(), timestamp: now, nonce, signature })
    }

    /// The four headers, as (name, value).
    pub fn to_headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_DEVICE, self.device_id.to_string()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_NONCE, self.nonce.to_b64()),
            (HEADER_SIGNATURE, crate::b64::encode(self.signature.as_der())),
        ]
    }

    /// Reads the four headers through `get` (which should match names case-insensitively).
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, RequestAuthError> {
        let header = |name: &'static str| get(name).ok_or(RequestAuthError::MissingHeader(name));
        let malformed = |header: &'static str, reason: String| RequestAuthError::MalformedHeader { header, reason };
        let device_id = DeviceId::new(header(HEADER_DEVICE)?).map_err(|e| malformed(HEADER_DEVICE, e.to_string()))?;
        let ts = header(HEADER_TIMESTAMP)?;
        if ts.is_empty() || ts.len() > 20 || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(HEADER_TIMESTAMP, "not a decimal Unix time".into()));
        }
        let timestamp = ts.parse().map_err(|_| malformed(HEADER_TIMESTAMP, "out of range".into()))?;
        let nonce = Nonce::from_b64(header(HEADER_NONCE)?).map_err(|e| malformed(HEADER_NONCE, e.to_string()))?;
        let der =
            crate::b64::decode(header(HEADER_SIGNATURE)?).map_err(|e| malformed(HEADER_SIGNATURE, e.to_string()))?;
        let signature = DeviceSignature::from_der(der).map_err(|e| malformed(HEADER_SIGNATURE, e.to_string()))?;
        Ok(Self { device_id, timestamp, nonce, signature })
    }

    /// Whether the timestamp is within ± [`REQUEST_TIMESTAMP_WINDOW`] of `now`.
    pub fn check_timestamp(&self, now: u64) -> Result<(), RequestAuthError> {
        if self.timestamp.abs_diff(now) <= REQUEST_TIMESTAMP_WINDOW {
            Ok(())
        } else {
            Err(RequestAuthError::Stale { timestamp: self.timestamp, now })
        }
    }

    /// The server's check: timestamp window, then the signature over this exact request.
    /// The caller still refuses a nonce it has seen in the window and looks up the key
    /// of [`RequestAuth::device_id`].
    pub fn verify(
        &self,
        key: &DevicePublicKey,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: u64,
    ) -> Result<(), RequestAuthError> {
        check_target(method, path_and_query)?;
        self.check_timestamp(now)?;
        let bytes = request_bytes(method, path_and_query, &self.device_id, self.timestamp, &self.nonce, body);
        key.verify(&bytes, &self.signature).map_err(|_| RequestAuthError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SoftwareDeviceKey;

    fn signed() -> (SoftwareDeviceKey, RequestAuth) {
        let key = SoftwareDeviceKey::generate().unwrap();
        let dev = DeviceId::new("dev-1").unwrap();
        let auth = RequestAuth::sign(&key, &dev, "GET", "/v1/device/challenges?wait=30", b"", 5_000).unwrap();
        (key, auth)
    }

    #[test]
    fn round_trip_through_headers() {
        let (key, auth) = signed();
        let headers = auth.to_headers();
        let parsed =
            RequestAuth::from_headers(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()))
                .unwrap();
        assert_eq!(parsed, auth);
        assert_eq!(parsed.verify(&key.public_key(), "GET", "/v1/device/challenges?wait=30", b"", 5_059), Ok(()));
    }

    #[test]
    fn anything_changed_fails() {
        let (key, auth) = signed();
        let pk = key.public_key();
        let path = "/v1/device/challenges?wait=30";
        assert_eq!(auth.verify(&pk, "POST", path, b"", 5_000), Err(RequestAuthError::BadSignature));
        assert_eq!(
            auth.verify(&pk, "GET", "/v1/device/challenges?wait=1", b"", 5_000),
            Err(RequestAuthError::BadSignature)
        );
        assert_eq!(auth.verify(&pk, "GET", path, b"{}", 5_000), Err(RequestAuthError::BadSignature));
        let mut other = auth.clone();
        other.device_id = DeviceId::new("dev-2").unwrap();
        assert_eq!(other.verify(&pk, "GET", path, b"", 5_000), Err(RequestAuthError::BadSignature));
        let mut other = auth.clone();
        other.nonce.0[0] ^= 1;
        assert_eq!(other.verify(&pk, "GET", path, b"", 5_000), Err(RequestAuthError::BadSignature));
        let mut other = auth.clone();
        other.timestamp += 1;
        assert_eq!(other.verify(&pk, "GET", path, b"", 5_000), Err(RequestAuthError::BadSignature));
        assert_eq!(auth.verify(&pk, "get", path, b"", 5_000), Err(RequestAuthError::BadTarget));
    }

    #[test]
    fn timestamp_window() {
        let (key, auth) = signed();
        let pk = key.public_key();
        let path = "/v1/device/challenges?wait=30";
        assert_eq!(auth.verify(&pk, "GET", path, b"", 4_940), Ok(()));
        assert_eq!(
            auth.verify(&pk, "GET", path, b"", 5_061),
            Err(RequestAuthError::Stale { timestamp: 5_000, now: 5_061 })
        );
        assert_eq!(
            auth.verify(&pk, "GET", path, b"", 4_939),
            Err(RequestAuthError::Stale { timestamp: 5_000, now: 4_939 })
        );
    }

    fn parse(headers: &[(&'static str, String)]) -> Result<RequestAuth, RequestAuthError> {
        RequestAuth::from_headers(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()))
    }

    #[test]
    fn malformed_headers() {
        let (_, auth) = signed();
        let good: Vec<(&'static str, String)> = auth.to_headers().into_iter().collect();
        let mut missing = good.clone();
        missing.retain(|(n, _)| *n != HEADER_NONCE);
        assert_eq!(parse(&missing), Err(RequestAuthError::MissingHeader(HEADER_NONCE)));
        for (name, value) in [
            (HEADER_DEVICE, "a/b"),
            (HEADER_TIMESTAMP, "-5"),
            (HEADER_TIMESTAMP, "1e9"),
            (HEADER_TIMESTAMP, ""),
            (HEADER_TIMESTAMP, "99999999999999999999"),
            (HEADER_NONCE, "short"),
            (HEADER_SIGNATURE, "%%%"),
            (HEADER_SIGNATURE, "AAAA"),
        ] {
            let mut headers = good.clone();
            headers.iter_mut().filter(|(n, _)| *n == name).for_each(|(_, v)| *v = value.to_string());
            assert!(matches!(parse(&headers), Err(RequestAuthError::MalformedHeader { .. })), "{name}: {value}");
        }
    }
}
