//! Utilisation: how an asset spent a window of time, from the committed events (status changes,
//! tags lost and found). Pure: the store reads the events, the API serves the result as JSON or
//! CSV.
//!
//! Every moment of the window is in exactly one state: `missing` while the tag is lost
//! (whatever the status), else by status: `in_use`; `idle` (available or clean);
//! `cleaning` (needs cleaning); `out_of_service`. Utilisation is the time in use over the time
//! the item was on hand and serviceable (in use + idle + cleaning): missing and out-of-service
//! time are reported, not hidden in the ratio.

use crate::{AssetStatus, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;

/// What changed for an asset at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Status(AssetStatus),
    /// The tag went silent past its timeout (true), or was heard again (false).
    Missing(bool),
}

/// An asset, with its state when the window opens.
#[derive(Clone, Debug)]
pub struct Start {
    pub id: String,
    pub kind: String,
    pub unit: Option<String>,
    pub status: AssetStatus,
    pub missing: bool,
}

/// Seconds per state, and the ratio.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Times {
    pub in_use_s: f64,
    pub idle_s: f64,
    pub cleaning_s: f64,
    pub out_of_service_s: f64,
    pub missing_s: f64,
    /// in use / (in use + idle + cleaning); null when it was never on hand.
    pub utilisation: Option<f64>,
}

impl Times {
    fn add(&mut self, o: &Times) {
        self.in_use_s += o.in_use_s;
        self.idle_s += o.idle_s;
        self.cleaning_s += o.cleaning_s;
        self.out_of_service_s += o.out_of_service_s;
        self.missing_s += o.missing_s;
    }

    fn finish(&mut self) {
        let on_hand = self.in_use_s + self.idle_s + self.cleaning_s;
        self.utilisation = (on_hand > 0.0).then(|| round3(self.in_use_s / on_hand));
        for v in [
            &mut self.in_use_s,
            &mut self.idle_s,
            &mut self.cleaning_s,
            &mut self.out_of_service_s,
            &mut self.missing_s,
        ] {
            *v = v.round();
        }
    }

