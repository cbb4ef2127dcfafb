//! A repository in an S3-compatible object store: `s3://bucket/prefix`, one backup per
//! `<prefix>/<id>/`, holding the same files as a local backup folder.
//!
//! There is no rename on a store, so a backup's files are uploaded straight to their final
//! keys, and `manifest.json` — written last, in one PUT — is what makes the backup exist:
//! readers list only ids that have one. While a backup is written, its writer keeps a lease,
//! `<id>/.in-progress`, rewritten every few seconds (a heartbeat) and listing the multipart
//! uploads it has open. A writer that fails removes what it wrote; one that is killed leaves
//! the lease to go stale, and `prune` then aborts the uploads it lists and deletes the objects.
//!
//! Credentials and endpoint come from the standard variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
//! `AWS_ALLOW_HTTP`); errors name the bucket and the endpoint, never a secret. Transient
//! errors (5xx, timeouts, dropped connections) are retried with exponential backoff by the
//! client for up to `PALMDB_STORE_RETRY_TIMEOUT` (default 3 minutes); other errors fail at
//! once with the store's own words.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::MultipartStore;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, RetryConfig,
};
use serde::{Deserialize, Serialize};

use super::bridge;
use super::object_io::{ObjectSink, ObjectSource};
use super::open_uploads::BucketEndpoint;
use super::s3_settings::S3Settings;
use super::{FileSink, FileSource, Unfinished};
use crate::archive::naming::{backup_id, is_backup_id, MANIFEST_FILE};
use crate::archive::Manifest;
use crate::error::Failure;

/// The writer's lease inside an unfinished backup.
pub const LEASE_FILE: &str = ".in-progress";

/// How often a writer rewrites its lease.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The shortest grace `prune` gives a silent writer: several missed heartbeats.
const MIN_GRACE: Duration = Duration::from_secs(30);

/// Longest a manifest may be (the format's own limit is checked again when it is parsed).
const MAX_MANIFEST_BYTES: usize = crate::archive::manifest::MAX_MANIFEST_BYTES as usize;

#[derive(Clone)]
pub struct ObjectRepo {
    pub(super) s3: Arc<AmazonS3>,
    bucket: String,
    endpoint: String,
    prefix: String,
    /// For what `object_store` cannot ask: the uploads the store holds open.
    bucket_endpoint: BucketEndpoint,
}

/// What the listing shows of one `<prefix>/<name>/`.
#[derive(Default, Debug)]
struct PrefixInfo {
    manifest: bool,
    lease: Option<ObjectMeta>,
    newest: Option<DateTime<Utc>>,
    bytes: u64,
}

/// The lease's content: who writes, and which multipart uploads are open.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LeaseState {
    pub writer: String,
    pub started_at: Option<DateTime<Utc>>,
    pub uploads: Vec<OpenUpload>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenUpload {
    pub file: String,
    pub upload_id: String,
}

