//! Biometric unlock of `S` (PROTOCOL.md §4.8) against the in-process server of `support`:
//! the server sees byte-equal MACs and OTPs whether `S` came from the PIN or from `B`; enabling
//! needs the right PIN; cancel and lockout change nothing; an invalidated key or a tampered `B`
//! is a typed error that drops `B` while the PIN keeps working; a PIN change re-seals or drops
//! `B`, never leaving it with the old `S`.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nyckel_core::biometrics::{biometric_aad, biometric_alias};
use nyckel_core::{ApprovalError, BiometricError, BiometricKey, BiometricSeal, CompanionError, ServerApiError};
use nyckel_protocol::{ChallengeId, ChallengeState, ErrorCode, Nonce, OtpKind, OtpQr, PinSecret, ServerPublicKey};
use ring::aead::{Aad, LessSafeKey, Nonce as GcmNonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use support::*;

/// What the stand-in platform does on the next prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Succeed,
    Cancel,
    Lockout,
}

/// A software stand-in for the platform's biometric key: AES-256-GCM keys in memory (ring),
/// a switch for what the "prompt" does, and [`SoftBiometrics::invalidate`] for an enrollment
/// change (the platform then reports every key as permanently invalidated).
struct SoftBiometrics {
    keys: Mutex<HashMap<String, [u8; 32]>>,
    mode: Mutex<Mode>,
    invalidated: Mutex<bool>,
    prompts: AtomicUsize,
}

impl SoftBiometrics {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            keys: Mutex::new(HashMap::new()),
            mode: Mutex::new(Mode::Succeed),
            invalidated: Mutex::new(false),
            prompts: AtomicUsize::new(0),
        })
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn invalidate(&self) {
        *self.invalidated.lock().unwrap() = true;
    }

    fn prompt(&self, alias: &str) -> Result<LessSafeKey, BiometricError> {
        self.prompts.fetch_add(1, Ordering::SeqCst);
        if *self.invalidated.lock().unwrap() {
            return Err(BiometricError::KeyInvalidated);
        }
        match *self.mode.lock().unwrap() {
            Mode::Cancel => return Err(BiometricError::Cancelled),
            Mode::Lockout => return Err(BiometricError::Lockout),
            Mode::Succeed => {}
        }
        let keys = self.keys.lock().unwrap();
        let key = keys.get(alias).ok_or(BiometricError::KeyInvalidated)?;
        Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap()))
    }

    fn key_bytes(&self, alias: &str) -> [u8; 32] {
        self.keys.lock().unwrap()[alias]
    }

    fn put_key(&self, alias: &str, key: [u8; 32]) {
        self.keys.lock().unwrap().insert(alias.to_owned(), key);
    }

    fn has_key(&self, alias: &str) -> bool {
        self.keys.lock().unwrap().contains_key(alias)
    }

    /// What the platform would give back for `seal` (no prompt bookkeeping), for assertions.
    fn peek(&self, seal: &BiometricSeal, aad: &[u8]) -> Vec<u8> {
        let keys = self.keys.lock().unwrap();
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &keys[&seal.key_alias]).unwrap());
        let (nonce, body) = seal.sealed.split_at(NONCE_LEN);
        let mut body = body.to_vec();
        let nonce = GcmNonce::try_assume_unique_for_key(nonce).unwrap();
        key.open_in_place(nonce, Aad::from(aad), &mut body).unwrap().to_vec()
    }
}

