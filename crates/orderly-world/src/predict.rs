//! Predictions that explain themselves, over one device's telemetry: pure arithmetic, no state
//! beyond what the caller keeps.
//!
//! - Battery health: each discharge on battery gives an estimate of the run time a full charge
//!   would give (`100 / %-per-hour`). A robust line through the recent estimates (Theil-Sen: the
//!   median of the pairwise slopes) says when the run time falls below the policy's minimum,
//!   and the 10th-90th percentile of those slopes gives the interval.
//! - Occlusion rate: a one-sided CUSUM for a Poisson rate (Page 1954; Lucas 1985) of the
//!   device's occlusion alarms per infusing hour against its fleet's rate: it rises by each
//!   alarm and falls by `k` times the expected count, and signals above `h`. `k` is the
//!   log-likelihood-ratio reference for doubling the rate.

use orderly_model::Timestamp;

const DAY_MS: f64 = 86_400_000.0;

/// Where a trend crosses a threshold, and how sure.
#[derive(Clone, Debug, PartialEq)]
pub struct Crossing {
    /// The predicted date (None: not falling).
    pub at: Option<Timestamp>,
    /// 80% interval of the date, from the 10th and 90th percentile slopes.
    pub earliest: Option<Timestamp>,
    pub latest: Option<Timestamp>,
    /// The value now, on the line.
    pub now_value: f64,
    /// Slope per 30 days.
    pub per_month: f64,
    pub points: usize,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Theil-Sen over `(time, value)` points: when the line falls to `threshold`. None when there
/// are fewer than `min_points` or they span less than `min_days`.
pub fn crossing(
    points: &[(Timestamp, f64)],
    threshold: f64,
    now: Timestamp,
    min_points: usize,
    min_days: f64,
) -> Option<Crossing> {
    if points.len() < min_points.max(2) {
        return None;
    }
    let t0 = points[0].0;
    let span = points.last()?.0.since(t0) as f64 / DAY_MS;
    if span < min_days {
        return None;
    }
    let xs: Vec<(f64, f64)> = points
        .iter()
        .map(|(t, v)| (t.since(t0) as f64 / DAY_MS, *v))
        .collect();
    let mut slopes = Vec::new();
    for i in 0..xs.len() {
        for j in i + 1..xs.len() {
            let dx = xs[j].0 - xs[i].0;
            if dx > 1e-6 {
                slopes.push((xs[j].1 - xs[i].1) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let slope = quantile(&slopes, 0.5);
    let mut intercepts: Vec<f64> = xs.iter().map(|(x, y)| y - slope * x).collect();
    intercepts.sort_by(f64::total_cmp);
    let b = quantile(&intercepts, 0.5);
    let now_x = now.since(t0) as f64 / DAY_MS;
    let now_value = b + slope * now_x;
    // The date the line through the current value with slope `s` reaches the threshold.
    let when = |s: f64| -> Option<Timestamp> {
        if now_value <= threshold {
            return Some(now);
        }
        (s < 0.0).then(|| {
            let days = (threshold - now_value) / s;
            Timestamp(now.millis() + (days.min(3650.0) * DAY_MS) as i64)
        })
    };
    Some(Crossing {
        at: when(slope),
        // A steeper fall (the 10th percentile slope) crosses sooner.
        earliest: when(quantile(&slopes, 0.1)),
        latest: when(quantile(&slopes, 0.9)),
        now_value,
        per_month: slope * 30.0,
        points: points.len(),
    })
}

/// The run time a full charge gives, hours, from one discharge on battery (None when it is too
/// short to tell: under 15 minutes or 2 points of charge).
pub fn runtime_hours(from: (Timestamp, f32), to: (Timestamp, f32)) -> Option<f64> {
    let hours = to.0.since(from.0) as f64 / 3_600_000.0;
    let drop = (from.1 - to.1) as f64;
    (hours >= 0.25 && drop >= 2.0).then(|| 100.0 * hours / drop)
}

/// A one-sided Poisson CUSUM on count data with a known reference rate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cusum {
    pub s: f64,
    /// Counts and exposure since the statistic last left zero (for the explanation).
    pub count: f64,
    pub exposure: f64,
}

impl Cusum {
    /// `k` per unit of expected count, for detecting a rate `ratio` times the reference.
    pub fn k(ratio: f64) -> f64 {
        (ratio - 1.0) / ratio.ln()
    }

    /// Adds `count` events over `exposure` units at the reference `rate` per unit.
    pub fn add(&mut self, count: f64, exposure: f64, rate: f64, ratio: f64) {
        if self.s <= 0.0 {
            self.count = 0.0;
            self.exposure = 0.0;
        }
        self.s = (self.s + count - Self::k(ratio) * rate * exposure).max(0.0);
        self.count += count;
        self.exposure += exposure;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: f64) -> Timestamp {
        Timestamp((d * DAY_MS) as i64)
    }

    #[test]
    fn a_falling_battery_crosses_its_minimum_on_the_predicted_day_within_its_interval() {
        // 6 h of run time falling 0.1 h a day, with noise and one outlier: 2 h at day 40.
        let pts: Vec<(Timestamp, f64)> = (0..20)
            .map(|i| {
                let d = i as f64 * 1.5;
                let noise = [0.1, -0.15, 0.05, 0.0, -0.05][i % 5];
                let v = if i == 7 { 1.0 } else { 6.0 - 0.1 * d + noise };
                (day(d), v)
            })
            .collect();
        let c = crossing(&pts, 2.0, day(30.0), 5, 7.0).unwrap();
        let at = c.at.unwrap().millis() as f64 / DAY_MS;
        assert!((at - 40.0).abs() < 2.0, "{at}");
        let (lo, hi) = (c.earliest.unwrap(), c.latest.unwrap());
        assert!(lo <= c.at.unwrap() && c.at.unwrap() <= hi, "{c:?}");
        assert!((c.per_month + 3.0).abs() < 0.3, "{}", c.per_month);
        // A steady battery never crosses; too few or too close points say nothing.
        let flat: Vec<_> = (0..10)
            .map(|i| (day(i as f64), 5.0 + 0.01 * (i % 3) as f64))
            .collect();
        let c = crossing(&flat, 2.0, day(10.0), 5, 7.0).unwrap();
        assert!(
            c.at.is_none() || c.at.unwrap().millis() as f64 / DAY_MS > 365.0,
            "{c:?}"
        );
        assert!(crossing(&pts[..3], 2.0, day(30.0), 5, 7.0).is_none());
        assert!(
            crossing(&pts[..5], 2.0, day(30.0), 5, 7.0).is_none(),
            "spans 6 days"
        );
    }

    #[test]
    fn a_discharge_gives_a_run_time_when_it_is_long_enough() {
        let h = |x: f64| Timestamp((x * 3_600_000.0) as i64);
        assert_eq!(runtime_hours((h(0.0), 90.0), (h(1.0), 70.0)), Some(5.0));
        assert_eq!(runtime_hours((h(0.0), 90.0), (h(0.1), 80.0)), None);
        assert_eq!(runtime_hours((h(0.0), 90.0), (h(2.0), 89.0)), None);
    }

    #[test]
    fn cusum_stays_low_at_the_reference_rate_and_signals_a_doubled_one() {
        let mut c = Cusum::default();
        // 0.05 alarms per hour, in 10-hour steps: 1 alarm every other step.
        for i in 0..200 {
            c.add((i % 2) as f64, 10.0, 0.05, 2.0);
            assert!(c.s < 5.0, "{i}: {c:?}");
        }
        let mut d = Cusum::default();
        let mut signalled = None;
        for i in 0..200 {
            d.add(1.0, 10.0, 0.05, 2.0);
            if d.s > 5.0 {
                signalled = Some(i);
                break;
            }
        }
        assert!(signalled.is_some_and(|i| i < 30), "{signalled:?}");
        assert!(d.count / d.exposure > 0.09);
    }
}
