//! Google Authenticator exports: `otpauth-migration://offline?data=…` (protobuf `MigrationPayload`).

use base64::Engine;
use percent_encoding::percent_decode_str;

use crate::account::Account;
use crate::otp::{Algorithm, OtpParams, ParamsError, DEFAULT_PERIOD};
use crate::secret::{SecretBytes, MAX_SECRET_LEN};

/// Why an export could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    /// The text is not an `otpauth-migration://offline` URI.
    #[error("not an otpauth-migration://offline URI")]
    NotMigrationUri,
    /// The URI has no `data` parameter.
    #[error("the export has no data parameter")]
    MissingData,
    /// `data` is not base64 (standard or URL-safe).
    #[error("the export's data is not valid base64")]
    BadBase64,
    /// The protobuf ends inside a field.
    #[error("the export is truncated at byte {offset}")]
    Truncated {
        /// Where the payload ended too early.
        offset: usize,
    },
    /// A field uses a wire type this message never has, or a varint is over-long.
    #[error("the export is corrupt at byte {offset}")]
    Corrupt {
        /// Where the bad byte sits.
        offset: usize,
    },
    /// Text that is not UTF-8.
    #[error("a name in the export is not valid UTF-8")]
    NotUtf8,
    /// An entry without a secret.
    #[error("entry {index} has no secret")]
    MissingSecret {
        /// Zero-based position in this batch.
        index: usize,
    },
    /// An entry with a secret that is too long to be real.
    #[error("entry {index} has a secret longer than {MAX_SECRET_LEN} bytes")]
    SecretTooLong {
        /// Zero-based position in this batch.
        index: usize,
    },
    /// MD5 or an unknown hash number.
    #[error("entry {index} uses unsupported algorithm {name}")]
    UnsupportedAlgorithm {
        /// Zero-based position in this batch.
        index: usize,
        /// The algorithm's name or number.
        name: String,
    },
    /// An unknown digit-count or OTP-type number.
    #[error("entry {index} has unknown {field} value {value}")]
    UnknownEnum {
        /// Zero-based position in this batch.
        index: usize,
        /// Which field.
        field: &'static str,
        /// The number found.
        value: u64,
    },
    /// A counter that does not fit in 64 bits as a non-negative number.
    #[error("entry {index} has an invalid counter")]
    BadCounter {
        /// Zero-based position in this batch.
        index: usize,
    },
    /// Parameters that make no valid OTP.
    #[error("entry {index}: {source}")]
    Params {
        /// Zero-based position in this batch.
        index: usize,
        /// What is wrong.
        source: ParamsError,
    },
}

/// One QR code of an export: its accounts and where it sits among the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationBatch {
    /// The accounts in this QR code.
    pub accounts: Vec<Account>,
    /// Zero-based index of this QR code in the export.
    pub batch_index: u32,
    /// How many QR codes the export has (1 when the field is absent).
    pub batch_size: u32,
    /// Identifies the export so that its QR codes can be matched.
    pub batch_id: i32,
}

/// Parses one `otpauth-migration://offline?data=…` URI.
pub fn parse_migration(uri: &str) -> Result<MigrationBatch, MigrationError> {
    let uri = uri.trim();
    let prefix = "otpauth-migration://offline?";
    let head = uri.get(..prefix.len()).ok_or(MigrationError::NotMigrationUri)?;
    if !head.eq_ignore_ascii_case(prefix) {
        return Err(MigrationError::NotMigrationUri);
    }
    let data = uri[prefix.len()..]
        .split('&')
        .find_map(|pair| pair.strip_prefix("data="))
        .ok_or(MigrationError::MissingData)?;
    let data = percent_decode_str(data).decode_utf8().map_err(|_| MigrationError::BadBase64)?;
    let data = data.replace(' ', "+");
    let payload = decode_base64(data.trim_end_matches('='))?;
    parse_payload(&payload)
}

fn decode_base64(text: &str) -> Result<Vec<u8>, MigrationError> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    STANDARD_NO_PAD.decode(text).or_else(|_| URL_SAFE_NO_PAD.decode(text)).map_err(|_| MigrationError::BadBase64)
}

/// Parses the protobuf `MigrationPayload` bytes.
pub fn parse_payload(bytes: &[u8]) -> Result<MigrationBatch, MigrationError> {
    let mut reader = Reader { bytes, offset: 0, base: 0 };
    let mut accounts = Vec::new();
    let mut batch = MigrationBatch { accounts: Vec::new(), batch_index: 0, batch_size: 1, batch_id: 0 };
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Bytes(entry, base)) => accounts.push(parse_entry(entry, base, accounts.len())?),
            (3, Value::Varint(size)) => batch.batch_size = size as u32,
            (4, Value::Varint(index)) => batch.batch_index = index as u32,
            (5, Value::Varint(id)) => batch.batch_id = id as i32,
            _ => {}
        }
    }
    batch.accounts = accounts;
    Ok(batch)
}

