//! `GET /v1/device/audit`: a device reads the audit events that name it, and only those; and
//! the answer it gets carries the server's signed receipt.

mod common;

use common::Harness;
use nyckel_protocol::wire::audit::{AuditKind, AuditPage};
use nyckel_protocol::wire::phone::{AnswerAccepted, ReceiptFields};
use nyckel_protocol::{Answer, ChallengeState, Decision};
use serde_json::json;

#[tokio::test]
async fn a_device_reads_only_its_own_audit_events() {
    let h = Harness::start(&["alice", "bob"]).await;
    let alice = h.enroll("alice").await;
    let bob = h.enroll("bob").await;

    let (status, _) = h.push("alice", json!({})).await;
    assert_eq!(status, 200);
    let challenge = alice.poll(&h, 0).await.remove(0);
    let (status, body) = alice.approve(&h, &challenge, None).await;
    assert_eq!(status, 200, "{body}");
    // The receipt verifies under the key the phone pinned, for exactly this answer.
    let accepted: AnswerAccepted = serde_json::from_value(body).unwrap();
    assert_eq!(accepted.state, ChallengeState::Approved);
    let receipt = accepted.receipt.expect("a receipt");
    let hash = challenge.display_hash();
    let fields = ReceiptFields::for_challenge(&challenge, &hash, Decision::Approve, ChallengeState::Approved);
    assert_eq!(receipt.verify(&alice.server_key, &fields), Ok(()));
    assert!(receipt.verify(&alice.server_key, &ReceiptFields { state: ChallengeState::Denied, ..fields }).is_err());
    assert_eq!(receipt.decided_at, h.now());

    let (status, _) = h.push("bob", json!({})).await;
    assert_eq!(status, 200);
    let bobs = bob.poll(&h, 0).await.remove(0);
    let deny = Answer::deny(&bobs, true, h.now(), &bob.key).unwrap();
    let (status, body) = bob.send_answer(&h, bobs.id.as_str(), &deny).await;
    assert_eq!(status, 200, "{body}");
    let accepted: AnswerAccepted = serde_json::from_value(body).unwrap();
    let hash = bobs.display_hash();
    let fields = ReceiptFields::for_challenge(&bobs, &hash, Decision::Fraud, ChallengeState::Fraud);
    assert_eq!(accepted.receipt.unwrap().verify(&bob.server_key, &fields), Ok(()));

    for (phone, other) in [(&alice, &bob), (&bob, &alice)] {
        let (status, body) = phone.signed(&h, "GET", "/v1/device/audit?after=0&limit=500", None).await;
        assert_eq!(status, 200, "{body}");
        let page: AuditPage = serde_json::from_value(body).unwrap();
        assert!(!page.events.is_empty());
        // Another device's events are never returned.
        assert!(page.events.iter().all(|e| e.device_id.as_ref() == Some(&phone.device_id)), "{page:?}");
        assert!(page.events.iter().all(|e| e.device_id.as_ref() != Some(&other.device_id)));
        assert!(page.events.windows(2).all(|w| w[0].seq < w[1].seq));
    }
    let (_, body) = alice.signed(&h, "GET", "/v1/device/audit", None).await;
    let page: AuditPage = serde_json::from_value(body).unwrap();
    let kinds: Vec<AuditKind> = page.events.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&AuditKind::DeviceEnrolled), "{kinds:?}");
    assert!(kinds.contains(&AuditKind::ChallengeApproved), "{kinds:?}");
    assert!(!kinds.contains(&AuditKind::FraudReported), "{kinds:?}");

    // Paging: one event at a time, following `next`.
    let mut after = 0;
    let mut paged = Vec::new();
    loop {
        let (status, body) = alice.signed(&h, "GET", &format!("/v1/device/audit?after={after}&limit=1"), None).await;
        assert_eq!(status, 200, "{body}");
        let page: AuditPage = serde_json::from_value(body).unwrap();
        paged.extend(page.events);
        match page.next {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(paged.iter().map(|e| e.seq).collect::<Vec<_>>(), page.events.iter().map(|e| e.seq).collect::<Vec<_>>());
}

#[tokio::test]
async fn device_audit_limits_and_authentication() {
    let h = Harness::start(&["alice"]).await;
    let alice = h.enroll("alice").await;
    for bad in ["limit=0", "limit=501", "limit=x", "after=-1"] {
        let (status, body) = alice.signed(&h, "GET", &format!("/v1/device/audit?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = alice.signed(&h, "GET", "/v1/device/audit?limit=500", None).await;
    assert_eq!(status, 200);
    // Unsigned: refused like every phone request.
    let resp = h.http.get(h.url("/v1/device/audit")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    // The relying party's key is no device signature either.
    let (status, _) = h.rp("GET", "/v1/device/audit", None).await;
    assert_eq!(status, 401);
}
