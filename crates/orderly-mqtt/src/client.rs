//! The MQTT client loop: subscribes to the site's topics (again on every reconnect), decodes
//! each message and hands it to the world through a bounded channel (back-pressure instead of
//! unbounded memory); publishes what Orderly sends.

use crate::contract::{Topics, decode};
use orderly_model::reading::{RejectReason, Rejected};
use orderly_model::{Inbound, Timestamp};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The wall clock, as the edge reads it for receive times.
pub fn wall_clock() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp(ms)
}

#[derive(Clone, Debug)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Messages per second one device may send on average before the excess is dropped.
    pub device_rate: f64,
    /// How many messages above the rate one device may send in a burst.
    pub device_burst: f64,
    /// Credentials and TLS.
    pub security: crate::Security,
    /// Acknowledge a message only once what it caused is committed (`MqttLink::ack`). Off for
    /// the embedded broker: it lives and dies with Orderly's process, so its queue cannot
    /// outlive a crash anyway, and rumqttd's fixed window of 100 unacknowledged messages per
    /// client would hold every message for the commit before it (seconds under load).
    pub ack_after_commit: bool,
}

impl MqttConfig {
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        MqttConfig {
            host: host.into(),
            port,
            client_id: client_id.into(),
            device_rate: 50.0,
            device_burst: 200.0,
            security: crate::Security::default(),
            ack_after_commit: true,
        }
    }
    fn options(&self) -> Result<MqttOptions, crate::SecurityError> {
        let mut o = MqttOptions::new(&self.client_id, &self.host, self.port);
        o.set_keep_alive(Duration::from_secs(15));
        o.set_max_packet_size(MAX_INCOMING, MAX_PACKET);
        // A persistent session under a stable client id: what devices publish (QoS 1) while
        // Orderly restarts is queued by the broker and delivered when it is back.
        o.set_clean_session(false);
        // A message is acknowledged only once what it caused is committed (the pipeline calls
        // `MqttLink::ack`): a crash before the commit leaves it with the broker, which
        // delivers it again.
        o.set_manual_acks(self.ack_after_commit);
        o.set_request_channel_capacity(1024);
        o.set_inflight(200);
        self.security.apply(&mut o)?;
        Ok(o)
    }
}

/// The largest packet Orderly sends or accepts. A publish that would not fit is refused here,
/// never handed to the client: one packet over the limit would drop the connection, and QoS 1
/// would send it again on every reconnect, stopping every alert behind it.
pub const MAX_PACKET: usize = 1024 * 1024;

/// The largest packet Orderly takes from the broker: the largest MQTT allows (256 MiB). A
/// message the client refused would drop the connection and, on a persistent session, come
/// back on every reconnect, stopping all ingest for good; one it takes is decoded, and
/// anything over the contract's 256 KiB is counted as `too_large` with its device and dropped.
/// Keep such messages off the network at the broker: the embedded broker refuses packets over
/// 1 MiB; set Mosquitto's `message_size_limit` (docs/device-contract.md).
pub const MAX_INCOMING: usize = 268_435_455;

/// Why a message was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{bytes} bytes is over the {MAX_PACKET}-byte packet limit; not sent")]
    TooLarge { bytes: usize },
    #[error(transparent)]
    Client(#[from] rumqttc::ClientError),
}

/// Topic, payload and the packet's own bytes fit in [`MAX_PACKET`].
fn fits(topic: &str, payload: &[u8]) -> Result<(), PublishError> {
    let bytes = topic.len() + payload.len() + 16;
    if bytes > MAX_PACKET {
        return Err(PublishError::TooLarge { bytes });
    }
    Ok(())
}

/// The messages each device sent lately, to recognise the broker delivering one again: after
/// a stalled link or a reconnection, the broker resends what it holds as unacknowledged (the
/// acknowledgement was lost with the link), and applying it twice would count one bed exit as
/// two. A message whose topic and bytes match one of the device's last [`Self::PER_DEVICE`] is a
/// duplicate (every device message carries its own time, so two real messages never match).
#[derive(Debug, Default)]
pub struct Redeliveries {
    seen: DeviceMap<std::collections::VecDeque<u64>>,
    /// Hashes each message's topic and bytes (foldhash, seeded per process: a sender cannot
    /// aim a message at another's hash; SipHash cost a few per cent of a flood's decoding).
    hasher: foldhash::quality::RandomState,
}

/// Per device id, hashed with foldhash (every message looks its device up twice).
type DeviceMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

