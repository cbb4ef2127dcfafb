//! Loading tables in one transaction: lock them, check they are empty (or empty them with
//! `--clean`), COPY each one in foreign-key order, move the owned sequences on, COMMIT.
//! Any error, or the process dying, before COMMIT leaves the target exactly as it was.
//!
//! Nothing here needs a superuser: no `session_replication_role`, no disabled triggers.
//! Foreign keys between restored tables and the tables' indexes are set aside for the load
//! and put back before COMMIT (checked and built once, not row by row); other foreign keys
//! are satisfied by the load order, DEFERRABLE ones are checked at COMMIT.

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::{Client, GenericClient, Transaction};

use super::copy_in::{self, RowCounter, RowWriter};
use super::plan::TableToLoad;
use super::progress::Progress;
use super::sequences::{self, BackupSequence, SequenceFix};
use super::target;
use crate::error::{describe_pg_error, Failure};
use crate::set_aside::{foreign_keys, indexes};

/// How a failed load ends: the transaction rolls back, the target is as it was.
const NOTHING_RESTORED: &str = "nothing was restored";

/// How long to wait for the table locks before giving up (someone else is using them).
const LOCK_WAIT: &str = "30s";

/// Produces one table's COPY text rows, on a blocking thread.
pub type Producer = Box<dyn FnOnce(&mut RowWriter) -> Result<()> + Send>;

/// One loaded table.
#[derive(Debug, Clone, Serialize)]
pub struct LoadedTable {
    pub table: String,
    pub rows: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub tables: Vec<LoadedTable>,
    pub sequences: Vec<SequenceFix>,
}

pub struct LoadOptions<'a> {
    pub clean: bool,
    pub database: &'a str,
    pub progress: &'a Progress,
    pub recorded_sequences: &'a [BackupSequence],
}

/// Loads `tables` (already in load order); `producer` gives each table's rows.
pub async fn load_all(
    client: &mut Client,
    tables: &[TableToLoad],
    mut producer: impl FnMut(&TableToLoad) -> Producer,
    options: &LoadOptions<'_>,
) -> Result<Loaded> {
    let transaction = client.transaction().await?;
    transaction
        .batch_execute(&format!(
            "{}SET LOCAL lock_timeout = '{LOCK_WAIT}';
             SET LOCAL statement_timeout = 0;
             SET LOCAL idle_in_transaction_session_timeout = 0;
             SET CONSTRAINTS ALL DEFERRED",
            crate::archive::text_format::set_sql(true)
        ))
        .await?;
    lock(&transaction, tables).await?;
    if options.clean {
        empty(&transaction, tables).await?;
    } else {
        refuse_rows(&transaction, tables, options.database).await?;
    }

    let names: Vec<String> = tables.iter().map(TableToLoad::qualified).collect();
    let keys = foreign_keys::set_aside(&transaction, &names).await?;
    let built_later = indexes::set_aside(&transaction, &names).await?;

    let mut loaded = Vec::with_capacity(tables.len());
    for table in tables {
        let started = Instant::now();
        if table.columns.is_empty() && table.rows == 0 {
            // Nothing to load, and no column to name (an empty legacy table).
            loaded.push(LoadedTable {
                table: table.display_name(),
                rows: 0,
                seconds: 0.0,
            });
            continue;
        }
        let bar = options.progress.table(&table.display_name(), table.rows);
        let counter = RowCounter::default();
        let mut on_chunk = |rows: u64| bar.set_position(rows);
        let rows = copy_in::load(
            &transaction,
            &table.copy_sql(options.clean),
            &counter,
            &mut on_chunk,
            producer(table),
        )
        .await
        .map_err(|e| copy_failure(table, e))?;
        bar.finish();
        if rows != table.rows {
            return Err(Failure::operation(format!(
                "{}: loaded {rows} rows, the backup says {}; nothing was restored",
                table.display_name(),
                table.rows
            ))
            .into());
        }
        loaded.push(LoadedTable {
            table: table.display_name(),
            rows,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    indexes::put_back(&transaction, &built_later, NOTHING_RESTORED).await?;
    foreign_keys::put_back(&transaction, &keys, NOTHING_RESTORED).await?;

    let mut fixes = Vec::new();
    for table in tables {
        fixes.extend(
            sequences::move_past_restored(
                &transaction,
                &table.schema,
                &table.name,
                options.recorded_sequences,
            )
            .await?,
        );
    }
    transaction
        .commit()
        .await
        .context("COMMIT failed; nothing was restored")?;
    Ok(Loaded {
        tables: loaded,
        sequences: fixes,
    })
}

/// ACCESS EXCLUSIVE: nobody writes (or reads half a restore) until COMMIT.
async fn lock(transaction: &Transaction<'_>, tables: &[TableToLoad]) -> Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.iter().map(TableToLoad::qualified).collect();
    transaction
        .batch_execute(&format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE; SET LOCAL lock_timeout = 0",
            names.join(", ")
        ))
        .await
        .map_err(|e| {
            if e.code().is_some_and(|c| c.code() == "55P03") {
                Failure::operation(format!(
                    "cannot lock the tables to restore: another session held them for {LOCK_WAIT}"
                ))
                .with_hint(
                    "see who holds them: SELECT * FROM pg_locks JOIN pg_stat_activity USING (pid)",
                )
                .into()
            } else {
                anyhow::Error::new(e).context("cannot lock the tables to restore")
            }
        })
}

/// `--clean`: TRUNCATE in the same transaction (rolled back with it). Without CASCADE: a
/// table outside the restore that references one inside makes PostgreSQL refuse, rather
/// than silently emptying a table nobody asked to restore.
async fn empty(transaction: &Transaction<'_>, tables: &[TableToLoad]) -> Result<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.iter().map(TableToLoad::qualified).collect();
    transaction
        .batch_execute(&format!("TRUNCATE {}", names.join(", ")))
        .await
        .map_err(|e| {
            if e.code().is_some_and(|c| c.code() == "0A000") {
                Failure::usage(format!(
                    "--clean cannot empty the tables: {}",
                    describe_pg_error(&e)
                ))
                .with_hint("add the referencing tables to the restore with --table")
                .into()
            } else {
                anyhow::Error::new(e).context("--clean cannot empty the tables")
            }
        })
}

/// Refuses to load into tables that already hold rows.
pub async fn refuse_rows(
    client: &impl GenericClient,
    tables: &[TableToLoad],
    database: &str,
) -> Result<()> {
    let mut full = Vec::new();
    for table in tables {
        if target::has_rows(client, &table.qualified()).await? {
            full.push(table.display_name());
        }
    }
    if full.is_empty() {
        return Ok(());
    }
    let (noun, verb) = if full.len() == 1 {
        ("table", "is")
    } else {
        ("tables", "are")
    };
    Err(Failure::usage(format!(
        "cannot restore into database \"{database}\": {noun} {} {verb} not empty",
        full.join(", ")
    ))
    .with_hint("pass --clean to empty the restored tables first (in the same transaction)")
    .into())
}

/// A COPY error with PostgreSQL's words and where in the file it happened (COPY's line
/// number is the file's: one row per line).
fn copy_failure(table: &TableToLoad, err: anyhow::Error) -> anyhow::Error {
    let file = table
        .file
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let location = err
        .chain()
        .find_map(|e| e.downcast_ref::<tokio_postgres::Error>())
        .and_then(|pg| pg.as_db_error())
        .and_then(|db| db.where_())
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    err.context(format!(
        "restoring {} from {file} failed{location}; the transaction was rolled back, nothing \
         was restored",
        table.display_name()
    ))
}
