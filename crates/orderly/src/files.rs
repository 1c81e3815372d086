//! Loading the site's files: every problem reported with file, line and the fix.

use anyhow::{Context, Result, anyhow};
use orderly_floorplan::Floorplan;
use orderly_model::Seed;
use std::path::Path;
use std::sync::Arc;

pub const DEMO_FLOORPLAN: &str = include_str!("../../../floorplans/demo.toml");
pub const DEMO_SEED: &str = include_str!("../../../floorplans/demo-seed.toml");
pub const DEMO_FLOORPLAN_NAME: &str = "floorplans/demo.toml (bundled)";
pub const DEMO_SEED_NAME: &str = "floorplans/demo-seed.toml (bundled)";
pub const DEMO_CENSUS_MAP: &str = include_str!("../../../floorplans/demo-census.toml");

/// The census map at `path` (else the bundled demo's), checked against the seed's beds.
pub fn census_map(path: Option<&Path>, seed: &Seed) -> Result<orderly_model::census::CensusMap> {
    let beds = seed
        .assets
        .iter()
        .filter(|a| a.kind == "bed")
        .map(|a| a.id.clone())
        .collect();
    let (name, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the census map {}", p.display()))?,
        ),
        None => (
            "floorplans/demo-census.toml".to_string(),
            DEMO_CENSUS_MAP.to_string(),
        ),
    };
    orderly_model::census::CensusMap::parse(&name, &text, &beds)
        .map_err(|e| anyhow!("the census map is not valid:\n{e}"))
}

/// Is `position` one of the floorplan's beds?
fn is_bed(fp: &Floorplan, position: &str) -> bool {
    fp.rooms
        .iter()
        .any(|r| r.beds.iter().any(|b| b == position))
}

/// The bundled demo hospital.
pub fn demo_site() -> Result<(Arc<Floorplan>, Seed)> {
    check_site(
        DEMO_FLOORPLAN_NAME,
        DEMO_FLOORPLAN,
        DEMO_SEED_NAME,
        DEMO_SEED,
    )
}

/// A seed as its file said it at start, checked then: parsed again where a site is started
/// (taken over, restarted), not kept expanded while it runs (at 25,000 pumps the expanded seed
/// held 8 MB for the life of the process).
#[derive(Clone, Debug)]
pub struct SeedText {
    name: Arc<str>,
    text: Arc<str>,
}

impl SeedText {
    pub fn parse(&self) -> Result<Seed> {
        Seed::parse(&self.name, &self.text).map_err(|e| anyhow!("the seed is not valid:\n{e}"))
    }
}

/// As [`site_or_demo`], with the seed's text.
pub fn site_with_seed_text(
    floorplan: Option<&Path>,
    seed: Option<&Path>,
) -> Result<(Arc<Floorplan>, Seed, SeedText)> {
    let (fp, seed) = site_texts(floorplan, seed)?;
    let (f, s) = check_site(&fp.0, &fp.1, &seed.0, &seed.1)?;
    Ok((
        f,
        s,
        SeedText {
            name: seed.0.into(),
            text: seed.1.into(),
        },
    ))
}

/// The given floorplan and seed, the bundled demo's for what is not given (said on standard
/// error: a site's floorplan with the demo's seed is seldom meant), or the bundled demo when
/// neither is given. Never a file found relative to where the command runs.
pub fn site_or_demo(
    floorplan: Option<&Path>,
    seed: Option<&Path>,
) -> Result<(Arc<Floorplan>, Seed)> {
    let (fp, seed) = site_texts(floorplan, seed)?;
    check_site(&fp.0, &fp.1, &seed.0, &seed.1)
}

/// The floorplan's and the seed's (name, text): the files given, the demo's for the others.
fn site_texts(
    floorplan: Option<&Path>,
    seed: Option<&Path>,
) -> Result<((String, String), (String, String))> {
    let read = |p: &Path, what: &str| -> Result<(String, String)> {
        let name = p.display().to_string();
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read the {what} {name}"))?;
        Ok((name, text))
    };
    Ok(match (floorplan, seed) {
        (None, None) => (
            (DEMO_FLOORPLAN_NAME.into(), DEMO_FLOORPLAN.into()),
            (DEMO_SEED_NAME.into(), DEMO_SEED.into()),
        ),
        (Some(f), Some(s)) => (read(f, "floorplan")?, read(s, "seed")?),
        (Some(f), None) => {
            eprintln!(
                "note: no --seed given: using the bundled demo's (floorplans/demo-seed.toml)"
            );
            (
                read(f, "floorplan")?,
                (DEMO_SEED_NAME.into(), DEMO_SEED.into()),
            )
        }
        (None, Some(s)) => {
            eprintln!(
                "note: no --floorplan given: using the bundled demo hospital's (floorplans/demo.toml)"
            );
            (
                (DEMO_FLOORPLAN_NAME.into(), DEMO_FLOORPLAN.into()),
                read(s, "seed")?,
            )
        }
    })
}

/// Checks a floorplan's and a seed's texts, each alone and against each other.
fn check_site(
    fp_name: &str,
    fp_text: &str,
    seed_name: &str,
    seed_text: &str,
) -> Result<(Arc<Floorplan>, Seed)> {
    let fp = Floorplan::parse(fp_name, fp_text)
        .map_err(|e| anyhow!("the floorplan is not valid:\n{e}"))?;
    let s =
        Seed::parse(seed_name, seed_text).map_err(|e| anyhow!("the seed is not valid:\n{e}"))?;
    s.check_units(seed_name, seed_text, |u| fp.unit(u).is_some())
        .map_err(|e| anyhow!("the seed does not match the floorplan:\n{e}"))?;
    s.check_positions(seed_name, seed_text, |p| is_bed(&fp, p))
        .map_err(|e| anyhow!("the seed does not match the floorplan:\n{e}"))?;
    s.check_rooms(seed_name, seed_text, |r| fp.rooms.iter().any(|x| x.id == r))
        .map_err(|e| anyhow!("the seed does not match the floorplan:\n{e}"))?;
    Ok((Arc::new(fp), s))
}
