//! Vital signs and NEWS2 through the world: a spot check's band is alerted in the step that
//! scored it, at the patient's station, with the values in words.

use super::*;
use orderly_model::news2::Consciousness;
use orderly_model::reading::{Vitals, VitalsMode};

fn spot(s: i64, v: Vitals) -> Inbound {
    Inbound::Reading(Reading {
        at: t(s),
        device: "W-1002".into(),
        ts: t(s),
        seq: None,
        payload: Payload::Vitals(Vitals {
            mode: VitalsMode::Spot,
            ..v
        }),
    })
}

fn full(rr: f64, spo2: f64, o2: bool, sbp: f64, hr: f64, c: Consciousness, temp: f64) -> Vitals {
    Vitals {
        respiration_rate: Some(rr),
        spo2: Some(spo2),
        on_oxygen: Some(o2),
        systolic: Some(sbp),
        pulse: Some(hr),
        consciousness: Some(c),
        temperature_c: Some(temp),
        ..Vitals::default()
    }
}

#[test]
fn a_spot_check_in_a_band_is_alerted_in_the_step_that_scored_it() {
    let mut h = hospital();
    h.push(sighting(t(0), "rx-f2-icu-02", "TW-1002", -50.0, true));
    h.step(t(0));
    // RR 24 (2), SpO2 94 (1), air, SBP 105 (1), pulse 95 (1), alert, 37.0: NEWS2 5.
    h.push(spot(
        10,
        full(24.0, 94.0, false, 105.0, 95.0, Consciousness::Alert, 37.0),
    ));
    let ev = h.step(t(10));
    let raised: Vec<_> = ev
        .iter()
        .filter(|e| e.kind_name() == "alert.raised")
        .filter_map(|e| e.kind.alert())
        .collect();
    assert_eq!(raised.len(), 1, "{ev:?}");
    let a = raised[0];
    assert_eq!(
        (a.rule.as_str(), a.priority),
        ("news2-medium", Priority::Medium)
    );
    assert_eq!(a.unit.as_deref(), Some("ICU"));
    assert!(a.message.contains("NEWS2 5"), "{}", a.message);
    assert!(
        a.message.contains("RR 24 (2), SpO2 94 (1)"),
        "{}",
        a.message
    );
    let view = h.snapshot().patients["P-1002"].news2.clone().unwrap();
    assert_eq!(
        (view.aggregate, view.response.as_str(), view.complete),
        (5, "medium", true)
    );
    // Worse: 3+3+2+2+2+3+2 = 17, the emergency response; the medium one clears.
    h.push(spot(
        70,
        full(
            26.0,
            91.0,
            true,
            95.0,
            120.0,
            Consciousness::NewConfusion,
            39.5,
        ),
    ));
    let mut ev = h.step(t(70));
    ev.extend((71..200).step_by(10).flat_map(|s| h.step(t(s))));
    let high: Vec<_> = ev
        .iter()
        .filter(|e| e.kind_name() == "alert.raised")
        .filter_map(|e| e.kind.alert())
        .filter(|a| a.rule.starts_with("news2"))
        .collect();
    assert_eq!(high.len(), 1, "{ev:?}");
    assert_eq!(
        (high[0].rule.as_str(), high[0].priority),
        ("news2-high", Priority::High)
    );
    assert!(
        high[0].audience.iter().any(|x| x == "role:rapid_response"),
        "{:?}",
        high[0].audience
    );
    assert!(high[0].message.contains("NEWS2 17"), "{}", high[0].message);
    assert!(
        ev.iter().any(|e| e.kind_name() == "alert.resolved"
            && e.kind.alert().is_some_and(|a| a.rule == "news2-medium")),
        "{ev:?}"
    );
}

/// Observations overdue: after a routine score of 0, nothing for 12 hours is an advisory.
#[test]
fn observations_overdue_after_the_bands_minimum_frequency() {
    let mut h = hospital();
    h.push(sighting(t(0), "rx-f2-icu-02", "TW-1002", -50.0, true));
    h.push(spot(
        0,
        full(16.0, 97.0, false, 120.0, 70.0, Consciousness::Alert, 36.8),
    ));
    let ev = h.step(t(0));
    assert!(
        ev.iter()
            .all(|e| e.kind.alert().is_none_or(|a| !a.rule.starts_with("news2"))),
        "{ev:?}"
    );
    let before: Vec<_> = (1..(12 * 60))
        .step_by(30)
        .flat_map(|m| h.step(t(m * 60)))
        .filter(|e| e.kind_name() == "alert.raised")
        .filter_map(|e| e.kind.alert().map(|a| a.rule.clone()))
        .collect();
    assert!(
        !before.contains(&"observations-overdue".to_string()),
        "{before:?}"
    );
    let after: Vec<_> = (0..5)
        .flat_map(|k| h.step(t(12 * 3600 + 60 + k * 30)))
        .filter(|e| e.kind_name() == "alert.raised")
        .filter_map(|e| e.kind.alert().map(|a| a.rule.clone()))
        .collect();
    assert!(
        after.contains(&"observations-overdue".to_string()),
        "{after:?}"
    );
}

