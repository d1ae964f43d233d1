//! QR benchmark: sample photos (hits with the exact expected text, median ms per image) and
//! synthetic camera frames (median ms per frame), for Nyckel and for plain rqrr side by side.
//!
//! Run with `cargo bench -p nyckel-qr --bench qr` (or `scripts/bench-qr.sh`, which adds
//! ZXing-C++ on the same images). It writes every image it times as PGM under
//! `target/qr-bench/` with a manifest, so that another decoder can be timed on the very same
//! pixels. Samples come from `$NYCKEL_QR_SAMPLES`, else `../shared/qr-samples`, else the copy
//! in `qr/tests/qr-samples`.
//!
//! For investigation: `NYCKEL_QR_BENCH_VERBOSE=1` lists every photo's result,
//! `NYCKEL_QR_BENCH_ONLY=qrcode-2_16` times one photo, `NYCKEL_QR_BENCH_FRAMES_ONLY=1` skips the
//! photos, `NYCKEL_QR_BENCH_CASE=hard` keeps one frame case.

use std::fmt::Write as _;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use nyckel_qr::{decode_image, merge_structured_append, QrCode, QrScanner, Rotation, ScanMode};

const FOLDERS: [&str; 4] = ["qrcode-1", "qrcode-2", "qrcode-3", "qrcode-4"];
const FRAME_REPEATS: usize = 31;
const OTPAUTH: &str =
    "otpauth://totp/Nyckel:alice@example.org?secret=JBSWY3DPEHPK3PXP&issuer=Nyckel&algorithm=SHA1&digits=6&period=30";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let samples = sample_dir(&root);
    let out =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target")).join("qr-bench");
    fs::create_dir_all(out.join("images")).expect("create target/qr-bench");
    let mut manifest = String::new();
    let mut results = String::new();

    println!("QR samples from {}", samples.display());
    println!("{:<24} {:>7} {:>15} {:>15}", "set", "total", "nyckel hit/ms", "rqrr hit/ms");
    let only_frames = std::env::var_os("NYCKEL_QR_BENCH_FRAMES_ONLY").is_some();
    for folder in FOLDERS.iter().filter(|_| !only_frames) {
        let mut files: Vec<PathBuf> = fs::read_dir(samples.join(folder))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "png"));
        files.sort();
        let (mut ours, mut plain) = (Stats::default(), Stats::default());
        for path in &files {
            let Some(expected) = fs::read(path.with_extension("txt")).ok() else { continue };
            let Some(image) = fs::read(path).ok().and_then(|b| decode_image(&b).ok()) else { continue };
            let name = format!("{folder}_{}", path.file_stem().and_then(|s| s.to_str()).unwrap_or("x"));
            if std::env::var("NYCKEL_QR_BENCH_ONLY").is_ok_and(|only| only != name) {
                continue;
            }
            write_pgm(&out.join("images").join(format!("{name}.pgm")), &image.pixels, image.width, image.height);
            let _ = writeln!(manifest, "{folder}\timages/{name}.pgm\t{}", hex(&expected));
            let mut scanner = QrScanner::with_mode(ScanMode::Still);
            let (hit, ms) = time(3, || {
                let codes = scanner.scan_frame(&image.pixels, image.width, image.height, image.width, Rotation::Deg0);
                codes.unwrap_or_default().iter().any(|c| c.bytes_text_eq(&expected))
            });
            ours.add(hit, ms);
            if std::env::var_os("NYCKEL_QR_BENCH_VERBOSE").is_some() {
                println!("  {name}: {}", if hit { "decoded" } else { "MISSED" });
            }
            let _ = writeln!(results, "nyckel\t{folder}\t{name}\t{}\t{ms:.3}", u8::from(hit));
            let (hit, ms) =
                time(3, || plain_rqrr(&image.pixels, image.width as usize, image.height as usize, &expected));
            plain.add(hit, ms);
            let _ = writeln!(results, "rqrr\t{folder}\t{name}\t{}\t{ms:.3}", u8::from(hit));
        }
        println!("{folder:<24} {:>7} {:>15} {:>15}", files.len(), ours.show(), plain.show());
    }
    if !only_frames {
        structured_append(&samples, &out, &mut manifest, &mut results);
    }
    frames(&out, &mut manifest, &mut results);
    fs::write(out.join("manifest.tsv"), manifest).expect("write manifest");
    fs::write(out.join("results.tsv"), results).expect("write results");
    println!("wrote {}", out.display());
}

