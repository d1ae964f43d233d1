//! The phone side of the companion protocol without a network: registration from a signed
//! receipt, the checks on delivered challenges, QR one-time passwords, replacing the PIN
//! record, and the absence of an offline PIN oracle in the vault. The server's part is
//! played by the protocol crate's server-side helpers; the HTTP flows are in
//! tests/tests/companion_e2e.rs.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nyckel_core::approvals::ChallengeRejection;
use nyckel_core::{
    ApprovalError, ApprovalListener, Clock, Companion, CompanionError, CompanionSettings, DeviceKeyStore,
    MemoryKeyStore, PendingApproval, PollConfig, QrOtpError, RegistrationError, Vault, VaultDeviceKeyStore, VaultKey,
};
use nyckel_protocol::{
    qr_otp, ChallengeDisplay, ChallengeError, ChallengeId, DeviceId, DisplayContext, EnrollQr, EnrollmentId,
    EnrollmentReceipt, EnrollmentToken, Nonce, NumberPrompt, OtpKind, OtpQr, Pin, PinKdf, PinSecret, PushChallenge,
    ServerSignature, ServerSigningKey, SignedChallenge, TransactionLine,
};

const NOW: u64 = 1_700_000_000;
const PIN: &str = "2468";
/// Cheap KDF so that trying every PIN stays fast; the construction does not depend on the cost.
const FAST_KDF: PinKdf = PinKdf::Pbkdf2Sha256 { iterations: 1 };

struct TestClock(AtomicU64);

impl Clock for TestClock {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Phone {
    _dir: tempfile::TempDir,
    companion: Arc<Companion>,
    clock: Arc<TestClock>,
    key: VaultKey,
}

fn path_in(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("vault")
}

fn companion_at(path: &Path, key: &VaultKey, clock: Arc<TestClock>, create: bool) -> Arc<Companion> {
    let store = MemoryKeyStore::new(key.clone());
    let vault = Arc::new(if create { Vault::create(path, &store) } else { Vault::open(path, &store) }.unwrap());
    let keys: Arc<dyn DeviceKeyStore> = Arc::new(VaultDeviceKeyStore::new(vault.clone()));
    let settings = CompanionSettings { pin_kdf: FAST_KDF, platform: "test".into() };
    Arc::new(Companion::new(vault, keys, clock, settings).unwrap())
}

impl Phone {
    fn new() -> Phone {
        let dir = tempfile::tempdir().unwrap();
        let key = VaultKey::generate().unwrap();
        let clock = Arc::new(TestClock(AtomicU64::new(NOW)));
        let companion = companion_at(&dir.path().join("vault"), &key, clock.clone(), true);
        Phone { _dir: dir, companion, clock, key }
    }
}

/// A server's identity as the protocol crate lets a test play it.
struct FakeServer {
    key: ServerSigningKey,
}

impl FakeServer {
    fn new() -> FakeServer {
        FakeServer { key: ServerSigningKey::from_pkcs8(&ServerSigningKey::generate_pkcs8().unwrap()).unwrap() }
    }

    fn enroll_qr(&self) -> EnrollQr {
        EnrollQr {
            server_url: "https://id.example.org/nyckel".into(),
            enrollment_id: EnrollmentId::random().unwrap(),
            token: EnrollmentToken::random().unwrap(),
            server_key: self.key.public_key(),
            label: Some("alice @ Trade portal".into()),
        }
    }

    /// Registers `phone` the way the server would answer; returns the registration id, the
    /// device id and the secret `S` the server derived.
    fn register(&self, phone: &Phone) -> (String, DeviceId, PinSecret) {
        let qr = self.enroll_qr();
        let pending = phone.companion.begin_enrollment(&qr.to_uri(), PIN).unwrap();
        let device_id = DeviceId::random().unwrap();
        let (receipt, secret) = EnrollmentReceipt::issue(
            pending.request(),
            device_id.clone(),
            "alice".into(),
            "Acme AB".into(),
            "Work phone".into(),
            NOW,
            &self.key,
        )
        .unwrap();
        let summary = phone.companion.finish_enrollment(pending, receipt).unwrap();
        (summary.id, device_id, secret)
    }

