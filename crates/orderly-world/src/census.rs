//! The census capability: patients admitted, transferred, discharged, updated and assessed
//! while Orderly runs (from HL7 v2 ADT and ORU through the interface engine, or the REST API).
//!
//! Each operation is one command applied between steps: it changes the patient entity (spawned,
//! moved, re-scored, taken out) and records one `patient.*` event; the other capabilities see
//! the change through [`PatientInfo`] (they observe its insertion, and the registry's facts are
//! rebuilt for the patient and the beds involved). A discharge resolves the patient's alerts
//! and those of their bed that read patient facts; a transfer sends the patient's open alerts
//! to the new unit. An HL7 message is applied once: a repeat of its control id is answered
//! with the event that recorded it. A message older than what Orderly holds for the patient
//! does not overwrite it.

use crate::facts::{AlertRequest, StaleFacts};
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, PatientInfo, despawn_patient, spawn_patient};
use crate::{Capability, Clock, Registry, Site};
use bevy_ecs::prelude::*;
use orderly_model::census::{
    BRADEN_UNASSESSED, CensusChange, MORSE_UNASSESSED, ObservationFact, Record,
};
use orderly_model::{EventKind, Patient, Timestamp};
use std::collections::{BTreeMap, HashMap};

/// How long a discharged patient is kept for a cancelled discharge (A13) to bring back.
const KEEP_GONE_MS: i64 = 30 * 24 * 3600 * 1000;

/// What the census remembers beside the patient entities.
#[derive(Resource, Default)]
pub struct Census {
    /// Patients discharged or whose admission was cancelled, as they were, with when.
    gone: BTreeMap<String, (Patient, Timestamp)>,
    /// The bed each patient left in their latest transfer (a cancelled transfer goes back).
    came_from: BTreeMap<String, String>,
    /// HL7 messages applied: `{sender}|{control id}` -> the event that recorded it.
    seen: HashMap<String, u64>,
}

/// Who or what asked, and when it happened by their account.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// A person's name (REST API), or `hl7 {sender}`.
    pub by: String,
    /// `{sender}|{control id}` of an HL7 message.
    pub message: Option<String>,
    /// EVN-2 or MSH-7 of an ADT message.
    pub happened_at: Option<Timestamp>,
}

/// One value of an assessment, as observed.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Score(u8),
    /// A vital sign's number in the fact's unit.
    Number(f64),
    /// ACVPU.
    Level(orderly_model::news2::Consciousness),
    Flag(bool),
    Kg(f32),
    Text(Option<String>),
}

/// A census operation.
#[derive(Clone, Debug)]
pub enum CensusOp {
    /// Admit or register a patient (HL7 A01, A04) into a bed, or `None`: somewhere outside
    /// Orderly's beds. A patient already in the census is moved and updated instead.
    Admit {
        patient: Box<Patient>,
        bed: Option<String>,
    },
    /// To another bed, or `None`: outside Orderly's beds (A02).
    Transfer {
        patient: String,
        bed: Option<String>,
    },
    /// A03.
    Discharge { patient: String },
    /// Demographics and visit (A08, A06, A07): the record's fields that are set, and the name.
    Update {
        patient: String,
        name: Option<String>,
        record: Box<Record>,
    },
    /// New observations (ORU^R01 or the REST API): each with when it was observed.
    Assess {
        patient: String,
        values: Vec<(ObservationFact, Value, Option<Timestamp>)>,
    },
    /// A11: the admission was entered in error.
    CancelAdmit { patient: String },
    /// A12: back to the bed the patient came from.
    CancelTransfer { patient: String },
    /// A13: back in the bed they were discharged from (or `bed`, if given).
    CancelDischarge {
        patient: String,
        bed: Option<String>,
    },
    /// A17: two patients swap beds.
    Swap { a: String, b: String },
    /// A40: `merged` is the same person as `survivor`: one record, with both histories.
    Merge { survivor: String, merged: String },
}

impl CensusOp {
    pub fn name(&self) -> &'static str {
        match self {
            CensusOp::Admit { .. } => "admit",
            CensusOp::Transfer { .. } => "transfer",
            CensusOp::Discharge { .. } => "discharge",
            CensusOp::Update { .. } => "update",
            CensusOp::Assess { .. } => "assess",
            CensusOp::CancelAdmit { .. } => "cancel admit",
            CensusOp::CancelTransfer { .. } => "cancel transfer",
            CensusOp::CancelDischarge { .. } => "cancel discharge",
            CensusOp::Swap { .. } => "swap",
            CensusOp::Merge { .. } => "merge",
        }
    }
}

