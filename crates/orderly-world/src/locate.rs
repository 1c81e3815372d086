//! Locating: each tag's room from receiver sightings. Per receiver, the RSSI is smoothed with
//! a time-aware EWMA; a room scores its best receiver; the tag moves to another room only when
//! that room leads by a margin for a dwell time (hysteresis), or at once on an IR/ultrasound
//! sighting, which is certain. A tag silent past its class's timeout is reported lost, and
//! stays "last seen in X at T".

use crate::ingest::SightingsIn;
use crate::registry::{Subject, TagClass};
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::{EventKind, Timestamp};
use serde::Deserialize;
use std::collections::BTreeSet;

use crate::outbox::Outbox;

/// Locator parameters (defaults in code; a site overrides them in `rules/`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocatorConfig {
    /// EWMA time constant per receiver, seconds.
    pub tau_s: f32,
    /// A receiver not heard for this long no longer counts, seconds.
    pub stale_s: f32,
    /// How far another room must lead the current one, dB.
    pub margin_db: f32,
    /// How long it must lead before the tag moves, seconds.
    pub dwell_s: f32,
    /// Weakest smoothed RSSI that can place a tag at all, dBm.
    pub floor_dbm: f32,
    /// How long an IR/ultrasound sighting pins the tag to its room, seconds.
    pub ir_hold_s: f32,
    /// Silence after which a tag is lost, by class, seconds.
    pub lost_equipment_s: f32,
    pub lost_staff_s: f32,
    pub lost_patient_s: f32,
}

impl Default for LocatorConfig {
    fn default() -> Self {
        LocatorConfig {
            tau_s: 2.0,
            stale_s: 10.0,
            margin_db: 5.0,
            dwell_s: 3.0,
            floor_dbm: -95.0,
            ir_hold_s: 8.0,
            // Receivers report every 1-2 s; a wheelchair in a dead spot is not an emergency,
            // a patient wristband going quiet for a minute is.
            lost_equipment_s: 900.0,
            lost_staff_s: 300.0,
            lost_patient_s: 60.0,
        }
    }
}

impl LocatorConfig {
    fn lost_after_ms(&self, class: TagClass) -> i64 {
        let s = match class {
            TagClass::Equipment => self.lost_equipment_s,
            TagClass::Staff => self.lost_staff_s,
            TagClass::Patient => self.lost_patient_s,
        };
        (s * 1000.0) as i64
    }
}

#[derive(Resource, Clone)]
pub struct Locator(pub LocatorConfig);

/// How stale `last_seen` may be in the read model (it is exact in the world).
pub const LAST_SEEN_RESOLUTION_MS: i64 = 5000;

#[derive(Clone, Copy, Debug)]
struct Heard {
    receiver: u32,
    room: u32,
    rssi: f32,
    at: Timestamp,
}

/// Per-tag locator state.
#[derive(Component, Default, Debug)]
pub struct Tracking {
    heard: Vec<Heard>,
    ir: Option<(u32, Timestamp)>,
    candidate: Option<(u32, Timestamp)>,
    pub last_heard: Timestamp,
}

/// Where a tag is.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Location {
    pub room: u32,
    pub since: Timestamp,
    pub last_seen: Timestamp,
    pub confidence: f32,
    pub present: bool,
}

/// Tags to look at in the next decide pass (heard, or with a move pending).
#[derive(Resource, Default)]
pub struct Watch(BTreeSet<Entity>);

#[derive(Resource, Default)]
struct LostScan {
    next: Timestamp,
}

pub struct LocatePlugin(pub LocatorConfig);

impl Capability for LocatePlugin {
    fn name(&self) -> &'static str {
        "locate"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.insert_resource(Locator(self.0.clone()));
        world.init_resource::<Watch>();
        world.init_resource::<LostScan>();
        let tagged: Vec<Entity> = world
            .query::<(Entity, &Subject)>()
            .iter(world)
            .filter(|(_, s)| s.tag.is_some())
            .map(|(e, _)| e)
            .collect();
        for e in tagged {
            world.entity_mut(e).insert(Tracking::default());
        }
        schedule.add_systems(
            (absorb_sightings, decide, scan_lost)
                .chain()
                .in_set(Phase::Derive),
        );
    }
}

