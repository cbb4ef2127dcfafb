//! Checking `manifest.json` itself before trusting it. The checks are the format's own
//! (`archive::manifest`, the one strict validator every reader uses); this module only hands
//! its problems to the verify report.

use std::path::Path;

use crate::archive::Manifest;

/// The manifest, or every reason it cannot be used.
pub fn check(folder: &Path) -> Result<Manifest, Vec<String>> {
    Manifest::check(folder).map_err(|invalid| invalid.problems)
}
