//! `palmdb restore`: load a backup into a database, losslessly and all or nothing.
//!
//! locate the backup in its repository (a folder or an S3 prefix) → read its manifest (the
//! one strict check) → select tables → refuse a masked backup, or an encrypted one without
//! its key → check every file's SHA-256 → look at the target: none of the backup's tables (create them from
//! the stored schema) or all of them (check schema version, columns, sequences) → order by
//! foreign keys → one transaction: [schema before the rows], lock, refuse rows (or
//! `--clean`), triggers off, COPY each table streamed from its file, [schema after the rows],
//! triggers on, sequences, derived data → COMMIT.

pub mod copy_in;
pub mod derived;
pub mod legacy;
pub mod load;
pub mod new_database;
pub mod order;
pub mod parallel;
pub mod plan;
pub mod post_data;
pub mod report;
pub mod schema;
pub mod sequences;
pub mod target;
pub mod triggers;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};

use crate::archive::backup_files::BackupFiles;
use crate::archive::encryption::Identities;
use crate::archive::integrity;
use crate::archive::repository::{Backup, Repository};
use crate::archive::row_codec::RowDecoder;
use crate::archive::Manifest;
use crate::connect::ConnectSettings;
use crate::error::Failure;
use crate::migrate::history::HISTORY_TABLE;
use crate::ui::progress::Progress;
use load::{LoadOptions, Producer};
use plan::TableToLoad;
use report::{RestoreReport, TableOutcome};
use schema::SchemaOptions;
use sequences::BackupSequence;
use target::MissingTables;

/// What `palmdb restore` was asked to do.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// `ID`, `latest` or a path to a backup folder.
    pub backup: String,
    pub repo: Repository,
    /// The age key of an encrypted backup (`--identity`).
    pub identities: Option<Arc<Identities>>,
    /// `--table`: restore only these (`name` or `schema.name`); all when empty.
    pub tables: Vec<String>,
    pub clean: bool,
    pub allow_masked: bool,
    pub dry_run: bool,
    /// Progress bars on a terminal.
    pub progress: bool,
    /// `--maintenance-work-mem`: for the index builds and foreign-key checks of the load.
    pub maintenance_work_mem: Option<String>,
    /// How the stored schema becomes SQL (`--no-owner`, `--no-privileges`, `--pg-restore`).
    pub schema: SchemaOptions,
    /// `--create-database`: build the database the URL names, published only when complete.
    pub create_database: bool,
    /// `--jobs`: connections loading a new database (with `create_database`).
    pub jobs: usize,
}

/// Tables palmdb's migrations write in a database they prepare: a prepared target at the
/// backup's schema version keeps its own (the versions were checked equal). The health
/// thresholds are seeded by migration V12 with their defaults.
const MIGRATION_BOOKKEEPING: &[(&str, &str)] = &[
    ("public", HISTORY_TABLE),
    ("palmdb", "schema_objects"),
    ("palmdb", "health_thresholds"),
];

/// Runs `palmdb restore`.
pub async fn restore(
    settings: &ConnectSettings,
    options: &RestoreOptions,
) -> Result<RestoreReport> {
    let repo = options.repo.clone();
    let what = options.backup.clone();
    let (backup, manifest) = tokio::task::spawn_blocking(move || {
        let backup = repo.locate(&what)?;
        let manifest = read_manifest(&backup)?;
        Ok::<_, anyhow::Error>((backup, manifest))
    })
    .await??;
    if manifest.masked && !options.allow_masked {
        return Err(Failure::usage(format!(
            "backup {} is masked: its sensitive columns were transformed, it is not the real data",
            manifest.id
        ))
        .with_hint("pass --allow-masked to restore it anyway (into a test or staging database)")
        .into());
    }
    let files = BackupFiles::readable(backup, &manifest, options.identities.clone())?;
    if options.create_database {
        return restore_into_new_database(settings, &files, &manifest, options).await;
    }
    restore_backup(settings, &files, &manifest, options, MissingTables::Refuse).await
}