/// Why a census operation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CensusError {
    #[error("no patient {0:?} in the census")]
    UnknownPatient(String),
    #[error("{0:?} is not a bed Orderly knows")]
    UnknownBed(String),
    #[error("bed {bed} is taken by patient {by}")]
    BedTaken { bed: String, by: String },
    #[error("patient {0:?} has no bed to go back to")]
    NoBedToReturnTo(String),
    #[error("patient {0:?} was not discharged recently (nothing to cancel)")]
    NotDischarged(String),
    #[error("patient {0:?} is already in the census")]
    AlreadyAdmitted(String),
    #[error("{fact} {value} is out of range ({range})")]
    OutOfRange {
        fact: &'static str,
        value: String,
        range: &'static str,
    },
    #[error("a patient id must be 1-64 characters of A-Z a-z 0-9 _ . - ({0})")]
    BadId(String),
    #[error("a patient cannot be merged into themself")]
    SelfMerge,
    #[error("wearable model {0:?} is not one the seed lists ([[wearable_model]]); known: {1}")]
    UnknownWearableModel(String, String),
}

/// What a census operation did.
#[derive(Clone, Debug)]
pub struct CensusDone {
    /// The event that records it (for a repeat, the first one's); None when nothing changed
    /// (a message older than what Orderly holds).
    pub seq: Option<u64>,
    /// The patient as they now stand (None when out of the census).
    pub patient: Option<Patient>,
    /// In plain words.
    pub detail: String,
    /// A repeat of a message already applied.
    pub repeat: bool,
}

pub struct CensusPlugin;

impl Capability for CensusPlugin {
    fn name(&self) -> &'static str {
        "census"
    }
    fn build(&self, world: &mut World, _schedule: &mut Schedule, _: &crate::WorldConfig) {
        world.init_resource::<Census>();
    }
    /// The census as last recorded: patients in it (as they stood), those gone recently, the
    /// messages already applied.
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        for p in &restored.census {
            put(world, p.clone());
        }
        for (p, at) in &restored.census_gone {
            if let Some(e) = world.resource::<Registry>().subjects.get(&p.id).copied()
                && world.get::<PatientInfo>(e).is_some()
            {
                despawn_patient(world, e);
            }
            world
                .resource_mut::<Census>()
                .gone
                .insert(p.id.clone(), (p.clone(), *at));
        }
        let mut c = world.resource_mut::<Census>();
        for (m, seq) in &restored.census_seen {
            c.seen.insert(m.clone(), *seq);
        }
    }
}

fn patient_entity(world: &World, id: &str) -> Result<Entity, CensusError> {
    world
        .resource::<Registry>()
        .subjects
        .get(id)
        .copied()
        .filter(|e| world.get::<PatientInfo>(*e).is_some())
        .ok_or_else(|| CensusError::UnknownPatient(id.to_string()))
}

fn patient_of(world: &World, id: &str) -> Result<(Entity, Patient), CensusError> {
    let e = patient_entity(world, id)?;
    let p = world
        .get::<PatientInfo>(e)
        .map(|p| p.0.clone())
        .ok_or_else(|| CensusError::UnknownPatient(id.to_string()))?;
    Ok((e, p))
}

/// A bed Orderly knows, free or held by `except`.
fn check_bed(world: &World, bed: &str, except: &[&str]) -> Result<(), CensusError> {
    let reg = world.resource::<Registry>();
    let is_bed = reg
        .subjects
        .get(bed)
        .and_then(|e| world.get::<AssetInfo>(*e))
        .is_some_and(|a| a.0.kind == "bed");
    if !is_bed {
        return Err(CensusError::UnknownBed(bed.to_string()));
    }
    if let Some(e) = reg.bed_patient.get(bed)
        && let Some(p) = world.get::<PatientInfo>(*e)
        && !except.contains(&p.0.id.as_str())
    {
        return Err(CensusError::BedTaken {
            bed: bed.to_string(),
            by: p.0.id.clone(),
        });
    }
    Ok(())
}

/// The unit of a bed: its room's (where it is), else its home unit.
fn unit_of_bed(world: &World, bed: &str) -> (Option<String>, Option<String>) {
    let Some(e) = world.resource::<Registry>().subjects.get(bed).copied() else {
        return (None, None);
    };
    let site = world.resource::<Site>();
    let room = world
        .get::<crate::locate::Location>(e)
        .map(|l| &site.0.rooms[l.room as usize]);
    let home = world.get::<AssetInfo>(e).and_then(|a| a.0.unit.clone());
    (
        room.and_then(|r| r.unit.clone()).or(home),
        room.map(|r| r.id.clone()),
    )
}

