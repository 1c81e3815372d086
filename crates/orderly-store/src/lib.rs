//! The store: persistence with sqlx. SQLite by default (a file), PostgreSQL by URL, one set of
//! portable migrations and runtime queries run against both. It keeps the event log (the
//! outbox, committed before anything is published), current locations and their history,
//! alerts, API tokens (hashed) and the audit log, and gives back what a restart needs.
//!
//! Edge crate: does database IO. Depends on orderly-model, sqlx, tokio, serde_json, sha2, rand.

mod lease;
mod outbound;
pub use lease::{Acquired, ClusterInstance, Fence, SiteLease};
pub use outbound::{Delivery, Parked, Webhook};

use orderly_model::report::Change;
use orderly_model::{Alert, AssetStatus, EventKind, OutEvent, Role, Timestamp};
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlSafeStr};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// How far back a restart and the daily log look for an excursion still under way (one that
/// lasts longer is a sensor nobody has fixed in a month: its silence alert says so).
const EXCURSION_LOOKBACK_MS: i64 = 30 * 24 * 3_600_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The cause in words (the first connection's own error: "Connection refused" names the
    /// address; a pool's "timed out" would not). The URL without its password.
    #[error("cannot open the database {url}: {cause}")]
    Open { url: String, cause: String },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// The site's lease moved on: this instance no longer owns the site and commits nothing.
    #[error(
        "site {site}: the lease taken at epoch {epoch} is lost (held now by {now}); nothing was committed"
    )]
    Fenced {
        site: String,
        epoch: i64,
        now: String,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What a restart needs back (the world takes it as it is).
pub use orderly_model::Restored as Remembered;

/// What a utilisation report reads from the events (`orderly_model::report`).
#[derive(Clone, Debug, Default)]
pub struct UtilisationInputs {
    /// Per asset, its status as of the window's start, where an event says so: the last change
    /// before the window, else the `from` of its first change in the window.
    pub status_at_start: HashMap<String, AssetStatus>,
    /// Subjects whose tag was lost when the window opened.
    pub missing_at_start: HashSet<String>,
    /// Every status change, loss and find in the window, oldest first.
    pub changes: Vec<(String, Timestamp, Change)>,
}

/// An authenticated API caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub token_id: String,
    pub name: String,
    pub role: Role,
    /// Units a nurse may see; empty for the other roles (they see all).
    pub units: Vec<String>,
}

/// One stay in a room.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stay {
    pub room: String,
    pub from: Timestamp,
    /// None while the subject is still there.
    pub to: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: Timestamp,
    pub who: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// An API token as `orderly token list` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: String,
    pub units: Vec<String>,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    pub revoked: Option<Timestamp>,
}

/// What `verify_audit` found.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditVerdict {
    /// Records in the chain.
    pub records: u64,
    /// Records written before the chain existed (not verifiable).
    pub unchained: u64,
    /// The last record's number and hash: note them elsewhere, and a later run that finds a
    /// shorter chain shows records deleted from its end.
    pub head: (i64, String),
    /// Each break in the chain, in plain words.
    pub problems: Vec<String>,
}

/// A record's hash: SHA-256 over the previous record's hash, its number and its fields, as a
/// JSON array (no field can run into the next).
pub fn audit_hash(prev: &str, seq: i64, e: &AuditEntry) -> String {
    let text = serde_json::json!([
        prev,
        seq,
        e.at.millis(),
        e.who,
        e.action,
        e.target,
        e.detail
    ])
    .to_string();
    hash(&text)
}

/// Filters for alert history.
#[derive(Clone, Debug, Default)]
pub struct AlertQuery {
    pub unit: Option<String>,
    pub rule: Option<String>,
    pub priority: Option<String>,
    pub state: Option<String>,
    /// Only alerts not resolved.
    pub open_only: bool,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: i64,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The audit chain's last record (number, hash), loaded at the first write: audit records
    /// are written one at a time, each chained to the one before.
    audit_head: std::sync::Arc<tokio::sync::Mutex<Option<(i64, String)>>>,
    /// When set, every commit of events checks the site's lease first (`lease`).
    fence: Option<std::sync::Arc<Fence>>,
}

/// The schema's steps, oldest first. Each only adds (tables, indexes, columns that are
/// nullable or have a default: test `every_migration_only_adds`), so an older Orderly runs on a
/// database a newer one migrated: a rolling upgrade may restart an instance not yet upgraded.
const STEPS: [(i64, &str, &str); 9] = [
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "asset status",
        include_str!("../migrations/0002_asset_status.sql"),
    ),
    (
        3,
        "events by kind",
        include_str!("../migrations/0003_events_by_kind.sql"),
    ),
    (
        4,
        "work orders",
        include_str!("../migrations/0004_work_orders.sql"),
    ),
    (
        5,
        "audit chain, token expiry",
        include_str!("../migrations/0005_audit_chain_token_expiry.sql"),
    ),
    (6, "census", include_str!("../migrations/0006_census.sql")),
    (
        7,
        "outbound",
        include_str!("../migrations/0007_outbound.sql"),
    ),
    (
        8,
        "site lease",
        include_str!("../migrations/0008_site_lease.sql"),
    ),
    (
        9,
        "lease hl7",
        include_str!("../migrations/0009_lease_hl7.sql"),
    ),
];

