//! `orderly sim`: simulated device traffic, live to a broker in real time, or written as a
//! capture in virtual time (no broker, as fast as it goes).

use anyhow::{Context, Result};
use clap::Args;
use orderly_floorplan::Floorplan;
use orderly_model::{Seed, Timestamp};
use orderly_mqtt::client::wall_clock;
use orderly_sim::{BedAnswer, SimConfig, Simulator};
use publisher::publish_client;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Broker to publish to, host:port.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub mqtt: String,
    /// Instead of publishing, write a capture (JSON lines) of `--duration` seconds in virtual time.
    #[arg(long)]
    pub capture: Option<PathBuf>,
    /// How long to simulate, seconds (live: until stopped when absent).
    #[arg(long)]
    pub duration: Option<u64>,
    /// Virtual start time of a capture.
    #[arg(long, default_value = "2026-11-22T08:00:00Z")]
    pub start: String,
    /// Write the ground truth (JSON lines) here.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// The simulator's random seed (as `orderly demo --sim-seed`).
    #[arg(long, default_value_t = 1)]
    pub sim_seed: u64,
    /// Floorplan (default: the bundled demo hospital).
    #[arg(long)]
    pub floorplan: Option<PathBuf>,
    /// The seed: asset registry and census, as for `orderly check --seed` (default: the
    /// bundled demo; give both --floorplan and --seed, or neither).
    #[arg(long, alias = "registry")]
    pub seed: Option<PathBuf>,
    #[arg(long, default_value_t = 2.0)]
    pub moves_per_hour: f64,
    #[arg(long, default_value_t = 0.2)]
    pub bed_exits_per_hour: f64,
    /// Falls per patient per hour (the patient gets up and falls a few steps from the bed).
    #[arg(long, default_value_t = 0.01)]
    pub falls_per_hour: f64,
    /// Stream wearable accelerometer samples too (50 Hz, one message a second per wearable);
    /// falls then come only from Orderly's detector, not from the wearable's own event.
    #[arg(long)]
    pub imu: bool,
    /// Chance (0-1) that a nurse's visit leaves a bed with a safety setting out of place (exit
    /// alarm off, bed raised, brakes off, head of bed lowered), and that a bed starts so.
    #[arg(long, default_value_t = 0.0)]
    pub care_lapses: f64,
    /// Vital signs: each patient's bedside monitor or wearable sends a reading this often,
    /// seconds (0: no vital signs), and nurses chart a full set every 4 hours.
    #[arg(long, default_value_t = 5)]
    pub vitals_every: u32,
    /// Deteriorations (vital signs drifting over hours, then recovering) per patient per day.
    #[arg(long, default_value_t = 0.15)]
    pub deteriorations_per_day: f64,
    /// Pumps report the infusions they run, programmed from this rules directory's drug
    /// library (`bundled`: the shipped one); absent: pumps report their state only.
    #[arg(long, value_name = "RULES_DIR|bundled")]
    pub infusions: Option<String>,
    /// The seed's environment sensors report, against this rules directory's profiles
    /// (`bundled`: the shipped rules/environment.toml; `off`: they say nothing).
    #[arg(long, value_name = "RULES_DIR|bundled|off", default_value = "bundled")]
    pub environment: String,
    /// How a bed answers commands: `BED-ID=apply|refuse|ignore` (repeatable; default apply).
    #[arg(long = "bed-answer", value_parser = parse_answer)]
    pub bed_answers: Vec<(String, BedAnswer)>,
    /// Each device logs in as itself, with its password from this file (`orderly devices`
    /// writes it as credentials.toml): for a broker with per-device permissions.
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// Connect over TLS, trusting this CA bundle (PEM).
    #[arg(long)]
    pub mqtt_tls_ca: Option<PathBuf>,
}

fn parse_answer(s: &str) -> Result<(String, BedAnswer), String> {
    let (bed, answer) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected BED-ID=apply|refuse|ignore"))?;
    let answer = BedAnswer::parse(answer)
        .ok_or_else(|| format!("{answer:?}: expected apply, refuse or ignore"))?;
    Ok((bed.to_string(), answer))
}

mod publisher {
    use anyhow::Result;
    use rumqttc::{AsyncClient, MqttOptions};
    use std::time::Duration;

    /// Where a client passes the messages it receives: (topic, payload).
    pub type Incoming = tokio::sync::mpsc::Sender<(String, Vec<u8>)>;

