//! Smart beds end to end: suggestions a nurse confirms at the bedside, and simulated beds that
//! apply, refuse or ignore Orderly's commands.

use orderly_tests::{Device, Setup, binary, raised_bed, seed_patients, workspace};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

/// Lowering a bed moves it: Orderly offers it at the station and sends nothing until a nurse
/// confirms, which is refused while no caregiver badge is in the room.
#[test]
fn a_suggestion_moves_the_bed_only_once_a_nurse_at_the_bedside_confirms_it() {
    let setup = Setup::new();
    // The shipped rule waits 5 minutes; 1 second here.
    setup.hold("beds.toml", "suggest-bed-low", "5m", "1s");
    let o = setup.start();
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    let bed_dev = Device::connect(&o.mqtt, Some(&o.topic("bed/bed-icu-01/command")));
    let dev = Device::connect(&o.mqtt, None);
    // Ben Rossi (Morse 85) in bed ICU-01, in its room, the bed left raised; nobody there.
    o.heard(&dev, "rx-f2-icu-01", "TB-ICU-01");
    dev.json(&o.topic("bed/bed-icu-01/state"), &raised_bed());
    let offered = o.stream("after=0&kind=bed.suggested", Duration::from_secs(20), |e| {
        !e.is_empty()
    });
    assert_eq!(offered.len(), 1, "{offered:?}");
    let s = &offered[0];
    assert_eq!(s["bed"], "BED-ICU-01");
    assert_eq!(s["unit"], "ICU");
    assert_eq!(s["set"], json!({"height": "low"}));
    let id = s["suggestion_id"].as_str().unwrap().to_string();
    // On the nurse's list; nothing reaches the bed.
    let (status, list) = o.get_as("/api/v1/suggestions?unit=ICU", &nurse);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["id"], id.as_str());
    assert!(
        bed_dev
            .received
            .recv_timeout(Duration::from_secs(3))
            .is_err(),
        "a suggestion was sent to the bed without a confirmation"
    );
    // Confirmed from the station with nobody in the room: refused.
    let confirm = format!("/api/v1/suggestions/{id}/confirm");
    let (status, body) = o.post_as(&confirm, &nurse, &json!({}));
    assert_eq!(status, 409, "{body}");
    assert!(
        bed_dev
            .received
            .recv_timeout(Duration::from_secs(1))
            .is_err()
    );
    // A caregiver badge in the room (B-0001, a charge nurse): confirmed.
    let deadline = Instant::now() + Duration::from_secs(20);
    let done = loop {
        o.heard(&dev, "rx-f2-icu-01", "B-0001");
        let (status, body) = o.post_as(&confirm, &nurse, &json!({}));
        if status == 200 {
            break body;
        }
        assert_eq!(status, 409, "{body}");
        assert!(Instant::now() < deadline, "never at the bedside: {body}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(done["outcome"], "confirmed");
    let (topic, payload) = bed_dev
        .received
        .recv_timeout(Duration::from_secs(10))
        .expect("the confirmed command on bed/bed-icu-01/command");
    assert_eq!(topic, o.topic("bed/bed-icu-01/command"));
    let cmd: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(cmd["set"], json!({"height": "low"}));
    assert_eq!(cmd["command_id"], done["command_id"]);
    assert!(
        cmd["reason"]
            .as_str()
            .unwrap()
            .ends_with("confirmed by Nurse Ana"),
        "{cmd}"
    );
    // Audited, and in the bed's history.
    let (_, audit) = o.get("/api/v1/audit");
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "confirm suggestion"),
        "{audit}"
    );
    bed_dev.close();
    dev.close();
    o.stop();
}

