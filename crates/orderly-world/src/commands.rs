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
//!
//! Settings that move the bed (`hob_deg`, `height`) are never automatic: a rule with
//! `action = "bed_suggestion"` offers them at the nursing station (`bed.suggested`). A nurse
//! confirms it through the API ([`decide`]) only while a caregiver badge is in the bed's room,
//! and it becomes a command on the same path; or dismisses it (not offered again while the
//! condition lasts, up to `suggestion_snooze_s`). A suggestion whose condition no longer holds
//! is withdrawn. Pending commands and suggestions survive a restart ([`restore`]).

use crate::devices::BedFrame;
use crate::facts::{FactCtx, FactProviders, FactSheet, RuleStanding, RulesStep, SubjectFacts};
use crate::ingest::CommandAckIn;
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, Subject};
use crate::{Capability, Clock, Phase, Registry};
use bevy_ecs::prelude::*;
use orderly_model::command::{Decided, Decision, PendingCommand as Pending, SuggestionError};
use orderly_model::reading::{AckResult, BedHeight, BedState, ExitAlarm, Surface};
use orderly_model::view::SuggestionView;
use orderly_model::{EventKind, Timestamp};
use orderly_rules::{Action, Fact};
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
    /// A dismissed suggestion is not offered again while its condition lasts, up to this long.
    pub suggestion_snooze_s: f32,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            ack_timeout_s: 30.0,
            max_per_window: 6,
            window_s: 600.0,
            retry_s: 300.0,
            suggestion_snooze_s: 3600.0,
        }
    }
}

/// A bed's last command failure, for the rules (`bed.command_failed`).
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct CommandState {
    pub failed: Option<String>,
}

struct Holding {
    since: Timestamp,
    message: String,
    room: Option<String>,
    unit: Option<String>,
}

#[derive(Resource, Default)]
struct Ledger {
    /// (rule, bed) -> since when the condition holds, and what to say about it.
    holding: BTreeMap<(String, String), Holding>,
    /// (rule, bed) -> the last command it sent.
    attempted: BTreeMap<(String, String), Timestamp>,
    pending: BTreeMap<String, (Entity, Pending)>,
    /// Per bed, when its recent commands were sent.
    sent: BTreeMap<String, VecDeque<Timestamp>>,
    /// Pending suggestions by id.
    suggestions: BTreeMap<String, (Entity, SuggestionView)>,
    /// Commands the bed said it applied, since when: waiting for a state that shows it.
    confirming: BTreeMap<String, Timestamp>,
    /// (rule, bed) -> dismissed: not offered again before then, while the condition lasts.
    snoozed: BTreeMap<(String, String), Timestamp>,
}

#[derive(Resource, Clone)]
struct Config(CommandConfig);

pub struct CommandsPlugin;

impl Capability for CommandsPlugin {
    fn name(&self) -> &'static str {
        "bed commands"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        world.insert_resource(Config(config.commands.clone()));
        world.init_resource::<Ledger>();
        for e in crate::registry::smart_beds(world) {
            world.entity_mut(e).insert(CommandState::default());
        }
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[("bed", &["command_failed", "command_failure"])],
            command_facts,
        );
        crate::facts::watch::<CommandState>(schedule);
        // After the frames: an ack is checked against the state that came with it.
        schedule.add_systems(acks.in_set(Phase::Derive).after(crate::devices::bed_frames));
        schedule.add_systems(issue.in_set(RulesStep::Act));
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        world.insert_resource(Config(config.commands.clone()));
    }
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        restore(world, &restored.commands, &restored.suggestions);
    }
}

/// Whether the bed's last command failed, in the `bed` group (a patient's bed for a patient).
fn command_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if !ctx.wants("bed") {
        return;
    }
    let failed = ctx.of_bed::<CommandState>().and_then(|c| c.failed.clone());
    f.set("bed", "command_failed", Fact::Bool(failed.is_some()));
    f.set(
        "bed",
        "command_failure",
        Fact::String(failed.unwrap_or_default()),
    );
}

