//! Orderly's domain model: time, identifiers, typed device readings, the events the system
//! emits, and the asset registry and census ("seed") format.
//!
//! Core crate: no IO, no async, never panics on input. It may depend only on serde, toml,
//! chrono (for RFC 3339) and thiserror. Every other Orderly crate depends on it.

pub mod event;
pub mod ids;
pub mod reading;
pub mod seed;
pub mod source;
pub mod time;
pub mod view;

pub use event::{Alert, AlertState, EventKind, OutEvent, Priority};
pub use ids::{DeviceIdError, valid_device_id};
pub use reading::{DecodeError, DeviceClass, Inbound, Payload, Reading, RejectReason, Rejected};
pub use seed::{Asset, AssetKind, AssetStatus, Patient, Role, Seed, SeedError, Staff};
pub use source::{FileError, FileErrors, Source};
pub use time::Timestamp;
pub use view::Snapshot;
