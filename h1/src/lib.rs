//! HTTP/1.1 request framing for the server's connections: a request head parsed from bytes,
//! how its body is delimited, chunked bodies decoded, response heads written. Pure functions
//! over buffers — the I/O, the timeouts and the buffers' lifetimes are the server's
//! (`nyckel-server`'s `http::connections`), which is why it does not use hyper's connection:
//! a phone's long poll parks a connection for up to a minute, and hyper keeps two 8 KiB
//! buffers per connection for all of that time.
//!
//! What is refused, so that a request can only mean one thing to this server and to a proxy in
//! front of it: a head over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] fields (431); anything
//! httparse does not accept (400); HTTP other than 1.0 and 1.1 (505); an HTTP/1.1 request without
//! exactly one `Host` (400); `Content-Length` that is not a plain decimal number or appears with
//! differing values (400); `Transfer-Encoding` together with `Content-Length`, or on HTTP/1.0
//! (400); a transfer coding other than `chunked` alone (501); a body over the caller's limit
//! (413).

use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, DATE, EXPECT, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Request, StatusCode, Uri, Version};

/// Largest request head (request line and fields), bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one request.
pub const MAX_HEADERS: usize = 64;

/// Why a request cannot be served; each maps to one status ([`FramingError::status`]), after
/// which the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Not a well-formed HTTP/1.x request head, or ambiguous framing.
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The head is larger than [`MAX_HEAD`] or has more than [`MAX_HEADERS`] fields.
    #[error("request head too large")]
    HeadTooLarge,
    /// The body is larger than the server accepts.
    #[error("request body too large")]
    BodyTooLarge,
    /// A transfer coding other than `chunked`.
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// An HTTP version other than 1.0 and 1.1.
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
}

impl FramingError {
    /// The response status for this refusal.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            Self::UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        }
    }
}

/// How the request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// No body.
    Empty,
    /// Exactly this many bytes follow the head.
    Exact(u64),
    /// Chunked transfer coding ([`decode_chunked`]).
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    /// Method, target, version and fields (no body yet).
    pub request: Request<()>,
    /// Bytes of the buffer the head took.
    pub len: usize,
    /// How the body is delimited.
    pub body: BodyLength,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before sending its body.
    pub expect_continue: bool,
}

/// Parses the request head at the start of `buf`: `Ok(None)` while it is incomplete (read
/// more), the head when complete, or why it is refused.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, FramingError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => return Err(FramingError::HeadTooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(FramingError::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(FramingError::UnsupportedVersion),
        Err(_) => return Err(FramingError::Malformed("request head")),
    };
    if len > MAX_HEAD {
        return Err(FramingError::HeadTooLarge);
    }
    let version = match parsed.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Err(FramingError::UnsupportedVersion),
    };
    let method = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes())
        .map_err(|_| FramingError::Malformed("method"))?;
    let uri: Uri = parsed.path.unwrap_or_default().parse().map_err(|_| FramingError::Malformed("request target"))?;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| FramingError::Malformed("field name"))?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| FramingError::Malformed("field value"))?;
        headers.append(name, value);
    }
    let body = body_length(&headers, version)?;
    if version == Version::HTTP_11 && headers.get_all(HOST).iter().count() != 1 {
        return Err(FramingError::Malformed("an HTTP/1.1 request needs exactly one Host"));
    }
    let close = has_token(&headers, CONNECTION, "close");
    let keep_alive = match version {
        Version::HTTP_11 => !close,
        _ => !close && has_token(&headers, CONNECTION, "keep-alive"),
    };
    let expect_continue = version == Version::HTTP_11 && has_token(&headers, EXPECT, "100-continue");
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(Some(Head { request, len, body, keep_alive, expect_continue }))
}

