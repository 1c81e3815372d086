//! The live hospital model: a bevy_ecs `World` holding rooms, equipment, staff and patients,
//! and a `Schedule` of capability plugins that turns device readings into decisions.
//!
//! Core crate: no IO, no async, no wall clock (time comes from the [`Clock`] resource, set by
//! the caller), never panics on input. Depends on orderly-model, orderly-floorplan,
//! orderly-rules, bevy_ecs, serde, serde_json (bed command payloads) and tracing.
//!
//! The schedule runs in four ordered [`Phase`]s: `Ingest` (check and route readings into typed
//! messages), `Derive` (facts: where tags are, what devices report), `Rules` (what deserves an
//! alert), `Emit` (what leaves through the [`outbox::Outbox`]). Capabilities talk to each other
//! only through components, resources and messages. Everything is single-threaded and iterates
//! in a fixed order, so the same inputs give the same events (replay is byte-for-byte).

pub mod alerts;
pub mod bed_exit;
pub mod commands;
pub mod devices;
pub mod fall;
pub mod falls;
pub mod ingest;
pub mod locate;
pub mod maintenance;
pub mod outbox;
pub mod par;
pub mod predict;
mod registry;
mod snapshot;
pub mod status;
pub mod turning;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use orderly_floorplan::Floorplan;
use orderly_model::{Alert, AssetStatus, Inbound, OutEvent, Seed, Snapshot, Timestamp};
use std::sync::Arc;

pub use alerts::{PresenceConfig, known};
pub use locate::LocatorConfig;
pub use orderly_model::{Restored, StatusError};
pub use orderly_rules::{AlertCommand, CommandError, ReloadSummary, RuleSet};
pub use registry::{Registry, Subject, SubjectKind, TagClass};

/// The ordered phases of one step.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Ingest,
    Derive,
    Rules,
    Emit,
}

/// The time every system reads: the wall clock live, virtual time in replay and tests.
/// It never goes backwards.
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct Clock {
    pub now: Timestamp,
}

/// The site's floorplan, shared read-only.
#[derive(Resource, Clone)]
pub struct Site(pub Arc<Floorplan>);

/// A capability: a set of systems, resources and messages added to the world, like a Bevy plugin.
pub trait Capability {
    fn name(&self) -> &'static str;
    fn build(&self, world: &mut World, schedule: &mut Schedule);
}

/// Parameters of the built-in capabilities (`rules/detectors.toml`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldConfig {
    pub locator: LocatorConfig,
    pub presence: PresenceConfig,
    pub falls: fall::FallConfig,
    pub bed_exit: bed_exit::BedExitConfig,
    pub turning: turning::TurningConfig,
    pub commands: commands::CommandConfig,
    /// PAR levels, from `rules/par.toml` (not a detectors.toml section).
    #[serde(skip)]
    pub par: Vec<orderly_model::par::ParLevel>,
    /// Maintenance policies, from `rules/maintenance.toml` (not a detectors.toml section).
    #[serde(skip)]
    pub maintenance: orderly_model::maintenance::Catalogue,
    /// What loading the rules directory skipped, with file and line (PAR levels for kinds the
    /// registry does not have): logged at load, printed by `orderly rules check`.
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl WorldConfig {
    /// Parses `rules/detectors.toml`; errors carry file, line and column.
    pub fn parse(file: &str, text: &str) -> Result<WorldConfig, orderly_model::FileErrors> {
        orderly_model::Source::new(file, text).parse_toml()
    }
}

/// The world and its schedule.
pub struct Hospital {
    world: World,
    schedule: Schedule,
}

