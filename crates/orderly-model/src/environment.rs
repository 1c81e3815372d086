//! The environment of care: what an environment sensor reports (`env/{sensor}/reading`:
//! temperature, humidity, differential pressure, door), the ranges each kind of monitored
//! space must hold (`rules/environment.toml`: a medication fridge 2-8 °C, an airborne isolation
//! room at least 2.5 Pa negative, an operating room's temperature and humidity), the records
//! the world writes (`env.excursion` when a value leaves its range and when it comes back,
//! `env.summary` per sensor and hour) and the daily log made from them, which replaces the
//! paper log. Pure.

use crate::Timestamp;
use crate::infusion::Standing;
use crate::source::{FileError, FileErrors, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Spanned;

/// One reading of an environment sensor (`env/{sensor}/reading`). A sensor sends what it
/// measures; at least one value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnvReading {
    /// Air (or fridge) temperature, °C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// Relative humidity, %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub humidity_pct: Option<f64>,
    /// Differential pressure of the room against its reference space (the corridor), Pa:
    /// negative when air flows into the room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure_pa: Option<f64>,
    /// The door (of the fridge, of the room) is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_open: Option<bool>,
    /// The sensor's battery, 0..100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battery_pct: Option<f64>,
}

/// What a sensor can measure at all: a value outside is a broken probe, never an excursion.
pub const SENSOR_RANGE: [(Quantity, f64, f64); 3] = [
    (Quantity::Temperature, -100.0, 100.0),
    (Quantity::Humidity, 0.0, 100.0),
    (Quantity::Pressure, -500.0, 500.0),
];

impl EnvReading {
    /// The values a sensor can report; anything else refuses the message as a whole.
    pub fn check_ranges(&self) -> Result<(), String> {
        for (q, lo, hi) in SENSOR_RANGE {
            if let Some(v) = self.value(q)
                && !(v.is_finite() && (lo..=hi).contains(&v))
            {
                return Err(format!(
                    "{} {v} is outside what a sensor measures ({lo}..{hi})",
                    q.field()
                ));
            }
        }
        if let Some(b) = self.battery_pct
            && !(b.is_finite() && (0.0..=100.0).contains(&b))
        {
            return Err(format!("battery_pct {b} is outside 0..100"));
        }
        if Quantity::ALL.iter().all(|q| self.value(*q).is_none()) && self.door_open.is_none() {
            return Err(
                "the reading has no value (temperature_c, humidity_pct, pressure_pa or door_open)"
                    .into(),
            );
        }
        Ok(())
    }
    pub fn value(&self, q: Quantity) -> Option<f64> {
        match q {
            Quantity::Temperature => self.temperature_c,
            Quantity::Humidity => self.humidity_pct,
            Quantity::Pressure => self.pressure_pa,
        }
    }
}

/// What a sensor measures.
#[derive(
    Clone,
    Copy,
    Debug,
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
pub enum Quantity {
    Temperature,
    Humidity,
    Pressure,
}

crate::wire_names!(Quantity {
    Temperature => "temperature",
    Humidity => "humidity",
    Pressure => "pressure",
});

impl Quantity {
    /// The field of a reading and of a profile (`temperature_c`).
    pub fn field(self) -> &'static str {
        match self {
            Quantity::Temperature => "temperature_c",
            Quantity::Humidity => "humidity_pct",
            Quantity::Pressure => "pressure_pa",
        }
    }
    pub fn unit(self) -> &'static str {
        match self {
            Quantity::Temperature => "°C",
            Quantity::Humidity => "%",
            Quantity::Pressure => "Pa",
        }
    }
}

/// The range a value must hold: outside `low..=high` is an excursion, past a hard limit is
/// acted on at once. A value equal to a limit is within it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Range {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_high: Option<f64>,
}

impl Range {
    /// Where `v` stands.
    pub fn stand(&self, v: f64) -> Standing {
        let over = |l: Option<f64>| l.is_some_and(|l| v > l);
        let under = |l: Option<f64>| l.is_some_and(|l| v < l);
        if over(self.hard_high) {
            Standing::AboveHard
        } else if under(self.hard_low) {
            Standing::BelowHard
        } else if over(self.high) {
            Standing::AboveSoft
        } else if under(self.low) {
            Standing::BelowSoft
        } else {
            Standing::Within
        }
    }
    /// The limit a value standing at `s` crossed.
    pub fn crossed(&self, s: Standing) -> Option<f64> {
        match s {
            Standing::AboveHard => self.hard_high,
            Standing::BelowHard => self.hard_low,
            Standing::AboveSoft => self.high,
            Standing::BelowSoft => self.low,
            Standing::Within | Standing::None => None,
        }
    }
    /// `2 to 8 °C`, `-50 to -15 °C`, `at most -2.5 Pa`, `at least 20 %`.
    pub fn describe(&self, q: Quantity) -> String {
        let u = q.unit();
        let (low, high) = match (self.low, self.high) {
            (None, None) => (self.hard_low, self.hard_high),
            soft => soft,
        };
        match (low, high) {
            (Some(l), Some(h)) => format!("{l} to {h} {u}"),
            (Some(l), None) => format!("at least {l} {u}"),
            (None, Some(h)) => format!("at most {h} {u}"),
            (None, None) => "any".into(),
        }
    }
}

