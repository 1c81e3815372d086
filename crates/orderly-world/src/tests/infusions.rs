//! Infusion safety: pumps' infusions against the drug library.

use super::*;
use orderly_model::infusion::{Infusion, InfusionChange, InfusionRecord, Standing};
use orderly_model::reading::{PumpState, PumpTelemetry};

fn infusion_rules() -> Vec<(&'static str, &'static str)> {
    rules_dir::BUNDLED
        .into_iter()
        .filter(|(n, _)| ["rules/infusion.toml", "rules/pumps.toml"].contains(n))
        .collect()
}

pub(super) fn library_config() -> WorldConfig {
    let (fp, _) = site();
    let units = fp.units.iter().map(|u| u.id.clone()).collect();
    WorldConfig {
        drug_library: orderly_model::infusion::parse(
            "drug-library.toml",
            include_str!("../../../../rules/drug-library.toml"),
            &units,
        )
        .unwrap(),
        ..WorldConfig::default()
    }
}

fn infusing_hospital() -> Hospital {
    let (fp, seed) = site();
    let mut h = Hospital::new(fp, &seed, library_config(), rules(&infusion_rules()));
    // PUMP-0001 at BED-ICU-01 (Ben Rossi).
    h.push(sighting(t(0), "rx-f2-icu-01", "TP-0001", -55.0, true));
    h.step(t(0));
    h
}

pub(super) fn heparin(dose: f64, infused: f64) -> Infusion {
    Infusion {
        library: true,
        profile: Some("critical-care".into()),
        drug: Some("Heparin".into()),
        concentration: Some("25000 units/250 mL".into()),
        dose: Some(dose),
        dose_unit: Some("units/kg/h".into()),
        weight_kg: Some(80.0),
        rate_ml_h: dose * 0.8,
        vtbi_ml: Some(250.0),
        infused_ml: infused,
        ..Infusion::default()
    }
}

pub(super) fn pump_says(
    at: Timestamp,
    state: PumpState,
    infusion: Option<Infusion>,
    overrides: u64,
) -> Inbound {
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
            infusion: infusion.map(Box::new),
            soft_overrides_total: Some(overrides),
            hard_stops_total: Some(0),
        }),
    })
}

fn records(ev: &[OutEvent]) -> Vec<InfusionRecord> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::PumpInfusion(r) => Some((**r).clone()),
            _ => None,
        })
        .collect()
}

fn raised(ev: &[OutEvent]) -> Vec<Alert> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::AlertRaised(a) => Some((**a).clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_infusion_past_the_hard_limit_is_a_high_alert_at_its_patients_station() {
    let mut h = infusing_hospital();
    h.push(pump_says(
        t(1),
        PumpState::Infusing,
        Some(heparin(18.0, 1.0)),
        4,
    ));
    let ev = h.step(t(1));
    let r = records(&ev);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].change, InfusionChange::Started);
    assert_eq!(r[0].standing, Standing::Within);
    assert_eq!(r[0].unit.as_deref(), Some("ICU"));
    assert_eq!(r[0].patient.as_deref(), Some("P-1001"));
    assert!(raised(&ev).is_empty(), "{:?}", raised(&ev));
    // Reprogrammed past the hard limit (the pump's library lets it through).
    h.push(pump_says(
        t(2),
        PumpState::Infusing,
        Some(heparin(45.0, 1.2)),
        4,
    ));
    let ev = h.step(t(2));
    let a = raised(&ev);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].rule, "infusion-past-hard-limit");
    assert_eq!(a[0].priority, Priority::High);
    assert_eq!(a[0].unit.as_deref(), Some("ICU"));
    assert!(
        a[0].audience.contains(&"station:ICU".to_string()),
        "{:?}",
        a[0].audience
    );
    assert!(
        a[0].message
            .contains("Heparin at 45 units/kg/h, past the library's hard max 40 units/kg/h"),
        "{}",
        a[0].message
    );
    assert_eq!(records(&ev)[0].change, InfusionChange::Changed);
    // Back within: the alert clears after its clearing time; the infusion goes on.
    for s in 3..20 {
        h.push(pump_says(
            t(s),
            PumpState::Infusing,
            Some(heparin(18.0, 1.3)),
            4,
        ));
        h.step(t(s));
    }
    assert!(
        h.snapshot()
            .alerts
            .values()
            .all(|a| a.rule != "infusion-past-hard-limit")
    );
}

