//! The server state shared by every request: store, keys, registries, clock; and housekeeping.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::digest::sha256;
use nyckel_protocol::wire::audit::AuditKind;
use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::{ServerPublicKey, ServerSigningKey};

use crate::audit::{Audit, Entry};
use crate::challenges::ChallengeRegistry;
use crate::clock::Clock;
use crate::devices::DeviceRegistry;
use crate::enrollments::EnrollmentRegistry;
use crate::seal::Sealer;
use crate::store::Store;
use crate::{files, ServerConfig, ServerError};

/// Everything a request handler needs.
pub struct App {
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The durable store.
    pub store: Store,
    /// The audit log.
    pub audit: Audit,
    /// The Ed25519 key that signs challenges and receipts.
    pub key: ServerSigningKey,
    /// Its public half.
    pub server_key: ServerPublicKey,
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
}

impl App {
    /// Opens the data directory: keys (created at first start), store, registries.
    pub fn open(config: &ServerConfig, public_url: String) -> Result<Arc<Self>, ServerError> {
        files::ensure_dir(&config.data_dir)?;
        let key = files::signing_key(&config.data_dir)?;
        let sealer = Sealer::new(&*files::seal_key(&config.data_dir)?)?;
        let admin_token_hash = sha256(files::admin_token(&config.data_dir)?.as_bytes());
        let store = Store::open(&config.data_dir)?;
        let now = config.clock.now();
        let devices = DeviceRegistry::load(&store)?;
        let challenges = ChallengeRegistry::default();
        challenges.load_open(&store, &devices, now)?;
        Ok(Arc::new(Self {
            clock: config.clock.clone(),
            audit: Audit::new(store.clone()),
            server_key: key.public_key(),
            key,
            sealer,
            admin_token_hash,
            public_url,
            enrollment_ttl: config.enrollment_ttl,
            devices,
            challenges,
            enrollments: EnrollmentRegistry::default(),
            store,
            data_dir: config.data_dir.clone(),
        }))
    }

    /// The current time.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Appends an audit event; a failure is logged, not fatal to the request that caused it,
    /// except where the caller needs it durable (it then flushes and checks).
    pub fn record(&self, entry: Entry) {
        if let Err(e) = self.audit.append(entry, self.now()) {
            eprintln!("nyckel-server: audit append failed: {e}");
        }
    }

    /// Audits a device's move to inactive, once.
    pub fn note_inactive(&self, device: &crate::devices::DeviceEntry, now: u64) {
        let record = device.record();
        if record.state(now) == DeviceState::Inactive
            && !record.inactive_noted
            && device.update(&self.store, |r| r.inactive_noted = true).is_ok()
        {
            self.record(Entry::new(AuditKind::DeviceInactive, "server").user(&record.user).device(&device.id));
        }
    }

    /// One housekeeping pass: expire challenges, drop closed ones from memory and inboxes,
    /// forget old enrollments, audit devices that became inactive.
    pub fn housekeeping(&self) {
        let now = self.now();
        self.challenges.sweep(self, now);
        self.enrollments.sweep(now);
        for device in self.devices.all() {
            device.prune_inbox(now);
            self.note_inactive(&device, now);
        }
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
