//! ADT and ORU messages read into what the census needs: the header (type, trigger, control
//! id, version, time), the patient (PID), the visit (PV1) and, for ORU^R01, the observations
//! (OBX). What is missing or malformed is a [`Problem`] naming the segment and field.

use crate::ack::Problem;
use crate::message::Message;

/// MSH: what the message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// MSH-9.1: `ADT`, `ORU`.
    pub kind: String,
    /// MSH-9.2: `A01`, `R01`.
    pub trigger: String,
    /// MSH-10: unique per sender; a repeat is acknowledged again, not applied twice.
    pub control_id: String,
    /// MSH-12.1: `2.3` to `2.8.x`.
    pub version: String,
    /// MSH-11.1: `P` production, `T` training, `D` debugging.
    pub processing: String,
    /// MSH-3 and MSH-4: the sending application and facility.
    pub sender: String,
    /// When the event happened (EVN-2, else MSH-7), as sent (`YYYYMMDDHHMM[SS[.S]][+ZZZZ]`).
    pub event_time: Option<String>,
}

/// An identifier with its assigning authority (PID-3: `12345^^^GH^MR`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PatientId {
    pub id: String,
    pub authority: String,
    /// `MR` medical record number, `PI`, `SS`, ...
    pub kind: String,
}

/// PID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub ids: Vec<PatientId>,
    pub family: String,
    pub given: String,
    /// PID-7 as sent (`YYYYMMDD`).
    pub birth_date: Option<String>,
    /// PID-8: `F`, `M`, `O`, `U`, ...
    pub sex: Option<String>,
}

impl Patient {
    /// The identifier Orderly keys a patient by: the medical record number (`MR`) if there is
    /// one, else the first; with its authority (`GH/12345`) so two facilities' numbers never
    /// meet.
    pub fn key(&self) -> Option<String> {
        let id = self
            .ids
            .iter()
            .find(|i| i.kind == "MR")
            .or_else(|| self.ids.first())?;
        Some(if id.authority.is_empty() {
            id.id.clone()
        } else {
            format!("{}/{}", id.authority, id.id)
        })
    }
    pub fn name(&self) -> String {
        match (self.given.is_empty(), self.family.is_empty()) {
            (false, false) => format!("{} {}", self.given, self.family),
            (true, false) => self.family.clone(),
            (false, true) => self.given.clone(),
            (true, true) => String::new(),
        }
    }
}

/// A point of care, room and bed as the hospital codes them (PV1-3: `ICU^0201^1^GH`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Location {
    pub point_of_care: String,
    pub room: String,
    pub bed: String,
    pub facility: String,
}

impl Location {
    pub fn is_empty(&self) -> bool {
        self.point_of_care.is_empty() && self.room.is_empty() && self.bed.is_empty()
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}^{}^{}", self.point_of_care, self.room, self.bed)
    }
}

/// PV1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Visit {
    /// PV1-2: `I` inpatient, `O` outpatient, `E` emergency, ...
    pub class: Option<String>,
    /// PV1-3: where the patient is (or goes).
    pub location: Option<Location>,
    /// PV1-6: where the patient was (transfers).
    pub prior_location: Option<Location>,
    /// PV1-7: attending doctor, as a name.
    pub attending: Option<String>,
    /// PV1-19: visit number.
    pub visit_number: Option<String>,
}

/// OBX: one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// OBX-3.1 and OBX-3.3: the code and its system (`LN` for LOINC, or the site's own).
    pub code: String,
    pub system: String,
    pub text: String,
    /// OBX-2: `NM`, `ST`, `CWE`, `CE`, ...
    pub value_type: String,
    /// OBX-5 (first component).
    pub value: String,
    /// OBX-6.1.
    pub units: String,
    /// OBX-11: `F` final, `C` corrected, `P` preliminary, `X` cancelled, ...
    pub status: String,
    /// OBX-14: when it was observed, as sent.
    pub observed_at: Option<String>,
    /// Which OBX (1 for the first), to name it in an error.
    pub sequence: usize,
}

