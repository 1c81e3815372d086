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
pub mod census;
pub mod command;
pub mod commands;
pub mod devices;
pub mod environment;
pub mod exit_detector;
pub mod facts;
pub mod fall;
pub mod falls;
pub mod infusion;
pub mod ingest;
pub mod locate;
pub mod maintenance;
pub mod outbox;
pub mod par;
pub mod predict;
pub mod presence;
mod registry;
pub mod rules_dir;
mod snapshot;
pub mod status;
pub mod turning;
pub mod turnover;
pub mod vitals;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;
use orderly_floorplan::Floorplan;
use orderly_model::{Inbound, OutEvent, Seed, Snapshot, Timestamp};
use std::sync::Arc;

pub use alerts::known;
pub use command::{Applied, Command, Done, Refused};
pub use locate::LocatorConfig;
pub use orderly_model::{Restored, StatusError};
pub use orderly_rules::{AlertCommand, CommandError, ReloadSummary, RuleSet};
pub use presence::PresenceConfig;
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

/// Whether devices' messages reach the world as they are sent: the broker link is up, no
/// backlog waits in the inbox and the world is not held up (by a database outage, say). While
/// they do not, a device's silence proves nothing, so supervision (a tag unheard for its
/// timeout) waits, and counts its timeout again from when the feed came back. Live from the
/// start unless the binary says otherwise (replays and tests feed the world directly).
#[derive(Resource, Clone, Copy, Debug)]
pub struct Feed {
    /// Since when the feed has been live without a break; None while it is not.
    pub live_since: Option<Timestamp>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            live_since: Some(Timestamp::default()),
        }
    }
}

/// The site's floorplan, shared read-only.
#[derive(Resource, Clone)]
pub struct Site(pub Arc<Floorplan>);

/// A capability: a set of systems, resources and messages added to the world, like a Bevy
/// plugin. It reads its own part of the configuration, contributes its facts to the rules
/// through [`facts::FactProviders`] (and marks stale subjects with [`facts::StaleFacts`]), acts
/// on the [`facts::RuleStanding`] of rules whose action it serves, asks the alert engine for
/// what it needs with [`facts::AlertRequest`], and puts back its state after a restart.
pub trait Capability: Send + Sync {
    fn name(&self) -> &'static str;
    /// Adds its resources, components and systems, configured from `config`.
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &WorldConfig);
    /// New parameters (a reloaded rules directory), in force from the next step.
    fn configure(&self, _world: &mut World, _config: &WorldConfig) {}
    /// Puts back what the store remembered from before a restart (before the first step).
    fn restore(&self, _world: &mut World, _restored: &Restored) {}
}

/// What `rules/detectors.toml` holds: one table per capability that has parameters.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Detectors {
    pub ingest: ingest::IngestConfig,
    pub locator: LocatorConfig,
    pub presence: PresenceConfig,
    pub falls: fall::FallConfig,
    pub bed_exit: bed_exit::BedExitConfig,
    pub turning: turning::TurningConfig,
    pub commands: commands::CommandConfig,
    pub turnover: turnover::TurnoverConfig,
    pub vitals: vitals::VitalsConfig,
}

/// Everything the capabilities are configured with: the detectors' parameters, the PAR levels
/// (`rules/par.toml`) and the maintenance catalogue (`rules/maintenance.toml`), as
/// [`rules_dir::compile`] reads them from a rules directory.
#[derive(Clone, Debug, Default)]
pub struct WorldConfig {
    pub ingest: ingest::IngestConfig,
    pub locator: LocatorConfig,
    pub presence: PresenceConfig,
    pub falls: fall::FallConfig,
    pub bed_exit: bed_exit::BedExitConfig,
    pub turning: turning::TurningConfig,
    pub commands: commands::CommandConfig,
    pub turnover: turnover::TurnoverConfig,
    pub vitals: vitals::VitalsConfig,
    pub par: Vec<orderly_model::par::ParLevel>,
    pub maintenance: orderly_model::maintenance::Catalogue,
    /// The drug library (`rules/drug-library.toml`).
    pub drug_library: orderly_model::infusion::DrugLibrary,
    /// The environment of care's profiles (`rules/environment.toml`).
    pub environment: orderly_model::environment::Profiles,
}

impl From<Detectors> for WorldConfig {
    fn from(d: Detectors) -> Self {
        WorldConfig {
            ingest: d.ingest,
            locator: d.locator,
            presence: d.presence,
            falls: d.falls,
            bed_exit: d.bed_exit,
            turning: d.turning,
            commands: d.commands,
            turnover: d.turnover,
            vitals: d.vitals,
            ..WorldConfig::default()
        }
    }
}

impl WorldConfig {
    /// Parses `rules/detectors.toml` (no PAR levels, no catalogue); errors carry file, line
    /// and column.
    pub fn parse(file: &str, text: &str) -> Result<WorldConfig, orderly_model::FileErrors> {
        orderly_model::Source::new(file, text)
            .parse_toml::<Detectors>()
            .map(WorldConfig::from)
    }
}

/// The world and its schedule.
pub struct Hospital {
    world: World,
    schedule: Schedule,
    capabilities: Vec<Box<dyn Capability>>,
}

