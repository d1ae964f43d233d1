//! A fast finder-pattern locator in front of rqrr: scans a small binarised copy of the frame
//! for 1:1:3:1:1 runs (checked across as well), clusters them, and returns the regions that can
//! hold a code with their module size. rqrr then runs only on those regions, at a scale chosen
//! for the module size, which is both far cheaper than running it on the whole frame and finds
//! codes of only 2–3 pixels per module that rqrr misses on its own.

/// A finder-pattern candidate, in the coordinates of the image that was scanned.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    x: f32,
    y: f32,
    module: f32,
    hits: u32,
}

/// A region worth handing to rqrr, in the scanned image's coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Region {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
    /// Estimated module size in pixels.
    pub module: f32,
    /// Finder centres: the right-angle corner first.
    pub finders: [(f32, f32); 3],
}

/// Beyond this many candidates the scene is too busy to cluster cheaply; callers fall back to
/// whole-frame detection.
const MAX_CANDIDATES: usize = 160;
/// Candidates that enter the triple search.
const MAX_TRIPLE_CANDIDATES: usize = 40;

/// Finds regions that may hold QR codes in `bits` (1 = dark, flipped when `invert`).
///
/// Returns `None` when there are too many candidates to be useful.
#[cfg(test)]
pub(crate) fn regions(bits: &[u8], w: usize, h: usize, invert: bool) -> Option<Vec<Region>> {
    let [dark, light] = regions_both(bits, w, h);
    if invert {
        light
    } else {
        dark
    }
}

/// [`regions`] for dark codes and for light-on-dark ones, from one scan of the rows: both
/// look for the same five runs and differ only in which colour the closing run has.
pub(crate) fn regions_both(bits: &[u8], w: usize, h: usize) -> [Option<Vec<Region>>; 2] {
    let mut candidates: [Vec<Candidate>; 2] = [Vec::new(), Vec::new()];
    let mut busy = [false, false];
    let mut runs = [0usize; 5];
    for y in 0..h {
        let row = bits.get(y * w..(y + 1) * w).unwrap_or_default();
        let mut count = 0usize; // runs seen so far on this row
        let mut current = 0usize;
        let mut current_dark = false;
        for x in 0..=w {
            // Past the end of the row, a forced change closes the last run.
            let px_dark = row.get(x).map_or(!current_dark, |&b| b == 1);
            if x > 0 && px_dark == current_dark {
                current += 1;
                continue;
            }
            if x > 0 {
                runs.rotate_left(1);
                runs[4] = current;
                count += 1;
                // Five runs ending with the one just closed: dark-light-dark-light-dark for a dark
                // code, the same with the colours swapped for a light-on-dark one.
                let polarity = usize::from(!current_dark);
                if count >= 5 && !busy[polarity] && ratio_ok(&runs) {
                    let invert = polarity == 1;
                    let dark = |x: usize, y: usize| bits.get(y * w + x).is_some_and(|&b| (b == 1) != invert);
                    let total: usize = runs.iter().sum();
                    let cx = x - runs[4] - runs[3] - runs[2] / 2 - 1;
                    if let Some(c) = cross_check(&dark, cx, y, h, total) {
                        add(&mut candidates[polarity], c);
                        if candidates[polarity].len() > MAX_CANDIDATES {
                            busy[polarity] = true;
                            candidates[polarity].clear();
                        }
                    }
                }
            }
            current_dark = px_dark;
            current = 1;
        }
    }
    let finish = |mut candidates: Vec<Candidate>, busy: bool| {
        if busy {
            return None;
        }
        candidates.retain(|c| c.hits >= 2 || c.module < 2.0);
        // Real finders are hit on many rows; keep the best few for the cubic triple search.
        candidates.sort_by_key(|c| std::cmp::Reverse(c.hits));
        candidates.truncate(MAX_TRIPLE_CANDIDATES);
        Some(triples(&candidates, w, h))
    };
    let [dark, light] = candidates;
    [finish(dark, busy[0]), finish(light, busy[1])]
}

