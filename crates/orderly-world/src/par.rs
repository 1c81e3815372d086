//! PAR levels: each unit's stock of ready equipment (`available` or `clean`, heard lately, in
//! a room of the unit) against the levels in `rules/par.toml`, as rule subjects of kind `par`.
//! The rules (`rules/tracking.toml`) decide what deserves an alert; this capability only counts
//! and says where to pull from: the nearest room, by walking distance from the unit's station,
//! holding ready items another unit can spare (a unit above its own level, a unit with no level
//! for the kind, or a room outside any unit such as the equipment depot).
//!
//! Counting is a pass over the assets, at most once a second and only after a status or a
//! location changed.

use crate::facts::AlertRequest;
use crate::facts::{RuleTarget, SubjectFacts};
use crate::locate::Location;
use crate::registry::{AssetInfo, Status};
use crate::{Capability, Clock, Phase, Site};
use bevy_ecs::prelude::*;
use orderly_model::par::ParLevel;
use orderly_model::view::{ParSource, ParView};
use orderly_model::{AssetStatus, Timestamp};
use orderly_rules::{Fact, Facts};
use std::collections::{BTreeMap, HashMap};

/// One unit's level for one kind, as a rule subject.
#[derive(Component, Clone, Debug)]
pub struct ParSubject {
    /// `PAR-{unit}-{kind}`: the alert subject.
    pub id: String,
    pub level: ParLevel,
    /// The unit's station room, and walking distances from it to every room.
    station: Option<usize>,
    distances: Vec<f32>,
}

/// When to count next, and the last count of every level (for the read model).
#[derive(Resource, Default)]
pub(crate) struct ParScan {
    pub status: BTreeMap<String, ParView>,
    next: Timestamp,
    dirty: bool,
}

pub struct ParPlugin;

impl Capability for ParPlugin {
    fn name(&self) -> &'static str {
        "par"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        world.insert_resource(ParScan {
            status: BTreeMap::new(),
            next: Timestamp(0),
            dirty: true,
        });
        set_levels(world, &config.par);
        schedule.add_systems(count.in_set(Phase::Derive));
        world.resource_mut::<crate::facts::FactProviders>().declare(
            self.name(),
            &[(
                "par",
                &[
                    "unit",
                    "unit_name",
                    "kind",
                    "ready",
                    "target",
                    "critical",
                    "short",
                    "source_known",
                    "source_room",
                    "source_name",
                    "source_spare",
                    "source_metres",
                    "pull_from",
                ],
            )],
        );
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        set_levels(world, &config.par);
    }
}

pub fn subject_id(level: &ParLevel) -> String {
    format!("PAR-{}-{}", level.unit, level.kind)
}

/// Puts `levels` in force: new levels get a subject, changed ones their new numbers, removed
/// ones go with their alerts resolved. Counted again at the next step.
fn set_levels(world: &mut World, levels: &[ParLevel]) {
    if !world.contains_resource::<ParScan>() {
        return;
    }
    let site = world.resource::<Site>().0.clone();
    let mut existing: BTreeMap<String, Entity> = world
        .query::<(Entity, &ParSubject)>()
        .iter(world)
        .map(|(e, p)| (p.id.clone(), e))
        .collect();
    for level in levels {
        let id = subject_id(level);
        if let Some(e) = existing.remove(&id) {
            if let Some(mut p) = world.get_mut::<ParSubject>(e) {
                p.level = level.clone();
            }
            continue;
        }
        let station = site
            .unit(&level.unit)
            .and_then(|u| site.room_index(&u.station));
        let distances = station.map(|s| site.distances_from(s)).unwrap_or_default();
        world.spawn((
            RuleTarget {
                id: id.clone(),
                types: vec![orderly_rules::SubjectType::Par],
            },
            ParSubject {
                id,
                level: level.clone(),
                station,
                distances,
            },
        ));
    }
    for (id, e) in existing {
        world.despawn(e);
        world.write_message(AlertRequest::Forget {
            subject: id,
            reason: "PAR level removed".into(),
        });
    }
    world.resource_mut::<ParScan>().dirty = true;
}

fn ready(status: AssetStatus) -> bool {
    matches!(status, AssetStatus::Available | AssetStatus::Clean)
}

