//! Google Authenticator export payloads built here from the published field numbers
//! (MigrationPayload: 1 otp_parameters, 2 version, 3 batch_size, 4 batch_index, 5 batch_id;
//! OtpParameters: 1 secret, 2 name, 3 issuer, 4 algorithm, 5 digits, 6 type, 7 counter),
//! independently of the parser under test.

use base64::Engine;
use nyckel_core::migration::MigrationError;
use nyckel_core::{parse_migration, Algorithm, MigrationCollector, OtpKind, OtpParams};

fn varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn field_varint(field: u64, value: u64, out: &mut Vec<u8>) {
    varint(field << 3, out);
    varint(value, out);
}

fn field_bytes(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint((field << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

struct Entry<'a> {
    secret: &'a [u8],
    name: &'a str,
    issuer: &'a str,
    algorithm: u64,
    digits: u64,
    kind: u64,
    counter: u64,
}

fn entry(e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    field_bytes(1, e.secret, &mut out);
    field_bytes(2, e.name.as_bytes(), &mut out);
    field_bytes(3, e.issuer.as_bytes(), &mut out);
    field_varint(4, e.algorithm, &mut out);
    field_varint(5, e.digits, &mut out);
    field_varint(6, e.kind, &mut out);
    field_varint(7, e.counter, &mut out);
    out
}

fn payload(entries: &[Entry], size: u64, index: u64, id: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        field_bytes(1, &entry(e), &mut out);
    }
    field_varint(2, 1, &mut out);
    field_varint(3, size, &mut out);
    field_varint(4, index, &mut out);
    field_varint(5, id, &mut out);
    out
}

fn uri(bytes: &[u8]) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    let encoded: String = data.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    format!("otpauth-migration://offline?data={encoded}")
}

#[test]
fn the_widely_published_example_export() {
    // The sample export quoted in public write-ups of the format: one TOTP for Example.
    let batch = parse_migration(
        "otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZTAC",
    )
    .unwrap();
    assert_eq!(batch.accounts.len(), 1);
    let account = &batch.accounts[0];
    assert_eq!(account.issuer, "Example");
    assert_eq!(account.name, "alice@google.com");
    assert_eq!(account.secret.to_base32().as_str(), "JBSWY3DPEHPK3PXP");
    assert_eq!(account.params, OtpParams::totp(Algorithm::Sha1, 6, 30).unwrap());
}

#[test]
fn every_algorithm_digit_count_and_type() {
    let entries = [
        Entry {
            secret: b"12345678901234567890",
            name: "A:one",
            issuer: "A",
            algorithm: 1,
            digits: 1,
            kind: 2,
            counter: 0,
        },
        Entry {
            secret: b"12345678901234567890",
            name: "two",
            issuer: "B",
            algorithm: 2,
            digits: 2,
            kind: 2,
            counter: 0,
        },
        Entry {
            secret: b"12345678901234567890",
            name: "C:three",
            issuer: "",
            algorithm: 3,
            digits: 2,
            kind: 1,
            counter: 7,
        },
        Entry {
            secret: b"12345678901234567890",
            name: "four",
            issuer: "",
            algorithm: 0,
            digits: 0,
            kind: 1,
            counter: 0,
        },
    ];
    let batch = parse_migration(&uri(&payload(&entries, 1, 0, 42))).unwrap();
    let got: Vec<(String, String, OtpParams)> =
        batch.accounts.iter().map(|a| (a.issuer.clone(), a.name.clone(), a.params)).collect();
    assert_eq!(
        got,
        vec![
            ("A".into(), "one".into(), OtpParams::totp(Algorithm::Sha1, 6, 30).unwrap()),
            ("B".into(), "two".into(), OtpParams::totp(Algorithm::Sha256, 8, 30).unwrap()),
            ("C".into(), "three".into(), OtpParams::hotp(Algorithm::Sha512, 8, 7).unwrap()),
            ("".into(), "four".into(), OtpParams::hotp(Algorithm::Sha1, 6, 0).unwrap()),
        ]
    );
    assert_eq!(batch.batch_id, 42);
    // Codes match the RFC 4226 vector for the same secret and counter.
    assert_eq!(batch.accounts[3].code_at(0).unwrap().code, "755224");
    assert!(matches!(batch.accounts[2].params.kind, OtpKind::Hotp { counter: 7 }));
}

