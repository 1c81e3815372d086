//! A patient's vital signs over the last hours: the sets charted with their NEWS2
//! (`patient.observed`), for the station's chart.

use crate::{ApiError, ApiState, Auth};
use axum::Json;
use axum::extract::{Path, Query, State};
use orderly_model::Role;
use orderly_model::news2::Charted;
use orderly_model::view::News2View;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
pub(crate) struct ChartQuery {
    /// How many hours back, 1-72 (default 24).
    hours: Option<u32>,
}

/// A patient's chart.
#[derive(Serialize, ToSchema)]
pub(crate) struct VitalsChart {
    patient: String,
    name: String,
    /// The patient's bed now (empty: outside Orderly's beds).
    bed: String,
    unit: Option<String>,
    /// The SpO2 scale in force now: 2 for hypercapnic respiratory failure.
    scale: u8,
    /// The latest score, its trend and when observations are next due.
    news2: Option<News2View>,
    from: orderly_model::Timestamp,
    to: orderly_model::Timestamp,
    /// The charted sets, oldest first.
    sets: Vec<Charted>,
}

/// A patient's vital-signs chart: every set charted within the last `hours` (a nurse's spot
/// checks, a sensor's values every few minutes and at each change of score), with NEWS2.
///
/// Nurses of the patient's unit and admins; audited.
#[utoipa::path(get, path = "/api/v1/patients/{id}/vitals", tag = "census", params(("id" = String, Path, description = "patient id"), ChartQuery), security(("bearer" = [])),
    responses((status = 200, body = VitalsChart), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn chart(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Query(q): Query<ChartQuery>,
) -> Result<Json<VitalsChart>, ApiError> {
    auth.require(&[Role::Nurse, Role::Admin])?;
    let hours = q.hours.unwrap_or(24);
    if !(1..=72).contains(&hours) {
        return Err(ApiError::BadRequest(format!("hours {hours}: use 1 to 72")));
    }
    let snap = s.snapshot();
    let p = snap
        .patients
        .get(id.as_str())
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no patient {id:?} in the census")))?;
    if !auth.may_see_unit(p.unit.as_deref()) {
        return Err(ApiError::Forbidden(format!(
            "patient {id} is not on a unit of {}",
            auth.0.name
        )));
    }
    auth.audit(
        &s,
        "read",
        &format!("patient {id}"),
        format!("vital signs, {hours} h"),
    )
    .await?;
    let to = (s.clock)().plus_ms(1);
    let from = to.plus_ms(-i64::from(hours) * 3_600_000);
    let mut sets: Vec<Charted> = s
        .store
        .subject_events(&id, &["patient.observed"], from, to, 10_000)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the database is unreachable ({e})")))?
        .into_iter()
        .filter_map(|e| match e.kind {
            orderly_model::EventKind::PatientObserved(c) => Some(*c),
            _ => None,
        })
        .collect();
    sets.reverse();
    Ok(Json(VitalsChart {
        patient: p.id.clone(),
        name: p.name.clone(),
        bed: p.bed.clone(),
        unit: p.unit.clone(),
        scale: if p.record.hypercapnic { 2 } else { 1 },
        news2: p.news2.clone(),
        from,
        to,
        sets,
    }))
}
