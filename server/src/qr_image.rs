//! Renders a QR payload as PNG and SVG images.

use qrcode::render::svg;
use qrcode::{Color, EcLevel, QrCode};

/// Pixels per QR module in the PNG.
const PNG_SCALE: usize = 8;
/// Quiet zone, in modules (the QR standard asks for 4).
const QUIET: usize = 4;

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum QrImageError {
    /// The payload does not fit a QR code.
    #[error("the payload does not fit a QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    /// PNG encoding failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

fn code(payload: &str) -> Result<QrCode, QrImageError> {
    Ok(QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)?)
}

/// An SVG document of the code.
pub fn svg(payload: &str) -> Result<String, QrImageError> {
    Ok(code(payload)?.render::<svg::Color<'_>>().min_dimensions(256, 256).quiet_zone(true).build())
}

/// A greyscale PNG of the code, 8 pixels per module with a 4-module quiet zone.
pub fn png(payload: &str) -> Result<Vec<u8>, QrImageError> {
    let code = code(payload)?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * PNG_SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * PNG_SCALE..(my + 1) * PNG_SCALE {
                pixels[y * side + mx * PNG_SCALE..y * side + (mx + 1) * PNG_SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let side32 = u32::try_from(side).unwrap_or(u32::MAX);
        let mut encoder = png::Encoder::new(&mut out, side32, side32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
        writer.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let uri = "nyckel://enroll?v=1&u=http%3A%2F%2F127.0.0.1%3A8080&i=abc&t=CQkJCQkJCQkJCQkJCQkJCQ&k=AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM";
        let image = png(uri).unwrap();
        assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
        let svg = svg(uri).unwrap();
        assert!(svg.contains("<svg"));
        assert!(png(&"x".repeat(5000)).is_err());
    }
}
