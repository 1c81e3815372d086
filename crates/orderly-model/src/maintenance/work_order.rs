//! Work orders (open, scheduled, in progress, done or cancelled), recalls, and the requests that move them.

use super::*;
use std::collections::BTreeMap;

/// Where a work order stands.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderStatus {
    Open,
    Scheduled,
    InProgress,
    Done,
    Cancelled,
}

impl WorkOrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkOrderStatus::Open => "open",
            WorkOrderStatus::Scheduled => "scheduled",
            WorkOrderStatus::InProgress => "in_progress",
            WorkOrderStatus::Done => "done",
            WorkOrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            WorkOrderStatus::Open,
            WorkOrderStatus::Scheduled,
            WorkOrderStatus::InProgress,
            WorkOrderStatus::Done,
            WorkOrderStatus::Cancelled,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Not yet done or cancelled.
    pub fn is_open(self) -> bool {
        !matches!(self, WorkOrderStatus::Done | WorkOrderStatus::Cancelled)
    }
}

/// A note on a work order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Note {
    pub at: Timestamp,
    pub by: String,
    pub text: String,
}

/// A piece of maintenance work on one item. One is open per item and reason at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkOrder {
    pub id: String,
    pub asset: String,
    pub asset_kind: String,
    pub model: Option<String>,
    /// The item's home unit.
    pub unit: Option<String>,
    /// `interval`, `runtime`, `cycles` (its policy), `rule:{id}`, `manual`, ...
    pub reason: String,
    /// Why, in words: which signal, which threshold.
    pub detail: String,
    pub risk: Risk,
    /// What the policy says to check.
    #[serde(default)]
    pub checks: Vec<String>,
    /// The checks that measure a value, with their unit and limits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub measures: BTreeMap<String, super::Measure>,
    /// The results entered when it was completed: each check passed or failed, with the value
    /// measured where the check measures one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<CheckResult>,
    pub status: WorkOrderStatus,
    pub opened_at: Timestamp,
    /// `orderly` or a person.
    pub opened_by: String,
    pub updated_at: Timestamp,
    pub scheduled_for: Option<Timestamp>,
    pub assignee: Option<String>,
    pub started_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    pub closed_by: Option<String>,
    #[serde(default)]
    pub notes: Vec<Note>,
    /// The meters when it was done: the next usage interval counts from here.
    pub usage_at_close: Option<Usage>,
}

/// One check's result, as stored with its work order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub check: String,
    pub passed: bool,
    /// What was measured, in `unit` (checks that measure a value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One check's result as an engineer enters it: passed or failed, or the value measured (a
/// measured check passes when the value is within its limits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckEntered {
    pub check: String,
    #[serde(default)]
    pub passed: Option<bool>,
    #[serde(default)]
    pub value: Option<f64>,
}

/// Checks what an engineer entered against a work order's checks: every check once, a value
/// for each measured check (which then passes only within its limits), nothing else.
pub fn check_results(wo: &WorkOrder, entered: &[CheckEntered]) -> Result<Vec<CheckResult>, String> {
    let mut out: Vec<CheckResult> = Vec::new();
    for e in entered {
        if !wo.checks.contains(&e.check) {
            return Err(format!(
                "no check {:?} on this work order (its checks: {})",
                e.check,
                if wo.checks.is_empty() {
                    "none".to_string()
                } else {
                    wo.checks.join("; ")
                }
            ));
        }
        if out.iter().any(|r| r.check == e.check) {
            return Err(format!("the check {:?} is entered twice", e.check));
        }
        let r = match (wo.measures.get(&e.check), e.value) {
            (Some(m), Some(v)) => {
                if !v.is_finite() {
                    return Err(format!("{:?}: the value is not a number", e.check));
                }
                let within = m.passes(v);
                if e.passed == Some(true) && !within {
                    return Err(format!(
                        "{:?}: {v} {} is outside its limits ({}): it cannot pass",
                        e.check,
                        m.unit,
                        m.limits()
                    ));
                }
                CheckResult {
                    check: e.check.clone(),
                    passed: within && e.passed != Some(false),
                    value: Some(v),
                    unit: Some(m.unit.clone()),
                }
            }
            (Some(m), None) => {
                return Err(format!(
                    "{:?} measures a value: enter it in {} ({})",
                    e.check,
                    m.unit,
                    m.limits()
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "{:?} measures nothing: say passed or failed",
                    e.check
                ));
            }
            (None, None) => CheckResult {
                check: e.check.clone(),
                passed: e
                    .passed
                    .ok_or_else(|| format!("{:?}: say whether it passed or failed", e.check))?,
                value: None,
                unit: None,
            },
        };
        out.push(r);
    }
    if !out.is_empty() {
        let missing: Vec<&str> = wo
            .checks
            .iter()
            .filter(|c| !out.iter().any(|r| &r.check == *c))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!("no result for: {}", missing.join("; ")));
        }
    }
    Ok(out)
}

/// A change a person asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum WorkOrderAction {
    /// Plan it: when, and who.
    Schedule {
        #[schema(value_type = String)]
        at: Timestamp,
        assignee: Option<String>,
    },
    /// Work begins: the item is out of service until it is done.
    Start,
    /// Done: the item's meters and interval start again; it is back in service unless a check
    /// failed. `results`: every check of the work order, or none.
    Complete {
        notes: Option<String>,
        #[serde(default)]
        results: Vec<CheckEntered>,
    },
    /// Not needed (a reason is required).
    Cancel { reason: String },
    /// A note.
    Note { text: String },
}

