//! `cargo xtask eval rooms`: replays the Position-Annotated BLE RSSI dataset
//! (`../shared/data/ble-philotuxo`, skipped cleanly when absent) through the world's locator
//! and scores room-level answers against the true positions: accuracy, room switches per true
//! transition (flapping) and the delay of correct switches. The open area is cut into its four
//! quadrants, three receivers each, as the data README suggests.

use anyhow::{Context, Result, bail};
use orderly_floorplan::Floorplan;
use orderly_model::reading::{Sighting, Sightings};
use orderly_model::{EventKind, Inbound, Payload, Reading, Seed, Timestamp};
use orderly_world::{Hospital, WorldConfig};
use std::path::Path;
use std::sync::Arc;

const W: f64 = 20.7;
const H: f64 = 17.6;

fn quadrant(x: f64, y: f64) -> &'static str {
    match (x < W / 2.0, y < H / 2.0) {
        (true, true) => "Q1",
        (true, false) => "Q2",
        (false, false) => "Q3",
        (false, true) => "Q4",
    }
}

fn floorplan(dongles: &[(String, f64, f64)]) -> Result<Floorplan> {
    let mut t = String::from(
        "[site]\nid = \"eval\"\nname = \"BLE dataset area\"\n\n[[building]]\nid = \"b\"\nname = \"b\"\n\n[[floor]]\nid = \"F\"\nbuilding = \"b\"\nlevel = 1\nname = \"F\"\n\n",
    );
    let (w, h) = (W / 2.0, H / 2.0);
    for (q, x, y) in [
        ("Q1", 0.0, 0.0),
        ("Q2", 0.0, h),
        ("Q3", w, h),
        ("Q4", w, 0.0),
    ] {
        let rx: Vec<String> = dongles
            .iter()
            .filter(|(_, x, y)| quadrant(*x, *y) == q)
            .map(|(id, _, _)| format!("\"{id}\""))
            .collect();
        t.push_str(&format!(
            "[[room]]\nid = \"{q}\"\nfloor = \"F\"\nkind = \"office\"\nreceivers = [{}]\nrect = [{x}, {y}, {w}, {h}]\n\n",
            rx.join(", ")
        ));
    }
    for (id, x, y) in dongles {
        t.push_str(&format!("[[receiver]]\nid = \"{id}\"\nat = [{x}, {y}]\n\n"));
    }
    for (a, b) in [("Q1", "Q2"), ("Q2", "Q3"), ("Q3", "Q4"), ("Q4", "Q1")] {
        t.push_str(&format!(
            "[[link]]\na = \"{a}\"\nb = \"{b}\"\nkind = \"open\"\nmetres = 9.0\n\n"
        ));
    }
    Floorplan::parse("eval-floorplan", &t).map_err(|e| anyhow::anyhow!("{e}"))
}

/// One report for a room evaluation: when, which receiver, how strong, the true room.
pub(crate) struct Row {
    pub at: Timestamp,
    pub receiver: String,
    pub rssi: f32,
    pub truth: String,
}

#[derive(Default)]
pub(crate) struct Score {
    /// Per row, whether the answer was right (for breakdowns).
    pub per_row: Vec<bool>,
    /// Each switch: when, from, to, the true room then.
    pub moves: Vec<(Timestamp, String, String, String)>,
    pub rows: usize,
    pub right: usize,
    pub switches: usize,
    pub transitions: usize,
    pub delays: Vec<f64>,
}

impl Score {
    pub fn add(&mut self, o: Score) {
        self.rows += o.rows;
        self.right += o.right;
        self.switches += o.switches;
        self.transitions += o.transitions;
        self.delays.extend(o.delays);
        self.per_row.extend(o.per_row);
        self.moves.extend(o.moves);
    }
    pub fn accuracy(&self) -> f64 {
        self.right as f64 / self.rows.max(1) as f64
    }
    pub fn flapping(&self) -> f64 {
        self.switches as f64 / self.transitions.max(1) as f64
    }
    /// `rows | accuracy | switches / transitions = ratio | median delay`
    pub fn cells(&mut self) -> String {
        format!(
            "{} | {:.3} | {} / {} = {:.2} | {:.1} s",
            self.rows,
            self.accuracy(),
            self.switches,
            self.transitions,
            self.flapping(),
            median(&mut self.delays)
        )
    }
}

