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
                max_connections: 10_010,
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
        // Listening once the port can no longer be bound (a probe connection would make the
        // broker log a failed MQTT connect).
        while TcpListener::bind(addr).is_ok() {
            if Instant::now() > deadline {
                return Err(BrokerError::NotListening(addr));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!(%addr, "embedded MQTT broker listening");
        Ok(EmbeddedBroker { addr })
    }
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
}
