//! Turns segments into text: the declared ECI charset where there is one, else a guess between
//! UTF-8, Shift_JIS and ISO-8859-1 as ZXing makes it (the QR default is ISO-8859-1, but phones
//! and Japanese generators commonly emit UTF-8 and Shift_JIS without an ECI).

use encoding_rs::{Encoding, BIG5, EUC_KR, GB18030, GBK, SHIFT_JIS, UTF_16BE, UTF_8};

use super::bitstream::{Mode, Segment};

/// A character set a run of bytes is decoded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Latin1,
    Ascii,
    Other(&'static Encoding),
}

/// Decodes the segments' text, or `None` when the bytes are not text in their charset.
pub(crate) fn decode(segments: &[Segment]) -> Option<String> {
    let guessed = guess(segments);
    let mut text = String::new();
    // Adjacent segments in one charset are decoded together: a multi-byte character may be
    // split over segments (and over the symbols of a structured-append sequence).
    let mut run: Vec<u8> = Vec::new();
    let mut run_charset = None;
    for segment in segments {
        let charset = match (segment.mode, segment.eci) {
            (Mode::Numeric | Mode::Alphanumeric, _) => Charset::Ascii,
            (Mode::Kanji, _) => Charset::Other(SHIFT_JIS),
            (Mode::Hanzi, _) => Charset::Other(GBK),
            (Mode::Byte, Some(eci)) => eci_charset(eci)?,
            (Mode::Byte, None) => guessed,
        };
        if run_charset != Some(charset) {
            if let Some(previous) = run_charset {
                decode_run(previous, &run, &mut text)?;
            }
            run.clear();
            run_charset = Some(charset);
        }
        run.extend_from_slice(&segment.bytes);
    }
    if let Some(charset) = run_charset {
        decode_run(charset, &run, &mut text)?;
    }
    Some(text)
}

fn decode_run(charset: Charset, bytes: &[u8], out: &mut String) -> Option<()> {
    match charset {
        Charset::Latin1 => out.extend(bytes.iter().map(|&b| char::from(b))),
        Charset::Ascii => out.push_str(std::str::from_utf8(bytes).ok()?),
        Charset::Other(encoding) => {
            let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
            if had_errors {
                return None;
            }
            out.push_str(&text);
        }
    }
    Some(())
}

/// The charset of byte segments that carry no ECI, guessed from all of them together.
fn guess(segments: &[Segment]) -> Charset {
    let bytes: Vec<u8> = segments
        .iter()
        .filter(|s| s.mode == Mode::Byte && s.eci.is_none())
        .flat_map(|s| s.bytes.iter().copied())
        .collect();
    if bytes.is_ascii() || std::str::from_utf8(&bytes).is_ok() {
        return Charset::Other(UTF_8);
    }
    let has_kanji = segments.iter().any(|s| s.mode == Mode::Kanji);
    if has_kanji || looks_like_shift_jis(&bytes) {
        return Charset::Other(SHIFT_JIS);
    }
    if bytes.iter().any(|&b| is_binary_control(b)) {
        // Neither UTF-8 nor Shift_JIS and with control bytes no text carries: binary data.
        return Charset::Other(UTF_8);
    }
    Charset::Latin1
}

/// Shift_JIS that decodes cleanly and uses double-byte characters or half-width katakana
/// (bytes 0xA1..=0xDF), rather than Latin-1 accents that happen to form valid pairs.
fn looks_like_shift_jis(bytes: &[u8]) -> bool {
    let (_, had_errors) = SHIFT_JIS.decode_without_bom_handling(bytes);
    if had_errors {
        return false;
    }
    let mut double = 0;
    let mut katakana = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            0x81..=0x9f | 0xe0..=0xef => {
                double += 1;
                i += 2;
            }
            0xa1..=0xdf => {
                katakana += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    // Latin-1 text rarely has runs of bytes in 0x81..0x9F (C1 controls there), so any double-byte
    // pair is strong evidence; katakana alone needs a few.
    double > 0 || katakana >= 2
}

fn is_binary_control(b: u8) -> bool {
    matches!(b, 0x00..=0x08 | 0x0b | 0x0c | 0x0e..=0x1a | 0x7f)
}

/// The charset of an ECI assignment (AIM ECI specification), if it is one of text.
fn eci_charset(eci: u32) -> Option<Charset> {
    let label: &[u8] = match eci {
        0 | 2 | 20 => return Some(Charset::Other(SHIFT_JIS)),
        1 | 3 => return Some(Charset::Latin1),
        4 => b"iso-8859-2",
        5 => b"iso-8859-3",
        6 => b"iso-8859-4",
        7 => b"iso-8859-5",
        8 => b"iso-8859-6",
        9 => b"iso-8859-7",
        10 => b"iso-8859-8",
        11 => b"iso-8859-9",
        12 => b"iso-8859-10",
        13 => b"iso-8859-11",
        15 => b"iso-8859-13",
        16 => b"iso-8859-14",
        17 => b"iso-8859-15",
        18 => b"iso-8859-16",
        21 => b"windows-1250",
        22 => b"windows-1251",
        23 => b"windows-1252",
        24 => b"windows-1256",
        25 => return Some(Charset::Other(UTF_16BE)),
        26 => return Some(Charset::Other(UTF_8)),
        27 | 170 => return Some(Charset::Ascii),
        28 => return Some(Charset::Other(BIG5)),
        29 => return Some(Charset::Other(GB18030)),
        30 => return Some(Charset::Other(EUC_KR)),
        _ => return None,
    };
    Encoding::for_label(label).map(Charset::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn byte_segment(bytes: &[u8], eci: Option<u32>) -> Segment {
        Segment { mode: Mode::Byte, eci, bytes: bytes.to_vec() }
    }

    #[test]
    fn guesses_utf8_shift_jis_and_latin1() {
        assert_eq!(decode(&[byte_segment("Grüße".as_bytes(), None)]).as_deref(), Some("Grüße"));
        let (sjis, _, _) = SHIFT_JIS.encode("Google モバイル");
        assert_eq!(decode(&[byte_segment(&sjis, None)]).as_deref(), Some("Google モバイル"));
        assert_eq!(decode(&[byte_segment(b"Gr\xfc\xdfe", None)]).as_deref(), Some("Grüße"));
    }

    #[test]
    fn honours_eci_and_kanji_mode() {
        assert_eq!(decode(&[byte_segment(b"\xe9t\xe9", Some(3))]).as_deref(), Some("été"));
        assert_eq!(decode(&[byte_segment(b"\xff", Some(26))]), None);
        let kanji = Segment { mode: Mode::Kanji, eci: None, bytes: vec![0x93, 0x5f] };
        assert_eq!(decode(&[kanji]).as_deref(), Some("点"));
        assert_eq!(decode(&[byte_segment(b"\x00\x01\x80", None)]), None);
    }
}
