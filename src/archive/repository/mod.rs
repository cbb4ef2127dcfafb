//! The repository seam: everything a place that holds backups is, behind one type.
//!
//! A repository is a local folder (a path or `file://`) or a prefix in an S3-compatible
//! bucket (`s3://bucket/prefix`). Every command that touches backups goes through
//! [`Repository`], so they all agree on what a backup is:
//!
//! - **list**: the backups, newest first, each with the verdict of the one strict manifest
//!   check ([`Backup::manifest`]); `valid_backups` keeps the ones that pass.
//! - **locate**: `latest` (the newest published backup, valid or not: a damaged newest backup
//!   is reported, never passed over), an id, or (local only) the path of a backup folder.
//! - **open**: a file of a backup as a streaming reader.
//! - **create**: a backup under a temporary name ([`NewBackup`]), written with streaming
//!   writers, then **publish**ed in one atomic step (a local rename; on a store, the manifest
//!   written last and alone) — or dropped, which removes what was written.
//! - **delete**: a whole backup, made invisible first so a cut-short delete never leaves a
//!   half backup that looks valid; and abandoned unfinished ones.
//!
//! The bytes in files are the format's business (`archive::writer`, `archive::reader`): this
//! module moves them, it does not look inside.

mod bridge;
mod local;
mod location;
mod object;
mod object_io;
mod open_uploads;
mod s3_settings;

use std::io::{self, Read, Write};
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Manifest;
use crate::error::Failure;
pub use location::RepoSpec;
pub use s3_settings::S3Settings;

/// A backup with the verdict of the strict manifest check.
pub type CheckedBackup = (Backup, Result<Manifest, Vec<String>>);

/// How long an unfinished backup whose writer shows no sign of life is left alone by `prune`
/// (on a store: no heartbeat for this long; in a folder: unlocked and this old).
pub const DEFAULT_UNFINISHED_GRACE: Duration = Duration::from_secs(15 * 60);

/// Where backups live: a local folder or a prefix in an object store.
#[derive(Clone)]
pub struct Repository {
    store: Store,
}

#[derive(Clone)]
enum Store {
    Local(local::LocalRepo),
    Object(std::sync::Arc<object::ObjectRepo>),
}

/// One backup in a repository: published (it has a manifest), whether or not that manifest
/// passes the check.
#[derive(Clone)]
pub struct Backup {
    store: Store,
    name: String,
    place: Place,
}

#[derive(Clone, Debug)]
enum Place {
    Folder(std::path::PathBuf),
    Prefix(object_store::path::Path),
}

/// A file being written into a backup that is not published yet.
pub trait FileSink: Write + Send {
    /// Makes the file durable (synced to disk, or the upload completed). A sink dropped
    /// without `finish` leaves nothing that counts.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// A file being read from a backup.
pub type FileSource = Box<dyn Read + Send>;

/// An unfinished backup nobody is writing any more, which `prune` may delete.
#[derive(Debug, Clone, Serialize)]
pub struct Unfinished {
    pub name: String,
    /// When it was last written to (or its writer last showed it was alive).
    pub last_activity: Option<DateTime<Utc>>,
    /// Bytes it holds in finished files (uploads still open are not counted).
    pub bytes: u64,
    /// Multipart uploads that were left open and are aborted with it.
    pub open_uploads: usize,
}

/// A backup being written: under a temporary name until [`NewBackup::publish`].
pub struct NewBackup {
    inner: NewInner,
}

enum NewInner {
    Local(local::LocalNew),
    Object(object::ObjectNew),
}

impl Repository {
    /// Opens the repository a `--repo` / `--dir` value names (a path, `file://...` or
    /// `s3://bucket/prefix`). Nothing is read yet; a store's credentials come from the
    /// environment (`AWS_*`).
    pub fn open(spec: &str) -> Result<Repository> {
        let spec = RepoSpec::parse(spec)?;
        let settings = match &spec {
            RepoSpec::S3 { .. } => Some(S3Settings::from_env()?),
            RepoSpec::Folder(_) => None,
        };
        Repository::open_with(spec, settings.as_ref())
    }

    /// Opens a repository like [`Repository::open`], for a caller that must answer within a
    /// deadline: a store that does not answer is given up after about `budget`
    /// ([`S3Settings::within`]).
    pub fn open_within(spec: &str, budget: std::time::Duration) -> Result<Repository> {
        let spec = RepoSpec::parse(spec)?;
        let settings = match &spec {
            RepoSpec::S3 { .. } => Some(S3Settings::from_env()?.within(budget)),
            RepoSpec::Folder(_) => None,
        };
        Repository::open_with(spec, settings.as_ref())
    }

