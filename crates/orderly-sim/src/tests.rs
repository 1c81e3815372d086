use super::*;

const FLOORPLAN: &str = include_str!("../../../floorplans/demo.toml");
const SEED: &str = include_str!("../../../floorplans/demo-seed.toml");

fn sim(seed: u64) -> Simulator {
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    let s = Seed::parse("demo-seed.toml", SEED).unwrap();
    Simulator::new(
        fp,
        &s,
        SimConfig {
            seed,
            ..SimConfig::default()
        },
        Timestamp(1_795_000_000_000),
    )
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
    let state = msgs
        .iter()
        .find(|m| m.topic.ends_with("bed/bed-icu-01/state"))
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
