//! Serialises concurrent `palmdb migrate` runs with a session advisory lock.
//!
//! The lock is polled with `pg_try_advisory_lock` rather than waited for with
//! `pg_advisory_lock`: a blocked waiter would hold a virtual transaction open, and
//! `CREATE INDEX CONCURRENTLY` in the lock holder waits for every such transaction — a
//! deadlock that other migration tools have shipped. A session lock (not a transaction lock)
//! survives the per-migration transactions and covers the no-transaction statements too.

use std::time::{Duration, Instant};

use anyhow::Result;
use tokio_postgres::Client;

use crate::error::Failure;

/// Fixed key for palmdb's migration lock (advisory locks are per database).
pub const MIGRATION_LOCK_KEY: i64 = 0x7061_6c6d_6462; // "palmdb"

/// Takes the migration lock, polling until `wait` has passed.
pub async fn acquire(client: &Client, wait: Duration) -> Result<()> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(50);
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure::operation(format!(
                "another palmdb migrate held the migration lock for more than {} s",
                wait.as_secs()
            ))
            .with_hint(
                "wait for the other run to finish, or raise --lock-wait; \
                 SELECT pid FROM pg_locks WHERE locktype = 'advisory' shows the holder",
            )
            .into());
        }
        tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Releases the lock; closing the session would release it too.
pub async fn release(client: &Client) -> Result<()> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await?;
    Ok(())
}
