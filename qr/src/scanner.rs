//! The scanning strategy around rqrr: locate finder patterns on a small copy, read each located
//! code straight from its finders or with rqrr on its region at a suitable scale, fall back to
//! whole-frame rqrr passes; every rqrr call is guarded so that its panics never reach the caller.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rqrr::{BitGrid, PreparedImage};

use super::append::merge_in_place;
use super::binarize::Binariser;
use super::bitstream::{self, Parsed};
use super::code::QrCode;
use super::codewords::{self, EcLevel};
use super::error::QrError;
use super::finders::{self, FinderTriple};
use super::frame::{to_upright, Frame, QrPoint, Rotation};
use super::locate;
use super::sample::{code_corners, module_square, Homography, SampledGrid, Threshold};
use super::scale::{double, shrink, Grey, Rect};

/// How hard the scanner tries on each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ScanMode {
    /// Live camera frames: the finder locator on every frame (dark and light-on-dark codes), and
    /// while nothing is found one whole-frame rqrr pass every third frame, in turn (the next
    /// frame is only 33 ms away).
    #[default]
    Camera,
    /// Single images: the locator at several scales, then every whole-frame pass, until one
    /// finds a code.
    Still,
}

/// Long side, in pixels, of the small copy the locator scans; finder patterns of codes a camera
/// is pointed at still span several pixels there.
const LOCATE_LONG_SIDE: usize = 800;
/// Long side of the whole-frame fallback passes' main scale.
const FALLBACK_LONG_SIDE: usize = 1000;
/// Images up to this long side also get a pass at double size, for codes of 2–3 pixels per module.
const DOUBLE_UP_TO: usize = 1200;
/// Thumbnails up to this long side also get one at four times the size (a pixel per module).
const QUADRUPLE_UP_TO: usize = 200;
/// Module size, in pixels, that region passes shrink towards: rqrr is reliable from about 4.
const TARGET_MODULE: f32 = 4.0;
/// Module size, in pixels of the locator's copy, from which a code is read from that copy
/// directly before its region is rendered at a better scale.
const DIRECT_MIN_MODULE: f32 = 2.5;
/// In camera mode, one whole-frame fallback pass runs every this many frames that found nothing.
const CAMERA_FALLBACK_EVERY: u64 = 3;

/// The scale of a working copy relative to the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// Shrunk by an integer factor (1 = full size).
    Shrink(usize),
    /// Enlarged by 2 or 4, for codes of only a pixel or two per module.
    Enlarge(usize),
}

impl Scale {
    /// Frame pixels per working-copy pixel.
    fn frame_px(self) -> f64 {
        match self {
            Scale::Shrink(f) => f.max(1) as f64,
            Scale::Enlarge(u) => 1.0 / u.max(1) as f64,
        }
    }

    /// The scale that brings a module of `module` frame pixels near rqrr's comfortable size.
    fn for_module(module: f32) -> Self {
        if module < 1.3 {
            Scale::Enlarge(4)
        } else if module < 2.5 {
            Scale::Enlarge(2)
        } else {
            Scale::Shrink(((module / TARGET_MODULE) as usize).max(1))
        }
    }
}

/// Renders `rect` of `frame` at `scale`, using `a` and `b` as buffers; returns the one holding it.
fn render<'g>(frame: &Frame<'_>, rect: Rect, scale: Scale, a: &'g mut Grey, b: &'g mut Grey) -> &'g Grey {
    match scale {
        Scale::Shrink(f) => {
            shrink(frame, rect, f, a);
            a
        }
        Scale::Enlarge(u) => {
            shrink(frame, rect, 1, a);
            let (mut src, mut dst) = (a, b);
            for _ in 0..u.max(1).trailing_zeros() {
                double(src, dst);
                std::mem::swap(&mut src, &mut dst);
            }
            src
        }
    }
}

/// One detection attempt: a rectangle of the frame at a scale and polarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pass {
    rect: Rect,
    /// Scale of the working copy.
    scale: Scale,
    /// Look for light-on-dark codes.
    invert: bool,
}

