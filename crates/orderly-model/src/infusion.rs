//! Infusion safety: what a smart pump reports of the infusion it runs, the hospital's drug
//! library (`rules/drug-library.toml`: care-area profiles, and per drug and concentration soft
//! and hard dose limits, weight-based where the drug is dosed by weight, bolus limits), the
//! check of one infusion against it, and the `pump.infusion` record from which the compliance
//! report is made. Pure: the world calls [`DrugLibrary::check`] with the pump's unit and the
//! patient's weight from the census.

use crate::source::{FileError, FileErrors, Source};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// The infusion a pump runs, as it reports it (`infusion` in `pump/{id}/telemetry`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Infusion {
    /// The drug library is in use for this infusion; `false` is basic mode (a rate with no
    /// drug and no limits).
    pub library: bool,
    /// The care-area profile selected on the pump, as the library names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The drug as the library names it (library mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drug: Option<String>,
    /// The concentration as the library names it: `25000 units/250 mL`, `4 mg/50 mL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concentration: Option<String>,
    /// The programmed dose, in `dose_unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose: Option<f64>,
    /// `mL/h`, `mg/h`, `units/kg/h`, `mcg/kg/min`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_unit: Option<String>,
    /// The weight programmed on the pump for a weight-based dose, kg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f64>,
    /// The rate, mL/h.
    pub rate_ml_h: f64,
    /// Volume to be infused, mL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vtbi_ml: Option<f64>,
    /// Volume infused so far in this infusion, mL.
    #[serde(default)]
    pub infused_ml: f64,
    /// A bolus being given now, in the library's bolus unit (`units/kg`, `mg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bolus_dose: Option<f64>,
    /// The patient the pump was programmed for (a barcode scan), when it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
}

/// Largest rate a large-volume pump delivers, mL/h (most stop at 999 or 1200).
pub const MAX_RATE_ML_H: f64 = 2000.0;

impl Infusion {
    /// The values a pump can report; anything else is refused as a whole.
    pub fn check_ranges(&self) -> Result<(), String> {
        let range = |what: &str, v: f64, hi: f64| {
            if v.is_finite() && (0.0..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("infusion.{what} {v} is outside 0..{hi}"))
            }
        };
        range("rate_ml_h", self.rate_ml_h, MAX_RATE_ML_H)?;
        range("infused_ml", self.infused_ml, 100_000.0)?;
        for (what, v, hi) in [
            ("vtbi_ml", self.vtbi_ml, 100_000.0),
            ("dose", self.dose, 1e7),
            ("weight_kg", self.weight_kg, 500.0),
            ("bolus_dose", self.bolus_dose, 1e7),
        ] {
            if let Some(v) = v {
                range(what, v, hi)?;
            }
        }
        if let Some(u) = &self.dose_unit {
            DoseUnit::parse(u).map_err(|e| format!("infusion.dose_unit {u:?}: {e}"))?;
        }
        if let Some(c) = &self.concentration {
            Concentration::parse(c).map_err(|e| format!("infusion.concentration {c:?}: {e}"))?;
        }
        for (what, v) in [
            ("drug", &self.drug),
            ("profile", &self.profile),
            ("patient", &self.patient),
        ] {
            if let Some(v) = v
                && (v.is_empty() || v.len() > 64 || v.chars().any(char::is_control))
            {
                return Err(format!(
                    "infusion.{what} must be 1 to 64 printable characters"
                ));
            }
        }
        if self.library && self.drug.is_none() {
            return Err("infusion.drug is required when the library is in use".into());
        }
        Ok(())
    }

    /// Minutes until the volume to be infused is reached at this rate.
    pub fn minutes_left(&self) -> Option<f64> {
        let vtbi = self.vtbi_ml?;
        (self.rate_ml_h > 0.0).then(|| ((vtbi - self.infused_ml).max(0.0)) / self.rate_ml_h * 60.0)
    }
}

/// What an amount is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dimension {
    Volume,
    Mass,
    Units,
    Mmol,
    MEq,
}

/// An amount unit: its dimension and its size in the dimension's base (mL, mcg, units).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Amount {
    dim: Dimension,
    scale: f64,
}

fn amount(s: &str) -> Result<Amount, String> {
    use Dimension::*;
    let (dim, scale) = match s {
        "mL" | "ml" => (Volume, 1.0),
        "g" => (Mass, 1e6),
        "mg" => (Mass, 1e3),
        "mcg" | "microgram" => (Mass, 1.0),
        "ng" => (Mass, 1e-3),
        "units" | "unit" => (Units, 1.0),
        "milliunits" => (Units, 1e-3),
        "mmol" => (Mmol, 1.0),
        "mEq" => (MEq, 1.0),
        _ => {
            return Err(format!(
                "{s:?} is not an amount (mL, g, mg, mcg, ng, units, milliunits, mmol, mEq)"
            ));
        }
    };
    Ok(Amount { dim, scale })
}

