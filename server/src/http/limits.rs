//! Rate limits of the HTTP API: per relying-party API key or admin token (keyed by the hash
//! of the bearer token) and per client address, answering 429 `rate_limited` with the
//! protocol's JSON error body and a `Retry-After` header.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::Quota;
use nyckel_protocol::digest::sha256;
use nyckel_protocol::ErrorCode;

use crate::http::error::ApiError;

/// Checks between two sweeps of idle buckets.
const SWEEP_EVERY: u64 = 4096;

/// A sustained rate and the burst allowed on top of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: u32,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

/// The limits of [`limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per bearer token (relying-party API key or admin token).
    pub per_key: Rate,
    /// Per client address (IPv6 by /64, since one host usually holds a whole /64).
    pub per_address: Rate,
}

impl Default for Limits {
    /// Generous for an organisation: 50/s (burst 200) per API key — a login portal of a few
    /// thousand users — and 20/s (burst 100) per address, above what one phone or one
    /// NAT-ed office sends.
    fn default() -> Self {
        Self { per_key: Rate { per_second: 50, burst: 200 }, per_address: Rate { per_second: 20, burst: 100 } }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedBy {
    /// The bearer token's.
    Key,
    /// The client address's.
    Address,
}

/// A refused request, reported to the [`OnRefusal`] hook (e.g. for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which limit.
    pub by: LimitedBy,
    /// The client address, when known.
    pub ip: Option<String>,
    /// When a retry may succeed.
    pub retry_after: Duration,
}

/// Called for every refused request; must be cheap (it runs on the request path).
pub type OnRefusal = Arc<dyn Fn(&Refusal) + Send + Sync>;

/// Why limits could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    /// A rate or burst of zero.
    #[error("the {which} rate limit needs at least 1 request per second and a burst of at least 1")]
    Zero {
        /// `per-key` or `per-address`.
        which: &'static str,
    },
}

type Keyed<K, C> = governor::RateLimiter<K, HashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

fn quota(rate: Rate, which: &'static str) -> Result<Quota, LimitsError> {
    let per_second = NonZeroU32::new(rate.per_second).ok_or(LimitsError::Zero { which })?;
    let burst = NonZeroU32::new(rate.burst).ok_or(LimitsError::Zero { which })?;
    Ok(Quota::per_second(per_second).allow_burst(burst))
}

/// The two keyed limiters.
struct Limiter<C: Clock> {
    keys: Keyed<[u8; 32], C>,
    addresses: Keyed<IpAddr, C>,
    clock: C,
    on_refusal: Option<OnRefusal>,
    checks: AtomicU64,
}

impl<C: Clock + Clone> Limiter<C> {
    fn new(limits: &Limits, on_refusal: Option<OnRefusal>, clock: C) -> Result<Self, LimitsError> {
        Ok(Self {
            keys: governor::RateLimiter::new(
                quota(limits.per_key, "per-key")?,
                HashMapStateStore::default(),
                clock.clone(),
            ),
            addresses: governor::RateLimiter::new(
                quota(limits.per_address, "per-address")?,
                HashMapStateStore::default(),
                clock.clone(),
            ),
            clock,
            on_refusal,
            checks: AtomicU64::new(0),
        })
    }

    /// The address limit first, so a flood of made-up tokens from one address is stopped
    /// before it creates a bucket per token.
    fn check(&self, key: Option<[u8; 32]>, ip: Option<IpAddr>) -> Result<(), Refusal> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Buckets that have refilled are indistinguishable from new ones: dropping them
            // bounds memory by the clients active in the last burst/rate seconds.
            self.keys.retain_recent();
            self.addresses.retain_recent();
        }
        if let Some(ip) = ip {
            if let Err(not_until) = self.addresses.check_key(&ip) {
                let retry_after = not_until.wait_time_from(self.clock.now());
                return Err(Refusal { by: LimitedBy::Address, ip: Some(ip.to_string()), retry_after });
            }
        }
        if let Some(key) = key {
            if let Err(not_until) = self.keys.check_key(&key) {
                let retry_after = not_until.wait_time_from(self.clock.now());
                return Err(Refusal { by: LimitedBy::Key, ip: ip.map(|i| i.to_string()), retry_after });
            }
        }
        Ok(())
    }
}

/// The bucket of an address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// SHA-256 of the bearer token, when there is one: the token itself is never kept.
fn bearer_key(request: &Request) -> Option<[u8; 32]> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| sha256(token.as_bytes()))
}

async fn enforce<C>(State(limiter): State<Arc<Limiter<C>>>, request: Request, next: Next) -> Response
where
    C: Clock + Clone + Send + Sync + 'static,
{
    let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let bucket = ip.map(address_key);
    match limiter.check(bearer_key(&request), bucket) {
        Ok(()) => next.run(request).await,
        Err(mut refusal) => {
            // Report the client's own address, not its /64 bucket.
            refusal.ip = ip.map(|i| i.to_string());
            if let Some(hook) = &limiter.on_refusal {
                hook(&refusal);
            }
            too_many(&refusal)
        }
    }
}

