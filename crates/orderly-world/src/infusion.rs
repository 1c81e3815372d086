//! Infusion safety: each pump's infusion checked against the drug library
//! (`rules/drug-library.toml`) with the pump's unit and the census weight of its patient. The
//! `infusion` facts let `rules/infusion.toml` raise what a nurse must act on (past a hard
//! limit, a wrong weight, basic mode, the wrong care area, a bag about to run out); every start,
//! override, hard stop, change and end is a `pump.infusion` event, from which the compliance
//! report is made and a restart carries the running infusions and the pumps' counters on.
//!
//! An infusion the library cannot check (a drug, profile or dose unit it does not have) is
//! counted as a rejection of the infusion part of the message, per reason and pump, and never
//! alerts; the pump's own state, alarms and battery still count (`devices`), so a library out
//! of step cannot hide a pump's alarm.

use crate::facts::{FactCtx, FactProviders, FactSheet, watch};
use crate::ingest::{IngestStats, PumpIn};
use crate::locate::Location;
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, PatientInfo};
use crate::{Capability, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::infusion::{
    Check, DrugLibrary, Infusion, InfusionChange, InfusionRecord, Standing,
};
use orderly_model::reading::{PumpState, Rejected};
use orderly_model::{EventKind, Timestamp};
use orderly_rules::Fact;
use std::sync::Arc;

/// The drug library in force.
#[derive(Resource, Clone, Default)]
pub struct Library(pub Arc<DrugLibrary>);

/// A pump's infusion as Orderly follows it.
#[derive(Component, Clone, Debug, Default, PartialEq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct PumpInfusion {
    /// The infusion running (infusing, paused or alarming on one program), if any. Boxed:
    /// most pumps stand idle, and 25,000 inline `Running`s took 16 MiB.
    pub running: Option<Box<Running>>,
    /// The pump's lifetime counters as last seen (None before the first report).
    soft_total: Option<u64>,
    hard_total: Option<u64>,
    /// The device time of the last report taken, so an older one changes nothing.
    last_ts: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Running {
    pub started_at: Timestamp,
    pub infusion: Infusion,
    pub state: PumpState,
    /// The check against the library, or why there is none.
    pub check: Result<Check, String>,
    pub unit: Option<String>,
    pub room: Option<String>,
    pub patient: Option<String>,
    /// Overrides and hard stops during this infusion.
    pub overrides: u64,
    pub hard_stops: u64,
}

impl Running {
    fn checked(&self) -> Option<&Check> {
        self.check.as_ref().ok()
    }
    /// The dose checked, else as the pump reports it.
    fn dose(&self) -> Option<f64> {
        self.checked().and_then(|c| c.dose).or(self.infusion.dose)
    }
    /// The library's dose unit, else the pump's.
    fn dose_unit(&self) -> Option<String> {
        self.checked()
            .map(|c| c.dose_unit.as_str())
            .filter(|u| !u.is_empty())
            .or(self.infusion.dose_unit.as_deref())
            .map(str::to_string)
    }
    fn standing(&self) -> Standing {
        self.checked().map_or(Standing::None, |c| c.standing)
    }
    /// What a `changed` record is written for: the checked dose and where it and a bolus
    /// stand, and the rate.
    fn shape(&self) -> (Option<(Standing, Standing, Option<f64>)>, f64) {
        (
            self.checked().map(|c| (c.standing, c.bolus, c.dose)),
            self.infusion.rate_ml_h,
        )
    }
}

impl PumpInfusion {
    /// The running infusion as the API shows it.
    pub fn view(&self) -> Option<orderly_model::view::InfusionView> {
        let r = self.running.as_deref()?;
        Some(orderly_model::view::InfusionView {
            started_at: r.started_at,
            library: r.infusion.library,
            drug: r.infusion.drug.clone(),
            dose: r.dose(),
            dose_unit: r.dose_unit(),
            rate_ml_h: r.infusion.rate_ml_h,
            limit: r.standing(),
            crossed: r.checked().map(|c| c.crossed.clone()).unwrap_or_default(),
            unchecked: r.check.as_ref().err().cloned(),
            minutes_left: r.infusion.minutes_left().map(|m| (m * 10.0).round() / 10.0),
            patient: r.patient.clone(),
        })
    }
}

pub struct InfusionPlugin;

impl Capability for InfusionPlugin {
    fn name(&self) -> &'static str {
        "infusion"
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        world.insert_resource(Library(Arc::new(config.drug_library.clone())));
        // The new limits apply to the running infusions at their next report.
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        self.configure(world, config);
        let pumps: Vec<Entity> = world
            .query::<(Entity, &AssetInfo)>()
            .iter(world)
            .filter(|(_, a)| a.0.kind == "infusion_pump")
            .map(|(e, _)| e)
            .collect();
        for e in pumps {
            world.entity_mut(e).insert(PumpInfusion::default());
        }
        schedule.add_systems((follow, moved).chain().in_set(Phase::Derive));
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[("infusion", FACTS)],
            infusion_facts,
        );
        watch::<PumpInfusion>(schedule);
    }
    /// The infusions running when Orderly stopped, and every pump's counters.
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        for (r, _) in &restored.infusions {
            let Some(e) = world.resource::<Registry>().subjects.get(&r.pump).copied() else {
                continue;
            };
            let lib = world.resource::<Library>().0.clone();
            let Some(mut p) = world.get_mut::<PumpInfusion>(e) else {
                continue;
            };
            p.soft_total = Some(r.soft_overrides_total);
            p.hard_total = Some(r.hard_stops_total);
            if r.change != InfusionChange::Ended {
                let infusion = Infusion {
                    library: r.library,
                    profile: r.profile.clone(),
                    drug: r.drug.clone(),
                    concentration: r.concentration.clone(),
                    dose: r.dose,
                    dose_unit: r.dose_unit.clone(),
                    rate_ml_h: r.rate_ml_h,
                    infused_ml: r.infused_ml,
                    ..Infusion::default()
                };
                let check = lib
                    .check(&infusion, r.unit.as_deref(), None)
                    .map_err(|u| u.detail().to_string());
                p.running = Some(Box::new(Running {
                    started_at: r.started_at,
                    infusion,
                    state: PumpState::Infusing,
                    check,
                    unit: r.unit.clone(),
                    room: r.room.clone(),
                    patient: r.patient.clone(),
                    overrides: 0,
                    hard_stops: 0,
                }));
            }
        }
    }
}

