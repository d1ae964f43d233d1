//! Parses corrected data codewords into segments (ISO/IEC 18004 §7.4), keeping what rqrr drops:
//! ECI designators, structured-append headers, FNC1 and the segment modes.

/// How a segment's bytes were encoded in the symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Digits; bytes are ASCII.
    Numeric,
    /// The 45-character set; bytes are ASCII.
    Alphanumeric,
    /// Raw 8-bit bytes in the active ECI (or an unknown, guessed charset).
    Byte,
    /// Kanji; bytes are Shift_JIS.
    Kanji,
    /// GB 2312 Hanzi (GB/T 18284); bytes are GB 2312.
    Hanzi,
}

/// A run of payload bytes in one mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    /// How the bytes were encoded.
    pub mode: Mode,
    /// The ECI assignment in force, if the symbol declared one.
    pub eci: Option<u32>,
    /// The segment's bytes.
    pub bytes: Vec<u8>,
}

/// This symbol's place in a structured-append sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StructuredAppend {
    /// Position of this symbol, 0-based.
    pub index: u8,
    /// Number of symbols in the sequence, 1..=16.
    pub count: u8,
    /// Parity byte shared by every symbol of one sequence (XOR of the whole message's bytes).
    pub parity: u8,
}

/// Everything a symbol's bit stream says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Payload segments in order.
    pub segments: Vec<Segment>,
    /// Structured-append header, if present.
    pub append: Option<StructuredAppend>,
    /// GS1 (FNC1 in first position) or AIM application indicator (FNC1 in second position).
    pub fnc1: bool,
}

/// Why a bit stream could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamError {
    /// A segment claims more data than the symbol holds.
    Underflow,
    /// A mode indicator that no QR symbol uses.
    UnknownMode,
    /// An ECI designator of an invalid form.
    BadEci,
    /// An alphanumeric or numeric value out of range.
    BadValue,
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn remaining(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<u32, StreamError> {
        if n > 32 || self.remaining() < n {
            return Err(StreamError::Underflow);
        }
        let mut value = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).copied().unwrap_or(0);
            value = (value << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(value)
    }
}

/// Character-count indicator width for a mode and version (ISO/IEC 18004 table 3).
fn count_bits(mode: Mode, version: u8) -> usize {
    let tier = match version {
        0..=9 => 0,
        10..=26 => 1,
        _ => 2,
    };
    let widths: [usize; 3] = match mode {
        Mode::Numeric => [10, 12, 14],
        Mode::Alphanumeric => [9, 11, 13],
        Mode::Byte => [8, 16, 16],
        Mode::Kanji | Mode::Hanzi => [8, 10, 12],
    };
    widths[tier]
}

const ALPHANUMERIC: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Parses the data codewords of a symbol of `version`.
pub(crate) fn parse(data: &[u8], version: u8) -> Result<Parsed, StreamError> {
    let mut bits = Bits { data, pos: 0 };
    let mut parsed = Parsed::default();
    let mut eci = None;
    // Fewer than four bits left is an implied terminator.
    while bits.remaining() >= 4 {
        match bits.take(4)? {
            0b0000 => break,
            0b0001 => push(&mut parsed, Mode::Numeric, eci, numeric(&mut bits, version)?),
            0b0010 => {
                let bytes = alphanumeric(&mut bits, version, parsed.fnc1)?;
                push(&mut parsed, Mode::Alphanumeric, eci, bytes);
            }
            0b0100 => {
                let count = bits.take(count_bits(Mode::Byte, version))? as usize;
                let mut bytes = Vec::with_capacity(count.min(data.len()));
                for _ in 0..count {
                    bytes.push(bits.take(8)? as u8);
                }
                push(&mut parsed, Mode::Byte, eci, bytes);
            }
            0b1000 => push(&mut parsed, Mode::Kanji, eci, double_byte(&mut bits, version, Mode::Kanji)?),
            0b1101 => {
                // GB/T 18284 Hanzi: a subset indicator, of which only GB 2312 (1) is defined.
                if bits.take(4)? != 1 {
                    return Err(StreamError::UnknownMode);
                }
                push(&mut parsed, Mode::Hanzi, eci, double_byte(&mut bits, version, Mode::Hanzi)?);
            }
            0b0111 => eci = Some(eci_designator(&mut bits)?),
            0b0011 => {
                let index = bits.take(4)? as u8;
                let count = bits.take(4)? as u8 + 1;
                let parity = bits.take(8)? as u8;
                parsed.append = Some(StructuredAppend { index, count, parity });
            }
            0b0101 => parsed.fnc1 = true,
            0b1001 => {
                bits.take(8)?;
                parsed.fnc1 = true;
            }
            _ => return Err(StreamError::UnknownMode),
        }
    }
    Ok(parsed)
}