/// What a monitored space is, for the rules (`env.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpaceKind {
    Fridge,
    Freezer,
    Isolation,
    OperatingRoom,
    Room,
}

crate::wire_names!(SpaceKind {
    Fridge => "fridge",
    Freezer => "freezer",
    Isolation => "isolation",
    OperatingRoom => "operating_room",
    Room => "room",
});

/// A kind of monitored space and the ranges it must hold (`[[profile]]` of
/// `rules/environment.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub id: String,
    pub title: String,
    pub kind: SpaceKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<Range>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub humidity_pct: Option<Range>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressure_pa: Option<Range>,
}

impl Profile {
    pub fn range(&self, q: Quantity) -> Option<&Range> {
        match q {
            Quantity::Temperature => self.temperature_c.as_ref(),
            Quantity::Humidity => self.humidity_pct.as_ref(),
            Quantity::Pressure => self.pressure_pa.as_ref(),
        }
    }
    /// Where `v` of `q` stands (`None` when the profile sets no range for it).
    pub fn stand(&self, q: Quantity, v: f64) -> Standing {
        self.range(q).map_or(Standing::None, |r| r.stand(v))
    }
}

/// The profiles of `rules/environment.toml`, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profiles(pub BTreeMap<String, Profile>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profile: Vec<RawProfile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    id: Spanned<String>,
    title: String,
    kind: Spanned<String>,
    temperature_c: Option<Spanned<Range>>,
    humidity_pct: Option<Spanned<Range>>,
    pressure_pa: Option<Spanned<Range>>,
}

/// Parses and checks `rules/environment.toml`: every problem with file, line and the fix.
pub fn parse(file: &str, text: &str) -> Result<Profiles, FileErrors> {
    let src = Source::new(file, text);
    let raw: File = src.parse_toml()?;
    let mut errors: Vec<FileError> = Vec::new();
    let mut out = BTreeMap::new();
    for p in raw.profile {
        let id = p.id.get_ref();
        let ok_id = !id.is_empty()
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok_id {
            errors.push(src.error_at(
                p.id.span().start,
                format!("profile id {id:?} is not a lower_snake_case word"),
                Some("use an id such as \"medication_fridge\"".into()),
            ));
        }
        if out.contains_key(id) {
            errors.push(src.error_at(
                p.id.span().start,
                format!("profile {id:?} is defined twice"),
                Some("keep one".into()),
            ));
        }
        let kind = match SpaceKind::parse(p.kind.get_ref()) {
            Some(k) => k,
            None => {
                let names: Vec<&str> = SpaceKind::ALL.iter().map(|k| k.as_str()).collect();
                let fix = match crate::source::suggest(p.kind.get_ref(), names.iter().copied()) {
                    Some(s) => format!("did you mean {s:?}?"),
                    None => format!("use one of {}", names.join(", ")),
                };
                errors.push(src.error_at(
                    p.kind.span().start,
                    format!("unknown kind of space {:?}", p.kind.get_ref()),
                    Some(fix),
                ));
                SpaceKind::Room
            }
        };
        let mut ranges = [None, None, None];
        for (slot, (q, r)) in ranges.iter_mut().zip([
            (Quantity::Temperature, &p.temperature_c),
            (Quantity::Humidity, &p.humidity_pct),
            (Quantity::Pressure, &p.pressure_pa),
        ]) {
            let Some(r) = r else { continue };
            match check_range(q, r.get_ref()) {
                Ok(()) => *slot = Some(*r.get_ref()),
                Err((msg, fix)) => errors.push(src.error_at(r.span().start, msg, Some(fix))),
            }
        }
        let [temperature_c, humidity_pct, pressure_pa] = ranges;
        if p.temperature_c.is_none() && p.humidity_pct.is_none() && p.pressure_pa.is_none() {
            errors.push(src.error_at(
                p.id.span().start,
                format!("profile {id:?} sets no range"),
                Some("give it temperature_c, humidity_pct or pressure_pa, e.g. temperature_c = { low = 2.0, high = 8.0 }".into()),
            ));
        }
        out.insert(
            id.clone(),
            Profile {
                id: id.clone(),
                title: p.title,
                kind,
                temperature_c,
                humidity_pct,
                pressure_pa,
            },
        );
    }
    if errors.is_empty() {
        Ok(Profiles(out))
    } else {
        Err(FileErrors(errors))
    }
}

