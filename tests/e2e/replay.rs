use orderly_tests::{binary, workspace};
use std::collections::BTreeMap;
use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(binary())
        .args(args)
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "orderly {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn replay_is_deterministic_and_locates_what_the_simulator_moved() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("capture.jsonl");
    let truth = dir.path().join("truth.jsonl");
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    run(&[
        "sim",
        "--capture",
        cap.to_str().unwrap(),
        "--duration",
        "300",
        "--truth",
        truth.to_str().unwrap(),
        "--moves-per-hour",
        "6",
    ]);
    run(&[
        "replay",
        cap.to_str().unwrap(),
        "--out",
        a.to_str().unwrap(),
    ]);
    run(&[
        "replay",
        cap.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
    ]);
    let (ea, eb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(!ea.is_empty());
    assert_eq!(ea, eb, "two replays of one capture differ");

    // Where the world last put each subject, against where the simulator last had it.
    let mut located: BTreeMap<String, String> = BTreeMap::new();
    let events = String::from_utf8(ea).unwrap();
    for line in events.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["kind"] == "location.changed" {
            located.insert(
                e["subject"].as_str().unwrap().into(),
                e["to"].as_str().unwrap().into(),
            );
        }
    }
    let mut real: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in std::fs::read_to_string(&truth).unwrap().lines() {
        let t: serde_json::Value = serde_json::from_str(line).unwrap();
        if t["kind"] == "room" {
            real.insert(
                t["subject"].as_str().unwrap().into(),
                (
                    t["room"].as_str().unwrap().into(),
                    t["at"].as_str().unwrap().into(),
                ),
            );
        }
    }
    // Judge only subjects that stood still for the last 30 s (the locator needs a few seconds).
    let end = "2026-11-22T08:04:30";
    let settled: Vec<_> = real
        .iter()
        .filter(|(_, (_, at))| at.as_str() < end)
        .collect();
    let right = settled
        .iter()
        .filter(|(s, (room, _))| located.get(*s) == Some(room))
        .count();
    let accuracy = right as f64 / settled.len() as f64;
    assert!(settled.len() > 500, "{}", settled.len());
    assert!(
        accuracy >= 0.95,
        "room accuracy {accuracy:.3} over {} settled subjects",
        settled.len()
    );
    walks_are_followed_without_flapping(&events, &std::fs::read_to_string(&truth).unwrap());
}

