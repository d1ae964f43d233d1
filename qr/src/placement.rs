//! Where a QR symbol keeps its format information and codewords (ISO/IEC 18004 §7.7–7.9):
//! reads the format, removes the mask and collects the codeword bits in placement order.

/// The format information as decoded: error-correction bits and data mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Format {
    /// The two error-correction bits as printed: M = 0, L = 1, H = 2, Q = 3.
    pub ec_bits: u8,
    /// Data mask pattern, 0..=7.
    pub mask: u8,
}

/// XOR mask applied to every format word (§7.9.1).
const FORMAT_MASK: u16 = 0x5412;
/// Generator of the BCH(15, 5) code of the format information.
const FORMAT_GENERATOR: u16 = 0x537;
/// A format word further than this from every valid one is unreadable (the code corrects 3).
const FORMAT_MAX_DISTANCE: u32 = 3;

/// The 15-bit masked format word that carries `data` (5 bits).
fn format_word(data: u16) -> u16 {
    let mut rem = data << 10;
    for bit in (10..15).rev() {
        if rem & (1 << bit) != 0 {
            rem ^= FORMAT_GENERATOR << (bit - 10);
        }
    }
    ((data << 10) | rem) ^ FORMAT_MASK
}

/// Reads both copies of the format information and returns the one nearest a valid word.
///
/// `dark(row, col)` reads a module. `None` when neither copy is within the code's reach.
pub(crate) fn read_format(size: usize, dark: &impl Fn(usize, usize) -> bool) -> Option<Format> {
    let mut first = 0u16;
    let push = |word: &mut u16, row: usize, col: usize| *word = (*word << 1) | u16::from(dark(row, col));
    // Around the top-left finder, skipping the timing pattern at index 6.
    for col in [0, 1, 2, 3, 4, 5, 7, 8] {
        push(&mut first, 8, col);
    }
    for row in [7, 5, 4, 3, 2, 1, 0] {
        push(&mut first, row, 8);
    }
    // Split between the bottom-left and the top-right finders.
    let mut second = 0u16;
    for row in (size - 7..size).rev() {
        push(&mut second, row, 8);
    }
    for col in size - 8..size {
        push(&mut second, 8, col);
    }
    let mut best: Option<(u32, u16)> = None;
    for data in 0..32u16 {
        let word = format_word(data);
        let distance = (word ^ first).count_ones().min((word ^ second).count_ones());
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, data));
        }
    }
    let (distance, data) = best?;
    (distance <= FORMAT_MAX_DISTANCE).then_some(Format { ec_bits: (data >> 3) as u8, mask: (data & 7) as u8 })
}

/// Centres of the alignment patterns along one axis for `version` (§6.3.6, annex E).
fn alignment_centres(version: usize) -> Vec<usize> {
    if version < 2 {
        return Vec::new();
    }
    let count = version / 7 + 2;
    let size = 17 + 4 * version;
    // The spacing is even and the same between every pair but the first (annex E).
    let step = if version == 32 { 26 } else { (version * 4 + count * 2 + 1) / (count * 2 - 2) * 2 };
    let mut centres: Vec<usize> = (0..count - 1).map(|i| size - 7 - i * step).collect();
    centres.push(6);
    centres.reverse();
    centres
}

