//! The census: admissions, transfers, discharges, assessments while Orderly runs.

use super::*;
use crate::census::{CensusError, CensusOp, Origin, Value, new_patient};
use crate::{Done, Refused};
use orderly_model::census::ObservationFact;
use std::collections::BTreeMap;

fn hl7(control: &str) -> Origin {
    Origin {
        by: "hl7 EHR/GH".into(),
        message: Some(format!("EHR/GH|{control}")),
        happened_at: None,
    }
}

fn census(
    h: &mut Hospital,
    op: CensusOp,
    origin: Origin,
) -> Result<crate::census::CensusDone, Refused> {
    h.apply(Command::Census { op, origin })
        .map(|a| match a.done {
            Done::Census(d) => d,
            d => panic!("{d:?}"),
        })
}

fn admit(h: &mut Hospital, id: &str, bed: &str, control: &str) {
    census(
        h,
        CensusOp::Admit {
            patient: Box::new(new_patient(id, "Nia Okafor", None, None)),
            bed: Some(bed.into()),
        },
        hl7(control),
    )
    .unwrap();
}

fn assess(h: &mut Hospital, id: &str, values: Vec<(ObservationFact, Value, Option<Timestamp>)>) {
    census(
        h,
        CensusOp::Assess {
            patient: id.into(),
            values,
        },
        Origin {
            by: "Nurse Jo".into(),
            ..Origin::default()
        },
    )
    .unwrap();
}

/// The bed located in its room from `s`, its patient lying in it for 8 s.
fn bed_located(h: &mut Hospital, tag: &str, rx: &str, bed: &str, s: i64) {
    walk(h, s, 2, tag, (rx, -55.0), ("rx-f2-c01", -80.0));
    loads(h, bed, s + 2, s + 10, 1.0, 0.0);
}

fn census_events(ev: &[OutEvent]) -> Vec<(&'static str, String, String)> {
    ev.iter()
        .filter_map(|e| {
            e.kind
                .census()
                .map(|c| (e.kind_name(), c.patient.id.clone(), c.patient.bed.clone()))
        })
        .collect()
}

/// A patient admitted into an empty bed is watched for exits at once: before their Morse score
/// arrives as high risk (fall precautions until assessed), then as the score says. A discharge
/// resolves the bed's alert about them ("patient discharged") and takes them off the views.
#[test]
fn an_admitted_patient_is_watched_as_their_score_calls_for_and_a_discharge_ends_it() {
    let mut h = hospital();
    h.step(t(0));
    admit(&mut h, "GH-2001", "BED-ICU-05", "M1");
    let ev = h.step(t(1));
    assert_eq!(
        census_events(&ev),
        [("patient.admitted", "GH-2001".into(), "BED-ICU-05".into())]
    );
    let snap = h.snapshot();
    let p = &snap.patients["GH-2001"];
    assert_eq!(p.bed, "BED-ICU-05");
    assert_eq!(p.record.unassessed, ["morse", "braden"]);
    // Not assessed: a stand-up is the high-risk alert.
    bed_located(&mut h, "TB-ICU-05", "rx-f2-icu-05", "bed-icu-05", 2);
    let ev = loads(&mut h, "bed-icu-05", 12, 13, 0.0, 0.0);
    assert_eq!(raised(&ev), [("bed-exit-alarm", Priority::High)], "{ev:?}");
    // Discharged: the alert ends with the stay, the patient leaves the views.
    census(
        &mut h,
        CensusOp::Discharge {
            patient: "GH-2001".into(),
        },
        hl7("M2"),
    )
    .unwrap();
    let ev = h.step(t(14));
    assert_eq!(
        census_events(&ev),
        [("patient.discharged", "GH-2001".into(), "BED-ICU-05".into())]
    );
    let resolved: Vec<_> = ev
        .iter()
        .filter(|e| e.kind_name() == "alert.resolved")
        .filter_map(|e| e.kind.alert())
        .collect();
    assert_eq!(resolved.len(), 1, "{ev:?}");
    assert_eq!(
        resolved[0].resolution.as_deref(),
        Some("patient discharged")
    );
    let snap = h.snapshot();
    assert!(!snap.patients.contains_key("GH-2001"));
    assert!(snap.alerts.is_empty(), "{:?}", snap.alerts);
    // The same discharge message again: answered as before, applied once.
    let again = census(
        &mut h,
        CensusOp::Discharge {
            patient: "GH-2001".into(),
        },
        hl7("M2"),
    )
    .unwrap();
    assert!(again.repeat);
    assert!(census_events(&h.step(t(15))).is_empty());
    // Admitted again under a new message: a new stay in the same bed, low risk this time.
    admit(&mut h, "GH-2001", "BED-ICU-05", "M3");
    assess(
        &mut h,
        "GH-2001",
        vec![
            (ObservationFact::Morse, Value::Score(20), None),
            (ObservationFact::Braden, Value::Score(20), None),
        ],
    );
    let ev = h.step(t(16));
    let names: Vec<_> = census_events(&ev).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["patient.admitted", "patient.assessed"]);
    let assessed = ev.iter().find_map(|e| match &e.kind {
        EventKind::PatientAssessed(c) => Some(c.detail.clone()),
        _ => None,
    });
    assert_eq!(
        assessed.as_deref(),
        Some("Morse not assessed -> 20, Braden not assessed -> 20")
    );
}

