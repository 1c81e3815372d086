//! Simulated vital signs for a ward, with the truth beside them (issue 22): each patient's
//! physiology around their own baseline, deterioration episodes (a slow drift over hours,
//! sepsis-like: breathing and pulse up, saturation and pressure down, fever; then recovery),
//! a wearable's continuous readings (respiration, SpO2, pulse each minute, with noise),
//! nurses' spot checks (a full set every four hours), and artefacts: motion and a probe off
//! (SpO2 falling, pulse jumping for a minute or a few), flagged poor by the device most of the
//! time but not always. Deterministic for a seed.

use orderly_model::Timestamp;
use orderly_model::news2::{self, Consciousness, Observations, SpO2Scale};
use orderly_model::reading::{Quality, Vitals, VitalsMode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What the ward simulation is.
#[derive(Clone, Debug)]
pub struct WardConfig {
    pub seed: u64,
    pub days: f64,
    /// Deterioration episodes per patient per day.
    pub episodes_per_day: f64,
    /// Motion artefacts and probes off per patient per day.
    pub artefacts_per_day: f64,
    /// How often the device flags an artefact as poor quality.
    pub flagged: f64,
    /// Seconds between a wearable's readings.
    pub period_s: i64,
    /// Hours between nurses' full observation sets.
    pub spot_every_h: f64,
}

impl Default for WardConfig {
    fn default() -> Self {
        WardConfig {
            seed: 1,
            days: 3.0,
            episodes_per_day: 0.15,
            artefacts_per_day: 6.0,
            flagged: 0.7,
            period_s: 60,
            spot_every_h: 4.0,
        }
    }
}

/// A deterioration: the drift starts at `onset`, is whole after `ramp_ms`, lasts, then
/// recovers.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    pub patient: usize,
    pub onset: Timestamp,
    pub ramp_ms: i64,
    pub plateau_ms: i64,
    pub recover_ms: i64,
    /// How far it goes (1.0: the full drift).
    pub depth: f64,
}

impl Episode {
    /// 0..1: how far into the drift the patient is at `t`.
    fn level(&self, t: Timestamp) -> f64 {
        let dt = t.since(self.onset);
        if dt < 0 {
            return 0.0;
        }
        let (r, p, c) = (self.ramp_ms, self.plateau_ms, self.recover_ms);
        let x = if dt < r {
            dt as f64 / r as f64
        } else if dt < r + p {
            1.0
        } else if dt < r + p + c {
            1.0 - (dt - r - p) as f64 / c as f64
        } else {
            0.0
        };
        x * self.depth
    }
    pub fn end(&self) -> Timestamp {
        Timestamp(self.onset.millis() + self.ramp_ms + self.plateau_ms + self.recover_ms)
    }
}

#[derive(Clone, Debug)]
struct Baseline {
    rr: f64,
    spo2: f64,
    sbp: f64,
    pulse: f64,
    temp: f64,
}

/// One reading as a device sends it.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Timestamp,
    pub patient: usize,
    pub vitals: Vitals,
    /// An artefact's reading (the truth: not the patient's physiology).
    pub artefact: bool,
}

/// The simulated ward: what the devices send, in time order, and the truth.
pub struct Ward {
    pub sent: Vec<Sent>,
    pub episodes: Vec<Episode>,
    base: Vec<Baseline>,
    start: Timestamp,
}

impl Baseline {
    fn draw(rng: &mut StdRng) -> Baseline {
        Baseline {
            rr: 15.0 + gauss(rng, 1.5),
            spo2: (97.0 + gauss(rng, 0.8)).min(99.5),
            sbp: 125.0 + gauss(rng, 8.0),
            pulse: 74.0 + gauss(rng, 6.0),
            temp: 36.8 + gauss(rng, 0.2),
        }
    }

    /// The physiology `x` (0..1) of the way into a deterioration.
    fn at(&self, x: f64) -> Observations {
        Observations {
            respiration_rate: Some(self.rr + 12.0 * x),
            spo2: Some(self.spo2 - 8.0 * x),
            on_oxygen: Some(false),
            systolic: Some(self.sbp - 35.0 * x),
            pulse: Some(self.pulse + 45.0 * x),
            consciousness: Some(if x > 0.85 {
                Consciousness::NewConfusion
            } else {
                Consciousness::Alert
            }),
            temperature_c: Some(self.temp + 2.2 * x),
        }
    }
}

