//! Commands back to beds: a rule with `action = "bed_command"` asks a bed for settings that move
//! nothing (`exit_alarm`, `brakes`, `surface`) once its condition has held for the rule's `for`.
//!
//! Safe by design: a moving bed is never commanded; a setting already in place is not sent; one
//! command per bed and setting is pending at a time; a bed gets at most `max_per_window`
//! commands per `window_s`; a rule does not ask the same bed again within `retry_s` of its last
//! attempt. Every command has an id and a reason (the rule), is committed as `bed.command`
//! before it is published on `bed/{device}/command`, and ends as `bed.command_acked` (applied,
//! refused, or timed out after `ack_timeout_s`). A bed that refuses or stays silent carries the
//! failure as a fact (`bed.command_failed`) for a technical alert, until a command is applied.

use crate::devices::BedFrame;
use crate::ingest::CommandAckIn;
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, Subject};
use crate::{Capability, Clock, Phase, Registry};
use bevy_ecs::prelude::*;
use orderly_model::reading::{AckResult, BedState, ExitAlarm, Surface};
use orderly_model::{EventKind, Timestamp};
use orderly_rules::Action;
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};

/// Parameters (`[commands]` in `rules/detectors.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CommandConfig {
    pub ack_timeout_s: f32,
    pub max_per_window: usize,
    pub window_s: f32,
    pub retry_s: f32,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            ack_timeout_s: 30.0,
            max_per_window: 6,
            window_s: 600.0,
            retry_s: 300.0,
        }
    }
}

/// What the rules said this step about bed-command rules: (rule, bed, holds). Written by the
/// alerts capability's evaluation, read here.
#[derive(Resource, Default)]
pub struct Wants(pub Vec<(String, String, bool)>);

/// A bed's last command failure, for the rules (`bed.command_failed`).
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct CommandState {
    pub failed: Option<String>,
}

struct Pending {
    bed: Entity,
    bed_id: String,
    keys: Vec<String>,
    rule: String,
    at: Timestamp,
}

#[derive(Resource, Default)]
struct Ledger {
    /// (rule, bed) -> since when the condition holds.
    holding: BTreeMap<(String, String), Timestamp>,
    /// (rule, bed) -> the last command it sent.
    attempted: BTreeMap<(String, String), Timestamp>,
    pending: BTreeMap<String, Pending>,
    /// Per bed, when its recent commands were sent.
    sent: BTreeMap<String, VecDeque<Timestamp>>,
}

#[derive(Resource, Clone)]
struct Config(CommandConfig);

pub struct CommandsPlugin(pub CommandConfig);

impl Capability for CommandsPlugin {
    fn name(&self) -> &'static str {
        "bed commands"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.insert_resource(Config(self.0.clone()));
        world.init_resource::<Wants>();
        world.init_resource::<Ledger>();
        for e in crate::registry::smart_beds(world) {
            world.entity_mut(e).insert(CommandState::default());
        }
        schedule.add_systems(acks.in_set(Phase::Derive));
        schedule.add_systems(issue.in_set(Phase::Rules).after(crate::alerts::evaluate));
    }
}

pub(crate) fn set_config(world: &mut World, cfg: &CommandConfig) {
    if world.contains_resource::<Config>() {
        world.insert_resource(Config(cfg.clone()));
    }
}

fn ms(s: f32) -> i64 {
    (s.max(0.0) * 1000.0) as i64
}

/// The setting's current value as the rule grammar writes it.
fn current(state: &BedState, key: &str) -> Option<String> {
    Some(match key {
        "exit_alarm" => match state.exit_alarm {
            ExitAlarm::Off => "off",
            // Sounding is armed as far as a command goes.
            ExitAlarm::Armed | ExitAlarm::Alarming => "armed",
        }
        .to_string(),
        "brakes" => state.brakes.to_string(),
        "surface" => match state.surface {
            Surface::Static => "static",
            Surface::Alternating => "alternating",
            Surface::Rotation => "rotation",
        }
        .to_string(),
        _ => return None,
    })
}

/// The value as JSON for the command payload.
fn json_value(key: &str, v: &str) -> serde_json::Value {
    match key {
        "brakes" => serde_json::Value::Bool(v == "true"),
        _ => serde_json::Value::String(v.to_string()),
    }
}

