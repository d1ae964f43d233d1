//! The HTTP API (PROTOCOL.md §7): routes, handlers and the server loop.

pub mod client_addr;
pub(crate) mod connections;
pub mod error;
pub mod extract;
pub mod limits;
pub mod new_device;
pub mod openapi;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use nyckel_protocol::enrollment::{EnrollmentStarted, EnrollmentStatus, StartEnrollment};
use nyckel_protocol::rekey::{Rekey, Rekeyed};
use nyckel_protocol::wire::audit::{AuditKind, AuditPage};
use nyckel_protocol::wire::devices::{DeviceInfo, DeviceList, DeviceState};
use nyckel_protocol::wire::phone::{AnswerAccepted, PendingChallenges};
use nyckel_protocol::wire::relying_party::{
    ChallengeStatus, CreatePushChallenge, CreateQrChallenge, PushChallengeCreated, QrChallengeCreated, TenantUser,
    VerifyOtp,
};
use nyckel_protocol::{Answer, ChallengeId, CompleteEnrollment, DeviceId, EnrollmentId, EnrollmentReceipt, PinCheck};
use schemars::JsonSchema;
use serde::Deserialize;

use self::extract::{decode, Admin, ApiPath, ApiQuery, ClientIp, JsonBody, Rp, Signed};
use crate::http::error::ApiError;
use crate::service::admin::{self, DeviceAction};
use crate::service::app::App;
use crate::service::{challenges, enrollments, phone, users};
use crate::{audit, qr_image};

type Api<T> = Result<Json<T>, ApiError>;

/// `?wait=N` of the long polls.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Seconds, clamped to 0–30.
    pub wait: Option<u64>,
}

/// Query of `GET /v1/admin/devices`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicesQuery {
    /// Only this tenant's devices (a tenant administrator sees only their own anyway).
    pub tenant: Option<String>,
    /// Only this user's devices (with a tenant).
    pub user: Option<String>,
    /// Only devices in this state.
    pub state: Option<DeviceState>,
}

/// Query of `GET /v1/admin/audit`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events after this sequence number.
    pub after: Option<u64>,
    /// Page size, 1–500 (default 100).
    pub limit: Option<usize>,
}

/// The `{action}` of `POST /v1/admin/devices/{id}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceActionName {
    /// Blocked → active, PIN-failure count 0.
    Unblock,
    /// Inactive → active.
    Reactivate,
    /// Deleted, its secret destroyed.
    Revoke,
}

/// The router of every endpoint (each documented in [`openapi::OPERATIONS`] or listed in
/// [`openapi::UNDOCUMENTED`]).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/enrollments", post(start_enrollment))
        .route("/v1/enrollments/{id}", get(enrollment_status))
        .route("/v1/enrollments/{id}/qr.png", get(enrollment_png))
        .route("/v1/enrollments/{id}/qr.svg", get(enrollment_svg))
        .route("/v1/challenges/push", post(create_push))
        .route("/v1/challenges/qr", post(create_qr))
        .route("/v1/challenges/{id}", get(challenge_status))
        .route("/v1/challenges/{id}/otp", post(verify_otp))
        .route("/v1/users/{user}", axum::routing::put(put_user))
        .route("/v1/users/{user}/devices", get(user_devices))
        .route("/v1/users/{user}/devices/{device_id}", axum::routing::delete(remove_user_device))
        .route("/v1/enroll", post(complete_enrollment))
        .route("/v1/device/challenges", get(poll))
        .route("/v1/device/challenges/{id}/answer", post(answer))
        .route("/v1/device/pin-check", post(pin_check))
        .route("/v1/device/rekey", post(rekey))
        .route("/v1/device", get(own_device).delete(unregister))
        .route("/v1/device/audit", get(device_audit))
        .route("/v1/admin/devices", get(admin_devices))
        .route("/v1/admin/devices/{id}/{action}", post(admin_device_action))
        .route("/v1/admin/audit", get(admin_audit))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/v1/admin/tenants/{tenant}/users/{user}/otp-unlock", post(admin_otp_unlock))
        // Adding a phone by a registered phone's approval, and retiring devices (docs/PROTOCOL.md §6.5).
        .route("/v1/device/enrollments", post(new_device::start))
        .route("/v1/enroll/approval", post(new_device::request_approval))
        .route("/v1/enroll/result", post(new_device::result))
        .route("/v1/device/devices", get(new_device::user_devices))
        .route("/v1/device/devices/{device_id}/retire", post(new_device::retire))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(app.clone(), durable_audit))
        .with_state(app)
}

