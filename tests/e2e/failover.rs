//! Site ownership by lease: a standby forwards the API to the owner, takes over a site whose
//! owner was killed or frozen, restores it and carries on; every alert is raised once; a
//! frozen owner that wakes stands down. Two `orderly run` on one database and a broker that outlives them (Mosquitto).

use orderly_tests::{Device, Orderly, Setup, now_rfc3339};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

fn sightings(tag: &str) -> Value {
    json!({"ts": now_rfc3339(), "sightings": [{"tag": tag, "rssi": -55, "ir": true}]})
}

fn bed(alarm: &str) -> Value {
    json!({"ts": now_rfc3339(), "occupied": alarm != "alarming", "hob_deg": 30.0, "height": "low", "brakes": true,
           "rails": {"head_left": true, "head_right": true, "foot_left": false, "foot_right": false},
           "exit_alarm": alarm, "surface": "static", "moving": false})
}

fn fall() -> Value {
    json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95})
}

/// The readiness problems an instance reports (empty when it owns the site and is ready).
fn problems(o: &Orderly) -> (u16, String) {
    let (status, r) = o.get("/readyz");
    (status, r["problems"].to_string())
}

/// Every committed event from the start, until `done` holds or `timeout` passes.
fn log(o: &Orderly, timeout: Duration, done: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
    o.stream("after=0", timeout, done)
}

/// Alerts raised per (rule, subject) in an event log.
fn raised(events: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut n = BTreeMap::new();
    for e in events.iter().filter(|e| e["kind"] == "alert.raised") {
        let key = (
            e["rule"].as_str().unwrap_or("").to_string(),
            e["subject"].as_str().unwrap_or("").to_string(),
        );
        *n.entry(key).or_insert(0) += 1;
    }
    n
}

fn fell(events: &[Value], patient: &str) -> bool {
    events.iter().any(|e| {
        e["kind"] == "alert.raised"
            && e["subject"] == patient
            && e["rule"].as_str().is_some_and(|r| r.starts_with("fall"))
    })
}

/// The event log once `patient`'s fall is alerted in it: the fall alerted, the log one, and
/// every alert in it raised once (per (rule, subject), returned). `what` names the check.
fn fall_alerted_once(o: &Orderly, patient: &str, what: &str) -> BTreeMap<(String, String), usize> {
    let events = log(o, Duration::from_secs(20), |e| fell(e, patient));
    assert!(
        fell(&events, patient),
        "{what}: the fall of {patient} is alerted: {events:?}"
    );
    one_log(&events);
    let per = raised(&events);
    assert!(
        per.values().all(|n| *n == 1),
        "{what}: each alert raised once: {per:?}"
    );
    per
}

/// No event committed twice or by two owners: sequence numbers strictly increase.
fn one_log(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "the event log's sequence numbers repeat or go back: {seqs:?}"
    );
    assert_eq!(seqs.iter().collect::<HashSet<_>>().len(), seqs.len());
}

