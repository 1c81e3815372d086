//! Systems tested the way Bevy's `how_to_test_systems` does: build a world, feed it, step it
//! with a virtual clock, look at what came out.

use super::*;
use orderly_model::reading::{
    BedHeight, BedState, ExitAlarm, Rails, RejectReason, Sighting, Sightings, Surface,
};
use orderly_model::{Alert, AssetStatus, EventKind, Payload, Priority, Reading};
use orderly_rules::Fact;

pub(super) const FLOORPLAN: &str = include_str!("../../../../floorplans/demo.toml");
pub(super) const SEED: &str = include_str!("../../../../floorplans/demo-seed.toml");

/// The shipped alert rules these tests run with (all but the maintenance alerts, which the
/// maintenance tests add), from the bundle Orderly itself ships.
pub(super) fn shipped_rules() -> Vec<(&'static str, &'static str)> {
    rules_dir::BUNDLED
        .into_iter()
        .filter(|(n, _)| {
            [
                "rules/beds.toml",
                "rules/falls.toml",
                "rules/pumps.toml",
                "rules/tracking.toml",
                "rules/turning.toml",
                "rules/vitals.toml",
            ]
            .contains(n)
        })
        .collect()
}

pub(super) fn site() -> (Arc<Floorplan>, Seed) {
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    let seed = Seed::parse("demo-seed.toml", SEED).unwrap();
    (fp, seed)
}

/// Compiles rule files against the demo site.
pub(super) fn rules(files: &[(&str, &str)]) -> Arc<RuleSet> {
    let (fp, seed) = site();
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    Arc::new(RuleSet::compile(&files, &known(&fp, &seed)).unwrap())
}

pub(super) fn hospital_with(rules: Arc<RuleSet>) -> Hospital {
    let (fp, seed) = site();
    Hospital::new(fp, &seed, WorldConfig::default(), rules)
}

pub(super) fn hospital() -> Hospital {
    hospital_with(rules(&shipped_rules()))
}

pub(super) fn t(s: i64) -> Timestamp {
    Timestamp(1_795_000_000_000 + s * 1000)
}

pub(super) fn sighting(at: Timestamp, rx: &str, tag: &str, rssi: f32, ir: bool) -> Inbound {
    Inbound::Reading(Reading {
        at,
        device: rx.into(),
        ts: at,
        seq: None,
        payload: Payload::Sightings(Sightings {
            sightings: vec![Sighting {
                tag: tag.into(),
                rssi,
                battery: None,
                ir,
            }],
        }),
    })
}

pub(super) fn moves(events: &[OutEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LocationChanged { subject, to, .. } => Some((subject.clone(), to.clone())),
            _ => None,
        })
        .collect()
}

/// Runs `secs` seconds where each second both receivers hear the tag, and returns the events.
pub(super) fn walk(
    h: &mut Hospital,
    from: i64,
    secs: i64,
    tag: &str,
    a: (&str, f32),
    b: (&str, f32),
) -> Vec<OutEvent> {
    let mut out = Vec::new();
    for s in from..from + secs {
        h.push(sighting(t(s), a.0, tag, a.1, false));
        h.push(sighting(t(s), b.0, tag, b.1, false));
        out.extend(h.step(t(s)));
    }
    out
}

mod alerting;
mod bed_commands;
mod bed_exits;
mod census;
mod environment;
mod equipment;
mod fall_alerts;
mod infusions;
mod locating;
mod servicing;
mod turns;
mod vitals;

/// Helpers each file defines are shared with the others.
#[allow(unused_imports)]
use {
    alerting::*, bed_commands::*, bed_exits::*, equipment::*, fall_alerts::*, locating::*,
    servicing::*, turns::*,
};

