//! Ingest: checks each received message against the registry (known device of the topic's
//! class, sequence numbers) and routes it as a typed message to the capabilities. Anything
//! rejected is counted per reason and device and changes nothing else.

use crate::{Capability, Phase, Registry};
use bevy_ecs::message::MessageRegistry;
use bevy_ecs::prelude::*;
use orderly_model::reading::{
    BedLoad, BedState, CommandAck, DeviceClass, PumpTelemetry, RejectReason, Rejected, Sighting,
    WearableEvent, WearableImu,
};
use orderly_model::view::IngestView;
use orderly_model::{Inbound, Payload, Reading, Timestamp};
use std::collections::{HashMap, VecDeque};

/// Messages received since the last step, in receive order.
#[derive(Resource, Default)]
pub struct Inbox(pub Vec<Inbound>);

/// How many rejections are kept for the API.
pub const RECENT_REJECTIONS: usize = 50;

/// Counters of good and bad input.
#[derive(Resource, Default)]
pub struct IngestStats {
    pub view: IngestView,
    recent: VecDeque<Rejected>,
    /// Sightings of tags that are not in the registry (visitors' tags, other systems').
    pub unknown_tags: u64,
    pub sightings: u64,
}

impl IngestStats {
    pub fn reject(&mut self, r: Rejected) {
        self.view.rejected += 1;
        *self.view.by_reason.entry(r.reason).or_default() += 1;
        let dev = r.device.clone().unwrap_or_else(|| "-".into());
        // Bound the per-device map: a flood of made-up ids must not grow memory without end.
        if self.view.by_device.len() < 10_000 || self.view.by_device.contains_key(&dev) {
            *self.view.by_device.entry(dev).or_default() += 1;
        }
        if self.recent.len() == RECENT_REJECTIONS {
            self.recent.pop_front();
        }
        self.recent.push_back(r);
    }
    pub fn view(&self) -> IngestView {
        let mut v = self.view.clone();
        v.recent = self.recent.iter().cloned().collect();
        v
    }
}

/// Last sequence number per device.
#[derive(Resource, Default)]
pub struct SeqTracker(HashMap<String, u64>);

/// A jump back by more than this many is a device restart, not a duplicate.
const SEQ_RESTART: u64 = 1000;

#[derive(Message, Clone, Debug)]
pub struct SightingsIn {
    pub at: Timestamp,
    pub ts: Timestamp,
    pub receiver: u32,
    pub room: u32,
    pub sightings: Vec<Sighting>,
}

#[derive(Message, Clone, Debug)]
pub struct BedStateIn {
    pub at: Timestamp,
    pub ts: Timestamp,
    pub bed: Entity,
    pub state: BedState,
}

#[derive(Message, Clone, Debug)]
pub struct BedLoadIn {
    pub at: Timestamp,
    pub ts: Timestamp,
    pub bed: Entity,
    pub load: BedLoad,
}

#[derive(Message, Clone, Debug)]
pub struct CommandAckIn {
    pub at: Timestamp,
    pub bed: Entity,
    pub ack: CommandAck,
}

#[derive(Message, Clone, Debug)]
pub struct PumpIn {
    pub at: Timestamp,
    pub ts: Timestamp,
    pub pump: Entity,
    pub telemetry: PumpTelemetry,
}

#[derive(Message, Clone, Debug)]
pub struct ImuIn {
    pub at: Timestamp,
    pub ts: Timestamp,
    pub patient: Entity,
    pub imu: WearableImu,
}

#[derive(Message, Clone, Debug)]
pub struct WearableEventIn {
    pub at: Timestamp,
    pub ts: Timestamp,
    pub patient: Entity,
    pub event: WearableEvent,
}

pub struct IngestPlugin;

