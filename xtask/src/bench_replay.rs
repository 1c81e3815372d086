//! `cargo xtask bench replay`: a recorded demo-hospital day through `orderly replay`, the whole
//! pipeline in virtual time (what a restored site, a backtest or an investigation of a day
//! costs). The day is simulated first with `orderly sim --capture` (not timed), with the
//! demo's traffic: every receiver, bed, pump, wristband and sensor of the demo hospital, with
//! equipment moves, bed exits, falls and care lapses; then replayed `--runs` times (median).
//! Target: under 5 minutes.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let mut hours = 24u32;
    let mut runs = 1usize;
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1);
        match args[i].as_str() {
            "--hours" => {
                hours = v
                    .context("--hours takes a number")?
                    .parse()
                    .context("--hours takes a number of hours, 1 to 24")?;
                if !(1..=24).contains(&hours) {
                    bail!("--hours {hours}: 1 to 24");
                }
            }
            "--runs" => {
                runs = v
                    .context("--runs takes a number")?
                    .parse()
                    .context("--runs takes a number")?;
            }
            o => bail!("unknown option {o}: cargo xtask bench replay [--hours H] [--runs N]"),
        }
        i += 2;
    }
    let bin = crate::bench::orderly_bin(root)?;
    let dir = tempfile::tempdir()?;
    let capture = dir.path().join("day.jsonl");
    let began = Instant::now();
    let out = Command::new(&bin)
        .args(["sim", "--capture"])
        .arg(&capture)
        .args(["--duration", &(hours * 3600).to_string(), "--sim-seed", "1"])
        .args(["--falls-per-hour", "0.2", "--bed-exits-per-hour", "1"])
        .args(["--moves-per-hour", "6", "--care-lapses", "0.1"])
        .current_dir(root)
        .output()?;
    if !out.status.success() {
        bail!("orderly sim: {}", String::from_utf8_lossy(&out.stderr));
    }
    let lines = count_lines(&capture)?;
    let size = std::fs::metadata(&capture)?.len();
    eprintln!(
        "simulated {hours} h: {lines} messages, {:.0} MiB, in {:.0} s",
        size as f64 / (1 << 20) as f64,
        began.elapsed().as_secs_f64()
    );
    let mut secs = Vec::new();
    let mut events = 0;
    for r in 0..runs {
        let events_file = dir.path().join("events.jsonl");
        let began = Instant::now();
        let out = Command::new(&bin)
            .arg("replay")
            .arg(&capture)
            .arg("--out")
            .arg(&events_file)
            .current_dir(root)
            .output()?;
        let took = began.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!("orderly replay: {}", String::from_utf8_lossy(&out.stderr));
        }
        events = count_lines(&events_file)?;
        eprintln!("run {}: {took:.1} s", r + 1);
        secs.push(took);
    }
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    println!(
        "replay of a simulated demo-hospital {hours} h ({lines} messages, {events} events): median {median:.1} s of {runs} runs, {:.0} messages/s, {:.0}x real time (target for 24 h: under 300 s)",
        lines as f64 / median,
        hours as f64 * 3600.0 / median
    );
    if hours == 24 && median > 300.0 {
        bail!("the day took {median:.0} s to replay (target 300 s)");
    }
    Ok(())
}

/// Lines of a file, read in pieces (a day's capture is gigabytes).
fn count_lines(path: &Path) -> Result<usize> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += buf[..got].iter().filter(|b| **b == b'\n').count();
    }
}
