//! Devices: the latest smart-bed frame state and infusion-pump telemetry on their assets, and
//! the status that follows from them (a pump infusing or a bed occupied is in use).

use crate::facts::{FactCtx, FactProviders, FactSheet, watch};
use crate::ingest::{BedStateIn, PumpIn};
use crate::registry::Status;
use crate::registry::StatusCause;
use crate::{Capability, Phase};
use bevy_ecs::prelude::*;
use orderly_model::AssetStatus;
use orderly_model::reading::{BedHeight, BedState, ExitAlarm, PumpState, PumpTelemetry, Surface};
use orderly_rules::Fact;

/// The bed's latest reported frame state, and when it was received.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct BedFrame {
    pub state: BedState,
    pub at: orderly_model::Timestamp,
}

/// The pump's latest telemetry.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct PumpStatus {
    pub telemetry: PumpTelemetry,
    pub at: orderly_model::Timestamp,
}

pub struct DevicesPlugin;

impl Capability for DevicesPlugin {
    fn name(&self) -> &'static str {
        "devices"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, _: &crate::WorldConfig) {
        schedule.add_systems((bed_frames, pump_telemetry).in_set(Phase::Derive));
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[
                (
                    "bed",
                    &[
                        "id",
                        "reported",
                        "occupied",
                        "hob_deg",
                        "height",
                        "brakes",
                        "rails_up",
                        "upper_rails_up",
                        "exit_alarm",
                        "surface",
                        "moving",
                    ],
                ),
                (
                    "pump",
                    &[
                        "id",
                        "reported",
                        "state",
                        "battery_pct",
                        "on_battery",
                        "runtime_hours",
                        "occlusion_alarms_total",
                        "faults",
                    ],
                ),
            ],
            device_facts,
        );
        watch::<BedFrame>(schedule);
        watch::<PumpStatus>(schedule);
    }
}

/// The `bed` group's frame state (from the patient's bed for a patient) and the `pump` group.
/// Rules reading either wait until the device has reported.
fn device_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if ctx.wants("bed") {
        let frame = ctx.of_bed::<BedFrame>();
        bed_facts(f, ctx.bed_id.unwrap_or_default().to_string(), frame);
        f.awaits_report("bed");
        if frame.is_some() {
            f.reported("bed");
        }
    }
    if ctx.wants("pump") {
        let pump = ctx.own::<PumpStatus>();
        pump_facts(f, ctx.id, pump);
        f.awaits_report("pump");
        if pump.is_some() {
            f.reported("pump");
        }
    }
}

fn bed_facts(f: &mut FactSheet, id: String, frame: Option<&BedFrame>) {
    let g = "bed";
    f.set(g, "id", Fact::String(id));
    f.set(g, "reported", Fact::Bool(frame.is_some()));
    let s = frame.map(|b| &b.state);
    f.set(g, "occupied", Fact::Bool(s.is_some_and(|s| s.occupied)));
    f.set(
        g,
        "hob_deg",
        Fact::Double(s.map_or(0.0, |s| f64::from(s.hob_deg))),
    );
    let height = match s.map(|s| s.height) {
        Some(BedHeight::Raised) => "raised",
        _ => "low",
    };
    f.set(g, "height", Fact::String(height.into()));
    f.set(g, "brakes", Fact::Bool(s.is_some_and(|s| s.brakes)));
    let rails = s.map_or(0, |s| {
        [
            s.rails.head_left,
            s.rails.head_right,
            s.rails.foot_left,
            s.rails.foot_right,
        ]
        .iter()
        .filter(|r| **r)
        .count()
    });
    f.set(g, "rails_up", Fact::Int(rails as i64));
    let upper = s.map_or(0, |s| {
        usize::from(s.rails.head_left) + usize::from(s.rails.head_right)
    });
    f.set(g, "upper_rails_up", Fact::Int(upper as i64));
    let exit = match s.map(|s| s.exit_alarm) {
        Some(ExitAlarm::Armed) => "armed",
        Some(ExitAlarm::Alarming) => "alarming",
        _ => "off",
    };
    f.set(g, "exit_alarm", Fact::String(exit.into()));
    let surface = match s.map(|s| s.surface) {
        Some(Surface::Alternating) => "alternating",
        Some(Surface::Rotation) => "rotation",
        _ => "static",
    };
    f.set(g, "surface", Fact::String(surface.into()));
    f.set(g, "moving", Fact::Bool(s.is_some_and(|s| s.moving)));
}

