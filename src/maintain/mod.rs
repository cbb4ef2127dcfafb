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

/// When a table needs maintenance, and whether to do it. The thresholds left `None` come from
/// `palmdb.health_thresholds` (the same ones the dead_tuples and stale_statistics checks
/// judge by: maintain fixes what health warns about).
#[derive(Debug, Clone)]
pub struct MaintainOptions {
    pub dry_run: bool,
    /// VACUUM when more than this share of a table's rows are dead (`dead_ratio_warning`)...
    pub dead_ratio: Option<f64>,
    /// ...and at least this many (`dead_rows_min`).
    pub dead_rows_min: Option<i64>,
    /// ANALYZE when more than this share of rows changed since the last ANALYZE
    /// (`stale_ratio_warning`)...
    pub stale_ratio: Option<f64>,
    /// ...and at least this many (`stale_rows_min`).
    pub stale_rows_min: Option<i64>,
    /// How long a statement may wait for its lock before the table is skipped.
    pub lock_timeout: Duration,
}

impl Default for MaintainOptions {
    fn default() -> Self {
        MaintainOptions {
            dry_run: false,
            dead_ratio: None,
            dead_rows_min: None,
            stale_ratio: None,
            stale_rows_min: None,
            lock_timeout: Duration::from_secs(5),
        }
    }
}

impl MaintainOptions {
    /// The overrides as `palmdb.maintenance_candidates(thresholds)` takes them.
    fn thresholds_json(&self) -> serde_json::Value {
        let mut object = serde_json::Map::new();
        let given = [
            (
                "dead_ratio_warning",
                self.dead_ratio.map(serde_json::Value::from),
            ),
            (
                "dead_rows_min",
                self.dead_rows_min.map(serde_json::Value::from),
            ),
            (
                "stale_ratio_warning",
                self.stale_ratio.map(serde_json::Value::from),
            ),
            (
                "stale_rows_min",
                self.stale_rows_min.map(serde_json::Value::from),
            ),
        ];
        for (name, value) in given {
            if let Some(value) = value {
                object.insert(name.to_string(), value);
            }
        }
        serde_json::Value::Object(object)
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
             FROM palmdb.maintenance_candidates($1::jsonb)",
            &[&options.thresholds_json()],
        )
        .await
        .map_err(|e| {
            if let Some(db) = e.as_db_error().filter(|db| db.code().code() == "22023") {
                // A threshold palmdb.health_settings() refused (e.g. a negative count).
                return Failure::usage(db.message().to_string())
                    .with_hint("give the thresholds as 0 or more")
                    .into();
            }
            anyhow::Error::new(e).context(
                Failure::operation("cannot list the tables that need maintenance")
                    .with_hint(format!(
                        "if palmdb.maintenance_candidates() is missing, {}",
                        crate::migrate::profile::SETUP_HINT
                    )),
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
