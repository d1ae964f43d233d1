//! The canonical byte encoding of everything that is signed, MACed or hashed.
//!
//! A message is a sequence of fields; each field is a 4-byte big-endian length
//! followed by that many bytes. The first field is always a domain-separation tag
//! (`nyckel/v2/...`), so bytes signed for one purpose can never be replayed as
//! another. Typed values map to field bytes as follows: a string is its UTF-8; an
//! integer is 8 bytes big-endian; a byte is 1 byte; an optional value is a 1-byte
//! field (0 absent, 1 present) followed by the value's field(s) when present; a list
//! is a count (as an integer field) followed by its items. With a fixed schema per
//! tag, this encoding is injective: two different messages never share bytes.

/// Domain-separation tags: the first field of every canonical message.
pub mod tags {
    /// What the phone displays for a challenge; hashed into [`crate::DisplayHash`].
    pub const DISPLAY: &str = "nyckel/v2/display";
    /// A push challenge, signed by the server.
    pub const CHALLENGE: &str = "nyckel/v2/challenge";
    /// A device's answer to a push challenge: signed by the device, MACed under the PIN secret.
    pub const ANSWER: &str = "nyckel/v2/answer";
    /// A device-signed HTTP request.
    pub const REQUEST: &str = "nyckel/v2/request";
    /// The device's proof of key possession when it completes enrollment.
    pub const ENROLL: &str = "nyckel/v2/enroll";
    /// The server's receipt for a completed enrollment.
    pub const ENROLLED: &str = "nyckel/v2/enrolled";
    /// The OCRA question of a QR one-time password.
    pub const OCRA_QUESTION: &str = "nyckel/v2/ocra-question";
    /// An online PIN check (before the phone re-blinds the secret under a new PIN).
    pub const PIN_CHECK: &str = "nyckel/v2/pin-check";
    /// Derivation label of the MAC key for answers and PIN checks.
    pub const MAC_KEY: &str = "nyckel/v2/mac-key";
    /// The transcript of an enrollment's key agreement (hashed into the HKDF salt of `S`).
    pub const ENROLL_TRANSCRIPT: &str = "nyckel/v2/enroll-transcript";
    /// HKDF info of the PIN secret `S` derived from an X25519 shared secret.
    pub const PIN_SECRET: &str = "nyckel/v2/pin-secret";
    /// A rekey request (PIN change), MACed under the old `S`.
    pub const REKEY: &str = "nyckel/v2/rekey";
    /// The server's signed answer to a rekey request.
    pub const REKEYED: &str = "nyckel/v2/rekeyed";
    /// The transcript of a rekey's key agreement (hashed into the HKDF salt of the new `S`).
    pub const REKEY_TRANSCRIPT: &str = "nyckel/v2/rekey-transcript";
    /// A server key rotation, signed by the old key.
    pub const KEY_ROTATION: &str = "nyckel/v2/key-rotation";
    /// The two check digits of a QR one-time password (independent of `S`).
    pub const OTP_CHECK: &str = "nyckel/v2/otp-check";
    /// The short fingerprint of a device key.
    pub const DEVICE_FINGERPRINT: &str = "nyckel/v2/device-fingerprint";
    /// The server's signed receipt for an answer it took.
    pub const ANSWER_RECEIPT: &str = "nyckel/v2/answer-receipt";
    /// One entry of the phone's hash-chained history (never leaves the phone).
    pub const HISTORY_ENTRY: &str = "nyckel/v2/history-entry";
    /// A push challenge asking an existing device to approve a new device's registration,
    /// signed by the server (never to be taken for a sign-in challenge, nor the reverse).
    pub const NEW_DEVICE_CHALLENGE: &str = "nyckel/v2/new-device-challenge";
    /// A device retiring another device of the same user, MACed under the PIN secret.
    pub const RETIRE: &str = "nyckel/v2/retire";
}

/// Builds a canonical message field by field.
#[derive(Debug, Clone)]
pub struct Canonical {
    buf: Vec<u8>,
}

impl Canonical {
    /// Starts a message with its domain-separation tag as the first field.
    pub fn new(tag: &str) -> Self {
        let mut message = Self { buf: Vec::with_capacity(256) };
        message.bytes(tag.as_bytes());
        message
    }

    /// Appends one field of raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        // Every input is bounded far below 4 GiB by the validating types and the HTTP
        // server's limits; saturating keeps this infallible without a panic path.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Appends a string field (its UTF-8 bytes).
    pub fn str(&mut self, text: &str) -> &mut Self {
        self.bytes(text.as_bytes())
    }

    /// Appends an integer field (8 bytes big-endian).
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes(&value.to_be_bytes())
    }

    /// Appends a one-byte field.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes(&[value])
    }

    /// Appends an optional string: a presence byte, then the string when present.
    pub fn opt_str(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.u8(1).str(text),
            None => self.u8(0),
        }
    }

    /// Appends an optional integer: a presence byte, then the integer when present.
    pub fn opt_u64(&mut self, value: Option<u64>) -> &mut Self {
        match value {
            Some(value) => self.u8(1).u64(value),
            None => self.u8(0),
        }
    }

    /// Appends a list count; the caller then appends the items.
    pub fn count(&mut self, count: usize) -> &mut Self {
        self.u64(count as u64)
    }

    /// The finished message.
    pub fn finish(&self) -> Vec<u8> {
        self.buf.clone()
    }

    /// The finished message, without copying.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_layout() {
        let mut m = Canonical::new("t");
        m.str("ab").u64(258).u8(7).opt_str(None).opt_str(Some("")).count(0);
        let expected: Vec<u8> = [
            &[0, 0, 0, 1, b't'][..],
            &[0, 0, 0, 2, b'a', b'b'],
            &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2],
            &[0, 0, 0, 1, 7],
            &[0, 0, 0, 1, 0],
            &[0, 0, 0, 1, 1, 0, 0, 0, 0],
            &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(m.into_bytes(), expected);
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let a = Canonical::new("t").str("ab").str("c").finish();
        let b = Canonical::new("t").str("a").str("bc").finish();
        assert_ne!(a, b);
    }

    #[test]
    fn absent_and_empty_differ() {
        let absent = Canonical::new("t").opt_str(None).finish();
        let empty = Canonical::new("t").opt_str(Some("")).finish();
        assert_ne!(absent, empty);
    }

    #[test]
    fn tags_separate_domains() {
        assert_ne!(Canonical::new(tags::ANSWER).str("x").finish(), Canonical::new(tags::CHALLENGE).str("x").finish());
    }
}