/// A dose unit: `{amount}[/kg]/{h|min}`, or an amount per kg for a bolus (`units/kg`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DoseUnit {
    amount: Amount,
    per_kg: bool,
    /// Per minute (else per hour); `None` for a bolus amount.
    per_min: Option<bool>,
}

impl DoseUnit {
    /// A continuous dose unit (`mg/h`, `mcg/kg/min`, `mL/h`).
    pub fn parse(s: &str) -> Result<DoseUnit, String> {
        let u = Self::parse_any(s)?;
        if u.per_min.is_none() {
            return Err("a dose unit ends in /h or /min".into());
        }
        Ok(u)
    }
    /// A bolus unit (`mg`, `units/kg`).
    pub fn parse_bolus(s: &str) -> Result<DoseUnit, String> {
        let u = Self::parse_any(s)?;
        if u.per_min.is_some() {
            return Err("a bolus unit is an amount (`mg`) or an amount per kg (`units/kg`)".into());
        }
        Ok(u)
    }
    fn parse_any(s: &str) -> Result<DoseUnit, String> {
        let parts: Vec<&str> = s.trim().split('/').map(str::trim).collect();
        let amount = amount(parts.first().copied().unwrap_or(""))?;
        let (per_kg, rest) = match parts.get(1) {
            Some(&"kg") => (true, &parts[2..]),
            _ => (false, &parts[1..]),
        };
        let per_min = match rest {
            [] => None,
            ["h" | "hr"] => Some(false),
            ["min"] => Some(true),
            _ => return Err("write it as amount[/kg][/h or /min], e.g. mcg/kg/min".into()),
        };
        if amount.dim == Dimension::Volume && per_kg {
            return Err("a volume is not dosed per kg".into());
        }
        Ok(DoseUnit {
            amount,
            per_kg,
            per_min,
        })
    }
    pub fn weight_based(&self) -> bool {
        self.per_kg
    }
}

/// A concentration: `{n} {amount}/{v} mL` (or `/mL`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Concentration {
    amount: Amount,
    /// Amount per mL, in the amount's unit.
    per_ml: f64,
}

impl Concentration {
    pub fn parse(s: &str) -> Result<Concentration, String> {
        let bad =
            || "write it as `{amount} {unit}/{volume} mL`, e.g. `25000 units/250 mL`".to_string();
        let (top, bottom) = s.split_once('/').ok_or_else(bad)?;
        let mut t = top.split_whitespace();
        let n: f64 = t.next().and_then(|x| x.parse().ok()).ok_or_else(bad)?;
        let a = amount(t.next().ok_or_else(bad)?)?;
        if t.next().is_some() {
            return Err(bad());
        }
        let mut b = bottom.split_whitespace();
        let (v, unit) = match (b.next(), b.next(), b.next()) {
            (Some(u), None, None) => (1.0, u),
            (Some(v), Some(u), None) => (v.parse::<f64>().map_err(|_| bad())?, u),
            _ => return Err(bad()),
        };
        if !matches!(unit, "mL" | "ml") {
            return Err(bad());
        }
        if !(n.is_finite() && n > 0.0 && v.is_finite() && v > 0.0) || a.dim == Dimension::Volume {
            return Err(bad());
        }
        Ok(Concentration {
            amount: a,
            per_ml: n / v,
        })
    }
}

/// The dose a rate delivers: `rate` mL/h of `conc`, in `unit`, for a patient of `weight_kg`.
pub fn dose_of_rate(
    rate_ml_h: f64,
    conc: Option<&Concentration>,
    unit: &DoseUnit,
    weight_kg: Option<f64>,
) -> Option<f64> {
    let per_hour = match unit.amount.dim {
        Dimension::Volume => rate_ml_h * unit.amount.scale,
        dim => {
            let c = conc?;
            if c.amount.dim != dim {
                return None;
            }
            rate_ml_h * c.per_ml * c.amount.scale / unit.amount.scale
        }
    };
    let per_kg = match (unit.per_kg, weight_kg) {
        (false, _) => per_hour,
        (true, Some(w)) if w > 0.0 => per_hour / w,
        (true, _) => return None,
    };
    Some(if unit.per_min == Some(true) {
        per_kg / 60.0
    } else {
        per_kg
    })
}