fn check_range(q: Quantity, r: &Range) -> Result<(), (String, String)> {
    let (_, lo, hi) = SENSOR_RANGE
        .iter()
        .copied()
        .find(|(x, _, _)| *x == q)
        .unwrap_or((q, f64::MIN, f64::MAX));
    let f = q.field();
    let limits = [
        ("hard_low", r.hard_low),
        ("low", r.low),
        ("high", r.high),
        ("hard_high", r.hard_high),
    ];
    for (name, v) in limits {
        if let Some(v) = v
            && !(v.is_finite() && (lo..=hi).contains(&v))
        {
            return Err((
                format!("{f}.{name} {v} is outside what a sensor measures"),
                format!("use a value in {lo}..{hi} {}", q.unit()),
            ));
        }
    }
    if limits.iter().all(|(_, v)| v.is_none()) {
        return Err((
            format!("{f} has no limit"),
            "give it low, high, hard_low or hard_high".into(),
        ));
    }
    // In order: hard_low <= low < high <= hard_high.
    let set: Vec<(&str, f64)> = limits
        .iter()
        .filter_map(|(n, v)| v.map(|v| (*n, v)))
        .collect();
    for w in set.windows(2) {
        let ((a, x), (b, y)) = (w[0], w[1]);
        let strict = a == "low" && b == "high";
        if x > y || (strict && x == y) {
            return Err((
                format!("{f}: {a} {x} is not below {b} {y}"),
                "limits go hard_low <= low < high <= hard_high".into(),
            ));
        }
    }
    Ok(())
}

/// Which sensor, on what, where: the head of every record and log line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Place {
    pub sensor: String,
    /// The appliance the sensor is on (`4 West medication fridge`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance: Option<String>,
    pub profile: String,
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// A value out of its range, from when it left to when it came back (`env.excursion`, written
/// when it starts and again when it ends).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Excursion {
    #[serde(flatten)]
    pub place: Place,
    pub quantity: Quantity,
    /// The worst standing while out (a hard limit crossed stays on record).
    pub standing: Standing,
    /// The limit crossed (the hard one when it was).
    pub limit: f64,
    /// The range it must hold, in words.
    pub range: String,
    pub started_at: Timestamp,
    /// When it came back in range; `None` while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// The value furthest out.
    pub peak: f64,
}

impl Excursion {
    pub fn minutes(&self, now: Timestamp) -> f64 {
        self.ended_at.unwrap_or(now).since(self.started_at).max(0) as f64 / 60_000.0
    }
    /// `temperature above 8 °C for 34 min, peak 11.2 °C`.
    pub fn describe(&self, now: Timestamp) -> String {
        let side = match self.standing {
            Standing::AboveHard | Standing::AboveSoft => "above",
            _ => "below",
        };
        let u = self.quantity.unit();
        format!(
            "{} {side} {} {u} for {:.0} min, peak {:.1} {u}",
            self.quantity.as_str(),
            self.limit,
            self.minutes(now),
            self.peak
        )
    }
}

/// Minimum, maximum and mean of one quantity over a period.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stat {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub n: u32,
}

impl Stat {
    pub fn of(v: f64) -> Stat {
        Stat {
            min: v,
            max: v,
            mean: v,
            n: 1,
        }
    }
    pub fn add(&mut self, v: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.n = self.n.saturating_add(1);
        self.mean += (v - self.mean) / f64::from(self.n);
    }
    pub fn merge(a: Option<Stat>, b: Option<Stat>) -> Option<Stat> {
        match (a, b) {
            (Some(a), Some(b)) => {
                let n = a.n.saturating_add(b.n).max(1);
                Some(Stat {
                    min: a.min.min(b.min),
                    max: a.max.max(b.max),
                    mean: (a.mean * f64::from(a.n) + b.mean * f64::from(b.n)) / f64::from(n),
                    n,
                })
            }
            (a, None) => a,
            (None, b) => b,
        }
    }
}

/// One sensor's readings over one hour (`env.summary`, written when the hour is over).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    #[serde(flatten)]
    pub place: Place,
    /// The hour: from (inclusive) to (exclusive).
    pub from: Timestamp,
    pub to: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<Stat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub humidity_pct: Option<Stat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure_pa: Option<Stat>,
    /// Seconds the door was open.
    #[serde(default)]
    pub door_open_s: f64,
    pub readings: u32,
}

impl Summary {
    pub fn stat_mut(&mut self, q: Quantity) -> &mut Option<Stat> {
        match q {
            Quantity::Temperature => &mut self.temperature_c,
            Quantity::Humidity => &mut self.humidity_pct,
            Quantity::Pressure => &mut self.pressure_pa,
        }
    }
}