    fn slot(&mut self, status: AssetStatus, missing: bool) -> &mut f64 {
        if missing {
            return &mut self.missing_s;
        }
        match status {
            AssetStatus::InUse => &mut self.in_use_s,
            AssetStatus::Available | AssetStatus::Clean => &mut self.idle_s,
            AssetStatus::NeedsCleaning => &mut self.cleaning_s,
            AssetStatus::OutOfService => &mut self.out_of_service_s,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AssetUse {
    pub id: String,
    pub kind: String,
    /// Home unit.
    pub unit: Option<String>,
    #[serde(flatten)]
    pub times: Times,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GroupUse {
    pub kind: String,
    /// Home unit.
    pub unit: Option<String>,
    pub assets: usize,
    #[serde(flatten)]
    pub times: Times,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Utilisation {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Per kind and home unit.
    pub groups: Vec<GroupUse>,
    /// Per asset (empty unless asked for).
    pub assets: Vec<AssetUse>,
}

/// The utilisation of `assets` over `[from, to)`, given every change in the window (any order
/// of assets; each asset's changes in time order). Changes outside the window or of other
/// assets are ignored.
pub fn utilisation(
    assets: &[Start],
    changes: &[(String, Timestamp, Change)],
    from: Timestamp,
    to: Timestamp,
    per_asset: bool,
) -> Utilisation {
    let mut by_asset: BTreeMap<&str, Vec<(Timestamp, Change)>> = BTreeMap::new();
    for (id, at, c) in changes {
        if *at >= from && *at < to {
            by_asset.entry(id.as_str()).or_default().push((*at, *c));
        }
    }
    let mut groups: BTreeMap<(String, Option<String>), (usize, Times)> = BTreeMap::new();
    let mut out_assets = Vec::new();
    for a in assets {
        let mut t = Times::default();
        let (mut status, mut missing, mut since) = (a.status, a.missing, from);
        for (at, c) in by_asset.get(a.id.as_str()).into_iter().flatten() {
            *t.slot(status, missing) += at.since(since).max(0) as f64 / 1000.0;
            since = *at;
            match c {
                Change::Status(s) => status = *s,
                Change::Missing(m) => missing = *m,
            }
        }
        *t.slot(status, missing) += to.since(since).max(0) as f64 / 1000.0;
        let g = groups.entry((a.kind.clone(), a.unit.clone())).or_default();
        g.0 += 1;
        g.1.add(&t);
        if per_asset {
            t.finish();
            out_assets.push(AssetUse {
                id: a.id.clone(),
                kind: a.kind.clone(),
                unit: a.unit.clone(),
                times: t,
            });
        }
    }
    Utilisation {
        from,
        to,
        groups: groups
            .into_iter()
            .map(|((kind, unit), (n, mut times))| {
                times.finish();
                GroupUse {
                    kind,
                    unit,
                    assets: n,
                    times,
                }
            })
            .collect(),
        assets: out_assets,
    }
}

pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_times(t: &Times) -> String {
    format!(
        "{},{},{},{},{},{}",
        t.in_use_s,
        t.idle_s,
        t.cleaning_s,
        t.out_of_service_s,
        t.missing_s,
        t.utilisation.map(|u| u.to_string()).unwrap_or_default()
    )
}

impl Utilisation {
    /// One row per group, or per asset when there are any.
    pub fn to_csv(&self) -> String {
        let tail = "in_use_s,idle_s,cleaning_s,out_of_service_s,missing_s,utilisation";
        let mut out = String::new();
        if self.assets.is_empty() {
            out.push_str(&format!("kind,unit,assets,{tail}\n"));
            for g in &self.groups {
                out.push_str(&format!(
                    "{},{},{},{}\n",
                    csv_field(&g.kind),
                    csv_field(g.unit.as_deref().unwrap_or("")),
                    g.assets,
                    csv_times(&g.times)
                ));
            }
        } else {
            out.push_str(&format!("asset,kind,unit,{tail}\n"));
            for a in &self.assets {
                out.push_str(&format!(
                    "{},{},{},{}\n",
                    csv_field(&a.id),
                    csv_field(&a.kind),
                    csv_field(a.unit.as_deref().unwrap_or("")),
                    csv_times(&a.times)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(id: &str, unit: &str, status: AssetStatus, missing: bool) -> Start {
        Start {
            id: id.into(),
            kind: "infusion_pump".into(),
            unit: Some(unit.into()),
            status,
            missing,
        }
    }

    #[test]
    fn every_moment_is_counted_once_and_missing_wins_over_status() {
        let h = |x: f64| Timestamp((x * 3_600_000.0) as i64);
        let assets = [
            start("P1", "ICU", AssetStatus::Available, false),
            start("P2", "ICU", AssetStatus::InUse, false),
            start("P3", "MS3", AssetStatus::OutOfService, false),
        ];
        let changes = vec![
            // P1: idle 2 h, in use 3 h, needs cleaning 1 h, clean 1 h, lost 1 h (in use before).
            ("P1".to_string(), h(2.0), Change::Status(AssetStatus::InUse)),
            (
                "P1".to_string(),
                h(5.0),
                Change::Status(AssetStatus::NeedsCleaning),
            ),
            ("P1".to_string(), h(6.0), Change::Status(AssetStatus::Clean)),
            ("P1".to_string(), h(7.0), Change::Missing(true)),
            // Outside the window: ignored.
            ("P1".to_string(), h(9.0), Change::Missing(false)),
            (
                "P2".to_string(),
                h(4.0),
                Change::Status(AssetStatus::Available),
            ),
        ];
        let u = utilisation(&assets, &changes, h(0.0), h(8.0), true);
        let p1 = &u.assets[0].times;
        assert_eq!(
            (p1.idle_s, p1.in_use_s, p1.cleaning_s, p1.missing_s),
            (3.0 * 3600.0, 3.0 * 3600.0, 3600.0, 3600.0)
        );
        assert_eq!(p1.utilisation, Some(round3(3.0 / 7.0)));
        let p3 = &u.assets[2].times;
        assert_eq!((p3.out_of_service_s, p3.utilisation), (8.0 * 3600.0, None));
        // Groups add up their assets: ICU pumps 7 h in use of 15 h on hand.
        let icu = &u.groups[0];
        assert_eq!((icu.unit.as_deref(), icu.assets), (Some("ICU"), 2));
        assert_eq!(icu.times.in_use_s, 7.0 * 3600.0);
        assert_eq!(icu.times.utilisation, Some(round3(7.0 / 15.0)));
        let csv = u.to_csv();
        assert!(csv.starts_with("asset,kind,unit,in_use_s,"), "{csv}");
        assert!(
            csv.contains("\nP1,infusion_pump,ICU,10800,10800,3600,0,3600,0.429\n"),
            "{csv}"
        );
        let groups = utilisation(&assets, &changes, h(0.0), h(8.0), false).to_csv();
        assert!(
            groups.contains("\ninfusion_pump,MS3,1,0,0,0,28800,0,\n"),
            "{groups}"
        );
    }
}
