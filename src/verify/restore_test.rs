//! `backup verify --restore-test`: restore the backup into a scratch database created for the
//! purpose, compare every table with the backup in SQL, drop the scratch database — whether
//! the test passed, failed or broke.
//!
//! The scratch database starts empty and the restore creates every table from the schema
//! stored in the backup (without owners and grants: the test is about content, and the
//! verifying role need not be able to give objects away). A backup without a schema (format
//! 1, `--no-schema`) is restored into a database migrated with palmdb's own migrations to the
//! backup's schema version; a table that could not be tested that way FAILS the test, named.

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::checksum::{self, Content};
use crate::archive::backup_files::BackupFiles;
use crate::archive::Manifest;
use crate::connect::ConnectSettings;
use crate::error::Failure;
use crate::restore::schema::SchemaOptions;
use crate::restore::target::MissingTables;
use crate::restore::{restore_backup, RestoreOptions};
use crate::sql_quote::quote_ident;

#[derive(Debug, Clone, Serialize)]
pub struct TableComparison {
    pub table: String,
    pub ok: bool,
    pub backup: Content,
    pub restored: Content,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreTestReport {
    pub ok: bool,
    /// The scratch database (dropped afterwards).
    pub database: String,
    pub tables: Vec<TableComparison>,
    /// Tables of the backup that could not be tested (a backup without a schema, whose
    /// tables palmdb's migrations do not create): any makes the test fail.
    pub not_restore_tested: Vec<String>,
    /// Why the restore itself failed, if it did.
    pub error: Option<String>,
    pub seconds: f64,
}

impl RestoreTestReport {
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        match &self.error {
            Some(e) => out.push_str(&format!("  restore test FAILED: {e}\n")),
            None => out.push_str(&format!(
                "  restore test {}: restored into scratch database {} in {:.1} s (dropped)\n",
                if self.ok { "OK" } else { "FAILED" },
                self.database,
                self.seconds
            )),
        }
        for t in &self.tables {
            out.push_str(&format!(
                "    {:<40} {:>12} rows  {}\n",
                t.table,
                t.restored.rows,
                if t.ok {
                    "count and checksum match".to_string()
                } else {
                    format!(
                        "MISMATCH: backup {} rows / checksum {}, restored {} rows / checksum {}",
                        t.backup.rows, t.backup.checksum, t.restored.rows, t.restored.checksum
                    )
                }
            ));
        }
        for t in &self.not_restore_tested {
            out.push_str(&format!(
                "    {t:<40} NOT RESTORE-TESTED: the backup holds no schema to create it, and \
                 palmdb's migrations do not create it as the backup has it\n"
            ));
        }
        out
    }
}

/// Creates the scratch database, tests, and drops it again in every case.
pub async fn run(
    settings: &ConnectSettings,
    files: &BackupFiles,
    manifest: &Manifest,
    progress: bool,
    pg_restore: Option<std::path::PathBuf>,
    scratch_database: Option<&str>,
) -> Result<RestoreTestReport> {
    if let Some(name) = scratch_database {
        return run_in_existing(settings, name, files, manifest, progress, pg_restore).await;
    }
    let scratch = scratch_name(&manifest.id);
    let admin = settings
        .with_application_name("palmdb backup verify")
        .connect()
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&scratch)))
        .await
        .map_err(|e| {
            Failure::operation(format!(
                "cannot create the scratch database {scratch} for the restore test: {}",
                crate::error::describe_pg_error(&e)
            ))
            .with_hint(
                if e.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
                    "the role may not create databases: name an existing one the test may empty \
                 with --scratch-database NAME (or ALTER ROLE ... CREATEDB)"
                } else {
                    "the restore test needs a role with CREATEDB (ALTER ROLE ... CREATEDB), or \
                 --scratch-database NAME"
                },
            )
        })?;
    let outcome = test_in(
        settings.with_database(&scratch),
        &scratch,
        files,
        manifest,
        progress,
        pg_restore,
    )
    .await;
    let dropped = admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&scratch)
        ))
        .await
        .with_context(|| format!("cannot drop the scratch database {scratch}; drop it by hand"));
    let report = outcome?;
    dropped?;
    Ok(report)
}

