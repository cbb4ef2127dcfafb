//! `palmdb backup list`: the valid backups in a folder, newest first. A folder is a backup when
//! its name is a backup id and it holds a readable manifest; work in progress, killed
//! backups, symlinks and foreign folders are not.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::progress::human_bytes;
use crate::archive::naming::is_backup_id;
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
    fn new(path: PathBuf, manifest: &Manifest) -> BackupSummary {
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
    Ok(valid_backups(dir)?
        .iter()
        .map(|(path, manifest)| BackupSummary::new(path.clone(), manifest))
        .collect())
}

/// Valid backups with their manifests, newest first.
pub fn valid_backups(dir: &Path) -> Result<Vec<(PathBuf, Manifest)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read the backup folder {}", dir.display()))
        }
    };
    let mut backups = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // file_type() does not follow symlinks: a link to a folder is not a backup here.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir || !is_backup_id(name) {
            continue;
        }
        match Manifest::read(&entry.path()) {
            Ok(manifest) => backups.push((entry.path(), manifest)),
            Err(e) => tracing::debug!("{name} is not a valid backup: {e:#}"),
        }
    }
    backups.sort_by(|a, b| {
        b.1.completed_at
            .cmp(&a.1.completed_at)
            .then_with(|| b.0.cmp(&a.0))
    });
    Ok(backups)
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
