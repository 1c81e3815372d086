//! Writes that go through the world: acknowledging, resolving and silencing alerts, and
//! reloading the rules. The world is the only writer of alerts, so a handler sends a
//! [`Control`] message, gets the alert as it now stands and the sequence number of the event
//! that records it, and answers only once that event is committed.

use crate::{ApiError, ApiState, Auth};
use axum::Json;
use axum::extract::{Path, Query, State};
use orderly_model::command::{Decision, SuggestionError};
use orderly_model::maintenance::WorkOrderError;
use orderly_model::view::{AssetView, SuggestionView};
use orderly_model::{Alert, AlertState, AssetStatus, Priority, Role, StatusError, Timestamp};
use orderly_rules::{AlertCommand, CommandError};
use orderly_world::census::CensusError;
use orderly_world::turnover::TurnoverError;
use orderly_world::{Applied, Command, Done, Refused};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use utoipa::{IntoParams, ToSchema};

/// A request to the process that owns the world and the rules: a [`Command`] for the world,
/// or a reload of the rules directory (which the process reads, checks and then sends to the
/// world as [`Command::Rules`]).
pub enum Control {
    World {
        command: Command,
        reply: oneshot::Sender<Result<Applied, Refused>>,
    },
    Reload {
        reply: oneshot::Sender<ReloadOutcome>,
    },
}

/// The result of a reload.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReloadOutcome {
    /// True when the new set is in force.
    pub ok: bool,
    pub at: Timestamp,
    /// What asked for it: `api`, `file change`, `SIGHUP`.
    pub trigger: String,
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub changed: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub unchanged: usize,
    /// Every problem, as `file:line:column: what (fix: how)`, when rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<String>,
}

/// One rule in force.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub subject: String,
    pub priority: Priority,
    pub kind: orderly_model::AlertKind,
    /// `file:line`.
    pub defined_at: String,
    pub enabled: bool,
    /// Why it was disabled after failing, until the next reload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// The rules in force and the last reload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct RulesView {
    /// The rules directory, or `bundled`.
    pub source: String,
    /// Whether file changes are picked up by themselves.
    pub watching: bool,
    pub loaded_at: Timestamp,
    pub rules: Vec<RuleInfo>,
    pub last_reload: Option<ReloadOutcome>,
}

pub(crate) async fn send(s: &ApiState, c: Control) -> Result<(), ApiError> {
    s.control
        .send(c)
        .await
        .map_err(|_| ApiError::Unavailable("Orderly is stopping".into()))
}

/// Sends a request to the process that owns the world and waits for its answer.
pub(crate) async fn ask<T>(
    s: &ApiState,
    make: impl FnOnce(oneshot::Sender<T>) -> Control,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    send(s, make(tx)).await?;
    rx.await
        .map_err(|_| ApiError::Unavailable("Orderly is stopping".into()))
}

/// Sends a command to the world, and answers once the event that records it is committed (so
/// what we answer survives a crash) and the read model includes it (so a read straight after,
/// from this caller or any other, sees it: read your writes).
pub(crate) async fn apply(s: &ApiState, command: Command) -> Result<Applied, ApiError> {
    // A change must be committed before it is answered: with the database away it would
    // hang, so it is refused at once and nothing changes.
    if !s.database.is_up()
        && let Err(why) = s.database.check(&s.store).await
    {
        return Err(ApiError::Unavailable(format!(
            "the database is unreachable ({why}): nothing was changed; try again when it is back"
        )));
    }
    let applied = ask(s, |reply| Control::World { command, reply })
        .await?
        .map_err(refused)?;
    if let Some(seq) = applied.seq {
        committed(s, seq).await?;
        snapshot_after(s, seq).await;
    }
    Ok(applied)
}

