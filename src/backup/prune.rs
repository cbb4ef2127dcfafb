//! `palmdb backup prune`: deletes whole expired backups and abandoned unfinished ones, in a
//! local folder or on an object store alike (through `archive::repository`).
//!
//! Rules: a backup is kept if it is among the `keep_last` newest valid ones (at least 1: the
//! newest valid backup is never deleted) or completed less than `keep_days` ago. Backups that
//! are not valid are left alone (for a person to look at). An unfinished backup is abandoned
//! when its writer is gone and it has been silent for `--unfinished-grace`: in a folder, a
//! `.partial-*` folder whose lock is free; on a store, objects without a manifest whose lease
//! stopped beating (its open multipart uploads are aborted). A backup is first made invisible
//! (renamed out of the backups' names; its manifest deleted first), so a prune cut short never
//! leaves a half-deleted backup that looks valid.

use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::list::scan;
use crate::archive::repository::Repository;

/// The longest retention `--keep-days` (and the API's `keep_days`) accepts: 100 years. More is
/// a typo, and a cutoff before year 0 cannot be computed.
pub const MAX_KEEP_DAYS: u32 = 36_500;

#[derive(Debug, Clone)]
pub struct PruneOptions {
    pub keep_days: u32,
    /// Keep at least this many of the newest backups (1 if less).
    pub keep_last: usize,
    pub dry_run: bool,
    /// How long an unfinished backup's writer must have been silent before it is deleted.
    pub unfinished_grace: Duration,
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
    /// Multipart uploads left open by a killed writer, aborted with it (object stores).
    #[serde(skip_serializing_if = "is_zero")]
    pub open_uploads: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub deleted: Vec<PrunedEntry>,
    pub kept: Vec<String>,
}

impl crate::ui::Report for PruneReport {
    fn render_text(&self) -> String {
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

/// `palmdb backup prune`: deletes (or with `--dry-run` names) what has expired, and says so.
pub fn run(
    repo: &Repository,
    options: &PruneOptions,
    format: crate::ui::Format,
) -> Result<crate::error::ExitCode> {
    crate::ui::emit(&prune(repo, options)?, format)
}

pub fn prune(repo: &Repository, options: &PruneOptions) -> Result<PruneReport> {
    let cutoff = cutoff(Utc::now(), options.keep_days)?;
    let keep_last = options.keep_last.max(1);
    let mut report = PruneReport {
        dry_run: options.dry_run,
        deleted: Vec::new(),
        kept: Vec::new(),
    };
    for (i, (backup, manifest)) in scan(repo)?.valid.into_iter().enumerate() {
        let name = backup.name().to_string();
        if i < keep_last || manifest.completed_at >= cutoff {
            report.kept.push(name);
            continue;
        }
        if !options.dry_run {
            repo.delete(&backup)?;
        }
        report.deleted.push(PrunedEntry {
            name,
            kind: PrunedKind::Backup,
            completed_at: Some(manifest.completed_at),
            bytes: manifest.total_bytes,
            open_uploads: 0,
        });
    }
    for unfinished in repo.abandoned(options.unfinished_grace)? {
        if !options.dry_run {
            repo.delete_abandoned(&unfinished)?;
        }
        report.deleted.push(PrunedEntry {
            name: unfinished.name,
            kind: PrunedKind::Partial,
            completed_at: None,
            bytes: unfinished.bytes,
            open_uploads: unfinished.open_uploads,
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
