//! Checking a backup's files against its manifest, wherever they are stored: every byte
//! re-hashed (SHA-256) and counted; with the rows readable (not encrypted, or an identity
//! given), every line decrypted, decompressed and parsed as a JSON object with the table's
//! columns in order, and the lines counted against the manifest's row count.
//!
//! `verify` reports these checks; `restore` runs the hash checks before it touches the
//! database. Both read through here, so they agree on what a damaged file is.

use std::io::Read;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::backup_files::BackupFiles;
use super::repository::FileSource;
use super::row_codec::RowDecoder;
use super::schema::{self, SchemaEntry};
use super::TableEntry;

/// What the decoder may write for one piece of a line (a piece is at most the reader's buffer,
/// and COPY escaping at most doubles it).
const SCRATCH_BYTES: usize = 1024 * 1024;

/// How many line problems are named per file before the rest are only counted.
const LINE_PROBLEMS_SHOWN: usize = 3;

/// The verdict on one table file.
#[derive(Debug, Clone, Serialize)]
pub struct FileCheck {
    pub table: String,
    pub file: String,
    pub ok: bool,
    /// Lines read (rows), when the file could be read.
    pub rows: u64,
    pub expected_rows: u64,
    /// Whether the lines were read (false for an encrypted backup checked without its key:
    /// only the stored bytes' size and SHA-256 were checked).
    pub lines_checked: bool,
    pub problems: Vec<String>,
}

/// Lines read between two reports to [`check_file_watched`]'s watcher.
const LINES_PER_REPORT: u64 = 4096;

/// Reads the whole file once, checking everything the manifest says about it (only its size
/// and SHA-256 when the rows cannot be read: an encrypted backup without its key).
pub fn check_file(files: &BackupFiles, entry: &TableEntry) -> FileCheck {
    check_file_watched(files, entry, &mut |_, _| {})
}

/// [`check_file`], telling `watch` the lines and line bytes read so far as it goes (a
/// progress bar).
pub fn check_file_watched(
    files: &BackupFiles,
    entry: &TableEntry,
    watch: &mut dyn FnMut(u64, u64),
) -> FileCheck {
    let mut check = FileCheck {
        table: entry.qualified_name(),
        file: entry.file.clone(),
        ok: false,
        rows: 0,
        expected_rows: entry.rows,
        lines_checked: files.can_read_rows(),
        problems: Vec::new(),
    };
    if !files.can_read_rows() {
        check.problems = check_hashes(files, &[entry]);
        check.ok = check.problems.is_empty();
        return check;
    }
    if let Err(e) = files.stored(&entry.file) {
        check.problems.push(match e.kind() {
            std::io::ErrorKind::NotFound => "the file is missing".to_string(),
            _ => format!("cannot read it: {e}"),
        });
        return check;
    }
    let decoder = RowDecoder::new(entry.row_columns().map(|c| c.name.clone()).collect());
    let mut scratch = Vec::with_capacity(SCRATCH_BYTES);
    let mut bad_lines = 0u64;
    let mut line_bytes = 0u64;
    let read = (|| -> anyhow::Result<_> {
        let mut reader = files.lines(&entry.file)?;
        // Each line streams through the decoder, whatever its length, checked as restore
        // decodes it; the little it writes (its values are not escaped) is dropped.
        let mut line = decoder.checker();
        loop {
            line.next_line();
            let mut problem = None;
            let got = reader.stream_line(|piece| {
                line_bytes += piece.len() as u64;
                if problem.is_none() {
                    if let Err(e) = line.feed(piece, &mut scratch) {
                        problem = Some(e);
                    }
                    scratch.clear();
                }
                Ok(())
            })?;
            if got.is_none() {
                break;
            }
            if reader.lines_read() % LINES_PER_REPORT == 0 {
                watch(reader.lines_read(), line_bytes);
            }
            if problem.is_none() {
                problem = line.finish(&mut scratch).err();
                scratch.clear();
            }
            if let Some(e) = problem {
                bad_lines += 1;
                if bad_lines as usize <= LINE_PROBLEMS_SHOWN {
                    check
                        .problems
                        .push(format!("line {}: {e}", reader.lines_read()));
                }
            }
        }
        let lines = reader.lines_read();
        watch(lines, line_bytes);
        Ok((lines, reader.finish()?))
    })();
    if bad_lines as usize > LINE_PROBLEMS_SHOWN {
        check.problems.push(format!(
            "{} more lines are not valid rows",
            bad_lines as usize - LINE_PROBLEMS_SHOWN
        ));
    }
    match read {
        Ok((lines, digest)) => {
            check.rows = lines;
            if digest.bytes != entry.bytes {
                check.problems.push(format!(
                    "size is {} bytes, the manifest says {}",
                    digest.bytes, entry.bytes
                ));
            }
            if digest.sha256 != entry.sha256 {
                check
                    .problems
                    .push("SHA-256 does not match the manifest".to_string());
            }
            if lines != entry.rows {
                check.problems.push(format!(
                    "holds {lines} rows, the manifest says {}",
                    entry.rows
                ));
            }
        }
        Err(e) => {
            check.problems.push(format!("{e:#}"));
            // The file could not be read to its end; still say whether its bytes are the
            // ones the manifest describes.
            match files.stored(&entry.file).and_then(sha256_of) {
                Ok((bytes, sha)) if bytes != entry.bytes || sha != entry.sha256 => check
                    .problems
                    .push("SHA-256 does not match the manifest".to_string()),
                _ => {}
            }
        }
    }
    check.ok = check.problems.is_empty();
    check
}