/// A manufacturer's or regulator's recall: a model, optionally a range or list of serials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recall {
    pub id: String,
    pub title: String,
    /// Only items of this kind (optional). (Not `kind`: events are tagged by `kind`.)
    pub asset_kind: Option<String>,
    pub model: String,
    /// Serials from `serial_from` to `serial_to`, both included, compared as text (so numbers
    /// in serials must have the same width: `PUMPSN-0100` to `PUMPSN-0150`).
    pub serial_from: Option<String>,
    pub serial_to: Option<String>,
    /// Or exactly these serials. Neither: every item of the model.
    #[serde(default)]
    pub serials: Vec<String>,
    /// What is wrong and what to do (the notice's text or reference).
    pub detail: String,
    /// `open` or `closed`.
    pub status: String,
    pub opened_at: Timestamp,
    pub opened_by: String,
    pub closed_at: Option<Timestamp>,
    pub closed_by: Option<String>,
    /// The items it covered when it was issued.
    pub assets: Vec<String>,
}

impl Recall {
    /// Whether it covers an item of this kind, model and serial.
    pub fn covers(&self, kind: &str, model: Option<&str>, serial: Option<&str>) -> bool {
        if model != Some(self.model.as_str())
            || self.asset_kind.as_deref().is_some_and(|k| k != kind)
        {
            return false;
        }
        if !self.serials.is_empty() {
            return serial.is_some_and(|s| self.serials.iter().any(|x| x == s));
        }
        match (&self.serial_from, &self.serial_to, serial) {
            (None, None, _) => true,
            (_, _, None) => false,
            (from, to, Some(s)) => {
                from.as_deref().is_none_or(|f| s >= f) && to.as_deref().is_none_or(|t| s <= t)
            }
        }
    }
}

/// A recall as a person issues it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecallNotice {
    pub title: String,
    #[serde(default)]
    pub asset_kind: Option<String>,
    pub model: String,
    #[serde(default)]
    pub serial_from: Option<String>,
    #[serde(default)]
    pub serial_to: Option<String>,
    #[serde(default)]
    pub serials: Vec<String>,
    #[serde(default)]
    pub detail: String,
}

/// What a person asks about recalls.
#[derive(Clone, Debug, PartialEq)]
pub enum RecallOp {
    /// Issue one: every item it covers goes out of service at once, with a work order each.
    Issue { notice: RecallNotice, by: String },
    /// Close it (the manufacturer's action is complete).
    Close {
        id: String,
        by: String,
        note: String,
    },
}

/// What a person asks of the maintenance capability.
#[derive(Clone, Debug, PartialEq)]
pub enum MaintenanceOp {
    /// Open a work order by hand (a repair, an inspection).
    Open {
        asset: String,
        reason: String,
        detail: String,
        by: String,
    },
    /// Move a work order on.
    Act {
        id: String,
        action: WorkOrderAction,
        by: String,
    },
}

/// Why a work-order change was refused; nothing changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkOrderError {
    #[error("no open work order {0:?}")]
    NotFound(String),
    #[error("no asset {0:?}")]
    NoAsset(String),
    #[error("{asset} already has an open work order for {reason}: {id}")]
    Duplicate {
        asset: String,
        reason: String,
        id: String,
    },
    #[error("work order {id} is {status}: cannot {action}")]
    Transition {
        id: String,
        status: &'static str,
        action: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
}

/// From every work order (any order): those still open, each item's last service (its latest
/// scheduled work order done: `interval`, `runtime` or `cycles`), and the (item, reason) pairs
/// cancelled since that service.
#[allow(clippy::type_complexity)]
pub fn still_open(
    mut orders: Vec<WorkOrder>,
) -> (
    Vec<WorkOrder>,
    Vec<(String, LastService)>,
    Vec<(String, String)>,
) {
    orders
        .sort_by(|a, b| (a.closed_at, a.opened_at, &a.id).cmp(&(b.closed_at, b.opened_at, &b.id)));
    let mut open = Vec::new();
    let mut last: BTreeMap<String, LastService> = BTreeMap::new();
    let mut cancelled: BTreeMap<(String, String), Timestamp> = BTreeMap::new();
    for w in orders {
        match w.status {
            s if s.is_open() => open.push(w),
            WorkOrderStatus::Done
                if matches!(w.reason.as_str(), "interval" | "runtime" | "cycles") =>
            {
                let u = w.usage_at_close.unwrap_or_default();
                last.insert(
                    w.asset.clone(),
                    LastService {
                        at: w.closed_at,
                        runtime_hours: u.runtime_hours,
                        actuator_cycles: u.actuator_cycles,
                    },
                );
            }
            WorkOrderStatus::Cancelled => {
                cancelled.insert(
                    (w.asset.clone(), w.reason.clone()),
                    w.closed_at.unwrap_or(w.updated_at),
                );
            }
            _ => {}
        }
    }
    open.sort_by(|a, b| (a.opened_at, &a.id).cmp(&(b.opened_at, &b.id)));
    let cancelled = cancelled
        .into_iter()
        .filter(|((asset, _), at)| last.get(asset).and_then(|l| l.at).is_none_or(|s| s < *at))
        .map(|(k, _)| k)
        .collect();
    (open, last.into_iter().collect(), cancelled)
}
