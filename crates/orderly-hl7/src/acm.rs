//! IHE PCD Alert Communication Management, the Alert Reporter's side: each state change of an
//! alert as an ORU^R40 (PCD-04 Report Alert) for a hospital's alert manager, the manager's
//! acknowledgement read back, and the alert statuses it reports (PCD-05: delivered to a device,
//! accepted or rejected by a person) read into a [`Status`].
//!
//! The ORU^R40 carries: MSH (MSH-21 the ACM profile), PID (the patient, when the alert is about
//! one), PV1-3 (point of care^room^bed^facility), OBR-3 the alert's identity (the same in every
//! message about one alert), OBR-4 `196616^MDC_EVT_ALARM^MDC`, OBR-7 when it was raised, and the
//! alert's facets as OBX segments sharing the sub-id `1.0.0.0.n`:
//! 1. the event: a local code (`{rule}^{title}^99ORDERLY`), the message in OBX-5, priority and
//!    kind in OBX-8 (`PH`/`PM`/`PL`/`PN` ~ `SP` physiological / `ST` technical / `SA` advisory),
//!    OBX-14 when the transition happened, OBX-18 the source device;
//! 2. `68480^MDC_ATTR_ALERT_SOURCE^MDC`: the subject (bed, patient, asset) it is about;
//! 3. `68481^MDC_ATTR_EVENT_PHASE^MDC`: `start`, `update`, `escalate`, `continue` (reminder),
//!    `end`;
//! 4. `68482^MDC_ATTR_ALARM_STATE^MDC`: `active` or `inactive`;
//! 5. `68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC`: `enabled`, `alert-acknowledged`,
//!    `audio-paused` (silenced);
//! 6. `68484^MDC_ATTR_ALARM_PRIORITY^MDC` and 7. `68485^MDC_ATTR_ALERT_TYPE^MDC`, repeated as
//!    facets for managers that read them there.
//!
//! Core: builds and reads text only.

use crate::ack::{AckCode, Problem};
use crate::message::{Delims, Message};
use orderly_model::DeliveryStatus;

/// An alert state change as the alert manager needs it; every text as a person reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertReport {
    /// The alert's identity (OBR-3), stable for its whole life.
    pub alert_id: String,
    /// The rule that raised it (the event's local code) and its title.
    pub rule: String,
    pub title: String,
    /// What is wrong and what to do.
    pub message: String,
    pub priority: AlertPriority,
    pub kind: AlertType,
    pub phase: Phase,
    pub acknowledged: bool,
    pub silenced: bool,
    /// When it was raised and when this transition happened (HL7 time stamps).
    pub raised_at: String,
    pub at: String,
    /// The subject it is about (a bed, patient or asset id).
    pub subject: String,
    /// The patient: identifier, family name, given name.
    pub patient: Option<(String, String, String)>,
    pub unit: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
    /// The device whose data raised it (a bed's frame, a wearable), if any.
    pub device: Option<String>,
    /// Who acknowledged, silenced or resolved it, when a person did.
    pub by: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlertPriority {
    High,
    Medium,
    #[default]
    Low,
    None,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AlertType {
    Physiological,
    #[default]
    Technical,
    Advisory,
}

/// The event phase (MDC_ATTR_EVENT_PHASE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    #[default]
    Start,
    /// Something other than the alarm state changed (acknowledged, silenced, its text).
    Update,
    Escalate,
    /// Still going: a reminder.
    Continue,
    End,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Update => "update",
            Phase::Escalate => "escalate",
            Phase::Continue => "continue",
            Phase::End => "end",
        }
    }
}

/// Who Orderly is in MSH-3/4 and who it sends to in MSH-5/6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties {
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
}

/// The ACM profile's identifier in MSH-21.
pub const PROFILE: &str = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO";

