//! The whole server with its records in PostgreSQL (when the tests have one: see
//! `common::postgres_url`): enrollment, a push delivered to a waiting phone, approved once,
//! and the records really in the database rather than in sled.

mod common;

use std::time::Duration;

use common::Harness;
use nyckel_protocol::display::NumberPrompt;
use serde_json::json;

#[tokio::test]
async fn enroll_push_and_approve_once_with_postgres() {
    let Some(url) = common::postgres_url() else { return };
    let h = Harness::start_on_postgres(&url, &["alice"]).await;
    let phone = h.enroll("alice").await;
    let poll = phone.poll(&h, 30);
    let create = h.push("alice", json!({"number_matching": "choose"}));
    let (challenges, (status, created)) =
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(poll, create) })
            .await
            .expect("the waiting phone was not woken");
    assert_eq!(status, 200, "{created}");
    assert_eq!(challenges.len(), 1);
    let c = &challenges[0];
    let number = created["number"].as_str().unwrap().to_owned();
    let Some(NumberPrompt::Choose { choices }) = &c.display.number_match else { panic!("no number prompt") };
    assert!(choices.contains(&number));
    let (s, body) = phone.approve(&h, c, Some(number.clone())).await;
    assert_eq!((s, body["state"].as_str()), (200, Some("approved")), "{body}");
    let (s, body) = phone.approve(&h, c, Some(number)).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("already_answered")));
    // The records and the audit log are in PostgreSQL; the data directory has no database.
    let key = phone.device_id.as_str().as_bytes();
    assert!(h.app.store.devices().get(key).await.unwrap().is_some());
    assert!(h.sled.is_none());
    assert!(!h.dir.path().join("db").exists(), "a sled database was created in the data directory");
    assert!(h.audit_kinds().await.iter().any(|k| k == "challenge_approved"), "{:?}", h.audit_kinds().await);
    let report = nyckel_server::audit::verify(h.app.store.audit(), &h.app.known_keys).await.unwrap();
    assert!(report.is_intact() && report.events >= 3, "{report:?}");
    let stored = h.app.store.challenges().get(c.id.as_str().as_bytes()).await.unwrap().unwrap();
    assert_ne!(stored.state, nyckel_protocol::ChallengeState::Pending);
}
