//! Maintenance: meters, due dates, predictions, work orders, recalls.

use super::*;

// Maintenance ----------------------------------------------------------------------------------

/// The demo hospital with the shipped maintenance catalogue.
pub(super) fn maintained() -> Hospital {
    let (fp, seed) = site();
    let k = known(&fp, &seed);
    let catalogue = orderly_model::maintenance::parse(
        "rules/maintenance.toml",
        include_str!("../../../../rules/maintenance.toml"),
        &k.models,
    )
    .unwrap();
    let config = WorldConfig {
        maintenance: catalogue,
        ..WorldConfig::default()
    };
    Hospital::new(fp, &seed, config, rules(&shipped_rules()))
}

pub(super) fn pump_at(
    at: Timestamp,
    state: orderly_model::reading::PumpState,
    runtime_hours: f64,
) -> Inbound {
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
            infusion: None,
            soft_overrides_total: None,
            hard_stops_total: None,
        }),
    })
}

pub(super) fn opened(ev: &[OutEvent]) -> Vec<orderly_model::maintenance::WorkOrder> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::WorkOrderOpened(w) => Some((**w).clone()),
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
    // The results of its checks: all of them, each measured one with its value.
    assert!(matches!(
        h.work_order(
            &wo.id,
            WorkOrderAction::Complete {
                notes: None,
                results: results(wo, &[])[..1].to_vec(),
            },
            "Biomed Bo",
        ),
        Err(orderly_model::maintenance::WorkOrderError::Invalid(_))
    ));
    let (_, w) = h
        .work_order(
            &wo.id,
            WorkOrderAction::Complete {
                notes: Some("flow within 2%".into()),
                results: results(wo, &[]),
            },
            "Biomed Bo",
        )
        .unwrap();
    assert_eq!(w.status, WorkOrderStatus::Done);
    assert_eq!(w.results.len(), wo.checks.len());
    assert!(w.results.iter().all(|r| r.passed));
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
    let next = opened(&ev);
    assert_eq!(next.len(), 1);
    // This time the leakage current is over its limit: done, but the pump stays out of
    // service and the work order says why.
    h.work_order(&next[0].id, WorkOrderAction::Start, "Biomed Bo")
        .unwrap();
    h.step(t(4101));
    let leak = next[0]
        .checks
        .iter()
        .find(|c| c.contains("leakage"))
        .unwrap()
        .clone();
    let (_, w) = h
        .work_order(
            &next[0].id,
            WorkOrderAction::Complete {
                notes: None,
                results: results(&next[0], &[(&leak, 720.0)]),
            },
            "Biomed Bo",
        )
        .unwrap();
    assert_eq!(w.status, WorkOrderStatus::Done);
    assert!(!w.results.iter().find(|r| r.check == leak).unwrap().passed);
    assert!(
        w.notes
            .iter()
            .any(|n| n.text.contains("stays out of service")),
        "{w:?}"
    );
    h.step(t(4102));
    assert_eq!(
        h.snapshot().assets["PUMP-0001"].status,
        AssetStatus::OutOfService
    );
}

/// Every check of `wo` entered: measured ones at a value within limits unless given in
/// `values`, the others passed.
fn results(
    wo: &orderly_model::maintenance::WorkOrder,
    values: &[(&str, f64)],
) -> Vec<orderly_model::maintenance::CheckEntered> {
    wo.checks
        .iter()
        .map(|c| {
            let m = wo.measures.get(c);
            let value = values
                .iter()
                .find(|(n, _)| n == c)
                .map(|(_, v)| *v)
                .or(m.map(|m| match (m.min, m.max) {
                    (Some(a), Some(b)) => (a + b) / 2.0,
                    (Some(a), None) => a + 1.0,
                    (None, Some(b)) => b / 2.0,
                    (None, None) => 0.0,
                }));
            orderly_model::maintenance::CheckEntered {
                check: c.clone(),
                passed: m.is_none().then_some(true),
                value,
            }
        })
        .collect()
}

/// A pump's first two readings read in one step (a backlog, a busy step): the first still anchors
/// its service points, so crossing 2000 h between them opens the work order.
#[test]
fn readings_that_arrive_together_are_each_metered() {
    use orderly_model::reading::PumpState;
    let mut h = maintained();
    h.push(pump_at(t(0), PumpState::Idle, 1999.0));
    h.push(pump_at(t(0), PumpState::Idle, 2000.5));
    let ev = idle(&mut h, 0, 120);
    let wos = opened(&ev);
    assert_eq!(wos.len(), 1, "{ev:?}");
    assert_eq!(wos[0].reason, "runtime");
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
            EventKind::WorkOrderOpened(w) | EventKind::WorkOrderUpdated(w) => Some((**w).clone()),
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
            include_str!("../../../../rules/maintenance-alerts.toml"),
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
        WorkOrderAction::Complete {
            notes: None,
            results: vec![],
        },
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
        include_str!("../../../../rules/maintenance-alerts.toml"),
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
                infusion: None,
                soft_overrides_total: None,
                hard_stops_total: None,
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
                infusion: None,
                soft_overrides_total: None,
                hard_stops_total: None,
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
        include_str!("../../../../rules/maintenance-alerts.toml"),
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

/// A device whose clock is an hour off has every message refused; within a minute and a bit
/// the unit and biomed are told, with how far off it is, and the alert ends once the device's
/// messages are in time again.
#[test]
fn a_pump_whose_clock_is_wrong_is_a_technical_alert_for_biomed_until_it_is_set() {
    use orderly_model::reading::PumpState;
    let mut h = maintained();
    let all: Vec<_> = rules_dir::BUNDLED
        .into_iter()
        .filter(|(n, _)| ["rules/maintenance-alerts.toml", "rules/pumps.toml"].contains(n))
        .collect();
    h.replace_rules(rules(&all));
    let hour = 3600 * 1000;
    let mut ev = Vec::new();
    for s in (0..=90).step_by(10) {
        let Inbound::Reading(mut r) = pump_at(t(s), PumpState::Idle, 10.0) else {
            unreachable!()
        };
        r.ts = Timestamp(r.at.millis() + hour);
        h.push(Inbound::Reading(r));
        ev.extend(h.step(t(s)));
    }
    let alert = ev
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::AlertRaised(a) if a.rule == "device-clock-wrong" => Some(a.clone()),
            _ => None,
        })
        .expect("the clock alert");
    assert_eq!(alert.subject, "PUMP-0001");
    assert!(
        alert.audience.iter().any(|a| a == "role:biomed"),
        "{alert:?}"
    );
    assert!(alert.message.contains("3600 s off"), "{}", alert.message);
    assert!(h.snapshot().ingest.by_reason[&RejectReason::ClockSkew] >= 10);
    // Its clock set right: the alert ends after its clear time.
    let mut ev = Vec::new();
    for s in (100..=200).step_by(10) {
        h.push(pump_at(t(s), PumpState::Idle, 10.0));
        ev.extend(h.step(t(s)));
    }
    assert!(
        ev.iter().any(
            |e| matches!(&e.kind, EventKind::AlertResolved(a) if a.rule == "device-clock-wrong")
        ),
        "{ev:?}"
    );
}
