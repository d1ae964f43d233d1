//! WebP screenshots and photos: lossy and lossless files made by libwebp (Pillow, see
//! `tests/webp/make_webp.py`), not by the decoder under test, must read to their known text;
//! truncated, corrupted or oversized WebP must be typed errors, never panics.

use std::path::{Path, PathBuf};

use nyckel_qr::{decode_image, scan_image, QrError};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn read(relative: &str) -> Vec<u8> {
    let path = dir().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn texts(bytes: &[u8]) -> Vec<String> {
    scan_image(bytes).expect("decodes").into_iter().filter_map(|c| c.text).collect()
}

const FILES: [&str; 4] = [
    "webp/photo-lossy.webp",
    "webp/photo-lossless.webp",
    "webp/code-alpha-lossless.webp",
    "webp/code-alpha-lossy.webp",
];

#[test]
fn lossy_and_lossless_photos_read_like_the_png() {
    let expected = String::from_utf8(read("qr-samples/qrcode-1/13.txt")).expect("utf-8");
    for name in ["webp/photo-lossy.webp", "webp/photo-lossless.webp"] {
        assert_eq!(texts(&read(name)), std::slice::from_ref(&expected), "{name}");
    }
    // Lossless means the very pixels of the PNG it was made from.
    let png = decode_image(&read("qr-samples/qrcode-1/13.png")).expect("png");
    let webp = decode_image(&read("webp/photo-lossless.webp")).expect("webp");
    assert_eq!(webp, png);
}

#[test]
fn codes_on_a_transparent_background_read_over_white() {
    let expected = String::from_utf8(read("webp/code.txt")).expect("utf-8");
    for name in ["webp/code-alpha-lossless.webp", "webp/code-alpha-lossy.webp"] {
        let image = decode_image(&read(name)).expect(name);
        // The quiet zone is transparent in the file and white once composited.
        assert_eq!(image.pixels.first(), Some(&255), "{name}");
        assert_eq!(texts(&read(name)), std::slice::from_ref(&expected), "{name}");
    }
}

/// Every failure is one of the typed errors, and none comes from a caught decoder panic.
fn assert_typed(result: Result<nyckel_qr::LumaImage, QrError>, what: &str) {
    match result {
        Ok(_) => {}
        Err(QrError::Webp(reason)) => assert!(!reason.contains("panicked"), "{what}: {reason}"),
        Err(QrError::InvalidDimensions { .. } | QrError::TooManyPixels { .. }) => {}
        Err(other) => panic!("{what}: unexpected {other:?}"),
    }
}

#[test]
fn truncated_and_corrupted_webp_are_typed_errors() {
    for name in FILES {
        let bytes = read(name);
        let step = (bytes.len() / 97).max(1);
        for len in (12..bytes.len()).step_by(step) {
            let cut = bytes.get(..len).expect("in range");
            assert_typed(decode_image(cut), &format!("{name} cut at {len}"));
        }
        for at in (12..bytes.len()).step_by(step) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = bytes.clone();
                if let Some(b) = bad.get_mut(at) {
                    *b ^= flip;
                }
                assert_typed(decode_image(&bad), &format!("{name} byte {at} ^ {flip:#x}"));
            }
        }
    }
    assert!(matches!(scan_image(&riff(&[(b"VP8 ", b"\0\0\0")])), Err(QrError::Webp(_))));
}

/// A RIFF/WebP file holding these chunks.
fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut body = b"WEBP".to_vec();
    for (fourcc, data) in chunks {
        body.extend_from_slice(*fourcc);
        body.extend_from_slice(&u32::try_from(data.len()).expect("small").to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&u32::try_from(body.len()).expect("small").to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// A VP8L header (no pixel data) of `width`x`height`.
fn vp8l(width: u32, height: u32) -> Vec<u8> {
    let mut out = vec![0x2f];
    out.extend_from_slice(&((width - 1) | ((height - 1) << 14)).to_le_bytes());
    out
}

#[test]
fn oversized_headers_are_refused_before_decoding() {
    // Lossless header claiming 16000x16000: within a side, over the pixel budget.
    let result = decode_image(&riff(&[(b"VP8L", &vp8l(16_000, 16_000))]));
    assert!(matches!(result, Err(QrError::TooManyPixels { .. })), "{result:?}");
    // 16384 a side, which image-webp 0.2 reports as 0 (its `(1 + header) & 0x3FFF`): refused too.
    let result = decode_image(&riff(&[(b"VP8L", &vp8l(16_384, 16_384))]));
    assert!(matches!(result, Err(QrError::InvalidDimensions { .. } | QrError::TooManyPixels { .. })), "{result:?}");
    // Extended header with a 20000-pixel-wide canvas: over the side limit.
    let mut vp8x = vec![0u8; 10];
    vp8x[4..7].copy_from_slice(&(20_000u32 - 1).to_le_bytes()[..3]);
    vp8x[7..10].copy_from_slice(&(10u32 - 1).to_le_bytes()[..3]);
    let result = decode_image(&riff(&[(b"VP8X", &vp8x), (b"VP8L", &vp8l(20_000, 10))]));
    assert!(matches!(result, Err(QrError::InvalidDimensions { width: 20_000, .. })), "{result:?}");
}
