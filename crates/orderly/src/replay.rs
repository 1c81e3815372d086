//! Record and replay. A capture is JSON lines `{"at", "topic", "payload"}` in receive order.
//! Replay runs the same decoding and the same world as live, in virtual time driven by `at`,
//! as fast as it goes, and writes every event as a JSON line: the same capture, site and
//! rules give the same bytes.

use anyhow::{Context, Result, bail};
use clap::Args;
use orderly_floorplan::Floorplan;
use orderly_model::{OutEvent, Seed, Timestamp};
use orderly_mqtt::Topics;
use orderly_mqtt::client::wall_clock;
use orderly_world::{Hospital, RuleSet, WorldConfig};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Deserialize;
use std::io::{BufRead, Write};
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Broker, host:port.
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub mqtt: String,
    /// Site id (the topic prefix is orderly/v1/{site}/).
    #[arg(long, default_value = "general")]
    pub site: String,
    /// Capture file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The capture (JSON lines).
    pub capture: PathBuf,
    /// Floorplan (default: the bundled demo hospital).
    #[arg(long)]
    pub floorplan: Option<PathBuf>,
    /// The seed: asset registry and census, as for `orderly check --seed` (default: the
    /// bundled demo; give both --floorplan and --seed, or neither).
    #[arg(long, alias = "registry")]
    pub seed: Option<PathBuf>,
    /// Rules directory: detectors.toml and alert rules (default: the bundled rules).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Where to write the events (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A capture line, its payload left as it was written: parsed once, by the device's decoder.
#[derive(Deserialize)]
struct Line<'a> {
    at: Timestamp,
    #[serde(borrow)]
    topic: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

/// Virtual time between steps when no message arrives (as the live world ticks).
const TICK_MS: i64 = 250;

/// Capture lines decoded per hand-over from the reader thread to the world.
const READ_BATCH: usize = 1024;

/// A capture line decoded as live decodes a message.
struct Decoded {
    line: usize,
    at: Timestamp,
    inbound: orderly_model::Inbound,
}

/// Parses capture line `n` of `name` and decodes its message; None for a blank line.
fn decode_line(
    topics: &Topics,
    name: &str,
    n: usize,
    line: std::io::Result<String>,
) -> Result<Option<Decoded>> {
    let line = line.with_context(|| format!("{name}:{n}: cannot read"))?;
    if line.trim().is_empty() {
        return Ok(None);
    }
    let l: Line = serde_json::from_str(&line).with_context(|| {
        format!("{name}:{n}: not a capture line {{\"at\",\"topic\",\"payload\"}}")
    })?;
    // A payload kept as a string is a message that was not JSON: replay its bytes as
    // received. Any other payload is the JSON the device sent, as written.
    let raw = l.payload.get();
    let text: String;
    let bytes = match raw.starts_with('"') {
        true => {
            text = serde_json::from_str(raw)
                .with_context(|| format!("{name}:{n}: the payload string"))?;
            text.as_bytes()
        }
        false => raw.as_bytes(),
    };
    Ok(Some(Decoded {
        line: n,
        at: l.at,
        inbound: orderly_mqtt::decode(topics, &l.topic, bytes, l.at),
    }))
}

pub fn replay(args: ReplayArgs) -> Result<()> {
    let (fp, seed) = crate::files::site_or_demo(args.floorplan.as_deref(), args.seed.as_deref())?;
    let loaded = crate::rules::load(args.rules.as_deref(), &fp, &seed)?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut events = 0u64;
    let r = run(&args.capture, fp, &seed, loaded.config, loaded.rules, |e| {
        serde_json::to_writer(&mut out, e)?;
        out.write_all(b"\n")?;
        events += 1;
        Ok(())
    })?;
    out.flush()?;
    eprintln!("{}", r.summary(&args.capture, events));
    if r.messages > 0 && r.ingest.accepted == 0 {
        eprintln!(
            "warning: no message of {} matched the site: check --floorplan and --seed (the devices' ids and the topics' site)",
            args.capture.display()
        );
    } else if r.sightings > 0 && r.unknown_tags == r.sightings {
        eprintln!(
            "warning: none of the {} sightings was of a tag in the seed: check --seed",
            r.sightings
        );
    }
    Ok(())
}

/// What a replay took in and what it dropped, and why.
pub struct Replayed {
    pub first: Timestamp,
    pub last: Timestamp,
    /// Lines of the capture (messages).
    pub messages: u64,
    pub ingest: orderly_model::view::IngestView,
    /// Sightings in accepted receiver messages, and those of tags not in the seed.
    pub sightings: u64,
    pub unknown_tags: u64,
}

impl Replayed {
    /// One paragraph for a person: messages, accepted, dropped by reason, unknown tags.
    pub fn summary(&self, capture: &Path, events: u64) -> String {
        let mut s = format!(
            "replayed {}: {} messages, {} accepted, {} dropped; {events} events",
            capture.display(),
            self.messages,
            self.ingest.accepted,
            self.ingest.rejected
        );
        if !self.ingest.by_reason.is_empty() {
            let why: Vec<String> = self
                .ingest
                .by_reason
                .iter()
                .map(|(r, n)| format!("{n} {}", r.as_str()))
                .collect();
            s.push_str(&format!("\n  dropped by reason: {}", why.join(", ")));
        }
        if self.unknown_tags > 0 {
            s.push_str(&format!(
                "\n  sightings of tags not in the seed: {} of {}",
                self.unknown_tags, self.sightings
            ));
        }
        s
    }
}