const FACTS: &[&str] = &[
    "running",
    "infusing",
    "basic_mode",
    "checked",
    "drug",
    "concentration",
    "high_alert",
    "dose",
    "dose_unit",
    "rate_ml_h",
    "limit",
    "bolus_limit",
    "crossed",
    "profile",
    "profile_mismatch",
    "expected_profile",
    "weight_mismatch",
    "weight_detail",
    "vtbi_set",
    "minutes_left",
    "overrides",
    "hard_stops",
    "patient",
];

fn infusion_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if !ctx.wants("infusion") {
        return;
    }
    let r = ctx.own::<PumpInfusion>().and_then(|p| p.running.as_deref());
    if r.is_none() {
        // Most pumps stand idle, and an idle pump's facts are always the same: built once
        // (building them was 8% of a step placing 25,000 tagged pumps).
        static IDLE: std::sync::LazyLock<orderly_rules::facts::Group> =
            std::sync::LazyLock::new(|| {
                let mut sheet = FactSheet::default();
                running_facts(None, &mut sheet);
                sheet.facts.groups.remove("infusion").unwrap_or_default()
            });
        f.set_group("infusion", &IDLE);
        return;
    }
    running_facts(r, f);
}

/// The `infusion` facts of a pump running `r` (none: idle).
fn running_facts(r: Option<&Running>, f: &mut FactSheet) {
    let g = "infusion";
    let infusing = r.filter(|r| r.state == PumpState::Infusing);
    let inf = r.map(|r| &r.infusion);
    let check = r.and_then(Running::checked);
    let s = |v: Option<&String>| Fact::String(v.cloned().unwrap_or_default());
    f.set(g, "running", Fact::Bool(r.is_some()));
    f.set(g, "infusing", Fact::Bool(infusing.is_some()));
    f.set(g, "basic_mode", Fact::Bool(inf.is_some_and(|i| !i.library)));
    f.set(g, "checked", Fact::Bool(r.is_some_and(|r| r.check.is_ok())));
    f.set(g, "drug", s(inf.and_then(|i| i.drug.as_ref())));
    f.set(
        g,
        "concentration",
        s(inf.and_then(|i| i.concentration.as_ref())),
    );
    f.set(
        g,
        "high_alert",
        Fact::Bool(check.is_some_and(|c| c.high_alert)),
    );
    f.set(
        g,
        "dose",
        Fact::Double(check.and_then(|c| c.dose).unwrap_or(0.0)),
    );
    f.set(
        g,
        "dose_unit",
        Fact::String(
            r.and_then(Running::dose_unit)
                .unwrap_or_else(|| "mL/h".into()),
        ),
    );
    f.set(
        g,
        "rate_ml_h",
        Fact::Double(inf.map_or(0.0, |i| i.rate_ml_h)),
    );
    let standing = |s: Standing| Fact::String(s.as_str().into());
    f.set(
        g,
        "limit",
        standing(r.map_or(Standing::None, Running::standing)),
    );
    f.set(
        g,
        "bolus_limit",
        standing(check.map_or(Standing::None, |c| c.bolus)),
    );
    f.set(g, "crossed", s(check.map(|c| &c.crossed)));
    f.set(g, "profile", s(inf.and_then(|i| i.profile.as_ref())));
    let expected = check.and_then(|c| c.expected_profile.as_ref());
    f.set(g, "profile_mismatch", Fact::Bool(expected.is_some()));
    f.set(g, "expected_profile", s(expected));
    let weight = check.and_then(|c| c.weight_mismatch);
    f.set(g, "weight_mismatch", Fact::Bool(weight.is_some()));
    f.set(
        g,
        "weight_detail",
        Fact::String(
            weight
                .map(|(p, c)| format!("{p:.1} kg on the pump, {c:.1} kg in the census"))
                .unwrap_or_default(),
        ),
    );
    let left = inf.and_then(Infusion::minutes_left);
    f.set(g, "vtbi_set", Fact::Bool(left.is_some()));
    f.set(
        g,
        "minutes_left",
        Fact::Double(left.map_or(-1.0, |m| (m * 10.0).round() / 10.0)),
    );
    f.set(
        g,
        "overrides",
        Fact::Int(r.map_or(0, |r| r.overrides as i64)),
    );
    f.set(
        g,
        "hard_stops",
        Fact::Int(r.map_or(0, |r| r.hard_stops as i64)),
    );
    f.set(g, "patient", s(r.and_then(|r| r.patient.as_ref())));
}

