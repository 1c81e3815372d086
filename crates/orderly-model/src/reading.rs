//! Typed device readings: what the MQTT edge decodes contract messages into, and what the
//! world ingests. A message that cannot be decoded still reaches the world, as a
//! [`Rejected`], so that every bad input is counted in one place, live and in replay alike.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// One received message, decoded or not.
#[derive(Clone, Debug, PartialEq)]
pub enum Inbound {
    Reading(Reading),
    Rejected(Rejected),
}

impl Inbound {
    /// When Orderly received the message (drives the clock in replay).
    pub fn at(&self) -> Timestamp {
        match self {
            Inbound::Reading(r) => r.at,
            Inbound::Rejected(r) => r.at,
        }
    }
}

/// A well-formed contract message.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Receive time.
    pub at: Timestamp,
    /// The device id from the topic.
    pub device: String,
    /// The device's own time of the (first) sample.
    pub ts: Timestamp,
    pub seq: Option<u64>,
    pub payload: Payload,
}

/// The typed body of a reading, one variant per device-to-orderly topic.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Sightings(Sightings),
    BedState(BedState),
    BedLoad(BedLoad),
    CommandAck(CommandAck),
    PumpTelemetry(PumpTelemetry),
    WearableImu(WearableImu),
    WearableEvent(WearableEvent),
    Vitals(Vitals),
    /// A bedside monitor's vital signs (`monitor/{id}/vitals`): of whoever the census has in
    /// the monitor's bed.
    MonitorVitals(Vitals),
    /// An environment sensor's reading (`env/{id}/reading`): temperature, humidity,
    /// differential pressure, door.
    EnvReading(crate::environment::EnvReading),
}

impl Payload {
    /// The contract topic after the site prefix, e.g. `bed/{device}/state`.
    pub fn topic_suffix(&self, device: &str) -> String {
        let (class, leaf) = match self {
            Payload::Sightings(_) => ("rtls", "sightings"),
            Payload::BedState(_) => ("bed", "state"),
            Payload::BedLoad(_) => ("bed", "load"),
            Payload::CommandAck(_) => ("bed", "command/ack"),
            Payload::PumpTelemetry(_) => ("pump", "telemetry"),
            Payload::WearableImu(_) => ("wearable", "imu"),
            Payload::WearableEvent(_) => ("wearable", "event"),
            Payload::Vitals(_) => ("wearable", "vitals"),
            Payload::MonitorVitals(_) => ("monitor", "vitals"),
            Payload::EnvReading(_) => ("env", "reading"),
        };
        format!("{class}/{device}/{leaf}")
    }

    /// The device class the topic addresses (used to check the device's registration).
    pub fn device_class(&self) -> DeviceClass {
        match self {
            Payload::Sightings(_) => DeviceClass::Receiver,
            Payload::BedState(_) | Payload::BedLoad(_) | Payload::CommandAck(_) => DeviceClass::Bed,
            Payload::PumpTelemetry(_) => DeviceClass::Pump,
            Payload::WearableImu(_) | Payload::WearableEvent(_) | Payload::Vitals(_) => {
                DeviceClass::Wearable
            }
            Payload::MonitorVitals(_) => DeviceClass::Monitor,
            Payload::EnvReading(_) => DeviceClass::Environment,
        }
    }
}

