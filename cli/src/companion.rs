//! The phone commands: register, approve, otp, pin, history and devices, on the core's companion.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;

use nyckel_core::{
    ApprovalListener, Clock, Companion, CompanionError, CompanionSettings, FixedClock, PendingApproval, PollConfig,
    ReceiptStatus, RegistrationSummary, SystemClock, VaultDeviceKeyStore,
};
use nyckel_protocol::{ChallengeDisplay, ChallengeState, NumberPrompt};

use crate::args::{CodeArgs, Global};
use crate::error::CliError;
use crate::providers::CodeKind as ProviderKind;
use crate::secrets;

/// What `approve` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
    Fraud,
}

pub struct ApproveOptions {
    pub watch: bool,
    pub count: Option<usize>,
    pub decision: Decision,
    /// The decline reason privacyIDEA gets with `--deny`.
    pub reason: Option<nyckel_core::privacyidea::DeclineReason>,
    pub wait: u64,
    pub registration: Option<String>,
    /// A scanned tiqr login code to answer with the others.
    pub login: Option<String>,
}

pub(crate) fn companion(path: &Path, global: &Global) -> Result<Arc<Companion>, CliError> {
    let vault = Arc::new(crate::commands::open(path)?);
    let keys = Arc::new(VaultDeviceKeyStore::new(vault.clone()));
    let clock: Arc<dyn Clock> = match global.time {
        Some(time) => Arc::new(FixedClock(time)),
        None => Arc::new(SystemClock),
    };
    let settings = CompanionSettings::new(format!("Nyckel CLI on {}", std::env::consts::OS));
    Ok(Arc::new(Companion::new(vault, keys, clock, settings)?))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    // Two workers: the poller keeps running while the main thread waits at a prompt.
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(CliError::Runtime)
}

/// The code's text: the argument, or the Nyckel code found in the image.
pub(crate) fn code_text(code: &CodeArgs) -> Result<String, CliError> {
    if let Some(payload) = &code.payload {
        return Ok(payload.clone());
    }
    let Some(path) = &code.qr else {
        return Err(CliError::Input("give a nyckel:// code or --qr IMAGE".into()));
    };
    let scan_error = |reason: String| CliError::Scan { path: path.clone(), reason };
    let bytes = std::fs::read(path).map_err(|source| CliError::Io { path: path.clone(), source })?;
    let codes = nyckel_core::qr::scan_image(&bytes).map_err(|error| scan_error(error.to_string()))?;
    codes
        .into_iter()
        .filter_map(|code| code.text)
        .find(|text| crate::providers::code_kind(text).is_some())
        .ok_or_else(|| scan_error("no Nyckel, privacyIDEA or tiqr QR code found in the image".into()))
}

pub fn register(path: &Path, global: &Global, code: &CodeArgs) -> Result<(), CliError> {
    let payload = code_text(code)?;
    let companion = companion(path, global)?;
    match crate::providers::code_kind(&payload) {
        Some(kind @ (ProviderKind::PrivacyideaPush | ProviderKind::TiqrEnroll | ProviderKind::Otpauth)) => {
            return crate::providers::register(&companion, &payload, kind)
        }
        Some(ProviderKind::TiqrAuth) => {
            return Err(CliError::Input("a tiqr login code: answer it with `nyckel approve CODE`".into()))
        }
        _ => {}
    }
    // Read the code first, so a wrong code is reported before the PIN is asked.
    nyckel_core::registration::parse_enrollment(&payload).map_err(CompanionError::from)?;
    let pin = secrets::pin(true)?;
    let summary = runtime()?.block_on(companion.register(&payload, &pin))?;
    // What the server signed (user, organisation) and the host the phone talked to; the QR
    // label is unsigned and only printed as a note.
    println!("registered {} as {:?}", summary.id, summary.device_name);
    println!("  user:         {}", summary.user);
    println!("  organisation: {}", summary.organisation);
    println!("  server:       {} ({})", summary.server_host, summary.server_url);
    println!("  device code:  {}  (check that the browser shows the same)", summary.device_fingerprint);
    if let Some(label) = &summary.label {
        println!("  label:        {label} (from the QR code, not signed)");
    }
    Ok(())
}