fn absorb_sightings(
    mut input: MessageReader<SightingsIn>,
    registry: Res<Registry>,
    locator: Res<Locator>,
    mut tags: Query<&mut Tracking>,
    mut watch: ResMut<Watch>,
    mut stats: ResMut<crate::ingest::IngestStats>,
) {
    let tau_ms = locator.0.tau_s * 1000.0;
    for msg in input.read() {
        for s in &msg.sightings {
            let Some(&e) = registry.tags.get(&s.tag) else {
                stats.unknown_tags += 1;
                continue;
            };
            let Ok(mut t) = tags.get_mut(e) else { continue };
            let at = msg.at;
            t.last_heard = t.last_heard.max(at);
            if s.ir {
                t.ir = Some((msg.room, at));
            }
            match t.heard.iter_mut().find(|h| h.receiver == msg.receiver) {
                Some(h) => {
                    let dt = at.since(h.at).max(0) as f32;
                    let alpha = 1.0 - (-dt / tau_ms).exp();
                    h.rssi += alpha.clamp(0.1, 1.0) * (s.rssi - h.rssi);
                    h.at = h.at.max(at);
                }
                None => t.heard.push(Heard {
                    receiver: msg.receiver,
                    room: msg.room,
                    rssi: s.rssi,
                    at,
                }),
            }
            watch.0.insert(e);
        }
    }
}

/// Best and second-best room scores at `now`, dropping stale receivers.
fn score(t: &mut Tracking, now: Timestamp, cfg: &LocatorConfig) -> Option<(u32, f32, f32)> {
    let stale_ms = (cfg.stale_s * 1000.0) as i64;
    t.heard.retain(|h| now.since(h.at) <= stale_ms);
    let mut rooms: Vec<(u32, f32)> = Vec::with_capacity(t.heard.len());
    for h in &t.heard {
        // A receiver not heard lately fades: 1 dB per second after the first two.
        let age_s = (now.since(h.at) as f32 / 1000.0 - 2.0).max(0.0);
        let v = h.rssi - age_s;
        match rooms.iter_mut().find(|(r, _)| *r == h.room) {
            Some((_, best)) => *best = best.max(v),
            None => rooms.push((h.room, v)),
        }
    }
    let (mut best, mut second) = (None::<(u32, f32)>, f32::NEG_INFINITY);
    for &(r, v) in &rooms {
        match best {
            Some((br, bv)) if v > bv || (v == bv && r < br) => {
                second = bv;
                best = Some((r, v));
            }
            Some(_) => second = second.max(v),
            None => best = Some((r, v)),
        }
    }
    best.map(|(r, v)| (r, v, second))
}

fn room_score(t: &Tracking, room: u32, now: Timestamp) -> f32 {
    t.heard
        .iter()
        .filter(|h| h.room == room)
        .map(|h| h.rssi - (now.since(h.at) as f32 / 1000.0 - 2.0).max(0.0))
        .fold(f32::NEG_INFINITY, f32::max)
}

fn confidence(gap_db: f32) -> f32 {
    if gap_db.is_infinite() {
        return 0.9;
    }
    (1.0 - (-gap_db.max(0.0) / 4.0).exp()).clamp(0.05, 0.99)
}

