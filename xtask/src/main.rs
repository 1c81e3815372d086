//! Project automation (`cargo xtask ...`): ci, bench, eval, gen-demo, screenshots, regress. Binary crate: may use
//! anything; talks to Orderly only as a user would (its binary, MQTT, HTTP).

mod bench;
mod bench_pages;
mod ci;
mod eval;
mod eval_falls;
mod eval_maintenance;
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

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci::ci(&root()),
        Some("bench") if args.get(1).is_some_and(|a| a == "pages") => {
            bench_pages::bench(&root(), &args[2..])
        }
        Some("bench") => bench::bench(&root(), &args[1..]),
        Some("eval") => eval::eval(&root(), &args[1..]),
        Some("gen-demo") => gen_demo::generate(&root()),
        Some("screenshots") => ci::screenshots(&root()),
        Some("regress") => ci::regress(&root(), &args[1..]),
        _ => bail!(
            "usage: cargo xtask <ci|bench ingest|locator|pages|eval rooms|falls|maintenance|gen-demo|screenshots|regress [--update]>"
        ),
    }
}
