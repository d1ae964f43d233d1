//! The background polling task: one long poll per registration, backoff with jitter, stopped by its handle.
//!
//! Each registration gets a worker that long-polls, hands verified challenges to the
//! listener and starts the next poll. Errors (network loss, server refusals) are reported
//! and retried after an exponentially growing, jittered delay, so a phone that comes back
//! online resumes by itself and a fleet of phones does not retry in lockstep. Workers
//! follow registrations added or removed while the task runs. Dropping or closing the
//! [`PollingHandle`] stops everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nyckel_protocol::policy::MAX_LONG_POLL_WAIT;
use ring::rand::{SecureRandom, SystemRandom};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::providers::ProviderRequest;
use super::{ChallengeRejection, PendingApproval};
use crate::companion::{Companion, CompanionError};
use crate::vault::provider_tokens::ProviderToken;
use crate::vault::registrations::RegistrationId;

/// Receives what the polling task finds. Called from the task; keep the calls short.
pub trait ApprovalListener: Send + Sync {
    /// A new challenge passed every check and should be shown.
    fn on_challenge(&self, challenge: PendingApproval);
    /// Polling a registration failed (it will be retried), or a delivered challenge was
    /// refused. `registration_id` is `None` for failures not tied to one registration.
    fn on_error(&self, registration_id: Option<String>, error: CompanionError);
    /// A privacyIDEA push request passed every check (signature under the token's server
    /// key, serial, URL, expiry, replay) and should be shown, in the same list.
    fn on_provider_request(&self, request: ProviderRequest);
}

/// Timing of the polling task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollConfig {
    /// Long-poll wait asked of the server (clamped to 30 s).
    pub wait: Duration,
    /// Delay before the first retry after an error; doubled per consecutive error.
    pub initial_backoff: Duration,
    /// Longest delay between retries.
    pub max_backoff: Duration,
    /// Shortest time between two polls that brought nothing new, so a server that answers
    /// at once (e.g. while a challenge stays pending) is not polled in a tight loop.
    pub min_interval: Duration,
    /// Time between two polls of a privacyIDEA push token (privacyIDEA has no long poll).
    pub provider_interval: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(MAX_LONG_POLL_WAIT),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            min_interval: Duration::from_secs(2),
            provider_interval: Duration::from_secs(3),
        }
    }
}

/// Stops the polling task when closed or dropped.
pub struct PollingHandle {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl PollingHandle {
    /// Stops polling; in-flight requests are abandoned.
    pub fn close(&self) {
        self.stop.send_replace(true);
    }

    /// Stops polling and waits until the task has finished.
    pub async fn shutdown(mut self) {
        self.close();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Whether the task is still running.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|task| !task.is_finished())
    }
}

impl Drop for PollingHandle {
    fn drop(&mut self) {
        self.close();
    }
}

impl Companion {
    /// Starts polling every registration (and those added later) in the background on the
    /// current tokio runtime. Valid challenges go to `listener.on_challenge`.
    pub fn start_polling(
        self: &Arc<Self>,
        listener: Arc<dyn ApprovalListener>,
        config: PollConfig,
    ) -> Result<PollingHandle, CompanionError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| CompanionError::NoRuntime)?;
        let (stop, stopped) = watch::channel(false);
        let task = runtime.spawn(supervise(self.clone(), listener, config, stopped));
        Ok(PollingHandle { stop, task: Some(task) })
    }
}

/// Keeps one worker per registration and per privacyIDEA push token until stopped.
async fn supervise(
    companion: Arc<Companion>,
    listener: Arc<dyn ApprovalListener>,
    config: PollConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut changes = companion.changes.subscribe();
    let mut workers: HashMap<RegistrationId, JoinHandle<()>> = HashMap::new();
    let mut provider_workers: HashMap<String, JoinHandle<()>> = HashMap::new();
    while !*stop.borrow() {
        changes.mark_unchanged();
        match companion.vault.registrations() {
            Ok(registrations) => {
                workers.retain(|id, worker| {
                    let keep = registrations.iter().any(|registration| &registration.id == id);
                    if !keep {
                        worker.abort();
                    }
                    keep
                });
                for registration in registrations {
                    workers.entry(registration.id.clone()).or_insert_with(|| {
                        tokio::spawn(work(companion.clone(), listener.clone(), config, registration.id, stop.clone()))
                    });
                }
            }
            Err(error) => listener.on_error(None, error.into()),
        }
        match companion.vault.provider_tokens() {
            Ok(tokens) => {
                let push: Vec<String> = tokens
                    .into_iter()
                    .filter(|(_, token)| matches!(token, ProviderToken::PrivacyideaPush { .. }))
                    .map(|(id, _)| id)
                    .collect();
                provider_workers.retain(|id, worker| {
                    let keep = push.contains(id);
                    if !keep {
                        worker.abort();
                    }
                    keep
                });
                for id in push {
                    provider_workers.entry(id.clone()).or_insert_with(|| {
                        tokio::spawn(work_provider(companion.clone(), listener.clone(), config, id, stop.clone()))
                    });
                }
            }
            Err(error) => listener.on_error(None, error.into()),
        }
        tokio::select! {
            _ = stop.changed() => {}
            changed = changes.changed() => if changed.is_err() { break },
        }
    }
    for worker in workers.into_values().chain(provider_workers.into_values()) {
        worker.abort();
    }
}

