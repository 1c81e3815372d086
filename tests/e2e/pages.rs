//! The web pages in a real browser (headless Chromium through chromedriver), against the real
//! binary on a real broker and database: sign-in, the floor map following the simulator, the
//! nearest pump and its route, the station board on two screens, a bed suggestion confirmed,
//! the biomed board. Skipped, saying why, when no Chromium is installed (`cargo xtask ci`
//! makes that a failure when one is). With `ORDERLY_SCREENSHOTS=DIR` the tests leave their
//! screenshots there (`cargo xtask screenshots` refreshes the README's).

use orderly_tests::browser::{Browser, screenshot_dir};
use orderly_tests::{Device, Orderly, Setup, binary, now_rfc3339, raised_bed};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

pub(crate) fn browser(width: u32, height: u32) -> Option<Browser> {
    match Browser::start(width, height) {
        Ok(b) => Some(b),
        Err(why) => {
            eprintln!("!!! SKIPPED: page tests need a browser: {why}");
            None
        }
    }
}

/// Signs in on the pages with `token` and waits for the navigation.
pub(crate) fn sign_in(b: &Browser, o: &Orderly, token: &str) {
    b.goto(&format!("{}/", o.http));
    b.type_into("#token", token);
    b.click("#signin button[type=submit]");
    b.wait_for(
        "signed in",
        T,
        "return !document.getElementById('top').hidden",
    );
}

