//! The device contract (`../shared/spec/device-contract.md`, documented in
//! `docs/device-contract.md`): topic names, and payloads encoded from and decoded into the
//! typed readings of `orderly_model::reading`. One definition for both sides: Orderly's MQTT
//! edge decodes with it, the simulator (and anyone's test device) encodes with it, and a
//! property test checks that every topic round-trips.
//!
//! Core crate: pure functions, no IO; decoding never fails (bad input is a [`Rejected`]).

use orderly_model::reading::{
    BedLoad, BedState, DeviceClass, PumpTelemetry, RejectReason, Rejected, Sightings, Vitals,
    WearableEvent, WearableImu,
};
use orderly_model::{DecodeError, Inbound, Payload, Reading, Timestamp, valid_device_id};

/// Largest payload accepted (an IMU batch of 5 s at 100 Hz is about 12 KiB).
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Topic names of one site.
#[derive(Clone, Debug)]
pub struct Topics {
    pub prefix: String,
}

impl Topics {
    pub fn new(site: &str) -> Self {
        Topics {
            prefix: format!("orderly/v1/{site}/"),
        }
    }
    /// What Orderly subscribes to: everything under the site prefix.
    pub fn subscription(&self) -> String {
        format!("{}#", self.prefix)
    }
    pub fn alerts(&self, unit: &str) -> String {
        format!("{}alerts/{unit}", self.prefix)
    }
    pub fn bed_command(&self, bed: &str) -> String {
        format!("{}bed/{bed}/command", self.prefix)
    }
    pub fn device(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }
    /// Whether Orderly itself publishes on this topic (its own messages come back on `#`).
    pub fn is_outbound(&self, topic: &str) -> bool {
        let Some(rest) = topic.strip_prefix(&self.prefix) else {
            return false;
        };
        rest.starts_with("alerts/") || (rest.starts_with("bed/") && rest.ends_with("/command"))
    }
}

/// What one client may do on the broker: the topics it may publish on and the topics it may
/// read. `orderly devices` writes the broker's ACL from these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub read: Vec<String>,
}

impl Topics {
    /// A device's own topics: it publishes only its own readings and reads only its own
    /// commands (a bed), so it can neither pose as another device nor command a bed.
    pub fn device_permissions(&self, class: DeviceClass, device: &str) -> Permissions {
        let (kind, leaves): (&str, &[&str]) = match class {
            DeviceClass::Receiver => ("rtls", &["sightings"]),
            DeviceClass::Bed => ("bed", &["state", "load", "command/ack"]),
            DeviceClass::Pump => ("pump", &["telemetry"]),
            DeviceClass::Wearable => ("wearable", &["imu", "event", "vitals"]),
            DeviceClass::Monitor => ("monitor", &["vitals"]),
            DeviceClass::Environment => ("env", &["reading"]),
        };
        let publish = leaves
            .iter()
            .map(|l| format!("{}{kind}/{device}/{l}", self.prefix))
            .collect();
        let read = match class {
            DeviceClass::Bed => vec![self.bed_command(device)],
            _ => Vec::new(),
        };
        Permissions { publish, read }
    }

    /// Orderly itself: reads every device topic of the site, and is the only client that
    /// publishes alerts and bed commands.
    pub fn orderly_permissions(&self) -> Permissions {
        Permissions {
            publish: vec![self.subscription()],
            read: vec![self.subscription()],
        }
    }

    /// An integration that receives one unit's alerts (nurse call, pagers, phones): what a
    /// nurse of that unit may see, and nothing of other units. `None`: every unit's alerts.
    pub fn alert_subscriber_permissions(&self, unit: Option<&str>) -> Permissions {
        Permissions {
            publish: Vec::new(),
            read: vec![match unit {
                Some(u) => self.alerts(u),
                None => format!("{}alerts/#", self.prefix),
            }],
        }
    }
}

/// The topic a device publishes `payload` on.
impl Topics {
    pub fn reading(&self, device: &str, payload: &Payload) -> String {
        format!("{}{}", self.prefix, payload.topic_suffix(device))
    }
}

