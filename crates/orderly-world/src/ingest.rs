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

/// How far a device's clock may be from Orderly's (`[ingest]` in detectors.toml).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// A message stamped further ahead than this of its receipt is rejected as `clock_skew`.
    pub max_clock_ahead_s: f64,
    /// A message stamped further back than this before its receipt is rejected as
    /// `clock_skew` (the backlog a broker kept during an outage is younger than this).
    pub max_clock_behind_s: f64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_clock_ahead_s: 300.0,
            max_clock_behind_s: 86_400.0,
        }
    }
}

#[derive(Resource, Clone, Default)]
struct Limits(IngestConfig);

/// Per device: the last sequence number in force, the recent ones (to tell a redelivery from a
/// counter that went back), and a pending re-sync.
#[derive(Clone, Debug, Default)]
struct SeqState {
    last: u64,
    recent: VecDeque<u64>,
    /// A message behind `last` that was not a repeat: (its seq). One more behind it and ahead
    /// of it re-syncs the device's counter.
    behind: Option<u64>,
}

/// Sequence numbers per device.
#[derive(Resource, Default)]
pub struct SeqTracker(HashMap<String, SeqState>);

/// A jump back by more than this many is a device restart, not a duplicate.
const SEQ_RESTART: u64 = 1000;
/// How many recent sequence numbers are remembered per device.
const SEQ_WINDOW: usize = 64;

/// What a sequence number means for a device.
#[derive(Debug, PartialEq, Eq)]
enum Seq {
    /// Use it (the gap since the last, if any).
    Accept { gap: u64 },
    /// A repeat of a recent one (a redelivery).
    Repeat,
    /// Behind the last and not a repeat: the counter may have been pushed ahead by a bad or
    /// forged message, or the device restarted; the next one behind and ascending re-syncs.
    Behind,
}

impl SeqState {
    fn judge(&mut self, seq: u64) -> Seq {
        if self.recent.is_empty() {
            self.take(seq);
            return Seq::Accept { gap: 0 };
        }
        if self.recent.contains(&seq) {
            return Seq::Repeat;
        }
        if seq > self.last {
            // A jump of a thousand or more is a counter that jumped (or was pushed), not that
            // many messages lost.
            let gap = seq - self.last - 1;
            self.take(seq);
            return Seq::Accept {
                gap: if gap < SEQ_RESTART { gap } else { 0 },
            };
        }
        // Behind: a device restart (far back), or a counter pushed ahead by a bad message.
        let resync = self.last - seq >= SEQ_RESTART || self.behind.is_some_and(|b| seq > b);
        if resync {
            self.recent.clear();
            self.take(seq);
            return Seq::Accept { gap: 0 };
        }
        self.behind = Some(seq);
        Seq::Behind
    }

    fn take(&mut self, seq: u64) {
        self.last = seq;
        self.behind = None;
        if self.recent.len() == SEQ_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(seq);
    }
}

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

/// An environment sensor's reading.
#[derive(Message, Clone, Debug)]
pub struct EnvIn {
    pub at: Timestamp,
    pub ts: Timestamp,
    pub sensor: Entity,
    pub reading: orderly_model::environment::EnvReading,
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
pub struct VitalsIn {
    pub at: Timestamp,
    pub ts: Timestamp,
    pub patient: Entity,
    pub vitals: orderly_model::reading::Vitals,
    /// What measured them, in words: `wearable W-1`, `monitor MON-3`, `HL7 ORU from LAB`.
    pub source: String,
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
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        world.insert_resource(Limits(config.ingest.clone()));
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        world.insert_resource(Limits(config.ingest.clone()));
        world.init_resource::<Inbox>();
        world.init_resource::<IngestStats>();
        world.init_resource::<SeqTracker>();
        MessageRegistry::register_message::<SightingsIn>(world);
        MessageRegistry::register_message::<BedStateIn>(world);
        MessageRegistry::register_message::<BedLoadIn>(world);
        MessageRegistry::register_message::<CommandAckIn>(world);
        MessageRegistry::register_message::<PumpIn>(world);
        MessageRegistry::register_message::<EnvIn>(world);
        MessageRegistry::register_message::<ImuIn>(world);
        MessageRegistry::register_message::<WearableEventIn>(world);
        MessageRegistry::register_message::<VitalsIn>(world);
        schedule.add_systems(route_inbox.in_set(Phase::Ingest));
        world.resource_mut::<crate::facts::FactProviders>().add(
            self.name(),
            &[("asset", &["clock_wrong", "clock_offset_s"])],
            clock_facts,
        );
        crate::facts::watch::<DeviceClock>(schedule);
        crate::facts::watch::<Late>(schedule);
    }
}

