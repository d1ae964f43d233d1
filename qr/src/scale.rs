//! Resizes the luma plane into the scanner's working buffer: box-filter shrinking for large
//! frames (it also averages sensor noise away), bilinear doubling for tiny codes.

use super::frame::Frame;

/// A grey image owned by the scanner, rows packed without padding.
#[derive(Debug, Default)]
pub(crate) struct Grey {
    pub pixels: Vec<u8>,
    pub width: usize,
    pub height: usize,
}

impl Grey {
    /// Pixel at (x, y), clamped to the image so that sampling near the border never fails.
    pub fn at(&self, x: isize, y: isize) -> u8 {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        self.pixels.get(y * self.width + x).copied().unwrap_or(0)
    }

    /// Bilinear sample at a real-valued position (pixel centres at integer + 0.5).
    pub fn sample(&self, x: f64, y: f64) -> f64 {
        let (fx, fy) = (x - 0.5, y - 0.5);
        // `floor` is a library call on baseline x86-64; truncation and a correction are not.
        let floor = |v: f64| {
            let t = v as i64 as f64;
            if t > v {
                t - 1.0
            } else {
                t
            }
        };
        let (x0, y0) = (floor(fx), floor(fy));
        let (ax, ay) = (fx - x0, fy - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        let p = |dx: isize, dy: isize| f64::from(self.at(x0 + dx, y0 + dy));
        let top = p(0, 0) * (1.0 - ax) + p(1, 0) * ax;
        let bottom = p(0, 1) * (1.0 - ax) + p(1, 1) * ax;
        top * (1.0 - ay) + bottom * ay
    }
}

/// A rectangle of the frame, `x1`/`y1` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

impl Rect {
    /// The whole frame.
    pub fn of(frame: &Frame<'_>) -> Self {
        Rect { x0: 0, y0: 0, x1: frame.width, y1: frame.height }
    }
}

/// Shrinks `rect` of `frame` by the integer `factor` (1 copies) into `out`, averaging each block.
pub(crate) fn shrink(frame: &Frame<'_>, rect: Rect, factor: usize, out: &mut Grey) {
    let factor = factor.max(1);
    let x1 = rect.x1.min(frame.width);
    let y1 = rect.y1.min(frame.height);
    let (rw, rh) = (x1.saturating_sub(rect.x0), y1.saturating_sub(rect.y0));
    let (w, h) = ((rw / factor).max(1), (rh / factor).max(1));
    out.width = w;
    out.height = h;
    out.pixels.clear();
    out.pixels.resize(w * h, 0);
    let cols_per = factor.min(rw.max(1));
    let rows_per = factor.min(rh.max(1));
    let row_of = |y: usize| frame.row(rect.y0 + y).get(rect.x0..x1).unwrap_or_default();
    if factor == 1 {
        for (y, dst) in out.pixels.chunks_exact_mut(w).enumerate() {
            let src = row_of(y);
            if let Some(src) = src.get(..w) {
                dst.copy_from_slice(src);
            }
        }
        return;
    }
    if rows_per == 2 && cols_per == 2 {
        // The common camera case: each output pixel from a 2×2 block of two rows, in a form the
        // compiler vectorises.
        for (y, dst) in out.pixels.chunks_exact_mut(w).enumerate() {
            let (top, bottom) = (row_of(2 * y), row_of(2 * y + 1));
            for ((d, t), b) in dst.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
                *d = (sum >> 2) as u8;
            }
        }
        return;
    }
    let area = (rows_per * cols_per) as u32;
    // Dividing every pixel by the block area is the slowest step of a shrink; a fixed-point
    // reciprocal (exact to within one grey level) keeps it a multiply and a shift.
    let reciprocal = (1u32 << 16).div_ceil(area);
    let mut sums = vec![0u32; w];
    for (y, dst) in out.pixels.chunks_exact_mut(w).enumerate() {
        sums.fill(0);
        for dy in 0..rows_per {
            let row = row_of(y * factor + dy);
            if cols_per == 2 {
                // The common camera case, kept simple enough for the compiler to vectorise.
                for (sum, pair) in sums.iter_mut().zip(row.chunks_exact(2)) {
                    *sum += u32::from(pair[0]) + u32::from(pair[1]);
                }
            } else {
                for (sum, chunk) in sums.iter_mut().zip(row.chunks_exact(cols_per)) {
                    *sum += chunk.iter().map(|&p| u32::from(p)).sum::<u32>();
                }
            }
        }
        for (d, &s) in dst.iter_mut().zip(sums.iter()) {
            *d = ((s * reciprocal) >> 16).min(255) as u8;
        }
    }
}

/// Doubles `src` into `out` with bilinear interpolation.
pub(crate) fn double(src: &Grey, out: &mut Grey) {
    out.width = src.width * 2;
    out.height = src.height * 2;
    out.pixels.clear();
    out.pixels.reserve(out.width * out.height);
    for y in 0..out.height {
        for x in 0..out.width {
            let v = src.sample((x as f64 + 0.5) / 2.0, (y as f64 + 0.5) / 2.0);
            out.pixels.push(v.round().clamp(0.0, 255.0) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_averages_blocks_and_respects_stride() {
        // 4x2 frame in a buffer with stride 6 (padding bytes 99 must be ignored).
        let data = [10, 20, 30, 40, 99, 99, 30, 40, 50, 60];
        let frame = Frame::new(&data, 4, 2, 6).expect("valid");
        let mut out = Grey::default();
        shrink(&frame, Rect::of(&frame), 2, &mut out);
        assert_eq!((out.width, out.height), (2, 1));
        assert_eq!(out.pixels, [25, 45]);
        shrink(&frame, Rect::of(&frame), 1, &mut out);
        assert_eq!(out.pixels, [10, 20, 30, 40, 30, 40, 50, 60]);
        shrink(&frame, Rect::of(&frame), 8, &mut out);
        assert_eq!((out.width, out.height), (1, 1));
        shrink(&frame, Rect { x0: 1, y0: 1, x1: 3, y1: 2 }, 1, &mut out);
        assert_eq!(out.pixels, [40, 50]);
    }

    #[test]
    fn double_interpolates() {
        let src = Grey { pixels: vec![0, 200], width: 2, height: 1 };
        let mut out = Grey::default();
        double(&src, &mut out);
        assert_eq!((out.width, out.height), (4, 2));
        assert_eq!(out.pixels[..4], [0, 50, 150, 200]);
    }
}
