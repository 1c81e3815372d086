//! The census over real TCP: an interface engine's HL7 v2 messages over MLLP, with a client
//! written here from the specifications (MLLP: 0x0B, the message, 0x1C 0x0D; HL7: segments
//! ended by CR, MSA-1 the acknowledgement code and MSA-2 the control id it answers), not with
//! Orderly's framing or parser. What each message did is read back through the API.

use orderly_tests::Setup;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One MLLP connection, as an interface engine holds it (plain TCP, or TLS).
pub(crate) struct Engine<S = TcpStream>(S);

impl Engine {
    pub(crate) fn connect(addr: &str) -> Engine {
        let s = TcpStream::connect(addr).expect("connect to Orderly's HL7 listener");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Engine(s)
    }
}

/// One message (segments given one per line) in its MLLP frame.
pub(crate) fn frame(segments: &str) -> Vec<u8> {
    let body = segments.trim().replace('\n', "\r") + "\r";
    let mut frame = vec![0x0b];
    frame.extend_from_slice(body.as_bytes());
    frame.extend_from_slice(&[0x1c, 0x0d]);
    frame
}

impl<S: Read + Write> Engine<S> {
    /// Sends one message (segments given one per line) and reads its acknowledgement.
    pub(crate) fn send(&mut self, segments: &str) -> Ack {
        self.0.write_all(&frame(segments)).unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            let n = self.0.read(&mut byte).expect("an acknowledgement in time");
            assert!(n == 1, "the connection closed before an acknowledgement");
            got.push(byte[0]);
            if got.ends_with(&[0x1c, 0x0d]) {
                break;
            }
        }
        assert_eq!(got[0], 0x0b, "an MLLP frame starts with 0x0B");
        let text = String::from_utf8_lossy(&got[1..got.len() - 2]).to_string();
        Ack::read(&text)
    }
}

pub(crate) struct Ack {
    pub(crate) code: String,
    pub(crate) control_id: String,
    err: Option<String>,
    pub(crate) text: String,
}

impl Ack {
    fn read(text: &str) -> Ack {
        let seg = |name: &str| {
            text.split('\r')
                .find(|s| s.starts_with(&format!("{name}|")))
                .map(str::to_string)
        };
        let msa = seg("MSA").unwrap_or_else(|| panic!("no MSA in {text:?}"));
        let f: Vec<&str> = msa.split('|').collect();
        Ack {
            code: f.get(1).unwrap_or(&"").to_string(),
            control_id: f.get(2).unwrap_or(&"").to_string(),
            err: seg("ERR"),
            text: text.replace('\r', "\n"),
        }
    }
}

fn msh(trigger: &str, control: &str) -> String {
    let kind = if trigger == "R01" { "ORU" } else { "ADT" };
    format!("MSH|^~\\&|EPIC|GH|ORDERLY|GH|20261205080000||{kind}^{trigger}|{control}|P|2.5.1")
}

/// An ADT message whose event happened at 08:`minute` (EVN-2).
pub(crate) fn adt(
    trigger: &str,
    control: &str,
    minute: u32,
    mrn: &str,
    name: &str,
    location: &str,
) -> String {
    format!(
        "{}\nEVN|{trigger}|202612050{}{minute:02}00\nPID|1||{mrn}^^^GH^MR||{name}||19480301|F\nPV1|1|I|{location}||||1234^Welby^Marcus||||||||||||V{control}",
        msh(trigger, control),
        8
    )
}

pub(crate) fn patient_in(o: &orderly_tests::Orderly, unit: &str, bed: &str) -> Value {
    let (status, beds) = o.get(&format!("/api/v1/units/{unit}/beds"));
    assert_eq!(status, 200, "{beds}");
    beds.as_array()
        .unwrap()
        .iter()
        .find(|b| b["bed"] == bed)
        .map(|b| b["patient"].clone())
        .unwrap_or(Value::Null)
}