/// 1:1:3:1:1 within ZXing's tolerances, a little wider to accept blurred 3-pixel modules:
/// each outer run within 0.6 of a module (total / 7) of one module, the centre within 1.5 of
/// three. In integers, scaled by 35 and 14, because it runs at every run boundary of the frame.
fn ratio_ok(runs: &[usize; 5]) -> bool {
    let total: usize = runs.iter().sum();
    if total < 7 {
        return false;
    }
    let t = total as i64;
    let outer = |n: usize| (35 * n as i64 - 5 * t).abs() < 3 * t;
    outer(runs[0]) && outer(runs[1]) && (14 * runs[2] as i64 - 6 * t).abs() < 3 * t && outer(runs[3]) && outer(runs[4])
}

/// Confirms a horizontal hit vertically through its centre; returns the refined candidate.
fn cross_check(dark: &impl Fn(usize, usize) -> bool, x: usize, y: usize, h: usize, total: usize) -> Option<Candidate> {
    if !dark(x, y) {
        return None;
    }
    let limit = total * 2;
    // Walk up through the stone, the light ring and the dark ring; then the same downwards.
    let mut up = [0usize; 3];
    let mut yy = y as isize;
    for (i, want_dark) in [true, false, true].into_iter().enumerate() {
        while yy >= 0 && dark(x, yy as usize) == want_dark && up[i] <= limit {
            up[i] += 1;
            yy -= 1;
        }
    }
    let mut down = [0usize; 3];
    let mut yy = y + 1;
    for (i, want_dark) in [true, false, true].into_iter().enumerate() {
        while yy < h && dark(x, yy) == want_dark && down[i] <= limit {
            down[i] += 1;
            yy += 1;
        }
    }
    let runs = [up[2], up[1], up[0] + down[0], down[1], down[2]];
    if runs.contains(&0) || !ratio_ok(&runs) {
        return None;
    }
    let vtotal: usize = runs.iter().sum();
    // Horizontal and vertical extents must agree (perspective allows some difference).
    if vtotal * 2 < total || vtotal > total * 2 {
        return None;
    }
    let cy = y as f32 - up[0] as f32 + (up[0] + down[0]) as f32 / 2.0;
    Some(Candidate { x: x as f32 + 0.5, y: cy, module: (total + vtotal) as f32 / 14.0, hits: 1 })
}

fn add(candidates: &mut Vec<Candidate>, c: Candidate) {
    for existing in candidates.iter_mut() {
        let d = ((existing.x - c.x).powi(2) + (existing.y - c.y).powi(2)).sqrt();
        let (lo, hi) = (existing.module.min(c.module), existing.module.max(c.module));
        // Rows through one finder agree on its centre column and module size.
        if d <= lo * 2.0 && hi < lo * 1.5 {
            let n = existing.hits as f32;
            existing.x = (existing.x * n + c.x) / (n + 1.0);
            existing.y = (existing.y * n + c.y) / (n + 1.0);
            existing.module = (existing.module * n + c.module) / (n + 1.0);
            existing.hits += 1;
            return;
        }
    }
    candidates.push(c);
}

/// Most regions handed to rqrr per polarity; the best-supported triples come first.
const MAX_REGIONS: usize = 6;

