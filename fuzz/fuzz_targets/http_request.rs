#![no_main]
//! The server's HTTP/1.1 request framing (`nyckel-h1`) on arbitrary bytes: a head, then its
//! body when the head says chunked. Whatever parses must be self-consistent: the head's length
//! lies within the input, a chunked body fits its limit and the bytes it took.

use libfuzzer_sys::fuzz_target;
use nyckel_h1::{decode_chunked, parse_head, BodyLength, MAX_HEAD};

const MAX_BODY: usize = 4096;

fuzz_target!(|data: &[u8]| {
    match parse_head(data) {
        Ok(Some(head)) => {
            assert!(head.len <= data.len() && head.len <= MAX_HEAD);
            if head.body == BodyLength::Chunked {
                if let Ok(Some((used, body))) = decode_chunked(&data[head.len..], MAX_BODY) {
                    assert!(used <= data.len() - head.len);
                    assert!(body.len() <= MAX_BODY && body.len() <= used);
                }
            }
        }
        Ok(None) => assert!(data.len() < MAX_HEAD),
        Err(e) => assert!(e.status().is_client_error() || e.status().is_server_error()),
    }
    // The body decoder on its own, from the first byte.
    if let Ok(Some((used, body))) = decode_chunked(data, MAX_BODY) {
        assert!(used <= data.len() && body.len() <= used);
    }
});