/// What a census message says.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per message as it is applied, never stored in bulk"
)]
pub enum CensusMessage {
    /// ADT^A01..A13, A17 (with the second patient and visit), A40 (with the merged ids).
    Adt {
        header: Header,
        patient: Patient,
        visit: Visit,
        /// A17: the other patient of the swap.
        other: Option<Box<(Patient, Visit)>>,
        /// A40: the identifiers merged into `patient` (MRG-1).
        merged: Vec<PatientId>,
    },
    /// ORU^R01: observations about a patient.
    Observations {
        header: Header,
        patient: Patient,
        observations: Vec<Observation>,
    },
    /// ORU^R41/R42/R43: an alert manager's report of what became of one of Orderly's alerts
    /// (IHE PCD ACM, [`crate::acm`]).
    AlertStatus {
        header: Header,
        status: crate::acm::Status,
    },
}

impl CensusMessage {
    pub fn header(&self) -> &Header {
        match self {
            CensusMessage::Adt { header, .. }
            | CensusMessage::Observations { header, .. }
            | CensusMessage::AlertStatus { header, .. } => header,
        }
    }
}

/// The ADT trigger events Orderly applies.
pub const ADT_EVENTS: &[&str] = &[
    "A01", "A02", "A03", "A04", "A06", "A07", "A08", "A11", "A12", "A13", "A17", "A40",
];

fn versions_ok(v: &str) -> bool {
    let mut it = v.split('.');
    let (Some(major), Some(minor)) = (it.next(), it.next()) else {
        return false;
    };
    major == "2" && matches!(minor, "3" | "4" | "5" | "6" | "7" | "8")
}

fn header(m: &Message) -> Result<Header, Problem> {
    let kind = m
        .get("MSH", 9, 1)
        .ok_or_else(|| Problem::new("MSH", 9, 101, "MSH-9 (message type) is empty"))?;
    let trigger = m.get("MSH", 9, 2).unwrap_or_default();
    let control_id = m
        .get("MSH", 10, 1)
        .ok_or_else(|| Problem::new("MSH", 10, 101, "MSH-10 (message control id) is empty"))?;
    let version = m
        .get("MSH", 12, 1)
        .ok_or_else(|| Problem::new("MSH", 12, 101, "MSH-12 (version) is empty"))?;
    if !versions_ok(&version) {
        return Err(Problem::new(
            "MSH",
            12,
            203,
            format!("version {version} is not taken (2.3 to 2.8 are)"),
        ));
    }
    let processing = m.get("MSH", 11, 1).unwrap_or_else(|| "P".into());
    let sender = [m.get("MSH", 3, 1), m.get("MSH", 4, 1)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("/");
    let event_time = m.get("EVN", 2, 1).or_else(|| m.get("MSH", 7, 1));
    if let Some(t) = &event_time
        && !time_ok(t)
    {
        return Err(Problem::new(
            if m.get("EVN", 2, 1).is_some() {
                "EVN"
            } else {
                "MSH"
            },
            if m.get("EVN", 2, 1).is_some() { 2 } else { 7 },
            102,
            format!("{t:?} is not an HL7 time (YYYYMMDDHHMM[SS])"),
        ));
    }
    Ok(Header {
        kind,
        trigger,
        control_id,
        version,
        processing,
        sender,
        event_time,
    })
}

/// `YYYYMMDD[HH[MM[SS[.S+]]]][+/-ZZZZ]` with plausible numbers.
pub fn time_ok(t: &str) -> bool {
    let main = t.split(['+', '-']).next().unwrap_or("");
    let digits = main.split('.').next().unwrap_or("");
    if digits.len() < 8 || digits.len() > 14 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let n = |a: usize, b: usize| digits.get(a..b).and_then(|s| s.parse::<u32>().ok());
    let month = n(4, 6).unwrap_or(0);
    let day = n(6, 8).unwrap_or(0);
    (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && n(8, 10).is_none_or(|h| h < 24)
        && n(10, 12).is_none_or(|m| m < 60)
        && n(12, 14).is_none_or(|s| s < 61)
}

/// A time as HL7 writes it, in UTC with milliseconds (`20261205170950.123+0000`): what
/// [`time_millis`] reads back.
pub fn time_of(t: orderly_model::Timestamp) -> String {
    let digits: String = t
        .to_rfc3339()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    match (digits.get(..14), digits.get(14..17)) {
        (Some(whole), Some(ms)) => format!("{whole}.{ms}+0000"),
        _ => digits,
    }
}

/// An HL7 time (`YYYYMMDD[HH[MM[SS[.S+]]]][+/-ZZZZ]`) as milliseconds since 1970 UTC. A time
/// without an offset is read as UTC (senders that omit it should be set to send one).
pub fn time_millis(t: &str) -> Option<i64> {
    if !time_ok(t) {
        return None;
    }
    let (main, offset_min) = match t.find(['+', '-']) {
        Some(i) => {
            let (m, z) = t.split_at(i);
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let digits = &z[1..];
            if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let h: i64 = digits[..2].parse().ok()?;
            let mi: i64 = digits[2..].parse().ok()?;
            (m, sign * (h * 60 + mi))
        }
        None => (t, 0),
    };
    let (digits, frac) = match main.split_once('.') {
        Some((d, f)) => (d, f),
        None => (main, ""),
    };
    let n =
        |a: usize, b: usize| -> i64 { digits.get(a..b).and_then(|s| s.parse().ok()).unwrap_or(0) };
    let (y, mo, d) = (n(0, 4), n(4, 6), n(6, 8));
    let (h, mi, sec) = (n(8, 10), n(10, 12), n(12, 14));
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        let f: String = frac.chars().chain("000".chars()).take(3).collect();
        f.parse().ok()?
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + h) * 60 + mi - offset_min) * 60 + sec) * 1000 + ms)
}

