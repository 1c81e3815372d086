//! The read model: a consistent snapshot of the world that the API serves. The world builds
//! it between batches; readers hold an `Arc` of it and never block ingest.

use crate::reading::{BedState, PumpTelemetry, RejectReason, Rejected};
use crate::{Alert, AssetStatus, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a tag is, as far as the locator knows.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LocationView {
    pub room: String,
    pub room_name: String,
    pub floor: String,
    pub unit: Option<String>,
    /// When it entered this room.
    pub since: Timestamp,
    /// When a receiver last heard its tag.
    pub last_seen: Timestamp,
    /// 0..1.
    pub confidence: f32,
    /// False once the tag has been silent past its class's timeout: "last seen in X at T".
    pub present: bool,
    /// Silent past its class's timeout (after a restart, the last known room comes back
    /// neither present nor lost until the tag is heard or the timeout passes).
    pub lost: bool,
}

/// What the API and pages show of an item. Parts only some kinds have are boxed: inline, they
/// made every view 960 bytes, 25,000 of them twice over while a snapshot is replaced.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AssetView {
    pub id: String,
    pub kind: String,
    pub tag: Option<String>,
    pub device: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Home unit.
    pub unit: Option<String>,
    pub status: AssetStatus,
    /// When its next scheduled maintenance is due (its policy's interval from the last service,
    /// else the registry's date); past it, the item is overdue and `locate` does not offer it.
    pub service_due: Option<Timestamp>,
    pub location: Option<LocationView>,
    /// The tag's battery as it last reported it, percent.
    pub tag_battery_pct: Option<u8>,
    /// Latest frame state, for smart beds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bed: Option<BedState>,
    /// Latest telemetry, for infusion pumps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pump: Option<Box<PumpTelemetry>>,
    /// The bed-exit watch (smart beds).
    pub bed_exit: Option<Box<BedExitView>>,
    /// Its maintenance policy's view (items the catalogue covers).
    pub maintenance: Option<Box<MaintenanceView>>,
    /// A bed's turnover between patients (beds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnover: Option<Box<TurnoverView>>,
    /// The room of its place on the floorplan (a bed's `position` in the seed), where it
    /// belongs whether or not its tag is heard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// The infusion an infusion pump runs, as checked against the drug library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infusion: Option<Box<InfusionView>>,
}

/// A pump's running infusion and where it stands against the drug library.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InfusionView {
    pub started_at: Timestamp,
    pub library: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drug: Option<String>,
    /// The dose checked, in `dose_unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dose: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dose_unit: Option<String>,
    pub rate_ml_h: f64,
    pub limit: crate::infusion::Standing,
    /// The limit crossed, in words (empty when within).
    pub crossed: String,
    /// Why the library could not check it (a drug or profile it lacks), when so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes_left: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
}

/// An item's maintenance: its risk, when it is next due by time, its meters and its open work
/// orders.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MaintenanceView {
    pub risk: crate::maintenance::Risk,
    /// The next time-based service (the last one plus the interval, else the registry's date).
    pub next_due: Option<Timestamp>,
    /// Use so far (lifetime counters as the device reports them; bed cycles since Orderly
    /// started watching).
    pub usage: crate::maintenance::Usage,
    pub last_service: crate::maintenance::LastService,
    pub occlusion_alarms: Option<u64>,
    pub battery_pct: Option<f32>,
    /// Open work orders.
    pub work_orders: Vec<String>,
    /// `file:line` of the policy.
    pub policy: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StaffView {
    pub id: String,
    pub name: String,
    pub role: String,
    pub units: Vec<String>,
    pub badge: String,
    pub location: Option<LocationView>,
    /// The tag's battery as it last reported it, percent.
    pub tag_battery_pct: Option<u8>,
}

/// What the bed-exit watch of a smart bed says.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BedExitView {
    /// The zone watched for this bed's patient: `off`, `exit`, `pre_exit`, `movement`.
    pub watching: String,
    /// The load cells hold the patient's weight.
    pub in_bed: bool,
    /// The load cells have learnt a patient's weight (in bed, or out after an exit).
    pub armed: bool,
    /// The exit under way, if any.
    pub exit: Option<ExitView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ExitView {
    pub at: Timestamp,
    /// `load cells`, `bed alarm` or `restored`.
    pub source: String,
    pub zone: String,
    /// A caregiver was in the room when it began.
    pub assisted: bool,
}

