//! The checks before any demo data is written: Palm's schema must be there, and its tables
//! must be empty unless the caller said `--force`.

use anyhow::Result;
use tokio_postgres::{Client, GenericClient};

use super::PALM_TABLES;
use crate::error::Failure;

pub async fn require_schema(client: &Client) -> Result<()> {
    for table in PALM_TABLES {
        let exists: bool = client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL",
                &[&format!("public.{table}")],
            )
            .await?
            .get(0);
        if !exists {
            return Err(Failure::usage(format!(
                "table public.{table} does not exist: this database has no Palm schema"
            ))
            .with_hint("run palmdb migrate first")
            .into());
        }
    }
    Ok(())
}

/// Refuses when any Palm table holds a row, naming them, unless `force`.
pub async fn refuse_existing_rows(client: &impl GenericClient, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let mut holding = Vec::new();
    for table in PALM_TABLES {
        // EXISTS reads one row, however large a production table is.
        let any: bool = client
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM public.{table})"),
                &[],
            )
            .await?
            .get(0);
        if any {
            holding.push(table);
        }
    }
    if holding.is_empty() {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "refusing to write demo data: {} already {} rows",
        holding.join(", "),
        if holding.len() == 1 { "holds" } else { "hold" }
    ))
    .with_hint(
        "pass --force to delete every row of the Palm tables and replace them with demo data",
    )
    .into())
}
