//! The rules over a store whose every call suspends before and after it does its work, as a
//! database server's round trip does (sled's futures never suspend, so the other tests do not
//! see this): loading and the PIN-failure count must stay right when requests interleave at
//! every store call on several worker threads.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::Harness;
use nyckel_protocol::DeviceId;
use nyckel_server::app::App;
use nyckel_server::model::{
    AdminScope, ChallengeRecord, DeviceRecord, EnrollmentRecord, RelyingParty, Tenant, UserRecord,
};
use nyckel_server::nonces::NonceCheck;
use nyckel_server::service::pin::{judge, PinVerdict};
use nyckel_server::store::{AuditRepo, Change, NonceRepo, PgSettings, PgStore, Records, Store, StoreFuture};
use nyckel_server::ServerConfig;

/// Yields to the scheduler before and after `work`, counting the suspensions.
async fn suspended<T>(count: &AtomicU64, work: StoreFuture<'_, T>) -> Result<T, nyckel_server::store::StoreError> {
    count.fetch_add(1, Ordering::Relaxed);
    tokio::task::yield_now().await;
    let result = work.await;
    tokio::task::yield_now().await;
    result
}

/// One record kind of the wrapped store, suspending.
struct Suspending<T: 'static> {
    inner: Arc<dyn Store>,
    pick: fn(&dyn Store) -> &dyn Records<T>,
    count: Arc<AtomicU64>,
}

impl<T: Send + Sync + 'static> Records<T> for Suspending<T> {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<T>> {
        Box::pin(suspended(&self.count, (self.pick)(&*self.inner).get(key)))
    }

    fn put<'a>(&'a self, key: &'a [u8], value: &'a T) -> StoreFuture<'a, ()> {
        Box::pin(suspended(&self.count, (self.pick)(&*self.inner).put(key, value)))
    }

    fn insert_new<'a>(&'a self, key: &'a [u8], value: &'a T) -> StoreFuture<'a, bool> {
        Box::pin(suspended(&self.count, (self.pick)(&*self.inner).insert_new(key, value)))
    }

    fn remove<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(suspended(&self.count, (self.pick)(&*self.inner).remove(key)))
    }

    fn all(&self) -> StoreFuture<'_, Vec<T>> {
        Box::pin(suspended(&self.count, (self.pick)(&*self.inner).all()))
    }

    fn update<'a>(
        &'a self,
        key: &'a [u8],
        change: &'a mut (dyn FnMut(&mut T) -> Change + Send),
    ) -> StoreFuture<'a, Option<T>> {
        Box::pin(suspended(&self.count, (self.pick)(&*self.inner).update(key, change)))
    }
}

/// The whole store (the harness's: sled, or PostgreSQL under `NYCKEL_TEST_STORE=postgres`),
/// suspending at every record and nonce call.
struct SuspendingStore {
    inner: Arc<dyn Store>,
    count: Arc<AtomicU64>,
    tenants: Suspending<Tenant>,
    users: Suspending<UserRecord>,
    relying_parties: Suspending<RelyingParty>,
    admins: Suspending<AdminScope>,
    devices: Suspending<DeviceRecord>,
    enrollments: Suspending<EnrollmentRecord>,
    challenges: Suspending<ChallengeRecord>,
}

impl SuspendingStore {
    fn new(inner: Arc<dyn Store>) -> Self {
        let count = Arc::new(AtomicU64::new(0));
        fn kind<T>(
            inner: &Arc<dyn Store>,
            count: &Arc<AtomicU64>,
            pick: fn(&dyn Store) -> &dyn Records<T>,
        ) -> Suspending<T> {
            Suspending { inner: inner.clone(), pick, count: count.clone() }
        }
        Self {
            tenants: kind(&inner, &count, |s| s.tenants()),
            users: kind(&inner, &count, |s| s.users()),
            relying_parties: kind(&inner, &count, |s| s.relying_parties()),
            admins: kind(&inner, &count, |s| s.admins()),
            devices: kind(&inner, &count, |s| s.devices()),
            enrollments: kind(&inner, &count, |s| s.enrollments()),
            challenges: kind(&inner, &count, |s| s.challenges()),
            inner,
            count,
        }
    }
}

impl NonceRepo for SuspendingStore {
    fn offer<'a>(&'a self, device: &'a DeviceId, nonce: [u8; 16], now: u64) -> StoreFuture<'a, NonceCheck> {
        Box::pin(suspended(&self.count, self.inner.nonces().offer(device, nonce, now)))
    }

    fn prune(&self, now: u64) -> StoreFuture<'_, ()> {
        Box::pin(suspended(&self.count, self.inner.nonces().prune(now)))
    }
}

impl Store for SuspendingStore {
    fn tenants(&self) -> &dyn Records<Tenant> {
        &self.tenants
    }

    fn users(&self) -> &dyn Records<UserRecord> {
        &self.users
    }

    fn relying_parties(&self) -> &dyn Records<RelyingParty> {
        &self.relying_parties
    }

