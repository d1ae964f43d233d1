//! Organisations: the first account to name an organisation creates it and becomes its
//! administrator; later accounts request access, which an administrator approves or refuses.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::PortalError;
use crate::store::{decode, encode, Store};

/// An organisation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organisation {
    /// Its identifier (the user-name rules: 1–64 of `a–z 0–9 . _ -`).
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// An account's standing in its organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Asked for access; not decided yet.
    Pending,
    /// Approved member.
    Member,
    /// Administrator (the first account, or one made so later).
    Admin,
}

/// An account's membership (one organisation per account).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    /// The organisation.
    pub org: String,
    /// The role.
    pub role: Role,
    /// When access was asked for (or the organisation created), Unix seconds.
    pub since: u64,
}

/// What asking to join gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The organisation did not exist: it was created with this account as administrator.
    Created,
    /// A request is waiting for an administrator.
    Requested,
    /// The account belongs to an organisation (or has a request waiting) already.
    AlreadyIn(String),
}

/// Why an organisation name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    /// Not 1–64 of `a–z 0–9 . _ -`.
    #[error("an organisation identifier is 1–64 of a–z, 0–9, '.', '_', '-'")]
    InvalidId,
}

/// Why a role change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// The account is not an approved member or administrator of the organisation.
    #[error("not a member of this organisation")]
    NotAMember,
    /// The change would leave the organisation without an administrator.
    #[error("the organisation's last administrator cannot stop being one")]
    LastAdmin,
}

/// Organisations and memberships over the store.
#[derive(Clone)]
pub struct Orgs {
    orgs: sled::Tree,
    members: sled::Tree,
    clock: Arc<dyn Clock>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Orgs {
    /// Organisations in `store`.
    pub fn new(store: &Store, clock: Arc<dyn Clock>) -> Result<Self, PortalError> {
        Ok(Self {
            orgs: store.tree("orgs")?,
            members: store.tree("org_members")?,
            clock,
            lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The organisation `id`.
    pub fn get(&self, id: &str) -> Result<Option<Organisation>, PortalError> {
        match self.orgs.get(id.as_bytes())? {
            Some(bytes) => Ok(Some(decode("organisation", &bytes)?)),
            None => Ok(None),
        }
    }

    /// The account's membership, if any.
    pub fn membership(&self, account: &str) -> Result<Option<Membership>, PortalError> {
        match self.members.get(account.as_bytes())? {
            Some(bytes) => Ok(Some(decode("membership", &bytes)?)),
            None => Ok(None),
        }
    }

    /// The organisation the account administers, if any.
    pub fn admin_of(&self, account: &str) -> Result<Option<String>, PortalError> {
        Ok(self.membership(account)?.filter(|m| m.role == Role::Admin).map(|m| m.org))
    }

    /// The organisation the account is a member or administrator of (not a pending one).
    pub fn org_of(&self, account: &str) -> Result<Option<String>, PortalError> {
        Ok(self.membership(account)?.filter(|m| m.role != Role::Pending).map(|m| m.org))
    }

    /// Asks for access to `org_id`; creates it (display name `name`, else the id) with the
    /// account as administrator when it does not exist.
    pub async fn join(
        &self,
        account: &str,
        org_id: &str,
        name: &str,
    ) -> Result<Result<JoinOutcome, OrgError>, PortalError> {
        let org_id = org_id.trim().to_ascii_lowercase();
        if !crate::accounts::valid_name(&org_id) {
            return Ok(Err(OrgError::InvalidId));
        }
        let _guard = self.lock.lock().await;
        if let Some(m) = self.membership(account)? {
            return Ok(Ok(JoinOutcome::AlreadyIn(m.org)));
        }
        let now = self.clock.now();
        let outcome = if self.get(&org_id)?.is_none() {
            let name: String = name.trim().chars().filter(|c| !c.is_control()).take(100).collect();
            let org = Organisation {
                id: org_id.clone(),
                name: if name.is_empty() { org_id.clone() } else { name },
                created_at: now,
            };
            self.orgs.insert(org_id.as_bytes(), encode(&org))?;
            (JoinOutcome::Created, Role::Admin)
        } else {
            (JoinOutcome::Requested, Role::Pending)
        };
        let membership = Membership { org: org_id, role: outcome.1, since: now };
        self.members.insert(account.as_bytes(), encode(&membership))?;
        Ok(Ok(outcome.0))
    }

    /// Makes `account` a member of `org` (an administrator's invitation); `Ok(Err(other))`
    /// when it already belongs to (or asked to join) organisation `other`, the same one included.
    pub async fn add_member(&self, org: &str, account: &str) -> Result<Result<(), String>, PortalError> {
        let _guard = self.lock.lock().await;
        if let Some(m) = self.membership(account)? {
            return Ok(Err(m.org));
        }
        let membership = Membership { org: org.to_owned(), role: Role::Member, since: self.clock.now() };
        self.members.insert(account.as_bytes(), encode(&membership))?;
        Ok(Ok(()))
    }

    /// Every account of `org` with its membership, by name.
    pub fn members(&self, org: &str) -> Result<Vec<(String, Membership)>, PortalError> {
        let mut out = Vec::new();
        for entry in self.members.iter() {
            let (key, value) = entry?;
            let m: Membership = decode("membership", &value)?;
            if m.org == org {
                out.push((String::from_utf8_lossy(&key).into_owned(), m));
            }
        }
        Ok(out)
    }

    /// Makes `account`, an approved member or administrator of `org`, an administrator
    /// (`Role::Admin`) or a member (`Role::Member`); an administrator hands over by making
    /// another member administrator and then themself a member. Refused when the account is
    /// not in `org` (or only asked to join), and when it would leave `org` with no administrator.
    /// Returns whether the role changed.
    pub async fn set_role(&self, org: &str, account: &str, role: Role) -> Result<Result<bool, RoleError>, PortalError> {
        if role == Role::Pending {
            return Ok(Err(RoleError::NotAMember));
        }
        let _guard = self.lock.lock().await;
        let Some(mut m) = self.membership(account)?.filter(|m| m.org == org && m.role != Role::Pending) else {
            return Ok(Err(RoleError::NotAMember));
        };
        if m.role == role {
            return Ok(Ok(false));
        }
        if m.role == Role::Admin {
            let admins = self.members(org)?.into_iter().filter(|(_, m)| m.role == Role::Admin).count();
            if admins <= 1 {
                return Ok(Err(RoleError::LastAdmin));
            }
        }
        m.role = role;
        self.members.insert(account.as_bytes(), encode(&m))?;
        Ok(Ok(true))
    }

    /// Decides `account`'s waiting request to `org`: approved → member, refused → removed.
    /// False when there is no such waiting request (another organisation's, or decided).
    pub async fn decide(&self, org: &str, account: &str, approve: bool) -> Result<bool, PortalError> {
        let _guard = self.lock.lock().await;
        let Some(mut m) = self.membership(account)? else { return Ok(false) };
        if m.org != org || m.role != Role::Pending {
            return Ok(false);
        }
        if approve {
            m.role = Role::Member;
            m.since = self.clock.now();
            self.members.insert(account.as_bytes(), encode(&m))?;
        } else {
            self.members.remove(account.as_bytes())?;
        }
        Ok(true)
    }
}
