//! Rules as files: hot reload without losing state, rejected sets, alerts across a crash.

use orderly_tests::{Device, Setup, now_rfc3339};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn sightings(tag: &str) -> Value {
    json!({"ts": now_rfc3339(), "sightings": [{"tag": tag, "rssi": -55, "ir": true}]})
}

fn bed(alarm: &str, hob: f64) -> Value {
    json!({"ts": now_rfc3339(), "occupied": true, "hob_deg": hob, "height": "low", "brakes": true,
           "rails": {"head_left": true, "head_right": true, "foot_left": false, "foot_right": false},
           "exit_alarm": alarm, "surface": "static", "moving": false})
}

const HOB: &str = r#"
[[rule]]
id = "hob-test"
title = "Head of bed low (test)"
subject = "bed"
when = "bed.occupied && bed.hob_deg < 30.0"
for = "6s"
priority = "medium"
kind = "physiological"
message = "first wording: {bed.hob_deg} degrees"
"#;

fn open_alerts(o: &orderly_tests::Orderly) -> Vec<Value> {
    o.get("/api/v1/alerts/open")
        .1
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_rule_change_takes_effect_without_a_restart_keeping_open_alerts_and_hold_timers() {
    let setup = Setup::new();
    setup.edit_rules("test.toml", |_| HOB.to_string());
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    for (rx, tag) in [("rx-f2-icu-01", "TB-ICU-01"), ("rx-f2-icu-02", "TB-ICU-02")] {
        dev.json(&o.topic(&format!("rtls/{rx}/sightings")), &sightings(tag));
    }
    o.wait_until("beds located", Duration::from_secs(15), || {
        o.get("/api/v1/assets/BED-ICU-02").1["location"]["room"] == "F2-ICU-02"
    });
    // An open alert (bed 1's exit alarm) and a hold timer in flight (bed 2's head of bed).
    dev.json(&o.topic("bed/bed-icu-01/state"), &bed("alarming", 35.0));
    o.wait_until("the bed-exit alert", Duration::from_secs(15), || {
        open_alerts(&o)
            .iter()
            .any(|a| a["rule"] == "bed-exit-alarm")
    });
    let exit_id = open_alerts(&o)[0]["id"].clone();
    let started = Instant::now();
    dev.json(&o.topic("bed/bed-icu-02/state"), &bed("armed", 20.0));
    std::thread::sleep(Duration::from_secs(2)); // two seconds into the six of the hold time
    setup.edit_rules("test.toml", |t| {
        t.replace("first wording", "second wording")
    });
    o.wait_until("the reload", Duration::from_secs(10), || {
        o.get("/api/v1/rules").1["last_reload"]["changed"] == json!(["hob-test"])
    });
    let (_, rules) = o.get("/api/v1/rules");
    assert_eq!(rules["last_reload"]["trigger"], "file change");
    o.wait_until("the hold-time alert", Duration::from_secs(15), || {
        open_alerts(&o).iter().any(|a| a["rule"] == "hob-test")
    });
    // Six seconds after the condition began, not six after the reload (that would be 8+).
    let took = started.elapsed();
    assert!(took < Duration::from_millis(7600), "raised after {took:?}");
    let alerts = open_alerts(&o);
    let hob = alerts.iter().find(|a| a["rule"] == "hob-test").unwrap();
    assert_eq!(hob["message"], "second wording: 20 degrees");
    // The bed-exit alert was not touched by the reload.
    assert!(alerts.iter().any(|a| a["id"] == exit_id), "{alerts:?}");
    let events = o.stream(
        "after=0&kind=alert.raised,alert.resolved",
        Duration::from_secs(3),
        |e| e.len() >= 2,
    );
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("alert.raised", "bed-exit-alarm"),
            ("alert.raised", "hob-test")
        ]
    );
    // SIGHUP reloads too (nothing changed).
    o.signal("HUP");
    o.wait_until("the SIGHUP reload", Duration::from_secs(10), || {
        o.get("/api/v1/rules").1["last_reload"]["trigger"] == "SIGHUP"
    });
    dev.close();
    o.stop();
}

