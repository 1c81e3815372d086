//! Vital signs and NEWS2 (issue 22): each patient's observations from their wearable or a
//! spot check (`wearable/{id}/vitals`), scored with `orderly_model::news2` as the RCP chart
//! scores them. A continuous sensor's value is the median of its good-quality readings over
//! the last `window_s` (a short dip, motion or a probe off is no score); a spot check counts at
//! once. The `patient.news2*` facts let the rules in `rules/vitals.toml` raise the chart's
//! responses, a rising trend, and observations overdue for the band's minimum frequency (not
//! while the patient is off the unit, outside Orderly's beds).

use crate::facts::{FactCtx, FactProviders, FactSheet, watch};
use crate::ingest::VitalsIn;
use crate::locate::Location;
use crate::outbox::Outbox;
use crate::registry::{AssetInfo, PatientInfo, Registry};
use crate::{Capability, Clock, Phase, Site};
use bevy_ecs::prelude::*;
use orderly_model::news2::{self, Charted, Consciousness, News2, Observations, SpO2Scale};
use orderly_model::reading::{Quality, VitalsMode};
use orderly_model::{EventKind, Timestamp};
use orderly_rules::Fact;
use serde::Deserialize;
use std::collections::VecDeque;

/// Parameters (`[vitals]` in `rules/detectors.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VitalsConfig {
    /// A continuous sensor's value is the median of its good readings over this window, s.
    pub window_s: u32,
    /// A value older than this is not part of the set, minutes.
    pub max_age_min: u32,
    /// The trend: the aggregate now against the lowest within this many hours.
    pub trend_h: u32,
    /// Skip continuous values the device flags as poor quality (off only to measure what the
    /// flag is worth: `cargo xtask eval vitals`).
    pub use_quality: bool,
    /// A score from continuous sensors counts once it has held this long (the lowest of the
    /// scores within it counts), s; a spot check counts at once.
    pub persist_s: u32,
    /// A continuous sensor's values are charted (`patient.observed`) this often, and whenever
    /// the score changes, s; a spot check is charted as it comes.
    pub chart_every_s: u32,
}

impl Default for VitalsConfig {
    fn default() -> Self {
        VitalsConfig {
            window_s: 300,
            max_age_min: 12 * 60,
            trend_h: 4,
            use_quality: true,
            persist_s: 120,
            chart_every_s: 300,
        }
    }
}

#[derive(Resource, Clone)]
struct VitalsParams(VitalsConfig);

/// The five numeric parameters, in this order.
const PARAMS: [&str; 5] = [
    "respiration_rate",
    "spo2",
    "systolic",
    "pulse",
    "temperature_c",
];

