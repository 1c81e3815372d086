//! The floorplan: parses and validates a site's TOML (site, buildings, floors, units, rooms
//! with beds and receivers, and the links between rooms with walking distances) into a
//! petgraph walking graph, and answers routing questions over it.
//!
//! Core crate: no IO, no async, never panics on input. Depends on orderly-model (for located
//! file errors), petgraph, serde and toml. The format is documented in `docs/floorplan-format.md`.

mod geometry;
mod parse;

pub use geometry::{Crossing, Opening, Seg, inside};

use petgraph::graph::{NodeIndex, UnGraph};
use serde::Serialize;
use std::collections::HashMap;

pub use orderly_model::{FileError, FileErrors};

/// What a room is for. Corridors, elevators and stairs are rooms too: every place a tag can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Patient,
    Bay,
    NursingStation,
    CleanUtility,
    DirtyUtility,
    Storage,
    Corridor,
    Elevator,
    Stairs,
    Lobby,
    Office,
    Procedure,
    Exit,
}

impl RoomKind {
    /// The name used in files and the API (`patient`, `nursing_station`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Patient => "patient",
            RoomKind::Bay => "bay",
            RoomKind::NursingStation => "nursing_station",
            RoomKind::CleanUtility => "clean_utility",
            RoomKind::DirtyUtility => "dirty_utility",
            RoomKind::Storage => "storage",
            RoomKind::Corridor => "corridor",
            RoomKind::Elevator => "elevator",
            RoomKind::Stairs => "stairs",
            RoomKind::Lobby => "lobby",
            RoomKind::Office => "office",
            RoomKind::Procedure => "procedure",
            RoomKind::Exit => "exit",
        }
    }

    /// Places people pass through rather than stay in.
    pub fn is_transit(self) -> bool {
        matches!(
            self,
            RoomKind::Corridor | RoomKind::Elevator | RoomKind::Stairs | RoomKind::Lobby
        )
    }
}

/// How two rooms are connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Through a doorway in a wall.
    Door,
    /// Two segments of one corridor: no wall between.
    Corridor,
    /// An open border: two areas of one floor with no wall between (a wide opening, an
    /// alcove, an open-plan area cut in parts).
    Open,
    Elevator,
    Stairs,
}

impl LinkKind {
    /// No wall between the two rooms (`open`, `corridor`); the others pass through a doorway.
    pub fn is_open(self) -> bool {
        matches!(self, LinkKind::Open | LinkKind::Corridor)
    }
}

/// What separates two rooms, as far as a radio signal and a walker are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Border {
    /// Linked through a door (or a lift or stairs): a wall with a way through.
    Door,
    /// Linked with no wall between (`open` and `corridor` links).
    Open,
    /// Not linked, but their rects touch on one floor: a wall nobody walks through.
    Wall,
    /// Neither linked nor touching.
    Apart,
}

#[derive(Clone, Debug, Serialize)]
pub struct Site {
    pub id: String,
    pub name: String,
    /// Walking metres an elevator ride costs on top of its length (waiting for the car).
    pub elevator_wait_m: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Building {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Floor {
    pub id: String,
    pub building: String,
    pub level: i32,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub floor: String,
    /// `emergency`, `icu`, `med_surg`, ...
    pub kind: String,
    /// The unit's nursing station room.
    pub station: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Room {
    pub id: String,
    pub name: String,
    pub floor: String,
    pub unit: Option<String>,
    pub kind: RoomKind,
    /// Bed positions in the room.
    pub beds: Vec<String>,
    pub receivers: Vec<String>,
    /// `[x, y, width, height]` in metres on its floor, for drawing.
    pub rect: Option<[f32; 4]>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Link {
    pub kind: LinkKind,
    pub metres: f32,
}

/// How something moves through the building: people walk (stairs too); wheeled things (beds,
/// pumps on poles, wheelchairs, stretchers, ventilators: every piece of tracked equipment) go by
/// lift, never by stairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    Walking,
    Wheeled,
}

/// A walking route between two rooms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Route {
    /// Walking cost in metres, elevator waits included.
    pub metres: f32,
    /// Room ids from the start to the end, both included.
    pub rooms: Vec<String>,
}

/// A walking round through rooms: the order to visit them and the whole route.
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    /// The stops (room indices) in visiting order.
    pub order: Vec<usize>,
    /// Walking metres from the previous stop (the start, for the first).
    pub legs: Vec<f32>,
    pub metres: f32,
    /// Room ids from the start through every stop, each room once per pass.
    pub rooms: Vec<String>,
}

/// Each node's linked nodes (only those linked with no wall between, when `open`), sorted and
/// once each (a room index is its node's).
fn neighbours(graph: &UnGraph<usize, Link>, open: bool) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); graph.node_count()];
    for e in graph
        .raw_edges()
        .iter()
        .filter(|e| !open || e.weight.kind.is_open())
    {
        let (a, b) = (e.source().index(), e.target().index());
        out[a].push(b as u32);
        out[b].push(a as u32);
    }
    for n in &mut out {
        n.sort_unstable();
        n.dedup();
    }
    out
}