/// A transfer moves the bed-exit watch to the new bed, a new assessment changes the exit's
/// priority and the turning interval at once, and an observation older than the one held is
/// not applied.
#[test]
fn a_transfer_and_a_new_assessment_take_effect_at_once() {
    let mut h = hospital();
    h.step(t(0));
    // P-1001 (Morse 85, Braden 16) from BED-ICU-01 to the empty BED-ICU-05.
    census(
        &mut h,
        CensusOp::Transfer {
            patient: "P-1001".into(),
            bed: Some("BED-ICU-05".into()),
        },
        hl7("T1"),
    )
    .unwrap();
    let ev = h.step(t(1));
    assert_eq!(
        census_events(&ev),
        [("patient.transferred", "P-1001".into(), "BED-ICU-05".into())]
    );
    assert_eq!(h.snapshot().patients["P-1001"].bed, "BED-ICU-05");
    bed_located(&mut h, "TB-ICU-05", "rx-f2-icu-05", "bed-icu-05", 2);
    let ev = loads(&mut h, "bed-icu-05", 12, 13, 0.0, 0.0);
    assert_eq!(raised(&ev), [("bed-exit-alarm", Priority::High)], "{ev:?}");
    // Back in bed; then Morse 35 (low): the next stand-up is the medium alert.
    loads(&mut h, "bed-icu-05", 13, 40, 1.0, 0.0);
    assert!(h.snapshot().alerts.is_empty());
    let before = h.snapshot().patients["P-1001"]
        .turning
        .clone()
        .unwrap()
        .every_min;
    assess(
        &mut h,
        "P-1001",
        vec![
            (ObservationFact::Morse, Value::Score(35), Some(t(39))),
            (ObservationFact::Braden, Value::Score(9), Some(t(39))),
        ],
    );
    let ev = loads(&mut h, "bed-icu-05", 40, 43, 0.0, 0.0);
    assert_eq!(raised(&ev), [("bed-exit", Priority::Medium)], "{ev:?}");
    let after = h.snapshot().patients["P-1001"]
        .turning
        .clone()
        .unwrap()
        .every_min;
    assert!(
        after < before,
        "Braden 9 turns more often: {before:?} -> {after:?}"
    );
    // An older Morse (sent late) does not overwrite the newer one.
    let done = census(
        &mut h,
        CensusOp::Assess {
            patient: "P-1001".into(),
            values: vec![(ObservationFact::Morse, Value::Score(90), Some(t(30)))],
        },
        hl7("O1"),
    )
    .unwrap();
    assert_eq!(done.seq, None, "{}", done.detail);
    assert_eq!(h.snapshot().patients["P-1001"].morse, 35);
    // A bed that is taken, or not a bed, is refused and changes nothing.
    let taken = census(
        &mut h,
        CensusOp::Transfer {
            patient: "P-1001".into(),
            bed: Some("BED-ICU-02".into()),
        },
        hl7("T2"),
    );
    assert!(
        matches!(&taken, Err(Refused::Census(CensusError::BedTaken { by, .. })) if by == "P-1002"),
        "{taken:?}"
    );
    let not_bed = census(
        &mut h,
        CensusOp::Transfer {
            patient: "P-1001".into(),
            bed: Some("PUMP-0001".into()),
        },
        hl7("T3"),
    );
    assert!(matches!(
        not_bed,
        Err(Refused::Census(CensusError::UnknownBed(_)))
    ));
    assert_eq!(h.snapshot().patients["P-1001"].bed, "BED-ICU-05");
}