#[test]
fn a_standby_takes_over_a_killed_owner_within_15_s_and_raises_each_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some((setup, _broker)) = Setup::with_lasting_broker(dir.path(), "failover after kill -9")
    else {
        return;
    };
    let a = setup.start();
    let b = setup.spawn_as("standby-b");
    let (status, why) = problems(&b);
    assert_eq!(status, 503, "{why}");
    assert!(
        why.contains("standby") && why.contains(&setup.instance),
        "the standby names the owner: {why}"
    );
    let (_, cluster) = a.get("/api/v1/cluster");
    assert_eq!(
        cluster["sites"][0]["holder"],
        setup.instance.as_str(),
        "{cluster}"
    );
    assert_eq!(cluster["sites"][0]["epoch"], 1, "{cluster}");
    let states: Vec<&str> = cluster["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["state"].as_str())
        .collect();
    assert!(
        states.contains(&"owner") && states.contains(&"standby"),
        "{cluster}"
    );

    let dev = Device::connect(&setup.mqtt, None);
    dev.json(
        &a.topic("rtls/rx-f2-icu-04/sightings"),
        &sightings("TB-ICU-04"),
    );
    dev.json(&a.topic("bed/bed-icu-04/state"), &bed("alarming"));
    let before = log(&a, Duration::from_secs(20), |e| {
        e.iter().any(|x| x["kind"] == "alert.raised")
    });
    assert_eq!(raised(&before).len(), 1, "{before:?}");
    // Through the standby: reads, the event stream and a write reach the owner.
    let (status, asset) = b.get("/api/v1/assets/BED-ICU-04");
    assert_eq!(status, 200, "{asset}");
    assert_eq!(asset["location"]["room"], "F2-ICU-04", "{asset}");
    let via_b = log(&b, Duration::from_secs(10), |e| {
        e.iter().any(|x| x["kind"] == "alert.raised")
    });
    assert_eq!(raised(&via_b), raised(&before));
    let id = before
        .iter()
        .find(|e| e["kind"] == "alert.raised")
        .and_then(|e| e["id"].as_str())
        .unwrap()
        .to_string();
    let (status, acked) = b.post(&format!("/api/v1/alerts/{id}/acknowledge"), &json!({}));
    assert_eq!(
        (status, acked["state"].as_str()),
        (200, Some("acknowledged")),
        "{acked}"
    );
    let (_, open) = b.get("/api/v1/alerts/open");
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str() && a["state"] == "acknowledged"),
        "the acknowledgement is read back at once: {open}"
    );

    let killed = Instant::now();
    a.kill();
    // While nobody owns the site, Ada Petrov (P-1002) falls: the broker keeps the message for
    // the site's session.
    dev.json(&b.topic("wearable/W-1002/event"), &fall());
    b.wait_until("the standby owns the site", Duration::from_secs(20), || {
        b.serves("/readyz")
    });
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(15), "took over in {took:?}");
    // The acknowledgement survived the takeover; the bed still alarms (it repeats its state):
    // still one alert.
    let (_, open) = b.get("/api/v1/alerts/open");
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str() && a["state"] == "acknowledged"),
        "{open}"
    );
    dev.json(&b.topic("bed/bed-icu-04/state"), &bed("alarming"));
    fall_alerted_once(&b, "P-1002", "the fall sent meanwhile");
    let (_, cluster) = b.get("/api/v1/cluster");
    assert_eq!(cluster["sites"][0]["holder"], "standby-b", "{cluster}");
    assert_eq!(cluster["sites"][0]["epoch"], 2, "{cluster}");
    dev.close();
    b.stop();
}

#[test]
fn a_frozen_owner_that_wakes_stands_down_and_the_log_stays_one() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut setup, _broker)) =
        Setup::with_lasting_broker(dir.path(), "failover after SIGSTOP")
    else {
        return;
    };
    setup.args.extend(["--lease".to_string(), "4s".to_string()]);
    let a = setup.start();
    let b = setup.spawn_as("standby-b");
    let dev = Device::connect(&setup.mqtt, None);
    dev.json(
        &a.topic("rtls/rx-f2-icu-04/sightings"),
        &sightings("TB-ICU-04"),
    );
    dev.json(&a.topic("bed/bed-icu-04/state"), &bed("alarming"));
    log(&a, Duration::from_secs(20), |e| {
        e.iter().any(|x| x["kind"] == "alert.raised")
    });

    a.signal("STOP");
    let frozen = Instant::now();
    b.wait_until("the standby owns the site", Duration::from_secs(20), || {
        b.serves("/readyz")
    });
    // A fall while the old owner is frozen: the new owner alerts it.
    dev.json(&b.topic("wearable/W-1002/event"), &fall());
    let mid = log(&b, Duration::from_secs(20), |e| fell(e, "P-1002"));
    assert!(fell(&mid, "P-1002"), "{mid:?}");
    // Frozen 20 s in all, then woken: it finds the site taken and stands down.
    std::thread::sleep(Duration::from_secs(20).saturating_sub(frozen.elapsed()));
    a.signal("CONT");
    let woke = Instant::now();
    a.wait_until(
        "the woken owner stands down",
        Duration::from_secs(20),
        || {
            a.try_get("/readyz").is_some_and(|(status, r)| {
                status == 503 && r["problems"].to_string().contains("standby-b")
            })
        },
    );
    eprintln!("stood down {:?} after waking", woke.elapsed());
    assert!(
        a.stderr.lock().unwrap().contains("standing down"),
        "its log says why"
    );
    // The bed keeps talking; the new owner alone commits.
    dev.json(&b.topic("bed/bed-icu-04/state"), &bed("alarming"));
    let end = log(&b, Duration::from_secs(5), |_| false);
    one_log(&end);
    let per = raised(&end);
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    let (_, cluster) = b.get("/api/v1/cluster");
    assert_eq!(cluster["sites"][0]["holder"], "standby-b", "{cluster}");
    dev.close();
    a.stop();
    b.stop();
}