pub fn approve(path: &Path, global: &Global, options: ApproveOptions) -> Result<(), CliError> {
    let companion = companion(path, global)?;
    let tokens = companion.provider_tokens()?;
    let filter = options.registration.as_deref();
    // Nyckel registrations, unless the filter names a privacyIDEA or tiqr token.
    let registrations = match filter {
        Some(query) if nyckel_core::is_provider_token_id(query) => Vec::new(),
        _ if tokens.is_empty() || filter.is_some() => selected(&companion, filter)?,
        _ => companion.registrations()?,
    };
    if let Some(login) = &options.login {
        companion.scan_login_code(login)?;
    }
    let runtime = runtime()?;
    if options.watch {
        return runtime.block_on(watch(companion, registrations, &options));
    }
    runtime.block_on(async {
        crate::providers::poll_all(&companion, filter.filter(|query| nyckel_core::is_provider_token_id(query))).await?;
        let mut found = Vec::new();
        for registration in &registrations {
            let outcome = companion.poll_once(&registration.id, options.wait).await?;
            for rejection in outcome.rejected {
                if !matches!(rejection, nyckel_core::approvals::ChallengeRejection::AlreadySeen { .. }) {
                    eprintln!("nyckel: warning: {}: refused a request: {rejection}", registration.name);
                }
            }
            found.extend(outcome.new);
        }
        let others = companion.provider_requests();
        if found.is_empty() && others.is_empty() {
            println!("no pending requests");
        }
        for pending in found {
            answer(&companion, &pending, options.decision).await?;
        }
        for request in others {
            crate::providers::answer(&companion, &request, options.decision, options.reason).await?;
        }
        Ok(())
    })
}

/// What the poller hands to `approve --watch`.
enum Event {
    Nyckel(PendingApproval),
    Provider(nyckel_core::ProviderRequest),
    Error(String),
}

/// Forwards what the poller finds to the main loop.
struct Forward(tokio::sync::mpsc::UnboundedSender<Event>);

impl ApprovalListener for Forward {
    fn on_challenge(&self, challenge: PendingApproval) {
        let _ = self.0.send(Event::Nyckel(challenge));
    }

    fn on_error(&self, _registration_id: Option<String>, error: CompanionError) {
        let _ = self.0.send(Event::Error(error.to_string()));
    }

    fn on_provider_request(&self, request: nyckel_core::ProviderRequest) {
        let _ = self.0.send(Event::Provider(request));
    }
}

async fn watch(
    companion: Arc<Companion>,
    registrations: Vec<RegistrationSummary>,
    options: &ApproveOptions,
) -> Result<(), CliError> {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let handle = companion.start_polling(Arc::new(Forward(sender)), PollConfig::default())?;
    eprintln!(
        "watching {} registration(s) and {} privacyIDEA/tiqr token(s) for requests; Ctrl-C to stop",
        registrations.len(),
        companion.provider_tokens()?.len()
    );
    let mut answered = 0;
    // A scanned tiqr login code is answered first.
    let mut scanned = companion.provider_requests().into_iter();
    loop {
        let event = match scanned.next() {
            Some(request) => Event::Provider(request),
            None => match receiver.recv().await {
                Some(event) => event,
                None => break,
            },
        };
        // One failed answer (a wrong PIN, a mismatch) does not end the watch.
        let result = match event {
            Event::Nyckel(pending)
                if registrations.iter().any(|registration| registration.id == pending.registration_id) =>
            {
                answer(&companion, &pending, options.decision).await
            }
            Event::Provider(request)
                if options.registration.as_deref().is_none_or(|query| request.token_id.starts_with(query)) =>
            {
                crate::providers::answer(&companion, &request, options.decision, options.reason).await
            }
            Event::Nyckel(_) | Event::Provider(_) => continue,
            Event::Error(message) => {
                eprintln!("nyckel: warning: {message}");
                continue;
            }
        };
        if let Err(error) = result {
            eprintln!("nyckel: {error}");
        }
        answered += 1;
        if options.count.is_some_and(|count| answered >= count) {
            break;
        }
    }
    handle.shutdown().await;
    Ok(())
}

async fn answer(companion: &Companion, pending: &PendingApproval, decision: Decision) -> Result<(), CliError> {
    print_request(pending);
    let state = match decision {
        Decision::Deny => companion.deny(&pending.registration_id, &pending.challenge_id).await?,
        Decision::Fraud => companion.report_fraud(&pending.registration_id, &pending.challenge_id).await?,
        Decision::Approve => {
            let number = match &pending.display.number_match {
                Some(prompt) => Some(read_number(prompt)?),
                None => None,
            };
            let pin = secrets::pin(false)?;
            companion.approve(&pending.registration_id, &pending.challenge_id, &pin, number.as_deref()).await?
        }
    };
    println!("{}", state_word(state));
    Ok(())
}

fn state_word(state: ChallengeState) -> &'static str {
    match state {
        ChallengeState::Pending => "pending",
        ChallengeState::Approved => "approved",
        ChallengeState::Denied => "denied",
        ChallengeState::Fraud => "reported as fraud",
        ChallengeState::Expired => "expired",
        ChallengeState::Blocked => "blocked",
    }
}

