//! Falls: each patient's wearable stream through a [`FallDetector`], and on-device `fall`
//! events, fused with what the bed knows. A fall while the patient's bed reports them lying in
//! it is suppressed (lying down quickly and rolling over are the detector's main false alarms)
//! and logged as a `fall.detected` event with the reason; any other fall sets the patient's
//! `FallState` for `[falls] fact_s` seconds, which the rules read as `patient.fallen` (and
//! `patient.fell_alone`: no caregiver in the room when it happened, fixed for the fall).

use crate::bed_exit::BedExitState;
use crate::devices::BedFrame;
use crate::facts::{AlertRequest, FactCtx, FactProviders, FactSheet};
use crate::fall::{FallConfig, FallDetector, Worn};
use crate::ingest::{ImuIn, WearableEventIn};
use crate::locate::Location;
use crate::outbox::Outbox;
use crate::presence::{Presence, caregiver_in};
use crate::registry::{PatientInfo, Subject};
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::reading::WearableEventType;
use orderly_model::{EventKind, Timestamp};
use orderly_rules::Fact;

/// A patient's detector (patients with a wearable), for where the wearable is worn, and when
/// its last sample arrived (device time, world time): a wearable that goes quiet has what is
/// pending decided on the samples there are.
#[derive(Component)]
pub struct FallWatch {
    detector: FallDetector,
    last: Option<(i64, Timestamp)>,
}

impl FallWatch {
    fn new(cfg: &FallConfig, worn: Worn) -> Self {
        FallWatch {
            detector: FallDetector::new(cfg, worn),
            last: None,
        }
    }
}

/// Where a patient's wearable is worn: its model's position, else `[falls] worn`.
fn worn(registry: &Registry, cfg: &FallConfig, p: &orderly_model::Patient) -> Worn {
    p.wearable_model
        .as_ref()
        .and_then(|m| registry.wearable_models.get(m).copied())
        .unwrap_or(cfg.worn)
}

/// The patient's latest fall, while it counts.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct FallState {
    pub fallen: Option<Fallen>,
    /// A new fall came while the last still counted: for one step the rules read no fall, so
    /// the next reads it rising again and the open alert re-notifies its recipients (a fall
    /// alert is resolved by a person, and a rule of that kind rising again is a new event).
    pub again: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fallen {
    /// When it happened (the impact, device time).
    pub at: Timestamp,
    /// Until when the fact holds (world time).
    pub until: Timestamp,
    pub confidence: f32,
    /// No caregiver in the room when it happened.
    pub alone: bool,
    /// When Orderly learnt of it (world time): the button's cancel window starts here.
    pub detected: Timestamp,
    /// The nearest staff badges by walking distance, for the message: "Ana Silva (nurse, 12 m)".
    pub nearest: String,
}

#[derive(Resource, Clone)]
struct Falls(FallConfig);

pub struct FallsPlugin;

impl Capability for FallsPlugin {
    fn name(&self) -> &'static str {
        "falls"
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        set_config(world, &config.falls);
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        let cfg = &config.falls;
        world.insert_resource(Falls(cfg.clone()));
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[(
                "patient",
                &["fallen", "fell_alone", "fall_confidence", "nearest_staff"],
            )],
            fall_facts,
        );
        crate::facts::watch::<FallState>(schedule);
        let patients: Vec<(Entity, Option<Worn>)> = {
            let mut q = world.query::<(Entity, &PatientInfo)>();
            let registry = world.resource::<Registry>();
            q.iter(world)
                .map(|(e, p)| (e, p.0.wearable.is_some().then(|| worn(registry, cfg, &p.0))))
                .collect()
        };
        for (e, position) in patients {
            let mut ent = world.entity_mut(e);
            ent.insert(FallState::default());
            if let Some(w) = position {
                ent.insert(FallWatch::new(cfg, w));
            }
        }
        // A patient admitted later, or whose wearable changed.
        world.add_observer(
            |on: On<Insert<PatientInfo>>,
             falls: Res<Falls>,
             registry: Res<Registry>,
             q: Query<(&PatientInfo, Has<FallState>, Option<&FallWatch>)>,
             mut commands: Commands| {
                let Ok((p, state, watch)) = q.get(on.entity) else {
                    return;
                };
                let mut ent = commands.entity(on.entity);
                if !state {
                    ent.insert(FallState::default());
                }
                let position =
                    p.0.wearable
                        .is_some()
                        .then(|| worn(&registry, &falls.0, &p.0));
                match (position, watch) {
                    (Some(w), None) => {
                        ent.insert(FallWatch::new(&falls.0, w));
                    }
                    (Some(w), Some(x)) if x.detector.worn() != w => {
                        ent.insert(FallWatch::new(&falls.0, w));
                    }
                    (None, Some(_)) => {
                        ent.remove::<FallWatch>();
                    }
                    _ => {}
                }
            },
        );
        schedule.add_systems((again, detect, expire).chain().in_set(Phase::Derive));
    }
}

