//! `palmdb backup create | list | status | prune`: consistent, streaming JSON backups of a
//! database into the folder format of [`crate::archive`], and their upkeep.
//!
//! `create` is the only part that talks to PostgreSQL; `list`, `status` and `prune` read the
//! backup folder alone, so `palmdb serve` and cron jobs can call them without a database.

pub mod catalog;
pub mod create;
pub mod list;
pub mod mask;
pub mod progress;
pub mod prune;
pub mod selection;
pub mod session;
pub mod status;
pub mod table_copy;
pub mod workspace;

use std::path::PathBuf;

/// The backup folder when `--dir` is not given: `$BACKUP_DIR`, else `./backups`.
pub fn default_dir() -> PathBuf {
    std::env::var_os("BACKUP_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("backups"))
}
