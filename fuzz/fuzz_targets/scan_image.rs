//! `scan_image` with arbitrary bytes (seeded with PNG, JPEG and WebP files): a result or a typed error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        let _ = nyckel_qr::scan_image(data);
    }
);