fn migrator() -> Migrator {
    let mut m = Migrator::with_migrations(
        STEPS
            .into_iter()
            .map(|(v, name, sql)| {
                Migration::new(
                    v,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    // Steps a newer Orderly applied are not a reason to refuse to start (see `STEPS`).
    m.set_ignore_missing(true);
    m
}

/// Brings the schema up to date. PostgreSQL serializes instances migrating at once (an
/// advisory lock); SQLite has no such lock, so an instance that finds a step it was applying
/// already applied by another (each step is a transaction of its own, undone when it fails)
/// tries again, and then skips it.
async fn migrate(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut tries = 0;
    loop {
        match migrator().run(pool).await {
            Ok(()) => {
                let newest = STEPS.last().map_or(0, |s| s.0);
                let newer: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT version FROM _sqlx_migrations WHERE version > {newest} ORDER BY version"
                )))
                .fetch_all(pool)
                .await
                .unwrap_or_default();
                if !newer.is_empty() {
                    tracing::warn!(
                        ?newer,
                        "the database was migrated by a newer Orderly; this one runs on it (its steps only add), upgrade it when you can"
                    );
                }
                return Ok(());
            }
            Err(
                e @ (sqlx::migrate::MigrateError::Execute(_)
                | sqlx::migrate::MigrateError::ExecuteMigration(..)),
            ) if backend == Backend::Sqlite && tries < 5 => {
                tries += 1;
                tracing::info!(error = %e, "another instance is migrating the database; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(200 * tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Puts a SQLite file in write-ahead-log mode. The switch takes the file exclusively, and
/// SQLite answers "database is locked" at once (without waiting out the busy timeout) while
/// another instance opening the same file at that moment holds it: try again for a while.
async fn wal(pool: &AnyPool) -> Result<()> {
    let mut tries = 0u64;
    loop {
        match sqlx::query("PRAGMA journal_mode = WAL").execute(pool).await {
            Ok(_) => return Ok(()),
            Err(sqlx::Error::Database(e)) if is_locked(e.as_ref()) && tries < 50 => {
                tries += 1;
                tracing::debug!(error = %e, "another instance holds the database file; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(10 * tries.min(10))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// SQLITE_BUSY (5) or SQLITE_LOCKED (6), with or without an extended code.
fn is_locked(e: &dyn sqlx::error::DatabaseError) -> bool {
    e.code()
        .and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

fn hash(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// An HL7 message Orderly answered AE or AR.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RejectedMessage {
    pub at: Timestamp,
    /// MSH-3/MSH-4 as sent, or "" when the header could not be read.
    pub sender: String,
    /// MSH-10, or "".
    pub control_id: String,
    /// `ADT^A01`, or "" when unreadable.
    pub kind: String,
    /// The acknowledgement: `AE` or `AR`.
    pub code: String,
    /// Where and why, in plain words (`PV1-3: location ... is not in the census map`).
    pub problem: String,
    /// The message as received (segments on their own lines).
    pub message: String,
}

/// A PostgreSQL schema Orderly may name in SQL as it is: a lower-case letter, then lower-case
/// letters, digits and `_`, at most 63 in all.
fn check_schema_name(url: &str, name: &str) -> Result<()> {
    let ok = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    match ok {
        true => Ok(()),
        false => Err(StoreError::Open {
            url: redact(url),
            cause: format!(
                "schema {name:?}: a schema name is a lower-case letter, then lower-case letters, digits and _, at most 63"
            ),
        }),
    }
}

/// The schema of a site's tables when several sites share a PostgreSQL database: `site_`
/// and the site's id in lower case, anything but letters and digits as `_`.
pub fn site_schema(site: &str) -> String {
    let mut s: String = format!("site_{site}")
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '_',
        })
        .collect();
    s.truncate(63);
    s
}

/// A database URL fit to print: the password, if any, replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Opens (creating a SQLite file if missing) and migrates. `url` is `sqlite://PATH` or
    /// `postgres://...`.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_in(url, None).await
    }

    /// Opens `url` with every table in the PostgreSQL schema `schema` (created if missing):
    /// several sites share one database, each in its own schema. None: the database's default
    /// search path. A schema is a lower-case name of letters, digits and `_` (`site_east`).
    pub async fn open_in(url: &str, schema: Option<&str>) -> Result<Store> {
        install_default_drivers();
        if let Some(name) = schema {
            check_schema_name(url, name)?;
            if !url.starts_with("postgres") {
                return Err(StoreError::Open {
                    url: redact(url),
                    cause: format!(
                        "schema {name}: only a PostgreSQL database has schemas (give each site its own SQLite file)"
                    ),
                });
            }
        }
        let schema = schema.map(str::to_string);
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let connect_url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let mut opts = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            // With the database away, a caller learns it in seconds, not sqlx's default 30.
            .acquire_timeout(std::time::Duration::from_secs(5));
        if backend == Backend::Postgres {
            let schema = schema.clone();
            opts = opts.after_connect(move |conn, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    // An instance frozen (SIGSTOP, a VM paused) inside a commit would hold the
                    // site's lease row and keep a standby from taking over: its transaction
                    // is ended by the server instead, and the commit retried when it wakes.
                    sqlx::query("SET idle_in_transaction_session_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    if let Some(name) = schema {
                        // Checked by check_schema_name: a plain identifier.
                        sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {name}")))
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            });
        }
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let open_error = |e: sqlx::Error| StoreError::Open {
            url: redact(url),
            cause: match &e {
                sqlx::Error::Io(io) => format!("{io} (is the database server running there?)"),
                e => e.to_string(),
            },
        };
        // One connection first: its error is the real one (refused, unknown host, bad
        // password), at once, where the pool would wait out its timeout and say only that.
        {
            use sqlx::Connection as _;
            let mut first = sqlx::AnyConnection::connect(&connect_url)
                .await
                .map_err(open_error)?;
            if let Some(name) = &schema {
                let made = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {name}"
                )))
                .execute(&mut first)
                .await;
                // Two instances creating it at once: one of them fails on PostgreSQL's
                // catalogue index, and finds it made.
                if let Err(e) = made {
                    let there = sqlx::query("SELECT 1 FROM pg_namespace WHERE nspname = $1")
                        .bind(name.as_str())
                        .fetch_optional(&mut first)
                        .await
                        .map_err(open_error)?;
                    if there.is_none() {
                        return Err(open_error(e));
                    }
                }
            }
            let _ = first.close().await;
        }
        let pool = opts.connect(&connect_url).await.map_err(open_error)?;
        if backend == Backend::Sqlite {
            wal(&pool).await?;
        }
        migrate(&pool, backend).await?;
        Ok(Store {
            pool,
            backend,
            audit_head: Default::default(),
            fence: None,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Commits a batch of events and what they change, in one transaction. The events and the
    /// rooms of tags (most of a busy hospital's events) are written many rows per statement: a
    /// statement per row made the commit of a step that placed 25,000 tags take seconds.
    pub async fn commit(&self, events: &[OutEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        self.check_fence(&mut tx).await?;
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            let body = serde_json::to_string(e).map_err(|err| StoreError::Corrupt {
                table: "events",
                detail: err.to_string(),
            })?;
            rows.push((e, event_subject(&e.kind), body));
        }
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
            let sql = insert_values(
                self.backend,
                "INSERT INTO events (seq, at_ms, kind, unit, subject, body) VALUES ",
                6,
                chunk.len(),
                "",
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (e, subject, body) in chunk {
                q = q
                    .bind(e.seq as i64)
                    .bind(e.at.millis())
                    .bind(e.kind_name())
                    .bind(e.unit().map(str::to_string))
                    .bind(subject)
                    .bind(body);
            }
            q.execute(&mut *tx).await?;
        }
        commit_locations(&mut tx, self.backend, events).await?;
        for e in events {
            match &e.kind {
                // Written above, many at a time.
                EventKind::LocationChanged { .. } | EventKind::LocationLost { .. } => {}
                EventKind::StatusChanged {
                    asset,
                    to,
                    by,
                    reason,
                    ..
                } => {
                    sqlx::query(
                        "INSERT INTO asset_status (asset, status, since_ms, by_whom, reason) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (asset) DO UPDATE SET status = excluded.status, since_ms = excluded.since_ms, \
                         by_whom = excluded.by_whom, reason = excluded.reason",
                    )
                    .bind(asset.clone())
                    .bind(to.as_str())
                    .bind(e.at.millis())
                    .bind(by.clone())
                    .bind(reason.clone())
                    .execute(&mut *tx)
                    .await?;
                }
                EventKind::WorkOrderOpened(w) | EventKind::WorkOrderUpdated(w) => {
                    let body = serde_json::to_string(w).map_err(|err| StoreError::Corrupt {
                        table: "work_orders",
                        detail: err.to_string(),
                    })?;
                    sqlx::query(
                        "INSERT INTO work_orders (id, asset, reason, status, opened_ms, updated_ms, closed_ms, body) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_ms = excluded.updated_ms, \
                         closed_ms = excluded.closed_ms, body = excluded.body",
                    )
                    .bind(w.id.clone())
                    .bind(w.asset.clone())
                    .bind(w.reason.clone())
                    .bind(w.status.as_str())
                    .bind(w.opened_at.millis())
                    .bind(e.at.millis())
                    .bind(w.closed_at.map(|t| t.millis()))
                    .bind(body)
                    .execute(&mut *tx)
                    .await?;
                }
                k if k.census().is_some() => {
                    let Some(c) = k.census() else { continue };
                    let out = matches!(
                        e.kind_name(),
                        "patient.discharged" | "patient.admit_cancelled"
                    );
                    let body =
                        serde_json::to_string(&c.patient).map_err(|err| StoreError::Corrupt {
                            table: "census",
                            detail: err.to_string(),
                        })?;
                    sqlx::query(
                        "INSERT INTO census (patient, status, bed, updated_ms, body) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (patient) DO UPDATE SET status = excluded.status, bed = excluded.bed, \
                         updated_ms = excluded.updated_ms, body = excluded.body",
                    )
                    .bind(c.patient.id.clone())
                    .bind(if out { "out" } else { "in" })
                    .bind(c.patient.bed.clone())
                    .bind(e.at.millis())
                    .bind(body)
                    .execute(&mut *tx)
                    .await?;
                    // A merged record is out of the census, as it last stood.
                    for m in &c.merged {
                        let body = serde_json::to_string(m).map_err(|err| StoreError::Corrupt {
                            table: "census",
                            detail: err.to_string(),
                        })?;
                        sqlx::query(
                            "INSERT INTO census (patient, status, bed, updated_ms, body) VALUES ($1, 'out', $2, $3, $4) \
                             ON CONFLICT (patient) DO UPDATE SET status = excluded.status, bed = excluded.bed, \
                             updated_ms = excluded.updated_ms, body = excluded.body",
                        )
                        .bind(m.id.clone())
                        .bind(m.bed.clone())
                        .bind(e.at.millis())
                        .bind(body)
                        .execute(&mut *tx)
                        .await?;
                    }
                    if let Some(m) = &c.message {
                        sqlx::query(
                            "INSERT INTO hl7_applied (message, seq, at_ms) VALUES ($1, $2, $3) ON CONFLICT (message) DO NOTHING",
                        )
                        .bind(m.clone())
                        .bind(e.seq as i64)
                        .bind(e.at.millis())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                k => {
                    let Some(a) = k.alert() else { continue };
                    let body = serde_json::to_string(a).map_err(|err| StoreError::Corrupt {
                        table: "alerts",
                        detail: err.to_string(),
                    })?;
                    sqlx::query(
                        "INSERT INTO alerts (id, rule, subject, unit, state, priority, raised_ms, updated_ms, body) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms, body = excluded.body",
                    )
                    .bind(a.id.clone())
                    .bind(a.rule.clone())
                    .bind(a.subject.clone())
                    .bind(a.unit.clone())
                    .bind(a.state.as_str())
                    .bind(a.priority.as_str())
                    .bind(a.raised_at.millis())
                    .bind(e.at.millis())
                    .bind(body)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// What the world needs back after a restart.
    pub async fn remembered(&self) -> Result<Remembered> {
        let next_seq: Option<i64> = sqlx::query("SELECT MAX(seq) AS m FROM events")
            .fetch_one(&self.pool)
            .await?
            .try_get("m")?;
        let rows = sqlx::query("SELECT subject, room, since_ms, last_seen_ms, confidence FROM locations ORDER BY subject").fetch_all(&self.pool).await?;
        let mut locations = Vec::with_capacity(rows.len());
        for r in rows {
            locations.push((
                r.try_get("subject")?,
                r.try_get("room")?,
                Timestamp(r.try_get("since_ms")?),
                Timestamp(r.try_get("last_seen_ms")?),
                r.try_get::<f64, _>("confidence")? as f32,
            ));
        }
        let rows = sqlx::query("SELECT asset, status, since_ms FROM asset_status ORDER BY asset")
            .fetch_all(&self.pool)
            .await?;
        let mut statuses = Vec::with_capacity(rows.len());
        for r in rows {
            let s: String = r.try_get("status")?;
            let status = AssetStatus::parse(&s).ok_or_else(|| StoreError::Corrupt {
                table: "asset_status",
                detail: format!("unknown status {s:?}"),
            })?;
            statuses.push((
                r.try_get("asset")?,
                status,
                Timestamp(r.try_get("since_ms")?),
            ));
        }
        let alerts = self
            .alerts(&AlertQuery {
                open_only: true,
                limit: 100_000,
                ..AlertQuery::default()
            })
            .await?;
        // Tags lost when Orderly stopped: their last location event is a loss.
        let rows = sqlx::query(
            "SELECT e.body FROM events e JOIN (SELECT subject, MAX(seq) AS s FROM events \
             WHERE kind IN ('location.changed', 'location.lost', 'location.found') GROUP BY subject) m \
             ON e.seq = m.s ORDER BY e.seq",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut lost = Vec::new();
        for r in rows {
            if let EventKind::LocationLost { subject, .. } = event_of(r.try_get("body")?)?.kind {
                lost.push(subject);
            }
        }
        let rows = sqlx::query(
            "SELECT subject, MAX(at_ms) AS at_ms FROM events WHERE kind = 'patient.turned' GROUP BY subject ORDER BY subject",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut turned = Vec::with_capacity(rows.len());
        for r in rows {
            turned.push((r.try_get("subject")?, Timestamp(r.try_get("at_ms")?)));
        }
        // A command or suggestion older than a week is not waited for any more.
        const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;
        let rows = sqlx::query(
            "SELECT body FROM events WHERE kind IN ('bed.command', 'bed.command_acked', 'bed.suggested', 'bed.suggestion_ended') \
             AND at_ms >= (SELECT COALESCE(MAX(at_ms), 0) FROM events) - $1 ORDER BY seq",
        )
        .bind(WEEK_MS)
        .fetch_all(&self.pool)
        .await?;
        let mut log = Vec::with_capacity(rows.len());
        for r in rows {
            log.push(event_of(r.try_get("body")?)?);
        }
        let (commands, suggestions) = orderly_model::command::still_open(&log);
        let rows = sqlx::query("SELECT body FROM work_orders ORDER BY opened_ms, id")
            .fetch_all(&self.pool)
            .await?;
        let mut orders = Vec::with_capacity(rows.len());
        for r in rows {
            let body: String = r.try_get("body")?;
            let w: orderly_model::maintenance::WorkOrder =
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                    table: "work_orders",
                    detail: e.to_string(),
                })?;
            orders.push(w);
        }
        let (work_orders, last_service, cancelled) = orderly_model::maintenance::still_open(orders);
        let rows = sqlx::query(
            "SELECT body FROM events WHERE kind IN ('recall.opened', 'recall.updated') ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut recalls: std::collections::BTreeMap<String, orderly_model::maintenance::Recall> =
            std::collections::BTreeMap::new();
        for r in rows {
            if let EventKind::RecallOpened(x) | EventKind::RecallUpdated(x) =
                event_of(r.try_get("body")?)?.kind
            {
                recalls.insert(x.id.clone(), *x);
            }
        }
        let recalls = recalls.into_values().collect();
        let rows = sqlx::query(
            "SELECT body FROM events WHERE seq IN \
             (SELECT MAX(seq) FROM events WHERE kind = 'asset.meters' GROUP BY subject) ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut meters = Vec::with_capacity(rows.len());
        for r in rows {
            if let EventKind::AssetMeters {
                asset,
                usage,
                first,
            } = event_of(r.try_get("body")?)?.kind
            {
                meters.push((asset, usage, first));
            }
        }
        // The census as it stands, those out of it in the last 30 days (a cancelled discharge
        // brings one back), and the HL7 messages applied in the last 30 days.
        const KEEP_MS: i64 = 30 * 24 * 3600 * 1000;
        let newest: i64 = sqlx::query("SELECT COALESCE(MAX(at_ms), 0) AS m FROM events")
            .fetch_one(&self.pool)
            .await?
            .try_get("m")?;
        let rows = sqlx::query(
            "SELECT status, updated_ms, body FROM census WHERE status = 'in' OR updated_ms >= $1 ORDER BY patient",
        )
        .bind(newest - KEEP_MS)
        .fetch_all(&self.pool)
        .await?;
        let (mut census, mut census_gone) = (Vec::new(), Vec::new());
        for r in rows {
            let body: String = r.try_get("body")?;
            let p: orderly_model::Patient =
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                    table: "census",
                    detail: e.to_string(),
                })?;
            let status: String = r.try_get("status")?;
            if status == "in" {
                census.push(p);
            } else {
                census_gone.push((p, Timestamp(r.try_get("updated_ms")?)));
            }
        }
        let rows =
            sqlx::query("SELECT message, seq FROM hl7_applied WHERE at_ms >= $1 ORDER BY seq")
                .bind(newest - KEEP_MS)
                .fetch_all(&self.pool)
                .await?;
        let mut census_seen = Vec::with_capacity(rows.len());
        for r in rows {
            census_seen.push((r.try_get("message")?, r.try_get::<i64, _>("seq")? as u64));
        }
        let turnover = self
            .turnovers_where(
                "seq IN (SELECT MAX(seq) FROM events WHERE kind = 'bed.turnover' GROUP BY subject)",
                &[],
            )
            .await?;
        // Vital signs charted in the last 12 hours of the log (what a score counts at most).
        const HALF_DAY_MS: i64 = 12 * 3600 * 1000;
        let rows = sqlx::query(
            "SELECT body FROM events WHERE kind = 'patient.observed' \
             AND at_ms >= (SELECT COALESCE(MAX(at_ms), 0) FROM events) - $1 ORDER BY seq",
        )
        .bind(HALF_DAY_MS)
        .fetch_all(&self.pool)
        .await?;
        let mut observed = Vec::with_capacity(rows.len());
        for r in rows {
            if let EventKind::PatientObserved(c) = event_of(r.try_get("body")?)?.kind {
                observed.push(*c);
            }
        }
        let infusions = self
            .infusions_where(
                "seq IN (SELECT MAX(seq) FROM events WHERE kind = 'pump.infusion' GROUP BY subject)",
                &[],
            )
            .await?;
        // Excursions under way: each sensor's and quantity's last record, when it has no end.
        let newest_ms = newest;
        let excursions = self
            .excursions_between(
                Timestamp(newest_ms - EXCURSION_LOOKBACK_MS),
                Timestamp(i64::MAX),
            )
            .await?
            .into_iter()
            .filter(|x| x.ended_at.is_none())
            .collect();
        Ok(Remembered {
            excursions,
            infusions,
            observed,
            turnover,
            census,
            census_gone,
            census_seen,
            next_seq: next_seq.unwrap_or(0) as u64,
            locations,
            lost,
            statuses,
            alerts,
            turned,
            commands,
            suggestions,
            work_orders,
            last_service,
            cancelled,
            recalls,
            meters,
        })
    }

    /// Work orders, newest first: of one asset, in one status (`open` means not done or
    /// cancelled), opened in `[from, to)`.
    pub async fn work_orders(
        &self,
        asset: Option<&str>,
        status: Option<&str>,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> Result<Vec<orderly_model::maintenance::WorkOrder>> {
        let rows = sqlx::query(
            "SELECT body FROM work_orders WHERE ($1 IS NULL OR asset = $1) \
             AND ($2 IS NULL OR status = $2 OR ($2 = 'open' AND status NOT IN ('done', 'cancelled'))) \
             AND opened_ms >= $3 AND opened_ms < $4 ORDER BY opened_ms DESC, id DESC LIMIT $5",
        )
        .bind(asset.map(str::to_string))
        .bind(status.map(str::to_string))
        .bind(from.millis())
        .bind(to.millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let body: String = r.try_get("body")?;
            out.push(
                serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                    table: "work_orders",
                    detail: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// Alerts matching the filters, newest first.
    pub async fn alerts(&self, q: &AlertQuery) -> Result<Vec<Alert>> {
        let rows = sqlx::query(
            "SELECT body FROM alerts WHERE ($1 IS NULL OR unit = $1) AND ($2 IS NULL OR rule = $2) \
             AND ($3 IS NULL OR priority = $3) AND ($4 IS NULL OR state = $4) AND ($5 = 0 OR state <> 'resolved') \
             AND raised_ms >= $6 AND raised_ms <= $7 ORDER BY raised_ms DESC, id LIMIT $8",
        )
        .bind(q.unit.clone())
        .bind(q.rule.clone())
        .bind(q.priority.clone())
        .bind(q.state.clone())
        .bind(i64::from(q.open_only))
        .bind(q.from.map_or(i64::MIN, Timestamp::millis))
        .bind(q.to.map_or(i64::MAX, Timestamp::millis))
        .bind(q.limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                serde_json::from_str::<Alert>(&body).map_err(|e| StoreError::Corrupt {
                    table: "alerts",
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// Events after `after_seq` (to catch up a stream), oldest first.
    pub async fn events_after(&self, after_seq: u64, limit: i64) -> Result<Vec<OutEvent>> {
        let rows = sqlx::query("SELECT body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq as i64)
            .bind(limit.clamp(1, 100_000))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| event_of(r.try_get("body")?))
            .collect()
    }

    /// Every `bundle.changed` before `to`, in commit order (through the `(kind, at_ms)` index),
    /// optionally of one bundle: what a compliance report needs.
    pub async fn bundle_changes(
        &self,
        to: Timestamp,
        bundle: Option<&str>,
    ) -> Result<Vec<orderly_model::compliance::BundleChange>> {
        let rows = sqlx::query(
            "SELECT at_ms, body FROM events WHERE kind = 'bundle.changed' AND at_ms < $1 ORDER BY seq",
        )
        .bind(to.millis())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let e = event_of(r.try_get("body")?)?;
            if let EventKind::BundleChanged {
                bundle: b,
                rule,
                subject,
                applies,
                compliant,
                unit,
                ..
            } = e.kind
                && bundle.is_none_or(|x| x == b)
            {
                out.push(orderly_model::compliance::BundleChange {
                    at: Timestamp(r.try_get("at_ms")?),
                    bundle: b,
                    rule,
                    subject,
                    unit,
                    applies,
                    compliant,
                });
            }
        }
        Ok(out)
    }

    /// The events a utilisation report over `[from, to)` needs (status changes, tags lost and
    /// found), read through the `(kind, at_ms)` index: no scan of location changes.
    pub async fn utilisation_inputs(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<UtilisationInputs> {
        let parse = event_of;
        let mut out = UtilisationInputs::default();
        // The last of each kind before the window, per subject.
        let last_before = |kinds: &'static str| {
            format!(
                "SELECT e.body FROM events e JOIN (SELECT subject, MAX(seq) AS s FROM events \
                 WHERE kind IN ({kinds}) AND at_ms < $1 GROUP BY subject) m ON e.seq = m.s"
            )
        };
        for row in sqlx::query(sqlx::AssertSqlSafe(last_before("'asset.status_changed'")))
            .bind(from.millis())
            .fetch_all(&self.pool)
            .await?
        {
            if let EventKind::StatusChanged { asset, to, .. } = parse(row.try_get("body")?)?.kind {
                out.status_at_start.insert(asset, to);
            }
        }
        for row in sqlx::query(sqlx::AssertSqlSafe(last_before(
            "'location.lost', 'location.found'",
        )))
        .bind(from.millis())
        .fetch_all(&self.pool)
        .await?
        {
            if let EventKind::LocationLost { subject, .. } = parse(row.try_get("body")?)?.kind {
                out.missing_at_start.insert(subject);
            }
        }
        let rows = sqlx::query(
            "SELECT body FROM events WHERE kind IN ('asset.status_changed', 'location.lost', 'location.found') \
             AND at_ms >= $1 AND at_ms < $2 ORDER BY seq",
        )
        .bind(from.millis())
        .bind(to.millis())
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let e = parse(row.try_get("body")?)?;
            let (subject, change) = match e.kind {
                EventKind::StatusChanged {
                    asset,
                    from: was,
                    to,
                    ..
                } => {
                    out.status_at_start.entry(asset.clone()).or_insert(was);
                    (asset, Change::Status(to))
                }
                EventKind::LocationLost { subject, .. } => (subject, Change::Missing(true)),
                EventKind::LocationFound { subject, .. } => (subject, Change::Missing(false)),
                _ => continue,
            };
            out.changes.push((subject, e.at, change));
        }
        Ok(out)
    }

    /// Rooms a subject was in between `from` and `to`, oldest first.
    pub async fn history(
        &self,
        subject: &str,
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> Result<Vec<Stay>> {
        let rows = sqlx::query(
            "SELECT room, from_ms, to_ms FROM location_history WHERE subject = $1 AND from_ms <= $3 \
             AND (to_ms IS NULL OR to_ms >= $2) ORDER BY from_ms, seq LIMIT $4",
        )
        .bind(subject.to_string())
        .bind(from.millis())
        .bind(to.millis())
        .bind(limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Stay {
                    room: r.try_get("room")?,
                    from: Timestamp(r.try_get("from_ms")?),
                    to: r.try_get::<Option<i64>, _>("to_ms")?.map(Timestamp),
                })
            })
            .collect()
    }

    /// A subject's events of the given kinds over `[from, to)`, newest first (the
    /// `(subject, seq)` index). `kinds` are event kind names from the code, never user text.
    pub async fn subject_events(
        &self,
        subject: &str,
        kinds: &[&'static str],
        from: Timestamp,
        to: Timestamp,
        limit: i64,
    ) -> Result<Vec<OutEvent>> {
        let list: Vec<String> = kinds
            .iter()
            .filter(|k| {
                k.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
            })
            .map(|k| format!("'{k}'"))
            .collect();
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT body FROM events WHERE subject = $1 AND kind IN ({}) AND at_ms >= $2 AND at_ms < $3 \
             ORDER BY seq DESC LIMIT $4",
            list.join(", ")
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(subject.to_string())
            .bind(from.millis())
            .bind(to.millis())
            .bind(limit.clamp(1, 10_000))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| event_of(r.try_get("body")?))
            .collect()
    }

    /// Bed turnover changes in `[from, to)`, oldest first.
    pub async fn turnovers(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(orderly_model::census::TurnoverChange, Timestamp)>> {
        self.turnovers_where(
            "kind = 'bed.turnover' AND at_ms >= $1 AND at_ms < $2",
            &[from.millis(), to.millis()],
        )
        .await
    }

    /// The infusion records of `[from, to)` and, before them, each pump's last record before
    /// `from` (the infusions running when the window opens), oldest first.
    pub async fn infusions(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<(orderly_model::infusion::InfusionRecord, Timestamp)>> {
        let mut out = self
            .infusions_where(
                "seq IN (SELECT MAX(seq) FROM events WHERE kind = 'pump.infusion' AND at_ms < $1 GROUP BY subject)",
                &[from.millis()],
            )
            .await?;
        out.extend(
            self.infusions_where(
                "kind = 'pump.infusion' AND at_ms >= $1 AND at_ms < $2",
                &[from.millis(), to.millis()],
            )
            .await?,
        );
        Ok(out)
    }

    /// The environment's daily log material for `[from, to)`: the hourly summaries of hours
    /// starting in it, and every excursion under way in it (as last recorded), oldest first.
    pub async fn environment(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(
        Vec<orderly_model::environment::Summary>,
        Vec<orderly_model::environment::Excursion>,
    )> {
        // A summary is written when its hour is over (a little after, for late readings).
        let summaries = self
            .events_where(
                "kind = 'env.summary' AND at_ms >= $1 AND at_ms < $2",
                &[from.millis(), to.millis().saturating_add(2 * 3_600_000)],
                |k| match k {
                    EventKind::EnvSummary(x) => Some(*x),
                    _ => None,
                },
            )
            .await?
            .into_iter()
            .map(|(x, _)| x)
            .filter(|x| x.from >= from && x.from < to)
            .collect();
        let excursions = self
            .excursions_between(Timestamp(from.millis() - EXCURSION_LOOKBACK_MS), to)
            .await?
            .into_iter()
            .filter(|x| x.started_at < to && x.ended_at.is_none_or(|e| e >= from))
            .collect();
        Ok((summaries, excursions))
    }

    /// Every excursion recorded in `[from, to)`, each as last recorded (its end replaces its
    /// start), in order of start.
    async fn excursions_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<orderly_model::environment::Excursion>> {
        let records = self
            .events_where(
                "kind = 'env.excursion' AND at_ms >= $1 AND at_ms < $2",
                &[from.millis(), to.millis()],
                |k| match k {
                    EventKind::EnvExcursion(x) => Some(*x),
                    _ => None,
                },
            )
            .await?;
        let mut last: std::collections::BTreeMap<(String, &'static str, i64), _> =
            std::collections::BTreeMap::new();
        for (x, _) in records {
            last.insert(
                (
                    x.place.sensor.clone(),
                    x.quantity.as_str(),
                    x.started_at.millis(),
                ),
                x,
            );
        }
        let mut out: Vec<_> = last.into_values().collect();
        out.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.place.sensor.cmp(&b.place.sensor))
        });
        Ok(out)
    }

    async fn infusions_where(
        &self,
        filter: &'static str,
        binds: &[i64],
    ) -> Result<Vec<(orderly_model::infusion::InfusionRecord, Timestamp)>> {
        self.events_where(filter, binds, |k| match k {
            EventKind::PumpInfusion(x) => Some(*x),
            _ => None,
        })
        .await
    }

    async fn turnovers_where(
        &self,
        filter: &'static str,
        binds: &[i64],
    ) -> Result<Vec<(orderly_model::census::TurnoverChange, Timestamp)>> {
        self.events_where(filter, binds, |k| match k {
            EventKind::BedTurnover(t) => Some(t),
            _ => None,
        })
        .await
    }

    /// The events matching `filter` (`$1`, `$2`, ... bound to `binds`), in commit order, as
    /// what `pick` takes of each and when.
    async fn events_where<T>(
        &self,
        filter: &'static str,
        binds: &[i64],
        pick: fn(EventKind) -> Option<T>,
    ) -> Result<Vec<(T, Timestamp)>> {
        let sql = format!("SELECT body FROM events WHERE {filter} ORDER BY seq");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(*b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let e = event_of(r.try_get("body")?)?;
            if let Some(x) = pick(e.kind) {
                out.push((x, e.at));
            }
        }
        Ok(out)
    }

    /// Records an HL7 message Orderly could not apply (answered AE or AR), with why. The
    /// message is kept up to 64 KiB (the start is what an analyst needs).
    pub async fn record_rejected(&self, r: &RejectedMessage) -> Result<()> {
        let mut text = r.message.clone();
        if text.len() > 65_536 {
            let mut cut = 65_536;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        sqlx::query(
            "INSERT INTO hl7_rejected (id, at_ms, sender, control_id, kind, code, problem, message) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(format!("{:013}-{}", r.at.millis(), random_hex(4)))
        .bind(r.at.millis())
        .bind(r.sender.clone())
        .bind(r.control_id.clone())
        .bind(r.kind.clone())
        .bind(r.code.clone())
        .bind(r.problem.clone())
        .bind(text)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// HL7 messages not applied, newest first.
    pub async fn rejected(&self, limit: i64) -> Result<Vec<RejectedMessage>> {
        let rows = sqlx::query(
            "SELECT at_ms, sender, control_id, kind, code, problem, message FROM hl7_rejected \
             ORDER BY at_ms DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(RejectedMessage {
                    at: Timestamp(r.try_get("at_ms")?),
                    sender: r.try_get("sender")?,
                    control_id: r.try_get("control_id")?,
                    kind: r.try_get("kind")?,
                    code: r.try_get("code")?,
                    problem: r.try_get("problem")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// Creates an API token and returns (token id, secret). Only the secret's hash is stored:
    /// the secret cannot be shown again.
    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        units: &[String],
        now: Timestamp,
        expires: Option<Timestamp>,
    ) -> Result<(String, String)> {
        let id = format!("tok_{}", random_hex(6));
        let secret = format!("ord_{}", random_hex(24));
        sqlx::query("INSERT INTO tokens (id, name, hash, role, units, created_ms, revoked_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)")
            .bind(id.clone())
            .bind(name.to_string())
            .bind(hash(&secret))
            .bind(role.as_str())
            .bind(units.join(","))
            .bind(now.millis())
            .bind(expires.map(|t| t.millis()))
            .execute(&self.pool)
            .await?;
        Ok((id, secret))
    }

    /// Every token, newest first, without its secret (only its hash is stored anyway).
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT id, name, role, units, created_ms, expires_ms, revoked_ms FROM tokens ORDER BY created_ms DESC, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let units: String = r.try_get("units")?;
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    role: r.try_get("role")?,
                    units: units
                        .split(',')
                        .filter(|u| !u.is_empty())
                        .map(str::to_string)
                        .collect(),
                    created: Timestamp(r.try_get("created_ms")?),
                    expires: r.try_get::<Option<i64>, _>("expires_ms")?.map(Timestamp),
                    revoked: r.try_get::<Option<i64>, _>("revoked_ms")?.map(Timestamp),
                })
            })
            .collect()
    }

    /// The caller a bearer secret belongs to, if it is valid at `now`: not revoked, not
    /// expired.
    pub async fn principal(&self, secret: &str, now: Timestamp) -> Result<Option<Principal>> {
        let row = sqlx::query(
            "SELECT id, name, role, units FROM tokens WHERE hash = $1 AND revoked_ms IS NULL AND (expires_ms IS NULL OR expires_ms > $2)",
        )
        .bind(hash(secret))
        .bind(now.millis())
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get("role")?;
        let units: String = r.try_get("units")?;
        Ok(Some(Principal {
            token_id: r.try_get("id")?,
            name: r.try_get("name")?,
            role: Role::parse(&role).ok_or(StoreError::Corrupt {
                table: "tokens",
                detail: format!("role {role:?}"),
            })?,
            units: units
                .split(',')
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect(),
        }))
    }

    pub async fn revoke_token(&self, id: &str, now: Timestamp) -> Result<bool> {
        let r =
            sqlx::query("UPDATE tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL")
                .bind(now.millis())
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Writes one audit record, chained to the one before: its number is the next, and it
    /// carries the hash of the record before and its own ([`audit_hash`]).
    pub async fn audit(&self, e: &AuditEntry) -> Result<()> {
        let mut head = self.audit_head.lock().await;
        let (last_seq, last_hash) = match &*head {
            Some(h) => h.clone(),
            None => self.audit_chain_head().await?,
        };
        let seq = last_seq + 1;
        let hash = audit_hash(&last_hash, seq, e);
        sqlx::query(
            "INSERT INTO audit (at_ms, who, action, target, detail, seq, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.at.millis())
        .bind(e.who.clone())
        .bind(e.action.clone())
        .bind(e.target.clone())
        .bind(e.detail.clone())
        .bind(seq)
        .bind(last_hash)
        .bind(hash.clone())
        .execute(&self.pool)
        .await?;
        *head = Some((seq, hash));
        Ok(())
    }

    /// The chain's last record as stored: (0, "") when there is none.
    async fn audit_chain_head(&self) -> Result<(i64, String)> {
        let row = sqlx::query(
            "SELECT seq, hash FROM audit WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => (r.try_get("seq")?, r.try_get("hash")?),
            None => (0, String::new()),
        })
    }

    /// Checks the audit chain from its first record: every number present, every record's
    /// hash matching its contents and the hash it names for the one before.
    pub async fn verify_audit(&self) -> Result<AuditVerdict> {
        let unchained: i64 = sqlx::query("SELECT COUNT(*) AS n FROM audit WHERE seq IS NULL")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(
            "SELECT seq, at_ms, who, action, target, detail, prev_hash, hash FROM audit WHERE seq IS NOT NULL ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut problems = Vec::new();
        let (mut expect_seq, mut prev) = (1i64, String::new());
        let mut records = 0u64;
        for r in rows {
            records += 1;
            let seq: i64 = r.try_get("seq")?;
            let e = AuditEntry {
                at: Timestamp(r.try_get("at_ms")?),
                who: r.try_get("who")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                detail: r.try_get("detail")?,
            };
            let stored_prev: String = r.try_get("prev_hash")?;
            let stored: String = r.try_get("hash")?;
            let whose = format!(
                "record {seq} ({} by {} on {}, at {})",
                e.action,
                e.who,
                e.target,
                e.at.to_rfc3339()
            );
            if seq != expect_seq {
                problems.push(if seq > expect_seq {
                    format!(
                        "records {expect_seq} to {} are missing (deleted) before {whose}",
                        seq - 1
                    )
                } else {
                    format!("{whose} repeats a number")
                });
            } else if stored_prev != prev {
                problems.push(format!(
                    "{whose} does not follow the record before it (that one was changed or replaced)"
                ));
            }
            if audit_hash(&stored_prev, seq, &e) != stored {
                problems.push(format!("{whose} was changed after it was written"));
            }
            expect_seq = seq + 1;
            prev = stored;
        }
        Ok(AuditVerdict {
            records,
            unchained: unchained as u64,
            head: (expect_seq - 1, prev),
            problems,
        })
    }

    /// The newest audit records first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at_ms, who, action, target, detail FROM audit ORDER BY at_ms DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: Timestamp(r.try_get("at_ms")?),
                    who: r.try_get("who")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// An event as committed (its JSON body in the events table).
fn event_of(body: String) -> Result<OutEvent> {
    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
        table: "events",
        detail: e.to_string(),
    })
}

/// Rows written by one multi-row statement: far below both engines' limits on parameters
/// (SQLite 32,766 since 3.32, PostgreSQL 65,535) with the widest row here (6 values).
const ROWS_PER_STATEMENT: usize = 200;

/// `head` followed by `rows` groups of `width` parameters, then `tail`: numbered (`$1`) on
/// PostgreSQL, anonymous (`?`, bound in order) on SQLite, where each numbered one is a name
/// that sqlx looks up through a list as long as the statement's parameters (1,200 here): the
/// lookups cost more than the inserts (`sqlite3_bind_parameter_name`, 6 % of a flood's CPU).
fn insert_values(backend: Backend, head: &str, width: usize, rows: usize, tail: &str) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * width * 6);
    sql.push_str(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            let sep = if c == 0 { "" } else { ", " };
            let _ = match backend {
                Backend::Sqlite => write!(sql, "{sep}?"),
                Backend::Postgres => write!(sql, "{sep}${}", r * width + c + 1),
            };
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// The subject an event is about, as the events table indexes it.
fn event_subject(kind: &EventKind) -> Option<String> {
    match kind {
        EventKind::LocationChanged { subject, .. }
        | EventKind::LocationLost { subject, .. }
        | EventKind::LocationFound { subject, .. } => Some(subject.clone()),
        EventKind::FallDetected { patient, .. } => Some(patient.clone()),
        EventKind::BedExit { bed, .. } => Some(bed.clone()),
        EventKind::PatientTurned { patient, .. } => Some(patient.clone()),
        EventKind::BundleChanged { subject, .. } => Some(subject.clone()),
        EventKind::BedCommand { bed, .. }
        | EventKind::BedCommandAcked { bed, .. }
        | EventKind::BedSuggested { bed, .. }
        | EventKind::BedSuggestionEnded { bed, .. } => Some(bed.clone()),
        EventKind::StatusChanged { asset, .. } => Some(asset.clone()),
        EventKind::WorkOrderOpened(w) | EventKind::WorkOrderUpdated(w) => Some(w.asset.clone()),
        EventKind::RecallOpened(r) | EventKind::RecallUpdated(r) => Some(r.id.clone()),
        EventKind::AssetMeters { asset, .. } => Some(asset.clone()),
        k if k.census().is_some() => k.census().map(|c| c.patient.id.clone()),
        EventKind::BedTurnover(t) => Some(t.bed.clone()),
        EventKind::PumpInfusion(r) => Some(r.pump.clone()),
        EventKind::EnvExcursion(x) => Some(x.place.sensor.clone()),
        EventKind::EnvSummary(x) => Some(x.place.sensor.clone()),
        EventKind::PatientObserved(c) => Some(c.patient.clone()),
        k => k.alert().map(|a| a.subject.clone()),
    }
}

/// A subject's row of `locations` after a batch: placed (the whole row), or only its last
/// sighting changed (lost, with no move in the batch).
enum LocationRow<'a> {
    Placed {
        room: &'a str,
        since: i64,
        last_seen: i64,
        confidence: f64,
    },
    LastSeen(i64),
}

/// A subject's moves in a batch, in order: (room, at, seq).
type Moves<'a> = Vec<(&'a str, i64, i64)>;

/// The `locations` and `location_history` rows of a batch's moves and losses, as applying
/// them one by one in order would leave them, in a few statements.
async fn commit_locations(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    events: &[OutEvent],
) -> Result<()> {
    let mut rows: HashMap<&str, LocationRow<'_>> = HashMap::new();
    let mut moves: HashMap<&str, Moves<'_>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::LocationChanged {
                subject,
                to,
                confidence,
                ..
            } => {
                let at = e.at.millis();
                if !rows.contains_key(subject.as_str()) {
                    order.push(subject);
                }
                rows.insert(
                    subject,
                    LocationRow::Placed {
                        room: to,
                        since: at,
                        last_seen: at,
                        confidence: *confidence as f64,
                    },
                );
                moves
                    .entry(subject)
                    .or_default()
                    .push((to, at, e.seq as i64));
            }
            EventKind::LocationLost {
                subject, last_seen, ..
            } => match rows.get_mut(subject.as_str()) {
                Some(LocationRow::Placed { last_seen: l, .. }) | Some(LocationRow::LastSeen(l)) => {
                    *l = last_seen.millis();
                }
                None => {
                    order.push(subject);
                    rows.insert(subject, LocationRow::LastSeen(last_seen.millis()));
                }
            },
            _ => {}
        }
    }
    let placed: Vec<(&str, &LocationRow<'_>)> = order
        .iter()
        .filter_map(|s| Some((*s, rows.get(s)?)))
        .filter(|(_, r)| matches!(r, LocationRow::Placed { .. }))
        .collect();
    for chunk in placed.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_values(
            backend,
            "INSERT INTO locations (subject, room, since_ms, last_seen_ms, confidence) VALUES ",
            5,
            chunk.len(),
            " ON CONFLICT (subject) DO UPDATE SET room = excluded.room, since_ms = excluded.since_ms, \
             last_seen_ms = excluded.last_seen_ms, confidence = excluded.confidence",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (subject, row) in chunk {
            if let LocationRow::Placed {
                room,
                since,
                last_seen,
                confidence,
            } = row
            {
                q = q
                    .bind(subject.to_string())
                    .bind(room.to_string())
                    .bind(*since)
                    .bind(*last_seen)
                    .bind(*confidence);
            }
        }
        q.execute(&mut **tx).await?;
    }
    for s in &order {
        if let Some(LocationRow::LastSeen(at)) = rows.get(s) {
            sqlx::query("UPDATE locations SET last_seen_ms = $1 WHERE subject = $2")
                .bind(*at)
                .bind(s.to_string())
                .execute(&mut **tx)
                .await?;
        }
    }
    // History: each subject's open stay ends at its first move here; each move is a stay that
    // ends at the subject's next move (the last stays open).
    let movers: Vec<(&str, &Moves<'_>)> = order
        .iter()
        .filter_map(|s| Some((*s, moves.get(s)?)))
        .collect();
    for chunk in movers.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_values(
            backend,
            "WITH v (subject, at_ms) AS (VALUES ",
            2,
            chunk.len(),
            ") UPDATE location_history SET to_ms = (SELECT v.at_ms FROM v WHERE v.subject = location_history.subject) \
             WHERE to_ms IS NULL AND subject IN (SELECT subject FROM v)",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (subject, m) in chunk {
            q = q.bind(subject.to_string()).bind(m[0].1);
        }
        q.execute(&mut **tx).await?;
    }
    let stays: Vec<(&str, &str, i64, Option<i64>, i64)> = movers
        .iter()
        .flat_map(|(subject, m)| {
            m.iter()
                .enumerate()
                .map(|(i, (room, at, seq))| (*subject, *room, *at, m.get(i + 1).map(|n| n.1), *seq))
        })
        .collect();
    for chunk in stays.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_values(
            backend,
            "INSERT INTO location_history (subject, room, from_ms, to_ms, seq) VALUES ",
            5,
            chunk.len(),
            "",
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (subject, room, from, to, seq) in chunk {
            q = q
                .bind(subject.to_string())
                .bind(room.to_string())
                .bind(*from)
                .bind(*to)
                .bind(*seq);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// An older Orderly starts on a database a newer one migrated (a rolling upgrade), so every
    /// step may only add: no dropping, renaming or retyping, and a column added either nullable
    /// or with a default (an older Orderly's inserts do not name it).
    #[test]
    fn every_migration_only_adds() {
        for (version, name, sql) in super::STEPS {
            let code: String = sql
                .lines()
                .map(|l| l.split("--").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
                .to_uppercase();
            for word in ["DROP ", "RENAME ", "ALTER COLUMN", " TYPE "] {
                assert!(
                    !code.contains(word),
                    "migration {version} ({name}) has {word:?}: an older Orderly would not run on it"
                );
            }
            for statement in code.split(';').filter(|s| s.contains("ADD COLUMN")) {
                assert!(
                    !statement.contains("NOT NULL") || statement.contains("DEFAULT"),
                    "migration {version} ({name}) adds a NOT NULL column without a default: {statement}"
                );
            }
        }
    }
}
