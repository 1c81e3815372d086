//! Alerts from rule files: each subject's facts are derived from its components when they
//! change, the rules of its kind are evaluated over them, and the alert lifecycle
//! ([`orderly_rules::Alerting`]) turns the results and the clock into alert events.
//!
//! A rule is not evaluated over facts no device has reported since start (a restart does not
//! resolve a bed's alert before the bed speaks again). A rule that fails while evaluating is
//! disabled, with a technical alert to admins, until the next reload; the others keep running.

use crate::bed_exit::BedExitState;
use crate::commands::CommandState;
use crate::devices::{BedFrame, PumpStatus};
use crate::falls::FallState;
use crate::locate::{Location, TagBattery};
use crate::outbox::Outbox;
use crate::par::ParSubject;
use crate::registry::{AssetInfo, PatientInfo, StaffInfo, Status, Subject};
use crate::turning::Turning;
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::reading::{BedHeight, ExitAlarm, PumpState, Surface};
use orderly_model::{Alert, EventKind, Timestamp};
use orderly_rules::{
    AlertCommand, Alerting, CommandError, Fact, Facts, ReloadSummary, RuleSet, SubjectType, schema,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Technical alert: a rule failed while evaluating and is disabled until the next reload.
pub const RULE_FAILED: &str = "orderly.rule-failed";
/// Technical alert: a changed rule set was rejected; the previous one keeps running.
pub const RULES_REJECTED: &str = "orderly.rules-rejected";

/// The rules in force.
#[derive(Resource)]
pub struct Rules {
    pub set: Arc<RuleSet>,
    /// Rules disabled after failing, with the error.
    pub disabled: BTreeMap<String, String>,
    /// Subject kinds some enabled rule is about.
    wanted: BTreeSet<SubjectType>,
}

impl Rules {
    fn new(set: Arc<RuleSet>) -> Self {
        let wanted = set
            .rules
            .iter()
            .filter(|r| r.enabled)
            .map(|r| r.subject)
            .collect();
        Rules {
            set,
            disabled: BTreeMap::new(),
            wanted,
        }
    }
}

/// Who counts as a caregiver in a room (`[presence]` in detectors.toml).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceConfig {
    pub caregiver_roles: Vec<String>,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            caregiver_roles: ["nurse", "charge_nurse", "aide", "physician"]
                .map(String::from)
                .into(),
        }
    }
}

#[derive(Resource, Clone)]
pub(crate) struct Presence {
    pub(crate) caregivers: BTreeSet<String>,
    /// Room index -> roles of the staff present there, sorted.
    rooms: BTreeMap<u32, Vec<String>>,
    /// Where each staff member was counted (room, present).
    counted: BTreeMap<Entity, (u32, bool)>,
}

/// Each bundle rule's last standing on each subject: (rule, subject) -> (applies, compliant).
#[derive(Resource, Default)]
pub struct Compliance(pub BTreeMap<(String, String), (bool, bool)>);

/// Open alerts and the hold, clearing and escalation timers behind them.
#[derive(Resource, Default)]
pub struct ActiveAlerts(pub Alerting);

/// The facts rules read about one subject, rebuilt when its inputs change.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct SubjectFacts(pub Facts, Option<(u32, bool, bool)>);

impl SubjectFacts {
    pub fn facts(&self) -> &Facts {
        &self.0
    }

    /// Facts of a subject that is not located (a PAR level).
    pub(crate) fn new(facts: Facts) -> Self {
        SubjectFacts(facts, None)
    }
}

/// Set when every subject must be evaluated again (a new rule set).
#[derive(Resource, Default)]
pub(crate) struct Reevaluate(bool);

pub struct AlertsPlugin {
    pub rules: Arc<RuleSet>,
    pub presence: PresenceConfig,
}

