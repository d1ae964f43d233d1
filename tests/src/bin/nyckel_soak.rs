//! `nyckel-soak`: the vault kill-durability campaign.
//!
//! `nyckel-soak [--kills N] [--vault DIR]` kills a writer N times (default 1000) and prints the
//! counts; `nyckel-soak writer DIR` is the writer it runs.

use std::path::PathBuf;
use std::process::ExitCode;

use nyckel_tests::durability::{run_writer, Campaign};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("writer") {
        let Some(path) = args.get(1) else {
            eprintln!("usage: nyckel-soak writer <vault-dir>");
            return ExitCode::from(2);
        };
        return match run_writer(&PathBuf::from(path)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("nyckel-soak writer: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let mut kills = 1000u64;
    let mut vault: Option<PathBuf> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match (arg.as_str(), rest.next()) {
            ("--kills", Some(value)) if value.parse::<u64>().is_ok() => kills = value.parse().unwrap_or(kills),
            ("--vault", Some(value)) => vault = Some(PathBuf::from(value)),
            _ => {
                eprintln!("usage: nyckel-soak [--kills N] [--vault DIR] | nyckel-soak writer DIR");
                return ExitCode::from(2);
            }
        }
    }
    let scratch = match vault {
        Some(_) => None,
        None => match tempfile_dir() {
            Ok(dir) => Some(dir),
            Err(error) => {
                eprintln!("nyckel-soak: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let vault = vault.or_else(|| scratch.clone().map(|dir| dir.join("vault"))).unwrap_or_default();
    let writer = match std::env::current_exe() {
        Ok(path) => path,
        Err(error) => {
            eprintln!("nyckel-soak: {error}");
            return ExitCode::FAILURE;
        }
    };
    let campaign = Campaign { writer, vault, kills, writes: u64::MAX };
    let result = campaign.run(|report| {
        if report.kills % 100 == 0 {
            eprintln!("… {} kills, {} writes acknowledged", report.kills, report.acknowledged);
        }
    });
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
        Ok(report) => {
            println!("kills: {}", report.kills);
            println!("acknowledged writes: {}", report.acknowledged);
            println!("verified reopenings: {}", report.verified_opens);
            println!("lost acknowledged writes: {}", report.lost);
            println!("corrupt opens or records: {}", report.corrupt);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("nyckel-soak: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("nyckel-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
