//! `palmdb backup status`: is there a valid backup younger than `--max-age`? OK (0), WARNING
//! (1) when the newest is older, CRITICAL (2) when there is none — the seed's 24-hour alert, in
//! the Nagios convention so cron and monitoring can call it. A folder named like a backup newer
//! than the newest valid one, whose manifest is invalid (damaged, edited, dated in the future),
//! is a WARNING naming it: it never counts as the newest backup, and it is never passed over
//! in silence either.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use serde::Serialize;

use super::list::{id_order, scan, BackupSummary, InvalidBackup};
use crate::error::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusLevel {
    Ok,
    Warning,
    Critical,
}

/// What `status --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BackupStatus {
    pub status: StatusLevel,
    pub message: String,
    pub max_age_seconds: u64,
    /// Age of the newest valid backup, from its manifest's completed_at.
    pub age_seconds: Option<i64>,
    pub backups: usize,
    pub newest: Option<BackupSummary>,
    /// Folders named like backups whose manifest is invalid, newest first, with the reasons.
    pub invalid: Vec<InvalidBackup>,
}

impl BackupStatus {
    pub fn exit_code(&self) -> ExitCode {
        match self.status {
            StatusLevel::Ok => ExitCode::Ok,
            StatusLevel::Warning => ExitCode::Warning,
            StatusLevel::Critical => ExitCode::Critical,
        }
    }

    /// One Nagios-style line: `BACKUP OK: ...`.
    pub fn render_text(&self) -> String {
        let word = match self.status {
            StatusLevel::Ok => "OK",
            StatusLevel::Warning => "WARNING",
            StatusLevel::Critical => "CRITICAL",
        };
        format!("BACKUP {word}: {}\n", self.message)
    }
}

pub fn check_status(dir: &Path, max_age: Duration) -> Result<BackupStatus> {
    let scan = scan(dir)?;
    let backups: Vec<BackupSummary> = scan
        .valid
        .iter()
        .map(|(path, manifest)| BackupSummary::new(path.clone(), manifest))
        .collect();
    let max_age_text = humantime::format_duration(max_age).to_string();
    let count = backups.len();
    let invalid = scan.invalid;
    let Some(newest) = backups.into_iter().next() else {
        let mut message = format!("no valid backup in {}", dir.display());
        if let Some(bad) = invalid.first() {
            message.push_str(&format!(
                "; {} is invalid: {}",
                bad.id,
                bad.problems.join("; ")
            ));
        }
        return Ok(BackupStatus {
            status: StatusLevel::Critical,
            message,
            max_age_seconds: max_age.as_secs(),
            age_seconds: None,
            backups: 0,
            newest: None,
            invalid,
        });
    };
    // A manifest may lie a little in the future (clock skew between hosts): age 0, not negative.
    let age = (Utc::now() - newest.completed_at).num_seconds().max(0);
    let age_text = humantime::format_duration(Duration::from_secs(age as u64)).to_string();
    let max_age_seconds = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
    let (mut status, mut message) = if age <= max_age_seconds {
        (
            StatusLevel::Ok,
            format!(
                "newest backup {} is {age_text} old (max {max_age_text})",
                newest.id
            ),
        )
    } else {
        (
            StatusLevel::Warning,
            format!(
                "newest backup {} is {age_text} old, older than {max_age_text}",
                newest.id
            ),
        )
    };
    if let Some(bad) = invalid
        .iter()
        .find(|bad| id_order(&bad.id) > id_order(&newest.id))
    {
        status = StatusLevel::Warning;
        message = format!(
            "{} is newer but not a valid backup ({}); {message}",
            bad.id,
            bad.problems.join("; ")
        );
    }
    Ok(BackupStatus {
        status,
        message,
        max_age_seconds: max_age.as_secs(),
        age_seconds: Some(age),
        backups: count,
        newest: Some(newest),
        invalid,
    })
}