impl Capability for AlertsPlugin {
    fn name(&self) -> &'static str {
        "alerts"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<ActiveAlerts>();
        world.init_resource::<Compliance>();
        world.insert_resource(Rules::new(self.rules.clone()));
        world.insert_resource(Presence {
            caregivers: self.presence.caregiver_roles.iter().cloned().collect(),
            rooms: BTreeMap::new(),
            counted: BTreeMap::new(),
        });
        world.insert_resource(Reevaluate(true));
        schedule.add_systems((build_facts, evaluate, tick).chain().in_set(Phase::Rules));
    }
}

/// The rule subject kinds an entity is.
fn types_of(asset: Option<&AssetInfo>, patient: bool, staff: bool) -> Vec<SubjectType> {
    let mut t = Vec::new();
    if let Some(a) = asset {
        match a.0.kind.as_str() {
            "bed" => t.push(SubjectType::Bed),
            "infusion_pump" => t.push(SubjectType::Pump),
            _ => {}
        }
        t.push(SubjectType::Asset);
    }
    if patient {
        t.push(SubjectType::Patient);
    }
    if staff {
        t.push(SubjectType::Staff);
    }
    t
}

type SubjectItem<'a> = (
    Entity,
    &'a Subject,
    Option<&'a AssetInfo>,
    Option<&'a PatientInfo>,
    Option<&'a StaffInfo>,
    Option<&'a BedFrame>,
    Option<&'a PumpStatus>,
    Option<&'a Location>,
    Option<&'a Status>,
    Option<&'a TagBattery>,
    Option<&'a FallState>,
    Option<&'a BedExitState>,
    Option<&'a Turning>,
    Option<&'a CommandState>,
    Option<&'a crate::maintenance::Service>,
);

#[allow(clippy::type_complexity, clippy::too_many_arguments)]
fn build_facts(
    site: Res<Site>,
    registry: Res<Registry>,
    rules: Res<Rules>,
    mut presence: ResMut<Presence>,
    reevaluate: Res<Reevaluate>,
    changed: Query<
        Entity,
        Or<(
            Changed<BedFrame>,
            Changed<PumpStatus>,
            Changed<Status>,
            Changed<TagBattery>,
            Changed<FallState>,
            Changed<BedExitState>,
            Changed<Turning>,
            Changed<CommandState>,
            Changed<crate::maintenance::Service>,
        )>,
    >,
    // A location changes on every sighting (last seen); only a new room or presence matters.
    moved: Query<(Entity, &Location), Changed<Location>>,
    staff_moved: Query<(Entity, &Location), (With<StaffInfo>, Changed<Location>)>,
    staff: Query<(Entity, &StaffInfo, &Location)>,
    subjects: Query<SubjectItem<'static>>,
    mut facts: Query<&mut SubjectFacts>,
    mut commands: Commands,
) {
    if rules.wanted.is_empty() {
        return;
    }
    let mut dirty: BTreeSet<Entity> = changed.iter().collect();
    dirty.extend(
        moved
            .iter()
            .filter(|(e, l)| {
                facts
                    .get(*e)
                    .map_or(true, |f| f.1 != Some((l.room, l.present, l.lost)))
            })
            .map(|(e, _)| e),
    );
    let all = reevaluate.0;
    // Staff moved: rooms whose presence changed make their occupants dirty.
    let staff_changed = staff_moved
        .iter()
        .any(|(e, l)| presence.counted.get(&e) != Some(&(l.room, l.present)));
    if all || staff_changed {
        let mut rooms: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        presence.counted.clear();
        for (e, s, loc) in &staff {
            presence.counted.insert(e, (loc.room, loc.present));
            if loc.present {
                rooms.entry(loc.room).or_default().push(s.0.role.clone());
            }
        }
        for roles in rooms.values_mut() {
            roles.sort_unstable();
        }
        let touched: BTreeSet<u32> = rooms
            .iter()
            .filter(|(r, v)| presence.rooms.get(r) != Some(v))
            .map(|(r, _)| *r)
            .chain(
                presence
                    .rooms
                    .keys()
                    .filter(|r| !rooms.contains_key(r))
                    .copied(),
            )
            .collect();
        if !touched.is_empty() {
            for item in &subjects {
                if item.7.is_some_and(|l| touched.contains(&l.room)) {
                    dirty.insert(item.0);
                }
            }
        }
        presence.rooms = rooms;
    }
    // A bed's patient follows the bed, and the bed follows its patient.
    let mut linked = Vec::new();
    for e in &dirty {
        if let Ok(item) = subjects.get(*e) {
            if item.2.is_some_and(|a| a.0.kind == "bed")
                && let Some(p) = registry.bed_patient.get(&item.1.id)
            {
                linked.push(*p);
            }
            if let Some(p) = item.3
                && let Some(b) = registry.subjects.get(&p.0.bed)
            {
                linked.push(*b);
            }
        }
    }
    dirty.extend(linked);
    let ctx = FactCtx {
        site: &site,
        registry: &registry,
        presence: &presence,
        subjects: &subjects,
    };
    let mut build = |e: Entity| {
        let Ok(item) = subjects.get(e) else { return };
        let types = types_of(item.2, item.3.is_some(), item.4.is_some());
        if !types.iter().any(|t| rules.wanted.contains(t)) {
            return;
        }
        let new = SubjectFacts(
            ctx.facts(&item, &types),
            item.7.map(|l| (l.room, l.present, l.lost)),
        );
        match facts.get_mut(e) {
            Ok(mut f) => {
                f.set_if_neq(new);
            }
            Err(_) => {
                commands.entity(e).insert(new);
            }
        }
    };
    if all {
        for item in &subjects {
            build(item.0);
        }
    } else {
        for e in dirty {
            build(e);
        }
    }
}

