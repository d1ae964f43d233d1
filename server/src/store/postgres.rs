//! The PostgreSQL backend of [`Store`]: a table per record kind holding the same JSON bytes
//! as the sled trees, every atomic operation one statement or one transaction, and the
//! schema brought up to date by the embedded migrations when the store opens.

use std::marker::PhantomData;
use std::str::FromStr;

use nyckel_protocol::DeviceId;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};

use super::{
    AuditRepo, AuditTip, AuditWrite, Change, ChangeFeed, Changed, FeedEvent, NonceRepo, Records, Store, StoreError,
    StoreFuture, Work,
};
use crate::model::{AdminScope, ChallengeRecord, DeviceRecord, EnrollmentRecord, RelyingParty, Tenant, UserRecord};
use crate::nonces::{NonceCheck, NONCE_MEMORY};

mod nonces;

/// The schema changes in order, applied once each (recorded in `schema_migrations`).
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/0001_records.sql")),
    (2, include_str!("../../migrations/0002_audit.sql")),
    (3, include_str!("../../migrations/0003_notify.sql")),
];

/// First key of the advisory locks this store takes, so they cannot meet another
/// application's locks on the same database (the second key says what is locked).
const LOCK_CLASS: i32 = 0x4e79_636b; // "Nyck"
/// Second advisory-lock key of the migration run.
const MIGRATION_LOCK: i32 = 0;
/// Second advisory-lock key of audit appends: one at a time across every instance.
const AUDIT_LOCK: i32 = 1;
/// Second advisory-lock keys of [`Store::exclusively`]'s tasks start here.
const EXCLUSIVE_TASKS: i32 = 0x100;

/// How to reach the database.
#[derive(Clone)]
pub struct PgSettings {
    /// A `postgres://user@host:port/database` URL.
    pub url: String,
    /// Tables live in this schema instead of the role's default (tests use one each).
    pub schema: Option<String>,
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// This server instance's name: its connections' `application_name` (`nyckel <name>`,
    /// visible in `pg_stat_activity`; its listener's is `nyckel <name> listen`) and how its
    /// change notices are told from other instances'. `None`: a random one per start.
    pub instance: Option<String>,
}

impl PgSettings {
    /// Pool size of [`PgSettings::new`]: the nonce and audit batches keep the commits per
    /// request low, so a few more connections than cores is plenty for one instance.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

    /// The database at `url`, default schema, [`Self::DEFAULT_MAX_CONNECTIONS`] connections.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), schema: None, max_connections: Self::DEFAULT_MAX_CONNECTIONS, instance: None }
    }
}

impl PgSettings {
    /// Settings for a new, empty schema of its own in the database at `url` (tests run in
    /// parallel on one database this way).
    pub async fn fresh_schema(url: &str) -> Result<Self, StoreError> {
        use sqlx::Connection;
        let schema = format!("t_{}", random_hex()?);
        let mut connection = sqlx::PgConnection::connect(url).await.map_err(engine("connect"))?;
        sqlx::raw_sql(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut connection)
            .await
            .map_err(engine("create a schema"))?;
        connection.close().await.map_err(engine("disconnect"))?;
        Ok(Self { url: url.to_owned(), schema: Some(schema), max_connections: 4, instance: None })
    }
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("PgSettings")
            .field("schema", &self.schema)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// Eight random bytes in hex (schema and instance names).
fn random_hex() -> Result<String, StoreError> {
    let mut id = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| StoreError::Engine("no randomness for a name".into()))?;
    Ok(id.iter().map(|b| format!("{b:02x}")).collect())
}

/// `sqlx::Error` → [`StoreError::Engine`], saying what was being done.
fn engine(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| StoreError::Engine(format!("postgresql: {context}: {e}"))
}

fn decode<T: DeserializeOwned>(tree: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt { tree, source })
}

fn encode<T: Serialize>(tree: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|source| StoreError::Corrupt { tree, source })
}

/// A time as the `bigint` column holds it.
fn seconds(at: u64) -> Result<i64, StoreError> {
    i64::try_from(at).map_err(|_| StoreError::Engine(format!("postgresql: time {at} does not fit a bigint")))
}

