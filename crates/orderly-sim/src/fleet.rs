//! A fleet of infusion pumps over months, for evaluating maintenance predictions: each pump's
//! telemetry every `step_min` minutes (infusing and idle spells, discharges on battery while it
//! is moved, occlusion alarms), with degradations injected at known onsets and known failures:
//! a battery losing capacity until its run time on a full charge falls below `failure_hours`, or
//! an occlusion sensor whose false alarms climb to five times the pump's own rate.
//!
//! Core: no IO, no clock; the same seed gives the same fleet.

use orderly_model::Timestamp;
use orderly_model::reading::{PumpState, PumpTelemetry};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Clone, Debug)]
pub struct FleetConfig {
    pub seed: u64,
    /// Devices `pump-0001` ... (as the demo registry names them).
    pub pumps: usize,
    pub days: u32,
    pub step_min: i64,
    /// Share of pumps whose battery degrades during the run, and whose occlusion sensor does.
    pub battery_share: f64,
    pub occlusion_share: f64,
    /// A battery has failed when a full charge runs the pump for less than this.
    pub failure_hours: f64,
    /// Degradations start after this many days (so the fleet's own rates are known first).
    pub onset_after_days: i64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            seed: 1,
            pumps: 320,
            days: 180,
            step_min: 15,
            battery_share: 0.1,
            occlusion_share: 0.1,
            failure_hours: 1.5,
            onset_after_days: 20,
        }
    }
}

/// A degradation the simulator injected.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Degradation {
    pub device: String,
    /// `battery` or `occlusion-rate` (the work-order reason that should follow).
    pub kind: &'static str,
    pub onset: Timestamp,
    /// When the part fails (battery below `failure_hours`; the sensor unusable).
    pub failure: Timestamp,
}

struct Pump {
    device: String,
    runtime_h: f64,
    occlusions: u64,
    battery: f64,
    /// Run time of a full charge when new, hours, and its slow ageing per day.
    full_hours: f64,
    age_per_day: f64,
    occ_rate: f64,
    infusing: bool,
    on_battery: bool,
    /// When the current spell (infusing or idle) and the current move on battery end.
    spell_end: Timestamp,
    move_end: Timestamp,
    degradation: Option<Degradation>,
}

pub struct Fleet {
    cfg: FleetConfig,
    rng: StdRng,
    start: Timestamp,
    now: Timestamp,
    pumps: Vec<Pump>,
}

impl Fleet {
    pub fn new(cfg: FleetConfig, start: Timestamp) -> Fleet {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let end = start.millis() + cfg.days as i64 * DAY_MS;
        let mut pumps = Vec::with_capacity(cfg.pumps);
        for i in 0..cfg.pumps {
            let device = format!("pump-{:04}", i + 1);
            let roll: f64 = rng.random();
            let kind = if roll < cfg.battery_share {
                Some("battery")
            } else if roll < cfg.battery_share + cfg.occlusion_share {
                Some("occlusion-rate")
            } else {
                None
            };
            let degradation = kind.map(|kind| {
                // Onset after the first `onset_after_days` (20); failure 30-90 days later
                // (possibly after the run: such a pump counts only if it failed within it).
                let after = cfg.onset_after_days.max(0) * DAY_MS;
                let onset = start.millis()
                    + rng.random_range(after..(end - start.millis()).max(after + DAY_MS));
                let failure = onset + rng.random_range(30 * DAY_MS..90 * DAY_MS);
                Degradation {
                    device: device.clone(),
                    kind,
                    onset: Timestamp(onset),
                    failure: Timestamp(failure),
                }
            });
            pumps.push(Pump {
                device,
                runtime_h: rng.random_range(200.0..12_000.0),
                occlusions: rng.random_range(0..40),
                battery: 100.0,
                full_hours: rng.random_range(5.0..7.0),
                age_per_day: rng.random_range(0.0005..0.0015),
                // Pumps differ: a log-normal spread around 0.02 alarms per infusing hour.
                occ_rate: 0.02 * (rng.random_range(-0.3f64..0.3)).exp(),
                infusing: rng.random_bool(0.5),
                on_battery: false,
                spell_end: Timestamp(start.millis() + rng.random_range(0..12 * HOUR_MS)),
                move_end: start,
                degradation,
            });
        }
        Fleet {
            cfg,
            rng,
            start,
            now: start,
            pumps,
        }
    }

    pub fn degradations(&self) -> Vec<Degradation> {
        self.pumps
            .iter()
            .filter_map(|p| p.degradation.clone())
            .collect()
    }

