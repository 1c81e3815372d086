//! Tags on the move and the room receivers that hear them.

use super::*;

impl Simulator {
    /// Sends the tag walking to `to` along the shortest route.
    pub(crate) fn walk_to(&mut self, i: usize, to: usize) {
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

    pub(crate) fn move_tags(&mut self, now: Timestamp) {
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

    pub(crate) fn receivers_report(&mut self, now: Timestamp, out: &mut Vec<Message>) {
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
                        let mut s = Sighting {
                            tag: self.tags[i].tag.as_str().into(),
                            rssi,
                            battery: None,
                            ir: false,
                        };
                        if ir_room && self.rng.random_bool(0.3) {
                            s.ir = true;
                        }
                        if self.rng.random_bool(0.05) {
                            s.battery = Some((self.tags[i].battery * 100.0).round() / 100.0);
                        }
                        sightings.push(s);
                    }
                }
                let neighbours: Vec<usize> = self.fp.neighbours(room).map(|(n, _)| n).collect();
                for n in neighbours {
                    for &i in &by_room[n] {
                        if self.rng.random_bool(0.6) {
                            let rssi = (-79.0 + self.gauss(5.0)).clamp(-127.0, 0.0).round();
                            sightings.push(Sighting {
                                tag: self.tags[i].tag.as_str().into(),
                                rssi,
                                battery: None,
                                ir: false,
                            });
                        }
                    }
                }
                if sightings.is_empty() {
                    continue;
                }
                self.receivers[r].3 += 1;
                let (id, seq) = (self.receivers[r].0.clone(), self.receivers[r].3);
                out.push(self.message(
                    at,
                    &id,
                    at,
                    seq,
                    Payload::Sightings(Sightings { sightings }),
                ));
            }
        }
    }
}
