//! The OpenAPI document at `GET /v1/openapi.json`: it lists every route the router answers,
//! openapi-spec-validator accepts it as OpenAPI 3.1, and real responses of a running server
//! validate against its schemas (Python `jsonschema`, JSON Schema 2020-12).
//!
//! The Python tools live in the test venv that `scripts/install-test-deps.sh` makes beside the
//! build (`<target>/test-venv`).

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::Harness;
use nyckel_server::http::openapi::{enum_values, OPERATIONS, UNDOCUMENTED};
use serde_json::{json, Value};

/// The router's source: the routes are read from it, then probed on a running server.
const ROUTER_SOURCE: &str = include_str!("../src/http/mod.rs");

/// The test venv's Python, found from this test binary's place (`<target>/debug/deps/`).
fn python() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let python = target.join("test-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-deps.sh (scripts/test.sh does), which installs \
         openapi-spec-validator and jsonschema from PyPI into it",
        python.display()
    );
    python
}

/// Runs scripts/openapi_check.py with `args` (files written to a temporary directory).
fn check(command: &str, files: &[&Value]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/openapi_check.py")).arg(command);
    for (i, file) in files.iter().enumerate() {
        let path = dir.path().join(format!("{i}.json"));
        std::fs::write(&path, serde_json::to_vec(file).unwrap()).unwrap();
        cmd.arg(path);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "openapi_check.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn served_document(h: &Harness) -> Value {
    let resp = h.http.get(h.url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    resp.json().await.unwrap()
}

/// The literal paths of every `.route(` call in `router()`.
fn router_paths() -> Vec<String> {
    let start = ROUTER_SOURCE.find("pub fn router(").expect("router() not found in http/mod.rs");
    let body = &ROUTER_SOURCE[start..];
    let body = &body[..body.find(".fallback(").expect("router() has no fallback")];
    assert!(
        !body.contains(".merge(") && !body.contains(".nest("),
        "router() merges or nests another router: teach router_paths() to read its routes too"
    );
    let calls: Vec<&str> = body.split(".route(").skip(1).collect();
    let paths: Vec<String> = calls
        .iter()
        .filter_map(|call| call.trim_start().strip_prefix('"').and_then(|rest| rest.split('"').next()))
        .map(str::to_owned)
        .collect();
    assert_eq!(paths.len(), calls.len(), "a route of router() has no literal path; this test reads them");
    paths
}

/// A concrete path for a template: every `{param}` becomes a well-formed identifier.
fn fill(template: &str) -> String {
    template.split('/').map(|seg| if seg.starts_with('{') { "x0" } else { seg }).collect::<Vec<_>>().join("/")
}

#[tokio::test]
async fn every_route_is_documented_or_listed_as_undocumented() {
    let h = Harness::start(&[]).await;
    let paths = router_paths();
    assert!(paths.len() >= 20, "only {} routes read from router()", paths.len());
    // Which methods each path answers, asked of the running server: a method it does not route
    // gets 405, anything else (401 without credentials, 400, 200) means routed.
    let mut routed = BTreeSet::new();
    for path in &paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let resp = h.http.request(method.parse().unwrap(), h.url(&fill(path))).send().await.unwrap();
            if resp.status() != 405 {
                routed.insert((method.to_lowercase(), path.clone()));
            }
        }
    }
    let documented: BTreeSet<(String, String)> =
        OPERATIONS.iter().map(|op| (op.method.to_owned(), op.path.to_owned())).collect();
    assert_eq!(documented.len(), OPERATIONS.len(), "an operation is in OPERATIONS twice");
    let excluded: BTreeSet<(String, String)> =
        UNDOCUMENTED.iter().map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert!(documented.is_disjoint(&excluded), "documented and listed as undocumented");
    let listed: BTreeSet<_> = documented.union(&excluded).cloned().collect();
    let missing: Vec<_> = routed.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI table (server/src/http/openapi.rs, OPERATIONS or UNDOCUMENTED): {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&routed).collect();
    assert!(stale.is_empty(), "listed but not answered by the router: {stale:?}");

    // The served document has exactly the documented operations.
    let doc = served_document(&h).await;
    let mut in_doc = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            in_doc.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(in_doc, documented);
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let h = Harness::start(&[]).await;
    let doc = served_document(&h).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(check("spec", &[&doc]), json!({"valid": true}));

    // Bearer schemes, and every operation but the operations endpoints requires one.
    for scheme in ["relyingParty", "admin"] {
        assert_eq!(doc["components"]["securitySchemes"][scheme]["scheme"], "bearer");
    }
    for op in OPERATIONS {
        let security = &doc["paths"][op.path][op.method]["security"];
        let expected = match op.tag {
            "relying-party" => json!([{"relyingParty": []}]),
            "admin" => json!([{"admin": []}]),
            _ => json!([]),
        };
        assert_eq!(security, &expected, "{} {}", op.method, op.path);
        if op.tag != "operations" {
            assert_eq!(
                doc["paths"][op.path][op.method]["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody"
            );
        }
    }
    // Bodies come from the wire types: their doc comments and serde rules.
    let push = &doc["components"]["schemas"]["CreatePushChallenge"];
    assert_eq!(push["additionalProperties"], false, "deny_unknown_fields");
    assert_eq!(push["required"], json!(["user", "context"]));
    assert_eq!(
        (&push["properties"]["user"]["minLength"], &push["properties"]["user"]["maxLength"]),
        (&json!(1), &json!(128))
    );
    assert_eq!(push["properties"]["transaction"]["maxItems"], 16);
    assert_eq!(
        enum_values(&doc["components"]["schemas"]["ChallengeState"]),
        ["pending", "approved", "denied", "fraud", "expired", "blocked"]
    );
    let not_found = doc["paths"]["/v1/challenges/{id}"]["get"]["responses"]["404"]["description"].as_str().unwrap();
    assert!(not_found.ends_with("`not_found`"), "{not_found}");

    // The validator is not a rubber stamp: a path parameter left out or not required, and a
    // schema with a type JSON Schema does not have, are refused.
    let mut broken = doc.clone();
    broken["paths"]["/v1/challenges/{id}"]["get"]["parameters"].as_array_mut().unwrap().remove(0);
    assert_eq!(check("spec", &[&broken])["valid"], false);
    let mut broken = doc.clone();
    broken["paths"]["/v1/challenges/{id}"]["get"]["parameters"][0]["required"] = json!(false);
    assert_eq!(check("spec", &[&broken])["valid"], false);
    let mut broken = doc.clone();
    broken["components"]["schemas"]["ChallengeId"]["type"] = json!("identifier");
    assert_eq!(check("spec", &[&broken])["valid"], false);
}

/// Records real responses for the Python validator.
struct Recorder<'a> {
    h: &'a Harness,
    records: Vec<Value>,
}