/// A wearable's continuous reading of `truth` (respiration, SpO2, pulse, with noise); during
/// an artefact (probe off or motion, flagged or not) what the sensor then reads.
fn sensor_reading(
    rng: &mut StdRng,
    truth: &Observations,
    artefact: Option<(bool, bool)>,
) -> Vitals {
    let mut v = Vitals {
        mode: VitalsMode::Continuous,
        respiration_rate: truth
            .respiration_rate
            .map(|x| (x + gauss(rng, 1.0)).round()),
        spo2: truth
            .spo2
            .map(|x| (x + gauss(rng, 0.6)).round().clamp(20.0, 100.0)),
        pulse: truth.pulse.map(|x| (x + gauss(rng, 2.5)).round()),
        ..Vitals::default()
    };
    if let Some((probe_off, flagged)) = artefact {
        let drop = if probe_off {
            rng.random_range(30.0..45.0)
        } else {
            rng.random_range(8.0..18.0)
        };
        v.spo2 = v.spo2.map(|s| (s - drop).clamp(20.0, 100.0));
        v.pulse = v
            .pulse
            .map(|x| (x + rng.random_range(20.0..45.0)).min(250.0));
        if flagged {
            v.quality.insert("spo2".into(), Quality::Poor);
            v.quality.insert("pulse".into(), Quality::Poor);
        }
    }
    v
}

/// A nurse's full set: the true values, read as a nurse reads them.
fn spot_set(truth: &Observations) -> Vitals {
    Vitals {
        mode: VitalsMode::Spot,
        respiration_rate: truth.respiration_rate.map(f64::round),
        spo2: truth.spo2.map(|s| s.round().clamp(20.0, 100.0)),
        on_oxygen: truth.on_oxygen,
        systolic: truth.systolic.map(f64::round),
        pulse: truth.pulse.map(f64::round),
        temperature_c: truth.temperature_c.map(|x| (x * 10.0).round() / 10.0),
        consciousness: truth.consciousness,
        ..Vitals::default()
    }
}

impl Ward {
    /// The patient's true physiology at `t` (no noise, no artefact).
    pub fn truth(&self, patient: usize, t: Timestamp) -> Observations {
        let x: f64 = self
            .episodes
            .iter()
            .filter(|e| e.patient == patient)
            .map(|e| e.level(t))
            .fold(0.0, f64::max);
        self.base[patient].at(x)
    }

    /// The true NEWS2 at `t`.
    pub fn true_score(&self, patient: usize, t: Timestamp) -> news2::News2 {
        let mut o = self.truth(patient, t);
        o.spo2 = o.spo2.map(|s| s.clamp(20.0, 100.0));
        news2::score(&o, SpO2Scale::One).expect("the truth is in range")
    }

    pub fn start(&self) -> Timestamp {
        self.start
    }
}

fn gauss(rng: &mut StdRng, sd: f64) -> f64 {
    // Box-Muller.
    let u1: f64 = rng.random_range(1e-9..1.0);
    let u2: f64 = rng.random_range(0.0..1.0);
    sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Simulates `patients` patients for `cfg.days` from `start`.
pub fn ward(cfg: &WardConfig, patients: usize, start: Timestamp) -> Ward {
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x7175_1735);
    let span_ms = (cfg.days * 86_400_000.0) as i64;
    let base: Vec<Baseline> = (0..patients).map(|_| Baseline::draw(&mut rng)).collect();
    let mut episodes = Vec::new();
    let mut artefacts: Vec<(usize, Timestamp, i64, bool, bool)> = Vec::new();
    for p in 0..patients {
        let n = (cfg.episodes_per_day * cfg.days).floor() as usize
            + usize::from(rng.random_bool((cfg.episodes_per_day * cfg.days).fract()));
        for _ in 0..n {
            let onset = Timestamp(start.millis() + rng.random_range(0..span_ms.max(1)));
            episodes.push(Episode {
                patient: p,
                onset,
                ramp_ms: rng.random_range(2..7) * 3_600_000,
                plateau_ms: 2 * 3_600_000,
                recover_ms: 3 * 3_600_000,
                depth: rng.random_range(0.6..1.0),
            });
        }
        let k = (cfg.artefacts_per_day * cfg.days).round() as usize;
        for _ in 0..k {
            let at = Timestamp(start.millis() + rng.random_range(0..span_ms.max(1)));
            let len = rng.random_range(1..5) * 60_000;
            let probe_off = rng.random_bool(0.3);
            let flagged = rng.random_bool(cfg.flagged);
            artefacts.push((p, at, len, probe_off, flagged));
        }
    }
    let mut w = Ward {
        sent: Vec::new(),
        episodes,
        base,
        start,
    };
    let period = cfg.period_s.max(1) * 1000;
    let spot = (cfg.spot_every_h * 3_600_000.0) as i64;
    let mut t = start;
    let end = Timestamp(start.millis() + span_ms);
    // Each patient's spot checks at their own offset in the round.
    let offsets: Vec<i64> = (0..patients)
        .map(|_| rng.random_range(0..spot.max(1)))
        .collect();
    let mut next_spot: Vec<Timestamp> = offsets
        .iter()
        .map(|o| Timestamp(start.millis() + o))
        .collect();
    while t < end {
        #[allow(
            clippy::needless_range_loop,
            reason = "p indexes the truth, the artefacts and the spot times alike"
        )]
        for p in 0..patients {
            let truth = w.truth(p, t);
            let art = artefacts
                .iter()
                .find(|(q, at, len, ..)| *q == p && t >= *at && t.since(*at) < *len);
            let v = sensor_reading(
                &mut rng,
                &truth,
                art.map(|(_, _, _, off, flagged)| (*off, *flagged)),
            );
            w.sent.push(Sent {
                at: t,
                patient: p,
                vitals: v,
                artefact: art.is_some(),
            });
            if next_spot[p] <= t {
                next_spot[p] = Timestamp(next_spot[p].millis() + spot);
                // A nurse's set: the true values, read as a nurse reads them.
                w.sent.push(Sent {
                    at: t,
                    patient: p,
                    vitals: spot_set(&truth),
                    artefact: false,
                });
            }
        }
        t = Timestamp(t.millis() + period);
    }
    w
}

