//! Loading tables in one transaction: create the tables from the backup's schema (when the
//! target lacks them) or lock the existing ones and check they are empty (or empty them with
//! `--clean`), switch user triggers off, COPY each table, add the indexes, constraints and
//! triggers, set the sequences, recompute derived data, COMMIT. Any error, or the process
//! dying, before COMMIT leaves the target exactly as it was.
//!
//! Nothing here needs a superuser: no `session_replication_role`; triggers are disabled by
//! name, as the tables' owner may. Into existing tables, foreign keys between restored tables
//! and the tables' indexes are set aside for the load and put back before COMMIT (checked and
//! built once, not row by row); other foreign keys are satisfied by the load order, DEFERRABLE
//! ones are checked at COMMIT.

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::{Client, GenericClient, Transaction};

use super::copy_in::{self, RowCounter, RowWriter};
use super::derived;
use super::plan::TableToLoad;
use super::report::TableOutcome;
use super::schema::{self, Part, StoredSchema};
use super::sequences::{self, BackupSequence, SequenceFix, Setting};
use super::target;
use super::triggers;
use crate::archive::RelationName;
use crate::error::{describe_pg_error, Failure};
use crate::set_aside::{foreign_keys, indexes};
use crate::sql_quote::quote_literal;
use crate::ui::progress::{Progress, Total};

/// How a failed load ends: the transaction rolls back, the target is as it was.
const NOTHING_RESTORED: &str = "nothing was restored";

/// How long to wait for the table locks before giving up (someone else is using them).
const LOCK_WAIT: &str = "30s";

/// Produces one table's COPY text rows, on a blocking thread.
pub type Producer = Box<dyn FnOnce(&mut RowWriter) -> Result<()> + Send>;

#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub tables: Vec<TableOutcome>,
    pub sequences: Vec<SequenceFix>,
    /// Derived tables recomputed and materialized views refreshed.
    pub recomputed: Vec<String>,
}

pub struct LoadOptions<'a> {
    pub clean: bool,
    pub database: &'a str,
    pub progress: &'a Progress,
    /// The sequences to set after the load.
    pub sequences: &'a [BackupSequence],
    /// Create the tables from the backup's schema first (the target lacks them).
    pub schema: Option<&'a StoredSchema>,
    /// Materialized views to refresh after the load.
    pub materialized_views: &'a [RelationName],
    /// maintenance_work_mem for the transaction (a checked size such as `1GB`).
    pub maintenance_work_mem: Option<&'a str>,
}

/// Settings of a restore transaction, transaction-local: the text format the rows are
/// written in, no statement timeout, `lock_wait` for locks (`0`: as long as it takes), and
/// the memory asked for index builds.
pub(super) fn transaction_settings(maintenance_work_mem: Option<&str>, lock_wait: &str) -> String {
    let memory = maintenance_work_mem
        .map(|size| format!("SET LOCAL maintenance_work_mem = {};", quote_literal(size)))
        .unwrap_or_default();
    format!(
        "{}SET LOCAL lock_timeout = {};
         SET LOCAL statement_timeout = 0;
         SET LOCAL idle_in_transaction_session_timeout = 0;
         {memory}",
        crate::archive::text_format::set_sql(true),
        quote_literal(lock_wait)
    )
}

/// The load's settings: a bounded wait for the table locks, and foreign keys checked at
/// COMMIT where they may be.
fn prelude(options: &LoadOptions<'_>) -> String {
    format!(
        "{}
         SET CONSTRAINTS ALL DEFERRED",
        transaction_settings(options.maintenance_work_mem, LOCK_WAIT)
    )
}

