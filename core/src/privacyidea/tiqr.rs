//! tiqr tokens (as privacyIDEA serves them): enrollment from `tiqrenroll://`, login from
//! `tiqrauth://` with the OCRA suite the metadata names, and the offline response.
//!
//! The OCRA secret is never stored as such: the phone keeps `secret XOR Argon2id(PIN, salt)`
//! and no verifier, so a wrong PIN yields a wrong secret, a wrong response, and a failure the
//! **server** counts (`INVALID_RESPONSE:<attempts left>`) — no offline PIN oracle on the phone,
//! the rule of Nyckel's own registrations (PROTOCOL.md §4).

use argon2::{Algorithm, Argon2, Params, Version};
use nyckel_protocol::{OcraInput, OcraSuite};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::http::{snippet, PiHttp, RawResponse};
use super::push::PushError;

/// Longest tiqr code accepted.
pub const MAX_TIQR_CODE_LEN: usize = 2048;
const SECRET_LEN: usize = 32;
const MAX_FIELD: usize = 512;

/// Why a tiqr exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TiqrError {
    /// The scanned code or the metadata is not usable.
    #[error("not a usable tiqr code or metadata: {reason}")]
    BadCode {
        /// Why.
        reason: String,
    },
    /// The OCRA suite uses inputs the phone cannot supply (counter, PIN, session).
    #[error("unsupported OCRA suite {suite:?}: {reason}")]
    UnsupportedSuite {
        /// The suite.
        suite: String,
        /// Why.
        reason: String,
    },
    /// The login code names another user or service than this token.
    #[error("this login code is for {got:?}, not for this token ({expected:?})")]
    OtherAccount {
        /// The token's `user@service`.
        expected: String,
        /// The code's.
        got: String,
    },
    /// The server says the response was wrong (wrong PIN); it counted the failure.
    #[error("wrong response (wrong PIN?): {attempts_left} attempts left on the server")]
    WrongResponse {
        /// `maxfail - failcount` on the server.
        attempts_left: u32,
    },
    /// The server has no open challenge for this login (expired, already used, unknown).
    #[error("the server has no open challenge for this login")]
    InvalidChallenge,
    /// The server said something else.
    #[error("unexpected tiqr answer: {0}")]
    Unexpected(String),
    /// The PIN could not be turned into a key.
    #[error("cannot derive the PIN key: {0}")]
    Kdf(String),
    /// Transport or privacyIDEA error.
    #[error(transparent)]
    Transport(#[from] PushError),
}

fn bad(reason: impl Into<String>) -> TiqrError {
    TiqrError::BadCode { reason: reason.into() }
}

/// A tiqr token on this phone. Persist it (serde); it holds no usable secret without the PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TiqrToken {
    /// `identity.identifier` (privacyIDEA: `<login>_<realm>`).
    pub user_id: String,
    /// `identity.displayName`.
    pub user_name: String,
    /// `service.identifier` (e.g. `org.privacyidea`).
    pub service_id: String,
    /// `service.displayName`: shown as where the request comes from.
    pub service_name: String,
    /// Where login responses go.
    pub authentication_url: String,
    /// The OCRA suite, e.g. `OCRA-1:HOTP-SHA1-6:QN10`.
    pub ocra_suite: String,
    salt: [u8; 16],
    masked_secret: Vec<u8>,
}

/// What `tiqrenroll://` metadata says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiqrMetadata {
    /// `identity.identifier`.
    pub user_id: String,
    /// `identity.displayName`.
    pub user_name: String,
    /// `service.identifier`.
    pub service_id: String,
    /// `service.displayName`.
    pub service_name: String,
    /// `service.authenticationUrl`.
    pub authentication_url: String,
    /// `service.enrollmentUrl` (carries the one-time session).
    pub enrollment_url: String,
    /// `service.ocraSuite`, checked to be usable.
    pub ocra_suite: String,
}

/// A `tiqrauth://` login code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiqrAuth {
    /// The user identifier.
    pub user_id: String,
    /// The service identifier.
    pub service_id: String,
    /// The session key (privacyIDEA's transaction id).
    pub session_key: String,
    /// The OCRA question.
    pub challenge: String,
    /// The service's display name.
    pub service_name: String,
}

