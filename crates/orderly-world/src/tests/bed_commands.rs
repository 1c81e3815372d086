//! Commands back to beds, and suggestions a nurse confirms.

use super::*;

// Commands back to beds ------------------------------------------------------------------------

pub(super) fn ack(at: Timestamp, id: &str, applied: bool) -> Inbound {
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

pub(super) fn commands(ev: &[OutEvent]) -> Vec<(String, serde_json::Value)> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedCommand {
                command_id, set, ..
            } => Some((command_id.clone(), serde_json::Value::Object(set.clone()))),
            _ => None,
        })
        .collect()
}

pub(super) fn acked(ev: &[OutEvent]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedCommandAcked { result, .. } => Some(result.clone()),
            _ => None,
        })
        .collect()
}

/// Ben Rossi (Morse 85) in bed-icu-01 with its exit alarm off, nobody in the room.
pub(super) fn alarm_off_bed() -> Hospital {
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

/// Finding: a forged `command/ack` "applied" settled a command while the bed kept reporting
/// its alarm off. An ack is the bed's word; its state has the last one: applied once a state
/// since shows the setting, failed when it shows otherwise (and the station is told).
#[test]
fn an_applied_ack_the_beds_own_state_contradicts_is_a_failure() {
    let mut h = alarm_off_bed();
    let ev = h.step(t(5));
    let id = commands(&ev)[0].0.clone();
    // "Applied", says the message; the bed's next state still has the alarm off.
    h.push(ack(t(6), &id, true));
    let ev = h.step(t(6));
    assert!(
        acked(&ev).is_empty(),
        "not settled on the ack alone: {ev:?}"
    );
    h.push(bed_state(t(7), ExitAlarm::Off));
    let ev = h.step(t(7));
    assert_eq!(acked(&ev), ["contradicted"], "{ev:?}");
    assert_eq!(rules_of(&ev), ["bed-command-failed"], "{ev:?}");
    let reason = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::BedCommandAcked { reason, .. } => reason.clone(),
            _ => None,
        })
        .unwrap();
    assert!(
        reason.contains("does not show exit_alarm armed"),
        "{reason}"
    );
    // An ack with no state after it is not taken on trust either: it times out, saying why.
    let mut h = alarm_off_bed();
    let id = commands(&h.step(t(5)))[0].0.clone();
    h.push(ack(t(6), &id, true));
    h.step(t(6));
    let ev = idle(&mut h, 7, 40);
    assert_eq!(acked(&ev), ["timed_out"], "{ev:?}");
}

/// Rules of the alerts raised.
pub(super) fn rules_of(ev: &[OutEvent]) -> Vec<&str> {
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
pub(super) fn raised_state(at: Timestamp, alarm: ExitAlarm) -> Inbound {
    let mut b = bed_state(at, alarm);
    if let Inbound::Reading(r) = &mut b
        && let Payload::BedState(s) = &mut r.payload
    {
        s.height = BedHeight::Raised;
    }
    b
}

/// Ben Rossi (Morse 85) in bed-icu-01, in its room, the bed left raised, nobody there.
pub(super) fn raised_bed() -> Hospital {
    let mut h = hospital();
    place_bed(&mut h);
    h.push(raised_state(t(2), ExitAlarm::Armed));
    h.step(t(2));
    h
}

pub(super) fn suggested(ev: &[OutEvent]) -> Vec<(String, serde_json::Value)> {
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

pub(super) fn suggestion_ends(ev: &[OutEvent]) -> Vec<(String, Option<String>)> {
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
pub(super) fn nurse_at_bedside(h: &mut Hospital, s: i64) {
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
    let mut again = restarted(&log);
    assert!(again.snapshot().suggestions.contains_key(&offer));
    // The late ack counts for the command sent before the restart; it is settled once the
    // bed's state shows it (below).
    again.push(ack(t(331), &cmd, true));
    let ev = again.step(t(331));
    assert!(acked(&ev).is_empty(), "{ev:?}");
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
    let ev = again.step(t(335));
    assert_eq!(acked(&ev), ["applied"], "{ev:?}");
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

/// The engine tells capabilities only of rules that held (or stop holding) on a subject; a
/// suggestion restored after a restart is one it must still hear about: the bed lowered after
/// the restart withdraws it.
#[test]
fn a_suggestion_restored_after_a_restart_is_withdrawn_when_its_rule_stops_holding() {
    let mut h = raised_bed();
    let log = idle(&mut h, 30, 330);
    let offer = suggested(&log)[0].0.clone();
    let mut again = restarted(&log);
    assert!(again.snapshot().suggestions.contains_key(&offer));
    let ev = again.step(t(331));
    assert!(suggestion_ends(&ev).is_empty(), "{ev:?}");
    again.push(bed_state(t(332), ExitAlarm::Armed));
    let ev = again.step(t(332));
    assert_eq!(suggestion_ends(&ev), [("withdrawn".to_string(), None)]);
    assert!(again.snapshot().suggestions.is_empty());
}

/// A new hospital restored from `log` as after a restart: the commands and suggestions still
/// open in it.
fn restarted(log: &[OutEvent]) -> Hospital {
    let (pending, offers) = orderly_model::command::still_open(log);
    let mut again = hospital();
    again.restore(Restored {
        next_seq: log.last().unwrap().seq,
        commands: pending,
        suggestions: offers,
        ..Restored::default()
    });
    again
}

/// A bed's state: occupied, low, braked, alarm armed, head of bed at `hob` degrees.
pub(super) fn hob_state(device: &str, at: Timestamp, hob: f32) -> Inbound {
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
