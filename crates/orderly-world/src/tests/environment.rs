//! The environment of care: sensors against their profiles, excursions, the hour's figures.

use super::*;
use orderly_model::environment::{EnvReading, Excursion, Quantity, Summary};
use orderly_model::infusion::Standing;

fn env_config() -> WorldConfig {
    WorldConfig {
        environment: orderly_model::environment::parse(
            "environment.toml",
            include_str!("../../../../rules/environment.toml"),
        )
        .unwrap(),
        ..WorldConfig::default()
    }
}

fn env_hospital() -> Hospital {
    let (fp, seed) = site();
    let files: Vec<_> = rules_dir::BUNDLED
        .into_iter()
        .filter(|(n, _)| *n == "rules/environment-alerts.toml")
        .collect();
    Hospital::new(fp, &seed, env_config(), rules(&files))
}

fn reads(at: Timestamp, sensor: &str, r: EnvReading) -> Inbound {
    Inbound::Reading(Reading {
        at,
        device: sensor.into(),
        ts: at,
        seq: None,
        payload: Payload::EnvReading(r),
    })
}

fn temp(c: f64) -> EnvReading {
    EnvReading {
        temperature_c: Some(c),
        door_open: Some(false),
        ..EnvReading::default()
    }
}

fn excursions(ev: &[OutEvent]) -> Vec<Excursion> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::EnvExcursion(x) => Some((**x).clone()),
            _ => None,
        })
        .collect()
}

fn summaries(ev: &[OutEvent]) -> Vec<Summary> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::EnvSummary(x) => Some((**x).clone()),
            _ => None,
        })
        .collect()
}

fn raised_by(ev: &[OutEvent], rule: &str) -> Vec<Alert> {
    ev.iter()
        .filter_map(|e| match &e.kind {
            EventKind::AlertRaised(a) if a.rule == rule => Some((**a).clone()),
            _ => None,
        })
        .collect()
}

/// One reading a minute from `sensor` for minutes `from..to`, each of `f(minute)`.
fn minutes(
    h: &mut Hospital,
    sensor: &str,
    from: i64,
    to: i64,
    f: impl Fn(i64) -> EnvReading,
) -> Vec<OutEvent> {
    let mut out = Vec::new();
    for m in from..to {
        h.push(reads(t(m * 60), sensor, f(m)));
        out.extend(h.step(t(m * 60)));
    }
    out
}

#[test]
fn a_fridge_out_of_range_alerts_after_half_an_hour_and_its_excursion_is_logged() {
    let mut h = env_hospital();
    let s = "env-icu-medfridge";
    let ev = minutes(&mut h, s, 0, 5, |_| temp(4.5));
    assert!(excursions(&ev).is_empty());
    // The compressor fails: 9-10 °C for 40 minutes.
    let ev = minutes(&mut h, s, 5, 34, |m| temp(9.0 + (m % 3) as f64 * 0.5));
    let x = excursions(&ev);
    assert_eq!(x.len(), 1, "{x:?}");
    assert_eq!(x[0].quantity, Quantity::Temperature);
    assert_eq!(x[0].standing, Standing::AboveSoft);
    assert_eq!(x[0].limit, 8.0);
    assert_eq!(x[0].started_at, t(5 * 60));
    assert_eq!(x[0].place.unit.as_deref(), Some("ICU"));
    assert!(x[0].ended_at.is_none());
    // 29 minutes out: logged, nobody told yet.
    assert!(raised_by(&ev, "env-fridge-excursion").is_empty());
    let ev = minutes(&mut h, s, 34, 45, |_| temp(9.5));
    let a = raised_by(&ev, "env-fridge-excursion");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].unit.as_deref(), Some("ICU"));
    assert!(
        a[0].message.starts_with("ICU medication fridge in ICU clean utility: temperature above 8 °C for 30 min, peak 10.0 °C (must be temperature 2 to 8 °C)"),
        "{}",
        a[0].message
    );
    let snap = h.snapshot();
    let v = &snap.sensors[s];
    assert_eq!(v.temperature, Standing::AboveSoft);
    assert_eq!(v.excursions.len(), 1);
    // Fixed: back in range, the excursion ends with its peak and the alert clears.
    let ev = minutes(&mut h, s, 45, 52, |_| temp(5.0));
    let x = excursions(&ev);
    assert_eq!(x.len(), 1);
    assert_eq!(x[0].ended_at, Some(t(45 * 60)));
    assert_eq!(x[0].peak, 10.0);
    assert!(
        ev.iter().any(
            |e| matches!(&e.kind, EventKind::AlertResolved(a) if a.rule == "env-fridge-excursion")
        ),
        "the alert clears once the fridge is back in range"
    );
}

