//! `cargo xtask eval vitals [--days N] [--seeds N]`: the demo ward's patients with wearables
//! on simulated vital signs (`orderly_sim::vitals`: deterioration episodes, artefacts, nurses'
//! spot checks) through the world with `rules/vitals.toml`, twice: as shipped (a continuous
//! value is the median of its good readings over `[vitals] window_s`, poor-quality values
//! skipped) and without that handling (the latest value, quality ignored), so the benefit is
//! measured. Per arm: how long after an episode's true NEWS2 first reaches 5 the first NEWS2
//! 5+ alert comes (median, 90th percentile, missed), and false alerts per patient-day (a NEWS2
//! alert whose band the true physiology did not reach at that moment). Seed 1 is where the
//! window was chosen (tuning); the others are held out.

use anyhow::{Context, Result, anyhow, bail};
use orderly_floorplan::Floorplan;
use orderly_model::reading::Reading;
use orderly_model::{EventKind, Inbound, Payload, Seed, Timestamp};
use orderly_sim::vitals::{WardConfig, ward};
use orderly_world::Hospital;
use std::path::Path;
use std::sync::Arc;

#[derive(Default, Clone)]
struct Tally {
    delays_min: Vec<f64>,
    missed: usize,
    episodes: usize,
    false_alerts: usize,
    false_by_rule: std::collections::BTreeMap<String, usize>,
    patient_days: f64,
}

fn pct(v: &mut [f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[((v.len() - 1) as f64 * p).round() as usize])
}

fn band_reached(rule: &str, truth: &orderly_model::news2::News2) -> bool {
    match rule {
        "news2-high" => truth.aggregate >= 7,
        "news2-medium" => truth.aggregate >= 5,
        "news2-single-3" => {
            truth.sub.all().iter().flatten().any(|s| *s == 3) || truth.aggregate >= 5
        }
        // The trend and overdue observations are advisories, not bands.
        _ => true,
    }
}