/// The store on one PostgreSQL database (a pool of connections).
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    tenants: std::sync::Arc<PgRecords<Tenant>>,
    users: std::sync::Arc<PgRecords<UserRecord>>,
    relying_parties: std::sync::Arc<PgRecords<RelyingParty>>,
    admins: std::sync::Arc<PgRecords<AdminScope>>,
    devices: std::sync::Arc<PgRecords<DeviceRecord>>,
    enrollments: std::sync::Arc<PgRecords<EnrollmentRecord>>,
    challenges: std::sync::Arc<PgRecords<ChallengeRecord>>,
    /// `nyckel <instance>`: the `application_name` of every pooled connection.
    application_name: String,
    /// The channel change notices go to: `nyckel:<schema>` (each schema its own).
    channel: String,
    /// Checks request nonces in batches.
    nonces: std::sync::Arc<nonces::NonceChecker>,
}

impl PgStore {
    /// Connects and applies the migrations not yet applied (one instance at a time: the run
    /// holds an advisory lock).
    pub fn open(settings: &PgSettings) -> StoreFuture<'_, Self> {
        // Boxed as a `dyn Future + Send`: callers that need a `Send` future in a generic
        // context otherwise meet sqlx's higher-ranked `Executor` bound.
        Box::pin(Self::connect(settings))
    }

    async fn connect(settings: &PgSettings) -> Result<Self, StoreError> {
        // Notices ("already exists, skipping" at every start) are not worth a log line.
        let mut options = PgConnectOptions::from_str(&settings.url)
            .map_err(engine("the database URL"))?
            .options([("client_min_messages", "warning")]);
        if let Some(schema) = &settings.schema {
            options = options.options([("search_path", schema.as_str())]);
        }
        let instance = match &settings.instance {
            Some(name) => name.clone(),
            None => random_hex()?,
        };
        let application_name = format!("nyckel {instance}");
        options = options.application_name(&application_name);
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .connect_with(options)
            .await
            .map_err(engine("connect"))?;
        migrate(pool.clone()).await?;
        let schema: String =
            sqlx::query_scalar("SELECT current_schema()").fetch_one(&pool).await.map_err(engine("read the schema"))?;
        fn records<T>(pool: &PgPool, table: &'static str) -> std::sync::Arc<PgRecords<T>> {
            std::sync::Arc::new(PgRecords::new(pool, table))
        }
        Ok(Self {
            tenants: records(&pool, "tenants"),
            users: records(&pool, "users"),
            relying_parties: records(&pool, "relying_parties"),
            admins: records(&pool, "admins"),
            devices: records(&pool, "devices"),
            enrollments: records(&pool, "enrollments"),
            challenges: records(&pool, "challenges"),
            nonces: std::sync::Arc::new(nonces::NonceChecker::start(pool.clone())),
            pool,
            application_name,
            channel: format!("nyckel:{schema}"),
        })
    }

    /// The connection pool (tests write raw rows through it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn complete_enrollment_now(
        &self,
        completed: &EnrollmentRecord,
        device: &DeviceRecord,
    ) -> Result<bool, StoreError> {
        let enrollment_key = completed.id.as_str().as_bytes();
        let enrollment_bytes = encode("enrollments", completed)?;
        let device_bytes = encode("devices", device)?;
        let mut tx = self.pool.begin().await.map_err(engine("begin enrollment completion"))?;
        // The row lock makes a second completion wait for the first and then see its device.
        let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM enrollments WHERE key = $1 FOR UPDATE")
            .bind(enrollment_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(engine("lock the enrollment"))?;
        if let Some(bytes) = stored {
            if decode::<EnrollmentRecord>("enrollments", &bytes)?.device_id.is_some() {
                return Ok(false);
            }
        }
        sqlx::query(&self.enrollments.sql.put)
            .bind(enrollment_key)
            .bind(enrollment_bytes)
            .execute(&mut *tx)
            .await
            .map_err(engine("store the completed enrollment"))?;
        sqlx::query(&self.devices.sql.put)
            .bind(device.device_id.as_str().as_bytes())
            .bind(device_bytes)
            .execute(&mut *tx)
            .await
            .map_err(engine("store the enrolled device"))?;
        tx.commit().await.map_err(engine("commit enrollment completion"))?;
        Ok(true)
    }
}

