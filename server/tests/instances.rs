//! Several server instances on one PostgreSQL schema (when the tests have one: see
//! `common::postgres_url`): a push created on one reaches a phone long-polling the other, an
//! answer through one wakes a waiter on the other, a challenge answered through both is
//! decided once, a revoked device is refused by the other instance, and after the listener's
//! connection is killed a challenge still arrives; the shared part of housekeeping runs on one
//! instance at a time. No sleeps: every wait is a long poll's
//! answer under a timeout.

mod common;

use std::time::Duration;

use common::Harness;
use serde_json::json;

/// Long enough for a loaded machine, far below the 30-second polls: a missed wake-up fails.
const PROMPT: Duration = Duration::from_secs(10);

async fn pair(users: &[&str]) -> Option<(Harness, Harness, nyckel_server::store::PgSettings)> {
    let url = common::postgres_url()?;
    Some(Harness::start_pair_on_postgres(&url, users).await)
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

#[tokio::test]
async fn a_push_created_on_one_instance_reaches_a_phone_polling_the_other() {
    let Some((a, b, _)) = pair(&["alice"]).await else { return };
    let phone = a.enroll("alice").await;
    let poll = phone.poll(&b, 30);
    let create = a.push("alice", json!({}));
    let (challenges, (status, created)) =
        tokio::time::timeout(PROMPT, async { tokio::join!(poll, create) }).await.expect("the phone on B was not woken");
    assert_eq!(status, 200, "{created}");
    assert_eq!(challenges.len(), 1);
    assert_eq!(challenges[0].id.as_str(), created["challenge_id"].as_str().unwrap());

    // The answer through B wakes the relying party's status poll on A.
    let id = created["challenge_id"].as_str().unwrap().to_owned();
    let number = created["number"].as_str().map(str::to_owned);
    let path = format!("/v1/challenges/{id}?wait=30");
    let watch = a.rp("GET", &path, None);
    let answer = phone.approve(&b, &challenges[0], number);
    let ((s, status), (answered, body)) = tokio::time::timeout(PROMPT, async { tokio::join!(watch, answer) })
        .await
        .expect("the waiter on A was not woken");
    assert_eq!((answered, body["state"].as_str()), (200, Some("approved")), "{body}");
    assert_eq!((s, status["state"].as_str()), (200, Some("approved")), "{status}");
}

#[tokio::test]
async fn a_challenge_answered_through_both_instances_is_decided_once() {
    let Some((a, b, _)) = pair(&["alice"]).await else { return };
    let phone = a.enroll("alice").await;
    let (status, created) = a.push("alice", json!({})).await;
    assert_eq!(status, 200, "{created}");
    let challenges = tokio::time::timeout(PROMPT, phone.poll(&b, 30)).await.unwrap();
    let number = created["number"].as_str().map(str::to_owned);
    let (on_a, on_b) =
        tokio::join!(phone.approve(&a, &challenges[0], number.clone()), phone.approve(&b, &challenges[0], number));
    let mut codes = [on_a.0, on_b.0];
    codes.sort_unstable();
    assert_eq!(codes, [200, 409], "A: {}, B: {}", on_a.1, on_b.1);
    // The instances share one audit log (PostgreSQL): each reads the same single approval.
    assert_eq!(count(&a.audit_kinds().await, "challenge_approved"), 1, "one approval audited across the instances");
    assert_eq!(count(&b.audit_kinds().await, "challenge_approved"), 1, "B reads the same shared log");
    let stored = a.app.store.challenges().get(challenges[0].id.as_str().as_bytes()).await.unwrap().unwrap();
    assert_eq!(stored.state, nyckel_protocol::ChallengeState::Approved);
}

#[tokio::test]
async fn a_device_revoked_on_one_instance_is_refused_by_the_other() {
    let Some((a, b, _)) = pair(&["alice", "bob"]).await else { return };
    let alice = a.enroll("alice").await;
    let bob = a.enroll("bob").await;
    // B knows alice's phone (it called there).
    let (s, _) = alice.signed(&b, "GET", "/v1/device/challenges?wait=0", None).await;
    assert_eq!(s, 200);
    let (s, body) = a.admin("POST", &format!("/v1/admin/devices/{}/revoke", alice.device_id)).await;
    assert_eq!(s, 204, "{body}");
    // Notices arrive in commit order: once bob's push (committed after the revocation)
    // reached B, so did the revocation.
    let poll = bob.poll(&b, 30);
    let create = a.push("bob", json!({}));
    let (got, (s, _)) = tokio::time::timeout(PROMPT, async { tokio::join!(poll, create) }).await.unwrap();
    assert_eq!((s, got.len()), (200, 1));
    let (s, body) = alice.signed(&b, "GET", "/v1/device/challenges?wait=0", None).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("unknown_device")), "{body}");
}

