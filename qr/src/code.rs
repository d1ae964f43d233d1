//! The result type of a scan: one QR symbol (or one merged structured-append message).

use super::bitstream::{Parsed, Segment, StructuredAppend};
use super::codewords::EcLevel;
use super::frame::QrPoint;
use super::payload::{classify, PayloadKind};
use super::text;

/// A decoded QR code.
#[derive(Debug, Clone, PartialEq)]
pub struct QrCode {
    /// The payload as encoded: byte-mode bytes as they are, numeric and alphanumeric as ASCII,
    /// Kanji as Shift_JIS.
    pub bytes: Vec<u8>,
    /// The payload as text, in the ECI charset it declares or else the one its bytes fit
    /// (UTF-8, Shift_JIS or ISO-8859-1); `None` for binary data.
    pub text: Option<String>,
    /// What the payload is for.
    pub kind: PayloadKind,
    /// Symbol version, 1..=40 (of the first symbol, for a merged message).
    pub version: u8,
    /// Error-correction level (of the first symbol, for a merged message).
    pub ec_level: EcLevel,
    /// The symbol's outer corners in upright frame coordinates, in the symbol's own order:
    /// top-left, top-right, bottom-right, bottom-left (of the first symbol, for a merged message).
    pub corners: [QrPoint; 4],
    /// This symbol's place in a structured-append sequence that was not (yet) complete.
    pub structured_append: Option<StructuredAppend>,
    /// How many symbols this result was merged from: 1 for a plain code.
    pub symbols: u8,
    /// Segments kept for merging structured-append sequences.
    pub(crate) segments: Vec<Segment>,
}

impl QrCode {
    /// Builds a result from a parsed symbol.
    pub(crate) fn from_parsed(parsed: Parsed, version: u8, ec_level: EcLevel, corners: [QrPoint; 4]) -> Self {
        let bytes: Vec<u8> = parsed.segments.iter().flat_map(|s| s.bytes.iter().copied()).collect();
        let text = text::decode(&parsed.segments);
        QrCode {
            kind: classify(&bytes),
            bytes,
            text,
            version,
            ec_level,
            corners,
            structured_append: parsed.append,
            symbols: 1,
            segments: parsed.segments,
        }
    }
}
