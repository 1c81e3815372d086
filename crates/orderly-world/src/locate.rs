//! Locating: each tag's room from receiver sightings, as a forward (HMM) filter over rooms.
//!
//! Per receiver, the RSSI is smoothed with an asymmetric EWMA (quick to rise, slow to fall:
//! fading only ever lowers a signal, so the upper envelope is the better estimate). A room's
//! level pools its receivers (a soft maximum). Per tag, a belief over the rooms it has been
//! heard in is predicted forward in time (a tag leaves a room at a small rate, mostly to an
//! adjacent room: the floorplan graph) and weighted by how far each room's level is below the
//! best, in proportion to the time elapsed. The tag is placed once a room holds `enter_p` of
//! the belief: a probabilistic margin and dwell, where a large lead moves it sooner than a
//! small one and a single faded reading does not reset the count. A move between rooms that
//! are not adjacent must also respect walking speed over the floorplan. An IR/ultrasound
//! sighting is certainty. A tag silent past its class's timeout is reported lost, and stays
//! "last seen in X at T". Method after Daniş & Cemgil, "Probabilistic indoor tracking of
//! Bluetooth Low-Energy beacons", Performance Evaluation 162 (2023), at room granularity.

use crate::facts::{FactCtx, FactProviders, FactSheet};
use crate::ingest::SightingsIn;
use crate::registry::{Subject, TagClass};
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::{EventKind, Timestamp};
use orderly_rules::Fact;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

use crate::outbox::Outbox;

/// Locator parameters (defaults in code; a site overrides them in `rules/detectors.toml`,
/// where each is checked against its range: a negative time constant or a probability above 1
/// is refused with the file's line, not run).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields, remote = "Self")]
pub struct LocatorConfig {
    /// EWMA time constant per receiver when the signal rises, seconds.
    pub rise_s: f32,
    /// EWMA time constant per receiver when the signal falls, seconds.
    pub fall_s: f32,
    /// A receiver not heard for this long no longer counts, seconds.
    pub stale_s: f32,
    /// Soft maximum over a room's receivers, dB (0 = the best receiver alone).
    pub pool_db: f32,
    /// Weakest room level that counts as hearing the tag at all, dBm.
    pub floor_dbm: f32,
    /// Level of a room in the belief none of whose receivers hears the tag, dBm.
    pub unheard_dbm: f32,
    /// A room this many dB below the best loses a factor e of belief per `1 / evidence_per_s`.
    pub evidence_db: f32,
    /// How fast evidence accumulates, per second.
    pub evidence_per_s: f32,
    /// How fast evidence accumulates between the located room and a room on the other side of
    /// a wall (a doorway, a wall, no border at all), per second: a crossing through a doorway
    /// needs more than one across an open border, where levels change gradually. The same as
    /// `evidence_per_s` makes no difference between borders.
    pub door_evidence_per_s: f32,
    /// Longest gap counted as evidence, seconds (a tag heard again after a gap is not certain).
    pub evidence_cap_s: f32,
    /// Rate at which a tag leaves its room, per second (the prior of a move).
    pub leave_per_s: f32,
    /// Weight of a move to a room that is not adjacent, relative to an adjacent one.
    pub jump_weight: f32,
    /// Belief a room needs before the tag is placed in it.
    pub enter_p: f32,
    /// Weight of the radio model (what the floorplan's walls, doors, open borders and
    /// receivers' positions predict each receiver hears in each room) beside the rooms'
    /// levels; 0 leaves it out. Used where every room in a tag's belief has a rect on one floor.
    pub model_weight: f32,
    /// The model's path-loss exponent (walls are counted apart, as in COST 231's multi-wall
    /// model: 2 is free space).
    pub model_n: f32,
    /// The model's loss per wall, dB (COST 231: 3.4 light, 6.9 heavy; a site does not say).
    pub model_wall_db: f32,
    /// How far a smoothed level strays from the model, dB.
    pub model_sd_db: f32,
    /// A tag's power at 1 m, dBm, and how much tags differ from it, dB.
    pub model_tx_dbm: f32,
    pub model_tx_sd_db: f32,

    /// How long a tag must be heard before its first placement, and again after a silence of
    /// more than `stale_s` before it moves, seconds.
    pub settle_s: f32,
    /// Fastest walking speed a move between non-adjacent rooms may imply, m/s.
    pub max_speed_mps: f32,
    /// How long an IR/ultrasound sighting pins the tag to its room, seconds.
    pub ir_hold_s: f32,
    /// Silence after which a tag is lost, by class, seconds.
    pub lost_equipment_s: f32,
    pub lost_staff_s: f32,
    pub lost_patient_s: f32,
    /// Per asset kind, overriding `lost_equipment_s` (a wheelchair is missed in minutes).
    pub lost_kind_s: BTreeMap<String, f32>,
}

