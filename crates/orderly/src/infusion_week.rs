//! A simulated week of infusions on a small hospital, through the world Orderly runs, with the
//! shipped drug library and rules: the infusion report made from what the world recorded
//! matches the simulator's truth exactly (issue 23).

use orderly_floorplan::Floorplan;
use orderly_model::infusion::{InfusionReport, report};
use orderly_model::{EventKind, Seed, Timestamp};
use orderly_sim::{SimConfig, Simulator, Truth};
use orderly_world::{Hospital, rules_dir};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Two units (ICU: critical care, ED: emergency in the shipped library), each with a corridor,
/// a storage room and four patient rooms; six pumps each.
fn site() -> (String, String) {
    let mut fp = String::from(
        "[site]\nid = \"small\"\nname = \"Small\"\n\n[[building]]\nid = \"b\"\nname = \"B\"\n\n\
         [[floor]]\nid = \"F1\"\nbuilding = \"b\"\nlevel = 1\nname = \"Ground\"\n\n",
    );
    let mut seed = String::new();
    for (u, (unit, x0)) in [("ICU", 0.0), ("ED", 40.0)].into_iter().enumerate() {
        let l = unit.to_lowercase();
        fp.push_str(&format!(
            "[[unit]]\nid = \"{unit}\"\nname = \"{unit}\"\nfloor = \"F1\"\nkind = \"med_surg\"\nstation = \"{unit}-NS\"\n\n\
             [[room]]\nid = \"{unit}-C\"\nname = \"{unit} corridor\"\nfloor = \"F1\"\nunit = \"{unit}\"\nkind = \"corridor\"\nreceivers = [\"rx-{l}-c\"]\nrect = [{x0}, 5.0, 30.0, 3.0]\n\n\
             [[room]]\nid = \"{unit}-NS\"\nname = \"{unit} station\"\nfloor = \"F1\"\nunit = \"{unit}\"\nkind = \"nursing_station\"\nreceivers = [\"rx-{l}-ns\"]\nrect = [{x0}, 0.0, 5.0, 5.0]\n\n\
             [[room]]\nid = \"{unit}-ST\"\nname = \"{unit} storage\"\nfloor = \"F1\"\nunit = \"{unit}\"\nkind = \"storage\"\nreceivers = [\"rx-{l}-st\"]\nrect = [{x}, 0.0, 5.0, 5.0]\n\n\
             [[link]]\na = \"{unit}-C\"\nb = \"{unit}-NS\"\nkind = \"door\"\nmetres = 3.0\n\n\
             [[link]]\na = \"{unit}-C\"\nb = \"{unit}-ST\"\nkind = \"door\"\nmetres = 3.0\n\n",
            x = x0 + 5.0
        ));
        for r in 1..=4 {
            fp.push_str(&format!(
                "[[room]]\nid = \"{unit}-{r}\"\nname = \"{unit} room {r}\"\nfloor = \"F1\"\nunit = \"{unit}\"\nkind = \"patient\"\nbeds = [\"{unit}-B{r}\"]\nreceivers = [\"rx-{l}-{r}\"]\nrect = [{x}, 8.0, 5.0, 5.0]\n\n\
                 [[link]]\na = \"{unit}-C\"\nb = \"{unit}-{r}\"\nkind = \"door\"\nmetres = 4.0\n\n",
                x = x0 + 5.0 * r as f64
            ));
            seed.push_str(&format!(
                "[[asset]]\nid = \"BED-{unit}-{r}\"\nkind = \"bed\"\nunit = \"{unit}\"\nposition = \"{unit}-B{r}\"\nstatus = \"in_use\"\n\n\
                 [[patient]]\nid = \"P-{u}{r}\"\nname = \"Patient {u}{r}\"\nbed = \"BED-{unit}-{r}\"\nmorse = 10\nbraden = 20\nventilated = false\nelopement_risk = false\n\n"
            ));
        }
        for n in 1..=6 {
            seed.push_str(&format!(
                "[[asset]]\nid = \"PUMP-{unit}-{n}\"\nkind = \"infusion_pump\"\ntag = \"TP-{unit}-{n}\"\ndevice = \"pump-{l}-{n}\"\nmodel = \"{model}\"\nunit = \"{unit}\"\nstatus = \"available\"\n\n",
                model = if n % 2 == 0 { "Alaris 8100 LVP" } else { "Sigma Spectrum" }
            ));
        }
    }
    fp.push_str("[[link]]\na = \"ICU-C\"\nb = \"ED-C\"\nkind = \"door\"\nmetres = 20.0\n");
    (fp, seed)
}

