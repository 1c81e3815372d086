//! What Orderly sends out of itself, kept so nothing is lost: each destination's cursor in the
//! event log (its backlog is what follows), messages a destination refused for good (parked,
//! with the reason), webhook subscriptions and their delivery log.

use crate::{Result, Store, event_of, random_hex};
use orderly_model::{OutEvent, Timestamp};
use sqlx::Row;

/// A webhook subscription.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Event kinds it receives (`alert.raised`, ...); empty for every kind.
    pub kinds: Vec<String>,
    /// Units whose events it receives; empty for every unit (and events of no unit).
    pub units: Vec<String>,
    pub created: Timestamp,
    pub created_by: String,
    /// Paused after failing too long (or by hand), and why; resumed through the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// The signing secret is never shown again after creation.
    #[serde(skip)]
    pub secret: String,
}

impl Webhook {
    /// Whether the subscription receives `e`.
    pub fn wants(&self, e: &OutEvent) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k == e.kind_name()))
            && (self.units.is_empty()
                || e.unit().is_some_and(|u| self.units.iter().any(|x| x == u)))
    }

    /// Its cursor's destination name.
    pub fn destination(&self) -> String {
        format!("webhook:{}", self.id)
    }
}

/// One delivery attempt.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Also sent as the `Orderly-Delivery` header: the same for every attempt of one event.
    pub id: String,
    pub seq: u64,
    pub kind: String,
    pub attempt: u32,
    pub at: Timestamp,
    /// `delivered`, `failed` (retried), `parked` (given up on).
    pub outcome: String,
    /// The HTTP status, when the endpoint answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, in words ("" when delivered).
    pub detail: String,
    pub took_ms: u64,
}

/// A message a destination refused for good.
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Parked {
    pub id: String,
    pub destination: String,
    pub seq: u64,
    pub at: Timestamp,
    pub reason: String,
}

fn split(s: String) -> Vec<String> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

impl Store {
    /// A destination's cursor: the last event it took. A destination seen for the first time
    /// starts at the end of the log (it is not sent the history), and that is recorded.
    pub async fn cursor(&self, destination: &str, now: Timestamp) -> Result<u64> {
        let row = sqlx::query("SELECT seq FROM outbound_cursor WHERE destination = $1")
            .bind(destination.to_string())
            .fetch_optional(&self.pool)
            .await?;
        if let Some(r) = row {
            return Ok(r.try_get::<i64, _>("seq")? as u64);
        }
        let head: Option<i64> = sqlx::query("SELECT MAX(seq) AS m FROM events")
            .fetch_one(&self.pool)
            .await?
            .try_get("m")?;
        let head = head.unwrap_or(0).max(0) as u64;
        self.advance(destination, head, now).await?;
        Ok(head)
    }

    /// Moves a destination's cursor to `seq` (it took everything up to there).
    pub async fn advance(&self, destination: &str, seq: u64, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO outbound_cursor (destination, seq, updated_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (destination) DO UPDATE SET seq = excluded.seq, updated_ms = excluded.updated_ms",
        )
        .bind(destination.to_string())
        .bind(seq as i64)
        .bind(now.millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Events after `after` of the given kinds, oldest first, at most `limit`.
    pub async fn events_of_kinds_after(
        &self,
        after: u64,
        kinds: &[&str],
        limit: i64,
    ) -> Result<Vec<OutEvent>> {
        if kinds.is_empty() {
            return self.events_after(after, limit).await;
        }
        let list: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT body FROM events WHERE seq > $1 AND kind IN ({}) ORDER BY seq LIMIT $2",
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after as i64)
            .bind(limit.clamp(1, 10_000));
        for k in kinds {
            q = q.bind(k.to_string());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| event_of(r.try_get("body")?))
            .collect()
    }

    /// How many events of the given kinds follow `after` (a destination's backlog).
    pub async fn count_after(&self, after: u64, kinds: &[&str]) -> Result<u64> {
        let list: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = if kinds.is_empty() {
            "SELECT COUNT(*) AS n FROM events WHERE seq > $1".to_string()
        } else {
            format!(
                "SELECT COUNT(*) AS n FROM events WHERE seq > $1 AND kind IN ({})",
                list.join(", ")
            )
        };
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after as i64);
        for k in kinds {
            q = q.bind(k.to_string());
        }
        Ok(q.fetch_one(&self.pool).await?.try_get::<i64, _>("n")? as u64)
    }

    /// One event by its sequence number.
    pub async fn event(&self, seq: u64) -> Result<Option<OutEvent>> {
        let row = sqlx::query("SELECT body FROM events WHERE seq = $1")
            .bind(seq as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| event_of(r.try_get("body")?)).transpose()
    }

