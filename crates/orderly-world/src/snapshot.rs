//! The read model ([`Snapshot`]), kept up to date incrementally: after each step, the `refresh`
//! system rebuilds the views of the entities whose location, status or device state changed,
//! in maps that share structure, so handing a snapshot to the API costs O(1).

use crate::alerts::ActiveAlerts;
use crate::bed_exit::BedExitState;
use crate::devices::{BedFrame, PumpStatus};
use crate::ingest::IngestStats;
use crate::locate::{Location, TagBattery};
use crate::maintenance::{Meters, Policies, Service};
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, PatientInfo, StaffInfo, Status, Subject};
use crate::turning::Turning;
use crate::{Capability, Clock, Phase, Site};
use bevy_ecs::prelude::*;
use orderly_model::Snapshot;
use orderly_model::maintenance::Catalogue;
use orderly_model::view::MaintenanceView;
use orderly_model::view::{
    AssetView, BedExitView, ExitView, LocationView, PatientView, StaffView, TurningView,
};
use std::collections::{BTreeSet, HashMap};

/// The read model and the room each subject is listed under.
#[derive(Resource, Default)]
pub struct ReadModel {
    snap: Snapshot,
    room_of: HashMap<String, String>,
    /// A bed asset id -> the room of its place on the floorplan, and the room's unit.
    bed_place: HashMap<String, (String, Option<String>)>,
    /// A bed asset id -> the patients listed in it (a bed's change re-places them without a
    /// search of every patient).
    patients_of_bed: HashMap<String, BTreeSet<String>>,
}

fn view(site: &Site, l: &Location) -> LocationView {
    let r = &site.0.rooms[l.room as usize];
    LocationView {
        room: r.id.clone(),
        room_name: r.name.clone(),
        floor: r.floor.clone(),
        unit: r.unit.clone(),
        since: l.since,
        last_seen: l.last_seen,
        confidence: l.confidence,
        present: l.present,
        lost: l.lost,
    }
}

type ViewQuery<'a> = (
    &'a Subject,
    Option<&'a Location>,
    Option<&'a AssetInfo>,
    Option<&'a Status>,
    Option<&'a BedFrame>,
    Option<&'a PumpStatus>,
    Option<&'a StaffInfo>,
    Option<&'a PatientInfo>,
    Option<&'a TagBattery>,
    Option<&'a BedExitState>,
    Option<&'a Turning>,
    Option<&'a Meters>,
    Option<&'a Service>,
    Option<&'a crate::turnover::Turnover>,
    (
        Option<&'a crate::vitals::VitalSigns>,
        Option<&'a crate::infusion::PumpInfusion>,
    ),
);

impl ReadModel {
    /// Lists `id` under `room` (none: under no room). A room's list is a persistent set: a
    /// move costs O(log n), not a copy of everyone in the room (a store room holds hundreds).
    fn set_room(&mut self, id: &str, room: Option<&str>) {
        let old = match self.room_of.get(id) {
            old if old.map(String::as_str) == room => return,
            old => old.cloned(),
        };
        if let Some(old) = old {
            if let Some(list) = self.snap.rooms.get_mut(old.as_str()) {
                list.remove(id);
                if list.is_empty() {
                    self.snap.rooms.remove(old.as_str());
                }
            }
            self.room_of.remove(id);
        }
        if let Some(room) = room {
            match self.snap.rooms.get_mut(room) {
                Some(list) => {
                    list.insert(id.into());
                }
                None => {
                    let mut list = orderly_model::view::Occupants::default();
                    list.insert(id.into());
                    self.snap.rooms.insert(room.into(), list);
                }
            }
            self.room_of.insert(id.to_string(), room.to_string());
        }
    }