/// A QR scanner that keeps its working buffers across frames.
///
/// Create one per camera stream and call [`scan_frame`](Self::scan_frame) for each frame.
#[derive(Debug, Default)]
pub struct QrScanner {
    mode: ScanMode,
    locate_grey: Grey,
    locate_bits: Vec<u8>,
    /// The binariser of the locator's copy, kept apart so that codes can be read from that copy
    /// while region passes binarise theirs.
    locate_binariser: Binariser,
    grey: Grey,
    doubled: Grey,
    bits: Vec<u8>,
    binariser: Binariser,
    frames: u64,
}

/// A decode of one grid, before it becomes a [`QrCode`].
struct Hit {
    parsed: Parsed,
    version: u8,
    ec_level: EcLevel,
    /// Outer corners in the pass's grey-image coordinates.
    corners: [(f64, f64); 4],
}

impl QrScanner {
    /// A scanner for camera frames ([`ScanMode::Camera`]).
    pub fn new() -> Self {
        Self::with_mode(ScanMode::Camera)
    }

    /// A scanner with the given mode.
    pub fn with_mode(mode: ScanMode) -> Self {
        QrScanner { mode, ..Self::default() }
    }

    /// Finds every QR code in an 8-bit luma plane (a camera's Y plane, or a grey image).
    ///
    /// `row_stride` is the distance in bytes between rows (at least `width`); the last row may
    /// end right after its pixels. `rotation` only sets the coordinates of the reported corners.
    /// Complete structured-append sequences come back merged into one result.
    ///
    /// # Errors
    /// A [`QrError`] for zero or oversized dimensions, a stride below the width, or a buffer too
    /// short for the geometry. Finding nothing is `Ok` with an empty list.
    pub fn scan_frame(
        &mut self,
        luma: &[u8],
        width: u32,
        height: u32,
        row_stride: u32,
        rotation: Rotation,
    ) -> Result<Vec<QrCode>, QrError> {
        let frame = Frame::new(luma, width, height, row_stride)?;
        let frame_index = self.frames;
        self.frames = self.frames.wrapping_add(1);
        let mut found = Vec::new();
        let long = frame.width.max(frame.height);
        let short = frame.width.min(frame.height);
        let main = long.div_ceil(LOCATE_LONG_SIDE).max(1);
        let mut busy = self.scan_located(&frame, Scale::Shrink(main), rotation, &mut found);
        if self.mode == ScanMode::Still {
            // Doubling helps codes of 2–3 pixels per module; halving averages away noise and blur
            // that break finder patterns into pieces.
            let mut retries = Vec::new();
            if long <= DOUBLE_UP_TO {
                retries.push(Scale::Enlarge(2));
            }
            if long <= QUADRUPLE_UP_TO {
                retries.push(Scale::Enlarge(4));
            }
            if short / (main * 2) >= 100 {
                retries.push(Scale::Shrink(main * 2));
            }
            for scale in retries {
                if !found.is_empty() {
                    break;
                }
                busy |= self.scan_located(&frame, scale, rotation, &mut found);
            }
        }
        if found.is_empty() {
            let fallbacks = self.fallback_plan(&frame);
            let chosen: Vec<Pass> = match self.mode {
                ScanMode::Still => fallbacks,
                // A busy scene defeats the locator, so it gets the main whole-frame pass every frame.
                ScanMode::Camera if busy => fallbacks.into_iter().take(1).collect(),
                ScanMode::Camera if frame_index.is_multiple_of(CAMERA_FALLBACK_EVERY) => {
                    let turn = (frame_index / CAMERA_FALLBACK_EVERY) as usize % fallbacks.len().max(1);
                    fallbacks.get(turn).copied().into_iter().collect()
                }
                ScanMode::Camera => Vec::new(),
            };
            for pass in chosen {
                self.run_pass(&frame, pass, None, rotation, &mut found);
                if !found.is_empty() {
                    break;
                }
            }
        }
        merge_in_place(&mut found);
        Ok(found)
    }