/// A patient's vital signs and score.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct VitalSigns {
    /// Continuous readings of good quality within the window, per parameter.
    window: [VecDeque<(Timestamp, f64)>; 5],
    /// The value each parameter counts with, and when it was taken.
    value: [Option<(Timestamp, f64)>; 5],
    on_oxygen: Option<(Timestamp, bool)>,
    consciousness: Option<(Timestamp, Consciousness)>,
    /// The latest score and when its newest value was taken.
    pub news: Option<News2>,
    pub scored_at: Option<Timestamp>,
    /// Aggregates within the trend window (for the rise).
    history: VecDeque<(Timestamp, u8)>,
    /// Scores within the persistence window (continuous), the lowest of which counts.
    recent: VecDeque<(Timestamp, News2)>,
    /// The last message was a spot check.
    spot: bool,
    pub rise: u8,
    /// The next observations are due by then (the band's minimum frequency).
    pub due_at: Option<Timestamp>,
    pub overdue: bool,
    diastolic: Option<(Timestamp, f64)>,
    o2_flow: Option<(Timestamp, f64)>,
    /// What measured the newest values.
    source: String,
    /// The last set charted: when its newest value was taken, and its score.
    charted: Option<(Timestamp, News2)>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl VitalSigns {
    /// Takes one message's values.
    fn take(
        &mut self,
        ts: Timestamp,
        v: &orderly_model::reading::Vitals,
        window_ms: i64,
        use_quality: bool,
    ) {
        let values = [
            v.respiration_rate,
            v.spo2,
            v.systolic,
            v.pulse,
            v.temperature_c,
        ];
        self.spot = v.mode == VitalsMode::Spot;
        for (i, x) in values.into_iter().enumerate() {
            let Some(x) = x else { continue };
            match v.mode {
                VitalsMode::Spot => {
                    self.window[i].clear();
                    self.value[i] = Some((ts, x));
                }
                VitalsMode::Continuous => {
                    if use_quality && v.quality.get(PARAMS[i]) == Some(&Quality::Poor) {
                        continue;
                    }
                    let w = &mut self.window[i];
                    w.push_back((ts, x));
                    while w.front().is_some_and(|(t, _)| ts.since(*t) > window_ms) {
                        w.pop_front();
                    }
                    let mut xs: Vec<f64> = w.iter().map(|(_, x)| *x).collect();
                    self.value[i] = Some((ts, median(&mut xs)));
                }
            }
        }
        if let Some(o) = v.on_oxygen {
            self.on_oxygen = Some((ts, o));
        }
        if let Some(x) = v.diastolic {
            self.diastolic = Some((ts, x));
        }
        if let Some(x) = v.o2_flow_lpm {
            self.o2_flow = Some((ts, x));
        }
        if let Some(c) = v.consciousness {
            self.consciousness = Some((ts, c));
        }
    }

    /// Scores what is recent enough.
    fn rescore(&mut self, now: Timestamp, scale: SpO2Scale, cfg: &VitalsConfig) {
        let max_age = i64::from(cfg.max_age_min) * 60_000;
        let fresh = |x: Option<(Timestamp, f64)>| x.filter(|(t, _)| now.since(*t) <= max_age);
        let vals: Vec<Option<(Timestamp, f64)>> = self.value.iter().map(|v| fresh(*v)).collect();
        let on_oxygen = self.on_oxygen.filter(|(t, _)| now.since(*t) <= max_age);
        let cons = self.consciousness.filter(|(t, _)| now.since(*t) <= max_age);
        let obs = Observations {
            respiration_rate: vals[0].map(|x| x.1),
            spo2: vals[1].map(|x| x.1),
            on_oxygen: on_oxygen.map(|x| x.1),
            systolic: vals[2].map(|x| x.1),
            pulse: vals[3].map(|x| x.1),
            consciousness: cons.map(|x| x.1),
            temperature_c: vals[4].map(|x| x.1),
        };
        let newest = vals
            .iter()
            .flatten()
            .map(|x| x.0)
            .chain(on_oxygen.map(|x| x.0))
            .chain(cons.map(|x| x.0))
            .max();
        let Some(at) = newest else {
            // Too old to score: no score, but the observations are still due when they were.
            self.news = None;
            self.scored_at = None;
            return;
        };
        // The contract checked the ranges; a value that still fails is not scored.
        let Ok(n) = news2::score(&obs, scale) else {
            return;
        };
        // Persistence: a continuous score counts once it has held `persist_s`; a spot check
        // (a nurse's set) counts at once.
        if self.spot {
            self.recent.clear();
        }
        self.recent.push_back((at, n));
        let persist_ms = i64::from(cfg.persist_s) * 1000;
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| at.since(*t) > persist_ms)
        {
            self.recent.pop_front();
        }
        let key = |n: &News2| (n.aggregate, n.sub.all().iter().flatten().any(|s| *s == 3));
        let n = self
            .recent
            .iter()
            .map(|(_, n)| *n)
            .min_by_key(key)
            .unwrap_or(n);
        self.stand(at, n, cfg);
    }

    /// `n`, scored from values taken up to `at`, is the score: observations are due by its
    /// band, and it joins the trend.
    fn stand(&mut self, at: Timestamp, n: News2, cfg: &VitalsConfig) {
        self.news = Some(n);
        self.scored_at = Some(at);
        self.due_at = Some(Timestamp(
            at.millis() + i64::from(n.response.observe_within_min()) * 60_000,
        ));
        let trend_ms = i64::from(cfg.trend_h) * 3_600_000;
        self.history.push_back((at, n.aggregate));
        while self
            .history
            .front()
            .is_some_and(|(t, _)| at.since(*t) > trend_ms)
        {
            self.history.pop_front();
        }
        let low = self.history.iter().map(|(_, a)| *a).min().unwrap_or(0);
        self.rise = n.aggregate.saturating_sub(low);
    }

    /// The set to chart now, if any: a spot check at once; a continuous sensor's values every
    /// `chart_every_s` and whenever the score changes.
    fn take_chart(&mut self, cfg: &VitalsConfig) -> Option<(Timestamp, Observations, News2)> {
        let (n, at) = (self.news?, self.scored_at?);
        let due = match self.charted {
            None => true,
            Some((t, old)) => {
                old.aggregate != n.aggregate
                    || old.response != n.response
                    || (at > t && (self.spot || at.since(t) >= i64::from(cfg.chart_every_s) * 1000))
            }
        };
        if !due {
            return None;
        }
        self.charted = Some((at, n));
        let max_age = i64::from(cfg.max_age_min) * 60_000;
        let fresh =
            |x: Option<(Timestamp, f64)>| x.filter(|(t, _)| at.since(*t) <= max_age).map(|x| x.1);
        Some((
            at,
            Observations {
                respiration_rate: fresh(self.value[0]),
                spo2: fresh(self.value[1]),
                on_oxygen: self
                    .on_oxygen
                    .filter(|(t, _)| at.since(*t) <= max_age)
                    .map(|x| x.1),
                systolic: fresh(self.value[2]),
                pulse: fresh(self.value[3]),
                consciousness: self
                    .consciousness
                    .filter(|(t, _)| at.since(*t) <= max_age)
                    .map(|x| x.1),
                temperature_c: fresh(self.value[4]),
            },
            n,
        ))
    }

    /// Takes back a charted set after a restart (sets oldest first): its values count as
    /// measured then, its score stands until the next, its observations are due as it said.
    fn restore(&mut self, c: &orderly_model::news2::Charted, cfg: &VitalsConfig) {
        let at = c.taken_at;
        let o = &c.obs;
        // Taken back as a set measured then (no window to fill), whatever measured it.
        let set = orderly_model::reading::Vitals {
            mode: VitalsMode::Spot,
            respiration_rate: o.respiration_rate,
            spo2: o.spo2,
            on_oxygen: o.on_oxygen,
            o2_flow_lpm: c.o2_flow_lpm,
            systolic: o.systolic,
            diastolic: c.diastolic,
            pulse: o.pulse,
            temperature_c: o.temperature_c,
            consciousness: o.consciousness,
            quality: Default::default(),
        };
        self.take(at, &set, 0, false);
        self.spot = c.mode == VitalsMode::Spot;
        self.source = c.source.clone();
        self.charted = Some((at, c.news));
        self.recent.clear();
        self.stand(at, c.news, cfg);
    }

    /// The sub-scores in words, for a rule's message.
    pub fn detail(&self) -> String {
        let Some(n) = &self.news else {
            return String::new();
        };
        let mut parts = Vec::new();
        let names = ["RR", "SpO2", "systolic", "pulse", "temp"];
        let subs = [
            n.sub.respiration_rate,
            n.sub.spo2,
            n.sub.systolic,
            n.sub.pulse,
            n.sub.temperature,
        ];
        for i in 0..5 {
            if let (Some((_, v)), Some(s)) = (self.value[i], subs[i]) {
                let v = if i == 4 {
                    format!("{v:.1}")
                } else {
                    format!("{:.0}", v.round())
                };
                parts.push(format!("{} {v} ({s})", names[i]));
            }
        }
        if let (Some((_, o)), Some(s)) = (self.on_oxygen, n.sub.air_or_oxygen) {
            parts.push(format!("{} ({s})", if o { "on oxygen" } else { "on air" }));
        }
        if let (Some((_, c)), Some(s)) = (self.consciousness, n.sub.consciousness) {
            let c = match c {
                Consciousness::Alert => "alert",
                Consciousness::NewConfusion => "new confusion",
                Consciousness::Voice => "responds to voice",
                Consciousness::Pain => "responds to pain",
                Consciousness::Unresponsive => "unresponsive",
            };
            parts.push(format!("{c} ({s})"));
        }
        parts.join(", ")
    }
}

