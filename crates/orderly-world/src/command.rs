//! Every write that reaches the world from outside, as one type. The API, the binary's rules
//! reloader and the tests all send a [`Command`] and get an [`Applied`] (the event that
//! records it, to be answered once that event is committed, and what it did) or a
//! [`Refused`] (why nothing changed). The world thread is the only place that applies them.

use crate::{Hospital, WorldConfig};
use orderly_model::command::{Decided, Decision, SuggestionError};
use orderly_model::maintenance::{
    MaintenanceOp, Recall, RecallOp, WorkOrder, WorkOrderAction, WorkOrderError,
};
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
    /// A hospital system Orderly sends alerts to (an alert manager, a webhook) has been
    /// unreachable too long (`problem` in words: a technical alert to admins and biomedical
    /// engineering), or is reachable again (`None`: that alert resolved).
    Integration {
        destination: String,
        problem: Option<String>,
    },
    /// Admit, transfer, discharge, update, assess a patient (HL7 ADT and ORU, or the REST API).
    Census {
        op: crate::census::CensusOp,
        origin: crate::census::Origin,
    },
    /// A person moves a bed's turnover on (cleaning, ready, block, unblock).
    Turnover {
        bed: String,
        action: crate::turnover::TurnAction,
        by: String,
    },
}

/// The longest text a person may enter (a reason, a note, a title, a name): a paragraph. Every
/// event that carries one stays far below what an MQTT broker or client accepts in one packet,
/// so a long text can never stop alerts from going out.
pub const MAX_TEXT_CHARS: usize = 2000;
/// The most serial numbers one recall may list, each at most [`MAX_ID_CHARS`].
pub const MAX_SERIALS: usize = 5000;
/// The longest identifier or serial number.
pub const MAX_ID_CHARS: usize = 128;