/// An audit sequence number as the `bigint` column holds it.
fn audit_seq(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Engine(format!("postgresql: audit number {seq} does not fit a bigint")))
}

/// A stored audit number as the sled key it stands for (so the chain logic sees one format).
fn audit_key(seq: i64) -> Vec<u8> {
    // The column's CHECK keeps it positive; a negative one would sort first either way.
    u64::try_from(seq).unwrap_or(0).to_be_bytes().to_vec()
}

impl PgStore {
    async fn audit_tip_in(connection: &mut sqlx::PgConnection) -> Result<AuditTip, StoreError> {
        let head: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *connection)
            .await
            .map_err(engine("read the audit head"))?;
        let last: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, value FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *connection)
                .await
                .map_err(engine("read the last audit event"))?;
        Ok(AuditTip { head, last: last.map(|(seq, value)| (audit_key(seq), value)) })
    }

    async fn audit_append_now(
        &self,
        next: &mut (dyn FnMut(&AuditTip) -> Option<AuditWrite> + Send),
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(engine("begin audit append"))?;
        // Every instance's appends queue here until this one commits: the tip read below is
        // then the one the previous append wrote, so the chain has one order and no fork.
        Self::lock_audit_chain(&mut tx).await?;
        let tip = Self::audit_tip_in(&mut tx).await?;
        let Some(write) = next(&tip) else {
            return Ok(false);
        };
        // A plain INSERT: a number already used is refused by the primary key, never replaced.
        let seqs = write.events.iter().map(|(seq, _)| audit_seq(*seq)).collect::<Result<Vec<i64>, _>>()?;
        let values: Vec<&[u8]> = write.events.iter().map(|(_, value)| value.as_slice()).collect();
        sqlx::query("INSERT INTO audit_events (seq, value) SELECT * FROM unnest($1::bigint[], $2::bytea[])")
            .bind(&seqs)
            .bind(&values)
            .execute(&mut *tx)
            .await
            .map_err(engine("write audit events"))?;
        Self::put_audit_head(&mut tx, &write.head).await?;
        tx.commit().await.map_err(engine("commit audit append"))?;
        Ok(true)
    }

    /// Takes the audit chain's transaction lock: appends and rechains of every instance queue
    /// here until the holder commits.
    async fn lock_audit_chain(connection: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(AUDIT_LOCK)
            .execute(connection)
            .await
            .map_err(engine("lock the audit chain"))?;
        Ok(())
    }

    async fn put_audit_head(connection: &mut sqlx::PgConnection, head: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_head (id, value) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(head)
        .execute(connection)
        .await
        .map_err(engine("write the audit head"))?;
        Ok(())
    }

    async fn audit_rechain_now(
        &self,
        remove: &[Vec<u8>],
        events: &[(u64, Vec<u8>)],
        head: &[u8],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(engine("begin audit rechain"))?;
        Self::lock_audit_chain(&mut tx).await?;
        for key in remove {
            let Ok(seq) = <[u8; 8]>::try_from(key.as_slice()).map(u64::from_be_bytes) else {
                continue;
            };
            sqlx::query("DELETE FROM audit_events WHERE seq = $1")
                .bind(audit_seq(seq)?)
                .execute(&mut *tx)
                .await
                .map_err(engine("remove an audit event"))?;
        }
        for (seq, bytes) in events {
            sqlx::query(
                "INSERT INTO audit_events (seq, value) VALUES ($1, $2) \
                 ON CONFLICT (seq) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(audit_seq(*seq)?)
            .bind(bytes)
            .execute(&mut *tx)
            .await
            .map_err(engine("write an audit event"))?;
        }
        Self::put_audit_head(&mut tx, head).await?;
        tx.commit().await.map_err(engine("commit audit rechain"))
    }
}