struct FactCtx<'a, 'w, 's> {
    site: &'a Site,
    registry: &'a Registry,
    presence: &'a Presence,
    subjects: &'a Query<'w, 's, SubjectItem<'static>>,
}

impl FactCtx<'_, '_, '_> {
    fn lost(loc: Option<&Location>) -> bool {
        loc.is_some_and(|l| l.lost)
    }

    fn facts(&self, item: &SubjectItem<'_>, types: &[SubjectType]) -> Facts {
        let (
            _,
            subject,
            asset,
            patient,
            staff,
            bed,
            pump,
            loc,
            status,
            battery,
            fall,
            exit,
            turn,
            cmd,
            service,
        ) = *item;
        let mut f = Facts::default();
        let groups: BTreeSet<&str> = types.iter().flat_map(|t| t.groups()).copied().collect();
        // The bed of a patient, and the patient of a bed.
        let patient_bed = patient
            .and_then(|p| self.registry.subjects.get(&p.0.bed))
            .and_then(|e| self.subjects.get(*e).ok());
        let bed_patient = asset
            .filter(|a| a.0.kind == "bed")
            .and_then(|_| self.registry.bed_patient.get(&subject.id))
            .and_then(|e| self.subjects.get(*e).ok());
        // Where the subject is: a patient where their wristband is heard, else in their bed's room.
        let room_loc = match patient {
            Some(_) => loc
                .filter(|l| l.present)
                .or_else(|| patient_bed.and_then(|b| b.7)),
            None => loc,
        };
        if groups.contains("bed") {
            let (frame, exit, cmd) = match patient {
                Some(_) => (
                    patient_bed.and_then(|b| b.5),
                    patient_bed.and_then(|b| b.11),
                    patient_bed.and_then(|b| b.13),
                ),
                None => (bed, exit, cmd),
            };
            let failed = cmd.and_then(|c| c.failed.clone());
            f.set("bed", "command_failed", Fact::Bool(failed.is_some()));
            f.set(
                "bed",
                "command_failure",
                Fact::String(failed.unwrap_or_default()),
            );
            let id = match patient {
                Some(p) => p.0.bed.clone(),
                None => subject.id.clone(),
            };
            bed_facts(&mut f, id, frame);
            exit_facts(&mut f, exit);
            // Neither its state nor its load cells heard from yet: rules on the bed wait.
            if frame.is_none() && exit.is_none_or(|x| x.zone.is_none()) {
                f.unreported.push("bed");
            }
        }
        if groups.contains("pump") {
            pump_facts(&mut f, &subject.id, pump);
        }
        if groups.contains("asset")
            && let Some(a) = asset
        {
            let s = |n, v| ("asset", n, v);
            for (g, n, v) in [
                s("id", Fact::String(a.0.id.clone())),
                s("kind", Fact::String(a.0.kind.clone())),
                s(
                    "status",
                    Fact::String(status.map_or(a.0.status, |s| s.0).as_str().to_string()),
                ),
                s("model", Fact::String(a.0.model.clone().unwrap_or_default())),
                s(
                    "home_unit",
                    Fact::String(a.0.unit.clone().unwrap_or_default()),
                ),
                s("located", Fact::Bool(loc.is_some())),
                s("lost", Fact::Bool(Self::lost(loc))),
                s(
                    "recalled",
                    Fact::Bool(service.is_some_and(|s| !s.recalls.is_empty())),
                ),
                s(
                    "open_work_orders",
                    Fact::Int(service.map_or(0, |s| s.open.len() as i64)),
                ),
            ] {
                f.set(g, n, v);
            }
            battery_facts(&mut f, "asset", battery);
        }
        if groups.contains("patient") {
            // The patient's own wristband: the subject's, or the patient in this bed's.
            let band = match patient {
                Some(_) => Some((subject, loc, battery)),
                None => bed_patient.map(|i| (i.1, i.7, i.9)),
            };
            let fallen = match patient {
                Some(_) => fall,
                None => bed_patient.and_then(|i| i.10),
            }
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
            patient_facts(&mut f, patient.or(bed_patient.and_then(|i| i.3)));
            let turn = match patient {
                Some(_) => turn,
                None => bed_patient.and_then(|i| i.12),
            };
            turn_facts(&mut f, turn);
            let (located, lost) =
                band.map_or((false, false), |(_, l, _)| (l.is_some(), Self::lost(l)));
            f.set("patient", "located", Fact::Bool(located));
            f.set("patient", "lost", Fact::Bool(lost));
            battery_facts(&mut f, "patient", band.and_then(|b| b.2));
        }
        if groups.contains("staff")
            && let Some(s) = staff
        {
            f.set("staff", "id", Fact::String(s.0.id.clone()));
            f.set("staff", "name", Fact::String(s.0.name.clone()));
            f.set("staff", "role", Fact::String(s.0.role.clone()));
            f.set("staff", "located", Fact::Bool(loc.is_some()));
            f.set("staff", "lost", Fact::Bool(Self::lost(loc)));
            battery_facts(&mut f, "staff", battery);
        }
        // The room, and where alerts go.
        let room = room_loc.map(|l| &self.site.0.rooms[l.room as usize]);
        let roles = room_loc
            .and_then(|l| self.presence.rooms.get(&l.room))
            .cloned()
            .unwrap_or_default();
        let text = |o: Option<&String>| Fact::String(o.cloned().unwrap_or_default());
        f.set("room", "known", Fact::Bool(room.is_some()));
        f.set("room", "id", text(room.map(|r| &r.id)));
        f.set("room", "name", text(room.map(|r| &r.name)));
        f.set(
            "room",
            "kind",
            Fact::String(
                room.map(|r| r.kind.as_str().to_string())
                    .unwrap_or_default(),
            ),
        );
        f.set("room", "unit", text(room.and_then(|r| r.unit.as_ref())));
        f.set("room", "floor", text(room.map(|r| &r.floor)));
        f.set(
            "room",
            "caregiver_present",
            Fact::Bool(roles.iter().any(|r| self.presence.caregivers.contains(r))),
        );
        f.set("room", "staff_count", Fact::Int(roles.len() as i64));
        f.set("room", "roles_present", Fact::StringList(roles));
        f.room = room.map(|r| r.id.clone());
        f.unit = room
            .and_then(|r| r.unit.clone())
            .or_else(|| asset.and_then(|a| a.0.unit.clone()))
            .or_else(|| patient_bed.and_then(|b| b.2).and_then(|a| a.0.unit.clone()))
            .or_else(|| staff.and_then(|s| s.0.units.first().cloned()));
        f
    }
}

