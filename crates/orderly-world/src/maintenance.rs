//! Maintenance: meters from telemetry, what is due by each item's policy
//! (`rules/maintenance.toml`), and the work orders that follow.
//!
//! Meters: a pump's runtime hours and occlusion alarms (lifetime counters it reports), a bed's
//! actuator cycles (each start of `moving`, counted by Orderly since it started watching), the
//! battery. Once a minute every item with a policy is checked ([`Policy::due`]): a reason that is
//! due (`interval`, `runtime`, `cycles`) opens one work order, unless one is open for that item
//! and reason, or one was cancelled since the item's last service. People move work orders on
//! ([`act`]): schedule, start (the item goes out of service), complete (the service is recorded
//! with the meters, the item is back in service, the other due work orders of the item are done
//! with it), cancel, note. Every change is a `workorder.*` event; open work orders and each
//! item's last service come back after a restart ([`restore`]).

use crate::devices::BedFrame;
use crate::facts::{FactCtx, FactProviders, FactSheet, RuleStanding, RulesStep};
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, Status};
use crate::{Capability, Clock, Phase, Registry};
use bevy_ecs::prelude::*;
use orderly_model::maintenance::{
    Catalogue, LastService, Note, Recall, RecallOp, Usage, WorkOrder, WorkOrderAction,
    WorkOrderError, WorkOrderStatus,
};
use orderly_model::{AssetStatus, EventKind, Timestamp};
use orderly_rules::Fact;
use std::collections::{BTreeMap, BTreeSet};

/// An item's meters.
#[derive(Component, Clone, Debug, Default, PartialEq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct Meters {
    pub usage: Usage,
    /// The first reading Orderly had (without a service record, usage intervals count from the
    /// next multiple of the interval above it).
    pub first: Usage,
    pub occlusions: Option<u64>,
    pub battery_pct: Option<f32>,
    moving: bool,
    /// When the counted meters (bed cycles) were last recorded in an event.
    recorded: Option<Timestamp>,
    /// The discharge on battery under way: its first and latest readings (time, charge).
    discharge: Option<((Timestamp, f32), (Timestamp, f32))>,
    /// Run time on a full charge, hours, from each discharge (the most recent `window`).
    pub runtimes: std::collections::VecDeque<(Timestamp, f64)>,
    /// The last occlusion counter, fault codes and runtime seen.
    occ_last: Option<(u64, Vec<String>, f64)>,
    pub occlusion_cusum: crate::predict::Cusum,
    pub fault_cusum: crate::predict::Cusum,
}

/// Each model's events (occlusion alarms, new fault codes) and infusing hours, for the fleet's
/// reference rates.
#[derive(Resource, Default)]
struct Fleet(BTreeMap<(String, &'static str), (f64, f64)>);

impl Fleet {
    /// Adds a pump's events and hours; returns the fleet's rate (the prior until it has 500 h).
    fn add(
        &mut self,
        model: &str,
        signal: &'static str,
        events: f64,
        hours: f64,
        prior: f64,
    ) -> f64 {
        let f = self.0.entry((model.to_string(), signal)).or_default();
        f.0 += events;
        f.1 += hours;
        if f.1 >= 500.0 {
            (f.0 / f.1).max(1e-6)
        } else {
            prior
        }
    }
}

/// An item's maintenance standing.
#[derive(Component, Clone, Debug, Default, PartialEq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct Service {
    pub last: LastService,
    /// Open work orders of this item.
    pub open: Vec<String>,
    /// Open recalls that cover it and whose work order on it is not done.
    pub recalls: Vec<String>,
}

/// What the rules with `action = "work_order"` said this step: (rule, asset, the message when
/// the rule holds), from the engine's [`RuleStanding`] messages.
#[derive(Resource, Default)]
struct RuleWants(Vec<(String, String, Option<String>)>);

/// Since when each (rule, asset) has held, with its latest message.
#[derive(Resource, Default)]
struct RuleHolds(BTreeMap<(String, String), (Timestamp, String)>);

/// The policies in force.
#[derive(Resource, Clone, Default)]
pub struct Policies(pub Catalogue);

#[derive(Resource, Default)]
struct WorkOrders {
    open: BTreeMap<String, WorkOrder>,
    /// Recalls not closed.
    recalls: BTreeMap<String, Recall>,
    /// (asset, reason) cancelled since the asset's last service: not opened again until then.
    cancelled: BTreeSet<(String, String)>,
    /// When the due check last ran.
    checked: Option<Timestamp>,
}

/// How often the due check runs.
const CHECK_MS: i64 = 60_000;

pub struct MaintenancePlugin;

impl Capability for MaintenancePlugin {
    fn name(&self) -> &'static str {
        "maintenance"
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        set_catalogue(world, &config.maintenance);
    }
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        restore(
            world,
            &restored.work_orders,
            &restored.last_service,
            &restored.cancelled,
            &restored.recalls,
        );
        restore_meters(world, &restored.meters);
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        world.insert_resource(Policies(config.maintenance.clone()));
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[("asset", &["recalled", "open_work_orders"])],
            service_facts,
        );
        crate::facts::watch::<Service>(schedule);
        world.init_resource::<WorkOrders>();
        world.init_resource::<Fleet>();
        world.init_resource::<RuleWants>();
        world.init_resource::<RuleHolds>();
        let assets: Vec<Entity> = world
            .query_filtered::<Entity, With<AssetInfo>>()
            .iter(world)
            .collect();
        for e in assets {
            world
                .entity_mut(e)
                .insert((Meters::default(), Service::default()));
        }
        // After the device systems, whose first reading inserts the component (applied between).
        schedule.add_systems(
            (
                meter_pumps.after(crate::devices::pump_telemetry),
                meter_beds.after(crate::devices::bed_frames),
            )
                .in_set(Phase::Derive),
        );
        // Before the rules: an order opened now is in `asset.open_work_orders` at once.
        schedule.add_systems(check_due.in_set(RulesStep::Prepare));
        schedule.add_systems(
            (collect_rule_wants, rule_orders)
                .chain()
                .in_set(RulesStep::Act),
        );
    }
}

