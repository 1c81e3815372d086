//! Alerts out to the hospital's systems, as admins see and manage them: every destination's
//! state and backlog (alert managers, webhooks), messages parked after a refusal, and the
//! webhook subscriptions with their delivery logs.

use crate::{ApiError, ApiState, Auth};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use orderly_model::Role;
use orderly_outbound::DestinationStatus;
use orderly_store::{Delivery, Parked, Webhook};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A destination and its backlog.
#[derive(Serialize, ToSchema)]
pub(crate) struct Destination {
    #[serde(flatten)]
    pub status: DestinationStatus,
    /// Committed events it has not taken yet.
    pub backlog: u64,
}

/// Where Orderly's alerts go.
#[derive(Serialize, ToSchema)]
pub(crate) struct Integrations {
    pub destinations: Vec<Destination>,
    /// Messages refused for good (AR, or AE after retries), newest first.
    pub parked: Vec<Parked>,
}

/// Every destination: reachable or since when not and why, its cursor and backlog, what it
/// took, retried and parked; and the parked messages (admins).
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, body = Integrations), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn integrations(
    auth: Auth,
    State(s): State<ApiState>,
) -> Result<Json<Integrations>, ApiError> {
    auth.require(&[Role::Admin, Role::Biomed])?;
    let mut destinations = Vec::new();
    let hooks = s.store.webhooks().await?;
    for status in s.outbound.all() {
        let kinds: Vec<String> = if status.kind == "alert_manager" {
            orderly_outbound::report::acm_kinds()
                .into_iter()
                .map(str::to_string)
                .collect()
        } else {
            hooks
                .iter()
                .find(|w| w.destination() == status.destination)
                .map(|w| w.kinds.clone())
                .unwrap_or_default()
        };
        let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let backlog = s.store.count_after(status.cursor, &kinds).await?;
        destinations.push(Destination { status, backlog });
    }
    Ok(Json(Integrations {
        destinations,
        parked: s.store.parked(None, 200).await?,
    }))
}

/// A new subscription.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewWebhook {
    /// Where events are POSTed (`https://...`; `http://` only to this machine).
    pub url: String,
    /// Event kinds (`alert.raised`, ...); empty or absent for every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Units; empty or absent for every unit.
    #[serde(default)]
    pub units: Vec<String>,
}

/// A subscription as made: its signing secret is shown this once.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// Keyed HMAC-SHA256 of `{Orderly-Timestamp}.{body}` is sent as `Orderly-Signature: v1=...`.
    pub secret: String,
}

fn check_url(url: &str) -> Result<(), ApiError> {
    let bad = |why: &str| Err(ApiError::BadRequest(format!("url {url:?}: {why}")));
    if url.len() > 2000 {
        return bad("longer than 2000 characters");
    }
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        let host = r.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return bad(
                "plain http only to this machine (127.0.0.1, localhost); use https for anything else",
            );
        }
        r
    } else {
        return bad("must start with https:// (or http:// to this machine)");
    };
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(char::is_whitespace) {
        return bad("names no host");
    }
    Ok(())
}

/// Subscribe a URL to events (admins). The answer carries the signing secret, once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "integrations", request_body = NewWebhook, security(("bearer" = [])),
    responses((status = 201, body = CreatedWebhook), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn create_webhook(
    auth: Auth,
    State(s): State<ApiState>,
    Json(n): Json<NewWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    auth.require(&[Role::Admin])?;
    check_url(&n.url)?;
    for k in &n.kinds {
        if !orderly_model::EventKind::NAMES.contains(&k.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown event kind {k:?} (one of {})",
                orderly_model::EventKind::NAMES.join(", ")
            )));
        }
    }
    for u in &n.units {
        if s.floorplan.unit(u).is_none() {
            return Err(ApiError::BadRequest(format!("no unit {u:?}")));
        }
    }
    let w = s
        .store
        .create_webhook(&n.url, &n.kinds, &n.units, &auth.0.name, (s.clock)())
        .await?;
    auth.audit(
        &s,
        "webhook.create",
        &format!("webhook {}", w.id),
        w.url.clone(),
    )
    .await?;
    let secret = w.secret.clone();
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook { webhook: w, secret }),
    ))
}

/// Every subscription, paused ones with why (admins).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, body = Vec<Webhook>), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn webhooks(
    auth: Auth,
    State(s): State<ApiState>,
) -> Result<Json<Vec<Webhook>>, ApiError> {
    auth.require(&[Role::Admin])?;
    Ok(Json(s.store.webhooks().await?))
}

async fn known(s: &ApiState, id: &str) -> Result<Webhook, ApiError> {
    s.store
        .webhooks()
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no webhook subscription {id:?}")))
}

/// Unsubscribe (admins); its delivery log stays.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "integrations", params(("id" = String, Path, description = "subscription id")), security(("bearer" = [])),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_webhook(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(&[Role::Admin])?;
    let w = known(&s, &id).await?;
    s.store.delete_webhook(&id, (s.clock)()).await?;
    auth.audit(&s, "webhook.delete", &format!("webhook {id}"), w.url)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Resume a paused subscription (admins): delivery carries on from the event that failed.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/resume", tag = "integrations", params(("id" = String, Path, description = "subscription id")), security(("bearer" = [])),
    responses((status = 200, body = Webhook), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn resume_webhook(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Webhook>, ApiError> {
    auth.require(&[Role::Admin])?;
    let w = known(&s, &id).await?;
    s.store.pause_webhook(&id, None, (s.clock)()).await?;
    auth.audit(&s, "webhook.resume", &format!("webhook {id}"), w.url)
        .await?;
    Ok(Json(known(&s, &id).await?))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct DeliveryQuery {
    /// At most this many, newest first [default 100].
    limit: Option<i64>,
}

/// A subscription's delivery log: every attempt, newest first (admins).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "integrations", params(("id" = String, Path, description = "subscription id"), DeliveryQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Delivery>), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn deliveries(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    auth.require(&[Role::Admin])?;
    known(&s, &id).await?;
    Ok(Json(
        s.store
            .deliveries(&id, q.limit.unwrap_or(100).clamp(1, 1000))
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn webhook_urls_are_https_or_local_http() {
        assert!(check_url("https://hooks.example.org/orderly").is_ok());
        assert!(check_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        assert!(check_url("http://hooks.example.org/x").is_err());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("https://a b").is_err());
    }
}
