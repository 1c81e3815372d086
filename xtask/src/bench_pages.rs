//! `cargo xtask bench pages`: from a wearable's fall message to the alert card on a nursing
//! station's screen. The release binary on the embedded broker and SQLite, the station page in
//! headless Chromium signed in as a nurse; each sample publishes one patient's on-device fall
//! and the page itself records (a MutationObserver, `Date.now()`) when that patient's
//! high-priority card appears. Same machine, same clock. Reports each run's p50, p90 and max,
//! and the median of the runs' medians.

use anyhow::{Context, Result, bail};
use orderly_tests::browser::Browser;
use orderly_tests::{Device, Setup, now_rfc3339, seed_patients};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

/// The ICU's patients with a wearable, from the demo seed: (patient id, wearable id).
fn icu_wearers(root: &Path) -> Result<Vec<(String, String)>> {
    let seed = std::fs::read_to_string(root.join("floorplans/demo-seed.toml"))?;
    let out = seed_patients(&seed)
        .into_iter()
        .filter(|p| p.get("bed").is_some_and(|b| b.starts_with("BED-ICU-")))
        .filter_map(|p| Some((p.get("id")?.clone(), p.get("wearable")?.clone())))
        .collect();
    Ok(out)
}

const OBSERVE: &str = "window.seenAt = {}; \
    const mark = () => { for (const a of document.querySelectorAll('#alerts article.alert.high')) { \
      const subject = a.dataset.alert.split(':')[1]; if (!(subject in window.seenAt)) window.seenAt[subject] = Date.now(); } }; \
    new MutationObserver(mark).observe(document.getElementById('alerts'), { childList: true, subtree: true }); mark(); return null";

fn one_run(wearers: &[(String, String)]) -> Result<Vec<f64>> {
    let setup = Setup::new();
    let o = setup.start();
    let nurse = setup.token("nurse", "Nurse Bench", "ICU");
    let b = Browser::start(1920, 1080).map_err(|e| anyhow::anyhow!("no browser: {e}"))?;
    b.goto(&format!("{}/", o.http));
    b.type_into("#token", &nurse);
    b.click("#signin button[type=submit]");
    b.wait_for(
        "the ICU board",
        Duration::from_secs(30),
        "return location.hash === '#/station/ICU' && !!document.getElementById('alerts') && document.getElementById('live').classList.contains('on')",
    );
    b.eval(OBSERVE, json!([]));
    let dev = Device::connect(&o.mqtt, None);
    let mut out = Vec::new();
    for (patient, wearable) in wearers {
        let t0 = epoch_ms();
        dev.json(
            &o.topic(&format!("wearable/{wearable}/event")),
            &json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95}),
        );
        let seen = b.wait_for(
            &format!("{patient}'s fall on the board"),
            Duration::from_secs(30),
            &format!("return window.seenAt[{}] || null", json!(patient)),
        );
        let at = seen.as_f64().context("a time")?;
        out.push(at - t0);
        // Let the board settle before the next one, as falls do not come in bursts.
        std::thread::sleep(Duration::from_millis(300));
    }
    dev.close();
    drop(b);
    o.stop();
    Ok(out)
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let mut runs = 3usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().context("--runs N")?.parse()?,
            other => bail!("unknown option {other} (cargo xtask bench pages [--runs N])"),
        }
    }
    let status = std::process::Command::new("cargo")
        .args(["build", "--release", "-p", "orderly"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    // SAFETY: set before any thread of this process starts; the harness reads it to run the
    // release binary instead of building a debug one.
    unsafe {
        std::env::set_var("ORDERLY_BIN", crate::target_dir().join("release/orderly"));
        std::env::remove_var("ORDERLY_TEST_MQTT");
        std::env::remove_var("ORDERLY_TEST_POSTGRES_URL");
    }
    let wearers = icu_wearers(root)?;
    let mut medians = Vec::new();
    for i in 0..runs {
        let v = one_run(&wearers)?;
        eprintln!(
            "run {}: fall message -> card on the station page: p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms ({} samples)",
            i + 1,
            pct(&v, 0.5),
            pct(&v, 0.9),
            pct(&v, 1.0),
            v.len()
        );
        medians.push(pct(&v, 0.5));
    }
    println!(
        "bench pages: {runs} runs, median of the runs' p50: {:.0} ms (runs: {})",
        pct(&medians, 0.5),
        medians
            .iter()
            .map(|m| format!("{m:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