impl Default for LocatorConfig {
    fn default() -> Self {
        LocatorConfig {
            rise_s: 0.35,
            fall_s: 3.0,
            stale_s: 10.0,
            pool_db: 6.0,
            floor_dbm: -95.0,
            unheard_dbm: -100.0,
            evidence_db: 4.0,
            evidence_per_s: 5.0,
            door_evidence_per_s: 2.0,
            evidence_cap_s: 2.0,
            leave_per_s: 0.05,
            jump_weight: 0.05,
            enter_p: 0.9,
            model_weight: 0.0,
            model_n: 2.0,
            model_wall_db: 5.0,
            model_sd_db: 6.0,
            model_tx_dbm: -59.0,
            model_tx_sd_db: 10.0,
            settle_s: 1.0,
            max_speed_mps: 2.5,
            ir_hold_s: 8.0,
            // Receivers report every 1-2 s; a wheelchair in a dead spot is not an emergency,
            // a patient wristband going quiet for a minute is.
            lost_equipment_s: 900.0,
            lost_staff_s: 300.0,
            lost_patient_s: 60.0,
            lost_kind_s: BTreeMap::new(),
        }
    }
}

impl<'de> Deserialize<'de> for LocatorConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let c = LocatorConfig::deserialize(d)?;
        c.check()
            .map_err(|e| serde::de::Error::custom(format!("[locator] {e}")))?;
        Ok(c)
    }
}

impl LocatorConfig {
    /// Values the locator can run with, each in a range that means something.
    pub fn check(&self) -> Result<(), String> {
        let week = 7.0 * 86_400.0;
        let ranges: [(&str, f32, f32, f32, &str); 23] = [
            ("rise_s", self.rise_s, 0.01, 300.0, "seconds"),
            ("fall_s", self.fall_s, 0.01, 300.0, "seconds"),
            ("stale_s", self.stale_s, 0.1, 3600.0, "seconds"),
            ("pool_db", self.pool_db, 0.0, 40.0, "dB"),
            ("floor_dbm", self.floor_dbm, -150.0, 0.0, "dBm"),
            ("unheard_dbm", self.unheard_dbm, -150.0, 0.0, "dBm"),
            ("evidence_db", self.evidence_db, 0.0, 40.0, "dB"),
            (
                "evidence_per_s",
                self.evidence_per_s,
                0.0,
                100.0,
                "per second",
            ),
            (
                "door_evidence_per_s",
                self.door_evidence_per_s,
                0.0,
                100.0,
                "per second",
            ),
            ("evidence_cap_s", self.evidence_cap_s, 0.0, 60.0, "seconds"),
            ("leave_per_s", self.leave_per_s, 0.0, 1.0, "per second"),
            ("jump_weight", self.jump_weight, 0.0, 1.0, "a weight"),
            ("enter_p", self.enter_p, 0.0, 1.0, "a probability"),
            ("model_weight", self.model_weight, 0.0, 10.0, "a weight"),
            ("model_n", self.model_n, 1.0, 6.0, "a path-loss exponent"),
            ("model_wall_db", self.model_wall_db, 0.0, 40.0, "dB"),
            ("model_sd_db", self.model_sd_db, 0.1, 40.0, "dB"),
            ("model_tx_dbm", self.model_tx_dbm, -120.0, 20.0, "dBm"),
            ("model_tx_sd_db", self.model_tx_sd_db, 0.1, 40.0, "dB"),
            ("settle_s", self.settle_s, 0.0, 600.0, "seconds"),
            (
                "max_speed_mps",
                self.max_speed_mps,
                0.1,
                20.0,
                "metres a second",
            ),
            ("ir_hold_s", self.ir_hold_s, 0.0, 3600.0, "seconds"),
            (
                "lost_equipment_s",
                self.lost_equipment_s,
                1.0,
                week,
                "seconds",
            ),
        ];
        let lost = [
            ("lost_staff_s".to_string(), self.lost_staff_s),
            ("lost_patient_s".to_string(), self.lost_patient_s),
        ];
        let kinds = self
            .lost_kind_s
            .iter()
            .map(|(k, v)| (format!("lost_kind_s.{k}"), *v));
        let all = ranges
            .iter()
            .map(|(n, v, lo, hi, unit)| (n.to_string(), *v, *lo, *hi, *unit))
            .chain(
                lost.into_iter()
                    .chain(kinds)
                    .map(|(n, v)| (n, v, 1.0, week, "seconds")),
            );
        for (name, v, lo, hi, unit) in all {
            if !(lo..=hi).contains(&v) {
                return Err(format!(
                    "{name} = {v} is out of range ({lo} to {hi} {unit}; fix: the shipped value is in rules/detectors.toml)"
                ));
            }
        }
        Ok(())
    }

    /// Silence after which `subject`'s tag is lost, milliseconds.
    pub fn lost_after_ms(&self, subject: &Subject) -> i64 {
        let s = match subject.class {
            TagClass::Equipment => self
                .lost_kind_s
                .get(&subject.kind_name)
                .copied()
                .unwrap_or(self.lost_equipment_s),
            TagClass::Staff => self.lost_staff_s,
            TagClass::Patient => self.lost_patient_s,
        };
        (s * 1000.0) as i64
    }
}

#[derive(Resource, Clone)]
pub struct Locator(pub LocatorConfig);

/// How stale `last_seen` may be in the read model (it is exact in the world).
pub const LAST_SEEN_RESOLUTION_MS: i64 = 5000;

/// Beliefs below this are dropped (unless the room is heard now).
const PRUNE_P: f32 = 1e-4;

