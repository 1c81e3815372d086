//! `cargo xtask bench hl7`: HL7 messages per second applied with commit before ACK, on SQLite
//! and on PostgreSQL (a server of its own), over one connection and over eight, as an interface
//! engine drains its backlog after an outage (each connection sends a message, waits for its
//! ACK, sends the next). Each connection admits, assesses, updates, transfers and discharges
//! patients in beds of its own, so every message is applied (a refusal fails the run).

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Params {
    messages: usize,
    runs: usize,
    postgres: bool,
}

fn parse(args: &[String]) -> Result<Params> {
    let mut p = Params {
        messages: 4000,
        runs: 3,
        postgres: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<usize> {
            it.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--messages" => p.messages = num("--messages")?,
            "--runs" => p.runs = num("--runs")?.max(1),
            "--sqlite-only" => p.postgres = false,
            x => bail!(
                "unknown option {x:?}: cargo xtask bench hl7 [--messages N] [--runs N] [--sqlite-only]"
            ),
        }
    }
    Ok(p)
}

/// The demo's beds with their HL7 locations (from the census map), in order.
fn beds(root: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(root.join("floorplans/demo-census.toml"))?;
    Ok(text
        .lines()
        .filter_map(|l| l.strip_prefix("location = \""))
        .map(|l| l.trim_end_matches('"').to_string())
        .collect())
}

/// The demo seed without its patients: every bed free for the bench's own.
fn seed(root: &Path, dir: &Path) -> Result<std::path::PathBuf> {
    let text = std::fs::read_to_string(root.join("floorplans/demo-seed.toml"))?;
    let cut = text.find("[[patient]]").unwrap_or(text.len());
    let p = dir.join("seed.toml");
    std::fs::write(&p, &text[..cut])?;
    Ok(p)
}

