//! Spawns the seed (assets, staff, patients) as entities and indexes them by tag and device.

use crate::facts::{FactCtx, FactProviders, FactSheet, RuleTarget, watch};
use bevy_ecs::prelude::*;
use orderly_floorplan::Floorplan;
use orderly_model::reading::DeviceClass;
use orderly_model::{Asset, AssetStatus, Patient, Seed, Staff};
use orderly_rules::{Fact, SubjectType, schema};
/// The registry's maps: looked up for every message by ids from the devices, so a fast
/// hasher (seeded per process, as the standard one is; nothing iterates them).
pub type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// How quickly a silent tag counts as gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagClass {
    Equipment,
    Staff,
    Patient,
}

/// What an entity is, for events and views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectKind {
    Asset,
    Staff,
    Patient,
}

/// Anything that can be located: an asset, a staff member or a patient.
#[derive(Component, Clone, Debug)]
pub struct Subject {
    pub id: String,
    pub kind: SubjectKind,
    /// The asset kind (`infusion_pump`, ...), or `staff`, or `patient`.
    pub kind_name: String,
    pub tag: Option<String>,
    pub class: TagClass,
}

#[derive(Component, Clone, Debug)]
pub struct AssetInfo(pub Asset);

#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub AssetStatus);

/// What last changed an asset's status (set together with [`Status`] by the system that changes
/// it; people's changes carry their name in the event instead).
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusCause(pub &'static str);

#[derive(Component, Clone, Debug)]
pub struct StaffInfo(pub Staff);

/// An environment sensor of the seed (`[[sensor]]`).
#[derive(Component, Clone, Debug)]
pub struct SensorInfo(pub orderly_model::seed::Sensor);

/// A subject fixed in a room of the floorplan (a sensor on a wall or a fridge): its room
/// facts and its alerts' routing come from here, as a tag's would from the locator.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mounted(pub u32);

#[derive(Component, Clone, Debug)]
pub struct PatientInfo(pub Patient);

/// Lookups from contract ids to entities. Only looked up, never iterated (so no order leaks).
#[derive(Resource, Default)]
pub struct Registry {
    /// Keyed by inline strings: a sighting's lookup reads no key from elsewhere in memory
    /// (the index is looked up for every sighting).
    pub tags: HashMap<smol_str::SmolStr, Entity>,
    pub devices: HashMap<String, (DeviceClass, Entity)>,
    pub subjects: HashMap<String, Entity>,
    /// Receiver id -> (receiver number, room index).
    pub receivers: HashMap<String, (u32, u32)>,
    /// Bed asset id -> patient entity in it.
    pub bed_patient: HashMap<String, Entity>,
    /// A bedside monitor's device id -> the bed asset it is at.
    pub monitor_bed: HashMap<String, String>,
    /// A bed asset id -> the room of its place on the floorplan (its `position`).
    pub bed_room: HashMap<String, u32>,
    /// A wearable model -> where it is worn (`[[wearable_model]]`).
    pub wearable_models: HashMap<String, orderly_model::Worn>,
}

/// The smart beds: assets of kind bed with a device that reports.
pub(crate) fn smart_beds(world: &mut World) -> Vec<Entity> {
    world
        .query::<(Entity, &AssetInfo)>()
        .iter(world)
        .filter(|(_, a)| a.0.kind == "bed" && a.0.device.is_some())
        .map(|(e, _)| e)
        .collect()
}

pub(crate) fn spawn_seed(world: &mut World, fp: &Floorplan, seed: &Seed) -> Registry {
    let mut reg = Registry {
        wearable_models: seed
            .wearable_models
            .iter()
            .map(|m| (m.id.clone(), m.worn))
            .collect(),
        ..Registry::default()
    };
    for (n, (rx, room)) in fp.receivers().into_iter().enumerate() {
        reg.receivers
            .insert(rx.to_string(), (n as u32, room as u32));
    }
    for a in &seed.assets {
        if let Some(p) = &a.position
            && let Some(room) = fp.rooms.iter().position(|r| r.beds.iter().any(|b| b == p))
        {
            reg.bed_room.insert(a.id.clone(), room as u32);
        }
        let subject = Subject {
            id: a.id.clone(),
            kind: SubjectKind::Asset,
            kind_name: a.kind.clone(),
            tag: a.tag.clone(),
            class: TagClass::Equipment,
        };
        let e = world
            .spawn((
                subject,
                AssetInfo(a.clone()),
                Status(a.status),
                StatusCause("seed"),
                RuleTarget {
                    id: a.id.clone(),
                    types: asset_types(&a.kind),
                },
            ))
            .id();
        if let Some(t) = &a.tag {
            reg.tags.insert(t.into(), e);
        }
        if let (Some(d), Some(class)) = (&a.device, a.device_class()) {
            reg.devices.insert(d.clone(), (class, e));
            if let (DeviceClass::Monitor, Some(bed)) = (class, &a.bed) {
                reg.monitor_bed.insert(d.clone(), bed.clone());
            }
        }
        reg.subjects.insert(a.id.clone(), e);
    }
    for s in &seed.staff {
        let subject = Subject {
            id: s.id.clone(),
            kind: SubjectKind::Staff,
            kind_name: "staff".into(),
            tag: Some(s.badge.clone()),
            class: TagClass::Staff,
        };
        let e = world
            .spawn((
                subject,
                StaffInfo(s.clone()),
                RuleTarget {
                    id: s.id.clone(),
                    types: vec![SubjectType::Staff],
                },
            ))
            .id();
        reg.tags.insert(s.badge.as_str().into(), e);
        reg.subjects.insert(s.id.clone(), e);
    }
    for x in &seed.sensors {
        let mut e = world.spawn((
            SensorInfo(x.clone()),
            RuleTarget {
                id: x.id.clone(),
                types: vec![SubjectType::Sensor],
            },
        ));
        // Its room is checked against the floorplan when the seed is read.
        if let Some(room) = fp.rooms.iter().position(|r| r.id == x.room) {
            e.insert(Mounted(room as u32));
        }
        let e = e.id();
        reg.devices
            .insert(x.id.clone(), (DeviceClass::Environment, e));
        reg.subjects.insert(x.id.clone(), e);
    }
    world.insert_resource(std::mem::take(&mut reg));
    for p in &seed.patients {
        spawn_patient(world, p);
    }
    world.remove_resource::<Registry>().unwrap_or_default()
}

/// A patient entity, registered by id, wristband, wearable and bed (an empty bed: somewhere
/// outside Orderly's beds). Capabilities add their parts by observing [`PatientInfo`].
pub(crate) fn spawn_patient(world: &mut World, p: &Patient) -> Entity {
    let subject = Subject {
        id: p.id.clone(),
        kind: SubjectKind::Patient,
        kind_name: "patient".into(),
        tag: p.tag.clone(),
        class: TagClass::Patient,
    };
    let e = world
        .spawn((
            subject,
            PatientInfo(p.clone()),
            RuleTarget {
                id: p.id.clone(),
                types: vec![SubjectType::Patient],
            },
        ))
        .id();
    let mut reg = world.resource_mut::<Registry>();
    if let Some(t) = &p.tag {
        reg.tags.insert(t.into(), e);
    }
    if let Some(w) = &p.wearable {
        reg.devices.insert(w.clone(), (DeviceClass::Wearable, e));
    }
    if !p.bed.is_empty() {
        reg.bed_patient.insert(p.bed.clone(), e);
    }
    reg.subjects.insert(p.id.clone(), e);
    e
}

/// Takes a patient out of the world and of every index (a discharge, a cancelled admission,
/// a record merged into another).
pub(crate) fn despawn_patient(world: &mut World, e: Entity) {
    let Some(p) = world.get::<PatientInfo>(e).map(|p| p.0.clone()) else {
        return;
    };
    let mut reg = world.resource_mut::<Registry>();
    if let Some(t) = &p.tag
        && reg.tags.get(t.as_str()) == Some(&e)
    {
        reg.tags.remove(t.as_str());
    }
    if let Some(w) = &p.wearable
        && reg.devices.get(w).is_some_and(|(_, x)| *x == e)
    {
        reg.devices.remove(w);
    }
    if reg.bed_patient.get(&p.bed) == Some(&e) {
        reg.bed_patient.remove(&p.bed);
    }
    if reg.subjects.get(&p.id) == Some(&e) {
        reg.subjects.remove(&p.id);
    }
    world.despawn(e);
}

/// The rule subject kinds of an asset of `kind`.
fn asset_types(kind: &str) -> Vec<SubjectType> {
    match kind {
        "bed" => vec![SubjectType::Bed, SubjectType::Asset],
        "infusion_pump" => vec![SubjectType::Pump, SubjectType::Asset],
        _ => vec![SubjectType::Asset],
    }
}

/// The registry's own facts: what the seed says an asset, a patient or a staff member is.
pub(crate) fn provide_facts(world: &mut World, schedule: &mut Schedule) {
    world.resource_mut::<FactProviders>().add(
        "registry",
        &[
            ("asset", &["id", "kind", "status", "model", "home_unit"]),
            (
                "patient",
                &[
                    "assigned",
                    "id",
                    "name",
                    "morse",
                    "fall_risk",
                    "braden",
                    "pressure_risk",
                    "ventilated",
                    "elopement_risk",
                ],
            ),
            ("staff", &["id", "name", "role"]),
        ],
        registry_facts,
    );
    watch::<Status>(schedule);
    watch::<PatientInfo>(schedule);
}

fn registry_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if ctx.wants("asset")
        && let Some(a) = ctx.own::<AssetInfo>()
    {
        let status = ctx.own::<Status>().map_or(a.0.status, |s| s.0);
        f.set("asset", "id", Fact::String(a.0.id.clone()));
        f.set("asset", "kind", Fact::String(a.0.kind.clone()));
        f.set("asset", "status", Fact::String(status.as_str().to_string()));
        f.set(
            "asset",
            "model",
            Fact::String(a.0.model.clone().unwrap_or_default()),
        );
        f.set(
            "asset",
            "home_unit",
            Fact::String(a.0.unit.clone().unwrap_or_default()),
        );
    }
    if ctx.wants("patient") {
        patient_facts(f, ctx.of_patient::<PatientInfo>());
    }
    if ctx.wants("staff")
        && let Some(s) = ctx.own::<StaffInfo>()
    {
        f.set("staff", "id", Fact::String(s.0.id.clone()));
        f.set("staff", "name", Fact::String(s.0.name.clone()));
        f.set("staff", "role", Fact::String(s.0.role.clone()));
    }
}

fn patient_facts(f: &mut FactSheet, p: Option<&PatientInfo>) {
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
