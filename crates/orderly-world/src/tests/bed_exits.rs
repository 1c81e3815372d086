//! Bed exit from load cells.

use super::*;

// Bed exit from load cells ------------------------------------------------------------------

/// One second of load-cell samples at 10 Hz from `s`, arriving at `s + 1` (as beds batch):
/// `share` of an 80 kg patient at lateral centre `x` (-1 left .. 1 right).
pub(super) fn load(h: &mut Hospital, bed: &str, s: i64, share: f32, x: f32) -> Vec<OutEvent> {
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
pub(super) fn loads(
    h: &mut Hospital,
    bed: &str,
    from: i64,
    to: i64,
    share: f32,
    x: f32,
) -> Vec<OutEvent> {
    (from..to).flat_map(|s| load(h, bed, s, share, x)).collect()
}

/// The bed in its room (its tag heard by the room's receiver), its patient lying in it.
pub(super) fn bed_in_room(h: &mut Hospital, tag: &str, rx: &str, bed: &str) {
    walk(h, 0, 2, tag, (rx, -55.0), ("rx-f2-c01", -80.0));
    let ev = loads(h, bed, 2, 10, 1.0, 0.0);
    // In bed: the turning bundle now applies to the patient; nothing else happens.
    assert!(
        ev.iter().all(|e| e.kind.name() == "bundle.changed"),
        "{ev:?}"
    );
}

pub(super) fn raised(ev: &[OutEvent]) -> Vec<(&str, Priority)> {
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

/// Finding: one `bed/{id}/load` stamped 70 years ahead switched off the bed's exit detection
/// (every later sample looked older than it). Now it is rejected as `clock_skew`, counted with
/// the bed's id, and a real exit afterwards is alerted.
#[test]
fn a_load_message_stamped_years_ahead_is_refused_and_the_bed_still_sees_an_exit() {
    let mut h = hospital();
    bed_in_room(&mut h, "TB-ICU-01", "rx-f2-icu-01", "bed-icu-01");
    let far = Timestamp(t(10).millis() + 70 * 365 * 24 * 3600 * 1000);
    h.push(Inbound::Reading(Reading {
        at: t(11),
        device: "bed-icu-01".into(),
        ts: far,
        seq: None,
        payload: Payload::BedLoad(orderly_model::reading::BedLoad {
            hz: 10.0,
            cells_kg: vec![[0.0; 4]; 10],
        }),
    }));
    h.step(t(11));
    let snap = h.snapshot();
    assert_eq!(snap.ingest.by_reason[&RejectReason::ClockSkew], 1);
    assert_eq!(snap.ingest.by_device["bed-icu-01"], 1);
    assert!(
        snap.ingest.recent[0]
            .detail
            .contains("ahead of its receipt"),
        "{:?}",
        snap.ingest.recent[0]
    );
    // Still in bed, then out: the exit is alerted.
    loads(&mut h, "bed-icu-01", 12, 20, 1.0, 0.0);
    let ev = loads(&mut h, "bed-icu-01", 20, 24, 0.0, 0.0);
    assert_eq!(raised(&ev), [("bed-exit-alarm", Priority::High)], "{ev:?}");
}

/// A bed state with `seq` as given, at second `s`.
fn state_seq(s: i64, seq: u64, alarm: ExitAlarm) -> Inbound {
    let Inbound::Reading(mut r) = bed_state(t(s), alarm) else {
        unreachable!()
    };
    r.seq = Some(seq);
    Inbound::Reading(r)
}

/// Finding: one `bed/{id}/state` with a `seq` 1,000 ahead made the bed's next real messages,
/// its own "alarming" among them, duplicates; `u64::MAX` wrapped the gap counter. Now a
/// counter pushed ahead costs one message: the next one behind and ascending re-syncs, a
/// repeat is still a duplicate, and nothing wraps.
#[test]
fn a_sequence_pushed_ahead_by_one_message_re_syncs_and_the_alarm_gets_through() {
    for forged in [1_003u64, u64::MAX] {
        let mut h = hospital();
        walk(
            &mut h,
            0,
            2,
            "TB-ICU-01",
            ("rx-f2-icu-01", -55.0),
            ("rx-f2-c01", -80.0),
        );
        for (s, seq) in [(3, 1), (4, 2), (5, 3)] {
            h.push(state_seq(s, seq, ExitAlarm::Armed));
            h.step(t(s));
        }
        h.push(state_seq(6, forged, ExitAlarm::Armed));
        h.step(t(6));
        // A redelivery of a real one is a duplicate.
        h.push(state_seq(7, 3, ExitAlarm::Armed));
        h.step(t(7));
        // The bed's own next messages: the alarm gets through (at once after a jump so far
        // back that it is a restart, else on the second).
        h.push(state_seq(8, 4, ExitAlarm::Alarming));
        let mut ev = h.step(t(8));
        h.push(state_seq(9, 5, ExitAlarm::Alarming));
        ev.extend(h.step(t(9)));
        assert_eq!(
            raised(&ev),
            [("bed-exit-alarm", Priority::High)],
            "forged seq {forged}: {ev:?}"
        );
        let snap = h.snapshot();
        let dup = snap.ingest.by_reason[&RejectReason::Duplicate];
        assert_eq!(dup, if forged == u64::MAX { 1 } else { 2 }, "{forged}");
        assert!(snap.ingest.gaps < 1_000_000, "{}", snap.ingest.gaps);
        assert!(
            snap.ingest
                .recent
                .iter()
                .all(|r| r.device.as_deref() == Some("bed-icu-01")),
            "{:?}",
            snap.ingest.recent
        );
    }
}
