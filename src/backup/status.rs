//! `palmdb backup status`: is there a valid backup younger than `--max-age`? OK (0), WARNING
//! (1) when the newest is older, CRITICAL (2) when there is none — the seed's 24-hour alert, in
//! the Nagios convention so cron and monitoring can call it.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use serde::Serialize;

use super::list::{list_backups, BackupSummary};
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
    let backups = list_backups(dir)?;
    let max_age_text = humantime::format_duration(max_age).to_string();
    let count = backups.len();
    let Some(newest) = backups.into_iter().next() else {
        return Ok(BackupStatus {
            status: StatusLevel::Critical,
            message: format!("no valid backup in {}", dir.display()),
            max_age_seconds: max_age.as_secs(),
            age_seconds: None,
            backups: 0,
            newest: None,
        });
    };
    let age = (Utc::now() - newest.completed_at).num_seconds();
    let age_text = humantime::format_duration(Duration::from_secs(age.max(0) as u64)).to_string();
    let (status, message) = if age <= max_age.as_secs() as i64 {
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
    Ok(BackupStatus {
        status,
        message,
        max_age_seconds: max_age.as_secs(),
        age_seconds: Some(age),
        backups: count,
        newest: Some(newest),
    })
}
