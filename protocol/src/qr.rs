//! QR payload URIs: `nyckel://enroll`, `nyckel://login` and `nyckel://tx`, parsed strictly.
//!
//! Grammar: `nyckel://<type>?<name>=<value>(&<name>=<value>)*`. Values are
//! percent-encoded UTF-8 (`+` is a literal plus, not a space). Every parameter is known
//! and appears once, except the repeatable `l` of `tx`; unknown parameters are refused,
//! because in v1 everything a QR code carries is either checked or displayed.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::display::{check_text, validate_lines, ChallengeDisplay, DisplayContext, DisplayError, TransactionLine};
use crate::ids::{ChallengeId, EnrollmentId, EnrollmentToken, Nonce};
use crate::keys::{KeyId, ServerPublicKey};
use crate::qr_otp::{self, OtpKind};

/// Longest payload accepted (a version-40 QR code holds 2953 bytes).
pub const MAX_QR_PAYLOAD: usize = 2048;

/// Percent-encode everything but RFC 3986 unreserved characters (so `:` `&` `=` `+` are encoded).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Why a QR payload was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// Longer than [`MAX_QR_PAYLOAD`] bytes.
    #[error("payload of {0} bytes exceeds {MAX_QR_PAYLOAD}")]
    TooLong(usize),
    /// Not a `nyckel://` URI (it may be another app's QR code, e.g. `otpauth://`).
    #[error("not a nyckel:// URI")]
    NotNyckel,
    /// A `nyckel://` URI of a type this version does not know.
    #[error("unknown nyckel payload type {0:?}")]
    UnknownType(String),
    /// No query, a fragment, or an empty or nameless parameter.
    #[error("malformed URI: {0}")]
    Malformed(&'static str),
    /// `v` is not 2.
    #[error("unsupported protocol version {0:?}; this app speaks version 2")]
    UnsupportedVersion(String),
    /// A required parameter is absent.
    #[error("missing parameter {0:?}")]
    Missing(&'static str),
    /// A parameter given twice.
    #[error("parameter {0:?} appears more than once")]
    Duplicate(String),
    /// A parameter this type does not have.
    #[error("unknown parameter {0:?}")]
    Unknown(String),
    /// Bad percent-encoding or not UTF-8.
    #[error("parameter {0:?} is not percent-encoded UTF-8")]
    Encoding(String),
    /// A value of the wrong form.
    #[error("parameter {param:?}: {reason}")]
    Invalid {
        /// The parameter.
        param: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Displayed text the phone must not show.
    #[error(transparent)]
    Display(#[from] DisplayError),
}

/// An enrollment QR code: where to register and the one-time token that authorises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollQr {
    /// `u`: the server's base URL (https, or http on a loopback host); endpoints are `u + "/v1/..."`.
    pub server_url: String,
    /// `i`: the enrollment.
    pub enrollment_id: EnrollmentId,
    /// `t`: the one-time enrollment token (16 bytes).
    pub token: EnrollmentToken,
    /// `k`: the server's Ed25519 public key, pinned from now on.
    pub server_key: ServerPublicKey,
    /// `l`: optional label to name the registration in the app, e.g. "alice @ Trade portal".
    pub label: Option<String>,
}

/// A QR one-time-password code: a login (`nyckel://login`) or a transaction (`nyckel://tx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpQr {
    /// Login or transaction.
    pub kind: OtpKind,
    /// `r`: which registration (server key) to answer with.
    pub server_key_id: KeyId,
    /// `c`: the challenge.
    pub challenge_id: ChallengeId,
    /// `n`: the challenge nonce (16 bytes).
    pub nonce: Nonce,
    /// `s`: the service.
    pub service: String,
    /// `a`: the action.
    pub action: String,
    /// `l` (repeated, in order, `tx` only, 1–16): transaction lines as `key:value`.
    pub transaction: Vec<TransactionLine>,
}

impl OtpQr {
    /// What the phone shows for this code.
    pub fn display(&self) -> ChallengeDisplay {
        ChallengeDisplay {
            context: DisplayContext::new(self.service.clone(), self.action.clone()),
            transaction: self.transaction.clone(),
            number_match: None,
        }
    }

    /// The OCRA question the OTP answers (see [`qr_otp::question`]).
    pub fn question(&self) -> String {
        qr_otp::question(self.kind, &self.challenge_id, &self.nonce, &self.display().hash())
    }

    fn validate(&self) -> Result<(), QrError> {
        self.display().validate()?;
        match (self.kind, self.transaction.is_empty()) {
            (OtpKind::Login, false) => Err(QrError::Unknown("l".into())),
            (OtpKind::Transaction, true) => Err(QrError::Missing("l")),
            _ => Ok(()),
        }
    }
}

/// Any Nyckel QR payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrPayload {
    /// `nyckel://enroll`.
    Enroll(EnrollQr),
    /// `nyckel://login` or `nyckel://tx`.
    Otp(OtpQr),
}

