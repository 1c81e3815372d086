//! The device simulator: plausible contract traffic for a floorplan and seed, in virtual time,
//! with its ground truth. Staff walk rounds in their units, equipment is fetched from storage
//! to patient rooms and back through dirty utility, pumps infuse and sometimes alarm, beds
//! report their frame and load cells, patients sometimes get out of bed; room receivers hear
//! the tags in their room strongly and those next door weakly, with noise.
//!
//! Core crate: no IO, no async, no wall clock: the caller says how far to advance. The same
//! floorplan, seed, configuration and random seed give the same messages, byte for byte.
//! Depends on orderly-model, orderly-floorplan, rand and serde_json.

pub mod fleet;

use orderly_floorplan::{Floorplan, RoomKind};
use orderly_model::{Seed, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Walking speed, metres per second.
const WALK_MPS: f32 = 1.2;

/// What to simulate and how often.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Random seed: the same seed gives the same traffic.
    pub seed: u64,
    /// How often each receiver reports, milliseconds.
    pub receiver_period_ms: i64,
    /// Equipment moves per item per hour.
    pub equipment_moves_per_hour: f64,
    /// Bed exits per occupied bed per hour.
    pub bed_exits_per_hour: f64,
    /// Pump alarms per infusing pump per hour.
    pub pump_alarms_per_hour: f64,
    /// Falls reported by wearables per patient per hour.
    pub falls_per_hour: f64,
    /// Stream accelerometer samples from wearables (heavy; off by default).
    pub imu: bool,
    /// Chance that a bed is left with a lapse in its safety settings after a nurse's visit
    /// (a turn, or putting the patient back to bed) and at the start: exit alarm off, bed
    /// raised, brakes off, or (ventilated patients) the head of the bed lowered.
    pub care_lapses: f64,
    /// How beds answer Orderly's commands, by bed asset id (default: they apply them).
    pub bed_answers: BTreeMap<String, BedAnswer>,
}

/// How a simulated bed answers a command on `bed/{device}/command`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BedAnswer {
    /// Applies it (a motion takes a few seconds, `moving` meanwhile) and acknowledges.
    #[default]
    Apply,
    /// Acknowledges with a refusal (`bed in CPR mode`).
    Refuse,
    /// Says nothing.
    Ignore,
}

impl BedAnswer {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "apply" => Some(BedAnswer::Apply),
            "refuse" => Some(BedAnswer::Refuse),
            "ignore" => Some(BedAnswer::Ignore),
            _ => None,
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            receiver_period_ms: 1000,
            equipment_moves_per_hour: 0.6,
            bed_exits_per_hour: 0.1,
            pump_alarms_per_hour: 0.05,
            falls_per_hour: 0.01,
            imu: false,
            care_lapses: 0.0,
            bed_answers: BTreeMap::new(),
        }
    }
}

/// One MQTT message to publish.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Message {
    pub at: Timestamp,
    pub topic: String,
    pub payload: serde_json::Value,
}

/// What really happened, for tests and evaluations to check answers against.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Truth {
    /// A tag is now in `room`.
    Room {
        at: Timestamp,
        subject: String,
        tag: String,
        room: String,
    },
    BedExit {
        at: Timestamp,
        bed: String,
        patient: String,
        room: String,
    },
    BackInBed {
        at: Timestamp,
        bed: String,
        patient: String,
    },
    /// A nurse turned the patient to another side in bed.
    Turned {
        at: Timestamp,
        bed: String,
        patient: String,
    },
    PumpAlarm {
        at: Timestamp,
        pump: String,
        room: String,
    },
    PumpAlarmCleared {
        at: Timestamp,
        pump: String,
    },
    Fall {
        at: Timestamp,
        patient: String,
        wearable: String,
        room: String,
    },
    /// The patient is in bed and a safety setting was left out of place: `exit_alarm` off,
    /// `height` raised, `brakes` off or `hob_deg` lowered.
    Lapse {
        at: Timestamp,
        bed: String,
        patient: String,
        setting: String,
        room: String,
    },
    /// A command reached the bed and how it answered (`apply`, `refuse`, `ignore`).
    Command {
        at: Timestamp,
        bed: String,
        command_id: String,
        answer: BedAnswer,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    Staff,
    Equipment,
    Patient,
}

struct Tag {
    subject: String,
    tag: String,
    class: Class,
    room: usize,
    /// Rooms still to walk through, with the time of arrival in each.
    path: VecDeque<(usize, Timestamp)>,
    /// When it next considers moving.
    next_decision: Timestamp,
    /// Rooms it moves among (its unit; all of them for roaming staff).
    area: Vec<usize>,
    home: usize,
    battery: f32,
}

struct Bed {
    id: String,
    device: String,
    tag: usize,
    patient: Option<String>,
    occupied: bool,
    alarm: &'static str,
    hob: f32,
    height: &'static str,
    brakes: bool,
    surface: String,
    /// A commanded motion under way until then.
    moving_until: Option<Timestamp>,
    /// Its patient is ventilated (the head of the bed stays at 30 degrees or more).
    ventilated: bool,
    /// What its patient is doing (an empty bed: `Out` for ever).
    activity: Activity,
    next_state: Timestamp,
    /// Load samples at 5 Hz, sent once a second: (first sample's time, cells).
    load: Batch<[f32; 4]>,
    next_sample: Timestamp,
    seq: u64,
    weight: f32,
    /// Shifting in bed: the lateral centre of mass wavers with this phase (radians).
    roll_phase: f32,
    /// The side the patient lies on (-0.25 left, 0 back, 0.25 right), and when a nurse next
    /// turns them (every 90-150 minutes).
    side: f32,
    next_turn: Timestamp,
}