/// A care-area profile: the units whose pumps use it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub units: Vec<String>,
}

/// Lower and upper limits; a limit left out does not apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Limits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soft_max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_max: Option<f64>,
}

/// Where a value stands against its limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// No limits apply (basic mode, no infusion, a drug not checked).
    #[default]
    None,
    Within,
    BelowHard,
    BelowSoft,
    AboveSoft,
    AboveHard,
}

crate::wire_names!(Standing {
    None => "none",
    Within => "within",
    BelowHard => "below_hard",
    BelowSoft => "below_soft",
    AboveSoft => "above_soft",
    AboveHard => "above_hard",
});

impl Limits {
    /// Where `v` stands. A value equal to a limit is within it; `tolerance` (relative) allows
    /// for a dose worked out from a rounded rate.
    pub fn stand(&self, v: f64, tolerance: f64) -> Standing {
        let over = |l: Option<f64>| l.is_some_and(|l| v > l * (1.0 + tolerance));
        let under = |l: Option<f64>| l.is_some_and(|l| v < l * (1.0 - tolerance));
        if over(self.hard_max) {
            Standing::AboveHard
        } else if under(self.hard_min) {
            Standing::BelowHard
        } else if over(self.soft_max) {
            Standing::AboveSoft
        } else if under(self.soft_min) {
            Standing::BelowSoft
        } else {
            Standing::Within
        }
    }
    /// The limit `s` crossed, in words: `hard max 40`.
    fn crossed(&self, s: Standing) -> Option<(&'static str, f64)> {
        match s {
            Standing::AboveHard => self.hard_max.map(|l| ("hard max", l)),
            Standing::BelowHard => self.hard_min.map(|l| ("hard min", l)),
            Standing::AboveSoft => self.soft_max.map(|l| ("soft max", l)),
            Standing::BelowSoft => self.soft_min.map(|l| ("soft min", l)),
            _ => None,
        }
    }
}

/// One drug at one concentration, for some profiles.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    pub drug: String,
    pub concentration: String,
    #[serde(skip)]
    conc: Concentration,
    pub dose_unit: String,
    #[serde(skip)]
    unit: DoseUnit,
    /// ISMP high-alert medication: overrides are worth a look.
    pub high_alert: bool,
    /// Profiles it is in; empty: every profile.
    pub profiles: Vec<String>,
    pub limits: Limits,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bolus_unit: Option<String>,
    #[serde(skip)]
    bolus: Option<DoseUnit>,
    pub bolus_limits: Limits,
}

impl Entry {
    /// The rate (mL/h) that gives `dose` in the entry's unit, for a patient of `weight_kg`.
    pub fn rate_for(&self, dose: f64, weight_kg: Option<f64>) -> Option<f64> {
        let per = dose_of_rate(1.0, Some(&self.conc), &self.unit, weight_kg)?;
        (per > 0.0).then(|| dose / per)
    }
    /// The bag's volume, mL: the concentration's volume (`25000 units/250 mL` is 250).
    pub fn bag_ml(&self) -> f64 {
        self.concentration
            .split_once('/')
            .and_then(|(_, v)| v.split_whitespace().next()?.parse::<f64>().ok())
            .filter(|v| *v > 0.0)
            .unwrap_or(100.0)
    }
    pub fn weight_based(&self) -> bool {
        self.unit.per_kg
    }
    /// Whether pumps on `profile` have it.
    pub fn in_profile(&self, profile: &str) -> bool {
        self.profiles.is_empty() || self.profiles.iter().any(|p| p == profile)
    }
}

/// The checked drug library.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DrugLibrary {
    pub version: String,
    pub profiles: Vec<Profile>,
    pub entries: Vec<Entry>,
    /// Units the floorplan does not have, left out (said by `orderly rules check`).
    #[serde(skip)]
    pub ignored: Vec<FileError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    version: String,
    #[serde(default)]
    profile: Vec<RawProfile>,
    #[serde(default)]
    drug: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    id: Spanned<String>,
    #[serde(default)]
    name: String,
    units: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: Spanned<String>,
    concentration: Spanned<String>,
    dose_unit: Spanned<String>,
    #[serde(default)]
    high_alert: bool,
    profiles: Option<Spanned<Vec<String>>>,
    hard_min: Option<f64>,
    soft_min: Option<f64>,
    soft_max: Option<f64>,
    hard_max: Option<Spanned<f64>>,
    bolus_unit: Option<Spanned<String>>,
    bolus_soft_max: Option<f64>,
    bolus_hard_max: Option<f64>,
}

