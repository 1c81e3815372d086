//! PROTOTYPE: a forward filter over floor cells (walls only crossed at doorways and open
//! borders), room = the cells' room marginal.

use crate::eval::{Row, Score, Scorer};
use orderly_floorplan::Floorplan;
use std::collections::HashMap;

fn envf(k: &str, d: f32) -> f32 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

struct Grid {
    room: Vec<usize>,
    nb: Vec<Vec<u32>>,
    rx: HashMap<String, usize>,
    /// expected level per cell per receiver column
    e: Vec<Vec<f32>>,
    /// bearing per cell per receiver column
    bear: Vec<Vec<f32>>,
    top: Vec<[usize; 4]>,
}

fn grid(fp: &Floorplan, floor: &str) -> Grid {
    let s = envf("G_CELL", 0.75);
    let n = envf("G_N", 2.0);
    let wall = envf("G_WALL", 5.0);
    let mut pos = Vec::new();
    let mut room = Vec::new();
    for (i, r) in fp
        .rooms
        .iter()
        .enumerate()
        .filter(|(_, r)| r.floor == floor)
    {
        let Some(rect) = r.rect else { continue };
        let nx = (rect[2] / s).ceil().max(1.0) as usize;
        let ny = (rect[3] / s).ceil().max(1.0) as usize;
        for a in 0..nx {
            for b in 0..ny {
                pos.push([
                    rect[0] + (a as f32 + 0.5) / nx as f32 * rect[2],
                    rect[1] + (b as f32 + 0.5) / ny as f32 * rect[3],
                ]);
                room.push(i);
            }
        }
    }
    let mut rxs: Vec<(String, [f32; 2])> = fp
        .receivers()
        .into_iter()
        .filter(|(_, r)| fp.rooms[*r].floor == floor)
        .filter_map(|(id, _)| Some((id.to_string(), fp.receiver_position(id)?)))
        .collect();
    rxs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut e = Vec::new();
    let mut top = Vec::new();
    let mut bear = Vec::new();
    for p in &pos {
        bear.push(
            rxs.iter()
                .map(|(_, at)| (at[1] - p[1]).atan2(at[0] - p[0]))
                .collect::<Vec<f32>>(),
        );
        let row: Vec<f32> = rxs
            .iter()
            .map(|(_, at)| {
                let d = (at[0] - p[0]).hypot(at[1] - p[1]).hypot(1.3);
                let w = fp.crossing(floor, *p, *at).walls;
                -10.0 * n * d.max(0.5).log10() - w as f32 * wall
            })
            .collect();
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|a, b| row[*b].total_cmp(&row[*a]));
        let mut t = [usize::MAX; 4];
        for (slot, k) in t.iter_mut().zip(order) {
            *slot = k;
        }
        top.push(t);
        e.push(row);
    }
    let reach = s * 1.5;
    let mut nb = vec![Vec::new(); pos.len()];
    for i in 0..pos.len() {
        for j in 0..pos.len() {
            if i == j {
                continue;
            }
            let d = (pos[i][0] - pos[j][0]).hypot(pos[i][1] - pos[j][1]);
            if d <= reach && fp.crossing(floor, pos[i], pos[j]).walls == 0 {
                nb[i].push(j as u32);
            }
        }
    }
    if std::env::var_os("G_DEBUG").is_some() {
        let mut links: std::collections::BTreeMap<(usize, usize), usize> = Default::default();
        for i in 0..pos.len() {
            for &j in &nb[i] {
                if room[i] != room[j as usize] {
                    *links.entry((room[i], room[j as usize])).or_default() += 1;
                }
            }
        }
        for ((a, b), n) in links {
            eprintln!("{} -> {}: {n}", fp.rooms[a].id, fp.rooms[b].id);
        }
    }
    Grid {
        room,
        nb,
        rx: rxs
            .iter()
            .enumerate()
            .map(|(k, (id, _))| (id.clone(), k))
            .collect(),
        e,
        bear,
        top,
    }
}

