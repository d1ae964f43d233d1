//! A local-threshold binariser (after ZXing's HybridBinarizer): each 8×8 block's threshold is the
//! mean of its 5×5 block neighbourhood, so shadows and glare do not swallow finder patterns the
//! way rqrr's running-average threshold does.

use super::scale::Grey;

const BLOCK: usize = 8;
/// Blocks whose spread is below this are taken as flat (all background), not as code.
const MIN_DYNAMIC_RANGE: u32 = 24;

/// Scratch space of the binariser, kept across frames.
#[derive(Debug, Default)]
pub(crate) struct Binariser {
    /// One byte per block: its black point.
    black_points: Vec<u8>,
    /// One byte per block: its threshold.
    pub thresholds: Vec<u8>,
    blocks_w: usize,
    blocks_h: usize,
    /// One block row's statistics, gathered row by row.
    stats: Vec<BlockStats>,
}

/// Sum, minimum and maximum of the pixels of one block seen so far.
#[derive(Debug, Clone, Copy)]
struct BlockStats {
    sum: u32,
    min: u8,
    max: u8,
    count: u32,
}

impl Default for BlockStats {
    fn default() -> Self {
        BlockStats { sum: 0, min: 255, max: 0, count: 0 }
    }
}

impl BlockStats {
    /// Adds one row of a block (generic so that whole 8-pixel rows get a fixed-size loop).
    fn add<const N: usize>(&mut self, pixels: &[u8; N]) {
        self.add_slice(pixels);
    }

    #[inline(always)]
    fn add_slice(&mut self, pixels: &[u8]) {
        let (mut sum, mut min, mut max) = (0u32, self.min, self.max);
        for &p in pixels {
            sum += u32::from(p);
            min = min.min(p);
            max = max.max(p);
        }
        self.sum += sum;
        self.min = min;
        self.max = max;
        self.count += pixels.len() as u32;
    }
}

impl Binariser {
    /// Writes 1 (dark) or 0 (light) per pixel of `grey` into `bits`.
    pub fn run(&mut self, grey: &Grey, bits: &mut Vec<u8>) {
        self.compute_thresholds(grey);
        bits.clear();
        bits.resize(grey.pixels.len(), 0);
        if grey.width == 0 {
            return;
        }
        for (y, (src, dst)) in grey.pixels.chunks_exact(grey.width).zip(bits.chunks_exact_mut(grey.width)).enumerate() {
            let by = (y / BLOCK).min(self.blocks_h - 1);
            let row = self.thresholds.get(by * self.blocks_w..(by + 1) * self.blocks_w).unwrap_or_default();
            // Whole blocks as fixed-size chunks, then the row's ragged end.
            let mut src_blocks = src.chunks_exact(BLOCK);
            let mut dst_blocks = dst.chunks_exact_mut(BLOCK);
            for ((s, d), &t) in src_blocks.by_ref().zip(dst_blocks.by_ref()).zip(row) {
                if let (Ok(s), Ok(d)) = (<&[u8; BLOCK]>::try_from(s), <&mut [u8; BLOCK]>::try_from(d)) {
                    for (p, b) in s.iter().zip(d.iter_mut()) {
                        *b = u8::from(*p <= t);
                    }
                }
            }
            let t = row.last().copied().unwrap_or(128);
            for (p, b) in src_blocks.remainder().iter().zip(dst_blocks.into_remainder()) {
                *b = u8::from(*p <= t);
            }
        }
    }

    /// Threshold that applies at pixel (x, y) of the last image binarised.
    pub fn threshold_at(&self, x: usize, y: usize) -> u8 {
        let bx = (x / BLOCK).min(self.blocks_w.saturating_sub(1));
        let by = (y / BLOCK).min(self.blocks_h.saturating_sub(1));
        self.thresholds.get(by * self.blocks_w + bx).copied().unwrap_or(128)
    }