/// A payload as a device sends it: the typed body's fields, with `ts` (the device's clock) and,
/// from a device that numbers its messages, `seq`.
pub fn to_json(ts: Timestamp, seq: Option<u64>, payload: &Payload) -> serde_json::Value {
    let body = match payload {
        Payload::Sightings(x) => serde_json::to_value(x),
        Payload::BedState(x) => serde_json::to_value(x),
        Payload::BedLoad(x) => serde_json::to_value(x),
        Payload::CommandAck(x) => serde_json::to_value(x),
        Payload::PumpTelemetry(x) => serde_json::to_value(x),
        Payload::WearableImu(x) => serde_json::to_value(x),
        Payload::WearableEvent(x) => serde_json::to_value(x),
        Payload::Vitals(x) | Payload::MonitorVitals(x) => serde_json::to_value(x),
        Payload::EnvReading(x) => serde_json::to_value(x),
    };
    // The reading types are plain structs of numbers, strings and lists: always an object.
    let mut map = match body {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    map.insert("ts".into(), serde_json::Value::String(ts.to_rfc3339()));
    if let Some(seq) = seq {
        map.insert("seq".into(), seq.into());
    }
    serde_json::Value::Object(map)
}

/// One message a device publishes: its topic and its bytes.
pub fn encode(
    topics: &Topics,
    device: &str,
    ts: Timestamp,
    seq: Option<u64>,
    payload: &Payload,
) -> (String, Vec<u8>) {
    (
        topics.reading(device, payload),
        to_json(ts, seq, payload).to_string().into_bytes(),
    )
}

fn reject(at: Timestamp, topic: &str, device: Option<&str>, e: DecodeError) -> Inbound {
    Inbound::Rejected(Rejected {
        at,
        topic: topic.to_string(),
        device: device.map(str::to_string),
        reason: e.reason,
        detail: e.detail,
    })
}

/// Decodes one received message. Never fails: what cannot be used comes back as
/// [`Inbound::Rejected`] with the reason.
pub fn decode(topics: &Topics, topic: &str, payload: &[u8], at: Timestamp) -> Inbound {
    let Some(rest) = topic.strip_prefix(&topics.prefix) else {
        return reject(
            at,
            topic,
            None,
            DecodeError::new(
                RejectReason::UnknownTopic,
                format!("topic is not under {}", topics.prefix),
            ),
        );
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (class, device, leaf) = match parts.as_slice() {
        [c, d, l] => (*c, *d, *l),
        ["bed", d, "command", "ack"] => ("bed", *d, "command/ack"),
        _ => {
            return reject(
                at,
                topic,
                None,
                DecodeError::new(
                    RejectReason::UnknownTopic,
                    "not a device-to-orderly topic of the contract",
                ),
            );
        }
    };
    if let Err(e) = valid_device_id(device) {
        return reject(
            at,
            topic,
            None,
            DecodeError::new(
                RejectReason::BadDeviceId,
                format!("device id {device:?}: {e}"),
            ),
        );
    }
    match decode_payload(class, leaf, payload) {
        Ok((ts, seq, payload)) => Inbound::Reading(Reading {
            at,
            device: device.to_string(),
            ts,
            seq,
            payload,
        }),
        Err(e) => reject(at, topic, Some(device), e),
    }
}

fn decode_payload(
    class: &str,
    leaf: &str,
    bytes: &[u8],
) -> Result<(Timestamp, Option<u64>, Payload), DecodeError> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(DecodeError::new(
            RejectReason::TooLarge,
            format!("{} bytes; at most {MAX_PAYLOAD}", bytes.len()),
        ));
    }
    // serde would read a struct from an array too: the contract says an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(DecodeError::new(
            RejectReason::MalformedJson,
            "the payload is not a JSON object",
        ));
    }
    body_of(class, leaf, bytes, Passes::One)
}

/// How a payload is read: in one pass (the body's fields to its type, `ts` and `seq` kept as
/// their text beside it, no JSON tree), or in two (the common fields, then the body).
#[derive(Clone, Copy)]
enum Passes {
    /// One pass; a payload that does not parse is read again in two, so its problem is
    /// reported in the order it always was (a bad `ts` before a bad body field).
    One,
    /// Two passes only: what the one pass falls back to, read alone by the property test that
    /// holds the two to the same answer.
    #[cfg_attr(not(test), allow(dead_code))]
    Two,
}

/// The common fields and the body of a payload on topic `class/{id}/leaf`.
fn body_of(
    class: &str,
    leaf: &str,
    bytes: &[u8],
    passes: Passes,
) -> Result<(Timestamp, Option<u64>, Payload), DecodeError> {
    match (class, leaf) {
        ("rtls", "sightings") => read(bytes, passes, check_sightings, Payload::Sightings),
        ("bed", "state") => read(bytes, passes, check_bed_state, Payload::BedState),
        ("bed", "load") => read(bytes, passes, check_bed_load, Payload::BedLoad),
        ("bed", "command/ack") => read(bytes, passes, Ok, Payload::CommandAck),
        ("pump", "telemetry") => read(bytes, passes, check_pump, Payload::PumpTelemetry),
        ("wearable", "imu") => read(bytes, passes, check_imu, Payload::WearableImu),
        ("wearable", "event") => read(bytes, passes, check_event, Payload::WearableEvent),
        ("wearable", "vitals") => read(bytes, passes, check_vitals, Payload::Vitals),
        ("monitor", "vitals") => read(bytes, passes, check_vitals, Payload::MonitorVitals),
        ("env", "reading") => read(bytes, passes, check_env, Payload::EnvReading),
        _ => Err(DecodeError::new(
            RejectReason::UnknownTopic,
            format!("{class}/{{id}}/{leaf} is not a device-to-orderly topic"),
        )),
    }
}

/// `bytes` as a payload whose body is a `T`, checked with `check` and made a payload with
/// `wrap`; the body ignores fields it does not know, as the contract allows.
fn read<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
    passes: Passes,
    check: fn(T) -> Result<T, DecodeError>,
    wrap: fn(T) -> Payload,
) -> Result<(Timestamp, Option<u64>, Payload), DecodeError> {
    if let Passes::One = passes
        && let Ok(m) = serde_json::from_slice::<WithMeta<'a, T>>(bytes)
    {
        let ts = check_ts(m.ts)?;
        let seq = check_seq(m.seq)?;
        return Ok((ts, seq, wrap(check(m.body)?)));
    }
    let meta: Meta = serde_json::from_slice(bytes).map_err(|e| {
        let reason = if e.is_data() {
            RejectReason::BadField
        } else {
            RejectReason::MalformedJson
        };
        DecodeError::new(reason, e.to_string())
    })?;
    let ts = check_ts(meta.ts)?;
    let seq = check_seq(meta.seq)?;
    let body = serde_json::from_slice(bytes)
        .map_err(|e| DecodeError::new(RejectReason::BadField, e.to_string()))?;
    Ok((ts, seq, wrap(check(body)?)))
}

