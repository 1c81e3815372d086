//! Bed exit from load cells: a detector per smart bed over `bed/{id}/load` (four cells: head-left,
//! head-right, foot-left, foot-right), fused with the bed's own exit alarm, the patient's fall
//! risk and who is in the room.
//!
//! The detector follows what bed-exit systems do (Hill-Rom/Stryker zones; Capezuti 2009 on
//! load-cell bed-exit alarms): it **arms** only when a patient's weight has rested on the bed for
//! `arm_s`, learns that weight, and then watches two signals: the share of it still on the bed,
//! and the centre of mass across the bed (-1 all on the left cells, +1 all on the right). The
//! patient's risk picks the **zone**: `movement` (turning towards an edge), `pre_exit` (sitting
//! on the edge, feet taking weight) or `exit` (the weight has left). A stage must hold `hold_s`
//! (a bump or a cough is not an exit); nothing counts while the bed moves and `inhibit_s` after
//! (raising the head shifts the load); after an exit the detector **re-arms** once the patient
//! has been back, centred, for `arm_s`.
//!
//! Load readings are those of the bed scale: zeroed with the empty bed (mattress and frame read
//! about 0), as bed scales are before a patient is weighed. Core: no IO, no panics on input.

use serde::Deserialize;

/// How early the detector speaks: each zone includes the later stages.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// Not watched (the bed's own alarm still counts).
    Off,
    /// The weight has left the bed.
    Exit,
    /// Sitting on the edge: the centre of mass at the side, or the feet taking weight.
    PreExit,
    /// Moving towards an edge.
    Movement,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Off => "off",
            Zone::Exit => "exit",
            Zone::PreExit => "pre_exit",
            Zone::Movement => "movement",
        }
    }
}

/// The zone for each fall-risk band (Morse: `none` 0-24, `low` 25-44, `high` 45+).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RiskZones {
    pub high: Zone,
    pub low: Zone,
    pub none: Zone,
}

impl Default for RiskZones {
    fn default() -> Self {
        RiskZones {
            high: Zone::PreExit,
            low: Zone::Exit,
            none: Zone::Off,
        }
    }
}

impl RiskZones {
    pub fn for_morse(&self, morse: Option<u8>) -> Zone {
        match morse.map(orderly_rules::schema::fall_risk) {
            Some("high") => self.high,
            Some("low") => self.low,
            Some(_) => self.none,
            // A bed without a known patient: weight leaving it is still worth a look.
            None => self.low,
        }
    }
}

/// Parameters (`[bed_exit]` in `rules/detectors.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BedExitConfig {
    /// A patient's weight: at least this much on the bed, kg.
    pub arm_kg: f32,
    /// Held this long to arm, or to re-arm after an exit, seconds.
    pub arm_s: f32,
    /// A stage must hold this long to count, seconds.
    pub hold_s: f32,
    /// Nothing counts while the bed moves and this long after, seconds.
    pub inhibit_s: f32,
    /// `movement`: centre of mass beyond this across the bed (0 centre, 1 the edge cells), or
    /// less than `movement_share` of the weight on the bed.
    pub movement_lateral: f32,
    pub movement_share: f32,
    /// `pre_exit`: centre of mass beyond this, or less than `pre_exit_share` on the bed.
    pub pre_exit_lateral: f32,
    pub pre_exit_share: f32,
    /// `exit`: less than this share of the patient's weight on the bed.
    pub exit_share: f32,
    pub zones: RiskZones,
}

impl Default for BedExitConfig {
    fn default() -> Self {
        BedExitConfig {
            arm_kg: 25.0,
            arm_s: 5.0,
            hold_s: 0.3,
            inhibit_s: 5.0,
            movement_lateral: 0.35,
            movement_share: 0.9,
            pre_exit_lateral: 0.6,
            pre_exit_share: 0.75,
            exit_share: 0.3,
            zones: RiskZones::default(),
        }
    }
}

/// What a batch of samples changed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// The patient's weight is on the bed (armed), kg.
    Armed { at: i64, weight_kg: f32 },
    /// The patient reached the watched `zone` (`stage`: how far, at the decision): `at` is when
    /// they got there, `decided_at` the sample that confirmed it.
    Exit {
        at: i64,
        decided_at: i64,
        zone: Zone,
        stage: Zone,
        share: f32,
        lateral: f32,
    },
    /// Back in bed after an exit (re-armed).
    Back { at: i64, weight_kg: f32 },
    /// The weight went while the detector was not watching (zone `off`, or inhibited): empty.
    Emptied { at: i64 },
}