/// Commands and suggestions still open when Orderly last stopped (from the store): commands
/// keep their time, so an ack that comes after the restart settles them and silence still
/// times out; suggestions stay on offer.
fn restore(world: &mut World, pending: &[Pending], suggestions: &[SuggestionView]) {
    if !world.contains_resource::<Ledger>() {
        return;
    }
    let registry = world.resource::<Registry>();
    let bed = |id: &str| registry.subjects.get(id).copied();
    let pending: Vec<(Entity, &Pending)> = pending
        .iter()
        .filter_map(|p| Some((bed(&p.bed)?, p)))
        .collect();
    let suggestions: Vec<(Entity, &SuggestionView)> = suggestions
        .iter()
        .filter_map(|s| Some((bed(&s.bed)?, s)))
        .collect();
    let mut ledger = world.resource_mut::<Ledger>();
    for (e, p) in pending {
        {
            ledger
                .attempted
                .insert((p.rule.clone(), p.bed.clone()), p.at);
            ledger
                .sent
                .entry(p.bed.clone())
                .or_default()
                .push_back(p.at);
            ledger.pending.insert(p.command_id.clone(), (e, p.clone()));
        }
    }
    for (e, s) in &suggestions {
        ledger.suggestions.insert(s.id.clone(), (*e, (*s).clone()));
    }
    // The engine says when a restored suggestion's rule no longer holds, so it is withdrawn.
    if let Some(mut standing) = world.get_resource_mut::<crate::alerts::Standing>() {
        for (_, s) in suggestions {
            standing.watch(&s.rule, &s.bed);
        }
    }
}

