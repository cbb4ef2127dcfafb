//! `manifest.json`: what a backup holds and how to check it. Written last, so a folder with a
//! readable manifest of the current format is a complete backup.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::compression::Codec;
use super::encryption::EncryptionEntry;
use super::naming::MANIFEST_FILE;
use super::schema::SchemaEntry;
use super::writer::{create_private_file, sync_dir};

/// The version of the backup folder format. Readers refuse a manifest with a newer one and
/// read every older one. 2 added the stored schema (`schema`, see [`super::schema`]); 3 the
/// encryption of the files (`encryption`, see [`super::encryption`]).
pub const FORMAT_VERSION: u32 = 3;

/// The format an unencrypted backup is written in: readers of format 2 read it.
pub const UNENCRYPTED_FORMAT_VERSION: u32 = 2;

/// The oldest format that can say a backup is encrypted: a reader that does not know
/// encryption refuses it by its version, instead of failing on ciphertext.
pub const ENCRYPTED_FORMAT_VERSION: u32 = 3;

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
    /// Reads and checks `manifest.json` in a backup folder.
    pub fn read(folder: &Path) -> Result<Manifest> {
        let path = folder.join(MANIFEST_FILE);
        let text = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let manifest: Manifest = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not a valid manifest", path.display()))?;
        if manifest.format_version > FORMAT_VERSION {
            anyhow::bail!(
                "{} has format_version {}, newer than this palmdb understands ({})",
                path.display(),
                manifest.format_version,
                FORMAT_VERSION
            );
        }
        Ok(manifest)
    }

    /// Writes `manifest.json` (mode 0600) and syncs it and the folder.
    pub fn write(&self, folder: &Path) -> Result<()> {
        let path = folder.join(MANIFEST_FILE);
        let mut file = create_private_file(&path)?;
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        file.write_all(&text)
            .and_then(|_| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        sync_dir(folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let now = Utc::now();
        Manifest {
            format_version: FORMAT_VERSION,
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
}
