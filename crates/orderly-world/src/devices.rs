//! Devices: the latest smart-bed frame state and infusion-pump telemetry on their assets, and
//! the status that follows from them (a pump infusing or a bed occupied is in use).

use crate::ingest::{BedStateIn, PumpIn};
use crate::registry::Status;
use crate::status::StatusCause;
use crate::{Capability, Phase};
use bevy_ecs::prelude::*;
use orderly_model::AssetStatus;
use orderly_model::reading::{BedState, PumpState, PumpTelemetry};

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
    fn build(&self, _world: &mut World, schedule: &mut Schedule) {
        schedule.add_systems((bed_frames, pump_telemetry).in_set(Phase::Derive));
    }
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
