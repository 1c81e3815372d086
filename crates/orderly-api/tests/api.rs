//! The API driven without a socket (as axum's `examples/testing`): a real router over a real
//! SQLite store and a snapshot from a real world.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use orderly_api::{ApiState, Control, ReloadOutcome, RulesView, router};
use orderly_floorplan::Floorplan;
use orderly_model::reading::{BedHeight, BedState, ExitAlarm, Rails, Sighting, Sightings, Surface};
use orderly_model::{Inbound, OutEvent, Payload, Reading, Role, Seed, Timestamp};
use orderly_store::Store;
use orderly_world::{Hospital, RuleSet, WorldConfig};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};
use tower::ServiceExt;

const FLOORPLAN: &str = include_str!("../../../floorplans/demo.toml");
const SEED: &str = include_str!("../../../floorplans/demo-seed.toml");

struct Fixture {
    state: ApiState,
    admin: String,
    nurse_icu: String,
    /// A nurse of another unit (MS3), and a biomedical engineer.
    nurse_ms3: String,
    biomed: String,
    _dir: tempfile::TempDir,
}

fn bundled_rules(fp: &Floorplan, seed: &Seed) -> Arc<RuleSet> {
    let files = [
        ("beds.toml", include_str!("../../../rules/beds.toml")),
        ("pumps.toml", include_str!("../../../rules/pumps.toml")),
        (
            "tracking.toml",
            include_str!("../../../rules/tracking.toml"),
        ),
    ]
    .map(|(n, t)| (n.to_string(), t.to_string()));
    Arc::new(RuleSet::compile(&files, &orderly_world::known(fp, seed)).unwrap())
}

fn reading(at: i64, device: &str, payload: Payload) -> Inbound {
    Inbound::Reading(Reading {
        at: Timestamp(at),
        device: device.into(),
        ts: Timestamp(at),
        seq: None,
        payload,
    })
}

/// A world where pump 1 and bed ICU-01 are in room F2-ICU-01 and the bed's exit alarm sounds.
async fn fixture(ready: bool) -> Fixture {
    fixture_with(ready, |_| Vec::new()).await
}