#[test]
fn overrides_are_counted_once_from_the_pumps_counter_across_repeats_and_a_restart() {
    let mut h = infusing_hospital();
    h.push(pump_says(
        t(1),
        PumpState::Infusing,
        Some(heparin(18.0, 1.0)),
        4,
    ));
    h.step(t(1));
    // Overridden to 30 (past the soft max 25): the counter goes 4 -> 5, then repeats.
    let mut ev = Vec::new();
    for s in 2..5 {
        h.push(pump_says(
            t(s),
            PumpState::Infusing,
            Some(heparin(30.0, 1.0 + s as f64)),
            5,
        ));
        ev.extend(h.step(t(s)));
    }
    let overrides: Vec<InfusionRecord> = records(&ev)
        .into_iter()
        .filter(|r| r.change == InfusionChange::SoftOverride)
        .collect();
    assert_eq!(overrides.len(), 1, "{overrides:?}");
    assert_eq!(overrides[0].count, 1);
    assert_eq!(overrides[0].drug.as_deref(), Some("Heparin"));
    assert_eq!(overrides[0].standing, Standing::AboveSoft);
    // Heparin is a high-alert drug: the charge nurse is told.
    let a = raised(&ev);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].rule, "infusion-high-alert-override");
    // A restart: the running infusion and the counter come back from the last record.
    let last: Vec<(InfusionRecord, Timestamp)> =
        records(&ev).into_iter().map(|r| (r, t(4))).collect();
    let (fp, seed) = site();
    let mut again = Hospital::new(fp, &seed, library_config(), rules(&infusion_rules()));
    again.restore(Restored {
        infusions: vec![last.last().unwrap().clone()],
        ..Restored::default()
    });
    again.push(sighting(t(5), "rx-f2-icu-01", "TP-0001", -55.0, true));
    again.push(pump_says(
        t(5),
        PumpState::Infusing,
        Some(heparin(30.0, 6.0)),
        5,
    ));
    let ev = again.step(t(5));
    assert!(records(&ev).is_empty(), "{:?}", records(&ev));
    // A jump of two (one message lost) counts two.
    again.push(pump_says(
        t(6),
        PumpState::Infusing,
        Some(heparin(30.0, 6.5)),
        7,
    ));
    let r = records(&again.step(t(6)));
    assert_eq!((r.len(), r[0].count), (1, 2), "{r:?}");
    // A counter that jumps by thousands (a replaced board) is a new baseline, not overrides.
    again.push(pump_says(
        t(7),
        PumpState::Infusing,
        Some(heparin(30.0, 7.0)),
        5000,
    ));
    assert!(records(&again.step(t(7))).is_empty());
    again.push(pump_says(
        t(8),
        PumpState::Infusing,
        Some(heparin(30.0, 7.5)),
        5001,
    ));
    let r = records(&again.step(t(8)));
    assert_eq!((r.len(), r[0].count), (1, 1), "{r:?}");
    // The pump stops: the infusion ends, with its start kept.
    again.push(pump_says(t(9), PumpState::Idle, None, 5001));
    let r = records(&again.step(t(9)));
    assert_eq!(r[0].change, InfusionChange::Ended);
    assert_eq!(r[0].started_at, t(1));
}

