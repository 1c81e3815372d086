//! The locator alone, at hospital scale, on one core: `cargo xtask bench locator` runs this
//! (release build) several times and reports the median.
//!
//! A generated hospital of `--receivers` receivers (floors of corridor segments, each segment a
//! corridor receiver and four rooms with one receiver each, an elevator between floors) and
//! `--tags` tags. Every tag advertises once a second; the receivers of its room hear it around
//! -62 dBm and those of the adjacent rooms around -80 dBm, each with fading (±8 dB) and 15%
//! packet loss. 0.5% of tags walk to an adjacent room each second. Receivers batch a second of
//! sightings into one message, spread over ten ticks; the world steps once per tick. Only the
//! ingest and locate capabilities run; the messages are built before the clock starts (no JSON:
//! that is the MQTT edge's cost, measured by `cargo xtask bench ingest`).
//!
//! Prints one line of `key=value` figures for the xtask to collect.

use orderly_floorplan::Floorplan;
use orderly_model::reading::{Sighting, Sightings};
use orderly_model::{EventKind, Inbound, Payload, Reading, Seed, Timestamp};
use orderly_world::{Capability, Hospital, WorldConfig, ingest, locate, outbox};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

struct Site {
    floorplan: Arc<Floorplan>,
    /// Receiver id per room index (one per room).
    receivers: Vec<String>,
    /// Rooms joined by a door or corridor, per room index.
    adjacent: Vec<Vec<usize>>,
    /// Room ids, per room index.
    names: Vec<String>,
}

/// Floors of 40 segments: a corridor receiver and four rooms per segment (200 receivers a floor).
fn site(receivers: usize) -> Site {
    const PER_SEGMENT: usize = 5;
    const SEGMENTS: usize = 40;
    let segments = receivers.div_ceil(PER_SEGMENT);
    let floors = segments.div_ceil(SEGMENTS);
    let mut t = String::from(
        "[site]\nid = \"bench\"\nname = \"Bench\"\nelevator_wait_m = 36.0\n\n[[building]]\nid = \"b\"\nname = \"b\"\n\n",
    );
    for f in 0..floors {
        writeln!(
            t,
            "[[floor]]\nid = \"F{f}\"\nbuilding = \"b\"\nlevel = {f}\nname = \"F{f}\"\n"
        )
        .unwrap();
    }
    let mut names: Vec<String> = Vec::new();
    let mut links: Vec<(usize, usize, &str, f32)> = Vec::new();
    let mut rxs = Vec::new();
    // Rects, so the locator's radio model runs as in a floorplan with walls: the lift left of
    // the corridor, 8 m segments, two 4 x 5 m rooms south and two north of each.
    let mut add = |t: &mut String,
                   id: String,
                   floor: usize,
                   kind: &str,
                   rx: bool,
                   rect: [f32; 4]|
     -> usize {
        let receivers = if rx {
            let r = format!("rx-{id}");
            rxs.push(r.clone());
            format!("receivers = [\"{r}\"]\n")
        } else {
            rxs.push(String::new());
            String::new()
        };
        writeln!(
            t,
            "[[room]]\nid = \"{id}\"\nfloor = \"F{floor}\"\nkind = \"{kind}\"\n{receivers}rect = {rect:?}\n"
        )
        .unwrap();
        names.push(id);
        names.len() - 1
    };
    let mut elevators = Vec::new();
    let mut made = 0;
    for f in 0..floors {
        let lift = add(
            &mut t,
            format!("F{f}-LIFT"),
            f,
            "elevator",
            false,
            [-4.0, 5.0, 4.0, 3.0],
        );
        elevators.push(lift);
        let mut prev = lift;
        for s in 0..SEGMENTS {
            if made >= receivers {
                break;
            }
            let x = 8.0 * s as f32;
            let c = add(
                &mut t,
                format!("F{f}-C{s:02}"),
                f,
                "corridor",
                true,
                [x, 5.0, 8.0, 3.0],
            );
            made += 1;
            links.push((prev, c, "corridor", 8.0));
            prev = c;
            for r in 0..PER_SEGMENT - 1 {
                if made >= receivers {
                    break;
                }
                let (rx, ry) = (x + 4.0 * (r % 2) as f32, if r < 2 { 0.0 } else { 8.0 });
                let room = add(
                    &mut t,
                    format!("F{f}-R{s:02}{r}"),
                    f,
                    "patient",
                    true,
                    [rx, ry, 4.0, 5.0],
                );
                made += 1;
                links.push((c, room, "door", 3.0));
            }
        }
    }
    for w in elevators.windows(2) {
        links.push((w[0], w[1], "elevator", 4.0));
    }
    let mut adjacent = vec![Vec::new(); names.len()];
    for (a, b, kind, m) in &links {
        writeln!(
            t,
            "[[link]]\na = \"{}\"\nb = \"{}\"\nkind = \"{kind}\"\nmetres = {m:.1}\n",
            names[*a], names[*b]
        )
        .unwrap();
        if *kind != "elevator" {
            adjacent[*a].push(*b);
            adjacent[*b].push(*a);
        }
    }
    let floorplan = Floorplan::parse("bench-floorplan", &t).expect("generated floorplan");
    Site {
        floorplan: Arc::new(floorplan),
        receivers: rxs,
        adjacent,
        names,
    }
}

/// Where every tag truly is, walking on from second to second.
struct Walk {
    room: Vec<usize>,
    names: Vec<String>,
    second: usize,
}

impl Walk {
    fn new(site: &Site, tags: usize) -> Walk {
        let with_rx: Vec<usize> = (0..site.receivers.len())
            .filter(|&r| !site.receivers[r].is_empty())
            .collect();
        Walk {
            room: (0..tags).map(|i| with_rx[i % with_rx.len()]).collect(),
            names: (0..tags).map(|i| format!("BT-{:06}", i + 1)).collect(),
            second: 0,
        }
    }

