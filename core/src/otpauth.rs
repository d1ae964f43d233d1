//! `otpauth://` Key URIs (Google's Key URI format, as Microsoft/Google Authenticator read them).

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::account::Account;
use crate::otp::{Algorithm, OtpParams, ParamsError, DEFAULT_PERIOD, MIN_DIGITS};
use crate::secret::{Base32Error, SecretBytes};

/// Why a text is not a usable `otpauth://` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The bytes are not UTF-8, or percent-decoding produced non-UTF-8 bytes.
    #[error("the URI is not valid UTF-8 text")]
    NotUtf8,
    /// The scheme is not `otpauth://`.
    #[error("not an otpauth:// URI")]
    NotOtpauth,
    /// The type is not `totp`, `hotp` or `steam`.
    #[error("unknown OTP type {0:?} (expected totp or hotp)")]
    UnknownType(String),
    /// The label (the account name) is missing.
    #[error("the URI has no account label")]
    MissingLabel,
    /// There is no `secret` parameter.
    #[error("the URI has no secret")]
    MissingSecret,
    /// The secret is not base32.
    #[error("the secret is not valid base32: {0}")]
    BadSecret(#[from] Base32Error),
    /// `algorithm` names a hash the app does not support.
    #[error("unknown algorithm {0:?} (expected SHA1, SHA256 or SHA512)")]
    UnknownAlgorithm(String),
    /// `digits` is not a number.
    #[error("digits {0:?} is not a number")]
    BadDigits(String),
    /// `period` is not a positive number.
    #[error("period {0:?} is not a whole number of seconds")]
    BadPeriod(String),
    /// `counter` is missing for HOTP, or not a number that fits in 64 bits.
    #[error("counter {0:?} is not a number from 0 to 18446744073709551615")]
    BadCounter(String),
    /// An HOTP URI without `counter`.
    #[error("an hotp URI needs a counter")]
    MissingCounter,
    /// The same parameter twice, which makes the meaning ambiguous.
    #[error("parameter {0:?} appears more than once")]
    DuplicateParameter(String),
    /// The values parse but describe no valid OTP.
    #[error(transparent)]
    Params(#[from] ParamsError),
}

/// Parses an `otpauth://` URI given as raw bytes (e.g. straight from a QR code).
pub fn parse_otpauth_bytes(bytes: &[u8]) -> Result<Account, UriError> {
    parse_otpauth(std::str::from_utf8(bytes).map_err(|_| UriError::NotUtf8)?)
}

/// Parses an `otpauth://TYPE/LABEL?PARAMETERS` URI into an account.
///
/// The label may be `Issuer:account` (spaces after the colon are dropped); an `issuer`
/// parameter takes precedence over the label's prefix. Defaults: SHA1, 6 digits, 30 s.
pub fn parse_otpauth(uri: &str) -> Result<Account, UriError> {
    let uri = uri.trim();
    let rest = strip_prefix_ignore_case(uri, "otpauth://").ok_or(UriError::NotOtpauth)?;
    let (kind_and_label, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (kind, raw_label) = kind_and_label.split_once('/').unwrap_or((kind_and_label, ""));
    let kind = kind.to_ascii_lowercase();

    let label = decode(raw_label, false)?;
    let (label_issuer, name) = match label.split_once(':') {
        Some((issuer, name)) => (Some(issuer.trim().to_string()), name.trim_start().to_string()),
        None => (None, label.clone()),
    };
    if name.is_empty() {
        return Err(UriError::MissingLabel);
    }

    let mut query_params = QueryParams::default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        query_params.set(&decode(key, true)?.to_ascii_lowercase(), decode(value, true)?)?;
    }

    let secret_text = query_params.secret.ok_or(UriError::MissingSecret)?;
    let secret = SecretBytes::from_base32(&secret_text)?;
    let algorithm = match query_params.algorithm.as_deref() {
        None => Algorithm::Sha1,
        Some(text) => parse_algorithm(text)?,
    };
    let digits = match query_params.digits.as_deref() {
        None => None,
        Some(text) => Some(text.trim().parse::<u8>().map_err(|_| UriError::BadDigits(text.to_string()))?),
    };
    let is_steam = kind == "steam" || query_params.encoder.as_deref().is_some_and(|e| e.eq_ignore_ascii_case("steam"));
    let params = match kind.as_str() {
        _ if is_steam => {
            if kind == "hotp" {
                return Err(UriError::UnknownType("hotp with steam encoder".into()));
            }
            OtpParams::steam()
        }
        "totp" => {
            let period = match query_params.period.as_deref() {
                None => DEFAULT_PERIOD,
                Some(text) => text.trim().parse::<u64>().map_err(|_| UriError::BadPeriod(text.to_string()))?,
            };
            OtpParams::totp(algorithm, digits.unwrap_or(MIN_DIGITS), period)?
        }
        "hotp" => {
            let text = query_params.counter.ok_or(UriError::MissingCounter)?;
            let counter = text.trim().parse::<u64>().map_err(|_| UriError::BadCounter(text.clone()))?;
            OtpParams::hotp(algorithm, digits.unwrap_or(MIN_DIGITS), counter)?
        }
        other => return Err(UriError::UnknownType(other.to_string())),
    };

    let issuer = query_params.issuer.filter(|issuer| !issuer.trim().is_empty()).or(label_issuer).unwrap_or_default();
    Ok(Account { issuer: issuer.trim().to_string(), name, secret, params })
}

/// Writes the URI that [`parse_otpauth`] reads back to the same account.
pub fn to_otpauth(account: &Account) -> String {
    use crate::otp::OtpKind;
    let kind = match account.params.kind {
        OtpKind::Totp { .. } => "totp",
        OtpKind::Hotp { .. } => "hotp",
        OtpKind::Steam => "steam",
    };
    let mut uri = format!("otpauth://{kind}/");
    if !account.issuer.is_empty() {
        uri.push_str(&encode(&account.issuer));
        uri.push(':');
    }
    uri.push_str(&encode(&account.name));
    uri.push_str("?secret=");
    uri.push_str(&account.secret.to_base32());
    if !account.issuer.is_empty() {
        uri.push_str("&issuer=");
        uri.push_str(&encode(&account.issuer));
    }
    match account.params.kind {
        OtpKind::Steam => {}
        OtpKind::Totp { period } => {
            push_common(&mut uri, account);
            uri.push_str(&format!("&period={period}"));
        }
        OtpKind::Hotp { counter } => {
            push_common(&mut uri, account);
            uri.push_str(&format!("&counter={counter}"));
        }
    }
    uri
}

fn push_common(uri: &mut String, account: &Account) {
    uri.push_str("&algorithm=");
    uri.push_str(account.params.algorithm.as_uri_name());
    uri.push_str(&format!("&digits={}", account.params.digits));
}

fn parse_algorithm(text: &str) -> Result<Algorithm, UriError> {
    match text.trim().to_ascii_uppercase().replace('-', "").as_str() {
        "SHA1" => Ok(Algorithm::Sha1),
        "SHA256" => Ok(Algorithm::Sha256),
        "SHA512" => Ok(Algorithm::Sha512),
        _ => Err(UriError::UnknownAlgorithm(text.to_string())),
    }
}

#[derive(Default)]
struct QueryParams {
    secret: Option<String>,
    issuer: Option<String>,
    algorithm: Option<String>,
    digits: Option<String>,
    period: Option<String>,
    counter: Option<String>,
    encoder: Option<String>,
}

impl QueryParams {
    fn set(&mut self, key: &str, value: String) -> Result<(), UriError> {
        let slot = match key {
            "secret" => &mut self.secret,
            "issuer" => &mut self.issuer,
            "algorithm" => &mut self.algorithm,
            "digits" => &mut self.digits,
            "period" => &mut self.period,
            "counter" => &mut self.counter,
            "encoder" => &mut self.encoder,
            // Unknown parameters (image, color, lock…) are extensions of other apps.
            _ => return Ok(()),
        };
        if slot.is_some() {
            return Err(UriError::DuplicateParameter(key.to_string()));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// Percent-decodes; in query values `+` is a space, as form encoders write it.
fn decode(text: &str, plus_is_space: bool) -> Result<String, UriError> {
    let replaced;
    let text = if plus_is_space && text.contains('+') {
        replaced = text.replace('+', " ");
        replaced.as_str()
    } else {
        text
    };
    percent_decode(text.as_bytes()).decode_utf8().map(|text| text.into_owned()).map_err(|_| UriError::NotUtf8)
}

const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'@');

fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::OtpKind;

    #[test]
    fn parses_the_common_form() {
        let account =
            parse_otpauth("otpauth://totp/ACME:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME").unwrap();
        assert_eq!(account.issuer, "ACME");
        assert_eq!(account.name, "alice@example.com");
        assert_eq!(account.secret.expose(), b"Hello!\xde\xad\xbe\xef");
        assert_eq!(account.params, OtpParams::totp(Algorithm::Sha1, 6, 30).unwrap());
    }

    #[test]
    fn issuer_parameter_wins_over_label_prefix() {
        let account =
            parse_otpauth("otpauth://totp/Old%20Name:%20bob?secret=jbswy3dpehpk3pxp&issuer=New+Name").unwrap();
        assert_eq!(account.issuer, "New Name");
        assert_eq!(account.name, "bob");
        let account = parse_otpauth("otpauth://totp/Label%20Only:bob?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(account.issuer, "Label Only");
        let account = parse_otpauth("otpauth://totp/bob?secret=JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(account.issuer, "");
    }

    #[test]
    fn reads_every_parameter_and_padding() {
        let account = parse_otpauth(
            "OTPAUTH://TOTP/x:y?SECRET=MZXW6YQ%3D&algorithm=sha512&digits=8&period=60&image=http%3A%2F%2Fa",
        )
        .unwrap();
        assert_eq!(account.secret.expose(), b"foob");
        assert_eq!(account.params, OtpParams::totp(Algorithm::Sha512, 8, 60).unwrap());
        let account = parse_otpauth(
            "otpauth://hotp/x:y?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551615&algorithm=SHA256&digits=7",
        )
        .unwrap();
        assert_eq!(account.params.kind, OtpKind::Hotp { counter: u64::MAX });
        assert_eq!(
            parse_otpauth("otpauth://steam/Steam:gabe?secret=JBSWY3DPEHPK3PXP").unwrap().params,
            OtpParams::steam()
        );
        assert_eq!(
            parse_otpauth("otpauth://totp/Steam:gabe?secret=JBSWY3DPEHPK3PXP&encoder=steam").unwrap().params,
            OtpParams::steam()
        );
    }

    #[test]
    fn round_trips_through_the_writer() {
        for uri in [
            "otpauth://totp/ACME%20Corp:alice%2Bx@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Corp&algorithm=SHA256&digits=8&period=45",
            "otpauth://hotp/bob?secret=MZXW6YQ&algorithm=SHA1&digits=6&counter=42",
            "otpauth://steam/Steam:gabe?secret=JBSWY3DPEHPK3PXP&issuer=Steam",
            "otpauth://totp/%C3%85sa:%E6%97%A5%E6%9C%AC?secret=JBSWY3DPEHPK3PXP&issuer=%C3%85sa&algorithm=SHA1&digits=6&period=30",
        ] {
            let account = parse_otpauth(uri).unwrap();
            let written = to_otpauth(&account);
            assert_eq!(written, uri);
            assert_eq!(parse_otpauth(&written).unwrap(), account);
        }
    }

    #[test]
    fn malformed_uris_get_typed_errors() {
        let base = "otpauth://totp/A:b?secret=JBSWY3DPEHPK3PXP";
        let cases: Vec<(String, UriError)> = vec![
            ("https://example.com".into(), UriError::NotOtpauth),
            ("otpauth://totp/A:b?issuer=A".into(), UriError::MissingSecret),
            ("otpauth://totp/A:b?secret=".into(), UriError::BadSecret(Base32Error::Empty)),
            (
                "otpauth://totp/A:b?secret=JBSW1Y3DP".into(),
                UriError::BadSecret(Base32Error::InvalidCharacter { character: '1', position: 4 }),
            ),
            (format!("{base}&digits=12"), UriError::Params(ParamsError::Digits(12))),
            (format!("{base}&digits=x"), UriError::BadDigits("x".into())),
            (format!("{base}&digits=300"), UriError::BadDigits("300".into())),
            (format!("{base}&algorithm=MD5"), UriError::UnknownAlgorithm("MD5".into())),
            (format!("{base}&period=0"), UriError::Params(ParamsError::ZeroPeriod)),
            (format!("{base}&period=-5"), UriError::BadPeriod("-5".into())),
            ("otpauth://hotp/A:b?secret=JBSWY3DPEHPK3PXP".into(), UriError::MissingCounter),
            (
                "otpauth://hotp/A:b?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551616".into(),
                UriError::BadCounter("18446744073709551616".into()),
            ),
            ("otpauth://motp/A:b?secret=JBSWY3DPEHPK3PXP".into(), UriError::UnknownType("motp".into())),
            ("otpauth://totp/?secret=JBSWY3DPEHPK3PXP".into(), UriError::MissingLabel),
            ("otpauth://totp/A:?secret=JBSWY3DPEHPK3PXP".into(), UriError::MissingLabel),
            ("otpauth://totp/A%FF:b?secret=JBSWY3DPEHPK3PXP".into(), UriError::NotUtf8),
            (format!("{base}&secret=JBSWY3DPEHPK3PXP"), UriError::DuplicateParameter("secret".into())),
        ];
        for (uri, expected) in cases {
            assert_eq!(parse_otpauth(&uri), Err(expected), "{uri}");
        }
        assert_eq!(parse_otpauth_bytes(b"otpauth://totp/A:\xff?secret=JBSWY3DPEHPK3PXP"), Err(UriError::NotUtf8));
    }
}