/// Why the world refused a command, as an HTTP answer.
pub(crate) fn refused(e: Refused) -> ApiError {
    match e {
        Refused::Alert(CommandError::NotFound(m)) => {
            ApiError::NotFound(format!("no open alert {m:?}"))
        }
        Refused::Alert(e @ CommandError::AlreadyAcknowledged { .. }) => {
            ApiError::Conflict(e.to_string())
        }
        Refused::Alert(e @ (CommandError::BadSilence | CommandError::NoReason)) => {
            ApiError::BadRequest(e.to_string())
        }
        Refused::Status(e @ StatusError::NotFound(_)) => ApiError::NotFound(e.to_string()),
        Refused::Status(e @ StatusError::Unchanged { .. }) => ApiError::Conflict(e.to_string()),
        Refused::Suggestion(e @ SuggestionError::NotFound(_)) => ApiError::NotFound(e.to_string()),
        Refused::Suggestion(e) => ApiError::Conflict(e.to_string()),
        Refused::WorkOrder(e @ (WorkOrderError::NotFound(_) | WorkOrderError::NoAsset(_))) => {
            ApiError::NotFound(e.to_string())
        }
        Refused::WorkOrder(
            e @ (WorkOrderError::Duplicate { .. } | WorkOrderError::Transition { .. }),
        ) => ApiError::Conflict(e.to_string()),
        Refused::WorkOrder(e @ WorkOrderError::Invalid(_)) => ApiError::BadRequest(e.to_string()),
        Refused::TooLong(why) => ApiError::BadRequest(why),
        Refused::Census(
            e @ (CensusError::UnknownPatient(_)
            | CensusError::UnknownBed(_)
            | CensusError::NotDischarged(_)),
        ) => ApiError::NotFound(e.to_string()),
        Refused::Census(
            e @ (CensusError::BedTaken { .. }
            | CensusError::AlreadyAdmitted(_)
            | CensusError::NoBedToReturnTo(_)),
        ) => ApiError::Conflict(e.to_string()),
        Refused::Census(
            e @ (CensusError::OutOfRange { .. }
            | CensusError::BadId(_)
            | CensusError::SelfMerge
            | CensusError::UnknownWearableModel(..)),
        ) => ApiError::BadRequest(e.to_string()),
        Refused::Turnover(e @ TurnoverError::NotABed(_)) => ApiError::NotFound(e.to_string()),
        Refused::Turnover(e @ TurnoverError::Transition { .. }) => {
            ApiError::Conflict(e.to_string())
        }
        Refused::Turnover(e @ TurnoverError::NoReason(_)) => ApiError::BadRequest(e.to_string()),
    }
}

/// The world answered with something other than what the command does (a bug).
pub(crate) fn unexpected(done: Done) -> ApiError {
    ApiError::Internal(format!("the world answered {done:?}"))
}

/// Waits until the event `seq` is committed (so what we answer survives a crash).
pub(crate) async fn committed(s: &ApiState, seq: u64) -> Result<(), ApiError> {
    let mut rx = s.committed.clone();
    let wait = rx.wait_for(|c| *c >= seq);
    match tokio::time::timeout(Duration::from_secs(10), wait).await {
        Ok(Ok(_)) => Ok(()),
        _ => Err(ApiError::Unavailable(
            "the change is recorded but not yet committed; the database is slow or down".into(),
        )),
    }
}

/// The read model once it includes event `seq` (the world publishes it within a tick of the
/// step), so an answer shows what the change did; the latest one if that takes over 2 s.
pub(crate) async fn snapshot_after(s: &ApiState, seq: u64) -> Arc<orderly_model::Snapshot> {
    let mut rx = s.snapshot.clone();
    let wait = rx.wait_for(|snap| snap.last_seq >= seq);
    match tokio::time::timeout(Duration::from_secs(2), wait).await {
        Ok(Ok(snap)) => snap.clone(),
        _ => s.snapshot(),
    }
}

/// May the caller act on this alert? Nurses on their units; facilities and biomed on alerts
/// addressed to their role; admins on all.
fn may_act(auth: &Auth, a: &Alert) -> Result<(), ApiError> {
    match auth.role() {
        Role::Admin => Ok(()),
        Role::Nurse => {
            if auth.may_see_unit(a.unit.as_deref()) {
                Ok(())
            } else {
                Err(ApiError::Forbidden(format!(
                    "{} is not assigned to unit {}",
                    auth.0.name,
                    a.unit.as_deref().unwrap_or("(none)")
                )))
            }
        }
        r => {
            let mine = format!("role:{}", r.as_str());
            if a.audience.contains(&mine) {
                Ok(())
            } else {
                Err(ApiError::Forbidden(format!(
                    "the alert is not addressed to the {} role",
                    r.as_str()
                )))
            }
        }
    }
}

