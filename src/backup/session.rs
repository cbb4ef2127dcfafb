//! Session settings for every backup connection, so PostgreSQL's text output is the exact,
//! stable form the row encoding expects (see `docs/backup-format.md`), whatever the server's or
//! role's defaults are.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::archive::text_format;

/// Besides the text format: no timeout may cut a long COPY short, and row-level security
/// must never filter a table silently: with `row_security = off`, a table whose policies
/// would hide rows from this role makes the COPY fail instead (as pg_dump does).
const TIMEOUTS: &str = "
SET statement_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET row_security = off;
";

/// Sets the output formats and turns off timeouts that would cut a long COPY short.
pub async fn prepare(client: &Client, lock_timeout_ms: u64) -> Result<()> {
    client
        .batch_execute(&format!(
            "{}{TIMEOUTS}SET lock_timeout = {lock_timeout_ms};",
            text_format::set_sql(false)
        ))
        .await
        .context("cannot prepare the backup session")
}