fn morse(seed: &str) -> BTreeMap<String, u32> {
    seed_patients(seed)
        .into_iter()
        .filter_map(|p| Some((p.get("bed")?.clone(), p.get("morse")?.parse().ok()?)))
        .collect()
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The simulator's beds start with a safety setting out of place; those of high-risk patients
/// with the exit alarm off get it armed within seconds (nobody at the bedside), and the bed that
/// applies it, the one that refuses and the one that stays silent each end as they should.
#[test]
fn simulated_beds_apply_refuse_or_ignore_and_each_is_settled_once() {
    let setup = Setup::new();
    setup.edit_rules("detectors.toml", |t| {
        t.replace("ack_timeout_s = 30.0", "ack_timeout_s = 4.0")
    });
    let dir = tempfile::tempdir().unwrap();
    let sim_seed = "5";
    // Which beds start with the exit alarm off (the same seed gives the same start).
    let dry = dir.path().join("dry.jsonl");
    let capture = dir.path().join("dry-capture.jsonl");
    let out = Command::new(binary())
        .args([
            "sim",
            "--capture",
            capture.to_str().unwrap(),
            "--duration",
            "1",
        ])
        .args([
            "--truth",
            dry.to_str().unwrap(),
            "--sim-seed",
            sim_seed,
            "--care-lapses",
            "1",
        ])
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let risk = morse(&std::fs::read_to_string(&setup.seed).unwrap());
    // Beds whose room has staff in it at the start may be left alone (a caregiver is there).
    let start_truth = lines(&dry);
    let staffed: BTreeSet<&str> = start_truth
        .iter()
        .filter(|t| t["kind"] == "room" && t["subject"].as_str().unwrap().starts_with("S-"))
        .map(|t| t["room"].as_str().unwrap())
        .collect();
    let off: Vec<&str> = start_truth
        .iter()
        .filter(|t| t["kind"] == "lapse" && t["setting"] == "exit_alarm")
        .filter(|t| {
            risk.get(t["bed"].as_str().unwrap())
                .is_some_and(|m| *m >= 45)
        })
        .filter(|t| !staffed.contains(t["room"].as_str().unwrap()))
        .map(|t| t["bed"].as_str().unwrap())
        .collect();
    assert!(off.len() >= 3, "seed {sim_seed}: {off:?}");
    let (apply, refuse, ignore) = (off[0], off[1], off[2]);
    let o = setup.start();
    let truth = dir.path().join("truth.jsonl");
    let started = Instant::now();
    let out = Command::new(binary())
        .args(["sim", "--mqtt", &format!("{}:{}", o.mqtt.0, o.mqtt.1)])
        .arg("--floorplan")
        .arg(&setup.floorplan)
        .arg("--seed")
        .arg(&setup.seed)
        .args([
            "--duration",
            "16",
            "--sim-seed",
            sim_seed,
            "--care-lapses",
            "1",
        ])
        .args(["--truth", truth.to_str().unwrap()])
        .args(["--bed-answer", &format!("{refuse}=refuse")])
        .args(["--bed-answer", &format!("{ignore}=ignore")])
        .args(["--moves-per-hour", "0", "--bed-exits-per-hour", "0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() >= Duration::from_secs(15));
    let events = o.stream(
        "after=0&kind=bed.command,bed.command_acked,alert.raised",
        Duration::from_secs(10),
        |e| {
            [apply, refuse, ignore].iter().all(|b| {
                e.iter()
                    .any(|x| x["kind"] == "bed.command_acked" && x["bed"] == *b)
            }) && e
                .iter()
                .filter(|x| x["rule"] == "bed-command-failed")
                .count()
                >= 2
        },
    );
    let truth = lines(&truth);
    let sim_start = truth[0]["at"].as_str().unwrap().to_string();
    let ms = time_ms;
    for (bed, result) in [
        (apply, "applied"),
        (refuse, "refused"),
        (ignore, "timed_out"),
    ] {
        let cmds: Vec<&Value> = events
            .iter()
            .filter(|e| e["kind"] == "bed.command" && e["bed"] == bed)
            .collect();
        // One command, no storm, within seconds of the bed first reporting (2 s) plus the
        // rule's 5 s.
        assert_eq!(cmds.len(), 1, "{bed}: {events:#?}");
        assert_eq!(cmds[0]["set"], json!({"exit_alarm": "armed"}));
        let after = ms(cmds[0]["at"].as_str().unwrap()) - ms(&sim_start);
        assert!(
            (0..=9_000).contains(&after),
            "{bed}: sent {after} ms after the start"
        );
        let acks: Vec<&Value> = events
            .iter()
            .filter(|e| e["kind"] == "bed.command_acked" && e["bed"] == bed)
            .collect();
        assert_eq!(acks.len(), 1, "{bed}: {events:#?}");
        assert_eq!(acks[0]["result"], result, "{bed}: {:?}", acks[0]);
        assert_eq!(acks[0]["command_id"], cmds[0]["command_id"]);
        // The bed got it (the simulator's truth), as configured.
        let answered: Vec<&Value> = truth
            .iter()
            .filter(|t| t["kind"] == "command" && t["bed"] == bed)
            .collect();
        assert_eq!(answered.len(), 1, "{bed}: {answered:?}");
        assert_eq!(answered[0]["command_id"], cmds[0]["command_id"]);
        let failed = events.iter().any(|e| {
            e["kind"] == "alert.raised" && e["rule"] == "bed-command-failed" && e["subject"] == bed
        });
        assert_eq!(failed, result != "applied", "{bed}: {events:#?}");
    }
    let refused = events
        .iter()
        .find(|e| e["kind"] == "bed.command_acked" && e["bed"] == refuse)
        .unwrap();
    assert_eq!(refused["reason"], "bed in CPR mode");
    // The bed that applied it reports it armed.
    let (_, view) = o.get(&format!("/api/v1/assets/{apply}"));
    assert_eq!(view["bed"]["exit_alarm"], "armed", "{view}");
    o.stop();
}

fn time_ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}
