//! Streams one table into its file: `COPY ... TO STDOUT` in text format, read as it arrives,
//! turned into JSON lines, compressed and hashed on a blocking thread.
//!
//! Two stages in a bounded pipeline: the async side receives COPY data from the server and
//! hands batches of about 256 KB to a thread that encodes, compresses and writes them. The
//! channel holds at most a few batches, so memory stays constant whatever the table's size,
//! and the server's COPY, the protocol reading and the compression run on separate cores.

use anyhow::{Context, Result};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::Client;

use super::catalog::Table;
use super::mask::{self, MaskRules};
use crate::archive::encryption::Recipients;
use crate::archive::manifest::{MaskedColumn, TableEntry};
use crate::archive::repository::NewBackup;
use crate::archive::row_codec::{CodecError, RowEncoder};
use crate::archive::{Compression, TableWriter};
use crate::error::Failure;
use crate::sql_quote::quote_ident;
use crate::ui::progress::Bar;

/// Bytes of COPY data handed to the writer thread at once.
const BATCH_BYTES: usize = 256 * 1024;
/// Batches in flight between the two stages.
const BATCHES_IN_FLIGHT: usize = 4;
/// JSON bytes collected before they go to the compressor.
const OUTPUT_BYTES: usize = 256 * 1024;

/// What is read from a table: its COPY statement and which columns are masked.
pub struct CopyPlan {
    pub sql: String,
    pub masked_columns: Vec<MaskedColumn>,
}

/// The COPY statement for a table, with masking expressions when `rules` are given.
pub fn plan(table: &Table, rules: Option<&MaskRules>) -> Result<CopyPlan> {
    let mut select = Vec::new();
    let mut masked_columns = Vec::new();
    for column in table.row_columns() {
        let name = quote_ident(&column.entry.name);
        match rules.and_then(|r| r.rule_for(table, &column.entry.name)) {
            Some(rule) => {
                select.push(format!(
                    "{} AS {name}",
                    mask::expression(rule, table, column)?
                ));
                masked_columns.push(MaskedColumn {
                    column: column.entry.name.clone(),
                    rule: rule.to_string(),
                });
            }
            None => select.push(name),
        }
    }
    let sql = if masked_columns.is_empty() && !select.is_empty() {
        // The plain form is the fastest: no executor, no projection.
        format!("COPY {} ({}) TO STDOUT", table.quoted(), select.join(", "))
    } else {
        // ONLY: partitions and children are backed up as tables of their own.
        format!(
            "COPY (SELECT {} FROM ONLY {}) TO STDOUT",
            select.join(", "),
            table.quoted()
        )
    };
    Ok(CopyPlan {
        sql,
        masked_columns,
    })
}

/// Where table files go, and how they are written.
pub struct Destination<'a> {
    pub backup: &'a NewBackup,
    pub compression: Compression,
    /// Encrypt to these recipients (`--encrypt-to`).
    pub recipients: Option<&'a Recipients>,
}

/// Copies `table` into the file `file` of the backup, returning its manifest entry.
pub async fn copy_table(
    client: &Client,
    table: &Table,
    plan: &CopyPlan,
    destination: &Destination<'_>,
    file: String,
    bar: Bar,
) -> Result<TableEntry> {
    let sink = destination.backup.create_file(&file)?;
    let writer = TableWriter::new(
        sink,
        format!("{}/{file}", destination.backup.describe()),
        destination.compression,
        destination.recipients,
    )?;
    let encoder = RowEncoder::new(table.row_columns().map(|c| (c.entry.name.as_str(), c.kind)));
    let (sender, receiver) = mpsc::channel::<Bytes>(BATCHES_IN_FLIGHT);
    let write_bar = bar.clone();
    let qualified = table.qualified_name();
    let writing = tokio::task::spawn_blocking(move || {
        write_rows(receiver, encoder, writer, &write_bar, &qualified)
    });

    let reading = read_copy(client, &plan.sql, sender).await;
    // Always wait for the writer, so no thread touches the backup after this returns.
    let written = writing.await.context("the backup writer thread failed")?;
    reading.map_err(|e| read_failure(table, e))?;
    let (rows, digest) = written?;
    bar.finish();
    Ok(TableEntry {
        schema: table.schema.clone(),
        name: table.name.clone(),
        columns: table.columns.iter().map(|c| c.entry.clone()).collect(),
        rows,
        file,
        bytes: digest.bytes,
        sha256: digest.sha256,
        masked_columns: plan.masked_columns.clone(),
        partition_of: Vec::new(),
    })
}

/// Why a table could not be read, in the user's words; row-level security gets its own.
fn read_failure(table: &Table, err: anyhow::Error) -> anyhow::Error {
    let refused_by_policy = err
        .chain()
        .filter_map(|e| e.downcast_ref::<tokio_postgres::Error>())
        .filter_map(|e| e.as_db_error())
        .any(|db| db.code().code() == "42501" && db.message().contains("row-level security"));
    if refused_by_policy {
        return hidden_by_policy(&table.qualified_name());
    }
    err.context(format!("cannot read table {}", table.qualified_name()))
}

