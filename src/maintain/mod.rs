//! `palmdb maintain`: VACUUM (ANALYZE) the tables with too many dead rows and ANALYZE the
//! tables whose statistics are stale, as `palmdb.maintenance_candidates()` lists them.
//!
//! One table at a time, each statement on its own outside any transaction (VACUUM cannot run
//! inside one), with a lock_timeout so that maintenance never queues in front of the
//! application behind a long lock. A table that fails is reported and the rest still run.

use std::time::{Duration, Instant};

use anyhow::Result;
use tokio_postgres::Client;

use crate::error::{describe_pg_error, Failure};

/// When a table needs maintenance, and whether to do it.
#[derive(Debug, Clone)]
pub struct MaintainOptions {
    pub dry_run: bool,
    /// VACUUM when at least this share of a table's rows are dead...
    pub dead_ratio: f64,
    /// ...and at least this many.
    pub dead_rows_min: i64,
    /// ANALYZE when at least this share of rows changed since the last ANALYZE...
    pub stale_ratio: f64,
    /// ...and at least this many.
    pub stale_rows_min: i64,
    /// How long a statement may wait for its lock before the table is skipped.
    pub lock_timeout: Duration,
}

impl Default for MaintainOptions {
    fn default() -> Self {
        MaintainOptions {
            dry_run: false,
            dead_ratio: 0.2,
            dead_rows_min: 1000,
            stale_ratio: 0.2,
            stale_rows_min: 1000,
            lock_timeout: Duration::from_secs(5),
        }
    }
}

/// What happened to one table.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done { millis: u128 },
    WouldRun,
    NotOwner,
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct TableMaintenance {
    pub table: String,
    pub statement: String,
    pub reason: String,
    pub outcome: Outcome,
}

/// Finds the tables that need maintenance and maintains them, writing a line per table.
pub async fn maintain(
    client: &Client,
    options: &MaintainOptions,
    out: &mut dyn std::io::Write,
) -> Result<Vec<TableMaintenance>> {
    client
        .batch_execute(&format!(
            "SET lock_timeout = '{}ms'; SET statement_timeout = 0",
            options.lock_timeout.as_millis()
        ))
        .await?;
    let candidates = client
        .query(
            "SELECT format('%I.%I', schema_name, table_name) AS table_name, statement, reason, allowed
             FROM palmdb.maintenance_candidates($1::float8, $2::int8, $3::float8, $4::int8)",
            &[&options.dead_ratio, &options.dead_rows_min, &options.stale_ratio, &options.stale_rows_min],
        )
        .await
        .map_err(|e| {
            anyhow::Error::new(e).context(
                Failure::operation("cannot list the tables that need maintenance")
                    .with_hint("run palmdb migrate first if palmdb.maintenance_candidates() is missing"),
            )
        })?;
    if candidates.is_empty() {
        writeln!(out, "nothing to do: no table crosses the thresholds")?;
        return Ok(Vec::new());
    }
    let mut done = Vec::new();
    for row in candidates {
        let table: String = row.get("table_name");
        let statement: String = row.get("statement");
        let reason: String = row.get("reason");
        let allowed: bool = row.get("allowed");
        let outcome = if options.dry_run {
            writeln!(out, "would run: {statement};  -- {reason}")?;
            Outcome::WouldRun
        } else if !allowed {
            writeln!(
                out,
                "skipped {table}: only its owner or a superuser can maintain it ({reason})"
            )?;
            Outcome::NotOwner
        } else {
            let started = Instant::now();
            match client.batch_execute(&statement).await {
                Ok(()) => {
                    let millis = started.elapsed().as_millis();
                    writeln!(out, "{statement}: done in {millis} ms ({reason})")?;
                    Outcome::Done { millis }
                }
                Err(e) => {
                    let why = describe_pg_error(&e);
                    writeln!(out, "{statement}: FAILED: {why}")?;
                    Outcome::Failed(why)
                }
            }
        };
        done.push(TableMaintenance {
            table,
            statement,
            reason,
            outcome,
        });
    }
    let failed = done
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Failed(_)))
        .count();
    if !options.dry_run {
        let maintained = done
            .iter()
            .filter(|t| matches!(t.outcome, Outcome::Done { .. }))
            .count();
        writeln!(out, "maintained {maintained} of {} table(s)", done.len())?;
    }
    if failed > 0 {
        return Err(Failure::operation(format!(
            "{failed} of {} table(s) could not be maintained (see above)",
            done.len()
        ))
        .with_hint("a lock timeout means the table was busy: run palmdb maintain again later")
        .into());
    }
    Ok(done)
}