/// Puts a patient as given into the world: spawned, or their entity updated (and moved in the
/// registry's bed index). Facts of the patient and of the beds involved are rebuilt.
fn put(world: &mut World, p: Patient) -> Entity {
    let existing = world
        .resource::<Registry>()
        .subjects
        .get(&p.id)
        .copied()
        .filter(|e| world.get::<PatientInfo>(*e).is_some());
    let e = match existing {
        None => spawn_patient(world, &p),
        Some(e) => {
            let old = world.get::<PatientInfo>(e).map(|x| x.0.clone());
            let mut reg = world.resource_mut::<Registry>();
            if let Some(old) = &old {
                if reg.bed_patient.get(&old.bed) == Some(&e) {
                    reg.bed_patient.remove(&old.bed);
                }
                if old.wearable != p.wearable {
                    if let Some(w) = &old.wearable {
                        reg.devices.remove(w);
                    }
                    if let Some(w) = &p.wearable {
                        reg.devices
                            .insert(w.clone(), (orderly_model::DeviceClass::Wearable, e));
                    }
                }
                if old.tag != p.tag {
                    if let Some(t) = &old.tag {
                        reg.tags.remove(t.as_str());
                    }
                    if let Some(t) = &p.tag {
                        reg.tags.insert(t.into(), e);
                    }
                }
            }
            if !p.bed.is_empty() {
                reg.bed_patient.insert(p.bed.clone(), e);
            }
            if let Some(old) = old
                && !old.bed.is_empty()
                && let Some(b) = world.resource::<Registry>().subjects.get(&old.bed).copied()
            {
                world.resource_mut::<StaleFacts>().mark(b);
            }
            world.entity_mut(e).insert(PatientInfo(p.clone()));
            e
        }
    };
    if let Some(b) = world.resource::<Registry>().subjects.get(&p.bed).copied() {
        world.resource_mut::<StaleFacts>().mark(b);
    }
    world.resource_mut::<StaleFacts>().mark(e);
    e
}

/// Takes a patient out: their alerts and their bed's alerts about them are resolved.
fn take_out(world: &mut World, e: Entity, p: &Patient, why: &str) {
    let bed = p.bed.clone();
    despawn_patient(world, e);
    if let Some(b) = world.resource::<Registry>().subjects.get(&bed).copied() {
        world.resource_mut::<StaleFacts>().mark(b);
    }
    world.write_message(AlertRequest::Forget {
        subject: p.id.clone(),
        reason: why.to_string(),
    });
    if !bed.is_empty() {
        world.write_message(AlertRequest::ResolveGroup {
            subjects: vec![bed],
            group: "patient",
            reason: why.to_string(),
        });
    }
}

/// The patient left `bed` for another place: the old bed's alerts about them end, their own
/// follow them to the new unit.
fn moved(world: &mut World, p: &Patient, from: &str) {
    if !from.is_empty() && from != p.bed {
        let to = if p.bed.is_empty() {
            "a place outside Orderly's beds".to_string()
        } else {
            p.bed.clone()
        };
        world.write_message(AlertRequest::ResolveGroup {
            subjects: vec![from.to_string()],
            group: "patient",
            reason: format!("patient moved to {to}"),
        });
    }
    let (unit, room) = unit_of_bed(world, &p.bed);
    world.write_message(AlertRequest::Rehome {
        subject: p.id.clone(),
        unit,
        room,
    });
}

fn record(
    world: &mut World,
    origin: &Origin,
    make: fn(Box<CensusChange>) -> EventKind,
    p: &Patient,
    from_bed: Option<String>,
    merged: Vec<Patient>,
    detail: String,
) -> u64 {
    let now = world.resource::<Clock>().now;
    let unit_bed = if p.bed.is_empty() {
        from_bed.as_deref().unwrap_or("")
    } else {
        p.bed.as_str()
    };
    let unit = unit_of_bed(world, unit_bed).0;
    let change = CensusChange {
        patient: p.clone(),
        from_bed,
        unit,
        by: origin.by.clone(),
        message: origin.message.clone(),
        happened_at: origin.happened_at,
        merged,
        detail,
    };
    tracing::info!(patient = %p.id, bed = %p.bed, detail = %change.detail, by = %origin.by, "census");
    let mut outbox = world.resource_mut::<Outbox>();
    outbox.push(now, make(Box::new(change)));
    let seq = outbox.last_seq();
    if let Some(m) = &origin.message {
        world.resource_mut::<Census>().seen.insert(m.clone(), seq);
    }
    seq
}