#[derive(Clone, Debug, PartialEq)]
enum State {
    /// No patient weight.
    Empty,
    /// A patient's weight since `since`: its running sum for the baseline.
    Arming { since: i64, sum: f64, n: u32 },
    /// Watching: `stage_since` is when the patient reached the watched zone.
    Armed {
        baseline: f32,
        stage_since: Option<i64>,
    },
    /// After an exit; `back_since` while the patient seems back (with the weight's sum).
    Out { back_since: Option<(i64, f64, u32)> },
}

/// One bed's detector: a few numbers, no sample history.
#[derive(Clone, Debug)]
pub struct BedExitDetector {
    cfg: BedExitConfig,
    state: State,
    moving: bool,
    inhibit_until: i64,
    last_ms: Option<i64>,
}

/// The stage one sample is in, against the patient's weight: the most severe that applies.
fn stage(c: &BedExitConfig, share: f32, lateral: f32) -> Option<Zone> {
    let side = lateral.abs();
    if share < c.exit_share {
        Some(Zone::Exit)
    } else if share < c.pre_exit_share || side > c.pre_exit_lateral {
        Some(Zone::PreExit)
    } else if share < c.movement_share || side > c.movement_lateral {
        Some(Zone::Movement)
    } else {
        None
    }
}

/// The centre of mass across the bed from one sample of the four cells (head-left, head-right,
/// foot-left, foot-right): -1 all on the left cells, +1 all on the right; None without weight
/// or with a bad reading.
pub fn lateral(c: &[f32; 4]) -> Option<f32> {
    let w: f32 = c.iter().sum();
    (w.is_finite() && w > 1.0).then(|| ((c[1] + c[3]) - (c[0] + c[2])) / w)
}

fn ms(s: f32) -> i64 {
    (s.max(0.0) * 1000.0) as i64
}

impl BedExitDetector {
    /// New parameters, keeping what it knows (armed, out, the patient's weight): a reload never
    /// disarms a bed.
    pub fn set_config(&mut self, cfg: BedExitConfig) {
        self.cfg = cfg;
    }

    pub fn new(cfg: BedExitConfig) -> Self {
        BedExitDetector {
            cfg,
            state: State::Empty,
            moving: false,
            inhibit_until: i64::MIN,
            last_ms: None,
        }
    }

    /// The bed frame started or stopped moving (device time).
    pub fn set_moving(&mut self, at: i64, moving: bool) {
        if moving {
            self.moving = true;
        } else if self.moving {
            self.moving = false;
            self.inhibit_until = at + ms(self.cfg.inhibit_s);
        }
    }

    /// The patient is on the bed as the load cells see it (armed, not out).
    pub fn in_bed(&self) -> bool {
        matches!(self.state, State::Armed { .. })
    }

    /// Armed and watching, or out after an exit.
    pub fn armed(&self) -> bool {
        matches!(self.state, State::Armed { .. } | State::Out { .. })
    }

    /// A batch: samples at `hz` from `ts` (ms), watched for `zone`.
    pub fn samples(&mut self, ts: i64, hz: f32, cells: &[[f32; 4]], zone: Zone) -> Vec<Change> {
        let mut out = Vec::new();
        if !(hz.is_finite() && hz > 0.0) {
            return out;
        }
        let step = 1000.0 / f64::from(hz);
        for (i, c) in cells.iter().enumerate() {
            let at = ts + (i as f64 * step) as i64;
            if self.last_ms.is_some_and(|l| at <= l) {
                continue; // a repeat or out of order: already seen
            }
            // A gap in the data: a stage in progress starts again.
            if self.last_ms.is_some_and(|l| at - l > 5000)
                && let State::Armed { stage_since, .. } = &mut self.state
            {
                *stage_since = None;
            }
            let dt = self.last_ms.map_or(0, |l| (at - l).min(5000));
            self.last_ms = Some(at);
            if let Some(ch) = self.sample(at, dt, *c, zone) {
                out.push(ch);
            }
        }
        out
    }

