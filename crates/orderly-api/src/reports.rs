//! Reports for equipment planning: utilisation per kind and home unit, or per asset, over a
//! window, as JSON or CSV (for a spreadsheet). Computed from the committed events
//! (`orderly_model::report`), so it agrees with the history after any restart.

use crate::params::{respond, wants_csv, window};
use crate::{ApiError, ApiState, Auth};
use axum::extract::{Query, State};
use axum::response::Response;
use orderly_model::Timestamp;
use orderly_model::compliance::{Compliance, compliance};
use orderly_model::report::{Start, Utilisation, utilisation};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
pub(crate) struct UtilisationQuery {
    /// Start (RFC 3339); default 7 days before `to`.
    from: Option<String>,
    /// End (RFC 3339); default now.
    to: Option<String>,
    /// Only this asset kind.
    kind: Option<String>,
    /// Only assets of this home unit.
    unit: Option<String>,
    /// `group` (per kind and home unit, the default) or `asset` (one row per asset too).
    by: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Utilisation: time in use, idle (available or clean), waiting for cleaning, out of service and
/// missing (tag lost), and in use / on hand, per kind and home unit or per asset.
#[utoipa::path(get, path = "/api/v1/reports/utilisation", tag = "equipment", params(UtilisationQuery), security(("bearer" = [])),
    responses((status = 200, body = Utilisation, description = "JSON, or CSV with `format=csv`"), (status = 400, body = crate::error::ErrorBody)))]
