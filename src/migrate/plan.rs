//! Compares the migration files with the database: what is applied, what is pending, and
//! what has drifted (an applied file edited or removed). Reads only; creates nothing, so
//! `migrate status` and `migrate --dry-run` can use it on any database.

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use super::history::{self, AppliedRow};
use super::profile::Profile;
use super::source::{ObjectFile, Source, VersionedFile};

#[derive(Debug, Clone, Serialize)]
pub struct AppliedMigration {
    pub version: i32,
    pub name: String,
    pub applied_on: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingMigration {
    pub version: i32,
    pub name: String,
    pub file: String,
    pub no_transaction: bool,
}

/// An applied migration whose file changed or disappeared since it was applied.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub version: i32,
    pub file: String,
    /// `edited` or `missing`.
    pub problem: &'static str,
}

/// What `migrate` would do, and what stops it.
#[derive(Debug)]
pub struct Plan {
    pub applied: Vec<AppliedMigration>,
    pub pending: Vec<VersionedFile>,
    pub drift: Vec<Drift>,
    pub changed_objects: Vec<ObjectFile>,
}

impl Plan {
    pub fn pending_summary(&self) -> Vec<PendingMigration> {
        self.pending
            .iter()
            .map(|m| PendingMigration {
                version: m.version,
                name: m.name.clone(),
                file: m.file_name.clone(),
                no_transaction: m.no_transaction,
            })
            .collect()
    }

    pub fn current_version(&self) -> Option<i32> {
        self.applied.last().map(|a| a.version)
    }
}

/// Reads the profile's history and the sql/ ledger and compares them with its files.
pub async fn build(client: &Client, source: &Source, profile: Profile) -> Result<Plan> {
    let files = profile.versioned(source)?;
    let applied_rows = history::read_applied_from(client, profile.history_table()).await?;
    let (drift, pending) = compare(&files, &applied_rows)?;
    // On a server that lacks something the files use, the ledger records the SHA-256 of the
    // text actually applied (see compat): restored into a newer major, the objects are then
    // seen as changed and applied again, in full.
    let major = super::compat::server_major(client).await?;
    let objects = profile
        .objects(source)?
        .into_iter()
        .map(|object| object.adapted_to(major))
        .collect();
    let changed_objects = super::repeatable::changed(client, objects).await?;
    Ok(Plan {
        applied: applied_rows
            .into_iter()
            .map(|r| AppliedMigration {
                version: r.version,
                name: r.name,
                applied_on: r.applied_on,
            })
            .collect(),
        pending,
        drift,
        changed_objects,
    })
}

fn compare(
    files: &[VersionedFile],
    applied: &[AppliedRow],
) -> Result<(Vec<Drift>, Vec<VersionedFile>)> {
    let mut drift = Vec::new();
    for row in applied {
        match files.iter().find(|f| f.version == row.version) {
            None => drift.push(Drift {
                version: row.version,
                file: format!("V{}__{}.sql", row.version, row.name),
                problem: "missing",
            }),
            Some(file) => {
                if file.checksum()?.to_string() != row.checksum || file.name != row.name {
                    drift.push(Drift {
                        version: row.version,
                        file: file.file_name.clone(),
                        problem: "edited",
                    });
                }
            }
        }
    }
    let newest_applied = applied.iter().map(|r| r.version).max();
    let mut pending = Vec::new();
    for file in files {
        if applied.iter().any(|r| r.version == file.version) {
            continue;
        }
        if newest_applied.is_some_and(|v| file.version < v) {
            // A file older than the newest applied one was never run: refinery calls it
            // missing, and running it now would apply history out of order.
            drift.push(Drift {
                version: file.version,
                file: file.file_name.clone(),
                problem: "older than the newest applied migration but never applied",
            });
            continue;
        }
        pending.push(file.clone());
    }
    Ok((drift, pending))
}

/// One line per drifted file, for errors and reports.
pub fn describe_drift(drift: &[Drift]) -> String {
    drift
        .iter()
        .map(|d| match d.problem {
            "edited" => format!(
                "migration {} was applied but its file has been edited since",
                d.file
            ),
            "missing" => format!("migration {} was applied but its file is gone", d.file),
            other => format!("migration {} is {}", d.file, other),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
