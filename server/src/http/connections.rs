//! The accept loop and each connection's cycle of request and response over HTTP/1.1, the
//! framing parsed by `nyckel-h1`, each request answered by the router.
//!
//! Why not hyper's connection (nor `axum::serve`): a phone's long poll keeps its connection
//! open for the whole wait, so whatever a connection holds while it waits is paid once per
//! connected phone. hyper keeps an 8 KiB read buffer and an 8 KiB write buffer for a
//! connection's whole life — two thirds of what an idle phone cost. Here a connection holds no
//! buffer while its request is being answered or while it waits for the next one: the read
//! buffer is allocated when bytes arrive and freed once they are used, and a response is
//! written from one allocation that is freed after it.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header::CONTENT_LENGTH, Method, Request, Response};
use axum::Router;
use nyckel_h1::{BodyLength, FramingError, Head};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};
use tower::ServiceExt;

/// How long a client may take to send a request head by default (as nginx's
/// `client_header_timeout` and `keepalive_timeout`, in one).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body the connection reads. Above the API's own limit
/// (`nyckel_protocol::policy::MAX_BODY_BYTES`, 64 KiB) on purpose: a body between the two
/// reaches the handlers and gets the API's 413 with its JSON error; only beyond this one is the
/// connection refused and closed without reading on.
pub const MAX_BODY: usize = 1024 * 1024;
/// Smallest read: a phone's signed request head is about 600 bytes. Kept small because the
/// buffers of thousands of phones re-polling at once are all alive together.
const READ_CHUNK: usize = 1024;
/// Bytes read from a client ahead of its next request (pipelined) while the current one is
/// being answered; beyond it the socket is left alone until the response is out.
const MAX_AHEAD: usize = nyckel_h1::MAX_HEAD;

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, closes idle
/// connections, lets every request in flight finish (its response says `Connection: close`)
/// and returns once all connections are closed. Requests see the peer address as
/// `ConnectInfo<SocketAddr>`.
///
/// A connection that has not sent a whole request head within `header_read_timeout` of its
/// opening or of its previous response is closed, and so is one whose body or response takes
/// longer than that to cross: an idle or trickling client cannot hold a connection (and a
/// file) for ever. A phone's long poll is not affected: no clock runs while a request is being
/// answered. A client that closes its connection while its request is being answered has the
/// request dropped (a long poll ends at once).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `stopping` tells connections to finish; each connection holds a `closed` receiver, so
    // `closed_tx.closed()` completes when the last one has ended.
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::error!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection =
            Connection { router: router.clone(), peer, timeout: header_read_timeout, stopping: stopping_rx.clone() };
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            connection.run(stream).await;
            drop(closed);
        });
    }
    drop(listener);
    drop(closed_rx);
    let _ = stopping_tx.send(true);
    closed_tx.closed().await;
    Ok(())
}

/// Errors of one incoming connection, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// One client connection.
struct Connection {
    router: Router,
    peer: SocketAddr,
    timeout: Duration,
    /// `true` once the server is shutting down.
    stopping: watch::Receiver<bool>,
}

/// Why reading from the client ended without a request.
enum Ended {
    /// Closed, reset, timed out, or idle when the server stops: nothing to answer.
    Quietly,
    /// A request that cannot be served: answered with its status, then closed.
    Refused(FramingError),
}

impl From<FramingError> for Ended {
    fn from(e: FramingError) -> Self {
        Self::Refused(e)
    }
}

impl Connection {
    async fn run(mut self, mut stream: TcpStream) {
        // Responses go out in one write; do not hold the last segment back.
        let _ = stream.set_nodelay(true);
        // Bytes read and not yet used; empty (no allocation) between requests.
        let mut buf = Vec::new();
        loop {
            let (head, body) = match self.read_request(&mut stream, &mut buf).await {
                Ok(request) => request,
                Err(Ended::Quietly) => return,
                Err(Ended::Refused(e)) => {
                    tracing::debug!("refused a request from {}: {e}", self.peer);
                    let _ = self.write(&mut stream, &nyckel_h1::refusal(&e, &http_date())).await;
                    return;
                }
            };
            if buf.is_empty() {
                buf = Vec::new();
            }
            let is_head = head.request.method() == Method::HEAD;
            let (parts, ()) = head.request.into_parts();
            let mut request = Request::from_parts(parts, Body::from(body));
            request.extensions_mut().insert(ConnectInfo(self.peer));
            let Some(response) = self.answer(&mut stream, &mut buf, request).await else {
                return;
            };
            let keep_alive = head.keep_alive && !*self.stopping.borrow();
            let Some(out) = encode(response, is_head, keep_alive).await else {
                return;
            };
            if self.write(&mut stream, &out).await.is_err() || !keep_alive {
                return;
            }
        }
    }

