//! FHIR R4 (4.0.1), read-only, under `/fhir/r4`: what Orderly knows, as integration engines
//! expect to read it. `metadata` (the CapabilityStatement), and `Location` (the site, its
//! buildings, floors, units, rooms and beds; a bed's occupancy and cleaning as
//! `operationalStatus`, HL7 table 0116), `Device` (every tracked item: kind, model, serial,
//! status, the room it is in, when it was last heard), `Patient` and `Encounter` (the census:
//! identifiers, name, the bed), each readable by id and searchable with `_id`, `identifier`,
//! `location`, `type`, `status`, `_lastUpdated` and `_count` into paged `searchset` Bundles.
//! JSON only. The same bearer tokens and roles as the rest of the API: patients and encounters
//! for admins and the nurses of their units (audited), locations and devices for every role.
//! An unknown parameter or a bad value is a 400 with an OperationOutcome saying which and why.

use crate::{ApiError, ApiState, Auth};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderly_model::view::{AssetView, PatientView};
use orderly_model::{AssetStatus, Role, Snapshot, Timestamp};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Orderly's own identifier systems.
const SYSTEM_LOCATION: &str = "urn:orderly:location";
const SYSTEM_ASSET: &str = "urn:orderly:asset";
const SYSTEM_KIND: &str = "urn:orderly:asset-kind";
const SYSTEM_PATIENT: &str = "urn:orderly:patient";
const LAST_SEEN: &str = "urn:orderly:fhir:last-seen";
const PHYSICAL: &str = "http://terminology.hl7.org/CodeSystem/location-physical-type";
const BED_STATUS: &str = "http://terminology.hl7.org/CodeSystem/v2-0116";

/// A FHIR answer: the resource (or Bundle, or OperationOutcome) as `application/fhir+json`.
pub(crate) struct Fhir(StatusCode, Value);

impl IntoResponse for Fhir {
    fn into_response(self) -> Response {
        let mut r = (self.0, axum::Json(self.1)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json; charset=utf-8"),
        );
        r
    }
}

/// An OperationOutcome with one issue.
fn outcome(status: StatusCode, code: &str, diagnostics: impl Into<String>) -> Fhir {
    Fhir(
        status,
        json!({
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics.into()}],
        }),
    )
}

impl From<ApiError> for Fhir {
    fn from(e: ApiError) -> Self {
        let text = e.to_string();
        match e {
            ApiError::Unauthenticated => outcome(StatusCode::UNAUTHORIZED, "login", text),
            ApiError::Forbidden(_) => outcome(StatusCode::FORBIDDEN, "forbidden", text),
            ApiError::NotFound(_) => outcome(StatusCode::NOT_FOUND, "not-found", text),
            ApiError::BadRequest(_) => outcome(StatusCode::BAD_REQUEST, "invalid", text),
            ApiError::Unavailable(_) => outcome(StatusCode::SERVICE_UNAVAILABLE, "transient", text),
            ApiError::TooManyRequests(_) => {
                outcome(StatusCode::TOO_MANY_REQUESTS, "throttled", text)
            }
            _ => outcome(StatusCode::INTERNAL_SERVER_ERROR, "exception", text),
        }
    }
}

type Answer = Result<Fhir, Fhir>;