    /// Opens a repository with explicit store settings (needed for `s3://` only).
    pub fn open_with(spec: RepoSpec, settings: Option<&S3Settings>) -> Result<Repository> {
        let store = match spec {
            RepoSpec::Folder(path) => Store::Local(local::LocalRepo::new(path)),
            RepoSpec::S3 { bucket, prefix } => {
                let settings = match settings {
                    Some(settings) => settings.clone(),
                    None => S3Settings::from_env()?,
                };
                Store::Object(std::sync::Arc::new(object::ObjectRepo::new(
                    &bucket, &prefix, &settings,
                )?))
            }
        };
        Ok(Repository { store })
    }

    /// A local folder repository.
    pub fn folder(path: impl Into<std::path::PathBuf>) -> Repository {
        Repository {
            store: Store::Local(local::LocalRepo::new(path.into())),
        }
    }

    /// How the repository is named to a person (`/var/backups/palm`, `s3://bucket/prefix`);
    /// never a secret.
    pub fn url(&self) -> String {
        match &self.store {
            Store::Local(repo) => repo.root().display().to_string(),
            Store::Object(repo) => repo.url(),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self.store, Store::Local(_))
    }

    /// The local folder, for a local repository.
    pub fn local_root(&self) -> Option<&std::path::Path> {
        match &self.store {
            Store::Local(repo) => Some(repo.root()),
            Store::Object(_) => None,
        }
    }

    /// Every published backup, newest first, not yet checked. Unfinished backups are never in
    /// this list. A repository that does not exist yet holds no backups.
    pub fn backups(&self) -> Result<Vec<Backup>> {
        let mut names = match &self.store {
            Store::Local(repo) => repo.backup_names()?,
            Store::Object(repo) => repo.backup_names()?,
        };
        names.sort_by_key(|name| std::cmp::Reverse(id_key(name)));
        Ok(names.into_iter().map(|name| self.backup(&name)).collect())
    }

    /// Every published backup, newest first, with its verdict: the manifest's strict check,
    /// then every file it lists present with its size.
    pub fn checked_backups(&self) -> Result<Vec<CheckedBackup>> {
        Ok(self
            .backups()?
            .into_iter()
            .map(|backup| {
                let verdict = backup.check();
                (backup, verdict)
            })
            .collect())
    }

    /// The backups whose manifest passes the check, newest completed first.
    pub fn valid_backups(&self) -> Result<Vec<(Backup, Manifest)>> {
        let mut valid: Vec<(Backup, Manifest)> = self
            .checked_backups()?
            .into_iter()
            .filter_map(|(backup, verdict)| verdict.ok().map(|m| (backup, m)))
            .collect();
        valid.sort_by(|a, b| {
            (b.1.completed_at, id_key(&b.0.name)).cmp(&(a.1.completed_at, id_key(&a.0.name)))
        });
        Ok(valid)
    }

    /// The backup with this name (which may not exist).
    pub fn backup(&self, name: &str) -> Backup {
        let place = match &self.store {
            Store::Local(repo) => Place::Folder(repo.root().join(name)),
            Store::Object(repo) => Place::Prefix(repo.backup_prefix(name)),
        };
        Backup {
            store: self.store.clone(),
            name: name.to_string(),
            place,
        }
    }

    /// The backup `what` names: `latest`, an id, or (local folders only) a folder's path.
    /// `latest` is the newest published backup whether or not its manifest passes the check:
    /// a damaged newest backup must be reported, never silently passed over for an older one.
    pub fn locate(&self, what: &str) -> Result<Backup> {
        if what == "latest" {
            return match self.backups()?.into_iter().next() {
                Some(backup) => Ok(backup),
                None => Err(Failure::usage(format!("there is no backup in {}", self.url()))
                    .with_hint(
                        "take one with `palmdb backup create`, or pass --repo / set PALMDB_REPO",
                    )
                    .into()),
            };
        }
        if let Store::Local(repo) = &self.store {
            if let Some(backup) = repo.locate_path(what, &self.store)? {
                return Ok(backup);
            }
        }
        if what.contains('/') || what.is_empty() || what.starts_with('.') {
            return Err(Failure::usage(format!(
                "\"{what}\" is not a backup id (e.g. 20261125T170501Z), `latest` or a backup folder"
            ))
            .into());
        }
        let backup = self.backup(what);
        if !backup.is_published()? {
            return Err(
                Failure::usage(format!("there is no backup {what} in {}", self.url()))
                    .with_hint(
                        "`palmdb backup list` shows the backups; pass --repo or set PALMDB_REPO",
                    )
                    .into(),
            );
        }
        Ok(backup)
    }