#[derive(Clone, Copy, Debug)]
struct Heard {
    receiver: u32,
    room: u32,
    rssi: f32,
    at: Timestamp,
}

impl Heard {
    /// The smoothed level at `now`: a receiver not heard lately fades, 1 dB per second after
    /// the first two.
    fn level(&self, now: Timestamp) -> f32 {
        self.rssi - (now.since(self.at) as f32 / 1000.0 - 2.0).max(0.0)
    }
}

/// Per-tag locator state.
#[derive(Component, Default, Debug)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct Tracking {
    heard: Vec<Heard>,
    /// Belief over rooms: (room, probability), summing to 1 when not empty.
    belief: Vec<(u32, f32)>,
    /// When the belief was last brought forward.
    updated: Option<Timestamp>,
    /// When the tag was first heard after a silence.
    first_heard: Timestamp,
    /// Last time the located room was the most likely one.
    held: Timestamp,
    ir: Option<(u32, Timestamp)>,
    /// After a silence, the room the first report pointed to: a move there waits for a
    /// later report (or `settle_s` of hearing) that still points there.
    candidate: Option<(u32, Timestamp)>,
    pub last_heard: Timestamp,
    /// In [`Watch`]'s list already: listed once however often it is heard before the pass.
    watched: bool,
}

impl Tracking {
    /// Probability of `room` in the belief.
    pub fn belief(&self, room: u32) -> f32 {
        self.belief
            .iter()
            .find(|(r, _)| *r == room)
            .map_or(0.0, |(_, p)| *p)
    }
}

/// Where a tag is.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct Location {
    pub room: u32,
    pub since: Timestamp,
    /// When a receiver last heard it (exact: every sighting, without a change).
    pub last_seen: Timestamp,
    /// `last_seen` as of its last change the read model saw (every `LAST_SEEN_RESOLUTION_MS`).
    pub noted: Timestamp,
    pub confidence: f32,
    pub present: bool,
    /// Silent past its class's timeout (`present` is then false too). After a restart the
    /// last known room comes back neither present nor lost, until heard or timed out.
    pub lost: bool,
}

/// A tag's battery as it last reported it (the `battery` of its sightings), whole percent.
/// Changes only when the reported value does, so rules see it without a fact rebuild per sighting.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct TagBattery(pub Option<u8>);

/// Tags to look at in the next decide pass (heard, or with a move pending), each once (its
/// `Tracking::watched`), in any order: the pass sorts them. (A `BTreeSet` here cost a third of the
/// locator's time in a flood: every sighting and every tag still settling was an insert.)
#[derive(Resource, Default)]
pub struct Watch(Vec<Entity>);

#[derive(Resource, Default)]
struct LostScan {
    next: Timestamp,
    /// The first step's time: after a restart a tag gets its whole timeout from then before it
    /// counts as lost (its stored last-seen time only moves when it changes room), so a
    /// restart raises no "silent" or "lost" alert that was not true before it.
    started: Option<Timestamp>,
}

/// Whether the subject's tag is placed or lost, and its battery: `asset.*`, `staff.*` and the
/// patient's wristband (`patient.*`, for a bed its patient's). A change of room or of being
/// lost is watched by the presence capability, which knows which changes matter.
fn tag_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    let lost = |l: Option<&Location>| l.is_some_and(|l| l.lost);
    for (group, own) in [
        ("asset", ctx.own::<crate::registry::AssetInfo>().is_some()),
        ("staff", ctx.own::<crate::registry::StaffInfo>().is_some()),
    ] {
        if ctx.wants(group) && own {
            let loc = ctx.own::<Location>();
            f.set(group, "located", Fact::Bool(loc.is_some()));
            f.set(group, "lost", Fact::Bool(lost(loc)));
            battery_facts(f, group, ctx.own::<TagBattery>());
        }
    }
    if ctx.wants("patient") {
        let loc = ctx.of_patient::<Location>();
        f.set("patient", "located", Fact::Bool(loc.is_some()));
        f.set("patient", "lost", Fact::Bool(lost(loc)));
        battery_facts(f, "patient", ctx.of_patient::<TagBattery>());
    }
}

/// What the tag says of its wearer or item, in each group that has a tag.
const TAG_FACTS: &[&str] = &["located", "lost", "tag_battery_known", "tag_battery_pct"];

/// `tag_battery_known` and `tag_battery_pct` of `group` (100 when not reported, so a rule that
/// forgets `known` stays quiet rather than alerting on every tag without a battery field).
fn battery_facts(f: &mut FactSheet, group: &'static str, battery: Option<&TagBattery>) {
    let pct = battery.and_then(|b| b.0);
    f.set(group, "tag_battery_known", Fact::Bool(pct.is_some()));
    f.set(
        group,
        "tag_battery_pct",
        Fact::Double(pct.map_or(100.0, f64::from)),
    );
}

/// Receivers' height above a tag, metres (ceiling-mounted, tag at chest height).
const MODEL_HEIGHT_M: f32 = 1.3;

/// What the radio model expects each receiver on a room's floor to hear from a tag at points
/// of the room about a metre apart, dB relative to the tag's power at 1 m; computed on first
/// use. None: the room has no rect, or no receiver of its floor has a position.
#[derive(Resource, Default)]
struct RadioMap(HashMap<u32, Option<std::sync::Arc<RoomModel>>>);

