//! The floorplan: parses and validates a site's TOML (site, buildings, floors, units, rooms
//! with beds and receivers, and the links between rooms with walking distances) into a
//! petgraph walking graph, and answers routing questions over it.
//!
//! Core crate: no IO, no async, never panics on input. Depends on orderly-model (for located
//! file errors), petgraph, serde and toml. The format is documented in `docs/floorplan-format.md`.

mod parse;

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
    Door,
    Corridor,
    Elevator,
    Stairs,
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

/// A walking route between two rooms.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Route {
    /// Walking cost in metres, elevator waits included.
    pub metres: f32,
    /// Room ids from the start to the end, both included.
    pub rooms: Vec<String>,
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
    graph: UnGraph<usize, Link>,
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

    /// Whether rooms `a` and `b` share a link.
    pub fn adjacent(&self, a: usize, b: usize) -> bool {
        self.graph
            .contains_edge(NodeIndex::new(a), NodeIndex::new(b))
    }

    fn cost(&self, link: &Link) -> f32 {
        match link.kind {
            LinkKind::Elevator => link.metres + self.site.elevator_wait_m,
            _ => link.metres,
        }
    }

    /// Walking cost from room `from` to every room (`f32::INFINITY` where unreachable).
    pub fn distances_from(&self, from: usize) -> Vec<f32> {
        let costs = petgraph::algo::dijkstra(&self.graph, NodeIndex::new(from), None, |e| {
            self.cost(e.weight())
        });
        let mut out = vec![f32::INFINITY; self.rooms.len()];
        for (n, c) in costs {
            out[self.graph[n]] = c;
        }
        out
    }

    /// The shortest walking route between two rooms.
    pub fn route(&self, from: usize, to: usize) -> Option<Route> {
        let (metres, path) = petgraph::algo::astar(
            &self.graph,
            NodeIndex::new(from),
            |n| n.index() == to,
            |e| self.cost(e.weight()),
            |_| 0.0,
        )?;
        Some(Route {
            metres,
            rooms: path
                .into_iter()
                .map(|n| self.rooms[n.index()].id.clone())
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests;
