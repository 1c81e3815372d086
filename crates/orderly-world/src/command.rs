//! Every write that reaches the world from outside, as one type. The API, the binary's rules
//! reloader and the tests all send a [`Command`] and get an [`Applied`] (the event that
//! records it, to be answered once that event is committed, and what it did) or a
//! [`Refused`] (why nothing changed). The world thread is the only place that applies them.

use crate::{Hospital, WorldConfig};
use orderly_model::command::{Decided, Decision, SuggestionError};
use orderly_model::maintenance::{MaintenanceOp, Recall, RecallOp, WorkOrder, WorkOrderError};
use orderly_model::{Alert, AssetStatus, StatusError};
use orderly_rules::{AlertCommand, CommandError, ReloadSummary, RuleSet};
use std::sync::Arc;

/// A write to the world.
#[derive(Clone, Debug)]
pub enum Command {
    /// Acknowledge, resolve or silence an alert.
    Alert(AlertCommand),
    /// Open a work order or move one on.
    Maintenance(MaintenanceOp),
    /// Issue or close a recall.
    Recall(RecallOp),
    /// A nurse confirms or dismisses a bed suggestion.
    Suggestion { id: String, decision: Decision },
    /// A person sets an asset's status.
    Status {
        asset: String,
        to: AssetStatus,
        by: String,
        reason: String,
    },
    /// A checked rules directory: parameters in force from the next step, the rule set swapped
    /// whole, surviving rules keeping their state.
    Rules {
        rules: Arc<RuleSet>,
        config: Box<WorldConfig>,
    },
    /// A changed rules directory was refused (a technical alert to admins; the rules in force
    /// keep running).
    RulesRejected { report: String },
}

impl Command {
    /// What it is, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Alert(AlertCommand::Acknowledge { .. }) => "acknowledge",
            Command::Alert(AlertCommand::Resolve { .. }) => "resolve",
            Command::Alert(AlertCommand::Silence { .. }) => "silence",
            Command::Maintenance(_) => "work order",
            Command::Recall(_) => "recall",
            Command::Suggestion { .. } => "suggestion",
            Command::Status { .. } => "status",
            Command::Rules { .. } => "rules",
            Command::RulesRejected { .. } => "rules rejected",
        }
    }
}

/// What a command did.
#[derive(Clone, Debug)]
pub enum Done {
    /// The alert as it now stands.
    Alert(Alert),
    WorkOrder(WorkOrder),
    Recall(Recall),
    /// The suggestion decided, and the bed command it became, if any.
    Decided(Decided),
    /// An asset's status set.
    Status,
    /// The rule set swapped: what was added, changed, removed.
    Rules(ReloadSummary),
    /// Recorded (a refused rule set).
    Noted,
}

/// A command applied: the sequence number of the event that records it (it leaves with the
/// next step; answer only once it is committed), and what it did.
#[derive(Clone, Debug)]
pub struct Applied {
    pub seq: Option<u64>,
    pub done: Done,
}

/// Why a command changed nothing.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Alert(#[from] CommandError),
    #[error(transparent)]
    WorkOrder(#[from] WorkOrderError),
    #[error(transparent)]
    Suggestion(#[from] SuggestionError),
    #[error(transparent)]
    Status(#[from] StatusError),
}

impl Hospital {
    /// Applies a command from outside: its event leaves with the next step.
    pub fn apply(&mut self, command: Command) -> Result<Applied, Refused> {
        tracing::debug!(command = command.name(), "applying");
        let world = &mut self.world;
        Ok(match command {
            Command::Alert(cmd) => {
                let (seq, alert) = crate::alerts::command(world, cmd)?;
                Applied {
                    seq: Some(seq),
                    done: Done::Alert(alert),
                }
            }
            Command::Maintenance(op) => {
                let (seq, wo) = match op {
                    MaintenanceOp::Open {
                        asset,
                        reason,
                        detail,
                        by,
                    } => crate::maintenance::open(world, &asset, &reason, &detail, &by)?,
                    MaintenanceOp::Act { id, action, by } => {
                        crate::maintenance::act(world, &id, action, &by)?
                    }
                };
                Applied {
                    seq: Some(seq),
                    done: Done::WorkOrder(wo),
                }
            }
            Command::Recall(op) => {
                let (seq, r) = crate::maintenance::recall(world, op)?;
                Applied {
                    seq: Some(seq),
                    done: Done::Recall(r),
                }
            }
            Command::Suggestion { id, decision } => {
                let d = crate::commands::decide(world, &id, decision)?;
                Applied {
                    seq: Some(d.seq),
                    done: Done::Decided(d),
                }
            }
            Command::Status {
                asset,
                to,
                by,
                reason,
            } => Applied {
                seq: Some(crate::status::set_by_person(
                    world, &asset, to, &by, &reason,
                )?),
                done: Done::Status,
            },
            Command::Rules { rules, config } => {
                self.set_config(*config);
                Applied {
                    seq: None,
                    done: Done::Rules(crate::alerts::replace_rules(&mut self.world, rules)),
                }
            }
            Command::RulesRejected { report } => {
                crate::alerts::rules_rejected(world, report);
                Applied {
                    seq: None,
                    done: Done::Noted,
                }
            }
        })
    }
}
