//! The maintenance catalogue (`rules/maintenance.toml`): per asset kind, and optionally per
//! model, how often an item is serviced (by time and by use), how critical it is, and what the
//! engineer checks. Checked against the seed's kinds and models with file, line and the fix.
//! Also the pure arithmetic of "what is due": [`Policy::due`]. Work orders and recalls are in
//! [`work_order`], the completion report in [`report`], the iCalendar feed in [`calendar`].

use crate::Timestamp;
use crate::source::{FileError, FileErrors, Source};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// How much harm a failure does (AAMI EQ89 / The Joint Commission EC.02.04.01: high-risk
/// equipment must have 100% of its scheduled maintenance done on time).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    #[default]
    Medium,
    High,
}

/// One maintenance policy.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Policy {
    pub kind: String,
    /// Only this model (wins over the kind's policy).
    pub model: Option<String>,
    pub risk: Risk,
    /// Time between scheduled services, days.
    pub every_days: Option<u32>,
    /// Use between services: pump runtime hours.
    pub runtime_hours: Option<f64>,
    /// Use between services: bed actuator cycles (a motor run: head, knee, height).
    pub actuator_cycles: Option<u64>,
    /// What the engineer checks.
    pub checks: Vec<String>,
    /// The checks that measure a value, by check: its unit and limits.
    pub measures: BTreeMap<String, Measure>,
    /// Battery prediction: a work order when the run time on a full charge is predicted to
    /// fall below this many hours within the prediction horizon.
    pub battery_min_hours: Option<f64>,
    /// Occlusion watch: a work order when the item's occlusion alarms per infusing hour run at
    /// this many times its fleet's (a CUSUM, `[prediction] cusum_h`).
    pub occlusion_ratio: Option<f64>,
    /// Fault watch: a work order when new fault codes per infusing hour run at this many times
    /// the fleet's (the same CUSUM).
    pub fault_ratio: Option<f64>,
    /// `file:line`.
    pub defined_at: String,
}

/// A check that measures a value (electrical safety's leakage current, say): its unit and the
/// limits within which it passes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Measure {
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

impl Measure {
    /// Whether `value` is within the limits.
    pub fn passes(&self, value: f64) -> bool {
        value.is_finite()
            && self.min.is_none_or(|m| value >= m)
            && self.max.is_none_or(|m| value <= m)
    }

    /// The limits in words: `at most 500 µA`, `from 4.75 to 5.25 V`.
    pub fn limits(&self) -> String {
        match (self.min, self.max) {
            (Some(a), Some(b)) => format!("from {a} to {b} {}", self.unit),
            (None, Some(b)) => format!("at most {b} {}", self.unit),
            (Some(a), None) => format!("at least {a} {}", self.unit),
            (None, None) => format!("in {}", self.unit),
        }
    }
}

/// A catalogue's check: its name, or a table with what it measures.
#[derive(Deserialize)]
#[serde(untagged)]
enum CheckEntry {
    Name(String),
    Measured {
        check: String,
        unit: String,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
}

/// Parameters of the predictions (`[prediction]` in the catalogue).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PredictionConfig {
    /// A battery predicted to fall below its minimum within this many days gets a work order.
    pub horizon_days: f64,
    /// Battery estimates needed (one per discharge on battery), and the days they must span.
    pub min_points: usize,
    pub min_days: f64,
    /// How many recent estimates the trend uses.
    pub window: usize,
    /// CUSUM decision interval, in excess alarms.
    pub cusum_h: f64,
    /// The fleet's occlusion alarms per infusing hour before it has 500 h of its own.
    pub prior_rate: f64,
    /// New fault codes per infusing hour, the same way.
    pub prior_fault_rate: f64,
}

impl Default for PredictionConfig {
    fn default() -> Self {
        PredictionConfig {
            horizon_days: 45.0,
            min_points: 5,
            min_days: 7.0,
            window: 30,
            cusum_h: 10.0,
            prior_rate: 0.02,
            prior_fault_rate: 0.002,
        }
    }
}

/// What an item has used, from its telemetry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    pub runtime_hours: Option<f64>,
    pub actuator_cycles: Option<u64>,
}