/// Polls one privacyIDEA push token until stopped: every `provider_interval`, with the same
/// backoff as Nyckel's registrations after errors.
async fn work_provider(
    companion: Arc<Companion>,
    listener: Arc<dyn ApprovalListener>,
    config: PollConfig,
    token_id: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    while !*stop.borrow() {
        let polled = tokio::select! {
            _ = stop.changed() => break,
            polled = companion.poll_provider_token(&token_id) => polled,
        };
        let pause = match polled {
            Ok(outcome) => {
                backoff.reset();
                for request in outcome.new {
                    listener.on_provider_request(request);
                }
                for rejection in outcome.rejected {
                    listener.on_error(Some(token_id.clone()), rejection.into());
                }
                config.provider_interval
            }
            Err(CompanionError::UnknownToken(_)) => break,
            Err(error) => {
                listener.on_error(Some(token_id.clone()), error);
                backoff.next_delay()
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Polls one registration until stopped.
async fn work(
    companion: Arc<Companion>,
    listener: Arc<dyn ApprovalListener>,
    config: PollConfig,
    registration_id: RegistrationId,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    let wait = config.wait.as_secs().min(MAX_LONG_POLL_WAIT);
    while !*stop.borrow() {
        let started = Instant::now();
        let polled = tokio::select! {
            _ = stop.changed() => break,
            polled = companion.poll_once(&registration_id, wait) => polled,
        };
        let pause = match polled {
            Ok(outcome) => {
                backoff.reset();
                let got_new = !outcome.new.is_empty();
                for challenge in outcome.new {
                    listener.on_challenge(challenge);
                }
                for rejection in outcome.rejected {
                    // Re-deliveries of a challenge already shown are normal (it stays pending
                    // at the server until answered): not an error worth telling.
                    if !matches!(rejection, ChallengeRejection::AlreadySeen { .. }) {
                        listener.on_error(Some(registration_id.clone()), super::ApprovalError::from(rejection).into());
                    }
                }
                if got_new {
                    Duration::ZERO
                } else {
                    config.min_interval.saturating_sub(started.elapsed())
                }
            }
            Err(CompanionError::UnknownRegistration(_)) => break,
            Err(error) => {
                listener.on_error(Some(registration_id.clone()), error);
                backoff.next_delay()
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// Exponential backoff with "equal jitter": each delay is drawn uniformly from the upper
/// half of the current step, so retries spread out but never collapse to zero.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    rng: SystemRandom,
}

impl Backoff {
    /// A backoff starting at `initial` and capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max, failures: 0, rng: SystemRandom::new() }
    }

    /// After a success: the next failure waits `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The delay before the next retry; each call doubles the step up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.initial.saturating_mul(1u32 << self.failures.min(20)).min(self.max);
        self.failures = self.failures.saturating_add(1);
        let mut random = [0u8; 4];
        // Without randomness the delay is just the full step: still a correct backoff.
        let fraction = match self.rng.fill(&mut random) {
            Ok(()) => f64::from(u32::from_be_bytes(random)) / f64::from(u32::MAX),
            Err(_) => 1.0,
        };
        step / 2 + step.mul_f64(fraction / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut previous_step = Duration::ZERO;
        for failure in 0..10u32 {
            let step = Duration::from_millis(100).saturating_mul(1 << failure).min(Duration::from_secs(2));
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "failure {failure}: {delay:?} not in [{:?}, {step:?}]",
                step / 2
            );
            assert!(step >= previous_step);
            previous_step = step;
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
        // Jitter: many draws of the same step are not all equal.
        let draws: std::collections::HashSet<Duration> = (0..20)
            .map(|_| {
                let mut fresh = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
                fresh.next_delay()
            })
            .collect();
        assert!(draws.len() > 1);
    }
}
