//! Reads a sampled QR grid into error-corrected data codewords: format, unmasking and block
//! de-interleaving, then Reed–Solomon correction per block.

use rqrr::BitGrid;

use super::blocks::version_blocks;
use super::{placement, rs};

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
    /// From the two format-information bits as printed (M=0, L=1, H=2, Q=3).
    fn from_format_bits(bits: u8) -> Option<Self> {
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
    let dark = |row: usize, col: usize| if mirrored { grid.bit(col, row) } else { grid.bit(row, col) };
    let format = placement::read_format(size, &dark)?;
    let ec_level = EcLevel::from_format_bits(format.ec_bits)?;
    let blocks = version_blocks(version)?;
    let level = blocks.levels.get(usize::from(format.ec_bits))?;
    let raw = placement::read_codewords(version, format.mask, blocks.total, &dark)?;

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A module matrix as the qrcode crate draws it.
    struct Matrix {
        size: usize,
        dark: Vec<bool>,
    }

    impl BitGrid for Matrix {
        fn size(&self) -> usize {
            self.size
        }

        fn bit(&self, y: usize, x: usize) -> bool {
            self.dark[y * self.size + x]
        }
    }

    fn encode(text: &str, version: i16, level: qrcode::EcLevel) -> Matrix {
        let code = qrcode::QrCode::with_version(text, qrcode::Version::Normal(version), level).expect("fits");
        let dark = code.to_colors().iter().map(|c| *c == qrcode::Color::Dark).collect();
        Matrix { size: code.width(), dark }
    }

    #[test]
    fn reads_every_version_and_level_as_encoded() {
        let levels = [
            (qrcode::EcLevel::L, EcLevel::L),
            (qrcode::EcLevel::M, EcLevel::M),
            (qrcode::EcLevel::Q, EcLevel::Q),
            (qrcode::EcLevel::H, EcLevel::H),
        ];
        for version in 1..=40u8 {
            for (i, (theirs, ours)) in levels.iter().enumerate() {
                // Different text per symbol so that every mask pattern comes up; short enough for 1-H.
                let text = format!("N{version}.{i}");
                let matrix = encode(&text, i16::from(version), *theirs);
                let read = read(&matrix).unwrap_or_else(|| panic!("version {version} {ours:?}"));
                assert_eq!((read.version, read.ec_level), (version, *ours));
                let parsed = super::super::bitstream::parse(&read.data, version).expect("parses");
                let bytes: Vec<u8> = parsed.segments.iter().flat_map(|s| s.bytes.clone()).collect();
                assert_eq!(bytes, text.as_bytes(), "version {version} {ours:?}");
            }
        }
    }

    #[test]
    fn reads_mirrored_and_damaged_symbols() {
        let text = "otpauth://totp/Nyckel:alice?secret=JBSWY3DPEHPK3PXP";
        let mut matrix = encode(text, 7, qrcode::EcLevel::H);
        let n = matrix.size;
        // Mirror across the main diagonal, as printed from the back of the paper.
        matrix.dark = (0..n * n).map(|i| matrix.dark[(i % n) * n + i / n]).collect();
        // Damage a stretch of data modules and two bits of one format copy.
        for i in 20..26 {
            matrix.dark[30 * n + i] = !matrix.dark[30 * n + i];
        }
        matrix.dark[8 * n + 1] = !matrix.dark[8 * n + 1];
        matrix.dark[8 * n + 2] = !matrix.dark[8 * n + 2];
        let read = read(&matrix).expect("readable");
        let parsed = super::super::bitstream::parse(&read.data, 7).expect("parses");
        let bytes: Vec<u8> = parsed.segments.iter().flat_map(|s| s.bytes.clone()).collect();
        assert_eq!(bytes, text.as_bytes());
    }

    #[test]
    fn noise_is_not_a_symbol() {
        let size = 25;
        let dark = (0..size * size).map(|i| (i * 7919 + i / 3) % 5 < 2).collect();
        assert!(read(&Matrix { size, dark }).is_none());
        assert!(read(&Matrix { size: 24, dark: vec![false; 24 * 24] }).is_none());
    }
}
