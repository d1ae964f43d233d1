//! Kill a vault writer with SIGKILL at random moments, reopen, and check that nothing
//! acknowledged was lost and nothing is corrupt.
//!
//! The writer prints `add N` after account `soak-N` is stored and `counter C` after the HOTP
//! counter of `soak-counter` reached `C`; a line is printed only after the vault call returned,
//! which is after the write was flushed. The campaign kills it after a random number of such
//! acknowledgements plus a random busy wait, so kills land anywhere in a write.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nyckel_core::{parse_otpauth, KdfParams, OtpKind, PassphraseKeyStore, Vault, VaultError};
use rand::Rng;
use zeroize::Zeroizing;

const PASSPHRASE: &str = "durability";
/// Cheap KDF: the campaign opens the vault thousands of times; the cost of the KDF is not what is tested.
const KDF: KdfParams = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };
const COUNTER_ACCOUNT: &str = "soak-counter";

/// What a campaign did and found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Writer processes killed with SIGKILL.
    pub kills: u64,
    /// Writes the writer acknowledged.
    pub acknowledged: u64,
    /// Times the vault was reopened and checked after a kill.
    pub verified_opens: u64,
    /// Acknowledged writes missing after a kill (must stay 0).
    pub lost: u64,
    /// Opens or records that failed to decrypt or parse (must stay 0).
    pub corrupt: u64,
}

/// Why a campaign could not run or found a fault.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// Starting or talking to the writer failed.
    #[error("writer process: {0}")]
    Io(#[from] std::io::Error),
    /// The vault failed to open or verify after a kill.
    #[error("after kill {kill}: {error}")]
    Vault {
        /// Which kill preceded the failure.
        kill: u64,
        /// The vault's error.
        error: VaultError,
    },
    /// Acknowledged data was missing.
    #[error("after kill {kill}: {what}")]
    Lost {
        /// Which kill preceded the loss.
        kill: u64,
        /// What was missing.
        what: String,
    },
    /// The writer printed something unexpected or died on its own.
    #[error("writer misbehaved: {0}")]
    Writer(String),
}

fn key_store() -> PassphraseKeyStore {
    PassphraseKeyStore::new(Zeroizing::new(PASSPHRASE.into()), KDF)
}

/// The child side: opens (or creates) the vault and writes forever, acknowledging each write.
pub fn run_writer(path: &Path) -> Result<(), VaultError> {
    let store = key_store();
    let vault = Vault::open_or_create(path, &store)?;
    let entries = vault.list()?;
    let counter_id = match entries.iter().find(|entry| entry.account.name == COUNTER_ACCOUNT) {
        Some(entry) => entry.id,
        None => vault.add(account(COUNTER_ACCOUNT, "hotp", "&counter=0"))?,
    };
    let mut next = entries.iter().filter_map(|entry| soak_index(&entry.account.name)).max().map_or(1, |max| max + 1);
    let stdout = std::io::stdout();
    loop {
        vault.add(account(&format!("soak-{next}"), "totp", ""))?;
        // A closed pipe means the campaign is over; stop quietly.
        if writeln!(stdout.lock(), "add {next}").is_err() {
            return Ok(());
        }
        vault.next_hotp_code(counter_id)?;
        let OtpKind::Hotp { counter } = vault.get(counter_id)?.params.kind else {
            return Err(VaultError::NotHotp(counter_id));
        };
        if writeln!(stdout.lock(), "counter {counter}").is_err() {
            return Ok(());
        }
        next += 1;
    }
}

fn account(name: &str, kind: &str, extra: &str) -> nyckel_core::Account {
    let uri = format!("otpauth://{kind}/Soak:{name}?secret=JBSWY3DPEHPK3PXP{extra}");
    // Built from constants above: a failure here is a bug in this file, not outside input.
    parse_otpauth(&uri).expect("soak URIs are well formed")
}

fn soak_index(name: &str) -> Option<u64> {
    name.strip_prefix("soak-")?.parse().ok()
}

/// The parent side: kills writers until `kills` kills were made or `writes` writes were
/// acknowledged (whichever the caller sets as the goal), verifying the vault after every kill.
pub struct Campaign {
    /// The `nyckel-soak` binary to run as `nyckel-soak writer <path>`.
    pub writer: PathBuf,
    /// The vault directory.
    pub vault: PathBuf,
    /// Stop after this many kills.
    pub kills: u64,
    /// Stop after this many acknowledged writes.
    pub writes: u64,
}

