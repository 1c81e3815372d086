//! Alerts out to a hospital alert manager (IHE PCD ACM over MLLP), against a stand-in alert
//! manager written here from the specifications: its own MLLP framing (0x0B ... 0x1C 0x0D),
//! its own segment and field splitting, its own acknowledgements and alert statuses. Nothing
//! of Orderly's HL7 code is used.

use orderly_tests::{Device, Setup, free_port, now_rfc3339};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// How the stand-in answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Accept,
    /// AE with a reason.
    Error,
    /// AR with a reason.
    Reject,
    /// Bytes that are no HL7 acknowledgement.
    Garbage,
    /// Nothing at all (once; then it accepts).
    SilentOnce,
}

/// One ORU^R40 as the stand-in read it.
#[derive(Clone, Debug)]
struct Got {
    at: Instant,
    control_id: String,
    alert: String,
    phase: String,
    inactivation: String,
    priority_flags: String,
    patient: String,
    location: String,
    text: String,
}

/// Splits an HL7 message the simplest way the standard allows with the default separators.
fn fields(message: &str, segment: &str) -> Vec<Vec<String>> {
    message
        .split('\r')
        .filter(|s| s.starts_with(&format!("{segment}|")))
        .map(|s| s.split('|').map(str::to_string).collect())
        .collect()
}

fn field(f: &[String], n: usize) -> String {
    f.get(n).cloned().unwrap_or_default()
}

fn read(message: &str) -> Got {
    let msh = fields(message, "MSH").remove(0);
    let obr = fields(message, "OBR").remove(0);
    let obx = fields(message, "OBX");
    let facet = |code: &str| {
        obx.iter()
            .find(|f| field(f, 3).starts_with(code))
            .map(|f| field(f, 5))
            .unwrap_or_default()
    };
    Got {
        at: Instant::now(),
        // MSH-1 is the separator itself, so MSH-10 is the 10th field counting it.
        control_id: field(&msh, 9),
        alert: field(&obr, 3).split('^').next().unwrap_or("").to_string(),
        phase: facet("68481"),
        inactivation: facet("68483"),
        priority_flags: obx.first().map(|f| field(f, 8)).unwrap_or_default(),
        patient: fields(message, "PID")
            .first()
            .map(|f| field(f, 5))
            .unwrap_or_default(),
        location: fields(message, "PV1")
            .first()
            .map(|f| field(f, 3))
            .unwrap_or_default(),
        text: obx.first().map(|f| field(f, 5)).unwrap_or_default(),
    }
}

/// Reads one MLLP frame's text; None when the connection ends.
fn read_frame(s: &mut impl Read) -> Option<String> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match s.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => return None,
        }
        if got.ends_with(&[0x1c, 0x0d]) {
            break;
        }
    }
    let start = got.iter().position(|b| *b == 0x0b)?;
    Some(String::from_utf8_lossy(&got[start + 1..got.len() - 2]).to_string())
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

fn frame(text: &str) -> Vec<u8> {
    let mut f = vec![0x0b];
    f.extend_from_slice(text.as_bytes());
    f.extend_from_slice(&[0x1c, 0x0d]);
    f
}