/// `--create-database`: builds the database under a working name over `--jobs` connections
/// and gives it its name only when everything is in it; any failure, Ctrl-C or SIGTERM drops
/// it (a killed restore's is dropped by the next one).
async fn restore_into_new_database(
    settings: &ConnectSettings,
    files: &BackupFiles,
    manifest: &Manifest,
    options: &RestoreOptions,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let database = settings.database().to_string();
    let Some(entry) = &manifest.schema else {
        return Err(Failure::usage(format!(
            "backup {} holds no schema (taken with --no-schema, or by an older palmdb): \
             --create-database creates every object from it",
            manifest.id
        ))
        .with_hint(
            "create the database and its tables first (palmdb migrate for Palm's), then \
             restore into it without --create-database",
        )
        .into());
    };
    let mut tables = plan::select(manifest, &[])?;
    refuse_damaged_files(files, manifest, &tables).await?;
    let stored = schema::render(files, entry, &options.schema).await?;
    // Biggest first: the longest load starts first, the small ones fill in around it.
    let size = |t: &TableToLoad| {
        manifest
            .tables
            .iter()
            .find(|e| e.schema == t.schema && e.name == t.name)
            .map_or(0, |e| e.bytes)
    };
    tables.sort_by_key(|t| std::cmp::Reverse(size(t)));

    let mut report = RestoreReport::new(
        &manifest.id,
        &manifest.database,
        &database,
        options.dry_run,
        false,
    );
    report.schema_created = true;
    report.database_created = true;
    report.jobs = options.jobs;
    if options.dry_run {
        new_database::check(settings).await?;
        return Ok(would_restore(report, &tables, started));
    }

    let working = new_database::WorkingDatabase::create(settings).await?;
    let progress = Progress::new(options.progress);
    let sequences = backup_sequences(manifest);
    let working_settings = settings.with_database(&working.name);
    let parallel_options = parallel::ParallelOptions {
        jobs: options.jobs,
        database: &database,
        progress: &progress,
        sequences: &sequences,
        materialized_views: &manifest.materialized_views,
        maintenance_work_mem: options.maintenance_work_mem.as_deref(),
    };
    let load = parallel::load_all(
        &working_settings,
        &tables,
        &stored,
        |table| file_rows(files, table),
        &parallel_options,
    );
    let loaded = tokio::select! {
        loaded = load => loaded,
        stop = crate::interrupt::interrupted() => Err(stop),
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            working.discard().await;
            return Err(e);
        }
    };
    working.publish().await?;
    report.tables = loaded.tables;
    report.sequences = loaded.sequences;
    report.recomputed = loaded.recomputed;
    report.finish(started);
    Ok(report)
}

