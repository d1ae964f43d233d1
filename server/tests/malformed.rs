//! Malformed requests to every endpoint: a 4xx with the JSON error body, never a 5xx, and
//! no change to users, devices, enrollments or challenges.

mod common;

use common::Harness;
use serde_json::json;

#[derive(Clone, Copy)]
enum Auth {
    None,
    Rp,
    Admin,
    Phone,
    Garbage,
}

struct Case {
    method: &'static str,
    path: String,
    auth: Auth,
    body: Option<Vec<u8>>,
}

fn case(method: &'static str, path: impl Into<String>, auth: Auth, body: Option<&str>) -> Case {
    Case { method, path: path.into(), auth, body: body.map(|b| b.as_bytes().to_vec()) }
}

/// Everything but the audit log, which records refused requests by design (read through the
/// store, so on either engine).
async fn snapshot(h: &Harness) -> Vec<String> {
    fn json<T: serde::Serialize>(records: Vec<T>) -> Vec<String> {
        records.iter().map(|r| serde_json::to_string(r).unwrap()).collect()
    }
    let s = &h.app.store;
    let mut out = json(s.users().all().await.unwrap());
    out.extend(json(s.relying_parties().all().await.unwrap()));
    out.extend(json(s.devices().all().await.unwrap()));
    out.extend(json(s.enrollments().all().await.unwrap()));
    out.extend(json(s.challenges().all().await.unwrap()));
    out
}

