//! The embedded MQTT broker (rumqttd), for a machine with no broker of its own.

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(
        "cannot listen for MQTT on {addr}: {source} (is another broker running there? choose another port with --mqtt-port or ORDERLY_MQTT_PORT)"
    )]
    PortTaken {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "the embedded MQTT broker listens on loopback only, not on {0}: it has no device passwords or topic permissions, so anyone on the network could forge a bed command or read alerts; give devices a broker configured by `orderly devices` (docs/security.md)"
    )]
    NotLoopback(SocketAddr),
    #[error("the embedded MQTT broker did not start listening on {0} within 5 s")]
    NotListening(SocketAddr),
    #[error("cannot start the embedded MQTT broker thread: {0}")]
    Thread(std::io::Error),
}

/// A running embedded broker. It runs until the process ends (rumqttd has no stop).
#[derive(Debug, Clone)]
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts a broker on `addr` (port 0 picks a free port) and waits until it accepts connections.
    pub fn start(addr: SocketAddr) -> Result<Self, BrokerError> {
        if !addr.ip().is_loopback() {
            return Err(BrokerError::NotLoopback(addr));
        }
        let probe =
            TcpListener::bind(addr).map_err(|source| BrokerError::PortTaken { addr, source })?;
        let addr = probe
            .local_addr()
            .map_err(|source| BrokerError::PortTaken { addr, source })?;
        drop(probe);
        let server = ServerSettings {
            name: "orderly-v4".into(),
            listen: addr,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 60_000,
                // What Orderly's client takes with room to spare (client::MAX_INCOMING).
                max_payload_size: crate::client::MAX_PACKET,
                max_inflight_count: 500,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = Config {
            id: 0,
            router: RouterConfig {
                // rumqttd sets aside its tables for this many connections at start (10,010 took
                // 8.7 MB); it listens on loopback only, so its clients are this machine's: Orderly,
                // the simulator, a replay, a test's devices.
                max_connections: 1_024,
                max_outgoing_packet_count: 200,
                // rumqttd keeps a log of what it routed, per topic filter, up to size x count:
                // 100 MiB x 10 let the demo grow about 7 MB a minute towards 1 GiB. 16 MiB x 4
                // holds minutes of a large site's traffic for a subscriber that lags (the only
                // one is Orderly, in this process) and caps the log at 64 MiB per filter.
                max_segment_size: 16 * 1024 * 1024,
                max_segment_count: 4,
                ..RouterConfig::default()
            },
            v4: Some(HashMap::from([("orderly-v4".to_string(), server)])),
            ..Config::default()
        };
        let mut broker = Broker::new(config);
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                if let Err(e) = broker.start() {
                    tracing::error!(error = %e, "embedded MQTT broker stopped");
                }
            })
            .map_err(BrokerError::Thread)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        // Listening once it answers an MQTT connect. Not by binding the port to see if it is
        // taken: a probe that holds the port for an instant while the broker's thread binds it
        // makes the broker fail with "address in use" (it happened in CI).
        while !answers_mqtt(addr) {
            if Instant::now() > deadline {
                return Err(BrokerError::NotListening(addr));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!(%addr, "embedded MQTT broker listening");
        Ok(EmbeddedBroker { addr })
    }
}

/// Whether an MQTT 3.1.1 broker on `addr` accepts a connection: CONNECT with a clean session,
/// CONNACK 0 back, then DISCONNECT (so the broker logs an ordinary session, not a failed one).
fn answers_mqtt(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    const ID: &[u8] = b"orderly-start-probe";
    let mut connect = vec![0x10, (10 + 2 + ID.len()) as u8];
    connect.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10]);
    connect.extend_from_slice(&[0, ID.len() as u8]);
    connect.extend_from_slice(ID);
    let mut ack = [0u8; 4];
    let ok = s.write_all(&connect).is_ok()
        && s.read_exact(&mut ack).is_ok()
        && ack == [0x20, 0x02, 0x00, 0x00];
    let _ = s.write_all(&[0xe0, 0x00]);
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rumqttd has no topic permissions: on the network it would let any client move a bed.
    #[test]
    fn the_embedded_broker_refuses_to_listen_beyond_loopback_and_says_why() {
        for addr in ["0.0.0.0:0", "192.168.1.20:1883"] {
            let e = EmbeddedBroker::start(addr.parse().unwrap()).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, BrokerError::NotLoopback(_)), "{msg}");
            assert!(
                msg.contains("loopback only") && msg.contains("orderly devices"),
                "{msg}"
            );
        }
    }

    /// Ready means it answers MQTT: the started broker does, a port that accepts and says
    /// nothing does not, and neither does a closed one.
    #[test]
    fn started_means_it_answers_an_mqtt_connect() {
        let b = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap()).unwrap();
        assert!(answers_mqtt(b.addr));
        let mute = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(!answers_mqtt(mute.local_addr().unwrap()));
        let closed = mute.local_addr().unwrap();
        drop(mute);
        assert!(!answers_mqtt(closed));
    }
}
