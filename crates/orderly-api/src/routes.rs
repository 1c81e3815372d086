//! Routes and handlers.

use crate::params::time_param;
use crate::{ApiError, ApiState, Auth};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderly_model::view::{AssetView, IngestView, PatientView, StaffView};
use orderly_model::{Alert, AssetStatus, OutEvent, Priority, Role};
use orderly_store::{AlertQuery, AuditEntry, Stay};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "alive", body = String)))]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    ready: bool,
    /// What is not ready yet.
    problems: Vec<String>,
}

/// Readiness: the broker is connected, the database answers, the world is running.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub(crate) async fn readyz(State(s): State<ApiState>) -> Response {
    let mut problems = (s.readiness)();
    let waiting = s.database.pending_audit();
    if let Err(e) = s.database.check(&s.store).await {
        problems.push(format!(
            "database: unreachable ({e}); degraded: live views work, changes are refused, {waiting} audit records wait"
        ));
    } else if waiting > 0 {
        problems.push(format!(
            "database: back; {waiting} audit records are being written"
        ));
    }
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready: problems.is_empty(),
            problems,
        }),
    )
        .into_response()
}

/// Prometheus metrics (text exposition format). Admins only: the counters name devices and
/// routes, which is how the system is built, not what a nurse needs.
#[utoipa::path(get, path = "/metrics", tag = "health", security(("bearer" = [])), responses((status = 200, description = "Prometheus text", body = String), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn metrics(auth: Auth, State(s): State<ApiState>) -> Response {
    exposition(&auth, s.metrics.as_ref())
}

/// A standby's own metrics (not the owner's: every other request it forwards).
pub(crate) async fn standby_metrics(auth: Auth, State(s): State<crate::Standby>) -> Response {
    exposition(&auth, s.metrics.as_ref())
}

/// The Prometheus exposition, to an admin.
fn exposition(
    auth: &Auth,
    metrics: Option<&metrics_exporter_prometheus::PrometheusHandle>,
) -> Response {
    if let Err(e) = auth.require(&[Role::Admin]) {
        return e.into_response();
    }
    match metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no metrics recorder in this process").into_response(),
    }
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct AssetFilter {
    /// Asset kind, e.g. `infusion_pump`.
    kind: Option<String>,
    /// `available`, `in_use`, `needs_cleaning`, `clean` or `out_of_service`.
    status: Option<String>,
    /// Home unit.
    unit: Option<String>,
    /// Current room.
    room: Option<String>,
    /// At most this many (default 1000).
    limit: Option<usize>,
}

/// Equipment, filtered.
#[utoipa::path(get, path = "/api/v1/assets", tag = "equipment", params(AssetFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<AssetView>), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn list_assets(
    _auth: Auth,
    State(s): State<ApiState>,
    Query(f): Query<AssetFilter>,
) -> Result<Json<Vec<Arc<AssetView>>>, ApiError> {
    let status = match &f.status {
        Some(x) => Some(AssetStatus::parse_or_why(x, "status").map_err(ApiError::BadRequest)?),
        None => None,
    };
    let snap = s.snapshot();
    // A kind, unit or room that does not exist is a mistake, not an empty answer.
    if let Some(k) = &f.kind
        && !snap.assets.values().any(|a| &a.kind == k)
    {
        let kinds: std::collections::BTreeSet<&str> =
            snap.assets.values().map(|a| a.kind.as_str()).collect();
        return Err(ApiError::BadRequest(format!(
            "unknown kind {k:?} (one of {})",
            kinds.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if let Some(u) = &f.unit
        && s.floorplan.unit(u).is_none()
    {
        let units: Vec<&str> = s.floorplan.units.iter().map(|u| u.id.as_str()).collect();
        return Err(ApiError::BadRequest(format!(
            "unknown unit {u:?} (one of {})",
            units.join(", ")
        )));
    }
    if let Some(r) = &f.room
        && s.floorplan.room(r).is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "no room {r:?} in the floorplan"
        )));
    }
    let out = snap
        .assets
        .values()
        .filter(|a| f.kind.as_ref().is_none_or(|k| &a.kind == k))
        .filter(|a| status.is_none_or(|st| a.status == st))
        .filter(|a| f.unit.as_ref().is_none_or(|u| a.unit.as_ref() == Some(u)))
        .filter(|a| {
            f.room
                .as_ref()
                .is_none_or(|r| a.location.as_ref().is_some_and(|l| &l.room == r))
        })
        .take(f.limit.unwrap_or(1000))
        .cloned()
        .collect();
    Ok(Json(out))
}

