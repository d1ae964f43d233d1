//! Nyckel's sign-in portal: its own accounts, passwords and browser sessions, with the second
//! factor (push with number matching, QR one-time passwords, phone registration) reached only
//! through the second-factor server's relying-party API, plus TOTP for other authenticator apps,
//! SMS codes through a gateway, contact e-mail addresses, and organisations with administrators.
//!
//! Layers: `http` (pages, forms, cookies) → `accounts`/`sessions` (the rules) → `store` (sled);
//! `nyckel` is the relying-party API client.

pub mod accounts;
pub mod audit;
pub mod clock;
pub mod clock_file;
pub mod codes;
pub mod contacts;
pub mod device_names;
pub mod error;
pub mod http;
pub mod i18n;
pub mod invitations;
pub mod limits;
pub mod mail;
pub mod nyckel;
pub mod nyckel_admin;
pub mod onetime;
pub mod orgs;
pub mod remember;
pub mod seal;
pub mod sessions;
pub mod sms;
pub mod store;
pub mod strength;
pub mod totp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::PortalError;

/// How a portal runs.
#[derive(Clone)]
pub struct PortalConfig {
    /// Where its sled store lives.
    pub data_dir: PathBuf,
    /// The second-factor server's base URL.
    pub nyckel_url: String,
    /// The relying-party API key (`rp_…`).
    pub rp_key: String,
    /// The service name phones show.
    pub service_name: String,
    /// Mark cookies `Secure` (the portal is served over https, e.g. behind a proxy).
    pub secure_cookies: bool,
    /// The source of time.
    pub clock: Arc<dyn Clock>,
    /// Longest wait, seconds, of one status long poll from the browser (≤ 30).
    pub long_poll_seconds: u64,
    /// Password and code attempts per minute per browser address (0: no limit).
    pub attempts_per_minute: u32,
    /// Where SMS go (default: files in `<data_dir>/sms-sink`).
    pub sms: sms::SmsConfig,
    /// A tenant administrator's token (`tadm_…`) of the relying party's tenant; with it,
    /// organisation administrators can unblock devices.
    pub tenant_admin_token: Option<String>,
    /// Outgoing e-mail (sign-in links, invitations, password resets, contact-address codes).
    pub mail: mail::MailConfig,
    /// The portal's address as browsers reach it, for links in e-mail (no trailing slash).
    pub public_url: String,
    /// The portal key file (32 random bytes, created with mode 0600 at first start): the TOTP
    /// secrets in the store are sealed under a key derived from it. Default
    /// `<data_dir>/portal.key`; keep it outside the data directory (`--key-file`) so a copy of
    /// the store alone opens nothing.
    pub key_file: PathBuf,
}

impl PortalConfig {
    /// Defaults for a portal with data in `data_dir` using the server at `nyckel_url`.
    pub fn new(data_dir: impl Into<PathBuf>, nyckel_url: &str, rp_key: &str) -> Self {
        let data_dir: PathBuf = data_dir.into();
        let mail = mail::MailConfig {
            smtp_url: None,
            from: "Nyckel portal <portal@localhost>".to_owned(),
            outbox_dir: data_dir.join("outbox"),
        };
        Self {
            sms: sms::SmsConfig::Sink(data_dir.join("sms-sink")),
            tenant_admin_token: None,
            mail,
            public_url: "http://127.0.0.1:8081".to_owned(),
            key_file: data_dir.join("portal.key"),
            data_dir,
            nyckel_url: nyckel_url.to_owned(),
            rp_key: rp_key.to_owned(),
            service_name: "Nyckel portal".to_owned(),
            secure_cookies: false,
            clock: Arc::new(SystemClock),
            long_poll_seconds: 25,
            attempts_per_minute: 30,
        }
    }
}

/// Everything the request handlers share.
pub struct Portal {
    /// The configuration.
    pub config: PortalConfig,
    /// The store (kept for flushing).
    pub store: store::Store,
    /// The account rules.
    pub accounts: accounts::Accounts,
    /// The sessions.
    pub sessions: sessions::Sessions,
    /// The relying-party API client.
    pub rp: nyckel::RpClient,
    /// The per-address limit on password and code attempts.
    pub attempts: Option<limits::AttemptLimiter>,
    /// One-time codes sent by SMS or e-mail.
    pub codes: codes::Codes,
    /// Mobile numbers and the SMS gateway.
    pub sms: sms::Sms,
    /// Contact e-mail addresses.
    pub contacts: contacts::Contacts,
    /// Organisations and memberships.
    pub orgs: orgs::Orgs,
    /// The portal's audit log.
    pub audit: audit::Audit,
    /// Device names set in the portal.
    pub device_names: device_names::DeviceNames,
    /// The tenant-administrator client, when a token is configured.
    pub tenant_admin: Option<nyckel_admin::TenantAdminClient>,
    /// Outgoing e-mail.
    pub mailer: mail::Mailer,
    /// One-time e-mail tokens.
    pub tokens: onetime::Tokens,
    /// Remembered browsers.
    pub browsers: remember::Browsers,
    /// Sign-in-link e-mails per account ([`invitations::MAX_LINK_MAILS`] per 10 minutes).
    pub link_limit: codes::SendLimit,
    /// Password-reset e-mails per account (likewise).
    pub reset_limit: codes::SendLimit,
    /// Seals the authenticator-app secret of a set-up under way in the session record
    /// ([`sessions::PENDING_TOTP_SEAL_PURPOSE`], bound to the account and the session id).
    pub pending_totp: seal::Sealer,
}