impl AuditRepo for PgStore {
    fn append<'a>(
        &'a self,
        next: &'a mut (dyn FnMut(&AuditTip) -> Option<AuditWrite> + Send),
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.audit_append_now(next))
    }

    fn tip(&self) -> StoreFuture<'_, AuditTip> {
        Box::pin(async move {
            let mut connection = self.pool.acquire().await.map_err(engine("connect"))?;
            Self::audit_tip_in(&mut connection).await
        })
    }

    fn records_after<'a>(&'a self, after: Option<&'a [u8]>, limit: usize) -> StoreFuture<'a, Vec<(Vec<u8>, Vec<u8>)>> {
        Box::pin(async move {
            // Keys here are always numbers; a cursor that is not one starts from the beginning.
            let after = after.and_then(|k| <[u8; 8]>::try_from(k).ok()).map_or(0, u64::from_be_bytes);
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows: Vec<(i64, Vec<u8>)> =
                sqlx::query_as("SELECT seq, value FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(engine("read audit events"))?;
            Ok(rows.into_iter().map(|(seq, value)| (audit_key(seq), value)).collect())
        })
    }

    fn rechain<'a>(
        &'a self,
        remove: &'a [Vec<u8>],
        events: &'a [(u64, Vec<u8>)],
        head: &'a [u8],
    ) -> StoreFuture<'a, ()> {
        Box::pin(self.audit_rechain_now(remove, events, head))
    }
}

/// Creates `schema_migrations` and applies each missing migration, all in one transaction.
async fn migrate(pool: PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(engine("begin migrations"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(engine("lock migrations"))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations \
         (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await
    .map_err(engine("create schema_migrations"))?;
    let applied: Vec<i32> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *tx)
        .await
        .map_err(engine("read schema_migrations"))?;
    for &(version, sql) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        // The whole file in one simple-protocol request (a function body holds `;`).
        // (A `&str` without arguments goes by the simple protocol, which takes several.)
        sqlx::Executor::execute(&mut *tx, sql).await.map_err(engine("apply a migration"))?;
        sqlx::query("INSERT INTO schema_migrations (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(engine("record a migration"))?;
    }
    tx.commit().await.map_err(engine("commit migrations"))
}

/// The statements of one record table.
struct Statements {
    get: String,
    put: String,
    insert_new: String,
    remove: String,
    all: String,
    /// Compare-and-set: `$1` key, `$2` the value read, `$3` the new value.
    swap: String,
}

/// One record kind's table.
pub struct PgRecords<T> {
    pool: PgPool,
    table: &'static str,
    sql: Statements,
    _record: PhantomData<fn() -> T>,
}

impl<T> PgRecords<T> {
    fn new(pool: &PgPool, table: &'static str) -> Self {
        let sql = Statements {
            get: format!("SELECT value FROM {table} WHERE key = $1"),
            put: format!(
                "INSERT INTO {table} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            insert_new: format!("INSERT INTO {table} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"),
            remove: format!("DELETE FROM {table} WHERE key = $1"),
            all: format!("SELECT value FROM {table} ORDER BY key"),
            swap: format!("UPDATE {table} SET value = $3 WHERE key = $1 AND value = $2"),
        };
        Self { pool: pool.clone(), table, sql, _record: PhantomData }
    }

    async fn update_now(
        &self,
        key: &[u8],
        change: &mut (dyn FnMut(&mut T) -> Change + Send),
    ) -> Result<Option<T>, StoreError>
    where
        T: Serialize + DeserializeOwned,
    {
        // Optimistic: read, let `change` decide, and write only if the row still holds what
        // it saw (compare-and-set in one statement); otherwise run again on the newer value.
        // A `Keep` costs one read and no transaction, a write one more statement: an answer
        // is a few of these, and each row lock and commit is paid by every instance's requests.
        let mut stored: Option<Vec<u8>> = self.read(key).await?;
        loop {
            let Some(bytes) = stored else {
                return Ok(None);
            };
            let mut record: T = decode(self.table, &bytes)?;
            if change(&mut record) != Change::Write {
                return Ok(Some(record));
            }
            let swapped = sqlx::query(&self.sql.swap)
                .bind(key)
                .bind(&bytes)
                .bind(encode(self.table, &record)?)
                .execute(&self.pool)
                .await
                .map_err(engine("write an updated record"))?;
            if swapped.rows_affected() == 1 {
                return Ok(Some(record));
            }
            stored = self.read(key).await?;
        }
    }

    async fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar(&self.sql.get).bind(key).fetch_optional(&self.pool).await.map_err(engine("read a record"))
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Records<T> for PgRecords<T> {
    fn get<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, Option<T>> {
        Box::pin(async move { self.read(key).await?.map(|bytes| decode(self.table, &bytes)).transpose() })
    }

    fn put<'a>(&'a self, key: &'a [u8], value: &'a T) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(&self.sql.put)
                .bind(key)
                .bind(encode(self.table, value)?)
                .execute(&self.pool)
                .await
                .map_err(engine("write a record"))?;
            Ok(())
        })
    }

    fn insert_new<'a>(&'a self, key: &'a [u8], value: &'a T) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let done = sqlx::query(&self.sql.insert_new)
                .bind(key)
                .bind(encode(self.table, value)?)
                .execute(&self.pool)
                .await
                .map_err(engine("create a record"))?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn remove<'a>(&'a self, key: &'a [u8]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(&self.sql.remove).bind(key).execute(&self.pool).await.map_err(engine("remove a record"))?;
            Ok(())
        })
    }

    fn all(&self) -> StoreFuture<'_, Vec<T>> {
        Box::pin(async move {
            let rows: Vec<Vec<u8>> =
                sqlx::query_scalar(&self.sql.all).fetch_all(&self.pool).await.map_err(engine("read every record"))?;
            rows.iter().map(|bytes| decode(self.table, bytes)).collect()
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a [u8],
        change: &'a mut (dyn FnMut(&mut T) -> Change + Send),
    ) -> StoreFuture<'a, Option<T>> {
        Box::pin(self.update_now(key, change))
    }
}

