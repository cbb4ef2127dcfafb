//! The database schema stored in a backup (format 2): one file, `schema.dump`, written by
//! `pg_dump --schema-only --format=custom` from the backup's own snapshot, listed in the
//! manifest with its size and SHA-256. It holds everything but the rows: types, tables,
//! sequences, functions, views, indexes, constraints, triggers, policies, ownership, grants.
//!
//! The bytes pass through here both ways, hashed on the fly: written from pg_dump's standard
//! output, read back into pg_restore's standard input, so the file on disk is never trusted
//! without its hash.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::compression::{Codec, Compression};
use super::reader::LineReader;
use super::writer::TableWriter;

/// The file name of the stored schema inside a backup folder.
pub const SCHEMA_FILE: &str = "schema.dump";

/// What a custom-format pg_dump archive starts with.
pub const CUSTOM_FORMAT_MAGIC: &[u8] = b"PGDMP";

/// The manifest's `schema` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaEntry {
    /// File name inside the backup folder.
    pub file: String,
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    /// Always `pg_dump-custom`: a `pg_dump --format=custom --schema-only` archive.
    pub format: String,
    /// What the pg_dump that wrote it says of itself (`pg_dump (PostgreSQL) 15.8 ...`).
    pub pg_dump_version: String,
    /// Its major version: pg_restore must be at least as new to read the archive.
    pub pg_dump_major: u32,
}

/// The `format` value of a schema entry.
pub const SCHEMA_FORMAT: &str = "pg_dump-custom";

/// `schema.dump` being written from pg_dump's output, hashed as the bytes go to disk.
pub struct SchemaWriter {
    writer: TableWriter,
    /// The first bytes, to check they are a custom-format archive.
    head: Vec<u8>,
}

impl SchemaWriter {
    /// Creates `folder/schema.dump` (mode 0600; it must not exist).
    pub fn create(folder: &Path) -> Result<SchemaWriter> {
        Ok(SchemaWriter {
            writer: TableWriter::create(&folder.join(SCHEMA_FILE), Compression::None)?,
            head: Vec::new(),
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.head.len() < CUSTOM_FORMAT_MAGIC.len() {
            let wanted = CUSTOM_FORMAT_MAGIC.len() - self.head.len();
            self.head
                .extend_from_slice(&bytes[..wanted.min(bytes.len())]);
        }
        self.writer.write_all(bytes)
    }

    /// Syncs the file and returns its size and SHA-256.
    pub fn finish(self) -> Result<(u64, String)> {
        if self.head != CUSTOM_FORMAT_MAGIC {
            bail!("pg_dump did not write a custom-format archive");
        }
        let digest = self.writer.finish()?;
        Ok((digest.bytes, digest.sha256))
    }
}

/// Copies a pg_dump archive from `source` into `folder/schema.dump`.
pub fn write(folder: &Path, source: &mut impl Read) -> Result<(u64, String)> {
    let mut writer = SchemaWriter::create(folder)?;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = source
            .read(&mut buffer)
            .context("cannot read pg_dump's output")?;
        if n == 0 {
            break;
        }
        writer.write(&buffer[..n])?;
    }
    writer.finish()
}

/// Streams the stored schema into `sink`, then checks its size and SHA-256 against `entry`:
/// an error when they differ, so whatever `sink` made of the bytes must not be used then.
pub fn read_into(folder: &Path, entry: &SchemaEntry, sink: &mut impl Write) -> Result<()> {
    let path = folder.join(&entry.file);
    // A plain (uncompressed) read with hashing is exactly what table files without
    // compression need; the schema reuses it, reading by chunks rather than lines.
    let mut reader = LineReader::open(&path, Codec::None)?;
    reader.copy_to(sink)?;
    let digest = reader.finish()?;
    if digest.bytes != entry.bytes || digest.sha256 != entry.sha256 {
        bail!(
            "{} does not match its SHA-256 in the manifest (changed or damaged)",
            path.display()
        );
    }
    Ok(())
}

/// Whether the file starts like a custom-format pg_dump archive (no tool needed to tell).
pub fn looks_like_archive(folder: &Path, entry: &SchemaEntry) -> Result<bool> {
    let path = folder.join(&entry.file);
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut head = [0u8; 5];
    let n = file
        .read(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(head[..n] == *CUSTOM_FORMAT_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(bytes: u64, sha256: String) -> SchemaEntry {
        SchemaEntry {
            file: SCHEMA_FILE.into(),
            bytes,
            sha256,
            format: SCHEMA_FORMAT.into(),
            pg_dump_version: "pg_dump (PostgreSQL) 15.20".into(),
            pg_dump_major: 15,
        }
    }

    #[test]
    fn what_is_written_reads_back_and_a_changed_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut archive = b"PGDMP".to_vec();
        archive.extend((0..200_000u32).map(|i| (i % 251) as u8));
        let (bytes, sha256) = write(dir.path(), &mut &archive[..]).unwrap();
        assert_eq!(bytes, archive.len() as u64);
        let entry = entry(bytes, sha256);
        assert!(looks_like_archive(dir.path(), &entry).unwrap());
        let mut back = Vec::new();
        read_into(dir.path(), &entry, &mut back).unwrap();
        assert_eq!(back, archive);

        let path = dir.path().join(SCHEMA_FILE);
        let mut damaged = std::fs::read(&path).unwrap();
        damaged[1000] ^= 1;
        std::fs::write(&path, damaged).unwrap();
        let err = read_into(dir.path(), &entry, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }

    #[test]
    fn refuses_what_is_not_a_custom_archive() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), &mut &b"-- plain SQL\n"[..]).is_err());
    }
}