/// The simulator on this setup's broker, in the background.
struct Sim(Child);
impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn simulate(setup: &Setup, o: &Orderly, args: &[&str]) -> Sim {
    Sim(Command::new(binary())
        .args(["sim", "--mqtt", &format!("{}:{}", o.mqtt.0, o.mqtt.1)])
        .arg("--floorplan")
        .arg(&setup.floorplan)
        .arg("--seed")
        .arg(&setup.seed)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the simulator"))
}

/// Nothing without signing in; a wrong token is told so; then the floor map draws the
/// simulator's equipment and staff where the API says they are, follows a marker when the
/// simulator moves it, and finds the nearest available pump with its walking route drawn.
#[test]
fn the_floor_map_follows_the_simulator_and_draws_the_route_to_the_nearest_pump() {
    let Some(b) = browser(1920, 1080) else {
        return;
    };
    let setup = Setup::new();
    let o = setup.start();
    let porter = setup.token("facilities", "Porter Sam", "");
    // No token, no data: the page is only a sign-in form, the API refuses.
    let (status, _) = o.get_as("/api/v1/floorplan", "not-a-token");
    assert_eq!(status, 401);
    b.goto(&format!("{}/#/map", o.http));
    b.wait_for(
        "the sign-in form",
        T,
        "return !!document.getElementById('signin')",
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('#map').length", json!([])),
        0
    );
    b.type_into("#token", "ord_wrong");
    b.click("#signin button[type=submit]");
    b.wait_for(
        "the refusal",
        T,
        "return document.getElementById('signin-error').textContent",
    );
    sign_in(&b, &o, &porter);
    b.wait_for(
        "the map",
        T,
        "return !!document.querySelector('#map .room')",
    );
    // Equipment moving often, so a move happens on the floor shown within seconds.
    let _sim = simulate(
        &setup,
        &o,
        &[
            "--duration",
            "120",
            "--moves-per-hour",
            "400",
            "--sim-seed",
            "3",
        ],
    );
    b.wait_for(
        "equipment markers",
        T,
        "return document.querySelectorAll('#markers .marker:not(.staff)').length >= 20",
    );
    // Where each equipment marker on the floor is now; then the first to change room.
    b.eval(
        "window.before = {}; for (const m of document.querySelectorAll('#markers .marker:not(.staff)')) window.before[m.dataset.subject] = m.dataset.room; return null",
        json!([]),
    );
    let moved = b.wait_for(
        "a marker to move",
        Duration::from_secs(60),
        "for (const m of document.querySelectorAll('#markers .marker:not(.staff)')) { const was = window.before[m.dataset.subject]; if (was && was !== m.dataset.room) return [m.dataset.subject, was, m.dataset.room]; } return null",
    );
    let (asset, from, to) = (
        moved[0].as_str().unwrap().to_string(),
        moved[1].as_str().unwrap(),
        moved[2].as_str().unwrap().to_string(),
    );
    // The API agreed at that moment (it may have moved on since: then the map follows too).
    let (_, hist) = o.get(&format!("/api/v1/assets/{asset}/history"));
    assert!(
        hist.as_array()
            .unwrap()
            .iter()
            .any(|s| s["room"] == to.as_str()),
        "{asset} moved on the map from {from} to {to}; the API's history: {hist}"
    );
    // The marker where the API has it: the API read again each round, since the simulator
    // may move the asset on meanwhile (every 9 s on average here).
    let deadline = std::time::Instant::now() + T;
    loop {
        let (_, now) = o.get(&format!("/api/v1/assets/{asset}"));
        let room_now = now["location"]["room"].as_str().unwrap().to_string();
        let shown = b.eval(
            &format!(
                "const m = document.querySelector('#markers [data-subject=\"{asset}\"]'); const r = {}; return m ? m.dataset.room === r : !!document.querySelector('#map') && document.querySelector('[data-room=\"' + r + '\"]') === null",
                json!(room_now)
            ),
            json!([]),
        );
        if shown == json!(true) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the marker of {asset} is not where the API has it ({room_now}) after {T:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Search finds it.
    b.type_into("#search", &asset);
    b.wait_for(
        "the search result",
        T,
        &format!("return !!document.querySelector('[data-hit=\"{asset}\"]')"),
    );
    // The nearest available pump from the ED's station, as the API finds it, with the route.
    b.click(".room[data-room=\"F1-ED-NS\"]");
    b.wait_for(
        "the room card",
        T,
        "return document.getElementById('roomcard').textContent.includes('F1-ED-NS')",
    );
    b.wait_for(
        "a pump located",
        T,
        "return document.querySelectorAll('#markers .marker:not(.staff)').length > 0",
    );
    // The simulator keeps moving pumps: the page's answer and the API's are compared from reads
    // close together, again if a pump moved in between.
    let deadline = Instant::now() + T;
    let (route, same) = loop {
        b.click("#find-nearest");
        let shown = b.wait_for(
            "the nearest pumps",
            T,
            "const f = document.querySelector('#nearest [data-found]'); const r = document.querySelector('#route polyline'); if (f && r) return [f.dataset.found, r.dataset.route]; return document.querySelector('#nearest .error') ? 'none' : null",
        );
        if shown != "none" {
            let (found, route) = (
                shown[0].as_str().unwrap().to_string(),
                shown[1].as_str().unwrap().to_string(),
            );
            let (status, api) = o.get("/api/v1/locate?kind=infusion_pump&near=F1-ED-NS&limit=5");
            assert_eq!(status, 200, "{api}");
            if let Some(same) = api
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["asset"] == found.as_str())
            {
                break (route, same.clone());
            }
            assert!(
                Instant::now() < deadline,
                "the page's nearest {found} was never among the API's: {api:?}"
            );
        }
        assert!(Instant::now() < deadline, "no pump was ever available");
        std::thread::sleep(Duration::from_millis(500));
    };
    // The route drawn is the API's route, on this floor, from the chosen room.
    let on_floor: Vec<&str> = same["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .filter(|r| r.starts_with("F1-"))
        .collect();
    assert_eq!(route, on_floor.join(","));
    assert!(route.starts_with("F1-ED-NS"), "{route}");
    // PAR levels are listed.
    b.wait_for(
        "PAR levels",
        T,
        "return document.querySelectorAll('[data-par]').length",
    );
    if let Some(dir) = screenshot_dir() {
        b.screenshot(&dir, "map.png");
    }
    drop(b);
    o.stop();
}

/// Two station screens of the ICU (a 1920x1080 station and a tablet): a fall raises a
/// high-priority alert with a banner and sound on both; acknowledged on one, the other shows
/// it acknowledged and stops; resolved with a reason on the tablet, gone from both. A bed
/// suggestion is confirmed from the board once a caregiver badge is in the room, and the
/// command reaches the bed with the nurse's name.
#[test]
fn the_station_board_acknowledges_on_one_screen_and_the_other_follows() {
    let Some(station) = browser(1920, 1080) else {
        return;
    };
    let tablet = browser(1180, 820).expect("a second browser");
    let setup = Setup::new();
    setup.hold("beds.toml", "suggest-bed-low", "5m", "1s");
    let o = setup.start();
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    let other = setup.token("nurse", "Nurse Bo", "MS3");
    sign_in(&station, &o, &nurse);
    station.wait_for(
        "the ICU board",
        T,
        "return location.hash === '#/station/ICU' && !!document.getElementById('alerts')",
    );
    sign_in(&tablet, &o, &nurse);
    tablet.wait_for(
        "the ICU board",
        T,
        "return !!document.getElementById('alerts')",
    );
    // A nurse of another unit is refused the ICU's board by the API.
    let (status, _) = o.get_as("/api/v1/units/ICU/beds", &other);
    assert_eq!(status, 403);

    let dev = Device::connect(&o.mqtt, None);
    let bed_dev = Device::connect(&o.mqtt, Some(&o.topic("bed/bed-icu-01/command")));
    // Ada Petrov (bed ICU-02) falls: her wearable says so.
    dev.json(
        &o.topic("wearable/W-1002/event"),
        &json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95}),
    );
    // First through the API, so that a failure says which side lost it (Orderly or the page).
    o.wait_until("the fall alert in the API", T, || {
        let (_, open) = o.get_as("/api/v1/units/ICU/alerts", &nurse);
        open.as_array()
            .is_some_and(|a| a.iter().any(|a| a["priority"] == "high"))
    });
    let card = "document.querySelector('#alerts article.alert.high')";
    for b in [&station, &tablet] {
        b.wait_for(
            "the fall on the board",
            T,
            &format!("const c = {card}; return c && c.dataset.state === 'active' && document.body.dataset.alarm === 'on' && !document.getElementById('banner').hidden"),
        );
        assert!(b.eval("return window.orderlyBeeps", json!([])).as_u64() >= Some(1));
    }
    let text = station.eval(&format!("return {card}.innerText"), json!([]));
    assert!(text.as_str().unwrap().contains("HIGH"), "{text}");
    // It names the bed and the patient (from the unit's beds), not only the rule's message.
    station.wait_for(
        "the bed and patient on the card",
        T,
        &format!("return {card}.querySelector('.about')?.innerText.includes('Bed BED-ICU-02 · Ada Petrov (P-1002)')"),
    );
    if let Some(dir) = screenshot_dir() {
        station.screenshot(&dir, "station.png");
    }
    // Acknowledged on the station, from the keyboard (Enter on the focused button): the tablet
    // follows over its own stream.
    station.type_into("#alerts article.alert.high button.ack", "\u{E007}");
    tablet.wait_for(
        "acknowledged on the other screen",
        T,
        &format!("const c = {card}; return c && c.dataset.state === 'acknowledged' && c.innerText.includes('Acknowledged by Nurse Ana') && document.body.dataset.alarm === 'off'"),
    );
    let (_, open) = o.get_as("/api/v1/units/ICU/alerts", &nurse);
    let fall = open
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["priority"] == "high")
        .expect("the fall alert")
        .clone();
    assert_eq!(fall["state"], "acknowledged");

    // A bed suggestion: Ben Rossi's bed (Morse 85) left raised with nobody there.
    o.heard(&dev, "rx-f2-icu-01", "TB-ICU-01");
    dev.json(&o.topic("bed/bed-icu-01/state"), &raised_bed());
    station.wait_for(
        "the suggestion",
        T,
        "return !!document.querySelector('[data-suggestion]')",
    );
    tablet.wait_for(
        "the bed's row",
        T,
        "const r = document.querySelector('[data-bed=\"BED-ICU-01\"]'); return r && r.innerText.includes('Ben Rossi')",
    );
    if let Some(dir) = screenshot_dir() {
        tablet.screenshot(&dir, "station-tablet.png");
    }
    // Confirmed from the board once the charge nurse's badge is in the room (refused before).
    let deadline = Instant::now() + T;
    loop {
        o.heard(&dev, "rx-f2-icu-01", "B-0001");
        station.click("[data-suggestion] button.confirm");
        let gone = Instant::now() + Duration::from_secs(3);
        let mut done = false;
        while Instant::now() < gone {
            if station.eval(
                "return !document.querySelector('[data-suggestion]')",
                json!([]),
            ) == true
            {
                done = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the suggestion was never confirmed"
        );
    }
    let (_, payload) = bed_dev
        .received
        .recv_timeout(Duration::from_secs(10))
        .expect("the confirmed command on the bed's topic");
    let cmd: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(cmd["set"], json!({"height": "low"}));
    assert!(
        cmd["reason"]
            .as_str()
            .unwrap()
            .ends_with("confirmed by Nurse Ana"),
        "{cmd}"
    );

    // Resolved on the tablet, with a reason: gone from the station.
    let sel = format!(
        "#alerts article[data-alert=\"{}\"]",
        fall["id"].as_str().unwrap()
    );
    tablet.type_into(
        &format!("{sel} input.reason"),
        "Patient assessed, no injury",
    );
    // The board redraws under the nurse typing (here: silenced from another screen) and keeps
    // what she typed.
    let (status, body) = o.post(
        &format!("/api/v1/alerts/{}/silence", fall["id"].as_str().unwrap()),
        &json!({"seconds": 120}),
    );
    assert_eq!(status, 200, "{body}");
    tablet.wait_for(
        "the silence on the tablet",
        T,
        &format!("const c = document.querySelector('{sel}'); return c && c.innerText.includes('Silenced until')"),
    );
    assert_eq!(
        tablet.eval(
            &format!("return document.querySelector('{sel} input.reason').value"),
            json!([])
        ),
        "Patient assessed, no injury"
    );
    tablet.click(&format!("{sel} button.resolve"));
    station.wait_for(
        "the fall gone from the station",
        T,
        &format!("return !document.querySelector('{sel}')"),
    );
    let (_, hist) = o.get("/api/v1/alerts?state=resolved&limit=20");
    assert!(
        hist.to_string().contains("Patient assessed, no injury"),
        "{hist}"
    );
    dev.close();
    bed_dev.close();
    drop((station, tablet));
    o.stop();
}

/// The biomed board: work orders by state, started and completed from the page; the pull list
/// with the round, shown on the map; a recall's progress; the completion table.
#[test]
fn the_biomed_board_works_orders_through_and_shows_the_round() {
    let Some(b) = browser(1920, 1080) else {
        return;
    };
    let setup = Setup::new();
    let o = setup.start();
    let biomed = setup.token("biomed", "Eng Kim", "");
    let dev = Device::connect(&o.mqtt, None);
    // Two pumps heard on the ICU floor; one gets a repair order by hand.
    let (_, pumps) = o.get("/api/v1/assets?kind=infusion_pump&limit=2");
    let pumps: Vec<(String, String)> = pumps
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["tag"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (_, tag) in &pumps {
        o.heard(&dev, "rx-f2-icu-03", tag);
    }
    sign_in(&b, &o, &biomed);
    b.wait_for("the biomed board", T, "return location.hash === '#/biomed'");
    // A repair order opened from the board.
    b.click("details.new summary");
    b.type_into("#new-asset", &pumps[0].0);
    b.type_into("#new-detail", "door latch cracked");
    b.click("#new-go");
    let mut wo_id = String::new();
    o.wait_until("the work order in the API", T, || {
        let (_, list) = o.get(&format!(
            "/api/v1/maintenance/work-orders?asset={}&status=open",
            pumps[0].0
        ));
        if let Some(w) = list
            .as_array()
            .and_then(|l| l.iter().find(|w| w["reason"] == "repair"))
        {
            wo_id = w["id"].as_str().unwrap().to_string();
        }
        !wo_id.is_empty()
    });
    let card = format!("[data-wo=\"{wo_id}\"]");
    b.wait_for(
        "the work order, open",
        T,
        &format!("const c = document.querySelector('[data-column=open] {card}'); return c && c.innerText.includes('door latch cracked') && c.innerText.includes('Repair')"),
    );
    // Filters: low risk hides it, infusion pumps show it.
    b.eval(
        "const s = document.getElementById('f-risk'); s.value = 'low'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    b.wait_for(
        "filtered out",
        T,
        &format!("return !document.querySelector('{card}')"),
    );
    b.eval(
        "for (const [id, v] of [['f-risk', ''], ['f-kind', 'infusion_pump']]) { const s = document.getElementById(id); s.value = v; s.dispatchEvent(new Event('change')); }",
        json!([]),
    );
    b.wait_for(
        "shown again",
        T,
        &format!("return !!document.querySelector('{card}') && [...document.querySelectorAll('[data-wo]')].every((c) => c.innerText.includes('infusion pump'))"),
    );
    // A recall of the other pump's model, issued through the API, appears with its progress.
    let (_, p1) = o.get(&format!("/api/v1/assets/{}", pumps[1].0));
    let (status, rec) = o.post(
        "/api/v1/maintenance/recalls",
        &json!({"title": "Free-flow risk", "model": p1["model"], "serials": [p1["serial"]], "detail": "Replace the door assembly"}),
    );
    assert_eq!(status, 200, "{rec}");
    b.wait_for(
        "the recall",
        T,
        "const r = document.querySelector('[data-recall]'); return r && r.innerText.includes('0 of 1 done')",
    );
    // The pull list from the workshop: both pumps, in the ICU room, with the round.
    b.click("#pull-go");
    b.wait_for(
        "the round",
        T,
        &format!("return !!document.querySelector('[data-pull=\"{}\"]') && !!document.getElementById('round')", pumps[0].0),
    );
    if let Some(dir) = screenshot_dir() {
        b.screenshot(&dir, "biomed.png");
    }
    // Started, then completed, from the page.
    b.click(&format!("{card} button.start"));
    b.wait_for(
        "in progress",
        T,
        &format!("return !!document.querySelector('[data-column=in_progress] {card}')"),
    );
    let (_, a) = o.get(&format!("/api/v1/assets/{}", pumps[0].0));
    assert_eq!(a["status"], "out_of_service");
    // Completed with the results of its checks: the leakage current measured, the others
    // passed; refused while one is missing.
    b.click(&format!("{card} details.checks-box summary"));
    b.eval(
        &format!("const c = document.querySelector('{card}'); \
          for (const s of c.querySelectorAll('select.passed')) s.value = 'true'; \
          for (const i of c.querySelectorAll('input.value')) i.value = i.dataset.check.includes('leakage') ? '180' : ''; "),
        json!([]),
    );
    b.click(&format!("{card} button.complete"));
    assert!(
        b.eval(
            &format!("return !!document.querySelector('{card}')"),
            json!([])
        ) == true
    );
    b.eval(
        &format!("const c = document.querySelector('{card}'); \
          for (const i of c.querySelectorAll('input.value')) if (!i.value) i.value = i.dataset.check.includes('battery') ? '4.5' : '1.2';"),
        json!([]),
    );
    b.click(&format!("{card} button.complete"));
    b.wait_for(
        "done, with its results listed",
        T,
        &format!("const d = document.querySelector('[data-done=\"{wo_id}\"]'); return !document.querySelector('{card}') && d && d.innerText.includes('180 µA') && d.innerText.includes('passed')"),
    );
    let (_, done) = o.get(&format!(
        "/api/v1/maintenance/work-orders?asset={}&status=done",
        pumps[0].0
    ));
    assert_eq!(done[0]["id"], wo_id.as_str(), "{done}");
    assert_eq!(done[0]["closed_by"], "Eng Kim", "{done}");
    let results = done[0]["results"].as_array().unwrap();
    assert_eq!(results.len(), done[0]["checks"].as_array().unwrap().len());
    assert!(results.iter().all(|r| r["passed"] == true), "{done}");
    // The round on the map: drawn from the workshop.
    b.click("#round-map");
    b.wait_for(
        "the round drawn",
        T,
        "const r = document.querySelector('#route polyline'); return r && r.dataset.route.length > 0",
    );
    dev.close();
    drop(b);
    o.stop();
}

/// The census on the station board, without a reload: a patient admitted over the API appears
/// in their bed with their scores in words (not assessed yet: says so), and once discharged the
/// bed says it waits for cleaning.
#[test]
fn the_station_board_follows_the_census() {
    let Some(station) = browser(1600, 1000) else {
        return;
    };
    let setup = Setup::new();
    let o = setup.start();
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    sign_in(&station, &o, &nurse);
    // The detailed lists, one keystroke from the tiles.
    station.wait_for(
        "the ICU board's tiles",
        T,
        "return !!document.querySelector('#beds .tile[data-bed=\"BED-ICU-05\"]')",
    );
    station.type_into("#view", "d");
    station.wait_for(
        "the ICU board's beds",
        T,
        "return !!document.querySelector('#beds tr[data-bed=\"BED-ICU-05\"]')",
    );
    let row = "document.querySelector('#beds tr[data-bed=\"BED-ICU-05\"]').innerText";
    let (s, b) = o.post_as(
        "/api/v1/patients",
        &nurse,
        &json!({"id": "MRN-5", "name": "Nia Okafor", "bed": "BED-ICU-05"}),
    );
    assert_eq!(s, 200, "{b}");
    station.wait_for(
        "the admitted patient in bed 5",
        T,
        &format!("const t = {row}; return t.includes('Nia Okafor') && t.includes('Morse not assessed yet (fall precautions)')"),
    );
    // A second Nia Okafor on the unit: both beds say so.
    let (s, b) = o.post_as(
        "/api/v1/patients",
        &nurse,
        &json!({"id": "MRN-6", "name": "Nia  okafor ", "bed": "BED-ICU-11"}),
    );
    assert_eq!(s, 200, "{b}");
    station.wait_for(
        "both beds flag the same name",
        T,
        &format!("const t = {row}; const u = document.querySelector('#beds tr[data-bed=\"BED-ICU-11\"]').innerText; \
                  return t.includes('Same name as bed BED-ICU-11 (MRN-6): check identity') && u.includes('Same name as bed BED-ICU-05 (MRN-5)')"),
    );
    let (s, b) = o.post_as("/api/v1/patients/MRN-6/discharge", &nurse, &json!({}));
    assert_eq!(s, 200, "{b}");
    let (s, b) = o.post_as("/api/v1/patients/MRN-5/discharge", &nurse, &json!({}));
    assert_eq!(s, 200, "{b}");
    station.wait_for(
        "bed 5 waiting for cleaning",
        T,
        &format!("const t = {row}; return !t.includes('Nia Okafor') && t.includes('Empty — waiting for cleaning')"),
    );
    let text = station.eval("return document.body.innerText", json!([]));
    assert!(!text.as_str().unwrap().contains('?'), "{text}");
}

/// A 24-bed unit on one 1920x1080 station screen: every bed's tile on screen with no scrolling,
/// room and alert text at least 28 px, a busy alert list that says how many more it holds, a
/// paused rule that says why on its bed, and the detailed lists one keystroke (D) away.
#[test]
fn the_24_bed_board_fits_one_station_screen() {
    let Some(station) = browser(1920, 1080) else {
        return;
    };
    let setup = Setup::new();
    let o = setup.start();
    let nurse = setup.token("nurse", "Nurse Ana", "MS3");
    let dev = Device::connect(&o.mqtt, None);
    // A busy unit: eight patients' wearables report falls.
    for w in 1011..1019 {
        dev.json(
            &o.topic(&format!("wearable/W-{w}/event")),
            &json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95}),
        );
    }
    // Carla Eze's bed (MS3-01) with its brakes off while the charge nurse is in the room.
    o.heard(&dev, "rx-f3-ms3-01", "B-0025");
    let mut bed = raised_bed();
    bed["brakes"] = json!(false);
    bed["height"] = json!("low");
    dev.json(&o.topic("bed/bed-ms3-01/state"), &bed);
    o.wait_until("eight falls in the API", T, || {
        let (_, open) = o.get_as("/api/v1/units/MS3/alerts", &nurse);
        open.as_array().is_some_and(|a| a.len() >= 8)
    });
    o.wait_until("the paused brakes rule in the API", T, || {
        let (_, beds) = o.get_as("/api/v1/units/MS3/beds", &nurse);
        beds.to_string().contains("a caregiver is in the room")
    });
    sign_in(&station, &o, &nurse);
    station.wait_for(
        "24 tiles and the paused rule",
        T,
        "return document.querySelectorAll('#beds .tile').length === 24 && \
         (document.querySelector('.tile[data-bed=\"BED-MS3-01\"]')?.innerText || '').includes('Paused, a caregiver is in the room: Occupied bed with brakes off')",
    );
    station.wait_for(
        "the alert list saying how many more",
        T,
        "const m = document.getElementById('more-alerts'); return !m.hidden && /\\+ \\d+ more alerts?: press D/.test(m.innerText)",
    );
    if let Some(dir) = screenshot_dir() {
        station.screenshot(&dir, "station-board.png");
    }
    let fit = station.eval(
        "const h = window.innerHeight, w = window.innerWidth; \
         const tiles = [...document.querySelectorAll('#beds .tile')]; \
         const px = (el) => parseFloat(getComputedStyle(el).fontSize); \
         return { scroll: document.documentElement.scrollHeight - h, h, w, \
           outside: tiles.filter((t) => { const r = t.getBoundingClientRect(); return r.bottom > h + 0.5 || r.right > w + 0.5 || r.height < 60; }).map((t) => JSON.stringify(t.getBoundingClientRect())), \
           room: Math.min(...tiles.map((t) => px(t.querySelector('.t-room')))), \
           alert: Math.min(...[...document.querySelectorAll('#alerts .alert:not([hidden]) .title')].map(px)), \
           shown: document.querySelectorAll('#alerts .alert:not([hidden])').length, \
           cut: [...document.querySelectorAll('#alerts .alert:not([hidden])')].filter((c) => c.getBoundingClientRect().bottom > h).length, \
           buttons: Math.min(...[...document.querySelectorAll('#alerts .alert:not([hidden]) button')].map((b) => b.getBoundingClientRect().height)) }",
        json!([]),
    );
    assert!(
        fit["scroll"].as_f64().unwrap() <= 0.5,
        "the page scrolls: {fit}"
    );
    assert_eq!(
        fit["outside"],
        json!([]),
        "tiles off screen or squashed: {fit}"
    );
    assert!(fit["room"].as_f64().unwrap() >= 28.0, "{fit}");
    assert!(fit["alert"].as_f64().unwrap() >= 28.0, "{fit}");
    assert!(fit["shown"].as_u64().unwrap() >= 3, "{fit}");
    assert_eq!(fit["cut"], 0, "{fit}");
    assert!(fit["buttons"].as_f64().unwrap() >= 44.0, "{fit}");
    // Rooms are named without what every room of the unit shares.
    let room = station.eval(
        "return document.querySelector('.tile[data-bed=\"BED-MS3-01\"] .t-room').innerText",
        json!([]),
    );
    assert_eq!(room, "Room 1");
    // D: the detailed lists, with the paused rule on the bed's row; D again: the tiles.
    station.type_into("#view", "d");
    station.wait_for(
        "the detailed lists",
        T,
        "const r = document.querySelector('#beds tr[data-bed=\"BED-MS3-01\"]'); \
         return r && r.innerText.includes('Occupied bed with brakes off: paused, a caregiver is in the room') && r.innerText.includes('Tess Ito') \
           && document.getElementById('more-alerts').hidden && document.querySelectorAll('#alerts .alert:not([hidden])').length >= 8",
    );
    station.type_into("#view", "d");
    station.wait_for(
        "the tiles again",
        T,
        "return document.querySelectorAll('#beds .tile').length === 24",
    );
    let text = station.eval("return document.body.innerText", json!([]));
    assert!(!text.as_str().unwrap().contains('?'), "{text}");
    dev.close();
    drop(station);
    o.stop();
}