impl BiometricKey for SoftBiometrics {
    fn create_key(&self, alias: String) -> Result<(), BiometricError> {
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).unwrap();
        self.keys.lock().unwrap().insert(alias, key);
        *self.invalidated.lock().unwrap() = false;
        Ok(())
    }

    fn seal(
        &self,
        alias: String,
        plaintext: Vec<u8>,
        aad: Vec<u8>,
        _reason: String,
    ) -> Result<Vec<u8>, BiometricError> {
        let key = self.prompt(&alias)?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).unwrap();
        let mut body = plaintext;
        key.seal_in_place_append_tag(GcmNonce::assume_unique_for_key(nonce), Aad::from(aad), &mut body).unwrap();
        Ok([nonce.as_slice(), &body].concat())
    }

    fn open(&self, alias: String, sealed: Vec<u8>, aad: Vec<u8>, _reason: String) -> Result<Vec<u8>, BiometricError> {
        let key = self.prompt(&alias)?;
        if sealed.len() < NONCE_LEN {
            return Err(BiometricError::Tampered);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = GcmNonce::try_assume_unique_for_key(nonce).map_err(|_| BiometricError::Tampered)?;
        let mut body = body.to_vec();
        let plain = key.open_in_place(nonce, Aad::from(aad), &mut body).map_err(|_| BiometricError::Tampered)?;
        Ok(plain.to_vec())
    }

    fn delete_key(&self, alias: String) -> Result<(), BiometricError> {
        self.keys.lock().unwrap().remove(&alias);
        Ok(())
    }
}

/// A registered phone with the stand-in biometric key given to its core.
async fn setup_with_biometrics() -> (Setup, Arc<SoftBiometrics>) {
    let s = setup().await;
    let bio = SoftBiometrics::new();
    s.companion.set_biometric_key(Some(bio.clone()));
    (s, bio)
}

/// A challenge pushed and received (verified, pending on the phone).
async fn received_challenge(s: &Setup) -> ChallengeId {
    let id = push_challenge(&s.state);
    let outcome = s.companion.poll_once(&s.id, 0).await.unwrap();
    assert!(outcome.new.iter().any(|pending| pending.challenge_id == id), "{:?}", outcome.rejected);
    id
}

fn server_secret(s: &Setup) -> PinSecret {
    s.state.lock().unwrap().current.clone().unwrap()
}

fn is_held(error: &CompanionError) -> bool {
    matches!(error, CompanionError::Server(ServerApiError::Refused { code: ErrorCode::RateLimited, .. }))
}

#[tokio::test]
async fn the_server_sees_the_same_mac_and_otp_with_biometrics_as_with_the_pin() {
    let (s, bio) = setup_with_biometrics().await;
    s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
    assert!(s.companion.biometrics_enabled(&s.id).unwrap());
    let seal = s.companion.registration(&s.id).unwrap().biometric.unwrap();
    assert_eq!(seal.key_alias, biometric_alias(&s.id));

    // The same challenge answered twice at the same moment: once with the PIN, once with B.
    // The server records both and holds them (the phone keeps the challenge pending).
    let challenge = received_challenge(&s).await;
    s.state.lock().unwrap().hold_answers = true;
    let error = s.companion.approve(&s.id, &challenge, OLD_PIN, None).await.unwrap_err();
    assert!(is_held(&error), "{error}");
    let error = s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap_err();
    assert!(is_held(&error), "{error}");
    {
        let state = s.state.lock().unwrap();
        let [(by_pin, pin_right), (by_bio, bio_right)] = state.answers.as_slice() else {
            panic!("two answers expected, got {}", state.answers.len())
        };
        assert!(pin_right & bio_right, "the server accepts both MACs");
        let pin_mac = by_pin.pin_mac.as_ref().expect("approvals carry a MAC");
        assert_eq!(serde_json::to_vec(pin_mac).unwrap(), serde_json::to_vec(by_bio.pin_mac.as_ref().unwrap()).unwrap());
        let challenge = &state.challenges[0];
        assert_eq!(by_pin.canonical_bytes(challenge), by_bio.canonical_bytes(challenge));
        // Everything but the (randomised ECDSA) device signature is byte-equal on the wire.
        let without_signature = |answer: &nyckel_protocol::Answer| {
            let mut json = serde_json::to_value(answer).unwrap();
            json.as_object_mut().unwrap().remove("signature");
            serde_json::to_vec(&json).unwrap()
        };
        assert_eq!(without_signature(by_pin), without_signature(by_bio));
    }

    // Released: the biometric approval goes through.
    s.state.lock().unwrap().hold_answers = false;
    let state = s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap();
    assert_eq!(state, ChallengeState::Approved);
    assert_eq!(s.state.lock().unwrap().failures, 0);

    // QR one-time passwords: the same 8 digits, offline.
    let server_key: ServerPublicKey = s.state.lock().unwrap().key.public_key();
    let qr = OtpQr {
        kind: OtpKind::Login,
        server_key_id: server_key.key_id(),
        challenge_id: ChallengeId::random().unwrap(),
        nonce: Nonce::random().unwrap(),
        service: "Trade portal".into(),
        action: "Sign in".into(),
        transaction: vec![],
    };
    let by_pin = s.companion.qr_otp(&qr.to_uri(), None, OLD_PIN).unwrap();
    let by_bio = s.companion.qr_otp_with_biometrics(&qr.to_uri(), None).unwrap();
    assert_eq!(by_pin, by_bio);
    assert_eq!(by_bio, nyckel_protocol::qr_otp::compute(&server_secret(&s), &qr.question()).unwrap().as_str());
    assert!(bio.prompts.load(Ordering::SeqCst) >= 3, "each use prompts");
}

