//! The `nyckel-portal` command: serve the portal, or manage its accounts offline.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use nyckel_portal::{Portal, PortalConfig, PortalError};
use zeroize::Zeroizing;

/// Nyckel's sign-in portal.
#[derive(Parser)]
#[command(name = "nyckel-portal", version, about)]
struct Cli {
    /// The portal's data directory (its own, not the server's).
    #[arg(long, env = "NYCKEL_PORTAL_DATA", default_value = "nyckel-portal-data")]
    data_dir: PathBuf,
    /// SMTP server for e-mail (`smtp://host:port`, `smtp://host:port?tls=required`,
    /// `smtps://user:pass@host`); without it, messages are written as files to DATA_DIR/outbox.
    #[arg(long, env = "NYCKEL_PORTAL_SMTP_URL", global = true)]
    smtp_url: Option<String>,
    /// The sender of the portal's e-mail.
    #[arg(long, env = "NYCKEL_PORTAL_MAIL_FROM", default_value = "Nyckel portal <portal@localhost>", global = true)]
    mail_from: String,
    /// The portal's address as browsers reach it, for links in e-mail.
    #[arg(long, env = "NYCKEL_PORTAL_URL", default_value = "http://127.0.0.1:8081", global = true)]
    public_url: String,
    /// The portal key file (32 random bytes, made with mode 0600 when missing); the TOTP secrets
    /// in the store are sealed under it. Default DATA_DIR/portal.key; keep it elsewhere so a copy
    /// of the data directory alone opens nothing.
    #[arg(long, env = "NYCKEL_PORTAL_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "NYCKEL_PORTAL_LISTEN", default_value = "127.0.0.1:8081")]
        listen: String,
        /// The Nyckel server's base URL.
        #[arg(long, env = "NYCKEL_URL", default_value = "http://127.0.0.1:8080")]
        nyckel_url: String,
        /// A file holding the relying-party API key (`rp_…`).
        #[arg(long, env = "NYCKEL_RP_KEY_FILE")]
        rp_key_file: PathBuf,
        /// The service name phones show.
        #[arg(long, default_value = "Nyckel portal")]
        service_name: String,
        /// Mark cookies Secure (when the portal is reached over https).
        #[arg(long)]
        secure_cookies: bool,
        /// Password and code attempts per minute per browser address (0: no limit).
        #[arg(long, default_value_t = 30)]
        attempts_per_minute: u32,
        #[command(flatten)]
        extra: ExtraArgs,
        /// For end-to-end tests only: add the seconds written in this file to the time (read at
        /// every use), to test expiries such as the 20-day remembered browser.
        #[arg(long, hide = true)]
        test_clock_offset_file: Option<PathBuf>,
    },
    /// Manage accounts (with the portal stopped: sled holds the directory's lock).
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Add an account; the password comes from $NYCKEL_PORTAL_PASSWORD or is asked twice. The
    /// running portal creates the user on the Nyckel server when the account registers a phone.
    Add {
        name: String,
        /// Join this organisation: created with this account as its administrator when new,
        /// otherwise a request its administrator approves in the portal.
        #[arg(long)]
        org: Option<String>,
    },
    /// Ask for access to an organisation for an existing account (`account request`): creates
    /// ORG with NAME as its administrator when ORG is new, otherwise its administrator decides.
    Request {
        name: String,
        #[arg(long)]
        org: String,
    },
    /// Unblock an account, clear its failures and make it active again; with --password, also
    /// set a new password ($NYCKEL_PORTAL_PASSWORD or asked twice).
    Reset {
        name: String,
        #[arg(long)]
        password: bool,
    },
    /// Invite NAME: an account without a password, and an e-mail to EMAIL with a link and a
    /// code (72 hours, once) to choose the password. The running portal creates the user on the
    /// Nyckel server when the invitation is accepted.
    Invite {
        name: String,
        email: String,
        /// The e-mail's language (sv, da, en).
        #[arg(long, default_value = "en")]
        lang: String,
    },
}