/// `tag_battery_known` and `tag_battery_pct` of `group` (100 when not reported, so a rule that
/// forgets `known` stays quiet rather than alerting on every tag without a battery field).
fn battery_facts(f: &mut Facts, group: &'static str, battery: Option<&TagBattery>) {
    let pct = battery.and_then(|b| b.0);
    f.set(group, "tag_battery_known", Fact::Bool(pct.is_some()));
    f.set(
        group,
        "tag_battery_pct",
        Fact::Double(pct.map_or(100.0, f64::from)),
    );
}

fn bed_facts(f: &mut Facts, id: String, frame: Option<&BedFrame>) {
    let g = "bed";
    f.set(g, "id", Fact::String(id));
    f.set(g, "reported", Fact::Bool(frame.is_some()));
    let s = frame.map(|b| &b.state);
    f.set(g, "occupied", Fact::Bool(s.is_some_and(|s| s.occupied)));
    f.set(
        g,
        "hob_deg",
        Fact::Double(s.map_or(0.0, |s| f64::from(s.hob_deg))),
    );
    let height = match s.map(|s| s.height) {
        Some(BedHeight::Raised) => "raised",
        _ => "low",
    };
    f.set(g, "height", Fact::String(height.into()));
    f.set(g, "brakes", Fact::Bool(s.is_some_and(|s| s.brakes)));
    let rails = s.map_or(0, |s| {
        [
            s.rails.head_left,
            s.rails.head_right,
            s.rails.foot_left,
            s.rails.foot_right,
        ]
        .iter()
        .filter(|r| **r)
        .count()
    });
    f.set(g, "rails_up", Fact::Int(rails as i64));
    let upper = s.map_or(0, |s| {
        usize::from(s.rails.head_left) + usize::from(s.rails.head_right)
    });
    f.set(g, "upper_rails_up", Fact::Int(upper as i64));
    let exit = match s.map(|s| s.exit_alarm) {
        Some(ExitAlarm::Armed) => "armed",
        Some(ExitAlarm::Alarming) => "alarming",
        _ => "off",
    };
    f.set(g, "exit_alarm", Fact::String(exit.into()));
    let surface = match s.map(|s| s.surface) {
        Some(Surface::Alternating) => "alternating",
        Some(Surface::Rotation) => "rotation",
        _ => "static",
    };
    f.set(g, "surface", Fact::String(surface.into()));
    f.set(g, "moving", Fact::Bool(s.is_some_and(|s| s.moving)));
}

