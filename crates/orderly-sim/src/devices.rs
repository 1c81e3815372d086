//! Infusion pumps and patient wearables.

use super::*;

impl Simulator {
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
                    infusion: None,
                    soft_overrides_total: None,
                    hard_stops_total: None,
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
