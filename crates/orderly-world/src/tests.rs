//! Systems tested the way Bevy's `how_to_test_systems` does: build a world, feed it, step it
//! with a virtual clock, look at what came out.

use super::*;
use orderly_model::reading::{
    BedHeight, BedState, ExitAlarm, Rails, RejectReason, Sighting, Sightings, Surface,
};
use orderly_model::{EventKind, Payload, Reading};

const FLOORPLAN: &str = include_str!("../../../floorplans/demo.toml");
const SEED: &str = include_str!("../../../floorplans/demo-seed.toml");

fn hospital() -> Hospital {
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    let seed = Seed::parse("demo-seed.toml", SEED).unwrap();
    Hospital::new(fp, &seed, WorldConfig::default())
}

fn t(s: i64) -> Timestamp {
    Timestamp(1_795_000_000_000 + s * 1000)
}

fn sighting(at: Timestamp, rx: &str, tag: &str, rssi: f32, ir: bool) -> Inbound {
    Inbound::Reading(Reading {
        at,
        device: rx.into(),
        ts: at,
        seq: None,
        payload: Payload::Sightings(Sightings {
            sightings: vec![Sighting {
                tag: tag.into(),
                rssi,
                battery: None,
                ir,
            }],
        }),
    })
}

fn moves(events: &[OutEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LocationChanged { subject, to, .. } => Some((subject.clone(), to.clone())),
            _ => None,
        })
        .collect()
}

/// Runs `secs` seconds where each second both receivers hear the tag, and returns the events.
fn walk(
    h: &mut Hospital,
    from: i64,
    secs: i64,
    tag: &str,
    a: (&str, f32),
    b: (&str, f32),
) -> Vec<OutEvent> {
    let mut out = Vec::new();
    for s in from..from + secs {
        h.push(sighting(t(s), a.0, tag, a.1, false));
        h.push(sighting(t(s), b.0, tag, b.1, false));
        out.extend(h.step(t(s)));
    }
    out
}

#[test]
fn the_demo_seed_matches_the_demo_floorplan() {
    let fp = Floorplan::parse("demo.toml", FLOORPLAN).unwrap();
    let seed = Seed::parse("demo-seed.toml", SEED).unwrap();
    seed.check_units("demo-seed.toml", SEED, |u| fp.unit(u).is_some())
        .unwrap();
    assert!(
        seed.assets
            .iter()
            .filter(|a| a.kind == "infusion_pump")
            .count()
            >= 300
    );
    assert!(seed.patients.len() >= 40);
}

#[test]
fn a_tag_moves_after_margin_and_dwell_not_before() {
    let mut h = hospital();
    let ev = walk(
        &mut h,
        0,
        5,
        "TP-0001",
        ("rx-f2-icu-store", -60.0),
        ("rx-f2-c01", -75.0),
    );
    assert_eq!(
        moves(&ev),
        [("PUMP-0001".to_string(), "F2-ICU-STORE".to_string())]
    );
    // Now the corridor is slightly stronger: within the margin, nothing moves.
    let ev = walk(
        &mut h,
        5,
        10,
        "TP-0001",
        ("rx-f2-icu-store", -68.0),
        ("rx-f2-c01", -65.0),
    );
    assert!(moves(&ev).is_empty(), "{ev:?}");
    // Clearly stronger for long enough: one move, after the dwell.
    let ev = walk(
        &mut h,
        15,
        10,
        "TP-0001",
        ("rx-f2-icu-store", -85.0),
        ("rx-f2-c01", -60.0),
    );
    assert_eq!(
        moves(&ev),
        [("PUMP-0001".to_string(), "F2-C01".to_string())]
    );
    let first = ev
        .iter()
        .find(|e| matches!(e.kind, EventKind::LocationChanged { .. }))
        .unwrap();
    assert!(first.at >= t(18), "moved before the dwell: {:?}", first.at);
    let snap = h.snapshot();
    let loc = snap.assets["PUMP-0001"].location.as_ref().unwrap();
    assert_eq!(loc.room, "F2-C01");
    assert!(loc.present && loc.confidence > 0.5);
    assert_eq!(*snap.rooms["F2-C01"], ["PUMP-0001"]);
    assert!(
        !snap.rooms.contains_key("F2-ICU-STORE"),
        "the room it left still lists it"
    );
}

