//! Checking one table file against its manifest entry: every byte re-hashed (SHA-256) and
//! counted, every line decompressed and parsed as a JSON object with the table's columns in
//! order, and the lines counted against the manifest's row count.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::archive::compression::Codec;
use crate::archive::row_codec::RowDecoder;
use crate::archive::schema::{self, SchemaEntry};
use crate::archive::{LineReader, TableEntry};

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
    pub problems: Vec<String>,
}

/// Reads the whole file once, checking everything the manifest says about it.
pub fn check_file(folder: &Path, codec: Codec, entry: &TableEntry) -> FileCheck {
    let path = folder.join(&entry.file);
    let mut check = FileCheck {
        table: entry.qualified_name(),
        file: entry.file.clone(),
        ok: false,
        rows: 0,
        expected_rows: entry.rows,
        problems: Vec::new(),
    };
    if !path.is_file() {
        check.problems.push("the file is missing".to_string());
        return check;
    }
    let decoder = RowDecoder::new(entry.row_columns().map(|c| c.name.clone()).collect());
    let mut scratch = Vec::with_capacity(SCRATCH_BYTES);
    let mut bad_lines = 0u64;
    let read = (|| -> anyhow::Result<_> {
        let mut reader = LineReader::open(&path, codec)?;
        loop {
            // Each line streams through the decoder, whatever its length; what the decoder
            // writes is only checked, then dropped.
            let mut line = decoder.line();
            let mut problem = None;
            let got = reader.stream_line(|piece| {
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
            match sha256_of(&path) {
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

/// Size and SHA-256 of a file's bytes on disk, read in constant memory.
pub fn sha256_of(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
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

/// Checks the stored schema (format 2): size and SHA-256 against the manifest, and that it
/// is a custom-format pg_dump archive.
pub fn check_schema(folder: &Path, entry: &SchemaEntry) -> FileCheck {
    let mut check = FileCheck {
        table: "(the database schema)".to_string(),
        file: entry.file.clone(),
        ok: false,
        rows: 0,
        expected_rows: 0,
        problems: check_schema_hash(folder, entry),
    };
    if check.problems.is_empty() {
        match schema::looks_like_archive(folder, entry) {
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
pub fn check_schema_hash(folder: &Path, entry: &SchemaEntry) -> Vec<String> {
    match sha256_of(&folder.join(&entry.file)) {
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
pub fn check_hashes(folder: &Path, entries: &[&TableEntry]) -> Vec<String> {
    let mut problems = Vec::new();
    for entry in entries {
        match sha256_of(&folder.join(&entry.file)) {
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
