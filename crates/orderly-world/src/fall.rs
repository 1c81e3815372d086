//! Wearable fall detection: a streaming phase detector over accelerometer samples, one per
//! wearable, with bounded memory (a few seconds of samples).
//!
//! The phases of a fall (Bourke 2007, Kangas 2008; the SisFall paper's analysis): an **impact**
//! (the magnitude of acceleration well above 1 g), a **change of orientation** between the
//! posture before the fall and the one after it (the direction of gravity turns by tens of
//! degrees: upright to lying), and **stillness** after the impact (the person lies on the
//! floor). Nothing depends on how the device is worn: orientation is the angle between two
//! gravity directions measured on the device itself, and every window is in seconds, so any axis
//! orientation and any rate from 20 Hz to 100 Hz read the same.
//!
//! Where the device is worn changes what a fall looks like (a wrist claps and turns in
//! everyday life, a waist does not), so each position (waist, chest, wrist, pocket) has its own
//! parameters. The impact counts by its peak or by its area (the speed the body's stop took up),
//! so a 20 Hz device that misses the peak's sample, or a phone clipping at +-2 g, still reads
//! it. The posture before is the last calm before the fall began, not a fixed window that may
//! reach into what the wearer did earlier; at the wrist, where clapping and waving are bursts
//! of impacts, it is the calm before the burst's first impact (`chain_s`), so hands that clap
//! and come to rest where they started have not turned.
//!
//! A candidate is decided `post_end_s` after its impact (the last sample it needs), or, when
//! the wearable goes quiet first, on the samples there are ([`FallDetector::idle`]); the
//! decision carries its evidence (peak, angle, stillness) so an alert can say why.

pub use orderly_model::Worn;
use serde::Deserialize;
use std::collections::VecDeque;

/// Parameters (`[falls]` in `rules/detectors.toml`): what holds for every wearable, and the
/// detector's parameters per position worn (`[falls.waist]`, `[falls.wrist]`...; a key left out
/// keeps that position's default).
#[derive(Clone, Debug, PartialEq)]
pub struct FallConfig {
    /// How long a detected fall stays a fact for the rules (`patient.fallen`), seconds.
    pub fact_s: f32,
    /// The wearer's button within this many seconds of a fall cancels it ("I'm OK"): the fall
    /// alert is resolved, with the button as who resolved it.
    pub cancel_s: f32,
    /// Where a wearable is worn when the registry does not say (its model names no position).
    pub worn: Worn,
    pub waist: FallParams,
    pub chest: FallParams,
    pub wrist: FallParams,
    pub pocket: FallParams,
}

impl Default for FallConfig {
    fn default() -> Self {
        FallConfig {
            fact_s: 120.0,
            cancel_s: 30.0,
            worn: Worn::Waist,
            waist: FallParams::default_for(Worn::Waist),
            chest: FallParams::default_for(Worn::Chest),
            wrist: FallParams::default_for(Worn::Wrist),
            pocket: FallParams::default_for(Worn::Pocket),
        }
    }
}

impl FallConfig {
    /// The detector's parameters for a position.
    pub fn params(&self, worn: Worn) -> &FallParams {
        match worn {
            Worn::Waist => &self.waist,
            Worn::Chest => &self.chest,
            Worn::Wrist => &self.wrist,
            Worn::Pocket => &self.pocket,
        }
    }
    pub fn params_mut(&mut self, worn: Worn) -> &mut FallParams {
        match worn {
            Worn::Waist => &mut self.waist,
            Worn::Chest => &mut self.chest,
            Worn::Wrist => &mut self.wrist,
            Worn::Pocket => &mut self.pocket,
        }
    }
}

/// How the file spells `[falls]`: every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FallFile {
    fact_s: Option<f32>,
    cancel_s: Option<f32>,
    worn: Option<Worn>,
    waist: Option<ParamsFile>,
    chest: Option<ParamsFile>,
    wrist: Option<ParamsFile>,
    pocket: Option<ParamsFile>,
}

impl<'de> Deserialize<'de> for FallConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = FallFile::deserialize(d)?;
        let mut c = FallConfig::default();
        if let Some(v) = f.fact_s {
            c.fact_s = v;
        }
        if let Some(v) = f.cancel_s {
            c.cancel_s = v;
        }
        if let Some(v) = f.worn {
            c.worn = v;
        }
        for (worn, p) in [
            (Worn::Waist, f.waist),
            (Worn::Chest, f.chest),
            (Worn::Wrist, f.wrist),
            (Worn::Pocket, f.pocket),
        ] {
            if let Some(p) = p {
                p.apply(c.params_mut(worn));
            }
            c.params(worn)
                .check()
                .map_err(|e| serde::de::Error::custom(format!("[falls.{}] {e}", worn.as_str())))?;
        }
        Ok(c)
    }
}