impl ObjectRepo {
    /// The store for `s3://bucket/prefix` with these settings.
    pub fn new(bucket: &str, prefix: &str, settings: &S3Settings) -> Result<ObjectRepo> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&settings.region)
            .with_allow_http(settings.allow_http)
            .with_retry(retry_config(settings.retry_timeout))
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(settings.allow_http)
                    .with_connect_timeout(settings.connect_timeout)
                    .with_timeout(Duration::from_secs(120)),
            );
        if let Some(url) = &settings.endpoint {
            builder = builder.with_endpoint(url);
        }
        if let Some((id, secret)) = &settings.key {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret.expose());
        }
        if let Some(token) = &settings.session_token {
            builder = builder.with_token(token.expose());
        }
        let shown_endpoint = settings.shown_endpoint();
        let s3 = builder.build().map_err(|e| {
            Failure::usage(format!(
                "cannot use bucket {bucket} at {shown_endpoint}: {}",
                one_line(&e.to_string())
            ))
        })?;
        Ok(ObjectRepo {
            s3: Arc::new(s3),
            bucket: bucket.to_string(),
            endpoint: shown_endpoint,
            prefix: prefix.to_string(),
            bucket_endpoint: BucketEndpoint::new(bucket, settings)?,
        })
    }

    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    pub fn describe(&self, prefix: &Path) -> String {
        format!("s3://{}/{}", self.bucket, prefix)
    }

    fn root(&self) -> Path {
        Path::from(self.prefix.as_str())
    }

    pub fn backup_prefix(&self, name: &str) -> Path {
        self.root().clone().join(name)
    }

    /// An error from the store, as one line naming what was done, the bucket and the endpoint.
    pub fn explain(&self, doing: &str, err: object_store::Error) -> anyhow::Error {
        explain(&self.bucket, &self.endpoint, doing, err).into()
    }

    /// The same, for an I/O error (from a file being read or written): the one line and its
    /// hint travel inside it.
    pub fn io_error(&self, doing: &str, err: object_store::Error) -> std::io::Error {
        let kind = match err {
            object_store::Error::NotFound { .. } => std::io::ErrorKind::NotFound,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, explain(&self.bucket, &self.endpoint, doing, err))
    }

    /// Every object under the repository, grouped by the first name under the prefix.
    fn scan(&self) -> Result<BTreeMap<String, PrefixInfo>> {
        let s3 = self.s3.clone();
        let root = self.root();
        let listed: Vec<ObjectMeta> =
            bridge::run(async move { s3.list(Some(&root)).try_collect().await })
                .map_err(|e| self.explain("cannot list the backups", e))?;
        let depth = self.root().parts().count();
        let mut prefixes: BTreeMap<String, PrefixInfo> = BTreeMap::new();
        for meta in listed {
            let parts: Vec<String> = meta
                .location
                .parts()
                .skip(depth)
                .map(|p| p.as_ref().to_string())
                .collect();
            let [name, file] = parts.as_slice() else {
                continue;
            };
            let info = prefixes.entry(name.clone()).or_default();
            if file == MANIFEST_FILE {
                info.manifest = true;
            } else if file == LEASE_FILE {
                info.lease = Some(meta.clone());
            } else {
                info.bytes += meta.size;
            }
            info.newest = info.newest.max(Some(meta.last_modified));
        }
        Ok(prefixes)
    }

    /// Ids that have a manifest.
    pub fn backup_names(&self) -> Result<Vec<String>> {
        Ok(self
            .scan()?
            .into_iter()
            .filter(|(name, info)| info.manifest && is_backup_id(name))
            .map(|(name, _)| name)
            .collect())
    }

    /// The objects directly under a backup's prefix, with their sizes.
    pub fn file_sizes(&self, prefix: &Path) -> Result<std::collections::HashMap<String, u64>> {
        let s3 = self.s3.clone();
        let under = prefix.clone();
        let listed: Vec<ObjectMeta> =
            bridge::run(async move { s3.list(Some(&under)).try_collect().await })
                .map_err(|e| self.explain(&format!("cannot list {}", self.describe(prefix)), e))?;
        let depth = prefix.parts().count();
        Ok(listed
            .into_iter()
            .filter_map(|meta| {
                let parts: Vec<_> = meta.location.parts().skip(depth).collect();
                match parts.as_slice() {
                    [name] => Some((name.as_ref().to_string(), meta.size)),
                    _ => None,
                }
            })
            .collect())
    }

    pub fn is_published(&self, prefix: &Path) -> Result<bool> {
        let s3 = self.s3.clone();
        let path = prefix.clone().join(MANIFEST_FILE);
        match bridge::run(async move { s3.head(&path).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.explain("cannot look for the backup", e)),
        }
    }

    pub fn manifest_bytes(&self, prefix: &Path) -> Result<Vec<u8>> {
        let s3 = self.s3.clone();
        let path = prefix.clone().join(MANIFEST_FILE);
        let bytes = bridge::run(async move {
            let got = s3.get(&path).await?;
            if got.meta.size as usize > MAX_MANIFEST_BYTES {
                return Ok(None);
            }
            got.bytes().await.map(Some)
        })
        .map_err(|e| self.explain(&format!("cannot read {}", self.describe(prefix)), e))?;
        match bytes {
            Some(bytes) => Ok(bytes.to_vec()),
            None => anyhow::bail!("{MANIFEST_FILE} is larger than {MAX_MANIFEST_BYTES} bytes"),
        }
    }

    /// The strict check of a backup's manifest.
    pub fn check_manifest(&self, prefix: &Path, name: &str) -> Result<Manifest, Vec<String>> {
        let bytes = self.manifest_bytes(prefix).map_err(|e| {
            let missing = e.chain().any(|c| {
                c.to_string().contains("not found") || c.to_string().contains("NoSuchKey")
            });
            if missing {
                vec![format!("{MANIFEST_FILE} is missing")]
            } else {
                vec![crate::error::one_line(&e)]
            }
        })?;
        Manifest::parse(&bytes, Some(name), Utc::now()).map_err(|invalid| invalid.problems)
    }

    pub fn open(&self, path: &Path) -> std::io::Result<FileSource> {
        ObjectSource::open(self, path.clone())
    }

    /// Starts a backup: claims `<prefix>/<id>/` by writing the lease there (the first free of
    /// `<id>`, `<id>-2`...; only `fixed_id` for a copy) and starts its heartbeat.
    pub fn create(
        self: &Arc<Self>,
        started_at: DateTime<Utc>,
        fixed_id: Option<&str>,
    ) -> Result<ObjectNew> {
        let taken = self.scan()?;
        let attempts = if fixed_id.is_some() { 1 } else { 100 };
        for attempt in 1..=attempts {
            let id = match fixed_id {
                Some(id) => id.to_string(),
                None => backup_id(started_at, attempt),
            };
            if let Some(info) = taken.get(&id) {
                if info.manifest {
                    if fixed_id.is_some() {
                        anyhow::bail!("{} already exists", self.describe(&self.backup_prefix(&id)));
                    }
                    continue;
                }
                let live = info
                    .lease
                    .as_ref()
                    .is_some_and(|lease| !is_stale(lease.last_modified, MIN_GRACE));
                if live || fixed_id.is_none() {
                    if fixed_id.is_some() {
                        anyhow::bail!(
                            "{} is being written by another process",
                            self.describe(&self.backup_prefix(&id))
                        );
                    }
                    continue;
                }
            }
            let lease = Arc::new(Lease {
                repo: self.clone(),
                path: self.backup_prefix(&id).join(LEASE_FILE),
                state: Mutex::new(LeaseState {
                    writer: format!("palmdb {} pid {}", hostname(), std::process::id()),
                    started_at: Some(Utc::now()),
                    uploads: Vec::new(),
                }),
            });
            match lease.claim() {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => return Err(e),
            }
            let heartbeat = lease.clone().start_heartbeat();
            return Ok(ObjectNew {
                repo: self.clone(),
                id: id.clone(),
                prefix: self.backup_prefix(&id),
                lease,
                heartbeat,
                published: false,
            });
        }
        anyhow::bail!("cannot find a free backup id in {}", self.url())
    }

    /// Deletes a published backup: the manifest first (it is no longer a backup to anyone),
    /// then everything else under its prefix.
    pub fn delete(&self, prefix: &Path) -> Result<()> {
        let s3 = self.s3.clone();
        let manifest = prefix.clone().join(MANIFEST_FILE);
        match bridge::run(async move { s3.delete(&manifest).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                return Err(self.explain(&format!("cannot delete {}", self.describe(prefix)), e))
            }
        }
        self.delete_prefix(prefix, false)
    }

    /// Deletes every object under `prefix`; the lease last, unless `keep_lease`.
    fn delete_prefix(&self, prefix: &Path, keep_lease: bool) -> Result<()> {
        let s3 = self.s3.clone();
        let under = prefix.clone();
        let lease = prefix.clone().join(LEASE_FILE);
        let result = bridge::run(async move {
            let listed: Vec<ObjectMeta> = s3.list(Some(&under)).try_collect().await?;
            let (leases, files): (Vec<_>, Vec<_>) =
                listed.into_iter().partition(|m| m.location == lease);
            let mut doomed = files
                .into_iter()
                .map(|m| Ok(m.location))
                .collect::<Vec<_>>();
            if !keep_lease {
                doomed.extend(leases.into_iter().map(|m| Ok(m.location)));
            }
            // Deleted in that order, so the lease (listing open uploads) goes last.
            let mut results = s3.delete_stream(futures_util::stream::iter(doomed).boxed());
            while let Some(result) = results.next().await {
                match result {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        result.map_err(|e| self.explain(&format!("cannot delete {}", self.describe(prefix)), e))
    }

    /// Unfinished backups whose writer has been silent for `grace`: an id-shaped prefix with
    /// no manifest whose lease (or, without one, newest object) is older than that.
    pub fn abandoned(&self, grace: Duration) -> Result<Vec<Unfinished>> {
        self.unfinished(Some(grace.max(MIN_GRACE)))
    }

    /// Unfinished backups (no manifest yet), live or not; with `silent_for`, only those whose
    /// writer has been silent that long.
    pub fn unfinished(&self, silent_for: Option<Duration>) -> Result<Vec<Unfinished>> {
        let mut found = Vec::new();
        for (name, info) in self.scan()? {
            if info.manifest || !is_backup_id(&name) {
                continue;
            }
            let activity = info.lease.as_ref().map(|l| l.last_modified).or(info.newest);
            if let Some(grace) = silent_for {
                if !activity.is_some_and(|at| is_stale(at, grace)) {
                    continue;
                }
            }
            // A count to show: when the store cannot be asked now, what the lease says.
            let prefix = self.backup_prefix(&name);
            let open_uploads = self.open_uploads(&prefix).map_or_else(
                |_| {
                    self.read_lease(&prefix.clone().join(LEASE_FILE))
                        .uploads
                        .len()
                },
                |open| open.len(),
            );
            found.push(Unfinished {
                name,
                last_activity: activity,
                bytes: info.bytes,
                open_uploads,
            });
        }
        Ok(found)
    }

    /// Aborts the uploads an abandoned backup's lease lists, then deletes its objects.
    pub fn delete_abandoned(&self, name: &str) -> Result<()> {
        if !is_backup_id(name) {
            anyhow::bail!("refusing to delete {name}: not an unfinished backup");
        }
        let prefix = self.backup_prefix(name);
        if self.is_published(&prefix)? {
            anyhow::bail!("refusing to delete {name}: it was published in the meantime");
        }
        for (path, upload_id) in self.open_uploads(&prefix)? {
            self.abort_upload(&path, &upload_id)?;
        }
        self.delete_prefix(&prefix, false)
    }

    /// The uploads open under an unfinished backup's prefix: those its lease lists, and those
    /// the store holds that the lease never recorded (a writer killed between starting an
    /// upload and writing it down). A store that will not list uploads leaves the lease's; one
    /// whose listing keeps failing is an error, so that the backup's objects (and the lease
    /// that names it) stay for the next prune rather than its uploads being forgotten.
    fn open_uploads(&self, prefix: &Path) -> Result<Vec<(Path, String)>> {
        let lease = self.read_lease(&prefix.clone().join(LEASE_FILE));
        let mut open: Vec<(Path, String)> = lease
            .uploads
            .iter()
            .map(|u| (prefix.clone().join(u.file.as_str()), u.upload_id.clone()))
            .collect();
        let s3 = self.s3.clone();
        let endpoint = self.bucket_endpoint.clone();
        let listed_prefix = prefix.clone();
        let listed = bridge::run(async move { endpoint.open_uploads(&s3, &listed_prefix).await })
            .with_context(|| {
            format!(
                "cannot list the uploads open under {} at {}; nothing of it was deleted, \
                     the next prune tries again",
                self.describe(prefix),
                self.endpoint
            )
        })?;
        for upload in listed.unwrap_or_default() {
            let path = Path::from(upload.key.as_str());
            if !open
                .iter()
                .any(|(p, id)| *p == path && *id == upload.upload_id)
            {
                open.push((path, upload.upload_id));
            }
        }
        Ok(open)
    }

    pub(super) fn abort_upload(&self, path: &Path, upload_id: &str) -> Result<()> {
        let s3 = self.s3.clone();
        let target = path.clone();
        let id = upload_id.to_string();
        match bridge::run(async move { s3.abort_multipart(&target, &id).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.explain(&format!("cannot abort the upload of {path}"), e)),
        }
    }

    fn read_lease(&self, path: &Path) -> LeaseState {
        let s3 = self.s3.clone();
        let path = path.clone();
        bridge::run(async move {
            let bytes = s3.get(&path).await?.bytes().await?;
            Ok::<_, object_store::Error>(serde_json::from_slice(&bytes).unwrap_or_default())
        })
        .unwrap_or_default()
    }
}

/// The lease of a backup being written, shared by its file writers.
pub struct Lease {
    repo: Arc<ObjectRepo>,
    path: Path,
    state: Mutex<LeaseState>,
}

impl Lease {
    /// Writes the lease if nothing is there; `false` if another writer got there first.
    fn claim(&self) -> Result<bool> {
        match self.put(PutMode::Create) {
            Ok(()) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            // Stores without conditional writes: an ordinary PUT, the scan having found the
            // prefix free a moment ago.
            Err(
                object_store::Error::NotImplemented { .. }
                | object_store::Error::NotSupported { .. },
            ) => self
                .put(PutMode::Overwrite)
                .map(|_| true)
                .map_err(|e| self.repo.explain("cannot start the backup", e)),
            Err(e) => Err(self.repo.explain("cannot start the backup", e)),
        }
    }

    fn put(&self, mode: PutMode) -> Result<(), object_store::Error> {
        let body = serde_json::to_vec(&*self.state.lock().expect("lease state"))
            .expect("the lease serializes");
        let s3 = self.repo.s3.clone();
        let path = self.path.clone();
        bridge::run(async move {
            s3.put_opts(&path, PutPayload::from(body), PutOptions::from(mode))
                .await
                .map(|_| ())
        })
    }

    /// Rewrites the lease every few seconds until the returned handle is aborted.
    fn start_heartbeat(self: Arc<Self>) -> tokio::task::AbortHandle {
        let lease = self;
        bridge::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                let body = serde_json::to_vec(&*lease.state.lock().expect("lease state"))
                    .expect("the lease serializes");
                let put = lease.repo.s3.put(&lease.path, PutPayload::from(body)).await;
                // Missed beats only make the backup look older to prune; its own
                // uploads fail and say why if the store is really gone.
                if let Err(e) = put {
                    tracing::debug!("cannot renew the lease {}: {e}", lease.path);
                }
            }
        })
        .abort_handle()
    }

    /// Records an open multipart upload before its first part is sent.
    pub fn add_upload(&self, upload: OpenUpload) -> Result<()> {
        self.state.lock().expect("lease state").uploads.push(upload);
        self.put(PutMode::Overwrite)
            .map_err(|e| self.repo.explain("cannot record an upload in the lease", e))
    }

    /// Forgets an upload once completed or aborted (the next heartbeat writes it down).
    pub fn remove_upload(&self, file: &str) {
        self.state
            .lock()
            .expect("lease state")
            .uploads
            .retain(|u| u.file != file);
    }

    fn open_uploads(&self) -> Vec<OpenUpload> {
        self.state.lock().expect("lease state").uploads.clone()
    }

    /// Whether the lease is still there: `prune` deletes the lease of a writer it believed
    /// dead, and then this backup must not be published.
    fn still_held(&self) -> Result<bool> {
        let s3 = self.repo.s3.clone();
        let path = self.path.clone();
        match bridge::run(async move { s3.head(&path).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.repo.explain("cannot check the backup's lease", e)),
        }
    }
}