/// Strongest receivers per point checked for being unheard.
const MODEL_TOP: usize = 4;

struct RoomModel {
    /// The floor's receivers with a position (receiver indices, ascending): the columns.
    rx: Vec<u32>,
    /// Per point, each column's expected level.
    points: Vec<Vec<f32>>,
    /// Per point, its strongest columns, strongest first.
    top: Vec<[usize; MODEL_TOP]>,
}

impl RadioMap {
    fn room(
        &mut self,
        fp: &orderly_floorplan::Floorplan,
        cfg: &LocatorConfig,
        room: u32,
    ) -> Option<std::sync::Arc<RoomModel>> {
        self.0
            .entry(room)
            .or_insert_with(|| room_model(fp, cfg, room as usize).map(std::sync::Arc::new))
            .clone()
    }
}

/// The model's level of every receiver of the room's floor at points of the room.
fn room_model(
    fp: &orderly_floorplan::Floorplan,
    cfg: &LocatorConfig,
    room: usize,
) -> Option<RoomModel> {
    let r = fp.rooms.get(room)?;
    let rect = r.rect?;
    let receivers: Vec<(u32, [f32; 2])> = fp
        .receivers()
        .into_iter()
        .enumerate()
        .filter(|(_, (_, rx_room))| fp.rooms[*rx_room].floor == r.floor)
        .filter_map(|(n, (rx, _))| Some((n as u32, fp.receiver_position(rx)?)))
        .collect();
    if receivers.is_empty() {
        return None;
    }
    // Points about a metre apart (2 to 6 a side), off the walls.
    let steps = |len: f32| (len.round() as usize).clamp(2, 6);
    let (nx, ny) = (steps(rect[2]), steps(rect[3]));
    let mut points = Vec::with_capacity(nx * ny);
    let mut top = Vec::with_capacity(nx * ny);
    for i in 0..nx {
        for j in 0..ny {
            let p = [
                rect[0] + (i as f32 + 0.5) / nx as f32 * rect[2],
                rect[1] + (j as f32 + 0.5) / ny as f32 * rect[3],
            ];
            let e: Vec<f32> = receivers
                .iter()
                .map(|(_, at)| {
                    let d = (at[0] - p[0]).hypot(at[1] - p[1]).hypot(MODEL_HEIGHT_M);
                    let walls = fp.crossing(&r.floor, p, *at).walls;
                    -10.0 * cfg.model_n * d.max(0.5).log10() - walls as f32 * cfg.model_wall_db
                })
                .collect();
            let mut order: Vec<usize> = (0..e.len()).collect();
            order.sort_by(|a, b| e[*b].total_cmp(&e[*a]));
            let mut t = [usize::MAX; MODEL_TOP];
            for (slot, k) in t.iter_mut().zip(order) {
                *slot = k;
            }
            points.push(e);
            top.push(t);
        }
    }
    Some(RoomModel {
        rx: receivers.iter().map(|(n, _)| *n).collect(),
        points,
        top,
    })
}

/// How well the model of a room explains what the tag's receivers hear: a log-likelihood (up
/// to a constant) at the room's best point. At each point the tag's power is fitted (with its
/// prior), each heard receiver's level counts, and one of the point's strongest receivers that
/// does not hear the tag counts against (at most two sigmas).
fn room_fit(m: &RoomModel, heard: &[Heard], now: Timestamp, cfg: &LocatorConfig) -> f32 {
    let sd2 = cfg.model_sd_db.max(0.5).powi(2);
    let tx2 = cfg.model_tx_sd_db.max(0.5).powi(2);
    // (column, level) of the heard receivers of this floor.
    let cols: Vec<(usize, f32)> = heard
        .iter()
        .filter_map(|h| {
            let k = m.rx.binary_search(&h.receiver).ok()?;
            Some((k, h.level(now)))
        })
        .collect();
    let n = cols.len() as f32;
    let mut best = f32::NEG_INFINITY;
    for (e, top) in m.points.iter().zip(&m.top) {
        let sum: f32 = cols.iter().map(|(k, v)| v - e[*k]).sum();
        let c = (sum / sd2 + cfg.model_tx_dbm / tx2) / (n / sd2 + 1.0 / tx2);
        let mut miss = (c - cfg.model_tx_dbm).powi(2) / tx2;
        for (k, v) in &cols {
            miss += (v - e[*k] - c).powi(2) / sd2;
        }
        for &k in top.iter().filter(|k| **k < e.len()) {
            let want = e[k] + c;
            if want >= cfg.floor_dbm + cfg.model_sd_db && !cols.iter().any(|(j, _)| *j == k) {
                miss += ((want - cfg.floor_dbm).powi(2) / sd2).min(4.0);
            }
        }
        best = best.max(-0.5 * miss);
    }
    best
}

/// Walking distances from a room to every room, computed on first use.
#[derive(Resource, Default)]
struct Distances(HashMap<u32, Vec<f32>>);

pub struct LocatePlugin;

