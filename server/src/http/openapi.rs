//! The OpenAPI 3.1 document of the relying-party, admin and operations API, served at
//! `GET /v1/openapi.json`: one table of operations, with every body, query and path schema
//! generated from the wire types (JSON Schema 2020-12 by `schemars`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use nyckel_protocol::enrollment::{EnrollmentStarted, EnrollmentStatus, StartEnrollment};
use nyckel_protocol::wire::audit::AuditPage;
use nyckel_protocol::wire::devices::DeviceList;
use nyckel_protocol::wire::error::ErrorBody;
use nyckel_protocol::wire::relying_party::{
    ChallengeStatus, CreatePushChallenge, CreateQrChallenge, PushChallengeCreated, QrChallengeCreated, TenantUser,
    VerifyOtp,
};
use nyckel_protocol::{ChallengeId, DeviceId, EnrollmentId, ErrorCode};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::{AuditQuery, DeviceActionName, DevicesQuery, WaitQuery};

/// Makes the schema of one wire type (a `$ref` into `components/schemas` for named types).
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The schema itself, never a `$ref` (for a query struct, whose fields become parameters).
fn inline<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    T::json_schema(generator)
}

/// How a caller authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Nobody: operations endpoints.
    None,
    /// `Authorization: Bearer <relying-party API key>`.
    RelyingParty,
    /// `Authorization: Bearer <admin token>` (global or a tenant administrator's).
    Admin,
}

/// A response body.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// `application/json` of a wire type.
    Json(SchemaFn),
    /// `application/json`, any object (the document itself).
    AnyJson,
    /// `text/plain`.
    Text,
    /// `image/png`.
    Png,
    /// `image/svg+xml`.
    Svg,
    /// No body.
    Empty,
}

/// One success response.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// What it means.
    pub description: &'static str,
    /// Its body.
    pub body: Body,
}

/// A path parameter (`{name}` in the path).
#[derive(Debug, Clone, Copy)]
pub struct PathParam {
    /// Its name in the path template.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its schema.
    pub schema: SchemaFn,
}

/// One documented operation: a method on a path of [`super::router`].
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// Lower-case HTTP method.
    pub method: &'static str,
    /// The path template, exactly as in the router.
    pub path: &'static str,
    /// `operationId`.
    pub id: &'static str,
    /// `relying-party`, `admin` or `operations`.
    pub tag: &'static str,
    /// One line.
    pub summary: &'static str,
    /// Who may call.
    pub auth: Auth,
    /// Path parameters, in path order.
    pub path_params: &'static [PathParam],
    /// The query struct; each of its fields is a query parameter.
    pub query: Option<SchemaFn>,
    /// The JSON request body.
    pub request: Option<SchemaFn>,
    /// Success responses.
    pub replies: &'static [Reply],
    /// Error statuses beyond the ones every operation may answer (429, 500, and with
    /// authentication 401, with a body 400 and 413); each has the error body.
    pub errors: &'static [u16],
}

const fn ok(body: Body) -> Reply {
    Reply { status: 200, description: "OK", body }
}

const NO_CONTENT: Reply = Reply { status: 204, description: "Done", body: Body::Empty };

const ENROLLMENT_ID: PathParam =
    PathParam { name: "id", description: "The enrollment.", schema: schema::<EnrollmentId> };
const CHALLENGE_ID: PathParam = PathParam { name: "id", description: "The challenge.", schema: schema::<ChallengeId> };
const USER: PathParam =
    PathParam { name: "user", description: "The user, in the caller's tenant.", schema: schema::<String> };

