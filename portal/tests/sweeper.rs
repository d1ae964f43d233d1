//! The sweeper: expired sessions, codes, e-mail tokens and remembered browsers are deleted
//! from the store by `Portal::sweep`, live ones are kept (an injected clock, no server needed).

use std::sync::Arc;

use nyckel_portal::codes::Purpose;
use nyckel_portal::onetime::{Kind, INVITATION_TTL, SIGN_IN_LINK_TTL};
use nyckel_portal::remember::REMEMBER_FOR;
use nyckel_portal::sessions::IDLE_TIMEOUT;
use nyckel_portal::{ManualClock, Portal, PortalConfig, Swept};

#[tokio::test]
async fn expired_records_are_swept_and_live_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let mut config = PortalConfig::new(dir.path().join("data"), "http://127.0.0.1:9", "rp_unused");
    config.clock = clock.clone();
    let portal = Portal::open(config).unwrap();

    let (session_id, _) = portal.sessions.create().unwrap();
    portal.codes.issue("alice", &Purpose::SmsSignIn, "+46701234567").await.unwrap();
    let link =
        portal.tokens.issue(Kind::SignInLink, "alice", SIGN_IN_LINK_TTL, Some("session-digest".into()), false).unwrap();
    portal.tokens.issue(Kind::Invitation, "bob", INVITATION_TTL, None, false).unwrap();
    let browser = portal.browsers.remember("alice", Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/120")).unwrap();

    // Nothing has expired yet: nothing goes.
    assert_eq!(portal.sweep().unwrap(), Swept::default());
    assert!(portal.tokens.peek(Kind::SignInLink, &link).unwrap().is_ok());

    // Past the session timeout, the code's 5 minutes and the link's 10, not the invitation's 72 h.
    clock.advance(IDLE_TIMEOUT.max(SIGN_IN_LINK_TTL) + 1);
    assert_eq!(portal.sweep().unwrap(), Swept { sessions: 1, codes: 1, tokens: 1, browsers: 0 });
    assert!(portal.tokens.link_of_session("session-digest").unwrap().is_none());

    clock.advance(REMEMBER_FOR);
    assert_eq!(portal.sweep().unwrap(), Swept { sessions: 0, codes: 0, tokens: 1, browsers: 1 });
    assert!(!portal.browsers.recognises("alice", &browser).unwrap());
    assert!(portal.sessions.load(&session_id).unwrap().is_none());
    // A second sweep finds nothing left.
    assert_eq!(portal.sweep().unwrap(), Swept::default());
}
