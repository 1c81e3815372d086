//! `cargo xtask eval falls`: every fall development set in `../shared/data` (each skipped
//! cleanly when absent) through the world's fall detector with the shipped `[falls]` parameters
//! for the position the sensor is worn at:
//!
//! - SisFall (`sisfall/`): a waist ADXL345 at 50 Hz, 38 subjects; tuning half the odd-numbered
//!   subjects, held-out half the even ones;
//! - UMAFall, odd subjects (`umafall-odd/wrist`, `umafall-odd/waist`): SensorTags at 20 Hz,
//!   contract captures with truth; tuning half subjects 01, 05, 09, 13, 17, held-out half 03,
//!   07, 11, 15, 19.
//!
//! Each is scored per trial (a fresh detector per trial), as a stream (each subject's trials,
//! falls and activities, back to back through one detector: the look-back before an impact sees
//! what the wearer did just before), and presented otherwise: resampled to 20 Hz, turned at
//! random, clipped at +-2 g (a phone's accelerometer). Sensitivity, specificity and false alarms
//! per hour of activity; per activity.

use anyhow::{Context, Result};
use orderly_world::fall::{FallConfig, FallDetector, Worn};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;

struct Trial {
    name: String,
    subject: String,
    activity: String,
    fall: bool,
    held_out: bool,
    /// (ms from the trial's start, acceleration in g).
    samples: Vec<(i64, [f32; 3])>,
}

struct Set {
    name: &'static str,
    worn: Worn,
    hz: f32,
    trials: Vec<Trial>,
    /// Activities that happen in a bed (the bed's load cells suppress the alert in a hospital).
    in_bed: &'static [&'static str],
}

fn gz_lines(path: &Path) -> Result<impl Iterator<Item = std::io::Result<String>>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(BufReader::new(flate2::read::GzDecoder::new(file)).lines())
}

fn load_sisfall(path: &Path) -> Result<Vec<Trial>> {
    let mut trials: Vec<Trial> = Vec::new();
    for line in gz_lines(path)? {
        let line = line?;
        if line.starts_with('#') || line.starts_with("trial,") {
            continue;
        }
        let mut f = line.split(',');
        let (Some(name), Some(x), Some(y), Some(z)) = (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let g = |v: &str| -> Result<f32> { Ok(v.trim().parse::<f32>()? * 32.0 / 8192.0) };
        let s = [g(x)?, g(y)?, g(z)?];
        match trials.last_mut() {
            Some(t) if t.name == name => {
                let at = t.samples.len() as i64 * 20;
                t.samples.push((at, s));
            }
            _ => {
                // `F01_SA01_R01`: activity code, subject (SA young, SE older), repetition.
                let subject = name.split('_').nth(1).unwrap_or("").to_string();
                let held_out = subject
                    .get(2..)
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_some_and(|n| n.is_multiple_of(2));
                trials.push(Trial {
                    name: name.to_string(),
                    activity: name[..3.min(name.len())].to_string(),
                    fall: name.starts_with('F'),
                    subject,
                    held_out,
                    samples: vec![(0, s)],
                });
            }
        }
    }
    Ok(trials)
}

/// A capture of `orderly/v1/.../wearable/{id}/imu` lines and its truth (one line per trial).
fn load_capture(dir: &Path) -> Result<Vec<Trial>> {
    let millis = |s: &str| -> Result<i64> {
        orderly_model::Timestamp::parse_rfc3339(s)
            .map(|t| t.millis())
            .with_context(|| format!("not a time: {s}"))
    };
    let truth = std::fs::read_to_string(dir.join("truth.jsonl"))
        .with_context(|| format!("reading {}/truth.jsonl", dir.display()))?;
    let mut trials = Vec::new();
    let mut index = BTreeMap::new();
    let mut starts = Vec::new();
    for line in truth.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).context("a truth line")?;
        let f = |k: &str| v[k].as_str().unwrap_or("").to_string();
        let (wearable, subject) = (f("wearable"), f("subject"));
        // `UMAFall-03`: subjects 1, 5, 9, 13, 17 tune; 3, 7, 11, 15, 19 are held out.
        let n: u32 = subject
            .rsplit('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        index.insert(wearable, trials.len());
        starts.push(millis(&f("start"))?);
        trials.push(Trial {
            name: f("trial"),
            subject,
            activity: f("activity"),
            fall: f("label") == "fall",
            held_out: n % 4 == 3,
            samples: Vec::new(),
        });
    }
    for line in gz_lines(&dir.join("capture.jsonl.gz"))? {
        let v: serde_json::Value = serde_json::from_str(&line?).context("a capture line")?;
        let topic = v["topic"].as_str().unwrap_or("");
        let Some(id) = topic
            .strip_suffix("/imu")
            .and_then(|t| t.rsplit('/').next())
        else {
            continue;
        };
        let Some(&i) = index.get(id) else { continue };
        let p = &v["payload"];
        let ts = millis(p["ts"].as_str().unwrap_or(""))? - starts[i];
        let hz = p["hz"].as_f64().unwrap_or(20.0);
        for (k, a) in p["acc_g"].as_array().into_iter().flatten().enumerate() {
            let c = |j: usize| a[j].as_f64().unwrap_or(0.0) as f32;
            trials[i]
                .samples
                .push((ts + (k as f64 * 1000.0 / hz) as i64, [c(0), c(1), c(2)]));
        }
    }
    Ok(trials)
}

