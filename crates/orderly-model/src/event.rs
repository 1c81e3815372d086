//! What the world decided: the events that leave through the outbox, in order. Each is
//! committed to the store, then broadcast on the API's live stream, then (for alerts)
//! published over MQTT. Replay writes them as JSON lines, one per event.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// One event, numbered in the order the world produced it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OutEvent {
    /// Monotonic per world; survives restarts (the store hands out the next number at start).
    pub seq: u64,
    /// Virtual or wall-clock time at which the world decided it.
    pub at: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl OutEvent {
    /// The unit the event concerns, for routing to nursing stations and filtering streams.
    pub fn unit(&self) -> Option<&str> {
        match &self.kind {
            EventKind::LocationChanged { unit, .. } => unit.as_deref(),
            EventKind::LocationLost { unit, .. } => unit.as_deref(),
            EventKind::AlertRaised(a) | EventKind::AlertResolved(a) => a.unit.as_deref(),
        }
    }
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }
}

/// The event body, tagged by `kind` (`location.changed`, `alert.raised`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind")]
pub enum EventKind {
    /// A tagged item or person is now located in another room.
    #[serde(rename = "location.changed")]
    LocationChanged {
        /// Asset, staff or patient id the tag belongs to.
        subject: String,
        subject_kind: String,
        tag: String,
        from: Option<String>,
        to: String,
        /// Unit of the new room, if the room belongs to one.
        unit: Option<String>,
        /// 0..1: how sure the locator is.
        confidence: f32,
    },
    /// A tag went silent past its class's timeout; it was last seen in `room`.
    #[serde(rename = "location.lost")]
    LocationLost {
        subject: String,
        subject_kind: String,
        tag: String,
        room: String,
        unit: Option<String>,
        last_seen: Timestamp,
    },
    #[serde(rename = "alert.raised")]
    AlertRaised(Alert),
    #[serde(rename = "alert.resolved")]
    AlertResolved(Alert),
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::LocationChanged { .. } => "location.changed",
            EventKind::LocationLost { .. } => "location.lost",
            EventKind::AlertRaised(_) => "alert.raised",
            EventKind::AlertResolved(_) => "alert.resolved",
        }
    }
}

/// Alarm priority as in IEC 60601-1-8, plus advisory.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    Medium,
    Low,
    Advisory,
}

crate::wire_names!(Priority {
    High => "high",
    Medium => "medium",
    Low => "low",
    Advisory => "advisory",
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Active,
    Acknowledged,
    Resolved,
}

crate::wire_names!(AlertState {
    Active => "active",
    Acknowledged => "acknowledged",
    Resolved => "resolved",
});

/// An alert as it stands after a transition. One active alert per (rule, subject).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// `{rule}:{subject}:{raised_at millis}`: unique, stable across restarts.
    pub id: String,
    pub rule: String,
    pub subject: String,
    pub unit: Option<String>,
    pub room: Option<String>,
    pub priority: Priority,
    pub state: AlertState,
    pub message: String,
    pub raised_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_with_a_dotted_kind() {
        let e = OutEvent {
            seq: 7,
            at: Timestamp(0),
            kind: EventKind::LocationChanged {
                subject: "PUMP-0001".into(),
                subject_kind: "infusion_pump".into(),
                tag: "T-1".into(),
                from: None,
                to: "F2-ICU-01".into(),
                unit: Some("ICU".into()),
                confidence: 0.5,
            },
        };
        let s = serde_json::to_string(&e).unwrap();
        assert!(
            s.starts_with(r#"{"seq":7,"at":"1970-01-01T00:00:00.000Z","kind":"location.changed""#),
            "{s}"
        );
        let back: OutEvent = serde_json::from_str(&s).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.unit(), Some("ICU"));
    }
}
