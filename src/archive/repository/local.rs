//! A repository in a local folder: `<root>/<id>/` per backup.
//!
//! A backup is written into `<root>/.partial-<id>-<pid>/`, locked (`flock` on the folder) for
//! as long as the writing process lives. Files are created 0600 (never over an existing one)
//! and synced; when every file and the manifest are written and synced, the folder is renamed
//! to `<root>/<id>/` — one atomic step — and the root synced. If anything fails, dropping the
//! [`LocalNew`] deletes the folder; if the process is killed, the folder stays, is never taken
//! for a backup, and `prune` deletes it once its lock is free. Folders are 0700.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{Backup, FileSink, FileSource, Place, Store, Unfinished};
use crate::archive::naming::{
    backup_id, is_backup_id, is_partial_name, partial_name, MANIFEST_FILE, PARTIAL_PREFIX,
};
use crate::archive::open::{create_private_dirs, open_regular_file, refuse_writable_by_others};
use crate::archive::writer::{create_private_dir, create_private_file, sync_dir, PrivateFile};
use crate::archive::Manifest;
use crate::error::Failure;

/// A partial folder younger than this is left alone even if unlocked (it may be starting).
const PARTIAL_MIN_AGE: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct LocalRepo {
    root: PathBuf,
}

impl LocalRepo {
    pub fn new(root: PathBuf) -> LocalRepo {
        LocalRepo { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Names of the real folders (not symlinks) in the root whose name is a backup id.
    pub fn backup_names(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Failure::operation(format!(
                    "cannot read the backup folder {}: {e}",
                    self.root.display()
                ))
                .with_hint("pass --repo (or --dir) with a folder this user can read")
                .into())
            }
        };
        // Another local user who can write here could swap a backup: refused, with the chmod.
        refuse_writable_by_others(&self.root)?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", self.root.display()))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // file_type() does not follow symlinks: a link to a folder is not a backup here.
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && is_backup_id(&name) {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// `what` as the path of a backup folder (anything with a `/`, or an existing folder
    /// holding a manifest); `None` when it is not a path.
    pub fn locate_path(&self, what: &str, store: &Store) -> Result<Option<Backup>> {
        let path = Path::new(what);
        let is_folder_with_manifest = path.is_dir() && path.join(MANIFEST_FILE).exists();
        if !what.contains('/') && !is_folder_with_manifest {
            return Ok(None);
        }
        if !path.is_dir() {
            return Err(Failure::usage(format!("{what} is not a backup folder")).into());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| what.to_string());
        Ok(Some(Backup {
            store: store.clone(),
            name,
            place: Place::Folder(path.to_path_buf()),
        }))
    }

    /// Starts a backup in `<root>/.partial-<id>-<pid>/`, creating the root (0700) if needed.
    /// With `fixed_id`, it can only be published under that id.
    pub fn create(&self, started_at: DateTime<Utc>, fixed_id: Option<&str>) -> Result<LocalNew> {
        create_private_dirs(&self.root).map_err(|e| unwritable(&self.root, &e))?;
        refuse_writable_by_others(&self.root)?;
        let id = match fixed_id {
            Some(id) => {
                if self.root.join(id).symlink_metadata().is_ok() {
                    anyhow::bail!("{} already exists", self.root.join(id).display());
                }
                id.to_string()
            }
            None => backup_id(started_at, 1),
        };
        let partial = self.root.join(partial_name(&id, std::process::id()));
        create_private_dir(&partial).map_err(|e| unwritable(&self.root, e.root_cause()))?;
        let lock =
            File::open(&partial).with_context(|| format!("cannot open {}", partial.display()))?;
        lock.try_lock()
            .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", partial.display()))?;
        Ok(LocalNew {
            root: self.root.clone(),
            partial,
            started_at,
            fixed_id: fixed_id.map(str::to_string),
            _lock: lock,
            published: false,
        })
    }

    pub fn manifest_bytes(&self, folder: &Path) -> Result<Vec<u8>> {
        let path = folder.join(MANIFEST_FILE);
        fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    }

    /// Deletes a backup folder that is directly inside the root: first renamed out of the
    /// backups' name space, then removed without following any symlink inside it.
    pub fn delete(&self, folder: &Path) -> Result<()> {
        let meta = folder
            .symlink_metadata()
            .with_context(|| format!("cannot read {}", folder.display()))?;
        if !meta.is_dir() || folder.parent() != Some(self.root.as_path()) {
            anyhow::bail!(
                "refusing to delete {}: not a folder inside {}",
                folder.display(),
                self.root.display()
            );
        }
        let name = file_name(folder);
        let doomed = if is_partial_name(&name) {
            folder.to_path_buf()
        } else {
            let doomed = self.root.join(format!(
                "{PARTIAL_PREFIX}prune-{name}-{}",
                std::process::id()
            ));
            fs::rename(folder, &doomed)
                .with_context(|| format!("cannot delete {}", folder.display()))?;
            doomed
        };
        // std's remove_dir_all never follows symlinks: it deletes the link, not its target.
        fs::remove_dir_all(&doomed).with_context(|| format!("cannot delete {}", folder.display()))
    }

    /// `.partial-*` folders (real folders, not symlinks) that no process is writing: their
    /// lock is free (it dies with its process, so no grace is needed beyond a minute for a
    /// backup that is starting).
    pub fn abandoned(&self) -> Result<Vec<Unfinished>> {
        self.partials(true)
    }

    /// `.partial-*` folders; with `abandoned_only`, those whose writer is gone.
    pub fn partials(&self, abandoned_only: bool) -> Result<Vec<Unfinished>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.root.display()))
            }
        };
        let mut stale = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", self.root.display()))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if !is_partial_name(&name) || !meta.is_dir() {
                continue;
            }
            let modified = meta.modified().ok();
            let age = modified
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            if abandoned_only && age < PARTIAL_MIN_AGE {
                continue;
            }
            let Ok(folder) = File::open(entry.path()) else {
                continue;
            };
            // A running backup holds the lock; try_lock succeeds only on an abandoned folder.
            if !abandoned_only || folder.try_lock().is_ok() {
                stale.push(Unfinished {
                    name,
                    last_activity: modified.map(DateTime::<Utc>::from),
                    bytes: folder_bytes(&entry.path()),
                    open_uploads: 0,
                });
            }
        }
        stale.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(stale)
    }

    pub fn delete_abandoned(&self, name: &str) -> Result<()> {
        if !is_partial_name(name) || name.contains('/') {
            anyhow::bail!("refusing to delete {name}: not an unfinished backup");
        }
        self.delete(&self.root.join(name))
    }
}

