//! Alerts from rule files: each subject's facts are derived from its components when they
//! change, the rules of its kind are evaluated over them, and the alert lifecycle
//! ([`orderly_rules::Alerting`]) turns the results and the clock into alert events.
//!
//! A rule is not evaluated over facts no device has reported since start (a restart does not
//! resolve a bed's alert before the bed speaks again). A rule that fails while evaluating is
//! disabled, with a technical alert to admins, until the next reload; the others keep running.

use crate::facts::{
    AlertRequest, FactCtx, FactProviders, FactSheet, RuleStanding, RuleTarget, RulesStep,
    StaleFacts, SubjectFacts,
};
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, PatientInfo, SensorInfo, Subject};
use crate::{Capability, Clock, Registry};
use bevy_ecs::prelude::*;
use orderly_model::{Alert, EventKind, Timestamp};
use orderly_rules::{
    AlertCommand, Alerting, CommandError, FactDelta, ReloadSummary, RuleSet, SubjectType,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Technical alert: a rule failed while evaluating and is disabled until the next reload.
pub const RULE_FAILED: &str = "orderly.rule-failed";
/// Technical alert: a changed rule set was rejected; the previous one keeps running.
pub const RULES_REJECTED: &str = "orderly.rules-rejected";

/// The rules in force.
#[derive(Resource)]
pub struct Rules {
    pub set: Arc<RuleSet>,
    /// Rules disabled after failing, with the error.
    pub disabled: BTreeMap<String, String>,
    /// Subject kinds some enabled rule is about.
    wanted: BTreeSet<SubjectType>,
}

impl Rules {
    fn new(set: Arc<RuleSet>) -> Self {
        let wanted = set
            .rules
            .iter()
            .filter(|r| r.enabled)
            .map(|r| r.subject)
            .collect();
        Rules {
            set,
            disabled: BTreeMap::new(),
            wanted,
        }
    }
}

/// Each bundle rule's last standing on each subject: (rule, subject) -> (applies, compliant).
#[derive(Resource, Default)]
pub struct Compliance(pub BTreeMap<(String, String), (bool, bool)>);

/// Open alerts and the hold, clearing and escalation timers behind them.
#[derive(Resource, Default)]
pub struct ActiveAlerts(pub Alerting);

/// Rules whose action a capability serves (a bed command, a suggestion, a work order): the
/// subjects each one's `when` held on at its last standing, and the pairs a capability asked
/// to hear about ([`Standing::watch`]: what it restored after a restart, a suggestion on
/// offer). The engine sends a [`RuleStanding`] while `when` holds and once when it stops, and
/// none for a rule idle on a subject it never held on: at 25,000 pumps, placing every tag
/// re-evaluated each pump's work-order rules and sent 25,000 standings that changed nothing
/// (11 MB of messages at the peak, kept allocated by bevy's double buffer).
#[derive(Resource, Default)]
pub struct Standing(BTreeMap<String, BTreeSet<String>>);

impl Standing {
    /// Makes the engine send `rule`'s next standing on `subject`, whatever it is.
    pub fn watch(&mut self, rule: &str, subject: &str) {
        if !self.watching(rule, subject) {
            self.0
                .entry(rule.to_string())
                .or_default()
                .insert(subject.to_string());
        }
    }
    fn watching(&self, rule: &str, subject: &str) -> bool {
        self.0.get(rule).is_some_and(|s| s.contains(subject))
    }
    /// Stops watching; whether it was watched.
    fn forget(&mut self, rule: &str, subject: &str) -> bool {
        let Some(s) = self.0.get_mut(rule) else {
            return false;
        };
        let was = s.remove(subject);
        if s.is_empty() {
            self.0.remove(rule);
        }
        was
    }
}

/// The alert engine: facts from every capability's providers, the rules over them, the alert
/// lifecycle. Names no capability.
pub struct AlertsPlugin {
    pub rules: Arc<RuleSet>,
}

impl Capability for AlertsPlugin {
    fn name(&self) -> &'static str {
        "alerts"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, _: &crate::WorldConfig) {
        world.init_resource::<ActiveAlerts>();
        world.init_resource::<Compliance>();
        world.init_resource::<FactChanges>();
        world.init_resource::<Standing>();
        world.insert_resource(Rules::new(self.rules.clone()));
        world.resource_mut::<StaleFacts>().mark_all();
        schedule.add_systems(
            (apply_requests, build_facts, evaluate)
                .chain()
                .in_set(RulesStep::Evaluate),
        );
        schedule.add_systems(tick.in_set(RulesStep::Timers));
    }
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        world
            .resource_mut::<ActiveAlerts>()
            .0
            .restore(restored.alerts.clone());
    }
}

