//! `palmdb backup create | list | status | prune | copy`: consistent, streaming JSON backups
//! of a database into a repository (a folder or an S3 prefix, [`crate::archive::repository`]),
//! and their upkeep.
//!
//! `create` is the only part that talks to PostgreSQL; `list`, `status`, `prune` and `copy`
//! read repositories alone, so `palmdb serve` and cron jobs can call them without a database.

pub mod catalog;
pub mod copy;
pub mod create;
pub mod list;
pub mod mask;
pub mod prune;
pub mod selection;
pub mod session;
pub mod status;
pub mod table_copy;

use anyhow::Result;

use crate::archive::repository::Repository;

/// The repository a command works on: `--repo`, else `--dir`, else `$PALMDB_REPO`, else
/// `$BACKUP_DIR`, else `./backups`.
pub fn repository(repo: Option<&str>, dir: Option<&std::path::Path>) -> Result<Repository> {
    match (repo, dir) {
        (Some(url), _) => Repository::open(url),
        (None, Some(dir)) => Ok(Repository::folder(dir)),
        (None, None) => Repository::open(&default_spec()),
    }
}

/// Several repositories (`status`, `serve`): every `--repo` and `--dir`, else the default.
pub fn repositories(repos: &[String], dir: Option<&std::path::Path>) -> Result<Vec<Repository>> {
    let mut all = repos
        .iter()
        .map(|url| Repository::open(url))
        .collect::<Result<Vec<_>>>()?;
    if let Some(dir) = dir {
        all.push(Repository::folder(dir));
    }
    if all.is_empty() {
        all.push(Repository::open(&default_spec())?);
    }
    Ok(all)
}

/// The same, for `serve`, which answers within a deadline: a store that does not answer is
/// given up after about `budget` and reported unreadable, instead of holding up every
/// repository (and `/metrics`) for the minutes a backup would wait for it.
pub fn repositories_within(
    repos: &[String],
    dir: Option<&std::path::Path>,
    budget: std::time::Duration,
) -> Result<Vec<Repository>> {
    let mut all = repos
        .iter()
        .map(|url| Repository::open_within(url, budget))
        .collect::<Result<Vec<_>>>()?;
    if let Some(dir) = dir {
        all.push(Repository::folder(dir));
    }
    if all.is_empty() {
        all.push(Repository::open_within(&default_spec(), budget)?);
    }
    Ok(all)
}

/// `$PALMDB_REPO`, else `$BACKUP_DIR`, else `backups`.
pub fn default_spec() -> String {
    ["PALMDB_REPO", "BACKUP_DIR"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "backups".to_string())
}