/// A patient's repositioning timer.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TurningView {
    /// `off`, `paused`, `ok`, `due_soon`, `due`, `overdue`, `severely_overdue`.
    pub state: String,
    /// Minutes between turns for this patient (none: not timed).
    pub every_min: Option<u32>,
    /// The last repositioning seen, if any.
    pub last_turn: Option<Timestamp>,
    /// Minutes in bed since it, as of the timer's last change of state.
    pub minutes: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PatientView {
    pub id: String,
    pub name: String,
    pub bed: String,
    /// The room of the patient's bed.
    pub room: Option<String>,
    pub unit: Option<String>,
    pub morse: u8,
    pub braden: u8,
    pub ventilated: bool,
    pub wearable: Option<String>,
    pub location: Option<LocationView>,
    /// The tag's battery as it last reported it, percent.
    pub tag_battery_pct: Option<u8>,
    /// The latest NEWS2 from the patient's vital signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub news2: Option<News2View>,
    /// What the census says beyond the seed's fields (class, visit, isolation, scores not
    /// assessed yet, ...).
    #[serde(default, skip_serializing_if = "crate::census::Record::is_empty")]
    pub record: crate::census::Record,
    /// The repositioning timer (patients in a smart bed).
    pub turning: Option<TurningView>,
}

/// Bad input, counted per reason and per device, with the latest few.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IngestView {
    pub accepted: u64,
    pub rejected: u64,
    /// Sequence gaps (messages lost between device and Orderly); the message itself is used.
    pub gaps: u64,
    pub by_reason: BTreeMap<RejectReason, u64>,
    /// Rejections per device id (`-` when the topic names none).
    pub by_device: BTreeMap<String, u64>,
    /// The most recent rejections, newest last.
    pub recent: Vec<Rejected>,
}

/// A pending suggestion: a setting that moves a bed, waiting for a nurse at the bedside to
/// confirm or dismiss it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuggestionView {
    pub id: String,
    pub bed: String,
    pub rule: String,
    /// The settings it would ask the bed for (`hob_deg`, `height`).
    #[schema(value_type = Object)]
    pub set: serde_json::Map<String, serde_json::Value>,
    pub message: String,
    pub room: Option<String>,
    pub unit: Option<String>,
    pub at: Timestamp,
}

/// A rule that would be raising its alert but waits: its `unless` holds (care at the bedside).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PausedRule {
    pub rule: String,
    pub title: String,
    /// Why it waits, in words ("a caregiver is in the room").
    pub because: String,
    pub since: Timestamp,
}

/// Everything the API reads, as of one moment. The maps share structure between snapshots
/// (`imbl`): taking one is O(1), and the world updates only what changed.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The world's clock when the snapshot was taken.
    pub at: Timestamp,
    /// Sequence number of the last event emitted before the snapshot.
    pub last_seq: u64,
    pub assets: imbl::OrdMap<Id, Arc<AssetView>>,
    pub staff: imbl::OrdMap<Id, Arc<StaffView>>,
    pub patients: imbl::OrdMap<Id, Arc<PatientView>>,
    /// Room id -> ids of the assets, staff and patients located there (present or last seen), sorted.
    pub rooms: imbl::OrdMap<Id, Occupants>,
    /// Active and acknowledged alerts, by id.
    pub alerts: BTreeMap<String, Alert>,
    /// Rules disabled after failing while evaluating (until the next reload), with the error.
    pub disabled_rules: BTreeMap<String, String>,
    /// Rules paused now (their condition holds, and so does their `unless`), by subject id.
    pub paused: BTreeMap<String, Vec<PausedRule>>,
    pub ingest: IngestView,
    /// Pending bed suggestions, by id.
    pub suggestions: BTreeMap<String, SuggestionView>,
    /// Work orders not done or cancelled, by id.
    pub work_orders: BTreeMap<String, crate::maintenance::WorkOrder>,
    /// Recalls not closed, by id.
    pub recalls: BTreeMap<String, crate::maintenance::Recall>,
    /// Each unit's stock of ready equipment against its PAR levels, by `PAR-{unit}-{kind}`.
    pub par: BTreeMap<String, ParView>,
    /// Every environment sensor as it stands, by id.
    pub sensors: SensorMap,
}