/// 429 with the protocol's error body and `Retry-After` in whole seconds (at least 1).
fn too_many(refusal: &Refusal) -> Response {
    let secs = refusal.retry_after.as_secs() + u64::from(refusal.retry_after.subsec_nanos() > 0);
    let secs = secs.max(1);
    let what = match refusal.by {
        LimitedBy::Key => "this API key",
        LimitedBy::Address => "this address",
    };
    let mut response =
        ApiError::new(ErrorCode::RateLimited, format!("too many requests from {what}; retry after {secs} s"))
            .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Wraps every route of `router` (add routes and fallbacks first) in the limits.
/// `on_refusal` sees each refused request. The router must be served with
/// `into_make_service_with_connect_info::<SocketAddr>()` for the address limit to apply.
pub fn limit(router: Router, limits: &Limits, on_refusal: Option<OnRefusal>) -> Result<Router, LimitsError> {
    limit_with_clock(router, limits, on_refusal, MonotonicClock)
}

fn limit_with_clock<C>(
    router: Router,
    limits: &Limits,
    on_refusal: Option<OnRefusal>,
    clock: C,
) -> Result<Router, LimitsError>
where
    C: Clock + Clone + Send + Sync + 'static,
{
    let limiter = Arc::new(Limiter::new(limits, on_refusal, clock)?);
    Ok(router.layer(axum::middleware::from_fn_with_state(limiter, enforce::<C>)))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use governor::clock::FakeRelativeClock;
    use tower::ServiceExt;

    use super::*;

    fn tiny(per_key: u32, per_address: u32) -> Limits {
        Limits {
            per_key: Rate { per_second: 1, burst: per_key },
            per_address: Rate { per_second: 1, burst: per_address },
        }
    }

    fn app(limits: &Limits, clock: FakeRelativeClock, hook: Option<OnRefusal>) -> Router {
        let router = Router::new().route("/v1/x", get(|| async { "ok" })).fallback(|| async { StatusCode::NOT_FOUND });
        limit_with_clock(router, limits, hook, clock).unwrap()
    }

    async fn send(app: &Router, key: Option<&str>, ip: &str) -> Response {
        let mut builder = Request::builder().uri("/v1/x");
        if let Some(key) = key {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let addr = SocketAddr::new(ip.parse::<IpAddr>().unwrap(), 4000);
        let request = builder.extension(ConnectInfo(addr)).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn per_key_limit_and_independent_keys() {
        let clock = FakeRelativeClock::default();
        let app = app(&tiny(3, 1000), clock.clone(), None);
        for _ in 0..3 {
            assert_eq!(send(&app, Some("key-a"), "192.0.2.1").await.status(), StatusCode::OK);
        }
        let refused = send(&app, Some("key-a"), "192.0.2.1").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        let body = axum::body::to_bytes(refused.into_body(), 4096).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "rate_limited");
        // Another key from the same address is limited on its own.
        for _ in 0..3 {
            assert_eq!(send(&app, Some("key-b"), "192.0.2.1").await.status(), StatusCode::OK);
        }
        assert_eq!(send(&app, Some("key-b"), "192.0.2.1").await.status(), StatusCode::TOO_MANY_REQUESTS);
        // The bucket refills at the sustained rate.
        clock.advance(Duration::from_secs(1));
        assert_eq!(send(&app, Some("key-a"), "192.0.2.1").await.status(), StatusCode::OK);
        assert_eq!(send(&app, Some("key-a"), "192.0.2.1").await.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn per_address_limit() {
        let refusals = Arc::new(Mutex::new(Vec::new()));
        let seen = refusals.clone();
        let hook: OnRefusal = Arc::new(move |r: &Refusal| seen.lock().unwrap().push(r.clone()));
        let app = app(&tiny(1000, 2), FakeRelativeClock::default(), Some(hook));
        for _ in 0..2 {
            assert_eq!(send(&app, None, "192.0.2.1").await.status(), StatusCode::OK);
        }
        assert_eq!(send(&app, None, "192.0.2.1").await.status(), StatusCode::TOO_MANY_REQUESTS);
        // A key does not escape the address limit.
        assert_eq!(send(&app, Some("key"), "192.0.2.1").await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(send(&app, None, "192.0.2.2").await.status(), StatusCode::OK);
        // IPv6 addresses of one /64 share a bucket; another /64 does not.
        assert_eq!(send(&app, None, "2001:db8:1:1::1").await.status(), StatusCode::OK);
        assert_eq!(send(&app, None, "2001:db8:1:1::2").await.status(), StatusCode::OK);
        assert_eq!(send(&app, None, "2001:db8:1:1::3").await.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(send(&app, None, "2001:db8:1:2::1").await.status(), StatusCode::OK);
        let refusals = refusals.lock().unwrap();
        assert_eq!(refusals.len(), 3);
        assert_eq!(refusals[0].by, LimitedBy::Address);
        assert_eq!(refusals[0].ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(refusals[2].ip.as_deref(), Some("2001:db8:1:1::3"));
    }

    #[test]
    fn zero_limits_are_refused() {
        let zero = Limits { per_key: Rate { per_second: 0, burst: 1 }, ..Limits::default() };
        assert_eq!(limit(Router::new(), &zero, None).err(), Some(LimitsError::Zero { which: "per-key" }));
        let zero = Limits { per_address: Rate { per_second: 1, burst: 0 }, ..Limits::default() };
        assert_eq!(limit(Router::new(), &zero, None).err(), Some(LimitsError::Zero { which: "per-address" }));
        assert!(limit(Router::new(), &Limits::default(), None).is_ok());
    }
}
