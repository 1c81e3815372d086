//! The plugin contract between capabilities and the alert engine. Imports no capability and no
//! engine code: capabilities and the engine both depend on it, never on each other.
//!
//! - **Facts in**: a capability registers a [`FactProvider`] (the facts of the groups it
//!   knows, read from its own components) and marks the subjects whose facts went stale with
//!   [`StaleFacts`] (usually with [`watch`], which does so when one of its components changes).
//!   The engine rebuilds a stale subject's [`SubjectFacts`] from every provider.
//! - **Standing out**: for a rule whose action is not an alert (a bed command, a suggestion, a
//!   work order) the engine sends a [`RuleStanding`] message each time it evaluates the rule on
//!   a subject while its `when` holds, and once when it stops holding (or for a pair the
//!   capability watches: [`crate::alerts::Standing::watch`]); the capability that acts on that
//!   kind of rule reads it. A rule idle on a subject sends nothing.
//! - **Requests in**: a capability asks the engine to act on alerts with an [`AlertRequest`]
//!   message, naming what the alerts' rules read, never a rule by its id or text.

use bevy_ecs::prelude::*;
use orderly_rules::{Action, Fact, Facts, SubjectType};
use std::collections::BTreeSet;

/// The steps of the Rules phase, in order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RulesStep {
    /// Capabilities change what the rules will see this step (a work order opened, an item
    /// that entered a dirty utility room).
    Prepare,
    /// Capabilities mark subjects whose facts went stale.
    Watch,
    /// The engine applies [`AlertRequest`]s, rebuilds stale subjects' facts and evaluates the
    /// rules.
    Evaluate,
    /// Capabilities act on [`RuleStanding`] messages.
    Act,
    /// The engine fires its timers (holds, clearing, escalation, reminders).
    Timers,
}

/// What a subject is to the rules: its id and the rule subject kinds it is (a bed is also an
/// asset). Every subject of the registry has one; a capability may spawn subjects of its own
/// (PAR levels), which then provide their [`SubjectFacts`] whole.
#[derive(Component, Clone, Debug, PartialEq, Eq)]
pub struct RuleTarget {
    pub id: String,
    pub types: Vec<SubjectType>,
}

/// The facts rules read about one subject, as of its last rebuild.
#[derive(Component, Clone, Debug, PartialEq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct SubjectFacts(pub Facts);

impl SubjectFacts {
    pub fn facts(&self) -> &Facts {
        &self.0
    }
}

/// Subjects whose facts must be rebuilt at this step's Evaluate.
#[derive(Resource, Default)]
pub struct StaleFacts {
    pub(crate) entities: BTreeSet<Entity>,
    /// Every subject (a new rule set, new caregiver roles).
    pub(crate) all: bool,
}

impl StaleFacts {
    pub fn mark(&mut self, e: Entity) {
        self.entities.insert(e);
    }
    pub fn mark_all(&mut self) {
        self.all = true;
    }
}

/// Marks the subjects whose `C` changed since the last step.
pub fn mark_changed<C: Component>(
    changed: Query<Entity, Changed<C>>,
    mut removed: RemovedComponents<C>,
    mut stale: ResMut<StaleFacts>,
) {
    stale.entities.extend(changed.iter());
    // A component taken away changes the facts too (a device's clock set right again).
    stale.entities.extend(removed.read());
}

/// Registers a provider and makes a change of `C` on a subject make its facts stale.
pub fn watch<C: Component>(schedule: &mut Schedule) {
    schedule.add_systems(mark_changed::<C>.in_set(RulesStep::Watch));
}

/// The subject whose facts are being built, and the subjects its groups come from.
pub struct FactCtx<'w> {
    pub world: &'w World,
    pub subject: Entity,
    pub id: &'w str,
    /// Its rule subject kinds: the fact groups they read are wanted.
    pub types: &'w [SubjectType],
    /// Where the `bed` group comes from: the subject when it is a bed, a patient's bed.
    pub bed: Option<Entity>,
    /// The bed's id: the subject's, or the patient's assigned bed (even if not tracked).
    pub bed_id: Option<&'w str>,
    /// Where the `patient` group comes from: the subject when a patient, a bed's patient.
    pub patient: Option<Entity>,
}

impl FactCtx<'_> {
    pub fn wants(&self, group: &str) -> bool {
        // A handful of kinds with a few groups each: no set to build per subject.
        self.types.iter().any(|t| t.groups().contains(&group))
    }
    /// `C` of the subject itself.
    pub fn own<C: Component>(&self) -> Option<&C> {
        self.world.get::<C>(self.subject)
    }
    /// `C` of the bed the `bed` group is about.
    pub fn of_bed<C: Component>(&self) -> Option<&C> {
        self.bed.and_then(|e| self.world.get::<C>(e))
    }
    /// `C` of the patient the `patient` group is about.
    pub fn of_patient<C: Component>(&self) -> Option<&C> {
        self.patient.and_then(|e| self.world.get::<C>(e))
    }
}