#[test]
fn a_broken_rule_file_is_rejected_with_its_line_and_the_old_rules_keep_running() {
    let setup = Setup::new();
    let o = setup.start();
    let before = o.get("/api/v1/rules").1["rules"].as_array().unwrap().len();
    setup.edit_rules("beds.toml", |t| {
        t.replacen(
            "patient.fall_risk == 'high'\"",
            "patient.fall_risk == 'hihg'\"",
            1,
        )
    });
    o.wait_until("the rejection", Duration::from_secs(10), || {
        o.get("/api/v1/rules").1["last_reload"]["ok"] == false
    });
    let (_, rules) = o.get("/api/v1/rules");
    let errors = rules["last_reload"]["errors"].as_str().unwrap();
    assert!(errors.contains("beds.toml:17:"), "{errors}");
    assert!(
        errors.contains("'hihg' is never a value of this fact (fix: did you mean 'high'?)"),
        "{errors}"
    );
    assert_eq!(
        rules["rules"].as_array().unwrap().len(),
        before,
        "the old set is still in force"
    );
    // Admins get a technical alert; the API reload says the same with 422.
    o.wait_until("the technical alert", Duration::from_secs(10), || {
        open_alerts(&o).iter().any(|a| {
            a["rule"] == "orderly.rules-rejected" && a["audience"] == json!(["role:admin"])
        })
    });
    let (status, out) = o.post("/api/v1/rules/reload", &json!({}));
    assert_eq!(status, 422, "{out}");
    // The old bed-exit rule still works.
    let dev = Device::connect(&o.mqtt, None);
    dev.json(
        &o.topic("rtls/rx-f2-icu-03/sightings"),
        &sightings("TB-ICU-03"),
    );
    dev.json(&o.topic("bed/bed-icu-03/state"), &bed("alarming", 35.0));
    o.wait_until(
        "the bed-exit alert from the old rules",
        Duration::from_secs(15),
        || {
            open_alerts(&o)
                .iter()
                .any(|a| a["rule"] == "bed-exit-alarm")
        },
    );
    // Fixed: loaded, and the technical alert resolves.
    setup.edit_rules("beds.toml", |t| t.replace("'hihg'", "'high'"));
    o.wait_until("the fixed set", Duration::from_secs(10), || {
        o.get("/api/v1/rules").1["last_reload"]["ok"] == true
    });
    o.wait_until(
        "the technical alert resolved",
        Duration::from_secs(10),
        || {
            !open_alerts(&o)
                .iter()
                .any(|a| a["rule"] == "orderly.rules-rejected")
        },
    );
    dev.close();
    o.stop();
}

#[test]
fn an_alert_survives_a_kill_and_restart_exactly_once() {
    let setup = Setup::new();
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    dev.json(
        &o.topic("rtls/rx-f2-icu-04/sightings"),
        &sightings("TB-ICU-04"),
    );
    dev.json(&o.topic("bed/bed-icu-04/state"), &bed("alarming", 35.0));
    // On the stream means committed.
    let ev = o.stream("after=0&kind=alert.raised", Duration::from_secs(15), |e| {
        !e.is_empty()
    });
    assert_eq!(ev.len(), 1, "{ev:?}");
    let id = ev[0]["id"].clone();
    dev.close();
    o.kill();

    let o = setup.start();
    let open = open_alerts(&o);
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["id"], id);
    // The bed repeats its state after the restart: still one alert, no second raise.
    let dev = Device::connect(&o.mqtt, None);
    dev.json(&o.topic("bed/bed-icu-04/state"), &bed("alarming", 35.0));
    let (status, a) = o.post(
        &format!("/api/v1/alerts/{}/acknowledge", id.as_str().unwrap()),
        &json!({}),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["state"], "acknowledged");
    let ev = o.stream(
        "after=0&kind=alert.raised,alert.acknowledged",
        Duration::from_secs(3),
        |e| e.len() >= 3,
    );
    let kinds: Vec<_> = ev.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["alert.raised", "alert.acknowledged"]);
    dev.close();
    o.stop();
}