/// What the bed-exit detector and the bed's own alarm say (crate::bed_exit).
fn exit_facts(f: &mut Facts, exit: Option<&BedExitState>) {
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
}

/// The patient's repositioning timer (crate::turning).
fn turn_facts(f: &mut Facts, turn: Option<&Turning>) {
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

fn pump_facts(f: &mut Facts, id: &str, pump: Option<&PumpStatus>) {
    let g = "pump";
    let t = pump.map(|p| &p.telemetry);
    f.set(g, "id", Fact::String(id.to_string()));
    f.set(g, "reported", Fact::Bool(t.is_some()));
    let state = match t.map(|t| t.state) {
        Some(PumpState::Idle) => "idle",
        Some(PumpState::Infusing) => "infusing",
        Some(PumpState::Paused) => "paused",
        Some(PumpState::Alarm) => "alarm",
        _ => "off",
    };
    f.set(g, "state", Fact::String(state.into()));
    f.set(
        g,
        "battery_pct",
        Fact::Double(t.map_or(0.0, |t| f64::from(t.battery_pct))),
    );
    f.set(g, "on_battery", Fact::Bool(t.is_some_and(|t| t.on_battery)));
    f.set(
        g,
        "runtime_hours",
        Fact::Double(t.map_or(0.0, |t| t.runtime_hours)),
    );
    f.set(
        g,
        "occlusion_alarms_total",
        Fact::Int(t.map_or(0, |t| t.occlusion_alarms_total.min(i64::MAX as u64) as i64)),
    );
    f.set(
        g,
        "faults",
        Fact::StringList(t.map(|t| t.faults.clone()).unwrap_or_default()),
    );
    if t.is_none() {
        f.unreported.push("pump");
    }
}

fn patient_facts(f: &mut Facts, p: Option<&PatientInfo>) {
    let g = "patient";
    let p = p.map(|p| &p.0);
    f.set(g, "assigned", Fact::Bool(p.is_some()));
    f.set(
        g,
        "id",
        Fact::String(p.map(|p| p.id.clone()).unwrap_or_default()),
    );
    f.set(
        g,
        "name",
        Fact::String(p.map(|p| p.name.clone()).unwrap_or_default()),
    );
    let morse = p.map_or(0, |p| p.morse);
    let braden = p.map_or(23, |p| p.braden);
    f.set(g, "morse", Fact::Int(i64::from(morse)));
    f.set(
        g,
        "fall_risk",
        Fact::String(schema::fall_risk(morse).into()),
    );
    f.set(g, "braden", Fact::Int(i64::from(braden)));
    f.set(
        g,
        "pressure_risk",
        Fact::String(schema::pressure_risk(braden).into()),
    );
    f.set(g, "ventilated", Fact::Bool(p.is_some_and(|p| p.ventilated)));
    f.set(
        g,
        "elopement_risk",
        Fact::Bool(p.is_some_and(|p| p.elopement_risk)),
    );
}

#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub(crate) fn evaluate(
    clock: Res<Clock>,
    mut rules: ResMut<Rules>,
    mut reevaluate: ResMut<Reevaluate>,
    subjects: Query<(
        AnyOf<(&Subject, &ParSubject)>,
        &SubjectFacts,
        Option<&AssetInfo>,
        Has<PatientInfo>,
        Has<StaffInfo>,
    )>,
    changed: Query<Entity, Changed<SubjectFacts>>,
    mut alerts: ResMut<ActiveAlerts>,
    mut compliance: ResMut<Compliance>,
    mut wants: Option<ResMut<crate::commands::Wants>>,
    mut work_wants: Option<ResMut<crate::maintenance::RuleWants>>,
    mut outbox: ResMut<Outbox>,
) {
    let all = std::mem::take(&mut reevaluate.0);
    let now = clock.now;
    let items: Vec<_> = if all {
        subjects.iter().collect()
    } else {
        changed
            .iter()
            .filter_map(|e| subjects.get(e).ok())
            .collect()
    };
    if items.is_empty() {
        return;
    }
    let id = |s: &(Option<&Subject>, Option<&ParSubject>)| match s {
        (Some(s), _) => s.id.clone(),
        (None, Some(p)) => p.id.clone(),
        (None, None) => String::new(),
    };
    let mut items: Vec<_> = items.into_iter().map(|i| (id(&i.0), i)).collect();
    items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let set = rules.set.clone();
    for (subject_id, (which, facts, asset, patient, staff)) in items {
        let types = match which {
            (_, Some(_)) => vec![SubjectType::Par],
            _ => types_of(asset, patient, staff),
        };
        let mut ctx = None;
        for rule in &set.rules {
            if !rule.enabled
                || !types.contains(&rule.subject)
                || rules.disabled.contains_key(&rule.id)
            {
                continue;
            }
            if facts.0.unreported.iter().any(|g| rule.groups().contains(g)) {
                continue;
            }
            let ctx = ctx.get_or_insert_with(|| facts.0.context());
            if let Some(bundle) = &rule.bundle {
                match rule.compliance_in(ctx) {
                    Ok(Some(now_is)) => {
                        let key = (rule.id.clone(), subject_id.clone());
                        // Unknown until now is "not applying": no event for that.
                        if compliance.0.get(&key).copied().unwrap_or((false, false)) != now_is {
                            compliance.0.insert(key, now_is);
                            outbox.push(
                                now,
                                EventKind::BundleChanged {
                                    bundle: bundle.clone(),
                                    rule: rule.id.clone(),
                                    subject: subject_id.clone(),
                                    applies: now_is.0,
                                    compliant: now_is.1,
                                    room: facts.0.room.clone(),
                                    unit: facts.0.unit.clone(),
                                },
                            );
                        }
                    }
                    Ok(None) => {}
                    // The same expressions fail in `standing_in` just below, which disables the rule.
                    Err(_) => {}
                }
            }
            let (when, holds) = match rule.standing_in(ctx) {
                Ok(s) => s,
                Err(err) => {
                    disable(
                        &mut rules,
                        &mut alerts,
                        &mut outbox,
                        rule,
                        &subject_id,
                        err,
                        now,
                    );
                    continue;
                }
            };
            match &rule.action {
                orderly_rules::Action::Alert => {
                    for e in
                        alerts
                            .0
                            .observe_standing(rule, &subject_id, (when, holds), &facts.0, now)
                    {
                        outbox.push(now, e);
                    }
                }
                // A maintenance work order: the maintenance capability holds and opens it.
                orderly_rules::Action::WorkOrder => {
                    if let Some(w) = work_wants.as_deref_mut() {
                        w.0.push((
                            rule.id.clone(),
                            subject_id.clone(),
                            holds.then(|| rule.message.render(&facts.0)),
                        ));
                    }
                }
                // A bed command or suggestion: the commands capability holds, checks and sends it.
                action @ (orderly_rules::Action::BedCommand(_)
                | orderly_rules::Action::BedSuggestion(_)) => {
                    if let Some(w) = wants.as_deref_mut() {
                        let suggestion = matches!(action, orderly_rules::Action::BedSuggestion(_));
                        w.0.push(crate::commands::Want {
                            rule: rule.id.clone(),
                            bed: subject_id.clone(),
                            when,
                            holds,
                            message: (holds && suggestion).then(|| rule.message.render(&facts.0)),
                            room: facts.0.room.clone(),
                            unit: facts.0.unit.clone(),
                        });
                    }
                }
            }
        }
    }
}

