//! Finding equipment: the nearest items of a kind to a room, by the distance to bring them
//! over the floorplan graph (corridors, doors, elevators with their wait; never stairs: tracked
//! equipment is wheeled), each with its route.

use crate::{ApiError, ApiState, Auth};
use axum::Json;
use axum::extract::{Query, State};
use orderly_floorplan::Way;
use orderly_model::view::{AssetView, LocationView};
use orderly_model::{AssetStatus, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
pub(crate) struct LocateQuery {
    /// Asset kind, e.g. `infusion_pump`, `wheelchair`.
    kind: String,
    /// The room to search from (where the item is needed).
    near: String,
    /// Statuses to accept, comma-separated (default `available,clean`: ready for use).
    status: Option<String>,
    /// At most this many (default 5, at most 100).
    limit: Option<usize>,
}

/// One item found, with the way to it.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct Found {
    pub asset: String,
    pub kind: String,
    pub status: AssetStatus,
    pub room: String,
    pub room_name: String,
    pub floor: String,
    pub unit: Option<String>,
    /// Distance from `near`, metres, by the way a wheeled item goes (lifts, never stairs; a
    /// lift counts its wait as metres).
    pub metres: f32,
    /// Rooms from `near` to the item, both included: by lift, never by stairs.
    pub route: Vec<String>,
    /// How sure the locator is of the room, 0..1.
    pub confidence: f32,
    pub last_seen: Timestamp,
    /// Where it stands: `store` (a store or utility room: ready to take), `room` (another room
    /// nobody is in as a patient), `in_transit` (a corridor, lift or lobby: probably on its way
    /// somewhere), `bedside` (a room with a patient: ask before taking it). Ranked in that order.
    pub place: Place,
    /// The same in words, for a person.
    pub place_says: String,
}

/// Where a found item stands, best first.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    Store,
    Room,
    InTransit,
    Bedside,
}

impl Place {
    fn says(self) -> &'static str {
        match self {
            Place::Store => "in a store: ready to take",
            Place::Room => "standing in a room nobody is using",
            Place::InTransit => "in a corridor or lift: it may be on its way somewhere",
            Place::Bedside => "at an occupied bedside: ask the nurse before taking it",
        }
    }
}

/// The nearest items of a kind, by the distance to bring them (equipment is wheeled: by lift,
/// never by stairs; an item reachable only by stairs is not offered). Items settled in a store
/// or utility room come first, then those in other free rooms, then those in corridors and
/// lifts (probably being moved), then those at an occupied bedside; nearest first within each,
/// and `place` says which.
///
/// Only items whose tag is heard now (not "last seen") and whose status is accepted; items out
/// of service (maintenance, recall) or overdue for maintenance (`service_due` passed) are never
/// offered. Ties go to the more certain location.
#[utoipa::path(get, path = "/api/v1/locate", tag = "equipment", params(LocateQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<Found>), (status = 400, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)))]
pub(crate) async fn locate(
    _auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<LocateQuery>,
) -> Result<Json<Vec<Found>>, ApiError> {
    let fp = &s.floorplan;
    let near = fp
        .room_index(&q.near)
        .ok_or_else(|| ApiError::BadRequest(format!("no room {:?} in the floorplan", q.near)))?;
    let statuses: Vec<AssetStatus> = match &q.status {
        None => vec![AssetStatus::Available, AssetStatus::Clean],
        Some(list) => list
            .split(',')
            .map(|x| {
                AssetStatus::parse(x.trim()).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "unknown status {x:?} (one of available, in_use, needs_cleaning, clean)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let limit = q.limit.unwrap_or(5).clamp(1, 100);
    let snap = s.snapshot();
    if !snap.assets.values().any(|a| a.kind == q.kind) {
        let mut kinds: Vec<&str> = snap.assets.values().map(|a| a.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        return Err(ApiError::BadRequest(format!(
            "no assets of kind {:?} (kinds: {})",
            q.kind,
            kinds.join(", ")
        )));
    }
    let metres = fp.distances_for(near, Way::Wheeled);
    let now = (s.clock)();
    // Rooms with a patient in them (by their bed's room or where their tag places them).
    let occupied: std::collections::HashSet<&str> = snap
        .patients
        .values()
        .filter_map(|p| p.room.as_deref())
        .collect();
    let place_of = |room: usize| {
        use orderly_floorplan::RoomKind as K;
        let r = &fp.rooms[room];
        match r.kind {
            K::Storage | K::CleanUtility | K::DirtyUtility => Place::Store,
            K::Corridor | K::Elevator | K::Lobby | K::Stairs | K::Exit => Place::InTransit,
            K::Patient | K::Bay if occupied.contains(r.id.as_str()) => Place::Bedside,
            _ => Place::Room,
        }
    };
    let mut found: Vec<(f32, &AssetView, &LocationView, usize, Place)> = snap
        .assets
        .values()
        .filter(|a| a.kind == q.kind)
        .filter(|a| a.status != AssetStatus::OutOfService && statuses.contains(&a.status))
        .filter(|a| a.service_due.is_none_or(|due| due > now))
        .filter_map(|a| {
            let l = a.location.as_ref().filter(|l| l.present)?;
            let room = fp.room_index(&l.room)?;
            let m = metres[room];
            m.is_finite().then_some((m, &**a, l, room, place_of(room)))
        })
        .collect();
    // Settled first, then nearest; at equal distance the more certain location, then by id.
    found.sort_by(|a, b| {
        a.4.cmp(&b.4)
            .then(a.0.total_cmp(&b.0))
            .then(b.2.confidence.total_cmp(&a.2.confidence))
            .then(a.1.id.cmp(&b.1.id))
    });
    let out = found
        .into_iter()
        .take(limit)
        .filter_map(|(m, a, l, room, place)| {
            let route = fp.route_for(near, room, Way::Wheeled)?;
            Some(Found {
                asset: a.id.clone(),
                kind: a.kind.clone(),
                status: a.status,
                room: l.room.clone(),
                room_name: l.room_name.clone(),
                floor: l.floor.clone(),
                unit: l.unit.clone(),
                metres: (m * 10.0).round() / 10.0,
                route: route.rooms,
                confidence: l.confidence,
                last_seen: l.last_seen,
                place,
                place_says: place.says().to_string(),
            })
        })
        .collect();
    Ok(Json(out))
}
