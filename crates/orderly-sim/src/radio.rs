//! Walks through a floor with BLE RSSI from a multi-wall path-loss model, and the truth beside:
//! what `cargo xtask eval rooms --sim` scores the locator on, in buildings with walls (real
//! recordings with walls are scarce).
//!
//! The floor comes from the floorplan: rooms are their rects, every rect edge is a wall, a
//! `door` link opens a 0.9 m doorway in the middle of the two rooms' shared edge and an `open`
//! or `corridor` link opens the whole shared edge. Receivers are where `[[receiver]]` puts
//! them, else at their room's centre, on the ceiling.
//!
//! The received power of one advertisement at a receiver (parameters in [`RadioParams`], with
//! their sources):
//!
//! `rssi = p0 - 10 n log10(d) - Σ wall losses - body - shadowing + fading`
//!
//! - log-distance path loss with the multi-wall correction of COST 231 (Motley-Keenan: free
//!   space plus a loss per wall crossed; COST Action 231 final report, EUR 18957, 1999, §4.7):
//!   light internal walls 3.4 dB, heavy walls 6.9 dB; a closed wooden door about 3 dB at
//!   2.4 GHz (Wilson, "Propagation losses through common building materials, 2.4 GHz vs
//!   5 GHz", Magis Networks, 2002);
//! - body shadowing: the wearer's body between a chest-worn tag and the receiver, up to about
//!   10 dB at 2.4 GHz, graded by the angle;
//! - log-normal shadowing (σ 4 dB) correlated over distance walked (Gudmundson, "Correlation
//!   model for shadow fading in mobile radio systems", Electronics Letters 27(23), 1991;
//!   2 m indoors) and over time (people and carts moving);
//! - fast fading per advertisement, Rician with K = 2 when no wall is crossed and Rayleigh
//!   otherwise (BLE's fast fading and channel-to-channel spread: Faragher and Harle, "Location
//!   fingerprinting with Bluetooth Low Energy beacons", IEEE JSAC 33(11), 2015);
//! - packet loss: an advertisement below the receiver's sensitivity is not heard, and one in
//!   `loss_p` is lost anyway (scan duty cycle, collisions).
//!
//! Core: no IO; the same plan, parameters and seed give the same rows.

use orderly_floorplan::Floorplan;
use orderly_model::Timestamp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Radio and walking parameters. Defaults are the cited values.
#[derive(Clone, Debug)]
pub struct RadioParams {
    /// Received power at 1 m in free space, dBm (an iBeacon's calibrated "measured power").
    pub p0_dbm: f32,
    /// Path-loss exponent (2: free space; the walls are counted apart).
    pub n: f32,
    /// Loss per wall crossed, dB (COST 231: 3.4 light, 6.9 heavy).
    pub wall_db: f32,
    /// Loss through a closed door, dB.
    pub door_db: f32,
    /// Share of doors closed during a walk.
    pub doors_closed: f32,
    /// Body shadowing with the receiver straight behind the wearer, dB.
    pub body_db: f32,
    /// Log-normal shadowing standard deviation, dB.
    pub shadow_sd_db: f32,
    /// Distance over which the shadowing decorrelates, m.
    pub shadow_corr_m: f32,
    /// Time over which the shadowing decorrelates when standing still, s.
    pub shadow_corr_s: f32,
    /// Rician K factor (linear) of the fast fading when no wall is crossed.
    pub rician_k: f32,
    /// Weakest advertisement a receiver hears, dBm.
    pub sensitivity_dbm: f32,
    /// Share of advertisements lost anyway.
    pub loss_p: f32,
    /// Advertisements per second.
    pub advert_hz: f32,
    /// Receivers' height above the tag, m (ceiling at 2.6 m, tag at chest height).
    pub height_m: f32,
    /// Walking speed range, m/s.
    pub speed_mps: (f32, f32),
    /// Time spent at each stop, s.
    pub dwell_s: (f32, f32),
}

impl Default for RadioParams {
    fn default() -> Self {
        RadioParams {
            p0_dbm: -59.0,
            n: 2.0,
            wall_db: 3.4,
            door_db: 3.0,
            doors_closed: 0.5,
            body_db: 10.0,
            shadow_sd_db: 4.0,
            shadow_corr_m: 2.0,
            shadow_corr_s: 10.0,
            rician_k: 2.0,
            sensitivity_dbm: -95.0,
            loss_p: 0.1,
            advert_hz: 2.0,
            height_m: 1.3,
            speed_mps: (0.6, 1.3),
            dwell_s: (5.0, 90.0),
        }
    }
}