/// The patient a pump infuses: the one it was programmed for when the census has them, else
/// the only patient whose bed is in the pump's room.
fn patient_of(
    world_registry: &Registry,
    patients: &Query<&PatientInfo>,
    named: Option<&str>,
    room: Option<u32>,
) -> Option<(String, Option<f64>)> {
    let info = |e: Entity| {
        patients
            .get(e)
            .ok()
            .map(|p| (p.0.id.clone(), p.0.record.weight_kg.map(f64::from)))
    };
    if let Some(id) = named
        && let Some(e) = world_registry.subjects.get(id)
        && let Some(p) = info(*e)
    {
        return Some(p);
    }
    let room = room?;
    let mut found = None;
    for (bed, e) in &world_registry.bed_patient {
        if world_registry.bed_room.get(bed) == Some(&room) {
            if found.is_some() {
                // Two patients in the room: which one is not known.
                return None;
            }
            found = Some(*e);
        }
    }
    found.and_then(info)
}

/// The `pump.infusion` record of `p` as it stands; `place` (unit, room) when no infusion runs.
fn record_of(
    info: &AssetInfo,
    p: &PumpInfusion,
    change: InfusionChange,
    count: u64,
    now: Timestamp,
    place: (&Option<String>, &Option<String>),
) -> InfusionRecord {
    let r = p.running.as_deref();
    let inf = r.map(|r| &r.infusion);
    InfusionRecord {
        pump: info.0.id.clone(),
        change,
        started_at: r.map_or(now, |r| r.started_at),
        model: info.0.model.clone().unwrap_or_default(),
        unit: r.and_then(|r| r.unit.clone()).or(place.0.clone()),
        room: r.and_then(|r| r.room.clone()).or(place.1.clone()),
        patient: r.and_then(|r| r.patient.clone()),
        library: inf.is_some_and(|i| i.library),
        profile: inf.and_then(|i| i.profile.clone()),
        drug: inf.and_then(|i| i.drug.clone()),
        concentration: inf.and_then(|i| i.concentration.clone()),
        dose: r.and_then(Running::dose),
        dose_unit: r.and_then(Running::dose_unit),
        rate_ml_h: inf.map_or(0.0, |i| i.rate_ml_h),
        infused_ml: inf.map_or(0.0, |i| i.infused_ml),
        standing: r.map_or(Standing::None, Running::standing),
        soft_overrides_total: p.soft_total.unwrap_or(0),
        hard_stops_total: p.hard_total.unwrap_or(0),
        count,
    }
}