/// How the live simulator's patients' vital signs go.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    /// A continuous sensor's period, ms.
    pub period_ms: i64,
    pub episodes_per_day: f64,
    pub artefacts_per_day: f64,
    /// How often the device flags an artefact as poor quality.
    pub flagged: f64,
    /// Hours between a nurse's rounds (a full set per patient).
    pub spot_every_h: f64,
    /// A bedside monitor's blood pressure cycle, minutes.
    pub nibp_every_min: i64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            period_ms: 5000,
            episodes_per_day: 0.15,
            artefacts_per_day: 6.0,
            flagged: 0.7,
            spot_every_h: 4.0,
            nibp_every_min: 15,
        }
    }
}

/// What began for a patient (written beside the capture as the truth).
#[derive(Clone, Debug, PartialEq)]
pub enum Began {
    /// A deterioration: its onset, when it is whole, when it starts to recover, when it ends,
    /// and how far it goes.
    Deterioration(Episode),
    /// A sensor artefact: a probe off or motion, `seconds` long, flagged poor or not.
    Artefact {
        at: Timestamp,
        seconds: i64,
        probe_off: bool,
        flagged: bool,
    },
}

/// One patient's vital signs as time passes, for the live simulator: their own baseline, now
/// and then a deterioration (a slow drift over hours, then recovery) and an artefact, and what
/// their device sends: continuous readings, a bedside monitor's blood pressure cycle, and a
/// nurse's set on each round.
#[derive(Clone, Debug)]
pub struct LivePatient {
    base: Baseline,
    episode: Option<Episode>,
    artefact: Option<(Timestamp, i64, bool, bool)>,
    next_reading: Timestamp,
    next_spot: Timestamp,
    next_nibp: Timestamp,
    /// Whether a bedside monitor (blood pressure and temperature too) measures them.
    monitor: bool,
}

impl LivePatient {
    /// A patient at `start`; a deterioration may already be under way (begun up to 8 hours
    /// before), as on a real ward.
    pub fn new(
        rng: &mut StdRng,
        cfg: &LiveConfig,
        start: Timestamp,
        monitor: bool,
    ) -> (LivePatient, Vec<Began>) {
        let mut p = LivePatient {
            base: Baseline::draw(rng),
            episode: None,
            artefact: None,
            next_reading: start.plus_ms(rng.random_range(0..cfg.period_ms.max(1))),
            next_spot: start
                .plus_ms(rng.random_range(0..((cfg.spot_every_h * 3_600_000.0) as i64).max(1))),
            next_nibp: start.plus_ms(rng.random_range(0..(cfg.nibp_every_min * 60_000).max(1))),
            monitor,
        };
        let mut began = Vec::new();
        // Under way at the start: as likely as an episode's 11 hours in a day's episodes.
        if rng.random_bool((cfg.episodes_per_day * 11.0 / 24.0).clamp(0.0, 1.0)) {
            let onset = Timestamp(start.millis() - rng.random_range(0..8 * 3_600_000));
            let e = episode(rng, onset);
            began.push(Began::Deterioration(e.clone()));
            p.episode = Some(e);
        }
        (p, began)
    }

