//! Real photos (ZXing-C++'s QR test set, copied into `tests/qr-samples`): every photo listed in
//! `decoded.txt` — the figure the README claims — must decode to its exact expected text, and
//! the four-part structured-append message in `qrcode-7` must merge.

use std::path::{Path, PathBuf};

use nyckel_qr::{merge_structured_append, scan_image, QrCode};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/qr-samples")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn has_text(codes: &[QrCode], expected: &[u8]) -> bool {
    codes.iter().any(|c| c.text.as_deref().is_some_and(|t| t.as_bytes() == expected))
}

#[test]
fn every_claimed_photo_decodes_exactly() {
    let list = String::from_utf8(read(&samples().join("decoded.txt"))).expect("utf-8 list");
    let names: Vec<&str> = list.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert!(names.len() >= 97, "the list claims {} photos", names.len());
    // Two threads: the dev profile leaves our code unoptimised.
    let (left, right) = names.split_at(names.len() / 2);
    let check = |part: &[&str]| -> Vec<String> {
        part.iter()
            .filter(|name| {
                // Names may contain dots ("gs1-figure-4.15.1-1"): append, do not replace, extensions.
                let image = read(&samples().join(format!("{name}.png")));
                let expected = read(&samples().join(format!("{name}.txt")));
                let codes = scan_image(&image).unwrap_or_else(|e| panic!("{name}: {e}"));
                !has_text(&codes, &expected)
            })
            .map(|name| name.to_string())
            .collect()
    };
    let failed: Vec<String> = std::thread::scope(|s| {
        let other = s.spawn(|| check(left));
        let mut failed = check(right);
        failed.extend(other.join().expect("thread"));
        failed
    });
    assert!(failed.is_empty(), "{} of {} claimed photos no longer decode: {failed:?}", failed.len(), names.len());
}

#[test]
fn structured_append_parts_merge_into_the_message() {
    let dir = samples().join("qrcode-7");
    let expected = read(&dir.join("01.txt"));
    let mut parts = Vec::new();
    for i in 1..=4 {
        let codes = scan_image(&read(&dir.join(format!("01-0{i}.png")))).expect("decodes");
        assert_eq!(codes.len(), 1, "part {i}");
        let sa = codes[0].structured_append.expect("structured-append header");
        assert_eq!((sa.index, sa.count), (i - 1, 4));
        parts.extend(codes);
    }
    // Any order, with repeats, as a camera sees them.
    parts.reverse();
    parts.push(parts[0].clone());
    let merged = merge_structured_append(&parts);
    assert_eq!(merged.len(), 1);
    assert_eq!(merged[0].symbols, 4);
    assert!(has_text(&merged, &expected));
    assert!(merge_structured_append(&parts[..3]).is_empty(), "three of four parts are not a message");
}
