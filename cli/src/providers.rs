//! privacyIDEA push, tiqr and privacyIDEA-enrolled HOTP/TOTP tokens in the phone commands:
//! register, approve (the one inbox), otp and devices.

use std::io::{BufRead, Write};

use nyckel_core::approvals::LOCAL_GATE_NOTICE;
use nyckel_core::privacyidea::DeclineReason;
use nyckel_core::{parse_otpauth, Companion, PinCheck, ProviderAnswer, ProviderOutcome, ProviderRequest, TokenOrigin};

use crate::companion::{runtime, Decision};
use crate::error::CliError;
use crate::secrets;

/// What kind of code a scanned or typed text is, for the phone commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// `nyckel://…`.
    Nyckel,
    /// `otpauth://pipush/…` or `pia://pipush/…`.
    PrivacyideaPush,
    /// `tiqrenroll://…`.
    TiqrEnroll,
    /// `tiqrauth://…`.
    TiqrAuth,
    /// `otpauth://hotp|totp/…`.
    Otpauth,
}

/// The kind of a code by its scheme (case-insensitive), or `None`.
pub fn code_kind(text: &str) -> Option<CodeKind> {
    // By characters, so a label with non-ASCII letters near the start cannot split one.
    let lower: String = text.trim().chars().take(20).collect::<String>().to_ascii_lowercase();
    if lower.starts_with("nyckel://") {
        Some(CodeKind::Nyckel)
    } else if lower.starts_with("otpauth://pipush/") || lower.starts_with("pia://") {
        Some(CodeKind::PrivacyideaPush)
    } else if lower.starts_with("tiqrenroll://") {
        Some(CodeKind::TiqrEnroll)
    } else if lower.starts_with("tiqrauth://") {
        Some(CodeKind::TiqrAuth)
    } else if lower.starts_with("otpauth://") {
        Some(CodeKind::Otpauth)
    } else {
        None
    }
}

/// `nyckel register` for a privacyIDEA push, tiqr or HOTP/TOTP code.
pub fn register(companion: &Companion, payload: &str, kind: CodeKind) -> Result<(), CliError> {
    match kind {
        CodeKind::PrivacyideaPush => {
            let code = nyckel_core::privacyidea::parse_push_code(payload).map_err(nyckel_core::CompanionError::from)?;
            // The server's policy may ask for an app PIN: a gate on this phone only.
            let pin = if code.app_pin || code.app_force_unlock.is_some() {
                println!("{LOCAL_GATE_NOTICE}");
                Some(secrets::pin(true)?)
            } else {
                None
            };
            let token =
                runtime()?.block_on(companion.enroll_push_token(payload, pin.as_deref().map(|p| p.as_str())))?;
            println!("registered privacyIDEA push token {}", token.id);
            print_token(&token);
        }
        CodeKind::TiqrEnroll => {
            // The tiqr server checks the PIN (through the response) and counts wrong ones.
            let pin = secrets::pin(true)?;
            let token = runtime()?.block_on(companion.enroll_tiqr_token(payload, &pin))?;
            println!("registered tiqr token {}", token.id);
            print_token(&token);
        }
        CodeKind::Otpauth => {
            let account = parse_otpauth(payload)?;
            let origin = TokenOrigin::from_otpauth(payload);
            let label = account.label();
            let id = companion.vault().add_with_origin(account, origin.as_ref())?;
            match origin {
                Some(origin) => {
                    println!("added #{id} {label} (serial {}, created by {})", origin.serial, origin.creator)
                }
                None => println!("added #{id} {label}"),
            }
        }
        CodeKind::Nyckel | CodeKind::TiqrAuth => {
            return Err(CliError::Input("not an enrollment code for this command".into()))
        }
    }
    Ok(())
}

fn print_token(token: &nyckel_core::ProviderTokenSummary) {
    println!("  provider:    {}", token.provider.name());
    println!("  service:     {} ({})", token.service, token.server_host);
    println!("  account:     {}", token.account);
    println!("  serial:      {}", token.serial);
    let pin = match token.pin {
        PinCheck::None => "none",
        PinCheck::LocalGate => "app PIN, checked on this phone only (a local gate, not by privacyIDEA)",
        PinCheck::Server => "PIN, checked and counted by the server",
    };
    println!("  PIN:         {pin}");
}

/// `nyckel devices`: the privacyIDEA and tiqr tokens.
pub fn list_tokens(companion: &Companion) -> Result<usize, CliError> {
    let tokens = companion.provider_tokens()?;
    for token in &tokens {
        println!("{}", token.id);
        print_token(token);
    }
    Ok(tokens.len())
}

/// Polls every privacyIDEA push token (those matching `filter`); warnings for refused entries.
pub async fn poll_all(companion: &Companion, filter: Option<&str>) -> Result<(), CliError> {
    for token in companion.provider_tokens()? {
        if filter.is_some_and(|filter| !token.id.starts_with(filter)) {
            continue;
        }
        if token.provider != nyckel_core::Provider::PrivacyIdea {
            continue;
        }
        let poll = companion.poll_provider_token(&token.id).await?;
        for rejection in poll.rejected {
            eprintln!("nyckel: warning: {}: refused a request: {rejection}", token.id);
        }
    }
    Ok(())
}

