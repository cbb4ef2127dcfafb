//! What an INVALID index is, and what to do about it, has one definition: the view
//! `palmdb.invalid_indexes` in `sql/health/09_invalid_indexes.sql`. The invalid_indexes check
//! reads the view; `palmdb migrate` (which must work on a database where palmdb's views do
//! not exist yet, or with another `--sql-dir`) runs the view's own query, taken from the same
//! file compiled into the binary.

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

const VIEW_FILE: &str = include_str!("../../sql/health/09_invalid_indexes.sql");
const VIEW_HEADER: &str = "CREATE OR REPLACE VIEW palmdb.invalid_indexes AS\n";

/// The SELECT that defines `palmdb.invalid_indexes`: from the view's header to the first line
/// that ends with a semicolon (the file's comment asks to keep it so).
pub fn defining_query() -> &'static str {
    let start = VIEW_FILE
        .find(VIEW_HEADER)
        .expect("09_invalid_indexes.sql defines palmdb.invalid_indexes")
        + VIEW_HEADER.len();
    let body = &VIEW_FILE[start..];
    let end = body
        .find(";\n")
        .expect("the view's query ends with a semicolon at the end of a line");
    &body[..end]
}

/// What is wrong with an INVALID index (the view's `problem` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// A concurrent build or reindex is running on its table: leave it alone.
    BeingBuilt,
    /// A `_ccnew`/`_ccold` copy left by a failed REINDEX CONCURRENTLY: drop it.
    Leftover,
    /// A failed CREATE INDEX CONCURRENTLY (or anything else): rebuild it.
    FailedBuild,
}

impl Problem {
    fn parse(text: &str) -> Problem {
        match text {
            "being built" => Problem::BeingBuilt,
            "leftover" => Problem::Leftover,
            _ => Problem::FailedBuild,
        }
    }
}

/// One row of the definition.
#[derive(Debug, Clone)]
pub struct InvalidIndex {
    pub schema: String,
    pub table: String,
    pub index: String,
    pub problem: Problem,
    /// The statement that repairs it (without the trailing semicolon), or for a build in
    /// progress, a comment saying which session to wait for.
    pub remedy: String,
}

/// Every INVALID index of the database, by the one definition; `index` narrows it to the
/// index of that name (as `to_regclass` resolves it).
pub async fn list(client: &Client, index: Option<&str>) -> Result<Vec<InvalidIndex>> {
    let sql = format!(
        "SELECT schema_name::text, table_name::text, index_name::text, problem, remedy
         FROM ({}) AS invalid_indexes
         WHERE $1::text IS NULL OR index_oid = to_regclass($1::text)
         ORDER BY schema_name, table_name, index_name",
        defining_query()
    );
    let rows = client.query(&sql, &[&index]).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let remedy: String = r.get(4);
            InvalidIndex {
                schema: r.get(0),
                table: r.get(1),
                index: r.get(2),
                problem: Problem::parse(r.get(3)),
                remedy: remedy.trim_end_matches(';').to_string(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_the_views_select_and_nothing_after_it() {
        let query = defining_query();
        assert!(query.starts_with("SELECT\n"), "{query}");
        assert!(query.contains("FROM pg_index AS i"), "{query}");
        assert!(query.contains("AS problem"), "{query}");
        assert!(query
            .trim_end()
            .ends_with("ORDER BY schema_name, table_name, index_name"));
        assert!(!query.contains("COMMENT ON"), "{query}");
    }
}
