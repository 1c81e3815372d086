//! Smart beds: frame state, load cells, patients getting up and falling, nurses' visits and
//! the safety lapses they leave, and the commands beds answer.

use super::*;

impl Simulator {
    /// The patient in bed `b` starts to get up now (falling on the way if `fall`).
    pub(crate) fn get_up(&mut self, b: usize, now: Timestamp, fall: bool) {
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
    pub(crate) fn maybe_lapse(&mut self, b: usize, now: Timestamp) {
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
    pub(crate) fn settings_right(bed: &mut Bed) {
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
    pub(crate) fn answer_commands(&mut self, now: Timestamp, out: &mut Vec<Message>) {
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
                        ("surface", serde_json::Value::String(m)) if surface(m).is_some() => {
                            bed.surface = m.clone()
                        }
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
            let ack = CommandAck {
                command_id: id.to_string(),
                result: if refusal.is_some() {
                    AckResult::Refused
                } else {
                    AckResult::Applied
                },
                reason: refusal,
            };
            bed.next_state = now;
            let (device, seq) = (bed.device.clone(), bed.seq);
            out.push(self.message(now, &device, now, seq, Payload::CommandAck(ack)));
        }
    }

    pub(crate) fn beds_report(&mut self, now: Timestamp, dt: i64, out: &mut Vec<Message>) {
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
                    let (device, seq) = (bed.device.clone(), bed.seq);
                    let load = BedLoad {
                        hz: 5.0,
                        cells_kg: cells,
                    };
                    out.push(self.message(now, &device, ts, seq, Payload::BedLoad(load)));
                }
            }
            let bed = &mut self.beds[b];
            if changed || bed.next_state <= now {
                bed.next_state = now.plus_ms(30_000);
                bed.seq += 1;
                let state = BedState {
                    occupied: bed.occupied,
                    hob_deg: bed.hob,
                    height: if bed.height == "raised" {
                        BedHeight::Raised
                    } else {
                        BedHeight::Low
                    },
                    brakes: bed.brakes,
                    rails: Rails {
                        head_left: true,
                        head_right: true,
                        foot_left: false,
                        foot_right: false,
                    },
                    exit_alarm: match bed.alarm {
                        "armed" => ExitAlarm::Armed,
                        "alarming" => ExitAlarm::Alarming,
                        _ => ExitAlarm::Off,
                    },
                    surface: surface(&bed.surface).unwrap_or(Surface::Static),
                    moving: bed.moving_until.is_some(),
                };
                let (device, seq) = (bed.device.clone(), bed.seq);
                out.push(self.message(now, &device, now, seq, Payload::BedState(state)));
            }
        }
    }

    /// The patient of bed `b` falls at `at` in `room`: the truth, and the wearable's own
    /// `fall` event unless it streams its accelerometer (then Orderly's detector must see it).
    pub(crate) fn falls_now(
        &mut self,
        b: usize,
        at: Timestamp,
        room: String,
        out: &mut Vec<Message>,
    ) {
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
            let event = WearableEvent {
                kind: WearableEventType::Fall,
                confidence: Some(0.9),
            };
            let device = wear.device.clone();
            out.push(self.message(self.now, &device, at, None, Payload::WearableEvent(event)));
        }
    }
}
