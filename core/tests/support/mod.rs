//! A small in-process HTTP server for the companion tests: it keeps the contract's semantics
//! for rekeys, PIN checks (pending `S` promoted on the first MAC under it), polls and answers,
//! and a phone registered with it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use nyckel_core::{Clock, Companion, CompanionSettings, DeviceKeyStore};
use nyckel_core::{MemoryKeyStore, Vault, VaultDeviceKeyStore, VaultKey};
use nyckel_protocol::wire::phone::{AnswerAccepted, PendingChallenges};
use nyckel_protocol::{
    Answer, ChallengeDisplay, ChallengeId, ChallengeState, DeviceId, DevicePublicKey, DisplayContext, EnrollQr,
    EnrollmentId, EnrollmentReceipt, EnrollmentToken, ErrorBody, ErrorCode, KeyRotation, Nonce, PinCheck,
    PinCheckOutcome, PinKdf, PinSecret, PushChallenge, PushKind, Rekey, Rekeyed, RequestAuth, ServerSigningKey,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const NOW: u64 = 1_700_000_000;
pub const OLD_PIN: &str = "2468";
pub const NEW_PIN: &str = "1357";
/// Cheap KDF so that the attack over all 10,000 PINs stays fast; the construction does not
/// depend on the cost.
pub const FAST_KDF: PinKdf = PinKdf::Pbkdf2Sha256 { iterations: 1 };

pub struct TestClock(pub AtomicU64);

impl Clock for TestClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn signing_key() -> ServerSigningKey {
    ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap()
}

/// The server's state for one device.
pub struct State {
    pub key: ServerSigningKey,
    pub rotations: Vec<KeyRotation>,
    pub device_id: DeviceId,
    pub device_key: Option<DevicePublicKey>,
    pub current: Option<PinSecret>,
    pub pending: Option<PinSecret>,
    pub time: u64,
    pub failures: u32,
    pub challenges: Vec<PushChallenge>,
    /// Every answer received, as sent, with whether its PIN MAC verified.
    pub answers: Vec<(Answer, bool)>,
    /// When set, answers are recorded and refused with `rate_limited`, so the phone keeps the
    /// challenge pending and can answer it again.
    pub hold_answers: bool,
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

pub type Shared = Arc<Mutex<State>>;

pub fn respond(status: u16, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

pub fn error(code: ErrorCode, body: ErrorBody) -> Vec<u8> {
    respond(code.status(), &serde_json::to_vec(&body).unwrap())
}

pub fn handle(state: &Shared, method: &str, target: &str, headers: &HashMap<String, String>, body: &[u8]) -> Vec<u8> {
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
        ("POST", t) if t.starts_with("/v1/device/challenges/") && t.ends_with("/answer") => {
            let answer: Answer = serde_json::from_slice(body).unwrap();
            let Some(challenge) = state.challenges.iter().find(|c| c.id == answer.challenge_id).cloned() else {
                return error(ErrorCode::NotFound, ErrorBody::new(ErrorCode::NotFound, "x"));
            };
            if answer.verify(&challenge, &device_key).is_err() {
                return error(ErrorCode::BadSignature, ErrorBody::new(ErrorCode::BadSignature, "answer"));
            }
            let verdict = |s: &PinSecret| {
                if answer.pin_is_correct(&challenge, s) {
                    PinCheckOutcome::Correct
                } else {
                    PinCheckOutcome::Wrong
                }
            };
            let right = state.check(verdict) == PinCheckOutcome::Correct;
            state.answers.push((answer, right));
            if state.hold_answers {
                return error(ErrorCode::RateLimited, ErrorBody::new(ErrorCode::RateLimited, "held"));
            }
            if !right {
                return wrong_pin(&mut state);
            }
            state.failures = 0;
            state.challenges.retain(|c| c.id != challenge.id);
            let accepted = AnswerAccepted { state: ChallengeState::Approved, receipt: None };
            respond(200, &serde_json::to_vec(&accepted).unwrap())
        }
        _ => error(ErrorCode::NotFound, ErrorBody::new(ErrorCode::NotFound, "x")),
    }
}

/// Adds a pending push challenge for the device to the server and returns its id.
pub fn push_challenge(state: &Shared) -> ChallengeId {
    let mut state = state.lock().unwrap();
    let challenge = PushChallenge {
        id: ChallengeId::random().unwrap(),
        device_id: state.device_id.clone(),
        nonce: Nonce::random().unwrap(),
        created_at: state.time,
        expires_at: state.time + 120,
        display: ChallengeDisplay {
            context: DisplayContext::new("Trade portal", "Sign in"),
            transaction: vec![],
            number_match: None,
        },
        kind: PushKind::SignIn,
    };
    let id = challenge.id.clone();
    state.challenges.push(challenge);
    id
}

pub async fn serve(state: Shared) -> String {
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

pub struct Setup {
    pub _dir: tempfile::TempDir,
    pub companion: Arc<Companion>,
    pub clock: Arc<TestClock>,
    pub state: Shared,
    pub id: String,
}

/// A phone registered (protocol-level enrollment) with the in-process server.
pub async fn setup() -> Setup {
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
        answers: vec![],
        hold_answers: false,
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