struct StandIn {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    answer: Arc<Mutex<Answer>>,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    /// Serves TLS with this configuration.
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl StandIn {
    fn start() -> StandIn {
        Self::start_with(None)
    }

    /// A stand-in that speaks MLLP over TLS with the certificate and key in `dir`.
    fn start_tls(dir: &std::path::Path) -> StandIn {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        let certs: Vec<CertificateDer> =
            CertificateDer::pem_slice_iter(&std::fs::read(dir.join("server.pem")).unwrap())
                .map(|c| c.unwrap())
                .collect();
        let key =
            PrivateKeyDer::from_pem_slice(&std::fs::read(dir.join("server.key")).unwrap()).unwrap();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        Self::start_with(Some(Arc::new(config)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> StandIn {
        let s = StandIn {
            port: free_port(),
            got: Default::default(),
            answer: Arc::new(Mutex::new(Answer::Accept)),
            up: Arc::new(AtomicBool::new(false)),
            conns: Default::default(),
            tls,
        };
        s.listen();
        s
    }

    /// Listens (again) on its port.
    fn listen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("the stand-in binds");
        self.up.store(true, Ordering::SeqCst);
        let (got, answer, up, conns, tls) = (
            self.got.clone(),
            self.answer.clone(),
            self.up.clone(),
            self.conns.clone(),
            self.tls.clone(),
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if !up.load(Ordering::SeqCst) {
                    return; // the listener closes with this thread
                }
                let Ok(tcp) = conn else { continue };
                conns.lock().unwrap().push(tcp.try_clone().unwrap());
                let (got, answer, tls) = (got.clone(), answer.clone(), tls.clone());
                std::thread::spawn(move || {
                    let mut conn: Box<dyn ReadWrite> = match tls {
                        None => Box::new(tcp),
                        Some(config) => Box::new(rustls::StreamOwned::new(
                            rustls::ServerConnection::new(config).unwrap(),
                            tcp,
                        )),
                    };
                    while let Some(text) = read_frame(&mut conn) {
                        let g = read(&text);
                        let control = g.control_id.clone();
                        got.lock().unwrap().push(g);
                        let mode = *answer.lock().unwrap();
                        if mode == Answer::SilentOnce {
                            *answer.lock().unwrap() = Answer::Accept;
                            continue;
                        }
                        let reply = match mode {
                            Answer::SilentOnce | Answer::Accept => ack("AA", &control, ""),
                            Answer::Error => ack("AE", &control, "unknown bed"),
                            Answer::Reject => ack("AR", &control, "not configured for this unit"),
                            Answer::Garbage => "HELLO? THIS IS NOT HL7".to_string(),
                        };
                        if conn.write_all(&frame(&reply)).is_err() {
                            return;
                        }
                    }
                });
            }
        });
    }

    /// Goes away: stops listening and drops every connection.
    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        // Until the accept thread has returned, a connection could still be accepted.
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn of(&self, alert: &str) -> Vec<Got> {
        self.got()
            .into_iter()
            .filter(|g| g.alert == alert)
            .collect()
    }
}

fn ack(code: &str, control: &str, why: &str) -> String {
    format!(
        "MSH|^~\\&|STANDIN|GH|ORDERLY|GH|20261205120000||ACK^R40^ACK|A{control}|P|2.6\rMSA|{code}|{control}|{why}\r"
    )
}

/// The stand-in's alert status for `alert` (ORU^R42), sent to Orderly's HL7 listener; the
/// acknowledgement code it got.
pub(crate) fn report_status(
    hl7: &str,
    alert: &str,
    status: &str,
    person: &str,
    device: &str,
) -> String {
    let mut s = TcpStream::connect(hl7).expect("Orderly's HL7 listener");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let msg = format!(
        "MSH|^~\\&|STANDIN|GH|ORDERLY|GH|20261205120005||ORU^R42^ORU_R01|S{}|P|2.6\r\
         OBR|1||{alert}|196616^MDC_EVT_ALARM^MDC\r\
         OBX|1|ST|ALERT_STATUS^ALERT_STATUS|1.0.0.0.1|{status}||||||F|||{}||{person}||{device}\r",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        chrono::Utc::now().format("%Y%m%d%H%M%S+0000"),
    );
    s.write_all(&frame(&msg)).unwrap();
    let answer = read_frame(&mut s).expect("an acknowledgement");
    let msa = fields(&answer, "MSA").remove(0);
    field(&msa, 1)
}

/// A fall reported by the wearable's own detector.
pub(crate) fn fall(dev: &Device, o: &orderly_tests::Orderly, wearable: &str) {
    dev.json(
        &o.topic(&format!("wearable/{wearable}/event")),
        &json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95}),
    );
}

fn open_alert(o: &orderly_tests::Orderly, id: &str) -> Option<Value> {
    let (_, open) = o.get("/api/v1/alerts/open");
    open.as_array()?.iter().find(|a| a["id"] == id).cloned()
}

/// Orderly's open technical alert that a destination is unreachable, if any.
pub(crate) fn technical(o: &orderly_tests::Orderly) -> Option<Value> {
    let (_, open) = o.get("/api/v1/alerts/open");
    open.as_array()?
        .iter()
        .find(|a| a["rule"] == "orderly.integration-unreachable")
        .cloned()
}

/// Waits until Orderly has reached the alert manager.
fn connected(o: &orderly_tests::Orderly) {
    o.wait_until("the alert manager connected", T, || {
        o.get("/api/v1/integrations").1["destinations"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["reachable"] == true))
    });
}

fn falls(o: &orderly_tests::Orderly) -> Vec<String> {
    let (_, a) = o.get("/api/v1/units/ICU/alerts");
    a.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["priority"] == "high")
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