/// The ORU^R40 for `r`, with MSH-7 `now` and MSH-10 `control_id` (unique per state change, the
/// same when the message is sent again, so an alert manager can drop a repeat).
pub fn report(r: &AlertReport, parties: &Parties, now: &str, control_id: &str) -> String {
    let d = Delims::default();
    let e = |s: &str| d.escape(s);
    let mut out = format!(
        "MSH|^~\\&|{}|{}|{}|{}|{now}||ORU^R40^ORU_R40|{}|P|2.6|||AL|NE||UNICODE UTF-8|||{PROFILE}\r",
        e(&parties.sending_application),
        e(&parties.sending_facility),
        e(&parties.receiving_application),
        e(&parties.receiving_facility),
        e(control_id),
    );
    if let Some((id, family, given)) = &r.patient {
        out.push_str(&segment(
            "PID",
            &[
                (3, format!("{}^^^^MR", e(id))),
                (5, format!("{}^{}", e(family), e(given))),
            ],
        ));
    }
    let loc = |o: &Option<String>| o.as_deref().map(e).unwrap_or_default();
    out.push_str(&segment(
        "PV1",
        &[
            (2, "I".into()),
            (
                3,
                format!(
                    "{}^{}^{}^{}",
                    loc(&r.unit),
                    loc(&r.room),
                    loc(&r.bed),
                    e(&parties.sending_facility)
                ),
            ),
        ],
    ));
    out.push_str(&segment(
        "OBR",
        &[
            (1, "1".into()),
            (
                3,
                format!("{}^{}", e(&r.alert_id), e(&parties.sending_application)),
            ),
            (4, "196616^MDC_EVT_ALARM^MDC".into()),
            (7, r.raised_at.clone()),
            (
                8,
                if r.phase == Phase::End {
                    r.at.clone()
                } else {
                    String::new()
                },
            ),
            (25, "F".into()),
        ],
    ));
    let priority = match r.priority {
        AlertPriority::High => "PH",
        AlertPriority::Medium => "PM",
        AlertPriority::Low => "PL",
        AlertPriority::None => "PN",
    };
    let kind = match r.kind {
        AlertType::Physiological => "SP",
        AlertType::Technical => "ST",
        AlertType::Advisory => "SA",
    };
    let text = if r.message.is_empty() {
        &r.title
    } else {
        &r.message
    };
    out.push_str(&segment(
        "OBX",
        &[
            (1, "1".into()),
            (2, "ST".into()),
            (3, format!("{}^{}^99ORDERLY", e(&r.rule), e(&r.title))),
            (4, "1.0.0.0.1".into()),
            (5, e(text)),
            (8, format!("{priority}~{kind}")),
            (11, "F".into()),
            (14, r.at.clone()),
            (16, r.by.as_deref().map(e).unwrap_or_default()),
            (18, r.device.as_deref().map(e).unwrap_or_default()),
        ],
    ));
    let facets: [(&str, String); 6] = [
        ("68480^MDC_ATTR_ALERT_SOURCE^MDC", e(&r.subject)),
        ("68481^MDC_ATTR_EVENT_PHASE^MDC", r.phase.as_str().into()),
        (
            "68482^MDC_ATTR_ALARM_STATE^MDC",
            if r.phase == Phase::End {
                "inactive"
            } else {
                "active"
            }
            .into(),
        ),
        (
            "68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC",
            if r.acknowledged {
                "alert-acknowledged"
            } else if r.silenced {
                "audio-paused"
            } else {
                "enabled"
            }
            .into(),
        ),
        ("68484^MDC_ATTR_ALARM_PRIORITY^MDC", priority.into()),
        ("68485^MDC_ATTR_ALERT_TYPE^MDC", kind.into()),
    ];
    for (i, (id, value)) in facets.into_iter().enumerate() {
        out.push_str(&segment(
            "OBX",
            &[
                (1, (i + 2).to_string()),
                (2, "ST".into()),
                (3, id.into()),
                (4, format!("1.0.0.0.{}", i + 2)),
                (5, value),
                (11, "F".into()),
            ],
        ));
    }
    out
}

