//! What a restore did, for people (text) and for scripts (`--json`).

use std::time::Instant;

use serde::Serialize;

use super::sequences::SequenceFix;

/// One table loaded (or, with `--dry-run`, that would be): what `load` returns and the
/// report lists.
#[derive(Debug, Clone, Serialize)]
pub struct TableOutcome {
    pub table: String,
    pub rows: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub backup: String,
    /// The database the backup was taken from.
    pub source_database: String,
    /// The database restored into.
    pub database: String,
    pub dry_run: bool,
    pub clean: bool,
    /// Tables loaded (or, with `dry_run`, that would be), in load order.
    pub tables: Vec<TableOutcome>,
    /// Tables of the backup the target lacks, left out (restore test only).
    pub not_restored: Vec<String>,
    /// Whether the tables were created from the backup's schema (the target had none).
    pub schema_created: bool,
    /// Whether the database itself was created (`--create-database`), and over how many
    /// connections it was loaded.
    pub database_created: bool,
    pub jobs: usize,
    /// Migration bookkeeping of the backup not loaded: the prepared target keeps its own,
    /// written by `palmdb migrate` at the same schema version.
    pub kept_from_target: Vec<String>,
    /// Derived tables recomputed and materialized views refreshed after the load.
    pub recomputed: Vec<String>,
    pub sequences: Vec<SequenceFix>,
    pub rows: u64,
    pub seconds: f64,
}

impl RestoreReport {
    pub fn new(backup: &str, source: &str, database: &str, dry_run: bool, clean: bool) -> Self {
        RestoreReport {
            backup: backup.to_string(),
            source_database: source.to_string(),
            database: database.to_string(),
            dry_run,
            clean,
            tables: Vec::new(),
            not_restored: Vec::new(),
            schema_created: false,
            database_created: false,
            jobs: 1,
            kept_from_target: Vec::new(),
            recomputed: Vec::new(),
            sequences: Vec::new(),
            rows: 0,
            seconds: 0.0,
        }
    }

    pub fn finish(&mut self, started: Instant) {
        self.rows = self.tables.iter().map(|t| t.rows).sum();
        self.seconds = started.elapsed().as_secs_f64();
    }
}

impl crate::ui::Report for RestoreReport {
    fn render_text(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            out.push_str(&format!(
                "dry run: would restore backup {} into database {}{}, in this order:\n",
                self.backup,
                self.database,
                if self.clean {
                    " after emptying the tables (--clean)"
                } else {
                    ""
                }
            ));
        }
        for table in &self.tables {
            if self.dry_run {
                out.push_str(&format!("  {:<40} {:>12} rows\n", table.table, table.rows));
            } else {
                out.push_str(&format!(
                    "restored {:<40} {:>12} rows {:>8.1} s\n",
                    table.table, table.rows, table.seconds
                ));
            }
        }
        if self.database_created {
            out.push_str(&if self.dry_run {
                format!(
                    "database {} would be created, over {} connections, and named only once complete\n",
                    self.database, self.jobs
                )
            } else {
                format!(
                    "created database {} over {} connections; it got its name once complete\n",
                    self.database, self.jobs
                )
            });
        }
        if self.schema_created {
            out.push_str(if self.dry_run {
                "the tables would be created from the backup's schema (the database has none of them)\n"
            } else {
                "created the tables from the backup's schema (types, tables and sequences before the rows; indexes, constraints and triggers after)\n"
            });
        }
        for table in &self.kept_from_target {
            out.push_str(&format!(
                "kept {table} as palmdb migrate wrote it (same schema version)\n"
            ));
        }
        for table in &self.recomputed {
            out.push_str(&format!("recomputed {table} from the restored rows\n"));
        }
        for table in &self.not_restored {
            out.push_str(&format!(
                "not restored {table}: the database has no such table\n"
            ));
        }
        for fix in &self.sequences {
            if let Some(at) = fix.restarted_at {
                out.push_str(&format!("sequence {} restarted at {at}\n", fix.sequence));
            }
        }
        if !self.dry_run {
            out.push_str(&format!(
                "backup {} restored into database {}: {}, {} rows in {:.1} s\n",
                self.backup,
                self.database,
                crate::ui::human::counted(self.tables.len() as u64, "table", "tables"),
                self.rows,
                self.seconds
            ));
        }
        out
    }
}
