//! The asset registry and census ("seed") file: equipment with its tags and device ids, staff
//! badges with roles and units, patients in beds with their risk scores. The format is
//! documented in `docs/seed-format.md`; [`Seed::parse`] checks a whole file and reports every
//! problem with its line.

use crate::source::{FileError, FileErrors, Source};
use crate::valid_device_id;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// Kind of equipment (`bed`, `infusion_pump`, `wheelchair`, ...): a lower_snake_case word.
pub type AssetKind = String;

/// Where an item stands in the equipment workflow.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    #[default]
    Available,
    InUse,
    NeedsCleaning,
    Clean,
    OutOfService,
}

crate::wire_names!(AssetStatus {
    Available => "available",
    InUse => "in_use",
    NeedsCleaning => "needs_cleaning",
    Clean => "clean",
    OutOfService => "out_of_service",
});

/// Why a status change asked for by a person was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusError {
    #[error("no asset {0:?}")]
    NotFound(String),
    #[error("{asset} is already {status}")]
    Unchanged { asset: String, status: &'static str },
}

/// An API caller's role. Nurses are scoped to units.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Nurse,
    Facilities,
    Biomed,
    Admin,
}

crate::wire_names!(Role {
    Nurse => "nurse",
    Facilities => "facilities",
    Biomed => "biomed",
    Admin => "admin",
});

/// A piece of tracked equipment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Asset {
    pub id: String,
    pub kind: AssetKind,
    /// The RTLS tag on it, if tagged.
    pub tag: Option<String>,
    /// Its own MQTT device id (smart beds, infusion pumps).
    pub device: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// Home unit (where it belongs for PAR levels).
    pub unit: Option<String>,
    pub status: AssetStatus,
    /// When its next scheduled maintenance is due, as the maintenance system (CMMS) says:
    /// from then on it is overdue and never offered by `locate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_due: Option<crate::Timestamp>,
    /// A bedside monitor's bed (a bed asset id): its vital signs are those of whoever the
    /// census has in that bed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bed: Option<String>,
    /// A bed's place: one of the floorplan's beds (`beds = [...]` of a room). Its patient is in
    /// that room whenever no tag places them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

impl Asset {
    /// The class of its own MQTT device, when it has one: a bed's is a smart bed, a patient
    /// monitor's a bedside monitor, any other asset's an infusion pump.
    pub fn device_class(&self) -> Option<crate::DeviceClass> {
        self.device.as_ref().map(|_| match self.kind.as_str() {
            "bed" => crate::DeviceClass::Bed,
            "patient_monitor" => crate::DeviceClass::Monitor,
            _ => crate::DeviceClass::Pump,
        })
    }
}

impl Seed {
    /// Every device the registry names (smart beds, pumps, wearables) with its class, in file
    /// order. Room receivers are the floorplan's.
    pub fn devices(&self) -> Vec<(&str, crate::DeviceClass)> {
        let assets = self
            .assets
            .iter()
            .filter_map(|a| Some((a.device.as_deref()?, a.device_class()?)));
        let wearables = self
            .patients
            .iter()
            .filter_map(|p| Some((p.wearable.as_deref()?, crate::DeviceClass::Wearable)));
        let sensors = self
            .sensors
            .iter()
            .map(|s| (s.id.as_str(), crate::DeviceClass::Environment));
        assets.chain(wearables).chain(sensors).collect()
    }
}

/// A staff member with a badge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Staff {
    pub id: String,
    pub name: String,
    /// `nurse`, `charge_nurse`, `physician`, `aide`, `porter`, `biomed`, `facilities`, `security`, ...
    pub role: String,
    pub units: Vec<String>,
    pub badge: String,
}

impl Staff {
    /// Whether this person gives bedside care (their badge in a room means a caregiver is present).
    pub fn is_caregiver(&self) -> bool {
        matches!(
            self.role.as_str(),
            "nurse" | "charge_nurse" | "physician" | "aide" | "therapist"
        )
    }
}