/// Every documented operation. A route added to [`super::router`] must be added here (or, for
/// the device-signed phone API, to [`UNDOCUMENTED`]): `server/tests/openapi.rs` compares this
/// table with the routes the running router answers.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "post",
        path: "/v1/enrollments",
        id: "startEnrollment",
        tag: "relying-party",
        summary: "Start enrolling a phone for a user: the enrollment and its QR-code URI.",
        auth: Auth::RelyingParty,
        path_params: &[],
        query: None,
        request: Some(schema::<StartEnrollment>),
        replies: &[ok(Body::Json(schema::<EnrollmentStarted>))],
        errors: &[404],
    },
    Operation {
        method: "get",
        path: "/v1/enrollments/{id}",
        id: "enrollmentStatus",
        tag: "relying-party",
        summary: "An enrollment's state; with `wait`, a long poll until it changes.",
        auth: Auth::RelyingParty,
        path_params: &[ENROLLMENT_ID],
        query: Some(inline::<WaitQuery>),
        request: None,
        replies: &[ok(Body::Json(schema::<EnrollmentStatus>))],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/enrollments/{id}/qr.png",
        id: "enrollmentQrPng",
        tag: "relying-party",
        summary: "The enrollment QR code as a PNG image.",
        auth: Auth::RelyingParty,
        path_params: &[ENROLLMENT_ID],
        query: None,
        request: None,
        replies: &[ok(Body::Png)],
        errors: &[400, 404, 409, 410],
    },
    Operation {
        method: "get",
        path: "/v1/enrollments/{id}/qr.svg",
        id: "enrollmentQrSvg",
        tag: "relying-party",
        summary: "The enrollment QR code as an SVG image.",
        auth: Auth::RelyingParty,
        path_params: &[ENROLLMENT_ID],
        query: None,
        request: None,
        replies: &[ok(Body::Svg)],
        errors: &[400, 404, 409, 410],
    },
    Operation {
        method: "post",
        path: "/v1/challenges/push",
        id: "createPushChallenge",
        tag: "relying-party",
        summary: "Send a push challenge to every active device of a user.",
        auth: Auth::RelyingParty,
        path_params: &[],
        query: None,
        request: Some(schema::<CreatePushChallenge>),
        replies: &[ok(Body::Json(schema::<PushChallengeCreated>))],
        errors: &[404, 409],
    },
    Operation {
        method: "post",
        path: "/v1/challenges/qr",
        id: "createQrChallenge",
        tag: "relying-party",
        summary: "Create a QR challenge: the URI to show as a QR code, answered by an OTP the user types.",
        auth: Auth::RelyingParty,
        path_params: &[],
        query: None,
        request: Some(schema::<CreateQrChallenge>),
        replies: &[ok(Body::Json(schema::<QrChallengeCreated>))],
        errors: &[403, 404],
    },
    Operation {
        method: "get",
        path: "/v1/challenges/{id}",
        id: "challengeStatus",
        tag: "relying-party",
        summary: "A challenge's state; with `wait`, a long poll until it is final.",
        auth: Auth::RelyingParty,
        path_params: &[CHALLENGE_ID],
        query: Some(inline::<WaitQuery>),
        request: None,
        replies: &[ok(Body::Json(schema::<ChallengeStatus>))],
        errors: &[400, 404],
    },
    Operation {
        method: "post",
        path: "/v1/challenges/{id}/otp",
        id: "verifyOtp",
        tag: "relying-party",
        summary: "Check the OTP the user typed for a QR challenge.",
        auth: Auth::RelyingParty,
        path_params: &[CHALLENGE_ID],
        query: None,
        request: Some(schema::<VerifyOtp>),
        replies: &[ok(Body::Json(schema::<ChallengeStatus>))],
        errors: &[403, 404, 409, 410],
    },
    Operation {
        method: "put",
        path: "/v1/users/{user}",
        id: "putUser",
        tag: "relying-party",
        summary: "Create a user in the caller's tenant, or find it (idempotent).",
        auth: Auth::RelyingParty,
        path_params: &[USER],
        query: None,
        request: None,
        replies: &[
            Reply { status: 201, description: "Created", body: Body::Json(schema::<TenantUser>) },
            Reply { status: 200, description: "The user already existed", body: Body::Json(schema::<TenantUser>) },
        ],
        errors: &[400],
    },
    Operation {
        method: "get",
        path: "/v1/users/{user}/devices",
        id: "userDevices",
        tag: "relying-party",
        summary: "A user's devices.",
        auth: Auth::RelyingParty,
        path_params: &[USER],
        query: None,
        request: None,
        replies: &[ok(Body::Json(schema::<DeviceList>))],
        errors: &[400, 404],
    },
    Operation {
        method: "delete",
        path: "/v1/users/{user}/devices/{device_id}",
        id: "removeUserDevice",
        tag: "relying-party",
        summary: "Remove one of a user's devices (its secret is destroyed).",
        auth: Auth::RelyingParty,
        path_params: &[USER, PathParam { name: "device_id", description: "The device.", schema: schema::<DeviceId> }],
        query: None,
        request: None,
        replies: &[NO_CONTENT],
        errors: &[400, 404],
    },
    Operation {
        method: "get",
        path: "/v1/admin/devices",
        id: "adminDevices",
        tag: "admin",
        summary: "Devices, by tenant, user and state (a tenant administrator sees only their tenant's).",
        auth: Auth::Admin,
        path_params: &[],
        query: Some(inline::<DevicesQuery>),
        request: None,
        replies: &[ok(Body::Json(schema::<DeviceList>))],
        errors: &[400, 404],
    },
    Operation {
        method: "post",
        path: "/v1/admin/devices/{id}/{action}",
        id: "adminDeviceAction",
        tag: "admin",
        summary: "Unblock, reactivate or revoke a device.",
        auth: Auth::Admin,
        path_params: &[
            PathParam { name: "id", description: "The device.", schema: schema::<DeviceId> },
            PathParam { name: "action", description: "What to do.", schema: schema::<DeviceActionName> },
        ],
        query: None,
        request: None,
        replies: &[NO_CONTENT],
        errors: &[400, 403, 404, 409],
    },
    Operation {
        method: "get",
        path: "/v1/admin/audit",
        id: "adminAudit",
        tag: "admin",
        summary: "A page of the audit log (a tenant administrator's: only their tenant's events).",
        auth: Auth::Admin,
        path_params: &[],
        query: Some(inline::<AuditQuery>),
        request: None,
        replies: &[ok(Body::Json(schema::<AuditPage>))],
        errors: &[400],
    },
    Operation {
        method: "post",
        path: "/v1/admin/tenants/{tenant}/users/{user}/otp-unlock",
        id: "adminOtpUnlock",
        tag: "admin",
        summary: "Unlock a user's QR one-time passwords after too many wrong ones.",
        auth: Auth::Admin,
        path_params: &[
            PathParam { name: "tenant", description: "The tenant.", schema: schema::<String> },
            PathParam { name: "user", description: "The user.", schema: schema::<String> },
        ],
        query: None,
        request: None,
        replies: &[NO_CONTENT],
        errors: &[400, 403, 404],
    },
    Operation {
        method: "get",
        path: "/healthz",
        id: "healthz",
        tag: "operations",
        summary: "Liveness: the process answers.",
        auth: Auth::None,
        path_params: &[],
        query: None,
        request: None,
        replies: &[ok(Body::Text)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/readyz",
        id: "readyz",
        tag: "operations",
        summary: "Readiness: the store answers and no shutdown has begun.",
        auth: Auth::None,
        path_params: &[],
        query: None,
        request: None,
        replies: &[
            ok(Body::Text),
            Reply { status: 503, description: "Shutting down, or the store failed", body: Body::Text },
        ],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/metrics",
        id: "metrics",
        tag: "operations",
        summary: "Metrics in the Prometheus text format.",
        auth: Auth::None,
        path_params: &[],
        query: None,
        request: None,
        replies: &[ok(Body::Text)],
        errors: &[],
    },
    Operation {
        method: "get",
        path: "/v1/openapi.json",
        id: "openapi",
        tag: "operations",
        summary: "This document.",
        auth: Auth::None,
        path_params: &[],
        query: None,
        request: None,
        replies: &[ok(Body::AnyJson)],
        errors: &[],
    },
];