fn encode(value: &str) -> String {
    utf8_percent_encode(value, VALUE).to_string()
}

impl EnrollQr {
    /// The `nyckel://enroll?...` URI.
    pub fn to_uri(&self) -> String {
        let mut uri = format!(
            "nyckel://enroll?v=2&u={}&i={}&t={}&k={}",
            encode(&self.server_url),
            self.enrollment_id,
            self.token.to_b64(),
            self.server_key.to_b64()
        );
        if let Some(label) = &self.label {
            uri.push_str("&l=");
            uri.push_str(&encode(label));
        }
        uri
    }
}

impl OtpQr {
    /// The `nyckel://login?...` or `nyckel://tx?...` URI.
    pub fn to_uri(&self) -> String {
        let mut uri = format!(
            "nyckel://{}?v=2&r={}&c={}&n={}&s={}&a={}",
            self.kind.as_str(),
            self.server_key_id,
            self.challenge_id,
            self.nonce.to_b64(),
            encode(&self.service),
            encode(&self.action)
        );
        for line in &self.transaction {
            uri.push_str(&format!("&l={}:{}", encode(&line.key), encode(&line.value)));
        }
        uri
    }
}

impl QrPayload {
    /// The URI form.
    pub fn to_uri(&self) -> String {
        match self {
            QrPayload::Enroll(qr) => qr.to_uri(),
            QrPayload::Otp(qr) => qr.to_uri(),
        }
    }

    /// Parses and validates a scanned payload.
    pub fn parse(text: &str) -> Result<Self, QrError> {
        if text.len() > MAX_QR_PAYLOAD {
            return Err(QrError::TooLong(text.len()));
        }
        let rest = match text.get(..9) {
            Some(scheme) if scheme.eq_ignore_ascii_case("nyckel://") => &text[9..],
            _ => return Err(QrError::NotNyckel),
        };
        if rest.contains('#') {
            return Err(QrError::Malformed("fragments are not allowed"));
        }
        let (kind, query) = rest.split_once('?').ok_or(QrError::Malformed("no query"))?;
        let params = Params::parse(query)?;
        match kind {
            "enroll" => parse_enroll(params).map(QrPayload::Enroll),
            "login" => parse_otp(OtpKind::Login, params).map(QrPayload::Otp),
            "tx" => parse_otp(OtpKind::Transaction, params).map(QrPayload::Otp),
            other => Err(QrError::UnknownType(other.chars().take(32).collect())),
        }
    }
}

