//! The work-in-progress folder of one backup, and its publication.
//!
//! A backup is written into `<dir>/.partial-<id>-<pid>/`, locked (`flock` on the folder) for as
//! long as the process lives. Only when every file and the manifest are written and synced is
//! it renamed to `<dir>/<id>/` — one atomic step, after which the folder is a backup. If
//! anything fails, dropping the workspace deletes the folder; if the process is killed, the
//! folder stays, is never taken for a backup, and `prune` deletes it once its lock is free.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::archive::naming::{backup_id, partial_name, MANIFEST_FILE};
use crate::archive::open::{create_private_dirs, refuse_writable_by_others};
use crate::archive::writer::{create_private_dir, sync_dir};
use crate::archive::Manifest;
use crate::error::Failure;

pub struct Workspace {
    root: PathBuf,
    partial: PathBuf,
    started_at: DateTime<Utc>,
    /// The open folder, locked while this process works in it.
    _lock: File,
    published: bool,
}

impl Workspace {
    /// Creates (and locks) the work-in-progress folder for a backup started at `started_at`,
    /// creating `root` and its missing parents (mode 0700) if needed. An existing `root` that
    /// other users can write to is refused.
    pub fn create(root: &Path, started_at: DateTime<Utc>) -> Result<Workspace> {
        create_private_dirs(root).map_err(|e| unwritable(root, &e))?;
        refuse_writable_by_others(root)?;
        let id = backup_id(started_at, 1);
        let partial = root.join(partial_name(&id, std::process::id()));
        create_private_dir(&partial).map_err(|e| unwritable(root, e.root_cause()))?;
        let lock =
            File::open(&partial).with_context(|| format!("cannot open {}", partial.display()))?;
        lock.try_lock()
            .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", partial.display()))?;
        Ok(Workspace {
            root: root.to_path_buf(),
            partial,
            started_at,
            _lock: lock,
            published: false,
        })
    }

    /// Where table files go while the backup is in progress.
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// The backup's id, unless a backup of the same second already exists at publication.
    pub fn provisional_id(&self) -> String {
        backup_id(self.started_at, 1)
    }

    /// Writes the manifest, syncs, and renames the folder to its final name. The manifest's
    /// `id` is set to the final name (`-2`, `-3`... when that second is taken).
    pub fn publish(mut self, manifest: &mut Manifest) -> Result<PathBuf> {
        sync_dir(&self.partial)?;
        for attempt in 1..=100 {
            let id = backup_id(self.started_at, attempt);
            let target = self.root.join(&id);
            if target.symlink_metadata().is_ok() {
                continue;
            }
            manifest.id = id;
            let manifest_path = self.partial.join(MANIFEST_FILE);
            if manifest_path.exists() {
                fs::remove_file(&manifest_path)
                    .with_context(|| format!("cannot replace {}", manifest_path.display()))?;
            }
            manifest.write(&self.partial)?;
            match fs::rename(&self.partial, &target) {
                Ok(()) => {
                    self.published = true;
                    sync_dir(&self.root)?;
                    return Ok(target);
                }
                // Another backup took this name in the meantime: try the next one.
                Err(e) if target.symlink_metadata().is_ok() => {
                    tracing::debug!("{} taken ({e}), trying the next id", target.display());
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "cannot rename {} to {}",
                            self.partial.display(),
                            target.display()
                        )
                    })
                }
            }
        }
        anyhow::bail!("cannot find a free backup id in {}", self.root.display())
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if !self.published {
            if let Err(e) = fs::remove_dir_all(&self.partial) {
                tracing::warn!("cannot remove {}: {e}", self.partial.display());
            }
        }
    }
}

fn unwritable(root: &Path, err: &dyn std::fmt::Display) -> anyhow::Error {
    Failure::operation(format!("cannot write backups to {}: {err}", root.display()))
        .with_hint("choose a folder this user can write to with --dir or BACKUP_DIR")
        .into()
}