    /// Locates finder patterns on a small copy and runs rqrr on each region found, dark codes
    /// first, then light-on-dark ones. Returns whether the scene was too busy for the locator.
    ///
    /// `scale` is that of the copy the locator scans.
    fn scan_located(&mut self, frame: &Frame<'_>, scale: Scale, rotation: Rotation, found: &mut Vec<QrCode>) -> bool {
        // Frame pixels per locate pixel.
        let factor = scale.frame_px() as f32;
        let located = render(frame, Rect::of(frame), scale, &mut self.locate_grey, &mut self.grey);
        self.locate_binariser.run(located, &mut self.locate_bits);
        // A shrunk copy lives in `locate_grey`, which region passes leave alone, so codes with
        // modules large enough there can be read from it directly.
        let direct = matches!(scale, Scale::Shrink(_));
        let (w, h) = (located.width, located.height);
        let mut busy = false;
        let mut both = locate::regions_both(&self.locate_bits, w, h);
        for invert in [false, true] {
            let Some(regions) = both[usize::from(invert)].take() else {
                busy = true;
                continue;
            };
            for region in regions {
                let module = region.module * factor;
                let pass_scale_kind = Scale::for_module(module);
                let to_frame_px = |v: usize| (v as f32 * factor) as usize;
                let rect = Rect {
                    x0: to_frame_px(region.x0),
                    y0: to_frame_px(region.y0),
                    x1: to_frame_px(region.x1).min(frame.width),
                    y1: to_frame_px(region.y1).min(frame.height),
                };
                // Finder centres from locate coordinates into the pass's grey coordinates.
                let pass_scale = pass_scale_kind.frame_px();
                let to_pass = |(x, y): (f32, f32)| {
                    (
                        (f64::from(x * factor) - rect.x0 as f64) / pass_scale,
                        (f64::from(y * factor) - rect.y0 as f64) / pass_scale,
                    )
                };
                let triple = FinderTriple {
                    corner: to_pass(region.finders[0]),
                    a: to_pass(region.finders[1]),
                    b: to_pass(region.finders[2]),
                    module: f64::from(module) / pass_scale,
                };
                // A region whose finders all lie inside a code already decoded adds nothing.
                let in_frame =
                    |(x, y): (f32, f32)| to_upright(rotation, frame.width, frame.height, x * factor, y * factor);
                // (A much smaller code inside a larger one, as in "double QR" designs, is still read.)
                if found.iter().any(|c| {
                    let ratio = code_module(c) / module;
                    (0.6..1.6).contains(&ratio) && region.finders.iter().all(|&p| inside(&c.corners, in_frame(p)))
                }) {
                    continue;
                }
                if direct && region.module >= DIRECT_MIN_MODULE {
                    // Most camera codes read straight from the locator's copy, which saves
                    // rendering and binarising the region again.
                    let at = |(x, y): (f32, f32)| (f64::from(x), f64::from(y));
                    let triple = FinderTriple {
                        corner: at(region.finders[0]),
                        a: at(region.finders[1]),
                        b: at(region.finders[2]),
                        module: f64::from(region.module),
                    };
                    let (grey, bits, binariser) = (&self.locate_grey, &self.locate_bits, &self.locate_binariser);
                    let hit = catch_unwind(AssertUnwindSafe(|| {
                        decode_from_finders(&triple, grey, bits, binariser, invert, Effort::Quick)
                    }));
                    if let Ok(Some(hit)) = hit {
                        let to_frame = |(x, y): (f64, f64)| {
                            to_upright(
                                rotation,
                                frame.width,
                                frame.height,
                                (x * f64::from(factor)) as f32,
                                (y * f64::from(factor)) as f32,
                            )
                        };
                        add_hit(found, hit, to_frame);
                        continue;
                    }
                }
                self.run_pass(frame, Pass { rect, scale: pass_scale_kind, invert }, Some(triple), rotation, found);
            }
            if !found.is_empty() {
                break;
            }
        }
        busy
    }

    /// Whole-frame passes for what the locator missed, most promising first.
    fn fallback_plan(&self, frame: &Frame<'_>) -> Vec<Pass> {
        let rect = Rect::of(frame);
        let long = frame.width.max(frame.height);
        let short = frame.width.min(frame.height);
        let main = long.div_ceil(FALLBACK_LONG_SIDE).max(1);
        let pass = |scale, invert| Pass { rect, scale, invert };
        let mut passes = vec![pass(Scale::Shrink(main), false), pass(Scale::Shrink(main), true)];
        if main > 1 {
            passes.push(pass(Scale::Shrink(main / 2), false));
        }
        if short / (main * 2) >= 60 {
            passes.push(pass(Scale::Shrink(main * 2), false));
        }
        if main == 1 && long <= DOUBLE_UP_TO {
            passes.push(pass(Scale::Enlarge(2), false));
        }
        passes
    }