/// `asset.clock_wrong` and `asset.clock_offset_s` of an asset with its own device, and when
/// the subject's data was sent if it arrived late.
fn clock_facts(ctx: &crate::facts::FactCtx<'_>, f: &mut crate::facts::FactSheet) {
    if let Some(l) = ctx.own::<Late>() {
        f.data_from(l.ts);
    }
    if ctx.wants("asset") {
        let c = ctx.own::<DeviceClock>();
        f.set(
            "asset",
            "clock_wrong",
            orderly_rules::Fact::Bool(c.is_some()),
        );
        f.set(
            "asset",
            "clock_offset_s",
            orderly_rules::Fact::Double(c.map_or(0.0, |c| c.offset_ms as f64 / 1000.0)),
        );
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
    vitals: MessageWriter<'w, VitalsIn>,
    env: MessageWriter<'w, EnvIn>,
}

/// A device whose clock is wrong: its messages are refused as `clock_skew`, so what it
/// reports is unknown until someone sets its clock (a technical alert for biomed). On the
/// device's subject (the asset); gone with the device's first message in time.
#[derive(Component, Clone, Debug, PartialEq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct DeviceClock {
    /// Device time minus receipt time of the last refused message, ms.
    pub offset_ms: i64,
    pub since: Timestamp,
}

/// A device whose latest message reached Orderly late (more than [`LATE_MS`] after the device
/// sent it: a broker's backlog after an outage). Alerts raised on what it reported say how old
/// the data was (`Alert::data_at`). On the device's subject; gone with its next timely message.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
// Inserted after spawn: sparse, so the insert moves no table row (ARCHITECTURE.md, memory).
#[component(storage = "SparseSet")]
pub struct Late {
    /// When the device sent it.
    pub ts: Timestamp,
}

/// Received this long after the device's own time stamp, a message is late.
pub const LATE_MS: i64 = 30_000;

/// Devices' clocks: the wrong ones, and how to mark or clear one; and the late ones.
#[derive(bevy_ecs::system::SystemParam)]
struct Clocks<'w, 's> {
    wrong: Query<'w, 's, &'static mut DeviceClock>,
    late: Query<'w, 's, &'static Late>,
    commands: Commands<'w, 's>,
}

