//! A rules directory as one checked bundle: `detectors.toml` (the capabilities' parameters),
//! `par.toml` (PAR levels), `maintenance.toml` (the maintenance catalogue),
//! `drug-library.toml` (the infusion pumps' drug library), `environment.toml` (the ranges of
//! the environment of care) and every other
//! `*.toml` (alert rules). Pure: the caller reads the files (the binary from a directory, tests
//! and evaluations from [`BUNDLED`]) and gets the bundle, or every problem of every file with
//! file, line and the fix. A bad directory is refused as a whole.

use crate::WorldConfig;
use orderly_rules::{Known, RuleSet};

/// The rules shipped with Orderly (`rules/` at build time), used when no directory is given.
pub const BUNDLED: [(&str, &str); 14] = [
    (
        "rules/detectors.toml",
        include_str!("../../../rules/detectors.toml"),
    ),
    ("rules/par.toml", include_str!("../../../rules/par.toml")),
    (
        "rules/maintenance.toml",
        include_str!("../../../rules/maintenance.toml"),
    ),
    (
        "rules/maintenance-alerts.toml",
        include_str!("../../../rules/maintenance-alerts.toml"),
    ),
    ("rules/beds.toml", include_str!("../../../rules/beds.toml")),
    (
        "rules/falls.toml",
        include_str!("../../../rules/falls.toml"),
    ),
    (
        "rules/pumps.toml",
        include_str!("../../../rules/pumps.toml"),
    ),
    (
        "rules/drug-library.toml",
        include_str!("../../../rules/drug-library.toml"),
    ),
    (
        "rules/infusion.toml",
        include_str!("../../../rules/infusion.toml"),
    ),
    (
        "rules/environment.toml",
        include_str!("../../../rules/environment.toml"),
    ),
    (
        "rules/environment-alerts.toml",
        include_str!("../../../rules/environment-alerts.toml"),
    ),
    (
        "rules/tracking.toml",
        include_str!("../../../rules/tracking.toml"),
    ),
    (
        "rules/turning.toml",
        include_str!("../../../rules/turning.toml"),
    ),
    (
        "rules/vitals.toml",
        include_str!("../../../rules/vitals.toml"),
    ),
];

/// The bundled files as (name, text), named `rules/x.toml (bundled)`.
pub fn bundled() -> Vec<(String, String)> {
    BUNDLED
        .iter()
        .map(|(n, t)| (format!("{n} (bundled)"), t.to_string()))
        .collect()
}

/// A checked rules directory.
#[derive(Debug)]
pub struct Bundle {
    /// Every capability's parameters, the PAR levels and the maintenance catalogue.
    pub config: WorldConfig,
    pub rules: RuleSet,
    /// What loading skipped, with file and line (PAR levels or policies for kinds the registry
    /// does not have): logged, and printed by `orderly rules check`.
    pub notes: Vec<String>,
}

