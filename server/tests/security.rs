//! Security policy over HTTP: PIN-failure blocking, signed-request checks, inactivity,
//! administrator actions and the audit log.

mod common;

use common::Harness;
use nyckel_protocol::policy::INACTIVE_AFTER;
use nyckel_protocol::{PinCheck, PinSecret, RequestAuth};
use serde_json::json;

#[tokio::test]
async fn five_wrong_pins_block_the_device_until_an_admin_unblocks_it() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let (_, created) = h.push("alice", json!({})).await;
    let c = phone.poll(&h, 0).await.remove(0);
    let wrong = PinSecret::from_bytes([9; 32]);
    for left in (1..=4).rev() {
        let (s, body) = phone.approve_with(&h, &c, None, &wrong).await;
        assert_eq!((s, body["error"]["code"].as_str()), (403, Some("wrong_pin")));
        assert_eq!(body["error"]["attempts_left"], left);
        // A wrong PIN does not consume the challenge.
        let (_, status) = h.rp("GET", &format!("/v1/challenges/{}?wait=0", c.id), None).await;
        assert_eq!(status["state"], "pending");
    }
    let (s, body) = phone.approve_with(&h, &c, None, &wrong).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("device_blocked")));
    let (_, status) =
        h.rp("GET", &format!("/v1/challenges/{}?wait=0", created["challenge_id"].as_str().unwrap()), None).await;
    assert_eq!(status["state"], "blocked");
    // Blocked: requests refused, no more pushes, even the right PIN does not help.
    let (s, body) = phone.signed(&h, "GET", "/v1/device/challenges?wait=0", None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("device_blocked")));
    let (s, body) = h.push("alice", json!({})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("no_device")));
    let (_, list) = h.admin("GET", "/v1/admin/devices?state=blocked").await;
    assert_eq!(list["devices"][0]["pin_failures"], 5);
    // The counter is in the store, not only in memory.
    let stored: nyckel_server::devices::DeviceRecord =
        h.app.store.devices().get(phone.device_id.as_str().as_bytes()).await.unwrap().unwrap();
    assert!(stored.blocked);
    let (s, _) = h.admin("POST", &format!("/v1/admin/devices/{}/unblock", phone.device_id)).await;
    assert_eq!(s, 204);
    let (_, created) = h.push("alice", json!({})).await;
    let c = phone.poll(&h, 0).await.into_iter().find(|c| c.id.as_str() == created["challenge_id"]).unwrap();
    assert_eq!(phone.approve(&h, &c, None).await.0, 200);
    let kinds = h.audit_kinds().await;
    assert_eq!(kinds.iter().filter(|k| *k == "pin_failed").count(), 5);
    for kind in ["device_blocked", "device_unblocked"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}");
    }
}

#[tokio::test]
async fn a_right_pin_resets_the_consecutive_count() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let wrong = PinSecret::from_bytes([9; 32]);
    for _ in 0..3 {
        let check = PinCheck::create(&phone.device_id, &wrong, h.now()).unwrap();
        let (s, _) = phone.signed(&h, "POST", "/v1/device/pin-check", Some(serde_json::to_vec(&check).unwrap())).await;
        assert_eq!(s, 403);
    }
    let check = PinCheck::create(&phone.device_id, &phone.secret, h.now()).unwrap();
    let body = serde_json::to_vec(&check).unwrap();
    assert_eq!(phone.signed(&h, "POST", "/v1/device/pin-check", Some(body.clone())).await.0, 204);
    let (_, me) = phone.signed(&h, "GET", "/v1/device", None).await;
    assert_eq!(me["pin_failures"], 0);
    // The PIN-check nonce is single use.
    let (s, b) = phone.signed(&h, "POST", "/v1/device/pin-check", Some(body)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (401, Some("replayed_request")));
}