#[allow(clippy::type_complexity)]
fn count(
    clock: Res<Clock>,
    site: Res<Site>,
    mut scan: ResMut<ParScan>,
    changed: Query<(), (With<AssetInfo>, Or<(Changed<Status>, Changed<Location>)>)>,
    assets: Query<(&AssetInfo, Option<&Status>, Option<&Location>)>,
    pars: Query<(Entity, &ParSubject, Option<&SubjectFacts>)>,
    mut commands: Commands,
) {
    if !changed.is_empty() {
        scan.dirty = true;
    }
    let now = clock.now;
    if !scan.dirty || now < scan.next || pars.is_empty() {
        return;
    }
    scan.dirty = false;
    scan.next = now.plus_ms(1000);
    let fp = &site.0;
    // Ready items per (room, kind), and per (unit, kind).
    let mut in_room: BTreeMap<(&str, usize), u32> = BTreeMap::new();
    let mut in_unit: HashMap<(&str, &str), u32> = HashMap::new();
    for (a, status, loc) in &assets {
        let Some(l) = loc.filter(|l| l.present) else {
            continue;
        };
        if !ready(status.map_or(a.0.status, |s| s.0)) {
            continue;
        }
        let room = l.room as usize;
        *in_room.entry((a.0.kind.as_str(), room)).or_default() += 1;
        if let Some(u) = &fp.rooms[room].unit {
            *in_unit.entry((u.as_str(), a.0.kind.as_str())).or_default() += 1;
        }
    }
    // What each unit with a level can spare of its kind.
    let levels: HashMap<(&str, &str), u32> = pars
        .iter()
        .map(|(_, p, _)| {
            (
                (p.level.unit.as_str(), p.level.kind.as_str()),
                p.level.target,
            )
        })
        .collect();
    let spare_of_unit = |unit: &str, kind: &str| -> Option<u32> {
        let target = *levels.get(&(unit, kind))?;
        Some(
            in_unit
                .get(&(unit, kind))
                .copied()
                .unwrap_or(0)
                .saturating_sub(target),
        )
    };
    let mut seen = Vec::new();
    for (e, p, old) in &pars {
        let l = &p.level;
        let ready_here = in_unit
            .get(&(l.unit.as_str(), l.kind.as_str()))
            .copied()
            .unwrap_or(0);
        // The nearest room outside this unit with ready items to spare.
        let mut best: Option<(f32, usize, u32)> = None;
        for (&(kind, room), &n) in
            in_room.range((l.kind.as_str(), 0)..=(l.kind.as_str(), usize::MAX))
        {
            debug_assert_eq!(kind, l.kind);
            let unit = fp.rooms[room].unit.as_deref();
            if unit == Some(l.unit.as_str()) {
                continue;
            }
            let spare = match unit.and_then(|u| spare_of_unit(u, kind)) {
                Some(s) => n.min(s),
                None => n,
            };
            let d = p.distances.get(room).copied().unwrap_or(f32::INFINITY);
            if spare == 0 || !d.is_finite() {
                continue;
            }
            if best.is_none_or(|(bd, br, _)| (d, room) < (bd, br)) {
                best = Some((d, room, spare));
            }
        }
        seen.push(p.id.clone());
        let view = par_view(fp, p, ready_here, best);
        if scan.status.get(&p.id) != Some(&view) {
            scan.status.insert(p.id.clone(), view);
        }
        let facts = par_facts(fp, p, ready_here, best);
        let new = SubjectFacts(facts);
        match old {
            Some(old) if *old == new => {}
            _ => {
                commands.entity(e).insert(new);
            }
        }
    }
    scan.status.retain(|id, _| seen.contains(id));
}

fn par_view(
    fp: &orderly_floorplan::Floorplan,
    p: &ParSubject,
    ready: u32,
    source: Option<(f32, usize, u32)>,
) -> ParView {
    let l = &p.level;
    let state = if ready < l.critical {
        "critical"
    } else if ready < l.target {
        "below_target"
    } else {
        "ok"
    };
    ParView {
        unit: l.unit.clone(),
        unit_name: fp.unit(&l.unit).map_or(l.unit.clone(), |u| u.name.clone()),
        kind: l.kind.clone(),
        ready,
        target: l.target,
        critical: l.critical,
        state: state.to_string(),
        pull_from: source.map(|(d, r, n)| ParSource {
            room: fp.rooms[r].id.clone(),
            room_name: fp.rooms[r].name.clone(),
            spare: n,
            metres: d.round(),
        }),
    }
}

fn par_facts(
    fp: &orderly_floorplan::Floorplan,
    p: &ParSubject,
    ready: u32,
    source: Option<(f32, usize, u32)>,
) -> Facts {
    let l = &p.level;
    let mut f = Facts::default();
    let g = "par";
    let unit_name = fp.unit(&l.unit).map_or(l.unit.clone(), |u| u.name.clone());
    f.set(g, "unit", Fact::String(l.unit.clone()));
    f.set(g, "unit_name", Fact::String(unit_name));
    f.set(g, "kind", Fact::String(l.kind.clone()));
    f.set(g, "ready", Fact::Int(i64::from(ready)));
    f.set(g, "target", Fact::Int(i64::from(l.target)));
    f.set(g, "critical", Fact::Int(i64::from(l.critical)));
    f.set(
        g,
        "short",
        Fact::Int(i64::from(l.target.saturating_sub(ready))),
    );
    let room = source.map(|(_, r, _)| &fp.rooms[r]);
    let metres = source.map_or(0, |(d, _, _)| d.round() as i64);
    let spare = source.map_or(0, |(_, _, n)| i64::from(n));
    f.set(g, "source_known", Fact::Bool(room.is_some()));
    f.set(
        g,
        "source_room",
        Fact::String(room.map(|r| r.id.clone()).unwrap_or_default()),
    );
    f.set(
        g,
        "source_name",
        Fact::String(room.map(|r| r.name.clone()).unwrap_or_default()),
    );
    f.set(g, "source_spare", Fact::Int(spare));
    f.set(g, "source_metres", Fact::Int(metres));
    f.set(
        g,
        "pull_from",
        Fact::String(match room {
            Some(r) => format!("{} {} ({spare} spare, {metres} m)", r.id, r.name),
            None => "no spare nearby".to_string(),
        }),
    );
    f.unit = Some(l.unit.clone());
    f.room = p.station.map(|s| fp.rooms[s].id.clone());
    f
}