impl NonceRepo for PgStore {
    fn offer<'a>(&'a self, device: &'a DeviceId, nonce: [u8; 16], now: u64) -> StoreFuture<'a, NonceCheck> {
        Box::pin(self.nonces.offer(device, nonce, now))
    }

    fn prune(&self, now: u64) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let Some(cutoff) = now.checked_sub(NONCE_MEMORY) else {
                return Ok(());
            };
            sqlx::query("DELETE FROM nonces WHERE at <= $1")
                .bind(seconds(cutoff)?)
                .execute(&self.pool)
                .await
                .map_err(engine("prune nonces"))?;
            Ok(())
        })
    }
}

impl Store for PgStore {
    fn tenants(&self) -> &dyn Records<Tenant> {
        &*self.tenants
    }

    fn users(&self) -> &dyn Records<UserRecord> {
        &*self.users
    }

    fn relying_parties(&self) -> &dyn Records<RelyingParty> {
        &*self.relying_parties
    }

    fn admins(&self) -> &dyn Records<AdminScope> {
        &*self.admins
    }

    fn devices(&self) -> &dyn Records<DeviceRecord> {
        &*self.devices
    }

    fn enrollments(&self) -> &dyn Records<EnrollmentRecord> {
        &*self.enrollments
    }

    fn challenges(&self) -> &dyn Records<ChallengeRecord> {
        &*self.challenges
    }

    fn nonces(&self) -> &dyn NonceRepo {
        self
    }

    fn audit(&self) -> &dyn AuditRepo {
        self
    }