/// Which modules of a symbol are function patterns (not data), row-major.
fn function_modules(version: usize) -> Vec<bool> {
    let size = 17 + 4 * version;
    let mut function = vec![false; size * size];
    let mut mark = |row: usize, col: usize| {
        if let Some(cell) = function.get_mut(row * size + col) {
            *cell = true;
        }
    };
    for i in 0..size {
        for j in 0..size {
            // Finders with their separators and the format information (and the dark module).
            let near_top_left = i < 9 && j < 9;
            let near_top_right = i < 9 && j >= size - 8;
            let near_bottom_left = i >= size - 8 && j < 9;
            let timing = i == 6 || j == 6;
            // Version information, from version 7.
            let version_info = version >= 7
                && ((i < 6 && (size - 11..size - 8).contains(&j)) || (j < 6 && (size - 11..size - 8).contains(&i)));
            if near_top_left || near_top_right || near_bottom_left || timing || version_info {
                mark(i, j);
            }
        }
    }
    let centres = alignment_centres(version);
    let last = centres.len().saturating_sub(1);
    for (a, &row) in centres.iter().enumerate() {
        for (b, &col) in centres.iter().enumerate() {
            // The three corners the finders occupy have no alignment pattern.
            let finder_corner = (a == 0 || a == last) && (b == 0 || b == last) && !(a == last && b == last);
            if finder_corner {
                continue;
            }
            for i in row - 2..=row + 2 {
                for j in col - 2..=col + 2 {
                    mark(i, j);
                }
            }
        }
    }
    function
}

/// The data mask `mask` at row `i`, column `j` (§7.8.2, table 10).
fn mask_bit(mask: u8, i: usize, j: usize) -> bool {
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

/// Reads `count` codewords of a `version` symbol in placement order (two-module columns from
/// the bottom right, alternately upwards and downwards, skipping the vertical timing pattern),
/// with the data mask removed. `None` when the symbol holds fewer.
pub(crate) fn read_codewords(
    version: usize,
    mask: u8,
    count: usize,
    dark: &impl Fn(usize, usize) -> bool,
) -> Option<Vec<u8>> {
    let size = 17 + 4 * version;
    let function = function_modules(version);
    let mut out = Vec::with_capacity(count);
    let (mut byte, mut bits) = (0u8, 0u8);
    let mut right = size - 1;
    while right >= 1 && out.len() < count {
        if right == 6 {
            right = 5;
        }
        let upward = (right + 1) & 2 == 0;
        for vert in 0..size {
            let row = if upward { size - 1 - vert } else { vert };
            for col in [right, right - 1] {
                if function.get(row * size + col).copied().unwrap_or(true) {
                    continue;
                }
                byte = (byte << 1) | u8::from(dark(row, col) ^ mask_bit(mask, row, col));
                bits += 1;
                if bits == 8 {
                    out.push(byte);
                    (byte, bits) = (0, 0);
                }
            }
        }
        if right < 2 {
            break;
        }
        right -= 2;
    }
    (out.len() >= count).then(|| {
        out.truncate(count);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_words_match_the_standard_table() {
        // ISO/IEC 18004 annex C: M with mask 0 and L with mask 7.
        assert_eq!(format_word(0b00_000), 0x5412);
        assert_eq!(format_word(0b01_111), 0x6976);
        assert_eq!(format_word(0b10_101), 0x0255);
    }

    #[test]
    fn alignment_centres_match_the_standard_table() {
        assert_eq!(alignment_centres(1), Vec::<usize>::new());
        assert_eq!(alignment_centres(2), [6, 18]);
        assert_eq!(alignment_centres(7), [6, 22, 38]);
        assert_eq!(alignment_centres(32), [6, 34, 60, 86, 112, 138]);
        assert_eq!(alignment_centres(36), [6, 24, 50, 76, 102, 128, 154]);
        assert_eq!(alignment_centres(40), [6, 30, 58, 86, 114, 142, 170]);
    }

    #[test]
    fn data_modules_hold_every_codeword_and_nothing_more() {
        // Data modules = codewords × 8 + remainder bits (0, 3, 4 or 7) for every version.
        for version in 1..=40 {
            let size = 17 + 4 * version;
            let data = function_modules(version).iter().filter(|f| !**f).count();
            let total = super::super::blocks::version_blocks(version).expect("version").total;
            let remainder = data - total * 8;
            assert!([0, 3, 4, 7].contains(&remainder), "version {version}: {remainder} spare of {}", size * size);
        }
    }
}