    /// A publishing client whose event loop runs in its own task. With `listen`, it subscribes
    /// to that filter on every connection and passes what arrives to the channel.
    pub fn publish_client(
        host: &str,
        port: u16,
        id: &str,
        security: &orderly_mqtt::Security,
        listen: Option<(String, Incoming)>,
    ) -> Result<(AsyncClient, tokio::task::JoinHandle<()>)> {
        let mut o = MqttOptions::new(id, host, port);
        o.set_keep_alive(Duration::from_secs(15));
        o.set_max_packet_size(1024 * 1024, 1024 * 1024);
        o.set_request_channel_capacity(10_000);
        o.set_inflight(500);
        security.apply(&mut o)?;
        let (client, mut el) = AsyncClient::new(o, 10_000);
        let subscriber = client.clone();
        let task = tokio::spawn(async move {
            use rumqttc::{Event, Packet, QoS};
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Some((filter, _)) = &listen {
                            let _ = subscriber.subscribe(filter.clone(), QoS::AtLeastOnce).await;
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Some((_, tx)) = &listen {
                            let _ = tx.try_send((p.topic.clone(), p.payload.to_vec()));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "simulator's broker connection failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Ok((client, task))
    }
}

pub async fn sim(args: SimArgs) -> Result<()> {
    let (fp, seed) = crate::files::site_or_demo(args.floorplan.as_deref(), args.seed.as_deref())?;
    let cfg = SimConfig {
        seed: args.sim_seed,
        equipment_moves_per_hour: args.moves_per_hour,
        bed_exits_per_hour: args.bed_exits_per_hour,
        falls_per_hour: args.falls_per_hour,
        imu: args.imu,
        care_lapses: args.care_lapses,
        bed_answers: args.bed_answers.iter().cloned().collect(),
        vitals: (args.vitals_every > 0).then(|| orderly_sim::vitals::LiveConfig {
            period_ms: i64::from(args.vitals_every) * 1000,
            episodes_per_day: args.deteriorations_per_day,
            ..orderly_sim::vitals::LiveConfig::default()
        }),
        infusions: match args.infusions.as_deref() {
            None => None,
            Some(dir) => {
                let dir = (dir != "bundled").then(|| std::path::Path::new(dir));
                let rules = crate::rules::load(dir, &fp, &seed)?;
                Some(orderly_sim::devices::InfusionSim::new(std::sync::Arc::new(
                    rules.config.drug_library,
                )))
            }
        },
        environment: match args.environment.as_str() {
            "off" => None,
            dir => {
                let dir = (dir != "bundled").then(|| std::path::Path::new(dir));
                let rules = crate::rules::load(dir, &fp, &seed)?;
                Some(orderly_sim::environment::EnvSim::new(std::sync::Arc::new(
                    rules.config.environment,
                )))
            }
        },
        ..SimConfig::default()
    };
    let mut truth = match &args.truth {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => None,
    };
    if let Some(path) = &args.capture {
        let start =
            Timestamp::parse_rfc3339(&args.start).context("--start is not RFC 3339 with a zone")?;
        let duration = args
            .duration
            .context("--capture needs --duration (seconds)")?;
        let mut sim = Simulator::new(fp, &seed, cfg, start);
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        );
        let mut n = 0u64;
        for s in 0..duration {
            for m in sim.advance(start.plus_ms((s as i64 + 1) * 1000)) {
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({"at": m.at, "topic": m.topic, "payload": m.payload}),
                )?;
                out.write_all(b"\n")?;
                n += 1;
            }
            write_truth(&mut truth, &mut sim)?;
        }
        out.flush()?;
        eprintln!("wrote {n} messages ({duration} s) to {}", path.display());
        return Ok(());
    }
    let (host, port) = args.mqtt.rsplit_once(':').context("--mqtt is host:port")?;
    let port: u16 = port.parse().context("--mqtt port")?;
    let (_tx, rx) = watch::channel(false);
    let deadline = args
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs(d));
    let logins = Logins {
        passwords: match &args.credentials {
            Some(p) => {
                let pw = crate::devices::read_credentials(p)?;
                if pw.is_empty() {
                    anyhow::bail!("{}: no passwords (run `orderly devices`)", p.display());
                }
                Some(pw)
            }
            None => None,
        },
        tls: args
            .mqtt_tls_ca
            .clone()
            .map(|ca| orderly_mqtt::TlsFiles { ca, client: None }),
    };
    let publish =
        publish_live_with_truth(fp, seed, cfg, (host.to_string(), port), logins, rx, truth);
    match deadline {
        Some(d) => {
            let _ = tokio::time::timeout_at(d, publish).await;
            Ok(())
        }
        None => publish.await,
    }
}

fn write_truth(
    truth: &mut Option<std::io::BufWriter<std::fs::File>>,
    sim: &mut Simulator,
) -> Result<()> {
    let items = sim.take_truth();
    if let Some(w) = truth {
        for t in items {
            serde_json::to_writer(&mut *w, &t)?;
            w.write_all(b"\n")?;
        }
        w.flush()?;
    }
    Ok(())
}

/// Publishes simulated traffic in real time until `shutdown` turns true.
pub async fn publish_live(
    fp: Arc<Floorplan>,
    seed: Seed,
    cfg: SimConfig,
    broker: (String, u16),
    shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let logins = Logins {
        passwords: None,
        tls: None,
    };
    publish_live_with_truth(fp, seed, cfg, broker, logins, shutdown, None).await
}

/// How the simulated devices log in to the broker.
struct Logins {
    /// Each device as itself (its own user and password); `None`: one anonymous connection
    /// for all of them.
    passwords: Option<std::collections::BTreeMap<String, String>>,
    tls: Option<orderly_mqtt::TlsFiles>,
}

/// The simulator's connections: one for every device, or one per device logged in as itself.
struct Connections {
    broker: (String, u16),
    logins: Logins,
    prefix: String,
    commands: publisher::Incoming,
    shared: Option<rumqttc::AsyncClient>,
    own: std::collections::HashMap<String, rumqttc::AsyncClient>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Connections {
    fn new(
        broker: (String, u16),
        logins: Logins,
        prefix: String,
        commands: publisher::Incoming,
    ) -> Result<Self> {
        let mut c = Connections {
            broker,
            logins,
            prefix,
            commands,
            shared: None,
            own: std::collections::HashMap::new(),
            tasks: Vec::new(),
        };
        if c.logins.passwords.is_none() {
            // The beds listen for Orderly's commands on the one connection.
            let security = orderly_mqtt::Security {
                credentials: None,
                tls: c.logins.tls.clone(),
            };
            let (client, task) = publish_client(
                &c.broker.0,
                c.broker.1,
                &format!("orderly-sim-{}", std::process::id()),
                &security,
                Some((format!("{}bed/+/command", c.prefix), c.commands.clone())),
            )?;
            c.shared = Some(client);
            c.tasks.push(task);
        }
        Ok(c)
    }

    /// The connection that publishes on `topic`: its device's own, opened on first use.
    fn client(&mut self, topic: &str) -> Result<rumqttc::AsyncClient> {
        if let Some(c) = &self.shared {
            return Ok(c.clone());
        }
        let Some(rest) = topic.strip_prefix(&self.prefix) else {
            anyhow::bail!("{topic} is not under {}", self.prefix);
        };
        let mut parts = rest.split('/');
        let (class, device) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if let Some(c) = self.own.get(device) {
            return Ok(c.clone());
        }
        let password = self
            .logins
            .passwords
            .as_ref()
            .and_then(|p| p.get(device))
            .with_context(|| format!("no password for device {device} in the credentials file (run `orderly devices` again)"))?;
        let security = orderly_mqtt::Security {
            credentials: Some(orderly_mqtt::Credentials {
                username: device.to_string(),
                password: password.clone(),
            }),
            tls: self.logins.tls.clone(),
        };
        let listen = (class == "bed").then(|| {
            (
                format!("{}bed/{device}/command", self.prefix),
                self.commands.clone(),
            )
        });
        let (client, task) =
            publish_client(&self.broker.0, self.broker.1, device, &security, listen)?;
        self.own.insert(device.to_string(), client.clone());
        self.tasks.push(task);
        Ok(client)
    }

    async fn close(self) {
        for c in self.shared.iter().chain(self.own.values()) {
            let _ = c.disconnect().await;
        }
        for t in self.tasks {
            t.abort();
        }
    }
}

async fn publish_live_with_truth(
    fp: Arc<Floorplan>,
    seed: Seed,
    cfg: SimConfig,
    broker: (String, u16),
    logins: Logins,
    mut shutdown: watch::Receiver<bool>,
    mut truth: Option<std::io::BufWriter<std::fs::File>>,
) -> Result<()> {
    // The beds listen for Orderly's commands and answer them.
    let prefix = format!("orderly/v1/{}/", fp.site.id);
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::channel(1000);
    let mut connections = Connections::new(broker.clone(), logins, prefix.clone(), cmd_tx)?;
    let mut sim = Simulator::new(fp, &seed, cfg, wall_clock());
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tracing::info!(broker = %format!("{}:{}", broker.0, broker.1), "simulator publishing");
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some((topic, payload)) = cmd_rx.recv() => {
                let device = topic
                    .strip_prefix(&prefix)
                    .and_then(|t| t.strip_prefix("bed/"))
                    .and_then(|t| t.strip_suffix("/command"));
                match (device, serde_json::from_slice::<serde_json::Value>(&payload)) {
                    (Some(d), Ok(v)) => {
                        sim.command(d, &v);
                    }
                    _ => tracing::warn!(%topic, "simulator: not a bed command"),
                }
                continue;
            }
            _ = shutdown.changed() => break,
        }
        for m in sim.advance(wall_clock()) {
            let payload = serde_json::to_vec(&m.payload)?;
            let client = connections.client(&m.topic)?;
            if client
                .publish(m.topic, rumqttc::QoS::AtLeastOnce, false, payload)
                .await
                .is_err()
            {
                break;
            }
        }
        write_truth(&mut truth, &mut sim)?;
    }
    connections.close().await;
    Ok(())
}

