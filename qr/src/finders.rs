//! Builds sampling grids straight from three located finder patterns, refined by the alignment
//! pattern where the version has one. When such a grid decodes, rqrr's detection (whose
//! perspective search costs milliseconds per code) is skipped.

use super::sample::Homography;
use super::scale::Grey;

/// Three finder-pattern centres of one code and its module size, in a pass's grey coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FinderTriple {
    /// The finder at the right-angle corner (top-left in the code's own orientation).
    pub corner: (f64, f64),
    /// The other two finders, in either order.
    pub a: (f64, f64),
    /// See `a`.
    pub b: (f64, f64),
    /// Module size in pixels.
    pub module: f64,
}

/// A candidate grid: four module-space points and where they are in the image.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GridGuess {
    /// Symbol size in modules.
    pub size: usize,
    /// Module-space points: the three finder centres and a fourth (alignment pattern or
    /// bottom-right finder-equivalent) at index 2.
    pub modules: [(f64, f64); 4],
    /// Their image positions.
    pub image: [(f64, f64); 4],
    /// Module size in pixels.
    pub module: f64,
}

impl GridGuess {
    /// The module-to-image transform, with the fourth point moved by (`dx`, `dy`) modules.
    pub fn transform(&self, dx: f64, dy: f64) -> Option<Homography> {
        let mut image = self.image;
        image[2].0 += dx * self.module;
        image[2].1 += dy * self.module;
        Homography::between(self.modules, image)
    }
}

/// Three finders measured on a pass's pixels: re-centred, oriented, with the module size taken
/// along the lines between them and the version that spacing suggests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MeasuredFinders {
    tl: (f64, f64),
    tr: (f64, f64),
    bl: (f64, f64),
    module: f64,
    version: usize,
}

impl MeasuredFinders {
    /// Measures the locator's triple on this pass's pixels; `None` for a degenerate one.
    pub fn new(bits: &[u8], width: usize, t: &FinderTriple, invert: bool) -> Option<Self> {
        // The locator's centres come from a smaller copy; re-centre them on this pass's pixels.
        let dark = |x: isize, y: isize| {
            x >= 0
                && y >= 0
                && (x as usize) < width
                && bits.get(y as usize * width + x as usize).is_some_and(|&b| (b == 1) != invert)
        };
        let t = &FinderTriple {
            corner: recentre(&dark, t.corner, t.module),
            a: recentre(&dark, t.a, t.module),
            b: recentre(&dark, t.b, t.module),
            module: t.module,
        };
        // The locator's module size comes from horizontal and vertical runs, which a rotated code
        // stretches (by up to √2 at 45°); measure along the lines between the finders instead.
        let along = [
            module_along(&dark, t.corner, t.a),
            module_along(&dark, t.a, t.corner),
            module_along(&dark, t.corner, t.b),
            module_along(&dark, t.b, t.corner),
        ];
        let measured: Vec<f64> =
            along.into_iter().flatten().filter(|m| *m > t.module * 0.4 && *m < t.module * 1.6).collect();
        let module = if measured.len() >= 2 { measured.iter().sum::<f64>() / measured.len() as f64 } else { t.module };
        if module <= 0.0 {
            return None;
        }
        let tl = t.corner;
        // The top-right finder is clockwise from the bottom-left one (y grows downwards).
        let cross = (t.a.0 - tl.0) * (t.b.1 - tl.1) - (t.a.1 - tl.1) * (t.b.0 - tl.0);
        let (tr, bl) = if cross > 0.0 { (t.a, t.b) } else { (t.b, t.a) };
        let dist = |p: (f64, f64), q: (f64, f64)| ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
        let modules_between = (dist(tl, tr) + dist(tl, bl)) / 2.0 / module;
        let estimate = modules_between + 7.0;
        let version = ((estimate - 17.0) / 4.0).round().clamp(1.0, 40.0) as usize;
        Some(MeasuredFinders { tl, tr, bl, module, version })
    }

