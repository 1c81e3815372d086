//! Falls from wearables: the detector, the bed's say, the wearer's button.

use super::*;

/// A wearable's stream: upright for 3 s (the last 0.4 s of it dropping), an impact, then lying
/// still; one message a second.
pub(super) fn fall_stream(device: &str, from: i64) -> Vec<Inbound> {
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

pub(super) fn feed(h: &mut Hospital, msgs: Vec<Inbound>, from: i64) -> Vec<OutEvent> {
    let mut out = Vec::new();
    for (i, m) in msgs.into_iter().enumerate() {
        h.push(m);
        out.extend(h.step(t(from + i as i64 + 1)));
    }
    out
}

pub(super) fn bed2(at: Timestamp, occupied: bool) -> Inbound {
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
    // No tag has placed the patient or the bed: the alert names the room of the bed's place on
    // the floorplan (BED-ICU-02 at ICU-02), and goes to that room's unit.
    let a = ev.iter().find_map(|e| e.kind.alert()).unwrap();
    assert!(
        a.message.contains("may have fallen in ICU room 2"),
        "{}",
        a.message
    );
    assert_eq!(
        (a.room.as_deref(), a.unit.as_deref()),
        (Some("F2-ICU-02"), Some("ICU"))
    );
    let p = h.snapshot().patients["P-1002"].clone();
    assert_eq!(
        (p.room.as_deref(), p.unit.as_deref()),
        (Some("F2-ICU-02"), Some("ICU"))
    );
}

pub(super) fn button(at: Timestamp) -> Inbound {
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

#[test]
fn a_second_fall_while_the_first_alert_is_open_tells_the_station_again_on_that_alert() {
    let mut h = hospital();
    h.push(bed2(t(0), false));
    h.step(t(0));
    let ev = feed(&mut h, fall_stream("W-1002", 0), 0);
    assert_eq!(alert_kinds(&ev), ["alert.raised"], "{ev:?}");
    let id = h.snapshot().alerts.keys().next().unwrap().clone();
    h.command(AlertCommand::Acknowledge {
        id: id.clone(),
        by: "S-0002".into(),
    })
    .unwrap();
    h.step(t(20));
    // The patient got up and fell again 30 s later, while `patient.fallen` still holds.
    let ev = feed(&mut h, fall_stream("W-1002", 30), 30);
    let ev: Vec<OutEvent> = ev.into_iter().chain(h.step(t(40))).collect();
    assert_eq!(
        ev.iter()
            .filter(|e| e.kind.name() == "fall.detected")
            .count(),
        1,
        "{ev:?}"
    );
    assert_eq!(alert_kinds(&ev), ["alert.updated"], "{ev:?}");
    let a = ev.iter().find_map(|e| e.kind.alert()).unwrap();
    assert_eq!(a.id, id, "the same alert");
    assert_eq!(a.count, 2);
    // Told again: the acknowledgement of the first fall does not cover the second.
    assert_eq!(a.state, orderly_model::AlertState::Active);
    assert_eq!(a.notified_at, a.updated_at);
    assert_eq!(h.snapshot().alerts.len(), 1);
}

#[test]
fn a_fall_at_the_end_of_a_wearables_stream_alerts_once_it_goes_quiet() {
    let mut h = hospital();
    h.push(bed2(t(0), false));
    h.step(t(0));
    // The wearable's last message holds the impact and 1.9 s after it; then nothing (its
    // battery died, or it lost the network as the patient lay on the floor).
    let msgs: Vec<Inbound> = fall_stream("W-1002", 0).into_iter().take(5).collect();
    let mut ev = feed(&mut h, msgs, 0);
    assert!(alert_kinds(&ev).is_empty(), "{ev:?}");
    for s in 6..=12 {
        ev.extend(h.step(t(s)));
    }
    assert_eq!(
        ev.iter()
            .filter(|e| e.kind.name() == "fall.detected")
            .count(),
        1,
        "{ev:?}"
    );
    assert_eq!(alert_kinds(&ev), ["alert.raised"], "{ev:?}");
}
