//! `PUT /v1/users/{user}`: a relying party creates users in its own tenant (idempotently), never
//! in another, and malformed names are refused with a typed error.

mod common;

use common::Harness;

#[tokio::test]
async fn a_relying_party_creates_a_user_once_and_can_then_enroll_a_phone() {
    let h = Harness::start(&[]).await;
    // Not there yet: enrolling is refused.
    let (s, _) = h.rp("GET", "/v1/users/dave/devices", None).await;
    assert_eq!(s, 404);

    let (s, created) = h.rp("PUT", "/v1/users/dave", None).await;
    assert_eq!(
        (s, created["user"].as_str(), created["disabled"].as_bool()),
        (201, Some("dave"), Some(false)),
        "{created}"
    );
    let created_at = created["created_at"].as_u64().unwrap();
    // Idempotent: the same user again is 200 with the same record, and no second event.
    let (s, again) = h.rp("PUT", "/v1/users/dave", None).await;
    assert_eq!((s, again["created_at"].as_u64()), (200, Some(created_at)), "{again}");
    let (_, page) = h.admin("GET", "/v1/admin/audit?limit=500").await;
    let created_events: Vec<_> =
        page["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "user_created").collect();
    assert_eq!(created_events.len(), 1, "{page}");
    let e = created_events[0];
    assert_eq!((e["tenant"].as_str(), e["user"].as_str()), (Some(common::TENANT), Some("dave")), "{e}");
    assert!(e["actor"].as_str().is_some_and(|a| a.starts_with("rp:")), "{e}");

    // The user is real: listed, enrollable, and a phone registers.
    let (s, list) = h.rp("GET", "/v1/users/dave/devices", None).await;
    assert_eq!((s, list["devices"].as_array().map(Vec::len)), (200, Some(0)));
    let phone = h.enroll("dave").await;
    let (s, list) = h.rp("GET", "/v1/users/dave/devices", None).await;
    assert_eq!((s, list["devices"][0]["device_id"].as_str()), (200, Some(phone.device_id.as_str())));
    // An existing user keeps its devices when put again.
    assert_eq!(h.rp("PUT", "/v1/users/dave", None).await.0, 200);
    assert_eq!(phone.signed(&h, "GET", "/v1/device", None).await.0, 200);
}

#[tokio::test]
async fn a_user_created_in_one_tenant_does_not_exist_in_another() {
    let h = Harness::start(&[]).await;
    let beta = h.other_tenant("beta", &[]).await;

    // Acme's relying party creates erin; beta's does not see her.
    assert_eq!(h.rp("PUT", "/v1/users/erin", None).await.0, 201);
    let (s, body) = h.rp_as(&beta, "GET", "/v1/users/erin/devices", None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (s, _) =
        h.rp_as(&beta, "POST", "/v1/enrollments", Some(serde_json::json!({"user": "erin", "device_name": "x"}))).await;
    assert_eq!(s, 404);

    // Beta's relying party putting "frank" creates beta's frank only: acme still has none, and
    // acme's own put then creates a different user (201, not 200).
    assert_eq!(h.rp_as(&beta, "PUT", "/v1/users/frank", None).await.0, 201);
    assert_eq!(h.rp("GET", "/v1/users/frank/devices", None).await.0, 404);
    assert!(nyckel_server::users::get(&*h.app.store, common::TENANT, "frank").await.unwrap().is_none());
    assert!(nyckel_server::users::get(&*h.app.store, "beta", "frank").await.unwrap().is_some());
    assert_eq!(h.rp("PUT", "/v1/users/frank", None).await.0, 201);
    // Beta's put of acme's erin is beta's own new erin; acme's erin is untouched.
    let before = nyckel_server::users::get(&*h.app.store, common::TENANT, "erin").await.unwrap().unwrap();
    assert_eq!(h.rp_as(&beta, "PUT", "/v1/users/erin", None).await.0, 201);
    assert_eq!(nyckel_server::users::get(&*h.app.store, common::TENANT, "erin").await.unwrap().unwrap(), before);

    // Without a valid key, nothing is created.
    assert_eq!(h.rp_as("rp_not-a-key", "PUT", "/v1/users/gina", None).await.0, 401);
    assert!(nyckel_server::users::get(&*h.app.store, common::TENANT, "gina").await.unwrap().is_none());
}

#[tokio::test]
async fn malformed_user_names_are_refused_and_nothing_is_stored() {
    let h = Harness::start(&[]).await;
    let long = "x".repeat(129);
    // A control character, a NUL (the store key's separator), a bidirectional override, a
    // zero-width space, and 129 characters.
    for (path, name) in [
        ("/v1/users/a%0Ab", "a\nb".to_owned()),
        ("/v1/users/a%00b", "a\0b".to_owned()),
        ("/v1/users/%E2%80%AEevil", "\u{202E}evil".to_owned()),
        ("/v1/users/a%E2%80%8Bb", "a\u{200B}b".to_owned()),
        (&format!("/v1/users/{long}"), long.clone()),
    ] {
        let (s, body) = h.rp("PUT", path, None).await;
        assert_eq!((s, body["error"]["code"].as_str()), (400, Some("bad_request")), "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("invalid user name"), "{body}");
        assert!(nyckel_server::users::get(&*h.app.store, common::TENANT, &name).await.unwrap().is_none(), "{path}");
    }
    assert!(!h.audit_kinds().await.iter().any(|k| k == "user_created"));
    // The longest allowed name is accepted.
    assert_eq!(h.rp("PUT", &format!("/v1/users/{}", "x".repeat(128)), None).await.0, 201);
}