/// A clinician marks hypercapnic respiratory failure: the patient's SpO2 counts on scale 2 at
/// once (88-92 % on air is their target, no longer a 3).
#[test]
fn marking_hypercapnic_failure_scores_spo2_on_scale_2_at_once() {
    use crate::census::{CensusOp, Origin, Value};
    use orderly_model::census::ObservationFact;
    let mut h = hospital();
    h.push(sighting(t(0), "rx-f2-icu-02", "TW-1002", -50.0, true));
    h.push(spot(
        0,
        full(16.0, 89.0, false, 120.0, 70.0, Consciousness::Alert, 36.8),
    ));
    h.step(t(0));
    let n = h.snapshot().patients["P-1002"].news2.clone().unwrap();
    assert_eq!(
        (n.aggregate, n.response.as_str()),
        (3, "single_parameter_3")
    );
    h.apply(Command::Census {
        op: CensusOp::Assess {
            patient: "P-1002".into(),
            values: vec![(ObservationFact::Hypercapnic, Value::Flag(true), None)],
        },
        origin: Origin {
            by: "Dr Reyes".into(),
            ..Origin::default()
        },
    })
    .unwrap();
    let ev = h.step(t(1));
    let n = h.snapshot().patients["P-1002"].news2.clone().unwrap();
    assert_eq!((n.aggregate, n.response.as_str()), (0, "routine"), "{ev:?}");
    assert!(
        ev.iter().any(|e| e.kind_name() == "alert.resolved"
            && e.kind.alert().is_some_and(|a| a.rule == "news2-single-3")),
        "{ev:?}"
    );
}

/// Off the unit (transferred to theatre, outside Orderly's beds) observations are not overdue
/// here; back in a bed, they are again.
#[test]
fn observations_are_not_overdue_while_the_patient_is_off_the_unit() {
    use crate::census::{CensusOp, Origin};
    let mut h = hospital();
    h.push(spot(
        0,
        full(16.0, 97.0, false, 120.0, 70.0, Consciousness::Alert, 36.8),
    ));
    h.step(t(0));
    let to = |h: &mut Hospital, bed: Option<&str>| {
        h.apply(Command::Census {
            op: CensusOp::Transfer {
                patient: "P-1002".into(),
                bed: bed.map(str::to_string),
            },
            origin: Origin {
                by: "Nurse Jo".into(),
                ..Origin::default()
            },
        })
        .unwrap();
    };
    to(&mut h, None);
    let raised = |ev: Vec<OutEvent>| -> Vec<String> {
        ev.iter()
            .filter(|e| e.kind_name() == "alert.raised")
            .filter_map(|e| e.kind.alert().map(|a| a.rule.clone()))
            .collect()
    };
    let away = raised((1..5).flat_map(|k| h.step(t(12 * 3600 + k * 60))).collect());
    assert!(
        !away.contains(&"observations-overdue".to_string()),
        "{away:?}"
    );
    to(&mut h, Some("BED-ICU-02"));
    let back = raised((5..9).flat_map(|k| h.step(t(12 * 3600 + k * 60))).collect());
    assert!(
        back.contains(&"observations-overdue".to_string()),
        "{back:?}"
    );
}

fn from_monitor(s: i64, device: &str, v: Vitals) -> Inbound {
    Inbound::Reading(Reading {
        at: t(s),
        device: device.into(),
        ts: t(s),
        seq: None,
        payload: Payload::MonitorVitals(v),
    })
}

