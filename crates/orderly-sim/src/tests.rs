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
fn a_bed_exit_shows_on_the_bed() {
    let mut s = sim(1);
    s.advance(Timestamp(1_795_000_000_000 + 1000));
    assert!(s.bed_exit("BED-ICU-01"));
    let msgs = s.advance(Timestamp(1_795_000_000_000 + 1200));
    let state = msgs
        .iter()
        .find(|m| m.topic.ends_with("bed/bed-icu-01/state"))
        .expect("a state message at once");
    assert_eq!(state.payload["exit_alarm"], "alarming");
    assert_eq!(state.payload["occupied"], false);
}
