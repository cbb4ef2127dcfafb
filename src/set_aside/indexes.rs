//! Indexes of the loaded tables are built once, after the load, instead of updated row by
//! row: dropped at the start of the loading transaction and re-created (a sort-based build,
//! parallel where the server allows) before COMMIT — pg_restore's order in a full restore,
//! here inside one transaction, so a failure or a kill leaves them exactly as they were.
//!
//! Left in place, and updated row by row: indexes a foreign key outside the load relies on
//! (the key could not stay), indexes in a non-default tablespace, clustered or replica-identity
//! indexes, partitioned indexes and their partitions, indexes with per-column statistics
//! targets, invalid ones — whatever re-creating from the catalog might not reproduce exactly.

use anyhow::{Context, Result};
use tokio_postgres::GenericClient;

use crate::error::{describe_pg_error, Failure};
use crate::sql_quote::{quote_ident, quote_literal};

/// An index taken off for the load, with what it takes to put it back.
#[derive(Debug, Clone)]
pub struct SetAside {
    pub table: String,
    /// `schema.index`, quoted as needed.
    pub index: String,
    /// `CREATE [UNIQUE] INDEX ...` as `pg_get_indexdef` writes it.
    pub index_definition: String,
    /// The PRIMARY KEY / UNIQUE / EXCLUDE constraint the index backs, if any.
    pub constraint: Option<(String, String)>,
    pub constraint_comment: Option<String>,
    pub index_comment: Option<String>,
}

/// Drops the indexes of the restored tables that can be rebuilt exactly. Call after the
/// foreign keys between restored tables are set aside (they rely on unique indexes).
pub async fn set_aside(client: &impl GenericClient, tables: &[String]) -> Result<Vec<SetAside>> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let names = tables;
    let rows = client
        .query(
            "SELECT i.indrelid::regclass::text AS table_name,
                    i.indexrelid::regclass::text AS index_name,
                    pg_get_indexdef(i.indexrelid) AS index_definition,
                    con.conname AS constraint_name,
                    pg_get_constraintdef(con.oid) AS constraint_definition,
                    obj_description(con.oid, 'pg_constraint') AS constraint_comment,
                    obj_description(i.indexrelid, 'pg_class') AS index_comment
             FROM pg_catalog.pg_index AS i
             JOIN pg_catalog.pg_class AS ic ON ic.oid = i.indexrelid
             LEFT JOIN pg_catalog.pg_constraint AS con
               ON con.conindid = i.indexrelid
              AND con.conrelid = i.indrelid
              AND con.contype IN ('p', 'u', 'x')
             WHERE i.indrelid = ANY ($1::text[]::regclass[])
               AND ic.relkind = 'i'
               AND ic.reltablespace = 0
               AND i.indisvalid
               AND i.indisready
               AND i.indislive
               AND NOT i.indisclustered
               AND NOT i.indisreplident
               -- an index attached to a partitioned table's index
               AND NOT EXISTS (
                   SELECT 1 FROM pg_catalog.pg_inherits AS inh WHERE inh.inhrelid = i.indexrelid
               )
               -- a foreign key still in place (from a table outside the restore) uses it
               AND NOT EXISTS (
                   SELECT 1
                   FROM pg_catalog.pg_constraint AS fk
                   WHERE fk.contype = 'f'
                     AND fk.conindid = i.indexrelid
               )
               AND NOT EXISTS (
                   SELECT 1
                   FROM pg_catalog.pg_attribute AS a
                   WHERE a.attrelid = i.indexrelid
                     AND a.attstattarget > 0
               )
             ORDER BY i.indrelid, i.indexrelid",
            &[&names],
        )
        .await
        .context("cannot list the indexes of the loaded tables")?;
    let indexes: Vec<SetAside> = rows
        .iter()
        .map(|r| {
            let constraint_name: Option<String> = r.get("constraint_name");
            let constraint_definition: Option<String> = r.get("constraint_definition");
            SetAside {
                table: r.get("table_name"),
                index: r.get("index_name"),
                index_definition: r.get("index_definition"),
                constraint: constraint_name.zip(constraint_definition),
                constraint_comment: r.get("constraint_comment"),
                index_comment: r.get("index_comment"),
            }
        })
        .collect();
    for index in &indexes {
        let sql = match &index.constraint {
            Some((name, _)) => format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                index.table,
                quote_ident(name)
            ),
            None => format!("DROP INDEX {}", index.index),
        };
        client.batch_execute(&sql).await.with_context(|| {
            format!("cannot set aside index {} on {}", index.index, index.table)
        })?;
    }
    Ok(indexes)
}

/// Builds the indexes again; unique ones check the restored rows here.
pub async fn put_back(
    client: &impl GenericClient,
    indexes: &[SetAside],
    when_it_fails: &str,
) -> Result<()> {
    for index in indexes {
        let sql = match &index.constraint {
            Some((name, definition)) => format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {definition}",
                index.table,
                quote_ident(name)
            ),
            None => index.index_definition.clone(),
        };
        client.batch_execute(&sql).await.map_err(|e| {
            let what = match &index.constraint {
                Some((name, _)) => format!("constraint {name}"),
                None => format!("index {}", index.index),
            };
            Failure::operation(format!(
                "the loaded rows break {what} on {}: {}; {when_it_fails}",
                index.table,
                describe_pg_error(&e)
            ))
        })?;
        if let (Some((name, _)), Some(comment)) = (&index.constraint, &index.constraint_comment) {
            client
                .batch_execute(&format!(
                    "COMMENT ON CONSTRAINT {} ON {} IS {}",
                    quote_ident(name),
                    index.table,
                    quote_literal(comment)
                ))
                .await?;
        }
        if let Some(comment) = &index.index_comment {
            client
                .batch_execute(&format!(
                    "COMMENT ON INDEX {} IS {}",
                    index.index,
                    quote_literal(comment)
                ))
                .await?;
        }
    }
    Ok(())
}
