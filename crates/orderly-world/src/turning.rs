//! Turning against pressure injuries: a repositioning timer per patient at risk (Braden), fed by
//! the bed's load cells and its surface mode.
//!
//! A **repositioning** is a sustained shift of the centre of mass across the bed (the patient
//! turned from the back to a side, or back): more than `shift` (on the scale where 1 is all the
//! weight over one side's cells) held for `hold_s`, against the position the patient had settled
//! in. A bed whose surface is in `rotation` mode turns the patient itself: the timer stays at zero
//! while it rotates. The timer counts only time in bed: it is **paused** while the patient is out
//! of it (the load cells say so). Its interval comes from the Braden band (`[turning] every_min`):
//! two hours by default, shorter for higher risk (NPIAP/EPUAP 2019 guideline: individualised
//! repositioning, commonly every 2 h; studies of sensor-cued turning in ICUs measured compliance
//! against 2 h). States: `ok`, `due_soon` (within `due_soon_min`), `due`, `overdue` (more than
//! `overdue_min` past due), `severely_overdue` (more than `severe_min` past due), plus `paused`
//! and `off` (not at risk, or no load cells to tell). Core: no IO, never panics on input.

use crate::bed_exit::BedExitState;
use crate::devices::BedFrame;
use crate::facts::{FactCtx, FactProviders, FactSheet};
use crate::ingest::BedLoadIn;
use crate::locate::Location;
use crate::outbox::Outbox;
use crate::registry::{PatientInfo, Subject};
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::reading::Surface;
use orderly_model::{EventKind, Timestamp};
use orderly_rules::Fact;
use serde::Deserialize;

/// Minutes between repositionings by Braden band; a band left out is not timed.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EveryMin {
    pub none: Option<u32>,
    pub mild: Option<u32>,
    pub moderate: Option<u32>,
    pub high: Option<u32>,
    pub very_high: Option<u32>,
}

impl Default for EveryMin {
    fn default() -> Self {
        EveryMin {
            none: None,
            mild: Some(120),
            moderate: Some(120),
            high: Some(90),
            very_high: Some(60),
        }
    }
}

impl EveryMin {
    pub fn for_braden(&self, braden: u8) -> Option<u32> {
        match orderly_rules::schema::pressure_risk(braden) {
            "mild" => self.mild,
            "moderate" => self.moderate,
            "high" => self.high,
            "very_high" => self.very_high,
            _ => self.none,
        }
    }
}

/// Parameters (`[turning]` in `rules/detectors.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TurningConfig {
    pub every_min: EveryMin,
    /// A repositioning: the lateral centre of mass moved by more than this...
    pub shift: f32,
    /// ... and stayed there this long, seconds.
    pub hold_s: f32,
    pub due_soon_min: u32,
    pub overdue_min: u32,
    pub severe_min: u32,
}

impl Default for TurningConfig {
    fn default() -> Self {
        TurningConfig {
            every_min: EveryMin::default(),
            shift: 0.12,
            hold_s: 60.0,
            due_soon_min: 15,
            overdue_min: 15,
            severe_min: 60,
        }
    }
}

/// Where a repositioning timer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TurnState {
    Off,
    Paused,
    Ok,
    DueSoon,
    Due,
    Overdue,
    SeverelyOverdue,
}

impl TurnState {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnState::Off => "off",
            TurnState::Paused => "paused",
            TurnState::Ok => "ok",
            TurnState::DueSoon => "due_soon",
            TurnState::Due => "due",
            TurnState::Overdue => "overdue",
            TurnState::SeverelyOverdue => "severely_overdue",
        }
    }
}

/// The state for `in_bed_ms` of time in bed since the last repositioning.
pub fn state_for(cfg: &TurningConfig, every_min: u32, in_bed_ms: i64) -> TurnState {
    let min = in_bed_ms as f64 / 60_000.0;
    let due = f64::from(every_min);
    if min >= due + f64::from(cfg.severe_min) {
        TurnState::SeverelyOverdue
    } else if min >= due + f64::from(cfg.overdue_min) {
        TurnState::Overdue
    } else if min >= due {
        TurnState::Due
    } else if min >= due - f64::from(cfg.due_soon_min) {
        TurnState::DueSoon
    } else {
        TurnState::Ok
    }
}

/// Repositioning from the lateral centre of mass: the settled position and a candidate new one.
#[derive(Clone, Debug, Default)]
pub struct ShiftDetector {
    settled: Option<f32>,
    /// A new position since (ms), and its running mean.
    candidate: Option<(i64, f32, u32)>,
    last_ms: Option<i64>,
}