fn done(seq: Option<u64>, patient: Option<Patient>, detail: String) -> CensusDone {
    CensusDone {
        seq,
        patient,
        detail,
        repeat: false,
    }
}

/// Whether what `origin` says happened before what the record already holds.
fn stale(origin: &Origin, record: &Record) -> bool {
    matches!((origin.happened_at, record.as_of), (Some(t), Some(held)) if t < held)
}

fn bed_words(bed: &str) -> String {
    if bed.is_empty() {
        "a place outside Orderly's beds".into()
    } else {
        bed.to_string()
    }
}

/// Applies a census operation.
pub(crate) fn apply(
    world: &mut World,
    op: CensusOp,
    origin: Origin,
) -> Result<CensusDone, CensusError> {
    if let Some(m) = &origin.message
        && let Some(seq) = world.resource::<Census>().seen.get(m).copied()
    {
        return Ok(CensusDone {
            seq: Some(seq),
            patient: None,
            detail: format!("message {m} was applied before (event {seq}); not applied again"),
            repeat: true,
        });
    }
    let now = world.resource::<Clock>().now;
    let as_of = origin.happened_at.unwrap_or(now);
    match op {
        CensusOp::Admit { patient, bed } => {
            let mut p = *patient;
            orderly_model::valid_device_id(&p.id).map_err(|e| CensusError::BadId(e.to_string()))?;
            if let Some(m) = &p.wearable_model {
                let models = &world.resource::<crate::Registry>().wearable_models;
                if !models.contains_key(m) {
                    let mut known: Vec<&str> = models.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    let known = if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    };
                    return Err(CensusError::UnknownWearableModel(m.clone(), known));
                }
            }
            let bed = bed.unwrap_or_default();
            if let Ok((_, held)) = patient_of(world, &p.id) {
                // Already here (a repeat under another control id, or a re-admission): the
                // newer facts win, the scores are kept unless the admission brings its own.
                if stale(&origin, &held.record) {
                    return Ok(done(
                        None,
                        Some(held),
                        "older than what Orderly holds".into(),
                    ));
                }
                if !bed.is_empty() {
                    check_bed(world, &bed, &[&p.id])?;
                }
                p.morse = held.morse;
                p.braden = held.braden;
                p.ventilated = held.ventilated;
                p.tag = p.tag.or(held.tag.clone());
                if p.wearable.is_none() {
                    p.wearable = held.wearable.clone();
                    p.wearable_model = p.wearable_model.or(held.wearable_model.clone());
                }
                p.record.observed = held.record.observed.clone();
                p.record.unassessed = held.record.unassessed.clone();
                p.record.isolation = p.record.isolation.or(held.record.isolation.clone());
                p.record.weight_kg = p.record.weight_kg.or(held.record.weight_kg);
                p.record.admitted_at = held.record.admitted_at;
                p.record.as_of = Some(as_of);
                p.bed = bed;
                put(world, p.clone());
                moved(world, &p, &held.bed);
                let detail = if held.bed == p.bed {
                    format!("admission of patient in {} updated", bed_words(&p.bed))
                } else {
                    format!(
                        "admitted again: {} -> {}",
                        bed_words(&held.bed),
                        bed_words(&p.bed)
                    )
                };
                let seq = record(
                    world,
                    &origin,
                    EventKind::PatientAdmitted,
                    &p,
                    (held.bed != p.bed).then(|| held.bed.clone()),
                    Vec::new(),
                    detail.clone(),
                );
                return Ok(done(Some(seq), Some(p), detail));
            }
            if !bed.is_empty() {
                check_bed(world, &bed, &[])?;
            }
            p.bed = bed;
            p.record.admitted_at.get_or_insert(as_of);
            p.record.as_of = Some(as_of);
            world.resource_mut::<Census>().gone.remove(&p.id);
            put(world, p.clone());
            let detail = format!("admitted to {}", bed_words(&p.bed));
            let seq = record(
                world,
                &origin,
                EventKind::PatientAdmitted,
                &p,
                None,
                Vec::new(),
                detail.clone(),
            );
            Ok(done(Some(seq), Some(p), detail))
        }
        CensusOp::Transfer { patient, bed } => {
            let (_, mut p) = patient_of(world, &patient)?;
            if stale(&origin, &p.record) {
                return Ok(done(None, Some(p), "older than what Orderly holds".into()));
            }
            let bed = bed.unwrap_or_default();
            if !bed.is_empty() {
                check_bed(world, &bed, &[&p.id])?;
            }
            let from = std::mem::replace(&mut p.bed, bed);
            p.record.as_of = Some(as_of);
            if from != p.bed && !from.is_empty() {
                world
                    .resource_mut::<Census>()
                    .came_from
                    .insert(p.id.clone(), from.clone());
            }
            put(world, p.clone());
            moved(world, &p, &from);
            let detail = format!("transferred: {} -> {}", bed_words(&from), bed_words(&p.bed));
            let seq = record(
                world,
                &origin,
                EventKind::PatientTransferred,
                &p,
                Some(from),
                Vec::new(),
                detail.clone(),
            );
            Ok(done(Some(seq), Some(p), detail))
        }
        CensusOp::Discharge { patient } => {
            let (e, mut p) = patient_of(world, &patient)?;
            if stale(&origin, &p.record) {
                return Ok(done(None, Some(p), "older than what Orderly holds".into()));
            }
            p.record.as_of = Some(as_of);
            take_out(world, e, &p, "patient discharged");
            let from = p.bed.clone();
            let detail = format!("discharged from {}", bed_words(&from));
            let seq = record(
                world,
                &origin,
                EventKind::PatientDischarged,
                &p,
                Some(from),
                Vec::new(),
                detail.clone(),
            );
            let mut c = world.resource_mut::<Census>();
            c.came_from.remove(&p.id);
            c.gone.insert(p.id.clone(), (p, now));
            c.gone.retain(|_, (_, at)| now.since(*at) <= KEEP_GONE_MS);
            Ok(done(Some(seq), None, detail))
        }
        CensusOp::CancelAdmit { patient } => {
            let (e, mut p) = patient_of(world, &patient)?;
            p.record.as_of = Some(as_of);
            take_out(world, e, &p, "admission cancelled");
            let detail = format!("admission cancelled; out of {}", bed_words(&p.bed));
            let seq = record(
                world,
                &origin,
                EventKind::AdmitCancelled,
                &p,
                Some(p.bed.clone()),
                Vec::new(),
                detail.clone(),
            );
            let mut c = world.resource_mut::<Census>();
            c.came_from.remove(&p.id);
            c.gone.insert(p.id.clone(), (p, now));
            Ok(done(Some(seq), None, detail))
        }
        CensusOp::CancelTransfer { patient } => {
            let (_, mut p) = patient_of(world, &patient)?;
            let back = world
                .resource::<Census>()
                .came_from
                .get(&p.id)
                .cloned()
                .ok_or_else(|| CensusError::NoBedToReturnTo(p.id.clone()))?;
            check_bed(world, &back, &[&p.id])?;
            let from = std::mem::replace(&mut p.bed, back);
            p.record.as_of = Some(as_of);
            world.resource_mut::<Census>().came_from.remove(&p.id);
            put(world, p.clone());
            moved(world, &p, &from);
            let detail = format!(
                "transfer cancelled: back from {} to {}",
                bed_words(&from),
                bed_words(&p.bed)
            );
            let seq = record(
                world,
                &origin,
                EventKind::TransferCancelled,
                &p,
                Some(from),
                Vec::new(),
                detail.clone(),
            );
            Ok(done(Some(seq), Some(p), detail))
        }
        CensusOp::CancelDischarge { patient, bed } => {
            if patient_entity(world, &patient).is_ok() {
                return Err(CensusError::AlreadyAdmitted(patient));
            }
            let (mut p, _) = world
                .resource::<Census>()
                .gone
                .get(&patient)
                .cloned()
                .ok_or_else(|| CensusError::NotDischarged(patient.clone()))?;
            if let Some(b) = bed {
                p.bed = b;
            }
            if !p.bed.is_empty() {
                check_bed(world, &p.bed, &[])?;
            }
            p.record.as_of = Some(as_of);
            world.resource_mut::<Census>().gone.remove(&patient);
            put(world, p.clone());
            let detail = format!("discharge cancelled: back in {}", bed_words(&p.bed));
            let seq = record(
                world,
                &origin,
                EventKind::DischargeCancelled,
                &p,
                None,
                Vec::new(),
                detail.clone(),
            );
            Ok(done(Some(seq), Some(p), detail))
        }
        CensusOp::Swap { a, b } => {
            let (_, mut pa) = patient_of(world, &a)?;
            let (_, mut pb) = patient_of(world, &b)?;
            std::mem::swap(&mut pa.bed, &mut pb.bed);
            pa.record.as_of = Some(as_of);
            pb.record.as_of = Some(as_of);
            // Both out of the bed index first, so neither finds the other's bed taken.
            {
                let mut reg = world.resource_mut::<Registry>();
                reg.bed_patient.remove(&pa.bed);
                reg.bed_patient.remove(&pb.bed);
            }
            put(world, pa.clone());
            put(world, pb.clone());
            moved(world, &pa, &pb.bed);
            moved(world, &pb, &pa.bed);
            let da = format!(
                "swapped beds with {}: {} -> {}",
                pb.id,
                bed_words(&pb.bed),
                bed_words(&pa.bed)
            );
            let db = format!(
                "swapped beds with {}: {} -> {}",
                pa.id,
                bed_words(&pa.bed),
                bed_words(&pb.bed)
            );
            let from_a = pb.bed.clone();
            let from_b = pa.bed.clone();
            record(
                world,
                &origin,
                EventKind::PatientTransferred,
                &pa,
                Some(from_a),
                Vec::new(),
                da.clone(),
            );
            let seq = record(
                world,
                &origin,
                EventKind::PatientTransferred,
                &pb,
                Some(from_b),
                Vec::new(),
                db,
            );
            Ok(done(Some(seq), Some(pa), da))
        }
        CensusOp::Update {
            patient,
            name,
            record: r,
        } => {
            let (_, mut p) = patient_of(world, &patient)?;
            if stale(&origin, &p.record) {
                return Ok(done(None, Some(p), "older than what Orderly holds".into()));
            }
            let before = p.clone();
            if let Some(n) = name.filter(|n| !n.is_empty()) {
                p.name = n;
            }
            let rec = &mut p.record;
            let r = *r;
            macro_rules! take {
                ($($f:ident),*) => { $( if r.$f.is_some() { rec.$f = r.$f; } )* };
            }
            take!(birth_date, sex, class, visit, attending);
            if !r.identifiers.is_empty() {
                for id in r.identifiers {
                    if !rec.identifiers.contains(&id) {
                        rec.identifiers.push(id);
                    }
                }
            }
            rec.as_of = Some(as_of);
            let detail = changes(&before, &p);
            put(world, p.clone());
            let seq = record(
                world,
                &origin,
                EventKind::PatientUpdated,
                &p,
                None,
                Vec::new(),
                detail.clone(),
            );
            Ok(done(Some(seq), Some(p), detail))
        }
        CensusOp::Assess { patient, values } => {
            let (e, mut p) = patient_of(world, &patient)?;
            let before = p.clone();
            let mut applied = 0;
            // Vital signs go to the vitals capability as a nurse's spot check, at their time.
            let mut vitals: Vec<(Timestamp, orderly_model::reading::Vitals)> = Vec::new();
            let mut words: Vec<String> = Vec::new();
            for (fact, value, at) in values {
                let at = at.unwrap_or(now);
                let key = fact.as_str();
                if fact.is_vital_sign() {
                    let v = match vitals.iter_mut().find(|(t, _)| *t == at) {
                        Some((_, v)) => v,
                        None => {
                            vitals.push((
                                at,
                                orderly_model::reading::Vitals {
                                    mode: orderly_model::reading::VitalsMode::Spot,
                                    ..Default::default()
                                },
                            ));
                            &mut vitals.last_mut().expect("just pushed").1
                        }
                    };
                    let (lo, hi, unit) = match fact {
                        ObservationFact::RespirationRate => (0.0, 80.0, "/min"),
                        ObservationFact::Spo2 => (20.0, 100.0, "%"),
                        ObservationFact::OxygenFlow => (0.0, 80.0, " l/min"),
                        ObservationFact::Systolic => (20.0, 300.0, " mmHg"),
                        ObservationFact::Pulse => (0.0, 300.0, "/min"),
                        _ => (25.0, 45.0, " °C"),
                    };
                    match (fact, value) {
                        (ObservationFact::Consciousness, Value::Level(c)) => {
                            v.consciousness = Some(c);
                            words.push(format!("consciousness {c:?}").to_lowercase());
                        }
                        (f, Value::Number(x)) => {
                            if !(lo..=hi).contains(&x) || !x.is_finite() {
                                return Err(CensusError::OutOfRange {
                                    fact: f.as_str(),
                                    value: format!("{x}{unit}"),
                                    range: "what a patient can have",
                                });
                            }
                            match f {
                                ObservationFact::RespirationRate => v.respiration_rate = Some(x),
                                ObservationFact::Spo2 => v.spo2 = Some(x),
                                ObservationFact::OxygenFlow => {
                                    v.o2_flow_lpm = Some(x);
                                    v.on_oxygen = Some(x > 0.0);
                                }
                                ObservationFact::Systolic => v.systolic = Some(x),
                                ObservationFact::Pulse => v.pulse = Some(x),
                                _ => v.temperature_c = Some(x),
                            }
                            words.push(format!("{} {x}{unit}", f.as_str().replace('_', " ")));
                        }
                        (f, v) => {
                            return Err(CensusError::OutOfRange {
                                fact: f.as_str(),
                                value: format!("{v:?}"),
                                range: "a value of the observation's kind",
                            });
                        }
                    }
                    applied += 1;
                    continue;
                }
                if p.record.observed.get(key).is_some_and(|held| *held > at) {
                    continue; // an older observation than the one Orderly holds
                }
                match (fact, value) {
                    (ObservationFact::Morse, Value::Score(s)) => {
                        if s > 125 {
                            return Err(CensusError::OutOfRange {
                                fact: "Morse",
                                value: s.to_string(),
                                range: "0-125",
                            });
                        }
                        p.morse = s;
                    }
                    (ObservationFact::Braden, Value::Score(s)) => {
                        if !(6..=23).contains(&s) {
                            return Err(CensusError::OutOfRange {
                                fact: "Braden",
                                value: s.to_string(),
                                range: "6-23",
                            });
                        }
                        p.braden = s;
                    }
                    (ObservationFact::Ventilated, Value::Flag(v)) => p.ventilated = v,
                    (ObservationFact::Weight, Value::Kg(kg)) => {
                        if !(0.2..=700.0).contains(&kg) {
                            return Err(CensusError::OutOfRange {
                                fact: "weight",
                                value: format!("{kg} kg"),
                                range: "0.2-700 kg",
                            });
                        }
                        p.record.weight_kg = Some(kg);
                    }
                    (ObservationFact::Isolation, Value::Text(t)) => p.record.isolation = t,
                    (ObservationFact::Hypercapnic, Value::Flag(v)) => p.record.hypercapnic = v,
                    (f, v) => {
                        return Err(CensusError::OutOfRange {
                            fact: f.as_str(),
                            value: format!("{v:?}"),
                            range: "a value of the observation's kind",
                        });
                    }
                }
                p.record.unassessed.retain(|u| u != key);
                p.record.observed.insert(key.to_string(), at);
                applied += 1;
            }
            if applied == 0 {
                return Ok(done(
                    None,
                    Some(p),
                    "every observation is older than what Orderly holds".into(),
                ));
            }
            let mut detail = changes(&before, &p);
            if !words.is_empty() {
                let v = format!("vital signs: {}", words.join(", "));
                detail = if detail == "no change" {
                    v
                } else {
                    format!("{detail}; {v}")
                };
            }
            for (ts, vitals) in vitals {
                world.write_message(crate::ingest::VitalsIn {
                    at: now,
                    ts,
                    patient: e,
                    vitals,
                    source: origin.by.clone(),
                });
            }
            put(world, p.clone());
            let seq = record(
                world,
                &origin,
                EventKind::PatientAssessed,
                &p,
                None,
                Vec::new(),
                detail.clone(),
            );
            Ok(done(Some(seq), Some(p), detail))
        }
        CensusOp::Merge { survivor, merged } => {
            if survivor == merged {
                return Err(CensusError::SelfMerge);
            }
            let (_, mut keep) = patient_of(world, &survivor)?;
            let (e, gone) = patient_of(world, &merged)?;
            // The survivor keeps its bed and scores; what only the merged record had comes over.
            if keep.bed.is_empty() && !gone.bed.is_empty() {
                keep.bed = gone.bed.clone();
            }
            keep.tag = keep.tag.or(gone.tag.clone());
            if keep.wearable.is_none() {
                keep.wearable = gone.wearable.clone();
                keep.wearable_model = gone.wearable_model.clone();
            }
            for id in std::iter::once(gone.id.clone()).chain(gone.record.identifiers.clone()) {
                if !keep.record.identifiers.contains(&id) {
                    keep.record.identifiers.push(id);
                }
            }
            for (k, at) in &gone.record.observed {
                let newer = keep.record.observed.get(k).is_none_or(|h| h < at);
                if newer {
                    match k.as_str() {
                        "morse" => keep.morse = gone.morse,
                        "braden" => keep.braden = gone.braden,
                        "ventilated" => keep.ventilated = gone.ventilated,
                        "weight" => keep.record.weight_kg = gone.record.weight_kg,
                        "isolation" => keep.record.isolation = gone.record.isolation.clone(),
                        "hypercapnic" => keep.record.hypercapnic = gone.record.hypercapnic,
                        _ => {}
                    }
                    keep.record.observed.insert(k.clone(), *at);
                    keep.record.unassessed.retain(|u| u != k);
                }
            }
            keep.record.as_of = Some(as_of);
            take_out(world, e, &gone, &format!("record merged into {}", keep.id));
            put(world, keep.clone());
            let detail = format!("{} merged into {}", gone.id, keep.id);
            let seq = record(
                world,
                &origin,
                EventKind::PatientMerged,
                &keep,
                None,
                vec![gone.clone()],
                detail.clone(),
            );
            let mut c = world.resource_mut::<Census>();
            c.came_from.remove(&gone.id);
            c.gone.insert(gone.id.clone(), (gone, now));
            Ok(done(Some(seq), Some(keep), detail))
        }
    }
}

