//! Reads a sampled QR grid into error-corrected data codewords, using rqrr for format and bit order.

use rqrr::BitGrid;

use super::blocks::version_blocks;
use super::rs;

/// Error-correction level of a QR code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcLevel {
    /// About 7 % of codewords can be restored.
    L,
    /// About 15 %.
    M,
    /// About 25 %.
    Q,
    /// About 30 %.
    H,
}

impl EcLevel {
    /// From the two format-information bits, which rqrr reports as they are (M=0, L=1, H=2, Q=3).
    fn from_format_bits(bits: u16) -> Option<Self> {
        match bits {
            0 => Some(EcLevel::M),
            1 => Some(EcLevel::L),
            2 => Some(EcLevel::H),
            3 => Some(EcLevel::Q),
            _ => None,
        }
    }
}

/// The data codewords of one symbol after error correction.
#[derive(Debug, Clone)]
pub(crate) struct Codewords {
    /// Symbol version, 1..=40.
    pub version: u8,
    /// Error-correction level.
    pub ec_level: EcLevel,
    /// Data codewords, blocks de-interleaved and corrected.
    pub data: Vec<u8>,
}

/// Reads `grid`, trying it as sampled and, failing that, mirrored (some printers mirror codes).
pub(crate) fn read(grid: &dyn BitGrid) -> Option<Codewords> {
    read_oriented(grid, false).or_else(|| read_oriented(grid, true))
}

fn read_oriented(grid: &dyn BitGrid, mirrored: bool) -> Option<Codewords> {
    let size = grid.size();
    let version = size.checked_sub(17)? / 4;
    if !(1..=40).contains(&version) || version * 4 + 17 != size {
        return None;
    }
    let plain = View { inner: grid, mirrored, mask: None };
    let (meta, _) = rqrr::Grid::new(plain).get_raw_data().ok()?;
    // rqrr only offers the still-masked bit stream, so remove the mask in the grid it reads.
    let unmasked = View { inner: grid, mirrored, mask: Some(meta.mask) };
    let (meta, raw) = rqrr::Grid::new(unmasked).get_raw_data().ok()?;
    let ec_level = EcLevel::from_format_bits(meta.ecc_level)?;
    let blocks = version_blocks(version)?;
    let level = blocks.levels.get(meta.ecc_level as usize)?;
    let raw = raw.data.get(..blocks.total).filter(|_| raw.len >= blocks.total * 8)?;

    let short_total = level.block_len.checked_mul(level.count)?;
    let long_count = blocks.total.checked_sub(short_total)? / (level.block_len + 1);
    let block_count = level.count + long_count;
    let ec_offset = level.data_len * block_count + long_count;
    let mut data = Vec::with_capacity(blocks.total);
    let mut block = Vec::with_capacity(level.block_len + 1);
    for i in 0..block_count {
        let long = i >= level.count;
        let (block_len, data_len) =
            if long { (level.block_len + 1, level.data_len + 1) } else { (level.block_len, level.data_len) };
        block.clear();
        for j in 0..level.data_len {
            block.push(*raw.get(j * block_count + i)?);
        }
        if long {
            // Long blocks' extra data codeword sits in a run after the common columns.
            block.push(*raw.get(level.data_len * block_count + (i - level.count))?);
        }
        for j in 0..(block_len - data_len) {
            block.push(*raw.get(ec_offset + j * block_count + i)?);
        }
        rs::correct(&mut block, block_len - data_len).ok()?;
        data.extend_from_slice(block.get(..data_len)?);
    }
    Some(Codewords { version: version as u8, ec_level, data })
}

/// Gives rqrr's reader the grid as it should be read: mirrored or not, mask removed or not.
struct View<'a> {
    inner: &'a dyn BitGrid,
    mirrored: bool,
    mask: Option<u16>,
}

impl BitGrid for View<'_> {
    fn size(&self) -> usize {
        self.inner.size()
    }

    fn bit(&self, y: usize, x: usize) -> bool {
        let (y, x) = if self.mirrored { (x, y) } else { (y, x) };
        let bit = self.inner.bit(y, x);
        match self.mask {
            Some(mask) if !is_format_cell(self.inner.size(), y, x) => bit ^ mask_bit(mask, y, x),
            _ => bit,
        }
    }
}

/// Cells rqrr reads the format information from; they must stay masked as printed.
fn is_format_cell(size: usize, y: usize, x: usize) -> bool {
    (y == 8 && (x <= 8 || x + 8 >= size)) || (x == 8 && (y <= 8 || y + 7 >= size))
}

/// The eight QR data masks (ISO/IEC 18004 table 10), `i` the row and `j` the column.
fn mask_bit(mask: u16, i: usize, j: usize) -> bool {
    match mask {
        0 => (i + j).is_multiple_of(2),
        1 => i.is_multiple_of(2),
        2 => j.is_multiple_of(3),
        3 => (i + j).is_multiple_of(3),
        4 => (i / 2 + j / 3).is_multiple_of(2),
        5 => (i * j) % 2 + (i * j) % 3 == 0,
        6 => ((i * j) % 2 + (i * j) % 3).is_multiple_of(2),
        _ => ((i * j) % 3 + (i + j) % 2).is_multiple_of(2),
    }
}