/// What the truth says the report must count: per unit (infusions, with the library) and per
/// drug at unit (soft overrides, hard stops).
type Counts = (BTreeMap<String, (u64, u64)>, BTreeMap<String, (u64, u64)>);

fn truth_counts(truth: &[Truth]) -> Counts {
    let (mut units, mut drugs) = (BTreeMap::new(), BTreeMap::new());
    for t in truth {
        if let Truth::Infusion {
            unit,
            library,
            drug,
            soft_override,
            hard_stop,
            ..
        } = t
        {
            let unit = unit.clone().unwrap_or_default();
            let u: &mut (u64, u64) = units.entry(unit.clone()).or_default();
            u.0 += 1;
            u.1 += u64::from(*library);
            if *soft_override || *hard_stop {
                let d: &mut (u64, u64) = drugs
                    .entry(format!("{} @ {unit}", drug.clone().unwrap_or_default()))
                    .or_default();
                d.0 += u64::from(*soft_override);
                d.1 += u64::from(*hard_stop);
            }
        }
    }
    (units, drugs)
}

fn report_counts(r: &InfusionReport) -> Counts {
    (
        r.units
            .iter()
            .map(|u| (u.key.clone(), (u.infusions, u.with_library)))
            .collect(),
        r.drugs
            .iter()
            .filter(|d| d.soft_overrides + d.hard_stops > 0)
            .map(|d| (d.key.clone(), (d.soft_overrides, d.hard_stops)))
            .collect(),
    )
}