/// The start of the hour `t` is in.
pub fn hour_of(t: Timestamp) -> Timestamp {
    Timestamp(t.0.div_euclid(3_600_000) * 3_600_000)
}

const DAY_MS: i64 = 86_400_000;

/// One line of the daily log: a sensor's day (UTC), as the paper log had it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    #[serde(flatten)]
    pub place: Place,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<Stat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub humidity_pct: Option<Stat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure_pa: Option<Stat>,
    pub door_open_minutes: f64,
    pub readings: u32,
    /// Hours of the day with readings (24 on a full day; fewer: the sensor was silent or
    /// Orderly was not running).
    pub hours: u32,
    /// Excursions that were under way on the day (one that spans midnight is on both days).
    pub excursions: Vec<Excursion>,
    /// Minutes out of range on the day.
    pub minutes_out: f64,
}

/// The daily log from hourly summaries and excursions (`now` ends those still under way), one
/// line per sensor and day with any summary or excursion, ordered by day then sensor.
pub fn daily_log(summaries: &[Summary], excursions: &[Excursion], now: Timestamp) -> Vec<Day> {
    let mut days: BTreeMap<(i64, String), Day> = BTreeMap::new();
    let day_of = |t: Timestamp| t.0.div_euclid(DAY_MS);
    let blank = |d: i64, place: &Place| Day {
        date: Timestamp(d * DAY_MS).to_rfc3339()[..10].to_string(),
        place: place.clone(),
        temperature_c: None,
        humidity_pct: None,
        pressure_pa: None,
        door_open_minutes: 0.0,
        readings: 0,
        hours: 0,
        excursions: Vec::new(),
        minutes_out: 0.0,
    };
    for s in summaries {
        let d = day_of(s.from);
        let day = days
            .entry((d, s.place.sensor.clone()))
            .or_insert_with(|| blank(d, &s.place));
        day.temperature_c = Stat::merge(day.temperature_c, s.temperature_c);
        day.humidity_pct = Stat::merge(day.humidity_pct, s.humidity_pct);
        day.pressure_pa = Stat::merge(day.pressure_pa, s.pressure_pa);
        day.door_open_minutes += s.door_open_s / 60.0;
        day.readings = day.readings.saturating_add(s.readings);
        day.hours += 1;
    }
    for x in excursions {
        let end = x.ended_at.unwrap_or(now).max(x.started_at);
        let (first, last) = (day_of(x.started_at), day_of(end));
        for d in first..=last.min(first + 366) {
            let day = days
                .entry((d, x.place.sensor.clone()))
                .or_insert_with(|| blank(d, &x.place));
            let from = x.started_at.0.max(d * DAY_MS);
            let to = end.0.min((d + 1) * DAY_MS);
            day.minutes_out += (to - from).max(0) as f64 / 60_000.0;
            day.excursions.push(x.clone());
        }
    }
    days.into_values()
        .map(|mut d| {
            d.door_open_minutes = (d.door_open_minutes * 10.0).round() / 10.0;
            d.minutes_out = (d.minutes_out * 10.0).round() / 10.0;
            d
        })
        .collect()
}

/// The daily log as CSV, one line per sensor and day (excursions counted and described).
pub fn to_csv(days: &[Day], now: Timestamp) -> String {
    let mut out = String::from(
        "date,sensor,appliance,room,unit,profile,temperature_min_c,temperature_max_c,humidity_min_pct,humidity_max_pct,pressure_min_pa,pressure_max_pa,door_open_minutes,readings,hours,excursions,minutes_out,excursion_detail\n",
    );
    let q = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let num = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
    for d in days {
        let detail: Vec<String> = d
            .excursions
            .iter()
            .map(|x| format!("{} from {}", x.describe(now), x.started_at.to_rfc3339()))
            .collect();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{},{},{:.1},{}\n",
            d.date,
            q(&d.place.sensor),
            q(d.place.appliance.as_deref().unwrap_or("")),
            q(&d.place.room),
            q(d.place.unit.as_deref().unwrap_or("")),
            q(&d.place.profile),
            num(d.temperature_c.map(|s| s.min)),
            num(d.temperature_c.map(|s| s.max)),
            num(d.humidity_pct.map(|s| s.min)),
            num(d.humidity_pct.map(|s| s.max)),
            num(d.pressure_pa.map(|s| s.min)),
            num(d.pressure_pa.map(|s| s.max)),
            d.door_open_minutes,
            d.readings,
            d.hours,
            d.excursions.len(),
            d.minutes_out,
            q(&detail.join("; ")),
        ));
    }
    out
}

#[cfg(test)]
mod tests;