/// A bedside monitor measures whoever the census has in its bed: its readings score that
/// patient; at an empty bed they are nobody's (refused as `no_patient`, counted with the
/// monitor named); after a transfer the monitor at the new bed measures the patient and the
/// one at the old bed nobody.
#[test]
fn a_bedside_monitor_measures_whoever_the_census_has_in_its_bed() {
    let mut h = hospital();
    h.push(sighting(t(0), "rx-f2-icu-02", "TW-1002", -50.0, true));
    h.step(t(0));
    // MON-ICU-02 is at BED-ICU-02 (P-1002); a spot set from it scores P-1002.
    h.push(from_monitor(
        10,
        "mon-icu-02",
        Vitals {
            mode: VitalsMode::Spot,
            ..full(24.0, 94.0, false, 105.0, 95.0, Consciousness::Alert, 37.0)
        },
    ));
    h.step(t(10));
    let snap = h.snapshot();
    assert_eq!(snap.patients["P-1002"].news2.as_ref().unwrap().aggregate, 5);
    // BED-ICU-05 is empty: its monitor's readings are nobody's.
    h.push(from_monitor(
        20,
        "mon-icu-05",
        full(30.0, 85.0, true, 80.0, 140.0, Consciousness::Pain, 39.9),
    ));
    let ev = h.step(t(20));
    assert!(ev.iter().all(|e| e.kind_name() != "alert.raised"), "{ev:?}");
    let snap = h.snapshot();
    assert_eq!(snap.ingest.by_reason[&RejectReason::NoPatient], 1);
    assert_eq!(snap.ingest.by_device["mon-icu-05"], 1);
    let why = &snap.ingest.recent.last().unwrap().detail;
    assert!(
        why.contains("BED-ICU-05") && why.contains("no patient"),
        "{why}"
    );
    // P-1002 moves to BED-ICU-05: that monitor now measures them, MON-ICU-02 nobody.
    h.apply(Command::Census {
        op: crate::census::CensusOp::Transfer {
            patient: "P-1002".into(),
            bed: Some("BED-ICU-05".into()),
        },
        origin: crate::census::Origin {
            by: "hl7 EHR/GH".into(),
            message: Some("EHR/GH|M1".into()),
            happened_at: None,
        },
    })
    .unwrap();
    h.step(t(30));
    h.push(from_monitor(
        40,
        "mon-icu-05",
        Vitals {
            mode: VitalsMode::Spot,
            ..full(16.0, 97.0, false, 125.0, 70.0, Consciousness::Alert, 37.0)
        },
    ));
    h.push(from_monitor(
        41,
        "mon-icu-02",
        full(30.0, 85.0, true, 80.0, 140.0, Consciousness::Pain, 39.9),
    ));
    h.step(t(41));
    let snap = h.snapshot();
    assert_eq!(snap.patients["P-1002"].news2.as_ref().unwrap().aggregate, 0);
    assert_eq!(snap.ingest.by_reason[&RejectReason::NoPatient], 2);
    assert_eq!(snap.ingest.by_device["mon-icu-02"], 1);
}

fn charted(ev: &[OutEvent]) -> Vec<orderly_model::news2::Charted> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::PatientObserved(c) => Some((**c).clone()),
            _ => None,
        })
        .collect()
}

/// A monitor streaming every 5 s is charted every 5 minutes (and when the score changes), a
/// spot check at once, each with its values, score, source, unit and bed. After a restart
/// the charted sets bring back the score, its rise and when observations are due: the next
/// set's rise counts from before the restart, and nothing is raised again.
#[test]
fn vital_signs_are_charted_and_a_restart_carries_on_the_score_and_its_trend() {
    let mut h = hospital();
    let steady = full(16.0, 97.0, false, 125.0, 70.0, Consciousness::Alert, 37.0);
    let mut all = Vec::new();
    for s in (0..900).step_by(5) {
        h.push(from_monitor(s, "mon-icu-02", steady.clone()));
        all.extend(h.step(t(s)));
    }
    let sets = charted(&all);
    assert_eq!(sets.len(), 3, "0, 300, 600 s: {sets:?}");
    let c = &sets[0];
    assert_eq!(
        (c.patient.as_str(), c.bed.as_deref(), c.unit.as_deref()),
        ("P-1002", Some("BED-ICU-02"), Some("ICU"))
    );
    assert_eq!(c.source, "monitor mon-icu-02");
    assert_eq!(
        (c.obs.spo2, c.news.aggregate, c.news.complete),
        (Some(97.0), 0, true)
    );
    // A nurse's set: charted at once. NEWS2 3 (RR 22: 2, pulse 95: 1), rise 3.
    h.push(spot(
        905,
        full(22.0, 97.0, false, 125.0, 95.0, Consciousness::Alert, 37.0),
    ));
    let ev = h.step(t(905));
    let sets: Vec<_> = charted(&ev);
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].mode, VitalsMode::Spot);
    assert_eq!(sets[0].source, "wearable W-1002");
    assert_eq!(sets[0].news.aggregate, 3);
    all.extend(ev);
    let snap = h.snapshot();
    let before = snap.patients["P-1002"].news2.clone().unwrap();
    assert_eq!(before.rise, 3);
    let open: Vec<_> = snap.alerts.values().cloned().collect();
    assert!(open.iter().any(|a| a.rule == "news2-rising"), "{open:?}");
    // Restart: the charted sets come back from the store.
    let mut again = hospital();
    again.restore(Restored {
        next_seq: all.last().unwrap().seq,
        observed: charted(&all),
        alerts: open,
        ..Restored::default()
    });
    let ev = again.step(t(910));
    let after = again.snapshot().patients["P-1002"].news2.clone().unwrap();
    assert_eq!(
        (after.aggregate, after.rise, after.due_at, after.scored_at),
        (3, 3, before.due_at, before.scored_at)
    );
    assert!(ev.iter().all(|e| e.kind_name() != "alert.raised"), "{ev:?}");
    // Observations due 4 hours after the nurse's set (band 1-4) and not before.
    let due = after.due_at.unwrap();
    let ev = again.step(Timestamp(due.millis() - 60_000));
    assert!(ev.iter().all(|e| {
        e.kind
            .alert()
            .is_none_or(|a| a.rule != "observations-overdue")
    }));
    let ev = again.step(Timestamp(due.millis() + 31_000));
    assert!(
        ev.iter()
            .filter_map(|e| e.kind.alert())
            .any(|a| a.rule == "observations-overdue"),
        "{ev:?}"
    );
}
