//! Inputs that once crashed the scanner or rqrr inside it (fuzzing finds, the panic-prone photo):
//! each must decode or fail with a typed error, never panic.
//!
//! Files in `tests/qr-regressions/`: `*.png`/`*.jpg` and other bytes go to `scan_image`;
//! `frame-*.bin` are inputs of the `scan_frame` fuzz target (see `fuzz/fuzz_targets/scan_frame.rs`).

use std::path::Path;

use nyckel_qr::{scan_frame, scan_image, QrError, Rotation};

#[test]
fn regressions_decode_or_fail_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qr-regressions");
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("regression dir").filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    let mut replayed = 0;
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") || name.ends_with(".txt") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("readable");
        if name.starts_with("frame-") {
            replay_frame(&bytes);
        } else {
            match scan_image(&bytes) {
                Ok(_) | Err(QrError::UnsupportedImageFormat | QrError::Png(_) | QrError::Jpeg(_)) => {}
                Err(other) => panic!("{name}: unexpected {other}"),
            }
        }
        replayed += 1;
    }
    assert!(replayed >= 1, "no regression inputs found");
}

/// Decodes the `scan_frame` fuzz target's input format the way the target does.
fn replay_frame(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Some((header, pixels)) = rest.split_at_checked(6) else { return };
    let rotation = [Rotation::Deg0, Rotation::Deg90, Rotation::Deg180, Rotation::Deg270][usize::from(mode & 3)];
    let (w, h, stride) = if mode & 8 == 0 {
        let w = u32::from(u16::from_le_bytes([header[0], header[1]]) % 256) + 1;
        let stride = w + u32::from(header[4] % 16);
        ((w), (pixels.len() as u32 / stride).max(1), stride)
    } else {
        let w = u32::from_le_bytes([header[0], header[1], header[2], 0]) << (header[5] % 9);
        let h = u32::from(u16::from_le_bytes([header[3], header[4]])) << (header[5] / 32);
        (w, h, w.wrapping_add(u32::from(header[5] % 4)) ^ u32::from(mode >> 7))
    };
    let _ = scan_frame(pixels, w, h, stride, rotation);
}