/// The demo's environmental services: a simulated person who, every two minutes, looks up the
/// equipment marked as needing cleaning through the API (as a handheld app would) and marks
/// clean what has waited 15 minutes outside a patient room. Without it every pump in the demo
/// would end up dirty and every unit short of its PAR level. Audited like any person's change.
pub async fn evs_rounds(
    http: std::net::SocketAddr,
    token: String,
    fp: Arc<Floorplan>,
    mut shutdown: watch::Receiver<bool>,
) {
    use std::collections::HashMap;
    const WAIT: Duration = Duration::from_secs(15 * 60);
    let base = format!("http://{http}");
    let mut first_seen: HashMap<String, std::time::Instant> = HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(120)) => {}
            _ = shutdown.changed() => return,
        }
        let (base, token, fp, mut seen) = (
            base.clone(),
            token.clone(),
            fp.clone(),
            std::mem::take(&mut first_seen),
        );
        let round = tokio::task::spawn_blocking(move || {
            let r = evs_round(&base, &token, &fp, &mut seen, WAIT);
            (r, seen)
        })
        .await;
        match round {
            Ok((Ok(cleaned), seen)) => {
                first_seen = seen;
                if cleaned > 0 {
                    tracing::info!(cleaned, "simulated environmental services round");
                }
            }
            Ok((Err(e), seen)) => {
                first_seen = seen;
                tracing::warn!(error = %e, "simulated environmental services round failed");
            }
            Err(e) => tracing::warn!(error = %e, "simulated environmental services task failed"),
        }
    }
}