/// A rule that failed while evaluating is disabled until the next reload, with a technical
/// alert to admins.
fn disable(
    rules: &mut Rules,
    alerts: &mut ActiveAlerts,
    outbox: &mut Outbox,
    rule: &orderly_rules::Rule,
    subject_id: &str,
    err: orderly_rules::EvalError,
    now: Timestamp,
) {
    tracing::error!(rule = %rule.id, subject = %subject_id, error = %err, "rule failed; disabled until the next reload");
    rules.disabled.insert(rule.id.clone(), err.to_string());
    let msg = format!(
        "Rule {} ({}) failed on {} and is disabled until the rules are reloaded: {err}",
        rule.id, rule.defined_at, subject_id
    );
    if let Some(e) = alerts.0.raise_system(
        RULE_FAILED,
        &rule.id,
        "A rule failed and is disabled",
        msg,
        now,
    ) {
        outbox.push(now, e);
    }
}

fn tick(
    clock: Res<Clock>,
    rules: Res<Rules>,
    mut alerts: ResMut<ActiveAlerts>,
    mut outbox: ResMut<Outbox>,
) {
    for e in alerts.0.tick(&rules.set, clock.now) {
        outbox.push(clock.now, e);
    }
}

/// Applies an operator's action; the event goes out with the next step.
pub(crate) fn command(world: &mut World, cmd: AlertCommand) -> Result<(u64, Alert), CommandError> {
    let now = world.resource::<Clock>().now;
    let mut alerts = world.resource_mut::<ActiveAlerts>();
    let ev = match cmd {
        AlertCommand::Acknowledge { id, by } => alerts.0.acknowledge(&id, &by, now)?,
        AlertCommand::Resolve { id, by, reason } => alerts.0.resolve(&id, &by, &reason, now)?,
        AlertCommand::Silence { id, by, for_ms } => alerts.0.silence(&id, &by, for_ms, now)?,
    };
    let alert = ev
        .alert()
        .cloned()
        .ok_or_else(|| CommandError::NotFound(String::new()))?;
    let mut outbox = world.resource_mut::<Outbox>();
    outbox.push(now, ev);
    Ok((outbox.last_seq(), alert))
}

