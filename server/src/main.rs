//! `nyckel-server`: run the server, and administer tenants, users, relying parties, tenant
//! administrators and the global admin token.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nyckel_server::secrets::Kek;
use nyckel_server::{admin, ServerConfig, ServerError};

#[derive(Parser)]
#[command(name = "nyckel-server", version, about = "The Nyckel second-factor server")]
struct Cli {
    /// Directory of the database and the sealed key files.
    #[arg(long, global = true, default_value = "./nyckel-data", env = "NYCKEL_DATA_DIR")]
    data_dir: PathBuf,
    /// The key-encryption key (32 bytes, or 64 hex digits), outside the data directory and
    /// readable by the owner only; default: `$CREDENTIALS_DIRECTORY/nyckel-kek` (systemd).
    #[arg(long, global = true, env = "NYCKEL_KEK_FILE")]
    kek_file: Option<PathBuf>,
    /// Keep the records in this PostgreSQL database (`postgres://user[:password]@host[:port]/db`,
    /// no TLS) instead of sled in the data directory; the audit log and key files stay there.
    #[arg(long, global = true, env = "NYCKEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// A settings file of `NYCKEL_…=value` lines (as systemd's EnvironmentFile); the
    /// environment and the command line override it.
    #[arg(long, global = true, env = "NYCKEL_CONFIG")]
    config: Option<PathBuf>,
    /// Log lines as `text` or `json`; the level comes from `$NYCKEL_LOG` (default `info`).
    #[arg(long, global = true, default_value = "text", env = "NYCKEL_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (first stdout line: `listening on http://ADDR`).
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8080", env = "NYCKEL_LISTEN")]
        listen: String,
        /// Base URL phones use, when not `http://<listen address>`.
        #[arg(long, env = "NYCKEL_PUBLIC_URL")]
        public_url: Option<String>,
        /// Requests per second allowed per relying-party API key or admin token (burst: 4×).
        #[arg(long, env = "NYCKEL_KEY_RATE", default_value_t = nyckel_server::limits::Limits::default().per_key.per_second)]
        key_rate: u32,
        /// Requests per second allowed per client address (burst: 5×).
        #[arg(long, env = "NYCKEL_ADDRESS_RATE", default_value_t = nyckel_server::limits::Limits::default().per_address.per_second)]
        address_rate: u32,
        /// Reverse proxies whose `X-Forwarded-For` names the client (repeat, or comma-separated).
        #[arg(long = "trusted-proxy", env = "NYCKEL_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// Seconds a client may take to send a request head (from connecting or from the
        /// previous response; an idle keep-alive connection is closed after it too).
        #[arg(long, env = "NYCKEL_HEADER_READ_TIMEOUT", default_value_t = nyckel_server::DEFAULT_HEADER_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_read_timeout: u64,
        /// Most PostgreSQL connections this instance opens (with `--database-url`).
        #[arg(long, env = "NYCKEL_DATABASE_POOL", default_value_t = nyckel_server::store::PgSettings::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(2..=1000))]
        database_pool: u32,
    },
    /// Manage tenants, the organisations kept apart (server must be stopped).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage a tenant's users (server must be stopped).
    User {
        /// The tenant.
        #[arg(long, env = "NYCKEL_TENANT")]
        tenant: String,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage a tenant's relying parties (server must be stopped).
    Rp {
        /// The tenant.
        #[arg(long, env = "NYCKEL_TENANT")]
        tenant: String,
        #[command(subcommand)]
        command: RpCommand,
    },
    /// Manage a tenant's administrators (server must be stopped).
    Admin {
        /// The tenant.
        #[arg(long, env = "NYCKEL_TENANT")]
        tenant: String,
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the global admin token, creating it on first use.
    AdminToken,
    /// Create a new key-encryption key file (mode 0600) at the `--kek-file` path.
    KekCreate,
    /// The server's signing key.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make a new signing key current, announced to phones signed by the old one.
    Rotate,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain and the signed head; exit status 1 when anything was changed.
    Verify,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Add a tenant: an identifier ([a-z0-9-]) and the organisation name phones show.
    Add {
        /// Identifier.
        name: String,
        /// Organisation name shown on phones, e.g. "Trade portal".
        display_name: String,
    },
    /// List tenants.
    List,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Add an administrator of the tenant and print their new token (one line).
    Add {
        /// Administrator name.
        name: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user (no password: the sign-in service in front of the server owns passwords).
    Add {
        /// User name.
        name: String,
    },
    /// List users.
    List,
    /// Disable a user.
    Disable {
        /// User name.
        name: String,
    },
}

#[derive(Subcommand)]
enum RpCommand {
    /// Add a relying party and print its new API key (one line).
    Add {
        /// Relying-party name.
        name: String,
    },
    /// List relying parties.
    List,
}

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Secrets(#[from] nyckel_server::secrets::SecretsError),
    #[error("--kek-file (or $NYCKEL_KEK_FILE) names the file to create")]
    NoKekPath,
    #[error("the audit log does not verify: {0} finding(s)")]
    AuditBroken(usize),
}

fn kek(cli: &Cli) -> Result<Kek, CliError> {
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|v| !v.is_empty()).map(PathBuf::from);
    Ok(Kek::locate(cli.kek_file.as_deref(), credentials.as_deref(), &cli.data_dir)?)
}

fn serve(config: ServerConfig, listen: &str) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| CliError::Bind { addr: listen.to_owned(), source })?;
        let server = nyckel_server::Server::open(listener, config).await?;
        let addr = server.local_addr()?;
        let mut out = std::io::stdout().lock();
        // Tests and scripts wait for exactly this line; a closed stdout must not stop the server.
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
        drop(out);
        // SIGTERM (systemd, orchestrators) or Ctrl-C: a graceful shutdown.
        let stop = async {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(e) => {
                        tracing::error!("cannot listen for SIGTERM: {e}");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                _ = terminate => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        server.run_until(stop).await.map_err(CliError::from)
    })
}