fn parse_entry(bytes: &[u8], base: usize, index: usize) -> Result<Account, MigrationError> {
    let mut reader = Reader { bytes, offset: 0, base };
    let (mut secret, mut name, mut issuer) = (None, String::new(), String::new());
    let (mut algorithm, mut digits, mut kind, mut counter) = (0u64, 0u64, 0u64, 0u64);
    while let Some((field, value)) = reader.next_field()? {
        match (field, value) {
            (1, Value::Bytes(bytes, _)) => {
                if bytes.len() > MAX_SECRET_LEN {
                    return Err(MigrationError::SecretTooLong { index });
                }
                secret = Some(SecretBytes::new(bytes.to_vec()));
            }
            (2, Value::Bytes(bytes, _)) => name = utf8(bytes)?,
            (3, Value::Bytes(bytes, _)) => issuer = utf8(bytes)?,
            (4, Value::Varint(value)) => algorithm = value,
            (5, Value::Varint(value)) => digits = value,
            (6, Value::Varint(value)) => kind = value,
            (7, Value::Varint(value)) => counter = value,
            _ => {}
        }
    }
    let secret = secret.filter(|secret| !secret.expose().is_empty()).ok_or(MigrationError::MissingSecret { index })?;
    let algorithm = match algorithm {
        0 | 1 => Algorithm::Sha1,
        2 => Algorithm::Sha256,
        3 => Algorithm::Sha512,
        4 => return Err(MigrationError::UnsupportedAlgorithm { index, name: "MD5".into() }),
        other => return Err(MigrationError::UnsupportedAlgorithm { index, name: other.to_string() }),
    };
    let digits = match digits {
        0 | 1 => 6,
        2 => 8,
        value => return Err(MigrationError::UnknownEnum { index, field: "digits", value }),
    };
    let params = match kind {
        0 | 2 => OtpParams::totp(algorithm, digits, DEFAULT_PERIOD),
        1 => {
            // Protobuf int64: a negative counter arrives as a huge varint.
            if counter > i64::MAX as u64 {
                return Err(MigrationError::BadCounter { index });
            }
            OtpParams::hotp(algorithm, digits, counter)
        }
        value => return Err(MigrationError::UnknownEnum { index, field: "type", value }),
    }
    .map_err(|source| MigrationError::Params { index, source })?;

    // Google writes the name as "Issuer:account" when it has an issuer.
    let name = match name.split_once(':') {
        Some((prefix, rest)) if issuer.is_empty() || prefix.trim() == issuer => {
            if issuer.is_empty() {
                issuer = prefix.trim().to_string();
            }
            rest.trim_start().to_string()
        }
        _ => name,
    };
    Ok(Account { issuer, name, secret, params })
}

fn utf8(bytes: &[u8]) -> Result<String, MigrationError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| MigrationError::NotUtf8)
}

enum Value<'a> {
    Varint(u64),
    /// The bytes and their absolute offset, for error positions inside nested messages.
    Bytes(&'a [u8], usize),
    Other,
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, MigrationError> {
        if self.offset >= self.bytes.len() {
            return Ok(None);
        }
        let start = self.offset;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(MigrationError::Corrupt { offset: self.base + start });
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.skip(8)?;
                Value::Other
            }
            2 => {
                let length = self.varint()?;
                let length = usize::try_from(length).map_err(|_| self.truncated())?;
                let start = self.offset;
                self.skip(length)?;
                Value::Bytes(&self.bytes[start..start + length], self.base + start)
            }
            5 => {
                self.skip(4)?;
                Value::Other
            }
            _ => return Err(MigrationError::Corrupt { offset: self.base + start }),
        };
        Ok(Some((field, value)))
    }

    fn varint(&mut self) -> Result<u64, MigrationError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.offset).ok_or_else(|| self.truncated())?;
            self.offset += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(MigrationError::Corrupt { offset: self.base + self.offset })
    }

    fn skip(&mut self, length: usize) -> Result<(), MigrationError> {
        let end =
            self.offset.checked_add(length).filter(|end| *end <= self.bytes.len()).ok_or_else(|| self.truncated())?;
        self.offset = end;
        Ok(())
    }

    fn truncated(&self) -> MigrationError {
        MigrationError::Truncated { offset: self.base + self.bytes.len() }
    }
}

/// Gathers the QR codes of one or more exports and says which are still missing.
#[derive(Debug, Default)]
pub struct MigrationCollector {
    batches: Vec<MigrationBatch>,
}

impl MigrationCollector {
    /// Adds one scanned QR code; a code seen before is ignored.
    pub fn add(&mut self, batch: MigrationBatch) {
        let seen =
            self.batches.iter().any(|known| known.batch_id == batch.batch_id && known.batch_index == batch.batch_index);
        if !seen {
            self.batches.push(batch);
        }
    }

    /// `(batch_id, missing indexes)` for every export not yet complete.
    pub fn missing(&self) -> Vec<(i32, Vec<u32>)> {
        let mut ids: Vec<i32> = self.batches.iter().map(|batch| batch.batch_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| {
                let of_id: Vec<&MigrationBatch> = self.batches.iter().filter(|batch| batch.batch_id == id).collect();
                let size = of_id.iter().map(|batch| batch.batch_size).max().unwrap_or(1).min(1000);
                let missing: Vec<u32> =
                    (0..size).filter(|index| !of_id.iter().any(|batch| batch.batch_index == *index)).collect();
                (!missing.is_empty()).then_some((id, missing))
            })
            .collect()
    }

    /// All accounts gathered so far, in export order.
    pub fn into_accounts(mut self) -> Vec<Account> {
        self.batches.sort_by_key(|batch| (batch.batch_id, batch.batch_index));
        self.batches.into_iter().flat_map(|batch| batch.accounts).collect()
    }
}
