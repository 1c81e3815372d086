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
            EventKind::LocationFound { unit, .. } => unit.as_deref(),
            EventKind::FallDetected { unit, .. } => unit.as_deref(),
            EventKind::BedExit { unit, .. } => unit.as_deref(),
            EventKind::PatientTurned { unit, .. } => unit.as_deref(),
            EventKind::BundleChanged { unit, .. } => unit.as_deref(),
            EventKind::BedSuggested { unit, .. } => unit.as_deref(),
            EventKind::BedSuggestionEnded { unit, .. } => unit.as_deref(),
            EventKind::WorkOrderOpened(w) | EventKind::WorkOrderUpdated(w) => w.unit.as_deref(),
            EventKind::StatusChanged { unit, .. } => unit.as_deref(),
            EventKind::BedTurnover(t) => t.unit.as_deref(),
            EventKind::PatientObserved(c) => c.unit.as_deref(),
            EventKind::PumpInfusion(r) => r.unit.as_deref(),
            EventKind::EnvExcursion(x) => x.place.unit.as_deref(),
            EventKind::EnvSummary(x) => x.place.unit.as_deref(),
            k if k.census().is_some() => k.census().and_then(|c| c.unit.as_deref()),
            k => k.alert().and_then(|a| a.unit.as_deref()),
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
    /// A lost tag is heard again (it was silent since `lost_at`); where it is heard follows as a
    /// `location.changed` once the locator is sure, if it is not where it was last seen.
    #[serde(rename = "location.found")]
    LocationFound {
        subject: String,
        subject_kind: String,
        tag: String,
        /// The room it was last seen in.
        room: String,
        unit: Option<String>,
        last_seen: Timestamp,
    },
    /// A fall, from a patient's wearable (the detector) or the device itself; `suppressed` says
    /// why it raises no alert (the bed reports the patient lying in it).
    #[serde(rename = "fall.detected")]
    FallDetected {
        patient: String,
        /// `wearable` (Orderly's detector) or `device` (the wearable's own).
        source: String,
        impact_at: Timestamp,
        confidence: f32,
        room: Option<String>,
        unit: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suppressed: Option<String>,
    },
    /// A patient left (or is leaving) their bed: seen by the load cells or the bed's own alarm.
    /// The alert, if any, follows from the rules (`bed.exited`).
    #[serde(rename = "bed.exit")]
    BedExit {
        bed: String,
        patient: Option<String>,
        /// `load cells` (Orderly's detector) or `bed alarm` (the bed's own).
        source: String,
        /// The zone watched: `movement`, `pre_exit` or `exit`.
        zone: String,
        /// A caregiver was in the room (helping the patient up).
        assisted: bool,
        /// When the patient reached the zone (device time).
        exit_at: Timestamp,
        room: Option<String>,
        unit: Option<String>,
    },
    /// A patient at risk of pressure injury was repositioned: their turning timer starts again.
    #[serde(rename = "patient.turned")]
    PatientTurned {
        patient: String,
        /// `load cells` (a sustained shift across the bed) or `rotation surface`.
        source: String,
        /// Minutes in bed since the previous repositioning (or since Orderly started).
        minutes_since: i64,
        room: Option<String>,
        unit: Option<String>,
    },
    /// A care bundle's standing on a subject changed (a rule with `bundle`): whether it applies
    /// (an occupied bed of a patient at risk, no care in progress) and whether it is complied
    /// with. Compliance reports add up the time between these.
    #[serde(rename = "bundle.changed")]
    BundleChanged {
        bundle: String,
        rule: String,
        subject: String,
        applies: bool,
        compliant: bool,
        room: Option<String>,
        unit: Option<String>,
    },
    /// Orderly asked a bed for settings (a rule's `bed_command`), committed before it is
    /// published on `bed/{device}/command`.
    #[serde(rename = "bed.command")]
    BedCommand {
        command_id: String,
        bed: String,
        device: String,
        /// The settings asked for, as in the command's payload.
        #[schema(value_type = Object)]
        set: serde_json::Map<String, serde_json::Value>,
        /// Why: `rule {id}`.
        reason: String,
        rule: String,
    },
    /// How a bed command ended: `applied`, `refused` (with the bed's reason) or `timed_out`.
    #[serde(rename = "bed.command_acked")]
    BedCommandAcked {
        command_id: String,
        bed: String,
        rule: String,
        result: String,
        reason: Option<String>,
    },
    /// A rule's `bed_suggestion` held: a setting that moves the bed (head angle, height) is
    /// offered at the nursing station. Nothing is sent to the bed unless a nurse confirms it
    /// while a caregiver badge is in the room.
    #[serde(rename = "bed.suggested")]
    BedSuggested {
        suggestion_id: String,
        bed: String,
        rule: String,
        /// The settings it would ask the bed for.
        #[schema(value_type = Object)]
        set: serde_json::Map<String, serde_json::Value>,
        /// The rule's message, for the station.
        message: String,
        room: Option<String>,
        unit: Option<String>,
    },
    /// A suggestion ended: `confirmed` (by a nurse; `command_id` is the command it became),
    /// `dismissed` (by a nurse, with a reason) or `withdrawn` (its rule no longer holds).
    #[serde(rename = "bed.suggestion_ended")]
    BedSuggestionEnded {
        suggestion_id: String,
        bed: String,
        rule: String,
        outcome: String,
        by: Option<String>,
        reason: Option<String>,
        command_id: Option<String>,
        room: Option<String>,
        unit: Option<String>,
    },
    /// Maintenance is due (a policy's interval or meter, a rule, a person): a new work order.
    #[serde(rename = "workorder.opened")]
    WorkOrderOpened(Box<crate::maintenance::WorkOrder>),
    /// A work order was scheduled, started, noted, done or cancelled (`status`).
    #[serde(rename = "workorder.updated")]
    WorkOrderUpdated(Box<crate::maintenance::WorkOrder>),
    /// An item's meters that only Orderly counts (a bed's actuator cycles), recorded at most
    /// hourly while they move, so a restart carries them on.
    #[serde(rename = "asset.meters")]
    AssetMeters {
        asset: String,
        usage: crate::maintenance::Usage,
        /// The first reading Orderly had (where usage intervals count from without a service).
        first: crate::maintenance::Usage,
    },
    /// A recall was issued: its items are out of service, each with a work order.
    #[serde(rename = "recall.opened")]
    RecallOpened(Box<crate::maintenance::Recall>),
    /// A recall was closed.
    #[serde(rename = "recall.updated")]
    RecallUpdated(Box<crate::maintenance::Recall>),
    /// An asset's status changed: by its device (a pump infusing is in use), by where it went
    /// (a dirty utility room), or by a person through the API (`by`).
    #[serde(rename = "asset.status_changed")]
    StatusChanged {
        asset: String,
        asset_kind: String,
        from: crate::AssetStatus,
        to: crate::AssetStatus,
        /// A person's name, or what changed it (`pump`, `bed`, `dirty utility room`).
        by: String,
        reason: String,
        /// Where it is, if located.
        room: Option<String>,
        /// Its room's unit, else its home unit.
        unit: Option<String>,
    },
    /// A patient was admitted (or registered) into a bed, or arrived in one from outside Orderly's beds.
    #[serde(rename = "patient.admitted")]
    PatientAdmitted(Box<crate::census::CensusChange>),
    /// A patient moved to another bed (`from_bed`), or to a place outside Orderly's beds (no `patient.bed`); a bed swap is two of these.
    #[serde(rename = "patient.transferred")]
    PatientTransferred(Box<crate::census::CensusChange>),
    /// A patient was discharged: their alerts are resolved, their wristband released, their bed's turnover starts.
    #[serde(rename = "patient.discharged")]
    PatientDischarged(Box<crate::census::CensusChange>),
    /// A patient's demographics or visit changed (HL7 A08, A06, A07).
    #[serde(rename = "patient.updated")]
    PatientUpdated(Box<crate::census::CensusChange>),
    /// New risk assessments or observations (Morse, Braden, ventilated, weight, isolation).
    #[serde(rename = "patient.assessed")]
    PatientAssessed(Box<crate::census::CensusChange>),
    /// An admission was entered in error and cancelled (HL7 A11): the patient is taken out of the census.
    #[serde(rename = "patient.admit_cancelled")]
    AdmitCancelled(Box<crate::census::CensusChange>),
    /// A transfer was cancelled (HL7 A12): the patient is back in the bed they came from.
    #[serde(rename = "patient.transfer_cancelled")]
    TransferCancelled(Box<crate::census::CensusChange>),
    /// A discharge was cancelled (HL7 A13): the patient is back in their bed, as before it.
    #[serde(rename = "patient.discharge_cancelled")]
    DischargeCancelled(Box<crate::census::CensusChange>),
    /// Two records of one patient were merged (HL7 A40): `merged` names the ids folded into `patient`.
    #[serde(rename = "patient.merged")]
    PatientMerged(Box<crate::census::CensusChange>),
    /// A set of vital signs charted with its NEWS2 (a spot check, or a continuous sensor's
    /// values every few minutes and at each change of score).
    #[serde(rename = "patient.observed")]
    PatientObserved(Box<crate::news2::Charted>),
    /// A bed's turnover moved on (occupied, dirty, cleaning, clean, ready, blocked).
    #[serde(rename = "bed.turnover")]
    BedTurnover(crate::census::TurnoverChange),
    /// A pump's infusion started, crossed a limit, was overridden, changed or ended (checked
    /// against the drug library): what the compliance report is made from.
    #[serde(rename = "pump.infusion")]
    PumpInfusion(Box<crate::infusion::InfusionRecord>),
    /// An environment sensor's value left its range (`ended_at` empty) or came back
    /// (`ended_at` set): the excursions of the daily log.
    #[serde(rename = "env.excursion")]
    EnvExcursion(Box<crate::environment::Excursion>),
    /// An environment sensor's hour: minimum, maximum and mean of what it measured, and how
    /// long its door was open (the daily log's figures).
    #[serde(rename = "env.summary")]
    EnvSummary(Box<crate::environment::Summary>),
    /// A rule's condition held: a new alert.
    #[serde(rename = "alert.raised")]
    AlertRaised(Box<Alert>),
    /// The condition came back while the alert was still open (`count` went up, the message
    /// may differ): the same alert, not a new one.
    #[serde(rename = "alert.updated")]
    AlertUpdated(Box<Alert>),
    /// Somebody took it (`acknowledged_by`): escalation stops.
    #[serde(rename = "alert.acknowledged")]
    AlertAcknowledged(Box<Alert>),
    /// Not acknowledged in time: the next step of the rule's chain now receives it (`audience`).
    #[serde(rename = "alert.escalated")]
    AlertEscalated(Box<Alert>),
    /// Still open after the rule's reminder interval: notify again.
    #[serde(rename = "alert.reminder")]
    AlertReminder(Box<Alert>),
    /// Silenced by hand until `silenced_until`.
    #[serde(rename = "alert.silenced")]
    AlertSilenced(Box<Alert>),
    /// The silence ran out and the alert is still open: it sounds again.
    #[serde(rename = "alert.unsilenced")]
    AlertUnsilenced(Box<Alert>),
    /// Closed: the condition cleared, or a person resolved it (`resolution`).
    #[serde(rename = "alert.resolved")]
    AlertResolved(Box<Alert>),
    /// A hospital alert manager reported what became of the alert (delivered to a phone,
    /// accepted or rejected by a person): the newest is last in `dispositions`. Not a change of
    /// the alert's state, so it is not sent back out to alert managers.
    #[serde(rename = "alert.disposition")]
    AlertDisposition(Box<Alert>),
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::LocationChanged { .. } => "location.changed",
            EventKind::LocationLost { .. } => "location.lost",
            EventKind::LocationFound { .. } => "location.found",
            EventKind::FallDetected { .. } => "fall.detected",
            EventKind::BedExit { .. } => "bed.exit",
            EventKind::PatientTurned { .. } => "patient.turned",
            EventKind::BedCommand { .. } => "bed.command",
            EventKind::BedCommandAcked { .. } => "bed.command_acked",
            EventKind::BedSuggested { .. } => "bed.suggested",
            EventKind::BedSuggestionEnded { .. } => "bed.suggestion_ended",
            EventKind::WorkOrderOpened(_) => "workorder.opened",
            EventKind::WorkOrderUpdated(_) => "workorder.updated",
            EventKind::AssetMeters { .. } => "asset.meters",
            EventKind::RecallOpened(_) => "recall.opened",
            EventKind::RecallUpdated(_) => "recall.updated",
            EventKind::BundleChanged { .. } => "bundle.changed",
            EventKind::StatusChanged { .. } => "asset.status_changed",
            EventKind::PatientAdmitted(_) => "patient.admitted",
            EventKind::PatientTransferred(_) => "patient.transferred",
            EventKind::PatientDischarged(_) => "patient.discharged",
            EventKind::PatientUpdated(_) => "patient.updated",
            EventKind::PatientAssessed(_) => "patient.assessed",
            EventKind::AdmitCancelled(_) => "patient.admit_cancelled",
            EventKind::TransferCancelled(_) => "patient.transfer_cancelled",
            EventKind::DischargeCancelled(_) => "patient.discharge_cancelled",
            EventKind::PatientMerged(_) => "patient.merged",
            EventKind::PatientObserved(_) => "patient.observed",
            EventKind::BedTurnover(_) => "bed.turnover",
            EventKind::PumpInfusion(_) => "pump.infusion",
            EventKind::EnvExcursion(_) => "env.excursion",
            EventKind::EnvSummary(_) => "env.summary",
            EventKind::AlertRaised(_) => "alert.raised",
            EventKind::AlertUpdated(_) => "alert.updated",
            EventKind::AlertAcknowledged(_) => "alert.acknowledged",
            EventKind::AlertEscalated(_) => "alert.escalated",
            EventKind::AlertReminder(_) => "alert.reminder",
            EventKind::AlertSilenced(_) => "alert.silenced",
            EventKind::AlertUnsilenced(_) => "alert.unsilenced",
            EventKind::AlertResolved(_) => "alert.resolved",
            EventKind::AlertDisposition(_) => "alert.disposition",
        }
    }

    /// The census change, for every `patient.*` event of the census.
    pub fn census(&self) -> Option<&crate::census::CensusChange> {
        match self {
            EventKind::PatientAdmitted(c) => Some(c),
            EventKind::PatientTransferred(c) => Some(c),
            EventKind::PatientDischarged(c) => Some(c),
            EventKind::PatientUpdated(c) => Some(c),
            EventKind::PatientAssessed(c) => Some(c),
            EventKind::AdmitCancelled(c) => Some(c),
            EventKind::TransferCancelled(c) => Some(c),
            EventKind::DischargeCancelled(c) => Some(c),
            EventKind::PatientMerged(c) => Some(c),
            _ => None,
        }
    }

    /// The alert, for every alert transition.
    pub fn alert(&self) -> Option<&Alert> {
        match self {
            EventKind::LocationChanged { .. }
            | EventKind::LocationLost { .. }
            | EventKind::LocationFound { .. }
            | EventKind::FallDetected { .. }
            | EventKind::BedExit { .. }
            | EventKind::PatientTurned { .. }
            | EventKind::BedCommand { .. }
            | EventKind::BedCommandAcked { .. }
            | EventKind::BedSuggested { .. }
            | EventKind::BedSuggestionEnded { .. }
            | EventKind::WorkOrderOpened(_)
            | EventKind::WorkOrderUpdated(_)
            | EventKind::AssetMeters { .. }
            | EventKind::RecallOpened(_)
            | EventKind::RecallUpdated(_)
            | EventKind::BundleChanged { .. }
            | EventKind::StatusChanged { .. }
            | EventKind::BedTurnover(_)
            | EventKind::PumpInfusion(_)
            | EventKind::EnvExcursion(_)
            | EventKind::EnvSummary(_)
            | EventKind::PatientAdmitted(_)
            | EventKind::PatientTransferred(_)
            | EventKind::PatientDischarged(_)
            | EventKind::PatientUpdated(_)
            | EventKind::PatientAssessed(_)
            | EventKind::AdmitCancelled(_)
            | EventKind::TransferCancelled(_)
            | EventKind::DischargeCancelled(_)
            | EventKind::PatientMerged(_)
            | EventKind::PatientObserved(_) => None,
            EventKind::AlertRaised(a)
            | EventKind::AlertUpdated(a)
            | EventKind::AlertAcknowledged(a)
            | EventKind::AlertEscalated(a)
            | EventKind::AlertReminder(a)
            | EventKind::AlertSilenced(a)
            | EventKind::AlertUnsilenced(a)
            | EventKind::AlertResolved(a)
            | EventKind::AlertDisposition(a) => Some(a),
        }
    }

    /// Every event kind's name, for filters and documentation.
    pub const NAMES: [&'static str; 40] = [
        "location.changed",
        "location.lost",
        "location.found",
        "fall.detected",
        "bed.exit",
        "patient.turned",
        "bundle.changed",
        "bed.command",
        "bed.command_acked",
        "bed.suggested",
        "bed.suggestion_ended",
        "workorder.opened",
        "workorder.updated",
        "asset.meters",
        "recall.opened",
        "recall.updated",
        "asset.status_changed",
        "patient.admitted",
        "patient.transferred",
        "patient.discharged",
        "patient.updated",
        "patient.assessed",
        "patient.admit_cancelled",
        "patient.transfer_cancelled",
        "patient.discharge_cancelled",
        "patient.merged",
        "patient.observed",
        "bed.turnover",
        "pump.infusion",
        "env.excursion",
        "env.summary",
        "alert.raised",
        "alert.updated",
        "alert.acknowledged",
        "alert.escalated",
        "alert.reminder",
        "alert.silenced",
        "alert.unsilenced",
        "alert.resolved",
        "alert.disposition",
    ];
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