impl Command {
    /// The texts a person entered, with the field's name and its limit.
    fn texts(&self) -> Vec<(&'static str, &str, usize)> {
        fn t<'a>(name: &'static str, s: &'a str) -> (&'static str, &'a str, usize) {
            (name, s, MAX_TEXT_CHARS)
        }
        let mut out = Vec::new();
        match self {
            Command::Alert(AlertCommand::Acknowledge { by, .. })
            | Command::Alert(AlertCommand::Silence { by, .. }) => out.push(t("by", by)),
            Command::Alert(AlertCommand::Resolve { by, reason, .. }) => {
                out.extend([t("by", by), t("reason", reason)])
            }
            Command::Alert(AlertCommand::Disposition { disposition: d, .. }) => {
                out.push(("manager", d.manager.as_str(), MAX_ID_CHARS));
                out.extend(d.by.as_deref().map(|b| t("by", b)));
                out.extend(d.device.as_deref().map(|v| t("device", v)));
            }
            Command::Integration {
                destination,
                problem,
            } => {
                out.push(("destination", destination.as_str(), MAX_ID_CHARS));
                out.extend(problem.as_deref().map(|p| t("problem", p)));
            }
            Command::Maintenance(MaintenanceOp::Open {
                asset,
                reason,
                detail,
                by,
            }) => out.extend([
                ("asset", asset.as_str(), MAX_ID_CHARS),
                t("reason", reason),
                t("detail", detail),
                t("by", by),
            ]),
            Command::Maintenance(MaintenanceOp::Act { action, by, .. }) => {
                out.push(t("by", by));
                match action {
                    WorkOrderAction::Schedule {
                        assignee: Some(a), ..
                    } => out.push(t("assignee", a)),
                    WorkOrderAction::Complete { notes, results } => {
                        if let Some(n) = notes {
                            out.push(t("notes", n));
                        }
                        out.extend(results.iter().map(|r| t("check", &r.check)));
                    }
                    WorkOrderAction::Cancel { reason } => out.push(t("reason", reason)),
                    WorkOrderAction::Note { text } => out.push(t("text", text)),
                    _ => {}
                }
            }
            Command::Recall(RecallOp::Issue { notice, by }) => {
                out.extend([
                    t("title", &notice.title),
                    t("detail", &notice.detail),
                    ("model", notice.model.as_str(), MAX_ID_CHARS),
                    t("by", by),
                ]);
                for s in [&notice.serial_from, &notice.serial_to]
                    .into_iter()
                    .flatten()
                {
                    out.push(("serial", s, MAX_ID_CHARS));
                }
                out.extend(
                    notice
                        .serials
                        .iter()
                        .map(|s| ("serial", s.as_str(), MAX_ID_CHARS)),
                );
            }
            Command::Recall(RecallOp::Close { by, note, .. }) => {
                out.extend([t("by", by), t("note", note)])
            }
            Command::Suggestion { decision, .. } => match decision {
                Decision::Confirm { by } => out.push(t("by", by)),
                Decision::Dismiss { by, reason } => out.extend([t("by", by), t("reason", reason)]),
            },
            Command::Status { by, reason, .. } => out.extend([t("by", by), t("reason", reason)]),
            Command::Rules { .. } | Command::RulesRejected { .. } => {}
            Command::Turnover { bed, action, by } => {
                out.extend([("bed", bed.as_str(), MAX_ID_CHARS), t("by", by)]);
                if let crate::turnover::TurnAction::Block { reason }
                | crate::turnover::TurnAction::Unblock { reason } = action
                {
                    out.push(t("reason", reason));
                }
            }
            Command::Census { op, origin } => {
                out.push(t("by", &origin.by));
                match op {
                    crate::census::CensusOp::Admit { patient, bed } => {
                        out.push(("patient", patient.id.as_str(), MAX_ID_CHARS));
                        out.push(t("name", &patient.name));
                        if let Some(b) = bed {
                            out.push(("bed", b.as_str(), MAX_ID_CHARS));
                        }
                    }
                    crate::census::CensusOp::Update { name: Some(n), .. } => out.push(t("name", n)),
                    _ => {}
                }
            }
        }
        out
    }

    /// Why its texts are too long, if they are: every text a person enters has a limit.
    pub fn too_long(&self) -> Option<String> {
        if let Command::Recall(RecallOp::Issue { notice, .. }) = self
            && notice.serials.len() > MAX_SERIALS
        {
            return Some(format!(
                "a recall lists {} serial numbers; at most {MAX_SERIALS} (use a range)",
                notice.serials.len()
            ));
        }
        self.texts().into_iter().find_map(|(name, text, max)| {
            let n = text.chars().count();
            (n > max).then(|| format!("{name} is {n} characters long; at most {max}"))
        })
    }

    /// What it is, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Alert(AlertCommand::Acknowledge { .. }) => "acknowledge",
            Command::Alert(AlertCommand::Resolve { .. }) => "resolve",
            Command::Alert(AlertCommand::Silence { .. }) => "silence",
            Command::Alert(AlertCommand::Disposition { .. }) => "disposition",
            Command::Integration { .. } => "integration",
            Command::Maintenance(_) => "work order",
            Command::Recall(_) => "recall",
            Command::Suggestion { .. } => "suggestion",
            Command::Status { .. } => "status",
            Command::Rules { .. } => "rules",
            Command::RulesRejected { .. } => "rules rejected",
            Command::Census { op, .. } => op.name(),
            Command::Turnover { .. } => "turnover",
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
    /// A census operation: the patient as they now stand, in plain words what it did.
    Census(crate::census::CensusDone),
    /// A bed's turnover as it now stands.
    Turnover(orderly_model::census::BedTurn),
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
    #[error(transparent)]
    Census(#[from] crate::census::CensusError),
    #[error(transparent)]
    Turnover(#[from] crate::turnover::TurnoverError),
    /// A text over its limit ([`MAX_TEXT_CHARS`]).
    #[error("{0}")]
    TooLong(String),
}

impl Hospital {
    /// Applies a command from outside: its event leaves with the next step.
    pub fn apply(&mut self, command: Command) -> Result<Applied, Refused> {
        tracing::debug!(command = command.name(), "applying");
        if let Some(why) = command.too_long() {
            return Err(Refused::TooLong(why));
        }
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
            Command::Turnover { bed, action, by } => {
                let (seq, state) = crate::turnover::act(world, &bed, action, &by)?;
                Applied {
                    seq: Some(seq),
                    done: Done::Turnover(state),
                }
            }
            Command::Census { op, origin } => {
                let d = crate::census::apply(world, op, origin)?;
                Applied {
                    seq: d.seq,
                    done: Done::Census(d),
                }
            }
            Command::RulesRejected { report } => {
                crate::alerts::rules_rejected(world, report);
                Applied {
                    seq: None,
                    done: Done::Noted,
                }
            }
            Command::Integration {
                destination,
                problem,
            } => {
                crate::alerts::integration(world, &destination, problem);
                Applied {
                    seq: None,
                    done: Done::Noted,
                }
            }
        })
    }
}