/// `ts` from its JSON text: a string, RFC 3339 with a zone.
fn check_ts(raw: Option<&serde_json::value::RawValue>) -> Result<Timestamp, DecodeError> {
    match raw.map(|raw| serde_json::from_str::<String>(raw.get())) {
        Some(Ok(s)) => Timestamp::parse_rfc3339(&s).ok_or_else(|| {
            DecodeError::new(
                RejectReason::BadTimestamp,
                format!("ts {s:?} is not RFC 3339 with a zone"),
            )
        }),
        Some(Err(_)) => Err(DecodeError::new(
            RejectReason::BadTimestamp,
            "ts is not a string",
        )),
        None => Err(DecodeError::new(
            RejectReason::BadTimestamp,
            "ts is missing",
        )),
    }
}

/// `seq` from its JSON text: absent or null, or a non-negative integer.
fn check_seq(raw: Option<&serde_json::value::RawValue>) -> Result<Option<u64>, DecodeError> {
    match raw.map(|raw| raw.get()) {
        None | Some("null") => Ok(None),
        Some(raw) => serde_json::from_str::<u64>(raw).map(Some).map_err(|_| {
            DecodeError::new(RejectReason::BadField, "seq is not a non-negative integer")
        }),
    }
}

/// A payload's body `T` and its common fields, read in one pass: `ts` and `seq` are kept as
/// their JSON text, every other field goes to `T` (as if `T` were read alone, unknown fields
/// ignored).
struct WithMeta<'a, T> {
    ts: Option<&'a serde_json::value::RawValue>,
    seq: Option<&'a serde_json::value::RawValue>,
    body: T,
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for WithMeta<'de, T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Visit<T> {
            type Value = WithMeta<'de, T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut split = Split {
                    map,
                    ts: None,
                    seq: None,
                };
                let body =
                    T::deserialize(serde::de::value::MapAccessDeserializer::new(&mut split))?;
                Ok(WithMeta {
                    ts: split.ts,
                    seq: split.seq,
                    body,
                })
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// The fields of an object, with `ts` and `seq` taken out on the way.
struct Split<'de, A> {
    map: A,
    ts: Option<&'de serde_json::value::RawValue>,
    seq: Option<&'de serde_json::value::RawValue>,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for &mut Split<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        use serde::de::{Error, IntoDeserializer};
        loop {
            let Some(key) = self.map.next_key::<Key<'de>>()? else {
                return Ok(None);
            };
            let (slot, name) = match key.as_str() {
                "ts" => (&mut self.ts, "ts"),
                "seq" => (&mut self.seq, "seq"),
                _ => {
                    return match key {
                        Key::Borrowed(k) => seed
                            .deserialize(serde::de::value::BorrowedStrDeserializer::new(k))
                            .map(Some),
                        Key::Owned(k) => seed.deserialize(k.into_deserializer()).map(Some),
                    };
                }
            };
            if slot.is_some() {
                return Err(A::Error::duplicate_field(name));
            }
            *slot = Some(self.map.next_value()?);
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// An object's key: borrowed from the bytes, or unescaped into a string of its own.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(k) => k,
            Key::Owned(k) => k,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, k: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(k))
            }
            fn visit_str<E>(self, k: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(k.to_string()))
            }
            fn visit_string<E>(self, k: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(k))
            }
        }
        d.deserialize_str(Visit)
    }
}

/// The fields every payload has. Any JSON object fits; what the fields hold is checked after,
/// from their JSON text as sent (None: the field is absent; `null` is kept as text).
#[derive(serde::Deserialize)]
struct Meta<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    ts: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    seq: Option<&'a serde_json::value::RawValue>,
}

/// A field that is there, whatever it holds (`null` included).
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'de serde_json::value::RawValue>, D::Error> {
    <&serde_json::value::RawValue as serde::Deserialize>::deserialize(d).map(Some)
}

fn range(what: &str, v: f64, lo: f64, hi: f64) -> Result<(), DecodeError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(DecodeError::new(
            RejectReason::OutOfRange,
            format!("{what} {v} is outside {lo}..{hi}"),
        ))
    }
}

fn check_sightings(s: Sightings) -> Result<Sightings, DecodeError> {
    if s.sightings.len() > 2000 {
        return Err(DecodeError::new(
            RejectReason::TooLarge,
            format!(
                "{} sightings in one message; at most 2000",
                s.sightings.len()
            ),
        ));
    }
    for x in &s.sightings {
        valid_device_id(&x.tag).map_err(|e| {
            DecodeError::new(RejectReason::BadField, format!("tag {:?}: {e}", x.tag))
        })?;
        range("rssi", x.rssi as f64, -127.0, 20.0)?;
        if let Some(b) = x.battery {
            range("battery", b as f64, 0.0, 1.0)?;
        }
    }
    // A decoded message waits for the world (up to a queue and a step's batch of them, about
    // 9,000 in a flood); JSON says no length up front, so the list grew by doubling (20
    // sightings in room for 32): given back here, 4 MB of a flood's peak at 25,000 tags.
    let mut s = s;
    s.sightings.shrink_to_fit();
    Ok(s)
}