/// What capabilities asked of the engine since the last step.
fn apply_requests(
    clock: Res<Clock>,
    rules: Res<Rules>,
    mut requests: MessageReader<AlertRequest>,
    mut alerts: ResMut<ActiveAlerts>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    for r in requests.read() {
        match r {
            AlertRequest::ResolveReading {
                subjects,
                group,
                fact,
                by,
                reason,
            } => {
                let ids: Vec<String> = alerts
                    .0
                    .open()
                    .values()
                    .filter(|a| subjects.contains(&a.subject))
                    .filter(|a| rules.set.get(&a.rule).is_some_and(|r| r.reads(group, fact)))
                    .map(|a| a.id.clone())
                    .collect();
                for id in ids {
                    tracing::info!(alert = %id, by = %by, "alert resolved at a capability's request");
                    if let Ok(ev) = alerts.0.resolve(&id, by, reason, now) {
                        outbox.push(now, ev);
                    }
                }
            }
            AlertRequest::Forget { subject, reason } => {
                for ev in alerts.0.forget_subject(subject, now, reason) {
                    outbox.push(now, ev);
                }
            }
            AlertRequest::ResolveGroup {
                subjects,
                group,
                reason,
            } => {
                let ids: Vec<String> = alerts
                    .0
                    .open()
                    .values()
                    .filter(|a| subjects.contains(&a.subject))
                    .filter(|a| {
                        rules
                            .set
                            .get(&a.rule)
                            .is_some_and(|r| r.groups().contains(group))
                    })
                    .map(|a| a.id.clone())
                    .collect();
                for id in ids {
                    tracing::info!(alert = %id, reason = %reason, "alert resolved: its subject changed");
                    if let Ok(ev) = alerts.0.resolve(&id, "system", reason, now) {
                        outbox.push(now, ev);
                    }
                }
            }
            AlertRequest::Rehome {
                subject,
                unit,
                room,
            } => {
                for ev in
                    alerts
                        .0
                        .rehome(&rules.set, subject, unit.as_deref(), room.as_deref(), now)
                {
                    outbox.push(now, ev);
                }
            }
        }
    }
}

/// What a subject's facts are built from: the subject, the groups its rule kinds read, and the
/// bed and patient its `bed` and `patient` groups come from (itself, or its partner in the
/// registry). None for an entity that is not a registry subject.
pub(crate) fn fact_ctx(world: &World, e: Entity) -> Option<(FactCtx<'_>, &RuleTarget)> {
    let target = world.get::<RuleTarget>(e)?;
    // The registry's subjects: those that can be located, and those mounted in place (sensors).
    // Subjects a capability spawns itself (PAR levels) provide their facts whole.
    if world.get::<Subject>(e).is_none() && world.get::<SensorInfo>(e).is_none() {
        return None;
    }
    let registry = world.resource::<Registry>();
    let patient = world.get::<PatientInfo>(e);
    let is_bed = world.get::<AssetInfo>(e).is_some_and(|a| a.0.kind == "bed");
    let ctx = FactCtx {
        world,
        subject: e,
        id: &target.id,
        types: &target.types,
        bed: match patient {
            Some(p) => registry.subjects.get(&p.0.bed).copied(),
            None => is_bed.then_some(e),
        },
        bed_id: match patient {
            Some(p) => Some(p.0.bed.as_str()),
            None => is_bed.then_some(target.id.as_str()),
        },
        patient: match patient {
            Some(_) => Some(e),
            None if is_bed => registry.bed_patient.get(&target.id).copied(),
            None => None,
        },
    };
    Some((ctx, target))
}