/// A fall reaches the alert manager within 200 ms of its commit; the station's
/// acknowledgement follows; the alert manager's "accepted by" shows on the alert; with the
/// alert manager away for two minutes a technical alert is raised after one, and once it is
/// back every state change arrives once, in order.
#[test]
fn alerts_reach_the_alert_manager_once_in_order_through_an_outage() {
    let am = StandIn::start();
    let mut setup = Setup::new();
    setup.args = vec![
        "--hl7".into(),
        "127.0.0.1:0".into(),
        "--alert-manager".into(),
        format!("standin=127.0.0.1:{}", am.port),
    ];
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    connected(&o);

    // A fall: the ORU^R40 arrives within 200 ms of the commit (the stream hears of the alert
    // only after its commit).
    let publisher = {
        let dev = Device::connect(&o.mqtt, None);
        let topic = o.topic("wearable/W-1002/event");
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            dev.json(
                &topic,
                &json!({"ts": now_rfc3339(), "type": "fall", "confidence": 0.95}),
            );
            dev
        })
    };
    let mut heard_at = None;
    let raised = o.stream("kind=alert.raised&unit=ICU", T, |e| {
        if !e.is_empty() && heard_at.is_none() {
            heard_at = Some(Instant::now());
        }
        !e.is_empty()
    });
    let _ = publisher.join();
    let heard_at = heard_at.expect("the fall's alert on the stream");
    let id = raised[0]["id"].as_str().unwrap().to_string();
    o.wait_until("the ORU^R40 of the fall", T, || !am.of(&id).is_empty());
    let first = am.of(&id)[0].clone();
    let lag = first.at.saturating_duration_since(heard_at);
    assert!(
        lag <= Duration::from_millis(200),
        "the alert manager got the fall {lag:?} after the stream did"
    );
    assert_eq!(first.phase, "start");
    assert_eq!(first.inactivation, "enabled");
    assert_eq!(first.priority_flags, "PH~SP", "high, physiological");
    assert!(first.location.starts_with("ICU^"), "{}", first.location);
    assert!(!first.patient.is_empty(), "the patient is named");
    assert!(first.text.contains("fall"), "{}", first.text);
    eprintln!("fall to alert manager: {lag:?} after the stream");

    // The station acknowledges: the state change follows.
    let (code, _) = o.post(&format!("/api/v1/alerts/{id}/acknowledge"), &json!({}));
    assert_eq!(code, 200);
    o.wait_until("the acknowledgement at the alert manager", T, || {
        am.of(&id)
            .iter()
            .any(|g| g.inactivation == "alert-acknowledged")
    });

    // The alert manager reports a nurse accepted it on her phone: shown on the alert.
    let hl7 = o.hl7.clone().expect("HL7 listener");
    assert_eq!(
        report_status(&hl7, &id, "Accepted", "N55^Lima^Ana^^^Nurse", "phone 4411"),
        "AA"
    );
    let a = open_alert(&o, &id).expect("still open");
    let d = &a["dispositions"][0];
    assert_eq!(
        (d["status"].as_str(), d["by"].as_str(), d["device"].as_str()),
        (Some("accepted"), Some("Nurse Ana Lima"), Some("phone 4411")),
        "{a}"
    );
    // A status of no open alert is an error the alert manager can read.
    assert_eq!(
        report_status(&hl7, "no-such-alert", "Delivered", "", ""),
        "AE"
    );
    // The disposition was not sent back to the alert manager.
    let before_outage = am.got().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(am.got().len(), before_outage);

    // Two minutes away. Meanwhile: two more falls, one acknowledged, the first resolved.
    let (_, head) = o.get("/api/v1/integrations");
    let cursor_before = head["destinations"][0]["cursor"].as_u64().unwrap();
    // Orderly may see the connection drop before `down` returns (it waits for the listener to
    // close): the minute counts from the first moment it could.
    let down_at = Instant::now();
    am.down();
    fall(&dev, &o, "W-1003");
    fall(&dev, &o, "W-1004");
    o.wait_until("three falls", T, || falls(&o).len() == 3);
    let others: Vec<String> = falls(&o).into_iter().filter(|f| *f != id).collect();
    let (code, _) = o.post(
        &format!("/api/v1/alerts/{}/acknowledge", others[0]),
        &json!({}),
    );
    assert_eq!(code, 200);
    let (code, _) = o.post(
        &format!("/api/v1/alerts/{id}/resolve"),
        &json!({"reason": "assessed, no injury"}),
    );
    assert_eq!(code, 200);

    // After a minute: a technical alert to admins and biomed, and the backlog is visible.
    let technical = || technical(&o);
    std::thread::sleep(Duration::from_secs(50));
    assert!(technical().is_none(), "not before a minute");
    o.wait_until("the technical alert", Duration::from_secs(30), || {
        technical().is_some()
    });
    let t = technical().unwrap();
    let raised_after = down_at.elapsed();
    assert!(
        raised_after >= Duration::from_secs(60) && raised_after < Duration::from_secs(75),
        "raised {raised_after:?} after the alert manager went away"
    );
    assert_eq!(t["audience"], json!(["role:admin", "role:biomed"]));
    assert!(
        t["message"].as_str().unwrap().contains("standin"),
        "{}",
        t["message"]
    );
    let (_, status) = o.get("/api/v1/integrations");
    let d = &status["destinations"][0];
    assert_eq!(d["reachable"], false, "{status}");
    assert!(d["backlog"].as_u64().unwrap() >= 4, "{status}");
    assert!(d["problem"].is_string(), "{status}");

    // Back after two minutes: everything arrives, once, in order.
    while down_at.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    am.listen();
    let expected: Vec<Value> = o.stream(
        &format!("after={cursor_before}&kind=alert.raised,alert.updated,alert.acknowledged,alert.escalated,alert.reminder,alert.silenced,alert.unsilenced,alert.resolved"),
        Duration::from_secs(5),
        |_| false,
    );
    let ids: Vec<u64> = expected
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    o.wait_until("the backlog delivered", T, || {
        let got = am.got();
        ids.iter().all(|seq| {
            got.iter()
                .any(|g| g.control_id.ends_with(&format!("-{seq}")))
        })
    });
    o.wait_until("the technical alert resolved", T, || technical().is_none());
    let got = am.got();
    // Once: no control id twice.
    let mut controls: Vec<&str> = got.iter().map(|g| g.control_id.as_str()).collect();
    controls.sort();
    let n = controls.len();
    controls.dedup();
    assert_eq!(controls.len(), n, "a state change arrived twice");
    // In order: as the events were committed.
    let after: Vec<u64> = got
        .iter()
        .filter_map(|g| g.control_id.rsplit('-').next()?.parse().ok())
        .filter(|seq| *seq > cursor_before)
        .collect();
    let mut sorted = after.clone();
    sorted.sort();
    assert_eq!(after, sorted, "the backlog arrived out of order");
    // The first fall ended (phase end) after its acknowledgement.
    let phases: Vec<String> = am.of(&id).into_iter().map(|g| g.phase).collect();
    assert_eq!(phases.last().map(String::as_str), Some("end"), "{phases:?}");
    let technical_seen = got
        .iter()
        .any(|g| g.alert.starts_with("orderly.integration-unreachable"));
    assert!(
        technical_seen,
        "the technical alert itself reached the alert manager once it was back"
    );
    o.stop();
}