async fn act(
    auth: &Auth,
    s: &ApiState,
    id: &str,
    what: &str,
    cmd: impl FnOnce(String) -> AlertCommand,
) -> Result<Json<Alert>, ApiError> {
    let snap = s.snapshot();
    let alert = snap
        .alerts
        .get(id)
        .ok_or_else(|| ApiError::NotFound(format!("no open alert {id:?}")))?;
    may_act(auth, alert)?;
    let by = auth.0.name.clone();
    let alert = match apply(s, Command::Alert(cmd(by))).await?.done {
        Done::Alert(a) => a,
        other => return Err(unexpected(other)),
    };
    auth.audit(s, what, &format!("alert {id}"), alert.message.clone())
        .await?;
    Ok(Json(alert))
}

/// Acknowledge an open alert: escalation stops; it stays open until resolved.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts", params(("id" = String, Path, description = "alert id")), security(("bearer" = [])),
    responses((status = 200, body = Alert), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn acknowledge(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Alert>, ApiError> {
    let i = id.clone();
    act(&auth, &s, &id, "acknowledge", move |by| {
        AlertCommand::Acknowledge { id: i, by }
    })
    .await
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct ResolveBody {
    /// Why it is resolved by hand (kept with the alert).
    reason: String,
}

/// Resolve an alert by hand, with a reason. If its condition still holds, no new alert is
/// raised until the condition has cleared.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", params(("id" = String, Path, description = "alert id")), request_body = ResolveBody, security(("bearer" = [])),
    responses((status = 200, body = Alert), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn resolve(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<ResolveBody>,
) -> Result<Json<Alert>, ApiError> {
    let i = id.clone();
    act(&auth, &s, &id, "resolve", move |by| AlertCommand::Resolve {
        id: i,
        by,
        reason: body.reason,
    })
    .await
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct SilenceBody {
    /// How long, in seconds (1 to 3600). It sounds again by itself afterwards.
    seconds: i64,
}

/// Silence an alert for a while; it re-enables itself and escalation starts again from then.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/silence", tag = "alerts", params(("id" = String, Path, description = "alert id")), request_body = SilenceBody, security(("bearer" = [])),
    responses((status = 200, body = Alert), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn silence(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<SilenceBody>,
) -> Result<Json<Alert>, ApiError> {
    let i = id.clone();
    act(&auth, &s, &id, "silence", move |by| AlertCommand::Silence {
        id: i,
        by,
        for_ms: body.seconds.saturating_mul(1000),
    })
    .await
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct ActiveFilter {
    /// Only alerts of this unit.
    unit: Option<String>,
    /// Only alerts addressed to this recipient (`role:biomed`, `station:ICU`, `overhead`).
    audience: Option<String>,
    /// `high`, `medium`, `low` or `advisory`.
    priority: Option<String>,
    /// `active` or `acknowledged`.
    state: Option<String>,
}

/// Open alerts (active and acknowledged), highest priority and oldest first. Nurses see their
/// units' alerts.
#[utoipa::path(get, path = "/api/v1/alerts/open", tag = "alerts", params(ActiveFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<Alert>), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn open_alerts(
    auth: Auth,
    State(s): State<ApiState>,
    Query(f): Query<ActiveFilter>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    if let Some(u) = &f.unit {
        auth.require_unit(u)?;
    }
    let priority = match &f.priority {
        Some(p) => Some(Priority::parse_or_why(p, "priority").map_err(ApiError::BadRequest)?),
        None => None,
    };
    let state = match &f.state {
        Some(st) => Some(AlertState::parse_or_why(st, "state").map_err(ApiError::BadRequest)?),
        None => None,
    };
    let snap = s.snapshot();
    let mut alerts: Vec<Alert> = snap
        .alerts
        .values()
        .filter(|a| auth.may_see_unit(a.unit.as_deref()))
        .filter(|a| f.unit.as_ref().is_none_or(|u| a.unit.as_ref() == Some(u)))
        .filter(|a| {
            f.audience
                .as_ref()
                .is_none_or(|x| a.audience.iter().any(|y| y == x))
        })
        .filter(|a| priority.is_none_or(|p| a.priority == p))
        .filter(|a| state.is_none_or(|st| a.state == st))
        .cloned()
        .collect();
    alerts.sort_by(Alert::urgency);
    auth.audit(
        &s,
        "read",
        "open alerts",
        format!(
            "unit={:?} audience={:?} -> {} alerts",
            f.unit,
            f.audience,
            alerts.len()
        ),
    )
    .await?;
    Ok(Json(alerts))
}

/// The rules in force (with any disabled after failing) and the last reload's outcome.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", security(("bearer" = [])),
    responses((status = 200, body = RulesView), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn rules(
    auth: Auth,
    State(s): State<ApiState>,
) -> Result<Json<RulesView>, ApiError> {
    auth.require(&[Role::Admin, Role::Biomed, Role::Facilities])?;
    let mut v = (*s.rules.borrow().clone()).clone();
    let snap = s.snapshot();
    for r in &mut v.rules {
        r.failed = snap.disabled_rules.get(&r.id).cloned();
    }
    Ok(Json(v))
}

/// Reload the rules directory now: checked first, swapped at once if valid; a rejected set
/// keeps the old one running and answers 422 with every problem located.
#[utoipa::path(post, path = "/api/v1/rules/reload", tag = "rules", security(("bearer" = [])),
    responses((status = 200, body = ReloadOutcome), (status = 403, body = crate::error::ErrorBody), (status = 422, body = ReloadOutcome)))]
pub(crate) async fn reload(
    auth: Auth,
    State(s): State<ApiState>,
) -> Result<(axum::http::StatusCode, Json<ReloadOutcome>), ApiError> {
    auth.require(&[Role::Admin])?;
    let outcome = ask(&s, |reply| Control::Reload { reply }).await?;
    auth.audit(
        &s,
        "reload",
        "rules",
        if outcome.ok {
            format!(
                "added {:?} changed {:?} removed {:?}",
                outcome.added, outcome.changed, outcome.removed
            )
        } else {
            "rejected".into()
        },
    )
    .await?;
    let status = if outcome.ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(outcome)))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct StatusBody {
    /// `available`, `in_use`, `needs_cleaning`, `clean` or `out_of_service`.
    status: String,
    /// Why (kept with the change; required for `out_of_service`).
    #[serde(default)]
    reason: String,
}

/// Set an asset's status: cleaned, taken out of service (maintenance, recall), back in service.
///
/// Anyone may mark an item in use, needs cleaning or clean; only biomed, facilities and admins
/// take an item out of service or bring it back. Answered once the change is committed; audited.
#[utoipa::path(post, path = "/api/v1/assets/{id}/status", tag = "equipment", params(("id" = String, Path, description = "asset id")), request_body = StatusBody, security(("bearer" = [])),
    responses((status = 200, body = AssetView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn set_status(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> Result<Json<AssetView>, ApiError> {
    let to = AssetStatus::parse(&body.status).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "unknown status {:?} (available, in_use, needs_cleaning, clean, out_of_service)",
            body.status
        ))
    })?;
    let current = s
        .snapshot()
        .assets
        .get(id.as_str())
        .map(|a| a.status)
        .ok_or_else(|| ApiError::NotFound(format!("no asset {id:?}")))?;
    let service = to == AssetStatus::OutOfService || current == AssetStatus::OutOfService;
    if service && !matches!(auth.role(), Role::Admin | Role::Biomed | Role::Facilities) {
        return Err(ApiError::Forbidden(
            "only biomed, facilities and admins take equipment out of service or bring it back"
                .into(),
        ));
    }
    if to == AssetStatus::OutOfService && body.reason.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "a reason is required to take equipment out of service".into(),
        ));
    }
    apply(
        &s,
        Command::Status {
            asset: id.clone(),
            to,
            by: auth.0.name.clone(),
            reason: body.reason.clone(),
        },
    )
    .await?;
    auth.audit(
        &s,
        "set status",
        &format!("asset {id}"),
        format!("{} -> {}: {}", current.as_str(), to.as_str(), body.reason),
    )
    .await?;
    // The read model follows the commit within a step; answer with what was decided.
    let mut view = s
        .snapshot()
        .assets
        .get(id.as_str())
        .map(|a| (**a).clone())
        .ok_or_else(|| ApiError::NotFound(format!("no asset {id:?}")))?;
    view.status = to;
    Ok(Json(view))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct SuggestionFilter {
    /// Only this unit's.
    unit: Option<String>,
}

/// Pending bed suggestions (settings that move a bed, waiting for a nurse at the bedside),
/// oldest first. Nurses see their units'.
#[utoipa::path(get, path = "/api/v1/suggestions", tag = "beds", params(SuggestionFilter), security(("bearer" = [])),
    responses((status = 200, body = [SuggestionView]), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn suggestions(
    auth: Auth,
    State(s): State<ApiState>,
    Query(f): Query<SuggestionFilter>,
) -> Result<Json<Vec<SuggestionView>>, ApiError> {
    if let Some(u) = &f.unit {
        auth.require_unit(u)?;
    }
    let snap = s.snapshot();
    let mut list: Vec<SuggestionView> = snap
        .suggestions
        .values()
        .filter(|v| f.unit.is_none() || v.unit == f.unit)
        .filter(|v| auth.may_see_unit(v.unit.as_deref()))
        .cloned()
        .collect();
    list.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(list))
}

/// What became of a suggestion.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    pub suggestion: SuggestionView,
    /// `confirmed` or `dismissed`.
    pub outcome: String,
    pub by: String,
    /// The command sent to the bed (a confirmation); its acknowledgement follows on the event
    /// stream (`bed.command_acked`) and in `GET /api/v1/beds/{id}/commands`.
    pub command_id: Option<String>,
    /// The sequence number of the committed event that records the decision.
    pub seq: u64,
}

