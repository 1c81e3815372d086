//! The maintenance report: scheduled-maintenance completion by risk class, overdue work orders and downtime per item, as JSON or CSV.

use super::*;

/// Scheduled maintenance, by risk class: what fell due in the window and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CompletionRow {
    pub risk: Risk,
    /// Scheduled work orders (`interval`, `runtime`, `cycles`) opened in the window.
    pub due: usize,
    /// Done within the grace period after falling due.
    pub on_time: usize,
    pub late: usize,
    pub cancelled: usize,
    /// Still open at the end of the window: past the grace period, and within it.
    pub overdue: usize,
    pub pending: usize,
    /// on_time / (due - cancelled), when anything fell due (the Joint Commission expects 1.0
    /// for high-risk equipment).
    pub completion: Option<f64>,
}

/// Time an item was out of service being worked on.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DowntimeRow {
    pub asset: String,
    pub asset_kind: String,
    pub hours: f64,
    pub work_orders: usize,
}

/// An overdue work order at the end of the window.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OverdueRow {
    pub work_order: String,
    pub asset: String,
    pub reason: String,
    pub risk: Risk,
    pub days_overdue: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MaintenanceReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub grace_days: f64,
    pub completion: Vec<CompletionRow>,
    pub overdue: Vec<OverdueRow>,
    pub downtime: Vec<DowntimeRow>,
    pub downtime_hours: f64,
}

/// The maintenance report over `[from, to)` from the work orders (each as it stands now).
pub fn report(
    orders: &[WorkOrder],
    from: Timestamp,
    to: Timestamp,
    grace_days: f64,
) -> MaintenanceReport {
    let grace = (grace_days * DAY_MS as f64) as i64;
    let scheduled = |w: &WorkOrder| matches!(w.reason.as_str(), "interval" | "runtime" | "cycles");
    let mut rows: BTreeMap<Risk, CompletionRow> = BTreeMap::new();
    let mut overdue = Vec::new();
    for w in orders.iter().filter(|w| scheduled(w)) {
        // Open at the end of the window (closed after it counts as open then).
        let open_at_end = w.closed_at.is_none_or(|c| c >= to) && w.opened_at < to;
        if open_at_end && to.since(w.opened_at) > grace {
            overdue.push(OverdueRow {
                work_order: w.id.clone(),
                asset: w.asset.clone(),
                reason: w.reason.clone(),
                risk: w.risk,
                days_overdue: (to.since(w.opened_at) - grace) as f64 / DAY_MS as f64,
            });
        }
        if w.opened_at < from || w.opened_at >= to {
            continue;
        }
        let r = rows.entry(w.risk).or_insert_with(|| CompletionRow {
            risk: w.risk,
            ..CompletionRow::default()
        });
        r.due += 1;
        match (w.status, w.closed_at) {
            (WorkOrderStatus::Cancelled, Some(c)) if c < to => r.cancelled += 1,
            (WorkOrderStatus::Done, Some(c)) if c < to => {
                if c.since(w.opened_at) <= grace {
                    r.on_time += 1;
                } else {
                    r.late += 1;
                }
            }
            _ => {
                if to.since(w.opened_at) > grace {
                    r.overdue += 1;
                } else {
                    r.pending += 1;
                }
            }
        }
    }
    for r in rows.values_mut() {
        let n = r.due - r.cancelled;
        r.completion = (n > 0).then(|| r.on_time as f64 / n as f64);
    }
    let mut down: BTreeMap<String, DowntimeRow> = BTreeMap::new();
    for w in orders {
        let Some(start) = w.started_at else { continue };
        let end = w.closed_at.unwrap_or(to).min(to);
        let (a, b) = (start.max(from), end);
        if b <= a {
            continue;
        }
        let row = down.entry(w.asset.clone()).or_insert_with(|| DowntimeRow {
            asset: w.asset.clone(),
            asset_kind: w.asset_kind.clone(),
            hours: 0.0,
            work_orders: 0,
        });
        row.hours += b.since(a) as f64 / 3_600_000.0;
        row.work_orders += 1;
    }
    let mut downtime: Vec<DowntimeRow> = down.into_values().collect();
    downtime.sort_by(|a, b| b.hours.total_cmp(&a.hours).then(a.asset.cmp(&b.asset)));
    overdue.sort_by(|a, b| {
        b.risk
            .cmp(&a.risk)
            .then(b.days_overdue.total_cmp(&a.days_overdue))
    });
    MaintenanceReport {
        from,
        to,
        grace_days,
        completion: rows.into_values().rev().collect(),
        overdue,
        downtime_hours: downtime.iter().map(|d| d.hours).sum(),
        downtime,
    }
}

impl MaintenanceReport {
    /// The completion table as CSV (a spreadsheet for the environment-of-care committee).
    pub fn to_csv(&self) -> String {
        let mut out = String::from("risk,due,on_time,late,cancelled,overdue,pending,completion\n");
        for r in &self.completion {
            let risk = match r.risk {
                Risk::High => "high",
                Risk::Medium => "medium",
                Risk::Low => "low",
            };
            out.push_str(&format!(
                "{risk},{},{},{},{},{},{},{}\n",
                r.due,
                r.on_time,
                r.late,
                r.cancelled,
                r.overdue,
                r.pending,
                r.completion.map_or(String::new(), |c| format!("{c:.3}"))
            ));
        }
        out
    }
}