/// Admit, assess, transfer, swap, discharge and their repeats over one MLLP connection: each
/// acknowledged AA only once committed and seen at once through the API; a repeated control id
/// acknowledged again without a second change, even after a kill -9; a message Orderly cannot
/// apply answered AE with where and why, and kept for the interface analyst.
#[test]
fn the_census_follows_the_interface_engine_and_each_message_is_applied_once() {
    let mut setup = Setup::new();
    setup.args = vec!["--hl7".into(), "127.0.0.1:0".into()];
    let o = setup.start();
    let addr = o.hl7.clone().expect("the HL7 listener's address");
    let mut engine = Engine::connect(&addr);

    // Admitted to ICU room 205 (BED-ICU-05, empty in the demo): in the bed at once, not yet
    // assessed.
    let ack = engine.send(&adt("A01", "C1", 1, "55501", "Okafor^Nia", "ICU^205^A^GH"));
    assert_eq!(
        (ack.code.as_str(), ack.control_id.as_str()),
        ("AA", "C1"),
        "{}",
        ack.text
    );
    let p = patient_in(&o, "ICU", "BED-ICU-05");
    assert_eq!(p["id"], "GH-55501", "{p}");
    assert_eq!(p["name"], "Nia Okafor");
    assert_eq!(p["record"]["unassessed"], json!(["morse", "braden"]));

    // A Morse score and a local ventilation code arrive as observations.
    let oru = format!(
        "{}\nPID|1||55501^^^GH^MR||Okafor^Nia\nOBR|1|||FALLRISK\nOBX|1|NM|59460-6^Fall risk total [Morse Fall Scale]^LN||60||||||F|||20261205080500\nOBX|2|ST|VENT^Ventilated^GH||Y||||||F|||20261205080500",
        msh("R01", "C2")
    );
    let ack = engine.send(&oru);
    assert_eq!(ack.code, "AA", "{}", ack.text);
    let p = patient_in(&o, "ICU", "BED-ICU-05");
    assert_eq!(
        (p["morse"].as_u64(), p["ventilated"].as_bool()),
        (Some(60), Some(true)),
        "{p}"
    );

    // Transferred to room 211 (BED-ICU-11, empty): out of 205, in 211.
    let ack = engine.send(&adt("A02", "C3", 6, "55501", "Okafor^Nia", "ICU^211^A^GH"));
    assert_eq!(ack.code, "AA", "{}", ack.text);
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-05"), Value::Null);
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-11")["id"], "GH-55501");

    // A location the census map does not know: AE naming PV1-3, nothing changed, kept.
    let ack = engine.send(&adt("A02", "C4", 7, "55501", "Okafor^Nia", "ZZ^999^Q"));
    assert_eq!(ack.code, "AE", "{}", ack.text);
    let err = ack.err.expect("an ERR segment");
    assert!(err.contains("PV1^1^3"), "{err}");
    // The location's ^ written with HL7's escape (\S\) inside the ERR field.
    assert!(
        err.contains("ZZ\\S\\999\\S\\Q is not in the census map"),
        "{err}"
    );
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-11")["id"], "GH-55501");
    let (status, rejected) = o.get("/api/v1/integration/hl7/rejected");
    assert_eq!(status, 200, "{rejected}");
    let r = &rejected[0];
    assert_eq!(
        (r["control_id"].as_str(), r["code"].as_str()),
        (Some("C4"), Some("AE")),
        "{r}"
    );
    assert!(r["problem"].as_str().unwrap().starts_with("PV1-3: "), "{r}");

    // A17: the patient of ICU-01 (a seed patient, known by id) swaps beds with ours.
    let swap = format!(
        "{}\nEVN|A17|20261205081000\nPID|1||P-1001||Rossi^Ben\nPV1|1|I|ICU^211^A^GH\nPID|2||55501^^^GH^MR||Okafor^Nia\nPV1|2|I|ICU^201^A^GH",
        msh("A17", "C5")
    );
    let ack = engine.send(&swap);
    assert_eq!(ack.code, "AA", "{}", ack.text);
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-01")["id"], "GH-55501");
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-11")["id"], "P-1001");

    // Discharged; the same message sent again is acknowledged again and applied once.
    let discharge = adt("A03", "C6", 12, "55501", "Okafor^Nia", "ICU^201^A^GH");
    assert_eq!(engine.send(&discharge).code, "AA");
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-01"), Value::Null);
    let again = engine.send(&discharge);
    assert_eq!(
        (again.code.as_str(), again.control_id.as_str()),
        ("AA", "C6")
    );
    let discharged = |o: &orderly_tests::Orderly| {
        o.stream(
            "after=0&kind=patient.discharged",
            Duration::from_secs(3),
            |_| false,
        )
        .len()
    };
    assert_eq!(discharged(&o), 1);

    // Killed as if it crashed after committing, the engine resends on a new connection (it
    // never saw the ACK): acknowledged, still applied once.
    drop(engine);
    o.kill();
    let o = setup.start();
    let mut engine = Engine::connect(o.hl7.as_deref().unwrap());
    let again = engine.send(&discharge);
    assert_eq!(
        (again.code.as_str(), again.control_id.as_str()),
        ("AA", "C6"),
        "{}",
        again.text
    );
    assert_eq!(discharged(&o), 1);
    // The census came back as it was: P-1001 in 211, nobody in 201 or 205.
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-11")["id"], "P-1001");
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-01"), Value::Null);
    // A13 brings the discharged patient back into their bed.
    let ack = engine.send(&adt("A13", "C7", 13, "55501", "Okafor^Nia", "ICU^201^A^GH"));
    assert_eq!(ack.code, "AA", "{}", ack.text);
    let p = patient_in(&o, "ICU", "BED-ICU-01");
    assert_eq!(
        (p["id"].as_str(), p["morse"].as_u64()),
        (Some("GH-55501"), Some(60)),
        "{p}"
    );
}

