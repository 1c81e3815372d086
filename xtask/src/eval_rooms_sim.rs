//! `cargo xtask eval rooms --sim`: the locator in buildings with walls. Walks through one
//! floor of the demo hospital (3 West: corridor segments, patient rooms, station, utility
//! rooms) and through a small flat (`floorplans/eval-flat.toml`: doors, walls and open
//! borders, receivers placed off-centre), with BLE RSSI from the multi-wall path-loss model of
//! `orderly_sim::radio` (its parameters and their sources are there; `--radio key=value`
//! changes one), scored as the real recordings are (`eval.rs`): accuracy per report, switches
//! per true transition, median delay of a correct switch, beside the plain margin-and-dwell
//! locator on the same reports. Odd-numbered walks are the tuning half, even ones held out.

use crate::eval::{HALF, Row, Score, run_baseline, run_rows};
use anyhow::{Context, Result, bail};
use orderly_floorplan::Floorplan;
use orderly_model::{Seed, Timestamp};
use orderly_sim::radio::{Plan, RadioParams, walk};
use orderly_world::WorldConfig;
use std::path::Path;
use std::sync::Arc;

/// Walks per building, and how long each lasts.
const WALKS: u64 = 8;
const WALK_S: f32 = 1800.0;

fn params(over: &[(String, String)]) -> Result<RadioParams> {
    let mut p = RadioParams::default();
    for (k, v) in over {
        let x: f32 = v
            .parse()
            .with_context(|| format!("--radio {k}={v}: not a number"))?;
        let slot = match k.as_str() {
            "p0_dbm" => &mut p.p0_dbm,
            "n" => &mut p.n,
            "wall_db" => &mut p.wall_db,
            "door_db" => &mut p.door_db,
            "doors_closed" => &mut p.doors_closed,
            "body_db" => &mut p.body_db,
            "shadow_sd_db" => &mut p.shadow_sd_db,
            "shadow_corr_m" => &mut p.shadow_corr_m,
            "rician_k" => &mut p.rician_k,
            "sensitivity_dbm" => &mut p.sensitivity_dbm,
            "loss_p" => &mut p.loss_p,
            "advert_hz" => &mut p.advert_hz,
            _ => bail!(
                "--radio {k}: unknown; one of p0_dbm n wall_db door_db doors_closed body_db shadow_sd_db shadow_corr_m rician_k sensitivity_dbm loss_p advert_hz"
            ),
        };
        *slot = x;
    }
    Ok(p)
}

pub fn sim(root: &Path, config: &WorldConfig, over: &[(String, String)]) -> Result<()> {
    let radio = params(over)?;
    let verbose = std::env::var_os("ORDERLY_EVAL_VERBOSE").is_some();
    let buildings = [
        ("demo hospital, 3 West", "floorplans/demo.toml", "F3"),
        ("small flat", "floorplans/eval-flat.toml", "F"),
    ];
    let seed = Seed::parse(
        "eval-seed",
        "[[asset]]\nid = \"WALKER\"\nkind = \"beacon\"\ntag = \"SIM-TAG\"\n",
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("Radio: {radio:?}\n");
    println!(
        "| building | half | rows | accuracy | switches / true transitions | median switch delay | plain locator (3 dB, 1 s): rows, accuracy, switches, delay |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut all = [Score::default(), Score::default()];
    let mut all_plain = [Score::default(), Score::default()];
    for (name, file, floor) in buildings {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let fp = Arc::new(Floorplan::parse(file, &text).map_err(|e| anyhow::anyhow!("{e}"))?);
        let plan = Plan::new(&fp, floor).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let mut breakdown = [(0usize, 0usize); 4];
        let mut by_room: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
        let mut halves = [Score::default(), Score::default()];
        let mut plain = [Score::default(), Score::default()];
        for w in 1..=WALKS {
            let start = Timestamp(1_767_600_000_000 + w as i64 * 86_400_000);
            let heard = walk(&fp, &plan, &radio, w, start, WALK_S);
            let rows: Vec<Row> = heard
                .iter()
                .cloned()
                .map(|h| Row {
                    at: h.at,
                    receiver: h.receiver,
                    rssi: h.rssi,
                    truth: fp.rooms[h.truth].id.clone(),
                })
                .collect();
            let half = usize::from(w % 2 == 0);
            let s = run_rows(&rows, &fp, &seed, "SIM-TAG", config);
            if verbose {
                for (i, (at, from, to, truth)) in s.moves.iter().enumerate() {
                    let stay = s
                        .moves
                        .get(i + 1)
                        .map_or(f64::NAN, |n| n.0.since(*at) as f64 / 1000.0);
                    eprintln!(
                        "{name} walk {w}: {from} -> {to} (truth {truth}), stayed {stay:.1} s"
                    );
                }
            }
            for (h, right) in heard.iter().zip(&s.per_row) {
                let near = usize::from(h.to_edge_m < 1.0);
                let k = usize::from(h.moving) * 2 + near;
                breakdown[k].0 += 1;
                breakdown[k].1 += usize::from(*right);
                let e = by_room.entry(fp.rooms[h.truth].id.clone()).or_default();
                e.0 += 1;
                e.1 += usize::from(*right);
            }
            halves[half].add(s);
            plain[half].add(run_baseline(&rows, &fp));
        }
        if verbose {
            for (k, what) in [
                "still, >= 1 m from an edge",
                "still, < 1 m",
                "walking, >= 1 m",
                "walking, < 1 m",
            ]
            .iter()
            .enumerate()
            {
                let (n, r) = breakdown[k];
                eprintln!(
                    "{name}: {what}: {n} rows, accuracy {:.3}",
                    r as f64 / n.max(1) as f64
                );
            }
            for (room, (n, r)) in &by_room {
                eprintln!(
                    "{name}: {room}: {n} rows, accuracy {:.3}",
                    *r as f64 / (*n).max(1) as f64
                );
            }
        }
        for (half, (mut s, mut b)) in halves.into_iter().zip(plain).enumerate() {
            println!(
                "| {name} | {} | {} | {} |",
                HALF[half],
                s.cells(),
                b.cells()
            );
            all[half].add(s);
            all_plain[half].add(b);
        }
    }
    for (half, (mut s, mut b)) in all.into_iter().zip(all_plain).enumerate() {
        println!(
            "| **both** | {} | {} | {} |",
            HALF[half],
            s.cells(),
            b.cells()
        );
    }
    println!(
        "\n{WALKS} walks of {} min per building; odd-numbered walks tune, even ones are held out.",
        WALK_S / 60.0
    );
    println!(
        "Goal (issue 25): accuracy >= 0.85, <= 1.2 switches per true transition, median delay <= 5 s, all at once, and no more switches than the plain locator."
    );
    Ok(())
}
