//! What the pages draw the hospital with, as public API like the rest: who is signed in, the
//! floorplan's geometry, staff badges, PAR levels, and a unit's beds with their patients'
//! safety state. Everything here is also for scripts; the pages have no other door.

use crate::{ApiError, ApiState, Auth};
use axum::Json;
use axum::extract::{Path, State};
use orderly_model::Alert;
use orderly_model::view::{AssetView, ParView, PatientView, StaffView};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// The caller, as its token says.
#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    pub token_id: String,
    pub name: String,
    /// `nurse`, `facilities`, `biomed` or `admin`.
    pub role: String,
    /// The units a nurse may see (empty for the other roles: they see every unit).
    pub units: Vec<String>,
}

/// Who the token belongs to: name, role and units (a sign-in check).
#[utoipa::path(get, path = "/api/v1/me", tag = "site", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn me(auth: Auth) -> Json<Me> {
    let p = auth.0;
    Json(Me {
        token_id: p.token_id,
        name: p.name,
        role: p.role.as_str().to_string(),
        units: p.units,
    })
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FloorplanView {
    pub site: String,
    pub name: String,
    /// Lowest level first.
    pub floors: Vec<FloorView>,
    pub units: Vec<UnitView>,
    pub rooms: Vec<RoomGeometry>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct FloorView {
    pub id: String,
    pub name: String,
    pub level: i32,
    pub building: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UnitView {
    pub id: String,
    pub name: String,
    pub floor: String,
    /// The nursing station's room.
    pub station: String,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RoomGeometry {
    pub id: String,
    pub name: String,
    pub floor: String,
    pub unit: Option<String>,
    pub kind: String,
    pub beds: Vec<String>,
    pub receivers: Vec<String>,
    /// `[x, y, width, height]` in metres on its floor (none: not drawn).
    pub rect: Option<[f32; 4]>,
}

/// The floorplan for drawing: floors, units with their stations, rooms with their outline.
#[utoipa::path(get, path = "/api/v1/floorplan", tag = "site", security(("bearer" = [])),
    responses((status = 200, body = FloorplanView), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn floorplan(_auth: Auth, State(s): State<ApiState>) -> Json<FloorplanView> {
    let fp = &s.floorplan;
    let mut floors: Vec<FloorView> = fp
        .floors
        .iter()
        .map(|f| FloorView {
            id: f.id.clone(),
            name: f.name.clone(),
            level: f.level,
            building: f.building.clone(),
        })
        .collect();
    floors.sort_by(|a, b| a.level.cmp(&b.level).then(a.id.cmp(&b.id)));
    Json(FloorplanView {
        site: fp.site.id.clone(),
        name: fp.site.name.clone(),
        floors,
        units: fp
            .units
            .iter()
            .map(|u| UnitView {
                id: u.id.clone(),
                name: u.name.clone(),
                floor: u.floor.clone(),
                station: u.station.clone(),
            })
            .collect(),
        rooms: fp
            .rooms
            .iter()
            .map(|r| RoomGeometry {
                id: r.id.clone(),
                name: r.name.clone(),
                floor: r.floor.clone(),
                unit: r.unit.clone(),
                kind: r.kind.as_str().to_string(),
                beds: r.beds.clone(),
                receivers: r.receivers.clone(),
                rect: r.rect,
            })
            .collect(),
    })
}

/// Staff badges and where they are.
#[utoipa::path(get, path = "/api/v1/staff", tag = "site", security(("bearer" = [])),
    responses((status = 200, body = Vec<StaffView>), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn staff(_auth: Auth, State(s): State<ApiState>) -> Json<Vec<Arc<StaffView>>> {
    Json(s.snapshot().staff.values().cloned().collect())
}

/// PAR levels: each unit's ready stock of a kind against its target and critical line, and
/// where to pull from when short. Nurses see their units'.
#[utoipa::path(get, path = "/api/v1/par", tag = "equipment", security(("bearer" = [])),
    responses((status = 200, body = Vec<ParView>), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn par(auth: Auth, State(s): State<ApiState>) -> Json<Vec<ParView>> {
    Json(
        s.snapshot()
            .par
            .values()
            .filter(|p| auth.may_see_unit(Some(&p.unit)))
            .cloned()
            .collect(),
    )
}

/// One bed of a unit, with its patient's safety state.
#[derive(Serialize, ToSchema)]
pub(crate) struct UnitBed {
    pub bed: String,
    /// Where the bed is now: where its tag is heard, else its place on the floorplan (none:
    /// neither).
    pub room: Option<String>,
    pub room_name: Option<String>,
    /// The bed as equipment: frame state, bed-exit watch, status.
    #[schema(value_type = AssetView)]
    pub asset: Arc<AssetView>,
    /// The patient assigned to the bed (risk scores, repositioning timer).
    #[schema(value_type = Option<PatientView>)]
    pub patient: Option<Arc<PatientView>>,
    /// Open alerts about the bed or its patient (bundles, exits, turning), highest first.
    pub alerts: Vec<Alert>,
    /// Rules about the bed or its patient that would be raising an alert but wait, and why
    /// ("Occupied bed with brakes off" while "a caregiver is in the room").
    pub paused: Vec<orderly_model::view::PausedRule>,
    /// Staff heard in the bed's room now: name and role (a caregiver at the bedside).
    pub staff_present: Vec<StaffHere>,
}

/// Someone of the staff in a room now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StaffHere {
    pub name: String,
    pub role: String,
}

/// A unit's beds (its own, and any in its rooms now) in room order, unlocated ones last: the
/// bed's settings, its patient's Morse and Braden scores and turning timer, and the open alerts
/// about either (what the bedside bundles flag). Reading patients is audited.
#[utoipa::path(get, path = "/api/v1/units/{unit}/beds", tag = "beds", params(("unit" = String, Path, description = "unit id")), security(("bearer" = [])),
    responses((status = 200, body = Vec<UnitBed>), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn unit_beds(
    auth: Auth,
    State(s): State<ApiState>,
    Path(unit): Path<String>,
) -> Result<Json<Vec<UnitBed>>, ApiError> {
    auth.require_known_unit(&s, &unit)?;
    let snap = s.snapshot();
    let fp = &s.floorplan;
    let mut out = Vec::new();
    // The unit's beds: those it owns and those in its rooms now (a bed borrowed from another
    // unit holds this unit's patient).
    for a in snap.assets.values().filter(|a| a.kind == "bed") {
        // Where it is heard, else where it belongs on the floorplan.
        let here = a
            .location
            .as_ref()
            .map(|l| &l.room)
            .or(a.place.as_ref())
            .and_then(|r| fp.room(r));
        let in_unit = here.is_some_and(|r| r.unit.as_deref() == Some(unit.as_str()));
        if !in_unit && a.unit.as_deref() != Some(unit.as_str()) {
            continue;
        }
        let patient = snap.patients.values().find(|p| p.bed == a.id).cloned();
        let mut alerts: Vec<Alert> = snap
            .alerts
            .values()
            .filter(|x| x.subject == a.id || patient.as_ref().is_some_and(|p| x.subject == p.id))
            .cloned()
            .collect();
        alerts.sort_by(Alert::urgency);
        let paused = [Some(&a.id), patient.as_ref().map(|p| &p.id)]
            .into_iter()
            .flatten()
            .filter_map(|id| snap.paused.get(id))
            .flatten()
            .cloned()
            .collect();
        let staff_present = here
            .and_then(|r| snap.rooms.get(r.id.as_str()))
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| snap.staff.get(id))
                    .filter(|st| {
                        st.location
                            .as_ref()
                            .is_some_and(|l| l.present && Some(&l.room) == here.map(|r| &r.id))
                    })
                    .map(|st| StaffHere {
                        name: st.name.clone(),
                        role: st.role.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(UnitBed {
            bed: a.id.clone(),
            room: here.map(|r| r.id.clone()),
            room_name: here.map(|r| r.name.clone()),
            asset: a.clone(),
            patient,
            alerts,
            paused,
            staff_present,
        });
    }
    // Located beds in room order, then the ones not located.
    out.sort_by(|x, y| {
        (x.room.is_none(), &x.room, &x.bed).cmp(&(y.room.is_none(), &y.room, &y.bed))
    });
    let ids: Vec<&str> = out
        .iter()
        .filter_map(|b| b.patient.as_ref().map(|p| p.id.as_str()))
        .collect();
    if !ids.is_empty() {
        auth.audit(
            &s,
            "read",
            &format!("unit {unit} beds"),
            format!("patients {}", ids.join(",")),
        )
        .await?;
    }
    Ok(Json(out))
}