/// The same operations over REST, for hospitals without an interface engine: admit, assess,
/// transfer, discharge; nurses only on their units; what is refused says why.
#[test]
fn nurses_admit_assess_transfer_and_discharge_over_the_api() {
    let setup = Setup::new();
    let o = setup.start();
    let nurse = setup.token("nurse", "Nurse Jo", "ICU");
    let other = setup.token("nurse", "Nurse Al", "MS3");
    let (s, b) = o.post_as(
        "/api/v1/patients",
        &nurse,
        &json!({"id": "MRN-77", "name": "Ada King", "bed": "BED-ICU-05", "morse": 50, "braden": 14}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["detail"], "admitted to BED-ICU-05");
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-05")["morse"], 50);
    // A fall wearable's model must be one the seed lists (where it is worn decides how its
    // falls are read), and comes with the wearable.
    let (s, b) = o.post_as(
        "/api/v1/patients",
        &nurse,
        &json!({"id": "MRN-78", "name": "Al Moss", "bed": "BED-ICU-06", "wearable": "W-78", "wearable_model": "Orderly Band"}),
    );
    assert_eq!(s, 400, "{b}");
    let m = b["message"].as_str().unwrap();
    assert!(
        m.contains("\"Orderly Band\" is not one the seed lists") && m.contains("Orderly Clip"),
        "{b}"
    );
    let (s, b) = o.post_as(
        "/api/v1/patients",
        &nurse,
        &json!({"id": "MRN-78", "name": "Al Moss", "bed": "BED-ICU-06", "wearable_model": "Orderly Clip"}),
    );
    assert_eq!(s, 400, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("without a wearable"),
        "{b}"
    );
    // Another unit's nurse may not move this patient; a taken bed is a conflict.
    let (s, b) = o.post_as(
        "/api/v1/patients/MRN-77/transfer",
        &other,
        &json!({"bed": "BED-MS3-06"}),
    );
    assert_eq!(s, 403, "{b}");
    let (s, b) = o.post_as(
        "/api/v1/patients/MRN-77/transfer",
        &nurse,
        &json!({"bed": "BED-ICU-02"}),
    );
    assert_eq!(s, 409, "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("taken by patient P-1002"),
        "{b}"
    );
    let (s, b) = o.post_as(
        "/api/v1/patients/MRN-77/assess",
        &nurse,
        &json!({"morse": 130}),
    );
    assert_eq!(s, 400, "{b}");
    let (s, b) = o.post_as(
        "/api/v1/patients/MRN-77/assess",
        &nurse,
        &json!({"morse": 20, "isolation": "Contact"}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["detail"], "Morse 50 -> 20, isolation: contact");
    let p = patient_in(&o, "ICU", "BED-ICU-05");
    assert_eq!(
        (p["morse"].as_u64(), p["record"]["isolation"].as_str()),
        (Some(20), Some("contact"))
    );
    let (s, b) = o.post_as(
        "/api/v1/patients/MRN-77/transfer",
        &nurse,
        &json!({"bed": "BED-ICU-11"}),
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-11")["id"], "MRN-77");
    let (s, b) = o.post_as("/api/v1/patients/MRN-77/discharge", &nurse, &json!({}));
    assert_eq!(s, 200, "{b}");
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-11"), Value::Null);
    let (s, _) = o.post_as("/api/v1/patients/MRN-77/discharge", &nurse, &json!({}));
    assert_eq!(s, 404);
    // Each change is in the audit log with who made it.
    let (_, log) = o.get("/api/v1/audit?limit=50");
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["who"].as_str().is_some_and(|w| w.contains("Nurse Jo")))
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in ["admit", "assess", "transfer", "discharge"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

/// A discharge starts the bed's turnover: the bed board and the environmental-services
/// worklist show it dirty, a tap moves it through cleaning to ready, a supervisor blocks it
/// with a reason, and the turnaround report counts it.
#[test]
fn a_discharged_bed_is_turned_over_on_the_bed_board_and_the_worklist() {
    let setup = Setup::new();
    let o = setup.start();
    let evs = setup.token("facilities", "Sami Ito", "");
    let nurse = setup.token("nurse", "Nurse Jo", "ICU");
    let (s, b) = o.post("/api/v1/patients/P-1003/discharge", &json!({}));
    assert_eq!(s, 200, "{b}");
    let state = |o: &orderly_tests::Orderly| {
        let (_, board) = o.get("/api/v1/beds/availability?unit=ICU");
        let icu = &board[0];
        let bed = icu["beds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["bed"] == "BED-ICU-03")
            .cloned()
            .unwrap();
        (
            bed["state"].as_str().unwrap().to_string(),
            icu["counts"].clone(),
        )
    };
    let (st, counts) = state(&o);
    assert_eq!(st, "dirty");
    assert_eq!(counts["dirty"], 1, "{counts}");
    let (_, work) = o.get_as("/api/v1/beds/worklist", &evs);
    assert_eq!(work[0]["bed"], "BED-ICU-03", "{work}");
    assert_eq!(work[0]["reason"], "patient left");
    // A nurse may not start the cleaning; environmental services may. Ready before clean is
    // refused with why.
    let (s, _) = o.post_as(
        "/api/v1/beds/BED-ICU-03/turnover",
        &nurse,
        &json!({"action": "start_cleaning"}),
    );
    assert_eq!(s, 403);
    let (s, b) = o.post_as(
        "/api/v1/beds/BED-ICU-03/turnover",
        &evs,
        &json!({"action": "start_cleaning"}),
    );
    assert_eq!((s, b["state"].as_str()), (200, Some("cleaning")), "{b}");
    let (s, b) = o.post_as(
        "/api/v1/beds/BED-ICU-03/turnover",
        &nurse,
        &json!({"action": "ready"}),
    );
    assert_eq!(s, 409, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("needs it clean"),
        "{b}"
    );
    let (s, _) = o.post_as(
        "/api/v1/beds/BED-ICU-03/turnover",
        &evs,
        &json!({"action": "cleaned"}),
    );
    assert_eq!(s, 200);
    let (s, b) = o.post_as(
        "/api/v1/beds/BED-ICU-03/turnover",
        &nurse,
        &json!({"action": "ready"}),
    );
    assert_eq!((s, b["state"].as_str()), (200, Some("ready")), "{b}");
    assert_eq!(state(&o).0, "ready");
    let (_, work) = o.get_as("/api/v1/beds/worklist", &evs);
    assert!(
        work.as_array()
            .unwrap()
            .iter()
            .all(|w| w["bed"] != "BED-ICU-03"),
        "{work}"
    );
    // Blocked with a reason (none: refused), shown on the board.
    let (s, _) = o.post_as(
        "/api/v1/beds/BED-ICU-03/turnover",
        &evs,
        &json!({"action": "block"}),
    );
    assert_eq!(s, 400);
    let (s, _) = o.post_as(
        "/api/v1/beds/BED-ICU-03/turnover",
        &evs,
        &json!({"action": "block", "reason": "side rail broken"}),
    );
    assert_eq!(s, 200);
    assert_eq!(state(&o).0, "blocked");
    // The turnaround report counts the bed turned, as JSON and CSV.
    let (s, rows) = o.get("/api/v1/reports/turnaround");
    assert_eq!(s, 200, "{rows}");
    let icu = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == "ICU")
        .cloned()
        .unwrap();
    assert_eq!(icu["turned"], 1, "{icu}");
    assert!(
        icu["vacated_to_ready_median_min"].as_f64().is_some(),
        "{icu}"
    );
    let (s, csv) = o.get("/api/v1/reports/turnaround?format=csv");
    assert_eq!(s, 200);
    assert!(csv.as_str().unwrap().contains("\nICU,1,"), "{csv}");
}

/// Sends one message over TLS to `addr`, trusting the CA of `crate::security::certificates`
/// in `dir` and checking the certificate's name (127.0.0.1), and reads its acknowledgement.
pub(crate) fn tls_send(dir: &std::path::Path, addr: &str, segments: &str) -> Ack {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots.add(c.unwrap()).unwrap();
    }
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Engine(rustls::StreamOwned::new(conn, tcp)).send(segments)
}

/// `orderly run`'s flags for HL7 over TLS with the certificate of
/// `crate::security::certificates` in `dir`, on a free port.
pub(crate) fn hl7_tls_args(dir: &std::path::Path) -> Vec<String> {
    vec![
        "--hl7".into(),
        "127.0.0.1:0".into(),
        "--hl7-tls-cert".into(),
        dir.join("server.pem").display().to_string(),
        "--hl7-tls-key".into(),
        dir.join("server.key").display().to_string(),
    ]
}

/// HL7 over TLS (`--hl7-tls-cert`, `--hl7-tls-key`): a client that trusts the hospital's CA
/// sends its messages and gets its ACKs; a plain-TCP client gets no ACK and is counted.
#[test]
fn hl7_over_tls_is_served_and_plain_tcp_is_refused() {
    let mut setup = Setup::new();
    let dir = setup.dir.path().to_path_buf();
    crate::security::certificates(&dir);
    setup.args = hl7_tls_args(&dir);
    let o = setup.start();
    let addr = o.hl7.clone().expect("the HL7 listener's address");
    let ack = tls_send(
        &dir,
        &addr,
        &adt("A01", "T1", 1, "880", "Okafor^Nia", "ICU^205^A"),
    );
    assert_eq!(
        (ack.code.as_str(), ack.control_id.as_str()),
        ("AA", "T1"),
        "{}",
        ack.text
    );
    assert_eq!(patient_in(&o, "ICU", "BED-ICU-05")["id"], "GH-880");
    // Plain TCP: no acknowledgement, the connection closed, counted.
    let frame = frame(&adt("A01", "T2", 1, "881", "Okafor^Nia", "ICU^205^A"));
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = plain.write_all(&frame);
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..n]).contains("MSA"),
        "a plain-TCP message was acknowledged"
    );
    o.wait_until("the refusal counted", Duration::from_secs(10), || {
        let text = o.get("/metrics").1;
        text.as_str()
            .is_some_and(|t| t.contains("orderly_hl7_refused_total{reason=\"tls_handshake\"} 1"))
    });
}

