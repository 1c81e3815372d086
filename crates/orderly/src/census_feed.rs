//! The demo's interface engine: an HL7 v2 feed over MLLP into Orderly's listener, so the demo's
//! census and bed board move. Each minute it may admit a patient into a ready bed (an A01,
//! then their Morse and Braden scores as an ORU^R01), discharge one it admitted after their
//! stay (A03), transfer one to another ready bed (A02), send a new Morse score, and chart a few
//! patients' vital signs (ORU^R01, LOINC codes), sometimes a worrying set. It reads
//! which beds are ready from Orderly's bed board, like a bed manager would.

use anyhow::{Context, Result, anyhow};
use orderly_model::census::CensusMap;
use orderly_mqtt::client::wall_clock;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// A patient the feed admitted, and when.
#[derive(Clone)]
struct Stay {
    mrn: String,
    name: String,
    admitted_ms: i64,
    /// Minutes they stay.
    stay_min: i64,
}

struct Feed {
    rng: StdRng,
    /// Unique across demo runs (the database outlives them): wall-clock seconds at start.
    run: i64,
    sent: u64,
    stays: Vec<Stay>,
}

const GIVEN: &[&str] = &[
    "Amara", "Bilal", "Chen", "Dora", "Emeka", "Freya", "Goran", "Hana", "Ines", "Jonas",
];
const FAMILY: &[&str] = &[
    "Adeyemi", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jansen",
];

/// Runs the feed until shutdown: one round a minute.
pub async fn run(
    hl7: SocketAddr,
    http: SocketAddr,
    token: String,
    map: Arc<CensusMap>,
    seed: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut feed = Some(Feed {
        rng: StdRng::seed_from_u64(seed ^ 0x4c37),
        run: wall_clock().millis() / 1000,
        sent: 0,
        stays: Vec::new(),
    });
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
        let (mut f, token, map) = (
            feed.take().expect("the feed's state"),
            token.clone(),
            map.clone(),
        );
        let (f, r) = match tokio::task::spawn_blocking(move || {
            let r = round(&mut f, hl7, http, &token, &map);
            (f, r)
        })
        .await
        {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "simulated interface engine stopped");
                return;
            }
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "simulated interface engine round failed");
        }
        feed = Some(f);
    }
}

pub(crate) fn hl7_now() -> String {
    orderly_api::census::hl7_time(wall_clock())
}

impl Feed {
    fn control(&mut self) -> String {
        self.sent += 1;
        format!("SIM{}-{}", self.run, self.sent)
    }
    fn msh(&mut self, kind: &str) -> String {
        format!(
            "MSH|^~\\&|SIMEHR|DEMO|ORDERLY|DEMO|{}||{kind}|{}|P|2.5.1",
            hl7_now(),
            self.control()
        )
    }
    fn adt(&mut self, trigger: &str, s: &Stay, location: &str) -> String {
        let (family, given) = s.name.split_once(' ').map_or(("", ""), |(g, f)| (f, g));
        format!(
            "{}\rEVN|{trigger}|{}\rPID|1||{}^^^DEMO^MR||{family}^{given}||19500101|U\rPV1|1|I|{location}||||9000^Attending^Demo||||||||||||V{}",
            self.msh(&format!("ADT^{trigger}")),
            hl7_now(),
            s.mrn,
            s.mrn
        )
    }
    fn scores(&mut self, s: &Stay, morse: u8, braden: Option<u8>) -> String {
        let now = hl7_now();
        let mut m = format!(
            "{}\rPID|1||{}^^^DEMO^MR\rOBR|1|||RISK^Risk assessment\rOBX|1|NM|59460-6^Fall risk total [Morse Fall Scale]^LN||{morse}||||||F|||{now}",
            self.msh("ORU^R01"),
            s.mrn
        );
        if let Some(b) = braden {
            m.push_str(&format!(
                "\rOBX|2|NM|38227-5^Braden scale total score^LN||{b}||||||F|||{now}"
            ));
        }
        m
    }
}

/// Sends messages on one MLLP connection; each must be acknowledged AA.
fn send(hl7: SocketAddr, messages: &[String]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let mut s = TcpStream::connect_timeout(&hl7, Duration::from_secs(5))
        .with_context(|| format!("connecting to the HL7 listener {hl7}"))?;
    s.set_read_timeout(Some(Duration::from_secs(15)))?;
    for m in messages {
        s.write_all(&orderly_hl7::mllp::frame((m.clone() + "\r").as_bytes()))?;
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while !got.ends_with(&[0x1c, 0x0d]) {
            if s.read(&mut b)? == 0 {
                return Err(anyhow!("the HL7 listener closed the connection"));
            }
            got.push(b[0]);
        }
        let ack = String::from_utf8_lossy(&got);
        if !ack.contains("MSA|AA|") {
            tracing::warn!(ack = %ack.replace('\r', " / "), "simulated HL7 message not applied");
        }
    }
    Ok(())
}