    fn admins(&self) -> &dyn Records<AdminScope> {
        &self.admins
    }

    fn devices(&self) -> &dyn Records<DeviceRecord> {
        &self.devices
    }

    fn enrollments(&self) -> &dyn Records<EnrollmentRecord> {
        &self.enrollments
    }

    fn challenges(&self) -> &dyn Records<ChallengeRecord> {
        &self.challenges
    }

    fn nonces(&self) -> &dyn NonceRepo {
        self
    }

    fn audit(&self) -> &dyn AuditRepo {
        // The audit chain's own concurrency has tests of its own (audit.rs).
        self.inner.audit()
    }

    fn complete_enrollment<'a>(
        &'a self,
        completed: &'a EnrollmentRecord,
        device: &'a DeviceRecord,
    ) -> StoreFuture<'a, bool> {
        Box::pin(suspended(&self.count, self.inner.complete_enrollment(completed, device)))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(suspended(&self.count, self.inner.flush()))
    }
}

/// Twenty concurrent wrong PINs on four worker threads, with every store call suspending:
/// exactly five are judged wrong and the rest "blocked" (the count is one atomic update, not
/// a read and a later write that another request's write can slip between), and this
/// process's copy of the device ends equal to the stored record.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pin_verdicts_stay_atomic_when_every_store_call_suspends() {
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    h.app.store.flush().await.unwrap();
    // A second App over the same database, through the suspending store; its registries are
    // loaded through it too.
    let config =
        ServerConfig { clock: h.clock.clone(), kek_file: Some(h.kek.path()), ..ServerConfig::new(h.dir.path()) };
    let store = Arc::new(SuspendingStore::new(h.app.store.clone()));
    let count = store.count.clone();
    let app: Arc<App> = App::open(&config, h.base.clone(), store).await.unwrap();
    let device = app.devices.get(&phone.device_id).expect("the device is loaded through the suspending store");
    let loaded = count.load(Ordering::Relaxed);
    assert!(loaded >= 2, "loading went around the suspending store ({loaded} calls)");

    let verdicts = twenty_wrong_pins(&app, &device).await;
    assert!(count.load(Ordering::Relaxed) >= loaded + 20, "the judgements went around the suspending store");
    let wrong = verdicts.iter().filter(|v| matches!(v, PinVerdict::Wrong { .. })).count();
    let blocked = verdicts.iter().filter(|v| **v == PinVerdict::Blocked).count();
    assert_eq!((wrong, blocked), (5, 15), "{verdicts:?}");
    let stored = app.store.devices().get(phone.device_id.as_str().as_bytes()).await.unwrap().unwrap();
    let copy = device.record();
    assert_eq!((stored.pin_failures, stored.blocked), (5, true));
    assert_eq!((copy.pin_failures, copy.blocked), (stored.pin_failures, stored.blocked));
}

/// Twenty wrong PINs started together on four worker threads; their verdicts.
async fn twenty_wrong_pins(app: &Arc<App>, device: &Arc<nyckel_server::devices::DeviceEntry>) -> Vec<PinVerdict> {
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, device, start) = (app.clone(), device.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                judge(&app, &device, 0, |_| false).await.unwrap()
            })
        })
        .collect();
    let mut verdicts = Vec::new();
    for task in tasks {
        verdicts.push(task.await.unwrap());
    }
    verdicts
}

/// The same rule with the records in PostgreSQL (when the tests have one, see
/// `common::postgres_url`): twenty concurrent wrong PINs, each its own transaction holding
/// the device's row lock, give exactly five wrong verdicts and a blocked device.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pin_verdicts_stay_atomic_on_postgres() {
    let Some(url) = common::postgres_url() else { return };
    let h = Harness::start(&["alice"]).await;
    let phone = h.enroll("alice").await;
    let pg = PgStore::open(&PgSettings::fresh_schema(&url).await.unwrap()).await.unwrap();
    let key = phone.device_id.as_str().as_bytes();
    let record = h.app.store.devices().get(key).await.unwrap().unwrap();
    pg.devices().put(key, &record).await.unwrap();
    let config =
        ServerConfig { clock: h.clock.clone(), kek_file: Some(h.kek.path()), ..ServerConfig::new(h.dir.path()) };
    let app: Arc<App> = App::open(&config, h.base.clone(), Arc::new(pg.clone())).await.unwrap();
    let device = app.devices.get(&phone.device_id).expect("the device is loaded from PostgreSQL");
    let verdicts = twenty_wrong_pins(&app, &device).await;
    let wrong = verdicts.iter().filter(|v| matches!(v, PinVerdict::Wrong { .. })).count();
    let blocked = verdicts.iter().filter(|v| **v == PinVerdict::Blocked).count();
    assert_eq!((wrong, blocked), (5, 15), "{verdicts:?}");
    let stored = pg.devices().get(key).await.unwrap().unwrap();
    assert_eq!((stored.pin_failures, stored.blocked), (5, true));
    let copy = device.record();
    assert_eq!((copy.pin_failures, copy.blocked), (5, true));
}
