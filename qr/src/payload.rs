//! Tells what a QR payload is for, by its URI scheme, so the app can route it.

/// What a scanned QR code carries.
///
/// Open for new kinds: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadKind {
    /// An `otpauth://totp|hotp/…` key URI (Google Authenticator format).
    Otpauth,
    /// A Google Authenticator export, `otpauth-migration://offline?data=…`.
    OtpauthMigration,
    /// Nyckel device registration, `nyckel://enroll…`.
    ///
    /// Provisional: the protocol issue defines the payload; only the scheme prefix is fixed here.
    NyckelEnroll,
    /// Nyckel login challenge for the offline QR one-time password, `nyckel://login…` (provisional).
    NyckelLogin,
    /// Nyckel transaction to confirm, `nyckel://tx…` (provisional).
    NyckelTransaction,
    /// privacyIDEA push-token enrollment, `otpauth://pipush/…` or `pia://…`.
    PrivacyIdeaPush,
    /// tiqr enrollment, `tiqrenroll://…`.
    TiqrEnroll,
    /// tiqr authentication, `tiqrauth://…`.
    TiqrAuth,
    /// Anything else, including text that is not a URI.
    Unknown,
}

/// Classifies a payload by its scheme prefix (case-insensitive, as URI schemes are).
pub fn classify(payload: &[u8]) -> PayloadKind {
    // Order matters: `otpauth://pipush` is more specific than `otpauth://`.
    const RULES: &[(&[u8], PayloadKind)] = &[
        (b"otpauth://pipush", PayloadKind::PrivacyIdeaPush),
        (b"pia://", PayloadKind::PrivacyIdeaPush),
        (b"otpauth-migration://", PayloadKind::OtpauthMigration),
        (b"otpauth://", PayloadKind::Otpauth),
        (b"nyckel://enroll", PayloadKind::NyckelEnroll),
        (b"nyckel://login", PayloadKind::NyckelLogin),
        (b"nyckel://tx", PayloadKind::NyckelTransaction),
        (b"tiqrenroll://", PayloadKind::TiqrEnroll),
        (b"tiqrauth://", PayloadKind::TiqrAuth),
    ];
    let payload = trim_ascii_start(payload);
    for &(prefix, kind) in RULES {
        let Some(head) = payload.get(..prefix.len()) else { continue };
        if !head.eq_ignore_ascii_case(prefix) {
            continue;
        }
        // A path-like prefix must end at a URI delimiter: `nyckel://txt` is not a transaction.
        let boundary_needed = !prefix.ends_with(b"//");
        let next = payload.get(prefix.len()).copied();
        if boundary_needed && !matches!(next, None | Some(b'/' | b'?' | b'#')) {
            continue;
        }
        return kind;
    }
    PayloadKind::Unknown
}

fn trim_ascii_start(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_scheme() {
        let cases: &[(&str, PayloadKind)] = &[
            ("otpauth://totp/A:b?secret=JBSWY3DPEHPK3PXP", PayloadKind::Otpauth),
            ("OTPAUTH://hotp/x?secret=AA", PayloadKind::Otpauth),
            ("otpauth-migration://offline?data=CjEK", PayloadKind::OtpauthMigration),
            ("otpauth://pipush/PIPU0001?url=https://pi", PayloadKind::PrivacyIdeaPush),
            ("pia://enroll?x=1", PayloadKind::PrivacyIdeaPush),
            ("nyckel://enroll?d=abc", PayloadKind::NyckelEnroll),
            ("nyckel://login/abc", PayloadKind::NyckelLogin),
            ("nyckel://tx", PayloadKind::NyckelTransaction),
            ("nyckel://txt", PayloadKind::Unknown),
            ("tiqrenroll://https://x/", PayloadKind::TiqrEnroll),
            ("tiqrauth://x/y", PayloadKind::TiqrAuth),
            ("https://example.org", PayloadKind::Unknown),
            ("", PayloadKind::Unknown),
        ];
        for (payload, kind) in cases {
            assert_eq!(classify(payload.as_bytes()), *kind, "{payload}");
        }
    }
}
