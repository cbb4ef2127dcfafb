//! What to back up, read from the catalog inside the backup's snapshot: the tables of the chosen
//! schemas with their columns, the sequences, and facts about the server for the manifest.
//! Nothing here is a hard-coded list of tables.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::archive::manifest::{ColumnEntry, SequenceEntry};
use crate::archive::row_codec::JsonKind;
use crate::error::Failure;
use crate::migrate::history::HISTORY_TABLE;
use crate::sql_quote::quote_ident;

/// palmdb's own schema: skipped unless asked for with `--schema palmdb`.
pub const PALMDB_SCHEMA: &str = "palmdb";

/// Which tables to back up, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Schemas to back up whole; empty means `public` (unless `tables` names others).
    pub schemas: Vec<String>,
    /// Only these tables (`name` or `schema.name`).
    pub tables: Vec<String>,
    /// Not these tables (`name` or `schema.name`).
    pub exclude_tables: Vec<String>,
}

/// A table to back up.
#[derive(Debug, Clone)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub oid: u32,
    /// Rough size on disk, to start with the biggest tables and to size progress bars.
    pub estimated_bytes: i64,
    pub estimated_rows: i64,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub entry: ColumnEntry,
    /// How its text is written in JSON (from its base type).
    pub kind: JsonKind,
    /// Its base type's `pg_type.typname` (domains resolved), for masking rules.
    pub base_type: String,
}

impl Table {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `"schema"."name"`, quoted by PostgreSQL's own rules.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The columns present in the rows: all but generated ones.
    pub fn row_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.iter().filter(|c| !c.entry.generated)
    }

    /// `pattern` is `name` (a name may itself hold dots) or `schema.name`.
    fn matches(&self, pattern: &str) -> bool {
        self.name == pattern
            || pattern
                .split_once('.')
                .is_some_and(|(schema, name)| self.schema == schema && self.name == name)
    }
}

const TABLES_SQL: &str = "
SELECT n.nspname::text AS schema_name,
       c.relname::text AS table_name,
       c.oid AS table_oid,
       pg_catalog.pg_relation_size(c.oid) AS estimated_bytes,
       greatest(c.reltuples, 0)::bigint AS estimated_rows
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n
  ON n.oid = c.relnamespace
-- Plain tables only: a partitioned table's rows live in its partitions, which are plain tables.
WHERE c.relkind = 'r'
  AND n.nspname = ANY($1)
ORDER BY n.nspname, c.relname";

// A domain's base type may itself be a domain: follow the chain to the real base type, whose
// name decides how values are written in JSON.
const COLUMNS_SQL: &str = "
WITH RECURSIVE base AS (
    SELECT t.oid AS type_oid, t.oid AS base_oid, t.typtype, t.typbasetype
    FROM pg_catalog.pg_type AS t
    UNION ALL
    SELECT b.type_oid, t.oid, t.typtype, t.typbasetype
    FROM base AS b
    JOIN pg_catalog.pg_type AS t
      ON t.oid = b.typbasetype
    WHERE b.typtype = 'd'
)
SELECT a.attrelid AS table_oid,
       a.attname::text AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name,
       bt.typname::text AS base_type,
       a.attgenerated <> '' AS is_generated,
       a.attidentity <> '' AS is_identity,
       a.attnotnull AS not_null
FROM pg_catalog.pg_attribute AS a
JOIN base AS b
  ON b.type_oid = a.atttypid
 AND b.typtype <> 'd'
JOIN pg_catalog.pg_type AS bt
  ON bt.oid = b.base_oid
WHERE a.attrelid = ANY($1)
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum";

/// The tables chosen by `selection`, biggest first, with their columns.
pub async fn tables(client: &Client, selection: &Selection) -> Result<Vec<Table>> {
    let schemas = schemas_to_read(selection);
    let rows = client
        .query(TABLES_SQL, &[&schemas])
        .await
        .context("cannot list the tables to back up")?;
    let mut tables: Vec<Table> = rows
        .iter()
        .map(|row| Table {
            schema: row.get("schema_name"),
            name: row.get("table_name"),
            oid: row.get("table_oid"),
            estimated_bytes: row.get("estimated_bytes"),
            estimated_rows: row.get("estimated_rows"),
            columns: Vec::new(),
        })
        .collect();
    tables.retain(|t| is_selected(t, selection));
    for wanted in &selection.tables {
        if !tables.iter().any(|t| t.matches(wanted)) {
            return Err(Failure::usage(format!("no table \"{wanted}\" to back up"))
                .with_hint("name a table of the chosen schemas, as NAME or SCHEMA.NAME")
                .into());
        }
    }
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let rows = client
        .query(COLUMNS_SQL, &[&oids])
        .await
        .context("cannot read the columns of the tables to back up")?;
    for row in rows {
        let oid: u32 = row.get("table_oid");
        let base_type: String = row.get("base_type");
        let column = Column {
            kind: JsonKind::for_base_type(&base_type),
            base_type,
            entry: ColumnEntry {
                name: row.get("column_name"),
                type_name: row.get("type_name"),
                generated: row.get("is_generated"),
                identity: row.get("is_identity"),
                not_null: row.get("not_null"),
            },
        };
        if let Some(table) = tables.iter_mut().find(|t| t.oid == oid) {
            table.columns.push(column);
        }
    }
    tables.sort_by(|a, b| {
        b.estimated_bytes
            .cmp(&a.estimated_bytes)
            .then_with(|| a.qualified_name().cmp(&b.qualified_name()))
    });
    Ok(tables)
}

