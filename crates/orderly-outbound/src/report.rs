//! An alert event as the ACM report an alert manager receives: the state change as an event
//! phase, and the patient, bed and source device the alert is about, looked up in the read
//! model.

use orderly_hl7::acm::{AlertPriority, AlertReport, AlertType, Phase};
use orderly_model::{Alert, AlertKind, EventKind, OutEvent, Priority, Snapshot, Timestamp};

/// The event kinds an alert manager receives: every change of an alert's state. Not
/// `alert.disposition`, which comes from an alert manager.
pub fn acm_kinds() -> Vec<&'static str> {
    orderly_model::EventKind::NAMES
        .iter()
        .copied()
        .filter(|k| k.starts_with("alert.") && *k != "alert.disposition")
        .collect()
}

/// An HL7 time stamp (UTC, `YYYYMMDDHHMMSS.SSS+0000`).
pub fn hl7_time(t: Timestamp) -> String {
    let ms = t.millis();
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}.{frac:03}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 as (year, month, day) (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
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
        raised_at: hl7_time(a.raised_at),
        at: hl7_time(e.at),
        subject: a.subject.clone(),
        unit: a.unit.clone(),
        room: a.room.clone(),
        by,
        ..AlertReport::default()
    };
    // The patient, bed and device: the subject is a patient, a bed (its patient), or an item.
    let patient = snap.patients.get(&a.subject).cloned().or_else(|| {
        snap.assets
            .get(&a.subject)
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
    if let Some(asset) = snap.assets.get(&a.subject) {
        if asset.kind == "bed" {
            r.bed = Some(asset.id.clone());
        }
        r.device = asset.device.clone().or_else(|| asset.tag.clone());
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hl7_times_are_utc_with_milliseconds() {
        assert_eq!(hl7_time(Timestamp(0)), "19700101000000.000+0000");
        // 2026-12-05T17:09:50.123Z
        assert_eq!(
            hl7_time(Timestamp(1_796_490_590_123)),
            "20261205170950.123+0000"
        );
        assert_eq!(
            orderly_hl7::time_millis(&hl7_time(Timestamp(1_796_490_590_123))),
            Some(1_796_490_590_123)
        );
    }
}