/// The beds page: a discharge puts the bed on environmental services' worklist, their taps
/// move it through cleaning to clean, a nurse's makes it ready, and the bed board follows.
#[test]
fn the_beds_page_turns_a_discharged_bed_over() {
    let Some(b) = browser(1600, 1000) else {
        return;
    };
    let setup = Setup::new();
    let o = setup.start();
    let evs = setup.token("facilities", "Sami Ito", "");
    sign_in(&b, &o, &evs);
    b.goto(&format!("{}/#/beds", o.http));
    b.wait_for(
        "the bed board",
        T,
        "return !!document.querySelector('#board tr[data-bed=\"BED-ICU-03\"]') && document.getElementById('worklist').innerText.includes('No bed waits')",
    );
    let (s, _) = o.post("/api/v1/patients/P-1003/discharge", &json!({}));
    assert_eq!(s, 200);
    let card = "#worklist article[data-bed=\"BED-ICU-03\"]";
    b.wait_for(
        "the bed on the worklist",
        T,
        &format!("const c = document.querySelector('{card}'); return c && c.innerText.includes('Waiting for cleaning')"),
    );
    if let Some(dir) = screenshot_dir() {
        b.screenshot(&dir, "beds.png");
    }
    b.click(&format!("{card} button.start"));
    b.wait_for(
        "being cleaned",
        T,
        &format!("const c = document.querySelector('{card}'); return c && c.innerText.includes('Being cleaned')"),
    );
    b.click(&format!("{card} button.cleaned"));
    b.wait_for(
        "off the worklist, clean on the board",
        T,
        &format!("return !document.querySelector('{card}') && document.querySelector('#board tr[data-bed=\"BED-ICU-03\"]').dataset.state === 'clean'"),
    );
    b.click("#board tr[data-bed=\"BED-ICU-03\"] button.ready");
    b.wait_for(
        "ready on the board",
        T,
        "return document.querySelector('#board tr[data-bed=\"BED-ICU-03\"]').dataset.state === 'ready'",
    );
    let text = b.eval("return document.body.innerText", json!([]));
    assert!(
        text.as_str()
            .unwrap()
            .to_lowercase()
            .contains("beds turned"),
        "{text}"
    );
    assert!(!text.as_str().unwrap().contains('?'), "{text}");
}