/// Recalls and open work orders, in the `asset` group.
fn service_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if !ctx.wants("asset") || ctx.own::<AssetInfo>().is_none() {
        return;
    }
    let service = ctx.own::<Service>();
    f.set(
        "asset",
        "recalled",
        Fact::Bool(service.is_some_and(|s| !s.recalls.is_empty())),
    );
    f.set(
        "asset",
        "open_work_orders",
        Fact::Int(service.map_or(0, |s| s.open.len() as i64)),
    );
}

fn collect_rule_wants(mut standings: MessageReader<RuleStanding>, mut wants: ResMut<RuleWants>) {
    for s in standings.read() {
        if matches!(s.action, orderly_rules::Action::WorkOrder) {
            wants
                .0
                .push((s.rule.clone(), s.subject.clone(), s.message.clone()));
        }
    }
}

/// A new catalogue: every item is checked again at the next step.
fn set_catalogue(world: &mut World, c: &Catalogue) {
    if world.contains_resource::<Policies>() {
        world.insert_resource(Policies(c.clone()));
        if let Some(mut w) = world.get_resource_mut::<WorkOrders>() {
            w.checked = None;
        }
    }
}

fn meter_pumps(
    policies: Res<Policies>,
    mut fleet: ResMut<Fleet>,
    mut input: MessageReader<crate::ingest::PumpIn>,
    mut pumps: Query<(&AssetInfo, &mut Meters)>,
) {
    let cfg = &policies.0.prediction;
    // Every reading in the order it came, not only a step's latest: the first reading Orderly
    // has of a pump anchors its service points, and a discharge's readings are its curve.
    for p in input.read() {
        let Ok((info, mut m)) = pumps.get_mut(p.pump) else {
            continue;
        };
        let t = &p.telemetry;
        let m = m.as_mut();
        m.usage.runtime_hours = Some(t.runtime_hours);
        m.first.runtime_hours.get_or_insert(t.runtime_hours);
        m.battery_pct = Some(t.battery_pct);
        // Battery: a discharge ends when the pump is plugged in again, or after 2 hours or 30
        // points of charge (then the next one starts), and gives one run-time estimate.
        // Only readings taken on battery count: the first one plugged in again is charging.
        let now = (p.at, t.battery_pct);
        match (t.on_battery, m.discharge) {
            (true, None) => m.discharge = Some((now, now)),
            (true, Some((start, _))) => {
                if now.0.since(start.0) >= 2 * 3_600_000 || start.1 - now.1 >= 30.0 {
                    if let Some(h) = crate::predict::runtime_hours(start, now) {
                        m.runtimes.push_back((now.0, h));
                    }
                    m.discharge = Some((now, now));
                } else {
                    m.discharge = Some((start, now));
                }
            }
            (false, Some((start, last))) => {
                if let Some(h) = crate::predict::runtime_hours(start, last) {
                    m.runtimes.push_back((last.0, h));
                }
                m.discharge = None;
            }
            (false, None) => {}
        }
        while m.runtimes.len() > cfg.window.max(2) {
            m.runtimes.pop_front();
        }
        // Occlusion alarms and new fault codes per infusing hour, against the model's fleet.
        let (alarms, hours) = (t.occlusion_alarms_total, t.runtime_hours);
        m.occlusions = Some(alarms);
        if let Some((a0, f0, h0)) = &m.occ_last {
            let (da, dh) = (alarms as f64 - *a0 as f64, hours - h0);
            let new_faults = t.faults.iter().filter(|f| !f0.contains(f)).count() as f64;
            // A counter reset or a jump of more than a day is not usage: start again from here.
            if da >= 0.0 && (0.0..=24.0).contains(&dh) && dh + da + new_faults > 0.0 {
                let model = info.0.model.clone().unwrap_or_else(|| info.0.kind.clone());
                let policy = policies.0.policy(&info.0.kind, info.0.model.as_deref());
                let rate = fleet.add(&model, "occlusion", da, dh, cfg.prior_rate);
                let ratio = policy.and_then(|p| p.occlusion_ratio).unwrap_or(2.0);
                m.occlusion_cusum.add(da, dh, rate, ratio);
                let rate = fleet.add(&model, "fault", new_faults, dh, cfg.prior_fault_rate);
                let ratio = policy.and_then(|p| p.fault_ratio).unwrap_or(2.0);
                m.fault_cusum.add(new_faults, dh, rate, ratio);
            }
        }
        m.occ_last = Some((alarms, t.faults.clone(), hours));
    }
}