/// What an alert is about, as in IEC 60601-1-8: the patient's condition, the equipment's, or
/// information.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Physiological,
    #[default]
    Technical,
    Advisory,
}

crate::wire_names!(AlertKind {
    Physiological => "physiological",
    Technical => "technical",
    Advisory => "advisory",
});

/// An alert as it stands after a transition. One open alert per (rule, subject).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    /// `{rule}:{subject}:{raised_at millis}`: unique, stable across restarts.
    pub id: String,
    pub rule: String,
    pub subject: String,
    pub unit: Option<String>,
    pub room: Option<String>,
    pub priority: Priority,
    /// Physiological, technical or advisory (the rule's `kind`; named `category` here because
    /// `kind` on an event is the event's kind).
    #[serde(default)]
    pub category: AlertKind,
    pub state: AlertState,
    /// The rule's title.
    #[serde(default)]
    pub title: String,
    /// The rule's message, filled in with the subject's facts when it was raised or updated.
    pub message: String,
    pub raised_at: Timestamp,
    /// Time of the latest transition.
    #[serde(default)]
    pub updated_at: Timestamp,
    /// How many times the condition came back while the alert was open (1 when raised).
    #[serde(default = "one")]
    pub count: u32,
    /// Who receives it now: `station:{unit}`, `role:{role}` (of the subject's unit when the role
    /// is a unit role), `overhead`.
    #[serde(default)]
    pub audience: Vec<String>,
    /// Escalation step: 0 as raised, n after the n-th step of the rule's chain.
    #[serde(default)]
    pub escalation: u32,
    /// When the escalation clock started: raised, or when a silence ran out.
    #[serde(default)]
    pub escalation_base: Timestamp,
    /// When recipients were last notified (raise, escalation, reminder, end of a silence).
    #[serde(default)]
    pub notified_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silenced_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// `system` when the condition cleared, else the person who resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// Why it was resolved: `condition cleared`, a person's reason, `rule removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// When the device sent the data this alert was raised (or last updated) on, if that data
    /// reached Orderly late (a broker's backlog after an outage): the alert is about then, not
    /// now, and says how old it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_at: Option<Timestamp>,
    /// What the hospital's alert managers reported of it (delivered, accepted by whom, on
    /// which device), oldest first; at most [`Alert::MAX_DISPOSITIONS`], the newest kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dispositions: Vec<Disposition>,
}