/// New parameters: detectors start afresh (their windows are a few seconds).
fn set_config(world: &mut World, cfg: &FallConfig) {
    if !world.contains_resource::<Falls>() {
        return;
    }
    world.insert_resource(Falls(cfg.clone()));
    let mut q = world.query::<&mut FallWatch>();
    for mut w in q.iter_mut(world) {
        let worn = w.detector.worn();
        *w = FallWatch::new(cfg, worn);
    }
}

/// A fall to judge: from the detector or from the device itself.
struct Candidate {
    patient: Entity,
    at: Timestamp,
    confidence: f32,
    source: &'static str,
}

#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn detect(
    clock: Res<Clock>,
    cfg: Res<Falls>,
    site: Res<Site>,
    registry: Res<Registry>,
    mut imu: MessageReader<ImuIn>,
    mut events: MessageReader<WearableEventIn>,
    mut watches: Query<(Entity, &mut FallWatch)>,
    mut patients: Query<(&Subject, &PatientInfo, Option<&Location>, &mut FallState)>,
    beds: Query<(Option<&BedFrame>, Option<&BedExitState>, Option<&Location>)>,
    staff: Query<(&crate::registry::StaffInfo, &Location)>,
    presence: Option<Res<Presence>>,
    mut requests: MessageWriter<AlertRequest>,
    mut outbox: ResMut<Outbox>,
) {
    let mut found = Vec::new();
    let now = clock.now;
    for m in imu.read() {
        let Ok((_, mut w)) = watches.get_mut(m.patient) else {
            continue;
        };
        let step = 1000.0 / f64::from(m.imu.hz.max(1.0));
        let mut last = None;
        for (i, a) in m.imu.acc_g.iter().enumerate() {
            let t = m.ts.millis() + (i as f64 * step) as i64;
            last = Some(t);
            if let Some(f) = w.detector.push(t, *a) {
                found.push(Candidate {
                    patient: m.patient,
                    at: Timestamp(f.impact_at),
                    confidence: f.confidence,
                    source: "wearable",
                });
            }
        }
        if let Some(t) = last {
            w.last = Some((t, now));
        }
    }
    // A wearable gone quiet for a second (its stream ended, a message lost): an impact waiting
    // for the samples after it is decided on those there are.
    for (e, mut w) in &mut watches {
        let Some((t, at)) = w.last else { continue };
        let quiet = now.since(at);
        if quiet >= 1000
            && w.detector.is_pending()
            && let Some(f) = w.detector.idle(t + quiet)
        {
            found.push(Candidate {
                patient: e,
                at: Timestamp(f.impact_at),
                confidence: f.confidence,
                source: "wearable",
            });
        }
    }
    let mut cancelled = Vec::new();
    for m in events.read() {
        match m.event.kind {
            WearableEventType::Fall => found.push(Candidate {
                patient: m.patient,
                at: m.ts,
                confidence: m.event.confidence.unwrap_or(1.0),
                source: "device",
            }),
            WearableEventType::Button => {
                let Ok((subject, _, _, mut state)) = patients.get_mut(m.patient) else {
                    continue;
                };
                let cancel_ms = (cfg.0.cancel_s.max(0.0) * 1000.0) as i64;
                if state
                    .fallen
                    .as_ref()
                    .is_some_and(|f| now.since(f.detected) <= cancel_ms)
                {
                    state.fallen = None;
                    cancelled.push(subject.id.clone());
                }
            }
            WearableEventType::Removed => {}
        }
    }
    if !cancelled.is_empty() {
        tracing::info!(patients = ?cancelled, "fall cancelled by the wearer's button");
        requests.write(AlertRequest::ResolveReading {
            subjects: cancelled,
            group: "patient",
            fact: "fallen",
            by: "patient (wearable button)".into(),
            reason: "I'm OK: the patient pressed the wearable's button".into(),
        });
    }
    let hold_ms = (cfg.0.fact_s.max(1.0) * 1000.0) as i64;
    for c in found {
        let Ok((subject, info, loc, mut state)) = patients.get_mut(c.patient) else {
            continue;
        };
        // Where: the wristband's room, else the bed's.
        let bed = registry
            .subjects
            .get(&info.0.bed)
            .and_then(|e| beds.get(*e).ok());
        let room = loc
            .filter(|l| l.present)
            .map(|l| l.room)
            .or_else(|| bed.and_then(|(_, _, l)| l).map(|l| l.room));
        // The bed's own occupancy sensor, or its load cells holding the patient's weight.
        let suppressed = match bed {
            Some((Some(f), _, _)) if f.state.occupied => {
                Some("the bed reports the patient lying in it".to_string())
            }
            Some((_, Some(x), _)) if x.in_bed => {
                Some("the bed's load cells hold the patient's weight".to_string())
            }
            _ => None,
        };
        let alone = room.is_none_or(|r| !caregiver_in(r, &staff, presence.as_deref()));
        let r = room.map(|r| &site.0.rooms[r as usize]);
        tracing::info!(patient = %subject.id, source = c.source, suppressed = suppressed.is_some(), "fall detected");
        outbox.push(
            now,
            EventKind::FallDetected {
                patient: subject.id.clone(),
                source: c.source.to_string(),
                impact_at: c.at,
                confidence: (c.confidence * 100.0).round() / 100.0,
                room: r.map(|r| r.id.clone()),
                unit: r.and_then(|r| r.unit.clone()),
                suppressed: suppressed.clone(),
            },
        );
        if suppressed.is_none() {
            state.again = state.fallen.is_some();
            let nearest = room.map_or_else(String::new, |r| nearest_staff(&site, &staff, r, 3));
            state.fallen = Some(Fallen {
                at: c.at,
                until: now.plus_ms(hold_ms),
                confidence: c.confidence,
                alone,
                detected: now,
                nearest,
            });
        }
    }
}