    /// Starts a new backup at `started_at` (its id is that time, `-2`, `-3`... if taken).
    pub fn create(&self, started_at: DateTime<Utc>) -> Result<NewBackup> {
        let inner = match &self.store {
            Store::Local(repo) => NewInner::Local(repo.create(started_at, None)?),
            Store::Object(repo) => NewInner::Object(repo.create(started_at, None)?),
        };
        Ok(NewBackup { inner })
    }

    /// Starts writing a backup that must get exactly this id (a copy of another repository's
    /// backup). Fails if a backup of that id is already published here.
    pub fn create_with_id(&self, id: &str) -> Result<NewBackup> {
        let inner = match &self.store {
            Store::Local(repo) => NewInner::Local(repo.create(Utc::now(), Some(id))?),
            Store::Object(repo) => NewInner::Object(repo.create(Utc::now(), Some(id))?),
        };
        Ok(NewBackup { inner })
    }

    /// Deletes a whole backup: first made invisible (no longer a backup to any reader), then
    /// its files.
    pub fn delete(&self, backup: &Backup) -> Result<()> {
        match (&self.store, &backup.place) {
            (Store::Local(repo), Place::Folder(folder)) => repo.delete(folder),
            (Store::Object(repo), Place::Prefix(prefix)) => repo.delete(prefix),
            _ => unreachable!("a backup belongs to the repository it came from"),
        }
    }

    /// Unfinished backups whose writer is gone: killed, or failed without cleaning up. In a
    /// folder the writer's lock tells; on a store, a lease silent for longer than `grace`.
    pub fn abandoned(&self, grace: Duration) -> Result<Vec<Unfinished>> {
        match &self.store {
            Store::Local(repo) => repo.abandoned(),
            Store::Object(repo) => repo.abandoned(grace),
        }
    }

    /// Every unfinished backup, whether its writer is still at work or gone.
    pub fn unfinished(&self) -> Result<Vec<Unfinished>> {
        match &self.store {
            Store::Local(repo) => repo.partials(false),
            Store::Object(repo) => repo.unfinished(None),
        }
    }

    /// Deletes an abandoned unfinished backup (and aborts its open uploads).
    pub fn delete_abandoned(&self, unfinished: &Unfinished) -> Result<()> {
        match &self.store {
            Store::Local(repo) => repo.delete_abandoned(&unfinished.name),
            Store::Object(repo) => repo.delete_abandoned(&unfinished.name),
        }
    }
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repository({})", self.url())
    }
}

impl Backup {
    /// The backup's name: its id for a backup in a repository, the folder's name otherwise.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it is, for messages: a folder's path or `s3://bucket/prefix/id`.
    pub fn describe(&self) -> String {
        match (&self.store, &self.place) {
            (_, Place::Folder(folder)) => folder.display().to_string(),
            (Store::Object(repo), Place::Prefix(prefix)) => repo.describe(prefix),
            _ => self.name.clone(),
        }
    }

    /// The repository it is in.
    pub fn repository(&self) -> Repository {
        Repository {
            store: self.store.clone(),
        }
    }

    /// The local folder of the backup, for a local repository.
    pub fn folder(&self) -> Option<&std::path::Path> {
        match &self.place {
            Place::Folder(folder) => Some(folder),
            Place::Prefix(_) => None,
        }
    }

    /// The manifest, after the one strict check; otherwise every reason it cannot be used.
    pub fn manifest(&self) -> Result<Manifest, Vec<String>> {
        match (&self.store, &self.place) {
            (_, Place::Folder(folder)) => local::check_manifest(folder),
            (Store::Object(repo), Place::Prefix(prefix)) => repo.check_manifest(prefix, &self.name),
            _ => unreachable!("a backup belongs to the repository it came from"),
        }
    }