macro_rules! params {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// One position's detector parameters.
        #[derive(Clone, Debug, PartialEq)]
        pub struct FallParams {
            $($(#[$doc])* pub $name: f32,)*
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ParamsFile {
            $($name: Option<f32>,)*
        }
        impl ParamsFile {
            fn apply(self, p: &mut FallParams) {
                $(if let Some(v) = self.$name { p.$name = v; })*
            }
        }
    };
}

params! {
    /// A candidate starts when the magnitude reaches this, g (low enough for a 20 Hz device
    /// and one clipping at +-2 g: the impact's strength is judged by `impact_mps`).
    trigger_g,
    /// The impact: the peak magnitude reaches this, g, ...
    impact_g,
    /// ... or the speed taken up by the body's stop, m/s (the magnitude above 1 g integrated
    /// over the impact, so it reads the same at any rate and loses little to clipping).
    impact_mps,
    /// The posture before: the mean direction over `calm_s` of calm before the fall began,
    /// looked for back to `lookback_s` before the impact; failing that, the mean over
    /// `[impact - lookback_s, impact - pre_to_s]`.
    lookback_s,
    pre_to_s,
    calm_s,
    /// Calm: the vectors spread about their mean (root mean square distance) no more than
    /// this, g: still, and not turning.
    calm_std_g,
    /// Posture after: the mean direction and the stillness over `[impact + post_start_s,
    /// impact + post_end_s]`.
    post_start_s,
    post_end_s,
    /// Orientation change needed, degrees.
    angle_deg,
    /// Stillness: standard deviation of the magnitude after the impact below this, g.
    still_std_g,
    /// Activity before: the standard deviation of the magnitude over `[impact - lookback_s,
    /// impact - pre_to_s]` at most this, g (a wrist clapping or waving is not a body about to
    /// fall); 0 turns it off.
    max_pre_std_g,
    /// After a fall is decided, impacts within this many seconds belong to it.
    refractory_s,
    /// A burst of impacts: a sample over `trigger_g` within `chain_s` before the impact (or
    /// before an earlier one of the same burst) belongs to it, back to `chain_max_s` before
    /// the impact; the posture before is then looked for before the burst's first impact
    /// (clapping ends where it began; a fall's stumble and landing start upright). 0 turns it
    /// off.
    chain_s,
    chain_max_s,
    /// The descent before the impact: speed gained while the magnitude was below 1 g over the
    /// second before it, m/s (a body dropping, not one lowered onto a bed); 0 turns it off.
    min_drop_mps,
}

impl FallParams {
    /// Values a detector can run with: windows within 30 s and in order (the detector keeps
    /// `lookback_s + post_end_s` of samples), thresholds finite and not negative.
    fn check(&self) -> Result<(), String> {
        let windows = [
            ("lookback_s", self.lookback_s),
            ("pre_to_s", self.pre_to_s),
            ("calm_s", self.calm_s),
            ("post_start_s", self.post_start_s),
            ("post_end_s", self.post_end_s),
            ("refractory_s", self.refractory_s),
            ("chain_s", self.chain_s),
            ("chain_max_s", self.chain_max_s),
        ];
        for (name, v) in windows {
            if !(0.0..=30.0).contains(&v) {
                return Err(format!("{name} = {v} is out of range (0 to 30 seconds)"));
            }
        }
        let thresholds = [
            ("trigger_g", self.trigger_g),
            ("impact_g", self.impact_g),
            ("impact_mps", self.impact_mps),
            ("calm_std_g", self.calm_std_g),
            ("angle_deg", self.angle_deg),
            ("still_std_g", self.still_std_g),
            ("min_drop_mps", self.min_drop_mps),
            ("max_pre_std_g", self.max_pre_std_g),
        ];
        for (name, v) in thresholds {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("{name} = {v} must be a number of 0 or more"));
            }
        }
        if self.pre_to_s >= self.lookback_s {
            return Err(
                "pre_to_s must be less than lookback_s (the posture is taken between them)".into(),
            );
        }
        if self.post_start_s >= self.post_end_s {
            return Err("post_start_s must be less than post_end_s (the stillness is measured between them)".into());
        }
        Ok(())
    }

    /// The shipped values (`rules/detectors.toml` repeats them).
    pub fn default_for(worn: Worn) -> FallParams {
        // Chosen on the tuning halves (docs/evaluations.md): the waist on SisFall's and
        // UMAFall's waist subjects as recorded, at 20 Hz and clipped at +-2 g; the wrist on
        // UMAFall's wrist subjects. The chest and a trouser pocket have no development data:
        // they take the waist's (a torso turns as the waist does; a pocket's thigh, too, lies
        // flat after a fall).
        let waist = FallParams {
            trigger_g: 1.6,
            impact_g: 2.0,
            impact_mps: 2.5,
            lookback_s: 3.0,
            pre_to_s: 0.5,
            calm_s: 0.5,
            calm_std_g: 0.05,
            post_start_s: 1.0,
            post_end_s: 3.0,
            angle_deg: 55.0,
            still_std_g: 0.25,
            refractory_s: 5.0,
            min_drop_mps: 0.3,
            max_pre_std_g: 0.0,
            chain_s: 0.0,
            chain_max_s: 0.0,
        };
        match worn {
            Worn::Waist | Worn::Chest | Worn::Pocket => waist,
            // A wrist swings and turns in everyday life (clapping, a phone to the ear, lying
            // down): only a hard impact counts, and the turn says little; clapping, waving and
            // hopping are bursts of impacts, so the turn is measured from before the burst.
            Worn::Wrist => FallParams {
                impact_g: 4.0,
                impact_mps: 4.0,
                angle_deg: 30.0,
                lookback_s: 2.0,
                chain_s: 1.5,
                chain_max_s: 6.0,
                ..waist
            },
        }
    }
}