    fn challenge(&self, device: &DeviceId, display: ChallengeDisplay) -> SignedChallenge {
        PushChallenge {
            id: ChallengeId::random().unwrap(),
            device_id: device.clone(),
            nonce: Nonce::random().unwrap(),
            created_at: NOW,
            expires_at: NOW + 120,
            display,
            kind: Default::default(),
        }
        .sign(&self.key)
    }

    fn otp_qr(&self, kind: OtpKind, lines: Vec<TransactionLine>) -> OtpQr {
        OtpQr {
            kind,
            server_key_id: self.key.public_key().key_id(),
            challenge_id: ChallengeId::random().unwrap(),
            nonce: Nonce::random().unwrap(),
            service: "Trade portal".into(),
            action: "Change payee".into(),
            transaction: lines,
        }
    }
}

/// The server's receipt for `request` (organisation "Acme AB"), without the secret.
fn receipt(
    request: &nyckel_protocol::CompleteEnrollment,
    device_id: DeviceId,
    user: String,
    device_name: String,
    now: u64,
    key: &ServerSigningKey,
) -> EnrollmentReceipt {
    EnrollmentReceipt::issue(request, device_id, user, "Acme AB".into(), device_name, now, key).unwrap().0
}

/// Whether the server would accept `otp` for `qr` under `secret`.
fn otp_right(secret: &PinSecret, qr: &OtpQr, otp: &str) -> bool {
    let otp = nyckel_protocol::Otp::parse(otp).unwrap();
    qr_otp::verify(secret, qr.kind, &qr.challenge_id, &qr.nonce, &qr.display().hash(), &otp)
        == nyckel_protocol::OtpVerdict::Right
}

fn display() -> ChallengeDisplay {
    ChallengeDisplay {
        context: DisplayContext {
            service: "Trade portal".into(),
            action: "Change payee".into(),
            browser: Some("Firefox on Linux".into()),
            ip: Some("192.0.2.7".into()),
            place: Some("Stockholm, SE".into()),
            time: Some(NOW - 5),
        },
        transaction: vec![TransactionLine::new("New foreign account", "BIC REVOLT21, IBAN LT60 3250 0123 4567")],
        number_match: Some(NumberPrompt::Choose { choices: vec!["17".into(), "42".into(), "85".into()] }),
    }
}

fn rejection(phone: &Phone, registration: &str, challenge: SignedChallenge) -> ChallengeRejection {
    let id = challenge.challenge.id.clone();
    let outcome = phone.companion.accept_challenges(registration, vec![challenge]).unwrap();
    assert!(outcome.new.is_empty(), "a bad challenge was accepted");
    let pending = phone.companion.pending_approvals().unwrap();
    assert!(pending.iter().all(|shown| shown.challenge_id != id), "a bad challenge is pending");
    outcome.rejected.into_iter().next().expect("one rejection")
}

#[test]
fn registration_pins_the_server_key_and_stores_only_the_blinded_secret() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (id, device_id, _) = server.register(&phone);
    let registrations = phone.companion.registrations().unwrap();
    assert_eq!(registrations.len(), 1);
    let summary = &registrations[0];
    assert_eq!(
        (summary.id.as_str(), summary.user.as_str(), summary.device_name.as_str()),
        (id.as_str(), "alice", "Work phone")
    );
    assert_eq!(summary.device_id, device_id);
    // The name is built from signed facts; the unsigned QR label is only secondary.
    assert_eq!(summary.name, "alice @ Acme AB (id.example.org)");
    assert_eq!(summary.label.as_deref(), Some("alice @ Trade portal"));
    assert_eq!((summary.organisation.as_str(), summary.server_host.as_str()), ("Acme AB", "id.example.org"));
    let device_key = nyckel_protocol::DevicePublicKey::from_sec1(
        &phone.companion.key_store().public_key(phone.companion.registration(&id).unwrap().key_alias).unwrap(),
    )
    .unwrap();
    assert_eq!(summary.device_fingerprint, nyckel_protocol::device_fingerprint(&device_key));
    assert_eq!(summary.server_key_id, server.key.public_key().key_id().to_string());
    let stored = phone.companion.registration(&id).unwrap();
    assert_eq!(stored.server_key, server.key.public_key());
    // PROTOCOL.md §4.4 rule 1: the PIN record is exactly {kdf, salt, blinded}.
    let pin_record = serde_json::to_value(&stored.pin).unwrap();
    let mut fields: Vec<&str> = pin_record.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["blinded", "kdf", "salt"]);
    // The device key exists, and the registration survives reopening the vault.
    assert!(phone.companion.key_store().public_key(stored.key_alias.clone()).is_ok());
    drop(phone.companion);
    let reopened = companion_at(&phone._dir.path().join("vault"), &phone.key, phone.clock.clone(), false);
    assert_eq!(reopened.registration(&id).unwrap(), stored);
}

