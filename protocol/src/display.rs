//! What the phone shows for a challenge, its validation, and the hash that binds it.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::b64;
use crate::canonical::{tags, Canonical};
use crate::digest::sha256;

/// Most transaction lines in one challenge.
pub const MAX_TRANSACTION_LINES: usize = 16;

/// Why display content was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayError {
    /// A field is empty where text is required, or too long.
    #[error("{field} must have {min} to {max} characters, got {len}")]
    Length {
        /// Which field.
        field: &'static str,
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
        /// Characters it had.
        len: usize,
    },
    /// A control, line-separator or bidirectional-override character, which could make
    /// the phone show something other than what is signed.
    #[error("{field} contains the forbidden character U+{code:04X}")]
    ForbiddenCharacter {
        /// Which field.
        field: &'static str,
        /// The character's code point.
        code: u32,
    },
    /// More than [`MAX_TRANSACTION_LINES`] lines.
    #[error("at most {MAX_TRANSACTION_LINES} transaction lines, got {0}")]
    TooManyLines(usize),
    /// Number-match choices that are not 2–6 distinct numbers of the stated length.
    #[error("bad number-match prompt: {0}")]
    BadNumberMatch(&'static str),
    /// A new-device challenge whose display is not the fixed form
    /// ([`crate::challenge::NewDeviceDetails::display`]).
    #[error("a new-device challenge must show exactly the device name, platform and fingerprint")]
    NewDeviceForm,
}

/// Checks one displayed text field.
pub fn check_text(field: &'static str, text: &str, min: usize, max: usize) -> Result<(), DisplayError> {
    let len = text.chars().count();
    if len < min || len > max {
        return Err(DisplayError::Length { field, min, max, len });
    }
    match text.chars().find(|&c| is_forbidden(c)) {
        Some(c) => Err(DisplayError::ForbiddenCharacter { field, code: u32::from(c) }),
        None => Ok(()),
    }
}

fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        // Invisible characters that can split or disguise a displayed word: zero-width
        // space, non-joiner and joiner, word joiner, soft hyphen, and the tag characters.
        || ('\u{200B}'..='\u{200D}').contains(&c)
        || matches!(c, '\u{2060}' | '\u{00AD}')
        || ('\u{E0000}'..='\u{E007F}').contains(&c)
}

/// Where a request comes from, as the relying party describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DisplayContext {
    /// The service, e.g. "Trade portal" (1–64 characters).
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 64)))]
    pub service: String,
    /// The action, e.g. "Sign in" (1–64 characters).
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 64)))]
    pub action: String,
    /// The browser, e.g. "Firefox on Windows" (≤128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 128)))]
    pub browser: Option<String>,
    /// The client IP address as text (≤64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 64)))]
    pub ip: Option<String>,
    /// Approximate place, e.g. "Stockholm, SE" (≤128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 128)))]
    pub place: Option<String>,
    /// When the request was made, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

impl DisplayContext {
    /// A context with only a service and an action.
    pub fn new(service: impl Into<String>, action: impl Into<String>) -> Self {
        Self { service: service.into(), action: action.into(), browser: None, ip: None, place: None, time: None }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), DisplayError> {
        check_text("service", &self.service, 1, 64)?;
        check_text("action", &self.action, 1, 64)?;
        if let Some(browser) = &self.browser {
            check_text("browser", browser, 1, 128)?;
        }
        if let Some(ip) = &self.ip {
            check_text("ip", ip, 1, 64)?;
        }
        if let Some(place) = &self.place {
            check_text("place", place, 1, 128)?;
        }
        Ok(())
    }
}

/// One transaction detail, shown verbatim as "key: value" in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TransactionLine {
    /// The label, e.g. "New foreign account" (1–64 characters).
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 64)))]
    pub key: String,
    /// The value, e.g. "BIC REVOLT21, IBAN …" (0–256 characters).
    #[cfg_attr(feature = "schema", schemars(length(max = 256)))]
    pub value: String,
}

impl TransactionLine {
    /// A line from its two parts.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self { key: key.into(), value: value.into() }
    }

    /// Checks both parts.
    pub fn validate(&self) -> Result<(), DisplayError> {
        check_text("transaction key", &self.key, 1, 64)?;
        check_text("transaction value", &self.value, 0, 256)
    }
}