/// Restores an already located and read backup; `missing` says what to do with tables the
/// target lacks when the backup cannot create them (no stored schema): the restore test
/// reports them instead of refusing.
pub async fn restore_backup(
    settings: &ConnectSettings,
    files: &BackupFiles,
    manifest: &Manifest,
    options: &RestoreOptions,
    missing: MissingTables,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let mut tables = plan::select(manifest, &options.tables)?;
    refuse_damaged_files(files, manifest, &tables).await?;

    let mut client = settings
        .with_application_name("palmdb restore")
        .connect()
        .await?;
    let database = settings.database().to_string();
    let present = target::existing(&client, &tables).await?;
    let create_schema =
        present.is_empty() && options.tables.is_empty() && manifest.schema.is_some();
    let mut left_out = Vec::new();
    let mut kept = Vec::new();
    let stored = if create_schema {
        let entry = manifest.schema.as_ref().expect("checked above");
        Some(schema::render(files, entry, &options.schema).await?)
    } else {
        let target_version = target::schema_version(&client).await?;
        target::check_schema_version(&database, target_version, manifest.schema_version)?;
        if present.len() < tables.len() {
            left_out =
                refuse_missing(&mut tables, &present, manifest, options, missing, &database)?;
        }
        if target_version.is_some() {
            tables.retain(|t| {
                let bookkeeping = MIGRATION_BOOKKEEPING
                    .iter()
                    .any(|(s, n)| t.schema == *s && t.name == *n);
                if bookkeeping {
                    kept.push(t.display_name());
                }
                !bookkeeping
            });
        }
        target::check_tables(&client, &mut tables, MissingTables::Refuse, &database).await?;
        None
    };
    let sequences = sequences_to_set(
        &client,
        manifest,
        &tables,
        options,
        stored.is_some(),
        &database,
    )
    .await?;
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
    report.kept_from_target = kept;
    report.schema_created = stored.is_some();
    if options.dry_run {
        if stored.is_none() && !options.clean {
            load::refuse_rows(&client, &tables, &database).await?;
        }
        return Ok(would_restore(report, &tables, started));
    }

    let progress = Progress::new(options.progress);
    let materialized_views = if options.tables.is_empty() {
        manifest.materialized_views.clone()
    } else {
        Vec::new()
    };
    let loaded = load::load_all(
        &mut client,
        &tables,
        |table| file_rows(files, table),
        &LoadOptions {
            clean: options.clean,
            database: &database,
            progress: &progress,
            sequences: &sequences,
            schema: stored.as_ref(),
            materialized_views: &materialized_views,
            maintenance_work_mem: options.maintenance_work_mem.as_deref(),
        },
    )
    .await?;
    report.tables.extend(loaded.tables);
    report.sequences = loaded.sequences;
    report.recomputed = loaded.recomputed;
    report.finish(started);
    Ok(report)
}

/// `--dry-run`: the report lists what would be loaded, in load order.
fn would_restore(
    mut report: RestoreReport,
    tables: &[TableToLoad],
    started: Instant,
) -> RestoreReport {
    for table in tables {
        report.tables.push(TableOutcome {
            table: table.display_name(),
            rows: table.rows,
            seconds: 0.0,
        });
    }
    report.finish(started);
    report
}

/// Every sequence the backup recorded, with its value.
fn backup_sequences(manifest: &Manifest) -> Vec<BackupSequence> {
    manifest
        .sequences
        .iter()
        .map(|s| BackupSequence {
            schema: s.schema.clone(),
            name: s.name.clone(),
            last_value: s.last_value,
            is_called: s.is_called,
        })
        .collect()
}

/// Some of the backup's tables are missing and the backup cannot create them here: refuse,
/// saying what to do (or, for the restore test of a backup without a schema, leave them out
/// and return their names).
fn refuse_missing(
    tables: &mut Vec<TableToLoad>,
    present: &[String],
    manifest: &Manifest,
    options: &RestoreOptions,
    missing: MissingTables,
    database: &str,
) -> Result<Vec<String>> {
    let absent: Vec<String> = tables
        .iter()
        .map(TableToLoad::display_name)
        .filter(|n| !present.contains(n))
        .collect();
    if missing == MissingTables::Report && manifest.schema.is_none() {
        tables.retain(|t| present.contains(&t.display_name()));
        return Ok(absent);
    }
    let listed = absent.join(", ");
    let failure = if manifest.schema.is_none() {
        Failure::usage(format!(
            "database {database} does not fit the backup: it lacks {listed}, and backup {} \
             holds no schema to create them (taken with --no-schema, or by an older palmdb)",
            manifest.id
        ))
        .with_hint(match manifest.schema_version {
            Some(v) => format!(
                "create them first: for palmdb's own tables, `palmdb migrate --target-version \
                 {v}` on a new database"
            ),
            None => "create the tables first (with the same columns), then restore".to_string(),
        })
    } else if !options.tables.is_empty() {
        Failure::usage(format!(
            "database {database} lacks {listed}: --table loads into existing tables"
        ))
        .with_hint(
            "restore the whole backup into a new, empty database to create every table from \
             its schema, or create these tables first",
        )
    } else {
        Failure::usage(format!(
            "database {database} has some of the backup's tables but lacks {listed}: palmdb \
             creates tables from the backup's schema only in a database that has none of them"
        ))
        .with_hint(
            "restore into a new, empty database (createdb NEW; palmdb --database-url .../NEW \
             restore ID), or create the missing tables first",
        )
    };
    Err(failure.into())
}