/// An Orderly id as a FHIR id (`[A-Za-z0-9.-]{1,64}`): other characters become `-`.
fn fid(prefix: &str, id: &str) -> String {
    let raw: String = format!("{prefix}.{id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    raw.chars().take(64).collect()
}

/// FHIR `instant` (`2026-12-05T17:09:50.123Z`).
fn instant(t: Timestamp) -> String {
    t.to_string()
}

fn meta(updated: Option<Timestamp>) -> Value {
    match updated {
        Some(t) => json!({"lastUpdated": instant(t)}),
        None => json!({}),
    }
}

fn location_ref(room: &str) -> Value {
    json!({"reference": format!("Location/{}", fid("room", room))})
}

fn physical(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": PHYSICAL, "code": code, "display": display}]})
}

/// One resource with the facts searches match on.
struct Item {
    resource: Value,
    id: String,
    identifiers: Vec<(Option<String>, String)>,
    updated: Option<Timestamp>,
    /// `type` (a Location's physical type code, a Device's kind).
    kind: Option<String>,
    /// `status`.
    status: Option<String>,
    /// The Location ids it is at or part of (for `location`, `partof`).
    at: Vec<String>,
    /// The unit it belongs to, for a nurse's scope.
    unit: Option<String>,
}

fn locations(s: &ApiState, snap: &Snapshot) -> Vec<Item> {
    let fp = &s.floorplan;
    let mut out = Vec::new();
    let site = fid("site", &fp.site.id);
    let item =
        |id: String, resource: Value, kind: &str, at: Vec<String>, unit: Option<String>| Item {
            identifiers: vec![(
                Some(SYSTEM_LOCATION.into()),
                resource["identifier"][0]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            )],
            resource,
            id,
            updated: None,
            kind: Some(kind.into()),
            status: Some("active".into()),
            at,
            unit,
        };
    let loc = |id: &str, orig: &str, name: &str, code: &str, display: &str, part: Option<&str>| {
        let mut r = json!({
            "resourceType": "Location",
            "id": id,
            "identifier": [{"system": SYSTEM_LOCATION, "value": orig}],
            "status": "active",
            "name": name,
            "mode": "instance",
            "physicalType": physical(code, display),
        });
        if let Some(p) = part {
            r["partOf"] = json!({"reference": format!("Location/{p}")});
        }
        r
    };
    out.push(item(
        site.clone(),
        loc(&site, &fp.site.id, &fp.site.name, "si", "Site", None),
        "si",
        vec![],
        None,
    ));
    for b in &fp.buildings {
        let id = fid("building", &b.id);
        out.push(item(
            id.clone(),
            loc(&id, &b.id, &b.name, "bu", "Building", Some(&site)),
            "bu",
            vec![site.clone()],
            None,
        ));
    }
    for f in &fp.floors {
        let id = fid("floor", &f.id);
        let b = fid("building", &f.building);
        out.push(item(
            id.clone(),
            loc(&id, &f.id, &f.name, "lvl", "Level", Some(&b)),
            "lvl",
            vec![b],
            None,
        ));
    }
    for u in &fp.units {
        let id = fid("unit", &u.id);
        let f = fid("floor", &u.floor);
        out.push(item(
            id.clone(),
            loc(&id, &u.id, &u.name, "wa", "Ward", Some(&f)),
            "wa",
            vec![f],
            Some(u.id.clone()),
        ));
    }
    for r in &fp.rooms {
        let id = fid("room", &r.id);
        let part = match &r.unit {
            Some(u) => fid("unit", u),
            None => fid("floor", &r.floor),
        };
        out.push(item(
            id.clone(),
            loc(&id, &r.id, &r.name, "ro", "Room", Some(&part)),
            "ro",
            vec![part],
            r.unit.clone(),
        ));
    }
    // Beds: the seed's beds, where they belong, with occupancy and cleaning.
    for a in snap.assets.values().filter(|a| a.kind == "bed") {
        let id = fid("bed", &a.id);
        let room = a
            .place
            .clone()
            .or_else(|| a.location.as_ref().map(|l| l.room.clone()));
        let part = room.as_deref().map(|r| fid("room", r));
        let mut r = loc(&id, &a.id, &a.id, "bd", "Bed", part.as_deref());
        let mut updated = None;
        if let Some(t) = &a.turnover {
            use orderly_model::census::BedTurn as B;
            let (code, display) = match t.state {
                B::Occupied => ("O", "Occupied"),
                B::Dirty => ("K", "Contaminated"),
                B::Cleaning => ("H", "Housekeeping"),
                B::Clean | B::Ready => ("U", "Unoccupied"),
                B::Blocked => ("C", "Closed"),
            };
            r["operationalStatus"] =
                json!({"system": BED_STATUS, "code": code, "display": display});
            updated = Some(t.since);
            r["meta"] = meta(updated);
        }
        let unit = room
            .as_deref()
            .and_then(|r| fp.room(r))
            .and_then(|r| r.unit.clone())
            .or_else(|| a.unit.clone());
        let mut it = item(id, r, "bd", part.into_iter().collect(), unit);
        it.updated = updated;
        out.push(it);
    }
    out
}

/// Each wearable device's patient.
fn wearers(snap: &Snapshot) -> BTreeMap<&str, &str> {
    snap.patients
        .values()
        .filter_map(|p| Some((p.wearable.as_deref()?, p.id.as_str())))
        .collect()
}

fn device(a: &AssetView, wearers: &BTreeMap<&str, &str>) -> Item {
    let id = fid("asset", &a.id);
    let (status, words) = match a.status {
        AssetStatus::OutOfService => ("inactive", "out of service"),
        s => ("active", s.as_str()),
    };
    let words = words.replace('_', " ");
    let mut identifiers = vec![(Some(SYSTEM_ASSET.to_string()), a.id.clone())];
    let mut ident = vec![json!({"system": SYSTEM_ASSET, "value": a.id})];
    if let Some(t) = &a.tag {
        ident.push(json!({"system": "urn:orderly:tag", "value": t}));
        identifiers.push((Some("urn:orderly:tag".into()), t.clone()));
    }
    let mut r = json!({
        "resourceType": "Device",
        "id": id,
        "identifier": ident,
        "status": status,
        "statusReason": [{"text": words}],
        "type": {"coding": [{"system": SYSTEM_KIND, "code": a.kind}], "text": a.kind.replace('_', " ")},
    });
    if let Some(m) = &a.model {
        r["modelNumber"] = json!(m);
    }
    if let Some(s) = &a.serial {
        r["serialNumber"] = json!(s);
    }
    let mut at = Vec::new();
    let mut updated = None;
    if let Some(l) = &a.location {
        r["location"] = location_ref(&l.room);
        r["extension"] = json!([{"url": LAST_SEEN, "valueDateTime": instant(l.last_seen)}]);
        at.push(fid("room", &l.room));
        updated = Some(l.since.max(l.last_seen));
    } else if let Some(p) = &a.place {
        r["location"] = location_ref(p);
        at.push(fid("room", p));
    }
    if let Some(p) = a.device.as_deref().and_then(|d| wearers.get(d)) {
        r["patient"] = json!({"reference": format!("Patient/{}", fid("patient", p))});
    }
    if let Some(t) = updated {
        r["meta"] = meta(Some(t));
    }
    Item {
        resource: r,
        id,
        identifiers,
        updated,
        kind: Some(a.kind.clone()),
        status: Some(status.into()),
        at,
        unit: a
            .location
            .as_ref()
            .and_then(|l| l.unit.clone())
            .or(a.unit.clone()),
    }
}

/// `GH/12345` as (system, value).
fn patient_identifier(i: &str) -> (String, String) {
    match i.split_once('/') {
        Some((auth, v)) => (format!("urn:orderly:authority:{auth}"), v.to_string()),
        None => (SYSTEM_PATIENT.to_string(), i.to_string()),
    }
}

/// `YYYYMMDD` as `YYYY-MM-DD` (None when it is not one).
fn birth_date(d: &str) -> Option<String> {
    let d = d.get(..8)?;
    d.chars()
        .all(|c| c.is_ascii_digit())
        .then(|| format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..8]))
}