impl ShiftDetector {
    /// One sample of the lateral centre of mass while the patient lies in bed; true when a
    /// repositioning is confirmed.
    pub fn sample(&mut self, cfg: &TurningConfig, at: i64, lateral: f32) -> bool {
        if !lateral.is_finite() || self.last_ms.is_some_and(|l| at <= l) {
            return false;
        }
        self.last_ms = Some(at);
        let Some(settled) = self.settled else {
            self.settled = Some(lateral);
            return false;
        };
        if (lateral - settled).abs() <= cfg.shift {
            // Still (or back) in the settled position: it drifts with the patient.
            self.settled = Some(settled + (lateral - settled) * 0.01);
            self.candidate = None;
            return false;
        }
        let (since, mean, n) = self.candidate.get_or_insert((at, lateral, 0));
        // The new position must itself be steady: a patient rocking is not turned.
        if (lateral - *mean).abs() > cfg.shift {
            *since = at;
            *mean = lateral;
            *n = 1;
            return false;
        }
        *n += 1;
        *mean += (lateral - *mean) / *n as f32;
        if at - *since >= (cfg.hold_s.max(0.0) * 1000.0) as i64 {
            self.settled = Some(*mean);
            self.candidate = None;
            return true;
        }
        false
    }

    /// The patient left the bed: the next position is learnt afresh.
    pub fn reset(&mut self) {
        self.settled = None;
        self.candidate = None;
    }
}

/// A bed's repositioning detector.
#[derive(Component, Default)]
pub struct TurnWatch(pub ShiftDetector);

/// A patient's repositioning timer (patients in a smart bed).
#[derive(Component, Clone, Debug, PartialEq)]
pub struct Turning {
    pub state: TurnState,
    /// Minutes between repositionings for this patient (None: not timed).
    pub every_min: Option<u32>,
    /// When the last repositioning was seen (world time), if since Orderly started.
    pub last_turn: Option<Timestamp>,
    /// Minutes in bed since the last repositioning, as of the last state change.
    pub minutes: i64,
}

/// Time in bed since the last repositioning, counted each step (changes every step, so kept
/// apart from [`Turning`], which changes only with the state).
#[derive(Component, Default)]
pub struct TurnClock {
    pub in_bed_ms: i64,
    pub last_step: Option<Timestamp>,
    /// Carried over a restart: the last repositioning on record. The first step in bed counts
    /// from it (time out of bed included: it errs towards an early reminder, never a late one).
    pub restored: Option<Timestamp>,
}

/// After a restart: each patient's timer counts from their last recorded repositioning.
fn restore(world: &mut World, turned: &[(String, Timestamp)]) {
    let Some(reg) = world.get_resource::<Registry>() else {
        return;
    };
    let found: Vec<(Entity, Timestamp)> = turned
        .iter()
        .filter_map(|(p, at)| reg.subjects.get(p).map(|e| (*e, *at)))
        .collect();
    for (e, at) in found {
        if let Some(mut c) = world.get_mut::<TurnClock>(e) {
            c.restored = Some(at);
        }
        if let Some(mut t) = world.get_mut::<Turning>(e) {
            t.last_turn = Some(at);
        }
    }
}

#[derive(Resource, Clone)]
struct Turns(TurningConfig);

/// The patient's repositioning timer, in the `patient` group (a bed's patient for a bed).
fn turn_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if !ctx.wants("patient") {
        return;
    }
    let turn = ctx.of_patient::<Turning>();
    let g = "patient";
    f.set(
        g,
        "turn_state",
        Fact::String(turn.map_or("off", |t| t.state.as_str()).to_string()),
    );
    f.set(
        g,
        "turn_every_min",
        Fact::Int(turn.and_then(|t| t.every_min).map_or(0, i64::from)),
    );
    f.set(g, "turn_minutes", Fact::Int(turn.map_or(0, |t| t.minutes)));
}

pub struct TurningPlugin;

impl Capability for TurningPlugin {
    fn name(&self) -> &'static str {
        "turning"
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        set_config(world, &config.turning);
    }
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        restore(world, &restored.turned);
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        let cfg = &config.turning;
        world.insert_resource(Turns(cfg.clone()));
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[("patient", &["turn_state", "turn_every_min", "turn_minutes"])],
            turn_facts,
        );
        crate::facts::watch::<Turning>(schedule);
        let patients: Vec<(Entity, u8)> = world
            .query::<(Entity, &PatientInfo)>()
            .iter(world)
            .map(|(e, p)| (e, p.0.braden))
            .collect();
        for (e, braden) in patients {
            world.entity_mut(e).insert((
                Turning {
                    state: TurnState::Off,
                    every_min: cfg.every_min.for_braden(braden),
                    last_turn: None,
                    minutes: 0,
                },
                TurnClock::default(),
            ));
        }
        for e in crate::registry::smart_beds(world) {
            world.entity_mut(e).insert(TurnWatch::default());
        }
        // A patient admitted later, or a new Braden score: the interval follows at once, the
        // timer keeps its time.
        world.add_observer(
            |on: On<Insert<PatientInfo>>,
             turns: Res<Turns>,
             mut q: Query<(&PatientInfo, Option<&mut Turning>)>,
             mut commands: Commands| {
                let Ok((p, turning)) = q.get_mut(on.entity) else {
                    return;
                };
                let every_min = turns.0.every_min.for_braden(p.0.braden);
                match turning {
                    Some(mut t) => {
                        if t.every_min != every_min {
                            t.every_min = every_min;
                        }
                    }
                    None => {
                        commands.entity(on.entity).insert((
                            Turning {
                                state: TurnState::Off,
                                every_min,
                                last_turn: None,
                                minutes: 0,
                            },
                            TurnClock::default(),
                        ));
                    }
                }
            },
        );
        schedule.add_systems(
            (detect, advance)
                .chain()
                .in_set(Phase::Derive)
                .after(crate::bed_exit::watch),
        );
    }
}

