use super::*;

const FLOORPLAN: &str = include_str!("../../../floorplans/demo.toml");
const SEED: &str = include_str!("../../../floorplans/demo-seed.toml");

fn sim(seed: u64) -> Simulator {
    sim_with(SimConfig {
        seed,
        ..SimConfig::default()
    })
}

fn sim_with(cfg: SimConfig) -> Simulator {
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    let s = Seed::parse("demo-seed.toml", SEED).unwrap();
    Simulator::new(fp, &s, cfg, Timestamp(1_795_000_000_000))
}

/// Every sample (an array of numbers) under `field` of the messages on topics ending `topic`.
fn samples(msgs: &[Message], topic: &str, field: &str) -> Vec<Vec<f64>> {
    msgs.iter()
        .filter(|m| m.topic.ends_with(topic))
        .flat_map(|m| m.payload[field].as_array().unwrap().clone())
        .map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_traffic() {
    let (mut a, mut b) = (sim(7), sim(7));
    let until = Timestamp(1_795_000_000_000 + 120_000);
    let (ma, mb) = (a.advance(until), b.advance(until));
    assert_eq!(
        serde_json::to_string(&ma).unwrap(),
        serde_json::to_string(&mb).unwrap()
    );
    assert_ne!(
        serde_json::to_string(&ma).unwrap(),
        serde_json::to_string(&sim(8).advance(until)).unwrap()
    );
}

#[test]
fn traffic_covers_the_contract_and_is_in_time_order() {
    let mut s = sim(1);
    let msgs = s.advance(Timestamp(1_795_000_000_000 + 65_000));
    for leaf in ["/sightings", "/state", "/load", "/telemetry"] {
        assert!(msgs.iter().any(|m| m.topic.ends_with(leaf)), "no {leaf}");
    }
    assert!(msgs.windows(2).all(|w| w[0].at <= w[1].at));
    // Receivers publish about once a second each.
    let sightings = msgs
        .iter()
        .filter(|m| m.topic.ends_with("/sightings"))
        .count();
    assert!(sightings > 60 * 100, "{sightings}");
}

#[test]
fn a_sent_item_walks_the_route_and_the_truth_follows() {
    let mut s = sim(1);
    s.take_truth();
    assert!(s.send("WC-0001", "F4-MS4-05"));
    s.advance(Timestamp(1_795_000_000_000 + 300_000));
    assert_eq!(s.true_rooms()["WC-0001"], "F4-MS4-05");
    let path: Vec<String> = s
        .take_truth()
        .into_iter()
        .filter_map(|t| match t {
            Truth::Room { subject, room, .. } if subject == "WC-0001" => Some(room),
            _ => None,
        })
        .collect();
    assert!(
        path.iter()
            .any(|r| r.contains("ELEV") || r.contains("STAIR")),
        "{path:?}"
    );
    assert_eq!(path.last().map(String::as_str), Some("F4-MS4-05"));
}

#[test]
fn a_bed_exit_shows_on_the_bed_and_its_load_cells() {
    let mut s = sim(1);
    let t0 = 1_795_000_000_000;
    s.advance(Timestamp(t0 + 1000));
    assert!(s.bed_exit("BED-ICU-01"));
    assert!(!s.bed_exit("BED-ICU-01"), "already getting up");
    let msgs = s.advance(Timestamp(t0 + 6000));
    // (The bed may also report as it connects, in its first 2 s.)
    let state = msgs
        .iter()
        .rfind(|m| m.topic.ends_with("bed/bed-icu-01/state"))
        .expect("a state message when they stand");
    assert_eq!(state.payload["exit_alarm"], "alarming");
    assert_eq!(state.payload["occupied"], false);
    assert_eq!(state.at, Timestamp(t0 + 5000));
    // The load: about a patient's weight before, on the edge during, nothing after.
    let totals: Vec<f64> = samples(&msgs, "bed/bed-icu-01/load", "cells_kg")
        .iter()
        .map(|c| c.iter().sum())
        .collect();
    assert!(totals.len() >= 20, "{totals:?}");
    assert!(totals[0] > 45.0, "{totals:?}");
    assert!(*totals.last().unwrap() < 2.0, "{totals:?}");
    let truth = s.take_truth();
    assert!(
        truth.iter().any(|t| matches!(t, Truth::BedExit { bed, at, .. } if bed == "BED-ICU-01" && *at == Timestamp(t0 + 5000))),
        "{truth:?}"
    );
}

#[test]
fn an_injected_fall_streams_an_impact_and_lying_still_any_way_round() {
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    let seed = Seed::parse("demo-seed.toml", SEED).unwrap();
    let t0 = 1_795_000_000_000;
    let mut s = Simulator::new(
        fp,
        &seed,
        SimConfig {
            imu: true,
            falls_per_hour: 0.0,
            bed_exits_per_hour: 0.0,
            ..SimConfig::default()
        },
        Timestamp(t0),
    );
    assert!(s.fall("BED-ICU-02"));
    let msgs = s.advance(Timestamp(t0 + 20_000));
    let fall = s
        .take_truth()
        .into_iter()
        .find_map(|t| match t {
            Truth::Fall { at, wearable, .. } => Some((at, wearable)),
            _ => None,
        })
        .expect("the fall happened");
    assert_eq!(fall.1, "W-1002");
    let mags: Vec<f64> = samples(&msgs, "wearable/W-1002/imu", "acc_g")
        .iter()
        .map(|a| a.iter().map(|x| x * x).sum::<f64>().sqrt())
        .collect();
    assert!(mags.len() >= 50 * 19, "{}", mags.len());
    assert!(mags.iter().any(|m| *m > 3.0), "an impact");
    assert!(mags.iter().all(|m| *m < 4.0));
    // No on-device event when the accelerometer streams: Orderly's detector must find it.
    assert!(!msgs.iter().any(|m| m.topic.ends_with("/event")));
}

#[test]
fn a_turn_moves_the_centre_of_mass_across_the_bed_and_is_in_the_truth() {
    let mut s = sim(1);
    let t0 = 1_795_000_000_000;
    let lateral = |msgs: &[Message]| -> f64 {
        let cells = samples(msgs, "bed/bed-icu-01/load", "cells_kg");
        let x: f64 = cells
            .iter()
            .map(|c| ((c[1] + c[3]) - (c[0] + c[2])) / c.iter().sum::<f64>())
            .sum();
        x / cells.len() as f64
    };
    let before = lateral(&s.advance(Timestamp(t0 + 5_000)));
    s.take_truth();
    assert!(s.turn("BED-ICU-01"));
    s.advance(Timestamp(t0 + 6_000));
    let after = lateral(&s.advance(Timestamp(t0 + 12_000)));
    assert!((after - before).abs() > 0.18, "{before} -> {after}");
    assert!(
        s.take_truth()
            .iter()
            .any(|t| matches!(t, Truth::Turned { bed, .. } if bed == "BED-ICU-01"))
    );
}

/// The payloads on `bed/{device}/{what}`.
fn bed_msgs<'a>(msgs: &'a [Message], device: &str, what: &str) -> Vec<&'a serde_json::Value> {
    msgs.iter()
        .filter(|m| m.topic.ends_with(&format!("bed/{device}/{what}")))
        .map(|m| &m.payload)
        .collect()
}

