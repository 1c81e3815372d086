//! The demo's alert manager: it takes Orderly's ORU^R40 over MLLP as a hospital's would, answers
//! each with an ACK, and reports back to Orderly's HL7 listener what its phones did with each new
//! alert about a patient: delivered to a nurse's phone of the unit within seconds, then accepted
//! (or, now and then, rejected and passed on). So a fresh demo's station shows who has an alert.
//! Not a test double: the tests use their own stand-in, written apart from Orderly's HL7 code.

use orderly_hl7::mllp::{Decoder, frame};
use orderly_hl7::{AckCode, Message, ack};
use orderly_model::Seed;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A nurse and the extension of her phone.
#[derive(Clone)]
struct Phone {
    nurse: (String, String, String),
    ext: String,
    units: Vec<String>,
}

/// Serves Orderly's alert reports on `listener` until shutdown; statuses go to `hl7`.
pub async fn run(
    listener: TcpListener,
    hl7: SocketAddr,
    seed: &Seed,
    mut shutdown: watch::Receiver<bool>,
) {
    let phones: Vec<Phone> = seed
        .staff
        .iter()
        .filter(|s| matches!(s.role.as_str(), "nurse" | "charge_nurse"))
        .enumerate()
        .map(|(i, s)| {
            let (given, family) = s.name.rsplit_once(' ').unwrap_or(("", &s.name));
            Phone {
                nurse: (s.id.clone(), family.to_string(), given.to_string()),
                ext: format!("phone {}", 4400 + i),
                units: s.units.clone(),
            }
        })
        .collect();
    let mut n: u64 = 0;
    loop {
        let (sock, _) = tokio::select! {
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            _ = shutdown.changed() => return,
        };
        let (phones, stop) = (phones.clone(), shutdown.clone());
        n += 1;
        tokio::spawn(connection(sock, hl7, phones, n * 1_000_000, stop));
    }
}

async fn connection(
    mut sock: TcpStream,
    hl7: SocketAddr,
    phones: Vec<Phone>,
    mut counter: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut dec = Decoder::new(1 << 20);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = sock.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            _ = shutdown.changed() => return,
        };
        let Ok(frames) = dec.push(&buf[..n]) else {
            return;
        };
        for f in frames {
            let text = orderly_hl7::message::decode(&f);
            let Ok(m) = Message::parse(&text) else {
                continue;
            };
            counter += 1;
            let now = crate::census_feed::hl7_now();
            let reply = ack(Some(&m), AckCode::Aa, None, &now, &format!("PH{counter}"));
            if sock.write_all(&frame(reply.as_bytes())).await.is_err() {
                return;
            }
            let phase = m
                .all("OBX")
                .find(|s| m.get_in(s, 3, 1).as_deref() == Some("68481"))
                .and_then(|s| m.get_in(s, 5, 1));
            let unit = m.get("PV1", 3, 1).unwrap_or_default();
            let alert = m.get("OBR", 3, 1).unwrap_or_default();
            // New alerts about a patient's condition go to a phone of the unit.
            let about_patient = m
                .all("OBX")
                .next()
                .is_some_and(|s| m.repetitions(s, 8).contains(&"SP"));
            if phase.as_deref() != Some("start") || !about_patient || alert.is_empty() {
                continue;
            }
            let mine: Vec<&Phone> = phones.iter().filter(|p| p.units.contains(&unit)).collect();
            let Some(first) = mine.get((counter as usize) % mine.len().max(1)).copied() else {
                continue;
            };
            let second = mine
                .get((counter as usize + 1) % mine.len().max(1))
                .copied()
                .unwrap_or(first);
            let (a, one, two, stop) = (
                alert.clone(),
                first.clone(),
                second.clone(),
                shutdown.clone(),
            );
            tokio::spawn(async move {
                let say = |status: &'static str, p: Phone, after: u64| {
                    let a = a.clone();
                    let mut stop = stop.clone();
                    async move {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(after)) => {}
                            _ = stop.changed() => return,
                        }
                        if let Err(e) = report(hl7, &a, status, &p).await {
                            tracing::debug!(error = %e, "demo alert manager: status not sent");
                        }
                    }
                };
                say("Delivered", one.clone(), 2).await;
                if counter.is_multiple_of(5) {
                    // Busy: she declines; the next nurse takes it.
                    say("Rejected", one, 6).await;
                    say("Delivered", two.clone(), 1).await;
                    say("Accepted", two, 5).await;
                } else {
                    say("Accepted", one, 6 + counter % 10).await;
                }
            });
        }
    }
}

/// One alert status (ORU^R42) to Orderly's HL7 listener.
async fn report(hl7: SocketAddr, alert: &str, status: &str, p: &Phone) -> std::io::Result<()> {
    let now = crate::census_feed::hl7_now();
    let (id, family, given) = &p.nurse;
    let msg = format!(
        "MSH|^~\\&|DEMO-PHONES|GH|ORDERLY|GH|{now}||ORU^R42^ORU_R01|DP{now}{status}|P|2.6\r\
         OBR|1||{alert}|196616^MDC_EVT_ALARM^MDC\r\
         OBX|1|ST|ALERT_STATUS^ALERT_STATUS|1.0.0.0.1|{status}||||||F|||{now}||{id}^{family}^{given}^^^Nurse||{}\r",
        p.ext
    );
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(hl7))
        .await
        .map_err(|_| std::io::Error::other("no connection"))??;
    s.write_all(&frame(msg.as_bytes())).await?;
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
    Ok(())
}
