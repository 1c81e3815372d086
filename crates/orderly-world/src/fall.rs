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
//! A candidate is decided `post_end_s` after its impact (the last sample it needs); the
//! decision carries its evidence (peak, angle, stillness) so an alert can say why.

use serde::Deserialize;
use std::collections::VecDeque;

/// Parameters (`[falls]` in `rules/detectors.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FallConfig {
    /// Impact: magnitude above this, g.
    pub impact_g: f32,
    /// Posture before: the mean direction over `[impact - pre_from_s, impact - pre_to_s]`.
    pub pre_from_s: f32,
    pub pre_to_s: f32,
    /// Posture after: the mean direction and the stillness over `[impact + post_start_s,
    /// impact + post_end_s]`.
    pub post_start_s: f32,
    pub post_end_s: f32,
    /// Orientation change needed, degrees.
    pub angle_deg: f32,
    /// Stillness: standard deviation of the magnitude after the impact below this, g.
    pub still_std_g: f32,
    /// After a fall is decided, impacts within this many seconds belong to it.
    pub refractory_s: f32,
    /// The descent before the impact: speed gained while the magnitude was below 1 g over the
    /// second before it, m/s (a body dropping, not one lowered onto a bed); 0 turns it off.
    pub min_drop_mps: f32,
    /// How long a detected fall stays a fact for the rules (`patient.fallen`), seconds.
    pub fact_s: f32,
    /// The wearer's button within this many seconds of a fall cancels it ("I'm OK"): the fall
    /// alert is resolved, with the button as who resolved it.
    pub cancel_s: f32,
}

impl Default for FallConfig {
    fn default() -> Self {
        FallConfig {
            impact_g: 2.0,
            pre_from_s: 3.0,
            pre_to_s: 0.5,
            post_start_s: 1.0,
            post_end_s: 3.0,
            angle_deg: 55.0,
            still_std_g: 0.2,
            refractory_s: 5.0,
            min_drop_mps: 0.3,
            fact_s: 120.0,
            cancel_s: 30.0,
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
    at: i64,
    peak: f32,
}

/// One wearable's detector. Memory: the samples of `pre_from_s + post_end_s` seconds.
#[derive(Clone, Debug)]
pub struct FallDetector {
    cfg: FallConfig,
    samples: VecDeque<(i64, [f32; 3])>,
    pending: Option<Impact>,
    quiet_until: i64,
    last: Option<Evidence>,
}

fn norm(a: [f32; 3]) -> f32 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

fn ms(s: f32) -> i64 {
    (s * 1000.0) as i64
}

impl FallDetector {
    pub fn new(cfg: FallConfig) -> Self {
        FallDetector {
            cfg,
            samples: VecDeque::new(),
            pending: None,
            quiet_until: i64::MIN,
            last: None,
        }
    }

    /// Mean vector and the standard deviation of the magnitude over `[from, to]`.
    fn window(&self, from: i64, to: i64) -> Option<([f32; 3], f32)> {
        let (mut sum, mut n, mut m1, mut m2) = ([0f32; 3], 0f32, 0f32, 0f32);
        for (t, a) in &self.samples {
            if *t < from || *t > to {
                continue;
            }
            for k in 0..3 {
                sum[k] += a[k];
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
        let var = (m2 / n - (m1 / n).powi(2)).max(0.0);
        Some((mean, var.sqrt()))
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
                v += (1.0 - along / g) * 9.81 * (t - p) as f32 / 1000.0;
                best = best.max(v);
            }
            prev = Some(*t);
        }
        best
    }

    /// Feeds one sample (time in ms, acceleration in g); returns a fall when one is decided.
    /// Samples must come in time order; an older one is ignored.
    pub fn push(&mut self, t: i64, a: [f32; 3]) -> Option<Fall> {
        if !a.iter().all(|v| v.is_finite()) || self.samples.back().is_some_and(|(l, _)| t <= *l) {
            return None;
        }
        let c = self.cfg.clone();
        self.samples.push_back((t, a));
        let keep = ms(c.pre_from_s + c.post_end_s) + 1000;
        while self.samples.front().is_some_and(|(f, _)| t - f > keep) {
            self.samples.pop_front();
        }
        let m = norm(a);
        match &mut self.pending {
            None => {
                if m >= c.impact_g && t >= self.quiet_until {
                    self.pending = Some(Impact { at: t, peak: m });
                }
                None
            }
            Some(imp) => {
                if t - imp.at <= 500 {
                    // The impact is the peak of its first half second.
                    imp.peak = imp.peak.max(m);
                } else if m >= c.impact_g {
                    // Another impact later on (running, a stumble before the fall): the last
                    // one is the one to judge, since a fall ends still after its last impact.
                    *imp = Impact { at: t, peak: m };
                }
                if t - imp.at < ms(c.post_end_s) {
                    return None;
                }
                let imp = *imp;
                self.pending = None;
                let fall = self.decide(imp, t);
                if fall.is_some() {
                    // One fall, one alarm: the thrashing that follows is part of it.
                    self.quiet_until = t + ms(c.refractory_s.max(0.0));
                }
                fall
            }
        }
    }

    /// The evidence of the last candidate decided (fall or not), for evaluation.
    pub fn last_evidence(&self) -> Option<&Evidence> {
        self.last.as_ref()
    }

    fn evidence(&self, imp: Impact) -> Option<Evidence> {
        let c = &self.cfg;
        let (pre, pre_std) = self.window(imp.at - ms(c.pre_from_s), imp.at - ms(c.pre_to_s))?;
        let (post, still) = self.window(imp.at + ms(c.post_start_s), imp.at + ms(c.post_end_s))?;
        let (np, nq) = (norm(pre), norm(post));
        if np < 1e-3 || nq < 1e-3 {
            return None;
        }
        let cos = (pre[0] * post[0] + pre[1] * post[1] + pre[2] * post[2]) / (np * nq);
        Some(Evidence {
            impact_at: imp.at,
            peak_g: imp.peak,
            angle_deg: cos.clamp(-1.0, 1.0).acos().to_degrees(),
            still_std_g: still,
            drop_mps: self.drop_mps(imp.at, pre),
            pre_std_g: pre_std,
            post_g: nq,
        })
    }

    fn decide(&mut self, imp: Impact, now: i64) -> Option<Fall> {
        let c = &self.cfg;
        let e = self.evidence(imp);
        self.last = e;
        let e = e?;
        if e.angle_deg < c.angle_deg || e.still_std_g > c.still_std_g || e.drop_mps < c.min_drop_mps
        {
            return None;
        }
        let margin = |x: f32, at: f32| (x / at).min(2.0) - 1.0;
        let confidence = (0.5
            + 0.5
                * (margin(e.peak_g, c.impact_g)
                    + margin(e.angle_deg, c.angle_deg)
                    + margin(c.still_std_g, e.still_std_g.max(1e-3)))
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
    pub angle_deg: f32,
    pub still_std_g: f32,
    pub drop_mps: f32,
    /// Activity before the impact: standard deviation of the magnitude, g.
    pub pre_std_g: f32,
    /// Mean acceleration after the impact, g (about 1 when lying still).
    pub post_g: f32,
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
        let mut d = FallDetector::new(cfg.clone());
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
        let mut d = FallDetector::new(FallConfig::default());
        assert!(d.push(0, [f32::NAN, 0.0, 1.0]).is_none());
        assert!(d.push(10, [0.0, 0.0, 1.0]).is_none());
        assert!(
            d.push(5, [9.0, 9.0, 9.0]).is_none(),
            "out of order is ignored"
        );
        assert!(d.pending.is_none());
    }
}
