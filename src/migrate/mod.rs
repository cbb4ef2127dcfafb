//! `palmdb migrate`: bring a database's schema, its `sql/` objects and its indexes up to
//! date, safely, from a deploy pipeline.
//!
//! lock → refuse a database that is not Palm's → history table → drift check → versioned
//! migrations (refinery, one transaction each; no-transaction files statement by statement) →
//! changed sql/ objects → INVALID index repair → unlock.
//!
//! `palmdb migrate --monitoring-only` installs palmdb's monitoring objects alone, into any
//! database: [`monitoring`].

pub mod compat;
pub mod history;
pub mod lock;
pub mod monitoring;
pub mod no_transaction;
pub mod plan;
pub mod profile;
pub mod repeatable;
pub mod source;
pub mod statements;
pub mod status;

use std::time::{Duration, Instant};

use anyhow::Result;
use refinery::{Runner, Target};
use tokio_postgres::Client;

use crate::connect::ConnectSettings;
use crate::error::Failure;
use history::{TimedClient, Timeouts};
use profile::Profile;
use source::{Source, VersionedFile};
use statements::Statement;

pub use status::status;

/// How `migrate` behaves.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub source: Source,
    pub dry_run: bool,
    pub lock_wait: Duration,
    pub timeouts: Timeouts,
}

/// How often a migration that hit `lock_timeout` is tried before giving up.
const LOCK_TIMEOUT_ATTEMPTS: u32 = 3;

/// Runs `migrate`; writes what it did (or, with `dry_run`, would do) to `out`.
pub async fn migrate(
    settings: &ConnectSettings,
    options: &MigrateOptions,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    migrate_to(settings, options, None, out).await
}

/// Like [`migrate`], but with `target_version` stops after that migration (`palmdb migrate
/// --target-version N`): a database for a backup taken at version N. The `sql/` objects are
/// applied only once the latest migration is, as they are written for the latest schema.
pub async fn migrate_to(
    settings: &ConnectSettings,
    options: &MigrateOptions,
    target_version: Option<i32>,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let mut client = settings
        .with_application_name("palmdb migrate")
        .connect()
        .await?;
    if options.dry_run {
        return dry_run(&client, settings, options, target_version, out).await;
    }
    lock::acquire(&client, options.lock_wait).await?;
    let outcome = apply_everything(&mut client, settings, options, target_version, out).await;
    // Closing the session releases the lock as well; this just frees it sooner.
    let _ = lock::release(&client).await;
    outcome
}

async fn apply_everything(
    client: &mut Client,
    settings: &ConnectSettings,
    options: &MigrateOptions,
    target_version: Option<i32>,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    // Before anything is created: Palm's tables go into Palm's database or a new one only.
    profile::inspect(client, &options.source)
        .await?
        .refuse_palm_migrate(&options.source)?;
    history::ensure_table(client).await?;
    repeatable::ensure_ledger(client).await?;
    let mut plan = plan::build(client, &options.source, Profile::Palm).await?;
    refuse_drift(&plan)?;
    stop_at(&mut plan, target_version)?;
    let all_files = options.source.versioned()?;
    let mut did_something = false;
    let major = compat::server_major(client).await?;
    let skipped: usize = plan
        .pending
        .iter()
        .map(|f| compat::skipped_count(&f.sql, major))
        .chain(
            // The plan holds the objects already adapted: count on the files themselves.
            options
                .source
                .objects()?
                .iter()
                .filter(|o| plan.changed_objects.iter().any(|c| c.path == o.path))
                .map(|o| compat::skipped_count(&o.sql, major)),
        )
        .sum();
    if skipped > 0 {
        writeln!(
            out,
            "note: PostgreSQL {major} has no role pg_read_all_data (it came in {}): \
             {skipped} GRANT ... TO pg_read_all_data skipped; grant read-only roles by hand",
            compat::READ_ALL_DATA_SINCE
        )?;
    }

    for file in &plan.pending {
        let started = Instant::now();
        let mut attempt = 1;
        let notes = loop {
            match apply_versioned(client, file, &all_files, options, major).await {
                Err(e) if retry_after_lock_timeout(&e, &mut attempt).await => continue,
                other => break other?,
            }
        };
        for note in notes {
            writeln!(out, "{note}")?;
        }
        writeln!(
            out,
            "applied {}{} ({} ms)",
            file.file_name,
            if file.no_transaction {
                " (no transaction)"
            } else {
                ""
            },
            started.elapsed().as_millis()
        )?;
        did_something = true;
    }
    if repeatable::apply_all(client, &plan.changed_objects, options.timeouts, major, out).await? {
        did_something = true;
    }
    for line in no_transaction::repair_invalid_indexes(client, options.timeouts).await? {
        writeln!(out, "{line}")?;
        did_something = true;
    }

    let version = history::read_applied(client)
        .await?
        .last()
        .map(|r| format!("V{}__{}", r.version, r.name))
        .unwrap_or_else(|| "no migrations".to_string());
    if did_something {
        writeln!(
            out,
            "database {} is up to date at {version}",
            settings.database()
        )?;
    } else {
        writeln!(
            out,
            "nothing to do: database {} is already up to date at {version}",
            settings.database()
        )?;
    }
    Ok(())
}

