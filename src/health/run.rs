//! `palmdb health` from the command line: PgBouncer's checks (judged here) beside the SQL
//! ones, an optional snapshot recorded first, and the report in the format asked for.

use anyhow::Result;

use super::{pgbouncer, record, HealthOptions, HealthReport};
use crate::cli::HealthFormat;
use crate::connect::{self, ConnectSettings};
use crate::error::{ExitCode, Failure};
use crate::ui::{emit, Format, Report};

/// What `palmdb health` was asked.
#[derive(Debug, Clone)]
pub struct HealthRun {
    /// None: a table on a terminal, JSON otherwise.
    pub format: Option<HealthFormat>,
    /// Check names (SQL ones and `pgbouncer_*`); empty means all SQL checks.
    pub checks: Vec<String>,
    pub thresholds: Vec<super::thresholds::Threshold>,
    /// PgBouncer's admin console, for the `pgbouncer_*` checks.
    pub pgbouncer_url: Option<String>,
    /// Record a snapshot in `palmdb.health_snapshots` first, keeping this many.
    pub record: bool,
    pub keep: std::time::Duration,
}

pub async fn run(settings: &ConnectSettings, options: HealthRun) -> Result<ExitCode> {
    let client = settings
        .with_application_name("palmdb health")
        .connect()
        .await?;
    let format = options.format.unwrap_or_else(|| {
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            HealthFormat::Table
        } else {
            HealthFormat::Json
        }
    });
    if options.record {
        let recorded = record::record_snapshot(&client, options.keep).await?;
        if format == HealthFormat::Table {
            println!("recorded a snapshot of {recorded} table(s) in palmdb.health_snapshots\n");
        }
    }
    // PgBouncer's checks and thresholds are judged here, the others by SQL.
    let pool = pgbouncer::PREFIX;
    let (pool_checks, checks): (Vec<String>, Vec<String>) = options
        .checks
        .into_iter()
        .partition(|c| c.starts_with(pool));
    let (pool_thresholds, thresholds): (Vec<_>, Vec<_>) = options
        .thresholds
        .into_iter()
        .partition(|t| t.name.starts_with(pool));
    let console = match options.pgbouncer_url.as_deref() {
        Some(url) => Some(connect::settings(Some(url))?),
        None if !pool_checks.is_empty() || !pool_thresholds.is_empty() => {
            return Err(Failure::usage(
                "the pgbouncer_* checks and thresholds need --pgbouncer-url",
            )
            .with_hint(
                "--pgbouncer-url postgres://USER@HOST:6432/pgbouncer (PgBouncer's admin console)",
            )
            .into())
        }
        None => None,
    };
    let pool_thresholds = pgbouncer::PoolThresholds::with_overrides(&pool_thresholds)?;
    if let Some(unknown) = pool_checks
        .iter()
        .find(|c| !pgbouncer::CHECKS.contains(&c.as_str()))
    {
        return Err(Failure::usage(format!("unknown check \"{unknown}\""))
            .with_hint(format!(
                "PgBouncer checks: {}",
                pgbouncer::CHECKS.join(", ")
            ))
            .into());
    }
    let only_pool = !pool_checks.is_empty() && checks.is_empty();
    let sql_options = HealthOptions { checks, thresholds };
    let mut report = if only_pool {
        HealthReport::new(Vec::new())
    } else {
        super::collect(&client, &sql_options).await?
    };
    if let Some(console) = &console {
        let mut pool =
            pgbouncer::checks(console, settings.database(), &pool_thresholds, &pool_checks).await?;
        let mut all = std::mem::take(&mut report.checks);
        all.append(&mut pool);
        report = HealthReport::new(all);
    }
    match format {
        HealthFormat::Table => emit(&report, Format::Text),
        HealthFormat::Json => emit(&report, Format::Json),
        HealthFormat::Nagios => {
            println!("{}", super::nagios::render(&report));
            Ok(report.exit_code())
        }
        HealthFormat::Prometheus => {
            print!("{}", report.to_prometheus());
            Ok(report.exit_code())
        }
    }
}

impl Report for HealthReport {
    /// The table and what to do.
    fn render_text(&self) -> String {
        super::table::render(self)
    }

    fn exit_code(&self) -> ExitCode {
        self.status.exit_code()
    }
}
