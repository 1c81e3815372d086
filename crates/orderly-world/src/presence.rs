//! Who is in which room, and the `room` facts: the subject's room, which staff roles are in it
//! and whether one of them is a caregiver (`[presence]` in detectors.toml), and where an alert
//! about the subject goes (its room and unit). A patient is where their wristband is heard,
//! else in their bed's room.
//!
//! A subject's facts go stale when it changes room (not on every sighting: a location changes
//! each time the tag is heard), and when staff come into or leave the room it is in.

use crate::facts::{FactCtx, FactProviders, FactSheet, RulesStep, StaleFacts};
use crate::locate::Location;
use crate::registry::{AssetInfo, PatientInfo, Registry, StaffInfo, Subject};
use crate::{Capability, Site, WorldConfig};
use bevy_ecs::prelude::*;
use orderly_rules::Fact;
use orderly_rules::facts::Group;
use std::collections::{BTreeMap, BTreeSet};

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

#[derive(Resource)]
pub struct Presence {
    pub caregivers: BTreeSet<String>,
    /// Room index -> roles of the staff present there, sorted.
    rooms: BTreeMap<u32, Vec<String>>,
    /// Where each staff member was counted (room, present).
    counted: BTreeMap<Entity, (u32, bool)>,
    /// The `room` group of each place (a room, or none) as last built, with the roles present
    /// and whether one is a caregiver, which with the room decide all of it: every subject in a
    /// room shares one group (at 25,000 tags, a copy each took about 15 MB). Behind a lock: fact
    /// providers read the world.
    groups: std::sync::Mutex<BTreeMap<Option<u32>, BuiltRoom>>,
}

/// A `room` group with the roles present and the caregiver flag it was built with.
type BuiltRoom = (Vec<String>, bool, Group);

impl Presence {
    /// The roles of the staff present in a room now, sorted.
    pub fn roles_in(&self, room: u32) -> &[String] {
        self.rooms.get(&room).map_or(&[], Vec::as_slice)
    }
}

/// The place a subject's facts were last marked for: (room, present, lost).
#[derive(Component, Clone, Copy, PartialEq, Eq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory; as a
// table component, placing 25,000 tags moved every subject into a new table: 15 MB).
#[component(storage = "SparseSet")]
struct Placed((u32, bool, bool));

pub struct PresencePlugin;

impl Capability for PresencePlugin {
    fn name(&self) -> &'static str {
        "presence"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &WorldConfig) {
        world.insert_resource(Presence {
            caregivers: config.presence.caregiver_roles.iter().cloned().collect(),
            rooms: BTreeMap::new(),
            counted: BTreeMap::new(),
            groups: Default::default(),
        });
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[(
                "room",
                &[
                    "known",
                    "id",
                    "name",
                    "kind",
                    "unit",
                    "floor",
                    "caregiver_present",
                    "staff_count",
                    "roles_present",
                ],
            )],
            room_facts,
        );
        schedule.add_systems(watch.in_set(RulesStep::Watch));
    }
    fn configure(&self, world: &mut World, config: &WorldConfig) {
        if let Some(mut p) = world.get_resource_mut::<Presence>() {
            p.caregivers = config.presence.caregiver_roles.iter().cloned().collect();
            p.rooms.clear();
        }
        world.resource_mut::<StaleFacts>().mark_all();
    }
}