/// An interface engine pointed at the standby (no balancer) reaches the owner through it, over
/// TLS: each message is acknowledged by the owner once committed, byte for byte through the
/// standby (the handshake is the owner's); after the owner dies the same address serves HL7
/// itself once the standby owns the site.
#[test]
fn hl7_sent_to_the_standby_is_applied_by_the_owner_and_after_a_takeover_by_the_standby() {
    use crate::census::{adt, hl7_tls_args, patient_in, tls_send};
    let dir = tempfile::tempdir().unwrap();
    let Some((mut setup, _broker)) = Setup::with_lasting_broker(dir.path(), "HL7 via the standby")
    else {
        return;
    };
    let certs = setup.dir.path().to_path_buf();
    crate::security::certificates(&certs);
    setup.args.extend(hl7_tls_args(&certs));
    setup.args.extend(["--lease".to_string(), "3s".to_string()]);
    let a = setup.start();
    let b = setup.spawn_as("standby-b");
    let (a_hl7, b_hl7) = (a.hl7.clone().unwrap(), b.hl7.clone().unwrap());
    assert_ne!(a_hl7, b_hl7);
    let (_, cluster) = b.get("/api/v1/cluster");
    assert_eq!(cluster["sites"][0]["hl7"], a_hl7.as_str(), "{cluster}");

    let ack = tls_send(
        &certs,
        &b_hl7,
        &adt("A01", "F1", 1, "55501", "Okafor^Nia", "ICU^205^A^GH"),
    );
    assert_eq!(
        (ack.code.as_str(), ack.control_id.as_str()),
        ("AA", "F1"),
        "{}",
        ack.text
    );
    // Acknowledged by the owner: committed there, seen at once.
    assert_eq!(patient_in(&a, "ICU", "BED-ICU-05")["id"], "GH-55501");
    // The standby says what it passed through, in its readiness answer.
    b.wait_until(
        "the standby counts the relayed connection",
        Duration::from_secs(10),
        || {
            b.try_get("/readyz").is_some_and(|(_, r)| {
                r["problems"]
                    .to_string()
                    .contains("HL7: 1 connection(s) passed through to the owner")
            })
        },
    );
    // And in its own metrics (an admin's token, checked against the site's store), not the
    // owner's: a scraper of each instance sees each process.
    let (status, text) = b.get("/metrics");
    assert_eq!(status, 200, "{text}");
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains("orderly_hl7_relayed_total 1")),
        "{text}"
    );
    assert!(
        !a.get("/metrics")
            .1
            .to_string()
            .contains("orderly_hl7_relayed_total"),
        "the owner passed nothing through"
    );
    assert_eq!(b.get_as("/metrics", "ord_bogus").0, 401);
    let nurse = setup.token("nurse", "Nurse Standby", "ICU");
    assert_eq!(b.get_as("/metrics", &nurse).0, 403);

    a.kill();
    b.wait_until("the standby owns the site", Duration::from_secs(20), || {
        b.serves("/readyz")
    });
    // The engine connects again to the address it knows, now served by the new owner.
    let ack = tls_send(
        &certs,
        &b_hl7,
        &adt("A02", "F2", 6, "55501", "Okafor^Nia", "ICU^211^A^GH"),
    );
    assert_eq!(ack.code, "AA", "{}", ack.text);
    assert_eq!(patient_in(&b, "ICU", "BED-ICU-05"), Value::Null);
    assert_eq!(patient_in(&b, "ICU", "BED-ICU-11")["id"], "GH-55501");
    let (_, cluster) = b.get("/api/v1/cluster");
    assert_eq!(cluster["sites"][0]["hl7"], b_hl7.as_str(), "{cluster}");
    b.stop();
}

/// A nurse's station board opened through the standby (which forwards to the owner) goes on
/// through the owner's death: its stream reconnects with Last-Event-ID, and a fall after the
/// takeover is on the board.
#[test]
fn a_station_board_through_the_standby_carries_on_after_the_owner_dies() {
    let Some(browser) = crate::pages::browser(1920, 1080) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some((setup, _broker)) =
        Setup::with_lasting_broker(dir.path(), "the board through a failover")
    else {
        return;
    };
    let a = setup.start();
    let b = setup.spawn_as("standby-b");
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    crate::pages::sign_in(&browser, &b, &nurse);
    let t = Duration::from_secs(30);
    browser.wait_for(
        "the ICU board, through the standby",
        t,
        "return location.hash === '#/station/ICU' && !!document.getElementById('alerts') && document.getElementById('live').classList.contains('on')",
    );
    a.kill();
    let dev = Device::connect(&setup.mqtt, None);
    dev.json(&b.topic("wearable/W-1002/event"), &fall());
    browser.wait_for(
        "the fall on the board after the takeover",
        Duration::from_secs(45),
        "const c = document.querySelector('#alerts article.alert.high'); return !!c && c.dataset.state === 'active' && document.getElementById('live').classList.contains('on')",
    );
    assert_eq!(b.get("/readyz").0, 200);
    dev.close();
    b.stop();
}