pub(crate) fn run_grid(rows: &[Row], fp: &Floorplan, floor: &str) -> Score {
    let g = grid(fp, floor);
    let nc = g.room.len();
    let rise = envf("G_RISE", 0.35) * 1000.0;
    let fall = envf("G_FALL", 3.0) * 1000.0;
    let stale = envf("G_STALE", 10.0) * 1000.0;
    let sd2 = envf("G_SD", 6.0).powi(2);
    let tx0 = envf("G_TX", -59.0);
    let tx2 = envf("G_TXSD", 10.0).powi(2);
    let floor_dbm = envf("G_FLOOR", -95.0);
    let rate = envf("G_RATE", 0.5);
    let mix = envf("G_MIX", 0.5);
    let speed = envf("G_SPEED", 1.5);
    let cell = envf("G_CELL", 0.75);
    let enter = envf("G_ENTER", 0.8);
    let step_ms = (envf("G_STEP", 0.5) * 1000.0) as i64;
    let eps = envf("G_EPS", 1e-6);
    let mut level: Vec<Option<(f32, orderly_model::Timestamp)>> = vec![None; g.rx.len()];
    let mut p = vec![1.0 / nc as f32; nc];
    let mut q = vec![0.0f32; nc];
    let mut ll = vec![0.0f32; nc];
    let mut last: Option<orderly_model::Timestamp> = None;
    let mut sc = Scorer::new();
    let mut current: Option<usize> = None;
    for r in rows {
        sc.truth(r.at, &r.truth);
        if let Some(&k) = g.rx.get(&r.receiver) {
            match &mut level[k] {
                Some((v, at)) => {
                    let dt = r.at.since(*at).max(0) as f32;
                    let tau = if r.rssi > *v { rise } else { fall };
                    let a = (1.0 - (-dt / tau).exp()).clamp(0.1, 1.0);
                    *v += a * (r.rssi - *v);
                    *at = r.at;
                }
                slot @ None => *slot = Some((r.rssi, r.at)),
            }
        }
        let due = last.is_none_or(|l| r.at.since(l) >= step_ms);
        if due {
            let dt = last.map_or(0.0, |l| r.at.since(l) as f32 / 1000.0).min(5.0);
            last = Some(r.at);
            // heard
            let cols: Vec<(usize, f32)> = level
                .iter()
                .enumerate()
                .filter_map(|(k, v)| {
                    let (v, at) = (*v)?;
                    let age = r.at.since(at) as f32;
                    (age <= stale).then(|| {
                        let fade = ((age - 2000.0) / 1000.0).max(0.0);
                        (k, v - fade)
                    })
                })
                .collect();
            // predict
            let passes = ((dt * speed / cell).ceil() as usize).clamp(1, 8);
            for _ in 0..passes {
                q.iter_mut().for_each(|x| *x = 0.0);
                for c in 0..nc {
                    let out = p[c] * mix;
                    q[c] += p[c] - out;
                    let k = g.nb[c].len();
                    if k == 0 {
                        q[c] += out;
                        continue;
                    }
                    let share = out / k as f32;
                    for &j in &g.nb[c] {
                        q[j as usize] += share;
                    }
                }
                std::mem::swap(&mut p, &mut q);
            }
            let u = eps / nc as f32;
            p.iter_mut().for_each(|x| *x = *x * (1.0 - eps) + u);
            // weigh
            if !cols.is_empty() {
                let nh = cols.len() as f32;
                let mut best = f32::NEG_INFINITY;
                let body_db = envf("G_BODY", 0.0);
                let heads = if body_db > 0.0 {
                    envf("G_HEADS", 8.0) as usize
                } else {
                    1
                };
                let mut ex: Vec<(usize, f32)> = Vec::with_capacity(cols.len());
                for c in 0..nc {
                    let mut cbest = f32::NEG_INFINITY;
                    for h in 0..heads {
                        let hd = h as f32 / heads as f32 * std::f32::consts::TAU;
                        ex.clear();
                        for (k, _) in &cols {
                            let away = if body_db > 0.0 {
                                let a = (1.0 - (g.bear[c][*k] - hd).cos()) / 2.0;
                                body_db * a * a
                            } else {
                                0.0
                            };
                            ex.push((*k, g.e[c][*k] - away));
                        }
                        let sum: f32 = cols.iter().zip(&ex).map(|((_, v), (_, e))| v - e).sum();
                        let tx = (sum / sd2 + tx0 / tx2) / (nh / sd2 + 1.0 / tx2);
                        let mut miss = (tx - tx0).powi(2) / tx2;
                        for ((_, v), (_, e)) in cols.iter().zip(&ex) {
                            miss += (v - e - tx).powi(2) / sd2;
                        }
                        let e = &g.e[c];
                        for &k in g.top[c].iter().filter(|k| **k < e.len()) {
                            let want = e[k] + tx;
                            if want >= floor_dbm + 6.0 && !cols.iter().any(|(j, _)| *j == k) {
                                miss += ((want - floor_dbm).powi(2) / sd2).min(4.0);
                            }
                        }
                        cbest = cbest.max(-0.5 * miss);
                    }
                    ll[c] = cbest;
                    best = best.max(ll[c]);
                }
                let w = rate * dt.max(step_ms as f32 / 1000.0);
                let mut sum = 0.0;
                for c in 0..nc {
                    p[c] *= ((ll[c] - best) * w).exp();
                    sum += p[c];
                }
                if sum > 0.0 && sum.is_finite() {
                    p.iter_mut().for_each(|x| *x /= sum);
                } else {
                    p.iter_mut().for_each(|x| *x = 1.0 / nc as f32);
                }
                // decide
                let mut marg: HashMap<usize, f32> = HashMap::new();
                for c in 0..nc {
                    *marg.entry(g.room[c]).or_default() += p[c];
                }
                let (br, bp) = marg
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(r, p)| (*r, *p))
                    .unwrap();
                if current != Some(br) && (bp >= enter || current.is_none()) {
                    current = Some(br);
                    sc.moved(r.at, &fp.rooms[br].id);
                }
            }
        }
        sc.row();
    }
    sc.s
}
