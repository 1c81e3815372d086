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
    for q in ["Q1", "Q2", "Q3", "Q4"] {
        let rx: Vec<String> = dongles
            .iter()
            .filter(|(_, x, y)| quadrant(*x, *y) == q)
            .map(|(id, _, _)| format!("\"{id}\""))
            .collect();
        t.push_str(&format!(
            "[[room]]\nid = \"{q}\"\nfloor = \"F\"\nkind = \"office\"\nreceivers = [{}]\n\n",
            rx.join(", ")
        ));
    }
    for (a, b) in [("Q1", "Q2"), ("Q2", "Q3"), ("Q3", "Q4"), ("Q4", "Q1")] {
        t.push_str(&format!(
            "[[link]]\na = \"{a}\"\nb = \"{b}\"\nkind = \"door\"\nmetres = 9.0\n\n"
        ));
    }
    Floorplan::parse("eval-floorplan", &t).map_err(|e| anyhow::anyhow!("{e}"))
}

struct Score {
    rows: usize,
    right: usize,
    switches: usize,
    transitions: usize,
    delays: Vec<f64>,
}

fn run_track(
    path: &Path,
    fp: &Arc<Floorplan>,
    seed: &Seed,
    beacon: &str,
    config: &WorldConfig,
) -> Result<Score> {
    let text = std::fs::read_to_string(path)?;
    let mut rows: Vec<(f64, String, f32, f64, f64)> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 || f[2] != beacon {
            continue;
        }
        let rssi: f32 = f[3].parse()?;
        if rssi >= 0.0 {
            continue; // one corrupt row in the data
        }
        rows.push((
            f[0].parse()?,
            f[1].to_string(),
            rssi,
            f[4].parse()?,
            f[5].parse()?,
        ));
    }
    rows.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    // Locating only: no alert rules.
    let mut h = Hospital::new(fp.clone(), seed, config.clone(), Default::default());
    let mut located: Option<String> = None;
    let mut truth: Option<&'static str> = None;
    let mut truth_since = Timestamp(0);
    let mut s = Score {
        rows: 0,
        right: 0,
        switches: 0,
        transitions: 0,
        delays: Vec::new(),
    };
    let mut placed = false;
    for (ts, rx, rssi, x, y) in rows {
        let at = Timestamp((ts * 1000.0) as i64);
        let q = quadrant(x, y);
        if truth.is_some_and(|t| t != q) {
            s.transitions += 1;
            truth_since = at;
        }
        if truth.is_none() {
            truth_since = at;
        }
        truth = Some(q);
        h.push(Inbound::Reading(Reading {
            at,
            device: rx,
            ts: at,
            seq: None,
            payload: Payload::Sightings(Sightings {
                sightings: vec![Sighting {
                    tag: beacon.to_string(),
                    rssi,
                    battery: None,
                    ir: false,
                }],
            }),
        }));
        for e in h.step(at) {
            if let EventKind::LocationChanged { to, .. } = e.kind {
                if placed {
                    s.switches += 1;
                    if to == q {
                        s.delays.push(at.since(truth_since) as f64 / 1000.0);
                    }
                }
                placed = true;
                located = Some(to);
            }
        }
        s.rows += 1;
        if located.as_deref() == Some(q) {
            s.right += 1;
        }
    }
    Ok(s)
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
    const USAGE: &str = "usage: cargo xtask eval rooms|falls [--detectors FILE] [--set section.key=value ...] | maintenance [--seeds N] [--days N] | vitals [--days N] [--seeds N]";
    let what = match args.first().map(String::as_str) {
        Some("maintenance") => return crate::eval_maintenance::maintenance(root, &args[1..]),
        Some("vitals") => return crate::eval_vitals::vitals(root, &args[1..]),
        Some(w @ ("rooms" | "falls")) => w,
        _ => bail!(USAGE),
    };
    // The shipped parameters, so the figures are those of what runs; `--set` tries others.
    let mut detectors = root.join("rules/detectors.toml");
    let mut sets: Vec<(String, String, String)> = Vec::new();
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
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
        "| trajectory | rows | accuracy | switches / true transitions | median switch delay |"
    );
    println!("|---|---|---|---|---|");
    let mut all = Score {
        rows: 0,
        right: 0,
        switches: 0,
        transitions: 0,
        delays: Vec::new(),
    };
    for t in &tracks {
        let mut s = run_track(t, &fp, &seed, &beacon, &config)?;
        let name = t
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches("_all_sensors.mbd")
            .to_string();
        println!(
            "| {name} | {} | {:.3} | {} / {} | {:.1} s |",
            s.rows,
            s.right as f64 / s.rows.max(1) as f64,
            s.switches,
            s.transitions,
            median(&mut s.delays)
        );
        all.rows += s.rows;
        all.right += s.right;
        all.switches += s.switches;
        all.transitions += s.transitions;
        all.delays.extend(s.delays);
    }
    println!(
        "| **overall** | {} | {:.3} | {} / {} = {:.2} | {:.1} s |",
        all.rows,
        all.right as f64 / all.rows.max(1) as f64,
        all.switches,
        all.transitions,
        all.switches as f64 / all.transitions.max(1) as f64,
        median(&mut all.delays)
    );
    println!(
        "\nGoal (issue 4): accuracy >= 0.85, <= 1.5 switches per true transition, median delay <= 5 s, all at once."
    );
    println!(
        "Baseline (data README): 0.81 accuracy, 30 switches for 17 transitions, 6.4 s median delay."
    );
    Ok(())
}
