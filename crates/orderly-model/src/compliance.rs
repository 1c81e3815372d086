//! Care-bundle compliance: the share of the time a bundle applied to a bed or patient (fall-risk
//! bed settings, the ventilated head of bed, brakes, turning on time) that it was complied with,
//! from the committed `bundle.changed` events. Pure: the store reads the events, the API serves
//! the result as JSON or CSV.
//!
//! Each (rule, subject) is in one standing at a time, set by its latest `bundle.changed`: not
//! applying, applying and complied with, or applying and not. Time before a subject's first event
//! is not counted (Orderly did not know); the last standing runs to the end of the window.

use crate::Timestamp;
use crate::report::csv_field;
use serde::Serialize;
use std::collections::BTreeMap;

/// One `bundle.changed`, in commit order.
#[derive(Clone, Debug, PartialEq)]
pub struct BundleChange {
    pub at: Timestamp,
    pub bundle: String,
    pub rule: String,
    pub subject: String,
    pub unit: Option<String>,
    pub applies: bool,
    pub compliant: bool,
}

/// Time a bundle applied and was complied with, for a unit or a subject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ComplianceRow {
    pub bundle: String,
    pub unit: Option<String>,
    /// The bed or patient (rows per subject only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Seconds the bundle applied in the window.
    pub applicable_s: f64,
    /// Of those, seconds it was complied with.
    pub compliant_s: f64,
    /// compliant / applicable, when it applied at all.
    pub compliance: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Compliance {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Per bundle and unit.
    pub units: Vec<ComplianceRow>,
    /// Per bundle and subject, when asked for.
    pub subjects: Vec<ComplianceRow>,
}

/// Adds up `changes` (every `bundle.changed` before `to`, in commit order) over `[from, to)`.
pub fn compliance(
    changes: &[BundleChange],
    from: Timestamp,
    to: Timestamp,
    per_subject: bool,
) -> Compliance {
    // (bundle, subject) -> (unit, applicable ms, compliant ms); the standing of each rule on
    // each subject: (rule, subject) -> (since, applies, compliant).
    let mut sums: BTreeMap<(String, String), (Option<String>, i64, i64)> = BTreeMap::new();
    let mut standing: BTreeMap<(&str, &str), (Timestamp, bool, bool, &BundleChange)> =
        BTreeMap::new();
    let mut add = |c: &BundleChange, since: Timestamp, until: Timestamp, applies, compliant| {
        let (a, b) = (since.max(from), until.min(to));
        let entry = sums
            .entry((c.bundle.clone(), c.subject.clone()))
            .or_insert((None, 0, 0));
        if c.unit.is_some() {
            entry.0 = c.unit.clone();
        }
        if b > a && applies {
            entry.1 += b.since(a);
            if compliant {
                entry.2 += b.since(a);
            }
        }
    };
    for c in changes.iter().filter(|c| c.at < to) {
        let key = (c.rule.as_str(), c.subject.as_str());
        if let Some((since, applies, compliant, prev)) = standing.get(&key).copied() {
            add(prev, since, c.at, applies, compliant);
        }
        standing.insert(key, (c.at, c.applies, c.compliant, c));
    }
    for (since, applies, compliant, c) in standing.values().copied() {
        add(c, since, to, applies, compliant);
    }
    let row = |bundle: &str, unit: Option<String>, subject, a: i64, c: i64| ComplianceRow {
        bundle: bundle.to_string(),
        unit,
        subject,
        applicable_s: a as f64 / 1000.0,
        compliant_s: c as f64 / 1000.0,
        compliance: (a > 0).then(|| (c as f64 / a as f64 * 1000.0).round() / 1000.0),
    };
    let mut units: BTreeMap<(String, Option<String>), (i64, i64)> = BTreeMap::new();
    let mut subjects = Vec::new();
    for ((bundle, subject), (unit, a, c)) in &sums {
        let u = units.entry((bundle.clone(), unit.clone())).or_default();
        u.0 += a;
        u.1 += c;
        if per_subject {
            subjects.push(row(bundle, unit.clone(), Some(subject.clone()), *a, *c));
        }
    }
    Compliance {
        from,
        to,
        units: units
            .into_iter()
            .map(|((b, u), (a, c))| row(&b, u, None, a, c))
            .collect(),
        subjects,
    }
}

impl Compliance {
    /// One row per bundle and unit, or per bundle and subject when there are any.
    pub fn to_csv(&self) -> String {
        let rows = if self.subjects.is_empty() {
            &self.units
        } else {
            &self.subjects
        };
        let mut out = String::from("bundle,unit,subject,applicable_s,compliant_s,compliance\n");
        for r in rows {
            out.push_str(&format!(
                "{},{},{},{:.0},{:.0},{}\n",
                csv_field(&r.bundle),
                csv_field(r.unit.as_deref().unwrap_or("")),
                csv_field(r.subject.as_deref().unwrap_or("")),
                r.applicable_s,
                r.compliant_s,
                r.compliance.map_or(String::new(), |c| format!("{c:.3}"))
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(at_s: i64, subject: &str, unit: &str, applies: bool, compliant: bool) -> BundleChange {
        BundleChange {
            at: Timestamp(at_s * 1000),
            bundle: "fall-risk".into(),
            rule: "fall-bundle-incomplete".into(),
            subject: subject.into(),
            unit: Some(unit.into()),
            applies,
            compliant,
        }
    }

    #[test]
    fn time_is_split_by_standing_and_clipped_to_the_window() {
        let changes = [
            ch(0, "BED-1", "ICU", true, true),
            ch(100, "BED-1", "ICU", true, false), // non-compliant 100..150
            ch(150, "BED-1", "ICU", false, false), // not applying 150..200
            ch(200, "BED-1", "ICU", true, true),
            ch(50, "BED-2", "ICU", true, false),
        ];
        let r = compliance(&changes, Timestamp(50_000), Timestamp(250_000), true);
        // BED-1: applies 50..150 and 200..250 = 150 s, compliant 50..100 + 200..250 = 100 s.
        let b1 = r
            .subjects
            .iter()
            .find(|s| s.subject.as_deref() == Some("BED-1"))
            .unwrap();
        assert_eq!((b1.applicable_s, b1.compliant_s), (150.0, 100.0));
        assert_eq!(b1.compliance, Some(0.667));
        // BED-2: 200 s applying, never compliant; the unit adds both.
        assert_eq!(r.units.len(), 1);
        assert_eq!(
            (r.units[0].applicable_s, r.units[0].compliant_s),
            (350.0, 100.0)
        );
        assert!(
            r.to_csv().contains("fall-risk,ICU,BED-1,150,100,0.667"),
            "{}",
            r.to_csv()
        );
        // Nothing known before a subject's first event; nothing after `to` counts.
        let r = compliance(&changes, Timestamp(0), Timestamp(40_000), false);
        assert_eq!(r.units[0].applicable_s, 40.0);
        assert!(r.subjects.is_empty());
    }
}