/// The sequences to set after the load: all of the backup's for a whole restore, those tied
/// to the restored tables for `--table`. Into existing tables, each must exist.
async fn sequences_to_set(
    client: &tokio_postgres::Client,
    manifest: &Manifest,
    tables: &[TableToLoad],
    options: &RestoreOptions,
    schema_created: bool,
    database: &str,
) -> Result<Vec<BackupSequence>> {
    let mut wanted = backup_sequences(manifest);
    if schema_created {
        return Ok(wanted);
    }
    if !options.tables.is_empty() {
        let tied = sequences::tied_to(client, tables).await?;
        wanted.retain(|s| {
            tied.iter()
                .any(|(schema, name)| *schema == s.schema && *name == s.name)
        });
    }
    let missing = sequences::missing(client, &wanted).await?;
    if !missing.is_empty() {
        return Err(Failure::usage(format!(
            "database {database} does not fit the backup: it lacks sequence{} {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        ))
        .with_hint(
            "create them first (the backup records their values), or restore into a new, \
             empty database, where the backup's schema creates them",
        )
        .into());
    }
    Ok(wanted)
}

/// Reads the manifest through the one strict check, refusing one that is missing, garbage or
/// of an unknown format.
pub fn read_manifest(backup: &Backup) -> Result<Manifest> {
    backup.manifest().map_err(|problems| {
        Failure::usage(format!(
            "{} is not a usable backup: {}",
            backup.describe(),
            problems.join("; ")
        ))
        .with_hint("`palmdb backup list` shows the valid backups")
        .into()
    })
}

/// Every selected file's SHA-256 is checked before the database is touched (reading every
/// file: on a blocking thread).
async fn refuse_damaged_files(
    files: &BackupFiles,
    manifest: &Manifest,
    tables: &[TableToLoad],
) -> Result<()> {
    let (files, manifest, tables) = (files.clone(), manifest.clone(), tables.to_vec());
    tokio::task::spawn_blocking(move || check_hashes(&files, &manifest, &tables)).await?
}

fn check_hashes(files: &BackupFiles, manifest: &Manifest, tables: &[TableToLoad]) -> Result<()> {
    let entries: Vec<_> = manifest
        .tables
        .iter()
        .filter(|e| {
            tables
                .iter()
                .any(|t| t.schema == e.schema && t.name == e.name)
        })
        .collect();
    let mut problems = integrity::check_hashes(files, &entries);
    if let Some(schema) = &manifest.schema {
        problems.extend(integrity::check_schema_hash(files, schema));
    }
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
fn file_rows(files: &BackupFiles, table: &TableToLoad) -> Producer {
    let sha256 = table.sha256.clone();
    let files = files.clone();
    let file = table.file.clone();
    let label = files.label(&file);
    let decoder = RowDecoder::new(table.column_names());
    Box::new(move |writer| {
        let mut reader = files.lines(&file)?;
        loop {
            // A line of any length streams through the decoder in pieces: the COPY data goes
            // out in chunks, even in the middle of a row.
            let mut line = decoder.line();
            let read = reader.stream_line(|piece| {
                line.feed(piece, writer.buffer())?;
                writer.flush_if_full()
            });
            let read = read.and_then(|got| match got {
                Some(_) => line
                    .finish(writer.buffer())
                    .map(|()| true)
                    .map_err(Into::into),
                None => Ok(false),
            });
            match read {
                Ok(true) => writer.row_done()?,
                Ok(false) => break,
                Err(e) => return Err(anyhow!("{label}: line {}: {e:#}", reader.lines_read())),
            }
        }
        let digest = reader.finish()?;
        if digest.sha256 != sha256 {
            return Err(anyhow!("{label} changed while it was being restored"));
        }
        Ok(())
    })
}
