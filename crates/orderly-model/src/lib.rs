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
            /// Parses `s` as a `what`, or says what it is not and what it may be.
            pub fn parse_or_why(s: &str, what: &str) -> Result<Self, String> {
                Self::parse(s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|x| x.as_str()).collect();
                    format!("unknown {what} {s:?} (one of {})", names.join(", "))
                })
            }
        }
    };
}
pub(crate) use wire_names;

pub mod census;
pub mod command;
pub mod compliance;
pub mod environment;
pub mod event;
pub mod ids;
pub mod infusion;
pub mod maintenance;
pub mod news2;
pub mod par;
pub mod reading;
pub mod report;
pub mod seed;
pub mod source;
pub mod time;
pub mod view;

pub use event::{
    Alert, AlertKind, AlertState, DeliveryStatus, Disposition, EventKind, OutEvent, Priority,
};
pub use ids::{DeviceIdError, valid_device_id};
pub use reading::{DecodeError, DeviceClass, Inbound, Payload, Reading, RejectReason, Rejected};
pub use seed::{
    Asset, AssetKind, AssetStatus, Patient, Role, Seed, SeedError, Staff, StatusError,
    WearableModel, Worn,
};
pub use source::{FileError, FileErrors, Source};
pub use time::Timestamp;
pub use view::Snapshot;

/// State carried over a restart: what the store remembers, what the world takes back.
#[derive(Clone, Debug, Default)]
pub struct Restored {
    pub next_seq: u64,
    /// (subject, room, since, last seen, confidence).
    pub locations: Vec<(String, String, crate::Timestamp, crate::Timestamp, f32)>,
    /// Subjects whose tag was lost (silent past its timeout) when Orderly stopped.
    pub lost: Vec<String>,
    /// Asset statuses set since the seed: (asset, status, since).
    pub statuses: Vec<(String, crate::AssetStatus, crate::Timestamp)>,
    /// Alerts still active or acknowledged.
    pub alerts: Vec<crate::Alert>,
    /// The last repositioning of each patient (`patient.turned`): (patient, when).
    pub turned: Vec<(String, crate::Timestamp)>,
    /// Bed commands not yet acknowledged (looked for in the last week of the log).
    pub commands: Vec<crate::command::PendingCommand>,
    /// Bed suggestions still on offer (the same week).
    pub suggestions: Vec<crate::view::SuggestionView>,
    /// Work orders not done or cancelled.
    pub work_orders: Vec<crate::maintenance::WorkOrder>,
    /// Each item's last service: its latest scheduled work order done.
    pub last_service: Vec<(String, crate::maintenance::LastService)>,
    /// (item, reason) of work orders cancelled since the item's last service.
    pub cancelled: Vec<(String, String)>,
    /// Every recall as last recorded.
    pub recalls: Vec<crate::maintenance::Recall>,
    /// The meters only Orderly counts, as last recorded: (asset, usage, first reading).
    pub meters: Vec<(String, crate::maintenance::Usage, crate::maintenance::Usage)>,
    /// Patients the census changed since the seed, as they now stand (in a bed or outside).
    pub census: Vec<crate::Patient>,
    /// Patients out of the census (discharged, admission cancelled, merged away), as they
    /// were, with when: a cancelled discharge brings one back.
    pub census_gone: Vec<(crate::Patient, crate::Timestamp)>,
    /// HL7 messages applied (`{sender}|{control id}`) and the event that recorded each.
    pub census_seen: Vec<(String, u64)>,
    /// Each bed's last turnover change, with when.
    pub turnover: Vec<(crate::census::TurnoverChange, crate::Timestamp)>,
    /// Vital signs charted in the last 12 hours, oldest first: each patient's score, trend and
    /// observations due carry on after a restart.
    pub observed: Vec<crate::news2::Charted>,
    /// Each pump's last `pump.infusion` record, with when: the infusions running and the
    /// pumps' override counters.
    pub infusions: Vec<(crate::infusion::InfusionRecord, crate::Timestamp)>,
    /// Each environment sensor's excursions still under way (an `env.excursion` start with no
    /// end after it).
    pub excursions: Vec<crate::environment::Excursion>,
}

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
        agree(Worn::ALL, Worn::as_str, Worn::parse);
    }
}
