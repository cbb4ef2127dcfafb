//! What the backup reads from the catalog inside its snapshot: the chosen tables' columns, the
//! sequences' values, and facts about the server for the manifest. Which tables and sequences
//! are chosen is [`super::selection`]'s job. Nothing here is a hard-coded list of tables.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::archive::manifest::{ColumnEntry, SequenceEntry};
use crate::archive::row_codec::JsonKind;
use crate::error::Failure;
use crate::migrate::history::HISTORY_TABLE;
use crate::sql_quote::quote_ident;

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
}

/// The chosen tables whose row-level security policies apply to the backup's role, sorted.
/// Checked before any row is read, so the error names every such table at once, whichever
/// table a parallel copy would have reached first. (`row_security_active` answers for the
/// current role: owner, `FORCE ROW LEVEL SECURITY`, `BYPASSRLS` and superuser included.)
pub async fn hidden_by_policies(client: &Client, tables: &[Table]) -> Result<Vec<String>> {
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    let rows = client
        .query(
            "SELECT c.oid
             FROM pg_catalog.pg_class AS c
             WHERE c.oid = ANY($1) AND c.relrowsecurity
               AND pg_catalog.row_security_active(c.oid)",
            &[&oids],
        )
        .await
        .context("cannot check the tables' row-level security")?;
    let hidden: Vec<u32> = rows.iter().map(|r| r.get(0)).collect();
    let mut names: Vec<String> = tables
        .iter()
        .filter(|t| hidden.contains(&t.oid))
        .map(Table::qualified_name)
        .collect();
    names.sort();
    Ok(names)
}

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

/// The columns of `tables` (chosen by [`super::selection`]), then the tables biggest first.
pub async fn with_columns(client: &Client, mut tables: Vec<Table>) -> Result<Vec<Table>> {
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

const SEQUENCES_SQL: &str = "
SELECT s.oid AS sequence_oid,
       n.nspname::text AS schema_name,
       s.relname::text AS sequence_name,
       pg_catalog.has_sequence_privilege(s.oid, 'SELECT') AS readable,
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
          AND d.objid = s.oid
          AND d.refclassid = 'pg_catalog.pg_class'::regclass
          AND d.deptype IN ('a', 'i')
        LIMIT 1) AS owned_by
FROM pg_catalog.pg_class AS s
JOIN pg_catalog.pg_namespace AS n
  ON n.oid = s.relnamespace
WHERE s.oid = ANY($1)
ORDER BY n.nspname, s.relname";

/// Sequences read in one query, at most this many at a time.
const SEQUENCES_PER_QUERY: usize = 200;

/// The values of the sequences `oids` (chosen by [`super::selection`]). Read after the data,
/// so every value is at least the one any backed-up row used (sequences are not
/// transactional). A sequence the role may not read fails the backup: recording a made-up
/// value would restore a sequence that hands out keys already taken.
pub async fn sequences(client: &Client, oids: &[u32]) -> Result<Vec<SequenceEntry>> {
    let rows = client
        .query(SEQUENCES_SQL, &[&oids])
        .await
        .context("cannot list the sequences")?;
    let unreadable: Vec<String> = rows
        .iter()
        .filter(|r| !r.get::<_, bool>("readable"))
        .map(|r| {
            format!(
                "{}.{}",
                r.get::<_, String>("schema_name"),
                r.get::<_, String>("sequence_name")
            )
        })
        .collect();
    if !unreadable.is_empty() {
        return Err(Failure::operation(format!(
            "cannot read sequence{} {}: permission denied, and a backup without {} values \
             would restore keys that are already taken",
            if unreadable.len() == 1 { "" } else { "s" },
            unreadable.join(", "),
            if unreadable.len() == 1 {
                "its"
            } else {
                "their"
            },
        ))
        .with_hint(format!(
            "GRANT SELECT ON SEQUENCE {} TO the backup role, or back up as their owner",
            unreadable.join(", ")
        ))
        .into());
    }
    let mut entries = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(SEQUENCES_PER_QUERY) {
        // One SELECT per sequence, glued together: last_value and is_called as stored,
        // exactly what setval needs (pg_sequences hides is_called).
        let selects: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "SELECT {i} AS position, last_value, is_called FROM {}.{}",
                    quote_ident(r.get("schema_name")),
                    quote_ident(r.get("sequence_name"))
                )
            })
            .collect();
        let values = client
            .query(&selects.join(" UNION ALL "), &[])
            .await
            .context("cannot read the sequences' values")?;
        for value in values {
            let row = &chunk[value.get::<_, i32>("position") as usize];
            entries.push(SequenceEntry {
                schema: row.get("schema_name"),
                name: row.get("sequence_name"),
                last_value: value.get("last_value"),
                is_called: value.get("is_called"),
                owned_by: row.get("owned_by"),
            });
        }
    }
    entries.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(entries)
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
