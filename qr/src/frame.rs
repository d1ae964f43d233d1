//! Checks a caller's luma buffer against its declared geometry, and maps points between the
//! sensor's orientation and the upright one.

use super::error::QrError;

/// Largest width or height accepted.
pub const MAX_DIMENSION: u32 = 16_384;
/// Largest pixel count accepted (a 64-megapixel photo).
pub const MAX_PIXELS: u64 = 1 << 26;

/// How far the frame must be turned clockwise to appear upright.
///
/// Android's `ImageInfo.rotationDegrees` and iOS's video orientation give it. Scanning works in any
/// orientation; this only sets the coordinate system of the corners reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rotation {
    /// Already upright.
    #[default]
    Deg0,
    /// Turn 90° clockwise.
    Deg90,
    /// Turn 180°.
    Deg180,
    /// Turn 270° clockwise.
    Deg270,
}

impl Rotation {
    /// From degrees, which must be a multiple of 90 (negative values count counter-clockwise).
    pub fn from_degrees(degrees: i32) -> Option<Self> {
        match degrees.rem_euclid(360) {
            0 => Some(Rotation::Deg0),
            90 => Some(Rotation::Deg90),
            180 => Some(Rotation::Deg180),
            270 => Some(Rotation::Deg270),
            _ => None,
        }
    }
}

/// A point in upright image coordinates, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QrPoint {
    /// Distance from the left edge.
    pub x: f32,
    /// Distance from the top edge.
    pub y: f32,
}

/// A validated view of an 8-bit luma plane.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    data: &'a [u8],
    pub width: usize,
    pub height: usize,
    stride: usize,
}

impl<'a> Frame<'a> {
    /// Checks that `data` holds `height` rows of `width` pixels, `stride` bytes apart.
    ///
    /// The last row may end right after its `width` pixels, as camera planes often do.
    pub fn new(data: &'a [u8], width: u32, height: u32, stride: u32) -> Result<Self, QrError> {
        if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
            return Err(QrError::InvalidDimensions { width, height, max: MAX_DIMENSION });
        }
        if u64::from(width) * u64::from(height) > MAX_PIXELS {
            return Err(QrError::TooManyPixels { width, height, max: MAX_PIXELS });
        }
        if stride < width {
            return Err(QrError::StrideTooSmall { stride, width });
        }
        let needed = u64::from(stride) * u64::from(height - 1) + u64::from(width);
        if (data.len() as u64) < needed {
            return Err(QrError::BufferTooSmall { actual: data.len(), needed, width, height, stride });
        }
        Ok(Frame { data, width: width as usize, height: height as usize, stride: stride as usize })
    }

    /// Row `y`'s pixels; an empty slice past the bottom (never reached by callers).
    pub fn row(&self, y: usize) -> &'a [u8] {
        let start = y.saturating_mul(self.stride);
        self.data.get(start..start.saturating_add(self.width)).unwrap_or_default()
    }
}

/// Maps a point of a `width`×`height` sensor frame into upright coordinates.
pub(crate) fn to_upright(rotation: Rotation, width: usize, height: usize, x: f32, y: f32) -> QrPoint {
    let (w, h) = (width as f32, height as f32);
    match rotation {
        Rotation::Deg0 => QrPoint { x, y },
        Rotation::Deg90 => QrPoint { x: h - y, y: x },
        Rotation::Deg180 => QrPoint { x: w - x, y: h - y },
        Rotation::Deg270 => QrPoint { x: y, y: w - x },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_geometry() {
        let buf = [0u8; 100];
        assert!(matches!(Frame::new(&buf, 0, 10, 10), Err(QrError::InvalidDimensions { .. })));
        assert!(matches!(Frame::new(&buf, 10, 0, 10), Err(QrError::InvalidDimensions { .. })));
        assert!(matches!(Frame::new(&buf, 20_000, 1, 20_000), Err(QrError::InvalidDimensions { .. })));
        assert!(matches!(Frame::new(&buf, 16_384, 16_384, 16_384), Err(QrError::TooManyPixels { .. })));
        assert!(matches!(Frame::new(&buf, 10, 10, 9), Err(QrError::StrideTooSmall { .. })));
        assert!(matches!(Frame::new(&buf, 10, 10, 11), Err(QrError::BufferTooSmall { needed: 109, .. })));
        assert!(matches!(Frame::new(&buf, u32::MAX, u32::MAX, u32::MAX), Err(QrError::InvalidDimensions { .. })));
        let frame = Frame::new(&buf, 10, 10, 10).expect("exact fit");
        assert_eq!(frame.row(9).len(), 10);
        assert!(Frame::new(&buf[..91], 1, 10, 10).is_ok());
    }

    #[test]
    fn rotation_maps_corners() {
        assert_eq!(Rotation::from_degrees(-90), Some(Rotation::Deg270));
        assert_eq!(Rotation::from_degrees(45), None);
        // The sensor's top-left corner ends up top-right after a quarter turn clockwise.
        assert_eq!(to_upright(Rotation::Deg90, 640, 480, 0.0, 0.0), QrPoint { x: 480.0, y: 0.0 });
        assert_eq!(to_upright(Rotation::Deg270, 640, 480, 0.0, 0.0), QrPoint { x: 0.0, y: 640.0 });
    }
}
