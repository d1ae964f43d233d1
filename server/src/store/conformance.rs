//! The contract of [`Store`], checked against every backend: sled always, PostgreSQL when
//! `NYCKEL_POSTGRES_URL` names a server (each test in a schema of its own); with
//! `NYCKEL_POSTGRES_REQUIRED=1` a missing URL fails the tests instead of skipping PostgreSQL.

use std::sync::Arc;

use nyckel_protocol::{DeviceId, DevicePublicKey, EnrollmentId};

use super::{Change, PgSettings, PgStore, SledStore, Store, StoreError};
use crate::model::{DeviceRecord, EnrollmentRecord, Tenant};
use crate::nonces::{NonceCheck, MAX_NONCES_PER_DEVICE, NONCE_MEMORY};

/// One backend under test.
struct Fixture {
    name: &'static str,
    store: Arc<dyn Store>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

/// Direct access below the store, to plant bytes that do not decode.
enum Raw {
    Sled(Box<SledStore>),
    Pg(PgStore),
}

impl Fixture {
    async fn write_raw_device(&self, key: &[u8], bytes: &[u8]) {
        match &self.raw {
            Raw::Sled(sled) => {
                sled.devices.tree().insert(key, bytes).unwrap();
            }
            Raw::Pg(pg) => {
                sqlx::query("INSERT INTO devices (key, value) VALUES ($1, $2)")
                    .bind(key)
                    .bind(bytes)
                    .execute(pg.pool())
                    .await
                    .unwrap();
            }
        }
    }
}

/// The PostgreSQL server the tests use, if any.
pub(crate) fn postgres_url() -> Option<String> {
    match std::env::var("NYCKEL_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("NYCKEL_POSTGRES_REQUIRED").as_deref() != Ok("1"),
                "NYCKEL_POSTGRES_REQUIRED=1 but NYCKEL_POSTGRES_URL is not set"
            );
            None
        }
    }
}

/// A fresh store of every available backend.
async fn fixtures() -> Vec<Fixture> {
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    let mut all =
        vec![Fixture { name: "sled", store: Arc::new(sled.clone()), raw: Raw::Sled(Box::new(sled)), _dir: Some(dir) }];
    if let Some(url) = postgres_url() {
        let pg = PgStore::open(&PgSettings::fresh_schema(&url).await.unwrap()).await.unwrap();
        all.push(Fixture { name: "postgres", store: Arc::new(pg.clone()), raw: Raw::Pg(pg), _dir: None });
    }
    all
}

fn tenant(name: &str, created_at: u64) -> Tenant {
    Tenant { name: name.into(), display_name: name.to_uppercase(), created_at }
}

fn device(id: &DeviceId) -> DeviceRecord {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    DeviceRecord {
        device_id: id.clone(),
        tenant: "acme".into(),
        user: "alice".into(),
        name: "phone".into(),
        platform: "test".into(),
        public_key: DevicePublicKey::from_sec1(pair.public_key().as_ref()).unwrap(),
        sealed_secret: "sealed".into(),
        pending_secret: None,
        created_at: 1,
        last_used_at: 1,
        pin_failures: 0,
        blocked: false,
        inactive_noted: false,
    }
}

fn enrollment() -> EnrollmentRecord {
    EnrollmentRecord {
        id: EnrollmentId::random().unwrap(),
        tenant: "acme".into(),
        rp: "portal".into(),
        user: "alice".into(),
        device_name: "phone".into(),
        token: None,
        created_at: 1,
        expires_at: 100,
        device_id: None,
        platform: None,
        fingerprint: None,
        token_failures: 0,
        cancelled: false,
        origin_device: None,
        approval: None,
        receipt: None,
    }
}

/// Reads, writes, create-once, removal, and `all` in byte order of the keys (a prefix before
/// its extensions, NUL before letters), as the scoped keys of users rely on.
#[tokio::test]
async fn records_read_write_and_list_in_key_order() {
    for f in fixtures().await {
        let t = f.store.tenants();
        assert!(t.get(b"b").await.unwrap().is_none(), "{}", f.name);
        for (key, at) in [(&b"b"[..], 1), (b"a\0z", 2), (b"a", 3), (b"ab", 4)] {
            t.put(key, &tenant("x", at)).await.unwrap();
        }
        let order: Vec<u64> = t.all().await.unwrap().iter().map(|t| t.created_at).collect();
        assert_eq!(order, [3, 2, 4, 1], "{}", f.name);
        // put overwrites; insert_new does not.
        t.put(b"b", &tenant("y", 10)).await.unwrap();
        assert!(!t.insert_new(b"b", &tenant("z", 11)).await.unwrap(), "{}", f.name);
        assert_eq!(t.get(b"b").await.unwrap().unwrap().created_at, 10, "{}", f.name);
        assert!(t.insert_new(b"c", &tenant("z", 12)).await.unwrap(), "{}", f.name);
        t.remove(b"a").await.unwrap();
        t.remove(b"missing").await.unwrap();
        assert!(t.get(b"a").await.unwrap().is_none(), "{}", f.name);
        assert_eq!(t.all().await.unwrap().len(), 4, "{}", f.name);
        // An update that keeps writes nothing; one on a missing key never runs.
        let mut keep = |r: &mut Tenant| {
            r.created_at = 99;
            Change::Keep
        };
        assert_eq!(t.update(b"b", &mut keep).await.unwrap().unwrap().created_at, 99, "{}", f.name);
        assert_eq!(t.get(b"b").await.unwrap().unwrap().created_at, 10, "{}", f.name);
        let mut ran = false;
        let mut run = |_: &mut Tenant| {
            ran = true;
            Change::Write
        };
        assert!(t.update(b"none", &mut run).await.unwrap().is_none(), "{}", f.name);
        assert!(!ran, "{}", f.name);
        f.store.flush().await.unwrap();
    }
}