/// A backup being uploaded under its final prefix, invisible until its manifest is written.
pub struct ObjectNew {
    repo: Arc<ObjectRepo>,
    id: String,
    prefix: Path,
    lease: Arc<Lease>,
    heartbeat: tokio::task::AbortHandle,
    published: bool,
}

impl ObjectNew {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn describe(&self) -> String {
        self.repo.describe(&self.prefix)
    }

    pub fn create_file(&self, file: &str) -> Result<Box<dyn FileSink>> {
        Ok(Box::new(ObjectSink::new(
            self.repo.clone(),
            self.lease.clone(),
            self.prefix.clone().join(file),
            file.to_string(),
        )))
    }

    /// Writes the manifest (after every file is complete), then removes the lease.
    pub fn publish(mut self, manifest_for: &dyn Fn(&str) -> Result<Vec<u8>>) -> Result<String> {
        if !self.lease.open_uploads().is_empty() {
            anyhow::bail!("{}: files are still being uploaded", self.describe());
        }
        if !self.lease.still_held()? {
            return Err(Failure::operation(format!(
                "{}: the unfinished backup was deleted while it was written (by `backup prune`?)",
                self.describe()
            ))
            .with_hint("run the backup again; give prune a longer --unfinished-grace")
            .into());
        }
        let bytes = manifest_for(&self.id)?;
        let s3 = self.repo.s3.clone();
        let path = self.prefix.clone().join(MANIFEST_FILE);
        bridge::run(async move { s3.put(&path, PutPayload::from(bytes)).await }).map_err(|e| {
            self.repo
                .explain(&format!("cannot publish {}", self.describe()), e)
        })?;
        self.published = true;
        self.heartbeat.abort();
        let s3 = self.repo.s3.clone();
        let lease = self.lease.path.clone();
        if let Err(e) = bridge::run(async move { s3.delete(&lease).await }) {
            // Harmless: readers ignore it, and the backup is complete.
            tracing::warn!("cannot remove the lease of {}: {e}", self.describe());
        }
        Ok(self.id.clone())
    }
}

