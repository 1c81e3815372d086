//! The rules directory: `detectors.toml` (parameters of the built-in detectors) and every other
//! `*.toml` (alert rules). Loading reads and checks the whole directory; a bad set is refused
//! as a whole with every problem located. `orderly rules check` and `orderly rules backtest`.

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use orderly_floorplan::Floorplan;
use orderly_model::{EventKind, Seed, Timestamp};
use orderly_rules::RuleSet;
use orderly_world::WorldConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A checked rules directory.
pub struct Loaded {
    pub config: WorldConfig,
    pub rules: Arc<RuleSet>,
    /// What loading skipped, with file and line.
    pub notes: Vec<String>,
    /// Where it came from (a directory, or "bundled").
    pub source: String,
    pub files: Vec<String>,
}

/// The `*.toml` files of a directory, sorted by name.
pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the rules directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

/// Loads the rules directory, or the bundled rules when `dir` is None.
pub fn load(dir: Option<&Path>, fp: &Floorplan, seed: &Seed) -> Result<Loaded> {
    let (files, source) = match dir {
        Some(d) => (read_dir(d)?, d.display().to_string()),
        None => (orderly_world::rules_dir::bundled(), "bundled".to_string()),
    };
    let known = orderly_world::known(fp, seed);
    let bundle = orderly_world::rules_dir::compile(&files, &known)
        .map_err(|e| anyhow!("the rules are not valid:\n{e}"))?;
    Ok(Loaded {
        config: bundle.config,
        rules: Arc::new(bundle.rules),
        notes: bundle.notes,
        source,
        files: files.into_iter().map(|(n, _)| n).collect(),
    })
}

#[derive(Subcommand)]
pub enum RulesCmd {
    /// Check a rules directory: every problem as file:line:column with the fix.
    Check {
        /// The rules directory.
        #[arg(default_value = "rules")]
        dir: PathBuf,
        #[command(flatten)]
        site: SiteArgs,
    },
    /// Replay a capture with a rule set and report the alerts it would have raised, per rule.
    Backtest(BacktestArgs),
}

#[derive(Args, Clone)]
pub struct SiteArgs {
    /// Floorplan [default: the bundled demo].
    #[arg(long)]
    pub floorplan: Option<PathBuf>,
    /// Asset registry and census [default: the bundled demo].
    #[arg(long)]
    pub registry: Option<PathBuf>,
}

#[derive(Args)]
pub struct BacktestArgs {
    /// Capture (JSON lines, as `orderly record` or `orderly sim --capture` write).
    #[arg(long)]
    pub capture: PathBuf,
    /// The rules to try.
    #[arg(long)]
    pub rules: PathBuf,
    /// Rules to compare with (e.g. the ones in production).
    #[arg(long)]
    pub against: Option<PathBuf>,
    /// Write the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub site: SiteArgs,
}

