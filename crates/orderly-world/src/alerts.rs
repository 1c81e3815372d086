//! Alerts: one active alert per (rule, subject), raised when its condition becomes true and
//! resolved when it clears. The built-in conditions here are the devices' own alarms (a bed
//! exit alarm sounding, a pump in alarm); rule files extend them.

use crate::devices::{BedFrame, PumpStatus};
use crate::locate::Location;
use crate::registry::{AssetInfo, PatientInfo, Subject};
use crate::{Capability, Clock, Phase, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::reading::{ExitAlarm, PumpState};
use orderly_model::{Alert, AlertState, EventKind, Priority, Timestamp};
use std::collections::BTreeMap;

use crate::outbox::Outbox;

/// Alerts that are active or acknowledged, keyed by (rule, subject).
#[derive(Resource, Default)]
pub struct ActiveAlerts(pub BTreeMap<(String, String), Alert>);

pub struct AlertsPlugin;

impl Capability for AlertsPlugin {
    fn name(&self) -> &'static str {
        "alerts"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule) {
        world.init_resource::<ActiveAlerts>();
        schedule.add_systems((bed_exit_alarm, pump_alarm).in_set(Phase::Rules));
    }
}

/// Where an item is: its room id and that room's unit (or the item's home unit).
fn place(
    site: &Site,
    loc: Option<&Location>,
    home_unit: Option<&String>,
) -> (Option<String>, Option<String>) {
    match loc {
        Some(l) => {
            let r = &site.0.rooms[l.room as usize];
            (
                Some(r.id.clone()),
                r.unit.clone().or_else(|| home_unit.cloned()),
            )
        }
        None => (None, home_unit.cloned()),
    }
}

struct Condition<'a> {
    rule: &'a str,
    subject: &'a str,
    active: bool,
    priority: Priority,
    room: Option<String>,
    unit: Option<String>,
    message: String,
}

fn apply(now: Timestamp, c: Condition, alerts: &mut ActiveAlerts, outbox: &mut Outbox) {
    let key = (c.rule.to_string(), c.subject.to_string());
    match (c.active, alerts.0.contains_key(&key)) {
        (true, false) => {
            let alert = Alert {
                id: format!("{}:{}:{}", c.rule, c.subject, now.millis()),
                rule: c.rule.to_string(),
                subject: c.subject.to_string(),
                unit: c.unit,
                room: c.room,
                priority: c.priority,
                state: AlertState::Active,
                message: c.message,
                raised_at: now,
            };
            alerts.0.insert(key, alert.clone());
            outbox.push(now, EventKind::AlertRaised(alert));
        }
        (false, true) => {
            if let Some(mut alert) = alerts.0.remove(&key) {
                alert.state = AlertState::Resolved;
                outbox.push(now, EventKind::AlertResolved(alert));
            }
        }
        _ => {}
    }
}

#[allow(clippy::type_complexity)]
fn bed_exit_alarm(
    clock: Res<Clock>,
    site: Res<Site>,
    registry: Res<Registry>,
    beds: Query<(&Subject, &AssetInfo, &BedFrame, Option<&Location>), Changed<BedFrame>>,
    patients: Query<&PatientInfo>,
    mut alerts: ResMut<ActiveAlerts>,
    mut outbox: ResMut<Outbox>,
) {
    for (subject, info, frame, loc) in &beds {
        let (room, unit) = place(&site, loc, info.0.unit.as_ref());
        let who = registry
            .bed_patient
            .get(&subject.id)
            .and_then(|e| patients.get(*e).ok())
            .map_or_else(
                || "a patient".to_string(),
                |p| format!("{} ({})", p.0.name, p.0.id),
            );
        let message = format!(
            "Bed exit alarm: {who} in {}",
            room.as_deref().unwrap_or("an unknown room")
        );
        let active = frame.state.exit_alarm == ExitAlarm::Alarming;
        apply(
            clock.now,
            Condition {
                rule: "bed-exit-alarm",
                subject: &subject.id,
                active,
                priority: Priority::High,
                room,
                unit,
                message,
            },
            &mut alerts,
            &mut outbox,
        );
    }
}

#[allow(clippy::type_complexity)]
fn pump_alarm(
    clock: Res<Clock>,
    site: Res<Site>,
    pumps: Query<(&Subject, &AssetInfo, &PumpStatus, Option<&Location>), Changed<PumpStatus>>,
    mut alerts: ResMut<ActiveAlerts>,
    mut outbox: ResMut<Outbox>,
) {
    for (subject, info, status, loc) in &pumps {
        let (room, unit) = place(&site, loc, info.0.unit.as_ref());
        let faults = status.telemetry.faults.join(", ");
        let message = format!(
            "Infusion pump {} alarming in {}{}",
            subject.id,
            room.as_deref().unwrap_or("an unknown room"),
            if faults.is_empty() {
                String::new()
            } else {
                format!(" (faults {faults})")
            }
        );
        let active = status.telemetry.state == PumpState::Alarm;
        apply(
            clock.now,
            Condition {
                rule: "pump-alarm",
                subject: &subject.id,
                active,
                priority: Priority::Medium,
                room,
                unit,
                message,
            },
            &mut alerts,
            &mut outbox,
        );
    }
}

/// Puts back the alerts that were open before a restart.
pub(crate) fn restore(world: &mut World, alerts: Vec<Alert>) {
    let Some(mut active) = world.get_resource_mut::<ActiveAlerts>() else {
        return;
    };
    for a in alerts {
        active.0.insert((a.rule.clone(), a.subject.clone()), a);
    }
}
