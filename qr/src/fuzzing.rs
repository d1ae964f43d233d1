//! Entry points into the decoder's inner stages for the fuzz targets (feature `fuzzing`): a
//! camera frame small enough to fuzz quickly holds no readable symbol, so these reach the
//! format, placement, error-correction, bit-stream and charset code directly.

use rqrr::BitGrid;

use super::{bitstream, codewords, text};

/// A square module grid given as one byte per module (odd = dark).
struct Modules<'a> {
    size: usize,
    cells: &'a [u8],
}

impl BitGrid for Modules<'_> {
    fn size(&self) -> usize {
        self.size
    }

    fn bit(&self, y: usize, x: usize) -> bool {
        self.cells.get(y * self.size + x).is_some_and(|c| c & 1 == 1)
    }
}

/// Reads a symbol of `version` from `cells` (missing cells are light), then parses and decodes
/// what it holds. Returns the payload bytes and text, or `None` when it does not read.
pub fn read_symbol(version: u8, cells: &[u8]) -> Option<(Vec<u8>, Option<String>)> {
    let size = 17 + 4 * usize::from(version);
    let read = codewords::read(&Modules { size, cells })?;
    parse_data(&read.data, read.version)
}

/// Parses corrected data codewords of a `version` symbol and decodes their text.
pub fn parse_data(data: &[u8], version: u8) -> Option<(Vec<u8>, Option<String>)> {
    let parsed = bitstream::parse(data, version).ok()?;
    let bytes = parsed.segments.iter().flat_map(|s| s.bytes.iter().copied()).collect();
    Some((bytes, text::decode(&parsed.segments)))
}
