//! Pool health from PgBouncer's admin console (`--pgbouncer-url postgres://…/pgbouncer`):
//! `SHOW POOLS` and `SHOW DATABASES`, judged as check_postgres's `pgb_pool_cl_waiting`,
//! `pgb_pool_maxwait` and `pgb_pool_sv_active` actions judge them, with thresholds.
//!
//! Three checks, each over the pools (one per database and user) of the database palmdb
//! checks (PgBouncer's database name: the name in the URL given to the pooler), judged on the
//! worst pool:
//! - `pgbouncer_clients_waiting`: clients queued for a server connection (`cl_waiting`);
//! - `pgbouncer_max_wait`: how long the oldest of them has waited (`maxwait`, seconds);
//! - `pgbouncer_server_usage`: server connections in use (`sv_active`) over the pool size.
//!
//! They are computed here, not in SQL: the console is PgBouncer's, not PostgreSQL's, and it
//! speaks only the simple query protocol. Their thresholds are named like the SQL checks'
//! (`pgbouncer_max_wait_warning=2s`) and given with the same `--threshold`.

use anyhow::{Context, Result};
use tokio_postgres::{Client, SimpleQueryMessage, SimpleQueryRow};

use super::report::{format_value, Check};
use super::thresholds::{Threshold, Value};
use crate::connect::ConnectSettings;
use crate::error::Failure;
use crate::ui::Verdict;

/// The checks' names, for `--check`.
pub const CHECKS: [&str; 3] = [
    "pgbouncer_clients_waiting",
    "pgbouncer_max_wait",
    "pgbouncer_server_usage",
];

/// Names start so, which tells them from the SQL checks and thresholds.
pub const PREFIX: &str = "pgbouncer_";

/// Warning and critical levels of the three checks.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolThresholds {
    pub clients_waiting: (f64, f64),
    /// Seconds.
    pub max_wait: (f64, f64),
    /// Share of the pool size, 0 to 1.
    pub server_usage: (f64, f64),
}

impl Default for PoolThresholds {
    /// A client waiting at the moment of a check is worth a look; ten are an outage in the
    /// making. A second of waiting is felt by users, five are a timeout; a pool 80% busy has
    /// little room left, one fully busy makes the next client wait.
    fn default() -> Self {
        PoolThresholds {
            clients_waiting: (1.0, 10.0),
            max_wait: (1.0, 5.0),
            server_usage: (0.8, 1.0),
        }
    }
}

impl PoolThresholds {
    /// The defaults with the `pgbouncer_*` overrides of `--threshold` applied.
    pub fn with_overrides(overrides: &[Threshold]) -> Result<PoolThresholds> {
        let mut t = PoolThresholds::default();
        for o in overrides {
            let number = match o.value {
                Value::Number(n) => n,
                Value::Duration(d) if o.name.starts_with("pgbouncer_max_wait_") => d.as_secs_f64(),
                Value::Duration(_) | Value::Bytes(_) => {
                    return Err(Failure::usage(format!(
                        "threshold {} takes a number, not {}",
                        o.name, o
                    ))
                    .into())
                }
            };
            let slot =
                match o.name.as_str() {
                    "pgbouncer_clients_waiting_warning" => &mut t.clients_waiting.0,
                    "pgbouncer_clients_waiting_critical" => &mut t.clients_waiting.1,
                    "pgbouncer_max_wait_warning" => &mut t.max_wait.0,
                    "pgbouncer_max_wait_critical" => &mut t.max_wait.1,
                    "pgbouncer_server_usage_warning" => &mut t.server_usage.0,
                    "pgbouncer_server_usage_critical" => &mut t.server_usage.1,
                    other => return Err(Failure::usage(format!("unknown threshold \"{other}\""))
                        .with_hint(
                            "PgBouncer thresholds: pgbouncer_clients_waiting_{warning,critical}, \
                             pgbouncer_max_wait_{warning,critical}, \
                             pgbouncer_server_usage_{warning,critical}",
                        )
                        .into()),
                };
            *slot = number;
        }
        Ok(t)
    }
}