#[tokio::test]
async fn poll_requests_are_refused_outside_the_window_with_a_bad_signature_or_replayed() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let other = h.enroll("alice").await;
    let path = "/v1/device/challenges?wait=0";
    for ts in [h.now() - 61, h.now() + 61] {
        let (s, body) = phone.signed_at(&h, "GET", path, None, ts).await;
        assert_eq!((s, body["error"]["code"].as_str()), (401, Some("stale_request")));
        // The server's clock comes with it, so the phone can correct its own.
        assert_eq!(body["error"]["server_time"].as_u64(), Some(h.now()));
    }
    assert_eq!(phone.signed_at(&h, "GET", path, None, h.now() - 60).await.0, 200);

    let send = |auth: RequestAuth, target: &'static str| {
        let mut req = h.http.get(h.url(target));
        for (name, value) in auth.to_headers() {
            req = req.header(name, value);
        }
        async move { common::status_json(req.send().await.unwrap()).await }
    };
    // Signed by another device's key.
    let forged = RequestAuth::sign(&other.key, &phone.device_id, "GET", path, b"", h.now()).unwrap();
    let (s, body) = send(forged, path).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("bad_signature")));
    // Signed for another path.
    let moved = RequestAuth::sign(&phone.key, &phone.device_id, "GET", "/v1/device", b"", h.now()).unwrap();
    assert_eq!(send(moved, path).await.0, 401);
    // Replayed.
    let once = RequestAuth::sign(&phone.key, &phone.device_id, "GET", path, b"", h.now()).unwrap();
    assert_eq!(send(once.clone(), path).await.0, 200);
    let (s, body) = send(once, path).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("replayed_request")));
    // Unsigned.
    let (s, body) = common::status_json(h.http.get(h.url(path)).send().await.unwrap()).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("bad_signature")));
    // Unknown device.
    let stranger = nyckel_protocol::DeviceId::new("nobody").unwrap();
    let auth = RequestAuth::sign(&phone.key, &stranger, "GET", path, b"", h.now()).unwrap();
    let (s, body) = send(auth, path).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("unknown_device")));
    // The replay (its signature verified) is one event with the device; the rest — which
    // anyone can send naming any device — one summary when the window ends.
    assert_eq!(h.audit_kinds().await.iter().filter(|k| *k == "signature_rejected").count(), 1);
    h.clock.advance(61);
    nyckel_server::service::housekeeping::run_once(&h.app).await;
    assert_eq!(h.audit_kinds().await.iter().filter(|k| *k == "signature_rejected").count(), 2);
}

#[tokio::test]
async fn an_unused_device_becomes_inactive_and_an_admin_reactivates_it() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    h.clock.advance(INACTIVE_AFTER);
    let (s, body) = phone.signed(&h, "GET", "/v1/device/challenges?wait=0", None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("device_inactive")));
    let (s, _) = h.push("alice", json!({})).await;
    assert_eq!(s, 409);
    assert!(h.audit_kinds().await.iter().any(|k| k == "device_inactive"));
    let (s, _) = h.admin("POST", &format!("/v1/admin/devices/{}/reactivate", phone.device_id)).await;
    assert_eq!(s, 204);
    assert_eq!(h.push("alice", json!({})).await.0, 200);
    assert_eq!(phone.poll(&h, 0).await.len(), 1);
    // Revocation deletes the device.
    assert_eq!(h.admin("POST", &format!("/v1/admin/devices/{}/revoke", phone.device_id)).await.0, 204);
    assert_eq!(phone.signed(&h, "GET", "/v1/device", None).await.0, 401);
    assert!(h.app.store.devices().get(phone.device_id.as_str().as_bytes()).await.unwrap().is_none());
}

#[tokio::test]
async fn relying_parties_and_admins_must_authenticate_and_stay_in_their_lane() {
    let h = Harness::start(&["alice"]).await;
    let _phone = h.enroll("alice").await;
    let (_, created) = h.push("alice", json!({})).await;
    let id = created["challenge_id"].as_str().unwrap();
    for (path, token) in [("/v1/admin/audit", h.rp_key.as_str()), (&format!("/v1/challenges/{id}") as &str, "rp_wrong")]
    {
        let resp = h.http.get(h.url(path)).bearer_auth(token).send().await.unwrap();
        let (s, body) = common::status_json(resp).await;
        assert_eq!((s, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{path}");
    }
    // Another relying party, even of the same tenant, cannot see this one's challenge: to it,
    // the challenge does not exist.
    let other_key = nyckel_server::relying_parties::add(&*h.app.store, common::TENANT, "other", h.now()).await.unwrap();
    let resp = h.http.get(h.url(&format!("/v1/challenges/{id}?wait=0"))).bearer_auth(other_key).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // Audit paging.
    let (_, first) = h.admin("GET", "/v1/admin/audit?limit=2").await;
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    let next = first["next"].as_u64().unwrap();
    let (_, second) = h.admin("GET", &format!("/v1/admin/audit?after={next}&limit=500")).await;
    let seqs: Vec<u64> = second["events"].as_array().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]) && seqs[0] > next);
    // Refused keys are audited in aggregate: one summary per kind and window, written when
    // the window ends (here by housekeeping after the clock moves on).
    assert!(!second["events"].as_array().unwrap().iter().any(|e| e["kind"] == "authentication_failed"));
    h.clock.advance(61);
    nyckel_server::service::housekeeping::run_once(&h.app).await;
    let (_, all) = h.admin("GET", "/v1/admin/audit?limit=500").await;
    let summaries: Vec<_> =
        all["events"].as_array().unwrap().iter().filter(|e| e["kind"] == "authentication_failed").collect();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
}

