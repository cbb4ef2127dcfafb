//! Runs `palmdb.checks()` with the chosen checks and threshold overrides and reads its rows.
//! One query: the checks are SQL so that psql sees exactly what the CLI sees, and SQL also
//! refuses unknown checks and thresholds (the same message in both).

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::report::{Check, HealthReport};
use super::thresholds::{self, Threshold};
use super::{catalog, guard};
use crate::error::Failure;
use crate::migrate::profile::SETUP_HINT;
use crate::ui::Verdict;

/// Which checks to run and with which thresholds; the default runs all with the defaults of
/// `palmdb.health_thresholds`.
#[derive(Debug, Clone, Default)]
pub struct HealthOptions {
    /// Check names to run; empty means all.
    pub checks: Vec<String>,
    /// Thresholds that replace the defaults for this run.
    pub thresholds: Vec<Threshold>,
}

/// Runs the checks on `client`'s database, under the health session guards.
pub async fn collect(client: &Client, options: &HealthOptions) -> Result<HealthReport> {
    let overrides = thresholds::overrides_json(&options.thresholds);
    let only: Option<Vec<String>> = (!options.checks.is_empty()).then(|| options.checks.clone());
    // The rows are read inside the guard's transaction: a row keeps its prepared statement
    // alive, and the statement's Close must reach the server the transaction pinned (through
    // PgBouncer in transaction mode, a later one may go to another server and leave the
    // statement behind on this one).
    let checks = guard::guarded(client, async |client| {
        let rows = client
            .query(
                "SELECT name, status, value, threshold, detail, remedy, warning_level, critical_level
                 FROM palmdb.checks($1::jsonb, $2::text[])",
                &[&overrides, &only],
            )
            .await
            .map_err(|e| explain(e, &options.checks))?;
        let mut checks = Vec::with_capacity(rows.len());
        for row in rows {
            let status: String = row.get("status");
            checks.push(Check {
                name: row.get("name"),
                status: Verdict::parse(&status)
                    // SQL judges ok, warning or critical; unknown is not a check's verdict.
                    .filter(|v| *v != Verdict::Unknown)
                    .with_context(|| {
                    format!("palmdb.checks() returned the unknown status \"{status}\"")
                })?,
                value: row.get("value"),
                threshold: row.get("threshold"),
                detail: row.get("detail"),
                remedy: row.get("remedy"),
                warning_level: row.get("warning_level"),
                critical_level: row.get("critical_level"),
            });
        }
        Ok(checks)
    })
    .await?;
    Ok(HealthReport::new(checks))
}

/// A missing palmdb.checks() means palmdb's objects were never installed; an unknown check or a
/// bad threshold is the caller's input. Say what to do.
fn explain(err: tokio_postgres::Error, asked: &[String]) -> anyhow::Error {
    let Some(db) = err.as_db_error() else {
        return anyhow::Error::new(err).context("cannot run the health checks");
    };
    match db.code().code() {
        // No checks in the database to ask: a name this binary does not know either is the
        // first thing to fix.
        "3F000" | "42883" | "42704" if asked.iter().any(|n| !catalog::bundled().contains(n)) => {
            let unknown = asked
                .iter()
                .filter(|n| !catalog::bundled().contains(n))
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ");
            Failure::usage(format!("unknown check {unknown}"))
                .with_hint(format!("known checks: {}", catalog::bundled().join(", ")))
                .into()
        }
        "3F000" | "42883" | "42704" => Failure::operation(
            "this database has no palmdb health checks (palmdb.checks() does not exist)",
        )
        .with_hint(SETUP_HINT)
        .into(),
        "42501" => anyhow::Error::new(err).context(
            Failure::operation("not allowed to run the health checks")
                .with_hint("grant the role pg_monitor: GRANT pg_monitor TO <role>;"),
        ),
        // Raised by palmdb.checks() for an unknown check or threshold, or a bad value.
        "22023" => {
            let failure = Failure::usage(db.message().to_string());
            match db.hint() {
                Some(hint) => failure.with_hint(hint.to_string()),
                None => failure,
            }
            .into()
        }
        _ => anyhow::Error::new(err).context("cannot run the health checks"),
    }
}
