//! Merges structured-append sequences (one message split over up to 16 symbols) into one result.

use std::collections::BTreeMap;

use super::bitstream::Segment;
use super::code::QrCode;
use super::payload::classify;
use super::text;

/// Merges every complete structured-append sequence in `codes` and returns one result per
/// sequence; incomplete sequences and plain codes are left out.
///
/// Parts may come from several frames or images, in any order, repeated: a camera app keeps
/// the parts it has seen and calls this after each frame.
pub fn merge_structured_append(codes: &[QrCode]) -> Vec<QrCode> {
    complete_sequences(codes).into_iter().map(|(_, code)| code).collect()
}

/// Complete sequences, each with its (parity, count) key.
fn complete_sequences(codes: &[QrCode]) -> Vec<((u8, u8), QrCode)> {
    let mut sequences: BTreeMap<(u8, u8), BTreeMap<u8, &QrCode>> = BTreeMap::new();
    for code in codes {
        if let Some(sa) = code.structured_append {
            if sa.index < sa.count {
                sequences.entry((sa.parity, sa.count)).or_default().entry(sa.index).or_insert(code);
            }
        }
    }
    let mut merged = Vec::new();
    for ((parity, count), parts) in sequences {
        if parts.len() != usize::from(count) {
            continue;
        }
        let mut ordered = parts.values();
        let Some(first) = ordered.next() else { continue };
        let segments: Vec<Segment> = parts.values().flat_map(|p| p.segments.iter().cloned()).collect();
        let bytes: Vec<u8> = segments.iter().flat_map(|s| s.bytes.iter().copied()).collect();
        merged.push((
            (parity, count),
            QrCode {
                kind: classify(&bytes),
                text: text::decode(&segments),
                bytes,
                version: first.version,
                ec_level: first.ec_level,
                corners: first.corners,
                structured_append: None,
                symbols: count,
                segments,
            },
        ));
    }
    merged
}

/// Replaces the parts of complete sequences in `codes` by their merged message.
pub(crate) fn merge_in_place(codes: &mut Vec<QrCode>) {
    let merged = complete_sequences(codes);
    if merged.is_empty() {
        return;
    }
    codes
        .retain(|c| !c.structured_append.is_some_and(|sa| merged.iter().any(|(key, _)| *key == (sa.parity, sa.count))));
    codes.extend(merged.into_iter().map(|(_, code)| code));
}
