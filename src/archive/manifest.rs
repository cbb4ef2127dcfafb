//! `manifest.json`: what a backup holds and how to check it. Written last, so a folder with a
//! valid manifest of a known format is a complete backup.
//!
//! This file is the one strict validator every reader goes through (`list`, `status`, `prune`,
//! `verify`, `restore`, `serve`), so they all agree on which backups are valid. A manifest is
//! valid when it is a regular file (never a symlink) in a folder only its owner can write, its
//! own SHA-256 (`manifest_sha256`) matches its content, every required field is there, and its
//! figures are consistent: dates in order and not in the future, totals that are the sums of
//! the tables' figures without overflowing, file names inside the folder, sequence values that
//! fit the columns owning them. An invalid manifest is named with every reason, never counted
//! as a backup.
//!
//! The self-hash: SHA-256 over the canonical JSON of the manifest without its
//! `manifest_sha256` member — object keys sorted by their UTF-8 bytes, no whitespace, strings
//! escaped as serde_json (and Python's `json.dumps(..., ensure_ascii=False)`) do. It covers
//! every member, including ones added by later formats, without listing them.
//! `docs/backup-format.md` shows how to check it by hand.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::compression::Codec;
use super::encryption::{self, EncryptionEntry};
use super::naming::{is_backup_id, MANIFEST_FILE};
use super::open::{open_regular_file, refuse_writable_by_others};
use super::schema::SchemaEntry;
use super::writer::{create_private_file, sync_dir};

/// The version of the backup folder format. Readers refuse a manifest with a newer one and
/// read every older one. 2 added the stored schema (`schema`, see [`super::schema`]); 3 the
/// encryption of the files (`encryption`, see [`super::encryption`]).
pub const FORMAT_VERSION: u32 = 3;

/// The format an unencrypted backup is written in: readers of format 2 read it.
pub const UNENCRYPTED_FORMAT_VERSION: u32 = 2;

/// The format of an encrypted backup: a reader that does not know encryption refuses it by
/// its version, instead of failing on ciphertext.
pub const ENCRYPTED_FORMAT_VERSION: u32 = 3;

/// The member holding the manifest's own SHA-256.
pub const SELF_HASH_FIELD: &str = "manifest_sha256";

/// The first format whose manifests must carry `manifest_sha256`. Format 1 manifests written
/// before it existed are still read (their own integrity cannot be checked; verify says so);
/// when one has it, it must match.
pub const SELF_HASH_REQUIRED_FROM: u32 = 2;

/// How far in the future `completed_at` may lie (clocks of two hosts differ a little). A
/// manifest from further ahead is invalid: it would count as the newest backup for years.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// A manifest larger than this is not one palmdb wrote (about 1 KB per table).
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;

