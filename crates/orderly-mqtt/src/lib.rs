//! The MQTT edge: the device contract (`../shared/spec/device-contract.md`, documented in
//! `docs/device-contract.md`): topics and the decoding of payloads into typed readings; the
//! rumqttc client loop that feeds the world; the publisher for what Orderly sends to devices
//! and integrations; and the embedded broker (rumqttd) for a machine with no broker of its own.
//!
//! Edge crate: does network IO. Depends on orderly-model, rumqttc, rumqttd, tokio, serde_json.
//! The contract itself (topics, encode and decode) is the core crate `orderly-contract`, so
//! replay, the simulator and tests use it without a network.

pub mod broker;
pub mod client;
pub mod security;
/// The device contract lives in the core crate `orderly-contract` (the simulator encodes with it).
pub use orderly_contract as contract;

pub use broker::{BrokerError, EmbeddedBroker};
pub use client::{Ack, MAX_PACKET, MqttConfig, MqttLink, PublishError, RateLimiter, Received};
pub use contract::{Topics, decode};
pub use security::{Credentials, Security, SecurityError, TlsFiles};