async fn decide(
    auth: &Auth,
    s: &ApiState,
    id: &str,
    decision: impl FnOnce(String) -> Decision,
) -> Result<Json<DecisionView>, ApiError> {
    // Nurses decide, on their own units: a suggestion moves a patient's bed.
    auth.require(&[Role::Nurse])?;
    let suggestion = s
        .snapshot()
        .suggestions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no pending suggestion {id:?}")))?;
    if !auth.may_see_unit(suggestion.unit.as_deref()) {
        return Err(ApiError::Forbidden(format!(
            "{} is not assigned to unit {}",
            auth.0.name,
            suggestion.unit.as_deref().unwrap_or("(none)")
        )));
    }
    let by = auth.0.name.clone();
    let decision = decision(by.clone());
    let (outcome, detail) = match &decision {
        Decision::Confirm { .. } => ("confirmed", suggestion.message.clone()),
        Decision::Dismiss { reason, .. } => {
            ("dismissed", format!("{}: {reason}", suggestion.message))
        }
    };
    let done = match apply(
        s,
        Command::Suggestion {
            id: id.to_string(),
            decision,
        },
    )
    .await?
    .done
    {
        Done::Decided(d) => d,
        other => return Err(unexpected(other)),
    };
    let what = if outcome == "confirmed" {
        "confirm suggestion"
    } else {
        "dismiss suggestion"
    };
    auth.audit(
        s,
        what,
        &format!("bed {} suggestion {id}", suggestion.bed),
        detail,
    )
    .await?;
    Ok(Json(DecisionView {
        suggestion,
        outcome: outcome.into(),
        by,
        command_id: done.command_id,
        seq: done.seq,
    }))
}