/// A segment (not MSH) with `fields` (number, value already escaped) in place, ended by CR;
/// trailing empty fields left out.
fn segment(name: &str, fields: &[(usize, String)]) -> String {
    let last = fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, _)| *n)
        .max()
        .unwrap_or(0);
    let mut parts = vec![String::new(); last + 1];
    parts[0] = name.to_string();
    for (n, v) in fields {
        if *n <= last {
            parts[*n] = v.clone();
        }
    }
    let mut s = parts.join("|");
    s.push('\r');
    s
}

/// What the alert manager answered to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub code: AckCode,
    /// MSA-2: the control id it acknowledges.
    pub acknowledges: String,
    /// MSA-3 or ERR's text, when it gave one.
    pub text: String,
}

/// Reads an acknowledgement (ACK, or ORA^R41 as PCD-04 names it): any message with an MSA.
pub fn read_answer(m: &Message) -> Result<Answer, Problem> {
    let Some(code) = m.get("MSA", 1, 1) else {
        return Err(Problem::new(
            "MSA",
            1,
            101,
            "the answer has no MSA-1 acknowledgement code",
        ));
    };
    let code = match code.as_str() {
        "AA" | "CA" => AckCode::Aa,
        "AE" | "CE" => AckCode::Ae,
        "AR" | "CR" => AckCode::Ar,
        other => {
            return Err(Problem::new(
                "MSA",
                1,
                103,
                format!("MSA-1 {other:?} is not AA, AE or AR"),
            ));
        }
    };
    let text = m
        .get("ERR", 8, 1)
        .or_else(|| m.get("MSA", 3, 1))
        .unwrap_or_default();
    Ok(Answer {
        code,
        acknowledges: m.get("MSA", 2, 1).unwrap_or_default(),
        text,
    })
}

/// A status as an alert manager words it (`Accepted`, `delivered`, `Canceled`), or None.
fn parse_status(s: &str) -> Option<DeliveryStatus> {
    let s = s.trim().to_ascii_lowercase();
    DeliveryStatus::parse(if s == "canceled" { "cancelled" } else { &s })
}

/// An alert manager's report of what became of an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The alert's identity as Orderly sent it (OBR-3.1).
    pub alert_id: String,
    pub status: DeliveryStatus,
    /// The person (OBX-16 of the status, `id^family^given^^^prefix`), in reading order.
    pub by: Option<String>,
    /// The device it reached (OBX-18 of the status).
    pub device: Option<String>,
    /// When (OBX-14 of the status, else MSH-7), as sent.
    pub at: Option<String>,
    /// MSH-3.1: the alert manager.
    pub manager: String,
}

/// The triggers read as alert statuses: ORU^R41, R42 and R43 (the Technical Framework's
/// revisions have named PCD-05 and PCD-07's messages differently; all are read alike).
pub const STATUS_TRIGGERS: [&str; 3] = ["R41", "R42", "R43"];

/// Whether `m` is an alert status report (an ORU whose trigger is one of [`STATUS_TRIGGERS`]).
pub fn is_status(m: &Message) -> bool {
    m.get("MSH", 9, 1).as_deref() == Some("ORU")
        && m.get("MSH", 9, 2)
            .is_some_and(|t| STATUS_TRIGGERS.contains(&t.as_str()))
}

