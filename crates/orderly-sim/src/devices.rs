//! Infusion pumps and patient wearables.

use super::*;
use orderly_model::infusion::{DrugLibrary, Infusion};

/// Infusions on the simulated pumps: programs from the drug library, some in basic mode, some
/// overridden past a soft limit, some after a hard stop, rarely one past a hard limit.
#[derive(Clone, Debug)]
pub struct InfusionSim {
    pub library: Arc<DrugLibrary>,
    /// Share of infusions started without the library.
    pub basic_mode: f64,
    /// Share of library infusions programmed past a soft limit and confirmed.
    pub soft_override: f64,
    /// Share of library infusions preceded by a program the pump refused at a hard limit.
    pub hard_stop: f64,
    /// Share of library infusions past a hard limit that the pump let through (an old library).
    pub past_hard: f64,
}

impl InfusionSim {
    pub fn new(library: Arc<DrugLibrary>) -> Self {
        InfusionSim {
            library,
            basic_mode: 0.08,
            soft_override: 0.06,
            hard_stop: 0.02,
            past_hard: 0.003,
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

impl Simulator {
    /// Programs pump `p` in `room` for a new infusion; with `events`, overrides and hard stops
    /// happen (not at the start, when Orderly takes the counters as they are).
    fn program_pump(&mut self, p: usize, room: usize, now: Timestamp, events: bool) {
        let Some(cfg) = self.cfg.infusions.clone() else {
            return;
        };
        let rng = &mut self.infusion_rng;
        let unit = self.fp.rooms[room].unit.clone();
        let profile = unit
            .as_deref()
            .and_then(|u| cfg.library.profile_of_unit(u))
            .map(|p| p.id.clone());
        let entries: Vec<usize> = (0..cfg.library.entries.len())
            .filter(|i| {
                profile
                    .as_deref()
                    .is_some_and(|p| cfg.library.entries[*i].in_profile(p))
            })
            .collect();
        let (mut soft, mut hard, mut past) = (false, false, false);
        let program = if entries.is_empty() || rng.random_bool(cfg.basic_mode) {
            Infusion {
                library: false,
                profile: profile.clone(),
                rate_ml_h: round1(rng.random_range(40.0..150.0)),
                vtbi_ml: Some(1000.0),
                ..Infusion::default()
            }
        } else {
            let e = &cfg.library.entries[entries[rng.random_range(0..entries.len())]];
            let l = &e.limits;
            let top = l.soft_max.or(l.hard_max).unwrap_or(1.0);
            let bottom = l.soft_min.unwrap_or(top * 0.25).max(top * 0.05);
            let mut dose = rng.random_range(bottom..=top);
            let roof = l.hard_max.unwrap_or(top * 1.3);
            if events && roof > top * 1.02 && rng.random_bool(cfg.soft_override) {
                // Past the soft limit, below the hard: the nurse confirms.
                dose = top + (roof - top) * rng.random_range(0.2..0.9);
                soft = true;
            } else if events && l.hard_max.is_some() && rng.random_bool(cfg.past_hard) {
                dose = roof * 1.15;
                past = true;
            }
            if events && l.hard_max.is_some() && rng.random_bool(cfg.hard_stop) {
                hard = true;
            }
            let dose = round1(dose).max(0.1);
            let weight = e
                .weight_based()
                .then(|| rng.random_range(45.0..120.0_f64).round());
            let rate = e
                .rate_for(dose, weight)
                .map(round1)
                .unwrap_or(10.0)
                .max(0.1);
            Infusion {
                library: true,
                profile: profile.clone(),
                drug: Some(e.drug.clone()),
                concentration: Some(e.concentration.clone()),
                dose: Some(dose),
                dose_unit: Some(e.dose_unit.clone()),
                weight_kg: weight,
                rate_ml_h: rate,
                vtbi_ml: Some(e.bag_ml()),
                ..Infusion::default()
            }
        };
        let pump = &mut self.pumps[p];
        pump.soft_overrides += u64::from(soft);
        pump.hard_stops += u64::from(hard);
        self.truth.push(Truth::Infusion {
            at: now,
            pump: pump.id.clone(),
            unit,
            library: program.library,
            drug: program.drug.clone(),
            soft_override: soft,
            hard_stop: hard,
            past_hard: past,
        });
        pump.program = Some(program);
    }
    pub(crate) fn pumps_report(&mut self, now: Timestamp, dt: i64, out: &mut Vec<Message>) {
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
            if self.cfg.infusions.is_some() {
                let busy = matches!(self.pumps[p].state, "infusing" | "paused" | "alarm");
                match (busy, self.pumps[p].program.is_some()) {
                    (true, false) => {
                        // A pump's first report sets Orderly's baseline of its counters.
                        let events = self.pumps[p].seq > 0;
                        self.program_pump(p, room, now, events);
                        changed = true;
                    }
                    (false, true) => {
                        self.pumps[p].program = None;
                        changed = true;
                    }
                    _ => {}
                }
                if self.pumps[p].state == "infusing"
                    && let Some(prog) = &mut self.pumps[p].program
                {
                    prog.infused_ml += prog.rate_ml_h * dt as f64 / 3_600_000.0;
                    if prog.infused_ml >= prog.vtbi_ml.unwrap_or(f64::MAX) {
                        // The bag is done: the next one.
                        self.program_pump(p, room, now, true);
                        changed = true;
                    }
                }
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
            let infusions = self.cfg.infusions.is_some();
            let pump = &mut self.pumps[p];
            if pump.state == "infusing" {
                pump.runtime_h += dt as f64 / 3_600_000.0;
            }
            if changed || pump.next <= now {
                pump.next = now.plus_ms(60_000);
                pump.seq += 1;
                let faults = if pump.state == "alarm" {
                    vec!["OCCLUSION".to_string()]
                } else {
                    vec![]
                };
                let telemetry = PumpTelemetry {
                    state: match pump.state {
                        "idle" => PumpState::Idle,
                        "infusing" => PumpState::Infusing,
                        "paused" => PumpState::Paused,
                        "alarm" => PumpState::Alarm,
                        _ => PumpState::Off,
                    },
                    battery_pct: pump.battery.round(),
                    on_battery: !in_patient_room,
                    runtime_hours: (pump.runtime_h * 10.0).round() / 10.0,
                    occlusion_alarms_total: pump.occlusions,
                    downstream_psi: None,
                    motor_current_ma: None,
                    faults,
                    infusion: pump.program.as_ref().map(|p| {
                        Box::new(Infusion {
                            infused_ml: round1(p.infused_ml),
                            ..p.clone()
                        })
                    }),
                    soft_overrides_total: infusions.then_some(pump.soft_overrides),
                    hard_stops_total: infusions.then_some(pump.hard_stops),
                };
                let (device, seq) = (pump.device.clone(), pump.seq);
                out.push(self.message(now, &device, now, seq, Payload::PumpTelemetry(telemetry)));
            }
        }
    }

    pub(crate) fn wearables_report(&mut self, now: Timestamp, dt: i64, out: &mut Vec<Message>) {
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
                    let (device, seq) = (wear.device.clone(), wear.seq);
                    let imu = WearableImu {
                        hz: 50.0,
                        acc_g: samples,
                    };
                    out.push(self.message(now, &device, ts, seq, Payload::WearableImu(imu)));
                }
            }
        }
    }
}