#[tokio::test]
async fn enabling_needs_the_right_pin_and_stores_nothing_otherwise() {
    let (s, bio) = setup_with_biometrics().await;
    let before = s.companion.registration(&s.id).unwrap();
    let error = s.companion.enable_biometrics(&s.id, "0000").await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::WrongPin { attempts_left: 4 })), "{error}");
    assert_eq!(s.companion.registration(&s.id).unwrap(), before, "a wrong PIN is never sealed into B");
    assert!(!bio.has_key(&biometric_alias(&s.id)));
    assert_eq!(bio.prompts.load(Ordering::SeqCst), 0);

    // Cancelling the prompt while enabling stores nothing and leaves no key behind.
    bio.set_mode(Mode::Cancel);
    let error = s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap_err();
    assert!(matches!(error, CompanionError::Biometric(BiometricError::Cancelled)), "{error}");
    assert!(!s.companion.biometrics_enabled(&s.id).unwrap());
    assert!(!bio.has_key(&biometric_alias(&s.id)));

    // Without a biometric key store it is not available, and nothing is asked of the server.
    s.companion.set_biometric_key(None);
    let error = s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap_err();
    assert!(matches!(error, CompanionError::Biometric(BiometricError::NotAvailable { .. })), "{error}");
}

#[tokio::test]
async fn cancel_and_lockout_change_nothing_and_are_not_counted_by_the_server() {
    let (s, bio) = setup_with_biometrics().await;
    s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
    let challenge = received_challenge(&s).await;
    for (mode, expected) in [(Mode::Cancel, BiometricError::Cancelled), (Mode::Lockout, BiometricError::Lockout)] {
        bio.set_mode(mode);
        let error = s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap_err();
        assert!(matches!(&error, CompanionError::Biometric(e) if *e == expected), "{error}");
        assert!(s.companion.biometrics_enabled(&s.id).unwrap(), "B is kept");
    }
    {
        let state = s.state.lock().unwrap();
        assert!(state.answers.is_empty(), "nothing was sent");
        assert_eq!(state.failures, 0, "biometric failures are local");
    }
    // The challenge is still pending: the PIN answers it.
    assert_eq!(s.companion.approve(&s.id, &challenge, OLD_PIN, None).await.unwrap(), ChallengeState::Approved);
}

#[tokio::test]
async fn an_invalidated_key_drops_b_and_the_pin_still_works() {
    let (s, bio) = setup_with_biometrics().await;
    s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
    let challenge = received_challenge(&s).await;
    bio.invalidate();
    let error = s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Biometric(BiometricError::KeyInvalidated)), "{error}");
    assert!(!s.companion.biometrics_enabled(&s.id).unwrap(), "B is dropped");
    assert!(!bio.has_key(&biometric_alias(&s.id)), "and its key deleted");
    let prompts = bio.prompts.load(Ordering::SeqCst);
    let error = s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Biometric(BiometricError::NotEnabled)), "{error}");
    assert_eq!(bio.prompts.load(Ordering::SeqCst), prompts, "no prompt for a B that is gone");
    assert_eq!(s.state.lock().unwrap().failures, 0);
    assert_eq!(s.companion.approve(&s.id, &challenge, OLD_PIN, None).await.unwrap(), ChallengeState::Approved);

    // Enabling again works with a new key.
    s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
    let challenge = received_challenge(&s).await;
    assert_eq!(s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap(), ChallengeState::Approved);
}

