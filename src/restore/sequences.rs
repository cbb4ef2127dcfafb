//! After the rows are in: move every sequence owned by a restored column (serial and identity
//! columns) past the restored values, so the application's next INSERT does not collide.
//!
//! `ALTER SEQUENCE ... RESTART` is used rather than `setval`: it is transactional (a new
//! relfilenode), so a restore that fails or is killed before COMMIT leaves the sequences as
//! they were, while `setval` would not be rolled back. Sequences only move forward.

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::sql_quote::quote_ident;

/// What happened to one sequence.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceFix {
    pub sequence: String,
    pub column: String,
    /// The value the next `nextval` returns, if the sequence was moved.
    pub restarted_at: Option<i64>,
}

/// A backup's record of a sequence, as `setval` takes it.
#[derive(Debug, Clone)]
pub struct BackupSequence {
    pub schema: String,
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
}

/// Restarts the sequences owned by `table`'s columns past the largest restored value (or
/// past the value the backup recorded, whichever is further), if they are not already.
pub async fn move_past_restored(
    client: &impl GenericClient,
    schema: &str,
    table: &str,
    recorded: &[BackupSequence],
) -> Result<Vec<SequenceFix>> {
    let qualified = format!("{}.{}", quote_ident(schema), quote_ident(table));
    // pg_depend 'a' (serial, OWNED BY) and 'i' (identity) tie a sequence to its column.
    let owned = client
        .query(
            "SELECT seq_ns.nspname AS sequence_schema,
                    seq.relname AS sequence_name,
                    a.attname AS column_name,
                    s.seqincrement AS increment,
                    s.seqmin AS min_value,
                    s.seqmax AS max_value
             FROM pg_catalog.pg_depend AS d
             JOIN pg_catalog.pg_class AS seq ON seq.oid = d.objid AND seq.relkind = 'S'
             JOIN pg_catalog.pg_namespace AS seq_ns ON seq_ns.oid = seq.relnamespace
             JOIN pg_catalog.pg_sequence AS s ON s.seqrelid = seq.oid
             JOIN pg_catalog.pg_attribute AS a
               ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
             WHERE d.classid = 'pg_catalog.pg_class'::regclass
               AND d.refclassid = 'pg_catalog.pg_class'::regclass
               AND d.refobjid = $1::text::regclass
               AND d.deptype IN ('a', 'i')
             ORDER BY a.attnum",
            &[&qualified],
        )
        .await
        .with_context(|| format!("cannot list the sequences of {schema}.{table}"))?;

    let mut fixes = Vec::new();
    for row in owned {
        let sequence_schema: String = row.get("sequence_schema");
        let sequence_name: String = row.get("sequence_name");
        let column: String = row.get("column_name");
        let increment: i64 = row.get("increment");
        let min_value: i64 = row.get("min_value");
        let max_value: i64 = row.get("max_value");
        let sequence = format!(
            "{}.{}",
            quote_ident(&sequence_schema),
            quote_ident(&sequence_name)
        );

        let state = client
            .query_one(
                &format!(
                    "SELECT s.last_value AS last_value,
                            s.is_called AS is_called,
                            (SELECT max({col})::bigint FROM {qualified}) AS highest,
                            (SELECT min({col})::bigint FROM {qualified}) AS lowest
                     FROM {sequence} AS s",
                    col = quote_ident(&column)
                ),
                &[],
            )
            .await
            .with_context(|| format!("cannot read sequence {sequence_schema}.{sequence_name}"))?;
        let last_value: i64 = state.get("last_value");
        let is_called: bool = state.get("is_called");
        let next = if is_called {
            last_value.saturating_add(increment)
        } else {
            last_value
        };

        let ascending = increment > 0;
        let restored_bound: Option<i64> = if ascending {
            state
                .get::<_, Option<i64>>("highest")
                .map(|v| v.saturating_add(1))
        } else {
            state
                .get::<_, Option<i64>>("lowest")
                .map(|v| v.saturating_sub(1))
        };
        let recorded_next = recorded
            .iter()
            .find(|r| r.schema == sequence_schema && r.name == sequence_name)
            .map(|r| {
                if r.is_called {
                    r.last_value.saturating_add(increment)
                } else {
                    r.last_value
                }
            });
        let wanted = [restored_bound, recorded_next]
            .into_iter()
            .flatten()
            .reduce(|a, b| if ascending { a.max(b) } else { a.min(b) });

        let restart = match wanted {
            Some(w) if ascending && w > next => Some(w.min(max_value)),
            Some(w) if !ascending && w < next => Some(w.max(min_value)),
            _ => None,
        };
        if let Some(value) = restart {
            client
                .batch_execute(&format!("ALTER SEQUENCE {sequence} RESTART WITH {value}"))
                .await
                .with_context(|| {
                    format!("cannot move sequence {sequence_schema}.{sequence_name}")
                })?;
        }
        fixes.push(SequenceFix {
            sequence: format!("{sequence_schema}.{sequence_name}"),
            column,
            restarted_at: restart,
        });
    }
    Ok(fixes)
}