/// A decided fall.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fall {
    /// When the impact happened (ms).
    pub impact_at: i64,
    /// When the detector had the last sample it needed (ms).
    pub decided_at: i64,
    pub peak_g: f32,
    pub angle_deg: f32,
    pub still_std_g: f32,
    /// Speed gained falling before the impact, m/s.
    pub drop_mps: f32,
    /// 0..1: how far past the thresholds the evidence is.
    pub confidence: f32,
}

#[derive(Clone, Copy, Debug)]
struct Impact {
    /// The first sample over the trigger.
    start: i64,
    /// The peak.
    at: i64,
    peak: f32,
}

/// One wearable's detector. Memory: the samples of `lookback_s + post_end_s` seconds.
#[derive(Clone, Debug)]
pub struct FallDetector {
    p: FallParams,
    worn: Worn,
    samples: VecDeque<(i64, [f32; 3])>,
    /// Impacts waiting for the samples after them, oldest first (at most one per half second).
    pending: VecDeque<Impact>,
    quiet_until: i64,
    last: Option<Evidence>,
}

fn norm(a: [f32; 3]) -> f32 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

fn ms(s: f32) -> i64 {
    (s * 1000.0) as i64
}

/// What a window of samples says.
struct Window {
    mean: [f32; 3],
    /// Standard deviation of the magnitude, g.
    std: f32,
    /// Root mean square distance of the vectors from their mean, g.
    spread: f32,
}

/// A sample's share of time: the gap to the one before, at most 200 ms (a lost message is not
/// a long impact).
const MAX_STEP_MS: i64 = 200;

impl FallDetector {
    pub fn new(cfg: &FallConfig, worn: Worn) -> Self {
        FallDetector {
            p: cfg.params(worn).clone(),
            worn,
            samples: VecDeque::new(),
            pending: VecDeque::new(),
            quiet_until: i64::MIN,
            last: None,
        }
    }

    /// Where the wearable this detector reads is worn.
    pub fn worn(&self) -> Worn {
        self.worn
    }

    /// Over `[from, to]`: the mean vector, the standard deviation of the magnitude, and how far
    /// the vectors spread about their mean (root mean square distance, g: a device turning while
    /// its magnitude stays at 1 g is not calm).
    fn window(&self, from: i64, to: i64) -> Option<Window> {
        let (mut sum, mut sq, mut n, mut m1, mut m2) = ([0f32; 3], 0f32, 0f32, 0f32, 0f32);
        for (t, a) in &self.samples {
            if *t < from || *t > to {
                continue;
            }
            for k in 0..3 {
                sum[k] += a[k];
                sq += a[k] * a[k];
            }
            let m = norm(*a);
            m1 += m;
            m2 += m * m;
            n += 1.0;
        }
        if n < 2.0 {
            return None;
        }
        let mean = sum.map(|s| s / n);
        Some(Window {
            mean,
            std: (m2 / n - (m1 / n).powi(2)).max(0.0).sqrt(),
            spread: (sq / n - norm(mean).powi(2)).max(0.0).sqrt(),
        })
    }

