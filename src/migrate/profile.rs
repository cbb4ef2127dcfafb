//! What palmdb installs in a database, and what it finds there.
//!
//! Two profiles, declared here and nowhere else:
//! - **Palm** (`palmdb migrate`): Palm's application schema and everything of palmdb's, every
//!   file of `migrations/` and `sql/`, recorded in refinery's `refinery_schema_history`.
//! - **Monitoring** (`palmdb migrate --monitoring-only`): palmdb's own monitoring objects
//!   alone, for any database: the health checks and insights (`sql/health/`, `sql/insights/`)
//!   and the two migrations that create their tables, all in schema `palmdb`, recorded in
//!   `palmdb.monitoring_history` (same columns and checksums as refinery's table). Nothing is
//!   written outside schema `palmdb`, not even a history table in `public`.
//!
//! [`inspect`] reads (and never creates) which of them a database has, so that each command
//! refuses what does not fit: `palmdb migrate` will not create Palm's tables beside someone
//! else's, and the monitoring install will not take over Palm's database or a `palmdb` schema
//! it did not create.

use anyhow::Result;
use tokio_postgres::Client;

use super::history;
use super::source::{ObjectFile, Source, VersionedFile};
use crate::error::Failure;

/// Versioned migrations that belong to the monitoring profile: they create only palmdb's
/// own tables (V10 `palmdb.health_snapshots`, V12 `palmdb.health_thresholds` and the
/// `palmdb.health_check` type). Applied files are never edited, so they cannot carry a
/// marker: a new migration that changes a monitoring table must hold nothing else and be
/// added here (a unit test keeps the others away from `palmdb.health_*`).
pub const MONITORING_MIGRATIONS: &[i32] = &[10, 12];

/// `sql/` folders whose objects read only the catalogs, the statistics views and the tables
/// above. `sql/stats/` is not one: its functions read Palm's tables.
pub const MONITORING_SQL_FOLDERS: &[&str] = &["health/", "insights/"];

/// Where the monitoring profile records its versioned migrations.
pub const MONITORING_HISTORY: &str = "palmdb.monitoring_history";

/// What to do on a database without palmdb's checks and views: the hint of `health`,
/// `queries`, `advise`, `maintain` and `serve` when they are missing.
pub const SETUP_HINT: &str = "run palmdb migrate --monitoring-only to install palmdb's checks \
     and views in schema palmdb alone (on Palm's own database, palmdb migrate installs them)";

/// Which set of palmdb's files a database gets; `palm` or `monitoring` in `migrate status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Palm,
    Monitoring,
}

impl Profile {
    /// The command that brings a database of this profile up to date.
    pub fn command(self) -> &'static str {
        match self {
            Profile::Palm => "palmdb migrate",
            Profile::Monitoring => "palmdb migrate --monitoring-only",
        }
    }

    /// The table its versioned migrations are recorded in.
    pub fn history_table(self) -> &'static str {
        match self {
            Profile::Palm => history::HISTORY_TABLE,
            Profile::Monitoring => MONITORING_HISTORY,
        }
    }

    /// Its versioned migrations, by version.
    pub fn versioned(self, source: &Source) -> Result<Vec<VersionedFile>> {
        let files = source.versioned()?;
        Ok(match self {
            Profile::Palm => files,
            Profile::Monitoring => files
                .into_iter()
                .filter(|f| MONITORING_MIGRATIONS.contains(&f.version))
                .collect(),
        })
    }

    /// Its `sql/` objects, in path order.
    pub fn objects(self, source: &Source) -> Result<Vec<ObjectFile>> {
        let objects = source.objects()?;
        Ok(match self {
            Profile::Palm => objects,
            Profile::Monitoring => objects
                .into_iter()
                .filter(|o| MONITORING_SQL_FOLDERS.iter().any(|f| o.path.starts_with(f)))
                .collect(),
        })
    }
}

/// What palmdb finds in a database: whose history, whose tables.
#[derive(Debug, Clone)]
pub struct Found {
    pub database: String,
    /// Rows of `refinery_schema_history` that are migrations of this source (same version
    /// and name): Palm's history. Rows of another tool's refinery history are not counted.
    pub palm_history: usize,
    /// The newest of them.
    pub palm_version: Option<i32>,
    /// `palmdb.monitoring_history` exists: the monitoring profile was installed.
    pub monitoring_history: bool,
    /// Tables and views of the database's own, outside schema `palmdb` (extensions' members
    /// and a refinery history table not counted).
    pub own_relations: i64,
    /// A few of them, schema-qualified, for messages.
    pub own_examples: Vec<String>,
    /// Objects in schema `palmdb` other than migrate's ledger (`palmdb.schema_objects`).
    pub palmdb_objects: i64,
}