/// The strict check of a folder's manifest: a regular file (not through a symlink) in a
/// folder only its owner can write, then the format's own checks.
pub fn check_manifest(folder: &Path) -> Result<Manifest, Vec<String>> {
    Manifest::check(folder).map_err(|invalid| invalid.problems)
}

/// The regular files directly in a backup folder, with their sizes.
pub fn file_sizes(folder: &Path) -> Result<std::collections::HashMap<String, u64>> {
    let mut sizes = std::collections::HashMap::new();
    for entry in
        fs::read_dir(folder).with_context(|| format!("cannot read {}", folder.display()))?
    {
        let entry = entry.with_context(|| format!("cannot read {}", folder.display()))?;
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if let (true, Some(name)) = (meta.is_file(), entry.file_name().to_str()) {
            sizes.insert(name.to_string(), meta.len());
        }
    }
    Ok(sizes)
}

/// Whether `folder` is a real folder (not a symlink) with a manifest file in it, in a
/// repository only its owner can write to.
pub fn is_backup_folder(folder: &Path) -> Result<bool> {
    if let Some(root) = folder.parent() {
        refuse_writable_by_others(root)?;
    }
    Ok(folder.symlink_metadata().is_ok_and(|m| m.is_dir())
        && folder
            .join(MANIFEST_FILE)
            .symlink_metadata()
            .is_ok_and(|m| m.is_file()))
}

/// Opens a backup's file for reading: a regular file, never through a symlink.
pub fn open_file(path: &Path) -> io::Result<FileSource> {
    Ok(Box::new(open_regular_file(path)?))
}

/// A backup being written into a locked `.partial-*` folder.
pub struct LocalNew {
    root: PathBuf,
    partial: PathBuf,
    started_at: DateTime<Utc>,
    fixed_id: Option<String>,
    /// The open folder, locked while this process works in it.
    _lock: File,
    published: bool,
}

impl LocalNew {
    pub fn describe(&self) -> String {
        self.partial.display().to_string()
    }

    pub fn provisional_id(&self) -> String {
        self.fixed_id
            .clone()
            .unwrap_or_else(|| backup_id(self.started_at, 1))
    }

    pub fn create_file(&self, file: &str) -> Result<Box<dyn FileSink>> {
        Ok(Box::new(PrivateFile::create(&self.partial.join(file))?))
    }

    /// Writes the manifest, syncs, and renames the folder to its final name: the first free
    /// of `<id>`, `<id>-2`, `<id>-3`... (only the fixed id for a copy).
    pub fn publish(mut self, manifest_for: &dyn Fn(&str) -> Result<Vec<u8>>) -> Result<String> {
        sync_dir(&self.partial)?;
        let attempts = if self.fixed_id.is_some() { 1 } else { 100 };
        for attempt in 1..=attempts {
            let id = match &self.fixed_id {
                Some(id) => id.clone(),
                None => backup_id(self.started_at, attempt),
            };
            let target = self.root.join(&id);
            if target.symlink_metadata().is_ok() {
                continue;
            }
            let manifest_path = self.partial.join(MANIFEST_FILE);
            if manifest_path.symlink_metadata().is_ok() {
                fs::remove_file(&manifest_path)
                    .with_context(|| format!("cannot replace {}", manifest_path.display()))?;
            }
            let bytes = manifest_for(&id)?;
            let mut file = create_private_file(&manifest_path)?;
            file.write_all(&bytes)
                .and_then(|_| file.sync_all())
                .with_context(|| format!("cannot write {}", manifest_path.display()))?;
            sync_dir(&self.partial)?;
            match fs::rename(&self.partial, &target) {
                Ok(()) => {
                    self.published = true;
                    sync_dir(&self.root)?;
                    return Ok(id);
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
        match &self.fixed_id {
            Some(id) => anyhow::bail!("{} already exists", self.root.join(id).display()),
            None => anyhow::bail!("cannot find a free backup id in {}", self.root.display()),
        }
    }
}

impl Drop for LocalNew {
    fn drop(&mut self) {
        if !self.published {
            if let Err(e) = fs::remove_dir_all(&self.partial) {
                tracing::warn!("cannot remove {}: {e}", self.partial.display());
            }
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn folder_bytes(folder: &Path) -> u64 {
    fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn unwritable(root: &Path, err: &dyn std::fmt::Display) -> anyhow::Error {
    Failure::operation(format!("cannot write backups to {}: {err}", root.display()))
        .with_hint("choose a folder this user can write to with --repo (or --dir, BACKUP_DIR)")
        .into()
}