/// The same, then `more` (whose events are committed too).
async fn fixture_with(ready: bool, more: impl FnOnce(&mut Hospital) -> Vec<OutEvent>) -> Fixture {
    let fp = Arc::new(Floorplan::parse("demo.toml", FLOORPLAN).unwrap());
    // Two bladder scanners besides the demo's: one overdue for maintenance, one due later.
    let extra = "\n[[asset]]\nid = \"BSC-OVERDUE\"\nkind = \"bladder_scanner\"\ntag = \"TBSC-OVERDUE\"\nservice_due = \"1970-01-01T00:20:00Z\"\n\n[[asset]]\nid = \"BSC-LATER\"\nkind = \"bladder_scanner\"\ntag = \"TBSC-LATER\"\nservice_due = \"2027-03-31\"\n";
    let seed = Seed::parse("demo-seed.toml", &format!("{SEED}{extra}")).unwrap();
    // The shipped maintenance catalogue.
    let maintenance = orderly_model::maintenance::parse(
        "maintenance.toml",
        include_str!("../../../rules/maintenance.toml"),
        &orderly_world::known(&fp, &seed).models,
    )
    .unwrap();
    let mut h = Hospital::new(
        fp.clone(),
        &seed,
        WorldConfig {
            maintenance,
            ..WorldConfig::default()
        },
        bundled_rules(&fp, &seed),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap();
    let mut events = Vec::new();
    for s in 0..3 {
        for tag in ["TP-0001", "TB-ICU-01"] {
            let sight = Sightings {
                sightings: vec![Sighting {
                    tag: tag.into(),
                    rssi: -55.0,
                    battery: None,
                    ir: false,
                }],
            };
            h.push(reading(
                1_000_000 + s * 1000,
                "rx-f2-icu-01",
                Payload::Sightings(sight),
            ));
        }
        // More pumps about the hospital, placed by IR (certain): for the locate tests.
        for (tag, rx) in [
            ("TP-0002", "rx-f2-icu-store"),
            ("TP-0003", "rx-f2-c02"),
            ("TP-0004", "rx-f3-c01"),
            ("TP-0005", "rx-f2-c01"),
            ("TBSC-OVERDUE", "rx-f2-c02"),
            ("TBSC-LATER", "rx-f2-c01"),
        ] {
            let sight = Sightings {
                sightings: vec![Sighting {
                    tag: tag.into(),
                    rssi: -60.0,
                    battery: None,
                    ir: true,
                }],
            };
            h.push(reading(1_000_000 + s * 1000, rx, Payload::Sightings(sight)));
        }
        events.extend(h.step(Timestamp(1_000_000 + s * 1000)));
    }
    let bed = BedState {
        occupied: true,
        hob_deg: 30.0,
        height: BedHeight::Low,
        brakes: true,
        rails: Rails::default(),
        exit_alarm: ExitAlarm::Alarming,
        surface: Surface::Static,
        moving: false,
    };
    h.push(reading(1_004_000, "bed-icu-01", Payload::BedState(bed)));
    events.extend(h.step(Timestamp(1_004_000)));
    events.extend(more(&mut h));
    store.commit(&events).await.unwrap();
    let (snap_tx, snap_rx) = watch::channel(Arc::new(h.snapshot()));
    let (admin_id, admin) = store
        .create_token("admin", Role::Admin, &[], Timestamp(0), None)
        .await
        .unwrap();
    let _ = admin_id;
    let (_, nurse_icu) = store
        .create_token(
            "Nurse Ana",
            Role::Nurse,
            &["ICU".into()],
            Timestamp(0),
            None,
        )
        .await
        .unwrap();
    let (_, nurse_ms3) = store
        .create_token("Nurse Bo", Role::Nurse, &["MS3".into()], Timestamp(0), None)
        .await
        .unwrap();
    let (_, biomed) = store
        .create_token("Bo Biomed", Role::Biomed, &[], Timestamp(0), None)
        .await
        .unwrap();
    let readiness: orderly_api::ReadinessCheck = if ready {
        Arc::new(Vec::new)
    } else {
        Arc::new(|| vec!["mqtt: not connected".to_string()])
    };
    // The world's owner, as the binary's pipeline does it: apply, step, commit, then answer.
    let (control, mut control_rx) = mpsc::channel::<Control>(8);
    let last = events.last().map_or(0, |e: &OutEvent| e.seq);
    let (committed_tx, committed) = watch::channel(last);
    let owner_store = store.clone();
    tokio::spawn(async move {
        let mut now = h.now().millis().max(1_005_000);
        while let Some(c) = control_rx.recv().await {
            // Step once after the change, commit, publish the snapshot, then answer.
            let mut step = async |h: &mut Hospital| {
                now += 1000;
                let ev = h.step(Timestamp(now));
                owner_store.commit(&ev).await.unwrap();
                snap_tx.send_replace(Arc::new(h.snapshot()));
                if let Some(e) = ev.last() {
                    committed_tx.send_replace(e.seq);
                }
            };
            match c {
                Control::World { command, reply } => {
                    let r = h.apply(command);
                    step(&mut h).await;
                    let _ = reply.send(r);
                }
                Control::Reload { reply } => {
                    let _ = reply.send(ReloadOutcome {
                        ok: false,
                        at: Timestamp(now),
                        trigger: "api".into(),
                        added: vec![],
                        changed: vec![],
                        removed: vec![],
                        unchanged: 0,
                        errors: Some("rules/x.toml:1:1: test".into()),
                    });
                }
            }
        }
    });
    let state = ApiState {
        snapshot: snap_rx,
        events: broadcast::channel(16).0,
        store,
        database: orderly_api::outage::Database::new(Arc::new(AtomicBool::new(true))),
        failed_logins: Default::default(),
        floorplan: fp,
        metrics: None,
        readiness,
        clock: || Timestamp(2_000_000),
        control,
        committed,
        rules: watch::channel(Arc::new(RulesView::default())).1,
        shutdown: watch::channel(false).1,
        outbound: Default::default(),
        instance: "test".into(),
        other_sites: Arc::new([]),
        site_weights: Default::default(),
    };
    Fixture {
        state,
        admin,
        nurse_icu,
        nurse_ms3,
        biomed,
        _dir: dir,
    }
}

async fn get(f: &Fixture, uri: &str, token: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut req = Request::get(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = router(f.state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, json)
}

#[tokio::test]
async fn health_is_open_everything_else_needs_a_token() {
    let f = fixture(true).await;
    assert_eq!(get(&f, "/healthz", None).await.0, StatusCode::OK);
    assert_eq!(get(&f, "/readyz", None).await.0, StatusCode::OK);
    for uri in [
        "/api/v1/assets",
        "/api/v1/rooms/F2-ICU-01",
        "/api/v1/units/ICU/alerts",
        "/api/v1/events",
        "/metrics",
        "/api/v1/ingest",
        // What the pages draw with.
        "/api/v1/me",
        "/api/v1/floorplan",
        "/api/v1/staff",
        "/api/v1/par",
        "/api/v1/units/ICU/beds",
    ] {
        let (status, body) = get(&f, uri, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(body["error"], "unauthenticated");
        assert_eq!(
            get(&f, uri, Some("ord_not_a_token")).await.0,
            StatusCode::UNAUTHORIZED,
            "{uri}"
        );
    }
}

#[tokio::test]
async fn readiness_says_what_is_missing() {
    let f = fixture(false).await;
    let (status, body) = get(&f, "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["problems"][0], "mqtt: not connected");
}

#[tokio::test]
async fn assets_are_filtered_and_located() {
    let f = fixture(true).await;
    let (status, body) = get(
        &f,
        "/api/v1/assets?kind=infusion_pump&room=F2-ICU-01",
        Some(&f.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["PUMP-0001"]);
    let (_, all_pumps) = get(&f, "/api/v1/assets?kind=infusion_pump", Some(&f.admin)).await;
    assert_eq!(all_pumps.as_array().unwrap().len(), 320);
    // A kind, unit or room that does not exist is a 400 that says what does, not [].
    for (bad, says) in [
        ("/api/v1/assets?kind=pump", "unknown kind \"pump\" (one of "),
        ("/api/v1/assets?unit=ICUU", "unknown unit \"ICUU\" (one of "),
        ("/api/v1/assets?room=NOWHERE", "no room \"NOWHERE\""),
    ] {
        let (status, body) = get(&f, bad, Some(&f.admin)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{bad}: {body}");
        if bad.contains("kind") {
            assert!(message.contains("infusion_pump"), "{body}");
        }
    }
    let (status, one) = get(&f, "/api/v1/assets/PUMP-0001", Some(&f.nurse_icu)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["location"]["room"], "F2-ICU-01");
    assert_eq!(one["location"]["unit"], "ICU");
    assert_eq!(one["location"]["present"], true);
    assert_eq!(
        get(&f, "/api/v1/assets/NOPE", Some(&f.admin)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&f, "/api/v1/assets?status=lost", Some(&f.admin))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let (status, hist) = get(
        &f,
        "/api/v1/assets/PUMP-0001/history?from=1970-01-01T00:00:00Z&to=1970-01-01T01:00:00Z",
        Some(&f.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{hist}");
    assert_eq!(hist[0]["room"], "F2-ICU-01");
}

#[tokio::test]
async fn a_room_shows_what_is_in_it_and_patient_reads_are_audited() {
    let f = fixture(true).await;
    let (status, room) = get(&f, "/api/v1/rooms/F2-ICU-01", Some(&f.nurse_icu)).await;
    assert_eq!(status, StatusCode::OK);
    let assets: Vec<&str> = room["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(assets, ["BED-ICU-01", "PUMP-0001"]);
    assert_eq!(room["patients"][0]["id"], "P-1001");
    let (_, audit) = get(&f, "/api/v1/audit", Some(&f.admin)).await;
    assert!(
        audit[0]["who"].as_str().unwrap().contains("Nurse Ana"),
        "{audit}"
    );
    assert_eq!(audit[0]["target"], "room F2-ICU-01");
    assert_eq!(
        get(&f, "/api/v1/audit", Some(&f.nurse_icu)).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, rooms) = get(&f, "/api/v1/rooms", Some(&f.admin)).await;
    let icu01 = rooms
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "F2-ICU-01")
        .unwrap();
    assert_eq!(icu01["occupants"], 2);
}

#[tokio::test]
async fn nurses_see_only_their_units_alerts() {
    let f = fixture(true).await;
    let (status, alerts) = get(&f, "/api/v1/units/ICU/alerts", Some(&f.nurse_icu)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(alerts[0]["rule"], "bed-exit-alarm");
    assert_eq!(alerts[0]["room"], "F2-ICU-01");
    assert_eq!(alerts[0]["priority"], "high");
    assert_eq!(
        get(&f, "/api/v1/units/MS3/alerts", Some(&f.nurse_icu))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&f, "/api/v1/units/XYZ/alerts", Some(&f.admin)).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, hist) = get(
        &f,
        "/api/v1/alerts?unit=ICU&priority=high",
        Some(&f.nurse_icu),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hist.as_array().unwrap().len(), 1);
    assert_eq!(
        get(&f, "/api/v1/alerts", Some(&f.nurse_icu)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&f, "/api/v1/alerts?priority=urgent", Some(&f.admin))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

/// Finding: `Last-Event-ID: abc` was silently ignored, and `u64::MAX` replayed the whole log
/// (the store read it as -1). Now a non-number is a 400 that says so, and an id past the last
/// committed event means "from now": nothing replayed, live events still come.
#[tokio::test]
async fn a_bad_last_event_id_is_refused_and_one_from_the_future_replays_nothing() {
    let f = fixture(true).await;
    let open = |id: &str| {
        Request::get("/api/v1/events")
            .header("authorization", format!("Bearer {}", f.admin))
            .header("last-event-id", id)
            .body(Body::empty())
            .unwrap()
    };
    let resp = router(f.state.clone()).oneshot(open("abc")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&b).contains("not an event's sequence number"),
        "{}",
        String::from_utf8_lossy(&b)
    );
    let resp = router(f.state.clone())
        .oneshot(open(&u64::MAX.to_string()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let nothing = tokio::time::timeout(std::time::Duration::from_millis(300), body.frame()).await;
    assert!(nothing.is_err(), "replayed: {nothing:?}");
    f.state
        .events
        .send(Arc::new(OutEvent {
            seq: 1_000_000,
            at: Timestamp(5),
            kind: orderly_model::EventKind::LocationChanged {
                subject: "PUMP-0002".into(),
                subject_kind: "infusion_pump".into(),
                tag: "TP-0002".into(),
                from: None,
                to: "X".into(),
                unit: Some("ICU".into()),
                confidence: 0.9,
            },
        }))
        .unwrap();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .expect("the live event")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&frame.into_data().unwrap()).to_string();
    assert!(text.starts_with("id: 1000000\n"), "{text}");
}

#[tokio::test]
async fn the_stream_replays_then_goes_live() {
    let f = fixture(true).await;
    let req = Request::get("/api/v1/events?after=0&kind=alert.raised,location.changed")
        .header("authorization", format!("Bearer {}", f.nurse_icu))
        .body(Body::empty())
        .unwrap();
    let resp = router(f.state.clone()).oneshot(req).await.unwrap();
    if resp.status() != StatusCode::OK {
        let b = resp.into_body().collect().await.unwrap().to_bytes();
        panic!("{}", String::from_utf8_lossy(&b));
    }
    let mut body = resp.into_body();
    let mut text = String::new();
    // The backlog: the ICU's location changes, then the alert.
    while !text.contains("event: alert.raised") {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("backlog in time")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap()));
    }
    assert!(text.contains("event: location.changed"), "{text}");
    assert!(!text.contains("MS3"), "another unit's event: {text}");
    // Live: an MS3 event is filtered out for an ICU nurse, the ICU one comes through.
    let ev = |seq: u64, unit: &str| {
        Arc::new(OutEvent {
            seq,
            at: Timestamp(5),
            kind: orderly_model::EventKind::LocationChanged {
                subject: "PUMP-0002".into(),
                subject_kind: "infusion_pump".into(),
                tag: "TP-0002".into(),
                from: None,
                to: "X".into(),
                unit: Some(unit.into()),
                confidence: 0.9,
            },
        })
    };
    f.state.events.send(ev(100, "MS3")).unwrap();
    f.state.events.send(ev(101, "ICU")).unwrap();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
        .await
        .expect("live event in time")
        .unwrap()
        .unwrap();
    let live = String::from_utf8_lossy(&frame.into_data().unwrap()).to_string();
    assert!(
        live.starts_with("id: 101\nevent: location.changed\n"),
        "{live}"
    );
}

#[tokio::test]
async fn the_openapi_document_covers_the_routes() {
    let f = fixture(true).await;
    let (status, doc) = get(&f, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for p in [
        "/api/v1/assets",
        "/api/v1/assets/{id}",
        "/api/v1/rooms/{id}",
        "/api/v1/units/{unit}/alerts",
        "/api/v1/events",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["AssetView"].is_object());
    // The interactive reference: its page and its vendored assets, without a token.
    let (status, page) = get(&f, "/api/docs", None).await;
    assert_eq!(status, StatusCode::OK);
    let page = page.as_str().unwrap();
    assert!(page.contains("/api/docs/swagger-ui-bundle.js"), "{page}");
    for asset in [
        "swagger-ui-bundle.js",
        "swagger-ui.css",
        "init.js",
        "docs.css",
    ] {
        let (status, _) = get(&f, &format!("/api/docs/{asset}"), None).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
    }
    assert_eq!(
        get(&f, "/api/docs/other.js", None).await.0,
        StatusCode::NOT_FOUND
    );
}

async fn post(
    f: &Fixture,
    uri: &str,
    token: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let req = Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router(f.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// Finding: a resolve with a reason of about 1 MiB answered 200, and the `alert.resolved` it
/// made was larger than the MQTT client's packet limit, which stopped alerts going out until a
/// restart. Every text a person enters has a limit, said in the 400; nothing changes.
#[tokio::test]
async fn a_reason_too_long_is_refused_with_the_limit_and_changes_nothing() {
    let f = fixture(true).await;
    let (_, open) = get(&f, "/api/v1/alerts/open?unit=ICU", Some(&f.nurse_icu)).await;
    let id = open[0]["id"].as_str().unwrap().to_string();
    for (path, body) in [
        (
            "resolve",
            serde_json::json!({"reason": "x".repeat(1 << 20)}),
        ),
        ("resolve", serde_json::json!({"reason": "é".repeat(2001)})),
    ] {
        let (st, e) = post(
            &f,
            &format!("/api/v1/alerts/{id}/{path}"),
            &f.nurse_icu,
            body,
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
        assert!(
            e["message"].as_str().unwrap().contains("at most 2000"),
            "{e}"
        );
    }
    let (_, still) = get(&f, "/api/v1/alerts/open?unit=ICU", Some(&f.nurse_icu)).await;
    assert_eq!(still[0]["id"], id.as_str());
    assert_eq!(still[0]["state"], "active");
    // At the limit is fine.
    let (st, a) = post(
        &f,
        &format!("/api/v1/alerts/{id}/resolve"),
        &f.nurse_icu,
        serde_json::json!({"reason": "é".repeat(2000)}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{a}");
}

#[tokio::test]
async fn a_nurse_acknowledges_silences_and_resolves_her_units_alert_once_committed() {
    let f = fixture(true).await;
    let (st, open) = get(&f, "/api/v1/alerts/open?unit=ICU", Some(&f.nurse_icu)).await;
    assert_eq!(st, StatusCode::OK, "{open}");
    let id = open[0]["id"].as_str().unwrap().to_string();
    assert_eq!(open[0]["audience"][0], "station:ICU");
    let (st, a) = post(
        &f,
        &format!("/api/v1/alerts/{id}/acknowledge"),
        &f.nurse_icu,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(a["state"], "acknowledged");
    assert_eq!(a["acknowledged_by"], "Nurse Ana");
    // Committed before the answer: the history already has it.
    let (_, hist) = get(&f, "/api/v1/alerts?unit=ICU", Some(&f.nurse_icu)).await;
    assert_eq!(hist[0]["state"], "acknowledged", "{hist}");
    let (st, e) = post(
        &f,
        &format!("/api/v1/alerts/{id}/acknowledge"),
        &f.nurse_icu,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{e}");
    let (st, e) = post(
        &f,
        &format!("/api/v1/alerts/{id}/silence"),
        &f.nurse_icu,
        serde_json::json!({"seconds": 0}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    let (st, a) = post(
        &f,
        &format!("/api/v1/alerts/{id}/silence"),
        &f.nurse_icu,
        serde_json::json!({"seconds": 120}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert!(a["silenced_until"].is_string());
    let (st, _) = post(
        &f,
        &format!("/api/v1/alerts/{id}/resolve"),
        &f.nurse_icu,
        serde_json::json!({"reason": ""}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, a) = post(
        &f,
        &format!("/api/v1/alerts/{id}/resolve"),
        &f.nurse_icu,
        serde_json::json!({"reason": "sensor fault, bed swapped"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(
        (a["state"].as_str(), a["resolution"].as_str()),
        (Some("resolved"), Some("sensor fault, bed swapped"))
    );
    let (st, _) = post(
        &f,
        &format!("/api/v1/alerts/{id}/acknowledge"),
        &f.nurse_icu,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, audit) = get(&f, "/api/v1/audit", Some(&f.admin)).await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"acknowledge") && actions.contains(&"resolve"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn other_units_and_other_roles_may_not_act_on_an_alert() {
    let f = fixture(true).await;
    let (_, open) = get(&f, "/api/v1/alerts/open", Some(&f.admin)).await;
    let id = open[0]["id"].as_str().unwrap().to_string();
    let ms3 = f.nurse_ms3.clone();
    let biomed = f.biomed.clone();
    for t in [&ms3, &biomed] {
        let (st, e) = post(
            &f,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            t,
            serde_json::json!({}),
        )
        .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{e}");
    }
    // A nurse of another unit does not see it in the open list either.
    let (_, mine) = get(&f, "/api/v1/alerts/open", Some(&ms3)).await;
    assert_eq!(mine.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_rejected_reload_answers_422_with_the_located_problems_and_only_admins_may_reload() {
    let f = fixture(true).await;
    let (st, _) = post(
        &f,
        "/api/v1/rules/reload",
        &f.nurse_icu,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, out) = post(&f, "/api/v1/rules/reload", &f.admin, serde_json::json!({})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(out["ok"], false);
    assert!(
        out["errors"]
            .as_str()
            .unwrap()
            .starts_with("rules/x.toml:1:1:")
    );
}

/// Walking distances by a plain Bellman-Ford over the floorplan's links: an independent check
/// of the endpoint's ranking.
/// Bellman-Ford over the floorplan's links the way wheeled equipment goes: no stairs, no
/// stairwells (independent of the floorplan crate's Dijkstra).
fn shortest(fp: &Floorplan, from: usize) -> Vec<f32> {
    let stairwell = |i: usize| fp.rooms[i].kind == orderly_floorplan::RoomKind::Stairs;
    let n = fp.rooms.len();
    let mut d = vec![f32::INFINITY; n];
    d[from] = 0.0;
    for _ in 0..n {
        let mut changed = false;
        for i in 0..n {
            if d[i].is_infinite() {
                continue;
            }
            for (j, link) in fp.neighbours(i) {
                if link.kind == orderly_floorplan::LinkKind::Stairs || stairwell(i) || stairwell(j)
                {
                    continue;
                }
                let wait = if link.kind == orderly_floorplan::LinkKind::Elevator {
                    fp.site.elevator_wait_m
                } else {
                    0.0
                };
                if d[i] + link.metres + wait < d[j] - 1e-3 {
                    d[j] = d[i] + link.metres + wait;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    d
}

#[tokio::test]
async fn nearest_available_equipment_by_the_lift_with_its_route() {
    let f = fixture(true).await;
    let fp = f.state.floorplan.clone();
    let (status, body) = get(
        &f,
        "/api/v1/locate?kind=infusion_pump&near=F2-C02&limit=10",
        Some(&f.nurse_icu),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let found = body.as_array().unwrap();
    let ids: Vec<&str> = found.iter().map(|a| a["asset"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5, "{body}");
    // The ranking agrees with an independent shortest-path computation, within each kind of
    // place: stores first, then free rooms, then corridors and lifts, then occupied bedsides.
    let d = shortest(&fp, fp.room_index("F2-C02").unwrap());
    let snap = f.state.snapshot();
    let occupied: Vec<&str> = snap
        .patients
        .values()
        .filter_map(|p| p.room.as_deref())
        .collect();
    let tier = |room: usize| {
        let r = &fp.rooms[room];
        match r.kind.as_str() {
            "storage" | "clean_utility" | "dirty_utility" => (0, "store"),
            "corridor" | "elevator" | "lobby" | "stairs" | "exit" => (2, "in_transit"),
            "patient" | "bay" if occupied.contains(&r.id.as_str()) => (3, "bedside"),
            _ => (1, "room"),
        }
    };
    let mut expected: Vec<(u8, f32, &str)> = found
        .iter()
        .map(|a| {
            let room = fp.room_index(a["room"].as_str().unwrap()).unwrap();
            assert_eq!(a["place"], tier(room).1, "{a}");
            assert!(!a["place_says"].as_str().unwrap().is_empty());
            (tier(room).0, d[room], a["asset"].as_str().unwrap())
        })
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(b.2)));
    assert_eq!(ids, expected.iter().map(|e| e.2).collect::<Vec<_>>());
    for a in found {
        let room = fp.room_index(a["room"].as_str().unwrap()).unwrap();
        let metres = a["metres"].as_f64().unwrap() as f32;
        assert!((metres - d[room]).abs() < 0.1, "{a}");
        // The route starts here, ends at the item, and walks links of the floorplan.
        let route: Vec<usize> = a["route"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| fp.room_index(r.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(route.first(), Some(&fp.room_index("F2-C02").unwrap()));
        assert_eq!(route.last(), Some(&room));
        assert!(route.windows(2).all(|w| fp.adjacent(w[0], w[1])), "{a}");
        assert!(
            route
                .iter()
                .all(|r| fp.rooms[*r].kind != orderly_floorplan::RoomKind::Stairs),
            "a wheeled item by the stairs: {a}"
        );
    }
    // The one in the corridor itself is nearest, and is said to be in transit: a settled one
    // comes before it.
    let p3 = found
        .iter()
        .position(|a| a["asset"] == "PUMP-0003")
        .unwrap();
    assert_eq!(found[p3]["metres"], 0.0);
    assert_eq!(found[p3]["place"], "in_transit");
    assert!(
        found[..p3].iter().all(|a| a["place"] != "in_transit"),
        "{body}"
    );
    // limit, and bad questions.
    let (_, two) = get(
        &f,
        "/api/v1/locate?kind=infusion_pump&near=F2-C02&limit=2",
        Some(&f.admin),
    )
    .await;
    assert_eq!(two.as_array().unwrap().len(), 2);
    for bad in [
        "/api/v1/locate?kind=infusion_pump&near=NOWHERE",
        "/api/v1/locate?kind=pumps&near=F2-C02",
        "/api/v1/locate?kind=infusion_pump&near=F2-C02&status=lost",
    ] {
        let (status, body) = get(&f, bad, Some(&f.admin)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(
        get(&f, "/api/v1/locate?kind=infusion_pump&near=F2-C02", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn staff_set_equipment_status_audited_and_out_of_service_is_never_offered() {
    let f = fixture(true).await;
    let biomed = f.biomed.clone();
    let near = "/api/v1/locate?kind=infusion_pump&near=F2-C02&limit=10";
    let ids = |b: &serde_json::Value| -> Vec<String> {
        b.as_array()
            .unwrap()
            .iter()
            .map(|a| a["asset"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(ids(&get(&f, near, Some(&f.admin)).await.1).contains(&"PUMP-0003".to_string()));
    // A nurse may not take it out of service; biomed may, with a reason.
    let body = serde_json::json!({"status": "out_of_service", "reason": "recall FA-2026-11"});
    let (status, _) = post(
        &f,
        "/api/v1/assets/PUMP-0003/status",
        &f.nurse_icu,
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(
        &f,
        "/api/v1/assets/PUMP-0003/status",
        &biomed,
        serde_json::json!({"status": "out_of_service"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no reason");
    let (status, a) = post(&f, "/api/v1/assets/PUMP-0003/status", &biomed, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["status"], "out_of_service");
    let (status, _) = post(&f, "/api/v1/assets/PUMP-0003/status", &biomed, body).await;
    assert_eq!(status, StatusCode::CONFLICT, "already out of service");
    // Never offered, even when asked for by status.
    assert!(!ids(&get(&f, near, Some(&f.admin)).await.1).contains(&"PUMP-0003".to_string()));
    let (_, any) = get(
        &f,
        "/api/v1/locate?kind=infusion_pump&near=F2-C02&status=available,clean,in_use,needs_cleaning",
        Some(&f.admin),
    )
    .await;
    assert!(!ids(&any).contains(&"PUMP-0003".to_string()));
    // A nurse marks another pump as needing cleaning: it is no longer offered as ready.
    let (status, _) = post(
        &f,
        "/api/v1/assets/PUMP-0002/status",
        &f.nurse_icu,
        serde_json::json!({"status": "needs_cleaning"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!ids(&get(&f, near, Some(&f.admin)).await.1).contains(&"PUMP-0002".to_string()));
    // Recorded as events, and audited.
    let events = f.state.store.events_after(0, 1000).await.unwrap();
    let changes: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            orderly_model::EventKind::StatusChanged { asset, to, by, .. } => {
                Some((asset.clone(), format!("{} by {by}", to.as_str())))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [
            (
                "PUMP-0003".to_string(),
                "out_of_service by Bo Biomed".to_string()
            ),
            (
                "PUMP-0002".to_string(),
                "needs_cleaning by Nurse Ana".to_string()
            ),
        ]
    );
    let audit = f.state.store.audit_log(100).await.unwrap();
    assert!(
        audit.iter().any(|a| a.action == "set status"
            && a.target == "asset PUMP-0003"
            && a.detail.contains("recall")),
        "{audit:?}"
    );
    assert_eq!(
        post(
            &f,
            "/api/v1/assets/NOPE/status",
            &f.admin,
            serde_json::json!({"status": "clean"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn utilisation_per_asset_and_per_kind_as_json_and_csv() {
    let f = fixture(true).await;
    let biomed = f.biomed.clone();
    // PUMP-0003 goes out of service at 1004 s (the world's clock when biomed acts, in the
    // fixture); the window is 1000 s to 2000 s.
    let (status, _) = post(
        &f,
        "/api/v1/assets/PUMP-0003/status",
        &biomed,
        serde_json::json!({"status": "out_of_service", "reason": "recall"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let window = "from=1970-01-01T00:16:40Z&to=1970-01-01T00:33:20Z";
    let (status, r) = get(
        &f,
        &format!("/api/v1/reports/utilisation?kind=infusion_pump&by=asset&{window}"),
        Some(&f.nurse_icu),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let p3 = r["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "PUMP-0003")
        .unwrap();
    assert_eq!(p3["out_of_service_s"], 996.0, "{p3}");
    assert_eq!(p3["idle_s"], 4.0, "{p3}");
    assert_eq!(p3["utilisation"], 0.0, "{p3}");
    // Groups add up: every pump is counted once, every second of the window once.
    let groups = r["groups"].as_array().unwrap();
    let pumps: u64 = groups.iter().map(|g| g["assets"].as_u64().unwrap()).sum();
    assert_eq!(pumps, 320);
    let seconds: f64 = groups
        .iter()
        .map(|g| {
            [
                "in_use_s",
                "idle_s",
                "cleaning_s",
                "out_of_service_s",
                "missing_s",
            ]
            .iter()
            .map(|k| g[k].as_f64().unwrap())
            .sum::<f64>()
        })
        .sum();
    assert_eq!(seconds, 320.0 * 1000.0);
    // CSV for a spreadsheet.
    let req = Request::get(format!(
        "/api/v1/reports/utilisation?kind=infusion_pump&format=csv&{window}"
    ))
    .header("authorization", format!("Bearer {}", f.admin))
    .body(Body::empty())
    .unwrap();
    let resp = router(f.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.starts_with(
            "kind,unit,assets,in_use_s,idle_s,cleaning_s,out_of_service_s,missing_s,utilisation\n"
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1 + groups.len(), "{text}");
    // Clear errors.
    for (q, want) in [
        ("kind=spaceship", "no asset of kind"),
        ("unit=NOPE", "no unit"),
        ("by=room", "use group or asset"),
        ("format=xml", "use json or csv"),
        ("from=yesterday", "not RFC 3339"),
        (
            "from=1970-01-01T00:40:00Z&to=1970-01-01T00:33:20Z",
            "from before to",
        ),
    ] {
        let (status, body) = get(
            &f,
            &format!("/api/v1/reports/utilisation?{q}"),
            Some(&f.admin),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert!(body.to_string().contains(want), "{q}: {body}");
    }
}

#[tokio::test]
async fn equipment_overdue_for_maintenance_is_never_offered() {
    let f = fixture(true).await;
    // The overdue scanner is in the corridor itself, the other one a room away: only the one
    // in date is offered (the API's clock is 1970-01-01T00:33:20Z in the fixture).
    let (status, body) = get(
        &f,
        "/api/v1/locate?kind=bladder_scanner&near=F2-C02",
        Some(&f.nurse_icu),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["asset"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["BSC-LATER"], "{body}");
    let (_, a) = get(&f, "/api/v1/assets/BSC-OVERDUE", Some(&f.admin)).await;
    assert_eq!(a["service_due"], "1970-01-01T00:20:00.000Z", "{a}");
    assert_eq!(a["location"]["room"], "F2-C02", "{a}");
}

#[tokio::test]
async fn bundle_compliance_per_unit_and_bed_as_json_and_csv() {
    // The fixture's bed BED-ICU-01 (Ben Rossi, Morse 85) reports at 1004 s: occupied, low,
    // braked, but no upper rail up: the fall-risk bundle applies and is not complied with;
    // the brakes bundle applies and is.
    let f = fixture(true).await;
    let window = "from=1970-01-01T00:16:40Z&to=1970-01-01T00:33:20Z";
    let (status, r) = get(
        &f,
        &format!("/api/v1/reports/compliance?unit=ICU&by=subject&{window}"),
        Some(&f.nurse_icu),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let row = |rows: &serde_json::Value, bundle: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|x| x["bundle"] == bundle)
            .cloned()
            .unwrap_or_else(|| panic!("no {bundle} in {rows}"))
    };
    let fall = row(&r["subjects"], "fall-risk");
    assert_eq!(fall["subject"], "BED-ICU-01");
    assert_eq!(
        (fall["applicable_s"].as_f64(), fall["compliant_s"].as_f64()),
        (Some(996.0), Some(0.0))
    );
    assert_eq!(fall["compliance"], 0.0);
    let brakes = row(&r["units"], "brakes");
    assert_eq!(brakes["unit"], "ICU");
    assert_eq!(brakes["compliance"], 1.0, "{brakes}");
    // Finding: by subject, the report listed another unit's beds and patients to a nurse. An
    // MS3 nurse may not ask for the ICU, and her own report has none of its subjects.
    let (status, _) = get(
        &f,
        &format!("/api/v1/reports/compliance?unit=ICU&by=subject&{window}"),
        Some(&f.nurse_ms3),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, mine) = get(
        &f,
        &format!("/api/v1/reports/compliance?by=subject&{window}"),
        Some(&f.nurse_ms3),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert!(!mine.to_string().contains("ICU"), "{mine}");
    // One bundle only, as CSV.
    let req = Request::get(format!(
        "/api/v1/reports/compliance?bundle=fall-risk&format=csv&{window}"
    ))
    .header("authorization", format!("Bearer {}", f.admin))
    .body(Body::empty())
    .unwrap();
    let resp = router(f.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert_eq!(
        text,
        "bundle,unit,subject,applicable_s,compliant_s,compliance\nfall-risk,ICU,,996,0,0.000\n"
    );
    // Clear errors.
    for (q, want) in [("unit=NOPE", "no unit"), ("by=room", "use unit or subject")] {
        let (status, r) = get(
            &f,
            &format!("/api/v1/reports/compliance?{q}"),
            Some(&f.admin),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {r}");
        assert!(r.to_string().contains(want), "{q}: {r}");
    }
}

#[tokio::test]
async fn a_beds_command_history_newest_first() {
    let f = fixture(true).await;
    let cmd = |seq, at, bed: &str, id: &str| OutEvent {
        seq,
        at: Timestamp(at),
        kind: orderly_model::EventKind::BedCommand {
            command_id: id.into(),
            bed: bed.into(),
            device: bed.to_lowercase(),
            set: serde_json::json!({"exit_alarm": "armed"})
                .as_object()
                .unwrap()
                .clone(),
            reason: "rule arm-exit-alarm".into(),
            rule: "arm-exit-alarm".into(),
        },
    };
    let acked = OutEvent {
        seq: 90_002,
        at: Timestamp(1_002_000),
        kind: orderly_model::EventKind::BedCommandAcked {
            command_id: "c-90000".into(),
            bed: "BED-ICU-01".into(),
            rule: "arm-exit-alarm".into(),
            result: "refused".into(),
            reason: Some("bed in CPR mode".into()),
        },
    };
    f.state
        .store
        .commit(&[
            cmd(90_000, 1_001_000, "BED-ICU-01", "c-90000"),
            cmd(90_001, 1_001_500, "BED-ICU-02", "c-90001"),
            acked,
        ])
        .await
        .unwrap();
    let (status, v) = get(&f, "/api/v1/beds/BED-ICU-01/commands", Some(&f.nurse_icu)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let kinds: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["command_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("bed.command_acked", "c-90000"), ("bed.command", "c-90000")]
    );
    assert_eq!(v[0]["reason"], "bed in CPR mode");
    let (status, _) = get(&f, "/api/v1/beds/PUMP-0001/commands", Some(&f.admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_nurse_of_the_unit_sees_and_decides_bed_suggestions_never_without_someone_at_the_bedside()
{
    // Bed ICU-01 left raised for 5 minutes with nobody in the room: lowering it is suggested.
    let f = fixture_with(true, |h| {
        let raised = BedState {
            occupied: true,
            hob_deg: 30.0,
            height: BedHeight::Raised,
            brakes: true,
            rails: Rails::default(),
            exit_alarm: ExitAlarm::Armed,
            surface: Surface::Static,
            moving: false,
        };
        h.push(reading(1_004_500, "bed-icu-01", Payload::BedState(raised)));
        let mut ev = h.step(Timestamp(1_004_500));
        ev.extend(h.step(Timestamp(1_310_000)));
        ev
    })
    .await;
    let (status, list) = get(&f, "/api/v1/suggestions", Some(&f.nurse_icu)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["bed"], "BED-ICU-01");
    assert_eq!(list[0]["unit"], "ICU");
    assert_eq!(list[0]["set"], serde_json::json!({"height": "low"}));
    let id = list[0]["id"].as_str().unwrap().to_string();
    // Another unit's nurse sees none of it and may not decide it.
    let nurse_ms3 = f.nurse_ms3.clone();
    let (_, theirs) = get(&f, "/api/v1/suggestions", Some(&nurse_ms3)).await;
    assert_eq!(theirs, serde_json::json!([]));
    assert_eq!(
        get(&f, "/api/v1/suggestions?unit=ICU", Some(&nurse_ms3))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let confirm = format!("/api/v1/suggestions/{id}/confirm");
    let dismiss = format!("/api/v1/suggestions/{id}/dismiss");
    assert_eq!(
        post(&f, &confirm, &nurse_ms3, serde_json::json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Only nurses decide.
    assert_eq!(
        post(&f, &confirm, &f.admin, serde_json::json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    // Nobody in the room: refused, and it stays on offer.
    let (status, body) = post(&f, &confirm, &f.nurse_icu, serde_json::json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no caregiver badge is in F2-ICU-01"),
        "{body}"
    );
    assert_eq!(
        get(&f, "/api/v1/suggestions", Some(&f.nurse_icu)).await.1[0]["id"],
        id.as_str()
    );
    // A dismissal needs a reason.
    assert_eq!(
        post(
            &f,
            &dismiss,
            &f.nurse_icu,
            serde_json::json!({"reason": " "})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    let (status, done) = post(
        &f,
        &dismiss,
        &f.nurse_icu,
        serde_json::json!({"reason": "patient assessed, wants it raised"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["outcome"], "dismissed");
    assert_eq!(done["by"], "Nurse Ana");
    assert_eq!(
        get(&f, "/api/v1/suggestions", Some(&f.nurse_icu)).await.1,
        serde_json::json!([])
    );
    assert_eq!(
        post(&f, &confirm, &f.nurse_icu, serde_json::json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, audit) = get(&f, "/api/v1/audit", Some(&f.admin)).await;
    assert_eq!(audit[0]["action"], "dismiss suggestion", "{audit}");
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("patient assessed"),
        "{audit}"
    );
    // The decision is in the bed's history.
    let (_, events) = get(&f, "/api/v1/beds/BED-ICU-01/commands", Some(&f.nurse_icu)).await;
    assert_eq!(events[0]["kind"], "bed.suggestion_ended", "{events}");
    assert_eq!(events[1]["kind"], "bed.suggested", "{events}");
}

fn pump(
    at: i64,
    device: &str,
    state: orderly_model::reading::PumpState,
    runtime_hours: f64,
) -> Inbound {
    reading(
        at,
        device,
        Payload::PumpTelemetry(orderly_model::reading::PumpTelemetry {
            state,
            battery_pct: 95.0,
            on_battery: false,
            runtime_hours,
            occlusion_alarms_total: 2,
            downstream_psi: None,
            motor_current_ma: None,
            faults: vec![],
            infusion: None,
            soft_overrides_total: None,
            hard_stops_total: None,
        }),
    )
}

#[tokio::test]
async fn a_pump_past_its_runtime_interval_is_on_the_pull_list_with_its_room_and_an_infusing_one_is_not_pullable()
 {
    use orderly_model::reading::PumpState;
    // Pump 2 (in the ICU store) and pump 1 (at the bedside in F2-ICU-01, infusing) both pass
    // 2000 h of use since their last service point.
    let f = fixture_with(true, |h| {
        h.push(pump(1_004_100, "pump-0002", PumpState::Idle, 1999.0));
        h.push(pump(1_004_100, "pump-0001", PumpState::Infusing, 3999.0));
        let mut ev = h.step(Timestamp(1_004_100));
        h.push(pump(1_004_200, "pump-0002", PumpState::Idle, 2000.5));
        h.push(pump(1_004_200, "pump-0001", PumpState::Infusing, 4000.2));
        ev.extend(h.step(Timestamp(1_004_200)));
        ev.extend(h.step(Timestamp(1_070_000)));
        ev
    })
    .await;
    let biomed = f.biomed.clone();
    let (status, open) = get(
        &f,
        "/api/v1/maintenance/work-orders?status=open",
        Some(&biomed),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{open}");
    let mut got: Vec<(&str, &str)> = open
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["asset"].as_str().unwrap(), w["reason"].as_str().unwrap()))
        .collect();
    got.sort();
    assert_eq!(got, [("PUMP-0001", "runtime"), ("PUMP-0002", "runtime")]);
    assert_eq!(
        get(&f, "/api/v1/maintenance/work-orders", Some(&f.nurse_icu))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, list) = get(
        &f,
        "/api/v1/maintenance/pull-list?from=F1-BIOMED",
        Some(&biomed),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let item = |id: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["asset"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not on {list}"))
    };
    let p2 = item("PUMP-0002");
    assert_eq!(p2["room"], "F2-ICU-STORE");
    assert_eq!(p2["pullable"], true);
    assert_eq!(p2["risk"], "high");
    assert_eq!(p2["due"][0]["reason"], "runtime");
    let p1 = item("PUMP-0001");
    assert_eq!(p1["pullable"], false);
    assert!(p1["note"].as_str().unwrap().contains("infusing"), "{p1}");
    // The overdue scanner is due by date; the one due in 2027 is not listed.
    assert_eq!(item("BSC-OVERDUE")["due"][0]["reason"], "interval");
    assert!(!list.to_string().contains("BSC-LATER"));
    // The round: from the workshop through the rooms of what may be taken, not the bedside.
    let rooms: Vec<&str> = list["round"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["room"].as_str().unwrap())
        .collect();
    assert!(rooms.contains(&"F2-ICU-STORE"), "{rooms:?}");
    assert!(!rooms.contains(&"F2-ICU-01"), "{rooms:?}");
    assert!(list["metres"].as_f64().unwrap() > 0.0);
    assert_eq!(list["route"][0], "F1-BIOMED");
    assert_eq!(
        get(
            &f,
            "/api/v1/maintenance/pull-list?from=NOWHERE",
            Some(&biomed)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // Started: the pump is out of service and off the list; done: back, work order closed.
    let id = p2["due"][0]["work_order"].as_str().unwrap().to_string();
    let (status, w) = post(
        &f,
        &format!("/api/v1/maintenance/work-orders/{id}"),
        &biomed,
        serde_json::json!({"action": "start"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["status"], "in_progress");
    let (_, list) = get(
        &f,
        "/api/v1/maintenance/pull-list?from=F1-BIOMED",
        Some(&biomed),
    )
    .await;
    assert!(!list["items"].to_string().contains("PUMP-0002"), "{list}");
    let (_, asset) = get(&f, "/api/v1/assets/PUMP-0002", Some(&biomed)).await;
    assert_eq!(asset["status"], "out_of_service");
    assert_eq!(
        post(
            &f,
            &format!("/api/v1/maintenance/work-orders/{id}"),
            &biomed,
            serde_json::json!({"action": "start"}),
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (status, w) = post(
        &f,
        &format!("/api/v1/maintenance/work-orders/{id}"),
        &biomed,
        serde_json::json!({"action": "complete", "notes": "flow within 2%"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["status"], "done");
    assert_eq!(w["notes"][0]["text"], "flow within 2%");
    let (_, asset) = get(&f, "/api/v1/assets/PUMP-0002", Some(&biomed)).await;
    assert_eq!(asset["status"], "available");
    assert!(
        asset["maintenance"]["last_service"]["at"].is_string(),
        "{asset}"
    );
    // Pump 1's work order scheduled: on the engineers' calendar; the report counts pump 2's.
    let p1_order = p1["due"][0]["work_order"].as_str().unwrap().to_string();
    let (status, w) = post(
        &f,
        &format!("/api/v1/maintenance/work-orders/{p1_order}"),
        &biomed,
        serde_json::json!({"action": "schedule", "at": "1970-01-02T09:00:00Z", "assignee": "Bo Biomed"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let req = Request::get("/api/v1/maintenance/calendar.ics")
        .header("authorization", format!("Bearer {biomed}"))
        .body(Body::empty())
        .unwrap();
    let resp = router(f.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let cal = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(cal.contains(&format!("UID:{p1_order}@")), "{cal}");
    assert!(cal.contains("DTSTART:19700102T090000Z"), "{cal}");
    let (status, r) = get(
        &f,
        "/api/v1/maintenance/report?from=1970-01-01T00:00:00Z&to=1970-01-02T00:00:00Z",
        Some(&biomed),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["completion"][0]["risk"], "high", "{r}");
    assert_eq!(r["completion"][0]["due"], 2, "{r}");
    assert_eq!(r["completion"][0]["on_time"], 1, "{r}");
    assert_eq!(r["completion"][0]["pending"], 1, "{r}");
    // A nurse reports a repair; the same again is a conflict; nurses do not move work orders.
    let (status, w) = post(
        &f,
        "/api/v1/maintenance/work-orders",
        &f.nurse_icu,
        serde_json::json!({"asset": "PUMP-0003", "reason": "repair", "detail": "door latch broken"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    assert_eq!(w["opened_by"], "Nurse Ana");
    let again = post(
        &f,
        "/api/v1/maintenance/work-orders",
        &f.nurse_icu,
        serde_json::json!({"asset": "PUMP-0003", "reason": "repair"}),
    )
    .await;
    assert_eq!(again.0, StatusCode::CONFLICT, "{:?}", again.1);
    assert_eq!(
        post(
            &f,
            &format!(
                "/api/v1/maintenance/work-orders/{}",
                w["id"].as_str().unwrap()
            ),
            &f.nurse_icu,
            serde_json::json!({"action": "start"}),
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (_, audit) = get(&f, "/api/v1/audit", Some(&f.admin)).await;
    assert_eq!(audit[0]["action"], "open work order", "{audit}");
}

#[tokio::test]
async fn a_recall_takes_its_pumps_out_of_service_at_once_and_shows_its_progress() {
    let f = fixture(true).await;
    let biomed = f.biomed.clone();
    let notice = serde_json::json!({
        "title": "Occlusion sensor may fail",
        "model": "Alaris 8100 LVP",
        "serial_from": "PUMPSN-0001",
        "serial_to": "PUMPSN-0002",
        "detail": "replace the sensor board"
    });
    assert_eq!(
        post(
            &f,
            "/api/v1/maintenance/recalls",
            &f.nurse_icu,
            notice.clone()
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, v) = post(&f, "/api/v1/maintenance/recalls", &biomed, notice).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let id = v["recall"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        v["recall"]["assets"],
        serde_json::json!(["PUMP-0001", "PUMP-0002"])
    );
    assert_eq!(v["remaining"], 2);
    assert_eq!(v["items"][0]["status"], "out_of_service", "{v}");
    assert_eq!(v["items"][0]["room"], "F2-ICU-01");
    // Never offered by locate.
    let (_, found) = get(
        &f,
        "/api/v1/locate?kind=infusion_pump&near=F2-ICU-01&limit=50",
        Some(&f.nurse_icu),
    )
    .await;
    assert!(!found.to_string().contains("PUMP-0001"), "{found}");
    assert!(!found.to_string().contains("PUMP-0002"), "{found}");
    let (status, list) = get(&f, "/api/v1/maintenance/recalls", Some(&biomed)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["recall"]["id"], id.as_str());
    let bad = post(
        &f,
        "/api/v1/maintenance/recalls",
        &biomed,
        serde_json::json!({"title": "x", "model": "Alaris 8100 LVP", "serial_from": "B", "serial_to": "A"}),
    )
    .await;
    assert_eq!(bad.0, StatusCode::BAD_REQUEST, "{:?}", bad.1);
    let (status, closed) = post(
        &f,
        &format!("/api/v1/maintenance/recalls/{id}/close"),
        &biomed,
        serde_json::json!({"note": "done"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["recall"]["status"], "closed");
    let (_, list) = get(&f, "/api/v1/maintenance/recalls", Some(&biomed)).await;
    assert_eq!(list, serde_json::json!([]));
}

#[tokio::test]
async fn the_pages_load_without_a_token_but_hold_no_data() {
    let f = fixture(true).await;
    let resp = router(f.state.clone())
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8_lossy(&body);
    assert!(
        html.contains("/ui/app.js") && !html.contains("<script>"),
        "{html}"
    );
    let (status, js) = get(&f, "/ui/app.js", None).await;
    assert_eq!(status, StatusCode::OK);
    let js = js.as_str().unwrap().to_string();
    assert!(js.contains("/api/v1/me"));
    // Every module the shell imports, and every module those import, is served from here.
    let mut todo = vec![js];
    let mut served = std::collections::BTreeSet::new();
    while let Some(src) = todo.pop() {
        for part in src.split("from './").skip(1) {
            let name = part.split('\'').next().unwrap().to_string();
            if served.insert(name.clone()) {
                let (status, body) = get(&f, &format!("/ui/{name}"), None).await;
                assert_eq!(status, StatusCode::OK, "/ui/{name}");
                todo.push(body.as_str().unwrap().to_string());
            }
        }
    }
    assert!(
        ["common.js", "map.js", "station.js", "biomed.js"]
            .iter()
            .all(|m| served.contains(*m)),
        "{served:?}"
    );
    assert_eq!(
        get(&f, "/ui/secrets.txt", None).await.0,
        StatusCode::NOT_FOUND
    );
    // Everything the pages show needs a token: health_is_open_everything_else_needs_a_token.
}

#[tokio::test]
async fn the_pages_api_says_who_draws_the_floorplan_and_lists_staff() {
    let f = fixture(true).await;
    let (status, me) = get(&f, "/api/v1/me", Some(&f.nurse_icu)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["name"], "Nurse Ana");
    assert_eq!(me["role"], "nurse");
    assert_eq!(me["units"], serde_json::json!(["ICU"]));
    let (_, fp) = get(&f, "/api/v1/floorplan", Some(&f.nurse_icu)).await;
    let demo = Floorplan::parse("demo.toml", FLOORPLAN).unwrap();
    assert_eq!(fp["rooms"].as_array().unwrap().len(), demo.rooms.len());
    let levels: Vec<i64> = fp["floors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["level"].as_i64().unwrap())
        .collect();
    assert!(levels.windows(2).all(|w| w[0] <= w[1]), "{levels:?}");
    let icu01 = fp["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "F2-ICU-01")
        .unwrap();
    assert_eq!(icu01["unit"], "ICU");
    assert_eq!(icu01["rect"].as_array().unwrap().len(), 4);
    let icu = fp["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "ICU")
        .unwrap();
    assert_eq!(icu["station"], "F2-ICU-NS");
    let (_, staff) = get(&f, "/api/v1/staff", Some(&f.admin)).await;
    let seed = Seed::parse("demo-seed.toml", SEED).unwrap();
    assert_eq!(staff.as_array().unwrap().len(), seed.staff.len());
}

#[tokio::test]
async fn par_levels_count_ready_items_and_nurses_see_their_units() {
    use orderly_model::par::ParLevel;
    let level = |unit: &str, target, critical| ParLevel {
        unit: unit.into(),
        kind: "infusion_pump".into(),
        target,
        critical,
    };
    let f = fixture_with(true, |h| {
        let rules = h.rules().0;
        h.apply(orderly_world::Command::Rules {
            rules,
            config: Box::new(WorldConfig {
                par: vec![level("ICU", 3, 1), level("MS3", 1, 0)],
                ..WorldConfig::default()
            }),
        })
        .unwrap();
        h.step(Timestamp(1_010_000))
    })
    .await;
    let snap = f.state.snapshot();
    // Ready pumps heard in ICU rooms, as the snapshot has them.
    let ready = snap
        .assets
        .values()
        .filter(|a| a.kind == "infusion_pump")
        .filter(|a| {
            matches!(
                a.status,
                orderly_model::AssetStatus::Available | orderly_model::AssetStatus::Clean
            )
        })
        .filter(|a| {
            a.location
                .as_ref()
                .is_some_and(|l| l.present && l.unit.as_deref() == Some("ICU"))
        })
        .count() as u64;
    let (status, all) = get(&f, "/api/v1/par", Some(&f.admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let (_, mine) = get(&f, "/api/v1/par", Some(&f.nurse_icu)).await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    let icu = &mine[0];
    assert_eq!(icu["unit"], "ICU");
    assert_eq!(icu["ready"].as_u64().unwrap(), ready);
    let expected = if ready < 1 {
        "critical"
    } else if ready < 3 {
        "below_target"
    } else {
        "ok"
    };
    assert_eq!(icu["state"], expected, "{icu}");
    if expected != "ok" {
        // Short: where to pull from (a room outside the ICU with pumps to spare), or none.
        if let Some(room) = icu["pull_from"]["room"].as_str() {
            assert!(!room.starts_with("F2-ICU-"), "{icu}");
        }
    }
}

#[tokio::test]
async fn a_units_beds_show_their_patients_state_and_alerts_to_its_nurses_only() {
    let f = fixture(true).await;
    let (status, beds) = get(&f, "/api/v1/units/ICU/beds", Some(&f.nurse_icu)).await;
    assert_eq!(status, StatusCode::OK, "{beds}");
    let beds = beds.as_array().unwrap();
    let seed = Seed::parse("demo-seed.toml", SEED).unwrap();
    let icu_beds = seed
        .assets
        .iter()
        .filter(|a| a.kind == "bed" && a.unit.as_deref() == Some("ICU"))
        .count();
    assert_eq!(beds.len(), icu_beds);
    let b1 = beds.iter().find(|b| b["bed"] == "BED-ICU-01").unwrap();
    assert_eq!(b1["room"], "F2-ICU-01");
    assert_eq!(b1["patient"]["name"], "Ben Rossi");
    assert_eq!(b1["asset"]["bed"]["exit_alarm"], "alarming");
    // Located beds first, in room order; then the ones not located.
    let rooms: Vec<(bool, Option<&str>)> = beds
        .iter()
        .map(|b| (b["room"].is_null(), b["room"].as_str()))
        .collect();
    let mut sorted = rooms.clone();
    sorted.sort();
    assert_eq!(rooms, sorted);
    assert_eq!(beds[0]["bed"], "BED-ICU-01");
    // Alerts about the bed or its patient are with it, and only those.
    for b in beds {
        for a in b["alerts"].as_array().unwrap() {
            assert!(
                a["subject"] == b["bed"] || a["subject"] == b["patient"]["id"],
                "{a} on {}",
                b["bed"]
            );
        }
    }
    let (_, open) = get(&f, "/api/v1/alerts/open?unit=ICU", Some(&f.admin)).await;
    let about_b1 = open
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["subject"] == "BED-ICU-01" || a["subject"] == "P-1001")
        .count();
    assert_eq!(b1["alerts"].as_array().unwrap().len(), about_b1);
    // Another unit's nurse may not; reading patients is audited.
    assert_eq!(
        get(&f, "/api/v1/units/MS3/beds", Some(&f.nurse_icu))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&f, "/api/v1/units/XX/beds", Some(&f.admin)).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, audit) = get(&f, "/api/v1/audit", Some(&f.admin)).await;
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["target"] == "unit ICU beds"
                && a["who"].as_str().unwrap().contains("Nurse Ana")),
        "{audit}"
    );
}

/// Finding: during a database outage every authenticated request, live reads included, hung
/// about 22 s on its token lookup, and /readyz hung too. Now a token seen before keeps working
/// from its last answer, live views are served (their audit records wait for the database),
/// changes are refused at once with 503 and change nothing, and /readyz answers at once.
#[tokio::test]
async fn with_the_database_away_live_views_work_and_changes_are_refused_at_once() {
    let mut f = fixture(true).await;
    // Every request asks the database (no cache freshness), so the outage path is the one taken.
    f.state.database = orderly_api::outage::Database::new(Arc::new(AtomicBool::new(true)))
        .with_token_freshness(Duration::ZERO);
    let (st, _) = get(&f, "/api/v1/rooms/F2-ICU-01", Some(&f.nurse_icu)).await;
    assert_eq!(st, StatusCode::OK);
    let (_, open) = get(&f, "/api/v1/alerts/open?unit=ICU", Some(&f.nurse_icu)).await;
    let id = open[0]["id"].as_str().unwrap().to_string();

    f.state.store.close().await;
    let started = std::time::Instant::now();
    let (st, room) = get(&f, "/api/v1/rooms/F2-ICU-01", Some(&f.nurse_icu)).await;
    assert_eq!(st, StatusCode::OK, "{room}");
    assert_eq!(room["patients"][0]["id"], "P-1001");
    assert_eq!(
        f.state.database.pending_audit(),
        1,
        "the read's audit record waits"
    );
    let (st, e) = post(
        &f,
        &format!("/api/v1/alerts/{id}/acknowledge"),
        &f.nurse_icu,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("nothing was changed"),
        "{e}"
    );
    let (_, open) = get(&f, "/api/v1/alerts/open?unit=ICU", Some(&f.nurse_icu)).await;
    assert_eq!(open[0]["state"], "active", "{open}");
    // A token never seen cannot be checked: 503 that says so, not 401.
    let (st, e) = get(&f, "/api/v1/assets", Some(&f.biomed)).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("unreachable"),
        "{e}"
    );
    let (st, r) = get(&f, "/readyz", None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.to_string().contains("degraded"), "{r}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// The official FHIR R4 JSON Schema (tests/fhir/README.md), and a validator for one of its
/// definitions (compiled once per definition: compiling takes a while).
fn fhir_validator(definition: &str) -> Arc<jsonschema::Validator> {
    static CACHE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, Arc<jsonschema::Validator>>>,
    > = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(definition) {
        return v.clone();
    }
    let v = Arc::new(compile_fhir_validator(definition));
    cache
        .lock()
        .unwrap()
        .insert(definition.to_string(), v.clone());
    v
}

fn compile_fhir_validator(definition: &str) -> jsonschema::Validator {
    use std::io::Read;
    static SCHEMA: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let gz = include_bytes!("fhir/fhir.schema.json.gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        serde_json::from_str(&text).unwrap()
    });
    // `$ref` beside other keywords is read alone in draft 06, so the reference sits in allOf.
    let one = serde_json::json!({
        "$schema": "http://json-schema.org/draft-06/schema#",
        "allOf": [{"$ref": format!("#/definitions/{definition}")}],
        "definitions": schema["definitions"],
    });
    jsonschema::draft6::new(&one).expect("the FHIR schema compiles")
}

/// Valid against the FHIR R4 schema; kept for the round trip through the `fhir` crate.
fn fhir_valid(v: &serde_json::Value) {
    let kind = v["resourceType"].as_str().expect("a resourceType");
    let errors: Vec<String> = fhir_validator(kind)
        .iter_errors(v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{kind}: {}\n{v:#}", errors.join("\n"));
    // Kept for the round trip through the `fhir` crate's R4 types, which `cargo xtask ci` runs
    // apart (tests/fhir-roundtrip: that crate turns on serde_json's arbitrary_precision, which
    // would change how this workspace's own JSON reads).
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fhir-served");
    std::fs::create_dir_all(&dir).unwrap();
    let id = v["id"].as_str().unwrap_or("none");
    let name = format!("{kind}-{id}-{}.json", v.to_string().len());
    std::fs::write(dir.join(name), serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// Every entry of a searchset, and the Bundle itself.
fn fhir_bundle(b: &serde_json::Value) -> Vec<serde_json::Value> {
    assert_eq!(b["resourceType"], "Bundle", "{b}");
    assert_eq!(b["type"], "searchset");
    fhir_valid(b);
    let entries: Vec<serde_json::Value> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].clone())
        .collect();
    for r in &entries {
        fhir_valid(r);
    }
    entries
}

#[tokio::test]
async fn fhir_resources_are_valid_r4_and_searchable() {
    let f = fixture(true).await;
    let a = Some(f.admin.as_str());
    // The capability statement, without a token.
    let (status, cap) = get(&f, "/fhir/r4/metadata", None).await;
    assert_eq!(status, StatusCode::OK);
    fhir_valid(&cap);
    assert_eq!(cap["fhirVersion"], "4.0.1");

    // Locations: the whole site, partOf its way up; beds with their turnover.
    let (status, b) = get(&f, "/fhir/r4/Location?_count=1000", a).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let locations = fhir_bundle(&b);
    let fp = f.state.floorplan.clone();
    let beds = f
        .state
        .snapshot()
        .assets
        .values()
        .filter(|x| x.kind == "bed")
        .count();
    assert_eq!(
        locations.len(),
        1 + fp.buildings.len() + fp.floors.len() + fp.units.len() + fp.rooms.len() + beds
    );
    assert_eq!(b["total"], locations.len());
    let icu01 = locations
        .iter()
        .find(|l| l["id"] == "bed.BED-ICU-01")
        .expect("bed ICU-01");
    assert_eq!(icu01["physicalType"]["coding"][0]["code"], "bd");
    assert_eq!(icu01["operationalStatus"]["code"], "O", "occupied: {icu01}");
    assert!(
        icu01["partOf"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Location/room.")
    );
    let (_, rooms) = get(&f, "/fhir/r4/Location?type=ro&partof=Location/unit.ICU", a).await;
    let rooms = fhir_bundle(&rooms);
    assert!(!rooms.is_empty());
    assert!(
        rooms
            .iter()
            .all(|r| r["partOf"]["reference"] == "Location/unit.ICU")
    );

    // Devices: where each is, paged.
    let (_, page) = get(&f, "/fhir/r4/Device?_count=5", a).await;
    let first = fhir_bundle(&page);
    assert_eq!(first.len(), 5);
    let next = page["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .expect("a next page")["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = &next[next.find("/fhir/").unwrap()..];
    let (_, page2) = get(&f, path, a).await;
    let second = fhir_bundle(&page2);
    assert!(
        second.iter().all(|d| !first.contains(d)),
        "pages do not repeat"
    );
    let (_, here) = get(&f, "/fhir/r4/Device?location=room.F2-ICU-01", a).await;
    let here = fhir_bundle(&here);
    assert!(
        here.iter()
            .any(|d| d["identifier"][0]["value"] == "PUMP-0001"),
        "pump 1 is in F2-ICU-01: {here:?}"
    );
    let (status, pump) = get(&f, "/fhir/r4/Device/asset.PUMP-0001", a).await;
    assert_eq!(status, StatusCode::OK);
    fhir_valid(&pump);
    assert_eq!(pump["location"]["reference"], "Location/room.F2-ICU-01");
    let (_, pumps) = get(&f, "/fhir/r4/Device?type=infusion_pump&status=active", a).await;
    assert!(
        fhir_bundle(&pumps)
            .iter()
            .all(|d| d["type"]["coding"][0]["code"] == "infusion_pump")
    );
    let (_, by_id) = get(
        &f,
        "/fhir/r4/Device?identifier=urn:orderly:asset|PUMP-0001",
        a,
    )
    .await;
    assert_eq!(fhir_bundle(&by_id).len(), 1);

    // Patients and encounters: admins see all, a nurse her unit's, biomed none; audited.
    let (_, all) = get(&f, "/fhir/r4/Patient?_count=1000", a).await;
    let all = fhir_bundle(&all);
    assert!(all.len() > 10);
    let (_, icu) = get(&f, "/fhir/r4/Encounter?_count=1000", Some(&f.nurse_icu)).await;
    let icu = fhir_bundle(&icu);
    assert!(!icu.is_empty() && icu.len() < all.len());
    assert!(icu.iter().all(|e| {
        e["location"][0]["location"]["reference"]
            .as_str()
            .unwrap()
            .contains("ICU")
    }));
    let (status, _) = get(&f, "/fhir/r4/Patient", Some(&f.biomed)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let ms3_patient = all
        .iter()
        .find(|p| {
            !icu.iter().any(|e| {
                e["subject"]["reference"] == format!("Patient/{}", p["id"].as_str().unwrap())
            })
        })
        .unwrap();
    let (status, oo) = get(
        &f,
        &format!("/fhir/r4/Patient/{}", ms3_patient["id"].as_str().unwrap()),
        Some(&f.nurse_icu),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another unit's patient");
    fhir_valid(&oo);
    let audit = f.state.store.audit_log(50).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "fhir.search" && e.target == "Patient")
    );

    // Bad searches: 400 with an OperationOutcome naming the parameter.
    for (uri, says) in [
        ("/fhir/r4/Device?colour=red", "colour"),
        ("/fhir/r4/Device?_count=0", "_count"),
        ("/fhir/r4/Location?_lastUpdated=yesterday", "_lastUpdated"),
        ("/fhir/r4/Patient?location=x", "location"),
    ] {
        let (status, oo) = get(&f, uri, a).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {oo}");
        fhir_valid(&oo);
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert!(
            oo["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains(says),
            "{oo}"
        );
    }
    let (status, oo) = get(&f, "/fhir/r4/Observation", a).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    fhir_valid(&oo);
    let (status, oo) = get(&f, "/fhir/r4/Device", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    fhir_valid(&oo);
}