#[test]
fn a_reading_past_a_hard_limit_is_a_high_alert_at_once() {
    let mut h = env_hospital();
    let ev = minutes(&mut h, "env-ms3-medfridge", 0, 2, |m| {
        temp(if m == 0 { 4.0 } else { -1.0 })
    });
    let a = raised_by(&ev, "env-fridge-hard-limit");
    assert_eq!(a.len(), 1, "{ev:?}");
    assert_eq!(a[0].priority, Priority::High);
    assert_eq!(a[0].unit.as_deref(), Some("MS3"));
    let x = excursions(&ev);
    assert_eq!(x[0].standing, Standing::BelowHard);
    assert_eq!(x[0].limit, 0.0);
}

#[test]
fn an_isolation_room_losing_pressure_alerts_only_while_occupied() {
    let mut h = env_hospital();
    let pressure = |p: f64| EnvReading {
        pressure_pa: Some(p),
        door_open: Some(false),
        ..EnvReading::default()
    };
    // ICU room 1 has Ben Rossi's bed; the pressure goes to -1 Pa (not negative enough).
    let ev = minutes(&mut h, "env-icu-01-pressure", 0, 12, |m| {
        pressure(if m < 1 { -8.0 } else { -1.0 })
    });
    let a = raised_by(&ev, "env-isolation-pressure");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].room.as_deref(), Some("F2-ICU-01"));
    assert!(
        a[0].audience.iter().any(|x| x == "role:facilities"),
        "{:?}",
        a[0].audience
    );
    // A door opened briefly is an excursion in the log, not an alert.
    let mut h = env_hospital();
    let ev = minutes(&mut h, "env-icu-01-pressure", 0, 20, |m| {
        pressure(if (5..8).contains(&m) { 0.5 } else { -8.0 })
    });
    assert!(raised_by(&ev, "env-isolation-pressure").is_empty());
    let x = excursions(&ev);
    assert_eq!(x.len(), 2, "start and end: {x:?}");
    assert_eq!(x[1].standing, Standing::AboveHard);
}

#[test]
fn a_door_left_open_and_a_silent_sensor_are_told() {
    let mut h = env_hospital();
    let ev = minutes(&mut h, "env-ed-vaccine", 0, 8, |m| EnvReading {
        temperature_c: Some(5.0),
        door_open: Some(m >= 1),
        ..EnvReading::default()
    });
    let a = raised_by(&ev, "env-door-open");
    assert_eq!(a.len(), 1);
    assert!(a[0].message.contains("open 5 min"), "{}", a[0].message);
    // The other sensors have said nothing since the start: at 30 minutes each is silent.
    let mut ev = Vec::new();
    for m in 8..32 {
        ev.extend(h.step(t(m * 60)));
    }
    let silent = raised_by(&ev, "env-sensor-silent");
    assert!(
        silent.iter().any(|a| a.subject == "env-icu-freezer"),
        "{silent:?}"
    );
    // The vaccine fridge spoke at minute 7: silent from minute 37.
    assert!(!silent.iter().any(|a| a.subject == "env-ed-vaccine"));
    let mut ev = Vec::new();
    for m in 32..38 {
        ev.extend(h.step(t(m * 60)));
    }
    let silent = raised_by(&ev, "env-sensor-silent");
    assert_eq!(silent.len(), 1, "{silent:?}");
    assert_eq!(silent[0].subject, "env-ed-vaccine");
    assert!(
        silent[0].message.contains("sent nothing for 30 min"),
        "{}",
        silent[0].message
    );
}

