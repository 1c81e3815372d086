//! Site ownership by lease: one instance at a time processes a site. The lease is a row of
//! `site_lease`, timed by the database's clock; taking it over raises its epoch, and a store
//! fenced with an epoch ([`Store::fenced`]) refuses to commit once the epoch has moved on, in
//! the same transaction as the commit (PostgreSQL: the lease row is read `FOR SHARE`, so a
//! takeover waits for a commit in flight and a commit after a takeover sees it).

use crate::{Backend, Result, Store};
use serde::Serialize;
use sqlx::Row;

/// What a commit must still find in `site_lease` to be allowed: this holder at this epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub site: String,
    pub holder: String,
    pub epoch: i64,
}

/// The answer to [`Store::acquire_lease`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// The lease is ours, at this epoch.
    Taken(Fence),
    /// Another instance holds it; it lapses in `expires_in_ms` unless renewed.
    Held {
        holder: String,
        epoch: i64,
        http: String,
        /// The owner's HL7 listener, when it has one.
        hl7: Option<String>,
        expires_in_ms: i64,
    },
}

/// A site's lease as `GET /api/v1/cluster` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SiteLease {
    pub site: String,
    /// The instance that owns the site.
    pub holder: String,
    /// Raised by every takeover; commits carry the epoch they were taken with.
    pub epoch: i64,
    /// The owner's HTTP address, as it reported it.
    pub http: String,
    /// The owner's HL7 (MLLP) address, when it listens for HL7.
    pub hl7: Option<String>,
    /// How much of an instance the site takes when the sites are shared out (its `weight`,
    /// else its devices and tags), as the answering instance is configured; None when it does
    /// not serve the site.
    pub weight: Option<u64>,
    pub acquired_ms: i64,
    pub renewed_ms: i64,
    /// Milliseconds since the owner last renewed (the database's clock).
    pub age_ms: i64,
    /// Milliseconds until the lease lapses unless renewed; negative: lapsed, free to take.
    pub expires_in_ms: i64,
}

/// An instance as it last reported itself.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClusterInstance {
    pub instance: String,
    pub site: String,
    pub http: String,
    /// `owner`, `standby` or `stopped`.
    pub state: String,
    pub started_ms: i64,
    /// Milliseconds since it last reported (the database's clock).
    pub seen_ago_ms: i64,
}

