//! The commands of adding a phone by approval and retiring devices: `add-phone`,
//! `register --from-device`, `devices list` and `devices retire` (PROTOCOL.md §6.5).

use std::path::Path;

use nyckel_core::{CompanionError, DeviceEnrollmentProgress, RegistrationSummary};
use nyckel_protocol::wire::devices::DeviceState;
use nyckel_protocol::DeviceId;

use crate::args::{CodeArgs, Global};
use crate::companion::{code_text, companion, pick, runtime, utc};
use crate::error::CliError;
use crate::secrets;

/// The one registration `query` selects, or the only one.
fn one(registrations: &[RegistrationSummary], query: Option<&str>) -> Result<RegistrationSummary, CliError> {
    match (query, registrations) {
        (Some(query), _) => Ok(pick(registrations, query)?.clone()),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(CliError::Input("no registrations: run `nyckel register` first".into())),
        (None, _) => Err(CliError::Input("several registrations: choose one with --registration ID".into())),
    }
}

/// `nyckel add-phone [--registration ID] [--name NAME]`: prints the code for the new phone.
pub fn add_phone(path: &Path, global: &Global, registration: Option<&str>, name: &str) -> Result<(), CliError> {
    let companion = companion(path, global)?;
    let registration = one(&companion.registrations()?, registration)?;
    let code = runtime()?.block_on(companion.add_phone_code(&registration.id, name))?;
    println!("{}", code.qr);
    eprintln!(
        "Scan or copy this code on the new phone (nyckel register --from-device CODE) before {}.",
        utc(code.expires_at)
    );
    eprintln!(
        "Then approve it here with `nyckel approve`: compare the fingerprint, type the number the new phone shows."
    );
    Ok(())
}

/// `nyckel register --from-device CODE`: asks for approval, then waits for it.
pub fn register_from_device(path: &Path, global: &Global, code: &CodeArgs) -> Result<(), CliError> {
    let payload = code_text(code)?;
    let companion = companion(path, global)?;
    nyckel_core::registration::parse_enrollment(&payload).map_err(CompanionError::from)?;
    let pin = secrets::pin(true)?;
    let runtime = runtime()?;
    let asked = runtime.block_on(companion.request_device_enrollment(&payload, &pin))?;
    println!("Asked {} registered device(s) to approve this phone.", asked.devices);
    println!("  number to type there: {}", asked.number);
    println!("  this phone's code:    {}  (the registered phone shows the same)", asked.fingerprint);
    println!("  waiting until:        {}", utc(asked.expires_at));
    let summary = runtime.block_on(async {
        loop {
            match companion.wait_device_enrollment(&asked.enrollment_id, 30).await? {
                DeviceEnrollmentProgress::AwaitingApproval { .. } => continue,
                DeviceEnrollmentProgress::Registered(summary) => return Ok::<_, CliError>(*summary),
            }
        }
    })?;
    println!("registered {} as {:?}", summary.id, summary.device_name);
    println!("  user:         {}", summary.user);
    println!("  organisation: {}", summary.organisation);
    println!("  server:       {} ({})", summary.server_host, summary.server_url);
    println!("  device code:  {}", summary.device_fingerprint);
    Ok(())
}

/// `nyckel devices list [REGISTRATION]`.
pub fn list_devices(path: &Path, global: &Global, registration: Option<&str>) -> Result<(), CliError> {
    let companion = companion(path, global)?;
    let registration = one(&companion.registrations()?, registration)?;
    let devices = runtime()?.block_on(companion.user_devices(&registration.id))?;
    println!("devices of {} @ {}", registration.user, registration.organisation);
    for device in devices {
        let state = match device.state {
            DeviceState::Active => "active",
            DeviceState::Blocked => "blocked",
            DeviceState::Inactive => "inactive",
        };
        let this = if device.device_id == registration.device_id { "  (this one)" } else { "" };
        println!(
            "  {}  {:?} on {}, {state}, registered {}, last used {}{this}",
            device.device_id,
            device.name,
            device.platform,
            utc(device.created_at),
            utc(device.last_used_at)
        );
    }
    Ok(())
}

/// `nyckel devices retire DEVICE_ID [--registration ID]`.
pub fn retire(path: &Path, global: &Global, registration: Option<&str>, device_id: &str) -> Result<(), CliError> {
    let companion = companion(path, global)?;
    let registration = one(&companion.registrations()?, registration)?;
    let target = DeviceId::new(device_id).map_err(|error| CliError::Input(format!("{device_id:?}: {error}")))?;
    let own = target == registration.device_id;
    // Retiring this phone's own device needs no PIN (as unregistering); another device does.
    let pin = if own { None } else { Some(secrets::pin(false)?) };
    let pin = pin.as_ref().map_or("", |pin| pin.as_str());
    runtime()?.block_on(companion.retire_device(&registration.id, &target, pin))?;
    if own {
        println!("retired this phone's device {target}; the registration is forgotten");
    } else {
        println!("retired device {target}");
    }
    Ok(())
}
