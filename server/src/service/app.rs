//! The context every rule runs with: store, live registries, keys, audit log, clock, metrics.

use std::path::PathBuf;
use std::sync::Arc;

use nyckel_protocol::{ServerPublicKey, ServerSigningKey};

use crate::audit::{Audit, Entry};
use crate::clock::Clock;
use crate::live::challenges::ChallengeRegistry;
use crate::live::devices::DeviceRegistry;
use crate::live::enrollments::EnrollmentRegistry;
use crate::seal::Sealer;
use crate::secrets::KeyRing;
use crate::service::ServiceError;
use crate::store::Store;
use crate::{ServerConfig, ServerError};
use nyckel_protocol::key_rotation::KeyRotation;

/// Everything a request handler needs.
pub struct App {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The durable store.
    pub store: Arc<dyn Store>,
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
    pub(crate) nonces_pruned_at: std::sync::atomic::AtomicU64,
}

impl App {
    /// Opens the data directory: keys (created at first start), store, registries.
    /// `store` is the durable store; the audit log is kept in it too, its head signed by the
    /// server's key.
    pub async fn open(
        config: &ServerConfig,
        public_url: String,
        store: Arc<dyn Store>,
    ) -> Result<Arc<Self>, ServerError> {
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
        let (devices, challenges) = crate::live::load(&*store, config.clock.now()).await?;
        Ok(Arc::new(Self {
            clock: config.clock.clone(),
            audit: Audit::open(store.clone(), key.clone()).await?,
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
    pub async fn record(&self, entry: Entry) -> Result<(), ServiceError> {
        self.audit.append(entry, self.now()).await.map_err(|e| ServiceError::internal(&e))?;
        self.recorded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// How many events [`App::record`] has appended since start (the HTTP layer flushes the
    /// store before answering a request during which this moved).
    pub fn recorded(&self) -> u64 {
        self.recorded.load(std::sync::atomic::Ordering::SeqCst)
    }
}