/// Issue 9, finding 5: with the counter at 4, twenty wrong answers and PIN checks raced in
/// parallel are judged one at a time — exactly one more failure is counted, every one of
/// them gets the blocked answer, and so does the right PIN afterwards.
/// A device blocked by a PIN check (not by an answer) ends its open challenge as blocked at once:
/// the login page shows "blocked" rather than waiting for the expiry.
#[tokio::test]
async fn a_block_by_pin_check_ends_the_devices_open_challenge_as_blocked() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let (_, created) = h.push("alice", json!({})).await;
    let path = format!("/v1/challenges/{}?wait=0", created["challenge_id"].as_str().unwrap());
    let wrong = PinSecret::from_bytes([9; 32]);
    for attempt in 1..=5 {
        let check = PinCheck::create(&phone.device_id, &wrong, h.now()).unwrap();
        let (s, body) =
            phone.signed(&h, "POST", "/v1/device/pin-check", Some(serde_json::to_vec(&check).unwrap())).await;
        assert_eq!(s, 403, "{body}");
        let (_, status) = h.rp("GET", &path, None).await;
        let expected = if attempt < 5 { "pending" } else { "blocked" };
        assert_eq!(status["state"], expected, "after {attempt} wrong PINs: {status}");
    }
}

#[tokio::test]
async fn parallel_wrong_pins_cannot_pass_the_lockout_and_a_right_pin_after_it_is_refused_alike() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let wrong = PinSecret::from_bytes([9; 32]);
    for _ in 0..4 {
        let check = PinCheck::create(&phone.device_id, &wrong, h.now()).unwrap();
        let (s, _) = phone.signed(&h, "POST", "/v1/device/pin-check", Some(serde_json::to_vec(&check).unwrap())).await;
        assert_eq!(s, 403);
    }
    let (_, created) = h.push("alice", json!({})).await;
    let c = phone.poll(&h, 0).await.remove(0);
    let path = format!("/v1/device/challenges/{}/answer", c.id);
    let mut requests = Vec::new();
    for i in 0..20 {
        requests.push(if i % 2 == 0 {
            let answer = nyckel_protocol::Answer::approve(&c, None, h.now(), &phone.key, &wrong).unwrap();
            phone.signed_request(&h, "POST", &path, serde_json::to_vec(&answer).unwrap())
        } else {
            let check = PinCheck::create(&phone.device_id, &wrong, h.now()).unwrap();
            phone.signed_request(&h, "POST", "/v1/device/pin-check", serde_json::to_vec(&check).unwrap())
        });
    }
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|r| tokio::spawn(async move { common::status_json(r.send().await.unwrap()).await }))
        .collect();
    for task in tasks {
        let (s, body) = task.await.unwrap();
        assert_eq!((s, body["error"]["code"].as_str()), (403, Some("device_blocked")), "{body}");
    }
    let stored: nyckel_server::devices::DeviceRecord =
        h.app.store.devices().get(phone.device_id.as_str().as_bytes()).await.unwrap().unwrap();
    assert_eq!((stored.pin_failures, stored.blocked), (5, true));
    assert_eq!(h.audit_kinds().await.iter().filter(|k| *k == "pin_failed").count(), 5);
    let (_, status) =
        h.rp("GET", &format!("/v1/challenges/{}?wait=0", created["challenge_id"].as_str().unwrap()), None).await;
    assert_eq!(status["state"], "blocked");
    // The right PIN now gets exactly the answer a wrong one gets.
    let right = PinCheck::create(&phone.device_id, &phone.secret, h.now()).unwrap();
    let (s, body) = phone.signed(&h, "POST", "/v1/device/pin-check", Some(serde_json::to_vec(&right).unwrap())).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("device_blocked")));
    let stored: nyckel_server::devices::DeviceRecord =
        h.app.store.devices().get(phone.device_id.as_str().as_bytes()).await.unwrap().unwrap();
    assert_eq!((stored.pin_failures, stored.blocked), (5, true), "a right PIN after the block changed the record");
}

