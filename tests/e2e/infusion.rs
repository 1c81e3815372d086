//! Infusion safety end to end: a pump's telemetry over MQTT, checked against the shipped drug
//! library, an alert at its patient's station, the counts in the report and the ingest view.

use orderly_tests::{Device, Setup, now_rfc3339};
use serde_json::{Value, json};
use std::time::Duration;

fn telemetry(dose: f64, infused: f64, drug: &str, overrides: u64) -> Value {
    json!({"ts": now_rfc3339(), "state": "infusing", "battery_pct": 90,
           "soft_overrides_total": overrides, "hard_stops_total": 0,
           "infusion": {"library": true, "profile": "critical-care", "drug": drug,
                        "concentration": "25000 units/250 mL", "dose": dose,
                        "dose_unit": "units/kg/h", "weight_kg": 80, "rate_ml_h": dose * 0.8,
                        "vtbi_ml": 250, "infused_ml": infused}})
}

#[test]
fn a_pump_past_the_hard_limit_alerts_its_patients_station_and_the_report_counts_it() {
    let setup = Setup::new();
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    // PUMP-0001 at the bedside in ICU room 1 (Ben Rossi's bed).
    dev.json(
        &o.topic("rtls/rx-f2-icu-01/sightings"),
        &json!({"ts": now_rfc3339(), "sightings": [{"tag": "TP-0001", "rssi": -55, "ir": true}]}),
    );
    o.wait_until("PUMP-0001 in ICU room 1", Duration::from_secs(15), || {
        o.get("/api/v1/assets/PUMP-0001").1["location"]["room"] == "F2-ICU-01"
    });
    let pump = o.topic("pump/pump-0001/telemetry");
    dev.json(&pump, &telemetry(18.0, 1.0, "Heparin", 3));
    // Reprogrammed to 45 units/kg/h: the library's hard maximum is 40.
    dev.json(&pump, &telemetry(45.0, 1.5, "Heparin", 3));
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    let alert = || -> Option<Value> {
        let (_, a) = o.get_as("/api/v1/units/ICU/alerts", &nurse);
        a.as_array()?
            .iter()
            .find(|a| a["rule"] == "infusion-past-hard-limit")
            .cloned()
    };
    o.wait_until(
        "the hard-limit alert at the ICU station",
        Duration::from_secs(20),
        || alert().is_some(),
    );
    let a = alert().unwrap();
    assert_eq!(a["priority"], "high", "{a}");
    assert_eq!(a["subject"], "PUMP-0001", "{a}");
    assert!(
        a["audience"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "station:ICU"),
        "{a}"
    );
    let msg = a["message"].as_str().unwrap();
    assert!(
        msg.contains("ICU room 1")
            && msg.contains("Heparin at 45 units/kg/h, past the library's hard max 40 units/kg/h"),
        "{msg}"
    );
    // The pump's view says what it gives and where that stands.
    let (_, pump_view) = o.get("/api/v1/assets/PUMP-0001");
    let inf = &pump_view["infusion"];
    assert_eq!(inf["drug"], "Heparin", "{pump_view}");
    assert_eq!(inf["limit"], "above_hard", "{pump_view}");
    assert_eq!(inf["crossed"], "hard max 40 units/kg/h", "{pump_view}");
    assert_eq!(inf["patient"], "P-1001", "{pump_view}");
    // And so does the floor map's room card, when a browser is here.
    if let Ok(b) = orderly_tests::browser::Browser::start(1280, 900) {
        crate::pages::sign_in(&b, &o, &nurse);
        b.goto(&format!("{}/#/map?floor=F2", o.http));
        b.wait_for(
            "the second floor",
            Duration::from_secs(30),
            "return document.querySelector('svg.map')?.dataset.floor === 'F2'",
        );
        b.click(".room[data-room=\"F2-ICU-01\"]");
        b.wait_for(
            "the pump's infusion on the room card",
            Duration::from_secs(30),
            "const c = document.getElementById('roomcard'); return !!c && c.textContent.includes(\"PUMP-0001\") && c.textContent.includes(\"infusing Heparin 45 units/kg/h, ✖ past the library's hard max 40 units/kg/h\")",
        );
    }
    // A drug the library does not have: counted and named, no alert.
    dev.json(&pump, &telemetry(500.0, 0.0, "Heparin (old library)", 3));
    o.wait_until("the unknown drug counted", Duration::from_secs(15), || {
        o.get("/api/v1/ingest").1["by_reason"]["unknown_drug"] == 1
    });
    let (_, ingest) = o.get("/api/v1/ingest");
    let recent = ingest["recent"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(recent["device"], "pump-0001", "{recent}");
    assert!(
        recent["detail"]
            .as_str()
            .unwrap()
            .contains("Heparin (old library) 25000 units/250 mL is not in the drug library"),
        "{recent}"
    );
    // The report: one heparin infusion started with the library in the ICU (the second program,
    // a new drug name, started another that was not checked).
    let (status, report) = o.get("/api/v1/reports/infusion");
    assert_eq!(status, 200, "{report}");
    let icu = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["key"] == "ICU")
        .cloned()
        .unwrap();
    assert_eq!(icu["infusions"], 2, "{report}");
    assert_eq!(icu["with_library"], 2, "{report}");
    assert!(icu["alerts"].as_u64().unwrap() >= 1, "{report}");
    let (status, csv) = o.get("/api/v1/reports/infusion?format=csv");
    assert_eq!(status, 200);
    let csv = csv.as_str().unwrap();
    assert!(csv.contains("\nunit,ICU,2,2,1.000,"), "{csv}");
    // Bad parameters are named.
    let (status, body) = o.get("/api/v1/reports/infusion?unit=NOPE");
    assert_eq!(status, 400, "{body}");
    dev.close();
    o.stop();
}