/// One line of `SHOW POOLS`, with its database's pool size from `SHOW DATABASES`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub database: String,
    pub user: String,
    pub cl_active: i64,
    pub cl_waiting: i64,
    pub sv_active: i64,
    pub sv_idle: i64,
    pub max_wait_seconds: f64,
    pub pool_size: i64,
    pub pool_mode: String,
}

/// Reads the pools of `database` from the console at `console` and judges them.
pub async fn checks(
    console: &ConnectSettings,
    database: &str,
    thresholds: &PoolThresholds,
    only: &[String],
) -> Result<Vec<Check>> {
    let client = console
        .with_application_name("palmdb health")
        .connect()
        .await
        .context("cannot read PgBouncer's pools (--pgbouncer-url)")?;
    let pools = read_pools(&client, database).await?;
    Ok(judge(&pools, database, thresholds)
        .into_iter()
        .filter(|c| only.is_empty() || only.contains(&c.name))
        .collect())
}

async fn read_pools(client: &Client, database: &str) -> Result<Vec<Pool>> {
    let explain = |e: tokio_postgres::Error| {
        let reason = crate::error::describe_pg_error(&e);
        anyhow::Error::new(
            Failure::operation(format!("cannot read PgBouncer's admin console: {reason}"))
                .with_hint(
                    "--pgbouncer-url must name the database pgbouncer, as a user in PgBouncer's \
                     admin_users or stats_users",
                ),
        )
    };
    let sizes: Vec<(String, i64)> = rows(
        client
            .simple_query("SHOW DATABASES")
            .await
            .map_err(explain)?,
    )
    .iter()
    .map(|r| (text(r, "name"), number(r, "pool_size")))
    .collect();
    let pools = rows(client.simple_query("SHOW POOLS").await.map_err(explain)?)
        .iter()
        .filter(|r| text(r, "database") == database)
        .map(|r| {
            let db = text(r, "database");
            Pool {
                pool_size: sizes
                    .iter()
                    .find(|(name, _)| *name == db)
                    .map(|(_, size)| *size)
                    .unwrap_or(0),
                database: db,
                user: text(r, "user"),
                cl_active: number(r, "cl_active"),
                cl_waiting: number(r, "cl_waiting"),
                sv_active: number(r, "sv_active"),
                sv_idle: number(r, "sv_idle"),
                max_wait_seconds: number(r, "maxwait") as f64
                    + number(r, "maxwait_us") as f64 / 1_000_000.0,
                pool_mode: text(r, "pool_mode"),
            }
        })
        .collect();
    Ok(pools)
}

fn rows(messages: Vec<SimpleQueryMessage>) -> Vec<SimpleQueryRow> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .collect()
}

fn text(row: &SimpleQueryRow, column: &str) -> String {
    row.try_get(column)
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string()
}