/// One advertisement heard: when, by which receiver, how strong, and the room the tag was
/// truly in (index into the floorplan's rooms).
#[derive(Clone, Debug, PartialEq)]
pub struct Heard {
    pub at: Timestamp,
    pub receiver: String,
    pub rssi: f32,
    pub truth: usize,
    /// Whether the wearer was walking (not standing at a stop).
    pub moving: bool,
    /// Distance from the tag to the nearest edge of its room, m.
    pub to_edge_m: f32,
}

/// One floor of a floorplan to walk on.
#[derive(Clone, Debug)]
pub struct Plan {
    floor: String,
    /// Rooms of the floor: (room index, rect).
    rooms: Vec<(usize, [f32; 4])>,
    /// (receiver id, position).
    receivers: Vec<(String, [f32; 2])>,
}

/// Why a floor cannot be simulated.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanError(pub String);

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Plan {
    /// The floor `floor` of `fp`: every room on it needs a rect.
    pub fn new(fp: &Floorplan, floor: &str) -> Result<Plan, PlanError> {
        let mut rooms = Vec::new();
        for (i, r) in fp
            .rooms
            .iter()
            .enumerate()
            .filter(|(_, r)| r.floor == floor)
        {
            let rect = r.rect.ok_or_else(|| {
                PlanError(format!(
                    "room {:?} has no rect: the walls are unknown",
                    r.id
                ))
            })?;
            rooms.push((i, rect));
        }
        if rooms.is_empty() {
            return Err(PlanError(format!("floor {floor:?} has no rooms")));
        }
        // Every room of the floor has a rect, so each of its receivers has a position.
        let receivers: Vec<(String, [f32; 2])> = fp
            .receivers()
            .into_iter()
            .filter(|(_, room)| fp.rooms[*room].floor == floor)
            .filter_map(|(id, _)| Some((id.to_string(), fp.receiver_position(id)?)))
            .collect();
        if receivers.is_empty() {
            return Err(PlanError(format!("floor {floor:?} has no receivers")));
        }
        Ok(Plan {
            floor: floor.to_string(),
            rooms,
            receivers,
        })
    }

    /// The room holding point `p` (the first in file order on a shared edge).
    pub fn room_at(&self, p: [f32; 2]) -> Option<usize> {
        self.rooms
            .iter()
            .find(|(_, r)| orderly_floorplan::inside(*r, p))
            .map(|(i, _)| *i)
    }

    /// Distance from `p` to the nearest edge of room `room`'s rect, m.
    pub fn to_edge(&self, room: usize, p: [f32; 2]) -> f32 {
        self.rooms
            .iter()
            .find(|(i, _)| *i == room)
            .map_or(0.0, |(_, r)| {
                (p[0] - r[0])
                    .min(r[0] + r[2] - p[0])
                    .min(p[1] - r[1])
                    .min(r[1] + r[3] - p[1])
            })
    }

    /// Rooms of the floor with at least one receiver (where a walk stops).
    pub fn stops(&self, fp: &Floorplan) -> Vec<usize> {
        self.rooms
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| !fp.rooms[*i].receivers.is_empty())
            .collect()
    }
}