impl Portal {
    /// Opens the store and prepares the client.
    pub fn open(config: PortalConfig) -> Result<Arc<Self>, PortalError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| PortalError::Io { what: format!("creating {}", config.data_dir.display()), source })?;
        let store = store::Store::open(&config.data_dir)?;
        let portal_key = seal::load_or_create_key(&config.key_file)?;
        let totp_sealer = seal::Sealer::new(&portal_key, accounts::TOTP_SEAL_PURPOSE)?;
        let pending_totp = seal::Sealer::new(&portal_key, sessions::PENDING_TOTP_SEAL_PURPOSE)?;
        let accounts = accounts::Accounts::new(store.clone(), config.clock.clone(), totp_sealer)?;
        let sessions = sessions::Sessions::new(store.clone(), config.clock.clone());
        let rp = nyckel::RpClient::new(&config.nyckel_url, &config.rp_key)?;
        let attempts = limits::AttemptLimiter::new(config.attempts_per_minute);
        let clock = config.clock.clone();
        let codes = codes::Codes::new(&store, clock.clone())?;
        let sms = sms::Sms::new(&store, config.sms.gateway()?, clock.clone())?;
        let contacts = contacts::Contacts::new(&store, clock.clone())?;
        let orgs = orgs::Orgs::new(&store, clock.clone())?;
        let audit = audit::Audit::new(&store, clock.clone())?;
        let device_names = device_names::DeviceNames::new(&store)?;
        let tenant_admin = match &config.tenant_admin_token {
            Some(token) => Some(nyckel_admin::TenantAdminClient::new(&config.nyckel_url, token)?),
            None => None,
        };
        let mailer = mail::Mailer::new(&config.mail)?;
        let tokens = onetime::Tokens::new(&store, clock.clone())?;
        let browsers = remember::Browsers::new(&store, clock.clone())?;
        let link_limit = codes::SendLimit::new(
            &store,
            "link_sends",
            clock.clone(),
            invitations::MAX_LINK_MAILS,
            invitations::MAIL_WINDOW,
        )?;
        let reset_limit =
            codes::SendLimit::new(&store, "reset_sends", clock, invitations::MAX_LINK_MAILS, invitations::MAIL_WINDOW)?;
        Ok(Arc::new(Self {
            config,
            store,
            accounts,
            sessions,
            rp,
            attempts,
            codes,
            sms,
            contacts,
            orgs,
            audit,
            device_names,
            tenant_admin,
            mailer,
            tokens,
            browsers,
            link_limit,
            reset_limit,
            pending_totp,
        }))
    }

    /// Makes sure `account` is a user of the relying party's tenant on the Nyckel server
    /// (`PUT /v1/users/{user}`, idempotent), so that registering a phone needs no operator
    /// step. Called where a portal account comes to exist in the running portal (an invitation
    /// accepted, an administrator's invitation, an access request approved) and before every
    /// phone registration, which also covers accounts the offline `account add`/`invite`
    /// commands made while the portal (and perhaps the server) was stopped.
    pub async fn ensure_server_user(&self, account: &str) -> Result<(), PortalError> {
        if self.rp.ensure_user(account).await? {
            tracing::info!(account, "user created on the Nyckel server");
        }
        Ok(())
    }
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Sessions idle past the timeout.
    pub sessions: usize,
    /// Expired SMS and e-mail codes.
    pub codes: usize,
    /// Expired sign-in links, invitations and reset links.
    pub tokens: usize,
    /// Remembered browsers past 20 days.
    pub browsers: usize,
}

/// How often the serving process sweeps.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);

impl Portal {
    /// Deletes expired sessions, codes, e-mail tokens and remembered browsers. Each is also
    /// refused (and mostly deleted) when presented after expiry; the sweep removes those never
    /// presented again, so the store does not grow with them.
    pub fn sweep(&self) -> Result<Swept, PortalError> {
        Ok(Swept {
            sessions: self.sessions.sweep()?,
            codes: self.codes.sweep()?,
            tokens: self.tokens.sweep()?,
            browsers: self.browsers.sweep()?,
        })
    }

    /// Sweeps every [`SWEEP_EVERY`] until the task is dropped (in a blocking thread: sled scans).
    pub async fn sweep_periodically(self: Arc<Self>) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            let portal = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || portal.sweep()).await {
                Ok(Ok(swept)) if swept != Swept::default() => tracing::info!(?swept, "swept expired records"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "sweep failed"),
                Err(e) => tracing::warn!(error = %e, "sweep task failed"),
            }
        }
    }
}

/// Serves `portal` on `listener` until the task is dropped or the process ends.
pub async fn serve(listener: tokio::net::TcpListener, portal: Arc<Portal>) -> std::io::Result<()> {
    let app = http::router(portal);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
}