/// Swaps the rule set at once. Surviving rules keep their hold timers, open alerts and
/// escalation steps; alerts of removed rules are resolved; failed rules get another chance.
pub(crate) fn replace_rules(world: &mut World, set: Arc<RuleSet>) -> ReloadSummary {
    let now = world.resource::<Clock>().now;
    let old = world.resource::<Rules>().set.clone();
    let summary = set.diff(&old);
    world.insert_resource(Rules::new(set.clone()));
    world.resource_mut::<Reevaluate>().0 = true;
    let mut events = Vec::new();
    {
        let mut alerts = world.resource_mut::<ActiveAlerts>();
        events.extend(alerts.0.retain_rules(&set, now));
        for subject in alerts.0.system_subjects(RULE_FAILED) {
            events.extend(
                alerts
                    .0
                    .resolve_system(RULE_FAILED, &subject, "rules reloaded", now),
            );
        }
        events.extend(alerts.0.resolve_system(
            RULES_REJECTED,
            "rules",
            "a valid rule set was loaded",
            now,
        ));
    }
    let mut outbox = world.resource_mut::<Outbox>();
    for e in events {
        outbox.push(now, e);
    }
    summary
}

/// New caregiver roles; rooms are re-examined at the next step.
pub(crate) fn set_presence(world: &mut World, config: &PresenceConfig) {
    if let Some(mut p) = world.get_resource_mut::<Presence>() {
        p.caregivers = config.caregiver_roles.iter().cloned().collect();
        p.rooms.clear();
    }
    if let Some(mut r) = world.get_resource_mut::<Reevaluate>() {
        r.0 = true;
    }
}