/// How each subject's facts changed in this step's rebuild: `None` when the subject's facts are
/// new or which groups wait for their device changed (every rule is evaluated again). A subject
/// whose facts changed without a rebuild (a capability setting them whole) has no entry and is
/// evaluated whole too.
#[derive(Resource, Default)]
pub(crate) struct FactChanges(HashMap<Entity, Option<FactDelta>>);

impl FactChanges {
    fn record(&mut self, e: Entity, delta: Option<FactDelta>) {
        match (self.0.get_mut(&e), delta) {
            (Some(Some(have)), Some(more)) => have.merge(more),
            (Some(None), _) => {}
            (_, delta) => {
                self.0.insert(e, delta);
            }
        }
    }
}

/// Subjects whose facts are built before they replace the old ones.
const FACTS_CHUNK: usize = 512;

/// Rebuilds the facts of the subjects some capability marked stale (and of a bed's patient and
/// a patient's bed with them), from every registered provider.
fn build_facts(world: &mut World) {
    let (all, mut dirty) = {
        let mut stale = world.resource_mut::<StaleFacts>();
        (stale.all, std::mem::take(&mut stale.entities))
    };
    // Most steps leave no subject stale (a tick, a sighting where its tag already was).
    if !all && dirty.is_empty() {
        return;
    }
    let wanted = world.resource::<Rules>().wanted.clone();
    if wanted.is_empty() {
        return;
    }
    let targets: Vec<Entity> = if all {
        world
            .query_filtered::<Entity, (Or<(With<Subject>, With<SensorInfo>)>, With<RuleTarget>)>()
            .iter(world)
            .collect()
    } else {
        // A bed's patient follows the bed, and the bed follows its patient.
        let linked: Vec<Entity> = dirty
            .iter()
            .filter_map(|e| fact_ctx(world, *e))
            .flat_map(|(ctx, _)| [ctx.bed, ctx.patient])
            .flatten()
            .collect();
        dirty.extend(linked);
        dirty.into_iter().collect()
    };
    // In chunks: a step that placed every tag of a large site would otherwise hold its new
    // facts and the old ones at once (2 x 100 MiB at 25,000 tags).
    let mut changes = Vec::new();
    for chunk in targets.chunks(FACTS_CHUNK) {
        let providers = &world.resource::<FactProviders>().providers;
        let mut built = Vec::with_capacity(chunk.len());
        for &e in chunk {
            let Some((ctx, target)) = fact_ctx(world, e) else {
                continue;
            };
            if !target.types.iter().any(|t| wanted.contains(t)) {
                continue;
            }
            let mut sheet = FactSheet::default();
            for (_, provide) in providers {
                provide(&ctx, &mut sheet);
            }
            built.push((e, SubjectFacts(sheet.finish())));
        }
        for (e, mut new) in built {
            match world.get_mut::<SubjectFacts>(e) {
                Some(mut f) => {
                    new.0.settle(Some(&f.0));
                    if *f != new {
                        changes.push((e, new.0.delta(&f.0)));
                        *f = new;
                    }
                }
                None => {
                    new.0.settle(None);
                    world.entity_mut(e).insert(new);
                    changes.push((e, None));
                }
            }
        }
    }
    let mut record = world.resource_mut::<FactChanges>();
    for (e, groups) in changes {
        record.record(e, groups);
    }
}