/// Reads an alert status report: OBR-3.1 names the alert; the OBX whose identifier (component
/// 1 or 2) ends with `ALERT_STATUS`, `DELIVERY_STATUS` or `DISSEMINATION_STATUS` holds the status
/// in OBX-5, the person in OBX-16 and the device in OBX-18.
pub fn read_status(m: &Message) -> Result<Status, Problem> {
    let Some(alert_id) = m
        .get("OBR", 3, 1)
        .filter(|s| !s.is_empty())
        .or_else(|| m.get("OBR", 2, 1).filter(|s| !s.is_empty()))
    else {
        return Err(Problem::new(
            "OBR",
            3,
            101,
            "the alert status names no alert (OBR-3, the identity Orderly sent in its ORU^R40)",
        ));
    };
    let is_status_obx = |id: &str| {
        ["ALERT_STATUS", "DELIVERY_STATUS", "DISSEMINATION_STATUS"]
            .iter()
            .any(|s| id.to_ascii_uppercase().ends_with(s))
    };
    let Some(obx) = m.all("OBX").find(|s| {
        let c1 = m.get_in(s, 3, 1).unwrap_or_default();
        let c2 = m.get_in(s, 3, 2).unwrap_or_default();
        is_status_obx(&c1) || is_status_obx(&c2)
    }) else {
        return Err(Problem::new(
            "OBX",
            3,
            101,
            "no OBX carries the alert status (OBX-3 ALERT_STATUS, OBX-5 delivered, accepted, ...)",
        ));
    };
    let raw = m.get_in(obx, 5, 1).unwrap_or_default();
    let Some(status) = parse_status(&raw) else {
        let names: Vec<&str> = DeliveryStatus::ALL.iter().map(|k| k.as_str()).collect();
        return Err(Problem::new(
            "OBX",
            5,
            103,
            format!(
                "alert status {raw:?} is not one Orderly knows ({})",
                names.join(", ")
            ),
        ));
    };
    let person = {
        let part = |c: usize| m.get_in(obx, 16, c).filter(|s| !s.trim().is_empty());
        let words: Vec<String> = [part(6), part(3), part(2)].into_iter().flatten().collect();
        if words.is_empty() {
            part(1)
        } else {
            Some(words.join(" "))
        }
    };
    let device = m.get_in(obx, 18, 1).filter(|s| !s.trim().is_empty());
    let at = m
        .get_in(obx, 14, 1)
        .filter(|s| !s.is_empty())
        .or_else(|| m.get("MSH", 7, 1));
    Ok(Status {
        alert_id,
        status,
        by: person,
        device,
        at,
        manager: m.get("MSH", 3, 1).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parties() -> Parties {
        Parties {
            sending_application: "ORDERLY".into(),
            sending_facility: "GH".into(),
            receiving_application: "AM".into(),
            receiving_facility: "GH".into(),
        }
    }

    fn fall() -> AlertReport {
        AlertReport {
            alert_id: "fall-alone:P-1:1000".into(),
            rule: "fall-alone".into(),
            title: "Fall, patient alone".into(),
            message: "Ana Lima may have fallen in 3 West room 1|alone: go now".into(),
            priority: AlertPriority::High,
            kind: AlertType::Physiological,
            phase: Phase::Start,
            raised_at: "20261205120000".into(),
            at: "20261205120000".into(),
            subject: "P-1".into(),
            patient: Some(("MRN1".into(), "Lima".into(), "Ana".into())),
            unit: Some("3W".into()),
            room: Some("3W-01".into()),
            bed: Some("3W-01-A".into()),
            device: Some("WB-7".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_report_parses_back_with_its_facets_and_escaped_text() {
        let text = report(&fall(), &parties(), "20261205120001", "ORD-1");
        let m = Message::parse(&text).expect("parses");
        assert_eq!(m.get("MSH", 9, 2).as_deref(), Some("R40"));
        assert_eq!(m.get("MSH", 10, 1).as_deref(), Some("ORD-1"));
        assert_eq!(m.get("MSH", 21, 1).as_deref(), Some("IHE_PCD_ACM_001"));
        assert_eq!(m.get("PID", 3, 1).as_deref(), Some("MRN1"));
        assert_eq!(m.get("PV1", 3, 3).as_deref(), Some("3W-01-A"));
        assert_eq!(m.get("OBR", 3, 1).as_deref(), Some("fall-alone:P-1:1000"));
        let obx: Vec<_> = m.all("OBX").collect();
        assert_eq!(obx.len(), 7);
        assert_eq!(
            m.get_in(obx[0], 5, 1).as_deref(),
            Some("Ana Lima may have fallen in 3 West room 1|alone: go now")
        );
        assert_eq!(
            m.repetitions(obx[0], 8),
            vec!["PH", "SP"],
            "priority ~ kind in OBX-8"
        );
        assert_eq!(m.get_in(obx[0], 18, 1).as_deref(), Some("WB-7"));
        assert_eq!(m.get_in(obx[2], 5, 1).as_deref(), Some("start"));
        assert_eq!(m.get_in(obx[3], 5, 1).as_deref(), Some("active"));
        assert_eq!(m.get_in(obx[4], 5, 1).as_deref(), Some("enabled"));
    }

    #[test]
    fn acknowledged_and_ended_alerts_say_so() {
        let mut r = fall();
        r.phase = Phase::Update;
        r.acknowledged = true;
        let m = Message::parse(&report(&r, &parties(), "20261205120001", "2")).unwrap();
        let obx: Vec<_> = m.all("OBX").collect();
        assert_eq!(m.get_in(obx[2], 5, 1).as_deref(), Some("update"));
        assert_eq!(
            m.get_in(obx[4], 5, 1).as_deref(),
            Some("alert-acknowledged")
        );
        r.phase = Phase::End;
        let m = Message::parse(&report(&r, &parties(), "20261205120001", "3")).unwrap();
        let obx: Vec<_> = m.all("OBX").collect();
        assert_eq!(m.get_in(obx[3], 5, 1).as_deref(), Some("inactive"));
        assert_eq!(m.get("OBR", 8, 1).as_deref(), Some("20261205120000"));
    }

    #[test]
    fn a_report_without_a_patient_has_no_pid() {
        let mut r = fall();
        r.patient = None;
        let m = Message::parse(&report(&r, &parties(), "20261205120001", "4")).unwrap();
        assert!(m.segment("PID").is_none());
    }

    #[test]
    fn answers_are_read_with_their_code_and_text() {
        let m = Message::parse(
            "MSH|^~\\&|AM|GH|ORDERLY|GH|20261205||ACK^R40^ACK|9|P|2.6\rMSA|AE|ORD-1|bad bed\r",
        )
        .unwrap();
        let a = read_answer(&m).unwrap();
        assert_eq!(
            (a.code, a.acknowledges.as_str(), a.text.as_str()),
            (AckCode::Ae, "ORD-1", "bad bed")
        );
        let m = Message::parse("MSH|^~\\&|AM|GH|||20261205||ACK|9|P|2.6\rMSA|XX|1\r").unwrap();
        assert!(read_answer(&m).is_err());
    }

    #[test]
    fn a_status_names_the_alert_the_person_and_the_device() {
        let m = Message::parse(
            "MSH|^~\\&|VOCERA|GH|ORDERLY|GH|20261205120005||ORU^R42^ORU_R01|77|P|2.6\r\
             OBR|1||fall-alone:P-1:1000|196616^MDC_EVT_ALARM^MDC\r\
             OBX|1|ST|ALERT_STATUS^ALERT_STATUS|1.0.0.0.1|Accepted||||||F|||20261205120004||N55^Lima^Ana^^^Nurse||phone 4411\r",
        )
        .unwrap();
        assert!(is_status(&m));
        let s = read_status(&m).unwrap();
        assert_eq!(s.alert_id, "fall-alone:P-1:1000");
        assert_eq!(s.status, DeliveryStatus::Accepted);
        assert_eq!(s.by.as_deref(), Some("Nurse Ana Lima"));
        assert_eq!(s.device.as_deref(), Some("phone 4411"));
        assert_eq!(s.at.as_deref(), Some("20261205120004"));
        assert_eq!(s.manager, "VOCERA");
    }

    #[test]
    fn a_status_without_alert_or_with_an_unknown_word_is_a_problem() {
        let m = Message::parse(
            "MSH|^~\\&|AM|GH|||20261205||ORU^R42|1|P|2.6\rOBR|1\rOBX|1|ST|ALERT_STATUS||delivered\r",
        )
        .unwrap();
        assert_eq!(read_status(&m).unwrap_err().field, 3);
        let m = Message::parse(
            "MSH|^~\\&|AM|GH|||20261205||ORU^R42|1|P|2.6\rOBR|1||A-1\rOBX|1|ST|ALERT_STATUS||beamed\r",
        )
        .unwrap();
        let p = read_status(&m).unwrap_err();
        assert_eq!((p.segment.as_str(), p.field, p.code), ("OBX", 5, 103));
        assert!(p.text.contains("beamed"), "{}", p.text);
    }
}