/// What kind of device publishes on a topic.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    Receiver,
    Bed,
    Pump,
    Wearable,
    /// A bedside monitor: it stays at a bed and measures whoever the census has in it.
    Monitor,
    /// An environment sensor: mounted in a room or on an appliance (a medication fridge).
    Environment,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sightings {
    pub sightings: Vec<Sighting>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sighting {
    /// Held inline up to 23 bytes (every tag id we know of): a sighting costs no allocation.
    #[schema(value_type = String)]
    pub tag: smol_str::SmolStr,
    pub rssi: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery: Option<f32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ir: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BedHeight {
    Low,
    Raised,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExitAlarm {
    Off,
    Armed,
    Alarming,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    Static,
    Alternating,
    Rotation,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rails {
    pub head_left: bool,
    pub head_right: bool,
    pub foot_left: bool,
    pub foot_right: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BedState {
    pub occupied: bool,
    pub hob_deg: f32,
    pub height: BedHeight,
    pub brakes: bool,
    pub rails: Rails,
    pub exit_alarm: ExitAlarm,
    pub surface: Surface,
    pub moving: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BedLoad {
    pub hz: f32,
    /// Samples of four cells: head-left, head-right, foot-left, foot-right.
    pub cells_kg: Vec<[f32; 4]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckResult {
    Applied,
    Refused,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandAck {
    pub command_id: String,
    pub result: AckResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PumpState {
    Off,
    Idle,
    Infusing,
    Paused,
    Alarm,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PumpTelemetry {
    pub state: PumpState,
    pub battery_pct: f32,
    #[serde(default)]
    pub on_battery: bool,
    #[serde(default)]
    pub runtime_hours: f64,
    #[serde(default)]
    pub occlusion_alarms_total: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream_psi: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motor_current_ma: Option<f32>,
    #[serde(default)]
    pub faults: Vec<String>,
    /// The infusion it runs (an addition to the shared contract): drug, dose, rate, volumes,
    /// library mode and profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infusion: Option<Box<crate::infusion::Infusion>>,
    /// Soft-limit overrides since new (a nurse confirmed a dose past a soft limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_overrides_total: Option<u64>,
    /// Programs stopped at a hard limit since new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_stops_total: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WearableImu {
    pub hz: f32,
    pub acc_g: Vec<[f32; 3]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WearableEventType {
    Fall,
    Button,
    Removed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WearableEvent {
    #[serde(rename = "type")]
    pub kind: WearableEventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

/// How a vital-sign value was taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VitalsMode {
    /// A continuous sensor (a wearable, a bedside monitor): scored over a window, poor signal
    /// ignored.
    #[default]
    Continuous,
    /// A spot check by a nurse: scored at once.
    Spot,
}

/// A signal-quality flag from a continuous sensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Good,
    /// Motion, poor perfusion, a probe off: the value is not scored.
    Poor,
}

/// Vital signs of the device's patient (`wearable/{id}/vitals`): any subset of the NEWS2
/// parameters, each with its time being the message's `ts`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Vitals {
    #[serde(default)]
    pub mode: VitalsMode,
    /// Breaths per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respiration_rate: Option<f64>,
    /// Oxygen saturation, %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spo2: Option<f64>,
    /// On supplemental oxygen (any flow) rather than air.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_oxygen: Option<bool>,
    /// Oxygen flow, litres per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o2_flow_lpm: Option<f64>,
    /// mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systolic: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diastolic: Option<f64>,
    /// Beats per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulse: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// ACVPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consciousness: Option<crate::news2::Consciousness>,
    /// Signal quality per parameter (`spo2`, `pulse`, `respiration_rate`); absent is good.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub quality: std::collections::BTreeMap<String, Quality>,
}

/// Why a message changed nothing. The names are stable: they are metric labels and API values.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The topic is not one of the contract's device-to-orderly topics, or names another site.
    UnknownTopic,
    /// The device id in the topic breaks the id rules.
    BadDeviceId,
    /// The payload is not a JSON object.
    MalformedJson,
    /// A required field is missing or has the wrong type.
    BadField,
    /// `ts` is missing or not RFC 3339 with a zone.
    BadTimestamp,
    /// A value is outside its documented range.
    OutOfRange,
    /// The device is not in the asset registry, or not of the topic's class.
    UnknownDevice,
    /// `seq` was already seen from this device.
    Duplicate,
    /// The payload is larger than the contract allows.
    TooLarge,
    /// The device sent more messages than its fair share; the excess was dropped.
    RateLimited,
    /// `ts` is further ahead of Orderly's clock, or further behind it, than a device clock can
    /// be (`[ingest]` in detectors.toml): a device with a wrong clock cannot poison what it
    /// reports (a bed's load cells stamped years ahead would hide every later sample).
    ClockSkew,
    /// The device measures whoever is in its bed, and the census has nobody there (a bedside
    /// monitor left on at an empty bed): nobody's observations.
    NoPatient,
    /// A pump's infusion names a care-area profile the drug library does not have: the
    /// infusion is not checked (the pump's own state still counts).
    UnknownProfile,
    /// A pump's infusion names a drug and concentration the drug library does not have.
    UnknownDrug,
    /// A pump's dose is in a unit other than the library's for that drug.
    WrongUnits,
}

crate::wire_names!(RejectReason {
    UnknownTopic => "unknown_topic",
    BadDeviceId => "bad_device_id",
    MalformedJson => "malformed_json",
    BadField => "bad_field",
    BadTimestamp => "bad_timestamp",
    OutOfRange => "out_of_range",
    UnknownDevice => "unknown_device",
    Duplicate => "duplicate",
    TooLarge => "too_large",
    RateLimited => "rate_limited",
    ClockSkew => "clock_skew",
    NoPatient => "no_patient",
    UnknownProfile => "unknown_profile",
    UnknownDrug => "unknown_drug",
    WrongUnits => "wrong_units",
});

/// A message that changes nothing, with the reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rejected {
    pub at: Timestamp,
    pub topic: String,
    /// The device id, when the topic names one.
    pub device: Option<String>,
    pub reason: RejectReason,
    pub detail: String,
}

/// A decoding failure at the edge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason:?}: {detail}")]
pub struct DecodeError {
    pub reason: RejectReason,
    pub detail: String,
}

impl DecodeError {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        DecodeError {
            reason,
            detail: detail.into(),
        }
    }
}