/// A patient in a bed, with the risk scores the rules use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Patient {
    pub id: String,
    pub name: String,
    /// The bed asset id.
    pub bed: String,
    /// Morse Fall Scale, 0-125 (>= 45: high risk).
    pub morse: u8,
    /// Braden Scale, 6-23 (<= 12: high risk of pressure injury).
    pub braden: u8,
    pub ventilated: bool,
    /// Wristband RTLS tag.
    pub tag: Option<String>,
    /// Accelerometer wearable device id.
    pub wearable: Option<String>,
    /// Its model (`[[wearable_model]]`): where it is worn, so the fall detector reads it as
    /// worn there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wearable_model: Option<String>,
    pub elopement_risk: bool,
    /// What the census (HL7 ADT and ORU, or the REST API) says beyond the seed's fields.
    #[serde(default, skip_serializing_if = "crate::census::Record::is_empty")]
    pub record: crate::census::Record,
}

/// Where a wearable is worn: the fall detector has parameters for each.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Worn {
    #[default]
    Waist,
    Chest,
    Wrist,
    Pocket,
}

crate::wire_names!(Worn {
    Waist => "waist",
    Chest => "chest",
    Wrist => "wrist",
    Pocket => "pocket",
});

/// A wearable model (`[[wearable_model]]`): patients' wearables name it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WearableModel {
    pub id: String,
    /// Where it is worn: `waist`, `chest`, `wrist` or `pocket` (a phone in a trouser pocket).
    pub worn: Worn,
}

/// An environment sensor (`[[sensor]]`): its id is its MQTT device id. Mounted in a room of
/// the floorplan, on an appliance there (a medication fridge) or in the room's air.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sensor {
    pub id: String,
    /// The floorplan room it is in.
    pub room: String,
    /// The appliance it is on (`4 West medication fridge`); none for the room's air.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance: Option<String>,
    /// The ranges it is checked against: a `[[profile]]` of `rules/environment.toml`.
    pub profile: String,
}

