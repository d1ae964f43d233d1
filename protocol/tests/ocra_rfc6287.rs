//! Every test vector of RFC 6287 Appendix C.

use nyckel_protocol::ocra::{OcraInput, OcraPin, OcraSuite};

const KEY20: &[u8] = b"12345678901234567890";
const KEY32: &[u8] = b"12345678901234567890123456789012";
const KEY64: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";
/// SHA-1 of "1234", the PIN of the appendix.
const PIN_SHA1: [u8; 20] = [
    0x71, 0x10, 0xed, 0xa4, 0xd0, 0x9e, 0x06, 0x2a, 0xa5, 0xe4, 0xa3, 0x90, 0xb0, 0xa5, 0x72, 0xac, 0x0d, 0x2c, 0x02,
    0x20,
];
/// "Mar 25 2008, 12:06:30 GMT" in minutes.
const T_MINUTES: u64 = 0x132d0b6;

fn suite(text: &str) -> OcraSuite {
    text.parse().unwrap()
}

fn repeated(digit: usize, len: usize) -> String {
    digit.to_string().repeat(len)
}

#[test]
fn c1_one_way_sha1_qn08() {
    let s = suite("OCRA-1:HOTP-SHA1-6:QN08");
    let expected = ["237653", "243178", "653583", "740991", "608993", "388898", "816933", "224598", "750600", "294470"];
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(s.compute(KEY20, &OcraInput::question(&repeated(i, 8))).unwrap(), *want, "Q={i}");
    }
}

#[test]
fn c1_one_way_sha256_counter_pin() {
    let s = suite("OCRA-1:HOTP-SHA256-8:C-QN08-PSHA1");
    let expected = [
        "65347737", "86775851", "78192410", "71565254", "10104329", "65983500", "70069104", "91771096", "75011558",
        "08522129",
    ];
    for (c, want) in expected.iter().enumerate() {
        let input = OcraInput {
            counter: Some(c as u64),
            pin: Some(OcraPin::Hashed(&PIN_SHA1)),
            ..OcraInput::question("12345678")
        };
        assert_eq!(s.compute(KEY32, &input).unwrap(), *want, "C={c}");
        // The plain PIN hashes to the same input.
        let plain = OcraInput { pin: Some(OcraPin::Plain("1234")), ..input };
        assert_eq!(s.compute(KEY32, &plain).unwrap(), *want, "C={c} (plain PIN)");
    }
}

#[test]
fn c1_one_way_sha256_pin() {
    let s = suite("OCRA-1:HOTP-SHA256-8:QN08-PSHA1");
    let expected = ["83238735", "01501458", "17957585", "86776967", "86807031"];
    for (i, want) in expected.iter().enumerate() {
        let q = repeated(i, 8);
        let input = OcraInput { pin: Some(OcraPin::Hashed(&PIN_SHA1)), ..OcraInput::question(&q) };
        assert_eq!(s.compute(KEY32, &input).unwrap(), *want, "Q={q}");
    }
}

#[test]
fn c1_one_way_sha512_counter() {
    let s = suite("OCRA-1:HOTP-SHA512-8:C-QN08");
    let expected = [
        "07016083", "63947962", "70123924", "25341727", "33203315", "34205738", "44343969", "51946085", "20403879",
        "31409299",
    ];
    for (c, want) in expected.iter().enumerate() {
        let q = repeated(c, 8);
        let input = OcraInput { counter: Some(c as u64), ..OcraInput::question(&q) };
        assert_eq!(s.compute(KEY64, &input).unwrap(), *want, "C={c}");
    }
}

#[test]
fn c1_one_way_sha512_time() {
    let s = suite("OCRA-1:HOTP-SHA512-8:QN08-T1M");
    let expected = ["95209754", "55907591", "22048402", "24218844", "36209546"];
    assert_eq!(s.time_steps(1_206_446_790), Some(T_MINUTES));
    for (i, want) in expected.iter().enumerate() {
        let q = repeated(i, 8);
        let input = OcraInput { timestamp: Some(T_MINUTES), ..OcraInput::question(&q) };
        assert_eq!(s.compute(KEY64, &input).unwrap(), *want, "Q={q}");
    }
}

#[test]
fn c2_mutual_sha256() {
    let s = suite("OCRA-1:HOTP-SHA256-8:QA08");
    let server = ["28247970", "01984843", "65387857", "03351211", "83412541"];
    let client = ["15510767", "90175646", "33777207", "95285278", "28934924"];
    for i in 0..5 {
        let q = format!("CLI2222{i}SRV1111{i}");
        assert_eq!(s.compute(KEY32, &OcraInput::question(&q)).unwrap(), server[i], "server {q}");
        let q = format!("SRV1111{i}CLI2222{i}");
        assert_eq!(s.compute(KEY32, &OcraInput::question(&q)).unwrap(), client[i], "client {q}");
    }
}

#[test]
fn c2_mutual_sha512_with_client_pin() {
    let server_suite = suite("OCRA-1:HOTP-SHA512-8:QA08");
    let client_suite = suite("OCRA-1:HOTP-SHA512-8:QA08-PSHA1");
    let server = ["79496648", "76831980", "12250499", "90856481", "12761449"];
    let client = ["18806276", "70020315", "01600026", "18951020", "32528969"];
    for i in 0..5 {
        let q = format!("CLI2222{i}SRV1111{i}");
        assert_eq!(server_suite.compute(KEY64, &OcraInput::question(&q)).unwrap(), server[i], "server {q}");
        let q = format!("SRV1111{i}CLI2222{i}");
        let input = OcraInput { pin: Some(OcraPin::Hashed(&PIN_SHA1)), ..OcraInput::question(&q) };
        assert_eq!(client_suite.compute(KEY64, &input).unwrap(), client[i], "client {q}");
    }
}

#[test]
fn c3_plain_signature_sha256() {
    let s = suite("OCRA-1:HOTP-SHA256-8:QA08");
    let expected = ["53095496", "04110475", "31331128", "76028668", "46554205"];
    for (i, want) in expected.iter().enumerate() {
        let q = format!("SIG1{i}000");
        assert_eq!(s.compute(KEY32, &OcraInput::question(&q)).unwrap(), *want, "Q={q}");
    }
}

#[test]
fn c3_plain_signature_sha512_time() {
    let s = suite("OCRA-1:HOTP-SHA512-8:QA10-T1M");
    let expected = ["77537423", "31970405", "10235557", "95213541", "65360607"];
    for (i, want) in expected.iter().enumerate() {
        let q = format!("SIG1{i}00000");
        let input = OcraInput { timestamp: Some(T_MINUTES), ..OcraInput::question(&q) };
        assert_eq!(s.compute(KEY64, &input).unwrap(), *want, "Q={q}");
    }
}