pub struct VitalsPlugin;

impl Capability for VitalsPlugin {
    fn name(&self) -> &'static str {
        "vitals"
    }
    fn configure(&self, world: &mut World, config: &crate::WorldConfig) {
        world.insert_resource(VitalsParams(config.vitals.clone()));
    }
    fn build(&self, world: &mut World, schedule: &mut Schedule, config: &crate::WorldConfig) {
        world.insert_resource(VitalsParams(config.vitals.clone()));
        world.resource_mut::<FactProviders>().add(
            self.name(),
            &[(
                "patient",
                &[
                    "news2_scored",
                    "news2",
                    "news2_complete",
                    "news2_response",
                    "news2_rise",
                    "news2_detail",
                    "obs_overdue",
                ],
            )],
            vitals_facts,
        );
        watch::<VitalSigns>(schedule);
        let patients: Vec<Entity> = world
            .query_filtered::<Entity, With<PatientInfo>>()
            .iter(world)
            .collect();
        for e in patients {
            world.entity_mut(e).insert(VitalSigns::default());
        }
        world.add_observer(
            |on: On<Insert<PatientInfo>>, q: Query<Has<VitalSigns>>, mut commands: Commands| {
                if q.get(on.entity).is_ok_and(|has| !has) {
                    commands.entity(on.entity).insert(VitalSigns::default());
                }
            },
        );
        schedule.add_systems(score.in_set(Phase::Derive));
    }

    /// Each patient's charted sets of the last 12 hours, oldest first: the score, its trend
    /// and when observations are due carry on as before the restart.
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        world.flush();
        let cfg = world.resource::<VitalsParams>().0.clone();
        for c in &restored.observed {
            let Some(e) = world
                .resource::<Registry>()
                .subjects
                .get(&c.patient)
                .copied()
            else {
                continue;
            };
            if !world.entity(e).contains::<PatientInfo>() {
                continue;
            }
            if let Some(mut v) = world.get_mut::<VitalSigns>(e) {
                v.restore(c, &cfg);
            } else {
                let mut v = VitalSigns::default();
                v.restore(c, &cfg);
                world.entity_mut(e).insert(v);
            }
        }
    }
}

