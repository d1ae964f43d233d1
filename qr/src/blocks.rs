//! The QR block structure per version and error-correction level (ISO/IEC 18004 table 9).

/// One version's total codeword count and its short-block layout per error-correction level.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VersionBlocks {
    /// Codewords in the symbol, data and error correction together.
    pub total: usize,
    /// Indexed by the two format-information bits: M, L, H, Q (the order rqrr reports).
    pub levels: [ShortBlocks; 4],
}

/// The short blocks of one level; long blocks (if any) carry one data codeword more.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShortBlocks {
    /// Codewords in a short block.
    pub block_len: usize,
    /// Data codewords in a short block.
    pub data_len: usize,
    /// Number of short blocks.
    pub count: usize,
}

const fn v(total: usize, levels: [ShortBlocks; 4]) -> VersionBlocks {
    VersionBlocks { total, levels }
}

const fn b(block_len: usize, data_len: usize, count: usize) -> ShortBlocks {
    ShortBlocks { block_len, data_len, count }
}

/// Layout of version `version` (1..=40), if it exists.
pub(crate) fn version_blocks(version: usize) -> Option<&'static VersionBlocks> {
    TABLE.get(version.checked_sub(1)?)
}

#[rustfmt::skip]
const TABLE: [VersionBlocks; 40] = [
    v(26, [b(26, 16, 1), b(26, 19, 1), b(26, 9, 1), b(26, 13, 1)]),
    v(44, [b(44, 28, 1), b(44, 34, 1), b(44, 16, 1), b(44, 22, 1)]),
    v(70, [b(70, 44, 1), b(70, 55, 1), b(35, 13, 2), b(35, 17, 2)]),
    v(100, [b(50, 32, 2), b(100, 80, 1), b(25, 9, 4), b(50, 24, 2)]),
    v(134, [b(67, 43, 2), b(134, 108, 1), b(33, 11, 2), b(33, 15, 2)]),
    v(172, [b(43, 27, 4), b(86, 68, 2), b(43, 15, 4), b(43, 19, 4)]),
    v(196, [b(49, 31, 4), b(98, 78, 2), b(39, 13, 4), b(32, 14, 2)]),
    v(242, [b(60, 38, 2), b(121, 97, 2), b(40, 14, 4), b(40, 18, 4)]),
    v(292, [b(58, 36, 3), b(146, 116, 2), b(36, 12, 4), b(36, 16, 4)]),
    v(346, [b(69, 43, 4), b(86, 68, 2), b(43, 15, 6), b(43, 19, 6)]),
    v(404, [b(80, 50, 1), b(101, 81, 4), b(36, 12, 3), b(50, 22, 4)]),
    v(466, [b(58, 36, 6), b(116, 92, 2), b(42, 14, 7), b(46, 20, 4)]),
    v(532, [b(59, 37, 8), b(133, 107, 4), b(33, 11, 12), b(44, 20, 8)]),
    v(581, [b(64, 40, 4), b(145, 115, 3), b(36, 12, 11), b(36, 16, 11)]),
    v(655, [b(65, 41, 5), b(109, 87, 5), b(36, 12, 11), b(54, 24, 5)]),
    v(733, [b(73, 45, 7), b(122, 98, 5), b(45, 15, 3), b(43, 19, 15)]),
    v(815, [b(74, 46, 10), b(135, 107, 1), b(42, 14, 2), b(50, 22, 1)]),
    v(901, [b(69, 43, 9), b(150, 120, 5), b(42, 14, 2), b(50, 22, 17)]),
    v(991, [b(70, 44, 3), b(141, 113, 3), b(39, 13, 9), b(47, 21, 17)]),
    v(1085, [b(67, 41, 3), b(135, 107, 3), b(43, 15, 15), b(54, 24, 15)]),
    v(1156, [b(68, 42, 17), b(144, 116, 4), b(46, 16, 19), b(50, 22, 17)]),
    v(1258, [b(74, 46, 17), b(139, 111, 2), b(37, 13, 34), b(54, 24, 7)]),
    v(1364, [b(75, 47, 4), b(151, 121, 4), b(45, 15, 16), b(54, 24, 11)]),
    v(1474, [b(73, 45, 6), b(147, 117, 6), b(46, 16, 30), b(54, 24, 11)]),
    v(1588, [b(75, 47, 8), b(132, 106, 8), b(45, 15, 22), b(54, 24, 7)]),
    v(1706, [b(74, 46, 19), b(142, 114, 10), b(46, 16, 33), b(50, 22, 28)]),
    v(1828, [b(73, 45, 22), b(152, 122, 8), b(45, 15, 12), b(53, 23, 8)]),
    v(1921, [b(73, 45, 3), b(147, 117, 3), b(45, 15, 11), b(54, 24, 4)]),
    v(2051, [b(73, 45, 21), b(146, 116, 7), b(45, 15, 19), b(53, 23, 1)]),
    v(2185, [b(75, 47, 19), b(145, 115, 5), b(45, 15, 23), b(54, 24, 15)]),
    v(2323, [b(74, 46, 2), b(145, 115, 13), b(45, 15, 23), b(54, 24, 42)]),
    v(2465, [b(74, 46, 10), b(145, 115, 17), b(45, 15, 19), b(54, 24, 10)]),
    v(2611, [b(74, 46, 14), b(145, 115, 17), b(45, 15, 11), b(54, 24, 29)]),
    v(2761, [b(74, 46, 14), b(145, 115, 13), b(46, 16, 59), b(54, 24, 44)]),
    v(2876, [b(75, 47, 12), b(151, 121, 12), b(45, 15, 22), b(54, 24, 39)]),
    v(3034, [b(75, 47, 6), b(151, 121, 6), b(45, 15, 2), b(54, 24, 46)]),
    v(3196, [b(74, 46, 29), b(152, 122, 17), b(45, 15, 24), b(54, 24, 49)]),
    v(3362, [b(74, 46, 13), b(152, 122, 4), b(45, 15, 42), b(54, 24, 48)]),
    v(3532, [b(75, 47, 40), b(147, 117, 20), b(45, 15, 10), b(54, 24, 43)]),
    v(3706, [b(75, 47, 18), b(148, 118, 19), b(45, 15, 20), b(54, 24, 34)]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_fills_the_symbol() {
        for version in 1..=40 {
            let vb = version_blocks(version).expect("version exists");
            for level in vb.levels {
                let long = (vb.total - level.block_len * level.count) / (level.block_len + 1);
                assert_eq!(level.block_len * level.count + (level.block_len + 1) * long, vb.total, "v{version}");
            }
        }
        assert!(version_blocks(0).is_none());
        assert!(version_blocks(41).is_none());
    }
}