    /// The messages of the next `seconds` seconds, per tick (ten a second).
    fn load(
        &mut self,
        site: &Site,
        seconds: usize,
        rng: &mut Rng,
    ) -> Vec<(Timestamp, Vec<Inbound>)> {
        let mut out = Vec::with_capacity(seconds * 10);
        let mut per_rx: Vec<Vec<Sighting>> = vec![Vec::new(); site.receivers.len()];
        let at = |sec: usize, tick: usize| {
            Timestamp(1_700_000_000_000 + (sec * 1000 + tick * 100) as i64)
        };
        for _ in 0..seconds {
            let sec = self.second;
            self.second += 1;
            for (i, r) in self.room.iter_mut().enumerate() {
                if rng.unit() < 0.005 {
                    let next: Vec<usize> = site.adjacent[*r]
                        .iter()
                        .copied()
                        .filter(|&n| !site.receivers[n].is_empty())
                        .collect();
                    if !next.is_empty() {
                        *r = next[rng.next() as usize % next.len()];
                    }
                }
                let mut hear = |rx: usize, level: f32, rng: &mut Rng| {
                    if site.receivers[rx].is_empty() || rng.unit() < 0.15 {
                        return;
                    }
                    per_rx[rx].push(Sighting {
                        tag: self.names[i].as_str().into(),
                        rssi: (level + (rng.unit() - 0.5) * 16.0).round(),
                        battery: None,
                        ir: false,
                    });
                };
                hear(*r, -62.0, rng);
                for &n in &site.adjacent[*r] {
                    hear(n, -80.0, rng);
                }
            }
            let mut ticks: Vec<Vec<Inbound>> = vec![Vec::new(); 10];
            for (rx, sightings) in per_rx.iter_mut().enumerate() {
                if sightings.is_empty() {
                    continue;
                }
                let tick = rx % 10;
                ticks[tick].push(Inbound::Reading(Reading {
                    at: at(sec, tick),
                    device: site.receivers[rx].clone(),
                    ts: at(sec, tick),
                    seq: None,
                    payload: Payload::Sightings(Sightings {
                        sightings: std::mem::take(sightings),
                    }),
                }));
            }
            for (tick, msgs) in ticks.into_iter().enumerate() {
                out.push((at(sec, tick), msgs));
            }
        }
        out
    }
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tags = arg(&args, "--tags", 25_000);
    let receivers = arg(&args, "--receivers", 2_000);
    let seconds = arg(&args, "--seconds", 20);
    let warmup = arg(&args, "--warmup", 5);
    let site = site(receivers);
    let detectors = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/detectors.toml"),
    )
    .expect("rules/detectors.toml");
    let config = WorldConfig::parse("rules/detectors.toml", &detectors).expect("detectors");
    let seed = Seed::parse(
        "bench-seed",
        &format!(
            "[[fleet]]\nkind = \"infusion_pump\"\ncount = {tags}\nid = \"BENCH-{{n}}\"\ntag = \"BT-{{n}}\"\nwidth = 6\n"
        ),
    )
    .expect("seed");
    let caps: Vec<Box<dyn Capability>> = vec![
        Box::new(outbox::OutboxPlugin),
        Box::new(ingest::IngestPlugin),
        Box::new(locate::LocatePlugin),
    ];
    let mut h = Hospital::with_capabilities(site.floorplan.clone(), &seed, &config, caps);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Warm up: every tag placed, beliefs formed (not timed).
    let mut walk = Walk::new(&site, tags);
    let mut moves = 0usize;
    for (at, msgs) in walk.load(&site, warmup, &mut rng) {
        for m in msgs {
            h.push(m);
        }
        h.step(at);
    }
    // The timed part continues the same walk.
    let timed = walk.load(&site, seconds, &mut rng);
    let sightings: usize = timed
        .iter()
        .flat_map(|(_, m)| m)
        .map(|m| match m {
            Inbound::Reading(Reading {
                payload: Payload::Sightings(s),
                ..
            }) => s.sightings.len(),
            _ => 0,
        })
        .sum();
    let messages: usize = timed.iter().map(|(_, m)| m.len()).sum();
    let started = Instant::now();
    let mut worst_step = 0f64;
    for (at, msgs) in timed {
        let t0 = Instant::now();
        for m in msgs {
            h.push(m);
        }
        for e in h.step(at) {
            if matches!(e.kind, EventKind::LocationChanged { .. }) {
                moves += 1;
            }
        }
        worst_step = worst_step.max(t0.elapsed().as_secs_f64());
    }
    let secs = started.elapsed().as_secs_f64();
    // Sanity: the located room against the truth (tags that moved in the last seconds lag by
    // the dwell, so this is a little under 1 even for a perfect locator).
    let world = h.world();
    let registry = world.resource::<orderly_world::Registry>();
    let right = walk
        .names
        .iter()
        .zip(&walk.room)
        .filter(|(name, room)| {
            registry
                .tags
                .get(name.as_str())
                .and_then(|e| world.get::<locate::Location>(*e))
                .is_some_and(|l| site.floorplan.rooms[l.room as usize].id == site.names[**room])
        })
        .count();
    println!(
        "tags={tags} receivers={} messages={messages} sightings={sightings} seconds={secs:.3} sightings_per_s={:.0} realtime_x={:.1} worst_tick_ms={:.2} location_changes={moves} right_room={:.4}",
        site.receivers.iter().filter(|r| !r.is_empty()).count(),
        sightings as f64 / secs,
        seconds as f64 / secs,
        worst_step * 1000.0,
        right as f64 / tags as f64,
    );
}