/// The API reference: Swagger UI (vendored, under the pages' CSP, nothing from elsewhere) on
/// the API's own document; Authorize with a token, then "Try it out" on an operation answers
/// from this Orderly.
#[test]
fn the_api_reference_authorizes_and_tries_a_call() {
    let Some(b) = browser(1920, 1080) else {
        return;
    };
    let setup = Setup::new();
    let o = setup.start();
    b.goto(&format!("{}/api/docs", o.http));
    b.wait_for(
        "the operations",
        T,
        "return document.querySelectorAll('.opblock').length >= 40",
    );
    // Every script and stylesheet came from this origin.
    let foreign = b.eval(
        "return performance.getEntriesByType('resource').map((r) => r.name).filter((n) => !n.startsWith(location.origin))",
        json!([]),
    );
    assert_eq!(foreign, json!([]), "{foreign}");
    b.click(".btn.authorize");
    b.wait_for(
        "the authorize dialog",
        T,
        "return !!document.querySelector('.auth-container input')",
    );
    b.type_into(".auth-container input", &o.token);
    b.click(".auth-btn-wrapper .btn.authorize");
    b.click(".auth-btn-wrapper .btn-done");
    b.click("#operations-site-me .opblock-summary-control");
    b.wait_for(
        "the operation open",
        T,
        "return !!document.querySelector('#operations-site-me .try-out__btn')",
    );
    b.click("#operations-site-me .try-out__btn");
    b.click("#operations-site-me .execute");
    // The server's answer, with the token Authorize took.
    b.wait_for(
        "the answer",
        T,
        "const t = document.querySelector('#operations-site-me').innerText; \
         return t.includes('Server response') && /Server response\\s+Code\\s+Details\\s+200/.test(t) && t.includes('\"role\": \"admin\"')",
    );
    if let Some(dir) = screenshot_dir() {
        b.screenshot(&dir, "api-docs.png");
    }
    drop(b);
    o.stop();
}

