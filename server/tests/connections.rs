//! The server's own HTTP/1.1 connections, byte by byte: pipelining, `100 Continue`, chunked
//! bodies, refused framing, HTTP/1.0, and a long poll dropped when its phone disconnects.

mod common;

use std::time::Duration;

use common::Harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(h: &Harness) -> TcpStream {
    let addr = h.url("").trim_start_matches("http://").trim_end_matches('/').to_owned();
    TcpStream::connect(addr).await.unwrap()
}

/// Reads until the server closes the connection (bounded, so a bug fails rather than hangs).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut all)).await;
    assert!(read.is_ok(), "the server kept the connection open: {:?}", String::from_utf8_lossy(&all));
    String::from_utf8_lossy(&all).into_owned()
}

/// Reads one response with a `content-length` body.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut all = Vec::new();
    let mut byte = [0u8; 1];
    while !all.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut byte)).await.unwrap().unwrap();
        assert_eq!(n, 1, "closed mid-head: {:?}", String::from_utf8_lossy(&all));
        all.push(byte[0]);
    }
    let head = String::from_utf8(all).unwrap();
    let length: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length: ")).map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (head, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let h = Harness::start(&[]).await;
    let mut stream = connect(&h).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nowhere HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (first, _) = read_response(&mut stream).await;
    let (second, body) = read_response(&mut stream).await;
    let (third, _) = read_response(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200 "), "{first}");
    assert!(second.starts_with("HTTP/1.1 404 "), "{second}");
    assert!(body.contains("not_found"), "{body}");
    assert!(third.starts_with("HTTP/1.1 200 "), "{third}");
    assert!(first.to_ascii_lowercase().contains("\r\ndate: "));
}

#[tokio::test]
async fn a_chunked_body_and_a_body_after_100_continue_are_read() {
    let h = Harness::start(&["alice"]).await;
    let body = br#"{"user":"alice","device_name":"Phone"}"#;
    let auth = format!("Authorization: Bearer {}\r\n", h.rp_key);
    // Chunked, in two chunks with an extension and a trailer.
    let (a, b) = body.split_at(10);
    let mut request = format!(
        "POST /v1/enrollments HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(format!("{:x};x=y\r\n", a.len()).as_bytes());
    request.extend_from_slice(a);
    request.extend_from_slice(format!("\r\n{:x}\r\n", b.len()).as_bytes());
    request.extend_from_slice(b);
    request.extend_from_slice(b"\r\n0\r\nX-Trailer: 1\r\n\r\n");
    let mut stream = connect(&h).await;
    stream.write_all(&request).await.unwrap();
    let (head, answer) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}{answer}");
    assert!(answer.contains("qr"), "{answer}");
    // Expect: 100-continue: the body is sent only after the interim response.
    let head = format!(
        "POST /v1/enrollments HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(body).await.unwrap();
    let (head, answer) = read_response(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}{answer}");
}

#[tokio::test]
async fn ambiguous_or_oversized_requests_are_refused_and_the_connection_closed() {
    let h = Harness::start(&[]).await;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"POST /v1/enrollments HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), "400"),
        (b"POST /v1/enrollments HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), "400"),
        (b"POST /v1/enrollments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), "501"),
        (b"GET /healthz HTTP/1.1\r\n\r\n".to_vec(), "400"),
        (b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n".to_vec(), "505"),
        (format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(20_000)).into_bytes(), "431"),
        (b"POST /v1/enrollments HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".to_vec(), "413"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), "400"),
    ];
    for (request, status) in cases {
        let mut stream = connect(&h).await;
        // The server may answer and close before reading everything: a failed write is fine.
        let _ = stream.write_all(&request).await;
        let answer = read_to_close(&mut stream).await;
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{status}: {answer:?}");
        assert!(answer.contains("connection: close"), "{answer}");
    }
}

#[tokio::test]
async fn an_http_1_0_request_is_answered_and_the_connection_closed() {
    let h = Harness::start(&[]).await;
    let mut stream = connect(&h).await;
    stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
}

/// A phone that disconnects in the middle of its long poll does not leave the poll waiting out
/// its time on the server.
#[tokio::test]
async fn a_long_poll_ends_when_its_phone_disconnects() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let request = phone.signed_request(&h, "GET", "/v1/device/challenges?wait=60", Vec::new()).build().unwrap();
    let mut raw = String::from("GET /v1/device/challenges?wait=60 HTTP/1.1\r\nHost: x\r\n");
    for (name, value) in request.headers() {
        raw.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    raw.push_str("\r\n");
    let mut stream = connect(&h).await;
    stream.write_all(raw.as_bytes()).await.unwrap();
    while h.app.metrics.open_long_polls() == 0 {
        tokio::task::yield_now().await;
    }
    drop(stream);
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while h.app.metrics.open_long_polls() > 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(ended.is_ok(), "the long poll outlived its connection");
}