    fn complete_enrollment<'a>(
        &'a self,
        completed: &'a EnrollmentRecord,
        device: &'a DeviceRecord,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.complete_enrollment_now(completed, device))
    }

    fn exclusively<'a>(&'a self, task: i32, work: Work<'a>) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await.map_err(engine("begin exclusive work"))?;
            // Released with the transaction, also when this instance dies while holding it.
            let mine: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
                .bind(LOCK_CLASS)
                .bind(EXCLUSIVE_TASKS.saturating_add(task))
                .fetch_one(&mut *tx)
                .await
                .map_err(engine("lock exclusive work"))?;
            if mine {
                work.await;
            }
            tx.commit().await.map_err(engine("end exclusive work"))?;
            Ok(mine)
        })
    }

    fn change_feed(&self) -> Option<Box<dyn ChangeFeed>> {
        Some(Box::new(PgChangeFeed {
            pool: self.pool.clone(),
            channel: self.channel.clone(),
            own: self.application_name.clone(),
            listener: None,
            backoff: RECONNECT_FIRST,
        }))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        // Every write above is committed before its future completes, and a commit is durable.
        Box::pin(async { Ok(()) })
    }
}

/// First wait before reconnecting a lost listener; doubled up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: std::time::Duration = std::time::Duration::from_millis(100);
/// Longest wait between reconnection attempts.
const RECONNECT_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Other instances' changes, from one `LISTEN` connection on the store's channel (the
/// notices of `migrations/0003_notify.sql`); this instance's own notices are skipped.
pub struct PgChangeFeed {
    pool: PgPool,
    channel: String,
    /// This instance's `application_name`, which its own notices carry.
    own: String,
    listener: Option<PgListener>,
    backoff: std::time::Duration,
}

impl PgChangeFeed {
    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        // Named apart from the pool's connections, so an operator (or a test) can find it.
        sqlx::query("SELECT set_config('application_name', $1, false)")
            .bind(format!("{} listen", self.own))
            .execute(&mut listener)
            .await?;
        listener.listen(&self.channel).await?;
        Ok(listener)
    }

    async fn next_now(&mut self) -> Result<FeedEvent, StoreError> {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                match self.listen().await {
                    Ok(listener) => {
                        self.listener = Some(listener);
                        self.backoff = RECONNECT_FIRST;
                        // Whatever changed while nobody listened was not announced to us.
                        return Ok(FeedEvent::Resync);
                    }
                    Err(e) => {
                        tracing::warn!("postgresql: listening for other instances' changes failed: {e}; retrying");
                        tokio::time::sleep(self.backoff).await;
                        self.backoff = (self.backoff * 2).min(RECONNECT_MAX);
                        continue;
                    }
                }
            };
            match listener.try_recv().await {
                Ok(Some(notice)) => {
                    if let Some(changed) = parse_notice(notice.payload(), &self.own) {
                        return Ok(FeedEvent::Changed(changed));
                    }
                }
                Ok(None) => {
                    tracing::warn!("postgresql: the listener's connection was lost; reconnecting");
                    self.listener = None;
                }
                Err(e) => {
                    tracing::warn!("postgresql: the listener failed: {e}; reconnecting");
                    self.listener = None;
                }
            }
        }
    }
}

impl ChangeFeed for PgChangeFeed {
    fn next(&mut self) -> StoreFuture<'_, FeedEvent> {
        Box::pin(self.next_now())
    }
}

/// `<table> <hex key> <application_name>` → the change, unless it is `own` or malformed.
fn parse_notice(payload: &str, own: &str) -> Option<Changed> {
    let mut parts = payload.splitn(3, ' ');
    let (table, hex, writer) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
    if writer == own {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    let key = String::from_utf8(bytes).ok()?;
    let changed = match table {
        "challenges" => Changed::Challenge(key.parse().ok()?),
        "devices" => Changed::Device(key.parse().ok()?),
        "enrollments" => Changed::Enrollment(key.parse().ok()?),
        _ => return None,
    };
    Some(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse_and_own_ones_are_skipped() {
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        let id = nyckel_protocol::ChallengeId::random().unwrap();
        let payload = format!("challenges {} nyckel b", hex(id.as_str()));
        assert_eq!(parse_notice(&payload, "nyckel a"), Some(Changed::Challenge(id)));
        assert_eq!(parse_notice(&payload, "nyckel b"), None);
        assert_eq!(parse_notice("challenges zz nyckel b", "nyckel a"), None);
        assert_eq!(parse_notice("nonces 00 x", "nyckel a"), None);
    }
}