#[test]
fn a_simulated_weeks_infusion_report_matches_the_simulators_truth() {
    let (fp_text, seed_text) = site();
    let fp = Arc::new(Floorplan::parse("small.toml", &fp_text).unwrap());
    let seed = Seed::parse("small-seed.toml", &seed_text).unwrap();
    let files: Vec<(String, String)> = rules_dir::bundled()
        .into_iter()
        .filter(|(n, _)| {
            [
                "detectors.toml",
                "drug-library.toml",
                "infusion.toml",
                "pumps.toml",
            ]
            .iter()
            .any(|f| n.contains(f))
        })
        .collect();
    let bundle = rules_dir::compile(&files, &orderly_world::known(&fp, &seed)).unwrap();
    let library = Arc::new(bundle.config.drug_library.clone());
    let start = Timestamp(1_795_000_000_000);
    let week = 7 * 24 * 3600 * 1000;
    let mut sim = Simulator::new(
        fp.clone(),
        &seed,
        SimConfig {
            seed: 23,
            receiver_period_ms: 5_000,
            equipment_moves_per_hour: 0.5,
            bed_exits_per_hour: 0.0,
            falls_per_hour: 0.0,
            pump_alarms_per_hour: 0.1,
            infusions: Some(orderly_sim::devices::InfusionSim {
                // More events than a hospital has, so a week has plenty of each.
                soft_override: 0.15,
                hard_stop: 0.1,
                past_hard: 0.02,
                ..orderly_sim::devices::InfusionSim::new(library)
            }),
            ..SimConfig::default()
        },
        start,
    );
    let topics = orderly_mqtt::Topics::new(&fp.site.id);
    let mut h = Hospital::new(fp.clone(), &seed, bundle.config, Arc::new(bundle.rules));
    let mut records = Vec::new();
    let mut alerts = Vec::new();
    let mut past_hard_alerts = 0;
    let mut now = start;
    while now.millis() < start.millis() + week {
        now = now.plus_ms(10_000);
        for m in sim.advance(now) {
            let bytes = serde_json::to_vec(&m.payload).unwrap();
            h.push(orderly_mqtt::decode(&topics, &m.topic, &bytes, m.at));
        }
        for e in h.step(now) {
            match e.kind {
                EventKind::PumpInfusion(r) => records.push((*r, e.at)),
                EventKind::AlertRaised(a) => {
                    past_hard_alerts += usize::from(a.rule == "infusion-past-hard-limit");
                    alerts.push((a.unit.clone(), String::new()));
                }
                _ => {}
            }
        }
    }
    let truth = sim.take_truth();
    let r = report(&records, &alerts, start, now.plus_ms(1));
    let want = truth_counts(&truth);
    let got = report_counts(&r);
    eprintln!(
        "a week: {} infusions, {} with the library ({:.3}), {} basic mode, {:.0} infusion hours, {} soft overrides, {} hard stops, {} alerts on pumps ({:.3} per infusion hour)",
        r.total.infusions,
        r.total.with_library,
        r.total.compliance.unwrap_or(0.0),
        r.total.basic_mode,
        r.total.infusion_hours,
        r.total.soft_overrides,
        r.total.hard_stops,
        r.total.alerts,
        r.total.alerts_per_infusion_hour.unwrap_or(0.0)
    );
    if got != want {
        // Which infusions differ: the truth's unit against the last one recorded.
        let mut last: BTreeMap<(String, i64), (Option<String>, String)> = BTreeMap::new();
        for (x, at) in &records {
            last.insert(
                (x.pump.clone(), x.started_at.millis()),
                (x.unit.clone(), format!("{:?} at {}", x.change, at.millis())),
            );
        }
        for t in &truth {
            if let Truth::Infusion { at, pump, unit, .. } = t {
                match last.get(&(pump.clone(), at.millis())) {
                    Some((u, _)) if u == unit => {}
                    other => {
                        eprintln!(
                            "{pump} at {}: truth {unit:?}, recorded {other:?}",
                            at.millis()
                        );
                        for (x, t2) in &records {
                            if &x.pump == pump && (t2.millis() - at.millis()).abs() < 900_000 {
                                eprintln!(
                                    "  {} {:?} {:?} {:?} started {}",
                                    t2.millis(),
                                    x.change,
                                    x.unit,
                                    x.room,
                                    x.started_at.millis()
                                );
                            }
                        }
                        for t3 in &truth {
                            if let Truth::Room {
                                at: a3,
                                subject,
                                room,
                                ..
                            } = t3
                                && subject == pump
                                && (a3.millis() - at.millis()).abs() < 900_000
                            {
                                eprintln!("  truth room {} {room}", a3.millis());
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(got, want, "report {r:#?}");
    // Enough of everything for the comparison to mean something.
    assert!(r.total.infusions > 100, "{:?}", r.total);
    assert!(r.total.basic_mode > 5, "{:?}", r.total);
    assert!(
        r.total.soft_overrides > 10 && r.total.hard_stops > 5,
        "{:?}",
        r.total
    );
    // Every dose the pump let through past a hard limit was alerted (one alert per such
    // infusion at most; two in a row on one pump may share one).
    let past_hard = truth
        .iter()
        .filter(|t| {
            matches!(
                t,
                Truth::Infusion {
                    past_hard: true,
                    ..
                }
            )
        })
        .count();
    assert!(past_hard > 0);
    eprintln!("{past_hard} infusions past a hard limit, {past_hard_alerts} high alerts");
    assert!(
        past_hard_alerts >= 1 && past_hard_alerts <= past_hard,
        "{past_hard_alerts} alerts for {past_hard} infusions past a hard limit"
    );
    assert!(h.ingest_stats().view().rejected == 0);
}
