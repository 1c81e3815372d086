//! The device simulator: plausible contract traffic for a floorplan and seed, in virtual time,
//! with its ground truth. Staff walk rounds in their units, equipment is fetched from storage
//! to patient rooms and back through dirty utility, pumps infuse and sometimes alarm, beds
//! report their frame and load cells, patients sometimes get out of bed; room receivers hear
//! the tags in their room strongly and those next door weakly, with noise.
//!
//! Core crate: no IO, no async, no wall clock: the caller says how far to advance. The same
//! floorplan, seed, configuration and random seed give the same messages, byte for byte.
//! Depends on orderly-model, orderly-floorplan, rand and serde_json.

mod beds;
mod body;
pub mod devices;
pub mod environment;
pub mod fleet;
pub mod history;
pub mod radio;
mod rtls;
pub mod vitals;

use body::{Activity, Batch, GETTING_IN_MS, GETTING_UP_MS};

use orderly_contract::Topics;
use orderly_floorplan::{Floorplan, RoomKind};
use orderly_model::reading::{
    AckResult, BedHeight, BedLoad, BedState, CommandAck, ExitAlarm, PumpState, PumpTelemetry,
    Rails, Sighting, Sightings, Surface, WearableEvent, WearableEventType, WearableImu,
};
use orderly_model::{Payload, Seed, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
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
    /// Vital signs for every patient with a device that measures them (the bedside monitor at
    /// their bed, else their wearable); None: none.
    pub vitals: Option<vitals::LiveConfig>,
    /// Pumps report the infusions they run, programmed from this drug library; None: pumps
    /// report their state only.
    pub infusions: Option<devices::InfusionSim>,
    /// The seed's environment sensors report (fridges, freezers, isolation and operating
    /// rooms), checked against these profiles; None: they say nothing.
    pub environment: Option<environment::EnvSim>,
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
            vitals: None,
            infusions: None,
            environment: None,
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
    /// A pump started an infusion (a new program or a new bag): what the compliance report
    /// must count. `soft_override`: the dose is past a soft limit, confirmed by the nurse;
    /// `hard_stop`: the pump refused a program past a hard limit before this one; `past_hard`:
    /// the pump (an old library on it) let a dose past the hard limit through.
    Infusion {
        at: Timestamp,
        pump: String,
        unit: Option<String>,
        library: bool,
        drug: Option<String>,
        soft_override: bool,
        hard_stop: bool,
        past_hard: bool,
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
    /// A patient's vital signs begin to drift (sepsis-like: breathing and pulse up, saturation
    /// and pressure down, fever): whole at `whole_at`, recovering from `recovering_at`, over
    /// at `ends_at`; `depth` 1.0 is the full drift.
    Deterioration {
        at: Timestamp,
        patient: String,
        whole_at: Timestamp,
        recovering_at: Timestamp,
        ends_at: Timestamp,
        depth: f64,
    },
    /// Something happened to an environment sensor's appliance or room until `until` (a door
    /// left open, a compressor or fan failed): its values leave their range.
    EnvIncident {
        at: Timestamp,
        sensor: String,
        incident: environment::Incident,
        until: Timestamp,
    },
    /// A vital-signs sensor reads what is not the patient's: a probe off or motion, for
    /// `seconds`, flagged poor by the device or not.
    VitalsArtefact {
        at: Timestamp,
        patient: String,
        device: String,
        seconds: i64,
        probe_off: bool,
        flagged: bool,
    },
}

/// A patient's vital signs and the device that sends them.
struct VitalsStream {
    device: String,
    /// A bedside monitor (`monitor/{id}/vitals`), else a wearable.
    monitor: bool,
    patient: String,
    live: vitals::LivePatient,
    seq: u64,
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
    /// The infusion programmed (with `SimConfig::infusions`), and the pump's lifetime counters.
    program: Option<orderly_model::infusion::Infusion>,
    soft_overrides: u64,
    hard_stops: u64,
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
    /// The site's contract topics: every message is encoded by `orderly_contract`, as Orderly
    /// decodes it.
    topics: Topics,
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
    vitals: Vec<VitalsStream>,
    /// Vital signs draw from their own generator: turning them on changes nothing else.
    vitals_rng: StdRng,
    /// So do infusions.
    infusion_rng: StdRng,
    /// Environment sensors, and their own random stream.
    env: Vec<environment::Sensor>,
    env_rng: StdRng,
    /// Planned incidents: (when, sensor, incident, minutes).
    env_plan: Vec<(Timestamp, String, environment::Incident, i64)>,
}

fn rooms_of(fp: &Floorplan, unit: Option<&str>, kinds: &[RoomKind]) -> Vec<usize> {
    fp.rooms
        .iter()
        .enumerate()
        .filter(|(_, r)| (unit.is_none() || r.unit.as_deref() == unit) && kinds.contains(&r.kind))
        .map(|(i, _)| i)
        .collect()
}

/// A bed surface mode of the contract, from its name.
fn surface(name: &str) -> Option<Surface> {
    match name {
        "static" => Some(Surface::Static),
        "alternating" => Some(Surface::Alternating),
        "rotation" => Some(Surface::Rotation),
        _ => None,
    }
}

impl Simulator {
    /// A device's message, received at `at`, encoded as the contract says.
    fn message(
        &self,
        at: Timestamp,
        device: &str,
        ts: Timestamp,
        seq: impl Into<Option<u64>>,
        payload: Payload,
    ) -> Message {
        let seq = seq.into();
        Message {
            at,
            topic: self.topics.reading(device, &payload),
            payload: orderly_contract::to_json(ts, seq, &payload),
        }
    }

    pub fn new(fp: Arc<Floorplan>, seed: &Seed, cfg: SimConfig, start: Timestamp) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let cfg_seed = cfg.seed;
        let topics = Topics::new(&fp.site.id);
        let central = rooms_of(&fp, None, &[RoomKind::Storage]);
        let all_patient_rooms = rooms_of(&fp, None, &[RoomKind::Patient, RoomKind::Bay]);
        let mut sim = Simulator {
            fp: fp.clone(),
            cfg,
            rng: StdRng::seed_from_u64(0),
            now: start,
            topics,
            tags: Vec::new(),
            beds: Vec::new(),
            pumps: Vec::new(),
            wearables: Vec::new(),
            receivers: Vec::new(),
            answers: Vec::new(),
            truth: Vec::new(),
            vitals: Vec::new(),
            vitals_rng: StdRng::seed_from_u64(cfg_seed ^ 0x5617_a15e),
            infusion_rng: StdRng::seed_from_u64(cfg_seed ^ 0x1f05_10a5),
            env: Vec::new(),
            env_rng: environment::rng(cfg_seed),
            env_plan: Vec::new(),
        };
        if let Some(env) = sim.cfg.environment.clone() {
            sim.env = environment::sensors(seed, &env, start, &mut sim.env_rng);
            sim.env_plan = env
                .planned
                .iter()
                .map(|(after, s, i, m)| (start.plus_ms(after * 60_000), s.clone(), *i, *m))
                .collect();
        }
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
            } else if a.device_class() == Some(orderly_model::DeviceClass::Pump) {
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
                    program: None,
                    soft_overrides: 0,
                    hard_stops: 0,
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
        if let Some(vc) = sim.cfg.vitals.clone() {
            for p in &seed.patients {
                let monitor = seed.assets.iter().find(|a| {
                    a.device_class() == Some(orderly_model::DeviceClass::Monitor)
                        && a.bed.as_deref() == Some(p.bed.as_str())
                });
                let (device, is_monitor) =
                    match (monitor.and_then(|m| m.device.clone()), &p.wearable) {
                        (Some(d), _) => (d, true),
                        (None, Some(w)) => (w.clone(), false),
                        (None, None) => continue,
                    };
                let (live, began) =
                    vitals::LivePatient::new(&mut sim.vitals_rng, &vc, start, is_monitor);
                sim.vitals.push(VitalsStream {
                    device,
                    monitor: is_monitor,
                    patient: p.id.clone(),
                    live,
                    seq: 0,
                });
                let v = sim.vitals.len() - 1;
                sim.note_vitals(v, began);
            }
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

    /// What began for a vital-signs stream's patient, as the truth.
    fn note_vitals(&mut self, v: usize, began: Vec<vitals::Began>) {
        let s = &self.vitals[v];
        for b in began {
            self.truth.push(match b {
                vitals::Began::Deterioration(e) => Truth::Deterioration {
                    at: e.onset,
                    patient: s.patient.clone(),
                    whole_at: e.onset.plus_ms(e.ramp_ms),
                    recovering_at: e.onset.plus_ms(e.ramp_ms + e.plateau_ms),
                    ends_at: e.end(),
                    depth: (e.depth * 1000.0).round() / 1000.0,
                },
                vitals::Began::Artefact {
                    at,
                    seconds,
                    probe_off,
                    flagged,
                } => Truth::VitalsArtefact {
                    at,
                    patient: s.patient.clone(),
                    device: s.device.clone(),
                    seconds,
                    probe_off,
                    flagged,
                },
            });
        }
    }

    /// Each patient's vital signs: a sensor's readings, a monitor's blood pressure cycle, a
    /// nurse's set on each round.
    fn vitals_report(&mut self, now: Timestamp, dt: i64, out: &mut Vec<Message>) {
        let Some(cfg) = self.cfg.vitals.clone() else {
            return;
        };
        for v in 0..self.vitals.len() {
            let (sent, began) = self.vitals[v]
                .live
                .advance(&mut self.vitals_rng, &cfg, now, dt);
            self.note_vitals(v, began);
            for (ts, vitals) in sent {
                let s = &mut self.vitals[v];
                s.seq += 1;
                let (device, seq) = (s.device.clone(), s.seq);
                let payload = if s.monitor {
                    Payload::MonitorVitals(vitals)
                } else {
                    Payload::Vitals(vitals)
                };
                out.push(self.message(now, &device, ts, seq, payload));
            }
        }
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
            self.vitals_report(next, dt, &mut out);
            self.env_report(next, &mut out);
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