pub fn main(cmd: RulesCmd) -> Result<()> {
    match cmd {
        RulesCmd::Check { dir, site } => {
            let (fp, seed) =
                crate::files::site_or_demo(site.floorplan.as_deref(), site.registry.as_deref())?;
            let loaded = load(Some(&dir), &fp, &seed)?;
            let mut by_subject: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &loaded.rules.rules {
                *by_subject.entry(r.subject.as_str()).or_default() += 1;
            }
            println!(
                "ok: {} rules in {} files ({}); detectors ok; {} PAR levels; {} maintenance policies; {}",
                loaded.rules.rules.len(),
                loaded.files.len(),
                by_subject
                    .iter()
                    .map(|(k, v)| format!("{v} on {k}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                loaded.config.par.len(),
                loaded.config.maintenance.policies.len(),
                {
                    let l = &loaded.config.drug_library;
                    if l.entries.is_empty() && l.profiles.is_empty() {
                        "no drug library (pumps' infusions are not checked)".to_string()
                    } else {
                        format!(
                            "drug library {:?}: {} profiles, {} drug entries",
                            l.version,
                            l.profiles.len(),
                            l.entries.len()
                        )
                    }
                }
            );
            for n in &loaded.notes {
                println!("note: {n}");
            }
            Ok(())
        }
        RulesCmd::Backtest(args) => backtest(args),
    }
}

/// What one rule did over a capture.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RuleReport {
    pub raised: usize,
    pub per_hour: f64,
    pub by_unit: BTreeMap<String, usize>,
    /// Median seconds from raised to resolved, over the alerts that resolved.
    pub median_resolve_s: Option<f64>,
    pub escalated: usize,
    pub still_open: usize,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Backtest {
    pub hours: f64,
    pub rules: BTreeMap<String, RuleReport>,
    /// Care-bundle compliance over the capture, per bundle and unit (as the compliance report).
    pub compliance: Vec<orderly_model::compliance::ComplianceRow>,
}

/// Runs a capture through the world with `loaded` and tallies the alerts.
pub fn run_backtest(
    capture: &Path,
    fp: &Arc<Floorplan>,
    seed: &Seed,
    loaded: &Loaded,
) -> Result<Backtest> {
    let mut events = Vec::new();
    let mut bundles = Vec::new();
    let crate::replay::Replayed { first, last, .. } = crate::replay::run(
        capture,
        fp.clone(),
        seed,
        loaded.config.clone(),
        loaded.rules.clone(),
        |e| {
            if e.kind.alert().is_some()
                || matches!(
                    e.kind,
                    EventKind::BedCommand { .. } | EventKind::BedSuggested { .. }
                )
            {
                events.push(e.clone());
            } else if let EventKind::BundleChanged {
                bundle,
                rule,
                subject,
                applies,
                compliant,
                unit,
                ..
            } = &e.kind
            {
                bundles.push(orderly_model::compliance::BundleChange {
                    at: e.at,
                    bundle: bundle.clone(),
                    rule: rule.clone(),
                    subject: subject.clone(),
                    unit: unit.clone(),
                    applies: *applies,
                    compliant: *compliant,
                });
            }
            Ok(())
        },
    )?;
    let hours = ((last.millis() - first.millis()) as f64 / 3_600_000.0).max(1.0 / 3600.0);
    let mut report = Backtest {
        compliance: orderly_model::compliance::compliance(
            &bundles,
            first,
            Timestamp(last.millis() + 1),
            false,
        )
        .units,
        hours,
        rules: loaded
            .rules
            .rules
            .iter()
            .map(|r| (r.id.clone(), RuleReport::default()))
            .collect(),
    };
    let mut raised_at: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut resolve_s: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for e in &events {
        // A command or suggestion rule's "raised" counts what it asked of beds.
        if let EventKind::BedCommand { rule, .. } | EventKind::BedSuggested { rule, .. } = &e.kind {
            report.rules.entry(rule.clone()).or_default().raised += 1;
            continue;
        }
        let Some(a) = e.kind.alert() else { continue };
        let r = report.rules.entry(a.rule.clone()).or_default();
        match &e.kind {
            EventKind::AlertRaised(_) => {
                r.raised += 1;
                *r.by_unit
                    .entry(a.unit.clone().unwrap_or_else(|| "unassigned".into()))
                    .or_default() += 1;
                raised_at.insert(a.id.clone(), a.raised_at);
            }
            EventKind::AlertEscalated(_) => r.escalated += 1,
            EventKind::AlertResolved(_) => {
                if let Some(t) = raised_at.remove(&a.id) {
                    resolve_s
                        .entry(a.rule.clone())
                        .or_default()
                        .push((e.at.millis() - t.millis()) as f64 / 1000.0);
                }
            }
            _ => {}
        }
    }
    for id in raised_at.keys() {
        if let Some(rule) = id.split(':').next()
            && let Some(r) = report.rules.get_mut(rule)
        {
            r.still_open += 1;
        }
    }
    for (id, r) in &mut report.rules {
        r.per_hour = r.raised as f64 / hours;
        if let Some(v) = resolve_s.get_mut(id) {
            v.sort_by(f64::total_cmp);
            r.median_resolve_s = Some(if v.len() % 2 == 1 {
                v[v.len() / 2]
            } else {
                (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
            });
        }
    }
    Ok(report)
}

fn backtest(args: BacktestArgs) -> Result<()> {
    let (fp, seed) = crate::files::site_or_demo(
        args.site.floorplan.as_deref(),
        args.site.registry.as_deref(),
    )?;
    let new = load(Some(&args.rules), &fp, &seed)?;
    let report = run_backtest(&args.capture, &fp, &seed, &new)?;
    let base = match &args.against {
        Some(dir) => {
            let old = load(Some(dir), &fp, &seed)?;
            Some(run_backtest(&args.capture, &fp, &seed, &old)?)
        }
        None => None,
    };
    if args.json {
        let v = serde_json::json!({ "rules": report, "against": base });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} over {:.2} h of capture ({})",
        args.rules.display(),
        report.hours,
        args.capture.display()
    );
    let mut ids: Vec<&String> = report.rules.keys().collect();
    if let Some(b) = &base {
        for k in b.rules.keys() {
            if !report.rules.contains_key(k) {
                ids.push(k);
            }
        }
    }
    println!(
        "{:<28} {:>7} {:>8} {:>10} {:>9} {:>6}  {}  by unit",
        "rule",
        "raised",
        "per hour",
        "median s",
        "escalated",
        "open",
        if base.is_some() { "vs against" } else { "" }
    );
    let empty = RuleReport::default();
    for id in ids {
        let r = report.rules.get(id).unwrap_or(&empty);
        let diff = base.as_ref().map(|b| {
            let o = b.rules.get(id);
            match (o, report.rules.contains_key(id)) {
                (None, _) => "new rule".to_string(),
                (Some(_), false) => "removed".to_string(),
                (Some(o), true) => format!("{:+}", r.raised as i64 - o.raised as i64),
            }
        });
        println!(
            "{:<28} {:>7} {:>8.2} {:>10} {:>9} {:>6}  {}  {}",
            id,
            r.raised,
            r.per_hour,
            r.median_resolve_s
                .map_or("-".to_string(), |m| format!("{m:.1}")),
            r.escalated,
            r.still_open,
            diff.unwrap_or_default(),
            r.by_unit
                .iter()
                .map(|(u, n)| format!("{u}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if !report.compliance.is_empty() {
        println!("\nbundle compliance (share of the time each applied that it was complied with)");
        println!(
            "{:<12} {:<8} {:>12} {:>11}",
            "bundle", "unit", "applied h", "compliance"
        );
        for r in &report.compliance {
            println!(
                "{:<12} {:<8} {:>12.2} {:>11}",
                r.bundle,
                r.unit.as_deref().unwrap_or("-"),
                r.applicable_s / 3600.0,
                r.compliance
                    .map_or("-".to_string(), |c| format!("{:.1}%", c * 100.0))
            );
        }
    }
    Ok(())
}
