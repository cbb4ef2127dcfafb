//! What the target database looks like, and whether a backup fits into it: schema version,
//! tables and their columns, rows already present.

use anyhow::{Context, Result};
use tokio_postgres::{Client, GenericClient};

use super::plan::TableToLoad;
use crate::migrate::history::HISTORY_TABLE;

/// A column of a table in the target database.
#[derive(Debug, Clone)]
pub struct TargetColumn {
    pub name: String,
    pub type_name: String,
    pub generated: bool,
    /// NOT NULL without a default: a backup that lacks this column cannot be loaded.
    pub required: bool,
}

/// The latest applied migration of the target, `None` when palmdb never migrated it.
pub async fn schema_version(client: &Client) -> Result<Option<i64>> {
    let history_exists: bool = client
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL AS present",
            &[&HISTORY_TABLE],
        )
        .await
        .context("cannot read the target's migration history")?
        .get("present");
    if !history_exists {
        return Ok(None);
    }
    let sql = format!("SELECT max(version)::bigint AS version FROM {HISTORY_TABLE}");
    let row = client
        .query_one(&sql, &[])
        .await
        .context("cannot read the target's migration history")?;
    Ok(row.get("version"))
}

/// The columns of `schema.name` in the target, in column order; `None` when it does not exist.
pub async fn columns(
    client: &impl GenericClient,
    schema: &str,
    name: &str,
) -> Result<Option<Vec<TargetColumn>>> {
    let rows = client
        .query(
            "SELECT a.attname AS name,
                    format_type(a.atttypid, a.atttypmod) AS type_name,
                    a.attgenerated <> '' AS generated,
                    (a.attnotnull AND NOT a.atthasdef AND a.attidentity = '') AS required
             FROM pg_catalog.pg_attribute AS a
             JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
             JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
             WHERE n.nspname = $1
               AND c.relname = $2
               AND c.relkind IN ('r', 'p')
               AND a.attnum > 0
               AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&schema, &name],
        )
        .await
        .with_context(|| format!("cannot read the columns of {schema}.{name}"))?;
    if rows.is_empty() {
        let exists: bool = client
            .query_one(
                "SELECT EXISTS (
                     SELECT 1
                     FROM pg_catalog.pg_class AS c
                     JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                     WHERE n.nspname = $1
                       AND c.relname = $2
                       AND c.relkind IN ('r', 'p')
                 ) AS present",
                &[&schema, &name],
            )
            .await?
            .get("present");
        if !exists {
            return Ok(None);
        }
    }
    Ok(Some(
        rows.iter()
            .map(|r| TargetColumn {
                name: r.get("name"),
                type_name: r.get("type_name"),
                generated: r.get("generated"),
                required: r.get("required"),
            })
            .collect(),
    ))
}

/// Why the backup's table cannot be loaded into the target's, if it cannot.
pub fn incompatibilities(table: &TableToLoad, target: &[TargetColumn]) -> Vec<String> {
    let mut problems = Vec::new();
    for column in &table.columns {
        match target.iter().find(|t| t.name == column.name) {
            None => problems.push(format!("column {} is missing", column.name)),
            Some(t) if t.generated => problems.push(format!(
                "column {} is generated in the target but not in the backup",
                column.name
            )),
            Some(t) if !same_type(&t.type_name, &column.type_name) => problems.push(format!(
                "column {} is {} in the target but {} in the backup",
                column.name, t.type_name, column.type_name
            )),
            Some(_) => {}
        }
    }
    for name in &table.generated {
        match target.iter().find(|t| t.name == *name) {
            None => problems.push(format!(
                "column {name} (generated in the backup) is missing"
            )),
            Some(t) if !t.generated => problems.push(format!(
                "column {name} is generated in the backup but not in the target (it would \
                 load as NULL or its default instead of the computed value)"
            )),
            Some(_) => {}
        }
    }
    for t in target {
        let in_backup =
            table.columns.iter().any(|c| c.name == t.name) || table.generated.contains(&t.name);
        if t.required && !in_backup {
            problems.push(format!(
                "column {} is NOT NULL without a default in the target and not in the backup",
                t.name
            ));
        }
    }
    problems
}

/// Type names as `format_type` writes them; a backup that recorded no type matches any.
fn same_type(target: &str, backup: &str) -> bool {
    backup.is_empty() || target.eq_ignore_ascii_case(backup)
}

/// Whether the table holds at least one row (visible to this transaction).
pub async fn has_rows(client: &impl GenericClient, qualified: &str) -> Result<bool> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {qualified}) AS has_rows");
    Ok(client.query_one(&sql, &[]).await?.get("has_rows"))
}

/// Which of `tables` exist in the target (as tables or partitioned tables), by display name.
pub async fn existing(client: &impl GenericClient, tables: &[TableToLoad]) -> Result<Vec<String>> {
    let schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let rows = client
        .query(
            "SELECT n.nspname::text AS schema_name, c.relname::text AS table_name
             FROM pg_catalog.pg_class AS c
             JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p')
               AND (n.nspname::text, c.relname::text) IN (
                   SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&schemas, &names],
        )
        .await
        .context("cannot look for the backup's tables in the target")?;
    Ok(rows
        .iter()
        .map(|r| {
            format!(
                "{}.{}",
                r.get::<_, String>("schema_name"),
                r.get::<_, String>("table_name")
            )
        })
        .collect())
}