    /// Rebuilds one entity's view; returns the bed asset id when it is a bed (its patient follows).
    fn update(&mut self, site: &Site, policies: &Catalogue, item: ViewQuery) -> Option<String> {
        let (
            subject,
            loc,
            asset,
            status,
            bed,
            pump,
            staff,
            patient,
            battery,
            exit,
            turning,
            meters,
            service,
            turnover,
            (vitals, infusion),
        ) = item;
        let tag_battery_pct = battery.and_then(|b| b.0);
        let location = loc.map(|l| view(site, l));
        self.set_room(&subject.id, location.as_ref().map(|l| l.room.as_str()));
        if let Some(AssetInfo(a)) = asset {
            let maintenance = policies.policy(&a.kind, a.model.as_deref()).map(|p| {
                let last = service.map(|s| s.last).unwrap_or_default();
                MaintenanceView {
                    risk: p.risk,
                    next_due: p.next_due(&last, a.service_due),
                    usage: meters.map(|m| m.usage).unwrap_or_default(),
                    last_service: last,
                    occlusion_alarms: meters.and_then(|m| m.occlusions),
                    battery_pct: meters.and_then(|m| m.battery_pct),
                    work_orders: service.map(|s| s.open.clone()).unwrap_or_default(),
                    policy: p.defined_at.clone(),
                }
            });
            let v = AssetView {
                id: a.id.clone(),
                kind: a.kind.clone(),
                tag: a.tag.clone(),
                device: a.device.clone(),
                model: a.model.clone(),
                serial: a.serial.clone(),
                unit: a.unit.clone(),
                status: status.map_or(a.status, |s| s.0),
                service_due: maintenance
                    .as_ref()
                    .and_then(|m| m.next_due)
                    .or(a.service_due),
                location,
                tag_battery_pct,
                bed: bed.map(|b| b.state.clone()),
                pump: pump.map(|p| Box::new(p.telemetry.clone())),
                bed_exit: exit.map(|x| {
                    Box::new(BedExitView {
                        watching: x.zone.map_or("off", |z| z.as_str()).to_string(),
                        in_bed: x.in_bed,
                        armed: x.armed,
                        exit: x.exited.as_ref().map(|e| ExitView {
                            at: e.at,
                            source: e.source.to_string(),
                            zone: e.zone.as_str().to_string(),
                            assisted: e.assisted,
                        }),
                    })
                }),
                maintenance: maintenance.map(Box::new),
                turnover: turnover.map(|t| {
                    Box::new(orderly_model::view::TurnoverView {
                        state: t.state,
                        since: t.since,
                        vacated_at: t.vacated_at,
                        reason: t.reason.clone(),
                    })
                }),
                place: self.bed_place.get(&a.id).map(|(room, _)| room.clone()),
                infusion: infusion.and_then(|p| p.view()).map(Box::new),
            };
            // A device repeating its state changes its component, not its view: the
            // persistent map's path is copied (and a bed's patient re-placed) only for a change.
            if !orderly_model::view::put(&mut self.snap.assets, &a.id, v) {
                return None;
            }
            return (a.kind == "bed").then(|| a.id.clone());
        }
        if let Some(StaffInfo(s)) = staff {
            let v = StaffView {
                id: s.id.clone(),
                name: s.name.clone(),
                role: s.role.clone(),
                units: s.units.clone(),
                badge: s.badge.clone(),
                location,
                tag_battery_pct,
            };
            orderly_model::view::put(&mut self.snap.staff, &s.id, v);
        } else if let Some(PatientInfo(p)) = patient {
            let mut v = PatientView {
                id: p.id.clone(),
                name: p.name.clone(),
                bed: p.bed.clone(),
                room: None,
                unit: None,
                morse: p.morse,
                braden: p.braden,
                ventilated: p.ventilated,
                wearable: p.wearable.clone(),
                location,
                tag_battery_pct,
                record: p.record.clone(),
                news2: vitals.and_then(|v| {
                    let n = v.news.as_ref()?;
                    Some(orderly_model::view::News2View {
                        aggregate: n.aggregate,
                        response: n.response.as_str().to_string(),
                        complete: n.complete,
                        rise: v.rise,
                        scored_at: v.scored_at?,
                        due_at: v.due_at,
                        detail: v.detail(),
                    })
                }),
                turning: turning.map(|t| TurningView {
                    state: t.state.as_str().to_string(),
                    every_min: t.every_min,
                    last_turn: t.last_turn,
                    minutes: t.minutes,
                }),
            };
            self.place_patient(&mut v);
            self.put_patient(v);
        }
        None
    }

