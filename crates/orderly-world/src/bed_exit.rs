//! Bed exit, the capability: a [`BedExitDetector`] per smart bed over its load cells
//! (`bed/{id}/load`), fused with the bed's own exit alarm (`bed/{id}/state`), the patient's fall
//! risk (which zone is watched) and who is in the room (an assisted exit), into one
//! [`BedExitState`] per bed, one `bed.exit` event per exit and the `bed.exit*` facts.
//! The detector itself is [`crate::exit_detector`].

use crate::devices::BedFrame;
pub use crate::exit_detector::{BedExitConfig, BedExitDetector, Change, RiskZones, Zone, lateral};
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
use std::collections::BTreeMap;

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
    /// The census took the bed's patient out (discharged, transferred away) and put nobody in:
    /// the load cells watch nothing until a patient is in it again (the patient leaving at
    /// discharge is not a bed exit).
    pub vacated: bool,
}

/// The patient the census has in a bed, as the bed-exit watch last saw it (None before the
/// first look).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
struct Occupant(Option<Option<Entity>>);

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
    // The fall-prevention bundle (bed low, brakes on, both head rails up, an exit alarm: the
    // bed's own or this watch) in words: only what is missing, as a nurse would say it.
    let frame = ctx.of_bed::<BedFrame>().map(|b| &b.state);
    let mut missing: Vec<&str> = Vec::new();
    if let Some(s) = frame {
        if s.height == orderly_model::reading::BedHeight::Raised {
            missing.push("bed not in its low position");
        }
        if !s.brakes {
            missing.push("brakes off");
        }
        match usize::from(s.rails.head_left) + usize::from(s.rails.head_right) {
            0 => missing.push("both head rails down"),
            1 => missing.push("one head rail down"),
            _ => {}
        }
        if s.exit_alarm == ExitAlarm::Off && exit.is_none_or(|e| e.zone.is_none()) {
            missing.push("no exit alarm (the bed's is off and the load cells are not watching)");
        }
    }
    f.set(
        g,
        "fall_bundle_missing",
        Fact::String(if frame.is_none() {
            "the bed has not reported its settings".into()
        } else if missing.is_empty() {
            "nothing".into()
        } else {
            missing.join(", ")
        }),
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
                Occupant::default(),
            ));
        }
        schedule.add_systems(
            (follow_census, watch)
                .chain()
                .in_set(Phase::Derive)
                .after(crate::devices::bed_frames),
        );
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[(
                "bed",
                &[
                    "exited",
                    "exit_source",
                    "exit_zone",
                    "exit_assisted",
                    "in_bed",
                    "exit_armed",
                    "exit_watch",
                    "fall_bundle_missing",
                ],
            )],
            exit_facts,
        );
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
        w.0.set_config(cfg.clone());
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
    mut recheck: Local<Vec<Entity>>,
) {
    let now = clock.now;
    // Beds whose alarm came and went within the last step: looked at again now, so the rules
    // saw the exit once before it clears.
    let mut touched: Vec<Entity> = std::mem::take(&mut *recheck);
    // The first alarming state of each bed in this step: a backlog read in one step may hold
    // an alarm and the bed armed again after it, and the alarm must not vanish between them.
    let mut sounded: BTreeMap<Entity, Timestamp> = BTreeMap::new();
    for m in states.read() {
        if let Ok((_, mut w, ..)) = beds.get_mut(m.bed) {
            w.0.set_moving(m.ts.millis(), m.state.moving);
            touched.push(m.bed);
            if m.state.exit_alarm == ExitAlarm::Alarming {
                sounded.entry(m.bed).or_insert(m.at);
            }
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
        let zone = if st.vacated && morse.is_none() {
            Zone::Off
        } else {
            cfg.0.zones.for_morse(morse)
        };
        if morse.is_some() && st.vacated {
            st.vacated = false;
        }
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
        let sounding = frame.is_some_and(|f| f.state.exit_alarm == ExitAlarm::Alarming);
        let alarming = sounding || sounded.contains_key(&e);
        if alarming && !sounding {
            recheck.push(e);
        }
        let (in_bed, armed) = (w.0.in_bed(), w.0.armed());
        let subject = subject.clone();
        let room = loc.filter(|l| l.present).map(|l| l.room);
        if st.in_bed != in_bed || st.armed != armed {
            st.in_bed = in_bed;
            st.armed = armed;
        }
        let started = alarming && !st.alarm_sounding;
        if st.alarm_sounding != sounding {
            st.alarm_sounding = sounding;
        }
        match (&st.exited, alarming) {
            (None, true) if started => {
                let assisted = room.is_some_and(|r| caregiver_in(r, &staff, presence.as_deref()));
                let at = sounded
                    .get(&e)
                    .copied()
                    .or(frame.map(|f| f.at))
                    .unwrap_or(now);
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

/// A bed whose patient the census changed starts afresh: the exit under way was the last
/// patient's (their alert ended with the change), and a bed left empty watches nothing from its
/// load cells until someone is admitted to it.
fn follow_census(
    registry: Res<Registry>,
    cfg: Res<BedExits>,
    mut beds: Query<(
        &Subject,
        &mut Occupant,
        &mut BedExitState,
        &mut BedExitWatch,
    )>,
) {
    if !registry.is_changed() {
        return;
    }
    for (subject, mut seen, mut st, mut w) in &mut beds {
        let now = registry.bed_patient.get(&subject.id).copied();
        match seen.0 {
            None => seen.0 = Some(now),
            Some(before) if before != now => {
                seen.0 = Some(now);
                *st = BedExitState {
                    vacated: now.is_none(),
                    ..BedExitState::default()
                };
                w.0 = BedExitDetector::new(cfg.0.clone());
            }
            Some(_) => {}
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