/// Scores a sequence of located rooms against the truth, one answer per row: accuracy over
/// rows, switches after the first placement per true transition, and the delay of each
/// switch into the true room since the truth moved there.
struct Scorer {
    s: Score,
    truth: Option<String>,
    truth_since: Timestamp,
    located: Option<String>,
}

impl Scorer {
    fn new() -> Self {
        Scorer {
            s: Score::default(),
            truth: None,
            truth_since: Timestamp(0),
            located: None,
        }
    }
    fn truth(&mut self, at: Timestamp, room: &str) {
        if self.truth.as_deref() != Some(room) {
            if self.truth.is_some() {
                self.s.transitions += 1;
            }
            self.truth = Some(room.to_string());
            self.truth_since = at;
        }
    }
    fn moved(&mut self, at: Timestamp, to: &str) {
        if let Some(from) = &self.located {
            self.s.moves.push((
                at,
                from.clone(),
                to.to_string(),
                self.truth.clone().unwrap_or_default(),
            ));
            self.s.switches += 1;
            if self.truth.as_deref() == Some(to) {
                self.s
                    .delays
                    .push(at.since(self.truth_since) as f64 / 1000.0);
            }
        }
        self.located = Some(to.to_string());
    }
    fn row(&mut self) {
        self.s.rows += 1;
        let right = self.located.is_some() && self.located == self.truth;
        self.s.right += usize::from(right);
        self.s.per_row.push(right);
    }
}

/// The world's locator over `rows` (sorted by time) for one tag.
pub(crate) fn run_rows(
    rows: &[Row],
    fp: &Arc<Floorplan>,
    seed: &Seed,
    tag: &str,
    config: &WorldConfig,
) -> Score {
    // Locating only: no alert rules.
    let mut h = Hospital::new(fp.clone(), seed, config.clone(), Default::default());
    let mut sc = Scorer::new();
    for r in rows {
        sc.truth(r.at, &r.truth);
        h.push(Inbound::Reading(Reading {
            at: r.at,
            device: r.receiver.clone(),
            ts: r.at,
            seq: None,
            payload: Payload::Sightings(Sightings {
                sightings: vec![Sighting {
                    tag: tag.into(),
                    rssi: r.rssi,
                    battery: None,
                    ir: false,
                }],
            }),
        }));
        for e in h.step(r.at) {
            if let EventKind::LocationChanged { to, .. } = e.kind {
                sc.moved(r.at, &to);
            }
        }
        sc.row();
    }
    sc.s
}

/// The plain locator of the data README, for comparison on the same rows: each receiver's
/// RSSI smoothed by an EWMA (alpha 0.3), the room of the strongest receiver, and a switch only
/// when that room leads the current one by 3 dB for 1 s without a lapse.
pub(crate) fn run_baseline(rows: &[Row], fp: &Floorplan) -> Score {
    let mut smooth: std::collections::BTreeMap<&str, (f32, Timestamp, usize)> = Default::default();
    let mut sc = Scorer::new();
    let mut current: Option<usize> = None;
    let mut lead_since: Option<(usize, Timestamp)> = None;
    for r in rows {
        sc.truth(r.at, &r.truth);
        if let Some(room) = fp.receiver_room(&r.receiver) {
            let e = smooth
                .entry(r.receiver.as_str())
                .or_insert((r.rssi, r.at, room));
            e.0 += 0.3 * (r.rssi - e.0);
            e.1 = r.at;
        }
        let fresh = |at: Timestamp| r.at.since(at) <= 10_000;
        let level = |room: usize| {
            smooth
                .values()
                .filter(|(_, at, rm)| *rm == room && fresh(*at))
                .map(|(v, _, _)| *v)
                .fold(f32::NEG_INFINITY, f32::max)
        };
        let best = smooth
            .values()
            .filter(|(_, at, _)| fresh(*at))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, _, room)| *room);
        match (best, current) {
            (Some(b), None) => {
                current = Some(b);
                sc.moved(r.at, &fp.rooms[b].id);
            }
            (Some(b), Some(c)) if b != c && level(b) >= level(c) + 3.0 => match lead_since {
                Some((room, since)) if room == b => {
                    if r.at.since(since) >= 1000 {
                        current = Some(b);
                        lead_since = None;
                        sc.moved(r.at, &fp.rooms[b].id);
                    }
                }
                _ => lead_since = Some((b, r.at)),
            },
            _ => lead_since = None,
        }
        sc.row();
    }
    sc.s
}