/// Alerts on MQTT follow the event log with a cursor: what an owner committed and never
/// published (it died between the two; here its cursor is put back, as such an owner leaves
/// it) is published by the next owner when it starts, under the same sequence number.
#[test]
fn alerts_committed_but_not_published_go_out_when_the_next_owner_starts() {
    let dir = tempfile::tempdir().unwrap();
    let Some((setup, _broker)) = Setup::with_lasting_broker(dir.path(), "the MQTT alerts' cursor")
    else {
        return;
    };
    let a = setup.start();
    let station = Device::connect(&setup.mqtt, Some(&a.topic("alerts/#")));
    let dev = Device::connect(&setup.mqtt, None);
    dev.json(&a.topic("wearable/W-1002/event"), &fall());
    let first = station
        .received
        .recv_timeout(Duration::from_secs(20))
        .expect("the fall alert published");
    let first: Value = serde_json::from_slice(&first.1).unwrap();
    assert_eq!(first["kind"], "alert.raised", "{first}");
    a.stop();
    orderly_tests::db_exec(
        &setup.db.url,
        &format!(
            "UPDATE outbound_cursor SET seq = {} WHERE destination = 'mqtt:alerts'",
            first["seq"].as_u64().unwrap() - 1
        ),
    );
    let b = setup.start();
    let again: Value = loop {
        let (_, p) = station
            .received
            .recv_timeout(Duration::from_secs(20))
            .expect("the alert published again by the next owner");
        let v: Value = serde_json::from_slice(&p).unwrap();
        if v["kind"] == "alert.raised" {
            break v;
        }
    };
    assert_eq!((&again["seq"], &again["id"]), (&first["seq"], &first["id"]));
    dev.close();
    station.close();
    b.stop();
}

/// Each site's owner and epoch, as `GET /api/v1/cluster` shows the leases not lapsed.
fn owners(o: &Orderly) -> BTreeMap<String, (String, i64)> {
    let Some((200, c)) = o.try_get("/api/v1/cluster") else {
        return BTreeMap::new();
    };
    c["sites"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["expires_in_ms"].as_i64().is_some_and(|ms| ms >= 0))
        .map(|l| {
            (
                l["site"].as_str().unwrap_or("").to_string(),
                (
                    l["holder"].as_str().unwrap_or("").to_string(),
                    l["epoch"].as_i64().unwrap_or(0),
                ),
            )
        })
        .collect()
}

/// How many sites each instance owns.
fn per_instance(owned: &BTreeMap<String, (String, i64)>) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for (holder, _) in owned.values() {
        *n.entry(holder.clone()).or_insert(0) += 1;
    }
    n
}