/// The pending suggestions (a few per unit at most), for the snapshot.
pub(crate) fn suggestions(world: &World) -> BTreeMap<String, SuggestionView> {
    world
        .get_resource::<Ledger>()
        .map(|l| {
            l.suggestions
                .iter()
                .map(|(k, (_, v))| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn ms(s: f32) -> i64 {
    (s.max(0.0) * 1000.0) as i64
}

/// Whether the bed already has the setting as the rule grammar writes it.
fn in_place(state: &BedState, key: &str, value: &str) -> bool {
    match key {
        // Sounding is armed as far as a command goes.
        "exit_alarm" => {
            let now = match state.exit_alarm {
                ExitAlarm::Off => "off",
                ExitAlarm::Armed | ExitAlarm::Alarming => "armed",
            };
            now == value
        }
        "brakes" => state.brakes.to_string() == value,
        "surface" => {
            let now = match state.surface {
                Surface::Static => "static",
                Surface::Alternating => "alternating",
                Surface::Rotation => "rotation",
            };
            now == value
        }
        "height" => {
            let now = match state.height {
                BedHeight::Low => "low",
                BedHeight::Raised => "raised",
            };
            now == value
        }
        // Within 2 degrees is in place (the angle sensor's resolution).
        "hob_deg" => value
            .parse::<f32>()
            .is_ok_and(|v| (state.hob_deg - v).abs() < 2.0),
        _ => false,
    }
}

/// The value as JSON for the command payload.
fn json_value(key: &str, v: &str) -> serde_json::Value {
    match key {
        "brakes" => serde_json::Value::Bool(v == "true"),
        "hob_deg" => v
            .parse::<u32>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| serde_json::Value::String(v.to_string())),
        _ => serde_json::Value::String(v.to_string()),
    }
}

fn payload(set: &BTreeMap<&str, &str>) -> serde_json::Map<String, serde_json::Value> {
    set.iter()
        .map(|(k, v)| (k.to_string(), json_value(k, v)))
        .collect()
}

fn acks(
    clock: Res<Clock>,
    cfg: Res<Config>,
    mut input: MessageReader<CommandAckIn>,
    mut ledger: ResMut<Ledger>,
    mut states: Query<&mut CommandState>,
    frames: Query<&BedFrame>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    let mut ended: Vec<(String, &'static str, Option<String>)> = Vec::new();
    for m in input.read() {
        // An ack for a command this bed did not get (or one already settled) is ignored.
        if ledger
            .pending
            .get(&m.ack.command_id)
            .is_some_and(|p| p.0 == m.bed)
        {
            match m.ack.result {
                // "Applied" is the bed's word; its own state has the last one.
                AckResult::Applied => {
                    ledger.confirming.insert(m.ack.command_id.clone(), m.at);
                }
                AckResult::Refused => {
                    ended.push((m.ack.command_id.clone(), "refused", m.ack.reason.clone()))
                }
            }
        }
    }
    // An acknowledged command is applied once a state the bed reported since shows its
    // settings; a state that shows otherwise makes it failed (a forged or mistaken ack).
    let confirming: Vec<(String, Timestamp)> = ledger
        .confirming
        .iter()
        .map(|(id, at)| (id.clone(), *at))
        .collect();
    for (id, acked_at) in confirming {
        let Some((bed, p)) = ledger.pending.get(&id) else {
            ledger.confirming.remove(&id);
            continue;
        };
        let Ok(frame) = frames.get(*bed) else {
            continue;
        };
        if frame.at < acked_at {
            continue;
        }
        let wrong: Vec<String> = p
            .keys
            .iter()
            .zip(&p.values)
            .filter(|(k, v)| !in_place(&frame.state, k, v))
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        ledger.confirming.remove(&id);
        if wrong.is_empty() {
            ended.push((id, "applied", None));
        } else {
            ended.push((
                id,
                "contradicted",
                Some(format!(
                    "the bed acknowledged it, but its state since does not show {}",
                    wrong.join(", ")
                )),
            ));
        }
    }
    let timeout = ms(cfg.0.ack_timeout_s);
    let late: Vec<String> = ledger
        .pending
        .iter()
        .filter(|(_, p)| now.since(p.1.at) >= timeout)
        .map(|(id, _)| id.clone())
        .collect();
    for id in late {
        if !ended.iter().any(|e| e.0 == id) {
            let why = if ledger.confirming.remove(&id).is_some() {
                format!("acknowledged, but the bed reported no state in {timeout} ms to show it")
            } else {
                format!("no acknowledgement in {timeout} ms")
            };
            ended.push((id, "timed_out", Some(why)));
        }
    }
    for (id, result, reason) in ended {
        ledger.confirming.remove(&id);
        let Some((bed, p)) = ledger.pending.remove(&id) else {
            continue;
        };
        if let Ok(mut st) = states.get_mut(bed) {
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
        tracing::info!(command = %id, bed = %p.bed, result, "bed command settled");
        outbox.push(
            now,
            EventKind::BedCommandAcked {
                command_id: id,
                bed: p.bed,
                rule: p.rule,
                result: result.to_string(),
                reason,
            },
        );
    }
}

/// Why a bed cannot be sent these settings now (the interlocks shared by rules and nurses).
enum Blocked {
    Busy(String),
    RateLimited,
}

impl Ledger {
    fn blocked(
        &mut self,
        bed: Entity,
        bed_id: &str,
        keys: &[&str],
        now: Timestamp,
        cfg: &CommandConfig,
    ) -> Option<Blocked> {
        if let Some(k) = self
            .pending
            .values()
            .flat_map(|(e, p)| p.keys.iter().filter(move |_| *e == bed))
            .find(|k| keys.contains(&k.as_str()))
        {
            return Some(Blocked::Busy(k.clone()));
        }
        let window = ms(cfg.window_s);
        let recent = self.sent.entry(bed_id.to_string()).or_default();
        while recent.front().is_some_and(|t| now.since(*t) >= window) {
            recent.pop_front();
        }
        (recent.len() >= cfg.max_per_window).then_some(Blocked::RateLimited)
    }

    /// Records and emits a command (the interlocks were checked); returns its id.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        outbox: &mut Outbox,
        now: Timestamp,
        bed: Entity,
        bed_id: &str,
        device: String,
        set: &BTreeMap<&str, &str>,
        rule: &str,
        reason: String,
    ) -> String {
        self.sent
            .entry(bed_id.to_string())
            .or_default()
            .push_back(now);
        let command_id = format!("c-{}", outbox.next_seq + 1);
        self.pending.insert(
            command_id.clone(),
            (
                bed,
                Pending {
                    command_id: command_id.clone(),
                    bed: bed_id.to_string(),
                    keys: set.keys().map(|k| k.to_string()).collect(),
                    values: set.values().map(|v| v.to_string()).collect(),
                    rule: rule.to_string(),
                    at: now,
                },
            ),
        );
        tracing::info!(command = %command_id, bed = %bed_id, rule, %reason, "bed command");
        outbox.push(
            now,
            EventKind::BedCommand {
                command_id: command_id.clone(),
                bed: bed_id.to_string(),
                device,
                set: payload(set),
                reason,
                rule: rule.to_string(),
            },
        );
        command_id
    }

    fn end_suggestion(&mut self, outbox: &mut Outbox, now: Timestamp, id: &str, end: Ending) {
        let Ending {
            outcome,
            by,
            reason,
            command_id,
        } = end;
        let Some((_, s)) = self.suggestions.remove(id) else {
            return;
        };
        tracing::info!(suggestion = %id, bed = %s.bed, outcome, by = ?by, "bed suggestion ended");
        outbox.push(
            now,
            EventKind::BedSuggestionEnded {
                suggestion_id: s.id,
                bed: s.bed,
                rule: s.rule,
                outcome: outcome.to_string(),
                by,
                reason,
                command_id,
                room: s.room,
                unit: s.unit,
            },
        );
    }

    fn suggestion_of(&self, rule: &str, bed: &str) -> Option<String> {
        self.suggestions
            .iter()
            .find(|(_, (_, s))| s.rule == rule && s.bed == bed)
            .map(|(id, _)| id.clone())
    }
}

/// How a suggestion ended: `confirmed`, `dismissed` or `withdrawn`, by whom, why, and the
/// command it became.
struct Ending {
    outcome: &'static str,
    by: Option<String>,
    reason: Option<String>,
    command_id: Option<String>,
}

impl Ending {
    fn withdrawn(why: &str) -> Self {
        Ending {
            outcome: "withdrawn",
            by: None,
            reason: Some(why.into()),
            command_id: None,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn issue(
    clock: Res<Clock>,
    cfg: Res<Config>,
    registry: Res<Registry>,
    rules: Res<crate::alerts::Rules>,
    mut standings: MessageReader<RuleStanding>,
    mut ledger: ResMut<Ledger>,
    beds: Query<(&Subject, &AssetInfo, Option<&BedFrame>)>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    let wants = standings
        .read()
        .filter(|w| matches!(w.action, Action::BedCommand(_) | Action::BedSuggestion(_)));
    for w in wants {
        let suggestion = matches!(w.action, Action::BedSuggestion(_));
        let key = (w.rule.clone(), w.subject.clone());
        if w.holds {
            let h = ledger.holding.entry(key.clone()).or_insert(Holding {
                since: now,
                message: String::new(),
                room: None,
                unit: None,
            });
            // A command says what it sets; a suggestion is offered with the rule's message.
            if suggestion && let Some(m) = &w.message {
                h.message = m.clone();
            }
            h.room = w.room.clone();
            h.unit = w.unit.clone();
        } else {
            ledger.holding.remove(&key);
        }
        if !w.when {
            // The episode is over: a dismissal no longer applies, an offer is withdrawn.
            ledger.snoozed.remove(&key);
            if let Some(id) = ledger.suggestion_of(&key.0, &key.1) {
                ledger.end_suggestion(
                    &mut outbox,
                    now,
                    &id,
                    Ending::withdrawn("the rule no longer holds"),
                );
            }
        }
    }
    // Suggestions of rules that are gone (a reload) are withdrawn.
    let orphans: Vec<String> = ledger
        .suggestions
        .iter()
        .filter(|(_, (_, s))| {
            !rules
                .set
                .get(&s.rule)
                .is_some_and(|r| matches!(r.action, Action::BedSuggestion(_)))
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in orphans {
        ledger.end_suggestion(
            &mut outbox,
            now,
            &id,
            Ending::withdrawn("the rule was removed"),
        );
    }
    if ledger.holding.is_empty() {
        return;
    }
    let due: Vec<((String, String), Timestamp)> = ledger
        .holding
        .iter()
        .map(|(k, v)| (k.clone(), v.since))
        .collect();
    for ((rule_id, bed_id), since) in due {
        let Some(rule) = rules.set.get(&rule_id) else {
            ledger.holding.remove(&(rule_id, bed_id));
            continue;
        };
        let Some(set) = rule.action.settings() else {
            continue;
        };
        let suggestion = matches!(rule.action, Action::BedSuggestion(_));
        if now.since(since) < rule.hold_ms {
            continue;
        }
        let key = (rule_id.clone(), bed_id.clone());
        let Some((e, (_, asset, frame))) = registry
            .subjects
            .get(&bed_id)
            .and_then(|e| beds.get(*e).ok().map(|b| (*e, b)))
        else {
            continue;
        };
        // Nothing for a bed whose state is unknown; nothing automatic for a moving one.
        let Some(frame) = frame else {
            continue;
        };
        let Some(device) = asset.0.device.clone() else {
            continue;
        };
        let wanted: BTreeMap<&str, &str> = set
            .iter()
            .filter(|(k, v)| !in_place(&frame.state, k, v))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        if suggestion {
            if ledger.suggestion_of(&rule_id, &bed_id).is_some()
                || ledger.snoozed.get(&key).is_some_and(|t| now < *t)
            {
                continue;
            }
            let h = &ledger.holding[&key];
            let view = SuggestionView {
                id: format!("s-{}", outbox.next_seq + 1),
                bed: bed_id.clone(),
                rule: rule_id.clone(),
                set: payload(&wanted),
                message: h.message.clone(),
                room: h.room.clone(),
                unit: h.unit.clone(),
                at: now,
            };
            tracing::info!(suggestion = %view.id, bed = %bed_id, rule = %rule_id, "bed suggestion");
            outbox.push(
                now,
                EventKind::BedSuggested {
                    suggestion_id: view.id.clone(),
                    bed: view.bed.clone(),
                    rule: view.rule.clone(),
                    set: view.set.clone(),
                    message: view.message.clone(),
                    room: view.room.clone(),
                    unit: view.unit.clone(),
                },
            );
            ledger.suggestions.insert(view.id.clone(), (e, view));
            continue;
        }
        if frame.state.moving
            || ledger
                .attempted
                .get(&key)
                .is_some_and(|t| now.since(*t) < ms(cfg.0.retry_s))
        {
            continue;
        }
        let keys: Vec<&str> = wanted.keys().copied().collect();
        match ledger.blocked(e, &bed_id, &keys, now, &cfg.0) {
            Some(Blocked::Busy(_)) => continue,
            Some(Blocked::RateLimited) => {
                tracing::warn!(bed = %bed_id, rule = %rule_id, "bed command rate limit reached");
                continue;
            }
            None => {}
        }
        ledger.attempted.insert(key, now);
        ledger.send(
            &mut outbox,
            now,
            e,
            &bed_id,
            device,
            &wanted,
            &rule_id,
            format!("rule {rule_id}"),
        );
    }
}

/// A nurse's decision on a pending suggestion (through the API). A confirmation needs a
/// caregiver badge in the bed's room (as the rules see it), a bed that is known and still,
/// no command pending for those settings and room under the bed's rate limit; it then becomes
/// a command like any other. The events go out with the next step.
pub(crate) fn decide(
    world: &mut World,
    id: &str,
    decision: Decision,
) -> Result<Decided, SuggestionError> {
    let now = world.resource::<Clock>().now;
    let cfg = world.resource::<Config>().0.clone();
    let (bed, view) = world
        .get_resource::<Ledger>()
        .and_then(|l| l.suggestions.get(id).cloned())
        .ok_or_else(|| SuggestionError::NotFound(id.to_string()))?;
    match decision {
        Decision::Dismiss { by, reason } => {
            world.resource_scope(|world, mut ledger: Mut<Ledger>| {
                let mut outbox = world.resource_mut::<Outbox>();
                ledger.snoozed.insert(
                    (view.rule.clone(), view.bed.clone()),
                    Timestamp(now.millis().saturating_add(ms(cfg.suggestion_snooze_s))),
                );
                ledger.end_suggestion(
                    &mut outbox,
                    now,
                    id,
                    Ending {
                        outcome: "dismissed",
                        by: Some(by),
                        reason: Some(reason),
                        command_id: None,
                    },
                );
                Ok(Decided {
                    seq: outbox.last_seq(),
                    command_id: None,
                })
            })
        }
        Decision::Confirm { by } => {
            let at_bedside = world
                .get::<SubjectFacts>(bed)
                .and_then(|f| f.0.get("room", "caregiver_present").cloned())
                == Some(Fact::Bool(true));
            if !at_bedside {
                return Err(SuggestionError::NobodyAtBedside {
                    room: view
                        .room
                        .clone()
                        .unwrap_or_else(|| "the bed's room (unknown)".into()),
                });
            }
            let state = world
                .get::<BedFrame>(bed)
                .map(|f| f.state.clone())
                .ok_or_else(|| SuggestionError::Unknown(view.bed.clone()))?;
            if state.moving {
                return Err(SuggestionError::Moving(view.bed.clone()));
            }
            let device = world
                .get::<AssetInfo>(bed)
                .and_then(|a| a.0.device.clone())
                .ok_or_else(|| SuggestionError::Unknown(view.bed.clone()))?;
            let set: BTreeMap<String, String> = view
                .set
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect();
            world.resource_scope(|world, mut ledger: Mut<Ledger>| {
                let wanted: BTreeMap<&str, &str> =
                    set.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let keys: Vec<&str> = wanted.keys().copied().collect();
                match ledger.blocked(bed, &view.bed, &keys, now, &cfg) {
                    Some(Blocked::Busy(setting)) => {
                        return Err(SuggestionError::Busy {
                            bed: view.bed.clone(),
                            setting,
                        });
                    }
                    Some(Blocked::RateLimited) => {
                        return Err(SuggestionError::RateLimited(view.bed.clone()));
                    }
                    None => {}
                }
                let mut outbox = world.resource_mut::<Outbox>();
                let command_id = ledger.send(
                    &mut outbox,
                    now,
                    bed,
                    &view.bed,
                    device,
                    &wanted,
                    &view.rule,
                    format!(
                        "suggestion {} (rule {}) confirmed by {by}",
                        view.id, view.rule
                    ),
                );
                ledger.end_suggestion(
                    &mut outbox,
                    now,
                    id,
                    Ending {
                        outcome: "confirmed",
                        by: Some(by),
                        reason: None,
                        command_id: Some(command_id.clone()),
                    },
                );
                Ok(Decided {
                    seq: outbox.last_seq(),
                    command_id: Some(command_id),
                })
            })
        }
    }
}
