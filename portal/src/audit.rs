//! The portal's audit log of account events (sign-ins, failures, blocks, requests, decisions,
//! unblocks), kept per organisation so an administrator pages through their own only.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::PortalError;
use crate::store::{decode, encode, Store};

/// Events per page.
pub const PAGE: usize = 20;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A completed sign-in (both steps).
    SignIn,
    /// A wrong password or code.
    SignInFailed,
    /// The account was blocked by the fifth failure.
    AccountBlocked,
    /// An organisation was created (its first account is administrator).
    OrgCreated,
    /// An account asked for access.
    AccessRequested,
    /// An administrator approved a request.
    AccessApproved,
    /// An administrator refused a request.
    AccessRefused,
    /// An administrator unblocked an account.
    AccountUnblocked,
    /// An administrator unblocked a device.
    DeviceUnblocked,
    /// A mobile number was verified.
    PhoneVerified,
    /// A contact address was verified.
    EmailVerified,
    /// An administrator invited a colleague into the organisation.
    Invited,
    /// An administrator made a member administrator, or an administrator a member (detail:
    /// the new role).
    RoleChanged,
}

impl AuditKind {
    /// The stable name shown in the log.
    pub fn name(self) -> &'static str {
        match self {
            AuditKind::SignIn => "sign_in",
            AuditKind::SignInFailed => "sign_in_failed",
            AuditKind::AccountBlocked => "account_blocked",
            AuditKind::OrgCreated => "org_created",
            AuditKind::AccessRequested => "access_requested",
            AuditKind::AccessApproved => "access_approved",
            AuditKind::AccessRefused => "access_refused",
            AuditKind::AccountUnblocked => "account_unblocked",
            AuditKind::DeviceUnblocked => "device_unblocked",
            AuditKind::PhoneVerified => "phone_verified",
            AuditKind::EmailVerified => "email_verified",
            AuditKind::Invited => "invited",
            AuditKind::RoleChanged => "role_changed",
        }
    }
}

/// One event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Increasing number (over all organisations).
    pub seq: u64,
    /// Unix seconds.
    pub at: u64,
    /// The account it concerns.
    pub account: String,
    /// Who did it (the account itself, or an administrator).
    pub actor: String,
    /// What.
    pub kind: AuditKind,
    /// Free detail (device name, address of the browser, …).
    pub detail: String,
}

/// The log over the store: key `org \0 seq(BE)`, so one organisation's events are one range.
#[derive(Clone)]
pub struct Audit {
    events: sled::Tree,
    meta: sled::Tree,
    clock: Arc<dyn Clock>,
}

fn key(org: &str, seq: u64) -> Vec<u8> {
    let mut k = org.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

impl Audit {
    /// The log in `store`.
    pub fn new(store: &Store, clock: Arc<dyn Clock>) -> Result<Self, PortalError> {
        Ok(Self { events: store.tree("audit")?, meta: store.tree("audit_meta")?, clock })
    }

    /// Records an event under `org` ("" for accounts without one).
    pub fn record(
        &self,
        org: &str,
        account: &str,
        actor: &str,
        kind: AuditKind,
        detail: &str,
    ) -> Result<(), PortalError> {
        let seq = self
            .meta
            .update_and_fetch("seq", |old| {
                let n = old.and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes).unwrap_or(0);
                Some((n + 1).to_be_bytes().to_vec())
            })?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let event = AuditEvent {
            seq,
            at: self.clock.now(),
            account: account.to_owned(),
            actor: actor.to_owned(),
            kind,
            detail: detail.chars().filter(|c| !c.is_control()).take(200).collect(),
        };
        self.events.insert(key(org, seq), encode(&event))?;
        Ok(())
    }

    /// A page of `org`'s events, newest first, with `seq < before` (all when `None`), and the
    /// `before` of the next page when there are more.
    pub fn page(&self, org: &str, before: Option<u64>) -> Result<(Vec<AuditEvent>, Option<u64>), PortalError> {
        let start = key(org, 0);
        let end = key(org, before.unwrap_or(u64::MAX));
        let mut events = Vec::with_capacity(PAGE);
        for entry in self.events.range(start..end).rev() {
            let (_, value) = entry?;
            if events.len() == PAGE {
                let next = events.last().map(|e: &AuditEvent| e.seq);
                return Ok((events, next));
            }
            events.push(decode("audit event", &value)?);
        }
        Ok((events, None))
    }
}

impl crate::Portal {
    /// Records `kind` for `account` under the organisation it belongs to (or has asked to join).
    pub fn audit_event(&self, account: &str, actor: &str, kind: AuditKind, detail: &str) -> Result<(), PortalError> {
        let org = self.orgs.membership(account)?.map(|m| m.org).unwrap_or_default();
        self.audit.record(&org, account, actor, kind, detail)
    }
}