/// Loads `tables` (already in load order); `producer` gives each table's rows.
pub async fn load_all(
    client: &mut Client,
    tables: &[TableToLoad],
    mut producer: impl FnMut(&TableToLoad) -> Producer,
    options: &LoadOptions<'_>,
) -> Result<Loaded> {
    let transaction = client.transaction().await?;
    transaction.batch_execute(&prelude(options)).await?;
    if let Some(stored) = options.schema {
        schema::apply(
            &transaction,
            &stored.pre_data,
            &stored.settings,
            Part::Before,
        )
        .await?;
        transaction.batch_execute(&prelude(options)).await?;
        // The tables exist now: the same checks as for a prepared database.
        let mut created = tables.to_vec();
        target::check_tables(
            &transaction,
            &mut created,
            target::MissingTables::Refuse,
            options.database,
        )
        .await?;
    }
    lock(&transaction, tables).await?;
    let disabled = triggers::disable(&transaction, tables).await?;
    if options.clean {
        empty(&transaction, tables).await?;
    } else {
        refuse_rows(&transaction, tables, options.database).await?;
    }

    let names: Vec<String> = tables.iter().map(TableToLoad::qualified).collect();
    let keys = foreign_keys::set_aside(&transaction, &names).await?;
    let built_later = indexes::set_aside(&transaction, &names).await?;

    // Tables created or emptied in this transaction can be loaded frozen.
    let freeze = options.clean || options.schema.is_some();
    let mut loaded = Vec::with_capacity(tables.len());
    for table in tables {
        let started = Instant::now();
        if table.columns.is_empty() && table.rows == 0 {
            // Nothing to load, and no column to name (an empty legacy table).
            loaded.push(TableOutcome {
                table: table.display_name(),
                rows: 0,
                seconds: 0.0,
            });
            continue;
        }
        let bar = options
            .progress
            .bar(&table.display_name(), Total::Exact(table.rows));
        let counter = RowCounter::default();
        let mut on_chunk = |rows: u64, bytes: u64| bar.set(rows, bytes);
        let rows = copy_in::load(
            &transaction,
            &table.copy_sql(freeze),
            &counter,
            &mut on_chunk,
            producer(table),
        )
        .await
        .map_err(|e| copy_failure(table, e))?;
        bar.finish();
        check_row_count(table, rows)?;
        loaded.push(TableOutcome {
            table: table.display_name(),
            rows,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    indexes::put_back(&transaction, &built_later, NOTHING_RESTORED).await?;
    foreign_keys::put_back(&transaction, &keys, NOTHING_RESTORED).await?;
    if let Some(stored) = options.schema {
        schema::apply(
            &transaction,
            &stored.post_data,
            &stored.settings,
            Part::After,
        )
        .await?;
        transaction.batch_execute(&prelude(options)).await?;
    }
    triggers::enable(&transaction, &disabled).await?;

    let setting = if options.schema.is_some() {
        Setting::Exact
    } else {
        Setting::Forward
    };
    finish(
        transaction,
        loaded,
        tables,
        (options.sequences, setting),
        options.materialized_views,
    )
    .await
}

/// Refuses a table whose COPY loaded another number of rows than the backup holds.
pub(super) fn check_row_count(table: &TableToLoad, rows: u64) -> Result<()> {
    if rows == table.rows {
        return Ok(());
    }
    Err(Failure::operation(format!(
        "{}: loaded {rows} rows, the backup says {}; nothing was restored",
        table.display_name(),
        table.rows
    ))
    .into())
}

/// The end of every restore, in its last transaction: the sequences set as `sequences`
/// says, derived tables recomputed, materialized views refreshed, COMMIT.
pub(super) async fn finish(
    transaction: Transaction<'_>,
    loaded: Vec<TableOutcome>,
    tables: &[TableToLoad],
    sequences: (&[BackupSequence], Setting),
    materialized_views: &[RelationName],
) -> Result<Loaded> {
    let fixes = sequences::restore(&transaction, sequences.0, sequences.1).await?;
    let mut recomputed = derived::rebuild(&transaction, tables).await?;
    recomputed.extend(derived::refresh_materialized_views(&transaction, materialized_views).await?);
    transaction
        .commit()
        .await
        .context("COMMIT failed; nothing was restored")?;
    Ok(Loaded {
        tables: loaded,
        sequences: fixes,
        recomputed,
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
pub(super) fn copy_failure(table: &TableToLoad, err: anyhow::Error) -> anyhow::Error {
    let file = &table.file;
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
