//! `palmdb backup status`: is there a valid backup younger than `--max-age`? OK (0), WARNING
//! (1) when the newest is older, CRITICAL (2) when there is none — the seed's 24-hour alert, in
//! the Nagios convention so cron and monitoring can call it. A backup newer than the newest
//! valid one that is itself not valid (damaged, edited, a file missing) is a WARNING naming
//! it: never counted, never passed over in silence either.
//!
//! With several repositories (`--repo A --repo B`: the backups and their off-site copy), each
//! is judged on its own and the worst verdict wins; one that cannot be read is UNKNOWN for
//! that repository (with one repository, it is an error: exit 3).

use std::time::Duration;

use anyhow::Result;
use chrono::Utc;
use serde::Serialize;

use super::list::{scan, BackupSummary, InvalidBackup};
use crate::archive::repository::{id_key, Repository};
use crate::error::{one_line, ExitCode};
use crate::ui::Verdict;

/// One repository's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct RepoStatus {
    pub repo: String,
    pub status: Verdict,
    pub message: String,
    /// Age of the newest valid backup, from its manifest's completed_at.
    pub age_seconds: Option<i64>,
    pub backups: usize,
    pub newest: Option<BackupSummary>,
    /// Published backups whose manifest or files are not valid, newest first, with reasons.
    pub invalid: Vec<InvalidBackup>,
}

/// What `status --json` prints: the verdict, the figures of the repository that decided it,
/// and every repository's own verdict in `repositories`.
#[derive(Debug, Clone, Serialize)]
pub struct BackupStatus {
    pub status: Verdict,
    pub message: String,
    pub max_age_seconds: u64,
    /// The repository the figures below are from: the one whose verdict won.
    pub repo: String,
    /// Age of the newest valid backup, from its manifest's completed_at.
    pub age_seconds: Option<i64>,
    pub backups: usize,
    pub newest: Option<BackupSummary>,
    pub invalid: Vec<InvalidBackup>,
    pub repositories: Vec<RepoStatus>,
}

impl BackupStatus {
    pub fn exit_code(&self) -> ExitCode {
        self.status.exit_code()
    }
}

/// The line for a status check that could not run (Nagios shows only stdout).
pub fn unknown_line(reason: &str) -> String {
    format!("BACKUP {}: {reason}", crate::ui::Verdict::Unknown.word())
}

impl crate::ui::Report for BackupStatus {
    /// One Nagios-style line: `BACKUP OK: ...`.
    fn render_text(&self) -> String {
        format!("BACKUP {}: {}\n", self.status.word(), self.message)
    }

    fn exit_code(&self) -> crate::error::ExitCode {
        self.status.exit_code()
    }
}

/// `palmdb backup status`: the verdict, printed, and its exit code.
pub fn run(repos: &[Repository], max_age: Duration, format: crate::ui::Format) -> Result<ExitCode> {
    crate::ui::emit(&check_status(repos, max_age)?, format)
}

/// Judges each repository; the worst verdict wins. With one repository, an unreadable one is
/// an error (exit 3); with several, it is that repository's UNKNOWN.
pub fn check_status(repos: &[Repository], max_age: Duration) -> Result<BackupStatus> {
    let several = repos.len() > 1;
    let mut verdicts = Vec::with_capacity(repos.len());
    for repo in repos {
        match check_repo(repo, max_age) {
            Ok(verdict) => verdicts.push(verdict),
            Err(e) if several => verdicts.push(RepoStatus {
                repo: repo.url(),
                status: Verdict::Unknown,
                message: format!("cannot read the repository: {}", one_line(&e)),
                age_seconds: None,
                backups: 0,
                newest: None,
                invalid: Vec::new(),
            }),
            Err(e) => return Err(e),
        }
    }
    let worst = verdicts
        .iter()
        .max_by_key(|v| v.status)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no repository to check"))?;
    let message = if several {
        verdicts
            .iter()
            .map(|v| format!("{}: {} {}", v.repo, v.status.word(), v.message))
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        worst.message.clone()
    };
    Ok(BackupStatus {
        status: worst.status,
        message,
        max_age_seconds: max_age.as_secs(),
        repo: worst.repo,
        age_seconds: worst.age_seconds,
        backups: worst.backups,
        newest: worst.newest,
        invalid: worst.invalid,
        repositories: verdicts,
    })
}

/// One repository's verdict.
pub fn check_repo(repo: &Repository, max_age: Duration) -> Result<RepoStatus> {
    let scan = scan(repo)?;
    let backups: Vec<BackupSummary> = super::list::summaries(&scan);
    let max_age_text = humantime::format_duration(max_age).to_string();
    let count = backups.len();
    let invalid = scan.invalid;
    let Some(newest) = backups.into_iter().next() else {
        let mut message = format!("no valid backup in {}", repo.url());
        if let Some(bad) = invalid.first() {
            message.push_str(&format!(
                "; {} is invalid: {}",
                bad.id,
                bad.problems.join("; ")
            ));
        }
        return Ok(RepoStatus {
            repo: repo.url(),
            status: Verdict::Critical,
            message,
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
            Verdict::Ok,
            format!(
                "newest backup {} is {age_text} old (max {max_age_text})",
                newest.id
            ),
        )
    } else {
        (
            Verdict::Warning,
            format!(
                "newest backup {} is {age_text} old, older than {max_age_text}",
                newest.id
            ),
        )
    };
    if let Some(bad) = invalid
        .iter()
        .find(|bad| id_key(&bad.id) > id_key(&newest.id))
    {
        status = Verdict::Warning;
        message = format!(
            "{} is newer but not a valid backup ({}); {message}",
            bad.id,
            bad.problems.join("; ")
        );
    }
    Ok(RepoStatus {
        repo: repo.url(),
        status,
        message,
        age_seconds: Some(age),
        backups: count,
        newest: Some(newest),
        invalid,
    })
}