fn check_bed_state(s: BedState) -> Result<BedState, DecodeError> {
    // Reverse Trendelenburg and Trendelenburg frames report about -15 to 80 degrees.
    range("hob_deg", s.hob_deg as f64, -20.0, 90.0)?;
    Ok(s)
}

fn check_bed_load(l: BedLoad) -> Result<BedLoad, DecodeError> {
    range("hz", l.hz as f64, 0.1, 1000.0)?;
    if l.cells_kg.is_empty() || l.cells_kg.len() > 10_000 {
        return Err(DecodeError::new(
            RejectReason::OutOfRange,
            format!("{} samples; 1 to 10000 allowed", l.cells_kg.len()),
        ));
    }
    for s in &l.cells_kg {
        for c in s {
            range("cells_kg", *c as f64, -50.0, 500.0)?;
        }
    }
    Ok(l)
}

fn check_pump(p: PumpTelemetry) -> Result<PumpTelemetry, DecodeError> {
    range("battery_pct", p.battery_pct as f64, 0.0, 100.0)?;
    range("runtime_hours", p.runtime_hours, 0.0, 1e7)?;
    if let Some(i) = &p.infusion {
        i.check_ranges()
            .map_err(|e| DecodeError::new(RejectReason::OutOfRange, e))?;
    }
    Ok(p)
}

fn check_env(
    r: orderly_model::environment::EnvReading,
) -> Result<orderly_model::environment::EnvReading, DecodeError> {
    r.check_ranges()
        .map_err(|e| DecodeError::new(RejectReason::OutOfRange, e))?;
    Ok(r)
}

fn check_imu(i: WearableImu) -> Result<WearableImu, DecodeError> {
    range("hz", i.hz as f64, 20.0, 1000.0)?;
    let max = (i.hz * 5.0 * 1.1) as usize + 1;
    if i.acc_g.is_empty() || i.acc_g.len() > max {
        return Err(DecodeError::new(
            RejectReason::OutOfRange,
            format!(
                "{} samples at {} Hz; a batch holds 1 to 5 s",
                i.acc_g.len(),
                i.hz
            ),
        ));
    }
    for s in &i.acc_g {
        for a in s {
            range("acc_g", *a as f64, -64.0, 64.0)?;
        }
    }
    Ok(i)
}

/// Values a living adult can have; anything else is refused, never scored.
fn check_vitals(v: Vitals) -> Result<Vitals, DecodeError> {
    for (what, x, lo, hi) in [
        ("respiration_rate", v.respiration_rate, 0.0, 80.0),
        ("spo2", v.spo2, 20.0, 100.0),
        ("o2_flow_lpm", v.o2_flow_lpm, 0.0, 80.0),
        ("systolic", v.systolic, 20.0, 300.0),
        ("diastolic", v.diastolic, 10.0, 250.0),
        ("pulse", v.pulse, 0.0, 300.0),
        ("temperature_c", v.temperature_c, 25.0, 45.0),
    ] {
        if let Some(x) = x {
            range(what, x, lo, hi)?;
        }
    }
    if let Some(k) = v.quality.keys().find(|k| {
        !matches!(
            k.as_str(),
            "spo2" | "pulse" | "respiration_rate" | "systolic" | "temperature_c"
        )
    }) {
        return Err(DecodeError::new(
            RejectReason::BadField,
            format!(
                "quality of {k:?}: only spo2, pulse, respiration_rate, systolic, temperature_c"
            ),
        ));
    }
    let any = [
        v.respiration_rate,
        v.spo2,
        v.systolic,
        v.pulse,
        v.temperature_c,
    ]
    .iter()
    .any(Option::is_some)
        || v.consciousness.is_some()
        || v.on_oxygen.is_some();
    if !any {
        return Err(DecodeError::new(
            RejectReason::BadField,
            "no vital sign in the message",
        ));
    }
    Ok(v)
}

