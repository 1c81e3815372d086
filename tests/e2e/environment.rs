//! The environment of care end to end: fridge readings over MQTT (a backlog stamped with the
//! sensor's own times, as after an outage), the excursion alert after the set time at the
//! fridge's unit, the daily log (JSON and CSV) and the Environment page.

use orderly_tests::{Device, Setup};
use serde_json::{Value, json};
use std::time::Duration;

/// RFC 3339 of `minutes` ago.
fn ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn reading(minutes_ago: i64, temp: f64) -> Value {
    json!({"ts": ago(minutes_ago), "temperature_c": temp, "door_open": false})
}

#[test]
fn a_fridge_out_of_range_past_the_set_time_alerts_its_unit_and_is_in_the_daily_log() {
    let setup = Setup::new();
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    // The ICU fridge: in range, then 9-10 °C for the last 35 minutes.
    let icu = o.topic("env/env-icu-medfridge/reading");
    dev.json(&icu, &reading(40, 4.6));
    for m in (0..=35).rev().step_by(5) {
        dev.json(&icu, &reading(m, 9.0 + (m % 2) as f64));
    }
    // The 3 West fridge: out for 20 minutes only, so far.
    let ms3 = o.topic("env/env-ms3-medfridge/reading");
    dev.json(&ms3, &reading(25, 5.0));
    for m in (0..=20).rev().step_by(5) {
        dev.json(&ms3, &reading(m, 8.6));
    }
    // A sensor nobody registered, and a reading no probe can give.
    dev.json(&o.topic("env/env-stranger/reading"), &reading(0, 4.0));
    dev.json(&icu, &json!({"ts": ago(0), "temperature_c": 400.0}));
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    let alerts = |unit: &str, token: &str| -> Vec<Value> {
        let (_, a) = o.get_as(&format!("/api/v1/units/{unit}/alerts"), token);
        a.as_array().cloned().unwrap_or_default()
    };
    o.wait_until(
        "the fridge excursion alert at the ICU station",
        Duration::from_secs(20),
        || {
            alerts("ICU", &nurse)
                .iter()
                .any(|a| a["rule"] == "env-fridge-excursion")
        },
    );
    let a = alerts("ICU", &nurse)
        .into_iter()
        .find(|a| a["rule"] == "env-fridge-excursion")
        .unwrap();
    assert_eq!(a["subject"], "env-icu-medfridge", "{a}");
    let msg = a["message"].as_str().unwrap();
    assert!(
        msg.starts_with("ICU medication fridge in ICU clean utility: temperature above 8 °C for 35 min, peak 10.0 °C (must be temperature 2 to 8 °C)"),
        "{msg}"
    );
    // Bad input is counted per reason and sensor.
    o.wait_until("the bad readings counted", Duration::from_secs(15), || {
        let (_, i) = o.get("/api/v1/ingest");
        i["by_reason"]["unknown_device"] == 1 && i["by_reason"]["out_of_range"] == 1
    });
    let (_, ingest) = o.get("/api/v1/ingest");
    assert_eq!(ingest["by_device"]["env-stranger"], 1, "{ingest}");
    // 20 minutes out is logged, not alerted.
    let admin = setup.token("admin", "Ada Admin", "");
    assert!(
        !alerts("MS3", &admin)
            .iter()
            .any(|a| a["rule"] == "env-fridge-excursion"),
        "20 minutes out is not yet an alert"
    );
    // The sensors now.
    let (status, sensors) = o.get("/api/v1/sensors?unit=ICU");
    assert_eq!(status, 200, "{sensors}");
    let fridge = sensors
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "env-icu-medfridge")
        .cloned()
        .unwrap();
    assert_eq!(fridge["temperature"], "above_soft", "{fridge}");
    assert_eq!(
        fridge["excursions"].as_array().unwrap().len(),
        1,
        "{fridge}"
    );
    // The daily log: both excursions, under way.
    let (status, log) = o.get("/api/v1/reports/environment");
    assert_eq!(status, 200, "{log}");
    let days = log["days"].as_array().unwrap();
    let line =
        |sensor: &str| -> Vec<&Value> { days.iter().filter(|d| d["sensor"] == sensor).collect() };
    let icu_days = line("env-icu-medfridge");
    assert!(!icu_days.is_empty(), "{log}");
    let x: Vec<&Value> = icu_days
        .iter()
        .flat_map(|d| d["excursions"].as_array().unwrap())
        .collect();
    assert_eq!(x[0]["limit"], 8.0, "{log}");
    assert_eq!(x[0]["peak"], 10.0, "{log}");
    assert!(x[0]["ended_at"].is_null(), "{log}");
    let max = icu_days
        .iter()
        .filter_map(|d| d["temperature_c"]["max"].as_f64())
        .fold(f64::MIN, f64::max);
    assert_eq!(max, 10.0, "{log}");
    assert!(!line("env-ms3-medfridge").is_empty(), "{log}");
    let (status, csv) = o.get("/api/v1/reports/environment?format=csv&sensor=env-icu-medfridge");
    assert_eq!(status, 200);
    let csv = csv.as_str().unwrap();
    assert!(
        csv.starts_with("date,sensor,appliance,room,unit,profile,temperature_min_c"),
        "{csv}"
    );
    assert!(
        csv.contains(
            ",env-icu-medfridge,ICU medication fridge,F2-ICU-CLEAN,ICU,medication_fridge,"
        ),
        "{csv}"
    );
    assert!(csv.contains("temperature above 8 °C for"), "{csv}");
    // A nurse sees her unit's sensors only.
    let (_, theirs) = o.get_as("/api/v1/reports/environment", &nurse);
    assert!(
        theirs["days"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["unit"] == "ICU"),
        "{theirs}"
    );
    let (status, body) = o.get("/api/v1/reports/environment?sensor=nope");
    assert_eq!(status, 400, "{body}");
    // The Environment page, when a browser is here.
    if let Ok(b) = orderly_tests::browser::Browser::start(1280, 900) {
        crate::pages::sign_in(&b, &o, &nurse);
        b.goto(&format!("{}/#/environment", o.http));
        b.wait_for(
            "the fridge's card with its excursion",
            Duration::from_secs(30),
            "const c = document.querySelector('[data-sensor=\"env-icu-medfridge\"].sensor'); return !!c && c.classList.contains('alarm') && c.textContent.includes('Temperature 9.0 °C (above range)') && c.textContent.includes('temperature above 8 °C since')",
        );
        b.wait_for(
            "the daily log's line",
            Duration::from_secs(30),
            "const r = document.querySelector('table.env-log tr[data-sensor=\"env-icu-medfridge\"]'); return !!r && r.textContent.includes('10.0 °C') && r.textContent.includes('still out')",
        );
    }
    dev.close();
    o.stop();
}