/// Fields every manifest must have (DESIGN.md, "Backup folder").
pub const REQUIRED_FIELDS: &[&str] = &[
    "format_version",
    "id",
    "created_at",
    "completed_at",
    "database",
    "server_version",
    "schema_version",
    "tool_version",
    "masked",
    "tables",
    "total_rows",
    "total_bytes",
];
/// Fields every manifest of format 2 or newer must have (`schema` may be `null`: a backup
/// taken with `--no-schema`).
pub const REQUIRED_FIELDS_SINCE_2: &[&str] = &["schema"];
pub const REQUIRED_TABLE_FIELDS: &[&str] = &[
    "schema", "name", "columns", "rows", "file", "bytes", "sha256",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    /// The folder name, e.g. `20261125T170501Z`; sorts by time.
    pub id: String,
    /// When the snapshot was taken (the data is as of this moment).
    pub created_at: DateTime<Utc>,
    /// When the last file was written; a backup's age is counted from here.
    pub completed_at: DateTime<Utc>,
    pub database: String,
    /// `SHOW server_version`, e.g. `15.8 (Debian 15.8-1.pgdg120+1)`.
    pub server_version: String,
    /// `server_version_num`, e.g. 150008.
    pub server_version_num: i32,
    /// Latest applied migration (refinery_schema_history), if the database is migrated.
    pub schema_version: Option<i64>,
    /// Name of that migration, to show a person.
    pub schema_version_name: Option<String>,
    /// `palmdb` version that wrote the backup.
    pub tool_version: String,
    /// The exported snapshot the tables were read from (pg_export_snapshot()).
    pub snapshot_id: String,
    /// Sensitive columns were transformed (`--mask`): not fit to restore production from.
    pub masked: bool,
    /// Compression of the table files.
    pub compression: Codec,
    pub tables: Vec<TableEntry>,
    /// Values of the sequences in the backed-up schemas, at the snapshot.
    #[serde(default)]
    pub sequences: Vec<SequenceEntry>,
    /// The database's schema (format 2), `None` with `--no-schema` and in format 1.
    #[serde(default)]
    pub schema: Option<SchemaEntry>,
    /// Materialized views that held rows at the snapshot: the stored schema creates them
    /// empty, and restore refreshes them once the tables are loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materialized_views: Vec<RelationName>,
    /// How the files are encrypted (format 3), `None` when they are not. Public keys only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionEntry>,
    pub total_rows: u64,
    /// Sum of the table files' sizes on disk.
    pub total_bytes: u64,
    // `manifest_sha256` is not a field: it belongs to the file, not to what it describes.
    // `write` adds it, `check` verifies it (see `seal`).
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    pub schema: String,
    pub name: String,
    /// Every column in attnum order, generated ones included (marked, and absent from rows).
    pub columns: Vec<ColumnEntry>,
    pub rows: u64,
    /// File name inside the backup folder.
    pub file: String,
    /// Size of the file on disk.
    pub bytes: u64,
    /// SHA-256 of the file on disk, lowercase hex.
    pub sha256: String,
    /// Columns whose values were masked, with the rule applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_columns: Vec<MaskedColumn>,
    /// For a partition: the partitioned tables above it, nearest first (so restore can
    /// take a partitioned table's name for all of its partitions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_of: Vec<RelationName>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnEntry {
    pub name: String,
    /// `format_type(atttypid, atttypmod)`, e.g. `timestamp with time zone`, `numeric(10,2)`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// A generated column: not in the rows; the target database computes it.
    #[serde(default)]
    pub generated: bool,
    /// An identity column (`GENERATED ALWAYS|BY DEFAULT AS IDENTITY`): restore must use
    /// `OVERRIDING SYSTEM VALUE` or an equivalent and move the sequence on.
    #[serde(default)]
    pub identity: bool,
    #[serde(default)]
    pub not_null: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaskedColumn {
    pub column: String,
    pub rule: String,
}

/// A schema-qualified relation name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationName {
    pub schema: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceEntry {
    pub schema: String,
    pub name: String,
    /// `last_value` of the sequence; with `is_called` it is what `setval` needs.
    pub last_value: i64,
    pub is_called: bool,
    /// The column owning the sequence (serial / identity), as `schema.table.column`.
    #[serde(default)]
    pub owned_by: Option<String>,
}

impl TableEntry {
    /// The columns present in each row, in order: all but generated ones.
    pub fn row_columns(&self) -> impl Iterator<Item = &ColumnEntry> {
        self.columns.iter().filter(|c| !c.generated)
    }

    /// `schema.table`, for messages.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

impl Manifest {
    /// Reads and checks `manifest.json` in a backup folder: the one strict validator.
    pub fn read(folder: &Path) -> Result<Manifest> {
        Ok(Manifest::check(folder)?)
    }

    /// Reads and checks `manifest.json` in a backup folder, returning every reason it cannot
    /// be used.
    pub fn check(folder: &Path) -> Result<Manifest, InvalidManifest> {
        let invalid = |problem: String| InvalidManifest {
            problems: vec![problem],
        };
        refuse_writable_by_others(folder).map_err(|e| invalid(format!("{e:#}")))?;
        let path = folder.join(MANIFEST_FILE);
        let mut file = match open_regular_file(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(invalid(format!("{MANIFEST_FILE} is missing")))
            }
            Err(e) => return Err(invalid(format!("cannot read {MANIFEST_FILE}: {e}"))),
        };
        let mut text = Vec::new();
        (&mut file)
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| invalid(format!("cannot read {MANIFEST_FILE}: {e}")))?;
        if text.len() as u64 > MAX_MANIFEST_BYTES {
            return Err(invalid(format!(
                "{MANIFEST_FILE} is larger than {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        let folder_name = folder.file_name().and_then(|n| n.to_str());
        Manifest::parse(&text, folder_name, Utc::now())
    }

    /// Checks a manifest's bytes, as found in the folder named `folder_name`, at time `now`.
    pub fn parse(
        text: &[u8],
        folder_name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Manifest, InvalidManifest> {
        let invalid = |problem: String| InvalidManifest {
            problems: vec![problem],
        };
        let value: Value = serde_json::from_slice(text)
            .map_err(|e| invalid(format!("{MANIFEST_FILE} is not valid JSON: {e}")))?;
        let Some(object) = value.as_object() else {
            return Err(invalid(format!("{MANIFEST_FILE} is not a JSON object")));
        };
        let format_version = match object.get("format_version").and_then(Value::as_u64) {
            None => {
                return Err(invalid(format!(
                    "{MANIFEST_FILE} has no numeric format_version"
                )))
            }
            Some(v) if v == 0 || v > u64::from(FORMAT_VERSION) => {
                return Err(invalid(format!(
                    "{MANIFEST_FILE} has format_version {v}, {} (it reads 1 to {FORMAT_VERSION})",
                    if v == 0 {
                        "which no palmdb writes"
                    } else {
                        "newer than this palmdb reads"
                    }
                )))
            }
            Some(v) => v as u32,
        };
        check_self_hash(&value, format_version).map_err(invalid)?;

        let since_2: &[&str] = if format_version >= 2 {
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
        if let Some(tables) = object.get("tables").and_then(Value::as_array) {
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
            return Err(InvalidManifest { problems });
        }
        let manifest: Manifest = serde_json::from_value(value).map_err(|e| {
            invalid(format!(
                "{MANIFEST_FILE} does not have the expected shape: {e}"
            ))
        })?;
        let problems = manifest.consistency_problems(folder_name, now);
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(InvalidManifest { problems })
        }
    }

    /// What does not add up: every problem, each naming what is wrong.
    fn consistency_problems(&self, folder_name: Option<&str>, now: DateTime<Utc>) -> Vec<String> {
        let mut problems = Vec::new();
        let mut problem = |text: String| problems.push(format!("{MANIFEST_FILE}: {text}"));
        if !is_backup_id(&self.id) {
            problem(format!("id \"{}\" is not a backup id", self.id));
        }
        if let Some(folder) = folder_name.filter(|name| is_backup_id(name)) {
            if folder != self.id {
                problem(format!(
                    "id {} is not the name of its folder {folder}: a backup was renamed",
                    self.id
                ));
            }
        }
        if self.completed_at < self.created_at {
            problem(format!(
                "completed_at {} is before created_at {}",
                self.completed_at.to_rfc3339(),
                self.created_at.to_rfc3339()
            ));
        }
        if self.completed_at > now + CLOCK_SKEW {
            problem(format!(
                "completed_at {} lies in the future",
                self.completed_at.to_rfc3339()
            ));
        }
        let mut rows: Option<u64> = Some(0);
        let mut bytes: Option<u64> = Some(0);
        let mut files: Vec<&str> = Vec::new();
        for table in &self.tables {
            let name = table.qualified_name();
            if !is_plain_file_name(&table.file) {
                problem(format!(
                    "table {name} names the file \"{}\", outside the backup folder",
                    table.file
                ));
            }
            if files.iter().any(|f| f.eq_ignore_ascii_case(&table.file)) {
                problem(format!(
                    "table {name} names the file {} of another table",
                    table.file
                ));
            }
            files.push(&table.file);
            if !is_sha256(&table.sha256) {
                problem(format!("table {name} has no valid sha256"));
            }
            // PostgreSQL counts rows in a bigint, and files are at most i64::MAX bytes.
            for (what, value) in [("rows", table.rows), ("bytes", table.bytes)] {
                if value > i64::MAX as u64 {
                    problem(format!("table {name} has {what} {value}, out of range"));
                }
            }
            rows = rows.and_then(|r| r.checked_add(table.rows));
            bytes = bytes.and_then(|b| b.checked_add(table.bytes));
            let mut seen: Vec<&str> = Vec::new();
            for column in &table.columns {
                if seen.contains(&column.name.as_str()) {
                    problem(format!("table {name} lists column {} twice", column.name));
                }
                seen.push(&column.name);
            }
            for masked in &table.masked_columns {
                if !seen.contains(&masked.column.as_str()) {
                    problem(format!(
                        "table {name} says column {} is masked, but has no such column",
                        masked.column
                    ));
                }
            }
        }
        if let Some(schema) = &self.schema {
            if !is_plain_file_name(&schema.file) {
                problem(format!(
                    "the schema names the file \"{}\", outside the backup folder",
                    schema.file
                ));
            }
            if files.iter().any(|f| f.eq_ignore_ascii_case(&schema.file)) {
                problem(format!(
                    "the schema names the file {} of a table",
                    schema.file
                ));
            }
            if !is_sha256(&schema.sha256) {
                problem("the schema has no valid sha256".to_string());
            }
            if schema.bytes > i64::MAX as u64 {
                problem(format!(
                    "the schema has bytes {}, out of range",
                    schema.bytes
                ));
            }
        }
        for (what, total, sum) in [
            ("total_rows", self.total_rows, rows),
            ("total_bytes", self.total_bytes, bytes),
        ] {
            match sum {
                None => problem(format!(
                    "the tables' {} add up to more than {}",
                    &what[6..],
                    u64::MAX
                )),
                Some(sum) if sum != total => {
                    problem(format!("{what} is {total} but the tables add up to {sum}"))
                }
                Some(_) => {}
            }
        }
        if let Some(entry) = &self.encryption {
            if self.format_version < ENCRYPTED_FORMAT_VERSION {
                problem(format!(
                    "format_version {} cannot describe an encrypted backup",
                    self.format_version
                ));
            }
            if let Err(text) = encryption::check_entry(entry) {
                problem(text);
            }
        }
        for sequence in &self.sequences {
            if let Some((low, high)) = self.owning_column_range(sequence) {
                if sequence.last_value < low || sequence.last_value > high {
                    problem(format!(
                        "sequence {}.{} has last_value {}, out of the range of its column {}",
                        sequence.schema,
                        sequence.name,
                        sequence.last_value,
                        sequence.owned_by.as_deref().unwrap_or_default()
                    ));
                }
            }
        }
        problems
    }

    /// The values the integer column owning a sequence can hold, when the manifest has it.
    fn owning_column_range(&self, sequence: &SequenceEntry) -> Option<(i64, i64)> {
        let owner = sequence.owned_by.as_deref()?;
        let column = self.tables.iter().find_map(|t| {
            let prefix = format!("{}.{}.", t.schema, t.name);
            let column = owner.strip_prefix(&prefix)?;
            t.columns.iter().find(|c| c.name == column)
        })?;
        match column.type_name.as_str() {
            "smallint" => Some((i64::from(i16::MIN), i64::from(i16::MAX))),
            "integer" => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
            _ => None,
        }
    }

    /// The bytes of `manifest.json`: pretty JSON with its own SHA-256.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut value = serde_json::to_value(self)?;
        seal(&mut value);
        let mut text = serde_json::to_vec_pretty(&value)?;
        text.push(b'\n');
        Ok(text)
    }

    /// Writes `manifest.json` (mode 0600) with its own SHA-256, and syncs it and the folder.
    pub fn write(&self, folder: &Path) -> Result<()> {
        let path = folder.join(MANIFEST_FILE);
        let text = self.to_bytes()?;
        let mut file = create_private_file(&path)?;
        file.write_all(&text)
            .and_then(|_| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        sync_dir(folder)
    }
}

/// Every reason a manifest cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidManifest {
    pub problems: Vec<String>,
}

impl std::fmt::Display for InvalidManifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

impl std::error::Error for InvalidManifest {}

/// Whether the manifest in `folder` carries its own SHA-256 (format 1 manifests written before
/// palmdb sealed them do not). Only meaningful for a manifest [`Manifest::check`] accepted.
pub fn is_sealed(folder: &Path) -> bool {
    open_regular_file(&folder.join(MANIFEST_FILE))
        .ok()
        .and_then(|file| serde_json::from_reader::<_, Value>(std::io::BufReader::new(file)).ok())
        .is_some_and(|value| value.get(SELF_HASH_FIELD).is_some())
}

/// Whether a manifest's bytes carry its own SHA-256 (whatever repository they came from).
pub fn is_sealed_text(text: &[u8]) -> bool {
    serde_json::from_slice::<Value>(text).is_ok_and(|value| value.get(SELF_HASH_FIELD).is_some())
}

/// Sets (or replaces) `manifest_sha256` to the SHA-256 of the rest of the manifest.
pub fn seal(manifest: &mut Value) {
    let hash = self_hash(manifest);
    if let Some(object) = manifest.as_object_mut() {
        object.insert(SELF_HASH_FIELD.to_string(), Value::String(hash));
    }
}

/// SHA-256 (lowercase hex) of the canonical JSON of `manifest` without `manifest_sha256`.
pub fn self_hash(manifest: &Value) -> String {
    let mut canonical = Vec::with_capacity(4096);
    match manifest {
        Value::Object(object) => {
            let mut rest = object.clone();
            rest.remove(SELF_HASH_FIELD);
            write_canonical(&Value::Object(rest), &mut canonical);
        }
        other => write_canonical(other, &mut canonical),
    }
    hex::encode(Sha256::digest(&canonical))
}

/// The manifest's own hash matches, or (format 1 only) there is none.
fn check_self_hash(manifest: &Value, format_version: u32) -> Result<(), String> {
    match manifest.get(SELF_HASH_FIELD) {
        None if format_version < SELF_HASH_REQUIRED_FROM => Ok(()),
        None => Err(format!(
            "{MANIFEST_FILE} has no {SELF_HASH_FIELD}, which format {format_version} requires"
        )),
        Some(Value::String(recorded)) if *recorded == self_hash(manifest) => Ok(()),
        Some(_) => Err(format!(
            "{MANIFEST_FILE} was changed after the backup was written: its content does not \
             match its {SELF_HASH_FIELD}"
        )),
    }
}

/// Keys sorted by their bytes, no whitespace; strings and numbers as serde_json writes them.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key).expect("writing to memory");
                out.push(b':');
                write_canonical(&object[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("writing to memory"),
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A manifest may only name files directly inside its folder.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name != MANIFEST_FILE
        && !name.contains('/')
        && !name.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let now = Utc::now();
        Manifest {
            format_version: UNENCRYPTED_FORMAT_VERSION,
            id: "20261125T170501Z".into(),
            created_at: now,
            completed_at: now,
            database: "palm".into(),
            server_version: "15.8".into(),
            server_version_num: 150008,
            schema_version: Some(1),
            schema_version_name: Some("palm_schema".into()),
            tool_version: "0.1.0".into(),
            snapshot_id: "00000003-0000001B-1".into(),
            masked: false,
            compression: Codec::Zstd,
            tables: vec![TableEntry {
                schema: "public".into(),
                name: "users".into(),
                columns: vec![
                    ColumnEntry {
                        name: "id".into(),
                        type_name: "uuid".into(),
                        generated: false,
                        identity: false,
                        not_null: true,
                    },
                    ColumnEntry {
                        name: "lower_email".into(),
                        type_name: "text".into(),
                        generated: true,
                        identity: false,
                        not_null: false,
                    },
                ],
                rows: 2,
                file: "public.users.jsonl.zst".into(),
                bytes: 10,
                sha256: "00".repeat(32),
                masked_columns: vec![],
                partition_of: vec![],
            }],
            sequences: vec![],
            schema: Some(SchemaEntry {
                file: crate::archive::schema::SCHEMA_FILE.into(),
                bytes: 100,
                sha256: "11".repeat(32),
                format: crate::archive::schema::SCHEMA_FORMAT.into(),
                pg_dump_version: "pg_dump (PostgreSQL) 15.20".into(),
                pg_dump_major: 15,
            }),
            materialized_views: vec![],
            encryption: None,
            total_rows: 2,
            total_bytes: 10,
        }
    }

    #[test]
    fn round_trips_through_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = sample();
        manifest.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), manifest);
        let names: Vec<_> = manifest.tables[0].row_columns().map(|c| &c.name).collect();
        assert_eq!(names, ["id"]);
    }

    #[test]
    fn uses_the_documented_field_names() {
        let value = serde_json::to_value(sample()).unwrap();
        for key in REQUIRED_FIELDS.iter().chain(REQUIRED_FIELDS_SINCE_2) {
            assert!(value.get(key).is_some(), "manifest lacks {key}");
        }
        for key in ["file", "bytes", "sha256"] {
            assert!(
                value["schema"].get(key).is_some(),
                "schema entry lacks {key}"
            );
        }
        let table = &value["tables"][0];
        for key in REQUIRED_TABLE_FIELDS {
            assert!(table.get(key).is_some(), "table entry lacks {key}");
        }
    }

    #[test]
    fn reads_format_1_which_has_no_schema() {
        let dir = tempfile::tempdir().unwrap();
        let mut value = serde_json::to_value(sample()).unwrap();
        value["format_version"] = 1.into();
        let object = value.as_object_mut().unwrap();
        object.remove("schema");
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            serde_json::to_vec(&value).unwrap(),
        )
        .unwrap();
        let manifest = Manifest::read(dir.path()).unwrap();
        assert_eq!(manifest.format_version, 1);
        assert_eq!(manifest.schema, None);
    }

    #[test]
    fn refuses_a_newer_format() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = sample();
        manifest.format_version = FORMAT_VERSION + 1;
        manifest.write(dir.path()).unwrap();
        let err = Manifest::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
    #[test]
    fn an_encrypted_backup_needs_format_3_and_recipients_this_palmdb_reads() {
        let (_dir, folder, mut value) = written();
        let public = age::x25519::Identity::generate().to_public().to_string();
        value["encryption"] = serde_json::json!({"format": "age", "recipients": [public]});
        let text = problems(rewrite(&folder, value.clone(), true));
        assert!(
            text.contains("cannot describe an encrypted backup"),
            "{text}"
        );
        value["format_version"] = ENCRYPTED_FORMAT_VERSION.into();
        let manifest = rewrite(&folder, value.clone(), true).unwrap();
        assert_eq!(manifest.encryption.unwrap().recipients, [public]);
        value["encryption"]["recipients"] = serde_json::json!(["AGE-SECRET-KEY-1X"]);
        let text = problems(rewrite(&folder, value.clone(), true));
        assert!(text.contains("not an age X25519 public key"), "{text}");
        value["encryption"] = serde_json::json!({"format": "gpg", "recipients": []});
        let text = problems(rewrite(&folder, value, true));
        assert!(text.contains("not one this palmdb reads"), "{text}");
    }

    /// A sample written to a folder named like its id, and its JSON, to edit.
    fn written() -> (tempfile::TempDir, std::path::PathBuf, Value) {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("20261125T170501Z");
        std::fs::create_dir(&folder).unwrap();
        sample().write(&folder).unwrap();
        let value =
            serde_json::from_slice(&std::fs::read(folder.join(MANIFEST_FILE)).unwrap()).unwrap();
        (dir, folder, value)
    }

    /// Writes `value` as the manifest, sealed as palmdb would (or not).
    fn rewrite(folder: &Path, mut value: Value, sealed: bool) -> Result<Manifest, InvalidManifest> {
        if sealed {
            seal(&mut value);
        }
        std::fs::write(
            folder.join(MANIFEST_FILE),
            serde_json::to_vec_pretty(&value).unwrap(),
        )
        .unwrap();
        Manifest::check(folder)
    }

    fn problems(result: Result<Manifest, InvalidManifest>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn a_manifest_edited_after_the_backup_is_caught_by_its_own_hash() {
        let (_dir, folder, value) = written();
        assert!(is_sealed(&folder));
        assert_eq!(value[SELF_HASH_FIELD], self_hash(&value).as_str());
        let mut edited = value.clone();
        edited["sequences"] = serde_json::json!([
            {"schema": "public", "name": "users_id_seq", "last_value": i64::MAX, "is_called": true}
        ]);
        let text = problems(rewrite(&folder, edited, false));
        assert!(
            text.contains("changed after the backup was written"),
            "{text}"
        );
        // Whitespace and key order are not content: a pretty-printer does not break it.
        let reordered: Value = serde_json::from_str(&value.to_string()).unwrap();
        std::fs::write(folder.join(MANIFEST_FILE), reordered.to_string()).unwrap();
        assert!(Manifest::check(&folder).is_ok());
    }

    #[test]
    fn an_unsealed_format_1_manifest_is_read_and_format_2_needs_the_hash() {
        let (_dir, folder, mut value) = written();
        value.as_object_mut().unwrap().remove(SELF_HASH_FIELD);
        let text = problems(rewrite(&folder, value.clone(), false));
        assert!(
            text.contains("has no manifest_sha256, which format 2 requires"),
            "{text}"
        );
        value["format_version"] = 1.into();
        value.as_object_mut().unwrap().remove("schema");
        assert!(rewrite(&folder, value, false).is_ok());
        assert!(!is_sealed(&folder));
    }

    #[test]
    fn a_manifest_completed_in_the_future_is_invalid() {
        let (_dir, folder, mut value) = written();
        let future = Utc::now() + chrono::Duration::days(3650);
        value["completed_at"] = future.to_rfc3339().into();
        let text = problems(rewrite(&folder, value.clone(), true));
        assert!(text.contains("lies in the future"), "{text}");
        // A clock a minute ahead is not the future.
        value["completed_at"] = (Utc::now() + chrono::Duration::minutes(1))
            .to_rfc3339()
            .into();
        assert!(rewrite(&folder, value, true).is_ok());
    }

    #[test]
    fn completed_before_created_is_invalid() {
        let (_dir, folder, mut value) = written();
        value["created_at"] = (Utc::now() - chrono::Duration::hours(1))
            .to_rfc3339()
            .into();
        value["completed_at"] = (Utc::now() - chrono::Duration::hours(2))
            .to_rfc3339()
            .into();
        let text = problems(rewrite(&folder, value, true));
        assert!(text.contains("is before created_at"), "{text}");
    }

    #[test]
    fn row_counts_near_u64_max_do_not_wrap_the_totals() {
        let (_dir, folder, mut value) = written();
        let mut second = value["tables"][0].clone();
        second["name"] = "orders".into();
        second["file"] = "public.orders.jsonl.zst".into();
        value["tables"].as_array_mut().unwrap().push(second);
        value["tables"][0]["rows"] = (u64::MAX / 2 + 1).into();
        value["tables"][1]["rows"] = (u64::MAX / 2 + 1).into();
        // What a wrapping sum would give.
        value["total_rows"] = 0u64.into();
        value["total_bytes"] = 20u64.into();
        let text = problems(rewrite(&folder, value, true));
        assert!(
            text.contains("rows add up to more than 18446744073709551615"),
            "{text}"
        );
        assert!(text.contains("out of range"), "{text}");
    }

    #[test]
    fn totals_must_be_the_sums() {
        let (_dir, folder, mut value) = written();
        value["total_bytes"] = 11u64.into();
        let text = problems(rewrite(&folder, value, true));
        assert!(
            text.contains("total_bytes is 11 but the tables add up to 10"),
            "{text}"
        );
    }

    #[test]
    fn a_sequence_beyond_its_integer_column_is_invalid() {
        let (_dir, folder, mut value) = written();
        value["tables"][0]["columns"][0]["type"] = "integer".into();
        value["sequences"] = serde_json::json!([{
            "schema": "public", "name": "users_id_seq", "last_value": i64::MAX,
            "is_called": true, "owned_by": "public.users.id"
        }]);
        let text = problems(rewrite(&folder, value.clone(), true));
        assert!(
            text.contains("out of the range of its column public.users.id"),
            "{text}"
        );
        value["sequences"][0]["last_value"] = i64::from(i32::MAX).into();
        assert!(rewrite(&folder, value, true).is_ok());
    }

    #[test]
    fn a_backup_renamed_to_another_id_is_invalid() {
        let (dir, folder, value) = written();
        let renamed = dir.path().join("20991231T000000Z");
        std::fs::rename(&folder, &renamed).unwrap();
        let text = problems(Manifest::check(&renamed));
        assert!(
            text.contains("is not the name of its folder 20991231T000000Z"),
            "{text}"
        );
        // A folder not named like a backup (a copy somewhere) may have any name.
        let copy = dir.path().join("copy-for-the-auditor");
        std::fs::rename(&renamed, &copy).unwrap();
        assert!(rewrite(&copy, value, false).is_ok());
    }

    #[test]
    fn a_symlinked_manifest_or_a_shared_folder_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, folder, _) = written();
        let elsewhere = dir.path().join("elsewhere.json");
        std::fs::rename(folder.join(MANIFEST_FILE), &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, folder.join(MANIFEST_FILE)).unwrap();
        assert!(problems(Manifest::check(&folder)).contains("symbolic link"));
        std::fs::remove_file(folder.join(MANIFEST_FILE)).unwrap();
        std::fs::rename(&elsewhere, folder.join(MANIFEST_FILE)).unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(problems(Manifest::check(&folder)).contains("writable by every user"));
    }
}
