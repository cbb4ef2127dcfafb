//! The one strict check of `manifest.json`, whichever repository it was read from: readable
//! JSON, a format version this palmdb knows, every required field, file names that stay
//! inside the backup, an id that is its backup's name, and an encryption entry this palmdb
//! reads. Every reader goes through it (`list`, `status`, `prune`, `verify`, `restore`, the
//! restore test, `copy`, `serve`), so they agree on which backups are valid.

use crate::archive::encryption;
use crate::archive::manifest::{
    ENCRYPTED_FORMAT_VERSION, REQUIRED_FIELDS, REQUIRED_FIELDS_SINCE_2, REQUIRED_TABLE_FIELDS,
};
use crate::archive::naming::{is_backup_id, MANIFEST_FILE};
use crate::archive::{Manifest, FORMAT_VERSION};

/// The manifest in `text`, found in the backup named `name`, or every reason it cannot be
/// used.
pub fn parse(text: &[u8], name: Option<&str>) -> Result<Manifest, Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(text)
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
    if let Some(name) = name.filter(|n| is_backup_id(n)) {
        if manifest.id != name {
            problems.push(format!(
                "{MANIFEST_FILE}: id {} is not the name of its backup {name}: a backup was renamed",
                manifest.id
            ));
        }
    }
    if let Some(entry) = &manifest.encryption {
        if manifest.format_version < ENCRYPTED_FORMAT_VERSION {
            problems.push(format!(
                "{MANIFEST_FILE}: format_version {} cannot describe an encrypted backup",
                manifest.format_version
            ));
        }
        if let Err(problem) = encryption::check_entry(entry) {
            problems.push(format!("{MANIFEST_FILE}: {problem}"));
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
