//! The census: who is in which bed, from HL7 v2 ADT and ORU (or the REST API). What a census
//! event carries ([`CensusChange`]), what Orderly keeps of a patient beyond the seed's fields
//! ([`Record`]), and the site's map from the hospital's location and observation codes to
//! Orderly's beds and facts ([`CensusMap`], a checked file).

use crate::Timestamp;
use crate::source::{FileError, FileErrors, Source, suggest};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// What the census says of a patient beyond the seed's fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Record {
    /// Every identifier the patient is known by (`GH/12345`), the key first; merged ones too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// Patient class (PV1-2): `I` inpatient, `E` emergency, `O` outpatient, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Visit number (PV1-19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attending: Option<String>,
    /// Isolation precautions (`contact`, `droplet`, `airborne`), from an observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<Timestamp>,
    /// When the latest ADT event applied happened (EVN-2, else MSH-7): an older one does not
    /// overwrite what it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<Timestamp>,
    /// When each assessment was observed (OBX-14): `morse`, `braden`, `ventilated`, `weight`,
    /// `isolation`. An older observation does not overwrite a newer one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub observed: BTreeMap<String, Timestamp>,
    /// Scores not assessed yet (`morse`, `braden`): until a Morse score arrives the patient has
    /// fall precautions (counted as 45, high risk); until a Braden score, no turning schedule
    /// (counted as 23).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unassessed: Vec<String>,
    /// A clinician has marked hypercapnic respiratory failure: NEWS2 scores SpO2 on scale 2.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hypercapnic: bool,
}

impl Record {
    pub fn is_empty(&self) -> bool {
        *self == Record::default()
    }
}

/// The Morse score counted for a patient whose fall risk is not assessed yet.
pub const MORSE_UNASSESSED: u8 = 45;
/// The Braden score counted for a patient whose pressure-injury risk is not assessed yet.
pub const BRADEN_UNASSESSED: u8 = 23;

/// What changed in the census: the body of every `patient.*` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CensusChange {
    /// The patient as they now stand (as they stood, for a discharge or a cancelled admission).
    pub patient: crate::Patient,
    /// The bed the patient was in before (a transfer, a swap, a discharge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_bed: Option<String>,
    /// The unit of the patient's bed (for a discharge: of the bed they left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// A person (REST API), or `hl7 {sender}`.
    pub by: String,
    /// The HL7 message applied: `{sender}|{control id}` (a repeat is recognised by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it happened, as the sender says (EVN-2, MSH-7, OBX-14).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub happened_at: Option<Timestamp>,
    /// A merge: the records merged into this one, as they last stood (out of the census now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<crate::Patient>,
    /// In plain words: `admitted to BED-ICU-03`, `Morse 35 -> 60`.
    pub detail: String,
}

/// An observation the rules use, as the census map names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservationFact {
    /// Morse Fall Scale total, 0-125.
    Morse,
    /// Braden Scale total, 6-23.
    Braden,
    /// Mechanically ventilated: Y/N, yes/no, true/false, 1/0.
    Ventilated,
    /// Body weight in kg (or lb, converted).
    Weight,
    /// Isolation precautions: a word (`contact`, `droplet`, `airborne`), or none.
    Isolation,
    /// Hypercapnic respiratory failure marked by a clinician (Y/N): NEWS2 SpO2 scale 2.
    Hypercapnic,
    /// Vital signs (a nurse's observation set in the EHR): breaths per minute.
    RespirationRate,
    /// Oxygen saturation, %.
    Spo2,
    /// Inhaled oxygen flow, l/min (0: on air).
    OxygenFlow,
    /// Systolic blood pressure, mmHg.
    Systolic,
    /// Heart rate, per minute.
    Pulse,
    /// Body temperature, °C (or °F, converted).
    Temperature,
    /// Level of consciousness, ACVPU (A, C, V, P, U).
    Consciousness,
}