fn exchange(s: &mut TcpStream, msg: &str) -> Result<String> {
    let mut f = vec![0x0b];
    f.extend_from_slice(msg.as_bytes());
    f.extend_from_slice(&[0x1c, 0x0d]);
    s.write_all(&f)?;
    let mut got = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !got.ends_with(&[0x1c, 0x0d]) {
        let n = s.read(&mut buf)?;
        if n == 0 {
            bail!("the listener closed the connection");
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

/// The messages of connection `c`: patients admitted, scored, updated, moved and discharged in
/// its own beds, one after another.
fn script(c: usize, own: &[String], count: usize, run: u128) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    let mut n = 0usize;
    let mut minute = 0u64; // seconds, really
    while out.len() < count {
        let mrn = format!("{c}{n:06}");
        let bed = &own[n % own.len()];
        let next = &own[(n + 1) % own.len()];
        let mut msg = |kind: &str, body: String| {
            minute += 1;
            // One second apart, increasing (a patient's messages never look older than the last).
            let sec = minute % 86_400;
            let t = 20_261_205_000_000u64 + sec / 3600 * 10_000 + sec / 60 % 60 * 100 + sec % 60;
            out.push(format!(
                "MSH|^~\\&|BENCH|GH|ORDERLY|GH|{t}||{kind}|B{run}-{c}-{}|P|2.5.1\rEVN||{t}\r{body}\r",
                out.len()
            ));
        };
        let pid = format!("PID|1||{mrn}^^^GH^MR||Bench^Patient{n}||19600101|F");
        msg("ADT^A01", format!("{pid}\rPV1|1|I|{bed}"));
        msg(
            "ORU^R01",
            format!(
                "{pid}\rOBR|1\rOBX|1|NM|59460-6^Morse^LN||55||||||F\rOBX|2|NM|38227-5^Braden^LN||14||||||F"
            ),
        );
        msg(
            "ADT^A08",
            format!("{pid}\rPV1|1|I|{bed}||||77^Grey^Meredith"),
        );
        if own.len() > 1 {
            msg("ADT^A02", format!("{pid}\rPV1|1|I|{next}"));
        }
        msg("ADT^A03", format!("{pid}\rPV1|1|I|"));
        n += 1;
    }
    out.truncate(count);
    out
}

/// One run: Orderly on `db`, `conns` connections sending `messages` in all; messages per second.
fn one(
    bin: &Path,
    seed: &Path,
    db: &str,
    beds: &[String],
    conns: usize,
    messages: usize,
) -> Result<f64> {
    let http = format!("127.0.0.1:{}", orderly_tests::free_port());
    let mqtt = orderly_tests::free_port().to_string();
    let (_o, lines) = crate::bench::spawn(
        bin,
        &[
            "run",
            "--http",
            &http,
            "--mqtt-port",
            &mqtt,
            "--embedded-broker",
            "true",
            "--database",
            db,
            "--sim-seed",
            &seed.display().to_string(),
            "--hl7",
            "127.0.0.1:0",
        ],
        &["HL7: MLLP on ", "API: "],
    )?;
    let addr = lines
        .iter()
        .find_map(|l| l.strip_prefix("HL7: MLLP on "))
        .and_then(|l| l.split_whitespace().next())
        .context("the HL7 address")?
        .to_string();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let per = messages / conns;
    let share = beds.len() / conns;
    let scripts: Vec<Vec<String>> = (0..conns)
        .map(|c| script(c, &beds[c * share..(c + 1) * share], per, run))
        .collect();
    let started = Instant::now();
    let handles: Vec<_> = scripts
        .into_iter()
        .map(|msgs| {
            let addr = addr.clone();
            std::thread::spawn(move || -> Result<usize> {
                let mut s = TcpStream::connect(&addr)?;
                s.set_read_timeout(Some(Duration::from_secs(30)))?;
                s.set_nodelay(true)?;
                for m in &msgs {
                    let ack = exchange(&mut s, m)?;
                    if !ack.contains("MSA|AA|") {
                        bail!("not applied: {}", ack.replace('\r', " / "));
                    }
                }
                Ok(msgs.len())
            })
        })
        .collect();
    let mut sent = 0;
    for h in handles {
        sent += h
            .join()
            .map_err(|_| anyhow::anyhow!("a sender panicked"))??;
    }
    Ok(sent as f64 / started.elapsed().as_secs_f64())
}

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let p = parse(args)?;
    let bin = crate::bench::orderly_bin(root)?;
    let dir = tempfile::tempdir()?;
    let seed = seed(root, dir.path())?;
    let beds = beds(root)?;
    let pg = if p.postgres {
        match crate::faults::Pg::start_new(dir.path()) {
            Ok(pg) => Some(pg),
            Err(e) => {
                eprintln!("SKIPPED: PostgreSQL: {e}");
                None
            }
        }
    } else {
        None
    };
    let wall = Instant::now();
    let mut rows = Vec::new();
    let mut k = 0;
    for backend in ["SQLite", "PostgreSQL"] {
        if backend == "PostgreSQL" && pg.is_none() {
            continue;
        }
        for conns in [1usize, 8] {
            let mut rates = Vec::new();
            for r in 0..p.runs {
                k += 1;
                let db = match &pg {
                    Some(pg) if backend == "PostgreSQL" => {
                        let name = format!("bench{k}");
                        let base = pg.url();
                        let ok = Command::new("psql")
                            .args([base.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
                            .status()
                            .is_ok_and(|s| s.success());
                        if !ok {
                            bail!("cannot create database {name} (is psql installed?)");
                        }
                        let (server, _) = base.rsplit_once('/').context("a database URL")?;
                        format!("{server}/{name}")
                    }
                    _ => format!(
                        "sqlite://{}",
                        dir.path().join(format!("bench{k}.db")).display()
                    ),
                };
                let rate = one(&bin, &seed, &db, &beds, conns, p.messages)?;
                eprintln!(
                    "{backend}, {conns} connection(s), run {}: {rate:.0} msg/s",
                    r + 1
                );
                rates.push(rate);
            }
            rows.push((backend, conns, crate::bench::median(&mut rates)));
        }
    }
    println!(
        "\nHL7 benchmark: {} messages per run (admit, ORU scores, A08, A02, A03 per patient), each ACKed after commit; median of {} runs",
        p.messages, p.runs
    );
    println!("| database | connections | messages/s |");
    println!("|---|---|---|");
    for (b, c, r) in &rows {
        println!("| {b} | {c} | {r:.0} |");
    }
    println!(
        "\n(a large hospital's ADT feed runs at a few messages a second: 300 msg/s drains a backlog 100 times faster)"
    );
    eprintln!(
        "bench hl7 took {:.0} s (wall time, release build of orderly)",
        wall.elapsed().as_secs_f64()
    );
    Ok(())
}