    /// A patient is in their bed's room (the wristband tells where they are without a located
    /// bed); with neither heard, in the room of their bed's place on the floorplan.
    fn place_patient(&self, p: &mut PatientView) {
        (p.room, p.unit) = self.placement(p);
    }

    /// Where a patient is: the room and unit `place_patient` gives them.
    fn placement(&self, p: &PatientView) -> (Option<String>, Option<String>) {
        let from_bed = self
            .snap
            .assets
            .get(p.bed.as_str())
            .and_then(|b| b.location.as_ref())
            .map(|l| (l.room.clone(), l.unit.clone()));
        let from_band = p
            .location
            .as_ref()
            .map(|l| (l.room.clone(), l.unit.clone()));
        if let Some((room, unit)) = from_bed.or(from_band) {
            (Some(room), unit)
        } else if let Some((room, unit)) = self.bed_place.get(&p.bed) {
            // Neither heard: where their bed's place is on the floorplan.
            (Some(room.clone()), unit.clone())
        } else {
            // Nor a place: the unit the census put them on (their bed's home unit).
            (
                None,
                self.snap
                    .assets
                    .get(p.bed.as_str())
                    .and_then(|b| b.unit.clone()),
            )
        }
    }

    /// Lists a patient's view, keeping the bed index; a view that is the same is kept.
    fn put_patient(&mut self, v: PatientView) {
        match self.snap.patients.get(v.id.as_str()) {
            Some(old) if **old == v => return,
            Some(old) if old.bed != v.bed => {
                if let Some(ids) = self.patients_of_bed.get_mut(&old.bed) {
                    ids.remove(&v.id);
                }
            }
            _ => {}
        }
        self.patients_of_bed
            .entry(v.bed.clone())
            .or_default()
            .insert(v.id.clone());
        let id = v.id.clone();
        orderly_model::view::put(&mut self.snap.patients, &id, v);
    }

    /// Takes a patient's view out, keeping the bed index.
    fn drop_patient(&mut self, id: &str) {
        if let Some(old) = self.snap.patients.remove(id)
            && let Some(ids) = self.patients_of_bed.get_mut(&old.bed)
        {
            ids.remove(id);
        }
    }

    /// Re-places the patients of a bed that changed; a view whose place is the same is kept.
    fn replace_patient_of_bed(&mut self, bed: &str) {
        let Some(ids) = self.patients_of_bed.get(bed) else {
            return;
        };
        let mut moved = Vec::new();
        for id in ids {
            if let Some(p) = self.snap.patients.get(id.as_str()) {
                let (room, unit) = self.placement(p);
                if room != p.room || unit != p.unit {
                    let mut v = (**p).clone();
                    (v.room, v.unit) = (room, unit);
                    moved.push(v);
                }
            }
        }
        for v in moved {
            let id = v.id.clone();
            orderly_model::view::put(&mut self.snap.patients, &id, v);
        }
    }
}

/// Which subjects changed a component their views show, one query per component: each scans
/// only the subjects that have it, and one of table storage is scanned as an array. (One query
/// with `Or<(Changed<..>, ..)>` over all twelve looked up every subject's twelve components, a
/// fifth of the world's time at 25,000 tags.)
type ChangedOf<'w, 's, C> = Query<'w, 's, Entity, Changed<C>>;

