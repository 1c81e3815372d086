//! `cargo xtask ci`: what CI runs. Format, lints, the whole test suite on the embedded broker
//! and SQLite (the page tests in headless Chromium when it is installed), then the store and
//! end-to-end suites again on Mosquitto and PostgreSQL when the machine has them (started here
//! when installed but stopped). A suite that cannot run says so, loudly, with the reason.

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

fn run(root: &Path, what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("\n=== {what}: {cmd:?}");
    let status = cmd
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn listening(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
}

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn nextest_available() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test_cmd(packages: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    if nextest_available() {
        c.args(["nextest", "run", "--no-fail-fast"]);
    } else {
        eprintln!("NOTE: cargo-nextest is not installed; using cargo test");
        c.arg("test");
    }
    if packages.is_empty() {
        c.arg("--workspace");
    }
    for p in packages {
        c.args(["-p", p]);
    }
    c
}

/// Leaves out of a second pass the tests that the broker under test does not change: the
/// pages see the broker only through the API, which the first pass already drove them
/// through; the security tests start a Mosquitto of their own (TLS, passwords, ACL).
fn skip_pages(c: &mut Command) {
    if nextest_available() {
        c.args(["-E", "not test(/^pages::/) and not test(/^security::/)"]);
    } else {
        c.args(["--", "--skip", "pages::", "--skip", "security::"]);
    }
}

/// A Mosquitto this run started, stopped when dropped.
struct Started(Child);
impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mosquitto(tmp: &Path) -> (Option<String>, Option<Started>, String) {
    if let Ok(a) = std::env::var("ORDERLY_TEST_MQTT") {
        return (Some(a), None, "from ORDERLY_TEST_MQTT".into());
    }
    if listening("127.0.0.1:1883") {
        return (
            Some("127.0.0.1:1883".into()),
            None,
            "running on 127.0.0.1:1883".into(),
        );
    }
    let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .map(str::to_string)
        .or_else(|| has("mosquitto").then(|| "mosquitto".to_string()));
    let Some(bin) = bin else {
        return (
            None,
            None,
            "Mosquitto is not installed (apt-get install mosquitto; .ci/run does this)".into(),
        );
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18831);
    let conf = tmp.join("mosquitto.conf");
    if std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .is_err()
    {
        return (None, None, "cannot write a Mosquitto configuration".into());
    }
    match Command::new(&bin).arg("-c").arg(&conf).spawn() {
        Ok(child) => {
            let addr = format!("127.0.0.1:{port}");
            for _ in 0..50 {
                if listening(&addr) {
                    return (
                        Some(addr.clone()),
                        Some(Started(child)),
                        format!("started here on {addr}"),
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (
                None,
                Some(Started(child)),
                "Mosquitto was started but never listened".into(),
            )
        }
        Err(e) => (None, None, format!("cannot start {bin}: {e}")),
    }
}

/// Whether the page tests can run: Debian's Chromium and its chromedriver (or the binaries
/// named by `ORDERLY_CHROMIUM` / `ORDERLY_CHROMEDRIVER`), else why not.
fn browser() -> Result<(), String> {
    let found = |env: &str, paths: &[&str]| {
        std::env::var_os(env).is_some() || paths.iter().any(|p| Path::new(p).exists())
    };
    if !found(
        "ORDERLY_CHROMIUM",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    ) {
        return Err(
            "Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does this)"
                .into(),
        );
    }
    if !found("ORDERLY_CHROMEDRIVER", &["/usr/bin/chromedriver"]) {
        return Err(
            "chromedriver is not installed (apt-get install chromium-driver; .ci/run does this)"
                .into(),
        );
    }
    Ok(())
}

/// `cargo xtask screenshots`: runs the page tests with a browser and writes their screenshots
/// into `docs/screenshots/` (the README shows them).
pub fn screenshots(root: &Path) -> Result<()> {
    if let Err(why) = browser() {
        bail!("no browser for the screenshots: {why}");
    }
    run(
        root,
        "build the binary",
        Command::new("cargo").args(["build", "-p", "orderly"]),
    )?;
    let mut c = test_cmd(&["orderly-tests"]);
    c.args(["--", "pages::", "demo::", "vitals::"])
        .env("ORDERLY_BIN", crate::target_dir().join("debug/orderly"))
        .env("ORDERLY_REQUIRE_BROWSER", "1")
        .env("ORDERLY_SCREENSHOTS", root.join("docs/screenshots"))
        .env_remove("ORDERLY_TEST_MQTT")
        .env_remove("ORDERLY_TEST_POSTGRES_URL");
    run(root, "page tests, with screenshots", &mut c)?;
    eprintln!("screenshots in docs/screenshots/");
    Ok(())
}

fn postgres() -> (Option<String>, String) {
    if let Ok(u) = std::env::var("ORDERLY_TEST_POSTGRES_URL") {
        return (Some(u), "from ORDERLY_TEST_POSTGRES_URL".into());
    }
    let url = "postgres://postgres@127.0.0.1:5432/test".to_string();
    if listening("127.0.0.1:5432") {
        return (Some(url), "running on 127.0.0.1:5432".into());
    }
    if has("pg_ctlcluster") {
        let versions = std::fs::read_dir("/etc/postgresql")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for v in versions {
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", &v, "main", "start"])
                .status();
        }
        for _ in 0..50 {
            if listening("127.0.0.1:5432") {
                return (Some(url), "started here with pg_ctlcluster".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        return (
            None,
            "pg_ctlcluster did not bring PostgreSQL up on 127.0.0.1:5432".into(),
        );
    }
    (
        None,
        "PostgreSQL is not installed (apt-get install postgresql; .ci/run does this)".into(),
    )
}

pub fn ci(root: &Path) -> Result<()> {
    run(
        root,
        "format",
        Command::new("cargo").args(["fmt", "--all", "--check"]),
    )?;
    run(
        root,
        "lints",
        Command::new("cargo").args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        root,
        "build the binary",
        Command::new("cargo").args(["build", "-p", "orderly"]),
    )?;
    let bin = crate::target_dir().join("debug/orderly");
    let mut skipped = Vec::new();
    // With a browser installed, the page tests must run (a failure to start it fails them);
    // without one they skip, and this says so at the end.
    let browser = browser();
    if let Err(why) = &browser {
        skipped.push(format!("page tests in a browser: {why}"));
    }
    // The API tests keep every FHIR resource they were served, for the round trip below.
    let served = crate::target_dir().join("tmp/fhir-served");
    let _ = std::fs::remove_dir_all(&served);
    let mut all = test_cmd(&[]);
    if browser.is_ok() {
        all.env("ORDERLY_REQUIRE_BROWSER", "1");
    }
    all.env("ORDERLY_BIN", &bin)
        .env_remove("ORDERLY_TEST_MQTT")
        .env_remove("ORDERLY_TEST_POSTGRES_URL");
    run(
        root,
        "all tests on the embedded broker and SQLite",
        &mut all,
    )?;

    run(
        root,
        "FHIR resources served, round-tripped through the fhir crate's R4 types",
        Command::new("cargo")
            .args([
                "run",
                "--manifest-path",
                "tests/fhir-roundtrip/Cargo.toml",
                "--target-dir",
            ])
            .arg(crate::target_dir().join("fhir-roundtrip"))
            .arg("--")
            .arg(&served),
    )?;

    let tmp = tempfile_dir()?;
    let (mqtt, _keep, mqtt_why) = mosquitto(&tmp);
    let (pg, pg_why) = postgres();
    match (&mqtt, &pg) {
        (Some(m), Some(p)) => {
            let mut c = test_cmd(&["orderly-store", "orderly-tests"]);
            skip_pages(&mut c);
            c.env("ORDERLY_BIN", &bin)
                .env("ORDERLY_TEST_MQTT", m)
                .env("ORDERLY_TEST_POSTGRES_URL", p);
            run(
                root,
                &format!(
                    "store and end-to-end suites on Mosquitto ({mqtt_why}) and PostgreSQL ({pg_why})"
                ),
                &mut c,
            )?;
        }
        (None, Some(p)) => {
            skipped.push(format!("end-to-end suite on Mosquitto: {mqtt_why}"));
            let mut c = test_cmd(&["orderly-store"]);
            c.env("ORDERLY_TEST_POSTGRES_URL", p);
            run(
                root,
                &format!("store suite on PostgreSQL ({pg_why})"),
                &mut c,
            )?;
        }
        (Some(m), None) => {
            skipped.push(format!("store suite on PostgreSQL: {pg_why}"));
            let mut c = test_cmd(&["orderly-tests"]);
            skip_pages(&mut c);
            c.env("ORDERLY_BIN", &bin).env("ORDERLY_TEST_MQTT", m);
            run(
                root,
                &format!("end-to-end suite on Mosquitto ({mqtt_why})"),
                &mut c,
            )?;
        }
        (None, None) => {
            skipped.push(format!("end-to-end suite on Mosquitto: {mqtt_why}"));
            skipped.push(format!("store suite on PostgreSQL: {pg_why}"));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!();
    if skipped.is_empty() {
        eprintln!(
            "ci: every suite ran (embedded broker + SQLite; Mosquitto + PostgreSQL; pages in Chromium)"
        );
    } else {
        for s in &skipped {
            eprintln!("!!! SKIPPED: {s}");
        }
    }
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("orderly-ci-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// `cargo xtask regress [--update]`: every replay regression case, the two-hour ones included,
/// with a release build of the binary (a two-hour replay takes about a minute there).
pub fn regress(root: &Path, args: &[String]) -> Result<()> {
    let started = std::time::Instant::now();
    run(
        root,
        "build the binary (release)",
        Command::new("cargo").args(["build", "--release", "-p", "orderly"]),
    )?;
    let mut c = Command::new("cargo");
    c.args([
        "test",
        "-p",
        "orderly-tests",
        "--test",
        "e2e",
        "--",
        "regression::",
        "--test-threads",
        "1",
    ])
    .env("ORDERLY_BIN", crate::target_dir().join("release/orderly"))
    .env("ORDERLY_LONG_REGRESSION", "1");
    if args.iter().any(|a| a == "--update") {
        c.env("ORDERLY_REGRESSION_UPDATE", "1");
    } else if let Some(a) = args.first() {
        bail!("unknown argument {a:?} (usage: cargo xtask regress [--update])");
    }
    run(root, "replay regression", &mut c)?;
    eprintln!(
        "replay regression passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