/// What changed between two states of a patient, in plain words.
fn changes(a: &Patient, b: &Patient) -> String {
    let mut out = Vec::new();
    if a.name != b.name {
        out.push(format!("name {} -> {}", a.name, b.name));
    }
    for (key, label, x, y) in [
        ("morse", "Morse", a.morse, b.morse),
        ("braden", "Braden", a.braden, b.braden),
    ] {
        let was_unassessed = a.record.unassessed.iter().any(|u| u == key);
        let still_unassessed = b.record.unassessed.iter().any(|u| u == key);
        if (x != y || was_unassessed) && !still_unassessed {
            out.push(format!("{label} {} -> {y}", shown(a, key, x)));
        }
    }
    if a.ventilated != b.ventilated {
        out.push(if b.ventilated {
            "now ventilated".into()
        } else {
            "no longer ventilated".into()
        });
    }
    if a.record.weight_kg != b.record.weight_kg
        && let Some(w) = b.record.weight_kg
    {
        out.push(format!("weight {w:.1} kg"));
    }
    if a.record.hypercapnic != b.record.hypercapnic {
        out.push(if b.record.hypercapnic {
            "hypercapnic: NEWS2 SpO2 scale 2".into()
        } else {
            "NEWS2 SpO2 scale 1".into()
        });
    }
    if a.record.isolation != b.record.isolation {
        out.push(match &b.record.isolation {
            Some(i) => format!("isolation: {i}"),
            None => "isolation ended".into(),
        });
    }
    for (what, x, y) in [
        ("class", &a.record.class, &b.record.class),
        ("visit", &a.record.visit, &b.record.visit),
        ("attending", &a.record.attending, &b.record.attending),
        ("birth date", &a.record.birth_date, &b.record.birth_date),
        ("sex", &a.record.sex, &b.record.sex),
    ] {
        if x != y
            && let Some(y) = y
        {
            out.push(format!("{what} {y}"));
        }
    }
    if out.is_empty() {
        "no change".into()
    } else {
        out.join(", ")
    }
}

fn shown(p: &Patient, key: &str, v: u8) -> String {
    if p.record.unassessed.iter().any(|u| u == key) {
        "not assessed".into()
    } else {
        v.to_string()
    }
}

/// A new patient as an HL7 admission or the REST API gives them: scores not assessed yet
/// unless given.
pub fn new_patient(id: &str, name: &str, morse: Option<u8>, braden: Option<u8>) -> Patient {
    let mut unassessed = Vec::new();
    if morse.is_none() {
        unassessed.push("morse".to_string());
    }
    if braden.is_none() {
        unassessed.push("braden".to_string());
    }
    Patient {
        id: id.to_string(),
        name: name.to_string(),
        bed: String::new(),
        morse: morse.unwrap_or(MORSE_UNASSESSED),
        braden: braden.unwrap_or(BRADEN_UNASSESSED),
        ventilated: false,
        tag: None,
        wearable: None,
        wearable_model: None,
        elopement_risk: false,
        record: Record {
            unassessed,
            ..Record::default()
        },
    }
}
