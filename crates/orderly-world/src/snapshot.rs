//! Builds the read model ([`Snapshot`]) from the world.

use crate::alerts::ActiveAlerts;
use crate::devices::{BedFrame, PumpStatus};
use crate::ingest::IngestStats;
use crate::locate::Location;
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, PatientInfo, StaffInfo, Status, Subject};
use crate::{Clock, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::Snapshot;
use orderly_model::view::{AssetView, LocationView, PatientView, StaffView};

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
    }
}

pub(crate) fn build(world: &mut World) -> Snapshot {
    let site = world.resource::<Site>().clone();
    let mut snap = Snapshot {
        at: world.resource::<Clock>().now,
        last_seq: world.get_resource::<Outbox>().map_or(0, Outbox::last_seq),
        ..Snapshot::default()
    };
    let mut q = world.query::<(
        &Subject,
        Option<&Location>,
        Option<&AssetInfo>,
        Option<&Status>,
        Option<&BedFrame>,
        Option<&PumpStatus>,
        Option<&StaffInfo>,
        Option<&PatientInfo>,
    )>();
    for (subject, loc, asset, status, bed, pump, staff, patient) in q.iter(world) {
        let location = loc.map(|l| view(&site, l));
        if let Some(l) = &location {
            snap.rooms
                .entry(l.room.clone())
                .or_default()
                .push(subject.id.clone());
        }
        if let Some(AssetInfo(a)) = asset {
            snap.assets.insert(
                a.id.clone(),
                AssetView {
                    id: a.id.clone(),
                    kind: a.kind.clone(),
                    tag: a.tag.clone(),
                    device: a.device.clone(),
                    model: a.model.clone(),
                    serial: a.serial.clone(),
                    unit: a.unit.clone(),
                    status: status.map_or(a.status, |s| s.0),
                    location,
                    bed: bed.map(|b| b.state.clone()),
                    pump: pump.map(|p| p.telemetry.clone()),
                },
            );
        } else if let Some(StaffInfo(s)) = staff {
            snap.staff.insert(
                s.id.clone(),
                StaffView {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    role: s.role.clone(),
                    units: s.units.clone(),
                    badge: s.badge.clone(),
                    location,
                },
            );
        } else if let Some(PatientInfo(p)) = patient {
            snap.patients.insert(
                p.id.clone(),
                PatientView {
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
                },
            );
        }
    }
    // A patient is in their bed's room (the wristband tells where they are when out of it).
    for p in snap.patients.values_mut() {
        if let Some(l) = snap.assets.get(&p.bed).and_then(|b| b.location.as_ref()) {
            p.room = Some(l.room.clone());
            p.unit = l.unit.clone();
        } else if let Some(l) = &p.location {
            p.room = Some(l.room.clone());
            p.unit = l.unit.clone();
        }
    }
    for ids in snap.rooms.values_mut() {
        ids.sort();
    }
    if let Some(a) = world.get_resource::<ActiveAlerts>() {
        snap.alerts = a.0.values().map(|a| (a.id.clone(), a.clone())).collect();
    }
    if let Some(s) = world.get_resource::<IngestStats>() {
        snap.ingest = s.view();
    }
    let _ = world.resource::<Registry>();
    snap
}