/// Ordered limits: every one present is positive and hard min <= soft min <= soft max <= hard max.
fn ordered(l: &Limits) -> Result<(), String> {
    let seq = [l.hard_min, l.soft_min, l.soft_max, l.hard_max];
    if seq.iter().flatten().any(|v| !v.is_finite() || *v < 0.0) {
        return Err("limits are positive numbers".into());
    }
    let present: Vec<f64> = seq.iter().flatten().copied().collect();
    if present.windows(2).any(|w| w[0] > w[1]) {
        return Err("limits must go hard_min <= soft_min <= soft_max <= hard_max".into());
    }
    Ok(())
}

fn key(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Parses and checks a drug library. `units` are the floorplan's unit ids.
pub fn parse(file: &str, text: &str, units: &BTreeSet<String>) -> Result<DrugLibrary, FileErrors> {
    let src = Source::new(file, text);
    let raw: File = src.parse_toml()?;
    let mut errors: Vec<FileError> = Vec::new();
    let mut ignored: Vec<FileError> = Vec::new();
    let mut profiles = Vec::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut unit_profile: BTreeMap<String, String> = BTreeMap::new();
    for p in raw.profile {
        let id = p.id.get_ref().trim().to_string();
        if id.is_empty() {
            errors.push(src.error_at(p.id.span().start, "a profile needs an id", None));
            continue;
        }
        if let Some(line) = ids.get(&id) {
            errors.push(src.error_at(
                p.id.span().start,
                format!("a second profile {id:?}"),
                Some(format!("keep one; the first is on line {line}")),
            ));
        }
        ids.insert(id.clone(), src.line_col(p.id.span().start).0);
        let mut kept = Vec::new();
        for u in p.units.get_ref() {
            if !units.contains(u) {
                // A misspelt unit is an error; a unit this floorplan does not have at all (one
                // library for several sites) is skipped and said.
                match crate::source::suggest(u, units.iter().map(String::as_str)) {
                    Some(near) => errors.push(src.error_at(
                        p.units.span().start,
                        format!("unit {u:?} is not in the floorplan"),
                        Some(format!("did you mean {near:?}?")),
                    )),
                    None => ignored.push(src.error_at(
                        p.units.span().start,
                        format!("unit {u:?} is not in the floorplan: left out of profile {id:?}"),
                        Some(format!(
                            "the floorplan's units are: {}",
                            units.iter().cloned().collect::<Vec<_>>().join(", ")
                        )),
                    )),
                }
                continue;
            }
            kept.push(u.clone());
            if let Some(other) = unit_profile.insert(u.clone(), id.clone()) {
                errors.push(src.error_at(
                    p.units.span().start,
                    format!("unit {u:?} is already in profile {other:?}"),
                    Some("a unit's pumps use one profile: keep it in one".into()),
                ));
            }
        }
        profiles.push(Profile {
            name: if p.name.is_empty() {
                id.clone()
            } else {
                p.name
            },
            id,
            units: kept,
        });
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for d in raw.drug {
        let at = d.name.span().start;
        let mut ok = true;
        let conc = match Concentration::parse(d.concentration.get_ref()) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(src.error_at(d.concentration.span().start, e, None));
                None
            }
        };
        let unit = match DoseUnit::parse(d.dose_unit.get_ref()) {
            Ok(u) => Some(u),
            Err(e) => {
                errors.push(src.error_at(
                    d.dose_unit.span().start,
                    format!("dose_unit {:?}: {e}", d.dose_unit.get_ref()),
                    None,
                ));
                None
            }
        };
        if let (Some(c), Some(u)) = (conc, unit)
            && u.amount.dim != Dimension::Volume
            && u.amount.dim != c.amount.dim
        {
            errors.push(src.error_at(
                d.dose_unit.span().start,
                format!(
                    "dose_unit {:?} does not measure what the concentration {:?} holds",
                    d.dose_unit.get_ref(),
                    d.concentration.get_ref()
                ),
                Some(
                    "dose a drug in the amount its concentration is written in (or in mL/h)".into(),
                ),
            ));
            ok = false;
        }
        let (profile_list, profiles_at) = match &d.profiles {
            Some(p) => (p.get_ref().clone(), p.span().start),
            None => (Vec::new(), at),
        };
        for p in &profile_list {
            if !ids.contains_key(p) {
                let fix = crate::source::suggest(p, ids.keys().map(String::as_str))
                    .map(|n| format!("did you mean {n:?}?"))
                    .unwrap_or_else(|| "add a [[profile]] with this id".into());
                errors.push(src.error_at(
                    profiles_at,
                    format!("profile {p:?} is not defined"),
                    Some(fix),
                ));
                ok = false;
            }
        }
        let limits = Limits {
            hard_min: d.hard_min,
            soft_min: d.soft_min,
            soft_max: d.soft_max,
            hard_max: d.hard_max.as_ref().map(|h| *h.get_ref()),
        };
        if let Err(e) = ordered(&limits) {
            errors.push(src.error_at(at, format!("{}: {e}", d.name.get_ref()), None));
            ok = false;
        }
        if limits.hard_max.is_none() && limits.soft_max.is_none() {
            errors.push(src.error_at(
                at,
                format!("{} has no upper limit", d.name.get_ref()),
                Some("give it a soft_max, a hard_max or both".into()),
            ));
            ok = false;
        }
        let bolus_limits = Limits {
            soft_max: d.bolus_soft_max,
            hard_max: d.bolus_hard_max,
            ..Limits::default()
        };
        let bolus = match &d.bolus_unit {
            Some(b) => match DoseUnit::parse_bolus(b.get_ref()) {
                Ok(u) => Some(u),
                Err(e) => {
                    errors.push(src.error_at(b.span().start, e, None));
                    ok = false;
                    None
                }
            },
            None if bolus_limits != Limits::default() => {
                errors.push(src.error_at(
                    at,
                    "bolus limits without a bolus_unit",
                    Some("add bolus_unit = \"units/kg\" (or mg, mcg, ...)".into()),
                ));
                ok = false;
                None
            }
            None => None,
        };
        if let Err(e) = ordered(&bolus_limits) {
            errors.push(src.error_at(at, format!("bolus: {e}"), None));
            ok = false;
        }
        let profile_keys: Vec<String> = if profile_list.is_empty() {
            vec!["*".into()]
        } else {
            profile_list.clone()
        };
        for p in &profile_keys {
            let k = (
                key(d.name.get_ref()),
                key(d.concentration.get_ref()),
                p.clone(),
            );
            if let Some(line) = seen.get(&k) {
                errors.push(src.error_at(
                    at,
                    format!(
                        "a second entry for {} {} in profile {p}",
                        d.name.get_ref(),
                        d.concentration.get_ref()
                    ),
                    Some(format!("keep one; the first is on line {line}")),
                ));
                ok = false;
            }
            seen.insert(k, src.line_col(at).0);
        }
        if let (true, Some(conc), Some(unit)) = (ok, conc, unit) {
            entries.push(Entry {
                drug: d.name.get_ref().trim().to_string(),
                concentration: d.concentration.get_ref().trim().to_string(),
                conc,
                dose_unit: d.dose_unit.get_ref().trim().to_string(),
                unit,
                high_alert: d.high_alert,
                profiles: profile_list,
                limits,
                bolus_unit: d.bolus_unit.map(|b| b.into_inner()),
                bolus,
                bolus_limits,
            });
        }
    }
    if errors.is_empty() {
        Ok(DrugLibrary {
            version: raw.version,
            profiles,
            entries,
            ignored,
        })
    } else {
        Err(FileErrors(errors))
    }
}

