//! The National Early Warning Score 2 (Royal College of Physicians, 2017), exactly as its chart
//! 1 scores each parameter and its chart 2 turns the aggregate into a clinical response.
//! Values are read as the chart is: rates, saturation and pressures to the whole number,
//! temperature to one decimal. A value outside what a living adult can have is refused, never
//! scored.

use serde::{Deserialize, Serialize};

/// Level of consciousness on the ACVPU scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Consciousness {
    Alert,
    /// New confusion (or delirium): scores 3 like V, P and U.
    NewConfusion,
    Voice,
    Pain,
    Unresponsive,
}

/// Which SpO2 scale: 2 for patients a clinician has marked as having hypercapnic respiratory
/// failure (target saturation 88-92 %), 1 for everyone else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpO2Scale {
    #[default]
    One,
    Two,
}

/// One set of observations; a parameter not measured is None.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Observations {
    /// Breaths per minute.
    pub respiration_rate: Option<f64>,
    /// Oxygen saturation, %.
    pub spo2: Option<f64>,
    /// Breathing supplemental oxygen (any flow), rather than air.
    pub on_oxygen: Option<bool>,
    /// Systolic blood pressure, mmHg.
    pub systolic: Option<f64>,
    /// Beats per minute.
    pub pulse: Option<f64>,
    pub consciousness: Option<Consciousness>,
    /// Degrees Celsius.
    pub temperature_c: Option<f64>,
}

/// Why a value is not scored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ObservationError {
    #[error("{parameter} {value} is not a number a patient can have ({range})")]
    OutOfRange {
        parameter: &'static str,
        value: f64,
        range: &'static str,
    },
}

/// Each parameter's sub-score (None: not measured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubScores {
    pub respiration_rate: Option<u8>,
    pub spo2: Option<u8>,
    pub air_or_oxygen: Option<u8>,
    pub systolic: Option<u8>,
    pub pulse: Option<u8>,
    pub consciousness: Option<u8>,
    pub temperature: Option<u8>,
}

impl SubScores {
    pub fn all(&self) -> [Option<u8>; 7] {
        [
            self.respiration_rate,
            self.spo2,
            self.air_or_oxygen,
            self.systolic,
            self.pulse,
            self.consciousness,
            self.temperature,
        ]
    }
}

/// The clinical response the chart asks for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Aggregate 0: observations at least 12-hourly.
    Routine,
    /// Aggregate 1-4: at least 4-6 hourly; a registered nurse assesses.
    Low,
    /// A 3 in any single parameter (aggregate under 5): at least hourly, urgent ward review.
    LowMediumSingle,
    /// Aggregate 5-6: urgent response, at least hourly.
    Medium,
    /// Aggregate 7 or more: emergency response, continuous monitoring.
    High,
}

impl Response {
    pub fn as_str(self) -> &'static str {
        match self {
            Response::Routine => "routine",
            Response::Low => "low",
            Response::LowMediumSingle => "single_parameter_3",
            Response::Medium => "medium",
            Response::High => "high",
        }
    }
    /// The longest the next observations may wait, minutes.
    pub fn observe_within_min(self) -> u32 {
        match self {
            Response::Routine => 12 * 60,
            Response::Low => 4 * 60,
            Response::LowMediumSingle | Response::Medium => 60,
            // Continuous monitoring: a set at least every 15 minutes.
            Response::High => 15,
        }
    }
}

/// A scored set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct News2 {
    pub sub: SubScores,
    /// The sum of the sub-scores measured.
    pub aggregate: u8,
    /// All seven parameters measured (an incomplete set is a partial score, never a routine 0).
    pub complete: bool,
    pub response: Response,
}

/// One charted set (`patient.observed`): the values a patient's score counted at a time, with
/// the score, as a NEWS2 chart's column shows them. A nurse's spot check is charted as it
/// comes; a continuous sensor's values (each the median of its window) every few minutes, and
/// whenever the score changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Charted {
    pub patient: String,
    #[serde(default)]
    pub unit: Option<String>,
    /// The patient's bed then (a bed asset id), if in one.
    #[serde(default)]
    pub bed: Option<String>,
    /// What measured the newest value: `wearable W-1`, `monitor mon-icu-03`, `hl7 EHR/GH`.
    pub source: String,
    /// `spot` (a nurse's set) or `continuous` (a sensor).
    pub mode: crate::reading::VitalsMode,
    /// When the newest value counted was taken.
    pub taken_at: crate::Timestamp,
    pub obs: Observations,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o2_flow_lpm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diastolic: Option<f64>,
    pub scale: SpO2Scale,
    pub news: News2,
}

fn check(
    parameter: &'static str,
    v: f64,
    lo: f64,
    hi: f64,
    range: &'static str,
) -> Result<f64, ObservationError> {
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(ObservationError::OutOfRange {
            parameter,
            value: v,
            range,
        })
    }
}

/// Breaths per minute, whole.
pub fn respiration_rate(rr: u32) -> u8 {
    match rr {
        0..=8 => 3,
        9..=11 => 1,
        12..=20 => 0,
        21..=24 => 2,
        _ => 3,
    }
}

