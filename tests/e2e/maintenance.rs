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
