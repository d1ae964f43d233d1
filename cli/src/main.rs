//! `nyckel`: the desktop authenticator on the Nyckel core.

mod args;
mod commands;
mod companion;
mod error;
mod new_phone;
mod providers;
mod scan;
mod secrets;
mod select;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nyckel: {error}");
            ExitCode::FAILURE
        }
    }
}
