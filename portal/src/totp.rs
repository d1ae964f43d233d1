//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s) for authenticator apps other than Nyckel: the
//! secret, its `otpauth://` URI, and checking a typed code.

use data_encoding::BASE32_NOPAD;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use ring::hmac;
use subtle::ConstantTimeEq;

/// Seconds per code.
pub const STEP: u64 = 30;
/// Steps either side of now that are accepted (a phone clock a little off).
const SKEW: u64 = 1;
const URI_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A new random secret (20 bytes, as RFC 4226 recommends), base32 without padding.
pub fn new_secret() -> String {
    let bytes: [u8; 20] = rand::random();
    BASE32_NOPAD.encode(&bytes)
}

/// The `otpauth://totp/…` URI an authenticator app scans.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &str) -> String {
    let issuer_enc = utf8_percent_encode(issuer, URI_SET);
    let account_enc = utf8_percent_encode(account, URI_SET);
    format!("otpauth://totp/{issuer_enc}:{account_enc}?secret={secret}&issuer={issuer_enc}&algorithm=SHA1&digits=6&period=30")
}

/// The 6-digit code of `secret` at time step `step`.
pub fn code_at_step(secret: &str, step: u64) -> Option<String> {
    let key = BASE32_NOPAD.decode(secret.as_bytes()).ok()?;
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key), &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    Some(format!("{:06}", binary % 1_000_000))
}

/// The time step whose code equals `typed` (spaces ignored), within ±1 step of `now`.
pub fn matching_step(secret: &str, typed: &str, now: u64) -> Option<u64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / STEP;
    let mut found = None;
    // Every candidate is compared, in constant time, so the timing tells nothing of which matched.
    for step in current.saturating_sub(SKEW)..=current + SKEW {
        if let Some(code) = code_at_step(secret, step) {
            if bool::from(code.as_bytes().ct_eq(typed.as_bytes())) {
                found = Some(step);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 → the last six digits.
        let secret = BASE32_NOPAD.encode(b"12345678901234567890");
        assert_eq!(code_at_step(&secret, 59 / STEP).as_deref(), Some("287082"));
        assert_eq!(matching_step(&secret, "287 082", 59), Some(1));
        assert_eq!(matching_step(&secret, "287083", 59), None);
        assert_eq!(matching_step(&secret, "287082", 59 + 5 * STEP), None);
    }
}