/// The body's delimitation from `Transfer-Encoding` and `Content-Length` (RFC 9112 §6.3),
/// refusing every combination two parsers could read differently.
fn body_length(headers: &HeaderMap, version: Version) -> Result<BodyLength, FramingError> {
    let codings: Vec<&HeaderValue> = headers.get_all(TRANSFER_ENCODING).iter().collect();
    let lengths: Vec<&HeaderValue> = headers.get_all(CONTENT_LENGTH).iter().collect();
    if !codings.is_empty() {
        if !lengths.is_empty() {
            return Err(FramingError::Malformed("both Transfer-Encoding and Content-Length"));
        }
        if version != Version::HTTP_11 {
            return Err(FramingError::Malformed("Transfer-Encoding in HTTP/1.0"));
        }
        let mut all = Vec::new();
        for value in codings {
            let text = value.to_str().map_err(|_| FramingError::Malformed("Transfer-Encoding"))?;
            all.extend(text.split(',').map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()));
        }
        return match all.as_slice() {
            [only] if only == "chunked" => Ok(BodyLength::Chunked),
            _ => Err(FramingError::UnsupportedTransferCoding),
        };
    }
    let mut length = None;
    for value in lengths {
        for part in value.as_bytes().split(|b| *b == b',') {
            let part = part.trim_ascii();
            if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
                return Err(FramingError::Malformed("Content-Length"));
            }
            let n: u64 = std::str::from_utf8(part)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or(FramingError::Malformed("Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(FramingError::Malformed("differing Content-Length values"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        None | Some(0) => BodyLength::Empty,
        Some(n) => BodyLength::Exact(n),
    })
}

/// Whether a comma-separated field lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .any(|value| value.to_str().is_ok_and(|text| text.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
}

/// Decodes the chunked body at the start of `buf` (the bytes after the head): `Ok(None)`
/// while incomplete, else the bytes it took and the body. Chunk extensions and trailer fields
/// are read past and dropped; the body may not exceed `max` bytes, and the chunk-size lines,
/// extensions and trailers together not [`MAX_HEAD`].
pub fn decode_chunked(buf: &[u8], max: usize) -> Result<Option<(usize, Vec<u8>)>, FramingError> {
    let mut at = 0;
    let mut body = Vec::new();
    let mut framing = 0usize;
    loop {
        let rest = &buf[at..];
        let (line, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) if rest.len() > MAX_HEAD => {
                return Err(FramingError::Malformed("chunk size line"))
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(FramingError::Malformed("chunk size")),
        };
        framing += line;
        if framing > MAX_HEAD {
            return Err(FramingError::Malformed("chunk framing too long"));
        }
        at += line;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size).map_err(|_| FramingError::BodyTooLarge)?;
        if body.len().saturating_add(size) > max {
            return Err(FramingError::BodyTooLarge);
        }
        let Some(end) = at.checked_add(size) else {
            return Err(FramingError::BodyTooLarge);
        };
        if buf.len() < end + 2 {
            return Ok(None);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(FramingError::Malformed("chunk not followed by CRLF"));
        }
        body.extend_from_slice(&buf[at..end]);
        at = end + 2;
    }
    // Trailer fields, each ending in CRLF, then an empty line.
    loop {
        let rest = &buf[at..];
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            if rest.len() > MAX_HEAD {
                return Err(FramingError::Malformed("trailer line"));
            }
            return Ok(None);
        };
        framing += eol + 2;
        if framing > MAX_HEAD {
            return Err(FramingError::Malformed("trailers too long"));
        }
        at += eol + 2;
        if eol == 0 {
            return Ok(Some((at, body)));
        }
        if rest[..eol].iter().any(|b| *b == b'\r' || *b == b'\n' || *b == 0) || !rest[..eol].contains(&b':') {
            return Err(FramingError::Malformed("trailer field"));
        }
    }
}