#[test]
fn a_receipt_not_signed_by_the_pinned_key_stores_nothing() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let impostor = FakeServer::new();
    let pending = phone.companion.begin_enrollment(&server.enroll_qr().to_uri(), PIN).unwrap();
    let forged =
        receipt(pending.request(), DeviceId::random().unwrap(), "alice".into(), "Phone".into(), NOW, &impostor.key);
    let error = phone.companion.finish_enrollment(pending, forged).unwrap_err();
    assert!(matches!(error, CompanionError::Registration(RegistrationError::Receipt(_))), "{error}");
    assert!(phone.companion.registrations().unwrap().is_empty());
    // The receipt for another enrollment (same key) is refused too.
    let qr = server.enroll_qr();
    let pending = phone.companion.begin_enrollment(&qr.to_uri(), PIN).unwrap();
    let mut other = pending.request().clone();
    other.enrollment_id = EnrollmentId::random().unwrap();
    let misdirected = receipt(&other, DeviceId::random().unwrap(), "alice".into(), "Phone".into(), NOW, &server.key);
    assert!(phone.companion.finish_enrollment(pending, misdirected).is_err());
    assert!(phone.companion.registrations().unwrap().is_empty());
}

#[test]
fn bad_payloads_and_pins_are_refused_before_any_key_is_made() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let uri = server.enroll_qr().to_uri();
    for pin in ["123", "12a4", "", "12345678901234567"] {
        let error = phone.companion.begin_enrollment(&uri, pin).unwrap_err();
        assert!(matches!(error, CompanionError::Pin(_)), "{pin:?}: {error}");
    }
    let login = server.otp_qr(OtpKind::Login, Vec::new()).to_uri();
    let error = phone.companion.begin_enrollment(&login, PIN).unwrap_err();
    assert!(matches!(error, CompanionError::Registration(RegistrationError::NotEnrollment)), "{error}");
    assert!(phone.companion.begin_enrollment("otpauth://totp/x?secret=AAAA", PIN).is_err());
}

#[test]
fn a_valid_challenge_is_shown_once_with_exactly_its_display() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (id, device, _) = server.register(&phone);
    let signed = server.challenge(&device, display());
    let outcome = phone.companion.accept_challenges(&id, vec![signed.clone()]).unwrap();
    assert!(outcome.rejected.is_empty(), "{:?}", outcome.rejected);
    assert_eq!(outcome.new.len(), 1);
    let shown = &outcome.new[0];
    assert_eq!(shown.display, display());
    assert_eq!(shown.challenge_id, signed.challenge.id);
    assert_eq!(phone.companion.pending_approvals().unwrap(), outcome.new);

    // Delivered again (a replay, or the server re-sending): refused, never shown twice.
    assert_eq!(
        rejection_of_second(&phone, &id, signed.clone()),
        ChallengeRejection::AlreadySeen { id: signed.challenge.id.clone() }
    );
    // After a restart an unanswered challenge is offered again (the server still holds it
    // open), once; an answered one never is: the seen list is on disk.
    drop(phone.companion);
    let reopened = companion_at(&path_in(&phone._dir), &phone.key, phone.clock.clone(), false);
    assert_eq!(reopened.accept_challenges(&id, vec![signed.clone()]).unwrap().new.len(), 1);
    assert!(reopened.accept_challenges(&id, vec![signed.clone()]).unwrap().new.is_empty());
    reopened.vault().mark_challenge_answered(&id, &signed.challenge.id).unwrap();
    drop(reopened);
    let reopened = companion_at(&path_in(&phone._dir), &phone.key, phone.clock.clone(), false);
    let outcome = reopened.accept_challenges(&id, vec![signed.clone()]).unwrap();
    assert!(outcome.new.is_empty());
    assert_eq!(outcome.rejected, vec![ChallengeRejection::AlreadySeen { id: signed.challenge.id }]);
}