    /// Keeps a message a destination refused for good.
    pub async fn park(
        &self,
        destination: &str,
        seq: u64,
        reason: &str,
        now: Timestamp,
    ) -> Result<String> {
        let id = format!("park_{}", random_hex(6));
        sqlx::query(
            "INSERT INTO outbound_parked (id, destination, seq, at_ms, reason, retried_ms) VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(id.clone())
        .bind(destination.to_string())
        .bind(seq as i64)
        .bind(now.millis())
        .bind(reason.to_string())
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Parked messages not yet sent again, newest first (of one destination, or all).
    pub async fn parked(&self, destination: Option<&str>, limit: i64) -> Result<Vec<Parked>> {
        let rows = sqlx::query(
            "SELECT id, destination, seq, at_ms, reason FROM outbound_parked \
             WHERE retried_ms IS NULL AND ($1 = '' OR destination = $1) ORDER BY at_ms DESC, id LIMIT $2",
        )
        .bind(destination.unwrap_or_default().to_string())
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Parked {
                    id: r.try_get("id")?,
                    destination: r.try_get("destination")?,
                    seq: r.try_get::<i64, _>("seq")? as u64,
                    at: Timestamp(r.try_get("at_ms")?),
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Subscribes `url` to events of `kinds` in `units` (empty: all); returns the subscription
    /// with its signing secret (shown this once). Its cursor starts at the end of the log.
    pub async fn create_webhook(
        &self,
        url: &str,
        kinds: &[String],
        units: &[String],
        by: &str,
        now: Timestamp,
    ) -> Result<Webhook> {
        let w = Webhook {
            id: format!("wh_{}", random_hex(6)),
            url: url.to_string(),
            kinds: kinds.to_vec(),
            units: units.to_vec(),
            created: now,
            created_by: by.to_string(),
            paused: None,
            paused_reason: None,
            secret: format!("whsec_{}", random_hex(24)),
        };
        sqlx::query(
            "INSERT INTO webhooks (id, url, secret, kinds, units, created_ms, created_by, paused_ms, paused_reason, deleted_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL)",
        )
        .bind(w.id.clone())
        .bind(w.url.clone())
        .bind(w.secret.clone())
        .bind(w.kinds.join(","))
        .bind(w.units.join(","))
        .bind(now.millis())
        .bind(w.created_by.clone())
        .execute(&self.pool)
        .await?;
        self.cursor(&w.destination(), now).await?;
        Ok(w)
    }

    /// Every subscription not deleted, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(
            "SELECT id, url, secret, kinds, units, created_ms, created_by, paused_ms, paused_reason \
             FROM webhooks WHERE deleted_ms IS NULL ORDER BY created_ms, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Webhook {
                    id: r.try_get("id")?,
                    url: r.try_get("url")?,
                    secret: r.try_get("secret")?,
                    kinds: split(r.try_get("kinds")?),
                    units: split(r.try_get("units")?),
                    created: Timestamp(r.try_get("created_ms")?),
                    created_by: r.try_get("created_by")?,
                    paused: r.try_get::<Option<i64>, _>("paused_ms")?.map(Timestamp),
                    paused_reason: r.try_get("paused_reason")?,
                })
            })
            .collect()
    }

    /// One subscription, if it exists and is not deleted.
    pub async fn webhook(&self, id: &str) -> Result<Option<Webhook>> {
        Ok(self.webhooks().await?.into_iter().find(|w| w.id == id))
    }

    /// Pauses (with a reason) or resumes (`None`) a subscription; false when there is none.
    pub async fn pause_webhook(
        &self,
        id: &str,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhooks SET paused_ms = $1, paused_reason = $2 WHERE id = $3 AND deleted_ms IS NULL",
        )
        .bind(reason.map(|_| now.millis()))
        .bind(reason.map(str::to_string))
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a subscription (its delivery log stays); false when there is none.
    pub async fn delete_webhook(&self, id: &str, now: Timestamp) -> Result<bool> {
        let done =
            sqlx::query("UPDATE webhooks SET deleted_ms = $1 WHERE id = $2 AND deleted_ms IS NULL")
                .bind(now.millis())
                .bind(id.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a delivery attempt.
    pub async fn record_delivery(&self, webhook: &str, d: &Delivery) -> Result<()> {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, webhook, seq, kind, attempt, at_ms, outcome, status, detail, took_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(format!("{}-{}", d.id, d.attempt))
        .bind(webhook.to_string())
        .bind(d.seq as i64)
        .bind(d.kind.clone())
        .bind(d.attempt as i64)
        .bind(d.at.millis())
        .bind(d.outcome.clone())
        .bind(d.status.map(|s| s as i64))
        .bind(d.detail.clone())
        .bind(d.took_ms as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A subscription's delivery log, newest first.
    pub async fn deliveries(&self, webhook: &str, limit: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query(
            "SELECT id, seq, kind, attempt, at_ms, outcome, status, detail, took_ms FROM webhook_deliveries \
             WHERE webhook = $1 ORDER BY at_ms DESC, seq DESC, attempt DESC LIMIT $2",
        )
        .bind(webhook.to_string())
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let attempt = r.try_get::<i64, _>("attempt")? as u32;
                Ok(Delivery {
                    id: id
                        .strip_suffix(&format!("-{attempt}"))
                        .unwrap_or(&id)
                        .to_string(),
                    seq: r.try_get::<i64, _>("seq")? as u64,
                    kind: r.try_get("kind")?,
                    attempt,
                    at: Timestamp(r.try_get("at_ms")?),
                    outcome: r.try_get("outcome")?,
                    status: r
                        .try_get::<Option<i64>, _>("status")?
                        .map(|s| s.clamp(0, u16::MAX as i64) as u16),
                    detail: r.try_get("detail")?,
                    took_ms: r.try_get::<i64, _>("took_ms")?.max(0) as u64,
                })
            })
            .collect()
    }
}