/// The simulator's patients get out of bed and fall (its wearables stream 50 Hz, worn any way
/// round, so every fall must come from Orderly's own detector). Each bed exit and each fall is
/// alerted exactly once, to the station of the unit it happened in, naming the right room, in
/// time; nothing else is alerted; and the capture replays to the same alerts.
#[test]
fn simulated_falls_and_bed_exits_are_each_alerted_once_at_the_right_station() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("capture.jsonl");
    let truth = dir.path().join("truth.jsonl");
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    run(&[
        "sim",
        "--capture",
        cap.to_str().unwrap(),
        "--duration",
        "150",
        "--truth",
        truth.to_str().unwrap(),
        "--bed-exits-per-hour",
        "10",
        "--falls-per-hour",
        "2",
        "--imu",
        "--sim-seed",
        "4",
        // Falls and exits only: vital signs (and their NEWS2 alerts) are tested on their own.
        "--vitals-every",
        "0",
    ]);
    for out in [&a, &b] {
        run(&[
            "replay",
            cap.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    let raised = |file: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["kind"] == "alert.raised")
            .collect()
    };
    let alerts = raised(&a);
    assert_eq!(alerts, raised(&b), "two replays raised different alerts");
    // Each room's unit, read from the floorplan file as an integrator would.
    let plan = std::fs::read_to_string(workspace().join("floorplans/demo.toml")).unwrap();
    let unit_of = |room: &str| -> String {
        let block = plan
            .split("[[room]]")
            .find(|b| b.contains(&format!("id = \"{room}\"\n")))
            .unwrap();
        let line = block.lines().find(|l| l.starts_with("unit = ")).unwrap();
        line.trim_start_matches("unit = ")
            .trim_matches('"')
            .to_string()
    };
    let exit_rules = ["bed-exit-alarm", "bed-exit", "bed-exit-assisted"];
    let fall_rules = ["fall", "fall-alone"];
    let mut used = vec![false; alerts.len()];
    let (mut exits, mut falls) = (0, 0);
    let capture_end = ms("2026-11-22T08:00:00Z") + 150_000;
    for line in std::fs::read_to_string(&truth).unwrap().lines() {
        let t: serde_json::Value = serde_json::from_str(line).unwrap();
        // (subject, rules, from, to): a high-risk patient is alerted as they sit on the edge,
        // up to 4 s before standing; anyone within 1.5 s of standing; a fall within 5 s of the
        // impact (the detector needs 3 s after it, the wearable sends once a second).
        let (subject, rules, from, to) = match t["kind"].as_str().unwrap() {
            "bed_exit" => (t["bed"].as_str().unwrap(), &exit_rules[..], -4_000, 1_500),
            "fall" => (t["patient"].as_str().unwrap(), &fall_rules[..], 0, 5_000),
            _ => continue,
        };
        let at = ms(t["at"].as_str().unwrap());
        // The capture ends 150 s in: what happened too late to be alerted before it is not judged.
        if at + to > capture_end {
            continue;
        }
        let room = t["room"].as_str().unwrap();
        let matching: Vec<usize> = alerts
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                a["subject"] == subject
                    && rules.contains(&a["rule"].as_str().unwrap())
                    && (from..=to).contains(&(ms(a["at"].as_str().unwrap()) - at))
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(matching.len(), 1, "{t}: alerts {matching:?} of {alerts:#?}");
        let a = &alerts[matching[0]];
        used[matching[0]] = true;
        if rules == &exit_rules[..] {
            exits += 1;
        } else {
            falls += 1;
        }
        let unit = unit_of(room);
        assert_eq!(a["room"], room, "{t}: {a}");
        assert_eq!(a["unit"], unit.as_str(), "{t}: {a}");
        assert!(
            a["audience"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(format!("station:{unit}"))),
            "{t}: {a}"
        );
    }
    assert!(exits >= 10 && falls >= 3, "{exits} exits, {falls} falls");
    // A patient sitting on the edge in the last 4 s has not stood up yet; a fall in the last
    // 5 s is not judged either (it may have been alerted).
    let end = capture_end - 5_000;
    let stray: Vec<&serde_json::Value> = alerts
        .iter()
        .zip(&used)
        .filter(|(a, u)| {
            !**u && ms(a["at"].as_str().unwrap()) < end
                && (exit_rules.contains(&a["rule"].as_str().unwrap())
                    || fall_rules.contains(&a["rule"].as_str().unwrap()))
        })
        .map(|(a, _)| a)
        .collect();
    assert!(
        stray.is_empty(),
        "alerts with nothing behind them: {stray:#?}"
    );
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

/// Every walk of the simulation against what the world said: after the dwell, the located
/// room is the true one; the locator does not switch more often than the subjects moved
/// (corridor segments included), and never bounces A -> B -> A through a room the subject did
/// not pass.
fn walks_are_followed_without_flapping(events: &str, truth: &str) {
    let mut real: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for line in truth.lines() {
        let t: serde_json::Value = serde_json::from_str(line).unwrap();
        if t["kind"] == "room" {
            real.entry(t["subject"].as_str().unwrap().into())
                .or_default()
                .push((
                    ms(t["at"].as_str().unwrap()),
                    t["room"].as_str().unwrap().into(),
                ));
        }
    }
    let mut located: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for line in events.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["kind"] == "location.changed" {
            located
                .entry(e["subject"].as_str().unwrap().into())
                .or_default()
                .push((
                    ms(e["at"].as_str().unwrap()),
                    e["to"].as_str().unwrap().into(),
                ));
        }
    }
    let start = real.values().map(|v| v[0].0).min().unwrap();
    let end = start + 300_000;
    let located_at = |s: &str, t: i64| -> Option<&str> {
        located
            .get(s)?
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map(|(_, r)| r.as_str())
    };
    let (mut stays, mut right, mut transitions, mut switches, mut bounces) = (0, 0, 0, 0, 0);
    for (s, v) in &real {
        for (i, (from, room)) in v.iter().enumerate() {
            let to = v.get(i + 1).map_or(end, |n| n.0);
            // Stays of 30 s or more, judged 15 s in (the dwell and settling).
            if to - from >= 30_000 {
                stays += 1;
                right += usize::from(located_at(s, (from + 15_000).min(to)) == Some(room));
            }
        }
        transitions += v.len() - 1;
        let l = located.get(s).map_or(&[][..], |l| &l[..]);
        switches += l.len().saturating_sub(1);
        for w in l.windows(3) {
            let (b, c) = (&w[1], &w[2]);
            let passed = v
                .iter()
                .any(|(at, r)| r == &b.1 && (at - b.0).abs() < 15_000);
            if c.1 == w[0].1 && c.0 - b.0 < 10_000 && !passed {
                bounces += 1;
            }
        }
    }
    assert!(stays > 500, "{stays} stays");
    let dwell_accuracy = right as f64 / stays as f64;
    assert!(
        dwell_accuracy >= 0.95,
        "located room right after the dwell in {right} of {stays} stays"
    );
    assert!(
        switches as f64 <= 1.1 * transitions as f64,
        "{switches} room switches for {transitions} true room changes: flapping"
    );
    assert!(
        bounces * 100 <= switches,
        "{bounces} bounces A -> B -> A through rooms not passed, of {switches} switches"
    );
}