/// A swap, a cancelled transfer, a cancelled discharge and a merge each undo or combine exactly
/// what they name, and the census comes back the same after a restart.
#[test]
fn swaps_cancellations_and_merges_and_a_restart() {
    let mut h = hospital();
    h.step(t(0));
    let mut log = Vec::new();
    census(
        &mut h,
        CensusOp::Swap {
            a: "P-1001".into(),
            b: "P-1002".into(),
        },
        hl7("S1"),
    )
    .unwrap();
    log.extend(h.step(t(1)));
    let snap = h.snapshot();
    assert_eq!(snap.patients["P-1001"].bed, "BED-ICU-02");
    assert_eq!(snap.patients["P-1002"].bed, "BED-ICU-01");
    // P-1003 to the empty bed 5, then the transfer is cancelled: back in bed 3.
    census(
        &mut h,
        CensusOp::Transfer {
            patient: "P-1003".into(),
            bed: Some("BED-ICU-05".into()),
        },
        hl7("T1"),
    )
    .unwrap();
    census(
        &mut h,
        CensusOp::CancelTransfer {
            patient: "P-1003".into(),
        },
        hl7("T1X"),
    )
    .unwrap();
    log.extend(h.step(t(2)));
    assert_eq!(h.snapshot().patients["P-1003"].bed, "BED-ICU-03");
    // P-1004 discharged, then the discharge cancelled: back in bed 4 with their scores.
    census(
        &mut h,
        CensusOp::Discharge {
            patient: "P-1004".into(),
        },
        hl7("D1"),
    )
    .unwrap();
    census(
        &mut h,
        CensusOp::CancelDischarge {
            patient: "P-1004".into(),
            bed: None,
        },
        hl7("D1X"),
    )
    .unwrap();
    log.extend(h.step(t(3)));
    let p4 = h.snapshot().patients["P-1004"].clone();
    assert_eq!((p4.bed.as_str(), p4.morse), ("BED-ICU-04", 25));
    // A duplicate record admitted outside Orderly's beds, then merged into P-1004.
    let mut dup = new_patient("GH-9", "N. Dup", Some(70), None);
    dup.record.identifiers = vec!["GH/9".into()];
    census(
        &mut h,
        CensusOp::Admit {
            patient: Box::new(dup),
            bed: None,
        },
        hl7("A9"),
    )
    .unwrap();
    assess(
        &mut h,
        "GH-9",
        vec![(ObservationFact::Morse, Value::Score(70), Some(t(4)))],
    );
    census(
        &mut h,
        CensusOp::Merge {
            survivor: "P-1004".into(),
            merged: "GH-9".into(),
        },
        hl7("MG1"),
    )
    .unwrap();
    log.extend(h.step(t(5)));
    let snap = h.snapshot();
    assert!(!snap.patients.contains_key("GH-9"));
    let p4 = &snap.patients["P-1004"];
    assert_eq!(p4.morse, 70, "the newer observation of the merged record");
    assert!(p4.record.identifiers.contains(&"GH-9".to_string()));
    assert!(p4.record.identifiers.contains(&"GH/9".to_string()));
    let names: Vec<_> = census_events(&log).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            "patient.transferred",
            "patient.transferred",
            "patient.transferred",
            "patient.transfer_cancelled",
            "patient.discharged",
            "patient.discharge_cancelled",
            "patient.admitted",
            "patient.assessed",
            "patient.merged"
        ]
    );
    // A restart: the census as the store folds these events (the latest state of each
    // patient; those gone) comes back, and a repeated message is still recognised.
    let mut census_now: BTreeMap<String, orderly_model::Patient> = BTreeMap::new();
    let mut gone = Vec::new();
    let mut seen = Vec::new();
    for e in &log {
        let Some(c) = e.kind.census() else { continue };
        if let Some(m) = &c.message {
            seen.push((m.clone(), e.seq));
        }
        match e.kind_name() {
            "patient.discharged" | "patient.admit_cancelled" => {
                census_now.remove(&c.patient.id);
            }
            _ => {
                census_now.insert(c.patient.id.clone(), c.patient.clone());
            }
        }
        for m in &c.merged {
            census_now.remove(&m.id);
            gone.push((m.clone(), e.at));
        }
    }
    let mut again = hospital();
    again.restore(Restored {
        next_seq: log.last().unwrap().seq,
        census: census_now.into_values().collect(),
        census_gone: gone,
        census_seen: seen,
        ..Restored::default()
    });
    again.step(t(6));
    let snap2 = again.snapshot();
    for id in ["P-1001", "P-1002", "P-1003", "P-1004"] {
        assert_eq!(snap2.patients[id].bed, snap.patients[id].bed, "{id}");
        assert_eq!(snap2.patients[id].morse, snap.patients[id].morse, "{id}");
    }
    assert!(!snap2.patients.contains_key("GH-9"));
    let repeat = census(
        &mut again,
        CensusOp::Swap {
            a: "P-1001".into(),
            b: "P-1002".into(),
        },
        hl7("S1"),
    )
    .unwrap();
    assert!(repeat.repeat);
    assert_eq!(again.snapshot().patients["P-1001"].bed, "BED-ICU-02");
}