impl ObservationFact {
    pub fn as_str(self) -> &'static str {
        match self {
            ObservationFact::Morse => "morse",
            ObservationFact::Braden => "braden",
            ObservationFact::Ventilated => "ventilated",
            ObservationFact::Weight => "weight",
            ObservationFact::Isolation => "isolation",
            ObservationFact::Hypercapnic => "hypercapnic",
            ObservationFact::RespirationRate => "respiration_rate",
            ObservationFact::Spo2 => "spo2",
            ObservationFact::OxygenFlow => "oxygen_flow",
            ObservationFact::Systolic => "systolic",
            ObservationFact::Pulse => "pulse",
            ObservationFact::Temperature => "temperature",
            ObservationFact::Consciousness => "consciousness",
        }
    }

    /// A vital sign (NEWS2's input), rather than something the patient's record keeps.
    pub fn is_vital_sign(self) -> bool {
        matches!(
            self,
            ObservationFact::RespirationRate
                | ObservationFact::Spo2
                | ObservationFact::OxygenFlow
                | ObservationFact::Systolic
                | ObservationFact::Pulse
                | ObservationFact::Temperature
                | ObservationFact::Consciousness
        )
    }
}

/// The LOINC codes Orderly knows without a map: Morse total, Braden total, body weight, and
/// the vital signs NEWS2 reads (respiratory rate, SpO2, inhaled oxygen flow, systolic pressure,
/// heart rate, body temperature).
pub const LOINC: &[(&str, ObservationFact)] = &[
    ("59460-6", ObservationFact::Morse),
    ("38227-5", ObservationFact::Braden),
    ("29463-7", ObservationFact::Weight),
    ("9279-1", ObservationFact::RespirationRate),
    ("59408-5", ObservationFact::Spo2),
    ("2708-6", ObservationFact::Spo2),
    ("3151-8", ObservationFact::OxygenFlow),
    ("8480-6", ObservationFact::Systolic),
    ("8867-4", ObservationFact::Pulse),
    ("8310-5", ObservationFact::Temperature),
];

/// Where a hospital location code (PV1-3) puts a patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// An Orderly bed.
    Bed(String),
    /// A point of care Orderly does not watch (theatre, radiology, another building): the
    /// patient is not in any of Orderly's beds while there.
    Outside,
}

/// The site's census map: the hospital's location codes to Orderly's beds, the points of care
/// outside Orderly, and local observation codes to the facts the rules use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CensusMap {
    /// (point of care, room, bed) -> Orderly bed.
    beds: BTreeMap<(String, String, String), String>,
    outside: BTreeSet<String>,
    /// Points of care with Orderly beds.
    cares: BTreeSet<String>,
    /// (code system, code) -> fact; the system is "" for "any".
    observations: BTreeMap<(String, String), ObservationFact>,
}

/// Why a location cannot be placed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    #[error(
        "location {0} is not in the census map (no Orderly bed for it, and its point of care is not listed as outside)"
    )]
    Unknown(String),
}

impl CensusMap {
    /// Where `point_of_care^room^bed` puts a patient.
    pub fn place(&self, point_of_care: &str, room: &str, bed: &str) -> Result<Place, PlaceError> {
        let key = (point_of_care.to_string(), room.to_string(), bed.to_string());
        if let Some(b) = self.beds.get(&key) {
            return Ok(Place::Bed(b.clone()));
        }
        if self.outside.contains(point_of_care) {
            return Ok(Place::Outside);
        }
        Err(PlaceError::Unknown(format!("{point_of_care}^{room}^{bed}")))
    }

    /// The hospital's location code of an Orderly bed (`ICU^201^1`), for messages and tests.
    pub fn location_of(&self, orderly_bed: &str) -> Option<(String, String, String)> {
        self.beds
            .iter()
            .find(|(_, b)| b.as_str() == orderly_bed)
            .map(|(k, _)| k.clone())
    }

    /// Which fact an observation code (OBX-3) gives: the map's local codes, then LOINC.
    pub fn observation(&self, system: &str, code: &str) -> Option<ObservationFact> {
        self.observations
            .get(&(system.to_string(), code.to_string()))
            .or_else(|| self.observations.get(&(String::new(), code.to_string())))
            .copied()
            .or_else(|| {
                matches!(system, "LN" | "LOINC" | "http://loinc.org" | "")
                    .then(|| LOINC.iter().find(|(c, _)| *c == code).map(|(_, f)| *f))
                    .flatten()
            })
    }