/// Why an infusion could not be checked against the library: counted as a rejection of the
/// infusion part of the pump's message (its own state, alarms and battery still count).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unchecked {
    UnknownProfile(String),
    UnknownDrug(String),
    WrongUnits(String),
}

impl Unchecked {
    pub fn reason(&self) -> crate::RejectReason {
        match self {
            Unchecked::UnknownProfile(_) => crate::RejectReason::UnknownProfile,
            Unchecked::UnknownDrug(_) => crate::RejectReason::UnknownDrug,
            Unchecked::WrongUnits(_) => crate::RejectReason::WrongUnits,
        }
    }
    pub fn detail(&self) -> &str {
        match self {
            Unchecked::UnknownProfile(s) | Unchecked::UnknownDrug(s) | Unchecked::WrongUnits(s) => {
                s
            }
        }
    }
}

/// One infusion checked against the library.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Check {
    /// The library entry it matched, by index.
    pub entry: Option<usize>,
    pub high_alert: bool,
    /// The dose checked: the programmed dose, per kg of the census weight where the pump was
    /// given another; in the entry's unit.
    pub dose: Option<f64>,
    pub dose_unit: String,
    pub standing: Standing,
    pub bolus: Standing,
    /// The limit crossed, in words (`hard max 40 units/kg/h`), empty when within.
    pub crossed: String,
    /// The profile the pump's unit uses, when it is not the one selected.
    pub expected_profile: Option<String>,
    /// The pump's weight differs from the census's by more than 10 %: (pump, census).
    pub weight_mismatch: Option<(f64, f64)>,
}

