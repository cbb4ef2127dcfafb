//! Runs `palmdb.checks()` with the chosen checks and thresholds and reads its rows. One query:
//! the checks are SQL so that psql sees exactly what the CLI sees.

use anyhow::{Context, Result};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::catalog;
use super::report::{Check, HealthReport, Status};
use super::thresholds::Threshold;
use crate::error::Failure;

/// Which checks to run and with which thresholds; the default runs all with the defaults.
#[derive(Debug, Clone, Default)]
pub struct HealthOptions {
    /// Check names to run; empty means all.
    pub checks: Vec<String>,
    /// Thresholds that replace the defaults of `palmdb.checks()`.
    pub thresholds: Vec<Threshold>,
}

/// Runs the checks on `client`'s database.
pub async fn collect(client: &Client, options: &HealthOptions) -> Result<HealthReport> {
    for name in &options.checks {
        if !catalog::is_known(name) {
            return Err(Failure::usage(format!("unknown check \"{name}\""))
                .with_hint(format!("known checks: {}", catalog::names()))
                .into());
        }
    }
    let (sql, params) = checks_query(options);
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = client.query(&sql, &refs).await.map_err(explain)?;
    let mut checks = Vec::with_capacity(rows.len());
    for row in rows {
        let status: String = row.get("status");
        checks.push(Check {
            name: row.get("name"),
            status: Status::parse(&status).with_context(|| {
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
    Ok(HealthReport::new(checks))
}

type Param = Box<dyn ToSql + Sync + Send>;

/// `SELECT ... FROM palmdb.checks(name => $1, ...)` with named arguments for what was chosen.
fn checks_query(options: &HealthOptions) -> (String, Vec<Param>) {
    let mut arguments = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    for threshold in &options.thresholds {
        params.push(threshold.value.to_param());
        arguments.push(format!(
            "{} => {}",
            threshold.name,
            threshold.value.sql_cast(params.len())
        ));
    }
    if !options.checks.is_empty() {
        params.push(Box::new(options.checks.clone()));
        arguments.push(format!("only_checks => ${}::text[]", params.len()));
    }
    let sql = format!(
        "SELECT name, status, value, threshold, detail, remedy, warning_level, critical_level
         FROM palmdb.checks({})",
        arguments.join(", ")
    );
    (sql, params)
}

/// A missing palmdb.checks() means the database was never migrated; say what to do.
fn explain(err: tokio_postgres::Error) -> anyhow::Error {
    let code = err.as_db_error().map(|db| db.code().code().to_string());
    match code.as_deref() {
        Some("3F000") | Some("42883") => Failure::operation(
            "this database has no palmdb health checks (palmdb.checks() does not exist)",
        )
        .with_hint("run palmdb migrate first")
        .into(),
        Some("42501") => anyhow::Error::new(err).context(
            Failure::operation("not allowed to run the health checks")
                .with_hint("grant the role pg_monitor: GRANT pg_monitor TO <role>;"),
        ),
        _ => anyhow::Error::new(err).context("cannot run the health checks"),
    }
}
