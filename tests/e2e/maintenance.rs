//! Maintenance end to end: pumps' telemetry over the broker, work orders and the pull list
//! through the API.

use orderly_tests::{Device, Setup, now_rfc3339};
use serde_json::{Value, json};
use std::time::Duration;

fn telemetry(state: &str, runtime_hours: f64) -> Value {
    json!({"ts": now_rfc3339(), "state": state, "battery_pct": 95, "on_battery": false,
           "runtime_hours": runtime_hours, "occlusion_alarms_total": 2, "faults": []})
}

/// A pump crossing its runtime interval gets one work order and shows on the pull list with its
/// room; a pump infusing is listed but not pullable.
#[test]
fn a_pump_past_its_runtime_interval_gets_one_work_order_and_is_on_the_pull_list() {
    let setup = Setup::new();
    let o = setup.start();
    let biomed = setup.token("biomed", "Bo Biomed", "ICU");
    let dev = Device::connect(&o.mqtt, None);
    // Pump 7 in the ICU store (IR: certain), pump 8 at a bedside, infusing.
    for (tag, rx) in [("TP-0007", "rx-f2-icu-store"), ("TP-0008", "rx-f2-icu-03")] {
        dev.json(
            &o.topic(&format!("rtls/{rx}/sightings")),
            &json!({"ts": now_rfc3339(), "sightings": [{"tag": tag, "rssi": -50, "ir": true}]}),
        );
    }
    dev.json(
        &o.topic("pump/pump-0007/telemetry"),
        &telemetry("idle", 1999.0),
    );
    dev.json(
        &o.topic("pump/pump-0008/telemetry"),
        &telemetry("infusing", 5999.0),
    );
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        dev.json(
            &o.topic("pump/pump-0007/telemetry"),
            &telemetry("idle", 2000.5),
        );
        dev.json(
            &o.topic("pump/pump-0008/telemetry"),
            &telemetry("infusing", 6000.1),
        );
    }
    let opened = o.stream(
        "after=0&kind=workorder.opened",
        Duration::from_secs(20),
        |e| e.len() >= 2,
    );
    let mut got: Vec<(&str, &str)> = opened
        .iter()
        .map(|w| (w["asset"].as_str().unwrap(), w["reason"].as_str().unwrap()))
        .collect();
    got.sort();
    assert_eq!(got, [("PUMP-0007", "runtime"), ("PUMP-0008", "runtime")]);
    // Still one each a moment later.
    std::thread::sleep(Duration::from_secs(1));
    let (_, open) = o.get_as("/api/v1/maintenance/work-orders?status=open", &biomed);
    assert_eq!(open.as_array().unwrap().len(), 2, "{open}");
    let mut list = Value::Null;
    o.wait_until("the pull list", Duration::from_secs(10), || {
        list = o
            .get_as("/api/v1/maintenance/pull-list?from=F1-BIOMED", &biomed)
            .1;
        list["items"].as_array().is_some_and(|i| {
            i.iter()
                .any(|x| x["asset"] == "PUMP-0007" && x["room"] == "F2-ICU-STORE")
        })
    });
    let item = |id: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["asset"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(item("PUMP-0007")["pullable"], true);
    assert_eq!(item("PUMP-0008")["pullable"], false);
    assert_eq!(item("PUMP-0008")["room"], "F2-ICU-03");
    assert!(
        list["round"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["room"] == "F2-ICU-STORE" && s["assets"][0] == "PUMP-0007"),
        "{list}"
    );
    dev.close();
    o.stop();
}

/// A recall takes effect at once: its pumps are out of service in the answer, and one that is
/// running raises a high alert to its unit's station and biomed.
#[test]
fn a_recall_takes_effect_at_once_and_a_recalled_pump_running_is_alerted() {
    let setup = Setup::new();
    let o = setup.start();
    let biomed = setup.token("biomed", "Bo Biomed", "ICU");
    let dev = Device::connect(&o.mqtt, None);
    dev.json(
        &o.topic("rtls/rx-f2-icu-03/sightings"),
        &json!({"ts": now_rfc3339(), "sightings": [{"tag": "TP-0011", "rssi": -50, "ir": true}]}),
    );
    let (status, r) = o.post_as(
        "/api/v1/maintenance/recalls",
        &biomed,
        &json!({"title": "Occlusion sensor may fail", "model": "Alaris 8100 LVP",
                "serials": ["PUMPSN-0011", "PUMPSN-0012"]}),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["recall"]["assets"], json!(["PUMP-0011", "PUMP-0012"]));
    // In the answer itself, and in the asset's view straight after.
    assert!(
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "out_of_service"),
        "{r}"
    );
    let (_, a) = o.get_as("/api/v1/assets/PUMP-0011", &biomed);
    assert_eq!(a["status"], "out_of_service", "{a}");
    // Someone starts the recalled pump at the bedside.
    dev.json(
        &o.topic("pump/pump-0011/telemetry"),
        &telemetry("infusing", 321.0),
    );
    let raised = o.stream("after=0&kind=alert.raised", Duration::from_secs(15), |e| {
        e.iter().any(|a| a["rule"] == "recalled-pump-in-use")
    });
    let a = raised
        .iter()
        .find(|a| a["rule"] == "recalled-pump-in-use")
        .expect("recalled-pump-in-use");
    assert_eq!(a["subject"], "PUMP-0011");
    assert_eq!(a["priority"], "high");
    assert_eq!(a["room"], "F2-ICU-03");
    assert!(
        a["audience"]
            .as_array()
            .unwrap()
            .contains(&json!("role:biomed")),
        "{a}"
    );
    dev.close();
    o.stop();
}
