//! An HL7 v2 message read with the encoding characters it declares in MSH-1 and MSH-2.
//! Fields are addressed as the standard numbers them (`PID-5.2`: field 5, component 2), with
//! MSH-1 being the field separator itself; values come back unescaped.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the message is empty")]
    Empty,
    #[error("the message does not start with an MSH segment (it starts {0:?})")]
    NoMsh(String),
    #[error(
        "MSH-2 must give four distinct encoding characters (component, repetition, escape, subcomponent), not {0:?}"
    )]
    Encoding(String),
    #[error("segment {index} has no valid name ({name:?}: three capital letters or digits)")]
    BadSegment { index: usize, name: String },
}

/// The message's separators (MSH-1 and MSH-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delims {
    pub field: char,
    pub component: char,
    pub repetition: char,
    pub escape: char,
    pub subcomponent: char,
}

impl Default for Delims {
    fn default() -> Self {
        Delims {
            field: '|',
            component: '^',
            repetition: '~',
            escape: '\\',
            subcomponent: '&',
        }
    }
}

impl Delims {
    /// `text` with this message's separators escaped, for a field value.
    pub fn escape(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            let code = if c == self.field {
                Some('F')
            } else if c == self.component {
                Some('S')
            } else if c == self.repetition {
                Some('R')
            } else if c == self.escape {
                Some('E')
            } else if c == self.subcomponent {
                Some('T')
            } else {
                None
            };
            match code {
                Some(k) => {
                    out.push(self.escape);
                    out.push(k);
                    out.push(self.escape);
                }
                None if c == '\r' || c == '\n' => out.push(' '),
                None => out.push(c),
            }
        }
        out
    }

    /// A value read from the wire with its escape sequences replaced.
    pub fn unescape(&self, raw: &str) -> String {
        if !raw.contains(self.escape) {
            return raw.to_string();
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(i) = rest.find(self.escape) {
            out.push_str(&rest[..i]);
            let after = &rest[i + self.escape.len_utf8()..];
            let Some(j) = after.find(self.escape) else {
                // A lone escape character: kept as it is.
                out.push_str(&rest[i..]);
                return out;
            };
            let seq = &after[..j];
            match seq {
                "F" => out.push(self.field),
                "S" => out.push(self.component),
                "R" => out.push(self.repetition),
                "E" => out.push(self.escape),
                "T" => out.push(self.subcomponent),
                ".br" => out.push('\n'),
                s if s.starts_with('X') => {
                    let hex = &s[1..];
                    let bytes: Vec<u8> = (0..hex.len() / 2)
                        .filter_map(|k| u8::from_str_radix(hex.get(2 * k..2 * k + 2)?, 16).ok())
                        .collect();
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
                // Formatting (\H\, \N\, \.sp\ ...) and charset switches carry no text.
                _ => {}
            }
            rest = &after[j + self.escape.len_utf8()..];
        }
        out.push_str(rest);
        out
    }
}

/// One segment: its name and its fields as sent (escaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    /// `fields[n]` is field n as the standard numbers it (for MSH, `fields[1]` is MSH-1).
    fields: Vec<String>,
}

impl Segment {
    /// Field `n` as sent, "" when absent.
    pub fn raw(&self, n: usize) -> &str {
        self.fields.get(n).map_or("", String::as_str)
    }
    /// How many fields it has (the last one's number).
    pub fn len(&self) -> usize {
        self.fields.len().saturating_sub(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub delims: Delims,
    pub segments: Vec<Segment>,
}

/// Text from the wire: UTF-8, or else Latin-1 (HL7's default character set, ASCII, is both).
pub fn decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

impl Message {
    pub fn parse(text: &str) -> Result<Message, ParseError> {
        let text = text.trim_start_matches(['\r', '\n', ' ', '\u{feff}']);
        if text.trim().is_empty() {
            return Err(ParseError::Empty);
        }
        if !text.starts_with("MSH") {
            return Err(ParseError::NoMsh(text.chars().take(12).collect()));
        }
        let mut chars = text[3..].chars();
        let field = chars.next().ok_or(ParseError::Encoding(String::new()))?;
        let enc: String = chars.take_while(|&c| c != field).collect();
        let e: Vec<char> = enc.chars().collect();
        let distinct = {
            let mut all = e.clone();
            all.push(field);
            all.sort_unstable();
            all.dedup();
            all.len() == e.len() + 1
        };
        if e.len() < 4
            || e.len() > 5
            || !distinct
            || e.iter().any(|c| c.is_alphanumeric() || c.is_whitespace())
            || field.is_alphanumeric()
            || field.is_whitespace()
        {
            return Err(ParseError::Encoding(enc));
        }
        let delims = Delims {
            field,
            component: e[0],
            repetition: e[1],
            escape: e[2],
            subcomponent: e[3],
        };
        let mut segments = Vec::new();
        for (index, line) in text.split(['\r', '\n']).enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut parts: Vec<String> = line.split(field).map(str::to_string).collect();
            let name = parts[0].clone();
            if name.len() != 3
                || !name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                return Err(ParseError::BadSegment {
                    index: index + 1,
                    name: name.chars().take(12).collect(),
                });
            }
            if name == "MSH" {
                // MSH-1 is the separator itself; MSH-2 follows it.
                parts.insert(1, field.to_string());
            }
            segments.push(Segment {
                name,
                fields: parts,
            });
        }
        Ok(Message { delims, segments })
    }

    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments.iter().filter(move |s| s.name == name)
    }

    /// The repetitions of field `n` of `seg`, as sent.
    pub fn repetitions<'a>(&self, seg: &'a Segment, n: usize) -> Vec<&'a str> {
        let raw = seg.raw(n);
        if raw.is_empty() {
            return Vec::new();
        }
        if seg.name == "MSH" && n <= 2 {
            return vec![raw];
        }
        raw.split(self.delims.repetition).collect()
    }

    /// Component `c` (1-based) of a repetition, unescaped; None when empty.
    pub fn component(&self, rep: &str, c: usize) -> Option<String> {
        let raw = rep.split(self.delims.component).nth(c.checked_sub(1)?)?;
        // A component's first subcomponent is its value where subcomponents are not expected.
        let raw = raw.split(self.delims.subcomponent).next().unwrap_or("");
        let v = self.delims.unescape(raw);
        let v = v.trim();
        (!v.is_empty() && v != "\"\"").then(|| v.to_string())
    }

    /// `SEG-field.component` of the first `seg` segment, first repetition: `get("PID", 5, 1)`.
    pub fn get(&self, seg: &str, field: usize, component: usize) -> Option<String> {
        let s = self.segment(seg)?;
        self.get_in(s, field, component)
    }

    /// The same in a given segment.
    pub fn get_in(&self, s: &Segment, field: usize, component: usize) -> Option<String> {
        if s.name == "MSH" && field <= 2 {
            let v = s.raw(field);
            return (!v.is_empty()).then(|| v.to_string());
        }
        let rep = self.repetitions(s, field).into_iter().next()?;
        self.component(rep, component)
    }

    /// Whether `seg-field` holds HL7's explicit null (`""`: "delete the value I sent before").
    pub fn is_null(&self, s: &Segment, field: usize) -> bool {
        s.raw(field) == "\"\""
    }
}

