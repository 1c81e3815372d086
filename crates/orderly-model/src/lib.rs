//! Orderly's domain model: time, identifiers, typed device readings, the events the system
//! emits, and the asset registry and census ("seed") format.
//!
//! Core crate: no IO, no async, never panics on input. It may depend only on serde, toml,
//! chrono (for RFC 3339) and thiserror. Every other Orderly crate depends on it.

/// Gives a fieldless enum its wire names: `as_str`, `parse` and `ALL`, from one table, so the
/// names in JSON, SQL, metrics labels and query strings cannot drift apart.
macro_rules! wire_names {
    ($t:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$v),+];
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $s),+
                }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some($t::$v),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use wire_names;

pub mod command;
pub mod compliance;
pub mod event;
pub mod ids;
pub mod maintenance;
pub mod par;
pub mod reading;
pub mod report;
pub mod seed;
pub mod source;
pub mod time;
pub mod view;

pub use event::{Alert, AlertKind, AlertState, EventKind, OutEvent, Priority};
pub use ids::{DeviceIdError, valid_device_id};
pub use reading::{DecodeError, DeviceClass, Inbound, Payload, Reading, RejectReason, Rejected};
pub use seed::{Asset, AssetKind, AssetStatus, Patient, Role, Seed, SeedError, Staff, StatusError};
pub use source::{FileError, FileErrors, Source};
pub use time::Timestamp;
pub use view::Snapshot;

#[cfg(test)]
mod tests {
    use super::*;
    use reading::RejectReason;

    fn agree<T: serde::Serialize + Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        name: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        for &v in all {
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::Value::String(name(v).into()),
                "{v:?}"
            );
            assert_eq!(parse(name(v)), Some(v));
        }
        assert_eq!(parse("no-such-name"), None);
    }

    /// The wire names match serde's, so JSON, SQL, labels and query strings agree.
    #[test]
    fn wire_names_match_serde() {
        agree(RejectReason::ALL, RejectReason::as_str, RejectReason::parse);
        agree(Priority::ALL, Priority::as_str, Priority::parse);
        agree(AlertState::ALL, AlertState::as_str, AlertState::parse);
        agree(AssetStatus::ALL, AssetStatus::as_str, AssetStatus::parse);
        agree(Role::ALL, Role::as_str, Role::parse);
    }
}