/// One asset with where it is now.
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "equipment", params(("id" = String, Path, description = "asset id")), security(("bearer" = [])),
    responses((status = 200, body = AssetView), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_asset(
    _auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Arc<AssetView>>, ApiError> {
    s.snapshot()
        .assets
        .get(id.as_str())
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no asset {id:?}")))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct Window {
    /// Start (RFC 3339); default 24 h before `to`.
    from: Option<String>,
    /// End (RFC 3339); default now.
    to: Option<String>,
    /// At most this many (default 1000 stays of an asset, 200 commands of a bed).
    limit: Option<i64>,
}

/// The rooms an asset was in over a window, oldest first.
#[utoipa::path(get, path = "/api/v1/assets/{id}/history", tag = "equipment", params(("id" = String, Path, description = "asset id"), Window), security(("bearer" = [])),
    responses((status = 200, body = Vec<Stay>), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn asset_history(
    _auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(w): Query<Window>,
) -> Result<Json<Vec<Stay>>, ApiError> {
    if !s.snapshot().assets.contains_key(id.as_str()) {
        return Err(ApiError::NotFound(format!("no asset {id:?}")));
    }
    let to = time_param("to", &w.to)?.unwrap_or_else(s.clock);
    let from = time_param("from", &w.from)?.unwrap_or(to.plus_ms(-24 * 3600 * 1000));
    Ok(Json(
        s.store
            .history(&id, from, to, w.limit.unwrap_or(1000))
            .await?,
    ))
}

/// The commands Orderly sent a bed and how each ended (`bed.command`, `bed.command_acked`), and
/// the suggestions it offered for it and what became of them (`bed.suggested`,
/// `bed.suggestion_ended`), newest first.
#[utoipa::path(get, path = "/api/v1/beds/{id}/commands", tag = "beds", params(("id" = String, Path, description = "bed asset id"), Window), security(("bearer" = [])),
    responses((status = 200, body = Vec<OutEvent>), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn bed_commands(
    _auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(w): Query<Window>,
) -> Result<Json<Vec<OutEvent>>, ApiError> {
    if s.snapshot()
        .assets
        .get(id.as_str())
        .is_none_or(|a| a.kind != "bed")
    {
        return Err(ApiError::NotFound(format!("no bed {id:?}")));
    }
    let to = time_param("to", &w.to)?.unwrap_or_else(s.clock);
    let from = time_param("from", &w.from)?.unwrap_or(to.plus_ms(-7 * 24 * 3600 * 1000));
    Ok(Json(
        s.store
            .subject_events(
                &id,
                &[
                    "bed.command",
                    "bed.command_acked",
                    "bed.suggested",
                    "bed.suggestion_ended",
                ],
                from,
                to.plus_ms(1),
                w.limit.unwrap_or(200),
            )
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RoomSummary {
    id: String,
    name: String,
    floor: String,
    unit: Option<String>,
    kind: String,
    beds: Vec<String>,
    /// How many tracked subjects are located there now.
    occupants: usize,
}

fn kind_name(k: orderly_floorplan::RoomKind) -> String {
    k.as_str().to_string()
}

/// All rooms of the floorplan, with how many tracked subjects are in each.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])), responses((status = 200, body = Vec<RoomSummary>)))]
pub(crate) async fn list_rooms(_auth: Auth, State(s): State<ApiState>) -> Json<Vec<RoomSummary>> {
    let snap = s.snapshot();
    Json(
        s.floorplan
            .rooms
            .iter()
            .map(|r| RoomSummary {
                id: r.id.clone(),
                name: r.name.clone(),
                floor: r.floor.clone(),
                unit: r.unit.clone(),
                kind: kind_name(r.kind),
                beds: r.beds.clone(),
                occupants: snap.rooms.get(r.id.as_str()).map_or(0, |l| l.len()),
            })
            .collect(),
    )
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RoomView {
    id: String,
    name: String,
    floor: String,
    unit: Option<String>,
    kind: String,
    beds: Vec<String>,
    receivers: Vec<String>,
    #[schema(value_type = Vec<AssetView>)]
    assets: Vec<Arc<AssetView>>,
    #[schema(value_type = Vec<StaffView>)]
    staff: Vec<Arc<StaffView>>,
    /// Patients whose bed (or wristband) is here; only for callers who may see the unit.
    #[schema(value_type = Vec<PatientView>)]
    patients: Vec<Arc<PatientView>>,
}

/// A room and what is in it now. Reading patients is audited.
#[utoipa::path(get, path = "/api/v1/rooms/{id}", tag = "rooms", params(("id" = String, Path, description = "room id")), security(("bearer" = [])),
    responses((status = 200, body = RoomView), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn get_room(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<RoomView>, ApiError> {
    let room = s
        .floorplan
        .room(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no room {id:?}")))?;
    let snap = s.snapshot();
    let here = snap.rooms.get(id.as_str()).cloned().unwrap_or_default();
    let assets: Vec<Arc<AssetView>> = here
        .iter()
        .filter_map(|x| snap.assets.get(x))
        .cloned()
        .collect();
    let staff = here
        .iter()
        .filter_map(|x| snap.staff.get(x))
        .cloned()
        .collect();
    let mut patients: Vec<Arc<PatientView>> = Vec::new();
    if auth.may_see_unit(room.unit.as_deref()) {
        patients = snap
            .patients
            .values()
            .filter(|p| p.room.as_deref() == Some(id.as_str()))
            .cloned()
            .collect();
        if !patients.is_empty() {
            let ids: Vec<&str> = patients.iter().map(|p| p.id.as_str()).collect();
            auth.audit(
                &s,
                "read",
                &format!("room {id}"),
                format!("patients {}", ids.join(",")),
            )
            .await?;
        }
    }
    Ok(Json(RoomView {
        id: room.id.clone(),
        name: room.name.clone(),
        floor: room.floor.clone(),
        unit: room.unit.clone(),
        kind: kind_name(room.kind),
        beds: room.beds.clone(),
        receivers: room.receivers.clone(),
        assets,
        staff,
        patients,
    }))
}

/// The unit's open alerts (active and acknowledged), highest priority and oldest first.
#[utoipa::path(get, path = "/api/v1/units/{unit}/alerts", tag = "alerts", params(("unit" = String, Path, description = "unit id")), security(("bearer" = [])),
    responses((status = 200, body = Vec<Alert>), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn unit_alerts(
    auth: Auth,
    State(s): State<ApiState>,
    Path(unit): Path<String>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    auth.require_known_unit(&s, &unit)?;
    let mut alerts: Vec<Alert> = s
        .snapshot()
        .alerts
        .values()
        .filter(|a| a.unit.as_deref() == Some(unit.as_str()))
        .cloned()
        .collect();
    alerts.sort_by(Alert::urgency);
    auth.audit(
        &s,
        "read",
        &format!("alerts of unit {unit}"),
        format!("{} alerts", alerts.len()),
    )
    .await?;
    Ok(Json(alerts))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct AlertFilter {
    /// Only alerts of this unit.
    unit: Option<String>,
    /// Only alerts of this rule (its id).
    rule: Option<String>,
    /// `high`, `medium`, `low` or `advisory`.
    priority: Option<String>,
    /// `active`, `acknowledged` or `resolved`.
    state: Option<String>,
    /// Raised at or after (RFC 3339).
    from: Option<String>,
    /// Raised at or before (RFC 3339).
    to: Option<String>,
    /// At most this many, newest first (default 200).
    limit: Option<i64>,
}

/// Alert history with filters, newest first. Nurses must name one of their units.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<Alert>), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn alert_history(
    auth: Auth,
    State(s): State<ApiState>,
    Query(f): Query<AlertFilter>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    match (&f.unit, auth.role()) {
        (Some(u), _) => auth.require_unit(u)?,
        (None, Role::Nurse) => {
            return Err(ApiError::Forbidden(
                "nurses must ask for one of their units (?unit=...)".into(),
            ));
        }
        _ => {}
    }
    if let Some(p) = &f.priority {
        Priority::parse_or_why(p, "priority").map_err(ApiError::BadRequest)?;
    }
    if let Some(st) = &f.state {
        orderly_model::AlertState::parse_or_why(st, "state").map_err(ApiError::BadRequest)?;
    }
    let q = AlertQuery {
        unit: f.unit.clone(),
        rule: f.rule.clone(),
        priority: f.priority.clone(),
        state: f.state.clone(),
        open_only: false,
        from: time_param("from", &f.from)?,
        to: time_param("to", &f.to)?,
        limit: f.limit.unwrap_or(200),
    };
    let alerts = s.store.alerts(&q).await?;
    auth.audit(
        &s,
        "read",
        "alert history",
        format!(
            "unit={:?} rule={:?} -> {} alerts",
            f.unit,
            f.rule,
            alerts.len()
        ),
    )
    .await?;
    Ok(Json(alerts))
}

/// Bad input: counts per reason and device, and the latest rejected messages with reasons.
#[utoipa::path(get, path = "/api/v1/ingest", tag = "operations", security(("bearer" = [])),
    responses((status = 200, body = IngestView), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn ingest(
    auth: Auth,
    State(s): State<ApiState>,
) -> Result<Json<IngestView>, ApiError> {
    auth.require(&[Role::Admin, Role::Facilities, Role::Biomed])?;
    Ok(Json(s.snapshot().ingest.clone()))
}

/// The cluster as the database records it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ClusterView {
    /// The instance that answered.
    instance: String,
    /// Every site's lease: its owner, epoch and how long since the owner renewed it.
    sites: Vec<orderly_store::SiteLease>,
    /// Instances (owners and standbys) that reported in the last 30 s, once per site they
    /// serve.
    instances: Vec<orderly_store::ClusterInstance>,
    /// The load each owner carries: the weights of the sites whose lease it holds (the sites
    /// are shared out so that no move of one site would make the loads more even).
    loads: std::collections::BTreeMap<String, u64>,
}

/// The cluster: instances, the sites, who owns each and the age of each lease.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "operations", security(("bearer" = [])),
    responses((status = 200, body = ClusterView), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn cluster(
    auth: Auth,
    State(s): State<ApiState>,
) -> Result<Json<ClusterView>, ApiError> {
    auth.require(&[Role::Admin, Role::Facilities, Role::Biomed])?;
    let (mut sites, mut instances) = s.store.cluster(30_000).await?;
    for other in s.other_sites.iter() {
        let (more_sites, more_instances) = other.cluster(30_000).await?;
        sites.extend(more_sites);
        instances.extend(more_instances);
    }
    sites.sort_by(|a, b| a.site.cmp(&b.site));
    instances.sort_by(|a, b| (&a.instance, &a.site).cmp(&(&b.instance, &b.site)));
    let mut loads = std::collections::BTreeMap::new();
    for l in &mut sites {
        l.weight = s.site_weights.get(&l.site).copied();
        if l.expires_in_ms >= 0 {
            *loads.entry(l.holder.clone()).or_default() += l.weight.unwrap_or(0);
        }
    }
    Ok(Json(ClusterView {
        instance: s.instance.to_string(),
        sites,
        instances,
        loads,
    }))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct Limit {
    /// At most this many, newest first (default 200).
    limit: Option<i64>,
}

/// The audit log, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/audit", tag = "operations", params(Limit), security(("bearer" = [])),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn audit_log(
    auth: Auth,
    State(s): State<ApiState>,
    Query(l): Query<Limit>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    auth.require(&[Role::Admin])?;
    Ok(Json(s.store.audit_log(l.limit.unwrap_or(200)).await?))
}