/// A validated floorplan and its walking graph. Room indices are stable: the order of the file.
#[derive(Clone, Debug)]
pub struct Floorplan {
    pub site: Site,
    pub buildings: Vec<Building>,
    pub floors: Vec<Floor>,
    pub units: Vec<Unit>,
    pub rooms: Vec<Room>,
    room_index: HashMap<String, usize>,
    receiver_room: HashMap<String, usize>,
    /// Receivers' positions on their floor, where the file gives them.
    receiver_at: HashMap<String, [f32; 2]>,
    graph: UnGraph<usize, Link>,
    /// Each room's linked rooms, sorted: [`adjacent`](Floorplan::adjacent) asks it for every
    /// pair of rooms a tag is believed in, at every update (the graph's own edge lists are
    /// walked one by one, and a corridor has dozens of doors).
    neighbours: Vec<Vec<u32>>,
    /// Each room's rooms linked with no wall between, sorted ([`open_border`](Floorplan::open_border)).
    open_neighbours: Vec<Vec<u32>>,
    /// Doorways and open borders (computed from the links and rects).
    openings: Vec<Opening>,
}

impl Floorplan {
    /// Parses and validates a floorplan; `file` names it in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Floorplan, FileErrors> {
        parse::parse(file, text)
    }

    pub fn room_index(&self, id: &str) -> Option<usize> {
        self.room_index.get(id).copied()
    }

    pub fn room(&self, id: &str) -> Option<&Room> {
        self.room_index(id).map(|i| &self.rooms[i])
    }

    pub fn unit(&self, id: &str) -> Option<&Unit> {
        self.units.iter().find(|u| u.id == id)
    }

    /// The room a receiver is mounted in.
    pub fn receiver_room(&self, receiver: &str) -> Option<usize> {
        self.receiver_room.get(receiver).copied()
    }

    /// Where a receiver is mounted, `[x, y]` in metres on its floor, if the file says.
    pub fn receiver_at(&self, receiver: &str) -> Option<[f32; 2]> {
        self.receiver_at.get(receiver).copied()
    }

    /// What separates rooms `a` and `b`: the link between them, else a wall where their rects
    /// touch on one floor (within 5 cm), else nothing.
    pub fn border(&self, a: usize, b: usize) -> Border {
        if a == b {
            return Border::Open;
        }
        if let Some(e) = self.graph.find_edge(NodeIndex::new(a), NodeIndex::new(b)) {
            return if self.graph[e].kind.is_open() {
                Border::Open
            } else {
                Border::Door
            };
        }
        let (ra, rb) = (&self.rooms[a], &self.rooms[b]);
        match (ra.rect, rb.rect) {
            (Some(p), Some(q)) if ra.floor == rb.floor && geometry::shared_edge(p, q).is_some() => {
                Border::Wall
            }
            _ => Border::Apart,
        }
    }

    /// All receivers with their room index, sorted by receiver id.
    pub fn receivers(&self) -> Vec<(&str, usize)> {
        let mut v: Vec<_> = self
            .receiver_room
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        v.sort();
        v
    }

    /// Rooms directly connected to room `i`, with the link.
    pub fn neighbours(&self, i: usize) -> impl Iterator<Item = (usize, Link)> + '_ {
        let n = NodeIndex::new(i);
        self.graph.edges(n).map(move |e| {
            use petgraph::visit::EdgeRef;
            let other = if e.source() == n {
                e.target()
            } else {
                e.source()
            };
            (self.graph[other], *e.weight())
        })
    }

    /// Whether nothing but an open border separates rooms `a` and `b` ([`Border::Open`], as
    /// [`border`](Floorplan::border) says), without its geometry: the locator asks it for every
    /// room a tag is believed in, at every update.
    pub fn open_border(&self, a: usize, b: usize) -> bool {
        let Ok(b32) = u32::try_from(b) else {
            return false;
        };
        a == b
            || self
                .open_neighbours
                .get(a)
                .is_some_and(|n| n.binary_search(&b32).is_ok())
    }

    /// Whether rooms `a` and `b` share a link.
    pub fn adjacent(&self, a: usize, b: usize) -> bool {
        let Ok(b) = u32::try_from(b) else {
            return false;
        };
        self.neighbours
            .get(a)
            .is_some_and(|n| n.binary_search(&b).is_ok())
    }

    /// What a link costs `way`: metres, a lift's wait as metres; stairs (the flight, or into
    /// or out of a stairwell) are no way for wheels.
    fn cost_for(&self, e: petgraph::graph::EdgeReference<'_, Link>, way: Way) -> f32 {
        use petgraph::visit::EdgeRef;
        let link = e.weight();
        let stairwell = [e.source(), e.target()]
            .iter()
            .any(|n| self.rooms[self.graph[*n]].kind == RoomKind::Stairs);
        match (link.kind, way) {
            (LinkKind::Stairs, Way::Wheeled) => f32::INFINITY,
            (_, Way::Wheeled) if stairwell => f32::INFINITY,
            (LinkKind::Elevator, _) => link.metres + self.site.elevator_wait_m,
            _ => link.metres,
        }
    }

    /// The cost from room `from` to every room for `way` (`f32::INFINITY` where unreachable).
    pub fn distances_for(&self, from: usize, way: Way) -> Vec<f32> {
        let costs = petgraph::algo::dijkstra(&self.graph, NodeIndex::new(from), None, |e| {
            self.cost_for(e, way)
        });
        let mut out = vec![f32::INFINITY; self.rooms.len()];
        for (n, c) in costs {
            out[self.graph[n]] = c;
        }
        out
    }

    /// The shortest route for `way` between two rooms (None: no way, such as stairs only for
    /// a wheeled item).
    pub fn route_for(&self, from: usize, to: usize, way: Way) -> Option<Route> {
        let (metres, path) = petgraph::algo::astar(
            &self.graph,
            NodeIndex::new(from),
            |n| n.index() == to,
            |e| self.cost_for(e, way),
            |_| 0.0,
        )?;
        metres.is_finite().then(|| Route {
            metres,
            rooms: path
                .into_iter()
                .map(|n| self.rooms[n.index()].id.clone())
                .collect(),
        })
    }

    /// Walking cost from room `from` to every room (`f32::INFINITY` where unreachable).
    pub fn distances_from(&self, from: usize) -> Vec<f32> {
        self.distances_for(from, Way::Walking)
    }

    /// A short round from `from` through every room of `stops` (duplicates and unreachable
    /// rooms dropped): nearest neighbour first, then 2-opt until no swap shortens it. Not
    /// always the shortest (that is the travelling-salesman problem), within a few percent for
    /// the tens of rooms of an engineer's round.
    pub fn round(&self, from: usize, stops: &[usize]) -> Round {
        let d0 = self.distances_from(from);
        let mut stops: Vec<usize> = stops
            .iter()
            .copied()
            .filter(|s| *s < self.rooms.len() && d0[*s].is_finite() && *s != from)
            .collect();
        stops.sort_unstable();
        stops.dedup();
        // Distances: index 0 is the start, i + 1 is stops[i].
        let nodes: Vec<usize> = std::iter::once(from).chain(stops.iter().copied()).collect();
        let dist: Vec<Vec<f32>> = nodes
            .iter()
            .map(|&n| {
                let d = if n == from {
                    d0.clone()
                } else {
                    self.distances_from(n)
                };
                nodes.iter().map(|&m| d[m]).collect()
            })
            .collect();
        let n = nodes.len();
        let mut tour = vec![0usize];
        let mut left: Vec<usize> = (1..n).collect();
        while !left.is_empty() {
            let last = *tour.last().expect("starts with the start");
            let (i, _) = left
                .iter()
                .enumerate()
                .min_by(|a, b| {
                    dist[last][*a.1]
                        .total_cmp(&dist[last][*b.1])
                        .then(a.1.cmp(b.1))
                })
                .expect("not empty");
            tour.push(left.swap_remove(i));
        }
        // 2-opt on the open path (the round ends at its last stop).
        let len = |t: &[usize]| t.windows(2).map(|w| dist[w[0]][w[1]]).sum::<f32>();
        let mut improved = true;
        while improved {
            improved = false;
            for i in 1..tour.len().saturating_sub(1) {
                for j in i + 1..tour.len() {
                    let before = dist[tour[i - 1]][tour[i]]
                        + tour.get(j + 1).map_or(0.0, |&k| dist[tour[j]][k]);
                    let after = dist[tour[i - 1]][tour[j]]
                        + tour.get(j + 1).map_or(0.0, |&k| dist[tour[i]][k]);
                    if after + 1e-3 < before {
                        tour[i..=j].reverse();
                        improved = true;
                    }
                }
            }
        }
        let legs: Vec<f32> = tour.windows(2).map(|w| dist[w[0]][w[1]]).collect();
        let mut rooms = vec![self.rooms[from].id.clone()];
        for w in tour.windows(2) {
            if let Some(r) = self.route(nodes[w[0]], nodes[w[1]]) {
                rooms.extend(r.rooms.into_iter().skip(1));
            }
        }
        Round {
            metres: len(&tour),
            order: tour[1..].iter().map(|&i| nodes[i]).collect(),
            legs,
            rooms,
        }
    }

    /// The shortest walking route between two rooms.
    pub fn route(&self, from: usize, to: usize) -> Option<Route> {
        self.route_for(from, to, Way::Walking)
    }
}

#[cfg(test)]
mod tests;