fn rejection_of_second(phone: &Phone, registration: &str, challenge: SignedChallenge) -> ChallengeRejection {
    let outcome = phone.companion.accept_challenges(registration, vec![challenge]).unwrap();
    assert!(outcome.new.is_empty());
    outcome.rejected.into_iter().next().unwrap()
}

#[test]
fn a_challenge_altered_in_any_field_is_refused() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (id, device, _) = server.register(&phone);
    type Alter = fn(&mut PushChallenge);
    let alterations: Vec<(&str, Alter)> = vec![
        ("id", |c| c.id = ChallengeId::new("someone-else").unwrap()),
        ("nonce", |c| c.nonce.0[0] ^= 1),
        ("created_at", |c| c.created_at -= 1),
        ("expires_at", |c| c.expires_at += 1),
        ("service", |c| c.display.context.service.push('!')),
        ("action", |c| c.display.context.action = "Sign in".into()),
        ("browser", |c| c.display.context.browser = None),
        ("ip", |c| c.display.context.ip = Some("198.51.100.1".into())),
        ("place", |c| c.display.context.place = Some("Oslo, NO".into())),
        ("time", |c| c.display.context.time = Some(NOW)),
        ("transaction value", |c| c.display.transaction[0].value = "IBAN SE00 0000".into()),
        ("transaction key", |c| c.display.transaction[0].key = "Old account".into()),
        ("extra line", |c| c.display.transaction.push(TransactionLine::new("Amount", "1 EUR"))),
        ("dropped line", |c| c.display.transaction.clear()),
        ("number choices", |c| {
            c.display.number_match = Some(NumberPrompt::Choose { choices: vec!["11".into(), "22".into()] })
        }),
        ("number mode", |c| c.display.number_match = Some(NumberPrompt::Type { digits: 2 })),
        ("no number", |c| c.display.number_match = None),
    ];
    for (field, alter) in alterations {
        let mut signed = server.challenge(&device, display());
        alter(&mut signed.challenge);
        let refused = rejection(&phone, &id, signed);
        assert!(
            matches!(refused, ChallengeRejection::Invalid(ChallengeError::BadSignature { .. })),
            "{field}: {refused:?}"
        );
    }
    // The device id, re-addressed by an attacker without the key.
    let mut signed = server.challenge(&device, display());
    signed.challenge.device_id = DeviceId::random().unwrap();
    assert!(matches!(rejection(&phone, &id, signed), ChallengeRejection::Invalid(ChallengeError::BadSignature { .. })));
}