/// Sensors by id, sharing structure between snapshots.
pub type SensorMap = imbl::OrdMap<Id, Arc<SensorView>>;

/// The ids of the subjects in a room, in order (a persistent set: a move costs O(log n)).
pub type Occupants = imbl::OrdSet<Id>;

/// A key of the snapshot's persistent maps. Shared, not owned: an update copies the path of
/// nodes it changes (up to 64 keys each) whenever the API holds the snapshot before it, and
/// with `String` keys that copy was an allocation per key (a third of the world's time at
/// 25,000 tags, refreshing when tags were last seen).
pub type Id = Arc<str>;

/// A persistent map of views by id, as the snapshot holds them.
pub type PersistentMap<V> = imbl::OrdMap<Id, Arc<V>>;

/// Sets `id`'s view in `map` to `v` unless it is that already; says whether it changed. The
/// key is allocated only for a new entry (a replaced view keeps its shared key).
pub fn put<V: PartialEq>(map: &mut PersistentMap<V>, id: &str, v: V) -> bool {
    // Looked at first: `get_mut` copies the path even to find the same view.
    match map.get(id) {
        Some(old) if **old == v => false,
        Some(_) => {
            if let Some(old) = map.get_mut(id) {
                *old = Arc::new(v);
            }
            true
        }
        None => {
            map.insert(id.into(), Arc::new(v));
            true
        }
    }
}

/// An environment sensor as it stands: what it last read, where each value stands against its
/// profile, the excursions under way and the hour in progress (for the daily log).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SensorView {
    pub id: String,
    pub appliance: Option<String>,
    pub profile: String,
    /// The profile's title (`Medication refrigerator`), or the id when rules/environment.toml
    /// lacks it.
    pub profile_title: String,
    pub room: String,
    pub room_name: String,
    pub unit: Option<String>,
    /// The ranges in words (`temperature 2 to 8 °C`).
    pub range: String,
    /// Receive time of the last reading (none since Orderly started).
    pub last_reading: Option<crate::Timestamp>,
    pub temperature_c: Option<f64>,
    pub humidity_pct: Option<f64>,
    pub pressure_pa: Option<f64>,
    pub temperature: crate::infusion::Standing,
    pub humidity: crate::infusion::Standing,
    pub pressure: crate::infusion::Standing,
    pub door_open: bool,
    pub door_open_since: Option<crate::Timestamp>,
    pub battery_pct: Option<f64>,
    /// Whole minutes without a reading.
    pub silent_minutes: i64,
    /// Excursions under way.
    pub excursions: Vec<crate::environment::Excursion>,
    /// The hour in progress, not yet written as an `env.summary`.
    pub hour: Option<crate::environment::Summary>,
}

/// One unit's stock of one kind against its PAR level (`rules/par.toml`), as last counted.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ParView {
    pub unit: String,
    pub unit_name: String,
    pub kind: String,
    /// Items ready for use (`available` or `clean`, heard now) in the unit's rooms.
    pub ready: u32,
    pub target: u32,
    pub critical: u32,
    /// `ok` (at or above target), `below_target`, or `critical` (below the critical line).
    pub state: String,
    /// The nearest room outside the unit with ready items to spare, if any.
    pub pull_from: Option<ParSource>,
}

/// Where a unit short of stock can pull from.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ParSource {
    pub room: String,
    pub room_name: String,
    /// Items there that nobody else needs.
    pub spare: u32,
    /// Walking distance from the unit's station.
    pub metres: f32,
}

/// A bed's turnover as it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TurnoverView {
    pub state: crate::census::BedTurn,
    pub since: crate::Timestamp,
    /// When its last patient left.
    pub vacated_at: Option<crate::Timestamp>,
    /// Why it is in this state (a block's reason, `patient left`, ...).
    pub reason: String,
}

/// A patient's latest NEWS2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct News2View {
    pub aggregate: u8,
    /// `routine`, `low`, `single_parameter_3`, `medium`, `high`.
    pub response: String,
    /// All seven parameters in it.
    pub complete: bool,
    /// Up by this much within the trend window.
    pub rise: u8,
    /// When its newest value was taken.
    pub scored_at: crate::Timestamp,
    /// The next observations are due by then.
    pub due_at: Option<crate::Timestamp>,
    /// The values and sub-scores in words.
    pub detail: String,
}