#[allow(clippy::type_complexity, clippy::too_many_arguments)]
pub(crate) fn evaluate(
    clock: Res<Clock>,
    mut rules: ResMut<Rules>,
    mut stale: ResMut<StaleFacts>,
    subjects: Query<(&RuleTarget, &SubjectFacts)>,
    changed: Query<Entity, Changed<SubjectFacts>>,
    mut fact_changes: ResMut<FactChanges>,
    mut alerts: ResMut<ActiveAlerts>,
    mut compliance: ResMut<Compliance>,
    mut standings: MessageWriter<RuleStanding>,
    mut standing: ResMut<Standing>,
    mut outbox: ResMut<Outbox>,
) {
    let all = std::mem::take(&mut stale.all);
    let mut fact_changes = std::mem::take(&mut fact_changes.0);
    let now = clock.now;
    // Each subject with how its facts changed (`None`: evaluate every rule).
    let items: Vec<_> = if all {
        subjects.iter().map(|s| (s, None)).collect()
    } else {
        changed
            .iter()
            .filter_map(|e| Some((subjects.get(e).ok()?, fact_changes.remove(&e).flatten())))
            .collect()
    };
    if items.is_empty() {
        return;
    }
    let mut items: Vec<_> = items
        .into_iter()
        .map(|((t, f), delta)| (t.id.clone(), (&t.types, f, delta)))
        .collect();
    items.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let set = rules.set.clone();
    if all {
        // Every rule is evaluated again (a start, a reload): the rules that are gone are not.
        standing.0.retain(|rule, _| set.get(rule).is_some());
    }
    for (subject_id, (types, facts, delta)) in items {
        // The rules to evaluate: a rule that reads none of the groups that changed would stand
        // as it stood (a tag's move does not evaluate the rules about its pump's battery).
        let mut due: Vec<&Arc<orderly_rules::Rule>> = set.for_subject(types);
        due.retain(|rule| {
            rule.enabled
                && (rules.disabled.is_empty() || !rules.disabled.contains_key(&rule.id))
                && !facts.0.unreported.iter().any(|g| rule.groups().contains(g))
                && delta.as_ref().is_none_or(|d| {
                    // What the conditions read changed: evaluate. Only what the message
                    // reads, or where an alert would go: only while the rule stands for
                    // something (its message and place are taken while its condition
                    // holds) or hands its standings to a capability while it holds. A tag's
                    // move evaluates no idle rule about its pump that does not ask where it is.
                    rule.groups().iter().any(|x| d.groups.contains(x))
                        || ((d.placed || rule.depends_on(|x| d.groups.contains(&x)))
                            && (rule.bundle.is_some()
                                || if rule.action == orderly_rules::Action::Alert {
                                    alerts.0.watching(&rule.id, &subject_id)
                                } else {
                                    standing.watching(&rule.id, &subject_id)
                                }))
                })
        });
        if due.is_empty() {
            continue;
        }
        let ctx = facts
            .0
            .context_of(|g| due.iter().any(|r| r.groups().contains(&g)));
        for rule in due {
            let ctx = &ctx;
            if let Some(bundle) = &rule.bundle {
                match rule.compliance_in(ctx) {
                    Ok(Some(now_is)) => {
                        let key = (rule.id.clone(), subject_id.clone());
                        // Unknown until now is "not applying": no event for that.
                        if compliance.0.get(&key).copied().unwrap_or((false, false)) != now_is {
                            compliance.0.insert(key, now_is);
                            outbox.push(
                                now,
                                EventKind::BundleChanged {
                                    bundle: bundle.clone(),
                                    rule: rule.id.clone(),
                                    subject: subject_id.clone(),
                                    applies: now_is.0,
                                    compliant: now_is.1,
                                    room: facts.0.room.clone(),
                                    unit: facts.0.unit.clone(),
                                },
                            );
                        }
                    }
                    Ok(None) => {}
                    // The same expressions fail in `standing` just below, which disables the rule.
                    Err(_) => {}
                }
            }
            let (when, holds) = match rule.standing(&facts.0, ctx) {
                Ok(s) => s,
                Err(err) => {
                    disable(
                        &mut rules,
                        &mut alerts,
                        &mut outbox,
                        rule,
                        &subject_id,
                        err,
                        now,
                    );
                    continue;
                }
            };
            match &rule.action {
                orderly_rules::Action::Alert => {
                    for e in
                        alerts
                            .0
                            .observe_standing(rule, &subject_id, (when, holds), &facts.0, now)
                    {
                        outbox.push(now, e);
                    }
                }
                // A bed command, a suggestion, a work order: the capability that serves the
                // action holds, checks and sends it.
                action => {
                    if when {
                        standing.watch(&rule.id, &subject_id);
                    } else if !standing.forget(&rule.id, &subject_id) {
                        continue;
                    }
                    standings.write(RuleStanding {
                        rule: rule.id.clone(),
                        action: action.clone(),
                        subject: subject_id.clone(),
                        when,
                        holds,
                        message: holds.then(|| rule.message.render(&facts.0)),
                        room: facts.0.room.clone(),
                        unit: facts.0.unit.clone(),
                    });
                }
            }
        }
    }
}