/// What to do with a backup table the target lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingTables {
    /// Refuse the restore (a real restore must not drop data on the floor).
    Refuse,
    /// Leave them out and say so (a restore test into a freshly migrated scratch database).
    Report,
}

/// Checks that every table exists in the target with compatible columns. Returns the tables
/// left out (with `MissingTables::Report`); fails naming every problem otherwise.
pub async fn check_tables(
    client: &impl GenericClient,
    tables: &mut Vec<TableToLoad>,
    missing: MissingTables,
    database: &str,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut left_out = Vec::new();
    let mut kept = Vec::new();
    for table in tables.drain(..) {
        match columns(client, &table.schema, &table.name).await? {
            None if missing == MissingTables::Report => left_out.push(table.display_name()),
            None => problems.push(format!("table {} does not exist", table.display_name())),
            Some(target) => {
                for p in incompatibilities(&table, &target) {
                    problems.push(format!("{}: {p}", table.display_name()));
                }
                kept.push(table);
            }
        }
    }
    *tables = kept;
    if problems.is_empty() {
        return Ok(left_out);
    }
    Err(crate::error::Failure::usage(format!(
        "database {database} does not fit the backup: {}",
        problems.join("; ")
    ))
    .with_hint(
        "restore into a database created by `palmdb migrate` at the backup's schema version, \
         or narrow the restore with --table",
    )
    .into())
}

/// Refuses a target whose schema version differs from the backup's.
pub fn check_schema_version(
    database: &str,
    target: Option<i64>,
    backup: Option<i64>,
) -> Result<()> {
    if target == backup {
        return Ok(());
    }
    let show = |v: Option<i64>| v.map_or("none (never migrated)".to_string(), |v| v.to_string());
    let hint = match backup {
        Some(b) if target.is_none_or(|t| t < b) => format!(
            "bring the database to the backup's version first: palmdb migrate --target-version {b}"
        ),
        Some(b) => format!(
            "restore into a new database migrated to the backup's version \
             (createdb NEW && palmdb --database-url .../NEW migrate --target-version {b}), \
             then run `palmdb migrate` there to bring it up to date"
        ),
        None => "the backup comes from a database palmdb never migrated: restore it into a \
                 database with the same tables and no palmdb migrations"
            .to_string(),
    };
    Err(crate::error::Failure::usage(format!(
        "database {database} is at schema version {}, the backup at {}",
        show(target),
        show(backup)
    ))
    .with_hint(hint)
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::plan::ColumnToLoad;

    fn column(name: &str, type_name: &str, generated: bool, required: bool) -> TargetColumn {
        TargetColumn {
            name: name.into(),
            type_name: type_name.into(),
            generated,
            required,
        }
    }

    fn table(columns: &[(&str, &str)]) -> TableToLoad {
        TableToLoad {
            schema: "public".into(),
            name: "t".into(),
            columns: columns
                .iter()
                .map(|(n, t)| ColumnToLoad {
                    name: n.to_string(),
                    type_name: t.to_string(),
                })
                .collect(),
            generated: vec![],
            rows: 0,
            file: "f".into(),
            sha256: String::new(),
        }
    }

    #[test]
    fn every_incompatibility_is_named() {
        let target = [
            column("id", "bigint", false, true),
            column("total", "numeric", true, false),
            column("note", "text", false, false),
            column("must", "text", false, true),
        ];
        let problems = incompatibilities(
            &table(&[("id", "integer"), ("total", "numeric"), ("gone", "text")]),
            &target,
        );
        assert_eq!(
            problems,
            [
                "column id is bigint in the target but integer in the backup",
                "column total is generated in the target but not in the backup",
                "column gone is missing",
                "column must is NOT NULL without a default in the target and not in the backup",
            ]
        );
        assert!(
            incompatibilities(&table(&[("id", "bigint"), ("must", "text")]), &target).is_empty()
        );
    }

    #[test]
    fn schema_versions_must_match_and_the_hint_says_what_to_run() {
        assert!(check_schema_version("palm", Some(3), Some(3)).is_ok());
        assert!(check_schema_version("palm", None, None).is_ok());
        let err = check_schema_version("palm", None, Some(3)).unwrap_err();
        let hint = crate::error::failure_of(&err)
            .unwrap()
            .hint
            .clone()
            .unwrap();
        assert!(hint.contains("palmdb migrate --target-version 3"), "{hint}");
        let err = check_schema_version("palm", Some(5), Some(3)).unwrap_err();
        assert!(
            err.to_string()
                .contains("at schema version 5, the backup at 3"),
            "{err}"
        );
        let hint = crate::error::failure_of(&err)
            .unwrap()
            .hint
            .clone()
            .unwrap();
        assert!(hint.contains("new database"), "{hint}");
    }
}