/// What an item had at its last service (`None`: no record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastService {
    pub at: Option<Timestamp>,
    pub runtime_hours: Option<f64>,
    pub actuator_cycles: Option<u64>,
}

/// A reason a service is due now, with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DueNow {
    /// `interval`, `runtime` or `cycles` (one open work order per asset and reason).
    pub reason: String,
    pub detail: String,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

impl Policy {
    /// When the next time-based service is due: the last service plus the interval, else the
    /// date the registry gives (`service_due`).
    pub fn next_due(
        &self,
        last: &LastService,
        registry_due: Option<Timestamp>,
    ) -> Option<Timestamp> {
        match (last.at, self.every_days) {
            (Some(at), Some(d)) => Some(Timestamp(at.millis() + d as i64 * DAY_MS)),
            _ => registry_due,
        }
    }

    /// The usage at which the next service falls due: the last service's reading plus the
    /// interval; without a record, the next multiple of the interval above the first reading
    /// (as a meter-based schedule counts: 2000 h, 4000 h, ...).
    fn next_at<T: Copy + Into<f64>>(
        interval: Option<T>,
        last: Option<T>,
        first: Option<f64>,
    ) -> Option<f64> {
        let i: f64 = interval?.into();
        if i <= 0.0 {
            return None;
        }
        match last {
            Some(l) => Some(l.into() + i),
            None => first.map(|f| ((f / i).floor() + 1.0) * i),
        }
    }

    /// What is due at `now` given the usage now and at the first reading Orderly had.
    pub fn due(
        &self,
        now: Timestamp,
        usage: &Usage,
        first: &Usage,
        last: &LastService,
        registry_due: Option<Timestamp>,
    ) -> Vec<DueNow> {
        let mut out = Vec::new();
        if let Some(at) = self.next_due(last, registry_due)
            && now >= at
        {
            out.push(DueNow {
                reason: "interval".into(),
                detail: match self.every_days {
                    Some(d) => format!(
                        "scheduled service (every {d} days) was due {}",
                        at.date_words()
                    ),
                    None => format!("scheduled service was due {}", at.date_words()),
                },
            });
        }
        if let (Some(h), Some(next)) = (
            usage.runtime_hours,
            Self::next_at(self.runtime_hours, last.runtime_hours, first.runtime_hours),
        ) && h >= next
        {
            out.push(DueNow {
                reason: "runtime".into(),
                detail: format!(
                    "runtime {h:.0} h reached the service point at {next:.0} h (every {:.0} h)",
                    self.runtime_hours.unwrap_or_default()
                ),
            });
        }
        let cycles = |c: Option<u64>| c.map(|c| c as f64);
        if let (Some(c), Some(next)) = (
            usage.actuator_cycles,
            Self::next_at(
                self.actuator_cycles.map(|c| c as f64),
                cycles(last.actuator_cycles),
                cycles(first.actuator_cycles),
            ),
        ) && c as f64 >= next
        {
            out.push(DueNow {
                reason: "cycles".into(),
                detail: format!(
                    "{c} actuator cycles reached the service point at {next:.0} (every {})",
                    self.actuator_cycles.unwrap_or_default()
                ),
            });
        }
        out
    }
}

/// A checked catalogue.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Catalogue {
    pub policies: Vec<Policy>,
    pub prediction: PredictionConfig,
    /// Policies for kinds or models the registry does not have: skipped, and said.
    #[serde(skip)]
    pub ignored: Vec<FileError>,
}

impl Catalogue {
    /// The policy for an item: its model's, else its kind's.
    pub fn policy(&self, kind: &str, model: Option<&str>) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|p| p.kind == kind && p.model.is_some() && p.model.as_deref() == model)
            .or_else(|| {
                self.policies
                    .iter()
                    .find(|p| p.kind == kind && p.model.is_none())
            })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    policy: Vec<Entry>,
    #[serde(default)]
    prediction: PredictionConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    kind: Spanned<String>,
    model: Option<Spanned<String>>,
    #[serde(default)]
    risk: Option<Spanned<String>>,
    every: Option<Spanned<String>>,
    runtime_hours: Option<Spanned<f64>>,
    actuator_cycles: Option<Spanned<i64>>,
    #[serde(default)]
    checks: Vec<Spanned<CheckEntry>>,
    battery_min_hours: Option<Spanned<f64>>,
    occlusion_ratio: Option<Spanned<f64>>,
    fault_ratio: Option<Spanned<f64>>,
}

