//! Decodes PNG, JPEG and WebP files (screenshots, photos) to an 8-bit luma plane.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::error::QrError;
use super::frame::{MAX_DIMENSION, MAX_PIXELS};

/// A decoded image: one luma byte per pixel, rows packed (stride = width).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LumaImage {
    /// `width * height` luma bytes, row by row.
    pub pixels: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Decodes a PNG, JPEG or WebP file (told apart by their signature) to 8-bit luma; transparency
/// is composited over white. An animated WebP gives its first frame.
///
/// # Errors
/// [`QrError::UnsupportedImageFormat`], [`QrError::Png`], [`QrError::Jpeg`], [`QrError::Webp`],
/// or a size error.
pub fn decode_image(bytes: &[u8]) -> Result<LumaImage, QrError> {
    // Third-party decoders of untrusted files are guarded like rqrr: a panic becomes an error.
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        catch_unwind(AssertUnwindSafe(|| decode_png(bytes)))
            .unwrap_or_else(|_| Err(QrError::Png("decoder panicked".into())))
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        catch_unwind(AssertUnwindSafe(|| decode_jpeg(bytes)))
            .unwrap_or_else(|_| Err(QrError::Jpeg("decoder panicked".into())))
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        catch_unwind(AssertUnwindSafe(|| decode_webp(bytes)))
            .unwrap_or_else(|_| Err(QrError::Webp("decoder panicked".into())))
    } else {
        Err(QrError::UnsupportedImageFormat)
    }
}

fn check_size(width: u32, height: u32) -> Result<(), QrError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(QrError::InvalidDimensions { width, height, max: MAX_DIMENSION });
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(QrError::TooManyPixels { width, height, max: MAX_PIXELS });
    }
    Ok(())
}

fn decode_png(bytes: &[u8]) -> Result<LumaImage, QrError> {
    let err = |e: png::DecodingError| QrError::Png(e.to_string());
    // RGBA at the largest accepted size; stops a tiny file from claiming gigabytes.
    let limits = png::Limits { bytes: (MAX_PIXELS as usize) * 4 };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let header = decoder.read_header_info().map_err(err)?;
    check_size(header.width, header.height)?;
    let mut reader = decoder.read_info().map_err(err)?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).map_err(err)?;
    let (width, height) = (info.width, info.height);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(QrError::Png("palette was not expanded".into())),
    };
    let pixel_count = width as usize * height as usize;
    let data = buf.get(..pixel_count * channels).ok_or_else(|| QrError::Png("short frame".into()))?;
    Ok(LumaImage { pixels: to_luma(data, channels), width, height })
}

/// Interleaved 8-bit samples of 1 to 4 channels (grey, grey+alpha, RGB, RGBA) to luma.
fn to_luma(data: &[u8], channels: usize) -> Vec<u8> {
    data.chunks_exact(channels)
        .map(|px| match *px {
            [l] => l,
            [l, a] => over_white(l, a),
            [r, g, b] => luma(r, g, b),
            [r, g, b, a] => over_white(luma(r, g, b), a),
            _ => 255,
        })
        .collect()
}

/// Rec. 601 luma, in integers.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b) + 128) >> 8) as u8
}

/// Transparent pixels show as white: a QR code with a transparent background is dark-on-light.
fn over_white(l: u8, a: u8) -> u8 {
    ((u32::from(l) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8
}

fn decode_jpeg(bytes: &[u8]) -> Result<LumaImage, QrError> {
    let err = |e: zune_jpeg::errors::DecodeErrors| QrError::Jpeg(e.to_string());
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(MAX_DIMENSION as usize)
        .set_max_height(MAX_DIMENSION as usize);
    let mut decoder = JpegDecoder::new_with_options(bytes, options);
    decoder.decode_headers().map_err(err)?;
    let info = decoder.info().ok_or_else(|| QrError::Jpeg("no header".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    check_size(width, height)?;
    let pixels = decoder.decode().map_err(err)?;
    if pixels.len() != width as usize * height as usize {
        return Err(QrError::Jpeg(format!("decoder returned {} bytes for {width}x{height}", pixels.len())));
    }
    Ok(LumaImage { pixels, width, height })
}

fn decode_webp(bytes: &[u8]) -> Result<LumaImage, QrError> {
    let err = |e: image_webp::DecodingError| QrError::Webp(e.to_string());
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(err)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    // RGBA at the largest accepted size, as for PNG.
    decoder.set_memory_limit((MAX_PIXELS as usize) * 4);
    // RGBA when the file has alpha (lossless, or lossy with an ALPH chunk), else RGB.
    let channels = if decoder.has_alpha() { 4 } else { 3 };
    let size = decoder.output_buffer_size().ok_or_else(|| QrError::Webp("image too large".into()))?;
    if size != width as usize * height as usize * channels {
        return Err(QrError::Webp(format!("decoder wants {size} bytes for {width}x{height}")));
    }
    let mut buf = vec![0; size];
    decoder.read_image(&mut buf).map_err(err)?;
    Ok(LumaImage { pixels: to_luma(&buf, channels), width, height })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_and_truncated_files() {
        assert_eq!(decode_image(b"GIF89a").unwrap_err(), QrError::UnsupportedImageFormat);
        assert!(matches!(decode_image(b"\x89PNG\r\n\x1a\n\0\0"), Err(QrError::Png(_))));
        assert!(matches!(decode_image(&[0xff, 0xd8, 0xff, 0xe0, 0, 0]), Err(QrError::Jpeg(_))));
        assert!(matches!(decode_image(b"RIFF\x04\0\0\0WEBP"), Err(QrError::Webp(_))));
        // RIFF but not WebP (a WAV file) is not ours.
        assert_eq!(decode_image(b"RIFF\x04\0\0\0WAVE").unwrap_err(), QrError::UnsupportedImageFormat);
    }

    #[test]
    fn blends_alpha_over_white() {
        assert_eq!(over_white(0, 0), 255);
        assert_eq!(over_white(0, 255), 0);
        assert_eq!(luma(255, 255, 255), 255);
    }
}
