//! Migrations marked `-- palmdb:no-transaction`: `CREATE INDEX CONCURRENTLY`,
//! `DROP INDEX CONCURRENTLY`, `REINDEX CONCURRENTLY` and anything else that refuses to run in
//! a transaction block. Each statement is sent as its own query, then the file is recorded in
//! refinery's history.
//!
//! A concurrent build that fails leaves an INVALID index behind, and `IF NOT EXISTS` would
//! then "succeed" without rebuilding it. So before each build an INVALID index of the same
//! name is dropped, after each build validity is checked, and every `migrate` repairs any
//! INVALID index it finds. What counts as INVALID, and how each is repaired, is the one
//! definition of `palmdb.invalid_indexes` ([`crate::health::invalid_indexes`]): builds still
//! running in another session are left alone, REINDEX CONCURRENTLY leftovers dropped, failed
//! builds rebuilt — as the invalid_indexes health check advises.

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use super::history::{self, Timeouts};
use super::source::VersionedFile;
use super::statements::{self, without_leading_comments};
use crate::error::Failure;
use crate::health::invalid_indexes::{self as definition, Problem};

/// Runs a no-transaction migration statement by statement and records it.
/// Returns notes on what was repaired along the way.
pub async fn run_file(
    client: &Client,
    file: &VersionedFile,
    timeouts: Timeouts,
    server_major: u32,
) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    client.batch_execute(&timeouts.set_sql(false)).await?;
    let outcome = run_statements(client, file, server_major, &mut notes).await;
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
    server_major: u32,
    notes: &mut Vec<String>,
) -> Result<()> {
    for statement in statements::split(&super::compat::adapt(&file.sql, server_major)) {
        let built_index = concurrently_created_index(&statement.text);
        if let Some(index) = &built_index {
            if let Some(invalid) = definition::list(client, Some(index)).await?.pop() {
                if invalid.problem == Problem::BeingBuilt {
                    return Err(Failure::operation(format!(
                        "migration {}: index {index} is being built by another session ({})",
                        file.file_name,
                        invalid.remedy.trim_start_matches("-- ")
                    ))
                    .with_hint("wait for that build to finish, then run palmdb migrate again")
                    .into());
                }
                // The migration builds it again: drop what the failed build left.
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
            if !definition::list(client, Some(index)).await?.is_empty() {
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

/// An index whose concurrent build or reindex failed.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidIndex {
    pub schema: String,
    pub table: String,
    pub index: String,
    /// The statement that repairs it.
    pub repair: String,
}

/// INVALID indexes that need repair, by the one definition; builds still running in
/// another session are not listed (they are INVALID until they finish).
pub async fn invalid_indexes(client: &Client) -> Result<Vec<InvalidIndex>> {
    Ok(definition::list(client, None)
        .await?
        .into_iter()
        .filter(|i| i.problem != Problem::BeingBuilt)
        .map(|i| InvalidIndex {
            schema: i.schema,
            table: i.table,
            index: i.index,
            repair: i.remedy,
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