#[test]
fn an_ir_sighting_is_certain_and_immediate() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        3,
        "B-0001",
        ("rx-f2-c01", -60.0),
        ("rx-f2-icu-01", -80.0),
    );
    h.push(sighting(t(3), "rx-f2-icu-01", "B-0001", -80.0, true));
    let ev = h.step(t(3));
    assert_eq!(
        moves(&ev),
        [("S-0001".to_string(), "F2-ICU-01".to_string())]
    );
    match &ev[0].kind {
        EventKind::LocationChanged {
            confidence, from, ..
        } => {
            assert_eq!(*confidence, 1.0);
            assert_eq!(from.as_deref(), Some("F2-C01"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn silent_tags_are_lost_then_found_where_they_were() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        2,
        "TW-1001",
        ("rx-f2-icu-01", -60.0),
        ("rx-f2-c01", -80.0),
    );
    let ev = h.step(t(2 + 61));
    assert!(
        matches!(&ev[..], [OutEvent { kind: EventKind::LocationLost { room, .. }, .. }] if room == "F2-ICU-01"),
        "{ev:?}"
    );
    assert!(
        !h.snapshot().patients["P-1001"]
            .location
            .as_ref()
            .unwrap()
            .present
    );
    let ev = walk(
        &mut h,
        70,
        2,
        "TW-1001",
        ("rx-f2-icu-01", -60.0),
        ("rx-f2-c01", -80.0),
    );
    assert!(ev.is_empty(), "{ev:?}");
    assert!(
        h.snapshot().patients["P-1001"]
            .location
            .as_ref()
            .unwrap()
            .present
    );
}

#[test]
fn bad_input_is_counted_and_changes_nothing() {
    let mut h = hospital();
    let mut unknown = sighting(t(0), "rx-nowhere", "TP-0001", -50.0, false);
    h.push(unknown.clone());
    if let Inbound::Reading(r) = &mut unknown {
        r.device = "rx-f2-c01".into();
        r.seq = Some(5);
    }
    h.push(unknown.clone());
    h.push(unknown.clone()); // duplicate seq
    if let Inbound::Reading(r) = &mut unknown {
        r.seq = Some(9); // three lost
    }
    h.push(unknown);
    h.step(t(0));
    let snap = h.snapshot();
    assert_eq!(snap.ingest.rejected, 2);
    assert_eq!(snap.ingest.by_reason[&RejectReason::UnknownDevice], 1);
    assert_eq!(snap.ingest.by_reason[&RejectReason::Duplicate], 1);
    assert_eq!(snap.ingest.by_device["rx-nowhere"], 1);
    assert_eq!(snap.ingest.gaps, 3);
    assert_eq!(snap.ingest.accepted, 2);
    assert_eq!(snap.ingest.recent.len(), 2);
    assert_eq!(snap.ingest.recent[1].topic, "rtls/rx-f2-c01/sightings");
}

fn bed_state(at: Timestamp, alarm: ExitAlarm) -> Inbound {
    Inbound::Reading(Reading {
        at,
        device: "bed-icu-01".into(),
        ts: at,
        seq: None,
        payload: Payload::BedState(BedState {
            occupied: true,
            hob_deg: 30.0,
            height: BedHeight::Low,
            brakes: true,
            rails: Rails::default(),
            exit_alarm: alarm,
            surface: Surface::Static,
            moving: false,
        }),
    })
}

#[test]
fn a_bed_exit_alarm_raises_one_alert_and_resolves() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    let ev = h.step(t(3));
    let EventKind::AlertRaised(a) = &ev[0].kind else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (a.rule.as_str(), a.unit.as_deref(), a.room.as_deref()),
        ("bed-exit-alarm", Some("ICU"), Some("F2-ICU-01"))
    );
    assert!(a.message.contains("P-1001"), "{}", a.message);
    // The same state again (beds repeat every 30 s): no second alert.
    h.push(bed_state(t(4), ExitAlarm::Alarming));
    assert!(h.step(t(4)).is_empty());
    assert_eq!(h.snapshot().alerts.len(), 1);
    h.push(bed_state(t(5), ExitAlarm::Armed));
    let ev = h.step(t(5));
    assert!(
        matches!(&ev[0].kind, EventKind::AlertResolved(a) if a.state == orderly_model::AlertState::Resolved)
    );
    assert!(h.snapshot().alerts.is_empty());
}

