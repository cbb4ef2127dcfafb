//! Session settings for every backup connection, so PostgreSQL's text output is the exact,
//! stable form the row encoding expects (see `docs/backup-format.md`), whatever the server's or
//! role's defaults are.

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// Applied before the snapshot is taken or imported.
const SETTINGS: &str = "
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET TimeZone = 'UTC';
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET statement_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
";

/// Sets the output formats and turns off timeouts that would cut a long COPY short.
pub async fn prepare(client: &Client, lock_timeout_ms: u64) -> Result<()> {
    client
        .batch_execute(&format!("{SETTINGS}SET lock_timeout = {lock_timeout_ms};"))
        .await
        .context("cannot prepare the backup session")
}