#[test]
fn a_wrong_weight_basic_mode_and_a_drug_the_library_does_not_have() {
    let mut h = infusing_hospital();
    h.apply(Command::Census {
        op: crate::census::CensusOp::Assess {
            patient: "P-1001".into(),
            values: vec![(
                orderly_model::census::ObservationFact::Weight,
                crate::census::Value::Kg(50.0),
                None,
            )],
        },
        origin: crate::census::Origin {
            by: "test".into(),
            ..Default::default()
        },
    })
    .unwrap();
    h.push(pump_says(
        t(1),
        PumpState::Infusing,
        Some(heparin(20.0, 1.0)),
        0,
    ));
    let ev = h.step(t(1));
    // 20 units/kg/h for 80 kg is 32 units/kg/h for the 50 kg patient: past the soft max, and
    // the weight is wrong.
    let a = raised(&ev);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].rule, "infusion-weight-mismatch");
    assert!(
        a[0].message
            .contains("80.0 kg on the pump, 50.0 kg in the census"),
        "{}",
        a[0].message
    );
    assert_eq!(records(&ev)[0].standing, Standing::AboveSoft);

    // Basic mode, a minute on: an advisory.
    let basic = Infusion {
        library: false,
        profile: Some("critical-care".into()),
        rate_ml_h: 100.0,
        vtbi_ml: Some(1000.0),
        ..Infusion::default()
    };
    let mut ev = Vec::new();
    for s in 2..70 {
        h.push(pump_says(t(s), PumpState::Infusing, Some(basic.clone()), 0));
        ev.extend(h.step(t(s)));
    }
    let a = raised(&ev);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].rule, "infusion-basic-mode");
    assert_eq!(a[0].priority, Priority::Advisory);

    // A drug Orderly's library does not have: counted, never an alert.
    let before = h
        .ingest_stats()
        .view()
        .by_reason
        .get(&RejectReason::UnknownDrug)
        .copied();
    let mut odd = heparin(500.0, 0.0);
    odd.drug = Some("Heparin sodium (old library)".into());
    let mut ev = Vec::new();
    for s in 70..80 {
        h.push(pump_says(t(s), PumpState::Infusing, Some(odd.clone()), 0));
        ev.extend(h.step(t(s)));
    }
    assert!(raised(&ev).is_empty(), "{:?}", raised(&ev));
    let view = h.ingest_stats().view();
    assert_eq!(
        view.by_reason
            .get(&RejectReason::UnknownDrug)
            .copied()
            .unwrap_or(0)
            - before.unwrap_or(0),
        10
    );
    assert!(
        view.recent
            .last()
            .unwrap()
            .detail
            .contains("Heparin sodium (old library) 25000 units/250 mL is not in the drug library"),
        "{:?}",
        view.recent.last()
    );
    // The pump's own state still counts: it is in use.
    assert_eq!(h.snapshot().assets["PUMP-0001"].status, AssetStatus::InUse);
}

#[test]
fn an_infusion_about_to_end_reminds_the_station_and_a_new_bag_is_a_new_infusion() {
    let mut h = infusing_hospital();
    // 250 mL at 14.4 mL/h: 12 mL left is 50 min; 2 mL left is about 8 min.
    h.push(pump_says(
        t(1),
        PumpState::Infusing,
        Some(heparin(18.0, 238.0)),
        0,
    ));
    assert!(raised(&h.step(t(1))).is_empty());
    h.push(pump_says(
        t(2),
        PumpState::Infusing,
        Some(heparin(18.0, 248.0)),
        0,
    ));
    let a = raised(&h.step(t(2)));
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].rule, "infusion-ending");
    assert!(
        a[0].message.contains("ends in about 8.3 min"),
        "{}",
        a[0].message
    );
    // The new bag: the old infusion ends, a new one starts.
    h.push(pump_says(
        t(3),
        PumpState::Infusing,
        Some(heparin(18.0, 0.0)),
        0,
    ));
    let r = records(&h.step(t(3)));
    assert_eq!(
        r.iter().map(|r| r.change).collect::<Vec<_>>(),
        [InfusionChange::Ended, InfusionChange::Started]
    );
}

#[test]
fn without_a_drug_library_infusions_are_recorded_unchecked_and_nothing_is_rejected() {
    let (fp, seed) = site();
    let mut h = Hospital::new(fp, &seed, WorldConfig::default(), rules(&infusion_rules()));
    h.push(sighting(t(0), "rx-f2-icu-01", "TP-0001", -55.0, true));
    h.step(t(0));
    h.push(pump_says(
        t(1),
        PumpState::Infusing,
        Some(heparin(45.0, 1.0)),
        0,
    ));
    let ev = h.step(t(1));
    let r = records(&ev);
    assert_eq!((r.len(), r[0].standing), (1, Standing::None), "{r:?}");
    assert!(raised(&ev).is_empty(), "{:?}", raised(&ev));
    assert_eq!(h.ingest_stats().view().rejected, 0);
}
