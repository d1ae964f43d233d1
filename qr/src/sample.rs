//! Re-reads a located code from the grey image instead of rqrr's binarised copy: bilinear
//! sampling, a threshold of our choosing, and alternative grid sizes when rqrr's timing-pattern
//! count was off by a version.

use std::cell::Cell;

use rqrr::BitGrid;

use super::binarize::Binariser;
use super::scale::Grey;

/// A projective map (3×3 homography, row-major, last element 1 after normalising).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Homography {
    m: [f64; 9],
}

impl Homography {
    /// Maps (0,0), (1,0), (1,1), (0,1) onto `corners` in that order (Heckbert's square-to-quad).
    pub fn unit_to(corners: [(f64, f64); 4]) -> Option<Self> {
        let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = corners;
        let dx3 = x0 - x1 + x2 - x3;
        let dy3 = y0 - y1 + y2 - y3;
        let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
        let den = dx1 * dy2 - dx2 * dy1;
        if den.abs() < 1e-9 {
            return None;
        }
        let g = (dx3 * dy2 - dx2 * dy3) / den;
        let h = (dx1 * dy3 - dx3 * dy1) / den;
        // Column vectors: x' = (a u + b v + c) / (g u + h v + 1), likewise y'.
        let m = [x1 - x0 + g * x1, x3 - x0 + h * x3, x0, y1 - y0 + g * y1, y3 - y0 + h * y3, y0, g, h, 1.0];
        m.iter().all(|v| v.is_finite()).then_some(Homography { m })
    }

    /// Maps the quadrilateral `from` onto `to`, corner by corner.
    pub fn between(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<Self> {
        let a = Homography::unit_to(from)?.inverse()?;
        let b = Homography::unit_to(to)?;
        Some(b.compose(&a))
    }

    /// `self ∘ other`: apply `other` first.
    fn compose(&self, other: &Homography) -> Homography {
        let (a, b) = (&self.m, &other.m);
        let mut m = [0.0; 9];
        for r in 0..3 {
            for c in 0..3 {
                m[r * 3 + c] = (0..3).map(|k| a[r * 3 + k] * b[k * 3 + c]).sum();
            }
        }
        Homography { m }
    }

    fn inverse(&self) -> Option<Homography> {
        let m = &self.m;
        let cof = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        let det = m[0] * cof[0] + m[1] * cof[3] + m[2] * cof[6];
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        Some(Homography { m: cof.map(|v| v / det) })
    }

    /// The image of point (u, v).
    pub fn map(&self, u: f64, v: f64) -> (f64, f64) {
        let m = &self.m;
        let w = m[6] * u + m[7] * v + m[8];
        let w = if w.abs() < 1e-12 { 1e-12 } else { w };
        ((m[0] * u + m[1] * v + m[2]) / w, (m[3] * u + m[4] * v + m[5]) / w)
    }
}

/// The corners of a `size`-module square in module coordinates.
pub(crate) fn module_square(size: usize) -> [(f64, f64); 4] {
    let n = size as f64;
    [(0.0, 0.0), (n, 0.0), (n, n), (0.0, n)]
}

/// How a sampled cell is judged dark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threshold {
    /// The binariser's local threshold at the cell.
    Local,
    /// The mean of all cells' samples: robust where the binariser's blocks straddle the code edge.
    CodeMean,
}

/// A grid sampled lazily from the grey image (rqrr gives up at the format bits of a bad read, so
/// most cells of a false detection are never sampled).
pub(crate) struct SampledGrid<'a> {
    size: usize,
    transform: Homography,
    grey: &'a Grey,
    binariser: &'a Binariser,
    threshold: Threshold,
    invert: bool,
    code_mean: f64,
    /// 0 = not sampled yet, 1 = light, 2 = dark.
    cells: Vec<Cell<u8>>,
}

impl<'a> SampledGrid<'a> {
    /// A `size`×`size` grid; `transform` maps module coordinates (cell (x, y) spans x..x+1,
    /// y..y+1) into `grey`; `invert` reads a light-on-dark code.
    pub fn new(
        grey: &'a Grey,
        binariser: &'a Binariser,
        transform: Homography,
        size: usize,
        threshold: Threshold,
        invert: bool,
    ) -> Option<Self> {
        if !(21..=177).contains(&size) {
            return None;
        }
        let mut grid = SampledGrid {
            size,
            transform,
            grey,
            binariser,
            threshold,
            invert,
            code_mean: 0.0,
            cells: (0..size * size).map(|_| Cell::new(0)).collect(),
        };
        if threshold == Threshold::CodeMean {
            // A sparse 9×9 lattice of cells is enough to place the mean between the two inks.
            let mut sum = 0.0;
            let mut n = 0.0;
            for i in 0..9 {
                for j in 0..9 {
                    let side = size as f64;
                    let (u, v) = ((j as f64 + 0.5) * side / 9.0, (i as f64 + 0.5) * side / 9.0);
                    let (x, y) = transform.map(u, v);
                    sum += grey.sample(x, y);
                    n += 1.0;
                }
            }
            grid.code_mean = sum / n;
        }
        Some(grid)
    }
}

impl BitGrid for SampledGrid<'_> {
    fn size(&self) -> usize {
        self.size
    }

    fn bit(&self, y: usize, x: usize) -> bool {
        let Some(cell) = self.cells.get(y * self.size + x) else { return false };
        match cell.get() {
            1 => return false,
            2 => return true,
            _ => {}
        }
        let (px, py) = self.transform.map(x as f64 + 0.5, y as f64 + 0.5);
        let value = self.grey.sample(px, py);
        let threshold = match self.threshold {
            Threshold::Local => {
                let (cx, cy) = (px.max(0.0) as usize, py.max(0.0) as usize);
                f64::from(self.binariser.threshold_at(cx, cy))
            }
            Threshold::CodeMean => self.code_mean,
        };
        // A light-on-dark code reads as its negative.
        let dark = (value <= threshold) != self.invert;
        cell.set(if dark { 2 } else { 1 });
        dark
    }
}

/// The code's outer corners in image coordinates from rqrr's bounds, which rqrr places one
/// module beyond the code on the right and bottom (it maps cells 0 and `size + 1`).
pub(crate) fn code_corners(bounds: &[rqrr::Point; 4], size: usize) -> Option<[(f64, f64); 4]> {
    let pts = bounds.map(|p| (f64::from(p.x), f64::from(p.y)));
    let h = Homography::between(module_square(size + 1), pts)?;
    let n = size as f64;
    Some([h.map(0.0, 0.0), h.map(n, 0.0), h.map(n, n), h.map(0.0, n)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_maps_corners_and_rejects_degenerate() {
        let corners = [(10.0, 10.0), (110.0, 20.0), (120.0, 130.0), (5.0, 100.0)];
        let from = [(3.5, 3.5), (21.5, 3.5), (18.5, 18.5), (3.5, 21.5)];
        let h = Homography::between(from, corners).expect("non-degenerate");
        for ((u, v), (x, y)) in from.into_iter().zip(corners) {
            let (mx, my) = h.map(u, v);
            assert!((mx - x).abs() < 1e-6 && (my - y).abs() < 1e-6, "{mx},{my} vs {x},{y}");
        }
        assert!(Homography::unit_to([(0.0, 0.0); 4]).is_none());
    }
}