/// A walk of `duration_s` seconds from `start` on `plan`: stops at random points of random
/// rooms with receivers, walking between them through the doorways and open borders.
pub fn walk(
    fp: &Floorplan,
    plan: &Plan,
    params: &RadioParams,
    seed: u64,
    start: Timestamp,
    duration_s: f32,
) -> Vec<Heard> {
    let mut rng = StdRng::seed_from_u64(seed);
    let path = route(fp, plan, params, &mut rng, duration_s);
    let closed: Vec<bool> = fp
        .openings()
        .iter()
        .map(|o| o.door && rng.random_bool(params.doors_closed.clamp(0.0, 1.0) as f64))
        .collect();
    let gauss = |rng: &mut StdRng| -> f32 {
        let u: f32 = rng.random_range(f32::EPSILON..1.0);
        let v: f32 = rng.random_range(0.0..1.0);
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    };
    let mut shadow: Vec<f32> = plan
        .receivers
        .iter()
        .map(|_| params.shadow_sd_db * gauss(&mut rng))
        .collect();
    let dt = 1.0 / params.advert_hz.max(0.1);
    let mut out = Vec::new();
    let mut last: Option<([f32; 2], f32)> = None;
    let mut t = 0.0f32;
    let mut leg = 0;
    while t < duration_s {
        // Where the tag is at t, and which way the wearer faces.
        while leg + 1 < path.len() && path[leg + 1].t <= t {
            leg += 1;
        }
        let moving = leg + 1 < path.len()
            && (path[leg + 1].p[0] - path[leg].p[0]).hypot(path[leg + 1].p[1] - path[leg].p[1])
                > 1e-3;
        let (pos, heading) = if leg + 1 < path.len() {
            let (a, b) = (&path[leg], &path[leg + 1]);
            let f = ((t - a.t) / (b.t - a.t).max(1e-3)).clamp(0.0, 1.0);
            let p = [
                a.p[0] + f * (b.p[0] - a.p[0]),
                a.p[1] + f * (b.p[1] - a.p[1]),
            ];
            let h = if (b.p[0] - a.p[0]).hypot(b.p[1] - a.p[1]) > 1e-3 {
                (b.p[1] - a.p[1]).atan2(b.p[0] - a.p[0])
            } else {
                a.heading
            };
            (p, h)
        } else {
            (path[leg].p, path[leg].heading)
        };
        let Some(truth) = plan.room_at(pos) else {
            t += dt;
            continue;
        };
        let moved = last.map_or(0.0, |(p, _)| (pos[0] - p[0]).hypot(pos[1] - p[1]));
        let since = last.map_or(0.0, |(_, s)| t - s);
        let rho = (-moved / params.shadow_corr_m.max(0.01)
            - since / params.shadow_corr_s.max(0.01))
        .exp();
        last = Some((pos, t));
        let at = start.plus_ms((t * 1000.0) as i64);
        for (k, (id, rx)) in plan.receivers.iter().enumerate() {
            shadow[k] = rho * shadow[k]
                + (1.0 - rho * rho).max(0.0).sqrt() * params.shadow_sd_db * gauss(&mut rng);
            let flat = (rx[0] - pos[0]).hypot(rx[1] - pos[1]);
            let d = flat.hypot(params.height_m).max(0.5);
            let c = fp.crossing(&plan.floor, pos, *rx);
            let (solid, shut) = (c.walls, c.doors.iter().filter(|k| closed[**k]).count());
            let blocked = solid as usize + shut > 0;
            let walls = solid as f32 * params.wall_db;
            let doors = shut as f32 * params.door_db;
            // Facing away from the receiver: the body is in the way.
            let bearing = (rx[1] - pos[1]).atan2(rx[0] - pos[0]);
            let away = (1.0 - (bearing - heading).cos()) / 2.0;
            let body = params.body_db * away * away;
            let k_f = if blocked {
                0.0
            } else {
                params.rician_k.max(0.0)
            };
            let los = (k_f / (k_f + 1.0)).sqrt();
            let s = (1.0 / (2.0 * (k_f + 1.0))).sqrt();
            let (re, im) = (los + s * gauss(&mut rng), s * gauss(&mut rng));
            let fading = 10.0 * (re * re + im * im).max(1e-6).log10();
            let rssi = params.p0_dbm - 10.0 * params.n * d.log10() - walls - doors - body
                + shadow[k]
                + fading;
            let lost = rng.random_range(0.0..1.0) < params.loss_p;
            if rssi >= params.sensitivity_dbm && !lost {
                out.push(Heard {
                    at,
                    receiver: id.clone(),
                    rssi: rssi.round(),
                    truth,
                    moving,
                    to_edge_m: plan.to_edge(truth, pos),
                });
            }
        }
        t += dt;
    }
    out
}

#[derive(Clone, Copy, Debug)]
struct Waypoint {
    t: f32,
    p: [f32; 2],
    heading: f32,
}