fn run(cli: Cli) -> Result<(), CliError> {
    let dir = &cli.data_dir.clone();
    match &cli.command {
        Command::Serve {
            listen,
            public_url,
            key_rate,
            address_rate,
            trusted_proxies,
            header_read_timeout,
            database_pool,
        } => {
            let limits = nyckel_server::limits::Limits {
                per_key: nyckel_server::limits::Rate { per_second: *key_rate, burst: key_rate.saturating_mul(4) },
                per_address: nyckel_server::limits::Rate {
                    per_second: *address_rate,
                    burst: address_rate.saturating_mul(5),
                },
            };
            let config = ServerConfig {
                public_url: public_url.clone(),
                kek_file: cli.kek_file.clone(),
                limits,
                trusted_proxies: trusted_proxies.clone(),
                database: cli.database_url.clone().map(|url| nyckel_server::store::PgSettings {
                    max_connections: *database_pool,
                    ..nyckel_server::store::PgSettings::new(url)
                }),
                header_read_timeout: std::time::Duration::from_secs(*header_read_timeout),
                ..ServerConfig::new(dir)
            };
            serve(config, listen)
        }
        Command::Tenant { command: TenantCommand::Add { name, display_name } } => {
            admin::add_tenant(dir, name, display_name)?;
            println!("tenant {name} added");
            Ok(())
        }
        Command::Tenant { command: TenantCommand::List } => {
            for tenant in admin::list_tenants(dir)? {
                println!("{}\t{}", tenant.name, tenant.display_name);
            }
            Ok(())
        }
        Command::User { tenant, command: UserCommand::Add { name } } => {
            admin::add_user(dir, tenant, name)?;
            println!("user {name} added to {tenant}");
            Ok(())
        }
        Command::User { tenant, command: UserCommand::List } => {
            for user in admin::list_users(dir, tenant)? {
                println!("{}\t{}", user.name, if user.disabled { "disabled" } else { "active" });
            }
            Ok(())
        }
        Command::User { tenant, command: UserCommand::Disable { name } } => {
            admin::disable_user(dir, tenant, name)?;
            println!("user {name} disabled");
            Ok(())
        }
        Command::Rp { tenant, command: RpCommand::Add { name } } => {
            let key = admin::add_relying_party(dir, tenant, name)?;
            println!("{}", *key);
            Ok(())
        }
        Command::Rp { tenant, command: RpCommand::List } => {
            for rp in admin::list_relying_parties(dir)?.into_iter().filter(|rp| rp.tenant == *tenant) {
                println!("{}", rp.name);
            }
            Ok(())
        }
        Command::Admin { tenant, command: AdminCommand::Add { name } } => {
            let token = admin::add_tenant_admin(dir, tenant, name)?;
            println!("{}", *token);
            Ok(())
        }
        Command::AdminToken => {
            println!("{}", *admin::admin_token(dir, &kek(&cli)?)?);
            Ok(())
        }
        Command::KekCreate => {
            let path = cli.kek_file.as_deref().ok_or(CliError::NoKekPath)?;
            Kek::create_file(path, dir)?;
            println!("key-encryption key written to {}", path.display());
            Ok(())
        }
        Command::Key { command: KeyCommand::Rotate } => {
            let statement = admin::rotate_signing_key(dir, &kek(&cli)?)?;
            println!("new signing key {} (restart the server to use it)", statement.new_key.key_id());
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let report = admin::verify_audit(dir, &kek(&cli)?)?;
            for finding in &report.findings {
                println!("{finding}");
            }
            if report.is_intact() {
                println!("audit log intact: {} events, last {:?}", report.events, report.last_seq);
                Ok(())
            } else {
                Err(CliError::AuditBroken(report.findings.len()))
            }
        }
    }
}

/// Puts the `NYCKEL_…=value` lines of the settings file (named by `--config FILE` or
/// `$NYCKEL_CONFIG`) into the environment where nothing is set yet, before the command line is
/// parsed, so every setting can come from the file. Blank lines and `#` comments are skipped.
fn load_config_file() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args.iter().position(|a| a == "--config").and_then(|i| args.get(i + 1)).cloned();
    let from_flag = args.iter().find_map(|a| a.strip_prefix("--config=").map(str::to_owned));
    let Some(path) = from_args.or(from_flag).or_else(|| std::env::var("NYCKEL_CONFIG").ok()) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read the settings file {path}: {e}"))?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("{path}:{}: expected NYCKEL_NAME=value", n + 1));
        };
        let (key, value) = (key.trim(), value.trim().trim_matches('"'));
        if !key.starts_with("NYCKEL_") || key == "NYCKEL_CONFIG" {
            return Err(format!("{path}:{}: {key:?} is not a Nyckel setting", n + 1));
        }
        if std::env::var_os(key).is_none() {
            // Single-threaded here: nothing else reads the environment yet.
            std::env::set_var(key, value);
        }
    }
    Ok(())
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NYCKEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr: stdout's first line is the "listening on" line scripts wait for.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn main() -> ExitCode {
    if let Err(e) = load_config_file() {
        eprintln!("nyckel-server: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    if let Some(url) = &cli.database_url {
        // The offline commands (`nyckel_server::admin`) read the database from here, so
        // `--database-url` reaches them too. Still single-threaded.
        std::env::set_var("NYCKEL_DATABASE_URL", url);
    }
    init_logs(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nyckel-server: {e}");
            ExitCode::FAILURE
        }
    }
}