#[test]
fn record_writes_what_the_broker_carries_as_a_replayable_capture() {
    let setup = orderly_tests::Setup::new();
    let o = setup.start();
    let cap = setup.dir.path().join("rec.jsonl");
    let mut rec = Command::new(binary())
        .args([
            "record",
            "--mqtt",
            &format!("{}:{}", o.mqtt.0, o.mqtt.1),
            "--site",
            &o.site,
            "--duration",
            "4",
            "--out",
        ])
        .arg(&cap)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Publish only once the recorder says it is subscribed.
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(rec.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert!(first.starts_with("recording "), "{first}");
    let dev = orderly_tests::Device::connect(&o.mqtt, None);
    let ts = orderly_tests::now_rfc3339();
    dev.json(
        &o.topic("rtls/rx-f2-icu-01/sightings"),
        &serde_json::json!({"ts": ts, "sightings": [{"tag": "TP-0003", "rssi": -50, "ir": true}]}),
    );
    dev.publish(&o.topic("rtls/rx-f2-icu-01/sightings"), "not json");
    assert!(rec.wait().unwrap().success());
    let text = std::fs::read_to_string(&cap).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["payload"]["sightings"][0]["tag"], "TP-0003");
    assert_eq!(lines[1]["payload"], "not json");
    // The capture replays through the same pipeline (on this site's floorplan).
    let out = Command::new(binary())
        .arg("replay")
        .arg(&cap)
        .arg("--floorplan")
        .arg(&setup.floorplan)
        .arg("--seed")
        .arg(&setup.seed)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(
        events.contains("\"subject\":\"PUMP-0003\"") && events.contains("\"to\":\"F2-ICU-01\""),
        "{events}"
    );
    dev.close();
    o.stop();
}

/// Beds left with their exit alarm off: replaying the capture gives the same bed commands, each
/// to a high-risk patient's bed whose alarm the simulator left off, and nothing else is asked of
/// any bed. (Nothing answers in a replay: each times out.)
#[test]
fn replay_gives_the_same_bed_commands() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("capture.jsonl");
    let truth = dir.path().join("truth.jsonl");
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    run(&[
        "sim",
        "--capture",
        cap.to_str().unwrap(),
        "--duration",
        "60",
        "--truth",
        truth.to_str().unwrap(),
        "--care-lapses",
        "1",
        "--bed-exits-per-hour",
        "0",
        "--sim-seed",
        "5",
    ]);
    for out in [&a, &b] {
        run(&[
            "replay",
            cap.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
    }
    let commands = |file: &std::path::Path| -> Vec<serde_json::Value> {
        std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["kind"] == "bed.command")
            .collect()
    };
    let sent = commands(&a);
    assert_eq!(sent, commands(&b), "two replays sent different commands");
    let alarm_off: std::collections::BTreeSet<String> = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|t| t["kind"] == "lapse" && t["setting"] == "exit_alarm")
        .map(|t| t["bed"].as_str().unwrap().to_string())
        .collect();
    assert!(sent.len() >= 3, "{sent:#?}");
    for c in &sent {
        assert!(
            alarm_off.contains(c["bed"].as_str().unwrap()),
            "{c} (alarm left off: {alarm_off:?})"
        );
        assert_eq!(c["set"], serde_json::json!({"exit_alarm": "armed"}));
    }
}