#[test]
fn beds_apply_refuse_or_ignore_commands_as_configured() {
    let mut s = sim_with(SimConfig {
        bed_answers: [
            ("BED-ICU-02".to_string(), BedAnswer::Refuse),
            ("BED-ICU-03".to_string(), BedAnswer::Ignore),
        ]
        .into(),
        ..SimConfig::default()
    });
    let t0 = Timestamp(1_795_000_000_000);
    s.advance(t0.plus_ms(3000));
    for dev in ["bed-icu-01", "bed-icu-02", "bed-icu-03"] {
        let cmd = serde_json::json!({"command_id": format!("c-{dev}"), "set": {"hob_deg": 45}});
        assert!(s.command(dev, &cmd));
    }
    assert!(!s.command("bed-nowhere", &serde_json::json!({"command_id": "c-1"})));
    let out = s.advance(t0.plus_ms(4000));
    let ack = bed_msgs(&out, "bed-icu-01", "command/ack");
    assert_eq!(ack.len(), 1, "{out:?}");
    assert_eq!(ack[0]["result"], "applied");
    assert_eq!(ack[0]["command_id"], "c-bed-icu-01");
    // The motion shows: moving at 45 degrees now, still afterwards.
    let state = bed_msgs(&out, "bed-icu-01", "state");
    assert_eq!(state.last().unwrap()["hob_deg"], 45.0);
    assert_eq!(state.last().unwrap()["moving"], true);
    let refused = bed_msgs(&out, "bed-icu-02", "command/ack");
    assert_eq!(refused[0]["result"], "refused");
    assert_eq!(refused[0]["reason"], "bed in CPR mode");
    assert!(bed_msgs(&out, "bed-icu-03", "command/ack").is_empty());
    let out = s.advance(t0.plus_ms(10_000));
    let state = bed_msgs(&out, "bed-icu-01", "state");
    assert_eq!(state.last().unwrap()["moving"], false, "{state:?}");
    // The ack shares the bed's sequence counter with its other messages.
    let answers: Vec<_> = s
        .take_truth()
        .into_iter()
        .filter_map(|t| match t {
            Truth::Command { bed, answer, .. } => Some((bed, answer)),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("BED-ICU-01".to_string(), BedAnswer::Apply),
            ("BED-ICU-02".to_string(), BedAnswer::Refuse),
            ("BED-ICU-03".to_string(), BedAnswer::Ignore)
        ]
    );
}

