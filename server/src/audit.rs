//! The append-only audit log: one sled tree keyed by a strictly increasing sequence number.

use nyckel_protocol::wire::audit::{AuditEvent, AuditKind, AuditPage};
use nyckel_protocol::{ChallengeId, DeviceId};

use crate::store::{Store, StoreError};

/// Largest page of `GET /v1/admin/audit`.
pub const MAX_PAGE: usize = 500;
/// Default page size.
pub const DEFAULT_PAGE: usize = 100;

/// An event being built; [`Audit::append`] gives it its number and time.
#[derive(Debug, Clone)]
pub struct Entry {
    kind: AuditKind,
    actor: String,
    tenant: Option<String>,
    user: Option<String>,
    device_id: Option<DeviceId>,
    challenge_id: Option<ChallengeId>,
    ip: Option<String>,
    detail: Option<String>,
}

impl Entry {
    /// An event of `kind` by `actor` (`device`, `user`, `rp:<name>`, `admin`, `server`).
    pub fn new(kind: AuditKind, actor: impl Into<String>) -> Self {
        Self { kind, actor: actor.into(), tenant: None, user: None, device_id: None, challenge_id: None, ip: None, detail: None }
    }

    /// The tenant concerned.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The user concerned.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The device concerned.
    pub fn device(mut self, device: &DeviceId) -> Self {
        self.device_id = Some(device.clone());
        self
    }

    /// The challenge concerned.
    pub fn challenge(mut self, challenge: &ChallengeId) -> Self {
        self.challenge_id = Some(challenge.clone());
        self
    }

    /// The client address.
    pub fn ip(mut self, ip: Option<&str>) -> Self {
        self.ip = ip.map(str::to_owned);
        self
    }

    /// Free text (never secrets, MACs or OTPs).
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// The audit log.
#[derive(Clone)]
pub struct Audit {
    store: Store,
}

impl Audit {
    /// The log in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Appends an event; durable with the caller's next flush.
    pub fn append(&self, entry: Entry, now: u64) -> Result<u64, StoreError> {
        let seq = self.store.next_sequence()?;
        let event = AuditEvent {
            seq,
            at: now,
            kind: entry.kind,
            actor: entry.actor,
            user: entry.user,
            device_id: entry.device_id,
            challenge_id: entry.challenge_id,
            ip: entry.ip,
            detail: entry.detail,
        };
        self.store.audit.put(&seq.to_be_bytes(), &event)?;
        Ok(seq)
    }

    /// Events with sequence numbers after `after`, at most `limit` (clamped to 1–500).
    pub fn page(&self, after: u64, limit: usize, _tenant: Option<&str>) -> Result<AuditPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let events: Vec<AuditEvent> = self.store.audit.range_after(&after.to_be_bytes(), limit)?;
        let next = if events.len() == limit { events.last().map(|e| e.seq) } else { None };
        Ok(AuditPage { events, next })
    }
}