#[test]
fn unsigned_foreign_expired_early_and_misaddressed_challenges_are_refused() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (id, device, _) = server.register(&phone);

    let mut unsigned = server.challenge(&device, display());
    unsigned.signature = ServerSignature([0; 64]);
    assert!(matches!(
        rejection(&phone, &id, unsigned),
        ChallengeRejection::Invalid(ChallengeError::BadSignature { .. })
    ));

    let foreign = FakeServer::new().challenge(&device, display());
    assert!(matches!(
        rejection(&phone, &id, foreign),
        ChallengeRejection::Invalid(ChallengeError::BadSignature { .. })
    ));

    // Properly signed, but for another device of the same server.
    let elsewhere = server.challenge(&DeviceId::random().unwrap(), display());
    assert!(matches!(
        rejection(&phone, &id, elsewhere),
        ChallengeRejection::Invalid(ChallengeError::WrongDevice { .. })
    ));

    // Expiry with the 30 s skew allowance: accepted up to expires_at + 29, refused from + 30.
    let late = server.challenge(&device, display());
    phone.clock.0.store(NOW + 150, Ordering::SeqCst);
    assert!(matches!(
        rejection(&phone, &id, late.clone()),
        ChallengeRejection::Invalid(ChallengeError::Expired { .. })
    ));
    phone.clock.0.store(NOW + 149, Ordering::SeqCst);
    assert_eq!(phone.companion.accept_challenges(&id, vec![late]).unwrap().new.len(), 1);

    // Created further in the future than the skew allows.
    phone.clock.0.store(NOW - 31, Ordering::SeqCst);
    let early = server.challenge(&device, display());
    assert!(matches!(rejection(&phone, &id, early), ChallengeRejection::Invalid(ChallengeError::NotYetValid { .. })));

    // Undisplayable text, even properly signed.
    phone.clock.0.store(NOW, Ordering::SeqCst);
    let mut tricky = display();
    tricky.transaction[0].value = "IBAN \u{202E}1234".into();
    let bidi = server.challenge(&device, tricky);
    assert!(matches!(rejection(&phone, &id, bidi), ChallengeRejection::Invalid(ChallengeError::Display { .. })));
}

#[test]
fn answering_needs_a_verified_pending_challenge() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (id, device, _) = server.register(&phone);
    let never_shown = server.challenge(&device, display()).challenge.id;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let error = runtime.block_on(phone.companion.approve(&id, &never_shown, PIN, Some("42"))).unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::UnknownChallenge { .. })), "{error}");
    let error = runtime.block_on(phone.companion.deny(&id, &never_shown)).unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::UnknownChallenge { .. })), "{error}");
    let error = runtime.block_on(phone.companion.approve("nope", &never_shown, PIN, None)).unwrap_err();
    assert!(matches!(error, CompanionError::Approval(ApprovalError::UnknownChallenge { .. })), "{error}");
}

#[test]
fn qr_otp_is_what_the_server_verifies_and_bound_to_what_is_shown() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (id, _, secret) = server.register(&phone);
    let lines = vec![TransactionLine::new("Amount", "1 250,00 EUR"), TransactionLine::new("To", "IBAN LT60 3250")];
    let qr = server.otp_qr(OtpKind::Transaction, lines.clone());

    let prompt = phone.companion.read_otp_code(&qr.to_uri()).unwrap();
    assert_eq!(prompt.display.transaction, lines);
    assert_eq!(prompt.display.context.service, "Trade portal");
    assert_eq!(prompt.registrations.len(), 1);
    assert_eq!(prompt.registrations[0].id, id);

    let otp = phone.companion.qr_otp(&qr.to_uri(), None, PIN).unwrap();
    assert_eq!(otp.len(), 8);
    assert!(otp_right(&secret, &qr, &otp));

    // Another line, or the same code relabelled as a login: the server's question differs.
    let mut altered = qr.clone();
    altered.transaction[1].value = "IBAN SE00 6666".into();
    assert!(!otp_right(&secret, &altered, &otp));
    let altered_otp = phone.companion.qr_otp(&altered.to_uri(), None, PIN).unwrap();
    assert_ne!(altered_otp, otp);
    assert!(!otp_right(&secret, &qr, &altered_otp));

    // A wrong PIN gives a well-formed, wrong OTP — no error the phone could learn from.
    let wrong = phone.companion.qr_otp(&qr.to_uri(), Some(&id), "1357").unwrap();
    assert_eq!(wrong.len(), 8);
    assert!(wrong.bytes().all(|b| b.is_ascii_digit()));
    assert!(!otp_right(&secret, &qr, &wrong));

    // A code from a server the phone never registered with.
    let stranger = FakeServer::new().otp_qr(OtpKind::Login, Vec::new());
    let error = phone.companion.qr_otp(&stranger.to_uri(), None, PIN).unwrap_err();
    assert!(matches!(error, CompanionError::QrOtp(QrOtpError::NoRegistration { .. })), "{error}");
    let error = phone.companion.qr_otp(&stranger.to_uri(), Some(&id), PIN).unwrap_err();
    assert!(matches!(error, CompanionError::QrOtp(QrOtpError::WrongRegistration(_))), "{error}");
}

