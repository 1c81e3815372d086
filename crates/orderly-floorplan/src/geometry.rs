//! The floorplan as geometry, where rooms have rects: every rect edge is a wall, a `door` (or
//! lift or stairs) link opens a 0.9 m doorway in the middle of the two rooms' shared edge, and
//! an `open` or `corridor` link opens the whole shared edge. Used by the locator's radio model
//! and by the simulator's walks.

use crate::Floorplan;

/// A straight piece of wall or opening, metres on a floor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Seg {
    pub a: [f32; 2],
    pub b: [f32; 2],
}

/// A gap in the walls between two rooms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Opening {
    pub seg: Seg,
    /// The two rooms, lower index first.
    pub rooms: (usize, usize),
    /// A doorway (a door may be shut), not an open border.
    pub door: bool,
}

/// What a straight line between two points of a floor passes through.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Crossing {
    /// Walls crossed (not through an opening).
    pub walls: u32,
    /// Doorways passed through (indices into [`Floorplan::openings`]).
    pub doors: Vec<usize>,
}

const EPS: f32 = 0.05;

/// The stretch of edge two rects share, if they share more than a corner.
pub(crate) fn shared_edge(p: [f32; 4], q: [f32; 4]) -> Option<Seg> {
    let (px1, py1, qx1, qy1) = (p[0] + p[2], p[1] + p[3], q[0] + q[2], q[1] + q[3]);
    for x in [px1, p[0]] {
        if (x - q[0]).abs() <= EPS || (x - qx1).abs() <= EPS {
            let (y0, y1) = (p[1].max(q[1]), py1.min(qy1));
            if y1 - y0 > EPS {
                return Some(Seg {
                    a: [x, y0],
                    b: [x, y1],
                });
            }
        }
    }
    for y in [py1, p[1]] {
        if (y - q[1]).abs() <= EPS || (y - qy1).abs() <= EPS {
            let (x0, x1) = (p[0].max(q[0]), px1.min(qx1));
            if x1 - x0 > EPS {
                return Some(Seg {
                    a: [x0, y],
                    b: [x1, y],
                });
            }
        }
    }
    None
}

/// Whether `p` lies in the `[x, y, w, h]` rect (edges included).
pub fn inside(r: [f32; 4], p: [f32; 2]) -> bool {
    p[0] >= r[0] && p[0] <= r[0] + r[2] && p[1] >= r[1] && p[1] <= r[1] + r[3]
}

/// Where segment p->q crosses segment s, as the fraction along p->q.
fn cross(p: [f32; 2], q: [f32; 2], s: Seg) -> Option<f32> {
    let r = [q[0] - p[0], q[1] - p[1]];
    let e = [s.b[0] - s.a[0], s.b[1] - s.a[1]];
    let den = r[0] * e[1] - r[1] * e[0];
    if den.abs() < 1e-9 {
        return None;
    }
    let w = [s.a[0] - p[0], s.a[1] - p[1]];
    let t = (w[0] * e[1] - w[1] * e[0]) / den;
    let u = (w[0] * r[1] - w[1] * r[0]) / den;
    ((0.0..=1.0).contains(&t) && (-1e-4..=1.0 + 1e-4).contains(&u)).then_some(t)
}

fn on_seg(s: Seg, p: [f32; 2]) -> bool {
    let (dx, dy) = (s.b[0] - s.a[0], s.b[1] - s.a[1]);
    let len2 = dx * dx + dy * dy;
    if len2 <= 0.0 {
        return false;
    }
    let t = ((p[0] - s.a[0]) * dx + (p[1] - s.a[1]) * dy) / len2;
    let c = [s.a[0] + t * dx, s.a[1] + t * dy];
    (0.0..=1.0).contains(&t) && (c[0] - p[0]).hypot(c[1] - p[1]) < EPS
}

/// The openings of a floorplan's links between rooms whose rects touch.
pub(crate) fn openings(fp: &Floorplan) -> Vec<Opening> {
    let mut out = Vec::new();
    for (i, ri) in fp.rooms.iter().enumerate() {
        let Some(p) = ri.rect else { continue };
        for (j, link) in fp.neighbours(i) {
            let Some(q) = fp.rooms[j]
                .rect
                .filter(|_| j > i && fp.rooms[j].floor == ri.floor)
            else {
                continue;
            };
            let Some(edge) = shared_edge(p, q) else {
                continue;
            };
            let door = !link.kind.is_open();
            let seg = if door {
                let m = [(edge.a[0] + edge.b[0]) / 2.0, (edge.a[1] + edge.b[1]) / 2.0];
                let len = (edge.b[0] - edge.a[0]).hypot(edge.b[1] - edge.a[1]);
                let h = (0.45 / len).min(0.5);
                let d = [edge.b[0] - edge.a[0], edge.b[1] - edge.a[1]];
                Seg {
                    a: [m[0] - h * d[0], m[1] - h * d[1]],
                    b: [m[0] + h * d[0], m[1] + h * d[1]],
                }
            } else {
                edge
            };
            out.push(Opening {
                seg,
                rooms: (i, j),
                door,
            });
        }
    }
    out
}

impl Floorplan {
    /// Doorways and open borders between rooms with rects.
    pub fn openings(&self) -> &[Opening] {
        &self.openings
    }

    /// Where a receiver is: as `[[receiver]]` says, else the middle of its room's rect.
    pub fn receiver_position(&self, receiver: &str) -> Option<[f32; 2]> {
        self.receiver_at(receiver).or_else(|| {
            let r = self.rooms[self.receiver_room(receiver)?].rect?;
            Some([r[0] + r[2] / 2.0, r[1] + r[3] / 2.0])
        })
    }

    /// The walls and doorways a straight line from `p` to `q` on `floor` passes through:
    /// the rooms' edges it crosses, an edge two rooms share counted once.
    pub fn crossing(&self, floor: &str, p: [f32; 2], q: [f32; 2]) -> Crossing {
        let len = (q[0] - p[0]).hypot(q[1] - p[1]);
        let mut hits: Vec<f32> = Vec::new();
        for r in self.rooms.iter().filter(|r| r.floor == floor) {
            let Some(r) = r.rect else { continue };
            let c = [
                [r[0], r[1]],
                [r[0] + r[2], r[1]],
                [r[0] + r[2], r[1] + r[3]],
                [r[0], r[1] + r[3]],
            ];
            for k in 0..4 {
                if let Some(t) = cross(
                    p,
                    q,
                    Seg {
                        a: c[k],
                        b: c[(k + 1) % 4],
                    },
                ) {
                    hits.push(t);
                }
            }
        }
        hits.sort_by(f32::total_cmp);
        let mut out = Crossing::default();
        let mut last: Option<f32> = None;
        for t in hits {
            if last.is_some_and(|l| (t - l) * len <= 0.15) {
                continue;
            }
            last = Some(t);
            let x = [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])];
            match self.openings.iter().position(|o| on_seg(o.seg, x)) {
                Some(k) if self.openings[k].door => out.doors.push(k),
                Some(_) => {}
                None => out.walls += 1,
            }
        }
        out
    }
}