    fn sample(&mut self, at: i64, dt: i64, c: [f32; 4], zone: Zone) -> Option<Change> {
        if c.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let w: f32 = c.iter().sum();
        let lateral = lateral(&c).unwrap_or(0.0);
        let cfg = &self.cfg;
        let inhibited = self.moving || at < self.inhibit_until;
        let heavy = w >= cfg.arm_kg;
        match &mut self.state {
            State::Empty => {
                if heavy {
                    self.state = State::Arming {
                        since: at,
                        sum: f64::from(w),
                        n: 1,
                    };
                }
                None
            }
            State::Arming { since, sum, n } => {
                if !heavy {
                    self.state = State::Empty;
                    return None;
                }
                *sum += f64::from(w);
                *n += 1;
                if at - *since >= ms(cfg.arm_s) {
                    let baseline = (*sum / f64::from(*n)) as f32;
                    self.state = State::Armed {
                        baseline,
                        stage_since: None,
                    };
                    return Some(Change::Armed {
                        at,
                        weight_kg: baseline,
                    });
                }
                None
            }
            State::Armed {
                baseline,
                stage_since,
            } => {
                let share = w / *baseline;
                if inhibited {
                    // The bed moving throws the load around: nothing to learn or to watch.
                    *stage_since = None;
                    return None;
                }
                let stage = stage(cfg, share, lateral);
                // Watched: the patient's zone; not watched, only the weight leaving (to know
                // the bed is empty).
                let watching = zone != Zone::Off;
                let goal = if watching { zone } else { Zone::Exit };
                let Some(s) = stage.filter(|s| *s <= goal) else {
                    *stage_since = None;
                    if stage.is_none() {
                        // Follow slow drift (a blanket, a tray): a minute's time constant.
                        *baseline += (w - *baseline) * (dt as f32 / 60_000.0).min(1.0);
                    }
                    return None;
                };
                let since = *stage_since.get_or_insert(at);
                let held = at - since;
                if watching && held >= ms(cfg.hold_s) {
                    self.state = State::Out { back_since: None };
                    return Some(Change::Exit {
                        at: since,
                        decided_at: at,
                        zone,
                        stage: s,
                        share,
                        lateral,
                    });
                }
                if !watching && held >= ms(cfg.arm_s) {
                    self.state = State::Empty;
                    return Some(Change::Emptied { at });
                }
                None
            }
            State::Out { back_since } => {
                // A patient's weight, centred (any patient's: the bed may have a new one).
                let back = heavy && lateral.abs() <= cfg.pre_exit_lateral;
                if !back {
                    *back_since = None;
                    return None;
                }
                let (since, sum, n) = back_since.get_or_insert((at, 0.0, 0));
                *sum += f64::from(w);
                *n += 1;
                if at - *since >= ms(cfg.arm_s) {
                    let weight = (*sum / f64::from(*n)) as f32;
                    self.state = State::Armed {
                        baseline: weight,
                        stage_since: None,
                    };
                    return Some(Change::Back {
                        at,
                        weight_kg: weight,
                    });
                }
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// In the world.

#[cfg(test)]
mod tests {
    use super::*;

    /// A patient of 80 kg lying centred, at 10 Hz.
    fn lying(kg: f32) -> [f32; 4] {
        [kg * 0.27, kg * 0.27, kg * 0.23, kg * 0.23]
    }

    /// Weight `share` of 80 kg at lateral centre `x` (-1 left .. 1 right).
    fn at(share: f32, x: f32) -> [f32; 4] {
        let w = 80.0 * share;
        let right = w * (1.0 + x) / 2.0;
        let left = w - right;
        [left * 0.55, right * 0.55, left * 0.45, right * 0.45]
    }

    fn run(
        d: &mut BedExitDetector,
        from_s: f32,
        secs: f32,
        f: impl Fn(f32) -> [f32; 4],
        zone: Zone,
    ) -> Vec<Change> {
        let n = (secs * 10.0) as usize;
        let cells: Vec<[f32; 4]> = (0..n).map(|i| f(i as f32 / 10.0)).collect();
        let mut out = Vec::new();
        // In 1 s batches, as beds send them.
        for (k, chunk) in cells.chunks(10).enumerate() {
            let ts = ((from_s + k as f32) * 1000.0) as i64;
            out.extend(d.samples(ts, 10.0, chunk, zone));
        }
        out
    }

    fn armed() -> BedExitDetector {
        let mut d = BedExitDetector::new(BedExitConfig::default());
        let ch = run(&mut d, 0.0, 8.0, |_| lying(80.0), Zone::Exit);
        assert!(matches!(ch[..], [Change::Armed { .. }]), "{ch:?}");
        assert!(d.in_bed());
        d
    }

    #[test]
    fn an_empty_bed_or_a_bag_on_it_never_arms() {
        let mut d = BedExitDetector::new(BedExitConfig::default());
        assert!(run(&mut d, 0.0, 20.0, |_| lying(12.0), Zone::Movement).is_empty());
        assert!(!d.armed());
        // A patient sitting down for two seconds does not arm it either.
        assert!(run(&mut d, 20.0, 2.0, |_| lying(80.0), Zone::Movement).is_empty());
        assert!(run(&mut d, 22.0, 5.0, |_| lying(0.0), Zone::Movement).is_empty());
    }

    #[test]
    fn standing_up_is_an_exit_within_the_hold_and_back_in_bed_re_arms() {
        let mut d = armed();
        // Sits on the right edge for 2 s (not yet an exit for zone `exit`), then stands.
        let ch = run(
            &mut d,
            8.0,
            6.0,
            |t| match t {
                ..2.0 => at(0.8, 0.8),
                _ => at(0.02, 0.0),
            },
            Zone::Exit,
        );
        let [
            Change::Exit {
                at,
                decided_at,
                zone,
                ..
            },
        ] = ch[..]
        else {
            panic!("{ch:?}")
        };
        assert_eq!(zone, Zone::Exit);
        assert_eq!(at, 10_000, "the stage began when the weight left");
        assert!(decided_at - at <= 400, "{decided_at}");
        assert!(!d.in_bed() && d.armed());
        // Back: centred for arm_s re-arms, once.
        let ch = run(&mut d, 14.0, 8.0, |_| lying(79.0), Zone::Exit);
        assert!(matches!(ch[..], [Change::Back { .. }]), "{ch:?}");
        assert!(d.in_bed());
    }

    #[test]
    fn the_zone_decides_how_early() {
        for (zone, want_at) in [
            (Zone::Movement, 8_000),
            (Zone::PreExit, 9_000),
            (Zone::Exit, 10_000),
        ] {
            let mut d = armed();
            let ch = run(
                &mut d,
                8.0,
                4.0,
                |t| match t {
                    ..1.0 => at(1.0, 0.45), // rolled towards the edge
                    ..2.0 => at(0.7, 0.85), // sitting on it, feet down
                    _ => at(0.0, 0.0),
                },
                zone,
            );
            let exits: Vec<i64> = ch
                .iter()
                .filter_map(|c| match c {
                    Change::Exit { at, .. } => Some(*at),
                    _ => None,
                })
                .collect();
            assert_eq!(exits, [want_at], "{zone:?}: {ch:?}");
        }
    }

    #[test]
    fn rolling_over_and_a_cough_are_not_exits_at_pre_exit() {
        let mut d = armed();
        let ch = run(
            &mut d,
            8.0,
            30.0,
            |t| match t {
                ..10.0 => at(1.0, 0.3 * (t / 10.0)), // turning onto the right side
                ..10.2 => at(0.6, 0.9),              // a jolt: 0.2 s, under the hold
                _ => at(1.0, 0.3),
            },
            Zone::PreExit,
        );
        assert!(ch.is_empty(), "{ch:?}");
        assert!(d.in_bed());
    }

    #[test]
    fn nothing_counts_while_the_bed_moves_and_a_few_seconds_after() {
        let mut d = armed();
        d.set_moving(8_000, true);
        // Raising the head throws the load around.
        assert!(run(&mut d, 8.0, 4.0, |_| at(0.6, 0.7), Zone::Movement).is_empty());
        d.set_moving(12_000, false);
        assert!(run(&mut d, 12.0, 4.0, |_| at(0.9, 0.5), Zone::Movement).is_empty());
        // After inhibit_s the same position counts.
        let ch = run(&mut d, 17.0, 2.0, |_| at(0.9, 0.5), Zone::Movement);
        assert!(
            matches!(ch[..], [Change::Exit { at: 17_000, .. }]),
            "{ch:?}"
        );
    }

    #[test]
    fn zone_off_watches_nothing_but_still_knows_the_bed_is_empty() {
        let mut d = armed();
        let ch = run(&mut d, 8.0, 10.0, |_| at(0.0, 0.0), Zone::Off);
        assert!(matches!(ch[..], [Change::Emptied { .. }]), "{ch:?}");
        assert!(!d.armed());
    }

    #[test]
    fn garbage_and_repeats_change_nothing() {
        let mut d = armed();
        let before = format!("{:?}", d.state);
        assert!(
            d.samples(9_000, f32::NAN, &[lying(0.0)], Zone::Exit)
                .is_empty()
        );
        assert!(
            d.samples(9_000, 10.0, &[[f32::NAN; 4]], Zone::Exit)
                .is_empty()
        );
        assert!(
            d.samples(1_000, 10.0, &[lying(0.0); 20], Zone::Exit)
                .is_empty(),
            "already seen"
        );
        assert_eq!(format!("{:?}", d.state), before);
    }
}