/// How often a bed's actuator cycles are recorded while they move.
const METERS_EVERY_MS: i64 = 3_600_000;

fn meter_beds(
    clock: Res<Clock>,
    mut beds: Query<(&AssetInfo, &BedFrame, &mut Meters), Changed<BedFrame>>,
    mut outbox: ResMut<Outbox>,
) {
    for (info, b, mut m) in &mut beds {
        let moving = b.state.moving;
        if moving == m.moving && m.usage.actuator_cycles.is_some() {
            // Nothing to count: left unchanged (a `Mut` written marks it changed, and the
            // item's maintenance would be looked at again on every bed message).
            continue;
        }
        let m = m.as_mut();
        if moving != m.moving {
            m.moving = moving;
            let n = m.usage.actuator_cycles.unwrap_or(0) + u64::from(moving);
            m.usage.actuator_cycles = Some(n);
            m.first.actuator_cycles.get_or_insert(0);
            // Orderly's own count: recorded now and then, so a restart carries it on.
            if moving
                && m.recorded
                    .is_none_or(|t| clock.now.since(t) >= METERS_EVERY_MS)
            {
                m.recorded = Some(clock.now);
                outbox.push(
                    clock.now,
                    EventKind::AssetMeters {
                        asset: info.0.id.clone(),
                        usage: Usage {
                            runtime_hours: None,
                            actuator_cycles: m.usage.actuator_cycles,
                        },
                        first: Usage {
                            runtime_hours: None,
                            actuator_cycles: m.first.actuator_cycles,
                        },
                    },
                );
            }
        } else {
            // Not moving, never counted: the count starts at zero.
            m.usage.actuator_cycles = Some(0);
            m.first.actuator_cycles = Some(0);
        }
    }
}

/// Puts back the counts only Orderly keeps (a bed's actuator cycles) as last recorded.
fn restore_meters(world: &mut World, meters: &[(String, Usage, Usage)]) {
    for (asset, usage, first) in meters {
        let Some(e) = world.resource::<Registry>().subjects.get(asset).copied() else {
            continue;
        };
        if let Some(mut m) = world.get_mut::<Meters>(e)
            && usage.actuator_cycles.is_some()
        {
            m.usage.actuator_cycles = usage.actuator_cycles;
            m.first.actuator_cycles = first.actuator_cycles;
        }
    }
}

/// The work order for an item, as opened.
fn new_order(
    id: String,
    a: &orderly_model::Asset,
    policy: Option<&orderly_model::maintenance::Policy>,
    reason: String,
    detail: String,
    by: &str,
    now: Timestamp,
) -> WorkOrder {
    WorkOrder {
        id,
        asset: a.id.clone(),
        asset_kind: a.kind.clone(),
        model: a.model.clone(),
        unit: a.unit.clone(),
        reason,
        detail,
        risk: policy.map(|p| p.risk).unwrap_or_default(),
        checks: policy.map(|p| p.checks.clone()).unwrap_or_default(),
        measures: policy.map(|p| p.measures.clone()).unwrap_or_default(),
        results: Vec::new(),
        status: WorkOrderStatus::Open,
        opened_at: now,
        opened_by: by.to_string(),
        updated_at: now,
        scheduled_for: None,
        assignee: None,
        started_at: None,
        closed_at: None,
        closed_by: None,
        notes: Vec::new(),
        usage_at_close: None,
    }
}