impl Drop for ObjectNew {
    fn drop(&mut self) {
        self.heartbeat.abort();
        if self.published {
            return;
        }
        // Not published: abort what is still uploading and delete what was written. If this
        // fails (the store is down), the lease stays and goes stale, and prune finishes it.
        let cleaned = self
            .lease
            .open_uploads()
            .iter()
            .try_for_each(|upload| {
                let path = self.prefix.clone().join(upload.file.as_str());
                self.repo.abort_upload(&path, &upload.upload_id)
            })
            .and_then(|()| self.repo.delete_prefix(&self.prefix, false));
        if let Err(e) = cleaned {
            tracing::debug!("{}", crate::error::one_line(&e));
            eprintln!(
                "palmdb: warning: the unfinished backup {} stays on the store for now (it is \
                 never taken for a backup); `palmdb backup prune` removes it later",
                self.describe()
            );
        }
    }
}

fn is_stale(last: DateTime<Utc>, grace: Duration) -> bool {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    Utc::now() - last > grace
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".to_string())
}

fn retry_config(timeout: Duration) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            // A short budget (serve's) is not overshot by one long sleep.
            max_backoff: Duration::from_secs(20).min(timeout / 4),
            base: 2.0,
        },
        // The time budget decides, as documented: a refused connection fails at once, so
        // 12 retries were spent in seconds while a restarting node was still away.
        max_retries: usize::MAX,
        retry_timeout: timeout,
    }
}

