//! The census from outside: HL7 v2 messages from the interface engine (the MLLP listener hands
//! them here, [`Hl7Census`]) and the same operations over REST for hospitals without one. Each
//! becomes one census command to the world, answered once what it recorded is committed.

use crate::ApiState;
use crate::control::{Control, ask, committed};
use crate::error::ApiError;
use orderly_hl7::{CensusMessage, Location, Observation, PatientId, Problem, time_millis};
use orderly_mllp::{Refusal, Rejection};
use orderly_model::Timestamp;
use orderly_model::census::{CensusMap, ObservationFact, Place, Record};
use orderly_world::census::{CensusError, CensusOp, Origin, Value, new_patient};
use orderly_world::{Command, Refused};
use std::sync::Arc;

/// HL7 messages applied through the world, with the site's census map.
pub struct Hl7Census {
    state: ApiState,
    map: Arc<CensusMap>,
}

impl Hl7Census {
    pub fn new(state: ApiState, map: Arc<CensusMap>) -> Self {
        Hl7Census { state, map }
    }
}

/// An HL7 identifier as an Orderly patient id: `{authority}-{id}` (or the id alone without an
/// authority), characters outside `A-Z a-z 0-9 _ . -` as `_`, at most 64.
pub fn orderly_id(id: &PatientId) -> String {
    let raw = if id.authority.is_empty() {
        id.id.clone()
    } else {
        format!("{}-{}", id.authority, id.id)
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// The identifiers as Orderly writes them in a record (`GH/12345`).
fn identifiers(p: &orderly_hl7::Patient) -> Vec<String> {
    p.ids
        .iter()
        .map(|i| {
            if i.authority.is_empty() {
                i.id.clone()
            } else {
                format!("{}/{}", i.authority, i.id)
            }
        })
        .collect()
}

fn problem(segment: &str, field: usize, code: u16, text: impl Into<String>) -> Problem {
    Problem::new(segment, field, code, text)
}

impl Hl7Census {
    /// The Orderly patient a PID names: one of its identifiers already in the census (or merged
    /// into a patient there), else the medical record number's.
    fn patient_id(&self, p: &orderly_hl7::Patient) -> Result<String, Problem> {
        let snap = self.state.snapshot();
        let mut ids: Vec<&PatientId> = p.ids.iter().filter(|i| i.kind == "MR").collect();
        ids.extend(p.ids.iter().filter(|i| i.kind != "MR"));
        for i in &ids {
            let id = orderly_id(i);
            if snap.patients.contains_key(id.as_str()) {
                return Ok(id);
            }
            let slash = if i.authority.is_empty() {
                i.id.clone()
            } else {
                format!("{}/{}", i.authority, i.id)
            };
            if let Some(holder) = snap.patients.values().find(|v| {
                v.record.identifiers.contains(&id) || v.record.identifiers.contains(&slash)
            }) {
                return Ok(holder.id.clone());
            }
        }
        let first = ids
            .first()
            .ok_or_else(|| problem("PID", 3, 101, "PID-3 (patient identifier) is empty"))?;
        Ok(orderly_id(first))
    }

    /// Where PV1-3 puts the patient: an Orderly bed, or None (outside Orderly's beds).
    fn place(&self, l: &Location, sequence: usize) -> Result<Option<String>, Problem> {
        match self.map.place(&l.point_of_care, &l.room, &l.bed) {
            Ok(Place::Bed(b)) => Ok(Some(b)),
            Ok(Place::Outside) => Ok(None),
            Err(e) => {
                let mut p = problem("PV1", 3, 103, e.to_string());
                p.sequence = sequence;
                Err(p)
            }
        }
    }

    fn record(p: &orderly_hl7::Patient, v: &orderly_hl7::Visit) -> Record {
        Record {
            identifiers: identifiers(p),
            birth_date: p.birth_date.clone(),
            sex: p.sex.clone(),
            class: v.class.clone(),
            visit: v.visit_number.clone(),
            attending: v.attending.clone(),
            ..Record::default()
        }
    }

    /// The census operation a message asks for.
    fn op(&self, m: &CensusMessage) -> Result<(CensusOp, Origin), Problem> {
        let h = m.header();
        let origin = Origin {
            by: format!("hl7 {}", h.sender),
            message: Some(format!("{}|{}", h.sender, h.control_id)),
            happened_at: h.event_time.as_deref().and_then(time_millis).map(Timestamp),
        };
        let op = match m {
            CensusMessage::Adt {
                header,
                patient,
                visit,
                other,
                merged,
            } => {
                let id = self.patient_id(patient)?;
                let location = || {
                    visit.location.as_ref().ok_or_else(|| {
                        problem(
                            "PV1",
                            3,
                            101,
                            "PV1-3 (assigned location) is empty".to_string(),
                        )
                    })
                };
                match header.trigger.as_str() {
                    "A01" | "A04" => {
                        let bed = match &visit.location {
                            Some(l) => self.place(l, 1)?,
                            None => None,
                        };
                        let mut p = new_patient(&id, &patient.name(), None, None);
                        let mut r = Self::record(patient, visit);
                        r.unassessed = p.record.unassessed.clone();
                        p.record = r;
                        if p.name.is_empty() {
                            p.name = id.clone();
                        }
                        CensusOp::Admit {
                            patient: Box::new(p),
                            bed,
                        }
                    }
                    "A02" => CensusOp::Transfer {
                        patient: id,
                        bed: self.place(location()?, 1)?,
                    },
                    "A03" => CensusOp::Discharge { patient: id },
                    "A06" | "A07" | "A08" => CensusOp::Update {
                        patient: id,
                        name: Some(patient.name()).filter(|n| !n.is_empty()),
                        record: Box::new(Self::record(patient, visit)),
                    },
                    "A11" => CensusOp::CancelAdmit { patient: id },
                    "A12" => CensusOp::CancelTransfer { patient: id },
                    "A13" => CensusOp::CancelDischarge {
                        patient: id,
                        bed: match &visit.location {
                            Some(l) => self.place(l, 1)?,
                            None => None,
                        },
                    },
                    "A17" => {
                        let (p2, _) = other
                            .as_deref()
                            .ok_or_else(|| problem("PID", 0, 100, "ADT^A17 needs two patients"))?;
                        CensusOp::Swap {
                            a: id,
                            b: self.patient_id(p2)?,
                        }
                    }
                    "A40" => {
                        let gone = merged
                            .iter()
                            .map(orderly_id)
                            .find(|g| self.state.snapshot().patients.contains_key(g.as_str()))
                            .ok_or_else(|| {
                                problem(
                                    "MRG",
                                    1,
                                    204,
                                    format!(
                                        "no patient in the census is known by {}",
                                        merged
                                            .iter()
                                            .map(orderly_id)
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                )
                            })?;
                        CensusOp::Merge {
                            survivor: id,
                            merged: gone,
                        }
                    }
                    t => {
                        return Err(problem("MSH", 9, 201, format!("ADT^{t} is not applied")));
                    }
                }
            }
            CensusMessage::Observations {
                patient,
                observations,
                ..
            } => {
                let id = self.patient_id(patient)?;
                let mut values = Vec::new();
                let mut unknown = Vec::new();
                for o in observations {
                    // Final, corrected or preliminary results; not cancelled or wrong ones.
                    if !matches!(o.status.as_str(), "" | "F" | "C" | "P" | "R") {
                        continue;
                    }
                    let Some(fact) = self.map.observation(&o.system, &o.code) else {
                        unknown.push(format!("{}^{}", o.code, o.system));
                        continue;
                    };
                    let at = o
                        .observed_at
                        .as_deref()
                        .and_then(time_millis)
                        .map(Timestamp);
                    values.push((fact, value(fact, o)?, at));
                }
                if values.is_empty() {
                    return Err(problem(
                        "OBX",
                        3,
                        103,
                        format!(
                            "no observation Orderly reads (risk scores, vital signs, weight, isolation); codes sent: {} (map local codes in the census map's [[observation]])",
                            unknown.join(", ")
                        ),
                    ));
                }
                CensusOp::Assess {
                    patient: id,
                    values,
                }
            }
            CensusMessage::AlertStatus { .. } => {
                return Err(problem(
                    "MSH",
                    9,
                    200,
                    "an alert status is not a census message",
                ));
            }
        };
        Ok((op, origin))
    }
}

/// An observation's value as the fact it gives.
fn value(fact: ObservationFact, o: &Observation) -> Result<Value, Problem> {
    let bad = |what: &str| {
        let mut p = problem(
            "OBX",
            5,
            102,
            format!("{} value {:?} is not {what}", fact.as_str(), o.value),
        );
        p.sequence = o.sequence;
        p
    };
    let v = o.value.trim();
    Ok(match fact {
        ObservationFact::Morse | ObservationFact::Braden => {
            let n: f64 = v.parse().map_err(|_| bad("a number"))?;
            if !(0.0..=255.0).contains(&n) || n.fract() != 0.0 {
                return Err(bad("a whole score"));
            }
            Value::Score(n as u8)
        }
        ObservationFact::Ventilated | ObservationFact::Hypercapnic => {
            match v.to_ascii_lowercase().as_str() {
                "y" | "yes" | "true" | "1" => Value::Flag(true),
                "n" | "no" | "false" | "0" => Value::Flag(false),
                _ => return Err(bad("Y or N")),
            }
        }
        ObservationFact::Weight => {
            let n: f32 = v.parse().map_err(|_| bad("a number"))?;
            let kg = match o.units.as_str() {
                "" | "kg" | "KG" | "Kg" => n,
                "g" => n / 1000.0,
                "lb" | "[lb_av]" | "LB" | "lbs" => n * 0.453_592_37,
                u => return Err(bad(&format!("in kg, g or lb (units {u:?})"))),
            };
            Value::Kg(kg)
        }
        ObservationFact::RespirationRate
        | ObservationFact::Spo2
        | ObservationFact::OxygenFlow
        | ObservationFact::Systolic
        | ObservationFact::Pulse => Value::Number(v.parse().map_err(|_| bad("a number"))?),
        ObservationFact::Temperature => {
            let n: f64 = v.parse().map_err(|_| bad("a number"))?;
            Value::Number(match o.units.as_str() {
                "" | "Cel" | "C" | "degC" | "°C" => n,
                "[degF]" | "F" | "degF" | "°F" => (n - 32.0) * 5.0 / 9.0,
                u => return Err(bad(&format!("in °C or °F (units {u:?})"))),
            })
        }
        ObservationFact::Consciousness => {
            use orderly_model::news2::Consciousness as C;
            Value::Level(match v.to_ascii_uppercase().chars().next() {
                Some('A') => C::Alert,
                Some('C') => C::NewConfusion,
                Some('V') => C::Voice,
                Some('P') => C::Pain,
                Some('U') => C::Unresponsive,
                _ => return Err(bad("A, C, V, P or U")),
            })
        }
        ObservationFact::Isolation => {
            let none = v.is_empty()
                || matches!(
                    v.to_ascii_lowercase().as_str(),
                    "none" | "n" | "no" | "standard"
                );
            Value::Text((!none).then(|| v.to_ascii_lowercase()))
        }
    })
}

/// Where an error of the world's is in an HL7 message, and its code (HL7 table 0357).
fn census_problem(e: &CensusError) -> Problem {
    let text = e.to_string();
    match e {
        CensusError::UnknownPatient(_) | CensusError::NotDischarged(_) => {
            problem("PID", 3, 204, text)
        }
        CensusError::UnknownBed(_) | CensusError::BedTaken { .. } => problem("PV1", 3, 103, text),
        CensusError::NoBedToReturnTo(_) => problem("PV1", 6, 101, text),
        CensusError::AlreadyAdmitted(_) => problem("PID", 3, 205, text),
        CensusError::OutOfRange { .. } => problem("OBX", 5, 102, text),
        CensusError::BadId(_) => problem("PID", 3, 102, text),
        CensusError::SelfMerge => problem("MRG", 1, 205, text),
        CensusError::UnknownWearableModel(..) => problem("PID", 3, 102, text),
    }
}

/// Applies a census command, answering once it is committed.
pub(crate) async fn run(
    s: &ApiState,
    op: CensusOp,
    origin: Origin,
) -> Result<orderly_world::census::CensusDone, RunError> {
    if !s.database.is_up()
        && let Err(why) = s.database.check(&s.store).await
    {
        return Err(RunError::Unavailable(format!(
            "the database is unreachable ({why}); nothing was changed"
        )));
    }
    let answer = ask(s, |reply| Control::World {
        command: Command::Census { op, origin },
        reply,
    })
    .await
    .map_err(|e| RunError::Unavailable(e.to_string()))?;
    match answer {
        Ok(applied) => {
            if let Some(seq) = applied.seq {
                committed(s, seq)
                    .await
                    .map_err(|e| RunError::Unavailable(e.to_string()))?;
            }
            match applied.done {
                orderly_world::Done::Census(d) => Ok(d),
                d => Err(RunError::Refused(Refused::TooLong(format!(
                    "the world answered {d:?}"
                )))),
            }
        }
        Err(e) => Err(RunError::Refused(e)),
    }
}

pub(crate) enum RunError {
    Unavailable(String),
    Refused(Refused),
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Unavailable(why) => ApiError::Unavailable(why),
            RunError::Refused(r) => crate::control::refused(r),
        }
    }
}

impl Hl7Census {
    /// An alert manager's report of what became of an alert, recorded on the alert.
    async fn alert_status(&self, status: &orderly_hl7::acm::Status) -> Result<(), Refusal> {
        // The alert manager's clock is shown, never trusted far: a time over five minutes ahead
        // or a day old is taken as now.
        let now = (self.state.clock)();
        let at = status
            .at
            .as_deref()
            .and_then(time_millis)
            .filter(|t| (now.millis() - 86_400_000..=now.millis() + 300_000).contains(t))
            .map(Timestamp)
            .unwrap_or(now);
        let disposition = orderly_model::Disposition {
            status: status.status,
            by: status.by.clone(),
            device: status.device.clone(),
            manager: if status.manager.is_empty() {
                "alert manager".into()
            } else {
                status.manager.clone()
            },
            at,
        };
        let command = Command::Alert(orderly_rules::AlertCommand::Disposition {
            id: status.alert_id.clone(),
            disposition,
        });
        match crate::control::apply(&self.state, command).await {
            Ok(_) => Ok(()),
            Err(ApiError::NotFound(why)) => Err(Refusal::Problem(problem("OBR", 3, 204, why))),
            Err(ApiError::BadRequest(why)) => Err(Refusal::Problem(problem("OBX", 5, 102, why))),
            Err(e) => Err(Refusal::Unavailable(e.to_string())),
        }
    }
}

impl orderly_mllp::Census for Hl7Census {
    async fn apply(&self, message: CensusMessage) -> Result<(), Refusal> {
        if let CensusMessage::AlertStatus { status, header } = &message {
            self.alert_status(status).await?;
            tracing::info!(control_id = %header.control_id, alert = %status.alert_id, status = ?status.status, "alert status applied");
            return Ok(());
        }
        let (op, origin) = self.op(&message)?;
        match run(&self.state, op, origin).await {
            Ok(d) => {
                tracing::info!(control_id = %message.header().control_id, repeat = d.repeat, detail = %d.detail, "HL7 message applied");
                Ok(())
            }
            Err(RunError::Unavailable(why)) => Err(Refusal::Unavailable(why)),
            Err(RunError::Refused(Refused::Census(e))) => Err(Refusal::Problem(census_problem(&e))),
            Err(RunError::Refused(e)) => Err(Refusal::Problem(problem("", 0, 207, e.to_string()))),
        }
    }

    fn now_hl7(&self) -> String {
        hl7_time((self.state.clock)())
    }

    async fn rejected(&self, r: Rejection) {
        let at = (self.state.clock)();
        let p = &r.problem;
        let place = if p.segment.is_empty() {
            String::new()
        } else if p.field == 0 {
            format!("{}: ", p.segment)
        } else {
            format!("{}-{}: ", p.segment, p.field)
        };
        let row = orderly_store::RejectedMessage {
            at,
            sender: r.sender,
            control_id: r.control_id,
            kind: r.kind,
            code: r.code.as_str().to_string(),
            problem: format!("{place}{}", p.text),
            message: r.text,
        };
        if let Err(e) = self.state.store.record_rejected(&row).await {
            tracing::warn!(error = %e, control_id = %row.control_id, "cannot keep the rejected HL7 message (it is counted and logged)");
        }
    }
}

/// `YYYYMMDDHHMMSS` in UTC.
pub fn hl7_time(t: Timestamp) -> String {
    let mut s = orderly_hl7::time_of(t);
    s.truncate(14);
    s
}

// The REST API -------------------------------------------------------------------------------

use crate::auth::Auth;
use axum::Json;
use axum::extract::{Path, Query, State};
use orderly_model::Role;
use orderly_model::view::PatientView;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What a census operation did.
#[derive(Serialize, ToSchema)]
pub(crate) struct CensusAnswer {
    /// In plain words (`admitted to BED-ICU-05`, `Morse 35 -> 60`).
    detail: String,
    /// The patient as they now stand; absent once out of the census.
    patient: Option<orderly_model::Patient>,
}

fn answer(d: orderly_world::census::CensusDone) -> Json<CensusAnswer> {
    Json(CensusAnswer {
        detail: d.detail,
        patient: d.patient,
    })
}

/// The unit of a bed as the read model has it (its room's, else its home unit).
fn bed_unit(s: &ApiState, bed: &str) -> Option<String> {
    let snap = s.snapshot();
    let a = snap.assets.get(bed)?;
    a.location
        .as_ref()
        .and_then(|l| l.unit.clone())
        .or_else(|| a.unit.clone())
}

/// Nurses change the census of their own units only; admins any.
fn may_change(auth: &Auth, s: &ApiState, beds: &[Option<&str>]) -> Result<(), ApiError> {
    auth.require(&[Role::Nurse, Role::Admin])?;
    for b in beds.iter().flatten() {
        if let Some(u) = bed_unit(s, b) {
            auth.require_unit(&u)?;
        } else if auth.role() == Role::Nurse {
            return Err(ApiError::Forbidden(format!(
                "bed {b} belongs to no unit of {}",
                auth.0.name
            )));
        }
    }
    Ok(())
}

fn patient_bed(s: &ApiState, id: &str) -> Result<Arc<PatientView>, ApiError> {
    s.snapshot()
        .patients
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no patient {id:?} in the census")))
}

fn person(auth: &Auth) -> Origin {
    Origin {
        by: auth.0.name.clone(),
        message: None,
        happened_at: None,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdmitBody {
    /// The patient's id in Orderly: 1-64 of `A-Z a-z 0-9 _ . -` (the medical record number).
    id: String,
    name: String,
    /// An Orderly bed, or absent: somewhere outside Orderly's beds.
    bed: Option<String>,
    /// Morse Fall Scale, 0-125; absent: not assessed yet (fall precautions until it is).
    morse: Option<u8>,
    /// Braden Scale, 6-23; absent: not assessed yet.
    braden: Option<u8>,
    #[serde(default)]
    ventilated: bool,
    /// Wristband tag and wearable device, if the patient wears them.
    tag: Option<String>,
    wearable: Option<String>,
    /// The wearable's model, one the seed lists (`[[wearable_model]]`): where it is worn (wrist,
    /// waist, chest, pocket), so the fall detector reads it as worn there.
    wearable_model: Option<String>,
    #[serde(default)]
    elopement_risk: bool,
}

/// Admit a patient (hospitals without an HL7 interface engine).
///
/// Nurses of the bed's unit and admins. Answered once committed; audited. A patient already in
/// the census is moved and updated.
#[utoipa::path(post, path = "/api/v1/patients", tag = "census", request_body = AdmitBody, security(("bearer" = [])),
    responses((status = 200, body = CensusAnswer), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn admit(
    auth: Auth,
    State(s): State<ApiState>,
    Json(b): Json<AdmitBody>,
) -> Result<Json<CensusAnswer>, ApiError> {
    may_change(&auth, &s, &[b.bed.as_deref()])?;
    for (what, v, range) in [("morse", b.morse, 0..=125), ("braden", b.braden, 6..=23)] {
        if let Some(v) = v
            && !range.contains(&v)
        {
            return Err(ApiError::BadRequest(format!(
                "{what} {v} is out of range ({}-{})",
                range.start(),
                range.end()
            )));
        }
    }
    if b.name.trim().is_empty() {
        return Err(ApiError::BadRequest("a name is required".into()));
    }
    if b.wearable_model.is_some() && b.wearable.is_none() {
        return Err(ApiError::BadRequest(
            "a wearable_model without a wearable: give the wearable's device id too".into(),
        ));
    }
    let mut p = new_patient(&b.id, &b.name, b.morse, b.braden);
    p.ventilated = b.ventilated;
    p.tag = b.tag.clone();
    p.wearable = b.wearable.clone();
    p.wearable_model = b.wearable_model.clone();
    p.elopement_risk = b.elopement_risk;
    let d = run(
        &s,
        CensusOp::Admit {
            patient: Box::new(p),
            bed: b.bed.clone(),
        },
        person(&auth),
    )
    .await?;
    auth.audit(&s, "admit", &format!("patient {}", b.id), d.detail.clone())
        .await?;
    Ok(answer(d))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferBody {
    /// The new bed, or absent: somewhere outside Orderly's beds (theatre, imaging).
    bed: Option<String>,
}

/// Transfer a patient to another bed.
///
/// Nurses of both beds' units and admins. The patient's open alerts go to the new unit; the old
/// bed's alerts about them end. Answered once committed; audited.
#[utoipa::path(post, path = "/api/v1/patients/{id}/transfer", tag = "census", params(("id" = String, Path, description = "patient id")), request_body = TransferBody, security(("bearer" = [])),
    responses((status = 200, body = CensusAnswer), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn transfer(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(b): Json<TransferBody>,
) -> Result<Json<CensusAnswer>, ApiError> {
    let p = patient_bed(&s, &id)?;
    may_change(
        &auth,
        &s,
        &[
            Some(p.bed.as_str()).filter(|b| !b.is_empty()),
            b.bed.as_deref(),
        ],
    )?;
    let d = run(
        &s,
        CensusOp::Transfer {
            patient: id.clone(),
            bed: b.bed.clone(),
        },
        person(&auth),
    )
    .await?;
    auth.audit(&s, "transfer", &format!("patient {id}"), d.detail.clone())
        .await?;
    Ok(answer(d))
}

/// Discharge a patient.
///
/// Nurses of the bed's unit and admins. Their alerts are resolved ("patient discharged"), their
/// wristband released. Answered once committed; audited.
#[utoipa::path(post, path = "/api/v1/patients/{id}/discharge", tag = "census", params(("id" = String, Path, description = "patient id")), security(("bearer" = [])),
    responses((status = 200, body = CensusAnswer), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn discharge(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<CensusAnswer>, ApiError> {
    let p = patient_bed(&s, &id)?;
    may_change(&auth, &s, &[Some(p.bed.as_str()).filter(|b| !b.is_empty())])?;
    let d = run(
        &s,
        CensusOp::Discharge {
            patient: id.clone(),
        },
        person(&auth),
    )
    .await?;
    auth.audit(&s, "discharge", &format!("patient {id}"), d.detail.clone())
        .await?;
    Ok(answer(d))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AssessBody {
    /// Morse Fall Scale total, 0-125.
    morse: Option<u8>,
    /// Braden Scale total, 6-23.
    braden: Option<u8>,
    ventilated: Option<bool>,
    weight_kg: Option<f32>,
    /// Isolation precautions (`contact`, `droplet`, `airborne`), or "" when none.
    isolation: Option<String>,
    /// Hypercapnic respiratory failure (a clinician's decision): NEWS2 scores SpO2 on scale 2.
    hypercapnic: Option<bool>,
}

/// Record a risk assessment: the zone, bundles and turning interval follow at once.
///
/// Nurses of the bed's unit and admins. Answered once committed; audited.
#[utoipa::path(post, path = "/api/v1/patients/{id}/assess", tag = "census", params(("id" = String, Path, description = "patient id")), request_body = AssessBody, security(("bearer" = [])),
    responses((status = 200, body = CensusAnswer), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn assess(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(b): Json<AssessBody>,
) -> Result<Json<CensusAnswer>, ApiError> {
    let p = patient_bed(&s, &id)?;
    may_change(&auth, &s, &[Some(p.bed.as_str()).filter(|b| !b.is_empty())])?;
    let mut values = Vec::new();
    if let Some(m) = b.morse {
        values.push((ObservationFact::Morse, Value::Score(m), None));
    }
    if let Some(m) = b.braden {
        values.push((ObservationFact::Braden, Value::Score(m), None));
    }
    if let Some(v) = b.ventilated {
        values.push((ObservationFact::Ventilated, Value::Flag(v), None));
    }
    if let Some(w) = b.weight_kg {
        values.push((ObservationFact::Weight, Value::Kg(w), None));
    }
    if let Some(v) = b.hypercapnic {
        values.push((ObservationFact::Hypercapnic, Value::Flag(v), None));
    }
    if let Some(i) = &b.isolation {
        let i = i.trim().to_ascii_lowercase();
        values.push((
            ObservationFact::Isolation,
            Value::Text((!i.is_empty()).then_some(i)),
            None,
        ));
    }
    if values.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to record: give morse, braden, ventilated, weight_kg, isolation or hypercapnic"
                .into(),
        ));
    }
    let d = run(
        &s,
        CensusOp::Assess {
            patient: id.clone(),
            values,
        },
        person(&auth),
    )
    .await?;
    auth.audit(&s, "assess", &format!("patient {id}"), d.detail.clone())
        .await?;
    Ok(answer(d))
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct RejectedFilter {
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<i64>,
}

/// HL7 messages Orderly could not apply (answered AE or AR), newest first, with where and why.
///
/// Admins only (the messages hold patient data); audited.
#[utoipa::path(get, path = "/api/v1/integration/hl7/rejected", tag = "census", params(RejectedFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<orderly_store::RejectedMessage>), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn rejected(
    auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<RejectedFilter>,
) -> Result<Json<Vec<orderly_store::RejectedMessage>>, ApiError> {
    auth.require(&[Role::Admin])?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = s
        .store
        .rejected(limit)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the database is unreachable ({e})")))?;
    auth.audit(
        &s,
        "read rejected HL7 messages",
        "hl7",
        format!("{} messages", rows.len()),
    )
    .await?;
    Ok(Json(rows))
}

// Bed turnover -------------------------------------------------------------------------------

use orderly_model::census::BedTurn;
use orderly_world::turnover::TurnAction;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TurnoverBody {
    /// `start_cleaning`, `cleaned` (environmental services), `ready` (made up, inspected),
    /// `block` or `unblock` (supervisors; a reason is required).
    action: String,
    #[serde(default)]
    reason: String,
}

/// A bed's turnover as it stands, for the bed board and the worklist.
#[derive(Serialize, ToSchema, Clone)]
pub(crate) struct BedBoardRow {
    bed: String,
    unit: Option<String>,
    room: Option<String>,
    state: BedTurn,
    since: Timestamp,
    /// When its last patient left.
    vacated_at: Option<Timestamp>,
    reason: String,
    /// Its patient, when occupied.
    patient: Option<String>,
}

fn board(s: &ApiState) -> Vec<BedBoardRow> {
    let snap = s.snapshot();
    let mut rows: Vec<BedBoardRow> = snap
        .assets
        .values()
        .filter_map(|a| {
            let t = a.turnover.as_ref()?;
            Some(BedBoardRow {
                bed: a.id.clone(),
                unit: a
                    .location
                    .as_ref()
                    .and_then(|l| l.unit.clone())
                    .or_else(|| a.unit.clone()),
                room: a.location.as_ref().map(|l| l.room.clone()),
                state: t.state,
                since: t.since,
                vacated_at: t.vacated_at,
                reason: t.reason.clone(),
                patient: snap
                    .patients
                    .values()
                    .find(|p| p.bed == a.id)
                    .map(|p| p.id.clone()),
            })
        })
        .collect();
    rows.sort_by(|a, b| (&a.unit, &a.bed).cmp(&(&b.unit, &b.bed)));
    rows
}

/// Move a bed's turnover on: start or finish cleaning, make it ready, block or unblock it.
///
/// Cleaning: facilities (environmental services) and admins. Ready: also nurses of the bed's
/// unit. Block and unblock (with a reason): facilities and admins. Answered once committed;
/// audited.
#[utoipa::path(post, path = "/api/v1/beds/{id}/turnover", tag = "census", params(("id" = String, Path, description = "bed id")), request_body = TurnoverBody, security(("bearer" = [])),
    responses((status = 200, body = BedBoardRow), (status = 400, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub(crate) async fn turnover(
    auth: Auth,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(b): Json<TurnoverBody>,
) -> Result<Json<BedBoardRow>, ApiError> {
    let action = match b.action.as_str() {
        "start_cleaning" => TurnAction::StartCleaning,
        "cleaned" => TurnAction::Cleaned,
        "ready" => TurnAction::Ready,
        "block" => TurnAction::Block {
            reason: b.reason.clone(),
        },
        "unblock" => TurnAction::Unblock {
            reason: b.reason.clone(),
        },
        x => {
            return Err(ApiError::BadRequest(format!(
                "action {x:?}: use start_cleaning, cleaned, ready, block or unblock"
            )));
        }
    };
    match action {
        TurnAction::Ready => {
            auth.require(&[Role::Nurse, Role::Facilities, Role::Admin])?;
            if auth.role() == Role::Nurse {
                let unit = bed_unit(&s, &id)
                    .ok_or_else(|| ApiError::Forbidden(format!("bed {id} has no unit")))?;
                auth.require_unit(&unit)?;
            }
        }
        _ => auth.require(&[Role::Facilities, Role::Admin])?,
    }
    let applied = crate::control::apply(
        &s,
        Command::Turnover {
            bed: id.clone(),
            action,
            by: auth.0.name.clone(),
        },
    )
    .await?;
    auth.audit(
        &s,
        "bed turnover",
        &format!("bed {id}"),
        format!("{} {}", b.action, b.reason),
    )
    .await?;
    let state = match applied.done {
        orderly_world::Done::Turnover(state) => state,
        d => return Err(crate::control::unexpected(d)),
    };
    if let Some(seq) = applied.seq {
        crate::control::snapshot_after(&s, seq).await;
    }
    let mut row = board(&s)
        .into_iter()
        .find(|r| r.bed == id)
        .ok_or_else(|| ApiError::NotFound(format!("no bed {id:?}")))?;
    row.state = state;
    Ok(Json(row))
}

/// A unit's beds by turnover state.
#[derive(Serialize, ToSchema)]
pub(crate) struct UnitAvailability {
    unit: String,
    /// Beds per state (`occupied`, `dirty`, `cleaning`, `clean`, `ready`, `blocked`).
    counts: std::collections::BTreeMap<String, usize>,
    beds: Vec<BedBoardRow>,
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct AvailabilityFilter {
    /// Only this unit.
    unit: Option<String>,
}

/// The bed board: each unit's beds, occupied, dirty, being cleaned, clean, ready or blocked.
///
/// Nurses see their units.
#[utoipa::path(get, path = "/api/v1/beds/availability", tag = "census", params(AvailabilityFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<UnitAvailability>), (status = 404, body = crate::error::ErrorBody)))]
pub(crate) async fn availability(
    auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<AvailabilityFilter>,
) -> Result<Json<Vec<UnitAvailability>>, ApiError> {
    if let Some(u) = &q.unit {
        auth.require_known_unit(&s, u)?;
    }
    let mut units: std::collections::BTreeMap<String, UnitAvailability> = Default::default();
    for row in board(&s) {
        let unit = row.unit.clone().unwrap_or_else(|| "(no unit)".into());
        if q.unit.as_ref().is_some_and(|u| *u != unit) || !auth.may_see_unit(row.unit.as_deref()) {
            continue;
        }
        let u = units
            .entry(unit.clone())
            .or_insert_with(|| UnitAvailability {
                unit,
                counts: BedTurn::ALL
                    .iter()
                    .map(|t| (t.as_str().to_string(), 0))
                    .collect(),
                beds: Vec::new(),
            });
        *u.counts.entry(row.state.as_str().to_string()).or_default() += 1;
        u.beds.push(row);
    }
    Ok(Json(units.into_values().collect()))
}

/// The environmental-services worklist: dirty beds and beds being cleaned, most needed first:
/// units without a ready bed before the others, then the longest waiting.
#[utoipa::path(get, path = "/api/v1/beds/worklist", tag = "census", security(("bearer" = [])),
    responses((status = 200, body = Vec<BedBoardRow>)))]
pub(crate) async fn worklist(auth: Auth, State(s): State<ApiState>) -> Json<Vec<BedBoardRow>> {
    let rows = board(&s);
    let mut ready: std::collections::BTreeMap<Option<String>, usize> = Default::default();
    for r in &rows {
        if r.state == BedTurn::Ready {
            *ready.entry(r.unit.clone()).or_default() += 1;
        }
    }
    let mut work: Vec<BedBoardRow> = rows
        .into_iter()
        .filter(|r| matches!(r.state, BedTurn::Dirty | BedTurn::Cleaning))
        .filter(|r| auth.may_see_unit(r.unit.as_deref()) || auth.role() != Role::Nurse)
        .collect();
    work.sort_by_key(|r| {
        (
            ready.get(&r.unit).copied().unwrap_or(0) > 0,
            r.vacated_at.unwrap_or(r.since),
            r.bed.clone(),
        )
    });
    Json(work)
}

#[derive(Deserialize, IntoParams)]
pub(crate) struct TurnaroundQuery {
    /// Start (RFC 3339); default 7 days before `to`.
    from: Option<String>,
    /// End (RFC 3339); default now.
    to: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Bed turnaround per unit: beds turned, minutes from the patient leaving to ready and from
/// dirty to clean (median and 90th percentile), beds still waiting.
#[utoipa::path(get, path = "/api/v1/reports/turnaround", tag = "census", params(TurnaroundQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<orderly_model::census::UnitTurnaround>, description = "JSON, or CSV with `format=csv`"), (status = 400, body = crate::error::ErrorBody)))]
pub(crate) async fn turnaround_report(
    _auth: Auth,
    State(s): State<ApiState>,
    Query(q): Query<TurnaroundQuery>,
) -> Result<axum::response::Response, ApiError> {
    let (from, to) = crate::params::window(&s, &q.from, &q.to, 7 * 24 * 3600 * 1000)?;
    let csv = crate::params::wants_csv(&q.format)?;
    let changes = s
        .store
        .turnovers(from, to)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the database is unreachable ({e})")))?;
    let rows = orderly_model::census::turnaround(&changes);
    let csv = csv.then(|| orderly_model::census::turnaround_csv(&rows));
    Ok(crate::params::respond(csv, "turnaround.csv", rows))
}