/// SpO2 %, whole, on the scale; `on_oxygen` matters on scale 2 above 92 %.
pub fn spo2(sat: u32, scale: SpO2Scale, on_oxygen: bool) -> u8 {
    match scale {
        SpO2Scale::One => match sat {
            0..=91 => 3,
            92..=93 => 2,
            94..=95 => 1,
            _ => 0,
        },
        SpO2Scale::Two => match (sat, on_oxygen) {
            (0..=83, _) => 3,
            (84..=85, _) => 2,
            (86..=87, _) => 1,
            (88..=92, _) => 0,
            (_, false) => 0,
            (93..=94, true) => 1,
            (95..=96, true) => 2,
            (_, true) => 3,
        },
    }
}

pub fn air_or_oxygen(on_oxygen: bool) -> u8 {
    if on_oxygen { 2 } else { 0 }
}

/// Systolic mmHg, whole.
pub fn systolic(sbp: u32) -> u8 {
    match sbp {
        0..=90 => 3,
        91..=100 => 2,
        101..=110 => 1,
        111..=219 => 0,
        _ => 3,
    }
}

/// Beats per minute, whole.
pub fn pulse(hr: u32) -> u8 {
    match hr {
        0..=40 => 3,
        41..=50 => 1,
        51..=90 => 0,
        91..=110 => 1,
        111..=130 => 2,
        _ => 3,
    }
}

pub fn consciousness(c: Consciousness) -> u8 {
    match c {
        Consciousness::Alert => 0,
        _ => 3,
    }
}

/// Degrees Celsius in tenths (36.1 is 361).
pub fn temperature_tenths(t: i32) -> u8 {
    match t {
        i32::MIN..=350 => 3,
        351..=360 => 1,
        361..=380 => 0,
        381..=390 => 1,
        _ => 2,
    }
}

/// The response for an aggregate, given whether any single parameter scored 3.
pub fn response(aggregate: u8, any_three: bool) -> Response {
    match aggregate {
        7.. => Response::High,
        5..=6 => Response::Medium,
        _ if any_three => Response::LowMediumSingle,
        1..=4 => Response::Low,
        0 => Response::Routine,
    }
}