impl Redeliveries {
    pub const PER_DEVICE: usize = 256;

    /// Whether this message was received before; remembers it if not.
    pub fn seen_before(&mut self, device: &str, topic: &str, payload: &[u8]) -> bool {
        use std::hash::BuildHasher;
        if self.seen.len() > 100_000 {
            // Made-up device ids must not grow memory without end.
            self.seen.clear();
        }
        let key = self.hasher.hash_one((topic, payload));
        // No allocation on the per-message path once the device is known.
        if !self.seen.contains_key(device) {
            self.seen.insert(device.to_string(), Default::default());
        }
        let Some(recent) = self.seen.get_mut(device) else {
            return false;
        };
        if recent.contains(&key) {
            return true;
        }
        if recent.len() == Self::PER_DEVICE {
            recent.pop_front();
        }
        recent.push_back(key);
        false
    }
}

/// A token bucket per device, so that a flood from one device cannot starve the others.
///
/// Tokens come back with time as the device lives it: the larger of the time between arrivals
/// and the time between the device's own timestamps. A backlog the broker kept while Orderly
/// was away arrives in one burst but was sent over minutes, so it is processed, not dropped as
/// if it were a flood; a device that floods now has no time to show for it. A device cannot
/// buy credit with timestamps in the future: they count only up to their arrival.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    /// Per device: (tokens, last arrival, latest device time).
    buckets: DeviceMap<(f64, Timestamp, Option<Timestamp>)>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst,
            buckets: DeviceMap::default(),
        }
    }
    /// Whether `device` may send one more message, received at `now` and stamped `ts` by the
    /// device (when it could be read).
    pub fn allow(&mut self, device: &str, now: Timestamp, ts: Option<Timestamp>) -> bool {
        if self.buckets.len() > 100_000 {
            // Made-up device ids must not grow memory without end.
            self.buckets.clear();
        }
        // No allocation on the per-message path once the device is known.
        if !self.buckets.contains_key(device) {
            self.buckets
                .insert(device.to_string(), (self.burst, now, None));
        }
        let Some((tokens, last, device_last)) = self.buckets.get_mut(device) else {
            return true;
        };
        let arrived = now.since(*last).max(0);
        // Device time counts only up to the arrival: no credit from the future.
        let ts = ts.map(|t| t.min(now));
        let lived = match (ts, *device_last) {
            (Some(t), Some(d)) => t.since(d).max(0),
            _ => 0,
        };
        let dt = arrived.max(lived) as f64 / 1000.0;
        *tokens = (*tokens + dt * self.rate).min(self.burst);
        *last = now;
        if let Some(t) = ts {
            *device_last = Some(device_last.map_or(t, |d| d.max(t)));
        }
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A message as it reached Orderly, and the acknowledgement the broker waits for.
#[derive(Debug)]
pub struct Received {
    pub inbound: Inbound,
    /// Send it (through [`MqttLink::ack`]) once what the message caused is committed; until
    /// then the broker keeps the message and delivers it again after a crash.
    pub ack: Option<Ack>,
}

/// A QoS 1 message's packet id, to acknowledge to the broker after the commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pkid: u16,
}

impl Ack {
    fn of(p: &rumqttc::Publish) -> Option<Ack> {
        (p.qos != QoS::AtMostOnce).then_some(Ack { pkid: p.pkid })
    }
    fn packet(self) -> rumqttc::Publish {
        let mut p = rumqttc::Publish::new("", QoS::AtLeastOnce, Vec::new());
        p.pkid = self.pkid;
        p
    }
}

/// A connection to the broker: the publishing half, and whether it is connected.
#[derive(Clone)]
pub struct MqttLink {
    client: AsyncClient,
    connected: Arc<AtomicBool>,
    /// Why the link is down (the broker's refusal, a TLS failure), in plain words.
    problem: Arc<Mutex<Option<String>>>,
    pub topics: Topics,
}