/// Routes of the router this document leaves out, with why: (method, path, reason).
pub const UNDOCUMENTED: &[(&str, &str, &str)] = &[
    ("post", "/v1/enroll", PHONE),
    ("get", "/v1/device/challenges", PHONE),
    ("post", "/v1/device/challenges/{id}/answer", PHONE),
    ("post", "/v1/device/pin-check", PHONE),
    ("post", "/v1/device/rekey", PHONE),
    ("get", "/v1/device", PHONE),
    ("delete", "/v1/device", PHONE),
    ("get", "/v1/device/audit", PHONE),
    ("post", "/v1/device/enrollments", PHONE),
    ("post", "/v1/enroll/approval", PHONE),
    ("post", "/v1/enroll/result", PHONE),
    ("get", "/v1/device/devices", PHONE),
    ("post", "/v1/device/devices/{device_id}/retire", PHONE),
];

const PHONE: &str = "the phone API: device-signed requests, specified in docs/PROTOCOL.md and used only by \
                     the Nyckel phone library";

/// The document (built once; it depends on nothing but the code).
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// `GET /v1/openapi.json`.
pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], axum::Json(document())).into_response()
}

fn build() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let error_body = generator.subschema_for::<ErrorBody>().to_value();
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for op in OPERATIONS {
        let operation = operation(op, &mut generator, &error_body);
        paths.entry(op.path).or_default().insert(op.method.to_owned(), operation);
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Nyckel server API",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Relying-party, administration and operations endpoints of the Nyckel server.",
            "description": "Generated from the server's wire types. Every error is the JSON error body with a \
                machine-readable code; clients must treat codes they do not know as `unknown`. The device-signed \
                phone API (`/v1/enroll`, `/v1/device/...`) is specified in docs/PROTOCOL.md.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "tags": [
            { "name": "relying-party", "description": "Called by a relying party's server with its API key." },
            { "name": "admin", "description": "Called by an administrator with the admin token or a tenant administrator's token." },
            { "name": "operations", "description": "Health, readiness, metrics and this document; no authentication." },
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "relyingParty": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The relying party's API key (`nyckel-server add-rp`).",
                },
                "admin": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The global admin token, or a tenant administrator's token.",
                },
            },
        },
    })
}