/// Finds triples of candidates laid out like a code's three finders (an isosceles right angle,
/// allowing for perspective) and turns each into a region.
fn triples(candidates: &[Candidate], w: usize, h: usize) -> Vec<Region> {
    let n = candidates.len();
    let mut scored: Vec<(u32, Region)> = Vec::new();
    for c in 0..n {
        for a in 0..n {
            for b in (a + 1)..n {
                if a == c || b == c {
                    continue;
                }
                let (pa, pb, pc) = (candidates[a], candidates[b], candidates[c]);
                let modules = [pa.module, pb.module, pc.module];
                let (lo, hi) = modules.iter().fold((f32::MAX, 0f32), |(lo, hi), &m| (lo.min(m), hi.max(m)));
                if hi > lo * 1.6 {
                    continue;
                }
                let (ax, ay) = (pa.x - pc.x, pa.y - pc.y);
                let (bx, by) = (pb.x - pc.x, pb.y - pc.y);
                let (la, lb) = ((ax * ax + ay * ay).sqrt(), (bx * bx + by * by).sqrt());
                let module = (pa.module + pb.module + pc.module) / 3.0;
                // Finder centres are 14 (version 1) to 170 (version 40) modules apart.
                if la.min(lb) < 10.0 * module || la.max(lb) > 180.0 * module || la.max(lb) > la.min(lb) * 1.6 {
                    continue;
                }
                let cos = (ax * bx + ay * by) / (la * lb);
                if cos.abs() > 0.4 {
                    continue;
                }
                let margin = 8.0 * module;
                let xs = [pa.x, pb.x, pc.x, pa.x + pb.x - pc.x];
                let ys = [pa.y, pb.y, pc.y, pa.y + pb.y - pc.y];
                let clamp = |v: f32, max: usize| v.clamp(0.0, max as f32) as usize;
                let region = Region {
                    x0: clamp(xs.iter().copied().fold(f32::MAX, f32::min) - margin, w),
                    y0: clamp(ys.iter().copied().fold(f32::MAX, f32::min) - margin, h),
                    x1: clamp(xs.iter().copied().fold(f32::MIN, f32::max) + margin, w),
                    y1: clamp(ys.iter().copied().fold(f32::MIN, f32::max) + margin, h),
                    module,
                    finders: [(pc.x, pc.y), (pa.x, pa.y), (pb.x, pb.y)],
                };
                scored.push((pa.hits + pb.hits + pc.hits, region));
            }
        }
    }
    scored.sort_by_key(|(hits, _)| std::cmp::Reverse(*hits));
    let mut regions: Vec<Region> = Vec::new();
    for (_, region) in scored {
        // A region inside one already chosen adds nothing, unless its modules are much smaller:
        // a small code printed inside a larger one ("double QR" designs) is a code of its own.
        let covered = regions.iter().any(|r| {
            let similar = (0.6..1.6).contains(&(region.module / r.module));
            similar && r.x0 <= region.x0 && r.y0 <= region.y0 && r.x1 >= region.x1 && r.y1 >= region.y1
        });
        if !covered {
            regions.push(region);
        }
        if regions.len() == MAX_REGIONS {
            break;
        }
    }
    regions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draws a finder pattern (7×7 modules) with its top-left at (x, y).
    fn finder(bits: &mut [u8], w: usize, x: usize, y: usize, m: usize) {
        for dy in 0..7 * m {
            for dx in 0..7 * m {
                let (i, j) = (dy / m, dx / m);
                let ring = i == 0 || i == 6 || j == 0 || j == 6;
                let stone = (2..=4).contains(&i) && (2..=4).contains(&j);
                bits[(y + dy) * w + x + dx] = u8::from(ring || stone);
            }
        }
    }

    #[test]
    fn finds_three_finders_as_one_region() {
        let (w, h, m) = (200, 160, 3);
        let mut bits = vec![0u8; w * h];
        finder(&mut bits, w, 40, 30, m);
        finder(&mut bits, w, 40 + 18 * m, 30, m);
        finder(&mut bits, w, 40, 30 + 18 * m, m);
        let found = regions(&bits, w, h, false).expect("few candidates");
        assert_eq!(found.len(), 1);
        let r = found[0];
        assert!((r.module - 3.0).abs() < 0.6, "{r:?}");
        assert!(r.x0 < 40 && r.y0 < 30 && r.x1 > 40 + 25 * m && r.y1 > 30 + 25 * m, "{r:?}");
        assert!(regions(&bits, w, h, true).expect("few").is_empty());
        assert!(regions(&vec![0; w * h], w, h, false).expect("none").is_empty());
    }

    #[test]
    fn a_small_code_inside_a_large_one_is_a_region_of_its_own() {
        let (w, h) = (400, 400);
        let mut bits = vec![0u8; w * h];
        // A large code (6-pixel modules, finders 30 modules apart) with a small one (2-pixel
        // modules) in its middle, as "double QR" designs print them.
        finder(&mut bits, w, 20, 20, 6);
        finder(&mut bits, w, 20 + 30 * 6, 20, 6);
        finder(&mut bits, w, 20, 20 + 30 * 6, 6);
        finder(&mut bits, w, 150, 150, 2);
        finder(&mut bits, w, 150 + 20 * 2, 150, 2);
        finder(&mut bits, w, 150, 150 + 20 * 2, 2);
        let found = regions(&bits, w, h, false).expect("few candidates");
        let mut modules: Vec<f32> = found.iter().map(|r| r.module.round()).collect();
        modules.sort_by(f32::total_cmp);
        assert_eq!(modules, [2.0, 6.0], "{found:?}");
    }
}