fn patient(p: &PatientView) -> Item {
    let id = fid("patient", &p.id);
    let mut identifiers = vec![(Some(SYSTEM_PATIENT.to_string()), p.id.clone())];
    let mut ident = vec![json!({"system": SYSTEM_PATIENT, "value": p.id})];
    for i in &p.record.identifiers {
        let (system, value) = patient_identifier(i);
        ident.push(json!({"system": system, "value": value}));
        identifiers.push((Some(system), value));
    }
    let mut name = json!({"text": p.name});
    if let Some((given, family)) = p.name.rsplit_once(' ') {
        name["family"] = json!(family);
        name["given"] = json!(given.split_whitespace().collect::<Vec<_>>());
    } else if !p.name.is_empty() {
        name["family"] = json!(p.name);
    }
    let mut r = json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": ident,
        "active": true,
        "name": [name],
    });
    if let Some(g) = p.record.sex.as_deref().and_then(|s| match s {
        "M" | "m" | "male" => Some("male"),
        "F" | "f" | "female" => Some("female"),
        "O" | "A" | "other" => Some("other"),
        "U" | "unknown" => Some("unknown"),
        _ => None,
    }) {
        r["gender"] = json!(g);
    }
    if let Some(b) = p.record.birth_date.as_deref().and_then(birth_date) {
        r["birthDate"] = json!(b);
    }
    let at = if p.bed.is_empty() {
        vec![]
    } else {
        vec![fid("bed", &p.bed)]
    };
    Item {
        resource: r,
        id,
        identifiers,
        updated: None,
        kind: None,
        status: Some("active".into()),
        at,
        unit: p.unit.clone(),
    }
}