fn http_url(text: &str) -> Result<String, TiqrError> {
    let url = url::Url::parse(text).map_err(|error| bad(format!("URL {text:?}: {error}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(bad("not an http(s) URL"));
    }
    Ok(text.to_owned())
}

/// The metadata URL inside a `tiqrenroll://` code.
pub fn parse_enroll_code(text: &str) -> Result<String, TiqrError> {
    if text.len() > MAX_TIQR_CODE_LEN {
        return Err(bad("code too long"));
    }
    let rest = text.trim().strip_prefix("tiqrenroll://").ok_or_else(|| bad("not a tiqrenroll:// code"))?;
    http_url(rest)
}

/// Checks a suite string names only inputs the phone has: a question, optionally a time.
pub fn usable_suite(text: &str) -> Result<OcraSuite, TiqrError> {
    let unsupported = |reason: &str| TiqrError::UnsupportedSuite { suite: text.to_owned(), reason: reason.into() };
    let suite: OcraSuite =
        text.parse().map_err(|error: nyckel_protocol::SuiteError| unsupported(&error.to_string()))?;
    if suite.counter || suite.pin_hash.is_some() || suite.session_len.is_some() {
        return Err(unsupported("needs a counter, PIN or session input"));
    }
    Ok(suite)
}

fn text_field(value: &Value, path: &[&str]) -> Result<String, TiqrError> {
    let mut node = value;
    for step in path {
        node = node.get(step).ok_or_else(|| bad(format!("metadata without {}", path.join("."))))?;
    }
    let text = node.as_str().ok_or_else(|| bad(format!("{} is not a string", path.join("."))))?;
    if text.len() > MAX_FIELD {
        return Err(bad(format!("{} too long", path.join("."))));
    }
    Ok(text.to_owned())
}

/// Reads the metadata JSON. Pure (the fuzz target calls it).
pub fn parse_metadata(body: &[u8]) -> Result<TiqrMetadata, TiqrError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| bad("metadata is not JSON"))?;
    let ocra_suite = text_field(&value, &["service", "ocraSuite"])?;
    usable_suite(&ocra_suite)?;
    Ok(TiqrMetadata {
        user_id: text_field(&value, &["identity", "identifier"])?,
        user_name: text_field(&value, &["identity", "displayName"])?,
        service_id: text_field(&value, &["service", "identifier"])?,
        service_name: text_field(&value, &["service", "displayName"])?,
        authentication_url: http_url(&text_field(&value, &["service", "authenticationUrl"])?)?,
        enrollment_url: http_url(&text_field(&value, &["service", "enrollmentUrl"])?)?,
        ocra_suite,
    })
}

/// Reads a `tiqrauth://user@service/session/challenge/name` code. Pure.
pub fn parse_auth_code(text: &str) -> Result<TiqrAuth, TiqrError> {
    if text.len() > MAX_TIQR_CODE_LEN {
        return Err(bad("code too long"));
    }
    let rest = text.trim().strip_prefix("tiqrauth://").ok_or_else(|| bad("not a tiqrauth:// code"))?;
    let (account, path) = rest.split_once('/').ok_or_else(|| bad("no session"))?;
    let (user, service) = account.rsplit_once('@').ok_or_else(|| bad("no user@service"))?;
    let parts: Vec<&str> = path.split('/').collect();
    let [session_key, challenge, name @ ..] = parts.as_slice() else { return Err(bad("no challenge")) };
    let decode = |raw: &str, plus: bool| -> Result<String, TiqrError> {
        // The user part is written with quote_plus, the name with quote.
        let raw = if plus { raw.replace('+', " ") } else { raw.to_owned() };
        percent_decode_str(&raw).decode_utf8().map(|text| text.into_owned()).map_err(|_| bad("not UTF-8"))
    };
    let auth = TiqrAuth {
        user_id: decode(user, true)?,
        service_id: decode(service, false)?,
        session_key: (*session_key).to_owned(),
        challenge: (*challenge).to_owned(),
        service_name: decode(&name.join("/"), false)?,
    };
    if auth.session_key.is_empty()
        || auth.session_key.len() > 64
        || !auth.session_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad("malformed session key"));
    }
    if auth.challenge.is_empty()
        || auth.challenge.len() > 128
        || !auth.challenge.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad("malformed challenge"));
    }
    Ok(auth)
}

