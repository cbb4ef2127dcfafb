//! Migrations marked `-- palmdb:no-transaction`: `CREATE INDEX CONCURRENTLY`,
//! `DROP INDEX CONCURRENTLY`, `REINDEX CONCURRENTLY` and anything else that refuses to run in
//! a transaction block. Each statement is sent as its own query, then the file is recorded in
//! refinery's history.
//!
//! A concurrent build that fails leaves an INVALID index behind, and `IF NOT EXISTS` would
//! then "succeed" without rebuilding it. So before each build an INVALID index of the same
//! name is dropped, after each build validity is checked, and every `migrate` rebuilds any
//! INVALID index it finds.

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use super::history::{self, Timeouts};
use super::source::VersionedFile;
use super::statements::{self, without_leading_comments};
use crate::error::Failure;

/// Runs a no-transaction migration statement by statement and records it.
/// Returns notes on what was repaired along the way.
pub async fn run_file(
    client: &Client,
    file: &VersionedFile,
    timeouts: Timeouts,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    client.batch_execute(&timeouts.set_sql(false)).await?;
    let outcome = run_statements(client, file, &mut notes).await;
    client
        .batch_execute("RESET lock_timeout; RESET statement_timeout")
        .await?;
    outcome?;
    history::record(client, file).await?;
    Ok(notes)
}

async fn run_statements(
    client: &Client,
    file: &VersionedFile,
    notes: &mut Vec<String>,
) -> Result<()> {
    for statement in statements::split(&file.sql) {
        let built_index = concurrently_created_index(&statement.text);
        if let Some(index) = &built_index {
            if index_is_valid(client, index).await? == Some(false) {
                client
                    .batch_execute(&format!("DROP INDEX CONCURRENTLY {index}"))
                    .await?;
                notes.push(format!(
                    "dropped INVALID index {index} left by an earlier failed build"
                ));
            }
        }
        client
            .batch_execute(&statement.text)
            .await
            .map_err(|e| super::locate_error_in_statement(&e, &file.file_name, &statement))?;
        if let Some(index) = &built_index {
            if index_is_valid(client, index).await? == Some(false) {
                return Err(Failure::operation(format!(
                    "migration {}: index {index} was left INVALID by its concurrent build",
                    file.file_name
                ))
                .with_hint("run palmdb migrate again: it drops and rebuilds INVALID indexes")
                .into());
            }
        }
    }
    Ok(())
}

/// The index name of `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON ...`.
pub fn concurrently_created_index(statement: &str) -> Option<String> {
    let tokens = tokens(without_leading_comments(statement));
    let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
    let mut i = 0;
    let expect = |word: &str, i: &mut usize| {
        if upper.get(*i).map(String::as_str) == Some(word) {
            *i += 1;
            true
        } else {
            false
        }
    };
    if !expect("CREATE", &mut i) {
        return None;
    }
    expect("UNIQUE", &mut i);
    if !(expect("INDEX", &mut i) && expect("CONCURRENTLY", &mut i)) {
        return None;
    }
    if expect("IF", &mut i) && !(expect("NOT", &mut i) && expect("EXISTS", &mut i)) {
        return None;
    }
    let name = tokens.get(i)?;
    (!name.eq_ignore_ascii_case("ON")).then(|| name.clone())
}

/// Whitespace-separated tokens, keeping a double-quoted identifier with spaces whole.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open_quote = false;
    for word in text.split_whitespace() {
        if open_quote {
            let last = out.last_mut().expect("an open quote follows a token");
            last.push(' ');
            last.push_str(word);
        } else {
            out.push(word.to_string());
        }
        if word.matches('"').count() % 2 == 1 {
            open_quote = !open_quote;
        }
    }
    out
}

/// `Some(valid)` for an existing index, `None` when there is no index of that name.
async fn index_is_valid(client: &Client, index: &str) -> Result<Option<bool>> {
    let row = client
        .query_opt(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)",
            &[&index],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// An index whose concurrent build or reindex failed.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidIndex {
    pub schema: String,
    pub table: String,
    pub index: String,
    /// The statement that repairs it.
    pub repair: String,
}

/// INVALID indexes outside the system schemas, skipping any that a concurrent build in
/// another session is still creating (they are INVALID until it finishes).
pub async fn invalid_indexes(client: &Client) -> Result<Vec<InvalidIndex>> {
    let rows = client
        .query(
            "SELECT n.nspname, t.relname, c.relname, format('%I.%I', n.nspname, c.relname)
             FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE NOT i.indisvalid
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_toast%'
               AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                               WHERE p.index_relid = i.indexrelid)
             ORDER BY 1, 2, 3",
            &[],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let index: String = r.get(2);
            let qualified: String = r.get(3);
            // REINDEX CONCURRENTLY leaves *_ccnew / *_ccold copies when it fails; they are
            // duplicates of a valid index and are dropped, not rebuilt.
            let leftover = index.contains("_ccnew") || index.contains("_ccold");
            let repair = if leftover {
                format!("DROP INDEX CONCURRENTLY {qualified}")
            } else {
                format!("REINDEX INDEX CONCURRENTLY {qualified}")
            };
            InvalidIndex {
                schema: r.get(0),
                table: r.get(1),
                index,
                repair,
            }
        })
        .collect())
}

/// Repairs every INVALID index; returns one line per index repaired.
pub async fn repair_invalid_indexes(client: &Client, timeouts: Timeouts) -> Result<Vec<String>> {
    let broken = invalid_indexes(client).await?;
    if broken.is_empty() {
        return Ok(Vec::new());
    }
    client.batch_execute(&timeouts.set_sql(false)).await?;
    let mut done = Vec::new();
    let mut outcome = Ok(());
    for index in &broken {
        if let Err(e) = client.batch_execute(&index.repair).await {
            outcome = Err(anyhow::Error::new(e).context(format!(
                "cannot repair INVALID index {}.{} with `{}`",
                index.schema, index.index, index.repair
            )));
            break;
        }
        done.push(format!(
            "repaired INVALID index {}.{}: {}",
            index.schema, index.index, index.repair
        ));
    }
    client
        .batch_execute("RESET lock_timeout; RESET statement_timeout")
        .await?;
    outcome.map(|_| done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_name_of_a_concurrent_index_build() {
        let cases = [
            ("CREATE INDEX CONCURRENTLY idx_a ON t (a)", Some("idx_a")),
            (
                "create unique index concurrently if not exists idx_b on t (b)",
                Some("idx_b"),
            ),
            (
                "-- why\nCREATE INDEX CONCURRENTLY \"Odd Name\" ON t (a)",
                Some("\"Odd Name\""),
            ),
            ("CREATE INDEX CONCURRENTLY ON t (a)", None),
            ("CREATE INDEX idx_c ON t (a)", None),
            ("REINDEX INDEX CONCURRENTLY idx_a", None),
        ];
        for (sql, expected) in cases {
            assert_eq!(
                concurrently_created_index(sql).as_deref(),
                expected,
                "{sql}"
            );
        }
    }
}