#[test]
fn several_batches_are_collected_and_gaps_reported() {
    let one = |name: &'static str| Entry {
        secret: b"abcdefghij",
        name,
        issuer: "X",
        algorithm: 1,
        digits: 1,
        kind: 2,
        counter: 0,
    };
    let first = parse_migration(&uri(&payload(&[one("a"), one("b")], 3, 0, 9))).unwrap();
    let third = parse_migration(&uri(&payload(&[one("e")], 3, 2, 9))).unwrap();
    let mut collector = MigrationCollector::default();
    collector.add(third);
    collector.add(first.clone());
    collector.add(first);
    assert_eq!(collector.missing(), vec![(9, vec![1])]);
    let names: Vec<String> = collector.into_accounts().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["a", "b", "e"]);
}

#[test]
fn url_safe_and_unescaped_base64_are_accepted() {
    let bytes = payload(
        &[Entry { secret: &[0xfb; 20], name: "n", issuer: "i", algorithm: 1, digits: 1, kind: 2, counter: 0 }],
        1,
        0,
        1,
    );
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
    assert_eq!(parse_migration(&format!("otpauth-migration://offline?data={url_safe}")).unwrap().accounts.len(), 1);
    let raw = base64::engine::general_purpose::STANDARD.encode(&bytes);
    assert_eq!(parse_migration(&format!("otpauth-migration://offline?data={raw}")).unwrap().accounts.len(), 1);
}

#[test]
fn malformed_exports_get_typed_errors() {
    let good = Entry { secret: b"abcdefghij", name: "n", issuer: "i", algorithm: 1, digits: 1, kind: 2, counter: 0 };
    let bytes = payload(&[good], 1, 0, 1);
    for cut in 1..bytes.len() {
        let result = parse_migration(&uri(&bytes[..cut]));
        assert!(result.is_err() || result.as_ref().is_ok_and(|b| b.accounts.len() == 1), "cut at {cut}: {result:?}");
    }
    assert!(matches!(parse_migration(&uri(&bytes[..5])), Err(MigrationError::Truncated { .. })));
    assert_eq!(parse_migration("otpauth://totp/x?secret=A"), Err(MigrationError::NotMigrationUri));
    assert_eq!(parse_migration("otpauth-migration://offline?foo=1"), Err(MigrationError::MissingData));
    assert_eq!(parse_migration("otpauth-migration://offline?data=!!!"), Err(MigrationError::BadBase64));
    // Wire type 7 does not exist.
    assert!(matches!(parse_migration(&uri(&[0x0f, 0x00])), Err(MigrationError::Corrupt { .. })));
    // An over-long varint.
    assert!(matches!(
        parse_migration(&uri(&[0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
        Err(MigrationError::Corrupt { .. })
    ));
    // A length that runs past the end.
    assert!(matches!(parse_migration(&uri(&[0x0a, 0xff, 0xff, 0x03, 0x01])), Err(MigrationError::Truncated { .. })));

    let bad = |e: Entry| parse_migration(&uri(&payload(&[e], 1, 0, 1)));
    assert!(matches!(bad(Entry { secret: b"", ..good_entry() }), Err(MigrationError::MissingSecret { index: 0 })));
    assert!(matches!(bad(Entry { algorithm: 4, ..good_entry() }), Err(MigrationError::UnsupportedAlgorithm { .. })));
    assert!(matches!(bad(Entry { algorithm: 9, ..good_entry() }), Err(MigrationError::UnsupportedAlgorithm { .. })));
    assert!(matches!(
        bad(Entry { digits: 3, ..good_entry() }),
        Err(MigrationError::UnknownEnum { field: "digits", .. })
    ));
    assert!(matches!(bad(Entry { kind: 5, ..good_entry() }), Err(MigrationError::UnknownEnum { field: "type", .. })));
    assert!(matches!(
        bad(Entry { kind: 1, counter: u64::MAX, ..good_entry() }),
        Err(MigrationError::BadCounter { .. })
    ));
    assert!(bad(Entry { name: "\u{0}", issuer: "ok", ..good_entry() }).is_ok());
    let mut not_utf8 = Vec::new();
    field_bytes(1, b"abcdefghij", &mut not_utf8);
    field_bytes(2, &[0xff, 0xfe], &mut not_utf8);
    let mut outer = Vec::new();
    field_bytes(1, &not_utf8, &mut outer);
    assert_eq!(parse_migration(&uri(&outer)), Err(MigrationError::NotUtf8));
}

fn good_entry() -> Entry<'static> {
    Entry { secret: b"abcdefghij", name: "n", issuer: "i", algorithm: 1, digits: 1, kind: 2, counter: 0 }
}