/// Logs each request, and makes every audit event a request caused durable before its response leaves: when events
/// were appended meanwhile (by this request or a concurrent one), the store is flushed first.
async fn durable_audit(
    State(app): State<Arc<App>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let before = app.recorded();
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    // One line per request: no query string (it can hold ids) and no body.
    tracing::info!(
        target: "nyckel_server::request",
        %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    if app.recorded() != before {
        if let Err(e) = app.store.flush().await {
            return ApiError::internal(&e).into_response();
        }
    }
    response
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the store answers and no shutdown has begun (a load balancer stops sending here
/// when this says 503).
async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match crate::service::tenants::list(&*app.store).await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::error!("readiness: the store failed: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
        }
    }
}

/// Prometheus metrics (no tenant, user or device in any label).
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let body = app.metrics.render(app.challenges.pending(app.now()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Serves `app` on `listener`, behind the rate limits, until the listener fails.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    rates: &limits::Limits,
    trusted: client_addr::TrustedProxies,
    header_read_timeout: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), crate::ServerError> {
    // Refusals are audited in aggregate (one summary per window), never one event each.
    let audit_app = Arc::downgrade(&app);
    let on_refusal: limits::OnRefusal = Arc::new(move |refusal: &limits::Refusal| {
        if let Some(app) = audit_app.upgrade() {
            let now = app.now();
            if let Some(summary) = app.audit.count_unauthenticated(AuditKind::RateLimited, refusal.ip.as_deref(), now) {
                // The hook is synchronous; the append (a database round trip on PostgreSQL)
                // goes on in a task of its own.
                let audit = app.audit.clone();
                tokio::spawn(async move {
                    if let Err(e) = audit.append(summary, now).await {
                        tracing::error!("auditing rate-limit refusals failed: {e}");
                    }
                });
            }
        }
    });
    let routes = limits::limit(router(app.clone()), rates, Some(on_refusal))?
        .layer(axum::middleware::from_fn_with_state(Arc::new(trusted), client_addr::resolve));
    let housekeeping = crate::service::housekeeping::spawn(&app);
    let following = crate::service::instances::spawn(&app);
    // The server's own loop rather than `axum::serve`: a phone's long poll keeps one connection
    // open for its whole wait, so each connection's cost is paid per phone (see `connections`).
    let stopping = Arc::downgrade(&app);
    let result = connections::serve(listener, routes, header_read_timeout, async move {
        shutdown.await;
        tracing::info!("shutting down: answering long polls, finishing requests in flight");
        if let Some(app) = stopping.upgrade() {
            app.begin_shutdown();
        }
    })
    .await;
    housekeeping.abort();
    if let Some(task) = following {
        task.abort();
    }
    // What is acknowledged is on disk, and the audit summaries of the last window are written.
    if let Err(e) = app.audit.flush_aggregates(app.now().saturating_add(crate::audit::AGGREGATE_WINDOW)).await {
        tracing::error!("writing the last audit summaries failed: {e}");
    }
    app.store.flush().await?;
    Ok(result?)
}

async fn start_enrollment(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<StartEnrollment>,
) -> Api<EnrollmentStarted> {
    Ok(Json(enrollments::start(&app, &rp, req, ip.as_deref()).await?))
}

async fn enrollment_status(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ApiPath(id): ApiPath<EnrollmentId>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Api<EnrollmentStatus> {
    Ok(Json(enrollments::watch_status(&app, &rp, &id, q.wait).await?))
}

async fn enrollment_png(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ApiPath(id): ApiPath<EnrollmentId>,
) -> Result<Response, ApiError> {
    let uri = enrollments::qr_uri(&app, &rp, &id).await?;
    let png = qr_image::png(&uri).map_err(|e| ApiError::internal(&e))?;
    Ok(([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "no-store")], png).into_response())
}

async fn enrollment_svg(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ApiPath(id): ApiPath<EnrollmentId>,
) -> Result<Response, ApiError> {
    let uri = enrollments::qr_uri(&app, &rp, &id).await?;
    let svg = qr_image::svg(&uri).map_err(|e| ApiError::internal(&e))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "no-store")], svg).into_response())
}

async fn create_push(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<CreatePushChallenge>,
) -> Api<PushChallengeCreated> {
    Ok(Json(challenges::create_push(&app, &rp, req, ip.as_deref()).await?))
}

async fn create_qr(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<CreateQrChallenge>,
) -> Api<QrChallengeCreated> {
    Ok(Json(challenges::create_qr(&app, &rp, req, ip.as_deref()).await?))
}

async fn challenge_status(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ApiPath(id): ApiPath<ChallengeId>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Api<ChallengeStatus> {
    Ok(Json(challenges::watch_status(&app, &rp, &id, q.wait).await?))
}

async fn verify_otp(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<ChallengeId>,
    JsonBody(req): JsonBody<VerifyOtp>,
) -> Api<ChallengeStatus> {
    Ok(Json(challenges::verify_otp(&app, &rp, &id, &req.otp, ip.as_deref()).await?))
}

async fn put_user(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ClientIp(ip): ClientIp,
    ApiPath(user): ApiPath<String>,
) -> Result<(StatusCode, Json<TenantUser>), ApiError> {
    let (user, created) = users::ensure_for_rp(&app, &rp, &user, ip.as_deref()).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(user)))
}