fn turns(ev: &[OutEvent]) -> Vec<(String, &'static str, &'static str, String)> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedTurnover(t) => {
                Some((t.bed.clone(), t.from.as_str(), t.to.as_str(), t.by.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A discharged patient's bed goes dirty; a cleaner's badge staying in the room starts the
/// cleaning, their leaving after enough time makes it clean, and it is ready ten minutes later.
/// An admission makes a bed occupied; a supervisor blocks and unblocks with a reason. The
/// turnover comes back after a restart.
#[test]
fn a_discharged_bed_goes_dirty_cleaning_clean_ready_by_the_census_and_a_cleaners_badge() {
    use crate::turnover::TurnAction;
    use orderly_model::census::BedTurn;
    let mut h = hospital();
    bed_located(&mut h, "TB-ICU-01", "rx-f2-icu-01", "bed-icu-01", 0);
    census(
        &mut h,
        CensusOp::Discharge {
            patient: "P-1001".into(),
        },
        hl7("D1"),
    )
    .unwrap();
    let ev = h.step(t(11));
    assert_eq!(
        turns(&ev),
        [("BED-ICU-01".into(), "occupied", "dirty", "census".into())]
    );
    // A cleaner passes through for a minute: nothing. Then stays 9 minutes and leaves.
    let mut ev = walk(
        &mut h,
        20,
        60,
        "B-0060",
        ("rx-f2-icu-01", -50.0),
        ("rx-f2-c01", -85.0),
    );
    ev.extend(walk(
        &mut h,
        80,
        60,
        "B-0060",
        ("rx-f2-c01", -50.0),
        ("rx-f2-icu-01", -85.0),
    ));
    assert!(turns(&ev).is_empty(), "{:?}", turns(&ev));
    let mut ev = walk(
        &mut h,
        140,
        560,
        "B-0060",
        ("rx-f2-icu-01", -50.0),
        ("rx-f2-c01", -85.0),
    );
    ev.extend(walk(
        &mut h,
        700,
        60,
        "B-0060",
        ("rx-f2-c01", -50.0),
        ("rx-f2-icu-01", -85.0),
    ));
    let got: Vec<_> = turns(&ev).into_iter().map(|x| (x.1, x.2)).collect();
    assert_eq!(got, [("dirty", "cleaning"), ("cleaning", "clean")]);
    let b = h.snapshot().assets["BED-ICU-01"].turnover.clone().unwrap();
    assert_eq!(b.state, BedTurn::Clean);
    assert_eq!(b.vacated_at, Some(t(11)));
    // Ten minutes clean: ready.
    let ev = idle(&mut h, 760, 760 + 660);
    let got: Vec<_> = turns(&ev).into_iter().map(|x| (x.1, x.2, x.3)).collect();
    assert_eq!(got, [("clean", "ready", "orderly".to_string())]);
    // Blocked (a reason is needed), unblocked to dirty; admitted: occupied.
    assert!(matches!(
        h.apply(Command::Turnover {
            bed: "BED-ICU-01".into(),
            action: TurnAction::Block { reason: " ".into() },
            by: "Sup".into(),
        }),
        Err(Refused::Turnover(_))
    ));
    for (action, to) in [
        (
            TurnAction::Block {
                reason: "rail broken".into(),
            },
            BedTurn::Blocked,
        ),
        (
            TurnAction::Unblock {
                reason: "rail fixed".into(),
            },
            BedTurn::Dirty,
        ),
        (TurnAction::Cleaned, BedTurn::Clean),
        (TurnAction::Ready, BedTurn::Ready),
    ] {
        let a = h
            .apply(Command::Turnover {
                bed: "BED-ICU-01".into(),
                action,
                by: "Sup".into(),
            })
            .unwrap();
        assert!(matches!(a.done, Done::Turnover(s) if s == to));
    }
    assert!(matches!(
        h.apply(Command::Turnover {
            bed: "BED-ICU-01".into(),
            action: TurnAction::Ready,
            by: "Sup".into(),
        }),
        Err(Refused::Turnover(
            crate::turnover::TurnoverError::Transition { .. }
        ))
    ));
    admit(&mut h, "GH-3", "BED-ICU-01", "A3");
    let ev = h.step(t(1500));
    let log: Vec<_> = turns(&ev).into_iter().map(|x| (x.1, x.2)).collect();
    assert_eq!(log.last(), Some(&("ready", "occupied")));
    // After a restart the bed's turnover is as last recorded.
    let mut again = hospital();
    let last = ev
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::BedTurnover(x) => Some((x.clone(), e.at)),
            _ => None,
        })
        .unwrap();
    again.restore(Restored {
        turnover: vec![last],
        ..Restored::default()
    });
    again.step(t(1501));
    assert_eq!(
        again.snapshot().assets["BED-ICU-01"]
            .turnover
            .clone()
            .unwrap()
            .state,
        BedTurn::Occupied
    );
}

/// A simulated 14 hours on two empty ICU beds: a patient admitted every three hours to the
/// bed that is ready, discharged three hours later, a cleaner arriving 30 minutes after each
/// discharge and staying 15; the turnaround report read from the `bed.turnover` events matches
/// this script's truth (vacated to ready 55 min: 30 waiting, 15 cleaning, 10 until ready;
/// dirty to clean 45 min) and every discharged bed went dirty, cleaning, clean, ready.
#[test]
fn fourteen_simulated_hours_of_turnovers_match_the_scripts_truth() {
    let mut h = hospital();
    let beds = [
        ("BED-ICU-05", "TB-ICU-05", "rx-f2-icu-05"),
        ("BED-ICU-11", "TB-ICU-11", "rx-f2-icu-11"),
    ];
    let mut log = Vec::new();
    let step = |h: &mut Hospital, s: i64, cleaner: Option<&str>| {
        for (_, tag, rx) in beds {
            h.push(sighting(t(s), rx, tag, -50.0, true));
        }
        if let Some(rx) = cleaner {
            h.push(sighting(t(s), rx, "B-0060", -50.0, true));
        } else {
            h.push(sighting(t(s), "rx-f2-c01", "B-0060", -50.0, false));
        }
        h.step(t(s))
    };
    // (admitted at, bed index, discharged at), minutes; the cleaner goes to a bed 30 min after
    // its discharge for 15 min.
    let mut script = Vec::new();
    for n in 0..4i64 {
        let at = 10 + n * 180;
        script.push((at, (n % 2) as usize, at + 180));
    }
    let cleaning: Vec<(i64, i64, usize)> = script
        .iter()
        .map(|&(_, b, out)| (out + 30, out + 45, b))
        .collect();
    let end_min = 14 * 60;
    let mut s = 0i64;
    while s < end_min * 60 {
        let m = s / 60;
        if s % 60 == 0 {
            for (i, &(at, b, out)) in script.iter().enumerate() {
                let id = format!("SIM-{i}");
                if m == at {
                    admit(&mut h, &id, beds[b].0, &format!("A{i}"));
                }
                if m == out {
                    census(
                        &mut h,
                        CensusOp::Discharge {
                            patient: id.clone(),
                        },
                        hl7(&format!("D{i}")),
                    )
                    .unwrap();
                }
            }
        }
        let cleaner = cleaning
            .iter()
            .find(|&&(from, to, _)| m >= from && m < to)
            .map(|&(_, _, b)| beds[b].2);
        log.extend(step(&mut h, s, cleaner));
        s += if cleaner.is_some() { 5 } else { 30 };
    }
    let changes: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BedTurnover(x) => Some((x.clone(), e.at)),
            _ => None,
        })
        .collect();
    for (bed, _, _) in beds {
        let path: Vec<&str> = changes
            .iter()
            .filter(|(c, _)| c.bed == bed)
            .map(|(c, _)| c.to.as_str())
            .collect();
        assert_eq!(
            path,
            [
                "occupied", "dirty", "cleaning", "clean", "ready", "occupied", "dirty", "cleaning",
                "clean", "ready"
            ],
            "{bed}"
        );
    }
    let report = orderly_model::census::turnaround(&changes);
    let icu = report.iter().find(|r| r.unit == "ICU").unwrap();
    assert_eq!((icu.turned, icu.waiting), (4, 0), "{icu:?}");
    // Within the steps' granularity (30 s idle, 5 s with the cleaner in the room).
    let near = |x: Option<f64>, want: f64| x.is_some_and(|x| (x - want).abs() <= 1.0);
    assert!(near(icu.vacated_to_ready_median_min, 55.0), "{icu:?}");
    assert!(near(icu.vacated_to_ready_p90_min, 55.0), "{icu:?}");
    assert!(near(icu.dirty_to_clean_median_min, 45.0), "{icu:?}");
}

