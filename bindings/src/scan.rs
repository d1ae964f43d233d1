//! QR scanning for the apps: a per-camera scanner object that reuses its buffers, and image import.

use std::sync::{Arc, Mutex};

use nyckel_core::qr::{self, PayloadKind, QrCode, QrScanner, Rotation};

use crate::error::NyckelError;

/// What a scanned code is for, so the app can route it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PayloadType {
    /// `otpauth://` account.
    Otpauth,
    /// Google Authenticator export.
    OtpauthMigration,
    /// Nyckel device registration.
    NyckelEnroll,
    /// Nyckel login QR (offline one-time password).
    NyckelLogin,
    /// Nyckel transaction QR.
    NyckelTransaction,
    /// privacyIDEA push enrollment.
    PrivacyIdeaPush,
    /// tiqr enrollment.
    TiqrEnroll,
    /// tiqr authentication.
    TiqrAuth,
    /// Anything else.
    Unknown,
}

/// One decoded QR code (or one merged structured-append message).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ScannedCode {
    /// The payload bytes.
    pub bytes: Vec<u8>,
    /// The payload as text, when it is text.
    pub text: Option<String>,
    /// What it is for.
    pub payload_type: PayloadType,
}

impl From<QrCode> for ScannedCode {
    fn from(code: QrCode) -> Self {
        let payload_type = match code.kind {
            PayloadKind::Otpauth => PayloadType::Otpauth,
            PayloadKind::OtpauthMigration => PayloadType::OtpauthMigration,
            PayloadKind::NyckelEnroll => PayloadType::NyckelEnroll,
            PayloadKind::NyckelLogin => PayloadType::NyckelLogin,
            PayloadKind::NyckelTransaction => PayloadType::NyckelTransaction,
            PayloadKind::PrivacyIdeaPush => PayloadType::PrivacyIdeaPush,
            PayloadKind::TiqrEnroll => PayloadType::TiqrEnroll,
            PayloadKind::TiqrAuth => PayloadType::TiqrAuth,
            _ => PayloadType::Unknown,
        };
        ScannedCode { bytes: code.bytes, text: code.text, payload_type }
    }
}

/// A scanner for one camera stream: keep one per preview, call it for every frame's Y plane
/// (Android `YUV_420_888` plane 0 with its row stride; iOS `420f` luma plane).
#[derive(uniffi::Object)]
pub struct FrameScanner {
    scanner: Mutex<QrScanner>,
}

#[uniffi::export]
impl FrameScanner {
    /// A scanner tuned for live frames (cheap on frames without a code).
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(FrameScanner { scanner: Mutex::new(QrScanner::new()) })
    }

    /// Every QR code in a luma frame. `rotation_degrees` is the clockwise turn that makes the
    /// frame upright (a multiple of 90). Finding nothing is an empty list, not an error.
    pub fn scan_frame(
        &self,
        luma: Vec<u8>,
        width: u32,
        height: u32,
        row_stride: u32,
        rotation_degrees: i32,
    ) -> Result<Vec<ScannedCode>, NyckelError> {
        let rotation = Rotation::from_degrees(rotation_degrees).ok_or_else(|| NyckelError::InvalidInput {
            reason: format!("rotation {rotation_degrees}° is not a multiple of 90"),
        })?;
        // A panic while holding the lock poisons it; the scanner's buffers are scratch space,
        // so reusing them after a failed frame is safe.
        let mut scanner = self.scanner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let codes = scanner.scan_frame(&luma, width, height, row_stride, rotation).map_err(NyckelError::invalid)?;
        Ok(codes.into_iter().map(ScannedCode::from).collect())
    }
}

/// Every QR code in a PNG, JPEG or WebP image (a screenshot or a photo).
#[uniffi::export]
pub fn scan_image(image: Vec<u8>) -> Result<Vec<ScannedCode>, NyckelError> {
    Ok(qr::scan_image(&image).map_err(NyckelError::invalid)?.into_iter().map(ScannedCode::from).collect())
}