impl Capability for LocatePlugin {
    fn name(&self) -> &'static str {
        "locate"
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        world.insert_resource(Locator(config.locator.clone()));
        // The model's parameters may have changed.
        world.insert_resource(RadioMap::default());
    }
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        restore(world, &restored.locations, &restored.lost);
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        world.insert_resource(Locator(config.locator.clone()));
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[
                ("asset", TAG_FACTS),
                ("staff", TAG_FACTS),
                ("patient", TAG_FACTS),
            ],
            tag_facts,
        );
        // A battery changes only here (absorb_sightings marks its facts stale as it writes it):
        // no per-step scan of every tag for `Changed<TagBattery>`.
        world.init_resource::<Watch>();
        world.init_resource::<LostScan>();
        world.init_resource::<Distances>();
        world.init_resource::<RadioMap>();
        let tagged: Vec<Entity> = world
            .query::<(Entity, &Subject)>()
            .iter(world)
            .filter(|(_, s)| s.tag.is_some())
            .map(|(e, _)| e)
            .collect();
        for e in tagged {
            world
                .entity_mut(e)
                .insert((Tracking::default(), TagBattery::default()));
        }
        // A patient admitted later with a wristband.
        world.add_observer(
            |on: On<Insert<crate::registry::PatientInfo>>,
             q: Query<(&Subject, Has<Tracking>)>,
             mut commands: Commands| {
                if let Ok((s, false)) = q.get(on.entity)
                    && s.tag.is_some()
                {
                    commands
                        .entity(on.entity)
                        .insert((Tracking::default(), TagBattery::default()));
                }
            },
        );
        schedule.add_systems(
            (absorb_sightings, decide, scan_lost)
                .chain()
                .in_set(Phase::Derive),
        );
    }
}

fn absorb_sightings(
    mut input: MessageReader<SightingsIn>,
    registry: Res<Registry>,
    locator: Res<Locator>,
    mut tags: Query<(&mut Tracking, &mut TagBattery)>,
    mut watch: ResMut<Watch>,
    mut stats: ResMut<crate::ingest::IngestStats>,
    mut stale: ResMut<crate::facts::StaleFacts>,
) {
    let cfg = &locator.0;
    let rise_ms = cfg.rise_s.max(1e-3) * 1000.0;
    let fall_ms = cfg.fall_s.max(1e-3) * 1000.0;
    let stale_ms = (cfg.stale_s * 1000.0) as i64;
    for msg in input.read() {
        for s in &msg.sightings {
            let Some(&e) = registry.tags.get(s.tag.as_str()) else {
                stats.unknown_tags += 1;
                continue;
            };
            let Ok((mut t, mut battery)) = tags.get_mut(e) else {
                continue;
            };
            if let Some(b) = s.battery.filter(|b| b.is_finite())
                && battery.set_if_neq(TagBattery(Some((b.clamp(0.0, 1.0) * 100.0).round() as u8)))
            {
                stale.mark(e);
            }
            let at = msg.at;
            if at.since(t.last_heard) > stale_ms {
                // Heard again after a silence: what was heard before no longer holds, and the
                // tag settles again before it moves (one sighting is not a room).
                t.first_heard = at;
                t.belief.clear();
                t.updated = None;
            }
            t.last_heard = t.last_heard.max(at);
            if s.ir {
                t.ir = Some((msg.room, at));
            }
            match t.heard.iter_mut().find(|h| h.receiver == msg.receiver) {
                Some(h) => {
                    let dt = at.since(h.at).max(0) as f32;
                    let tau = if s.rssi > h.rssi { rise_ms } else { fall_ms };
                    let alpha = 1.0 - (-dt / tau).exp();
                    h.rssi += alpha.clamp(0.1, 1.0) * (s.rssi - h.rssi);
                    h.at = h.at.max(at);
                }
                None => t.heard.push(Heard {
                    receiver: msg.receiver,
                    room: msg.room,
                    rssi: s.rssi,
                    at,
                }),
            }
            if !t.watched {
                t.watched = true;
                watch.0.push(e);
            }
        }
    }
}

/// Level of each heard room at `now` (pooled over its receivers), dropping stale receivers.
fn room_levels(t: &mut Tracking, now: Timestamp, cfg: &LocatorConfig, out: &mut Vec<(u32, f32)>) {
    let stale_ms = (cfg.stale_s * 1000.0) as i64;
    t.heard.retain(|h| now.since(h.at) <= stale_ms);
    out.clear();
    // Best receiver per room first, then the soft maximum around it.
    let aged = |h: &Heard| h.level(now);
    for h in &t.heard {
        let v = aged(h);
        match out.iter_mut().find(|(r, _)| *r == h.room) {
            Some((_, best)) => *best = best.max(v),
            None => out.push((h.room, v)),
        }
    }
    if cfg.pool_db > 0.0 {
        for (room, top) in out.iter_mut() {
            let sum: f32 = t
                .heard
                .iter()
                .filter(|h| h.room == *room)
                .map(|h| ((aged(h) - *top) / cfg.pool_db).exp())
                .sum();
            *top += cfg.pool_db * sum.ln();
        }
    }
}