#[test]
fn two_accounts_on_one_server_are_separate_registrations() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (first, _, first_secret) = server.register(&phone);
    let (second, second_device, second_secret) = server.register(&phone);
    assert_ne!(first, second);
    assert_ne!(first_secret.expose(), second_secret.expose());
    let a = phone.companion.registration(&first).unwrap();
    let b = phone.companion.registration(&second).unwrap();
    assert_ne!(a.key_alias, b.key_alias);
    assert_ne!(
        phone.companion.key_store().public_key(a.key_alias).unwrap(),
        phone.companion.key_store().public_key(b.key_alias).unwrap()
    );

    let qr = server.otp_qr(OtpKind::Login, Vec::new());
    let error = phone.companion.qr_otp(&qr.to_uri(), None, PIN).unwrap_err();
    assert!(matches!(error, CompanionError::QrOtp(QrOtpError::Ambiguous { ref candidates }) if candidates.len() == 2));
    let otp = phone.companion.qr_otp(&qr.to_uri(), Some(&second), PIN).unwrap();
    assert!(otp_right(&second_secret, &qr, &otp));

    // A challenge for the second account's device is refused by the first registration.
    let signed = server.challenge(&second_device, display());
    assert!(matches!(
        rejection(&phone, &first, signed.clone()),
        ChallengeRejection::Invalid(ChallengeError::WrongDevice { .. })
    ));
    assert_eq!(phone.companion.accept_challenges(&second, vec![signed]).unwrap().new[0].registration_id, second);

    phone.companion.forget_registration(&first).unwrap();
    assert_eq!(phone.companion.registrations().unwrap().len(), 1);
    assert!(phone.companion.key_store().public_key(a_alias(&phone, &first)).is_err());
}

#[test]
fn a_pin_record_is_replaced_whole_and_keeps_the_rest_of_the_registration() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (id, device_id, secret) = server.register(&phone);
    // A challenge recorded as seen: replacing the PIN record must not forget it (replay protection).
    let signed = server.challenge(&device_id, display());
    assert_eq!(phone.companion.accept_challenges(&id, vec![signed]).unwrap().new.len(), 1);
    let before = phone.companion.registration(&id).unwrap();
    assert_eq!(before.seen.len(), 1);

    let new_pin = Pin::new("1357").unwrap();
    let reblinded = nyckel_protocol::BlindedPinSecret::blind(&secret, &new_pin, FAST_KDF).unwrap();
    assert!(phone.companion.vault().replace_registration_pin(&id, &reblinded, None).unwrap());
    let after = phone.companion.registration(&id).unwrap();
    assert_eq!(after.pin, reblinded);
    assert_eq!(after.pin.unblind(&new_pin).unwrap(), secret);
    assert_eq!(nyckel_core::Registration { pin: before.pin.clone(), ..after.clone() }, before);
    // Reopened from disk: the new record, whole.
    drop(phone.companion);
    let reopened = companion_at(&phone._dir.path().join("vault"), &phone.key, phone.clock.clone(), false);
    assert_eq!(reopened.registration(&id).unwrap(), after);

    // A registration that is gone (forgotten during the server's check) is not brought back.
    assert!(!reopened.vault().replace_registration_pin("no-such-registration", &reblinded, None).unwrap());
    assert_eq!(reopened.registrations().unwrap().len(), 1);
}

fn a_alias(_phone: &Phone, id: &str) -> String {
    format!("nyckel-device-{id}")
}