    /// The posture before the fall (its mean vector) and how far back it was taken (ms before
    /// the impact): the latest `calm_s` of calm (the wearer standing or sitting still) that
    /// ends before the impact's fall began, within `lookback_s`. None when there is none
    /// (walking into the fall): then the mean over the whole look-back is the posture. A
    /// posture held further back (lying down a few seconds before) does not count as the one
    /// the fall started from.
    fn calm_before(&self, at: i64) -> Option<([f32; 3], i64)> {
        let p = &self.p;
        let (calm, step) = (ms(p.calm_s).max(100), 50);
        let mut end = at - ms(p.pre_to_s);
        while end - calm >= at - ms(p.lookback_s) {
            if let Some(w) = self.window(end - calm, end)
                && w.spread <= p.calm_std_g
                && (norm(w.mean) - 1.0).abs() <= 0.15
            {
                return Some((w.mean, at - end));
            }
            end -= step;
        }
        None
    }

    /// How far before an impact its burst may begin, ms (0 when bursts are off).
    fn chain_reach(&self) -> i64 {
        if self.p.chain_s > 0.0 {
            ms(self.p.chain_max_s)
        } else {
            0
        }
    }

    /// The first impact of the burst that ends in the impact at `at`: going back from it, a
    /// sample over the trigger within `chain_s` of the burst's earliest so far joins it. `at`
    /// itself when bursts are off, when nothing joins, and when the burst goes on past
    /// `chain_max_s` before `at` (running, hopping: no beginning to read a posture from, so
    /// the impact is judged as if alone).
    fn burst_start(&self, at: i64) -> i64 {
        let (chain, reach) = (ms(self.p.chain_s), self.chain_reach());
        let mut start = at;
        for (t, a) in self.samples.iter().rev().skip_while(|(t, _)| *t >= at) {
            if start - t > chain {
                break;
            }
            if norm(*a) >= self.p.trigger_g {
                if at - t > reach {
                    return at;
                }
                start = *t;
            }
        }
        start
    }

    /// The fastest downward speed reached in the second before `at`, m/s: the acceleration
    /// along the posture's gravity direction `up` (the mean vector before the fall, whose
    /// length is 1 g as this device measures it), integrated.
    fn drop_mps(&self, at: i64, up: [f32; 3]) -> f32 {
        let g = norm(up);
        if g < 1e-3 {
            return 0.0;
        }
        let u = up.map(|x| x / g);
        let (mut v, mut best) = (0.0f32, 0.0f32);
        let mut prev: Option<i64> = None;
        for (t, a) in &self.samples {
            if *t > at {
                break;
            }
            if let Some(p) = prev.filter(|_| *t >= at - 1000) {
                let along = a[0] * u[0] + a[1] * u[1] + a[2] * u[2];
                v += (1.0 - along / g) * 9.81 * (t - p).min(MAX_STEP_MS) as f32 / 1000.0;
                best = best.max(v);
            }
            prev = Some(*t);
        }
        best
    }

    /// The speed the impact took up, m/s: the magnitude above 1 g integrated over half a
    /// second either side of the peak. An area, not a peak: a 20 Hz device that misses the
    /// peak's sample, or one clipping at +-2 g, still reads most of it.
    fn impact_mps(&self, at: i64) -> f32 {
        let mut v = 0.0f32;
        let mut prev: Option<i64> = None;
        for (t, a) in &self.samples {
            if *t > at + 500 {
                break;
            }
            if let Some(p) = prev.filter(|_| *t >= at - 500) {
                v += (norm(*a) - 1.0).max(0.0) * 9.81 * (t - p).min(MAX_STEP_MS) as f32 / 1000.0;
            }
            prev = Some(*t);
        }
        v
    }

    /// Feeds one sample (time in ms, acceleration in g); returns a fall when one is decided.
    /// Samples must come in time order; an older one is ignored.
    pub fn push(&mut self, t: i64, a: [f32; 3]) -> Option<Fall> {
        if !a.iter().all(|v| v.is_finite()) || self.samples.back().is_some_and(|(l, _)| t <= *l) {
            return None;
        }
        let (trigger, post_end) = (self.p.trigger_g, ms(self.p.post_end_s));
        self.samples.push_back((t, a));
        let keep = self.chain_reach() + ms(self.p.lookback_s) + post_end + 1000;
        while self.samples.front().is_some_and(|(f, _)| t - f > keep) {
            self.samples.pop_front();
        }
        let m = norm(a);
        if m >= trigger && t >= self.quiet_until {
            match self.pending.back_mut() {
                // The impact is the peak of its half second.
                Some(imp) if t - imp.start <= 500 => {
                    if m > imp.peak {
                        (imp.at, imp.peak) = (t, m);
                    }
                }
                // Each impact is judged on its own (running, a stumble, then the fall: the
                // last one ends still).
                _ => self.pending.push_back(Impact {
                    start: t,
                    at: t,
                    peak: m,
                }),
            }
        }
        self.decide_due(t)
    }