fn pin_mask(pin: &str, salt: &[u8; 16]) -> Result<Zeroizing<[u8; SECRET_LEN]>, TiqrError> {
    let params = Params::new(19 * 1024, 2, 1, Some(SECRET_LEN)).map_err(|error| TiqrError::Kdf(error.to_string()))?;
    let mut mask = Zeroizing::new([0u8; SECRET_LEN]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pin.as_bytes(), salt, mask.as_mut())
        .map_err(|error| TiqrError::Kdf(error.to_string()))?;
    Ok(mask)
}

fn random<const N: usize>() -> Result<[u8; N], TiqrError> {
    let mut bytes = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| TiqrError::Kdf("no randomness".into()))?;
    Ok(bytes)
}

impl TiqrToken {
    /// `user@service`, for messages.
    pub fn account(&self) -> String {
        format!("{}@{}", self.user_id, self.service_id)
    }

    fn secret(&self, pin: &str) -> Result<Zeroizing<Vec<u8>>, TiqrError> {
        let mask = pin_mask(pin, &self.salt)?;
        Ok(Zeroizing::new(self.masked_secret.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()))
    }

    /// The OCRA response to `auth` under `pin`: what is sent online, and what the user
    /// types when the phone is offline. Any PIN gives a response; only the server knows
    /// whether it is right.
    pub fn response(&self, auth: &TiqrAuth, pin: &str, now: u64) -> Result<String, TiqrError> {
        if auth.user_id != self.user_id || auth.service_id != self.service_id {
            return Err(TiqrError::OtherAccount {
                expected: self.account(),
                got: format!("{}@{}", auth.user_id, auth.service_id),
            });
        }
        let suite = usable_suite(&self.ocra_suite)?;
        let mut input = OcraInput::question(&auth.challenge);
        input.timestamp = suite.time_steps(now);
        suite
            .compute(&self.secret(pin)?, &input)
            .map_err(|error| bad(format!("challenge does not fit the suite: {error}")))
    }
}

/// Reads the metadata a `tiqrenroll://` code points to.
pub async fn fetch_metadata(http: &PiHttp, code: &str) -> Result<TiqrMetadata, TiqrError> {
    let url = parse_enroll_code(code)?;
    let response = http.get(&url, &[]).await?;
    if response.status != 200 {
        return Err(PushError::Server { status: response.status, code: None, message: snippet(&response.body) }.into());
    }
    parse_metadata(&response.body)
}

/// Enrolls: makes a random OCRA secret, sends it (hex) to the enrollment URL, and keeps it
/// masked under `pin`. Nothing is kept unless the server answered `OK`.
pub async fn enroll(http: &PiHttp, metadata: &TiqrMetadata, pin: &str) -> Result<TiqrToken, TiqrError> {
    let secret = Zeroizing::new(random::<SECRET_LEN>()?);
    let salt = random::<16>()?;
    let hex: Zeroizing<String> = Zeroizing::new(secret.iter().map(|b| format!("{b:02x}")).collect());
    let form = [
        ("secret", hex.as_str()),
        ("operation", "register"),
        ("notificationType", ""),
        ("notificationAddress", ""),
        ("language", "en"),
    ];
    let response = http.post_form(&metadata.enrollment_url, &form).await?;
    match plain(&response)?.as_str() {
        "OK" => {}
        other => return Err(TiqrError::Unexpected(other.to_owned())),
    }
    let mask = pin_mask(pin, &salt)?;
    Ok(TiqrToken {
        user_id: metadata.user_id.clone(),
        user_name: metadata.user_name.clone(),
        service_id: metadata.service_id.clone(),
        service_name: metadata.service_name.clone(),
        authentication_url: metadata.authentication_url.clone(),
        ocra_suite: metadata.ocra_suite.clone(),
        salt,
        masked_secret: secret.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect(),
    })
}

fn plain(response: &RawResponse) -> Result<String, TiqrError> {
    if response.status != 200 {
        // privacyIDEA's errors here are its JSON envelope.
        return Err(match super::http::envelope(response) {
            Err(error) => error.into(),
            Ok(_) => TiqrError::Unexpected(snippet(&response.body)),
        });
    }
    Ok(String::from_utf8_lossy(&response.body[..response.body.len().min(200)]).trim().to_owned())
}

/// Reads the server's plain-text answer to a login. Pure.
pub fn parse_login_answer(text: &str) -> Result<(), TiqrError> {
    match text {
        "OK" => Ok(()),
        "INVALID_CHALLENGE" => Err(TiqrError::InvalidChallenge),
        _ => match text.strip_prefix("INVALID_RESPONSE:").map(str::parse::<u32>) {
            Some(Ok(attempts_left)) => Err(TiqrError::WrongResponse { attempts_left }),
            _ => Err(TiqrError::Unexpected(text.chars().take(100).collect())),
        },
    }
}