fn pump_facts(f: &mut FactSheet, id: &str, pump: Option<&PumpStatus>) {
    let g = "pump";
    let t = pump.map(|p| &p.telemetry);
    f.set(g, "id", Fact::String(id.to_string()));
    f.set(g, "reported", Fact::Bool(t.is_some()));
    let state = match t.map(|t| t.state) {
        Some(PumpState::Idle) => "idle",
        Some(PumpState::Infusing) => "infusing",
        Some(PumpState::Paused) => "paused",
        Some(PumpState::Alarm) => "alarm",
        _ => "off",
    };
    f.set(g, "state", Fact::String(state.into()));
    f.set(
        g,
        "battery_pct",
        Fact::Double(t.map_or(0.0, |t| f64::from(t.battery_pct))),
    );
    f.set(g, "on_battery", Fact::Bool(t.is_some_and(|t| t.on_battery)));
    f.set(
        g,
        "runtime_hours",
        Fact::Double(t.map_or(0.0, |t| t.runtime_hours)),
    );
    f.set(
        g,
        "occlusion_alarms_total",
        Fact::Int(t.map_or(0, |t| t.occlusion_alarms_total.min(i64::MAX as u64) as i64)),
    );
    f.set(
        g,
        "faults",
        Fact::StringList(t.map(|t| t.faults.clone()).unwrap_or_default()),
    );
}

/// Sets a component, marking it changed only when the value differs (so `Changed<T>` means a
/// real change), or inserts it the first time.
fn upsert<T>(commands: &mut Commands, e: Entity, current: Option<Mut<T>>, new: T)
where
    T: Component<Mutability = bevy_ecs::component::Mutable> + PartialEq,
{
    match current {
        Some(mut c) => {
            c.set_if_neq(new);
        }
        None => {
            commands.entity(e).insert(new);
        }
    }
}

pub(crate) fn bed_frames(
    mut input: MessageReader<BedStateIn>,
    mut beds: Query<(Option<&mut BedFrame>, &mut Status, &mut StatusCause)>,
    mut commands: Commands,
) {
    for m in input.read() {
        let Ok((frame, mut status, mut cause)) = beds.get_mut(m.bed) else {
            continue;
        };
        let new = BedFrame {
            state: m.state.clone(),
            at: m.at,
        };
        upsert(&mut commands, m.bed, frame, new);
        if m.state.occupied
            && status.0 != AssetStatus::OutOfService
            && status.set_if_neq(Status(AssetStatus::InUse))
        {
            cause.0 = "bed occupied";
        }
    }
}

pub(crate) fn pump_telemetry(
    mut input: MessageReader<PumpIn>,
    mut pumps: Query<(Option<&mut PumpStatus>, &mut Status, &mut StatusCause)>,
    mut commands: Commands,
) {
    for m in input.read() {
        let Ok((current, mut status, mut cause)) = pumps.get_mut(m.pump) else {
            continue;
        };
        let new = PumpStatus {
            telemetry: m.telemetry.clone(),
            at: m.at,
        };
        upsert(&mut commands, m.pump, current, new);
        if status.0 == AssetStatus::OutOfService {
            continue;
        }
        let busy = matches!(
            m.telemetry.state,
            PumpState::Infusing | PumpState::Paused | PumpState::Alarm
        );
        if busy {
            if status.set_if_neq(Status(AssetStatus::InUse)) {
                cause.0 = "pump in use";
            }
        } else if status.0 == AssetStatus::InUse {
            // Use has ended: the pump goes to cleaning before it is available again.
            status.set_if_neq(Status(AssetStatus::NeedsCleaning));
            cause.0 = "pump use ended";
        }
    }
}
