//! Acknowledgements (HL7 v2 original mode): MSA-1 AA when the message was applied (committed),
//! AE when it could not be applied (an error in its content), AR when it was refused (a version,
//! message type or processing id Orderly does not take). An error names the segment, field and
//! reason in ERR, with a code from HL7 table 0357.

use crate::message::{Delims, Message};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// Application accept: applied and committed.
    Aa,
    /// Application error: not applied, the content is wrong (the sender should not resend it
    /// unchanged).
    Ae,
    /// Application reject: not applied, Orderly does not take this kind of message.
    Ar,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::Aa => "AA",
            AckCode::Ae => "AE",
            AckCode::Ar => "AR",
        }
    }
}

/// Why a message was not applied, and where in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The segment (`PV1`), or "" when the problem is the whole message.
    pub segment: String,
    /// Which of the segments of that name (1 for the first).
    pub sequence: usize,
    /// The field number (0 when not one field).
    pub field: usize,
    /// HL7 table 0357: 100 segment sequence error, 101 required field missing, 102 data type
    /// error, 103 table value not found, 200 unsupported message type, 201 unsupported event
    /// code, 202 unsupported processing id, 203 unsupported version id, 204 unknown key
    /// identifier, 205 duplicate key identifier, 206 application record locked, 207
    /// application internal error.
    pub code: u16,
    /// In plain words, for the interface analyst.
    pub text: String,
}

impl Problem {
    pub fn new(segment: &str, field: usize, code: u16, text: impl Into<String>) -> Problem {
        Problem {
            segment: segment.to_string(),
            sequence: 1,
            field,
            code,
            text: text.into(),
        }
    }

    /// AR for what Orderly does not take at all, AE for content it cannot apply.
    pub fn ack_code(&self) -> AckCode {
        if (200..=203).contains(&self.code) {
            AckCode::Ar
        } else {
            AckCode::Ae
        }
    }

    /// The reason as counted per reason in the metrics.
    pub fn reason(&self) -> &'static str {
        match self.code {
            100 => "segment_sequence",
            101 => "required_field_missing",
            102 => "data_type",
            103 => "table_value_not_found",
            200 => "unsupported_message_type",
            201 => "unsupported_event",
            202 => "unsupported_processing_id",
            203 => "unsupported_version",
            204 => "unknown_key",
            205 => "duplicate_key",
            206 => "record_locked",
            _ => "internal_error",
        }
    }
}

fn code_text(code: u16) -> &'static str {
    match code {
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        202 => "Unsupported processing id",
        203 => "Unsupported version id",
        204 => "Unknown key identifier",
        205 => "Duplicate key identifier",
        206 => "Application record locked",
        _ => "Application internal error",
    }
}

/// The ACK for `original` (None when it could not even be parsed: then the ACK uses the default
/// separators and names no control id). `now` is an HL7 time stamp (`YYYYMMDDHHMMSS`),
/// `control_id` this ACK's own MSH-10.
pub fn ack(
    original: Option<&Message>,
    code: AckCode,
    problem: Option<&Problem>,
    now: &str,
    control_id: &str,
) -> String {
    let d = original.map_or_else(Delims::default, |m| m.delims);
    let get = |f: usize, c: usize| {
        original
            .and_then(|m| m.get("MSH", f, c))
            .unwrap_or_default()
    };
    let e = |s: &str| d.escape(s);
    let enc = format!(
        "{}{}{}{}",
        d.component, d.repetition, d.escape, d.subcomponent
    );
    let trigger = get(9, 2);
    let version = original
        .and_then(|m| m.get("MSH", 12, 1))
        .unwrap_or_else(|| "2.5.1".into());
    let f = d.field;
    let c = d.component;
    let mut out = format!(
        "MSH{f}{enc}{f}{}{f}{}{f}{}{f}{}{f}{now}{f}{f}ACK{c}{}{c}ACK{f}{}{f}{}{f}{}\r",
        e(&get(5, 1)),
        e(&get(6, 1)),
        e(&get(3, 1)),
        e(&get(4, 1)),
        e(&trigger),
        e(control_id),
        e(&original
            .and_then(|m| m.get("MSH", 11, 1))
            .unwrap_or_else(|| "P".into())),
        e(&version),
    );
    out.push_str(&format!("MSA{f}{}{f}{}\r", code.as_str(), e(&get(10, 1))));
    if let Some(p) = problem {
        let location = if p.segment.is_empty() {
            String::new()
        } else if p.field == 0 {
            format!("{}{c}{}", e(&p.segment), p.sequence)
        } else {
            format!("{}{c}{}{c}{}", e(&p.segment), p.sequence, p.field)
        };
        out.push_str(&format!(
            "ERR{f}{f}{location}{f}{}{c}{}{c}HL70357{f}E{f}{f}{f}{f}{}\r",
            p.code,
            e(code_text(p.code)),
            e(&p.text),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ack_answers_the_sender_with_its_control_id_and_names_the_problem() {
        let m = Message::parse(
            "MSH|^~\\&|EPIC|GH|ORDERLY|GH|20261205083000||ADT^A01^ADT_A01|MSG00001|P|2.5.1\r",
        )
        .unwrap();
        let a = ack(Some(&m), AckCode::Aa, None, "20261205083001", "ACK1");
        let back = Message::parse(&a).unwrap();
        assert_eq!(back.get("MSH", 3, 1).as_deref(), Some("ORDERLY"));
        assert_eq!(back.get("MSH", 5, 1).as_deref(), Some("EPIC"));
        assert_eq!(back.get("MSH", 9, 1).as_deref(), Some("ACK"));
        assert_eq!(back.get("MSH", 9, 2).as_deref(), Some("A01"));
        assert_eq!(back.get("MSA", 1, 1).as_deref(), Some("AA"));
        assert_eq!(back.get("MSA", 2, 1).as_deref(), Some("MSG00001"));
        assert!(back.segment("ERR").is_none());

        let p = Problem::new(
            "PV1",
            3,
            103,
            "location ICU^F2-ICU-99^1 is not in the location map (hl7-locations.toml)",
        );
        let a = ack(Some(&m), p.ack_code(), Some(&p), "20261205083001", "ACK2");
        let back = Message::parse(&a).unwrap();
        assert_eq!(back.get("MSA", 1, 1).as_deref(), Some("AE"));
        assert_eq!(back.get("ERR", 2, 1).as_deref(), Some("PV1"));
        assert_eq!(back.get("ERR", 2, 3).as_deref(), Some("3"));
        assert_eq!(back.get("ERR", 3, 1).as_deref(), Some("103"));
        assert_eq!(
            back.get("ERR", 8, 1).as_deref(),
            Some("location ICU^F2-ICU-99^1 is not in the location map (hl7-locations.toml)")
        );
        // Unparseable input still gets an answer.
        let a = ack(
            None,
            AckCode::Ar,
            Some(&Problem::new("", 0, 207, "not HL7")),
            "20261205083001",
            "ACK3",
        );
        assert_eq!(
            Message::parse(&a).unwrap().get("MSA", 1, 1).as_deref(),
            Some("AR")
        );
    }
}