/// Confirm a bed suggestion: the setting is sent to the bed. Only a nurse of the bed's unit,
/// and only while a caregiver badge is in the bed's room (409 otherwise), so that someone sees
/// the bed move. Answered once committed; audited.
#[utoipa::path(post, path = "/api/v1/suggestions/{id}/confirm", tag = "beds", params(("id" = String, Path, description = "suggestion id")), security(("bearer" = [])),
    responses((status = 200, body = DecisionView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn confirm_suggestion(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<DecisionView>, ApiError> {
    decide(&auth, &s, &id, |by| Decision::Confirm { by }).await
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct DismissBody {
    /// Why not (kept with the decision).
    reason: String,
}

/// Dismiss a bed suggestion, with a reason: it is not offered again while its condition lasts
/// (up to `suggestion_snooze_s`, an hour by default). Nurses of the bed's unit; audited.
#[utoipa::path(post, path = "/api/v1/suggestions/{id}/dismiss", tag = "beds", params(("id" = String, Path, description = "suggestion id")), request_body = DismissBody, security(("bearer" = [])),
    responses((status = 200, body = DecisionView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn dismiss_suggestion(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(body): Json<DismissBody>,
) -> Result<Json<DecisionView>, ApiError> {
    let reason = body.reason.trim().to_string();
    if reason.is_empty() {
        return Err(ApiError::BadRequest(
            "a reason is required to dismiss a suggestion".into(),
        ));
    }
    decide(&auth, &s, &id, move |by| Decision::Dismiss { by, reason }).await
}
