//! The accept loop: one HTTP/1.1 connection per task, served by hyper's http1 machinery directly.
//!
//! Why not `axum::serve`: every phone holds one connection open for the whole of its long poll,
//! so what a connection costs is paid once per connected phone. `axum::serve` goes through
//! hyper-util's protocol-sniffing `auto` builder (a builder and a version-detecting wrapper per
//! connection, an upgradeable connection) and a make-service call per connection; HTTP/1.1
//! is all this server speaks, so the connection task here holds only hyper's http1 connection,
//! a clone of the router and the shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a client may take to send a request head by default (as nginx's
/// `client_header_timeout` and `keepalive_timeout`, in one).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its request in flight (hyper's graceful shutdown) and returns once all
/// are closed. Requests see the peer address as `ConnectInfo<SocketAddr>`.
///
/// A connection that has not sent a whole request head within `header_read_timeout` of its
/// opening or of its previous response is closed, so an idle or trickling client cannot hold
/// a connection (and a file) for ever. A phone's long poll is not affected: the clock runs
/// only while hyper waits for a head, not while a request is being answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `signal` tells connections to shut down; each connection holds a `closed` receiver, so
    // `closed_tx.closed()` completes when the last one has ended.
    let (signal_tx, signal_rx) = watch::channel(());
    let (closed_tx, closed_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
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
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request)
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut signal = signal_rx.clone();
        let closed = closed_rx.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!("connection from {peer}: {e}");
                    }
                }
                _ = signal.changed() => {
                    connection.as_mut().graceful_shutdown();
                    if let Err(e) = connection.await {
                        tracing::trace!("connection from {peer}: {e}");
                    }
                }
            }
            drop(closed);
        });
    }
    drop(listener);
    drop(closed_rx);
    let _ = signal_tx.send(());
    closed_tx.closed().await;
    Ok(())
}

/// Errors of one incoming connection, not of the listener.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
