//! PAR levels (`rules/par.toml`): how many items of a kind each unit keeps ready for use, and
//! below which count it is critical. Checked against the floorplan's units and the seed's asset
//! kinds; every problem is reported with file, line and the fix.

use crate::source::{FileErrors, Source};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// One unit's level for one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParLevel {
    pub unit: String,
    pub kind: String,
    /// Items ready for use (available or clean) the unit should hold.
    pub target: u32,
    /// Below this the unit cannot cover its next admissions: a more urgent alert.
    pub critical: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    par: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    unit: Spanned<String>,
    kind: Spanned<String>,
    target: Spanned<i64>,
    critical: Spanned<i64>,
}

/// A checked PAR file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParLevels {
    pub levels: Vec<ParLevel>,
    /// Levels for a kind the registry does not have (a site without tagged wheelchairs using
    /// shared rules): skipped, not an error, and said so. A kind that looks like a misspelt
    /// known one is an error instead.
    pub ignored: Vec<crate::source::FileError>,
}

/// Parses and checks a PAR file. `units` are the floorplan's unit ids, `kinds` the asset kinds
/// of the seed.
pub fn parse(
    file: &str,
    text: &str,
    units: &BTreeSet<String>,
    kinds: &BTreeSet<String>,
) -> Result<ParLevels, FileErrors> {
    let src = Source::new(file, text);
    let raw: File = src.parse_toml()?;
    let mut errors = Vec::new();
    let mut ignored = Vec::new();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut out = Vec::new();
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
    for e in raw.par {
        let unit = e.unit.get_ref();
        let kind = e.kind.get_ref();
        let mut ok = true;
        let mut skip = false;
        if !units.contains(unit) {
            // A misspelt unit is an error; a unit this floorplan does not have at all (shared
            // rules on another site) is skipped and said.
            match crate::source::suggest(unit, units.iter().map(String::as_str)) {
                Some(near) => {
                    errors.push(src.error_at(
                        e.unit.span().start,
                        format!("unit {unit:?} is not in the floorplan"),
                        Some(format!("did you mean {near:?}?")),
                    ));
                    ok = false;
                }
                None => {
                    ignored.push(src.error_at(
                        e.unit.span().start,
                        format!("unit {unit:?} is not in the floorplan: level ignored"),
                        Some(format!("the floorplan has: {}", list(units))),
                    ));
                    skip = true;
                }
            }
        }
        if !kinds.contains(kind) {
            match crate::source::suggest(kind, kinds.iter().map(String::as_str)) {
                Some(near) => {
                    errors.push(src.error_at(
                        e.kind.span().start,
                        format!("no asset of kind {kind:?} in the registry"),
                        Some(format!("did you mean {near:?}?")),
                    ));
                    ok = false;
                }
                None => {
                    ignored.push(src.error_at(
                        e.kind.span().start,
                        format!("no asset of kind {kind:?} in the registry: level ignored"),
                        Some(format!("the registry has: {}", list(kinds))),
                    ));
                    skip = true;
                }
            }
        }
        let (target, critical) = (*e.target.get_ref(), *e.critical.get_ref());
        if !(1..=10_000).contains(&target) {
            errors.push(src.error_at(
                e.target.span().start,
                format!("target {target} is out of range"),
                Some("use 1 to 10000 items".into()),
            ));
            ok = false;
        }
        if critical < 0 || critical > target {
            errors.push(src.error_at(
                e.critical.span().start,
                format!("critical {critical} must be between 0 and the target ({target})"),
                Some("critical is the lower line: set it below the target".into()),
            ));
            ok = false;
        }
        let key = (unit.clone(), kind.clone());
        if let Some(&first) = seen.get(&key) {
            let (line, _) = src.line_col(first);
            errors.push(src.error_at(
                e.unit.span().start,
                format!("a second level for {kind} on {unit}"),
                Some(format!("keep one; the first is on line {line}")),
            ));
            ok = false;
        }
        seen.insert(key, e.unit.span().start);
        if ok && !skip {
            out.push(ParLevel {
                unit: unit.clone(),
                kind: kind.clone(),
                target: target as u32,
                critical: critical as u32,
            });
        }
    }
    if errors.is_empty() {
        Ok(ParLevels {
            levels: out,
            ignored,
        })
    } else {
        Err(FileErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn levels_parse_and_every_mistake_is_located() {
        let units = set(&["ICU", "ED"]);
        let kinds = set(&["infusion_pump", "wheelchair"]);
        let ok = "[[par]]\nunit = \"ICU\"\nkind = \"infusion_pump\"\ntarget = 8\ncritical = 3\n";
        let levels = parse("par.toml", ok, &units, &kinds).unwrap().levels;
        assert_eq!(
            levels,
            [ParLevel {
                unit: "ICU".into(),
                kind: "infusion_pump".into(),
                target: 8,
                critical: 3
            }]
        );
        let bad = "[[par]]\nunit = \"ICX\"\nkind = \"infusion_pmp\"\ntarget = 8\ncritical = 9\n\n[[par]]\nunit = \"ED\"\nkind = \"wheelchair\"\ntarget = 0\ncritical = 0\n\n[[par]]\nunit = \"ED\"\nkind = \"wheelchair\"\ntarget = 2\ncritical = 1\n";
        let e = parse("par.toml", bad, &units, &kinds)
            .unwrap_err()
            .to_string();
        for want in [
            "par.toml:2:8: unit \"ICX\" is not in the floorplan (fix: did you mean \"ICU\"?)",
            "par.toml:3:8: no asset of kind \"infusion_pmp\" in the registry (fix: did you mean \"infusion_pump\"?)",
            "par.toml:5:12: critical 9 must be between 0 and the target (8)",
            "par.toml:10:10: target 0 is out of range",
            "par.toml:14:8: a second level for wheelchair on ED (fix: keep one; the first is on line 8)",
        ] {
            assert!(e.contains(want), "{want}\nnot in\n{e}");
        }
        // A kind this site does not have at all: skipped and said, not an error.
        let other = "[[par]]\nunit = \"ICU\"\nkind = \"ventilator\"\ntarget = 2\ncritical = 1\n";
        let p = parse("par.toml", other, &units, &kinds).unwrap();
        assert!(p.levels.is_empty());
        assert_eq!(
            p.ignored[0].to_string(),
            "par.toml:3:8: no asset of kind \"ventilator\" in the registry: level ignored (fix: the registry has: infusion_pump, wheelchair)"
        );
        let typo = "[[par]]\nunit = \"ICU\"\nkind = \"infusion_pump\"\ntarget = 8\ncritcal = 3\n";
        let e = parse("par.toml", typo, &units, &kinds)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("par.toml:5:1: unknown field `critcal`"),
            "{e}"
        );
    }
}
