//! `palmdb backup prune`: deletes whole expired backups and stale work-in-progress folders.
//!
//! Rules: a backup is kept if it is among the `keep_last` newest (at least 1: the newest valid
//! backup is never deleted) or completed less than `keep_days` ago. A `.partial-*` folder is
//! stale when no process holds its lock and it is more than a minute old. Only real folders
//! directly inside the backup folder are touched: symlinks are never followed nor deleted,
//! foreign and invalid folders are left alone. A backup is first renamed to a `.partial-`
//! name, so a prune cut short never leaves a half-deleted folder that looks valid.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::list::valid_backups;
use crate::archive::naming::{is_partial_name, PARTIAL_PREFIX};

/// A partial folder younger than this is left alone even if unlocked (it may be starting).
const PARTIAL_GRACE: Duration = Duration::from_secs(60);

/// The longest retention `--keep-days` (and the API's `keep_days`) accepts: 100 years. More is
/// a typo, and a cutoff before year 0 cannot be computed.
pub const MAX_KEEP_DAYS: u32 = 36_500;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub keep_days: u32,
    /// Keep at least this many of the newest backups (1 if less).
    pub keep_last: usize,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrunedKind {
    Backup,
    Partial,
}

#[derive(Debug, Clone, Serialize)]
pub struct PrunedEntry {
    pub name: String,
    pub kind: PrunedKind,
    pub completed_at: Option<DateTime<Utc>>,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub deleted: Vec<PrunedEntry>,
    pub kept: Vec<String>,
}

impl PruneReport {
    pub fn render_text(&self) -> String {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let mut out = String::new();
        for entry in &self.deleted {
            let what = match entry.kind {
                PrunedKind::Backup => "backup",
                PrunedKind::Partial => "unfinished backup",
            };
            out.push_str(&format!("{verb} {what} {}\n", entry.name));
        }
        out.push_str(&format!(
            "{} {}, kept {} backup(s)\n",
            verb,
            self.deleted.len(),
            self.kept.len()
        ));
        out
    }
}

pub fn prune(dir: &Path, options: &PruneOptions) -> Result<PruneReport> {
    let cutoff = cutoff(Utc::now(), options.keep_days)?;
    let keep_last = options.keep_last.max(1);
    let mut report = PruneReport {
        dry_run: options.dry_run,
        deleted: Vec::new(),
        kept: Vec::new(),
    };
    for (i, (path, manifest)) in valid_backups(dir)?.into_iter().enumerate() {
        let name = file_name(&path);
        if i < keep_last || manifest.completed_at >= cutoff {
            report.kept.push(name);
            continue;
        }
        if !options.dry_run {
            delete_folder(dir, &path)?;
        }
        report.deleted.push(PrunedEntry {
            name,
            kind: PrunedKind::Backup,
            completed_at: Some(manifest.completed_at),
            bytes: manifest.total_bytes,
        });
    }
    for path in stale_partials(dir)? {
        if !options.dry_run {
            delete_folder(dir, &path)?;
        }
        report.deleted.push(PrunedEntry {
            name: file_name(&path),
            kind: PrunedKind::Partial,
            completed_at: None,
            bytes: 0,
        });
    }
    Ok(report)
}

/// The moment before which backups are expired; a retention out of range is an error, never
/// a panic or a wrapped date.
fn cutoff(now: DateTime<Utc>, keep_days: u32) -> Result<DateTime<Utc>> {
    chrono::Duration::try_days(i64::from(keep_days))
        .filter(|_| keep_days <= MAX_KEEP_DAYS)
        .and_then(|keep| now.checked_sub_signed(keep))
        .ok_or_else(|| {
            crate::error::Failure::usage(format!(
                "--keep-days {keep_days} is out of range (0 to {MAX_KEEP_DAYS})"
            ))
            .into()
        })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `.partial-*` folders (real folders, not symlinks) that no process is writing.
fn stale_partials(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut stale = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !is_partial_name(&name) || !meta.is_dir() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if age < PARTIAL_GRACE {
            continue;
        }
        let Ok(folder) = File::open(entry.path()) else {
            continue;
        };
        // A running backup holds the lock; try_lock succeeds only on an abandoned folder.
        if folder.try_lock().is_ok() {
            stale.push(entry.path());
        }
    }
    stale.sort();
    Ok(stale)
}

/// Deletes a folder that is directly inside `dir`: first renamed out of the backups' name
/// space, then removed without following any symlink inside it.
fn delete_folder(dir: &Path, path: &Path) -> Result<()> {
    let meta = path
        .symlink_metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() || path.parent() != Some(dir) {
        anyhow::bail!(
            "refusing to delete {}: not a folder inside {}",
            path.display(),
            dir.display()
        );
    }
    let name = file_name(path);
    let doomed = if is_partial_name(&name) {
        path.to_path_buf()
    } else {
        let doomed = dir.join(format!(
            "{PARTIAL_PREFIX}prune-{name}-{}",
            std::process::id()
        ));
        fs::rename(path, &doomed).with_context(|| format!("cannot delete {}", path.display()))?;
        doomed
    };
    // std's remove_dir_all never follows symlinks: it deletes the link, not its target.
    fs::remove_dir_all(&doomed).with_context(|| format!("cannot delete {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_days_of_u32_max_is_an_error_not_a_panic() {
        let now = Utc::now();
        let err = cutoff(now, u32::MAX).unwrap_err();
        assert!(
            crate::error::one_line(&err).contains("out of range"),
            "{err}"
        );
        assert_eq!(
            cutoff(now, MAX_KEEP_DAYS).unwrap(),
            now - chrono::Duration::days(36_500)
        );
        assert_eq!(cutoff(now, 0).unwrap(), now);
    }
}
