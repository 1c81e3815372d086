//! Reports for equipment planning: utilisation per kind and home unit, or per asset, over a
//! window, as JSON or CSV (for a spreadsheet). Computed from the committed events
//! (`orderly_model::report`), so it agrees with the history after any restart.

use crate::params::{respond, wants_csv, window};
use crate::{ApiError, ApiState, Auth};
use axum::extract::{Query, State};
use axum::response::Response;
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