    /// The wearable has gone quiet (its stream ended or paused) and its clock would now read
    /// `t`: impacts whose time is up are decided on the samples there are (at least half a
    /// second after `post_start_s`), so a fall at the end of a stream is not left undecided.
    pub fn idle(&mut self, t: i64) -> Option<Fall> {
        if self.samples.back().is_some_and(|(l, _)| t <= *l) {
            return None;
        }
        self.decide_due(t)
    }

    /// Whether impacts wait for samples after them.
    pub fn is_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn decide_due(&mut self, t: i64) -> Option<Fall> {
        let post_end = ms(self.p.post_end_s);
        while let Some(imp) = self.pending.front().copied() {
            if t - imp.at < post_end {
                break;
            }
            self.pending.pop_front();
            if let Some(fall) = self.decide(imp, t) {
                // One fall, one alarm: the thrashing that follows is part of it.
                self.quiet_until = t + ms(self.p.refractory_s.max(0.0));
                self.pending.clear();
                return Some(fall);
            }
        }
        None
    }

    /// The evidence of the last candidate decided (fall or not), for evaluation.
    pub fn last_evidence(&self) -> Option<&Evidence> {
        self.last.as_ref()
    }

    fn evidence(&self, imp: Impact) -> Option<Evidence> {
        let p = &self.p;
        let whole = self.window(imp.at - ms(p.lookback_s), imp.at - ms(p.pre_to_s))?;
        // The posture the impact came from: the descent is measured along it.
        let (own, own_back) = self
            .calm_before(imp.at)
            .unwrap_or((whole.mean, ms(p.lookback_s)));
        // The posture before the burst the impact ends: the turn is measured from it (clapping
        // turns the hands up and back down; a stumble and a landing start upright).
        let start = self.burst_start(imp.at);
        let before = (start != imp.at)
            .then(|| {
                self.calm_before(start).or_else(|| {
                    self.window(start - ms(p.lookback_s), start - ms(p.pre_to_s))
                        .map(|w| (w.mean, ms(p.lookback_s)))
                })
            })
            .flatten();
        let (pre, lookback_ms) = match before {
            Some((mean, back)) => (mean, imp.at - start + back),
            None => (own, own_back),
        };
        let post_from = imp.at + ms(p.post_start_s);
        if self
            .samples
            .back()
            .is_none_or(|(l, _)| *l < post_from + 500)
        {
            return None;
        }
        let after = self.window(post_from, imp.at + ms(p.post_end_s))?;
        let (post, still) = (after.mean, after.std);
        let (np, nq) = (norm(pre), norm(post));
        if np < 1e-3 || nq < 1e-3 {
            return None;
        }
        let cos = (pre[0] * post[0] + pre[1] * post[1] + pre[2] * post[2]) / (np * nq);
        Some(Evidence {
            impact_at: imp.at,
            peak_g: imp.peak,
            impact_mps: self.impact_mps(imp.at),
            angle_deg: cos.clamp(-1.0, 1.0).acos().to_degrees(),
            still_std_g: still,
            drop_mps: self.drop_mps(imp.at, own),
            pre_std_g: whole.std,
            post_g: nq,
            lookback_ms,
        })
    }

    fn decide(&mut self, imp: Impact, now: i64) -> Option<Fall> {
        let p = &self.p;
        let e = self.evidence(imp);
        self.last = e;
        let e = e?;
        let impact = e.peak_g >= p.impact_g || e.impact_mps >= p.impact_mps;
        if !impact
            || e.angle_deg < p.angle_deg
            || e.still_std_g > p.still_std_g
            || e.drop_mps < p.min_drop_mps
            || (p.max_pre_std_g > 0.0 && e.pre_std_g > p.max_pre_std_g)
        {
            return None;
        }
        let margin = |x: f32, at: f32| (x / at.max(1e-3)).min(2.0) - 1.0;
        let confidence = (0.5
            + 0.5
                * (margin(e.peak_g, p.impact_g).max(margin(e.impact_mps, p.impact_mps))
                    + margin(e.angle_deg, p.angle_deg)
                    + margin(p.still_std_g, e.still_std_g.max(1e-3)))
                / 3.0)
            .clamp(0.0, 1.0);
        Some(Fall {
            impact_at: imp.at,
            decided_at: now,
            peak_g: e.peak_g,
            angle_deg: e.angle_deg,
            still_std_g: e.still_std_g,
            drop_mps: e.drop_mps,
            confidence,
        })
    }
}