/// Brings the tag's belief forward to `now`: prediction over the floorplan, then the evidence
/// of the room levels. Returns false when nothing is heard well enough to say anything.
#[allow(clippy::too_many_arguments)]
fn update_belief(
    t: &mut Tracking,
    current: Option<u32>,
    now: Timestamp,
    cfg: &LocatorConfig,
    fp: &orderly_floorplan::Floorplan,
    radio: &mut RadioMap,
    levels: &mut Vec<(u32, f32)>,
) -> bool {
    room_levels(t, now, cfg, levels);
    let top = levels
        .iter()
        .map(|(_, v)| *v)
        .fold(f32::NEG_INFINITY, f32::max);
    if top.is_nan() || top < cfg.floor_dbm {
        return false;
    }
    let dt = t
        .updated
        .map_or(0.0, |u| now.since(u).max(0) as f32 / 1000.0);
    t.updated = Some(now);
    for &(room, _) in levels.iter() {
        if !t.belief.iter().any(|(r, _)| *r == room) {
            t.belief.push((room, 0.0));
        }
    }
    if t.belief.iter().all(|(_, p)| *p <= 0.0) {
        // Nothing believed yet: every heard room alike.
        let p = 1.0 / t.belief.len() as f32;
        t.belief.iter_mut().for_each(|(_, q)| *q = p);
    }
    // Predict: a share of each room's belief leaves for the others, mostly adjacent ones.
    let n = t.belief.len();
    if n > 1 && dt > 0.0 {
        let leave = 1.0 - (-cfg.leave_per_s.max(0.0) * dt).exp();
        let mut moved = vec![0.0f32; n];
        let mut weights = vec![0.0f32; n];
        for i in 0..n {
            let (ri, pi) = t.belief[i];
            let out = pi * leave;
            if out <= 0.0 {
                continue;
            }
            // Shared among adjacent rooms; a room that is not adjacent gets `jump_weight` of an
            // adjacent room's share, and what no room takes stays (the rooms between are not
            // in the belief: they would have to be heard first).
            for (j, w) in weights.iter_mut().enumerate() {
                *w = if fp.adjacent(ri as usize, t.belief[j].0 as usize) {
                    1.0
                } else {
                    cfg.jump_weight.max(0.0)
                };
            }
            let total = (0..n)
                .filter(|&j| j != i)
                .map(|j| weights[j])
                .sum::<f32>()
                .max(1.0);
            for j in (0..n).filter(|&j| j != i) {
                let share = out * weights[j] / total;
                moved[j] += share;
                moved[i] -= share;
            }
        }
        for (b, m) in t.belief.iter_mut().zip(moved) {
            b.1 = (b.1 + m).max(0.0);
        }
    }
    // Evidence: each room weighted by how far its level is below the best, for the time
    // elapsed; and, where the floorplan allows, by how much worse the radio model of the room
    // explains what is heard than the best room's model does.
    let span = dt.min(cfg.evidence_cap_s);
    let w = cfg.evidence_per_s * span / cfg.evidence_db.max(1e-3);
    let fits = model_fits(t, now, cfg, fp, radio);
    let best_fit = fits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let wm = cfg.model_weight.max(0.0) * cfg.evidence_per_s * span;
    let level_of = |room: u32| {
        levels
            .iter()
            .find(|(r, _)| *r == room)
            .map_or(cfg.unheard_dbm, |(_, v)| *v)
    };
    // Where the located room's border with another is a wall (with a doorway or without),
    // the evidence between the two accumulates at the door rate: each room is weighed against
    // the located room, at the rate of their border.
    let by_border = current
        .filter(|_| cfg.door_evidence_per_s != cfg.evidence_per_s)
        .filter(|c| t.belief.iter().any(|(r, _)| r == c));
    let wd = cfg.door_evidence_per_s * span / cfg.evidence_db.max(1e-3);
    let mut sum = 0.0;
    match by_border {
        None => {
            for (i, (room, p)) in t.belief.iter_mut().enumerate() {
                let level = level_of(*room);
                let model = fits.get(i).map_or(0.0, |f| (f - best_fit) * wm);
                *p *= ((level - top).min(0.0) * w + model).exp();
                sum += *p;
            }
        }
        Some(c) => {
            let at_c = level_of(c);
            let evidence = |i: usize, room: u32| {
                let model = fits.get(i).map_or(0.0, |f| (f - best_fit) * wm);
                let rate = if fp.open_border(c as usize, room as usize) {
                    w
                } else {
                    wd
                };
                (level_of(room) - at_c) * rate + model
            };
            // Relative to the largest, so that nothing overflows (two passes: no allocation
            // per update).
            let most = t
                .belief
                .iter()
                .enumerate()
                .map(|(i, (room, _))| evidence(i, *room))
                .fold(f32::NEG_INFINITY, f32::max);
            for (i, (room, p)) in t.belief.iter_mut().enumerate() {
                *p *= (evidence(i, *room) - most).exp();
                sum += *p;
            }
        }
    }
    if sum.is_nan() || sum <= 0.0 || sum.is_infinite() {
        let p = 1.0 / n as f32;
        t.belief.iter_mut().for_each(|(_, q)| *q = p);
    } else {
        t.belief.iter_mut().for_each(|(_, p)| *p /= sum);
    }
    t.belief
        .retain(|(room, p)| *p >= PRUNE_P || levels.iter().any(|(r, _)| r == room));
    true
}