/// A rule that failed while evaluating is disabled until the next reload, with a technical
/// alert to admins.
fn disable(
    rules: &mut Rules,
    alerts: &mut ActiveAlerts,
    outbox: &mut Outbox,
    rule: &orderly_rules::Rule,
    subject_id: &str,
    err: orderly_rules::EvalError,
    now: Timestamp,
) {
    tracing::error!(rule = %rule.id, subject = %subject_id, error = %err, "rule failed; disabled until the next reload");
    rules.disabled.insert(rule.id.clone(), err.to_string());
    let msg = format!(
        "Rule {} ({}) failed on {} and is disabled until the rules are reloaded: {err}",
        rule.id, rule.defined_at, subject_id
    );
    if let Some(e) = alerts.0.raise_system(
        RULE_FAILED,
        &rule.id,
        "A rule failed and is disabled",
        msg,
        now,
    ) {
        outbox.push(now, e);
    }
}

fn tick(
    clock: Res<Clock>,
    rules: Res<Rules>,
    mut alerts: ResMut<ActiveAlerts>,
    mut outbox: ResMut<Outbox>,
) {
    for e in alerts.0.tick(&rules.set, clock.now) {
        outbox.push(clock.now, e);
    }
}

/// Applies an operator's action; the event goes out with the next step.
pub(crate) fn command(world: &mut World, cmd: AlertCommand) -> Result<(u64, Alert), CommandError> {
    let now = world.resource::<Clock>().now;
    let mut alerts = world.resource_mut::<ActiveAlerts>();
    let ev = match cmd {
        AlertCommand::Acknowledge { id, by } => alerts.0.acknowledge(&id, &by, now)?,
        AlertCommand::Resolve { id, by, reason } => alerts.0.resolve(&id, &by, &reason, now)?,
        AlertCommand::Silence { id, by, for_ms } => alerts.0.silence(&id, &by, for_ms, now)?,
        AlertCommand::Disposition { id, disposition } => {
            alerts.0.disposition(&id, disposition, now)?
        }
    };
    let alert = ev
        .alert()
        .cloned()
        .ok_or_else(|| CommandError::NotFound(String::new()))?;
    let mut outbox = world.resource_mut::<Outbox>();
    outbox.push(now, ev);
    Ok((outbox.last_seq(), alert))
}

