//! Bed exit from load cells: a detector per smart bed over `bed/{id}/load` (four cells: head-left,
//! head-right, foot-left, foot-right), fused with the bed's own exit alarm, the patient's fall
//! risk and who is in the room.
//!
//! The detector follows what bed-exit systems do (Hill-Rom/Stryker zones; Capezuti 2009 on
//! load-cell bed-exit alarms): it **arms** only when a patient's weight has rested on the bed for
//! `arm_s`, learns that weight, and then watches two signals: the share of it still on the bed,
//! and the centre of mass across the bed (-1 all on the left cells, +1 all on the right). The
//! patient's risk picks the **zone**: `movement` (turning towards an edge), `pre_exit` (sitting
//! on the edge, feet taking weight) or `exit` (the weight has left). A stage must hold `hold_s`
//! (a bump or a cough is not an exit); nothing counts while the bed moves and `inhibit_s` after
//! (raising the head shifts the load); after an exit the detector **re-arms** once the patient
//! has been back, centred, for `arm_s`.
//!
//! Load readings are those of the bed scale: zeroed with the empty bed (mattress and frame read
//! about 0), as bed scales are before a patient is weighed. Core: no IO, no panics on input.

use crate::devices::BedFrame;
use crate::facts::{FactCtx, FactProviders, FactSheet};
use crate::ingest::{BedLoadIn, BedStateIn};
use crate::locate::Location;
use crate::outbox::Outbox;
use crate::presence::caregiver_in;
use crate::registry::{PatientInfo, StaffInfo, Subject};
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::reading::ExitAlarm;
use orderly_model::{EventKind, Timestamp};
use orderly_rules::Fact;
use serde::Deserialize;

/// How early the detector speaks: each zone includes the later stages.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// Not watched (the bed's own alarm still counts).
    Off,
    /// The weight has left the bed.
    Exit,
    /// Sitting on the edge: the centre of mass at the side, or the feet taking weight.
    PreExit,
    /// Moving towards an edge.
    Movement,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Off => "off",
            Zone::Exit => "exit",
            Zone::PreExit => "pre_exit",
            Zone::Movement => "movement",
        }
    }
}

/// The zone for each fall-risk band (Morse: `none` 0-24, `low` 25-44, `high` 45+).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RiskZones {
    pub high: Zone,
    pub low: Zone,
    pub none: Zone,
}

impl Default for RiskZones {
    fn default() -> Self {
        RiskZones {
            high: Zone::PreExit,
            low: Zone::Exit,
            none: Zone::Off,
        }
    }
}

impl RiskZones {
    pub fn for_morse(&self, morse: Option<u8>) -> Zone {
        match morse.map(orderly_rules::schema::fall_risk) {
            Some("high") => self.high,
            Some("low") => self.low,
            Some(_) => self.none,
            // A bed without a known patient: weight leaving it is still worth a look.
            None => self.low,
        }
    }
}

/// Parameters (`[bed_exit]` in `rules/detectors.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BedExitConfig {
    /// A patient's weight: at least this much on the bed, kg.
    pub arm_kg: f32,
    /// Held this long to arm, or to re-arm after an exit, seconds.
    pub arm_s: f32,
    /// A stage must hold this long to count, seconds.
    pub hold_s: f32,
    /// Nothing counts while the bed moves and this long after, seconds.
    pub inhibit_s: f32,
    /// `movement`: centre of mass beyond this across the bed (0 centre, 1 the edge cells), or
    /// less than `movement_share` of the weight on the bed.
    pub movement_lateral: f32,
    pub movement_share: f32,
    /// `pre_exit`: centre of mass beyond this, or less than `pre_exit_share` on the bed.
    pub pre_exit_lateral: f32,
    pub pre_exit_share: f32,
    /// `exit`: less than this share of the patient's weight on the bed.
    pub exit_share: f32,
    pub zones: RiskZones,
}

impl Default for BedExitConfig {
    fn default() -> Self {
        BedExitConfig {
            arm_kg: 25.0,
            arm_s: 5.0,
            hold_s: 0.3,
            inhibit_s: 5.0,
            movement_lateral: 0.35,
            movement_share: 0.9,
            pre_exit_lateral: 0.6,
            pre_exit_share: 0.75,
            exit_share: 0.3,
            zones: RiskZones::default(),
        }
    }
}