/// Raw query parameters, still percent-encoded, in order.
struct Params<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Params<'a> {
    fn parse(query: &'a str) -> Result<Self, QrError> {
        let mut params = Vec::new();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').ok_or(QrError::Malformed("parameter without '='"))?;
            if name.is_empty() {
                return Err(QrError::Malformed("parameter without a name"));
            }
            params.push((name, value));
        }
        let params = Self(params);
        match params.take_raw("v")? {
            Some("2") => Ok(params),
            Some(other) => Err(QrError::UnsupportedVersion(other.chars().take(16).collect())),
            None => Err(QrError::Missing("v")),
        }
    }

    /// Refuses names outside `allowed` and repeats of names outside `repeatable`.
    fn check_names(&self, allowed: &[&str], repeatable: &[&str]) -> Result<(), QrError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !allowed.contains(name) {
                return Err(QrError::Unknown(name.chars().take(16).collect()));
            }
            if !repeatable.contains(name) && self.0[..i].iter().any(|(n, _)| n == name) {
                return Err(QrError::Duplicate((*name).to_owned()));
            }
        }
        Ok(())
    }

    fn take_raw(&self, name: &str) -> Result<Option<&'a str>, QrError> {
        let mut found = self.0.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v);
        let first = found.next();
        if found.next().is_some() {
            return Err(QrError::Duplicate(name.to_owned()));
        }
        Ok(first)
    }

    fn optional(&self, name: &'static str) -> Result<Option<String>, QrError> {
        self.take_raw(name)?.map(|raw| decode(name, raw)).transpose()
    }

    fn required(&self, name: &'static str) -> Result<String, QrError> {
        self.optional(name)?.ok_or(QrError::Missing(name))
    }

    fn all_raw(&self, name: &str) -> impl Iterator<Item = &'a str> + '_ {
        let name = name.to_owned();
        self.0.iter().filter(move |(n, _)| *n == name).map(|(_, v)| *v)
    }
}

fn decode(name: &str, raw: &str) -> Result<String, QrError> {
    percent_decode_str(raw).decode_utf8().map(|s| s.into_owned()).map_err(|_| QrError::Encoding(name.to_owned()))
}

fn invalid(param: &'static str, reason: impl ToString) -> QrError {
    QrError::Invalid { param, reason: reason.to_string() }
}

