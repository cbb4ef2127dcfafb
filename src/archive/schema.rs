//! The database schema stored in a backup (format 2): one file, `schema.dump`, written by
//! `pg_dump --schema-only --format=custom` from the backup's own snapshot, listed in the
//! manifest with its size and SHA-256. It holds everything but the rows: types, tables,
//! sequences, functions, views, indexes, constraints, triggers, policies, ownership, grants.
//!
//! The bytes pass through here both ways, hashed on the fly: written from pg_dump's standard
//! output, read back into pg_restore's standard input, so the file on disk is never trusted
//! without its hash.

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::backup_files::BackupFiles;
use super::compression::Compression;
use super::encryption::Recipients;
use super::repository::FileSink;
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
    /// SHA-256 of the file as stored (encrypted, for an encrypted backup), lowercase hex.
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

/// `schema.dump` being written from pg_dump's output, hashed as the bytes are stored.
pub struct SchemaWriter {
    writer: TableWriter,
    /// The first bytes, to check they are a custom-format archive.
    head: Vec<u8>,
}

impl SchemaWriter {
    /// Writes the schema into `sink` (a new file of the backup), encrypted to `recipients`
    /// when given. pg_dump's custom format is compressed already: no zstd on top.
    pub fn new(
        sink: Box<dyn FileSink>,
        label: impl Into<String>,
        recipients: Option<&Recipients>,
    ) -> Result<SchemaWriter> {
        Ok(SchemaWriter {
            writer: TableWriter::new(sink, label, Compression::None, recipients)?,
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

    /// Makes the file durable and returns its size and SHA-256.
    pub fn finish(self) -> Result<(u64, String)> {
        if self.head != CUSTOM_FORMAT_MAGIC {
            bail!("pg_dump did not write a custom-format archive");
        }
        let digest = self.writer.finish()?;
        Ok((digest.bytes, digest.sha256))
    }
}

/// Copies a pg_dump archive from `source` into `sink`.
pub fn write(
    sink: Box<dyn FileSink>,
    recipients: Option<&Recipients>,
    source: &mut impl Read,
) -> Result<(u64, String)> {
    let mut writer = SchemaWriter::new(sink, SCHEMA_FILE, recipients)?;
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

/// Streams the stored schema (decrypted) into `sink`, then checks its size and SHA-256
/// against `entry`: an error when they differ, so whatever `sink` made of the bytes must not
/// be used then.
pub fn read_into(files: &BackupFiles, entry: &SchemaEntry, sink: &mut impl Write) -> Result<()> {
    // A plain (uncompressed) read with hashing is exactly what table files without
    // compression need; the schema reuses it, reading by chunks rather than lines.
    let mut reader = files.plaintext(&entry.file)?;
    reader.copy_to(sink)?;
    let digest = reader.finish()?;
    if digest.bytes != entry.bytes || digest.sha256 != entry.sha256 {
        bail!(
            "{} does not match its SHA-256 in the manifest (changed or damaged)",
            files.label(&entry.file)
        );
    }
    Ok(())
}

/// Whether the file starts like a custom-format pg_dump archive (no tool needed to tell).
pub fn looks_like_archive(files: &BackupFiles, entry: &SchemaEntry) -> Result<bool> {
    let mut reader = files.plaintext(&entry.file)?;
    let mut head = Vec::new();
    reader
        .copy_to(&mut LimitedSink {
            into: &mut head,
            room: CUSTOM_FORMAT_MAGIC.len(),
        })
        .or_else(|e| {
            // The sink stops the copy once full; that is not a failure.
            if head.len() == CUSTOM_FORMAT_MAGIC.len() {
                Ok(0)
            } else {
                Err(e)
            }
        })?;
    Ok(head == CUSTOM_FORMAT_MAGIC)
}

/// Takes the first `room` bytes, then refuses more (which ends the copy early).
struct LimitedSink<'a> {
    into: &'a mut Vec<u8>,
    room: usize,
}

impl Write for LimitedSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.room - self.into.len();
        if left == 0 {
            return Err(std::io::Error::other("enough"));
        }
        let take = left.min(buf.len());
        self.into.extend_from_slice(&buf[..take]);
        Ok(take)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::repository::Repository;

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

    fn files_of(dir: &std::path::Path) -> BackupFiles {
        let manifest: crate::archive::Manifest = serde_json::from_value(serde_json::json!({
            "format_version": 2, "id": "b", "created_at": "2026-01-01T00:00:00Z",
            "completed_at": "2026-01-01T00:00:00Z", "database": "d", "server_version": "15",
            "server_version_num": 150000, "schema_version": null, "schema_version_name": null,
            "tool_version": "t", "snapshot_id": "s", "masked": false, "compression": "none",
            "tables": [], "total_rows": 0, "total_bytes": 0,
        }))
        .unwrap();
        let repo = Repository::folder(dir.parent().unwrap());
        let backup = repo.locate(dir.to_str().unwrap()).unwrap();
        BackupFiles::new(backup, &manifest, None)
    }

    #[test]
    fn what_is_written_reads_back_and_a_changed_byte_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SCHEMA_FILE);
        let sink = Box::new(crate::archive::writer::PrivateFile::create(&path).unwrap());
        let mut archive = b"PGDMP".to_vec();
        archive.extend((0..200_000u32).map(|i| (i % 251) as u8));
        let (bytes, sha256) = write(sink, None, &mut &archive[..]).unwrap();
        assert_eq!(bytes, archive.len() as u64);
        let entry = entry(bytes, sha256);
        std::fs::write(dir.path().join("manifest.json"), b"{}").unwrap();
        let files = files_of(dir.path());
        assert!(looks_like_archive(&files, &entry).unwrap());
        let mut back = Vec::new();
        read_into(&files, &entry, &mut back).unwrap();
        assert_eq!(back, archive);

        let mut damaged = std::fs::read(&path).unwrap();
        damaged[1000] ^= 1;
        std::fs::write(&path, damaged).unwrap();
        let err = read_into(&files, &entry, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }

    #[test]
    fn refuses_what_is_not_a_custom_archive() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Box::new(
            crate::archive::writer::PrivateFile::create(&dir.path().join(SCHEMA_FILE)).unwrap(),
        );
        assert!(write(sink, None, &mut &b"-- plain SQL\n"[..]).is_err());
    }
}