/// Size and SHA-256 of a file's stored bytes, read in constant memory.
pub fn sha256_of(mut file: FileSource) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// Checks the stored schema (format 2): size and SHA-256 against the manifest, and (when it
/// can be decrypted) that it is a custom-format pg_dump archive.
pub fn check_schema(files: &BackupFiles, entry: &SchemaEntry) -> FileCheck {
    let mut check = FileCheck {
        table: "(the database schema)".to_string(),
        file: entry.file.clone(),
        ok: false,
        rows: 0,
        expected_rows: 0,
        lines_checked: files.can_read_rows(),
        problems: check_schema_hash(files, entry),
    };
    if check.problems.is_empty() && files.can_read_rows() {
        match schema::looks_like_archive(files, entry) {
            Ok(true) => {}
            Ok(false) => check
                .problems
                .push("it is not a pg_dump custom-format archive".to_string()),
            Err(e) => check.problems.push(format!("{e:#}")),
        }
    }
    check.ok = check.problems.is_empty();
    check
}

/// The stored schema's size and SHA-256 against the manifest; the problems, if any.
pub fn check_schema_hash(files: &BackupFiles, entry: &SchemaEntry) -> Vec<String> {
    match files.stored(&entry.file).and_then(sha256_of) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            vec![format!("{}: the file is missing", entry.file)]
        }
        Err(e) => vec![format!("{}: cannot read it: {e}", entry.file)],
        Ok((bytes, sha)) if bytes != entry.bytes || sha != entry.sha256 => {
            vec![format!(
                "{}: SHA-256 does not match the manifest",
                entry.file
            )]
        }
        Ok(_) => Vec::new(),
    }
}

/// Only the hashes and sizes, without decompressing: what `restore` checks before it touches
/// the database. Returns the problems, empty when every file matches.
pub fn check_hashes(files: &BackupFiles, entries: &[&TableEntry]) -> Vec<String> {
    let mut problems = Vec::new();
    for entry in entries {
        match files.stored(&entry.file).and_then(sha256_of) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("{}: the file is missing", entry.file))
            }
            Err(e) => problems.push(format!("{}: cannot read it: {e}", entry.file)),
            Ok((bytes, sha)) => {
                if bytes != entry.bytes || sha != entry.sha256 {
                    problems.push(format!(
                        "{}: SHA-256 does not match the manifest",
                        entry.file
                    ));
                }
            }
        }
    }
    problems
}