impl Hospital {
    /// The built-in capabilities, in the order they are added (and restored).
    pub fn capabilities(rules: Arc<RuleSet>) -> Vec<Box<dyn Capability>> {
        vec![
            Box::new(outbox::OutboxPlugin),
            Box::new(ingest::IngestPlugin),
            Box::new(census::CensusPlugin),
            Box::new(locate::LocatePlugin),
            Box::new(devices::DevicesPlugin),
            Box::new(infusion::InfusionPlugin),
            Box::new(environment::EnvironmentPlugin),
            Box::new(bed_exit::BedExitPlugin),
            Box::new(turning::TurningPlugin),
            Box::new(falls::FallsPlugin),
            Box::new(vitals::VitalsPlugin),
            Box::new(status::StatusPlugin),
            Box::new(par::ParPlugin),
            Box::new(commands::CommandsPlugin),
            Box::new(maintenance::MaintenancePlugin),
            Box::new(presence::PresencePlugin),
            Box::new(turnover::TurnoverPlugin),
            Box::new(alerts::AlertsPlugin { rules }),
            Box::new(snapshot::ReadModelPlugin),
        ]
    }

    /// A hospital with the built-in capabilities and the alert rules `rules`.
    pub fn new(
        floorplan: Arc<Floorplan>,
        seed: &Seed,
        config: WorldConfig,
        rules: Arc<RuleSet>,
    ) -> Self {
        Self::with_capabilities(floorplan, seed, &config, Self::capabilities(rules))
    }

    /// A hospital whose only output is its events (a replay, a backtest): the built-in
    /// capabilities without the read model, which nothing in the world reads and which costs
    /// most of a step when one message makes one step. Its snapshots are empty.
    pub fn headless(
        floorplan: Arc<Floorplan>,
        seed: &Seed,
        config: WorldConfig,
        rules: Arc<RuleSet>,
    ) -> Self {
        let caps = Self::capabilities(rules)
            .into_iter()
            .filter(|c| c.name() != snapshot::ReadModelPlugin.name())
            .collect();
        Self::with_capabilities(floorplan, seed, &config, caps)
    }

    /// A hospital with a chosen set of capabilities (tests build partial worlds this way).
    pub fn with_capabilities(
        floorplan: Arc<Floorplan>,
        seed: &Seed,
        config: &WorldConfig,
        capabilities: Vec<Box<dyn Capability>>,
    ) -> Self {
        let mut world = World::new();
        let mut schedule = Schedule::default();
        schedule.set_executor(SingleThreadedExecutor::new());
        schedule.configure_sets((Phase::Ingest, Phase::Derive, Phase::Rules, Phase::Emit).chain());
        schedule.configure_sets(
            (
                facts::RulesStep::Prepare,
                facts::RulesStep::Watch,
                facts::RulesStep::Evaluate,
                facts::RulesStep::Act,
                facts::RulesStep::Timers,
            )
                .chain()
                .in_set(Phase::Rules),
        );
        schedule.add_systems(bevy_ecs::message::message_update_system.before(Phase::Ingest));
        world.insert_resource(Clock::default());
        world.init_resource::<Feed>();
        world.insert_resource(Site(floorplan.clone()));
        world.init_resource::<facts::FactProviders>();
        world.init_resource::<facts::StaleFacts>();
        bevy_ecs::message::MessageRegistry::register_message::<facts::RuleStanding>(&mut world);
        bevy_ecs::message::MessageRegistry::register_message::<facts::AlertRequest>(&mut world);
        let registry = registry::spawn_seed(&mut world, &floorplan, seed);
        world.insert_resource(registry);
        registry::provide_facts(&mut world, &mut schedule);
        for cap in &capabilities {
            tracing::debug!(capability = cap.name(), "adding capability");
            cap.build(&mut world, &mut schedule, config);
        }
        Hospital {
            world,
            schedule,
            capabilities,
        }
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
        // Removed components are kept for systems to read for one more step, then forgotten:
        // without this, every removal (a late device back on time, a discharge) stayed in
        // memory for good.
        self.world.clear_trackers();
        self.world
            .get_resource_mut::<outbox::Outbox>()
            .map(|mut o| std::mem::take(&mut o.events))
            .unwrap_or_default()
    }

    pub fn now(&self) -> Timestamp {
        self.world.resource::<Clock>().now
    }

    /// Says whether the feed is live at `now` ([`Feed`]): the binary knows the broker link,
    /// the inbox and how long the world waited.
    pub fn set_feed_live(&mut self, live: bool, now: Timestamp) {
        let mut feed = self.world.resource_mut::<Feed>();
        feed.live_since = match (live, feed.live_since) {
            (false, _) => None,
            (true, None) => Some(now),
            (true, Some(t)) => Some(t),
        };
    }

    /// A consistent copy of what the API reads: the views of items brought up to date with
    /// what changed since the last one (not at every step).
    pub fn snapshot(&mut self) -> Snapshot {
        snapshot::build(&mut self.world)
    }

    /// Brings the read model's views up to date with what changed since (the next snapshot
    /// then has less to do): for a thread with time to spare between steps.
    pub fn refresh_views(&mut self) {
        snapshot::bring_up_to_date(&mut self.world);
    }

    /// Puts back what the store remembers from before a restart. Call before the first step.
    pub fn restore(&mut self, restored: Restored) {
        for cap in &self.capabilities {
            cap.restore(&mut self.world, &restored);
        }
    }

    /// New parameters (from a reloaded rules directory), in force from the next step.
    pub(crate) fn set_config(&mut self, config: WorldConfig) {
        for cap in &self.capabilities {
            cap.configure(&mut self.world, &config);
        }
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

    /// What ingest took in and rejected, per reason and device.
    pub fn ingest_stats(&self) -> &ingest::IngestStats {
        self.world.resource::<ingest::IngestStats>()
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