/// Marks the subjects that changed room, and those in rooms whose staff changed.
#[allow(clippy::type_complexity)]
fn watch(
    mut stale: ResMut<StaleFacts>,
    mut presence: ResMut<Presence>,
    mut moved: Query<(Entity, &Location, Option<&mut Placed>), Changed<Location>>,
    staff_moved: Query<(Entity, &Location), (With<StaffInfo>, Changed<Location>)>,
    staff: Query<(Entity, &StaffInfo, &Location)>,
    located: Query<(Entity, &Location), With<Subject>>,
    mut commands: Commands,
) {
    for (e, l, placed) in &mut moved {
        let now = Placed((l.room, l.present, l.lost));
        match placed {
            Some(mut p) => {
                if *p != now {
                    *p = now;
                    stale.mark(e);
                }
            }
            None => {
                commands.entity(e).insert(now);
                stale.mark(e);
            }
        }
    }
    let staff_changed = staff_moved
        .iter()
        .any(|(e, l)| presence.counted.get(&e) != Some(&(l.room, l.present)));
    if !(stale.all || staff_changed) {
        return;
    }
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
        for (e, l) in &located {
            if touched.contains(&l.room) {
                stale.mark(e);
            }
        }
    }
    presence.rooms = rooms;
}

/// The room group, and where alerts about the subject go.
fn room_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    let site = &ctx.world.resource::<Site>().0;
    let presence = ctx.world.resource::<Presence>();
    let loc = ctx.own::<Location>();
    let patient = ctx.own::<PatientInfo>();
    let room_loc = match patient {
        Some(_) => loc.filter(|l| l.present).or(ctx.of_bed::<Location>()),
        None => loc,
    };
    // No tag places them: a bed and its patient are where the bed's place is on the floorplan.
    let mounted = ctx.own::<crate::registry::Mounted>().map(|m| m.0);
    let placed = room_loc.map(|l| l.room).or(mounted).or_else(|| {
        let bed = match (patient, ctx.own::<AssetInfo>()) {
            (Some(p), _) => Some(&p.0.bed),
            (None, Some(a)) if a.0.kind == "bed" => Some(&a.0.id),
            _ => None,
        }?;
        ctx.world.resource::<Registry>().bed_room.get(bed).copied()
    });
    let room = placed.map(|r| &site.rooms[r as usize]);
    let roles = placed.map_or(&[][..], |r| presence.roles_in(r));
    let caregiver = roles.iter().any(|r| presence.caregivers.contains(r));
    let mut groups = presence.groups.lock().unwrap_or_else(|e| e.into_inner());
    let group = match groups.get(&placed) {
        Some((r, c, g)) if r == roles && *c == caregiver => g.clone(),
        _ => {
            let mut sheet = FactSheet::default();
            set_room(&mut sheet, room, roles, caregiver);
            let mut g = sheet.facts.groups.remove("room").unwrap_or_default();
            g.shrink();
            groups.insert(placed, (roles.to_vec(), caregiver, g.clone()));
            g
        }
    };
    drop(groups);
    f.set_group("room", &group);
    let asset = ctx.own::<AssetInfo>();
    let patient_bed = patient.and(ctx.of_bed::<AssetInfo>());
    let unit = room
        .and_then(|r| r.unit.clone())
        .or_else(|| asset.and_then(|a| a.0.unit.clone()))
        .or_else(|| patient_bed.and_then(|a| a.0.unit.clone()))
        .or_else(|| {
            ctx.own::<StaffInfo>()
                .and_then(|s| s.0.units.first().cloned())
        });
    f.route(room.map(|r| r.id.clone()), unit);
}

/// The `room` facts of a subject in `room` (none: not placed) with `roles` present.
fn set_room(
    f: &mut FactSheet,
    room: Option<&orderly_floorplan::Room>,
    roles: &[String],
    caregiver: bool,
) {
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
    f.set("room", "caregiver_present", Fact::Bool(caregiver));
    f.set("room", "staff_count", Fact::Int(roles.len() as i64));
    f.set("room", "roles_present", Fact::StringList(roles.to_vec()));
}

/// Is a caregiver (by `[presence]` roles, else the seed's) in `room` now?
pub fn caregiver_in(
    room: u32,
    staff: &Query<(&StaffInfo, &Location)>,
    presence: Option<&Presence>,
) -> bool {
    staff.iter().any(|(s, l)| {
        l.present
            && l.room == room
            && match presence {
                Some(p) => p.caregivers.contains(&s.0.role),
                None => s.0.is_caregiver(),
            }
    })
}