/// The `count` nearest staff badges heard now, by walking distance from `room`.
fn nearest_staff(
    site: &Site,
    staff: &Query<(&crate::registry::StaffInfo, &Location)>,
    room: u32,
    count: usize,
) -> String {
    let d = site.0.distances_from(room as usize);
    let mut near: Vec<(f32, &str, &str)> = staff
        .iter()
        .filter(|(_, l)| l.present)
        .filter_map(|(s, l)| {
            let m = d.get(l.room as usize).copied().filter(|m| m.is_finite())?;
            Some((m, s.0.name.as_str(), s.0.role.as_str()))
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    near.iter()
        .take(count)
        .map(|(m, name, role)| format!("{name} ({role}, {} m)", m.round()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The patient's fall, in the `patient` group (a bed's patient for a bed).
fn fall_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if !ctx.wants("patient") {
        return;
    }
    let fallen = ctx
        .of_patient::<FallState>()
        .filter(|f| !f.again)
        .and_then(|f| f.fallen.as_ref());
    f.set("patient", "fallen", Fact::Bool(fallen.is_some()));
    f.set(
        "patient",
        "fell_alone",
        Fact::Bool(fallen.is_some_and(|x| x.alone)),
    );
    f.set(
        "patient",
        "fall_confidence",
        Fact::Double(fallen.map_or(0.0, |x| f64::from(x.confidence))),
    );
    f.set(
        "patient",
        "nearest_staff",
        Fact::String(fallen.map(|x| x.nearest.clone()).unwrap_or_default()),
    );
}

/// The step after a fall that came on top of another: the rules read it again.
fn again(mut states: Query<&mut FallState>) {
    for mut s in &mut states {
        if s.again {
            s.again = false;
        }
    }
}

fn expire(clock: Res<Clock>, mut states: Query<&mut FallState>) {
    for mut s in &mut states {
        if s.fallen.as_ref().is_some_and(|f| clock.now >= f.until) {
            s.fallen = None;
        }
    }
}