    /// Reads the next request's head and body (with `100 Continue` when the client waits for
    /// it), leaving any bytes after them in `buf`.
    async fn read_request(&mut self, stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(Head, Vec<u8>), Ended> {
        let deadline = Instant::now() + self.timeout;
        let head = loop {
            if !buf.is_empty() {
                if let Some(head) = nyckel_h1::parse_head(buf)? {
                    break head;
                }
            } else if *self.stopping.borrow() {
                return Err(Ended::Quietly);
            }
            let idle = buf.is_empty();
            tokio::select! {
                read = read_by(deadline, stream, buf) => read?,
                // Nothing of a request has arrived: close at once when the server stops.
                _ = self.stopping.changed(), if idle => {}
            }
        };
        buf.drain(..head.len);
        if head.expect_continue && head.body != BodyLength::Empty {
            self.write(stream, b"HTTP/1.1 100 Continue\r\n\r\n").await.map_err(|_| Ended::Quietly)?;
        }
        let body = match head.body {
            BodyLength::Empty => Vec::new(),
            BodyLength::Exact(n) => {
                let n = usize::try_from(n).ok().filter(|n| *n <= MAX_BODY).ok_or(FramingError::BodyTooLarge)?;
                while buf.len() < n {
                    buf.reserve(n - buf.len());
                    read_by(deadline, stream, buf).await?;
                }
                let rest = buf.split_off(n);
                std::mem::replace(buf, rest)
            }
            BodyLength::Chunked => loop {
                if let Some((used, body)) = nyckel_h1::decode_chunked(buf, MAX_BODY)? {
                    buf.drain(..used);
                    break body;
                }
                read_by(deadline, stream, buf).await?;
            },
        };
        Ok((head, body))
    }

    /// The router's response to `request`, or `None` when the client closed the connection
    /// first. While the request is answered, bytes the client sends ahead (its next request)
    /// are kept in `buf`, up to [`MAX_AHEAD`].
    async fn answer(
        &self,
        stream: &mut TcpStream,
        buf: &mut Vec<u8>,
        request: Request<Body>,
    ) -> Option<Response<Body>> {
        let mut call = std::pin::pin!(self.router.clone().oneshot(request));
        loop {
            tokio::select! {
                response = &mut call => return response.ok(),
                ready = stream.readable(), if buf.len() < MAX_AHEAD => {
                    ready.ok()?;
                    let mut ahead = [0u8; 512];
                    match stream.try_read(&mut ahead) {
                        // The client has gone: its request (a long poll, say) is dropped.
                        Ok(0) => return None,
                        Ok(n) => buf.extend_from_slice(&ahead[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return None,
                    }
                }
            }
        }
    }

    async fn write(&self, stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
        match tokio::time::timeout(self.timeout, stream.write_all(bytes)).await {
            Ok(written) => written,
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
}

/// [`read_more`] by `deadline`: an end of stream, an error or the deadline ends the connection.
async fn read_by(deadline: Instant, stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), Ended> {
    match timeout_at(deadline, read_more(stream, buf)).await {
        Ok(Ok(read)) if read > 0 => Ok(()),
        _ => Err(Ended::Quietly),
    }
}

/// Reads what the socket has into `buf`'s spare room, allocating only once bytes are there
/// (so a connection waiting for its next request holds no buffer). `Ok(0)`: closed.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK.max(buf.len()));
        }
        match stream.try_read_buf(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            read => return read,
        }
    }
}

/// The response as bytes: head and whole body (no body for `HEAD`). `None` when the body
/// fails (the connection is then closed, as hyper did).
async fn encode(response: Response<Body>, is_head: bool, keep_alive: bool) -> Option<Vec<u8>> {
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => {
            tracing::error!("a response body failed: {e}");
            return None;
        }
    };
    // A HEAD response announces the length the GET's body would have.
    let length = match is_head {
        true => parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(body.len()),
        false => body.len(),
    };
    let mut out = Vec::with_capacity(256 + if is_head { 0 } else { body.len() });
    nyckel_h1::write_head(&mut out, parts.status, &parts.headers, length, keep_alive, &http_date());
    if !is_head {
        out.extend_from_slice(&body);
    }
    Some(out)
}

fn http_date() -> String {
    httpdate::fmt_http_date(SystemTime::now())
}
