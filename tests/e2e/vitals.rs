//! Vital signs end to end: a nurse's spot check over MQTT crosses into NEWS2 5-6 and the urgent
//! response reaches the unit's station within a second of the message; impossible values are
//! counted and score nothing.

use orderly_tests::{Device, Setup, now_rfc3339};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a_spot_check_crossing_into_news2_5_reaches_the_station_within_a_second() {
    let setup = Setup::new();
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    let topic = o.topic("wearable/W-1002/vitals");
    // Impossible: refused with the reason, no score.
    dev.json(
        &topic,
        &json!({"ts": now_rfc3339(), "mode": "spot", "spo2": 140}),
    );
    o.wait_until("the refusal counted", Duration::from_secs(10), || {
        let (_, ingest) = o.get("/api/v1/ingest");
        ingest.to_string().contains("out_of_range")
    });
    let sent = Instant::now();
    // RR 24 (2), SpO2 94 (1), air, SBP 105 (1), pulse 95 (1), alert, 37.0: NEWS2 5.
    dev.json(
        &topic,
        &json!({"ts": now_rfc3339(), "mode": "spot", "respiration_rate": 24, "spo2": 94,
                "on_oxygen": false, "systolic": 105, "pulse": 95, "consciousness": "alert",
                "temperature_c": 37.0}),
    );
    // Read from the unit's stream (committed events replayed, then live) until it is there.
    let got = o.stream(
        "after=0&kind=alert.raised&unit=ICU",
        Duration::from_secs(20),
        |e| e.iter().any(|a| a["rule"] == "news2-medium"),
    );
    let took = sent.elapsed();
    let a = got
        .iter()
        .find(|a| a["rule"] == "news2-medium")
        .expect("the NEWS2 5-6 alert on the ICU stream");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(a["message"].as_str().unwrap().contains("Ada Petrov"), "{a}");
    let (_, p) = o.get("/api/v1/units/ICU/beds");
    let bed = p
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bed"] == "BED-ICU-02")
        .unwrap()
        .clone();
    assert_eq!(bed["patient"]["news2"]["aggregate"], 5, "{bed}");
}