/// Facts being built for one subject: the facts, and which groups whose device must have
/// spoken have heard from it.
#[derive(Default)]
pub struct FactSheet {
    pub facts: Facts,
    awaited: Vec<&'static str>,
    reported: BTreeSet<&'static str>,
}

impl FactSheet {
    pub fn set(&mut self, group: &'static str, name: &'static str, value: Fact) {
        self.facts.set(group, name, value);
    }
    /// Sets every fact of `facts` in `group` (a group built once and reused).
    pub fn set_group(&mut self, group: &'static str, facts: &orderly_rules::facts::Group) {
        match self.facts.groups.get_mut(group) {
            Some(have) => {
                for (name, value) in facts.iter() {
                    have.insert(name, value.clone());
                }
            }
            None => {
                self.facts.groups.insert(group, facts.clone());
            }
        }
    }
    /// Rules reading `group` wait until some provider says its device has [`reported`](Self::reported).
    pub fn awaits_report(&mut self, group: &'static str) {
        if !self.awaited.contains(&group) {
            self.awaited.push(group);
        }
    }
    pub fn reported(&mut self, group: &'static str) {
        self.reported.insert(group);
    }
    /// The subject's data was sent at `at` and arrived late: alerts on it say how old it was.
    pub fn data_from(&mut self, at: orderly_model::Timestamp) {
        self.facts.data_at = Some(self.facts.data_at.map_or(at, |d| d.min(at)));
    }
    /// Where an alert about the subject is routed.
    pub fn route(&mut self, room: Option<String>, unit: Option<String>) {
        self.facts.room = room;
        self.facts.unit = unit;
    }
    /// The facts built, their groups not yet settled ([`Facts::settle`]).
    pub(crate) fn finish(mut self) -> Facts {
        self.facts.unreported = self
            .awaited
            .into_iter()
            .filter(|g| !self.reported.contains(g))
            .collect();
        self.facts
    }
}

/// What a capability contributes to a subject's facts.
pub type FactProvider = fn(&FactCtx<'_>, &mut FactSheet);

/// The facts a capability declares it provides: `(group, [fact, ...])`. Each fact of the rule
/// schema is declared by exactly one capability, and a provider sets only what it declares
/// (both tested), so two capabilities never fight over a fact.
pub type Provides = &'static [(&'static str, &'static [&'static str])];

/// The providers, in the order capabilities registered them, and what each declares.
#[derive(Resource, Default)]
pub struct FactProviders {
    pub(crate) providers: Vec<(&'static str, FactProvider)>,
    pub(crate) declared: Vec<(&'static str, Provides)>,
}

impl FactProviders {
    /// `capability` provides the facts `provides` with `provider`.
    pub fn add(&mut self, capability: &'static str, provides: Provides, provider: FactProvider) {
        self.providers.push((capability, provider));
        self.declared.push((capability, provides));
    }
    /// `capability` provides the facts `provides` of subjects of its own, whose `SubjectFacts`
    /// it sets whole (PAR levels).
    pub fn declare(&mut self, capability: &'static str, provides: Provides) {
        self.declared.push((capability, provides));
    }
    /// Who declared which facts.
    pub fn declared(&self) -> &[(&'static str, Provides)] {
        &self.declared
    }
}

/// A rule whose action is not an alert, as evaluated on one subject just now.
#[derive(Message, Clone, Debug)]
pub struct RuleStanding {
    pub rule: String,
    pub action: Action,
    pub subject: String,
    /// `when` holds.
    pub when: bool,
    /// `when` holds and `unless` does not.
    pub holds: bool,
    /// The rule's message with the subject's facts, while it holds.
    pub message: Option<String>,
    pub room: Option<String>,
    pub unit: Option<String>,
}

/// What a capability asks of the alert engine.
#[derive(Message, Clone, Debug)]
pub enum AlertRequest {
    /// Resolve the open alerts on these subjects whose rules read `group.fact` (a wearer's
    /// "I'm OK" resolves the fall alerts, whatever the rules are called).
    ResolveReading {
        subjects: Vec<String>,
        group: &'static str,
        fact: &'static str,
        by: String,
        reason: String,
    },
    /// The subject is gone (a PAR level removed): its alerts are resolved and its timers dropped.
    Forget { subject: String, reason: String },
    /// Resolve the open alerts on these subjects whose rules read any fact of `group` (the
    /// patient of a bed was discharged: the bed's alerts about them end with them).
    ResolveGroup {
        subjects: Vec<String>,
        group: &'static str,
        reason: String,
    },
    /// The subject's open alerts go to `unit`'s recipients now (a patient transferred).
    Rehome {
        subject: String,
        unit: Option<String>,
        room: Option<String>,
    },
}
