//! `palmdb backup verify`: is this backup whole, and can it be restored?
//!
//! locate it in its repository → the manifest's one strict check → re-read every file
//! (`--jobs N` at a time, see `files`): SHA-256 and size of the stored bytes, and (when the
//! rows can be read: not encrypted, or `--identity` given) every line decrypted, decompressed
//! and parsed as a row with the table's columns, row counts → with `--restore-test`, restore it
//! into a scratch database and compare what arrived with what the files hold, in SQL.
//!
//! The checks themselves are the format's (`archive::repository`, `archive::integrity`), the
//! same that `restore` runs: verify only reports them.

pub mod checksum;
pub mod files;
pub mod report;
pub mod restore_test;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

use crate::archive::backup_files::BackupFiles;
use crate::archive::encryption::Identities;
use crate::archive::integrity;
use crate::archive::repository::{Backup, Repository};
use crate::archive::Manifest;
use crate::connect::ConnectSettings;
use crate::ui::progress::Progress;
use report::VerifyReport;

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// `ID`, `latest` or a path to a backup folder.
    pub backup: String,
    pub repo: Repository,
    pub restore_test: bool,
    /// `--scratch-database NAME`: an existing database for the restore test, emptied before
    /// and after, instead of one created and dropped.
    pub scratch_database: Option<String>,
    /// `--jobs N`: table files re-read at once, each on a thread of its own (at least 1).
    pub jobs: usize,
    /// Progress bars on a terminal (re-reading the files, and the restore test).
    pub progress: bool,
    /// `--pg-restore PATH` for the restore test.
    pub pg_restore: Option<PathBuf>,
    /// The age key of an encrypted backup (`--identity`): without it only the stored bytes
    /// are checked, and the restore test cannot run.
    pub identities: Option<Arc<Identities>>,
}

/// `palmdb backup verify`: verifies, prints the report, and exits 0 (OK) or 2 (FAILED).
pub async fn run(
    settings: &ConnectSettings,
    options: &VerifyOptions,
    format: crate::ui::Format,
) -> Result<crate::error::ExitCode> {
    crate::ui::emit(&verify(settings, options).await?, format)
}

/// Runs `palmdb backup verify`. Problems with the backup are in the report (FAILED, exit 2);
/// an `Err` means the verification itself could not run (exit 3).
pub async fn verify(settings: &ConnectSettings, options: &VerifyOptions) -> Result<VerifyReport> {
    let repo = options.repo.clone();
    let what = options.backup.clone();
    let identities = options.identities.clone();
    let restore_test = options.restore_test;
    let show = options.progress;
    let jobs = options.jobs;
    let (mut report, readable) = tokio::task::spawn_blocking(move || {
        let backup = repo.locate(&what)?;
        let checked = check_backup_watched(&backup, identities, jobs, &Progress::new(show))?;
        Ok::<_, anyhow::Error>(checked)
    })
    .await??;
    if restore_test && report.ok() {
        if let Some((files, manifest)) = readable {
            let test = restore_test::run(
                settings,
                &files,
                &manifest,
                options.progress,
                options.pg_restore.clone(),
                options.scratch_database.as_deref(),
            )
            .await?;
            report.restore_test = Some(test);
            report.conclude();
        }
    }
    Ok(report)
}

/// Every check that needs no database: the manifest and each file. Returns the report and,
/// when the manifest is valid, the backup's files for a restore test. An encrypted backup
/// with an identity that is not among its recipients is an error (the check cannot run).
/// The files are read one at a time (the dashboard's check: a server keeps its cores).
pub fn check_backup(
    backup: &Backup,
    identities: Option<Arc<Identities>>,
) -> Result<(VerifyReport, Option<(BackupFiles, Manifest)>)> {
    check_backup_watched(backup, identities, 1, &Progress::hidden())
}

/// [`check_backup`] reading `jobs` files at once, with a bar per file while its lines are
/// re-read.
pub fn check_backup_watched(
    backup: &Backup,
    identities: Option<Arc<Identities>>,
    jobs: usize,
    progress: &Progress,
) -> Result<(VerifyReport, Option<(BackupFiles, Manifest)>)> {
    let mut report = VerifyReport::new(backup.name().to_string(), backup.describe());
    let manifest = match backup.manifest() {
        Err(problems) => {
            report.manifest_problems = problems;
            report.conclude();
            return Ok((report, None));
        }
        Ok(manifest) => manifest,
    };
    let files = match (&manifest.encryption, identities) {
        (Some(_), None) => BackupFiles::new(backup.clone(), &manifest, None),
        (_, identities) => BackupFiles::readable(backup.clone(), &manifest, identities)?,
    };
    report.manifest_sealed = backup
        .manifest_bytes()
        .is_ok_and(|text| crate::archive::manifest::is_sealed_text(&text));
    report.backup = manifest.id.clone();
    report.masked = manifest.masked;
    report.schema_version = manifest.schema_version;
    report.encrypted = manifest.encryption.is_some();
    report.lines_checked = files.can_read_rows();
    report.files = files::check_files(&files, &manifest.tables, jobs, progress);
    report.schema = manifest
        .schema
        .as_ref()
        .map(|entry| integrity::check_schema(&files, entry));
    report.rows = manifest.total_rows;
    report.bytes = manifest.total_bytes;
    report.conclude();
    Ok((report, Some((files, manifest))))
}