impl Campaign {
    /// Runs the campaign; `progress` is called after every verified kill.
    pub fn run(&self, mut progress: impl FnMut(&Report)) -> Result<Report, CampaignError> {
        let mut report = Report::default();
        let mut acked_adds: Vec<u64> = Vec::new();
        let mut acked_counter = 0u64;
        let mut rng = rand::thread_rng();
        while report.kills < self.kills && report.acknowledged < self.writes {
            let mut child = self.spawn()?;
            let stdout = child.stdout.take().ok_or_else(|| CampaignError::Writer("no stdout".into()))?;
            let mut lines = BufReader::new(stdout).lines();
            let wanted = rng.gen_range(0..=3u32);
            for _ in 0..wanted {
                let Some(line) = lines.next() else { break };
                let line = line?;
                match line.split_once(' ') {
                    Some(("add", n)) => acked_adds.push(parse(n)?),
                    Some(("counter", c)) => acked_counter = acked_counter.max(parse(c)?),
                    _ => return Err(CampaignError::Writer(line)),
                }
                report.acknowledged += 1;
            }
            busy_wait(Duration::from_micros(rng.gen_range(0..3000)));
            kill(&mut child)?;
            report.kills += 1;
            self.verify(&acked_adds, acked_counter, report.kills, &mut report)?;
            report.verified_opens += 1;
            progress(&report);
        }
        Ok(report)
    }

    fn spawn(&self) -> Result<Child, CampaignError> {
        Ok(Command::new(&self.writer)
            .arg("writer")
            .arg(&self.vault)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?)
    }

    fn verify(&self, adds: &[u64], counter: u64, kill: u64, report: &mut Report) -> Result<(), CampaignError> {
        if !Vault::exists(&self.vault) {
            // Killed before the vault was first created: nothing was acknowledged yet.
            return if adds.is_empty() { Ok(()) } else { Err(CampaignError::Lost { kill, what: "the vault".into() }) };
        }
        let vault = Vault::open(&self.vault, &key_store());
        let vault = match vault {
            Err(VaultError::NotInitialized(_)) if adds.is_empty() => return Ok(()),
            other => other,
        }
        .map_err(|error| {
            report.corrupt += 1;
            CampaignError::Vault { kill, error }
        })?;
        let entries = vault.list().map_err(|error| {
            report.corrupt += 1;
            CampaignError::Vault { kill, error }
        })?;
        let present: std::collections::HashSet<u64> =
            entries.iter().filter_map(|entry| soak_index(&entry.account.name)).collect();
        if let Some(missing) = adds.iter().find(|n| !present.contains(n)) {
            report.lost += 1;
            return Err(CampaignError::Lost { kill, what: format!("acknowledged account soak-{missing}") });
        }
        let stored_counter =
            entries.iter().find(|entry| entry.account.name == COUNTER_ACCOUNT).map(|entry| {
                match entry.account.params.kind {
                    OtpKind::Hotp { counter } => counter,
                    _ => 0,
                }
            });
        if counter > 0 && stored_counter.unwrap_or(0) < counter {
            report.lost += 1;
            return Err(CampaignError::Lost {
                kill,
                what: format!("HOTP counter {stored_counter:?} is behind the acknowledged {counter}"),
            });
        }
        Ok(())
    }
}

fn parse(text: &str) -> Result<u64, CampaignError> {
    text.parse().map_err(|_| CampaignError::Writer(format!("bad number {text:?}")))
}

/// Spins rather than sleeps: the point is to land the kill at an arbitrary instruction.
fn busy_wait(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

fn kill(child: &mut Child) -> Result<(), CampaignError> {
    let pid = libc::pid_t::try_from(child.id()).map_err(|_| CampaignError::Writer("pid out of range".into()))?;
    // SAFETY: kill(2) on our own child's pid; the child is not yet reaped, so the pid is still ours.
    let result = unsafe { libc::kill(pid, libc::SIGKILL) };
    if result != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    child.wait()?;
    Ok(())
}