/// The schemas to read: those asked for (`public` when none is), plus those of
/// schema-qualified `--table`s.
fn schemas_to_read(selection: &Selection) -> Vec<String> {
    let mut schemas = selection.schemas.clone();
    if schemas.is_empty() {
        schemas.push("public".to_string());
    }
    for table in &selection.tables {
        if let Some((schema, _)) = table.split_once('.') {
            schemas.push(schema.to_string());
        }
    }
    schemas.sort();
    schemas.dedup();
    schemas
}

fn is_selected(table: &Table, selection: &Selection) -> bool {
    if selection.exclude_tables.iter().any(|p| table.matches(p)) {
        return false;
    }
    if !selection.tables.is_empty() {
        return selection.tables.iter().any(|p| table.matches(p));
    }
    // Bookkeeping is not data: skipped unless its schema or the table is asked for by name.
    let asked_schema = selection.schemas.iter().any(|s| s == &table.schema);
    let bookkeeping = table.schema == PALMDB_SCHEMA || table.name == HISTORY_TABLE;
    !bookkeeping || (asked_schema && table.schema == PALMDB_SCHEMA)
}

const SEQUENCES_SQL: &str = "
SELECT s.schemaname::text AS schema_name,
       s.sequencename::text AS sequence_name,
       -- NULL when the sequence was never used (or cannot be read): setval(start, false).
       coalesce(s.last_value, s.start_value) AS last_value,
       s.last_value IS NOT NULL AS is_called,
       (SELECT tn.nspname || '.' || tc.relname || '.' || ta.attname
        FROM pg_catalog.pg_depend AS d
        JOIN pg_catalog.pg_class AS tc
          ON tc.oid = d.refobjid
        JOIN pg_catalog.pg_namespace AS tn
          ON tn.oid = tc.relnamespace
        JOIN pg_catalog.pg_attribute AS ta
          ON ta.attrelid = d.refobjid
         AND ta.attnum = d.refobjsubid
        WHERE d.classid = 'pg_catalog.pg_class'::regclass
          AND d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass
          AND d.refclassid = 'pg_catalog.pg_class'::regclass
          AND d.deptype IN ('a', 'i')
        LIMIT 1) AS owned_by
FROM pg_catalog.pg_sequences AS s
WHERE s.schemaname = ANY($1)
ORDER BY s.schemaname, s.sequencename";

/// Sequence values of the backed-up schemas. Read after the data, so every value is at least
/// the one any backed-up row used (sequences are not transactional).
pub async fn sequences(client: &Client, tables: &[Table]) -> Result<Vec<SequenceEntry>> {
    let mut schemas: Vec<String> = tables.iter().map(|t| t.schema.clone()).collect();
    schemas.sort();
    schemas.dedup();
    let rows = client
        .query(SEQUENCES_SQL, &[&schemas])
        .await
        .context("cannot read the sequences")?;
    Ok(rows
        .iter()
        .map(|row| SequenceEntry {
            schema: row.get("schema_name"),
            name: row.get("sequence_name"),
            last_value: row.get("last_value"),
            is_called: row.get("is_called"),
            owned_by: row.get("owned_by"),
        })
        .collect())
}

/// Facts about the server and database, for the manifest.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub database: String,
    pub server_version: String,
    pub server_version_num: i32,
    pub schema_version: Option<i64>,
    pub schema_version_name: Option<String>,
}

const SERVER_SQL: &str = "
SELECT current_database()::text AS database_name,
       current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       -- The history table may be missing, or unreadable by a least-privilege role.
       coalesce(has_table_privilege(to_regclass($1), 'SELECT'), false) AS history_readable";

pub async fn server_facts(client: &Client) -> Result<ServerFacts> {
    let row = client
        .query_one(SERVER_SQL, &[&HISTORY_TABLE])
        .await
        .context("cannot read the server version")?;
    let mut facts = ServerFacts {
        database: row.get("database_name"),
        server_version: row.get("server_version"),
        server_version_num: row.get("server_version_num"),
        schema_version: None,
        schema_version_name: None,
    };
    if row.get::<_, bool>("history_readable") {
        let sql = format!(
            "SELECT version::bigint AS version, name AS name FROM {} ORDER BY version DESC LIMIT 1",
            quote_ident(HISTORY_TABLE)
        );
        if let Some(latest) = client
            .query_opt(&sql, &[])
            .await
            .context("cannot read the schema version")?
        {
            facts.schema_version = Some(latest.get("version"));
            facts.schema_version_name = Some(latest.get("name"));
        }
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: &str, name: &str) -> Table {
        Table {
            schema: schema.into(),
            name: name.into(),
            oid: 0,
            estimated_bytes: 0,
            estimated_rows: 0,
            columns: vec![],
        }
    }

    #[test]
    fn bookkeeping_is_skipped_unless_asked() {
        let default = Selection::default();
        assert!(is_selected(&table("public", "users"), &default));
        assert!(!is_selected(&table("public", HISTORY_TABLE), &default));
        let by_name = Selection {
            tables: vec![HISTORY_TABLE.into()],
            ..Selection::default()
        };
        assert!(is_selected(&table("public", HISTORY_TABLE), &by_name));
        let palmdb = Selection {
            schemas: vec![PALMDB_SCHEMA.into()],
            ..Selection::default()
        };
        assert!(is_selected(
            &table(PALMDB_SCHEMA, "schema_objects"),
            &palmdb
        ));
        let excluded = Selection {
            exclude_tables: vec!["public.users".into()],
            ..Selection::default()
        };
        assert!(!is_selected(&table("public", "users"), &excluded));
        assert_eq!(schemas_to_read(&default), ["public"]);
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