#[tokio::test]
async fn after_the_listener_is_killed_a_challenge_is_still_delivered() {
    let Some((a, b, settings)) = pair(&["alice"]).await else { return };
    let phone = a.enroll("alice").await;
    let listener_name = format!("nyckel {}-b listen", settings.schema.clone().unwrap());
    let pool = sqlx::PgPool::connect(&settings.url).await.unwrap();
    let pid = |pool: sqlx::PgPool, name: String| async move {
        sqlx::query_scalar::<_, i32>("SELECT pid FROM pg_stat_activity WHERE application_name = $1")
            .bind(name)
            .fetch_optional(&pool)
            .await
            .unwrap()
    };
    // A first push reaching B proves B's listener is connected.
    let (status, first) = a.push("alice", json!({})).await;
    assert_eq!(status, 200, "{first}");
    let got = tokio::time::timeout(PROMPT, phone.poll(&b, 30)).await.unwrap();
    assert_eq!(got[0].id.as_str(), first["challenge_id"].as_str().unwrap());
    let before = pid(pool.clone(), listener_name.clone()).await.expect("B has no listener connection");
    let killed: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(before).fetch_one(&pool).await.unwrap();
    assert!(killed);
    // Created while B's listener is down or reconnecting: B learns of it by re-reading.
    let (status, created) = a.push("alice", json!({})).await;
    assert_eq!(status, 200, "{created}");
    let got = tokio::time::timeout(PROMPT, phone.poll(&b, 30)).await.expect("the challenge never reached B");
    assert!(got.iter().any(|c| c.id.as_str() == created["challenge_id"].as_str().unwrap()), "{got:?}");
    let after = pid(pool.clone(), listener_name).await.expect("B did not listen again");
    assert_ne!(after, before);
}

#[tokio::test]
async fn shared_housekeeping_runs_on_one_instance_at_a_time() {
    let Some((a, b, _)) = pair(&[]).await else { return };
    // Task numbers of the test's own, so the instances' background housekeeping (which runs
    // its pass under its own number) can never hold them first.
    const TASK: i32 = 0x7000;
    let (entered_tx, entered) = tokio::sync::oneshot::channel::<()>();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let store_a = a.app.store.clone();
    let holder = tokio::spawn(async move {
        let work = Box::pin(async move {
            let _ = entered_tx.send(());
            let _ = released.await;
        });
        store_a.exclusively(TASK, work).await.unwrap()
    });
    tokio::time::timeout(PROMPT, entered).await.unwrap().unwrap();
    // While A runs it, B skips it (and another task number is not held).
    assert!(!b.app.store.exclusively(TASK, Box::pin(async {})).await.unwrap());
    assert!(b.app.store.exclusively(TASK + 1, Box::pin(async {})).await.unwrap());
    release.send(()).unwrap();
    assert!(tokio::time::timeout(PROMPT, holder).await.unwrap().unwrap());
    assert!(b.app.store.exclusively(TASK, Box::pin(async {})).await.unwrap());
}