/// What became of an alert in a hospital alert manager (IHE PCD ACM's alert status).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Disposition {
    pub status: DeliveryStatus,
    /// The person, as the alert manager names them ("Nurse Ana Lima").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The device it reached ("phone", "badge 4411").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The alert manager that reported it (its name in Orderly's configuration, or its
    /// sending application).
    pub manager: String,
    /// When the alert manager says it happened.
    pub at: Timestamp,
}

/// The alert statuses an alert manager reports (IHE PCD-05's dissemination statuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The alert manager has it.
    Received,
    /// It reached a person's device.
    Delivered,
    /// The person opened it.
    Read,
    /// The person took it.
    Accepted,
    /// The person declined it (the alert manager passes it on).
    Rejected,
    /// No device could be reached.
    Undeliverable,
    /// The alert manager stopped disseminating it.
    Cancelled,
}

crate::wire_names!(DeliveryStatus {
    Received => "received",
    Delivered => "delivered",
    Read => "read",
    Accepted => "accepted",
    Rejected => "rejected",
    Undeliverable => "undeliverable",
    Cancelled => "cancelled",
});

impl Disposition {
    /// In plain words: "accepted by Nurse Ana Lima on her phone" style, "delivered to badge
    /// 4411".
    pub fn says(&self) -> String {
        let mut s = self.status.as_str().to_string();
        if let Some(by) = &self.by {
            s.push_str(" by ");
            s.push_str(by);
        }
        if let Some(d) = &self.device {
            s.push_str(if self.by.is_some() { " on " } else { " to " });
            s.push_str(d);
        }
        s
    }
}