/// Where a patient is, for what Orderly writes about them, and where it is written.
#[derive(bevy_ecs::system::SystemParam)]
struct Places<'w, 's> {
    site: Res<'w, Site>,
    registry: Res<'w, Registry>,
    beds: Query<'w, 's, (&'static AssetInfo, Option<&'static Location>)>,
    outbox: ResMut<'w, Outbox>,
}

impl Places<'_, '_> {
    /// The unit of the patient's bed (where it is, else its home unit).
    fn unit_of_bed(&self, bed: &str) -> Option<String> {
        let e = self.registry.subjects.get(bed)?;
        let (info, loc) = self.beds.get(*e).ok()?;
        crate::status::unit_and_room(&self.site, info, loc).1
    }
}

fn score(
    clock: Res<Clock>,
    cfg: Res<VitalsParams>,
    mut input: MessageReader<VitalsIn>,
    mut patients: Query<(&PatientInfo, &mut VitalSigns)>,
    rescaled: Query<Entity, (Changed<PatientInfo>, With<VitalSigns>)>,
    mut last_sweep: Local<Option<Timestamp>>,
    mut places: Places,
) {
    let now = clock.now;
    let cfg = &cfg.0;
    let window_ms = i64::from(cfg.window_s) * 1000;
    // A patient whose record changed (SpO2 scale 2 marked or cleared) is scored again at once.
    let mut touched: Vec<Entity> = rescaled.iter().collect();
    for m in input.read() {
        if let Ok((_, mut v)) = patients.get_mut(m.patient) {
            v.take(m.ts, &m.vitals, window_ms, cfg.use_quality);
            v.source.clone_from(&m.source);
            touched.push(m.patient);
        }
    }
    touched.sort_unstable();
    touched.dedup();
    for e in touched {
        if let Ok((p, mut v)) = patients.get_mut(e) {
            let scale = if p.0.record.hypercapnic {
                SpO2Scale::Two
            } else {
                SpO2Scale::One
            };
            v.rescore(now, scale, cfg);
            // Off the unit (theatre, imaging: outside Orderly's beds) nothing is overdue here.
            let overdue = !p.0.bed.is_empty() && v.due_at.is_some_and(|d| now > d);
            if v.overdue != overdue {
                v.overdue = overdue;
            }
            if let Some((taken_at, obs, news)) = v.take_chart(cfg) {
                let bed = (!p.0.bed.is_empty()).then(|| p.0.bed.clone());
                let unit = bed.as_deref().and_then(|b| places.unit_of_bed(b));
                places.outbox.push(
                    now,
                    EventKind::PatientObserved(Box::new(Charted {
                        patient: p.0.id.clone(),
                        unit,
                        bed,
                        source: v.source.clone(),
                        mode: if v.spot {
                            VitalsMode::Spot
                        } else {
                            VitalsMode::Continuous
                        },
                        taken_at,
                        obs,
                        o2_flow_lpm: v.o2_flow.map(|x| x.1),
                        diastolic: v.diastolic.map(|x| x.1),
                        scale,
                        news,
                    })),
                );
            }
        }
    }
    // Time passing: observations becoming overdue, once every 30 s.
    if last_sweep.is_none_or(|t| now.since(t) >= 30_000 || now < t) {
        *last_sweep = Some(now);
        for (p, mut v) in &mut patients {
            let overdue = !p.0.bed.is_empty() && v.due_at.is_some_and(|d| now > d);
            if v.overdue != overdue {
                v.overdue = overdue;
            }
        }
    }
}

