//! A nurse's decision on a bed suggestion, and why one can be refused.

/// What a nurse decided about a pending suggestion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send it to the bed (only while a caregiver badge is in the bed's room).
    Confirm { by: String },
    /// Do not send it; not offered again for this episode (or for the snooze period).
    Dismiss { by: String, reason: String },
}

/// A decision taken: the sequence number of the event that records it, and the command it
/// became (a confirmation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub seq: u64,
    pub command_id: Option<String>,
}

/// Why a decision on a suggestion was refused; nothing changed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SuggestionError {
    #[error("no pending suggestion {0:?}")]
    NotFound(String),
    #[error(
        "no caregiver badge is in {room}: a setting that moves the bed is confirmed only with someone at the bedside"
    )]
    NobodyAtBedside { room: String },
    #[error("bed {0} is moving: a moving bed is never commanded")]
    Moving(String),
    #[error("bed {0} has not reported its state: it cannot be commanded")]
    Unknown(String),
    #[error("bed {bed} already has a command pending for {setting}")]
    Busy { bed: String, setting: String },
    #[error("bed {0} has had too many commands in the last minutes; try again shortly")]
    RateLimited(String),
}

/// A command sent to a bed and not yet settled (kept across a restart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCommand {
    pub command_id: String,
    pub bed: String,
    /// The settings asked for.
    pub keys: Vec<String>,
    /// Their values, as the rule grammar writes them (`armed`, `true`, `30`), in `keys` order.
    pub values: Vec<String>,
    pub rule: String,
    pub at: crate::Timestamp,
}

/// A command payload's value as the rule grammar writes it (`armed`, `true`, `30`).
pub fn grammar_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Folds the bed-command and suggestion events of the log, oldest first, into what was still
/// open at its end: commands without an acknowledgement, suggestions not ended.
pub fn still_open<'a>(
    events: impl IntoIterator<Item = &'a crate::OutEvent>,
) -> (Vec<PendingCommand>, Vec<crate::view::SuggestionView>) {
    use crate::EventKind;
    use std::collections::BTreeMap;
    let mut commands: BTreeMap<String, PendingCommand> = BTreeMap::new();
    let mut suggestions: BTreeMap<String, crate::view::SuggestionView> = BTreeMap::new();
    for e in events {
        match &e.kind {
            EventKind::BedCommand {
                command_id,
                bed,
                set,
                rule,
                ..
            } => {
                commands.insert(
                    command_id.clone(),
                    PendingCommand {
                        command_id: command_id.clone(),
                        bed: bed.clone(),
                        keys: set.keys().cloned().collect(),
                        values: set.values().map(grammar_value).collect(),
                        rule: rule.clone(),
                        at: e.at,
                    },
                );
            }
            EventKind::BedCommandAcked { command_id, .. } => {
                commands.remove(command_id);
            }
            EventKind::BedSuggested {
                suggestion_id,
                bed,
                rule,
                set,
                message,
                room,
                unit,
            } => {
                suggestions.insert(
                    suggestion_id.clone(),
                    crate::view::SuggestionView {
                        id: suggestion_id.clone(),
                        bed: bed.clone(),
                        rule: rule.clone(),
                        set: set.clone(),
                        message: message.clone(),
                        room: room.clone(),
                        unit: unit.clone(),
                        at: e.at,
                    },
                );
            }
            EventKind::BedSuggestionEnded { suggestion_id, .. } => {
                suggestions.remove(suggestion_id);
            }
            _ => {}
        }
    }
    (
        commands.into_values().collect(),
        suggestions.into_values().collect(),
    )
}
