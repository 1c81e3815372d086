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

/// Finding: `orderly token revoke` of an id that does not exist said so and exited 0, so a
/// script (or a tired admin) took a typo for a revoked token. Now it fails, in one line.
#[test]
fn revoking_a_token_that_does_not_exist_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("o.db").display());
    let out = Command::new(binary())
        .args(["token", "create", "--role", "admin", "--name", "Admin"])
        .args(["--database", &db])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("token id: ").map(str::to_string))
        .unwrap();
    let revoke = |id: &str| {
        Command::new(binary())
            .args(["token", "revoke", id, "--database", &db])
            .output()
            .unwrap()
    };
    let out = revoke("tok-nope");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no active token with id \"tok-nope\""),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = revoke(&id);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Twice is the same mistake.
    assert!(!revoke(&id).status.success());
}

/// Tokens expire (`--expires-in`), `token list` shows them without secrets, and the audit log
/// of a running Orderly is a hash chain that `orderly audit verify` checks: a record changed in
/// the database afterwards is named, and the command fails in one line.
#[test]
fn tokens_expire_and_a_changed_audit_record_is_found() {
    let setup = orderly_tests::Setup::new();
    let o = setup.start();
    setup.token("nurse", "Nurse Ana", "ICU");
    // Reads of patient data, each audited.
    for unit in ["ICU", "MS3", "MS4"] {
        let (status, _) = o.get(&format!("/api/v1/units/{unit}/beds"));
        assert_eq!(status, 200);
    }
    o.stop();
    let db = &setup.db.url;
    let run = |args: &[&str]| {
        Command::new(binary())
            .args(args)
            .args(["--database", db])
            .output()
            .unwrap()
    };
    let out = run(&[
        "token",
        "create",
        "--role",
        "biomed",
        "--name",
        "Temp",
        "--expires-in",
        "1h",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("expires: "));
    let bad = run(&[
        "token",
        "create",
        "--role",
        "biomed",
        "--name",
        "T",
        "--expires-in",
        "soon",
    ]);
    assert!(!bad.status.success());
    let list = String::from_utf8_lossy(&run(&["token", "list"]).stdout).to_string();
    assert!(
        list.contains("Nurse Ana") && list.contains("Temp") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains("ord_"), "a secret in the list: {list}");

    let ok = run(&["audit", "verify"]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success() && text.starts_with("ok: "),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Someone with database access rewrites what the nurse read.
    orderly_tests::db_exec(
        db,
        "UPDATE audit SET target = 'unit ED beds' WHERE target = 'unit MS3 beds'",
    );
    let out = run(&["audit", "verify"]);
    assert!(
        !out.status.success(),
        "{text} then {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("on unit ED beds") && err.contains("was changed after it was written"),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with("(listed above)")
            && err.contains("error: the audit log was tampered with"),
        "{err}"
    );
}

/// `orderly token create` never makes a database by mistake: a path that does not exist is
/// refused in one line unless `--create`; without `--database` it uses the demo's database
/// where it runs; `--units` must be units of the floorplan.
#[test]
fn token_create_refuses_a_new_database_and_unknown_units_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(binary())
            .args(["token", "create"])
            .args(args)
            .current_dir(dir.path())
            .env_remove("ORDERLY_DATABASE")
            .env_remove("ORDERLY_FLOORPLAN")
            .output()
            .unwrap()
    };
    let one_line_error = |out: &std::process::Output, says: &str| {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    };
    let typo = format!("sqlite://{}", dir.path().join("ordrely.db").display());
    one_line_error(
        &run(&["--role", "admin", "--name", "A", "--database", &typo]),
        "no database at",
    );
    assert!(!dir.path().join("ordrely.db").exists());
    one_line_error(
        &run(&["--role", "admin", "--name", "A"]),
        "no database here",
    );
    // Made on purpose: then the default finds it.
    let out = run(&["--role", "admin", "--name", "A", "--create"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("orderly-demo.db").exists());
    one_line_error(
        &run(&["--role", "nurse", "--name", "N", "--units", "ICU,3W"]),
        "unknown unit \"3W\" in --units",
    );
    let out = run(&["--role", "nurse", "--name", "N", "--units", "ICU,MS3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Finding: `orderly check` worked only from the clone root, and `replay` paired a named
/// floorplan with the demo's seed from wherever it ran. Now no paths means the bundled demo,
/// from any directory, and one of the two without the other takes the bundled demo's other
/// half and says so.
#[test]
fn check_works_from_anywhere_and_says_which_half_is_the_demos() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .arg("check")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(binary())
        .args(["check", "--floorplan"])
        .arg(workspace().join("floorplans/demo.toml"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("note: no --seed given: using the bundled demo's"),
        "{err}"
    );
}

/// Finding: a replay whose devices were all unknown wrote "0 events" and nothing on what it
/// dropped. Now it says how many messages it read, accepted and dropped by reason, and warns
/// when nothing matched the site.
#[test]
fn replay_says_what_it_dropped_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("c.jsonl");
    let mut lines = String::new();
    for i in 0..5 {
        lines.push_str(&format!(
            "{{\"at\":\"2026-03-02T10:00:0{i}Z\",\"topic\":\"orderly/v1/general/rtls/NOPE-{i}/sightings\",\"payload\":{{\"ts\":\"2026-03-02T10:00:0{i}Z\",\"seq\":{i},\"sightings\":[]}}}}\n"
        ));
    }
    lines.push_str("{\"at\":\"2026-03-02T10:00:09Z\",\"topic\":\"orderly/v1/general/rtls/rx-f1-core/sightings\",\"payload\":\"not json\"}\n");
    std::fs::write(&capture, lines).unwrap();
    let out = Command::new(binary())
        .arg("replay")
        .arg(&capture)
        .arg("--out")
        .arg(dir.path().join("e.jsonl"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("6 messages, 0 accepted, 6 dropped"), "{err}");
    assert!(
        err.contains("dropped by reason: 1 malformed_json, 5 unknown_device"),
        "{err}"
    );
    assert!(err.contains("warning: no message"), "{err}");
}

/// Finding: an unreachable PostgreSQL waited 30 s in silence, then said "pool timed out" three
/// times. Now the first connection's own error, at once, in one line, with the address and
/// never the password.
#[test]
fn an_unreachable_database_is_named_with_its_cause_at_once() {
    let port = orderly_tests::free_port();
    let url = format!("postgres://orderly:s3cret@127.0.0.1:{port}/orderly");
    let started = std::time::Instant::now();
    let out = Command::new(binary())
        .args(["run", "--http", "127.0.0.1:0", "--database", &url])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("refused"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// The HL7 port is bound at start (a standby listens too, to pass connections to the owner):
/// a port already taken stops startup at once, in one line that names it and the fix.
#[test]
fn a_taken_hl7_port_stops_startup_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let db = format!("sqlite://{}", dir.path().join("o.db").display());
    let out = Command::new(binary())
        .args(["run", "--http", "127.0.0.1:0", "--database", &db])
        .args(["--embedded-broker", "false", "--mqtt-port"])
        .arg(orderly_tests::free_port().to_string())
        .args(["--hl7", &format!("127.0.0.1:{port}")])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen for HL7 on 127.0.0.1:{port}"))
            && err.contains("choose another with --hl7"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    drop(taken);
}