/// The restore test in an existing database (`--scratch-database`), for a role without
/// CREATEDB: emptied of what the role owns before, and again after, whatever the outcome.
async fn run_in_existing(
    settings: &ConnectSettings,
    name: &str,
    files: &BackupFiles,
    manifest: &Manifest,
    progress: bool,
    pg_restore: Option<std::path::PathBuf>,
) -> Result<RestoreTestReport> {
    if name == settings.database() {
        return Err(Failure::usage(format!(
            "--scratch-database {name} is the database being backed up: the restore test empties it"
        ))
        .with_hint("name another database, created for the test (CREATE DATABASE ... OWNER ...)")
        .into());
    }
    let scratch = settings.with_database(name);
    let client = scratch
        .with_application_name("palmdb backup verify")
        .connect()
        .await?;
    empty_scratch(&client, name).await?;
    let outcome = test_in(scratch, name, files, manifest, progress, pg_restore).await;
    let emptied = empty_scratch(&client, name).await;
    let report = outcome?;
    emptied?;
    Ok(report)
}

/// Drops, in the scratch database, every schema (but `public`), extension, and object in
/// `public` that the role owns, then refuses a database that still holds tables: the test
/// needs an empty one, and never drops what belongs to others. Not `DROP OWNED BY`, which
/// also revokes the role's privileges on other databases.
async fn empty_scratch(client: &tokio_postgres::Client, name: &str) -> Result<()> {
    client.batch_execute(EMPTY_SCRATCH_SQL).await.map_err(|e| {
        Failure::operation(format!(
            "cannot empty the scratch database {name}: {}",
            crate::error::describe_pg_error(&e)
        ))
        .with_hint("the role must own what is in it; use a database created for the test")
    })?;
    let left: Vec<String> = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname)
             FROM pg_class AS c
             JOIN pg_namespace AS n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
               AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg\\_%'
             ORDER BY 1
             LIMIT 5",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !left.is_empty() {
        return Err(Failure::usage(format!(
            "the scratch database {name} is not empty: it holds {} that the role does not own",
            left.join(", ")
        ))
        .with_hint("use a database created for the restore test")
        .into());
    }
    Ok(())
}

const EMPTY_SCRATCH_SQL: &str = "
DO $$
DECLARE
    item record;
