//! `palmdb restore --from-legacy FILE`: import the old system's single-document export
//! (`scripts/database-export.ts` in the seed) with the same checks and atomicity as a
//! restore: every table and key must fit the target, counts must match the document's own,
//! tables must be empty (or `--clean`), one transaction, foreign-key order.

pub mod document;
pub mod fields;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;

use super::load::{self, LoadOptions, Producer};
use super::plan::{ColumnToLoad, TableToLoad};
use super::report::{RestoreReport, TableOutcome};
use super::{order, sequences, target};
use crate::connect::ConnectSettings;
use crate::error::Failure;
use crate::ui::progress::Progress;
use document::ScannedTable;
use fields::Target;

/// The old system kept every table in `public`.
const LEGACY_SCHEMA: &str = "public";

#[derive(Debug, Clone)]
pub struct LegacyOptions {
    pub file: PathBuf,
    pub tables: Vec<String>,
    pub clean: bool,
    pub dry_run: bool,
    pub progress: bool,
}

/// A legacy table mapped onto the target: for each of the table's columns to load, the
/// document key that fills it.
#[derive(Debug, Clone)]
struct Mapped {
    table: TableToLoad,
    keys: Vec<String>,
    targets: Vec<Target>,
}

pub async fn restore_legacy(
    settings: &ConnectSettings,
    options: &LegacyOptions,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let path = options.file.clone();
    let scanned = tokio::task::spawn_blocking(move || document::scan(&path))
        .await?
        .map_err(|e| Failure::usage(format!("{e:#}")))?;
    refuse_bad_counts(&scanned)?;
    let scanned = narrow(scanned, &options.tables)?;

    let mut client = settings
        .with_application_name("palmdb restore")
        .connect()
        .await?;
    let database = settings.database().to_string();
    let mut mapped = Vec::new();
    let mut problems = Vec::new();
    for table in &scanned {
        match map_table(&client, table, &options.file).await? {
            Ok(m) => mapped.push(m),
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::usage(format!(
            "database {database} does not fit the export: {}",
            problems.join("; ")
        ))
        .with_hint("run `palmdb migrate` on the target first, or narrow the import with --table")
        .into());
    }
    let keys = order::foreign_keys(&client).await?;
    let names: Vec<(String, String)> = mapped
        .iter()
        .map(|m| (m.table.schema.clone(), m.table.name.clone()))
        .collect();
    let mapped: Vec<Mapped> = order::load_order(&names, &keys)?
        .into_iter()
        .map(|i| mapped[i].clone())
        .collect();
    let tables: Vec<TableToLoad> = mapped.iter().map(|m| m.table.clone()).collect();

    let file_name = options.file.display().to_string();
    let mut report = RestoreReport::new(
        &file_name,
        "legacy export",
        &database,
        options.dry_run,
        options.clean,
    );
    if options.dry_run {
        if !options.clean {
            load::refuse_rows(&client, &tables, &database).await?;
        }
        report.tables = tables
            .iter()
            .map(|t| TableOutcome {
                table: t.display_name(),
                rows: t.rows,
                seconds: 0.0,
            })
            .collect();
        report.finish(started);
        return Ok(report);
    }

    let progress = Progress::new(options.progress);
    let file = options.file.clone();
    // The export records no sequence values: the owned ones move past the imported rows.
    let tied = sequences::tied_to(&client, &tables).await?;
    let current = sequences::current(&client, &tied).await?;
    let loaded = load::load_all(
        &mut client,
        &tables,
        |table| {
            let m = mapped
                .iter()
                .find(|m| m.table.name == table.name)
                .cloned()
                .expect("every loaded table was mapped");
            rows_of(&file, m)
        },
        &LoadOptions {
            clean: options.clean,
            database: &database,
            progress: &progress,
            sequences: &current,
            schema: None,
            materialized_views: &[],
            maintenance_work_mem: None,
        },
    )
    .await?;
    report.tables = loaded.tables;
    report.sequences = loaded.sequences;
    report.finish(started);
    Ok(report)
}