#[allow(clippy::type_complexity)]
fn check_due(
    clock: Res<Clock>,
    policies: Res<Policies>,
    mut orders: ResMut<WorkOrders>,
    mut items: Query<(&AssetInfo, Ref<Meters>, &mut Service)>,
    moved: Query<Entity, Changed<Meters>>,
    mut outbox: ResMut<Outbox>,
) {
    let now = clock.now;
    // Every item once a minute (time passes), and an item whose meters moved at once.
    let sweep = orders
        .checked
        .is_none_or(|t| now.since(t) >= CHECK_MS || now < t);
    if sweep {
        orders.checked = Some(now);
    }
    if policies.0.policies.is_empty() {
        return;
    }
    // Between sweeps, only the items whose meters moved (not a walk over every asset each
    // step).
    let mut ordered: Vec<_> = match sweep {
        true => items.iter_mut().collect(),
        false => items
            .iter_many_unique_mut(moved.iter())
            .filter_map(Result::ok)
            .collect(),
    };
    ordered.sort_by(|a, b| a.0.0.id.cmp(&b.0.0.id));
    for (info, meters, mut service) in ordered {
        let a = &info.0;
        let Some(policy) = policies.0.policy(&a.kind, a.model.as_deref()) else {
            continue;
        };
        let mut due = policy.due(
            now,
            &meters.usage,
            &meters.first,
            &service.last,
            a.service_due,
        );
        due.extend(predictions(policy, &policies.0.prediction, &meters, now));
        for due in due {
            let key = (a.id.clone(), due.reason.clone());
            let open = orders
                .open
                .values()
                .any(|w| w.asset == a.id && w.reason == due.reason);
            if open || orders.cancelled.contains(&key) {
                continue;
            }
            let id = format!("wo-{}", outbox.next_seq + 1);
            let wo = new_order(
                id.clone(),
                a,
                Some(policy),
                due.reason,
                due.detail,
                "orderly",
                now,
            );
            tracing::info!(work_order = %id, asset = %a.id, reason = %wo.reason, "maintenance due");
            service.open.push(id.clone());
            orders.open.insert(id, wo.clone());
            outbox.push(now, EventKind::WorkOrderOpened(Box::new(wo)));
        }
    }
}

/// Rules with `action = "work_order"`: once one has held for its `for`, a work order
/// `rule:{id}` on the item, unless one is open (or was cancelled since the item's last service).
fn rule_orders(world: &mut World) {
    let now = world.resource::<Clock>().now;
    let wants = std::mem::take(&mut world.resource_mut::<RuleWants>().0);
    {
        let mut holds = world.resource_mut::<RuleHolds>();
        for (rule, asset, message) in wants {
            match message {
                Some(m) => {
                    holds
                        .0
                        .entry((rule, asset))
                        .or_insert((now, String::new()))
                        .1 = m;
                }
                None => {
                    holds.0.remove(&(rule, asset));
                }
            }
        }
    }
    let due: Vec<(String, String, String)> = {
        let rules = world.resource::<crate::alerts::Rules>();
        let orders = world.resource::<WorkOrders>();
        world
            .resource::<RuleHolds>()
            .0
            .iter()
            .filter(|((rule, _), (since, _))| {
                rules
                    .set
                    .get(rule)
                    .is_some_and(|r| now.since(*since) >= r.hold_ms)
            })
            // A hold whose order is open stays here every step until the rule stops holding
            // (hundreds by the end of a replayed day): looked at without making its reason.
            .filter(|((rule, asset), _)| {
                !orders.open.values().any(|w| {
                    w.asset == *asset && w.reason.strip_prefix("rule:") == Some(rule.as_str())
                })
            })
            .map(|((rule, asset), (_, m))| (format!("rule:{rule}"), asset.clone(), m.clone()))
            .filter(|(reason, asset, _)| {
                !orders.cancelled.contains(&(asset.clone(), reason.clone()))
            })
            .collect()
    };
    for (reason, asset, message) in due {
        if let Err(e) = open(world, &asset, &reason, &message, "orderly") {
            tracing::warn!(asset = %asset, reason = %reason, error = %e, "rule work order not opened");
        }
    }
}