/// Checks a server base URL: https (or http on a loopback host, for development), no
/// credentials, query or fragment. Returns it without a trailing slash.
pub fn check_server_url(text: &str) -> Result<String, QrError> {
    let url = url::Url::parse(text).map_err(|e| invalid("u", e))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(invalid("u", "must be https (http only on a loopback host)")),
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("u", "needs a host and no credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("u", "must not have a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn parse_enroll(params: Params<'_>) -> Result<EnrollQr, QrError> {
    params.check_names(&["v", "u", "i", "t", "k", "l"], &[])?;
    let server_url = check_server_url(&params.required("u")?)?;
    let enrollment_id = EnrollmentId::new(params.required("i")?).map_err(|e| invalid("i", e))?;
    let token = EnrollmentToken::from_b64(&params.required("t")?).map_err(|e| invalid("t", e))?;
    let server_key = ServerPublicKey::from_b64(&params.required("k")?).map_err(|e| invalid("k", e))?;
    let label = params.optional("l")?;
    if let Some(label) = &label {
        check_text("label", label, 1, 64)?;
    }
    Ok(EnrollQr { server_url, enrollment_id, token, server_key, label })
}

fn parse_otp(kind: OtpKind, params: Params<'_>) -> Result<OtpQr, QrError> {
    match kind {
        OtpKind::Login => params.check_names(&["v", "r", "c", "n", "s", "a"], &[])?,
        OtpKind::Transaction => params.check_names(&["v", "r", "c", "n", "s", "a", "l"], &["l"])?,
    }
    let server_key_id = KeyId::from_b64(&params.required("r")?).map_err(|e| invalid("r", e))?;
    let challenge_id = ChallengeId::new(params.required("c")?).map_err(|e| invalid("c", e))?;
    let nonce = Nonce::from_b64(&params.required("n")?).map_err(|e| invalid("n", e))?;
    let service = params.required("s")?;
    let action = params.required("a")?;
    let mut transaction = Vec::new();
    for raw in params.all_raw("l") {
        // Split before decoding: the formatter encodes ':' inside keys, so the first raw ':' is the separator.
        let (key, value) = raw.split_once(':').ok_or_else(|| invalid("l", "a transaction line is key:value"))?;
        transaction.push(TransactionLine::new(decode("l", key)?, decode("l", value)?));
    }
    validate_lines(&transaction)?;
    let qr = OtpQr { kind, server_key_id, challenge_id, nonce, service, action, transaction };
    qr.validate()?;
    Ok(qr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enroll() -> EnrollQr {
        EnrollQr {
            server_url: "https://id.example.org/nyckel".into(),
            enrollment_id: EnrollmentId::new("enr-1").unwrap(),
            token: EnrollmentToken([9; 16]),
            server_key: ServerPublicKey([3; 32]),
            label: Some("alice @ Trade portal".into()),
        }
    }

    fn tx() -> OtpQr {
        OtpQr {
            kind: OtpKind::Transaction,
            server_key_id: ServerPublicKey([3; 32]).key_id(),
            challenge_id: ChallengeId::new("AAAAAAAAAAAAAAAAAAAAAA").unwrap(),
            nonce: Nonce([1; 16]),
            service: "Trade portal".into(),
            action: "Change payee".into(),
            transaction: vec![
                TransactionLine::new("New foreign account", "BIC REVOLT21, IBAN LT60 3250 0123"),
                TransactionLine::new("a:b=c&d+e%", "x:y 100%"),
            ],
        }
    }

    #[test]
    fn round_trips() {
        for payload in [QrPayload::Enroll(enroll()), QrPayload::Otp(tx())] {
            let uri = payload.to_uri();
            assert_eq!(QrPayload::parse(&uri), Ok(payload), "{uri}");
        }
        let mut login = tx();
        login.kind = OtpKind::Login;
        login.action = "Sign in".into();
        login.transaction.clear();
        let uri = login.to_uri();
        assert!(uri.starts_with("nyckel://login?v=2&r="));
        assert!(uri.len() < 120, "{uri}");
        assert_eq!(QrPayload::parse(&uri), Ok(QrPayload::Otp(login)));
        let mut no_label = enroll();
        no_label.label = None;
        assert_eq!(QrPayload::parse(&no_label.to_uri()), Ok(QrPayload::Enroll(no_label)));
    }

    #[test]
    fn exact_enroll_uri() {
        assert_eq!(
            enroll().to_uri(),
            "nyckel://enroll?v=2&u=https%3A%2F%2Fid.example.org%2Fnyckel&i=enr-1&t=CQkJCQkJCQkJCQkJCQkJCQ\
             &k=AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM&l=alice%20%40%20Trade%20portal"
        );
    }

    #[test]
    fn scheme_is_case_insensitive_and_trailing_slash_is_dropped() {
        let uri = enroll().to_uri().replacen("nyckel://", "NYCKEL://", 1).replace("%2Fnyckel", "%2Fnyckel%2F");
        let QrPayload::Enroll(parsed) = QrPayload::parse(&uri).unwrap() else { panic!("not enroll") };
        assert_eq!(parsed.server_url, "https://id.example.org/nyckel");
    }

    #[test]
    fn question_depends_on_displayed_lines() {
        let a = tx();
        let mut b = tx();
        b.transaction[0].value = "BIC REVOLT21, IBAN LT60 3250 0124".into();
        assert_ne!(a.question(), b.question());
        assert_eq!(a.question(), tx().question());
    }

    #[test]
    fn malformed_payloads_are_rejected() {
        let good_enroll = enroll().to_uri();
        let good_tx = tx().to_uri();
        type Check = fn(&QrError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            ("otpauth://totp/x?secret=AAAA".into(), |e| *e == QrError::NotNyckel),
            ("nyckel:".into(), |e| *e == QrError::NotNyckel),
            ("".into(), |e| *e == QrError::NotNyckel),
            ("nyckel://enroll".into(), |e| matches!(e, QrError::Malformed(_))),
            ("nyckel://pay?v=2".into(), |e| matches!(e, QrError::UnknownType(_))),
            (format!("{good_enroll}#frag"), |e| matches!(e, QrError::Malformed(_))),
            (good_enroll.replace("v=2", "v=1"), |e| matches!(e, QrError::UnsupportedVersion(_))),
            (good_enroll.replace("v=2&", ""), |e| *e == QrError::Missing("v")),
            (format!("{good_enroll}&v=2"), |e| matches!(e, QrError::Duplicate(_))),
            (format!("{good_enroll}&x=1"), |e| matches!(e, QrError::Unknown(_))),
            (format!("{good_enroll}&&"), |e| matches!(e, QrError::Malformed(_))),
            (format!("{good_enroll}&=1"), |e| matches!(e, QrError::Malformed(_))),
            (good_enroll.replace("&i=enr-1", ""), |e| *e == QrError::Missing("i")),
            (good_enroll.replace("i=enr-1", "i=enr%2F1"), |e| matches!(e, QrError::Invalid { param: "i", .. })),
            (good_enroll.replace("https%3A", "http%3A"), |e| matches!(e, QrError::Invalid { param: "u", .. })),
            (good_enroll.replace("https%3A%2F%2F", "https%3A%2F%2Fuser%40"), |e| {
                matches!(e, QrError::Invalid { param: "u", .. })
            }),
            (good_enroll.replace("%2Fnyckel", "%2Fnyckel%3Fx%3D1"), |e| {
                matches!(e, QrError::Invalid { param: "u", .. })
            }),
            (good_enroll.replace("u=https%3A%2F%2F", "u=%3A%2F%2F"), |e| {
                matches!(e, QrError::Invalid { param: "u", .. })
            }),
            (good_enroll.replace("&t=CQkJ", "&t=CQk"), |e| matches!(e, QrError::Invalid { param: "t", .. })),
            (good_enroll.replace("&k=AwMD", "&k=AwM"), |e| matches!(e, QrError::Invalid { param: "k", .. })),
            (good_enroll.replace("l=alice", "l=%FFalice"), |e| matches!(e, QrError::Encoding(_))),
            (good_enroll.replace("l=alice", "l=%0Aalice"), |e| matches!(e, QrError::Display(_))),
            (good_tx.replace("nyckel://tx", "nyckel://login"), |e| matches!(e, QrError::Unknown(_))),
            (good_tx.replacen("&l=", "&q=", 1), |e| matches!(e, QrError::Unknown(_))),
            (good_tx.split("&l=").next().unwrap_or_default().to_string(), |e| *e == QrError::Missing("l")),
            (good_tx.replacen("account:BIC", "account%3ABIC", 1), |e| matches!(e, QrError::Invalid { param: "l", .. })),
            (good_tx.replace("&s=Trade%20portal", "&s="), |e| matches!(e, QrError::Display(_))),
            (good_tx.replace("&s=Trade%20portal", ""), |e| *e == QrError::Missing("s")),
            (good_tx.replace("&n=AQEB", "&n=AQE"), |e| matches!(e, QrError::Invalid { param: "n", .. })),
            (good_tx.replace("&r=", "&r=x"), |e| matches!(e, QrError::Invalid { param: "r", .. })),
            (good_tx.replace("&a=Change", "&a=%E2%80%AEChange"), |e| matches!(e, QrError::Display(_))),
            (format!("{good_tx}{}", "&l=k:v".repeat(15)), |e| {
                matches!(e, QrError::Display(DisplayError::TooManyLines(17)))
            }),
            (format!("nyckel://tx?v=2&s={}", "a".repeat(MAX_QR_PAYLOAD)), |e| matches!(e, QrError::TooLong(_))),
            ("nyckel://\u{e9}?v=2".into(), |e| matches!(e, QrError::UnknownType(_))),
            ("nyckel://enroll?v=%".into(), |e| matches!(e, QrError::UnsupportedVersion(_))),
        ];
        for (uri, expected) in cases {
            let result = QrPayload::parse(&uri);
            assert!(matches!(&result, Err(e) if expected(e)), "{uri} -> {result:?}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the fuzz target covers this properly.
        let seed = tx().to_uri();
        let bytes = seed.as_bytes();
        for cut in 0..bytes.len() {
            let _ = QrPayload::parse(&String::from_utf8_lossy(&bytes[..cut]));
            let mut flipped = bytes.to_vec();
            flipped[cut] = flipped[cut].wrapping_add(37);
            let _ = QrPayload::parse(&String::from_utf8_lossy(&flipped));
        }
    }
}
