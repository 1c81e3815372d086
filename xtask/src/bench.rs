//! `cargo xtask bench ingest`: a scaled hospital load through a real broker into the release
//! binary, measured from outside (MQTT in, HTTP and SSE out), against the same broker with no
//! Orderly in the loop. Medians of repeated runs are reported: these machines are shared.

use anyhow::{Context, Result, bail};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Params {
    tags: usize,
    beds: usize,
    sightings: usize,
    messages: usize,
    rate: u64,
    seconds: u64,
    moves: u64,
    alerts: u64,
    falls: u64,
    runs: usize,
    /// Mosquitto (as a hospital runs it) instead of the embedded broker.
    mosquitto: bool,
    /// Patients whose wearable streams vital signs, one message each 5 s.
    vitals: usize,
    /// Nurses' spot checks a second that cross into NEWS2 5-6 (timed to their alert).
    news2: u64,
}

fn parse(args: &[String]) -> Result<Params> {
    let mut p = Params {
        tags: 5000,
        beds: 60,
        sightings: 10,
        // A flood of several seconds: 40,000 took under a second, most of it spent placing
        // every tag for the first time (a one-off), and a single slow step or commit moved
        // the ratio by a fifth from run to run.
        messages: 200_000,
        rate: 1000,
        seconds: 15,
        moves: 20,
        alerts: 2,
        falls: 2,
        runs: 3,
        mosquitto: false,
        vitals: 0,
        news2: 1,
    };
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).context("every option takes a value")?;
        match args[i].as_str() {
            "--tags" => p.tags = v.parse()?,
            "--beds" => p.beds = v.parse()?,
            "--sightings" => p.sightings = v.parse()?,
            "--messages" => p.messages = v.parse()?,
            "--rate" => p.rate = v.parse()?,
            "--seconds" => p.seconds = v.parse()?,
            "--moves" => p.moves = v.parse()?,
            "--alerts" => p.alerts = v.parse()?,
            "--falls" => p.falls = v.parse()?,
            "--runs" => p.runs = v.parse()?,
            "--vitals" => p.vitals = v.parse()?,
            "--news2" => p.news2 = v.parse()?,
            "--broker" => {
                p.mosquitto = match v.as_str() {
                    "mosquitto" => true,
                    "embedded" => false,
                    o => bail!("--broker {o}: embedded or mosquitto"),
                }
            }
            o => bail!("unknown option {o}; see docs/benchmarks.md"),
        }
        i += 2;
    }
    Ok(p)
}