/// `text` (a detectors file) with `key = value` set in `[section]`, replacing the key's line
/// or adding it after the section's header (adding the section when absent).
pub(crate) fn override_keys(text: &str, sets: &[(String, String, String)]) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for (section, key, value) in sets {
        let header = format!("[{section}]");
        let start = match lines.iter().position(|l| l.trim() == header) {
            Some(i) => i,
            None => {
                lines.push(header);
                lines.len() - 1
            }
        };
        let end = lines[start + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with('['))
            .map_or(lines.len(), |i| start + 1 + i);
        let line = format!("{key} = {value}");
        match (start + 1..end).find(|&i| {
            lines[i]
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == key)
        }) {
            Some(i) => lines[i] = line,
            None => lines.insert(start + 1, line),
        }
    }
    lines.join("\n")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

pub fn eval(root: &Path, args: &[String]) -> Result<()> {
    const USAGE: &str = "usage: cargo xtask eval rooms [--sim [--radio key=value ...]] | falls, each [--detectors FILE] [--set section.key=value ...] | maintenance [--seeds N] [--days N] | vitals [--days N] [--seeds N]";
    let what = match args.first().map(String::as_str) {
        Some("maintenance") => return crate::eval_maintenance::maintenance(root, &args[1..]),
        Some("vitals") => return crate::eval_vitals::vitals(root, &args[1..]),
        Some(w @ ("rooms" | "falls")) => w,
        _ => bail!(USAGE),
    };
    // The shipped parameters, so the figures are those of what runs; `--set` tries others.
    let mut detectors = root.join("rules/detectors.toml");
    let mut sets: Vec<(String, String, String)> = Vec::new();
    let mut sim = false;
    let mut radio: Vec<(String, String)> = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sim" if what == "rooms" => sim = true,
            "--radio" if what == "rooms" => {
                let kv = it.next().context(USAGE)?;
                let (k, v) = kv.split_once('=').context(USAGE)?;
                radio.push((k.into(), v.into()));
            }
            "--detectors" => detectors = it.next().context(USAGE)?.into(),
            "--set" => {
                let kv = it.next().context(USAGE)?;
                let (k, v) = kv.split_once('=').context(USAGE)?;
                let (section, key) = k.split_once('.').context(USAGE)?;
                sets.push((section.into(), key.into(), v.into()));
            }
            _ => bail!(USAGE),
        }
    }
    let text = std::fs::read_to_string(&detectors)
        .with_context(|| format!("reading {}", detectors.display()))?;
    let text = override_keys(&text, &sets);
    let config = WorldConfig::parse(&detectors.to_string_lossy(), &text)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if what == "falls" {
        return crate::eval_falls::falls(root, &config.falls);
    }
    if sim {
        return crate::eval_rooms_sim::sim(root, &config, &radio);
    }
    let data = root.join("../shared/data/ble-philotuxo");
    if !data.exists() {
        println!(
            "SKIPPED: eval rooms: {} is absent (it sits beside the project on development machines)",
            data.display()
        );
        return Ok(());
    }
    let conf =
        std::fs::read_to_string(data.join("cnf/tetam.dev")).context("reading cnf/tetam.dev")?;
    let json_of = |prefix: &str| -> Result<serde_json::Value> {
        let line = conf
            .lines()
            .find(|l| l.starts_with(prefix))
            .with_context(|| format!("no {prefix} line in tetam.dev"))?;
        Ok(serde_json::from_str(line.trim_start_matches(prefix))?)
    };
    let dongles: Vec<(String, f64, f64)> = json_of("Dongles:")?
        .as_object()
        .context("Dongles is not an object")?
        .iter()
        .map(|(id, v)| {
            (
                id.clone(),
                v[0][0].as_f64().unwrap_or(0.0),
                v[0][1].as_f64().unwrap_or(0.0),
            )
        })
        .collect();
    let beacon = json_of("Beacons:")?
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .context("no beacon")?;
    let fp = Arc::new(floorplan(&dongles)?);
    let seed = Seed::parse(
        "eval-seed",
        &format!("[[asset]]\nid = \"BEACON\"\nkind = \"beacon\"\ntag = \"{beacon}\"\n"),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tracks: Vec<_> = std::fs::read_dir(data.join("trk"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("_all_sensors.mbd"))
        .collect();
    tracks.sort();
    println!(
        "Locator parameters: {}{}\n",
        detectors.display(),
        sets.iter()
            .map(|(s, k, v)| format!(" {s}.{k}={v}"))
            .collect::<String>()
    );
    println!(
        "| trajectory | half | rows | accuracy | switches / true transitions | median switch delay | plain locator (3 dB, 1 s) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut halves = [Score::default(), Score::default()];
    let mut plain = [Score::default(), Score::default()];
    for (i, t) in tracks.iter().enumerate() {
        let rows = read_track(t, &beacon)?;
        let mut s = run_rows(&rows, &fp, &seed, &beacon, &config);
        let b = run_baseline(&rows, &fp);
        let name = t
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .trim_end_matches("_all_sensors.mbd")
            .to_string();
        // Every other trajectory in name order is held out.
        let half = i % 2;
        println!(
            "| {name} | {} | {} | {:.3} / {:.2} |",
            HALF[half],
            s.cells(),
            b.accuracy(),
            b.flapping()
        );
        halves[half].add(s);
        plain[half].add(b);
    }
    for half in 0..2 {
        println!(
            "| **{}** | | {} | {:.3} / {:.2} |",
            HALF[half],
            halves[half].cells(),
            plain[half].accuracy(),
            plain[half].flapping()
        );
    }
    let mut all = Score::default();
    let mut all_plain = Score::default();
    for (s, b) in halves.into_iter().zip(plain) {
        all.add(s);
        all_plain.add(b);
    }
    println!(
        "| **overall** | | {} | {:.3} / {:.2} |",
        all.cells(),
        all_plain.accuracy(),
        all_plain.flapping()
    );
    println!(
        "\nThe plain locator's column is its accuracy / switches per true transition on the same rows."
    );
    println!(
        "Goal (issue 25): accuracy >= 0.85, <= 1.2 switches per true transition, median delay <= 5 s, all at once."
    );
    println!(
        "Baseline (data README): 0.81 accuracy, 30 switches for 17 transitions, 6.4 s median delay."
    );
    Ok(())
}

pub(crate) const HALF: [&str; 2] = ["tuning", "held out"];

/// A trajectory's rows for `beacon`, in time order, the truth its quadrant.
fn read_track(path: &Path, beacon: &str) -> Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 || f[2] != beacon {
            continue;
        }
        let bad = || format!("{}:{}: not a number", path.display(), n + 1);
        let rssi: f32 = f[3].parse().with_context(bad)?;
        if rssi >= 0.0 {
            continue; // one corrupt row in the data
        }
        let ts: f64 = f[0].parse().with_context(bad)?;
        let (x, y): (f64, f64) = (
            f[4].parse().with_context(bad)?,
            f[5].parse().with_context(bad)?,
        );
        rows.push(Row {
            at: Timestamp((ts * 1000.0) as i64),
            receiver: f[1].to_string(),
            rssi,
            truth: quadrant(x, y).to_string(),
        });
    }
    rows.sort_by_key(|r| r.at);
    Ok(rows)
}
