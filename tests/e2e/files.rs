use orderly_tests::{binary, workspace};
use std::process::Command;

#[test]
fn a_bad_floorplan_stops_startup_with_file_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace().join("floorplans/demo.toml")).unwrap();
    let bad = text.replacen("kind = \"corridor\"", "kind = \"coridor\"", 1);
    let line = bad.lines().position(|l| l.contains("coridor")).unwrap() + 1;
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    for args in [
        vec!["check", "--floorplan"],
        vec!["run", "--database", "sqlite::memory:", "--floorplan"],
    ] {
        let out = Command::new(binary())
            .args(&args)
            .arg(&path)
            .current_dir(workspace())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("bad.toml:{line}:8"))
                && err.contains("unknown variant `coridor`"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_bad_seed_is_reported_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(workspace().join("floorplans/demo-seed.toml")).unwrap();
    let bad = text.replacen("morse = ", "morse = 1", 1).replacen(
        "units = [\"ICU\"]",
        "units = [\"ICX\"]",
        1,
    );
    let path = dir.path().join("seed.toml");
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(binary())
        .args(["check", "--seed"])
        .arg(&path)
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("seed.toml:") && err.contains("out of range"),
        "{err}"
    );
}

#[test]
fn the_demo_files_check_clean() {
    let out = Command::new(binary())
        .arg("check")
        .current_dir(workspace())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("assets"));
}
