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
    for line in String::from_utf8(ea).unwrap().lines() {
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
}