/// The validated registry and census.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seed {
    pub assets: Vec<Asset>,
    pub staff: Vec<Staff>,
    pub patients: Vec<Patient>,
    pub sensors: Vec<Sensor>,
    /// The wearable models in use and where each is worn.
    pub wearable_models: Vec<WearableModel>,
    /// Every room the file names (sensors), with where.
    room_refs: Vec<(String, usize)>,
    /// Every environment profile the file names, with where.
    profile_refs: Vec<(String, usize)>,
    /// Every unit the file names, with the byte offset where it does (checked against the floorplan).
    unit_refs: Vec<(String, usize)>,
    /// Every bed position the file names, with where (checked against the floorplan's beds).
    position_refs: Vec<(String, usize)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    asset: Vec<AssetEntry>,
    #[serde(default)]
    fleet: Vec<FleetEntry>,
    #[serde(default)]
    staff: Vec<StaffEntry>,
    #[serde(default)]
    patient: Vec<PatientEntry>,
    #[serde(default)]
    sensor: Vec<SensorEntry>,
    #[serde(default)]
    wearable_model: Vec<WearableModelEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WearableModelEntry {
    id: Spanned<String>,
    worn: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SensorEntry {
    id: Spanned<String>,
    room: Spanned<String>,
    appliance: Option<String>,
    profile: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssetEntry {
    id: Spanned<String>,
    kind: Spanned<String>,
    tag: Option<Spanned<String>>,
    device: Option<Spanned<String>>,
    model: Option<String>,
    serial: Option<String>,
    unit: Option<Spanned<String>>,
    /// A bedside monitor's bed.
    bed: Option<Spanned<String>>,
    /// A bed's place: a bed of the floorplan.
    position: Option<Spanned<String>>,
    #[serde(default)]
    status: AssetStatus,
    /// `YYYY-MM-DD` (midnight UTC) or RFC 3339.
    service_due: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetEntry {
    kind: Spanned<String>,
    count: Spanned<u32>,
    #[serde(default = "one")]
    start: u32,
    #[serde(default = "four")]
    width: usize,
    id: Spanned<String>,
    tag: Option<Spanned<String>>,
    device: Option<Spanned<String>>,
    model: Option<String>,
    serial: Option<String>,
    #[serde(default)]
    units: Vec<Spanned<String>>,
    #[serde(default)]
    status: AssetStatus,
}

fn one() -> u32 {
    1
}
fn four() -> usize {
    4
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffEntry {
    id: Spanned<String>,
    name: String,
    role: Spanned<String>,
    #[serde(default)]
    units: Vec<Spanned<String>>,
    badge: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatientEntry {
    id: Spanned<String>,
    name: String,
    bed: Spanned<String>,
    morse: Spanned<u8>,
    braden: Spanned<u8>,
    #[serde(default)]
    ventilated: bool,
    tag: Option<Spanned<String>>,
    wearable: Option<Spanned<String>>,
    wearable_model: Option<Spanned<String>>,
    #[serde(default)]
    elopement_risk: bool,
}

/// The staff roles a seed may use (and rules may notify).
pub const STAFF_ROLES: &[&str] = &[
    "nurse",
    "charge_nurse",
    "physician",
    "aide",
    "therapist",
    "porter",
    "biomed",
    "facilities",
    "security",
    "environmental_services",
    "rapid_response",
];

/// Errors from reading a seed file.
pub type SeedError = FileErrors;

struct Checker<'a> {
    src: Source<'a>,
    errors: Vec<FileError>,
    ids: BTreeMap<String, usize>,
    tags: BTreeMap<String, usize>,
    devices: BTreeMap<String, usize>,
    positions: BTreeMap<String, usize>,
}

impl Checker<'_> {
    fn err(&mut self, at: usize, msg: String, fix: Option<&str>) {
        let e = self.src.error_at(at, msg, fix.map(str::to_string));
        self.errors.push(e);
    }
    fn unique(&mut self, what: &str, value: &str, at: usize) {
        let seen = match what {
            "id" => &mut self.ids,
            "tag" => &mut self.tags,
            "position" => &mut self.positions,
            _ => &mut self.devices,
        };
        if let Some(&first) = seen.get(value) {
            let (line, _) = self.src.line_col(first);
            self.err(
                at,
                format!("{what} {value:?} is used twice (first on line {line})"),
                Some("give every entry its own"),
            );
        } else {
            seen.insert(value.to_string(), at);
        }
        if let Err(e) = valid_device_id(value) {
            self.err(at, format!("{what} {value:?}: {e}"), None);
        }
    }
    /// A due date: `YYYY-MM-DD` (midnight UTC) or a full RFC 3339 time.
    fn date(&mut self, d: &Spanned<String>) -> Option<crate::Timestamp> {
        let text = d.get_ref();
        let t = crate::Timestamp::parse_rfc3339(text)
            .or_else(|| crate::Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z")));
        if t.is_none() {
            self.err(
                d.span().start,
                format!("service_due {text:?} is not a date"),
                Some("write it as YYYY-MM-DD, e.g. \"2027-03-31\""),
            );
        }
        t
    }

    fn kind(&mut self, kind: &Spanned<String>) {
        let k = kind.get_ref();
        let ok = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            self.err(
                kind.span().start,
                format!("kind {k:?} is not a lower_snake_case word"),
                Some("use a kind such as \"infusion_pump\" or \"wheelchair\""),
            );
        }
    }
}

/// Expands `{n}` in a fleet template with the zero-padded number.
fn expand(template: &str, n: u32, width: usize) -> String {
    template.replace("{n}", &format!("{n:0width$}"))
}

impl Seed {
    /// Parses and checks a seed file; `file` is the name used in error messages.
    pub fn parse(file: &str, text: &str) -> Result<Seed, SeedError> {
        let src = Source::new(file, text);
        let raw: SeedFile = src.parse_toml()?;
        let mut c = Checker {
            src,
            errors: Vec::new(),
            ids: BTreeMap::new(),
            tags: BTreeMap::new(),
            devices: BTreeMap::new(),
            positions: BTreeMap::new(),
        };
        let mut seed = Seed::default();
        let mut kinds: BTreeMap<String, String> = BTreeMap::new();

        for a in &raw.asset {
            c.kind(&a.kind);
            c.unique("id", a.id.get_ref(), a.id.span().start);
            if let Some(t) = &a.tag {
                c.unique("tag", t.get_ref(), t.span().start);
            }
            if let Some(d) = &a.device {
                c.unique("device", d.get_ref(), d.span().start);
            }
            if let Some(u) = &a.unit {
                seed.unit_refs.push((u.get_ref().clone(), u.span().start));
            }
            if let Some(p) = &a.position {
                if a.kind.get_ref() == "bed" {
                    c.unique("position", p.get_ref(), p.span().start);
                    seed.position_refs
                        .push((p.get_ref().clone(), p.span().start));
                } else {
                    c.err(
                        p.span().start,
                        format!(
                            "only a bed has a position, and {:?} is a {}",
                            a.id.get_ref(),
                            a.kind.get_ref()
                        ),
                        Some("remove `position`"),
                    );
                }
            }
            kinds.insert(a.id.get_ref().clone(), a.kind.get_ref().clone());
            seed.assets.push(Asset {
                id: a.id.get_ref().clone(),
                kind: a.kind.get_ref().clone(),
                tag: a.tag.as_ref().map(|t| t.get_ref().clone()),
                device: a.device.as_ref().map(|d| d.get_ref().clone()),
                model: a.model.clone(),
                serial: a.serial.clone(),
                unit: a.unit.as_ref().map(|u| u.get_ref().clone()),
                status: a.status,
                service_due: a.service_due.as_ref().and_then(|d| c.date(d)),
                bed: a.bed.as_ref().map(|b| b.get_ref().clone()),
                position: a.position.as_ref().map(|p| p.get_ref().clone()),
            });
        }
        for f in &raw.fleet {
            c.kind(&f.kind);
            let count = *f.count.get_ref();
            if count == 0 || count > 100_000 {
                c.err(
                    f.count.span().start,
                    format!("count {count} is out of range"),
                    Some("use 1 to 100000"),
                );
                continue;
            }
            if !f.id.get_ref().contains("{n}") {
                c.err(
                    f.id.span().start,
                    "the id template has no {n}".into(),
                    Some("write it like \"PUMP-{n}\""),
                );
                continue;
            }
            for u in &f.units {
                seed.unit_refs.push((u.get_ref().clone(), u.span().start));
            }
            for i in 0..count {
                let n = f.start + i;
                let id = expand(f.id.get_ref(), n, f.width);
                c.unique("id", &id, f.id.span().start);
                let tag = f.tag.as_ref().map(|t| {
                    let v = expand(t.get_ref(), n, f.width);
                    c.unique("tag", &v, t.span().start);
                    v
                });
                let device = f.device.as_ref().map(|d| {
                    let v = expand(d.get_ref(), n, f.width);
                    c.unique("device", &v, d.span().start);
                    v
                });
                kinds.insert(id.clone(), f.kind.get_ref().clone());
                seed.assets.push(Asset {
                    id,
                    kind: f.kind.get_ref().clone(),
                    tag,
                    device,
                    model: f.model.clone(),
                    serial: f.serial.as_ref().map(|s| expand(s, n, f.width)),
                    unit: (!f.units.is_empty())
                        .then(|| f.units[i as usize % f.units.len()].get_ref().clone()),
                    status: f.status,
                    service_due: None,
                    bed: None,
                    position: None,
                });
            }
        }

        // A bedside monitor's bed is a bed of this file; only monitors are at a bed.
        for a in &raw.asset {
            let Some(b) = &a.bed else { continue };
            if a.kind.get_ref() != "patient_monitor" {
                c.err(
                    b.span().start,
                    format!(
                        "only a patient monitor has a bed, and {:?} is a {}",
                        a.id.get_ref(),
                        a.kind.get_ref()
                    ),
                    Some("remove `bed`, or make the asset's kind \"patient_monitor\""),
                );
                continue;
            }
            match kinds.get(b.get_ref()) {
                Some(k) if k == "bed" => {}
                Some(k) => c.err(
                    b.span().start,
                    format!("{:?} is of kind {k}, not a bed", b.get_ref()),
                    None,
                ),
                None => c.err(
                    b.span().start,
                    format!("bed {:?} is not an asset in this file", b.get_ref()),
                    Some("add it as an asset of kind \"bed\" (before or after the monitor)"),
                ),
            }
        }

        for s in &raw.staff {
            c.unique("id", s.id.get_ref(), s.id.span().start);
            c.unique("tag", s.badge.get_ref(), s.badge.span().start);
            if !STAFF_ROLES.contains(&s.role.get_ref().as_str()) {
                c.err(
                    s.role.span().start,
                    format!("unknown staff role {:?}", s.role.get_ref()),
                    Some(&format!("use one of {}", STAFF_ROLES.join(", "))),
                );
            }
            for u in &s.units {
                seed.unit_refs.push((u.get_ref().clone(), u.span().start));
            }
            seed.staff.push(Staff {
                id: s.id.get_ref().clone(),
                name: s.name.clone(),
                role: s.role.get_ref().clone(),
                units: s.units.iter().map(|u| u.get_ref().clone()).collect(),
                badge: s.badge.get_ref().clone(),
            });
        }

        for m in &raw.wearable_model {
            let id = m.id.get_ref();
            if seed.wearable_models.iter().any(|x| &x.id == id) {
                c.err(
                    m.id.span().start,
                    format!("wearable model {id:?} is listed twice"),
                    Some("list each model once"),
                );
                continue;
            }
            match Worn::parse_or_why(m.worn.get_ref(), "position worn") {
                Ok(worn) => seed.wearable_models.push(WearableModel {
                    id: id.clone(),
                    worn,
                }),
                Err(why) => c.err(
                    m.worn.span().start,
                    why,
                    Some("worn is where the fall detector reads the wearable as worn"),
                ),
            }
        }

        let mut beds_taken: BTreeSet<String> = BTreeSet::new();
        for p in &raw.patient {
            if let Some(m) = &p.wearable_model {
                let name = m.get_ref();
                if !raw.wearable_model.iter().any(|x| x.id.get_ref() == name) {
                    let fix = match crate::source::suggest(
                        name,
                        raw.wearable_model.iter().map(|x| x.id.get_ref().as_str()),
                    ) {
                        Some(s) => format!("did you mean {s:?}?"),
                        None => "add it as a [[wearable_model]] with id and worn".to_string(),
                    };
                    c.err(
                        m.span().start,
                        format!("wearable model {name:?} is not a [[wearable_model]] in this file"),
                        Some(&fix),
                    );
                }
                if p.wearable.is_none() {
                    c.err(
                        m.span().start,
                        "a wearable_model without a wearable".to_string(),
                        Some("add the wearable's device id as wearable = \"...\""),
                    );
                }
            }
            c.unique("id", p.id.get_ref(), p.id.span().start);
            if let Some(t) = &p.tag {
                c.unique("tag", t.get_ref(), t.span().start);
            }
            if let Some(w) = &p.wearable {
                c.unique("device", w.get_ref(), w.span().start);
            }
            let bed = p.bed.get_ref();
            match kinds.get(bed) {
                None => c.err(
                    p.bed.span().start,
                    format!("bed {bed:?} is not an asset in this file"),
                    Some("add it as an asset of kind \"bed\""),
                ),
                Some(k) if k != "bed" => c.err(
                    p.bed.span().start,
                    format!("{bed:?} is a {k}, not a bed"),
                    None,
                ),
                Some(_) => {
                    if !beds_taken.insert(bed.clone()) {
                        c.err(
                            p.bed.span().start,
                            format!("bed {bed:?} already has a patient"),
                            Some("one patient per bed"),
                        );
                    }
                }
            }
            let morse = *p.morse.get_ref();
            if morse > 125 {
                c.err(
                    p.morse.span().start,
                    format!("morse {morse} is out of range"),
                    Some("the Morse Fall Scale runs 0 to 125"),
                );
            }
            let braden = *p.braden.get_ref();
            if !(6..=23).contains(&braden) {
                c.err(
                    p.braden.span().start,
                    format!("braden {braden} is out of range"),
                    Some("the Braden Scale runs 6 to 23"),
                );
            }
            seed.patients.push(Patient {
                id: p.id.get_ref().clone(),
                name: p.name.clone(),
                bed: bed.clone(),
                morse,
                braden,
                ventilated: p.ventilated,
                tag: p.tag.as_ref().map(|t| t.get_ref().clone()),
                wearable: p.wearable.as_ref().map(|w| w.get_ref().clone()),
                wearable_model: p.wearable_model.as_ref().map(|w| w.get_ref().clone()),
                elopement_risk: p.elopement_risk,
                record: Default::default(),
            });
        }

        for x in &raw.sensor {
            // A sensor's id is its device id: unique among ids and devices alike.
            c.unique("id", x.id.get_ref(), x.id.span().start);
            c.unique("device", x.id.get_ref(), x.id.span().start);
            seed.room_refs
                .push((x.room.get_ref().clone(), x.room.span().start));
            seed.profile_refs
                .push((x.profile.get_ref().clone(), x.profile.span().start));
            seed.sensors.push(Sensor {
                id: x.id.get_ref().clone(),
                room: x.room.get_ref().clone(),
                appliance: x.appliance.clone().filter(|a| !a.trim().is_empty()),
                profile: x.profile.get_ref().clone(),
            });
        }

        if c.errors.is_empty() {
            Ok(seed)
        } else {
            Err(FileErrors(c.errors))
        }
    }

    /// Checks every bed position the seed names against the floorplan's beds (`known`).
    pub fn check_positions(
        &self,
        file: &str,
        text: &str,
        known: impl Fn(&str) -> bool,
    ) -> Result<(), SeedError> {
        check_refs(&self.position_refs, file, text, known, |p| {
            (
                format!("position {p:?} is not a bed of the floorplan"),
                "use a bed id from a room's `beds = [...]` in the floorplan",
            )
        })
    }

    /// Checks every room the seed names (sensors) against the floorplan's rooms (`known`).
    pub fn check_rooms(
        &self,
        file: &str,
        text: &str,
        known: impl Fn(&str) -> bool,
    ) -> Result<(), SeedError> {
        check_refs(&self.room_refs, file, text, known, |r| {
            (
                format!("room {r:?} is not in the floorplan"),
                "use a room id from the floorplan's [[room]] tables",
            )
        })
    }

    /// Checks every environment profile the seed names against `rules/environment.toml`'s
    /// (`profiles`), suggesting the closest.
    pub fn check_profiles(
        &self,
        file: &str,
        text: &str,
        profiles: &[&str],
    ) -> Result<(), SeedError> {
        let src = Source::new(file, text);
        let errors: Vec<_> = self
            .profile_refs
            .iter()
            .filter(|(p, _)| !profiles.contains(&p.as_str()))
            .map(|(p, at)| {
                let fix = match crate::source::suggest(p, profiles.iter().copied()) {
                    Some(s) => format!("did you mean {s:?}?"),
                    None if profiles.is_empty() => {
                        "add a [[profile]] to rules/environment.toml".to_string()
                    }
                    None => format!("use one of {}", profiles.join(", ")),
                };
                src.error_at(
                    *at,
                    format!("environment profile {p:?} is not in rules/environment.toml"),
                    Some(fix),
                )
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(FileErrors(errors))
        }
    }

    /// Checks every unit the seed names against `known`, with the file's positions.
    pub fn check_units(
        &self,
        file: &str,
        text: &str,
        known: impl Fn(&str) -> bool,
    ) -> Result<(), SeedError> {
        check_refs(&self.unit_refs, file, text, known, |u| {
            (
                format!("unit {u:?} is not in the floorplan"),
                "use a unit id from the floorplan's [[unit]] tables",
            )
        })
    }
}

/// Every reference (value, byte offset) that `known` refuses, as an error at its place with
/// what `says` about it and the fix.
fn check_refs(
    refs: &[(String, usize)],
    file: &str,
    text: &str,
    known: impl Fn(&str) -> bool,
    says: impl Fn(&str) -> (String, &'static str),
) -> Result<(), SeedError> {
    let src = Source::new(file, text);
    let errors: Vec<_> = refs
        .iter()
        .filter(|(v, _)| !known(v))
        .map(|(v, at)| {
            let (message, fix) = says(v);
            src.error_at(*at, message, Some(fix.into()))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(FileErrors(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[asset]]
id = "BED-1"
kind = "bed"
tag = "TB-1"
device = "bed-1"
unit = "ICU"

[[fleet]]
kind = "infusion_pump"
count = 3
id = "PUMP-{n}"
tag = "TP-{n}"
device = "pump-{n}"
width = 3
units = ["ICU", "MS3"]

[[staff]]
id = "S-1"
name = "Ana"
role = "nurse"
units = ["ICU"]
badge = "B-1"

[[patient]]
id = "P-1"
name = "Bo"
bed = "BED-1"
morse = 50
braden = 12
ventilated = true
wearable = "W-1"
"#;

    #[test]
    fn parses_assets_fleets_staff_and_patients() {
        let s = Seed::parse("seed.toml", GOOD).unwrap();
        assert_eq!(s.assets.len(), 4);
        assert_eq!(s.assets[3].id, "PUMP-003");
        assert_eq!(s.assets[3].tag.as_deref(), Some("TP-003"));
        assert_eq!(s.assets[2].unit.as_deref(), Some("MS3"));
        assert_eq!(s.patients[0].bed, "BED-1");
        assert!(s.staff[0].is_caregiver());
        assert!(
            s.check_units("seed.toml", GOOD, |u| u == "ICU" || u == "MS3")
                .is_ok()
        );
        let e = s
            .check_units("seed.toml", GOOD, |u| u == "ICU")
            .unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(e.0[0].line, 16);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let bad = GOOD
            .replace("badge = \"B-1\"", "badge = \"TB-1\"")
            .replace("morse = 50", "morse = 150")
            .replace("role = \"nurse\"", "role = \"wizard\"");
        let e = Seed::parse("seed.toml", &bad).unwrap_err();
        let text = e.to_string();
        assert_eq!(e.0.len(), 3, "{text}");
        assert!(
            text.contains("seed.toml:23:9: tag \"TB-1\" is used twice (first on line 5)"),
            "{text}"
        );
        assert!(text.contains("unknown staff role \"wizard\""), "{text}");
        assert!(text.contains("morse 150 is out of range"), "{text}");
    }

    /// A bedside monitor names the bed it is at; a `bed` on anything else, or naming what is
    /// not a bed, is an error at its line.
    #[test]
    fn a_bedside_monitor_is_at_a_bed() {
        let monitor = |bed: &str, kind: &str| {
            format!(
                "{GOOD}\n[[asset]]\nid = \"MON-1\"\nkind = \"{kind}\"\ndevice = \"mon-1\"\nbed = \"{bed}\"\n"
            )
        };
        let s = Seed::parse("seed.toml", &monitor("BED-1", "patient_monitor")).unwrap();
        let m = s.assets.iter().find(|a| a.id == "MON-1").unwrap();
        assert_eq!(m.bed.as_deref(), Some("BED-1"));
        assert_eq!(m.device_class(), Some(crate::DeviceClass::Monitor));
        assert!(
            s.devices()
                .contains(&("mon-1", crate::DeviceClass::Monitor))
        );
        let e = Seed::parse("seed.toml", &monitor("PUMP-001", "patient_monitor"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(":38:7: \"PUMP-001\" is of kind infusion_pump, not a bed"),
            "{e}"
        );
        let e = Seed::parse("seed.toml", &monitor("BED-9", "patient_monitor"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bed \"BED-9\" is not an asset in this file"),
            "{e}"
        );
        let e = Seed::parse("seed.toml", &monitor("BED-1", "ventilator"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("only a patient monitor has a bed"), "{e}");
    }

    #[test]
    fn a_service_due_date_is_a_date() {
        let ok = GOOD.replace(
            "unit = \"ICU\"\n",
            "unit = \"ICU\"\nservice_due = \"2027-03-31\"\n",
        );
        let s = Seed::parse("seed.toml", &ok).unwrap();
        assert_eq!(
            s.assets[0].service_due,
            crate::Timestamp::parse_rfc3339("2027-03-31T00:00:00Z")
        );
        let bad = GOOD.replace(
            "unit = \"ICU\"\n",
            "unit = \"ICU\"\nservice_due = \"31/03/2027\"\n",
        );
        let e = Seed::parse("seed.toml", &bad).unwrap_err().to_string();
        assert!(
            e.contains("seed.toml:8:15: service_due \"31/03/2027\" is not a date (fix: write it as YYYY-MM-DD"),
            "{e}"
        );
    }

    #[test]
    fn a_patient_needs_a_real_free_bed() {
        let bad = GOOD.replace("bed = \"BED-1\"", "bed = \"PUMP-001\"");
        let e = Seed::parse("seed.toml", &bad).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"PUMP-001\" is a infusion_pump, not a bed"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_are_located() {
        let e = Seed::parse(
            "s.toml",
            "[[asset]]\nid = \"A\"\nkind = \"bed\"\ncolour = \"red\"\n",
        )
        .unwrap_err();
        assert_eq!(e.0[0].line, 4, "{e}");
    }
}

#[cfg(test)]
mod sensor_tests {
    use super::*;

    const SENSORS: &str = r#"
[[sensor]]
id = "env-1"
room = "R-CLEAN"
appliance = "Medication fridge"
profile = "medication_fridge"

[[sensor]]
id = "env-2"
room = "R-99"
profile = "medication_frige"
"#;

    #[test]
    fn sensors_are_devices_whose_rooms_and_profiles_are_checked_with_their_lines() {
        let s = Seed::parse("seed.toml", SENSORS).unwrap();
        assert_eq!(s.sensors.len(), 2);
        assert_eq!(s.sensors[0].appliance.as_deref(), Some("Medication fridge"));
        assert!(
            s.devices()
                .contains(&("env-1", crate::DeviceClass::Environment))
        );
        let e = s
            .check_rooms("seed.toml", SENSORS, |r| r == "R-CLEAN")
            .unwrap_err()
            .to_string();
        assert!(e.contains("seed.toml:10:") && e.contains("\"R-99\""), "{e}");
        let e = s
            .check_profiles("seed.toml", SENSORS, &["medication_fridge", "freezer"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("seed.toml:11:") && e.contains("did you mean \"medication_fridge\""),
            "{e}"
        );
        let twice = format!(
            "{SENSORS}\n[[sensor]]\nid = \"env-1\"\nroom = \"R-CLEAN\"\nprofile = \"freezer\"\n"
        );
        let e = Seed::parse("seed.toml", &twice).unwrap_err().to_string();
        assert!(e.contains("used twice"), "{e}");
    }

    const WEARABLES: &str = r#"
[[wearable_model]]
id = "Clip W2"
worn = "waist"

[[wearable_model]]
id = "Band X"
worn = "wrist"

[[asset]]
id = "BED-1"
kind = "bed"

[[asset]]
id = "BED-2"
kind = "bed"

[[patient]]
id = "P-1"
name = "A"
bed = "BED-1"
morse = 50
braden = 18
wearable = "W-1"
wearable_model = "Band X"

[[patient]]
id = "P-2"
name = "B"
bed = "BED-2"
morse = 50
braden = 18
wearable = "W-2"
"#;

    #[test]
    fn a_patients_wearable_is_worn_where_its_model_says() {
        let s = Seed::parse("seed.toml", WEARABLES).unwrap();
        let worn = |m: Option<&str>| {
            s.wearable_models
                .iter()
                .find(|x| Some(x.id.as_str()) == m)
                .map(|x| x.worn)
        };
        assert_eq!(
            worn(s.patients[0].wearable_model.as_deref()),
            Some(Worn::Wrist)
        );
        assert_eq!(
            worn(s.patients[1].wearable_model.as_deref()),
            None,
            "no model: the detectors' default"
        );
        let typo = WEARABLES.replace("wearable_model = \"Band X\"", "wearable_model = \"Band Y\"");
        let e = Seed::parse("seed.toml", &typo).unwrap_err().to_string();
        assert!(
            e.contains("seed.toml:25:") && e.contains("did you mean \"Band X\""),
            "{e}"
        );
        let ankle = WEARABLES.replace("worn = \"wrist\"", "worn = \"ankle\"");
        let e = Seed::parse("seed.toml", &ankle).unwrap_err().to_string();
        assert!(
            e.contains("seed.toml:8:") && e.contains("(one of waist, chest, wrist, pocket)"),
            "{e}"
        );
        let bare = WEARABLES.replace("wearable = \"W-1\"\n", "");
        let e = Seed::parse("seed.toml", &bare).unwrap_err().to_string();
        assert!(e.contains("without a wearable"), "{e}");
    }
}
