//! The README's first command, `orderly demo`, on a fresh directory: its pages have something
//! on them at once, the biomed board included (months of simulated service history, recorded
//! once), and a restart picks up where it was without recording the history again.

use orderly_tests::{binary, free_port};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Demo {
    child: Child,
    http: String,
    token: String,
    /// From the start of the process to its first answer.
    ready_after: Duration,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path) -> Demo {
    let http = format!("127.0.0.1:{}", free_port());
    // Built first (a cargo build when ORDERLY_BIN is not set), so the start is what is timed.
    let bin = binary();
    let began = Instant::now();
    let mut child = Command::new(bin)
        .args(["demo", "--http", &http])
        .args(["--mqtt-port", &free_port().to_string()])
        .args(["--hl7", &format!("127.0.0.1:{}", free_port())])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting orderly demo");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let token = loop {
        let line = lines
            .next()
            .expect("the demo ended before printing its token")
            .unwrap();
        if let Some(t) = line.strip_prefix("Admin token: ") {
            break t.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let http = format!("http://{http}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if get(&http, &token, "/readyz").0 != 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the demo never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    Demo {
        child,
        http,
        token,
        ready_after: began.elapsed(),
    }
}

fn get(http: &str, token: &str, path: &str) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    match agent
        .get(format!("{http}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
    {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

#[test]
fn a_fresh_demo_starts_with_a_populated_biomed_board_and_records_its_history_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    // Debug build on a shared CI machine: generous; the release build takes a few seconds
    // (README, figures).
    assert!(
        d.ready_after < Duration::from_secs(30),
        "{:?}",
        d.ready_after
    );
    let (status, open) = get(
        &d.http,
        &d.token,
        "/api/v1/maintenance/work-orders?status=open",
    );
    assert_eq!(status, 200, "{open}");
    let open = open.as_array().unwrap().clone();
    assert!(open.len() >= 5, "{open:?}");
    let statuses: std::collections::BTreeSet<&str> =
        open.iter().map(|w| w["status"].as_str().unwrap()).collect();
    assert!(statuses.len() >= 2, "{statuses:?}");
    let (_, done) = get(
        &d.http,
        &d.token,
        "/api/v1/maintenance/work-orders?status=done&limit=1000",
    );
    let done = done.as_array().unwrap().clone();
    assert!(done.len() >= 50, "{}", done.len());
    // Completed with results that the catalogue's limits judge, some failed and repaired.
    assert!(
        done.iter()
            .filter(|w| w["reason"] == "interval")
            .all(|w| w["results"].as_array().is_some_and(|r| !r.is_empty())),
        "a scheduled service without results"
    );
    assert!(done.iter().any(|w| w["reason"] == "repair"));
    // Predictions come from the predictor on the simulated fleet's telemetry.
    assert!(
        open.iter().chain(&done).any(|w| matches!(
            w["reason"].as_str(),
            Some("battery" | "occlusion-rate" | "fault-rate")
        )),
        "no prediction"
    );
    let (_, report) = get(&d.http, &d.token, "/api/v1/maintenance/report");
    let due: u64 = report["completion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["due"].as_u64().unwrap())
        .sum();
    assert!(due >= 50, "{report}");
    // Other pages have something on them too.
    let (_, assets) = get(
        &d.http,
        &d.token,
        "/api/v1/assets?kind=infusion_pump&limit=5",
    );
    assert_eq!(assets.as_array().unwrap().len(), 5);
    // The demo's pumps infuse from the library: the infusion report has something at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let infusion = loop {
        let (_, infusion) = get(&d.http, &d.token, "/api/v1/reports/infusion");
        if infusion["total"]["infusions"].as_u64().unwrap_or(0) > 20
            || std::time::Instant::now() > deadline
        {
            break infusion;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        infusion["total"]["infusions"].as_u64().unwrap() > 20,
        "{infusion}"
    );
    assert!(
        infusion["total"]["with_library"].as_u64().unwrap() > 0,
        "{infusion}"
    );
    // The demo's sensors report within their first minute: the daily log has a line for each.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let log = loop {
        let (_, log) = get(&d.http, &d.token, "/api/v1/reports/environment");
        let lines = log["days"].as_array().map_or(0, Vec::len);
        if lines >= 6 || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(1000));
    };
    assert!(log["days"].as_array().unwrap().len() >= 6, "{log}");
    assert!(
        log["days"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["readings"].as_u64().unwrap() >= 1),
        "{log}"
    );
    // The board itself, when a browser is here: every column and list has something.
    if let Ok(b) = orderly_tests::browser::Browser::start(1920, 1080) {
        b.goto(&format!("{}/", d.http));
        b.type_into("#token", &d.token);
        b.click("#signin button[type=submit]");
        b.wait_for(
            "signed in",
            Duration::from_secs(30),
            "return !document.getElementById('top').hidden",
        );
        b.goto(&format!("{}/#/biomed", d.http));
        b.wait_for(
            "a populated biomed board",
            Duration::from_secs(30),
            "return document.querySelectorAll('[data-wo]').length >= 5 && document.querySelectorAll('[data-done]').length > 0 \
               && document.querySelectorAll('#compliance tr[data-risk]').length > 0 \
               && document.querySelectorAll('#infusion tr[data-unit]').length > 1",
        );
        if let Some(dir) = orderly_tests::browser::screenshot_dir() {
            b.screenshot(&dir, "biomed-demo.png");
        }
        let text = b.eval("return document.body.innerText", serde_json::json!([]));
        assert!(!text.as_str().unwrap().contains("recall:"), "{text}");
        let inf = b.eval(
            "return document.getElementById('infusion').innerText",
            serde_json::json!([]),
        );
        let inf = inf.as_str().unwrap();
        assert!(
            inf.contains("All units")
                && inf.contains(" %")
                && !inf.contains("NaN")
                && !inf.contains("undefined"),
            "{inf}"
        );
    }
    drop(d);

    // Started again: the same history, not a second one.
    let again = start(dir.path());
    let (_, done2) = get(
        &again.http,
        &again.token,
        "/api/v1/maintenance/work-orders?status=done&limit=1000",
    );
    assert_eq!(done2.as_array().unwrap().len(), done.len());
}