fn patient_in(m: &Message, pid: &crate::message::Segment, seq: usize) -> Result<Patient, Problem> {
    let mut ids = Vec::new();
    for rep in m.repetitions(pid, 3) {
        if let Some(id) = m.component(rep, 1) {
            ids.push(PatientId {
                id,
                authority: m.component(rep, 4).unwrap_or_default(),
                kind: m.component(rep, 5).unwrap_or_default(),
            });
        }
    }
    // HL7 2.3 still carried the external id in PID-2.
    if ids.is_empty()
        && let Some(id) = m.get_in(pid, 2, 1)
    {
        ids.push(PatientId {
            id,
            authority: m
                .repetitions(pid, 2)
                .first()
                .and_then(|r| m.component(r, 4))
                .unwrap_or_default(),
            kind: String::new(),
        });
    }
    if ids.is_empty() {
        let mut p = Problem::new("PID", 3, 101, "PID-3 (patient identifier) is empty");
        p.sequence = seq;
        return Err(p);
    }
    let birth_date = m.get_in(pid, 7, 1);
    if let Some(b) = &birth_date
        && !time_ok(b)
    {
        let mut p = Problem::new("PID", 7, 102, format!("birth date {b:?} is not YYYYMMDD"));
        p.sequence = seq;
        return Err(p);
    }
    Ok(Patient {
        ids,
        family: m.get_in(pid, 5, 1).unwrap_or_default(),
        given: m.get_in(pid, 5, 2).unwrap_or_default(),
        birth_date,
        sex: m.get_in(pid, 8, 1),
    })
}

fn location(m: &Message, s: &crate::message::Segment, field: usize) -> Option<Location> {
    let rep = m.repetitions(s, field).into_iter().next()?;
    let l = Location {
        point_of_care: m.component(rep, 1).unwrap_or_default(),
        room: m.component(rep, 2).unwrap_or_default(),
        bed: m.component(rep, 3).unwrap_or_default(),
        facility: m.component(rep, 4).unwrap_or_default(),
    };
    (!l.is_empty()).then_some(l)
}