fn check_event(e: WearableEvent) -> Result<WearableEvent, DecodeError> {
    if let Some(c) = e.confidence {
        range("confidence", c as f64, 0.0, 1.0)?;
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid body of each topic's payload, field by field (`ts` and `seq` apart).
    /// A topic's class and leaf, and its body's fields as (name, JSON text).
    type Body = (
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    );

    const BODIES: [Body; 8] = [
        (
            "rtls",
            "sightings",
            &[(
                "sightings",
                r#"[{"ir":true,"rssi":-56.0,"tag":"TB-1"},{"rssi":-70,"tag":"TW-1"}]"#,
            )],
        ),
        (
            "bed",
            "state",
            &[
                ("brakes", "true"),
                ("exit_alarm", r#""armed""#),
                ("height", r#""low""#),
                ("hob_deg", "30.0"),
                ("moving", "false"),
                ("occupied", "true"),
                (
                    "rails",
                    r#"{"foot_left":false,"foot_right":false,"head_left":true,"head_right":true}"#,
                ),
                ("surface", r#""static""#),
            ],
        ),
        (
            "pump",
            "telemetry",
            &[
                ("battery_pct", "82.0"),
                ("faults", "[]"),
                ("occlusion_alarms_total", "20"),
                ("on_battery", "true"),
                ("runtime_hours", "11888.9"),
                ("state", r#""off""#),
            ],
        ),
        (
            "wearable",
            "vitals",
            &[
                ("mode", r#""continuous""#),
                ("pulse", "70.0"),
                ("respiration_rate", "19"),
                ("spo2", "96.0"),
            ],
        ),
        (
            "monitor",
            "vitals",
            &[
                ("mode", r#""continuous""#),
                ("pulse", "71.0"),
                ("spo2", "96.0"),
            ],
        ),
        (
            "bed",
            "load",
            &[
                ("cells_kg", "[[26.1,24.9,21.4,20.3],[25.9,24.9,21.3,20.1]]"),
                ("hz", "5.0"),
            ],
        ),
        (
            "env",
            "reading",
            &[
                ("battery_pct", "90.0"),
                ("door_open", "false"),
                ("temperature_c", "-22.0"),
            ],
        ),
        (
            "wearable",
            "event",
            &[("confidence", "0.9"), ("type", r#""fall""#)],
        ),
    ];

    proptest::proptest! {
        /// Read in one pass or in two, any payload gives the same reading or the same problem:
        /// valid bodies with fields dropped, spoilt, repeated or added, and `ts` and `seq`
        /// valid, wrong, escaped, repeated or missing, in any order.
        #[test]
        fn one_pass_reads_what_two_passes_read(
            topic in 0usize..8,
            keep in proptest::collection::vec(0u8..12, 10),
            ts in 0usize..6,
            seq in 0usize..7,
            order in proptest::collection::vec(0usize..64, 12),
        ) {
            const VALUES: [&str; 6] = [r#""x""#, "null", "{}", "[]", "-1", "1e400"];
            const TS: [&str; 6] = [
                r#""ts":"2026-11-22T10:00:00Z""#, r#""t\u0073":"2026-11-22T10:00:00Z""#,
                r#""ts":"2026-11-22T10:00:00Z","ts":"2026-11-22T10:00:01Z""#, r#""ts":5"#,
                r#""ts":"soon""#, "",
            ];
            const SEQ: [&str; 7] = [
                r#""seq":7"#, r#""s\u0065q":8"#, r#""seq":null"#, r#""seq":"7""#,
                r#""seq":1,"seq":2"#, r#""seq":-1"#, "",
            ];
            let (class, leaf, fields) = BODIES[topic];
            let mut parts: Vec<String> = Vec::new();
            for (i, (k, v)) in fields.iter().enumerate() {
                match keep.get(i).copied().unwrap_or(0) {
                    // Mostly kept as it is.
                    0..=7 => parts.push(format!("\"{k}\":{v}")),
                    8 => {}
                    9 => parts.push(format!("\"{k}\":{v},\"{k}\":{v}")),
                    n => parts.push(format!("\"{k}\":{}", VALUES[(n as usize + i) % VALUES.len()])),
                }
            }
            if keep[9] == 0 {
                parts.push(r#""unknown":{"a":[1,2]}"#.to_string());
            }
            for extra in [TS[ts], SEQ[seq]] {
                if !extra.is_empty() {
                    let at = order[parts.len()] % (parts.len() + 1);
                    parts.insert(at, extra.to_string());
                }
            }
            let json = format!("{{{}}}", parts.join(","));
            let one = decode_payload(class, leaf, json.as_bytes());
            let two = body_of(class, leaf, json.as_bytes(), Passes::Two);
            proptest::prop_assert_eq!(
                one.as_ref().map_err(|e| (e.reason, &e.detail)),
                two.as_ref().map_err(|e| (e.reason, &e.detail)),
                "{}", json
            );
        }
    }

    /// Each body above is a valid payload as it stands (the property above tests more than
    /// rejections).
    #[test]
    fn the_bodies_of_the_property_are_valid() {
        for (class, leaf, fields) in BODIES {
            let parts: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let json = format!(
                "{{\"ts\":\"2026-11-22T10:00:00Z\",\"seq\":3,{}}}",
                parts.join(",")
            );
            let got = decode_payload(class, leaf, json.as_bytes());
            assert!(
                matches!(got, Ok((_, Some(3), _))),
                "{class}/{leaf}: {got:?}"
            );
        }
    }

    fn dec(topic: &str, payload: &str) -> Inbound {
        decode(
            &Topics::new("general"),
            &format!("orderly/v1/general/{topic}"),
            payload.as_bytes(),
            Timestamp(5),
        )
    }

    fn reason(i: &Inbound) -> Option<RejectReason> {
        match i {
            Inbound::Rejected(r) => Some(r.reason),
            Inbound::Reading(_) => None,
        }
    }

    /// `ts` and `seq` as the contract says: each wrong kind named, `seq` null as absent.
    #[test]
    fn ts_and_seq_are_checked_whatever_they_hold() {
        let msg = |payload: &str| match dec("rtls/rx-1/sightings", payload) {
            Inbound::Rejected(r) => Err((r.reason, r.detail)),
            Inbound::Reading(r) => Ok(r.seq),
        };
        let ts = r#""ts":"2026-11-22T10:00:00Z""#;
        let body = r#""sightings":[]"#;
        assert_eq!(msg(&format!("{{{ts},{body}}}")), Ok(None));
        assert_eq!(msg(&format!("{{{ts},\"seq\":null,{body}}}")), Ok(None));
        assert_eq!(msg(&format!("{{{ts},\"seq\":7,{body}}}")), Ok(Some(7)));
        for bad in ["-1", "\"7\"", "7.5", "[]", "18446744073709551616"] {
            assert_eq!(
                msg(&format!("{{{ts},\"seq\":{bad},{body}}}")),
                Err((
                    RejectReason::BadField,
                    "seq is not a non-negative integer".into()
                )),
                "seq {bad}"
            );
        }
        let no_ts = Err((RejectReason::BadTimestamp, "ts is missing".into()));
        assert_eq!(msg(&format!("{{{body}}}")), no_ts);
        for bad in ["null", "5", "{}"] {
            assert_eq!(
                msg(&format!("{{\"ts\":{bad},{body}}}")),
                Err((RejectReason::BadTimestamp, "ts is not a string".into())),
                "ts {bad}"
            );
        }
        let (reason, _) = msg(r#"{"ts":"yesterday","sightings":[]}"#).unwrap_err();
        assert_eq!(reason, RejectReason::BadTimestamp);
        // An escaped string is read as the string it stands for.
        assert_eq!(
            msg(&format!("{{\"ts\":\"2026-11-22T10:00:00\\u005a\",{body}}}")),
            Ok(None)
        );
    }

    /// The contract's own examples decode.
    #[test]
    fn contract_examples_decode() {
        let ok = [
            (
                "rtls/rx-3w-12/sightings",
                r#"{"ts":"2026-11-22T10:00:00.250Z","seq":1842,"sightings":[{"tag":"T-00042","rssi":-67,"battery":0.81},{"tag":"S-0007","rssi":-71,"ir":true}]}"#,
            ),
            (
                "bed/b1/state",
                r#"{"ts":"2026-11-22T10:00:00Z","seq":12,"occupied":true,"hob_deg":32.0,"height":"low","brakes":true,"rails":{"head_left":true,"head_right":true,"foot_left":false,"foot_right":false},"exit_alarm":"armed","surface":"static","moving":false}"#,
            ),
            (
                "bed/b1/load",
                r#"{"ts":"2026-11-22T10:00:00Z","seq":3,"hz":10,"cells_kg":[[18.2,19.1,17.5,16.9],[18.0,19.3,17.5,16.8]]}"#,
            ),
            (
                "bed/b1/command/ack",
                r#"{"ts":"2026-11-22T10:00:00Z","command_id":"c-7f3b","result":"refused","reason":"bed in CPR mode"}"#,
            ),
            (
                "pump/p1/telemetry",
                r#"{"ts":"2026-11-22T10:00:00Z","seq":7,"state":"infusing","battery_pct":87,"on_battery":true,"runtime_hours":10234.5,"occlusion_alarms_total":12,"downstream_psi":3.2,"motor_current_ma":118,"faults":["E102"]}"#,
            ),
            (
                "pump/p1/telemetry",
                r#"{"ts":"2026-11-22T10:00:00Z","seq":8,"state":"infusing","battery_pct":87,"soft_overrides_total":3,"hard_stops_total":1,"infusion":{"library":true,"profile":"critical-care","drug":"Heparin","concentration":"25000 units/250 mL","dose":18,"dose_unit":"units/kg/h","weight_kg":80,"rate_ml_h":14.4,"vtbi_ml":250,"infused_ml":40.2,"patient":"P-1001"}}"#,
            ),
            (
                "wearable/w1/imu",
                r#"{"ts":"2026-11-22T10:00:00Z","seq":99,"hz":50,"acc_g":[[0.01,-0.98,0.05],[0.02,-0.97,0.04]]}"#,
            ),
            (
                "wearable/w1/event",
                r#"{"ts":"2026-11-22T10:00:00Z","type":"fall","confidence":0.9}"#,
            ),
        ];
        for (topic, payload) in ok {
            let i = dec(topic, payload);
            assert!(matches!(i, Inbound::Reading(_)), "{topic}: {i:?}");
        }
        let Inbound::Reading(r) = dec(ok[0].0, ok[0].1) else {
            unreachable!()
        };
        assert_eq!(
            (r.device.as_str(), r.seq, r.at),
            ("rx-3w-12", Some(1842), Timestamp(5))
        );
        assert_eq!(r.ts.to_rfc3339(), "2026-11-22T10:00:00.250Z");
        let Payload::Sightings(s) = r.payload else {
            unreachable!()
        };
        assert!(s.sightings[1].ir && !s.sightings[0].ir);
    }

    /// A device may publish exactly the topics of its class that Orderly decodes, under its own
    /// id, and read only its own command topic.
    #[test]
    fn a_device_may_publish_exactly_its_own_readings() {
        let topics = Topics::new("general");
        let examples = [
            (
                "rtls/d1/sightings",
                r#"{"ts":"2026-11-22T10:00:00Z","sightings":[]}"#,
            ),
            (
                "bed/d1/state",
                r#"{"ts":"2026-11-22T10:00:00Z","occupied":true,"hob_deg":32.0,"height":"low","brakes":true,"rails":{"head_left":true,"head_right":true,"foot_left":false,"foot_right":false},"exit_alarm":"armed","surface":"static","moving":false}"#,
            ),
            (
                "bed/d1/load",
                r#"{"ts":"2026-11-22T10:00:00Z","hz":10,"cells_kg":[[18.2,19.1,17.5,16.9]]}"#,
            ),
            (
                "bed/d1/command/ack",
                r#"{"ts":"2026-11-22T10:00:00Z","command_id":"c-1","result":"applied"}"#,
            ),
            (
                "pump/d1/telemetry",
                r#"{"ts":"2026-11-22T10:00:00Z","state":"idle","battery_pct":87,"on_battery":false,"runtime_hours":1.0,"occlusion_alarms_total":0,"downstream_psi":1.0,"motor_current_ma":10,"faults":[]}"#,
            ),
            (
                "wearable/d1/imu",
                r#"{"ts":"2026-11-22T10:00:00Z","hz":50,"acc_g":[[0.0,-1.0,0.0]]}"#,
            ),
            (
                "wearable/d1/event",
                r#"{"ts":"2026-11-22T10:00:00Z","type":"button"}"#,
            ),
            (
                "wearable/d1/vitals",
                r#"{"ts":"2026-11-22T10:00:00Z","spo2":96}"#,
            ),
            (
                "monitor/d1/vitals",
                r#"{"ts":"2026-11-22T10:00:00Z","spo2":96,"systolic":121}"#,
            ),
            (
                "env/d1/reading",
                r#"{"ts":"2026-11-22T10:00:00Z","temperature_c":4.2,"door_open":false}"#,
            ),
        ];
        let mut granted = std::collections::BTreeSet::new();
        for class in [
            DeviceClass::Receiver,
            DeviceClass::Bed,
            DeviceClass::Pump,
            DeviceClass::Wearable,
            DeviceClass::Monitor,
            DeviceClass::Environment,
        ] {
            let p = topics.device_permissions(class, "d1");
            for t in &p.publish {
                assert!(granted.insert(t.clone()), "{t} granted to two classes");
            }
            if class == DeviceClass::Bed {
                assert_eq!(
                    p.read,
                    vec!["orderly/v1/general/bed/d1/command".to_string()]
                );
            } else {
                assert!(p.read.is_empty());
            }
            // Nothing Orderly publishes.
            assert!(p.publish.iter().all(|t| !topics.is_outbound(t)), "{p:?}");
        }
        let decoded: std::collections::BTreeSet<String> = examples
            .iter()
            .map(|(t, body)| {
                let i = dec(t, body);
                assert!(matches!(i, Inbound::Reading(_)), "{t}: {i:?}");
                format!("orderly/v1/general/{t}")
            })
            .collect();
        assert_eq!(granted, decoded);
        assert!(
            topics
                .alert_subscriber_permissions(Some("ICU"))
                .read
                .iter()
                .all(|t| t == "orderly/v1/general/alerts/ICU")
        );
    }

    /// Each bad message is rejected with the right reason (table-driven).
    #[test]
    fn bad_messages_are_rejected_with_a_reason() {
        use RejectReason::*;
        let ts = r#""ts":"2026-11-22T10:00:00Z""#;
        let cases: Vec<(&str, String, RejectReason)> = vec![
            ("rtls/rx1/sightings", "{not json".into(), MalformedJson),
            ("rtls/rx1/sightings", "[1,2]".into(), MalformedJson),
            (
                "rtls/rx1/sightings",
                r#"{"sightings":[]}"#.into(),
                BadTimestamp,
            ),
            (
                "rtls/rx1/sightings",
                r#"{"ts":"10:00","sightings":[]}"#.into(),
                BadTimestamp,
            ),
            (
                "rtls/rx1/sightings",
                format!(r#"{{{ts},"seq":-1,"sightings":[]}}"#),
                BadField,
            ),
            ("rtls/rx1/sightings", format!(r#"{{{ts}}}"#), BadField),
            (
                "rtls/rx1/sightings",
                format!(r#"{{{ts},"sightings":[{{"tag":"T1","rssi":-200}}]}}"#),
                OutOfRange,
            ),
            (
                "rtls/rx1/sightings",
                format!(r#"{{{ts},"sightings":[{{"tag":"T1","rssi":-60,"battery":1.5}}]}}"#),
                OutOfRange,
            ),
            (
                "rtls/rx1/sightings",
                format!(r#"{{{ts},"sightings":[{{"tag":"T/1","rssi":-60}}]}}"#),
                BadField,
            ),
            (
                "bed/b1/state",
                format!(r#"{{{ts},"occupied":true}}"#),
                BadField,
            ),
            (
                "bed/b1/load",
                format!(r#"{{{ts},"hz":10,"cells_kg":[[1,2,3]]}}"#),
                BadField,
            ),
            (
                "bed/b1/load",
                format!(r#"{{{ts},"hz":10,"cells_kg":[[1,2,3,900]]}}"#),
                OutOfRange,
            ),
            (
                "pump/p1/telemetry",
                format!(r#"{{{ts},"state":"exploding","battery_pct":50}}"#),
                BadField,
            ),
            (
                "pump/p1/telemetry",
                format!(r#"{{{ts},"state":"idle","battery_pct":150}}"#),
                OutOfRange,
            ),
            (
                "pump/p1/telemetry",
                format!(
                    r#"{{{ts},"state":"infusing","battery_pct":50,"infusion":{{"library":false,"rate_ml_h":99999}}}}"#
                ),
                OutOfRange,
            ),
            (
                "pump/p1/telemetry",
                format!(
                    r#"{{{ts},"state":"infusing","battery_pct":50,"infusion":{{"library":true,"rate_ml_h":10,"drug":"x","dose":1,"dose_unit":"mg/fortnight"}}}}"#
                ),
                OutOfRange,
            ),
            (
                "pump/p1/telemetry",
                format!(
                    r#"{{{ts},"state":"infusing","battery_pct":50,"infusion":{{"library":false,"rate_ml_h":"fast"}}}}"#
                ),
                BadField,
            ),
            (
                "wearable/w1/imu",
                format!(r#"{{{ts},"hz":5,"acc_g":[[0,0,1]]}}"#),
                OutOfRange,
            ),
            (
                "wearable/w1/event",
                format!(r#"{{{ts},"type":"fall","confidence":2}}"#),
                OutOfRange,
            ),
            ("rtls/rx1/nonsense", format!(r#"{{{ts}}}"#), UnknownTopic),
            ("lights/l1/state", format!(r#"{{{ts}}}"#), UnknownTopic),
            (
                "rtls/a+b/sightings",
                format!(r#"{{{ts},"sightings":[]}}"#),
                BadDeviceId,
            ),
        ];
        for (topic, payload, want) in cases {
            let got = reason(&dec(topic, &payload));
            assert_eq!(got, Some(want), "{topic} {payload}");
        }
        let other_site = decode(
            &Topics::new("general"),
            "orderly/v1/other/rtls/rx1/sightings",
            b"{}",
            Timestamp(0),
        );
        assert_eq!(reason(&other_site), Some(UnknownTopic));
        let big = vec![b' '; MAX_PAYLOAD + 1];
        assert_eq!(
            reason(&decode(
                &Topics::new("general"),
                "orderly/v1/general/rtls/rx1/sightings",
                &big,
                Timestamp(0)
            )),
            Some(TooLarge)
        );
    }

    /// Every prefix and every single-byte corruption of a good message decodes to a reading or
    /// a rejection: never a panic.
    /// Vital signs: any subset of the NEWS2 parameters, quality flags; what no living adult
    /// has, an unknown field or no vital sign at all is refused with why.
    #[test]
    fn vital_signs_decode_and_impossible_values_are_refused() {
        let ok = dec(
            "wearable/w1/vitals",
            r#"{"ts":"2026-11-22T10:00:00Z","mode":"spot","respiration_rate":18,"spo2":95,"on_oxygen":true,"o2_flow_lpm":2,"systolic":118,"diastolic":70,"pulse":88,"temperature_c":37.4,"consciousness":"new_confusion","quality":{"spo2":"poor"}}"#,
        );
        let Inbound::Reading(r) = ok else {
            panic!("{ok:?}")
        };
        let Payload::Vitals(v) = r.payload else {
            panic!()
        };
        assert_eq!(v.mode, orderly_model::reading::VitalsMode::Spot);
        assert_eq!(
            v.consciousness,
            Some(orderly_model::news2::Consciousness::NewConfusion)
        );
        for (payload, why) in [
            (
                r#"{"ts":"2026-11-22T10:00:00Z","spo2":140}"#,
                RejectReason::OutOfRange,
            ),
            (
                r#"{"ts":"2026-11-22T10:00:00Z","respiration_rate":-1}"#,
                RejectReason::OutOfRange,
            ),
            (
                r#"{"ts":"2026-11-22T10:00:00Z","temperature_c":98.6}"#,
                RejectReason::OutOfRange,
            ),
            (
                r#"{"ts":"2026-11-22T10:00:00Z","spo2_pct":96}"#,
                RejectReason::BadField,
            ),
            (r#"{"ts":"2026-11-22T10:00:00Z"}"#, RejectReason::BadField),
            (
                r#"{"ts":"2026-11-22T10:00:00Z","pulse":80,"quality":{"mood":"poor"}}"#,
                RejectReason::BadField,
            ),
        ] {
            for topic in ["wearable/w1/vitals", "monitor/m1/vitals"] {
                assert_eq!(
                    reason(&dec(topic, payload)),
                    Some(why),
                    "{topic}: {payload}"
                );
            }
        }
    }

    #[test]
    fn damaged_messages_never_panic() {
        let good = br#"{"ts":"2026-11-22T10:00:00.250Z","seq":1842,"sightings":[{"tag":"T-00042","rssi":-67,"battery":0.81},{"tag":"S-0007","rssi":-71,"ir":true}]}"#;
        let topics = Topics::new("general");
        let topic = "orderly/v1/general/rtls/rx1/sightings";
        for n in 0..good.len() {
            let _ = decode(&topics, topic, &good[..n], Timestamp(0));
            for b in [b'"', b'{', b'}', b'-', b'9', 0xff, b' '] {
                let mut bad = good.to_vec();
                bad[n] = b;
                let _ = decode(&topics, topic, &bad, Timestamp(0));
            }
        }
    }

    #[test]
    fn outbound_topics_are_recognised() {
        let t = Topics::new("general");
        assert!(t.is_outbound(&t.alerts("ICU")));
        assert!(t.is_outbound(&t.bed_command("bed-1")));
        assert!(!t.is_outbound("orderly/v1/general/bed/bed-1/command/ack"));
        assert_eq!(t.subscription(), "orderly/v1/general/#");
    }
}