/// Checks a list of transaction lines.
pub fn validate_lines(lines: &[TransactionLine]) -> Result<(), DisplayError> {
    if lines.len() > MAX_TRANSACTION_LINES {
        return Err(DisplayError::TooManyLines(lines.len()));
    }
    lines.iter().try_for_each(TransactionLine::validate)
}

/// How number matching is asked of the relying party's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum NumberMatchMode {
    /// The phone offers three numbers; the user picks the one the browser shows.
    Choose,
    /// The user types the number the browser shows (the default when the field is absent).
    Type,
    /// No number matching; only when the relying party asks for it explicitly.
    None,
}

/// What the phone shows for number matching (the right number itself is never sent to the phone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum NumberPrompt {
    /// Pick one of these (2–6 distinct numbers of equal length, 1–4 digits).
    Choose {
        /// The candidates, in display order.
        choices: Vec<String>,
    },
    /// Type a number of this many digits (1–4).
    Type {
        /// Digits expected.
        digits: u8,
    },
}

impl NumberPrompt {
    /// Checks the prompt's shape.
    pub fn validate(&self) -> Result<(), DisplayError> {
        match self {
            NumberPrompt::Choose { choices } => {
                if !(2..=6).contains(&choices.len()) {
                    return Err(DisplayError::BadNumberMatch("2 to 6 choices"));
                }
                let len = choices[0].len();
                if !(1..=4).contains(&len) || choices.iter().any(|c| c.len() != len || !is_digits(c)) {
                    return Err(DisplayError::BadNumberMatch("choices are numbers of 1 to 4 digits, all equally long"));
                }
                let mut sorted: Vec<&String> = choices.iter().collect();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != choices.len() {
                    return Err(DisplayError::BadNumberMatch("choices must be distinct"));
                }
                Ok(())
            }
            NumberPrompt::Type { digits } if (1..=4).contains(digits) => Ok(()),
            NumberPrompt::Type { .. } => Err(DisplayError::BadNumberMatch("1 to 4 digits")),
        }
    }

    /// Whether `answer` has the form this prompt asks for (a listed choice, or the right
    /// number of digits). Says nothing about whether it is the right number.
    pub fn accepts_form(&self, answer: &str) -> bool {
        match self {
            NumberPrompt::Choose { choices } => choices.iter().any(|c| c == answer),
            NumberPrompt::Type { digits } => answer.len() == usize::from(*digits) && is_digits(answer),
        }
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The server's side of number matching: the number the browser shows, and the prompt for the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberMatch {
    /// The two-digit number shown in the browser, "00"–"99".
    pub number: String,
    /// What the phone shows.
    pub prompt: NumberPrompt,
}

impl NumberMatch {
    /// Picks a uniformly random two-digit number and, for [`NumberMatchMode::Choose`],
    /// two distinct decoys, shuffled. `Ok(None)` for [`NumberMatchMode::None`].
    pub fn generate(mode: NumberMatchMode) -> Result<Option<Self>, crate::ids::IdError> {
        let rng = SystemRandom::new();
        let number = uniform_below_100(&rng)?;
        let prompt = match mode {
            NumberMatchMode::None => return Ok(None),
            NumberMatchMode::Type => NumberPrompt::Type { digits: 2 },
            NumberMatchMode::Choose => {
                let mut choices = vec![number];
                while choices.len() < 3 {
                    let decoy = uniform_below_100(&rng)?;
                    if !choices.contains(&decoy) {
                        choices.push(decoy);
                    }
                }
                // Fisher–Yates, so the right number's position gives nothing away.
                for i in (1..choices.len()).rev() {
                    let j = usize::from(uniform_below_100(&rng)?) % (i + 1);
                    choices.swap(i, j);
                }
                NumberPrompt::Choose { choices: choices.iter().map(|n| format!("{n:02}")).collect() }
            }
        };
        Ok(Some(Self { number: format!("{number:02}"), prompt }))
    }