/// The radio model's fit of each room in the belief, in belief order; empty when the model is
/// off or does not cover them all (a room without a rect, rooms on two floors).
fn model_fits(
    t: &Tracking,
    now: Timestamp,
    cfg: &LocatorConfig,
    fp: &orderly_floorplan::Floorplan,
    radio: &mut RadioMap,
) -> Vec<f32> {
    if cfg.model_weight <= 0.0 || t.belief.len() < 2 {
        return Vec::new();
    }
    let floor = &fp.rooms[t.belief[0].0 as usize].floor;
    let mut out = Vec::with_capacity(t.belief.len());
    for (room, _) in &t.belief {
        if fp.rooms[*room as usize].floor != *floor {
            return Vec::new();
        }
        let Some(model) = radio.room(fp, cfg, *room) else {
            return Vec::new();
        };
        out.push(room_fit(&model, &t.heard, now, cfg));
    }
    out
}

/// Whether a move to `room` may happen now: always, unless the tag was silent until less than
/// `settle_ms` ago; then only on a report later than the one that first pointed there (a tag
/// that reports every 30 s moves on its second report, not on one).
fn confirmed(t: &mut Tracking, room: u32, now: Timestamp, settle_ms: i64) -> bool {
    if now.since(t.first_heard) >= settle_ms {
        return true;
    }
    match t.candidate {
        Some((r, at)) if r == room && now > at => true,
        Some((r, _)) if r == room => false,
        _ => {
            t.candidate = Some((room, now));
            false
        }
    }
}

/// The most likely room and its probability.
fn most_likely(belief: &[(u32, f32)]) -> Option<(u32, f32)> {
    belief
        .iter()
        .copied()
        .fold(None, |best, (r, p)| match best {
            Some((br, bp)) if bp > p || (bp == p && br < r) => Some((br, bp)),
            _ => Some((r, p)),
        })
}

#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn decide(
    clock: Res<Clock>,
    locator: Res<Locator>,
    site: Res<Site>,
    mut watch: ResMut<Watch>,
    mut distances: ResMut<Distances>,
    mut radio: ResMut<RadioMap>,
    mut tags: Query<(&Subject, &mut Tracking, Option<&mut Location>)>,
    mut outbox: ResMut<Outbox>,
    mut commands: Commands,
) {
    let now = clock.now;
    let cfg = &locator.0;
    let fp = &site.0;
    let ir_ms = (cfg.ir_hold_s * 1000.0) as i64;
    let settle_ms = (cfg.settle_s * 1000.0) as i64;
    // Looked at in the order of their entities, as a set would give them; the tags kept for the
    // next pass come out in that order too.
    let mut todo = std::mem::take(&mut watch.0);
    todo.sort_unstable();
    let mut keep = Vec::new();
    let mut levels = Vec::new();
    for e in todo {
        let Ok((subject, mut t, loc)) = tags.get_mut(e) else {
            continue;
        };
        let t = &mut *t;
        t.watched = false;
        let current = loc.as_ref().filter(|l| l.present).map(|l| l.room);
        let target = if let Some((room, _)) = t.ir.filter(|(_, at)| now.since(*at) <= ir_ms) {
            // An IR/ultrasound sighting is certainty.
            t.belief.clear();
            t.belief.push((room, 1.0));
            t.updated = Some(now);
            t.held = now;
            Some((room, 1.0))
        } else {
            t.ir = None;
            if !update_belief(t, current, now, cfg, fp, &mut radio, &mut levels) {
                None
            } else {
                let best = most_likely(&t.belief);
                if best.is_some_and(|(room, _)| Some(room) != current) {
                    // A move may be coming: look again at the next step even if not heard.
                    t.watched = true;
                    keep.push(e);
                }
                match (best, current) {
                    (Some((room, p)), None) if p >= cfg.enter_p => {
                        if now.since(t.first_heard) >= settle_ms {
                            Some((room, p))
                        } else {
                            None
                        }
                    }
                    (Some((room, _)), Some(cur)) if room == cur => {
                        t.held = now;
                        t.candidate = None;
                        None
                    }
                    (Some((room, p)), Some(_))
                        if p >= cfg.enter_p && !confirmed(t, room, now, settle_ms) =>
                    {
                        None
                    }
                    (Some((room, p)), Some(cur)) if p >= cfg.enter_p => {
                        if fp.adjacent(cur as usize, room as usize) {
                            Some((room, p))
                        } else {
                            // Not adjacent: only once walking there could have taken this long.
                            let d = distances
                                .0
                                .entry(cur)
                                .or_insert_with(|| fp.distances_from(cur as usize));
                            let metres = d.get(room as usize).copied().unwrap_or(f32::INFINITY);
                            let walked = now.since(t.held) as f32 / 1000.0 * cfg.max_speed_mps;
                            (metres.is_finite() && walked >= metres).then_some((room, p))
                        }
                    }
                    _ => None,
                }
            }
        };
        let last_seen = t.last_heard;
        let mut loc = loc;
        // Looked at before it is written: `as_deref_mut` on a `Mut` marks the component changed
        // whether or not anything is written, and a `Location` marked changed on every sighting
        // rebuilt the tag's view and woke every capability that follows moves (most of the
        // world's time at 25,000 tags).
        if let Some(l) = loc
            .as_mut()
            .filter(|l| l.lost && last_seen > l.last_seen)
            .map(|l| &mut **l)
        {
            // Heard again after it was lost: found (where, the locator says as usual).
            l.lost = false;
            l.present = true;
            let r = &site.0.rooms[l.room as usize];
            outbox.push(
                now,
                EventKind::LocationFound {
                    subject: subject.id.clone(),
                    subject_kind: subject.kind_name.clone(),
                    tag: subject.tag.clone().unwrap_or_default(),
                    room: r.id.clone(),
                    unit: r.unit.clone(),
                    last_seen: l.last_seen,
                },
            );
        }
        let previous = loc.as_deref().map(|l| (l.room, l.present));
        if let Some(l) = loc.as_mut() {
            // Every sighting refreshes `last_seen` and the confidence, but only every few
            // seconds does that count as a change for the read model: views are rebuilt on
            // moves, not on every sighting.
            if last_seen.since(l.noted) >= LAST_SEEN_RESOLUTION_MS {
                l.last_seen = last_seen;
                l.noted = last_seen;
            } else {
                l.bypass_change_detection().last_seen = last_seen;
            }
            l.bypass_change_detection().confidence = t.belief(l.room);
        }
        if target.is_some() {
            t.candidate = None;
        }
        let Some((room, conf)) = target else {
            if let Some(l) = loc.as_mut().filter(|l| !l.present).map(|l| &mut **l) {
                // Heard again, and nothing says it left: back where it was last seen.
                l.present = true;
                l.lost = false;
            }
            continue;
        };
        t.held = now;
        if let Some(l) = loc.as_mut().filter(|l| l.room == room).map(|l| &mut **l) {
            l.present = true;
            l.lost = false;
            continue;
        }
        let from = previous.map(|(r, _)| r);
        let new = Location {
            room,
            since: now,
            last_seen,
            noted: last_seen,
            confidence: conf,
            present: true,
            lost: false,
        };
        match loc.as_deref_mut() {
            Some(l) => *l = new,
            None => {
                commands.entity(e).insert(new);
            }
        }
        let r = &site.0.rooms[room as usize];
        outbox.push(
            now,
            EventKind::LocationChanged {
                subject: subject.id.clone(),
                subject_kind: subject.kind_name.clone(),
                tag: subject.tag.clone().unwrap_or_default(),
                from: from.map(|f| site.0.rooms[f as usize].id.clone()),
                to: r.id.clone(),
                unit: r.unit.clone(),
                confidence: (conf * 100.0).round() / 100.0,
            },
        );
    }
    // Sightings absorbed before the next pass go after these.
    watch.0 = keep;
}