    /// The versions worth trying: the estimate and its neighbours, those whose timing patterns
    /// read best first (a module size off by 5 % already moves the estimate by one version).
    pub fn versions(&self, grey: &Grey, bits: &[u8], invert: bool) -> Vec<usize> {
        let v = self.version;
        let mut scored: Vec<(usize, f64)> = [v, v.saturating_sub(1), v + 1]
            .into_iter()
            .filter(|v| (1..=40).contains(v))
            .map(|version| {
                let guess = self.affine(version);
                let fit = guess.transform(0.0, 0.0).map_or(0.0, |h| timing_fit(&h, guess.size, grey, bits, invert));
                (version, fit)
            })
            .collect();
        // Stable: equal fits keep the estimate first.
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.into_iter().map(|(version, _)| version).collect()
    }

    /// Where `version` stands among the versions the finders' spacing suggests: the estimate
    /// 0, the one below 1, the one above 2.
    pub fn estimate_rank(&self, version: usize) -> usize {
        if version == self.version {
            0
        } else if version < self.version {
            1
        } else {
            2
        }
    }

    /// The parallelogram the three finders span, read as a symbol of `version`.
    fn affine(&self, version: usize) -> GridGuess {
        let MeasuredFinders { tl, tr, bl, module, .. } = *self;
        let size = 17 + 4 * version;
        let n = size as f64;
        let finder_pts = [(3.5, 3.5), (n - 3.5, 3.5), (n - 3.5, n - 3.5), (3.5, n - 3.5)];
        let br = (tr.0 + bl.0 - tl.0, tr.1 + bl.1 - tl.1);
        GridGuess { size, modules: finder_pts, image: [tl, tr, br, bl], module }
    }

    /// Candidate grids for `version`, most likely first: the alignment-pattern candidates where
    /// the version has one, then the parallelogram the three finders span.
    pub fn guesses(&self, grey: &Grey, version: usize, invert: bool) -> Vec<GridGuess> {
        let MeasuredFinders { tl, tr, bl, module, .. } = *self;
        let affine = self.affine(version);
        let (size, n) = (affine.size, affine.size as f64);
        let mut out = Vec::new();
        if version >= 2 {
            if let Some(expected) = affine.transform(0.0, 0.0).map(|h| h.map(n - 6.5, n - 6.5)) {
                // Blotchy prints and strong perspective can make a data pattern look more like the
                // alignment pattern than the real one: keep the best few candidates.
                let modules = [(3.5, 3.5), (n - 3.5, 3.5), (n - 6.5, n - 6.5), (3.5, n - 3.5)];
                for ap in alignment_candidates(grey, expected, module, invert) {
                    out.push(GridGuess { size, modules, image: [tl, tr, ap, bl], module });
                }
            }
        }
        out.push(affine);
        out
    }
}

/// The offset, in modules, of the guess's fourth point that best fits the function patterns
/// every symbol has (three finders and two timing lines), searched over ±4 modules.
///
/// Those patterns sit near the three fixed finders and hardly constrain the fourth point, so
/// among the offsets that fit them equally well the one whose cell centres land on the clearest
/// module centres wins (the largest spread of sampled grey levels), then the smallest move.
pub(crate) fn best_fourth_point(guess: &GridGuess, grey: &Grey, bits: &[u8], invert: bool) -> (f64, f64) {
    let mut fits: Vec<(i64, i32, i32)> = Vec::with_capacity(17 * 17);
    for iy in -8i32..=8 {
        for ix in -8i32..=8 {
            let Some(h) = guess.transform(f64::from(ix) * 0.5, f64::from(iy) * 0.5) else { continue };
            fits.push((fitness(&h, guess.size, grey, bits, invert), ix, iy));
        }
    }
    let Some(top) = fits.iter().map(|f| f.0).max() else { return (0.0, 0.0) };
    let mut best = (i64::MIN, (0.0, 0.0));
    for &(_, ix, iy) in fits.iter().filter(|f| f.0 == top) {
        let (dx, dy) = (f64::from(ix) * 0.5, f64::from(iy) * 0.5);
        let Some(h) = guess.transform(dx, dy) else { continue };
        let score = sample_spread(&h, guess.size, grey) * 64 - i64::from(ix.abs() + iy.abs());
        if score > best.0 {
            best = (score, (dx, dy));
        }
    }
    best.1
}