/// Writes a response head to `out`: status line, `date`, the response's fields except the
/// framing ones (`Content-Length`, `Transfer-Encoding`, `Connection`), which are this
/// function's: the body is always sent whole with its length (none for 1xx, 204 and 304), and
/// `Connection: close` when the connection ends after it.
pub fn write_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    body_len: usize,
    keep_alive: bool,
    date: &str,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION || name == DATE {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !(status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body_len.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

/// The whole response to a refused request: its status, no body, `Connection: close`.
pub fn refusal(error: &FramingError, date: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_head(&mut out, error.status(), &HeaderMap::new(), 0, false, date);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<Head>, FramingError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn a_complete_head_is_parsed_and_a_partial_one_waits() {
        let text = "POST /v1/x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello";
        let parsed = head(text).unwrap().unwrap();
        assert_eq!(parsed.request.method(), Method::POST);
        assert_eq!(parsed.request.uri().path(), "/v1/x");
        assert_eq!(parsed.request.uri().query(), Some("y=1"));
        assert_eq!(parsed.request.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(parsed.body, BodyLength::Exact(5));
        assert_eq!(&text.as_bytes()[parsed.len..], b"hello");
        assert!(parsed.keep_alive);
        assert!(!parsed.expect_continue);
        for cut in 0..text.len() - 5 {
            assert!(parse_head(&text.as_bytes()[..cut]).unwrap().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn connection_and_expect_are_read() {
        let close = head("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n").unwrap().unwrap();
        assert!(!close.keep_alive);
        let old = head("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!old.keep_alive);
        let old_kept = head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap();
        assert!(old_kept.keep_alive);
        let expect =
            head("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n").unwrap().unwrap();
        assert!(expect.expect_continue);
    }

    #[test]
    fn ambiguous_or_unsupported_framing_is_refused() {
        let cases: &[(&str, FramingError)] = &[
            ("GET / HTTP/1.1\r\n\r\n", FramingError::Malformed("an HTTP/1.1 request needs exactly one Host")),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                FramingError::Malformed("an HTTP/1.1 request needs exactly one Host"),
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                FramingError::Malformed("both Transfer-Encoding and Content-Length"),
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                FramingError::Malformed("differing Content-Length values"),
            ),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", FramingError::Malformed("Content-Length")),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\n", FramingError::Malformed("Content-Length")),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
                FramingError::Malformed("Content-Length"),
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                FramingError::UnsupportedTransferCoding,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                FramingError::UnsupportedTransferCoding,
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                FramingError::Malformed("Transfer-Encoding in HTTP/1.0"),
            ),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", FramingError::UnsupportedVersion),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", FramingError::Malformed("request head")),
            ("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", FramingError::Malformed("request head")),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", FramingError::Malformed("request head")),
        ];
        for (text, want) in cases {
            assert_eq!(head(text).unwrap_err(), *want, "{text:?}");
        }
        let same = head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n").unwrap().unwrap();
        assert_eq!(same.body, BodyLength::Exact(3));
    }

    #[test]
    fn oversized_heads_are_refused() {
        let long = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(head(&long).unwrap_err(), FramingError::HeadTooLarge);
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        assert_eq!(head(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")).unwrap_err(), FramingError::HeadTooLarge);
    }

    #[test]
    fn chunked_bodies_decode_with_extensions_and_trailers() {
        let body = b"5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (used, decoded) = decode_chunked(body, 100).unwrap().unwrap();
        assert_eq!(decoded, b"hello world");
        assert_eq!(&body[used..], b"NEXT");
        for cut in 0..body.len() - 4 {
            assert!(decode_chunked(&body[..cut], 100).unwrap().is_none(), "cut at {cut}");
        }
    }

    #[test]
    fn malformed_chunked_bodies_are_refused() {
        assert_eq!(
            decode_chunked(b"5\r\nhelloXX", 100).unwrap_err(),
            FramingError::Malformed("chunk not followed by CRLF")
        );
        assert_eq!(decode_chunked(b"zz\r\n", 100).unwrap_err(), FramingError::Malformed("chunk size"));
        assert_eq!(decode_chunked(b"ffffffffffffffffff\r\n", 100).unwrap_err(), FramingError::Malformed("chunk size"));
        assert_eq!(decode_chunked(b"65\r\n", 100).unwrap_err(), FramingError::BodyTooLarge);
        assert_eq!(
            decode_chunked(b"0\r\nno colon\r\n\r\n", 100).unwrap_err(),
            FramingError::Malformed("trailer field")
        );
        let endless = [b"0\r\n".as_slice(), &vec![b'a'; MAX_HEAD + 1]].concat();
        assert_eq!(decode_chunked(&endless, 100).unwrap_err(), FramingError::Malformed("trailer line"));
    }

    #[test]
    fn response_heads_carry_the_framing() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("999"));
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        let mut out = Vec::new();
        write_head(&mut out, StatusCode::OK, &headers, 2, false, "Sat, 28 Nov 2026 00:00:00 GMT");
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\
             date: Sat, 28 Nov 2026 00:00:00 GMT\r\n\r\n"
        );
        let mut out = Vec::new();
        write_head(&mut out, StatusCode::NO_CONTENT, &HeaderMap::new(), 0, true, "d");
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\ndate: d\r\n\r\n");
        assert!(refusal(&FramingError::HeadTooLarge, "d").starts_with(b"HTTP/1.1 431 "));
    }
}