fn scan_lost(
    clock: Res<Clock>,
    feed: Res<crate::Feed>,
    locator: Res<Locator>,
    site: Res<Site>,
    mut scan: ResMut<LostScan>,
    mut tags: Query<(&Subject, &Tracking, &mut Location)>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    let started = *scan.started.get_or_insert(now);
    // Blind (the broker away, a backlog not yet read): nobody is lost for being unheard.
    let Some(live) = feed.live_since else {
        return;
    };
    let started = started.max(live);
    if now < scan.next {
        return;
    }
    scan.next = now.plus_ms(1000);
    for (subject, t, mut loc) in &mut tags {
        if loc.lost
            || now.since(t.last_heard.max(loc.last_seen).max(started))
                <= locator.0.lost_after_ms(subject)
        {
            continue;
        }
        loc.lost = true;
        if !loc.present {
            // Restored after a restart and not heard since: rules see `lost` now; the event is
            // not repeated (it went out before the restart if the loss began then).
            continue;
        }
        loc.present = false;
        let r = &site.0.rooms[loc.room as usize];
        outbox.push(
            now,
            EventKind::LocationLost {
                subject: subject.id.clone(),
                subject_kind: subject.kind_name.clone(),
                tag: subject.tag.clone().unwrap_or_default(),
                room: r.id.clone(),
                unit: r.unit.clone(),
                last_seen: loc.last_seen,
            },
        );
    }
}

/// Puts back the last known rooms after a restart: not present until heard again, and lost if
/// the tag was lost when Orderly stopped (so an open "lost" alert stays true).
fn restore(
    world: &mut World,
    locations: &[(String, String, Timestamp, Timestamp, f32)],
    lost: &[String],
) {
    let site = world.resource::<Site>().0.clone();
    for (subject, room, since, last_seen, confidence) in locations {
        let Some(&e) = world.resource::<Registry>().subjects.get(subject) else {
            continue;
        };
        let Some(room) = site.room_index(room) else {
            continue;
        };
        let loc = Location {
            room: room as u32,
            since: *since,
            last_seen: *last_seen,
            noted: *last_seen,
            confidence: *confidence,
            present: false,
            lost: lost.contains(subject),
        };
        world.entity_mut(e).insert(loc);
        if let Some(mut t) = world.get_mut::<Tracking>(e) {
            t.last_heard = *last_seen;
        }
    }
}
