//! `cargo xtask eval falls`: streams the SisFall waist accelerometer recordings
//! (`../shared/data/sisfall`, skipped cleanly when absent) through the world's fall detector
//! with the shipped `[falls]` parameters, and prints per-trial sensitivity and specificity,
//! false alarms per hour of activity (each subject's activities streamed back to back, as a
//! worn device would see them), and per activity code; subjects split into a tuning half (odd
//! numbers) and a held-out half (even numbers). The same is repeated at 20 Hz (resampled) and
//! with the device turned at random per trial: the detector must not depend on rate or axes.

use anyhow::{Context, Result};
use orderly_world::fall::{FallConfig, FallDetector};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

struct Trial {
    name: String,
    /// Acceleration in g at 50 Hz.
    samples: Vec<[f32; 3]>,
}

impl Trial {
    fn code(&self) -> &str {
        &self.name[..3]
    }
    fn is_fall(&self) -> bool {
        self.name.starts_with('F')
    }
    /// `SA01`, `SE06`...
    fn subject(&self) -> &str {
        self.name.split('_').nth(1).unwrap_or("")
    }
    fn held_out(&self) -> bool {
        self.subject()[2..]
            .parse::<u32>()
            .is_ok_and(|n| n.is_multiple_of(2))
    }
}

fn load(path: &Path) -> Result<Vec<Trial>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = BufReader::new(flate2::read::GzDecoder::new(file));
    let mut trials: Vec<Trial> = Vec::new();
    for line in reader.lines() {
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
            Some(t) if t.name == name => t.samples.push(s),
            _ => trials.push(Trial {
                name: name.to_string(),
                samples: vec![s],
            }),
        }
    }
    Ok(trials)
}

/// How a trial is presented to the detector.
#[derive(Clone, Copy)]
enum Variant {
    AsRecorded,
    Hz20,
    Rotated,
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
    let at50 = |i: usize| (i as i64) * 20;
    match v {
        Variant::AsRecorded => t
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| (at50(i), *s))
            .collect(),
        Variant::Rotated => {
            let r = rotation(seed);
            t.samples
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let m = |k: usize| r[k][0] * s[0] + r[k][1] * s[1] + r[k][2] * s[2];
                    (at50(i), [m(0), m(1), m(2)])
                })
                .collect()
        }
        Variant::Hz20 => {
            // Linear interpolation at 50 ms: what a 20 Hz device would report.
            let n = t.samples.len();
            let dur = at50(n.saturating_sub(1));
            (0..=dur / 50)
                .map(|k| {
                    let ms = k * 50;
                    let p = ms as f32 / 20.0;
                    let i = (p.floor() as usize).min(n - 1);
                    let j = (i + 1).min(n - 1);
                    let f = p - i as f32;
                    let (a, b) = (t.samples[i], t.samples[j]);
                    (ms, [0, 1, 2].map(|c| a[c] + f * (b[c] - a[c])))
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
}

/// D13 (lying down quickly) and D14 (rolling over in bed) happen in a bed: in a hospital the
/// bed's load cells say the patient is lying in it, and the alert is suppressed (issue 5).
fn in_bed(t: &Trial) -> bool {
    matches!(t.code(), "D13" | "D14")
}

fn score(
    trials: &[Trial],
    cfg: &FallConfig,
    v: Variant,
    held_out: Option<bool>,
    skip_in_bed: bool,
) -> (Counts, BTreeMap<String, (usize, usize)>) {
    let trials: Vec<&Trial> = trials
        .iter()
        .filter(|t| !(skip_in_bed && in_bed(t)))
        .collect();
    let mut c = Counts::default();
    let mut by_code: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    // Per trial: a fresh detector; a trial is positive if the detector fires in it.
    for (k, t) in trials.iter().copied().enumerate() {
        if held_out.is_some_and(|h| h != t.held_out()) {
            continue;
        }
        let mut d = FallDetector::new(cfg.clone());
        let fired = present(t, v, k as u64)
            .into_iter()
            .any(|(ms, s)| d.push(ms, s).is_some());
        let e = by_code.entry(t.code().to_string()).or_default();
        e.0 += 1;
        e.1 += usize::from(fired);
        if t.is_fall() {
            c.falls += 1;
            c.caught += usize::from(fired);
        } else {
            c.adls += 1;
            c.quiet += usize::from(!fired);
        }
    }
    // As a stream: each subject's activities back to back through one detector.
    let mut by_subject: BTreeMap<&str, Vec<(usize, &Trial)>> = BTreeMap::new();
    for (k, t) in trials.iter().copied().enumerate() {
        if !t.is_fall() && held_out.is_none_or(|h| h == t.held_out()) {
            by_subject.entry(t.subject()).or_default().push((k, t));
        }
    }
    for (n, list) in by_subject.values().enumerate() {
        let mut d = FallDetector::new(cfg.clone());
        let mut offset = 0i64;
        for (_, t) in list {
            // One device per subject: the same turn for the whole stream.
            let samples = present(t, v, 1_000_000 + n as u64);
            let end = samples.last().map_or(0, |s| s.0);
            for (ms, s) in samples {
                if d.push(offset + ms, s).is_some() {
                    c.alarms += 1;
                }
            }
            offset += end + 20;
            c.adl_hours += (end + 20) as f64 / 3_600_000.0;
        }
    }
    (c, by_code)
}

/// Every candidate's evidence, one CSV row per candidate (for studying the features).
fn dump(trials: &[Trial], cfg: &FallConfig, out: &Path) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(out)?);
    writeln!(
        f,
        "trial,code,held_out,fell,impact_ms,peak_g,angle_deg,still_std_g,drop_mps,pre_std_g,post_g,fired"
    )?;
    for t in trials {
        let mut d = FallDetector::new(cfg.clone());
        let mut seen = None;
        for (ms, s) in present(t, Variant::AsRecorded, 0) {
            let fired = d.push(ms, s).is_some();
            let now = d.last_evidence().copied();
            if let Some(e) = now.filter(|e| Some(*e) != seen) {
                writeln!(
                    f,
                    "{},{},{},{},{},{:.3},{:.1},{:.4},{:.3},{:.4},{:.3},{}",
                    t.name,
                    t.code(),
                    t.held_out(),
                    t.is_fall(),
                    e.impact_at,
                    e.peak_g,
                    e.angle_deg,
                    e.still_std_g,
                    e.drop_mps,
                    e.pre_std_g,
                    e.post_g,
                    fired
                )?;
                seen = now;
            }
        }
    }
    Ok(())
}