/// A nurse's observation set charted in the EHR arrives as ORU^R01 (LOINC vital signs): it is
/// scored as a spot check at once, NEWS2 shows on the bed and its band is alerted.
#[test]
fn vital_signs_charted_in_the_ehr_arrive_as_oru_and_are_scored_at_once() {
    let mut setup = Setup::new();
    setup.args = vec!["--hl7".into(), "127.0.0.1:0".into()];
    let o = setup.start();
    let mut engine = Engine::connect(o.hl7.as_deref().unwrap());
    // P-1002: RR 24 (2), SpO2 94 (1), air (flow 0), SBP 105 (1), HR 95 (1), alert, 98.6 °F:
    // NEWS2 5. Observed five minutes ago (a spot check older than `[vitals] max_age_min` is
    // not scored, so the time is now's, never a fixed date).
    let when = (chrono::Utc::now() - chrono::Duration::minutes(5))
        .format("%Y%m%d%H%M%S")
        .to_string();
    let oru = format!(
        "{}\nPID|1||P-1002||Petrov^Ada\nOBR|1|||VITALS\nOBX|1|NM|9279-1^Respiratory rate^LN||24|/min|||||F|||{when}\nOBX|2|NM|59408-5^SpO2^LN||94|%|||||F|||{when}\nOBX|3|NM|3151-8^Inhaled oxygen flow rate^LN||0|L/min|||||F|||{when}\nOBX|4|NM|8480-6^Systolic^LN||105|mm[Hg]|||||F|||{when}\nOBX|5|NM|8867-4^Heart rate^LN||95|/min|||||F|||{when}\nOBX|6|NM|8310-5^Body temperature^LN||98.6|[degF]|||||F|||{when}\nOBX|7|ST|ACVPU^Level of consciousness^GH||A||||||F|||{when}",
        msh("R01", "V1")
    );
    let ack = engine.send(&oru);
    assert_eq!(ack.code, "AA", "{}", ack.text);
    o.wait_until("NEWS2 on the bed", Duration::from_secs(10), || {
        patient_in(&o, "ICU", "BED-ICU-02")["news2"]["aggregate"] == 5
    });
    let alerts = o.stream(
        "after=0&kind=alert.raised&unit=ICU",
        Duration::from_secs(10),
        |e| e.iter().any(|a| a["rule"] == "news2-medium"),
    );
    assert!(
        alerts.iter().any(|a| a["rule"] == "news2-medium"),
        "{alerts:?}"
    );
    // An impossible value is refused with where and why, and scores nothing.
    let bad = format!(
        "{}\nPID|1||P-1002||Petrov^Ada\nOBX|1|NM|59408-5^SpO2^LN||140|%|||||F",
        msh("R01", "V2")
    );
    let ack = engine.send(&bad);
    assert_eq!(ack.code, "AE", "{}", ack.text);
    assert!(ack.err.unwrap().contains("spo2"), "{}", ack.text);
}