#[test]
fn with_care_lapses_beds_start_with_a_setting_out_of_place_and_report_it() {
    let mut s = sim_with(SimConfig {
        care_lapses: 1.0,
        ..SimConfig::default()
    });
    let lapses: Vec<(String, String)> = s
        .take_truth()
        .into_iter()
        .filter_map(|t| match t {
            Truth::Lapse { bed, setting, .. } => Some((bed, setting)),
            _ => None,
        })
        .collect();
    assert!(lapses.len() >= 20, "{lapses:?}");
    let out = s.advance(Timestamp(1_795_000_000_000 + 2_000));
    for (bed, setting) in &lapses {
        let state = bed_msgs(&out, &bed.to_lowercase(), "state");
        let st = state
            .last()
            .unwrap_or_else(|| panic!("{bed} reported no state"));
        let out_of_place = match setting.as_str() {
            "exit_alarm" => st["exit_alarm"] == "off",
            "height" => st["height"] == "raised",
            "brakes" => st["brakes"] == false,
            "hob_deg" => st["hob_deg"].as_f64().unwrap() < 30.0,
            other => panic!("{other}"),
        };
        assert!(out_of_place, "{bed} {setting}: {st}");
    }
    let kinds: std::collections::BTreeSet<&str> = lapses.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

/// Vital signs for every patient with a device: from the bedside monitor at an ICU bed (with
/// its blood-pressure cycle), else from the wearable, every 5 s, with nurses' full sets on
/// their rounds; each message decodes under the contract; deteriorations are in the truth;
/// and turning vital signs on changes none of the other traffic (their own generator).
#[test]
fn every_patient_has_vital_signs_and_they_change_nothing_else() {
    let start = Timestamp(1_795_000_000_000);
    let until = start.plus_ms(31 * 60_000);
    let mut with = sim_with(SimConfig {
        seed: 3,
        vitals: Some(vitals::LiveConfig {
            spot_every_h: 0.25,
            episodes_per_day: 3.0,
            ..vitals::LiveConfig::default()
        }),
        ..SimConfig::default()
    });
    let mut without = sim(3);
    let (mw, mo) = (with.advance(until), without.advance(until));
    let is_vitals = |m: &&Message| m.topic.ends_with("/vitals");
    let others: Vec<&Message> = mw.iter().filter(|m| !is_vitals(m)).collect();
    assert_eq!(others, mo.iter().collect::<Vec<_>>());
    let topics = Topics::new("general");
    let seed = Seed::parse("demo-seed.toml", SEED).unwrap();
    let mut per_device: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for m in mw.iter().filter(is_vitals) {
        let bytes = serde_json::to_vec(&m.payload).unwrap();
        let orderly_model::Inbound::Reading(r) =
            orderly_contract::decode(&topics, &m.topic, &bytes, m.at)
        else {
            panic!("{m:?} does not decode");
        };
        let (Payload::Vitals(v) | Payload::MonitorVitals(v)) = &r.payload else {
            panic!("{m:?}")
        };
        let e = per_device.entry(r.device.clone()).or_default();
        e.0 += 1;
        e.1 += usize::from(v.mode == orderly_model::reading::VitalsMode::Spot);
        e.2 += usize::from(
            v.systolic.is_some() && v.mode == orderly_model::reading::VitalsMode::Continuous,
        );
    }
    for p in &seed.patients {
        let monitor = format!("mon-{}", p.bed.trim_start_matches("BED-").to_lowercase());
        let (device, is_monitor) = if p.bed.starts_with("BED-ICU") {
            (monitor, true)
        } else {
            (p.wearable.clone().unwrap(), false)
        };
        let (n, spots, nibp) = per_device[&device];
        // 31 min at one reading each 5 s; a round each 15 min; a monitor's cuff each 15 min.
        assert!((370..=375).contains(&n), "{device}: {n}");
        assert!((2..=3).contains(&spots), "{device}: {spots}");
        if is_monitor {
            assert!((2..=3).contains(&nibp), "{device}: {nibp}");
        } else {
            assert_eq!(nibp, 0, "{device}");
        }
    }
    assert_eq!(per_device.len(), seed.patients.len());
    let truth = with.take_truth();
    assert!(
        truth
            .iter()
            .any(|t| matches!(t, Truth::Deterioration { .. })),
        "some deterioration under way or begun in 31 minutes of 54 patients"
    );
    assert!(
        truth
            .iter()
            .any(|t| matches!(t, Truth::VitalsArtefact { .. }))
    );
}

fn env_sim(rates: bool) -> Simulator {
    let profiles = orderly_model::environment::parse(
        "environment.toml",
        include_str!("../../../rules/environment.toml"),
    )
    .unwrap();
    let mut env = environment::EnvSim::new(Arc::new(profiles));
    if !rates {
        env.door_openings_per_hour = 0.0;
        env.doors_left_open_per_day = 0.0;
        env.compressor_failures_per_day = 0.0;
        env.isolation_doors_per_hour = 0.0;
        env.fan_failures_per_day = 0.0;
    }
    let cfg = SimConfig {
        environment: Some(env),
        ..SimConfig::default()
    };
    if rates {
        return sim_with(cfg);
    }
    // The sensors alone (hours of a whole hospital are too heavy for a unit test).
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    let at = SEED.find("[[sensor]]").unwrap();
    let s = Seed::parse("demo-seed.toml", &SEED[at..]).unwrap();
    Simulator::new(fp, &s, cfg, Timestamp(1_795_000_000_000))
}

/// The temperatures `sensor` reported, decoded as Orderly decodes them.
fn temperatures(msgs: &[Message], sensor: &str) -> Vec<f64> {
    let topics = orderly_contract::Topics::new("general");
    msgs.iter()
        .filter(|m| m.topic.ends_with(&format!("env/{sensor}/reading")))
        .map(|m| {
            let bytes = serde_json::to_vec(&m.payload).unwrap();
            match orderly_contract::decode(&topics, &m.topic, &bytes, m.at) {
                orderly_model::Inbound::Reading(orderly_model::Reading {
                    payload: Payload::EnvReading(r),
                    ..
                }) => r.temperature_c.unwrap(),
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

#[test]
fn a_working_fridge_holds_its_range_and_a_failed_compressor_takes_it_out_within_the_hour() {
    let mut s = env_sim(false);
    let t0 = Timestamp(1_795_000_000_000);
    let day = s.advance(t0.plus_ms(6 * 3_600_000));
    let temps = temperatures(&day, "env-icu-medfridge");
    assert!(temps.len() >= 359, "{}", temps.len());
    assert!(temps.iter().all(|t| (3.0..=6.5).contains(t)), "{temps:?}");
    assert!(s.env_incident(
        "env-icu-medfridge",
        environment::Incident::CompressorFailure,
        120
    ));
    assert!(!s.env_incident("env-icu-medfridge", environment::Incident::FanFailure, 10));
    let failed = s.advance(t0.plus_ms(7 * 3_600_000));
    let temps = temperatures(&failed, "env-icu-medfridge");
    let first_out = temps.iter().position(|t| *t > 8.0).expect("out of range");
    assert!((30..=55).contains(&first_out), "out after {first_out} min");
    assert!(
        s.take_truth().iter().any(
            |t| matches!(t, Truth::EnvIncident { sensor, .. } if sensor == "env-icu-medfridge")
        )
    );
}

#[test]
fn the_environment_has_its_own_random_stream() {
    let t = Timestamp(1_795_000_000_000 + 120_000);
    let without: Vec<Message> = sim(1).advance(t);
    let with: Vec<Message> = env_sim(true)
        .advance(t)
        .into_iter()
        .filter(|m| !m.topic.contains("/env/"))
        .collect();
    assert_eq!(without.len(), with.len());
    assert!(without == with, "the other devices' traffic changed");
}
