//! `palmdb backup verify`: is this backup whole, and can it be restored?
//!
//! check the manifest (JSON, format version, required fields) → re-read every table file:
//! SHA-256 and size, every line decompressed and parsed as a row with the table's columns,
//! row counts → with `--restore-test`, restore it into a scratch database and compare what
//! arrived with what the files hold, in SQL.

pub mod checksum;
pub mod files;
pub mod manifest_check;
pub mod report;
pub mod restore_test;

use std::path::PathBuf;

use anyhow::Result;

use crate::connect::ConnectSettings;
use crate::restore::locate;
use report::VerifyReport;

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// `ID`, `latest` or a path to a backup folder.
    pub backup: String,
    pub dir: PathBuf,
    pub restore_test: bool,
    /// Progress bars on a terminal (restore test only).
    pub progress: bool,
    /// `--pg-restore PATH` for the restore test.
    pub pg_restore: Option<PathBuf>,
}

/// Runs `palmdb backup verify`. Problems with the backup are in the report (FAILED, exit 2);
/// an `Err` means the verification itself could not run (exit 3).
pub async fn verify(settings: &ConnectSettings, options: &VerifyOptions) -> Result<VerifyReport> {
    let folder = locate::backup_folder(&options.backup, &options.dir)?;
    let checked_folder = folder.clone();
    let mut report = tokio::task::spawn_blocking(move || check_folder(&checked_folder)).await?;
    if options.restore_test && report.ok() {
        if let Ok(manifest) = manifest_check::check(&folder) {
            let test = restore_test::run(
                settings,
                &folder,
                &manifest,
                options.progress,
                options.pg_restore.clone(),
            )
            .await?;
            report.restore_test = Some(test);
        }
    }
    Ok(report)
}

/// Every check that needs no database: the manifest and each table file.
pub fn check_folder(folder: &std::path::Path) -> VerifyReport {
    let name = folder.file_name().map_or_else(
        || folder.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut report = VerifyReport::new(name, folder.display().to_string());
    match manifest_check::check(folder) {
        Err(problems) => report.manifest_problems = problems,
        Ok(manifest) => {
            report.backup = manifest.id.clone();
            report.masked = manifest.masked;
            report.schema_version = manifest.schema_version;
            for entry in &manifest.tables {
                report
                    .files
                    .push(files::check_file(folder, manifest.compression, entry));
            }
            report.schema = manifest
                .schema
                .as_ref()
                .map(|entry| files::check_schema(folder, entry));
            report.rows = manifest.total_rows;
            report.bytes = manifest.total_bytes;
        }
    }
    report
}