enum Caller {
    Nobody,
    Rp,
    Admin,
}

impl Recorder<'_> {
    /// Sends a request and records its response under the path `template`; returns the status and body.
    async fn call(
        &mut self,
        caller: Caller,
        method: &str,
        template: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.h.http.request(method.parse().unwrap(), self.h.url(path));
        req = match caller {
            Caller::Nobody => req,
            Caller::Rp => req.bearer_auth(&self.h.rp_key),
            Caller::Admin => req.bearer_auth(&self.h.admin_token),
        };
        if let Some(body) = &body {
            req = req.json(body);
        }
        let request = body.unwrap_or(Value::Null);
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.bytes().await.unwrap();
        let body = if content_type.as_deref() == Some("application/json") {
            serde_json::from_slice(&bytes).unwrap()
        } else if bytes.is_empty() {
            Value::Null
        } else {
            Value::String(format!("{} bytes", bytes.len()))
        };
        self.records.push(json!({
            "method": method, "path": template, "status": status, "content_type": content_type, "body": body,
            "request": request,
        }));
        (status, body)
    }
}

#[tokio::test]
async fn real_responses_validate_against_the_document() {
    let h = Harness::start(&["alice", "bob"]).await;
    let doc = served_document(&h).await;
    let mut r = Recorder { h: &h, records: Vec::new() };

    // Enrollment: start, pending, the images, completed by a phone.
    let (s, started) = r
        .call(
            Caller::Rp,
            "POST",
            "/v1/enrollments",
            "/v1/enrollments",
            Some(json!({"user": "alice", "device_name": "Work phone"})),
        )
        .await;
    assert_eq!(s, 200, "{started}");
    let enrollment = started["enrollment_id"].as_str().unwrap().to_owned();
    let status_path = format!("/v1/enrollments/{enrollment}?wait=0");
    assert_eq!(r.call(Caller::Rp, "GET", "/v1/enrollments/{id}", &status_path, None).await.1["state"], "pending");
    let png = format!("/v1/enrollments/{enrollment}/qr.png");
    assert_eq!(r.call(Caller::Rp, "GET", "/v1/enrollments/{id}/qr.png", &png, None).await.0, 200);
    let svg = format!("/v1/enrollments/{enrollment}/qr.svg");
    assert_eq!(r.call(Caller::Rp, "GET", "/v1/enrollments/{id}/qr.svg", &svg, None).await.0, 200);
    let phone = h.complete(started["qr"].as_str().unwrap()).await;
    assert_eq!(r.call(Caller::Rp, "GET", "/v1/enrollments/{id}", &status_path, None).await.1["state"], "completed");

    // Push: created, pending, approved.
    let push = json!({"user": "alice", "context": {"service": "Trade portal", "action": "Sign in", "ip": "192.0.2.1"},
        "transaction": [{"key": "Amount", "value": "100 SEK"}], "number_matching": "none", "ttl": 60});
    let (s, created) = r.call(Caller::Rp, "POST", "/v1/challenges/push", "/v1/challenges/push", Some(push)).await;
    assert_eq!(s, 200, "{created}");
    let challenge = created["challenge_id"].as_str().unwrap().to_owned();
    let status_path = format!("/v1/challenges/{challenge}?wait=0");
    assert_eq!(r.call(Caller::Rp, "GET", "/v1/challenges/{id}", &status_path, None).await.1["state"], "pending");
    let pending = phone.poll(&h, 0).await;
    assert_eq!(phone.approve(&h, &pending[0], None).await.0, 200);
    let (_, approved) = r.call(Caller::Rp, "GET", "/v1/challenges/{id}", &status_path, None).await;
    assert_eq!(approved["state"], "approved");
    assert!(approved["device_id"].is_string() && approved["answered_at"].is_u64(), "{approved}");

    // QR challenge, a wrong OTP.
    let qr = json!({"user": "alice", "service": "Portal", "action": "Sign in"});
    let (s, qr_created) = r.call(Caller::Rp, "POST", "/v1/challenges/qr", "/v1/challenges/qr", Some(qr)).await;
    assert_eq!(s, 200, "{qr_created}");
    let otp_path = format!("/v1/challenges/{}/otp", qr_created["challenge_id"].as_str().unwrap());
    let (s, wrong) =
        r.call(Caller::Rp, "POST", "/v1/challenges/{id}/otp", &otp_path, Some(json!({"otp": "00000000"}))).await;
    assert_eq!(s, 403, "{wrong}");

    // Devices and audit, through the relying party and the administrator.
    let (_, devices) = r.call(Caller::Rp, "GET", "/v1/users/{user}/devices", "/v1/users/alice/devices", None).await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1);
    let (_, all) = r.call(Caller::Admin, "GET", "/v1/admin/devices", "/v1/admin/devices?state=active", None).await;
    assert_eq!(all["devices"].as_array().unwrap().len(), 1);
    let (_, page) = r.call(Caller::Admin, "GET", "/v1/admin/audit", "/v1/admin/audit?limit=500", None).await;
    assert!(page["events"].as_array().unwrap().len() >= 4);

    // A relying party creates a user (201), finds it again (200), and a malformed name is 400.
    assert_eq!(r.call(Caller::Rp, "PUT", "/v1/users/{user}", "/v1/users/carol", None).await.0, 201);
    assert_eq!(r.call(Caller::Rp, "PUT", "/v1/users/{user}", "/v1/users/alice", None).await.0, 200);
    assert_eq!(r.call(Caller::Rp, "PUT", "/v1/users/{user}", "/v1/users/a%0Ab", None).await.0, 400);

    // Error bodies: no credentials, unknown challenge, malformed body, no device, bad query.
    assert_eq!(r.call(Caller::Nobody, "GET", "/v1/challenges/{id}", &status_path, None).await.0, 401);
    assert_eq!(r.call(Caller::Rp, "GET", "/v1/challenges/{id}", "/v1/challenges/unknown", None).await.0, 404);
    let bad = Some(json!({"user": "alice"}));
    assert_eq!(r.call(Caller::Rp, "POST", "/v1/challenges/push", "/v1/challenges/push", bad).await.0, 400);
    let to_bob = Some(json!({"user": "bob", "context": {"service": "s", "action": "a"}}));
    assert_eq!(r.call(Caller::Rp, "POST", "/v1/challenges/push", "/v1/challenges/push", to_bob).await.0, 409);
    assert_eq!(r.call(Caller::Admin, "GET", "/v1/admin/audit", "/v1/admin/audit?limit=0", None).await.0, 400);

    // Removal (no body), then the operations endpoints.
    let remove = format!("/v1/users/alice/devices/{}", phone.device_id);
    assert_eq!(r.call(Caller::Rp, "DELETE", "/v1/users/{user}/devices/{device_id}", &remove, None).await.0, 204);
    assert_eq!(r.call(Caller::Nobody, "GET", "/healthz", "/healthz", None).await.0, 200);
    assert_eq!(r.call(Caller::Nobody, "GET", "/metrics", "/metrics", None).await.0, 200);

    let records = r.records;
    let result = check("responses", &[&doc, &Value::Array(records.clone())]);
    assert_eq!(result["checked"], records.len());
    assert_eq!(result["failures"], json!([]), "responses that do not match the document");

    // The same check refuses responses that break the schemas (a state outside the enum, a field
    // the type does not have, an error body without its code, an undocumented status) and a
    // request body outside its schema (an empty device name).
    let mut wrong = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let mut record = record.clone();
        let template = record["path"].as_str().unwrap().to_owned();
        let body = &mut record["body"];
        if body.get("state").is_some() && template == "/v1/challenges/{id}" {
            body["state"] = json!("maybe");
        } else if body.get("challenge_id").is_some() && template == "/v1/challenges/push" {
            body["surprise"] = json!(1);
        } else if body.get("error").is_some() {
            body["error"].as_object_mut().unwrap().remove("code");
        } else if template == "/v1/enrollments" && record["status"] == 200 {
            record["request"]["device_name"] = json!("");
        } else if template == "/healthz" {
            record["status"] = json!(418);
        } else {
            continue;
        }
        wrong.push((i, record));
    }
    assert!(wrong.len() >= 7, "{wrong:?}");
    let result = check("responses", &[&doc, &Value::Array(wrong.iter().map(|(_, r)| r.clone()).collect())]);
    let failed: Vec<u64> =
        result["failures"].as_array().unwrap().iter().map(|f| f["index"].as_u64().unwrap()).collect();
    assert_eq!(failed, (0..wrong.len() as u64).collect::<Vec<_>>(), "{result}");
}