#[test]
fn each_hour_is_summarised_once_with_its_minimum_maximum_and_door_time() {
    let mut h = env_hospital();
    // Start at a whole hour: t(0) is 1_795_000_000 s, 1_795_000_000 % 3600 = 2800 s into an hour.
    let base = 800;
    let ev = minutes(&mut h, "env-ms4-medfridge", 0, 75, |m| EnvReading {
        temperature_c: Some(4.0 + (m % 10) as f64 * 0.1),
        door_open: Some((20..23).contains(&(m + base / 60))),
        ..EnvReading::default()
    });
    let s = summaries(&ev);
    assert_eq!(s.len(), 1, "{s:?}");
    let t0 = s[0].temperature_c.unwrap();
    assert_eq!((t0.min, t0.max), (4.0, 4.9));
    assert_eq!(s[0].to.0 - s[0].from.0, 3_600_000);
    assert!(s[0].readings > 0 && s[0].readings <= 60);
    // A sensor that stops: its hour is written after the hour (and a grace) is over.
    let mut ev = Vec::new();
    for m in 75..140 {
        ev.extend(h.step(t(m * 60)));
    }
    assert_eq!(summaries(&ev).len(), 1);
}

#[test]
fn an_excursion_under_way_at_a_restart_keeps_its_minutes() {
    let mut h = env_hospital();
    let ev = minutes(&mut h, "env-icu-medfridge", 0, 20, |_| temp(9.0));
    let open = excursions(&ev);
    assert_eq!(open.len(), 1);
    // Restart at minute 20: the excursion started at minute 0 comes back.
    let mut h = env_hospital();
    h.restore(Restored {
        excursions: open.clone(),
        ..Restored::default()
    });
    let ev = minutes(&mut h, "env-icu-medfridge", 20, 31, |_| temp(9.0));
    assert!(excursions(&ev).is_empty(), "no second start");
    let a = raised_by(&ev, "env-fridge-excursion");
    assert_eq!(
        a.len(),
        1,
        "30 minutes after it started, not 30 after the restart"
    );
}

#[test]
fn readings_from_an_unregistered_sensor_are_counted_and_change_nothing() {
    let mut h = env_hospital();
    h.push(reads(t(0), "env-nobody", temp(30.0)));
    let ev = h.step(t(0));
    assert!(excursions(&ev).is_empty());
    let snap = h.snapshot();
    assert_eq!(
        snap.ingest.by_reason.get(&RejectReason::UnknownDevice),
        Some(&1)
    );
    assert_eq!(snap.ingest.by_device.get("env-nobody"), Some(&1));
}

#[test]
fn an_outage_of_the_feed_raises_no_silence_alert() {
    let mut h = env_hospital();
    let ev = minutes(&mut h, "env-icu-medfridge", 0, 5, |_| temp(4.5));
    assert!(raised_by(&ev, "env-sensor-silent").is_empty());
    // The broker is down from minute 5 to minute 45: nothing arrives, nothing is silent.
    h.set_feed_live(false, t(5 * 60));
    let mut ev = Vec::new();
    for m in 5..45 {
        ev.extend(h.step(t(m * 60)));
    }
    h.set_feed_live(true, t(45 * 60));
    for m in 45..70 {
        ev.extend(h.step(t(m * 60)));
    }
    assert!(
        raised_by(&ev, "env-sensor-silent").is_empty(),
        "silence counts from when the feed came back"
    );
    // Still nothing 30 minutes after the feed came back: now it is the sensor.
    for m in 70..77 {
        ev.extend(h.step(t(m * 60)));
    }
    assert!(!raised_by(&ev, "env-sensor-silent").is_empty());
}
