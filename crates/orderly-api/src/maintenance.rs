//! Maintenance for biomedical engineers: work orders (list, open, move on) and the pull list:
//! what is due within a window, where it is now, whether it can be taken (never a pump that is
//! infusing or a bed with a patient in it), and a walking round through those rooms.

use crate::control::{apply, unexpected};
use crate::params::{respond, time_param, wants_csv, window};
use crate::{ApiError, ApiState, Auth};
use axum::Json;
use axum::extract::{Path, Query, State};
use orderly_model::maintenance::{
    MaintenanceOp, Recall, RecallNotice, RecallOp, Risk, WorkOrder, WorkOrderAction,
    WorkOrderStatus,
};
use orderly_model::{AssetStatus, Role, Timestamp};
use orderly_world::{Command, Done};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who may read and move work orders.
const ENGINEERS: [Role; 3] = [Role::Biomed, Role::Facilities, Role::Admin];

#[derive(Deserialize, IntoParams)]
pub(crate) struct WorkOrderFilter {
    /// Only this asset's work orders (its id).
    asset: Option<String>,
    /// `open` (not done or cancelled), `scheduled`, `in_progress`, `done`, `cancelled`.
    status: Option<String>,
    /// Opened at or after (RFC 3339; default 90 days before `to`, or ever for `status=open`:
    /// an order still open is on the board however old it is).
    from: Option<String>,
    /// Opened before (default now).
    to: Option<String>,
    /// At most this many (default 500, at most 5000).
    limit: Option<i64>,
}

/// Work orders, newest first.
#[utoipa::path(get, path = "/api/v1/maintenance/work-orders", tag = "maintenance", params(WorkOrderFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<WorkOrder>), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn work_orders(
    auth: Auth,
    State(s): State<ApiState>,
    Query(f): Query<WorkOrderFilter>,
) -> Result<Json<Vec<WorkOrder>>, ApiError> {
    auth.require(&ENGINEERS)?;
    if let Some(st) = &f.status
        && st != "open"
        && WorkOrderStatus::parse(st).is_none()
    {
        return Err(ApiError::BadRequest(format!(
            "unknown status {st:?} (open, scheduled, in_progress, done, cancelled)"
        )));
    }
    let to = time_param("to", &f.to)?.unwrap_or_else(s.clock);
    let default_from = if f.status.as_deref() == Some("open") {
        Timestamp(0)
    } else {
        to.plus_ms(-90 * 24 * 3600 * 1000)
    };
    let from = time_param("from", &f.from)?.unwrap_or(default_from);
    Ok(Json(
        s.store
            .work_orders(
                f.asset.as_deref(),
                f.status.as_deref(),
                from,
                to.plus_ms(1),
                f.limit.unwrap_or(500).clamp(1, 5000),
            )
            .await?,
    ))
}