/// A document whose `count` disagrees with its rows was cut or edited: refuse it.
fn refuse_bad_counts(scanned: &[ScannedTable]) -> Result<()> {
    let bad: Vec<String> = scanned
        .iter()
        .filter_map(|t| match t.declared_count {
            Some(count) if count != t.rows => Some(format!(
                "table {} says count {count} but holds {} rows",
                t.name, t.rows
            )),
            _ => None,
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Failure::usage(format!("the export is inconsistent: {}", bad.join("; "))).into())
}

fn narrow(scanned: Vec<ScannedTable>, wanted: &[String]) -> Result<Vec<ScannedTable>> {
    let matches =
        |w: &str, t: &ScannedTable| w == t.name || w == format!("{LEGACY_SCHEMA}.{}", t.name);
    for w in wanted {
        if !scanned.iter().any(|t| matches(w, t)) {
            return Err(Failure::usage(format!("the export has no table \"{w}\"")).into());
        }
    }
    Ok(scanned
        .into_iter()
        .filter(|t| wanted.is_empty() || wanted.iter().any(|w| matches(w, t)))
        .collect())
}

/// Maps a document table onto the target's: the table must exist, every key must name a
/// column (as it is or in snake_case), and required columns must be present.
async fn map_table(
    client: &tokio_postgres::Client,
    table: &ScannedTable,
    file: &Path,
) -> Result<Result<Mapped, Vec<String>>> {
    let Some(columns) = target::columns(client, LEGACY_SCHEMA, &table.name).await? else {
        return Ok(Err(vec![format!(
            "table {LEGACY_SCHEMA}.{} does not exist",
            table.name
        )]));
    };
    let names: Vec<String> = columns
        .iter()
        .filter(|c| !c.generated)
        .map(|c| c.name.clone())
        .collect();
    let mut problems = Vec::new();
    let mut to_load = Vec::new();
    let mut keys = Vec::new();
    let mut targets = Vec::new();
    for key in &table.keys {
        match fields::column_for(key, &names) {
            None => problems.push(format!(
                "{}: key \"{key}\" matches no column (nor does {})",
                table.name,
                fields::snake_case(key)
            )),
            Some(column) if to_load.iter().any(|c: &ColumnToLoad| &c.name == column) => {
                problems.push(format!("{}: two keys fill column {column}", table.name))
            }
            Some(column) => {
                let info = columns.iter().find(|c| &c.name == column).expect("listed");
                to_load.push(ColumnToLoad {
                    name: column.clone(),
                    type_name: info.type_name.clone(),
                });
                keys.push(key.clone());
                targets.push(Target::for_type(&info.type_name));
            }
        }
    }
    for column in columns.iter().filter(|c| c.required) {
        if !to_load.iter().any(|c| c.name == column.name) && table.rows > 0 {
            problems.push(format!(
                "{}: column {} is NOT NULL without a default and the export lacks it",
                table.name, column.name
            ));
        }
    }
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    Ok(Ok(Mapped {
        table: TableToLoad {
            schema: LEGACY_SCHEMA.to_string(),
            name: table.name.clone(),
            columns: to_load,
            generated: Vec::new(),
            rows: table.rows,
            file: file
                .file_name()
                .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
            // Legacy files carry no digest; their own reader checks what they hold.
            sha256: String::new(),
        },
        keys,
        targets,
    }))
}

fn rows_of(file: &Path, mapped: Mapped) -> Producer {
    let file = file.to_path_buf();
    Box::new(move |writer| {
        document::for_each_row(&file, &mapped.table.name, &mut |row| {
            let out = writer.buffer();
            for (i, (key, target)) in mapped.keys.iter().zip(&mapped.targets).enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                fields::write_field(row.get(key), *target, out);
            }
            out.push(b'\n');
            writer.row_done()
        })
    })
}