impl MqttLink {
    /// Connects, and spawns the loop that feeds `tx` until `shutdown` turns true. Fails at
    /// once when the TLS files cannot be used.
    pub fn start(
        cfg: &MqttConfig,
        topics: Topics,
        tx: mpsc::Sender<Received>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(MqttLink, tokio::task::JoinHandle<()>), crate::SecurityError> {
        let (client, eventloop) = AsyncClient::new(cfg.options()?, 1024);
        let connected = Arc::new(AtomicBool::new(false));
        let problem = Arc::new(Mutex::new(None));
        let link = MqttLink {
            client: client.clone(),
            connected: connected.clone(),
            problem: problem.clone(),
            topics: topics.clone(),
        };
        let task = tokio::spawn(run(
            client,
            eventloop,
            topics,
            tx,
            shutdown,
            Status { connected, problem },
            cfg.clone(),
        ));
        Ok((link, task))
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Why the link is down, when it is: what the broker or TLS said, in plain words.
    pub fn problem(&self) -> Option<String> {
        if self.is_connected() {
            return None;
        }
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    /// Publishes a JSON payload (QoS 1: at least once).
    pub async fn publish(&self, topic: String, payload: Vec<u8>) -> Result<(), PublishError> {
        fits(&topic, &payload)?;
        Ok(self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?)
    }

    /// Queues a publish without waiting (fails when the queue is full or the loop stopped).
    pub fn try_publish(&self, topic: String, payload: Vec<u8>) -> Result<(), PublishError> {
        fits(&topic, &payload)?;
        Ok(self
            .client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)?)
    }

    /// Acknowledges a received message to the broker (after its effects are committed).
    /// Acknowledgements go out in the order the messages came (MQTT requires it). One that
    /// cannot be queued is left: the broker delivers the message again and its sequence number
    /// marks it a duplicate.
    pub async fn ack(&self, ack: Ack) {
        if let Err(e) = self.client.ack(&ack.packet()).await {
            tracing::debug!(error = %e, "cannot acknowledge a message; the broker will send it again");
        }
    }

    pub async fn disconnect(&self) {
        let _ = self.client.disconnect().await;
    }
}

/// What the link shares with the API: connected or not, and why not.
struct Status {
    connected: Arc<AtomicBool>,
    problem: Arc<Mutex<Option<String>>>,
}

impl Status {
    /// Records why the link is down; says it in the log once per distinct reason.
    fn down(&self, why: String, was_up: bool) {
        let mut p = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        if was_up {
            tracing::warn!(reason = %why, "lost the MQTT broker; reconnecting");
        } else if p.as_deref() != Some(why.as_str()) {
            tracing::error!(reason = %why, "cannot connect to the MQTT broker; retrying");
        } else {
            tracing::debug!(reason = %why, "MQTT broker still unreachable; retrying");
        }
        *p = Some(why);
    }
}

async fn run(
    client: AsyncClient,
    mut eventloop: EventLoop,
    topics: Topics,
    tx: mpsc::Sender<Received>,
    mut shutdown: watch::Receiver<bool>,
    status: Status,
    cfg: MqttConfig,
) {
    let mut limiter = RateLimiter::new(cfg.device_rate, cfg.device_burst);
    let mut redeliveries = Redeliveries::default();
    let connected = status.connected.clone();
    let mut backoff = Duration::from_millis(100);
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = shutdown.changed() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(100);
                tracing::info!(host = %cfg.host, port = cfg.port, security = %cfg.security.describe(), "connected to the MQTT broker");
                // The broker keeps no session for us: subscribe again on every connection.
                if let Err(e) = client.try_subscribe(topics.subscription(), QoS::AtLeastOnce) {
                    tracing::error!(error = %e, "cannot subscribe");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                // Connected means able to hear the devices: the subscription was granted.
                if ack
                    .return_codes
                    .iter()
                    .all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)))
                {
                    connected.store(true, Ordering::Relaxed);
                    if let Ok(mut p) = status.problem.lock() {
                        *p = None;
                    }
                } else {
                    status.down(
                        format!(
                            "{}:{}: the broker refused the subscription to {} (this user may not read the site's device topics; check the broker's ACL)",
                            cfg.host,
                            cfg.port,
                            topics.subscription()
                        ),
                        false,
                    );
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let ack = if cfg.ack_after_commit {
                    Ack::of(&p)
                } else {
                    None
                };
                if topics.is_outbound(&p.topic) {
                    // Orderly's own message back: nothing to commit.
                    if let Some(a) = ack {
                        let _ = client.try_ack(&a.packet());
                    }
                    continue;
                }
                let at = wall_clock();
                let device = p
                    .topic
                    .strip_prefix(&topics.prefix)
                    .and_then(|r| r.split('/').nth(1))
                    .unwrap_or("-");
                if redeliveries.seen_before(device, &p.topic, &p.payload) {
                    let inbound = Inbound::Rejected(Rejected {
                        at,
                        topic: p.topic.clone(),
                        device: Some(device.to_string()),
                        reason: RejectReason::Duplicate,
                        detail: "the same message (topic and bytes) was received before: the broker delivered it again".into(),
                    });
                    if tx.send(Received { inbound, ack }).await.is_err() {
                        break;
                    }
                    continue;
                }
                let inbound = decode(&topics, &p.topic, &p.payload, at);
                let ts = match &inbound {
                    Inbound::Reading(r) => Some(r.ts),
                    Inbound::Rejected(_) => None,
                };
                let inbound = if limiter.allow(device, at, ts) {
                    inbound
                } else {
                    Inbound::Rejected(Rejected {
                        at,
                        topic: p.topic.clone(),
                        device: Some(device.to_string()),
                        reason: RejectReason::RateLimited,
                        detail: format!("more than {} messages/s", cfg.device_rate),
                    })
                };
                if tx.send(Received { inbound, ack }).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                let was_up = connected.swap(false, Ordering::Relaxed);
                status.down(
                    format!(
                        "{}:{}: {}",
                        cfg.host,
                        cfg.port,
                        crate::security::explain(&e)
                    ),
                    was_up,
                );
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    connected.store(false, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_delivered_again_is_recognised_and_a_new_one_is_not() {
        let mut r = Redeliveries::default();
        let a = br#"{"ts":"2026-12-05T10:00:00Z","exit_alarm":"alarming"}"#;
        let b = br#"{"ts":"2026-12-05T10:00:02Z","exit_alarm":"alarming"}"#;
        assert!(!r.seen_before("bed-1", "t/bed/bed-1/state", a));
        assert!(!r.seen_before("bed-1", "t/bed/bed-1/state", b));
        assert!(r.seen_before("bed-1", "t/bed/bed-1/state", a));
        // Another device's, or another topic's, same bytes are not the same message.
        assert!(!r.seen_before("bed-2", "t/bed/bed-2/state", a));
        assert!(!r.seen_before("bed-1", "t/bed/bed-1/load", a));
        // Only the last PER_DEVICE are remembered.
        for k in 0..Redeliveries::PER_DEVICE {
            r.seen_before("bed-1", "t/bed/bed-1/state", format!("{k}").as_bytes());
        }
        assert!(!r.seen_before("bed-1", "t/bed/bed-1/state", a));
    }

    /// Finding: after a 240 s outage the broker's backlog came back in one burst and was dropped
    /// as rate-limited. A backlog sent over minutes is processed; the same number of messages
    /// stamped now is still a flood; future timestamps buy nothing.
    #[test]
    fn a_backlog_sent_over_minutes_is_not_a_flood() {
        let mut l = RateLimiter::new(10.0, 20.0);
        let back = Timestamp(1_000_000);
        let now = Timestamp(1_000_000 + 240_000);
        // 240 messages, one a second during the outage, all arriving now.
        let backlog = (0..240)
            .filter(|i| l.allow("bed-1", now, Some(back.plus_ms(i * 1000))))
            .count();
        assert_eq!(backlog, 240);
        // A device sending 240 messages now, stamped now: its burst, no more.
        let flood = (0..240)
            .filter(|_| l.allow("bed-2", now, Some(now)))
            .count();
        assert_eq!(flood, 20);
        // Stamped in the future, a second apart: no credit beyond the arrival.
        let future = (0..240)
            .filter(|i| l.allow("bed-3", now, Some(now.plus_ms(i * 1000))))
            .count();
        assert_eq!(future, 20);
    }

    /// A message that would not fit in one packet is refused before the client sees it (it
    /// would drop the connection and come back on every reconnect); one that fits is not.
    #[test]
    fn an_outgoing_message_over_the_packet_limit_is_refused_not_sent() {
        let topic = "orderly/v1/general/alerts/ICU";
        assert!(fits(topic, &vec![b'x'; 4096]).is_ok());
        assert!(matches!(
            fits(topic, &vec![b'x'; MAX_PACKET]),
            Err(PublishError::TooLarge { .. })
        ));
    }

    #[test]
    fn one_device_cannot_take_more_than_its_share() {
        let mut l = RateLimiter::new(10.0, 20.0);
        let t0 = Timestamp(0);
        let allowed = (0..100).filter(|_| l.allow("noisy", t0, Some(t0))).count();
        assert_eq!(allowed, 20);
        assert!(l.allow("quiet", t0, None));
        // One second later, ten more.
        let allowed = (0..100)
            .filter(|_| l.allow("noisy", Timestamp(1000), Some(Timestamp(1000))))
            .count();
        assert_eq!(allowed, 10);
    }
}
