//! A simulated three days of the demo hospital's environment sensors (fridges, a freezer, an
//! occupied isolation room), through the world Orderly runs with the shipped profiles and
//! rules: every compressor failure and door left open is told, nothing else is (restocking
//! and a door held open for a minute are logged, never alerted), and the daily log holds
//! every excursion the world recorded (issue 23).

use orderly_floorplan::Floorplan;
use orderly_model::environment::{Excursion, Summary, daily_log};
use orderly_model::{Alert, EventKind, Seed, Timestamp};
use orderly_sim::environment::{EnvSim, Incident};
use orderly_sim::{SimConfig, Simulator, Truth};
use orderly_world::{Hospital, rules_dir};
use std::sync::Arc;

const FLOORPLAN: &str = include_str!("../../../floorplans/demo.toml");
const SEED: &str = include_str!("../../../floorplans/demo-seed.toml");

#[test]
fn three_simulated_days_of_sensors_alert_every_incident_and_nothing_else() {
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    // The demo's sensors, and Ben Rossi in the isolation room (the rest of the hospital is
    // not needed here).
    let sensors = &SEED[SEED.find("[[sensor]]").unwrap()..];
    let seed_text = format!(
        "[[asset]]\nid = \"BED-ICU-01\"\nkind = \"bed\"\nunit = \"ICU\"\nposition = \"ICU-01\"\n\n\
         [[patient]]\nid = \"P-1001\"\nname = \"Ben Rossi\"\nbed = \"BED-ICU-01\"\nmorse = 30\nbraden = 14\nventilated = false\nelopement_risk = false\n\n{sensors}"
    );
    let seed = Seed::parse("env-seed.toml", &seed_text).unwrap();
    let files: Vec<(String, String)> = rules_dir::bundled()
        .into_iter()
        .filter(|(n, _)| {
            [
                "detectors.toml",
                "environment.toml",
                "environment-alerts.toml",
            ]
            .iter()
            .any(|f| n.contains(f))
        })
        .collect();
    let bundle = rules_dir::compile(&files, &orderly_world::known(&fp, &seed)).unwrap();
    let start = Timestamp(1_795_000_000_000);
    // Three days (a week's incidents at raised rates): light enough to run beside the
    // timed page tests.
    let days = 3;
    let mut sim = Simulator::new(
        fp.clone(),
        &seed,
        SimConfig {
            seed: 23,
            receiver_period_ms: 3_600_000,
            equipment_moves_per_hour: 0.0,
            bed_exits_per_hour: 0.0,
            falls_per_hour: 0.0,
            pump_alarms_per_hour: 0.0,
            environment: Some(EnvSim {
                // More incidents than a hospital has, so a week has plenty of each.
                doors_left_open_per_day: 2.0,
                compressor_failures_per_day: 0.7,
                fan_failures_per_day: 2.5,
                isolation_doors_per_hour: 0.6,
                ..EnvSim::new(Arc::new(bundle.config.environment.clone()))
            }),
            ..SimConfig::default()
        },
        start,
    );
    let topics = orderly_mqtt::Topics::new(&fp.site.id);
    let mut h = Hospital::new(fp.clone(), &seed, bundle.config, Arc::new(bundle.rules));
    let (mut alerts, mut excursions, mut summaries): (Vec<Alert>, Vec<Excursion>, Vec<Summary>) =
        Default::default();
    let mut now = start;
    while now.millis() < start.millis() + days * 86_400_000 {
        now = now.plus_ms(60_000);
        for m in sim.advance(now) {
            if !m.topic.contains("/env/") {
                continue;
            }
            let bytes = serde_json::to_vec(&m.payload).unwrap();
            h.push(orderly_mqtt::decode(&topics, &m.topic, &bytes, m.at));
        }
        for e in h.step(now) {
            match e.kind {
                EventKind::AlertRaised(a) => alerts.push(*a),
                EventKind::EnvExcursion(x) => excursions.push(*x),
                EventKind::EnvSummary(s) => summaries.push(*s),
                _ => {}
            }
        }
    }
    let truth: Vec<(Timestamp, String, Incident, Timestamp)> = sim
        .take_truth()
        .into_iter()
        .filter_map(|t| match t {
            Truth::EnvIncident {
                at,
                sensor,
                incident,
                until,
            } => Some((at, sensor, incident, until)),
            _ => None,
        })
        .collect();
    let count = |i: Incident| truth.iter().filter(|t| t.2 == i).count();
    let rule = |r: &str| alerts.iter().filter(|a| a.rule == r).count();
    eprintln!(
        "three days: incidents {} compressor failures, {} doors left open, {} isolation doors held open, {} fan failures; {} excursions; alerts {} fridge, {} freezer, {} hard limit, {} door, {} isolation, {} silent",
        count(Incident::CompressorFailure),
        count(Incident::DoorLeftOpen),
        count(Incident::DoorHeldOpen),
        count(Incident::FanFailure),
        excursions.iter().filter(|x| x.ended_at.is_none()).count(),
        rule("env-fridge-excursion"),
        rule("env-freezer-excursion"),
        rule("env-fridge-hard-limit"),
        rule("env-door-open"),
        rule("env-isolation-pressure"),
        rule("env-sensor-silent"),
    );
    assert!(count(Incident::CompressorFailure) >= 3 && count(Incident::DoorLeftOpen) >= 5);
    assert!(count(Incident::FanFailure) >= 2 && count(Incident::DoorHeldOpen) >= 15);
    // Every alert is explained by an incident on its sensor under way (or just over: a fridge
    // takes a while to cool again).
    let explains = |a: &Alert, kinds: &[Incident], after_ms: i64| {
        truth.iter().any(|(at, s, i, until)| {
            *s == a.subject
                && kinds.contains(i)
                && *at <= a.raised_at
                && a.raised_at.millis() <= until.millis() + after_ms
        })
    };
    let cold = [Incident::CompressorFailure, Incident::DoorLeftOpen];
    for a in &alerts {
        let ok = match a.rule.as_str() {
            "env-fridge-excursion" | "env-freezer-excursion" | "env-fridge-hard-limit" => {
                explains(a, &cold, 3 * 3_600_000)
            }
            "env-door-open" => explains(a, &[Incident::DoorLeftOpen], 0),
            "env-isolation-pressure" => {
                explains(a, &[Incident::FanFailure, Incident::DoorHeldOpen], 0)
            }
            _ => false,
        };
        assert!(
            ok,
            "an alert no incident explains: {} on {} at {}",
            a.rule,
            a.subject,
            a.raised_at.to_rfc3339()
        );
    }
    // Every compressor failure is told within two hours; every door left open past five
    // minutes within six; every fan failure past ten minutes within twelve.
    let told = |sensor: &str, rules: &[&str], from: Timestamp, within_ms: i64| {
        alerts.iter().any(|a| {
            a.subject == sensor
                && rules.contains(&a.rule.as_str())
                && a.raised_at.millis() + 60_000 >= from.millis()
                && a.raised_at.millis() <= from.millis() + within_ms
        })
    };
    let end = now;
    for (at, sensor, incident, until) in &truth {
        let lasts = until.millis().min(end.millis()) - at.millis();
        let (rules, within): (&[&str], i64) = match incident {
            Incident::CompressorFailure => (
                &[
                    "env-fridge-excursion",
                    "env-freezer-excursion",
                    "env-fridge-hard-limit",
                ],
                2 * 3_600_000,
            ),
            Incident::DoorLeftOpen if lasts > 6 * 60_000 => (&["env-door-open"], 6 * 60_000),
            Incident::FanFailure if lasts > 12 * 60_000 => {
                (&["env-isolation-pressure"], 12 * 60_000)
            }
            _ => continue,
        };
        if *incident == Incident::CompressorFailure && lasts < 2 * 3_600_000 {
            continue;
        }
        assert!(
            told(sensor, rules, *at, within),
            "{incident:?} on {sensor} at {} was not told",
            at.to_rfc3339()
        );
    }
    assert_eq!(rule("env-sensor-silent"), 0);
    // The daily log: every excursion recorded is in it, and full days have 24 hours each.
    let last: std::collections::BTreeMap<_, _> = excursions
        .iter()
        .map(|x| {
            (
                (x.place.sensor.clone(), x.quantity, x.started_at),
                x.clone(),
            )
        })
        .collect();
    let log = daily_log(&summaries, &last.values().cloned().collect::<Vec<_>>(), end);
    let logged: std::collections::BTreeSet<_> = log
        .iter()
        .flat_map(|d| {
            d.excursions
                .iter()
                .map(|x| (x.place.sensor.clone(), x.started_at))
        })
        .collect();
    assert_eq!(logged.len(), last.len());
    let full_days: Vec<_> = log.iter().filter(|d| d.hours == 24).collect();
    assert!(
        full_days.len() >= 6 * (days as usize - 2),
        "{}",
        full_days.len()
    );
    assert!(full_days.iter().all(|d| d.readings >= 24 * 59));
}