/// The pump is heard in a patient room or bay: where infusions run. Elsewhere during an
/// infusion it is on its way with its patient, or the locator is unsure at a border; the
/// infusion keeps the bedside it had.
fn at_bedside(site: &Site, loc: Option<&Location>) -> bool {
    loc.filter(|l| l.present).is_some_and(|l| {
        matches!(
            site.0.rooms[l.room as usize].kind,
            orderly_floorplan::RoomKind::Patient | orderly_floorplan::RoomKind::Bay
        )
    })
}

/// A running infusion whose pump the locator now has at another bedside: the infusion is where
/// the pump is (the pump's first report of it often comes before the locator has caught up
/// with the pump's move), recorded as a change.
fn moved(
    site: Res<Site>,
    mut pumps: Query<(&AssetInfo, &Location, &mut PumpInfusion), Changed<Location>>,
    mut outbox: ResMut<Outbox>,
    clock: Res<crate::Clock>,
) {
    for (info, loc, mut p) in &mut pumps {
        let Some(r) = &p.running else { continue };
        if !at_bedside(&site, Some(loc)) {
            continue;
        }
        let (room, unit) = crate::status::unit_and_room(&site, info, Some(loc));
        if r.room == room && r.unit == unit {
            continue;
        }
        let p = p.as_mut();
        let Some(r) = &mut p.running else { continue };
        r.room = room;
        r.unit = unit;
        let rec = record_of(
            info,
            p,
            InfusionChange::Changed,
            0,
            clock.now,
            (&None, &None),
        );
        outbox.push(clock.now, EventKind::PumpInfusion(Box::new(rec)));
    }
}

/// More limit events than this between two reports is a counter that jumped, not overrides.
const MAX_LIMIT_EVENTS: u64 = 20;

/// The same program: a new bag or a new drug is a new infusion.
fn same_program(a: &Infusion, b: &Infusion) -> bool {
    a.library == b.library
        && a.drug == b.drug
        && a.concentration == b.concentration
        && a.profile == b.profile
        && b.infused_ml + 0.05 >= a.infused_ml
}

