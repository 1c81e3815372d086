//! Biomedical engineers at work over months, for a demo that starts with a service history: they
//! record each item's first service, then take the work orders Orderly opens (schedule, start,
//! complete with the results of every check, now and then a failed one that needs a repair),
//! mostly on time and sometimes late, and leave the most recent ones open as a real backlog.
//!
//! The engineers decide; the world they act on is Orderly's own (the binary runs it in virtual
//! time), so every work order, due date, prediction and completion figure on a fresh demo's
//! board comes from the same logic as live.
//!
//! Core: no IO, no clock; the same seed gives the same decisions.

use orderly_model::Timestamp;
use orderly_model::maintenance::{
    CheckEntered, MaintenanceOp, Measure, WorkOrder, WorkOrderAction, WorkOrderStatus,
    check_results,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

const DAY_MS: i64 = 24 * 3_600_000;

/// Who signs the work (the demo's engineers).
const ENGINEERS: [&str; 3] = ["Eng Kim Laine", "Eng Ravi Osei", "Eng Mia Torres"];

/// How the engineers work.
#[derive(Clone, Debug)]
pub struct EngineerConfig {
    pub seed: u64,
    /// Days from a work order opening to its planned date: high-risk items sooner.
    pub plan_days: (i64, i64),
    /// Share of work that slips by 3 to 6 weeks (late, or still overdue at the end).
    pub slip: f64,
    /// Share of checks that fail (a measured value outside its limits, or a failed test).
    pub fail: f64,
}

impl Default for EngineerConfig {
    fn default() -> Self {
        EngineerConfig {
            seed: 1,
            plan_days: (2, 14),
            slip: 0.12,
            fail: 0.006,
        }
    }
}

/// What is planned for one work order.
#[derive(Clone, Debug)]
struct Plan {
    schedule_at: Timestamp,
    work_at: Timestamp,
    who: &'static str,
}

/// The engineers: given the open work orders at a moment, what they do.
pub struct Engineers {
    cfg: EngineerConfig,
    rng: StdRng,
    plans: BTreeMap<String, Plan>,
    /// Items with a failed check waiting for their repair order, and why.
    repairs: Vec<(String, String)>,
}

impl Engineers {
    pub fn new(cfg: EngineerConfig) -> Self {
        Engineers {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            plans: BTreeMap::new(),
            repairs: Vec::new(),
        }
    }

    /// When each item's first recorded service falls within `[from, from + span)`: one per
    /// asset with a time-based policy, spread over its interval so that they fall due at
    /// different times (`every_days` per asset).
    pub fn first_services(
        &mut self,
        assets: &[(String, u32)],
        from: Timestamp,
        span_days: i64,
    ) -> Vec<(Timestamp, String)> {
        let mut out: Vec<(Timestamp, String)> = assets
            .iter()
            .map(|(id, every)| {
                let days = (*every as i64).min(span_days).max(1);
                let at = from.plus_ms(self.rng.random_range(0..days * DAY_MS));
                (at, id.clone())
            })
            .collect();
        out.sort();
        out
    }

    /// The first service of `asset` as a person records it: a work order for its interval.
    pub fn record_first(&self, asset: &str) -> MaintenanceOp {
        MaintenanceOp::Open {
            asset: asset.to_string(),
            reason: "interval".into(),
            detail: "scheduled maintenance (first service recorded in Orderly)".into(),
            by: ENGINEERS[0].to_string(),
        }
    }

    /// What the engineers do at `now` about the open work orders (work planned after the
    /// history ends stays open: the board's backlog).
    pub fn act(&mut self, now: Timestamp, open: &[WorkOrder]) -> Vec<MaintenanceOp> {
        let mut out = Vec::new();
        for (asset, why) in std::mem::take(&mut self.repairs) {
            out.push(MaintenanceOp::Open {
                asset,
                reason: "repair".into(),
                detail: format!("failed check at service: {why}"),
                by: ENGINEERS[1].to_string(),
            });
        }
        for w in open {
            let plan = match self.plans.get(&w.id) {
                Some(p) => p.clone(),
                None => {
                    let p = self.plan(w);
                    self.plans.insert(w.id.clone(), p.clone());
                    p
                }
            };
            let op = |action| MaintenanceOp::Act {
                id: w.id.clone(),
                action,
                by: plan.who.to_string(),
            };
            match w.status {
                WorkOrderStatus::Open if now >= plan.schedule_at => {
                    out.push(op(WorkOrderAction::Schedule {
                        at: plan.work_at,
                        assignee: Some(plan.who.to_string()),
                    }));
                }
                WorkOrderStatus::Scheduled if now >= plan.work_at => {
                    out.push(op(WorkOrderAction::Start));
                }
                WorkOrderStatus::InProgress => {
                    let results = self.results(w);
                    // Judged as Orderly will judge them (a value outside its limits fails).
                    let failed: Vec<String> = check_results(w, &results)
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|r| !r.passed)
                        .map(|r| r.check)
                        .collect();
                    if !failed.is_empty() {
                        self.repairs.push((w.asset.clone(), failed.join("; ")));
                    }
                    out.push(op(WorkOrderAction::Complete {
                        notes: None,
                        results,
                    }));
                }
                _ => {}
            }
        }
        let open_ids: Vec<&str> = open.iter().map(|w| w.id.as_str()).collect();
        self.plans.retain(|id, _| open_ids.contains(&id.as_str()));
        out
    }

    fn plan(&mut self, w: &WorkOrder) -> Plan {
        let (lo, hi) = match w.reason.as_str() {
            // A predicted failure: the part is ordered first.
            "battery" | "occlusion-rate" | "fault-rate" => (14, 40),
            _ => self.cfg.plan_days,
        };
        let hi = match w.risk {
            orderly_model::maintenance::Risk::High => (lo + hi) / 2,
            _ => hi,
        }
        .max(lo + 1);
        // Planned within a few days of opening (until then it is open, not scheduled).
        let schedule_at = w
            .opened_at
            .plus_ms(self.rng.random_range(0..DAY_MS * (lo + 3)));
        let mut work_at = w
            .opened_at
            .plus_ms(self.rng.random_range(lo * DAY_MS..hi * DAY_MS));
        if self.rng.random_bool(self.cfg.slip) {
            work_at = work_at.plus_ms(self.rng.random_range(21 * DAY_MS..42 * DAY_MS));
        }
        let who = ENGINEERS[self.rng.random_range(0..ENGINEERS.len())];
        Plan {
            schedule_at,
            work_at: work_at.max(schedule_at),
            who,
        }
    }

    /// A result for every check: a measured one a plausible value (inside its limits, or now
    /// and then outside them), the others passed (now and then failed).
    fn results(&mut self, w: &WorkOrder) -> Vec<CheckEntered> {
        let fail = self.cfg.fail;
        w.checks
            .iter()
            .map(|c| {
                let bad = self.rng.random_bool(fail);
                match w.measures.get(c) {
                    Some(m) => CheckEntered {
                        check: c.clone(),
                        passed: None,
                        value: Some(self.value(m, bad)),
                    },
                    None => CheckEntered {
                        check: c.clone(),
                        passed: Some(!bad),
                        value: None,
                    },
                }
            })
            .collect()
    }

    fn value(&mut self, m: &Measure, bad: bool) -> f64 {
        let u: f64 = self.rng.random();
        let v = match (m.min, m.max, bad) {
            (Some(a), Some(b), false) => a + (b - a) * (0.25 + 0.5 * u),
            (Some(a), Some(b), true) => b + (b - a) * (0.05 + 0.3 * u),
            (None, Some(b), false) => b * (0.1 + 0.5 * u),
            (None, Some(b), true) => b * (1.05 + 0.5 * u),
            (Some(a), None, false) => a * (1.3 + 0.9 * u),
            (Some(a), None, true) => a * (0.5 + 0.45 * u),
            (None, None, _) => 0.0,
        };
        (v * 100.0).round() / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderly_model::maintenance::Risk;

    fn order(id: &str, opened: i64) -> WorkOrder {
        WorkOrder {
            id: id.into(),
            asset: format!("A-{id}"),
            asset_kind: "infusion_pump".into(),
            model: None,
            unit: None,
            reason: "interval".into(),
            detail: "d".into(),
            risk: Risk::High,
            checks: vec!["alarms".into(), "leakage".into()],
            measures: [(
                "leakage".to_string(),
                Measure {
                    unit: "µA".into(),
                    min: None,
                    max: Some(500.0),
                },
            )]
            .into(),
            results: vec![],
            status: WorkOrderStatus::Open,
            opened_at: Timestamp(opened),
            opened_by: "orderly".into(),
            updated_at: Timestamp(opened),
            scheduled_for: None,
            assignee: None,
            started_at: None,
            closed_at: None,
            closed_by: None,
            notes: vec![],
            usage_at_close: None,
        }
    }

    /// An order is scheduled, started once its day comes, and completed with a result for
    /// every check that the catalogue's checking accepts; a failed one brings a repair order.
    #[test]
    fn engineers_take_an_order_through_with_results_the_checks_accept() {
        let mut e = Engineers::new(EngineerConfig {
            fail: 0.5,
            slip: 0.0,
            ..EngineerConfig::default()
        });
        let mut w = order("wo-1", 0);
        let mut t = Timestamp(0);
        let mut repairs = 0;
        for _ in 0..200 {
            t = t.plus_ms(DAY_MS / 2);
            for op in e.act(t, std::slice::from_ref(&w)) {
                match op {
                    MaintenanceOp::Act { action, .. } => match action {
                        WorkOrderAction::Schedule { .. } => w.status = WorkOrderStatus::Scheduled,
                        WorkOrderAction::Start => w.status = WorkOrderStatus::InProgress,
                        WorkOrderAction::Complete { results, .. } => {
                            let r = orderly_model::maintenance::check_results(&w, &results)
                                .expect("accepted");
                            assert_eq!(r.len(), 2);
                            w = order("wo-2", t.millis());
                        }
                        _ => {}
                    },
                    MaintenanceOp::Open { reason, .. } => {
                        assert_eq!(reason, "repair");
                        repairs += 1;
                    }
                }
            }
        }
        assert!(repairs > 0);
        assert!(t.since(Timestamp(0)) > 14 * DAY_MS);
    }
}
