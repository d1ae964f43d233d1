//! Nyckel server: enrollment, push and QR-OTP challenges, PIN-failure counting, devices
//! and audit, over the HTTP API of docs/PROTOCOL.md.
//!
//! - [`serve`] runs the server on a listener; [`Server`] splits opening from running.
//! - [`admin`] holds the offline administration the binary uses (users, relying parties,
//!   admin token); it needs the data directory unlocked, i.e. the server stopped.
//! - Layers, top to bottom: [`http`] (axum; the one place errors become responses) →
//!   [`service`] (the rules, no axum, no storage engine) → [`live`] (inboxes, long-poll
//!   wake-ups) and [`store`] (the `Store` trait; sled in `--data-dir/db` or PostgreSQL behind
//!   it), over the
//!   records of [`model`]. `tests/layers.rs` checks it.

pub mod admin;
pub mod audit;
pub mod clock;
pub mod files;
pub mod http;
pub mod live;
pub mod metrics;
pub mod model;
pub mod nonces;
pub mod qr_image;
pub mod seal;
pub mod secrets;
pub mod service;
pub mod store;

pub use http::limits;
// The rule modules by their earlier paths (the binary, benchmarks and tests use them).
pub use live::devices;
pub use service::{admins, app, challenges, enrollments, new_device, phone, relying_parties, tenants, users};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
pub use http::connections::DEFAULT_HEADER_READ_TIMEOUT;

/// How the server runs.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where the database and key files live.
    pub data_dir: PathBuf,
    /// Base URL phones reach the server at (the `u` of enrollment codes); default
    /// `http://<bound address>`.
    pub public_url: Option<String>,
    /// The clock (tests inject a [`ManualClock`]).
    pub clock: Arc<dyn Clock>,
    /// Lifetime of an enrollment code, seconds.
    pub enrollment_ttl: u64,
    /// The key-encryption key's file (outside the data directory); `None`: from the
    /// environment ([`secrets::Kek::from_env`]).
    pub kek_file: Option<PathBuf>,
    /// Request rates per relying-party key and per client address.
    pub limits: limits::Limits,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The records (tenants, users, relying parties, admins, devices, enrollments,
    /// challenges, nonces) in this PostgreSQL database; `None`: in sled in `data_dir`. The
    /// audit log is with the records; the key files stay in `data_dir` either way.
    pub database: Option<store::PgSettings>,
    /// How long a client may take to send a request's head, counted from the connection's
    /// opening or the previous response; then the connection is closed. Also what an idle
    /// keep-alive connection is kept.
    pub header_read_timeout: std::time::Duration,
}

impl ServerConfig {
    /// Defaults for `data_dir`: system clock, 5-minute enrollment codes.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            public_url: None,
            clock: Arc::new(SystemClock),
            enrollment_ttl: enrollments::DEFAULT_ENROLLMENT_TTL,
            kek_file: None,
            limits: limits::Limits::default(),
            trusted_proxies: Vec::new(),
            database: None,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }

    /// Opens the key-encryption key this configuration names.
    pub fn kek(&self) -> Result<secrets::Kek, secrets::SecretsError> {
        match &self.kek_file {
            Some(path) => secrets::Kek::from_file(path, &self.data_dir),
            None => secrets::Kek::from_env(&self.data_dir),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("data_dir", &self.data_dir)
            .field("public_url", &self.public_url)
            .field("enrollment_ttl", &self.enrollment_ttl)
            .field("kek_file", &self.kek_file)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// Why the server or an administrative command failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Networking.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The store.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A data-directory file.
    #[error(transparent)]
    File(#[from] files::FileError),
    /// The PIN-secret sealing key.
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    /// The key-encryption key or the sealed key ring.
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
    /// The audit log.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
    /// The rate limits.
    #[error(transparent)]
    Limits(#[from] limits::LimitsError),
    /// A user operation.
    #[error(transparent)]
    User(#[from] users::UserError),
    /// A tenant operation.
    #[error(transparent)]
    Tenant(#[from] tenants::TenantError),
    /// A tenant-administrator operation.
    #[error(transparent)]
    Admin(#[from] admins::AdminError),
    /// A relying-party operation.
    #[error(transparent)]
    RelyingParty(#[from] relying_parties::RelyingPartyError),
    /// The public URL is not acceptable in an enrollment code.
    #[error("invalid public URL: {0}")]
    PublicUrl(String),
}

/// An opened server, ready to run.
pub struct Server {
    app: Arc<app::App>,
    sled: Option<store::SledStore>,
    limits: limits::Limits,
    trusted: Vec<std::net::IpAddr>,
    header_read_timeout: std::time::Duration,
    listener: tokio::net::TcpListener,
}

impl Server {
    /// Opens the data directory (creating the signing key on first start) for `listener`.
    pub async fn open(listener: tokio::net::TcpListener, config: ServerConfig) -> Result<Self, ServerError> {
        let addr: SocketAddr = listener.local_addr()?;
        let mut local = addr;
        if local.ip().is_unspecified() {
            // Listening on every interface: loopback is the address that certainly works here.
            local.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let url = config.public_url.clone().unwrap_or_else(|| format!("http://{local}"));
        let url = nyckel_protocol::qr::check_server_url(&url).map_err(|e| ServerError::PublicUrl(e.to_string()))?;
        // The storage engine is chosen here, above the rules: PostgreSQL when configured (the
        // records and the audit log there, the data directory holding only the key files),
        // else sled in the data directory.
        let (records, sled): (Arc<dyn store::Store>, Option<store::SledStore>) = match &config.database {
            Some(settings) => (Arc::new(store::PgStore::open(settings).await?), None),
            None => {
                let sled = store::SledStore::open(&config.data_dir)?;
                (Arc::new(sled.clone()), Some(sled))
            }
        };
        let app = app::App::open(&config, url, records).await?;
        Ok(Self {
            app,
            sled,
            listener,
            limits: config.limits,
            trusted: config.trusted_proxies,
            header_read_timeout: config.header_read_timeout,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, ServerError> {
        Ok(self.listener.local_addr()?)
    }

    /// The shared state (tests and benchmarks inspect it).
    pub fn app(&self) -> Arc<app::App> {
        self.app.clone()
    }

    /// The sled database behind the store, when the store is sled (tests read and tamper with
    /// stored bytes).
    pub fn sled(&self) -> Option<store::SledStore> {
        self.sled.clone()
    }

    /// Serves until the listener fails.
    pub async fn run(self) -> Result<(), ServerError> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: long polls are answered
    /// at once (phones poll again elsewhere), requests in flight finish, the store is flushed.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let trusted = http::client_addr::TrustedProxies(self.trusted);
        http::run(self.listener, self.app, &self.limits, trusted, self.header_read_timeout, shutdown).await
    }
}

/// Opens the data directory and serves on `listener`.
pub async fn serve(listener: tokio::net::TcpListener, config: ServerConfig) -> Result<(), ServerError> {
    Server::open(listener, config).await?.run().await
}