/// How a trial is presented to the detector.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    AsRecorded,
    Hz20,
    Rotated,
    Clipped,
}

fn rotation(seed: u64) -> [[f32; 3]; 3] {
    // A random rotation from three angles (deterministic per trial).
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f32 / (1u64 << 53) as f32 * std::f32::consts::TAU
    };
    let (a, b, c) = (next(), next(), next());
    let rz = [
        [a.cos(), -a.sin(), 0.0],
        [a.sin(), a.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    let ry = [
        [b.cos(), 0.0, b.sin()],
        [0.0, 1.0, 0.0],
        [-b.sin(), 0.0, b.cos()],
    ];
    let rx = [
        [1.0, 0.0, 0.0],
        [0.0, c.cos(), -c.sin()],
        [0.0, c.sin(), c.cos()],
    ];
    let mul = |p: [[f32; 3]; 3], q: [[f32; 3]; 3]| {
        let mut r = [[0f32; 3]; 3];
        for i in 0..3 {
            for j in 0..3 {
                r[i][j] = (0..3).map(|k| p[i][k] * q[k][j]).sum();
            }
        }
        r
    };
    mul(rz, mul(ry, rx))
}

/// The trial's samples as (ms offset, g) for a variant.
fn present(t: &Trial, v: Variant, seed: u64) -> Vec<(i64, [f32; 3])> {
    match v {
        Variant::AsRecorded => t.samples.clone(),
        Variant::Clipped => t
            .samples
            .iter()
            .map(|(ms, s)| (*ms, s.map(|x| x.clamp(-2.0, 2.0))))
            .collect(),
        Variant::Rotated => {
            let r = rotation(seed);
            t.samples
                .iter()
                .map(|(ms, s)| {
                    let m = |k: usize| r[k][0] * s[0] + r[k][1] * s[1] + r[k][2] * s[2];
                    (*ms, [m(0), m(1), m(2)])
                })
                .collect()
        }
        Variant::Hz20 => {
            // Linear interpolation at 50 ms: what a 20 Hz device would report.
            let s = &t.samples;
            let Some(end) = s.last().map(|l| l.0) else {
                return Vec::new();
            };
            let mut j = 0;
            (0..=end / 50)
                .map(|k| {
                    let ms = k * 50;
                    while j + 1 < s.len() && s[j + 1].0 <= ms {
                        j += 1;
                    }
                    let (a, b) = (s[j], s[(j + 1).min(s.len() - 1)]);
                    let f = if b.0 > a.0 {
                        (ms - a.0) as f32 / (b.0 - a.0) as f32
                    } else {
                        0.0
                    };
                    (ms, [0, 1, 2].map(|c| a.1[c] + f * (b.1[c] - a.1[c])))
                })
                .collect()
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Counts {
    falls: usize,
    caught: usize,
    adls: usize,
    quiet: usize,
    alarms: usize,
    adl_hours: f64,
}

impl Counts {
    fn sens(&self) -> f64 {
        self.caught as f64 / self.falls.max(1) as f64
    }
    fn spec(&self) -> f64 {
        self.quiet as f64 / self.adls.max(1) as f64
    }
    fn per_hour(&self) -> f64 {
        self.alarms as f64 / self.adl_hours.max(1e-9)
    }
    fn meets(&self, worn: Worn) -> bool {
        let (s, p, h) = goal(worn);
        self.sens() >= s && self.spec() >= p && self.per_hour() < h
    }
}

/// Issue 25's goal per position: sensitivity, specificity, false alarms per hour (below).
fn goal(worn: Worn) -> (f64, f64, f64) {
    match worn {
        Worn::Wrist => (0.93, 0.95, 5.01),
        _ => (0.97, 0.985, 1.0),
    }
}

/// `ORDERLY_EVAL_VERBOSE` set: name every fall missed and every false alarm.
fn verbose() -> bool {
    std::env::var_os("ORDERLY_EVAL_VERBOSE").is_some()
}

fn duration_h(t: &Trial) -> f64 {
    t.samples.last().map_or(0.0, |s| s.0 as f64 + 50.0) / 3_600_000.0
}

/// Per trial: a fresh detector per trial; a trial is positive if the detector fires in it (the
/// fall's alert counts until 10 s after the trial's end, as the truth files say). False alarms
/// per hour: every alarm in an activity trial over the activity trials' time.
fn per_trial(
    set: &Set,
    cfg: &FallConfig,
    v: Variant,
    half: Option<bool>,
    skip_in_bed: bool,
    by_activity: &mut BTreeMap<String, (usize, usize)>,
) -> Counts {
    let mut c = Counts::default();
    let verbose = verbose();
    for (k, t) in set.trials.iter().enumerate() {
        if half.is_some_and(|h| h != t.held_out)
            || (skip_in_bed && set.in_bed.contains(&&*t.activity))
        {
            continue;
        }
        let mut d = FallDetector::new(cfg, set.worn);
        let samples = present(t, v, k as u64);
        let end = samples.last().map_or(0, |s| s.0);
        // Then silence, as when a recording ends: what is pending is decided on what there is.
        let mut alarms: Vec<_> = samples
            .iter()
            .filter_map(|&(ms, s)| d.push(ms, s))
            .collect();
        alarms.extend(d.idle(end + 10_000));
        let fired = alarms.len();
        if !t.fall && verbose && v == Variant::AsRecorded {
            for f in &alarms {
                println!(
                    "false alarm {} ({}) impact {} ms of {}: peak {:.1} g, turn {:.0} deg, still {:.2} g, descent {:.1} m/s",
                    t.name,
                    t.activity,
                    f.impact_at,
                    end,
                    f.peak_g,
                    f.angle_deg,
                    f.still_std_g,
                    f.drop_mps
                );
            }
        }
        let e = by_activity.entry(t.activity.clone()).or_default();
        e.0 += 1;
        e.1 += usize::from(fired > 0);
        if t.fall {
            c.falls += 1;
            c.caught += usize::from(fired > 0);
            if fired == 0 && verbose && v == Variant::AsRecorded {
                println!("trial missed {} ({})", t.name, t.activity);
            }
        } else {
            c.adls += 1;
            c.quiet += usize::from(fired == 0);
            c.alarms += fired;
            c.adl_hours += duration_h(t);
        }
    }
    c
}

/// As a stream: each subject's trials back to back through one detector (one device, one
/// turn). A fall is caught when an alarm's impact falls in it; an alarm whose impact falls in
/// an activity is a false alarm.
fn stream(
    set: &Set,
    cfg: &FallConfig,
    v: Variant,
    half: Option<bool>,
    skip_in_bed: bool,
) -> Counts {
    let mut c = Counts::default();
    let verbose = verbose();
    let mut by_subject: BTreeMap<&str, Vec<&Trial>> = BTreeMap::new();
    for t in &set.trials {
        if half.is_none_or(|h| h == t.held_out)
            && !(skip_in_bed && set.in_bed.contains(&&*t.activity))
        {
            by_subject.entry(&t.subject).or_default().push(t);
        }
    }
    for (n, list) in by_subject.values().enumerate() {
        let mut d = FallDetector::new(cfg, set.worn);
        let mut offset = 0i64;
        // (start, end, trial) in stream time.
        let mut spans = Vec::new();
        let mut impacts = Vec::new();
        for (k, t) in list.iter().enumerate() {
            let samples = present(t, v, 1_000_000 + n as u64 * 1000 + k as u64);
            let end = samples.last().map_or(0, |s| s.0);
            spans.push((offset, offset + end + 50, *t));
            for (ms, s) in samples {
                if let Some(f) = d.push(offset + ms, s) {
                    impacts.push(f.impact_at);
                }
            }
            offset += end + 50;
        }
        let mut hits = vec![0usize; spans.len()];
        for at in impacts {
            let i = spans.partition_point(|s| s.0 <= at).saturating_sub(1);
            hits[i] += 1;
        }
        for ((_, _, t), h) in spans.iter().zip(hits) {
            if t.fall {
                c.falls += 1;
                c.caught += usize::from(h > 0);
                if h == 0 && verbose {
                    println!("stream missed {} ({})", t.name, t.activity);
                }
            } else {
                c.adls += 1;
                c.quiet += usize::from(h == 0);
                c.alarms += h;
                c.adl_hours += duration_h(t);
            }
        }
    }
    c
}

fn row(c: &Counts) -> String {
    format!(
        "{:.3} ({}/{}) | {:.3} ({}/{}) | {:.2} ({} in {:.1} h)",
        c.sens(),
        c.caught,
        c.falls,
        c.spec(),
        c.quiet,
        c.adls,
        c.per_hour(),
        c.alarms,
        c.adl_hours
    )
}

/// Every candidate's evidence, one CSV row per candidate (for studying the features).
fn dump(sets: &[Set], cfg: &FallConfig, out: &Path) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(out)?);
    writeln!(
        f,
        "set,trial,activity,held_out,fell,impact_ms,peak_g,impact_mps,angle_deg,still_std_g,drop_mps,pre_std_g,post_g,lookback_ms,fired"
    )?;
    // Every candidate is judged and none fires, so none hides the next one.
    let mut cfg = cfg.clone();
    for &w in Worn::ALL {
        cfg.params_mut(w).angle_deg = 1000.0;
    }
    for set in sets {
        for (vname, v) in [
            ("", Variant::AsRecorded),
            (" at 20 Hz", Variant::Hz20),
            (" clipped", Variant::Clipped),
        ] {
            if v == Variant::Hz20 && set.hz <= 20.0 {
                continue;
            }
            for t in &set.trials {
                let mut d = FallDetector::new(&cfg, set.worn);
                let mut seen = None;
                let samples = present(t, v, 0);
                let end = samples.last().map_or(0, |s| s.0);
                // Every sample, then silence (as `per_trial` scores it: what is pending is
                // decided on the samples there are), in steps of 50 ms so that each candidate
                // is decided, and its evidence read, on its own.
                let steps = samples
                    .iter()
                    .map(|&(ms, s)| (ms, Some(s)))
                    .chain((1..=200).map(|k| (end + k * 50, None)));
                for (ms, s) in steps {
                    let fired = match s {
                        Some(s) => d.push(ms, s).is_some(),
                        None => d.idle(ms).is_some(),
                    };
                    let now = d.last_evidence().copied();
                    if let Some(e) = now.filter(|e| Some(*e) != seen) {
                        writeln!(
                            f,
                            "{}{vname},{},{},{},{},{},{:.3},{:.3},{:.1},{:.4},{:.3},{:.4},{:.3},{},{}",
                            set.name,
                            t.name,
                            t.activity,
                            t.held_out,
                            t.fall,
                            e.impact_at,
                            e.peak_g,
                            e.impact_mps,
                            e.angle_deg,
                            e.still_std_g,
                            e.drop_mps,
                            e.pre_std_g,
                            e.post_g,
                            e.lookback_ms,
                            fired
                        )?;
                        seen = now;
                    }
                }
                // One line per trial with no evidence, so every trial is counted.
                writeln!(
                    f,
                    "{}{vname},{},{},{},{},-1,0,0,0,0,0,0,0,0,false",
                    set.name, t.name, t.activity, t.held_out, t.fall
                )?;
            }
        }
    }
    Ok(())
}

fn sets(root: &Path) -> Result<Vec<Set>> {
    let data = root.join("../shared/data");
    let mut sets = Vec::new();
    let sisfall = data.join("sisfall/sisfall_adxl345_50hz.csv.gz");
    if sisfall.exists() {
        sets.push(Set {
            name: "SisFall waist 50 Hz",
            worn: Worn::Waist,
            hz: 50.0,
            trials: load_sisfall(&sisfall)?,
            in_bed: &["D13", "D14"],
        });
    } else {
        println!("SKIPPED: SisFall: {} is absent", sisfall.display());
    }
    for (name, dir, worn) in [
        ("UMAFall wrist 20 Hz", "umafall-odd/wrist", Worn::Wrist),
        ("UMAFall waist 20 Hz", "umafall-odd/waist", Worn::Waist),
    ] {
        let dir = data.join(dir);
        if dir.join("truth.jsonl").exists() {
            sets.push(Set {
                name,
                worn,
                hz: 20.0,
                trials: load_capture(&dir)?,
                in_bed: &["LyingDown_OnABed"],
            });
        } else {
            println!("SKIPPED: {name}: {} is absent", dir.display());
        }
    }
    Ok(sets)
}

pub fn falls(root: &Path, cfg: &FallConfig) -> Result<()> {
    let sets = sets(root)?;
    if sets.is_empty() {
        println!(
            "SKIPPED: eval falls: no fall recordings in {} (they sit beside the project on development machines)",
            root.join("../shared/data").display()
        );
        return Ok(());
    }
    if let Ok(out) = std::env::var("ORDERLY_EVAL_DUMP") {
        dump(&sets, cfg, Path::new(&out))?;
        println!("wrote every candidate's evidence to {out}");
    }
    let mut summary = Vec::new();
    for set in &sets {
        let worn = set.worn;
        let (gs, gp, gh) = goal(worn);
        println!(
            "\n## {} ({} trials, {} falls, {} subjects; worn at the {})\n",
            set.name,
            set.trials.len(),
            set.trials.iter().filter(|t| t.fall).count(),
            set.trials
                .iter()
                .map(|t| t.subject.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
            worn.as_str()
        );
        println!("Goal: sensitivity >= {gs}, specificity >= {gp}, false alarms / h < {gh:.0}.\n");
        println!(
            "| presentation | subjects | sensitivity | specificity | false alarms / h of activity |"
        );
        println!("|---|---|---|---|---|");
        let mut variants = vec![("as recorded", Variant::AsRecorded)];
        if set.hz > 20.0 {
            variants.push(("resampled to 20 Hz", Variant::Hz20));
        }
        variants.push(("turned at random", Variant::Rotated));
        variants.push(("clipped at +-2 g", Variant::Clipped));
        let mut activities = BTreeMap::new();
        for (vname, v) in &variants {
            for (hname, h) in [("tuning", Some(false)), ("held out", Some(true))] {
                let mut acts = BTreeMap::new();
                let c = per_trial(set, cfg, *v, h, false, &mut acts);
                println!("| {vname} | {hname} | {} |", row(&c));
                if *v == Variant::AsRecorded {
                    for (a, (n, f)) in acts {
                        let e: &mut (usize, usize, usize, usize) = activities.entry(a).or_default();
                        if h == Some(false) {
                            (e.0, e.1) = (n, f);
                        } else {
                            (e.2, e.3) = (n, f);
                        }
                    }
                    summary.push((set.name, *vname, hname, c, worn));
                }
            }
        }
        for (hname, h) in [("tuning", Some(false)), ("held out", Some(true))] {
            let c = stream(set, cfg, Variant::AsRecorded, h, false);
            println!("| as a stream | {hname} | {} |", row(&c));
            summary.push((set.name, "as a stream", hname, c, worn));
        }
        println!(
            "\nWithout the activities in a bed ({}: the bed's load cells suppress the alert in a hospital), as recorded:\n",
            set.in_bed.join(", ")
        );
        println!("| subjects | sensitivity | specificity | false alarms / h of activity |");
        println!("|---|---|---|---|");
        for (hname, h) in [("tuning", Some(false)), ("held out", Some(true))] {
            let c = per_trial(set, cfg, Variant::AsRecorded, h, true, &mut BTreeMap::new());
            println!("| {hname} | {} |", row(&c));
            summary.push((set.name, "as recorded, not in a bed", hname, c, worn));
        }
        println!(
            "\nPer activity, as recorded: trials where the detector fired (tuning; held out)\n"
        );
        println!("| activity | tuning | held out |");
        println!("|---|---|---|");
        for (a, (n1, f1, n2, f2)) in activities {
            println!("| {a} | {f1}/{n1} | {f2}/{n2} |");
        }
    }
    println!("\n## Summary (as recorded and as a stream, per half)\n");
    println!(
        "| set | presentation | subjects | sensitivity | specificity | false alarms / h | goal |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (set, v, h, c, worn) in summary {
        println!(
            "| {set} | {v} | {h} | {:.3} | {:.3} | {:.2} | {} |",
            c.sens(),
            c.spec(),
            c.per_hour(),
            if c.meets(worn) { "met" } else { "not met" }
        );
    }
    Ok(())
}