/// Samples gathered for one message: the first sample's time and the samples; full at `len`.
struct Batch<T> {
    first: Timestamp,
    samples: Vec<T>,
}

impl<T> Batch<T> {
    fn new(at: Timestamp) -> Self {
        Batch {
            first: at,
            samples: Vec::new(),
        }
    }

    /// Adds a sample taken at `at`; returns the batch once it holds `len`.
    fn push(&mut self, at: Timestamp, sample: T, len: usize) -> Option<(Timestamp, Vec<T>)> {
        if self.samples.is_empty() {
            self.first = at;
        }
        self.samples.push(sample);
        (self.samples.len() >= len).then(|| {
            let full = std::mem::replace(self, Batch::new(at));
            (full.first, full.samples)
        })
    }
}

/// What a bed's patient is doing. Getting up takes 4 s (to the edge, feet down, standing) and
/// getting back in 3 s, so the load cells and the wearable see the whole movement.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Activity {
    InBed,
    GettingUp {
        since: Timestamp,
        /// -1 left, 1 right.
        side: f32,
        /// A fall on the way (the impact), for falls the simulator injects.
        fall_at: Option<Timestamp>,
    },
    Out {
        back_at: Timestamp,
        fall_at: Option<Timestamp>,
        fallen: bool,
    },
    GettingIn {
        since: Timestamp,
        side: f32,
    },
}

/// Standing up after `GETTING_UP_MS`; back in bed `GETTING_IN_MS` after starting.
const GETTING_UP_MS: i64 = 4000;
const GETTING_IN_MS: i64 = 3000;

impl Activity {
    /// Share of the patient's weight on the bed, and the lateral centre of mass.
    fn load(&self, now: Timestamp) -> (f32, f32) {
        match *self {
            Activity::InBed => (1.0, 0.0),
            Activity::GettingUp { since, side, .. } => {
                let e = now.since(since) as f32;
                if e < 2000.0 {
                    (1.0 - 0.05 * e / 2000.0, side * 0.85 * e / 2000.0)
                } else {
                    (0.65, side * 0.88)
                }
            }
            Activity::Out { .. } => (0.0, 0.0),
            Activity::GettingIn { since, side } => {
                let e = now.since(since) as f32;
                if e < 1500.0 {
                    (0.65, side * 0.88)
                } else {
                    (1.0, side * 0.88 * (1.0 - (e - 1500.0) / 1500.0).max(0.0))
                }
            }
        }
    }

    /// The wearer's acceleration in the body frame (x forward, y up when standing, z to the
    /// side), g, without noise: lying on the back in bed, sitting up, walking, falling.
    fn body_acc(&self, now: Timestamp) -> [f32; 3] {
        let turn = |frac: f32| {
            let a = frac.clamp(0.0, 1.0) * std::f32::consts::FRAC_PI_2;
            [a.cos(), a.sin(), 0.0]
        };
        match *self {
            Activity::InBed => [1.0, 0.0, 0.0],
            Activity::GettingUp { since, .. } => turn(now.since(since) as f32 / 2000.0),
            Activity::Out {
                fall_at, fallen, ..
            } => {
                let to_fall = fall_at.map(|f| f.since(now));
                match to_fall {
                    // Dropping: the last 0.4 s before the impact is near free fall.
                    Some(d) if !fallen && (1..=400).contains(&d) => [0.05, 0.3, 0.05],
                    // The impact: 60 ms of about 3.2 g.
                    Some(d) if (-60..=0).contains(&d) => [2.5, 2.0, 0.5],
                    // On the floor, on one side, still.
                    Some(d) if d < -60 => [0.0, 0.0, 1.0],
                    _ => {
                        // Walking: about two steps a second.
                        let t = now.0 as f32 / 1000.0;
                        let w = (std::f32::consts::TAU * 2.0 * t).sin();
                        [
                            0.05 * w,
                            1.0 + 0.25 * w,
                            0.05 * (std::f32::consts::PI * 2.0 * t).cos(),
                        ]
                    }
                }
            }
            Activity::GettingIn { since, .. } => {
                turn(1.0 - now.since(since) as f32 / GETTING_IN_MS as f32)
            }
        }
    }
}

struct Pump {
    id: String,
    device: String,
    tag: usize,
    state: &'static str,
    runtime_h: f64,
    battery: f32,
    occlusions: u64,
    clear_at: Option<Timestamp>,
    next: Timestamp,
    seq: u64,
}

struct Wearable {
    device: String,
    patient: String,
    /// The patient's bed (index into `beds`), once beds are set up.
    bed: Option<usize>,
    /// How the device sits on the body: body axis and sign for each device axis.
    mount: [(usize, f32); 3],
    /// Samples at 50 Hz, sent once a second: (first sample's time, samples).
    imu: Batch<[f32; 3]>,
    next_sample: Timestamp,
    seq: u64,
}