/// What the predictions say is due: a battery falling below its minimum within the horizon, an
/// occlusion rate above the fleet's. Each says which signal, which trend, and how sure.
fn predictions(
    policy: &orderly_model::maintenance::Policy,
    cfg: &orderly_model::maintenance::PredictionConfig,
    m: &Meters,
    now: Timestamp,
) -> Vec<orderly_model::maintenance::DueNow> {
    let mut out = Vec::new();
    if let Some(min) = policy.battery_min_hours {
        let pts: Vec<(Timestamp, f64)> = m.runtimes.iter().copied().collect();
        if let Some(c) = crate::predict::crossing(&pts, min, now, cfg.min_points, cfg.min_days)
            && let Some(at) = c.at
            && at.since(now) as f64 <= cfg.horizon_days * 86_400_000.0
        {
            let date = |t: Option<Timestamp>| t.map_or("-".to_string(), |t| t.date_words());
            out.push(orderly_model::maintenance::DueNow {
                reason: "battery".into(),
                detail: format!(
                    "battery run time {:.1} h on a full charge, {:+.2} h a month over {} discharges; \
                     below {min:.1} h around {} (80% between {} and {})",
                    c.now_value,
                    c.per_month,
                    c.points,
                    date(Some(at)),
                    date(c.earliest),
                    date(c.latest)
                ),
            });
        }
    }
    let watches = [
        (
            "occlusion-rate",
            "occlusion alarms",
            policy.occlusion_ratio,
            &m.occlusion_cusum,
        ),
        (
            "fault-rate",
            "new fault codes",
            policy.fault_ratio,
            &m.fault_cusum,
        ),
    ];
    for (reason, what, ratio, c) in watches {
        if let Some(ratio) = ratio
            && c.s > cfg.cusum_h
        {
            out.push(orderly_model::maintenance::DueNow {
                reason: reason.into(),
                detail: format!(
                    "{:.0} {what} in {:.0} infusing hours ({:.3}/h): CUSUM {:.1} above {:.1} \
                     for a rate {ratio}x the fleet's",
                    c.count,
                    c.exposure,
                    c.count / c.exposure.max(1e-9),
                    c.s,
                    cfg.cusum_h
                ),
            });
        }
    }
    out
}

/// A person opens a work order by hand (`reason` such as `repair`, `inspection`).
pub(crate) fn open(
    world: &mut World,
    asset: &str,
    reason: &str,
    detail: &str,
    by: &str,
) -> Result<(u64, WorkOrder), WorkOrderError> {
    let now = world.resource::<Clock>().now;
    let e = *world
        .resource::<Registry>()
        .subjects
        .get(asset)
        .filter(|e| world.get::<AssetInfo>(**e).is_some())
        .ok_or_else(|| WorkOrderError::NoAsset(asset.to_string()))?;
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 100 {
        return Err(WorkOrderError::Invalid(
            "a reason of 1 to 100 characters is required".into(),
        ));
    }
    if let Some(w) = world
        .resource::<WorkOrders>()
        .open
        .values()
        .find(|w| w.asset == asset && w.reason == reason)
    {
        return Err(WorkOrderError::Duplicate {
            asset: asset.to_string(),
            reason: reason.to_string(),
            id: w.id.clone(),
        });
    }
    let a = world
        .get::<AssetInfo>(e)
        .map(|a| a.0.clone())
        .expect("filtered");
    let policy = world
        .resource::<Policies>()
        .0
        .policy(&a.kind, a.model.as_deref())
        .cloned();
    let mut outbox = world.resource_mut::<Outbox>();
    let id = format!("wo-{}", outbox.next_seq + 1);
    let wo = new_order(
        id.clone(),
        &a,
        policy.as_ref(),
        reason.to_string(),
        detail.to_string(),
        by,
        now,
    );
    outbox.push(now, EventKind::WorkOrderOpened(Box::new(wo.clone())));
    let seq = outbox.last_seq();
    world
        .resource_mut::<WorkOrders>()
        .open
        .insert(id.clone(), wo.clone());
    if let Some(mut s) = world.get_mut::<Service>(e) {
        s.open.push(id);
    }
    Ok((seq, wo))
}