fn one() -> u32 {
    1
}

impl Alert {
    /// The most dispositions an alert keeps (the newest): an event stays small.
    pub const MAX_DISPOSITIONS: usize = 16;

    /// The order a nurse reads alerts in: highest priority first; within a priority the
    /// patient's condition before equipment, equipment before information (IEC 60601-1-8's
    /// physiological before technical); then the oldest, then by id (so equal alerts keep one
    /// order everywhere).
    pub fn urgency(a: &Alert, b: &Alert) -> std::cmp::Ordering {
        let rank = |k: AlertKind| match k {
            AlertKind::Physiological => 0,
            AlertKind::Technical => 1,
            AlertKind::Advisory => 2,
        };
        a.priority
            .cmp(&b.priority)
            .then(rank(a.category).cmp(&rank(b.category)))
            .then(a.raised_at.cmp(&b.raised_at))
            .then(a.id.cmp(&b.id))
    }

    /// True while open and not silenced at `now`.
    pub fn sounding(&self, now: Timestamp) -> bool {
        self.state != AlertState::Resolved && self.silenced_until.is_none_or(|t| now >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event is as large as its largest body, and a step may emit one per tag (25,000 when
    /// a flood's tags are first placed, all held until committed): the large bodies (alerts,
    /// census changes, work orders, ...) are boxed, so an event is at most 256 bytes, not the
    /// 600 it was (heaptrack: 20 MB of one step's events at 25,000 tags).
    #[test]
    fn an_event_is_small_its_large_bodies_boxed() {
        let size = std::mem::size_of::<OutEvent>();
        assert!(size <= 256, "OutEvent is {size} bytes");
    }

    /// A later bed exit (high, the patient) comes before an earlier recalled pump in use
    /// (high, equipment); priority still comes first.
    #[test]
    fn the_patients_condition_comes_before_equipment_within_a_priority() {
        let alert = |id: &str, p: Priority, c: AlertKind, s: i64| {
            let mut a: Alert = serde_json::from_value(serde_json::json!({
                "id": id, "rule": id, "subject": "S", "unit": "ICU", "room": null,
                "priority": "high", "category": "physiological", "state": "active", "message": "m",
                "raised_at": "2026-11-22T10:00:00.000Z", "audience": ["station:ICU"],
            }))
            .unwrap();
            a.priority = p;
            a.category = c;
            a.raised_at = Timestamp(s);
            a
        };
        let mut v = [
            alert("advice", Priority::High, AlertKind::Advisory, 0),
            alert("recall", Priority::High, AlertKind::Technical, 1),
            alert("exit", Priority::High, AlertKind::Physiological, 2),
            alert("low-exit", Priority::Low, AlertKind::Physiological, 0),
            alert("exit-2", Priority::High, AlertKind::Physiological, 3),
        ];
        v.sort_by(Alert::urgency);
        let ids: Vec<&str> = v.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["exit", "exit-2", "recall", "advice", "low-exit"]);
    }

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

    /// Work orders and recalls are newtype variants too: their fields sit beside `kind`.
    #[test]
    fn maintenance_events_round_trip() {
        use crate::maintenance::{Recall, Risk, WorkOrder, WorkOrderStatus};
        let w = WorkOrder {
            id: "wo-1".into(),
            asset: "PUMP-0001".into(),
            asset_kind: "infusion_pump".into(),
            model: Some("Alaris 8100 LVP".into()),
            unit: Some("ICU".into()),
            reason: "runtime".into(),
            detail: "d".into(),
            risk: Risk::High,
            checks: vec!["flow".into()],
            measures: Default::default(),
            results: vec![],
            status: WorkOrderStatus::Open,
            opened_at: Timestamp(1),
            opened_by: "orderly".into(),
            updated_at: Timestamp(1),
            scheduled_for: None,
            assignee: None,
            started_at: None,
            closed_at: None,
            closed_by: None,
            notes: vec![],
            usage_at_close: None,
        };
        let r = Recall {
            id: "recall-1".into(),
            title: "t".into(),
            asset_kind: Some("infusion_pump".into()),
            model: "Alaris 8100 LVP".into(),
            serial_from: Some("A".into()),
            serial_to: Some("B".into()),
            serials: vec![],
            detail: String::new(),
            status: "open".into(),
            opened_at: Timestamp(1),
            opened_by: "Bo".into(),
            closed_at: None,
            closed_by: None,
            assets: vec!["PUMP-0001".into()],
        };
        for kind in [
            EventKind::WorkOrderOpened(Box::new(w.clone())),
            EventKind::WorkOrderUpdated(Box::new(w)),
            EventKind::RecallOpened(Box::new(r.clone())),
            EventKind::RecallUpdated(Box::new(r)),
        ] {
            let e = OutEvent {
                seq: 1,
                at: Timestamp(0),
                kind,
            };
            let s = serde_json::to_string(&e).unwrap();
            let back: OutEvent = serde_json::from_str(&s).unwrap();
            assert_eq!(back, e, "{s}");
        }
    }

    /// An alert's fields sit beside the event's own (`kind` is the event's): they must not clash.
    #[test]
    fn every_alert_event_round_trips() {
        let a: Alert = serde_json::from_value(serde_json::json!({
            "id": "r:S:1", "rule": "r", "subject": "S", "unit": "ICU", "room": null,
            "priority": "high", "category": "physiological", "state": "active", "message": "m",
            "raised_at": "2026-11-22T10:00:00.000Z", "audience": ["station:ICU"],
        }))
        .unwrap();
        for kind in [
            EventKind::AlertRaised(Box::new(a.clone())),
            EventKind::AlertUpdated(Box::new(a.clone())),
            EventKind::AlertAcknowledged(Box::new(a.clone())),
            EventKind::AlertEscalated(Box::new(a.clone())),
            EventKind::AlertReminder(Box::new(a.clone())),
            EventKind::AlertSilenced(Box::new(a.clone())),
            EventKind::AlertUnsilenced(Box::new(a.clone())),
            EventKind::AlertResolved(Box::new(a.clone())),
        ] {
            let e = OutEvent {
                seq: 1,
                at: Timestamp(0),
                kind,
            };
            let s = serde_json::to_string(&e).unwrap();
            let back: OutEvent = serde_json::from_str(&s).unwrap();
            assert_eq!(back, e, "{s}");
            assert!(EventKind::NAMES.contains(&e.kind_name()));
            assert_eq!(back.unit(), Some("ICU"));
        }
    }
}
