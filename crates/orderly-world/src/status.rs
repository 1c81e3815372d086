//! Equipment status workflow: in use, available, needs cleaning, clean, out of service. Devices
//! change it (a pump infusing is in use, and needs cleaning when use ends), so does where an
//! item goes (a dirty utility room means it needs cleaning), and so do staff through the API
//! (audited there). Every change is an `asset.status_changed` event, committed like the rest
//! and restored after a restart.

use crate::locate::Location;
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, Status};
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_floorplan::RoomKind;
use orderly_model::{AssetStatus, EventKind, StatusError, Timestamp};

pub use crate::registry::StatusCause;

/// The status last recorded in an event, to tell a real change from a write of the same value.
#[derive(Component, Clone, Copy, Debug)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct StatusLog {
    pub status: AssetStatus,
    pub since: Timestamp,
}

pub struct StatusPlugin;

impl Capability for StatusPlugin {
    fn name(&self) -> &'static str {
        "status"
    }
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        restore(world, &restored.statuses);
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, _: &crate::WorldConfig) {
        let assets: Vec<(Entity, AssetStatus)> = world
            .query::<(Entity, &Status)>()
            .iter(world)
            .map(|(e, s)| (e, s.0))
            .collect();
        for (e, status) in assets {
            world.entity_mut(e).insert(StatusLog {
                status,
                since: Timestamp(0),
            });
        }
        // Before the rules look at the item: its facts see the new status in the same step.
        schedule.add_systems(dirty_utility.in_set(crate::facts::RulesStep::Prepare));
        schedule.add_systems(record_changes.in_set(Phase::Emit));
    }
}

/// An item that enters a dirty utility room needs cleaning before its next use.
fn dirty_utility(
    site: Res<Site>,
    mut moved: Query<(&Location, &mut Status, &mut StatusCause), Changed<Location>>,
) {
    for (loc, mut status, mut cause) in &mut moved {
        if !loc.present
            || site.0.rooms[loc.room as usize].kind != RoomKind::DirtyUtility
            || matches!(
                status.0,
                AssetStatus::OutOfService | AssetStatus::NeedsCleaning
            )
        {
            continue;
        }
        status.0 = AssetStatus::NeedsCleaning;
        cause.0 = "dirty utility room";
    }
}

pub(crate) fn unit_and_room(
    site: &Site,
    info: &AssetInfo,
    loc: Option<&Location>,
) -> (Option<String>, Option<String>) {
    let room = loc.map(|l| &site.0.rooms[l.room as usize]);
    (
        room.map(|r| r.id.clone()),
        room.and_then(|r| r.unit.clone())
            .or_else(|| info.0.unit.clone()),
    )
}

/// One `asset.status_changed` per real change, whatever made it.
#[allow(clippy::type_complexity)]
fn record_changes(
    clock: Res<Clock>,
    site: Res<Site>,
    mut changed: Query<
        (
            &AssetInfo,
            &Status,
            &StatusCause,
            &mut StatusLog,
            Option<&Location>,
        ),
        Changed<Status>,
    >,
    mut outbox: ResMut<Outbox>,
) {
    for (info, status, cause, mut log, loc) in &mut changed {
        if status.0 == log.status {
            continue;
        }
        let (room, unit) = unit_and_room(&site, info, loc);
        outbox.push(
            clock.now,
            EventKind::StatusChanged {
                asset: info.0.id.clone(),
                asset_kind: info.0.kind.clone(),
                from: log.status,
                to: status.0,
                by: cause.0.to_string(),
                reason: String::new(),
                room,
                unit,
            },
        );
        *log = StatusLog {
            status: status.0,
            since: clock.now,
        };
    }
}

/// A person sets an asset's status. Returns the sequence number of the event that records it
/// (it leaves with the next step).
pub(crate) fn set_by_person(
    world: &mut World,
    asset: &str,
    to: AssetStatus,
    by: &str,
    reason: &str,
) -> Result<u64, StatusError> {
    let e = *world
        .resource::<Registry>()
        .subjects
        .get(asset)
        .filter(|e| world.get::<Status>(**e).is_some())
        .ok_or_else(|| StatusError::NotFound(asset.to_string()))?;
    let from = world.get::<Status>(e).map(|s| s.0).unwrap_or_default();
    if from == to {
        return Err(StatusError::Unchanged {
            asset: asset.to_string(),
            status: to.as_str(),
        });
    }
    let now = world.resource::<Clock>().now;
    let Some(info) = world.get::<AssetInfo>(e) else {
        return Err(StatusError::NotFound(asset.to_string()));
    };
    let kind = info.0.kind.clone();
    let (room, unit) = unit_and_room(world.resource::<Site>(), info, world.get::<Location>(e));
    let mut entity = world.entity_mut(e);
    entity.insert((
        Status(to),
        StatusCause("person"),
        StatusLog {
            status: to,
            since: now,
        },
    ));
    let mut outbox = world.resource_mut::<Outbox>();
    outbox.push(
        now,
        EventKind::StatusChanged {
            asset: asset.to_string(),
            asset_kind: kind,
            from,
            to,
            by: by.to_string(),
            reason: reason.to_string(),
            room,
            unit,
        },
    );
    Ok(outbox.last_seq())
}

/// Puts back statuses remembered from before a restart (no events).
fn restore(world: &mut World, statuses: &[(String, AssetStatus, Timestamp)]) {
    for (asset, status, since) in statuses {
        let Some(&e) = world.resource::<Registry>().subjects.get(asset) else {
            continue;
        };
        if world.get::<Status>(e).is_none() {
            continue;
        }
        world.entity_mut(e).insert((
            Status(*status),
            StatusLog {
                status: *status,
                since: *since,
            },
        ));
    }
}