async fn apply_versioned(
    client: &mut Client,
    file: &VersionedFile,
    all_files: &[VersionedFile],
    options: &MigrateOptions,
    server_major: u32,
) -> Result<Vec<String>> {
    if file.no_transaction {
        return no_transaction::run_file(client, file, options.timeouts, server_major).await;
    }
    let migrations = all_files
        .iter()
        .map(VersionedFile::to_refinery)
        .collect::<Result<Vec<_>>>()?;
    let runner = Runner::new(&migrations)
        .set_target(Target::Version(file.version))
        .set_abort_divergent(true)
        .set_abort_missing(true);
    let mut timed = TimedClient::new(client, options.timeouts).for_server(server_major);
    runner
        .run_async(&mut timed)
        .await
        .map_err(|e| match find_pg_error(&e) {
            Some(pg) => locate_error(pg, &file.file_name, &file.sql),
            None => anyhow::Error::new(e).context(format!("migration {} failed", file.file_name)),
        })?;
    Ok(Vec::new())
}

/// Narrows the plan to migrations up to `target_version`, refusing a version that has no
/// file or that the database is already past.
fn stop_at(plan: &mut plan::Plan, target_version: Option<i32>) -> Result<()> {
    let Some(target) = target_version else {
        return Ok(());
    };
    let known = plan.applied.iter().any(|a| a.version == target)
        || plan.pending.iter().any(|p| p.version == target);
    if !known {
        return Err(Failure::usage(format!("there is no migration version {target}")).into());
    }
    if let Some(current) = plan.current_version().filter(|&c| c > target) {
        return Err(Failure::usage(format!(
            "the database is at version {current}, past the target version {target}"
        ))
        .with_hint("migrations are never undone: use a new database for an older version")
        .into());
    }
    if plan.pending.iter().any(|p| p.version > target) {
        plan.pending.retain(|p| p.version <= target);
        plan.changed_objects.clear();
    }
    Ok(())
}

pub(crate) fn refuse_drift(plan: &plan::Plan) -> Result<()> {
    if plan.drift.is_empty() {
        return Ok(());
    }
    Err(Failure::operation(plan::describe_drift(&plan.drift))
        .with_hint(
            "never edit or delete an applied migration: restore the original file and put \
             the change in a new migration",
        )
        .into())
}

/// After a failure: when it was a `lock_timeout` (SQLSTATE 55P03) and attempts remain,
/// waits a little longer each time and says to try again.
pub(crate) async fn retry_after_lock_timeout(err: &anyhow::Error, attempt: &mut u32) -> bool {
    if *attempt >= LOCK_TIMEOUT_ATTEMPTS || !is_lock_timeout(err) {
        return false;
    }
    tracing::warn!("lock_timeout hit (attempt {attempt}), retrying: {err:#}");
    tokio::time::sleep(Duration::from_secs(u64::from(*attempt))).await;
    *attempt += 1;
    true
}

fn is_lock_timeout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<tokio_postgres::Error>()
            .and_then(|pg| pg.code())
            .is_some_and(|c| c.code() == "55P03")
    }) || crate::error::one_line(err).contains("SQLSTATE 55P03")
}

