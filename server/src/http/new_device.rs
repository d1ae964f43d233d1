//! Routes of adding a phone by approval and retiring devices (PROTOCOL.md §6.5, §7.3).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use nyckel_protocol::enrollment::EnrollmentStarted;
use nyckel_protocol::new_device::{
    ApprovalRequested, EnrollmentResult, EnrollmentResultRequest, RetireDevice, StartDeviceEnrollment,
};
use nyckel_protocol::wire::devices::DeviceList;
use nyckel_protocol::{CompleteEnrollment, DeviceId};

use super::extract::{decode, ApiPath, ClientIp, JsonBody, Signed};
use crate::http::error::ApiError;
use crate::service::app::App;
use crate::service::new_device;

pub(super) async fn start(State(app): State<Arc<App>>, signed: Signed) -> Result<Json<EnrollmentStarted>, ApiError> {
    let body: StartDeviceEnrollment = decode(&signed.body)?;
    Ok(Json(new_device::start(&app, &signed.device, body, signed.ip.as_deref())?))
}

pub(super) async fn request_approval(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<CompleteEnrollment>,
) -> Result<Json<ApprovalRequested>, ApiError> {
    Ok(Json(new_device::request_approval(&app, req, ip.as_deref()).await?))
}

pub(super) async fn result(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    JsonBody(req): JsonBody<EnrollmentResultRequest>,
) -> Result<Json<EnrollmentResult>, ApiError> {
    Ok(Json(new_device::result(&app, req, ip.as_deref()).await?))
}

pub(super) async fn user_devices(State(app): State<Arc<App>>, signed: Signed) -> Json<DeviceList> {
    Json(new_device::user_devices(&app, &signed.device))
}

pub(super) async fn retire(
    State(app): State<Arc<App>>,
    ApiPath(target): ApiPath<DeviceId>,
    signed: Signed,
) -> Result<StatusCode, ApiError> {
    let body: RetireDevice = decode(&signed.body)?;
    new_device::retire(&app, &signed.device, &target, body, signed.ip.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