#[test]
fn the_same_inputs_give_the_same_events() {
    let run = || {
        let mut h = hospital();
        let mut all = Vec::new();
        for s in 0..30 {
            for (i, tag) in ["TP-0001", "TP-0002", "B-0003", "TWC-0004"]
                .iter()
                .enumerate()
            {
                let rssi = -60.0 - ((s * 7 + i as i64 * 13) % 20) as f32;
                h.push(sighting(t(s), "rx-f2-c01", tag, rssi, false));
                h.push(sighting(t(s), "rx-f2-icu-01", tag, -130.0 - rssi, false));
            }
            all.extend(h.step(t(s)));
        }
        serde_json::to_string(&all).unwrap()
    };
    let a = run();
    assert!(a.contains("location.changed"));
    assert_eq!(a, run());
}

#[test]
fn a_restart_restores_locations_alerts_and_numbering() {
    let mut h = hospital();
    walk(
        &mut h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    let events = h.step(t(3));
    let snap = h.snapshot();
    let mut again = hospital();
    let loc = snap.assets["BED-ICU-01"].location.clone().unwrap();
    again.restore(Restored {
        next_seq: events.last().unwrap().seq,
        locations: vec![(
            "BED-ICU-01".into(),
            loc.room.clone(),
            loc.since,
            loc.last_seen,
            loc.confidence,
        )],
        alerts: snap.alerts.values().cloned().collect(),
    });
    // Still alarming after the restart: no duplicate alert. Heard in the same room: no move.
    again.push(bed_state(t(10), ExitAlarm::Alarming));
    let ev = walk(
        &mut again,
        10,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    assert!(ev.is_empty(), "{ev:?}");
    again.push(bed_state(t(12), ExitAlarm::Off));
    let ev = again.step(t(12));
    assert_eq!(ev[0].seq, events.last().unwrap().seq + 1);
}

#[test]
fn the_shipped_detector_file_is_valid_and_typos_are_located() {
    let text = include_str!("../../../rules/detectors.toml");
    let c = WorldConfig::parse("rules/detectors.toml", text).unwrap();
    assert_eq!(c.locator.margin_db, 5.0);
    let e = WorldConfig::parse("d.toml", "[locator]\nmargin_bd = 3\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("d.toml:2:1: unknown field `margin_bd`"),
        "{e}"
    );
}

/// The read model kept up to date step by step equals one built from scratch.
#[test]
fn the_incremental_read_model_matches_a_full_rebuild() {
    let mut h = hospital();
    for s in 0..20 {
        for (i, tag) in ["TP-0001", "TB-ICU-01", "B-0003", "TW-1001", "TWC-0004"]
            .iter()
            .enumerate()
        {
            let (a, b) = if (s / 5 + i as i64) % 2 == 0 {
                ("rx-f2-icu-01", "rx-f2-c01")
            } else {
                ("rx-f2-c01", "rx-f2-icu-01")
            };
            h.push(sighting(t(s), a, tag, -55.0, s % 7 == 0));
            h.push(sighting(t(s), b, tag, -80.0, false));
        }
        if s == 10 {
            h.push(bed_state(t(s), ExitAlarm::Alarming));
        }
        h.step(t(s));
    }
    h.step(t(200));
    let live = h.snapshot();
    snapshot::rebuild(h.world_mut());
    let fresh = h.snapshot();
    assert!(!live.rooms.is_empty());
    assert_eq!(live.assets, fresh.assets);
    assert_eq!(live.staff, fresh.staff);
    assert_eq!(live.patients, fresh.patients);
    assert_eq!(live.rooms, fresh.rooms);
}