    pub fn bed_count(&self) -> usize {
        self.beds.len()
    }

    /// Reads and checks a census map: every bed must be a bed in the seed (`beds`), no
    /// location or bed listed twice.
    pub fn parse(file: &str, text: &str, beds: &BTreeSet<String>) -> Result<CensusMap, FileErrors> {
        let src = Source::new(file, text);
        let raw: MapFile = src.parse_toml()?;
        let mut errors: Vec<FileError> = Vec::new();
        let mut map = CensusMap::default();
        let mut taken: BTreeMap<String, usize> = BTreeMap::new();
        for b in &raw.bed {
            let loc = b.location.get_ref();
            let parts: Vec<&str> = loc.split('^').collect();
            if parts.len() != 3 || parts.iter().any(|p| p.trim().is_empty()) {
                errors.push(src.error_at(
                    b.location.span().start,
                    format!("location {loc:?} is not point_of_care^room^bed"),
                    Some("write it as PV1-3 carries it, for example \"ICU^201^1\"".into()),
                ));
                continue;
            }
            let key = (
                parts[0].to_string(),
                parts[1].to_string(),
                parts[2].to_string(),
            );
            let bed = b.bed.get_ref();
            if !beds.contains(bed) {
                let fix = suggest(bed, beds.iter().map(String::as_str))
                    .map(|s| format!("did you mean {s:?}?"))
                    .or_else(|| Some("name a bed asset of the seed".into()));
                errors.push(src.error_at(
                    b.bed.span().start,
                    format!("bed {bed:?} is not a bed in the seed"),
                    fix,
                ));
                continue;
            }
            if map.beds.contains_key(&key) {
                errors.push(src.error_at(
                    b.location.span().start,
                    format!("location {loc:?} is listed twice"),
                    Some("one Orderly bed per location".into()),
                ));
                continue;
            }
            if let Some(line) = taken.insert(bed.clone(), b.bed.span().start) {
                let (l, _) = src.line_col(line);
                errors.push(src.error_at(
                    b.bed.span().start,
                    format!("bed {bed:?} already has a location (line {l})"),
                    Some("one location per Orderly bed".into()),
                ));
                continue;
            }
            map.cares.insert(key.0.clone());
            map.beds.insert(key, bed.clone());
        }
        for o in &raw.outside {
            let poc = o.point_of_care.get_ref();
            if map.cares.contains(poc) {
                errors.push(src.error_at(
                    o.point_of_care.span().start,
                    format!("point of care {poc:?} has Orderly beds, so it cannot be outside"),
                    Some("remove it from [[outside]] or its beds from [[bed]]".into()),
                ));
                continue;
            }
            map.outside.insert(poc.clone());
        }
        for o in &raw.observation {
            let fact = match ObservationFact::deserialize(toml::Value::String(
                o.fact.get_ref().clone(),
            )) {
                Ok(f) => f,
                Err(_) => {
                    errors.push(src.error_at(
                            o.fact.span().start,
                            format!("fact {:?} is not one Orderly reads", o.fact.get_ref()),
                            Some(
                            "one of morse, braden, ventilated, weight, isolation, hypercapnic, respiration_rate, spo2, oxygen_flow, systolic, pulse, temperature, consciousness"
                                .into(),
                        ),
                        ));
                    continue;
                }
            };
            let key = (
                o.system.clone().unwrap_or_default(),
                o.code.get_ref().clone(),
            );
            if map.observations.insert(key, fact).is_some() {
                errors.push(src.error_at(
                    o.code.span().start,
                    format!("code {:?} is listed twice", o.code.get_ref()),
                    None,
                ));
            }
        }
        if errors.is_empty() {
            Ok(map)
        } else {
            Err(FileErrors(errors))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    #[serde(default)]
    bed: Vec<BedEntry>,
    #[serde(default)]
    outside: Vec<OutsideEntry>,
    #[serde(default)]
    observation: Vec<ObservationEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BedEntry {
    location: Spanned<String>,
    bed: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutsideEntry {
    point_of_care: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "for the reader of the file")]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObservationEntry {
    code: Spanned<String>,
    /// OBX-3.3 (`LN`, or the site's own); any system when absent.
    system: Option<String>,
    fact: Spanned<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beds() -> BTreeSet<String> {
        ["BED-ICU-01", "BED-ICU-02"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_map_places_beds_and_outside_and_reads_local_codes() {
        let m = CensusMap::parse(
            "m.toml",
            "[[bed]]\nlocation = \"ICU^201^1\"\nbed = \"BED-ICU-01\"\n\
             [[outside]]\npoint_of_care = \"OR\"\n\
             [[observation]]\ncode = \"VENT\"\nsystem = \"L\"\nfact = \"ventilated\"\n",
            &beds(),
        )
        .unwrap();
        assert_eq!(
            m.place("ICU", "201", "1"),
            Ok(Place::Bed("BED-ICU-01".into()))
        );
        assert_eq!(m.place("OR", "1", ""), Ok(Place::Outside));
        assert!(m.place("ICU", "201", "2").is_err());
        assert_eq!(
            m.observation("L", "VENT"),
            Some(ObservationFact::Ventilated)
        );
        assert_eq!(m.observation("LN", "59460-6"), Some(ObservationFact::Morse));
        assert_eq!(m.observation("L", "59460-6"), None);
    }

    #[test]
    fn turnaround_counts_from_the_patient_leaving_to_ready_per_unit() {
        let c = |bed: &str, from: BedTurn, to: BedTurn, vacated: i64, at: i64| {
            (
                TurnoverChange {
                    bed: bed.into(),
                    from,
                    to,
                    by: "x".into(),
                    reason: String::new(),
                    unit: Some("ICU".into()),
                    room: None,
                    vacated_at: Some(Timestamp(vacated * 60_000)),
                },
                Timestamp(at * 60_000),
            )
        };
        use BedTurn::*;
        let rows = turnaround(&[
            c("B1", Occupied, Dirty, 0, 0),
            c("B2", Occupied, Dirty, 5, 5),
            c("B1", Dirty, Cleaning, 0, 20),
            c("B1", Cleaning, Clean, 0, 40),
            c("B1", Clean, Ready, 0, 50),
            c("B3", Occupied, Dirty, 10, 10),
            c("B3", Dirty, Clean, 10, 30),
            c("B3", Clean, Ready, 10, 90),
        ]);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.turned, r.waiting), (2, 1));
        assert_eq!(r.vacated_to_ready_median_min, Some(80.0));
        assert_eq!(r.dirty_to_clean_median_min, Some(40.0));
        assert!(turnaround_csv(&rows).starts_with("unit,turned,"));
    }

    #[test]
    fn a_bad_map_names_the_line_and_the_fix() {
        let e = CensusMap::parse(
            "m.toml",
            "[[bed]]\nlocation = \"ICU^201^1\"\nbed = \"BED-ICU-1\"\n\
             [[bed]]\nlocation = \"ICU201\"\nbed = \"BED-ICU-02\"\n\
             [[observation]]\ncode = \"X\"\nfact = \"mood\"\n",
            &beds(),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("m.toml:3:"), "{text}");
        assert!(text.contains("did you mean \"BED-ICU-01\""), "{text}");
        assert!(text.contains("m.toml:5:"), "{text}");
        assert!(text.contains("m.toml:9:"), "{text}");
        assert_eq!(e.0.len(), 3);
    }
}

/// Where a bed is in its turnover: between one patient and the next.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
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
pub enum BedTurn {
    /// A patient is in it.
    Occupied,
    /// The patient left (discharged, transferred out): it must be cleaned.
    Dirty,
    /// Environmental services are cleaning it.
    Cleaning,
    /// Cleaned, waiting to be made up or inspected.
    Clean,
    /// Ready for the next patient.
    #[default]
    Ready,
    /// Out of use by a supervisor's decision (a reason is kept).
    Blocked,
}

crate::wire_names!(BedTurn {
    Occupied => "occupied",
    Dirty => "dirty",
    Cleaning => "cleaning",
    Clean => "clean",
    Ready => "ready",
    Blocked => "blocked",
});

/// A bed's turnover changed: the body of a `bed.turnover` event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TurnoverChange {
    pub bed: String,
    pub from: BedTurn,
    pub to: BedTurn,
    /// A person, `census`, `environmental services badge` or `orderly` (a timer).
    pub by: String,
    /// Why (a block's reason; `patient discharged`, ...).
    pub reason: String,
    /// The bed's unit (its room's, else its home unit).
    pub unit: Option<String>,
    pub room: Option<String>,
    /// When the patient left, for the turnaround from discharge to ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vacated_at: Option<Timestamp>,
}

/// Bed turnaround on one unit over a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UnitTurnaround {
    pub unit: String,
    /// Beds that went from a patient leaving to ready again in the window.
    pub turned: usize,
    /// Minutes from the patient leaving to the bed ready: median and 90th percentile.
    pub vacated_to_ready_median_min: Option<f64>,
    pub vacated_to_ready_p90_min: Option<f64>,
    /// Minutes from dirty to clean (the cleaning and the wait for it): median, 90th percentile.
    pub dirty_to_clean_median_min: Option<f64>,
    pub dirty_to_clean_p90_min: Option<f64>,
    /// Beds still waiting (dirty or being cleaned) at the end of the window.
    pub waiting: usize,
}

/// Turnaround per unit from the turnover changes (oldest first) of a window.
pub fn turnaround(changes: &[(TurnoverChange, Timestamp)]) -> Vec<UnitTurnaround> {
    #[derive(Default)]
    struct Acc {
        ready: Vec<f64>,
        clean: Vec<f64>,
        waiting: BTreeSet<String>,
    }
    let mut units: BTreeMap<String, Acc> = BTreeMap::new();
    let mut dirty_at: BTreeMap<&str, Timestamp> = BTreeMap::new();
    for (c, at) in changes {
        let unit = c.unit.clone().unwrap_or_else(|| "(no unit)".into());
        let acc = units.entry(unit).or_default();
        match c.to {
            BedTurn::Dirty => {
                dirty_at.insert(&c.bed, *at);
                acc.waiting.insert(c.bed.clone());
            }
            BedTurn::Cleaning => {
                acc.waiting.insert(c.bed.clone());
            }
            BedTurn::Clean => {
                if let Some(d) = dirty_at.remove(c.bed.as_str()) {
                    acc.clean.push(at.since(d) as f64 / 60_000.0);
                }
                acc.waiting.remove(&c.bed);
            }
            BedTurn::Ready => {
                if let Some(v) = c.vacated_at
                    && c.from == BedTurn::Clean
                {
                    acc.ready.push(at.since(v) as f64 / 60_000.0);
                }
                acc.waiting.remove(&c.bed);
            }
            BedTurn::Occupied | BedTurn::Blocked => {
                dirty_at.remove(c.bed.as_str());
                acc.waiting.remove(&c.bed);
            }
        }
    }
    let q = |v: &mut Vec<f64>, p: f64| -> Option<f64> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        Some((v[i] * 10.0).round() / 10.0)
    };
    units
        .into_iter()
        .map(|(unit, mut a)| UnitTurnaround {
            unit,
            turned: a.ready.len(),
            vacated_to_ready_median_min: q(&mut a.ready, 0.5),
            vacated_to_ready_p90_min: q(&mut a.ready, 0.9),
            dirty_to_clean_median_min: q(&mut a.clean, 0.5),
            dirty_to_clean_p90_min: q(&mut a.clean, 0.9),
            waiting: a.waiting.len(),
        })
        .collect()
}

/// One row per unit.
pub fn turnaround_csv(rows: &[UnitTurnaround]) -> String {
    let f = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.1}"));
    let mut out = String::from(
        "unit,turned,vacated_to_ready_median_min,vacated_to_ready_p90_min,dirty_to_clean_median_min,dirty_to_clean_p90_min,waiting\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            crate::report::csv_field(&r.unit),
            r.turned,
            f(r.vacated_to_ready_median_min),
            f(r.vacated_to_ready_p90_min),
            f(r.dirty_to_clean_median_min),
            f(r.dirty_to_clean_p90_min),
            r.waiting
        ));
    }
    out
}
