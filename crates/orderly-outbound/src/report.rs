//! An alert event as the ACM report an alert manager receives: the state change as an event
//! phase, and the patient, bed and source device the alert is about, looked up in the read
//! model.

use orderly_hl7::acm::{AlertPriority, AlertReport, AlertType, Phase};
use orderly_model::{Alert, AlertKind, EventKind, OutEvent, Priority, Snapshot};

/// The event kinds an alert manager receives: every change of an alert's state. Not
/// `alert.disposition`, which comes from an alert manager.
pub fn acm_kinds() -> Vec<&'static str> {
    orderly_model::EventKind::NAMES
        .iter()
        .copied()
        .filter(|k| k.starts_with("alert.") && *k != "alert.disposition")
        .collect()
}

/// The report of an alert event, or None for an event that is not a change of an alert's
/// state.
pub fn alert_report(e: &OutEvent, snap: &Snapshot) -> Option<AlertReport> {
    let a: &Alert = e.kind.alert()?;
    let phase = match &e.kind {
        EventKind::AlertRaised(_) => Phase::Start,
        EventKind::AlertEscalated(_) => Phase::Escalate,
        EventKind::AlertReminder(_) => Phase::Continue,
        EventKind::AlertResolved(_) => Phase::End,
        EventKind::AlertDisposition(_) => return None,
        _ => Phase::Update,
    };
    let by = match &e.kind {
        EventKind::AlertAcknowledged(_) => a.acknowledged_by.clone(),
        EventKind::AlertSilenced(_) => a.silenced_by.clone(),
        EventKind::AlertResolved(_) => a.resolved_by.clone(),
        _ => None,
    };
    let mut r = AlertReport {
        alert_id: a.id.clone(),
        rule: a.rule.clone(),
        title: a.title.clone(),
        message: a.message.clone(),
        priority: match a.priority {
            Priority::High => AlertPriority::High,
            Priority::Medium => AlertPriority::Medium,
            Priority::Low => AlertPriority::Low,
            Priority::Advisory => AlertPriority::None,
        },
        kind: match a.category {
            AlertKind::Physiological => AlertType::Physiological,
            AlertKind::Technical => AlertType::Technical,
            AlertKind::Advisory => AlertType::Advisory,
        },
        phase,
        acknowledged: a.acknowledged_by.is_some(),
        silenced: a.silenced_until.is_some_and(|t| t > e.at),
        raised_at: orderly_hl7::time_of(a.raised_at),
        at: orderly_hl7::time_of(e.at),
        subject: a.subject.clone(),
        unit: a.unit.clone(),
        room: a.room.clone(),
        by,
        ..AlertReport::default()
    };
    // The patient, bed and device: the subject is a patient, a bed (its patient), or an item.
    let patient = snap.patients.get(a.subject.as_str()).cloned().or_else(|| {
        snap.assets
            .get(a.subject.as_str())
            .and_then(|asset| snap.patients.values().find(|p| p.bed == asset.id).cloned())
    });
    if let Some(p) = &patient {
        let id = p
            .record
            .identifiers
            .first()
            .map(|i| i.rsplit('/').next().unwrap_or(i).to_string())
            .unwrap_or_else(|| p.id.clone());
        let (given, family) = match p.name.rsplit_once(' ') {
            Some((g, f)) => (g.to_string(), f.to_string()),
            None => (String::new(), p.name.clone()),
        };
        r.patient = Some((id, family, given));
        r.bed = Some(p.bed.clone()).filter(|b| !b.is_empty());
        r.device = p.wearable.clone();
        if r.unit.is_none() {
            r.unit = p.unit.clone();
        }
        if r.room.is_none() {
            r.room = p.room.clone();
        }
    }
    if let Some(asset) = snap.assets.get(a.subject.as_str()) {
        if asset.kind == "bed" {
            r.bed = Some(asset.id.clone());
        }
        r.device = asset.device.clone().or_else(|| asset.tag.clone());
    }
    Some(r)
}
