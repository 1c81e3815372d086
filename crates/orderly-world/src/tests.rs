//! Systems tested the way Bevy's `how_to_test_systems` does: build a world, feed it, step it
//! with a virtual clock, look at what came out.

use super::*;
use orderly_model::reading::{
    BedHeight, BedState, ExitAlarm, Rails, RejectReason, Sighting, Sightings, Surface,
};
use orderly_model::{EventKind, Payload, Priority, Reading};
use orderly_rules::Fact;

const FLOORPLAN: &str = include_str!("../../../floorplans/demo.toml");
const SEED: &str = include_str!("../../../floorplans/demo-seed.toml");

/// The shipped alert rules these tests run with (all but the maintenance alerts, which the
/// maintenance tests add), from the bundle Orderly itself ships.
fn shipped_rules() -> Vec<(&'static str, &'static str)> {
    rules_dir::BUNDLED
        .into_iter()
        .filter(|(n, _)| {
            [
                "rules/beds.toml",
                "rules/falls.toml",
                "rules/pumps.toml",
                "rules/tracking.toml",
                "rules/turning.toml",
            ]
            .contains(n)
        })
        .collect()
}

fn site() -> (Arc<Floorplan>, Seed) {
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    let seed = Seed::parse("demo-seed.toml", SEED).unwrap();
    (fp, seed)
}

/// Compiles rule files against the demo site.
fn rules(files: &[(&str, &str)]) -> Arc<RuleSet> {
    let (fp, seed) = site();
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    Arc::new(RuleSet::compile(&files, &known(&fp, &seed)).unwrap())
}

fn hospital_with(rules: Arc<RuleSet>) -> Hospital {
    let (fp, seed) = site();
    Hospital::new(fp, &seed, WorldConfig::default(), rules)
}

