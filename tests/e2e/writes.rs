//! Read your writes, for every write endpoint: once a write has answered, the very next read
//! (any endpoint that shows what it changed) shows the change. No waiting, no retry.

use orderly_tests::{Device, Setup, now_rfc3339, raised_bed};
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn ok(r: (u16, Value)) -> Value {
    assert_eq!(r.0, 200, "{}", r.1);
    r.1
}

#[test]
fn every_write_is_seen_by_the_very_next_read() {
    let setup = Setup::new();
    setup.hold("beds.toml", "suggest-bed-low", "5m", "1s");
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);

    // Alerts: three falls in the ICU; acknowledge one, silence one, resolve one.
    for w in ["W-1002", "W-1003", "W-1004"] {
        dev.json(
            &o.topic(&format!("wearable/{w}/event")),
            &json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95}),
        );
    }
    let falls = || -> Vec<Value> {
        let (_, a) = o.get("/api/v1/units/ICU/alerts");
        a.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["priority"] == "high")
            .cloned()
            .collect()
    };
    o.wait_until("three falls", T, || falls().len() == 3);
    let ids: Vec<String> = falls()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    let find = |id: &str| falls().into_iter().find(|a| a["id"] == id);
    ok(o.post(
        &format!("/api/v1/alerts/{}/acknowledge", ids[0]),
        &json!({}),
    ));
    assert_eq!(find(&ids[0]).unwrap()["state"], "acknowledged");
    ok(o.post(
        &format!("/api/v1/alerts/{}/silence", ids[1]),
        &json!({"seconds": 120}),
    ));
    assert!(find(&ids[1]).unwrap()["silenced_until"].is_string());
    ok(o.post(
        &format!("/api/v1/alerts/{}/resolve", ids[2]),
        &json!({"reason": "assessed, no injury"}),
    ));
    assert!(find(&ids[2]).is_none());
    let (_, open) = o.get("/api/v1/alerts/open");
    assert!(!open.to_string().contains(&ids[2]));

    // Equipment status.
    ok(o.post(
        "/api/v1/assets/PUMP-0009/status",
        &json!({"status": "out_of_service", "reason": "cracked housing"}),
    ));
    assert_eq!(
        o.get("/api/v1/assets/PUMP-0009").1["status"],
        "out_of_service"
    );

    // Work orders: opened, then scheduled.
    let wo = ok(o.post(
        "/api/v1/maintenance/work-orders",
        &json!({"asset": "PUMP-0010", "reason": "repair", "detail": "door latch"}),
    ));
    let id = wo["id"].as_str().unwrap();
    let open_orders = || o.get("/api/v1/maintenance/work-orders?status=open").1;
    assert!(open_orders().to_string().contains(id));
    ok(o.post(
        &format!("/api/v1/maintenance/work-orders/{id}"),
        &json!({"action": "schedule", "at": now_rfc3339(), "assignee": "Eng Kim"}),
    ));
    let listed = open_orders();
    let w = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .unwrap();
    assert_eq!(w["status"], "scheduled");

    // Recalls: issued, then closed.
    let (_, p) = o.get("/api/v1/assets/PUMP-0011");
    let rec = ok(o.post(
        "/api/v1/maintenance/recalls",
        &json!({"title": "Door assembly", "model": p["model"], "serials": [p["serial"]], "detail": "replace"}),
    ));
    let rid = rec["recall"]["id"].as_str().unwrap();
    assert!(
        o.get("/api/v1/maintenance/recalls")
            .1
            .to_string()
            .contains(rid)
    );
    ok(o.post(
        &format!("/api/v1/maintenance/recalls/{rid}/close"),
        &json!({"reason": "all fixed"}),
    ));
    let recalls = o.get("/api/v1/maintenance/recalls").1;
    assert!(
        recalls
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["recall"]["id"] != rid || r["recall"]["status"] == "closed"),
        "{recalls}"
    );

    // The census: admit, assess, transfer, discharge; the unit's beds show each at once.
    let bed_of = |bed: &str| -> Value {
        let (_, beds) = o.get("/api/v1/units/ICU/beds");
        beds.as_array()
            .unwrap()
            .iter()
            .find(|b| b["bed"] == bed)
            .cloned()
            .unwrap()
    };
    ok(o.post(
        "/api/v1/patients",
        &json!({"id": "MRN-77", "name": "Ola Berg", "bed": "BED-ICU-05", "morse": 20, "braden": 20}),
    ));
    assert_eq!(bed_of("BED-ICU-05")["patient"]["id"], "MRN-77");
    ok(o.post("/api/v1/patients/MRN-77/assess", &json!({"morse": 60})));
    assert_eq!(bed_of("BED-ICU-05")["patient"]["morse"], 60);
    ok(o.post(
        "/api/v1/patients/MRN-77/transfer",
        &json!({"bed": "BED-ICU-11"}),
    ));
    assert_eq!(bed_of("BED-ICU-11")["patient"]["id"], "MRN-77");
    assert!(bed_of("BED-ICU-05")["patient"].is_null());
    ok(o.post("/api/v1/patients/MRN-77/discharge", &json!({})));
    assert!(bed_of("BED-ICU-11")["patient"].is_null());

    // Bed turnover: the discharged bed, cleaning started.
    let evs = setup.token("facilities", "EVS Sam", "");
    ok(o.post_as(
        "/api/v1/beds/BED-ICU-11/turnover",
        &evs,
        &json!({"action": "start_cleaning"}),
    ));
    assert_eq!(
        bed_of("BED-ICU-11")["asset"]["turnover"]["state"],
        "cleaning"
    );

    // A bed suggestion, dismissed.
    o.heard(&dev, "rx-f2-icu-01", "TB-ICU-01");
    dev.json(&o.topic("bed/bed-icu-01/state"), &raised_bed());
    let pending = || o.get("/api/v1/suggestions?unit=ICU").1;
    o.wait_until("the suggestion", T, || {
        pending().as_array().is_some_and(|s| !s.is_empty())
    });
    let sid = pending()[0]["id"].as_str().unwrap().to_string();
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    ok(o.post_as(
        &format!("/api/v1/suggestions/{sid}/dismiss"),
        &nurse,
        &json!({"reason": "patient asked for it raised"}),
    ));
    assert!(!pending().to_string().contains(&sid));

    // Rules reloaded: the answer says what is in force, and so does the next read.
    let reload = ok(o.post("/api/v1/rules/reload", &json!({})));
    assert_eq!(reload["ok"], true, "{reload}");
    let rules = o.get("/api/v1/rules").1;
    assert!(rules.to_string().contains("suggest-bed-low"), "{rules}");
    dev.close();
    o.stop();
}