async fn user_devices(State(app): State<Arc<App>>, Rp(rp): Rp, ApiPath(user): ApiPath<String>) -> Api<DeviceList> {
    Ok(Json(admin::user_devices(&app, &rp, &user).await?))
}

async fn remove_user_device(
    State(app): State<Arc<App>>,
    Rp(rp): Rp,
    ClientIp(ip): ClientIp,
    ApiPath((user, device_id)): ApiPath<(String, DeviceId)>,
) -> Result<StatusCode, ApiError> {
    admin::remove_user_device(&app, &rp, &user, &device_id, ip.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn complete_enrollment(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<CompleteEnrollment>,
) -> Api<EnrollmentReceipt> {
    Ok(Json(enrollments::complete(&app, req, ip.as_deref()).await?))
}

async fn poll(State(app): State<Arc<App>>, ApiQuery(q): ApiQuery<WaitQuery>, signed: Signed) -> Api<PendingChallenges> {
    Ok(Json(phone::poll(&app, &signed.device, q.wait).await))
}

async fn answer(State(app): State<Arc<App>>, ApiPath(id): ApiPath<ChallengeId>, signed: Signed) -> Api<AnswerAccepted> {
    let body: Answer = decode(&signed.body)?;
    Ok(Json(phone::answer(&app, &signed.device, &id, body, signed.ip.as_deref()).await?))
}

async fn pin_check(State(app): State<Arc<App>>, signed: Signed) -> Result<StatusCode, ApiError> {
    let body: PinCheck = decode(&signed.body)?;
    phone::pin_check(&app, &signed.device, body, signed.ip.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn rekey(State(app): State<Arc<App>>, signed: Signed) -> Api<Rekeyed> {
    let body: Rekey = decode(&signed.body)?;
    Ok(Json(phone::rekey(&app, &signed.device, body, signed.ip.as_deref()).await?))
}

async fn own_device(State(app): State<Arc<App>>, signed: Signed) -> Api<DeviceInfo> {
    Ok(Json(signed.device.record().info(app.now())))
}

async fn unregister(State(app): State<Arc<App>>, signed: Signed) -> Result<StatusCode, ApiError> {
    phone::remove_device(&app, &signed.device, AuditKind::DeviceRemoved, "device", signed.ip.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn device_audit(
    State(app): State<Arc<App>>,
    ApiQuery(q): ApiQuery<AuditQuery>,
    signed: Signed,
) -> Api<AuditPage> {
    let limit = audit_limit(&q)?;
    Ok(Json(phone::device_audit(&app, &signed.device, q.after.unwrap_or(0), limit).await?))
}

/// The page size of an audit query: 1–500, 100 when not given.
fn audit_limit(q: &AuditQuery) -> Result<usize, ApiError> {
    if q.limit.is_some_and(|l| l == 0 || l > audit::MAX_PAGE) {
        return Err(ApiError::bad_request(format!("limit must be 1 to {}", audit::MAX_PAGE)));
    }
    Ok(q.limit.unwrap_or(audit::DEFAULT_PAGE))
}

async fn admin_devices(
    State(app): State<Arc<App>>,
    Admin(scope): Admin,
    ApiQuery(q): ApiQuery<DevicesQuery>,
) -> Api<DeviceList> {
    Ok(Json(admin::devices_in_scope(&app, &scope, q.tenant, q.user.as_deref(), q.state)?))
}

async fn admin_otp_unlock(
    State(app): State<Arc<App>>,
    Admin(scope): Admin,
    ClientIp(ip): ClientIp,
    ApiPath((tenant, user)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    admin::unlock_otp(&app, &scope, &tenant, &user, ip.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_device_action(
    State(app): State<Arc<App>>,
    Admin(scope): Admin,
    ClientIp(ip): ClientIp,
    ApiPath((id, action)): ApiPath<(DeviceId, DeviceActionName)>,
) -> Result<StatusCode, ApiError> {
    let action = match action {
        DeviceActionName::Unblock => DeviceAction::Unblock,
        DeviceActionName::Reactivate => DeviceAction::Reactivate,
        DeviceActionName::Revoke => DeviceAction::Revoke,
    };
    admin::device_action(&app, &scope, &id, action, ip.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn admin_audit(
    State(app): State<Arc<App>>,
    Admin(scope): Admin,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Api<AuditPage> {
    let limit = audit_limit(&q)?;
    Ok(Json(app.audit.page(q.after.unwrap_or(0), limit, scope.tenant.as_deref()).await?))
}
