//! The client's address: the TCP peer, or — only when the peer is a configured reverse
//! proxy — the nearest untrusted address of `X-Forwarded-For`.
//!
//! Resolved once per request by [`resolve`], which replaces the connection's `ConnectInfo`
//! so the rate limits, the audit log and every handler see the same address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpAddr>);

impl TrustedProxies {
    fn trusts(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

/// The client address for a request from `peer` with `headers`: `peer` itself unless it is
/// a trusted proxy; then the right-most `X-Forwarded-For` entry that is not a trusted proxy
/// (entries left of it are whatever the client claimed and are ignored). A malformed entry
/// ends the walk at the last address known good.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    if !trusted.trusts(&peer) {
        return peer;
    }
    let mut chain: Vec<&str> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(text) => chain.extend(text.split(',').map(str::trim)),
            Err(_) => return peer,
        }
    }
    let mut client = peer;
    for entry in chain.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if trusted.trusts(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
}

/// Middleware: puts the resolved client address in place of the peer's.
pub async fn resolve(State(trusted): State<Arc<TrustedProxies>>, mut request: Request, next: Next) -> Response {
    if !trusted.0.is_empty() {
        if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
            let ip = client_ip(peer.ip(), request.headers(), &trusted);
            request.extensions_mut().insert(ConnectInfo(SocketAddr::new(ip, peer.port())));
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_trusted_proxies_are_believed() {
        let trusted = TrustedProxies(vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        let spoofed = headers(&["203.0.113.9"]);
        assert_eq!(client_ip(ip("198.51.100.7"), &spoofed, &trusted), ip("198.51.100.7"), "untrusted peer");
        assert_eq!(client_ip(ip("10.0.0.1"), &spoofed, &trusted), ip("203.0.113.9"));
        // The client's own claim (left) is ignored; the nearest untrusted hop counts.
        let chain = headers(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &chain, &trusted), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.1"), &headers(&[]), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &headers(&["garbage"]), &trusted), ip("10.0.0.1"));
        assert_eq!(client_ip(ip("10.0.0.1"), &headers(&["garbage, 10.0.0.2"]), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.1"), &headers(&["2001:db8::5"]), &trusted), ip("2001:db8::5"));
        assert_eq!(client_ip(ip("10.0.0.1"), &spoofed, &TrustedProxies::default()), ip("10.0.0.1"));
    }
}