#[tokio::test]
async fn a_tampered_or_misplaced_b_is_a_typed_error_never_a_panic() {
    let (s, bio) = setup_with_biometrics().await;
    let registration = s.companion.registration(&s.id).unwrap();
    let alias = biometric_alias(&s.id);
    let secret = server_secret(&s);
    let mut other = registration.clone();
    other.id = "another-registration".into();

    s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
    let good = s.companion.registration(&s.id).unwrap().biometric.unwrap();
    let mut flipped = good.clone();
    let last = flipped.sealed.len() - 1;
    flipped.sealed[last] ^= 1;
    let mut cases = vec![
        ("a flipped tag bit", flipped),
        ("an empty B", BiometricSeal { key_alias: alias.clone(), sealed: vec![] }),
        ("a truncated B", BiometricSeal { key_alias: alias.clone(), sealed: good.sealed[..20].to_vec() }),
    ];
    // B made for another registration (its associated data) does not open here.
    let moved = bio.seal(alias.clone(), secret.expose().to_vec(), biometric_aad(&other), String::new()).unwrap();
    cases.push(("B of another registration", BiometricSeal { key_alias: alias.clone(), sealed: moved }));
    // Authentic, but not 32 bytes: refused before it becomes a secret.
    let short = bio.seal(alias.clone(), vec![7; 31], biometric_aad(&registration), String::new()).unwrap();
    cases.push(("a 31-byte plaintext", BiometricSeal { key_alias: alias.clone(), sealed: short }));

    let challenge = received_challenge(&s).await;
    let key = bio.key_bytes(&alias);
    let qr = OtpQr {
        kind: OtpKind::Login,
        server_key_id: registration.server_key.key_id(),
        challenge_id: ChallengeId::random().unwrap(),
        nonce: Nonce::random().unwrap(),
        service: "Trade portal".into(),
        action: "Sign in".into(),
        transaction: vec![],
    };
    for (what, seal) in cases {
        // Each refusal drops B and deletes the key: both are put back for the next try.
        bio.put_key(&alias, key);
        assert!(s.companion.vault().set_registration_biometric(&s.id, &registration.pin, &seal).unwrap());
        let error = s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap_err();
        assert!(matches!(error, CompanionError::Biometric(BiometricError::Tampered)), "{what}: {error}");
        assert!(!s.companion.biometrics_enabled(&s.id).unwrap(), "{what}: B is dropped");

        bio.put_key(&alias, key);
        assert!(s.companion.vault().set_registration_biometric(&s.id, &registration.pin, &seal).unwrap());
        let error = s.companion.qr_otp_with_biometrics(&qr.to_uri(), Some(&s.id)).unwrap_err();
        assert!(matches!(error, CompanionError::Biometric(BiometricError::Tampered)), "{what}: {error}");
        assert!(!s.companion.biometrics_enabled(&s.id).unwrap(), "{what}: B is dropped");
    }
    {
        let state = s.state.lock().unwrap();
        assert!(state.answers.is_empty() && state.failures == 0, "nothing reached the server");
    }
    assert_eq!(s.companion.approve(&s.id, &challenge, OLD_PIN, None).await.unwrap(), ChallengeState::Approved);
}

