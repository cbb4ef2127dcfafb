//! Finding the backup a command names: an id in the backup folder, `latest`, or a path.
//!
//! `latest` is the newest folder whose name is a backup id, whether or not its manifest is
//! readable: a damaged newest backup must be reported, never silently passed over for an
//! older one. Work-in-progress folders never have a backup id for a name.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::archive::naming::{is_backup_id, MANIFEST_FILE};
use crate::archive::open::refuse_writable_by_others;
use crate::error::Failure;

/// The folder of the backup `what` (`ID`, `latest` or a path) names, under `dir`.
pub fn backup_folder(what: &str, dir: &Path) -> Result<PathBuf> {
    if what == "latest" {
        refuse_writable_by_others(dir)?;
        return latest(dir);
    }
    let as_path = Path::new(what);
    if what.contains('/') || (as_path.is_dir() && as_path.join(MANIFEST_FILE).exists()) {
        if !as_path.is_dir() {
            return Err(Failure::usage(format!("{what} is not a backup folder")).into());
        }
        return Ok(as_path.to_path_buf());
    }
    refuse_writable_by_others(dir)?;
    let folder = dir.join(what);
    // Not through a symlink: a backup is a real folder inside `dir`.
    if !folder.symlink_metadata().is_ok_and(|m| m.is_dir()) {
        return Err(
            Failure::usage(format!("there is no backup {what} in {}", dir.display()))
                .with_hint("`palmdb backup list` shows the backups; pass --dir or set BACKUP_DIR")
                .into(),
        );
    }
    Ok(folder)
}

fn latest(dir: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Failure::usage(format!(
            "cannot read the backup folder {}: {e}",
            dir.display()
        ))
        .with_hint("pass --dir or set BACKUP_DIR to the folder `palmdb backup create` writes to")
    })?;
    let mut newest: Option<String> = None;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Symlinks are not followed: a backup is a real folder inside `dir`.
        if !entry.file_type()?.is_dir() || !is_backup_id(&name) {
            continue;
        }
        if newest.as_ref().is_none_or(|n| id_key(&name) > id_key(n)) {
            newest = Some(name);
        }
    }
    match newest {
        Some(name) => Ok(dir.join(name)),
        None => Err(
            Failure::usage(format!("there is no backup in {}", dir.display()))
                .with_hint("take one with `palmdb backup create`, or pass --dir / set BACKUP_DIR")
                .into(),
        ),
    }
}

/// Ids sort by time; `-N` suffixes (several backups in one second) by number.
fn id_key(id: &str) -> (String, u32) {
    match id.split_once('-') {
        Some((stamp, n)) => (stamp.to_string(), n.parse().unwrap_or(0)),
        None => (id.to_string(), 1),
    }
}