#[test]
fn a_backtest_counts_alerts_per_rule_and_compares_two_rule_sets() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("capture.jsonl");
    let run = |args: &[&str]| -> String {
        let out = std::process::Command::new(orderly_tests::binary())
            .args(args)
            .current_dir(orderly_tests::workspace())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "orderly {args:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "sim",
        "--capture",
        cap.to_str().unwrap(),
        "--duration",
        "120",
        "--bed-exits-per-hour",
        "20",
    ]);
    // The proposal: a bed exit must last 20 s before it alerts.
    let proposed = dir.path().join("proposed");
    std::fs::create_dir(&proposed).unwrap();
    for e in std::fs::read_dir(orderly_tests::workspace().join("rules")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, proposed.join(p.file_name().unwrap())).unwrap();
    }
    let beds = proposed.join("beds.toml");
    let text = std::fs::read_to_string(&beds).unwrap();
    std::fs::write(
        &beds,
        // Every bed-exit rule (high, medium, assisted) comes first in beds.toml.
        text.replacen(
            "clear_for = \"10s\"",
            "for = \"20s\"\nclear_for = \"10s\"",
            3,
        ),
    )
    .unwrap();
    let out = run(&[
        "rules",
        "backtest",
        "--capture",
        cap.to_str().unwrap(),
        "--rules",
        proposed.to_str().unwrap(),
        "--against",
        "rules",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let exits = ["bed-exit-alarm", "bed-exit", "bed-exit-assisted"];
    let raised = |side: &str| -> u64 {
        exits
            .iter()
            .map(|r| v[side]["rules"][r]["raised"].as_u64().unwrap_or(0))
            .sum()
    };
    let (now, before) = (raised("rules"), raised("against"));
    assert!(before > 0, "{out}");
    assert!(
        now < before,
        "a 20 s hold should raise fewer alerts: {now} vs {before}"
    );
    assert!(
        exits
            .iter()
            .any(|r| v["against"]["rules"][r]["median_resolve_s"]
                .as_f64()
                .is_some_and(|m| m > 0.0)),
        "{out}"
    );
    // The table form names every rule and the difference.
    let table = run(&[
        "rules",
        "backtest",
        "--capture",
        cap.to_str().unwrap(),
        "--rules",
        proposed.to_str().unwrap(),
        "--against",
        "rules",
    ]);
    // The row of a rule the hold changed shows its difference.
    let one = |side: &str, r: &str| v[side]["rules"][r]["raised"].as_u64().unwrap_or(0) as i64;
    let (rule, diff) = exits
        .iter()
        .map(|r| (*r, one("rules", r) - one("against", r)))
        .find(|(_, d)| *d != 0)
        .unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.contains(rule) && l.contains(&format!("{diff:+}"))),
        "{table}"
    );
}

/// A rule asks a bed for a setting over the real broker; the bed's acknowledgement settles it.
#[test]
fn a_bed_command_goes_to_the_bed_after_commit_and_its_ack_settles_it() {
    let setup = Setup::new();
    let o = setup.start();
    let bed_dev = Device::connect(&o.mqtt, Some(&o.topic("bed/bed-icu-01/command")));
    let dev = Device::connect(&o.mqtt, None);
    // Ben Rossi (Morse 85) in bed, the bed's exit alarm off, nobody in the room.
    dev.json(&o.topic("bed/bed-icu-01/state"), &bed("off", 30.0));
    let (topic, payload) = bed_dev
        .received
        .recv_timeout(Duration::from_secs(20))
        .expect("a command on bed/bed-icu-01/command");
    assert_eq!(topic, o.topic("bed/bed-icu-01/command"));
    let cmd: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(cmd["set"], json!({"exit_alarm": "armed"}), "{cmd}");
    assert_eq!(cmd["reason"], "rule arm-exit-alarm");
    let id = cmd["command_id"].as_str().unwrap().to_string();
    // Committed before it was published: the event stream has it.
    let events = o.stream("after=0&kind=bed.command", Duration::from_secs(5), |e| {
        !e.is_empty()
    });
    assert_eq!(events[0]["command_id"], id.as_str());
    dev.json(
        &o.topic("bed/bed-icu-01/command/ack"),
        &json!({"ts": orderly_tests::now_rfc3339(), "command_id": id, "result": "applied"}),
    );
    // The ack is the bed's word; the state it reports next, with the alarm armed, settles it.
    dev.json(&o.topic("bed/bed-icu-01/state"), &bed("armed", 30.0));
    let events = o.stream(
        "after=0&kind=bed.command_acked",
        Duration::from_secs(10),
        |e| !e.is_empty(),
    );
    assert_eq!(events[0]["result"], "applied", "{events:?}");
    assert_eq!(events[0]["command_id"], id.as_str());
    bed_dev.close();
    dev.close();
    o.stop();
}