/// What a candidate looked like, whether or not it was a fall.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evidence {
    pub impact_at: i64,
    pub peak_g: f32,
    /// Speed the impact took up, m/s.
    pub impact_mps: f32,
    pub angle_deg: f32,
    pub still_std_g: f32,
    pub drop_mps: f32,
    /// Activity before the impact: standard deviation of the magnitude, g.
    pub pre_std_g: f32,
    /// Mean acceleration after the impact, g (about 1 when lying still).
    pub post_g: f32,
    /// How far before the impact the posture before was taken, ms.
    pub lookback_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upright for 3 s (the last 0.4 s of it dropping, at 0.3 g), an impact of `peak` g, then
    /// `after` (the gravity direction) for 4 s, at `hz`, with the device turned by `turn` (a
    /// rotation about z then x).
    fn trace(hz: f32, peak: f32, after: [f32; 3], turn: (f32, f32)) -> Vec<(i64, [f32; 3])> {
        trace_with(hz, peak, after, turn, 0.3)
    }

    fn trace_with(
        hz: f32,
        peak: f32,
        after: [f32; 3],
        turn: (f32, f32),
        dropping_g: f32,
    ) -> Vec<(i64, [f32; 3])> {
        let (cz, sz, cx, sx) = (turn.0.cos(), turn.0.sin(), turn.1.cos(), turn.1.sin());
        let rot = |a: [f32; 3]| {
            let b = [cz * a[0] - sz * a[1], sz * a[0] + cz * a[1], a[2]];
            [b[0], cx * b[1] - sx * b[2], sx * b[1] + cx * b[2]]
        };
        let dt = 1000.0 / hz;
        let mut out = Vec::new();
        let mut t = 0.0f32;
        while t < 7000.0 {
            let a = if t < 2600.0 {
                [0.0, 0.0, 1.0]
            } else if t < 3000.0 {
                [0.0, 0.0, dropping_g]
            } else if t < 3000.0 + dt {
                [peak * after[0], peak * after[1], peak * after[2].max(0.3)]
            } else {
                after
            };
            out.push((t as i64, rot(a)));
            t += dt;
        }
        out
    }

    fn falls(cfg: &FallConfig, samples: &[(i64, [f32; 3])]) -> Vec<Fall> {
        let mut d = FallDetector::new(cfg, Worn::Waist);
        samples.iter().filter_map(|(t, a)| d.push(*t, *a)).collect()
    }

    #[test]
    fn impact_turn_and_stillness_is_one_fall_at_any_rate_and_any_orientation() {
        let cfg = FallConfig::default();
        for hz in [20.0, 50.0, 100.0] {
            for turn in [(0.0, 0.0), (0.7, 2.1), (3.0, -1.2)] {
                let f = falls(&cfg, &trace(hz, 3.5, [1.0, 0.0, 0.0], turn));
                assert_eq!(f.len(), 1, "{hz} Hz, turned {turn:?}: {f:?}");
                assert!((f[0].angle_deg - 90.0).abs() < 5.0, "{f:?}");
                assert_eq!(f[0].impact_at, 3000);
                assert!(f[0].decided_at - f[0].impact_at <= 3000 + (1000.0 / hz) as i64 * 2);
            }
        }
    }

    #[test]
    fn no_fall_without_each_phase() {
        let cfg = FallConfig::default();
        // An impact but still upright (a jump, a bump).
        assert!(falls(&cfg, &trace(50.0, 3.5, [0.0, 0.0, 1.0], (0.0, 0.0))).is_empty());
        // Lying down with no impact (lowered onto a bed gently).
        assert!(falls(&cfg, &trace(50.0, 1.2, [1.0, 0.0, 0.0], (0.0, 0.0))).is_empty());
        // Impact and turn but moving about afterwards.
        let mut moving = trace(50.0, 3.5, [1.0, 0.0, 0.0], (0.0, 0.0));
        for (i, s) in moving.iter_mut().enumerate().skip(160) {
            s.1[0] += if i % 4 < 2 { 0.5 } else { -0.5 };
        }
        assert!(falls(&cfg, &moving).is_empty());
        // Impact, turn and stillness with no descent before: sitting down hard on a low chair.
        assert!(
            falls(
                &cfg,
                &trace_with(50.0, 3.5, [1.0, 0.0, 0.0], (0.0, 0.0), 1.0)
            )
            .is_empty()
        );
    }

    #[test]
    fn the_last_of_several_impacts_is_judged() {
        // Running (an impact every half second) that ends in a fall: the fall is found.
        let cfg = FallConfig::default();
        let mut s = Vec::new();
        for i in 0..250 {
            let t = i * 20;
            let up = if i % 25 == 0 { 2.6 } else { 1.0 };
            s.push((t, [0.0, 0.0, up]));
        }
        for (t, a) in trace(50.0, 3.5, [1.0, 0.0, 0.0], (0.0, 0.0)) {
            s.push((5000 + t, a));
        }
        let f = falls(&cfg, &s);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].impact_at, 8000);
    }

    #[test]
    fn bad_samples_change_nothing() {
        let mut d = FallDetector::new(&FallConfig::default(), Worn::Waist);
        assert!(d.push(0, [f32::NAN, 0.0, 1.0]).is_none());
        assert!(d.push(10, [0.0, 0.0, 1.0]).is_none());
        assert!(
            d.push(5, [9.0, 9.0, 9.0]).is_none(),
            "out of order is ignored"
        );
        assert!(d.pending.is_empty());
    }

    /// Piecewise: (until ms, acceleration), at `hz`.
    fn pieces(hz: f32, parts: &[(f32, [f32; 3])]) -> Vec<(i64, [f32; 3])> {
        let dt = 1000.0 / hz;
        let mut out = Vec::new();
        let mut t = 0.0f32;
        for (until, a) in parts {
            while t < *until {
                out.push((t as i64, *a));
                t += dt;
            }
        }
        out
    }

    #[test]
    fn a_long_soft_impact_counts_by_its_area_at_any_rate_and_clipped() {
        // 1.9 g for 300 ms (a fall onto a soft floor): under the 2 g peak, but the body's stop
        // takes up 2.6 m/s; the same for 60 ms (a bump) takes up 0.5 m/s.
        let cfg = FallConfig::default();
        for hz in [20.0, 50.0, 100.0] {
            let soft = |ms: f32| {
                pieces(
                    hz,
                    &[
                        (2600.0, [0.0, 0.0, 1.0]),
                        (3000.0, [0.0, 0.0, 0.3]),
                        (3000.0 + ms, [1.9, 0.0, 0.0]),
                        (8000.0, [1.0, 0.0, 0.0]),
                    ],
                )
            };
            let f = falls(&cfg, &soft(300.0));
            assert_eq!(f.len(), 1, "{hz} Hz: {f:?}");
            // Clipped at +-2 g it reads the same.
            let clipped: Vec<_> = soft(300.0)
                .into_iter()
                .map(|(t, a)| (t, a.map(|x| x.clamp(-2.0, 2.0))))
                .collect();
            assert_eq!(falls(&cfg, &clipped).len(), 1, "{hz} Hz clipped");
            assert!(falls(&cfg, &soft(60.0)).is_empty(), "{hz} Hz: a bump");
        }
    }

    #[test]
    fn the_posture_before_is_the_calm_the_fall_started_from_not_what_came_earlier() {
        // Lying for 2 s, standing still for 1.6 s, then a fall back to lying: the fall turns the
        // body 90 degrees from standing, though 3 s back the wearer was lying as after it.
        let s = pieces(
            50.0,
            &[
                (2000.0, [1.0, 0.0, 0.0]),
                (3600.0, [0.0, 0.0, 1.0]),
                (4000.0, [0.0, 0.0, 0.3]),
                (4020.0, [3.5, 0.0, 0.5]),
                (9000.0, [1.0, 0.0, 0.0]),
            ],
        );
        let f = falls(&FallConfig::default(), &s);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!((f[0].angle_deg - 90.0).abs() < 5.0, "{f:?}");
    }

    #[test]
    fn a_fall_at_the_end_of_a_stream_is_decided_when_the_wearable_goes_quiet() {
        let mut d = FallDetector::new(&FallConfig::default(), Worn::Waist);
        let s = pieces(
            50.0,
            &[
                (2600.0, [0.0, 0.0, 1.0]),
                (3000.0, [0.0, 0.0, 0.3]),
                (3020.0, [3.5, 0.0, 0.5]),
                (4600.0, [1.0, 0.0, 0.0]),
            ],
        );
        assert!(s.iter().all(|(t, a)| d.push(*t, *a).is_none()));
        assert!(d.is_pending());
        assert!(
            d.idle(5000).is_none(),
            "not yet: the post window runs to 6 s"
        );
        let f = d.idle(6100).expect("decided on the 1.6 s there are");
        assert_eq!(f.impact_at, 3000);
        // Too little after the impact to judge: nothing.
        let mut d = FallDetector::new(&FallConfig::default(), Worn::Waist);
        for (t, a) in s.iter().filter(|(t, _)| *t < 3800) {
            d.push(*t, *a);
        }
        assert!(d.idle(9000).is_none());
    }

    #[test]
    fn a_wrist_needs_a_harder_impact_than_a_waist() {
        // A 3 g impact with a turn and stillness: a fall at the waist; at the wrist, clapping or
        // a hand slapped on a table reads the same, so it is not.
        let cfg = FallConfig::default();
        let s = trace(50.0, 3.0, [1.0, 0.0, 0.0], (0.0, 0.0));
        let run = |worn| {
            let mut d = FallDetector::new(&cfg, worn);
            s.iter().filter_map(|(t, a)| d.push(*t, *a)).count()
        };
        assert_eq!(run(Worn::Waist), 1);
        assert_eq!(run(Worn::Pocket), 1);
        assert_eq!(run(Worn::Wrist), 0);
        assert_eq!(
            falls_at(
                &cfg,
                Worn::Wrist,
                &trace(50.0, 5.0, [1.0, 0.0, 0.0], (0.0, 0.0))
            )
            .len(),
            1
        );
    }

    /// Clapping: `n` claps 400 ms apart with the hands up (gravity along +z on the device),
    /// each a swing (0.4 g for 150 ms) and a 5 g slap, from `from` ms; then the arm hangs (gravity
    /// along -x) still for 4 s.
    fn clapping(from: f32, n: usize) -> Vec<(f32, [f32; 3])> {
        let (up, down) = ([0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]);
        let mut parts = vec![(from, down)];
        let mut t = from;
        for _ in 0..n {
            parts.push((t + 150.0, up.map(|x| x * 0.4)));
            parts.push((t + 200.0, up.map(|x| x * 5.0)));
            parts.push((t + 400.0, up));
            t += 400.0;
        }
        parts.push((t + 4000.0, down));
        parts
    }

    #[test]
    fn hands_that_clap_and_rest_where_they_started_have_not_fallen() {
        let cfg = FallConfig::default();
        let mut off = cfg.clone();
        off.wrist.chain_s = 0.0;
        let down = [-1.0, 0.0, 0.0];
        for hz in [20.0, 50.0, 100.0] {
            // Eight claps after 3 s of the arm hanging: from before the last clap (hands up)
            // to after it (hanging) the wrist turned 90 degrees; from before the clapping began
            // it did not turn.
            let claps = pieces(hz, &clapping(3000.0, 8));
            assert_eq!(falls_at(&off, Worn::Wrist, &claps).len(), 1, "{hz} Hz");
            assert_eq!(falls_at(&cfg, Worn::Wrist, &claps).len(), 0, "{hz} Hz");
            // Clapping longer than `chain_max_s` has no beginning to read: the last clap is
            // judged as it would be alone.
            let long = pieces(hz, &clapping(3000.0, 20));
            assert_eq!(falls_at(&cfg, Worn::Wrist, &long).len(), 1, "{hz} Hz");
            // A stumble (3 g), then the fall (0.3 g for 400 ms, a 6 g impact) to lying (gravity
            // along +y): one fall, its turn measured from standing before the stumble.
            let fall = pieces(
                hz,
                &[
                    (3000.0, down),
                    (3050.0, [-3.0, 0.0, 0.0]),
                    (3350.0, [-0.7, 0.5, 0.0]),
                    (3750.0, [-0.3, 0.0, 0.0]),
                    (3800.0, [0.0, 6.0, 0.0]),
                    (8000.0, [0.0, 1.0, 0.0]),
                ],
            );
            let f = falls_at(&cfg, Worn::Wrist, &fall);
            assert_eq!(f.len(), 1, "{hz} Hz");
            assert!((f[0].angle_deg - 90.0).abs() < 1.0, "{hz} Hz: {:?}", f[0]);
        }
    }

    fn falls_at(cfg: &FallConfig, worn: Worn, samples: &[(i64, [f32; 3])]) -> Vec<Fall> {
        let mut d = FallDetector::new(cfg, worn);
        samples.iter().filter_map(|(t, a)| d.push(*t, *a)).collect()
    }

    #[test]
    fn parameters_per_position_keep_that_positions_defaults() {
        let parse = |t: &str| crate::WorldConfig::parse("detectors.toml", t).map(|c| c.falls);
        let c = parse(
            "[falls]\nfact_s = 60.0\nworn = \"wrist\"\n[falls.wrist]\nangle_deg = 40.0\n[falls.pocket]\nimpact_g = 2.2\n",
        )
        .unwrap();
        assert_eq!((c.fact_s, c.worn), (60.0, Worn::Wrist));
        assert_eq!(c.wrist.angle_deg, 40.0);
        assert_eq!(
            c.wrist.impact_g,
            FallParams::default_for(Worn::Wrist).impact_g
        );
        assert_eq!(c.pocket.impact_g, 2.2);
        assert_eq!(c.waist, FallParams::default_for(Worn::Waist));
        let e = parse("[falls.wrist]\nangle = 40.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("detectors.toml:2") && e.contains("unknown field `angle`"),
            "{e}"
        );
        let e = parse("[falls.wrist]\nlookback_s = 3600.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[falls.wrist] lookback_s = 3600 is out of range"),
            "{e}"
        );
        let e = parse("[falls.waist]\npost_start_s = 4.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("post_start_s must be less than post_end_s"),
            "{e}"
        );
        let e = parse("[falls]\nworn = \"ankle\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("detectors.toml:2") && e.contains("ankle"), "{e}");
    }
}
