//! The listener over real TCP, driven by a client written here from the MLLP and HL7 v2
//! specifications (bytes 0x0B .. 0x1C 0x0D; MSA-1 the third field of the MSA line), not with
//! the crate's own framing or parser.

use orderly_hl7::{CensusMessage, Problem};
use orderly_mllp::{Census, Config, Refusal, Rejection, Stats, serve};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct Recorder {
    applied: Mutex<Vec<String>>,
    rejected: Mutex<Vec<Rejection>>,
}

impl Census for Recorder {
    async fn apply(&self, m: CensusMessage) -> Result<(), Refusal> {
        if let CensusMessage::Adt { visit, .. } = &m
            && visit
                .location
                .as_ref()
                .is_some_and(|l| l.point_of_care == "NOWHERE")
        {
            return Err(Refusal::Problem(Problem::new(
                "PV1",
                3,
                103,
                "location NOWHERE is not in the location map",
            )));
        }
        self.applied
            .lock()
            .unwrap()
            .push(m.header().control_id.clone());
        Ok(())
    }
    fn now_hl7(&self) -> String {
        "20261205120000".into()
    }
    async fn rejected(&self, r: Rejection) {
        self.rejected.lock().unwrap().push(r);
    }
}

async fn start(
    cfg: Config,
) -> (
    String,
    Arc<Recorder>,
    Arc<Stats>,
    tokio::sync::watch::Sender<bool>,
) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let census = Arc::new(Recorder::default());
    let stats = Arc::new(Stats::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(serve(l, census.clone(), cfg, stats.clone(), rx));
    (addr, census, stats, tx)
}

fn admit(control: &str, poc: &str, version: &str) -> String {
    format!(
        "MSH|^~\\&|EHR|GH|ORDERLY|GH|20261205115900||ADT^A01^ADT_A01|{control}|P|{version}\rEVN|A01|20261205115900\rPID|1||4711^^^GH^MR||Petrov^Ada||19600101|F\rPV1|1|I|{poc}^0201^1^GH\r"
    )
}

/// Sends one framed message (in two writes, split mid-message) and reads one framed answer.
async fn exchange(c: &mut TcpStream, msg: &str) -> String {
    let mut wire = vec![0x0b];
    wire.extend_from_slice(msg.as_bytes());
    wire.extend_from_slice(&[0x1c, 0x0d]);
    let half = wire.len() / 2;
    c.write_all(&wire[..half]).await.unwrap();
    c.flush().await.unwrap();
    c.write_all(&wire[half..]).await.unwrap();
    read_frame(c).await
}

async fn read_frame(c: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut b))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(n == 1, "connection closed before an answer");
        got.push(b[0]);
        if got.ends_with(&[0x1c, 0x0d]) {
            break;
        }
    }
    assert_eq!(got[0], 0x0b, "the answer starts with 0x0B");
    String::from_utf8(got[1..got.len() - 2].to_vec()).unwrap()
}

/// MSA-1 and MSA-2 of an answer, and its ERR line if any.
fn msa(answer: &str) -> (String, String, Option<String>) {
    let line = |name: &str| {
        answer
            .split('\r')
            .find(|l| l.starts_with(name))
            .map(str::to_string)
    };
    let m = line("MSA|").expect("an MSA segment");
    let f: Vec<&str> = m.split('|').collect();
    (f[1].to_string(), f[2].to_string(), line("ERR|"))
}