fn evs_round(
    base: &str,
    token: &str,
    fp: &Floorplan,
    first_seen: &mut std::collections::HashMap<String, std::time::Instant>,
    wait: Duration,
) -> Result<usize> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let auth = format!("Bearer {token}");
    let list: serde_json::Value = agent
        .get(format!(
            "{base}/api/v1/assets?status=needs_cleaning&limit=1000"
        ))
        .header("Authorization", &auth)
        .call()?
        .body_mut()
        .read_json()?;
    let now = std::time::Instant::now();
    let mut dirty = std::collections::HashMap::new();
    for a in list.as_array().into_iter().flatten() {
        let Some(id) = a["id"].as_str() else { continue };
        let room = a["location"]["room"].as_str().and_then(|r| fp.room(r));
        let at_bedside = room.is_some_and(|r| {
            matches!(
                r.kind,
                orderly_floorplan::RoomKind::Patient | orderly_floorplan::RoomKind::Bay
            )
        });
        if room.is_none() || at_bedside {
            continue;
        }
        dirty.insert(id.to_string(), *first_seen.get(id).unwrap_or(&now));
    }
    *first_seen = dirty;
    let mut cleaned = 0;
    for (id, since) in first_seen.iter() {
        if now.duration_since(*since) < wait {
            continue;
        }
        agent
            .post(format!("{base}/api/v1/assets/{id}/status"))
            .header("Authorization", &auth)
            .send_json(serde_json::json!({
                "status": "clean",
                "reason": "cleaned and wiped down (simulated environmental services round)"
            }))?;
        cleaned += 1;
    }
    first_seen.retain(|_, since| now.duration_since(*since) < wait);
    Ok(cleaned + evs_beds(&agent, base, &auth)?)
}

/// Environmental services turn the dirty beds over: they start on a dirty bed at their next
/// round and are done with it ten minutes later (the world then makes it ready).
fn evs_beds(agent: &ureq::Agent, base: &str, auth: &str) -> Result<usize> {
    let work: serde_json::Value = agent
        .get(format!("{base}/api/v1/beds/worklist"))
        .header("Authorization", auth)
        .call()?
        .body_mut()
        .read_json()?;
    let now = wall_clock();
    let mut moved = 0;
    for b in work.as_array().into_iter().flatten() {
        let (Some(bed), Some(state)) = (b["bed"].as_str(), b["state"].as_str()) else {
            continue;
        };
        let since = b["since"]
            .as_str()
            .and_then(Timestamp::parse_rfc3339)
            .unwrap_or(now);
        let action = match state {
            "dirty" => "start_cleaning",
            "cleaning" if now.since(since) >= 10 * 60_000 => "cleaned",
            _ => continue,
        };
        agent
            .post(format!("{base}/api/v1/beds/{bed}/turnover"))
            .header("Authorization", auth)
            .send_json(serde_json::json!({ "action": action }))?;
        moved += 1;
    }
    Ok(moved)
}
