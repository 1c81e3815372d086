//! Rules as files: what becomes an alert, for whom, and how it escalates.
//!
//! A rule file (`rules/*.toml`) holds `[[rule]]` tables: a subject kind, a condition in CEL
//! (the Common Expression Language: no loops, bounded cost) over the subject's facts, a hold
//! time, an `unless`, priority and kind (IEC 60601-1-8), recipients, an escalation chain,
//! reminders and a message template. [`RuleSet::compile`] checks every file at once and reports
//! each problem with file, line, column and the fix: unknown facts, type errors, misspelt
//! values, unknown units and roles, bad durations. [`lifecycle::Alerting`] is the alert state
//! machine the world runs the rules with.
//!
//! Core crate: no IO, no async, no wall clock (time is passed in), never panics on input.
//! Depends on orderly-model, cel, humantime, serde, toml, thiserror.

mod check;
pub mod facts;
pub mod lifecycle;
mod rule;
pub mod schema;

pub use check::Problem;
pub use facts::{Fact, FactDelta, Facts};
pub use lifecycle::{AlertCommand, Alerting, CommandError, Key, Placement, Tracker};
pub use rule::{
    Action, Condition, EvalError, Known, MAX_CONDITION_LEN, ReloadSummary, Resolve, Rule, RuleSet,
    SYSTEM_PREFIX, Step, Target, Template, after,
};
pub use schema::{FactType, SubjectType};

#[cfg(test)]
mod tests;
