//! Environment sensors: medication fridges and freezers with their compressor cycle, doors
//! opened for a minute, now and then left open, compressors that fail for hours; isolation
//! rooms whose pressure is lost while a door stands open or an exhaust fan fails; operating
//! rooms. One reading a minute per sensor, from a random stream of its own (enabling it
//! changes nothing else the simulator sends). The incidents are in the truth.

use crate::{Message, Simulator, Truth};
use orderly_model::environment::{EnvReading, Profiles, SpaceKind};
use orderly_model::{Payload, Seed, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::sync::Arc;

/// What the simulated sensors do.
#[derive(Clone, Debug)]
pub struct EnvSim {
    /// The profiles the seed's sensors name (their kind decides what they measure).
    pub profiles: Arc<Profiles>,
    /// How often each sensor reports, ms.
    pub period_ms: i64,
    /// Doors opened for a minute or two (restocking), per fridge or freezer per hour.
    pub door_openings_per_hour: f64,
    /// Doors left open 10-40 minutes, per fridge or freezer per day.
    pub doors_left_open_per_day: f64,
    /// Compressors failing for 2-5 hours, per fridge or freezer per day.
    pub compressor_failures_per_day: f64,
    /// Isolation room doors held open for 1-4 minutes, per room per hour.
    pub isolation_doors_per_hour: f64,
    /// Exhaust fans failing for 20-60 minutes, per isolation room per day.
    pub fan_failures_per_day: f64,
    /// Incidents that happen whatever the rates: (minutes after the start, sensor, incident,
    /// minutes it lasts). The demo opens with a fridge door left open.
    pub planned: Vec<(i64, String, Incident, i64)>,
}

impl EnvSim {
    pub fn new(profiles: Arc<Profiles>) -> Self {
        EnvSim {
            profiles,
            period_ms: 60_000,
            door_openings_per_hour: 0.5,
            doors_left_open_per_day: 0.3,
            compressor_failures_per_day: 0.1,
            isolation_doors_per_hour: 0.3,
            fan_failures_per_day: 0.1,
            planned: Vec::new(),
        }
    }
}

/// What happened to a sensor's appliance or room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Incident {
    /// A fridge's or freezer's door left open.
    DoorLeftOpen,
    /// A fridge's or freezer's compressor stopped.
    CompressorFailure,
    /// An isolation room's door held open.
    DoorHeldOpen,
    /// An isolation room's exhaust fan stopped.
    FanFailure,
}

pub(crate) struct Sensor {
    id: String,
    kind: SpaceKind,
    /// Temperature now, °C (fridges, freezers, operating rooms).
    temp: f64,
    setpoint: f64,
    pressure_setpoint: f64,
    /// Door open (fridge) or pressure lost (room) until then.
    door_until: Option<Timestamp>,
    /// The compressor or the fan is out until then.
    failed_until: Option<Timestamp>,
    next: Timestamp,
    seq: u64,
    phase: f64,
}

pub(crate) fn sensors(
    seed: &Seed,
    cfg: &EnvSim,
    start: Timestamp,
    rng: &mut StdRng,
) -> Vec<Sensor> {
    seed.sensors
        .iter()
        .map(|s| {
            let kind = cfg
                .profiles
                .0
                .get(&s.profile)
                .map_or(SpaceKind::Room, |p| p.kind);
            let setpoint = match kind {
                SpaceKind::Fridge => 4.5,
                SpaceKind::Freezer => -22.0,
                SpaceKind::OperatingRoom => 21.0,
                SpaceKind::Isolation | SpaceKind::Room => 22.0,
            };
            let pressure_setpoint = match cfg.profiles.0.get(&s.profile).and_then(|p| p.pressure_pa)
            {
                // Negative rooms hold -8 Pa, positive ones +8 Pa.
                Some(r) if r.high.is_some_and(|h| h < 0.0) => -8.0,
                Some(_) => 8.0,
                None => 0.0,
            };
            Sensor {
                id: s.id.clone(),
                kind,
                temp: setpoint,
                setpoint,
                pressure_setpoint,
                door_until: None,
                failed_until: None,
                next: start.plus_ms(rng.random_range(0..cfg.period_ms.max(1))),
                seq: 0,
                phase: rng.random_range(0.0..std::f64::consts::TAU),
            }
        })
        .collect()
}

impl Simulator {
    /// Makes `incident` happen to `sensor`'s appliance or room now, for `minutes` (tests and
    /// demos). False when there is no such sensor or the incident does not fit it.
    pub fn env_incident(&mut self, sensor: &str, incident: Incident, minutes: i64) -> bool {
        let now = self.now;
        let Some(s) = self.env.iter_mut().find(|s| s.id == sensor) else {
            return false;
        };
        let cold = matches!(s.kind, SpaceKind::Fridge | SpaceKind::Freezer);
        let fits = match incident {
            Incident::DoorLeftOpen | Incident::CompressorFailure => cold,
            Incident::DoorHeldOpen | Incident::FanFailure => s.kind == SpaceKind::Isolation,
        };
        if !fits {
            return false;
        }
        let until = now.plus_ms(minutes * 60_000);
        match incident {
            Incident::DoorLeftOpen | Incident::DoorHeldOpen => s.door_until = Some(until),
            Incident::CompressorFailure | Incident::FanFailure => s.failed_until = Some(until),
        }
        self.truth.push(Truth::EnvIncident {
            at: now,
            sensor: sensor.to_string(),
            incident,
            until,
        });
        true
    }

