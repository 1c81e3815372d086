//! Webhooks against an endpoint written here (its own HTTP/1.1 parsing over TCP), the
//! signature checked with an HMAC computed here: retries after a 500, a reset and a slow
//! answer, the delivery log, a subscription that keeps failing paused (and a technical alert),
//! resumed without losing what failed.

use crate::acm::fall;
use hmac::{Hmac, Mac};
use orderly_tests::{Device, Setup, free_port};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Reply {
    Ok,
    Fail,
    /// Closes the connection without answering.
    Reset,
    /// Answers after 30 s.
    Slow,
}

#[derive(Clone, Debug)]
struct Request {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct Endpoint {
    got: Arc<Mutex<Vec<Request>>>,
    /// Replies for the next requests; `Ok` when empty, or `always` when set.
    script: Arc<Mutex<VecDeque<Reply>>>,
    always: Arc<Mutex<Option<Reply>>>,
    port: u16,
}

impl Endpoint {
    fn start() -> Endpoint {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let e = Endpoint {
            port,
            ..Default::default()
        };
        let (got, script, always) = (e.got.clone(), e.script.clone(), e.always.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (got, script, always) = (got.clone(), script.clone(), always.clone());
                std::thread::spawn(move || {
                    let mut r = BufReader::new(conn.try_clone().unwrap());
                    let mut conn = conn;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut headers = BTreeMap::new();
                        loop {
                            let mut h = String::new();
                            r.read_line(&mut h).unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap();
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        }
                        let n: usize = headers
                            .get("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0u8; n];
                        r.read_exact(&mut body).unwrap();
                        got.lock().unwrap().push(Request { headers, body });
                        let reply = always
                            .lock()
                            .unwrap()
                            .or_else(|| script.lock().unwrap().pop_front())
                            .unwrap_or(Reply::Ok);
                        let answer = match reply {
                            Reply::Ok => "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
                            Reply::Fail => {
                                "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops"
                            }
                            Reply::Reset => return,
                            Reply::Slow => {
                                std::thread::sleep(Duration::from_secs(30));
                                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
                            }
                        };
                        if conn.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        e
    }

    fn got(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }
}

/// The signature as the documentation defines it, computed here.
fn expected_signature(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v1={hex}")
}

#[test]
fn webhooks_are_signed_retried_logged_and_paused_when_failing() {
    let hook = Endpoint::start();
    let mut setup = Setup::new();
    setup.args = vec![
        "--webhook-timeout".into(),
        "2s".into(),
        "--webhook-pause-after".into(),
        "3s".into(),
    ];
    let o = setup.start();
    let dev = Device::connect(&o.mqtt, None);
    let url = format!("http://127.0.0.1:{}/orderly", hook.port);

    // Only admins subscribe; the URL, kinds and units are checked.
    let nurse = setup.token("nurse", "Nurse Ana", "ICU");
    let (code, _) = o.post_as("/api/v1/webhooks", &nurse, &json!({"url": url}));
    assert_eq!(code, 403);
    for (bad, why) in [
        (json!({"url": "http://hooks.example.org/x"}), "https"),
        (
            json!({"url": url, "kinds": ["alert.raisd"]}),
            "unknown event kind",
        ),
        (json!({"url": url, "units": ["NOPE"]}), "no unit"),
    ] {
        let (code, body) = o.post("/api/v1/webhooks", &bad);
        assert_eq!(code, 400, "{bad}");
        assert!(body.to_string().contains(why), "{body}");
    }
    let (code, made) = o.post(
        "/api/v1/webhooks",
        &json!({"url": url, "kinds": ["alert.raised"], "units": ["ICU"]}),
    );
    assert_eq!(code, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    let secret = made["secret"].as_str().unwrap().to_string();
    let (_, listed) = o.get("/api/v1/webhooks");
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is never shown again"
    );

    // A 500, then a reset connection, then a slow answer: retried until delivered.
    hook.script
        .lock()
        .unwrap()
        .extend([Reply::Fail, Reply::Reset, Reply::Slow]);
    fall(&dev, &o, "W-1002");
    o.wait_until("four attempts", T, || hook.got().len() >= 4);
    let got = hook.got();
    let deliveries: Vec<&str> = got
        .iter()
        .map(|r| r.headers["orderly-delivery"].as_str())
        .collect();
    assert!(
        deliveries.windows(2).all(|w| w[0] == w[1]),
        "one delivery id for every attempt: {deliveries:?}"
    );
    for r in &got {
        let ts = &r.headers["orderly-timestamp"];
        assert_eq!(
            r.headers["orderly-signature"],
            expected_signature(&secret, ts, &r.body),
            "the signature verifies"
        );
        assert_eq!(r.headers["orderly-event"], "alert.raised");
        let e: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(e["kind"], "alert.raised");
        assert_eq!(e["unit"], "ICU");
    }
    o.wait_until("the delivery log", T, || {
        o.get(&format!("/api/v1/webhooks/{id}/deliveries"))
            .1
            .as_array()
            .is_some_and(|l| l.iter().any(|d| d["outcome"] == "delivered"))
    });
    let (_, log) = o.get(&format!("/api/v1/webhooks/{id}/deliveries"));
    let mut log: Vec<Value> = log.as_array().unwrap().clone();
    log.reverse();
    let outcomes: Vec<(&str, Option<u64>)> = log
        .iter()
        .map(|d| (d["outcome"].as_str().unwrap(), d["status"].as_u64()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("failed", Some(500)),
            ("failed", None),
            ("failed", None),
            ("delivered", Some(204))
        ],
        "{log:?}"
    );
    assert!(
        log[2]["detail"]
            .as_str()
            .unwrap()
            .contains("no answer within 2 s"),
        "{}",
        log[2]
    );

    // An endpoint that keeps failing: the subscription pauses and says why; an admin is told.
    *hook.always.lock().unwrap() = Some(Reply::Fail);
    fall(&dev, &o, "W-1003");
    let paused = || -> Value {
        let (_, l) = o.get("/api/v1/webhooks");
        l.as_array().unwrap()[0].clone()
    };
    o.wait_until("paused", T, || paused()["paused"].is_string());
    let reason = paused()["paused_reason"].as_str().unwrap().to_string();
    assert!(reason.contains("HTTP 500"), "{reason}");
    let technical = || crate::acm::technical(&o);
    o.wait_until("a technical alert", T, || technical().is_some());
    let attempts_when_paused = hook.got().len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        hook.got().len(),
        attempts_when_paused,
        "paused: no more attempts"
    );

    // Fixed and resumed: the fall that failed is delivered, nothing lost; the alert resolves.
    *hook.always.lock().unwrap() = None;
    let (code, resumed) = o.post(&format!("/api/v1/webhooks/{id}/resume"), &json!({}));
    assert_eq!(code, 200, "{resumed}");
    assert!(resumed["paused"].is_null());
    o.wait_until("the failed event delivered after the resume", T, || {
        hook.got()[attempts_when_paused..]
            .iter()
            .any(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["subject"] == "P-1003")
    });
    o.wait_until("the technical alert resolved", T, || technical().is_none());

    // Unsubscribed: nothing more.
    let (code, _) = o.delete(&format!("/api/v1/webhooks/{id}"));
    assert_eq!(code, 204);
    let n = hook.got().len();
    fall(&dev, &o, "W-1004");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(hook.got().len(), n);
    o.stop();
}
