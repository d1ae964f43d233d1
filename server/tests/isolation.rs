//! Tenants: a relying party or tenant administrator of one organisation cannot see, enroll
//! for, push to, QR-check, lock or remove the users and devices of another (issue 9, finding 1).

mod common;

use common::Harness;
use serde_json::json;

#[tokio::test]
async fn another_tenants_relying_party_cannot_touch_alice() {
    let h = Harness::start(&["alice", "bob"]).await;
    let phone = h.enroll("alice").await;
    // Tenant B has its own "alice" (same name, another person) but no "bob".
    let b = h.other_tenant("beta", &["alice"]);
    let device = phone.device_id.as_str();

    // Listing: B sees its own alice (no devices), never A's; A's bob does not exist for B.
    let (s, list) = h.rp_as(&b, "GET", "/v1/users/alice/devices", None).await;
    assert_eq!((s, list["devices"].as_array().map(Vec::len)), (200, Some(0)), "{list}");
    let (s, body) = h.rp_as(&b, "GET", "/v1/users/bob/devices", None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (404, Some("not_found")));
    // Removing A's device through B's alice or any path: 404, and the device stays.
    for path in [format!("/v1/users/alice/devices/{device}"), format!("/v1/users/bob/devices/{device}")] {
        let (s, _) = h.rp_as(&b, "DELETE", &path, None).await;
        assert_eq!(s, 404, "{path}");
    }
    assert_eq!(phone.signed(&h, "GET", "/v1/device", None).await.0, 200);

    // Enrollment: B cannot start one for A's bob; one for B's alice makes a device of B's
    // alice, which A's pushes never reach.
    let (s, _) = h.rp_as(&b, "POST", "/v1/enrollments", Some(json!({"user": "bob", "device_name": "x"}))).await;
    assert_eq!(s, 404);
    let (s, started) =
        h.rp_as(&b, "POST", "/v1/enrollments", Some(json!({"user": "alice", "device_name": "Mallory's"}))).await;
    assert_eq!(s, 200, "{started}");
    let intruder = h.complete(started["qr"].as_str().unwrap()).await;
    let (s, created) = h.push("alice", json!({})).await;
    assert_eq!((s, created["devices"].as_u64()), (200, Some(1)), "{created}");
    assert!(intruder.poll(&h, 0).await.is_empty(), "B's phone received A's push");
    assert_eq!(phone.poll(&h, 0).await.len(), 1);
    // A's enrollment and challenge do not exist for B.
    let a_enrollment = h.start_enrollment("alice").await.enrollment_id;
    let (s, _) = h.rp_as(&b, "GET", &format!("/v1/enrollments/{a_enrollment}?wait=0"), None).await;
    assert_eq!(s, 404);
    let id = created["challenge_id"].as_str().unwrap();
    let (s, _) = h.rp_as(&b, "GET", &format!("/v1/challenges/{id}?wait=0"), None).await;
    assert_eq!(s, 404);

    // Push and QR to A's bob: 404 like a user who does not exist.
    let ctx = json!({"service": "Evil", "action": "Sign in"});
    let (s, _) = h.rp_as(&b, "POST", "/v1/challenges/push", Some(json!({"user": "bob", "context": ctx}))).await;
    assert_eq!(s, 404);
    let qr = json!({"user": "bob", "service": "Evil", "action": "Sign in"});
    let (s, _) = h.rp_as(&b, "POST", "/v1/challenges/qr", Some(qr)).await;
    assert_eq!(s, 404);

    // QR-checking A's challenge (junk OTPs to lock alice): 404, nothing counted.
    let (s, qr_created) = h
        .rp("POST", "/v1/challenges/qr", Some(json!({"user": "alice", "service": "Trade portal", "action": "Sign in"})))
        .await;
    assert_eq!(s, 200, "{qr_created}");
    let qid = qr_created["challenge_id"].as_str().unwrap();
    for _ in 0..10 {
        let (s, _) = h.rp_as(&b, "POST", &format!("/v1/challenges/{qid}/otp"), Some(json!({"otp": "12345678"}))).await;
        assert_eq!(s, 404);
    }
    let (_, status) = h.rp("GET", &format!("/v1/challenges/{qid}?wait=0"), None).await;
    assert_eq!(status["state"], "pending");
    let alice = nyckel_server::users::get(&*h.app.store, common::TENANT, "alice").unwrap().unwrap();
    assert_eq!(alice.otp_failures, 0);
    let (_, me) = phone.signed(&h, "GET", "/v1/device", None).await;
    assert_eq!((me["state"].as_str(), me["pin_failures"].as_u64()), (Some("active"), Some(0)));
}

#[tokio::test]
async fn tenant_administrators_stay_in_their_tenant() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let _b = h.other_tenant("beta", &["carol"]);
    let beta_admin = nyckel_server::admins::add(&*h.app.store, "beta", "beta-ops").unwrap();
    let acme_admin = nyckel_server::admins::add(&*h.app.store, common::TENANT, "acme-ops").unwrap();
    let device = phone.device_id.as_str();

    let (s, list) = h.admin_as(&beta_admin, "GET", "/v1/admin/devices").await;
    assert_eq!((s, list["devices"].as_array().map(Vec::len)), (200, Some(0)));
    let (s, _) = h.admin_as(&beta_admin, "GET", "/v1/admin/devices?tenant=acme").await;
    assert_eq!(s, 404);
    for action in ["unblock", "reactivate", "revoke"] {
        let (s, _) = h.admin_as(&beta_admin, "POST", &format!("/v1/admin/devices/{device}/{action}")).await;
        assert_eq!(s, 404, "{action}");
    }
    let (s, _) = h.admin_as(&beta_admin, "POST", "/v1/admin/tenants/acme/users/alice/otp-unlock").await;
    assert_eq!(s, 404);
    // Beta's administrator sees none of acme's audit events; acme's sees them, with its name as actor.
    let (s, page) = h.admin_as(&beta_admin, "GET", "/v1/admin/audit?limit=500").await;
    assert_eq!(s, 200);
    assert!(page["events"].as_array().unwrap().iter().all(|e| e["tenant"] == "beta"), "{page}");
    let (s, list) = h.admin_as(&acme_admin, "GET", "/v1/admin/devices").await;
    assert_eq!((s, list["devices"].as_array().map(Vec::len)), (200, Some(1)));
    assert_eq!(h.admin_as(&acme_admin, "POST", &format!("/v1/admin/devices/{device}/unblock")).await.0, 204);
    let (_, page) = h.admin_as(&acme_admin, "GET", "/v1/admin/audit?limit=500").await;
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty() && events.iter().all(|e| e["tenant"] == "acme"));
    assert!(events.iter().any(|e| e["kind"] == "device_unblocked" && e["actor"] == "admin:acme-ops"), "{page}");
    // The global administrator sees both tenants.
    let (_, all) = h.admin("GET", "/v1/admin/devices").await;
    assert_eq!(all["devices"].as_array().map(Vec::len), Some(1));
}