fn push(parsed: &mut Parsed, mode: Mode, eci: Option<u32>, bytes: Vec<u8>) {
    parsed.segments.push(Segment { mode, eci, bytes });
}

fn eci_designator(bits: &mut Bits<'_>) -> Result<u32, StreamError> {
    let first = bits.take(8)?;
    if first & 0x80 == 0 {
        Ok(first)
    } else if first & 0xc0 == 0x80 {
        Ok(((first & 0x3f) << 8) | bits.take(8)?)
    } else if first & 0xe0 == 0xc0 {
        Ok(((first & 0x1f) << 16) | bits.take(16)?)
    } else {
        Err(StreamError::BadEci)
    }
}

fn numeric(bits: &mut Bits<'_>, version: u8) -> Result<Vec<u8>, StreamError> {
    let mut count = bits.take(count_bits(Mode::Numeric, version))? as usize;
    let mut out = Vec::with_capacity(count.min(bits.remaining()));
    while count > 0 {
        let (width, digits, limit) = match count {
            1 => (4, 1, 10),
            2 => (7, 2, 100),
            _ => (10, 3, 1000),
        };
        let value = bits.take(width)?;
        if value >= limit {
            return Err(StreamError::BadValue);
        }
        let text = format!("{value:0digits$}");
        out.extend_from_slice(text.as_bytes());
        count -= digits;
    }
    Ok(out)
}

fn alphanumeric(bits: &mut Bits<'_>, version: u8, fnc1: bool) -> Result<Vec<u8>, StreamError> {
    let mut count = bits.take(count_bits(Mode::Alphanumeric, version))? as usize;
    let mut out = Vec::with_capacity(count.min(bits.remaining()));
    let char_at = |v: u32| ALPHANUMERIC.get(v as usize).copied().ok_or(StreamError::BadValue);
    while count >= 2 {
        let pair = bits.take(11)?;
        out.push(char_at(pair / 45)?);
        out.push(char_at(pair % 45)?);
        count -= 2;
    }
    if count == 1 {
        out.push(char_at(bits.take(6)?)?);
    }
    if fnc1 {
        // Under FNC1, "%" stands for the GS separator and "%%" for a literal percent sign.
        let mut mapped = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i] == b'%' {
                if out.get(i + 1) == Some(&b'%') {
                    mapped.push(b'%');
                    i += 1;
                } else {
                    mapped.push(0x1d);
                }
            } else {
                mapped.push(out[i]);
            }
            i += 1;
        }
        out = mapped;
    }
    Ok(out)
}