    /// Whether the phone's answer is the right number, in constant time.
    pub fn matches(&self, answer: &str) -> bool {
        crate::digest::constant_time_eq(self.number.as_bytes(), answer.as_bytes())
    }
}

fn uniform_below_100(rng: &SystemRandom) -> Result<u8, crate::ids::IdError> {
    loop {
        let mut byte = [0u8; 1];
        rng.fill(&mut byte).map_err(|_| crate::ids::IdError::Random)?;
        // Rejecting 200..=255 keeps the distribution uniform.
        if byte[0] < 200 {
            return Ok(byte[0] % 100);
        }
    }
}

/// Everything the phone displays for a challenge. Its [`DisplayHash`] is what approvals
/// and QR one-time passwords are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeDisplay {
    /// Service, action and where the request comes from.
    pub context: DisplayContext,
    /// Transaction details, in order; empty for a plain login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transaction: Vec<TransactionLine>,
    /// The number-match prompt, when the relying party asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_match: Option<NumberPrompt>,
}

impl ChallengeDisplay {
    /// Checks every displayed field.
    pub fn validate(&self) -> Result<(), DisplayError> {
        self.context.validate()?;
        validate_lines(&self.transaction)?;
        self.number_match.as_ref().map_or(Ok(()), NumberPrompt::validate)
    }

    /// The canonical bytes of the display (tag `nyckel/v2/display`).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let c = &self.context;
        let mut m = Canonical::new(tags::DISPLAY);
        m.str(&c.service)
            .str(&c.action)
            .opt_str(c.browser.as_deref())
            .opt_str(c.ip.as_deref())
            .opt_str(c.place.as_deref())
            .opt_u64(c.time)
            .count(self.transaction.len());
        for line in &self.transaction {
            m.str(&line.key).str(&line.value);
        }
        match &self.number_match {
            None => {
                m.u8(0);
            }
            Some(NumberPrompt::Choose { choices }) => {
                m.u8(1).count(choices.len());
                for choice in choices {
                    m.str(choice);
                }
            }
            Some(NumberPrompt::Type { digits }) => {
                m.u8(2).u8(*digits);
            }
        }
        m.into_bytes()
    }

    /// SHA-256 of the canonical bytes.
    pub fn hash(&self) -> DisplayHash {
        DisplayHash(sha256(&self.canonical_bytes()))
    }
}

/// SHA-256 of a [`ChallengeDisplay`]'s canonical bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DisplayHash(#[serde(with = "b64::array")] pub [u8; 32]);