/// The floor map on a tablet: the nearest pump from a 3 West room is two floors down, and the
/// route a wheeled pump takes goes by lift, never the stairs, drawn on each floor with where it
/// continues; the map fills the screen, zooms (buttons, wheel, keys) and pans (drag, arrows),
/// and zoomed in its markers are big enough to tap.
#[test]
fn the_tablet_map_zooms_pans_and_routes_a_pump_by_lift() {
    let Some(b) = browser(1180, 820) else {
        return;
    };
    let setup = Setup::new();
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    // Three pumps heard in the central store on the ground floor, and one in a corridor of the
    // third floor (nearer, but on its way somewhere).
    for tag in ["TP-0007", "TP-0008", "TP-0009"] {
        o.heard(&dev, "rx-f1-equip", tag);
    }
    o.heard(&dev, "rx-f3-c01", "TP-0010");
    o.wait_until("the pumps located", T, || {
        let (_, a) = o.get("/api/v1/assets/PUMP-0009");
        let (_, c) = o.get("/api/v1/assets/PUMP-0010");
        a["location"]["room"] == "F1-EQUIP" && c["location"]["room"] == "F3-C01"
    });
    let (_, found) = o.get("/api/v1/locate?kind=infusion_pump&near=F3-MS3-01&limit=5");
    // Ranked: the settled ones in the store first, the corridor one after, though nearer.
    let places: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["place"].as_str().unwrap())
        .collect();
    assert_eq!(places, ["store", "store", "store", "in_transit"], "{found}");
    assert!(
        found[3]["metres"].as_f64() < found[0]["metres"].as_f64(),
        "{found}"
    );
    let route: Vec<String> = found[0]["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(found[0]["asset"], "PUMP-0007", "{found}");
    let (_, fp) = o.get("/api/v1/floorplan");
    let kind_of = |id: &str| {
        fp["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(route.iter().any(|r| kind_of(r) == "elevator"), "{route:?}");
    assert!(route.iter().all(|r| kind_of(r) != "stairs"), "{route:?}");
    sign_in(&b, &o, &o.token);
    b.goto(&format!("{}/#/map?floor=F3&from=F3-MS3-01", o.http));
    b.wait_for(
        "the third floor",
        T,
        "return document.querySelector('svg.map')?.dataset.floor === 'F3'",
    );
    // Fills the screen (most of a 1180x820 tablet), and rooms are named, not coded.
    let size = b.eval(
        "const r = document.querySelector('svg.map').getBoundingClientRect(); return [r.width, r.height]",
        json!([]),
    );
    assert!(
        size[0].as_f64().unwrap() >= 1100.0 && size[1].as_f64().unwrap() >= 550.0,
        "{size}"
    );
    let labels = b.eval(
        "return [...document.querySelectorAll('svg.map .rlabel')].map((t) => t.textContent)",
        json!([]),
    );
    assert!(
        labels
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "3 West room 1"),
        "{labels}"
    );
    // The nearest pump: by lift, and the route says where it goes on.
    b.eval(
        "const k = document.getElementById('near-kind'); k.value = 'infusion_pump'; k.dispatchEvent(new Event('change'));",
        json!([]),
    );
    b.click("#find-nearest");
    b.wait_for(
        "the route by lift",
        T,
        "const t = document.querySelector('#route .route-next'); return t && /continues on .* via Elevator/.test(t.textContent)",
    );
    // The page groups the three in the store into one answer, says where each answer stands.
    let answers = b.eval(
        "return [...document.querySelectorAll('#nearest [data-found]')].map((li) => [li.dataset.place, Number(li.dataset.count), li.innerText])",
        json!([]),
    );
    assert_eq!(answers[0][0], "store", "{answers}");
    assert_eq!(answers[0][1], 3, "{answers}");
    assert!(
        answers[0][2].as_str().unwrap().contains("ready to take"),
        "{answers}"
    );
    assert_eq!(answers[1][0], "in_transit", "{answers}");
    assert!(
        answers[1][2].as_str().unwrap().contains("on its way"),
        "{answers}"
    );
    // Zoom with the buttons, the wheel and the keyboard; pan with a drag and the arrows.
    let view =
        "return document.querySelector('svg.map').getAttribute('viewBox').split(' ').map(Number)";
    let before = b.eval(view, json!([]));
    b.click("#zoom-in");
    b.click("#zoom-in");
    let zoomed = b.eval(view, json!([]));
    let w = |v: &Value| v[2].as_f64().unwrap();
    assert!(w(&zoomed) < w(&before) / 2.0, "{before} {zoomed}");
    b.eval(
        "const m = document.querySelector('svg.map'); const r = m.getBoundingClientRect(); \
         m.dispatchEvent(new WheelEvent('wheel', { deltaY: -100, clientX: r.x + r.width / 2, clientY: r.y + r.height / 2, bubbles: true, cancelable: true }));",
        json!([]),
    );
    let wheeled = b.eval(view, json!([]));
    assert!(w(&wheeled) < w(&zoomed), "{zoomed} {wheeled}");
    b.eval(
        "const m = document.querySelector('svg.map'); const r = m.getBoundingClientRect(); const x = r.x + 300, y = r.y + 200; \
         const ev = (type, dx) => m.dispatchEvent(new PointerEvent(type, { pointerId: 1, clientX: x + dx, clientY: y, bubbles: true })); \
         ev('pointerdown', 0); ev('pointermove', -60); ev('pointermove', -200); ev('pointerup', -200);",
        json!([]),
    );
    let dragged = b.eval(view, json!([]));
    assert!(
        dragged[0].as_f64().unwrap() > wheeled[0].as_f64().unwrap(),
        "{wheeled} {dragged}"
    );
    b.type_into("svg.map", "\u{E012}"); // ArrowLeft
    let arrowed = b.eval(view, json!([]));
    assert!(
        arrowed[0].as_f64().unwrap() < dragged[0].as_f64().unwrap(),
        "{dragged} {arrowed}"
    );
    b.type_into("svg.map", "0");
    assert_eq!(b.eval(view, json!([])), before);
    // Zoomed in on the store, on the ground floor: the pump is big enough to tap.
    b.click("[data-floor=\"F1\"]");
    // The route drawn there goes through doors: every leg inside one room, none through a wall.
    let through_walls = b.eval(
        "const pts = document.querySelector('#route polyline').getAttribute('points').split(' ').map((p) => p.split(',').map(Number)); \
         const rects = [...document.querySelectorAll('svg.map rect.room')].map((r) => ['x', 'y', 'width', 'height'].map((k) => Number(r.getAttribute(k)))); \
         const inside = (p, [x, y, w, h]) => p[0] >= x - 0.01 && p[0] <= x + w + 0.01 && p[1] >= y - 0.01 && p[1] <= y + h + 0.01; \
         const bad = []; for (let i = 1; i < pts.length; i++) if (!rects.some((r) => inside(pts[i - 1], r) && inside(pts[i], r))) bad.push([pts[i - 1], pts[i]]); \
         return pts.length >= 3 ? bad : 'no route';",
        json!([]),
    );
    assert_eq!(through_walls, json!([]), "{through_walls}");
    for _ in 0..3 {
        b.click("#zoom-in");
    }
    b.eval(
        "const m = document.querySelector('svg.map'); const p = m.querySelector('[data-subject=\"PUMP-0007\"]').getBBox(); \
         m.setAttribute('viewBox', `${p.x - 3} ${p.y - 2} ${m.viewBox.baseVal.width} ${m.viewBox.baseVal.height}`);",
        json!([]),
    );
    let px = b.eval(
        "return document.querySelector('[data-subject=\"PUMP-0007\"]').getBoundingClientRect().width",
        json!([]),
    );
    assert!(px.as_f64().unwrap() >= 30.0, "{px}");
    if let Some(dir) = screenshot_dir() {
        b.screenshot(&dir, "map-tablet.png");
    }
    dev.close();
    drop(b);
    o.stop();
}

/// Triage and the nurse's actions on a busy ICU board (1920x1080). A recalled pump running at a
/// bedside (high, equipment) and then a patient's fall (high, patient safety): the fall comes
/// first and the banner names it. Then twenty falls one after another, each acknowledged,
/// silenced and resolved from the board: every time the card shows the new state within
/// 300 ms of the press, and acknowledging stops the banner and the tone.
#[test]
fn the_station_board_triages_and_shows_each_action_at_once() {
    let Some(b) = browser(1920, 1080) else {
        return;
    };
    let setup = Setup::new();
    // A fall's fact lasts 2 s instead of 2 minutes, so a patient may fall again a few rounds
    // later (a fall resolved while its fact still holds is not raised again until it clears).
    setup.edit_rules("detectors.toml", |t| {
        t.replace("fact_s = 120.0", "fact_s = 2.0")
    });
    let o = setup.start();
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    let biomed = setup.token("biomed", "Bo Biomed", "");
    let dev = Device::connect(&o.mqtt, None);
    // The recalled pump, running in ICU room 3.
    o.heard(&dev, "rx-f2-icu-03", "TP-0011");
    let (status, r) = o.post_as(
        "/api/v1/maintenance/recalls",
        &biomed,
        &json!({"title": "Occlusion sensor may fail", "model": "Alaris 8100 LVP", "serials": ["PUMPSN-0011"]}),
    );
    assert_eq!(status, 200, "{r}");
    dev.json(
        &o.topic("pump/pump-0011/telemetry"),
        &json!({"ts": now_rfc3339(), "state": "infusing", "battery_pct": 95, "on_battery": false,
                "runtime_hours": 321.0, "occlusion_alarms_total": 2, "faults": []}),
    );
    let open = |rule: &str| -> Vec<Value> {
        let (_, a) = o.get_as("/api/v1/units/ICU/alerts", &nurse);
        a.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["rule"] == rule)
            .cloned()
            .collect()
    };
    o.wait_until("the recalled pump's alert", T, || {
        !open("recalled-pump-in-use").is_empty()
    });
    let fall = |w: &str| {
        dev.json(
            &o.topic(&format!("wearable/{w}/event")),
            &json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95}),
        );
    };
    fall("W-1002");
    o.wait_until("the fall", T, || {
        !open("fall").is_empty() || !open("fall-alone").is_empty()
    });
    sign_in(&b, &o, &nurse);
    let first = b.wait_for(
        "two high alerts, the fall first",
        T,
        "const c = [...document.querySelectorAll('#alerts article.alert.high')]; \
         return c.length >= 2 ? [c[0].innerText, document.getElementById('banner').innerText] : null",
    );
    assert!(first[0].as_str().unwrap().contains("Ada Petrov"), "{first}");
    assert!(!first[0].as_str().unwrap().contains("Recalled"), "{first}");
    assert!(first[1].as_str().unwrap().contains("fall"), "{first}");
    assert!(!first[1].as_str().unwrap().contains("Recalled"), "{first}");
    // Seen: the banner goes; the two stay on the board.
    b.click("#seen");
    b.wait_for(
        "the banner gone",
        T,
        "return document.getElementById('banner').hidden && document.body.dataset.alarm === 'off'",
    );
    // Twenty falls, each acknowledged, silenced and resolved: the state shown within 300 ms.
    let press = |id: &str, button: &str, done: &str| -> f64 {
        b.eval(
            &format!(
                "const sel = '[data-alert=\"{id}\"]'; window.__ms = null; const t0 = performance.now(); \
                 const check = () => {{ const c = document.querySelector(sel); if ({done}) window.__ms = performance.now() - t0; else setTimeout(check, 2); }}; \
                 const c = document.querySelector(sel); \
                 if (c.querySelector('input.reason')) c.querySelector('input.reason').value = 'assessed at the bedside'; \
                 c.querySelector('button.{button}').click(); check();"
            ),
            json!([]),
        );
        b.wait_for(&format!("{button} of {id} shown"), T, "return window.__ms")
            .as_f64()
            .unwrap()
    };
    let patients = [
        "W-1003", "W-1004", "W-1005", "W-1006", "W-1007", "W-1008", "W-1009",
    ];
    let mut worst: (f64, &str) = (0.0, "");
    for i in 0..20 {
        let w = patients[i % patients.len()];
        let before: Vec<String> = open_ids(&o, &nurse);
        fall(w);
        let mut id = String::new();
        o.wait_until("the new fall", T, || {
            id = open_ids(&o, &nurse)
                .into_iter()
                .find(|x| !before.contains(x))
                .unwrap_or_default();
            !id.is_empty()
        });
        b.wait_for(
            "the new fall on the board, with the banner",
            T,
            &format!("const c = document.querySelector('[data-alert=\"{id}\"]'); return c && c.dataset.state === 'active' && document.body.dataset.alarm === 'on'"),
        );
        let ack = press(&id, "ack", "c && c.dataset.state === 'acknowledged'");
        assert_eq!(
            b.eval(
                "return [document.body.dataset.alarm, document.getElementById('banner').hidden]",
                json!([])
            ),
            json!(["off", true]),
            "round {i}: banner and tone go on acknowledge"
        );
        let silence = press(
            &id,
            "silence",
            "c && c.innerText.includes('Silenced until')",
        );
        let resolve = press(&id, "resolve", "!c");
        for (ms, what) in [
            (ack, "acknowledge"),
            (silence, "silence"),
            (resolve, "resolve"),
        ] {
            if ms > worst.0 {
                worst = (ms, what);
            }
            assert!(ms <= 300.0, "round {i}: {what} shown after {ms:.0} ms");
        }
    }
    eprintln!("slowest action shown after {:.0} ms ({})", worst.0, worst.1);
    dev.close();
    drop(b);
    o.stop();
}