/// The file name of `name` (`rules/par.toml (bundled)` -> `par.toml`).
fn file_name(name: &str) -> &str {
    let path = name.trim_end_matches(" (bundled)");
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// Checks a set of files. Every problem of every file is in the error, one per line, as
/// `file:line:column: what (fix: how)`.
pub fn compile(files: &[(String, String)], known: &Known) -> Result<Bundle, String> {
    let mut report = Vec::new();
    let mut config = WorldConfig::default();
    let mut notes = Vec::new();
    let mut rule_files = Vec::new();
    let mut environment = false;
    for (name, text) in files {
        match file_name(name) {
            "detectors.toml" => match WorldConfig::parse(name, text) {
                Ok(c) => {
                    config = WorldConfig {
                        par: std::mem::take(&mut config.par),
                        maintenance: std::mem::take(&mut config.maintenance),
                        drug_library: std::mem::take(&mut config.drug_library),
                        environment: std::mem::take(&mut config.environment),
                        ..c
                    }
                }
                Err(e) => report.push(e.to_string()),
            },
            "maintenance.toml" => {
                match orderly_model::maintenance::parse(name, text, &known.models) {
                    Ok(c) => {
                        notes.extend(c.ignored.iter().map(ToString::to_string));
                        config.maintenance = c;
                    }
                    Err(e) => report.push(e.to_string()),
                }
            }
            "drug-library.toml" => match orderly_model::infusion::parse(name, text, &known.units) {
                Ok(l) => config.drug_library = l,
                Err(e) => report.push(e.to_string()),
            },
            "environment.toml" => match orderly_model::environment::parse(name, text) {
                Ok(p) => {
                    environment = true;
                    // Every profile a sensor of the registry names must be here.
                    for (profile, sensor) in &known.sensor_profiles {
                        if p.0.contains_key(profile) {
                            continue;
                        }
                        let fix = match orderly_model::source::suggest(
                            profile,
                            p.0.keys().map(String::as_str),
                        ) {
                            Some(s) => format!("did you mean {s:?}? (the seed names it)"),
                            None => format!("add a [[profile]] with id = {profile:?}"),
                        };
                        report.push(format!(
                            "{name}:1:1: sensor {sensor:?} of the seed names profile {profile:?}, which this file does not define (fix: {fix})"
                        ));
                    }
                    config.environment = p;
                }
                Err(e) => report.push(e.to_string()),
            },
            "par.toml" => match orderly_model::par::parse(name, text, &known.units, &known.kinds) {
                Ok(p) => {
                    notes.extend(p.ignored.iter().map(ToString::to_string));
                    config.par = p.levels;
                }
                Err(e) => report.push(e.to_string()),
            },
            _ => rule_files.push((name.clone(), text.clone())),
        }
    }
    if !environment && let Some((profile, sensor)) = known.sensor_profiles.iter().next() {
        report.push(format!(
            "environment.toml: the seed has environment sensors ({sensor:?} names profile {profile:?}) and the rules directory has no environment.toml (fix: copy rules/environment.toml from Orderly's rules and adjust its ranges)"
        ));
    }
    let rules = match RuleSet::compile(&rule_files, known) {
        Ok(s) => Some(s),
        Err(e) => {
            report.push(e.to_string());
            None
        }
    };
    for n in &notes {
        tracing::warn!(note = %n, "rules directory");
    }
    match rules {
        Some(rules) if report.is_empty() => Ok(Bundle {
            config,
            rules,
            notes,
        }),
        _ => Err(report.join("\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_rules_compile_for_the_demo_site() {
        let fp = orderly_floorplan::Floorplan::parse(
            "demo.toml",
            include_str!("../../../floorplans/demo.toml"),
        )
        .unwrap();
        let seed = orderly_model::Seed::parse(
            "demo-seed.toml",
            include_str!("../../../floorplans/demo-seed.toml"),
        )
        .unwrap();
        let b = compile(&bundled(), &crate::known(&fp, &seed)).unwrap();
        assert!(b.rules.rules.len() > 10);
        assert!(!b.config.par.is_empty());
        assert!(!b.config.maintenance.policies.is_empty());
    }

    #[test]
    fn every_problem_of_every_file_is_reported_with_its_place() {
        let known = orderly_rules::Known::default();
        let files = vec![
            (
                "r/detectors.toml".to_string(),
                "[locator]\nnope = 1\n".to_string(),
            ),
            ("r/a.toml".to_string(), "[[rule]]\nid = 3\n".to_string()),
        ];
        let e = compile(&files, &known).unwrap_err();
        assert!(e.contains("r/detectors.toml:2:1"), "{e}");
        assert!(e.contains("r/a.toml:2"), "{e}");
    }

    #[test]
    fn locator_values_out_of_range_are_refused_with_the_line() {
        let known = orderly_rules::Known::default();
        for (text, what) in [
            ("[locator]\nrise_s = -1.0\n", "rise_s = -1 is out of range"),
            (
                "[locator]\nenter_p = 1.5\n",
                "enter_p = 1.5 is out of range",
            ),
            (
                "[locator]\nlost_kind_s = { wheelchair = 0.0 }\n",
                "lost_kind_s.wheelchair = 0 is out of range",
            ),
        ] {
            let e = compile(
                &[("r/detectors.toml".to_string(), text.to_string())],
                &known,
            )
            .unwrap_err();
            assert!(
                e.contains("r/detectors.toml:1:1") && e.contains(what),
                "{e}"
            );
        }
        // The shipped values pass.
        assert!(crate::LocatorConfig::default().check().is_ok());
    }

    #[test]
    fn a_profile_the_seed_names_must_be_in_environment_toml() {
        let known = orderly_rules::Known {
            sensor_profiles: [("vaccine_fridge".to_string(), "env-1".to_string())].into(),
            ..Default::default()
        };
        let profiles = "[[profile]]\nid = \"vacine_fridge\"\ntitle = \"V\"\nkind = \"fridge\"\ntemperature_c = { low = 2.0, high = 8.0 }\n";
        let e = compile(
            &[("r/environment.toml".to_string(), profiles.to_string())],
            &known,
        )
        .unwrap_err();
        assert!(
            e.contains("r/environment.toml:1:1: sensor \"env-1\"")
                && e.contains("did you mean \"vacine_fridge\""),
            "{e}"
        );
        // No environment.toml at all, with sensors in the seed.
        let e = compile(&[], &known).unwrap_err();
        assert!(e.contains("has no environment.toml"), "{e}");
    }
}