fn round(
    f: &mut Feed,
    hl7: SocketAddr,
    http: SocketAddr,
    token: &str,
    map: &CensusMap,
) -> Result<()> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let board: serde_json::Value = agent
        .get(format!("http://{http}/api/v1/beds/availability"))
        .header("Authorization", format!("Bearer {token}"))
        .call()?
        .body_mut()
        .read_json()?;
    let mut ready: Vec<String> = Vec::new();
    let mut occupied: Vec<String> = Vec::new();
    for u in board.as_array().into_iter().flatten() {
        for b in u["beds"].as_array().into_iter().flatten() {
            if let Some(p) = b["patient"].as_str() {
                occupied.push(p.to_string());
            }
            if b["state"] == "ready"
                && let Some(bed) = b["bed"].as_str()
                && map.location_of(bed).is_some()
            {
                ready.push(bed.to_string());
            }
        }
    }
    let loc = |bed: &str| {
        map.location_of(bed)
            .map(|(p, r, b)| format!("{p}^{r}^{b}^DEMO"))
    };
    let now = wall_clock().millis();
    let mut out = Vec::new();
    // Discharges: stays that are over, one a round.
    if let Some(i) = f
        .stays
        .iter()
        .position(|s| now - s.admitted_ms >= s.stay_min * 60_000)
    {
        let s = f.stays.remove(i);
        let m = f.adt("A03", &s, "");
        out.push(m);
    }
    // An admission into a ready bed, about every other minute, then the nurse's scores.
    if !ready.is_empty() && f.rng.random_bool(0.5) {
        let bed = ready.remove(f.rng.random_range(0..ready.len()));
        let n = f.sent + 1;
        let s = Stay {
            mrn: format!("{}{n:03}", f.run % 100_000),
            name: format!(
                "{} {}",
                GIVEN[f.rng.random_range(0..GIVEN.len())],
                FAMILY[f.rng.random_range(0..FAMILY.len())]
            ),
            admitted_ms: now,
            stay_min: f.rng.random_range(20..90),
        };
        if let Some(l) = loc(&bed) {
            let a = f.adt("A01", &s, &l);
            out.push(a);
            let morse = [0u8, 15, 25, 35, 45, 55, 70, 85][f.rng.random_range(0..8)];
            let braden = f.rng.random_range(9..=23);
            let o = f.scores(&s, morse, Some(braden));
            out.push(o);
            f.stays.push(s);
        }
    }
    // Now and then a transfer to another ready bed, or a new Morse score.
    if !f.stays.is_empty() {
        let i = f.rng.random_range(0..f.stays.len());
        if !ready.is_empty() && f.rng.random_bool(0.15) {
            let bed = ready.remove(f.rng.random_range(0..ready.len()));
            if let Some(l) = loc(&bed) {
                let stay = f.stays[i].clone();
                out.push(f.adt("A02", &stay, &l));
            }
        } else if f.rng.random_bool(0.2) {
            let stay = f.stays[i].clone();
            let morse = [15u8, 35, 55, 85][f.rng.random_range(0..4)];
            out.push(f.scores(&stay, morse, None));
        }
    }
    // Nurses' observation rounds charted in the EHR: a few patients' vital signs each minute
    // (each patient about every 10 minutes on a 54-bed demo), now and then a worrying set.
    for _ in 0..occupied.len().div_ceil(10) {
        let id = occupied[f.rng.random_range(0..occupied.len())].clone();
        let worry = f.rng.random_bool(0.08);
        let (rr, spo2, sbp, hr, temp) = if worry {
            (
                f.rng.random_range(21..27),
                f.rng.random_range(91..95),
                f.rng.random_range(92..112),
                f.rng.random_range(95..125),
                f.rng.random_range(381..395) as f64 / 10.0,
            )
        } else {
            (
                f.rng.random_range(13..19),
                f.rng.random_range(95..100),
                f.rng.random_range(112..145),
                f.rng.random_range(60..88),
                f.rng.random_range(362..377) as f64 / 10.0,
            )
        };
        let now = hl7_now();
        let msh = f.msh("ORU^R01");
        out.push(format!(
            "{msh}\rPID|1||{id}\rOBR|1|||VITALS^Observations^L\r\
             OBX|1|NM|9279-1^Respiratory rate^LN||{rr}|/min|||||F|||{now}\r\
             OBX|2|NM|59408-5^SpO2^LN||{spo2}|%|||||F|||{now}\r\
             OBX|3|NM|3151-8^Inhaled oxygen flow rate^LN||0|L/min|||||F|||{now}\r\
             OBX|4|NM|8480-6^Systolic blood pressure^LN||{sbp}|mm[Hg]|||||F|||{now}\r\
             OBX|5|NM|8867-4^Heart rate^LN||{hr}|/min|||||F|||{now}\r\
             OBX|6|NM|8310-5^Body temperature^LN||{temp:.1}|Cel|||||F|||{now}\r\
             OBX|7|ST|ACVPU^Level of consciousness^GH||A||||||F|||{now}"
        ));
    }
    tracing::debug!(messages = out.len(), "simulated interface engine round");
    send(hl7, &out)
}
