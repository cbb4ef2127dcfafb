//! The health checks palmdb knows. Each is a `palmdb.check_<name>()` function in its own file
//! of `sql/health/`, commented with what it watches; `palmdb.health_checks` lists them, and
//! `palmdb.checks()` runs them in the order they are reported. Nothing here lists them again:
//! a new check is one SQL file (plus its test and its section in docs/health-checks.md).

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

use crate::migrate::source::Source;

/// One check: its stable name (what `--check` accepts and JSON, Nagios and Prometheus output
/// carry) and what it watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    pub name: String,
    pub watches: String,
}

/// Every check of the database's palmdb schema, by name.
pub async fn list(client: &Client) -> Result<Vec<CheckInfo>> {
    let rows = client
        .query(
            "SELECT name, coalesce(watches, '') FROM palmdb.health_checks ORDER BY name",
            &[],
        )
        .await
        .with_context(|| {
            format!(
                "cannot list the health checks ({})",
                crate::migrate::profile::SETUP_HINT
            )
        })?;
    Ok(rows
        .into_iter()
        .map(|r| CheckInfo {
            name: r.get(0),
            watches: r.get(1),
        })
        .collect())
}

/// The checks this binary's own `sql/health/` files define (the files `palmdb migrate`
/// applies), for a database that has none yet: an unknown `--check` is still called unknown.
pub fn bundled() -> Vec<String> {
    const MARK: &str = "CREATE OR REPLACE FUNCTION palmdb.check_";
    let mut names: Vec<String> = Source::default()
        .objects()
        .unwrap_or_default()
        .iter()
        .filter(|o| o.path.starts_with("health/"))
        .flat_map(|o| {
            o.sql
                .lines()
                .filter_map(|l| l.strip_prefix(MARK)?.split('(').next().map(String::from))
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_checks_are_read_from_the_sql_files() {
        let names = bundled();
        assert!(names.contains(&"connections".to_string()), "{names:?}");
        assert!(
            names.contains(&"cache_hit_indexes".to_string()),
            "{names:?}"
        );
        assert!(!names.iter().any(|n| n.contains(' ')), "{names:?}");
    }
}
