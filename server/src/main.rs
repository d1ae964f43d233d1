//! `nyckel-server`: run the server, and administer users, relying parties and the admin token.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nyckel_server::{admin, ServerConfig, ServerError};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(name = "nyckel-server", version, about = "The Nyckel second-factor server")]
struct Cli {
    /// Directory of the database and key files.
    #[arg(long, global = true, default_value = "./nyckel-data", env = "NYCKEL_DATA_DIR")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (first stdout line: `listening on http://ADDR`).
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Base URL phones use, when not `http://<listen address>`.
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Manage users (server must be stopped).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage relying parties (server must be stopped).
    Rp {
        #[command(subcommand)]
        command: RpCommand,
    },
    /// Print the admin token, creating it on first use.
    AdminToken,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password comes from $NYCKEL_USER_PASSWORD or is asked twice.
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
    #[error("cannot read the password: {0}")]
    Prompt(std::io::Error),
    #[error("the two passwords differ")]
    Mismatch,
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

fn password() -> Result<Zeroizing<String>, CliError> {
    if let Ok(p) = std::env::var("NYCKEL_USER_PASSWORD") {
        return Ok(Zeroizing::new(p));
    }
    let first = Zeroizing::new(rpassword::prompt_password("Password: ").map_err(CliError::Prompt)?);
    let second = Zeroizing::new(rpassword::prompt_password("Password again: ").map_err(CliError::Prompt)?);
    if *first != *second {
        return Err(CliError::Mismatch);
    }
    Ok(first)
}

fn serve(data_dir: &Path, listen: &str, public_url: Option<String>) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::Runtime)?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| CliError::Bind { addr: listen.to_owned(), source })?;
        let config = ServerConfig { public_url, ..ServerConfig::new(data_dir) };
        let server = nyckel_server::Server::open(listener, config)?;
        let addr = server.local_addr()?;
        let mut out = std::io::stdout().lock();
        // Tests and scripts wait for exactly this line; a closed stdout must not stop the server.
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
        drop(out);
        tokio::select! {
            result = server.run() => result.map_err(CliError::from),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

fn run(cli: Cli) -> Result<(), CliError> {
    let dir = &cli.data_dir;
    match cli.command {
        Command::Serve { listen, public_url } => serve(dir, &listen, public_url),
        Command::User { command: UserCommand::Add { name } } => {
            let pw = password()?;
            admin::add_user(dir, &name, &pw)?;
            println!("user {name} added");
            Ok(())
        }
        Command::User { command: UserCommand::List } => {
            for user in admin::list_users(dir)? {
                println!("{}\t{}", user.name, if user.disabled { "disabled" } else { "active" });
            }
            Ok(())
        }
        Command::User { command: UserCommand::Disable { name } } => {
            admin::disable_user(dir, &name)?;
            println!("user {name} disabled");
            Ok(())
        }
        Command::Rp { command: RpCommand::Add { name } } => {
            let key = admin::add_relying_party(dir, &name)?;
            println!("{}", *key);
            Ok(())
        }
        Command::Rp { command: RpCommand::List } => {
            for rp in admin::list_relying_parties(dir)? {
                println!("{}", rp.name);
            }
            Ok(())
        }
        Command::AdminToken => {
            println!("{}", *admin::admin_token(dir)?);
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nyckel-server: {e}");
            ExitCode::FAILURE
        }
    }
}