#[tokio::test]
async fn a_pin_change_reseals_b_under_the_new_secret() {
    let (s, bio) = setup_with_biometrics().await;
    s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
    let old_secret = server_secret(&s);
    let before = s.companion.registration(&s.id).unwrap();
    s.companion.change_pin(&s.id, OLD_PIN, NEW_PIN).await.unwrap();
    let after = s.companion.registration(&s.id).unwrap();
    let new_secret = server_secret(&s);
    assert_ne!(new_secret, old_secret);
    let seal = after.biometric.clone().expect("B is kept");
    assert_ne!(Some(&seal), before.biometric.as_ref());
    assert_eq!(bio.peek(&seal, &biometric_aad(&after)), new_secret.expose().to_vec(), "B holds the new S");

    let challenge = received_challenge(&s).await;
    assert_eq!(s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap(), ChallengeState::Approved);
    assert!(s.state.lock().unwrap().answers.iter().all(|(_, right)| *right));
}

#[tokio::test]
async fn a_pin_change_drops_b_when_it_cannot_reseal() {
    for without_key_store in [false, true] {
        let (s, bio) = setup_with_biometrics().await;
        s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
        if without_key_store {
            s.companion.set_biometric_key(None);
        } else {
            bio.set_mode(Mode::Cancel);
        }
        s.companion.change_pin(&s.id, OLD_PIN, NEW_PIN).await.unwrap();
        assert!(s.companion.registration(&s.id).unwrap().biometric.is_none(), "no B of the old S survives");
        // The new PIN works.
        let challenge = received_challenge(&s).await;
        assert_eq!(s.companion.approve(&s.id, &challenge, NEW_PIN, None).await.unwrap(), ChallengeState::Approved);
    }
}

#[tokio::test]
async fn a_b_from_before_a_pin_change_is_never_stored_after_it() {
    let (s, _bio) = setup_with_biometrics().await;
    s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
    let before = s.companion.registration(&s.id).unwrap();
    s.companion.set_biometric_key(None);
    s.companion.change_pin(&s.id, OLD_PIN, NEW_PIN).await.unwrap();
    // An enable that recovered S from the old record and finishes late: refused, nothing written.
    let stale = before.biometric.unwrap();
    assert!(!s.companion.vault().set_registration_biometric(&s.id, &before.pin, &stale).unwrap());
    assert!(s.companion.registration(&s.id).unwrap().biometric.is_none());
}

#[tokio::test]
async fn a_b_the_server_refuses_is_dropped_after_one_counted_failure() {
    let (s, bio) = setup_with_biometrics().await;
    let registration = s.companion.registration(&s.id).unwrap();
    let alias = biometric_alias(&s.id);
    bio.create_key(alias.clone()).unwrap();
    let sealed = bio.seal(alias.clone(), vec![9; 32], biometric_aad(&registration), String::new()).unwrap();
    let wrong = BiometricSeal { key_alias: alias, sealed };
    assert!(s.companion.vault().set_registration_biometric(&s.id, &registration.pin, &wrong).unwrap());
    let challenge = received_challenge(&s).await;
    let error = s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::WrongPin { attempts_left: 4 })), "{error}");
    assert!(!s.companion.biometrics_enabled(&s.id).unwrap(), "B cannot spend a second attempt");
    assert_eq!(s.companion.approve(&s.id, &challenge, OLD_PIN, None).await.unwrap(), ChallengeState::Approved);
}

#[tokio::test]
async fn disabling_removes_b_and_the_key() {
    let (s, bio) = setup_with_biometrics().await;
    s.companion.enable_biometrics(&s.id, OLD_PIN).await.unwrap();
    let stored = s.companion.vault().registration(&s.id).unwrap().unwrap();
    assert!(stored.biometric.is_some());
    s.companion.disable_biometrics(&s.id).unwrap();
    assert!(!s.companion.biometrics_enabled(&s.id).unwrap());
    assert!(!bio.has_key(&biometric_alias(&s.id)));
    s.companion.disable_biometrics(&s.id).unwrap();
    let challenge = received_challenge(&s).await;
    let error = s.companion.approve_with_biometrics(&s.id, &challenge, None).await.unwrap_err();
    assert!(matches!(error, CompanionError::Biometric(BiometricError::NotEnabled)), "{error}");
    let error = s.companion.disable_biometrics("nope").unwrap_err();
    assert!(matches!(error, CompanionError::UnknownRegistration(_)), "{error}");
}
