//! Loading the site's files: every problem reported with file, line and the fix.

use anyhow::{Context, Result, anyhow};
use orderly_floorplan::Floorplan;
use orderly_model::Seed;
use std::path::Path;
use std::sync::Arc;

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
    Ok((Arc::new(fp), s))
}

/// The bundled detector parameters.
pub const DEFAULT_DETECTORS: &str = include_str!("../../../rules/detectors.toml");

/// Reads detector parameters (`rules/detectors.toml`); `None` takes the bundled defaults.
pub fn load_detectors(path: Option<&Path>) -> Result<orderly_world::WorldConfig> {
    let (name, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the detector parameters {}", p.display()))?,
        ),
        None => (
            "rules/detectors.toml (bundled)".to_string(),
            DEFAULT_DETECTORS.to_string(),
        ),
    };
    orderly_world::WorldConfig::parse(&name, &text)
        .map_err(|e| anyhow!("the detector parameters are not valid:\n{e}"))
}
