//! After the rows are in: every sequence of the backup gets its value back, owned by a column
//! (serial, identity) or not (`DEFAULT nextval('x')` without `OWNED BY`, a counter no table
//! names), so the application's next INSERT does not collide.
//!
//! - Into tables created from the backup's schema (fresh sequences), each sequence is set to
//!   exactly what the backup recorded: `last_value` and `is_called`.
//! - Into a prepared database, a sequence only moves forward: to the recorded value, or past
//!   the largest restored value of the column that owns it, whichever is further.
//!
//! `ALTER SEQUENCE ... RESTART` gives the sequence a new relfilenode, so it is transactional;
//! the `setval` that follows writes into that new file, so it is rolled back with it. A
//! restore that fails or is killed before COMMIT leaves every sequence as it was — which a
//! bare `setval` would not.

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::GenericClient;

use super::plan::TableToLoad;
use crate::sql_quote::{quote_ident, quote_literal};

/// What happened to one sequence.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceFix {
    pub sequence: String,
    /// The column owning it (`schema.table.column`), if one does.
    pub column: Option<String>,
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

impl BackupSequence {
    fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// How the sequences are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Exactly as recorded (fresh sequences, created from the backup's schema).
    Exact,
    /// Never backwards (a prepared database that may already have handed out values).
    Forward,
}

/// The target's view of one sequence.
struct TargetSequence {
    increment: i64,
    min_value: i64,
    max_value: i64,
    last_value: i64,
    is_called: bool,
    /// The owning column as (schema, table, column).
    owner: Option<(String, String, String)>,
}

async fn target_sequence(
    client: &impl GenericClient,
    sequence: &BackupSequence,
) -> Result<Option<TargetSequence>> {
    let qualified = sequence.qualified();
    let Some(row) = client
        .query_opt(
            "SELECT s.seqincrement AS increment,
                    s.seqmin AS min_value,
                    s.seqmax AS max_value,
                    (SELECT array[tn.nspname::text, tc.relname::text, a.attname::text]
                     FROM pg_catalog.pg_depend AS d
                     JOIN pg_catalog.pg_class AS tc ON tc.oid = d.refobjid
                     JOIN pg_catalog.pg_namespace AS tn ON tn.oid = tc.relnamespace
                     JOIN pg_catalog.pg_attribute AS a
                       ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                     WHERE d.classid = 'pg_catalog.pg_class'::regclass
                       AND d.objid = s.seqrelid
                       AND d.refclassid = 'pg_catalog.pg_class'::regclass
                       AND d.deptype IN ('a', 'i')
                     LIMIT 1) AS owner
             FROM pg_catalog.pg_sequence AS s
             WHERE s.seqrelid = to_regclass($1)",
            &[&qualified],
        )
        .await
        .with_context(|| format!("cannot read sequence {}.{}", sequence.schema, sequence.name))?
    else {
        return Ok(None);
    };
    let state = client
        .query_one(
            &format!("SELECT last_value, is_called FROM {qualified}"),
            &[],
        )
        .await
        .with_context(|| format!("cannot read sequence {}.{}", sequence.schema, sequence.name))?;
    let owner: Option<Vec<String>> = row.get("owner");
    Ok(Some(TargetSequence {
        increment: row.get("increment"),
        min_value: row.get("min_value"),
        max_value: row.get("max_value"),
        last_value: state.get("last_value"),
        is_called: state.get("is_called"),
        owner: owner.map(|o| (o[0].clone(), o[1].clone(), o[2].clone())),
    }))
}

/// The sequences of the backup missing from the target, as `schema.name`.
pub async fn missing(
    client: &impl GenericClient,
    sequences: &[BackupSequence],
) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for sequence in sequences {
        let present: bool = client
            .query_one(
                "SELECT EXISTS (
                     SELECT 1 FROM pg_catalog.pg_class
                     WHERE oid = to_regclass($1) AND relkind = 'S') AS present",
                &[&sequence.qualified()],
            )
            .await?
            .get("present");
        if !present {
            missing.push(format!("{}.{}", sequence.schema, sequence.name));
        }
    }
    Ok(missing)
}

/// The sequences tied to `tables` in the target: owned by one of their columns or used by a
/// column default. A restore of some tables (`--table`) sets only these.
pub async fn tied_to(
    client: &impl GenericClient,
    tables: &[TableToLoad],
) -> Result<Vec<(String, String)>> {
    let names: Vec<String> = tables.iter().map(TableToLoad::qualified).collect();
    // A partition's rows may take their values from a sequence of a partitioned table above.
    // pg_partition_ancestors lists nothing for a plain table, hence the table itself as well.
    let rows = client
        .query(
            "WITH named AS (
                 SELECT t.oid FROM unnest($1::text[]::regclass[]) AS t (oid)),
             tables AS (
                 SELECT oid FROM named
                 UNION
                 SELECT a.relid
                 FROM named, LATERAL pg_catalog.pg_partition_ancestors(named.oid) AS a (relid))
             SELECT DISTINCT n.nspname::text AS schema_name, s.relname::text AS sequence_name
             FROM pg_catalog.pg_class AS s
             JOIN pg_catalog.pg_namespace AS n ON n.oid = s.relnamespace
             WHERE s.relkind = 'S'
               AND (EXISTS (
                       SELECT 1
                       FROM pg_catalog.pg_depend AS d
                       WHERE d.classid = 'pg_catalog.pg_class'::regclass
                         AND d.objid = s.oid
                         AND d.refclassid = 'pg_catalog.pg_class'::regclass
                         AND d.refobjid IN (SELECT oid FROM tables)
                         AND d.deptype IN ('a', 'i'))
                    OR EXISTS (
                       SELECT 1
                       FROM pg_catalog.pg_depend AS d
                       JOIN pg_catalog.pg_attrdef AS ad ON ad.oid = d.objid
                       WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass
                         AND d.refclassid = 'pg_catalog.pg_class'::regclass
                         AND d.refobjid = s.oid
                         AND ad.adrelid IN (SELECT oid FROM tables)))",
            &[&names],
        )
        .await
        .context("cannot list the sequences of the restored tables")?;
    Ok(rows
        .iter()
        .map(|r| (r.get("schema_name"), r.get("sequence_name")))
        .collect())
}

