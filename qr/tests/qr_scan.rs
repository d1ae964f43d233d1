//! Scanning synthetic frames and images: what a camera or a screenshot gives the scanner, and
//! what malformed input must turn into.

use nyckel_qr::{classify, scan_frame, scan_image, PayloadKind, QrError, QrScanner, Rotation, ScanMode, MAX_DIMENSION};

/// Draws `text` as a QR code (dark on light) into a `w`×`h` frame with the given row stride,
/// top-left module corner at (`x0`, `y0`).
fn draw(frame: &mut [u8], stride: usize, text: &str, x0: usize, y0: usize, module: usize) -> usize {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("encodable");
    let n = code.width();
    let colors = code.to_colors();
    for y in 0..n * module {
        for x in 0..n * module {
            let dark = colors[(y / module) * n + x / module] == qrcode::Color::Dark;
            frame[(y0 + y) * stride + x0 + x] = if dark { 20 } else { 235 };
        }
    }
    n * module
}

fn blank(stride: usize, h: usize, value: u8) -> Vec<u8> {
    vec![value; stride * h]
}

const OTPAUTH: &str = "otpauth://totp/Example:alice@example.org?secret=JBSWY3DPEHPK3PXP&issuer=Example";

#[test]
fn decodes_a_camera_plane_with_row_padding() {
    let (w, h, stride) = (640u32, 480u32, 704usize);
    let mut frame = blank(stride, h as usize, 235);
    // Padding bytes past the width hold garbage, as camera planes may.
    for row in frame.chunks_mut(stride) {
        row[w as usize..].fill(0);
    }
    let side = draw(&mut frame, stride, OTPAUTH, 200, 120, 5);
    let mut scanner = QrScanner::new();
    let codes = scanner.scan_frame(&frame, w, h, stride as u32, Rotation::Deg0).expect("valid frame");
    assert_eq!(codes.len(), 1, "{codes:?}");
    let code = &codes[0];
    assert_eq!(code.text.as_deref(), Some(OTPAUTH));
    assert_eq!(code.bytes, OTPAUTH.as_bytes());
    assert_eq!(code.kind, PayloadKind::Otpauth);
    assert_eq!(code.symbols, 1);
    // Corners land on the drawn symbol, to within a module.
    let xs: Vec<f32> = code.corners.iter().map(|p| p.x).collect();
    let ys: Vec<f32> = code.corners.iter().map(|p| p.y).collect();
    let (min_x, max_x) = (xs.iter().copied().fold(f32::MAX, f32::min), xs.iter().copied().fold(0.0, f32::max));
    let (min_y, max_y) = (ys.iter().copied().fold(f32::MAX, f32::min), ys.iter().copied().fold(0.0, f32::max));
    assert!((min_x - 200.0).abs() < 6.0 && (max_x - (200 + side) as f32).abs() < 6.0, "{xs:?}");
    assert!((min_y - 120.0).abs() < 6.0 && (max_y - (120 + side) as f32).abs() < 6.0, "{ys:?}");

    // The same scanner keeps working across frames, of other sizes too, and on empty frames.
    assert!(scanner.scan_frame(&blank(320, 240, 128), 320, 240, 320, Rotation::Deg0).expect("valid").is_empty());
    let again = scanner.scan_frame(&frame, w, h, stride as u32, Rotation::Deg0).expect("valid");
    assert_eq!(again.len(), 1);
}

#[test]
fn rotation_sets_the_corner_coordinates() {
    let (w, h) = (400usize, 300usize);
    let mut frame = blank(w, h, 235);
    draw(&mut frame, w, "hello", 40, 60, 6);
    let upright = scan_frame(&frame, w as u32, h as u32, w as u32, Rotation::Deg0).expect("valid");
    let turned = scan_frame(&frame, w as u32, h as u32, w as u32, Rotation::Deg90).expect("valid");
    assert_eq!(upright.len(), 1);
    assert_eq!(turned.len(), 1);
    // A quarter turn clockwise: x' = h - y, y' = x.
    for (a, b) in upright[0].corners.iter().zip(turned[0].corners.iter()) {
        assert!((b.x - (h as f32 - a.y)).abs() < 0.01 && (b.y - a.x).abs() < 0.01, "{a:?} {b:?}");
    }
}