/// A person moves a work order on. Returns the sequence number of the event that records it.
pub(crate) fn act(
    world: &mut World,
    id: &str,
    action: WorkOrderAction,
    by: &str,
) -> Result<(u64, WorkOrder), WorkOrderError> {
    let now = world.resource::<Clock>().now;
    let mut wo = world
        .resource::<WorkOrders>()
        .open
        .get(id)
        .cloned()
        .ok_or_else(|| WorkOrderError::NotFound(id.to_string()))?;
    let e = *world
        .resource::<Registry>()
        .subjects
        .get(&wo.asset)
        .ok_or_else(|| WorkOrderError::NoAsset(wo.asset.clone()))?;
    let refuse = |wo: &WorkOrder, action: &'static str| WorkOrderError::Transition {
        id: wo.id.clone(),
        status: wo.status.as_str(),
        action,
    };
    let note = |wo: &mut WorkOrder, text: &str| {
        let text = text.trim();
        if !text.is_empty() {
            wo.notes.push(Note {
                at: now,
                by: by.to_string(),
                text: text.to_string(),
            });
        }
    };
    // (status change for the asset, other work orders this one closes)
    let mut asset_to: Option<(AssetStatus, String)> = None;
    let mut covered: Vec<String> = Vec::new();
    match action {
        WorkOrderAction::Schedule { at, assignee } => {
            if wo.status == WorkOrderStatus::InProgress {
                return Err(refuse(&wo, "schedule"));
            }
            wo.status = WorkOrderStatus::Scheduled;
            wo.scheduled_for = Some(at);
            if assignee.is_some() {
                wo.assignee = assignee;
            }
        }
        WorkOrderAction::Start => {
            if wo.status == WorkOrderStatus::InProgress {
                return Err(refuse(&wo, "start"));
            }
            wo.status = WorkOrderStatus::InProgress;
            wo.started_at = Some(now);
            if wo.assignee.is_none() {
                wo.assignee = Some(by.to_string());
            }
            asset_to = Some((
                AssetStatus::OutOfService,
                format!("maintenance: work order {id}"),
            ));
        }
        WorkOrderAction::Complete { notes, results } => {
            if wo.status != WorkOrderStatus::InProgress && !results.is_empty() {
                // Results are for work done: start it first (the item goes out of service).
                return Err(refuse(&wo, "enter check results for"));
            }
            wo.results = orderly_model::maintenance::check_results(&wo, &results)
                .map_err(WorkOrderError::Invalid)?;
            note(&mut wo, notes.as_deref().unwrap_or_default());
            wo.status = WorkOrderStatus::Done;
            wo.closed_at = Some(now);
            wo.closed_by = Some(by.to_string());
            let usage = world.get::<Meters>(e).map(|m| m.usage).unwrap_or_default();
            wo.usage_at_close = Some(usage);
            // A service covers every scheduled reason of the item; a repair covers itself.
            if is_service(&wo.reason) {
                covered = world
                    .resource::<WorkOrders>()
                    .open
                    .values()
                    .filter(|w| w.asset == wo.asset && w.id != wo.id && is_service(&w.reason))
                    .map(|w| w.id.clone())
                    .collect();
                if let Some(mut s) = world.get_mut::<Service>(e) {
                    s.last = LastService {
                        at: Some(now),
                        runtime_hours: usage.runtime_hours,
                        actuator_cycles: usage.actuator_cycles,
                    };
                }
                let mut orders = world.resource_mut::<WorkOrders>();
                let asset = wo.asset.clone();
                orders.cancelled.retain(|(a, _)| *a != asset);
            }
            // The part was replaced or fixed: its signal starts again.
            if let Some(mut m) = world.get_mut::<Meters>(e) {
                match wo.reason.as_str() {
                    "battery" => {
                        m.runtimes.clear();
                        m.discharge = None;
                    }
                    "occlusion-rate" => m.occlusion_cusum = Default::default(),
                    "fault-rate" => m.fault_cusum = Default::default(),
                    _ => {}
                }
            }
            if let Some(recall) = wo.reason.strip_prefix("recall:")
                && let Some(mut s) = world.get_mut::<Service>(e)
            {
                s.recalls.retain(|r| r != recall);
            }
            let failed: Vec<String> = wo
                .results
                .iter()
                .filter(|r| !r.passed)
                .map(|r| r.check.clone())
                .collect();
            if !failed.is_empty() {
                // A failed check keeps the item out of service until it is repaired.
                let text = format!(
                    "failed: {}; the item stays out of service until it is repaired",
                    failed.join("; ")
                );
                note(&mut wo, &text);
                asset_to = Some((
                    AssetStatus::OutOfService,
                    format!("failed check in work order {id}: {}", failed.join("; ")),
                ));
            } else if world
                .get::<Status>(e)
                .is_some_and(|s| s.0 == AssetStatus::OutOfService)
            {
                asset_to = Some((
                    AssetStatus::Available,
                    format!("maintenance done: work order {id}"),
                ));
            }
        }
        WorkOrderAction::Cancel { reason } => {
            if reason.trim().is_empty() {
                return Err(WorkOrderError::Invalid(
                    "a reason is required to cancel".into(),
                ));
            }
            note(&mut wo, &format!("cancelled: {}", reason.trim()));
            wo.status = WorkOrderStatus::Cancelled;
            wo.closed_at = Some(now);
            wo.closed_by = Some(by.to_string());
            world
                .resource_mut::<WorkOrders>()
                .cancelled
                .insert((wo.asset.clone(), wo.reason.clone()));
            if wo.started_at.is_some()
                && world
                    .get::<Status>(e)
                    .is_some_and(|s| s.0 == AssetStatus::OutOfService)
            {
                asset_to = Some((AssetStatus::Available, format!("work order {id} cancelled")));
            }
        }
        WorkOrderAction::Note { text } => {
            if text.trim().is_empty() {
                return Err(WorkOrderError::Invalid("an empty note".into()));
            }
            note(&mut wo, &text);
        }
    }
    wo.updated_at = now;
    if let Some((to, why)) = asset_to {
        // The same as a person's status change (audited by the API with the work order).
        let _ = crate::status::set_by_person(world, &wo.asset, to, by, &why);
    }
    let mut closed = vec![wo.clone()];
    for other in covered {
        if let Some(mut w) = world.resource::<WorkOrders>().open.get(&other).cloned() {
            w.status = WorkOrderStatus::Done;
            w.closed_at = Some(now);
            w.closed_by = Some(by.to_string());
            w.updated_at = now;
            w.usage_at_close = wo.usage_at_close;
            w.notes.push(Note {
                at: now,
                by: by.to_string(),
                text: format!("done with work order {id}"),
            });
            closed.push(w);
        }
    }
    let mut seq = 0;
    for w in closed {
        let mut orders = world.resource_mut::<WorkOrders>();
        if w.status.is_open() {
            orders.open.insert(w.id.clone(), w.clone());
        } else {
            orders.open.remove(&w.id);
            if let Some(mut s) = world.get_mut::<Service>(e) {
                s.open.retain(|x| *x != w.id);
            }
        }
        let mut outbox = world.resource_mut::<Outbox>();
        outbox.push(now, EventKind::WorkOrderUpdated(Box::new(w)));
        seq = seq.max(outbox.last_seq());
    }
    Ok((seq, wo))
}