/// An address column: empty when there is none.
fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl Store {
    /// The database's clock in milliseconds since 1970, as SQL.
    fn db_now(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        }
    }

    /// Takes `site`'s lease for `holder` for `ttl_ms` if nobody holds it, its holder let it
    /// lapse, or its holder has this name (the same instance restarted: names are unique
    /// among running instances); the epoch is raised. Else says who holds it. `http` and
    /// `hl7` say where the holder is reached (a standby passes requests and HL7 to it).
    pub async fn acquire_lease(
        &self,
        site: &str,
        holder: &str,
        http: &str,
        hl7: Option<&str>,
        ttl_ms: i64,
    ) -> Result<Acquired> {
        let now = self.db_now();
        let sql = format!(
            "INSERT INTO site_lease (site, holder, epoch, acquired_ms, renewed_ms, expires_ms, http, hl7) \
             VALUES ($1, $2, 1, {now}, {now}, {now} + $3, $4, $5) \
             ON CONFLICT (site) DO UPDATE SET holder = excluded.holder, epoch = site_lease.epoch + 1, \
             acquired_ms = excluded.acquired_ms, renewed_ms = excluded.renewed_ms, \
             expires_ms = excluded.expires_ms, http = excluded.http, hl7 = excluded.hl7 \
             WHERE site_lease.expires_ms < excluded.acquired_ms OR site_lease.holder = excluded.holder \
             RETURNING epoch"
        );
        let taken = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(site)
            .bind(holder)
            .bind(ttl_ms)
            .bind(http)
            .bind(hl7.unwrap_or_default())
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = taken {
            return Ok(Acquired::Taken(Fence {
                site: site.to_string(),
                holder: holder.to_string(),
                epoch: row.try_get("epoch")?,
            }));
        }
        let sql = format!(
            "SELECT holder, epoch, http, hl7, expires_ms - {now} AS left_ms FROM site_lease WHERE site = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(site)
            .fetch_one(&self.pool)
            .await?;
        Ok(Acquired::Held {
            holder: row.try_get("holder")?,
            epoch: row.try_get("epoch")?,
            http: row.try_get("http")?,
            hl7: non_empty(row.try_get("hl7")?),
            expires_in_ms: row.try_get("left_ms")?,
        })
    }

    /// Extends the lease by `ttl_ms` from now; false when it is no longer ours (taken over).
    pub async fn renew_lease(&self, fence: &Fence, ttl_ms: i64) -> Result<bool> {
        let now = self.db_now();
        let sql = format!(
            "UPDATE site_lease SET renewed_ms = {now}, expires_ms = {now} + $1 \
             WHERE site = $2 AND holder = $3 AND epoch = $4"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ttl_ms)
            .bind(&fence.site)
            .bind(&fence.holder)
            .bind(fence.epoch)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Lets the lease lapse at once (a clean stop), so a standby need not wait it out.
    pub async fn release_lease(&self, fence: &Fence) -> Result<()> {
        sqlx::query(
            "UPDATE site_lease SET expires_ms = 0 WHERE site = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(&fence.site)
        .bind(&fence.holder)
        .bind(fence.epoch)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records that `instance` is alive, serving `http`, as `state` (`owner`, `standby`,
    /// `stopped`).
    pub async fn report_instance(
        &self,
        instance: &str,
        site: &str,
        http: &str,
        started_ms: i64,
        state: &str,
    ) -> Result<()> {
        let now = self.db_now();
        let sql = format!(
            "INSERT INTO cluster_instances (instance, site, http, started_ms, seen_ms, state) \
             VALUES ($1, $2, $3, $4, {now}, $5) \
             ON CONFLICT (instance) DO UPDATE SET site = excluded.site, http = excluded.http, \
             seen_ms = excluded.seen_ms, state = excluded.state"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(instance)
            .bind(site)
            .bind(http)
            .bind(started_ms)
            .bind(state)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every site's lease and every instance seen in the last `seen_within_ms`.
    pub async fn cluster(
        &self,
        seen_within_ms: i64,
    ) -> Result<(Vec<SiteLease>, Vec<ClusterInstance>)> {
        let now = self.db_now();
        let sql = format!(
            "SELECT site, holder, epoch, http, hl7, acquired_ms, renewed_ms, {now} - renewed_ms AS age_ms, \
             expires_ms - {now} AS left_ms FROM site_lease ORDER BY site"
        );
        let mut leases = Vec::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
        {
            leases.push(SiteLease {
                site: r.try_get("site")?,
                holder: r.try_get("holder")?,
                epoch: r.try_get("epoch")?,
                http: r.try_get("http")?,
                hl7: non_empty(r.try_get("hl7")?),
                weight: None,
                acquired_ms: r.try_get("acquired_ms")?,
                renewed_ms: r.try_get("renewed_ms")?,
                age_ms: r.try_get("age_ms")?,
                expires_in_ms: r.try_get("left_ms")?,
            });
        }
        let sql = format!(
            "SELECT instance, site, http, state, started_ms, {now} - seen_ms AS ago_ms \
             FROM cluster_instances WHERE seen_ms > {now} - $1 ORDER BY instance"
        );
        let mut instances = Vec::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(seen_within_ms)
            .fetch_all(&self.pool)
            .await?
        {
            instances.push(ClusterInstance {
                instance: r.try_get("instance")?,
                site: r.try_get("site")?,
                http: r.try_get("http")?,
                state: r.try_get("state")?,
                started_ms: r.try_get("started_ms")?,
                seen_ago_ms: r.try_get("ago_ms")?,
            });
        }
        Ok((leases, instances))
    }

    /// This store with its commits fenced: each checks, in its own transaction, that `fence`'s
    /// holder still holds the site at its epoch, and fails with [`crate::StoreError::Fenced`]
    /// if not, committing nothing.
    pub fn fenced(&self, fence: Fence) -> Store {
        Store {
            fence: Some(std::sync::Arc::new(fence)),
            ..self.clone()
        }
    }

    /// Whether this store may still write for its site (always, unfenced): what a batch that
    /// made no events checks before its messages are acknowledged, so an instance that lost
    /// the site does not take messages from the new owner.
    pub async fn check_lease(&self) -> Result<()> {
        if self.fence.is_none() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        self.check_fence(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The fence check inside a commit's transaction.
    pub(crate) async fn check_fence(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<()> {
        let Some(f) = &self.fence else { return Ok(()) };
        if self.backend == Backend::Sqlite {
            // A write first, so the transaction takes SQLite's write lock now (waiting its
            // busy timeout): a read first would fail at once, without waiting, when another
            // connection (the lease keeper) wrote before this transaction's first write.
            let held = sqlx::query(
                "UPDATE site_lease SET epoch = epoch WHERE site = $1 AND holder = $2 AND epoch = $3",
            )
            .bind(&f.site)
            .bind(&f.holder)
            .bind(f.epoch)
            .execute(&mut **tx)
            .await?;
            if held.rows_affected() == 1 {
                return Ok(());
            }
        }
        let sql = match self.backend {
            Backend::Postgres => "SELECT holder, epoch FROM site_lease WHERE site = $1 FOR SHARE",
            Backend::Sqlite => "SELECT holder, epoch FROM site_lease WHERE site = $1",
        };
        let row = sqlx::query(sql)
            .bind(&f.site)
            .fetch_optional(&mut **tx)
            .await?;
        let now: Option<(String, i64)> = match row {
            Some(r) => Some((r.try_get("holder")?, r.try_get("epoch")?)),
            None => None,
        };
        match now {
            Some((holder, epoch)) if holder == f.holder && epoch == f.epoch => Ok(()),
            other => Err(crate::StoreError::Fenced {
                site: f.site.clone(),
                epoch: f.epoch,
                now: other.map_or_else(
                    || "nobody".to_string(),
                    |(h, e)| format!("{h} at epoch {e}"),
                ),
            }),
        }
    }
}
