//! What a patient's body does, as the bed's load cells and the wearable's accelerometer see
//! it: lying, getting up, walking, falling, getting back in; and the batching of samples into
//! messages.

use super::*;

/// Samples gathered for one message: the first sample's time and the samples; full at `len`.
pub(crate) struct Batch<T> {
    first: Timestamp,
    samples: Vec<T>,
}

impl<T> Batch<T> {
    pub(crate) fn new(at: Timestamp) -> Self {
        Batch {
            first: at,
            samples: Vec::new(),
        }
    }

    /// Adds a sample taken at `at`; returns the batch once it holds `len`.
    pub(crate) fn push(
        &mut self,
        at: Timestamp,
        sample: T,
        len: usize,
    ) -> Option<(Timestamp, Vec<T>)> {
        if self.samples.is_empty() {
            self.first = at;
        }
        self.samples.push(sample);
        (self.samples.len() >= len).then(|| {
            let full = std::mem::replace(self, Batch::new(at));
            (full.first, full.samples)
        })
    }
}

/// What a bed's patient is doing. Getting up takes 4 s (to the edge, feet down, standing) and
/// getting back in 3 s, so the load cells and the wearable see the whole movement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Activity {
    InBed,
    GettingUp {
        since: Timestamp,
        /// -1 left, 1 right.
        side: f32,
        /// A fall on the way (the impact), for falls the simulator injects.
        fall_at: Option<Timestamp>,
    },
    Out {
        back_at: Timestamp,
        fall_at: Option<Timestamp>,
        fallen: bool,
    },
    GettingIn {
        since: Timestamp,
        side: f32,
    },
}

/// Standing up after `GETTING_UP_MS`; back in bed `GETTING_IN_MS` after starting.
pub(crate) const GETTING_UP_MS: i64 = 4000;
pub(crate) const GETTING_IN_MS: i64 = 3000;

impl Activity {
    /// Share of the patient's weight on the bed, and the lateral centre of mass.
    pub(crate) fn load(&self, now: Timestamp) -> (f32, f32) {
        match *self {
            Activity::InBed => (1.0, 0.0),
            Activity::GettingUp { since, side, .. } => {
                let e = now.since(since) as f32;
                if e < 2000.0 {
                    (1.0 - 0.05 * e / 2000.0, side * 0.85 * e / 2000.0)
                } else {
                    (0.65, side * 0.88)
                }
            }
            Activity::Out { .. } => (0.0, 0.0),
            Activity::GettingIn { since, side } => {
                let e = now.since(since) as f32;
                if e < 1500.0 {
                    (0.65, side * 0.88)
                } else {
                    (1.0, side * 0.88 * (1.0 - (e - 1500.0) / 1500.0).max(0.0))
                }
            }
        }
    }

    /// The wearer's acceleration in the body frame (x forward, y up when standing, z to the
    /// side), g, without noise: lying on the back in bed, sitting up, walking, falling.
    pub(crate) fn body_acc(&self, now: Timestamp) -> [f32; 3] {
        let turn = |frac: f32| {
            let a = frac.clamp(0.0, 1.0) * std::f32::consts::FRAC_PI_2;
            [a.cos(), a.sin(), 0.0]
        };
        match *self {
            Activity::InBed => [1.0, 0.0, 0.0],
            Activity::GettingUp { since, .. } => turn(now.since(since) as f32 / 2000.0),
            Activity::Out {
                fall_at, fallen, ..
            } => {
                let to_fall = fall_at.map(|f| f.since(now));
                match to_fall {
                    // Dropping: the last 0.4 s before the impact is near free fall.
                    Some(d) if !fallen && (1..=400).contains(&d) => [0.05, 0.3, 0.05],
                    // The impact: 60 ms of about 3.2 g.
                    Some(d) if (-60..=0).contains(&d) => [2.5, 2.0, 0.5],
                    // On the floor, on one side, still.
                    Some(d) if d < -60 => [0.0, 0.0, 1.0],
                    _ => {
                        // Walking: about two steps a second.
                        let t = now.0 as f32 / 1000.0;
                        let w = (std::f32::consts::TAU * 2.0 * t).sin();
                        [
                            0.05 * w,
                            1.0 + 0.25 * w,
                            0.05 * (std::f32::consts::PI * 2.0 * t).cos(),
                        ]
                    }
                }
            }
            Activity::GettingIn { since, .. } => {
                turn(1.0 - now.since(since) as f32 / GETTING_IN_MS as f32)
            }
        }
    }
}