    /// Runs one pass; with a finder triple, first tries a grid built from it, then rqrr.
    fn run_pass(
        &mut self,
        frame: &Frame<'_>,
        pass: Pass,
        triple: Option<FinderTriple>,
        rotation: Rotation,
        found: &mut Vec<QrCode>,
    ) {
        let QrScanner { grey, doubled, bits, binariser, .. } = self;
        let scale = pass.scale.frame_px();
        let image: &Grey = render(frame, pass.rect, pass.scale, grey, doubled);
        binariser.run(image, bits);
        let (w, h) = (image.width, image.height);
        let bits: &[u8] = bits;
        let invert = pass.invert;
        let to_frame = |(x, y): (f64, f64)| {
            let fx = pass.rect.x0 as f64 + x * scale;
            let fy = pass.rect.y0 as f64 + y * scale;
            to_upright(rotation, frame.width, frame.height, fx as f32, fy as f32)
        };
        if let Some(triple) = triple {
            let binariser: &Binariser = binariser;
            let hit = catch_unwind(AssertUnwindSafe(|| {
                decode_from_finders(&triple, image, bits, binariser, invert, Effort::Thorough)
            }));
            if let Ok(Some(hit)) = hit {
                add_hit(found, hit, to_frame);
                return;
            }
        }
        let prepared = catch_unwind(|| {
            PreparedImage::prepare_from_bitmap(w, h, |x, y| (bits.get(y * w + x) == Some(&1)) != invert)
        });
        let Ok(mut prepared) = prepared else { return };
        let prepared = &mut prepared;
        // rqrr 0.11 panics inside detect_grids on some real photos; such a pass finds nothing.
        let Ok(grids) = catch_unwind(AssertUnwindSafe(move || {
            // Moving the borrow into the closure lets the grids borrow the image beyond it.
            let prepared = prepared;
            prepared.detect_grids()
        })) else {
            return;
        };
        let binariser: &Binariser = binariser;
        for grid in &grids {
            let hit = catch_unwind(AssertUnwindSafe(|| decode_grid(grid, image, binariser, invert)));
            let Ok(Some(hit)) = hit else { continue };
            add_hit(found, hit, to_frame);
        }
    }
}

/// How much work [`decode_from_finders`] may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effort {
    /// The grids the finders and alignment pattern give, as they are.
    Quick,
    /// Also search for the fourth corner, for strong perspective and damage.
    Thorough,
}

/// Decodes the code whose finders our locator found, without rqrr's detection.
fn decode_from_finders(
    triple: &FinderTriple,
    grey: &Grey,
    bits: &[u8],
    binariser: &Binariser,
    invert: bool,
    effort: Effort,
) -> Option<Hit> {
    let measured = finders::MeasuredFinders::new(bits, grey.width, triple, invert)?;
    let attempt = |guess: &finders::GridGuess, dx: f64, dy: f64, threshold: Threshold| -> Option<Hit> {
        let transform = guess.transform(dx, dy)?;
        let sampled = SampledGrid::new(grey, binariser, transform, guess.size, threshold, invert)?;
        let cw = codewords::read(&sampled)?;
        let parsed = bitstream::parse(&cw.data, cw.version).ok()?;
        let n = guess.size as f64;
        let corners = [transform.map(0.0, 0.0), transform.map(n, 0.0), transform.map(n, n), transform.map(0.0, n)];
        Some(Hit { parsed, version: cw.version, ec_level: cw.ec_level, corners })
    };
    // Versions one at a time: most codes read at the estimated version, and the neighbours'
    // alignment-pattern searches are the costliest part of a guess.
    let versions = measured.versions(grey, bits, invert);
    // A quick look tries only the version whose timing patterns read best.
    let tried = if effort == Effort::Quick { 1 } else { versions.len() };
    let mut tried_guesses: Vec<(usize, Vec<finders::GridGuess>)> = Vec::new();
    for &version in versions.iter().take(tried) {
        let these = measured.guesses(grey, version, invert);
        for guess in &these {
            for threshold in [Threshold::Local, Threshold::CodeMean] {
                if let Some(hit) = attempt(guess, 0.0, 0.0, threshold) {
                    return Some(hit);
                }
            }
        }
        tried_guesses.push((version, these));
    }
    if effort == Effort::Quick {
        return None;
    }
    // The searches below start from the estimated version's guesses, whatever order the timing
    // patterns suggested above.
    tried_guesses.sort_by_key(|(version, _)| measured.estimate_rank(*version));
    let guesses: Vec<finders::GridGuess> = tried_guesses.into_iter().flat_map(|(_, these)| these).collect();
    // Strong perspective moves the fourth corner away from where three finders put it: place it
    // where the finder and timing patterns fit best, then read once more.
    for guess in guesses.iter().take(2) {
        let (dx, dy) = finders::best_fourth_point(guess, grey, bits, invert);
        for threshold in [Threshold::Local, Threshold::CodeMean] {
            if let Some(hit) = attempt(guess, dx, dy, threshold) {
                return Some(hit);
            }
        }
    }
    // The fit can be fooled by damage near the finders; a small blind search around the guess
    // covers that.
    let first = guesses.first()?;
    for dy in -2..=2 {
        for dx in -2..=2 {
            if dx == 0 && dy == 0 {
                continue;
            }
            if let Some(hit) = attempt(first, f64::from(dx), f64::from(dy), Threshold::Local) {
                return Some(hit);
            }
        }
    }
    None
}