/// qrcode-7: four images, one message; merged across images as a camera app would.
fn structured_append(samples: &Path, out: &Path, manifest: &mut String, results: &mut String) {
    let dir = samples.join("qrcode-7");
    let expected = fs::read(dir.join("01.txt")).unwrap_or_default();
    let mut parts: Vec<QrCode> = Vec::new();
    let mut times = Vec::new();
    let mut plain_parts = 0;
    for i in 1..=4 {
        let Some(image) = fs::read(dir.join(format!("01-0{i}.png"))).ok().and_then(|b| decode_image(&b).ok()) else {
            continue;
        };
        let name = format!("qrcode-7_01-0{i}");
        write_pgm(&out.join("images").join(format!("{name}.pgm")), &image.pixels, image.width, image.height);
        let _ = writeln!(manifest, "qrcode-7\timages/{name}.pgm\t{}", hex(&expected));
        let start = Instant::now();
        let codes = nyckel_qr::scan_frame(&image.pixels, image.width, image.height, image.width, Rotation::Deg0);
        times.push(start.elapsed().as_secs_f64() * 1e3);
        parts.extend(codes.unwrap_or_default());
        if plain_rqrr_any(&image.pixels, image.width as usize, image.height as usize) {
            plain_parts += 1;
        }
    }
    let merged = merge_structured_append(&parts).iter().any(|c| c.bytes_text_eq(&expected));
    let ms = median(&mut times);
    let _ = writeln!(results, "nyckel\tqrcode-7\tmerged\t{}\t{ms:.3}", u8::from(merged));
    println!(
        "{:<24} {:>7} {:>15} {:>15}",
        "qrcode-7 (4 parts)",
        1,
        format!("{}/1 {ms:.2}", u8::from(merged)),
        format!("{plain_parts}/4 parts")
    );
}

/// Synthetic camera frames: one otpauth code on clutter (upright; rotated, blurred and low in
/// contrast) and clutter alone.
fn frames(out: &Path, manifest: &mut String, results: &mut String) {
    println!();
    println!("{:<24} {:>7} {:>15} {:>15}", "frame", "", "nyckel found/ms", "rqrr found/ms");
    for (w, h) in [(1280usize, 720usize), (1920, 1080)] {
        let only_case = std::env::var("NYCKEL_QR_BENCH_CASE").ok();
        for case in ["code", "hard", "empty"].into_iter().filter(|c| only_case.as_deref().is_none_or(|o| o == *c)) {
            let frame = synth::frame(w, h, case, OTPAUTH);
            let name = format!("frame_{w}x{h}_{case}");
            write_pgm(&out.join("images").join(format!("{name}.pgm")), &frame, w as u32, h as u32);
            let expected = if case == "empty" { String::new() } else { hex(OTPAUTH.as_bytes()) };
            let _ = writeln!(manifest, "frame\timages/{name}.pgm\t{expected}");
            let mut scanner = QrScanner::new();
            let mut found = 0;
            let mut times = Vec::new();
            for _ in 0..FRAME_REPEATS {
                let start = Instant::now();
                let codes =
                    scanner.scan_frame(&frame, w as u32, h as u32, w as u32, Rotation::Deg0).unwrap_or_default();
                times.push(start.elapsed().as_secs_f64() * 1e3);
                found += usize::from(codes.iter().any(|c| c.bytes == OTPAUTH.as_bytes()));
            }
            let ms = median(&mut times);
            let _ = writeln!(results, "nyckel\tframe\t{name}\t{found}\t{ms:.3}");
            let (hit, plain_ms) = time(5, || plain_rqrr(&frame, w, h, OTPAUTH.as_bytes()));
            let _ = writeln!(results, "rqrr\tframe\t{name}\t{}\t{plain_ms:.3}", u8::from(hit));
            let ours = format!("{found}/{FRAME_REPEATS} {ms:.2}");
            let plain = format!("{} {plain_ms:.2}", if hit { "yes" } else { "no" });
            println!("{:<24} {:>7} {ours:>15} {plain:>15}", format!("{w}x{h} {case}"), "");
        }
    }
}

/// rqrr as its README shows it, guarded against its panics.
fn plain_rqrr(pixels: &[u8], w: usize, h: usize, expected: &[u8]) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        img.detect_grids().iter().any(|g| g.decode().is_ok_and(|(_, text)| text.as_bytes() == expected))
    }))
    .unwrap_or_else(|_| {
        println!("  (plain rqrr panicked on a {w}x{h} image)");
        false
    })
}

fn plain_rqrr_any(pixels: &[u8], w: usize, h: usize) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        img.detect_grids().iter().any(|g| g.decode().is_ok())
    }))
    .unwrap_or(false)
}

trait TextEq {
    fn bytes_text_eq(&self, expected: &[u8]) -> bool;
}

impl TextEq for QrCode {
    fn bytes_text_eq(&self, expected: &[u8]) -> bool {
        self.text.as_deref().is_some_and(|t| t.as_bytes() == expected)
    }
}

#[derive(Default)]
struct Stats {
    hits: usize,
    times: Vec<f64>,
}

impl Stats {
    fn add(&mut self, hit: bool, ms: f64) {
        self.hits += usize::from(hit);
        self.times.push(ms);
    }

    fn show(&mut self) -> String {
        format!("{} {:.2}", self.hits, median(&mut self.times))
    }
}

