//! Every device-to-Orderly topic round-trips: what `encode` writes, `decode` reads back as the
//! same typed reading, for any valid value (proptest). The simulator encodes with `encode` and
//! Orderly decodes with `decode`, so the two sides cannot drift apart without failing here.

use orderly_contract::{Topics, decode, encode};
use orderly_model::reading::*;
use orderly_model::{Inbound, Payload, Reading, Timestamp};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_.-]{0,40}"
}

fn f(lo: f32, hi: f32) -> impl Strategy<Value = f32> {
    lo..=hi
}

fn payload() -> impl Strategy<Value = Payload> {
    let sighting = (
        id(),
        f(-127.0, 20.0),
        proptest::option::of(f(0.0, 1.0)),
        any::<bool>(),
    )
        .prop_map(|(tag, rssi, battery, ir)| Sighting {
            tag: tag.into(),
            rssi,
            battery,
            ir,
        });
    let rails = any::<[bool; 4]>().prop_map(|r| Rails {
        head_left: r[0],
        head_right: r[1],
        foot_left: r[2],
        foot_right: r[3],
    });
    let bed_state = (
        any::<bool>(),
        f(-20.0, 90.0),
        prop_oneof![Just(BedHeight::Low), Just(BedHeight::Raised)],
        any::<bool>(),
        rails,
        prop_oneof![
            Just(ExitAlarm::Off),
            Just(ExitAlarm::Armed),
            Just(ExitAlarm::Alarming)
        ],
        prop_oneof![
            Just(Surface::Static),
            Just(Surface::Alternating),
            Just(Surface::Rotation)
        ],
        any::<bool>(),
    )
        .prop_map(
            |(occupied, hob_deg, height, brakes, rails, exit_alarm, surface, moving)| BedState {
                occupied,
                hob_deg,
                height,
                brakes,
                rails,
                exit_alarm,
                surface,
                moving,
            },
        );
    let load = (
        f(0.1, 1000.0),
        proptest::collection::vec(proptest::array::uniform4(f(-50.0, 400.0)), 1..20),
    )
        .prop_map(|(hz, cells_kg)| BedLoad { hz, cells_kg });
    let ack = (
        id(),
        prop_oneof![Just(AckResult::Applied), Just(AckResult::Refused)],
        proptest::option::of("[ -~]{0,40}"),
    )
        .prop_map(|(command_id, result, reason)| CommandAck {
            command_id,
            result,
            reason,
        });
    let pump = (
        prop_oneof![
            Just(PumpState::Off),
            Just(PumpState::Idle),
            Just(PumpState::Infusing),
            Just(PumpState::Paused),
            Just(PumpState::Alarm)
        ],
        f(0.0, 100.0),
        any::<bool>(),
        0.0..1e7f64,
        any::<u64>(),
        proptest::option::of(f(0.0, 50.0)),
        proptest::option::of(f(0.0, 2000.0)),
        proptest::collection::vec("[A-Z]{1,3}-[0-9]{1,4}", 0..3),
    )
        .prop_map(
            |(state, battery_pct, on_battery, runtime_hours, occ, psi, ma, faults)| PumpTelemetry {
                state,
                battery_pct,
                on_battery,
                runtime_hours,
                occlusion_alarms_total: occ,
                downstream_psi: psi,
                motor_current_ma: ma,
                faults,
                infusion: None,
                soft_overrides_total: None,
                hard_stops_total: None,
            },
        );
    let imu = (20u32..=100)
        .prop_flat_map(|hz| {
            (
                Just(hz as f32),
                proptest::collection::vec(
                    proptest::array::uniform3(f(-64.0, 64.0)),
                    1..=hz as usize,
                ),
            )
        })
        .prop_map(|(hz, acc_g)| WearableImu { hz, acc_g });
    let event = (
        prop_oneof![
            Just(WearableEventType::Fall),
            Just(WearableEventType::Button),
            Just(WearableEventType::Removed)
        ],
        proptest::option::of(f(0.0, 1.0)),
    )
        .prop_map(|(kind, confidence)| WearableEvent { kind, confidence });
    let o = |lo: f64, hi: f64| proptest::option::of(lo..=hi);
    let vitals = (
        any::<bool>(),
        (o(0.0, 80.0), o(20.0, 100.0), o(20.0, 300.0), o(10.0, 250.0)),
        (o(0.0, 300.0), o(25.0, 45.0), o(0.0, 80.0)),
        proptest::option::of(any::<bool>()),
        proptest::option::of(prop_oneof![
            Just(orderly_model::news2::Consciousness::Alert),
            Just(orderly_model::news2::Consciousness::NewConfusion),
            Just(orderly_model::news2::Consciousness::Unresponsive),
        ]),
        any::<bool>(),
    )
        .prop_map(
            |(spot, (rr, spo2, sys, dia), (pulse, temp, flow), oxy, acvpu, poor)| {
                let mut v = Vitals {
                    mode: if spot {
                        VitalsMode::Spot
                    } else {
                        VitalsMode::Continuous
                    },
                    respiration_rate: rr,
                    spo2,
                    on_oxygen: oxy,
                    o2_flow_lpm: flow,
                    systolic: sys,
                    diastolic: dia,
                    pulse: pulse.or(Some(60.0)),
                    temperature_c: temp,
                    consciousness: acvpu,
                    ..Vitals::default()
                };
                if poor {
                    v.quality.insert("spo2".into(), Quality::Poor);
                }
                v
            },
        );
    let env = (
        o(-100.0, 100.0),
        o(0.0, 100.0),
        o(-500.0, 500.0),
        proptest::option::of(any::<bool>()),
        o(0.0, 100.0),
    )
        .prop_map(|(t, h, p, door, battery)| {
            orderly_model::environment::EnvReading {
                temperature_c: t,
                humidity_pct: h,
                pressure_pa: p,
                // A reading has at least one value.
                door_open: door.or(Some(false)),
                battery_pct: battery,
            }
        });
    prop_oneof![
        proptest::collection::vec(sighting, 0..10)
            .prop_map(|sightings| Payload::Sightings(Sightings { sightings })),
        bed_state.prop_map(Payload::BedState),
        load.prop_map(Payload::BedLoad),
        ack.prop_map(Payload::CommandAck),
        pump.prop_map(Payload::PumpTelemetry),
        imu.prop_map(Payload::WearableImu),
        event.prop_map(Payload::WearableEvent),
        vitals.clone().prop_map(Payload::Vitals),
        vitals.prop_map(Payload::MonitorVitals),
        env.prop_map(Payload::EnvReading),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn every_topic_round_trips(
        site in "[a-z][a-z0-9-]{0,12}",
        device in id(),
        // Whole milliseconds between 2000 and 2100: what RFC 3339 with milliseconds carries.
        ms in 946_684_800_000i64..4_102_444_800_000,
        seq in proptest::option::of(any::<u64>()),
        payload in payload(),
    ) {
        let topics = Topics::new(&site);
        let ts = Timestamp(ms);
        let (topic, bytes) = encode(&topics, &device, ts, seq, &payload);
        prop_assert!(!topics.is_outbound(&topic));
        let at = Timestamp(ms + 5);
        let got = decode(&topics, &topic, &bytes, at);
        let want = Inbound::Reading(Reading { at, device: device.clone(), ts, seq, payload });
        prop_assert_eq!(got, want, "{} {}", topic, String::from_utf8_lossy(&bytes));
    }
}