/// When the read model is brought up to date: by a snapshot ([`build`]), not by every step.
/// Under load the world steps hundreds of times a second and a snapshot is taken at most ten
/// times a second (and after a step that decided something): the views of what changed in
/// between are rebuilt once, and the per-component scans for changes run once, not per step.
#[derive(Resource)]
struct ReadModelDue {
    /// Holds `refresh` alone. Its change filters see every change since it last ran.
    schedule: Schedule,
    /// A patient was taken out of the census since the last refresh.
    discharged: bool,
    /// Steps since the last refresh.
    steps: u32,
}

/// Steps without a snapshot after which a step refreshes the read model itself: change
/// detection compares ticks that wrap, so a filter must not go unread for billions of them
/// (a world that nobody asked for a snapshot for months).
const UNREAD_STEPS: u32 = 100_000;

/// Last in every step: notes a discharge for the next refresh (bevy forgets removals after a
/// step), and refreshes the read model after `UNREAD_STEPS` steps without one.
fn note_step(world: &mut World) {
    let discharged = world.removed::<PatientInfo>().next().is_some();
    let steps = {
        let mut due = world.resource_mut::<ReadModelDue>();
        due.discharged |= discharged;
        due.steps = due.steps.saturating_add(1);
        due.steps
    };
    if steps >= UNREAD_STEPS {
        bring_up_to_date(world);
    }
}

/// Brings the read model up to date: the patients discharged since, then `refresh` over what
/// changed since it last ran.
pub(crate) fn bring_up_to_date(world: &mut World) {
    let Some(mut due) = world.remove_resource::<ReadModelDue>() else {
        return;
    };
    if std::mem::take(&mut due.discharged) {
        drop_discharged(world);
    }
    due.steps = 0;
    due.schedule.run(world);
    world.insert_resource(due);
}

/// Patients taken out of the census (discharged, merged away): out of the views.
fn drop_discharged(world: &mut World) {
    world.resource_scope(|world, mut model: Mut<ReadModel>| {
        let registry = world.resource::<crate::Registry>();
        let gone: Vec<orderly_model::view::Id> = model
            .snap
            .patients
            .keys()
            .filter(|id| !registry.subjects.contains_key(&***id))
            .cloned()
            .collect();
        for id in gone {
            model.drop_patient(&id);
            model.set_room(&id, None);
        }
    });
}

#[allow(clippy::type_complexity)]
fn refresh(
    site: Res<Site>,
    policies: Option<Res<Policies>>,
    mut model: ResMut<ReadModel>,
    views: Query<ViewQuery>,
    changed: (
        ChangedOf<Location>,
        ChangedOf<Status>,
        ChangedOf<BedFrame>,
        ChangedOf<PumpStatus>,
        ChangedOf<TagBattery>,
        ChangedOf<BedExitState>,
        ChangedOf<Turning>,
        ChangedOf<Service>,
        ChangedOf<PatientInfo>,
        ChangedOf<crate::turnover::Turnover>,
        ChangedOf<crate::vitals::VitalSigns>,
        ChangedOf<crate::infusion::PumpInfusion>,
    ),
) {
    let (c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11) = &changed;
    let mut subjects: Vec<Entity> = c0
        .iter()
        .chain(c1)
        .chain(c2)
        .chain(c3)
        .chain(c4)
        .chain(c5)
        .chain(c6)
        .chain(c7)
        .chain(c8)
        .chain(c9)
        .chain(c10)
        .chain(c11)
        .collect();
    if subjects.is_empty() {
        return;
    }
    subjects.sort_unstable();
    subjects.dedup();
    let empty = Catalogue::default();
    let policies = policies.as_deref().map_or(&empty, |p| &p.0);
    let mut beds = BTreeSet::new();
    for item in subjects.into_iter().filter_map(|e| views.get(e).ok()) {
        if let Some(bed) = model.update(&site, policies, item) {
            beds.insert(bed);
        }
    }
    for bed in beds {
        model.replace_patient_of_bed(&bed);
    }
}

/// Keeps the read model current: registered last, it runs at the end of every step.
pub struct ReadModelPlugin;