/// The number from $NYCKEL_NUMBER, else typed at the prompt.
fn read_number(prompt: &NumberPrompt) -> Result<String, CliError> {
    if let Ok(number) = std::env::var("NYCKEL_NUMBER") {
        return Ok(number.trim().to_owned());
    }
    print!("Number shown in your browser: ");
    std::io::stdout().flush().map_err(|error| CliError::Input(format!("cannot write the prompt: {error}")))?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|error| CliError::Input(format!("cannot read: {error}")))?;
    let number = line.trim().to_owned();
    if !prompt.accepts_form(&number) {
        return Err(CliError::Input(format!("{number:?} is not one of the numbers offered")));
    }
    Ok(number)
}

/// Prints everything the request shows, verbatim: the phone must show exactly what is signed.
fn print_request(pending: &PendingApproval) {
    println!("Request {} for {}", pending.challenge_id, pending.registration_name);
    if let Some(new) = &pending.new_device {
        // Not a sign-in: approving registers another phone for this user.
        println!("  ADD A NEW PHONE to this account: approve only if it is yours and in your hand");
        println!("  Device name: {}", new.name);
        println!("  Platform:    {}", new.platform);
        println!("  Fingerprint: {}  (the new phone shows the same)", new.fingerprint);
        println!("  Expires:     {}", utc(pending.expires_at));
        println!("  Number:      type the 2-digit number the NEW PHONE shows");
        return;
    }
    print_display(&pending.display);
    println!("  Expires:     {}", utc(pending.expires_at));
    match &pending.display.number_match {
        Some(NumberPrompt::Choose { choices }) => {
            println!("  Number:      pick the one your browser shows: {}", choices.join("  "))
        }
        Some(NumberPrompt::Type { digits }) => {
            println!("  Number:      type the {digits}-digit number your browser shows")
        }
        None => {}
    }
}

fn print_display(display: &ChallengeDisplay) {
    let context = &display.context;
    println!("  Service:     {}", context.service);
    println!("  Action:      {}", context.action);
    if let Some(browser) = &context.browser {
        println!("  Browser:     {browser}");
    }
    if let Some(ip) = &context.ip {
        println!("  IP address:  {ip}");
    }
    if let Some(place) = &context.place {
        println!("  Place:       {place}");
    }
    if let Some(time) = context.time {
        println!("  Time:        {}", utc(time));
    }
    if !display.transaction.is_empty() {
        println!("  Transaction details:");
        for line in &display.transaction {
            println!("    {}: {}", line.key, line.value);
        }
    }
}

pub fn otp(path: &Path, global: &Global, code: &CodeArgs, registration: Option<&str>) -> Result<(), CliError> {
    let payload = code_text(code)?;
    let companion = companion(path, global)?;
    if crate::providers::code_kind(&payload) == Some(ProviderKind::TiqrAuth) {
        return crate::providers::tiqr_offline(&companion, &payload);
    }
    let prompt = companion.read_otp_code(&payload)?;
    let registration = match registration {
        Some(query) => Some(pick(&prompt.registrations, query)?.id.clone()),
        None => None,
    };
    let kind = match prompt.kind {
        nyckel_protocol::OtpKind::Login => "Sign-in",
        nyckel_protocol::OtpKind::Transaction => "Transaction",
    };
    println!("{kind} code {}", prompt.challenge_id);
    print_display(&prompt.display);
    if registration.is_none() && prompt.registrations.len() > 1 {
        let names: Vec<String> = prompt
            .registrations
            .iter()
            .map(|registration| format!("{} ({})", registration.id, registration.name))
            .collect();
        return Err(CliError::Input(format!(
            "several registrations can answer this code: {}; choose one with --registration ID",
            names.join(", ")
        )));
    }
    let pin = secrets::pin(false)?;
    let otp = companion.qr_otp(&payload, registration.as_deref(), &pin)?;
    println!("One-time password: {otp}");
    Ok(())
}

/// `nyckel pin`: the current PIN, then the new one twice; the core proves the current one to
/// the server before storing anything.
pub fn change_pin(path: &Path, global: &Global, registration: Option<&str>) -> Result<(), CliError> {
    let companion = companion(path, global)?;
    let registrations = selected(&companion, registration)?;
    let [registration] = &registrations[..] else {
        let ids: Vec<String> =
            registrations.iter().map(|registration| format!("{} ({})", registration.id, registration.name)).collect();
        return Err(CliError::Input(format!(
            "several registrations: {}; name the one whose PIN to change",
            ids.join(", ")
        )));
    };
    println!("Changing the PIN of {} ({})", registration.name, registration.id);
    let current = secrets::current_pin()?;
    let new = secrets::new_pin()?;
    runtime()?.block_on(companion.change_pin(&registration.id, &current, &new))?;
    println!("PIN changed for {} (a new secret was agreed with the server)", registration.name);
    Ok(())
}