impl fmt::Display for Message {
    /// Back to the wire form, segments ended by carriage returns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.segments {
            let skip = if s.name == "MSH" { 2 } else { 1 };
            write!(f, "{}", s.name)?;
            for v in s.fields.iter().skip(skip) {
                write!(f, "{}{v}", self.delims.field)?;
            }
            write!(f, "\r")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &str = "MSH|^~\\&|EPIC|GH|ORDERLY|GH|20261205083000||ADT^A01^ADT_A01|MSG00001|P|2.5.1\rEVN|A01|20261205082955\rPID|1||12345^^^GH^MR~999-99-9999^^^USSSA^SS||Rossi^Ben^J||19500102|M\rPV1|1|I|ICU^F2-ICU-01^1^GH||||1234^Welby^Marcus||||||||||||V1001\r";

    #[test]
    fn fields_components_and_repetitions_are_numbered_as_the_standard_does() {
        let m = Message::parse(ADT).unwrap();
        assert_eq!(m.get("MSH", 1, 1).as_deref(), Some("|"));
        assert_eq!(m.get("MSH", 2, 1).as_deref(), Some("^~\\&"));
        assert_eq!(m.get("MSH", 9, 2).as_deref(), Some("A01"));
        assert_eq!(m.get("MSH", 10, 1).as_deref(), Some("MSG00001"));
        assert_eq!(m.get("PID", 5, 1).as_deref(), Some("Rossi"));
        assert_eq!(m.get("PID", 5, 2).as_deref(), Some("Ben"));
        let pid = m.segment("PID").unwrap();
        assert_eq!(m.repetitions(pid, 3).len(), 2);
        assert_eq!(m.get("PV1", 3, 2).as_deref(), Some("F2-ICU-01"));
        assert_eq!(m.get("PV1", 19, 1).as_deref(), Some("V1001"));
        assert_eq!(m.get("PV1", 40, 1), None);
        assert_eq!(m.to_string(), ADT);
    }

    #[test]
    fn the_message_s_own_separators_and_escapes_are_used() {
        let m = Message::parse("MSH#:*!@#A#B\nPID#1##7:::X##O!F!Brien:Ann\n").unwrap();
        assert_eq!(m.delims.component, ':');
        assert_eq!(m.get("PID", 5, 1).as_deref(), Some("O#Brien"));
        assert_eq!(m.get("PID", 5, 2).as_deref(), Some("Ann"));
        assert_eq!(
            Delims::default().unescape("a\\S\\b\\T\\c\\X41\\\\.br\\d"),
            "a^b&cA\nd"
        );
        assert_eq!(Delims::default().escape("a|b^c"), "a\\F\\b\\S\\c");
    }

    #[test]
    fn what_is_not_a_message_is_said_plainly() {
        assert_eq!(Message::parse(""), Err(ParseError::Empty));
        assert!(matches!(Message::parse("PID|1"), Err(ParseError::NoMsh(_))));
        assert!(matches!(
            Message::parse("MSH|^^\\&|x"),
            Err(ParseError::Encoding(_))
        ));
        assert!(matches!(
            Message::parse("MSH|^~\\&|x\rpid|1"),
            Err(ParseError::BadSegment { index: 2, .. })
        ));
        // Binary garbage never panics.
        for junk in [
            "MSH",
            "MSH|",
            "MSH|^~",
            "\u{0}\u{1}",
            "MSH|^~\\&\r\r\r",
            "MSH\u{80}^~\\&",
        ] {
            let _ = Message::parse(junk);
        }
    }
}