/// Waypoints of a walk: stops at random points of random rooms, through the openings.
fn route(
    fp: &Floorplan,
    plan: &Plan,
    params: &RadioParams,
    rng: &mut StdRng,
    duration_s: f32,
) -> Vec<Waypoint> {
    let stops = plan.stops(fp);
    let rect = |i: usize| plan.rooms.iter().find(|(r, _)| *r == i).map(|(_, q)| *q);
    let point_in = |rng: &mut StdRng, r: [f32; 4]| {
        let m = 0.4f32;
        let x = r[0] + m.min(r[2] / 2.0) + rng.random_range(0.0..=1.0) * (r[2] - 2.0 * m).max(0.0);
        let y = r[1] + m.min(r[3] / 2.0) + rng.random_range(0.0..=1.0) * (r[3] - 2.0 * m).max(0.0);
        [x, y]
    };
    let mut room = stops[rng.random_range(0..stops.len())];
    let mut p = point_in(rng, rect(room).unwrap_or_default());
    let mut t = 0.0;
    let mut out = vec![Waypoint {
        t,
        p,
        heading: rng.random_range(-std::f32::consts::PI..std::f32::consts::PI),
    }];
    let speed = rng.random_range(params.speed_mps.0..=params.speed_mps.1.max(params.speed_mps.0));
    while t < duration_s {
        // Stay a while, turning now and then.
        let dwell = rng.random_range(params.dwell_s.0..=params.dwell_s.1.max(params.dwell_s.0));
        t += dwell;
        out.push(Waypoint {
            t,
            p,
            heading: rng.random_range(-std::f32::consts::PI..std::f32::consts::PI),
        });
        let to = stops[rng.random_range(0..stops.len())];
        if to == room {
            continue;
        }
        let Some(r) = fp.route(room, to) else {
            continue;
        };
        let ids: Vec<usize> = r.rooms.iter().filter_map(|id| fp.room_index(id)).collect();
        if ids.iter().any(|i| rect(*i).is_none()) {
            continue; // off this floor
        }
        let mut pts = Vec::new();
        for w in ids.windows(2) {
            let Some(o) = fp
                .openings()
                .iter()
                .find(|o| o.rooms == (w[0], w[1]) || o.rooms == (w[1], w[0]))
            else {
                pts.clear();
                break;
            };
            // Cross at the opening's point nearest the way in (a doorway's middle), stepping
            // 0.5 m clear of the wall on each side.
            let from = pts.last().copied().unwrap_or(p);
            let (a, b) = (o.seg.a, o.seg.b);
            let len = (b[0] - a[0]).hypot(b[1] - a[1]).max(1e-3);
            let d = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
            let along = if o.door {
                len / 2.0
            } else {
                (((from[0] - a[0]) * d[0] + (from[1] - a[1]) * d[1])
                    .clamp(0.5, (len - 0.5).max(0.5)))
                .min(len)
            };
            let x = [a[0] + along * d[0], a[1] + along * d[1]];
            let n = [-d[1], d[0]];
            let rb = rect(w[1]).unwrap_or_default();
            let into = if orderly_floorplan::inside(rb, [x[0] + 0.1 * n[0], x[1] + 0.1 * n[1]]) {
                n
            } else {
                [-n[0], -n[1]]
            };
            pts.push([x[0] - 0.5 * into[0], x[1] - 0.5 * into[1]]);
            pts.push([x[0] + 0.5 * into[0], x[1] + 0.5 * into[1]]);
        }
        if pts.is_empty() {
            continue;
        }
        let end = point_in(rng, rect(to).unwrap_or_default());
        pts.push(end);
        for q in pts {
            let d = (q[0] - p[0]).hypot(q[1] - p[1]);
            t += d / speed;
            out.push(Waypoint {
                t,
                p: q,
                heading: (q[1] - p[1]).atan2(q[0] - p[0]),
            });
            p = q;
        }
        room = to;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat() -> Floorplan {
        Floorplan::parse(
            "eval-flat.toml",
            include_str!("../../../floorplans/eval-flat.toml"),
        )
        .unwrap()
    }

    #[test]
    fn a_walk_is_repeatable_and_its_truth_is_where_the_tag_is() {
        let fp = flat();
        let plan = Plan::new(&fp, "F").unwrap();
        let p = RadioParams::default();
        let a = walk(&fp, &plan, &p, 7, Timestamp(0), 600.0);
        assert_eq!(a, walk(&fp, &plan, &p, 7, Timestamp(0), 600.0));
        assert_ne!(a, walk(&fp, &plan, &p, 8, Timestamp(0), 600.0));
        let rooms: std::collections::BTreeSet<&str> =
            a.iter().map(|h| fp.rooms[h.truth].id.as_str()).collect();
        assert!(
            rooms.len() >= 4,
            "a 10-minute walk visits most rooms: {rooms:?}"
        );
        assert!(
            a.iter()
                .all(|h| h.rssi <= -20.0 && h.rssi >= p.sensitivity_dbm)
        );
        // Standing well inside a room, its own receiver is the strongest most of the time.
        let mut own = (0, 0);
        for at in a
            .iter()
            .filter(|h| !h.moving && h.to_edge_m >= 1.0)
            .map(|h| h.at)
        {
            let best = a
                .iter()
                .filter(|h| h.at == at)
                .max_by(|x, y| x.rssi.total_cmp(&y.rssi))
                .unwrap();
            own.0 += 1;
            own.1 += usize::from(fp.receiver_room(&best.receiver) == Some(best.truth));
        }
        assert!(own.0 > 100 && own.1 * 10 >= own.0 * 6, "{own:?}");
    }

    #[test]
    fn walls_and_open_borders_are_where_the_floorplan_says() {
        let fp = flat();
        // Bathroom to bedroom: one wall; hall to living room: the open border; hall to
        // bathroom through the doorway's middle: a door, no wall.
        assert_eq!(fp.crossing("F", [2.0, 2.0], [2.0, 6.0]).walls, 1);
        let open = fp.crossing("F", [5.0, 5.0], [8.0, 5.0]);
        assert_eq!((open.walls, open.doors.len()), (0, 0));
        let door = fp.crossing("F", [3.0, 2.0], [5.0, 2.0]);
        assert_eq!((door.walls, door.doors.len()), (0, 1));
        // Bathroom to kitchen along y = 0.5: two walls (the hall's both sides).
        assert_eq!(fp.crossing("F", [2.0, 0.5], [9.0, 0.5]).walls, 2);
        assert!(Plan::new(&fp, "G").is_err());
    }
}