#[test]
fn finds_inverted_and_multiple_codes() {
    let (w, h) = (900usize, 400usize);
    let mut frame = blank(w, h, 235);
    draw(&mut frame, w, "otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGA", 30, 40, 6);
    draw(&mut frame, w, "tiqrauth://x/y", 500, 60, 7);
    let codes = scan_frame(&frame, w as u32, h as u32, w as u32, Rotation::Deg0).expect("valid");
    let mut kinds: Vec<PayloadKind> = codes.iter().map(|c| c.kind).collect();
    kinds.sort_by_key(|k| format!("{k:?}"));
    assert_eq!(kinds, [PayloadKind::OtpauthMigration, PayloadKind::TiqrAuth], "{codes:?}");

    // Light-on-dark: the negative of a code.
    let mut negative = blank(w, h, 235);
    draw(&mut negative, w, "nyckel://enroll?d=1", 300, 80, 6);
    for p in negative.iter_mut() {
        *p = 255 - *p;
    }
    let codes = scan_frame(&negative, w as u32, h as u32, w as u32, Rotation::Deg0).expect("valid");
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].kind, PayloadKind::NyckelEnroll);
}

#[test]
fn camera_mode_finds_a_small_code_in_a_large_frame() {
    let (w, h) = (1920usize, 1080usize);
    let mut frame = blank(w, h, 200);
    draw(&mut frame, w, OTPAUTH, 900, 500, 4);
    let mut scanner = QrScanner::with_mode(ScanMode::Camera);
    let codes = scanner.scan_frame(&frame, w as u32, h as u32, w as u32, Rotation::Deg0).expect("valid");
    assert_eq!(codes.first().and_then(|c| c.text.as_deref()), Some(OTPAUTH));
}

#[test]
fn malformed_frames_are_typed_errors() {
    let buf = vec![0u8; 1000];
    let cases: Vec<(u32, u32, u32)> = vec![(0, 10, 10), (10, 0, 10), (MAX_DIMENSION + 1, 1, MAX_DIMENSION + 1)];
    for (w, h, s) in cases {
        assert!(matches!(scan_frame(&buf, w, h, s, Rotation::Deg0), Err(QrError::InvalidDimensions { .. })));
    }
    assert!(matches!(
        scan_frame(&buf, MAX_DIMENSION, MAX_DIMENSION, MAX_DIMENSION, Rotation::Deg0),
        Err(QrError::TooManyPixels { .. })
    ));
    assert!(matches!(scan_frame(&buf, 20, 10, 19, Rotation::Deg0), Err(QrError::StrideTooSmall { .. })));
    assert_eq!(
        scan_frame(&buf, 100, 11, 100, Rotation::Deg0),
        Err(QrError::BufferTooSmall { actual: 1000, needed: 1100, width: 100, height: 11, stride: 100 })
    );
    assert!(matches!(scan_frame(&buf, 16_000, 4_000, u32::MAX, Rotation::Deg0), Err(QrError::BufferTooSmall { .. })));
    // Tiny but valid frames are fine.
    assert_eq!(scan_frame(&[7], 1, 1, 1, Rotation::Deg0), Ok(vec![]));
}

#[test]
fn images_decode_or_fail_with_typed_errors() {
    // A PNG screenshot with a transparent background.
    let (w, h) = (200usize, 200usize);
    let mut grey = blank(w, h, 235);
    draw(&mut grey, w, "pia://push?serial=PIPU0001", 40, 40, 4);
    let mut rgba = Vec::new();
    for &g in &grey {
        let transparent = g > 128;
        rgba.extend_from_slice(&[g, g, g, if transparent { 0 } else { 255 }]);
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, w as u32, h as u32);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("header");
        writer.write_image_data(&rgba).expect("data");
    }
    let codes = scan_image(&png_bytes).expect("decodes");
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].kind, PayloadKind::PrivacyIdeaPush);

    assert_eq!(scan_image(b"not an image"), Err(QrError::UnsupportedImageFormat));
    assert_eq!(scan_image(&[]), Err(QrError::UnsupportedImageFormat));
    assert!(matches!(scan_image(&png_bytes[..png_bytes.len() / 2]), Err(QrError::Png(_))));
    assert!(matches!(scan_image(&[0xff, 0xd8, 0xff, 0xdb, 0, 4, 0, 0]), Err(QrError::Jpeg(_))));
}

#[test]
fn reads_a_jpeg_photo() {
    let bytes =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/qr-samples/otpauth-photo.jpg")).expect("sample");
    let codes = scan_image(&bytes).expect("decodes");
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(codes[0].kind, PayloadKind::Otpauth);
}

#[test]
fn classifies_by_scheme() {
    assert_eq!(classify(b"tiqrenroll://https://tiqr.example/enroll"), PayloadKind::TiqrEnroll);
    assert_eq!(classify(b"nyckel://login?c=1"), PayloadKind::NyckelLogin);
    assert_eq!(classify(b"nyckel://tx/abc"), PayloadKind::NyckelTransaction);
    assert_eq!(classify("hello".as_bytes()), PayloadKind::Unknown);
}
