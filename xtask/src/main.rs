//! Project automation (`cargo xtask ...`): ci, bench, eval, gen-demo, screenshots, regress. Binary crate: may use
//! anything; talks to Orderly only as a user would (its binary, MQTT, HTTP).

mod bench;
mod bench_hl7;
mod bench_pages;
mod bench_replay;
mod ci;
mod eval;
mod eval_falls;
mod eval_maintenance;
mod eval_rooms_sim;
mod eval_vitals;
mod faults;
mod gen_demo;

use anyhow::{Result, bail};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Where cargo puts what it builds (`CARGO_TARGET_DIR`, or `target/` in the workspace).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Commands that run the world or the simulator in this process for minutes: evaluations.
/// From an unoptimised xtask (the `cargo xtask` alias builds the dev profile, which keeps
/// `cargo xtask ci` from compiling the tree twice) they re-run themselves as an optimised build.
fn heavy(args: &[String]) -> bool {
    matches!(args.first().map(String::as_str), Some("eval"))
}

/// Re-runs this command with an optimised xtask; its exit status is ours.
fn run_optimised(args: &[String]) -> Result<()> {
    eprintln!(
        "(running `{}` with an optimised build: cargo run --release -p xtask)",
        args.join(" ")
    );
    let status =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["run", "--quiet", "--release", "--package", "xtask", "--"])
            .args(args)
            .current_dir(root())
            .env("ORDERLY_XTASK_OPTIMISED", "1")
            .status()?;
    if !status.success() {
        bail!("{} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if heavy(&args)
        && cfg!(debug_assertions)
        && std::env::var_os("ORDERLY_XTASK_OPTIMISED").is_none()
    {
        return run_optimised(&args);
    }
    let started = std::time::Instant::now();
    let result = dispatch(&args);
    if matches!(
        args.first().map(String::as_str),
        Some("eval" | "bench" | "regress")
    ) {
        eprintln!(
            "{} took {:.1} s (wall time, {} build of xtask)",
            args.join(" "),
            started.elapsed().as_secs_f64(),
            if cfg!(debug_assertions) {
                "unoptimised"
            } else {
                "optimised"
            }
        );
    }
    result
}

fn dispatch(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("ci") => ci::ci(&root()),
        Some("faults") => faults::faults(&root(), &args[1..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "hl7") => {
            bench_hl7::bench(&root(), &args[2..])
        }
        Some("bench") if args.get(1).is_some_and(|a| a == "replay") => {
            bench_replay::bench(&root(), &args[2..])
        }
        Some("bench") if args.get(1).is_some_and(|a| a == "failover") => {
            faults::failover(&root(), &args[2..])
        }
        Some("bench") if args.get(1).is_some_and(|a| a == "pages") => {
            bench_pages::bench(&root(), &args[2..])
        }
        Some("bench") => bench::bench(&root(), &args[1..]),
        Some("eval") => eval::eval(&root(), &args[1..]),
        Some("gen-demo") => gen_demo::generate(&root()),
        Some("screenshots") => ci::screenshots(&root()),
        Some("regress") => ci::regress(&root(), &args[1..]),
        _ => bail!(
            "usage: cargo xtask <ci|faults [--quick]|bench ingest|locator|pages|hl7|failover|replay|eval rooms|falls|maintenance|gen-demo|screenshots|regress [--update]>"
        ),
    }
}