/// `6 months`, `1 year`, `90 days`, `2 weeks` as days (a month is 30.44 days, a year 365.25).
fn interval_days(text: &str) -> Option<u32> {
    let mut parts = text.split_whitespace();
    let n: f64 = parts.next()?.parse().ok()?;
    let unit = parts.next()?;
    if parts.next().is_some() || n.is_nan() || n <= 0.0 {
        return None;
    }
    let days = match unit.trim_end_matches('s') {
        "day" => n,
        "week" => n * 7.0,
        "month" => n * 30.4375,
        "year" => n * 365.25,
        _ => return None,
    };
    (1.0..=3660.0)
        .contains(&days.round())
        .then_some(days.round() as u32)
}

/// Parses and checks a catalogue. `models` maps each kind of the registry to its models.
pub fn parse(
    file: &str,
    text: &str,
    models: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Catalogue, FileErrors> {
    let src = Source::new(file, text);
    let raw: File = src.parse_toml()?;
    let mut errors = Vec::new();
    let mut ignored = Vec::new();
    let mut seen: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
    let mut out = Vec::new();
    let kinds: Vec<&str> = models.keys().map(String::as_str).collect();
    for e in raw.policy {
        let kind = e.kind.get_ref();
        let at = e.kind.span().start;
        let mut ok = true;
        let mut skip = false;
        match models.get(kind) {
            None => match crate::source::suggest(kind, kinds.iter().copied()) {
                Some(near) => {
                    errors.push(src.error_at(
                        at,
                        format!("no asset of kind {kind:?} in the registry"),
                        Some(format!("did you mean {near:?}?")),
                    ));
                    ok = false;
                }
                None => {
                    ignored.push(src.error_at(
                        at,
                        format!("no asset of kind {kind:?} in the registry: policy ignored"),
                        Some(format!("the registry has: {}", kinds.join(", "))),
                    ));
                    skip = true;
                }
            },
            Some(known) => {
                if let Some(m) = &e.model
                    && !known.contains(m.get_ref())
                {
                    ignored.push(src.error_at(
                        m.span().start,
                        format!(
                            "no {kind} of model {:?} in the registry: policy ignored",
                            m.get_ref()
                        ),
                        Some(format!(
                            "the registry's {kind} models: {}",
                            known.iter().cloned().collect::<Vec<_>>().join(", ")
                        )),
                    ));
                    skip = true;
                }
            }
        }
        let risk = match e.risk.as_ref().map(|r| (r, r.get_ref().as_str())) {
            None => Risk::Medium,
            Some((_, "high")) => Risk::High,
            Some((_, "medium")) => Risk::Medium,
            Some((_, "low")) => Risk::Low,
            Some((r, other)) => {
                errors.push(src.error_at(
                    r.span().start,
                    format!("unknown risk {other:?}"),
                    Some("high, medium or low".into()),
                ));
                ok = false;
                Risk::Medium
            }
        };
        let every_days = match &e.every {
            None => None,
            Some(s) => {
                match interval_days(s.get_ref()) {
                    Some(d) => Some(d),
                    None => {
                        errors.push(src.error_at(
                        s.span().start,
                        format!("`every` {:?} is not an interval", s.get_ref()),
                        Some("write it as \"6 months\", \"1 year\", \"90 days\" or \"2 weeks\"".into()),
                    ));
                        ok = false;
                        None
                    }
                }
            }
        };
        let runtime_hours = match &e.runtime_hours {
            Some(h) if !(*h.get_ref() > 0.0 && *h.get_ref() <= 1e6) => {
                errors.push(src.error_at(
                    h.span().start,
                    format!("runtime_hours {} is out of range", h.get_ref()),
                    Some("hours of use between services, more than 0".into()),
                ));
                ok = false;
                None
            }
            h => h.as_ref().map(|h| *h.get_ref()),
        };
        let actuator_cycles = match &e.actuator_cycles {
            Some(c) if !(1..=100_000_000).contains(c.get_ref()) => {
                errors.push(src.error_at(
                    c.span().start,
                    format!("actuator_cycles {} is out of range", c.get_ref()),
                    Some("motor runs between services, more than 0".into()),
                ));
                ok = false;
                None
            }
            c => c.as_ref().map(|c| *c.get_ref() as u64),
        };
        if ok && every_days.is_none() && runtime_hours.is_none() && actuator_cycles.is_none() {
            errors.push(src.error_at(
                at,
                format!("the policy for {kind} has no interval"),
                Some("give `every` (time), `runtime_hours` or `actuator_cycles`".into()),
            ));
            ok = false;
        }
        let battery_min_hours = match &e.battery_min_hours {
            Some(h) if !(*h.get_ref() > 0.0 && *h.get_ref() <= 100.0) => {
                errors.push(src.error_at(
                    h.span().start,
                    format!("battery_min_hours {} is out of range", h.get_ref()),
                    Some("the shortest acceptable run time on battery, hours (0 to 100)".into()),
                ));
                ok = false;
                None
            }
            h => h.as_ref().map(|h| *h.get_ref()),
        };
        let mut ratio = |r: &Option<Spanned<f64>>, name: &str| match r {
            Some(r) if !(*r.get_ref() > 1.0 && *r.get_ref() <= 100.0) => {
                errors.push(src.error_at(
                    r.span().start,
                    format!("{name} {} is out of range", r.get_ref()),
                    Some(
                        "how many times the fleet's rate to watch for, above 1 (2 is usual)".into(),
                    ),
                ));
                ok = false;
                None
            }
            r => r.as_ref().map(|r| *r.get_ref()),
        };
        let occlusion_ratio = ratio(&e.occlusion_ratio, "occlusion_ratio");
        let fault_ratio = ratio(&e.fault_ratio, "fault_ratio");
        let model = e.model.as_ref().map(|m| m.get_ref().clone());
        let key = (kind.clone(), model.clone());
        if let Some(&first) = seen.get(&key) {
            let (line, _) = src.line_col(first);
            errors.push(src.error_at(
                at,
                format!(
                    "a second policy for {kind}{}",
                    model.as_deref().map(|m| format!(" {m}")).unwrap_or_default()
                ),
                Some(format!("keep one; the first is on line {line}")),
            ));
            ok = false;
        }
        seen.insert(key, at);
        let mut checks = Vec::new();
        let mut measures = BTreeMap::new();
        for c in &e.checks {
            let (name, measure) = match c.get_ref() {
                CheckEntry::Name(n) => (n.clone(), None),
                CheckEntry::Measured {
                    check,
                    unit,
                    min,
                    max,
                } => (
                    check.clone(),
                    Some(Measure {
                        unit: unit.clone(),
                        min: *min,
                        max: *max,
                    }),
                ),
            };
            if name.trim().is_empty() || checks.contains(&name) {
                errors.push(src.error_at(
                    c.span().start,
                    if name.trim().is_empty() {
                        "an empty check".to_string()
                    } else {
                        format!("the check {name:?} twice")
                    },
                    Some("name each check once".into()),
                ));
                ok = false;
            }
            if let Some(m) = &measure {
                let bad = |v: Option<f64>| v.is_some_and(|v| !v.is_finite());
                if m.unit.trim().is_empty()
                    || bad(m.min)
                    || bad(m.max)
                    || (m.min.is_none() && m.max.is_none())
                    || m.min.zip(m.max).is_some_and(|(a, b)| a > b)
                {
                    errors.push(src.error_at(
                        c.span().start,
                        format!("the check {name:?} measures nothing it can pass or fail"),
                        Some(
                            "give its unit and a `min`, a `max` or both (min below max), e.g. { check = \"electrical safety\", unit = \"uA\", max = 500 }".into(),
                        ),
                    ));
                    ok = false;
                }
                measures.insert(name.clone(), m.clone());
            }
            checks.push(name);
        }
        if ok && !skip {
            let (line, _) = src.line_col(at);
            out.push(Policy {
                kind: kind.clone(),
                model,
                risk,
                every_days,
                runtime_hours,
                actuator_cycles,
                checks,
                measures,
                battery_min_hours,
                occlusion_ratio,
                fault_ratio,
                defined_at: format!("{file}:{line}"),
            });
        }
    }
    if errors.is_empty() {
        Ok(Catalogue {
            policies: out,
            prediction: raw.prediction,
            ignored,
        })
    } else {
        Err(FileErrors(errors))
    }
}

pub mod calendar;
pub mod report;
pub mod work_order;

pub use calendar::*;
pub use report::*;
pub use work_order::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn models() -> BTreeMap<String, BTreeSet<String>> {
        [
            ("infusion_pump", vec!["Alaris 8100 LVP"]),
            ("bed", vec!["Centrella Smart+"]),
        ]
        .into_iter()
        .map(|(k, m)| (k.to_string(), m.into_iter().map(String::from).collect()))
        .collect()
    }

    const GOOD: &str = r#"
[[policy]]
kind = "infusion_pump"
risk = "high"
every = "6 months"
runtime_hours = 2000
checks = ["flow accuracy", "occlusion pressure"]

[[policy]]
kind = "bed"
every = "1 year"
actuator_cycles = 20000

[[policy]]
kind = "bed"
model = "Centrella Smart+"
risk = "medium"
every = "1 year"
actuator_cycles = 25000
"#;

    #[test]
    fn a_model_policy_wins_over_its_kinds() {
        let c = parse("m.toml", GOOD, &models()).unwrap();
        let p = c.policy("infusion_pump", Some("Alaris 8100 LVP")).unwrap();
        assert_eq!(
            (p.risk, p.every_days, p.runtime_hours),
            (Risk::High, Some(183), Some(2000.0))
        );
        assert_eq!(p.defined_at, "m.toml:3");
        assert_eq!(
            c.policy("bed", Some("Centrella Smart+"))
                .unwrap()
                .actuator_cycles,
            Some(25000)
        );
        assert_eq!(
            c.policy("bed", Some("Other")).unwrap().actuator_cycles,
            Some(20000)
        );
        assert!(c.policy("wheelchair", None).is_none());
    }

    #[test]
    fn mistakes_are_located_with_the_fix() {
        let e = parse(
            "m.toml",
            "[[policy]]\nkind = \"infusion_pmp\"\nevery = \"6 months\"\n",
            &models(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("m.toml:2:8: no asset of kind \"infusion_pmp\""),
            "{e}"
        );
        assert!(e.contains("did you mean \"infusion_pump\"?"), "{e}");
        let e = parse(
            "m.toml",
            "[[policy]]\nkind = \"bed\"\nevery = \"6 moons\"\n",
            &models(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("m.toml:3:9: `every` \"6 moons\" is not an interval"),
            "{e}"
        );
        let e = parse(
            "m.toml",
            "[[policy]]\nkind = \"bed\"\nrisk = \"extreme\"\n",
            &models(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown risk \"extreme\""), "{e}");
        let e = parse("m.toml", "[[policy]]\nkind = \"bed\"\n", &models())
            .unwrap_err()
            .to_string();
        assert!(e.contains("has no interval"), "{e}");
        let e = parse(
            "m.toml",
            &format!("{GOOD}\n[[policy]]\nkind = \"bed\"\nevery = \"2 years\"\n"),
            &models(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("a second policy for bed (fix: keep one; the first is on line 10)"),
            "{e}"
        );
        // A kind this site does not have is skipped and said, not an error.
        let c = parse(
            "m.toml",
            "[[policy]]\nkind = \"dialysis_machine\"\nevery = \"1 year\"\n",
            &models(),
        )
        .unwrap();
        assert!(c.policies.is_empty());
        assert_eq!(c.ignored.len(), 1);
    }

    #[test]
    fn due_by_time_by_runtime_and_by_cycles() {
        let c = parse("m.toml", GOOD, &models()).unwrap();
        let pump = c.policy("infusion_pump", None).unwrap();
        let day = |d: i64| Timestamp(d * DAY_MS);
        let none = LastService::default();
        // Without a record, runtime counts to the next multiple of 2000 h above the first
        // reading (10234 h: the service point is 12000 h).
        let first = Usage {
            runtime_hours: Some(10_234.0),
            actuator_cycles: None,
        };
        let at = |h: f64| Usage {
            runtime_hours: Some(h),
            actuator_cycles: None,
        };
        assert!(
            pump.due(day(10), &at(11_999.0), &first, &none, Some(day(100)))
                .is_empty()
        );
        let due = pump.due(day(10), &at(12_000.5), &first, &none, Some(day(100)));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].reason, "runtime");
        assert!(
            due[0]
                .detail
                .contains("runtime 12000 h reached the service point at 12000 h"),
            "{}",
            due[0].detail
        );
        // The registry's date, then the interval from the last service.
        let due = pump.due(day(100), &at(11_000.0), &first, &none, Some(day(100)));
        assert_eq!(due[0].reason, "interval");
        let serviced = LastService {
            at: Some(day(100)),
            runtime_hours: Some(11_000.0),
            actuator_cycles: None,
        };
        assert!(
            pump.due(day(282), &at(12_999.0), &first, &serviced, Some(day(100)))
                .is_empty()
        );
        let due = pump.due(day(283), &at(13_000.0), &first, &serviced, Some(day(100)));
        let reasons: Vec<&str> = due.iter().map(|d| d.reason.as_str()).collect();
        assert_eq!(reasons, ["interval", "runtime"]);
        let bed = c.policy("bed", None).unwrap();
        let cycles = |n| Usage {
            runtime_hours: None,
            actuator_cycles: Some(n),
        };
        let due = bed.due(day(1), &cycles(40_000), &cycles(39_990), &none, None);
        assert_eq!(due[0].reason, "cycles");
        assert!(
            bed.due(day(1), &cycles(39_999), &cycles(39_990), &none, None)
                .is_empty()
        );
    }

    fn order(id: &str, reason: &str, risk: Risk, opened: i64) -> WorkOrder {
        WorkOrder {
            id: id.into(),
            asset: format!("A-{id}"),
            asset_kind: "infusion_pump".into(),
            model: None,
            unit: None,
            reason: reason.into(),
            detail: "d".into(),
            risk,
            checks: vec!["flow, accuracy".into()],
            measures: Default::default(),
            results: vec![],
            status: WorkOrderStatus::Open,
            opened_at: Timestamp(opened * DAY_MS),
            opened_by: "orderly".into(),
            updated_at: Timestamp(opened * DAY_MS),
            scheduled_for: None,
            assignee: None,
            started_at: None,
            closed_at: None,
            closed_by: None,
            notes: vec![],
            usage_at_close: None,
        }
    }

    /// A measured check passes only within its limits; every check is entered once, or none.
    #[test]
    fn check_results_are_checked_against_the_catalogue() {
        let text = r#"
[[policy]]
kind = "infusion_pump"
every = "6 months"
checks = [
  "alarms",
  { check = "leakage", unit = "µA", max = 500.0 },
]
"#;
        let c = parse("m.toml", text, &models()).unwrap();
        let p = c.policy("infusion_pump", None).unwrap();
        assert_eq!(p.checks, ["alarms", "leakage"]);
        let mut wo = order("1", "interval", Risk::High, 1);
        wo.checks = p.checks.clone();
        wo.measures = p.measures.clone();
        let e = |check: &str, passed: Option<bool>, value: Option<f64>| CheckEntered {
            check: check.into(),
            passed,
            value,
        };
        assert_eq!(check_results(&wo, &[]), Ok(vec![]));
        let ok = check_results(
            &wo,
            &[
                e("alarms", Some(true), None),
                e("leakage", None, Some(180.0)),
            ],
        )
        .unwrap();
        assert!(ok.iter().all(|r| r.passed));
        assert_eq!(ok[1].unit.as_deref(), Some("µA"));
        // Over the limit: failed, and never passed by hand.
        let over = check_results(
            &wo,
            &[
                e("alarms", Some(true), None),
                e("leakage", None, Some(650.0)),
            ],
        )
        .unwrap();
        assert!(!over[1].passed);
        let why = check_results(
            &wo,
            &[
                e("alarms", Some(true), None),
                e("leakage", Some(true), Some(650.0)),
            ],
        )
        .unwrap_err();
        assert!(why.contains("outside its limits (at most 500 µA)"), "{why}");
        for (bad, says) in [
            (
                vec![e("alarms", Some(true), None)],
                "no result for: leakage",
            ),
            (
                vec![
                    e("alarms", Some(true), None),
                    e("leakage", Some(true), None),
                ],
                "measures a value: enter it in µA",
            ),
            (
                vec![e("alarms", None, None), e("leakage", None, Some(1.0))],
                "say whether it passed or failed",
            ),
            (
                vec![e("flow", Some(true), None)],
                "no check \"flow\" on this work order",
            ),
            (
                vec![e("alarms", Some(true), None), e("alarms", Some(true), None)],
                "entered twice",
            ),
        ] {
            let why = check_results(&wo, &bad).unwrap_err();
            assert!(why.contains(says), "{why}");
        }
        // A measured check with nothing to pass or fail is a catalogue error, located.
        let bad = text.replace("max = 500.0", "min = 600.0, max = 500.0");
        let e = parse("m.toml", &bad, &models()).unwrap_err().to_string();
        assert!(
            e.contains("m.toml:7:") && e.contains("measures nothing"),
            "{e}"
        );
    }

    #[test]
    fn completion_on_time_late_overdue_and_downtime() {
        let day = |d: i64| Some(Timestamp(d * DAY_MS));
        let mut on_time = order("1", "interval", Risk::High, 10);
        on_time.status = WorkOrderStatus::Done;
        on_time.started_at = day(20);
        on_time.closed_at = Some(Timestamp(20 * DAY_MS + 2 * 3_600_000));
        let mut late = order("2", "runtime", Risk::High, 10);
        late.status = WorkOrderStatus::Done;
        late.closed_at = day(50);
        let overdue = order("3", "interval", Risk::High, 30);
        let pending = order("4", "interval", Risk::Medium, 80);
        let repair = order("5", "repair", Risk::High, 15);
        let mut cancelled = order("6", "interval", Risk::Medium, 12);
        cancelled.status = WorkOrderStatus::Cancelled;
        cancelled.closed_at = day(13);
        let all = [on_time, late, overdue, pending, repair, cancelled];
        let r = report(&all, Timestamp(0), Timestamp(90 * DAY_MS), 30.0);
        let high = &r.completion[0];
        assert_eq!(high.risk, Risk::High);
        assert_eq!(
            (high.due, high.on_time, high.late, high.overdue),
            (3, 1, 1, 1)
        );
        assert!((high.completion.unwrap() - 1.0 / 3.0).abs() < 1e-9);
        let medium = &r.completion[1];
        assert_eq!((medium.due, medium.cancelled, medium.pending), (2, 1, 1));
        assert_eq!(medium.completion, Some(0.0));
        assert_eq!(r.overdue.len(), 1);
        assert_eq!(r.overdue[0].work_order, "3");
        assert!((r.overdue[0].days_overdue - 30.0).abs() < 1e-9);
        assert_eq!(r.downtime.len(), 1);
        assert!((r.downtime_hours - 2.0).abs() < 1e-9);
        assert!(r.to_csv().starts_with("risk,due,on_time"));
        assert!(
            r.to_csv().contains("high,3,1,1,0,1,0,0.333"),
            "{}",
            r.to_csv()
        );
    }

    #[test]
    fn scheduled_work_is_an_icalendar_feed() {
        let mut w = order("7", "interval", Risk::High, 10);
        w.scheduled_for = Some(Timestamp(11 * DAY_MS + 9 * 3_600_000));
        w.assignee = Some("Bo Biomed".into());
        let unscheduled = order("8", "interval", Risk::High, 10);
        let cal = ical(&[w, unscheduled], "general", Timestamp(0));
        assert!(
            cal.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{cal}"
        );
        assert_eq!(cal.matches("BEGIN:VEVENT").count(), 1);
        assert!(cal.contains("UID:7@general.orderly\r\n"), "{cal}");
        assert!(cal.contains("DTSTART:19700112T090000Z\r\n"), "{cal}");
        assert!(cal.contains("DTEND:19700112T100000Z\r\n"), "{cal}");
        assert!(cal.contains("Checks: flow\\, accuracy"), "{cal}");
        assert!(cal.lines().all(|l| l.len() <= 76), "{cal}");
        assert!(cal.ends_with("END:VCALENDAR\r\n"));
    }
}