fn encounter(p: &PatientView) -> Item {
    let id = fid("encounter", &p.id);
    let mut r = json!({
        "resourceType": "Encounter",
        "id": id,
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP", "display": "inpatient encounter"},
        "subject": {"reference": format!("Patient/{}", fid("patient", &p.id)), "display": p.name},
    });
    let mut identifiers = Vec::new();
    if let Some(v) = &p.record.visit {
        r["identifier"] = json!([{"system": "urn:orderly:visit", "value": v}]);
        identifiers.push((Some("urn:orderly:visit".to_string()), v.clone()));
    }
    let mut at = Vec::new();
    let mut places = Vec::new();
    if !p.bed.is_empty() {
        let bed = fid("bed", &p.bed);
        places.push(
            json!({"location": {"reference": format!("Location/{bed}")}, "status": "active"}),
        );
        at.push(bed);
    }
    if let Some(room) = &p.room {
        places.push(json!({"location": location_ref(room), "status": "active"}));
        at.push(fid("room", room));
    }
    if let Some(u) = &p.unit {
        at.push(fid("unit", u));
    }
    if !places.is_empty() {
        r["location"] = json!(places);
    }
    Item {
        resource: r,
        id,
        identifiers,
        updated: None,
        kind: None,
        status: Some("in-progress".into()),
        at,
        unit: p.unit.clone(),
    }
}

/// A `_lastUpdated` comparison.
fn date_test(v: &str) -> Result<(String, i64), String> {
    let (prefix, rest) = match v.get(..2) {
        Some(p @ ("eq" | "ne" | "gt" | "lt" | "ge" | "le")) => (p.to_string(), &v[2..]),
        _ => ("eq".to_string(), v),
    };
    let full = if rest.len() == 10 {
        format!("{rest}T00:00:00Z")
    } else {
        rest.to_string()
    };
    let t = Timestamp::parse_rfc3339(&full).ok_or_else(|| {
        format!("_lastUpdated {v:?} is not a date or instant (2026-12-05, ge2026-12-05T08:00:00Z)")
    })?;
    Ok((prefix, t.millis()))
}

/// The search parameters each type takes (beyond `_id`, `_lastUpdated`, `_count`, `_offset`).
fn params_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "Location" => &["identifier", "type", "status", "partof", "name"],
        "Device" => &["identifier", "type", "status", "location", "patient"],
        "Patient" => &["identifier", "name"],
        "Encounter" => &["identifier", "status", "location", "patient", "subject"],
        _ => &[],
    }
}

/// One search parameter's test.
type Test = Box<dyn Fn(&Item) -> bool>;

