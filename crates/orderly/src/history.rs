//! A fresh demo's service history. Before the demo's world starts on an empty database,
//! Orderly's own world runs the months before now in virtual time: simulated engineers record
//! each item's first service and then take the work orders the world opens through their
//! lifecycle (`orderly_sim::history`), and the last weeks of a pump fleet's telemetry
//! (`orderly_sim::fleet`: discharges on battery, occlusion alarms, some degrading) feed the
//! predictions. What the world decided about maintenance (work orders, and the status changes
//! they made) is committed to the store, and the demo starts from it as from a restart: due,
//! overdue, predicted, in-progress and completed work are all there at once, each from the
//! same logic as live.

use orderly_floorplan::Floorplan;
use orderly_model::{EventKind, OutEvent, Seed, Timestamp};
use orderly_sim::fleet::{Fleet, FleetConfig};
use orderly_sim::history::{EngineerConfig, Engineers};
use orderly_world::{Command, Hospital, RuleSet, WorldConfig};
use std::sync::Arc;

const DAY_MS: i64 = 24 * 3_600_000;

/// How much history.
#[derive(Clone, Debug)]
pub struct HistoryConfig {
    pub days: i64,
    /// Pump telemetry for the last this many days (the predictions' data).
    pub telemetry_days: u32,
    /// Pumps reporting telemetry (`pump-0001` ...).
    pub pumps: usize,
    pub seed: u64,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            days: 300,
            telemetry_days: 60,
            pumps: 12,
            seed: 1,
        }
    }
}

/// Runs the history up to `now` and returns the maintenance events to commit.
pub fn simulate(
    fp: Arc<Floorplan>,
    seed: &Seed,
    config: WorldConfig,
    rules: Arc<RuleSet>,
    now: Timestamp,
    cfg: &HistoryConfig,
) -> Vec<OutEvent> {
    let catalogue = config.maintenance.clone();
    // Months of maintenance only: environment sensors that never speak in it would only go
    // silent, minute by minute, for months.
    let mut quiet = seed.clone();
    quiet.sensors.clear();
    let mut h = Hospital::new(fp, &quiet, config, rules);
    let start = now.plus_ms(-cfg.days * DAY_MS);
    let mut engineers = Engineers::new(EngineerConfig {
        seed: cfg.seed,
        ..EngineerConfig::default()
    });
    let timed: Vec<(String, u32)> = seed
        .assets
        .iter()
        .filter_map(|a| {
            catalogue
                .policy(&a.kind, a.model.as_deref())
                .and_then(|p| p.every_days)
                .map(|d| (a.id.clone(), d))
        })
        .collect();
    let mut firsts = engineers
        .first_services(&timed, start, cfg.days - 30)
        .into_iter()
        .peekable();
    let telemetry_from = now.plus_ms(-(cfg.telemetry_days as i64) * DAY_MS);
    let mut fleet = Fleet::new(
        FleetConfig {
            seed: cfg.seed,
            pumps: cfg.pumps,
            days: cfg.telemetry_days,
            step_min: 60,
            // A demo's share: enough degrading pumps that some are predicted by now.
            battery_share: 0.5,
            occlusion_share: 0.25,
            onset_after_days: 0,
            ..FleetConfig::default()
        },
        telemetry_from,
    );
    let mut events = Vec::new();
    let mut t = start;
    let mut next_act = start;
    h.step(t);
    loop {
        // Half-day steps, hourly while the fleet reports.
        let next = if t.plus_ms(DAY_MS / 2) > telemetry_from {
            match fleet.step_inbound() {
                Some((ft, messages)) => {
                    for m in messages {
                        h.push(m);
                    }
                    ft
                }
                None => now,
            }
        } else {
            t.plus_ms(DAY_MS / 2)
        };
        t = next.min(now);
        while let Some((_, asset)) = firsts.next_if(|(at, _)| *at <= t) {
            let op = engineers.record_first(&asset);
            if let Err(e) = h.apply(Command::Maintenance(op)) {
                tracing::debug!(%asset, error = %e, "history: first service not recorded");
            }
        }
        keep(&mut events, h.step(t));
        // The engineers look at the board twice a day.
        if t >= next_act || t >= now {
            next_act = t.plus_ms(DAY_MS / 2);
            let open: Vec<_> = h.snapshot().work_orders.values().cloned().collect();
            for op in engineers.act(t, &open) {
                if let Err(e) = h.apply(Command::Maintenance(op)) {
                    tracing::debug!(error = %e, "history: an engineer's step refused");
                }
            }
        }
        if t >= now {
            break;
        }
    }
    keep(&mut events, h.step(now));
    events
}

/// The maintenance events: work orders, and the status changes their work made.
fn keep(into: &mut Vec<OutEvent>, events: Vec<OutEvent>) {
    into.extend(events.into_iter().filter(|e| match &e.kind {
        EventKind::WorkOrderOpened(_) | EventKind::WorkOrderUpdated(_) => true,
        EventKind::StatusChanged { reason, .. } => reason.contains("work order"),
        _ => false,
    }));
}