/// Prints what a privacyIDEA or tiqr request shows, with its provider and service.
pub fn print_request(request: &ProviderRequest) {
    println!("Request {} for {}", request.request_id, request.token_id);
    println!("  Provider:    {}", request.provider.name());
    println!("  Service:     {} ({})", request.service, request.server_host);
    println!("  Account:     {}", request.account);
    println!("  Title:       {}", request.title);
    println!("  Question:    {}", request.question);
    println!("  Expires:     {}", crate::companion::utc(request.expires_at));
    if let Some(options) = &request.presence_options {
        println!("  Number:      pick the one your login page shows: {}", options.join("  "));
    }
    if request.pin == PinCheck::LocalGate {
        println!("  PIN:         {LOCAL_GATE_NOTICE}");
    }
}

/// Answers one privacyIDEA or tiqr request as `decision` says.
pub async fn answer(
    companion: &Companion,
    request: &ProviderRequest,
    decision: Decision,
    reason: Option<DeclineReason>,
) -> Result<(), CliError> {
    print_request(request);
    let answer = match decision {
        Decision::Deny => ProviderAnswer::Decline { reason },
        Decision::Fraud => ProviderAnswer::Decline { reason: Some(DeclineReason::UnknownTrigger) },
        Decision::Approve => {
            let choice = match &request.presence_options {
                Some(options) => Some(read_choice(options)?),
                None => None,
            };
            let pin = match request.pin {
                PinCheck::None => None,
                PinCheck::LocalGate | PinCheck::Server => Some(secrets::pin(false)?.to_string()),
            };
            ProviderAnswer::Approve { pin, choice }
        }
    };
    let outcome = companion.answer_provider(&request.token_id, &request.request_id, answer).await?;
    match outcome {
        ProviderOutcome::Approved => println!("approved"),
        ProviderOutcome::Declined => println!("declined"),
        ProviderOutcome::Dismissed => println!("dismissed on this phone (tiqr has no decline message)"),
        ProviderOutcome::ShowCode { code, message } => {
            println!("approved; {}: {code}", message.as_deref().unwrap_or("type this code on the login page"))
        }
    }
    Ok(())
}

/// The option from $NYCKEL_NUMBER, else typed at the prompt; must be one of `options`.
fn read_choice(options: &[String]) -> Result<String, CliError> {
    let choice = match std::env::var("NYCKEL_NUMBER") {
        Ok(number) => number.trim().to_owned(),
        Err(_) => {
            print!("Option shown on your login page: ");
            std::io::stdout().flush().map_err(|error| CliError::Input(format!("cannot write the prompt: {error}")))?;
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|error| CliError::Input(format!("cannot read: {error}")))?;
            line.trim().to_owned()
        }
    };
    if !options.contains(&choice) {
        return Err(CliError::Input(format!("{choice:?} is not one of the options offered")));
    }
    Ok(choice)
}

/// `nyckel otp` for a `tiqrauth://` code: the response to type on the login page.
pub fn tiqr_offline(companion: &Companion, payload: &str) -> Result<(), CliError> {
    let pin = secrets::pin(false)?;
    let (token, response) = companion.tiqr_offline_response(payload, &pin)?;
    println!("tiqr login for {} at {} ({})", token.account, token.service, token.server_host);
    println!("Response: {response}");
    println!("(any PIN gives a response; the server checks it and counts a wrong one)");
    Ok(())
}

/// The decline reason named on the command line.
pub fn decline_reason(name: Option<&str>) -> Result<Option<DeclineReason>, CliError> {
    match name {
        None => Ok(None),
        Some("unknown-trigger" | "unknown_trigger") => Ok(Some(DeclineReason::UnknownTrigger)),
        Some("cancelled") => Ok(Some(DeclineReason::Cancelled)),
        Some(other) => Err(CliError::Input(format!("unknown decline reason {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_told_apart_by_scheme() {
        assert_eq!(code_kind("nyckel://enroll?x"), Some(CodeKind::Nyckel));
        assert_eq!(code_kind("OTPAUTH://pipush/PIPU1?url=x"), Some(CodeKind::PrivacyideaPush));
        assert_eq!(code_kind("pia://pipush/PIPU1?url=x"), Some(CodeKind::PrivacyideaPush));
        assert_eq!(code_kind("tiqrenroll://http://x"), Some(CodeKind::TiqrEnroll));
        assert_eq!(code_kind(" tiqrauth://u@s/1/2/n"), Some(CodeKind::TiqrAuth));
        assert_eq!(code_kind("otpauth://totp/Bäckerei-Ölgärten?secret=AA"), Some(CodeKind::Otpauth));
        assert_eq!(code_kind("https://example.org"), None);
        assert_eq!(code_kind(""), None);
    }
}
