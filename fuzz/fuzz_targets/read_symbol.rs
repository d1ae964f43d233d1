//! The decoder behind the scanner on arbitrary module grids and data codewords: format and
//! codeword placement, Reed–Solomon correction, the bit-stream parser and charset decoding
//! must return a result or nothing, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nyckel_qr::fuzzing::{parse_data, read_symbol};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let version = selector % 40 + 1;
    // The same bytes as a grid of modules (mostly unreadable, but the format and the
    // correction of near-misses run) and as already-corrected data codewords.
    let _ = read_symbol(version, rest);
    let _ = parse_data(rest, version);
});