async fn request(
    auth: &Auth,
    s: &ApiState,
    op: MaintenanceOp,
    what: &str,
) -> Result<Json<WorkOrder>, ApiError> {
    let wo = match apply(s, Command::Maintenance(op)).await?.done {
        Done::WorkOrder(w) => w,
        other => return Err(unexpected(other)),
    };
    auth.audit(
        s,
        what,
        &format!("work order {} ({})", wo.id, wo.asset),
        format!("{}: {}", wo.status.as_str(), wo.reason),
    )
    .await?;
    Ok(Json(wo))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct OpenBody {
    asset: String,
    /// Short: `repair`, `inspection`, `damaged`, ... (one open work order per item and reason).
    reason: String,
    /// What is wrong, in words.
    #[serde(default)]
    detail: String,
}

/// Open a work order by hand: anyone may report an item that needs attention; answered once
/// committed, audited.
#[utoipa::path(post, path = "/api/v1/maintenance/work-orders", tag = "maintenance", request_body = OpenBody, security(("bearer" = [])),
    responses((status = 200, body = WorkOrder), (status = 400, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn open_work_order(
    auth: Auth,
    State(s): State<ApiState>,
    Json(b): Json<OpenBody>,
) -> Result<Json<WorkOrder>, ApiError> {
    let op = MaintenanceOp::Open {
        asset: b.asset,
        reason: b.reason,
        detail: b.detail,
        by: auth.0.name.clone(),
    };
    request(&auth, &s, op, "open work order").await
}

/// Move a work order on: `{"action": "schedule", "at": "...", "assignee": "..."}`,
/// `{"action": "start"}` (the item goes out of service), `{"action": "complete", "notes": "...",
/// "results": [{"check": "...", "passed": true}, {"check": "...", "value": 180}]}` (the service
/// is recorded with the meters and the results of its checks, every check once or none; a
/// measured check passes only within its limits; the item is back in service unless a check
/// failed),
/// `{"action": "cancel", "reason": "..."}`, `{"action": "note", "text": "..."}`. Biomed,
/// facilities and admins; answered once committed, audited.
#[utoipa::path(post, path = "/api/v1/maintenance/work-orders/{id}", tag = "maintenance", params(("id" = String, Path, description = "work order id")), request_body = WorkOrderAction, security(("bearer" = [])),
    responses((status = 200, body = WorkOrder), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn act(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(action): Json<WorkOrderAction>,
) -> Result<Json<WorkOrder>, ApiError> {
    auth.require(&ENGINEERS)?;
    let what = match &action {
        WorkOrderAction::Schedule { .. } => "schedule work order",
        WorkOrderAction::Start => "start work order",
        WorkOrderAction::Complete { .. } => "complete work order",
        WorkOrderAction::Cancel { .. } => "cancel work order",
        WorkOrderAction::Note { .. } => "note on work order",
    };
    let op = MaintenanceOp::Act {
        id,
        action,
        by: auth.0.name.clone(),
    };
    request(&auth, &s, op, what).await
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct PullQuery {
    /// Where the round starts (the biomed workshop, say): a room id.
    from: String,
    /// Due within this many days (default 14, at most 366).
    within_days: Option<u32>,
    /// Only items whose home unit is this.
    unit: Option<String>,
    /// Only items of this kind, e.g. `infusion_pump`.
    kind: Option<String>,
}

/// Why an item is on the list.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DueItem {
    /// `interval`, `runtime`, `cycles`, `repair`, ...
    pub reason: String,
    pub work_order: Option<String>,
    pub detail: String,
    /// When it is due (time-based), if known.
    pub due_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PullItem {
    pub asset: String,
    pub kind: String,
    pub model: Option<String>,
    pub unit: Option<String>,
    pub risk: Risk,
    pub due: Vec<DueItem>,
    pub status: AssetStatus,
    /// Where it is (or was last heard).
    pub room: Option<String>,
    pub room_name: Option<String>,
    pub floor: Option<String>,
    pub last_seen: Option<Timestamp>,
    /// Whether the engineer may take it now.
    pub pullable: bool,
    /// Why not, or what to watch for.
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Stop {
    pub room: String,
    pub room_name: String,
    pub floor: String,
    /// Walking metres from the previous stop (the start, for the first).
    pub metres: f32,
    /// The pullable items to collect there.
    pub assets: Vec<String>,
}

/// The engineer's pull list and round.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PullList {
    pub from: String,
    pub within_days: u32,
    pub at: Timestamp,
    /// Every item due (pullable or not), most urgent first.
    pub items: Vec<PullItem>,
    /// The rooms with pullable items, in walking order.
    pub round: Vec<Stop>,
    /// The whole round, metres (an elevator counts its wait).
    pub metres: f32,
    /// Every room walked through, from the start.
    pub route: Vec<String>,
}

/// The pull list: items due within the window (an open work order, or a scheduled service
/// falling due), with where each is and whether it may be taken, and a walking round through
/// the rooms of those that may. An item in use (a pump infusing, a bed with a patient) is listed
/// but not pullable; one being worked on is not listed.
#[utoipa::path(get, path = "/api/v1/maintenance/pull-list", tag = "maintenance", params(PullQuery), security(("bearer" = [])),
    responses((status = 200, body = PullList), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn pull_list(
    auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<PullQuery>,
) -> Result<Json<PullList>, ApiError> {
    auth.require(&ENGINEERS)?;
    let fp = &s.floorplan;
    let start = fp
        .room_index(&q.from)
        .ok_or_else(|| ApiError::NotFound(format!("no room {:?}", q.from)))?;
    let days = q.within_days.unwrap_or(14).min(366);
    let snap = s.snapshot();
    let now = snap.at;
    let horizon = now.plus_ms(days as i64 * 24 * 3600 * 1000);
    let mut items = Vec::new();
    for a in snap.assets.values() {
        let Some(m) = &a.maintenance else { continue };
        if q.kind.as_ref().is_some_and(|k| *k != a.kind) || q.unit.is_some() && q.unit != a.unit {
            continue;
        }
        let orders: Vec<&WorkOrder> = m
            .work_orders
            .iter()
            .filter_map(|id| snap.work_orders.get(id))
            .collect();
        // Being worked on: not on the list.
        if orders
            .iter()
            .any(|w| w.status == WorkOrderStatus::InProgress)
        {
            continue;
        }
        let mut due: Vec<DueItem> = orders
            .iter()
            .map(|w| DueItem {
                reason: w.reason.clone(),
                work_order: Some(w.id.clone()),
                detail: w.detail.clone(),
                due_at: (w.reason == "interval").then_some(m.next_due).flatten(),
            })
            .collect();
        if let Some(d) = m.next_due
            && d <= horizon
            && !due.iter().any(|x| x.reason == "interval")
        {
            due.push(DueItem {
                reason: "interval".into(),
                work_order: None,
                detail: format!("scheduled service due {}", d.to_rfc3339()),
                due_at: Some(d),
            });
        }
        if due.is_empty() {
            continue;
        }
        let infusing = a.pump.as_ref().is_some_and(|p| {
            matches!(
                p.state,
                orderly_model::reading::PumpState::Infusing
                    | orderly_model::reading::PumpState::Paused
                    | orderly_model::reading::PumpState::Alarm
            )
        });
        let occupied = a.bed.as_ref().is_some_and(|b| b.occupied);
        let (pullable, note) = if infusing {
            (
                false,
                Some("infusing on a patient: not to be taken until the infusion ends".to_string()),
            )
        } else if occupied {
            (false, Some("a patient is in it".to_string()))
        } else if a.status == AssetStatus::InUse {
            (false, Some("in use".to_string()))
        } else {
            match &a.location {
                None => (true, Some("location unknown: not on the round".to_string())),
                Some(l) if l.lost => (
                    true,
                    Some(format!("not heard since {}", l.last_seen.to_rfc3339())),
                ),
                Some(_) => (true, None),
            }
        };
        items.push(PullItem {
            asset: a.id.clone(),
            kind: a.kind.clone(),
            model: a.model.clone(),
            unit: a.unit.clone(),
            risk: m.risk,
            due,
            status: a.status,
            room: a.location.as_ref().map(|l| l.room.clone()),
            room_name: a.location.as_ref().map(|l| l.room_name.clone()),
            floor: a.location.as_ref().map(|l| l.floor.clone()),
            last_seen: a.location.as_ref().map(|l| l.last_seen),
            pullable,
            note,
        });
    }
    // Most urgent first: risk, then the earliest due date (work orders without one first).
    items.sort_by(|a, b| {
        let due = |i: &PullItem| {
            i.due
                .iter()
                .filter_map(|d| d.due_at)
                .min()
                .unwrap_or(Timestamp(i64::MIN))
        };
        b.risk
            .cmp(&a.risk)
            .then(due(a).cmp(&due(b)))
            .then(a.asset.cmp(&b.asset))
    });
    let stops: Vec<usize> = items
        .iter()
        .filter(|i| i.pullable)
        .filter_map(|i| i.room.as_deref().and_then(|r| fp.room_index(r)))
        .collect();
    let round = fp.round(start, &stops);
    let here = &fp.rooms[start].id;
    let at_start: Vec<String> = items
        .iter()
        .filter(|i| i.pullable && i.room.as_ref() == Some(here))
        .map(|i| i.asset.clone())
        .collect();
    let mut stops_out = Vec::new();
    if !at_start.is_empty() {
        stops_out.push(Stop {
            room: here.clone(),
            room_name: fp.rooms[start].name.clone(),
            floor: fp.rooms[start].floor.clone(),
            metres: 0.0,
            assets: at_start,
        });
    }
    for (room, metres) in round.order.iter().zip(&round.legs) {
        let r = &fp.rooms[*room];
        stops_out.push(Stop {
            room: r.id.clone(),
            room_name: r.name.clone(),
            floor: r.floor.clone(),
            metres: *metres,
            assets: items
                .iter()
                .filter(|i| i.pullable && i.room.as_ref() == Some(&r.id))
                .map(|i| i.asset.clone())
                .collect(),
        });
    }
    Ok(Json(PullList {
        from: here.clone(),
        within_days: days,
        at: now,
        items,
        round: stops_out,
        metres: round.metres,
        route: round.rooms,
    }))
}

/// One item of a recall and how far it is.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecallItem {
    pub asset: String,
    pub status: AssetStatus,
    pub room: Option<String>,
    pub room_name: Option<String>,
    /// Its open work order for the recall; none once it is done (or cancelled).
    pub work_order: Option<String>,
    pub done: bool,
}

/// A recall with its progress.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecallView {
    pub recall: Recall,
    pub items: Vec<RecallItem>,
    /// Items whose recall work order is closed.
    pub done: usize,
    pub remaining: usize,
}

fn recall_view(snap: &orderly_model::Snapshot, r: &Recall) -> RecallView {
    let key = format!("recall:{}", r.id);
    let items: Vec<RecallItem> = r
        .assets
        .iter()
        .map(|id| {
            let a = snap.assets.get(id.as_str());
            let wo = snap
                .work_orders
                .values()
                .find(|w| w.asset == *id && w.reason == key)
                .map(|w| w.id.clone());
            RecallItem {
                asset: id.clone(),
                status: a.map_or(AssetStatus::OutOfService, |a| a.status),
                room: a.and_then(|a| a.location.as_ref()).map(|l| l.room.clone()),
                room_name: a
                    .and_then(|a| a.location.as_ref())
                    .map(|l| l.room_name.clone()),
                done: wo.is_none(),
                work_order: wo,
            }
        })
        .collect();
    let done = items.iter().filter(|i| i.done).count();
    RecallView {
        remaining: items.len() - done,
        done,
        recall: r.clone(),
        items,
    }
}

/// Open recalls, with each item, where it is and whether its work is done.
#[utoipa::path(get, path = "/api/v1/maintenance/recalls", tag = "maintenance", security(("bearer" = [])),
    responses((status = 200, body = Vec<RecallView>), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn recalls(
    auth: Auth,
    State(s): State<ApiState>,
) -> Result<Json<Vec<RecallView>>, ApiError> {
    auth.require(&ENGINEERS)?;
    let snap = s.snapshot();
    Ok(Json(
        snap.recalls
            .values()
            .map(|r| recall_view(&snap, r))
            .collect(),
    ))
}

async fn recall_op(
    auth: &Auth,
    s: &ApiState,
    op: RecallOp,
    what: &str,
) -> Result<Json<RecallView>, ApiError> {
    auth.require(&[Role::Biomed, Role::Admin])?;
    let applied = apply(s, Command::Recall(op)).await?;
    let seq = applied.seq.unwrap_or_default();
    let r = match applied.done {
        Done::Recall(r) => r,
        other => return Err(unexpected(other)),
    };
    auth.audit(
        s,
        what,
        &format!("recall {}", r.id),
        format!("{} ({} items)", r.title, r.assets.len()),
    )
    .await?;
    // The items as the change left them.
    let snap = crate::control::snapshot_after(s, seq).await;
    Ok(Json(recall_view(&snap, &r)))
}

/// Issue a recall (`model`, and `serial_from`/`serial_to` or `serials`; neither: the whole
/// model): every item it covers goes out of service at once (never offered by `locate`), with a
/// work order each; an item found in use raises `recalled-*-in-use`. Biomed and admins;
/// answered once committed, audited.
#[utoipa::path(post, path = "/api/v1/maintenance/recalls", tag = "maintenance", request_body = RecallNotice, security(("bearer" = [])),
    responses((status = 200, body = RecallView), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn issue_recall(
    auth: Auth,
    State(s): State<ApiState>,
    Json(notice): Json<RecallNotice>,
) -> Result<Json<RecallView>, ApiError> {
    let op = RecallOp::Issue {
        notice,
        by: auth.0.name.clone(),
    };
    recall_op(&auth, &s, op, "issue recall").await
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct CloseBody {
    #[serde(default)]
    note: String,
}

/// Close a recall (the manufacturer's action is complete): its items are no longer recalled;
/// their open work orders stay until done or cancelled.
#[utoipa::path(post, path = "/api/v1/maintenance/recalls/{id}/close", tag = "maintenance", params(("id" = String, Path, description = "recall id")), request_body = CloseBody, security(("bearer" = [])),
    responses((status = 200, body = RecallView), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn close_recall(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(b): Json<CloseBody>,
) -> Result<Json<RecallView>, ApiError> {
    let op = RecallOp::Close {
        id,
        by: auth.0.name.clone(),
        note: b.note,
    };
    recall_op(&auth, &s, op, "close recall").await
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct ReportQuery {
    /// Start of the window (RFC 3339; default 90 days before `to`).
    from: Option<String>,
    /// End of the window (default now).
    to: Option<String>,
    /// Days after falling due that still count as on time (default 30).
    grace_days: Option<f64>,
    /// `json` (default) or `csv` (the completion table).
    format: Option<String>,
}

/// Scheduled-maintenance completion by risk class (due, on time, late, overdue, pending;
/// the Joint Commission expects 100% for high-risk equipment), the work orders overdue at the end
/// of the window, and downtime per item (hours out of service being worked on).
#[utoipa::path(get, path = "/api/v1/maintenance/report", tag = "maintenance", params(ReportQuery), security(("bearer" = [])),
    responses((status = 200, body = orderly_model::maintenance::MaintenanceReport), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn report(
    auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<ReportQuery>,
) -> Result<axum::response::Response, ApiError> {
    auth.require(&ENGINEERS)?;
    let csv = wants_csv(&q.format)?;
    let (from, to) = window(&s, &q.from, &q.to, 90 * 24 * 3600 * 1000)?;
    let grace = q.grace_days.unwrap_or(30.0);
    if !(0.0..=365.0).contains(&grace) {
        return Err(ApiError::BadRequest("grace_days: 0 to 365".into()));
    }
    // Work orders opened up to a year before the window can still be open (overdue) in it.
    let orders = s
        .store
        .work_orders(
            None,
            None,
            from.plus_ms(-366 * 24 * 3600 * 1000),
            to,
            1_000_000,
        )
        .await?;
    let r = orderly_model::maintenance::report(&orders, from, to, grace);
    let csv = csv.then(|| r.to_csv());
    Ok(respond(csv, "maintenance.csv", r))
}

/// Scheduled work (open work orders with a `scheduled_for`) as an iCalendar feed (RFC 5545),
/// for the engineers' calendars.
#[utoipa::path(get, path = "/api/v1/maintenance/calendar.ics", tag = "maintenance", security(("bearer" = [])),
    responses((status = 200, description = "text/calendar", content_type = "text/calendar"), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn calendar(
    auth: Auth,
    State(s): State<ApiState>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    auth.require(&ENGINEERS)?;
    let snap = s.snapshot();
    let orders: Vec<WorkOrder> = snap.work_orders.values().cloned().collect();
    let body = orderly_model::maintenance::ical(&orders, &s.floorplan.site.id, (s.clock)());
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/calendar; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
