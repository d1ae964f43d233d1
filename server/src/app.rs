//! The server state shared by every request: store, keys, registries, clock; and housekeeping.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::{ServerPublicKey, ServerSigningKey};

use crate::service::ServiceError;
use crate::audit::{Audit, Entry};
use crate::challenges::ChallengeRegistry;
use crate::clock::Clock;
use crate::devices::DeviceRegistry;
use crate::enrollments::EnrollmentRegistry;
use crate::seal::Sealer;
use crate::secrets::KeyRing;
use crate::store::{SledStore, Store};
use crate::{ServerConfig, ServerError};
use nyckel_protocol::key_rotation::KeyRotation;

/// Everything a request handler needs.
pub struct App {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The durable store, as the rules use it.
    pub store: Arc<dyn Store>,
    /// The sled database behind it (the audit chain writes its trees directly; tests tamper
    /// with stored bytes through it).
    pub sled: SledStore,
    /// The audit log.
    pub audit: Audit,
    /// The Ed25519 key that signs challenges, receipts and the audit head (the newest of the ring).
    pub key: Arc<ServerSigningKey>,
    /// Its public half.
    pub server_key: ServerPublicKey,
    /// Every public key the server has had, oldest first (audit verification).
    pub known_keys: Vec<ServerPublicKey>,
    /// The rotation statements phones follow from the key they pinned to the current one.
    key_rotations: Vec<KeyRotation>,
    /// Seals PIN secrets.
    pub sealer: Sealer,
    /// SHA-256 of the admin token.
    pub admin_token_hash: [u8; 32],
    /// Base URL phones use (the `u` of enrollment codes).
    pub public_url: String,
    /// Lifetime of an enrollment code.
    pub enrollment_ttl: u64,
    /// Devices.
    pub devices: DeviceRegistry,
    /// Challenges.
    pub challenges: ChallengeRegistry,
    /// Enrollments.
    pub enrollments: EnrollmentRegistry,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Operational counters (`/metrics`).
    pub metrics: crate::metrics::Metrics,
    /// Set once the server is shutting down: long polls answer at once.
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Events appended by [`App::record`].
    recorded: std::sync::atomic::AtomicU64,
    /// When stored nonces were last pruned.
    nonces_pruned_at: std::sync::atomic::AtomicU64,
}

impl App {
    /// Opens the data directory: keys (created at first start), store, registries.
    pub fn open(config: &ServerConfig, public_url: String) -> Result<Arc<Self>, ServerError> {
        let kek = config.kek()?;
        let ring = KeyRing::open(&config.data_dir, &kek)?;
        let key = ring.signing_key();
        let sealer = ring.sealer()?;
        let admin_token_hash = ring.admin_token_hash();
        let key_rotations = ring
            .rotations()
            .iter()
            .map(|r| KeyRotation { old_key: r.old_key, new_key: r.new_key, signature: r.signature })
            .collect();
        let sled = SledStore::open(&config.data_dir)?;
        let store: Arc<dyn Store> = Arc::new(sled.clone());
        let now = config.clock.now();
        let devices = DeviceRegistry::load(&*store)?;
        let challenges = ChallengeRegistry::default();
        challenges.load_open(&*store, &devices, now)?;
        Ok(Arc::new(Self {
            clock: config.clock.clone(),
            audit: Audit::open(sled.clone(), key.clone())?,
            sled,
            server_key: key.public_key(),
            key,
            known_keys: ring.public_keys(),
            key_rotations,
            sealer,
            admin_token_hash,
            public_url,
            enrollment_ttl: config.enrollment_ttl,
            devices,
            challenges,
            enrollments: EnrollmentRegistry::default(),
            store,
            data_dir: config.data_dir.clone(),
            nonces_pruned_at: std::sync::atomic::AtomicU64::new(0),
            recorded: std::sync::atomic::AtomicU64::new(0),
            metrics: crate::metrics::Metrics::default(),
            shutdown: tokio::sync::watch::channel(false).0,
        }))
    }

    /// Starts a graceful shutdown: every long poll answers now, `/readyz` says 503.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether a shutdown has begun.
    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A receiver that changes when the shutdown begins.
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The whole key-rotation chain, sent with every poll answer.
    pub fn key_rotations(&self) -> Vec<KeyRotation> {
        self.key_rotations.clone()
    }

    /// The current time.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Appends an audit event; it becomes durable with the flush every security-relevant
    /// request makes before it answers. A failed append fails the request (500): nothing
    /// is acknowledged without its record.
    pub fn record(&self, entry: Entry) -> Result<(), ServiceError> {
        self.audit.append(entry, self.now()).map_err(|e| ServiceError::internal(&e))?;
        self.recorded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// How many events [`App::record`] has appended since start (the HTTP layer flushes the
    /// store before answering a request during which this moved).
    pub fn recorded(&self) -> u64 {
        self.recorded.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Audits a device's move to inactive, once.
    pub fn note_inactive(&self, device: &crate::devices::DeviceEntry, now: u64) -> Result<(), ServiceError> {
        let record = device.record();
        if record.state(now) == DeviceState::Inactive
            && !record.inactive_noted
            && device.update(&*self.store, |r| r.inactive_noted = true).is_ok()
        {
            self.record(
                Entry::new(AuditKind::DeviceInactive, "server")
                    .tenant(&record.tenant)
                    .user(&record.user)
                    .device(&device.id),
            )?;
        }
        Ok(())
    }

    /// One housekeeping pass: expire challenges, drop closed ones from memory and inboxes,
    /// forget old enrollments, audit devices that became inactive.
    pub fn housekeeping(&self) {
        let now = self.now();
        if let Err(e) = self.audit.flush_aggregates(now) {
            tracing::error!("writing audit summaries failed: {e}");
        }
        self.challenges.sweep(self, now);
        self.enrollments.sweep(now);
        for device in self.devices.all() {
            device.prune_inbox(now);
            if let Err(e) = self.note_inactive(&device, now) {
                tracing::error!("housekeeping: {e}");
            }
        }
        // Stored nonces older than the replay window are dropped about once a minute.
        let last = self.nonces_pruned_at.load(std::sync::atomic::Ordering::Relaxed);
        if now >= last.saturating_add(60) {
            self.nonces_pruned_at.store(now, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = self.prune_nonces(now) {
                tracing::error!("pruning stored nonces failed: {e}");
            }
        }
    }

    fn prune_nonces(&self, now: u64) -> Result<(), crate::store::StoreError> {
        self.store.nonces().prune(now)
    }

    /// Runs [`App::housekeeping`] every few seconds until the server stops. Delivery never
    /// depends on it: expiry is also applied whenever a challenge is read.
    pub fn spawn_housekeeping(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(app) => app.housekeeping(),
                    None => return,
                }
            }
        })
    }
}
