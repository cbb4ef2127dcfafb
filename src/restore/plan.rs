//! What a restore loads: the backup's tables, narrowed by `--table`, each with the columns its
//! rows hold and the `COPY` statement that loads them.

use anyhow::Result;

use crate::archive::{Manifest, TableEntry};
use crate::error::Failure;
use crate::sql_quote::quote_ident;

/// A column the backup's rows hold (generated columns are never in the rows).
#[derive(Debug, Clone)]
pub struct ColumnToLoad {
    pub name: String,
    /// `format_type` of the column in the source; empty when the source did not say.
    pub type_name: String,
}

/// One table to load.
#[derive(Debug, Clone)]
pub struct TableToLoad {
    pub schema: String,
    pub name: String,
    pub columns: Vec<ColumnToLoad>,
    /// Columns generated in the source: not in the rows, and they must be generated in the
    /// target too.
    pub generated: Vec<String>,
    /// Rows the backup holds for it (the manifest's count).
    pub rows: u64,
    /// Its file in the backup.
    pub file: String,
    /// The file's SHA-256 as the manifest gives it, checked again as the file is read.
    pub sha256: String,
}

impl TableToLoad {
    pub fn from_entry(entry: &TableEntry) -> TableToLoad {
        TableToLoad {
            schema: entry.schema.clone(),
            name: entry.name.clone(),
            columns: entry
                .row_columns()
                .map(|c| ColumnToLoad {
                    name: c.name.clone(),
                    type_name: c.type_name.clone(),
                })
                .collect(),
            generated: entry
                .columns
                .iter()
                .filter(|c| c.generated)
                .map(|c| c.name.clone())
                .collect(),
            rows: entry.rows,
            file: entry.file.clone(),
            sha256: entry.sha256.clone(),
        }
    }

    /// `schema.table` for people.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// `"schema"."table"` for SQL.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// `COPY "s"."t" ("a", "b") FROM STDIN`, text format. COPY writes identity columns as
    /// given (like `OVERRIDING SYSTEM VALUE`); generated columns are left to the target.
    pub fn copy_sql(&self, freeze: bool) -> String {
        let columns: Vec<String> = self.columns.iter().map(|c| quote_ident(&c.name)).collect();
        // A table without columns has no list to give (its rows are empty lines).
        let list = if columns.is_empty() {
            String::new()
        } else {
            format!(" ({})", columns.join(", "))
        };
        format!(
            "COPY {}{list} FROM STDIN{}",
            self.qualified(),
            if freeze { " WITH (FREEZE)" } else { "" }
        )
    }
}

/// Whether `--table` value `wanted` (`name` or `schema.name`) names this table, or a
/// partitioned table it is a partition of.
fn names_table(wanted: &str, entry: &TableEntry) -> bool {
    let is = |schema: &str, name: &str| wanted == name || wanted == format!("{schema}.{name}");
    is(&entry.schema, &entry.name) || entry.partition_of.iter().any(|p| is(&p.schema, &p.name))
}

/// The manifest's tables, narrowed to `wanted` when it is not empty. A `--table` that names
/// no table of the backup is an error, not a silent no-op.
pub fn select(manifest: &Manifest, wanted: &[String]) -> Result<Vec<TableToLoad>> {
    for w in wanted {
        if !manifest.tables.iter().any(|t| names_table(w, t)) {
            let known: Vec<String> = manifest.tables.iter().map(|t| t.qualified_name()).collect();
            return Err(
                Failure::usage(format!("backup {} has no table \"{w}\"", manifest.id))
                    .with_hint(format!("its tables are: {}", known.join(", ")))
                    .into(),
            );
        }
    }
    Ok(manifest
        .tables
        .iter()
        .filter(|t| wanted.is_empty() || wanted.iter().any(|w| names_table(w, t)))
        .map(TableToLoad::from_entry)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("we\"ird name"), "\"we\"\"ird name\"");
    }

    #[test]
    fn copy_lists_the_row_columns() {
        let table = TableToLoad {
            schema: "public".into(),
            name: "Odd Table".into(),
            columns: vec![
                ColumnToLoad {
                    name: "id".into(),
                    type_name: "bigint".into(),
                },
                ColumnToLoad {
                    name: "x\"y".into(),
                    type_name: "text".into(),
                },
            ],
            generated: vec![],
            rows: 0,
            file: "f".into(),
            sha256: String::new(),
        };
        assert_eq!(
            table.copy_sql(false),
            "COPY \"public\".\"Odd Table\" (\"id\", \"x\"\"y\") FROM STDIN"
        );
    }
}