#[allow(clippy::too_many_arguments)]
fn follow(
    mut input: MessageReader<PumpIn>,
    library: Res<Library>,
    site: Res<Site>,
    registry: Res<Registry>,
    patients: Query<&PatientInfo>,
    mut pumps: Query<(&AssetInfo, Option<&Location>, &mut PumpInfusion)>,
    mut outbox: ResMut<Outbox>,
    mut stats: ResMut<IngestStats>,
) {
    for m in input.read() {
        let Ok((info, loc, mut p)) = pumps.get_mut(m.pump) else {
            continue;
        };
        if m.ts < p.last_ts {
            continue;
        }
        let p = p.as_mut();
        p.last_ts = m.ts;
        let t = &m.telemetry;
        let (room, unit) = crate::status::unit_and_room(&site, info, loc);
        let record = |p: &PumpInfusion, change: InfusionChange, count: u64| {
            record_of(info, p, change, count, m.at, (&unit, &room))
        };
        let busy = matches!(
            t.state,
            PumpState::Infusing | PumpState::Paused | PumpState::Alarm
        );
        let program = t.infusion.as_deref().filter(|_| busy);
        // The running infusion ends: the pump stopped, or runs another program.
        let ends = match (&p.running, program) {
            (Some(_), None) => true,
            (Some(r), Some(new)) => !same_program(&r.infusion, new),
            _ => false,
        };
        if ends {
            let r = record(p, InfusionChange::Ended, 0);
            outbox.push(m.at, EventKind::PumpInfusion(Box::new(r)));
            p.running = None;
        }
        if let Some(new) = program {
            let room_index = loc.filter(|l| !l.lost).map(|l| l.room);
            let patient = patient_of(&registry, &patients, new.patient.as_deref(), room_index);
            let weight = patient.as_ref().and_then(|(_, w)| *w);
            let lib = &library.0;
            let check = if lib.entries.is_empty() && lib.profiles.is_empty() {
                // No drug library in the rules directory: nothing to check against, and
                // nothing wrong with the pump's message.
                Err("no drug library is loaded".to_string())
            } else {
                let check = lib.check(new, unit.as_deref(), weight);
                if let Err(u) = &check {
                    stats.reject(Rejected {
                        at: m.at,
                        topic: format!(
                            "pump/{}/telemetry",
                            info.0.device.as_deref().unwrap_or(&info.0.id)
                        ),
                        device: info.0.device.clone(),
                        reason: u.reason(),
                        detail: format!("infusion not checked: {}", u.detail()),
                    });
                }
                check.map_err(|u| u.detail().to_string())
            };
            match &mut p.running {
                Some(r) => {
                    let before = r.shape();
                    r.infusion = new.clone();
                    r.state = t.state;
                    r.check = check;
                    if at_bedside(&site, loc) {
                        r.unit = unit.clone();
                        r.room = room.clone();
                    }
                    r.patient = patient.map(|(id, _)| id).or(r.patient.take());
                    if r.shape() != before {
                        let rec = record(p, InfusionChange::Changed, 0);
                        outbox.push(m.at, EventKind::PumpInfusion(Box::new(rec)));
                    }
                }
                None => {
                    p.running = Some(Box::new(Running {
                        started_at: m.at,
                        infusion: new.clone(),
                        state: t.state,
                        check,
                        unit: unit.clone(),
                        room: room.clone(),
                        patient: patient.map(|(id, _)| id),
                        overrides: 0,
                        hard_stops: 0,
                    }));
                    let rec = record(p, InfusionChange::Started, 0);
                    outbox.push(m.at, EventKind::PumpInfusion(Box::new(rec)));
                }
            }
        }
        // The pump's own limit events, from its lifetime counters: a repeat or a lost message
        // neither doubles nor loses one. The first report after Orderly starts afresh only sets
        // the baseline.
        for (hard, now) in [(false, t.soft_overrides_total), (true, t.hard_stops_total)] {
            let Some(now) = now else { continue };
            let before = if hard { p.hard_total } else { p.soft_total };
            if hard {
                p.hard_total = Some(now);
            } else {
                p.soft_total = Some(now);
            }
            let Some(before) = before else { continue };
            if now <= before {
                continue;
            }
            let n = now - before;
            if n > MAX_LIMIT_EVENTS {
                // No pump is reprogrammed that often between two reports (at most a minute
                // apart): a replaced board or a bad counter. The new value is the baseline.
                tracing::warn!(pump = %info.0.id, before, now, hard, "pump limit-event counter jumped; taken as a new baseline");
                continue;
            }
            if let Some(r) = &mut p.running {
                if hard {
                    r.hard_stops += n;
                } else {
                    r.overrides += n;
                }
            }
            let change = if hard {
                InfusionChange::HardStop
            } else {
                InfusionChange::SoftOverride
            };
            let rec = record(p, change, n);
            outbox.push(m.at, EventKind::PumpInfusion(Box::new(rec)));
        }
    }
}