/// Sites weigh what the configuration says (`weight`): a hospital of weight 6 and two clinics
/// of weight 3 on two instances settle as the hospital on one and both clinics on the other
/// (6 and 6), whichever instance took what first.
#[test]
fn sites_are_shared_out_by_weight() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut setup, _broker)) =
        Setup::with_lasting_broker(dir.path(), "sites shared out by weight")
    else {
        return;
    };
    setup.args.extend(["--lease".to_string(), "3s".to_string()]);
    let (config, sites) = orderly_tests::sites_config(dir.path(), 3);
    let text = std::fs::read_to_string(&config).unwrap();
    let mut weighted = String::new();
    for (i, part) in text
        .split("[[site]]\n")
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let w = if i == 0 { 6 } else { 3 };
        weighted.push_str(&format!("[[site]]\nweight = {w}\n{part}"));
    }
    std::fs::write(&config, weighted).unwrap();
    let names: Vec<String> = ["a", "b"]
        .iter()
        .map(|n| format!("{}-{n}", setup.instance))
        .collect();
    let started: Vec<(Orderly, BTreeMap<String, Orderly>)> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| s.spawn(|| setup.spawn_sites(&config, n, &sites)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let look = &started[0].1[&sites[0]];
    look.wait_until(
        "the hospital alone on one instance, both clinics on the other",
        Duration::from_secs(60),
        || {
            let owned = owners(look);
            owned.len() == 3
                && owned[&sites[1]].0 == owned[&sites[2]].0
                && owned[&sites[0]].0 != owned[&sites[1]].0
        },
    );
    // The cluster says each site's weight and each owner's load.
    let (_, cluster) = look.get("/api/v1/cluster");
    let weights: Vec<u64> = cluster["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["weight"].as_u64().unwrap_or(0))
        .collect();
    let mut expected: Vec<(String, u64)> = vec![
        (sites[0].clone(), 6),
        (sites[1].clone(), 3),
        (sites[2].clone(), 3),
    ];
    expected.sort();
    assert_eq!(
        weights,
        expected.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
        "{cluster}"
    );
    let loads: Vec<u64> = cluster["loads"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(loads, [6, 6], "{cluster}");
    // And it stays so (nothing more is handed over).
    let settled = owners(look);
    std::thread::sleep(Duration::from_secs(4));
    let after = owners(look);
    assert_eq!(
        settled.iter().map(|(s, (h, _))| (s, h)).collect::<Vec<_>>(),
        after.iter().map(|(s, (h, _))| (s, h)).collect::<Vec<_>>()
    );
    for (p, _) in started {
        p.stop();
    }
}

#[test]
fn four_sites_are_shared_out_among_three_instances_and_a_killed_ones_move_within_15_s() {
    let dir = tempfile::tempdir().unwrap();
    let Some((setup, _broker)) =
        Setup::with_lasting_broker(dir.path(), "sites shared out among instances")
    else {
        return;
    };
    let (config, sites) = orderly_tests::sites_config(dir.path(), 4);
    let names: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|n| format!("{}-{n}", setup.instance))
        .collect();
    // All three at once, as a deployment starts them.
    let started: Vec<(Orderly, BTreeMap<String, Orderly>)> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| s.spawn(|| setup.spawn_sites(&config, n, &sites)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut procs: BTreeMap<String, Orderly> = BTreeMap::new();
    let mut views: BTreeMap<String, BTreeMap<String, Orderly>> = BTreeMap::new();
    for (name, (p, v)) in names.iter().zip(started) {
        procs.insert(name.clone(), p);
        views.insert(name.clone(), v);
    }
    let look = &views[&names[0]][&sites[0]];
    // The sites spread out: every site owned, two by one instance and one by each other.
    look.wait_until(
        "the four sites shared out 2, 1, 1",
        Duration::from_secs(90),
        || {
            let owned = owners(look);
            let mut counts: Vec<usize> = per_instance(&owned).into_values().collect();
            counts.sort();
            owned.len() == 4 && counts == [1, 1, 2]
        },
    );
    let before = owners(look);
    let per = per_instance(&before);
    let (victim, _) = per.iter().find(|(_, n)| **n == 2).unwrap();
    let victim = victim.clone();
    let moving: Vec<String> = before
        .iter()
        .filter(|(_, (h, _))| *h == victim)
        .map(|(s, _)| s.clone())
        .collect();
    let survivor = names.iter().find(|n| **n != victim).unwrap().clone();
    // Every site is served (read, and written) through any instance: each is ready on its
    // owner; through the others its requests reach the owner.
    for (site, (holder, _)) in &before {
        let owner_view = &views[holder][site];
        owner_view.wait_until("the owner ready", Duration::from_secs(30), || {
            owner_view.serves("/readyz")
        });
        // A standby learns the owner at its next look (each second).
        let other = &views[names.iter().find(|n| *n != holder).unwrap()][site];
        other.wait_until(
            "a read through another instance",
            Duration::from_secs(5),
            || other.get("/api/v1/assets/BED-ICU-04").0 == 200,
        );
        let (_, asset) = other.get("/api/v1/assets/BED-ICU-04");
        assert_eq!(asset["id"], "BED-ICU-04", "site {site}: {asset}");
    }

    // Load on every site throughout: each ICU bed's tag heard in its room, ten messages a
    // second a site.
    let load_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, mqtt, topics) = (
            load_stop.clone(),
            setup.mqtt.clone(),
            sites
                .iter()
                .map(|s| format!("orderly/v1/{s}/"))
                .collect::<Vec<_>>(),
        );
        std::thread::spawn(move || {
            let dev = Device::connect(&mqtt, None);
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let k = n % 8 + 1;
                for t in &topics {
                    dev.json(
                        &format!("{t}rtls/rx-f2-icu-0{k}/sightings"),
                        &sightings(&format!("TB-ICU-0{k}")),
                    );
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            dev.close();
            n
        })
    };
    // A token made for one site (`orderly token create --site`) opens that site, not another.
    let token = setup.token_with("facilities", "porter", "", &["--site", &sites[1]]);
    let own = &views[&names[0]][&sites[1]];
    assert_eq!(own.get_as("/api/v1/me", &token).0, 200);
    let other = &views[&names[0]][&sites[2]];
    assert_eq!(other.get_as("/api/v1/me", &token).0, 401);
    // A bed exit at one of the victim's sites, alerted before the kill.
    let dev = Device::connect(&setup.mqtt, None);
    let first = &views[&victim][&moving[0]];
    dev.json(
        &first.topic("rtls/rx-f2-icu-04/sightings"),
        &sightings("TB-ICU-04"),
    );
    dev.json(&first.topic("bed/bed-icu-04/state"), &bed("alarming"));
    log(first, Duration::from_secs(20), |e| {
        e.iter().any(|x| x["kind"] == "alert.raised")
    });

    let killed = Instant::now();
    procs.remove(&victim).unwrap().kill();
    // While nobody owns them, a patient falls at each of the victim's sites.
    for site in &moving {
        dev.json(
            &views[&survivor][site].topic("wearable/W-1002/event"),
            &fall(),
        );
    }
    look_alive(&views[&survivor][&sites[0]], &moving, &victim, killed);
    for site in &moving {
        let v = &views[&survivor][site];
        // Restored by its new owner, and learnt of by this instance if it is not the owner.
        v.wait_until("the moved site served", Duration::from_secs(20), || {
            v.serves("/api/v1/alerts/open")
        });
        let per = fall_alerted_once(
            v,
            "P-1002",
            &format!("site {site}, the fall sent while nobody owned it"),
        );
        if site == &moving[0] {
            assert!(
                per.keys().any(|(rule, _)| rule.contains("bed")),
                "site {site}: the bed exit raised before the kill is kept: {per:?}"
            );
        }
    }
    // The sites the survivors owned stayed where they were, at the same epoch.
    let after = owners(&views[&survivor][&sites[0]]);
    for (site, (holder, epoch)) in &before {
        if *holder != victim {
            assert_eq!(
                after.get(site),
                Some(&(holder.clone(), *epoch)),
                "{after:?}"
            );
        }
    }
    let counts: Vec<usize> = per_instance(&after).into_values().collect();
    assert_eq!(counts, [2, 2], "the survivors share the sites: {after:?}");

    // The killed instance comes back: a survivor hands it a site (2, 1, 1 again), and the
    // handed-over site's log stays one, its alerts raised once.
    let (back, _) = setup.spawn_sites(&config, &victim, &sites);
    let look = &views[&survivor][&sites[0]];
    look.wait_until(
        "a site handed to the instance that came back",
        Duration::from_secs(60),
        || {
            let owned = owners(look);
            let mut counts: Vec<usize> = per_instance(&owned).into_values().collect();
            counts.sort();
            owned.len() == 4 && counts == [1, 1, 2]
        },
    );
    let (site, _) = owners(look)
        .into_iter()
        .find(|(_, (h, _))| *h == victim)
        .unwrap();
    let v = &views[&survivor][&site];
    v.wait_until(
        "the handed-over site served",
        Duration::from_secs(20),
        || v.serves("/api/v1/alerts/open"),
    );
    dev.json(&v.topic("wearable/W-1003/event"), &fall());
    fall_alerted_once(v, "P-1003", &format!("site {site}, handed over"));
    load_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = load.join().unwrap();
    assert!(rounds > 100, "the load ran ({rounds} rounds)");
    dev.close();
    back.stop();
    for (_, p) in procs {
        p.stop();
    }
}

/// Waits until the victim's sites are owned by another instance; they must move within 15 s.
fn look_alive(look: &Orderly, moving: &[String], victim: &str, killed: Instant) {
    look.wait_until(
        "the killed instance's sites owned by the others",
        Duration::from_secs(30),
        || {
            let owned = owners(look);
            moving
                .iter()
                .all(|s| owned.get(s).is_some_and(|(h, _)| h != victim))
        },
    );
    let took = killed.elapsed();
    eprintln!("the killed instance's sites moved in {took:?}");
    assert!(
        took < Duration::from_secs(15),
        "the sites moved in {took:?}"
    );
}