/// Wrong QR one-time passwords raced in parallel over several challenges cannot pass the
/// user's limit: each is counted by one atomic update before it is judged, so exactly five are
/// judged (four `wrong_pin`, the fifth locks), and every other one is refused unjudged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_one_time_passwords_cannot_pass_the_user_limit() {
    use nyckel_protocol::qr::QrPayload;
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let wrong = PinSecret::from_bytes([9; 32]);
    let mut requests = Vec::new();
    for _ in 0..7 {
        let body = json!({"user": "alice", "service": "Trade portal", "action": "Sign in"});
        let (s, created) = h.rp("POST", "/v1/challenges/qr", Some(body)).await;
        assert_eq!(s, 200, "{created}");
        let QrPayload::Otp(qr) = QrPayload::parse(created["qr"].as_str().unwrap()).unwrap() else { panic!() };
        let typed = nyckel_protocol::qr_otp::compute(&wrong, &qr.question()).unwrap().to_string();
        let url = h.url(&format!("/v1/challenges/{}/otp", created["challenge_id"].as_str().unwrap()));
        for _ in 0..3 {
            requests.push(h.http.post(&url).bearer_auth(&h.rp_key).json(&json!({"otp": typed})));
        }
    }
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|r| tokio::spawn(async move { common::status_json(r.send().await.unwrap()).await }))
        .collect();
    let mut codes = Vec::new();
    for task in tasks {
        let (s, body) = task.await.unwrap();
        let code = body["error"]["code"].as_str().unwrap_or("none").to_owned();
        assert!(
            matches!((s, code.as_str()), (403, "wrong_pin" | "otp_locked") | (409, "already_answered")),
            "{s} {body}"
        );
        codes.push(code);
    }
    assert_eq!(codes.iter().filter(|c| *c == "wrong_pin").count(), 4, "{codes:?}");
    let alice = nyckel_server::users::get(&*h.app.store, common::TENANT, "alice").await.unwrap().unwrap();
    assert_eq!(alice.otp_failures, 5);
    let kinds = h.audit_kinds().await;
    assert_eq!(kinds.iter().filter(|k| *k == "pin_failed").count(), 5, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "otp_locked").count(), 1);
    // The device itself was never counted against: push still works.
    let (_, me) = phone.signed(&h, "GET", "/v1/device", None).await;
    assert_eq!((me["state"].as_str(), me["pin_failures"].as_u64()), (Some("active"), Some(0)));
}

/// The same race judged directly on the device entry, below HTTP and its request checks:
/// twenty threads with wrong PINs give exactly five wrong verdicts, then only "blocked",
/// and a right PIN afterwards is not even looked at.
// A multi-thread runtime: the threads below drive their judgements through its handle, and on
// a current-thread runtime nobody would drive its I/O (PostgreSQL's sockets) while the test's
// own thread waits for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_verdicts_are_atomic_per_device() {
    use nyckel_server::service::pin::{judge, PinVerdict};
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let device = h.app.devices.get(&phone.device_id).unwrap();
    // Each thread drives its judgement to its end on the test's runtime.
    let runtime = tokio::runtime::Handle::current();
    let verdicts: Vec<PinVerdict> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (device, app, runtime) = (&device, &h.app, &runtime);
                scope.spawn(move || runtime.block_on(judge(app, device, 0, |_| false)).unwrap())
            })
            .collect();
        handles.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let wrong = verdicts.iter().filter(|v| matches!(v, PinVerdict::Wrong { .. })).count();
    let blocked = verdicts.iter().filter(|v| **v == PinVerdict::Blocked).count();
    assert_eq!((wrong, blocked), (5, 15));
    let right = judge(&h.app, &device, 0, |_| true).await.unwrap();
    assert_eq!(right, PinVerdict::Blocked);
    let record = device.record();
    assert_eq!((record.pin_failures, record.blocked), (5, true));
}