/// The variance of the grey levels sampled at every cell centre, scaled to an integer: highest
/// when the samples fall on module centres rather than on the edges between modules.
fn sample_spread(h: &Homography, size: usize, grey: &Grey) -> i64 {
    let (mut sum, mut sum_sq, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for row in 0..size {
        for col in 0..size {
            let (x, y) = h.map(col as f64 + 0.5, row as f64 + 0.5);
            if x < 0.0 || y < 0.0 || x >= grey.width as f64 || y >= grey.height as f64 {
                continue;
            }
            let v = grey.sample(x, y);
            sum += v;
            sum_sq += v * v;
            n += 1.0;
        }
    }
    if n == 0.0 {
        return 0;
    }
    let mean = sum / n;
    ((sum_sq / n - mean * mean) / 16.0) as i64
}

/// The share of the two timing lines' cells that read as they must (alternating dark and light).
fn timing_fit(h: &Homography, size: usize, grey: &Grey, bits: &[u8], invert: bool) -> f64 {
    let dark_at = |col: usize, row: usize| {
        let (x, y) = h.map(col as f64 + 0.5, row as f64 + 0.5);
        if x < 0.0 || y < 0.0 || x >= grey.width as f64 || y >= grey.height as f64 {
            return None;
        }
        bits.get(y as usize * grey.width + x as usize).map(|&b| (b == 1) != invert)
    };
    let (mut right, mut total) = (0u32, 0u32);
    for i in 8..size.saturating_sub(8) {
        for (col, row) in [(i, 6), (6, i)] {
            total += 1;
            right += u32::from(dark_at(col, row) == Some(i % 2 == 0));
        }
    }
    if total == 0 {
        0.0
    } else {
        f64::from(right) / f64::from(total)
    }
}

/// How many function-pattern cells read as they must: the finders' rings and stones and the
/// alternating timing lines.
fn fitness(h: &Homography, size: usize, grey: &Grey, bits: &[u8], invert: bool) -> i64 {
    let dark_at = |col: usize, row: usize| {
        let (x, y) = h.map(col as f64 + 0.5, row as f64 + 0.5);
        if x < 0.0 || y < 0.0 || x >= grey.width as f64 || y >= grey.height as f64 {
            return None;
        }
        let i = y as usize * grey.width + x as usize;
        bits.get(i).map(|&b| (b == 1) != invert)
    };
    let mut score = 0i64;
    let mut check = |col: usize, row: usize, want: bool| {
        if dark_at(col, row) == Some(want) {
            score += 1;
        }
    };
    for (ox, oy) in [(0, 0), (size - 7, 0), (0, size - 7)] {
        for r in 0..7 {
            for c in 0..7 {
                let ring = r == 0 || r == 6 || c == 0 || c == 6;
                let stone = (2..=4).contains(&r) && (2..=4).contains(&c);
                check(ox + c, oy + r, ring || stone);
            }
        }
    }
    for i in 8..size.saturating_sub(8) {
        check(i, 6, i % 2 == 0);
        check(6, i, i % 2 == 0);
    }
    score
}

/// Moves a finder centre to the middle of its stone (the 3×3-module dark centre), measured
/// across and then down, twice; keeps the estimate if the stone is not where expected.
fn recentre(dark: &impl Fn(isize, isize) -> bool, (x, y): (f64, f64), module: f64) -> (f64, f64) {
    let max_run = (module * 5.0).ceil() as isize + 2;
    let (mut cx, mut cy) = (x, y);
    for _ in 0..2 {
        let (px, py) = (cx.floor() as isize, cy.floor() as isize);
        if !dark(px, py) {
            return (x, y);
        }
        let span = |step: (isize, isize)| {
            let mut n = 0;
            while n < max_run && dark(px + step.0 * (n + 1), py + step.1 * (n + 1)) {
                n += 1;
            }
            n
        };
        let (left, right) = (span((-1, 0)), span((1, 0)));
        let width = (left + right + 1) as f64;
        if width < module * 1.5 || width > module * 5.0 {
            return (x, y);
        }
        cx = (px - left) as f64 + width / 2.0;
        let px = cx.floor() as isize;
        let span_v = |dir: isize| {
            let mut n = 0;
            while n < max_run && dark(px, py + dir * (n + 1)) {
                n += 1;
            }
            n
        };
        if !dark(px, py) {
            return (x, y);
        }
        let (up, down) = (span_v(-1), span_v(1));
        let height = (up + down + 1) as f64;
        if height < module * 1.5 || height > module * 5.0 {
            return (x, y);
        }
        cy = (py - up) as f64 + height / 2.0;
    }
    (cx, cy)
}

/// Module size of the finder at `from`, measured on the line towards `to` and away from it:
/// each way, the stone, the light ring and the dark ring end 3.5 modules from the centre.
fn module_along(dark: &impl Fn(isize, isize) -> bool, from: (f64, f64), to: (f64, f64)) -> Option<f64> {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 1.0 {
        return None;
    }
    let (ux, uy) = (dx / len * 0.5, dy / len * 0.5);
    let reach = |sign: f64| -> Option<f64> {
        let mut expect_dark = true;
        let mut transitions = 0;
        let max_steps = (len.min(400.0) * 2.0) as usize;
        for i in 0..max_steps {
            let (x, y) = (from.0 + sign * ux * i as f64, from.1 + sign * uy * i as f64);
            if dark(x.floor() as isize, y.floor() as isize) != expect_dark {
                transitions += 1;
                expect_dark = !expect_dark;
                if transitions == 3 {
                    return Some(i as f64 * 0.5);
                }
            }
        }
        None
    };
    Some((reach(1.0)? + reach(-1.0)?) / 7.0)
}

/// Alignment-pattern candidates searched for.
const ALIGNMENT_CANDIDATES: usize = 3;

/// Searches up to 5 modules around `expected` for alignment patterns (dark centre module, light
/// ring, dark ring) and returns the centres of the best few, at least a module apart, best first.
fn alignment_candidates(grey: &Grey, expected: (f64, f64), module: f64, invert: bool) -> Vec<(f64, f64)> {
    let step = (module / 3.0).max(1.0);
    let reach = 5.0 * module;
    let steps = (reach / step).ceil() as i32;
    let darkness = |x: f64, y: f64| {
        let v = grey.sample(x, y);
        if invert {
            v
        } else {
            255.0 - v
        }
    };
    let ring = |x: f64, y: f64, r: f64| {
        let offsets =
            [(-1.0, -1.0), (0.0, -1.0), (1.0, -1.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (-1.0, 1.0), (-1.0, 0.0)];
        offsets.iter().map(|(dx, dy)| darkness(x + dx * r, y + dy * r)).sum::<f64>() / 8.0
    };
    let mut scored: Vec<(f64, (f64, f64))> = Vec::new();
    for iy in -steps..=steps {
        for ix in -steps..=steps {
            let (x, y) = (expected.0 + f64::from(ix) * step, expected.1 + f64::from(iy) * step);
            let centre = darkness(x, y);
            let light = ring(x, y, module);
            let outer = ring(x, y, 2.0 * module);
            // Both dark parts must be darker than the light ring between them.
            let score = (centre - light).min(outer - light);
            // Prefer the candidate nearest the estimate among near-equal scores.
            let penalty = (f64::from(ix * ix + iy * iy)).sqrt() * step / module;
            let score = score - penalty;
            if score > 12.0 {
                scored.push((score, (x, y)));
            }
        }
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut chosen: Vec<(f64, f64)> = Vec::new();
    for (_, p) in scored {
        if chosen.iter().all(|q| (p.0 - q.0).hypot(p.1 - q.1) >= module) {
            chosen.push(p);
            if chosen.len() == ALIGNMENT_CANDIDATES {
                break;
            }
        }
    }
    chosen
}