/// Filters `items` by the query; a parameter the type does not take, or a bad value, is an
/// error saying which.
fn search(
    kind: &str,
    items: Vec<Item>,
    q: &BTreeMap<String, String>,
) -> Result<(Vec<Item>, usize, usize), String> {
    let mut count = 50usize;
    let mut offset = 0usize;
    let mut tests: Vec<Test> = Vec::new();
    for (k, v) in q {
        let key = k.as_str();
        let any =
            |list: &str| -> Vec<String> { list.split(',').map(|s| s.trim().to_string()).collect() };
        match key {
            "_count" => {
                count = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| format!("_count {v:?} is not a number from 1 to 1000"))?
            }
            "_offset" => {
                offset = v
                    .parse()
                    .map_err(|_| format!("_offset {v:?} is not a whole number"))?
            }
            "_format"
                if matches!(
                    v.as_str(),
                    "json" | "application/fhir+json" | "application/json"
                ) => {}
            "_format" => return Err(format!("_format {v:?}: this server speaks JSON only")),
            "_id" => {
                let ids = any(v);
                tests.push(Box::new(move |i| ids.contains(&i.id)));
            }
            "_lastUpdated" => {
                let (p, t) = date_test(v)?;
                tests.push(Box::new(move |i| {
                    let Some(u) = i.updated.map(|u| u.millis()) else {
                        return false;
                    };
                    match p.as_str() {
                        "gt" => u > t,
                        "lt" => u < t,
                        "ge" => u >= t,
                        "le" => u <= t,
                        "ne" => u / 1000 != t / 1000,
                        _ => u / 1000 == t / 1000,
                    }
                }));
            }
            _ if params_of(kind).contains(&key) => {
                let values = any(v);
                if values.iter().any(String::is_empty) {
                    return Err(format!("{key} has an empty value"));
                }
                match key {
                    "identifier" => tests.push(Box::new(move |i| {
                        values.iter().any(|want| {
                            let (sys, val) = match want.split_once('|') {
                                Some((s, v)) => (Some(s), v),
                                None => (None, want.as_str()),
                            };
                            i.identifiers.iter().any(|(s, v)| {
                                v == val
                                    && sys.is_none_or(|w| w.is_empty() || s.as_deref() == Some(w))
                            })
                        })
                    })),
                    "type" => tests.push(Box::new(move |i| {
                        i.kind.as_ref().is_some_and(|k| {
                            values
                                .iter()
                                .any(|w| w.rsplit('|').next() == Some(k.as_str()))
                        })
                    })),
                    "status" => tests.push(Box::new(move |i| {
                        i.status.as_ref().is_some_and(|s| values.contains(s))
                    })),
                    "location" | "partof" => tests.push(Box::new(move |i| {
                        values.iter().any(|w| {
                            let w = w.strip_prefix("Location/").unwrap_or(w);
                            i.at.iter().any(|a| a == w)
                        })
                    })),
                    "patient" | "subject" => tests.push(Box::new(move |i| {
                        values.iter().any(|w| {
                            let w = w.strip_prefix("Patient/").unwrap_or(w);
                            let r = &i.resource;
                            let target = r["subject"]["reference"]
                                .as_str()
                                .or(r["patient"]["reference"].as_str())
                                .unwrap_or_default();
                            target.strip_prefix("Patient/") == Some(w)
                        })
                    })),
                    "name" => {
                        let values: Vec<String> = values.iter().map(|v| v.to_lowercase()).collect();
                        tests.push(Box::new(move |i| {
                            let text = match &i.resource["name"] {
                                Value::String(s) => s.to_lowercase(),
                                Value::Array(a) => a
                                    .first()
                                    .and_then(|n| n["text"].as_str())
                                    .unwrap_or_default()
                                    .to_lowercase(),
                                _ => String::new(),
                            };
                            values.iter().any(|w| {
                                text.starts_with(w.as_str())
                                    || text.split_whitespace().any(|t| t.starts_with(w.as_str()))
                            })
                        }));
                    }
                    _ => {}
                }
            }
            _ => {
                let mut known: Vec<&str> =
                    vec!["_id", "_lastUpdated", "_count", "_offset", "_format"];
                known.extend(params_of(kind));
                return Err(format!(
                    "{kind} has no search parameter {key:?} (this server takes {})",
                    known.join(", ")
                ));
            }
        }
    }
    let matched: Vec<Item> = items
        .into_iter()
        .filter(|i| tests.iter().all(|t| t(i)))
        .collect();
    Ok((matched, count, offset))
}

fn bundle(
    kind: &str,
    base: &str,
    matched: Vec<Item>,
    count: usize,
    offset: usize,
    q: &BTreeMap<String, String>,
) -> Value {
    let total = matched.len();
    let page: Vec<Value> = matched
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|i| {
            json!({
                "fullUrl": format!("{base}/{kind}/{}", i.id),
                "resource": i.resource,
                "search": {"mode": "match"},
            })
        })
        .collect();
    let link = |off: usize| {
        let mut params: Vec<String> = q
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "_offset" | "_count"))
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        params.push(format!("_count={count}"));
        params.push(format!("_offset={off}"));
        format!("{base}/{kind}?{}", params.join("&"))
    };
    let mut links = vec![json!({"relation": "self", "url": link(offset)})];
    if offset + count < total {
        links.push(json!({"relation": "next", "url": link(offset + count)}));
    }
    if offset > 0 {
        links.push(json!({"relation": "previous", "url": link(offset.saturating_sub(count))}));
    }
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": page,
    })
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'|'
            | b':'
            | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Everything of one type the caller may read (a nurse: the patients of her units).