pub(crate) struct Proc(pub(crate) Child);
impl Drop for Proc {
    fn drop(&mut self) {
        // Its children too: under ORDERLY_BENCH_WRAP the child is the profiler's wrapper.
        let _ = Command::new("pkill")
            .args(["-TERM", "-P", &self.0.id().to_string()])
            .status();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the binary and returns the lines it printed once `until` matched.
///
/// `ORDERLY_BENCH_WRAP` (a command line, split at spaces) runs `orderly run` under a profiler:
/// `ORDERLY_BENCH_WRAP="heaptrack -o /tmp/ht"` or `"perf record -g -o /tmp/perf.data --"`.
pub(crate) fn spawn(bin: &Path, args: &[&str], until: &[&str]) -> Result<(Proc, Vec<String>)> {
    let wrap = std::env::var("ORDERLY_BENCH_WRAP")
        .ok()
        .filter(|w| !w.trim().is_empty() && args.first() == Some(&"run"));
    let mut command = match &wrap {
        Some(w) => {
            let mut parts = w.split_whitespace();
            let mut c = Command::new(parts.next().unwrap_or_default());
            c.args(parts).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = command
        .args(args)
        .env("ORDERLY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    let mut seen = 0;
    for line in out.by_ref() {
        let line = line?;
        if until.iter().any(|u| line.starts_with(u)) {
            seen += 1;
        }
        lines.push(line);
        if seen == until.len() {
            // Keep reading what it prints, so that it never writes into a closed pipe.
            std::thread::spawn(move || out.for_each(drop));
            return Ok((Proc(child), lines));
        }
    }
    bail!("orderly {args:?} exited before it was ready")
}

/// A broker on `port`: the embedded one (`orderly broker`), or Mosquitto configured as
/// docs/device-contract.md advises (1000 messages in flight per client).
fn start_broker(p: &Params, bin: &Path, dir: &Path, port: u16) -> Result<Proc> {
    if !p.mosquitto {
        let (b, _) = spawn(
            bin,
            &["broker", "--listen", &format!("127.0.0.1:{port}")],
            &["MQTT broker"],
        )?;
        return Ok(b);
    }
    let conf = dir.join(format!("mosquitto-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nmax_inflight_messages 1000\nmax_queued_messages 1000000\nmessage_size_limit 1048576\n"
        ),
    )?;
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mosquitto (is it installed?)")?;
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("Mosquitto did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(proc)
}

/// The release binary the benches run: built from this tree, or `ORDERLY_BENCH_BIN` (another
/// build, an earlier commit's, for before and after on the same machine in one sitting).
pub(crate) fn orderly_bin(root: &Path) -> Result<PathBuf> {
    if let Some(b) = std::env::var_os("ORDERLY_BENCH_BIN") {
        return Ok(PathBuf::from(b));
    }
    let status = Command::new("cargo")
        .args(["build", "--release", "-p", "orderly"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("release build failed");
    }
    Ok(crate::target_dir().join("release/orderly"))
}

/// Receivers of the demo floorplan, with their rooms.
pub(crate) fn receivers(root: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(root.join("floorplans/demo.toml"))?;
    let mut out = Vec::new();
    let mut room = String::new();
    for line in text.lines() {
        if let Some(id) = line
            .strip_prefix("id = \"")
            .and_then(|r| r.strip_suffix('"'))
        {
            room = id.to_string();
        }
        if let Some(list) = line.strip_prefix("receivers = [") {
            for rx in list.trim_end_matches(']').split(',') {
                out.push((rx.trim().trim_matches('"').to_string(), room.clone()));
            }
        }
    }
    Ok(out)
}

/// The registry: `tags` tagged pumps, `beds` smart beds, and `patients` patients with a
/// wearable each, in beds of their own (ICU) that send nothing: their falls are not suppressed.
fn seed_file(dir: &Path, tags: usize, beds: usize, patients: usize) -> Result<PathBuf> {
    let p = dir.join("bench-seed.toml");
    let mut text = format!(
        "[[fleet]]\nkind = \"infusion_pump\"\ncount = {tags}\nid = \"BENCH-{{n}}\"\ntag = \"BT-{{n}}\"\nwidth = 6\n"
    );
    if beds > 0 {
        text.push_str(&format!("\n[[fleet]]\nkind = \"bed\"\ncount = {beds}\nid = \"BBED-{{n}}\"\ndevice = \"bbed-{{n}}\"\nwidth = 4\nunits = [\"ICU\"]\n"));
    }
    if patients > 0 {
        text.push_str(&format!("\n[[fleet]]\nkind = \"bed\"\ncount = {patients}\nid = \"PBED-{{n}}\"\nwidth = 4\nunits = [\"ICU\"]\n"));
        for n in 1..=patients {
            text.push_str(&format!(
                "\n[[patient]]\nid = \"BP-{n:04}\"\nname = \"Bench Patient {n}\"\nbed = \"PBED-{n:04}\"\nmorse = 50\nbraden = 18\nventilated = false\nwearable = \"bw-{n:04}\"\n"
            ));
        }
    }
    std::fs::write(&p, text)?;
    Ok(p)
}

/// A wearable's fall at 50 Hz, in two batches as a device would send them: upright, 0.4 s of
/// free fall and the impact at 2.5 s into the first; lying still on the floor in the second,
/// whose last sample is the last one the detector needs (`post_end_s` = 3 s after the impact).
fn fall_batches() -> (Vec<u8>, Vec<u8>) {
    let sample = |k: usize| -> [f32; 3] {
        let t = k as f32 * 0.02 - 2.5; // seconds from the impact
        let wobble = ((k * 37) % 7) as f32 * 0.003;
        match t {
            t if t < -0.4 => [wobble, 1.0, 0.0],
            t if t < 0.0 => [0.05, 0.3, 0.05],
            t if t < 0.06 => [2.5, 2.0, 0.5],
            _ => [wobble, 0.0, 1.0],
        }
    };
    let batch = |from: usize, to: usize, ts: &str| {
        let samples: Vec<String> = (from..to)
            .map(|k| {
                let [x, y, z] = sample(k);
                format!("[{x:.3},{y:.3},{z:.3}]")
            })
            .collect();
        format!(
            "{{\"ts\":\"{ts}\",\"hz\":50,\"acc_g\":[{}]}}",
            samples.join(",")
        )
        .into_bytes()
    };
    // 0..150: -2.5 s .. +0.5 s; 150..277: +0.5 s .. +3.02 s.
    (batch(0, 150, &stamp(0)), batch(150, 277, &stamp(3000)))
}

/// The time the bench's devices stamp their messages with: now plus `offset_ms`, to the
/// microsecond, and at least a microsecond after the last stamp, so that no two messages of a
/// device are the same bytes (Orderly counts a repeat as the broker's redelivery, a duplicate)
/// while the stamps keep to the wall clock. (A millisecond per message ran 200,000 flooded
/// messages 200 s ahead of it, and a second run's past the 300 s that `clock_skew` allows.)
fn stamp(offset_ms: i64) -> String {
    static LAST_US: AtomicU64 = AtomicU64::new(0);
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let next = |last: u64| now_us.max(last + 1);
    let last = LAST_US
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(next(last))
        })
        .unwrap_or_default();
    let us = next(last) as i64 + offset_ms * 1000;
    let ms = orderly_model::Timestamp(us.div_euclid(1000)).to_rfc3339();
    // "...T10:00:00.123Z" -> "...T10:00:00.123456Z"
    format!("{}{:03}Z", ms.trim_end_matches('Z'), us.rem_euclid(1000))
}

/// A smart bed's message: every tenth its frame state, otherwise a second of load cells.
fn bed_payload(i: usize) -> Vec<u8> {
    if i.is_multiple_of(10) {
        return format!(r#"{{"ts":"{}","occupied":true,"hob_deg":30.0,"height":"low","brakes":true,"rails":{{"head_left":true,"head_right":true,"foot_left":false,"foot_right":false}},"exit_alarm":"armed","surface":"static","moving":false}}"#, stamp(0)).into_bytes();
    }
    let samples = ["[18.2,19.1,17.5,16.9]"; 10].join(",");
    format!(
        "{{\"ts\":\"{}\",\"hz\":10,\"cells_kg\":[{samples}]}}",
        stamp(0)
    )
    .into_bytes()
}

/// A bed whose exit alarm sounds (the shipped rule `bed-exit-alarm` raises a high alert).
fn bed_alarm() -> Vec<u8> {
    format!(r#"{{"ts":"{}","occupied":false,"hob_deg":30.0,"height":"low","brakes":true,"rails":{{"head_left":true,"head_right":true,"foot_left":false,"foot_right":false}},"exit_alarm":"alarming","surface":"static","moving":false}}"#, stamp(0)).into_bytes()
}

fn bed_topic(b: usize, i: usize) -> String {
    let leaf = if i.is_multiple_of(10) {
        "state"
    } else {
        "load"
    };
    format!("orderly/v1/general/bed/bbed-{:04}/{leaf}", b + 1)
}

/// The sightings load: receiver r reports `k` of the tags homed in its room.
fn payload(rx_room_tags: &[usize], k: usize, cursor: &mut usize, ir: Option<usize>) -> Vec<u8> {
    let mut s = String::with_capacity(40 + 40 * k);
    s.push_str(&format!("{{\"ts\":\"{}\",\"sightings\":[", stamp(0)));
    let mut first = true;
    if let Some(t) = ir {
        s.push_str(&format!(
            "{{\"tag\":\"BT-{:06}\",\"rssi\":-55,\"ir\":true}}",
            t + 1
        ));
        first = false;
    }
    for _ in 0..k.min(rx_room_tags.len()) {
        let t = rx_room_tags[*cursor % rx_room_tags.len()];
        *cursor += 1;
        if !first {
            s.push(',');
        }
        first = false;
        s.push_str(&format!(
            "{{\"tag\":\"BT-{:06}\",\"rssi\":{}}}",
            t + 1,
            -58 - (t % 7) as i32
        ));
    }
    s.push_str("]}");
    s.into_bytes()
}

fn client(port: u16, id: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_inflight(1000);
    o.set_request_channel_capacity(50_000);
    o.set_max_packet_size(1 << 20, 1 << 20);
    AsyncClient::new(o, 50_000)
}

/// Publishes `msgs` as fast as the broker takes them (QoS 1); returns when all are acknowledged.
async fn flood(port: u16, msgs: &[(String, Vec<u8>)]) -> Result<Duration> {
    let (c, mut el) = client(port, &format!("bench-pub-{}", free_port()));
    let acked = Arc::new(AtomicU64::new(0));
    let a2 = acked.clone();
    let el_task = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    a2.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    let start = Instant::now();
    for (t, p) in msgs {
        c.publish(t.clone(), QoS::AtLeastOnce, false, p.clone())
            .await?;
    }
    while acked.load(Ordering::Relaxed) < msgs.len() as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let d = start.elapsed();
    el_task.abort();
    Ok(d)
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        f64::NAN
    } else {
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    }
}

/// CPU time the thread named `name` of process `pid` has had, in seconds (Linux: the
/// scheduler's nanoseconds on CPU from `schedstat`, else `stat`'s ticks; None elsewhere). A
/// wall-clock rate on a small machine moves with whatever else runs (the broker, the
/// publisher); the world thread's own CPU per message compares two builds more steadily.
fn thread_cpu_s(pid: u32, name: &str) -> Option<f64> {
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let dir = t.path();
        if std::fs::read_to_string(dir.join("comm")).ok()?.trim() != name {
            continue;
        }
        if let Some(ns) = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        {
            return Some(ns / 1e9);
        }
        // utime and stime, fields 14 and 15, after the command in parentheses.
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        return Some(ticks / 100.0);
    }
    None
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn get_json(http: &str, token: &str, path: &str) -> Result<serde_json::Value> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut r = agent
        .get(format!("{http}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()?;
    Ok(r.body_mut().read_json()?)
}

/// Events the world emitted that are not committed yet, and the last emitted, from /metrics.
fn commit_state(http: &str, token: &str) -> Result<(f64, f64)> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let text = agent
        .get(format!("{http}/metrics"))
        .header("Authorization", format!("Bearer {token}"))
        .call()?
        .body_mut()
        .read_to_string()?;
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    let emitted = gauge("orderly_emitted_seq ");
    Ok((emitted - gauge("orderly_committed_seq "), emitted))
}

struct Run {
    raw_msgs_s: f64,
    orderly_msgs_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    latency_samples: usize,
    nominal_msgs_s: f64,
    peak_mib: f64,
    /// World thread CPU per message of the flood, microseconds.
    flood_world_us: f64,
    /// World thread CPU per flooded message, up to the flood's last commit, microseconds.
    flood_world_total_us: f64,
    /// World thread CPU over the nominal load's wall time (0..1).
    nominal_world_busy: f64,
    alert_p50_ms: f64,
    alert_p99_ms: f64,
    alert_samples: usize,
    fall_p50_ms: f64,
    fall_p99_ms: f64,
    fall_samples: usize,
    news2_p50_ms: f64,
    news2_p99_ms: f64,
    news2_samples: usize,
    vitals_msgs: u64,
}

fn one_run(root: &Path, bin: &Path, p: &Params, dir: &Path) -> Result<Run> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rxs = receivers(root)?;
    let fallers = (p.falls * p.seconds) as usize + 1;
    let fallers = if p.falls > 0 { fallers } else { 0 };
    // Patients BP-0001.. fall; those after them stream vital signs.
    let seed = seed_file(dir, p.tags, p.beds, fallers + p.vitals)?;
    // Tags homed round-robin in the receivers' rooms.
    let mut room_tags: HashMap<String, Vec<usize>> = HashMap::new();
    let rooms: Vec<String> = {
        let mut r: Vec<String> = rxs.iter().map(|(_, r)| r.clone()).collect();
        r.dedup();
        r
    };
    for t in 0..p.tags {
        room_tags
            .entry(rooms[t % rooms.len()].clone())
            .or_default()
            .push(t);
    }
    let mut cursor = 0usize;
    // Each round, every receiver reports once and every bed sends once.
    let round = rxs.len() + p.beds;
    let msgs: Vec<(String, Vec<u8>)> = (0..p.messages)
        .map(|i| {
            let k = i % round;
            if k < rxs.len() {
                let (rx, room) = &rxs[k];
                (
                    format!("orderly/v1/general/rtls/{rx}/sightings"),
                    payload(&room_tags[room], p.sightings, &mut cursor, None),
                )
            } else {
                (bed_topic(k - rxs.len(), i / round), bed_payload(i / round))
            }
        })
        .collect();

    // 1. The broker alone: the same messages to one subscriber.
    let port = free_port();
    let broker = start_broker(p, bin, dir, port)?;
    let raw = rt.block_on(async {
        let (sub, mut el) = client(port, "bench-sub");
        sub.subscribe("orderly/v1/general/#", QoS::AtLeastOnce)
            .await?;
        let got = Arc::new(AtomicU64::new(0));
        let g2 = got.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let t = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(_))) => {
                        g2.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        ready_rx.await?;
        let start = Instant::now();
        flood(port, &msgs).await?;
        while got.load(Ordering::Relaxed) < msgs.len() as u64
            && start.elapsed() < Duration::from_secs(120)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        t.abort();
        anyhow::Ok(got.load(Ordering::Relaxed) as f64 / secs)
    })?;
    drop(broker);

    // 2. Orderly: the same flood, counted as fully processed by the world (accepted).
    let port = free_port();
    let db = format!(
        "sqlite://{}",
        dir.join(format!("bench-{port}.db")).display()
    );
    let _own_broker = if p.mosquitto {
        Some(start_broker(p, bin, dir, port)?)
    } else {
        None
    };
    let (orderly, lines) = spawn(
        bin,
        &[
            "run",
            "--embedded-broker",
            if p.mosquitto { "false" } else { "true" },
            "--mqtt-port",
            &port.to_string(),
            "--http",
            "127.0.0.1:0",
            "--database",
            &db,
            "--seed",
            seed.to_str().unwrap(),
            "--floorplan",
            root.join("floorplans/demo.toml").to_str().unwrap(),
            "--device-rate",
            "1000000",
            "--print-admin-token",
        ],
        &["API: ", "Admin token: "],
    )?;
    let http = lines
        .iter()
        .find_map(|l| l.strip_prefix("API: "))
        .unwrap()
        .trim_end_matches("/api/docs")
        .to_string();
    let token = lines
        .iter()
        .find_map(|l| l.strip_prefix("Admin token: "))
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_json(&http, &token, "/readyz")
        .map(|v| v["ready"] != true)
        .unwrap_or(true)
    {
        if Instant::now() > deadline {
            bail!("orderly not ready");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let base = get_json(&http, &token, "/api/v1/ingest")?["accepted"]
        .as_u64()
        .unwrap_or(0);
    let pid = orderly.0.id();
    let world_cpu = || thread_cpu_s(pid, "world").unwrap_or(f64::NAN);
    let cpu0 = world_cpu();
    let start = Instant::now();
    rt.block_on(flood(port, &msgs))?;
    let target = base + msgs.len() as u64;
    loop {
        let a = get_json(&http, &token, "/api/v1/ingest")?["accepted"]
            .as_u64()
            .unwrap_or(0);
        if a >= target {
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("orderly processed {a} of {target} messages in 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The snapshot is published at most every 100 ms: subtract that granularity's half.
    let orderly_secs = (start.elapsed().as_secs_f64() - 0.05).max(0.001);
    let orderly_rate = msgs.len() as f64 / orderly_secs;
    let flood_world_us = (world_cpu() - cpu0) * 1e6 / msgs.len() as f64;
    // Let the committer catch up with the flood, and the world finish what the flood started
    // (placements decided a dwell time later), before timing latencies: otherwise the first
    // seconds of the nominal load queue behind thousands of the flood's late events.
    let caught_up = Instant::now() + Duration::from_secs(300);
    let mut last = (f64::NAN, Instant::now());
    // The world's CPU up to the flood's last commit: all the work the flood caused, the
    // placements decided after it included. Steadier than the CPU while the flood is taken in,
    // which depends on how the steps batched the messages.
    let mut settled_cpu = world_cpu();
    while Instant::now() < caught_up {
        let (lag, seq) = commit_state(&http, &token)?;
        if seq != last.0 {
            last = (seq, Instant::now());
            settled_cpu = world_cpu();
        } else if lag <= 0.0 && last.1.elapsed() >= Duration::from_secs(3) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let flood_world_total_us = (settled_cpu - cpu0) * 1e6 / msgs.len() as f64;

    // 3. Nominal load with movers: latency from publish to the SSE location.changed.
    let sent: Arc<Mutex<HashMap<(String, String), Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let lat: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let (sent, lat, http, token) = (sent.clone(), lat.clone(), http.clone(), token.clone());
        std::thread::spawn(move || {
            let agent = ureq::Agent::config_builder().build().new_agent();
            let Ok(mut r) = agent
                .get(format!("{http}/api/v1/events?kind=location.changed"))
                .header("Authorization", format!("Bearer {token}"))
                .call()
            else {
                return;
            };
            let reader = BufReader::new(r.body_mut().as_reader());
            for line in reader.lines().map_while(Result::ok) {
                if let Some(d) = line.strip_prefix("data: ")
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(d)
                {
                    let key = (
                        v["tag"].as_str().unwrap_or("").to_string(),
                        v["to"].as_str().unwrap_or("").to_string(),
                    );
                    if let Some(t0) = sent.lock().unwrap().remove(&key) {
                        lat.lock()
                            .unwrap()
                            .push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                }
            }
        });
    }
    // ... and from publish of a bed's exit alarm, or of the wearable batch holding the last
    // sample the fall detector needs, to the alert on its unit's stream.
    let alert_sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    // (ms, what: 0 a bed exit, 1 a fall, 2 NEWS2).
    let alert_lat: Arc<Mutex<Vec<(f64, u8)>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let (sent, lat, http, token) = (
            alert_sent.clone(),
            alert_lat.clone(),
            http.clone(),
            token.clone(),
        );
        std::thread::spawn(move || {
            let agent = ureq::Agent::config_builder().build().new_agent();
            let Ok(mut r) = agent
                .get(format!("{http}/api/v1/units/ICU/events?kind=alert.raised"))
                .header("Authorization", format!("Bearer {token}"))
                .call()
            else {
                return;
            };
            let reader = BufReader::new(r.body_mut().as_reader());
            for line in reader.lines().map_while(Result::ok) {
                if let Some(d) = line.strip_prefix("data: ")
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(d)
                {
                    let key = v["subject"].as_str().unwrap_or("").to_string();
                    if let Some(t0) = sent.lock().unwrap().remove(&key) {
                        let rule = v["rule"].as_str().unwrap_or("");
                        let what = if rule.starts_with("fall") {
                            1
                        } else if rule.starts_with("news2") {
                            2
                        } else {
                            0
                        };
                        lat.lock()
                            .unwrap()
                            .push((t0.elapsed().as_secs_f64() * 1000.0, what));
                    }
                }
            }
        });
    }
    std::thread::sleep(Duration::from_millis(300));
    let nominal = rt.block_on(async {
        let (c, mut el) = client(port, "bench-nominal");
        let el_task = tokio::spawn(async move {
            loop {
                if el.poll().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        let total = p.rate * p.seconds;
        let every_move = (p.rate / p.moves.max(1)).max(1);
        let every_alert = (p.rate / p.alerts.max(1)).max(1);
        let every_fall = (p.rate / p.falls.max(1)).max(1);
        let (pre, post) = fall_batches();
        let cpu0 = world_cpu();
        // Falls whose second batch is due: (message index, wearable number).
        let mut falling: std::collections::VecDeque<(u64, usize)> = Default::default();
        let mut faller = 0usize;
        let start = tokio::time::Instant::now();
        let mut mover = 0usize;
        let mut alarm_bed = 0usize;
        // Vital signs: each streaming patient once every 5 s, spread evenly; now and then a
        // nurse's set into NEWS2 5-6 for the next patient (each once).
        let mut vitals_sent = 0u64;
        let every_news2 = (p.rate / p.news2.max(1)).max(1);
        let mut crossed = 0usize;
        for i in 0..total {
            let due = start + Duration::from_secs_f64(i as f64 / p.rate as f64);
            tokio::time::sleep_until(due).await;
            let vitals_due = (i as f64 / p.rate as f64 * p.vitals as f64 / 5.0) as u64;
            while vitals_sent < vitals_due {
                let n = fallers + 1 + (vitals_sent as usize % p.vitals);
                vitals_sent += 1;
                c.publish(
                    format!("orderly/v1/general/wearable/bw-{n:04}/vitals"),
                    QoS::AtLeastOnce,
                    false,
                    format!(
                        r#"{{"ts":"{}","respiration_rate":16,"spo2":97,"pulse":72}}"#,
                        stamp(0)
                    )
                    .into_bytes(),
                )
                .await?;
            }
            if p.vitals > 0 && p.news2 > 0 && i % every_news2 == every_news2 / 4 && crossed < p.vitals {
                crossed += 1;
                let n = fallers + crossed;
                alert_sent
                    .lock()
                    .unwrap()
                    .insert(format!("BP-{n:04}"), Instant::now());
                // RR 24 (2), SpO2 94 (1), air, SBP 105 (1), pulse 95 (1), alert, 37.0: NEWS2 5.
                c.publish(
                    format!("orderly/v1/general/wearable/bw-{n:04}/vitals"),
                    QoS::AtLeastOnce,
                    false,
                    format!(
                        r#"{{"ts":"{}","mode":"spot","respiration_rate":24,"spo2":94,"on_oxygen":false,"systolic":105,"pulse":95,"consciousness":"alert","temperature_c":37.0}}"#,
                        stamp(0)
                    )
                    .into_bytes(),
                )
                .await?;
            }
            if p.falls > 0 && i % every_fall == every_fall / 3 && faller < fallers {
                faller += 1;
                c.publish(
                    format!("orderly/v1/general/wearable/bw-{faller:04}/imu"),
                    QoS::AtLeastOnce,
                    false,
                    pre.clone(),
                )
                .await?;
                // The rest 0.5 s later, as the device sends once its batch is full.
                falling.push_back((i + p.rate / 2, faller));
            }
            while falling.front().is_some_and(|(at, _)| *at <= i) {
                let (_, n) = falling.pop_front().unwrap();
                alert_sent
                    .lock()
                    .unwrap()
                    .insert(format!("BP-{n:04}"), Instant::now());
                c.publish(
                    format!("orderly/v1/general/wearable/bw-{n:04}/imu"),
                    QoS::AtLeastOnce,
                    false,
                    post.clone(),
                )
                .await?;
            }
            if p.alerts > 0 && p.beds > 0 && i % every_alert == every_alert / 2 {
                alarm_bed = (alarm_bed + 1) % p.beds;
                alert_sent
                    .lock()
                    .unwrap()
                    .insert(format!("BBED-{:04}", alarm_bed + 1), Instant::now());
                c.publish(
                    bed_topic(alarm_bed, 0),
                    QoS::AtLeastOnce,
                    false,
                    bed_alarm(),
                )
                .await?;
            }
            let k = i as usize % round;
            if k >= rxs.len() {
                let n = i as usize / round;
                c.publish(
                    bed_topic(k - rxs.len(), n),
                    QoS::AtLeastOnce,
                    false,
                    bed_payload(n),
                )
                .await?;
                continue;
            }
            let (rx, room) = &rxs[k];
            let ir = if i % every_move == 0 {
                // A tag from another room is seen by IR here: it moves at once.
                mover = (mover + 7919) % p.tags;
                let tag = format!("BT-{:06}", mover + 1);
                sent.lock()
                    .unwrap()
                    .insert((tag, room.clone()), Instant::now());
                Some(mover)
            } else {
                None
            };
            let body = payload(&room_tags[room], p.sightings, &mut cursor, ir);
            c.publish(
                format!("orderly/v1/general/rtls/{rx}/sightings"),
                QoS::AtLeastOnce,
                false,
                body,
            )
            .await?;
        }
        let secs = start.elapsed().as_secs_f64();
        let busy = (world_cpu() - cpu0) / secs;
        tokio::time::sleep(Duration::from_secs(2)).await;
        el_task.abort();
        anyhow::Ok((total as f64 / secs, vitals_sent, busy))
    })?;
    let (nominal, vitals_total, nominal_world_busy) = nominal;
    let peak = peak_rss_mib(orderly.0.id());
    drop(orderly);
    let mut l = lat.lock().unwrap().clone();
    let (mut al, mut fl, mut nl): (Vec<f64>, Vec<f64>, Vec<f64>) =
        (Vec::new(), Vec::new(), Vec::new());
    for (ms, what) in alert_lat.lock().unwrap().iter() {
        match what {
            1 => fl.push(*ms),
            2 => nl.push(*ms),
            _ => al.push(*ms),
        }
    }
    Ok(Run {
        alert_p50_ms: percentile(&mut al, 0.5),
        alert_p99_ms: percentile(&mut al, 0.99),
        alert_samples: al.len(),
        fall_p50_ms: percentile(&mut fl, 0.5),
        fall_p99_ms: percentile(&mut fl, 0.99),
        fall_samples: fl.len(),
        news2_p50_ms: percentile(&mut nl, 0.5),
        news2_p99_ms: percentile(&mut nl, 0.99),
        news2_samples: nl.len(),
        vitals_msgs: vitals_total,
        raw_msgs_s: raw,
        orderly_msgs_s: orderly_rate,
        p50_ms: percentile(&mut l, 0.5),
        p99_ms: percentile(&mut l, 0.99),
        latency_samples: l.len(),
        nominal_msgs_s: nominal,
        peak_mib: peak,
        flood_world_us,
        flood_world_total_us,
        nominal_world_busy,
    })
}

pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("ingest") => {}
        Some("locator") => return locator(root, &args[1..]),
        _ => bail!(
            "usage: cargo xtask bench ingest [--tags N] [--beds N] [--sightings K] [--messages N] [--rate MSG_PER_S] [--seconds S] [--moves PER_S] [--alerts PER_S] [--falls PER_S] [--vitals PATIENTS] [--news2 PER_S] [--runs N] [--broker embedded|mosquitto]\n       cargo xtask bench locator [--tags N] [--receivers N] [--seconds S] [--runs N]"
        ),
    }
    let p = parse(&args[1..])?;
    let bin = orderly_bin(root)?;
    let rxs_len = receivers(root)?.len();
    let dir = std::env::temp_dir().join(format!("orderly-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut runs = Vec::new();
    for i in 0..p.runs {
        let r = one_run(root, &bin, &p, &dir)?;
        eprintln!(
            "run {}: raw broker {:.0} msg/s, orderly {:.0} msg/s ({:.2} of the broker), nominal {:.0} msg/s, latency p50 {:.1} ms p99 {:.1} ms ({} samples), alert p50 {:.1} ms p99 {:.1} ms ({} samples), fall p50 {:.1} ms p99 {:.1} ms ({} samples), NEWS2 p50 {:.1} ms p99 {:.1} ms ({} samples, {} vital-signs messages), peak {:.0} MiB, world thread {:.1} µs CPU per flooded message ({:.1} µs up to its last commit), {:.0}% busy at the nominal load",
            i + 1,
            r.raw_msgs_s,
            r.orderly_msgs_s,
            r.orderly_msgs_s / r.raw_msgs_s,
            r.nominal_msgs_s,
            r.p50_ms,
            r.p99_ms,
            r.latency_samples,
            r.alert_p50_ms,
            r.alert_p99_ms,
            r.alert_samples,
            r.fall_p50_ms,
            r.fall_p99_ms,
            r.fall_samples,
            r.news2_p50_ms,
            r.news2_p99_ms,
            r.news2_samples,
            r.vitals_msgs,
            r.peak_mib,
            r.flood_world_us,
            r.flood_world_total_us,
            r.nominal_world_busy * 100.0
        );
        runs.push(r);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let m = |f: fn(&Run) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    let (raw, ord) = (m(|r| r.raw_msgs_s), m(|r| r.orderly_msgs_s));
    println!(
        "\ningest benchmark: {} tags, {} smart beds, {} sightings per receiver message, {} messages flooded, nominal {} msg/s for {} s with {} moves/s, {} bed-exit alarms/s, {} falls/s, {} patients streaming vital signs (1 message / 5 s each) and {} NEWS2 5-6 spot checks/s; median of {} runs",
        p.tags,
        p.beds,
        p.sightings,
        p.messages,
        p.rate,
        p.seconds,
        p.moves,
        p.alerts,
        p.falls,
        p.vitals,
        if p.vitals > 0 { p.news2 } else { 0 },
        p.runs
    );
    println!("| figure | median |");
    println!("|---|---|");
    println!("| broker alone (same messages, QoS 1) | {raw:.0} msg/s |");
    println!(
        "| orderly, fully processed | {ord:.0} msg/s = {:.0} sightings/s |",
        ord * p.sightings as f64 * rxs_len as f64 / (rxs_len + p.beds) as f64
    );
    // Each run's ratio to the broker measured in the same run, then the median: the broker's
    // own rate moves by a fifth between runs on a small machine.
    println!(
        "| orderly / broker alone (each run's own) | {:.2} |",
        m(|r| r.orderly_msgs_s / r.raw_msgs_s)
    );
    println!(
        "| publish -> location.changed on SSE, p50 | {:.1} ms |",
        m(|r| r.p50_ms)
    );
    println!(
        "| publish -> location.changed on SSE, p99 | {:.1} ms |",
        m(|r| r.p99_ms)
    );
    println!(
        "| publish bed exit -> alert.raised on the unit's SSE, p50 | {:.1} ms |",
        m(|r| r.alert_p50_ms)
    );
    println!(
        "| publish bed exit -> alert.raised on the unit's SSE, p99 | {:.1} ms |",
        m(|r| r.alert_p99_ms)
    );
    println!(
        "| last sample the fall detector needs -> alert.raised on the unit's SSE, p50 | {:.1} ms |",
        m(|r| r.fall_p50_ms)
    );
    println!(
        "| last sample the fall detector needs -> alert.raised on the unit's SSE, p99 | {:.1} ms |",
        m(|r| r.fall_p99_ms)
    );
    if p.vitals > 0 {
        println!(
            "| spot check into NEWS2 5-6 -> alert.raised on the unit's SSE, p50 | {:.1} ms |",
            m(|r| r.news2_p50_ms)
        );
        println!(
            "| spot check into NEWS2 5-6 -> alert.raised on the unit's SSE, p99 | {:.1} ms |",
            m(|r| r.news2_p99_ms)
        );
    }
    println!("| peak resident memory | {:.0} MiB |", m(|r| r.peak_mib));
    println!(
        "| world thread CPU per flooded message | {:.1} µs |",
        m(|r| r.flood_world_us)
    );
    println!(
        "| world thread CPU per flooded message, up to the flood's last commit | {:.1} µs |",
        m(|r| r.flood_world_total_us)
    );
    println!(
        "| world thread busy at the nominal load | {:.0} % |",
        m(|r| r.nominal_world_busy) * 100.0
    );
    Ok(())
}

/// `cargo xtask bench locator`: the locator alone on one core (crates/orderly-world/benches/
/// locator.rs), run `--runs` times; medians of its figures.
fn locator(root: &Path, args: &[String]) -> Result<()> {
    let mut runs = 5usize;
    let mut pass = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).context("every option takes a value")?;
        match args[i].as_str() {
            "--runs" => runs = v.parse()?,
            "--tags" | "--receivers" | "--seconds" | "--warmup" => {
                v.parse::<usize>()
                    .with_context(|| format!("{} takes a number", args[i]))?;
                pass.push(args[i].clone());
                pass.push(v.clone());
            }
            o => {
                bail!("unknown option {o}: --tags N --receivers N --seconds S --warmup S --runs N")
            }
        }
        i += 2;
    }
    let status = Command::new("cargo")
        .args([
            "bench",
            "--no-run",
            "-p",
            "orderly-world",
            "--bench",
            "locator",
        ])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("building the locator benchmark failed");
    }
    let mut figures: Vec<HashMap<String, f64>> = Vec::new();
    let mut header = String::new();
    for r in 0..runs {
        let out = Command::new("cargo")
            .args([
                "bench",
                "-q",
                "-p",
                "orderly-world",
                "--bench",
                "locator",
                "--",
            ])
            .args(&pass)
            .current_dir(root)
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            bail!("locator benchmark run {} failed", r + 1);
        }
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .rfind(|l| l.starts_with("tags="))
            .context("the benchmark printed no figures")?
            .to_string();
        eprintln!("run {}: {line}", r + 1);
        let map: HashMap<String, f64> = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect();
        if header.is_empty() {
            header = format!(
                "{} tags, {} receivers, {} sightings in {} messages",
                map["tags"], map["receivers"], map["sightings"], map["messages"]
            );
        }
        figures.push(map);
    }
    let m = |k: &str| median(&mut figures.iter().map(|f| f[k]).collect::<Vec<_>>());
    println!(
        "\nlocator benchmark (one core, ingest + locate only): {header}; median of {runs} runs"
    );
    println!("| figure | median |");
    println!("|---|---|");
    println!(
        "| sightings/s | {:.0} (target >= 200000) |",
        m("sightings_per_s")
    );
    println!("| times real time | {:.1} |", m("realtime_x"));
    println!(
        "| slowest tick (0.1 s of messages) | {:.1} ms |",
        m("worst_tick_ms")
    );
    println!("| located room right at the end | {:.3} |", m("right_room"));
    Ok(())
}
