//! `cargo xtask faults`: the fault matrix of issue 18 as one command, on loopback. It starts its
//! own Mosquitto and PostgreSQL in a temporary folder, a TCP proxy between Orderly and the broker
//! (to stall the link), the release binary, and a load of smart beds, tags and wristbands whose
//! bed-exit alarms are the ground truth. For each fault it prints messages published, alarms
//! expected, alerts raised, lost, extra (a second alert or count for one alarm) and false (any
//! other alert), alerts published twice on MQTT, crashes, and how long until a new alarm was
//! alerted again once the fault ended.
//!
//! `--quick` shortens the outages (for a try on a laptop); `--only a,b` runs some rows.

use anyhow::{Context, Result, bail};
use orderly_tests::{Orderly, Setup};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BEDS: usize = 24;
const TAGS: usize = 300;
/// Seconds between alarms (round robin over the beds: each bed every BEDS * GAP_S seconds).
const GAP_S: u64 = 3;

struct Params {
    quick: bool,
    only: Option<Vec<String>>,
    kills: usize,
}

fn parse(args: &[String]) -> Result<Params> {
    let mut p = Params {
        quick: false,
        only: None,
        kills: 20,
    };
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--quick" => {
                p.quick = true;
                p.kills = 5;
                i += 1;
            }
            "--only" => {
                let v = args.get(i + 1).context("--only takes a list of rows")?;
                p.only = Some(v.split(',').map(str::to_string).collect());
                i += 2;
            }
            "--kills" => {
                let v = args.get(i + 1).context("--kills takes a number")?;
                p.kills = v.parse().context("--kills takes a number")?;
                i += 2;
            }
            o => bail!(
                "unknown option {o}: cargo xtask faults [--quick] [--only ROW,..] [--kills N]"
            ),
        }
    }
    Ok(p)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn rfc3339(ms: i64) -> String {
    orderly_model::Timestamp(ms).to_rfc3339()
}

// ---------------------------------------------------------------- PostgreSQL of our own

/// A PostgreSQL cluster in a temporary folder on its own port (as the `postgres` user when
/// this runs as root: PostgreSQL refuses to run as root).
pub(crate) struct Pg {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Pg {
    fn bin_dir() -> Option<PathBuf> {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        versions.sort();
        versions.pop()
    }

