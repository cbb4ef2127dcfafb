//! The health session's guards: a monitor must answer or fail, never queue. Every health
//! query of the library runs under them — the CLI, `palmdb serve` and any library caller
//! alike — so none of them has to remember to set them.
//!
//! The guards only ever tighten: a session that already has a shorter `lock_timeout` or
//! `statement_timeout` keeps it. They are set for one transaction (`set_config(..., true)`)
//! that holds the work: nothing outlives the call, and through a pooler in transaction mode
//! (PgBouncer) no setting leaks to another client's session and every statement of the work
//! runs on the one server the transaction pins. So `work` must not be called inside a
//! transaction of the caller's: [`guarded`] opens and ends its own.

use anyhow::Result;
use tokio_postgres::Client;

/// Longest wait for a lock: the checks read catalogs and statistics, so they should never
/// wait at all; if one does, fail (exit 3) rather than queue behind an ALTER TABLE.
pub const LOCK_TIMEOUT: &str = "5s";
/// Longest any one health query may run.
pub const STATEMENT_TIMEOUT: &str = "60s";

/// Runs `work` in a transaction of its own with the guards in place.
pub async fn guarded<T>(
    client: &Client,
    work: impl AsyncFnOnce(&Client) -> Result<T>,
) -> Result<T> {
    client.batch_execute("BEGIN").await?;
    let outcome = guarded_in_transaction(client, work).await;
    // COMMIT of a failed transaction rolls it back; either way the settings end with it.
    let ended = client
        .batch_execute(if outcome.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        })
        .await;
    let value = outcome?;
    ended?;
    Ok(value)
}

async fn guarded_in_transaction<T>(
    client: &Client,
    work: impl AsyncFnOnce(&Client) -> Result<T>,
) -> Result<T> {
    // Read the old values first (the CTE), then tighten; set_config's values are text, and a
    // setting of 0 means "no limit".
    client
        .query_one(
            "WITH before AS MATERIALIZED (
                 SELECT
                     current_setting('lock_timeout')      AS lock_timeout,
                     current_setting('statement_timeout') AS statement_timeout
             )
             SELECT
                 set_config('lock_timeout', CASE
                     WHEN b.lock_timeout::interval = interval '0'
                         OR b.lock_timeout::interval > $1::text::interval THEN $1
                     ELSE b.lock_timeout
                 END, true),
                 set_config('statement_timeout', CASE
                     WHEN b.statement_timeout::interval = interval '0'
                         OR b.statement_timeout::interval > $2::text::interval THEN $2
                     ELSE b.statement_timeout
                 END, true)
             FROM before AS b",
            &[&LOCK_TIMEOUT, &STATEMENT_TIMEOUT],
        )
        .await?;
    work(client).await
}
