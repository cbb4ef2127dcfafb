//! Checking `manifest.json` itself before trusting it: readable JSON, a format version this
//! palmdb knows, every required field, and file names that stay inside the backup folder.

use std::path::Path;

use crate::archive::manifest::{REQUIRED_FIELDS, REQUIRED_FIELDS_SINCE_2, REQUIRED_TABLE_FIELDS};
use crate::archive::naming::MANIFEST_FILE;
use crate::archive::{Manifest, FORMAT_VERSION};

/// The manifest, or every reason it cannot be used.
pub fn check(folder: &Path) -> Result<Manifest, Vec<String>> {
    let path = folder.join(MANIFEST_FILE);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(vec![format!("{MANIFEST_FILE} is missing")])
        }
        Err(e) => return Err(vec![format!("cannot read {MANIFEST_FILE}: {e}")]),
    };
    let value: serde_json::Value = serde_json::from_slice(&text)
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

    let version = object["format_version"].as_u64().unwrap_or(0);
    let since_2: &[&str] = if version >= 2 {
        REQUIRED_FIELDS_SINCE_2
    } else {
        &[]
    };
    let mut problems: Vec<String> = REQUIRED_FIELDS
        .iter()
        .chain(since_2)
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
    for table in &manifest.tables {
        if !is_plain_file_name(&table.file) {
            problems.push(format!(
                "{MANIFEST_FILE}: table {} names the file \"{}\", outside the backup folder",
                table.qualified_name(),
                table.file
            ));
        }
        if !is_sha256(&table.sha256) {
            problems.push(format!(
                "{MANIFEST_FILE}: table {} has no valid sha256",
                table.qualified_name()
            ));
        }
    }
    if let Some(schema) = &manifest.schema {
        if !is_plain_file_name(&schema.file) {
            problems.push(format!(
                "{MANIFEST_FILE}: the schema names the file \"{}\", outside the backup folder",
                schema.file
            ));
        }
        if !is_sha256(&schema.sha256) {
            problems.push(format!("{MANIFEST_FILE}: the schema has no valid sha256"));
        }
    }
    let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
    if rows != manifest.total_rows {
        problems.push(format!(
            "{MANIFEST_FILE}: total_rows is {} but the tables add up to {rows}",
            manifest.total_rows
        ));
    }
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(problems)
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A manifest may only name files directly inside its folder.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}