/// Issues or closes a recall. Issuing takes every item it covers out of service at once and
/// opens a work order `recall:{id}` on each; the item is recalled (`asset.recalled`) until that
/// work order is done or the recall closed. Returns the sequence number of the recall's event.
pub(crate) fn recall(world: &mut World, op: RecallOp) -> Result<(u64, Recall), WorkOrderError> {
    let now = world.resource::<Clock>().now;
    match op {
        RecallOp::Issue { notice, by } => {
            let (title, model) = (notice.title.trim(), notice.model.trim());
            if title.is_empty() || model.is_empty() {
                return Err(WorkOrderError::Invalid(
                    "a recall needs a title and the model it covers".into(),
                ));
            }
            if let (Some(a), Some(b)) = (&notice.serial_from, &notice.serial_to)
                && a > b
            {
                return Err(WorkOrderError::Invalid(format!(
                    "serial_from {a:?} comes after serial_to {b:?}"
                )));
            }
            let id = format!("recall-{}", world.resource::<Outbox>().next_seq + 1);
            let mut r = Recall {
                id: id.clone(),
                title: title.to_string(),
                asset_kind: notice.asset_kind.clone(),
                model: model.to_string(),
                serial_from: notice.serial_from.clone(),
                serial_to: notice.serial_to.clone(),
                serials: notice.serials.clone(),
                detail: notice.detail.clone(),
                status: "open".into(),
                opened_at: now,
                opened_by: by.clone(),
                closed_at: None,
                closed_by: None,
                assets: Vec::new(),
            };
            let mut covered: Vec<(Entity, String)> = world
                .query::<(Entity, &AssetInfo)>()
                .iter(world)
                .filter(|(_, a)| r.covers(&a.0.kind, a.0.model.as_deref(), a.0.serial.as_deref()))
                .map(|(e, a)| (e, a.0.id.clone()))
                .collect();
            covered.sort_by(|a, b| a.1.cmp(&b.1));
            r.assets = covered.iter().map(|c| c.1.clone()).collect();
            // The recall first, then what it does to each item.
            let mut outbox = world.resource_mut::<Outbox>();
            outbox.push(now, EventKind::RecallOpened(Box::new(r.clone())));
            let seq = outbox.last_seq();
            world
                .resource_mut::<WorkOrders>()
                .recalls
                .insert(id.clone(), r.clone());
            tracing::warn!(recall = %id, items = r.assets.len(), model = %r.model, "recall issued");
            let detail = if r.detail.is_empty() {
                r.title.clone()
            } else {
                format!("{}: {}", r.title, r.detail)
            };
            for (e, asset) in covered {
                if let Some(mut s) = world.get_mut::<Service>(e) {
                    s.recalls.push(id.clone());
                }
                if world
                    .get::<Status>(e)
                    .is_some_and(|s| s.0 != AssetStatus::OutOfService)
                {
                    let _ = crate::status::set_by_person(
                        world,
                        &asset,
                        AssetStatus::OutOfService,
                        &by,
                        &format!("{id}: {title}"),
                    );
                }
                let _ = open(world, &asset, &format!("recall:{id}"), &detail, &by);
            }
            Ok((seq, r))
        }
        RecallOp::Close { id, by, note } => {
            let mut r = world
                .resource_mut::<WorkOrders>()
                .recalls
                .remove(&id)
                .ok_or_else(|| WorkOrderError::NotFound(id.clone()))?;
            r.status = "closed".into();
            r.closed_at = Some(now);
            r.closed_by = Some(by);
            if !note.trim().is_empty() {
                r.detail = format!("{} (closed: {})", r.detail, note.trim());
            }
            let mut q = world.query::<&mut Service>();
            for mut s in q.iter_mut(world) {
                if s.recalls.contains(&id) {
                    s.recalls.retain(|x| *x != id);
                }
            }
            let mut outbox = world.resource_mut::<Outbox>();
            outbox.push(now, EventKind::RecallUpdated(Box::new(r.clone())));
            Ok((outbox.last_seq(), r))
        }
    }
}