    /// The patient's true physiology at `t`.
    pub fn truth(&self, t: Timestamp) -> Observations {
        self.base
            .at(self.episode.as_ref().map_or(0.0, |e| e.level(t)))
    }

    /// Advances to `now` (`dt` ms since the last call): what the device sends, with the time
    /// each was measured, and what began.
    pub fn advance(
        &mut self,
        rng: &mut StdRng,
        cfg: &LiveConfig,
        now: Timestamp,
        dt: i64,
    ) -> (Vec<(Timestamp, Vitals)>, Vec<Began>) {
        let mut began = Vec::new();
        let chance = |rng: &mut StdRng, per_day: f64| {
            let p = per_day * dt as f64 / 86_400_000.0;
            p > 0.0 && rng.random_bool(p.min(1.0))
        };
        if self.episode.as_ref().is_some_and(|e| now >= e.end()) {
            self.episode = None;
        }
        if self.episode.is_none() && chance(rng, cfg.episodes_per_day) {
            let e = episode(rng, now);
            began.push(Began::Deterioration(e.clone()));
            self.episode = Some(e);
        }
        if self
            .artefact
            .is_some_and(|(at, len, ..)| now.since(at) >= len)
        {
            self.artefact = None;
        }
        if self.artefact.is_none() && chance(rng, cfg.artefacts_per_day) {
            let len = rng.random_range(1..5) * 60_000;
            let probe_off = rng.random_bool(0.3);
            let flagged = rng.random_bool(cfg.flagged);
            self.artefact = Some((now, len, probe_off, flagged));
            began.push(Began::Artefact {
                at: now,
                seconds: len / 1000,
                probe_off,
                flagged,
            });
        }
        let mut out = Vec::new();
        let truth = self.truth(now);
        if now >= self.next_reading {
            self.next_reading = self.next_reading.plus_ms(cfg.period_ms.max(1000));
            if self.next_reading <= now {
                self.next_reading = now.plus_ms(cfg.period_ms.max(1000));
            }
            let mut v = sensor_reading(rng, &truth, self.artefact.map(|(_, _, off, f)| (off, f)));
            if self.monitor && now >= self.next_nibp {
                // The monitor's cuff and probe: blood pressure on its cycle, temperature with it.
                self.next_nibp = now.plus_ms(cfg.nibp_every_min.max(1) * 60_000);
                v.systolic = truth
                    .systolic
                    .map(|x| (x + gauss(rng, 4.0)).round().clamp(20.0, 300.0));
                v.diastolic = v.systolic.map(|s| (s * 0.6).round());
                v.temperature_c = truth
                    .temperature_c
                    .map(|x| ((x + gauss(rng, 0.1)) * 10.0).round() / 10.0);
            }
            out.push((now, v));
        }
        if now >= self.next_spot {
            self.next_spot = now.plus_ms((cfg.spot_every_h * 3_600_000.0) as i64);
            out.push((now, spot_set(&truth)));
        }
        (out, began)
    }
}

/// A deterioration beginning at `onset`.
fn episode(rng: &mut StdRng, onset: Timestamp) -> Episode {
    Episode {
        patient: 0,
        onset,
        ramp_ms: rng.random_range(2..7) * 3_600_000,
        plateau_ms: 2 * 3_600_000,
        recover_ms: 3 * 3_600_000,
        depth: rng.random_range(0.6..1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ward_is_deterministic_and_its_episodes_reach_the_urgent_bands() {
        let cfg = WardConfig {
            days: 1.0,
            episodes_per_day: 1.0,
            ..WardConfig::default()
        };
        let a = ward(&cfg, 4, Timestamp(0));
        let b = ward(&cfg, 4, Timestamp(0));
        assert_eq!(a.sent.len(), b.sent.len());
        assert_eq!(a.episodes, b.episodes);
        assert_eq!(a.episodes.len(), 4);
        for e in &a.episodes {
            let peak = Timestamp(e.onset.millis() + e.ramp_ms + 60_000);
            let s = a.true_score(e.patient, peak);
            if e.depth > 0.8 {
                assert!(s.aggregate >= 5, "{e:?}: {s:?}");
            }
            assert!(
                a.true_score(e.patient, Timestamp(e.end().millis() + 60_000))
                    .aggregate
                    <= 4
            );
        }
        assert!(a.sent.iter().any(|s| s.artefact));
    }
}