/// What a batch of samples changed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// The patient's weight is on the bed (armed), kg.
    Armed { at: i64, weight_kg: f32 },
    /// The patient reached the watched `zone` (`stage`: how far, at the decision): `at` is when
    /// they got there, `decided_at` the sample that confirmed it.
    Exit {
        at: i64,
        decided_at: i64,
        zone: Zone,
        stage: Zone,
        share: f32,
        lateral: f32,
    },
    /// Back in bed after an exit (re-armed).
    Back { at: i64, weight_kg: f32 },
    /// The weight went while the detector was not watching (zone `off`, or inhibited): empty.
    Emptied { at: i64 },
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    /// No patient weight.
    Empty,
    /// A patient's weight since `since`: its running sum for the baseline.
    Arming { since: i64, sum: f64, n: u32 },
    /// Watching: `stage_since` is when the patient reached the watched zone.
    Armed {
        baseline: f32,
        stage_since: Option<i64>,
    },
    /// After an exit; `back_since` while the patient seems back (with the weight's sum).
    Out { back_since: Option<(i64, f64, u32)> },
}

/// One bed's detector: a few numbers, no sample history.
#[derive(Clone, Debug)]
pub struct BedExitDetector {
    cfg: BedExitConfig,
    state: State,
    moving: bool,
    inhibit_until: i64,
    last_ms: Option<i64>,
}

/// The stage one sample is in, against the patient's weight: the most severe that applies.
fn stage(c: &BedExitConfig, share: f32, lateral: f32) -> Option<Zone> {
    let side = lateral.abs();
    if share < c.exit_share {
        Some(Zone::Exit)
    } else if share < c.pre_exit_share || side > c.pre_exit_lateral {
        Some(Zone::PreExit)
    } else if share < c.movement_share || side > c.movement_lateral {
        Some(Zone::Movement)
    } else {
        None
    }
}

/// The centre of mass across the bed from one sample of the four cells (head-left, head-right,
/// foot-left, foot-right): -1 all on the left cells, +1 all on the right; None without weight
/// or with a bad reading.
pub fn lateral(c: &[f32; 4]) -> Option<f32> {
    let w: f32 = c.iter().sum();
    (w.is_finite() && w > 1.0).then(|| ((c[1] + c[3]) - (c[0] + c[2])) / w)
}

fn ms(s: f32) -> i64 {
    (s.max(0.0) * 1000.0) as i64
}

impl BedExitDetector {
    pub fn new(cfg: BedExitConfig) -> Self {
        BedExitDetector {
            cfg,
            state: State::Empty,
            moving: false,
            inhibit_until: i64::MIN,
            last_ms: None,
        }
    }

    /// The bed frame started or stopped moving (device time).
    pub fn set_moving(&mut self, at: i64, moving: bool) {
        if moving {
            self.moving = true;
        } else if self.moving {
            self.moving = false;
            self.inhibit_until = at + ms(self.cfg.inhibit_s);
        }
    }

    /// The patient is on the bed as the load cells see it (armed, not out).
    pub fn in_bed(&self) -> bool {
        matches!(self.state, State::Armed { .. })
    }

    /// Armed and watching, or out after an exit.
    pub fn armed(&self) -> bool {
        matches!(self.state, State::Armed { .. } | State::Out { .. })
    }

    /// A batch: samples at `hz` from `ts` (ms), watched for `zone`.
    pub fn samples(&mut self, ts: i64, hz: f32, cells: &[[f32; 4]], zone: Zone) -> Vec<Change> {
        let mut out = Vec::new();
        if !(hz.is_finite() && hz > 0.0) {
            return out;
        }
        let step = 1000.0 / f64::from(hz);
        for (i, c) in cells.iter().enumerate() {
            let at = ts + (i as f64 * step) as i64;
            if self.last_ms.is_some_and(|l| at <= l) {
                continue; // a repeat or out of order: already seen
            }
            // A gap in the data: a stage in progress starts again.
            if self.last_ms.is_some_and(|l| at - l > 5000)
                && let State::Armed { stage_since, .. } = &mut self.state
            {
                *stage_since = None;
            }
            let dt = self.last_ms.map_or(0, |l| (at - l).min(5000));
            self.last_ms = Some(at);
            if let Some(ch) = self.sample(at, dt, *c, zone) {
                out.push(ch);
            }
        }
        out
    }

