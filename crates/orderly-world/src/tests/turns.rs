//! Turning against pressure injuries.

use super::*;

// Turning against pressure injuries -----------------------------------------------------------

/// Steps every 30 s from `from` to `to` seconds; the events.
pub(super) fn idle(h: &mut Hospital, from: i64, to: i64) -> Vec<OutEvent> {
    (from..=to).step_by(30).flat_map(|s| h.step(t(s))).collect()
}

/// The turning rules raised (the bed's tag, unheard for hours here, is `equipment-lost` too).
pub(super) fn rules_raised(ev: &[OutEvent]) -> Vec<&str> {
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
