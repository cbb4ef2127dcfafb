//! `palmdb backup list`: the valid backups in a repository, newest first. A backup is valid
//! when its manifest passes the one strict check and every file it lists is there with its
//! size (`archive::repository`); unfinished backups (work in progress, killed ones) are never
//! listed. Published backups that are not valid are named, with the reasons, never counted.

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::archive::repository::{id_key, Backup, Repository};
use crate::archive::Manifest;
use crate::ui::human::pg_size;
use crate::ui::table::{Align, Table};

/// One backup, as `list --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub id: String,
    /// Where it is: its folder, or `s3://bucket/prefix/id`.
    pub path: String,
    /// The repository it is in.
    pub repo: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub database: String,
    pub schema_version: Option<i64>,
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub masked: bool,
    /// Its files are encrypted (age); restoring needs the key.
    pub encrypted: bool,
}

impl BackupSummary {
    pub fn new(backup: &Backup, manifest: &Manifest) -> BackupSummary {
        BackupSummary {
            id: backup.name().to_string(),
            path: backup.describe(),
            repo: backup.repository().url(),
            created_at: manifest.created_at,
            completed_at: manifest.completed_at,
            database: manifest.database.clone(),
            schema_version: manifest.schema_version,
            tables: manifest.tables.len(),
            rows: manifest.total_rows,
            bytes: manifest.total_bytes,
            masked: manifest.masked,
            encrypted: manifest.encryption.is_some(),
        }
    }
}

/// A published backup that is not valid, and why.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidBackup {
    pub id: String,
    pub problems: Vec<String>,
}

/// What a repository holds: valid backups with their manifests (newest completed first), and
/// published backups that are not valid (newest id first).
#[derive(Debug, Default)]
pub struct Scan {
    pub valid: Vec<(Backup, Manifest)>,
    pub invalid: Vec<InvalidBackup>,
}

/// Reads every published backup of the repository. A folder that does not exist has none.
pub fn scan(repo: &Repository) -> Result<Scan> {
    let mut scan = Scan::default();
    for (backup, verdict) in repo.checked_backups()? {
        match verdict {
            Ok(manifest) => scan.valid.push((backup, manifest)),
            Err(problems) => scan.invalid.push(InvalidBackup {
                id: backup.name().to_string(),
                problems,
            }),
        }
    }
    scan.valid.sort_by(|a, b| {
        (b.1.completed_at, id_key(b.0.name())).cmp(&(a.1.completed_at, id_key(a.0.name())))
    });
    scan.invalid
        .sort_by_key(|b| std::cmp::Reverse(id_key(&b.id)));
    Ok(scan)
}

/// The valid backups of a scan, as `list --json` prints them.
pub fn summaries(scan: &Scan) -> Vec<BackupSummary> {
    scan.valid
        .iter()
        .map(|(backup, manifest)| BackupSummary::new(backup, manifest))
        .collect()
}

/// Valid backups in the repository, newest (by `completed_at`) first.
pub fn list_backups(repo: &Repository) -> Result<Vec<BackupSummary>> {
    Ok(summaries(&scan(repo)?))
}

/// One line per invalid backup, for stderr.
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

/// What `list` prints: the valid backups, newest first (a JSON array).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct BackupList(pub Vec<BackupSummary>);

/// `palmdb backup list`: invalid backups named on stderr, the valid ones on stdout.
pub fn run(repo: &Repository, format: crate::ui::Format) -> Result<crate::error::ExitCode> {
    let scan = scan(repo)?;
    eprint!("{}", render_invalid(&scan.invalid));
    crate::ui::emit(&BackupList(summaries(&scan)), format)
}

impl crate::ui::Report for BackupList {
    /// The table.
    fn render_text(&self) -> String {
        render_text(&self.0)
    }
}

/// The table `list` prints.
fn render_text(backups: &[BackupSummary]) -> String {
    if backups.is_empty() {
        return "no backups\n".to_string();
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("COMPLETED (UTC)", Align::Left),
        ("TABLES", Align::Right),
        ("ROWS", Align::Right),
        ("SIZE", Align::Right),
        ("MASKED", Align::Left),
        ("ENCRYPTED", Align::Left),
    ])
    .gap(1)
    .min_widths(&[20, 20, 6, 12, 10, 6]);
    for b in backups {
        table.push(vec![
            b.id.clone(),
            b.completed_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            b.tables.to_string(),
            b.rows.to_string(),
            pg_size(b.bytes as i64),
            if b.masked { "yes" } else { "no" }.to_string(),
            if b.encrypted { "yes" } else { "no" }.to_string(),
        ]);
    }
    table.render()
}
