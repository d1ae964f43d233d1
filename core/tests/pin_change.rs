//! PIN change with a fresh `S`, clock-offset correction and server key rotation, against a
//! small in-process HTTP server that keeps the contract's semantics (pending `S` promoted on
//! the first MAC under it). Includes the "table attack" on two vault snapshots around a PIN
//! change: it recovers both PINs when `S` is merely re-blinded, and nothing from `change_pin`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nyckel_core::{ApprovalError, Clock, Companion, CompanionError, CompanionSettings, DeviceKeyStore};
use nyckel_core::{MemoryKeyStore, Vault, VaultDeviceKeyStore, VaultKey};
use nyckel_protocol::wire::phone::PendingChallenges;
use nyckel_protocol::{
    BlindedPinSecret, ChallengeDisplay, ChallengeId, DeviceId, DevicePublicKey, DisplayContext, EnrollQr, EnrollmentId,
    EnrollmentReceipt, EnrollmentToken, ErrorBody, ErrorCode, KeyRotation, Nonce, Pin, PinCheck, PinCheckOutcome,
    PinKdf, PinSecret, PushChallenge, Rekey, Rekeyed, RequestAuth, ServerSigningKey,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NOW: u64 = 1_700_000_000;
const OLD_PIN: &str = "2468";
const NEW_PIN: &str = "1357";
/// Cheap KDF so that the attack over all 10,000 PINs stays fast; the construction does not
/// depend on the cost.
const FAST_KDF: PinKdf = PinKdf::Pbkdf2Sha256 { iterations: 1 };

struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn signing_key() -> ServerSigningKey {
    ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap()
}

/// The server's state for one device.
struct State {
    key: ServerSigningKey,
    rotations: Vec<KeyRotation>,
    device_id: DeviceId,
    device_key: Option<DevicePublicKey>,
    current: Option<PinSecret>,
    pending: Option<PinSecret>,
    time: u64,
    failures: u32,
    challenges: Vec<PushChallenge>,
}

impl State {
    /// Checks a MAC against the current S, then the pending one; a match under the pending
    /// secret promotes it and destroys the old one.
    fn check(&mut self, verdict: impl Fn(&PinSecret) -> PinCheckOutcome) -> PinCheckOutcome {
        let current = self.current.as_ref().map(&verdict).unwrap_or(PinCheckOutcome::Wrong);
        if current != PinCheckOutcome::Wrong {
            return current;
        }
        if self.pending.as_ref().map(&verdict) == Some(PinCheckOutcome::Correct) {
            self.current = self.pending.take();
            return PinCheckOutcome::Correct;
        }
        PinCheckOutcome::Wrong
    }
}

type Shared = Arc<Mutex<State>>;

fn respond(status: u16, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn error(code: ErrorCode, body: ErrorBody) -> Vec<u8> {
    respond(code.status(), &serde_json::to_vec(&body).unwrap())
}

fn handle(state: &Shared, method: &str, target: &str, headers: &HashMap<String, String>, body: &[u8]) -> Vec<u8> {
    let mut state = state.lock().unwrap();
    let now = state.time;
    let auth = RequestAuth::from_headers(|name| headers.get(&name.to_ascii_lowercase()).map(String::as_str)).unwrap();
    let Some(device_key) = state.device_key else {
        return error(ErrorCode::UnknownDevice, ErrorBody::new(ErrorCode::UnknownDevice, "x"));
    };
    if let Err(e) = auth.verify(&device_key, method, target, body, now) {
        return if auth.timestamp.abs_diff(now) > nyckel_protocol::policy::REQUEST_TIMESTAMP_WINDOW {
            error(ErrorCode::StaleRequest, ErrorBody::stale(now))
        } else {
            error(ErrorCode::BadSignature, ErrorBody::new(ErrorCode::BadSignature, e.to_string()))
        };
    }
    let device_id = state.device_id.clone();
    let wrong_pin = |state: &mut State| {
        state.failures += 1;
        error(ErrorCode::WrongPin, ErrorBody::wrong_pin(5 - state.failures))
    };
    match (method, target) {
        ("POST", "/v1/device/rekey") => {
            let request: Rekey = serde_json::from_slice(body).unwrap();
            match state.check(|s| request.check(&device_id, s, now)) {
                PinCheckOutcome::Correct => {
                    let (answer, secret) = Rekeyed::issue(&device_id, &request, &state.key).unwrap();
                    state.pending = Some(secret);
                    respond(200, &serde_json::to_vec(&answer).unwrap())
                }
                PinCheckOutcome::Wrong => wrong_pin(&mut state),
                PinCheckOutcome::Stale => error(ErrorCode::StaleRequest, ErrorBody::stale(now)),
            }
        }
        ("POST", "/v1/device/pin-check") => {
            let check: PinCheck = serde_json::from_slice(body).unwrap();
            match state.check(|s| check.check(&device_id, s, now)) {
                PinCheckOutcome::Correct => respond(204, b""),
                PinCheckOutcome::Wrong => wrong_pin(&mut state),
                PinCheckOutcome::Stale => error(ErrorCode::StaleRequest, ErrorBody::stale(now)),
            }
        }
        ("GET", t) if t.starts_with("/v1/device/challenges") => {
            let challenges = state.challenges.iter().map(|c| c.clone().sign(&state.key)).collect();
            let body = PendingChallenges { challenges, server_time: now, key_rotations: state.rotations.clone() };
            respond(200, &serde_json::to_vec(&body).unwrap())
        }
        _ => error(ErrorCode::NotFound, ErrorBody::new(ErrorCode::NotFound, "x")),
    }
}

async fn serve(state: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let mut lines = head.split("\r\n");
                let mut request_line = lines.next().unwrap_or_default().split(' ');
                let (method, target) =
                    (request_line.next().unwrap_or_default(), request_line.next().unwrap_or_default());
                let headers: HashMap<String, String> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                    .collect();
                let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let reply = handle(&state, method, target, &headers, &buf[head_end..]);
                let _ = stream.write_all(&reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    url
}

struct Setup {
    _dir: tempfile::TempDir,
    companion: Arc<Companion>,
    clock: Arc<TestClock>,
    state: Shared,
    id: String,
}

/// A phone registered (protocol-level enrollment) with the in-process server.
async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryKeyStore::new(VaultKey::generate().unwrap());
    let vault = Arc::new(Vault::create(&dir.path().join("vault"), &store).unwrap());
    let keys: Arc<dyn DeviceKeyStore> = Arc::new(VaultDeviceKeyStore::new(vault.clone()));
    let clock = Arc::new(TestClock(AtomicU64::new(NOW)));
    let settings = CompanionSettings { pin_kdf: FAST_KDF, platform: "test".into() };
    let companion = Arc::new(Companion::new(vault, keys, clock.clone(), settings).unwrap());
    let state = Arc::new(Mutex::new(State {
        key: signing_key(),
        rotations: vec![],
        device_id: DeviceId::random().unwrap(),
        device_key: None,
        current: None,
        pending: None,
        time: NOW,
        failures: 0,
        challenges: vec![],
    }));
    let url = serve(state.clone()).await;
    let qr = {
        let state = state.lock().unwrap();
        EnrollQr {
            server_url: url,
            enrollment_id: EnrollmentId::random().unwrap(),
            token: EnrollmentToken::random().unwrap(),
            server_key: state.key.public_key(),
            label: None,
        }
    };
    let pending = companion.begin_enrollment(&qr.to_uri(), OLD_PIN).unwrap();
    let id = {
        let mut state = state.lock().unwrap();
        let (receipt, secret) = EnrollmentReceipt::issue(
            pending.request(),
            state.device_id.clone(),
            "alice".into(),
            "Acme AB".into(),
            "Phone".into(),
            NOW,
            &state.key,
        )
        .unwrap();
        state.device_key = Some(pending.request().device_public_key);
        state.current = Some(secret);
        companion.finish_enrollment(pending, receipt).unwrap().id
    };
    Setup { _dir: dir, companion, clock, state, id }
}

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