/// The database error at the bottom of a refinery error, if it has one.
fn find_pg_error(err: &refinery::Error) -> Option<&tokio_postgres::Error> {
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(pg) = e.downcast_ref::<tokio_postgres::Error>() {
            return Some(pg);
        }
        source = e.source();
    }
    None
}

/// Turns a database error into "file, line, statement: message (SQLSTATE)".
pub fn locate_error(err: &tokio_postgres::Error, file: &str, sql: &str) -> anyhow::Error {
    let location = error_location(err, sql);
    let message = crate::error::describe_pg_error(err);
    Failure::operation(format!("{file} failed{location}: {message}")).into()
}

/// Like [`locate_error`], for an error in one statement sent on its own.
pub fn locate_error_in_statement(
    err: &tokio_postgres::Error,
    file: &str,
    statement: &Statement,
) -> anyhow::Error {
    let message = crate::error::describe_pg_error(err);
    Failure::operation(format!(
        "{file} failed at line {} ({}): {message}",
        statement.line,
        excerpt(&statement.text)
    ))
    .into()
}

fn error_location(err: &tokio_postgres::Error, sql: &str) -> String {
    let position = err.as_db_error().and_then(|db| match db.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
        _ => None,
    });
    let Some(position) = position else {
        return String::new();
    };
    // The server counts characters from 1; statements are indexed by byte.
    let byte = sql
        .char_indices()
        .nth(position.saturating_sub(1))
        .map_or(sql.len(), |(b, _)| b);
    let all = statements::split(sql);
    match statements::at_offset(&all, byte) {
        Some(statement) => format!(" at line {} ({})", statement.line, excerpt(&statement.text)),
        None => String::new(),
    }
}

fn excerpt(statement: &str) -> String {
    let flat = statements::without_leading_comments(statement)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if flat.chars().count() > 100 {
        format!("{}...", flat.chars().take(100).collect::<String>())
    } else {
        flat
    }
}

async fn dry_run(
    client: &Client,
    settings: &ConnectSettings,
    options: &MigrateOptions,
    target_version: Option<i32>,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    profile::inspect(client, &options.source)
        .await?
        .refuse_palm_migrate(&options.source)?;
    let mut plan = plan::build(client, &options.source, Profile::Palm).await?;
    refuse_drift(&plan)?;
    stop_at(&mut plan, target_version)?;
    let invalid = no_transaction::invalid_indexes(client).await?;
    writeln!(
        out,
        "-- palmdb migrate --dry-run on database {}: nothing below has been run",
        settings.database()
    )?;
    write_plan_sql(client, &plan, &invalid, options.timeouts, out).await
}

/// The SQL a plan runs, as `--dry-run` prints it.
pub(crate) async fn write_plan_sql(
    client: &Client,
    plan: &plan::Plan,
    invalid: &[no_transaction::InvalidIndex],
    timeouts: Timeouts,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let set_local = timeouts.set_sql(true);
    let major = compat::server_major(client).await?;
    for file in &plan.pending {
        if file.no_transaction {
            writeln!(
                out,
                "\n-- {} (no transaction: one statement per query)",
                file.file_name
            )?;
            writeln!(out, "{};", timeouts.set_sql(false))?;
            for statement in statements::split(&compat::adapt(&file.sql, major)) {
                writeln!(out, "{};", statement.text)?;
            }
        } else {
            writeln!(out, "\n-- {} (one transaction)", file.file_name)?;
            writeln!(
                out,
                "BEGIN;\n{set_local};\n{}\nCOMMIT;",
                compat::adapt(&file.sql, major).trim_end()
            )?;
        }
    }
    for object in &plan.changed_objects {
        writeln!(out, "\n-- sql/{} (changed; one transaction)", object.path)?;
        writeln!(
            out,
            "BEGIN;\n{set_local};\n{}\nCOMMIT;",
            compat::adapt(&object.sql, major).trim_end()
        )?;
    }
    for index in invalid {
        writeln!(
            out,
            "\n-- INVALID index {}.{}\n{};",
            index.schema, index.index, index.repair
        )?;
    }
    if plan.pending.is_empty() && plan.changed_objects.is_empty() && invalid.is_empty() {
        writeln!(out, "-- nothing to do: the database is up to date")?;
    }
    Ok(())
}
