//! Spawns the seed (assets, staff, patients) as entities and indexes them by tag and device.

use bevy_ecs::prelude::*;
use orderly_floorplan::Floorplan;
use orderly_model::reading::DeviceClass;
use orderly_model::{Asset, AssetStatus, Patient, Seed, Staff};
use std::collections::HashMap;

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

#[derive(Component, Clone, Debug)]
pub struct StaffInfo(pub Staff);

#[derive(Component, Clone, Debug)]
pub struct PatientInfo(pub Patient);

/// Lookups from contract ids to entities. Only looked up, never iterated (so no order leaks).
#[derive(Resource, Default)]
pub struct Registry {
    pub tags: HashMap<String, Entity>,
    pub devices: HashMap<String, (DeviceClass, Entity)>,
    pub subjects: HashMap<String, Entity>,
    /// Receiver id -> (receiver number, room index).
    pub receivers: HashMap<String, (u32, u32)>,
    /// Bed asset id -> patient entity in it.
    pub bed_patient: HashMap<String, Entity>,
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
    let mut reg = Registry::default();
    for (n, (rx, room)) in fp.receivers().into_iter().enumerate() {
        reg.receivers
            .insert(rx.to_string(), (n as u32, room as u32));
    }
    for a in &seed.assets {
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
                crate::status::StatusCause("seed"),
            ))
            .id();
        if let Some(t) = &a.tag {
            reg.tags.insert(t.clone(), e);
        }
        if let Some(d) = &a.device {
            let class = if a.kind == "bed" {
                DeviceClass::Bed
            } else {
                DeviceClass::Pump
            };
            reg.devices.insert(d.clone(), (class, e));
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
        let e = world.spawn((subject, StaffInfo(s.clone()))).id();
        reg.tags.insert(s.badge.clone(), e);
        reg.subjects.insert(s.id.clone(), e);
    }
    for p in &seed.patients {
        let subject = Subject {
            id: p.id.clone(),
            kind: SubjectKind::Patient,
            kind_name: "patient".into(),
            tag: p.tag.clone(),
            class: TagClass::Patient,
        };
        let e = world.spawn((subject, PatientInfo(p.clone()))).id();
        if let Some(t) = &p.tag {
            reg.tags.insert(t.clone(), e);
        }
        if let Some(w) = &p.wearable {
            reg.devices.insert(w.clone(), (DeviceClass::Wearable, e));
        }
        reg.bed_patient.insert(p.bed.clone(), e);
        reg.subjects.insert(p.id.clone(), e);
    }
    reg
}