fn visit_in(m: &Message, pv1: Option<&crate::message::Segment>) -> Visit {
    let Some(pv1) = pv1 else {
        return Visit::default();
    };
    let attending = m.repetitions(pv1, 7).first().map(|r| {
        [m.component(r, 3), m.component(r, 2)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
    });
    Visit {
        class: m.get_in(pv1, 2, 1),
        location: location(m, pv1, 3),
        prior_location: location(m, pv1, 6),
        attending: attending.filter(|a| !a.is_empty()),
        visit_number: m.get_in(pv1, 19, 1),
    }
}

/// Reads a parsed message as a census message, or says what is wrong with it.
pub fn read(m: &Message) -> Result<CensusMessage, Problem> {
    let header = header(m)?;
    if !matches!(header.processing.as_str(), "P" | "T" | "D") {
        return Err(Problem::new(
            "MSH",
            11,
            202,
            format!("processing id {:?} is not P, T or D", header.processing),
        ));
    }
    if crate::acm::is_status(m) {
        return Ok(CensusMessage::AlertStatus {
            status: crate::acm::read_status(m)?,
            header,
        });
    }
    let pids: Vec<_> = m.all("PID").collect();
    let Some(&pid) = pids.first() else {
        return Err(Problem::new(
            "PID",
            0,
            100,
            "the message has no PID segment",
        ));
    };
    match header.kind.as_str() {
        "ADT" => {
            if !ADT_EVENTS.contains(&header.trigger.as_str()) {
                return Err(Problem::new(
                    "MSH",
                    9,
                    201,
                    format!(
                        "ADT^{} is not applied (Orderly takes {})",
                        header.trigger,
                        ADT_EVENTS.join(", ")
                    ),
                ));
            }
            let patient = patient_in(m, pid, 1)?;
            let pv1s: Vec<_> = m.all("PV1").collect();
            let visit = visit_in(m, pv1s.first().copied());
            let needs_location = matches!(header.trigger.as_str(), "A01" | "A02" | "A17");
            if needs_location && visit.location.is_none() {
                return Err(Problem::new(
                    "PV1",
                    3,
                    101,
                    format!(
                        "ADT^{} needs the assigned location (PV1-3 point of care^room^bed)",
                        header.trigger
                    ),
                ));
            }
            let other = if header.trigger == "A17" {
                let Some(&pid2) = pids.get(1) else {
                    return Err(Problem::new(
                        "PID",
                        0,
                        100,
                        "ADT^A17 (swap beds) needs a second PID and PV1",
                    ));
                };
                let p2 = patient_in(m, pid2, 2)?;
                let v2 = visit_in(m, pv1s.get(1).copied());
                if v2.location.is_none() {
                    let mut p = Problem::new("PV1", 3, 101, "the second patient's PV1-3 is empty");
                    p.sequence = 2;
                    return Err(p);
                }
                Some(Box::new((p2, v2)))
            } else {
                None
            };
            let mut merged = Vec::new();
            if header.trigger == "A40" {
                let Some(mrg) = m.segment("MRG") else {
                    return Err(Problem::new(
                        "MRG",
                        0,
                        100,
                        "ADT^A40 (merge) needs an MRG segment",
                    ));
                };
                for rep in m.repetitions(mrg, 1) {
                    if let Some(id) = m.component(rep, 1) {
                        merged.push(PatientId {
                            id,
                            authority: m.component(rep, 4).unwrap_or_default(),
                            kind: m.component(rep, 5).unwrap_or_default(),
                        });
                    }
                }
                if merged.is_empty() {
                    return Err(Problem::new(
                        "MRG",
                        1,
                        101,
                        "MRG-1 (the merged identifier) is empty",
                    ));
                }
            }
            Ok(CensusMessage::Adt {
                header,
                patient,
                visit,
                other,
                merged,
            })
        }
        "ORU" => {
            if header.trigger != "R01" {
                return Err(Problem::new(
                    "MSH",
                    9,
                    201,
                    format!(
                        "ORU^{} is not applied (Orderly takes ORU^R01)",
                        header.trigger
                    ),
                ));
            }
            let patient = patient_in(m, pid, 1)?;
            let mut observations = Vec::new();
            for (i, obx) in m.all("OBX").enumerate() {
                let code = m.get_in(obx, 3, 1).ok_or_else(|| {
                    let mut p = Problem::new("OBX", 3, 101, "OBX-3 (what was observed) is empty");
                    p.sequence = i + 1;
                    p
                })?;
                let observed_at = m.get_in(obx, 14, 1);
                if let Some(t) = &observed_at
                    && !time_ok(t)
                {
                    let mut p = Problem::new("OBX", 14, 102, format!("{t:?} is not an HL7 time"));
                    p.sequence = i + 1;
                    return Err(p);
                }
                observations.push(Observation {
                    code,
                    system: m.get_in(obx, 3, 3).unwrap_or_default(),
                    text: m.get_in(obx, 3, 2).unwrap_or_default(),
                    value_type: m.get_in(obx, 2, 1).unwrap_or_default(),
                    value: m.get_in(obx, 5, 1).unwrap_or_default(),
                    units: m.get_in(obx, 6, 1).unwrap_or_default(),
                    status: m.get_in(obx, 11, 1).unwrap_or_default(),
                    observed_at,
                    sequence: i + 1,
                });
            }
            if observations.is_empty() {
                return Err(Problem::new(
                    "OBX",
                    0,
                    100,
                    "ORU^R01 without any OBX segment",
                ));
            }
            Ok(CensusMessage::Observations {
                header,
                patient,
                observations,
            })
        }
        other => Err(Problem::new(
            "MSH",
            9,
            200,
            format!("message type {other} is not taken (ADT and ORU are)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_utc_with_milliseconds_and_read_back() {
        use orderly_model::Timestamp;
        assert_eq!(time_of(Timestamp(0)), "19700101000000.000+0000");
        // 2026-12-05T17:09:50.123Z
        assert_eq!(
            time_of(Timestamp(1_796_490_590_123)),
            "20261205170950.123+0000"
        );
        assert_eq!(
            time_millis(&time_of(Timestamp(1_796_490_590_123))),
            Some(1_796_490_590_123)
        );
    }

    fn msg(s: &str) -> Message {
        Message::parse(&s.replace('\n', "\r")).unwrap()
    }

    #[test]
    fn hl7_times_read_as_utc_milliseconds() {
        assert_eq!(time_millis("19700101"), Some(0));
        assert_eq!(time_millis("20261205083000"), Some(1_796_459_400_000));
        assert_eq!(
            time_millis("20261205093000+0100"),
            time_millis("20261205083000")
        );
        assert_eq!(time_millis("20261205083000.25"), Some(1_796_459_400_250));
        assert_eq!(time_millis("2026120508300"), Some(1_796_459_400_000));
        assert_eq!(time_millis("20261305"), None);
        assert_eq!(time_millis("20261205+01"), None);
    }

    #[test]
    fn an_admission_names_the_patient_the_visit_and_the_bed() {
        let m = msg(
            "MSH|^~\\&|EPIC|GH|ORDERLY|GH|20261205083000||ADT^A01^ADT_A01|MSG00001|P|2.5.1\nEVN|A01|20261205082955\nPID|1||12345^^^GH^MR~999^^^SSA^SS||Rossi^Ben^J||19500102|M\nPV1|1|I|ICU^0201^1^GH||||1234^Welby^Marcus||||||||||||V1001\n",
        );
        let CensusMessage::Adt {
            header,
            patient,
            visit,
            ..
        } = read(&m).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (header.kind.as_str(), header.trigger.as_str()),
            ("ADT", "A01")
        );
        assert_eq!(header.event_time.as_deref(), Some("20261205082955"));
        assert_eq!(patient.key().as_deref(), Some("GH/12345"));
        assert_eq!(patient.name(), "Ben Rossi");
        assert_eq!(patient.sex.as_deref(), Some("M"));
        let l = visit.location.unwrap();
        assert_eq!(
            (l.point_of_care.as_str(), l.room.as_str(), l.bed.as_str()),
            ("ICU", "0201", "1")
        );
        assert_eq!(visit.attending.as_deref(), Some("Marcus Welby"));
        assert_eq!(visit.visit_number.as_deref(), Some("V1001"));
    }

    #[test]
    fn observations_swaps_and_merges_are_read() {
        let m = msg(
            "MSH|^~\\&|EHR|GH|ORDERLY|GH|20261205090000||ORU^R01|OBS1|P|2.5.1\nPID|1||12345^^^GH^MR||Rossi^Ben\nOBR|1\nOBX|1|NM|59460-6^Morse Fall Scale total^LN||55||||||F|||20261205085500\nOBX|2|NM|38228-3^Braden total^LN||14||||||F\n",
        );
        let CensusMessage::Observations { observations, .. } = read(&m).unwrap() else {
            panic!()
        };
        assert_eq!(observations.len(), 2);
        assert_eq!(
            (
                observations[0].code.as_str(),
                observations[0].system.as_str(),
                observations[0].value.as_str()
            ),
            ("59460-6", "LN", "55")
        );
        assert_eq!(
            observations[0].observed_at.as_deref(),
            Some("20261205085500")
        );
        let swap = msg(
            "MSH|^~\\&|EHR|GH|ORDERLY|GH|20261205090000||ADT^A17|SW1|P|2.5\nPID|1||1^^^GH^MR||A^A\nPV1|1|I|ICU^0201^1\nPID|2||2^^^GH^MR||B^B\nPV1|1|I|ICU^0202^1\n",
        );
        let CensusMessage::Adt {
            other: Some(other), ..
        } = read(&swap).unwrap()
        else {
            panic!()
        };
        let (p2, v2) = *other;
        assert_eq!(p2.key().as_deref(), Some("GH/2"));
        assert_eq!(v2.location.unwrap().room, "0202");
        let merge = msg(
            "MSH|^~\\&|EHR|GH|ORDERLY|GH|20261205090000||ADT^A40|MG1|P|2.5\nPID|1||1^^^GH^MR||A^A\nMRG|9^^^GH^MR\n",
        );
        let CensusMessage::Adt { merged, .. } = read(&merge).unwrap() else {
            panic!()
        };
        assert_eq!(merged[0].id, "9");
    }

    #[test]
    fn what_cannot_be_applied_names_the_segment_field_and_reason() {
        let cases = [
            (
                "MSH|^~\\&|A|B|C|D|20261205||ADT^A01|1|P|3.0\nPID|1||1^^^GH^MR\nPV1|1|I|ICU^1^1\n",
                ("MSH", 12, 203),
            ),
            (
                "MSH|^~\\&|A|B|C|D|20261205||ADT^A99|1|P|2.5\nPID|1||1^^^GH^MR\n",
                ("MSH", 9, 201),
            ),
            (
                "MSH|^~\\&|A|B|C|D|20261205||SIU^S12|1|P|2.5\nPID|1||1\n",
                ("MSH", 9, 200),
            ),
            (
                "MSH|^~\\&|A|B|C|D|20261205||ADT^A01|1|P|2.5\nPID|1||1^^^GH^MR\nPV1|1|I\n",
                ("PV1", 3, 101),
            ),
            (
                "MSH|^~\\&|A|B|C|D|20261205||ADT^A01|1|P|2.5\nPV1|1|I|ICU^1^1\n",
                ("PID", 0, 100),
            ),
            (
                "MSH|^~\\&|A|B|C|D|20261205||ADT^A01||P|2.5\nPID|1||1\n",
                ("MSH", 10, 101),
            ),
            (
                "MSH|^~\\&|A|B|C|D|20261205||ADT^A01|1|P|2.5\nEVN|A01|yesterday\nPID|1||1\n",
                ("EVN", 2, 102),
            ),
            (
                "MSH|^~\\&|A|B|C|D|20261205||ADT^A01|1|P|2.5\nPID|1||\nPV1|1|I|ICU^1^1\n",
                ("PID", 3, 101),
            ),
            (
                "MSH|^~\\&|A|B|C|D|20261205||ADT^A01|1|X|2.5\nPID|1||1\n",
                ("MSH", 11, 202),
            ),
        ];
        for (text, (seg, field, code)) in cases {
            let p = read(&msg(text)).unwrap_err();
            assert_eq!(
                (p.segment.as_str(), p.field, p.code),
                (seg, field, code),
                "{text}: {p:?}"
            );
            assert!(!p.text.is_empty());
        }
    }
}