/// Reads until the server closes the connection (true) or 10 s pass (false).
async fn closed_by_server(c: &mut TcpStream) -> bool {
    let mut b = [0u8; 256];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), c.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn an_admission_is_applied_then_acknowledged_and_a_bad_one_is_answered_with_where_and_why() {
    let (addr, census, stats, _stop) = start(Config::default()).await;
    let mut c = TcpStream::connect(&addr).await.unwrap();
    let a = exchange(&mut c, &admit("C1", "ICU", "2.5.1")).await;
    assert_eq!(msa(&a), ("AA".into(), "C1".into(), None), "{a}");
    assert!(
        a.starts_with("MSH|^~\\&|ORDERLY|GH|EHR|GH|20261205120000||ACK^A01"),
        "{a}"
    );
    assert_eq!(*census.applied.lock().unwrap(), ["C1"]);

    // Unknown location: AE, ERR at PV1-3 with code 103, nothing applied.
    let a = exchange(&mut c, &admit("C2", "NOWHERE", "2.5.1")).await;
    let (code, id, err) = msa(&a);
    assert_eq!((code.as_str(), id.as_str()), ("AE", "C2"), "{a}");
    let err = err.expect("an ERR segment");
    assert!(err.starts_with("ERR||PV1^1^3|103^"), "{err}");
    assert!(err.contains("not in the location map"), "{err}");
    // A version Orderly does not take: AR.
    let a = exchange(&mut c, &admit("C3", "ICU", "3.0")).await;
    assert_eq!(msa(&a).0, "AR", "{a}");
    // Not HL7 at all (but framed): AR, and the connection goes on.
    let a = exchange(&mut c, "hello").await;
    assert_eq!(msa(&a).0, "AR", "{a}");
    let a = exchange(&mut c, &admit("C4", "ICU", "2.3")).await;
    assert_eq!(msa(&a).0, "AA", "{a}");
    assert_eq!(*census.applied.lock().unwrap(), ["C1", "C4"]);
    let refused = stats.refused();
    assert_eq!(refused.get("table_value_not_found"), Some(&1));
    assert_eq!(refused.get("unsupported_version"), Some(&1));
    assert_eq!(refused.get("not_hl7"), Some(&1));
    // Each refusal is kept with who sent it, its control id, the code and the text.
    let rejected = census.rejected.lock().unwrap().clone();
    let ids: Vec<_> = rejected
        .iter()
        .map(|r| (r.control_id.as_str(), r.code.as_str()))
        .collect();
    assert_eq!(ids, [("C2", "AE"), ("C3", "AR"), ("", "AR")]);
    assert_eq!(rejected[0].kind, "ADT^A01");
    assert!(rejected[0].text.contains("\nPV1|"), "{}", rejected[0].text);
    assert_eq!(rejected[2].text, "hello");
}

#[tokio::test]
async fn oversized_silent_and_surplus_connections_are_closed_and_the_rest_served() {
    let cfg = Config {
        max_message: 4096,
        idle: Duration::from_millis(300),
        max_connections: 2,
        tls: None,
    };
    let (addr, census, stats, _stop) = start(cfg).await;
    // A message over the limit: the connection is closed.
    let mut big = TcpStream::connect(&addr).await.unwrap();
    let mut wire = vec![0x0b];
    wire.extend(std::iter::repeat_n(b'A', 10_000));
    big.write_all(&wire).await.unwrap();
    assert!(closed_by_server(&mut big).await);
    // A connection that sends nothing is closed after the idle time.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    assert!(closed_by_server(&mut silent).await);
    // Two open connections are the limit: a third is closed at once; the two are served.
    let mut a = TcpStream::connect(&addr).await.unwrap();
    let mut b = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(
        msa(&exchange(&mut a, &admit("A1", "ICU", "2.5")).await).0,
        "AA"
    );
    assert_eq!(
        msa(&exchange(&mut b, &admit("B1", "ICU", "2.5")).await).0,
        "AA"
    );
    let mut third = TcpStream::connect(&addr).await.unwrap();
    assert!(closed_by_server(&mut third).await);
    assert_eq!(census.applied.lock().unwrap().len(), 2);
    let refused = stats.refused();
    assert_eq!(refused.get("too_large"), Some(&1), "{refused:?}");
    assert_eq!(refused.get("idle"), Some(&1), "{refused:?}");
    assert_eq!(refused.get("too_many_connections"), Some(&1), "{refused:?}");
}