pub fn vitals(root: &Path, args: &[String]) -> Result<()> {
    let mut days = 3.0f64;
    let mut seeds = 4u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--days" => days = it.next().context("--days N")?.parse()?,
            "--seeds" => seeds = it.next().context("--seeds N")?.parse()?,
            x => bail!("unknown option {x:?}: cargo xtask eval vitals [--days N] [--seeds N]"),
        }
    }
    let read =
        |p: &str| std::fs::read_to_string(root.join(p)).with_context(|| format!("reading {p}"));
    let fp = Arc::new(
        Floorplan::parse("floorplans/demo.toml", &read("floorplans/demo.toml")?)
            .map_err(|e| anyhow!("{e}"))?,
    );
    let seed = Seed::parse(
        "floorplans/demo-seed.toml",
        &read("floorplans/demo-seed.toml")?,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let known = orderly_world::known(&fp, &seed);
    let files = vec![
        (
            "rules/detectors.toml".to_string(),
            read("rules/detectors.toml")?,
        ),
        ("rules/vitals.toml".to_string(), read("rules/vitals.toml")?),
    ];
    let bundle = orderly_world::rules_dir::compile(&files, &known).map_err(|e| anyhow!("{e}"))?;
    let rules = Arc::new(bundle.rules);
    let patients: Vec<(String, String)> = seed
        .patients
        .iter()
        .filter_map(|p| Some((p.id.clone(), p.wearable.clone()?)))
        .collect();
    println!(
        "vital signs: {} patients x {days} days x {seeds} seeds (orderly_sim::vitals), rules/vitals.toml",
        patients.len()
    );
    let shipped = bundle.config.vitals.clone();
    let mut raw = shipped.clone();
    raw.window_s = 0;
    raw.use_quality = false;
    raw.persist_s = 0;
    let arms = [
        ("as shipped (window, quality)", shipped),
        ("latest value, quality ignored", raw),
    ];
    let start = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").expect("a date");
    let mut table: Vec<(String, &str, Tally)> = Vec::new();
    for s in 1..=seeds {
        let w = ward(
            &WardConfig {
                seed: s,
                days,
                ..WardConfig::default()
            },
            patients.len(),
            start,
        );
        for (arm, cfg) in &arms {
            let mut config = bundle.config.clone();
            config.vitals = cfg.clone();
            let mut h = Hospital::new(fp.clone(), &seed, config, rules.clone());
            let mut raised: Vec<(usize, String, Timestamp)> = Vec::new();
            let mut i = 0;
            while i < w.sent.len() {
                let at = w.sent[i].at;
                while i < w.sent.len() && w.sent[i].at == at {
                    let m = &w.sent[i];
                    h.push(Inbound::Reading(Reading {
                        at,
                        device: patients[m.patient].1.clone(),
                        ts: at,
                        seq: None,
                        payload: Payload::Vitals(m.vitals.clone()),
                    }));
                    i += 1;
                }
                for e in h.step(at) {
                    if let EventKind::AlertRaised(a) = &e.kind
                        && a.rule.starts_with("news2")
                        && let Some(p) = patients.iter().position(|(id, _)| *id == a.subject)
                    {
                        raised.push((p, a.rule.clone(), e.at));
                    }
                }
            }
            let mut t = Tally {
                patient_days: days * patients.len() as f64,
                ..Tally::default()
            };
            for (p, rule, at) in &raised {
                // False: raised while the patient is stable (no deterioration under way, nor in
                // the hour before one) and above what the true physiology reaches.
                let in_episode = w.episodes.iter().any(|e| {
                    e.patient == *p && at.millis() >= e.onset.millis() - 3_600_000 && *at <= e.end()
                });
                if !in_episode && !band_reached(rule, &w.true_score(*p, *at)) {
                    t.false_alerts += 1;
                    *t.false_by_rule.entry(rule.clone()).or_default() += 1;
                }
            }
            for e in &w.episodes {
                // When the true score first reaches 5 (minute by minute), if it does in the window.
                let mut m = e.onset;
                let end = e
                    .end()
                    .min(Timestamp(start.millis() + (days * 86_400_000.0) as i64));
                let mut crossed = None;
                while m < end {
                    if w.true_score(e.patient, m).aggregate >= 5 {
                        crossed = Some(m);
                        break;
                    }
                    m = Timestamp(m.millis() + 60_000);
                }
                let Some(c) = crossed else { continue };
                t.episodes += 1;
                let first = raised
                    .iter()
                    .filter(|(p, r, at)| {
                        *p == e.patient
                            && (r == "news2-medium" || r == "news2-high")
                            && *at >= e.onset
                            && *at <= end
                    })
                    .map(|(_, _, at)| *at)
                    .min();
                match first {
                    Some(a) => t.delays_min.push(a.since(c) as f64 / 60_000.0),
                    None => t.missed += 1,
                }
            }
            let label = if s == 1 {
                "tuning (seed 1)"
            } else {
                "held out"
            };
            match table.iter_mut().find(|(l, a, _)| l == label && a == arm) {
                Some((_, _, acc)) => {
                    acc.delays_min.extend(t.delays_min);
                    acc.missed += t.missed;
                    acc.episodes += t.episodes;
                    acc.false_alerts += t.false_alerts;
                    for (r, n) in t.false_by_rule {
                        *acc.false_by_rule.entry(r).or_default() += n;
                    }
                    acc.patient_days += t.patient_days;
                }
                None => table.push((label.to_string(), arm, t)),
            }
        }
    }
    println!(
        "| seeds | handling | episodes reaching 5 | alerted | missed | delay median | delay p90 | false NEWS2 alerts per patient-day |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, arm, mut t) in table {
        let f = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.0} min"));
        println!(
            "| {label} | {arm} | {} | {} | {} | {} | {} | {:.2} | {} |",
            t.episodes,
            t.episodes - t.missed,
            t.missed,
            f(pct(&mut t.delays_min, 0.5)),
            f(pct(&mut t.delays_min, 0.9)),
            t.false_alerts as f64 / t.patient_days.max(1e-9),
            t.false_by_rule
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "(a negative delay: the alert came before the true score reached 5, from noise near the threshold)"
    );
    Ok(())
}