    /// The manifest after the strict check, and every file it lists present with the size it
    /// records: what `list`, `status` and `prune` call a valid backup. (The files' SHA-256 is
    /// `verify`'s and `restore`'s to check: it means reading them whole.)
    pub fn check(&self) -> Result<Manifest, Vec<String>> {
        let manifest = self.manifest()?;
        let sizes = match (&self.store, &self.place) {
            (_, Place::Folder(folder)) => local::file_sizes(folder),
            (Store::Object(repo), Place::Prefix(prefix)) => repo.file_sizes(prefix),
            _ => unreachable!("a backup belongs to the repository it came from"),
        }
        .map_err(|e| vec![crate::error::one_line(&e)])?;
        let listed = manifest
            .tables
            .iter()
            .map(|t| (&t.file, t.bytes))
            .chain(manifest.schema.iter().map(|s| (&s.file, s.bytes)));
        let mut problems = Vec::new();
        for (file, bytes) in listed {
            match sizes.get(file.as_str()) {
                None => problems.push(format!("{file} is missing")),
                Some(&size) if size != bytes => problems.push(format!(
                    "{file} holds {size} bytes, the manifest says {bytes}"
                )),
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(problems)
        }
    }

    /// The manifest's bytes exactly as stored (what a copy writes at its target).
    pub fn manifest_bytes(&self) -> Result<Vec<u8>> {
        match (&self.store, &self.place) {
            (Store::Local(repo), Place::Folder(folder)) => repo.manifest_bytes(folder),
            (Store::Object(repo), Place::Prefix(prefix)) => repo.manifest_bytes(prefix),
            _ => unreachable!("a backup belongs to the repository it came from"),
        }
    }

    /// Opens one of the backup's files for a streaming read. A missing file is an error of
    /// kind `NotFound`.
    pub fn open(&self, file: &str) -> io::Result<FileSource> {
        refuse_unsafe_name(file)?;
        match (&self.store, &self.place) {
            (_, Place::Folder(folder)) => local::open_file(&folder.join(file)),
            (Store::Object(repo), Place::Prefix(prefix)) => repo.open(&prefix.clone().join(file)),
            _ => unreachable!("a backup belongs to the repository it came from"),
        }
    }

    /// Whether it is published (its manifest exists), valid or not.
    pub fn is_published(&self) -> Result<bool> {
        match (&self.store, &self.place) {
            (_, Place::Folder(folder)) => local::is_backup_folder(folder),
            (Store::Object(repo), Place::Prefix(prefix)) => repo.is_published(prefix),
            _ => unreachable!("a backup belongs to the repository it came from"),
        }
    }
}

impl std::fmt::Debug for Backup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Backup({})", self.describe())
    }
}

impl NewBackup {
    /// Where it is being written, for messages.
    pub fn describe(&self) -> String {
        match &self.inner {
            NewInner::Local(new) => new.describe(),
            NewInner::Object(new) => new.describe(),
        }
    }

    /// The id it will be published under if nothing takes it first (local folders pick the
    /// next free one at publication; a store claims it up front).
    pub fn provisional_id(&self) -> String {
        match &self.inner {
            NewInner::Local(new) => new.provisional_id(),
            NewInner::Object(new) => new.id().to_string(),
        }
    }

    /// Creates one file of the backup (it must not exist yet).
    pub fn create_file(&self, file: &str) -> Result<Box<dyn FileSink>> {
        refuse_unsafe_name(file)?;
        match &self.inner {
            NewInner::Local(new) => new.create_file(file),
            NewInner::Object(new) => new.create_file(file),
        }
    }

    /// Makes the backup visible, atomically: `manifest_for(id)` gives the manifest's bytes for
    /// the id it is published under. Returns that id.
    pub fn publish(self, manifest_for: impl Fn(&str) -> Result<Vec<u8>>) -> Result<String> {
        match self.inner {
            NewInner::Local(new) => new.publish(&manifest_for),
            NewInner::Object(new) => new.publish(&manifest_for),
        }
    }

    /// Publishes `manifest` (its `id` set to the id it gets), serialized as the format wants.
    pub fn publish_manifest(self, manifest: &mut Manifest) -> Result<String> {
        let template = manifest.clone();
        let id = self.publish(|id| {
            let mut m = template.clone();
            m.id = id.to_string();
            manifest_bytes(&m)
        })?;
        manifest.id = id.clone();
        Ok(id)
    }
}

/// The bytes of `manifest.json` for a manifest (with its own SHA-256).
pub fn manifest_bytes(manifest: &Manifest) -> Result<Vec<u8>> {
    manifest.to_bytes()
}

/// Ids sort by time; `-N` suffixes (several backups in one second) by number.
pub fn id_key(id: &str) -> (String, u32) {
    match id.split_once('-') {
        Some((stamp, n)) => (stamp.to_string(), n.parse().unwrap_or(0)),
        None => (id.to_string(), 1),
    }
}

/// A file name inside a backup: one plain name, never a path or something hidden.
fn refuse_unsafe_name(file: &str) -> io::Result<()> {
    if file.is_empty()
        || file == "."
        || file == ".."
        || file.contains('/')
        || file.contains('\\')
        || file.contains('\0')
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("\"{file}\" is not a file name inside a backup"),
        ));
    }
    Ok(())
}