/// Runs a capture through a fresh world in virtual time, handing each event to `on_event`.
/// Returns the times of the first and last messages and what was taken in and dropped.
pub fn run(
    capture: &Path,
    fp: Arc<Floorplan>,
    seed: &Seed,
    config: WorldConfig,
    rules: Arc<RuleSet>,
    mut on_event: impl FnMut(&OutEvent) -> Result<()>,
) -> Result<Replayed> {
    let topics = Topics::new(&fp.site.id);
    // Events are all a replay gives: no read model to keep.
    let mut hospital = Hospital::headless(fp, seed, config, rules);
    let input = std::io::BufReader::new(
        std::fs::File::open(capture)
            .with_context(|| format!("cannot open {}", capture.display()))?,
    );
    let mut emit = |events: Vec<OutEvent>| -> Result<()> {
        for e in &events {
            on_event(e)?;
        }
        Ok(())
    };
    // Lines are read and decoded on a thread of their own, a batch at a time, while the world
    // steps through the previous ones (decoding was a seventh of a replay's time); the world
    // takes them in the file's order, so the events are the same bytes.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<Decoded>>>(8);
    let name = capture.display().to_string();
    let reader = std::thread::Builder::new()
        .name("replay-read".into())
        .spawn(move || {
            let mut batch = Vec::with_capacity(READ_BATCH);
            for (i, line) in input.lines().enumerate() {
                match decode_line(&topics, &name, i + 1, line) {
                    Ok(Some(d)) => batch.push(d),
                    Ok(None) => continue,
                    Err(e) => {
                        // What came before the bad line is replayed first, as it always was.
                        let _ = tx.send(Ok(std::mem::take(&mut batch)));
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                if batch.len() == READ_BATCH
                    && tx
                        .send(Ok(std::mem::replace(
                            &mut batch,
                            Vec::with_capacity(READ_BATCH),
                        )))
                        .is_err()
                {
                    return;
                }
            }
            let _ = tx.send(Ok(batch));
        })
        .context("cannot start the replay's reader")?;
    let (mut first, mut pending_at) = (None::<Timestamp>, None::<Timestamp>);
    let mut messages = 0u64;
    for batch in rx {
        for d in batch? {
            first.get_or_insert(d.at);
            // Time moves on: finish the batch of the previous instant, and tick through the gap.
            if let Some(p) = pending_at {
                if d.at > p {
                    emit(hospital.step(p))?;
                    let mut t = p.plus_ms(TICK_MS);
                    while t < d.at {
                        emit(hospital.step(t))?;
                        t = t.plus_ms(TICK_MS);
                    }
                } else if d.at < p {
                    bail!(
                        "{}:{}: `at` goes back in time ({} after {})",
                        capture.display(),
                        d.line,
                        d.at,
                        p
                    );
                }
            }
            hospital.push(d.inbound);
            messages += 1;
            pending_at = Some(d.at);
        }
    }
    // A reader that died without an error would otherwise end the replay early, silently.
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("{}: the replay's reader stopped", capture.display()))?;
    if let Some(p) = pending_at {
        emit(hospital.step(p))?;
    }
    let stats = hospital.ingest_stats();
    Ok(Replayed {
        first: first.unwrap_or_default(),
        last: pending_at.unwrap_or_default(),
        messages,
        ingest: stats.view(),
        sightings: stats.sightings,
        unknown_tags: stats.unknown_tags,
    })
}

pub async fn record(args: RecordArgs) -> Result<()> {
    let (host, port) = args.mqtt.rsplit_once(':').context("--mqtt is host:port")?;
    let mut o = MqttOptions::new(
        format!("orderly-record-{}", std::process::id()),
        host,
        port.parse::<u16>().context("--mqtt port")?,
    );
    o.set_max_packet_size(orderly_mqtt::client::MAX_INCOMING, orderly_mqtt::MAX_PACKET);
    o.set_keep_alive(Duration::from_secs(15));
    let (client, mut el) = AsyncClient::new(o, 100);
    let topics = Topics::new(&args.site);
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?,
    );
    let stop = async {
        match args.duration {
            Some(d) => tokio::time::sleep(Duration::from_secs(d)).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    let mut n = 0u64;
    loop {
        let ev = tokio::select! {
            e = el.poll() => e,
            _ = &mut stop => break,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                client.try_subscribe(topics.subscription(), QoS::AtLeastOnce)?
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stdout(),
                    "recording {} to {}",
                    topics.subscription(),
                    args.out.display()
                );
                let _ = std::io::stdout().flush();
            }
            Ok(Event::Incoming(Packet::Publish(p))) if !topics.is_outbound(&p.topic) => {
                let payload = serde_json::from_slice::<serde_json::Value>(&p.payload)
                    .unwrap_or_else(|_| {
                        serde_json::Value::String(String::from_utf8_lossy(&p.payload).into_owned())
                    });
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({"at": wall_clock(), "topic": p.topic, "payload": payload}),
                )?;
                out.write_all(b"\n")?;
                n += 1;
                if n.is_multiple_of(1000) {
                    out.flush()?;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "broker connection failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    out.flush()?;
    eprintln!("recorded {n} messages to {}", args.out.display());
    Ok(())
}
