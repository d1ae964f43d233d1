//! Administration: the offline commands of the binary (tenants, users, relying parties,
//! administrators, the global admin token) and the administrators' HTTP operations.

use std::path::Path;

use nyckel_protocol::wire::audit::AuditKind;
use zeroize::Zeroizing;

use crate::audit::Entry;
use crate::audit::{self, VerifyReport};
use crate::clock::{Clock, SystemClock};
use crate::secrets::{Kek, KeyRing, RotationStatement};
use crate::service::admins;
use crate::service::relying_parties::{self, RelyingParty};
use crate::service::tenants::{self, Tenant};
use crate::service::users::{self, UserRecord};
use crate::store::{PgSettings, PgStore, SledStore, Store};
use crate::{files, ServerError};

fn open(dir: &Path) -> Result<SledStore, ServerError> {
    files::ensure_dir(dir)?;
    Ok(SledStore::open(dir)?)
}

/// The records store the commands work on: PostgreSQL when `$NYCKEL_DATABASE_URL` names one
/// (the setting `serve` reads; the binary puts `--database-url` and the settings file there),
/// else sled in `dir`. The audit log is in that store too; the key files stay in `dir`.
async fn records(dir: &Path) -> Result<std::sync::Arc<dyn Store>, ServerError> {
    match std::env::var("NYCKEL_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok(std::sync::Arc::new(PgStore::open(&PgSettings::new(url)).await?)),
        _ => Ok(std::sync::Arc::new(open(dir)?)),
    }
}

/// Runs one command's store work to its end. These commands are synchronous for their callers
/// (the binary, and tests that run them inside their own tokio runtime), while the store is
/// async: the future runs on a small current-thread runtime of its own, on a thread of its
/// own, because a runtime cannot be started on a thread that already runs one.
fn block_on<T: Send>(work: impl std::future::Future<Output = Result<T, ServerError>> + Send) -> Result<T, ServerError> {
    std::thread::scope(|scope| {
        let runner = scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServerError::Io)?.block_on(work)
        });
        runner.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Adds a tenant (an organisation; `display_name` is what phones show). Needs the server stopped.
pub fn add_tenant(dir: &Path, name: &str, display_name: &str) -> Result<Tenant, ServerError> {
    block_on(async {
        let store = records(dir).await?;
        let tenant = tenants::add(&*store, name, display_name, SystemClock.now()).await?;
        store.flush().await?;
        Ok(tenant)
    })
}

/// Every tenant. Needs the server stopped.
pub fn list_tenants(dir: &Path) -> Result<Vec<Tenant>, ServerError> {
    block_on(async {
        let store = records(dir).await?;
        Ok(tenants::list(&*store).await?)
    })
}

/// Adds a user to a tenant (no password: the sign-in service owns those). Needs the server
/// stopped.
pub fn add_user(dir: &Path, tenant: &str, name: &str) -> Result<UserRecord, ServerError> {
    let now = SystemClock.now();
    block_on(async {
        let store = records(dir).await?;
        let record = users::add(&*store, tenant, name, now).await?;
        store.flush().await?;
        Ok(record)
    })
}

/// Adds users of one tenant (benchmarks, bulk import). Needs the server stopped.
pub fn add_users(dir: &Path, tenant: &str, names: &[String]) -> Result<(), ServerError> {
    let now = SystemClock.now();
    block_on(async {
        let store = records(dir).await?;
        for name in names {
            users::add(&*store, tenant, name, now).await?;
        }
        store.flush().await?;
        Ok(())
    })
}

/// Every user of a tenant. Needs the server stopped.
pub fn list_users(dir: &Path, tenant: &str) -> Result<Vec<UserRecord>, ServerError> {
    block_on(async {
        let store = records(dir).await?;
        Ok(users::list(&*store, tenant).await?)
    })
}

/// Disables a user. Needs the server stopped.
pub fn disable_user(dir: &Path, tenant: &str, name: &str) -> Result<(), ServerError> {
    block_on(async {
        let store = records(dir).await?;
        users::disable(&*store, tenant, name).await?;
        store.flush().await?;
        Ok(())
    })
}

/// Adds a relying party to a tenant and returns its API key. Needs the server stopped.
pub fn add_relying_party(dir: &Path, tenant: &str, name: &str) -> Result<Zeroizing<String>, ServerError> {
    block_on(async {
        let store = records(dir).await?;
        let key = Zeroizing::new(relying_parties::add(&*store, tenant, name, SystemClock.now()).await?);
        store.flush().await?;
        Ok(key)
    })
}

/// Adds an administrator of one tenant and returns their token. Needs the server stopped.
pub fn add_tenant_admin(dir: &Path, tenant: &str, name: &str) -> Result<Zeroizing<String>, ServerError> {
    block_on(async {
        let store = records(dir).await?;
        let token = Zeroizing::new(admins::add(&*store, tenant, name).await?);
        store.flush().await?;
        Ok(token)
    })
}

/// Every relying party. Needs the server stopped.
pub fn list_relying_parties(dir: &Path) -> Result<Vec<RelyingParty>, ServerError> {
    block_on(async {
        let store = records(dir).await?;
        Ok(relying_parties::list(&*store).await?)
    })
}

/// The global admin token, created with the other secrets on first use (works while the
/// server runs: the secrets are sealed files, not in the database).
pub fn admin_token(dir: &Path, kek: &Kek) -> Result<Zeroizing<String>, ServerError> {
    Ok(Zeroizing::new(KeyRing::open(dir, kek)?.admin_token().to_owned()))
}

/// Makes a new server signing key current and audits it (`key_rotated`, under the new key);
/// phones follow it through the rotation statement signed by the old key (PROTOCOL.md §6.4).
/// Needs the server stopped (it opens the store); the next start uses the new key.
pub fn rotate_signing_key(dir: &Path, kek: &Kek) -> Result<RotationStatement, ServerError> {
    block_on(async {
        let store = records(dir).await?;
        rotate_signing_key_in(&store, dir, kek).await
    })
}

/// [`rotate_signing_key`] with the store already open (the server stopped): rotates the key
/// files in `dir` and audits the rotation in `store`.
pub async fn rotate_signing_key_in(
    store: &std::sync::Arc<dyn Store>,
    dir: &Path,
    kek: &Kek,
) -> Result<RotationStatement, ServerError> {
    let statement = KeyRing::rotate(dir, kek)?;
    // Recorded under the new key, which also signs the audit head from now on.
    let audit = audit::Audit::open(store.clone(), KeyRing::open(dir, kek)?.signing_key()).await?;
    audit
        .append(
            Entry::new(AuditKind::KeyRotated, "admin:global").detail(format!(
                "signing key {} replaced by {}",
                statement.old_key.key_id(),
                statement.new_key.key_id()
            )),
            SystemClock.now(),
        )
        .await?;
    store.flush().await?;
    Ok(statement)
}

/// Checks the whole audit log (in sled in `dir`, or in the PostgreSQL database of
/// `$NYCKEL_DATABASE_URL`) against every key the server has had. Needs the server stopped
/// (on PostgreSQL, events appended during the walk would show as a head mismatch).
pub fn verify_audit(dir: &Path, kek: &Kek) -> Result<VerifyReport, ServerError> {
    let ring = KeyRing::open(dir, kek)?;
    block_on(async {
        let store = records(dir).await?;
        Ok(audit::verify(store.audit(), &ring.public_keys()).await?)
    })
}
