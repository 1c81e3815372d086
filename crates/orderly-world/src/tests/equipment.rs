//! Equipment status, security at exits, PAR levels.

use super::*;

pub(super) fn status_changes(
    events: &[OutEvent],
) -> Vec<(String, AssetStatus, AssetStatus, String)> {
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
                infusion: None,
                soft_overrides_total: None,
                hard_stops_total: None,
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

pub(super) fn par_level(
    unit: &str,
    kind: &str,
    target: u32,
    critical: u32,
) -> orderly_model::par::ParLevel {
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