/// An alert manager that answers AE, AR or garbage: the message is parked with the reason,
/// never lost, and the alerts behind it still go.
#[test]
fn refused_messages_are_parked_with_the_reason_and_block_nothing() {
    let am = StandIn::start();
    let mut setup = Setup::new();
    setup.args = vec![
        "--alert-manager".into(),
        format!("standin=127.0.0.1:{}", am.port),
        "--alert-manager-ack-timeout".into(),
        "2s".into(),
    ];
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    connected(&o);
    let parked = || -> Vec<Value> {
        o.get("/api/v1/integrations").1["parked"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for (answer, wearable, reason) in [
        (
            Answer::Reject,
            "W-1002",
            "rejected (AR): not configured for this unit",
        ),
        (Answer::Error, "W-1003", "error (AE): unknown bed"),
        (Answer::Garbage, "W-1004", "unreadable answer"),
    ] {
        *am.answer.lock().unwrap() = answer;
        let before = parked().len();
        fall(&dev, &o, wearable);
        o.wait_until(&format!("{answer:?} parked"), T, || parked().len() > before);
        let p = &parked()[0];
        assert!(
            p["reason"].as_str().unwrap().contains(reason),
            "{answer:?}: {p}"
        );
        assert!(p["seq"].as_u64().unwrap() > 0);
    }
    // An alert manager that says nothing: the message is sent again (same control id) once
    // the answer is overdue, and never parked.
    *am.answer.lock().unwrap() = Answer::SilentOnce;
    let before = am.got().len();
    fall(&dev, &o, "W-1006");
    o.wait_until("sent again after no answer", T, || {
        am.got().len() >= before + 2
    });
    let again = am.got();
    assert_eq!(
        again[before].control_id,
        again[before + 1].control_id,
        "the same message, the same control id"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(parked().len(), 3, "not parked");

    // The alert manager is fine again: the next alert goes at once.
    *am.answer.lock().unwrap() = Answer::Accept;
    let (_, ids_before) = o.get("/api/v1/units/ICU/alerts");
    let known: Vec<Value> = ids_before.as_array().unwrap().clone();
    fall(&dev, &o, "W-1005");
    o.wait_until("a fifth fall", T, || falls(&o).len() == 5);
    let new = falls(&o)
        .into_iter()
        .find(|f| !known.iter().any(|k| k["id"] == *f))
        .unwrap();
    o.wait_until("the fourth fall at the alert manager", T, || {
        !am.of(&new).is_empty()
    });
    let (_, status) = o.get("/api/v1/integrations");
    assert_eq!(status["destinations"][0]["parked"], 3, "{status}");
    assert_eq!(status["destinations"][0]["reachable"], true, "{status}");
    o.stop();
}

/// What was committed and not yet taken by the alert manager is sent after Orderly restarts.
#[test]
fn the_backlog_survives_a_restart() {
    let am = StandIn::start();
    let mut setup = Setup::new();
    setup.args = vec![
        "--alert-manager".into(),
        format!("standin=127.0.0.1:{}", am.port),
    ];
    let o = setup.start();
    connected(&o);
    am.down();
    let dev = Device::connect(&o.mqtt, None);
    fall(&dev, &o, "W-1002");
    o.wait_until("the fall", T, || falls(&o).len() == 1);
    let id = falls(&o).remove(0);
    o.wait_until("a backlog of one", T, || {
        o.get("/api/v1/integrations").1["destinations"][0]["backlog"] == 1
    });
    dev.close();
    o.stop();
    assert!(am.of(&id).is_empty());

    am.listen();
    let o = setup.start();
    o.wait_until("the fall sent after the restart", T, || {
        !am.of(&id).is_empty()
    });
    let got = am.of(&id);
    assert_eq!(got.len(), 1, "once");
    assert_eq!(got[0].phase, "start");
    o.wait_until("no backlog", T, || {
        o.get("/api/v1/integrations").1["destinations"][0]["backlog"] == 0
    });
    o.stop();
}

/// An alert manager over TLS (`[[alert_manager]]` with `tls_ca`): alerts reach it through the
/// handshake; a manager whose certificate the configured CA did not sign is never sent
/// anything, and says why.
#[test]
fn alert_managers_are_reached_over_tls_and_a_wrong_ca_is_refused() {
    let mut setup = Setup::new();
    let dir = setup.dir.path().to_path_buf();
    crate::security::certificates(&dir);
    let am = StandIn::start_tls(&dir);
    let config = dir.join("orderly.toml");
    std::fs::write(
        &config,
        format!(
            "[[alert_manager]]\nname = \"secure\"\naddress = \"127.0.0.1:{port}\"\ntls_ca = {ca:?}\nserver_name = \"127.0.0.1\"\n\n\
             [[alert_manager]]\nname = \"wrong-ca\"\naddress = \"127.0.0.1:{port}\"\ntls_ca = {other:?}\nserver_name = \"127.0.0.1\"\n",
            port = am.port,
            ca = dir.join("ca.pem").display().to_string(),
            other = dir.join("other-ca.pem").display().to_string(),
        ),
    )
    .unwrap();
    setup.args = vec!["--config".into(), config.display().to_string()];
    let o = setup.start();
    let status = |name: &str| -> Value {
        let (_, s) = o.get("/api/v1/integrations");
        s["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["destination"] == format!("alert-manager:{name}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    o.wait_until("the secure manager reached", T, || {
        status("secure")["reachable"] == true
    });
    o.wait_until("the wrong CA refused", T, || {
        status("wrong-ca")["problem"]
            .as_str()
            .is_some_and(|p| p.contains("TLS"))
    });
    let dev = Device::connect(&o.mqtt, None);
    fall(&dev, &o, "W-1002");
    o.wait_until("the fall", T, || falls(&o).len() == 1);
    let id = falls(&o).remove(0);
    o.wait_until("the fall over TLS", T, || !am.of(&id).is_empty());
    assert_eq!(am.of(&id).len(), 1, "only the manager it trusts got it");
    assert_eq!(status("wrong-ca")["reachable"], false);
    o.stop();
}