/// The error for tables (`names`, comma-separated) whose policies apply to the backup role.
pub fn hidden_by_policy(names: &str) -> anyhow::Error {
    Failure::operation(format!(
        "cannot back up table {names}: row-level security would hide some of the rows from \
         the backup role, and a backup must hold every row"
    ))
    .with_hint(
        "back up as a role policies do not apply to: the table's owner (unless the table \
         has FORCE ROW LEVEL SECURITY), a role with BYPASSRLS, or a superuser",
    )
    .into()
}

/// Receives COPY data and sends it on in batches. Returns early (Ok) if the writer stopped:
/// its error is the one to report.
async fn read_copy(client: &Client, sql: &str, sender: mpsc::Sender<Bytes>) -> Result<()> {
    let stream = client.copy_out(sql).await?;
    futures_util::pin_mut!(stream);
    let mut batch = BytesMut::with_capacity(BATCH_BYTES + 64 * 1024);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        // A big row goes on as it is, without a copy: the backup then holds the largest row
        // about once, not once per stage.
        if chunk.len() >= BATCH_BYTES {
            if !batch.is_empty() && sender.send(batch.split().freeze()).await.is_err() {
                return Ok(());
            }
            if sender.send(chunk).await.is_err() {
                return Ok(());
            }
            continue;
        }
        batch.extend_from_slice(&chunk);
        if batch.len() >= BATCH_BYTES {
            let full = batch.split().freeze();
            if sender.send(full).await.is_err() {
                return Ok(());
            }
            batch.reserve(BATCH_BYTES + 64 * 1024);
        }
    }
    if !batch.is_empty() && sender.send(batch.freeze()).await.is_err() {
        return Ok(());
    }
    // The end: an empty batch. Without it the writer gives the file up, so a copy that was
    // cancelled half way (another table failed) never completes a file.
    let _ = sender.send(Bytes::new()).await;
    Ok(())
}

/// The writer thread: splits batches into rows, encodes, compresses, hashes, writes.
/// The file is complete only if the reader finished, which the caller checks.
fn write_rows(
    mut receiver: mpsc::Receiver<Bytes>,
    encoder: RowEncoder,
    mut writer: TableWriter,
    bar: &Bar,
    table: &str,
) -> Result<(u64, crate::archive::writer::FileDigest)> {
    let mut rows: u64 = 0;
    let mut input_bytes: u64 = 0;
    // A row cut between two batches waits here for its end (COPY sends one row per message
    // and batches hold whole messages, so this stays empty in practice).
    let mut carry: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::with_capacity(OUTPUT_BYTES + 64 * 1024);
    let mut ended = false;
    while let Some(batch) = receiver.blocking_recv() {
        if batch.is_empty() {
            ended = true;
            break;
        }
        input_bytes += batch.len() as u64;
        let mut rest: &[u8] = &batch;
        if !carry.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    carry.extend_from_slice(&rest[..end]);
                    encode_row(&encoder, &mut writer, &carry, &mut out, &mut rows, table)?;
                    carry = Vec::new();
                    rest = &rest[end + 1..];
                }
                None => {
                    carry.extend_from_slice(rest);
                    continue;
                }
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            encode_row(
                &encoder,
                &mut writer,
                &rest[..end],
                &mut out,
                &mut rows,
                table,
            )?;
            rest = &rest[end + 1..];
            if out.len() >= OUTPUT_BYTES {
                writer.write_all(&out)?;
                out.clear();
            }
        }
        carry.extend_from_slice(rest);
        bar.set(rows, input_bytes);
    }
    if !ended {
        anyhow::bail!("table {table}: the copy was cancelled before its end");
    }
    if !carry.is_empty() {
        anyhow::bail!("table {table}: the COPY data ended in the middle of a row");
    }
    writer.write_all(&out)?;
    bar.set_rows(rows);
    let digest = writer.finish()?;
    Ok((rows, digest))
}

/// Encodes one row; whatever its size, at most about OUTPUT_BYTES of JSON wait in `out`
/// for the compressor.
fn encode_row(
    encoder: &RowEncoder,
    writer: &mut TableWriter,
    row: &[u8],
    out: &mut Vec<u8>,
    rows: &mut u64,
    table: &str,
) -> Result<()> {
    encoder
        .encode_spilling(row, out, OUTPUT_BYTES, &mut |bytes| {
            writer
                .write_all(bytes)
                .map_err(|e| CodecError(format!("{e:#}")))
        })
        .with_context(|| format!("table {table}, row {}", *rows + 1))?;
    *rows += 1;
    Ok(())
}
