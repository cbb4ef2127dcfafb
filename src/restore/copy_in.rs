//! Streams COPY text rows into `COPY ... FROM STDIN`, in constant memory.
//!
//! Rows are produced on a blocking thread (reading and decompressing files, decoding JSON is
//! CPU work) and handed to the connection in chunks through a bounded channel, so the client
//! decodes while the server parses, and at most a few chunks are ever in memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_postgres::Transaction;

/// Size at which a chunk of rows is sent to the server.
const CHUNK_BYTES: usize = 256 * 1024;
/// Room for a full chunk plus one long row, so most chunks never reallocate.
const CHUNK_CAPACITY: usize = CHUNK_BYTES + CHUNK_BYTES / 4;
/// Chunks in flight between the decoding thread and the connection.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Where a producer writes COPY text rows; sends them on in chunks.
pub struct RowWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<Bytes>,
    rows: Arc<AtomicU64>,
}

impl RowWriter {
    /// The buffer to append exactly one COPY text row to, ending in `\n`.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// Counts the row just appended; sends the chunk when it is full.
    pub fn row_done(&mut self) -> Result<()> {
        self.rows.fetch_add(1, Ordering::Relaxed);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends what the buffer holds once it is a full chunk, even in the middle of a row
    /// (COPY data may be cut anywhere): a row of any size needs no bigger buffer.
    pub fn flush_if_full(&mut self) -> Result<()> {
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_CAPACITY));
        self.sender
            .blocking_send(Bytes::from(full))
            .map_err(|_| anyhow!("the COPY was aborted"))
    }
}

/// Rows written so far by a running [`load`], readable from another task (progress bars).
#[derive(Clone, Default)]
pub struct RowCounter(Arc<AtomicU64>);

impl RowCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs `copy_sql` (a `COPY ... FROM STDIN` in text format) and feeds it the rows `produce`
/// writes; `on_chunk` hears the rows and bytes sent so far. Returns the number of rows the server loaded. On any error the COPY is aborted and
/// the error returned; the caller's transaction is then unusable and must be rolled back.
pub async fn load<F>(
    transaction: &Transaction<'_>,
    copy_sql: &str,
    counter: &RowCounter,
    on_chunk: &mut (dyn FnMut(u64, u64) + Send),
    produce: F,
) -> Result<u64>
where
    F: FnOnce(&mut RowWriter) -> Result<()> + Send + 'static,
{
    let (sender, mut receiver) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let rows = counter.0.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let mut writer = RowWriter {
            buffer: Vec::with_capacity(CHUNK_CAPACITY),
            sender,
            rows,
        };
        produce(&mut writer)?;
        writer.flush()
    });

    let sink = transaction.copy_in::<_, Bytes>(copy_sql).await?;
    futures_util::pin_mut!(sink);
    let mut send_error = None;
    let mut sent: u64 = 0;
    while let Some(chunk) = receiver.recv().await {
        sent += chunk.len() as u64;
        if let Err(e) = sink.send(chunk).await {
            send_error = Some(e);
            break;
        }
        on_chunk(counter.get(), sent);
    }
    // Stops the producer if the server gave up first.
    drop(receiver);
    let produced = producer.await.context("the row decoder panicked")?;
    if let Some(e) = send_error {
        return Err(e.into());
    }
    // A decoding error wins over finishing: the COPY must not commit a partial table.
    produced?;
    let loaded = sink.as_mut().finish().await?;
    on_chunk(counter.get(), sent);
    Ok(loaded)
}