#[test]
fn every_pin_tried_against_a_copied_vault_gives_a_plausible_secret() {
    let phone = Phone::new();
    let server = FakeServer::new();
    let (id, _, secret) = server.register(&phone);
    let qr = server.otp_qr(OtpKind::Login, Vec::new());

    // The attacker's copy of the phone's storage, opened with the vault key (the strongest
    // case: the platform key store's protection of the vault is assumed broken).
    drop(phone.companion);
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&path_in(&phone._dir), &copy.path().join("vault"));
    let stolen = companion_at(&copy.path().join("vault"), &phone.key, phone.clock.clone(), false);
    let registration = stolen.registration(&id).unwrap();

    let mut candidates = HashSet::new();
    let mut right = 0;
    for guess in 0..10_000u32 {
        let pin = Pin::new(&format!("{guess:04}")).unwrap();
        // No guess fails: every PIN unblinds to 32 bytes and yields a well-formed OTP.
        let candidate = registration.pin.unblind(&pin).expect("no PIN can be refused offline");
        assert_eq!(candidate.expose().len(), 32);
        if candidate.expose() == secret.expose() {
            right += 1;
        }
        candidates.insert(*candidate.expose());
    }
    // All candidates differ, and exactly one is the secret; nothing stored singles it out.
    assert_eq!(candidates.len(), 10_000);
    assert_eq!(right, 1);
    for guess in ["0000", "2468", "9999", "1357"] {
        let otp = stolen.qr_otp(&qr.to_uri(), Some(&id), guess).unwrap();
        assert!(otp.len() == 8 && otp.bytes().all(|b| b.is_ascii_digit()), "{guess}: {otp}");
    }
    // The only PIN-related material in the record is {kdf, salt, blinded}: nothing to check a candidate against.
    let record = serde_json::to_value(&registration).unwrap();
    let mut fields: Vec<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "created_at",
            "device_fingerprint",
            "device_id",
            "device_name",
            "id",
            "key_alias",
            "label",
            "organisation",
            "pin",
            "seen",
            "server_host",
            "server_key",
            "server_url",
            "user"
        ]
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

struct Recorder {
    challenges: Mutex<Vec<PendingApproval>>,
    errors: Mutex<Vec<String>>,
    notify: tokio::sync::Notify,
}

impl ApprovalListener for Recorder {
    fn on_challenge(&self, challenge: PendingApproval) {
        self.challenges.lock().unwrap().push(challenge);
        self.notify.notify_one();
    }

    fn on_error(&self, _registration_id: Option<String>, error: CompanionError) {
        self.errors.lock().unwrap().push(error.to_string());
        self.notify.notify_one();
    }

    fn on_provider_request(&self, _request: nyckel_core::ProviderRequest) {}
}

#[tokio::test]
async fn the_poller_reports_network_errors_and_stops_when_its_handle_is_dropped() {
    let phone = Phone::new();
    // A registration whose server does not exist: a port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let server = FakeServer::new();
    let mut qr = server.enroll_qr();
    qr.server_url = format!("http://127.0.0.1:{port}");
    let pending = phone.companion.begin_enrollment(&qr.to_uri(), PIN).unwrap();
    let receipt =
        receipt(pending.request(), DeviceId::random().unwrap(), "alice".into(), "Phone".into(), NOW, &server.key);
    phone.companion.finish_enrollment(pending, receipt).unwrap();

    let recorder =
        Arc::new(Recorder { challenges: Mutex::default(), errors: Mutex::default(), notify: Default::default() });
    let config = PollConfig {
        wait: Duration::from_secs(1),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        min_interval: Duration::from_millis(10),
        provider_interval: Duration::from_millis(10),
    };
    let handle = phone.companion.start_polling(recorder.clone(), config).unwrap();
    // Retries with backoff: several errors arrive, each a network error.
    while recorder.errors.lock().unwrap().len() < 3 {
        tokio::time::timeout(Duration::from_secs(10), recorder.notify.notified()).await.expect("no retry");
    }
    assert!(recorder.errors.lock().unwrap().iter().all(|e| e.contains("cannot reach")), "{:?}", recorder.errors);
    assert!(handle.is_running());
    handle.shutdown().await;
    let count = recorder.errors.lock().unwrap().len();
    tokio::task::yield_now().await;
    assert_eq!(recorder.errors.lock().unwrap().len(), count, "the poller went on after shutdown");
    assert!(recorder.challenges.lock().unwrap().is_empty());
}