impl Capability for ReadModelPlugin {
    fn name(&self) -> &'static str {
        "read-model"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, _: &crate::WorldConfig) {
        world.init_resource::<ReadModel>();
        rebuild(world);
        let mut own = Schedule::default();
        own.set_executor(bevy_ecs::schedule::SingleThreadedExecutor::new());
        own.add_systems(refresh);
        world.insert_resource(ReadModelDue {
            schedule: own,
            discharged: false,
            steps: 0,
        });
        schedule.add_systems(note_step.in_set(Phase::Emit));
        // Its change filters start from here: the first snapshot reads only what changed since.
        bring_up_to_date(world);
    }
    /// Registered last: what every capability restored is in the views.
    fn restore(&self, world: &mut World, _: &orderly_model::Restored) {
        rebuild(world);
    }
    /// A new maintenance catalogue changes what is due.
    fn configure(&self, world: &mut World, _: &crate::WorldConfig) {
        rebuild(world);
    }
}

/// Builds the whole read model from scratch (at start and after a restore).
pub(crate) fn rebuild(world: &mut World) {
    let site = world.resource::<Site>().clone();
    let policies = world
        .get_resource::<Policies>()
        .map(|p| p.0.clone())
        .unwrap_or_default();
    let bed_place = world
        .resource::<crate::Registry>()
        .bed_room
        .iter()
        .map(|(bed, r)| {
            let room = &site.0.rooms[*r as usize];
            (bed.clone(), (room.id.clone(), room.unit.clone()))
        })
        .collect();
    let mut model = ReadModel {
        bed_place,
        ..ReadModel::default()
    };
    let mut q = world.query::<ViewQuery>();
    for item in q.iter(world) {
        model.update(&site, &policies, item);
    }
    let beds: Vec<String> = model
        .snap
        .assets
        .values()
        .filter(|a| a.kind == "bed")
        .map(|a| a.id.clone())
        .collect();
    for b in beds {
        model.replace_patient_of_bed(&b);
    }
    world.insert_resource(model);
}

/// The snapshot as of now: the read model brought up to date (O(what changed since the last
/// snapshot)), O(1) for its maps, plus the small parts that change every step.
pub(crate) fn build(world: &mut World) -> Snapshot {
    bring_up_to_date(world);
    let mut snap = world
        .get_resource::<ReadModel>()
        .map(|m| m.snap.clone())
        .unwrap_or_default();
    snap.at = world.resource::<Clock>().now;
    snap.last_seq = world.get_resource::<Outbox>().map_or(0, Outbox::last_seq);
    if let Some(a) = world.get_resource::<ActiveAlerts>() {
        snap.alerts =
            a.0.open()
                .values()
                .map(|a| (a.id.clone(), a.clone()))
                .collect();
    }
    if let Some(r) = world.get_resource::<crate::alerts::Rules>() {
        snap.disabled_rules = r.disabled.clone();
        snap.paused.clear();
        if let Some(a) = world.get_resource::<ActiveAlerts>() {
            for ((rule, subject), since) in a.0.paused() {
                let Some(rule) = r.set.get(rule) else {
                    continue;
                };
                snap.paused.entry(subject.clone()).or_default().push(
                    orderly_model::view::PausedRule {
                        rule: rule.id.clone(),
                        title: rule.title.clone(),
                        because: rule.paused_why(),
                        since,
                    },
                );
            }
        }
    }
    if let Some(s) = world.get_resource::<IngestStats>() {
        snap.ingest = s.view();
    }
    snap.suggestions = crate::commands::suggestions(world);
    snap.work_orders = crate::maintenance::open_orders(world);
    snap.recalls = crate::maintenance::open_recalls(world);
    if let Some(p) = world.get_resource::<crate::par::ParScan>() {
        snap.par = p.status.clone();
    }
    if let Some(v) = world.get_resource::<crate::environment::EnvViews>() {
        snap.sensors = v.0.clone();
    }
    snap
}
