//! Names as a statement writes them → tables and columns in the catalog. Tables are found with
//! `to_regclass`, so the search_path decides as it does for the application; a column is
//! matched by its qualifier (alias or table name) or, unqualified, by the one table of its
//! scope that has it. Names that do not resolve (a correlated outer column, a function's
//! result) are left out: they only cost a candidate, never a wrong one.
//! palmdb's own schema and the system catalogs are never advised on.

use std::collections::HashMap;

use anyhow::Result;
use tokio_postgres::Client;

use super::statement::{Analysis, Bound, ColumnName, ParamTarget, TableRef};
use crate::sql_quote::quote_ident;

/// Schemas whose tables are not the application's.
const NOT_ADVISED: [&str; 4] = ["pg_catalog", "information_schema", "pg_toast", "palmdb"];

/// A table a statement reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `schema.name`, quoted where PostgreSQL would quote.
    pub qualified: String,
    pub columns: Vec<String>,
}

/// What one scope asks of one table, in catalog names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableNeeds {
    pub table_oid: u32,
    pub equal: Vec<String>,
    pub range: Vec<String>,
    pub row_ranges: Vec<Vec<String>>,
    /// The ORDER BY, when all of it is on this table: (column, descending).
    pub sort: Vec<(String, bool)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Column {
        table_oid: u32,
        column: String,
        bound: Bound,
    },
    Limit,
    Offset,
    Output,
}

#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub needs: Vec<TableNeeds>,
    pub params: Vec<(i32, ParamValue)>,
    /// Every table the statement reads that palmdb may advise on.
    pub table_oids: Vec<u32>,
}

/// Tables looked up once per run, whatever the number of statements naming them.
#[derive(Default)]
pub struct Catalog {
    tables: HashMap<(Option<String>, String), Option<Table>>,
    by_oid: HashMap<u32, Table>,
    partial_constants: HashMap<u32, Vec<(String, String)>>,
}

impl Catalog {
    /// The constant a valid partial index of the table compares `column` with, if any
    /// (see `partial`).
    pub async fn partial_constant(
        &mut self,
        client: &Client,
        table_oid: u32,
        column: &str,
    ) -> Result<Option<String>> {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            self.partial_constants.entry(table_oid)
        {
            let rows = client
                .query(
                    "SELECT pg_get_expr(i.indpred, i.indrelid) AS predicate
                     FROM pg_index AS i
                     WHERE i.indrelid = $1 AND i.indisvalid AND i.indpred IS NOT NULL
                     ORDER BY i.indexrelid",
                    &[&table_oid],
                )
                .await?;
            slot.insert(
                rows.iter()
                    .flat_map(|r| super::partial::equalities(r.get("predicate")))
                    .collect(),
            );
        }
        Ok(self.partial_constants[&table_oid]
            .iter()
            .find(|(c, _)| c == column)
            .map(|(_, v)| v.clone()))
    }

    pub fn table_by_oid(&self, oid: u32) -> Option<&Table> {
        self.by_oid.get(&oid)
    }

    async fn table(&mut self, client: &Client, reference: &TableRef) -> Result<Option<Table>> {
        let key = (reference.schema.clone(), reference.name.clone());
        if let Some(known) = self.tables.get(&key) {
            return Ok(known.clone());
        }
        let name = match &reference.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&reference.name)),
            None => quote_ident(&reference.name),
        };
        let row = client
            .query_opt(
                "SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name,
                        format('%I.%I', n.nspname, c.relname) AS qualified,
                        ARRAY(SELECT a.attname::text
                              FROM pg_attribute AS a
                              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                              ORDER BY a.attnum) AS columns
                 FROM pg_class AS c
                 JOIN pg_namespace AS n ON n.oid = c.relnamespace
                 WHERE c.oid = to_regclass($1)
                     AND c.relkind IN ('r', 'p', 'm')",
                &[&name],
            )
            .await?;
        let table = row
            .map(|r| Table {
                oid: r.get("oid"),
                schema: r.get("schema"),
                name: r.get("name"),
                qualified: r.get("qualified"),
                columns: r.get("columns"),
            })
            .filter(|t| !NOT_ADVISED.contains(&t.schema.as_str()));
        if let Some(t) = &table {
            self.by_oid.insert(t.oid, t.clone());
        }
        self.tables.insert(key, table.clone());
        Ok(table)
    }
}