fn open_ids(o: &Orderly, token: &str) -> Vec<String> {
    let (_, a) = o.get_as("/api/v1/units/ICU/alerts", token);
    a.as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

/// What the hospital's alert manager reports of an alert shows on the station's card: who has
/// it on which phone, as soon as the status arrives.
#[test]
fn the_station_shows_who_has_an_alert_on_a_phone() {
    let Some(b) = browser(1920, 1080) else {
        return;
    };
    let mut setup = Setup::new();
    setup.args = vec!["--hl7".into(), "127.0.0.1:0".into()];
    let o = setup.start();
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    let dev = Device::connect(&o.mqtt, None);
    dev.json(
        &o.topic("wearable/W-1002/event"),
        &json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95}),
    );
    let fall = || -> Option<String> {
        let (_, a) = o.get_as("/api/v1/units/ICU/alerts", &nurse);
        a.as_array()?
            .iter()
            .find(|a| a["priority"] == "high")
            .map(|a| a["id"].as_str().unwrap().to_string())
    };
    o.wait_until("the fall", T, || fall().is_some());
    let id = fall().unwrap();
    sign_in(&b, &o, &nurse);
    b.wait_for(
        "the fall on the board",
        T,
        "return document.querySelector('#alerts article.alert.high') ? true : null",
    );
    let hl7 = o.hl7.clone().expect("the HL7 listener");
    for (status, device) in [("Delivered", "phone 4411"), ("Accepted", "phone 4411")] {
        assert_eq!(
            crate::acm::report_status(&hl7, &id, status, "N55^Lima^Ana^^^Nurse", device),
            "AA"
        );
    }
    let said = b.wait_for(
        "the phone's status on the card",
        T,
        "const r = document.querySelector('#alerts article.alert.high .reach'); \
         return r && r.dataset.disposition === 'accepted' ? r.innerText : null",
    );
    let said = said.as_str().unwrap();
    assert!(
        said.contains("Accepted by Nurse Ana Lima on phone 4411"),
        "{said}"
    );
    o.stop();
}