#[tokio::test]
async fn every_endpoint_refuses_malformed_requests_cleanly() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let enrollment = h.start_enrollment("alice").await.enrollment_id.to_string();
    let (_, push) = h.push("alice", json!({})).await;
    let challenge = push["challenge_id"].as_str().unwrap().to_owned();
    let (_, qr) = h.rp("POST", "/v1/challenges/qr", Some(json!({"user":"alice","service":"S","action":"A"}))).await;
    let qr_id = qr["challenge_id"].as_str().unwrap().to_owned();
    let big = format!("{{\"user\":\"{}\",\"device_name\":\"x\"}}", "a".repeat(70 * 1024));
    let long_id = "a".repeat(65);
    let dev = phone.device_id.to_string();
    let answer_path = format!("/v1/device/challenges/{challenge}/answer");

    let cases = vec![
        // Enrollment start and status.
        case("POST", "/v1/enrollments", Auth::Rp, Some("{")),
        case("POST", "/v1/enrollments", Auth::Rp, Some(r#"{"user":1,"device_name":"x"}"#)),
        case("POST", "/v1/enrollments", Auth::Rp, Some(r#"{"user":"alice","device_name":"x","admin":true}"#)),
        case("POST", "/v1/enrollments", Auth::Rp, Some(r#"{"user":"alice","device_name":"a\u0007b"}"#)),
        case("POST", "/v1/enrollments", Auth::Rp, Some(r#"{"user":"nobody","device_name":"x"}"#)),
        case("POST", "/v1/enrollments", Auth::Rp, Some(&big)),
        case("POST", "/v1/enrollments", Auth::None, Some(r#"{"user":"alice","device_name":"x"}"#)),
        case("POST", "/v1/enrollments", Auth::Rp, None),
        case("GET", format!("/v1/enrollments/{enrollment}?wait=abc"), Auth::Rp, None),
        case("GET", format!("/v1/enrollments/{enrollment}?wait=-1"), Auth::Rp, None),
        case("GET", format!("/v1/enrollments/{enrollment}?colour=red"), Auth::Rp, None),
        case("GET", "/v1/enrollments/bad!id", Auth::Rp, None),
        case("GET", format!("/v1/enrollments/{long_id}"), Auth::Rp, None),
        case("GET", format!("/v1/enrollments/{enrollment}"), Auth::None, None),
        case("GET", "/v1/enrollments/unknown/qr.png", Auth::Rp, None),
        case("GET", "/v1/enrollments/%FF/qr.svg", Auth::Rp, None),
        // Challenges.
        case("POST", "/v1/challenges/push", Auth::Rp, Some("[]")),
        case("POST", "/v1/challenges/push", Auth::Rp, Some(r#"{"user":"alice"}"#)),
        case(
            "POST",
            "/v1/challenges/push",
            Auth::Rp,
            Some(r#"{"user":"alice","context":{"service":"s","action":"a"},"ttl":-1}"#),
        ),
        case(
            "POST",
            "/v1/challenges/push",
            Auth::Rp,
            Some(r#"{"user":"alice","context":{"service":"s","action":"a"},"number_matching":"guess"}"#),
        ),
        case(
            "POST",
            "/v1/challenges/push",
            Auth::Rp,
            Some(r#"{"user":"alice","context":{"service":"","action":"a"}}"#),
        ),
        case(
            "POST",
            "/v1/challenges/push",
            Auth::Rp,
            Some(r#"{"user":"alice","context":{"service":"s\u202e","action":"a"}}"#),
        ),
        case(
            "POST",
            "/v1/challenges/push",
            Auth::Rp,
            Some(r#"{"user":"alice","context":{"service":"s","action":"a"},"transaction":[{"key":"k"}]}"#),
        ),
        case(
            "POST",
            "/v1/challenges/push",
            Auth::Garbage,
            Some(r#"{"user":"alice","context":{"service":"s","action":"a"}}"#),
        ),
        case("POST", "/v1/challenges/qr", Auth::Rp, Some(r#"{"user":"alice","service":"s"}"#)),
        case(
            "POST",
            "/v1/challenges/qr",
            Auth::Rp,
            Some(r#"{"user":"alice","service":"s","action":"a","transaction":[{"key":"k","value":"v\n"}]}"#),
        ),
        case("POST", format!("/v1/challenges/{qr_id}/otp"), Auth::Rp, Some(r#"{"otp":12345678}"#)),
        case("POST", format!("/v1/challenges/{qr_id}/otp"), Auth::Rp, Some(r#"{"otp":"1234567"}"#)),
        case("POST", format!("/v1/challenges/{qr_id}/otp"), Auth::None, Some(r#"{"otp":"12345678"}"#)),
        case("POST", format!("/v1/challenges/{challenge}/otp"), Auth::Rp, Some(r#"{"otp":"12345678"}"#)),
        case("POST", format!("/v1/challenges/{long_id}/otp"), Auth::Rp, Some(r#"{"otp":"12345678"}"#)),
        case("GET", "/v1/challenges/a%20b", Auth::Rp, None),
        case("GET", format!("/v1/challenges/{challenge}?wait=1e3"), Auth::Rp, None),
        case("GET", "/v1/challenges/unknown", Auth::Rp, None),
        // Devices through the relying party.
        case("GET", "/v1/users/alice/devices", Auth::None, None),
        case("DELETE", "/v1/users/alice/devices/bad*id", Auth::Rp, None),
        case("DELETE", format!("/v1/users/bob/devices/{dev}"), Auth::Rp, None),
        case("DELETE", format!("/v1/users/alice/devices/{dev}"), Auth::None, None),
        // Phone enrollment.
        case("POST", "/v1/enroll", Auth::None, Some("{}")),
        case("POST", "/v1/enroll", Auth::None, Some("null")),
        case(
            "POST",
            "/v1/enroll",
            Auth::None,
            Some(&format!(
                r#"{{"enrollment_id":"{enrollment}","token":"AAAAAAAAAAAAAAAAAAAAAA","device_public_key":"BAAA","pin_secret":"AA","platform":"x","proof":"MEQ"}}"#
            )),
        ),
        // Phone API.
        case("GET", "/v1/device/challenges?wait=0", Auth::None, None),
        case("GET", "/v1/device/challenges?wait=0", Auth::Garbage, None),
        case("GET", "/v1/device/challenges?wait=x", Auth::Phone, None),
        case("POST", answer_path.clone(), Auth::Phone, Some("{")),
        case("POST", answer_path.clone(), Auth::Phone, Some(r#"{"challenge_id":"x","decision":"maybe"}"#)),
        case("POST", answer_path.clone(), Auth::Phone, Some(r#"{"challenge_id":5}"#)),
        case("POST", answer_path.clone(), Auth::None, Some("{}")),
        case("POST", format!("/v1/device/challenges/{long_id}/answer"), Auth::Phone, Some("{}")),
        case("POST", "/v1/device/pin-check", Auth::Phone, Some(r#"{"timestamp":-1}"#)),
        case("POST", "/v1/device/pin-check", Auth::Phone, Some(&"[".repeat(70 * 1024))),
        case("GET", "/v1/device", Auth::Garbage, None),
        case("DELETE", "/v1/device", Auth::None, None),
        case("DELETE", "/v1/device", Auth::Rp, None),
        // Administrator.
        case("GET", "/v1/admin/devices?state=gone", Auth::Admin, None),
        case("GET", "/v1/admin/devices", Auth::Rp, None),
        case("GET", "/v1/admin/audit?limit=0", Auth::Admin, None),
        case("GET", "/v1/admin/audit?limit=abc", Auth::Admin, None),
        case("GET", "/v1/admin/audit?after=-5", Auth::Admin, None),
        case("POST", format!("/v1/admin/devices/{dev}/explode"), Auth::Admin, None),
        case("POST", format!("/v1/admin/devices/{dev}/revoke"), Auth::None, None),
        case("POST", "/v1/admin/devices/nope/unblock", Auth::Admin, None),
        // Unknown paths and wrong methods.
        case("GET", "/v1/nothing", Auth::Rp, None),
        case("PUT", "/v1/enrollments", Auth::Rp, Some("{}")),
        case("GET", "/v1/challenges/push", Auth::Rp, None),
    ];

    let before = snapshot(&h).await;
    for c in cases {
        let label = format!(
            "{} {} {:?}",
            c.method,
            c.path,
            c.body.as_ref().map(|b| String::from_utf8_lossy(&b[..b.len().min(60)]).into_owned())
        );
        let (status, body) = match c.auth {
            Auth::Phone => phone.signed(&h, c.method, &c.path, c.body.clone()).await,
            auth => {
                let mut req = h.http.request(c.method.parse().unwrap(), h.url(&c.path));
                req = match auth {
                    Auth::Rp => req.bearer_auth(&h.rp_key),
                    Auth::Admin => req.bearer_auth(&h.admin_token),
                    Auth::Garbage => req
                        .header("authorization", "Bearer rp_\u{e9}t\u{e9}")
                        .header("nyckel-device", "../x")
                        .header("nyckel-timestamp", "soon")
                        .header("nyckel-nonce", "==")
                        .header("nyckel-signature", "%%"),
                    _ => req,
                };
                if let Some(b) = c.body.clone() {
                    req = req.header("content-type", "application/json").body(b);
                }
                common::status_json(req.send().await.unwrap()).await
            }
        };
        assert!((400..500).contains(&status), "{label}: status {status} {body}");
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{label}: body {body}");
    }
    assert_eq!(snapshot(&h).await, before, "a refused request changed state");
    // The server is still healthy.
    assert_eq!(phone.poll(&h, 0).await.len(), 1);
}
