//! Floorplan TOML to a validated [`Floorplan`]: every problem is reported with its line.

use crate::{Building, Floor, Floorplan, Link, LinkKind, Room, RoomKind, Site, Unit};
use orderly_model::{FileError, FileErrors, Source, valid_device_id};
use petgraph::graph::{NodeIndex, UnGraph};
use serde::Deserialize;
use std::collections::HashMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    site: RawSite,
    #[serde(default)]
    building: Vec<RawBuilding>,
    #[serde(default)]
    floor: Vec<RawFloor>,
    #[serde(default)]
    unit: Vec<RawUnit>,
    #[serde(default)]
    room: Vec<RawRoom>,
    #[serde(default)]
    link: Vec<RawLink>,
    #[serde(default)]
    receiver: Vec<RawReceiver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    id: Spanned<String>,
    at: Spanned<[f32; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    id: Spanned<String>,
    name: String,
    #[serde(default = "default_wait")]
    elevator_wait_m: f32,
}

fn default_wait() -> f32 {
    // About 30 s of waiting for a car at a walking speed of 1.2 m/s.
    36.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuilding {
    id: Spanned<String>,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFloor {
    id: Spanned<String>,
    building: Spanned<String>,
    level: i32,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    id: Spanned<String>,
    name: String,
    floor: Spanned<String>,
    kind: String,
    station: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoom {
    id: Spanned<String>,
    #[serde(default)]
    name: Option<String>,
    floor: Spanned<String>,
    #[serde(default)]
    unit: Option<Spanned<String>>,
    kind: RoomKind,
    #[serde(default)]
    beds: Vec<Spanned<String>>,
    #[serde(default)]
    receivers: Vec<Spanned<String>>,
    #[serde(default)]
    rect: Option<[f32; 4]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    a: Spanned<String>,
    b: Spanned<String>,
    kind: LinkKind,
    metres: Spanned<f32>,
}

struct Ctx<'a> {
    src: Source<'a>,
    errors: Vec<FileError>,
    ids: HashMap<String, usize>,
}

impl Ctx<'_> {
    fn err(&mut self, at: usize, msg: String, fix: Option<&str>) {
        let e = self.src.error_at(at, msg, fix.map(str::to_string));
        self.errors.push(e);
    }
    /// Registers a new id: checks its form and that no other entry uses it.
    fn define(&mut self, what: &str, id: &Spanned<String>) {
        let at = id.span().start;
        if let Err(e) = valid_device_id(id.get_ref()) {
            self.err(at, format!("{what} id {:?}: {e}", id.get_ref()), None);
        }
        if let Some(&first) = self.ids.get(id.get_ref()) {
            let (line, _) = self.src.line_col(first);
            self.err(
                at,
                format!("id {:?} is already used on line {line}", id.get_ref()),
                Some("ids must be unique across the whole floorplan"),
            );
        } else {
            self.ids.insert(id.get_ref().clone(), at);
        }
    }
    fn exists<T>(&mut self, what: &str, r: &Spanned<String>, map: &HashMap<String, T>) -> bool {
        if map.contains_key(r.get_ref()) {
            return true;
        }
        self.err(
            r.span().start,
            format!("unknown {what} {:?}", r.get_ref()),
            Some(&format!(
                "declare it in a [[{what}]] table or correct the spelling"
            )),
        );
        false
    }
}

pub(crate) fn parse(file: &str, text: &str) -> Result<Floorplan, FileErrors> {
    let src = Source::new(file, text);
    let raw: RawFile = src.parse_toml()?;
    let mut cx = Ctx {
        src,
        errors: Vec::new(),
        ids: HashMap::new(),
    };

    cx.define("site", &raw.site.id);
    if !(0.0..=600.0).contains(&raw.site.elevator_wait_m) {
        cx.err(
            raw.site.id.span().start,
            format!(
                "elevator_wait_m {} is out of range",
                raw.site.elevator_wait_m
            ),
            Some("use 0 to 600 metres"),
        );
    }

    let mut buildings = HashMap::new();
    for b in &raw.building {
        cx.define("building", &b.id);
        buildings.insert(b.id.get_ref().clone(), ());
    }
    let mut floors = HashMap::new();
    for f in &raw.floor {
        cx.define("floor", &f.id);
        cx.exists("building", &f.building, &buildings);
        floors.insert(f.id.get_ref().clone(), f.level);
    }
    if raw.floor.is_empty() {
        cx.err(
            0,
            "the floorplan has no [[floor]]".into(),
            Some("add at least one floor"),
        );
    }
    let mut units = HashMap::new();
    for u in &raw.unit {
        cx.define("unit", &u.id);
        cx.exists("floor", &u.floor, &floors);
        units.insert(u.id.get_ref().clone(), u.floor.get_ref().clone());
    }

    let mut rooms: HashMap<String, usize> = HashMap::new();
    let mut receiver_room: HashMap<String, usize> = HashMap::new();
    let mut receiver_at: HashMap<String, usize> = HashMap::new();
    for (i, r) in raw.room.iter().enumerate() {
        cx.define("room", &r.id);
        cx.exists("floor", &r.floor, &floors);
        if let Some(u) = &r.unit {
            cx.exists("unit", u, &units);
        }
        for b in &r.beds {
            cx.define("bed position", b);
        }
        for rx in &r.receivers {
            if let Err(e) = valid_device_id(rx.get_ref()) {
                cx.err(
                    rx.span().start,
                    format!("receiver id {:?}: {e}", rx.get_ref()),
                    None,
                );
            }
            if let Some(&first) = receiver_at.get(rx.get_ref()) {
                let (line, _) = cx.src.line_col(first);
                cx.err(
                    rx.span().start,
                    format!(
                        "receiver {:?} is already mounted on line {line}",
                        rx.get_ref()
                    ),
                    Some("a receiver is in one room"),
                );
            } else {
                receiver_at.insert(rx.get_ref().clone(), rx.span().start);
                receiver_room.insert(rx.get_ref().clone(), i);
            }
        }
        if let Some([_, _, w, h]) = r.rect
            && (w <= 0.0 || h <= 0.0 || !w.is_finite() || !h.is_finite())
        {
            cx.err(
                r.id.span().start,
                format!("room {:?} has a rect with no area", r.id.get_ref()),
                Some("rect is [x, y, width, height] in metres"),
            );
        }
        rooms.insert(r.id.get_ref().clone(), i);
    }

    for u in &raw.unit {
        if cx.exists("room", &u.station, &rooms) {
            let room = &raw.room[rooms[u.station.get_ref()]];
            if room.kind != RoomKind::NursingStation {
                cx.err(
                    u.station.span().start,
                    format!(
                        "station {:?} is a {:?} room, not a nursing_station",
                        u.station.get_ref(),
                        room.kind
                    ),
                    None,
                );
            }
        }
    }

    let mut graph: UnGraph<usize, Link> = UnGraph::with_capacity(raw.room.len(), raw.link.len());
    for i in 0..raw.room.len() {
        graph.add_node(i);
    }
    for l in &raw.link {
        let ok_a = cx.exists("room", &l.a, &rooms);
        let ok_b = cx.exists("room", &l.b, &rooms);
        let m = *l.metres.get_ref();
        if !(m.is_finite() && m > 0.0 && m <= 1000.0) {
            cx.err(
                l.metres.span().start,
                format!("metres {m} is out of range"),
                Some("a link is 0 < metres <= 1000 long"),
            );
            continue;
        }
        if !(ok_a && ok_b) {
            continue;
        }
        let (ia, ib) = (rooms[l.a.get_ref()], rooms[l.b.get_ref()]);
        if ia == ib {
            cx.err(
                l.a.span().start,
                "a link joins a room to itself".into(),
                None,
            );
            continue;
        }
        let (ra, rb) = (&raw.room[ia], &raw.room[ib]);
        let same_floor = ra.floor.get_ref() == rb.floor.get_ref();
        match l.kind {
            LinkKind::Door | LinkKind::Corridor | LinkKind::Open if !same_floor => cx.err(
                l.a.span().start,
                format!(
                    "a {:?} link joins {:?} and {:?} on different floors",
                    l.kind,
                    l.a.get_ref(),
                    l.b.get_ref()
                ),
                Some("rooms on different floors are joined by elevator or stairs links"),
            ),
            LinkKind::Elevator | LinkKind::Stairs => {
                let want = if l.kind == LinkKind::Elevator {
                    RoomKind::Elevator
                } else {
                    RoomKind::Stairs
                };
                if same_floor {
                    cx.err(
                        l.a.span().start,
                        format!("a {:?} link joins two rooms on one floor", l.kind),
                        None,
                    );
                } else if ra.kind != want || rb.kind != want {
                    cx.err(
                        l.a.span().start,
                        format!("a {:?} link must join two {want:?} rooms", l.kind),
                        None,
                    );
                } else {
                    graph.add_edge(
                        NodeIndex::new(ia),
                        NodeIndex::new(ib),
                        Link {
                            kind: l.kind,
                            metres: m,
                        },
                    );
                }
            }
            _ => {
                graph.add_edge(
                    NodeIndex::new(ia),
                    NodeIndex::new(ib),
                    Link {
                        kind: l.kind,
                        metres: m,
                    },
                );
            }
        }
    }

    let mut receiver_pos: HashMap<String, [f32; 2]> = HashMap::new();
    for r in &raw.receiver {
        let at = r.id.span().start;
        let Some(&room) = receiver_room.get(r.id.get_ref()) else {
            cx.err(
                at,
                format!("receiver {:?} is not mounted in any room", r.id.get_ref()),
                Some("list it in a room's receivers, or correct the spelling"),
            );
            continue;
        };
        let [x, y] = *r.at.get_ref();
        if !(x.is_finite() && y.is_finite()) {
            cx.err(
                r.at.span().start,
                "at must be two finite numbers".into(),
                Some("at is [x, y] in metres on the floor, as rects are"),
            );
            continue;
        }
        if let Some([rx, ry, w, h]) = raw.room[room].rect {
            const EPS: f32 = 0.05;
            if x < rx - EPS || x > rx + w + EPS || y < ry - EPS || y > ry + h + EPS {
                cx.err(
                    r.at.span().start,
                    format!(
                        "receiver {:?} at [{x}, {y}] is outside its room {:?} ([{rx}, {ry}, {w}, {h}])",
                        r.id.get_ref(),
                        raw.room[room].id.get_ref()
                    ),
                    Some("give a point inside the room's rect, or mount the receiver in the room that holds it"),
                );
                continue;
            }
        }
        if receiver_pos
            .insert(r.id.get_ref().clone(), [x, y])
            .is_some()
        {
            cx.err(
                at,
                format!("receiver {:?} is placed twice", r.id.get_ref()),
                Some("give one [[receiver]] per receiver"),
            );
        }
    }

    if cx.errors.is_empty() && !raw.room.is_empty() {
        // Every room must be reachable on foot from the first one.
        let reach = petgraph::algo::dijkstra(&graph, NodeIndex::new(0), None, |_| 1u32);
        for (i, r) in raw.room.iter().enumerate() {
            if !reach.contains_key(&NodeIndex::new(i)) {
                cx.err(
                    r.id.span().start,
                    format!(
                        "room {:?} cannot be reached from {:?}",
                        r.id.get_ref(),
                        raw.room[0].id.get_ref()
                    ),
                    Some("add a [[link]] (door, corridor, open, elevator or stairs) to it"),
                );
            }
        }
    }

    if !cx.errors.is_empty() {
        return Err(FileErrors(cx.errors));
    }

    let mut fp = Floorplan {
        site: Site {
            id: raw.site.id.into_inner(),
            name: raw.site.name,
            elevator_wait_m: raw.site.elevator_wait_m,
        },
        buildings: raw
            .building
            .into_iter()
            .map(|b| Building {
                id: b.id.into_inner(),
                name: b.name,
            })
            .collect(),
        floors: raw
            .floor
            .into_iter()
            .map(|f| Floor {
                id: f.id.into_inner(),
                building: f.building.into_inner(),
                level: f.level,
                name: f.name,
            })
            .collect(),
        units: raw
            .unit
            .into_iter()
            .map(|u| Unit {
                id: u.id.into_inner(),
                name: u.name,
                floor: u.floor.into_inner(),
                kind: u.kind,
                station: u.station.into_inner(),
            })
            .collect(),
        rooms: raw
            .room
            .into_iter()
            .map(|r| Room {
                name: r.name.unwrap_or_else(|| r.id.get_ref().clone()),
                id: r.id.into_inner(),
                floor: r.floor.into_inner(),
                unit: r.unit.map(Spanned::into_inner),
                kind: r.kind,
                beds: r.beds.into_iter().map(Spanned::into_inner).collect(),
                receivers: r.receivers.into_iter().map(Spanned::into_inner).collect(),
                rect: r.rect,
            })
            .collect(),
        room_index: rooms,
        receiver_room,
        receiver_at: receiver_pos,
        neighbours: crate::neighbours(&graph, false),
        open_neighbours: crate::neighbours(&graph, true),
        graph,
        openings: Vec::new(),
    };
    fp.openings = crate::geometry::openings(&fp);
    Ok(fp)
}
