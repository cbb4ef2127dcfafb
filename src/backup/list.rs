//! `palmdb backup list`: the valid backups in a folder, newest first. A folder is a backup when
//! its name is a backup id and it holds a valid manifest (`archive::manifest`, the one strict
//! validator); work in progress, killed backups, symlinks and foreign folders are not. Folders
//! named like a backup whose manifest is invalid are named, with the reasons, never counted.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::progress::human_bytes;
use crate::archive::naming::is_backup_id;
use crate::archive::open::refuse_writable_by_others;
use crate::archive::Manifest;

/// One backup, as `list --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub id: String,
    pub path: PathBuf,
    pub created_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub database: String,
    pub schema_version: Option<i64>,
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub masked: bool,
}

impl BackupSummary {
    pub fn new(path: PathBuf, manifest: &Manifest) -> BackupSummary {
        BackupSummary {
            id: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| manifest.id.clone()),
            path,
            created_at: manifest.created_at,
            completed_at: manifest.completed_at,
            database: manifest.database.clone(),
            schema_version: manifest.schema_version,
            tables: manifest.tables.len(),
            rows: manifest.total_rows,
            bytes: manifest.total_bytes,
            masked: manifest.masked,
        }
    }
}

/// Valid backups in `dir`, newest (by `completed_at`) first. A missing folder has none.
pub fn list_backups(dir: &Path) -> Result<Vec<BackupSummary>> {
    Ok(summaries(&scan(dir)?))
}

/// The valid backups of a scan, as `list --json` prints them.
pub fn summaries(scan: &Scan) -> Vec<BackupSummary> {
    scan.valid
        .iter()
        .map(|(path, manifest)| BackupSummary::new(path.clone(), manifest))
        .collect()
}

/// A folder named like a backup whose manifest is not valid.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidBackup {
    pub id: String,
    pub problems: Vec<String>,
}

/// What a backup folder holds: valid backups with their manifests (newest first), and
/// folders named like backups that are not valid (by id, newest first).
#[derive(Debug, Default)]
pub struct Scan {
    pub valid: Vec<(PathBuf, Manifest)>,
    pub invalid: Vec<InvalidBackup>,
}

/// Valid backups with their manifests, newest first.
pub fn valid_backups(dir: &Path) -> Result<Vec<(PathBuf, Manifest)>> {
    Ok(scan(dir)?.valid)
}

/// Reads every folder named like a backup. A missing folder has none; a folder other users
/// can write to is refused.
pub fn scan(dir: &Path) -> Result<Scan> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Scan::default()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the backup folder {}", dir.display()))
        }
    };
    refuse_writable_by_others(dir)?;
    let mut scan = Scan::default();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // file_type() does not follow symlinks: a link to a folder is not a backup here.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir || !is_backup_id(name) {
            continue;
        }
        match Manifest::check(&entry.path()) {
            Ok(manifest) => scan.valid.push((entry.path(), manifest)),
            Err(invalid) => scan.invalid.push(InvalidBackup {
                id: name.to_string(),
                problems: invalid.problems,
            }),
        }
    }
    scan.valid.sort_by(|a, b| {
        b.1.completed_at
            .cmp(&a.1.completed_at)
            .then_with(|| b.0.cmp(&a.0))
    });
    scan.invalid
        .sort_by(|a, b| id_order(&b.id).cmp(&id_order(&a.id)));
    Ok(scan)
}

/// Ids sort by time; `-N` suffixes (several backups in one second) by number.
pub fn id_order(id: &str) -> (&str, u32) {
    match id.split_once('-') {
        Some((stamp, n)) => (stamp, n.parse().unwrap_or(0)),
        None => (id, 1),
    }
}

/// One line per invalid backup folder, for stderr.
pub fn render_invalid(invalid: &[InvalidBackup]) -> String {
    invalid
        .iter()
        .map(|b| {
            format!(
                "palmdb: warning: {} is not a valid backup: {}\n",
                b.id,
                b.problems.join("; ")
            )
        })
        .collect()
}

/// The table `list` prints.
pub fn render_text(backups: &[BackupSummary]) -> String {
    if backups.is_empty() {
        return "no backups\n".to_string();
    }
    let mut out = format!(
        "{:<20} {:<20} {:>6} {:>12} {:>10} {}\n",
        "ID", "COMPLETED (UTC)", "TABLES", "ROWS", "SIZE", "MASKED"
    );
    for b in backups {
        out.push_str(&format!(
            "{:<20} {:<20} {:>6} {:>12} {:>10} {}\n",
            b.id,
            b.completed_at.format("%Y-%m-%d %H:%M:%S"),
            b.tables,
            b.rows,
            human_bytes(b.bytes),
            if b.masked { "yes" } else { "no" }
        ));
    }
    out
}