    pub(crate) fn env_report(&mut self, now: Timestamp, out: &mut Vec<Message>) {
        let Some(cfg) = self.cfg.environment.clone() else {
            return;
        };
        while let Some(i) = self.env_plan.iter().position(|(at, ..)| *at <= now) {
            let (_, sensor, incident, minutes) = self.env_plan.remove(i);
            self.env_incident(&sensor, incident, minutes);
        }
        let period = cfg.period_ms.max(1000);
        let hour = period as f64 / 3_600_000.0;
        for i in 0..self.env.len() {
            if self.env[i].next > now {
                continue;
            }
            self.env[i].next = now.plus_ms(period);
            let rng = &mut self.env_rng;
            let s = &mut self.env[i];
            let cold = matches!(s.kind, SpaceKind::Fridge | SpaceKind::Freezer);
            // New incidents.
            let mut started = None;
            if cold {
                if s.door_until.is_none() && rng.random_bool(cfg.door_openings_per_hour * hour) {
                    s.door_until = Some(now.plus_ms(rng.random_range(30_000..150_000)));
                }
                if s.door_until.is_none()
                    && rng.random_bool((cfg.doors_left_open_per_day * hour / 24.0).min(1.0))
                {
                    let min = rng.random_range(10..40);
                    s.door_until = Some(now.plus_ms(min * 60_000));
                    started = Some((Incident::DoorLeftOpen, min));
                }
                if s.failed_until.is_none()
                    && rng.random_bool((cfg.compressor_failures_per_day * hour / 24.0).min(1.0))
                {
                    let min = rng.random_range(120..300);
                    s.failed_until = Some(now.plus_ms(min * 60_000));
                    started = Some((Incident::CompressorFailure, min));
                }
            } else if s.kind == SpaceKind::Isolation {
                if s.door_until.is_none() && rng.random_bool(cfg.isolation_doors_per_hour * hour) {
                    let min = rng.random_range(1..4);
                    s.door_until = Some(now.plus_ms(min * 60_000));
                    started = Some((Incident::DoorHeldOpen, min));
                }
                if s.failed_until.is_none()
                    && rng.random_bool((cfg.fan_failures_per_day * hour / 24.0).min(1.0))
                {
                    let min = rng.random_range(20..60);
                    s.failed_until = Some(now.plus_ms(min * 60_000));
                    started = Some((Incident::FanFailure, min));
                }
            }
            if s.door_until.is_some_and(|t| t <= now) {
                s.door_until = None;
            }
            if s.failed_until.is_some_and(|t| t <= now) {
                s.failed_until = None;
            }
            let door = s.door_until.is_some();
            let failed = s.failed_until.is_some();
            // Temperature: toward the setpoint (with the compressor's cycle) or toward the
            // room's air, with the time constant of what is happening.
            let dt_min = period as f64 / 60_000.0;
            s.phase += dt_min / 40.0 * std::f64::consts::TAU;
            let (target, tau_min) = if cold && failed {
                (21.0, 180.0)
            } else if cold && door {
                // The contents' thermal mass: an hour's time constant with the door open.
                (21.0, 60.0)
            } else if cold {
                (s.setpoint + 0.6 * s.phase.sin(), 10.0)
            } else {
                (s.setpoint + 0.3 * s.phase.sin(), 30.0)
            };
            s.temp += (target - s.temp) * (1.0 - (-dt_min / tau_min).exp());
            let noise = |rng: &mut StdRng, x: f64| rng.random_range(-x..=x);
            let temp = ((s.temp + noise(rng, 0.05)) * 100.0).round() / 100.0;
            let reading = match s.kind {
                SpaceKind::Fridge | SpaceKind::Freezer => EnvReading {
                    temperature_c: Some(temp),
                    door_open: Some(door),
                    battery_pct: Some(90.0),
                    ..EnvReading::default()
                },
                SpaceKind::Isolation => {
                    let p = if door || failed {
                        s.pressure_setpoint * 0.05
                    } else {
                        s.pressure_setpoint
                    };
                    EnvReading {
                        pressure_pa: Some(((p + noise(rng, 0.3)) * 10.0).round() / 10.0),
                        door_open: Some(door),
                        ..EnvReading::default()
                    }
                }
                SpaceKind::OperatingRoom | SpaceKind::Room => EnvReading {
                    temperature_c: Some(temp),
                    humidity_pct: Some(((45.0 + noise(rng, 2.0)) * 10.0).round() / 10.0),
                    pressure_pa: Some(
                        ((s.pressure_setpoint + noise(rng, 0.3)) * 10.0).round() / 10.0,
                    ),
                    ..EnvReading::default()
                },
            };
            s.seq += 1;
            let (id, seq) = (s.id.clone(), s.seq);
            if let Some((incident, min)) = started {
                self.truth.push(Truth::EnvIncident {
                    at: now,
                    sensor: id.clone(),
                    incident,
                    until: now.plus_ms(min * 60_000),
                });
            }
            let m = self.message(now, &id, now, seq, Payload::EnvReading(reading));
            out.push(m);
        }
    }
}

pub(crate) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ 0xe4f1_2077)
}
