//! PIN change with a fresh `S`, clock-offset correction and server key rotation, against a
//! small in-process HTTP server that keeps the contract's semantics (pending `S` promoted on
//! the first MAC under it). Includes the "table attack" on two vault snapshots around a PIN
//! change: it recovers both PINs when `S` is merely re-blinded, and nothing from `change_pin`.

mod support;

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use nyckel_core::{ApprovalError, CompanionError};
use nyckel_protocol::{
    BlindedPinSecret, ChallengeDisplay, ChallengeId, DisplayContext, KeyRotation, Nonce, Pin, PinKdf, PushChallenge,
};
use support::*;

/// KDF(pin, salt) for every 4-digit PIN.
fn pads(kdf: PinKdf, salt: [u8; 16]) -> Vec<[u8; 32]> {
    let record = BlindedPinSecret { kdf, salt, blinded: [0; 32] };
    (0..10_000).map(|p| *record.unblind(&Pin::new(&format!("{p:04}")).unwrap()).unwrap().expose()).collect()
}

/// The attack on two snapshots: every pair (a, b) with KDF_old(a) ⊕ KDF_new(b) == E_old ⊕ E_new.
fn table_attack(old: &BlindedPinSecret, new: &BlindedPinSecret) -> Vec<(String, String)> {
    let target: Vec<u8> = old.blinded.iter().zip(new.blinded).map(|(a, b)| a ^ b).collect();
    let old_pads: HashMap<[u8; 32], usize> =
        pads(old.kdf, old.salt).into_iter().enumerate().map(|(p, k)| (k, p)).collect();
    let mut hits = Vec::new();
    for (b, pad_new) in pads(new.kdf, new.salt).into_iter().enumerate() {
        let mut wanted = [0u8; 32];
        for i in 0..32 {
            wanted[i] = pad_new[i] ^ target[i];
        }
        if let Some(a) = old_pads.get(&wanted) {
            hits.push((format!("{a:04}"), format!("{b:04}")));
        }
    }
    hits
}

#[tokio::test]
async fn change_pin_rotates_s_and_defeats_the_table_attack() {
    let s = setup().await;
    let before = s.companion.registration(&s.id).unwrap().pin;
    let old_secret = s.state.lock().unwrap().current.clone().unwrap();

    // Control: merely re-blinding the same S under the new PIN (what v1 did).
    let reblinded = BlindedPinSecret::blind(&old_secret, &Pin::new(NEW_PIN).unwrap(), FAST_KDF).unwrap();
    assert_eq!(table_attack(&before, &reblinded), vec![(OLD_PIN.to_owned(), NEW_PIN.to_owned())]);

    s.companion.change_pin(&s.id, OLD_PIN, NEW_PIN).await.unwrap();
    let after = s.companion.registration(&s.id).unwrap().pin;
    assert_ne!(after.salt, before.salt);
    assert_eq!(table_attack(&before, &after), vec![], "the snapshots must not single out a PIN pair");

    // The confirmation promoted the pending S: the server's S is the one the new PIN unblinds.
    let state = s.state.lock().unwrap();
    assert!(state.pending.is_none(), "confirmed");
    let server_secret = state.current.clone().unwrap();
    assert_ne!(server_secret, old_secret);
    assert_eq!(after.unblind(&Pin::new(NEW_PIN).unwrap()).unwrap(), server_secret);
}

#[tokio::test]
async fn a_wrong_old_pin_changes_nothing() {
    let s = setup().await;
    let before = s.companion.registration(&s.id).unwrap();
    let error = s.companion.change_pin(&s.id, "0000", NEW_PIN).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::WrongPin { attempts_left: 4 })), "{error}");
    assert_eq!(s.companion.registration(&s.id).unwrap(), before);
    assert!(s.state.lock().unwrap().pending.is_none());
}

#[tokio::test]
async fn a_skewed_clock_is_corrected_once_and_reported_beyond_the_window() {
    let s = setup().await;
    // The server is 5 minutes ahead: the first request is stale, the retry carries its time.
    s.state.lock().unwrap().time = NOW + 300;
    s.companion.poll_once(&s.id, 0).await.unwrap();
    assert_eq!(s.companion.clock_offset(), 300);
    s.companion.change_pin(&s.id, OLD_PIN, NEW_PIN).await.unwrap();
    // An hour off: not corrected silently.
    s.clock.0.store(NOW - 3_300, Ordering::SeqCst);
    let error = s.companion.poll_once(&s.id, 0).await.unwrap_err();
    assert!(matches!(error, CompanionError::ClockOff { seconds: 3_600 }), "{error}");
}

#[tokio::test]
async fn a_key_rotation_in_the_poll_is_followed_before_challenges_are_verified() {
    let s = setup().await;
    let old_key = s.state.lock().unwrap().key.public_key();
    {
        let mut state = s.state.lock().unwrap();
        let next = signing_key();
        let rotation = KeyRotation::sign(&state.key, &next.public_key());
        state.rotations.push(rotation);
        state.key = next;
        let device_id = state.device_id.clone();
        state.challenges.push(PushChallenge {
            id: ChallengeId::random().unwrap(),
            device_id,
            nonce: Nonce::random().unwrap(),
            created_at: NOW,
            expires_at: NOW + 120,
            display: ChallengeDisplay {
                context: DisplayContext::new("Trade portal", "Sign in"),
                transaction: vec![],
                number_match: None,
            },
            kind: Default::default(),
        });
    }
    let outcome = s.companion.poll_once(&s.id, 0).await.unwrap();
    assert_eq!(outcome.new.len(), 1, "{:?}", outcome.rejected);
    let pinned = s.companion.registration(&s.id).unwrap().server_key;
    assert_ne!(pinned, old_key);
    assert_eq!(pinned, s.state.lock().unwrap().key.public_key());

    // A rotation not signed by the pinned key is refused and pins nothing.
    {
        let mut state = s.state.lock().unwrap();
        let rogue = signing_key();
        let mut forged = KeyRotation::sign(&rogue, &signing_key().public_key());
        forged.old_key = pinned;
        state.rotations = vec![forged];
    }
    let error = s.companion.poll_once(&s.id, 0).await.unwrap_err();
    assert!(matches!(error, CompanionError::KeyRotation(_)), "{error}");
    assert_eq!(s.companion.registration(&s.id).unwrap().server_key, pinned);
}