/// An error from the store as one line: what failed, where (bucket and endpoint), why (the
/// store's own words when it gave any), and what to do.
pub fn explain(bucket: &str, endpoint: &str, doing: &str, err: object_store::Error) -> Failure {
    let text = one_line(&chain_text(&err));
    let lower = text.to_ascii_lowercase();
    let retried = retries(&text);
    let (why, hint) = if matches!(
        err,
        object_store::Error::Unauthenticated { .. } | object_store::Error::PermissionDenied { .. }
    ) || lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || lower.contains("accessdenied")
        || lower.contains("access denied")
    {
        (
            "the store refused the credentials".to_string(),
            "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that the key may use this bucket",
        )
    } else if lower.contains("nosuchbucket") || lower.contains("bucket not found") {
        (
            "the bucket does not exist".to_string(),
            "create the bucket, or fix the name in --repo s3://BUCKET/prefix",
        )
    } else if text.contains("<Message>") {
        (
            format!("{}{retried}", store_words(&text)),
            "transient errors (5xx, timeouts, dropped connections) were retried for \
             PALMDB_STORE_RETRY_TIMEOUT (default 3m); this is the store's answer",
        )
    } else {
        (
            format!("the store did not answer: {}{retried}", innermost(&err)),
            "check AWS_ENDPOINT_URL and that the store is up; transient errors were retried for \
             PALMDB_STORE_RETRY_TIMEOUT (default 3m)",
        )
    };
    Failure::operation(format!("{doing}: bucket {bucket} at {endpoint}: {why}")).with_hint(hint)
}

/// The deepest cause of an error: what the network or the store actually said.
fn innermost(err: &dyn std::error::Error) -> String {
    let mut last = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        last = inner.to_string();
        source = inner.source();
    }
    one_line(&last)
}

/// The `<Code>` and `<Message>` of an S3 error body, when there is one; the text otherwise.
fn store_words(text: &str) -> String {
    let between = |open: &str, close: &str| -> Option<String> {
        let start = text.find(open)? + open.len();
        let end = text[start..].find(close)? + start;
        Some(
            text[start..end]
                .replace("&quot;", "\"")
                .replace("&amp;", "&"),
        )
    };
    match (
        between("<Code>", "</Code>"),
        between("<Message>", "</Message>"),
    ) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (None, Some(message)) => message,
        _ => text.to_string(),
    }
}

/// ` (after N retries)`, from the client's error text.
fn retries(text: &str) -> String {
    let Some(at) = text.find("after ") else {
        return String::new();
    };
    let rest = &text[at..];
    match rest.find(" retries") {
        Some(end) if end < 20 => format!(" ({})", &rest[..end + " retries".len()]),
        _ => String::new(),
    }
}

fn chain_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = inner.source();
    }
    text
}

pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
