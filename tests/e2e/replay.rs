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
        .arg("--registry")
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
