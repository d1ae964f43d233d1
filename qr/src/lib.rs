//! Nyckel's QR scanner: camera frames and image files to QR payloads. Built on rqrr with a
//! sturdier front end (local binarisation, a finder-pattern locator, several scales, inverted
//! codes, perspective fitting) and our own error correction and bit-stream decoding (ECI,
//! Shift_JIS/Kanji, structured append), never panicking into the caller.
//!
//! - [`QrScanner::scan_frame`] for a stream of camera frames (buffers reused frame to frame);
//! - [`scan_frame`] and [`scan_image`] for one frame or one PNG, JPEG or WebP file;
//! - [`classify`] tells what a payload is for; [`merge_structured_append`] joins sequences
//!   gathered over several frames.
//!
//! `nyckel-core` re-exports this crate as `nyckel_core::qr`.

mod append;
mod binarize;
mod bitstream;
mod blocks;
mod code;
mod codewords;
mod error;
mod finders;
mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod image;
mod locate;
mod payload;
mod placement;
mod rs;
mod sample;
mod scale;
mod scanner;
mod text;

pub use append::merge_structured_append;
pub use bitstream::StructuredAppend;
pub use code::QrCode;
pub use codewords::EcLevel;
pub use error::QrError;
pub use frame::{QrPoint, Rotation, MAX_DIMENSION, MAX_PIXELS};
pub use image::{decode_image, LumaImage};
pub use payload::{classify, PayloadKind};
pub use scanner::{QrScanner, ScanMode};

/// Finds every QR code in one luma frame, trying every strategy ([`ScanMode::Still`]).
///
/// For a camera stream, keep a [`QrScanner`] instead: it reuses its buffers across frames.
///
/// # Errors
/// See [`QrScanner::scan_frame`].
pub fn scan_frame(
    luma: &[u8],
    width: u32,
    height: u32,
    row_stride: u32,
    rotation: Rotation,
) -> Result<Vec<QrCode>, QrError> {
    QrScanner::with_mode(ScanMode::Still).scan_frame(luma, width, height, row_stride, rotation)
}

/// Finds every QR code in a PNG, JPEG or WebP file (a screenshot or a photo).
///
/// # Errors
/// [`QrError::UnsupportedImageFormat`] for other formats, [`QrError::Png`], [`QrError::Jpeg`] or
/// [`QrError::Webp`] for files that do not decode, and the size errors of [`scan_frame`].
pub fn scan_image(bytes: &[u8]) -> Result<Vec<QrCode>, QrError> {
    let image = decode_image(bytes)?;
    scan_frame(&image.pixels, image.width, image.height, image.width, Rotation::Deg0)
}
