//! The typed errors of QR scanning: bad frame geometry, bad buffers, undecodable images.

use thiserror::Error;

/// Why a frame or an image could not be scanned.
///
/// Finding no QR code is not an error: the scan functions then return an empty list.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QrError {
    /// A width or height of zero, or one beyond [`MAX_DIMENSION`](super::MAX_DIMENSION).
    #[error("frame size {width}x{height} is invalid: each side must be between 1 and {max} pixels")]
    InvalidDimensions {
        /// The width that was passed.
        width: u32,
        /// The height that was passed.
        height: u32,
        /// The largest side accepted.
        max: u32,
    },
    /// A frame or image with more pixels than [`MAX_PIXELS`](super::MAX_PIXELS).
    #[error("frame size {width}x{height} has more than {max} pixels")]
    TooManyPixels {
        /// The width that was passed.
        width: u32,
        /// The height that was passed.
        height: u32,
        /// The largest pixel count accepted.
        max: u64,
    },
    /// A row stride smaller than the width, so rows would overlap.
    #[error("row stride {stride} is smaller than the frame width {width}")]
    StrideTooSmall {
        /// The stride that was passed.
        stride: u32,
        /// The width that was passed.
        width: u32,
    },
    /// A luma buffer too short for the declared geometry.
    #[error("luma buffer holds {actual} bytes but a {width}x{height} frame with row stride {stride} needs {needed}")]
    BufferTooSmall {
        /// Bytes in the buffer that was passed.
        actual: usize,
        /// Bytes the geometry needs: `stride * (height - 1) + width`.
        needed: u64,
        /// The width that was passed.
        width: u32,
        /// The height that was passed.
        height: u32,
        /// The stride that was passed.
        stride: u32,
    },
    /// Image bytes that are neither PNG, JPEG nor WebP.
    #[error("unsupported image format: expected PNG, JPEG or WebP")]
    UnsupportedImageFormat,
    /// A PNG file that could not be decoded.
    #[error("PNG image could not be decoded: {0}")]
    Png(String),
    /// A JPEG file that could not be decoded.
    #[error("JPEG image could not be decoded: {0}")]
    Jpeg(String),
    /// A WebP file (lossy or lossless) that could not be decoded.
    #[error("WebP image could not be decoded: {0}")]
    Webp(String),
}