impl Hospital {
    /// A hospital with the built-in capabilities: ingest, locating, devices, alerts from
    /// `rules`, outbox, read model.
    pub fn new(
        floorplan: Arc<Floorplan>,
        seed: &Seed,
        config: WorldConfig,
        rules: Arc<RuleSet>,
    ) -> Self {
        let caps: [&dyn Capability; 13] = [
            &outbox::OutboxPlugin,
            &ingest::IngestPlugin,
            &locate::LocatePlugin(config.locator.clone()),
            &devices::DevicesPlugin,
            &bed_exit::BedExitPlugin(config.bed_exit.clone()),
            &turning::TurningPlugin(config.turning.clone()),
            &falls::FallsPlugin(config.falls.clone()),
            &status::StatusPlugin,
            &par::ParPlugin(config.par.clone()),
            &commands::CommandsPlugin(config.commands.clone()),
            &maintenance::MaintenancePlugin(config.maintenance.clone()),
            &alerts::AlertsPlugin {
                rules,
                presence: config.presence.clone(),
            },
            &snapshot::ReadModelPlugin,
        ];
        Self::with_capabilities(floorplan, seed, &caps)
    }

    /// A hospital with a chosen set of capabilities (tests build partial worlds this way).
    pub fn with_capabilities(
        floorplan: Arc<Floorplan>,
        seed: &Seed,
        caps: &[&dyn Capability],
    ) -> Self {
        let mut world = World::new();
        let mut schedule = Schedule::default();
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.configure_sets((Phase::Ingest, Phase::Derive, Phase::Rules, Phase::Emit).chain());
        schedule.add_systems(bevy_ecs::message::message_update_system.before(Phase::Ingest));
        world.insert_resource(Clock::default());
        world.insert_resource(Site(floorplan.clone()));
        let registry = registry::spawn_seed(&mut world, &floorplan, seed);
        world.insert_resource(registry);
        for cap in caps {
            tracing::debug!(capability = cap.name(), "adding capability");
            cap.build(&mut world, &mut schedule);
        }
        Hospital { world, schedule }
    }

    /// Queues a received message for the next step.
    pub fn push(&mut self, inbound: Inbound) {
        self.world.resource_mut::<ingest::Inbox>().0.push(inbound);
    }

    /// Sets the clock to `now` (if later), runs the schedule once and returns the events emitted.
    pub fn step(&mut self, now: Timestamp) -> Vec<OutEvent> {
        {
            let mut clock = self.world.resource_mut::<Clock>();
            if now > clock.now {
                clock.now = now;
            }
        }
        self.schedule.run(&mut self.world);
        self.world
            .get_resource_mut::<outbox::Outbox>()
            .map(|mut o| std::mem::take(&mut o.events))
            .unwrap_or_default()
    }

    pub fn now(&self) -> Timestamp {
        self.world.resource::<Clock>().now
    }

    /// A consistent copy of what the API reads.
    pub fn snapshot(&mut self) -> Snapshot {
        snapshot::build(&mut self.world)
    }

    /// Puts back what the store remembers from before a restart. Call before the first step.
    pub fn restore(&mut self, restored: Restored) {
        if let Some(mut o) = self.world.get_resource_mut::<outbox::Outbox>() {
            o.next_seq = o.next_seq.max(restored.next_seq);
        }
        locate::restore(&mut self.world, &restored.locations);
        status::restore(&mut self.world, &restored.statuses);
        bed_exit::restore(&mut self.world, &restored.alerts);
        turning::restore(&mut self.world, &restored.turned);
        commands::restore(&mut self.world, &restored.commands, &restored.suggestions);
        maintenance::restore(
            &mut self.world,
            &restored.work_orders,
            &restored.last_service,
            &restored.cancelled,
            &restored.recalls,
        );
        maintenance::restore_meters(&mut self.world, &restored.meters);
        alerts::restore(&mut self.world, restored.alerts);
        if self.world.contains_resource::<snapshot::ReadModel>() {
            snapshot::rebuild(&mut self.world);
        }
    }

    /// An operator's action on an alert. Returns the sequence number of the event that records
    /// it (it leaves with the next step) and the alert as it now stands.
    pub fn command(&mut self, cmd: AlertCommand) -> Result<(u64, Alert), CommandError> {
        alerts::command(&mut self.world, cmd)
    }

