//! `palmdb backup copy <ID|latest|--all> --from REPO --to REPO`: a second copy of backups in
//! another repository (another disk, another region, another provider).
//!
//! Each file is streamed from source to target as stored (still compressed, still encrypted:
//! no key is needed), hashed on the way and checked against the source's manifest; a file
//! whose bytes differ stops that backup's copy and nothing of it is published. The manifest is
//! written last, byte for byte the source's, so the copy is the same backup under the same id.
//! A backup the target already holds, complete and identical, is skipped.

use std::io::{Read, Write};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::archive::repository::{Backup, Repository};
use crate::archive::Manifest;
use crate::error::Failure;
use crate::ui::progress::{Bar, Progress, Total};

/// Bytes read from the source at a time.
const CHUNK_BYTES: usize = 256 * 1024;

/// Which backups to copy.
#[derive(Debug, Clone)]
pub enum Which {
    /// An id or `latest`.
    One(String),
    /// Every valid backup of the source.
    All,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub from: String,
    pub to: String,
    pub copied: Vec<Copied>,
    /// Already complete at the target.
    pub skipped: Vec<String>,
    pub failed: Vec<CopyFailure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    pub id: String,
    pub files: usize,
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyFailure {
    pub id: String,
    pub error: String,
}

impl crate::ui::Report for CopyReport {
    fn render_text(&self) -> String {
        let mut out = String::new();
        for c in &self.copied {
            out.push_str(&format!(
                "copied {} ({}, {} bytes, {:.1}s)\n",
                c.id,
                crate::ui::human::counted(c.files as u64, "file", "files"),
                c.bytes,
                c.seconds
            ));
        }
        for id in &self.skipped {
            out.push_str(&format!("skipped {id}: already complete in {}\n", self.to));
        }
        for f in &self.failed {
            out.push_str(&format!("FAILED {}: {}\n", f.id, f.error));
        }
        out.push_str(&format!(
            "{} copied, {} skipped, {} failed, from {} to {}\n",
            self.copied.len(),
            self.skipped.len(),
            self.failed.len(),
            self.from,
            self.to
        ));
        out
    }
}

/// `palmdb backup copy`: copies on a blocking thread (Ctrl-C or SIGTERM stops it, and the
/// copy in progress is not published), prints the report, and fails if any backup failed.
pub async fn run(
    from: Repository,
    to: Repository,
    which: Which,
    progress: bool,
    format: crate::ui::Format,
) -> Result<crate::error::ExitCode> {
    let copying = move || copy_watched(&from, &to, &which, &Progress::new(progress));
    let report = tokio::select! {
        result = tokio::task::spawn_blocking(copying) => result??,
        signal = crate::interrupt::interrupted() => return Err(signal),
    };
    crate::ui::emit(&report, format)?;
    if !report.failed.is_empty() {
        return Err(Failure::operation(format!(
            "{} of {} backups could not be copied",
            report.failed.len(),
            report.failed.len() + report.copied.len() + report.skipped.len()
        ))
        .into());
    }
    Ok(crate::error::ExitCode::Ok)
}

/// Copies the chosen backups. With one backup, a failure is an error; with `--all`, each
/// backup's failure is in the report and the others are still copied.
pub fn copy(from: &Repository, to: &Repository, which: &Which) -> Result<CopyReport> {
    copy_watched(from, to, which, &Progress::hidden())
}

/// [`copy`] with a bar per backup: its bytes as they stream, its rows as each file completes.
pub fn copy_watched(
    from: &Repository,
    to: &Repository,
    which: &Which,
    progress: &Progress,
) -> Result<CopyReport> {
    if from.url() == to.url() {
        return Err(Failure::usage(format!(
            "--from and --to are the same repository ({})",
            from.url()
        ))
        .into());
    }
    let mut report = CopyReport {
        from: from.url(),
        to: to.url(),
        copied: Vec::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
    };
    let chosen: Vec<(Backup, Manifest)> = match which {
        Which::One(what) => {
            let backup = from.locate(what)?;
            let manifest = backup.check().map_err(|problems| {
                Failure::usage(format!(
                    "{} is not a valid backup: {}",
                    backup.describe(),
                    problems.join("; ")
                ))
                .with_hint("`palmdb backup verify` says more; copy a valid backup")
            })?;
            vec![(backup, manifest)]
        }
        Which::All => {
            let mut all = crate::backup::list::scan(from)?.valid;
            // Oldest first: an interrupted run leaves the older copies done.
            all.reverse();
            all
        }
    };
    for (backup, manifest) in chosen {
        let bar = progress.bar(&manifest.id, Total::Exact(manifest.total_rows));
        let copied = copy_one(&backup, &manifest, to, &bar);
        bar.finish();
        match copied {
            Ok(Some(copied)) => report.copied.push(copied),
            Ok(None) => report.skipped.push(manifest.id.clone()),
            Err(e) if matches!(which, Which::All) => report.failed.push(CopyFailure {
                id: manifest.id.clone(),
                error: crate::error::one_line(&e),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Copies one backup; `None` when the target already holds it, complete and identical.
fn copy_one(
    source: &Backup,
    manifest: &Manifest,
    to: &Repository,
    bar: &Bar,
) -> Result<Option<Copied>> {
    let started = Instant::now();
    let id = source.name().to_string();
    let manifest_bytes = source.manifest_bytes()?;
    let existing = to.backup(&id);
    if existing.is_published()? {
        return match existing.check() {
            Ok(_) if existing.manifest_bytes()? == manifest_bytes => Ok(None),
            Ok(_) => Err(Failure::operation(format!(
                "{} already holds a different backup {id}",
                to.url()
            ))
            .with_hint("delete it there first if it is the one to replace")
            .into()),
            Err(problems) => Err(Failure::operation(format!(
                "{} holds a backup {id} that is not valid ({})",
                to.url(),
                problems.join("; ")
            ))
            .with_hint("delete it there (palmdb backup prune leaves invalid backups alone), then copy again")
            .into()),
        };
    }
    let target = to.create_with_id(&id)?;
    let files: Vec<(&str, u64, &str, u64)> = manifest
        .tables
        .iter()
        .map(|t| (t.file.as_str(), t.bytes, t.sha256.as_str(), t.rows))
        .chain(
            manifest
                .schema
                .iter()
                .map(|s| (s.file.as_str(), s.bytes, s.sha256.as_str(), 0)),
        )
        .collect();
    let mut bytes = 0;
    let mut rows = 0;
    for (file, size, sha256, file_rows) in &files {
        copy_file(source, &target, file, *size, sha256, &mut |copied| {
            bar.set(rows, bytes + copied)
        })
        .with_context(|| format!("cannot copy {}/{file}", source.describe()))?;
        bytes += size;
        rows += file_rows;
        bar.set(rows, bytes);
    }
    target.publish(|_| Ok(manifest_bytes.clone()))?;
    Ok(Some(Copied {
        id,
        files: files.len(),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    }))
}

/// Streams one file, checking its size and SHA-256 on the way; the target file is completed
/// only if both match the manifest.
fn copy_file(
    source: &Backup,
    target: &crate::archive::repository::NewBackup,
    file: &str,
    size: u64,
    sha256: &str,
    watch: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut reader = source.open(file)?;
    let mut sink = target.create_file(file)?;
    let mut hasher = Sha256::new();
    let mut copied: u64 = 0;
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        let n = reader.read(&mut buffer).context("cannot read the source")?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        copied += n as u64;
        sink.write_all(&buffer[..n])
            .context("cannot write the target")?;
        watch(copied);
    }
    let got = hex::encode(hasher.finalize());
    if copied != size || got != sha256 {
        // The sink is dropped unfinished: the target keeps nothing of this file.
        return Err(Failure::operation(format!(
            "the source file does not match the manifest ({copied} bytes, the manifest says \
             {size}; SHA-256 {})",
            if got == sha256 { "matches" } else { "differs" }
        ))
        .with_hint("run `palmdb backup verify` on the source; copy another backup")
        .into());
    }
    sink.finish().context("cannot complete the target file")?;
    Ok(())
}
