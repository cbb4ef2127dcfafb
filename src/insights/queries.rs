//! `palmdb queries`: the current database's most expensive statements, one call to
//! `palmdb.top_queries(order_by, max_rows)`.

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use super::prerequisites;
use crate::ui::table::{Align, Table};

/// What to rank statements by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OrderBy {
    /// Total execution time over all calls: where the database's time goes.
    Total,
    /// Mean execution time per call: what users wait for.
    Mean,
    /// Number of calls.
    Calls,
}

impl OrderBy {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderBy::Total => "total",
            OrderBy::Mean => "mean",
            OrderBy::Calls => "calls",
        }
    }
}

/// One row of `palmdb.top_queries`; the JSON keys are the function's column names.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub query_id: i64,
    pub calls: i64,
    pub total_time_ms: f64,
    pub mean_time_ms: f64,
    pub rows: i64,
    /// Share of the shared blocks it read that were already in PostgreSQL's cache; null
    /// when it read none.
    pub cache_hit_ratio: Option<f64>,
    /// Its share of the execution time of all the database's statements.
    pub share_of_total: Option<f64>,
    pub query: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopQueries {
    pub by: OrderBy,
    pub statements: Vec<Statement>,
}

/// `palmdb queries`: the top statements, read in one transaction (so it works through a
/// pooler in transaction mode, as stats does).
pub async fn run(
    settings: &crate::connect::ConnectSettings,
    by: OrderBy,
    limit: i32,
    format: crate::ui::Format,
) -> Result<crate::error::ExitCode> {
    let client = settings
        .with_application_name("palmdb queries")
        .connect()
        .await?;
    client.batch_execute("BEGIN READ ONLY").await?;
    let top = top_queries(&client, by, limit).await?;
    client.batch_execute("COMMIT").await?;
    crate::ui::emit(&top, format)
}

/// The `limit` most expensive statements by `by`. Without pg_stat_statements this is one
/// error saying what to install (see [`prerequisites`]).
pub async fn top_queries(client: &Client, by: OrderBy, limit: i32) -> Result<TopQueries> {
    prerequisites::require_pg_stat_statements(client).await?;
    let rows = client
        .query(
            "SELECT q.query_id, q.calls, q.total_time_ms::float8 AS total_time_ms,
                    q.mean_time_ms::float8 AS mean_time_ms, q.rows,
                    q.cache_hit_ratio::float8 AS cache_hit_ratio,
                    q.share_of_total::float8 AS share_of_total, q.query
             FROM palmdb.top_queries($1, $2) AS q",
            &[&by.as_str(), &limit],
        )
        .await
        .map_err(prerequisites::explain_sql_error)?;
    let statements = rows
        .iter()
        .map(|r| {
            Ok(Statement {
                query_id: r.try_get("query_id")?,
                calls: r.try_get("calls")?,
                total_time_ms: r.try_get("total_time_ms")?,
                mean_time_ms: r.try_get("mean_time_ms")?,
                rows: r.try_get("rows")?,
                cache_hit_ratio: r.try_get("cache_hit_ratio")?,
                share_of_total: r.try_get("share_of_total")?,
                query: r.try_get("query")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TopQueries { by, statements })
}

impl crate::ui::Report for TopQueries {
    fn render_text(&self) -> String {
        if self.statements.is_empty() {
            return "no statements recorded for this database yet\n".to_string();
        }
        let mut table = Table::new(&[
            ("total ms", Align::Right),
            ("mean ms", Align::Right),
            ("calls", Align::Right),
            ("rows", Align::Right),
            ("cache hit", Align::Right),
            ("share", Align::Right),
            ("query", Align::Left),
        ]);
        for s in &self.statements {
            table.push(vec![
                format!("{:.1}", s.total_time_ms),
                format!("{:.3}", s.mean_time_ms),
                s.calls.to_string(),
                s.rows.to_string(),
                percent(s.cache_hit_ratio),
                percent(s.share_of_total),
                one_line(&s.query, 100),
            ]);
        }
        let by = match self.by {
            OrderBy::Total => "total time",
            OrderBy::Mean => "mean time",
            OrderBy::Calls => "calls",
        };
        format!(
            "top {} statements by {by} (pg_stat_statements, this database)\n{}",
            self.statements.len(),
            table.render()
        )
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// A statement on one line, its whitespace collapsed, cut at `max` characters.
pub fn one_line(query: &str, max: usize) -> String {
    let collapsed = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() <= max {
        collapsed
    } else {
        let cut: String = collapsed.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_shown_on_one_line_and_cut() {
        assert_eq!(
            one_line("SELECT *\n  FROM t\tWHERE a = $1", 100),
            "SELECT * FROM t WHERE a = $1"
        );
        assert_eq!(one_line("SELECT 1234567890", 8), "SELECT …");
    }
}