    fn compute_thresholds(&mut self, grey: &Grey) {
        let (w, h) = (grey.width, grey.height);
        self.blocks_w = w.div_ceil(BLOCK).max(1);
        self.blocks_h = h.div_ceil(BLOCK).max(1);
        let (bw, bh) = (self.blocks_w, self.blocks_h);
        self.black_points.clear();
        self.black_points.resize(bw * bh, 0);
        // Per block: sum, minimum and maximum, gathered row by row over whole 8-pixel chunks of
        // fixed size, which the compiler unrolls (this is most of a frame's binarising time).
        self.stats.clear();
        self.stats.resize(bw, BlockStats::default());
        for by in 0..bh {
            let y0 = (by * BLOCK).min(h.saturating_sub(BLOCK));
            let y1 = (y0 + BLOCK).min(h);
            self.stats.fill(BlockStats::default());
            for y in y0..y1 {
                let row = grey.pixels.get(y * w..(y + 1) * w).unwrap_or_default();
                for (stats, chunk) in self.stats.iter_mut().zip(row.chunks_exact(BLOCK)) {
                    if let Ok(chunk) = <&[u8; BLOCK]>::try_from(chunk) {
                        stats.add(chunk);
                    }
                }
                // The last block column overlaps its neighbour rather than running short.
                if w % BLOCK != 0 {
                    let tail = row.get(w.saturating_sub(BLOCK)..).unwrap_or_default();
                    if let Some(stats) = self.stats.last_mut() {
                        stats.add_slice(tail);
                    }
                }
            }
            for bx in 0..bw {
                let BlockStats { sum, min, max, count } = self.stats[bx];
                let mut average = sum.checked_div(count).unwrap_or(0);
                if u32::from(max - min.min(max)) <= MIN_DYNAMIC_RANGE {
                    // A flat block: assume background, a bit darker than its minimum, unless its
                    // neighbours already found it lighter than their black point (inside a code).
                    average = u32::from(min) / 2;
                    if by > 0 && bx > 0 {
                        let up = u32::from(self.black_points[(by - 1) * bw + bx]);
                        let left = u32::from(self.black_points[by * bw + bx - 1]);
                        let diag = u32::from(self.black_points[(by - 1) * bw + bx - 1]);
                        let neighbours = (up + 2 * left + diag) / 4;
                        if u32::from(min) < neighbours {
                            average = neighbours;
                        }
                    }
                }
                self.black_points[by * bw + bx] = average.min(255) as u8;
            }
        }
        self.thresholds.clear();
        self.thresholds.resize(bw * bh, 0);
        for by in 0..bh {
            for bx in 0..bw {
                let mut sum = 0u32;
                for dy in -2isize..=2 {
                    let y = (by as isize + dy).clamp(0, bh as isize - 1) as usize;
                    for dx in -2isize..=2 {
                        let x = (bx as isize + dx).clamp(0, bw as isize - 1) as usize;
                        sum += u32::from(self.black_points[y * bw + x]);
                    }
                }
                self.thresholds[by * bw + bx] = (sum / 25) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_dark_from_light_under_a_gradient() {
        // Left half dark squares on a background that brightens to the right.
        let (w, h) = (64, 32);
        let mut pixels = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let background = 120 + x as u8 * 2;
                let dark = (x / 4 + y / 4) % 2 == 0;
                pixels.push(if dark { background - 100 } else { background });
            }
        }
        let grey = Grey { pixels, width: w, height: h };
        let mut bits = Vec::new();
        Binariser::default().run(&grey, &mut bits);
        for y in 0..h {
            for x in 0..w {
                assert_eq!(bits[y * w + x] == 1, (x / 4 + y / 4) % 2 == 0, "({x},{y})");
            }
        }
    }

    #[test]
    fn tiny_images_do_not_panic() {
        let mut bits = Vec::new();
        let mut binariser = Binariser::default();
        for (w, h) in [(1, 1), (3, 1), (1, 9), (9, 9)] {
            let grey = Grey { pixels: vec![7; w * h], width: w, height: h };
            binariser.run(&grey, &mut bits);
            assert_eq!(bits.len(), w * h);
        }
    }
}