/// SMS and device administration (e-mail is configured by the global mail options).
#[derive(clap::Args)]
struct ExtraArgs {
    /// Write SMS as files into this directory (tests, demos); the default is
    /// `<data-dir>/sms-sink` unless a webhook is given.
    #[arg(long, env = "NYCKEL_PORTAL_SMS_SINK")]
    sms_sink: Option<PathBuf>,
    /// Send SMS by POSTing JSON {"to", "text"} to this URL.
    #[arg(long, env = "NYCKEL_PORTAL_SMS_WEBHOOK", conflicts_with = "sms_sink")]
    sms_webhook: Option<String>,
    /// A file holding the webhook's bearer token.
    #[arg(long, env = "NYCKEL_PORTAL_SMS_TOKEN_FILE", requires = "sms_webhook")]
    sms_token_file: Option<PathBuf>,
    /// Webhook timeout, seconds.
    #[arg(long, default_value_t = 10)]
    sms_timeout_seconds: u64,
    /// A file holding a tenant administrator's token (`tadm_…`) of the relying party's
    /// tenant, so organisation administrators can unblock devices.
    #[arg(long, env = "NYCKEL_PORTAL_TENANT_ADMIN_TOKEN_FILE")]
    tenant_admin_token_file: Option<PathBuf>,
}