impl Capability for IngestPlugin {
    fn name(&self) -> &'static str {
        "ingest"
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, _: &crate::WorldConfig) {
        world.init_resource::<Inbox>();
        world.init_resource::<IngestStats>();
        world.init_resource::<SeqTracker>();
        MessageRegistry::register_message::<SightingsIn>(world);
        MessageRegistry::register_message::<BedStateIn>(world);
        MessageRegistry::register_message::<BedLoadIn>(world);
        MessageRegistry::register_message::<CommandAckIn>(world);
        MessageRegistry::register_message::<PumpIn>(world);
        MessageRegistry::register_message::<ImuIn>(world);
        MessageRegistry::register_message::<WearableEventIn>(world);
        schedule.add_systems(route_inbox.in_set(Phase::Ingest));
    }
}

#[derive(bevy_ecs::system::SystemParam)]
struct Writers<'w> {
    sightings: MessageWriter<'w, SightingsIn>,
    bed_state: MessageWriter<'w, BedStateIn>,
    bed_load: MessageWriter<'w, BedLoadIn>,
    acks: MessageWriter<'w, CommandAckIn>,
    pumps: MessageWriter<'w, PumpIn>,
    imu: MessageWriter<'w, ImuIn>,
    wearable: MessageWriter<'w, WearableEventIn>,
}

fn route_inbox(
    mut inbox: ResMut<Inbox>,
    mut stats: ResMut<IngestStats>,
    mut seqs: ResMut<SeqTracker>,
    registry: Res<Registry>,
    mut out: Writers,
) {
    for inbound in inbox.0.drain(..) {
        let r = match inbound {
            Inbound::Rejected(rej) => {
                stats.reject(rej);
                continue;
            }
            Inbound::Reading(r) => r,
        };
        let class = r.payload.device_class();
        let entity = if class == DeviceClass::Receiver {
            registry.receivers.get(&r.device).map(|_| None)
        } else {
            match registry.devices.get(&r.device) {
                Some((c, e)) if *c == class => Some(Some(*e)),
                _ => None,
            }
        };
        let Some(entity) = entity else {
            stats.reject(rejected(
                &r,
                RejectReason::UnknownDevice,
                format!("no {class:?} with id {:?} in the registry", r.device),
            ));
            continue;
        };
        if let Some(seq) = r.seq {
            let last = seqs.0.get(&r.device).copied();
            if let Some(last) = last {
                if seq <= last && last - seq < SEQ_RESTART {
                    stats.reject(rejected(
                        &r,
                        RejectReason::Duplicate,
                        format!("seq {seq} after {last}"),
                    ));
                    continue;
                }
                if seq > last + 1 {
                    stats.view.gaps += seq - last - 1;
                }
            }
            seqs.0.insert(r.device.clone(), seq);
        }
        stats.view.accepted += 1;
        let (at, ts) = (r.at, r.ts);
        match (r.payload, entity) {
            (Payload::Sightings(s), None) => {
                let (receiver, room) = registry.receivers[&r.device];
                stats.sightings += s.sightings.len() as u64;
                out.sightings.write(SightingsIn {
                    at,
                    ts,
                    receiver,
                    room,
                    sightings: s.sightings,
                });
            }
            (Payload::BedState(state), Some(bed)) => {
                out.bed_state.write(BedStateIn { at, ts, bed, state });
            }
            (Payload::BedLoad(load), Some(bed)) => {
                out.bed_load.write(BedLoadIn { at, ts, bed, load });
            }
            (Payload::CommandAck(ack), Some(bed)) => {
                out.acks.write(CommandAckIn { at, bed, ack });
            }
            (Payload::PumpTelemetry(telemetry), Some(pump)) => {
                out.pumps.write(PumpIn {
                    at,
                    ts,
                    pump,
                    telemetry,
                });
            }
            (Payload::WearableImu(imu), Some(patient)) => {
                out.imu.write(ImuIn {
                    at,
                    ts,
                    patient,
                    imu,
                });
            }
            (Payload::WearableEvent(event), Some(patient)) => {
                out.wearable.write(WearableEventIn {
                    at,
                    ts,
                    patient,
                    event,
                });
            }
            _ => {}
        }
    }
}

fn rejected(r: &Reading, reason: RejectReason, detail: String) -> Rejected {
    Rejected {
        at: r.at,
        topic: r.payload.topic_suffix(&r.device),
        device: Some(r.device.clone()),
        reason,
        detail,
    }
}
