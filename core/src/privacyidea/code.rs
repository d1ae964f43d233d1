//! Parsing privacyIDEA push enrollment codes (`otpauth://pipush/…`, `pia://pipush/…`).

use percent_encoding::percent_decode_str;

use super::push::PushError;

/// Longest enrollment code accepted (privacyIDEA's are ~300 bytes).
pub const MAX_CODE_LEN: usize = 4096;
/// Longest single parameter value accepted.
const MAX_FIELD_LEN: usize = 1024;

/// What a privacyIDEA push enrollment QR code carries (interop notes §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEnrollmentCode {
    /// Token label (default: the serial).
    pub label: String,
    /// Token serial, e.g. `PIPU0000DB13`.
    pub serial: String,
    /// The registration URL (`…/ttype/push`) used for everything afterwards.
    pub url: String,
    /// Issuer shown to the user (default `privacyIDEA`).
    pub issuer: String,
    /// One-time credential proving the phone scanned this code (40 hex chars).
    pub enrollment_credential: String,
    /// Minutes the code is meant to be valid (informational; the server does not check it).
    pub ttl_minutes: Option<u32>,
    /// The server's `sslverify`; Nyckel verifies TLS whatever it says.
    pub ssl_verify: bool,
    /// `poll_only=True`: the server has no push gateway; the phone must poll.
    pub poll_only: bool,
    /// The server's policy asks the app to require its PIN before answering.
    pub app_pin: bool,
    /// `app_force_unlock` (`any`, `biometric`, `pin`), if set.
    pub app_force_unlock: Option<String>,
    /// Protocol version (`v`), 1 in privacyIDEA 3.x.
    pub version: u32,
}

fn bad(reason: impl Into<String>) -> PushError {
    PushError::BadCode { reason: reason.into() }
}

fn decode(raw: &str, what: &str) -> Result<String, PushError> {
    if raw.len() > MAX_FIELD_LEN {
        return Err(PushError::TooLarge { what: what.into(), limit: MAX_FIELD_LEN });
    }
    // `quote` never writes `+` for a space, so `+` stays literal (it cannot occur in the
    // fields privacyIDEA writes except inside a percent escape).
    percent_decode_str(raw).decode_utf8().map(|text| text.into_owned()).map_err(|_| bad(format!("{what} is not UTF-8")))
}

fn python_bool(value: &str, what: &str) -> Result<bool, PushError> {
    match value {
        "True" | "true" | "1" => Ok(true),
        "False" | "false" | "0" => Ok(false),
        other => Err(bad(format!("{what} is not a boolean: {other:?}"))),
    }
}

/// Reads a privacyIDEA push enrollment code. Anything else (another `otpauth` type, a
/// missing credential, a URL that is not http(s)) is a [`PushError::BadCode`].
pub fn parse_push_code(text: &str) -> Result<PushEnrollmentCode, PushError> {
    if text.len() > MAX_CODE_LEN {
        return Err(PushError::TooLarge { what: "enrollment code".into(), limit: MAX_CODE_LEN });
    }
    let text = text.trim();
    let rest = ["otpauth://pipush/", "pia://pipush/"]
        .iter()
        .find_map(|prefix| {
            text.get(..prefix.len()).filter(|head| head.eq_ignore_ascii_case(prefix)).map(|_| &text[prefix.len()..])
        })
        .ok_or_else(|| bad("not an otpauth://pipush/ or pia://pipush/ code"))?;
    let (label, query) = rest.split_once('?').ok_or_else(|| bad("no parameters"))?;
    let label = decode(label, "label")?;

    let mut code = PushEnrollmentCode {
        label,
        serial: String::new(),
        url: String::new(),
        issuer: "privacyIDEA".into(),
        enrollment_credential: String::new(),
        ttl_minutes: None,
        ssl_verify: true,
        poll_only: false,
        app_pin: false,
        app_force_unlock: None,
        version: 1,
    };
    let mut seen = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        if seen.contains(&key) {
            // Two values for one key would make the phone and a reviewer read different codes.
            return Err(bad(format!("parameter {key} appears twice")));
        }
        seen.push(key);
        let value = decode(raw, key)?;
        match key {
            "url" => code.url = value,
            "serial" => code.serial = value,
            "issuer" => code.issuer = value,
            "enrollment_credential" => code.enrollment_credential = value,
            "ttl" => code.ttl_minutes = Some(value.parse().map_err(|_| bad("ttl is not a number"))?),
            "sslverify" => code.ssl_verify = python_bool(&value, "sslverify")?,
            "poll_only" => code.poll_only = python_bool(&value, "poll_only")?,
            "pin" => code.app_pin = python_bool(&value, "pin")?,
            "app_force_unlock" => code.app_force_unlock = Some(value),
            "v" => code.version = value.parse().map_err(|_| bad("v is not a number"))?,
            // `image` and future parameters are display hints the phone can do without.
            _ => {}
        }
    }
    if code.serial.is_empty() || !code.serial.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(bad("missing or malformed serial"));
    }
    if code.enrollment_credential.is_empty() || !code.enrollment_credential.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad("missing or malformed enrollment_credential"));
    }
    let url = url::Url::parse(&code.url).map_err(|error| bad(format!("url: {error}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(bad("url is not an http(s) URL"));
    }
    if code.version != 1 {
        return Err(bad(format!("unsupported push protocol version {}", code.version)));
    }
    if code.label.is_empty() {
        code.label = code.serial.clone();
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBSERVED: &str = "otpauth://pipush/PIPU0000DB13?url=http%3A//127.0.0.1%3A48769/ttype/push&ttl=10&issuer=privacyIDEA&enrollment_credential=d67440e8d0f804c7806279e3a5a35f181958f746&v=1&serial=PIPU0000DB13&sslverify=0&poll_only=True&pin=True&app_force_unlock=pin";

    #[test]
    fn reads_the_code_privacyidea_3_14_writes() {
        let code = parse_push_code(OBSERVED).unwrap();
        assert_eq!(code.serial, "PIPU0000DB13");
        assert_eq!(code.label, "PIPU0000DB13");
        assert_eq!(code.url, "http://127.0.0.1:48769/ttype/push");
        assert_eq!(code.enrollment_credential, "d67440e8d0f804c7806279e3a5a35f181958f746");
        assert_eq!(code.ttl_minutes, Some(10));
        assert!(!code.ssl_verify && code.poll_only && code.app_pin);
        assert_eq!(code.app_force_unlock.as_deref(), Some("pin"));
        let pia = OBSERVED.replacen("otpauth://", "pia://", 1);
        assert_eq!(parse_push_code(&pia).unwrap(), code);
    }

    #[test]
    fn refuses_malformed_codes() {
        for broken in [
            OBSERVED.replace("pipush", "totp"),
            OBSERVED.replace("&serial=PIPU0000DB13", ""),
            OBSERVED.replace("enrollment_credential=d6", "enrollment_credential=z6"),
            OBSERVED.replace("url=http%3A", "url=javascript%3A"),
            OBSERVED.replace("v=1", "v=2"),
            OBSERVED.replace("sslverify=0", "sslverify=maybe"),
            format!("{OBSERVED}&serial=OTHER"),
        ] {
            assert!(matches!(parse_push_code(&broken), Err(PushError::BadCode { .. })), "{broken}");
        }
        let huge = format!("{OBSERVED}&image={}", "a".repeat(MAX_CODE_LEN));
        assert!(matches!(parse_push_code(&huge), Err(PushError::TooLarge { .. })));
    }
}