/// A column PgBouncer's version may lack counts as 0.
fn number(row: &SimpleQueryRow, column: &str) -> i64 {
    row.try_get(column)
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The three checks over `pools`, each on the worst pool.
pub fn judge(pools: &[Pool], database: &str, t: &PoolThresholds) -> Vec<Check> {
    let name_of = |p: &Pool| format!("{}/{} ({} pooling)", p.database, p.user, p.pool_mode);
    let worst = |key: &dyn Fn(&Pool) -> f64| {
        pools
            .iter()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .map(|p| (key(p), p))
    };
    let none = format!("PgBouncer has no pool for database {database} (no client since it started or since the pool idled out)");

    let waiting = worst(&|p| p.cl_waiting as f64);
    let clients = match waiting {
        Some((n, p)) => format!(
            "{n} client(s) waiting for a server in {}; {} active",
            name_of(p),
            p.cl_active
        ),
        None => none.clone(),
    };
    let wait = worst(&|p| p.max_wait_seconds);
    let wait_detail = match wait {
        Some((s, p)) if s > 0.0 => format!(
            "the oldest waiting client of {} has waited {}s",
            name_of(p),
            format_value(Some(s))
        ),
        Some(_) => "no client is waiting".to_string(),
        None => none.clone(),
    };
    let usage = worst(&|p| {
        if p.pool_size > 0 {
            p.sv_active as f64 / p.pool_size as f64
        } else {
            0.0
        }
    });
    let usage_detail = match usage {
        Some((_, p)) => format!(
            "{} of {} server connections in use in {} ({} idle)",
            p.sv_active,
            p.pool_size,
            name_of(p),
            p.sv_idle
        ),
        None => none,
    };
    vec![
        check(
            "pgbouncer_clients_waiting",
            waiting.map_or(0.0, |(v, _)| v),
            t.clients_waiting,
            format!(
                "warning >= {}, critical >= {} clients waiting",
                t.clients_waiting.0, t.clients_waiting.1
            ),
            clients,
            "SHOW POOLS; -- then raise default_pool_size or find the long transactions: SHOW SERVERS;",
        ),
        check(
            "pgbouncer_max_wait",
            wait.map_or(0.0, |(v, _)| v),
            t.max_wait,
            format!(
                "warning >= {}s, critical >= {}s",
                format_value(Some(t.max_wait.0)),
                format_value(Some(t.max_wait.1))
            ),
            wait_detail,
            "SHOW POOLS; SHOW SERVERS; -- a full pool: long transactions, or too small a pool_size",
        ),
        check(
            "pgbouncer_server_usage",
            usage.map_or(0.0, |(v, _)| v),
            t.server_usage,
            format!(
                "warning >= {}, critical >= {} of the pool size",
                t.server_usage.0, t.server_usage.1
            ),
            usage_detail,
            "SHOW POOLS; SHOW DATABASES; -- raise pool_size, or shorten transactions",
        ),
    ]
}

fn check(
    name: &str,
    value: f64,
    (warning, critical): (f64, f64),
    threshold: String,
    detail: String,
    remedy: &str,
) -> Check {
    let status = if value >= critical {
        Verdict::Critical
    } else if value >= warning {
        Verdict::Warning
    } else {
        Verdict::Ok
    };
    Check {
        name: name.to_string(),
        status,
        value: Some(value),
        threshold,
        detail,
        remedy: (status != Verdict::Ok).then(|| remedy.to_string()),
        warning_level: Some(warning),
        critical_level: Some(critical),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(waiting: i64, wait: f64, active: i64, size: i64) -> Pool {
        Pool {
            database: "palm".into(),
            user: "app".into(),
            cl_active: 3,
            cl_waiting: waiting,
            sv_active: active,
            sv_idle: 0,
            max_wait_seconds: wait,
            pool_size: size,
            pool_mode: "transaction".into(),
        }
    }

    #[test]
    fn the_worst_pool_decides_each_check() {
        let checks = judge(
            &[pool(0, 0.0, 1, 20), pool(3, 2.5, 20, 20)],
            "palm",
            &PoolThresholds::default(),
        );
        let status: Vec<(&str, Verdict, Option<f64>)> = checks
            .iter()
            .map(|c| (c.name.as_str(), c.status, c.value))
            .collect();
        assert_eq!(
            status,
            [
                ("pgbouncer_clients_waiting", Verdict::Warning, Some(3.0)),
                ("pgbouncer_max_wait", Verdict::Warning, Some(2.5)),
                ("pgbouncer_server_usage", Verdict::Critical, Some(1.0)),
            ]
        );
        assert!(checks[2]
            .detail
            .contains("20 of 20 server connections in use in palm/app"));
        assert!(checks[0].remedy.is_some());
    }

    #[test]
    fn no_pool_is_ok_and_says_so() {
        let checks = judge(&[], "palm", &PoolThresholds::default());
        assert!(checks
            .iter()
            .all(|c| c.status == Verdict::Ok && c.value == Some(0.0)));
        assert!(checks[0].detail.contains("no pool for database palm"));
    }

    #[test]
    fn overrides_replace_the_defaults_and_unknown_names_are_refused() {
        let parse = |t: &str| Threshold::parse(t).unwrap();
        let t = PoolThresholds::with_overrides(&[
            parse("pgbouncer_max_wait_warning=500ms"),
            parse("pgbouncer_clients_waiting_critical=3"),
        ])
        .unwrap();
        assert_eq!(t.max_wait, (0.5, 5.0));
        assert_eq!(t.clients_waiting, (1.0, 3.0));
        assert!(PoolThresholds::with_overrides(&[parse("pgbouncer_nope=1")]).is_err());
    }
}