/// Scores a set of observations on a scale.
pub fn score(o: &Observations, scale: SpO2Scale) -> Result<News2, ObservationError> {
    let whole = |x: f64| x.round() as u32;
    let mut sub = SubScores::default();
    if let Some(v) = o.respiration_rate {
        let v = check("respiration rate", v, 0.0, 80.0, "0-80 per minute")?;
        sub.respiration_rate = Some(respiration_rate(whole(v)));
    }
    let on_oxygen = o.on_oxygen;
    if let Some(v) = o.spo2 {
        let v = check("SpO2", v, 20.0, 100.0, "20-100 %")?;
        sub.spo2 = Some(spo2(whole(v), scale, on_oxygen.unwrap_or(false)));
    }
    sub.air_or_oxygen = on_oxygen.map(air_or_oxygen);
    if let Some(v) = o.systolic {
        let v = check("systolic pressure", v, 20.0, 300.0, "20-300 mmHg")?;
        sub.systolic = Some(systolic(whole(v)));
    }
    if let Some(v) = o.pulse {
        let v = check("pulse", v, 0.0, 300.0, "0-300 per minute")?;
        sub.pulse = Some(pulse(whole(v)));
    }
    sub.consciousness = o.consciousness.map(consciousness);
    if let Some(v) = o.temperature_c {
        let v = check("temperature", v, 25.0, 45.0, "25-45 °C")?;
        sub.temperature = Some(temperature_tenths((v * 10.0).round() as i32));
    }
    let all = sub.all();
    let aggregate = all.iter().flatten().sum();
    let any_three = all.iter().flatten().any(|s| *s == 3);
    Ok(News2 {
        sub,
        aggregate,
        complete: all.iter().all(Option::is_some),
        response: response(aggregate, any_three),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides of every threshold on chart 1.
    #[test]
    fn every_boundary_of_every_parameter() {
        for (v, s) in [
            (8, 3),
            (9, 1),
            (11, 1),
            (12, 0),
            (20, 0),
            (21, 2),
            (24, 2),
            (25, 3),
        ] {
            assert_eq!(respiration_rate(v), s, "RR {v}");
        }
        for (v, s) in [
            (91, 3),
            (92, 2),
            (93, 2),
            (94, 1),
            (95, 1),
            (96, 0),
            (100, 0),
        ] {
            assert_eq!(spo2(v, SpO2Scale::One, false), s, "scale 1 SpO2 {v}");
            assert_eq!(
                spo2(v, SpO2Scale::One, true),
                s,
                "scale 1 SpO2 {v} on oxygen"
            );
        }
        for (v, air, o2) in [
            (83, 3, 3),
            (84, 2, 2),
            (85, 2, 2),
            (86, 1, 1),
            (87, 1, 1),
            (88, 0, 0),
            (92, 0, 0),
            (93, 0, 1),
            (94, 0, 1),
            (95, 0, 2),
            (96, 0, 2),
            (97, 0, 3),
            (100, 0, 3),
        ] {
            assert_eq!(
                spo2(v, SpO2Scale::Two, false),
                air,
                "scale 2 SpO2 {v} on air"
            );
            assert_eq!(
                spo2(v, SpO2Scale::Two, true),
                o2,
                "scale 2 SpO2 {v} on oxygen"
            );
        }
        assert_eq!((air_or_oxygen(true), air_or_oxygen(false)), (2, 0));
        for (v, s) in [
            (90, 3),
            (91, 2),
            (100, 2),
            (101, 1),
            (110, 1),
            (111, 0),
            (219, 0),
            (220, 3),
        ] {
            assert_eq!(systolic(v), s, "SBP {v}");
        }
        for (v, s) in [
            (40, 3),
            (41, 1),
            (50, 1),
            (51, 0),
            (90, 0),
            (91, 1),
            (110, 1),
            (111, 2),
            (130, 2),
            (131, 3),
        ] {
            assert_eq!(pulse(v), s, "pulse {v}");
        }
        assert_eq!(consciousness(Consciousness::Alert), 0);
        for c in [
            Consciousness::NewConfusion,
            Consciousness::Voice,
            Consciousness::Pain,
            Consciousness::Unresponsive,
        ] {
            assert_eq!(consciousness(c), 3, "{c:?}");
        }
        for (v, s) in [
            (350, 3),
            (351, 1),
            (360, 1),
            (361, 0),
            (380, 0),
            (381, 1),
            (390, 1),
            (391, 2),
        ] {
            assert_eq!(temperature_tenths(v), s, "temperature {v}");
        }
    }

    #[test]
    fn the_aggregate_bands_and_the_single_three() {
        assert_eq!(response(0, false), Response::Routine);
        assert_eq!(response(1, false), Response::Low);
        assert_eq!(response(4, false), Response::Low);
        assert_eq!(response(3, true), Response::LowMediumSingle);
        assert_eq!(response(4, true), Response::LowMediumSingle);
        assert_eq!(response(5, false), Response::Medium);
        assert_eq!(response(6, true), Response::Medium);
        assert_eq!(response(7, false), Response::High);
        assert_eq!(response(20, true), Response::High);
    }

    #[test]
    fn a_set_is_read_as_the_chart_reads_it() {
        let o = Observations {
            respiration_rate: Some(22.0),
            spo2: Some(93.4),
            on_oxygen: Some(true),
            systolic: Some(105.0),
            pulse: Some(112.0),
            consciousness: Some(Consciousness::Alert),
            temperature_c: Some(38.04),
        };
        let n = score(&o, SpO2Scale::One).unwrap();
        // RR 2, SpO2 93 -> 2, oxygen 2, SBP 1, pulse 2, alert 0, 38.0 -> 0.
        assert_eq!(n.aggregate, 9);
        assert!(n.complete);
        assert_eq!(n.response, Response::High);
        let n = score(&o, SpO2Scale::Two).unwrap();
        assert_eq!(n.sub.spo2, Some(1), "93 on oxygen, scale 2");
        // A partial set is not a routine 0.
        let partial = score(
            &Observations {
                pulse: Some(70.0),
                ..Observations::default()
            },
            SpO2Scale::One,
        )
        .unwrap();
        assert_eq!((partial.aggregate, partial.complete), (0, false));
        for bad in [
            Observations {
                spo2: Some(140.0),
                ..Observations::default()
            },
            Observations {
                respiration_rate: Some(-1.0),
                ..Observations::default()
            },
            Observations {
                temperature_c: Some(f64::NAN),
                ..Observations::default()
            },
        ] {
            assert!(score(&bad, SpO2Scale::One).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// The aggregate is the sum of the parts, and the response follows from it.
        #[test]
        fn the_aggregate_is_the_sum_of_the_parts(
            rr in 0.0f64..80.0, sat in 20.0f64..100.0, o2: bool, sbp in 20.0f64..300.0,
            hr in 0.0f64..300.0, alert: bool, t in 25.0f64..45.0, two: bool,
        ) {
            let o = Observations {
                respiration_rate: Some(rr),
                spo2: Some(sat),
                on_oxygen: Some(o2),
                systolic: Some(sbp),
                pulse: Some(hr),
                consciousness: Some(if alert { Consciousness::Alert } else { Consciousness::Voice }),
                temperature_c: Some(t),
            };
            let n = score(&o, if two { SpO2Scale::Two } else { SpO2Scale::One }).unwrap();
            let parts: u8 = n.sub.all().iter().flatten().sum();
            proptest::prop_assert_eq!(n.aggregate, parts);
            proptest::prop_assert!(n.complete);
            proptest::prop_assert!(n.sub.all().iter().flatten().all(|s| *s <= 3));
            let three = n.sub.all().iter().flatten().any(|s| *s == 3);
            proptest::prop_assert_eq!(n.response, response(parts, three));
        }
    }
}