/// A weight on the pump this far from the census's is a wrong entry, not rounding.
pub const WEIGHT_TOLERANCE: f64 = 0.10;

impl DrugLibrary {
    /// The profile a unit's pumps use.
    pub fn profile_of_unit(&self, unit: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.units.iter().any(|u| u == unit))
    }

    fn find(&self, drug: &str, conc: &str, profile: Option<&str>) -> Option<usize> {
        // Per pump message: compared in place, nothing allocated per entry.
        let same = |a: &str, b: &str| {
            a.trim()
                .chars()
                .flat_map(char::to_lowercase)
                .eq(b.trim().chars().flat_map(char::to_lowercase))
        };
        let cp = Concentration::parse(conc).ok();
        self.entries.iter().position(|e| {
            same(&e.drug, drug)
                && match cp {
                    // The same amount per mL, however it is written.
                    Some(cp) => {
                        cp.amount == e.conc.amount
                            && (cp.per_ml - e.conc.per_ml).abs() <= 1e-9 * e.conc.per_ml
                    }
                    None => same(&e.concentration, conc),
                }
                && (e.profiles.is_empty()
                    || profile.is_some_and(|p| e.profiles.iter().any(|x| x == p)))
        })
    }

    /// Checks what a pump reports. `unit` is the unit the pump is in, `census_weight_kg` the
    /// weight of the patient it infuses, when known.
    pub fn check(
        &self,
        inf: &Infusion,
        unit: Option<&str>,
        census_weight_kg: Option<f64>,
    ) -> Result<Check, Unchecked> {
        let mut out = Check::default();
        let expected = unit.and_then(|u| self.profile_of_unit(u));
        if let Some(p) = &inf.profile {
            if !self.profiles.iter().any(|x| &x.id == p) {
                return Err(Unchecked::UnknownProfile(format!(
                    "profile {p:?} is not in the drug library (version {:?})",
                    self.version
                )));
            }
            if let Some(e) = expected
                && &e.id != p
            {
                out.expected_profile = Some(e.id.clone());
            }
        }
        if !inf.library {
            return Ok(out);
        }
        let drug = inf.drug.as_deref().unwrap_or_default();
        let conc = inf.concentration.as_deref().unwrap_or_default();
        let profile = inf.profile.as_deref().or(expected.map(|p| p.id.as_str()));
        let Some(i) = self.find(drug, conc, profile) else {
            return Err(Unchecked::UnknownDrug(format!(
                "{drug} {conc} is not in the drug library{}",
                profile
                    .map(|p| format!(" for profile {p}"))
                    .unwrap_or_default()
            )));
        };
        let e = &self.entries[i];
        out.entry = Some(i);
        out.high_alert = e.high_alert;
        out.dose_unit = e.dose_unit.clone();
        if let Some(u) = &inf.dose_unit
            && DoseUnit::parse(u).ok() != Some(e.unit)
        {
            return Err(Unchecked::WrongUnits(format!(
                "{drug} is dosed in {} in the library; the pump reports {u}",
                e.dose_unit
            )));
        }
        let pump_w = inf.weight_kg.filter(|w| *w > 0.0);
        let census_w = census_weight_kg.filter(|w| *w > 0.0);
        if e.unit.per_kg
            && let (Some(p), Some(c)) = (pump_w, census_w)
            && (p - c).abs() > WEIGHT_TOLERANCE * c
        {
            out.weight_mismatch = Some((p, c));
        }
        // The dose this patient gets: the programmed dose, rescaled to the census weight when
        // the pump was given another; worked out from the rate when the pump gives no dose.
        let (dose, tolerance) = match inf.dose {
            Some(d) if e.unit.per_kg => match (pump_w, census_w) {
                (Some(p), Some(c)) => (Some(d * p / c), 1e-9),
                _ => (Some(d), 1e-9),
            },
            Some(d) => (Some(d), 1e-9),
            None => (
                dose_of_rate(inf.rate_ml_h, Some(&e.conc), &e.unit, census_w.or(pump_w)),
                // Rates are rounded to 0.1 mL/h.
                0.01,
            ),
        };
        out.dose = dose;
        if let Some(d) = dose {
            out.standing = e.limits.stand(d, tolerance);
            if let Some((what, l)) = e.limits.crossed(out.standing) {
                out.crossed = format!("{what} {l} {}", e.dose_unit);
            }
        }
        if let (Some(b), Some(bu)) = (inf.bolus_dose, &e.bolus) {
            let b = match (bu.per_kg, pump_w, census_w) {
                (true, Some(p), Some(c)) => b * p / c,
                _ => b,
            };
            out.bolus = e.bolus_limits.stand(b, 1e-9);
            if out.crossed.is_empty()
                && let Some((what, l)) = e.bolus_limits.crossed(out.bolus)
            {
                out.crossed = format!(
                    "bolus {what} {l} {}",
                    e.bolus_unit.as_deref().unwrap_or_default()
                );
            }
        }
        Ok(out)
    }
}

