//! Foreign keys and secondary indexes are set aside while the demo data is loaded and put
//! back afterwards, inside the same transaction (what pg_restore does): one validating join
//! per foreign key and one sorted build per index instead of a check and an index insert per
//! row. Primary keys and unique constraints stay, so bad data still fails at the insert.

use anyhow::{Context, Result};
use tokio_postgres::Transaction;

use super::PALM_TABLES;
use crate::sql_quote::quote_ident;

/// What was dropped, with the statements that recreate it.
pub struct SetAside {
    foreign_keys: Vec<ForeignKey>,
    index_definitions: Vec<String>,
}

struct ForeignKey {
    table: String,
    name: String,
    definition: String,
}

/// Drops every foreign key from or to a Palm table, and every index on one that backs no
/// constraint; returns how to recreate them.
pub async fn take(transaction: &Transaction<'_>) -> Result<SetAside> {
    let tables: Vec<String> = PALM_TABLES.iter().map(|t| format!("public.{t}")).collect();
    let foreign_keys: Vec<ForeignKey> = transaction
        .query(
            "SELECT c.conrelid::regclass::text AS table_name,
                    c.conname AS constraint_name,
                    pg_get_constraintdef(c.oid) AS definition
             FROM pg_constraint AS c
             WHERE c.contype = 'f'
               AND (c.conrelid = ANY ($1::text[]::regclass[])
                    OR c.confrelid = ANY ($1::text[]::regclass[]))
             ORDER BY c.oid",
            &[&tables],
        )
        .await?
        .into_iter()
        .map(|r| ForeignKey {
            table: r.get(0),
            name: r.get(1),
            definition: r.get(2),
        })
        .collect();
    let indexes = transaction
        .query(
            "SELECT i.indexrelid::regclass::text AS index_name,
                    pg_get_indexdef(i.indexrelid) AS definition
             FROM pg_index AS i
             WHERE i.indrelid = ANY ($1::text[]::regclass[])
               AND NOT EXISTS (
                   SELECT 1
                   FROM pg_constraint AS c
                   WHERE c.conindid = i.indexrelid
               )
             ORDER BY i.indexrelid",
            &[&tables],
        )
        .await?;
    for key in &foreign_keys {
        transaction
            .batch_execute(&format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                key.table,
                quote_ident(&key.name)
            ))
            .await?;
    }
    let mut index_definitions = Vec::new();
    for row in indexes {
        let name: String = row.get(0);
        transaction
            .batch_execute(&format!("DROP INDEX {name}"))
            .await?;
        index_definitions.push(row.get(1));
    }
    Ok(SetAside {
        foreign_keys,
        index_definitions,
    })
}

/// Rebuilds the indexes, then re-adds and so validates the foreign keys.
pub async fn put_back(transaction: &Transaction<'_>, aside: &SetAside) -> Result<()> {
    for definition in &aside.index_definitions {
        transaction
            .batch_execute(definition)
            .await
            .with_context(|| format!("cannot rebuild index: {definition}"))?;
    }
    for key in &aside.foreign_keys {
        transaction
            .batch_execute(&format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                key.table,
                quote_ident(&key.name),
                key.definition
            ))
            .await
            .with_context(|| format!("cannot restore foreign key {}", key.name))?;
    }
    Ok(())
}