    fn cmd(&self, prog: &str) -> Command {
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(prog));
            c
        } else {
            Command::new(self.bin.join(prog))
        }
    }

    pub(crate) fn start_new(dir: &Path) -> Result<Pg> {
        let bin = Self::bin_dir().context(
            "PostgreSQL's server is not installed (apt-get install postgresql): faults needs its own",
        )?;
        let root = dir.join("pg");
        std::fs::create_dir_all(&root)?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()?
                .success();
            if !ok {
                bail!("cannot give {} to the postgres user", root.display());
            }
        }
        let pg = Pg {
            bin,
            data: root.join("data"),
            port: orderly_tests::free_port(),
            as_postgres,
        };
        let out = pg
            .cmd("initdb")
            .arg("-D")
            .arg(&pg.data)
            .args(["-U", "postgres", "-A", "trust", "--no-sync"])
            .output()?;
        if !out.status.success() {
            bail!("initdb: {}", String::from_utf8_lossy(&out.stderr));
        }
        pg.start()?;
        Ok(pg)
    }

    fn start(&self) -> Result<()> {
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.data.join("server.log"))
            .args(["-w", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.data.display()
            ))
            .arg("start")
            .output()?;
        if !out.status.success() {
            bail!("pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    fn stop(&self) -> Result<()> {
        let out = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .output()?;
        if !out.status.success() {
            bail!("pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    }

    /// The postmaster and every process it started.
    fn pids(&self) -> Vec<u32> {
        let Some(main) = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u32>().ok()))
        else {
            return Vec::new();
        };
        let mut out = vec![main];
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(main) {
                out.push(pid);
            }
        }
        out
    }

    fn signal_all(&self, sig: &str) {
        for pid in self.pids() {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status();
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.signal_all("CONT");
        let _ = self
            .cmd("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

// ---------------------------------------------------------------- Mosquitto of our own

/// Mosquitto as a hospital would run it: persistent sessions kept on disk across a restart,
/// a large queue per client, 1000 messages in flight.
struct Broker {
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start_new(dir: &Path) -> Result<Broker> {
        let port = orderly_tests::free_port();
        let store = dir.join("mosquitto");
        std::fs::create_dir_all(&store)?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\npersistence true\npersistence_location {}/\nmax_inflight_messages 1000\nmax_queued_messages 1000000\n",
                store.display()
            ),
        )?;
        let mut b = Broker {
            conf,
            port,
            child: None,
        };
        b.start()?;
        Ok(b)
    }

    fn start(&mut self) -> Result<()> {
        let bin = orderly_tests::Mosquitto::binary()
            .context("Mosquitto is not installed (apt-get install mosquitto)")?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("Mosquitto did not listen on {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stops it as an operator would (SIGTERM: it writes its sessions to disk).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------- a link that can stall

/// A TCP proxy between Orderly and the broker. While stalled it forwards nothing either way
/// (bytes wait in the kernel's buffers, as on a link whose switch hangs).
struct Proxy {
    port: u16,
    stalled: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: u16) -> Result<Proxy> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let stalled = Arc::new(AtomicBool::new(false));
        let st = stalled.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let Ok(u) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = c.shutdown(Shutdown::Both);
                    continue;
                };
                for (mut from, mut to) in [
                    (c.try_clone(), u.try_clone()),
                    (u.try_clone(), c.try_clone()),
                ]
                .into_iter()
                .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
                {
                    let st = st.clone();
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            while st.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Ok(Proxy { port, stalled })
    }
}

// ---------------------------------------------------------------- the devices

/// The hospital's devices on one MQTT session: receivers sighting every tag and wristband
/// every 5 s, beds reporting their state every 5 s, and bed-exit alarms when asked for.
struct Devices {
    published: Arc<AtomicU64>,
    alarms: Arc<Mutex<VecDeque<usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn bed_state(alarming: bool) -> Vec<u8> {
    format!(
        r#"{{"ts":"{}","occupied":{},"hob_deg":30.0,"height":"low","brakes":true,"rails":{{"head_left":true,"head_right":true,"foot_left":false,"foot_right":false}},"exit_alarm":"{}","surface":"static","moving":false}}"#,
        rfc3339(now_ms()),
        !alarming,
        if alarming { "alarming" } else { "armed" }
    )
    .into_bytes()
}

impl Devices {
    fn start(site: &str, port: u16, receivers: Vec<String>) -> Devices {
        let published = Arc::new(AtomicU64::new(0));
        let alarms = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p2, a2, s2) = (published.clone(), alarms.clone(), stop.clone());
        let prefix = format!("orderly/v1/{site}/");
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut o = MqttOptions::new("faults-devices", "127.0.0.1", port);
                o.set_keep_alive(Duration::from_secs(10));
                o.set_clean_session(false);
                o.set_inflight(500);
                o.set_max_packet_size(4 << 20, 4 << 20);
                let (c, mut el) = AsyncClient::new(o, 200_000);
                tokio::spawn(async move {
                    loop {
                        if el.poll().await.is_err() {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                });
                // Each bed's alarm: seconds left sounding (two messages, 2 s apart, then armed).
                let mut sounding: HashMap<usize, u32> = HashMap::new();
                let mut tick: u64 = 0;
                let send = |topic: String, body: Vec<u8>| {
                    let c = c.clone();
                    let p = p2.clone();
                    async move {
                        if c.publish(topic, QoS::AtLeastOnce, false, body)
                            .await
                            .is_ok()
                        {
                            p.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                };
                while !s2.load(Ordering::Relaxed) {
                    let new: Vec<usize> = a2.lock().unwrap().drain(..).collect();
                    for b in new {
                        sounding.insert(b, 4);
                        send(
                            format!("{prefix}bed/fbed-{:04}/state", b + 1),
                            bed_state(true),
                        )
                        .await;
                    }
                    let mut ended = Vec::new();
                    for (b, left) in sounding.iter_mut() {
                        *left = left.saturating_sub(1);
                        if *left == 2 {
                            send(
                                format!("{prefix}bed/fbed-{:04}/state", b + 1),
                                bed_state(true),
                            )
                            .await;
                        } else if *left == 0 {
                            ended.push(*b);
                        }
                    }
                    for b in ended {
                        sounding.remove(&b);
                        send(
                            format!("{prefix}bed/fbed-{:04}/state", b + 1),
                            bed_state(false),
                        )
                        .await;
                    }
                    if tick.is_multiple_of(5) {
                        for b in 0..BEDS {
                            if !sounding.contains_key(&b) {
                                send(
                                    format!("{prefix}bed/fbed-{:04}/state", b + 1),
                                    bed_state(false),
                                )
                                .await;
                            }
                        }
                        // Every tag and wristband, each heard close by in its home room.
                        for (r, rx) in receivers.iter().enumerate() {
                            let mut s = Vec::new();
                            for t in (r..TAGS).step_by(receivers.len()) {
                                s.push(format!(
                                    r#"{{"tag":"FT-{:04}","rssi":-52,"ir":true}}"#,
                                    t + 1
                                ));
                            }
                            for w in (r..BEDS).step_by(receivers.len()) {
                                s.push(format!(
                                    r#"{{"tag":"FW-{:04}","rssi":-52,"ir":true}}"#,
                                    w + 1
                                ));
                            }
                            if s.is_empty() {
                                continue;
                            }
                            let body = format!(
                                r#"{{"ts":"{}","sightings":[{}]}}"#,
                                rfc3339(now_ms()),
                                s.join(",")
                            );
                            send(format!("{prefix}rtls/{rx}/sightings"), body.into_bytes()).await;
                        }
                    }
                    tick += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        });
        Devices {
            published,
            alarms,
            stop,
            thread: Some(thread),
        }
    }

    fn alarm(&self, bed: usize) {
        self.alarms.lock().unwrap().push_back(bed);
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Alerts Orderly publishes on MQTT: how many `alert.raised` per alert id and per event seq.
struct Published {
    raised: Arc<Mutex<Vec<(String, u64)>>>,
}

impl Published {
    fn start(site: &str, port: u16) -> Published {
        let raised = Arc::new(Mutex::new(Vec::new()));
        let r2 = raised.clone();
        let topic = format!("orderly/v1/{site}/alerts/#");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut o = MqttOptions::new("faults-station", "127.0.0.1", port);
                o.set_keep_alive(Duration::from_secs(10));
                o.set_clean_session(false);
                o.set_max_packet_size(4 << 20, 4 << 20);
                let (c, mut el) = AsyncClient::new(o, 1000);
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = c.subscribe(topic.clone(), QoS::AtLeastOnce).await;
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            if let Ok(v) = serde_json::from_slice::<Value>(&p.payload)
                                && v["kind"] == "alert.raised"
                            {
                                r2.lock().unwrap().push((
                                    v["id"].as_str().unwrap_or_default().to_string(),
                                    v["seq"].as_u64().unwrap_or_default(),
                                ));
                            }
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            });
        });
        Published { raised }
    }
}

// ---------------------------------------------------------------- the harness

/// Dropped in this order: Orderly, the devices, the test database, then the servers, and the
/// folder they live in last.
struct Env {
    orderly: Option<Orderly>,
    devices: Devices,
    published: Published,
    setup: Setup,
    proxy: Proxy,
    broker: Broker,
    pg: Pg,
    _dir: tempfile::TempDir,
    crashes: u32,
    next_bed: usize,
}

/// What one row measured.
#[derive(Default)]
struct Row {
    name: String,
    published: u64,
    expected: usize,
    raised: usize,
    lost: usize,
    extra: usize,
    false_alerts: usize,
    published_twice: usize,
    crashes: u32,
    recovery_s: Option<f64>,
    note: String,
}

fn get(http: &str, token: &str, path: &str, timeout: Duration) -> Result<(u16, Value)> {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .new_agent();
    let mut r = agent
        .get(format!("{http}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()?;
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn seed(dir: &Path) -> Result<PathBuf> {
    let p = dir.join("faults-seed.toml");
    let mut text = format!(
        "[[fleet]]\nkind = \"infusion_pump\"\ncount = {TAGS}\nid = \"FPUMP-{{n}}\"\ntag = \"FT-{{n}}\"\nwidth = 4\n\n[[fleet]]\nkind = \"bed\"\ncount = {BEDS}\nid = \"FBED-{{n}}\"\ndevice = \"fbed-{{n}}\"\nwidth = 4\nunits = [\"ICU\"]\n"
    );
    for n in 1..=BEDS {
        text.push_str(&format!(
            "\n[[patient]]\nid = \"FPAT-{n:04}\"\nname = \"Fault Patient {n}\"\nbed = \"FBED-{n:04}\"\nmorse = 60\nbraden = 20\nventilated = false\ntag = \"FW-{n:04}\"\n"
        ));
    }
    std::fs::write(&p, text)?;
    Ok(p)
}

impl Env {
    /// Builds the release binary, then starts everything on it.
    fn start(root: &Path) -> Result<Env> {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "-p", "orderly"])
            .current_dir(root)
            .status()?;
        if !status.success() {
            bail!("cargo build --release -p orderly failed");
        }
        let dir = tempfile::tempdir()?;
        // PostgreSQL (run as its own user) must reach its folder inside ours.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        }
        let pg = Pg::start_new(dir.path())?;
        let broker = Broker::start_new(dir.path())?;
        let proxy = Proxy::start(broker.port)?;
        // SAFETY: set before any thread of ours reads the environment (the setup below).
        unsafe {
            std::env::set_var("ORDERLY_BIN", crate::target_dir().join("release/orderly"));
            std::env::set_var("ORDERLY_TEST_POSTGRES_URL", pg.url());
            std::env::remove_var("ORDERLY_TEST_MQTT");
        }
        let mut setup = Setup::with_broker("127.0.0.1", proxy.port);
        setup.seed = seed(dir.path())?;
        // Not at the exits: equipment there is alerted (equipment-at-exit), rightly.
        let receivers: Vec<String> = crate::bench::receivers(root)?
            .into_iter()
            .filter(|(_, room)| !room.contains("EXIT"))
            .map(|(rx, _)| rx)
            .collect();
        // No PAR levels: this load's pumps are spread over every room, so a unit's level would
        // be alerted, rightly, and is not what this measures.
        setup.edit_rules("par.toml", |_| {
            "# no PAR levels under `cargo xtask faults`\n".into()
        });
        let published = Published::start(&setup.site, broker.port);
        let devices = Devices::start(&setup.site, broker.port, receivers);
        let orderly = setup.start();
        Ok(Env {
            _dir: dir,
            pg,
            broker,
            proxy,
            setup,
            orderly: Some(orderly),
            devices,
            published,
            crashes: 0,
            next_bed: 0,
        })
    }

    fn o(&self) -> &Orderly {
        self.orderly.as_ref().expect("orderly is running")
    }

    /// Restarts Orderly after a kill, or notes a crash (it exited by itself).
    fn ensure_running(&mut self) {
        if let Some(o) = self.orderly.as_mut()
            && o.exited().is_some()
        {
            self.crashes += 1;
            eprintln!(
                "  orderly exited by itself; its log ends:\n{}",
                o.log_tail(2000)
            );
            self.orderly = None;
        }
        if self.orderly.is_none() {
            self.orderly = Some(self.setup.spawn());
        }
    }

    fn alarm(&mut self) -> (usize, i64) {
        let b = self.next_bed % BEDS;
        self.next_bed += 1;
        self.devices.alarm(b);
        (b, now_ms())
    }

    /// Sounds alarms every GAP_S seconds for `secs`; the alarms sounded.
    fn alarms_for(&mut self, secs: u64) -> Vec<(usize, i64)> {
        let mut out = Vec::new();
        for s in 0..secs {
            if s % GAP_S == 0 {
                out.push(self.alarm());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        out
    }

    /// Seconds until a new alarm is alerted (Orderly answering, the link and the database back).
    fn recovery(&mut self, limit: Duration) -> (Option<f64>, (usize, i64)) {
        let started = Instant::now();
        // On a bed with no open alert, so that the probe's own alert is what is waited for
        // (after kills in quick succession every bed's alert may still be open, each waiting
        // for its 10 s of quiet again after each restart).
        'free: while started.elapsed() < limit {
            self.ensure_running();
            let o = self.o();
            if let Ok((200, Value::Array(open))) = get(
                &o.http,
                &o.token,
                "/api/v1/alerts/open",
                Duration::from_secs(5),
            ) {
                for _ in 0..BEDS {
                    let bed = format!("FBED-{:04}", self.next_bed % BEDS + 1);
                    if !open.iter().any(|a| a["subject"] == bed.as_str()) {
                        break 'free;
                    }
                    self.next_bed += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let probe = self.alarm();
        let bed = format!("FBED-{:04}", probe.0 + 1);
        let from = rfc3339(probe.1 - 2000);
        while started.elapsed() < limit {
            self.ensure_running();
            let o = self.o();
            if let Ok((200, v)) = get(
                &o.http,
                &o.token,
                &format!("/api/v1/alerts?rule=bed-exit-alarm&from={from}&limit=1000"),
                Duration::from_secs(5),
            ) && v
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["subject"] == bed.as_str()))
            {
                return (Some(started.elapsed().as_secs_f64()), probe);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        (None, probe)
    }

    /// Judges a row: every alarm sounded since `from_ms` must be in exactly one bed-exit alert's
    /// count; nothing else may be alerted.
    fn judge(&mut self, row: &mut Row, from_ms: i64, alarms: &[(usize, i64)]) -> Result<()> {
        // The last alarms' alerts resolve 10 s after the bed is armed again.
        let deadline = Instant::now() + Duration::from_secs(120);
        let alerts = loop {
            self.ensure_running();
            let o = self.o();
            let got = get(
                &o.http,
                &o.token,
                &format!(
                    "/api/v1/alerts?from={}&limit=100000",
                    rfc3339(from_ms - 1000)
                ),
                Duration::from_secs(10),
            );
            if let Ok((200, Value::Array(a))) = got {
                let open = a
                    .iter()
                    .filter(|x| x["rule"] == "bed-exit-alarm" && x["state"] != "resolved")
                    .count();
                if open == 0 || Instant::now() > deadline {
                    break a;
                }
            } else if Instant::now() > deadline {
                bail!("the alert history did not answer: {got:?}");
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        // What was judged, for a look afterwards.
        let dump = std::env::temp_dir().join(format!(
            "faults-{}.json",
            row.name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        ));
        let _ = std::fs::write(
            &dump,
            serde_json::to_vec_pretty(&serde_json::json!({
                "from_ms": from_ms,
                "alarms": alarms,
                "alerts": alerts,
            }))
            .unwrap_or_default(),
        );
        // An alarm is covered when an alert for its bed was open when it sounded or was raised
        // after it (a backlog is read after an outage: one alert may then cover several of a
        // bed's alarms, and its `count` and `data_at` tell of the latest): each of a bed's alerts
        // covers the alarms from the end of the bed's previous alert to its own end. An alert
        // that covers no alarm is extra. (A lost alarm followed, before the alert's end, by
        // another of the same bed cannot be told apart; the beds' alarms are 72 s apart.)
        let ms = |v: &Value| {
            serde_json::from_value::<orderly_model::Timestamp>(v.clone())
                .ok()
                .map(|t| t.0)
        };
        let mut by_bed: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (b, t) in alarms {
            by_bed
                .entry(format!("FBED-{:04}", b + 1))
                .or_default()
                .push(*t);
        }
        let mut covered: HashSet<(String, i64)> = HashSet::new();
        let mut ids = HashSet::new();
        let mut sorted: Vec<&Value> = alerts.iter().collect();
        sorted.sort_by_key(|a| ms(&a["raised_at"]).unwrap_or(0));
        let mut prev_end: BTreeMap<String, i64> = BTreeMap::new();
        for a in sorted {
            let subject = a["subject"].as_str().unwrap_or_default().to_string();
            let raised = ms(&a["raised_at"]).unwrap_or(0);
            let in_row = raised >= from_ms - 1000;
            let Some(times) = by_bed
                .get(&subject)
                .filter(|_| a["rule"] == "bed-exit-alarm")
            else {
                if in_row {
                    row.false_alerts += 1;
                    row.note.push_str(&format!(
                        "false: {} {} ({}); ",
                        a["rule"].as_str().unwrap_or_default(),
                        subject,
                        a["message"].as_str().unwrap_or_default()
                    ));
                }
                continue;
            };
            // Within 2 s of an end an alarm may have been read after it: the next alert's.
            let end = ms(&a["resolved_at"])
                .unwrap_or(i64::MAX)
                .saturating_sub(2000);
            let from = prev_end.get(&subject).copied().unwrap_or(i64::MIN);
            prev_end.insert(subject.clone(), end);
            let mut own = 0;
            for t in times.iter().copied().filter(|t| *t > from && *t <= end) {
                if covered.insert((subject.clone(), t)) {
                    own += 1;
                }
            }
            if in_row {
                row.raised += 1;
                ids.insert(a["id"].as_str().unwrap_or_default().to_string());
                if own == 0 {
                    row.extra += 1;
                    row.note.push_str(&format!(
                        "extra: {} raised {} (data {}, resolved {}, count {}); ",
                        subject,
                        a["raised_at"].as_str().unwrap_or_default(),
                        a["data_at"].as_str().unwrap_or("timely"),
                        a["resolved_at"].as_str().unwrap_or("not"),
                        a["count"],
                    ));
                }
            }
        }
        row.expected = alarms.len();
        row.lost = alarms.len() - covered.len();
        let lost: Vec<String> = alarms
            .iter()
            .map(|(b, t)| (format!("FBED-{:04}", b + 1), *t))
            .filter(|k| !covered.contains(k))
            .map(|(b, t)| format!("{b} at +{:.0} s", (t - from_ms) as f64 / 1000.0))
            .collect();
        if !lost.is_empty() {
            row.note.push_str(&format!(
                "lost (from the row's start): {}; ",
                lost.join(", ")
            ));
        }
        // Published twice: an alert id raised under two event numbers (a redelivery of the
        // same event, same number, is MQTT's at-least-once and is not counted).
        let pubs = self.published.raised.lock().unwrap().clone();
        let mut seqs: HashMap<&str, HashSet<u64>> = HashMap::new();
        for (id, seq) in &pubs {
            if ids.contains(id) {
                seqs.entry(id).or_default().insert(*seq);
            }
        }
        row.published_twice = seqs.values().filter(|s| s.len() > 1).count();
        let not_published = ids
            .iter()
            .filter(|id| !seqs.contains_key(id.as_str()))
            .count();
        if not_published > 0 {
            row.note
                .push_str(&format!("{not_published} alerts never published on MQTT; "));
            row.lost += not_published;
        }
        Ok(())
    }

    /// One row: alarms for `before` s, the fault (`inject`, which returns when it has ended),
    /// then the recovery probe and alarms for 20 s more.
    fn row(
        &mut self,
        name: &str,
        before: u64,
        inject: impl FnOnce(&mut Env, &mut Vec<(usize, i64)>) -> Result<()>,
    ) -> Result<Row> {
        eprintln!("faults: {name} ...");
        let from_ms = now_ms();
        let pub0 = self.devices.published.load(Ordering::Relaxed);
        let crashes0 = self.crashes;
        let mut alarms = self.alarms_for(before);
        inject(self, &mut alarms)?;
        let (recovery_s, probe) = self.recovery(Duration::from_secs(300));
        alarms.push(probe);
        alarms.extend(self.alarms_for(20));
        let mut row = Row {
            name: name.to_string(),
            recovery_s,
            ..Row::default()
        };
        self.judge(&mut row, from_ms, &alarms)?;
        row.published = self.devices.published.load(Ordering::Relaxed) - pub0;
        row.crashes = self.crashes - crashes0;
        eprintln!(
            "faults: {name}: expected {} raised {} lost {} extra {} false {} twice {} crashes {} recovery {:?} {}",
            row.expected,
            row.raised,
            row.lost,
            row.extra,
            row.false_alerts,
            row.published_twice,
            row.crashes,
            row.recovery_s,
            row.note
        );
        Ok(row)
    }
}

fn kill9(env: &mut Env, kills: usize, alarms: &mut Vec<(usize, i64)>) -> Result<()> {
    let mut rng = 0x9e3779b97f4a7c15u64 ^ now_ms() as u64;
    for _ in 0..kills {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // 1 to 6 s of load, then kill -9 at that moment, and start again at once.
        let wait = 1 + rng % 6;
        alarms.extend(env.alarms_for(wait));
        if let Some(o) = env.orderly.take() {
            o.kill();
        }
        env.ensure_running();
        env.o()
            .wait_until("ready after kill -9", Duration::from_secs(60), || {
                env.o().get("/readyz").0 == 200
            });
    }
    Ok(())
}

fn auth_sweep(env: &Env) -> Result<Row> {
    let o = env.o();
    let (_, doc) = get(
        &o.http,
        &o.token,
        "/api/v1/openapi.json",
        Duration::from_secs(10),
    )?;
    let paths = doc["paths"].as_object().context("openapi paths")?;
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut row = Row {
        name: "auth sweep".into(),
        ..Row::default()
    };
    let mut open = Vec::new();
    for (path, ops) in paths {
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in ops.as_object().into_iter().flatten() {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            for token in [None, Some("not-a-token")] {
                let url = format!("{}{concrete}", o.http);
                let mut resp = match method.as_str() {
                    "get" => {
                        let mut r = agent.get(&url);
                        if let Some(t) = token {
                            r = r.header("Authorization", format!("Bearer {t}"));
                        }
                        r.call()
                    }
                    _ => {
                        let mut r = agent.post(&url);
                        if let Some(t) = token {
                            r = r.header("Authorization", format!("Bearer {t}"));
                        }
                        r.send_json(serde_json::json!({}))
                    }
                }?;
                row.published += 1;
                let status = resp.status().as_u16();
                let _ = resp.body_mut().read_to_string();
                if secured && status != 401 && status != 429 {
                    open.push(format!("{} {path} -> {status}", method.to_uppercase()));
                }
            }
        }
    }
    row.false_alerts = open.len();
    row.note = if open.is_empty() {
        format!(
            "{} requests without a valid token: all refused",
            row.published
        )
    } else {
        format!("answered without a valid token: {}", open.join(", "))
    };
    Ok(row)
}

/// 200 connections that send a request's first line and then a byte every 5 s: each must be
/// closed by Orderly, and a normal request must still be answered meanwhile.
fn slow_connections(env: &Env) -> Result<Row> {
    let o = env.o();
    let addr = o.http.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut socks = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(&addr)?;
        s.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n")?;
        s.set_read_timeout(Some(Duration::from_millis(100)))?;
        socks.push(Some(s));
    }
    let mut worst = 0f64;
    let mut closed_at = vec![None; socks.len()];
    while started.elapsed() < Duration::from_secs(40) && closed_at.iter().any(Option::is_none) {
        let t = Instant::now();
        let (status, _) = get(&o.http, &o.token, "/api/v1/me", Duration::from_secs(10))?;
        worst = worst.max(t.elapsed().as_secs_f64());
        if status != 200 {
            bail!("/api/v1/me answered {status} during the slow-connection attack");
        }
        for (i, s) in socks.iter_mut().enumerate() {
            let Some(sock) = s else { continue };
            let mut b = [0u8; 512];
            let gone = match sock.read(&mut b) {
                Ok(0) => true,
                Ok(_) => true, // an answer (408) then the close
                Err(e) => !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
            } || sock.write_all(b"X").is_err();
            if gone {
                closed_at[i] = Some(started.elapsed().as_secs_f64());
                *s = None;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let closed: Vec<f64> = closed_at.iter().flatten().copied().collect();
    let slowest = closed.iter().copied().fold(0.0, f64::max);
    Ok(Row {
        name: "slow connections (200)".into(),
        false_alerts: socks.len() - closed.len(),
        note: format!(
            "{} of {} closed by Orderly, the last after {:.0} s; a normal request took at most {:.2} s meanwhile",
            closed.len(),
            socks.len(),
            slowest,
            worst
        ),
        ..Row::default()
    })
}

pub fn faults(root: &Path, args: &[String]) -> Result<()> {
    let p = parse(args)?;
    let want = |n: &str| p.only.as_ref().is_none_or(|o| o.iter().any(|x| x == n));
    let mut env = Env::start(root)?;
    // Let the first sightings place every tag and wristband.
    std::thread::sleep(Duration::from_secs(15));
    let (down, pg_down, frozen, stall) = if p.quick {
        (30, 20, 10, 20)
    } else {
        (240, 60, 30, 60)
    };
    let mut rows = Vec::new();
    if want("baseline") {
        rows.push(env.row("no fault", 30, |_, _| Ok(()))?);
    }
    if want("kill") {
        let kills = p.kills;
        rows.push(env.row(&format!("kill -9 x{kills} under load"), 5, |e, a| {
            kill9(e, kills, a)
        })?);
    }
    if want("broker-restart") {
        rows.push(env.row("broker restart", 10, |e, a| {
            e.broker.stop();
            a.extend(e.alarms_for(3));
            e.broker.start()
        })?);
    }
    if want("broker-down") {
        rows.push(env.row(&format!("broker down {down} s"), 10, |e, a| {
            e.broker.stop();
            a.extend(e.alarms_for(down));
            e.broker.start()
        })?);
    }
    if want("stall") {
        rows.push(env.row(&format!("link stalled {stall} s"), 10, |e, a| {
            e.proxy.stalled.store(true, Ordering::Relaxed);
            a.extend(e.alarms_for(stall));
            e.proxy.stalled.store(false, Ordering::Relaxed);
            Ok(())
        })?);
    }
    if want("pg-stopped") {
        rows.push(
            env.row(&format!("PostgreSQL stopped {pg_down} s"), 10, |e, a| {
                e.pg.stop()?;
                a.extend(e.alarms_for(pg_down));
                e.pg.start()
            })?,
        );
    }
    if want("pg-frozen") {
        rows.push(
            env.row(&format!("PostgreSQL frozen {frozen} s"), 10, |e, a| {
                e.pg.signal_all("STOP");
                a.extend(e.alarms_for(frozen));
                e.pg.signal_all("CONT");
                Ok(())
            })?,
        );
    }
    if want("auth") {
        rows.push(auth_sweep(&env)?);
    }
    if want("slow") {
        rows.push(slow_connections(&env)?);
    }
    if let Some(o) = env.orderly.take() {
        o.stop();
    }
    verdict(&rows)?;
    Ok(())
}

/// Prints the rows; an error when any lost, duplicated or falsified an alert, or crashed.
fn verdict(rows: &[Row]) -> Result<()> {
    print_table(rows);
    let bad = rows
        .iter()
        .filter(|r| r.lost + r.extra + r.false_alerts + r.published_twice > 0 || r.crashes > 0)
        .count();
    if bad > 0 {
        bail!(
            "{bad} of {} rows lost, duplicated or falsified alerts, or crashed",
            rows.len()
        );
    }
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!(
        "| fault | messages | alarms | alerts | lost | extra | false | published twice | crashes | recovery | note |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.published,
            r.expected,
            r.raised,
            r.lost,
            r.extra,
            r.false_alerts,
            r.published_twice,
            r.crashes,
            r.recovery_s
                .map_or("—".to_string(), |s| format!("{s:.1} s")),
            r.note.trim_end_matches("; ")
        );
    }
}

// ---------------------------------------------------------------- bench failover

/// The largest event number committed (0 when none, None when the database does not answer).
fn committed_seq(env: &Env) -> Option<i64> {
    orderly_tests::db_i64(
        &env.setup.db.url,
        "SELECT COALESCE(MAX(seq), 0) FROM events",
    )
}

/// The instance of `standbys` that answers ready (it owns the site), by position.
fn ready_one(standbys: &[(String, Orderly)]) -> Option<usize> {
    standbys.iter().position(|(_, o)| {
        get(&o.http, &o.token, "/readyz", Duration::from_millis(500)).is_ok_and(|(s, _)| s == 200)
    })
}

/// `cargo xtask bench failover [--kills N]`: three `orderly run` instances on one PostgreSQL
/// and one Mosquitto of its own, under the faults' load (beds alarming every 3 s, tags and
/// wristbands every 5 s). The owner is killed with SIGKILL N times (10 by default), 1 to 6 s
/// of load apart; each time, the time from the kill to the first event the new owner commits,
/// and which instance took over; the killed one comes back as a standby. Then PostgreSQL is
/// restarted under load. Alerts are judged as `faults` judges them: every alarm in exactly one
/// bed-exit alert, nothing else alerted, nothing published twice.
pub fn failover(root: &Path, args: &[String]) -> Result<()> {
    let mut kills = 10usize;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--kills" => {
                let v = args.get(i + 1).context("--kills takes a number")?;
                kills = v.parse().context("--kills takes a number")?;
                i += 2;
            }
            o => bail!("unknown option {o}: cargo xtask bench failover [--kills N]"),
        }
    }
    let mut env = Env::start(root)?;
    let mut owner_name = env.setup.instance.clone();
    let mut standbys: Vec<(String, Orderly)> = ["standby-b", "standby-c"]
        .iter()
        .map(|n| (n.to_string(), env.setup.spawn_as(n)))
        .collect();
    std::thread::sleep(Duration::from_secs(15));
    let mut rows = Vec::new();
    let mut takeovers: Vec<f64> = Vec::new();
    let mut moves: Vec<String> = Vec::new();
    let name = format!("kill -9 of the owner x{kills}, 2 standbys");
    rows.push(env.row(&name, 5, |e, alarms| {
        let mut rng = 0x9e3779b97f4a7c15u64 ^ now_ms() as u64;
        for k in 0..kills {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            alarms.extend(e.alarms_for(1 + rng % 6));
            let before = committed_seq(e).context("the database does not answer")?;
            let killed = Instant::now();
            if let Some(o) = e.orderly.take() {
                o.kill();
            }
            // Alarms go on while nobody owns the site; the broker keeps them.
            let mut next_alarm = Instant::now();
            let took = loop {
                if Instant::now() >= next_alarm {
                    alarms.push(e.alarm());
                    next_alarm += Duration::from_secs(GAP_S);
                }
                if committed_seq(e).is_some_and(|s| s > before) {
                    break killed.elapsed().as_secs_f64();
                }
                if killed.elapsed() > Duration::from_secs(120) {
                    bail!(
                        "no instance committed anything in 120 s after kill {}",
                        k + 1
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let new = loop {
                if let Some(i) = ready_one(&standbys) {
                    break i;
                }
                if killed.elapsed() > Duration::from_secs(120) {
                    bail!("no standby became ready after kill {}", k + 1);
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let (new_name, new_owner) = standbys.remove(new);
            eprintln!(
                "  kill {}: {owner_name} killed; {new_name} committed {took:.1} s later",
                k + 1
            );
            takeovers.push(took);
            moves.push(format!("{owner_name} -> {new_name}"));
            // The killed instance comes back, as a standby now.
            standbys.push((owner_name.clone(), e.setup.spawn_as(&owner_name)));
            e.orderly = Some(new_owner);
            e.setup.instance = new_name.clone();
            owner_name = new_name;
        }
        Ok(())
    })?);
    let crashed_standbys = |s: &mut Vec<(String, Orderly)>| {
        s.iter_mut().filter_map(|(_, o)| o.exited()).count() as u32
    };
    let mut pg_row = env.row(
        "PostgreSQL restarted under load, 3 instances",
        10,
        |e, a| {
            e.pg.stop()?;
            a.extend(e.alarms_for(10));
            e.pg.start()?;
            // Ownership settles (the owner may have stood down while the database was
            // away): whichever instance is ready owns the site; the judge asks it.
            let back = Instant::now();
            while back.elapsed() < Duration::from_secs(120) {
                let owner_ready = e.orderly.as_ref().is_some_and(|o| {
                    get(&o.http, &o.token, "/readyz", Duration::from_millis(500))
                        .is_ok_and(|(s, _)| s == 200)
                });
                if owner_ready {
                    return Ok(());
                }
                if let Some(i) = ready_one(&standbys) {
                    let (name, o) = standbys.remove(i);
                    let old = e.orderly.replace(o).context("an owner")?;
                    standbys.push((owner_name.clone(), old));
                    eprintln!("  {name} owns the site after the restart ({owner_name} stood down)");
                    e.setup.instance = name.clone();
                    owner_name = name;
                    return Ok(());
                }
                a.push(e.alarm());
                std::thread::sleep(Duration::from_secs(GAP_S));
            }
            bail!("no instance owned the site 120 s after PostgreSQL came back")
        },
    )?;
    // Ownership settles: one owner, the others standbys.
    let o = env.o();
    let (_, cluster) = get(
        &o.http,
        &o.token,
        "/api/v1/cluster",
        Duration::from_secs(10),
    )?;
    let owners: Vec<String> = cluster["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["holder"].as_str().map(str::to_string))
        .collect();
    pg_row
        .note
        .push_str(&format!("owner after: {}; ", owners.join(", ")));
    pg_row.crashes += crashed_standbys(&mut standbys);
    rows.push(pg_row);
    if let Some(o) = env.orderly.take() {
        o.stop();
    }
    for (_, o) in standbys {
        o.stop();
    }
    takeovers.sort_by(f64::total_cmp);
    let p50 = takeovers
        .get(takeovers.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    let max = takeovers.last().copied().unwrap_or(f64::NAN);
    println!(
        "kill -9 to the new owner's first commit, {} kills: p50 {p50:.1} s, max {max:.1} s ({})",
        takeovers.len(),
        takeovers
            .iter()
            .map(|t| format!("{t:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("owners in turn: {}", moves.join("; "));
    verdict(&rows)?;
    if max > 15.0 {
        bail!("a takeover took {max:.1} s (the target is 15 s)");
    }
    Ok(())
}