pub fn falls(root: &Path, cfg: &FallConfig) -> Result<()> {
    let path = root.join("../shared/data/sisfall/sisfall_adxl345_50hz.csv.gz");
    if !path.exists() {
        println!(
            "SKIPPED: eval falls: {} is absent (it sits beside the project on development machines)",
            path.display()
        );
        return Ok(());
    }
    let trials = load(&path)?;
    if let Ok(out) = std::env::var("ORDERLY_EVAL_DUMP") {
        dump(&trials, cfg, Path::new(&out))?;
        println!("wrote every candidate's evidence to {out}");
    }
    println!(
        "SisFall waist ADXL345 at 50 Hz: {} trials ({} falls) from {} subjects; parameters {cfg:?}\n",
        trials.len(),
        trials.iter().filter(|t| t.is_fall()).count(),
        trials
            .iter()
            .map(Trial::subject)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    println!(
        "| presentation | subjects | sensitivity | specificity | false alarms / h of activity |"
    );
    println!("|---|---|---|---|---|");
    let mut codes = BTreeMap::new();
    for (name, v) in [
        ("as recorded (50 Hz)", Variant::AsRecorded),
        ("resampled to 20 Hz", Variant::Hz20),
        ("turned at random", Variant::Rotated),
    ] {
        for (half, h) in [
            ("tuning (odd)", Some(false)),
            ("held out (even)", Some(true)),
            ("all", None),
        ] {
            let (c, by_code) = score(&trials, cfg, v, h, false);
            println!(
                "| {name} | {half} | {:.3} ({}/{}) | {:.3} ({}/{}) | {:.2} ({} in {:.1} h) |",
                c.sens(),
                c.caught,
                c.falls,
                c.spec(),
                c.quiet,
                c.adls,
                c.per_hour(),
                c.alarms,
                c.adl_hours
            );
            if matches!(v, Variant::AsRecorded) && h.is_none() {
                codes = by_code;
            }
        }
    }
    println!(
        "\nWithout D13 and D14 (lying down quickly, rolling over: in a bed, where the bed's load cells\nsuppress the alert), as recorded:\n"
    );
    println!("| subjects | sensitivity | specificity | false alarms / h of activity |");
    println!("|---|---|---|---|");
    for (half, h) in [
        ("tuning (odd)", Some(false)),
        ("held out (even)", Some(true)),
        ("all", None),
    ] {
        let (c, _) = score(&trials, cfg, Variant::AsRecorded, h, true);
        println!(
            "| {half} | {:.3} ({}/{}) | {:.3} ({}/{}) | {:.2} ({} in {:.1} h) |",
            c.sens(),
            c.caught,
            c.falls,
            c.spec(),
            c.quiet,
            c.adls,
            c.per_hour(),
            c.alarms,
            c.adl_hours
        );
    }
    println!("\nPer activity code (as recorded, all subjects): trials where the detector fired");
    println!("| code | trials | fired | rate |");
    println!("|---|---|---|---|");
    for (code, (n, fired)) in codes {
        println!(
            "| {code} | {n} | {fired} | {:.3} |",
            fired as f64 / n.max(1) as f64
        );
    }
    println!(
        "\nGoal (issue 5): sensitivity >= 0.97, specificity >= 0.985, < 1 false alarm per hour."
    );
    Ok(())
}