/// Logs in: computes the response under `pin` and sends it to the authentication URL.
pub async fn login(http: &PiHttp, token: &TiqrToken, auth: &TiqrAuth, pin: &str, now: u64) -> Result<(), TiqrError> {
    let response = token.response(auth, pin, now)?;
    let form = [
        ("sessionKey", auth.session_key.as_str()),
        ("userId", token.user_id.as_str()),
        ("response", response.as_str()),
        ("language", "en"),
        ("operation", "login"),
        ("notificationType", ""),
        ("notificationAddress", ""),
    ];
    let answer = http.post_form(&token.authentication_url, &form).await?;
    parse_login_answer(&plain(&answer)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_privacyidea_codes() {
        let code = "tiqrenroll://http://127.0.0.1:5001/ttype/tiqr?action=metadata&session=3ac8&serial=TiQR0000A458";
        assert_eq!(
            parse_enroll_code(code).unwrap(),
            "http://127.0.0.1:5001/ttype/tiqr?action=metadata&session=3ac8&serial=TiQR0000A458"
        );
        assert!(parse_enroll_code("tiqrenroll://file:///etc/passwd").is_err());
        let auth =
            parse_auth_code("tiqrauth://bob_realm1@org.privacyidea/13771784975961802847/2395452752/privacy%20IDEA")
                .unwrap();
        assert_eq!(auth.user_id, "bob_realm1");
        assert_eq!(auth.service_id, "org.privacyidea");
        assert_eq!(auth.session_key, "13771784975961802847");
        assert_eq!(auth.challenge, "2395452752");
        assert_eq!(auth.service_name, "privacy IDEA");
        for broken in ["tiqrauth://bob@svc", "tiqrauth://bob@svc/1/", "tiqrauth://svc/1/2/x", "tiqrauth://b@s/1/2x?/n"]
        {
            assert!(parse_auth_code(broken).is_err(), "{broken}");
        }
        assert!(matches!(usable_suite("OCRA-1:HOTP-SHA1-6:C-QN08"), Err(TiqrError::UnsupportedSuite { .. })));
        assert!(matches!(usable_suite("OCRA-1:HOTP-SHA1-6:QN08-PSHA1"), Err(TiqrError::UnsupportedSuite { .. })));
        assert_eq!(parse_login_answer("INVALID_RESPONSE:9"), Err(TiqrError::WrongResponse { attempts_left: 9 }));
        assert_eq!(parse_login_answer("INVALID_CHALLENGE"), Err(TiqrError::InvalidChallenge));
        assert!(matches!(parse_login_answer("<html>"), Err(TiqrError::Unexpected(_))));
    }

    #[test]
    fn the_stored_token_is_no_pin_oracle() {
        let secret = [7u8; SECRET_LEN];
        let salt = [1u8; 16];
        let mask = pin_mask("2468", &salt).unwrap();
        let token = TiqrToken {
            user_id: "bob_realm1".into(),
            user_name: "Bob".into(),
            service_id: "org.privacyidea".into(),
            service_name: "privacyIDEA".into(),
            authentication_url: "http://x/ttype/tiqr".into(),
            ocra_suite: "OCRA-1:HOTP-SHA1-6:QN10".into(),
            salt,
            masked_secret: secret.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect(),
        };
        assert_eq!(token.secret("2468").unwrap().as_slice(), &secret);
        let auth = parse_auth_code("tiqrauth://bob_realm1@org.privacyidea/1/0123456789/privacyIDEA").unwrap();
        let suite = usable_suite(&token.ocra_suite).unwrap();
        let right = suite.compute(&secret, &OcraInput::question("0123456789")).unwrap();
        assert_eq!(token.response(&auth, "2468", 0).unwrap(), right);
        // A wrong PIN still gives a well-formed response: nothing on the phone tells it apart.
        let wrong = token.response(&auth, "1357", 0).unwrap();
        assert_eq!(wrong.len(), 6);
        assert_ne!(wrong, right);
        let other = parse_auth_code("tiqrauth://mallory_realm1@org.privacyidea/1/0123456789/x").unwrap();
        assert!(matches!(token.response(&other, "2468", 0), Err(TiqrError::OtherAccount { .. })));
    }
}