/// Issue 9, finding 7: a user's open challenges are capped, so sixty maximum-size pushes
/// leave the phone's poll answer far below its 1 MiB limit.
#[tokio::test]
async fn sixty_maximum_size_pushes_leave_the_phone_able_to_poll() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let long = |n: usize| "W".repeat(n);
    let lines: Vec<_> = (0..16).map(|i| json!({"key": format!("{i:02}{}", long(62)), "value": long(256)})).collect();
    let context = json!({"service": long(64), "action": long(64), "browser": long(128), "ip": long(64),
        "place": long(128), "time": 1_900_000_000u64});
    let mut accepted = 0;
    let mut refused = std::collections::BTreeMap::new();
    for _ in 0..60 {
        let (s, body) = h.push("alice", json!({"context": context, "transaction": lines})).await;
        if s == 200 {
            accepted += 1;
        } else {
            *refused.entry((s, body["error"]["code"].as_str().unwrap_or("").to_owned())).or_insert(0) += 1;
        }
    }
    assert_eq!(accepted, nyckel_server::challenges::MAX_OPEN_CHALLENGES_PER_USER);
    assert_eq!(refused.keys().map(|(s, _)| *s).collect::<Vec<_>>(), vec![429], "{refused:?}");
    let resp = phone.signed_request(&h, "GET", "/v1/device/challenges?wait=0", Vec::new()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.len() < 1024 * 1024 / 4, "poll answer of {} bytes", bytes.len());
    let pending: nyckel_protocol::wire::phone::PendingChallenges = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(pending.challenges.len(), accepted);
}

/// Issue 9, finding 9: without a choice by the relying party, number matching is typed.
#[tokio::test]
async fn number_matching_is_typed_by_default() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let (s, created) = h
        .rp(
            "POST",
            "/v1/challenges/push",
            Some(json!({"user": "alice",
        "context": {"service": "Trade portal", "action": "Sign in"}})),
        )
        .await;
    assert_eq!(s, 200, "{created}");
    let number = created["number"].as_str().unwrap().to_owned();
    assert_eq!(number.len(), 2);
    let c = phone.poll(&h, 0).await.remove(0);
    assert!(matches!(c.display.number_match, Some(nyckel_protocol::NumberPrompt::Type { digits: 2 })));
    // A blind approval without the number cannot even be formed; the right number passes.
    assert!(nyckel_protocol::Answer::approve(&c, None, h.now(), &phone.key, &phone.secret).is_err());
    assert_eq!(phone.approve(&h, &c, Some(number)).await.0, 200);
}

/// Issue 9, finding 10: a request nonce is still refused after the server restarts.
#[tokio::test]
async fn request_nonces_survive_a_restart() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let auth = RequestAuth::sign(&phone.key, &phone.device_id, "GET", "/v1/device", b"", h.now()).unwrap();
    let send = |h: &Harness, base: String| {
        let mut req = h.http.get(format!("{base}/v1/device"));
        for (name, value) in auth.to_headers() {
            req = req.header(name, value);
        }
        req.send()
    };
    assert_eq!(send(&h, h.base.clone()).await.unwrap().status(), 200);
    let restarted = h.restart().await;
    let (s, body) = common::status_json(send(&restarted, restarted.base.clone()).await.unwrap()).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("replayed_request")));
}

/// The per-user push throttle: more than ten pushes a minute to one user are refused (push
/// fatigue), and the next minute opens again.
#[tokio::test]
async fn pushes_to_one_user_are_throttled_per_minute() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    for _ in 0..nyckel_server::challenges::MAX_PUSHES_PER_USER_PER_MINUTE {
        let (_, created) = h.push("alice", json!({})).await;
        // Answered at once, so the cap on open challenges is not what refuses below.
        let c = phone.poll(&h, 0).await.into_iter().find(|c| c.id.as_str() == created["challenge_id"]).unwrap();
        let deny = nyckel_protocol::Answer::deny(&c, false, h.now(), &phone.key).unwrap();
        assert_eq!(phone.send_answer(&h, c.id.as_str(), &deny).await.0, 200);
    }
    let (s, body) = h.push("alice", json!({})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (429, Some("push_throttled")));
    h.clock.advance(60);
    assert_eq!(h.push("alice", json!({})).await.0, 200);
}