fn acks(
    clock: Res<Clock>,
    cfg: Res<Config>,
    mut input: MessageReader<CommandAckIn>,
    mut ledger: ResMut<Ledger>,
    mut states: Query<&mut CommandState>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    let mut ended: Vec<(String, &'static str, Option<String>)> = Vec::new();
    for m in input.read() {
        // An ack for a command this bed did not get (or one already settled) is ignored.
        if ledger
            .pending
            .get(&m.ack.command_id)
            .is_some_and(|p| p.bed == m.bed)
        {
            let result = match m.ack.result {
                AckResult::Applied => "applied",
                AckResult::Refused => "refused",
            };
            ended.push((m.ack.command_id.clone(), result, m.ack.reason.clone()));
        }
    }
    let timeout = ms(cfg.0.ack_timeout_s);
    let late: Vec<String> = ledger
        .pending
        .iter()
        .filter(|(_, p)| now.since(p.at) >= timeout)
        .map(|(id, _)| id.clone())
        .collect();
    for id in late {
        if !ended.iter().any(|e| e.0 == id) {
            ended.push((
                id,
                "timed_out",
                Some(format!("no acknowledgement in {timeout} ms")),
            ));
        }
    }
    for (id, result, reason) in ended {
        let Some(p) = ledger.pending.remove(&id) else {
            continue;
        };
        if let Ok(mut st) = states.get_mut(p.bed) {
            let failed = (result != "applied").then(|| {
                format!(
                    "{} ({}): {}",
                    p.keys.join(", "),
                    result.replace('_', " "),
                    reason.clone().unwrap_or_default()
                )
            });
            st.set_if_neq(CommandState { failed });
        }
        tracing::info!(command = %id, bed = %p.bed_id, result, "bed command settled");
        outbox.push(
            now,
            EventKind::BedCommandAcked {
                command_id: id,
                bed: p.bed_id,
                rule: p.rule,
                result: result.to_string(),
                reason,
            },
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn issue(
    clock: Res<Clock>,
    cfg: Res<Config>,
    registry: Res<Registry>,
    rules: Res<crate::alerts::Rules>,
    mut wants: ResMut<Wants>,
    mut ledger: ResMut<Ledger>,
    beds: Query<(&Subject, &AssetInfo, Option<&BedFrame>)>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    for (rule, bed, holds) in wants.0.drain(..) {
        let key = (rule, bed);
        if holds {
            ledger.holding.entry(key).or_insert(now);
        } else {
            ledger.holding.remove(&key);
        }
    }
    if ledger.holding.is_empty() {
        return;
    }
    let window = ms(cfg.0.window_s);
    let due: Vec<((String, String), Timestamp)> = ledger
        .holding
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for ((rule_id, bed_id), since) in due {
        let Some(rule) = rules.set.get(&rule_id) else {
            ledger.holding.remove(&(rule_id, bed_id));
            continue;
        };
        let Action::BedCommand(set) = &rule.action else {
            continue;
        };
        if now.since(since) < rule.hold_ms {
            continue;
        }
        let key = (rule_id.clone(), bed_id.clone());
        if ledger
            .attempted
            .get(&key)
            .is_some_and(|t| now.since(*t) < ms(cfg.0.retry_s))
        {
            continue;
        }
        let Some((e, (_, asset, frame))) = registry
            .subjects
            .get(&bed_id)
            .and_then(|e| beds.get(*e).ok().map(|b| (*e, b)))
        else {
            continue;
        };
        // Never a moving bed, nor one whose state is unknown.
        let Some(frame) = frame.filter(|f| !f.state.moving) else {
            continue;
        };
        let Some(device) = asset.0.device.clone() else {
            continue;
        };
        let wanted: BTreeMap<&str, &str> = set
            .iter()
            .filter(|(k, v)| current(&frame.state, k).as_deref() != Some(v.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let busy = ledger
            .pending
            .values()
            .any(|p| p.bed == e && p.keys.iter().any(|k| wanted.contains_key(k.as_str())));
        if busy {
            continue;
        }
        let recent = ledger.sent.entry(bed_id.clone()).or_default();
        while recent.front().is_some_and(|t| now.since(*t) >= window) {
            recent.pop_front();
        }
        if recent.len() >= cfg.0.max_per_window {
            tracing::warn!(bed = %bed_id, rule = %rule_id, "bed command rate limit reached");
            continue;
        }
        recent.push_back(now);
        let command_id = format!("c-{}", outbox.next_seq + 1);
        let payload: serde_json::Map<String, serde_json::Value> = wanted
            .iter()
            .map(|(k, v)| (k.to_string(), json_value(k, v)))
            .collect();
        ledger.attempted.insert(key, now);
        ledger.pending.insert(
            command_id.clone(),
            Pending {
                bed: e,
                bed_id: bed_id.clone(),
                keys: wanted.keys().map(|k| k.to_string()).collect(),
                rule: rule_id.clone(),
                at: now,
            },
        );
        tracing::info!(command = %command_id, bed = %bed_id, rule = %rule_id, "bed command");
        outbox.push(
            now,
            EventKind::BedCommand {
                command_id,
                bed: bed_id.clone(),
                device,
                set: payload,
                reason: format!("rule {rule_id}"),
                rule: rule_id.clone(),
            },
        );
    }
}
