//! `scan_frame` with arbitrary dimensions, strides, rotations and pixels: it must return a
//! result or a typed error, never panic (rqrr's own panics are caught inside).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nyckel_qr::{QrError, QrScanner, Rotation, ScanMode};

fuzz_target!(
    init: {
        // Panics that the scanner catches (inside rqrr) are expected; only escaping ones count,
        // and libfuzzer-sys aborts on those after the hook.
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else { return };
        let Some((header, pixels)) = rest.split_at_checked(6) else { return };
        let rotation = match mode & 3 {
            0 => Rotation::Deg0,
            1 => Rotation::Deg90,
            2 => Rotation::Deg180,
            _ => Rotation::Deg270,
        };
        let scan_mode = if mode & 4 == 0 { ScanMode::Still } else { ScanMode::Camera };
        let (w, h, stride) = if mode & 8 == 0 {
            // Geometry that fits the pixels, so that scanning really runs.
            let w = u32::from(u16::from_le_bytes([header[0], header[1]]) % 256) + 1;
            let extra = u32::from(header[4] % 16);
            let stride = w + extra;
            let h = (pixels.len() as u32 / stride).max(1);
            (w, h, stride)
        } else {
            // Raw geometry, mostly invalid: must come back as typed errors.
            let w = u32::from_le_bytes([header[0], header[1], header[2], 0]) << (header[5] % 9);
            let h = u32::from(u16::from_le_bytes([header[3], header[4]])) << (header[5] / 32);
            let stride = w.wrapping_add(u32::from(header[5] % 4)) ^ u32::from(mode >> 7);
            (w, h, stride)
        };
        let mut scanner = QrScanner::with_mode(scan_mode);
        match scanner.scan_frame(pixels, w, h, stride, rotation) {
            Ok(codes) => {
                for code in codes {
                    assert!(code.symbols >= 1);
                }
            }
            Err(
                QrError::InvalidDimensions { .. }
                | QrError::TooManyPixels { .. }
                | QrError::StrideTooSmall { .. }
                | QrError::BufferTooSmall { .. },
            ) => {}
            Err(other) => panic!("unexpected error for a frame: {other}"),
        }
    }
);