/// The typed calls these tests read best with, each through the one command path
/// ([`Hospital::apply`]), so the tests drive exactly what the API sends.
trait Commands {
    fn command(&mut self, cmd: AlertCommand) -> Result<(u64, orderly_model::Alert), CommandError>;
    fn set_status(
        &mut self,
        asset: &str,
        to: AssetStatus,
        by: &str,
        reason: &str,
    ) -> Result<u64, StatusError>;
    fn decide(
        &mut self,
        id: &str,
        decision: orderly_model::command::Decision,
    ) -> Result<orderly_model::command::Decided, orderly_model::command::SuggestionError>;
    fn maintenance(
        &mut self,
        op: orderly_model::maintenance::MaintenanceOp,
    ) -> Result<
        (u64, orderly_model::maintenance::WorkOrder),
        orderly_model::maintenance::WorkOrderError,
    >;
    fn work_order(
        &mut self,
        id: &str,
        action: orderly_model::maintenance::WorkOrderAction,
        by: &str,
    ) -> Result<
        (u64, orderly_model::maintenance::WorkOrder),
        orderly_model::maintenance::WorkOrderError,
    > {
        self.maintenance(orderly_model::maintenance::MaintenanceOp::Act {
            id: id.into(),
            action,
            by: by.into(),
        })
    }
    fn open_work_order(
        &mut self,
        asset: &str,
        reason: &str,
        detail: &str,
        by: &str,
    ) -> Result<
        (u64, orderly_model::maintenance::WorkOrder),
        orderly_model::maintenance::WorkOrderError,
    > {
        self.maintenance(orderly_model::maintenance::MaintenanceOp::Open {
            asset: asset.into(),
            reason: reason.into(),
            detail: detail.into(),
            by: by.into(),
        })
    }
    fn recall(
        &mut self,
        op: orderly_model::maintenance::RecallOp,
    ) -> Result<(u64, orderly_model::maintenance::Recall), orderly_model::maintenance::WorkOrderError>;
    /// A new rule set with the parameters in force unchanged.
    fn replace_rules(&mut self, rules: Arc<RuleSet>) -> ReloadSummary;
    fn rules_rejected(&mut self, report: String);
}

impl Commands for Hospital {
    fn command(&mut self, cmd: AlertCommand) -> Result<(u64, orderly_model::Alert), CommandError> {
        match self.apply(Command::Alert(cmd)) {
            Ok(Applied {
                seq: Some(seq),
                done: Done::Alert(a),
            }) => Ok((seq, a)),
            Err(Refused::Alert(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }
    fn set_status(
        &mut self,
        asset: &str,
        to: AssetStatus,
        by: &str,
        reason: &str,
    ) -> Result<u64, StatusError> {
        match self.apply(Command::Status {
            asset: asset.into(),
            to,
            by: by.into(),
            reason: reason.into(),
        }) {
            Ok(Applied { seq: Some(seq), .. }) => Ok(seq),
            Err(Refused::Status(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }
    fn decide(
        &mut self,
        id: &str,
        decision: orderly_model::command::Decision,
    ) -> Result<orderly_model::command::Decided, orderly_model::command::SuggestionError> {
        match self.apply(Command::Suggestion {
            id: id.into(),
            decision,
        }) {
            Ok(Applied {
                done: Done::Decided(d),
                ..
            }) => Ok(d),
            Err(Refused::Suggestion(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }
    fn maintenance(
        &mut self,
        op: orderly_model::maintenance::MaintenanceOp,
    ) -> Result<
        (u64, orderly_model::maintenance::WorkOrder),
        orderly_model::maintenance::WorkOrderError,
    > {
        match self.apply(Command::Maintenance(op)) {
            Ok(Applied {
                seq: Some(seq),
                done: Done::WorkOrder(w),
            }) => Ok((seq, w)),
            Err(Refused::WorkOrder(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }
    fn recall(
        &mut self,
        op: orderly_model::maintenance::RecallOp,
    ) -> Result<(u64, orderly_model::maintenance::Recall), orderly_model::maintenance::WorkOrderError>
    {
        match self.apply(Command::Recall(op)) {
            Ok(Applied {
                seq: Some(seq),
                done: Done::Recall(r),
            }) => Ok((seq, r)),
            Err(Refused::WorkOrder(e)) => Err(e),
            other => panic!("{other:?}"),
        }
    }
    fn replace_rules(&mut self, rules: Arc<RuleSet>) -> ReloadSummary {
        alerts::replace_rules(self.world_mut(), rules)
    }
    fn rules_rejected(&mut self, report: String) {
        self.apply(Command::RulesRejected { report }).unwrap();
    }
}