pub fn devices(path: &Path, global: &Global) -> Result<(), CliError> {
    let companion = companion(path, global)?;
    let registrations = companion.registrations()?;
    let tokens = crate::providers::list_tokens(&companion)?;
    if registrations.is_empty() {
        if tokens == 0 {
            println!("no registrations");
        }
        return Ok(());
    }
    let runtime = runtime()?;
    for registration in registrations {
        println!("{}  {}", registration.id, registration.name);
        println!("  server:      {} (key {})", registration.server_url, registration.server_key_id);
        println!("  user:        {} @ {}", registration.user, registration.organisation);
        println!(
            "  device:      {} ({}, code {})",
            registration.device_name, registration.device_id, registration.device_fingerprint
        );
        println!("  registered:  {}", utc(registration.created_at));
        match runtime.block_on(companion.device_info(&registration.id)) {
            Ok(info) => {
                let state = match info.state {
                    nyckel_protocol::wire::devices::DeviceState::Active => "active",
                    nyckel_protocol::wire::devices::DeviceState::Blocked => "blocked",
                    nyckel_protocol::wire::devices::DeviceState::Inactive => "inactive",
                };
                println!(
                    "  at server:   {state}, {} wrong PIN(s), last used {}",
                    info.pin_failures,
                    utc(info.last_used_at)
                );
            }
            Err(error) => println!("  at server:   unavailable ({error})"),
        }
    }
    Ok(())
}

/// `nyckel history [REGISTRATION] [--check]`.
pub fn history(path: &Path, global: &Global, registration: Option<&str>, check: bool) -> Result<(), CliError> {
    let companion = companion(path, global)?;
    let chosen = match registration {
        Some(query) => Some(pick(&companion.registrations()?, query)?.id.clone()),
        None => None,
    };
    let entries = companion.history(chosen.as_deref())?;
    if entries.is_empty() {
        println!("no history");
    }
    for entry in &entries {
        let r = &entry.record;
        let receipt = match r.receipt {
            ReceiptStatus::Verified { .. } => "receipt ✓",
            ReceiptStatus::Invalid => "receipt ✗ (did not verify)",
            ReceiptStatus::Absent => "",
        };
        println!(
            "{:>4}  {}  {}  {} — {}  {}  {}  {receipt}",
            entry.seq,
            utc(r.at),
            r.server,
            r.service,
            r.action,
            r.decision.as_str(),
            r.result.as_text()
        );
    }
    if !check {
        return Ok(());
    }
    let targets = match chosen {
        Some(id) => vec![id],
        None => companion.registrations()?.into_iter().map(|registration| registration.id).collect(),
    };
    let runtime = runtime()?;
    let mut problems = 0usize;
    let mut chain_reported = false;
    for id in targets {
        let result = runtime.block_on(companion.check_history(&id))?;
        // The chain is one for the whole history: report its findings once.
        if !chain_reported {
            for finding in &result.findings {
                println!("chain: {finding}");
            }
            problems += result.findings.len();
            chain_reported = true;
        }
        for disagreement in &result.disagreements {
            println!("{id}: {disagreement}");
        }
        problems += result.disagreements.len();
        println!(
            "{id}: {} entries, {} audit events from the server, {} disagreement(s)",
            result.entries,
            result.audit_events,
            result.disagreements.len()
        );
    }
    if problems > 0 {
        return Err(CliError::HistoryDisagrees(problems));
    }
    println!("the history is intact and agrees with the server's audit");
    Ok(())
}

/// Registrations selected by `--registration` (an id or a unique prefix), else all of them.
fn selected(companion: &Companion, query: Option<&str>) -> Result<Vec<RegistrationSummary>, CliError> {
    let all = companion.registrations()?;
    if all.is_empty() {
        return Err(CliError::Input("no registrations: run `nyckel register` first".into()));
    }
    match query {
        Some(query) => Ok(vec![pick(&all, query)?.clone()]),
        None => Ok(all),
    }
}

pub(crate) fn pick<'a>(
    registrations: &'a [RegistrationSummary],
    query: &str,
) -> Result<&'a RegistrationSummary, CliError> {
    if let Some(exact) = registrations.iter().find(|registration| registration.id == query) {
        return Ok(exact);
    }
    match registrations.iter().filter(|registration| registration.id.starts_with(query)).collect::<Vec<_>>()[..] {
        [one] => Ok(one),
        [] => Err(CliError::Input(format!("no registration {query:?}"))),
        _ => Err(CliError::Input(format!("{query:?} matches several registrations; give more of the id"))),
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time (proleptic Gregorian calendar).
pub(crate) fn utc(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(i64::MAX / 2);
    let seconds = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", seconds / 3600, seconds % 3600 / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }
}