/// Server key rotation (issue 9, "signing-key rotation that phones follow"): after
/// `key rotate` and a restart, polls carry the statement signed by the old key, and the
/// phone that pinned the old key reaches the new one and verifies challenges under it.
#[tokio::test]
async fn phones_follow_a_server_key_rotation() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let (dir, kek) = (h.dir.clone(), h.kek.clone());
    let h = {
        // The rotation is an offline command: the server is stopped for it.
        let h = h
            .restart_with(|store| async move {
                nyckel_server::admin::rotate_signing_key_in(&store, dir.path(), &kek.open(dir.path())).await.unwrap();
            })
            .await;
        h
    };
    assert_ne!(h.app.server_key, phone.server_key);
    let (_, created) = h.push("alice", json!({})).await;
    let (s, body) = phone.signed(&h, "GET", "/v1/device/challenges?wait=0", None).await;
    assert_eq!(s, 200, "{body}");
    let pending: nyckel_protocol::wire::phone::PendingChallenges = serde_json::from_value(body).unwrap();
    let followed = nyckel_protocol::key_rotation::follow(&phone.server_key, &pending.key_rotations).unwrap();
    assert_eq!(followed, Some(h.app.server_key));
    let c = &pending.challenges[0];
    assert!(c.verify(&phone.server_key, &phone.device_id, h.now()).is_err(), "signed by the old key");
    assert_eq!(c.verify(&h.app.server_key, &phone.device_id, h.now()).unwrap().id.as_str(), created["challenge_id"]);
    assert!(h.audit_kinds().await.iter().any(|k| k == "key_rotated"));
    // The audit log still verifies across the rotation.
    let report = nyckel_server::audit::verify(h.app.store.audit(), &h.app.known_keys).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.findings);
}

/// Behind a configured reverse proxy, the client's address comes from `X-Forwarded-For`
/// (for the audit log and the per-address rate limit); from anyone else the header is ignored.
#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_configured_proxies() {
    let h = Harness::start_with(&["alice"], |config| {
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        let address = nyckel_server::limits::Rate { per_second: 1, burst: 2 };
        config.limits = nyckel_server::limits::Limits { per_address: address, ..common::unlimited() };
    })
    .await;
    let send = |forwarded: &'static str| {
        h.http
            .post(h.url("/v1/enrollments"))
            .bearer_auth(&h.rp_key)
            .header("x-forwarded-for", forwarded)
            .json(&json!({"user": "alice", "device_name": "Phone"}))
            .send()
    };
    assert_eq!(send("198.51.100.1, 203.0.113.9").await.unwrap().status(), 200);
    let (_, page) = h.admin("GET", "/v1/admin/audit?limit=500").await;
    let started = page["events"].as_array().unwrap().iter().find(|e| e["kind"] == "enrollment_started").unwrap();
    assert_eq!(started["ip"], "203.0.113.9", "the nearest address the proxy saw, not the client's claim");
    // The per-address limit counts the forwarded address: another client is not limited.
    assert_eq!(send("203.0.113.9").await.unwrap().status(), 200);
    assert_eq!(send("203.0.113.9").await.unwrap().status(), 429);
    assert_eq!(send("203.0.113.10").await.unwrap().status(), 200);
}

/// A client that connects and sends nothing, or only part of a request head, is disconnected
/// after the header-read timeout (it cannot hold a connection and a file for ever); a phone's
/// long poll that waits longer than that timeout is not cut.
#[tokio::test]
async fn silent_and_trickling_connections_are_closed_but_long_polls_are_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let timeout = std::time::Duration::from_millis(300);
    let h = Harness::start_with(&["alice"], move |config| config.header_read_timeout = timeout).await;
    let phone = h.enroll("alice").await;
    let others = async {
        while h.app.metrics.open_long_polls() == 0 {
            tokio::task::yield_now().await;
        }
        let addr = h.url("").trim_start_matches("http://").trim_end_matches('/').to_owned();
        let started = std::time::Instant::now();
        let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut trickling = tokio::net::TcpStream::connect(&addr).await.unwrap();
        trickling.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        for stream in [&mut silent, &mut trickling] {
            let mut buf = [0u8; 64];
            // Closed by the server: end of stream (or a reset), never a wait for ever.
            let read = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut buf)).await;
            assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "still open: {read:?}");
        }
        assert!(started.elapsed() >= timeout);
        // The long poll began before the two connections and is still waiting: a push reaches it.
        let (status, _) = h.push("alice", json!({})).await;
        assert_eq!(status, 200);
    };
    let (challenges, ()) = tokio::join!(phone.poll(&h, 30), others);
    assert_eq!(challenges.len(), 1);
}