/// Decodes one located grid: first as rqrr sampled it, then re-sampled from the grey image.
fn decode_grid<G: BitGrid>(grid: &rqrr::Grid<G>, grey: &Grey, binariser: &Binariser, invert: bool) -> Option<Hit> {
    let size = grid.grid.size();
    let corners = code_corners(&grid.bounds, size)?;
    let parse = |cw: codewords::Codewords| {
        let parsed = bitstream::parse(&cw.data, cw.version).ok()?;
        Some(Hit { parsed, version: cw.version, ec_level: cw.ec_level, corners })
    };
    if let Some(hit) = codewords::read(&grid.grid).and_then(parse) {
        return Some(hit);
    }
    // rqrr's timing-pattern count can be off by one version; the corners are still right.
    for candidate in [size, size.saturating_sub(4), size + 4] {
        let Some(transform) = Homography::between(module_square(candidate), corners) else { continue };
        for threshold in [Threshold::Local, Threshold::CodeMean] {
            let Some(sampled) = SampledGrid::new(grey, binariser, transform, candidate, threshold, invert) else {
                continue;
            };
            if let Some(hit) = codewords::read(&sampled).and_then(parse) {
                return Some(hit);
            }
        }
    }
    None
}

/// Adds a decoded grid as a code, its corners mapped into the frame, unless another pass or
/// grouping already found the same symbol.
fn add_hit(found: &mut Vec<QrCode>, hit: Hit, to_frame: impl Fn((f64, f64)) -> QrPoint) {
    let code = QrCode::from_parsed(hit.parsed, hit.version, hit.ec_level, hit.corners.map(to_frame));
    if !found.iter().any(|c| is_same_code(c, &code)) {
        found.push(code);
    }
}

/// A decoded code's module size in frame pixels, from its top edge.
fn code_module(code: &QrCode) -> f32 {
    let [a, b, ..] = code.corners;
    let side = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
    side / (17.0 + 4.0 * f32::from(code.version))
}

/// Whether `p` lies inside the convex quadrilateral `quad` (either winding).
fn inside(quad: &[QrPoint; 4], p: QrPoint) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
        if cross * sign < 0.0 {
            return false;
        }
        if cross != 0.0 {
            sign = cross;
        }
    }
    true
}

/// The same symbol seen twice (by two passes, or two capstone groupings): same content, and
/// centres closer than the symbol's size.
fn is_same_code(a: &QrCode, b: &QrCode) -> bool {
    if a.bytes != b.bytes || a.structured_append != b.structured_append {
        return false;
    }
    let centre = |c: &[QrPoint; 4]| {
        let (x, y) = c.iter().fold((0.0, 0.0), |(x, y), p| (x + p.x / 4.0, y + p.y / 4.0));
        QrPoint { x, y }
    };
    let (ca, cb) = (centre(&a.corners), centre(&b.corners));
    let side = ((a.corners[0].x - a.corners[1].x).powi(2) + (a.corners[0].y - a.corners[1].y).powi(2)).sqrt();
    ((ca.x - cb.x).powi(2) + (ca.y - cb.y).powi(2)).sqrt() < side.max(1.0)
}