/// The simulated hospital.
pub struct Simulator {
    fp: Arc<Floorplan>,
    cfg: SimConfig,
    rng: StdRng,
    now: Timestamp,
    prefix: String,
    tags: Vec<Tag>,
    beds: Vec<Bed>,
    pumps: Vec<Pump>,
    wearables: Vec<Wearable>,
    /// Receivers: (id, room, next report, seq).
    receivers: Vec<(String, usize, Timestamp, u64)>,
    /// Commands received and not yet answered: (when the bed answers, bed, command id, settings).
    answers: Vec<(
        Timestamp,
        usize,
        String,
        serde_json::Map<String, serde_json::Value>,
    )>,
    truth: Vec<Truth>,
}

fn rooms_of(fp: &Floorplan, unit: Option<&str>, kinds: &[RoomKind]) -> Vec<usize> {
    fp.rooms
        .iter()
        .enumerate()
        .filter(|(_, r)| (unit.is_none() || r.unit.as_deref() == unit) && kinds.contains(&r.kind))
        .map(|(i, _)| i)
        .collect()
}

impl Simulator {
    pub fn new(fp: Arc<Floorplan>, seed: &Seed, cfg: SimConfig, start: Timestamp) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let prefix = format!("orderly/v1/{}/", fp.site.id);
        let central = rooms_of(&fp, None, &[RoomKind::Storage]);
        let all_patient_rooms = rooms_of(&fp, None, &[RoomKind::Patient, RoomKind::Bay]);
        let mut sim = Simulator {
            fp: fp.clone(),
            cfg,
            rng: StdRng::seed_from_u64(0),
            now: start,
            prefix,
            tags: Vec::new(),
            beds: Vec::new(),
            pumps: Vec::new(),
            wearables: Vec::new(),
            receivers: Vec::new(),
            answers: Vec::new(),
            truth: Vec::new(),
        };
        let bed_room = |bed: &str| -> Option<usize> {
            // Beds named BED-{unit}-{nn} stand in the room whose bed position is {unit}-{nn}.
            let pos = bed.strip_prefix("BED-")?;
            fp.rooms
                .iter()
                .position(|r| r.beds.iter().any(|b| b == pos))
        };
        let mut tag_of: BTreeMap<String, usize> = BTreeMap::new();
        for a in &seed.assets {
            let Some(tag) = &a.tag else { continue };
            let unit = a.unit.as_deref();
            let mut area = rooms_of(
                &fp,
                unit,
                &[
                    RoomKind::Patient,
                    RoomKind::Bay,
                    RoomKind::Storage,
                    RoomKind::CleanUtility,
                    RoomKind::DirtyUtility,
                ],
            );
            if area.is_empty() {
                area = central.clone();
            }
            let home = bed_room(&a.id).unwrap_or_else(|| {
                let stores = rooms_of(&fp, unit, &[RoomKind::Storage, RoomKind::CleanUtility]);
                let pool = if stores.is_empty() { &central } else { &stores };
                if a.kind == "infusion_pump" && rng.random_bool(0.4) && !area.is_empty() {
                    area[rng.random_range(0..area.len())]
                } else {
                    pool[rng.random_range(0..pool.len().max(1)) % pool.len().max(1)]
                }
            });
            let moves = a.kind != "bed";
            tag_of.insert(a.id.clone(), sim.tags.len());
            sim.tags.push(Tag {
                subject: a.id.clone(),
                tag: tag.clone(),
                class: Class::Equipment,
                room: home,
                path: VecDeque::new(),
                // The first move within the hour, or sooner when items move more often than
                // hourly (a simulation asked for frequent moves shows them from the start).
                next_decision: if moves {
                    let mean_ms = 3_600_000.0 / sim.cfg.equipment_moves_per_hour.max(1e-6);
                    start.plus_ms(rng.random_range(0..(mean_ms.min(3_600_000.0) as i64).max(1)))
                } else {
                    Timestamp(i64::MAX)
                },
                area,
                home,
                // A few tags in any fleet are near the end of their cell.
                battery: if rng.random_bool(0.02) {
                    rng.random_range(0.05..0.15)
                } else {
                    rng.random_range(0.3..1.0)
                },
            });
        }
        for s in &seed.staff {
            let unit = s.units.first().map(String::as_str);
            let mut area = rooms_of(
                &fp,
                unit,
                &[
                    RoomKind::Patient,
                    RoomKind::Bay,
                    RoomKind::NursingStation,
                    RoomKind::CleanUtility,
                    RoomKind::DirtyUtility,
                    RoomKind::Storage,
                ],
            );
            if area.is_empty() {
                area = (0..fp.rooms.len())
                    .filter(|&i| {
                        !fp.rooms[i].kind.is_transit() && fp.rooms[i].kind != RoomKind::Exit
                    })
                    .collect();
            }
            let home = area[rng.random_range(0..area.len())];
            sim.tags.push(Tag {
                subject: s.id.clone(),
                tag: s.badge.clone(),
                class: Class::Staff,
                room: home,
                path: VecDeque::new(),
                next_decision: start.plus_ms(rng.random_range(0..300_000)),
                area,
                home,
                battery: rng.random_range(0.3..1.0),
            });
        }
        for p in &seed.patients {
            let room = bed_room(&p.bed).unwrap_or_else(|| all_patient_rooms[0]);
            if let Some(t) = &p.tag {
                sim.tags.push(Tag {
                    subject: p.id.clone(),
                    tag: t.clone(),
                    class: Class::Patient,
                    room,
                    path: VecDeque::new(),
                    next_decision: Timestamp(i64::MAX),
                    area: vec![room],
                    home: room,
                    battery: 0.9,
                });
            }
            if let Some(w) = &p.wearable {
                // Worn any way round: a random axis order and signs.
                let mut axes = [0usize, 1, 2];
                for i in (1..3).rev() {
                    axes.swap(i, rng.random_range(0..=i));
                }
                let mount = axes.map(|a| (a, if rng.random_bool(0.5) { 1.0 } else { -1.0 }));
                sim.wearables.push(Wearable {
                    device: w.clone(),
                    patient: p.id.clone(),
                    bed: None,
                    mount,
                    imu: Batch::new(start),
                    next_sample: start,
                    seq: 0,
                });
            }
        }
        for a in &seed.assets {
            let (Some(device), Some(&tag)) = (&a.device, tag_of.get(&a.id)) else {
                continue;
            };
            if a.kind == "bed" {
                let census = seed.patients.iter().find(|p| p.bed == a.id);
                let patient = census.map(|p| p.id.clone());
                let occupied = patient.is_some();
                sim.beds.push(Bed {
                    id: a.id.clone(),
                    device: device.clone(),
                    tag,
                    occupied,
                    patient,
                    alarm: if occupied { "armed" } else { "off" },
                    hob: if occupied { 30.0 } else { 0.0 },
                    height: "low",
                    brakes: true,
                    surface: "static".into(),
                    moving_until: None,
                    ventilated: census.is_some_and(|p| p.ventilated),
                    activity: if occupied {
                        Activity::InBed
                    } else {
                        Activity::Out {
                            back_at: Timestamp(i64::MAX),
                            fall_at: None,
                            fallen: false,
                        }
                    },
                    // A bed reports its state as it connects, then every 30 s.
                    next_state: start.plus_ms(rng.random_range(0..2_000)),
                    load: Batch::new(start),
                    next_sample: start.plus_ms(rng.random_range(0..200)),
                    seq: 0,
                    weight: rng.random_range(50.0..110.0),
                    roll_phase: rng.random_range(0.0..std::f32::consts::TAU),
                    side: 0.0,
                    next_turn: start.plus_ms(rng.random_range(0..9_000_000)),
                });
            } else {
                let in_patient_room = matches!(
                    fp.rooms[sim.tags[tag].room].kind,
                    RoomKind::Patient | RoomKind::Bay
                );
                sim.pumps.push(Pump {
                    id: a.id.clone(),
                    device: device.clone(),
                    tag,
                    state: if in_patient_room { "infusing" } else { "off" },
                    runtime_h: rng.random_range(100.0..12_000.0),
                    battery: rng.random_range(40.0..100.0),
                    occlusions: rng.random_range(0..30),
                    clear_at: None,
                    next: start.plus_ms(rng.random_range(0..60_000)),
                    seq: 0,
                });
            }
        }
        for w in &mut sim.wearables {
            w.bed = sim
                .beds
                .iter()
                .position(|b| b.patient.as_deref() == Some(w.patient.as_str()));
        }
        let period = sim.cfg.receiver_period_ms.max(100);
        for (rx, room) in fp.receivers() {
            sim.receivers.push((
                rx.to_string(),
                room,
                start.plus_ms(rng.random_range(0..period)),
                0,
            ));
        }
        for t in &sim.tags {
            sim.truth.push(Truth::Room {
                at: start,
                subject: t.subject.clone(),
                tag: t.tag.clone(),
                room: fp.rooms[t.room].id.clone(),
            });
        }
        sim.rng = rng;
        for b in 0..sim.beds.len() {
            if sim.beds[b].patient.is_some() {
                sim.maybe_lapse(b, start);
            }
        }
        sim
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Ground truth gathered since the last call.
    pub fn take_truth(&mut self) -> Vec<Truth> {
        std::mem::take(&mut self.truth)
    }

