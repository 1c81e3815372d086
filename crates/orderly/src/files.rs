//! Loading the site's files: every problem reported with file, line and the fix.

use anyhow::{Context, Result, anyhow};
use orderly_floorplan::Floorplan;
use orderly_model::Seed;
use std::path::Path;
use std::sync::Arc;

pub const DEMO_FLOORPLAN: &str = include_str!("../../../floorplans/demo.toml");
pub const DEMO_SEED: &str = include_str!("../../../floorplans/demo-seed.toml");
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
    let fp = Floorplan::parse("floorplans/demo.toml", DEMO_FLOORPLAN)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let seed =
        Seed::parse("floorplans/demo-seed.toml", DEMO_SEED).map_err(|e| anyhow::anyhow!("{e}"))?;
    seed.check_positions("floorplans/demo-seed.toml", DEMO_SEED, |p| is_bed(&fp, p))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((Arc::new(fp), seed))
}

/// The given floorplan and seed, the demo's for what is not given, or the bundled demo when
/// neither is given.
pub fn site_or_demo(
    floorplan: Option<&Path>,
    seed: Option<&Path>,
) -> Result<(Arc<Floorplan>, Seed)> {
    match (floorplan, seed) {
        (None, None) => demo_site(),
        (f, s) => load_site(
            f.unwrap_or("floorplans/demo.toml".as_ref()),
            s.unwrap_or("floorplans/demo-seed.toml".as_ref()),
        ),
    }
}

/// Reads and checks a floorplan and a seed against each other.
pub fn load_site(floorplan: &Path, seed: &Path) -> Result<(Arc<Floorplan>, Seed)> {
    let fp_name = floorplan.display().to_string();
    let fp_text = std::fs::read_to_string(floorplan)
        .with_context(|| format!("cannot read the floorplan {fp_name}"))?;
    let fp = Floorplan::parse(&fp_name, &fp_text)
        .map_err(|e| anyhow!("the floorplan is not valid:\n{e}"))?;
    let seed_name = seed.display().to_string();
    let seed_text = std::fs::read_to_string(seed)
        .with_context(|| format!("cannot read the seed {seed_name}"))?;
    let s =
        Seed::parse(&seed_name, &seed_text).map_err(|e| anyhow!("the seed is not valid:\n{e}"))?;
    s.check_units(&seed_name, &seed_text, |u| fp.unit(u).is_some())
        .map_err(|e| anyhow!("the seed does not match the floorplan:\n{e}"))?;
    s.check_positions(&seed_name, &seed_text, |p| is_bed(&fp, p))
        .map_err(|e| anyhow!("the seed does not match the floorplan:\n{e}"))?;
    Ok((Arc::new(fp), s))
}
