//! Re-appliable objects from `sql/` (views and functions written with CREATE OR REPLACE).
//! Each file is applied, in path order, only when its content differs from what was last
//! applied; the SHA-256 of what was applied is kept in `palmdb.schema_objects`.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::history::Timeouts;
use super::source::ObjectFile;

pub const LEDGER_TABLE: &str = "palmdb.schema_objects";

/// Creates palmdb's own schema and the ledger (called under the migration lock).
pub async fn ensure_ledger(client: &Client) -> Result<()> {
    client
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS palmdb;
             CREATE TABLE IF NOT EXISTS palmdb.schema_objects (
                 path        text        PRIMARY KEY,
                 sha256      text        NOT NULL,
                 applied_at  timestamptz NOT NULL DEFAULT now()
             );
             COMMENT ON TABLE palmdb.schema_objects IS
                 'sql/ files applied by palmdb migrate, with the SHA-256 of the applied text';",
        )
        .await
        .context("cannot create palmdb's schema and its schema_objects table")?;
    Ok(())
}

/// The objects whose content differs from the ledger (all of them before the first run).
pub async fn changed(client: &Client, objects: Vec<ObjectFile>) -> Result<Vec<ObjectFile>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('palmdb.schema_objects') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(objects);
    }
    let rows = client
        .query("SELECT path, sha256 FROM palmdb.schema_objects", &[])
        .await?;
    Ok(objects
        .into_iter()
        .filter(|o| {
            !rows
                .iter()
                .any(|r| r.get::<_, &str>(0) == o.path && r.get::<_, &str>(1) == o.sha256)
        })
        .collect())
}

/// Applies one object file and records it, in one transaction.
pub async fn apply(
    client: &mut Client,
    object: &ObjectFile,
    timeouts: Timeouts,
    server_major: u32,
) -> Result<()> {
    let transaction = client.transaction().await?;
    transaction.batch_execute(&timeouts.set_sql(true)).await?;
    transaction
        .batch_execute(&super::compat::adapt(&object.sql, server_major))
        .await
        .map_err(|e| super::locate_error(&e, &format!("sql/{}", object.path), &object.sql))?;
    transaction
        .execute(
            "INSERT INTO palmdb.schema_objects (path, sha256) VALUES ($1, $2)
             ON CONFLICT (path) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()",
            &[&object.path, &object.sha256],
        )
        .await?;
    transaction.commit().await?;
    Ok(())
}

/// Applies each changed object file in order (retrying one that hit the lock timeout) and
/// says so on `out`; true when there was anything to apply.
pub async fn apply_all(
    client: &mut Client,
    objects: &[ObjectFile],
    timeouts: Timeouts,
    server_major: u32,
    out: &mut dyn std::io::Write,
) -> Result<bool> {
    for object in objects {
        let mut attempt = 1;
        loop {
            match apply(client, object, timeouts, server_major).await {
                Err(e) if super::retry_after_lock_timeout(&e, &mut attempt).await => continue,
                other => break other?,
            }
        }
        writeln!(out, "applied sql/{}", object.path)?;
    }
    Ok(!objects.is_empty())
}