/// The recalls not closed, for the snapshot.
pub(crate) fn open_recalls(world: &World) -> BTreeMap<String, Recall> {
    world
        .get_resource::<WorkOrders>()
        .map(|w| w.recalls.clone())
        .unwrap_or_default()
}

/// A policy's reasons (a scheduled service), as opposed to a repair or a rule's.
fn is_service(reason: &str) -> bool {
    matches!(reason, "interval" | "runtime" | "cycles")
}

/// The open work orders, for the snapshot.
pub(crate) fn open_orders(world: &World) -> BTreeMap<String, WorkOrder> {
    world
        .get_resource::<WorkOrders>()
        .map(|w| w.open.clone())
        .unwrap_or_default()
}

/// What the store remembers: open work orders, each item's last service, and the reasons
/// cancelled since it.
fn restore(
    world: &mut World,
    open: &[WorkOrder],
    last: &[(String, LastService)],
    cancelled: &[(String, String)],
    recalls: &[Recall],
) {
    if !world.contains_resource::<WorkOrders>() {
        return;
    }
    let registry = world.resource::<Registry>();
    let entity = |id: &str| registry.subjects.get(id).copied();
    let found: Vec<(Entity, &WorkOrder)> = open
        .iter()
        .filter_map(|w| Some((entity(&w.asset)?, w)))
        .collect();
    let services: Vec<(Entity, LastService)> = last
        .iter()
        .filter_map(|(a, l)| Some((entity(a)?, *l)))
        .collect();
    for (e, l) in services {
        if let Some(mut s) = world.get_mut::<Service>(e) {
            s.last = l;
        }
    }
    for (e, w) in found {
        if let Some(mut s) = world.get_mut::<Service>(e) {
            s.open.push(w.id.clone());
        }
        world
            .resource_mut::<WorkOrders>()
            .open
            .insert(w.id.clone(), w.clone());
    }
    world
        .resource_mut::<WorkOrders>()
        .cancelled
        .extend(cancelled.iter().cloned());
    // An item is still recalled while its recall's work order is open.
    for r in recalls.iter().filter(|r| r.status == "open") {
        let key = format!("recall:{}", r.id);
        let pending: Vec<Entity> = open
            .iter()
            .filter(|w| w.reason == key)
            .filter_map(|w| world.resource::<Registry>().subjects.get(&w.asset).copied())
            .collect();
        for e in pending {
            if let Some(mut s) = world.get_mut::<Service>(e) {
                s.recalls.push(r.id.clone());
            }
        }
        world
            .resource_mut::<WorkOrders>()
            .recalls
            .insert(r.id.clone(), r.clone());
    }
}
