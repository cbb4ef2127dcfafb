//! `palmdb restore`: load a backup into a database, losslessly and all or nothing.
//!
//! locate the backup → read its manifest → select tables → refuse a masked backup → check
//! every file's SHA-256 → check the target (schema version, tables, columns) → order by
//! foreign keys → one transaction: lock, refuse rows (or `--clean`), COPY each table
//! streamed from its file, move sequences on → COMMIT.

pub mod copy_in;
pub mod legacy;
pub mod load;
pub mod locate;
pub mod order;
pub mod plan;
pub mod progress;
pub mod report;
pub mod sequences;
pub mod target;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::archive::row_codec::RowDecoder;
use crate::archive::{LineReader, Manifest};
use crate::connect::ConnectSettings;
use crate::error::Failure;
use load::{LoadOptions, Producer};
use plan::TableToLoad;
use progress::Progress;
use report::{RestoreReport, TableOutcome};
use sequences::BackupSequence;
use target::MissingTables;

/// What `palmdb restore` was asked to do.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// `ID`, `latest` or a path to a backup folder.
    pub backup: String,
    pub dir: PathBuf,
    /// `--table`: restore only these (`name` or `schema.name`); all when empty.
    pub tables: Vec<String>,
    pub clean: bool,
    pub allow_masked: bool,
    pub dry_run: bool,
    /// Progress bars on a terminal.
    pub progress: bool,
}

/// Runs `palmdb restore`.
pub async fn restore(
    settings: &ConnectSettings,
    options: &RestoreOptions,
) -> Result<RestoreReport> {
    let folder = locate::backup_folder(&options.backup, &options.dir)?;
    let manifest = read_manifest(&folder)?;
    if manifest.masked && !options.allow_masked {
        return Err(Failure::usage(format!(
            "backup {} is masked: its sensitive columns were transformed, it is not the real data",
            manifest.id
        ))
        .with_hint("pass --allow-masked to restore it anyway (into a test or staging database)")
        .into());
    }
    restore_folder(settings, &folder, &manifest, options, MissingTables::Refuse).await
}

/// Restores an already located and read backup; `missing` says what to do with tables the
/// target lacks (the restore test reports them instead of refusing).
pub async fn restore_folder(
    settings: &ConnectSettings,
    folder: &Path,
    manifest: &Manifest,
    options: &RestoreOptions,
    missing: MissingTables,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let mut tables = plan::select(manifest, folder, &options.tables)?;
    refuse_damaged_files(folder, manifest, &tables)?;

    let mut client = settings
        .with_application_name("palmdb restore")
        .connect()
        .await?;
    let database = settings.database().to_string();
    target::check_schema_version(
        &database,
        target::schema_version(&client).await?,
        manifest.schema_version,
    )?;
    let left_out = target::check_tables(&client, &mut tables, missing, &database).await?;
    let keys = order::foreign_keys(&client).await?;
    let names: Vec<(String, String)> = tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    let tables: Vec<TableToLoad> = order::load_order(&names, &keys)?
        .into_iter()
        .map(|i| tables[i].clone())
        .collect();

    let mut report = RestoreReport::new(
        &manifest.id,
        &manifest.database,
        &database,
        options.dry_run,
        options.clean,
    );
    report.not_restored = left_out;
    if options.dry_run {
        dry_run(&client, &tables, options, &database).await?;
        for table in &tables {
            report.tables.push(TableOutcome {
                table: table.display_name(),
                rows: table.rows,
                seconds: 0.0,
            });
        }
        report.finish(started);
        return Ok(report);
    }

    let recorded: Vec<BackupSequence> = manifest
        .sequences
        .iter()
        .map(|s| BackupSequence {
            schema: s.schema.clone(),
            name: s.name.clone(),
            last_value: s.last_value,
            is_called: s.is_called,
        })
        .collect();
    let progress = Progress::new(options.progress);
    let codec = manifest.compression;
    let hashes: Vec<(String, String)> = manifest
        .tables
        .iter()
        .map(|t| (t.qualified_name(), t.sha256.clone()))
        .collect();
    let loaded = load::load_all(
        &mut client,
        &tables,
        |table| {
            let expected = hashes
                .iter()
                .find(|(name, _)| *name == table.display_name())
                .map(|(_, sha)| sha.clone())
                .unwrap_or_default();
            file_rows(table, codec, expected)
        },
        &LoadOptions {
            clean: options.clean,
            database: &database,
            progress: &progress,
            recorded_sequences: &recorded,
        },
    )
    .await?;
    for table in loaded.tables {
        report.tables.push(TableOutcome {
            table: table.table,
            rows: table.rows,
            seconds: table.seconds,
        });
    }
    report.sequences = loaded.sequences;
    report.finish(started);
    Ok(report)
}

/// Reads the manifest, refusing one that is missing, garbage or of an unknown format.
pub fn read_manifest(folder: &Path) -> Result<Manifest> {
    crate::verify::manifest_check::check(folder).map_err(|problems| {
        Failure::usage(format!(
            "{} is not a usable backup: {}",
            folder.display(),
            problems.join("; ")
        ))
        .with_hint("`palmdb backup list` shows the valid backups")
        .into()
    })
}

/// Every selected file's SHA-256 is checked before the database is touched.
fn refuse_damaged_files(folder: &Path, manifest: &Manifest, tables: &[TableToLoad]) -> Result<()> {
    let entries: Vec<_> = manifest
        .tables
        .iter()
        .filter(|e| {
            tables
                .iter()
                .any(|t| t.schema == e.schema && t.name == e.name)
        })
        .collect();
    let problems = crate::verify::files::check_hashes(folder, &entries);
    if problems.is_empty() {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "backup {} failed verification, nothing was restored: {}",
        manifest.id,
        problems.join("; ")
    ))
    .with_hint(format!(
        "run `palmdb backup verify {}` for details, or restore an older backup (palmdb backup list)",
        manifest.id
    ))
    .into())
}

/// The rows of one table file, decoded JSON line → COPY text row. The file is hashed again
/// as it is read: a file changed since the check aborts the restore.
fn file_rows(
    table: &TableToLoad,
    codec: crate::archive::compression::Codec,
    sha256: String,
) -> Producer {
    let path = table.file.clone();
    let decoder = RowDecoder::new(table.column_names());
    Box::new(move |writer| {
        let mut reader = LineReader::open(&path, codec)?;
        while let Some(line) = reader.next_line()? {
            decoder
                .decode(line, writer.buffer())
                .map_err(|e| anyhow!("{}: line {}: {e}", path.display(), reader.lines_read()))?;
            writer.row_done()?;
        }
        let digest = reader.finish()?;
        if digest.sha256 != sha256 {
            return Err(anyhow!(
                "{} changed while it was being restored",
                path.display()
            ));
        }
        Ok(())
    })
}

/// `--dry-run`: the checks a real run makes, and nothing else.
async fn dry_run(
    client: &tokio_postgres::Client,
    tables: &[TableToLoad],
    options: &RestoreOptions,
    database: &str,
) -> Result<()> {
    if options.clean {
        return Ok(());
    }
    load::refuse_rows(client, tables, database).await
}