fn hospital() -> Hospital {
    hospital_with(rules(&shipped_rules()))
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
fn a_tag_moves_on_evidence_that_holds_not_on_a_faded_reading() {
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
    // Fading: one second in four the store reads 12 dB low and the corridor leads by 6 dB.
    let mut ev = Vec::new();
    for s in 5..45 {
        let (store, corridor) = if s % 4 == 0 {
            (-72.0, -66.0)
        } else {
            (-60.0, -75.0)
        };
        ev.extend(walk(
            &mut h,
            s,
            1,
            "TP-0001",
            ("rx-f2-icu-store", store),
            ("rx-f2-c01", corridor),
        ));
    }
    assert!(moves(&ev).is_empty(), "flapped on fading: {ev:?}");
    // The corridor clearly stronger and staying so: one move, within three seconds.
    let ev = walk(
        &mut h,
        45,
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
    assert!(first.at <= t(47), "too slow: {:?}", first.at);
    let snap = h.snapshot();
    let loc = snap.assets["PUMP-0001"].location.as_ref().unwrap();
    assert_eq!(loc.room, "F2-C01");
    assert!(loc.present && loc.confidence > 0.9, "{loc:?}");
    assert_eq!(*snap.rooms["F2-C01"], ["PUMP-0001"]);
    assert!(
        !snap.rooms.contains_key("F2-ICU-STORE"),
        "the room it left still lists it"
    );
}

#[test]
fn one_sighting_on_arrival_does_not_place_a_tag() {
    let mut h = hospital();
    h.push(sighting(t(0), "rx-f2-c01", "TP-0001", -70.0, false));
    assert!(moves(&h.step(t(0))).is_empty());
    // Heard for the settling time: placed.
    h.push(sighting(t(1), "rx-f2-c01", "TP-0001", -70.0, false));
    assert_eq!(
        moves(&h.step(t(1))),
        [("PUMP-0001".to_string(), "F2-C01".to_string())]
    );
}

#[test]
fn a_jump_to_a_far_room_waits_for_the_walking_time() {
    let (fp, _) = site();
    let from = fp.room_index("F2-C01").unwrap();
    let to = fp.room_index("F4-C01").unwrap();
    let metres = fp.distances_from(from)[to];
    let walk_s = metres / LocatorConfig::default().max_speed_mps;
    assert!(!fp.adjacent(from, to) && walk_s > 5.0, "{metres} m");
    let mut h = hospital();
    for s in 0..3 {
        h.push(sighting(t(s), "rx-f2-c01", "TP-0001", -60.0, false));
        h.step(t(s));
    }
    // From now on only a receiver two floors up hears it (a reflection, or a tag carried up).
    let mut moved = None;
    for s in 3..60 {
        h.push(sighting(t(s), "rx-f4-c01", "TP-0001", -60.0, false));
        if !moves(&h.step(t(s))).is_empty() {
            moved = Some(s);
            break;
        }
    }
    let moved = moved.expect("never moved") as f32;
    // Heard in F2-C01 last at t(2); believed there a few seconds more while that receiver's
    // signal fades (a jump across floors needs more than a few seconds of evidence).
    assert!(moved - 2.0 >= walk_s, "moved at {moved}, walk {walk_s} s");
    assert!(
        moved - 2.0 <= walk_s + 8.0,
        "moved at {moved}, walk {walk_s} s"
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
    // Not yet at the patient timeout (a minute).
    let ev = h.step(t(2 + 58));
    assert!(ev.is_empty(), "{ev:?}");
    let ev = h.step(t(2 + 61));
    assert!(
        matches!(&ev[0], OutEvent { kind: EventKind::LocationLost { room, .. }, .. } if room == "F2-ICU-01"),
        "{ev:?}"
    );
    // P-1001 is at risk of elopement: a silent wristband is a high alert to the unit and security.
    let raised: Vec<&Alert> = ev.iter().filter_map(|e| e.kind.alert()).collect();
    assert_eq!(raised.len(), 1, "{ev:?}");
    assert_eq!(raised[0].rule, "wristband-silent-elopement");
    assert_eq!(raised[0].priority, Priority::High);
    assert!(raised[0].audience.contains(&"role:security".to_string()));
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
    // Heard again where it was: found, no move, and the alert clears.
    assert_eq!(ev[0].kind.name(), "location.found", "{ev:?}");
    assert!(moves(&ev).is_empty(), "{ev:?}");
    assert_eq!(alert_kinds(&ev), ["alert.resolved"], "{ev:?}");
    let loc = h.snapshot().patients["P-1001"].location.clone().unwrap();
    assert!(loc.present && !loc.lost, "{loc:?}");
}

fn sighting_with_battery(at: Timestamp, rx: &str, tag: &str, battery: f32) -> Inbound {
    let mut s = sighting(at, rx, tag, -60.0, true);
    if let Inbound::Reading(Reading {
        payload: Payload::Sightings(x),
        ..
    }) = &mut s
    {
        x.sightings[0].battery = Some(battery);
    }
    s
}

#[test]
fn a_tag_battery_low_for_an_hour_is_one_advisory_to_facilities() {
    let mut h = hospital();
    // Heard every ten minutes (within the equipment silence timeout), battery as given.
    let feed = |h: &mut Hospital, from: i64, to: i64, battery: f32| {
        let mut ev = Vec::new();
        for s in (from..to).step_by(600) {
            h.push(sighting_with_battery(
                t(s),
                "rx-f2-icu-01",
                "TP-0001",
                battery,
            ));
            ev.extend(h.step(t(s)));
        }
        ev.extend(h.step(t(to)));
        ev.into_iter()
            .filter_map(|e| e.kind.alert().cloned())
            .collect::<Vec<Alert>>()
    };
    assert!(feed(&mut h, 0, 1800, 0.12).is_empty());
    assert_eq!(h.snapshot().assets["PUMP-0001"].tag_battery_pct, Some(12));
    // A cold cell reading low for half an hour, then normal again: nothing.
    assert!(feed(&mut h, 1800, 6000, 0.5).is_empty());
    // Low for an hour: one advisory to facilities, and no more while it stays low.
    let raised = feed(&mut h, 6000, 6000 + 3600 + 600, 0.14);
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].rule, "tag-battery-low");
    assert_eq!(raised[0].audience, ["role:facilities"]);
    assert!(feed(&mut h, 10200, 14000, 0.13).is_empty());
}

#[test]
fn silence_timeouts_follow_the_tag_class_and_the_asset_kind() {
    let mut h = hospital();
    // A wheelchair (600 s in detectors.toml), a pump (the equipment default, 900 s).
    let cfg = WorldConfig::parse(
        "rules/detectors.toml",
        include_str!("../../../rules/detectors.toml"),
    )
    .unwrap();
    h.set_config(cfg);
    h.push(sighting(t(0), "rx-f2-icu-01", "TWC-0001", -60.0, true));
    h.push(sighting(t(0), "rx-f2-icu-01", "TP-0001", -60.0, true));
    h.step(t(0));
    let lost = |ev: &[OutEvent]| -> Vec<String> {
        ev.iter()
            .filter_map(|e| match &e.kind {
                EventKind::LocationLost { subject, .. } => Some(subject.clone()),
                _ => None,
            })
            .collect()
    };
    assert!(lost(&h.step(t(599))).is_empty());
    assert_eq!(lost(&h.step(t(602))), ["WC-0001"]);
    assert!(lost(&h.step(t(899))).is_empty());
    let ev = h.step(t(902));
    assert_eq!(lost(&ev), ["PUMP-0001"]);
    let snap = h.snapshot();
    assert!(snap.assets["WC-0001"].location.as_ref().unwrap().lost);
    assert!(snap.assets["PUMP-0001"].location.as_ref().unwrap().lost);
}

#[test]
fn a_location_restored_after_a_restart_is_lost_when_its_timeout_passes_without_a_second_event() {
    let mut h = hospital();
    h.restore(Restored {
        next_seq: 1,
        locations: vec![("P-1002".into(), "F2-ICU-02".into(), t(-10), t(-10), 0.95)],
        ..Default::default()
    });
    let ev = h.step(t(0));
    assert!(ev.is_empty(), "{ev:?}");
    let loc = h.snapshot().patients["P-1002"].location.clone().unwrap();
    assert!(!loc.present && !loc.lost, "{loc:?}");
    // A minute after it was last heard: lost, and the unit hears of it, with no location event.
    let ev = h.step(t(51));
    assert_eq!(alert_kinds(&ev), ["alert.raised"], "{ev:?}");
    assert_eq!(ev[0].kind.alert().unwrap().rule, "wristband-silent");
    assert!(
        h.snapshot().patients["P-1002"]
            .location
            .as_ref()
            .unwrap()
            .lost
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
    // The exit is logged (bed.exit, from the bed's alarm), then alerted.
    assert!(
        matches!(&ev[0].kind, EventKind::BedExit { source, assisted: false, .. } if source == "bed alarm"),
        "{ev:?}"
    );
    let EventKind::AlertRaised(a) = &ev[1].kind else {
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
    // Cleared: resolved once it stayed clear for the rule's 10 s.
    h.push(bed_state(t(5), ExitAlarm::Armed));
    assert!(h.step(t(5)).is_empty());
    assert!(h.step(t(14)).is_empty());
    let ev = h.step(t(15));
    assert!(
        matches!(&ev[0].kind, EventKind::AlertResolved(a) if a.state == orderly_model::AlertState::Resolved),
        "{ev:?}"
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
        statuses: vec![],
        next_seq: events.last().unwrap().seq,
        locations: vec![(
            "BED-ICU-01".into(),
            loc.room.clone(),
            loc.since,
            loc.last_seen,
            loc.confidence,
        )],
        alerts: snap.alerts.values().cloned().collect(),
        turned: vec![],
        ..Restored::default()
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
    // (Bundles restate where they stand after a restart.) Numbering goes on from before.
    assert!(no_bundles(&ev).is_empty(), "{ev:?}");
    assert_eq!(ev[0].seq, events.last().unwrap().seq + 1);
    let last = ev.last().unwrap().seq;
    again.push(bed_state(t(12), ExitAlarm::Off));
    assert!(no_bundles(&again.step(t(12))).is_empty());
    // (The exit alarm off for 5 s also has Orderly arm it: a bed command in the same step.)
    let ev = again.step(t(22));
    assert!(
        ev.iter().any(|e| e.kind.name() == "alert.resolved"),
        "{ev:?}"
    );
    assert_eq!(ev[0].seq, last + 1);
}

#[test]
fn a_restored_alert_waits_for_its_device_before_it_can_resolve() {
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
    h.step(t(3));
    let open: Vec<_> = h.snapshot().alerts.values().cloned().collect();
    let mut again = hospital();
    again.restore(Restored {
        statuses: vec![],
        next_seq: 100,
        locations: vec![],
        alerts: open,
        turned: vec![],
        ..Restored::default()
    });
    // The bed has not spoken since the restart: its exit-alarm fact is unknown, not "off".
    let ev = walk(
        &mut again,
        10,
        20,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    assert!(ev.iter().all(|e| e.kind.alert().is_none()), "{ev:?}");
    assert_eq!(again.snapshot().alerts.len(), 1);
}

#[test]
fn the_shipped_detector_file_is_valid_and_typos_are_located() {
    let text = include_str!("../../../rules/detectors.toml");
    let c = WorldConfig::parse("rules/detectors.toml", text).unwrap();
    assert_eq!(c.locator.enter_p, 0.9);
    let e = WorldConfig::parse("d.toml", "[locator]\nenter_pp = 0.8\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("d.toml:2:1: unknown field `enter_pp`"),
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

fn bed_with(at: Timestamp, hob: f32, alarm: ExitAlarm) -> Inbound {
    let mut b = bed_state(at, alarm);
    if let Inbound::Reading(Reading {
        payload: Payload::BedState(s),
        ..
    }) = &mut b
    {
        s.hob_deg = hob;
    }
    b
}

const HOB: &str = r#"
[[rule]]
id = "hob"
title = "Head of bed low"
subject = "bed"
when = "bed.occupied && bed.hob_deg < 30.0"
unless = "room.caregiver_present"
for = "2m"
priority = "medium"
kind = "physiological"
escalate = [{ after = "30s", to = ["role:charge_nurse"] }]
message = "HOB {bed.hob_deg} for {patient.name}"
"#;

/// The events other than care-bundle standings.
fn no_bundles(ev: &[OutEvent]) -> Vec<&OutEvent> {
    ev.iter()
        .filter(|e| e.kind.name() != "bundle.changed")
        .collect()
}

fn alert_kinds(ev: &[OutEvent]) -> Vec<&'static str> {
    ev.iter()
        .filter(|e| e.kind.alert().is_some())
        .map(|e| e.kind_name())
        .collect()
}

fn place_bed(h: &mut Hospital) {
    walk(
        h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
}

#[test]
fn a_hold_timer_survives_a_reload_that_changes_its_rule() {
    let mut h = hospital_with(rules(&[("hob.toml", HOB)]));
    place_bed(&mut h);
    h.push(bed_with(t(10), 20.0, ExitAlarm::Armed));
    assert!(alert_kinds(&h.step(t(10))).is_empty());
    // One minute into the two: a reload changes the message and adds a rule.
    let changed = HOB.replace("HOB {bed.hob_deg}", "Head of bed at {bed.hob_deg}");
    let added = format!(
        "{changed}\n{}",
        HOB.replace("id = \"hob\"", "id = \"hob2\"")
    );
    let summary = h.replace_rules(rules(&[("hob.toml", &added)]));
    assert_eq!(summary.changed, ["hob"]);
    assert_eq!(summary.added, ["hob2"]);
    assert!(alert_kinds(&h.step(t(70))).is_empty());
    // The surviving rule fires at 2 min after the condition began, not 2 min after the reload.
    let ev = h.step(t(130));
    assert_eq!(alert_kinds(&ev), ["alert.raised"]);
    let a = ev[0].kind.alert().unwrap();
    assert_eq!(a.message, "Head of bed at 20 for Ben Rossi");
    // Escalation step survives a reload too; a removed rule's alert is resolved.
    assert_eq!(alert_kinds(&h.step(t(160))), ["alert.escalated"]);
    h.replace_rules(rules(&[("hob.toml", &added)]));
    assert!(alert_kinds(&h.step(t(161))).is_empty());
    assert_eq!(h.snapshot().alerts.values().next().unwrap().escalation, 1);
    h.replace_rules(rules(&[]));
    let ev = h.step(t(162));
    assert_eq!(alert_kinds(&ev), ["alert.resolved"]);
    assert_eq!(
        ev[0].kind.alert().unwrap().resolution.as_deref(),
        Some("rule removed")
    );
}

#[test]
fn a_caregiver_in_the_room_holds_the_alert_back() {
    let mut h = hospital_with(rules(&[(
        "hob.toml",
        &HOB.replace("for = \"2m\"", "for = \"0s\""),
    )]));
    place_bed(&mut h);
    // Nurse S-0002's badge is in the room first.
    walk(
        &mut h,
        2,
        2,
        "B-0002",
        ("rx-f2-icu-01", -50.0),
        ("rx-f2-c01", -85.0),
    );
    h.push(bed_with(t(10), 20.0, ExitAlarm::Armed));
    assert!(alert_kinds(&h.step(t(10))).is_empty());
    // The nurse leaves: the condition now holds.
    let ev = walk(
        &mut h,
        11,
        8,
        "B-0002",
        ("rx-f2-c01", -50.0),
        ("rx-f2-icu-01", -85.0),
    );
    assert_eq!(alert_kinds(&ev), ["alert.raised"]);
}

#[test]
fn operators_acknowledge_silence_and_resolve_through_the_world() {
    let mut h = hospital();
    place_bed(&mut h);
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    h.step(t(3));
    let id = h.snapshot().alerts.keys().next().unwrap().clone();
    let (seq, a) = h
        .command(AlertCommand::Acknowledge {
            id: id.clone(),
            by: "S-0002".into(),
        })
        .unwrap();
    assert_eq!(a.acknowledged_by.as_deref(), Some("S-0002"));
    let ev = h.step(t(4));
    assert_eq!(ev[0].seq, seq);
    assert_eq!(ev[0].kind_name(), "alert.acknowledged");
    // Acknowledged: no escalation at 30 s.
    assert!(alert_kinds(&h.step(t(40))).is_empty());
    assert!(matches!(
        h.command(AlertCommand::Silence {
            id: "x".into(),
            by: "S-0002".into(),
            for_ms: 60_000
        }),
        Err(CommandError::NotFound(_))
    ));
    h.command(AlertCommand::Resolve {
        id,
        by: "S-0002".into(),
        reason: "patient back in bed, alarm sensor faulty".into(),
    })
    .unwrap();
    assert_eq!(alert_kinds(&h.step(t(41))), ["alert.resolved"]);
    // Still alarming: no new alert until the alarm has cleared.
    h.push(bed_state(t(45), ExitAlarm::Alarming));
    assert!(alert_kinds(&h.step(t(45))).is_empty());
}

#[test]
fn an_unacknowledged_bed_exit_escalates_along_its_chain() {
    let mut h = hospital();
    place_bed(&mut h);
    h.push(bed_state(t(3), ExitAlarm::Alarming));
    h.step(t(3));
    assert!(alert_kinds(&h.step(t(32))).is_empty());
    let ev = h.step(t(33));
    assert_eq!(alert_kinds(&ev), ["alert.escalated"]);
    assert_eq!(
        ev[0].kind.alert().unwrap().audience,
        ["station:ICU", "role:charge_nurse"]
    );
    let ev = h.step(t(93));
    assert_eq!(ev[0].kind.alert().unwrap().audience, ["overhead"]);
}

#[test]
fn a_rule_that_fails_is_disabled_with_a_technical_alert_and_the_rest_keep_running() {
    let failing = HOB.replace("id = \"hob\"", "id = \"broken\"").replace(
        "bed.occupied && bed.hob_deg < 30.0",
        "bed.rails_up / (bed.rails_up - bed.rails_up) > 1",
    );
    let both = format!("{failing}\n{}", HOB.replace("for = \"2m\"", "for = \"0s\""));
    let mut h = hospital_with(rules(&[("r.toml", &both)]));
    place_bed(&mut h);
    h.push(bed_with(t(10), 20.0, ExitAlarm::Armed));
    let ev = h.step(t(10));
    let raised: Vec<_> = ev
        .iter()
        .filter_map(|e| e.kind.alert())
        .map(|a| a.rule.as_str())
        .collect();
    assert_eq!(raised, [alerts::RULE_FAILED, "hob"]);
    let tech = ev[0].kind.alert().unwrap();
    assert_eq!(tech.audience, ["role:admin"]);
    assert!(tech.message.contains("broken"), "{}", tech.message);
    assert_eq!(h.rules().1.len(), 1);
    // Disabled: the next change does not fail again.
    h.push(bed_with(t(11), 21.0, ExitAlarm::Armed));
    assert!(alert_kinds(&h.step(t(11))).is_empty());
    // A reload gives it another chance (and resolves the technical alert).
    h.replace_rules(rules(&[("r.toml", HOB)]));
    let ev = h.step(t(12));
    assert!(ev.iter().any(|e| e.kind_name() == "alert.resolved"
        && e.kind.alert().unwrap().rule == alerts::RULE_FAILED));
}

#[test]
fn a_rejected_rule_set_raises_one_technical_alert_until_a_good_one_loads() {
    let mut h = hospital();
    h.rules_rejected("rules/x.toml:3:1: unknown field".into());
    h.rules_rejected("rules/x.toml:3:1: unknown field".into());
    let ev = h.step(t(1));
    assert_eq!(alert_kinds(&ev), ["alert.raised"]);
    h.replace_rules(rules(&shipped_rules()));
    assert_eq!(alert_kinds(&h.step(t(2))), ["alert.resolved"]);
}

/// The facts the world builds are exactly the ones the schema (and docs/rules.md) promise.
#[test]
fn built_facts_match_the_schema() {
    use orderly_rules::{Fact, FactType, schema};
    let all_kinds = orderly_rules::SubjectType::ALL
        .map(|k| format!(
            "[[rule]]\nid = \"all-{0}\"\ntitle = \"x\"\nsubject = \"{0}\"\nwhen = \"true\"\npriority = \"low\"\nkind = \"advisory\"\nnotify = [\"role:admin\"]\nmessage = \"m\"\n",
            k.as_str()
        ))
        .join("\n");
    let mut h = hospital_with(rules(&[("all.toml", &all_kinds)]));
    h.set_config(WorldConfig {
        par: vec![par_level("ICU", "infusion_pump", 2, 1)],
        ..WorldConfig::default()
    });
    place_bed(&mut h);
    h.step(t(5));
    let world = h.world_mut();
    let mut q = world.query::<(
        AnyOf<(&registry::Subject, &par::ParSubject)>,
        &facts::SubjectFacts,
    )>();
    let mut seen = std::collections::BTreeSet::new();
    for ((subject, par), f) in q.iter(world) {
        let id = subject.map_or_else(|| par.unwrap().id.clone(), |s| s.id.clone());
        for (g, facts) in &f.facts().groups {
            let defs = schema::group(g).unwrap();
            let names: Vec<_> = facts.keys().copied().collect();
            let mut want: Vec<_> = defs.iter().map(|d| d.name).collect();
            want.sort_unstable();
            assert_eq!(names, want, "{id} group {g}");
            for d in defs {
                let ok = match (&facts[d.name], d.ty) {
                    (Fact::Bool(_), FactType::Bool)
                    | (Fact::Int(_), FactType::Int)
                    | (Fact::Double(_), FactType::Double)
                    | (Fact::String(_), FactType::String)
                    | (Fact::StringList(_), FactType::StringList) => true,
                    (Fact::String(v), FactType::Enum(vals)) => vals.contains(&v.as_str()),
                    _ => false,
                };
                assert!(ok, "{id}: {g}.{} = {:?}", d.name, facts[d.name]);
            }
            seen.insert(*g);
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
}

#[test]
fn the_shipped_rules_are_valid() {
    let set = rules(&shipped_rules());
    assert!(set.rules.len() >= 8);
    assert!(set.get("bed-exit-alarm").is_some());
}

fn status_changes(events: &[OutEvent]) -> Vec<(String, AssetStatus, AssetStatus, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StatusChanged {
                asset,
                from,
                to,
                by,
                ..
            } => Some((asset.clone(), *from, *to, by.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn equipment_in_a_dirty_utility_room_needs_cleaning_and_a_person_marks_it_clean() {
    let mut h = hospital();
    h.push(sighting(t(0), "rx-f2-icu-dirty", "TP-0001", -60.0, true));
    let ev = h.step(t(0));
    assert_eq!(
        status_changes(&ev),
        [(
            "PUMP-0001".to_string(),
            AssetStatus::Available,
            AssetStatus::NeedsCleaning,
            "dirty utility room".to_string()
        )]
    );
    assert_eq!(
        h.snapshot().assets["PUMP-0001"].status,
        AssetStatus::NeedsCleaning
    );
    // Staying there changes nothing more.
    h.push(sighting(t(1), "rx-f2-icu-dirty", "TP-0001", -60.0, true));
    assert!(status_changes(&h.step(t(1))).is_empty());
    // Cleaned, by a person: one event, with the name.
    let seq = h
        .set_status("PUMP-0001", AssetStatus::Clean, "Sam Tech", "wiped down")
        .unwrap();
    let ev = h.step(t(2));
    assert_eq!(ev.iter().filter(|e| e.seq == seq).count(), 1);
    assert_eq!(
        status_changes(&ev),
        [(
            "PUMP-0001".to_string(),
            AssetStatus::NeedsCleaning,
            AssetStatus::Clean,
            "Sam Tech".to_string()
        )]
    );
    assert_eq!(
        h.set_status("PUMP-0001", AssetStatus::Clean, "Sam Tech", ""),
        Err(StatusError::Unchanged {
            asset: "PUMP-0001".into(),
            status: "clean"
        })
    );
    assert!(matches!(
        h.set_status("NOPE", AssetStatus::Clean, "x", ""),
        Err(StatusError::NotFound(_))
    ));
    // A restart puts the status back without a new event.
    let mut again = hospital();
    again.restore(Restored {
        statuses: vec![("PUMP-0001".into(), AssetStatus::Clean, t(2))],
        ..Restored::default()
    });
    assert!(status_changes(&again.step(t(3))).is_empty());
    assert_eq!(
        again.snapshot().assets["PUMP-0001"].status,
        AssetStatus::Clean
    );
}

#[test]
fn a_pump_is_in_use_while_infusing_then_needs_cleaning() {
    use orderly_model::reading::{PumpState, PumpTelemetry};
    let mut h = hospital();
    let pump = |at: Timestamp, state: PumpState| {
        Inbound::Reading(Reading {
            at,
            device: "pump-0001".into(),
            ts: at,
            seq: None,
            payload: Payload::PumpTelemetry(PumpTelemetry {
                state,
                battery_pct: 90.0,
                on_battery: false,
                runtime_hours: 100.0,
                occlusion_alarms_total: 0,
                downstream_psi: None,
                motor_current_ma: None,
                faults: vec![],
            }),
        })
    };
    h.push(pump(t(0), PumpState::Infusing));
    let mut ev = h.step(t(0));
    h.push(pump(t(1), PumpState::Infusing));
    ev.extend(h.step(t(1)));
    h.push(pump(t(2), PumpState::Idle));
    ev.extend(h.step(t(2)));
    let got: Vec<(AssetStatus, String)> = status_changes(&ev)
        .into_iter()
        .map(|(_, _, to, by)| (to, by))
        .collect();
    assert_eq!(
        got,
        [
            (AssetStatus::InUse, "pump in use".to_string()),
            (AssetStatus::NeedsCleaning, "pump use ended".to_string())
        ]
    );
}

#[test]
fn equipment_at_an_exit_alerts_security_once() {
    let mut h = hospital();
    let mut raised = Vec::new();
    for s in 0..5 {
        h.push(sighting(t(s), "rx-f1-exit-main", "TWC-0004", -60.0, true));
        raised.extend(
            h.step(t(s))
                .into_iter()
                .filter(|e| matches!(e.kind, EventKind::AlertRaised(_))),
        );
    }
    assert_eq!(raised.len(), 1, "{raised:?}");
    let a = raised[0].kind.alert().unwrap();
    assert_eq!(a.rule, "equipment-at-exit");
    assert_eq!(a.audience, ["role:security"]);
}

fn par_level(unit: &str, kind: &str, target: u32, critical: u32) -> orderly_model::par::ParLevel {
    orderly_model::par::ParLevel {
        unit: unit.into(),
        kind: kind.into(),
        target,
        critical,
    }
}

#[test]
fn a_unit_short_of_ready_pumps_is_told_where_to_pull_from() {
    let mut h = hospital();
    h.set_config(WorldConfig {
        par: vec![
            par_level("ICU", "infusion_pump", 2, 1),
            par_level("MS3", "infusion_pump", 2, 0),
        ],
        ..WorldConfig::default()
    });
    // Two ready pumps on ICU, three on 3 West (one to spare), one in the central store.
    let placed = [
        ("TP-0001", "rx-f2-icu-01"),
        ("TP-0002", "rx-f2-icu-01"),
        ("TP-0003", "rx-f3-ms3-08"),
        ("TP-0004", "rx-f3-ms3-08"),
        ("TP-0005", "rx-f3-ms3-08"),
        ("TP-0006", "rx-f1-equip"),
    ];
    let mut alerts: Vec<EventKind> = Vec::new();
    let mut run = |h: &mut Hospital, from: i64, to: i64| {
        for s in (from..to).step_by(30) {
            for (tag, rx) in placed {
                h.push(sighting(t(s), rx, tag, -60.0, true));
            }
            alerts.extend(
                h.step(t(s))
                    .into_iter()
                    .filter(|e| e.kind.alert().is_some_and(|a| a.rule.starts_with("par-")))
                    .map(|e| e.kind),
            );
        }
        std::mem::take(&mut alerts)
    };
    // At the level: nothing, however long.
    assert!(run(&mut h, 0, 1800).is_empty());
    let facts = |h: &mut Hospital| {
        let w = h.world_mut();
        let mut q = w.query::<(&par::ParSubject, &facts::SubjectFacts)>();
        q.iter(w)
            .find(|(p, _)| p.id == "PAR-ICU-infusion_pump")
            .map(|(_, f)| f.facts().clone())
            .unwrap()
    };
    let f = facts(&mut h);
    assert_eq!(f.get("par", "ready"), Some(&Fact::Int(2)));
    // One goes for repair: below the target. Fifteen minutes later, one advisory to the unit
    // and facilities, naming the nearest room with a pump to spare.
    h.set_status(
        "PUMP-0001",
        AssetStatus::OutOfService,
        "S-0040",
        "cracked housing",
    )
    .unwrap();
    assert!(run(&mut h, 1800, 1800 + 14 * 60).is_empty());
    let raised = run(&mut h, 1800 + 14 * 60, 1800 + 16 * 60);
    assert_eq!(raised.len(), 1, "{raised:?}");
    let a = raised[0].alert().unwrap();
    assert_eq!(a.rule, "par-below-target");
    assert_eq!(a.unit.as_deref(), Some("ICU"));
    assert_eq!(a.audience, ["station:ICU", "role:facilities"]);
    // The source, checked against the floorplan's own shortest paths: 3 West can spare one
    // (three ready, level two), the central store one.
    let (fp, _) = site();
    let station = fp.room_index("F2-ICU-NS").unwrap();
    let d = fp.distances_from(station);
    let (near, far) = {
        let ms3 = fp.room_index("F3-MS3-08").unwrap();
        let store = fp.room_index("F1-EQUIP").unwrap();
        if d[ms3] <= d[store] {
            (ms3, store)
        } else {
            (store, ms3)
        }
    };
    assert!(d[near] < d[far]);
    let want = format!(
        "pull 1 from {} {} (1 spare, {} m)",
        fp.rooms[near].id,
        fp.rooms[near].name,
        d[near].round()
    );
    assert!(a.message.contains(&want), "{} lacks {want}", a.message);
    // The second goes too: critical within five minutes; the advisory clears.
    h.set_status("PUMP-0002", AssetStatus::OutOfService, "S-0040", "dropped")
        .unwrap();
    let ev = run(&mut h, 2800, 2800 + 6 * 60);
    let names: Vec<(&str, &str)> = ev
        .iter()
        .map(|e| (e.name(), e.alert().unwrap().rule.as_str()))
        .collect();
    assert!(
        names.contains(&("alert.raised", "par-critical")),
        "{names:?}"
    );
    assert!(
        names.contains(&("alert.resolved", "par-below-target")),
        "{names:?}"
    );
    assert_eq!(facts(&mut h).get("par", "ready"), Some(&Fact::Int(0)));
    // The level is removed: its alert goes with it.
    h.set_config(WorldConfig::default());
    let ev = h.step(t(3200));
    assert!(
        ev.iter().any(|e| e.kind.name() == "alert.resolved"
            && e.kind.alert().unwrap().resolution.as_deref() == Some("PAR level removed")),
        "{ev:?}"
    );
}

/// A wearable's stream: upright for 3 s (the last 0.4 s of it dropping), an impact, then lying
/// still; one message a second.
fn fall_stream(device: &str, from: i64) -> Vec<Inbound> {
    let mut out = Vec::new();
    for sec in 0..8 {
        let acc_g: Vec<[f32; 3]> = (0..50)
            .map(|i| {
                let ms = sec * 1000 + i * 20;
                match ms {
                    ..2600 => [0.0, 0.0, 1.0],
                    2600..3000 => [0.0, 0.0, 0.3],
                    3000..3020 => [3.5, 0.0, 0.5],
                    _ => [1.0, 0.0, 0.0],
                }
            })
            .collect();
        let at = t(from + sec);
        out.push(Inbound::Reading(Reading {
            at,
            device: device.into(),
            ts: at,
            seq: None,
            payload: Payload::WearableImu(orderly_model::reading::WearableImu { hz: 50.0, acc_g }),
        }));
    }
    out
}

fn feed(h: &mut Hospital, msgs: Vec<Inbound>, from: i64) -> Vec<OutEvent> {
    let mut out = Vec::new();
    for (i, m) in msgs.into_iter().enumerate() {
        h.push(m);
        out.extend(h.step(t(from + i as i64 + 1)));
    }
    out
}

fn bed2(at: Timestamp, occupied: bool) -> Inbound {
    let mut b = bed_state(at, ExitAlarm::Armed);
    if let Inbound::Reading(r) = &mut b {
        r.device = "bed-icu-02".into();
        if let Payload::BedState(s) = &mut r.payload {
            s.occupied = occupied;
        }
    }
    b
}

#[test]
fn a_fall_from_the_wearable_is_one_high_alert_to_the_unit_until_someone_resolves_it() {
    let mut h = hospital();
    h.push(bed2(t(0), false));
    h.step(t(0));
    let ev = feed(&mut h, fall_stream("W-1002", 0), 0);
    let detected: Vec<&OutEvent> = ev
        .iter()
        .filter(|e| e.kind.name() == "fall.detected")
        .collect();
    assert_eq!(detected.len(), 1, "{ev:?}");
    let raised: Vec<&Alert> = ev.iter().filter_map(|e| e.kind.alert()).collect();
    assert_eq!(raised.len(), 1, "{ev:?}");
    let a = raised[0];
    assert_eq!(
        (a.rule.as_str(), a.priority),
        ("fall-alone", Priority::High)
    );
    assert_eq!(a.unit.as_deref(), Some("ICU"));
    assert_eq!(a.audience, ["station:ICU"]);
    assert!(a.message.contains("Ada Petrov"), "{}", a.message);
    // The fact lapses after fact_s; the alert stays until a person resolves it.
    let ev = h.step(t(400));
    assert!(
        ev.iter().all(|e| e.kind.name() != "alert.resolved"),
        "{ev:?}"
    );
    assert!(h.snapshot().alerts.values().any(|x| x.rule == "fall-alone"));
}

#[test]
fn a_fall_while_the_bed_holds_the_patient_is_logged_not_alerted() {
    let mut h = hospital();
    h.push(bed2(t(0), true));
    h.step(t(0));
    let ev = feed(&mut h, fall_stream("W-1002", 0), 0);
    let detected: Vec<&OutEvent> = ev
        .iter()
        .filter(|e| e.kind.name() == "fall.detected")
        .collect();
    assert_eq!(detected.len(), 1, "{ev:?}");
    assert!(
        matches!(&detected[0].kind, EventKind::FallDetected { suppressed: Some(why), .. } if why.contains("bed")),
        "{ev:?}"
    );
    assert!(alert_kinds(&ev).is_empty(), "{ev:?}");
}

#[test]
fn the_wearables_own_fall_event_alerts_too() {
    let mut h = hospital();
    h.push(Inbound::Reading(Reading {
        at: t(1),
        device: "W-1002".into(),
        ts: t(1),
        seq: None,
        payload: Payload::WearableEvent(orderly_model::reading::WearableEvent {
            kind: orderly_model::reading::WearableEventType::Fall,
            confidence: Some(0.9),
        }),
    }));
    let ev = h.step(t(1));
    let rules: Vec<&str> = ev
        .iter()
        .filter_map(|e| e.kind.alert())
        .map(|a| a.rule.as_str())
        .collect();
    assert_eq!(rules, ["fall-alone"], "{ev:?}");
}

fn button(at: Timestamp) -> Inbound {
    Inbound::Reading(Reading {
        at,
        device: "W-1002".into(),
        ts: at,
        seq: None,
        payload: Payload::WearableEvent(orderly_model::reading::WearableEvent {
            kind: orderly_model::reading::WearableEventType::Button,
            confidence: None,
        }),
    })
}

#[test]
fn the_wearers_button_soon_after_cancels_the_fall_as_im_ok_later_it_does_not() {
    for (press_after, cancelled) in [(10, true), (60, false)] {
        let mut h = hospital();
        // A nurse two rooms away: named as the nearest in the alert.
        h.push(sighting(t(0), "rx-f2-icu-04", "B-0001", -60.0, true));
        // The patient's wristband is heard in their room.
        h.push(sighting(t(0), "rx-f2-icu-02", "TW-1002", -60.0, true));
        h.step(t(0));
        let ev = feed(&mut h, fall_stream("W-1002", 0), 0);
        let a = ev.iter().find_map(|e| e.kind.alert()).unwrap().clone();
        assert!(
            a.message.contains("nearest: Jonas Fischer (charge_nurse"),
            "{}",
            a.message
        );
        let when = 8 + press_after;
        h.push(button(t(when)));
        let ev = h.step(t(when));
        let resolved: Vec<&Alert> = ev
            .iter()
            .filter(|e| e.kind.name() == "alert.resolved")
            .filter_map(|e| e.kind.alert())
            .collect();
        if cancelled {
            assert_eq!(resolved.len(), 1, "{ev:?}");
            assert_eq!(resolved[0].id, a.id);
            assert_eq!(
                resolved[0].resolved_by.as_deref(),
                Some("patient (wearable button)")
            );
            assert!(
                resolved[0]
                    .resolution
                    .as_deref()
                    .unwrap()
                    .contains("I'm OK")
            );
        } else {
            assert!(resolved.is_empty(), "a late press does not cancel: {ev:?}");
        }
    }
}

// Bed exit from load cells ------------------------------------------------------------------

/// One second of load-cell samples at 10 Hz from `s`, arriving at `s + 1` (as beds batch):
/// `share` of an 80 kg patient at lateral centre `x` (-1 left .. 1 right).
fn load(h: &mut Hospital, bed: &str, s: i64, share: f32, x: f32) -> Vec<OutEvent> {
    let w = 80.0 * share;
    let right = w * (1.0 + x) / 2.0;
    let left = w - right;
    let cells = vec![[left * 0.55, right * 0.55, left * 0.45, right * 0.45]; 10];
    h.push(Inbound::Reading(Reading {
        at: t(s + 1),
        device: bed.into(),
        ts: t(s),
        seq: None,
        payload: Payload::BedLoad(orderly_model::reading::BedLoad {
            hz: 10.0,
            cells_kg: cells,
        }),
    }));
    h.step(t(s + 1))
}

/// Seconds `from..to` of the same position.
fn loads(h: &mut Hospital, bed: &str, from: i64, to: i64, share: f32, x: f32) -> Vec<OutEvent> {
    (from..to).flat_map(|s| load(h, bed, s, share, x)).collect()
}

/// The bed in its room (its tag heard by the room's receiver), its patient lying in it.
fn bed_in_room(h: &mut Hospital, tag: &str, rx: &str, bed: &str) {
    walk(h, 0, 2, tag, (rx, -55.0), ("rx-f2-c01", -80.0));
    let ev = loads(h, bed, 2, 10, 1.0, 0.0);
    // In bed: the turning bundle now applies to the patient; nothing else happens.
    assert!(
        ev.iter().all(|e| e.kind.name() == "bundle.changed"),
        "{ev:?}"
    );
}

fn raised(ev: &[OutEvent]) -> Vec<(&str, Priority)> {
    ev.iter()
        .filter(|e| e.kind.name() == "alert.raised")
        .filter_map(|e| e.kind.alert())
        .map(|a| (a.rule.as_str(), a.priority))
        .collect()
}

#[test]
fn a_high_risk_patient_sitting_on_the_edge_is_one_high_alert_within_a_second_and_a_half() {
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-01", "rx-f2-icu-01", "bed-icu-01");
    // Morse 85: zone pre_exit. Sitting on the right edge, feet down, from t=10.
    let ev = load(&mut h, "bed-icu-01", 10, 0.8, 0.85);
    assert_eq!(raised(&ev), [("bed-exit-alarm", Priority::High)], "{ev:?}");
    let a = ev.iter().find_map(|e| e.kind.alert()).unwrap();
    assert!(
        a.raised_at.since(t(10)) <= 1500,
        "reaction {} ms",
        a.raised_at.since(t(10))
    );
    assert!(a.message.contains("load cells"), "{}", a.message);
    // The API shows it on the bed.
    let view = h.snapshot().assets["BED-ICU-01"].bed_exit.clone().unwrap();
    assert_eq!(
        (view.watching.as_str(), view.in_bed, view.armed),
        ("pre_exit", false, true)
    );
    let exit = view.exit.unwrap();
    assert_eq!(
        (exit.source.as_str(), exit.zone.as_str(), exit.at),
        ("load cells", "pre_exit", t(10))
    );
    assert!(
        ev.iter().any(|e| matches!(&e.kind, EventKind::BedExit { zone, source, .. } if zone == "pre_exit" && source == "load cells")),
        "{ev:?}"
    );
    // Stands up; the bed's own alarm sounds too: the same exit, nothing new.
    let mut ev = loads(&mut h, "bed-icu-01", 11, 20, 0.0, 0.0);
    h.push(bed_state(t(20), ExitAlarm::Alarming));
    ev.extend(h.step(t(20)));
    assert!(no_bundles(&ev).is_empty(), "{ev:?}");
    // Back in bed: re-armed after arm_s, resolved after the rule's clear_for.
    let mut ev = loads(&mut h, "bed-icu-01", 20, 40, 1.0, 0.05);
    h.push(bed_state(t(40), ExitAlarm::Armed));
    ev.extend(h.step(t(40)));
    assert_eq!(alert_kinds(&ev), ["alert.resolved"], "{ev:?}");
    assert!(h.snapshot().alerts.is_empty());
    // Armed again: the next exit is a new alert.
    let ev = loads(&mut h, "bed-icu-01", 40, 42, 0.0, 0.0);
    assert_eq!(raised(&ev), [("bed-exit-alarm", Priority::High)], "{ev:?}");
}

/// After a restart a bed with an open bed-exit alert is still out, assisted or not as the
/// alert's rule needs (read from its checked condition, not its id): an assisted exit stays
/// the assisted rule's, an unassisted one the high-risk rule's, so neither is swapped for the
/// other (a false new alert).
#[test]
fn a_restart_keeps_an_open_bed_exit_out_as_its_rule_needs() {
    for (rule, assisted) in [("bed-exit-assisted", true), ("bed-exit-alarm", false)] {
        let alert: Alert = serde_json::from_value(serde_json::json!({
            "id": format!("{rule}:BED-ICU-01:1000"),
            "rule": rule,
            "subject": "BED-ICU-01",
            "unit": "ICU",
            "room": "F2-ICU-01",
            "priority": "high",
            "state": "active",
            "message": "out of bed",
            "raised_at": "2026-11-22T08:00:01Z",
        }))
        .unwrap();
        let mut again = hospital();
        again.restore(Restored {
            alerts: vec![alert],
            ..Restored::default()
        });
        let bed = again.world().resource::<Registry>().subjects["BED-ICU-01"];
        let exit = again
            .world()
            .get::<bed_exit::BedExitState>(bed)
            .and_then(|s| s.exited.clone())
            .unwrap_or_else(|| panic!("{rule}: the bed is not out after the restart"));
        assert_eq!(exit.assisted, assisted, "{rule}");
        assert!(exit.restored);
    }
}

#[test]
fn a_caregiver_in_the_room_downgrades_the_bed_exit_to_low() {
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-01", "rx-f2-icu-01", "bed-icu-01");
    h.push(sighting(t(10), "rx-f2-icu-01", "B-0001", -55.0, true));
    h.step(t(10));
    let ev = loads(&mut h, "bed-icu-01", 10, 12, 0.0, 0.0);
    assert_eq!(
        raised(&ev),
        [("bed-exit-assisted", Priority::Low)],
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|e| matches!(&e.kind, EventKind::BedExit { assisted: true, .. })),
        "{ev:?}"
    );
}

#[test]
fn the_zone_and_the_priority_follow_the_morse_score() {
    // P-1002, Morse 35 (low): sitting on the edge is allowed; standing up is a medium alert.
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-02", "rx-f2-icu-02", "bed-icu-02");
    let ev = loads(&mut h, "bed-icu-02", 10, 15, 0.8, 0.85);
    assert!(raised(&ev).is_empty(), "{ev:?}");
    let ev = loads(&mut h, "bed-icu-02", 15, 17, 0.0, 0.0);
    assert_eq!(raised(&ev), [("bed-exit", Priority::Medium)], "{ev:?}");
    // P-1010, Morse 0: not watched from the load cells; the bed's own alarm still counts.
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-12", "rx-f2-icu-12", "bed-icu-12");
    let ev = loads(&mut h, "bed-icu-12", 10, 20, 0.0, 0.0);
    assert!(raised(&ev).is_empty(), "{ev:?}");
    let mut alarm = bed_state(t(20), ExitAlarm::Alarming);
    if let Inbound::Reading(r) = &mut alarm {
        r.device = "bed-icu-12".into();
    }
    h.push(alarm);
    let ev = h.step(t(20));
    assert_eq!(raised(&ev), [("bed-exit", Priority::Medium)], "{ev:?}");
}

#[test]
fn a_moving_bed_is_not_a_bed_exit() {
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-01", "rx-f2-icu-01", "bed-icu-01");
    let moving = |at, moving| {
        let mut b = bed_state(at, ExitAlarm::Armed);
        if let Inbound::Reading(r) = &mut b
            && let Payload::BedState(s) = &mut r.payload
        {
            s.moving = moving;
        }
        b
    };
    h.push(moving(t(10), true));
    h.step(t(10));
    // The head goes up: the load shifts and jolts for 3 s, and settles within inhibit_s.
    let mut ev = loads(&mut h, "bed-icu-01", 10, 13, 0.7, 0.7);
    h.push(moving(t(13), false));
    ev.extend(h.step(t(13)));
    ev.extend(loads(&mut h, "bed-icu-01", 13, 16, 0.8, 0.5));
    ev.extend(loads(&mut h, "bed-icu-01", 16, 30, 1.0, 0.1));
    assert!(raised(&ev).is_empty(), "{ev:?}");
}

#[test]
fn a_fall_while_the_load_cells_hold_the_patient_is_suppressed() {
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-02", "rx-f2-icu-02", "bed-icu-02");
    let ev = feed(&mut h, fall_stream("W-1002", 10), 10);
    assert!(
        ev.iter().any(|e| matches!(&e.kind, EventKind::FallDetected { suppressed: Some(why), .. } if why.contains("load cells"))),
        "{ev:?}"
    );
    assert!(raised(&ev).is_empty(), "{ev:?}");
}

// Turning against pressure injuries -----------------------------------------------------------

/// Steps every 30 s from `from` to `to` seconds; the events.
fn idle(h: &mut Hospital, from: i64, to: i64) -> Vec<OutEvent> {
    (from..=to).step_by(30).flat_map(|s| h.step(t(s))).collect()
}

/// The turning rules raised (the bed's tag, unheard for hours here, is `equipment-lost` too).
fn rules_raised(ev: &[OutEvent]) -> Vec<&str> {
    ev.iter()
        .filter(|e| e.kind.name() == "alert.raised")
        .filter_map(|e| e.kind.alert())
        .map(|a| a.rule.as_str())
        .filter(|r| r.starts_with("turn"))
        .collect()
}

#[test]
fn an_unturned_patient_is_reminded_before_due_and_alerted_when_overdue_and_a_turn_resets_it() {
    // Ben Rossi, Braden 16 (mild): every 120 minutes. In bed (armed) from about t = 7 s.
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-01", "rx-f2-icu-01", "bed-icu-01");
    let ev = idle(&mut h, 30, 100 * 60);
    assert!(rules_raised(&ev).is_empty(), "{:?}", rules_raised(&ev));
    // Due soon at 105 minutes in bed: a low reminder.
    let ev = idle(&mut h, 100 * 60 + 30, 110 * 60);
    assert_eq!(rules_raised(&ev), ["turn-due"]);
    let a = ev
        .iter()
        .filter_map(|e| e.kind.alert())
        .find(|a| a.rule == "turn-due")
        .unwrap();
    assert_eq!(
        (a.priority, a.unit.as_deref()),
        (Priority::Low, Some("ICU"))
    );
    assert!(a.message.contains("every 120 min"), "{}", a.message);
    // Overdue 15 minutes past due: medium, and the reminder gives way.
    let ev = idle(&mut h, 110 * 60 + 30, 145 * 60);
    assert_eq!(rules_raised(&ev), ["turn-overdue"]);
    let view = h.snapshot().patients["P-1001"].turning.clone().unwrap();
    assert_eq!(
        (view.state.as_str(), view.every_min),
        ("overdue", Some(120))
    );
    assert!(view.minutes >= 135, "{view:?}");
    assert!(
        ev.iter().any(|e| e.kind.name() == "alert.resolved"
            && e.kind.alert().is_some_and(|a| a.rule == "turn-due")),
        "{ev:?}"
    );
    // Turned onto the right side (centre of mass at 0.3) and held for a minute: logged, reset.
    let s = 145 * 60 + 30;
    let mut ev = loads(&mut h, "bed-icu-01", s, s + 75, 1.0, 0.3);
    let turned: Vec<&OutEvent> = ev
        .iter()
        .filter(|e| e.kind.name() == "patient.turned")
        .collect();
    assert_eq!(turned.len(), 1, "{ev:?}");
    assert!(
        matches!(&turned[0].kind, EventKind::PatientTurned { source, minutes_since, .. } if source == "load cells" && *minutes_since >= 140),
        "{turned:?}"
    );
    ev.extend(idle(&mut h, s + 90, s + 300));
    assert!(
        ev.iter().any(|e| e.kind.name() == "alert.resolved"
            && e.kind.alert().is_some_and(|a| a.rule == "turn-overdue")),
        "{ev:?}"
    );
    assert!(
        h.snapshot()
            .alerts
            .values()
            .all(|a| !a.rule.starts_with("turn"))
    );
}

#[test]
fn the_turning_timer_pauses_while_the_patient_is_out_of_bed_and_rolling_about_is_not_a_turn() {
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-01", "rx-f2-icu-01", "bed-icu-01");
    idle(&mut h, 30, 60 * 60);
    // An hour out of bed (the exit alert aside): the timer does not run.
    let mut ev = loads(&mut h, "bed-icu-01", 60 * 60 + 1, 60 * 60 + 3, 0.0, 0.0);
    ev.extend(idle(&mut h, 60 * 60 + 30, 120 * 60));
    // Back, and restless: swings of the centre of mass shorter than a minute are not turns.
    ev.extend(loads(
        &mut h,
        "bed-icu-01",
        120 * 60 + 1,
        120 * 60 + 10,
        1.0,
        0.0,
    ));
    for k in 0..4 {
        let s = 120 * 60 + 10 + k * 40;
        ev.extend(loads(&mut h, "bed-icu-01", s, s + 20, 1.0, 0.3));
        ev.extend(loads(&mut h, "bed-icu-01", s + 20, s + 40, 1.0, 0.0));
    }
    assert!(
        ev.iter().all(|e| e.kind.name() != "patient.turned"),
        "{ev:?}"
    );
    assert!(
        !rules_raised(&ev).iter().any(|r| r.starts_with("turn")),
        "{ev:?}"
    );
    // In bed for 60 + 3 minutes so far: due soon 42 minutes later, not before.
    let ev = idle(&mut h, 123 * 60, 163 * 60);
    assert!(
        !rules_raised(&ev).contains(&"turn-due"),
        "{:?}",
        rules_raised(&ev)
    );
    let ev = idle(&mut h, 163 * 60 + 30, 168 * 60);
    assert_eq!(rules_raised(&ev), ["turn-due"]);
}

#[test]
fn a_rotating_surface_turns_the_patient() {
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-01", "rx-f2-icu-01", "bed-icu-01");
    let mut state = bed_state(t(60), ExitAlarm::Armed);
    if let Inbound::Reading(r) = &mut state
        && let Payload::BedState(s) = &mut r.payload
    {
        s.surface = Surface::Rotation;
    }
    h.push(state);
    let mut ev = h.step(t(60));
    ev.extend(idle(&mut h, 90, 200 * 60));
    assert!(
        !rules_raised(&ev).iter().any(|r| r.starts_with("turn")),
        "{ev:?}"
    );
}

#[test]
fn after_a_restart_the_turning_timer_counts_from_the_last_recorded_turn() {
    let mut h = hospital();
    h.restore(Restored {
        turned: vec![("P-1001".into(), t(-110 * 60))],
        ..Restored::default()
    });
    walk(
        &mut h,
        0,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    // 110 minutes since the last turn on record: due soon as soon as the bed holds the patient,
    // not two hours from now.
    let ev = loads(&mut h, "bed-icu-01", 2, 10, 1.0, 0.0);
    assert_eq!(rules_raised(&ev), ["turn-due"]);
}

// Commands back to beds ------------------------------------------------------------------------

fn ack(at: Timestamp, id: &str, applied: bool) -> Inbound {
    Inbound::Reading(Reading {
        at,
        device: "bed-icu-01".into(),
        ts: at,
        seq: None,
        payload: Payload::CommandAck(orderly_model::reading::CommandAck {
            command_id: id.into(),
            result: if applied {
                orderly_model::reading::AckResult::Applied
            } else {
                orderly_model::reading::AckResult::Refused
            },
            reason: (!applied).then(|| "bed in CPR mode".to_string()),
        }),
    })
}

fn commands(ev: &[OutEvent]) -> Vec<(String, serde_json::Value)> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedCommand {
                command_id, set, ..
            } => Some((command_id.clone(), serde_json::Value::Object(set.clone()))),
            _ => None,
        })
        .collect()
}

fn acked(ev: &[OutEvent]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedCommandAcked { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect()
}

/// Ben Rossi (Morse 85) in bed-icu-01 with its exit alarm off, nobody in the room.
fn alarm_off_bed() -> Hospital {
    let mut h = hospital();
    h.push(bed_state(t(0), ExitAlarm::Off));
    h.step(t(0));
    h
}

#[test]
fn a_rule_arms_the_exit_alarm_after_its_hold_and_the_bed_acknowledges() {
    let mut h = alarm_off_bed();
    assert!(
        commands(&h.step(t(4))).is_empty(),
        "held for 5 seconds first"
    );
    let ev = h.step(t(5));
    let sent = commands(&ev);
    assert_eq!(sent.len(), 1, "{ev:?}");
    assert_eq!(sent[0].1, serde_json::json!({"exit_alarm": "armed"}));
    // Applied: the bed reports it armed, nothing more is sent, no technical alert.
    h.push(ack(t(7), &sent[0].0, true));
    h.push(bed_state(t(7), ExitAlarm::Armed));
    let mut ev = h.step(t(7));
    ev.extend(idle(&mut h, 30, 900));
    assert_eq!(acked(&ev), ["applied"]);
    assert!(commands(&ev).is_empty(), "{ev:?}");
    assert!(!rules_of(&ev).contains(&"bed-command-failed"), "{ev:?}");
}

/// Rules of the alerts raised.
fn rules_of(ev: &[OutEvent]) -> Vec<&str> {
    ev.iter()
        .filter(|e| e.kind.name() == "alert.raised")
        .filter_map(|e| e.kind.alert())
        .map(|a| a.rule.as_str())
        .collect()
}

#[test]
fn a_refusal_or_silence_is_a_technical_alert_and_no_storm_follows() {
    let mut h = alarm_off_bed();
    let ev = idle(&mut h, 30, 30);
    let id = commands(&ev)[0].0.clone();
    h.push(ack(t(35), &id, false));
    let ev = h.step(t(35));
    assert_eq!(acked(&ev), ["refused"]);
    assert_eq!(rules_of(&ev), ["bed-command-failed"]);
    let a = ev.iter().find_map(|e| e.kind.alert()).unwrap();
    assert!(a.message.contains("CPR mode"), "{}", a.message);
    assert_eq!(a.audience, ["station:ICU", "role:biomed"]);
    // The condition still holds, but the rule waits retry_s (5 min) before asking again; the
    // second time the bed says nothing: timed out after 30 s.
    let ev = idle(&mut h, 60, 300);
    assert!(commands(&ev).is_empty(), "{ev:?}");
    let ev = idle(&mut h, 330, 330);
    assert_eq!(commands(&ev).len(), 1, "{ev:?}");
    let ev = h.step(t(350));
    assert!(acked(&ev).is_empty(), "{ev:?}");
    let ev = h.step(t(360));
    assert_eq!(acked(&ev), ["timed_out"]);
    // An ack for an unknown command changes nothing.
    h.push(ack(t(545), "c-999999", true));
    assert!(acked(&h.step(t(545))).is_empty());
}

#[test]
fn a_moving_bed_is_never_commanded() {
    let mut h = hospital();
    let mut moving = bed_state(t(0), ExitAlarm::Off);
    if let Inbound::Reading(r) = &mut moving
        && let Payload::BedState(s) = &mut r.payload
    {
        s.moving = true;
    }
    h.push(moving);
    h.step(t(0));
    assert!(commands(&idle(&mut h, 30, 600)).is_empty());
}

// Suggestions: settings that move the bed ----------------------------------------------------

/// bed-icu-01's state with the bed raised.
fn raised_state(at: Timestamp, alarm: ExitAlarm) -> Inbound {
    let mut b = bed_state(at, alarm);
    if let Inbound::Reading(r) = &mut b
        && let Payload::BedState(s) = &mut r.payload
    {
        s.height = BedHeight::Raised;
    }
    b
}

/// Ben Rossi (Morse 85) in bed-icu-01, in its room, the bed left raised, nobody there.
fn raised_bed() -> Hospital {
    let mut h = hospital();
    place_bed(&mut h);
    h.push(raised_state(t(2), ExitAlarm::Armed));
    h.step(t(2));
    h
}

fn suggested(ev: &[OutEvent]) -> Vec<(String, serde_json::Value)> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedSuggested {
                suggestion_id, set, ..
            } => Some((
                suggestion_id.clone(),
                serde_json::Value::Object(set.clone()),
            )),
            _ => None,
        })
        .collect()
}

fn suggestion_ends(ev: &[OutEvent]) -> Vec<(String, Option<String>)> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedSuggestionEnded { outcome, by, .. } => {
                Some((outcome.clone(), by.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A nurse's badge (B-0001) heard in the bed's room.
fn nurse_at_bedside(h: &mut Hospital, s: i64) {
    h.push(sighting(t(s), "rx-f2-icu-01", "B-0001", -55.0, true));
    h.step(t(s));
}

#[test]
fn a_suggestion_to_move_the_bed_is_never_applied_without_a_nurse_confirming_at_the_bedside() {
    use orderly_model::command::{Decision, SuggestionError};
    let mut h = raised_bed();
    let ev = idle(&mut h, 30, 300);
    assert!(suggested(&ev).is_empty(), "held 5 minutes first: {ev:?}");
    let ev = idle(&mut h, 330, 330);
    let offers = suggested(&ev);
    assert_eq!(offers.len(), 1, "{ev:?}");
    assert_eq!(offers[0].1, serde_json::json!({"height": "low"}));
    let id = offers[0].0.clone();
    // At the ICU station, in the snapshot the API reads.
    let snap = h.snapshot();
    let s = &snap.suggestions[&id];
    assert_eq!(
        (s.unit.as_deref(), s.room.as_deref()),
        (Some("ICU"), Some("F2-ICU-01"))
    );
    assert!(s.message.contains("Lower Ben Rossi's bed"), "{}", s.message);
    // Hours pass: it stays an offer, offered once, and nothing is sent to the bed.
    let ev = idle(&mut h, 360, 4 * 3600);
    assert!(
        commands(&ev).is_empty() && suggested(&ev).is_empty(),
        "{ev:?}"
    );
    // Nobody in the room: a confirmation is refused and changes nothing.
    let confirm = || Decision::Confirm {
        by: "Nurse Ana".into(),
    };
    assert_eq!(
        h.decide(&id, confirm()),
        Err(SuggestionError::NobodyAtBedside {
            room: "F2-ICU-01".into()
        })
    );
    assert!(commands(&h.step(t(4 * 3600 + 1))).is_empty());
    // A nurse's badge in the room: confirmed, it becomes a command with the nurse as its reason.
    nurse_at_bedside(&mut h, 4 * 3600 + 2);
    let done = h.decide(&id, confirm()).unwrap();
    let ev = h.step(t(4 * 3600 + 3));
    assert_eq!(ev.last().unwrap().seq, done.seq, "{ev:?}");
    let sent = commands(&ev);
    assert_eq!(sent.len(), 1, "{ev:?}");
    assert_eq!(Some(&sent[0].0), done.command_id.as_ref());
    assert_eq!(sent[0].1, serde_json::json!({"height": "low"}));
    let reason = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::BedCommand { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        reason,
        format!("suggestion {id} (rule suggest-bed-low) confirmed by Nurse Ana")
    );
    assert_eq!(
        suggestion_ends(&ev),
        [("confirmed".to_string(), Some("Nurse Ana".into()))]
    );
    assert!(h.snapshot().suggestions.is_empty());
    // Decided once: a second confirmation finds nothing.
    assert_eq!(
        h.decide(&id, confirm()),
        Err(SuggestionError::NotFound(id.clone()))
    );
}

#[test]
fn a_dismissed_suggestion_is_not_offered_again_until_the_condition_clears_and_one_that_clears_is_withdrawn()
 {
    use orderly_model::command::Decision;
    let mut h = raised_bed();
    let ev = idle(&mut h, 30, 330);
    let id = suggested(&ev)[0].0.clone();
    h.decide(
        &id,
        Decision::Dismiss {
            by: "Nurse Ana".into(),
            reason: "patient asked for it raised; assessed".into(),
        },
    )
    .unwrap();
    let ev = h.step(t(331));
    assert_eq!(
        suggestion_ends(&ev),
        [("dismissed".to_string(), Some("Nurse Ana".into()))]
    );
    // Still raised for the next hour: not offered again (snoozed for an hour).
    let ev = idle(&mut h, 360, 3900);
    assert!(suggested(&ev).is_empty(), "{ev:?}");
    // After the snooze it is offered again; then someone lowers the bed: withdrawn.
    let ev = idle(&mut h, 3930, 4200);
    let again = suggested(&ev);
    assert_eq!(again.len(), 1, "{ev:?}");
    h.push(bed_state(t(4201), ExitAlarm::Armed));
    let ev = h.step(t(4201));
    assert_eq!(suggestion_ends(&ev), [("withdrawn".to_string(), None)]);
    assert!(h.snapshot().suggestions.is_empty());
    assert!(commands(&ev).is_empty());
}

#[test]
fn pending_commands_and_suggestions_survive_a_restart() {
    use orderly_model::command::{Decision, still_open};
    let mut h = raised_bed();
    // The exit alarm is off too: a command goes out, and a suggestion is offered.
    h.push(raised_state(t(3), ExitAlarm::Off));
    let mut log = h.step(t(3));
    log.extend(idle(&mut h, 30, 330));
    // (Sent at 30 s, timed out, asked again at 330 s: that one is pending.)
    let cmd = commands(&log).last().unwrap().0.clone();
    let offer = suggested(&log)[0].0.clone();
    // Orderly stops before the bed answers; the next one reads the log back.
    let (pending, offers) = still_open(&log);
    assert_eq!(pending.len(), 1);
    assert_eq!(offers.len(), 1);
    let mut again = hospital();
    again.restore(Restored {
        next_seq: log.last().unwrap().seq,
        commands: pending,
        suggestions: offers,
        ..Restored::default()
    });
    assert!(again.snapshot().suggestions.contains_key(&offer));
    // The late ack settles the command sent before the restart.
    again.push(ack(t(331), &cmd, true));
    let ev = again.step(t(331));
    assert_eq!(acked(&ev), ["applied"]);
    // The offer is still there to confirm.
    walk(
        &mut again,
        332,
        2,
        "TB-ICU-01",
        ("rx-f2-icu-01", -55.0),
        ("rx-f2-c01", -80.0),
    );
    // The bed has not spoken since the restart: it cannot be commanded yet.
    nurse_at_bedside(&mut again, 334);
    assert_eq!(
        again.decide(
            &offer,
            Decision::Confirm {
                by: "Nurse Ana".into()
            }
        ),
        Err(orderly_model::command::SuggestionError::Unknown(
            "BED-ICU-01".into()
        ))
    );
    again.push(raised_state(t(335), ExitAlarm::Armed));
    again.step(t(335));
    let d = again
        .decide(
            &offer,
            Decision::Confirm {
                by: "Nurse Ana".into(),
            },
        )
        .unwrap();
    assert!(d.command_id.is_some());
}

/// A bed's state: occupied, low, braked, alarm armed, head of bed at `hob` degrees.
fn hob_state(device: &str, at: Timestamp, hob: f32) -> Inbound {
    let mut b = bed_state(at, ExitAlarm::Armed);
    if let Inbound::Reading(r) = &mut b {
        r.device = device.into();
        if let Payload::BedState(s) = &mut r.payload {
            s.hob_deg = hob;
        }
    }
    b
}

#[test]
fn the_head_of_bed_is_suggested_at_30_degrees_and_the_ventilator_rule_wins_over_pressure() {
    let mut h = hospital();
    // P-1008 (Braden 12, ventilated) at 45 degrees; P-1009 (Braden 11, not ventilated) at 45.
    h.push(hob_state("bed-icu-09", t(0), 45.0));
    h.push(hob_state("bed-icu-10", t(0), 45.0));
    h.step(t(0));
    let ev = idle(&mut h, 30, 3600);
    let offered: Vec<(&str, &str, serde_json::Value)> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedSuggested { bed, rule, set, .. } => Some((
                bed.as_str(),
                rule.as_str(),
                serde_json::Value::Object(set.clone()),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        offered,
        [(
            "BED-ICU-10",
            "suggest-head-of-bed-pressure",
            serde_json::json!({"hob_deg": 30})
        )]
    );
    // The ventilated patient's head lowered to 20: raising it to 30 is suggested (15 min).
    h.push(hob_state("bed-icu-09", t(3601), 20.0));
    h.step(t(3601));
    let ev = idle(&mut h, 3630, 3601 + 16 * 60);
    let rules: Vec<&str> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedSuggested { rule, .. } => Some(rule.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rules, ["suggest-head-of-bed"]);
}

// Maintenance ----------------------------------------------------------------------------------

/// The demo hospital with the shipped maintenance catalogue.
fn maintained() -> Hospital {
    let (fp, seed) = site();
    let k = known(&fp, &seed);
    let catalogue = orderly_model::maintenance::parse(
        "rules/maintenance.toml",
        include_str!("../../../rules/maintenance.toml"),
        &k.models,
    )
    .unwrap();
    let config = WorldConfig {
        maintenance: catalogue,
        ..WorldConfig::default()
    };
    Hospital::new(fp, &seed, config, rules(&shipped_rules()))
}

fn pump_at(at: Timestamp, state: orderly_model::reading::PumpState, runtime_hours: f64) -> Inbound {
    Inbound::Reading(Reading {
        at,
        device: "pump-0001".into(),
        ts: at,
        seq: None,
        payload: Payload::PumpTelemetry(orderly_model::reading::PumpTelemetry {
            state,
            battery_pct: 90.0,
            on_battery: false,
            runtime_hours,
            occlusion_alarms_total: 3,
            downstream_psi: None,
            motor_current_ma: None,
            faults: vec![],
        }),
    })
}

fn opened(ev: &[OutEvent]) -> Vec<orderly_model::maintenance::WorkOrder> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::WorkOrderOpened(w) => Some(w.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_pump_crossing_its_runtime_interval_gets_one_work_order_and_a_service_resets_it() {
    use orderly_model::maintenance::{WorkOrderAction, WorkOrderStatus};
    use orderly_model::reading::PumpState;
    let mut h = maintained();
    // 1990 h: the next service point is 2000 h (every 2000 h of use).
    h.push(pump_at(t(0), PumpState::Idle, 1990.0));
    let ev = idle(&mut h, 0, 600);
    assert!(opened(&ev).is_empty(), "{ev:?}");
    h.push(pump_at(t(601), PumpState::Idle, 2000.4));
    let mut ev = h.step(t(601));
    for s in (660..3600).step_by(60) {
        h.push(pump_at(t(s), PumpState::Idle, 2000.4 + s as f64 / 3600.0));
        ev.extend(h.step(t(s)));
    }
    let wos = opened(&ev);
    assert_eq!(
        wos.len(),
        1,
        "one work order, however often it is checked: {wos:?}"
    );
    let wo = &wos[0];
    assert_eq!(
        (wo.asset.as_str(), wo.reason.as_str()),
        ("PUMP-0001", "runtime")
    );
    assert_eq!(wo.risk, orderly_model::maintenance::Risk::High);
    assert!(
        wo.detail.contains("reached the service point at 2000 h"),
        "{}",
        wo.detail
    );
    assert!(!wo.checks.is_empty());
    assert!(h.snapshot().work_orders.contains_key(&wo.id));
    // Started: out of service; done: back in service, the next point is 2000 h of use later.
    let (_, w) = h
        .work_order(&wo.id, WorkOrderAction::Start, "Biomed Bo")
        .unwrap();
    assert_eq!(w.status, WorkOrderStatus::InProgress);
    let ev = h.step(t(3601));
    assert!(
        status_changes(&ev)
            .iter()
            .any(|c| c.2 == AssetStatus::OutOfService),
        "{ev:?}"
    );
    assert!(matches!(
        h.work_order(&wo.id, WorkOrderAction::Start, "Biomed Bo"),
        Err(orderly_model::maintenance::WorkOrderError::Transition { .. })
    ));
    let (_, w) = h
        .work_order(
            &wo.id,
            WorkOrderAction::Complete {
                notes: Some("flow within 2%".into()),
            },
            "Biomed Bo",
        )
        .unwrap();
    assert_eq!(w.status, WorkOrderStatus::Done);
    assert_eq!(
        w.usage_at_close.unwrap().runtime_hours.map(|h| h.round()),
        Some(2001.0)
    );
    let ev = h.step(t(3602));
    assert!(
        status_changes(&ev)
            .iter()
            .any(|c| c.2 == AssetStatus::Available),
        "{ev:?}"
    );
    assert!(h.snapshot().work_orders.is_empty());
    // 3990 h of use later: nothing; past 4001 h: the next one.
    h.push(pump_at(t(3700), PumpState::Idle, 4000.0));
    assert!(opened(&idle(&mut h, 3700, 3900)).is_empty());
    h.push(pump_at(t(3960), PumpState::Idle, 4001.5));
    let ev = idle(&mut h, 3960, 4100);
    assert_eq!(opened(&ev).len(), 1);
}

#[test]
fn a_cancelled_work_order_is_not_opened_again_and_work_orders_survive_a_restart() {
    use orderly_model::maintenance::{WorkOrderAction, still_open};
    use orderly_model::reading::PumpState;
    let mut h = maintained();
    h.push(pump_at(t(0), PumpState::Idle, 1990.0));
    let mut log = h.step(t(0));
    h.push(pump_at(t(1), PumpState::Idle, 2000.5));
    log.extend(idle(&mut h, 1, 200));
    let wo = opened(&log)[0].clone();
    let (_, _) = h
        .work_order(
            &wo.id,
            WorkOrderAction::Cancel {
                reason: "pump being retired".into(),
            },
            "Biomed Bo",
        )
        .unwrap();
    log.extend(idle(&mut h, 201, 2000));
    assert_eq!(opened(&log).len(), 1, "not opened again");
    // A repair opened by hand; the log read back after a restart.
    let (_, repair) = h
        .open_work_order("PUMP-0001", "repair", "door latch broken", "Nurse Ana")
        .unwrap();
    assert!(matches!(
        h.open_work_order("PUMP-0001", "repair", "again", "Nurse Ana"),
        Err(orderly_model::maintenance::WorkOrderError::Duplicate { .. })
    ));
    log.extend(h.step(t(2001)));
    let orders: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WorkOrderOpened(w) | EventKind::WorkOrderUpdated(w) => Some(w.clone()),
            _ => None,
        })
        .fold(std::collections::BTreeMap::new(), |mut m, w| {
            m.insert(w.id.clone(), w);
            m
        })
        .into_values()
        .collect();
    let (open, last, cancelled) = still_open(orders);
    let mut again = maintained();
    again.restore(Restored {
        next_seq: log.last().unwrap().seq,
        work_orders: open,
        last_service: last,
        cancelled,
        ..Restored::default()
    });
    assert!(again.snapshot().work_orders.contains_key(&repair.id));
    again.push(pump_at(t(2002), PumpState::Idle, 2001.0));
    assert!(opened(&idle(&mut again, 2002, 2200)).is_empty());
}

#[test]
fn a_recall_takes_its_items_out_of_service_at_once_and_one_in_use_is_alerted() {
    use orderly_model::maintenance::{RecallNotice, RecallOp, WorkOrderAction};
    use orderly_model::reading::PumpState;
    let mut h = hospital_with(rules(&[
        shipped_rules()[0],
        (
            "rules/maintenance-alerts.toml",
            include_str!("../../../rules/maintenance-alerts.toml"),
        ),
    ]));
    // Pump 1 is infusing at a bedside.
    h.push(pump_at(t(0), PumpState::Infusing, 100.0));
    h.step(t(0));
    let notice = RecallNotice {
        title: "Occlusion sensor may fail (FSN 2026-11)".into(),
        asset_kind: None,
        model: "Alaris 8100 LVP".into(),
        serial_from: Some("PUMPSN-0001".into()),
        serial_to: Some("PUMPSN-0003".into()),
        serials: vec![],
        detail: "replace the sensor board".into(),
    };
    let (seq, r) = h
        .recall(RecallOp::Issue {
            notice,
            by: "Bo Biomed".into(),
        })
        .unwrap();
    assert_eq!(r.assets, ["PUMP-0001", "PUMP-0002", "PUMP-0003"]);
    let ev = h.step(t(1));
    assert_eq!(ev[0].seq, seq);
    assert_eq!(ev[0].kind.name(), "recall.opened");
    // At once: out of service, a work order each, and the one in use alerted.
    let oos: Vec<String> = status_changes(&ev)
        .into_iter()
        .filter(|c| c.2 == AssetStatus::OutOfService)
        .map(|c| c.0)
        .collect();
    assert_eq!(oos, ["PUMP-0001", "PUMP-0002", "PUMP-0003"]);
    let wos = opened(&ev);
    assert_eq!(wos.len(), 3);
    assert!(wos.iter().all(|w| w.reason == format!("recall:{}", r.id)));
    assert_eq!(rules_of(&ev), ["recalled-pump-in-use"], "{ev:?}");
    // Never offered: out of service; the telemetry does not bring it back into use.
    h.push(pump_at(t(2), PumpState::Infusing, 100.1));
    assert!(status_changes(&h.step(t(2))).is_empty());
    // Pump 2 fixed: no longer recalled, back in service; closing the recall clears the rest.
    let w2 = wos.iter().find(|w| w.asset == "PUMP-0002").unwrap();
    h.work_order(&w2.id, WorkOrderAction::Start, "Bo Biomed")
        .unwrap();
    h.work_order(
        &w2.id,
        WorkOrderAction::Complete { notes: None },
        "Bo Biomed",
    )
    .unwrap();
    let ev = h.step(t(3));
    assert!(
        status_changes(&ev)
            .iter()
            .any(|c| c.0 == "PUMP-0002" && c.2 == AssetStatus::Available),
        "{ev:?}"
    );
    assert_eq!(h.snapshot().recalls[&r.id].assets.len(), 3);
    h.recall(RecallOp::Close {
        id: r.id.clone(),
        by: "Bo Biomed".into(),
        note: "manufacturer's action complete".into(),
    })
    .unwrap();
    let ev = h.step(t(4));
    assert!(ev.iter().any(|e| e.kind.name() == "recall.updated"));
    assert!(
        ev.iter().any(|e| e.kind.name() == "alert.resolved"),
        "{ev:?}"
    );
    assert!(h.snapshot().recalls.is_empty());
}

#[test]
fn a_rule_opens_one_work_order_once_it_has_held() {
    use orderly_model::reading::{PumpState, PumpTelemetry};
    let mut h = hospital_with(rules(&[(
        "rules/maintenance-alerts.toml",
        include_str!("../../../rules/maintenance-alerts.toml"),
    )]));
    let faulty = |at: Timestamp| {
        Inbound::Reading(Reading {
            at,
            device: "pump-0001".into(),
            ts: at,
            seq: None,
            payload: Payload::PumpTelemetry(PumpTelemetry {
                state: PumpState::Idle,
                battery_pct: 90.0,
                on_battery: false,
                runtime_hours: 10.0,
                occlusion_alarms_total: 0,
                downstream_psi: None,
                motor_current_ma: None,
                faults: vec!["E102".into()],
            }),
        })
    };
    let mut ev = Vec::new();
    for s in (0..=1800).step_by(60) {
        h.push(faulty(t(s)));
        ev.extend(h.step(t(s)));
        if s < 600 {
            assert!(opened(&ev).is_empty(), "held 10 minutes first");
        }
    }
    let wos = opened(&ev);
    assert_eq!(wos.len(), 1, "{wos:?}");
    assert_eq!(wos[0].reason, "rule:repair-pump-fault");
    assert!(wos[0].detail.contains("E102"), "{}", wos[0].detail);
}

#[test]
fn a_pump_raising_new_fault_codes_far_above_its_fleet_gets_a_fault_rate_work_order() {
    use orderly_model::reading::{PumpState, PumpTelemetry};
    let mut h = maintained();
    let reading = |hour: i64, faults: Vec<String>| {
        Inbound::Reading(Reading {
            at: t(hour * 3600),
            device: "pump-0001".into(),
            ts: t(hour * 3600),
            seq: None,
            payload: Payload::PumpTelemetry(PumpTelemetry {
                state: PumpState::Infusing,
                battery_pct: 95.0,
                on_battery: false,
                runtime_hours: 100.0 + hour as f64,
                occlusion_alarms_total: 0,
                downstream_psi: None,
                motor_current_ma: None,
                faults,
            }),
        })
    };
    let mut ev = Vec::new();
    // A new code every infusing hour, where the fleet sees 0.002 an hour.
    for hour in 0..30 {
        h.push(reading(hour, vec![format!("E{}", 100 + hour)]));
        ev.extend(h.step(t(hour * 3600)));
    }
    let wos: Vec<_> = opened(&ev)
        .into_iter()
        .filter(|w| w.reason == "fault-rate")
        .collect();
    assert_eq!(wos.len(), 1, "{:?}", opened(&ev));
    assert!(
        wos[0].detail.contains("new fault codes in"),
        "{}",
        wos[0].detail
    );
    // It came after about ten hours (h = 10 excess codes), not at the first code.
    assert!(wos[0].opened_at >= t(9 * 3600), "{:?}", wos[0].opened_at);
}

#[test]
fn a_tag_battery_low_for_an_hour_goes_on_the_work_list_once() {
    let mut h = hospital_with(rules(&[(
        "rules/maintenance-alerts.toml",
        include_str!("../../../rules/maintenance-alerts.toml"),
    )]));
    let mut ev = Vec::new();
    for s in (0..=5400).step_by(60) {
        h.push(Inbound::Reading(Reading {
            at: t(s),
            device: "rx-f2-icu-store".into(),
            ts: t(s),
            seq: None,
            payload: Payload::Sightings(Sightings {
                sightings: vec![Sighting {
                    tag: "TP-0002".into(),
                    rssi: -55.0,
                    battery: Some(0.09),
                    ir: true,
                }],
            }),
        }));
        ev.extend(h.step(t(s)));
    }
    let wos = opened(&ev);
    assert_eq!(wos.len(), 1, "{wos:?}");
    assert_eq!(
        (wos[0].asset.as_str(), wos[0].reason.as_str()),
        ("PUMP-0002", "rule:replace-tag-battery")
    );
    assert!(wos[0].opened_at >= t(3600));
}

#[test]
fn a_beds_actuator_cycles_are_recorded_hourly_and_carried_over_a_restart() {
    let mut h = maintained();
    let state = |at: Timestamp, moving: bool| {
        let mut b = bed_state(at, ExitAlarm::Armed);
        if let Inbound::Reading(r) = &mut b
            && let Payload::BedState(s) = &mut r.payload
        {
            s.moving = moving;
        }
        b
    };
    let mut ev = Vec::new();
    // 40 motor runs, one every two minutes: recorded at the first, and at the first an hour on.
    for i in 0..40 {
        h.push(state(t(i * 120), true));
        ev.extend(h.step(t(i * 120)));
        h.push(state(t(i * 120 + 60), false));
        ev.extend(h.step(t(i * 120 + 60)));
    }
    let recorded: Vec<u64> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AssetMeters { usage, .. } => usage.actuator_cycles,
            _ => None,
        })
        .collect();
    assert_eq!(recorded, [1, 31]);
    let snap = h.snapshot();
    let m = snap.assets["BED-ICU-01"].maintenance.clone().unwrap();
    assert_eq!(m.usage.actuator_cycles, Some(40));
    // After a restart the count goes on from the last record, not from zero.
    let mut again = maintained();
    again.restore(Restored {
        meters: vec![(
            "BED-ICU-01".into(),
            orderly_model::maintenance::Usage {
                runtime_hours: None,
                actuator_cycles: Some(25),
            },
            orderly_model::maintenance::Usage {
                runtime_hours: None,
                actuator_cycles: Some(0),
            },
        )],
        ..Restored::default()
    });
    again.push(state(t(6000), true));
    again.step(t(6000));
    let m = again.snapshot().assets["BED-ICU-01"]
        .maintenance
        .clone()
        .unwrap();
    assert_eq!(m.usage.actuator_cycles, Some(26));
}
