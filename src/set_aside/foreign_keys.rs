//! Foreign keys between the loaded tables are checked once, after the load, instead of once per
//! row: dropped at the start of the loading transaction and added back (validated by one
//! join per key) before COMMIT — what pg_restore does in a full restore, done here by the
//! tables' owner inside one transaction, so a failure or a kill restores them as they were.
//!
//! Keys to tables outside the load stay in place and are checked row by row: re-adding
//! them would need privileges on tables the load does not own.

use anyhow::{Context, Result};
use tokio_postgres::GenericClient;

use crate::error::Failure;
use crate::sql_quote::quote_ident;

/// A foreign key taken off for the load, with what it takes to put it back.
#[derive(Debug, Clone)]
pub struct SetAside {
    pub table: String,
    pub name: String,
    pub definition: String,
    pub comment: Option<String>,
}

/// Drops the foreign keys whose both tables are restored; returns them to [`put_back`].
pub async fn set_aside(client: &impl GenericClient, tables: &[String]) -> Result<Vec<SetAside>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let names = tables;
    // conparentid = 0: keys cloned onto partitions go with their parent's key.
    let rows = client
        .query(
            "SELECT con.conrelid::regclass::text AS table_name,
                    con.conname AS name,
                    pg_get_constraintdef(con.oid) AS definition,
                    obj_description(con.oid, 'pg_constraint') AS comment
             FROM pg_catalog.pg_constraint AS con
             WHERE con.contype = 'f'
               AND con.conparentid = 0
               AND con.conrelid = ANY ($1::text[]::regclass[])
               AND con.confrelid = ANY ($1::text[]::regclass[])
             ORDER BY con.conrelid, con.conname",
            &[&names],
        )
        .await
        .context("cannot list the foreign keys between the loaded tables")?;
    let keys: Vec<SetAside> = rows
        .iter()
        .map(|r| SetAside {
            table: r.get("table_name"),
            name: r.get("name"),
            definition: r.get("definition"),
            comment: r.get("comment"),
        })
        .collect();
    for key in &keys {
        client
            .batch_execute(&format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                key.table,
                quote_ident(&key.name)
            ))
            .await
            .with_context(|| {
                format!("cannot set aside foreign key {} on {}", key.name, key.table)
            })?;
    }
    Ok(keys)
}

/// Adds the keys back; PostgreSQL validates every restored row against them here.
pub async fn put_back(
    client: &impl GenericClient,
    keys: &[SetAside],
    when_it_fails: &str,
) -> Result<()> {
    for key in keys {
        client
            .batch_execute(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                key.table,
                quote_ident(&key.name),
                key.definition
            ))
            .await
            .map_err(|e| {
                Failure::operation(format!(
                    "the loaded rows break foreign key {} on {}: {}; {when_it_fails}",
                    key.name,
                    key.table,
                    crate::error::describe_pg_error(&e)
                ))
            })?;
        if let Some(comment) = &key.comment {
            client
                .batch_execute(&format!(
                    "COMMENT ON CONSTRAINT {} ON {} IS {}",
                    quote_ident(&key.name),
                    key.table,
                    crate::sql_quote::quote_literal(comment)
                ))
                .await?;
        }
    }
    Ok(())
}