BEGIN
    FOR item IN
        SELECT n.nspname
        FROM pg_namespace AS n
        WHERE pg_has_role(n.nspowner, 'USAGE')
          AND n.nspname NOT IN ('public', 'pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_%'
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', item.nspname);
    END LOOP;
    FOR item IN
        SELECT e.extname
        FROM pg_extension AS e
        WHERE e.extowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
          AND e.extname <> 'plpgsql'
    LOOP
        EXECUTE format('DROP EXTENSION %I CASCADE', item.extname);
    END LOOP;
    FOR item IN
        SELECT c.oid::regclass AS name, c.relkind
        FROM pg_class AS c
        WHERE c.relnamespace = 'public'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND pg_has_role(c.relowner, 'USAGE')
          AND NOT EXISTS (  -- a sequence owned by a column goes with its table
              SELECT FROM pg_depend AS d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE',
            CASE item.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
            item.name);
    END LOOP;
    FOR item IN
        SELECT p.oid::regprocedure AS name, p.prokind
        FROM pg_proc AS p
        WHERE p.pronamespace = 'public'::regnamespace AND pg_has_role(p.proowner, 'USAGE')
          AND NOT EXISTS (SELECT FROM pg_depend AS d
              WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP %s IF EXISTS %s CASCADE',
            CASE item.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
            item.name);
    END LOOP;
    FOR item IN
        SELECT t.oid::regtype AS name
        FROM pg_type AS t
        WHERE t.typnamespace = 'public'::regnamespace AND pg_has_role(t.typowner, 'USAGE')
          AND t.typtype IN ('e', 'd', 'c', 'r')
          AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
          AND NOT EXISTS (SELECT FROM pg_depend AS d
              WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('DROP TYPE IF EXISTS %s CASCADE', item.name);
    END LOOP;
END
$$;";

async fn test_in(
    scratch: ConnectSettings,
    name: &str,
    files: &BackupFiles,
    manifest: &Manifest,
    progress: bool,
    pg_restore: Option<std::path::PathBuf>,
) -> Result<RestoreTestReport> {
    let started = Instant::now();
    if manifest.schema.is_none() {
        migrate_scratch(&scratch, manifest).await?;
    }
    let options = RestoreOptions {
        backup: manifest.id.clone(),
        repo: files.backup().repository(),
        identities: None,
        tables: Vec::new(),
        clean: false,
        allow_masked: true,
        dry_run: false,
        progress,
        maintenance_work_mem: None,
        schema: SchemaOptions {
            no_owner: true,
            no_privileges: true,
            pg_restore,
        },
        create_database: false,
        jobs: 1,
    };
    let mut report = RestoreTestReport {
        ok: false,
        database: name.to_string(),
        tables: Vec::new(),
        not_restore_tested: Vec::new(),
        error: None,
        seconds: 0.0,
    };
    let restored =
        match restore_backup(&scratch, files, manifest, &options, MissingTables::Report).await {
            Ok(restored) => restored,
            Err(e) => {
                report.error = Some(crate::error::one_line(&e));
                report.seconds = started.elapsed().as_secs_f64();
                return Ok(report);
            }
        };
    report.not_restore_tested = restored.not_restored.clone();
    report
        .not_restore_tested
        .extend(restored.kept_from_target.iter().cloned());

    let mut client = scratch
        .with_application_name("palmdb backup verify")
        .connect()
        .await?;
    client
        .batch_execute(&crate::archive::text_format::set_sql(false))
        .await?;
    for entry in &manifest.tables {
        if report.not_restore_tested.contains(&entry.qualified_name()) {
            continue;
        }
        let backup = checksum::backup(&mut client, files, entry).await?;
        let restored = checksum::restored(&client, entry).await?;
        report.tables.push(TableComparison {
            table: entry.qualified_name(),
            ok: backup == restored && backup.rows as u64 == entry.rows,
            backup,
            restored,
        });
    }
    // Every table tested and equal; a table that could not be tested fails the test.
    report.ok = report.tables.iter().all(|t| t.ok) && report.not_restore_tested.is_empty();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Brings the scratch database to the backup's schema version with palmdb's own migrations.
async fn migrate_scratch(scratch: &ConnectSettings, manifest: &Manifest) -> Result<()> {
    let Some(version) = manifest.schema_version else {
        return Ok(());
    };
    let target = i32::try_from(version).context("schema_version out of range")?;
    let options = crate::migrate::MigrateOptions {
        source: Default::default(),
        dry_run: false,
        lock_wait: std::time::Duration::from_secs(60),
        timeouts: crate::migrate::history::Timeouts {
            lock_timeout: std::time::Duration::from_secs(5),
            statement_timeout: std::time::Duration::ZERO,
        },
    };
    let mut sink = Vec::new();
    crate::migrate::migrate_to(scratch, &options, Some(target), &mut sink)
        .await
        .with_context(|| {
            format!("cannot migrate the scratch database to the backup's schema version {version}")
        })
}

/// `palmdb_restore_test_<id>_<pid>`: recognisable, unique per run, a valid identifier.
fn scratch_name(id: &str) -> String {
    let clean: String = id
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut name = format!("palmdb_restore_test_{clean}_{}", std::process::id());
    name.truncate(63);
    name
}