impl ExtraArgs {
    fn apply(self, config: &mut PortalConfig) -> Result<(), CliError> {
        let read = |path: &PathBuf| std::fs::read_to_string(path).map_err(|e| CliError::Key(path.clone(), e));
        if let Some(url) = self.sms_webhook {
            let token = match &self.sms_token_file {
                Some(path) => read(path)?.trim().to_owned(),
                None => String::new(),
            };
            let timeout = std::time::Duration::from_secs(self.sms_timeout_seconds.max(1));
            config.sms = nyckel_portal::sms::SmsConfig::Webhook { url, token, timeout };
        } else if let Some(dir) = self.sms_sink {
            config.sms = nyckel_portal::sms::SmsConfig::Sink(dir);
        }
        if let Some(path) = &self.tenant_admin_token_file {
            config.tenant_admin_token = Some(read(path)?.trim().to_owned());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Portal(#[from] PortalError),
    #[error("cannot read the password: {0}")]
    Prompt(std::io::Error),
    #[error(transparent)]
    Org(nyckel_portal::orgs::OrgError),
    #[error("the two passwords differ")]
    Mismatch,
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("cannot read the relying-party key {0}: {1}")]
    Key(PathBuf, std::io::Error),
}

fn password() -> Result<Zeroizing<String>, CliError> {
    if let Ok(p) = std::env::var("NYCKEL_PORTAL_PASSWORD") {
        return Ok(Zeroizing::new(p));
    }
    let first = Zeroizing::new(rpassword::prompt_password("Password: ").map_err(CliError::Prompt)?);
    let second = Zeroizing::new(rpassword::prompt_password("Password again: ").map_err(CliError::Prompt)?);
    if *first != *second {
        return Err(CliError::Mismatch);
    }
    Ok(first)
}

fn mail_config(config: &mut PortalConfig, smtp_url: Option<String>, from: String, public_url: String) {
    config.mail.smtp_url = smtp_url.filter(|u| !u.is_empty());
    config.mail.from = from;
    config.public_url = public_url;
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve {
            listen,
            nyckel_url,
            rp_key_file,
            service_name,
            secure_cookies,
            attempts_per_minute,
            extra,
            test_clock_offset_file,
        } => {
            let key = std::fs::read_to_string(&rp_key_file).map_err(|e| CliError::Key(rp_key_file.clone(), e))?;
            let mut config = PortalConfig::new(&cli.data_dir, &nyckel_url, key.trim());
            if let Some(file) = cli.key_file {
                config.key_file = file;
            }
            mail_config(&mut config, cli.smtp_url, cli.mail_from, cli.public_url);
            if let Some(file) = test_clock_offset_file {
                tracing::warn!(file = %file.display(), "test clock: the time is moved by the seconds in this file");
                config.clock = Arc::new(nyckel_portal::clock_file::OffsetFileClock::new(file));
            }
            config.service_name = service_name;
            config.secure_cookies = secure_cookies;
            config.attempts_per_minute = attempts_per_minute;
            extra.apply(&mut config)?;
            let portal = Portal::open(config)?;
            tracing::info!(mail = %portal.mailer.describe(), "e-mail goes to");
            let listener =
                tokio::net::TcpListener::bind(&listen).await.map_err(|e| CliError::Listen(listen.clone(), e))?;
            let addr = listener.local_addr().map_err(|e| CliError::Listen(listen.clone(), e))?;
            tracing::info!(%addr, "portal listening");
            let server = nyckel_portal::serve(listener, Arc::clone(&portal));
            let sweeper = Arc::clone(&portal).sweep_periodically();
            tokio::select! {
                result = server => result.map_err(|e| CliError::Listen(listen, e))?,
                () = sweeper => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            portal.store.flush().await?;
            Ok(())
        }
        Command::Account { command } => {
            let mut config = PortalConfig::new(&cli.data_dir, "http://127.0.0.1:8080", "");
            if let Some(file) = cli.key_file {
                config.key_file = file;
            }
            mail_config(&mut config, cli.smtp_url, cli.mail_from, cli.public_url);
            let portal = Portal::open(config)?;
            match command {
                AccountCommand::Add { name, org } => {
                    // Refuse a bad organisation before the account exists, not after.
                    if org
                        .as_deref()
                        .is_some_and(|o| !nyckel_portal::accounts::valid_name(&o.trim().to_ascii_lowercase()))
                    {
                        return Err(CliError::Org(nyckel_portal::orgs::OrgError::InvalidId));
                    }
                    let pw = password()?;
                    portal.accounts.create(&name, &pw).await?;
                    println!("account {name} added");
                    if let Some(org) = org {
                        join(&portal, &name, &org).await?;
                    }
                }
                AccountCommand::Request { name, org } => {
                    if portal.accounts.get(&name)?.is_none() {
                        return Err(CliError::Portal(PortalError::NoAccount(name)));
                    }
                    join(&portal, &name, &org).await?;
                }
                AccountCommand::Reset { name, password: new } => {
                    let pw = if new { Some(password()?) } else { None };
                    portal.accounts.reset(&name, pw.as_deref().map(String::as_str)).await?;
                    println!("account {name} reset");
                }
                AccountCommand::Invite { name, email, lang } => {
                    let lang = nyckel_portal::i18n::Lang::from_tag(&lang).unwrap_or(nyckel_portal::i18n::Lang::En);
                    nyckel_portal::invitations::invite(&portal, &name, &email, lang).await?;
                    println!("account {name} invited; e-mail to {email} sent ({})", portal.mailer.describe());
                }
            }
            portal.store.flush().await?;
            Ok(())
        }
    }
}

async fn join(portal: &Portal, name: &str, org: &str) -> Result<(), CliError> {
    use nyckel_portal::audit::AuditKind;
    use nyckel_portal::orgs::JoinOutcome;
    match portal.orgs.join(name, org, org).await? {
        Ok(JoinOutcome::Created) => {
            portal.audit_event(name, "cli", AuditKind::OrgCreated, org)?;
            println!("organisation {org} created; {name} is its administrator");
        }
        Ok(JoinOutcome::Requested) => {
            portal.audit_event(name, "cli", AuditKind::AccessRequested, "")?;
            println!("{name} asked for access to {org}; its administrator decides in the portal");
        }
        Ok(JoinOutcome::AlreadyIn(other)) => println!("{name} belongs to {other} already"),
        Err(e) => return Err(CliError::Org(e)),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "nyckel_portal=info".into()),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nyckel-portal: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