/// The sequences `names` as they stand in the target: with [`Setting::Forward`] they then
/// move only past the restored rows (an import that recorded no values).
pub async fn current(
    client: &impl GenericClient,
    names: &[(String, String)],
) -> Result<Vec<BackupSequence>> {
    let mut current = Vec::with_capacity(names.len());
    for (schema, name) in names {
        let qualified = format!("{}.{}", quote_ident(schema), quote_ident(name));
        let row = client
            .query_one(
                &format!("SELECT last_value, is_called FROM {qualified}"),
                &[],
            )
            .await
            .with_context(|| format!("cannot read sequence {schema}.{name}"))?;
        current.push(BackupSequence {
            schema: schema.clone(),
            name: name.clone(),
            last_value: row.get("last_value"),
            is_called: row.get("is_called"),
        });
    }
    Ok(current)
}

/// Sets every sequence in `recorded` (all present in the target), as `setting` says.
pub async fn restore(
    client: &impl GenericClient,
    recorded: &[BackupSequence],
    setting: Setting,
) -> Result<Vec<SequenceFix>> {
    let mut fixes = Vec::new();
    for sequence in recorded {
        let name = format!("{}.{}", sequence.schema, sequence.name);
        let target = target_sequence(client, sequence).await?.with_context(|| {
            format!("sequence {name} of the backup does not exist in the target")
        })?;
        let ascending = target.increment > 0;
        let next_of = |last: i64, called: bool| {
            if called {
                last.saturating_add(target.increment)
            } else {
                last
            }
        };
        // (last_value, is_called) to set.
        let mut wanted = (sequence.last_value, sequence.is_called);
        if setting == Setting::Forward {
            if let Some(bound) = restored_bound(client, &target, ascending).await? {
                let beyond = if ascending {
                    bound > next_of(wanted.0, wanted.1)
                } else {
                    bound < next_of(wanted.0, wanted.1)
                };
                if beyond {
                    wanted = (bound.clamp(target.min_value, target.max_value), false);
                }
            }
            let current = next_of(target.last_value, target.is_called);
            let wanted_next = next_of(wanted.0, wanted.1);
            let ahead = if ascending {
                current >= wanted_next
            } else {
                current <= wanted_next
            };
            if ahead {
                fixes.push(fix(&name, &target, None));
                continue;
            }
        }
        let unchanged = (target.last_value, target.is_called) == wanted;
        if !unchanged {
            client
                .batch_execute(&format!(
                    "ALTER SEQUENCE {seq} RESTART WITH {last};
                     SELECT pg_catalog.setval({literal}, {last}, {called});",
                    seq = sequence.qualified(),
                    literal = quote_literal(&sequence.qualified()),
                    last = wanted.0,
                    called = wanted.1
                ))
                .await
                .with_context(|| format!("cannot set sequence {name}"))?;
        }
        let next = next_of(wanted.0, wanted.1);
        fixes.push(fix(&name, &target, (!unchanged).then_some(next)));
    }
    Ok(fixes)
}

fn fix(name: &str, target: &TargetSequence, restarted_at: Option<i64>) -> SequenceFix {
    SequenceFix {
        sequence: name.to_string(),
        column: target
            .owner
            .as_ref()
            .map(|(s, t, c)| format!("{s}.{t}.{c}")),
        restarted_at,
    }
}

/// Past the largest (or below the smallest, descending) value of the owning column as the
/// target now holds it (restored rows included; for a partitioned table, all partitions).
async fn restored_bound(
    client: &impl GenericClient,
    target: &TargetSequence,
    ascending: bool,
) -> Result<Option<i64>> {
    let Some((schema, table, column)) = &target.owner else {
        return Ok(None);
    };
    let sql = format!(
        "SELECT {}({})::bigint AS bound FROM {}.{}",
        if ascending { "max" } else { "min" },
        quote_ident(column),
        quote_ident(schema),
        quote_ident(table)
    );
    let bound: Option<i64> = client
        .query_one(&sql, &[])
        .await
        .with_context(|| format!("cannot read the restored values of {schema}.{table}.{column}"))?
        .get("bound");
    Ok(bound.map(|b| {
        if ascending {
            b.saturating_add(1)
        } else {
            b.saturating_sub(1)
        }
    }))
}