/// Concurrent read-modify-writes through `update` lose nothing (a plain read then write would
/// drop increments here). Four tasks on four worker threads per backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_are_not_lost() {
    for f in fixtures().await {
        f.store.tenants().put(b"acme", &tenant("acme", 0)).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (store, barrier) = (f.store.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    for _ in 0..150 {
                        let mut bump = |t: &mut Tenant| {
                            t.created_at += 1;
                            Change::Write
                        };
                        store.tenants().update(b"acme", &mut bump).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(f.store.tenants().get(b"acme").await.unwrap().unwrap().created_at, 600, "{}", f.name);
    }
}

/// An enrollment completes once, also when eight phones complete it at the same moment: one
/// completion wins, and only its device exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_enrollment_completes_once() {
    for f in fixtures().await {
        let pending = enrollment();
        f.store.enrollments().put(pending.id.as_str().as_bytes(), &pending).await.unwrap();
        let phones: Vec<DeviceId> = (0..8).map(|_| DeviceId::random().unwrap()).collect();
        let barrier = Arc::new(tokio::sync::Barrier::new(phones.len()));
        let tasks: Vec<_> = phones
            .iter()
            .map(|id| {
                let (store, barrier, id) = (f.store.clone(), barrier.clone(), id.clone());
                let done = EnrollmentRecord { device_id: Some(id.clone()), ..pending.clone() };
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.complete_enrollment(&done, &device(&id)).await.unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for (task, id) in tasks.into_iter().zip(&phones) {
            if task.await.unwrap() {
                winners.push(id.clone());
            }
        }
        assert_eq!(winners.len(), 1, "{}", f.name);
        let stored = f.store.enrollments().get(pending.id.as_str().as_bytes()).await.unwrap().unwrap();
        assert_eq!(stored.device_id.as_ref(), Some(&winners[0]), "{}", f.name);
        for id in &phones {
            let exists = f.store.devices().get(id.as_str().as_bytes()).await.unwrap().is_some();
            assert_eq!(exists, *id == winners[0], "{}", f.name);
        }
    }
}

/// A nonce is accepted once (also among eight simultaneous offers), a device is refused past
/// its limit, and a nonce is forgotten only when too old to matter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nonces_are_accepted_once_and_bounded() {
    for f in fixtures().await {
        let device = DeviceId::random().unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (store, barrier, device) = (f.store.clone(), barrier.clone(), device.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.nonces().offer(&device, [1; 16], 100).await.unwrap()
                })
            })
            .collect();
        let mut fresh = 0;
        for task in tasks {
            if task.await.unwrap() == NonceCheck::Fresh {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1, "{}", f.name);
        assert_eq!(f.store.nonces().offer(&device, [1; 16], 101).await.unwrap(), NonceCheck::Replayed, "{}", f.name);
        // Another device is not affected.
        let other = DeviceId::random().unwrap();
        assert_eq!(f.store.nonces().offer(&other, [1; 16], 101).await.unwrap(), NonceCheck::Fresh, "{}", f.name);
        for i in 1..MAX_NONCES_PER_DEVICE {
            let mut n = [0u8; 16];
            n[..8].copy_from_slice(&(i as u64).to_be_bytes());
            n[15] = 9;
            assert_eq!(f.store.nonces().offer(&device, n, 102).await.unwrap(), NonceCheck::Fresh, "{}", f.name);
        }
        assert_eq!(f.store.nonces().offer(&device, [2; 16], 103).await.unwrap(), NonceCheck::Full, "{}", f.name);
        // Still remembered one second before the window ends, forgotten at its end.
        f.store.nonces().prune(100 + NONCE_MEMORY - 1).await.unwrap();
        let replay = f.store.nonces().offer(&device, [1; 16], 100 + NONCE_MEMORY - 1).await.unwrap();
        assert_eq!(replay, NonceCheck::Replayed, "{}", f.name);
        f.store.nonces().prune(103 + NONCE_MEMORY).await.unwrap();
        let again = f.store.nonces().offer(&device, [1; 16], 103 + NONCE_MEMORY).await.unwrap();
        assert_eq!(again, NonceCheck::Fresh, "{}", f.name);
        assert_eq!(f.store.nonces().offer(&device, [2; 16], 103 + NONCE_MEMORY).await.unwrap(), NonceCheck::Fresh);
    }
}

/// A stored record that does not decode is a typed error from every read, never a panic or a
/// silently skipped record, and an update does not overwrite it.
#[tokio::test]
async fn a_corrupt_record_is_a_typed_error() {
    for f in fixtures().await {
        f.write_raw_device(b"broken", b"{\"not\": \"a device\"}").await;
        let corrupt = |r: StoreError| matches!(r, StoreError::Corrupt { tree: "devices", .. });
        assert!(corrupt(f.store.devices().get(b"broken").await.unwrap_err()), "{}", f.name);
        assert!(corrupt(f.store.devices().all().await.unwrap_err()), "{}", f.name);
        let mut write = |_: &mut DeviceRecord| Change::Write;
        assert!(corrupt(f.store.devices().update(b"broken", &mut write).await.unwrap_err()), "{}", f.name);
        assert!(corrupt(f.store.devices().get(b"broken").await.unwrap_err()), "{}", f.name);
        f.write_raw_device(b"binary", &[0xff, 0x00, 0x01]).await;
        assert!(corrupt(f.store.devices().get(b"binary").await.unwrap_err()), "{}", f.name);
    }
}
