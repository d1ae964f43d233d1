//! `uniffi-bindgen` built from the same pinned uniffi as `nyckel-ffi`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
