//! `palmdb health --record`: one snapshot of every table's figures into
//! `palmdb.health_snapshots`, older snapshots deleted (bounded retention). The SQL function
//! does both in one transaction; `palmdb.table_growth_per_day` reads them back.

use std::time::Duration;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::guard;

/// Records a snapshot, keeps `keep` worth of history; returns how many tables were recorded.
pub async fn record_snapshot(client: &Client, keep: Duration) -> Result<i64> {
    // The value is read inside the transaction (see collect: a row holds its statement).
    guard::guarded(client, async |client| {
        client
            .query_one(
                "SELECT palmdb.record_health_snapshot(make_interval(secs => $1::float8)) AS recorded",
                &[&keep.as_secs_f64()],
            )
            .await
            .map(|row| row.get("recorded"))
            .context("cannot record a health snapshot")
    })
    .await
}
