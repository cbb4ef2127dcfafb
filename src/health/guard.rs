//! The health session's guards: a monitor must answer or fail, never queue. Every health
//! query of the library runs under them — the CLI, `palmdb serve` and any library caller
//! alike — so none of them has to remember to set them.
//!
//! The guards only ever tighten: a session that already has a shorter `lock_timeout` or
//! `statement_timeout` (serve's pool sets its request deadline) keeps it. They are restored
//! afterwards, so a caller's own session settings survive the call.

use anyhow::Result;
use tokio_postgres::Client;

/// Longest wait for a lock: the checks read catalogs and statistics, so they should never
/// wait at all; if one does, fail (exit 3) rather than queue behind an ALTER TABLE.
pub const LOCK_TIMEOUT: &str = "5s";
/// Longest any one health query may run.
pub const STATEMENT_TIMEOUT: &str = "60s";

/// Runs `work` with the guards in place, then puts the session's settings back.
pub async fn guarded<T>(
    client: &Client,
    work: impl AsyncFnOnce(&Client) -> Result<T>,
) -> Result<T> {
    // Read the old values first (the CTE), then tighten; set_config's values are text, and a
    // setting of 0 means "no limit".
    let row = client
        .query_one(
            "WITH before AS MATERIALIZED (
                 SELECT
                     current_setting('lock_timeout')      AS lock_timeout,
                     current_setting('statement_timeout') AS statement_timeout
             )
             SELECT
                 b.lock_timeout,
                 b.statement_timeout,
                 set_config('lock_timeout', CASE
                     WHEN b.lock_timeout::interval = interval '0'
                         OR b.lock_timeout::interval > $1::text::interval THEN $1
                     ELSE b.lock_timeout
                 END, false),
                 set_config('statement_timeout', CASE
                     WHEN b.statement_timeout::interval = interval '0'
                         OR b.statement_timeout::interval > $2::text::interval THEN $2
                     ELSE b.statement_timeout
                 END, false)
             FROM before AS b",
            &[&LOCK_TIMEOUT, &STATEMENT_TIMEOUT],
        )
        .await?;
    let (lock_before, statement_before): (String, String) = (row.get(0), row.get(1));
    let outcome = work(client).await;
    let restored = client
        .execute(
            "SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)",
            &[&lock_before, &statement_before],
        )
        .await;
    // The work's error says more than a failed restore (which fails when the work's error
    // aborted the caller's transaction: rolling it back restores the settings anyway).
    let value = outcome?;
    restored?;
    Ok(value)
}