/// Matches an analysed statement's names against the catalog.
pub async fn resolve(
    client: &Client,
    catalog: &mut Catalog,
    analysis: &Analysis,
) -> Result<Resolved> {
    let mut resolved = Resolved::default();
    let mut scopes = Vec::new();
    for scope in &analysis.scopes {
        let mut tables = Vec::new();
        for reference in &scope.tables {
            tables.push((reference.clone(), catalog.table(client, reference).await?));
        }
        for table in tables.iter().filter_map(|(_, t)| t.as_ref()) {
            if !resolved.table_oids.contains(&table.oid) {
                resolved.table_oids.push(table.oid);
            }
        }
        let mut needs: Vec<TableNeeds> = Vec::new();
        let mut plan = Vec::new();
        for column in &scope.equal {
            if let Some((oid, name)) = find_column(&tables, column) {
                plan.push((oid, 0, name));
            }
        }
        for column in &scope.range {
            if let Some((oid, name)) = find_column(&tables, column) {
                plan.push((oid, 1, name));
            }
        }
        for (oid, kind, name) in plan {
            let i = needs_index(&mut needs, oid);
            let list = if kind == 0 {
                &mut needs[i].equal
            } else {
                &mut needs[i].range
            };
            if !list.contains(&name) {
                list.push(name);
            }
        }
        for row in &scope.row_ranges {
            let found: Vec<(u32, String)> =
                row.iter().filter_map(|c| find_column(&tables, c)).collect();
            let same_table = found.len() == row.len() && found.iter().all(|f| f.0 == found[0].0);
            if same_table && !found.is_empty() {
                let i = needs_index(&mut needs, found[0].0);
                needs[i]
                    .row_ranges
                    .push(found.into_iter().map(|f| f.1).collect());
            }
        }
        let sort: Vec<(u32, String, bool)> = scope
            .sort
            .iter()
            .filter_map(|(c, desc)| find_column(&tables, c).map(|(oid, name)| (oid, name, *desc)))
            .collect();
        if !sort.is_empty()
            && sort.len() == scope.sort.len()
            && sort.iter().all(|s| s.0 == sort[0].0)
        {
            let i = needs_index(&mut needs, sort[0].0);
            needs[i].sort = sort.into_iter().map(|s| (s.1, s.2)).collect();
        }
        resolved.needs.extend(needs);
        scopes.push(tables);
    }
    for (number, target) in &analysis.params {
        let value = match target {
            ParamTarget::Limit => Some(ParamValue::Limit),
            ParamTarget::Offset => Some(ParamValue::Offset),
            ParamTarget::Output => Some(ParamValue::Output),
            ParamTarget::Column {
                scope,
                column,
                bound,
            } => scopes
                .get(*scope)
                .and_then(|tables| find_column(tables, column))
                .map(|(table_oid, column)| ParamValue::Column {
                    table_oid,
                    column,
                    bound: *bound,
                }),
        };
        if let Some(value) = value {
            resolved.params.push((*number, value));
        }
    }
    Ok(resolved)
}

/// The position of `oid`'s entry in `needs`, added when missing.
fn needs_index(needs: &mut Vec<TableNeeds>, oid: u32) -> usize {
    match needs.iter().position(|n| n.table_oid == oid) {
        Some(i) => i,
        None => {
            needs.push(TableNeeds {
                table_oid: oid,
                ..Default::default()
            });
            needs.len() - 1
        }
    }
}

/// The table (by OID) and catalog name of a column written in a scope.
fn find_column(tables: &[(TableRef, Option<Table>)], column: &ColumnName) -> Option<(u32, String)> {
    let has = |t: &Table| t.columns.iter().any(|c| c == &column.column);
    let found: Vec<&Table> = match &column.qualifier {
        Some(qualifier) => tables
            .iter()
            .filter(|(r, _)| match &r.alias {
                Some(alias) => alias == qualifier,
                None => &r.name == qualifier,
            })
            .filter_map(|(_, t)| t.as_ref())
            .filter(|t| has(t))
            .collect(),
        None => tables
            .iter()
            .filter_map(|(_, t)| t.as_ref())
            .filter(|t| has(t))
            .collect(),
    };
    match found.as_slice() {
        [one] => Some((one.oid, column.column.clone())),
        _ => None,
    }
}
