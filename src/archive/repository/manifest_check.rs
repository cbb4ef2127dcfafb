//! The strict check of a manifest's bytes, wherever they were read from.

use crate::archive::manifest::{REQUIRED_FIELDS, REQUIRED_TABLE_FIELDS};
use crate::archive::naming::MANIFEST_FILE;
use crate::archive::{Manifest, FORMAT_VERSION};

/// The manifest in `bytes` (found in the backup named `name`), or every reason it cannot be
/// used.
pub fn parse(bytes: &[u8], name: Option<&str>) -> Result<Manifest, Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| vec![format!("{MANIFEST_FILE} is not valid JSON: {e}")])?;
    let Some(object) = value.as_object() else {
        return Err(vec![format!("{MANIFEST_FILE} is not a JSON object")]);
    };
    match object.get("format_version").and_then(|v| v.as_u64()) {
        None => {
            return Err(vec![format!(
                "{MANIFEST_FILE} has no numeric format_version"
            )])
        }
        Some(v) if v == 0 || v > u64::from(FORMAT_VERSION) => {
            return Err(vec![format!(
                "{MANIFEST_FILE} has format_version {v}, which this palmdb does not read \
                 (it reads 1 to {FORMAT_VERSION})"
            )])
        }
        Some(_) => {}
    }
    let mut problems: Vec<String> = REQUIRED_FIELDS
        .iter()
        .filter(|f| !object.contains_key(**f))
        .map(|f| format!("{MANIFEST_FILE} lacks the field {f}"))
        .collect();
    if let Some(tables) = object.get("tables").and_then(|t| t.as_array()) {
        for (i, table) in tables.iter().enumerate() {
            for field in REQUIRED_TABLE_FIELDS {
                if table.get(field).is_none() {
                    problems.push(format!(
                        "{MANIFEST_FILE}: table #{} lacks the field {field}",
                        i + 1
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let manifest: Manifest = serde_json::from_value(value).map_err(|e| {
        vec![format!(
            "{MANIFEST_FILE} does not have the expected shape: {e}"
        )]
    })?;
    if let Some(name) = name.filter(|n| crate::archive::naming::is_backup_id(n)) {
        if manifest.id != name {
            problems.push(format!(
                "{MANIFEST_FILE}: id {} is not the name of its backup {name}",
                manifest.id
            ));
        }
    }
    for table in &manifest.tables {
        if table.file.is_empty() || table.file.contains('/') || table.file.starts_with('.') {
            problems.push(format!(
                "{MANIFEST_FILE}: table {} names the file \"{}\", outside the backup",
                table.qualified_name(),
                table.file
            ));
        }
    }
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(problems)
    }
}