/// A changed rule set was rejected: the old one keeps running; admins are told why.
pub(crate) fn rules_rejected(world: &mut World, report: String) {
    let now = world.resource::<Clock>().now;
    let ev = world.resource_mut::<ActiveAlerts>().0.raise_system(
        RULES_REJECTED,
        "rules",
        "Changed rules were rejected; the previous rules keep running",
        report,
        now,
    );
    if let Some(e) = ev {
        world.resource_mut::<Outbox>().push(now, e);
    }
}

/// What the site has, to check the recipients of rules: the floorplan's units, and the staff
/// roles a seed may use (whether or not today's staff list has one) and API roles.
pub fn known(
    floorplan: &orderly_floorplan::Floorplan,
    seed: &orderly_model::Seed,
) -> orderly_rules::Known {
    let mut roles: BTreeSet<String> = orderly_model::seed::STAFF_ROLES
        .iter()
        .map(|r| r.to_string())
        .collect();
    roles.extend(
        orderly_model::Role::ALL
            .iter()
            .map(|r| r.as_str().to_string()),
    );
    orderly_rules::Known {
        units: floorplan.units.iter().map(|u| u.id.clone()).collect(),
        roles,
        kinds: seed.assets.iter().map(|a| a.kind.clone()).collect(),
        models: seed.assets.iter().fold(
            Default::default(),
            |mut m: std::collections::BTreeMap<String, BTreeSet<String>>, a| {
                let e = m.entry(a.kind.clone()).or_default();
                if let Some(model) = &a.model {
                    e.insert(model.clone());
                }
                m
            },
        ),
    }
}

/// Puts back the alerts that were open before a restart.
pub(crate) fn restore(world: &mut World, alerts: Vec<Alert>) {
    if let Some(mut active) = world.get_resource_mut::<ActiveAlerts>() {
        active.0.restore(alerts);
    }
}