impl fmt::Debug for DisplayHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DisplayHash({})", b64::encode(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ChallengeDisplay {
        ChallengeDisplay {
            context: DisplayContext {
                service: "Trade portal".into(),
                action: "Change payee".into(),
                browser: Some("Firefox on Linux".into()),
                ip: Some("192.0.2.7".into()),
                place: Some("Göteborg, SE".into()),
                time: Some(1_700_000_000),
            },
            transaction: vec![TransactionLine::new("New foreign account", "BIC REVOLT21, IBAN LT60 3250 0123")],
            number_match: Some(NumberPrompt::Choose { choices: vec!["17".into(), "42".into(), "85".into()] }),
        }
    }

    #[test]
    fn every_displayed_field_changes_the_hash() {
        let base = sample();
        assert_eq!(base.validate(), Ok(()));
        let h = base.hash();
        let mut variants = Vec::new();
        let mut d = base.clone();
        d.context.service.push('x');
        variants.push(d);
        let mut d = base.clone();
        d.context.action = "Sign in".into();
        variants.push(d);
        let mut d = base.clone();
        d.context.browser = None;
        variants.push(d);
        let mut d = base.clone();
        d.context.ip = Some("192.0.2.8".into());
        variants.push(d);
        let mut d = base.clone();
        d.context.place = None;
        variants.push(d);
        let mut d = base.clone();
        d.context.time = Some(1_700_000_001);
        variants.push(d);
        let mut d = base.clone();
        d.transaction[0].value.push('9');
        variants.push(d);
        let mut d = base.clone();
        d.transaction.push(TransactionLine::new("Amount", "1 SEK"));
        variants.push(d);
        let mut d = base.clone();
        d.number_match = Some(NumberPrompt::Choose { choices: vec!["42".into(), "17".into(), "85".into()] });
        variants.push(d);
        let mut d = base.clone();
        d.number_match = None;
        variants.push(d);
        for v in variants {
            assert_ne!(v.hash(), h, "{v:?}");
        }
    }

    #[test]
    fn line_order_and_key_value_split_matter() {
        let a = vec![TransactionLine::new("a", "b"), TransactionLine::new("c", "d")];
        let b = vec![TransactionLine::new("c", "d"), TransactionLine::new("a", "b")];
        let c = vec![TransactionLine::new("ab", ""), TransactionLine::new("c", "d")];
        let hash = |t: Vec<TransactionLine>| {
            ChallengeDisplay { context: DisplayContext::new("s", "a"), transaction: t, number_match: None }.hash()
        };
        assert_ne!(hash(a.clone()), hash(b));
        assert_ne!(hash(a), hash(c));
    }

    #[test]
    fn spoofing_characters_are_rejected() {
        for (text, code) in [("a\nb", 0x0A), ("pay\u{202E}evil", 0x202E), ("x\u{2028}", 0x2028), ("\u{7}", 7)] {
            let mut d = sample();
            d.transaction[0].value = text.into();
            assert_eq!(d.validate(), Err(DisplayError::ForbiddenCharacter { field: "transaction value", code }));
        }
    }

    #[test]
    fn invisible_characters_are_rejected() {
        for code in [0x200B, 0x200C, 0x200D, 0x2060, 0x00AD, 0xE0000, 0xE0041, 0xE007F] {
            let c = char::from_u32(code).unwrap();
            let text = format!("SE45 5000{c}0000 0583");
            assert_eq!(
                check_text("iban", &text, 1, 64),
                Err(DisplayError::ForbiddenCharacter { field: "iban", code }),
                "U+{code:04X}"
            );
        }
        // Neighbours of the refused ranges stay allowed (e.g. the narrow no-break space, U+E0080).
        for code in [0x200A, 0x2061, 0x00AC, 0x00AE, 0xE0080] {
            let text = format!("a{}b", char::from_u32(code).unwrap());
            assert_eq!(check_text("f", &text, 1, 64), Ok(()), "U+{code:04X}");
        }
    }

    #[test]
    fn lengths_and_counts_are_enforced() {
        let mut d = sample();
        d.context.service = String::new();
        assert!(matches!(d.validate(), Err(DisplayError::Length { field: "service", .. })));
        let mut d = sample();
        d.context.action = "é".repeat(65);
        assert!(matches!(d.validate(), Err(DisplayError::Length { field: "action", len: 65, .. })));
        let mut d = sample();
        d.transaction = vec![TransactionLine::new("k", "v"); 17];
        assert_eq!(d.validate(), Err(DisplayError::TooManyLines(17)));
        let mut d = sample();
        d.transaction[0].key = String::new();
        assert!(d.validate().is_err());
    }

    #[test]
    fn malformed_number_prompts_are_rejected() {
        let choose = |c: &[&str]| NumberPrompt::Choose { choices: c.iter().map(|s| s.to_string()).collect() };
        assert!(choose(&["17", "42", "85"]).validate().is_ok());
        assert!(choose(&["17"]).validate().is_err());
        assert!(choose(&["17", "17", "85"]).validate().is_err());
        assert!(choose(&["17", "4", "85"]).validate().is_err());
        assert!(choose(&["1a", "42", "85"]).validate().is_err());
        assert!(choose(&["", ""]).validate().is_err());
        assert!(NumberPrompt::Type { digits: 0 }.validate().is_err());
        assert!(NumberPrompt::Type { digits: 5 }.validate().is_err());
    }

    #[test]
    fn generated_number_match_is_well_formed() {
        for mode in [NumberMatchMode::Choose, NumberMatchMode::Type] {
            for _ in 0..50 {
                let m = NumberMatch::generate(mode).unwrap().unwrap();
                assert_eq!(m.prompt.validate(), Ok(()));
                assert!(m.prompt.accepts_form(&m.number));
                assert!(m.matches(&m.number));
                assert!(!m.matches("1"));
            }
        }
        assert_eq!(NumberMatch::generate(NumberMatchMode::None).unwrap(), None);
    }

    #[test]
    fn json_shape_and_strictness() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["number_match"]["mode"], "choose");
        assert_eq!(json["transaction"][0]["key"], "New foreign account");
        let back: ChallengeDisplay = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
        assert!(
            serde_json::from_str::<ChallengeDisplay>(r#"{"context":{"service":"s","action":"a","evil":1}}"#).is_err()
        );
        assert!(serde_json::from_str::<ChallengeDisplay>(r#"{"context":{"service":"s"}}"#).is_err());
        assert!(serde_json::from_str::<ChallengeDisplay>(
            r#"{"context":{"service":"s","action":"a"},"number_match":{"mode":"guess"}}"#
        )
        .is_err());
    }
}