async fn items_of(kind: &str, auth: &Auth, s: &ApiState) -> Result<Vec<Item>, Fhir> {
    let snap = s.snapshot();
    Ok(match kind {
        "Location" => locations(s, &snap),
        "Device" => {
            let wearers = wearers(&snap);
            snap.assets.values().map(|a| device(a, &wearers)).collect()
        }
        "Patient" | "Encounter" => {
            auth.require(&[Role::Admin, Role::Nurse])?;
            snap.patients
                .values()
                .map(|p| {
                    if kind == "Patient" {
                        patient(p)
                    } else {
                        encounter(p)
                    }
                })
                .filter(|i| auth.may_see_unit(i.unit.as_deref()))
                .collect()
        }
        other => {
            return Err(outcome(
                StatusCode::NOT_FOUND,
                "not-supported",
                format!("this server serves Location, Device, Patient and Encounter, not {other}"),
            ));
        }
    })
}

/// The server's base URL as the client reached it.
fn base(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/fhir/r4")
}

/// Search a type: `GET /fhir/r4/{type}?...`.
pub(crate) async fn search_type(
    auth: Result<Auth, ApiError>,
    State(s): State<ApiState>,
    Path(kind): Path<String>,
    headers: axum::http::HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let auth = auth?;
    let items = items_of(&kind, &auth, &s).await?;
    let (matched, count, offset) =
        search(&kind, items, &q).map_err(|why| outcome(StatusCode::BAD_REQUEST, "invalid", why))?;
    if matches!(kind.as_str(), "Patient" | "Encounter") {
        auth.audit(
            &s,
            "fhir.search",
            &kind,
            format!("{} matched: {:?}", matched.len(), q),
        )
        .await?;
    }
    Ok(Fhir(
        StatusCode::OK,
        bundle(&kind, &base(&headers), matched, count, offset, &q),
    ))
}

/// Read one: `GET /fhir/r4/{type}/{id}`.
pub(crate) async fn read(
    auth: Result<Auth, ApiError>,
    State(s): State<ApiState>,
    Path((kind, id)): Path<(String, String)>,
) -> Answer {
    let auth = auth?;
    let found = items_of(&kind, &auth, &s)
        .await?
        .into_iter()
        .find(|i| i.id == id);
    let Some(item) = found else {
        return Err(outcome(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no {kind} {id:?} (or not one this token may read)"),
        ));
    };
    if matches!(kind.as_str(), "Patient" | "Encounter") {
        auth.audit(&s, "fhir.read", &format!("{kind}/{id}"), String::new())
            .await?;
    }
    Ok(Fhir(StatusCode::OK, item.resource))
}

/// The CapabilityStatement: what this server does (no token needed, as FHIR clients expect).
pub(crate) async fn metadata(State(s): State<ApiState>) -> Fhir {
    let resource = |kind: &str| {
        let mut params = vec![
            json!({"name": "_id", "type": "token"}),
            json!({"name": "_lastUpdated", "type": "date"}),
            json!({"name": "_count", "type": "number"}),
        ];
        for p in params_of(kind) {
            let t = match *p {
                "location" | "partof" | "patient" | "subject" => "reference",
                "name" => "string",
                _ => "token",
            };
            params.push(json!({"name": p, "type": t}));
        }
        json!({
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": params,
        })
    };
    let resources: Vec<Value> = ["Location", "Device", "Patient", "Encounter"]
        .iter()
        .map(|k| resource(k))
        .collect();
    Fhir(
        StatusCode::OK,
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": instant((s.clock)()),
            "publisher": "Orderly",
            "kind": "instance",
            "software": {"name": "Orderly", "version": env!("CARGO_PKG_VERSION")},
            "implementation": {"description": format!("Orderly at {}", s.floorplan.site.name)},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [{
                "mode": "server",
                "documentation": "Read-only. Bearer tokens as for /api/v1: patients and encounters for admins and the nurses of their units (audited); locations and devices for every role.",
                "security": {"description": "Authorization: Bearer <token> (orderly token create)"},
                "resource": resources,
            }],
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fhir_ids() {
        assert_eq!(fid("room", "ICU-01"), "room.ICU-01");
        assert_eq!(fid("asset", "a b/c_d"), "asset.a-b-c-d");
        assert_eq!(fid("x", &"y".repeat(100)).len(), 64);
    }

    #[test]
    fn dates_and_birth_dates() {
        assert_eq!(birth_date("19800102"), Some("1980-01-02".into()));
        assert_eq!(birth_date("1980"), None);
        assert!(date_test("ge2026-12-05").is_ok());
        assert!(date_test("ge2026-12-05T08:00:00Z").is_ok());
        assert!(date_test("yesterday").is_err());
    }
}