/// Reads what the database holds; creates nothing.
pub async fn inspect(client: &Client, source: &Source) -> Result<Found> {
    let files = source.versioned()?;
    let history = history::read_applied(client).await?;
    let palm: Vec<i32> = history
        .iter()
        .filter(|r| {
            files
                .iter()
                .any(|f| f.version == r.version && f.name == r.name)
        })
        .map(|r| r.version)
        .collect();
    let row = client
        .query_one(
            "SELECT
                 current_database()::text AS database,
                 to_regclass($1) IS NOT NULL AS monitoring_history,
                 own.relations,
                 own.examples,
                 CASE WHEN to_regnamespace('palmdb') IS NULL THEN 0 ELSE (
                     SELECT count(*)
                     FROM pg_catalog.pg_class AS c
                     WHERE c.relnamespace = to_regnamespace('palmdb')
                         AND c.relname NOT IN ('schema_objects', 'schema_objects_pkey')
                 ) + (
                     SELECT count(*)
                     FROM pg_catalog.pg_proc AS p
                     WHERE p.pronamespace = to_regnamespace('palmdb')
                 ) + (
                     -- Types of their own (enums, domains...): not a relation's row type,
                     -- not an array type.
                     SELECT count(*)
                     FROM pg_catalog.pg_type AS t
                     WHERE t.typnamespace = to_regnamespace('palmdb')
                         AND t.typrelid = 0
                         AND t.typcategory <> 'A'
                 ) END AS palmdb_objects
             FROM (
                 SELECT
                     count(*) AS relations,
                     (array_agg(format('%I.%I', n.nspname, c.relname)
                         ORDER BY n.nspname, c.relname))[1:5] AS examples
                 FROM pg_catalog.pg_class AS c
                 JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
                     -- A partitioned table counts once, not once per partition.
                     AND NOT c.relispartition
                     -- pg_catalog, pg_toast, temporary schemas: names starting with pg_ are
                     -- reserved for the system.
                     AND n.nspname !~ '^pg_'
                     AND n.nspname NOT IN ('information_schema', 'palmdb')
                     AND c.relname <> $2
                     -- Members of an extension (pg_stat_statements' view) are the
                     -- extension's, not the database's.
                     AND NOT EXISTS (
                         SELECT 1
                         FROM pg_catalog.pg_depend AS d
                         WHERE d.classid = 'pg_catalog.pg_class'::regclass
                             AND d.objid = c.oid
                             AND d.deptype = 'e'
                     )
             ) AS own",
            &[&MONITORING_HISTORY, &history::HISTORY_TABLE],
        )
        .await?;
    Ok(Found {
        database: row.get("database"),
        palm_history: palm.len(),
        palm_version: palm.iter().copied().max(),
        monitoring_history: row.get("monitoring_history"),
        own_relations: row.get("relations"),
        own_examples: row
            .get::<_, Option<Vec<String>>>("examples")
            .unwrap_or_default(),
        palmdb_objects: row.get("palmdb_objects"),
    })
}

impl Found {
    fn has_palm_history(&self) -> bool {
        self.palm_history > 0
    }

    /// Palm's history and a monitoring install in one database: palmdb cannot tell which
    /// of them is right.
    fn refuse_both(&self) -> Result<()> {
        if !(self.has_palm_history() && self.monitoring_history) {
            return Ok(());
        }
        Err(Failure::operation(format!(
            "database {} has both Palm's migration history ({}, {} migration(s) up to V{}) \
             and a monitoring-only install ({MONITORING_HISTORY})",
            self.database,
            history::HISTORY_TABLE,
            self.palm_history,
            self.palm_version.unwrap_or_default()
        ))
        .with_hint(format!(
            "palmdb cannot tell which to follow: on Palm's own database DROP TABLE \
             {MONITORING_HISTORY} and run palmdb migrate; elsewhere find out who wrote \
             Palm's history into {}",
            history::HISTORY_TABLE
        ))
        .into())
    }

    /// `palmdb migrate` (Palm's profile) goes ahead only on Palm's database or a new one:
    /// never on a monitoring-only install, and, with the built-in migrations, never on a
    /// database that already holds tables but no Palm history (Palm's tables would land
    /// beside someone else's). With `--migrations-dir` the migrations are the caller's own
    /// and may well be meant for the tables already there.
    pub fn refuse_palm_migrate(&self, source: &Source) -> Result<()> {
        self.refuse_both()?;
        if self.monitoring_history {
            return Err(Failure::usage(format!(
                "database {} has palmdb's monitoring objects only (installed by palmdb migrate \
                 --monitoring-only): palmdb migrate would add Palm's application tables to it",
                self.database
            ))
            .with_hint(
                "run palmdb migrate --monitoring-only to bring the monitoring objects up to date",
            )
            .into());
        }
        if self.is_foreign(source) {
            return Err(Failure::usage(format!(
                "database {} is not Palm's: it has no palmdb migration history and holds {} \
                 table(s) or view(s) of its own ({}); palmdb migrate would create Palm's application \
                 tables in it",
                self.database,
                self.own_relations,
                self.examples()
            ))
            .with_hint(
                "to monitor it, install palmdb's monitoring objects alone (schema palmdb): \
                 palmdb migrate --monitoring-only",
            )
            .into());
        }
        Ok(())
    }

    /// Not Palm's database: no Palm history, tables of its own, and the built-in
    /// migrations (which would create Palm's).
    fn is_foreign(&self, source: &Source) -> bool {
        !self.has_palm_history() && self.own_relations > 0 && source.migrations_dir.is_none()
    }

    /// What `palmdb migrate --monitoring-only` may do here.
    pub fn monitoring_target(&self) -> Result<MonitoringTarget> {
        self.refuse_both()?;
        if self.has_palm_history() {
            return Ok(MonitoringTarget::PalmDatabase);
        }
        if !self.monitoring_history && self.palmdb_objects > 0 {
            return Err(Failure::usage(format!(
                "database {} already has a schema palmdb holding {} object(s) that palmdb did \
                 not install",
                self.database, self.palmdb_objects
            ))
            .with_hint(
                "palmdb keeps its monitoring objects in schema palmdb: rename that schema \
                 first (ALTER SCHEMA palmdb RENAME TO ...)",
            )
            .into());
        }
        Ok(MonitoringTarget::Install)
    }

    /// The profile `migrate status` reports on: the one installed, else the monitoring
    /// profile for a database that is not Palm's, else Palm's (a new database).
    pub fn status_profile(&self, source: &Source) -> Result<Profile> {
        self.refuse_both()?;
        Ok(if self.monitoring_history || self.is_foreign(source) {
            Profile::Monitoring
        } else {
            Profile::Palm
        })
    }

    fn examples(&self) -> String {
        let mut text = self.own_examples.join(", ");
        if self.own_relations > self.own_examples.len() as i64 {
            text.push_str(", ...");
        }
        text
    }
}

/// Where `palmdb migrate --monitoring-only` stands on a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitoringTarget {
    /// Palm's database: its monitoring objects come with `palmdb migrate`.
    PalmDatabase,
    /// Any other database (new, foreign, or monitoring-only already): install or upgrade.
    Install,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_named_palm_and_monitoring_in_json() {
        assert_eq!(serde_json::to_value(Profile::Palm).unwrap(), "palm");
        assert_eq!(
            serde_json::to_value(Profile::Monitoring).unwrap(),
            "monitoring"
        );
    }

    #[test]
    fn the_monitoring_profile_is_two_migrations_and_the_health_and_insights_files() {
        let source = Source::default();
        let versions: Vec<i32> = Profile::Monitoring
            .versioned(&source)
            .unwrap()
            .iter()
            .map(|f| f.version)
            .collect();
        assert_eq!(versions, MONITORING_MIGRATIONS);
        let objects = Profile::Monitoring.objects(&source).unwrap();
        assert!(objects.iter().any(|o| o.path == "health/90_checks.sql"));
        assert!(objects.iter().any(|o| o.path.starts_with("insights/")));
        assert!(!objects.iter().any(|o| o.path.starts_with("stats/")));
        assert_eq!(
            Profile::Palm.objects(&source).unwrap().len(),
            source.objects().unwrap().len()
        );
    }

    /// Everything the monitoring files create, alter, comment, grant or fill is in schema
    /// palmdb (the integration test compares pg_dump of the rest, before and after).
    #[test]
    fn monitoring_migrations_touch_only_schema_palmdb() {
        let source = Source::default();
        for file in Profile::Monitoring.versioned(&source).unwrap() {
            assert!(!file.no_transaction, "{}", file.file_name);
            for statement in super::super::statements::split(&file.sql) {
                let text = super::super::statements::without_leading_comments(&statement.text)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                assert!(
                    text.contains("palmdb.")
                        || text == "CREATE SCHEMA IF NOT EXISTS palmdb"
                        || text == "GRANT USAGE ON SCHEMA palmdb TO pg_monitor",
                    "{}: {text}",
                    file.file_name
                );
            }
        }
    }

    /// A migration outside the monitoring profile must not change the monitoring tables:
    /// a monitoring-only database would never get the change.
    #[test]
    fn other_migrations_leave_the_monitoring_tables_alone() {
        for file in Source::default().versioned().unwrap() {
            if !MONITORING_MIGRATIONS.contains(&file.version) {
                assert!(
                    !file.sql.contains("palmdb.health_"),
                    "{} changes a monitoring table: list it in MONITORING_MIGRATIONS",
                    file.file_name
                );
            }
        }
    }
}