/// Runs `f` `n` times; returns its (last) result and the median milliseconds.
fn time(n: usize, mut f: impl FnMut() -> bool) -> (bool, f64) {
    let mut times = Vec::with_capacity(n);
    let mut result = false;
    for _ in 0..n {
        let start = Instant::now();
        result = f();
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    (result, median(&mut times))
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_pgm(path: &Path, pixels: &[u8], w: u32, h: u32) {
    let mut data = format!("P5\n{w} {h}\n255\n").into_bytes();
    data.extend_from_slice(pixels);
    fs::write(path, data).expect("write pgm");
}

fn sample_dir(root: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("NYCKEL_QR_SAMPLES") {
        return PathBuf::from(dir);
    }
    let shared = root.join("../shared/qr-samples");
    if shared.join("qrcode-2").is_dir() {
        shared
    } else {
        root.join("qr/tests/qr-samples")
    }
}

/// Deterministic synthetic camera frames.
mod synth {
    /// xorshift64*: reproducible clutter without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// A `w`×`h` grey frame of clutter, with `text` as a QR code unless `case` is "empty".
    pub fn frame(w: usize, h: usize, case: &str, text: &str) -> Vec<u8> {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w * 31 + h) as u64);
        let mut img: Vec<f64> = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                img.push(70.0 + 110.0 * (x as f64 / w as f64) + 40.0 * (y as f64 / h as f64));
            }
        }
        let scale = w as f64 / 1280.0;
        // Rectangles, bars and small dark "text" blobs, of every size a finder pattern has.
        for i in 0..900 {
            let (bw, bh) = if i % 3 == 0 {
                (2 + rng.below((8.0 * scale) as usize), 2 + rng.below((14.0 * scale) as usize))
            } else {
                (4 + rng.below((140.0 * scale) as usize), 4 + rng.below((90.0 * scale) as usize))
            };
            let (x0, y0) = (rng.below(w), rng.below(h));
            let value = rng.below(256) as f64;
            for y in y0..(y0 + bh).min(h) {
                for x in x0..(x0 + bw).min(w) {
                    img[y * w + x] = value;
                }
            }
        }
        if case != "empty" {
            let code = qrcode::QrCode::new(text.as_bytes()).expect("encodable");
            let n = code.width();
            let colors = code.to_colors();
            let hard = case == "hard";
            let module = if hard { 5.0 } else { 6.0 } * scale;
            let (dark, light) = if hard { (95.0, 150.0) } else { (30.0, 220.0) };
            let angle = if hard { 7f64.to_radians() } else { 0.0 };
            let side = (n + 8) as f64 * module;
            let (cx, cy) = (w as f64 * 0.55, h as f64 * 0.5);
            let (sin, cos) = angle.sin_cos();
            let reach = (side * 0.75) as isize;
            for y in (cy as isize - reach).max(0)..(cy as isize + reach).min(h as isize) {
                for x in (cx as isize - reach).max(0)..(cx as isize + reach).min(w as isize) {
                    // 2×2 supersampling for anti-aliased module edges.
                    let mut acc = 0.0;
                    let mut inside = 0;
                    for (sx, sy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                        let (dx, dy) = (x as f64 + sx - cx, y as f64 + sy - cy);
                        let u = (cos * dx + sin * dy) / module + (n + 8) as f64 / 2.0 - 4.0;
                        let v = (-sin * dx + cos * dy) / module + (n + 8) as f64 / 2.0 - 4.0;
                        if u < -4.0 || v < -4.0 || u >= n as f64 + 4.0 || v >= n as f64 + 4.0 {
                            continue;
                        }
                        inside += 1;
                        let is_dark = u >= 0.0
                            && v >= 0.0
                            && (u as usize) < n
                            && (v as usize) < n
                            && colors[v as usize * n + u as usize] == qrcode::Color::Dark;
                        acc += if is_dark { dark } else { light };
                    }
                    if inside > 0 {
                        let old = img[y as usize * w + x as usize];
                        img[y as usize * w + x as usize] = (acc + old * (4 - inside) as f64) / 4.0;
                    }
                }
            }
            if hard {
                blur(&mut img, w, h, (2.0 * scale).round() as usize);
            }
        }
        img.iter()
            .map(|&v| {
                let noise = (rng.below(17) as f64) - 8.0;
                (v + noise).round().clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    /// Two box-blur passes of radius `r` (close to a Gaussian), as defocus does.
    fn blur(img: &mut [f64], w: usize, h: usize, r: usize) {
        let mut tmp = vec![0.0; img.len()];
        for _ in 0..2 {
            for y in 0..h {
                for x in 0..w {
                    let (a, b) = (x.saturating_sub(r), (x + r).min(w - 1));
                    tmp[y * w + x] = (a..=b).map(|i| img[y * w + i]).sum::<f64>() / (b - a + 1) as f64;
                }
            }
            for y in 0..h {
                for x in 0..w {
                    let (a, b) = (y.saturating_sub(r), (y + r).min(h - 1));
                    img[y * w + x] = (a..=b).map(|i| tmp[i * w + x]).sum::<f64>() / (b - a + 1) as f64;
                }
            }
        }
    }
}
