//! Replays kept as a regression test: simulated captures of the demo hospital (falls, bed
//! exits, care lapses, bed commands, maintenance) replayed through `orderly replay` with the
//! shipped rules must give, byte for byte, the events recorded in `tests/regression/` when the
//! case was last accepted. A refactoring that is meant to change nothing proves it here.
//!
//! Each case keeps the SHA-256 of the capture (so a change in the simulator shows as such, not
//! as a change in the world) and of the replay's output, with the count of each event kind so a
//! difference can be read. The short cases run in every `cargo xtask ci`; the two-hour ones run
//! with `cargo xtask regress` (a release build), or here when `ORDERLY_LONG_REGRESSION=1`.
//!
//! When a change of behaviour is intended, accept the new outputs with
//! `ORDERLY_REGRESSION_UPDATE=1` and say why in the commit.

use orderly_tests::{binary, workspace};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

struct Case {
    name: &'static str,
    long: bool,
    args: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "lapses-exits-falls-5min",
        long: false,
        args: &[
            "--duration",
            "300",
            "--sim-seed",
            "3",
            "--care-lapses",
            "0.3",
            "--falls-per-hour",
            "0.3",
            "--bed-exits-per-hour",
            "2",
            "--moves-per-hour",
            "4",
        ],
    },
    Case {
        name: "wearable-imu-2min",
        long: false,
        args: &[
            "--duration",
            "120",
            "--sim-seed",
            "4",
            "--imu",
            "--falls-per-hour",
            "1",
            "--care-lapses",
            "0.1",
        ],
    },
    Case {
        name: "hospital-2h",
        long: true,
        args: &[
            "--duration",
            "7200",
            "--sim-seed",
            "2",
            "--care-lapses",
            "0.1",
            "--falls-per-hour",
            "0.05",
            "--bed-exits-per-hour",
            "0.5",
        ],
    },
    Case {
        name: "hospital-imu-2h",
        long: true,
        args: &[
            "--duration",
            "7200",
            "--sim-seed",
            "6",
            "--imu",
            "--falls-per-hour",
            "0.1",
            "--care-lapses",
            "0.05",
        ],
    },
];

fn sha256_file(path: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    format!("{:x}", h.finalize())
}

fn run(args: &[&str]) {
    let out = Command::new(binary())
        .args(args)
        .current_dir(workspace())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "orderly {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a case recorded: capture and output digests and the event counts, as text lines.
fn record(case: &Case, dir: &Path) -> String {
    let cap = dir.join(format!("{}.capture.jsonl", case.name));
    let events = dir.join(format!("{}.events.jsonl", case.name));
    let mut sim = vec!["sim", "--capture", cap.to_str().unwrap()];
    sim.extend_from_slice(case.args);
    run(&sim);
    run(&[
        "replay",
        cap.to_str().unwrap(),
        "--out",
        events.to_str().unwrap(),
    ]);
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for line in std::fs::read_to_string(&events).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        *kinds
            .entry(e["kind"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    let mut out = format!(
        "# orderly sim {}, then orderly replay with the shipped rules\ncapture {}\nevents {}\n",
        case.args.join(" "),
        sha256_file(&cap),
        sha256_file(&events)
    );
    for (k, n) in kinds {
        out.push_str(&format!("count {k} {n}\n"));
    }
    out
}

fn check(case: &Case) {
    let dir = tempfile::tempdir().unwrap();
    let got = record(case, dir.path());
    let file = workspace()
        .join("tests/regression")
        .join(format!("{}.txt", case.name));
    if std::env::var_os("ORDERLY_REGRESSION_UPDATE").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (fix: record it with ORDERLY_REGRESSION_UPDATE=1)",
            file.display()
        )
    });
    if got != want {
        // Keep the outputs to compare.
        let keep = std::env::temp_dir().join(format!("orderly-regression-{}", case.name));
        let _ = std::fs::remove_dir_all(&keep);
        std::fs::create_dir_all(&keep).unwrap();
        for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with(".events.jsonl") {
                let _ = std::fs::copy(e.path(), keep.join(e.file_name()));
            }
        }
        panic!(
            "replay of {} differs from {} (events kept in {}):\n--- recorded\n{want}--- now\n{got}",
            case.name,
            file.display(),
            keep.display()
        );
    }
}

#[test]
fn replays_of_short_captures_are_unchanged() {
    for case in CASES.iter().filter(|c| !c.long) {
        check(case);
    }
}

/// The two-hour captures: `cargo xtask regress` (release), or `ORDERLY_LONG_REGRESSION=1`.
#[test]
fn replays_of_two_hour_captures_are_unchanged() {
    if std::env::var_os("ORDERLY_LONG_REGRESSION").is_none() {
        eprintln!(
            "two-hour replays skipped here: run `cargo xtask regress` (or set ORDERLY_LONG_REGRESSION=1)"
        );
        return;
    }
    for case in CASES.iter().filter(|c| c.long) {
        check(case);
    }
}