fn operation(op: &Operation, generator: &mut SchemaGenerator, error_body: &Value) -> Value {
    let mut parameters: Vec<Value> = op
        .path_params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": "path",
                "required": true,
                "description": p.description,
                "schema": (p.schema)(generator),
            })
        })
        .collect();
    if let Some(query) = op.query {
        parameters.extend(query_parameters(query, generator));
    }
    let mut responses = Map::new();
    for reply in op.replies {
        let mut response = json!({ "description": reply.description });
        let content = match reply.body {
            Body::Json(schema) => Some(("application/json", (schema)(generator).to_value())),
            Body::AnyJson => Some(("application/json", json!({ "type": "object" }))),
            Body::Text => Some(("text/plain", json!({ "type": "string" }))),
            Body::Png => Some(("image/png", json!({ "contentMediaType": "image/png" }))),
            Body::Svg => Some(("image/svg+xml", json!({ "type": "string", "contentMediaType": "image/svg+xml" }))),
            Body::Empty => None,
        };
        if let Some((media, schema)) = content {
            response["content"] = json!({ media: { "schema": schema } });
        }
        responses.insert(reply.status.to_string(), response);
    }
    for status in error_statuses(op) {
        responses.insert(
            status.to_string(),
            json!({
                "description": error_description(status),
                "content": { "application/json": { "schema": error_body } },
            }),
        );
    }
    let mut operation = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "responses": responses,
    });
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    if let Some(request) = op.request {
        operation["requestBody"] = json!({
            "required": true,
            "content": { "application/json": { "schema": (request)(generator) } },
        });
    }
    operation["security"] = match op.auth {
        Auth::None => json!([]),
        Auth::RelyingParty => json!([{ "relyingParty": [] }]),
        Auth::Admin => json!([{ "admin": [] }]),
    };
    operation
}

/// The operation's own error statuses and those every operation of its kind may answer.
fn error_statuses(op: &Operation) -> Vec<u16> {
    let mut statuses = op.errors.to_vec();
    statuses.extend([429, 500]);
    if op.auth != Auth::None {
        statuses.push(401);
    }
    if op.request.is_some() {
        statuses.extend([400, 413]);
    }
    if op.query.is_some() || !op.path_params.is_empty() {
        statuses.push(400);
    }
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

/// The error codes that go with a status, from [`ErrorCode::status`].
fn error_description(status: u16) -> String {
    let codes: Vec<String> = error_codes().filter(|c| c.status() == status).map(|c| format!("`{}`", name(c))).collect();
    format!("Error; `error.code` is one of {}", codes.join(", "))
}

/// Every error code but `unknown` (which the server never sends), read off the code's own schema
/// (one `const` per variant, each with its doc comment).
fn error_codes() -> impl Iterator<Item = ErrorCode> {
    let schema = SchemaGenerator::default().into_root_schema_for::<ErrorCode>().to_value();
    enum_values(&schema)
        .into_iter()
        .filter_map(|n| serde_json::from_value::<ErrorCode>(n).ok())
        .filter(|c| *c != ErrorCode::Unknown)
}

/// The values of a string enum's schema: `enum`, or the `const` of each `oneOf` branch.
pub fn enum_values(schema: &Value) -> Vec<Value> {
    if let Some(values) = schema["enum"].as_array() {
        return values.clone();
    }
    schema["oneOf"].as_array().into_iter().flatten().filter_map(|branch| branch.get("const").cloned()).collect()
}

fn name(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The fields of a query struct as query parameters: each optional one not required, and
/// its schema without `null` (a query parameter is absent, never null).
fn query_parameters(query: SchemaFn, generator: &mut SchemaGenerator) -> Vec<Value> {
    let resolved = (query)(generator).to_value();
    let required: Vec<&str> = resolved["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let Some(properties) = resolved["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, schema)| {
            let mut schema = without_null(schema.clone());
            let description = schema.as_object_mut().and_then(|o| o.remove("description"));
            let mut parameter = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": schema,
            });
            if let Some(description) = description {
                parameter["description"] = description;
            }
            parameter
        })
        .collect()
}

/// `{"type": ["integer", "null"]}` → `{"type": "integer"}`; `{"anyOf": [X, {"type": "null"}]}` → X.
fn without_null(mut schema: Value) -> Value {
    if let Some(Value::Array(types)) = schema.get("type") {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        schema["type"] = if rest.len() == 1 { rest[0].clone() } else { Value::Array(rest) };
    }
    let any_of = schema.get("anyOf").and_then(Value::as_array).cloned();
    if let Some(options) = any_of {
        let rest: Vec<Value> = options.into_iter().filter(|o| o.get("type") != Some(&json!("null"))).collect();
        if let [only] = rest.as_slice() {
            let mut merged = only.clone();
            if let (Some(into), Some(from)) = (merged.as_object_mut(), schema.as_object()) {
                for (k, v) in from {
                    if k != "anyOf" {
                        into.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
            return merged;
        }
    }
    schema
}