/// What happened to a pump's infusion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InfusionChange {
    /// A new infusion began (a new program, or infusing again after the pump was off).
    Started,
    /// The pump reported a soft-limit override (a nurse confirmed a dose past a soft limit).
    SoftOverride,
    /// The pump stopped a program past a hard limit.
    HardStop,
    /// The dose, rate or standing against the limits changed.
    Changed,
    /// The infusion ended (the pump off or idle, another program, or silent).
    Ended,
}

crate::wire_names!(InfusionChange {
    Started => "started",
    SoftOverride => "soft_override",
    HardStop => "hard_stop",
    Changed => "changed",
    Ended => "ended",
});

/// A `pump.infusion` event: the infusion as it stands after the change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InfusionRecord {
    pub pump: String,
    pub change: InfusionChange,
    /// When this infusion started.
    pub started_at: crate::Timestamp,
    /// The pump's model, for the report per model.
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    pub library: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concentration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose_unit: Option<String>,
    pub rate_ml_h: f64,
    #[serde(default)]
    pub infused_ml: f64,
    #[serde(default)]
    pub standing: Standing,
    /// The pump's lifetime counters as of this record, so a restart neither loses nor repeats
    /// an override.
    #[serde(default)]
    pub soft_overrides_total: u64,
    #[serde(default)]
    pub hard_stops_total: u64,
    /// Overrides (or stops) this record counts: a counter that jumped by more than one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One row of the infusion report: infusions started in the window, how many used the library,
/// hours infused in the window, overrides and hard stops, and alerts on pumps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// The unit, the pump model, or `drug @ unit`, by table.
    pub key: String,
    pub infusions: u64,
    pub with_library: u64,
    /// `with_library / infusions` (ISMP's drug-library compliance), none when no infusion.
    pub compliance: Option<f64>,
    pub basic_mode: u64,
    pub infusion_hours: f64,
    pub soft_overrides: u64,
    pub hard_stops: u64,
    /// Alerts raised on pumps (rules whose subject is a pump) in the window (per unit and
    /// model; 0 per drug).
    pub alerts: u64,
    pub alerts_per_infusion_hour: Option<f64>,
}

/// Drug-library compliance, overrides and alerts per infusion hour, per unit, per pump model and
/// per drug and unit (`GET /api/v1/reports/infusion`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InfusionReport {
    pub from: crate::Timestamp,
    pub to: crate::Timestamp,
    pub total: ReportRow,
    pub units: Vec<ReportRow>,
    pub models: Vec<ReportRow>,
    /// Per drug and unit (`Heparin @ ICU`; basic mode is `(basic mode) @ ICU`).
    pub drugs: Vec<ReportRow>,
}