    /// A person's maintenance request: open a work order or move one on.
    pub fn maintenance(
        &mut self,
        op: orderly_model::maintenance::MaintenanceOp,
    ) -> Result<
        (u64, orderly_model::maintenance::WorkOrder),
        orderly_model::maintenance::WorkOrderError,
    > {
        use orderly_model::maintenance::MaintenanceOp;
        match op {
            MaintenanceOp::Open {
                asset,
                reason,
                detail,
                by,
            } => maintenance::open(&mut self.world, &asset, &reason, &detail, &by),
            MaintenanceOp::Act { id, action, by } => {
                maintenance::act(&mut self.world, &id, action, &by)
            }
        }
    }

    /// Issues or closes a recall (the API checks who may).
    pub fn recall(
        &mut self,
        op: orderly_model::maintenance::RecallOp,
    ) -> Result<(u64, orderly_model::maintenance::Recall), orderly_model::maintenance::WorkOrderError>
    {
        maintenance::recall(&mut self.world, op)
    }

    /// A person opens a work order on an item by hand. Returns the sequence number of the event
    /// that records it and the work order.
    pub fn open_work_order(
        &mut self,
        asset: &str,
        reason: &str,
        detail: &str,
        by: &str,
    ) -> Result<
        (u64, orderly_model::maintenance::WorkOrder),
        orderly_model::maintenance::WorkOrderError,
    > {
        maintenance::open(&mut self.world, asset, reason, detail, by)
    }

    /// A person moves a work order on (schedule, start, complete, cancel, note).
    pub fn work_order(
        &mut self,
        id: &str,
        action: orderly_model::maintenance::WorkOrderAction,
        by: &str,
    ) -> Result<
        (u64, orderly_model::maintenance::WorkOrder),
        orderly_model::maintenance::WorkOrderError,
    > {
        maintenance::act(&mut self.world, id, action, by)
    }

    /// A nurse's decision on a pending bed suggestion (the API checks who may). Returns the
    /// sequence number of the event that records it and the command it became, if any.
    pub fn decide(
        &mut self,
        suggestion: &str,
        decision: orderly_model::command::Decision,
    ) -> Result<orderly_model::command::Decided, orderly_model::command::SuggestionError> {
        commands::decide(&mut self.world, suggestion, decision)
    }

    /// A person sets an asset's status (the API checks who may). Returns the sequence number of
    /// the `asset.status_changed` event that records it (it leaves with the next step).
    pub fn set_status(
        &mut self,
        asset: &str,
        to: AssetStatus,
        by: &str,
        reason: &str,
    ) -> Result<u64, StatusError> {
        status::set_by_person(&mut self.world, asset, to, by, reason)
    }

    /// Swaps in a new, checked rule set at once, keeping the state of surviving rules.
    pub fn replace_rules(&mut self, rules: Arc<RuleSet>) -> ReloadSummary {
        alerts::replace_rules(&mut self.world, rules)
    }

    /// New detector parameters (from a reloaded detectors.toml), in force from the next step.
    pub fn set_config(&mut self, config: WorldConfig) {
        if self.world.contains_resource::<locate::Locator>() {
            self.world.insert_resource(locate::Locator(config.locator));
        }
        alerts::set_presence(&mut self.world, &config.presence);
        par::set_levels(&mut self.world, &config.par);
        falls::set_config(&mut self.world, &config.falls);
        bed_exit::set_config(&mut self.world, &config.bed_exit);
        turning::set_config(&mut self.world, &config.turning);
        commands::set_config(&mut self.world, &config.commands);
        maintenance::set_catalogue(&mut self.world, &config.maintenance);
    }

    /// Records that a changed rule set was rejected (a technical alert to admins).
    pub fn rules_rejected(&mut self, report: String) {
        alerts::rules_rejected(&mut self.world, report);
    }

    /// The rules in force, and those disabled after failing (id, error).
    pub fn rules(&self) -> (Arc<RuleSet>, Vec<(String, String)>) {
        let r = self.world.resource::<alerts::Rules>();
        (
            r.set.clone(),
            r.disabled
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The world, for tests and diagnostics.
    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}

#[cfg(test)]
mod tests;