    pub fn end(&self) -> Timestamp {
        Timestamp(self.start.millis() + self.cfg.days as i64 * DAY_MS)
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Full-charge run time of pump `p` at `t`, hours.
    fn full_hours(&self, p: &Pump, t: Timestamp) -> f64 {
        let days = t.since(self.start) as f64 / DAY_MS as f64;
        let mut h = p.full_hours * (1.0 - p.age_per_day * days).max(0.1);
        if let Some(d) = &p.degradation
            && d.kind == "battery"
            && t > d.onset
        {
            // Linear loss from onset to failure (reaching failure_hours), then on down.
            let frac = t.since(d.onset) as f64 / d.failure.since(d.onset) as f64;
            let at_onset = h;
            h = at_onset - frac * (at_onset - self.cfg.failure_hours);
        }
        h.max(0.2)
    }

    fn occ_rate(&self, p: &Pump, t: Timestamp) -> f64 {
        match &p.degradation {
            Some(d) if d.kind == "occlusion-rate" && t > d.onset => {
                let frac = (t.since(d.onset) as f64 / d.failure.since(d.onset) as f64).min(1.5);
                p.occ_rate * (1.0 + 4.0 * frac)
            }
            _ => p.occ_rate,
        }
    }

    /// The next step as Orderly receives it: each pump's telemetry as a message.
    pub fn step_inbound(&mut self) -> Option<(Timestamp, Vec<orderly_model::Inbound>)> {
        let (t, readings) = self.step()?;
        let messages = readings
            .into_iter()
            .map(|(device, telemetry)| {
                orderly_model::Inbound::Reading(orderly_model::Reading {
                    at: t,
                    device,
                    ts: t,
                    seq: None,
                    payload: orderly_model::Payload::PumpTelemetry(telemetry),
                })
            })
            .collect();
        Some((t, messages))
    }

    /// The next step: every pump's telemetry at the new time. None after the last day.
    pub fn step(&mut self) -> Option<(Timestamp, Vec<(String, PumpTelemetry)>)> {
        let dt = self.cfg.step_min * 60_000;
        let t = Timestamp(self.now.millis() + dt);
        if t > self.end() {
            return None;
        }
        self.now = t;
        let hours = dt as f64 / HOUR_MS as f64;
        let mut out = Vec::with_capacity(self.pumps.len());
        for i in 0..self.pumps.len() {
            let (full, rate) = (
                self.full_hours(&self.pumps[i], t),
                self.occ_rate(&self.pumps[i], t),
            );
            let rng = &mut self.rng;
            let p = &mut self.pumps[i];
            // Spells: infusing 4-24 h, idle 2-12 h; a new infusion often starts with a move on
            // battery (to the bedside, to imaging) of 30 minutes to 2 hours.
            if t >= p.spell_end {
                p.infusing = !p.infusing;
                let len = if p.infusing {
                    rng.random_range(4..24)
                } else {
                    rng.random_range(2..12)
                };
                p.spell_end = Timestamp(t.millis() + len * HOUR_MS);
                if p.infusing && rng.random_bool(0.35) {
                    p.move_end = Timestamp(t.millis() + rng.random_range(30..120) * 60_000);
                }
            }
            p.on_battery = t < p.move_end;
            if p.on_battery {
                let noise = 1.0 + rng.random_range(-0.05..0.05);
                p.battery = (p.battery - 100.0 / full * hours * noise).max(0.0);
            } else {
                p.battery = (p.battery + 40.0 * hours).min(100.0);
            }
            if p.infusing {
                p.runtime_h += hours;
                // Poisson arrivals in the step.
                let lambda = rate * hours;
                let mut k = 0;
                let mut prod: f64 = rng.random();
                let limit = (-lambda).exp();
                while prod > limit {
                    k += 1;
                    prod *= rng.random::<f64>();
                }
                p.occlusions += k;
            }
            out.push((
                p.device.clone(),
                PumpTelemetry {
                    state: if p.infusing {
                        PumpState::Infusing
                    } else {
                        PumpState::Idle
                    },
                    battery_pct: (p.battery * 10.0).round() as f32 / 10.0,
                    on_battery: p.on_battery,
                    runtime_hours: (p.runtime_h * 100.0).round() / 100.0,
                    occlusion_alarms_total: p.occlusions,
                    downstream_psi: None,
                    motor_current_ma: None,
                    faults: vec![],
                    infusion: None,
                    soft_overrides_total: None,
                    hard_stops_total: None,
                },
            ));
        }
        Some((t, out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_degrading_battery_runs_shorter_and_a_degrading_sensor_alarms_more() {
        let cfg = FleetConfig {
            pumps: 60,
            days: 200,
            battery_share: 0.5,
            occlusion_share: 0.5,
            ..FleetConfig::default()
        };
        let f = Fleet::new(cfg, Timestamp(0));
        let ds = f.degradations();
        assert_eq!(ds.len(), 60);
        let b = ds.iter().find(|d| d.kind == "battery").unwrap();
        let p = f.pumps.iter().find(|p| p.device == b.device).unwrap();
        let before = f.full_hours(p, Timestamp(b.onset.millis() - DAY_MS));
        let at_failure = f.full_hours(p, b.failure);
        assert!(before > 4.0, "{before}");
        assert!((at_failure - 1.5).abs() < 0.01, "{at_failure}");
        let o = ds.iter().find(|d| d.kind == "occlusion-rate").unwrap();
        let p = f.pumps.iter().find(|p| p.device == o.device).unwrap();
        assert!(f.occ_rate(p, o.failure) > 4.9 * f.occ_rate(p, o.onset));
        // The same seed, the same fleet.
        let g = Fleet::new(
            FleetConfig {
                pumps: 60,
                days: 200,
                battery_share: 0.5,
                occlusion_share: 0.5,
                ..FleetConfig::default()
            },
            Timestamp(0),
        );
        assert_eq!(g.degradations(), ds);
    }
}