fn vitals_facts(ctx: &FactCtx<'_>, f: &mut FactSheet) {
    if !ctx.wants("patient") {
        return;
    }
    let v = ctx.of_patient::<VitalSigns>();
    let n = v.and_then(|v| v.news.as_ref());
    let g = "patient";
    f.set(g, "news2_scored", Fact::Bool(n.is_some()));
    f.set(
        g,
        "news2",
        Fact::Int(n.map_or(0, |n| i64::from(n.aggregate))),
    );
    f.set(
        g,
        "news2_complete",
        Fact::Bool(n.is_some_and(|n| n.complete)),
    );
    f.set(
        g,
        "news2_response",
        Fact::String(n.map_or("none", |n| n.response.as_str()).to_string()),
    );
    f.set(
        g,
        "news2_rise",
        Fact::Int(v.map_or(0, |v| i64::from(v.rise))),
    );
    f.set(
        g,
        "news2_detail",
        Fact::String(v.map(VitalSigns::detail).unwrap_or_default()),
    );
    f.set(g, "obs_overdue", Fact::Bool(v.is_some_and(|v| v.overdue)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderly_model::reading::Vitals;

    fn t(s: i64) -> Timestamp {
        Timestamp(1_000_000_000 + s * 1000)
    }

    /// A short dip in SpO2 (under half the window) never moves the median; a poor-signal value
    /// is never counted; a spot check counts at once.
    #[test]
    fn a_short_dip_or_a_poor_signal_is_no_score_and_a_spot_check_counts_at_once() {
        let cfg = VitalsConfig::default();
        let mut v = VitalSigns::default();
        let feed = |v: &mut VitalSigns, s: i64, spo2: f64, poor: bool| {
            let mut m = Vitals {
                spo2: Some(spo2),
                pulse: Some(80.0),
                ..Vitals::default()
            };
            if poor {
                m.quality.insert("spo2".into(), Quality::Poor);
            }
            v.take(t(s), &m, 300_000, true);
            v.rescore(t(s), SpO2Scale::One, &cfg);
        };
        for s in (0..300).step_by(10) {
            feed(&mut v, s, 97.0, false);
        }
        for s in (300..400).step_by(10) {
            feed(&mut v, s, 86.0, false);
        }
        assert_eq!(v.news.unwrap().sub.spo2, Some(0), "a 100 s dip");
        feed(&mut v, 400, 70.0, true);
        assert_eq!(v.news.unwrap().sub.spo2, Some(0), "poor signal");
        v.take(
            t(410),
            &Vitals {
                mode: VitalsMode::Spot,
                spo2: Some(90.0),
                ..Vitals::default()
            },
            300_000,
            true,
        );
        v.rescore(t(410), SpO2Scale::One, &cfg);
        assert_eq!(v.news.unwrap().sub.spo2, Some(3), "a spot check at once");
    }
}