fn route_inbox(
    mut inbox: ResMut<Inbox>,
    mut stats: ResMut<IngestStats>,
    mut seqs: ResMut<SeqTracker>,
    limits: Res<Limits>,
    registry: Res<Registry>,
    mut clocks: Clocks,
    mut out: Writers,
) {
    // Per device subject, whether a message of it in this step was late (and the oldest's time).
    let mut lateness: HashMap<Entity, Option<Timestamp>> = HashMap::new();
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
        // A bedside monitor measures whoever the census has in its bed; at an empty bed, nobody.
        let monitored = if class == DeviceClass::Monitor {
            let bed = registry.monitor_bed.get(&r.device);
            match bed.and_then(|b| registry.bed_patient.get(b)) {
                Some(p) => Some(*p),
                None => {
                    let detail = match bed {
                        Some(b) => format!(
                            "monitor {:?} is at bed {b}, which has no patient in the census: nobody's observations",
                            r.device
                        ),
                        None => format!(
                            "monitor {:?} is at no bed (give its asset `bed` in the registry)",
                            r.device
                        ),
                    };
                    stats.reject(rejected(&r, RejectReason::NoPatient, detail));
                    continue;
                }
            }
        } else {
            None
        };
        // A device's clock may be off by a little, never by years: a message stamped far from
        // its receipt would poison what the device reports (samples ordered by device time).
        let ahead = r.ts.since(r.at);
        let skewed =
            ahead > ms(limits.0.max_clock_ahead_s) || -ahead > ms(limits.0.max_clock_behind_s);
        if let Some(e) = entity {
            match (clocks.wrong.get_mut(e), skewed) {
                (Ok(mut c), true) => c.offset_ms = ahead,
                (Ok(_), false) => {
                    clocks.commands.entity(e).remove::<DeviceClock>();
                }
                (Err(_), true) => {
                    clocks.commands.entity(e).insert(DeviceClock {
                        offset_ms: ahead,
                        since: r.at,
                    });
                }
                (Err(_), false) => {}
            }
        }
        if skewed {
            stats.reject(rejected(
                &r,
                RejectReason::ClockSkew,
                format!(
                    "ts {} is {} s {} its receipt at {} (allowed: {} s ahead, {} s behind)",
                    r.ts.to_rfc3339(),
                    (ahead.abs() as f64 / 1000.0).round(),
                    if ahead > 0 { "ahead of" } else { "behind" },
                    r.at.to_rfc3339(),
                    limits.0.max_clock_ahead_s,
                    limits.0.max_clock_behind_s
                ),
            ));
            continue;
        }
        if let Some(seq) = r.seq {
            let state = seqs.0.entry(r.device.clone()).or_default();
            let last = state.last;
            match state.judge(seq) {
                Seq::Accept { gap } => stats.view.gaps = stats.view.gaps.saturating_add(gap),
                Seq::Repeat => {
                    stats.reject(rejected(
                        &r,
                        RejectReason::Duplicate,
                        format!("seq {seq} was already received from this device"),
                    ));
                    continue;
                }
                Seq::Behind => {
                    stats.reject(rejected(
                        &r,
                        RejectReason::Duplicate,
                        format!(
                            "seq {seq} is behind {last} (the next message behind and ascending re-syncs the counter)"
                        ),
                    ));
                    continue;
                }
            }
        }
        stats.view.accepted += 1;
        let (at, ts) = (r.at, r.ts);
        if let Some(e) = entity {
            // Any late message in the step makes the subject's data late (a backlog holds the
            // alarm from minutes ago and the bed's timely state after it): the oldest counts.
            let late = (at.since(ts) > LATE_MS).then_some(ts);
            let slot = lateness.entry(e).or_insert(None);
            if let Some(t) = late {
                *slot = Some(slot.map_or(t, |x: Timestamp| x.min(t)));
            }
        }
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
            (Payload::Vitals(vitals) | Payload::MonitorVitals(vitals), Some(device)) => {
                // A wearable is its patient's; a monitor measures whoever is in its bed.
                let (patient, what) = match monitored {
                    Some(p) => (p, "monitor"),
                    None => (device, "wearable"),
                };
                out.vitals.write(VitalsIn {
                    at,
                    ts,
                    patient,
                    vitals,
                    source: format!("{what} {}", r.device),
                });
            }
            (Payload::EnvReading(reading), Some(sensor)) => {
                out.env.write(EnvIn {
                    at,
                    ts,
                    sensor,
                    reading,
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
    for (e, late) in lateness {
        match (clocks.late.get(e).ok().copied(), late) {
            (Some(old), Some(ts)) if old.ts == ts => {}
            (_, Some(ts)) => {
                clocks.commands.entity(e).insert(Late { ts });
            }
            (Some(_), None) => {
                clocks.commands.entity(e).remove::<Late>();
            }
            (None, None) => {}
        }
    }
}

fn ms(s: f64) -> i64 {
    (s.max(0.0) * 1000.0) as i64
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
