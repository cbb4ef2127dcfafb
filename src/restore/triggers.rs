//! User triggers do not fire while a restore loads rows: a BEFORE INSERT trigger would rewrite
//! the restored rows, an AFTER INSERT trigger would add rows elsewhere, a TRUNCATE trigger
//! (`--clean`) would empty another table. They are disabled one by one inside the restore's
//! transaction, then put back in the state each had (`ENABLE`, `ENABLE REPLICA`,
//! `ENABLE ALWAYS`) before COMMIT; a failure or a kill leaves them as they were.
//!
//! Why not `session_replication_role = replica` (what `pg_restore --disable-triggers` uses):
//! it needs a superuser (or a grant of the setting), and it also silences the internal
//! triggers that check foreign keys. `ALTER TABLE ... DISABLE TRIGGER name` is allowed to the
//! table's owner and leaves foreign keys checked. palmdb's own derived tables, which triggers
//! keep, are recomputed instead (`derived`).

use anyhow::{Context, Result};
use tokio_postgres::GenericClient;

use super::plan::TableToLoad;
use crate::sql_quote::quote_ident;

/// A trigger switched off for the load.
#[derive(Debug, Clone)]
pub struct Disabled {
    /// The table, as `regclass` text (quoted as needed).
    pub table: String,
    pub name: String,
    /// `pg_trigger.tgenabled` before: `O` origin, `R` replica, `A` always.
    pub state: String,
}

/// Disables every enabled user trigger of `tables`.
pub async fn disable(client: &impl GenericClient, tables: &[TableToLoad]) -> Result<Vec<Disabled>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = tables.iter().map(TableToLoad::qualified).collect();
    // tgisinternal: the triggers behind foreign keys and deferred unique checks stay on.
    let rows = client
        .query(
            "SELECT t.tgrelid::regclass::text AS table_name,
                    t.tgname::text AS trigger_name,
                    t.tgenabled::text AS state
             FROM pg_catalog.pg_trigger AS t
             WHERE t.tgrelid = ANY ($1::text[]::regclass[])
               AND NOT t.tgisinternal
               AND t.tgenabled <> 'D'
             ORDER BY t.tgrelid, t.tgname",
            &[&names],
        )
        .await
        .context("cannot list the triggers of the restored tables")?;
    let disabled: Vec<Disabled> = rows
        .iter()
        .map(|r| Disabled {
            table: r.get("table_name"),
            name: r.get("trigger_name"),
            state: r.get("state"),
        })
        .collect();
    for trigger in &disabled {
        client
            .batch_execute(&format!(
                "ALTER TABLE {} DISABLE TRIGGER {}",
                trigger.table,
                quote_ident(&trigger.name)
            ))
            .await
            .with_context(|| {
                format!(
                    "cannot disable trigger {} on {} for the load (only the table's owner may)",
                    trigger.name, trigger.table
                )
            })?;
    }
    Ok(disabled)
}

/// Puts every trigger back in the state it had.
pub async fn enable(client: &impl GenericClient, disabled: &[Disabled]) -> Result<()> {
    for trigger in disabled {
        let how = match trigger.state.as_str() {
            "R" => "ENABLE REPLICA",
            "A" => "ENABLE ALWAYS",
            _ => "ENABLE",
        };
        client
            .batch_execute(&format!(
                "ALTER TABLE {} {how} TRIGGER {}",
                trigger.table,
                quote_ident(&trigger.name)
            ))
            .await
            .with_context(|| {
                format!(
                    "cannot enable trigger {} on {} again",
                    trigger.name, trigger.table
                )
            })?;
    }
    Ok(())
}