/// The report of `[from, to)` from the records the store gives (each pump's last before
/// `from`, then those of the window, oldest first) and the alerts raised on pumps in the
/// window, as (unit, pump model).
pub fn report(
    records: &[(InfusionRecord, crate::Timestamp)],
    alerts: &[(Option<String>, String)],
    from: crate::Timestamp,
    to: crate::Timestamp,
) -> InfusionReport {
    type Rows = BTreeMap<String, ReportRow>;
    let (mut units, mut models, mut drugs) = (Rows::new(), Rows::new(), Rows::new());
    let mut total = ReportRow::default();
    // An infusion counts for the unit its pump was last seen running it in (the pump's first
    // report of an infusion may come before the locator has caught up with its move).
    let mut last_unit: BTreeMap<(&str, i64), &Option<String>> = BTreeMap::new();
    for (r, at) in records {
        if *at < to {
            last_unit.insert((&r.pump, r.started_at.millis()), &r.unit);
        }
    }
    let unit_of = |r: &InfusionRecord| {
        last_unit
            .get(&(r.pump.as_str(), r.started_at.millis()))
            .copied()
            .unwrap_or(&r.unit)
            .clone()
            .unwrap_or_else(|| "(no unit)".into())
    };
    let drug_of = |r: &InfusionRecord| {
        let d = if r.library {
            r.drug.clone().unwrap_or_else(|| "(no drug)".into())
        } else {
            "(basic mode)".into()
        };
        format!("{d} @ {}", unit_of(r))
    };
    let model_of = |r: &InfusionRecord| {
        if r.model.is_empty() {
            "(no model)".to_string()
        } else {
            r.model.clone()
        }
    };
    let mut add = |r: &InfusionRecord, f: &dyn Fn(&mut ReportRow)| {
        f(&mut total);
        f(units.entry(unit_of(r)).or_default());
        f(models.entry(model_of(r)).or_default());
        f(drugs.entry(drug_of(r)).or_default());
    };
    // Hours: each infusion (pump, start) from its start or the window's, to its end or the
    // window's.
    let mut open: BTreeMap<(String, i64), (InfusionRecord, crate::Timestamp)> = BTreeMap::new();
    let hours = |a: crate::Timestamp, b: crate::Timestamp| {
        (b.millis().min(to.millis()) - a.millis().max(from.millis())).max(0) as f64 / 3_600_000.0
    };
    for (r, at) in records {
        let key = (r.pump.clone(), r.started_at.millis());
        if *at < from {
            // Running when the window opens.
            if r.change != InfusionChange::Ended {
                open.insert(key, (r.clone(), r.started_at));
            }
            continue;
        }
        if *at >= to {
            continue;
        }
        match r.change {
            InfusionChange::Started => {
                add(r, &|x| {
                    x.infusions += 1;
                    if r.library {
                        x.with_library += 1;
                    } else {
                        x.basic_mode += 1;
                    }
                });
                open.insert(key, (r.clone(), r.started_at));
            }
            InfusionChange::SoftOverride => add(r, &|x| x.soft_overrides += r.count),
            InfusionChange::HardStop => add(r, &|x| x.hard_stops += r.count),
            InfusionChange::Changed => {}
            InfusionChange::Ended => {
                if let Some((first, start)) = open.remove(&key) {
                    let h = hours(start, *at);
                    add(&first, &|x| x.infusion_hours += h);
                }
            }
        }
    }
    for (first, start) in open.into_values() {
        let h = hours(start, to);
        add(&first, &|x| x.infusion_hours += h);
    }
    for (unit, model) in alerts {
        let u = unit.clone().unwrap_or_else(|| "(no unit)".into());
        let m = if model.is_empty() {
            "(no model)".to_string()
        } else {
            model.clone()
        };
        total.alerts += 1;
        units.entry(u).or_default().alerts += 1;
        models.entry(m).or_default().alerts += 1;
    }
    let finish = |key: String, mut r: ReportRow, per_hour: bool| {
        r.key = key;
        r.compliance = (r.infusions > 0).then(|| r.with_library as f64 / r.infusions as f64);
        r.infusion_hours = (r.infusion_hours * 1000.0).round() / 1000.0;
        r.alerts_per_infusion_hour =
            (per_hour && r.infusion_hours > 0.0).then(|| r.alerts as f64 / r.infusion_hours);
        r
    };
    let rows = |m: Rows, per_hour| m.into_iter().map(|(k, r)| finish(k, r, per_hour)).collect();
    InfusionReport {
        from,
        to,
        total: finish("all".into(), total, true),
        units: rows(units, true),
        models: rows(models, true),
        // An alert is about a pump, not a drug: drugs have no alert rate.
        drugs: rows(drugs, false),
    }
}

impl InfusionReport {
    /// One line per row, the table first: `table,key,infusions,...`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "table,key,infusions,with_library,compliance,basic_mode,infusion_hours,soft_overrides,hard_stops,alerts,alerts_per_infusion_hour\n",
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
        let tables: [(&str, &[ReportRow]); 4] = [
            ("total", std::slice::from_ref(&self.total)),
            ("unit", &self.units),
            ("model", &self.models),
            ("drug", &self.drugs),
        ];
        for (table, rows) in tables {
            for r in rows {
                out.push_str(&format!(
                    "{table},{},{},{},{},{},{:.3},{},{},{},{}\n",
                    crate::report::csv_field(&r.key),
                    r.infusions,
                    r.with_library,
                    opt(r.compliance),
                    r.basic_mode,
                    r.infusion_hours,
                    r.soft_overrides,
                    r.hard_stops,
                    r.alerts,
                    opt(r.alerts_per_infusion_hour),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