/// A patient's open alert follows them to the new unit's station when they are transferred,
/// at its escalation step, and says so (`alert.updated`); the alert itself stays open.
#[test]
fn a_transfer_sends_the_patients_open_alerts_to_the_new_units_station() {
    let mut h = hospital();
    h.push(sighting(t(0), "rx-f2-icu-02", "TW-1002", -50.0, true));
    h.step(t(0));
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
    let fall = ev
        .iter()
        .find_map(|e| e.kind.alert())
        .cloned()
        .expect("a fall alert");
    assert_eq!(fall.unit.as_deref(), Some("ICU"));
    census(
        &mut h,
        CensusOp::Transfer {
            patient: "P-1002".into(),
            bed: Some("BED-MS3-06".into()),
        },
        hl7("X1"),
    )
    .unwrap();
    let ev = h.step(t(2));
    let moved: Vec<_> = ev
        .iter()
        .filter(|e| e.kind_name() == "alert.updated")
        .filter_map(|e| e.kind.alert())
        .filter(|a| a.id == fall.id)
        .collect();
    assert_eq!(moved.len(), 1, "{ev:?}");
    assert_eq!(moved[0].unit.as_deref(), Some("MS3"));
    assert!(
        moved[0].audience.iter().any(|a| a == "station:MS3"),
        "{:?}",
        moved[0].audience
    );
    assert!(
        h.snapshot().alerts[&fall.id]
            .audience
            .iter()
            .all(|a| a != "station:ICU")
    );
}

/// The read model is brought up to date when a snapshot is taken, not at every step: a patient
/// discharged several steps before the next snapshot still leaves the views and their room's
/// list (bevy forgets a removal after the step that follows it, so the world notes it).
#[test]
fn a_discharge_steps_before_the_next_snapshot_still_leaves_the_views() {
    let mut h = hospital();
    h.step(t(0));
    let room = h.snapshot().patients["P-1001"]
        .room
        .clone()
        .expect("placed by its bed");
    census(
        &mut h,
        CensusOp::Discharge {
            patient: "P-1001".into(),
        },
        hl7("D9"),
    )
    .unwrap();
    for s in 1..5 {
        h.step(t(s));
    }
    let snap = h.snapshot();
    assert!(!snap.patients.contains_key("P-1001"));
    assert!(
        snap.rooms
            .get(room.as_str())
            .is_none_or(|list| !list.contains("P-1001")),
        "{:?}",
        snap.rooms.get(room.as_str())
    );
}