#[allow(clippy::type_complexity)]
fn decide(
    clock: Res<Clock>,
    locator: Res<Locator>,
    site: Res<Site>,
    mut watch: ResMut<Watch>,
    mut tags: Query<(&Subject, &mut Tracking, Option<&mut Location>)>,
    mut outbox: ResMut<Outbox>,
    mut commands: Commands,
) {
    let now = clock.now;
    let cfg = &locator.0;
    let dwell_ms = (cfg.dwell_s * 1000.0) as i64;
    let ir_ms = (cfg.ir_hold_s * 1000.0) as i64;
    let mut keep = BTreeSet::new();
    for e in std::mem::take(&mut watch.0) {
        let Ok((subject, mut t, loc)) = tags.get_mut(e) else {
            continue;
        };
        let current = loc.as_ref().filter(|l| l.present).map(|l| l.room);
        // An IR/ultrasound sighting is certainty.
        let target = if let Some((room, _)) = t.ir.filter(|(_, at)| now.since(*at) <= ir_ms) {
            Some((room, 1.0))
        } else {
            t.ir = None;
            match score(&mut t, now, cfg) {
                Some((best, v, second)) if v >= cfg.floor_dbm => {
                    if current.is_none() {
                        Some((best, confidence(v - second)))
                    } else if Some(best) == current {
                        t.candidate = None;
                        None
                    } else {
                        let cur = room_score(&t, current.unwrap_or(u32::MAX), now);
                        if v - cur >= cfg.margin_db {
                            match t.candidate {
                                Some((c, since)) if c == best => {
                                    if now.since(since) >= dwell_ms {
                                        Some((best, confidence(v - second.max(cur))))
                                    } else {
                                        keep.insert(e);
                                        None
                                    }
                                }
                                _ => {
                                    t.candidate = Some((best, now));
                                    keep.insert(e);
                                    None
                                }
                            }
                        } else {
                            t.candidate = None;
                            None
                        }
                    }
                }
                _ => None,
            }
        };
        let last_seen = t.last_heard;
        let mut loc = loc;
        let previous = loc.as_deref().map(|l| (l.room, l.present));
        if let Some(l) = loc.as_mut() {
            // Every sighting refreshes `last_seen`, but only every few seconds does that count
            // as a change for the read model: views are rebuilt on moves, not on every sighting.
            if last_seen.since(l.last_seen) >= LAST_SEEN_RESOLUTION_MS {
                l.last_seen = last_seen;
            } else {
                l.bypass_change_detection().last_seen = last_seen;
            }
        }
        let Some((room, conf)) = target else {
            if let Some(l) = loc.as_deref_mut().filter(|l| !l.present) {
                // Heard again, and nothing says it left: back where it was last seen.
                l.present = true;
            }
            continue;
        };
        t.candidate = None;
        if let Some(l) = loc.as_deref_mut().filter(|l| l.room == room) {
            l.present = true;
            continue;
        }
        let from = previous.map(|(r, _)| r);
        let new = Location {
            room,
            since: now,
            last_seen,
            confidence: conf,
            present: true,
        };
        match loc.as_deref_mut() {
            Some(l) => *l = new,
            None => {
                commands.entity(e).insert(new);
            }
        }
        let r = &site.0.rooms[room as usize];
        outbox.push(
            now,
            EventKind::LocationChanged {
                subject: subject.id.clone(),
                subject_kind: subject.kind_name.clone(),
                tag: subject.tag.clone().unwrap_or_default(),
                from: from.map(|f| site.0.rooms[f as usize].id.clone()),
                to: r.id.clone(),
                unit: r.unit.clone(),
                confidence: (conf * 100.0).round() / 100.0,
            },
        );
    }
    watch.0 = keep;
}

fn scan_lost(
    clock: Res<Clock>,
    locator: Res<Locator>,
    site: Res<Site>,
    mut scan: ResMut<LostScan>,
    mut tags: Query<(&Subject, &Tracking, &mut Location)>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    if now < scan.next {
        return;
    }
    scan.next = now.plus_ms(1000);
    for (subject, t, mut loc) in &mut tags {
        if !loc.present
            || now.since(t.last_heard.max(loc.last_seen)) <= locator.0.lost_after_ms(subject.class)
        {
            continue;
        }
        loc.present = false;
        let r = &site.0.rooms[loc.room as usize];
        outbox.push(
            now,
            EventKind::LocationLost {
                subject: subject.id.clone(),
                subject_kind: subject.kind_name.clone(),
                tag: subject.tag.clone().unwrap_or_default(),
                room: r.id.clone(),
                unit: r.unit.clone(),
                last_seen: loc.last_seen,
            },
        );
    }
}

/// Puts back the last known rooms after a restart (not present until heard again).
pub(crate) fn restore(
    world: &mut World,
    locations: &[(String, String, Timestamp, Timestamp, f32)],
) {
    let site = world.resource::<Site>().0.clone();
    for (subject, room, since, last_seen, confidence) in locations {
        let Some(&e) = world.resource::<Registry>().subjects.get(subject) else {
            continue;
        };
        let Some(room) = site.room_index(room) else {
            continue;
        };
        let loc = Location {
            room: room as u32,
            since: *since,
            last_seen: *last_seen,
            confidence: *confidence,
            present: false,
        };
        world.entity_mut(e).insert(loc);
        if let Some(mut t) = world.get_mut::<Tracking>(e) {
            t.last_heard = *last_seen;
        }
    }
}