/// New parameters: intervals follow at once; timers keep their time.
fn set_config(world: &mut World, cfg: &TurningConfig) {
    if world.get_resource::<Turns>().is_none_or(|c| c.0 == *cfg) {
        return;
    }
    world.insert_resource(Turns(cfg.clone()));
    let mut q = world.query::<(&PatientInfo, &mut Turning)>();
    for (p, mut t) in q.iter_mut(world) {
        t.every_min = cfg.every_min.for_braden(p.0.braden);
    }
}

#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn detect(
    clock: Res<Clock>,
    cfg: Res<Turns>,
    site: Res<Site>,
    registry: Res<Registry>,
    mut loads: MessageReader<BedLoadIn>,
    mut beds: Query<(
        &Subject,
        &mut TurnWatch,
        &BedExitState,
        Option<&BedFrame>,
        Option<&Location>,
    )>,
    mut patients: Query<(&Subject, &mut Turning, &mut TurnClock)>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    let mut turned: Vec<(Entity, &'static str, Option<u32>)> = Vec::new();
    for m in loads.read() {
        let Ok((subject, mut w, exit, _, loc)) = beds.get_mut(m.bed) else {
            continue;
        };
        if !exit.in_bed {
            w.0.reset();
            continue;
        }
        let step = 1000.0 / f64::from(m.load.hz.max(0.1));
        let mut hit = false;
        for (i, c) in m.load.cells_kg.iter().enumerate() {
            let Some(lateral) = crate::bed_exit::lateral(c) else {
                continue;
            };
            let at = m.ts.millis() + (i as f64 * step) as i64;
            hit |= w.0.sample(&cfg.0, at, lateral);
        }
        if hit && let Some(p) = registry.bed_patient.get(&subject.id) {
            turned.push((*p, "load cells", loc.filter(|l| l.present).map(|l| l.room)));
        }
    }
    // A rotating surface turns the patient all the time it runs.
    for (subject, _, exit, frame, loc) in &beds {
        if exit.in_bed
            && frame.is_some_and(|f| f.state.surface == Surface::Rotation)
            && let Some(p) = registry.bed_patient.get(&subject.id)
            && !turned.iter().any(|t| t.0 == *p)
            && patients.get(*p).is_ok_and(|(_, _, c)| c.in_bed_ms > 0)
        {
            turned.push((
                *p,
                "rotation surface",
                loc.filter(|l| l.present).map(|l| l.room),
            ));
        }
    }
    for (p, source, room) in turned {
        let Ok((subject, mut t, mut c)) = patients.get_mut(p) else {
            continue;
        };
        let minutes = c.in_bed_ms / 60_000;
        c.in_bed_ms = 0;
        t.last_turn = Some(now);
        // Logged once per repositioning (a rotating surface: when it starts, not every step).
        if source == "load cells" || t.state != TurnState::Ok {
            let r = room.map(|r| &site.0.rooms[r as usize]);
            outbox.push(
                now,
                EventKind::PatientTurned {
                    patient: subject.id.clone(),
                    source: source.to_string(),
                    minutes_since: minutes,
                    room: r.map(|r| r.id.clone()),
                    unit: r.and_then(|r| r.unit.clone()),
                },
            );
        }
    }
}

/// Counts time in bed and moves each timer's state.
fn advance(
    clock: Res<Clock>,
    cfg: Res<Turns>,
    registry: Res<Registry>,
    beds: Query<&BedExitState>,
    mut patients: Query<(&PatientInfo, &mut Turning, &mut TurnClock)>,
) {
    let now = clock.now;
    for (info, mut t, mut c) in &mut patients {
        let dt = c.last_step.map_or(0, |l| now.since(l).clamp(0, 60_000));
        c.last_step = Some(now);
        // The bed is looked up only for a patient with turns ordered (Off without, whatever
        // the bed).
        let bed = t
            .every_min
            .and_then(|_| registry.subjects.get(&info.0.bed))
            .and_then(|e| beds.get(*e).ok());
        let state = match (t.every_min, bed) {
            (None, _) | (_, None) => TurnState::Off,
            // No load cells heard from this bed: nothing to time against.
            (Some(_), Some(b)) if !b.armed => TurnState::Off,
            (Some(_), Some(b)) if !b.in_bed => TurnState::Paused,
            (Some(every), Some(_)) => {
                c.in_bed_ms += dt;
                if let Some(at) = c.restored.take() {
                    c.in_bed_ms = c.in_bed_ms.max(now.since(at));
                }
                state_for(&cfg.0, every, c.in_bed_ms)
            }
        };
        if state != t.state {
            t.state = state;
            t.minutes = c.in_bed_ms / 60_000;
        }
    }
}