/// Swaps the rule set at once. Surviving rules keep their hold timers, open alerts and
/// escalation steps; alerts of removed rules are resolved; failed rules get another chance.
pub(crate) fn replace_rules(world: &mut World, set: Arc<RuleSet>) -> ReloadSummary {
    let now = world.resource::<Clock>().now;
    let old = world.resource::<Rules>().set.clone();
    let summary = set.diff(&old);
    world.insert_resource(Rules::new(set.clone()));
    world.resource_mut::<StaleFacts>().mark_all();
    let mut events = Vec::new();
    {
        let mut alerts = world.resource_mut::<ActiveAlerts>();
        events.extend(alerts.0.retain_rules(&set, now));
        for subject in alerts.0.system_subjects(RULE_FAILED) {
            events.extend(
                alerts
                    .0
                    .resolve_system(RULE_FAILED, &subject, "rules reloaded", now),
            );
        }
        events.extend(alerts.0.resolve_system(
            RULES_REJECTED,
            "rules",
            "a valid rule set was loaded",
            now,
        ));
    }
    let mut outbox = world.resource_mut::<Outbox>();
    for e in events {
        outbox.push(now, e);
    }
    summary
}

/// The rule id of Orderly's own alert that a hospital system it sends to (an alert manager, a
/// webhook) cannot be reached; the subject is the destination's name.
pub const INTEGRATION_DOWN: &str = "orderly.integration-unreachable";

/// A destination Orderly sends alerts to is unreachable (`problem`, raised to admins and
/// biomedical engineering, updated as the problem's words change) or reachable again (`None`,
/// resolved).
pub(crate) fn integration(world: &mut World, destination: &str, problem: Option<String>) {
    let now = world.resource::<Clock>().now;
    let mut alerts = world.resource_mut::<ActiveAlerts>();
    let ev = match problem {
        Some(why) => alerts.0.raise_system_to(
            INTEGRATION_DOWN,
            destination,
            "A hospital system does not receive Orderly's alerts",
            why,
            &["role:admin", "role:biomed"],
            now,
        ),
        None => alerts
            .0
            .resolve_system(INTEGRATION_DOWN, destination, "reachable again", now),
    };
    if let Some(e) = ev {
        world.resource_mut::<Outbox>().push(now, e);
    }
}

/// A changed rule set was rejected: the old one keeps running; admins are told why.
pub(crate) fn rules_rejected(world: &mut World, report: String) {
    let now = world.resource::<Clock>().now;
    let ev = world.resource_mut::<ActiveAlerts>().0.raise_system(
        RULES_REJECTED,
        "rules",
        "Changed rules were rejected; the previous rules keep running",
        report,
        now,
    );
    if let Some(e) = ev {
        world.resource_mut::<Outbox>().push(now, e);
    }
}

/// What the site has, to check the recipients of rules: the floorplan's units, and the staff
/// roles a seed may use (whether or not today's staff list has one) and API roles.
pub fn known(
    floorplan: &orderly_floorplan::Floorplan,
    seed: &orderly_model::Seed,
) -> orderly_rules::Known {
    let mut roles: BTreeSet<String> = orderly_model::seed::STAFF_ROLES
        .iter()
        .map(|r| r.to_string())
        .collect();
    roles.extend(
        orderly_model::Role::ALL
            .iter()
            .map(|r| r.as_str().to_string()),
    );
    orderly_rules::Known {
        units: floorplan.units.iter().map(|u| u.id.clone()).collect(),
        roles,
        kinds: seed.assets.iter().map(|a| a.kind.clone()).collect(),
        models: seed.assets.iter().fold(
            Default::default(),
            |mut m: std::collections::BTreeMap<String, BTreeSet<String>>, a| {
                let e = m.entry(a.kind.clone()).or_default();
                if let Some(model) = &a.model {
                    e.insert(model.clone());
                }
                m
            },
        ),
        sensor_profiles: seed.sensors.iter().rev().fold(
            Default::default(),
            |mut m: std::collections::BTreeMap<String, String>, s| {
                m.insert(s.profile.clone(), s.id.clone());
                m
            },
        ),
    }
}