pub(crate) async fn utilisation_report(
    _auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<UtilisationQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = window(&s, &q.from, &q.to, 7 * 24 * 3600 * 1000)?;
    let per_asset = match q.by.as_deref() {
        None | Some("group") => false,
        Some("asset") => true,
        Some(x) => {
            return Err(ApiError::BadRequest(format!(
                "by {x:?}: use group or asset"
            )));
        }
    };
    let csv = wants_csv(&q.format)?;
    let snap = s.snapshot();
    if let Some(k) = &q.kind
        && !snap.assets.values().any(|a| &a.kind == k)
    {
        return Err(ApiError::BadRequest(format!("no asset of kind {k:?}")));
    }
    if let Some(u) = &q.unit
        && !s.floorplan.units.iter().any(|x| &x.id == u)
    {
        return Err(ApiError::BadRequest(format!("no unit {u:?}")));
    }
    let inputs = s.store.utilisation_inputs(from, to).await?;
    let starts: Vec<Start> = snap
        .assets
        .values()
        .filter(|a| q.kind.as_ref().is_none_or(|k| &a.kind == k))
        .filter(|a| q.unit.as_ref().is_none_or(|u| a.unit.as_ref() == Some(u)))
        .map(|a| Start {
            id: a.id.clone(),
            kind: a.kind.clone(),
            unit: a.unit.clone(),
            // No change recorded before or in the window: as it is now.
            status: inputs
                .status_at_start
                .get(&a.id)
                .copied()
                .unwrap_or(a.status),
            missing: inputs.missing_at_start.contains(&a.id),
        })
        .collect();
    let report = utilisation(&starts, &inputs.changes, from, to, per_asset);
    let csv = csv.then(|| report.to_csv());
    Ok(respond(csv, "utilisation.csv", report))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct ComplianceQuery {
    /// Start (RFC 3339); default 24 hours before `to`.
    from: Option<String>,
    /// End (RFC 3339); default now.
    to: Option<String>,
    /// Only this bundle (`fall-risk`, `ventilated`, `brakes`, `turning`: the rules' `bundle`).
    bundle: Option<String>,
    /// Only this unit.
    unit: Option<String>,
    /// `unit` (per bundle and unit, the default) or `subject` (one row per bed or patient too).
    by: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Care-bundle compliance: of the time each bundle applied (a rule with `bundle` and
/// `applies`: an occupied bed of a patient at risk, no care in progress), the share it was
/// complied with, per bundle and unit, or per bed or patient.
#[utoipa::path(get, path = "/api/v1/reports/compliance", tag = "beds", params(ComplianceQuery), security(("bearer" = [])),
    responses((status = 200, body = Compliance, description = "JSON, or CSV with `format=csv`"), (status = 400, body = crate::error::ErrorBody)))]
pub(crate) async fn compliance_report(
    auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<ComplianceQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = window(&s, &q.from, &q.to, 24 * 3600 * 1000)?;
    let per_subject = match q.by.as_deref() {
        None | Some("unit") => false,
        Some("subject") => true,
        Some(x) => {
            return Err(ApiError::BadRequest(format!(
                "by {x:?}: use unit or subject"
            )));
        }
    };
    let csv = wants_csv(&q.format)?;
    if let Some(u) = &q.unit
        && !s.floorplan.units.iter().any(|x| &x.id == u)
    {
        return Err(ApiError::BadRequest(format!("no unit {u:?}")));
    }
    // A nurse sees her units only: per bed and patient, a report names patients.
    if let Some(u) = &q.unit {
        auth.require_unit(u)?;
    }
    let mut changes = s.store.bundle_changes(to, q.bundle.as_deref()).await?;
    changes.retain(|c| auth.may_see_unit(c.unit.as_deref()));
    if let Some(u) = &q.unit {
        changes.retain(|c| c.unit.as_ref() == Some(u));
    }
    if per_subject {
        auth.audit(
            &s,
            "read",
            "compliance report by subject",
            format!("bundle={:?} unit={:?}", q.bundle, q.unit),
        )
        .await?;
    }
    let report = compliance(&changes, from, to, per_subject);
    let csv = csv.then(|| report.to_csv());
    Ok(respond(csv, "compliance.csv", report))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct InfusionQuery {
    /// Start (RFC 3339); default 7 days before `to`.
    from: Option<String>,
    /// End (RFC 3339); default now.
    to: Option<String>,
    /// Only this unit.
    unit: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Infusion safety (ISMP): drug-library compliance (infusions started with the library / all
/// infusions started), basic mode, soft-limit overrides and hard stops, infusion hours and
/// alerts on pumps per infusion hour; per unit, per pump model and per drug and unit. From the
/// committed `pump.infusion` events, so it agrees with the history after any restart.
#[utoipa::path(get, path = "/api/v1/reports/infusion", tag = "equipment", params(InfusionQuery), security(("bearer" = [])),
    responses((status = 200, body = orderly_model::infusion::InfusionReport, description = "JSON, or CSV with `format=csv`"), (status = 400, body = crate::error::ErrorBody)))]
pub(crate) async fn infusion_report(
    auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<InfusionQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = window(&s, &q.from, &q.to, 7 * 24 * 3600 * 1000)?;
    let csv = wants_csv(&q.format)?;
    unit_param(&s, &auth, &q.unit)?;
    let snap = s.snapshot();
    let mut records = s.store.infusions(from, to).await?;
    records.retain(|(r, _)| auth.may_see_unit(r.unit.as_deref()));
    if let Some(u) = &q.unit {
        records.retain(|(r, _)| r.unit.as_ref() == Some(u));
    }
    // Alerts of the rules about pumps, raised in the window.
    let pump_rules: std::collections::BTreeSet<String> = s
        .rules
        .borrow()
        .rules
        .iter()
        .filter(|r| r.subject == "pump")
        .map(|r| r.id.clone())
        .collect();
    let alerts = s
        .store
        .alerts(&orderly_store::AlertQuery {
            unit: q.unit.clone(),
            rule: None,
            priority: None,
            state: None,
            open_only: false,
            from: Some(from),
            to: Some(Timestamp(to.millis() - 1)),
            limit: 100_000,
        })
        .await?
        .into_iter()
        .filter(|a| pump_rules.contains(&a.rule) && auth.may_see_unit(a.unit.as_deref()))
        .map(|a| {
            let model = snap
                .assets
                .get(a.subject.as_str())
                .and_then(|x| x.model.clone())
                .unwrap_or_default();
            (a.unit, model)
        })
        .collect::<Vec<_>>();
    let report = orderly_model::infusion::report(&records, &alerts, from, to);
    let csv = csv.then(|| report.to_csv());
    Ok(respond(csv, "infusion.csv", report))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct EnvironmentQuery {
    /// Start (RFC 3339); default 7 days before `to`.
    from: Option<String>,
    /// End (RFC 3339); default now.
    to: Option<String>,
    /// Only sensors in this unit's rooms.
    unit: Option<String>,
    /// Only this sensor.
    sensor: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The environment's daily log (what a paper temperature log held).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct EnvironmentLog {
    from: Timestamp,
    to: Timestamp,
    /// One line per sensor and day (UTC), by day then sensor.
    days: Vec<orderly_model::environment::Day>,
}

/// The environment of care's daily log: per sensor and day (UTC) the minimum, maximum and
/// mean of each value, minutes the door was open, hours with readings, and every excursion
/// (out of the profile's range: when, how far, for how long). From the committed
/// `env.summary` and `env.excursion` events and the hour in progress.
#[utoipa::path(get, path = "/api/v1/reports/environment", tag = "equipment", params(EnvironmentQuery), security(("bearer" = [])),
    responses((status = 200, body = EnvironmentLog, description = "JSON, or CSV with `format=csv`"), (status = 400, body = crate::error::ErrorBody)))]
pub(crate) async fn environment_report(
    auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<EnvironmentQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = window(&s, &q.from, &q.to, 7 * 24 * 3600 * 1000)?;
    let csv = wants_csv(&q.format)?;
    unit_param(&s, &auth, &q.unit)?;
    let snap = s.snapshot();
    if let Some(id) = &q.sensor
        && !snap.sensors.contains_key(id.as_str())
    {
        return Err(ApiError::BadRequest(format!("no sensor {id:?}")));
    }
    let (mut summaries, mut excursions) = s.store.environment(from, to).await?;
    // The hour in progress, not written yet.
    summaries.extend(
        snap.sensors
            .values()
            .filter_map(|v| v.hour.clone())
            .filter(|h| h.from >= from && h.from < to),
    );
    let keep = |sensor: &str, unit: Option<&str>| {
        auth.may_see_unit(unit)
            && q.sensor.as_deref().is_none_or(|x| x == sensor)
            && q.unit.as_deref().is_none_or(|u| unit == Some(u))
    };
    summaries.retain(|x| keep(&x.place.sensor, x.place.unit.as_deref()));
    excursions.retain(|x| keep(&x.place.sensor, x.place.unit.as_deref()));
    let now = to.min(snap.at.max(from));
    let days = orderly_model::environment::daily_log(&summaries, &excursions, now);
    let csv = csv.then(|| orderly_model::environment::to_csv(&days, now));
    Ok(respond(
        csv,
        "environment.csv",
        EnvironmentLog { from, to, days },
    ))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct SensorsQuery {
    /// Only sensors in this unit's rooms.
    unit: Option<String>,
}

/// Every environment sensor as it stands now: its last values and where each stands against
/// its profile, the door, excursions under way, minutes silent.
#[utoipa::path(get, path = "/api/v1/sensors", tag = "equipment", params(SensorsQuery), security(("bearer" = [])),
    responses((status = 200, body = [orderly_model::view::SensorView]), (status = 400, body = crate::error::ErrorBody)))]
pub(crate) async fn list_sensors(
    auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<SensorsQuery>,
) -> Result<axum::Json<Vec<orderly_model::view::SensorView>>, ApiError> {
    unit_param(&s, &auth, &q.unit)?;
    let snap = s.snapshot();
    Ok(axum::Json(
        snap.sensors
            .values()
            .filter(|v| auth.may_see_unit(v.unit.as_deref()))
            .filter(|v| {
                q.unit
                    .as_deref()
                    .is_none_or(|u| v.unit.as_deref() == Some(u))
            })
            .map(|v| (**v).clone())
            .collect(),
    ))
}

/// A `unit` parameter: a unit of the floorplan that the caller may see.
fn unit_param(s: &ApiState, auth: &Auth, unit: &Option<String>) -> Result<(), ApiError> {
    if let Some(u) = unit {
        if !s.floorplan.units.iter().any(|x| &x.id == u) {
            return Err(ApiError::BadRequest(format!("no unit {u:?}")));
        }
        auth.require_unit(u)?;
    }
    Ok(())
}