/// Kanji (to Shift_JIS) and Hanzi (to GB 2312): 13 bits per character.
fn double_byte(bits: &mut Bits<'_>, version: u8, mode: Mode) -> Result<Vec<u8>, StreamError> {
    let count = bits.take(count_bits(mode, version))? as usize;
    if bits.remaining() < count * 13 {
        return Err(StreamError::Underflow);
    }
    let mut out = Vec::with_capacity(count * 2);
    for _ in 0..count {
        let value = bits.take(13)?;
        // Kanji rows hold 0xC0 values, GB 2312 rows 0x60 (ISO/IEC 18004 §7.4.6, GB/T 18284).
        let row = if mode == Mode::Hanzi { 0x60 } else { 0xc0 };
        let assembled = ((value / row) << 8) | (value % row);
        let code = match mode {
            Mode::Hanzi if assembled < 0x00a00 => assembled + 0x0a1a1,
            Mode::Hanzi => assembled + 0x0a6a1,
            _ if assembled < 0x01f00 => assembled + 0x08140,
            _ => assembled + 0x0c140,
        };
        out.push((code >> 8) as u8);
        out.push(code as u8);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packs (value, width) fields into bytes, padded with zero bits.
    fn pack(fields: &[(u32, usize)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc = 0u64;
        let mut len = 0;
        for &(value, width) in fields {
            acc = (acc << width) | u64::from(value);
            len += width;
            while len >= 8 {
                out.push((acc >> (len - 8)) as u8);
                len -= 8;
            }
        }
        if len > 0 {
            out.push((acc << (8 - len)) as u8);
        }
        out
    }

    #[test]
    fn reads_every_mode_with_eci_and_append() {
        let data = pack(&[
            (0b0011, 4),
            (2, 4),
            (3, 4),
            (0x5f, 8),
            (0b0111, 4),
            (26, 8),
            (0b0001, 4),
            (5, 10),
            (123, 10),
            (45, 7),
            (0b0010, 4),
            (3, 9),
            (10 * 45 + 11, 11),
            (36, 6),
            (0b0100, 4),
            (2, 8),
            (0xc3, 8),
            (0xa9, 8),
            (0b1000, 4),
            (1, 8),
            (0x1aaa, 13),
            (0, 4),
        ]);
        let parsed = parse(&data, 1).expect("parses");
        assert_eq!(parsed.append, Some(StructuredAppend { index: 2, count: 4, parity: 0x5f }));
        let bytes: Vec<&[u8]> = parsed.segments.iter().map(|s| s.bytes.as_slice()).collect();
        assert_eq!(bytes, [&b"12345"[..], b"AB ", &[0xc3, 0xa9], &[0xe4, 0xaa]]);
        assert!(parsed.segments.iter().all(|s| s.eci == Some(26)));
    }

    #[test]
    fn short_or_unknown_streams_are_errors() {
        assert_eq!(parse(&pack(&[(0b0100, 4), (200, 8), (1, 8)]), 1), Err(StreamError::Underflow));
        assert_eq!(parse(&pack(&[(0b1111, 4), (0, 4)]), 1), Err(StreamError::UnknownMode));
        assert_eq!(parse(&pack(&[(0b0001, 4), (3, 10), (1000, 10)]), 1), Err(StreamError::BadValue));
        assert_eq!(parse(&[], 1), Ok(Parsed::default()));
    }

    #[test]
    fn hanzi_rows_hold_ninety_six_values() {
        // 阿 is B0A2 in GB 2312: (0xB0 - 0xA6) * 0x60 + (0xA2 - 0xA1) = 961.
        let data = pack(&[(0b1101, 4), (1, 4), (1, 8), (961, 13), (0, 4)]);
        let parsed = parse(&data, 1).expect("parses");
        assert_eq!(parsed.segments[0].bytes, [0xb0, 0xa2]);
        // Values below 0xA00 (after regrouping) are the symbol rows: Β (Greek) is A6A2.
        let data = pack(&[(0b1101, 4), (1, 4), (1, 8), (5 * 0x60 + 1, 13), (0, 4)]);
        assert_eq!(parse(&data, 1).expect("parses").segments[0].bytes, [0xa6, 0xa2]);
    }

    #[test]
    fn fnc1_maps_percent_to_group_separator() {
        let data = pack(&[(0b0101, 4), (0b0010, 4), (3, 9), (38 * 45 + 38, 11), (38, 6), (0, 4)]);
        let parsed = parse(&data, 1).expect("parses");
        assert!(parsed.fnc1);
        assert_eq!(parsed.segments[0].bytes, b"%\x1d");
    }
}
