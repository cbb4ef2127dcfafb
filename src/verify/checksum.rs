//! A content checksum of a table computed in SQL, on both sides of a restore test:
//!
//! - restored: the table's rows in the scratch database;
//! - backup: the file's JSON lines loaded as text into a temporary table, each decoded in SQL
//!   (`(line::json ->> 'column')::type`) — independently of the client-side codec the restore
//!   used, so a codec bug shows up as a mismatch.
//!
//! Each row is rendered as a record's text (`ROW(...)::text`), hashed (md5, first 64 bits),
//! and the hashes summed: order does not matter, any changed value changes the sum.

use anyhow::{anyhow, Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

use crate::archive::backup_files::BackupFiles;
use crate::archive::TableEntry;

use crate::restore::copy_in::{self, RowCounter};
use crate::sql_quote::{quote_ident, quote_literal};

/// Row count and checksum of one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Content {
    pub rows: i64,
    pub checksum: String,
}

/// Order-independent checksum of the rows `source` yields, one `ROW(...)` per row.
fn checksum_sql(row_expression: &str, from: &str) -> String {
    format!(
        "SELECT count(*) AS row_count,
                coalesce(sum(('x' || left(md5(({row_expression})::text), 16))::bit(64)::bigint::numeric), 0)::text
                    AS checksum
         FROM {from}"
    )
}

fn row_columns(entry: &TableEntry) -> Vec<(String, String)> {
    entry
        .row_columns()
        .map(|c| (c.name.clone(), c.type_name.clone()))
        .collect()
}

/// The restored table's content.
pub async fn restored(client: &Client, entry: &TableEntry) -> Result<Content> {
    let columns: Vec<String> = row_columns(entry)
        .iter()
        .map(|(name, _)| format!("t.{}", quote_ident(name)))
        .collect();
    // ONLY: an inheritance parent's own rows, as the backup holds them (its children are
    // tables of their own in the backup).
    let from = format!(
        "ONLY {}.{} AS t",
        quote_ident(&entry.schema),
        quote_ident(&entry.name)
    );
    let row = client
        .query_one(
            &checksum_sql(&format!("ROW({})", columns.join(", ")), &from),
            &[],
        )
        .await
        .with_context(|| format!("cannot checksum the restored {}", entry.qualified_name()))?;
    Ok(Content {
        rows: row.get("row_count"),
        checksum: row.get("checksum"),
    })
}

/// The backup file's content, decoded in SQL.
pub async fn backup(
    client: &mut Client,
    files: &BackupFiles,
    entry: &TableEntry,
) -> Result<Content> {
    let transaction = client.transaction().await?;
    transaction
        .batch_execute("CREATE TEMPORARY TABLE palmdb_backup_lines (line text) ON COMMIT DROP")
        .await?;
    let files = files.clone();
    let file = entry.file.clone();
    // CSV with control characters as quote and delimiter: the lines go in untouched (JSON
    // escapes every control character, so neither can occur in a line).
    copy_in::load(
        &transaction,
        "COPY palmdb_backup_lines (line) FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')",
        &RowCounter::default(),
        &mut |_, _| {},
        move |writer: &mut copy_in::RowWriter| {
            let mut reader = files.lines(&file)?;
            // Streamed: a line of any length goes to the server in chunks.
            while let Some(length) = reader.stream_line(|piece| {
                writer.buffer().extend_from_slice(piece);
                writer.flush_if_full()
            })? {
                if length == 0 {
                    return Err(anyhow!("line {} is empty", reader.lines_read()));
                }
                writer.buffer().push(b'\n');
                writer.row_done()?;
            }
            Ok(())
        },
    )
    .await
    .with_context(|| format!("cannot load the lines of {}", entry.file))?;

    let columns: Vec<String> = row_columns(entry)
        .iter()
        .map(|(name, type_name)| format!("(l.j ->> {})::{type_name}", quote_literal(name)))
        .collect();
    let row = transaction
        .query_one(
            &checksum_sql(
                &format!("ROW({})", columns.join(", ")),
                "(SELECT line::json AS j FROM palmdb_backup_lines) AS l",
            ),
            &[],
        )
        .await
        .with_context(|| format!("cannot decode and checksum {} in SQL", entry.file))?;
    let content = Content {
        rows: row.get("row_count"),
        checksum: row.get("checksum"),
    };
    transaction.commit().await?;
    Ok(content)
}