    fn sample(&mut self, at: i64, dt: i64, c: [f32; 4], zone: Zone) -> Option<Change> {
        if c.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let w: f32 = c.iter().sum();
        let lateral = lateral(&c).unwrap_or(0.0);
        let cfg = &self.cfg;
        let inhibited = self.moving || at < self.inhibit_until;
        let heavy = w >= cfg.arm_kg;
        match &mut self.state {
            State::Empty => {
                if heavy {
                    self.state = State::Arming {
                        since: at,
                        sum: f64::from(w),
                        n: 1,
                    };
                }
                None
            }
            State::Arming { since, sum, n } => {
                if !heavy {
                    self.state = State::Empty;
                    return None;
                }
                *sum += f64::from(w);
                *n += 1;
                if at - *since >= ms(cfg.arm_s) {
                    let baseline = (*sum / f64::from(*n)) as f32;
                    self.state = State::Armed {
                        baseline,
                        stage_since: None,
                    };
                    return Some(Change::Armed {
                        at,
                        weight_kg: baseline,
                    });
                }
                None
            }
            State::Armed {
                baseline,
                stage_since,
            } => {
                let share = w / *baseline;
                if inhibited {
                    // The bed moving throws the load around: nothing to learn or to watch.
                    *stage_since = None;
                    return None;
                }
                let stage = stage(cfg, share, lateral);
                // Watched: the patient's zone; not watched, only the weight leaving (to know
                // the bed is empty).
                let watching = zone != Zone::Off;
                let goal = if watching { zone } else { Zone::Exit };
                let Some(s) = stage.filter(|s| *s <= goal) else {
                    *stage_since = None;
                    if stage.is_none() {
                        // Follow slow drift (a blanket, a tray): a minute's time constant.
                        *baseline += (w - *baseline) * (dt as f32 / 60_000.0).min(1.0);
                    }
                    return None;
                };
                let since = *stage_since.get_or_insert(at);
                let held = at - since;
                if watching && held >= ms(cfg.hold_s) {
                    self.state = State::Out { back_since: None };
                    return Some(Change::Exit {
                        at: since,
                        decided_at: at,
                        zone,
                        stage: s,
                        share,
                        lateral,
                    });
                }
                if !watching && held >= ms(cfg.arm_s) {
                    self.state = State::Empty;
                    return Some(Change::Emptied { at });
                }
                None
            }
            State::Out { back_since } => {
                // A patient's weight, centred (any patient's: the bed may have a new one).
                let back = heavy && lateral.abs() <= cfg.pre_exit_lateral;
                if !back {
                    *back_since = None;
                    return None;
                }
                let (since, sum, n) = back_since.get_or_insert((at, 0.0, 0));
                *sum += f64::from(w);
                *n += 1;
                if at - *since >= ms(cfg.arm_s) {
                    let weight = (*sum / f64::from(*n)) as f32;
                    self.state = State::Armed {
                        baseline: weight,
                        stage_since: None,
                    };
                    return Some(Change::Back {
                        at,
                        weight_kg: weight,
                    });
                }
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// In the world.

/// A bed's detector (beds with a device).
#[derive(Component)]
pub struct BedExitWatch(pub BedExitDetector);

/// What the rules read about a bed exit (`bed.exited`, `bed.exit_assisted`, ...).
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct BedExitState {
    /// The load cells hold a patient's weight (armed, not out): a fall now is someone else's or
    /// rolling over in bed.
    pub in_bed: bool,
    /// Armed by a patient's weight (in bed, or out after an exit).
    pub armed: bool,
    /// The zone watched now, from the patient's risk.
    pub zone: Option<Zone>,
    /// The exit under way: from the load cells or the bed's own alarm.
    pub exited: Option<Exited>,
    /// The bed's own alarm was sounding at its last report: an exit begins when it starts (a
    /// bed may sound on after the patient is back, until someone resets it).
    pub alarm_sounding: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Exited {
    /// When the stage began (device time).
    pub at: Timestamp,
    /// `load cells` or `bed alarm`.
    pub source: &'static str,
    pub zone: Zone,
    /// A caregiver was in the room when it began (helping the patient up).
    pub assisted: bool,
    /// The load cells saw it (cleared when the patient is back); else the bed's alarm.
    pub by_load: bool,
    /// Carried over a restart from an open alert: cleared once the load cells hold a patient
    /// again, or the bed reports them in it and its alarm quiet.
    pub restored: bool,
}

/// After a restart: the beds with an open alert of a rule that reads `bed.exited` are still
/// out, so the exit is neither logged again nor forgotten before the patient is back. Whether
/// the exit was assisted is what that rule needs `bed.exit_assisted` to be.
fn restore(world: &mut World, alerts: &[orderly_model::Alert]) {
    let Some(rules) = world.get_resource::<crate::alerts::Rules>() else {
        return;
    };
    let beds: Vec<(String, Timestamp, bool)> = alerts
        .iter()
        .filter_map(|a| {
            let rule = rules
                .set
                .get(&a.rule)
                .filter(|r| r.reads("bed", "exited"))?;
            let assisted = rule.requires("bed", "exit_assisted") == Some(true);
            Some((a.subject.clone(), a.raised_at, assisted))
        })
        .collect();
    let Some(reg) = world.get_resource::<Registry>() else {
        return;
    };
    let found: Vec<(Entity, Timestamp, bool)> = beds
        .into_iter()
        .filter_map(|(b, at, assisted)| reg.subjects.get(&b).map(|e| (*e, at, assisted)))
        .collect();
    for (e, at, assisted) in found {
        if let Some(mut st) = world.get_mut::<BedExitState>(e) {
            st.exited = Some(Exited {
                at,
                source: "restored",
                zone: Zone::Exit,
                assisted,
                by_load: false,
                restored: true,
            });
        }
    }
}

/// What the bed-exit detector and the bed's own alarm say, in the `bed` group (a patient's
/// bed for a patient). The load cells watching a zone count as the bed having reported.
fn exit_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if !ctx.wants("bed") {
        return;
    }
    let exit = ctx.of_bed::<BedExitState>();
    let g = "bed";
    let x = exit.and_then(|e| e.exited.as_ref());
    f.set(g, "exited", Fact::Bool(x.is_some()));
    f.set(
        g,
        "exit_source",
        Fact::String(x.map(|x| x.source).unwrap_or_default().to_string()),
    );
    f.set(
        g,
        "exit_zone",
        Fact::String(x.map_or("", |x| x.zone.as_str()).to_string()),
    );
    f.set(
        g,
        "exit_assisted",
        Fact::Bool(x.is_some_and(|x| x.assisted)),
    );
    f.set(g, "in_bed", Fact::Bool(exit.is_some_and(|e| e.in_bed)));
    f.set(g, "exit_armed", Fact::Bool(exit.is_some_and(|e| e.armed)));
    f.set(
        g,
        "exit_watch",
        Fact::String(
            exit.and_then(|e| e.zone)
                .map_or("off", |z| z.as_str())
                .to_string(),
        ),
    );
    if exit.is_some_and(|x| x.zone.is_some()) {
        f.reported("bed");
    }
}

#[derive(Resource, Clone)]
pub(crate) struct BedExits(BedExitConfig);

pub struct BedExitPlugin;

impl Capability for BedExitPlugin {
    fn name(&self) -> &'static str {
        "bed exit"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        let cfg = &config.bed_exit;
        world.insert_resource(BedExits(cfg.clone()));
        for e in crate::registry::smart_beds(world) {
            world.entity_mut(e).insert((
                BedExitWatch(BedExitDetector::new(cfg.clone())),
                BedExitState::default(),
            ));
        }
        schedule.add_systems(
            watch
                .in_set(Phase::Derive)
                .after(crate::devices::bed_frames),
        );
        world
            .resource_mut::<FactProviders>()
            .add(self.name(), exit_facts);
        crate::facts::watch::<BedExitState>(schedule);
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        set_config(world, &config.bed_exit);
    }
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        restore(world, &restored.alerts);
    }
}

/// New parameters, in force from the next sample: every bed keeps its state (armed, out, the
/// patient's weight), so a reload never disarms a bed.
fn set_config(world: &mut World, cfg: &BedExitConfig) {
    if world.get_resource::<BedExits>().is_none_or(|c| c.0 == *cfg) {
        return;
    }
    world.insert_resource(BedExits(cfg.clone()));
    let mut q = world.query::<&mut BedExitWatch>();
    for mut w in q.iter_mut(world) {
        w.0.cfg = cfg.clone();
    }
}

#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub(crate) fn watch(
    clock: Res<Clock>,
    cfg: Res<BedExits>,
    site: Res<Site>,
    registry: Res<Registry>,
    mut states: MessageReader<BedStateIn>,
    mut loads: MessageReader<BedLoadIn>,
    mut beds: Query<(
        &Subject,
        &mut BedExitWatch,
        &mut BedExitState,
        Option<&BedFrame>,
        Option<&Location>,
    )>,
    patients: Query<&PatientInfo>,
    staff: Query<(&StaffInfo, &Location)>,
    presence: Option<Res<crate::presence::Presence>>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    let mut touched: Vec<Entity> = Vec::new();
    for m in states.read() {
        if let Ok((_, mut w, ..)) = beds.get_mut(m.bed) {
            w.0.set_moving(m.ts.millis(), m.state.moving);
            touched.push(m.bed);
        }
    }
    let mut changes: Vec<(Entity, Change)> = Vec::new();
    for m in loads.read() {
        let Ok((subject, mut w, mut st, ..)) = beds.get_mut(m.bed) else {
            continue;
        };
        let morse = registry
            .bed_patient
            .get(&subject.id)
            .and_then(|e| patients.get(*e).ok())
            .map(|p| p.0.morse);
        let zone = cfg.0.zones.for_morse(morse);
        if st.zone != Some(zone) {
            // Only a real change: the rules rebuild a bed's facts when this component changes.
            st.zone = Some(zone);
        }
        for ch in
            w.0.samples(m.ts.millis(), m.load.hz, &m.load.cells_kg, zone)
        {
            changes.push((m.bed, ch));
        }
        touched.push(m.bed);
    }
    touched.sort_unstable();
    touched.dedup();
    for (e, ch) in &changes {
        let Ok((subject, _, mut st, _, loc)) = beds.get_mut(*e) else {
            continue;
        };
        let room = loc.filter(|l| l.present).map(|l| l.room);
        match *ch {
            Change::Exit {
                at, zone, share, ..
            } => {
                let assisted = room.is_some_and(|r| caregiver_in(r, &staff, presence.as_deref()));
                tracing::info!(bed = %subject.id, zone = zone.as_str(), share, assisted, "bed exit from the load cells");
                begin_exit(
                    &site,
                    &registry,
                    &patients,
                    &mut outbox,
                    now,
                    subject,
                    room,
                    Exited {
                        at: Timestamp(at),
                        source: "load cells",
                        zone,
                        assisted,
                        by_load: true,
                        restored: false,
                    },
                    &mut st,
                );
            }
            Change::Back { weight_kg, .. } => {
                tracing::debug!(bed = %subject.id, weight_kg, "back in bed: re-armed");
                if st.exited.as_ref().is_some_and(|x| x.by_load) {
                    st.exited = None;
                }
            }
            Change::Armed { weight_kg, .. } => {
                tracing::debug!(bed = %subject.id, weight_kg, "bed exit armed");
            }
            Change::Emptied { .. } => {}
        }
    }
    // The bed's own alarm, and the flags the rules and the fall fusion read.
    for e in touched {
        let Ok((subject, w, mut st, frame, loc)) = beds.get_mut(e) else {
            continue;
        };
        let alarming = frame.is_some_and(|f| f.state.exit_alarm == ExitAlarm::Alarming);
        let (in_bed, armed) = (w.0.in_bed(), w.0.armed());
        let subject = subject.clone();
        let room = loc.filter(|l| l.present).map(|l| l.room);
        if st.in_bed != in_bed || st.armed != armed {
            st.in_bed = in_bed;
            st.armed = armed;
        }
        let started = alarming && !st.alarm_sounding;
        if st.alarm_sounding != alarming {
            st.alarm_sounding = alarming;
        }
        match (&st.exited, alarming) {
            (None, true) if started => {
                let assisted = room.is_some_and(|r| caregiver_in(r, &staff, presence.as_deref()));
                let at = frame.map_or(now, |f| f.at);
                begin_exit(
                    &site,
                    &registry,
                    &patients,
                    &mut outbox,
                    now,
                    &subject,
                    room,
                    Exited {
                        at,
                        source: "bed alarm",
                        zone: Zone::Exit,
                        assisted,
                        by_load: false,
                        restored: false,
                    },
                    &mut st,
                );
            }
            (Some(x), false) if x.restored => {
                let occupied = frame.is_some_and(|f| f.state.occupied && f.at >= x.at);
                if in_bed || occupied {
                    st.exited = None;
                }
            }
            (Some(x), false) if !x.by_load => st.exited = None,
            _ => {}
        }
    }
}

/// Sets the exit on the bed and logs it as a `bed.exit` event.
#[allow(clippy::too_many_arguments)]
fn begin_exit(
    site: &Site,
    registry: &Registry,
    patients: &Query<&PatientInfo>,
    outbox: &mut Outbox,
    now: Timestamp,
    bed: &Subject,
    room: Option<u32>,
    exit: Exited,
    st: &mut BedExitState,
) {
    if st.exited.is_some() {
        return; // the same exit, seen by the other source
    }
    let patient = registry
        .bed_patient
        .get(&bed.id)
        .and_then(|e| patients.get(*e).ok())
        .map(|p| p.0.id.clone());
    let r = room.map(|r| &site.0.rooms[r as usize]);
    outbox.push(
        now,
        EventKind::BedExit {
            bed: bed.id.clone(),
            patient,
            source: exit.source.to_string(),
            zone: exit.zone.as_str().to_string(),
            assisted: exit.assisted,
            exit_at: exit.at,
            room: r.map(|r| r.id.clone()),
            unit: r.and_then(|r| r.unit.clone()),
        },
    );
    st.exited = Some(exit);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A patient of 80 kg lying centred, at 10 Hz.
    fn lying(kg: f32) -> [f32; 4] {
        [kg * 0.27, kg * 0.27, kg * 0.23, kg * 0.23]
    }

    /// Weight `share` of 80 kg at lateral centre `x` (-1 left .. 1 right).
    fn at(share: f32, x: f32) -> [f32; 4] {
        let w = 80.0 * share;
        let right = w * (1.0 + x) / 2.0;
        let left = w - right;
        [left * 0.55, right * 0.55, left * 0.45, right * 0.45]
    }

    fn run(
        d: &mut BedExitDetector,
        from_s: f32,
        secs: f32,
        f: impl Fn(f32) -> [f32; 4],
        zone: Zone,
    ) -> Vec<Change> {
        let n = (secs * 10.0) as usize;
        let cells: Vec<[f32; 4]> = (0..n).map(|i| f(i as f32 / 10.0)).collect();
        let mut out = Vec::new();
        // In 1 s batches, as beds send them.
        for (k, chunk) in cells.chunks(10).enumerate() {
            let ts = ((from_s + k as f32) * 1000.0) as i64;
            out.extend(d.samples(ts, 10.0, chunk, zone));
        }
        out
    }

    fn armed() -> BedExitDetector {
        let mut d = BedExitDetector::new(BedExitConfig::default());
        let ch = run(&mut d, 0.0, 8.0, |_| lying(80.0), Zone::Exit);
        assert!(matches!(ch[..], [Change::Armed { .. }]), "{ch:?}");
        assert!(d.in_bed());
        d
    }

    #[test]
    fn an_empty_bed_or_a_bag_on_it_never_arms() {
        let mut d = BedExitDetector::new(BedExitConfig::default());
        assert!(run(&mut d, 0.0, 20.0, |_| lying(12.0), Zone::Movement).is_empty());
        assert!(!d.armed());
        // A patient sitting down for two seconds does not arm it either.
        assert!(run(&mut d, 20.0, 2.0, |_| lying(80.0), Zone::Movement).is_empty());
        assert!(run(&mut d, 22.0, 5.0, |_| lying(0.0), Zone::Movement).is_empty());
    }

    #[test]
    fn standing_up_is_an_exit_within_the_hold_and_back_in_bed_re_arms() {
        let mut d = armed();
        // Sits on the right edge for 2 s (not yet an exit for zone `exit`), then stands.
        let ch = run(
            &mut d,
            8.0,
            6.0,
            |t| match t {
                ..2.0 => at(0.8, 0.8),
                _ => at(0.02, 0.0),
            },
            Zone::Exit,
        );
        let [
            Change::Exit {
                at,
                decided_at,
                zone,
                ..
            },
        ] = ch[..]
        else {
            panic!("{ch:?}")
        };
        assert_eq!(zone, Zone::Exit);
        assert_eq!(at, 10_000, "the stage began when the weight left");
        assert!(decided_at - at <= 400, "{decided_at}");
        assert!(!d.in_bed() && d.armed());
        // Back: centred for arm_s re-arms, once.
        let ch = run(&mut d, 14.0, 8.0, |_| lying(79.0), Zone::Exit);
        assert!(matches!(ch[..], [Change::Back { .. }]), "{ch:?}");
        assert!(d.in_bed());
    }

    #[test]
    fn the_zone_decides_how_early() {
        for (zone, want_at) in [
            (Zone::Movement, 8_000),
            (Zone::PreExit, 9_000),
            (Zone::Exit, 10_000),
        ] {
            let mut d = armed();
            let ch = run(
                &mut d,
                8.0,
                4.0,
                |t| match t {
                    ..1.0 => at(1.0, 0.45), // rolled towards the edge
                    ..2.0 => at(0.7, 0.85), // sitting on it, feet down
                    _ => at(0.0, 0.0),
                },
                zone,
            );
            let exits: Vec<i64> = ch
                .iter()
                .filter_map(|c| match c {
                    Change::Exit { at, .. } => Some(*at),
                    _ => None,
                })
                .collect();
            assert_eq!(exits, [want_at], "{zone:?}: {ch:?}");
        }
    }

    #[test]
    fn rolling_over_and_a_cough_are_not_exits_at_pre_exit() {
        let mut d = armed();
        let ch = run(
            &mut d,
            8.0,
            30.0,
            |t| match t {
                ..10.0 => at(1.0, 0.3 * (t / 10.0)), // turning onto the right side
                ..10.2 => at(0.6, 0.9),              // a jolt: 0.2 s, under the hold
                _ => at(1.0, 0.3),
            },
            Zone::PreExit,
        );
        assert!(ch.is_empty(), "{ch:?}");
        assert!(d.in_bed());
    }

    #[test]
    fn nothing_counts_while_the_bed_moves_and_a_few_seconds_after() {
        let mut d = armed();
        d.set_moving(8_000, true);
        // Raising the head throws the load around.
        assert!(run(&mut d, 8.0, 4.0, |_| at(0.6, 0.7), Zone::Movement).is_empty());
        d.set_moving(12_000, false);
        assert!(run(&mut d, 12.0, 4.0, |_| at(0.9, 0.5), Zone::Movement).is_empty());
        // After inhibit_s the same position counts.
        let ch = run(&mut d, 17.0, 2.0, |_| at(0.9, 0.5), Zone::Movement);
        assert!(
            matches!(ch[..], [Change::Exit { at: 17_000, .. }]),
            "{ch:?}"
        );
    }

    #[test]
    fn zone_off_watches_nothing_but_still_knows_the_bed_is_empty() {
        let mut d = armed();
        let ch = run(&mut d, 8.0, 10.0, |_| at(0.0, 0.0), Zone::Off);
        assert!(matches!(ch[..], [Change::Emptied { .. }]), "{ch:?}");
        assert!(!d.armed());
    }

    #[test]
    fn garbage_and_repeats_change_nothing() {
        let mut d = armed();
        let before = format!("{:?}", d.state);
        assert!(
            d.samples(9_000, f32::NAN, &[lying(0.0)], Zone::Exit)
                .is_empty()
        );
        assert!(
            d.samples(9_000, 10.0, &[[f32::NAN; 4]], Zone::Exit)
                .is_empty()
        );
        assert!(
            d.samples(1_000, 10.0, &[lying(0.0); 20], Zone::Exit)
                .is_empty(),
            "already seen"
        );
        assert_eq!(format!("{:?}", d.state), before);
    }
}