    /// The true room of every tag, by subject id.
    pub fn true_rooms(&self) -> BTreeMap<String, String> {
        self.tags
            .iter()
            .map(|t| (t.subject.clone(), self.fp.rooms[t.room].id.clone()))
            .collect()
    }

    fn gauss(&mut self, sd: f32) -> f32 {
        // Box-Muller.
        let u1: f32 = self.rng.random_range(f32::EPSILON..1.0);
        let u2: f32 = self.rng.random();
        sd * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }

    fn chance(&mut self, per_hour: f64, dt_ms: i64) -> bool {
        let p = per_hour * dt_ms as f64 / 3_600_000.0;
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    /// Sends the tag walking to `to` along the shortest route.
    fn walk_to(&mut self, i: usize, to: usize) {
        let from = self.tags[i].room;
        let Some(route) = self.fp.route(from, to) else {
            return;
        };
        let mut t = self.now;
        let mut path = VecDeque::new();
        let mut prev = from;
        for id in route.rooms.iter().skip(1) {
            let Some(r) = self.fp.room_index(id) else {
                return;
            };
            let metres = self
                .fp
                .neighbours(prev)
                .find(|(n, _)| *n == r)
                .map_or(5.0, |(_, l)| match l.kind {
                    orderly_floorplan::LinkKind::Elevator => {
                        l.metres + self.fp.site.elevator_wait_m
                    }
                    _ => l.metres,
                });
            t = t.plus_ms((metres / WALK_MPS * 1000.0) as i64);
            path.push_back((r, t));
            prev = r;
        }
        self.tags[i].path = path;
    }

    fn move_tags(&mut self, now: Timestamp) {
        for i in 0..self.tags.len() {
            while let Some(&(room, at)) = self.tags[i].path.front() {
                if at > now {
                    break;
                }
                self.tags[i].path.pop_front();
                self.tags[i].room = room;
                let t = &self.tags[i];
                self.truth.push(Truth::Room {
                    at,
                    subject: t.subject.clone(),
                    tag: t.tag.clone(),
                    room: self.fp.rooms[room].id.clone(),
                });
            }
            if !self.tags[i].path.is_empty() || self.tags[i].next_decision > now {
                continue;
            }
            let (class, area_len) = (self.tags[i].class, self.tags[i].area.len());
            let dest = match class {
                Class::Staff => {
                    // Rounds: the next room of the unit, stay 1-6 minutes.
                    self.tags[i].next_decision =
                        now.plus_ms(self.rng.random_range(60_000..360_000));
                    Some(self.tags[i].area[self.rng.random_range(0..area_len)])
                }
                Class::Equipment => {
                    let mean_ms = 3_600_000.0 / self.cfg.equipment_moves_per_hour.max(1e-6);
                    let wait = (mean_ms * self.rng.random_range(0.5..1.5)) as i64;
                    self.tags[i].next_decision = now.plus_ms(wait);
                    let here = self.tags[i].room;
                    if here == self.tags[i].home {
                        Some(self.tags[i].area[self.rng.random_range(0..area_len)])
                    } else {
                        Some(self.tags[i].home)
                    }
                }
                Class::Patient => None,
            };
            if let Some(d) = dest.filter(|d| *d != self.tags[i].room) {
                self.walk_to(i, d);
            }
        }
    }

    fn receivers_report(&mut self, now: Timestamp, out: &mut Vec<Message>) {
        let period = self.cfg.receiver_period_ms.max(100);
        let mut by_room: Vec<Vec<usize>> = vec![Vec::new(); self.fp.rooms.len()];
        for (i, t) in self.tags.iter().enumerate() {
            by_room[t.room].push(i);
        }
        for r in 0..self.receivers.len() {
            while self.receivers[r].2 <= now {
                let at = self.receivers[r].2;
                self.receivers[r].2 = at.plus_ms(period);
                let room = self.receivers[r].1;
                let ir_room = matches!(self.fp.rooms[room].kind, RoomKind::Patient | RoomKind::Bay);
                let mut sightings = Vec::new();
                for &i in &by_room[room] {
                    if self.rng.random_bool(0.9) {
                        let rssi = (-58.0 + self.gauss(4.0)).clamp(-127.0, 0.0).round();
                        let mut s = json!({"tag": self.tags[i].tag, "rssi": rssi});
                        if ir_room && self.rng.random_bool(0.3) {
                            s["ir"] = json!(true);
                        }
                        if self.rng.random_bool(0.05) {
                            s["battery"] = json!((self.tags[i].battery * 100.0).round() / 100.0);
                        }
                        sightings.push(s);
                    }
                }
                let neighbours: Vec<usize> = self.fp.neighbours(room).map(|(n, _)| n).collect();
                for n in neighbours {
                    for &i in &by_room[n] {
                        if self.rng.random_bool(0.6) {
                            let rssi = (-79.0 + self.gauss(5.0)).clamp(-127.0, 0.0).round();
                            sightings.push(json!({"tag": self.tags[i].tag, "rssi": rssi}));
                        }
                    }
                }
                if sightings.is_empty() {
                    continue;
                }
                self.receivers[r].3 += 1;
                let (id, seq) = (self.receivers[r].0.clone(), self.receivers[r].3);
                out.push(Message {
                    at,
                    topic: format!("{}rtls/{id}/sightings", self.prefix),
                    payload: json!({"ts": at, "seq": seq, "sightings": sightings}),
                });
            }
        }
    }

    /// The patient in bed `b` starts to get up now (falling on the way if `fall`).
    fn get_up(&mut self, b: usize, now: Timestamp, fall: bool) {
        let side = if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
        // A fall: a few steps from the bed.
        let fall_at = fall.then(|| now.plus_ms(GETTING_UP_MS + self.rng.random_range(2000..6000)));
        self.beds[b].activity = Activity::GettingUp {
            since: now,
            side,
            fall_at,
        };
    }

    /// A bed's safety setting left out of place (in bed, after a nurse's visit), now and then.
    fn maybe_lapse(&mut self, b: usize, now: Timestamp) {
        if self.cfg.care_lapses <= 0.0 || !self.rng.random_bool(self.cfg.care_lapses.min(1.0)) {
            return;
        }
        let mut options = vec!["exit_alarm", "height", "brakes"];
        if self.beds[b].ventilated {
            options.push("hob_deg");
        }
        let setting = options[self.rng.random_range(0..options.len())];
        let room = self.fp.rooms[self.tags[self.beds[b].tag].room].id.clone();
        let bed = &mut self.beds[b];
        match setting {
            "exit_alarm" => bed.alarm = "off",
            "height" => bed.height = "raised",
            "brakes" => bed.brakes = false,
            _ => bed.hob = 15.0,
        }
        if let Some(p) = &bed.patient {
            self.truth.push(Truth::Lapse {
                at: now,
                bed: bed.id.clone(),
                patient: p.clone(),
                setting: setting.into(),
                room,
            });
        }
    }

    /// A nurse at the bedside puts the bed's safety settings right.
    fn settings_right(bed: &mut Bed) {
        bed.alarm = "armed";
        bed.height = "low";
        bed.brakes = true;
        if bed.ventilated && bed.hob < 30.0 {
            bed.hob = 30.0;
        }
    }

    /// A command for the bed with this device id, as published on `bed/{device}/command`: it
    /// answers 400 ms later as configured (`bed_answers`). False when no bed has that device or
    /// the payload has no `command_id`.
    pub fn command(&mut self, device: &str, payload: &serde_json::Value) -> bool {
        let Some(b) = self.beds.iter().position(|x| x.device == device) else {
            return false;
        };
        let Some(id) = payload["command_id"].as_str() else {
            return false;
        };
        let set = payload["set"].as_object().cloned().unwrap_or_default();
        let answer = self
            .cfg
            .bed_answers
            .get(&self.beds[b].id)
            .copied()
            .unwrap_or_default();
        self.truth.push(Truth::Command {
            at: self.now,
            bed: self.beds[b].id.clone(),
            command_id: id.into(),
            answer,
        });
        if answer != BedAnswer::Ignore {
            self.answers
                .push((self.now.plus_ms(400), b, id.to_string(), set));
        }
        true
    }

    /// Beds answer the commands that are due: apply (a motion keeps the bed `moving` for 5 s)
    /// or refuse, with an acknowledgement, and report their state at once.
    fn answer_commands(&mut self, now: Timestamp, out: &mut Vec<Message>) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.answers)
            .into_iter()
            .partition(|a| a.0 <= now);
        self.answers = later;
        for (_, b, id, set) in due {
            let answer = self
                .cfg
                .bed_answers
                .get(&self.beds[b].id)
                .copied()
                .unwrap_or_default();
            let bed = &mut self.beds[b];
            let mut refusal = (answer == BedAnswer::Refuse).then(|| "bed in CPR mode".to_string());
            if refusal.is_none() {
                for (k, v) in &set {
                    match (k.as_str(), v) {
                        ("exit_alarm", serde_json::Value::String(a)) if a == "armed" => {
                            bed.alarm = "armed"
                        }
                        ("exit_alarm", serde_json::Value::String(a)) if a == "off" => {
                            bed.alarm = "off"
                        }
                        ("brakes", serde_json::Value::Bool(on)) => bed.brakes = *on,
                        ("surface", serde_json::Value::String(m)) => bed.surface = m.clone(),
                        ("height", serde_json::Value::String(h)) if h == "low" || h == "raised" => {
                            bed.height = if h == "low" { "low" } else { "raised" };
                            bed.moving_until = Some(now.plus_ms(5000));
                        }
                        ("hob_deg", serde_json::Value::Number(d)) => {
                            bed.hob = d.as_f64().unwrap_or(30.0) as f32;
                            bed.moving_until = Some(now.plus_ms(5000));
                        }
                        _ => refusal = Some(format!("cannot set {k} to {v}")),
                    }
                }
            }
            bed.seq += 1;
            let mut ack = json!({"ts": now, "seq": bed.seq, "command_id": id,
                "result": if refusal.is_some() { "refused" } else { "applied" }});
            if let Some(r) = refusal {
                ack["reason"] = r.into();
            }
            out.push(Message {
                at: now,
                topic: format!("{}bed/{}/command/ack", self.prefix, bed.device),
                payload: ack,
            });
            bed.next_state = now;
        }
    }

    fn beds_report(&mut self, now: Timestamp, dt: i64, out: &mut Vec<Message>) {
        self.answer_commands(now, out);
        for b in 0..self.beds.len() {
            let mut changed = false;
            if self.beds[b].moving_until.is_some_and(|t| t <= now) {
                self.beds[b].moving_until = None;
                changed = true;
            }
            if self.beds[b].patient.is_some()
                && self.beds[b].activity == Activity::InBed
                && self.chance(self.cfg.bed_exits_per_hour, dt)
            {
                self.get_up(b, now, false);
            }
            // Repositioning: a nurse turns the patient to another side.
            if self.beds[b].activity == Activity::InBed
                && self.beds[b].patient.is_some()
                && self.beds[b].next_turn <= now
            {
                let sides = [-0.25f32, 0.0, 0.25];
                let others: Vec<f32> = sides
                    .into_iter()
                    .filter(|s| (*s - self.beds[b].side).abs() > 0.1)
                    .collect();
                let side = others[self.rng.random_range(0..others.len())];
                let next = now.plus_ms(self.rng.random_range(5_400_000..9_000_000));
                let bed = &mut self.beds[b];
                bed.side = side;
                bed.next_turn = next;
                Self::settings_right(bed);
                changed = true;
                if let Some(p) = &bed.patient {
                    self.truth.push(Truth::Turned {
                        at: now,
                        bed: bed.id.clone(),
                        patient: p.clone(),
                    });
                }
                self.maybe_lapse(b, now);
            }
            let room = self.fp.rooms[self.tags[self.beds[b].tag].room].id.clone();
            match self.beds[b].activity {
                Activity::GettingUp {
                    since,
                    side: _,
                    fall_at,
                } if now.since(since) >= GETTING_UP_MS => {
                    let at = since.plus_ms(GETTING_UP_MS);
                    // Up and about for 45-150 s; after a fall, on the floor until help comes.
                    let back_at = match fall_at {
                        Some(f) => f.plus_ms(self.rng.random_range(120_000..300_000)),
                        None => at.plus_ms(self.rng.random_range(45_000..150_000)),
                    };
                    let bed = &mut self.beds[b];
                    bed.activity = Activity::Out {
                        back_at,
                        fall_at,
                        fallen: false,
                    };
                    bed.occupied = false;
                    if bed.alarm == "armed" {
                        bed.alarm = "alarming";
                    }
                    changed = true;
                    if let Some(p) = &bed.patient {
                        self.truth.push(Truth::BedExit {
                            at,
                            bed: bed.id.clone(),
                            patient: p.clone(),
                            room: room.clone(),
                        });
                    }
                }
                Activity::Out {
                    back_at,
                    fall_at: Some(f),
                    fallen: false,
                } if f <= now => {
                    self.beds[b].activity = Activity::Out {
                        back_at,
                        fall_at: Some(f),
                        fallen: true,
                    };
                    self.falls_now(b, f, room.clone(), out);
                }
                Activity::Out { back_at, .. } if back_at <= now => {
                    let side = if self.rng.random_bool(0.5) { 1.0 } else { -1.0 };
                    self.beds[b].activity = Activity::GettingIn { since: now, side };
                }
                Activity::GettingIn { since, .. } if now.since(since) >= GETTING_IN_MS => {
                    let bed = &mut self.beds[b];
                    bed.activity = Activity::InBed;
                    bed.occupied = true;
                    // The nurse who helped puts the bed right (and now and then leaves a lapse).
                    Self::settings_right(bed);
                    changed = true;
                    if let Some(p) = &bed.patient {
                        self.truth.push(Truth::BackInBed {
                            at: now,
                            bed: bed.id.clone(),
                            patient: p.clone(),
                        });
                    }
                    self.maybe_lapse(b, now);
                }
                _ => {}
            }
            // Load cells: a sample every 200 ms, sent once a second.
            while self.beds[b].next_sample <= now {
                let at = self.beds[b].next_sample;
                self.beds[b].next_sample = at.plus_ms(200);
                let (share, mut x) = self.beds[b].activity.load(at);
                if self.beds[b].activity == Activity::InBed {
                    // On one side, wavering a little.
                    let phase = self.beds[b].roll_phase + at.0 as f32 / 600_000.0;
                    x = self.beds[b].side + 0.05 * phase.sin();
                }
                let w = self.beds[b].weight * share;
                let right = w * (1.0 + x) / 2.0;
                let left = w - right;
                let noise: [f32; 4] = std::array::from_fn(|_| self.gauss(0.15));
                let cells = [left * 0.55, right * 0.55, left * 0.45, right * 0.45];
                let cells: [f32; 4] =
                    std::array::from_fn(|i| ((cells[i] + noise[i]).max(0.0) * 10.0).round() / 10.0);
                let bed = &mut self.beds[b];
                if let Some((ts, cells)) = bed.load.push(at, cells, 5) {
                    bed.seq += 1;
                    out.push(Message {
                        at: now,
                        topic: format!("{}bed/{}/load", self.prefix, bed.device),
                        payload: json!({"ts": ts, "seq": bed.seq, "hz": 5, "cells_kg": cells}),
                    });
                }
            }
            let bed = &mut self.beds[b];
            if changed || bed.next_state <= now {
                bed.next_state = now.plus_ms(30_000);
                bed.seq += 1;
                out.push(Message {
                    at: now,
                    topic: format!("{}bed/{}/state", self.prefix, bed.device),
                    payload: json!({"ts": now, "seq": bed.seq, "occupied": bed.occupied, "hob_deg": bed.hob, "height": bed.height, "brakes": bed.brakes,
                        "rails": {"head_left": true, "head_right": true, "foot_left": false, "foot_right": false},
                        "exit_alarm": bed.alarm, "surface": bed.surface, "moving": bed.moving_until.is_some()}),
                });
            }
        }
    }

    /// The patient of bed `b` falls at `at` in `room`: the truth, and the wearable's own
    /// `fall` event unless it streams its accelerometer (then Orderly's detector must see it).
    fn falls_now(&mut self, b: usize, at: Timestamp, room: String, out: &mut Vec<Message>) {
        let Some(w) = self.wearables.iter().position(|w| w.bed == Some(b)) else {
            return;
        };
        let wear = &self.wearables[w];
        self.truth.push(Truth::Fall {
            at,
            patient: wear.patient.clone(),
            wearable: wear.device.clone(),
            room,
        });
        if !self.cfg.imu {
            out.push(Message {
                at: self.now,
                topic: format!("{}wearable/{}/event", self.prefix, wear.device),
                payload: json!({"ts": at, "type": "fall", "confidence": 0.9}),
            });
        }
    }

    fn pumps_report(&mut self, now: Timestamp, dt: i64, out: &mut Vec<Message>) {
        for p in 0..self.pumps.len() {
            let room = self.tags[self.pumps[p].tag].room;
            let in_patient_room =
                matches!(self.fp.rooms[room].kind, RoomKind::Patient | RoomKind::Bay);
            let mut changed = false;
            let want = match (self.pumps[p].state, in_patient_room) {
                ("off", true) => "infusing",
                ("infusing" | "paused", false) => "off",
                (s, _) => s,
            };
            if want != self.pumps[p].state && self.pumps[p].state != "alarm" {
                self.pumps[p].state = want;
                changed = true;
            }
            if let Some(at) = self.pumps[p].clear_at.filter(|t| *t <= now) {
                self.pumps[p].clear_at = None;
                self.pumps[p].state = "infusing";
                changed = true;
                self.truth.push(Truth::PumpAlarmCleared {
                    at,
                    pump: self.pumps[p].id.clone(),
                });
            } else if self.pumps[p].state == "infusing"
                && self.chance(self.cfg.pump_alarms_per_hour, dt)
            {
                self.pumps[p].state = "alarm";
                self.pumps[p].occlusions += 1;
                self.pumps[p].clear_at = Some(now.plus_ms(self.rng.random_range(30_000..120_000)));
                changed = true;
                self.truth.push(Truth::PumpAlarm {
                    at: now,
                    pump: self.pumps[p].id.clone(),
                    room: self.fp.rooms[room].id.clone(),
                });
            }
            let pump = &mut self.pumps[p];
            if pump.state == "infusing" {
                pump.runtime_h += dt as f64 / 3_600_000.0;
            }
            if changed || pump.next <= now {
                pump.next = now.plus_ms(60_000);
                pump.seq += 1;
                let faults: Vec<&str> = if pump.state == "alarm" {
                    vec!["OCCLUSION"]
                } else {
                    vec![]
                };
                out.push(Message {
                    at: now,
                    topic: format!("{}pump/{}/telemetry", self.prefix, pump.device),
                    payload: json!({"ts": now, "seq": pump.seq, "state": pump.state, "battery_pct": pump.battery.round(), "on_battery": !in_patient_room,
                        "runtime_hours": (pump.runtime_h * 10.0).round() / 10.0, "occlusion_alarms_total": pump.occlusions, "faults": faults}),
                });
            }
        }
    }

    fn wearables_report(&mut self, now: Timestamp, dt: i64, out: &mut Vec<Message>) {
        for w in 0..self.wearables.len() {
            // A fall: the patient gets up and falls a few steps from the bed.
            if let Some(b) = self.wearables[w].bed
                && self.beds[b].activity == Activity::InBed
                && self.chance(self.cfg.falls_per_hour, dt)
            {
                self.get_up(b, now, true);
            }
            if !self.cfg.imu {
                continue;
            }
            // 50 Hz, sent once a second.
            while self.wearables[w].next_sample <= now {
                let at = self.wearables[w].next_sample;
                self.wearables[w].next_sample = at.plus_ms(20);
                let body = match self.wearables[w].bed {
                    Some(b) => self.beds[b].activity.body_acc(at),
                    None => [0.0, 1.0, 0.0],
                };
                let noise: [f32; 3] = std::array::from_fn(|_| self.gauss(0.015));
                let wear = &mut self.wearables[w];
                let sample: [f32; 3] = std::array::from_fn(|i| {
                    let (axis, sign) = wear.mount[i];
                    ((sign * body[axis] + noise[i]) * 1000.0).round() / 1000.0
                });
                if let Some((ts, samples)) = wear.imu.push(at, sample, 50) {
                    wear.seq += 1;
                    out.push(Message {
                        at: now,
                        topic: format!("{}wearable/{}/imu", self.prefix, wear.device),
                        payload: json!({"ts": ts, "seq": wear.seq, "hz": 50, "acc_g": samples}),
                    });
                }
            }
        }
    }

    /// Advances to `until` in steps of at most 100 ms; returns the messages in time order.
    pub fn advance(&mut self, until: Timestamp) -> Vec<Message> {
        let mut out = Vec::new();
        while self.now < until {
            let next = self.now.plus_ms(100).min(until);
            let dt = next.since(self.now);
            self.now = next;
            self.move_tags(next);
            self.receivers_report(next, &mut out);
            self.beds_report(next, dt, &mut out);
            self.pumps_report(next, dt, &mut out);
            self.wearables_report(next, dt, &mut out);
        }
        out.sort_by_key(|m| m.at);
        out
    }

    /// Makes a patient start getting out of bed now (standing 4 s later; tests and demos).
    pub fn bed_exit(&mut self, bed_id: &str) -> bool {
        self.start_exit(bed_id, false)
    }

    /// Makes a nurse turn the patient in this bed at the next step (tests and demos).
    pub fn turn(&mut self, bed_id: &str) -> bool {
        let Some(b) = self
            .beds
            .iter()
            .position(|b| b.id == bed_id && b.patient.is_some())
        else {
            return false;
        };
        self.beds[b].next_turn = self.now;
        true
    }

    /// Makes a patient get out of bed now and fall a few steps from it (tests and demos).
    pub fn fall(&mut self, bed_id: &str) -> bool {
        self.start_exit(bed_id, true)
    }

    fn start_exit(&mut self, bed_id: &str, fall: bool) -> bool {
        let Some(b) = self
            .beds
            .iter()
            .position(|b| b.id == bed_id && b.activity == Activity::InBed && b.patient.is_some())
        else {
            return false;
        };
        self.get_up(b, self.now, fall);
        true
    }

    /// Moves an item or person to a room at once, walking the route (tests and demos).
    pub fn send(&mut self, subject: &str, room: &str) -> bool {
        let (Some(i), Some(r)) = (
            self.tags.iter().position(|t| t.subject == subject),
            self.fp.room_index(room),
        ) else {
            return false;
        };
        self.walk_to(i, r);
        self.tags[i].next_decision = Timestamp(i64::MAX);
        true
    }
}

#[cfg(test)]
mod tests;
